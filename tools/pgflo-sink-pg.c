/*
 * pgflo-sink-pg - apply change records to a target PostgreSQL database,
 * exactly once.
 *
 * Records come from stdin; source transactions are applied whole, several
 * per target transaction, through prepared statements in libpq pipeline
 * mode.  The applied position is kept in pgflo.applied in the same target
 * transaction, so replays are skipped.  The batching, the position
 * output, replays and the dead-letter file are the durable stage's
 * (common/durable.c); the SQL side is common/pgapply.c.  This file is the
 * command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "deadletter.h"
#include "durable.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "metrics.h"
#include "output.h"
#include "pgapply.h"
#include "pgconn.h"
#include "reader.h"

#define SYNOPSIS \
	"pgflo-sink-pg [-acpv] [-b rows] [-g group] [-j jobs] [-m ms]\n" \
	"                     [-s src=dst] [--dead-letter file] " \
	"[--disable-triggers]\n" \
	"                     [--metrics file] [--no-loop] [--[no-]progress]\n" \
	"                     -d conninfo"

enum {
	OPT_DEADLETTER = 256, OPT_DISABLE_TRIGGERS, OPT_METRICS, OPT_NO_LOOP,
	OPT_NO_PROGRESS, OPT_PROGRESS
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
	{ "jobs",		required_argument, NULL, 'j' },
	{ "map-schema",		required_argument, NULL, 's' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "no-loop",		no_argument,	   NULL, OPT_NO_LOOP },
	{ "no-progress",	no_argument,	   NULL, OPT_NO_PROGRESS },
	{ "position",		no_argument,	   NULL, 'p' },
	{ "progress",		no_argument,	   NULL, OPT_PROGRESS },
	{ "target",		required_argument, NULL, 'd' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line: the apply side's settings and the stage's. */
static struct pgflo_pgapply_config pa = { .group = "default" };
static struct pgflo_durable_config dc = {
	.batch_rows = 10000, .batch_ms = 200
};
static const char *deadletter, *metricsfile;
static struct pgflo_metrics metrics;
static struct pgflo_progress progress;
static int pflag, progressflag = -1;

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
"  -b, --batch-rows=N      commit after N changes at most (default 10000)\n"
"  -m, --batch-ms=MS       commit after MS ms at most (default 200; also\n"
"                          \"2s\"); at once when no more input is ready\n"
"  -j, --jobs=N            load snapshot rows over N connections at once\n"
"                          (default 1)\n"
"  -c, --create-tables     create missing target tables from the records\n"
"  -a, --apply-ddl         apply the ddl records of a trusted stream, one\n"
"                          statement each (else a notice)\n"
"  -s, --map-schema=S=D    apply changes to schema S in schema D\n"
"      --disable-triggers  session_replication_role = replica\n"
"      --dead-letter=FILE  write failing transactions to FILE, go on\n"
"      --no-loop           exit 3 when the connection is lost\n"
"      --metrics=FILE      keep Prometheus metrics in FILE (every 5s)\n"
"      --progress          rows, rows/s and lag on stderr, one line kept\n"
"                          up to date (default when stderr is a terminal)\n"
"      --no-progress       no progress line\n"
"  -v, --verbose           report batches and a summary on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_GROUP, PGFLO_BATCH_ROWS, PGFLO_BATCH_MS, PGFLO_JOBS,\n"
"PGFLO_FLUSH, PGFLO_GROUP_COMMIT, PGFLO_MAX_RECORD, PGFLO_METRICS, and libpq's\n"
"PG* variables.\n"
"Exit status: 0 ok or stopped, 1 data or apply failure, 2 usage or login\n"
"refused, 3 unavailable, 141 reader gone (SIGPIPE).\n");
}

static void
add_map(const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || eq[1] == '\0')
		pgflo_usage_error(SYNOPSIS, "invalid --map-schema: %s "
		    "(want SRC=DST)", arg);
	pa.mapsrc = pgflo_xrealloc(pa.mapsrc,
	    (size_t)(pa.nmap + 1) * sizeof(*pa.mapsrc));
	pa.mapdst = pgflo_xrealloc(pa.mapdst,
	    (size_t)(pa.nmap + 1) * sizeof(*pa.mapdst));
	pa.mapsrc[pa.nmap] = strndup(arg, (size_t)(eq - arg));
	pa.mapdst[pa.nmap] = pgflo_xstrdup(eq + 1);
	pa.nmap++;
}

static void
free_maps(void)
{
	int i;

	for (i = 0; i < pa.nmap; i++) {
		free(pa.mapsrc[i]);
		free(pa.mapdst[i]);
	}
	free(pa.mapsrc);
	free(pa.mapdst);
}

static long
parse_ms(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_long(s, 0, 86400000L, &v) == 0)
		return v;
	if (pgflo_parse_duration_ms(s, &v) == 0)
		return v;
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

static int
parse_jobs(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_long(s, 1, 32, &v) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s (want 1 to 32)",
		    what, s);
	return (int)v;
}

static long
parse_rows(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_long(s, 1, 100000000L, &v) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
	return v;
}

/* Options, after the PGFLO_* defaults they override. */
static void
parse_options(int argc, char *argv[])
{
	char errbuf[512];
	const char *e;
	int ch;

	pa.group = pgflo_env("GROUP", pa.group);
	if ((e = pgflo_env("BATCH_ROWS", NULL)) != NULL)
		dc.batch_rows = parse_rows(e, "PGFLO_BATCH_ROWS");
	if ((e = pgflo_env("BATCH_MS", NULL)) != NULL)
		dc.batch_ms = parse_ms(e, "PGFLO_BATCH_MS");
	if ((e = pgflo_env("JOBS", NULL)) != NULL)
		pa.jobs = parse_jobs(e, "PGFLO_JOBS");
	while ((ch = getopt_long(argc, argv, "ab:cd:g:hj:m:ps:Vv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			pa.apply_ddl = 1;
			break;
		case 'b':
			dc.batch_rows = parse_rows(optarg, "--batch-rows");
			break;
		case 'c':
			pa.create_tables = 1;
			break;
		case 'd':
			pa.conninfo = optarg;
			break;
		case 'g':
			pa.group = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'j':
			pa.jobs = parse_jobs(optarg, "--jobs");
			break;
		case 'm':
			dc.batch_ms = parse_ms(optarg, "--batch-ms");
			break;
		case 'p':
			pflag = 1;
			break;
		case 's':
			add_map(optarg);
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		case 'v':
			pa.verbose = dc.verbose = 1;
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_DISABLE_TRIGGERS:
			pa.no_triggers = 1;
			break;
		case OPT_METRICS:
			metricsfile = optarg;
			break;
		case OPT_NO_LOOP:
			dc.noloop = 1;
			break;
		case OPT_NO_PROGRESS:
			progressflag = 0;
			break;
		case OPT_PROGRESS:
			progressflag = 1;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind != argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if (pa.conninfo == NULL)
		pgflo_usage_error(SYNOPSIS, "-d is required");
	if (pgflo_pg_conninfo_ok(pa.conninfo, errbuf, sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
	if (*pa.group == '\0')
		pgflo_usage_error(SYNOPSIS, "empty group name");
	dc.group = pa.group;
}

/*
 * -p with nothing applied: the start of a stream, stream_seq 0, so that
 * a fresh target's worker, pgflo-consume --from "$(pgflo-sink-pg
 * --position)", reads its stream from the beginning; exit 1 still says
 * that nothing is applied.  An unreachable target prints nothing: the
 * worker then fails to start, rather than reading from the beginning
 * a stream whose changes the target may hold.
 */
static void
print_nothing_applied(void)
{
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;

	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "op");
	pgflo_jw_str(&w, "position");
	pgflo_jw_key(&w, "stream_seq");
	pgflo_jw_uint(&w, 0);
	pgflo_jw_key(&w, "group");
	pgflo_jw_str(&w, pa.group);
	pgflo_jw_obj_end(&w);
	if (pgflo_out_line(b.data, b.len) == -1 || pgflo_out_flush(0) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	pgflo_buf_free(&b);
	pgflo_errx(PGFLO_EXIT_FAIL, "no position applied for group %s: "
	    "printed stream_seq 0, the start of a stream", pa.group);
}

/* -p: the applied position, printed as a position record. */
static void
print_applied(void)
{
	char errbuf[1024];
	struct pgflo_pos p;
	PGconn *c;
	int r;

	if ((c = pgflo_pg_connect(pa.conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(pgflo_pg_connect_status(), "could not connect: %s",
		    errbuf);
	r = pgflo_pgapply_read_applied(c, pa.group, &p, errbuf,
	    sizeof(errbuf));
	PQfinish(c);
	if (r == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	if (r == 0)
		print_nothing_applied();
	if (pgflo_durable_print_position(pa.group, &p) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
}

/* Applies stdin through the durable stage; its exit status. */
static int
apply_stdin(void)
{
	char errbuf[1024];
	struct pgflo_reader rd;
	/* static: still reachable when pgflo_errx() exits (LeakSanitizer). */
	static struct pgflo_durable *d;
	int st;

	if (deadletter != NULL && (dc.dl = pgflo_deadletter_open(deadletter,
	    errbuf, sizeof(errbuf))) == NULL)
		pgflo_err(PGFLO_EXIT_USAGE, "%s", deadletter);
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	if (pgflo_metrics_init(&metrics, metricsfile, "sink-pg", "group",
	    pa.group, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (pgflo_progress_init(&progress, progressflag, "rows"))
		pgflo_metrics_progress(&metrics, &progress);
	dc.metrics = &metrics;
	pgflo_pgapply_init(&pa);
	d = pgflo_durable_new(&dc, &pgflo_pgapply_ops, NULL);
	st = pgflo_durable_run(d, &rd);
	pgflo_metrics_close(&metrics);
	if (st != 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(st, "%s", pgflo_durable_errmsg(d));
	}
	if (pa.verbose)
		pgflo_warnx("%lu changes applied, %lu records skipped, "
		    "%lu commits", pgflo_pgapply_applied(),
		    pgflo_durable_skipped(d), pgflo_durable_batches(d));
	pgflo_durable_free(d);
	pgflo_reader_close(&rd);
	pgflo_deadletter_close(dc.dl);
	pgflo_pgapply_free();
	return 0;
}

int
main(int argc, char *argv[])
{
	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	pgflo_out_init();
	if (pflag)
		print_applied();
	else
		apply_stdin();
	free_maps();
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
