/*
 * backoff.c - exponential waits between reconnections (backoff.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pgflo.h"
#include "backoff.h"

void
pgflo_backoff_init(struct pgflo_backoff *b, long first_ms, long max_ms)
{
	b->first_ms = b->cur_ms = first_ms;
	b->max_ms = max_ms;
	b->jitter = 0;
}

void
pgflo_backoff_jitter(struct pgflo_backoff *b)
{
	static int seeded;

	if (!seeded) {
		srandom((unsigned)time(NULL) ^ (unsigned)getpid());
		seeded = 1;
	}
	b->jitter = 1;
}

long
pgflo_backoff_ms(const struct pgflo_backoff *b)
{
	return b->cur_ms;
}

long
pgflo_backoff_next(struct pgflo_backoff *b)
{
	long ms = b->cur_ms;

	if (b->jitter)
		ms = random() % (ms + 1);
	b->cur_ms = b->cur_ms * 2 > b->max_ms ? b->max_ms : b->cur_ms * 2;
	return ms;
}

int
pgflo_sleep_ms(long ms, void (*tick)(void), long tick_ms)
{
	long end = pgflo_now_ms() + ms, left;

	while (!pgflo_stopping() && (left = end - pgflo_now_ms()) > 0) {
		struct timespec ts;

		if (tick != NULL && left > tick_ms)
			left = tick_ms;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000L;
		/* sig.c installs handlers without SA_RESTART: a signal ends it. */
		(void)nanosleep(&ts, NULL);
		if (tick != NULL)
			tick();
	}
	return pgflo_stopping() ? -1 : 0;
}

int
pgflo_backoff_sleep(struct pgflo_backoff *b)
{
	struct timespec ts = { b->cur_ms / 1000, (b->cur_ms % 1000) * 1000000L };

	/* sig.c installs handlers without SA_RESTART: a signal ends it. */
	while (!pgflo_stopping() && nanosleep(&ts, &ts) == -1 &&
	    errno == EINTR)
		;
	b->cur_ms = b->cur_ms * 2 > b->max_ms ? b->max_ms : b->cur_ms * 2;
	return pgflo_stopping() ? -1 : 0;
}

void
pgflo_backoff_reset(struct pgflo_backoff *b)
{
	b->cur_ms = b->first_ms;
}
