/* cpu.h — how much parallelism this process may use: its CPU affinity (taskset, a
 * container's cpuset), not the machine's size. */
#ifndef ESCORT_UTIL_CPU_H
#define ESCORT_UTIL_CPU_H

/* Processors this process may run on; at least 1. */
long util_usable_cpus(void);

#endif
