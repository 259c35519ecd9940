/*
 * pgapply.c - pgflo-sink-pg's PostgreSQL side of the durable stage
 * (pgapply.h): changes become SQL (prepared statements, multi-row
 * INSERT runs, COPY for snapshot rows, DDL), sent through a libpq
 * pipeline; a batch commits with the pgflo.applied upsert in the same
 * target transaction.
 *
 * Two connections: conn carries the batch in pipeline mode, cat looks
 * up the catalog (types, tables, indexes) in autocommit; with -j, the
 * loaders of pgload.c take snapshot rows besides (see below).  Queued
 * statements remember the retained record they came from (idx), so that
 * a failure read back later names it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "copytext.h"
#include "durable.h"
#include "json2pg.h"
#include "jsonscan.h"
#include "lsn.h"
#include "map.h"
#include "metrics.h"
#include "pg2json.h"
#include "pgapply.h"
#include "pgconn.h"
#include "pgload.h"
#include "record.h"
#include "recspan.h"

#define SYNC_EVERY	256		/* statements per pipeline sync */
#define MAX_STMTS	1000		/* prepared statements kept */
#define RUN_MAX		128		/* rows per multi-row INSERT */

static struct pgflo_pgapply_config cf;

/* ---- connections and caches ---- */

static PGconn *conn;		/* data: pipeline mode */
static PGconn *cat;		/* catalog look-ups, autocommit */
static struct pgflo_map stmts, typeoids, basetypes, tables;
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
	struct pgflo_map cols;	/* column name -> type OID */
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
	pgflo_map_clear(&t->cols, NULL);
	free(t);
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
	int	 pool;		/* a -j loader failed */
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
/* pgflo.applied has commit_ts; the last one written, of ts_lsn. */
static int has_ts_col = 1;
static char ts_text[32];
static pgflo_lsn ts_lsn;

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

	if ((v = (uintptr_t)pgflo_map_get(&typeoids, name,
	    strlen(name))) != 0) {
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
	pgflo_map_put(&typeoids, name, strlen(name), (void *)(uintptr_t)*oid);
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

	if ((base = pgflo_map_get(&basetypes, name, strlen(name))) != NULL)
		return base;
	res = PQexecParams(cat, sql, 1, NULL, params, NULL, NULL, 0);
	/* Not a domain, or unknown here (the cast will say so): as named. */
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		base = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	else
		base = pgflo_xstrdup(name);
	PQclear(res);
	pgflo_map_put(&basetypes, name, strlen(name), base);
	return base;
}

static const char *
map_schema(const char *s)
{
	int i;

	for (i = 0; i < cf.nmap; i++)
		if (strcmp(cf.mapsrc[i], s) == 0)
			return cf.mapdst[i];
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
create_table(struct table *t, const struct pgflo_recspan *r,
    const char *dschema)
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
	if (cf.verbose)
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

/* A catalog query about table t ($1 its name); NULL with errbuf. */
static PGresult *
table_query(const struct table *t, const char *sql)
{
	const char *params[1] = { t->qname };
	PGresult *res;

	res = PQexecParams(cat, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", t->qname,
		    primary(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
load_table(struct table *t)
{
	PGresult *res;
	int i;

	res = table_query(t,
	    "SELECT (SELECT string_agg(x, E'\\x1e') FROM (SELECT"
	    " (SELECT string_agg(a.attname, E'\\x1f' ORDER BY a.attname"
	    " COLLATE \"C\") FROM pg_attribute a WHERE a.attrelid = i.indrelid"
	    " AND a.attnum = ANY (i.indkey)) AS x FROM pg_index i"
	    " WHERE i.indrelid = r.oid AND i.indisunique AND i.indisvalid"
	    " AND i.indpred IS NULL AND i.indexprs IS NULL) u)"
	    " FROM (SELECT to_regclass($1) AS oid) r WHERE r.oid IS NOT NULL");
	if (res == NULL)
		return -1;
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
	pgflo_map_clear(&t->cols, NULL);
	t->copyable = 0;
	if (!t->exists)
		return 0;
	/* Column types, for COPY straight into the table. */
	res = table_query(t, "SELECT a.attname, a.atttypid, c.relkind IN "
	    "('r', 'p') AND NOT c.relhasrules FROM pg_class c JOIN "
	    "pg_attribute a ON a.attrelid = c.oid WHERE c.oid = "
	    "to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped");
	if (res == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		pgflo_map_put(&t->cols, PQgetvalue(res, i, 0),
		    strlen(PQgetvalue(res, i, 0)),
		    (void *)(uintptr_t)strtoul(PQgetvalue(res, i, 1), NULL, 10));
		t->copyable = strcmp(PQgetvalue(res, i, 2), "t") == 0;
	}
	PQclear(res);
	return 0;
}

static struct table *
get_table(const struct pgflo_recspan *r)
{
	struct pgflo_buf k = { 0 };
	struct table *t;
	const char *ds = map_schema(r->schema);
	char *sig;
	int i;

	pgflo_pg_quote_ident(&k, ds);
	pgflo_buf_putc(&k, '.');
	pgflo_pg_quote_ident(&k, r->table);
	t = pgflo_map_get(&tables, k.data, k.len);
	if (t == NULL) {
		t = pgflo_xmalloc(sizeof(*t));
		memset(t, 0, sizeof(*t));
		t->qname = pgflo_xstrdup(pgflo_buf_cstr(&k));
		if (load_table(t) == -1) {
			free_table(t);
			pgflo_buf_free(&k);
			return NULL;
		}
		if (!t->exists && cf.create_tables &&
		    r->op != PGFLO_OP_TRUNCATE) {
			if (create_table(t, r, ds) == -1 ||
			    load_table(t) == -1) {
				free_table(t);
				pgflo_buf_free(&k);
				return NULL;
			}
		}
		pgflo_map_put(&tables, k.data, k.len, t);
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
	if ((s = pgflo_map_get(&stmts, keyb.data, keyb.len)) != NULL)
		return s;
	/*
	 * Never into an aborted pipeline: there DEALLOCATE ALL and the new
	 * pgflo_pos would be skipped while the cache forgets.  A failure
	 * found here is handled by the caller; rollback() clears the cache.
	 */
	if (stmts.n >= MAX_STMTS && !failure.set && drain_all() == 0) {
		send_simple("DEALLOCATE ALL", Q_OTHER);
		pgflo_map_clear(&stmts, free);
		prepare_pos();
	}
	s = pgflo_xmalloc(sizeof(*s));
	snprintf(s->name, sizeof(s->name), "p%u", ++stmtno);
	s->nparams = n;
	after_send(PQsendPrepare(conn, s->name, pgflo_buf_cstr(&sqlb), n,
	    oids), Q_STMT, idx, 1);
	pgflo_map_put(&stmts, keyb.data, keyb.len, s);
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

/* The type of column name (hint: its index); NULL with errbuf. */
static const char *
typed(const struct pgflo_recspan *r, int hint, const char *name)
{
	const char *type = pgflo_recspan_type(r, hint, name);

	if (type == NULL)
		snprintf(errbuf, sizeof(errbuf), "no type for column %s", name);
	return type;
}

/* Parameter *n: value v of type; -1 (errbuf) for an unknown type. */
static int
add_param(int *n, struct pgflo_span v, const char *type)
{
	oids_need((size_t)*n + 1);
	if (type_oid(type, &oids[*n]) == -1)
		return -1;
	(*n)++;
	vals_add(v, type);
	return 0;
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
	struct pgflo_map keys;	/* key texts of the rows in the run */
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
static void flush_urun(void);

/* Sends the pending rows as statements of 2^k rows each. */
static void
flush_run(void)
{
	size_t from = 0;
	int left, k;

	flush_urun();
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
	pgflo_map_clear(&run.keys, NULL);
	vals_reset();
}

/* ON CONFLICT (key) DO UPDATE SET the other columns (or DO NOTHING). */
static void
conflict_tail(struct pgflo_buf *b, const struct table *t,
    const struct pgflo_recspan *r)
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
key_seen(struct pgflo_map *keys, const struct pgflo_recspan *r)
{
	static struct pgflo_buf kb;
	const struct pgflo_reccol *c;
	int j;

	pgflo_buf_reset(&kb);
	for (j = 0; j < r->nkey; j++) {
		c = pgflo_recspan_col(r->newv, r->nnew, r->keyv[j]);
		if (c != NULL)
			pgflo_buf_putn(&kb, c->v.p, c->v.n);
		pgflo_buf_putc(&kb, '\x1f');
	}
	if (pgflo_map_get(keys, kb.data, kb.len) != NULL)
		return 1;
	pgflo_map_put(keys, kb.data, kb.len, (void *)1);
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

static struct pgflo_map stages;	/* type OID list -> struct stage */
static int stage_ok = -1;	/* TEMP privilege: -1 not yet known */
static unsigned long batch_gen;
static unsigned stageno;
static struct pgflo_map nodirect;	/* tables a direct COPY failed on */
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
	struct pgflo_map keys;
	const char **vtype;	/* value_type() of each column of the run */
	int	 cvtype;
} cp;

#define COPY_CHUNK	(256 * 1024)

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
	if (!stage_ok && cf.verbose)
		pgflo_warnx("no TEMP privilege: snapshot rows without COPY");
	return stage_ok;
}

/* Sets failure for the COPY run from res (or the connection). */
static void
copy_failed(PGresult *res, enum qkind kind)
{
	struct qent q = { kind, cp.first_idx, cp.rows > 1 ? cp.rows : 2 };

	if (cp.direct) {
		q.kind = Q_DIRECT;
		if (pgflo_map_get(&nodirect, cp.qname.data,
		    cp.qname.len) == NULL)
			pgflo_map_put(&nodirect, cp.qname.data, cp.qname.len,
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
	pgflo_map_clear(&cp.keys, NULL);
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
	pgflo_map_clear(&cp.keys, NULL);
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

	if ((st = pgflo_map_get(&stages, (const char *)tv,
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
	pgflo_map_put(&stages, (const char *)tv, (size_t)n * sizeof(*tv), st);
	return st;
}

/* Appends "(c1,c2,...)": the quoted names of the record's new columns. */
static void
new_columns(struct pgflo_buf *b, const struct pgflo_recspan *r)
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

/*
 * Sets b to "INSERT INTO t (c1,c2,...) OVERRIDING SYSTEM VALUE": the
 * record's new columns, whose values win over a GENERATED ALWAYS
 * identity's (the source's are the ones to keep; COPY does the same).
 */
static void
insert_into(struct pgflo_buf *b, const struct table *t,
    const struct pgflo_recspan *r)
{
	pgflo_buf_reset(b);
	pgflo_buf_puts(b, "INSERT INTO ");
	pgflo_buf_puts(b, t->qname);
	pgflo_buf_putc(b, ' ');
	new_columns(b, r);
	pgflo_buf_puts(b, " OVERRIDING SYSTEM VALUE");
}

/* Starts a COPY run for r (types set in r->newv); -1 errbuf, 0 ok. */
static int
copy_begin(struct table *t, const struct pgflo_recspan *r, long idx,
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
	direct = t->copyable && pgflo_map_get(&nodirect, t->qname,
	    strlen(t->qname)) == NULL;
	for (i = 0; i < r->nnew && direct; i++)
		direct = (Oid)(uintptr_t)pgflo_map_get(&t->cols,
		    r->newv[i].name, strlen(r->newv[i].name)) == tv[i];
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
	insert_into(&cp.ins, t, r);
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

/*
 * Appends value v (of base type vt) to the COPY data as COPY text: what
 * pgflo_pgtext() and pgflo_copytext_escape() make of it, in one step
 * for the common kinds (no copy in between): numbers, booleans, plain
 * strings, json.
 */
static void
copy_value(struct pgflo_buf *out, struct pgflo_span v, const char *vt)
{
	int json = vt[0] == 'j' && (strcmp(vt, "json") == 0 ||
	    strcmp(vt, "jsonb") == 0);

	if (v.p == pgflo_js_json_null) {
		pgflo_buf_putn(out, "null", 4);
	} else if (*v.p == 'n') {
		pgflo_buf_putn(out, "\\N", 2);
	} else if (json) {
		pgflo_copytext_escape(out, v.p, v.n);
	} else if (*v.p == '"' && memchr(v.p, '\\', v.n) == NULL) {
		/* No escape: the JSON text is the value, COPY-safe. */
		pgflo_buf_putn(out, v.p + 1, v.n - 2);
	} else if (*v.p == 't' || *v.p == 'f') {
		pgflo_buf_putc(out, *v.p);
	} else if ((*v.p >= '0' && *v.p <= '9') || *v.p == '-') {
		pgflo_buf_putn(out, v.p, v.n);
	} else {
		pgflo_buf_reset(&cp.val);
		if (pgflo_pgtext(&cp.val, v, vt))
			pgflo_buf_putn(out, "\\N", 2);
		else
			pgflo_copytext_escape(out, cp.val.data,
			    cp.val.len);
	}
}

/* do_insert()'s signature buffer, kept between rows. */
static struct pgflo_buf insig;

/*
 * ---- -j: snapshot rows through parallel loaders (pgload.h) ----
 * Rows COPY can take straight into a table with a key go to the
 * loader their key hashes to.  Whatever goes to conn first commits the
 * loaders, so that it sees their rows (a change after the copy), and
 * pa_commit() commits them before conn's batch with its position: the
 * copy's progress is printed only after both.  Rows of a table with a
 * key apply again as upserts, so a failure between the two commits is
 * replayed safely; tables without one stay on conn.  A table's rows
 * all go one way (by its key and types), so snapshot rows on conn never
 * meet the loaders'.  Once conn has a change of the batch, the rest of
 * the batch stays there too: a loader must never wait for a row conn
 * holds.  A loader that fails turns the loaders off and the batch is
 * replayed on conn.
 */
static struct pgflo_pgload *pool;
static int pool_off;
static int conn_wrote;		/* conn has changes in this batch */

/* The pool failed: the batch again on conn alone (or reconnect). */
static void
pool_failed(const char *msg, int lost)
{
	pool_off = 1;
	if (failure.set)
		return;
	failure.set = 1;
	failure.lost = lost;
	failure.pool = 1;
	failure.kind = Q_DIRECT;
	failure.idx = -1;
	failure.nrows = 0;
	snprintf(failure.msg, sizeof(failure.msg), "%s", msg);
	oneline(failure.msg);
}

/* Commits the loaders if they hold rows; -1 (failure set). */
static int
pool_commit(void)
{
	char eb[1024];
	int lost = 0;

	if (!pgflo_pgload_dirty(pool))
		return 0;
	if (pgflo_pgload_commit(pool, eb, sizeof(eb), &lost) == 0)
		return 0;
	pool_failed(eb, lost);
	return -1;
}

/* The decision for the last signature: COPY SQL and value types. */
static struct {
	struct pgflo_buf sig, sql;
	int	 ok;
	const char **vt;
	int	 cvt;
	struct pgflo_buf key;	/* a decoded key value */
} ld;

/* Whether rows of signature sig can go to the loaders; -1 errbuf. */
static int
load_check(struct table *t, const struct pgflo_recspan *r,
    const struct pgflo_buf *sig)
{
	Oid oid;
	int i;

	if (ld.sig.len == sig->len && ld.sig.len > 0 &&
	    memcmp(ld.sig.data, sig->data, sig->len) == 0)
		return ld.ok;
	pgflo_buf_reset(&ld.sig);
	ld.ok = t->keymode && t->copyable && r->nnew > 0 &&
	    pgflo_map_get(&nodirect, t->qname, strlen(t->qname)) == NULL;
	for (i = 0; i < r->nnew && ld.ok; i++) {
		if (type_oid(r->newv[i].type, &oid) == -1)
			return -1;
		ld.ok = (Oid)(uintptr_t)pgflo_map_get(&t->cols,
		    r->newv[i].name, strlen(r->newv[i].name)) == oid;
	}
	if (r->nnew > ld.cvt) {
		ld.cvt = r->nnew;
		ld.vt = pgflo_xrealloc(ld.vt, (size_t)ld.cvt * sizeof(*ld.vt));
	}
	for (i = 0; i < r->nnew && ld.ok; i++)
		ld.vt[i] = value_type(r->newv[i].type);
	pgflo_buf_reset(&ld.sql);
	pgflo_buf_printf(&ld.sql, "COPY %s ", t->qname);
	new_columns(&ld.sql, r);
	pgflo_buf_puts(&ld.sql, " FROM STDIN");
	pgflo_buf_putn(&ld.sig, sig->data, sig->len);
	return ld.ok;
}

/*
 * The loader of a row: a hash of its key's values, strings decoded, so
 * that one key (however written) always meets itself on one connection.
 */
static uint64_t
key_hash(const struct pgflo_recspan *r)
{
	const struct pgflo_reccol *c;
	uint64_t h = 1469598103934665603ULL;
	struct pgflo_span v;
	size_t k;
	int j;

	for (j = 0; j < r->nkey; j++) {
		if ((c = pgflo_recspan_col(r->newv, r->nnew,
		    r->keyv[j])) == NULL)
			continue;
		v = c->v;
		if (*v.p == '"' && memchr(v.p, '\\', v.n) != NULL) {
			pgflo_buf_reset(&ld.key);
			pgflo_js_str(&ld.key, v);
			v.p = ld.key.data != NULL ? ld.key.data : "";
			v.n = ld.key.len;
		}
		for (k = 0; k < v.n; k++)
			h = (h ^ (unsigned char)v.p[k]) * 1099511628211ULL;
		h = (h ^ 0x1f) * 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

/* r to a loader: 1 taken (or failure set), 0 not for them, -1 errbuf. */
static int
load_row(struct table *t, const struct pgflo_recspan *r)
{
	struct pgflo_buf *b;
	char eb[1024];
	int i, lost = 0;

	if (pool == NULL || pool_off || conn_wrote)
		return 0;
	if ((i = load_check(t, r, &insig)) != 1)
		return i;
	if ((b = pgflo_pgload_buf(pool, key_hash(r), &ld.sig,
	    pgflo_buf_cstr(&ld.sql), eb, sizeof(eb), &lost)) == NULL) {
		pool_failed(eb, lost);
		return 1;
	}
	for (i = 0; i < r->nnew; i++) {
		if (i > 0)
			pgflo_buf_putc(b, '\t');
		copy_value(b, r->newv[i].v, ld.vt[i]);
	}
	pgflo_buf_putc(b, '\n');
	if (pgflo_pgload_sent(pool, eb, sizeof(eb), &lost) == -1)
		pool_failed(eb, lost);
	return 1;
}

/* Adds r to the COPY run (starting one if needed); -1 errbuf. */
static int
copy_row(struct table *t, const struct pgflo_recspan *r, long idx,
    const struct pgflo_buf *sig)
{
	int i;

	if ((i = load_row(t, r)) != 0)
		return i == -1 ? -1 : 0;

	/*
	 * A key twice: one INSERT ... ON CONFLICT cannot take it, a direct
	 * COPY fails on it and the batch comes again through staging.
	 */
	if (cp.active && (cp.sig.len != sig->len ||
	    memcmp(cp.sig.data, sig->data, sig->len) != 0 ||
	    (t->keymode && !cp.direct && key_seen(&cp.keys, r)))) {
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
		if (t->keymode && !cp.direct)
			key_seen(&cp.keys, r);
	}
	if (cp.rows == 0) {
		/* The run's signature fixes the types: looked up once. */
		if (r->nnew > cp.cvtype) {
			cp.cvtype = r->nnew;
			cp.vtype = pgflo_xrealloc(cp.vtype,
			    (size_t)cp.cvtype * sizeof(*cp.vtype));
		}
		for (i = 0; i < r->nnew; i++)
			cp.vtype[i] = value_type(r->newv[i].type);
	}
	for (i = 0; i < r->nnew; i++) {
		if (i > 0)
			pgflo_buf_putc(&cp.data, '\t');
		copy_value(&cp.data, r->newv[i].v, cp.vtype[i]);
	}
	pgflo_buf_putc(&cp.data, '\n');
	cp.rows++;
	if (cp.data.len >= COPY_CHUNK)
		copy_send();
	return 0;
}

/* ---- applying one record ---- */

static unsigned long napplied;
static int slowmode;		/* no multi-row statements (locating errors) */

static int
warn_noid(struct table *t, const struct pgflo_recspan *r)
{
	if (!t->warned)
		pgflo_warnx("warning: %s has no replica identity: %ss skipped",
		    t->qname, pgflo_op_name(r->op));
	t->warned = 1;
	return 0;
}

static int
do_insert(struct table *t, const struct pgflo_recspan *r, long idx)
{
	struct pgflo_buf *sig = &insig;
	const char *type;
	int i;

	flush_urun();
	if (failure.set)
		return 0;
	pgflo_buf_reset(sig);
	for (i = 0; i < r->nnew; i++) {
		if ((type = typed(r, i, r->newv[i].name)) == NULL)
			return -1;
		r->newv[i].type = type;
	}
	/* The run's signature: table, columns, types, key mode. */
	pgflo_buf_puts(sig, t->qname);
	pgflo_buf_putc(sig, t->keymode ? 'K' : 'N');
	for (i = 0; i < r->nnew; i++) {
		pgflo_buf_putc(sig, '\x1f');
		pgflo_buf_puts(sig, r->newv[i].name);
		pgflo_buf_putc(sig, '\x1e');
		pgflo_buf_puts(sig, r->newv[i].type);
	}
	if (r->snapshot && !slowmode && stage_usable())
		return copy_row(t, r, idx, sig);
	copy_end();
	if (failure.set)
		return 0;
	if (run.active && (run.sql1.len != sig->len ||
	    memcmp(run.sql1.data, sig->data, sig->len) != 0 ||
	    run.rows >= run.maxrows))
		flush_run();
	if (failure.set)
		return 0;
	if (!run.active) {
		pgflo_buf_reset(&run.sql1);
		pgflo_buf_putn(&run.sql1, sig->data, sig->len);
		run.ncols = r->nnew;
		run.oids = pgflo_xrealloc(run.oids,
		    (size_t)(r->nnew + 1) * sizeof(*run.oids));
		for (i = 0; i < r->nnew; i++)
			if (type_oid(r->newv[i].type, &run.oids[i]) == -1)
				return -1;
		insert_into(&run.head, t, r);
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
		return failure.set ? 0 : do_insert(t, r, idx);
	}
	for (i = 0; i < r->nnew; i++)
		vals_add(r->newv[i].v, r->newv[i].type);
	run.ridx[run.rows++] = idx;
	if (run.rows >= run.maxrows)
		flush_run();
	return 0;
}

/* WHERE for update/delete: by key, or one row matching old. */
static int
where_clause(struct table *t, const struct pgflo_recspan *r, int *param, int *n)
{
	const struct pgflo_reccol *c;
	const char *type;
	int i, first = 1;

	if (t->keymode) {
		pgflo_buf_puts(&sqlb, " WHERE ");
		for (i = 0; i < r->nkey; i++) {
			c = r->has_old ? pgflo_recspan_col(r->oldv, r->nold,
			    r->keyv[i]) : NULL;
			if (c == NULL)
				c = pgflo_recspan_col(r->newv, r->nnew,
				    r->keyv[i]);
			if (c == NULL) {
				snprintf(errbuf, sizeof(errbuf),
				    "no value for key column %s", r->keyv[i]);
				return -1;
			}
			if (i > 0)
				pgflo_buf_puts(&sqlb, " AND ");
			pgflo_pg_quote_ident(&sqlb, c->name);
			pgflo_buf_printf(&sqlb, "=$%d", (*param)++);
			if ((type = typed(r, i, c->name)) == NULL ||
			    add_param(n, c->v, type) == -1)
				return -1;
		}
		return 0;
	}
	pgflo_buf_puts(&sqlb, " WHERE (tableoid, ctid) = (SELECT tableoid, "
	    "ctid FROM ");
	pgflo_buf_puts(&sqlb, t->qname);
	pgflo_buf_puts(&sqlb, " WHERE ");
	for (i = 0; i < (r->has_old ? r->nold : r->nkey); i++) {
		c = r->has_old ? &r->oldv[i] :
		    pgflo_recspan_col(r->newv, r->nnew, r->keyv[i]);
		if (c == NULL)
			continue;
		if ((type = typed(r, i, c->name)) == NULL)
			return -1;
		if (!first)
			pgflo_buf_puts(&sqlb, " AND ");
		first = 0;
		cmp_expr(&sqlb, c->name, type, 0);
		pgflo_buf_puts(&sqlb, " IS NOT DISTINCT FROM ");
		cmp_expr(&sqlb, c->name, type, (*param)++);
		if (add_param(n, c->v, type) == -1)
			return -1;
	}
	if (first)
		pgflo_buf_puts(&sqlb, "true");
	pgflo_buf_puts(&sqlb, " LIMIT 1)");
	return 0;
}

/* An update, by key, that gives the row another key. */
static int
key_moves(const struct table *t, const struct pgflo_recspan *r)
{
	const struct pgflo_reccol *o, *c;
	int i, moved = 0;

	if (!t->keymode || !r->has_old)
		return 0;
	for (i = 0; i < r->nkey; i++) {
		o = pgflo_recspan_col(r->oldv, r->nold, r->keyv[i]);
		c = pgflo_recspan_col(r->newv, r->nnew, r->keyv[i]);
		if (o == NULL || c == NULL)
			return 0;	/* where_clause() will say so */
		if (o->v.n != c->v.n || memcmp(o->v.p, c->v.p, c->v.n) != 0)
			moved = 1;
	}
	return moved;
}

/*
 * ---- update and delete runs ----
 * Updates by key that keep the key, of one table and column set, and
 * deletes by key go as one statement for many rows: UPDATE ... FROM
 * (VALUES ...) and DELETE ... USING (VALUES ...), joined on the key.
 * A key twice ends the run (UPDATE ... FROM changes a row once, with
 * either row), and any other statement sends the run first: the
 * changes keep their order.
 */
static struct {
	int	 active;
	enum pgflo_op op;
	struct pgflo_buf sig;	/* op, table, key and set columns, types */
	struct pgflo_buf head;	/* UPDATE t AS pgflo_t SET ... FROM or */
	struct pgflo_buf tail;	/* ) AS pgflo_v(...) WHERE ... */
	int	 ncols;		/* per row: keys, then set columns */
	Oid	*oids;
	int	 rows, maxrows;
	long	 ridx[RUN_MAX];
	struct pgflo_map keys;
	struct pgflo_buf kb;	/* the key text of a row */
} urun;

static void
send_urun_rows(int rows, size_t from, long idx)
{
	int i, j, p = 1;

	pgflo_buf_reset(&sqlb);
	pgflo_buf_putn(&sqlb, urun.head.data, urun.head.len);
	for (i = 0; i < rows; i++) {
		pgflo_buf_puts(&sqlb, i > 0 ? ",(" : "(");
		for (j = 0; j < urun.ncols; j++)
			pgflo_buf_printf(&sqlb, j > 0 ? ",$%d" : "$%d", p++);
		pgflo_buf_putc(&sqlb, ')');
	}
	pgflo_buf_putn(&sqlb, urun.tail.data, urun.tail.len);
	oids_need((size_t)(rows * urun.ncols));
	for (i = 0; i < rows; i++)
		memcpy(oids + i * urun.ncols, urun.oids,
		    (size_t)urun.ncols * sizeof(*oids));
	exec_stmt(prepare(rows * urun.ncols, idx), from, idx, rows);
}

/* Sends the pending updates or deletes, as statements of 2^k rows. */
static void
flush_urun(void)
{
	size_t from = 0;
	int left, k;

	if (!urun.active)
		return;
	left = urun.rows;
	while (left > 0 && !failure.set) {
		for (k = 1; k * 2 <= left && k * 2 <= urun.maxrows; k *= 2)
			;
		send_urun_rows(k, from, urun.ridx[urun.rows - left]);
		from += (size_t)(k * urun.ncols);
		left -= k;
	}
	urun.active = 0;
	urun.rows = 0;
	pgflo_map_clear(&urun.keys, NULL);
	vals_reset();
}

/* The key column i's value of r: old's, else new's; NULL if none. */
static const struct pgflo_reccol *
key_col(const struct pgflo_recspan *r, int i)
{
	const struct pgflo_reccol *c = NULL;

	if (r->has_old)
		c = pgflo_recspan_col(r->oldv, r->nold, r->keyv[i]);
	if (c == NULL)
		c = pgflo_recspan_col(r->newv, r->nnew, r->keyv[i]);
	return c;
}

static int
is_key(const struct pgflo_recspan *r, const char *name)
{
	int j;

	for (j = 0; j < r->nkey; j++)
		if (strcmp(r->keyv[j], name) == 0)
			return 1;
	return 0;
}

/* Starts the run for r (its signature in urun.sig); -1 errbuf. */
static int
urun_begin(const struct table *t, const struct pgflo_recspan *r, int nset)
{
	const struct pgflo_reccol *c;
	const char *type;
	int i, n = 0;

	pgflo_buf_reset(&urun.head);
	pgflo_buf_reset(&urun.tail);
	urun.ncols = r->nkey + nset;
	urun.oids = pgflo_xrealloc(urun.oids,
	    (size_t)(urun.ncols + 1) * sizeof(*urun.oids));
	if (r->op == PGFLO_OP_UPDATE) {
		pgflo_buf_printf(&urun.head, "UPDATE %s AS pgflo_t SET ",
		    t->qname);
		for (i = 0; i < r->nnew; i++) {
			if (is_key(r, r->newv[i].name))
				continue;
			if (n > 0)
				pgflo_buf_putc(&urun.head, ',');
			pgflo_pg_quote_ident(&urun.head, r->newv[i].name);
			pgflo_buf_printf(&urun.head, "=pgflo_v.c%d", ++n);
		}
		pgflo_buf_puts(&urun.head, " FROM (VALUES ");
	} else {
		pgflo_buf_printf(&urun.head, "DELETE FROM %s AS pgflo_t "
		    "USING (VALUES ", t->qname);
	}
	pgflo_buf_puts(&urun.tail, ") AS pgflo_v(");
	for (i = 0; i < r->nkey; i++)
		pgflo_buf_printf(&urun.tail, "%sk%d", i > 0 ? "," : "", i + 1);
	for (i = 0; i < nset; i++)
		pgflo_buf_printf(&urun.tail, ",c%d", i + 1);
	pgflo_buf_puts(&urun.tail, ") WHERE ");
	for (i = 0; i < r->nkey; i++) {
		c = key_col(r, i);
		if ((type = typed(r, i, c->name)) == NULL ||
		    type_oid(type, &urun.oids[i]) == -1)
			return -1;
		if (i > 0)
			pgflo_buf_puts(&urun.tail, " AND ");
		pgflo_buf_puts(&urun.tail, "pgflo_t.");
		pgflo_pg_quote_ident(&urun.tail, c->name);
		pgflo_buf_printf(&urun.tail, "=pgflo_v.k%d", i + 1);
	}
	for (i = 0, n = r->nkey; i < r->nnew && r->op == PGFLO_OP_UPDATE; i++)
		if (!is_key(r, r->newv[i].name) && ((type = typed(r, i,
		    r->newv[i].name)) == NULL || type_oid(type,
		    &urun.oids[n++]) == -1))
			return -1;
	urun.op = r->op;
	urun.maxrows = RUN_MAX;
	if (urun.maxrows * urun.ncols > 65535)
		urun.maxrows = 65535 / urun.ncols;
	urun.rows = 0;
	urun.active = 1;
	vals_reset();
	return 0;
}

/*
 * Adds update or delete r to a run when it can go in one: 1 taken, 0
 * not (the statement path takes it), -1 errbuf.
 */
static int
urun_add(const struct table *t, const struct pgflo_recspan *r, long idx)
{
	static struct pgflo_buf sig;
	const struct pgflo_reccol *c;
	const char *type;
	int i, nset = 0;

	if (slowmode || !t->keymode || r->nkey == 0 ||
	    (r->op == PGFLO_OP_UPDATE && key_moves(t, r)))
		return 0;
	pgflo_buf_reset(&sig);
	pgflo_buf_putc(&sig, r->op == PGFLO_OP_UPDATE ? 'U' : 'D');
	pgflo_buf_puts(&sig, t->qname);
	pgflo_buf_reset(&urun.kb);
	for (i = 0; i < r->nkey; i++) {
		if ((c = key_col(r, i)) == NULL ||
		    (type = pgflo_recspan_type(r, i, c->name)) == NULL)
			return 0;	/* the statement path says why */
		pgflo_buf_printf(&sig, "\x1f%s\x1e%s", c->name, type);
		/* Decoded: "\u0061" is the key "a", once in a statement. */
		if (*c->v.p == '"')
			pgflo_js_str(&urun.kb, c->v);
		else
			pgflo_buf_putn(&urun.kb, c->v.p, c->v.n);
		pgflo_buf_putc(&urun.kb, '\x1f');
	}
	pgflo_buf_putc(&sig, '\x1d');
	for (i = 0; i < r->nnew && r->op == PGFLO_OP_UPDATE; i++) {
		if (is_key(r, r->newv[i].name))
			continue;
		if ((type = pgflo_recspan_type(r, i, r->newv[i].name)) == NULL)
			return 0;
		pgflo_buf_printf(&sig, "\x1f%s\x1e%s", r->newv[i].name, type);
		nset++;
	}
	if (r->op == PGFLO_OP_UPDATE && nset == 0)
		return 0;
	if (urun.active && (urun.sig.len != sig.len || memcmp(urun.sig.data,
	    sig.data, sig.len) != 0 || pgflo_map_get(&urun.keys,
	    urun.kb.data, urun.kb.len) != NULL))
		flush_run();
	if (failure.set)
		return 1;
	if (!urun.active) {
		flush_run();
		if (failure.set)
			return 1;
		if (urun_begin(t, r, nset) == -1)
			return -1;
		pgflo_buf_reset(&urun.sig);
		pgflo_buf_putn(&urun.sig, sig.data, sig.len);
	}
	pgflo_map_put(&urun.keys, urun.kb.data, urun.kb.len, (void *)1);
	for (i = 0; i < r->nkey; i++) {
		c = key_col(r, i);
		vals_add(c->v, pgflo_recspan_type(r, i, c->name));
	}
	for (i = 0; i < r->nnew && r->op == PGFLO_OP_UPDATE; i++)
		if (!is_key(r, r->newv[i].name))
			vals_add(r->newv[i].v, pgflo_recspan_type(r, i,
			    r->newv[i].name));
	urun.ridx[urun.rows++] = idx;
	if (urun.rows >= urun.maxrows)
		flush_urun();
	return 1;
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
clear_new_key(struct table *t, const struct pgflo_recspan *r, long idx)
{
	const struct pgflo_reccol *c;
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
			c = pgflo_recspan_col(pass == 0 ? r->newv : r->oldv,
			    pass == 0 ? r->nnew : r->nold, r->keyv[i]);
			if ((type = typed(r, i, c->name)) == NULL)
				return -1;
			if (i > 0)
				pgflo_buf_puts(&sqlb, " AND ");
			pgflo_pg_quote_ident(&sqlb, c->name);
			pgflo_buf_printf(&sqlb, "=$%d", n + 1);
			if (add_param(&n, c->v, type) == -1)
				return -1;
		}
	}
	pgflo_buf_putc(&sqlb, ')');
	exec_stmt(prepare(n, idx), 0, idx, 1);
	vals_reset();
	return 0;
}

static int
do_update_delete(struct table *t, const struct pgflo_recspan *r, long idx)
{
	struct stmt *s;
	const char *type;
	int i, param = 1, n = 0, whole;

	if (!t->keymode && r->nkey == 0 && !r->has_old)
		return warn_noid(t, r);
	if ((i = urun_add(t, r, idx)) != 0)
		return i == -1 ? -1 : 0;
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
			if ((type = typed(r, i, r->newv[i].name)) == NULL)
				return -1;
			if (i > 0)
				pgflo_buf_putc(&sqlb, ',');
			pgflo_pg_quote_ident(&sqlb, r->newv[i].name);
			pgflo_buf_printf(&sqlb, "=$%d", param++);
			if (add_param(&n, r->newv[i].v, type) == -1)
				return -1;
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
do_ddl(const struct pgflo_recspan *r)
{
	const char *dst, *params[1];
	PGresult *res;
	char *sql, *oldpath = NULL;
	int ok;

	if (!cf.apply_ddl) {
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
	pgflo_map_clear(&stmts, free);
	send_simple("DEALLOCATE ALL", Q_OTHER);
	prepare_pos();
	ddl_seen = 1;
	return 0;
}

static int
apply(const struct pgflo_recspan *r, long idx)
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
		conn_wrote = 1;
		return pool_commit() == -1 ? 0 : do_ddl(r);
	default:
		return 0;
	}
	if ((t = get_table(r)) == NULL)
		return -1;
	napplied++;
	/* Snapshot rows may go to the loaders (copy_row()), no other. */
	if (r->op != PGFLO_OP_INSERT || !r->snapshot) {
		conn_wrote = 1;
		if (pool_commit() == -1)
			return 0;
	}
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

/* Server notices (IF NOT EXISTS, TRUNCATE cascades) only with -v. */
static void
notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	if (!cf.verbose)
		return;
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	pgflo_warnx("server: %.*s", (int)n, msg);
}

/*
 * Both connections: the session settings of every pgflo tool
 * (pgflo_pg_session_sql) on the data one, plus sink-pg's own, which no
 * other tool wants: --disable-triggers, so that the target's triggers
 * and rules do not fire a second time for changes the source's fired
 * for already.
 */
static int
connect_all(void)
{
	PGresult *res;

	if ((conn = pgflo_pg_connect(cf.conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		return -1;
	if ((cat = pgflo_pg_connect(cf.conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		goto fail;
	PQsetClientEncoding(conn, "UTF8");
	PQsetClientEncoding(cat, "UTF8");
	PQsetNoticeProcessor(conn, notice, NULL);
	PQsetNoticeProcessor(cat, notice, NULL);
	if ((res = pgflo_pg_exec(conn, pgflo_pg_session_sql, PGRES_COMMAND_OK,
	    errbuf, sizeof(errbuf))) == NULL)
		goto fail;
	PQclear(res);
	if (cf.no_triggers) {
		if ((res = pgflo_pg_exec(conn,
		    "SET session_replication_role = replica",
		    PGRES_COMMAND_OK, errbuf, sizeof(errbuf))) == NULL)
			goto fail;
		PQclear(res);
	}
	if (cf.jobs > 1) {
		struct pgflo_buf ss = { 0 };

		/*
		 * A loader that waits on a lock (another session's, or a
		 * key another loader holds) gives up: the batch goes again
		 * over conn, which may wait.
		 */
		pgflo_buf_puts(&ss, pgflo_pg_session_sql);
		pgflo_buf_puts(&ss, "; SET lock_timeout = '5s'");
		if (cf.no_triggers)
			pgflo_buf_puts(&ss,
			    "; SET session_replication_role = replica");
		pool = pgflo_pgload_new(cf.conninfo, cf.jobs,
		    pgflo_buf_cstr(&ss), errbuf, sizeof(errbuf));
		pgflo_buf_free(&ss);
		if (pool == NULL)
			goto fail;
	}
	return 0;
fail:
	PQfinish(conn);
	PQfinish(cat);
	conn = cat = NULL;
	return -1;
}

int
pgflo_pgapply_read_applied(PGconn *c, const char *group,
    struct pgflo_pos *p, char *eb, size_t el)
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
		snprintf(eb, el, "reading pgflo.applied: %s",
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

/*
 * pgflo.applied of an older pgflo has no commit_ts: added in place, once
 * (the catalog is asked first: ALTER TABLE locks the table every group
 * shares).  A role that may not alter it applies without the column.
 */
static void
upgrade_applied(void)
{
	PGresult *res;

	res = PQexec(cat, "SELECT 1 FROM pg_catalog.pg_attribute "
	    "WHERE attrelid = 'pgflo.applied'::regclass "
	    "AND attname = 'commit_ts' AND NOT attisdropped");
	has_ts_col = PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1;
	PQclear(res);
	if (has_ts_col)
		return;
	res = PQexec(cat, "ALTER TABLE pgflo.applied "
	    "ADD COLUMN IF NOT EXISTS commit_ts timestamptz");
	has_ts_col = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!has_ts_col)
		pgflo_warnx("warning: pgflo.applied has no commit_ts column "
		    "and it cannot be added (%s): the target's lag in seconds "
		    "stays unknown", pgflo_pg_resmsg(res));
	PQclear(res);
}

static int
setup_target(struct pgflo_pos *applied)
{
	PGresult *res;

	res = PQexec(cat, "CREATE SCHEMA IF NOT EXISTS pgflo; "
	    "CREATE TABLE IF NOT EXISTS pgflo.applied ("
	    "group_name text PRIMARY KEY, commit_lsn pg_lsn, "
	    "ordinal bigint, stream_seq bigint, "
	    "updated_at timestamptz NOT NULL DEFAULT now(), "
	    "commit_ts timestamptz)");
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
	upgrade_applied();
	if (pgflo_pgapply_read_applied(cat, cf.group, applied, errbuf,
	    sizeof(errbuf)) == -1)
		return -1;
	if (PQenterPipelineMode(conn) != 1) {
		snprintf(errbuf, sizeof(errbuf), "cannot enter pipeline mode");
		return -1;
	}
	prepare_pos();
	return drain_all() == -1 ? -1 : 0;
}

/* A position without a commit_lsn keeps the one applied, and its time. */
static void
prepare_pos(void)
{
	after_send(PQsendPrepare(conn, "pgflo_pos", has_ts_col ?
	    "INSERT INTO pgflo.applied AS a (group_name, commit_lsn, ordinal,"
	    " stream_seq, updated_at, commit_ts) VALUES ($1, $2::pg_lsn,"
	    " $3::bigint, $4::bigint, now(), $5::timestamptz)"
	    " ON CONFLICT (group_name) DO UPDATE SET"
	    " commit_lsn = coalesce(EXCLUDED.commit_lsn, a.commit_lsn),"
	    " ordinal = CASE WHEN EXCLUDED.commit_lsn IS NULL THEN a.ordinal"
	    " ELSE EXCLUDED.ordinal END,"
	    " stream_seq = coalesce(EXCLUDED.stream_seq, a.stream_seq),"
	    " updated_at = now(),"
	    " commit_ts = CASE WHEN EXCLUDED.commit_lsn IS NULL THEN a.commit_ts"
	    " ELSE EXCLUDED.commit_ts END" :
	    "INSERT INTO pgflo.applied AS a (group_name, commit_lsn, ordinal,"
	    " stream_seq, updated_at) VALUES ($1, $2::pg_lsn, $3::bigint,"
	    " $4::bigint, now()) ON CONFLICT (group_name) DO UPDATE SET"
	    " commit_lsn = coalesce(EXCLUDED.commit_lsn, a.commit_lsn),"
	    " ordinal = CASE WHEN EXCLUDED.commit_lsn IS NULL THEN a.ordinal"
	    " ELSE EXCLUDED.ordinal END,"
	    " stream_seq = coalesce(EXCLUDED.stream_seq, a.stream_seq),"
	    " updated_at = now()", has_ts_col ? 5 : 4, NULL), Q_OTHER, -1, 0);
}

/*
 * The commit_ts of the last record written with a commit_lsn: that of
 * the position a commit stores.  Looked at once per transaction.
 */
static void
track_ts(const struct pgflo_recspan *r)
{
	double secs;

	if (!r->has_lsn || (r->pos.commit_lsn == ts_lsn && ts_text[0] != '\0'))
		return;
	ts_lsn = r->pos.commit_lsn;
	ts_text[0] = '\0';
	if (r->commit_ts.p != NULL && r->commit_ts.n - 2 < sizeof(ts_text) &&
	    pgflo_metrics_parse_ts(r->commit_ts.p + 1, r->commit_ts.n - 2,
	    &secs) == 0) {
		memcpy(ts_text, r->commit_ts.p + 1, r->commit_ts.n - 2);
		ts_text[r->commit_ts.n - 2] = '\0';
	}
}


/*
 * A value PostgreSQL text cannot hold: a NUL byte, which libpq and COPY
 * would cut the value at.  json values keep their escape and may.
 */
static const char *
check_values(struct pgflo_recspan *r)
{
	const struct pgflo_reccol *cv;
	const char *type, *base;
	int side, i, n;

	for (side = 0; side < 2; side++) {
		cv = side == 0 ? r->newv : r->oldv;
		n = side == 0 ? r->nnew : r->nold;
		for (i = 0; i < n; i++) {
			if (!pgflo_recspan_has_nul(cv[i].v) ||
			    (type = pgflo_recspan_type(r, i,
			    cv[i].name)) == NULL)
				continue;
			base = value_type(type);
			if (strcmp(base, "json") == 0 ||
			    strcmp(base, "jsonb") == 0 ||
			    strcmp(base, "json[]") == 0 ||
			    strcmp(base, "jsonb[]") == 0)
				continue;
			snprintf(r->whybuf, sizeof(r->whybuf), "column %.64s: "
			    "a %.40s value holds a NUL byte (\\u0000), which "
			    "PostgreSQL cannot store", cv[i].name, type);
			return r->whybuf;
		}
	}
	return NULL;
}

/* ---- the durable stage's ops ---- */

static int
pa_connect(void *sink, char *eb, size_t el)
{
	(void)sink;
	memset(&failure, 0, sizeof(failure));
	fhead = ftail = 0;
	nsyncs = nsince_sync = 0;
	if (connect_all() == -1) {
		snprintf(eb, el, "%s", errbuf);
		return pgflo_pg_connect_status();
	}
	return 0;
}

static int
pa_setup(void *sink, struct pgflo_pos *applied, char *eb, size_t el)
{
	(void)sink;
	if (setup_target(applied) == -1) {
		snprintf(eb, el, "%s", errbuf);
		return -1;
	}
	return 0;
}

static void
reset_run(void)
{
	run.active = 0;
	run.rows = 0;
	pgflo_map_clear(&run.keys, NULL);
	urun.active = 0;
	urun.rows = 0;
	pgflo_map_clear(&urun.keys, NULL);
	vals_reset();
}

static void
pa_close(void *sink)
{
	(void)sink;
	pgflo_pgload_free(pool);
	pool = NULL;
	ld.sig.len = 0;		/* its value types were basetypes' */
	PQfinish(conn);
	PQfinish(cat);
	conn = cat = NULL;
	pgflo_map_clear(&stmts, free);
	pgflo_map_clear(&tables, free_table);
	pgflo_map_clear(&typeoids, NULL);
	pgflo_map_clear(&basetypes, free);
	pgflo_map_clear(&stages, free);
	cp.active = 0;
	pgflo_buf_reset(&cp.data);
	pgflo_map_clear(&cp.keys, NULL);
	reset_run();
}

static void
pa_begin(void *sink, int one_by_one)
{
	(void)sink;
	slowmode = one_by_one;
	conn_wrote = 0;
	send_simple("BEGIN", Q_BEGIN);
	batch_gen++;
}

static int
pa_write(void *sink, struct pgflo_recspan *r, long idx, char *eb, size_t el)
{
	(void)sink;
	track_ts(r);
	if (apply(r, idx) == -1) {
		snprintf(eb, el, "%s", errbuf);
		return -1;
	}
	return 0;
}

static int
pa_failed(void *sink, int wait)
{
	(void)sink;
	if (!wait)
		return failure.set;
	flush_run();
	return drain_all() == -1;
}

static void
pa_failure(void *sink, struct pgflo_durable_failure *f)
{
	(void)sink;
	f->idx = failure.idx;
	f->nrecords = 0;
	snprintf(f->msg, sizeof(f->msg), "%s", failure.msg);
	if (failure.lost) {
		f->kind = PGFLO_DF_LOST;
	} else if (failure.kind == Q_DIRECT) {
		/* Rows already there, say: again through a staging table. */
		if (cf.verbose)
			pgflo_warnx(failure.pool ? "COPY loaders failed (%s): "
			    "one connection instead" : "COPY failed (%s): "
			    "upserting instead", f->msg);
		f->kind = PGFLO_DF_RETRY;
	} else if (failure.kind == Q_COMMIT) {
		f->kind = PGFLO_DF_COMMIT;
	} else {
		if (failure.kind == Q_STAGE)
			stage_ok = 0;	/* no staging tables here: statements */
		f->kind = PGFLO_DF_RECORDS;
		if (failure.kind == Q_STMT || failure.kind == Q_STAGE)
			f->nrecords = failure.nrows;
	}
}

static int
pa_commit(void *sink, const struct pgflo_pos *pos)
{
	char lsn[PGFLO_LSN_BUFSZ], ord[24], seq[24];
	const char *params[5];

	(void)sink;
	flush_run();
	/* The loaders first: progress counts once both committed. */
	(void)pool_commit();
	if (pos != NULL && !failure.set) {
		params[0] = cf.group;
		params[1] = pos->commit_lsn != 0 ?
		    pgflo_lsn_format(pos->commit_lsn, lsn) : NULL;
		snprintf(ord, sizeof(ord), "%llu",
		    (unsigned long long)pos->ordinal);
		params[2] = pos->commit_lsn != 0 ? ord : NULL;
		snprintf(seq, sizeof(seq), "%llu",
		    (unsigned long long)pos->stream_seq);
		params[3] = pos->stream_seq != 0 ? seq : NULL;
		params[4] = pos->commit_lsn == ts_lsn && ts_text[0] != '\0' ?
		    ts_text : NULL;
		after_send(PQsendQueryPrepared(conn, "pgflo_pos",
		    has_ts_col ? 5 : 4, params, NULL, NULL, 0), Q_OTHER, -1, 0);
	}
	if (!failure.set)
		send_simple("COMMIT", Q_COMMIT);
	if (drain_all() == -1)
		return -1;
	pool_off = 0;
	if (ddl_seen) {
		/* What the DDL changed is looked up again. */
		pgflo_map_clear(&tables, free_table);
		pgflo_map_clear(&typeoids, NULL);
		pgflo_map_clear(&basetypes, free);
		ld.sig.len = 0;
		ddl_seen = 0;
	}
	return 0;
}

static void
pa_rollback(void *sink, int in_batch)
{
	(void)sink;
	memset(&failure, 0, sizeof(failure));
	if (pool != NULL)
		pgflo_pgload_abort(pool);
	ld.sig.len = 0;		/* a table may have lost its direct COPY */
	copy_abort();
	/*
	 * A failed COPY runs outside the pipeline: what was queued after it
	 * failed in the aborted transaction, and the pipeline skips all up to
	 * the next sync, a ROLLBACK too.  End that segment first.
	 */
	(void)drain_all();
	memset(&failure, 0, sizeof(failure));
	/* Staging tables created in this batch are gone. */
	pgflo_map_clear(&stages, free);
	if (in_batch)
		send_simple("ROLLBACK", Q_ROLLBACK);
	/* Prepares after the error were skipped by the aborted pipeline. */
	send_simple("DEALLOCATE ALL", Q_OTHER);
	pgflo_map_clear(&stmts, free);
	prepare_pos();
	drain_all();
	reset_run();
	memset(&failure, 0, sizeof(failure));
}

static int
pa_commit_soon(void *sink)
{
	(void)sink;
	return ddl_seen;
}

static const char *
pa_check(void *sink, struct pgflo_recspan *r)
{
	(void)sink;
	return check_values(r);
}

const struct pgflo_durable_ops pgflo_pgapply_ops = {
	.connect = pa_connect,
	.setup = pa_setup,
	.close = pa_close,
	.begin = pa_begin,
	.write = pa_write,
	.failed = pa_failed,
	.failure = pa_failure,
	.commit = pa_commit,
	.rollback = pa_rollback,
	.commit_soon = pa_commit_soon,
	.check = pa_check,
};

void
pgflo_pgapply_init(const struct pgflo_pgapply_config *c)
{
	cf = *c;
}

unsigned long
pgflo_pgapply_applied(void)
{
	return napplied;
}

void
pgflo_pgapply_free(void)
{
	pa_close(NULL);
	pgflo_map_clear(&nodirect, NULL);
	pgflo_buf_free(&vals);
	free(voff);
	free(vnull);
	free(vptr);
	pgflo_buf_free(&sqlb);
	pgflo_buf_free(&keyb);
	free(oids);
	free(fifo);
	free(run.oids);
	pgflo_buf_free(&run.sql1);
	pgflo_buf_free(&run.head);
	pgflo_buf_free(&run.tail);
	pgflo_buf_free(&cp.qname);
	pgflo_buf_free(&cp.sig);
	pgflo_buf_free(&cp.ins);
	pgflo_buf_free(&cp.data);
	pgflo_buf_free(&cp.val);
	free(cp.vtype);
	pgflo_buf_free(&insig);
	free(urun.oids);
	pgflo_buf_free(&ld.sig);
	pgflo_buf_free(&ld.sql);
	pgflo_buf_free(&ld.key);
	free(ld.vt);
	pgflo_buf_free(&urun.sig);
	pgflo_buf_free(&urun.head);
	pgflo_buf_free(&urun.tail);
	pgflo_buf_free(&urun.kb);
}
