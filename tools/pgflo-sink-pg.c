/*
 * pgflo-sink-pg - apply change records to a target PostgreSQL database,
 * exactly once.
 *
 * Records come from stdin; source transactions are applied whole, several
 * per target transaction, through prepared statements in libpq pipeline
 * mode.  The applied position is kept in pgflo.applied in the same target
 * transaction, so replays are skipped.  The raw lines of the open target
 * transaction are kept (bounded) so that after an error or a lost
 * connection the complete source transactions can be applied again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pgflo.h"
#include "json2pg.h"
#include "jsonscan.h"
#include "lsn.h"
#include "output.h"
#include "pgconn.h"
#include "reader.h"
#include "record.h"

#define SYNOPSIS \
	"pgflo-sink-pg [-acpv] [-b rows] [-g group] [-m ms] [-s src=dst]\n" \
	"                     [--dead-letter file] [--disable-triggers] " \
	"[--no-loop]\n" \
	"                     -d conninfo"

#define SYNC_EVERY	256		/* statements per pipeline sync */
#define MAX_STMTS	1000		/* prepared statements kept */
#define RETAIN_MAX	((size_t)32 << 20)	/* replayable bytes */
#define RUN_MAX		128		/* rows per multi-row INSERT */
#define BACKOFF_MAX	30000
#define NAME_BYTES	63		/* NAMEDATALEN - 1 */
#define MAX_COLUMNS	1600		/* MaxHeapAttributeNumber */

enum {
	OPT_DEADLETTER = 256, OPT_DISABLE_TRIGGERS, OPT_NO_LOOP
};

static const struct option longopts[] = {
	{ "apply-ddl",		no_argument,	   NULL, 'a' },
	{ "batch-ms",		required_argument, NULL, 'm' },
	{ "batch-rows",		required_argument, NULL, 'b' },
	{ "create-tables",	no_argument,	   NULL, 'c' },
	{ "dbname",		required_argument, NULL, 'd' },
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "disable-triggers",	no_argument,	   NULL, OPT_DISABLE_TRIGGERS },
	{ "group",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "map-schema",		required_argument, NULL, 's' },
	{ "no-loop",		no_argument,	   NULL, OPT_NO_LOOP },
	{ "position",		no_argument,	   NULL, 'p' },
	{ "target",		required_argument, NULL, 'd' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int aflag, cflag, vflag, noloop, notriggers;
static long batch_rows = 10000, batch_ms = 200;
static const char *conninfo, *group = "default";
static char **mapsrc, **mapdst;
static int nmap;
static FILE *dlf;
static const char *dlname;

static void
help(void)
{
	printf(
"pgflo-sink-pg applies change records (stdin) to a PostgreSQL database,\n"
"exactly once, and prints a position record after each commit.\n"
"\n"
"Usage:\n"
"  pgflo-sink-pg [OPTION]... -d CONNINFO < records\n"
"  pgflo-sink-pg [-g GROUP] --position -d CONNINFO\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO   target database (libpq conninfo or URI)\n"
"  -g, --group=NAME        name of the applied position (default \"default\")\n"
"  -p, --position          print the applied position and exit\n"
"  -b, --batch-rows=N      commit after N changes (default 10000)\n"
"  -m, --batch-ms=MS       commit after MS ms or when input is quiet\n"
"                          (default 200; also \"2s\")\n"
"  -c, --create-tables     create missing target tables from the records\n"
"  -a, --apply-ddl         apply the ddl records of a trusted stream, one\n"
"                          statement each (else a notice)\n"
"  -s, --map-schema=S=D    apply changes to schema S in schema D\n"
"      --disable-triggers  session_replication_role = replica\n"
"      --dead-letter=FILE  write failing transactions to FILE, go on\n"
"      --no-loop           exit 3 when the connection is lost\n"
"  -v, --verbose           report batches and a summary on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_GROUP, PGFLO_BATCH_ROWS, PGFLO_BATCH_MS, PGFLO_FLUSH,\n"
"PGFLO_MAX_RECORD, and libpq's PG* variables.\n"
"Exit status: 0 ok or stopped, 1 data or apply failure, 2 usage or login\n"
"refused, 3 unavailable, 141 reader gone (SIGPIPE).\n");
}

/* ---- a small string map ---- */

struct ment {
	char	*key;
	size_t	 kn;
	void	*val;
	struct ment *next;
};
struct map {
	struct ment **b;
	size_t	 nb, n;
};

static size_t
hash(const char *s, size_t n)
{
	size_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void *
map_get(struct map *m, const char *k, size_t kn)
{
	struct ment *e;

	if (m->nb == 0)
		return NULL;
	for (e = m->b[hash(k, kn) % m->nb]; e != NULL; e = e->next)
		if (e->kn == kn && memcmp(e->key, k, kn) == 0)
			return e->val;
	return NULL;
}

static void
map_put(struct map *m, const char *k, size_t kn, void *v)
{
	struct ment *e;
	size_t i;

	if (m->nb == 0) {
		m->nb = 1024;
		m->b = calloc(m->nb, sizeof(*m->b));
		if (m->b == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
	}
	if (m->n >= 2 * m->nb) {
		struct ment **nb, *n;
		size_t nnb = m->nb * 4, j;

		if ((nb = calloc(nnb, sizeof(*nb))) == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
		for (j = 0; j < m->nb; j++)
			for (e = m->b[j]; e != NULL; e = n) {
				n = e->next;
				i = hash(e->key, e->kn) % nnb;
				e->next = nb[i];
				nb[i] = e;
			}
		free(m->b);
		m->b = nb;
		m->nb = nnb;
	}
	e = pgflo_xmalloc(sizeof(*e));
	e->key = pgflo_xmalloc(kn + 1);
	memcpy(e->key, k, kn);
	e->key[kn] = '\0';
	e->kn = kn;
	e->val = v;
	i = hash(k, kn) % m->nb;
	e->next = m->b[i];
	m->b[i] = e;
	m->n++;
}

static void
map_clear(struct map *m, void (*freeval)(void *))
{
	struct ment *e, *n;
	size_t i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = n) {
			n = e->next;
			if (freeval != NULL)
				freeval(e->val);
			free(e->key);
			free(e);
		}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

/* ---- records, parsed in place from the raw line ---- */

struct col {
	char	*name;
	const char *type;
	struct pgflo_span v;
};

struct rec {
	enum pgflo_op op;
	char	*schema, *table;
	struct pgflo_pos pos;
	int	 has_lsn, has_seq, snapshot, cascade, restart;
	int	 has_new, has_old;
	char	*statement, *tag;
	struct col *types, *newv, *oldv;
	int	 ntypes, nnew, nold, ctypes, cnew, cold;
	char	**keyv;
	int	 nkey, ckey;
};

static struct pgflo_buf arena;

static char *
arena_str(struct pgflo_span s)
{
	char *p = arena.data + arena.len;

	pgflo_js_str(&arena, s);
	pgflo_buf_putc(&arena, '\0');
	return p;
}

static char whybuf[256];

/* Why decoded string p of n bytes is no name: NULL with why set. */
static char *
bad_name(const char *p, size_t n, const char *what, size_t maxlen,
    const char **why)
{
	if (memchr(p, '\0', n) != NULL)
		snprintf(whybuf, sizeof(whybuf), "%s holds a NUL byte "
		    "(\\u0000), which PostgreSQL cannot store", what);
	else
		snprintf(whybuf, sizeof(whybuf), "%s is %zu bytes long, more "
		    "than the %zu of a PostgreSQL name", what, n, maxlen);
	*why = whybuf;
	return NULL;
}

/*
 * A decoded string that PostgreSQL could hold: NULL with why set when it
 * has a NUL byte (text cannot) or, for a name (maxlen NAME_BYTES), when
 * it is longer than a name can be, which the server would truncate onto
 * another object.  Once per name and type on the hot path: inline.
 */
static inline char *
arena_name(struct pgflo_span s, const char *what, size_t maxlen,
    const char **why)
{
	size_t off = arena.len, n;
	char *p = arena_str(s);

	n = arena.len - off - 1;
	/* Only an escape (the text got shorter) makes a NUL byte. */
	if ((n + 2 != s.n && memchr(p, '\0', n) != NULL) || n > maxlen)
		return bad_name(p, n, what, maxlen, why);
	return p;
}

static int
parse_cols(struct pgflo_span v, struct col **cv, int *n, int *cap,
    int values, const char **why)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, val;

	if (pgflo_js_obj(&it, v) == -1)
		return -1;
	*n = 0;
	while (pgflo_js_obj_next(&it, &k, &val)) {
		if (*n == MAX_COLUMNS) {
			snprintf(whybuf, sizeof(whybuf), "record has more than "
			    "%d columns, PostgreSQL's limit", MAX_COLUMNS);
			*why = whybuf;
			return -1;
		}
		if (*n == *cap) {
			*cap = *cap != 0 ? *cap * 2 : 32;
			*cv = pgflo_xrealloc(*cv, (size_t)*cap * sizeof(**cv));
		}
		if (((*cv)[*n].name = arena_name(k, "a column name",
		    NAME_BYTES, why)) == NULL)
			return -1;
		(*cv)[*n].type = NULL;
		(*cv)[*n].v = val;
		if (!values) {
			if (*val.p != '"')
				return -1;
			if (((*cv)[*n].type = arena_name(val, "a type name",
			    SIZE_MAX, why)) == NULL)
				return -1;
		}
		(*n)++;
	}
	return 0;
}

static int
span_uint(struct pgflo_span v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v.n == 0 || v.n > 19)
		return -1;
	for (i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v.p[i] - '0');
	}
	/* Kept in a bigint (pgflo.applied). */
	if (x > INT64_MAX)
		return -1;
	*out = x;
	return 0;
}

/*
 * The columns a json_null list names hold JSON null, not SQL NULL: their
 * spans point at pgflo_js_json_null so that pgflo_pgtext sends 'null'.
 */
static int
mark_json_null(struct pgflo_span list, struct col *cv, int n)
{
	struct pgflo_js_iter it;
	struct pgflo_span v;
	int i;

	if (list.p == NULL)
		return 0;
	if (pgflo_js_arr(&it, list) == -1)
		return -1;
	while (pgflo_js_arr_next(&it, &v)) {
		if (*v.p != '"')
			return -1;
		for (i = 0; i < n; i++)
			if (pgflo_js_str_eq(v, cv[i].name) &&
			    *cv[i].v.p == 'n') {
				cv[i].v.p = pgflo_js_json_null;
				cv[i].v.n = 4;
			}
	}
	return 0;
}

#define KEYIS(k, s)	((k).n == sizeof(s) + 1 && \
	memcmp((k).p + 1, s, sizeof(s) - 1) == 0)

/* Parses a validated line; -1 with why set for a malformed record. */
static int
parse_rec(const char *line, size_t len, struct rec *r, const char **why)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, v, types = { 0 }, newv = { 0 }, oldv = { 0 };
	struct pgflo_span key = { 0 }, jnull = { 0 }, ojnull = { 0 };
	char *s;
	int have_op = 0;

	pgflo_buf_reset(&arena);
	pgflo_buf_grow(&arena, 2 * len + 256);
	r->op = PGFLO_OP_UNKNOWN;
	r->schema = r->table = r->statement = r->tag = NULL;
	memset(&r->pos, 0, sizeof(r->pos));
	r->has_lsn = r->has_seq = r->snapshot = r->cascade = r->restart = 0;
	r->has_new = r->has_old = 0;
	r->ntypes = r->nnew = r->nold = r->nkey = 0;
	*why = "record is not a JSON object";
	if (pgflo_js_obj(&it, (struct pgflo_span){ line, len }) == -1)
		return -1;
	while (pgflo_js_obj_next(&it, &k, &v)) {
		if (KEYIS(k, "op")) {
			if (*v.p != '"')
				goto badop;
			have_op = 1;
			r->op = pgflo_op_parse(arena_str(v));
		} else if (KEYIS(k, "schema") && *v.p == '"') {
			if ((r->schema = arena_name(v, "the schema name",
			    NAME_BYTES, why)) == NULL)
				return -1;
		} else if (KEYIS(k, "table") && *v.p == '"') {
			if ((r->table = arena_name(v, "the table name",
			    NAME_BYTES, why)) == NULL)
				return -1;
		} else if (KEYIS(k, "commit_lsn") && *v.p == '"') {
			s = arena_str(v);
			*why = "malformed commit_lsn";
			if (pgflo_lsn_parse(s, &r->pos.commit_lsn) == -1)
				return -1;
			r->has_lsn = r->pos.commit_lsn != 0;
		} else if (KEYIS(k, "ordinal") && *v.p != 'n') {
			*why = "malformed ordinal";
			if (span_uint(v, &r->pos.ordinal) == -1)
				return -1;
		} else if (KEYIS(k, "stream_seq") && *v.p != 'n') {
			*why = "malformed stream_seq";
			if (span_uint(v, &r->pos.stream_seq) == -1)
				return -1;
			r->has_seq = r->pos.stream_seq != 0;
		} else if (KEYIS(k, "snapshot")) {
			r->snapshot = *v.p == 't';
		} else if (KEYIS(k, "cascade")) {
			r->cascade = *v.p == 't';
		} else if (KEYIS(k, "restart_identity")) {
			r->restart = *v.p == 't';
		} else if (KEYIS(k, "statement") && *v.p == '"') {
			if ((r->statement = arena_name(v, "the statement",
			    SIZE_MAX, why)) == NULL)
				return -1;
		} else if (KEYIS(k, "tag") && *v.p == '"') {
			if ((r->tag = arena_name(v, "the tag", SIZE_MAX,
			    why)) == NULL)
				return -1;
		} else if (KEYIS(k, "types")) {
			types = v;
		} else if (KEYIS(k, "new")) {
			newv = v;
		} else if (KEYIS(k, "old")) {
			oldv = v;
		} else if (KEYIS(k, "key")) {
			key = v;
		} else if (KEYIS(k, "json_null")) {
			jnull = v;
		} else if (KEYIS(k, "old_json_null")) {
			ojnull = v;
		}
	}
	if (!have_op)
		goto badop;
	if (r->op != PGFLO_OP_INSERT && r->op != PGFLO_OP_UPDATE &&
	    r->op != PGFLO_OP_DELETE && r->op != PGFLO_OP_TRUNCATE)
		return 0;
	*why = "record has no schema or table";
	if (r->schema == NULL || r->table == NULL)
		return -1;
	if (r->op == PGFLO_OP_TRUNCATE)
		return 0;
	*why = "record has no \"types\" object";
	if (types.p == NULL || parse_cols(types, &r->types, &r->ntypes,
	    &r->ctypes, 0, why) == -1)
		return -1;
	if (key.p != NULL && *key.p == '[') {
		pgflo_js_arr(&it, key);
		while (pgflo_js_arr_next(&it, &v)) {
			*why = "record has more key columns than PostgreSQL's "
			    "limit";
			if (r->nkey == MAX_COLUMNS)
				return -1;
			*why = "malformed \"key\"";
			if (*v.p != '"')
				return -1;
			if (r->nkey == r->ckey) {
				r->ckey = r->ckey != 0 ? r->ckey * 2 : 16;
				r->keyv = pgflo_xrealloc(r->keyv,
				    (size_t)r->ckey * sizeof(*r->keyv));
			}
			if ((r->keyv[r->nkey] = arena_name(v,
			    "a key column name", NAME_BYTES, why)) == NULL)
				return -1;
			r->nkey++;
		}
	}
	*why = "malformed \"new\" or \"old\"";
	if (newv.p != NULL && *newv.p != 'n') {
		if (parse_cols(newv, &r->newv, &r->nnew, &r->cnew, 1,
		    why) == -1)
			return -1;
		r->has_new = 1;
	}
	*why = "malformed \"new\" or \"old\"";
	if (oldv.p != NULL && *oldv.p != 'n') {
		if (parse_cols(oldv, &r->oldv, &r->nold, &r->cold, 1,
		    why) == -1)
			return -1;
		r->has_old = 1;
	}
	*why = "malformed \"json_null\" or \"old_json_null\"";
	if (mark_json_null(jnull, r->newv, r->nnew) == -1 ||
	    mark_json_null(ojnull, r->oldv, r->nold) == -1)
		return -1;
	*why = "insert or update without \"new\"";
	if ((r->op == PGFLO_OP_INSERT || r->op == PGFLO_OP_UPDATE) &&
	    !r->has_new)
		return -1;
	return 0;
badop:
	*why = "record has no \"op\" string";
	return -1;
}

/* ---- retained lines of the open target transaction ---- */

struct line {
	size_t	 off, len;
	unsigned long lineno;
	unsigned long txn;	/* source transaction tag */
};
struct lines {
	struct pgflo_buf data;
	struct line *v;
	size_t	 n, cap, next;
};

static struct lines retained, replay;
static int overflow;		/* retained is incomplete */
/* Snapshot records of the open batch: printed once it is committed. */
static struct lines echoes;

static void
lines_add(struct lines *l, const char *s, size_t n, unsigned long lineno,
    unsigned long txn)
{
	if (l->n == l->cap) {
		l->cap = l->cap != 0 ? l->cap * 2 : 1024;
		l->v = pgflo_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].off = l->data.len;
	l->v[l->n].len = n;
	l->v[l->n].lineno = lineno;
	l->v[l->n].txn = txn;
	l->n++;
	pgflo_buf_putn(&l->data, s, n);
	pgflo_buf_putc(&l->data, '\0');
}

static void
lines_reset(struct lines *l)
{
	l->n = l->next = 0;
	pgflo_buf_reset(&l->data);
	if (l->data.cap > ((size_t)8 << 20)) {
		pgflo_buf_free(&l->data);
		free(l->v);
		l->v = NULL;
		l->cap = 0;
	}
}

/* ---- connections and caches ---- */

static PGconn *conn;		/* data: pipeline mode */
static PGconn *cat;		/* catalog look-ups, autocommit */
static struct map stmts, typeoids, basetypes, tables;
static unsigned stmtno;

struct table {
	char	*qname;		/* "dst"."name" */
	int	 exists;
	int	 nuniq;
	char	**uniq;		/* unique index columns, "\x1f"-joined, sorted */
	int	 warned;
	char	*keysig;	/* the key last checked */
	int	 keymode;	/* the key matches a unique index */
	int	 copyable;	/* a table without rules: COPY applies */
	struct map cols;	/* column name -> type OID */
};

static void
free_table(void *p)
{
	struct table *t = p;
	int i;

	for (i = 0; i < t->nuniq; i++)
		free(t->uniq[i]);
	free(t->uniq);
	free(t->qname);
	free(t->keysig);
	map_clear(&t->cols, NULL);
	free(t);
}

static void
free_stmt(void *p)
{
	free(p);
}

/* ---- the pipeline ---- */

enum qkind { Q_STMT, Q_STAGE, Q_DIRECT, Q_SYNC, Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_OTHER };
struct qent {
	enum qkind kind;
	long	 idx;		/* retained line index, -1 none */
	int	 nrows;
};
static struct qent *fifo;
static size_t fhead, ftail, fcap;
static int nsince_sync, nsyncs;

static void
fifo_push(enum qkind kind, long idx, int nrows)
{
	if (ftail == fcap) {
		if (fhead > 0) {
			memmove(fifo, fifo + fhead,
			    (ftail - fhead) * sizeof(*fifo));
			ftail -= fhead;
			fhead = 0;
		}
		if (ftail == fcap) {
			fcap = fcap != 0 ? fcap * 2 : 1024;
			fifo = pgflo_xrealloc(fifo, fcap * sizeof(*fifo));
		}
	}
	fifo[ftail].kind = kind;
	fifo[ftail].idx = idx;
	fifo[ftail].nrows = nrows;
	ftail++;
}

static const char *primary(const PGresult *res);

/* Control characters (a newline in a value, say) as spaces: one line. */
static void
oneline(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

/* The first failure seen while draining. */
static struct {
	int	 set;
	int	 lost;		/* the connection went away */
	enum qkind kind;
	long	 idx;
	int	 nrows;
	char	 msg[1024];
} failure;

static void
set_failure(const struct qent *q, PGresult *res)
{
	const char *prim, *det;

	if (failure.set)
		return;
	failure.set = 1;
	failure.kind = q != NULL ? q->kind : Q_OTHER;
	failure.idx = q != NULL ? q->idx : -1;
	failure.nrows = q != NULL ? q->nrows : 0;
	if (PQstatus(conn) == CONNECTION_BAD) {
		failure.lost = 1;
		snprintf(failure.msg, sizeof(failure.msg), "%s",
		    pgflo_pg_errmsg(conn));
		return;
	}
	prim = res != NULL ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : NULL;
	det = res != NULL ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_DETAIL) : NULL;
	if (prim == NULL)
		snprintf(failure.msg, sizeof(failure.msg), "%s",
		    res != NULL ? pgflo_pg_resmsg(res) : pgflo_pg_errmsg(conn));
	else
		snprintf(failure.msg, sizeof(failure.msg), "%s%s%s", prim,
		    det != NULL ? " (" : "", det != NULL ? det : "");
	if (det != NULL)
		strncat(failure.msg, ")",
		    sizeof(failure.msg) - strlen(failure.msg) - 1);
	oneline(failure.msg);
}

static void
send_sync(void)
{
	if (PQpipelineSync(conn) != 1) {
		set_failure(NULL, NULL);
		failure.lost = 1;
	}
	fifo_push(Q_SYNC, -1, 0);
	nsyncs++;
	nsince_sync = 0;
}

/* Reads results through the next sync; 0, or -1 (see failure). */
static int
drain_one(void)
{
	PGresult *res;
	ExecStatusType st;
	int nulls = 0;

	while (fhead < ftail) {
		struct qent *q = &fifo[fhead];

		if (PQstatus(conn) == CONNECTION_BAD) {
			set_failure(q, NULL);
			failure.lost = 1;
			fhead = ftail = 0;
			nsyncs = 0;
			return -1;
		}
		res = PQgetResult(conn);
		if (q->kind == Q_SYNC) {
			if (res == NULL) {
				if (++nulls > 3) {
					set_failure(q, NULL);
					failure.lost = 1;
					return -1;
				}
				continue;
			}
			nulls = 0;
			st = PQresultStatus(res);
			if (st != PGRES_PIPELINE_SYNC) {
				if (st == PGRES_FATAL_ERROR)
					set_failure(q, res);
				PQclear(res);
				continue;
			}
			PQclear(res);
			fhead++;
			nsyncs--;
			return failure.set ? -1 : 0;
		}
		if (res == NULL) {
			fhead++;
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR)
			set_failure(q, res);
		PQclear(res);
	}
	return failure.set ? -1 : 0;
}

/* Sends a sync if needed and reads every outstanding result. */
static int
drain_all(void)
{
	int r = 0;

	if (fhead < ftail && fifo[ftail - 1].kind != Q_SYNC)
		send_sync();
	while (nsyncs > 0 && !failure.lost)
		if (drain_one() == -1)
			r = -1;
	if (failure.lost) {
		fhead = ftail = 0;
		nsyncs = 0;
	}
	return failure.set ? -1 : r;
}

static void
after_send(int ok, enum qkind kind, long idx, int nrows)
{
	struct qent q = { kind, idx, nrows };

	if (!ok) {
		/* libpq refused it (too many parameters, say): its record. */
		set_failure(&q, NULL);
		if (PQstatus(conn) == CONNECTION_BAD)
			failure.lost = 1;
		return;
	}
	fifo_push(kind, idx, nrows);
	if (++nsince_sync >= SYNC_EVERY) {
		send_sync();
		while (nsyncs > 1 && !failure.set)
			drain_one();
	}
}

static void prepare_pos(void);

static void
send_simple(const char *sql, enum qkind kind)
{
	after_send(PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL,
	    0), kind, -1, 0);
}

/* ---- value parameters ---- */

static struct pgflo_buf vals;
static size_t *voff;
static int *vnull;
static const char **vptr;
static size_t nvals, cvals;

static void
vals_reset(void)
{
	pgflo_buf_reset(&vals);
	nvals = 0;
}

static const char *value_type(const char *name);

static void
vals_add(struct pgflo_span v, const char *type)
{
	if (nvals == cvals) {
		cvals = cvals != 0 ? cvals * 2 : 256;
		voff = pgflo_xrealloc(voff, cvals * sizeof(*voff));
		vnull = pgflo_xrealloc(vnull, cvals * sizeof(*vnull));
		vptr = pgflo_xrealloc(vptr, cvals * sizeof(*vptr));
	}
	voff[nvals] = vals.len;
	vnull[nvals] = pgflo_pgtext(&vals, v, value_type(type));
	pgflo_buf_putc(&vals, '\0');
	nvals++;
}

static const char *const *
vals_ptrs(size_t from, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		vptr[i] = vnull[from + i] ? NULL : vals.data + voff[from + i];
	return vptr;
}

/* ---- type OIDs and tables, looked up on the catalog connection ---- */

static char errbuf[1024];

/* The primary message of a failed result, without ERROR: and context. */
static const char *
primary(const PGresult *res)
{
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	return m != NULL ? m : pgflo_pg_resmsg(res);
}

static int
type_oid(const char *name, Oid *oid)
{
	const char *params[1] = { name };
	PGresult *res;
	uintptr_t v;

	if ((v = (uintptr_t)map_get(&typeoids, name, strlen(name))) != 0) {
		*oid = (Oid)v;
		return 0;
	}
	res = PQexecParams(cat, "SELECT to_regtype($1)::oid", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, sizeof(errbuf), "type %s: %s", name,
		    primary(res));
		PQclear(res);
		return -1;
	}
	if (PQgetisnull(res, 0, 0)) {
		snprintf(errbuf, sizeof(errbuf),
		    "type %s does not exist in the target", name);
		PQclear(res);
		return -1;
	}
	*oid = (Oid)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	map_put(&typeoids, name, strlen(name), (void *)(uintptr_t)*oid);
	return 0;
}

/*
 * The type a value is written as: capture encodes a domain as its base
 * type (a domain over jsonb is embedded JSON), so the text conversion
 * must see "jsonb" where the record says "jdom" (and "jsonb[]" for
 * "jdom[]").  The cast in the SQL keeps the domain and its checks.
 */
static const char *
value_type(const char *name)
{
	static const char sql[] =
	    "WITH RECURSIVE a AS (SELECT t.oid, t.typelem, t.typcategory"
	    " FROM pg_catalog.pg_type t WHERE t.oid = pg_catalog.to_regtype($1)),"
	    " d(oid, n) AS (SELECT CASE WHEN a.typcategory = 'A' THEN a.typelem"
	    " ELSE a.oid END, 0 FROM a UNION ALL SELECT t.typbasetype, d.n + 1"
	    " FROM d JOIN pg_catalog.pg_type t ON t.oid = d.oid"
	    " WHERE t.typtype = 'd')"
	    " SELECT pg_catalog.format_type(d.oid, NULL) || CASE WHEN"
	    " (SELECT typcategory FROM a) = 'A' THEN '[]' ELSE '' END,"
	    " (SELECT count(*) FROM d) > 1 FROM d ORDER BY n DESC LIMIT 1";
	const char *params[1] = { name };
	PGresult *res;
	char *base;

	if ((base = map_get(&basetypes, name, strlen(name))) != NULL)
		return base;
	res = PQexecParams(cat, sql, 1, NULL, params, NULL, NULL, 0);
	/* Not a domain, or unknown here (the cast will say so): as named. */
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		base = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	else
		base = pgflo_xstrdup(name);
	PQclear(res);
	map_put(&basetypes, name, strlen(name), base);
	return base;
}

static const char *
map_schema(const char *s)
{
	int i;

	for (i = 0; i < nmap; i++)
		if (strcmp(mapsrc[i], s) == 0)
			return mapdst[i];
	return s;
}

/*
 * Whether t is lexically a type name as format_type() prints one: words,
 * closed quoted identifiers, dots, one "(n,...)" of digits and "[]"s,
 * nothing that could end an identifier or start a comment, a literal or
 * another statement.  The digits go to args as "{n,...}" for the type's
 * typmodin function; an interval's fields are turned into its range mask
 * (datetime.h) as the grammar does.
 */
static int
safe_typename(const char *t, char *args, size_t argslen)
{
	static const char *const words[] = { "precision", "varying", "with",
	    "without", "time", "zone", "year", "month", "day", "hour",
	    "minute", "second", "to", NULL };
	/* interval fields: YEAR 2, MONTH 1, DAY 3, HOUR 10, MINUTE 11, SECOND 12 */
	static const char *const fields[] = { "year", "month", "day", "hour",
	    "minute", "second", NULL };
	static const int fieldbit[] = { 2, 1, 3, 10, 11, 12 };
	const char *p = t, *digits = NULL;
	size_t ndigits = 0;
	int nwords = 0, interval = 0, from = -1, to = -1, i;

	if (strlen(t) > 512)
		return 0;
	while (*p != '\0') {
		if (*p == '"') {
			for (p++; *p != '"' || p[1] == '"'; p++) {
				if (*p == '\0')
					return 0;	/* not closed */
				if (*p == '"')
					p++;
			}
			p++;
			nwords++;
		} else if ((*p >= 'a' && *p <= 'z') || *p == '_') {
			const char *w = p;
			size_t n;

			while ((*p >= 'a' && *p <= 'z') || *p == '_' ||
			    (*p >= '0' && *p <= '9'))
				p++;
			n = (size_t)(p - w);
			if (nwords > 0 && w[-1] == ' ') {
				for (i = 0; words[i] != NULL; i++)
					if (strlen(words[i]) == n &&
					    memcmp(words[i], w, n) == 0)
						break;
				if (words[i] == NULL)
					return 0;
				for (i = 0; interval && fields[i] != NULL; i++)
					if (strlen(fields[i]) == n &&
					    memcmp(fields[i], w, n) == 0) {
						if (from == -1)
							from = i;
						to = i;
					}
			} else if (nwords == 0 && n == 8 &&
			    memcmp(w, "interval", 8) == 0 && *p != '.') {
				interval = 1;
			}
			nwords++;
		} else if (*p == '(') {
			if (digits != NULL)
				return 0;
			for (digits = ++p; (*p >= '0' && *p <= '9') ||
			    (*p == ',' && p > digits && p[-1] != ','); p++)
				;
			ndigits = (size_t)(p - digits);
			if (ndigits == 0 || ndigits > 64 || p[-1] == ',' ||
			    *p++ != ')')
				return 0;
		} else if (*p == '[') {
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
			if (*p++ != ']')
				return 0;
		} else if (*p == '.' || *p == ' ') {
			p++;
		} else {
			return 0;
		}
	}
	if (nwords == 0)
		return 0;
	*args = '\0';
	if (interval && (from != -1 || digits != NULL)) {
		int mask = 0x7fff;	/* INTERVAL_FULL_RANGE */

		if (from != -1)
			for (mask = 0, i = from; i <= to; i++)
				mask |= 1 << fieldbit[i];
		if (digits != NULL)
			snprintf(args, argslen, "{%d,%.*s}", mask, (int)ndigits,
			    digits);
		else
			snprintf(args, argslen, "{%d}", mask);
	} else if (digits != NULL) {
		snprintf(args, argslen, "{%.*s}", (int)ndigits, digits);
	}
	return 1;
}

/*
 * The target's own text for type name t (format_type() of the type that
 * to_regtype() finds, with the typmod its typmodin function makes of the
 * modifiers): what goes into CREATE TABLE, never the record's text.
 * -1 with errbuf.
 */
static int
canonical_type(const char *t, const char *qname, struct pgflo_buf *out)
{
	char args[96], fn[256], fnargs[96];
	const char *params[2] = { t, args };
	struct pgflo_buf sql = { 0 };
	PGresult *res;

	if (!safe_typename(t, args, sizeof(args))) {
		snprintf(errbuf, sizeof(errbuf),
		    "cannot create %s: unsafe type name %s", qname, t);
		return -1;
	}
	res = PQexecParams(cat, "SELECT pg_catalog.format_type(t.oid, -1), "
	    "t.typmodin::pg_catalog.regproc::pg_catalog.text "
	    "FROM pg_catalog.pg_type t WHERE t.oid = pg_catalog.to_regtype($1)",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		snprintf(errbuf, sizeof(errbuf), "cannot create %s: type %s%s%s",
		    qname, t, PQresultStatus(res) == PGRES_TUPLES_OK ?
		    " does not exist in the target" : ": ",
		    PQresultStatus(res) == PGRES_TUPLES_OK ? "" : primary(res));
		PQclear(res);
		return -1;
	}
	if (args[0] == '\0') {
		pgflo_buf_puts(out, PQgetvalue(res, 0, 0));
		PQclear(res);
		return 0;
	}
	/* The server's name of the function, quoted as needed. */
	snprintf(fn, sizeof(fn), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	if (strcmp(fn, "-") == 0 || !safe_typename(fn, fnargs,
	    sizeof(fnargs)) || fnargs[0] != '\0') {
		snprintf(errbuf, sizeof(errbuf), "cannot create %s: type %s "
		    "takes no type modifier", qname, t);
		return -1;
	}
	pgflo_buf_printf(&sql, "SELECT pg_catalog.format_type("
	    "pg_catalog.to_regtype($1), %s($2::pg_catalog.cstring[]))", fn);
	params[0] = t;
	res = PQexecParams(cat, pgflo_buf_cstr(&sql), 2, NULL, params, NULL,
	    NULL, 0);
	pgflo_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQgetisnull(res, 0, 0)) {
		snprintf(errbuf, sizeof(errbuf), "cannot create %s: type %s: %s",
		    qname, t, primary(res));
		PQclear(res);
		return -1;
	}
	pgflo_buf_puts(out, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
create_table(struct table *t, const struct rec *r, const char *dschema)
{
	struct pgflo_buf sql = { 0 };
	PGresult *res;
	int i, j, allkey;

	pgflo_buf_puts(&sql, "CREATE SCHEMA IF NOT EXISTS ");
	pgflo_pg_quote_ident(&sql, dschema);
	pgflo_buf_puts(&sql, "; CREATE TABLE IF NOT EXISTS ");
	pgflo_buf_puts(&sql, t->qname);
	pgflo_buf_puts(&sql, " (");
	for (i = 0; i < r->ntypes; i++) {
		if (i > 0)
			pgflo_buf_puts(&sql, ", ");
		pgflo_pg_quote_ident(&sql, r->types[i].name);
		pgflo_buf_putc(&sql, ' ');
		if (canonical_type(r->types[i].type, t->qname, &sql) == -1) {
			pgflo_buf_free(&sql);
			return -1;
		}
	}
	/* REPLICA IDENTITY FULL lists every column: no primary key then. */
	allkey = r->nkey == r->ntypes;
	if (r->nkey > 0 && !allkey) {
		pgflo_buf_puts(&sql, ", PRIMARY KEY (");
		for (j = 0; j < r->nkey; j++) {
			if (j > 0)
				pgflo_buf_putc(&sql, ',');
			pgflo_pg_quote_ident(&sql, r->keyv[j]);
		}
		pgflo_buf_putc(&sql, ')');
	}
	pgflo_buf_putc(&sql, ')');
	res = PQexec(cat, pgflo_buf_cstr(&sql));
	pgflo_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errbuf, sizeof(errbuf), "cannot create %s: %s",
		    t->qname, primary(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (vflag)
		pgflo_warnx("created table %s", t->qname);
	return 0;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The key's columns sorted and joined with \x1f. */
static char *
keysig(char **keyv, int n)
{
	struct pgflo_buf b = { 0 };
	char **s = pgflo_xmalloc((size_t)(n + 1) * sizeof(*s));
	int i;

	if (n > 0) {
		memcpy(s, keyv, (size_t)n * sizeof(*s));
		qsort(s, (size_t)n, sizeof(*s), cmpstr);
	}
	for (i = 0; i < n; i++) {
		if (i > 0)
			pgflo_buf_putc(&b, '\x1f');
		pgflo_buf_puts(&b, s[i]);
	}
	free(s);
	pgflo_buf_cstr(&b);
	return b.data != NULL ? b.data : pgflo_xstrdup("");
}

static int
load_table(struct table *t)
{
	const char *params[1] = { t->qname };
	PGresult *res;
	int i;

	res = PQexecParams(cat,
	    "SELECT (SELECT string_agg(x, E'\\x1e') FROM (SELECT"
	    " (SELECT string_agg(a.attname, E'\\x1f' ORDER BY a.attname"
	    " COLLATE \"C\") FROM pg_attribute a WHERE a.attrelid = i.indrelid"
	    " AND a.attnum = ANY (i.indkey)) AS x FROM pg_index i"
	    " WHERE i.indrelid = r.oid AND i.indisunique AND i.indisvalid"
	    " AND i.indpred IS NULL AND i.indexprs IS NULL) u)"
	    " FROM (SELECT to_regclass($1) AS oid) r WHERE r.oid IS NOT NULL",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", t->qname,
		    primary(res));
		PQclear(res);
		return -1;
	}
	for (i = 0; i < t->nuniq; i++)
		free(t->uniq[i]);
	t->nuniq = 0;
	t->exists = PQntuples(res) > 0;
	if (t->exists && !PQgetisnull(res, 0, 0)) {
		char *s = PQgetvalue(res, 0, 0), *p;

		for (;;) {
			p = strchr(s, '\x1e');
			t->uniq = pgflo_xrealloc(t->uniq,
			    (size_t)(t->nuniq + 1) * sizeof(*t->uniq));
			t->uniq[t->nuniq] = p != NULL ?
			    strndup(s, (size_t)(p - s)) : pgflo_xstrdup(s);
			t->nuniq++;
			if (p == NULL)
				break;
			s = p + 1;
		}
	}
	PQclear(res);
	free(t->keysig);
	t->keysig = NULL;
	map_clear(&t->cols, NULL);
	t->copyable = 0;
	if (!t->exists)
		return 0;
	/* Column types, for COPY straight into the table. */
	res = PQexecParams(cat, "SELECT a.attname, a.atttypid, c.relkind IN "
	    "('r', 'p') AND NOT c.relhasrules FROM pg_class c JOIN "
	    "pg_attribute a ON a.attrelid = c.oid WHERE c.oid = "
	    "to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", t->qname,
		    primary(res));
		PQclear(res);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++) {
		map_put(&t->cols, PQgetvalue(res, i, 0),
		    strlen(PQgetvalue(res, i, 0)),
		    (void *)(uintptr_t)strtoul(PQgetvalue(res, i, 1), NULL, 10));
		t->copyable = strcmp(PQgetvalue(res, i, 2), "t") == 0;
	}
	PQclear(res);
	return 0;
}

static struct table *
get_table(const struct rec *r)
{
	struct pgflo_buf k = { 0 };
	struct table *t;
	const char *ds = map_schema(r->schema);
	char *sig;
	int i;

	pgflo_pg_quote_ident(&k, ds);
	pgflo_buf_putc(&k, '.');
	pgflo_pg_quote_ident(&k, r->table);
	t = map_get(&tables, k.data, k.len);
	if (t == NULL) {
		t = calloc(1, sizeof(*t));
		if (t == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
		t->qname = pgflo_xstrdup(pgflo_buf_cstr(&k));
		if (load_table(t) == -1) {
			free_table(t);
			pgflo_buf_free(&k);
			return NULL;
		}
		if (!t->exists && cflag && r->op != PGFLO_OP_TRUNCATE) {
			if (create_table(t, r, ds) == -1 ||
			    load_table(t) == -1) {
				free_table(t);
				pgflo_buf_free(&k);
				return NULL;
			}
		}
		map_put(&tables, k.data, k.len, t);
	}
	pgflo_buf_free(&k);
	if (r->op == PGFLO_OP_TRUNCATE)
		return t;
	sig = keysig(r->keyv, r->nkey);
	if (t->keysig == NULL || strcmp(t->keysig, sig) != 0) {
		free(t->keysig);
		t->keysig = sig;
		t->keymode = 0;
		for (i = 0; i < t->nuniq && r->nkey > 0; i++)
			if (strcmp(t->uniq[i], sig) == 0)
				t->keymode = 1;
	} else {
		free(sig);
	}
	return t;
}

/* ---- statements ---- */

struct stmt {
	char	 name[16];
	int	 nparams;
};

static struct pgflo_buf sqlb, keyb;
static Oid *oids;
static size_t coids;

static void
oids_need(size_t n)
{
	if (n > coids) {
		coids = n * 2;
		oids = pgflo_xrealloc(oids, coids * sizeof(*oids));
	}
}

/* The prepared statement for sqlb with oids[0..n), prepared if new. */
static struct stmt *
prepare(int n, long idx)
{
	struct stmt *s;

	pgflo_buf_reset(&keyb);
	pgflo_buf_putn(&keyb, sqlb.data, sqlb.len);
	if (n > 0)
		pgflo_buf_putn(&keyb, oids, (size_t)n * sizeof(*oids));
	if ((s = map_get(&stmts, keyb.data, keyb.len)) != NULL)
		return s;
	/*
	 * Never into an aborted pipeline: there DEALLOCATE ALL and the new
	 * pgflo_pos would be skipped while the cache forgets.  A failure
	 * found here is handled by the caller; rollback() clears the cache.
	 */
	if (stmts.n >= MAX_STMTS && !failure.set && drain_all() == 0) {
		send_simple("DEALLOCATE ALL", Q_OTHER);
		map_clear(&stmts, free_stmt);
		prepare_pos();
	}
	s = pgflo_xmalloc(sizeof(*s));
	snprintf(s->name, sizeof(s->name), "p%u", ++stmtno);
	s->nparams = n;
	after_send(PQsendPrepare(conn, s->name, pgflo_buf_cstr(&sqlb), n,
	    oids), Q_STMT, idx, 1);
	map_put(&stmts, keyb.data, keyb.len, s);
	return s;
}

static void
exec_stmt(struct stmt *s, size_t from, long idx, int nrows)
{
	after_send(PQsendQueryPrepared(conn, s->name, s->nparams,
	    vals_ptrs(from, (size_t)s->nparams), NULL, NULL, 0), Q_STMT, idx,
	    nrows);
}

/* A column expression comparable with IS NOT DISTINCT FROM. */
static void
cmp_expr(struct pgflo_buf *b, const char *col, const char *type, int param)
{
	static const char *const astext[] = { "xml", "point", "line", "lseg",
	    "box", "path", "polygon", "circle", "json[]", NULL };
	const char *cast = NULL;
	int i;

	if (strcmp(type, "json") == 0)
		cast = "jsonb";
	for (i = 0; astext[i] != NULL && cast == NULL; i++)
		if (strncmp(type, astext[i], strlen(astext[i])) == 0)
			cast = "text";
	if (param > 0)
		pgflo_buf_printf(b, "$%d", param);
	else
		pgflo_pg_quote_ident(b, col);
	if (cast != NULL)
		pgflo_buf_printf(b, "::%s", cast);
}

static const char *
col_type(const struct rec *r, int hint, const char *name)
{
	int i;

	if (hint < r->ntypes && strcmp(r->types[hint].name, name) == 0)
		return r->types[hint].type;
	for (i = 0; i < r->ntypes; i++)
		if (strcmp(r->types[i].name, name) == 0)
			return r->types[i].type;
	return NULL;
}

static const struct col *
find_col(const struct col *cv, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(cv[i].name, name) == 0)
			return &cv[i];
	return NULL;
}

/* ---- multi-row insert runs ---- */

static struct {
	int	 active;
	struct pgflo_buf sql1;	/* signature: INSERT prefix, columns, types */
	struct pgflo_buf head;	/* INSERT INTO t (cols) VALUES */
	struct pgflo_buf tail;	/* ON CONFLICT ... */
	int	 ncols;
	Oid	*oids;
	int	 rows, maxrows;
	long	 first_idx;
	long	 ridx[RUN_MAX];	/* retained line of each row */
	struct map keys;	/* key texts of the rows in the run */
} run;

static void
send_insert_rows(int rows, size_t from, long idx)
{
	struct stmt *s;
	int i, j, p = 1;

	pgflo_buf_reset(&sqlb);
	pgflo_buf_putn(&sqlb, run.head.data, run.head.len);
	for (i = 0; i < rows; i++) {
		pgflo_buf_puts(&sqlb, i > 0 ? ",(" : "(");
		for (j = 0; j < run.ncols; j++)
			pgflo_buf_printf(&sqlb, j > 0 ? ",$%d" : "$%d", p++);
		pgflo_buf_putc(&sqlb, ')');
	}
	if (run.tail.len > 0)
		pgflo_buf_putn(&sqlb, run.tail.data, run.tail.len);
	oids_need((size_t)(rows * run.ncols));
	for (i = 0; i < rows; i++)
		memcpy(oids + i * run.ncols, run.oids,
		    (size_t)run.ncols * sizeof(*oids));
	s = prepare(rows * run.ncols, idx);
	exec_stmt(s, from, idx, rows);
}

static void copy_end(void);

/* Sends the pending rows as statements of 2^k rows each. */
static void
flush_run(void)
{
	size_t from = 0;
	int left, k;

	copy_end();
	if (!run.active)
		return;
	left = run.rows;
	while (left > 0 && !failure.set) {
		for (k = 1; k * 2 <= left && k * 2 <= run.maxrows; k *= 2)
			;
		send_insert_rows(k, from, run.ridx[run.rows - left]);
		from += (size_t)(k * run.ncols);
		left -= k;
	}
	run.active = 0;
	run.rows = 0;
	map_clear(&run.keys, NULL);
	vals_reset();
}

/* ON CONFLICT (key) DO UPDATE SET the other columns (or DO NOTHING). */
static void
conflict_tail(struct pgflo_buf *b, const struct table *t, const struct rec *r)
{
	int i, j, nonkey = 0;

	if (!t->keymode)
		return;
	pgflo_buf_puts(b, " ON CONFLICT (");
	for (j = 0; j < r->nkey; j++) {
		if (j > 0)
			pgflo_buf_putc(b, ',');
		pgflo_pg_quote_ident(b, r->keyv[j]);
	}
	pgflo_buf_puts(b, ") DO ");
	for (i = 0; i < r->nnew; i++) {
		for (j = 0; j < r->nkey; j++)
			if (strcmp(r->keyv[j], r->newv[i].name) == 0)
				break;
		if (j < r->nkey)
			continue;
		pgflo_buf_puts(b, nonkey++ == 0 ? "UPDATE SET " : ",");
		pgflo_pg_quote_ident(b, r->newv[i].name);
		pgflo_buf_puts(b, "=EXCLUDED.");
		pgflo_pg_quote_ident(b, r->newv[i].name);
	}
	if (nonkey == 0)
		pgflo_buf_puts(b, "NOTHING");
}

/*
 * True when the record's key was already added to keys (one INSERT ...
 * ON CONFLICT cannot touch a row twice); otherwise adds it.
 */
static int
key_seen(struct map *keys, const struct rec *r)
{
	static struct pgflo_buf kb;
	const struct col *c;
	int j;

	pgflo_buf_reset(&kb);
	for (j = 0; j < r->nkey; j++) {
		c = find_col(r->newv, r->nnew, r->keyv[j]);
		if (c != NULL)
			pgflo_buf_putn(&kb, c->v.p, c->v.n);
		pgflo_buf_putc(&kb, '\x1f');
	}
	if (map_get(keys, kb.data, kb.len) != NULL)
		return 1;
	map_put(keys, kb.data, kb.len, (void *)1);
	return 0;
}

/*
 * ---- COPY runs ----
 * Snapshot rows of one table and column set are streamed with COPY.
 * Where the record's types are the table's, straight into the table
 * (a fresh target: no conflicts); if that fails (a key already there),
 * the batch is replayed and the table's rows go through a temporary
 * staging table with the record's types (typmod -1, as the parameters
 * of the statement path) and one INSERT ... SELECT ... ON CONFLICT.
 * COPY needs the pipeline left; an error in the staging path replays
 * the batch row by row (slowmode) to name the record.
 */

struct stage {
	char	 name[32];
	unsigned long gen;	/* batch in which it last held rows */
};

static struct map stages;	/* type OID list -> struct stage */
static int stage_ok = -1;	/* TEMP privilege: -1 not yet known */
static unsigned long batch_gen;
static unsigned stageno;
static struct map nodirect;	/* tables a direct COPY failed on */
static struct {
	int	 active;	/* in COPY IN */
	int	 direct;	/* into the table itself */
	struct pgflo_buf qname;
	struct pgflo_buf sig;
	struct pgflo_buf ins;	/* INSERT INTO t (...) SELECT ... */
	struct pgflo_buf data;	/* COPY text not yet sent */
	struct pgflo_buf val;
	long	 first_idx;
	int	 rows;
	struct map keys;
} cp;

#define COPY_CHUNK	(64 * 1024)

static void
free_stage(void *p)
{
	free(p);
}

/* Whether this session may create temporary tables. */
static int
stage_usable(void)
{
	PGresult *res;

	if (stage_ok != -1)
		return stage_ok;
	res = PQexec(cat, "SELECT has_database_privilege(current_database(), "
	    "'TEMP')");
	stage_ok = PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!stage_ok && vflag)
		pgflo_warnx("no TEMP privilege: snapshot rows without COPY");
	return stage_ok;
}

/* Appends s in COPY text form: backslash escapes; ends at a NUL byte. */
static void
copy_escape(struct pgflo_buf *b, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *q;

	for (q = p; q < end; q++) {
		char e;

		switch (*q) {
		case '\\':
			e = '\\';
			break;
		case '\t':
			e = 't';
			break;
		case '\n':
			e = 'n';
			break;
		case '\r':
			e = 'r';
			break;
		case '\0':
			end = q;
			continue;
		default:
			continue;
		}
		pgflo_buf_putn(b, p, (size_t)(q - p));
		pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, e);
		p = q + 1;
	}
	pgflo_buf_putn(b, p, (size_t)(end - p));
}

/* Sets failure for the COPY run from res (or the connection). */
static void
copy_failed(PGresult *res, enum qkind kind)
{
	struct qent q = { kind, cp.first_idx, cp.rows > 1 ? cp.rows : 2 };

	if (cp.direct) {
		q.kind = Q_DIRECT;
		if (map_get(&nodirect, cp.qname.data, cp.qname.len) == NULL)
			map_put(&nodirect, cp.qname.data, cp.qname.len,
			    (void *)1);
	}
	set_failure(&q, res);
	if (PQstatus(conn) == CONNECTION_BAD)
		failure.lost = 1;
}

static int
copy_send(void)
{
	if (cp.data.len > 0 && PQputCopyData(conn, cp.data.data,
	    (int)cp.data.len) != 1) {
		copy_failed(NULL, Q_STMT);
		return -1;
	}
	pgflo_buf_reset(&cp.data);
	return 0;
}

/* Ends the COPY and queues the INSERT ... SELECT. */
static void
copy_end(void)
{
	PGresult *res;
	int ok;

	if (!cp.active)
		return;
	cp.active = 0;
	ok = copy_send() == 0;
	if (PQputCopyEnd(conn, ok ? NULL : "aborted") != 1 && ok) {
		copy_failed(NULL, Q_STMT);
		ok = 0;
	}
	while ((res = PQgetResult(conn)) != NULL) {
		if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
			copy_failed(res, Q_STMT);
			ok = 0;
		}
		PQclear(res);
	}
	map_clear(&cp.keys, NULL);
	if (PQenterPipelineMode(conn) != 1 && ok) {
		copy_failed(NULL, Q_STMT);
		ok = 0;
	}
	if (ok && !cp.direct)
		after_send(PQsendQueryParams(conn, pgflo_buf_cstr(&cp.ins), 0,
		    NULL, NULL, NULL, NULL, 0), Q_STMT, cp.first_idx,
		    cp.rows > 1 ? cp.rows : 2);
}

/* Abandons an open COPY (the batch is being rolled back). */
static void
copy_abort(void)
{
	PGresult *res;

	if (!cp.active)
		return;
	cp.active = 0;
	pgflo_buf_reset(&cp.data);
	map_clear(&cp.keys, NULL);
	if (PQstatus(conn) == CONNECTION_BAD)
		return;
	PQputCopyEnd(conn, "rolled back");
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	PQenterPipelineMode(conn);
}

/* The staging table for the run's types, created in this batch if new. */
static struct stage *
get_stage(const Oid *tv, int n, long idx)
{
	struct pgflo_buf sql = { 0 }, arr = { 0 };
	const char *params[1];
	struct stage *st;
	PGresult *res;
	int i;

	if ((st = map_get(&stages, (const char *)tv,
	    (size_t)n * sizeof(*tv))) != NULL)
		return st;
	pgflo_buf_putc(&arr, '{');
	for (i = 0; i < n; i++)
		pgflo_buf_printf(&arr, "%s%u", i > 0 ? "," : "", tv[i]);
	pgflo_buf_putc(&arr, '}');
	params[0] = pgflo_buf_cstr(&arr);
	/* format_type(oid, -1) keeps "bit" from meaning bit(1). */
	res = PQexecParams(cat, "SELECT format_type(o, -1) FROM "
	    "unnest($1::oid[]) WITH ORDINALITY u(o, i) ORDER BY i", 1, NULL,
	    params, NULL, NULL, 0);
	pgflo_buf_free(&arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != n) {
		snprintf(errbuf, sizeof(errbuf), "staging table: %s",
		    primary(res));
		PQclear(res);
		return NULL;
	}
	st = pgflo_xmalloc(sizeof(*st));
	snprintf(st->name, sizeof(st->name), "pgflo_stage_%u", ++stageno);
	st->gen = 0;
	pgflo_buf_printf(&sql, "CREATE TEMP TABLE %s (", st->name);
	for (i = 0; i < n; i++)
		pgflo_buf_printf(&sql, "%sc%d %s", i > 0 ? ", " : "", i + 1,
		    PQgetvalue(res, i, 0));
	pgflo_buf_puts(&sql, ") ON COMMIT DELETE ROWS");
	PQclear(res);
	after_send(PQsendQueryParams(conn, pgflo_buf_cstr(&sql), 0, NULL,
	    NULL, NULL, NULL, 0), Q_STAGE, idx, 2);
	pgflo_buf_free(&sql);
	map_put(&stages, (const char *)tv, (size_t)n * sizeof(*tv), st);
	return st;
}

/* Appends "(c1,c2,...)": the quoted names of the record's new columns. */
static void
new_columns(struct pgflo_buf *b, const struct rec *r)
{
	int i;

	pgflo_buf_putc(b, '(');
	for (i = 0; i < r->nnew; i++) {
		if (i > 0)
			pgflo_buf_putc(b, ',');
		pgflo_pg_quote_ident(b, r->newv[i].name);
	}
	pgflo_buf_putc(b, ')');
}

/* Starts a COPY run for r (types set in r->newv); -1 errbuf, 0 ok. */
static int
copy_begin(struct table *t, const struct rec *r, long idx,
    const struct pgflo_buf *sig)
{
	struct pgflo_buf sql = { 0 };
	struct stage *st = NULL;
	PGresult *res;
	Oid *tv;
	int i, direct;

	tv = pgflo_xmalloc((size_t)(r->nnew + 1) * sizeof(*tv));
	for (i = 0; i < r->nnew; i++)
		if (type_oid(r->newv[i].type, &tv[i]) == -1) {
			free(tv);
			return -1;
		}
	direct = t->copyable && map_get(&nodirect, t->qname,
	    strlen(t->qname)) == NULL;
	for (i = 0; i < r->nnew && direct; i++)
		direct = (Oid)(uintptr_t)map_get(&t->cols, r->newv[i].name,
		    strlen(r->newv[i].name)) == tv[i];
	if (!direct && (st = get_stage(tv, r->nnew, idx)) == NULL) {
		free(tv);
		return -1;
	}
	free(tv);
	pgflo_buf_reset(&cp.qname);
	pgflo_buf_puts(&cp.qname, t->qname);
	cp.direct = direct;
	if (direct) {
		pgflo_buf_printf(&sql, "COPY %s ", t->qname);
		new_columns(&sql, r);
		pgflo_buf_puts(&sql, " FROM STDIN");
		goto start;
	}
	pgflo_buf_reset(&cp.ins);
	pgflo_buf_puts(&cp.ins, "INSERT INTO ");
	pgflo_buf_puts(&cp.ins, t->qname);
	pgflo_buf_putc(&cp.ins, ' ');
	new_columns(&cp.ins, r);
	pgflo_buf_puts(&cp.ins, " SELECT ");
	for (i = 0; i < r->nnew; i++)
		pgflo_buf_printf(&cp.ins, "%sc%d", i > 0 ? "," : "", i + 1);
	pgflo_buf_printf(&cp.ins, " FROM pg_temp.%s", st->name);
	conflict_tail(&cp.ins, t, r);
	if (st->gen == batch_gen) {
		/* Rows of an earlier run of this batch are still there. */
		pgflo_buf_printf(&sql, "TRUNCATE pg_temp.%s", st->name);
		after_send(PQsendQueryParams(conn, pgflo_buf_cstr(&sql), 0,
		    NULL, NULL, NULL, NULL, 0), Q_STAGE, idx, 2);
		pgflo_buf_reset(&sql);
	}
	st->gen = batch_gen;
	pgflo_buf_printf(&sql, "COPY pg_temp.%s FROM STDIN", st->name);
start:
	cp.first_idx = idx;
	cp.rows = 0;
	if (drain_all() == -1) {
		pgflo_buf_free(&sql);
		return 0;	/* the caller sees failure */
	}
	if (PQexitPipelineMode(conn) != 1) {
		pgflo_buf_free(&sql);
		copy_failed(NULL, Q_STMT);
		return 0;
	}
	res = PQexec(conn, pgflo_buf_cstr(&sql));
	pgflo_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		copy_failed(res, Q_STAGE);
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
		PQenterPipelineMode(conn);
		return 0;
	}
	PQclear(res);
	pgflo_buf_reset(&cp.sig);
	pgflo_buf_putn(&cp.sig, sig->data, sig->len);
	pgflo_buf_reset(&cp.data);
	cp.active = 1;
	return 0;
}

/* Adds r to the COPY run (starting one if needed); -1 errbuf. */
static int
copy_row(struct table *t, const struct rec *r, long idx,
    const struct pgflo_buf *sig)
{
	int i;

	if (cp.active && (cp.sig.len != sig->len ||
	    memcmp(cp.sig.data, sig->data, sig->len) != 0 ||
	    (t->keymode && key_seen(&cp.keys, r)))) {
		copy_end();
		if (failure.set)
			return 0;
	}
	if (!cp.active) {
		flush_run();
		if (failure.set)
			return 0;
		if (copy_begin(t, r, idx, sig) == -1)
			return -1;
		if (!cp.active)
			return 0;
		if (t->keymode)
			key_seen(&cp.keys, r);
	}
	for (i = 0; i < r->nnew; i++) {
		if (i > 0)
			pgflo_buf_putc(&cp.data, '\t');
		pgflo_buf_reset(&cp.val);
		if (pgflo_pgtext(&cp.val, r->newv[i].v,
		    value_type(r->newv[i].type)))
			pgflo_buf_putn(&cp.data, "\\N", 2);
		else
			copy_escape(&cp.data, cp.val.data, cp.val.len);
	}
	pgflo_buf_putc(&cp.data, '\n');
	cp.rows++;
	if (cp.data.len >= COPY_CHUNK)
		copy_send();
	return 0;
}

/* ---- applying one record ---- */

static unsigned long nskipped, napplied, nbatches;
static int slowmode;		/* no multi-row statements (locating errors) */
static int txnmode;		/* a commit per transaction (locating one) */

static int
warn_noid(struct table *t, const struct rec *r)
{
	if (!t->warned)
		pgflo_warnx("warning: %s has no replica identity: %ss skipped",
		    t->qname, pgflo_op_name(r->op));
	t->warned = 1;
	return 0;
}

static int
do_insert(struct table *t, const struct rec *r, long idx)
{
	struct pgflo_buf sig = { 0 };
	const char *type;
	int i;

	for (i = 0; i < r->nnew; i++) {
		if ((type = col_type(r, i, r->newv[i].name)) == NULL) {
			snprintf(errbuf, sizeof(errbuf),
			    "no type for column %s", r->newv[i].name);
			return -1;
		}
		r->newv[i].type = type;
	}
	/* The run's signature: table, columns, types, key mode. */
	pgflo_buf_puts(&sig, t->qname);
	pgflo_buf_putc(&sig, t->keymode ? 'K' : 'N');
	for (i = 0; i < r->nnew; i++) {
		pgflo_buf_putc(&sig, '\x1f');
		pgflo_buf_puts(&sig, r->newv[i].name);
		pgflo_buf_putc(&sig, '\x1e');
		pgflo_buf_puts(&sig, r->newv[i].type);
	}
	if (r->snapshot && !slowmode && stage_usable()) {
		i = copy_row(t, r, idx, &sig);
		pgflo_buf_free(&sig);
		return i;
	}
	copy_end();
	if (failure.set)
		goto out;
	if (run.active && (run.sql1.len != sig.len ||
	    memcmp(run.sql1.data, sig.data, sig.len) != 0 ||
	    run.rows >= run.maxrows))
		flush_run();
	if (failure.set)
		goto out;
	if (!run.active) {
		pgflo_buf_reset(&run.sql1);
		pgflo_buf_putn(&run.sql1, sig.data, sig.len);
		run.ncols = r->nnew;
		run.oids = pgflo_xrealloc(run.oids,
		    (size_t)(r->nnew + 1) * sizeof(*run.oids));
		for (i = 0; i < r->nnew; i++)
			if (type_oid(r->newv[i].type, &run.oids[i]) == -1) {
				pgflo_buf_free(&sig);
				return -1;
			}
		pgflo_buf_reset(&run.head);
		pgflo_buf_puts(&run.head, "INSERT INTO ");
		pgflo_buf_puts(&run.head, t->qname);
		pgflo_buf_putc(&run.head, ' ');
		new_columns(&run.head, r);
		pgflo_buf_puts(&run.head, " VALUES ");
		pgflo_buf_reset(&run.tail);
		conflict_tail(&run.tail, t, r);
		run.maxrows = slowmode ? 1 : RUN_MAX;
		if (run.maxrows * run.ncols > 65535)
			run.maxrows = 65535 / (run.ncols > 0 ? run.ncols : 1);
		if (run.maxrows < 1)
			run.maxrows = 1;
		run.first_idx = idx;
		run.active = 1;
		run.rows = 0;
		vals_reset();
	}
	/* A key twice in one INSERT ... ON CONFLICT is an error: split. */
	if (t->keymode && key_seen(&run.keys, r)) {
		flush_run();
		pgflo_buf_free(&sig);
		return failure.set ? 0 : do_insert(t, r, idx);
	}
	for (i = 0; i < r->nnew; i++)
		vals_add(r->newv[i].v, r->newv[i].type);
	run.ridx[run.rows++] = idx;
	if (run.rows >= run.maxrows)
		flush_run();
out:
	pgflo_buf_free(&sig);
	return 0;
}

/* WHERE for update/delete: by key, or one row matching old. */
static int
where_clause(struct table *t, const struct rec *r, int *param, int *n)
{
	const struct col *c;
	const char *type;
	int i, first = 1;

	if (t->keymode) {
		pgflo_buf_puts(&sqlb, " WHERE ");
		for (i = 0; i < r->nkey; i++) {
			c = r->has_old ? find_col(r->oldv, r->nold,
			    r->keyv[i]) : NULL;
			if (c == NULL)
				c = find_col(r->newv, r->nnew, r->keyv[i]);
			if (c == NULL) {
				snprintf(errbuf, sizeof(errbuf),
				    "no value for key column %s", r->keyv[i]);
				return -1;
			}
			if ((type = col_type(r, i, c->name)) == NULL)
				goto notype;
			if (i > 0)
				pgflo_buf_puts(&sqlb, " AND ");
			pgflo_pg_quote_ident(&sqlb, c->name);
			pgflo_buf_printf(&sqlb, "=$%d", (*param)++);
			oids_need((size_t)*n + 1);
			if (type_oid(type, &oids[*n]) == -1)
				return -1;
			(*n)++;
			vals_add(c->v, type);
		}
		return 0;
	}
	pgflo_buf_puts(&sqlb, " WHERE (tableoid, ctid) = (SELECT tableoid, "
	    "ctid FROM ");
	pgflo_buf_puts(&sqlb, t->qname);
	pgflo_buf_puts(&sqlb, " WHERE ");
	for (i = 0; i < (r->has_old ? r->nold : r->nkey); i++) {
		c = r->has_old ? &r->oldv[i] :
		    find_col(r->newv, r->nnew, r->keyv[i]);
		if (c == NULL)
			continue;
		if ((type = col_type(r, i, c->name)) == NULL)
			goto notype;
		if (!first)
			pgflo_buf_puts(&sqlb, " AND ");
		first = 0;
		cmp_expr(&sqlb, c->name, type, 0);
		pgflo_buf_puts(&sqlb, " IS NOT DISTINCT FROM ");
		cmp_expr(&sqlb, c->name, type, (*param)++);
		oids_need((size_t)*n + 1);
		if (type_oid(type, &oids[*n]) == -1)
			return -1;
		(*n)++;
		vals_add(c->v, type);
	}
	if (first)
		pgflo_buf_puts(&sqlb, "true");
	pgflo_buf_puts(&sqlb, " LIMIT 1)");
	return 0;
notype:
	snprintf(errbuf, sizeof(errbuf), "no type for column %s", c->name);
	return -1;
}

/* An update, by key, that gives the row another key. */
static int
key_moves(const struct table *t, const struct rec *r)
{
	const struct col *o, *c;
	int i, moved = 0;

	if (!t->keymode || !r->has_old)
		return 0;
	for (i = 0; i < r->nkey; i++) {
		o = find_col(r->oldv, r->nold, r->keyv[i]);
		c = find_col(r->newv, r->nnew, r->keyv[i]);
		if (o == NULL || c == NULL)
			return 0;	/* where_clause() will say so */
		if (o->v.n != c->v.n || memcmp(o->v.p, c->v.p, c->v.n) != 0)
			moved = 1;
	}
	return moved;
}

/*
 * An update that moves a row to another key.  The new key exists only
 * when the target is ahead of the stream (a table copied again and
 * replayed from the slot's start, pgflo-copy(1)).  A whole new row (no
 * column left out as unchanged) replaces whatever the target holds at
 * either key: the old row is deleted and the new one upserted, so that
 * both keys end as the source had them after the update.  Without the
 * unchanged values that cannot be done: if the old row is there, the
 * newer row goes and the update recreates it; if not, the newer row
 * stays and the update finds nothing.
 */
static int
clear_new_key(struct table *t, const struct rec *r, long idx)
{
	const struct col *c;
	const char *type;
	int i, pass, n = 0;

	if (!key_moves(t, r))
		return 0;
	vals_reset();
	pgflo_buf_reset(&sqlb);
	pgflo_buf_puts(&sqlb, "DELETE FROM ");
	pgflo_buf_puts(&sqlb, t->qname);
	for (pass = 0; pass < 2; pass++) {
		pgflo_buf_puts(&sqlb, pass == 0 ? " WHERE " :
		    " AND EXISTS (SELECT 1 FROM ");
		if (pass == 1) {
			pgflo_buf_puts(&sqlb, t->qname);
			pgflo_buf_puts(&sqlb, " WHERE ");
		}
		for (i = 0; i < r->nkey; i++) {
			c = find_col(pass == 0 ? r->newv : r->oldv,
			    pass == 0 ? r->nnew : r->nold, r->keyv[i]);
			if ((type = col_type(r, i, c->name)) == NULL) {
				snprintf(errbuf, sizeof(errbuf),
				    "no type for column %s", c->name);
				return -1;
			}
			if (i > 0)
				pgflo_buf_puts(&sqlb, " AND ");
			pgflo_pg_quote_ident(&sqlb, c->name);
			pgflo_buf_printf(&sqlb, "=$%d", n + 1);
			oids_need((size_t)n + 1);
			if (type_oid(type, &oids[n]) == -1)
				return -1;
			n++;
			vals_add(c->v, type);
		}
	}
	pgflo_buf_putc(&sqlb, ')');
	exec_stmt(prepare(n, idx), 0, idx, 1);
	vals_reset();
	return 0;
}

static int
do_update_delete(struct table *t, const struct rec *r, long idx)
{
	struct stmt *s;
	const char *type;
	int i, param = 1, n = 0, whole;

	if (!t->keymode && r->nkey == 0 && !r->has_old)
		return warn_noid(t, r);
	flush_run();
	/* A whole row to another key: delete the old, upsert the new. */
	whole = r->op == PGFLO_OP_UPDATE && r->nnew == r->ntypes &&
	    key_moves(t, r);
	if (r->op == PGFLO_OP_UPDATE && !whole &&
	    clear_new_key(t, r, idx) == -1)
		return -1;
	vals_reset();
	pgflo_buf_reset(&sqlb);
	if (r->op == PGFLO_OP_UPDATE && !whole) {
		if (r->nnew == 0)
			return 0;
		pgflo_buf_puts(&sqlb, "UPDATE ");
		pgflo_buf_puts(&sqlb, t->qname);
		pgflo_buf_puts(&sqlb, " SET ");
		for (i = 0; i < r->nnew; i++) {
			if ((type = col_type(r, i, r->newv[i].name)) == NULL) {
				snprintf(errbuf, sizeof(errbuf),
				    "no type for column %s", r->newv[i].name);
				return -1;
			}
			if (i > 0)
				pgflo_buf_putc(&sqlb, ',');
			pgflo_pg_quote_ident(&sqlb, r->newv[i].name);
			pgflo_buf_printf(&sqlb, "=$%d", param++);
			oids_need((size_t)n + 1);
			if (type_oid(type, &oids[n]) == -1)
				return -1;
			n++;
			vals_add(r->newv[i].v, type);
		}
	} else {
		pgflo_buf_puts(&sqlb, "DELETE FROM ");
		pgflo_buf_puts(&sqlb, t->qname);
	}
	if (where_clause(t, r, &param, &n) == -1)
		return -1;
	s = prepare(n, idx);
	exec_stmt(s, 0, idx, 1);
	vals_reset();
	return whole ? do_insert(t, r, idx) : 0;
}

/* Rewrites schema names in a DDL statement: a best effort, see the man page. */
static char *
map_ddl(const char *stmt, const char *srcschema)
{
	struct pgflo_buf b = { 0 };
	const char *dst = map_schema(srcschema);
	size_t sl = strlen(srcschema);
	const char *p = stmt;
	char *r;

	if (dst == srcschema)
		return pgflo_xstrdup(stmt);
	while (*p != '\0') {
		if (strncmp(p, srcschema, sl) == 0 && p[sl] == '.' &&
		    (p == stmt || !(p[-1] == '_' || (p[-1] >= 'a' &&
		    p[-1] <= 'z') || (p[-1] >= '0' && p[-1] <= '9')))) {
			pgflo_pg_quote_ident(&b, dst);
			p += sl;
		} else {
			pgflo_buf_putc(&b, *p++);
		}
	}
	r = pgflo_xstrdup(pgflo_buf_cstr(&b));
	pgflo_buf_free(&b);
	return r;
}

/*
 * Whether the first word of statement s (after white space and comments)
 * is the first word of tag, ignoring case: a cheap refusal, before it
 * runs, of what cannot be the command the record names.
 */
static int
ddl_first_word(const char *s, const char *tag)
{
	int depth;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ||
		    *s == '\f')
			s++;
		if (s[0] == '-' && s[1] == '-') {
			while (*s != '\0' && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			for (depth = 0; *s != '\0'; s++)
				if (s[0] == '/' && s[1] == '*') {
					depth++;
					s++;
				} else if (s[0] == '*' && s[1] == '/') {
					s++;
					if (--depth == 0) {
						s++;
						break;
					}
				}
		} else
			break;
	}
	for (; *tag != '\0' && *tag != ' '; s++, tag++)
		if ((*s | 0x20) != (*tag | 0x20))
			return 0;
	return !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
	    *s == '_' || (*s >= '0' && *s <= '9'));
}

/*
 * Whether the command tag PostgreSQL reported (PQcmdStatus: "ALTER
 * TABLE", "SELECT 5") is the record's tag, as the event trigger names
 * it: CREATE TABLE AS and SELECT INTO report SELECT and a count.
 */
static int
ddl_tag_is(const char *status, const char *tag)
{
	size_t n = strlen(status);

	while (n > 0 && ((status[n - 1] >= '0' && status[n - 1] <= '9') ||
	    status[n - 1] == ' '))
		n--;
	if (strcmp(tag, "CREATE TABLE AS") == 0 ||
	    strcmp(tag, "SELECT INTO") == 0)
		return n == 6 && memcmp(status, "SELECT", 6) == 0;
	return strlen(tag) == n && memcmp(status, tag, n) == 0;
}

static int ddl_seen;

/*
 * A ddl record with -a: its statement runs in the batch transaction
 * through the extended protocol, which refuses more than one command,
 * and only stands when PostgreSQL's command tag for it is the record's;
 * otherwise the batch is rolled back.  -1 with errbuf.
 */
static int
do_ddl(const struct rec *r)
{
	const char *dst, *params[1];
	PGresult *res;
	char *sql, *oldpath = NULL;
	int ok;

	if (!aflag) {
		pgflo_warnx("notice: ddl not applied (use --apply-ddl): %s",
		    r->statement != NULL ? r->statement : "?");
		return 0;
	}
	if (r->statement == NULL || r->tag == NULL) {
		snprintf(errbuf, sizeof(errbuf), "a ddl record without %s: not "
		    "applied", r->statement == NULL ? "\"statement\"" :
		    "\"tag\"");
		return -1;
	}
	if (!ddl_first_word(r->statement, r->tag)) {
		snprintf(errbuf, sizeof(errbuf), "the statement is no %s: "
		    "not applied: %.200s", r->tag, r->statement);
		return -1;
	}
	flush_run();
	if (drain_all() == -1)
		return 0;	/* the caller sees failure */
	PQexitPipelineMode(conn);
	dst = map_schema(r->schema != NULL ? r->schema : "public");
	if (r->schema != NULL && dst != r->schema) {
		struct pgflo_buf path = { 0 };

		pgflo_pg_quote_ident(&path, dst);
		pgflo_buf_puts(&path, ", public");
		params[0] = pgflo_buf_cstr(&path);
		res = PQexecParams(conn, "SELECT pg_catalog.current_setting("
		    "'search_path'), pg_catalog.set_config('search_path', $1, "
		    "true)", 1, NULL, params, NULL, NULL, 0);
		pgflo_buf_free(&path);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			oldpath = pgflo_xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	sql = map_ddl(r->statement, r->schema != NULL ? r->schema : "public");
	res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	free(sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok) {
		const char *m = PQresultErrorField(res,
		    PG_DIAG_MESSAGE_PRIMARY);

		if (m != NULL && strstr(m, "cannot insert multiple commands") !=
		    NULL)
			snprintf(errbuf, sizeof(errbuf), "the statement holds "
			    "more than one command: not applied (-a applies "
			    "single statements only)");
		else
			snprintf(errbuf, sizeof(errbuf), "%s", primary(res));
	} else if (!ddl_tag_is(PQcmdStatus(res), r->tag)) {
		snprintf(errbuf, sizeof(errbuf), "the statement was %s, "
		    "the record's tag is %s: rolled back", PQcmdStatus(res),
		    r->tag);
		ok = 0;
	}
	PQclear(res);
	if (ok && oldpath != NULL) {
		params[0] = oldpath;
		PQclear(PQexecParams(conn, "SELECT pg_catalog.set_config("
		    "'search_path', $1, true)", 1, NULL, params, NULL, NULL, 0));
	}
	free(oldpath);
	PQenterPipelineMode(conn);
	if (!ok)
		return -1;	/* the batch is rolled back */
	map_clear(&stmts, free_stmt);
	send_simple("DEALLOCATE ALL", Q_OTHER);
	prepare_pos();
	ddl_seen = 1;
	return 0;
}

static int
apply(const struct rec *r, long idx)
{
	struct pgflo_buf sql = { 0 };
	struct table *t;

	switch (r->op) {
	case PGFLO_OP_INSERT:
	case PGFLO_OP_UPDATE:
	case PGFLO_OP_DELETE:
	case PGFLO_OP_TRUNCATE:
		break;
	case PGFLO_OP_DDL:
		return do_ddl(r);
	default:
		return 0;
	}
	if ((t = get_table(r)) == NULL)
		return -1;
	napplied++;
	switch (r->op) {
	case PGFLO_OP_INSERT:
		return do_insert(t, r, idx);
	case PGFLO_OP_UPDATE:
	case PGFLO_OP_DELETE:
		return do_update_delete(t, r, idx);
	default:
		flush_run();
		pgflo_buf_puts(&sql, "TRUNCATE ");
		pgflo_buf_puts(&sql, t->qname);
		if (r->restart)
			pgflo_buf_puts(&sql, " RESTART IDENTITY");
		if (r->cascade)
			pgflo_buf_puts(&sql, " CASCADE");
		after_send(PQsendQueryParams(conn, pgflo_buf_cstr(&sql), 0,
		    NULL, NULL, NULL, NULL, 0), Q_STMT, idx, 1);
		pgflo_buf_free(&sql);
		return 0;
	}
}

/* ---- batches ---- */

static struct pgflo_pos applied;	/* committed in the target */
static struct pgflo_pos bpos;		/* with the open batch */
static int batch_open, bdirty;
static long batch_start, batch_changes;
static unsigned long txn_seq;
static struct {
	int	 open, begun;
	int	 skipping;	/* its first record was at or before bpos */
	pgflo_lsn lsn;
	unsigned long tag;
} cur;
/*
 * A source transaction being set aside: its records still to come go to
 * the dead-letter file too.  Its position (the highest set aside) joins
 * the next batch once it is complete, so that a rerun skips it.
 */
static struct {
	int	 active;
	int	 begun, done;	/* its begin, its commit were set aside */
	pgflo_lsn lsn;
	struct pgflo_pos pos;
} discard;
static int dl_unsynced;	/* dead letters not yet fsync()ed */
static struct {
	int	 pending;
	int	 code;
	char	 msg[1200];
} leave;		/* exit once the replay queue is applied */

/* Server notices (IF NOT EXISTS, TRUNCATE cascades) only with -v. */
static void
notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	if (!vflag)
		return;
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	pgflo_warnx("server: %.*s", (int)n, msg);
}

static int
connect_all(void)
{
	static const char *const setup[] = {
		"SET DateStyle = ISO",
		"SET IntervalStyle = postgres",
		"SET TimeZone = 'UTC'",
		"SET extra_float_digits = 3",
		NULL
	};
	PGresult *res;
	int i;

	if ((conn = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		return -1;
	if ((cat = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		goto fail;
	PQsetClientEncoding(conn, "UTF8");
	PQsetClientEncoding(cat, "UTF8");
	PQsetNoticeProcessor(conn, notice, NULL);
	PQsetNoticeProcessor(cat, notice, NULL);
	for (i = 0; setup[i] != NULL; i++) {
		if ((res = pgflo_pg_exec(conn, setup[i], PGRES_COMMAND_OK,
		    errbuf, sizeof(errbuf))) == NULL)
			goto fail;
		PQclear(res);
	}
	if (notriggers) {
		if ((res = pgflo_pg_exec(conn,
		    "SET session_replication_role = replica",
		    PGRES_COMMAND_OK, errbuf, sizeof(errbuf))) == NULL)
			goto fail;
		PQclear(res);
	}
	return 0;
fail:
	PQfinish(conn);
	PQfinish(cat);
	conn = cat = NULL;
	return -1;
}

/* 1 found, 0 none, -1 error (errbuf). */
static int
read_applied(PGconn *c, struct pgflo_pos *p)
{
	const char *params[1] = { group };
	PGresult *res;
	int r = 0;

	memset(p, 0, sizeof(*p));
	res = PQexecParams(c, "SELECT commit_lsn::text, ordinal, stream_seq "
	    "FROM pgflo.applied WHERE group_name = $1 AND "
	    "to_regclass('pgflo.applied') IS NOT NULL", 1, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL ?
		    PQresultErrorField(res, PG_DIAG_SQLSTATE) : "", "42P01") ==
		    0) {
			PQclear(res);
			return 0;
		}
		snprintf(errbuf, sizeof(errbuf), "reading pgflo.applied: %s",
		    pgflo_pg_resmsg(res));
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 1) {
		if (!PQgetisnull(res, 0, 0))
			pgflo_lsn_parse(PQgetvalue(res, 0, 0), &p->commit_lsn);
		if (!PQgetisnull(res, 0, 1))
			p->ordinal = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		if (!PQgetisnull(res, 0, 2))
			p->stream_seq = strtoull(PQgetvalue(res, 0, 2), NULL,
			    10);
		r = pgflo_pos_is_set(p);
	}
	PQclear(res);
	return r;
}

static int
setup_target(void)
{
	PGresult *res;

	res = PQexec(cat, "CREATE SCHEMA IF NOT EXISTS pgflo; "
	    "CREATE TABLE IF NOT EXISTS pgflo.applied ("
	    "group_name text PRIMARY KEY, commit_lsn pg_lsn, "
	    "ordinal bigint, stream_seq bigint, "
	    "updated_at timestamptz NOT NULL DEFAULT now())");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* Already there but not ours to create: fine if readable. */
		char why[512];

		snprintf(why, sizeof(why), "%s", pgflo_pg_resmsg(res));
		PQclear(res);
		res = PQexec(cat, "SELECT 1 FROM pgflo.applied LIMIT 0");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			/* The creation's error is the cause worth telling. */
			snprintf(errbuf, sizeof(errbuf),
			    "cannot create pgflo.applied: %s (the role needs "
			    "CREATE on the database, or the table made for it: "
			    "see pgflo-sink-pg(1))", why);
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	if (read_applied(cat, &applied) == -1)
		return -1;
	if (PQenterPipelineMode(conn) != 1) {
		snprintf(errbuf, sizeof(errbuf), "cannot enter pipeline mode");
		return -1;
	}
	prepare_pos();
	return drain_all() == -1 ? -1 : 0;
}

static void
prepare_pos(void)
{
	after_send(PQsendPrepare(conn, "pgflo_pos",
	    "INSERT INTO pgflo.applied AS a (group_name, commit_lsn, ordinal,"
	    " stream_seq, updated_at) VALUES ($1, $2::pg_lsn, $3::bigint,"
	    " $4::bigint, now()) ON CONFLICT (group_name) DO UPDATE SET"
	    " commit_lsn = coalesce(EXCLUDED.commit_lsn, a.commit_lsn),"
	    " ordinal = CASE WHEN EXCLUDED.commit_lsn IS NULL THEN a.ordinal"
	    " ELSE EXCLUDED.ordinal END,"
	    " stream_seq = coalesce(EXCLUDED.stream_seq, a.stream_seq),"
	    " updated_at = now()", 4, NULL), Q_OTHER, -1, 0);
}

static void
print_position(const struct pgflo_pos *p)
{
	struct pgflo_buf b = { 0 };

	pgflo_pos_write(&b, p, group);
	if (pgflo_out_line(b.data, b.len) == -1 || pgflo_out_flush(0) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	pgflo_buf_free(&b);
}

static void
open_batch(void)
{
	if (batch_open)
		return;
	send_simple("BEGIN", Q_BEGIN);
	batch_open = 1;
	batch_gen++;
	batch_start = pgflo_now_ms();
	batch_changes = 0;
	bpos = applied;
	bdirty = 0;
}

static void handle_failure(void);

/* Commits the open batch; on failure the failure handling takes over. */
static int
commit_batch(void)
{
	char lsn[PGFLO_LSN_BUFSZ], ord[24], seq[24];
	const char *params[4];

	if (!batch_open)
		return 0;
	flush_run();
	/* Set-aside transactions are durable before the position past them. */
	if (dl_unsynced && (fflush(dlf) == EOF || fsync(fileno(dlf)) == -1))
		pgflo_err(PGFLO_EXIT_FAIL, "could not write dead-letter file %s",
		    dlname);
	dl_unsynced = 0;
	if (bdirty && !failure.set) {
		params[0] = group;
		params[1] = bpos.commit_lsn != 0 ?
		    pgflo_lsn_format(bpos.commit_lsn, lsn) : NULL;
		snprintf(ord, sizeof(ord), "%llu",
		    (unsigned long long)bpos.ordinal);
		params[2] = bpos.commit_lsn != 0 ? ord : NULL;
		snprintf(seq, sizeof(seq), "%llu",
		    (unsigned long long)bpos.stream_seq);
		params[3] = bpos.stream_seq != 0 ? seq : NULL;
		after_send(PQsendQueryPrepared(conn, "pgflo_pos", 4, params,
		    NULL, NULL, 0), Q_OTHER, -1, 0);
	}
	if (!failure.set)
		send_simple("COMMIT", Q_COMMIT);
	if (drain_all() == -1) {
		handle_failure();
		return -1;
	}
	batch_open = 0;
	nbatches++;
	if (vflag)
		pgflo_warnx("committed %ld changes", batch_changes);
	/* The copy's progress is durable with the batch (copyprog.c). */
	for (size_t i = 0; i < echoes.n; i++)
		if (pgflo_out_line(echoes.data.data + echoes.v[i].off,
		    echoes.v[i].len) == -1 || pgflo_out_flush(0) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
	lines_reset(&echoes);
	if (bdirty) {
		applied = bpos;
		print_position(&applied);
	}
	lines_reset(&retained);
	overflow = 0;
	slowmode = 0;
	/* Locating a failed commit: one transaction each, until replayed. */
	if (replay.next >= replay.n)
		txnmode = 0;
	if (ddl_seen) {
		map_clear(&tables, free_table);
		map_clear(&typeoids, NULL);
	map_clear(&basetypes, free);
		ddl_seen = 0;
	}
	return 0;
}

static void
dead_letter_line(const char *s, size_t n)
{
	if (fwrite(s, 1, n, dlf) != n || putc('\n', dlf) == EOF ||
	    fflush(dlf) == EOF)
		pgflo_err(PGFLO_EXIT_FAIL, "could not write dead-letter file %s",
		    dlname);
	dl_unsynced = 1;
}

/* The line being processed, until it is retained. */
static struct {
	const char *s;
	size_t	 len;
	unsigned long lineno;
	int	 pending;
} curline;
static int aborted;	/* the batch was rolled back under process() */

/*
 * The lineno of a fold line, not a record: "F" and a position set aside,
 * which joins the batch there; or "D", a position and whether the begin
 * was seen: the transaction set aside goes on from there (discard).
 */
#define FOLD_LINE	0

static void
fold_line_add(struct lines *l, int kind, const struct pgflo_pos *p,
    int begun, unsigned long txn)
{
	char b[100];
	int n;

	n = snprintf(b, sizeof(b), "%c %llu %llu %llu %d", kind,
	    (unsigned long long)p->commit_lsn, (unsigned long long)p->ordinal,
	    (unsigned long long)p->stream_seq, begun);
	lines_add(l, b, (size_t)n, FOLD_LINE, txn);
}

struct mark {
	int	 kind;		/* 'F' or 'D' */
	struct pgflo_pos pos;
	int	 begun;
};

/*
 * Builds the replay queue: the retained lines outside [lo_txn, hi_txn]
 * (those inside go to the dead-letter file with to_dead, followed by the
 * current line with cur_dead, and the fold line mark in their place),
 * then with keep_rest the current line and what was still queued.
 */
static void
requeue(unsigned long lo_txn, unsigned long hi_txn, int to_dead,
    int keep_rest, int cur_dead, const struct mark *fold)
{
	struct lines nq = { 0 };
	size_t i;
	int dropped = 0;

	for (i = 0; i < retained.n; i++) {
		struct line *l = &retained.v[i];
		const char *s = retained.data.data + l->off;

		if (l->txn >= lo_txn && l->txn <= hi_txn) {
			if (to_dead && l->lineno != FOLD_LINE)
				dead_letter_line(s, l->len);
			dropped = 1;
			continue;
		}
		if (dropped && fold != NULL) {
			fold_line_add(&nq, fold->kind, &fold->pos, fold->begun,
			    0);
			fold = NULL;
		}
		lines_add(&nq, s, l->len, l->lineno, 0);
	}
	if (cur_dead && curline.pending) {
		dead_letter_line(curline.s, curline.len);
		curline.pending = 0;
	}
	if (fold != NULL)
		fold_line_add(&nq, fold->kind, &fold->pos, fold->begun, 0);
	if (keep_rest && curline.pending)
		lines_add(&nq, curline.s, curline.len, curline.lineno, 0);
	curline.pending = 0;
	for (i = replay.next; keep_rest && i < replay.n; i++)
		lines_add(&nq, replay.data.data + replay.v[i].off,
		    replay.v[i].len, replay.v[i].lineno, 0);
	lines_reset(&replay);
	pgflo_buf_free(&replay.data);
	free(replay.v);
	replay = nq;
	lines_reset(&retained);
}

static void
rollback(void)
{
	memset(&failure, 0, sizeof(failure));
	copy_abort();
	/*
	 * A failed COPY runs outside the pipeline: what was queued after it
	 * failed in the aborted transaction, and the pipeline skips all up to
	 * the next sync, a ROLLBACK too.  End that segment first.
	 */
	(void)drain_all();
	memset(&failure, 0, sizeof(failure));
	lines_reset(&echoes);	/* replayed from retained, if at all */
	/* Staging tables created in this batch are gone. */
	map_clear(&stages, free_stage);
	if (batch_open)
		send_simple("ROLLBACK", Q_ROLLBACK);
	/* Prepares after the error were skipped by the aborted pipeline. */
	send_simple("DEALLOCATE ALL", Q_OTHER);
	map_clear(&stmts, free_stmt);
	prepare_pos();
	drain_all();
	batch_open = 0;
	run.active = 0;
	run.rows = 0;
	map_clear(&run.keys, NULL);
	vals_reset();
	cur.open = 0;
	memset(&failure, 0, sizeof(failure));
	aborted = 1;
}

static void reconnect(void);

/* Describes retained line idx: "<stdin>:N: op schema.table (key)=(vals)". */
static void
describe(long idx, char *out, size_t outlen)
{
	struct rec r = { 0 };
	struct pgflo_buf b = { 0 };
	const char *why;
	const struct col *c;
	struct line *l;
	int i;

	if (idx < 0 || (size_t)idx >= retained.n) {
		snprintf(out, outlen, "<stdin>");
		return;
	}
	l = &retained.v[idx];
	pgflo_buf_printf(&b, "<stdin>:%lu", l->lineno);
	if (parse_rec(retained.data.data + l->off, l->len, &r, &why) == 0 &&
	    r.table != NULL) {
		pgflo_buf_printf(&b, ": %s ", pgflo_op_name(r.op));
		pgflo_pg_quote_ident(&b, r.schema);
		pgflo_buf_putc(&b, '.');
		pgflo_pg_quote_ident(&b, r.table);
		if (r.nkey > 0) {
			pgflo_buf_puts(&b, " (");
			for (i = 0; i < r.nkey; i++)
				pgflo_buf_printf(&b, "%s%s", i > 0 ? "," : "",
				    r.keyv[i]);
			pgflo_buf_puts(&b, ")=(");
			for (i = 0; i < r.nkey; i++) {
				c = r.has_old ? find_col(r.oldv, r.nold,
				    r.keyv[i]) : NULL;
				if (c == NULL)
					c = find_col(r.newv, r.nnew, r.keyv[i]);
				pgflo_buf_printf(&b, "%s%.*s", i > 0 ? "," : "",
				    c != NULL ? (int)(c->v.n > 64 ? 64 : c->v.n) :
				    1, c != NULL ? c->v.p : "?");
			}
			pgflo_buf_putc(&b, ')');
		}
	}
	snprintf(out, outlen, "%s", pgflo_buf_cstr(&b));
	pgflo_buf_free(&b);
	free(r.types);
	free(r.newv);
	free(r.oldv);
	free(r.keyv);
}

/* Raises p to q: by commit_lsn and ordinal, and by stream_seq. */
static int
pos_raise(struct pgflo_pos *p, const struct pgflo_pos *q)
{
	int r = 0;

	if (q->commit_lsn != 0 && (q->commit_lsn > p->commit_lsn ||
	    (q->commit_lsn == p->commit_lsn && q->ordinal > p->ordinal))) {
		p->commit_lsn = q->commit_lsn;
		p->ordinal = q->ordinal;
		r = 1;
	}
	if (q->stream_seq > p->stream_seq) {
		p->stream_seq = q->stream_seq;
		r = 1;
	}
	return r;
}

/*
 * The position of a transaction set aside joins the open batch, kept as
 * a fold line among its retained lines, so that a rollback replays it in
 * its place (never before the transactions ahead of it).
 */
static void
fold(const struct pgflo_pos *p)
{
	if (!pgflo_pos_is_set(p))
		return;
	open_batch();
	if (pos_raise(&bpos, p))
		bdirty = 1;
	if (!overflow)
		fold_line_add(&retained, 'F', p, 0, ++txn_seq);
}

/* The transaction being set aside is complete. */
static void
discard_end(void)
{
	if (!discard.active)
		return;
	discard.active = 0;
	fold(&discard.pos);
}

/* Notes a record of the transaction being set aside. */
static void
discard_note(enum pgflo_op op, const struct pgflo_pos *p)
{
	pos_raise(&discard.pos, p);
	if (op == PGFLO_OP_BEGIN)
		discard.begun = 1;
	if (op == PGFLO_OP_COMMIT)
		discard.done = 1;
}

/*
 * Rolls back and writes source transaction tag to the dead-letter file:
 * its retained lines, then the current line with cur_dead (a bad
 * record); the rest of it follows (discard).  The transactions around
 * it are applied again.
 */
static void
set_aside(unsigned long tag, int cur_dead, enum pgflo_op curop,
    const struct pgflo_pos *curpos)
{
	struct pgflo_pos pos = { 0 };
	struct mark m;
	pgflo_lsn lsn = 0;
	int xcur = cur.open && cur.tag == tag, begun = xcur && cur.begun;
	int done = 0;
	size_t i;

	for (i = 0; i < retained.n; i++) {
		struct rec r = { 0 };
		const char *why;

		if (retained.v[i].txn != tag ||
		    retained.v[i].lineno == FOLD_LINE)
			continue;
		if (parse_rec(retained.data.data + retained.v[i].off,
		    retained.v[i].len, &r, &why) == 0) {
			if (r.has_lsn)
				lsn = r.pos.commit_lsn;
			pos_raise(&pos, &r.pos);
			begun |= r.op == PGFLO_OP_BEGIN;
			done |= r.op == PGFLO_OP_COMMIT;
		}
		free(r.types);
		free(r.newv);
		free(r.oldv);
		free(r.keyv);
	}
	if (cur_dead && curpos != NULL) {
		if (curpos->commit_lsn != 0)
			lsn = curpos->commit_lsn;
		pos_raise(&pos, curpos);
		begun |= curop == PGFLO_OP_BEGIN;
		done |= curop == PGFLO_OP_COMMIT;
	}
	rollback();
	/*
	 * Complete when it was committed or another one began: its position
	 * joins the batch in its place.  Else the rest of it is set aside as
	 * it comes, from its place on: never before what is replayed.
	 */
	m.pos = pos;
	m.begun = begun;
	m.kind = done || !xcur ? 'F' : 'D';
	if (m.kind == 'D' && m.pos.commit_lsn == 0)
		m.pos.commit_lsn = lsn != 0 ? lsn : cur.lsn;
	requeue(tag, tag, 1, 1, cur_dead, m.kind == 'D' ||
	    pgflo_pos_is_set(&pos) ? &m : NULL);
}

/*
 * Something in the open batch failed (failure is set).  Roll back, then
 * apply again every complete source transaction before the failing one,
 * and either stop there (exit 1) or write the failing one to the
 * dead-letter file and go on.
 */
static void
fail_txn(long idx, const char *msg)
{
	char where[600];
	unsigned long tag;

	describe(idx, where, sizeof(where));
	oneline(where);
	if (overflow) {
		rollback();
		pgflo_errx(PGFLO_EXIT_FAIL, "%s: %s (the transaction was too "
		    "large to keep; nothing of this batch was committed)",
		    where, msg);
	}
	tag = idx >= 0 && (size_t)idx < retained.n ? retained.v[idx].txn :
	    cur.tag;
	if (dlf != NULL) {
		pgflo_warnx("%s: %s (transaction written to %s)", where, msg,
		    dlname);
		set_aside(tag, 0, PGFLO_OP_UNKNOWN, NULL);
		return;
	}
	rollback();
	/* Keep only the transactions before the failing one. */
	requeue(tag, (unsigned long)-1, 0, 0, 0, NULL);
	leave.pending = 1;
	leave.code = PGFLO_EXIT_FAIL;
	snprintf(leave.msg, sizeof(leave.msg), "%s: %s", where, msg);
}

static void
handle_failure(void)
{
	long idx = failure.idx;
	char msg[1024];

	if (failure.lost) {
		reconnect();
		return;
	}
	snprintf(msg, sizeof(msg), "%s", failure.msg);
	if (failure.kind == Q_DIRECT) {
		/* Rows already there, say: again through a staging table. */
		if (vflag)
			pgflo_warnx("COPY failed (%s): upserting instead", msg);
		rollback();
		requeue(1, 0, 0, 1, 0, NULL);
		return;
	}
	if (failure.kind == Q_STAGE)
		stage_ok = 0;	/* no staging tables here: statements */
	if ((failure.kind == Q_STMT || failure.kind == Q_STAGE) &&
	    failure.nrows > 1 && !slowmode) {
		/* A multi-row statement: again row by row, to find the row. */
		rollback();
		requeue(1, 0, 0, 1, 0, NULL);
		slowmode = 1;
		return;
	}
	if (failure.kind == Q_COMMIT && !overflow) {
		long first = -1, last = -1;
		size_t i;

		for (i = 0; i < retained.n; i++)
			if (retained.v[i].lineno != FOLD_LINE) {
				if (first == -1)
					first = (long)i;
				last = (long)i;
			}
		if (first != -1 && retained.v[first].txn !=
		    retained.v[last].txn && !txnmode) {
			/*
			 * A deferred constraint, say: again with a commit
			 * after each transaction, to find the one.
			 */
			rollback();
			requeue(1, 0, 0, 1, 0, NULL);
			txnmode = 1;
			return;
		}
		if (last != -1) {
			char cmsg[1100];

			snprintf(cmsg, sizeof(cmsg), "commit failed: %s", msg);
			fail_txn(last, cmsg);
			return;
		}
	}
	if (failure.kind == Q_COMMIT || idx < 0) {
		rollback();
		pgflo_errx(PGFLO_EXIT_FAIL, "%s failed: %s",
		    failure.kind == Q_COMMIT ? "commit" : "apply", msg);
	}
	fail_txn(idx, msg);
}

static void
reconnect(void)
{
	long delay = 500;

	if (overflow)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "connection lost: %s "
		    "(the open transaction is too large to replay; restart)",
		    failure.msg);
	if (noloop)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "connection lost: %s",
		    failure.msg);
	pgflo_warnx("connection lost: %s; reconnecting", failure.msg);
	PQfinish(conn);
	PQfinish(cat);
	conn = cat = NULL;
	map_clear(&stmts, free_stmt);
	map_clear(&tables, free_table);
	map_clear(&typeoids, NULL);
	map_clear(&basetypes, free);
	map_clear(&stages, free_stage);
	lines_reset(&echoes);
	cp.active = 0;
	pgflo_buf_reset(&cp.data);
	map_clear(&cp.keys, NULL);
	for (;;) {
		if (pgflo_stopping())
			exit(PGFLO_EXIT_OK);
		usleep((useconds_t)delay * 1000);
		memset(&failure, 0, sizeof(failure));
		fhead = ftail = 0;
		nsyncs = nsince_sync = 0;
		if (connect_all() == 0 && setup_target() == 0)
			break;
		if (pgflo_pg_connect_status() == PGFLO_EXIT_USAGE)
			pgflo_errx(PGFLO_EXIT_USAGE, "could not connect: %s",
			    errbuf);
		pgflo_out_check_reader();
		if (conn != NULL) {
			PQfinish(conn);
			PQfinish(cat);
			conn = cat = NULL;
		}
		pgflo_warnx("reconnecting: %s", errbuf);
		delay = delay * 2 > BACKOFF_MAX ? BACKOFF_MAX : delay * 2;
	}
	pgflo_warnx("reconnected");
	/* A commit whose reply was lost is applied: report it now. */
	if (pgflo_pos_is_set(&applied))
		print_position(&applied);
	batch_open = 0;
	run.active = 0;
	run.rows = 0;
	map_clear(&run.keys, NULL);
	vals_reset();
	cur.open = 0;
	aborted = 1;
	requeue(1, 0, 0, 1, 0, NULL);
}

static void
maybe_commit(void)
{
	if (batch_open && (batch_changes >= batch_rows ||
	    pgflo_now_ms() - batch_start >= batch_ms || ddl_seen || txnmode))
		commit_batch();
}

static void
close_txn(void)
{
	if (!cur.open)
		return;
	cur.open = 0;
	maybe_commit();
}

/*
 * At or before what is applied, or already reached in the open batch: an
 * upstream that restarts mid-transaction sends it again from its begin
 * while this batch is still open.
 */
static int
skip(const struct rec *r)
{
	const struct pgflo_pos *at = batch_open ? &bpos : &applied;

	if (r->has_lsn)
		return at->commit_lsn != 0 &&
		    (r->pos.commit_lsn < at->commit_lsn ||
		    (r->pos.commit_lsn == at->commit_lsn &&
		    r->pos.ordinal <= at->ordinal));
	if (r->has_seq)
		return at->stream_seq != 0 &&
		    r->pos.stream_seq <= at->stream_seq;
	return 0;
}

static struct rec rec;

/* Whether JSON text v holds the escape \u0000 (a NUL byte, decoded). */
static int
has_nul_escape(struct pgflo_span v)
{
	size_t i;

	if ((*v.p != '"' && *v.p != '[' && *v.p != '{') ||
	    memchr(v.p, '\\', v.n) == NULL)
		return 0;
	for (i = 0; i + 1 < v.n; i++)
		if (v.p[i] == '\\') {
			if (v.p[i + 1] == 'u' && i + 5 < v.n &&
			    memcmp(v.p + i + 2, "0000", 4) == 0)
				return 1;
			i++;
		}
	return 0;
}

/*
 * A value PostgreSQL text cannot hold: a NUL byte, which libpq and COPY
 * would cut the value at.  json values keep their escape and may.
 */
static const char *
check_values(const struct rec *r)
{
	const struct col *cv;
	const char *type, *base;
	int side, i, n;

	for (side = 0; side < 2; side++) {
		cv = side == 0 ? r->newv : r->oldv;
		n = side == 0 ? r->nnew : r->nold;
		for (i = 0; i < n; i++) {
			if (!has_nul_escape(cv[i].v) ||
			    (type = col_type(r, i, cv[i].name)) == NULL)
				continue;
			base = value_type(type);
			if (strcmp(base, "json") == 0 ||
			    strcmp(base, "jsonb") == 0 ||
			    strcmp(base, "json[]") == 0 ||
			    strcmp(base, "jsonb[]") == 0)
				continue;
			snprintf(whybuf, sizeof(whybuf), "column %.64s: a %.40s "
			    "value holds a NUL byte (\\u0000), which PostgreSQL "
			    "cannot store", cv[i].name, type);
			return whybuf;
		}
	}
	return NULL;
}

/*
 * What a parsed record may not be: every change is part of a source
 * transaction and has its position, except the rows of an initial copy
 * ("snapshot":true), which are part of none.
 */
static const char *
check_record(const struct rec *r)
{
	int change = (r->op >= PGFLO_OP_INSERT && r->op <= PGFLO_OP_TRUNCATE) ||
	    r->op == PGFLO_OP_DDL;

	if (change && r->snapshot) {
		if (r->has_lsn)
			return "a snapshot record with a commit_lsn";
		if (cur.open && cur.begun)
			return "a snapshot record inside a transaction";
		return check_values(r);
	}
	if ((change || r->op == PGFLO_OP_BEGIN || r->op == PGFLO_OP_COMMIT) &&
	    !r->has_lsn) {
		snprintf(whybuf, sizeof(whybuf), "%s record without "
		    "commit_lsn", pgflo_op_name(r->op));
		return whybuf;
	}
	return change ? check_values(r) : NULL;
}

/*
 * A line that is not a record, or a record that cannot be applied
 * (rec is valid when parsed).  It fails the source transaction it is in:
 * the transaction is set aside whole (--dead-letter) or not committed,
 * and what came before is committed before the exit.
 */
static void
bad_record(const char *msg, int parsed)
{
	struct pgflo_pos pos = rec.pos;
	enum pgflo_op op = parsed ? rec.op : PGFLO_OP_UNKNOWN;
	int same, other, inside;

	/* A failure still in the pipeline is earlier: it comes first. */
	if (batch_open) {
		flush_run();
		if (drain_all() == -1) {
			handle_failure();
			return;
		}
	}
	if (parsed && (rec.has_lsn || rec.has_seq) && skip(&rec)) {
		nskipped++;	/* applied or set aside before */
		curline.pending = 0;
		return;
	}
	same = parsed && rec.has_lsn && cur.open && rec.pos.commit_lsn ==
	    cur.lsn;
	other = parsed && rec.has_lsn && !same;
	inside = cur.open && (same || (!other && cur.begun));
	if (inside && cur.skipping) {
		nskipped++;
		curline.pending = 0;
		return;
	}
	if (dlf != NULL) {
		if (inside) {
			pgflo_warnx("%s (transaction written to %s)", msg,
			    dlname);
			set_aside(cur.tag, 1, op, parsed ? &pos : NULL);
			return;
		}
		pgflo_warnx("%s (written to %s)", msg, dlname);
		if (other)
			close_txn();
		dead_letter_line(curline.s, curline.len);
		curline.pending = 0;
		if (other && op != PGFLO_OP_COMMIT) {
			/* The rest of its transaction follows it there. */
			discard.active = 1;
			discard.lsn = pos.commit_lsn;
			discard.pos = (struct pgflo_pos){ 0 };
			discard.begun = discard.done = 0;
			discard_note(op, &pos);
		}
		return;
	}
	/* An open transaction that may go on is not committed. */
	if (cur.open && !other) {
		rollback();
		requeue(cur.tag, (unsigned long)-1, 0, 0, 0, NULL);
	}
	curline.pending = 0;
	leave.pending = 1;
	leave.code = PGFLO_EXIT_FAIL;
	snprintf(leave.msg, sizeof(leave.msg), "%s", msg);
}

/* One input line (from stdin or the replay queue). */
static void
process(const char *line, size_t len, unsigned long lineno)
{
	const char *why = NULL;
	unsigned long tag;
	long idx;
	char msg[1200];
	int parsed;

	aborted = 0;
	curline.s = line;
	curline.len = len;
	curline.lineno = lineno;
	curline.pending = 1;
	if (lineno == FOLD_LINE) {
		struct pgflo_pos p = { 0 };
		unsigned long long a, b, c;
		char k;
		int begun;

		/* In the place of a transaction set aside: it ended the last. */
		close_txn();
		if (aborted)
			return;	/* requeued, this line with the rest */
		curline.pending = 0;
		if (sscanf(line, "%c %llu %llu %llu %d", &k, &a, &b, &c,
		    &begun) != 5)
			return;
		p.commit_lsn = a;
		p.ordinal = b;
		p.stream_seq = c;
		if (k == 'F') {
			fold(&p);
			return;
		}
		discard_end();
		discard.active = 1;
		discard.lsn = p.commit_lsn;
		discard.pos = p;
		discard.begun = begun;
		discard.done = 0;
		return;
	}
	parsed = pgflo_js_valid(line, len) &&
	    parse_rec(line, len, &rec, &why) == 0;
	if (!parsed) {
		json_error_t jerr;
		json_t *j;

		if (!pgflo_js_valid(line, len)) {
			j = json_loadb(line, len, 0, &jerr);
			if (j == NULL)
				snprintf(msg, sizeof(msg),
				    "<stdin>:%lu: invalid JSON: %s (column %d)",
				    lineno, jerr.text, jerr.column);
			else
				snprintf(msg, sizeof(msg),
				    "<stdin>:%lu: invalid JSON", lineno);
			json_decref(j);
		} else {
			snprintf(msg, sizeof(msg), "<stdin>:%lu: %s", lineno,
			    why);
		}
	} else if ((why = check_record(&rec)) != NULL) {
		snprintf(msg, sizeof(msg), "<stdin>:%lu: %s", lineno, why);
	}
	if (discard.active && parsed && rec.has_lsn) {
		if (rec.pos.commit_lsn != discard.lsn) {
			discard_end();	/* another transaction */
		} else {
			dead_letter_line(line, len);
			curline.pending = 0;
			discard_note(rec.op, &rec.pos);
			if (rec.op == PGFLO_OP_COMMIT)
				discard_end();
			return;
		}
	} else if (discard.active && (!parsed || why != NULL)) {
		/* A bad line between its begin and its commit is its own. */
		if (discard.begun && !discard.done) {
			dead_letter_line(line, len);
			curline.pending = 0;
			return;
		}
		discard_end();
	}
	if (why != NULL || !parsed) {
		oneline(msg);
		bad_record(msg, parsed);
		return;
	}
	/* Transaction boundaries. */
	if (rec.has_lsn) {
		if (cur.open && cur.lsn != rec.pos.commit_lsn)
			close_txn();
		if (aborted)
			return;
		if (!cur.open) {
			cur.open = 1;
			cur.begun = 0;
			cur.lsn = rec.pos.commit_lsn;
			cur.tag = ++txn_seq;
			cur.skipping = skip(&rec);
		}
		if (rec.op == PGFLO_OP_BEGIN)
			cur.begun = 1;
		tag = cur.tag;
	} else if (cur.open && cur.begun) {
		/* Not part of it (a position, a snapshot marker). */
		tag = ++txn_seq;
	} else {
		close_txn();
		tag = cur.tag = ++txn_seq;
	}
	if (aborted)
		return;	/* requeue() took this line */
	if (failure.set) {
		handle_failure();
		return;
	}
	if (skip(&rec)) {
		nskipped++;
		if (rec.op == PGFLO_OP_COMMIT)
			close_txn();
		return;
	}
	if (rec.op == PGFLO_OP_POSITION || rec.op == PGFLO_OP_UNKNOWN ||
	    (rec.op == PGFLO_OP_MESSAGE && !rec.has_lsn))
		return;
	open_batch();
	if (rec.op == PGFLO_OP_SNAPSHOT) {
		/* Nothing to apply: echoed after the commit that covers it. */
		lines_add(&echoes, line, len, lineno, tag);
		if (!overflow && retained.data.len + len > RETAIN_MAX) {
			overflow = 1;
			lines_reset(&retained);
		} else if (!overflow)
			lines_add(&retained, line, len, lineno, tag);
		curline.pending = 0;
		if (!cur.open)
			maybe_commit();
		return;
	}
	idx = -1;
	if (!overflow) {
		if (retained.data.len + len > RETAIN_MAX) {
			overflow = 1;
			lines_reset(&retained);
		} else {
			idx = (long)retained.n;
			lines_add(&retained, line, len, lineno, tag);
		}
	}
	curline.pending = 0;
	if (apply(&rec, idx) == -1) {
		if (failure.set) {
			handle_failure();
			return;
		}
		snprintf(msg, sizeof(msg), "%s", errbuf);
		oneline(msg);
		flush_run();
		/* A failure of an earlier record comes first. */
		if (drain_all() == -1) {
			handle_failure();
			return;
		}
		fail_txn(idx, msg);
		return;
	}
	if (failure.set) {
		handle_failure();
		return;
	}
	if (rec.op >= PGFLO_OP_INSERT && rec.op <= PGFLO_OP_TRUNCATE)
		batch_changes++;
	if (rec.has_lsn) {
		bpos.commit_lsn = rec.pos.commit_lsn;
		bpos.ordinal = rec.pos.ordinal;
		bdirty = 1;
	}
	if (rec.has_seq) {
		bpos.stream_seq = rec.pos.stream_seq;
		bdirty = 1;
	}
	if (rec.op == PGFLO_OP_COMMIT || !rec.has_lsn)
		close_txn();
	if (!rec.has_lsn && !cur.open && !aborted)
		maybe_commit();
}

/* Commits the complete transactions and rolls back an incomplete one. */
static void
finish(void)
{
	/* One set aside without its end is not made durable: it comes again. */
	if (discard.active && (!discard.begun || discard.done))
		discard_end();
	discard.active = 0;
	if (!leave.pending && cur.open && cur.begun && batch_open) {
		rollback();
		requeue(cur.tag, (unsigned long)-1, 0, 0, 0, NULL);
		leave.pending = 1;
		leave.code = PGFLO_EXIT_OK;
		leave.msg[0] = '\0';
		return;
	}
	/* With leave pending, the replayed transactions were complete. */
	cur.open = 0;
	commit_batch();
}

static int
print_applied(void)
{
	struct pgflo_pos p;
	int r;

	if ((cat = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	r = read_applied(cat, &p);
	PQfinish(cat);
	if (r == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	if (r == 0)
		pgflo_errx(PGFLO_EXIT_FAIL, "no position applied for group %s",
		    group);
	print_position(&p);
	return 0;
}

static void
add_map(const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || eq[1] == '\0') {
		pgflo_warnx("invalid --map-schema: %s (want SRC=DST)", arg);
		pgflo_usage_exit(SYNOPSIS);
	}
	mapsrc = pgflo_xrealloc(mapsrc, (size_t)(nmap + 1) * sizeof(*mapsrc));
	mapdst = pgflo_xrealloc(mapdst, (size_t)(nmap + 1) * sizeof(*mapdst));
	mapsrc[nmap] = strndup(arg, (size_t)(eq - arg));
	mapdst[nmap] = pgflo_xstrdup(eq + 1);
	nmap++;
}

static long
parse_ms(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_long(s, 0, 86400000L, &v) == 0)
		return v;
	if (pgflo_parse_duration_ms(s, &v) == 0)
		return v;
	pgflo_warnx("invalid %s: %s", what, s);
	pgflo_usage_exit(SYNOPSIS);
}

int
main(int argc, char *argv[])
{
	struct pgflo_reader rd;
	const char *deadletter = NULL, *e;
	int ch, pflag = 0, r, timeout;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	group = pgflo_env("GROUP", group);
	e = pgflo_env("BATCH_ROWS", NULL);
	if (e != NULL && pgflo_parse_long(e, 1, 100000000L, &batch_rows) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "invalid PGFLO_BATCH_ROWS: %s", e);
	e = pgflo_env("BATCH_MS", NULL);
	if (e != NULL)
		batch_ms = parse_ms(e, "PGFLO_BATCH_MS");
	while ((ch = getopt_long(argc, argv, "ab:cd:g:hm:ps:Vv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			aflag = 1;
			break;
		case 'b':
			if (pgflo_parse_long(optarg, 1, 100000000L,
			    &batch_rows) == -1) {
				pgflo_warnx("invalid --batch-rows: %s", optarg);
				pgflo_usage_exit(SYNOPSIS);
			}
			break;
		case 'c':
			cflag = 1;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'm':
			batch_ms = parse_ms(optarg, "--batch-ms");
			break;
		case 'p':
			pflag = 1;
			break;
		case 's':
			add_map(optarg);
			break;
		case 'V':
			pgflo_print_version();
			return 0;
		case 'v':
			vflag = 1;
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_DISABLE_TRIGGERS:
			notriggers = 1;
			break;
		case OPT_NO_LOOP:
			noloop = 1;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind != argc) {
		pgflo_warnx("unexpected argument: %s", argv[optind]);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (conninfo == NULL) {
		pgflo_warnx("no target: use -d CONNINFO");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pgflo_pg_conninfo_ok(conninfo, errbuf, sizeof(errbuf)) == -1) {
		pgflo_warnx("%s", errbuf);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (*group == '\0')
		pgflo_errx(PGFLO_EXIT_USAGE, "empty group name");
	pgflo_out_init();
	if (pflag) {
		print_applied();
		if (pgflo_out_close() == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		return 0;
	}
	if (deadletter != NULL) {
		if ((dlf = fopen(deadletter, "a")) == NULL)
			pgflo_err(PGFLO_EXIT_USAGE, "%s", deadletter);
		dlname = deadletter;
	}
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	if (connect_all() == -1)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	/* Privileges or a foreign table in the way: configuration, exit 2. */
	if (setup_target() == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);

	for (;;) {
		if (replay.next < replay.n) {
			struct line *l = &replay.v[replay.next++];

			process(replay.data.data + l->off, l->len, l->lineno);
			continue;
		}
		if (replay.n > 0)
			lines_reset(&replay);
		if (leave.pending) {
			finish();
			if (replay.next < replay.n)
				continue;
			if (leave.msg[0] != '\0')
				pgflo_errx(leave.code, "%s", leave.msg);
			break;
		}
		if (pgflo_stopping()) {
			/* A failed final commit queues its lines again. */
			finish();
			if (replay.next < replay.n || leave.pending)
				continue;
			break;
		}
		timeout = -1;
		if (batch_open && !(cur.open && cur.begun)) {
			timeout = (int)(batch_ms - (pgflo_now_ms() - batch_start));
			if (timeout < 0)
				timeout = 0;
		}
		r = pgflo_reader_next_timeout(&rd, timeout);
		if (r == 2) {
			cur.open = 0;	/* no commit record: quiet input ends it */
			commit_batch();
			continue;
		}
		if (r == -1) {
			finish();
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd.errmsg);
		}
		if (r == 0) {
			if (pgflo_stopping())
				continue;
			finish();
			if (replay.next < replay.n || leave.pending)
				continue;
			break;
		}
		process(rd.line, rd.len, rd.lineno);
	}
	if (vflag)
		pgflo_warnx("%lu changes applied, %lu records skipped, "
		    "%lu commits", napplied, nskipped, nbatches);
	pgflo_reader_close(&rd);
	if (dlf != NULL)
		fclose(dlf);
	PQfinish(conn);
	PQfinish(cat);
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
