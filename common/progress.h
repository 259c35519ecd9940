/*
 * progress.h - a progress line on stderr (progress.c): rows, rows/s and
 * lag, rewritten in place ("\r") about once a second while a long-running
 * tool works, ended by a newline at exit.  On when stderr is a terminal
 * or when asked (--progress), never on a pipe or file unless asked.
 */
#ifndef PGFLO_PROGRESS_H
#define PGFLO_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define PGFLO_PROGRESS_MS	1000

struct pgflo_progress {
	const char *what;	/* "rows", "records" (borrowed) */
	long	 start_ms, last_ms, next_ms;
	uint64_t last_n;
	double	 rate;		/* of the last interval */
	int	 width;		/* of the line shown, for the blanks */
	int	 shown;
};

/*
 * 1 when progress is to be shown: flag 1 (asked), 0 (refused), -1 (as
 * stderr is: a terminal).  Sets p up for counting what.
 */
int	pgflo_progress_init(struct pgflo_progress *p, int flag,
	    const char *what);
/*
 * Rewrites the line with n counted so far and lag (seconds; < 0
 * unknown).  final: the rate since the start, then a newline.
 */
void	pgflo_progress_show(struct pgflo_progress *p, uint64_t n, double lag,
	    int final);
/* The line for n, rate and lag into buf (the text between the \r's). */
void	pgflo_progress_format(char *buf, size_t len, const char *what,
	    uint64_t n, double rate, double lag);

#endif
