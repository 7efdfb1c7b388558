/*
 * bench_util.h - the clock and the sort the bench programs share.
 */
#ifndef KZ_BENCH_UTIL_H
#define KZ_BENCH_UTIL_H

#include <time.h>

/* Monotonic seconds: wall-clock jumps must not land in a latency. */
static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * CPU seconds of this process (user and system).  Rates are ops per CPU
 * second, the divisor `openssl speed` uses too (its user time): on a
 * shared machine wall time counts other tenants' work, and a ratio of a
 * wall-time rate to openssl's CPU-time rate would measure the neighbours.
 */
static inline double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort order for latencies, to read percentiles off. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
