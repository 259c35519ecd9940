/*
 * pgflo-copy - the initial copy of a group of tables, handing over to a
 * logical replication slot.
 *
 * Creates the slot with an exported snapshot, then -j worker threads,
 * each on its own connection inside that snapshot, copy the tables in
 * chunks of physical pages (ctid ranges) with COPY ... TO STDOUT in text
 * format.  Each row becomes one insert record with "snapshot":true, each
 * table is framed by snapshot begin/end records (pgflo-record(5)).
 * Workers format whole records into their own buffers and write them
 * under one lock, so lines never interleave.  pgflo-capture on the slot
 * then starts exactly at the consistent point of the snapshot.
 *
 * Progress counts only once the durable stage downstream made it durable:
 * the sink (or pgflo-publish) writes our snapshot records back out after
 * its commit, pgflo-checkpoint keeps them in the store, and with
 * --checkpoint a rerun reads them from there (copyprog.c).  A rerun copies
 * again, under a new snapshot, every table not recorded as durable: one
 * with a key is upserted and then repaired by the stream from the slot's
 * start; one without a key is emptied first (a snapshot truncate record)
 * and pgflo-capture skips its changes older than the new snapshot.  With
 * --checkpoint the copy exits only once the store shows it all durable,
 * so that capture, started next, reads those points from the store.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "copyprog.h"
#include "copytext.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "output.h"
#include "pg2json.h"
#include "pgconn.h"
#include "publication.h"
#include "slot.h"
#include "store.h"
#include "tablepat.h"
#include "typecache.h"

#define SYNOPSIS \
	"pgflo-copy [-p] [-c store] [-j jobs] [-P publication]\n" \
	"       [--chunk-pages n] [--no-progress] [--reuse-slot]\n" \
	"       [--publish-inserts-only | --replica-identity-full]\n" \
	"       -d conninfo -S slot -t tables\n" \
	"       pgflo-copy [-p] [-j jobs] --no-slot -d conninfo -t tables"

#define OUTBUF_FLUSH	(256 * 1024)
#define DEFAULT_JOBS	4
#define DEFAULT_CHUNK	1024	/* pages: 8 MB with 8 kB blocks */

enum {
	OPT_CHUNK_PAGES = 256, OPT_NO_PROGRESS, OPT_NO_SLOT, OPT_REUSE_SLOT,
	OPT_INSERTS_ONLY, OPT_RI_FULL
};

static const struct option longopts[] = {
	{ "checkpoint",		required_argument, NULL, 'c' },
	{ "chunk-pages",	required_argument, NULL, OPT_CHUNK_PAGES },
	{ "dbname",		required_argument, NULL, 'd' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "jobs",		required_argument, NULL, 'j' },
	{ "no-progress",	no_argument,	   NULL, OPT_NO_PROGRESS },
	{ "no-slot",		no_argument,	   NULL, OPT_NO_SLOT },
	{ "progress",		no_argument,	   NULL, 'p' },
	{ "publication",	required_argument, NULL, 'P' },
	{ "publish-inserts-only", no_argument,	   NULL, OPT_INSERTS_ONLY },
	{ "replica-identity-full", no_argument,	   NULL, OPT_RI_FULL },
	{ "reuse-slot",		no_argument,	   NULL, OPT_REUSE_SLOT },
	{ "slot",		required_argument, NULL, 'S' },
	{ "tables",		required_argument, NULL, 't' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Options. */
static const char *conninfo, *slot, *pubname, *cpurl, *tablepats;
static long jobs = DEFAULT_JOBS, chunk_pages = DEFAULT_CHUNK;
static int progress = -1, noslot, reuse_slot;
static int pubflags;		/* PGFLO_PUB_* */

static char errbuf[1024];

/* One column, with its JSON key prebuilt. */
struct col {
	char	*name;
	char	*jkey;		/* "name": */
	size_t	 jkeylen;
	uint32_t typoid;
	int32_t	 typmod;
	int	 key;
	struct pgflo_vtype vt;
};

struct table {
	char	*schema, *name;
	uint32_t oid;
	int	 ncols;
	struct col *cols;
	char	*from;		/* "schema"."name" */
	char	*select;	/* the quoted column list */
	char	*prefix;	/* {"op":"insert",...,"new":{ */
	size_t	 prefixlen;
	int	 keyed;		/* a key that upserts converge on */
	int	 truncate;	/* emptied downstream before its rows */
	int	 reset;		/* in the store, but copied again whole */
	char	 sync[PGFLO_LSN_BUFSZ];	/* the stream applies from here */
	long	 chunk_pages;
	long long filenode;	/* a rewrite (VACUUM FULL) changes it */
	/* Its chunks already durable downstream, or NULL. */
	const struct pgflo_copyprog_table *durable;
	long	 pages;		/* at planning time */
	long	 nchunks;
	/* Under outlock. */
	long	 chunks_left;
	long	 pages_done;
	int	 begun;
	unsigned long long rows, bytes;
	struct timespec t0;
};

struct chunk {
	struct table *t;
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

static struct table *tables;
static size_t ntables;
static struct chunk *chunks;
static size_t nchunks;
static struct worker *workers;
static long nworkers;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static size_t qnext;
/* The output, the counters and the checkpoint. */
static pthread_mutex_t outlock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t failed;	/* 1 data, 3 connection */
static char failmsg[1024];
static int workers_running;

static char lsntext[PGFLO_LSN_BUFSZ];	/* where the slot's stream starts */
static int rerun;		/* the slot exists: copy again what is missing */
static int have_lsn;
static int out_is_file;
static unsigned long long total_rows;

/* The checkpoint store, and the progress it held at the start. */
static struct pgflo_store *store;
static struct pgflo_copyprog prog;
static char snaplsn[PGFLO_LSN_BUFSZ];	/* this run's snapshot point */
static unsigned long long snapxmin;	/* and its xmin */
static struct pgflo_tables held;	/* the leaves published before */

static void
help(void)
{
	printf(
"pgflo-copy makes the initial copy of tables as snapshot insert records on\n"
"stdout, consistent with a new logical replication slot, so that\n"
"pgflo-capture on the slot goes on exactly where the copy ends.\n"
"\n"
"Usage:\n"
"  pgflo-copy [OPTION]... -d CONNINFO -S SLOT -t TABLES\n"
"  pgflo-copy [OPTION]... --no-slot -d CONNINFO -t TABLES\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO     the source database (conninfo string or URI)\n"
"  -S, --slot=SLOT           the logical replication slot to create\n"
"  -t, --tables=PATTERNS     schema.table patterns, '*' globs, comma list\n"
"  -P, --publication=NAME    the publication (default: the slot's name)\n"
"  -j, --jobs=N              parallel connections (default %d)\n"
"  -c, --checkpoint=STORE    the pipeline's store (file:PATH): copy only what\n"
"                            it lacks, exit once it shows the copy durable\n"
"      --chunk-pages=N       pages per chunk (default %d)\n"
"  -p, --progress            rows, bytes, rate and ETA per table on stderr\n"
"                            (the default when stderr is a terminal)\n"
"      --no-progress         no progress report\n"
"      --no-slot             a consistent copy only: no slot, no publication\n"
"      --reuse-slot          copy again when the slot already exists\n"
"      --replica-identity-full  give tables without a key REPLICA IDENTITY\n"
"                            FULL (alters them) rather than refuse them\n"
"      --publish-inserts-only  publish only inserts and truncates, so that\n"
"                            tables without a key may join\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_JOBS, PGFLO_FLUSH, libpq's PG* variables.\n"
"Exit status: 0 ok, 1 failure, 2 usage or login refused, 3 server unreachable,\n"
"130/143 stopped by SIGINT/SIGTERM before the copy was complete, 141 reader\n"
"gone (SIGPIPE).\n",
	    DEFAULT_JOBS, DEFAULT_CHUNK);
}

static void
fail(int code, const char *fmt, ...) PGFLO_PRINTF(2, 3);

/* A worker gives up: the first failure is kept and reported by main. */
static void
fail(int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&outlock);
	if (!failed) {
		va_start(ap, fmt);
		vsnprintf(failmsg, sizeof(failmsg), fmt, ap);
		va_end(ap);
		failed = code;
	}
	pthread_mutex_unlock(&outlock);
}

/* ---- planning ---- */

static PGresult *
query(PGconn *conn, const char *sql, int nparams, const char *const *params,
    const char *what)
{
	PGresult *res;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		int lost = PQstatus(conn) != CONNECTION_OK;

		snprintf(errbuf, sizeof(errbuf), "%s", lost ?
		    pgflo_pg_errmsg(conn) : pgflo_pg_resmsg(res));
		PQclear(res);	/* freed before exit: no leak report */
		pgflo_errx(lost ? PGFLO_EXIT_UNAVAIL : PGFLO_EXIT_FAIL,
		    "%s: %s", what, errbuf);
	}
	return res;
}

static void
exec_ok(PGconn *conn, const char *sql, const char *what)
{
	PQclear(query(conn, sql, 0, NULL, what));
}

/* Appends the leaf tables of schema.name (itself when not partitioned). */
static void
plan_leaves(PGconn *cat, const char *schema, const char *name)
{
	static const char sql[] =
	    "WITH r AS (SELECT pg_catalog.format('%I.%I', $1::text, "
	    "$2::text)::regclass::oid AS oid) "
	    "SELECT c.oid, n.nspname, c.relname, "
	    "pg_catalog.pg_relation_size(c.oid) / "
	    "current_setting('block_size')::bigint "
	    "FROM r, pg_catalog.pg_class c "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE c.relkind = 'r' AND (c.oid = r.oid OR c.oid IN "
	    "(SELECT p.relid FROM pg_catalog.pg_partition_tree(r.oid) p "
	    "WHERE p.isleaf)) ORDER BY 2, 3";
	const char *params[2] = { schema, name };
	PGresult *res;
	int i;

	res = query(cat, sql, 2, params, "could not list tables");
	for (i = 0; i < PQntuples(res); i++) {
		struct table *t;

		if (ntables % 16 == 0)
			tables = pgflo_xrealloc(tables, (ntables + 16) *
			    sizeof(*tables));
		t = &tables[ntables++];
		memset(t, 0, sizeof(*t));
		t->oid = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->schema = pgflo_xstrdup(PQgetvalue(res, i, 1));
		t->name = pgflo_xstrdup(PQgetvalue(res, i, 2));
		t->pages = strtol(PQgetvalue(res, i, 3), NULL, 10);
	}
	PQclear(res);
}

/*
 * The columns pgoutput would send (not dropped, not generated), and the
 * replica identity columns it would flag as key, as pgflo-capture lists
 * them in "key".
 */
static void
plan_columns(PGconn *cat, struct pgflo_typecache *tc, struct table *t)
{
	static const char sql[] =
	    "SELECT a.attname, a.atttypid, a.atttypmod, "
	    "CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false "
	    "ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
	    "WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey) AND "
	    "CASE c.relreplident WHEN 'd' THEN i.indisprimary "
	    "ELSE i.indisreplident END) END "
	    "FROM pg_catalog.pg_attribute a "
	    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
	    "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND "
	    "NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum";
	/* Keyed: a primary key or identity index, so that upserts converge. */
	static const char keysql[] =
	    "SELECT c.relreplident <> 'f' AND EXISTS (SELECT 1 FROM "
	    "pg_catalog.pg_index i WHERE i.indrelid = c.oid AND "
	    "CASE c.relreplident WHEN 'i' THEN i.indisreplident "
	    "ELSE i.indisprimary END), "
	    "coalesce(pg_catalog.pg_relation_filenode(c.oid), 0) "
	    "FROM pg_catalog.pg_class c WHERE c.oid = $1::oid";
	struct pgflo_buf b = { 0 }, sel = { 0 };
	struct pgflo_jw w;
	const char *params[1], *tn;
	char oid[16];
	PGresult *res;
	int i;

	snprintf(oid, sizeof(oid), "%u", t->oid);
	params[0] = oid;
	res = query(cat, sql, 1, params, "could not read the columns");
	t->ncols = PQntuples(res);
	t->cols = pgflo_xmalloc(sizeof(*t->cols) * (size_t)(t->ncols + 1));
	memset(t->cols, 0, sizeof(*t->cols) * (size_t)(t->ncols + 1));
	for (i = 0; i < t->ncols; i++) {
		struct col *c = &t->cols[i];

		c->name = pgflo_xstrdup(PQgetvalue(res, i, 0));
		c->typoid = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL,
		    10);
		c->typmod = (int32_t)strtol(PQgetvalue(res, i, 2), NULL, 10);
		c->key = PQgetvalue(res, i, 3)[0] == 't';
		pgflo_buf_reset(&b);
		pgflo_buf_putc(&b, '"');
		pgflo_json_escape(&b, c->name, strlen(c->name));
		pgflo_buf_putn(&b, "\":", 2);
		c->jkey = pgflo_xstrdup(pgflo_buf_cstr(&b));
		c->jkeylen = b.len;
		if (pgflo_typecache_vtype(tc, c->typoid, &c->vt, errbuf,
		    sizeof(errbuf)) == -1) {
			pgflo_warnx("%s.%s.%s: %s; writing its values as text",
			    t->schema, t->name, c->name, errbuf);
			memset(&c->vt, 0, sizeof(c->vt));
			c->vt.delim = ',';
		}
		if (i > 0)
			pgflo_buf_puts(&sel, ", ");
		pgflo_pg_quote_ident(&sel, c->name);
	}
	PQclear(res);
	t->select = pgflo_xstrdup(sel.len > 0 ? pgflo_buf_cstr(&sel) : "");
	res = query(cat, keysql, 1, params, "could not read the key");
	t->keyed = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	t->filenode = PQntuples(res) == 1 ?
	    strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	PQclear(res);

	pgflo_buf_reset(&b);
	pgflo_pg_quote_ident(&b, t->schema);
	pgflo_buf_putc(&b, '.');
	pgflo_pg_quote_ident(&b, t->name);
	t->from = pgflo_xstrdup(pgflo_buf_cstr(&b));

	/* The record up to the first value, as pgflo-capture writes it. */
	pgflo_buf_reset(&b);
	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "op");
	pgflo_jw_str(&w, "insert");
	pgflo_jw_key(&w, "schema");
	pgflo_jw_str(&w, t->schema);
	pgflo_jw_key(&w, "table");
	pgflo_jw_str(&w, t->name);
	pgflo_jw_key(&w, "snapshot");
	pgflo_jw_bool(&w, 1);
	pgflo_jw_key(&w, "key");
	pgflo_jw_arr_begin(&w);
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].key)
			pgflo_jw_str(&w, t->cols[i].name);
	pgflo_jw_arr_end(&w);
	pgflo_jw_key(&w, "types");
	pgflo_jw_obj_begin(&w);
	for (i = 0; i < t->ncols; i++) {
		tn = pgflo_typecache_name(tc, t->cols[i].typoid,
		    t->cols[i].typmod, errbuf, sizeof(errbuf));
		if (tn == NULL) {
			pgflo_warnx("%s.%s.%s: %s", t->schema, t->name,
			    t->cols[i].name, errbuf);
			tn = "unknown";
		}
		pgflo_jw_key(&w, t->cols[i].name);
		pgflo_jw_str(&w, tn);
	}
	pgflo_jw_obj_end(&w);
	pgflo_jw_key(&w, "new");
	pgflo_buf_putc(&b, '{');
	t->prefix = pgflo_xstrdup(pgflo_buf_cstr(&b));
	t->prefixlen = b.len;
	pgflo_buf_free(&b);
	pgflo_buf_free(&sel);
}

/* Every table's chunks in one queue, in table order. */
static void
plan_chunks(void)
{
	size_t i, n = 0;
	long k;

	for (i = 0; i < ntables; i++) {
		struct table *t = &tables[i];

		t->nchunks = t->pages / t->chunk_pages +
		    (t->pages % t->chunk_pages != 0);
		if (t->nchunks == 0)
			t->nchunks = 1;
		t->chunks_left = t->nchunks;
		nchunks += (size_t)t->nchunks;
	}
	chunks = pgflo_xmalloc(sizeof(*chunks) * (nchunks + 1));
	for (i = 0; i < ntables; i++)
		for (k = 0; k < tables[i].nchunks; k++) {
			chunks[n].t = &tables[i];
			chunks[n].k = k;
			chunks[n].last = k == tables[i].nchunks - 1;
			chunks[n].again = pgflo_copyprog_chunk(
			    tables[i].durable, k, &chunks[n].xmin);
			n++;
		}
}

/* ---- output ---- */

/* Opens a record {"op":op[,"phase":phase][,"schema":..,"table":..]. */
static void
rec_head(struct pgflo_jw *w, struct pgflo_buf *b, const char *op,
    const char *phase, const struct table *t)
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

static void
marker(struct pgflo_buf *b, const struct table *t, const char *phase,
    int withrows)
{
	struct pgflo_jw w;

	rec_head(&w, b, "snapshot", phase, t);
	if (have_lsn) {
		pgflo_jw_key(&w, "slot");
		pgflo_jw_str(&w, slot);
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
truncate_record(struct pgflo_buf *b, const struct table *t)
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
	pgflo_jw_str(&w, slot);
	pgflo_jw_key(&w, "chunk");
	pgflo_jw_int(&w, c->k);
	pgflo_jw_key(&w, "pages");
	pgflo_jw_int(&w, c->t->chunk_pages);
	pgflo_jw_key(&w, "xmin");
	pgflo_jw_uint(&w, snapxmin);
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
	if (have_lsn) {
		pgflo_jw_key(&w, "slot");
		pgflo_jw_str(&w, slot);
		pgflo_jw_key(&w, "lsn");
		pgflo_jw_str(&w, snaplsn);
	}
	pgflo_jw_key(&w, "tables");
	pgflo_jw_uint(&w, n);
	pgflo_jw_key(&w, "rows");
	pgflo_jw_uint(&w, total_rows);
	pgflo_jw_obj_end(&w);
	pgflo_buf_putc(b, '\n');
}

/* Under outlock: writes b whole; -1 on a write error (EPIPE kills). */
static int
out_write(const struct pgflo_buf *b)
{
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
		pgflo_check_pipe(errno);
		return -1;
	}
	return 0;
}

static int
out_flush(int sync)
{
	if (fflush(stdout) == EOF) {
		pgflo_check_pipe(errno);
		return -1;
	}
	if (sync && out_is_file && fsync(STDOUT_FILENO) == -1 &&
	    errno != EINVAL)
		return -1;
	return 0;
}

/* Under outlock: the begin marker before a table's first row. */
static int
begin_table(struct table *t)
{
	struct pgflo_buf b = { 0 };
	int r;

	if (t->begun)
		return 0;
	t->begun = 1;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	if (t->truncate)
		truncate_record(&b, t);
	marker(&b, t, "begin", 0);
	r = out_write(&b);
	pgflo_buf_free(&b);
	return r;
}

/* Writes a worker's buffer of whole records: rows of table t. */
static int
emit(struct worker *wk, struct table *t, unsigned long long rows)
{
	int r;

	pthread_mutex_lock(&outlock);
	r = begin_table(t);
	if (r == 0)
		r = out_write(&wk->out);
	if (r == 0 && pgflo_out_flush_each())
		r = out_flush(0);
	t->rows += rows;
	t->bytes += wk->out.len;
	total_rows += rows;
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
	if (c->t->keyed && have_lsn)
		chunk_record(&b, c);
	if (--c->t->chunks_left == 0)
		marker(&b, c->t, "end", 1);
	if (r == 0)
		r = out_write(&b);
	if (r == 0 && pgflo_out_flush_each())
		r = out_flush(0);
	if (r == -1 && !failed) {
		snprintf(failmsg, sizeof(failmsg), "write error: %s",
		    strerror(errno));
		failed = 1;
	}
	pthread_mutex_unlock(&outlock);
	pgflo_buf_free(&b);
	return r;
}

static void
format_row(struct worker *wk, const struct table *t, char *row, size_t len)
{
	struct pgflo_buf *b = &wk->out;
	struct pgflo_jw w;
	int i, n;

	n = pgflo_copytext_split(row, len, wk->fields, wk->nfields);
	if (n != t->ncols && !(t->ncols == 0 && n == 1)) {
		fail(1, "%s.%s: COPY sent %d columns, %d expected",
		    t->schema, t->name, n, t->ncols);
		return;
	}
	pgflo_buf_putn(b, t->prefix, t->prefixlen);
	for (i = 0; i < t->ncols; i++) {
		const struct col *c = &t->cols[i];
		const struct pgflo_copyfield *f = &wk->fields[i];

		if (i > 0)
			pgflo_buf_putc(b, ',');
		pgflo_buf_putn(b, c->jkey, c->jkeylen);
		if (f->null) {
			pgflo_buf_putn(b, "null", 4);
			continue;
		}
		pgflo_jw_init(&w, b);
		w.after_key = 1;
		pgflo_value_write(&w, &c->vt, f->p, f->len);
		if (pgflo_value_is_json_null(&c->vt, f->p, f->len)) {
			if (wk->jnull.len == 0)
				pgflo_buf_putc(&wk->jnull, '[');
			else
				pgflo_buf_putc(&wk->jnull, ',');
			pgflo_buf_putn(&wk->jnull, c->jkey, c->jkeylen - 1);
		}
	}
	pgflo_buf_putc(b, '}');
	/* JSON null is not SQL NULL (pgflo-record(5), json_null). */
	if (wk->jnull.len > 0) {
		pgflo_buf_puts(b, ",\"json_null\":");
		pgflo_buf_putn(b, wk->jnull.data, wk->jnull.len);
		pgflo_buf_putc(b, ']');
		pgflo_buf_reset(&wk->jnull);
	}
	pgflo_buf_putn(b, "}\n", 2);
}

/* Copies one chunk; 0, or -1 (failed or stopping). */
static int
copy_chunk(struct worker *wk, struct chunk *c)
{
	struct table *t = c->t;
	struct pgflo_buf sql = { 0 };
	unsigned long long rows = 0;
	PGresult *res;
	char *row;
	long first = c->k * t->chunk_pages, pages;
	int n, r = -1;

	if (wk->nfields < t->ncols + 1) {
		wk->nfields = t->ncols + 1;
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
		if (!failed && !pgflo_stopping()) {
			format_row(wk, t, row, (size_t)n);
			rows++;
		}
		PQfreemem(row);
		if (wk->out.len >= OUTBUF_FLUSH && !failed &&
		    !pgflo_stopping()) {
			if (emit(wk, t, rows) == -1)
				break;
			rows = 0;
		}
		if (failed || pgflo_stopping()) {
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
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed &&
		    !pgflo_stopping())
			fail(PQstatus(wk->conn) != CONNECTION_OK ? 3 : 1,
			    "could not copy %s.%s: %s", t->schema, t->name,
			    pgflo_pg_resmsg(res));
		PQclear(res);
	}
	if (failed || pgflo_stopping())
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
		if (failed || pgflo_stopping())
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

/* ---- progress ---- */

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
report_table(const struct table *t, int final)
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

/* ---- resuming ---- */

static void
free_table(struct table *t)
{
	int j;

	for (j = 0; j < t->ncols; j++) {
		free(t->cols[j].name);
		free(t->cols[j].jkey);
	}
	free(t->cols);
	free(t->schema);
	free(t->name);
	free(t->from);
	free(t->select);
	free(t->prefix);
}

static void
load_progress(void)
{
	if (pgflo_copyprog_read(store, &prog, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
}

/* The leaves of the publication before this run changed it. */
static void
load_held(PGconn *cat)
{
	static const char sql[] =
	    "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables "
	    "WHERE pubname = $1";
	const char *params[1] = { pubname };
	PGresult *res;
	int i, n;

	res = query(cat, sql, 1, params, "could not read the publication");
	n = PQntuples(res);
	held.schema = pgflo_xmalloc(sizeof(char *) * (size_t)(n + 1));
	held.name = pgflo_xmalloc(sizeof(char *) * (size_t)(n + 1));
	for (i = 0; i < n; i++) {
		held.schema[i] = pgflo_xstrdup(PQgetvalue(res, i, 0));
		held.name[i] = pgflo_xstrdup(PQgetvalue(res, i, 1));
	}
	held.n = (size_t)n;
	PQclear(res);
}

static int
was_held(const struct table *t)
{
	size_t i;

	for (i = 0; i < held.n; i++)
		if (strcmp(held.schema[i], t->schema) == 0 &&
		    strcmp(held.name[i], t->name) == 0)
			return 1;
	return 0;
}

/*
 * After a complete copy: whether a table of -t is new to it, or was out
 * of the publication for a while.  Either is copied by a rerun.
 */
static int
copy_needed(PGconn *cat, const struct pgflo_tables *tl)
{
	size_t i;
	int r = 0;

	for (i = 0; i < tl->n; i++)
		plan_leaves(cat, tl->schema[i], tl->name[i]);
	for (i = 0; i < ntables; i++) {
		if (!was_held(&tables[i]) || !pgflo_copyprog_lookup(&prog,
		    tables[i].schema, tables[i].name, NULL))
			r = 1;
		free_table(&tables[i]);
	}
	free(tables);
	tables = NULL;
	ntables = 0;
	return r;
}

/*
 * Decides, table by table, what this run copies.  A first run copies
 * all, the stream applying from the slot's consistent point.  A rerun
 * leaves out what the store records as durable; it copies a table with
 * a key again under its new snapshot, to be upserted and then repaired
 * by the stream from the slot's position (pgflo-copy(1) gives the
 * argument), and one without a key emptied first, the stream applying
 * its changes only from this snapshot's point snap on.
 */
static void
plan_resume(pgflo_lsn snap)
{
	size_t i, n = 0;

	for (i = 0; i < ntables; i++) {
		struct table *t = &tables[i];
		const struct pgflo_copyprog_table *d;
		int again;

		/*
		 * Put back into -t (its changes were not streamed while it was
		 * out of the publication), or --reuse-slot: copied again whole,
		 * whatever the store says.
		 */
		again = reuse_slot || (rerun && !was_held(t));
		if (have_lsn && !again && pgflo_copyprog_lookup(&prog,
		    t->schema, t->name, NULL)) {
			free_table(t);
			continue;
		}
		t->chunk_pages = chunk_pages;
		d = have_lsn ? pgflo_copyprog_find(&prog, t->schema,
		    t->name) : NULL;
		if (d != NULL && again) {
			t->reset = 1;	/* the store forgets it first */
			d = NULL;
		}
		/* Chunks of the same pages of a table with a key: resume. */
		if (d != NULL && t->keyed && d->nranges > 0 &&
		    d->filenode == t->filenode) {
			t->chunk_pages = d->pages;
			t->durable = d;
		}
		if (rerun && !t->keyed && store != NULL) {
			t->truncate = 1;
			pgflo_lsn_format(snap, t->sync);
		} else {
			memcpy(t->sync, lsntext, sizeof(t->sync));
		}
		tables[n++] = *t;
	}
	ntables = n;
}

/* Whether the store shows no table of this run's resets. */
static int
reset_shown(const struct pgflo_copyprog *cp)
{
	size_t i;

	for (i = 0; i < ntables; i++)
		if (tables[i].reset && pgflo_copyprog_find(cp,
		    tables[i].schema, tables[i].name) != NULL)
			return 0;
	return 1;
}

/*
 * The copy is written; the store shows it durable once the durable stage
 * committed the done record and pgflo-checkpoint stored it.  Exiting
 * only then lets pgflo-capture, started next, read from the store where
 * each table's stream begins.  With resets, waits instead until the
 * store has forgotten the tables that this run copies again.
 */
static void
wait_durable(int resets)
{
	struct pgflo_copyprog cp;
	pgflo_lsn want;
	long t0 = pgflo_now_ms(), said = 0, probed = t0;
	int r;

	(void)pgflo_lsn_parse(snaplsn, &want);
	for (;;) {
		if (pgflo_copyprog_read(store, &cp, errbuf,
		    sizeof(errbuf)) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		if (resets)
			r = reset_shown(&cp);
		else
			r = cp.slot != NULL && strcmp(cp.slot, slot) == 0 &&
			    cp.done && cp.lsn == want;
		pgflo_copyprog_free(&cp);
		if (r)
			return;
		if (pgflo_stopping())
			return;
		pgflo_out_check_reader();	/* the sink died: 141 */
		/*
		 * A filter between us and the sink (tee, jq) notices that the
		 * sink is gone only when it writes: give it an empty line to
		 * write every second, which readers skip (pgflo-record(5)).
		 */
		if (pgflo_now_ms() - probed >= 1000) {
			if (putchar('\n') == EOF || fflush(stdout) == EOF) {
				pgflo_check_pipe(errno);
				pgflo_err(PGFLO_EXIT_FAIL, "write error");
			}
			probed = pgflo_now_ms();
		}
		if (!said && pgflo_now_ms() - t0 > 10000) {
			pgflo_warnx("%s%s%s (is pgflo-checkpoint --save %s at "
			    "the end of the pipeline?)", resets ? "waiting for "
			    : "copy written; waiting for ", cpurl, resets ?
			    " to forget the tables copied again" :
			    " to record it durable", cpurl);
			said = 1;
		}
		usleep(100 * 1000);
	}
}

/*
 * Tables that the store lists but this run copies again whole: their
 * entries go first, and only once the store shows that may anything
 * change them downstream (a truncate, rows), or a kill would leave the
 * store claiming a table half copied.
 */
static void
reset_tables(void)
{
	struct pgflo_buf b = { 0 };
	size_t i;

	for (i = 0; i < ntables; i++)
		if (tables[i].reset)
			marker(&b, &tables[i], "reset", 0);
	if (b.len > 0) {
		if (out_write(&b) == -1 || out_flush(0) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		wait_durable(1);
	}
	pgflo_buf_free(&b);
}

/* The store says the copy is complete: release what was opened. */
static void
finish_early(PGconn *cat, struct pgflo_tables *tl)
{
	PQfinish(cat);
	pgflo_tables_free(tl);
	pgflo_tables_free(&held);
	pgflo_copyprog_free(&prog);
	pgflo_store_close(store);
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
}

/* ---- setup ---- */

static PGconn *
connect_or_die(int replication)
{
	PGconn *conn;

	if ((conn = pgflo_pg_connect(conninfo, replication, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	return conn;
}

static void
session(PGconn *conn)
{
	PGresult *res;

	if ((res = pgflo_pg_exec(conn, pgflo_pg_session_sql,
	    PGRES_COMMAND_OK, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	PQclear(res);
}

/* The snapshot's xmin, modulo 2^32 (an xid): older rows it shows. */
static unsigned long long
snapshot_xmin(PGconn *conn)
{
	PGresult *res;
	unsigned long long x;

	res = query(conn, "SELECT pg_catalog.pg_snapshot_xmin("
	    "pg_catalog.pg_current_snapshot())", 0, NULL,
	    "could not read the snapshot");
	x = strtoull(PQgetvalue(res, 0, 0), NULL, 10) & 0xffffffffULL;
	PQclear(res);
	return x;
}

static void
parse_args(int argc, char *argv[])
{
	const char *env;
	int ch;

	if ((env = pgflo_env("JOBS", NULL)) != NULL &&
	    pgflo_parse_long(env, 1, 64, &jobs) == -1) {
		pgflo_warnx("bad PGFLO_JOBS '%s'", env);
		pgflo_usage_exit(SYNOPSIS);
	}
	while ((ch = getopt_long(argc, argv, "P:S:Vc:d:hj:pt:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'P':
			pubname = optarg;
			break;
		case 'S':
			slot = optarg;
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		case 'c':
			cpurl = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'j':
			if (pgflo_parse_long(optarg, 1, 64, &jobs) == -1) {
				pgflo_warnx("bad job count '%s' (1 to 64)",
				    optarg);
				pgflo_usage_exit(SYNOPSIS);
			}
			break;
		case 'p':
			progress = 1;
			break;
		case 't':
			tablepats = optarg;
			break;
		case OPT_CHUNK_PAGES:
			if (pgflo_parse_long(optarg, 1, 1L << 30,
			    &chunk_pages) == -1) {
				pgflo_warnx("bad page count '%s'", optarg);
				pgflo_usage_exit(SYNOPSIS);
			}
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case OPT_NO_SLOT:
			noslot = 1;
			break;
		case OPT_REUSE_SLOT:
			reuse_slot = 1;
			break;
		case OPT_INSERTS_ONLY:
			pubflags |= PGFLO_PUB_INSERTS_ONLY;
			break;
		case OPT_RI_FULL:
			pubflags |= PGFLO_PUB_RI_FULL;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc) {
		pgflo_warnx("unexpected argument '%s'", argv[optind]);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (conninfo == NULL) {
		pgflo_warnx("-d is required");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pgflo_pg_conninfo_ok(conninfo, errbuf, sizeof(errbuf)) == -1) {
		pgflo_warnx("%s", errbuf);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (tablepats == NULL || *tablepats == '\0') {
		pgflo_warnx("-t is required");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (noslot) {
		if (slot != NULL || pubname != NULL || cpurl != NULL ||
		    reuse_slot) {
			pgflo_warnx("--no-slot excludes -S, -P, -c and "
			    "--reuse-slot");
			pgflo_usage_exit(SYNOPSIS);
		}
	} else if (slot == NULL) {
		pgflo_warnx("-S is required (or --no-slot)");
		pgflo_usage_exit(SYNOPSIS);
	} else if (!pgflo_slot_name_ok(slot)) {
		pgflo_warnx("bad slot name '%s' (a-z, 0-9, _; at most 63)",
		    slot);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (noslot && pubflags != 0) {
		pgflo_warnx("--no-slot makes no publication: "
		    "--publish-inserts-only and --replica-identity-full do not "
		    "apply");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pubflags == (PGFLO_PUB_INSERTS_ONLY | PGFLO_PUB_RI_FULL)) {
		pgflo_warnx("--publish-inserts-only and --replica-identity-full "
		    "exclude each other");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pubname == NULL)
		pubname = slot;
	if (cpurl != NULL && (store = pgflo_store_open(cpurl, errbuf,
	    sizeof(errbuf))) == NULL) {
		pgflo_warnx("%s", errbuf);
		pgflo_usage_exit(SYNOPSIS);
	}
}

int
main(int argc, char *argv[])
{
	struct pgflo_tables tl;
	struct pgflo_typecache *tc;
	struct stat st;
	struct timespec nap;
	PGconn *cat, *repl = NULL;
	PGresult *res;
	sigset_t block, old;
	char *snapname = NULL;
	pgflo_lsn lsn = 0, snap = 0;
	size_t i;
	long w;
	int exists, last_report = 0, ticks = 0, sig;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_args(argc, argv);
	if (progress == -1)
		progress = isatty(STDERR_FILENO);
	pgflo_catch_signals();
	pgflo_out_init();
	out_is_file = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode);

	cat = connect_or_die(0);
	session(cat);
	if (pgflo_tables_resolve(cat, tablepats, &tl, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_errx(PQstatus(cat) == CONNECTION_OK ? PGFLO_EXIT_FAIL :
		    PGFLO_EXIT_UNAVAIL, "%s", errbuf);

	if (store != NULL)
		load_progress();
	if (!noslot) {
		int r;

		exists = pgflo_slot_exists(cat, slot, &lsn, errbuf,
		    sizeof(errbuf));
		if (exists == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		if (prog.slot != NULL && strcmp(prog.slot, slot) != 0)
			pgflo_errx(PGFLO_EXIT_USAGE, "%s holds the copy of slot "
			    "\"%s\", not \"%s\"", cpurl, prog.slot, slot);
		if (!exists && prog.slot != NULL)
			pgflo_errx(PGFLO_EXIT_USAGE, "%s holds a copy through "
			    "slot \"%s\", which no longer exists: the target "
			    "holds rows of that copy; empty the target's tables "
			    "and remove %s to start over", cpurl, slot, cpurl);
		if (exists && store == NULL && !reuse_slot)
			pgflo_errx(PGFLO_EXIT_USAGE, "slot \"%s\" already "
			    "exists (resume with the --checkpoint of its "
			    "pipeline, or copy again with --reuse-slot)", slot);
		if (exists)
			load_held(cat);
		/* The publication must exist before the slot's start. */
		if ((r = pgflo_pub_sync(cat, pubname, &tl, pubflags, NULL,
		    errbuf, sizeof(errbuf))) < 0)
			pgflo_errx(r == -2 ? PGFLO_EXIT_USAGE : PGFLO_EXIT_FAIL,
			    "%s", errbuf);
		if (exists && prog.done && !reuse_slot &&
		    !copy_needed(cat, &tl)) {
			/* Run again after the copy: nothing to do. */
			if (progress)
				pgflo_warnx("slot \"%s\": the copy is complete "
				    "in %s", slot, cpurl);
			finish_early(cat, &tl);
			return 0;
		}
		repl = connect_or_die(1);
		rerun = exists;
		if (!exists) {
			if (pgflo_slot_create(repl, slot, "export", &lsn,
			    &snapname, errbuf, sizeof(errbuf)) == -1)
				pgflo_errx(PQstatus(repl) == CONNECTION_OK ?
				    PGFLO_EXIT_FAIL : PGFLO_EXIT_UNAVAIL, "%s",
				    errbuf);
			snap = lsn;
		} else {
			/*
			 * Again: a snapshot of its own, whose point tells
			 * which commits it holds; the stream still starts at
			 * the slot's confirmed position, lsn.
			 */
			char tmp[64];

			snprintf(tmp, sizeof(tmp), "pgflo_copy_%ld",
			    (long)getpid());
			if (pgflo_slot_create_temporary(repl, tmp, &snap,
			    &snapname, errbuf, sizeof(errbuf)) == -1)
				pgflo_errx(PQstatus(repl) == CONNECTION_OK ?
				    PGFLO_EXIT_FAIL : PGFLO_EXIT_UNAVAIL, "%s",
				    errbuf);
		}
		pgflo_lsn_format(lsn, lsntext);
		pgflo_lsn_format(snap, snaplsn);
		have_lsn = 1;
	}
	if (snapname != NULL) {
		struct pgflo_buf b = { 0 };

		exec_ok(cat, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    "could not begin");
		pgflo_buf_puts(&b, "SET TRANSACTION SNAPSHOT ");
		pgflo_pg_quote_literal(&b, snapname);
		exec_ok(cat, pgflo_buf_cstr(&b), "could not import the "
		    "snapshot");
		pgflo_buf_free(&b);
	} else {
		exec_ok(cat, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    "could not begin");
		res = query(cat, "SELECT pg_catalog.pg_export_snapshot()", 0,
		    NULL, "could not export a snapshot");
		snapname = pgflo_xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}

	/* Plan inside the snapshot. */
	snapxmin = snapshot_xmin(cat);
	tc = pgflo_typecache_new(cat);
	for (i = 0; i < tl.n; i++)
		plan_leaves(cat, tl.schema[i], tl.name[i]);
	for (i = 0; i < ntables; i++)
		plan_columns(cat, tc, &tables[i]);
	plan_resume(snap);
	plan_chunks();
	if (store != NULL && have_lsn)
		reset_tables();

	/* Workers: signals stay with the main thread. */
	nworkers = jobs < (long)nchunks ? jobs : (long)nchunks;
	if (pgflo_stopping())
		nworkers = 0;
	workers = pgflo_xmalloc(sizeof(*workers) * (size_t)(nworkers + 1));
	memset(workers, 0, sizeof(*workers) * (size_t)(nworkers + 1));
	for (w = 0; w < nworkers; w++) {
		struct pgflo_buf b = { 0 };

		workers[w].conn = connect_or_die(0);
		session(workers[w].conn);
		exec_ok(workers[w].conn, "BEGIN ISOLATION LEVEL REPEATABLE "
		    "READ READ ONLY", "could not begin");
		pgflo_buf_puts(&b, "SET TRANSACTION SNAPSHOT ");
		pgflo_pg_quote_literal(&b, snapname);
		exec_ok(workers[w].conn, pgflo_buf_cstr(&b), "could not "
		    "import the snapshot");
		pgflo_buf_free(&b);
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	workers_running = (int)nworkers;
	for (w = 0; w < nworkers; w++) {
		if (pthread_create(&workers[w].thread, NULL, worker_main,
		    &workers[w]) != 0)
			pgflo_errx(PGFLO_EXIT_FAIL, "could not start a thread");
		workers[w].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* Wait, reporting progress every 2 s. */
	nap.tv_sec = 0;
	nap.tv_nsec = 100 * 1000 * 1000;
	for (;;) {
		int running;

		pthread_mutex_lock(&outlock);
		running = workers_running;
		if (progress && ++ticks % 20 == 0)
			for (i = 0; i < ntables; i++)
				if (tables[i].begun &&
				    tables[i].chunks_left > 0)
					report_table(&tables[i], 0);
		if (progress)
			for (; last_report < (int)ntables &&
			    tables[last_report].chunks_left == 0;
			    last_report++)
				report_table(&tables[last_report], 1);
		pthread_mutex_unlock(&outlock);
		if (running == 0)
			break;
		nanosleep(&nap, NULL);
	}
	for (w = 0; w < nworkers; w++)
		if (workers[w].started)
			pthread_join(workers[w].thread, NULL);
	if (progress)
		for (i = 0; i < ntables; i++)
			if (tables[i].chunks_left == 0 &&
			    (int)i >= last_report)
				report_table(&tables[i], 1);

	/* Zero-chunk case cannot happen: every table has one chunk. */
	if (!failed && !pgflo_stopping()) {
		struct pgflo_buf b = { 0 };

		done_record(&b, ntables);
		if (out_write(&b) == -1 && !failed) {
			snprintf(failmsg, sizeof(failmsg), "write error: %s",
			    strerror(errno));
			failed = 1;
		}
		pgflo_buf_free(&b);
	}
	if (out_flush(1) == -1 && !failed) {
		snprintf(failmsg, sizeof(failmsg), "write error: %s",
		    strerror(errno));
		failed = 1;
	}
	for (w = 0; w < nworkers; w++) {
		PQfinish(workers[w].conn);
		pgflo_buf_free(&workers[w].out);
		pgflo_buf_free(&workers[w].jnull);
		free(workers[w].fields);
	}
	PQfinish(cat);
	PQfinish(repl);
	if (failed)
		pgflo_errx(failed, "%s", failmsg);
	if (store != NULL && !pgflo_stopping() && have_lsn)
		wait_durable(0);
	if ((sig = pgflo_stop_signal) != 0) {
		size_t left = 0;

		for (i = 0; i < ntables; i++)
			left += (size_t)(tables[i].chunks_left > 0);
		if (left > 0 || (store != NULL && have_lsn)) {
			pgflo_warnx("interrupted: %zu of %zu tables incomplete"
			    "%s", left, ntables, store != NULL ?
			    "; rerun with the same --checkpoint to resume" :
			    "");
			(void)pgflo_out_close();
			signal(sig, SIG_DFL);
			raise(sig);
			return 128 + sig;
		}
	}
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
	pgflo_typecache_free(tc);
	pgflo_tables_free(&tl);
	pgflo_tables_free(&held);
	for (i = 0; i < ntables; i++)
		free_table(&tables[i]);
	free(tables);
	free(chunks);
	free(workers);
	free(snapname);
	pgflo_copyprog_free(&prog);
	pgflo_store_close(store);
	return 0;
}
