/* bench_stats.h — the clocks and statistics shared by the in-process benchmarks
 * (tests/tools/lb_bench.c, pwsh_bench.c) and bench/ts_driver.c, so that their numbers are
 * measured the same way. Header-only: ts_driver is built by bench/run.pl without libescort. */
#ifndef ESCORT_TESTS_BENCH_STATS_H
#define ESCORT_TESTS_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU time of this process so far; unlike wall time it does not grow
 * while other work holds the core. */
static inline uint64_t
cpu_ns(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return ((uint64_t)u.ru_utime.tv_sec + (uint64_t)u.ru_stime.tv_sec) * 1000000000u +
	    ((uint64_t)u.ru_utime.tv_usec + (uint64_t)u.ru_stime.tv_usec) * 1000u;
}

static inline int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static inline uint64_t
pct(const uint64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

#endif
