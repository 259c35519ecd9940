/*
 * backoff.c - exponential waits between reconnections (backoff.h).
 */
#include <errno.h>
#include <time.h>

#include "pgflo.h"
#include "backoff.h"

void
pgflo_backoff_init(struct pgflo_backoff *b, long first_ms, long max_ms)
{
	b->first_ms = b->cur_ms = first_ms;
	b->max_ms = max_ms;
}

long
pgflo_backoff_ms(const struct pgflo_backoff *b)
{
	return b->cur_ms;
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
