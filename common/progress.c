/*
 * progress.c - the progress line of sink-pg, publish and consume: one
 * line on stderr, rewritten in place, padded with blanks over a longer
 * line before it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "progress.h"

int
pgflo_progress_init(struct pgflo_progress *p, int flag, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->start_ms = p->last_ms = pgflo_now_ms();
	p->next_ms = p->start_ms + PGFLO_PROGRESS_MS;
	if (flag == -1)
		flag = isatty(STDERR_FILENO);
	return flag;
}

void
pgflo_progress_format(char *buf, size_t len, const char *what, uint64_t n,
    double rate, double lag)
{
	char lagbuf[32];

	if (lag < 0)
		snprintf(lagbuf, sizeof(lagbuf), "-");
	else
		snprintf(lagbuf, sizeof(lagbuf), "%.1fs", lag);
	snprintf(buf, len, "%s: %llu %s, %.0f %s/s, lag %s", pgflo_progname,
	    (unsigned long long)n, what, rate, what, lagbuf);
}

void
pgflo_progress_show(struct pgflo_progress *p, uint64_t n, double lag,
    int final)
{
	char line[256];
	long now = pgflo_now_ms(), el;
	int w;

	el = final ? now - p->start_ms : now - p->last_ms;
	if (final)
		p->rate = el > 0 ? (double)n * 1000.0 / (double)el : 0;
	else if (el > 0)
		p->rate = (double)(n - p->last_n) * 1000.0 / (double)el;
	p->last_n = n;
	p->last_ms = now;
	p->next_ms = now + PGFLO_PROGRESS_MS;
	pgflo_progress_format(line, sizeof(line), p->what, n, p->rate, lag);
	w = (int)strlen(line);
	fflush(stdout);
	fprintf(stderr, "\r%s%*s%s", line, p->width > w ? p->width - w : 0, "",
	    final ? "\n" : "");
	p->width = final ? 0 : w;
	pgflo_msg_midline = !final;
	p->shown = 1;
}
