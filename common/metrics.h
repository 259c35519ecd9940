/*
 * metrics.h - the Prometheus text exposition format (metrics.c): a
 * writer for pgflo-status --prometheus and the --metrics FILE of the
 * long-running tools, which rewrite FILE atomically (temp, rename) for
 * node_exporter's textfile collector.  The hot path only counts; the
 * file is written on a timer from the tool's own loop and at exit.
 */
#ifndef PGFLO_METRICS_H
#define PGFLO_METRICS_H
#include <stdint.h>
#include "pgflo.h"
#include "progress.h"

/* "# HELP name help" and "# TYPE name type" (gauge, counter). */
void	pgflo_prom_family(struct pgflo_buf *b, const char *name,
	    const char *type, const char *help);
/*
 * One sample line: name{k="v",...} value.  labels is a NULL-terminated
 * list of key, value pairs (may be NULL); a NULL value leaves its pair
 * out.  Values are escaped as the format wants (\\, \", \n).
 */
void	pgflo_prom_sample(struct pgflo_buf *b, const char *name,
	    const char *const *labels, double v);
void	pgflo_prom_sample_u64(struct pgflo_buf *b, const char *name,
	    const char *const *labels, uint64_t v);
/*
 * Replaces path by data atomically: a temporary file beside it, then
 * rename(2), so a reader sees the old file or the new one whole.
 * 0, or -1 with errbuf set.
 */
int	pgflo_prom_write_file(const char *path, const char *data, size_t len,
	    char *errbuf, size_t errlen);

/* The ops records are counted by. */
enum pgflo_metric_op {
	PGFLO_M_INSERT, PGFLO_M_UPDATE, PGFLO_M_DELETE, PGFLO_M_TRUNCATE,
	PGFLO_M_BEGIN, PGFLO_M_COMMIT, PGFLO_M_OTHER, PGFLO_M_NOPS
};

/* A long-running tool's counters and its --metrics file. */
struct pgflo_metrics {
	char	*path;		/* NULL: no metrics (new) */
	const char *tool;	/* "capture" */
	const char *label;	/* "slot", "group", "stream", NULL (borrowed) */
	const char *value;
	long	 interval_ms;
	long	 next_ms;
	uint64_t in[PGFLO_M_NOPS];	/* records read, by op */
	uint64_t out[PGFLO_M_NOPS];	/* records written or applied */
	uint64_t bytes_in, bytes_out;
	uint64_t batches, errors, retries;
	uint64_t last_lsn;	/* the last position made durable or sent */
	uint64_t last_seq;	/* its stream sequence */
	double	 last_commit_ts;	/* seconds since the epoch, 0 none */
	/* From the source's commit to the last record out; < 0 unknown. */
	double	 lag_seconds;
	double	 start_time;
	int	 warned;
	long	 file_ms;	/* the file's next rewrite */
	/* Optional: the progress line, shown from the same ticks. */
	struct pgflo_progress *progress;
};

/*
 * Sets m up for path, or $PGFLO_METRICS when path is NULL (no file
 * when both are unset or empty).  Writes the file a first time; -1
 * (errbuf) when it cannot be written, a usage error for the caller.
 */
int	pgflo_metrics_init(struct pgflo_metrics *m, const char *path,
	    const char *tool, const char *label, const char *value,
	    char *errbuf, size_t errlen);
/*
 * Rewrites the file (and the progress line) now, or with due only what
 * is due; a failure is warned about once, not fatal.
 */
void	pgflo_metrics_flush(struct pgflo_metrics *m);
void	pgflo_metrics_flush_due(struct pgflo_metrics *m);
/* Whether there is a file or a progress line to keep up. */
static inline int
pgflo_metrics_on(const struct pgflo_metrics *m)
{
	return m != NULL && (m->path != NULL || m->progress != NULL);
}
/* Rewrites what is due (next_ms: the earliest). */
static inline void
pgflo_metrics_tick(struct pgflo_metrics *m)
{
	if (pgflo_metrics_on(m) && pgflo_now_ms() >= m->next_ms)
		pgflo_metrics_flush_due(m);
}
/* The changes (insert, update, delete, truncate) out so far. */
uint64_t pgflo_metrics_changes_out(const struct pgflo_metrics *m);
/*
 * Shows the progress line from m from now on (p set up by the caller,
 * borrowed).
 */
void	pgflo_metrics_progress(struct pgflo_metrics *m,
	    struct pgflo_progress *p);
/* The last flush at exit (the progress line ended), the path freed. */
void	pgflo_metrics_close(struct pgflo_metrics *m);
/* The op of a record's "op" value (len bytes). */
enum pgflo_metric_op pgflo_metrics_op(const char *op, size_t len);
/*
 * The "commit_ts" of a record line (NUL-terminated), "YYYY-MM-DDTHH:MM:
 * SS.ffffffZ", in seconds since the epoch; 0 when it has none.
 */
double	pgflo_metrics_commit_ts(const char *line);
/*
 * A record line (len bytes) written out as written bytes, at stream
 * sequence seq (0 none): counted by op; a begin's or commit's commit_ts
 * and a commit's commit_lsn are the last, and the lag is known then.
 */
void	pgflo_metrics_count_out(struct pgflo_metrics *m, const char *line,
	    size_t len, size_t written, uint64_t seq);
/* The op of a record line of len bytes (other when it has none). */
enum pgflo_metric_op pgflo_metrics_line_op(const char *line, size_t len);
/* pgflo_metrics_commit_ts() of a line of len bytes (no NUL needed). */
double	pgflo_metrics_commit_ts_n(const char *line, size_t len);
/*
 * A commit_ts of n bytes at s (no quotes), "YYYY-MM-DDTHH:MM:SS[.f]Z"
 * with 1 to 6 digits of fraction, a real UTC date: 0 and *secs since
 * the epoch, or -1.  What passes is valid timestamptz input too.
 */
int	pgflo_metrics_parse_ts(const char *s, size_t n, double *secs);
/* The wall clock, seconds since the epoch (ms resolution). */
double	pgflo_wall_seconds(void);
/* The whole text of m (appended to b), as the file holds it. */
void	pgflo_metrics_format(const struct pgflo_metrics *m,
	    struct pgflo_buf *b);
#endif
