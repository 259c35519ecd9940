/*
 * pgflo-schema - copies the schema of a group of tables from the source
 * to the target: before the copy the types, sequences and tables
 * ("pre-data"), after it the indexes, constraints and foreign keys
 * ("post-data", as pg_restore orders them, so that the copy loads into
 * bare tables), and the sequences' values.
 *
 * pg_dump does the work.  The catalog names what the selected tables
 * need (pg_depend from the tables and their parts: the types, functions
 * and sequences their columns, defaults and constraints use); pg_dump
 * -Fc --schema-only -t of the tables (and sequences) makes one archive,
 * pg_dump -n of the schemas holding those types and functions (their
 * tables excluded) another, and pg_restore -L of a TOC list filtered by
 * catalog OID turns exactly the wanted entries into SQL, in pg_dump's
 * dependency order.  The SQL runs on the target in one transaction,
 * entry by entry so that an error names the object.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "pgprog.h"
#include "publication.h"
#include "tablepat.h"

#define SYNOPSIS \
	"pgflo-schema [-n] [--if-missing] [--section section]\n" \
	"       [--pg-bindir dir] -d conninfo [-D conninfo] -t tables"

/* Sections, as pg_dump's, plus the sequences' values. */
#define SEC_PRE		0x01
#define SEC_POST	0x02
#define SEC_SEQ		0x04

enum { OPT_IF_MISSING = 256, OPT_PG_BINDIR, OPT_SECTION };

static const struct option longopts[] = {
	{ "dbname",		required_argument, NULL, 'd' },
	{ "dry-run",		no_argument,	   NULL, 'n' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "if-missing",		no_argument,	   NULL, OPT_IF_MISSING },
	{ "pg-bindir",		required_argument, NULL, OPT_PG_BINDIR },
	{ "section",		required_argument, NULL, OPT_SECTION },
	{ "tables",		required_argument, NULL, 't' },
	{ "target",		required_argument, NULL, 'D' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Options. */
static const char *source, *target, *tablepats, *bindir;
static int sections = SEC_PRE | SEC_POST | SEC_SEQ;
static int dryrun, ifmissing;

static char errbuf[1024];
static PGconn *src, *dst;
static char tmpdir[] = "/tmp/pgflo-schema.XXXXXX";
static int have_tmpdir;

/* A list of strings, new. */
struct strs {
	char	**v;
	size_t	 n;
};

/* A catalog object: the class (pg_class OID of its catalog) and OID. */
struct obj {
	unsigned cls, oid;
};

struct objs {
	struct obj *v;
	size_t	 n;
};

/* What the catalog says the selected tables need; identifiers quoted. */
static struct strs tables;	/* schema.table, partitions included */
static struct strs tableoids;	/* their OIDs */
static struct strs seqs;	/* sequences used or owned */
static struct strs schemas;	/* every schema of the objects */
static struct strs typeschemas;	/* schemas holding types, functions */
static struct strs exts;	/* extensions: "name WITH SCHEMA schema" */
static struct objs need;	/* the objects themselves */
static struct objs skipfk;	/* foreign keys to tables not selected */

static void
help(void)
{
	printf(
"pgflo-schema copies the schema of tables from the source to the target:\n"
"their types, sequences and tables before the copy (pre-data); indexes,\n"
"constraints and foreign keys after it (post-data), and sequence values.\n"
"\n"
"Usage:\n"
"  pgflo-schema [OPTION]... -d CONNINFO -D CONNINFO -t TABLES\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO   the source database (conninfo string or URI)\n"
"  -D, --target=CONNINFO   the target database\n"
"  -t, --tables=PATTERNS   schema.table patterns, '*' globs, comma list\n"
"      --section=SECTION   pre-data, post-data (with the sequence values),\n"
"                          sequences (their values only) or all (default)\n"
"  -n, --dry-run           print the SQL instead; -D only for --if-missing\n"
"      --if-missing        skip objects that exist on the target already\n"
"      --pg-bindir=DIR     where pg_dump and pg_restore are (default\n"
"                          $PGFLO_PG_BINDIR, else found on PATH)\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_PG_BINDIR, libpq's PG* variables.\n"
"Exit status: 0 done, 1 a statement failed on the target (nothing\n"
"changed) or pg_dump failed, 2 usage, a refused login or no pg_dump,\n"
"3 a server unreachable, 130/143 killed by SIGINT/SIGTERM, 141 reader\n"
"gone (SIGPIPE).\n");
}

/* ---- small helpers ---- */

static void
strs_add(struct strs *s, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], v) == 0)
			return;
	s->v = pgflo_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = pgflo_xstrdup(v);
}

static void
strs_free(struct strs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void
objs_add(struct objs *o, unsigned cls, unsigned oid)
{
	o->v = pgflo_xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->v[o->n].cls = cls;
	o->v[o->n++].oid = oid;
}

static int
objs_has(const struct objs *o, unsigned cls, unsigned oid)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->v[i].cls == cls && o->v[i].oid == oid)
			return 1;
	return 0;
}

/* An array literal of the strings, for a text[] or oid[] parameter. */
static void
array_literal(struct pgflo_buf *b, const struct strs *s)
{
	const char *p;
	size_t i;

	pgflo_buf_putc(b, '{');
	for (i = 0; i < s->n; i++) {
		if (i > 0)
			pgflo_buf_putc(b, ',');
		pgflo_buf_putc(b, '"');
		for (p = s->v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				pgflo_buf_putc(b, '\\');
			pgflo_buf_putc(b, *p);
		}
		pgflo_buf_putc(b, '"');
	}
	pgflo_buf_putc(b, '}');
	pgflo_buf_cstr(b);
}

static void
rmtmp(void)
{
	static const char *const files[] = { "tables.dump", "types.dump",
	    "list", NULL };
	char path[sizeof(tmpdir) + 32];
	int i;

	if (!have_tmpdir)
		return;
	for (i = 0; files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(tmpdir);
	have_tmpdir = 0;
}

/* Cleans up and exits with status, or dies of the stop signal. */
static void PGFLO_NORETURN
finish(int status)
{
	int sig = pgflo_stop_signal;

	rmtmp();
	PQfinish(src);
	PQfinish(dst);
	src = dst = NULL;
	if (sig != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	exit(status);
}

static void PGFLO_PRINTF(2, 3) PGFLO_NORETURN
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pgflo_vwarnx(fmt, ap);
	va_end(ap);
	finish(status);
}

/* The status for a failure on conn: a lost server is 3. */
static int
failstatus(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_OK ? PGFLO_EXIT_FAIL :
	    PGFLO_EXIT_UNAVAIL;
}

static void
check_stop(void)
{
	if (pgflo_stopping())
		finish(PGFLO_EXIT_FAIL);
}

static PGresult *
query(PGconn *conn, const char *sql, int n, const char *const *params,
    const char *what)
{
	PGresult *res;

	if ((res = pgflo_pg_queryv(conn, sql, n, params, what, errbuf,
	    sizeof(errbuf))) == NULL)
		die(failstatus(conn), "%s: %s", conn == src ? "source" :
		    "target", errbuf);
	return res;
}

/* The server's warnings, not its notices ("... already exists, skipping"). */
static void
notice(void *arg, const PGresult *res)
{
	const char *sev, *msg;

	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (sev != NULL && msg != NULL && strcmp(sev, "WARNING") == 0)
		pgflo_warnx("%s: warning: %s", (const char *)arg, msg);
}

static PGconn *
connect_or_die(const char *conninfo, const char *which)
{
	PGconn *conn;

	if ((conn = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		die(pgflo_pg_connect_status(), "%s: could not connect: %s",
		    which, errbuf);
	PQsetNoticeReceiver(conn, notice, (void *)which);
	return conn;
}

/* ---- what the tables need, from the source's catalog ---- */

/* The tables, and the partitions of partitioned ones, as OIDs and names. */
static const char tables_sql[] =
    "WITH s AS (SELECT format('%I.%I', u.s, u.t)::regclass AS r "
    "FROM unnest($1::text[], $2::text[]) u(s, t)), "
    "a AS (SELECT r FROM s UNION SELECT p.relid FROM s, "
    "pg_catalog.pg_partition_tree(s.r) p) "
    "SELECT c.oid, format('%I.%I', n.nspname, c.relname) "
    "FROM a JOIN pg_catalog.pg_class c ON c.oid = a.r "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY 2";

/*
 * Everything the tables depend on: from each object, what it refers to
 * (any dependency) and its own parts (auto and internal dependents: a
 * table's defaults, constraints, indexes; a domain's constraints), over
 * and over.  The walk stops at schemas, at members of an extension (the
 * extension is needed instead) and at relations other than the tables,
 * their indexes, sequences and composite types.  Objects made by initdb
 * are below 16384.
 */
static const char need_sql[] =
    "WITH RECURSIVE sel(oid) AS (SELECT unnest($1::oid[])), "
    "o(cls, oid, ext) AS ("
    " SELECT 'pg_catalog.pg_class'::regclass::oid, oid, NULL::oid FROM sel"
    " UNION"
    " SELECT x.c, x.o, (SELECT e.refobjid FROM pg_catalog.pg_depend e"
    "  WHERE e.classid = x.c AND e.objid = x.o AND e.deptype = 'e' LIMIT 1)"
    " FROM o, LATERAL ("
    "  SELECT d.refclassid AS c, d.refobjid AS o FROM pg_catalog.pg_depend d"
    "  WHERE d.classid = o.cls AND d.objid = o.oid"
    "  AND d.deptype IN ('n', 'a', 'i')"
    "  UNION ALL"
    "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d"
    "  WHERE d.refclassid = o.cls AND d.refobjid = o.oid"
    "  AND d.deptype IN ('a', 'i')) x"
    " WHERE o.ext IS NULL AND x.o >= 16384"
    " AND x.c NOT IN ('pg_catalog.pg_namespace'::regclass,"
    "  'pg_catalog.pg_extension'::regclass)"
    " AND (x.c <> 'pg_catalog.pg_class'::regclass OR EXISTS ("
    "  SELECT FROM pg_catalog.pg_class r WHERE r.oid = x.o AND"
    "  (r.relkind IN ('S', 'c') OR r.oid IN (SELECT oid FROM sel) OR"
    "  r.relkind = 'i' AND EXISTS (SELECT FROM pg_catalog.pg_index i"
    "  WHERE i.indexrelid = r.oid AND i.indrelid IN (SELECT oid FROM sel))"
    "  ))))"
    "SELECT o.cls, o.oid, (pg_catalog.pg_identify_object(o.cls, o.oid, 0))"
    ".schema, (SELECT format('%I', e.extname) FROM pg_catalog.pg_extension e"
    " WHERE e.oid = o.ext), (SELECT format('%I', n.nspname)"
    " FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n"
    " ON n.oid = e.extnamespace WHERE e.oid = o.ext),"
    " CASE WHEN o.cls = 'pg_catalog.pg_class'::regclass THEN"
    " (SELECT CASE WHEN r.relkind = 'S' THEN format('%I.%I', n.nspname,"
    " r.relname) END FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n"
    " ON n.oid = r.relnamespace WHERE r.oid = o.oid) END,"
    " o.cls IN ('pg_catalog.pg_proc'::regclass,"
    " 'pg_catalog.pg_collation'::regclass, 'pg_catalog.pg_operator'::regclass,"
    " 'pg_catalog.pg_opclass'::regclass, 'pg_catalog.pg_opfamily'::regclass,"
    " 'pg_catalog.pg_ts_config'::regclass, 'pg_catalog.pg_ts_dict'::regclass,"
    " 'pg_catalog.pg_conversion'::regclass) OR o.cls ="
    " 'pg_catalog.pg_type'::regclass AND EXISTS (SELECT FROM"
    " pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class r ON r.oid ="
    " t.typrelid WHERE t.oid = o.oid AND t.typcategory <> 'A' AND"
    " (r.oid IS NULL OR r.relkind = 'c'))"
    " FROM o ORDER BY 1, 2";

/* Foreign keys of the tables that refer to a table not selected. */
static const char fk_sql[] =
    "SELECT c.oid, format('%I', c.conname), format('%I.%I', n.nspname, "
    "r.relname), format('%I.%I', fn.nspname, f.relname) "
    "FROM pg_catalog.pg_constraint c "
    "JOIN pg_catalog.pg_class r ON r.oid = c.conrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace "
    "JOIN pg_catalog.pg_class f ON f.oid = c.confrelid "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace "
    "WHERE c.contype = 'f' AND c.conrelid = ANY ($1::oid[]) "
    "AND NOT c.confrelid = ANY ($1::oid[]) ORDER BY 3, 2";

static void
resolve_tables(void)
{
	struct pgflo_tables tl;
	struct strs s = { 0 }, t = { 0 };
	struct pgflo_buf a = { 0 }, b = { 0 };
	const char *params[2];
	PGresult *res;
	size_t i;
	int r;

	if (pgflo_tables_resolve(src, tablepats, &tl, errbuf,
	    sizeof(errbuf)) == -1)
		die(failstatus(src), "source: %s", errbuf);
	for (i = 0; i < tl.n; i++) {
		s.v = pgflo_xrealloc(s.v, (s.n + 1) * sizeof(char *));
		s.v[s.n++] = pgflo_xstrdup(tl.schema[i]);
		t.v = pgflo_xrealloc(t.v, (t.n + 1) * sizeof(char *));
		t.v[t.n++] = pgflo_xstrdup(tl.name[i]);
	}
	pgflo_tables_free(&tl);
	array_literal(&a, &s);
	array_literal(&b, &t);
	params[0] = a.data;
	params[1] = b.data;
	res = query(src, tables_sql, 2, params, "could not list the tables");
	for (r = 0; r < PQntuples(res); r++) {
		strs_add(&tableoids, PQgetvalue(res, r, 0));
		strs_add(&tables, PQgetvalue(res, r, 1));
	}
	PQclear(res);
	strs_free(&s);
	strs_free(&t);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
}

static void
resolve_needs(void)
{
	struct pgflo_buf a = { 0 }, b = { 0 };
	const char *param;
	PGresult *res;
	int r;

	array_literal(&a, &tableoids);
	param = a.data;
	res = query(src, need_sql, 1, &param,
	    "could not read the tables' dependencies");
	for (r = 0; r < PQntuples(res); r++) {
		if (!PQgetisnull(res, r, 3)) {
			pgflo_buf_reset(&b);
			pgflo_buf_printf(&b, "%s WITH SCHEMA %s",
			    PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
			strs_add(&exts, b.data);
			strs_add(&schemas, PQgetvalue(res, r, 4));
			continue;
		}
		objs_add(&need, (unsigned)strtoul(PQgetvalue(res, r, 0), NULL,
		    10), (unsigned)strtoul(PQgetvalue(res, r, 1), NULL, 10));
		if (!PQgetisnull(res, r, 2))
			strs_add(&schemas, PQgetvalue(res, r, 2));
		if (!PQgetisnull(res, r, 5))
			strs_add(&seqs, PQgetvalue(res, r, 5));
		if (strcmp(PQgetvalue(res, r, 6), "t") == 0 &&
		    !PQgetisnull(res, r, 2))
			strs_add(&typeschemas, PQgetvalue(res, r, 2));
	}
	PQclear(res);
	res = query(src, fk_sql, 1, &param, "could not read foreign keys");
	for (r = 0; r < PQntuples(res); r++) {
		objs_add(&skipfk, 2606, (unsigned)strtoul(PQgetvalue(res, r,
		    0), NULL, 10));
		if (sections & SEC_POST)
			pgflo_warnx("warning: skipping foreign key %s of %s: "
			    "it refers to %s, which is not selected",
			    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
			    PQgetvalue(res, r, 3));
	}
	PQclear(res);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
}

/* ---- pg_dump and pg_restore ---- */

static struct pgflo_buf safe_src;	/* the source's conninfo, no password */
static char *src_password;
static char *pg_dump, *pg_restore;

static void
run(struct strs *argv, struct pgflo_buf *out)
{
	int status;

	argv->v = pgflo_xrealloc(argv->v, (argv->n + 1) * sizeof(char *));
	argv->v[argv->n] = NULL;
	if (pgflo_pgprog_run(argv->v, src_password, out, &status, errbuf,
	    sizeof(errbuf)) == -1) {
		check_stop();
		die(status, "%s", errbuf);
	}
	check_stop();
}

/* argv add, duplicates allowed (strs_add keeps one of each). */
static void
arg(struct strs *a, const char *s)
{
	a->v = pgflo_xrealloc(a->v, (a->n + 2) * sizeof(char *));
	a->v[a->n++] = pgflo_xstrdup(s);
}

static void
args2(struct strs *a, const char *opt, const char *val)
{
	arg(a, opt);
	arg(a, val);
}

static void
tmppath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/*
 * Dumps the schema of the tables and sequences (types 0) or of the
 * schemas holding the types and functions, without their tables (1),
 * into an archive in the temporary directory.
 */
static void
dump(int types, const char *name)
{
	struct strs a = { 0 };
	struct pgflo_buf b = { 0 };
	char path[sizeof(tmpdir) + 32];
	size_t i;

	tmppath(path, sizeof(path), name);
	arg(&a, pg_dump);
	args2(&a, "-d", safe_src.data);
	arg(&a, "--schema-only");
	arg(&a, "--format=custom");
	args2(&a, "-f", path);
	if (types) {
		/* Patterns: quote_ident() names match exactly in psql's. */
		for (i = 0; i < typeschemas.n; i++) {
			args2(&a, "-n", typeschemas.v[i]);
			pgflo_buf_reset(&b);
			pgflo_buf_printf(&b, "%s.*", typeschemas.v[i]);
			args2(&a, "-T", b.data);
		}
	} else {
		for (i = 0; i < tables.n; i++)
			args2(&a, "-t", tables.v[i]);
		for (i = 0; i < seqs.n; i++)
			args2(&a, "-t", seqs.v[i]);
	}
	run(&a, NULL);
	strs_free(&a);
	pgflo_buf_free(&b);
}

/* A TOC entry of pg_restore -l: "ID; CLASS OID DESC NAMESPACE TAG OWNER". */
struct entry {
	char	*line;
	unsigned cls, oid;
	int	 keep;
};

struct toc {
	struct entry *v;
	size_t	 n;
};

static void
toc_free(struct toc *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].line);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void
toc_read(const char *archive, struct toc *t)
{
	struct strs a = { 0 };
	struct pgflo_buf out = { 0 };
	char path[sizeof(tmpdir) + 32], *line, *nl;
	unsigned id, cls, oid;

	tmppath(path, sizeof(path), archive);
	arg(&a, pg_restore);
	arg(&a, "-l");
	arg(&a, path);
	run(&a, &out);
	strs_free(&a);
	for (line = pgflo_buf_cstr(&out); *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		if (*line != ';' && sscanf(line, "%u; %u %u", &id, &cls,
		    &oid) == 3) {
			t->v = pgflo_xrealloc(t->v, (t->n + 1) *
			    sizeof(*t->v));
			t->v[t->n].line = pgflo_xmalloc((size_t)(nl - line) +
			    1);
			memcpy(t->v[t->n].line, line, (size_t)(nl - line));
			t->v[t->n].line[nl - line] = '\0';
			t->v[t->n].cls = cls;
			t->v[t->n].oid = oid;
			t->v[t->n++].keep = 1;
		}
		if (*nl == '\0')
			break;
	}
	pgflo_buf_free(&out);
}

/*
 * --if-missing: drops the entries whose object exists on the target.
 * The source names each object as pg_get_object_address() takes it;
 * the target answers whether that address resolves.
 */
static void
toc_drop_existing(struct toc *t)
{
	static const char addr_sql[] =
	    "SELECT a.type, a.object_names::text, a.object_args::text "
	    "FROM unnest($1::oid[], $2::oid[]) WITH ORDINALITY u(c, o, n), "
	    "pg_catalog.pg_identify_object_as_address(u.c, u.o, 0) a "
	    "ORDER BY u.n";
	struct strs cs = { 0 }, os = { 0 };
	struct pgflo_buf a = { 0 }, b = { 0 };
	char num[16];
	const char *params[3];
	PGresult *res, *r2;
	size_t i, k;

	for (i = 0; i < t->n; i++)
		if (t->v[i].keep && t->v[i].cls != 0) {
			snprintf(num, sizeof(num), "%u", t->v[i].cls);
			arg(&cs, num);
			snprintf(num, sizeof(num), "%u", t->v[i].oid);
			arg(&os, num);
		}
	if (cs.n == 0)
		return;
	array_literal(&a, &cs);
	array_literal(&b, &os);
	params[0] = a.data;
	params[1] = b.data;
	res = query(src, addr_sql, 2, params, "could not name the objects");
	for (i = k = 0; i < t->n; i++) {
		if (!t->v[i].keep || t->v[i].cls == 0)
			continue;
		params[0] = PQgetvalue(res, (int)k, 0);
		params[1] = PQgetvalue(res, (int)k, 1);
		params[2] = PQgetvalue(res, (int)k++, 2);
		r2 = PQexecParams(dst, "SELECT pg_catalog.pg_get_object_address("
		    "$1, $2::text[], $3::text[])", 3, NULL, params, NULL,
		    NULL, 0);
		if (PQresultStatus(r2) == PGRES_TUPLES_OK)
			t->v[i].keep = 0;
		else if (PQstatus(dst) != CONNECTION_OK)
			die(PGFLO_EXIT_UNAVAIL, "target: %s",
			    pgflo_pg_errmsg(dst));
		PQclear(r2);
	}
	PQclear(res);
	strs_free(&cs);
	strs_free(&os);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
}

/*
 * The SQL of the kept entries of archive (section NULL: all), appended
 * to out, by pg_restore -L, which restores in the order of the list.
 */
static void
toc_restore(const struct toc *t, const char *archive, const char *section,
    struct pgflo_buf *out)
{
	struct strs a = { 0 };
	char path[sizeof(tmpdir) + 32], list[sizeof(tmpdir) + 32];
	FILE *f;
	size_t i;

	tmppath(list, sizeof(list), "list");
	if ((f = fopen(list, "w")) == NULL)
		die(PGFLO_EXIT_FAIL, "%s: %s", list, strerror(errno));
	for (i = 0; i < t->n; i++)
		if (t->v[i].keep)
			fprintf(f, "%s\n", t->v[i].line);
	if (ferror(f) || fclose(f) != 0)
		die(PGFLO_EXIT_FAIL, "%s: write error", list);
	tmppath(path, sizeof(path), archive);
	arg(&a, pg_restore);
	args2(&a, "-L", list);
	if (section != NULL)
		args2(&a, "--section", section);
	arg(&a, "--no-owner");
	arg(&a, "--no-privileges");
	arg(&a, "--no-tablespaces");
	arg(&a, "--no-security-labels");
	arg(&a, "--no-publications");
	arg(&a, "--no-subscriptions");
	args2(&a, "-f", "-");
	arg(&a, path);
	run(&a, out);
	strs_free(&a);
}

/* ---- the script ---- */

static struct pgflo_buf sql;	/* what runs on the target, or is printed */

/* An entry of our own, under a header of pg_restore's shape. */
static void
own_entry(const char *name, const char *type, const char *stmt)
{
	pgflo_buf_printf(&sql, "\n--\n-- Name: %s; Type: %s; Schema: -; "
	    "Owner: -\n--\n\n%s\n", name, type, stmt);
}

/*
 * Appends pg_restore's script without its psql-only lines (\restrict
 * and \unrestrict, which guard against a hostile dump read by psql):
 * we send it through libpq, and our --dry-run prints what we send.
 */
static void
add_script(struct pgflo_buf *s)
{
	char *line, *nl;

	for (line = pgflo_buf_cstr(s); *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		if (strncmp(line, "\\restrict ", 10) != 0 &&
		    strncmp(line, "\\unrestrict ", 12) != 0) {
			pgflo_buf_putn(&sql, line, (size_t)(nl - line));
			pgflo_buf_putc(&sql, '\n');
		}
		if (*nl == '\0')
			break;
	}
}

/* 1 when the target lacks schema (quoted), or when there is no target. */
static int
schema_missing(const char *schema)
{
	PGresult *res;
	int r;

	if (dst == NULL)
		return 1;
	res = query(dst, "SELECT pg_catalog.to_regnamespace($1) IS NULL", 1,
	    &schema, "could not look up a schema");
	r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return r;
}

/* The same for an extension ("name WITH SCHEMA schema"). */
static int
ext_missing(const char *ext)
{
	PGresult *res;
	int r;

	if (dst == NULL)
		return 1;
	res = query(dst, "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension "
	    "WHERE format('%I', extname) = split_part($1, ' ', 1))", 1, &ext,
	    "could not look up an extension");
	r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return r;
}

/* The schemas and extensions, which pg_dump -t and -n leave out. */
static void
add_schemas(void)
{
	struct pgflo_buf b = { 0 };
	size_t i;

	for (i = 0; i < schemas.n; i++)
		if (schema_missing(schemas.v[i])) {
			pgflo_buf_reset(&b);
			pgflo_buf_printf(&b, "CREATE SCHEMA IF NOT EXISTS %s;",
			    schemas.v[i]);
			own_entry(schemas.v[i], "SCHEMA", b.data);
		}
	for (i = 0; i < exts.n; i++) {
		if (!ext_missing(exts.v[i]))
			continue;
		pgflo_buf_reset(&b);
		pgflo_buf_printf(&b, "CREATE EXTENSION IF NOT EXISTS %s;",
		    exts.v[i]);
		own_entry(exts.v[i], "EXTENSION", b.data);
	}
	pgflo_buf_free(&b);
}

/* One archive: dump, pick the entries, restore them as SQL. */
static void
add_archive(int types, const char *section)
{
	const char *name = types ? "types.dump" : "tables.dump";
	struct pgflo_buf out = { 0 };
	struct toc t = { 0 };
	size_t i, kept = 0;

	dump(types, name);
	toc_read(name, &t);
	for (i = 0; i < t.n; i++)
		t.v[i].keep = types ? objs_has(&need, t.v[i].cls, t.v[i].oid) :
		    !objs_has(&skipfk, t.v[i].cls, t.v[i].oid);
	if (ifmissing)
		toc_drop_existing(&t);
	for (i = 0; i < t.n; i++)
		kept += (size_t)t.v[i].keep;
	if (kept > 0) {
		toc_restore(&t, name, section, &out);
		add_script(&out);
	}
	toc_free(&t);
	pgflo_buf_free(&out);
}

/* setval() on the target for each sequence, at the source's value. */
static void
add_sequences(void)
{
	struct pgflo_buf q = { 0 }, b = { 0 };
	PGresult *res;
	size_t i;

	for (i = 0; i < seqs.n; i++) {
		pgflo_buf_reset(&q);
		pgflo_buf_printf(&q, "SELECT last_value, is_called FROM %s",
		    seqs.v[i]);
		res = query(src, q.data, 0, NULL, "could not read a sequence");
		pgflo_buf_reset(&b);
		pgflo_buf_puts(&b, "SELECT pg_catalog.setval(");
		pgflo_pg_quote_literal(&b, seqs.v[i]);
		pgflo_buf_printf(&b, ", %s, %s);", PQgetvalue(res, 0, 0),
		    strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "true" :
		    "false");
		PQclear(res);
		own_entry(seqs.v[i], "SEQUENCE SET", b.data);
	}
	pgflo_buf_free(&q);
	pgflo_buf_free(&b);
}

/* The object an entry of the script is about: its header, shortened. */
static void
entry_name(const char *chunk, char *buf, size_t len)
{
	const char *p, *e;

	if ((p = strstr(chunk, "-- Name: ")) == NULL) {
		snprintf(buf, len, "the script's settings");
		return;
	}
	p += 3;
	if ((e = strstr(p, "; Owner:")) == NULL && (e = strchr(p, '\n')) ==
	    NULL)
		e = p + strlen(p);
	snprintf(buf, len, "%.*s", (int)(e - p), p);
}

/* An error that says the object is there already. */
static int
duplicate(const PGresult *res)
{
	static const char *const codes[] = { "42P07", "42710", "42P06",
	    "42723", "42P16", NULL };
	const char *c = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int i;

	for (i = 0; c != NULL && codes[i] != NULL; i++)
		if (strcmp(c, codes[i]) == 0)
			return 1;
	return 0;
}

/* Runs chunk, one entry's statements; exits on an error. */
static void
run_chunk(char *chunk)
{
	char name[512];
	const char *msg;
	PGresult *res;

	res = PQexec(dst, chunk);
	if (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_EMPTY_QUERY) {
		PQclear(res);
		return;
	}
	entry_name(chunk, name, sizeof(name));
	msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
	    NULL;
	pgflo_warnx("target: %s (%s); nothing was changed%s", msg != NULL ?
	    msg : pgflo_pg_errmsg(dst), name, res != NULL && duplicate(res) ?
	    " (--if-missing skips objects that exist)" : "");
	PQclear(res);
	finish(failstatus(dst));
}

/*
 * Runs the script on the target in one transaction, entry by entry (at
 * each of pg_restore's "-- Name:" headers) so that an error names its
 * object.
 */
static void
apply(void)
{
	static const char hdr[] = "\n--\n-- Name: ";
	char *p, *next, save;

	run_chunk("BEGIN");
	for (p = pgflo_buf_cstr(&sql); *p != '\0'; p = next) {
		check_stop();
		if ((next = strstr(p + 1, hdr)) == NULL)
			next = p + strlen(p);
		save = *next;
		*next = '\0';
		run_chunk(p);
		*next = save;
	}
	run_chunk("COMMIT");
}

/* ---- main ---- */

static int
parse_section(const char *s)
{
	if (strcmp(s, "pre-data") == 0)
		return SEC_PRE;
	if (strcmp(s, "post-data") == 0)
		return SEC_POST | SEC_SEQ;
	if (strcmp(s, "sequences") == 0)
		return SEC_SEQ;
	if (strcmp(s, "all") == 0)
		return SEC_PRE | SEC_POST | SEC_SEQ;
	return -1;
}

static void
parse_args(int argc, char *argv[])
{
	int ch;

	bindir = pgflo_env("PG_BINDIR", NULL);
	while ((ch = getopt_long(argc, argv, "D:Vd:hnt:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'D':
			target = optarg;
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		case 'd':
			source = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'n':
			dryrun = 1;
			break;
		case 't':
			tablepats = optarg;
			break;
		case OPT_IF_MISSING:
			ifmissing = 1;
			break;
		case OPT_PG_BINDIR:
			bindir = optarg;
			break;
		case OPT_SECTION:
			if ((sections = parse_section(optarg)) == -1)
				pgflo_usage_error(SYNOPSIS, "bad section '%s' "
				    "(pre-data, post-data, sequences or all)",
				    optarg);
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument '%s'",
		    argv[optind]);
	if (source == NULL)
		pgflo_usage_error(SYNOPSIS, "-d is required");
	if (target == NULL && (!dryrun || ifmissing))
		pgflo_usage_error(SYNOPSIS, "-D is required%s", dryrun ?
		    " with --if-missing" : " (or --dry-run)");
	if (tablepats == NULL || *tablepats == '\0')
		pgflo_usage_error(SYNOPSIS, "-t is required");
	if (pgflo_pg_conninfo_ok(source, errbuf, sizeof(errbuf)) == -1 ||
	    (target != NULL && pgflo_pg_conninfo_ok(target, errbuf,
	    sizeof(errbuf)) == -1))
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
}

static void
free_all(void)
{
	strs_free(&tables);
	strs_free(&tableoids);
	strs_free(&seqs);
	strs_free(&schemas);
	strs_free(&typeschemas);
	strs_free(&exts);
	free(need.v);
	free(skipfk.v);
	pgflo_buf_free(&sql);
	pgflo_buf_free(&safe_src);
	free(src_password);
	free(pg_dump);
	free(pg_restore);
}

int
main(int argc, char *argv[])
{
	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_args(argc, argv);
	pgflo_catch_signals();

	src = connect_or_die(source, "source");
	if (target != NULL)
		dst = connect_or_die(target, "target");
	resolve_tables();
	resolve_needs();
	if (sections & (SEC_PRE | SEC_POST)) {
		if (pgflo_pgprog_conninfo(source, &safe_src, &src_password,
		    errbuf, sizeof(errbuf)) == -1)
			die(PGFLO_EXIT_USAGE, "%s", errbuf);
		pg_dump = pgflo_pgprog_path(bindir, "pg_dump");
		pg_restore = pgflo_pgprog_path(bindir, "pg_restore");
		if (mkdtemp(tmpdir) == NULL)
			die(PGFLO_EXIT_FAIL, "mkdtemp: %s", strerror(errno));
		have_tmpdir = 1;
	}
	if (sections & SEC_PRE) {
		add_schemas();
		if (typeschemas.n > 0)
			add_archive(1, NULL);
	}
	if (sections & (SEC_PRE | SEC_POST))
		add_archive(0, (sections & SEC_PRE) == 0 ? "post-data" :
		    (sections & SEC_POST) == 0 ? "pre-data" : NULL);
	if (sections & SEC_SEQ)
		add_sequences();
	check_stop();
	if (dryrun) {
		if (sql.len > 0 && fwrite(sql.data, 1, sql.len, stdout) !=
		    sql.len)
			die(PGFLO_EXIT_FAIL, "write error");
		if (ferror(stdout) || fclose(stdout) != 0)
			die(PGFLO_EXIT_FAIL, "write error");
	} else
		apply();
	free_all();
	finish(0);
}
