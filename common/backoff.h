/*
 * backoff.h - waiting between reconnection attempts: the first wait,
 * doubled after each failure up to a ceiling, back to the first after a
 * success.  Sleeps return early when SIGINT/SIGTERM arrives.
 *
 * With full jitter (pgflo_backoff_jitter(), sink-http's retries) each
 * wait is drawn uniformly from [0, current ceiling], so that many
 * clients retrying one server do not come back in step (the "full
 * jitter" of AWS's "Exponential Backoff And Jitter").
 */
#ifndef PGFLO_BACKOFF_H
#define PGFLO_BACKOFF_H

struct pgflo_backoff {
	long	first_ms, max_ms, cur_ms;
	int	jitter;
};

void	pgflo_backoff_init(struct pgflo_backoff *, long, long);
/* Draws each later wait from [0, current] (full jitter). */
void	pgflo_backoff_jitter(struct pgflo_backoff *);
/* The wait the next sleep will take, in ms (for messages). */
long	pgflo_backoff_ms(const struct pgflo_backoff *);
/*
 * The next wait (jittered when asked) and the ceiling doubled: for a
 * caller that sleeps itself, or waits longer (Retry-After).
 */
long	pgflo_backoff_next(struct pgflo_backoff *);
/* Sleeps the current wait, then doubles it; -1 if a stop signal came. */
int	pgflo_backoff_sleep(struct pgflo_backoff *);
/*
 * Sleeps ms, calling tick (if not NULL) at least every tick_ms; -1 if
 * a stop signal came.
 */
int	pgflo_sleep_ms(long ms, void (*tick)(void), long tick_ms);
/* After a success: the next failure waits first_ms again. */
void	pgflo_backoff_reset(struct pgflo_backoff *);

#endif
