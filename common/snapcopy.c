/*
 * snapcopy.c - the snapshot copy of pgflo-copy (snapcopy.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "copyprog.h"
#include "copytext.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "output.h"
#include "pg2json.h"
#include "pgconn.h"
#include "relmeta.h"
#include "snapcopy.h"

#define OUTBUF_FLUSH	(256 * 1024)

struct chunk {
	struct pgflo_snaptable *t;
	long	 k;		/* pages [k*chunk_pages, (k+1)*chunk_pages) */
	int	 last;		/* open-ended: no upper bound */
	int	 again;		/* durable: only rows written since xmin */
	unsigned long long xmin;
};

struct worker {
	pthread_t thread;
	PGconn	*conn;
	struct pgflo_buf out;
	struct pgflo_buf jnull;		/* the row's json_null list */
	struct pgflo_copyfield *fields;
	int	 nfields;
	int	 started;
};

static struct pgflo_snapcopy *sc;
static struct chunk *chunks;
static size_t nchunks;
static struct worker *workers;
static long nworkers;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static size_t qnext;
/* The output, the counters and the failure. */
static pthread_mutex_t outlock = PTHREAD_MUTEX_INITIALIZER;
static int workers_running;

static void
fail(int code, const char *fmt, ...) PGFLO_PRINTF(2, 3);

/* A worker gives up: the first failure is kept for the caller. */
static void
fail(int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&outlock);
	if (!sc->failed) {
		va_start(ap, fmt);
		vsnprintf(sc->failmsg, sizeof(sc->failmsg), fmt, ap);
		va_end(ap);
		sc->failed = code;
	}
	pthread_mutex_unlock(&outlock);
}

/* Every table's chunks in one queue, in table order. */
void
pgflo_snapcopy_plan(struct pgflo_snapcopy *copy)
{
	size_t i, n = 0;
	long k;

	sc = copy;
	for (i = 0; i < sc->ntables; i++) {
		struct pgflo_snaptable *t = &sc->tables[i];

		t->nchunks = t->pages / t->chunk_pages +
		    (t->pages % t->chunk_pages != 0);
		if (t->nchunks == 0)
			t->nchunks = 1;
		t->chunks_left = t->nchunks;
		nchunks += (size_t)t->nchunks;
	}
	chunks = pgflo_xmalloc(sizeof(*chunks) * (nchunks + 1));
	for (i = 0; i < sc->ntables; i++)
		for (k = 0; k < sc->tables[i].nchunks; k++) {
			chunks[n].t = &sc->tables[i];
			chunks[n].k = k;
			chunks[n].last = k == sc->tables[i].nchunks - 1;
			chunks[n].again = pgflo_copyprog_chunk(
			    sc->tables[i].durable, k, &chunks[n].xmin);
			n++;
		}
}

/* Opens a record {"op":op[,"phase":phase][,"schema":..,"table":..]. */
static void
rec_head(struct pgflo_jw *w, struct pgflo_buf *b, const char *op,
    const char *phase, const struct pgflo_snaptable *t)
{
	pgflo_jw_init(w, b);
	pgflo_jw_obj_begin(w);
	pgflo_jw_key(w, "op");
	pgflo_jw_str(w, op);
	if (phase != NULL) {
		pgflo_jw_key(w, "phase");
		pgflo_jw_str(w, phase);
	}
	if (t != NULL) {
		pgflo_jw_key(w, "schema");
		pgflo_jw_str(w, t->schema);
		pgflo_jw_key(w, "table");
		pgflo_jw_str(w, t->name);
	}
}

void
pgflo_snapcopy_marker(struct pgflo_buf *b, const struct pgflo_snaptable *t,
    const char *phase, int withrows)
{
	struct pgflo_jw w;

	rec_head(&w, b, "snapshot", phase, t);
	if (sc->slot != NULL) {
		pgflo_jw_key(&w, "slot");
		pgflo_jw_str(&w, sc->slot);
		pgflo_jw_key(&w, "lsn");
		pgflo_jw_str(&w, t->sync);
	}
	if (withrows) {
		pgflo_jw_key(&w, "rows");
		pgflo_jw_uint(&w, t->rows);
	}
	pgflo_jw_obj_end(&w);
	pgflo_buf_putc(b, '\n');
}

/*
 * A table without a key copied again: downstream empties it first, so
 * that the rows of an earlier, partial copy do not stay twice.
 */
static void
truncate_record(struct pgflo_buf *b, const struct pgflo_snaptable *t)
{
	struct pgflo_jw w;

	rec_head(&w, b, "truncate", NULL, t);
	pgflo_jw_key(&w, "snapshot");
	pgflo_jw_bool(&w, 1);
	pgflo_jw_key(&w, "cascade");
	pgflo_jw_bool(&w, 0);
	pgflo_jw_key(&w, "restart_identity");
	pgflo_jw_bool(&w, 0);
	pgflo_jw_obj_end(&w);
	pgflo_buf_putc(b, '\n');
}

/* After a chunk's rows: its number, size, snapshot xmin, the filenode. */
static void
chunk_record(struct pgflo_buf *b, const struct chunk *c)
{
	struct pgflo_jw w;

	rec_head(&w, b, "snapshot", "chunk", c->t);
	pgflo_jw_key(&w, "slot");
	pgflo_jw_str(&w, sc->slot);
	pgflo_jw_key(&w, "chunk");
	pgflo_jw_int(&w, c->k);
	pgflo_jw_key(&w, "pages");
	pgflo_jw_int(&w, c->t->chunk_pages);
	pgflo_jw_key(&w, "xmin");
	pgflo_jw_uint(&w, sc->xmin);
	pgflo_jw_key(&w, "filenode");
	pgflo_jw_int(&w, c->t->filenode);
	pgflo_jw_obj_end(&w);
	pgflo_buf_putc(b, '\n');
}

/* The last record: the whole copy of this run is written. */
static void
done_record(struct pgflo_buf *b, size_t n)
{
	struct pgflo_jw w;

	rec_head(&w, b, "snapshot", "done", NULL);
	if (sc->slot != NULL) {
		pgflo_jw_key(&w, "slot");
		pgflo_jw_str(&w, sc->slot);
		pgflo_jw_key(&w, "lsn");
		pgflo_jw_str(&w, sc->lsn);
	}
	pgflo_jw_key(&w, "tables");
	pgflo_jw_uint(&w, n);
	pgflo_jw_key(&w, "rows");
	pgflo_jw_uint(&w, sc->rows);
	pgflo_jw_obj_end(&w);
	pgflo_buf_putc(b, '\n');
}

static int
write_out(const struct pgflo_buf *b)
{
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
		pgflo_check_pipe(errno);
		return -1;
	}
	if (sc != NULL && sc->metrics != NULL)
		sc->metrics->bytes_out += b->len;
	return 0;
}

/* Snapshot records (and the done record): "other" in the metrics. */
int
pgflo_snapcopy_write(const struct pgflo_buf *b)
{
	const char *p, *end = b->data + b->len;

	if (write_out(b) == -1)
		return -1;
	if (sc == NULL || sc->metrics == NULL)
		return 0;
	for (p = b->data; p < end &&
	    (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		sc->metrics->out[PGFLO_M_OTHER]++;
	return 0;
}

/* Under outlock: the begin marker before a table's first row. */
static int
begin_table(struct pgflo_snaptable *t)
{
	struct pgflo_buf b = { 0 };
	int r;

	if (t->begun)
		return 0;
	t->begun = 1;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	if (t->truncate)
		truncate_record(&b, t);
	pgflo_snapcopy_marker(&b, t, "begin", 0);
	r = pgflo_snapcopy_write(&b);
	pgflo_buf_free(&b);
	return r;
}

/* Writes a worker's buffer of whole records: rows of table t. */
static int
emit(struct worker *wk, struct pgflo_snaptable *t, unsigned long long rows)
{
	int r;

	pthread_mutex_lock(&outlock);
	r = begin_table(t);
	if (r == 0)
		r = write_out(&wk->out);
	if (r == 0 && pgflo_out_flush_each())
		r = pgflo_out_flush(0);
	if (sc->metrics != NULL)
		sc->metrics->out[PGFLO_M_INSERT] += rows;
	t->rows += rows;
	t->bytes += wk->out.len;
	sc->rows += rows;
	pthread_mutex_unlock(&outlock);
	pgflo_buf_reset(&wk->out);
	if (r == -1)
		fail(1, "write error: %s", strerror(errno));
	return r;
}

/* The chunk is written: maybe the table's end. */
static int
chunk_done(struct chunk *c, long pages)
{
	struct pgflo_buf b = { 0 };
	int r;

	pthread_mutex_lock(&outlock);
	r = begin_table(c->t);
	c->t->pages_done += pages;
	/* A table with a key resumes by chunk: say this one is written. */
	if (c->t->keyed && sc->slot != NULL)
		chunk_record(&b, c);
	if (--c->t->chunks_left == 0)
		pgflo_snapcopy_marker(&b, c->t, "end", 1);
	if (r == 0)
		r = pgflo_snapcopy_write(&b);
	if (r == 0 && pgflo_out_flush_each())
		r = pgflo_out_flush(0);
	if (r == -1 && !sc->failed) {
		snprintf(sc->failmsg, sizeof(sc->failmsg), "write error: %s",
		    strerror(errno));
		sc->failed = 1;
	}
	pthread_mutex_unlock(&outlock);
	pgflo_buf_free(&b);
	return r;
}

static void
format_row(struct worker *wk, const struct pgflo_snaptable *t, char *row,
    size_t len)
{
	const struct pgflo_relmeta *m = t->rm;
	struct pgflo_buf *b = &wk->out;
	struct pgflo_jw w, nw;
	int i, n;

	n = pgflo_copytext_split(row, len, wk->fields, wk->nfields);
	if (n != m->ncols && !(m->ncols == 0 && n == 1)) {
		fail(1, "%s.%s: COPY sent %d columns, %d expected",
		    t->schema, t->name, n, m->ncols);
		return;
	}
	pgflo_buf_putn(b, t->prefix, t->prefixlen);
	pgflo_jw_init(&w, b);
	pgflo_buf_reset(&wk->jnull);
	pgflo_jw_init(&nw, &wk->jnull);
	for (i = 0; i < m->ncols; i++) {
		const struct pgflo_copyfield *f = &wk->fields[i];

		pgflo_relmeta_value(&w, &m->cols[i], f->null ? NULL : f->p,
		    f->len, &nw);
	}
	pgflo_buf_putc(b, '}');
	if (wk->jnull.len > 0) {
		pgflo_jw_arr_end(&nw);
		pgflo_buf_puts(b, ",\"json_null\":");
		pgflo_buf_putn(b, wk->jnull.data, wk->jnull.len);
	}
	pgflo_buf_putn(b, "}\n", 2);
}

/* Copies one chunk; 0, or -1 (failed or stopping). */
static int
copy_chunk(struct worker *wk, struct chunk *c)
{
	struct pgflo_snaptable *t = c->t;
	struct pgflo_buf sql = { 0 };
	unsigned long long rows = 0;
	PGresult *res;
	char *row;
	long first = c->k * t->chunk_pages, pages;
	int n, r = -1;

	if (wk->nfields < t->rm->ncols + 1) {
		wk->nfields = t->rm->ncols + 1;
		wk->fields = pgflo_xrealloc(wk->fields,
		    sizeof(*wk->fields) * (size_t)wk->nfields);
	}
	pgflo_buf_printf(&sql, "COPY (SELECT %s FROM ONLY %s WHERE ctid >= "
	    "'(%ld,0)'::tid", t->select, t->from, first);
	if (!c->last)
		pgflo_buf_printf(&sql, " AND ctid < '(%ld,0)'::tid",
		    first + t->chunk_pages);
	/*
	 * Durable already: only the rows written since the snapshot it was
	 * copied under, which an update may have moved here from a chunk
	 * copied later (pgflo-copy(1), RESUMING).
	 */
	if (c->again)
		pgflo_buf_printf(&sql, " AND pg_catalog.age(xmin) <= "
		    "pg_catalog.age('%llu'::xid)", c->xmin);
	pgflo_buf_puts(&sql, ") TO STDOUT");
	res = PQexec(wk->conn, pgflo_buf_cstr(&sql));
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		if (PQstatus(wk->conn) != CONNECTION_OK)
			fail(3, "connection lost: %s",
			    pgflo_pg_errmsg(wk->conn));
		else
			fail(1, "could not copy %s.%s: %s", t->schema,
			    t->name, pgflo_pg_resmsg(res));
		PQclear(res);
		goto out;
	}
	PQclear(res);
	while ((n = PQgetCopyData(wk->conn, &row, 0)) > 0) {
		if (!sc->failed && !pgflo_stopping()) {
			format_row(wk, t, row, (size_t)n);
			rows++;
		}
		PQfreemem(row);
		if (wk->out.len >= OUTBUF_FLUSH && !sc->failed &&
		    !pgflo_stopping()) {
			if (emit(wk, t, rows) == -1)
				break;
			rows = 0;
		}
		if (sc->failed || pgflo_stopping()) {
			PGcancel *cn = PQgetCancel(wk->conn);
			char e[256];

			if (cn != NULL) {
				(void)PQcancel(cn, e, sizeof(e));
				PQfreeCancel(cn);
			}
			while ((n = PQgetCopyData(wk->conn, &row, 0)) > 0)
				PQfreemem(row);
			break;
		}
	}
	if (n == -2) {
		fail(3, "connection lost: %s", pgflo_pg_errmsg(wk->conn));
		goto out;
	}
	while ((res = PQgetResult(wk->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !sc->failed &&
		    !pgflo_stopping())
			fail(PQstatus(wk->conn) != CONNECTION_OK ? 3 : 1,
			    "could not copy %s.%s: %s", t->schema, t->name,
			    pgflo_pg_resmsg(res));
		PQclear(res);
	}
	if (sc->failed || pgflo_stopping())
		goto out;
	if (wk->out.len > 0 && emit(wk, t, rows) == -1)
		goto out;
	pages = c->last ? t->pages - first : t->chunk_pages;
	if (pages < 0)
		pages = 0;
	r = chunk_done(c, pages);
out:
	pgflo_buf_reset(&wk->out);
	pgflo_buf_free(&sql);
	return r;
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;
	size_t i;

	for (;;) {
		if (sc->failed || pgflo_stopping())
			break;
		pthread_mutex_lock(&qlock);
		i = qnext < nchunks ? qnext++ : nchunks;
		pthread_mutex_unlock(&qlock);
		if (i >= nchunks)
			break;
		if (copy_chunk(wk, &chunks[i]) == -1)
			break;
	}
	pgflo_value_thread_done();
	pthread_mutex_lock(&outlock);
	workers_running--;
	pthread_mutex_unlock(&outlock);
	return NULL;
}

static void
human_bytes(char *buf, size_t len, double v)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i == 0 ? "%.0f %s" : "%.1f %s", v, u[i]);
}

static double
since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Under outlock. */
static void
report_table(const struct pgflo_snaptable *t, int final)
{
	char bytes[32], eta[32] = "";
	double el = since(&t->t0), frac;

	human_bytes(bytes, sizeof(bytes), (double)t->bytes);
	if (!final && t->pages > 0) {
		frac = (double)t->pages_done / (double)t->pages;
		if (frac > 0 && frac < 1)
			snprintf(eta, sizeof(eta), ", %.0f%%, ETA %.0fs",
			    frac * 100, el / frac - el);
	}
	fflush(stdout);
	fprintf(stderr, "pgflo-copy: %s.%s: %llu rows, %s, %.0f rows/s%s%s\n",
	    t->schema, t->name, t->rows, bytes,
	    el > 0 ? (double)t->rows / el : 0.0, eta, final ? ", done" : "");
}

long
pgflo_snapcopy_workers(long jobs)
{
	return jobs < (long)nchunks ? jobs : (long)nchunks;
}

int
pgflo_snapcopy_start(PGconn **conns, long n)
{
	sigset_t block, old;
	long w;
	int r = 0;

	nworkers = n;
	workers = pgflo_xmalloc(sizeof(*workers) * (size_t)(n + 1));
	memset(workers, 0, sizeof(*workers) * (size_t)(n + 1));
	for (w = 0; w < n; w++)
		workers[w].conn = conns[w];
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	workers_running = (int)n;
	for (w = 0; w < n && r == 0; w++) {
		if (pthread_create(&workers[w].thread, NULL, worker_main,
		    &workers[w]) != 0)
			r = -1;
		else
			workers[w].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* Waits for the workers, reporting progress every 2 s. */
static void
wait_workers(void)
{
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	int last_report = 0, ticks = 0, running;
	size_t i;
	long w;

	for (;;) {
		pthread_mutex_lock(&outlock);
		running = workers_running;
		if (sc->metrics != NULL)
			pgflo_metrics_tick(sc->metrics);
		if (sc->progress && ++ticks % 20 == 0)
			for (i = 0; i < sc->ntables; i++)
				if (sc->tables[i].begun &&
				    sc->tables[i].chunks_left > 0)
					report_table(&sc->tables[i], 0);
		if (sc->progress)
			for (; last_report < (int)sc->ntables &&
			    sc->tables[last_report].chunks_left == 0;
			    last_report++)
				report_table(&sc->tables[last_report], 1);
		pthread_mutex_unlock(&outlock);
		if (running == 0)
			break;
		nanosleep(&nap, NULL);
	}
	for (w = 0; w < nworkers; w++)
		if (workers[w].started)
			pthread_join(workers[w].thread, NULL);
	if (sc->progress)
		for (i = 0; i < sc->ntables; i++)
			if (sc->tables[i].chunks_left == 0 &&
			    (int)i >= last_report)
				report_table(&sc->tables[i], 1);
}

void
pgflo_snapcopy_finish(void)
{
	struct pgflo_buf b = { 0 };
	long w;

	wait_workers();
	/* Zero-chunk case cannot happen: every table has one chunk. */
	if (!sc->failed && !pgflo_stopping()) {
		done_record(&b, sc->ntables);
		if (pgflo_snapcopy_write(&b) == -1 && !sc->failed) {
			snprintf(sc->failmsg, sizeof(sc->failmsg),
			    "write error: %s", strerror(errno));
			sc->failed = 1;
		}
		pgflo_buf_free(&b);
	}
	if (pgflo_out_flush(1) == -1 && !sc->failed) {
		snprintf(sc->failmsg, sizeof(sc->failmsg), "write error: %s",
		    strerror(errno));
		sc->failed = 1;
	}
	for (w = 0; w < nworkers; w++) {
		PQfinish(workers[w].conn);
		workers[w].conn = NULL;
		pgflo_buf_free(&workers[w].out);
		pgflo_buf_free(&workers[w].jnull);
		free(workers[w].fields);
	}
}

void
pgflo_snapcopy_free(void)
{
	free(chunks);
	free(workers);
	chunks = NULL;
	workers = NULL;
	nchunks = 0;
	nworkers = 0;
}
