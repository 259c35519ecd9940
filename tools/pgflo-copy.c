/*
 * pgflo-copy - the initial copy of a group of tables, handing over to a
 * logical replication slot.
 *
 * Creates the slot with an exported snapshot and plans the copy inside
 * it; then -j worker threads, each on its own connection inside that
 * snapshot, copy the tables in chunks of physical pages (ctid ranges)
 * with COPY ... TO STDOUT in text format (snapcopy.c).  Each row becomes
 * one insert record with "snapshot":true, each table is framed by
 * snapshot begin/end records (pgflo-record(5)).  pgflo-capture on the
 * slot then starts exactly at the consistent point of the snapshot.
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
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "copyprog.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "output.h"
#include "pg2json.h"
#include "pgconn.h"
#include "publication.h"
#include "relmeta.h"
#include "repl.h"
#include "slot.h"
#include "snapcopy.h"
#include "store.h"
#include "tablepat.h"
#include "typecache.h"

#define SYNOPSIS \
	"pgflo-copy [-p] [-c store] [-j jobs] [-P publication]\n" \
	"       [--chunk-pages n] [--metrics file] [--no-progress] " \
	"[--reuse-slot]\n" \
	"       [--publish-inserts-only | --replica-identity-full]\n" \
	"       -d conninfo -S slot -t tables\n" \
	"       pgflo-copy [-p] [-j jobs] --no-slot -d conninfo -t tables"

#define DEFAULT_JOBS	4
#define DEFAULT_CHUNK	1024	/* pages: 8 MB with 8 kB blocks */

enum {
	OPT_CHUNK_PAGES = 256, OPT_METRICS, OPT_NO_PROGRESS, OPT_NO_SLOT, OPT_REUSE_SLOT,
	OPT_INSERTS_ONLY, OPT_RI_FULL
};

static const struct option longopts[] = {
	{ "checkpoint",		required_argument, NULL, 'c' },
	{ "chunk-pages",	required_argument, NULL, OPT_CHUNK_PAGES },
	{ "dbname",		required_argument, NULL, 'd' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "jobs",		required_argument, NULL, 'j' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
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
static const char *metricsfile;
static struct pgflo_metrics metrics;
static int pubflags;		/* PGFLO_PUB_* */

static char errbuf[1024];

static struct pgflo_snaptable *tables;	/* the plan */
static size_t ntables;
static struct pgflo_snapcopy sc;	/* the copy of the plan */

static PGconn *repl;		/* holds the slot's snapshot while we copy */
static char lsntext[PGFLO_LSN_BUFSZ];	/* where the slot's stream starts */
static int rerun;		/* the slot exists: copy again what is missing */
static int have_lsn;

/* The checkpoint store, and the progress it held at the start. */
static struct pgflo_store *store;
static struct pgflo_copyprog prog;
static char snaplsn[PGFLO_LSN_BUFSZ];	/* this run's snapshot point */
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
"      --metrics=FILE        keep Prometheus metrics in FILE (every 5s)\n"
"      --no-slot             a consistent copy only: no slot, no publication\n"
"      --reuse-slot          copy again when the slot already exists\n"
"      --replica-identity-full  give tables without a key REPLICA IDENTITY\n"
"                            FULL (alters them) rather than refuse them\n"
"      --publish-inserts-only  publish only inserts and truncates, so that\n"
"                            tables without a key may join\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_JOBS, PGFLO_FLUSH, PGFLO_METRICS, libpq's PG* variables.\n"
"Exit status: 0 ok, 1 failure, 2 usage or login refused, 3 server unreachable,\n"
"130/143 stopped by SIGINT/SIGTERM before the copy was complete, 141 reader\n"
"gone (SIGPIPE).\n",
	    DEFAULT_JOBS, DEFAULT_CHUNK);
}

/* ---- planning ---- */

static PGresult *
query(PGconn *conn, const char *sql, int nparams, const char *const *params,
    const char *what)
{
	PGresult *res;

	if ((res = pgflo_pg_queryv(conn, sql, nparams, params, what, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(PQstatus(conn) != CONNECTION_OK ?
		    PGFLO_EXIT_UNAVAIL : PGFLO_EXIT_FAIL, "%s", errbuf);
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
		struct pgflo_snaptable *t;

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
 * The columns pgoutput would send, with its key (relmeta.c), and the
 * record up to the first value, as pgflo-capture writes it.
 */
static void
plan_columns(PGconn *cat, struct pgflo_typecache *tc, struct pgflo_snaptable *t)
{
	/* Keyed: a primary key or identity index, so that upserts converge. */
	static const char keysql[] =
	    "SELECT c.relreplident <> 'f' AND EXISTS (SELECT 1 FROM "
	    "pg_catalog.pg_index i WHERE i.indrelid = c.oid AND "
	    "CASE c.relreplident WHEN 'i' THEN i.indisreplident "
	    "ELSE i.indisprimary END), "
	    "coalesce(pg_catalog.pg_relation_filenode(c.oid), 0) "
	    "FROM pg_catalog.pg_class c WHERE c.oid = $1::oid";
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;
	const char *params[1];
	char oid[16];
	PGresult *res;
	int i;

	if ((t->rm = pgflo_relmeta_load(cat, tc, t->oid, t->schema, t->name,
	    errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PQstatus(cat) != CONNECTION_OK ? PGFLO_EXIT_UNAVAIL :
		    PGFLO_EXIT_FAIL, "%s", errbuf);
	for (i = 0; i < t->rm->ncols; i++) {
		if (i > 0)
			pgflo_buf_puts(&b, ", ");
		pgflo_pg_quote_ident(&b, t->rm->cols[i].name);
	}
	t->select = pgflo_xstrdup(b.len > 0 ? pgflo_buf_cstr(&b) : "");
	snprintf(oid, sizeof(oid), "%u", t->oid);
	params[0] = oid;
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

	pgflo_buf_reset(&b);
	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "op");
	pgflo_jw_str(&w, "insert");
	pgflo_jw_raw(&w, t->rm->head, t->rm->headlen);
	pgflo_jw_key(&w, "snapshot");
	pgflo_jw_bool(&w, 1);
	pgflo_jw_raw(&w, t->rm->meta, t->rm->metalen);
	pgflo_jw_key(&w, "new");
	pgflo_buf_putc(&b, '{');
	t->prefix = pgflo_xstrdup(pgflo_buf_cstr(&b));
	t->prefixlen = b.len;
	pgflo_buf_free(&b);
}

/* ---- output ---- */

/* ---- progress ---- */

/* ---- resuming ---- */

static void
free_table(struct pgflo_snaptable *t)
{
	pgflo_relmeta_free(t->rm);
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
		pgflo_errx(pgflo_store_status(store), "%s", errbuf);
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
was_held(const struct pgflo_snaptable *t)
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
		struct pgflo_snaptable *t = &tables[i];
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
			pgflo_errx(pgflo_store_status(store), "%s", errbuf);
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
			pgflo_snapcopy_marker(&b, &tables[i], "reset", 0);
	if (b.len > 0) {
		if (pgflo_snapcopy_write(&b) == -1 || pgflo_out_flush(0) == -1)
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
	pgflo_metrics_close(&metrics);
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
}

/* ---- setup ---- */

/* A normal connection whose session prints values as pg2json.c expects. */
static PGconn *
connect_or_die(void)
{
	PGconn *conn;
	PGresult *res;

	if ((conn = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	if ((res = pgflo_pg_exec(conn, pgflo_pg_session_sql,
	    PGRES_COMMAND_OK, errbuf, sizeof(errbuf))) == NULL) {
		PQfinish(conn);
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	}
	PQclear(res);
	return conn;
}

/* Joins the copy's snapshot on conn, or exits. */
static void
import_snapshot(PGconn *conn, const char *snapname)
{
	if (pgflo_repl_import_snapshot(conn, snapname, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_errx(PQstatus(conn) != CONNECTION_OK ?
		    PGFLO_EXIT_UNAVAIL : PGFLO_EXIT_FAIL, "%s", errbuf);
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

/* Options that need or exclude each other. */
static void
check_args(int argc, char *argv[])
{
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument '%s'",
		    argv[optind]);
	if (conninfo == NULL)
		pgflo_usage_error(SYNOPSIS, "-d is required");
	if (pgflo_pg_conninfo_ok(conninfo, errbuf, sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
	if (tablepats == NULL || *tablepats == '\0')
		pgflo_usage_error(SYNOPSIS, "-t is required");
	if (noslot && (slot != NULL || pubname != NULL || cpurl != NULL ||
	    reuse_slot))
		pgflo_usage_error(SYNOPSIS, "--no-slot excludes -S, -P, -c and "
		    "--reuse-slot");
	if (!noslot && slot == NULL)
		pgflo_usage_error(SYNOPSIS, "-S is required (or --no-slot)");
	if (!noslot && !pgflo_slot_name_ok(slot))
		pgflo_usage_error(SYNOPSIS, "bad slot name '%s' (a-z, 0-9, _; "
		    "at most 63)", slot);
	if (noslot && pubflags != 0)
		pgflo_usage_error(SYNOPSIS, "--no-slot makes no publication: "
		    "--publish-inserts-only and --replica-identity-full do not "
		    "apply");
	if (pubflags == (PGFLO_PUB_INSERTS_ONLY | PGFLO_PUB_RI_FULL))
		pgflo_usage_error(SYNOPSIS, "--publish-inserts-only and "
		    "--replica-identity-full exclude each other");
	if (pubname == NULL)
		pubname = slot;
	if (cpurl != NULL && (store = pgflo_store_open(cpurl, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
}

static void
parse_args(int argc, char *argv[])
{
	const char *env;
	int ch;

	if ((env = pgflo_env("JOBS", NULL)) != NULL &&
	    pgflo_parse_long(env, 1, 64, &jobs) == -1)
		pgflo_usage_error(SYNOPSIS, "bad PGFLO_JOBS '%s'", env);
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
			if (pgflo_parse_long(optarg, 1, 64, &jobs) == -1)
				pgflo_usage_error(SYNOPSIS, "bad job count "
				    "'%s' (1 to 64)", optarg);
			break;
		case 'p':
			progress = 1;
			break;
		case 't':
			tablepats = optarg;
			break;
		case OPT_CHUNK_PAGES:
			if (pgflo_parse_long(optarg, 1, 1L << 30,
			    &chunk_pages) == -1)
				pgflo_usage_error(SYNOPSIS, "bad page count "
				    "'%s'", optarg);
			break;
		case OPT_METRICS:
			metricsfile = optarg;
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
	check_args(argc, argv);
}

/*
 * The slot and its publication; the snapshot the copy reads (*snapname,
 * new) and its point (*snap).  1 when the store shows the copy complete
 * already: nothing to do.
 */
static int
open_slot(PGconn *cat, struct pgflo_tables *tl, char **snapname,
    pgflo_lsn *snap)
{
	pgflo_lsn lsn = 0;
	int exists, r;

	exists = pgflo_slot_exists(cat, slot, &lsn, errbuf, sizeof(errbuf));
	if (exists == -1)
		pgflo_errx(PQstatus(cat) != CONNECTION_OK ? PGFLO_EXIT_UNAVAIL :
		    PGFLO_EXIT_FAIL, "%s", errbuf);
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
	if ((r = pgflo_pub_sync(cat, pubname, tl, pubflags, NULL,
	    errbuf, sizeof(errbuf))) < 0)
		pgflo_errx(r == -2 ? PGFLO_EXIT_USAGE :
		    PQstatus(cat) != CONNECTION_OK ? PGFLO_EXIT_UNAVAIL :
		    PGFLO_EXIT_FAIL, "%s", errbuf);
	if (exists && prog.done && !reuse_slot && !copy_needed(cat, tl)) {
		/* Run again after the copy: nothing to do. */
		if (progress)
			pgflo_warnx("slot \"%s\": the copy is complete "
			    "in %s", slot, cpurl);
		return 1;
	}
	if ((repl = pgflo_repl_connect(conninfo, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	rerun = exists;
	if (!exists) {
		r = pgflo_slot_create(repl, slot, "export", &lsn, snapname,
		    errbuf, sizeof(errbuf));
		*snap = lsn;
	} else {
		/*
		 * Again: a snapshot of its own, whose point tells which
		 * commits it holds; the stream still starts at the slot's
		 * confirmed position, lsn.
		 */
		char tmp[64];

		snprintf(tmp, sizeof(tmp), "pgflo_copy_%ld", (long)getpid());
		r = pgflo_slot_create_temporary(repl, tmp, snap, snapname,
		    errbuf, sizeof(errbuf));
	}
	if (r == -1)
		pgflo_errx(PQstatus(repl) == CONNECTION_OK ? PGFLO_EXIT_FAIL :
		    PGFLO_EXIT_UNAVAIL, "%s", errbuf);
	pgflo_lsn_format(lsn, lsntext);
	pgflo_lsn_format(*snap, snaplsn);
	have_lsn = 1;
	return 0;
}

/* Opens the snapshot's transaction on cat: the slot's, or a new one. */
static char *
begin_snapshot(PGconn *cat, char *snapname)
{
	PGresult *res;

	if (snapname != NULL) {
		import_snapshot(cat, snapname);
		return snapname;
	}
	exec_ok(cat, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    "could not begin");
	res = query(cat, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL,
	    "could not export a snapshot");
	snapname = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return snapname;
}

/* Plans inside the snapshot: tables, columns, what this run copies. */
static void
plan(PGconn *cat, struct pgflo_typecache *tc, const struct pgflo_tables *tl,
    pgflo_lsn snap)
{
	size_t i;

	sc.xmin = snapshot_xmin(cat);
	for (i = 0; i < tl->n; i++)
		plan_leaves(cat, tl->schema[i], tl->name[i]);
	for (i = 0; i < ntables; i++)
		plan_columns(cat, tc, &tables[i]);
	plan_resume(snap);
	sc.tables = tables;
	sc.ntables = ntables;
	sc.slot = have_lsn ? slot : NULL;
	sc.lsn = snaplsn;
	sc.progress = progress;
	sc.metrics = &metrics;
	metrics.last_lsn = have_lsn ? snap : 0;
	pgflo_snapcopy_plan(&sc);
	if (store != NULL && have_lsn)
		reset_tables();
}

/* The workers, each on its own connection in the snapshot. */
static void
start_workers(const char *snapname)
{
	static PGconn **conns;
	long w, n = pgflo_stopping() ? 0 : pgflo_snapcopy_workers(jobs);

	conns = pgflo_xmalloc(sizeof(*conns) * (size_t)(n + 1));
	for (w = 0; w < n; w++) {
		conns[w] = connect_or_die();
		import_snapshot(conns[w], snapname);
	}
	if (pgflo_snapcopy_start(conns, n) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "could not start a thread");
	free(conns);
	conns = NULL;
}

/* Stopped by a signal before the copy was complete: dies of it. */
static void
stopped(void)
{
	size_t i, left = 0;
	int sig;

	if ((sig = pgflo_stop_signal) == 0)
		return;
	for (i = 0; i < ntables; i++)
		left += (size_t)(tables[i].chunks_left > 0);
	if (left == 0 && (store == NULL || !have_lsn))
		return;
	pgflo_warnx("interrupted: %zu of %zu tables incomplete%s", left,
	    ntables, store != NULL ?
	    "; rerun with the same --checkpoint to resume" : "");
	(void)pgflo_out_close();
	signal(sig, SIG_DFL);
	raise(sig);
	exit(128 + sig);
}

int
main(int argc, char *argv[])
{
	struct pgflo_tables tl;
	struct pgflo_typecache *tc;
	PGconn *cat;
	char *snapname = NULL;
	pgflo_lsn snap = 0;
	size_t i;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_args(argc, argv);
	if (progress == -1)
		progress = isatty(STDERR_FILENO);
	pgflo_catch_signals();
	pgflo_out_init();
	if (pgflo_metrics_init(&metrics, metricsfile, "copy", "slot",
	    noslot ? NULL : slot, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);

	cat = connect_or_die();
	if (pgflo_tables_resolve(cat, tablepats, &tl, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_errx(PQstatus(cat) == CONNECTION_OK ? PGFLO_EXIT_FAIL :
		    PGFLO_EXIT_UNAVAIL, "%s", errbuf);
	if (store != NULL)
		load_progress();
	if (!noslot && open_slot(cat, &tl, &snapname, &snap) == 1) {
		finish_early(cat, &tl);
		return 0;
	}
	snapname = begin_snapshot(cat, snapname);
	tc = pgflo_typecache_new(cat);
	plan(cat, tc, &tl, snap);
	start_workers(snapname);
	pgflo_snapcopy_finish();
	PQfinish(cat);
	PQfinish(repl);
	if (sc.failed)
		pgflo_errx(sc.failed, "%s", sc.failmsg);
	if (store != NULL && !pgflo_stopping() && have_lsn)
		wait_durable(0);
	pgflo_metrics_close(&metrics);
	stopped();
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
	pgflo_typecache_free(tc);
	pgflo_tables_free(&tl);
	pgflo_tables_free(&held);
	for (i = 0; i < ntables; i++)
		free_table(&tables[i]);
	free(tables);
	pgflo_snapcopy_free();
	free(snapname);
	pgflo_copyprog_free(&prog);
	pgflo_store_close(store);
	return 0;
}
