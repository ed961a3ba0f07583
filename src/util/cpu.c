/* cpu.c — usable processor count, shared by the parallel verifier and rescan. */
#include "util/cpu.h"

#include <sched.h>
#include <unistd.h>

long
util_usable_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}
