/*
 * backoff.h - waiting between reconnection attempts: the first wait,
 * doubled after each failure up to a ceiling, back to the first after a
 * success.  Sleeps return early when SIGINT/SIGTERM arrives.
 */
#ifndef PGFLO_BACKOFF_H
#define PGFLO_BACKOFF_H

struct pgflo_backoff {
	long	first_ms, max_ms, cur_ms;
};

void	pgflo_backoff_init(struct pgflo_backoff *, long, long);
/* The wait the next sleep will take, in ms (for messages). */
long	pgflo_backoff_ms(const struct pgflo_backoff *);
/* Sleeps the current wait, then doubles it; -1 if a stop signal came. */
int	pgflo_backoff_sleep(struct pgflo_backoff *);
/* After a success: the next failure waits first_ms again. */
void	pgflo_backoff_reset(struct pgflo_backoff *);

#endif
