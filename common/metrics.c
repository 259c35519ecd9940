/*
 * metrics.c - Prometheus text format: samples, families, the atomic
 * file of --metrics, a tool's counters.
 */
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "lsn.h"
#include "metrics.h"

#define METRICS_INTERVAL_MS	5000

static const char *const op_names[PGFLO_M_NOPS] = {
	"insert", "update", "delete", "truncate", "begin", "commit", "other"
};

void
pgflo_prom_family(struct pgflo_buf *b, const char *name, const char *type,
    const char *help)
{
	pgflo_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
put_labels(struct pgflo_buf *b, const char *const *labels)
{
	const char *s;
	int n = 0;

	for (; labels != NULL && labels[0] != NULL; labels += 2) {
		if (labels[1] == NULL)
			continue;
		pgflo_buf_putc(b, n++ == 0 ? '{' : ',');
		pgflo_buf_puts(b, labels[0]);
		pgflo_buf_puts(b, "=\"");
		for (s = labels[1]; *s != '\0'; s++) {
			if (*s == '\\' || *s == '"')
				pgflo_buf_putc(b, '\\');
			if (*s == '\n')
				pgflo_buf_puts(b, "\\n");
			else
				pgflo_buf_putc(b, *s);
		}
		pgflo_buf_putc(b, '"');
	}
	if (n > 0)
		pgflo_buf_putc(b, '}');
}

void
pgflo_prom_sample(struct pgflo_buf *b, const char *name,
    const char *const *labels, double v)
{
	pgflo_buf_puts(b, name);
	put_labels(b, labels);
	if (isnan(v))
		pgflo_buf_puts(b, " NaN\n");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		pgflo_buf_printf(b, " %.0f\n", v);
	else
		pgflo_buf_printf(b, " %.17g\n", v);
}

void
pgflo_prom_sample_u64(struct pgflo_buf *b, const char *name,
    const char *const *labels, uint64_t v)
{
	pgflo_buf_puts(b, name);
	put_labels(b, labels);
	pgflo_buf_printf(b, " %" PRIu64 "\n", v);
}

int
pgflo_prom_write_file(const char *path, const char *data, size_t len,
    char *errbuf, size_t errlen)
{
	struct pgflo_buf tmp = { 0 };
	const char *what = "create";
	ssize_t w;
	int fd, e;

	pgflo_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd == -1)
		goto fail;
	what = "write";
	while (len > 0) {
		if ((w = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			errno = e;
			goto fail_tmp;
		}
		data += w;
		len -= (size_t)w;
	}
	if (close(fd) == -1)
		goto fail_tmp;
	what = "rename";
	if (rename(tmp.data, path) == -1)
		goto fail_tmp;
	pgflo_buf_free(&tmp);
	return 0;
fail_tmp:
	e = errno;
	(void)unlink(tmp.data);
	errno = e;
fail:
	snprintf(errbuf, errlen, "could not %s metrics file %s: %s", what,
	    what[0] == 'r' ? path : tmp.data, strerror(errno));
	pgflo_buf_free(&tmp);
	return -1;
}

enum pgflo_metric_op
pgflo_metrics_op(const char *op, size_t len)
{
	int i;

	for (i = 0; i < PGFLO_M_OTHER; i++)
		if (strlen(op_names[i]) == len &&
		    memcmp(op_names[i], op, len) == 0)
			return (enum pgflo_metric_op)i;
	return PGFLO_M_OTHER;
}

/* n digits at s as a number, or -1. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int
pgflo_metrics_parse_ts(const char *s, size_t n, double *secs)
{
	struct tm tm, back;
	time_t t;
	size_t i;
	double frac = 0, scale = 0.1;

	if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[n - 1] != 'Z')
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((tm.tm_year = digits(s, 4)) < 1970 ||
	    (tm.tm_mon = digits(s + 5, 2)) < 1 || tm.tm_mon > 12 ||
	    (tm.tm_mday = digits(s + 8, 2)) < 1 ||
	    (tm.tm_hour = digits(s + 11, 2)) < 0 || tm.tm_hour > 23 ||
	    (tm.tm_min = digits(s + 14, 2)) < 0 || tm.tm_min > 59 ||
	    (tm.tm_sec = digits(s + 17, 2)) < 0 || tm.tm_sec > 59)
		return -1;
	if (n > 20) {
		if (s[19] != '.' || n < 22 || n > 27)
			return -1;
		for (i = 20; i < n - 1; i++, scale /= 10) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			frac += (s[i] - '0') * scale;
		}
	}
	tm.tm_year -= 1900;
	tm.tm_mon--;
	back = tm;
	/* timegm() would move February 30th on: the date must come back. */
	if ((t = timegm(&back)) == (time_t)-1 || back.tm_mday != tm.tm_mday)
		return -1;
	*secs = (double)t + frac;
	return 0;
}

double
pgflo_metrics_commit_ts(const char *line)
{
	static const char key[] = "\"commit_ts\":\"";
	const char *p, *q;
	double ts;

	if ((p = strstr(line, key)) == NULL)
		return 0;
	p += sizeof(key) - 1;
	if ((q = strchr(p, '"')) == NULL ||
	    pgflo_metrics_parse_ts(p, (size_t)(q - p), &ts) == -1)
		return 0;
	return ts;
}

enum pgflo_metric_op
pgflo_metrics_line_op(const char *line, size_t len)
{
	static const char key[] = "{\"op\":\"";
	const char *q;
	struct pgflo_js_iter it;
	struct pgflo_span k, v;

	if (len > sizeof(key) - 1 && memcmp(line, key, sizeof(key) - 1) == 0 &&
	    (q = memchr(line + sizeof(key) - 1, '"', len - (sizeof(key) - 1)))
	    != NULL)
		return pgflo_metrics_op(line + sizeof(key) - 1,
		    (size_t)(q - line) - (sizeof(key) - 1));
	/* Not written by one of ours: the member wherever it is. */
	if (pgflo_js_obj(&it, (struct pgflo_span){ line, len }) == -1)
		return PGFLO_M_OTHER;
	while (pgflo_js_obj_next(&it, &k, &v) == 1)
		if (pgflo_js_str_eq(k, "op") && v.n >= 2 && *v.p == '"')
			return pgflo_metrics_op(v.p + 1, v.n - 2);
	return PGFLO_M_OTHER;
}

double
pgflo_metrics_commit_ts_n(const char *line, size_t len)
{
	static const char key[] = "\"commit_ts\":\"";
	const char *p = line, *end = line + len, *q;
	double ts;

	while ((p = memchr(p, '"', (size_t)(end - p))) != NULL) {
		if ((size_t)(end - p) > sizeof(key) - 1 &&
		    memcmp(p, key, sizeof(key) - 1) == 0) {
			p += sizeof(key) - 1;
			if ((q = memchr(p, '"', (size_t)(end - p))) == NULL ||
			    pgflo_metrics_parse_ts(p, (size_t)(q - p), &ts) == -1)
				return 0;
			return ts;
		}
		p++;
	}
	return 0;
}

void
pgflo_metrics_count_out(struct pgflo_metrics *m, const char *line,
    size_t len, size_t written, uint64_t seq)
{
	enum pgflo_metric_op op = pgflo_metrics_line_op(line, len);
	struct pgflo_js_iter it;
	struct pgflo_span k, v;
	struct pgflo_buf b = { 0 };
	pgflo_lsn lsn;
	double ts;

	m->out[op]++;
	m->bytes_out += written + 1;
	if (seq != 0)
		m->last_seq = seq;
	if (op != PGFLO_M_BEGIN && op != PGFLO_M_COMMIT)
		return;
	if ((ts = pgflo_metrics_commit_ts_n(line, len)) > 0)
		m->last_commit_ts = ts;
	if (op != PGFLO_M_COMMIT)
		return;
	if (m->last_commit_ts > 0)
		m->lag_seconds = pgflo_wall_seconds() - m->last_commit_ts;
	if (pgflo_js_obj(&it, (struct pgflo_span){ line, len }) == -1)
		return;
	while (pgflo_js_obj_next(&it, &k, &v) == 1)
		if (pgflo_js_str_eq(k, "commit_lsn") && *v.p == '"') {
			pgflo_js_str(&b, v);
			if (pgflo_lsn_parse(pgflo_buf_cstr(&b), &lsn) == 0)
				m->last_lsn = lsn;
			break;
		}
	pgflo_buf_free(&b);
}

/* tool="...", then the tool's own label if it has one; the count. */
static int
tool_labels(const struct pgflo_metrics *m, const char **labels)
{
	int n = 0;

	labels[n++] = "tool";
	labels[n++] = m->tool;
	if (m->label != NULL) {
		labels[n++] = m->label;
		labels[n++] = m->value;
	}
	labels[n] = NULL;
	return n;
}

static void
put_ops(const struct pgflo_metrics *m, struct pgflo_buf *b,
    const char *name, const char *help, const uint64_t *v)
{
	const char *labels[7];
	int i, n = tool_labels(m, labels);

	labels[n] = "op";
	labels[n + 2] = NULL;
	pgflo_prom_family(b, name, "counter", help);
	for (i = 0; i < PGFLO_M_NOPS; i++) {
		labels[n + 1] = op_names[i];
		pgflo_prom_sample_u64(b, name, labels, v[i]);
	}
}

static void
put_one(const struct pgflo_metrics *m, struct pgflo_buf *b, const char *name,
    const char *type, const char *help, double v)
{
	const char *labels[5];

	tool_labels(m, labels);
	pgflo_prom_family(b, name, type, help);
	pgflo_prom_sample(b, name, labels, v);
}

static void
put_u64(const struct pgflo_metrics *m, struct pgflo_buf *b, const char *name,
    const char *type, const char *help, uint64_t v)
{
	const char *labels[5];

	tool_labels(m, labels);
	pgflo_prom_family(b, name, type, help);
	pgflo_prom_sample_u64(b, name, labels, v);
}

void
pgflo_metrics_format(const struct pgflo_metrics *m, struct pgflo_buf *b)
{
	put_ops(m, b, "pgflo_records_in_total", "Records read, by op.", m->in);
	put_ops(m, b, "pgflo_records_out_total",
	    "Records written or applied, by op.", m->out);
	put_u64(m, b, "pgflo_bytes_in_total", "counter", "Bytes read.",
	    m->bytes_in);
	put_u64(m, b, "pgflo_bytes_out_total", "counter", "Bytes written.",
	    m->bytes_out);
	put_u64(m, b, "pgflo_batches_total", "counter",
	    "Batches made durable.", m->batches);
	put_u64(m, b, "pgflo_errors_total", "counter",
	    "Errors (a bad record, a lost connection).", m->errors);
	put_u64(m, b, "pgflo_retries_total", "counter",
	    "Reconnects and retries.", m->retries);
	put_u64(m, b, "pgflo_last_lsn", "gauge",
	    "The last position's commit LSN, as a number.", m->last_lsn);
	put_u64(m, b, "pgflo_last_stream_seq", "gauge",
	    "The last position's stream sequence.", m->last_seq);
	put_one(m, b, "pgflo_last_commit_timestamp_seconds", "gauge",
	    "The source commit time of the last transaction.",
	    m->last_commit_ts);
	put_one(m, b, "pgflo_lag_seconds", "gauge",
	    "From the source's commit to the last record out, when known.",
	    m->lag_seconds < 0 ? NAN : m->lag_seconds);
	put_one(m, b, "pgflo_start_time_seconds", "gauge",
	    "When the process started, seconds since the epoch.",
	    m->start_time);
}

double
pgflo_wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

int
pgflo_metrics_init(struct pgflo_metrics *m, const char *path,
    const char *tool, const char *label, const char *value, char *errbuf,
    size_t errlen)
{
	struct pgflo_buf b = { 0 };
	int r;

	memset(m, 0, sizeof(*m));
	m->tool = tool;
	m->label = label;
	m->value = value;
	m->interval_ms = METRICS_INTERVAL_MS;
	m->lag_seconds = -1;
	m->start_time = pgflo_wall_seconds();
	if (path == NULL)
		path = pgflo_env("METRICS", NULL);
	if (path == NULL || *path == '\0')
		return 0;
	pgflo_metrics_format(m, &b);
	r = pgflo_prom_write_file(path, b.data, b.len, errbuf, errlen);
	pgflo_buf_free(&b);
	if (r == 0) {
		m->path = pgflo_xstrdup(path);
		m->next_ms = m->file_ms = pgflo_now_ms() + m->interval_ms;
	}
	return r;
}

uint64_t
pgflo_metrics_changes_out(const struct pgflo_metrics *m)
{
	return m->out[PGFLO_M_INSERT] + m->out[PGFLO_M_UPDATE] +
	    m->out[PGFLO_M_DELETE] + m->out[PGFLO_M_TRUNCATE];
}

static void
write_file(struct pgflo_metrics *m)
{
	struct pgflo_buf b = { 0 };
	char errbuf[512];

	pgflo_metrics_format(m, &b);
	if (pgflo_prom_write_file(m->path, b.data, b.len, errbuf,
	    sizeof(errbuf)) == -1 && !m->warned) {
		pgflo_warnx("warning: %s", errbuf);
		m->warned = 1;
	}
	pgflo_buf_free(&b);
	m->file_ms = pgflo_now_ms() + m->interval_ms;
}

/* next_ms: the earlier of the file's and the progress line's. */
static void
set_next(struct pgflo_metrics *m)
{
	m->next_ms = m->file_ms;
	if (m->progress != NULL && (m->path == NULL ||
	    m->progress->next_ms < m->next_ms))
		m->next_ms = m->progress->next_ms;
}

static void
flush(struct pgflo_metrics *m, int all, int final)
{
	long now = pgflo_now_ms();

	if (m->path != NULL && (all || now >= m->file_ms))
		write_file(m);
	if (m->progress != NULL && (all || now >= m->progress->next_ms))
		pgflo_progress_show(m->progress, pgflo_metrics_changes_out(m),
		    m->lag_seconds, final);
	set_next(m);
}

void
pgflo_metrics_flush(struct pgflo_metrics *m)
{
	flush(m, 1, 0);
}

void
pgflo_metrics_flush_due(struct pgflo_metrics *m)
{
	flush(m, 0, 0);
}

void
pgflo_metrics_progress(struct pgflo_metrics *m, struct pgflo_progress *p)
{
	m->progress = p;
	set_next(m);
}

void
pgflo_metrics_close(struct pgflo_metrics *m)
{
	flush(m, 1, 1);
	free(m->path);
	m->path = NULL;
	m->progress = NULL;
}
