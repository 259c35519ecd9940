/*
 * clock.c - the monotonic clock that batch timers, intervals and
 * status updates are measured with (never the wall clock, which jumps).
 */
#include <time.h>

#include "pgflo.h"

long
pgflo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
