/*
 * pgflo-schema - copies the schema of a group of tables from the source
 * to the target: before the copy the types, sequences, tables and their
 * primary keys ("pre-data"), after it the other indexes and constraints
 * and the foreign keys ("post-data", as pg_restore orders them, so that
 * the copy loads faster and in any order), and the sequences' values.
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
#include "schemadeps.h"
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
#define PATHSZ	4096
static char tmpdir[PATHSZ];	/* $TMPDIR/pgflo-schema.XXXXXX, the archives */
static int have_tmpdir;

static struct pgflo_schemadeps deps;	/* what the tables need */

static void
help(void)
{
	printf(
"pgflo-schema copies the schema of tables from the source to the target:\n"
"their types, sequences, tables and primary keys before the copy\n"
"(pre-data); other indexes and constraints and the foreign keys after it\n"
"(post-data), and sequence values.\n"
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
"Environment: PGFLO_PG_BINDIR, TMPDIR, libpq's PG* variables.\n"
"Exit status: 0 done, 1 a statement failed on the target (nothing\n"
"changed) or pg_dump failed, 2 usage, a refused login or no pg_dump,\n"
"3 a server unreachable, 130/143 killed by SIGINT/SIGTERM, 141 reader\n"
"gone (SIGPIPE).\n");
}

/* ---- small helpers ---- */

static void
rmtmp(void)
{
	static const char *const files[] = { "tables.dump", "types.dump",
	    "list", NULL };
	char path[PATHSZ + 32];
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

/* ---- what the tables need ---- */

static void
resolve(void)
{
	struct pgflo_tables tl;
	size_t i;

	if (pgflo_tables_resolve(src, tablepats, &tl, errbuf,
	    sizeof(errbuf)) == -1)
		die(failstatus(src), "source: %s", errbuf);
	if (pgflo_schemadeps_read(src, &tl, &deps, errbuf,
	    sizeof(errbuf)) == -1) {
		pgflo_tables_free(&tl);
		die(failstatus(src), "source: %s", errbuf);
	}
	pgflo_tables_free(&tl);
	for (i = 0; (sections & SEC_POST) && i < deps.skipfk_why.n; i++)
		pgflo_warnx("warning: skipping %s", deps.skipfk_why.v[i]);
}

/* ---- pg_dump and pg_restore ---- */

static struct pgflo_buf safe_src;	/* the source's conninfo, no password */
static char *src_password;
static char *pg_dump, *pg_restore;

static void
run(struct pgflo_strs *argv, struct pgflo_buf *out)
{
	int status;

	if (pgflo_pgprog_run(argv->v, src_password, out, &status, errbuf,
	    sizeof(errbuf)) == -1) {
		check_stop();
		die(status, "%s", errbuf);
	}
	check_stop();
}

static void
args2(struct pgflo_strs *a, const char *opt, const char *val)
{
	pgflo_strs_push(a, opt);
	pgflo_strs_push(a, val);
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
	struct pgflo_strs a = { 0 };
	struct pgflo_buf b = { 0 };
	char path[PATHSZ + 32];
	size_t i;

	tmppath(path, sizeof(path), name);
	pgflo_strs_push(&a, pg_dump);
	args2(&a, "-d", safe_src.data);
	pgflo_strs_push(&a, "--schema-only");
	pgflo_strs_push(&a, "--format=custom");
	args2(&a, "-f", path);
	if (types) {
		/* Patterns: quote_ident() names match exactly in psql's. */
		for (i = 0; i < deps.typeschemas.n; i++) {
			args2(&a, "-n", deps.typeschemas.v[i]);
			pgflo_buf_reset(&b);
			pgflo_buf_printf(&b, "%s.*", deps.typeschemas.v[i]);
			args2(&a, "-T", b.data);
		}
	} else {
		for (i = 0; i < deps.tables.n; i++)
			args2(&a, "-t", deps.tables.v[i]);
		for (i = 0; i < deps.seqs.n; i++)
			args2(&a, "-t", deps.seqs.v[i]);
	}
	run(&a, NULL);
	pgflo_strs_free(&a);
	pgflo_buf_free(&b);
}

/*
 * --if-missing: drops the entries whose object exists on the target.
 * The source names each object as pg_get_object_address() takes it;
 * the target answers whether that address resolves.
 */
static void
toc_drop_existing(struct pgflo_toc *t)
{
	static const char addr_sql[] =
	    "SELECT a.type, a.object_names::text, a.object_args::text "
	    "FROM unnest($1::oid[], $2::oid[]) WITH ORDINALITY u(c, o, n), "
	    "pg_catalog.pg_identify_object_as_address(u.c, u.o, 0) a "
	    "ORDER BY u.n";
	struct pgflo_strs cs = { 0 }, os = { 0 };
	struct pgflo_buf a = { 0 }, b = { 0 };
	char num[16];
	const char *params[3];
	PGresult *res, *r2;
	size_t i, k;

	for (i = 0; i < t->n; i++)
		if (t->v[i].keep && t->v[i].cls != 0) {
			snprintf(num, sizeof(num), "%u", t->v[i].cls);
			pgflo_strs_push(&cs, num);
			snprintf(num, sizeof(num), "%u", t->v[i].oid);
			pgflo_strs_push(&os, num);
		}
	if (cs.n == 0)
		return;
	pgflo_array_literal(&a, &cs);
	pgflo_array_literal(&b, &os);
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
	pgflo_strs_free(&cs);
	pgflo_strs_free(&os);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
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

	for (i = 0; i < deps.schemas.n; i++)
		if (schema_missing(deps.schemas.v[i])) {
			pgflo_buf_reset(&b);
			pgflo_buf_printf(&b, "CREATE SCHEMA IF NOT EXISTS %s;",
			    deps.schemas.v[i]);
			own_entry(deps.schemas.v[i], "SCHEMA", b.data);
		}
	for (i = 0; i < deps.exts.n; i++) {
		if (!ext_missing(deps.exts.v[i]))
			continue;
		pgflo_buf_reset(&b);
		pgflo_buf_printf(&b, "CREATE EXTENSION IF NOT EXISTS %s;",
		    deps.exts.v[i]);
		own_entry(deps.exts.v[i], "EXTENSION", b.data);
	}
	pgflo_buf_free(&b);
}

/* The SQL of the kept entries of archive in section (NULL: all). */
static void
restore(const struct pgflo_toc *t, const char *archive, const char *section)
{
	char path[PATHSZ + 32], list[PATHSZ + 32];
	size_t i, kept = 0;
	int status;

	for (i = 0; i < t->n; i++)
		kept += (size_t)t->v[i].keep;
	if (kept == 0)
		return;
	tmppath(path, sizeof(path), archive);
	tmppath(list, sizeof(list), "list");
	if (pgflo_toc_restore(pg_restore, t, path, list, section, &sql,
	    &status, errbuf, sizeof(errbuf)) == -1) {
		check_stop();
		die(status, "%s", errbuf);
	}
	check_stop();
}

/*
 * One archive: dump, pick the entries, restore them as SQL.  The
 * primary keys go with pre-data, not post-data as pg_restore has them:
 * the copy and the stream upsert on them, so that a copy run again and
 * a stream replayed write no row twice.
 */
static void
add_archive(int types)
{
	const char *name = types ? "types.dump" : "tables.dump";
	char path[PATHSZ + 32];
	struct pgflo_toc t;
	size_t i;
	int status, pk;

	dump(types, name);
	tmppath(path, sizeof(path), name);
	if (pgflo_toc_read(pg_restore, path, &t, &status, errbuf,
	    sizeof(errbuf)) == -1) {
		check_stop();
		die(status, "%s", errbuf);
	}
	for (i = 0; i < t.n; i++)
		t.v[i].keep = types ? pgflo_objs_has(&deps.need, t.v[i].cls, t.v[i].oid) :
		    !pgflo_objs_has(&deps.skipfk, t.v[i].cls, t.v[i].oid);
	if (ifmissing)
		toc_drop_existing(&t);
	if (types)
		pgflo_toc_keep_comments(&t);
	if (types)
		restore(&t, name, "pre-data");
	else if ((sections & (SEC_PRE | SEC_POST)) == (SEC_PRE | SEC_POST))
		restore(&t, name, NULL);
	else if (sections & SEC_PRE) {
		restore(&t, name, "pre-data");
		for (i = 0; i < t.n; i++)
			t.v[i].keep &= pgflo_objs_has(&deps.pkeys, t.v[i].cls,
			    t.v[i].oid);
		restore(&t, name, "post-data");
	} else {
		for (i = 0; i < t.n; i++) {
			pk = pgflo_objs_has(&deps.pkeys, t.v[i].cls, t.v[i].oid);
			t.v[i].keep &= !pk;
		}
		restore(&t, name, "post-data");
	}
	pgflo_toc_free(&t);
}

/* setval() on the target for each sequence, at the source's value. */
static void
add_sequences(void)
{
	struct pgflo_buf q = { 0 }, b = { 0 };
	PGresult *res;
	size_t i;

	for (i = 0; i < deps.seqs.n; i++) {
		pgflo_buf_reset(&q);
		pgflo_buf_printf(&q, "SELECT last_value, is_called FROM %s",
		    deps.seqs.v[i]);
		res = query(src, q.data, 0, NULL, "could not read a sequence");
		pgflo_buf_reset(&b);
		pgflo_buf_puts(&b, "SELECT pg_catalog.setval(");
		pgflo_pg_quote_literal(&b, deps.seqs.v[i]);
		pgflo_buf_printf(&b, ", %s, %s);", PQgetvalue(res, 0, 0),
		    strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "true" :
		    "false");
		PQclear(res);
		own_entry(deps.seqs.v[i], "SEQUENCE SET", b.data);
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
	pgflo_schemadeps_free(&deps);
	pgflo_buf_free(&sql);
	pgflo_buf_free(&safe_src);
	free(src_password);
	free(pg_dump);
	free(pg_restore);
}

int
main(int argc, char *argv[])
{
	const char *tmp;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_args(argc, argv);
	pgflo_catch_signals();

	src = connect_or_die(source, "source");
	if (target != NULL)
		dst = connect_or_die(target, "target");
	resolve();
	if (sections & (SEC_PRE | SEC_POST)) {
		if (pgflo_pgprog_conninfo(source, &safe_src, &src_password,
		    errbuf, sizeof(errbuf)) == -1)
			die(PGFLO_EXIT_USAGE, "%s", errbuf);
		pg_dump = pgflo_pgprog_path(bindir, "pg_dump");
		pg_restore = pgflo_pgprog_path(bindir, "pg_restore");
		tmp = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/pgflo-schema.XXXXXX",
		    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
		if (mkdtemp(tmpdir) == NULL)
			die(PGFLO_EXIT_FAIL, "%s: %s", tmpdir, strerror(errno));
		have_tmpdir = 1;
	}
	if (sections & SEC_PRE) {
		add_schemas();
		if (deps.typeschemas.n > 0)
			add_archive(1);
	}
	if (sections & (SEC_PRE | SEC_POST))
		add_archive(0);
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
