/*
 * pgflo-publish - publish change records into a NATS JetStream stream,
 * each exactly once, in order.
 *
 * publish is the only writer of its stream; every message expects the
 * stream sequence of the one before it, and after any failure the
 * stream's last message says how far the input got.  This file is the
 * command line; the sink the durable stage (durable.c) drives is
 * jspub.c, whose header says how exactly-once in order is kept.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "durable.h"
#include "jspub.h"
#include "metrics.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "output.h"

#define SYNOPSIS \
	"pgflo-publish [-v] [-b rows] [-m ms] [-s url] [--create] " \
	"[--replicas n]\n" \
	"                     [--subject-prefix p] [--max-bytes n] " \
	"[--max-outage secs]\n" \
	"                     [--duplicate-window time] [--metrics file] " \
	"[--msg-id]\n" \
	"                     [--[no-]progress] --stream name"

enum {
	OPT_CREATE = 256, OPT_DUPWIN, OPT_MAXBYTES, OPT_MAXOUTAGE, OPT_METRICS,
	OPT_MSGID, OPT_NO_PROGRESS,
	OPT_PREFIX, OPT_PROGRESS, OPT_REPLICAS, OPT_STREAM
};

static const struct option longopts[] = {
	{ "batch-ms",		required_argument, NULL, 'm' },
	{ "batch-rows",		required_argument, NULL, 'b' },
	{ "create",		no_argument,	   NULL, OPT_CREATE },
	{ "duplicate-window",	required_argument, NULL, OPT_DUPWIN },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "max-bytes",		required_argument, NULL, OPT_MAXBYTES },
	{ "max-outage",		required_argument, NULL, OPT_MAXOUTAGE },
	{ "msg-id",		no_argument,	   NULL, OPT_MSGID },
	{ "no-progress",	no_argument,	   NULL, OPT_NO_PROGRESS },
	{ "progress",		no_argument,	   NULL, OPT_PROGRESS },
	{ "replicas",		required_argument, NULL, OPT_REPLICAS },
	{ "server",		required_argument, NULL, 's' },
	{ "stream",		required_argument, NULL, OPT_STREAM },
	{ "subject-prefix",	required_argument, NULL, OPT_PREFIX },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line. */
static const char *stream, *server, *prefix = "pgflo", *metricsfile;
static struct pgflo_metrics metrics;
static struct pgflo_progress progress;
static int msgid, vflag, progressflag = -1;
static struct pgflo_natsstream_config scf = {
	.replicas = 1, .dupwin_ms = 120000
};
static struct pgflo_durable_config dc = {
	.batch_rows = 10000, .batch_ms = 100,
	.head_only = 1		/* the line goes on whole */
};

static void
help(void)
{
	printf(
"pgflo-publish publishes change records (stdin) into a NATS JetStream\n"
"stream, each exactly once and in order, and prints a position record once\n"
"the stream acknowledged everything up to it.\n"
"\n"
"Usage:\n"
"  pgflo-publish [OPTION]... --stream NAME < records\n"
"\n"
"Options:\n"
"      --stream=NAME       the stream (A-Z a-z 0-9 _ -)\n"
"  -s, --server=URL        NATS server (default $PGFLO_NATS_URL, else\n"
"                          nats://127.0.0.1:4222); no credentials here\n"
"      --create            create the stream when missing (file storage,\n"
"                          no max age, discard new)\n"
"      --replicas=N        replicas of a created stream (default 1)\n"
"      --max-bytes=N       size limit of a created stream (\"10G\")\n"
"      --duplicate-window=TIME  of a created stream (default 2m)\n"
"      --subject-prefix=P  subjects are P.NAME.SCHEMA.TABLE (default pgflo)\n"
"      --msg-id            also send Nats-Msg-Id (deduplication)\n"
"      --max-outage=SECS   exit 3 when the server is gone this long\n"
"                          (default: wait for ever)\n"
"      --metrics=FILE      keep Prometheus metrics in FILE (every 5s)\n"
"      --progress          rows, rows/s and lag on stderr, one line kept\n"
"                          up to date (default when stderr is a terminal)\n"
"      --no-progress       no progress line\n"
"  -b, --batch-rows=N      report after N changes at most (default 10000)\n"
"  -m, --batch-ms=MS       report after MS ms at most (default 100)\n"
"  -v, --verbose           report batches on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_NATS_URL, PGFLO_NATS_CREDS, PGFLO_NATS_NKEY,\n"
"PGFLO_NATS_NKEY_PUB, PGFLO_NATS_USER, PGFLO_NATS_PASSWORD, PGFLO_NATS_TOKEN,\n"
"PGFLO_NATS_CA, PGFLO_NATS_CERT, PGFLO_NATS_KEY, PGFLO_BATCH_ROWS,\n"
"PGFLO_BATCH_MS, PGFLO_FLUSH, PGFLO_MAX_RECORD, PGFLO_METRICS.\n"
"Exit status: 0 ok or stopped, 1 bad record, 2 usage, stream missing or\n"
"refused login, 3 server unavailable or stream full, 141 reader gone.\n");
}

/* ---- the command line ---- */

static long
parse_ms(const char *s, const char *what, long min)
{
	long v;

	if (pgflo_parse_long(s, min, 86400000L, &v) == 0)
		return v;
	if (pgflo_parse_duration_ms(s, &v) == 0 && v >= min)
		return v;
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

/* A duration; a bare number is seconds. */
static long
parse_secs(const char *s, const char *what, long min)
{
	long v;

	if (pgflo_parse_duration_ms(s, &v) == 0 && v >= min)
		return v;
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

static long
parse_num(const char *s, const char *what, long min, long max)
{
	long v;

	if (pgflo_parse_long(s, min, max, &v) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
	return v;
}

static void
parse_option(int ch)
{
	switch (ch) {
	case 'b':
		dc.batch_rows = parse_num(optarg, "--batch-rows", 1,
		    100000000L);
		break;
	case 'm':
		dc.batch_ms = parse_ms(optarg, "--batch-ms", 0);
		break;
	case 's':
		server = optarg;
		break;
	case 'v':
		vflag = dc.verbose = 1;
		break;
	case OPT_CREATE:
		scf.create = 1;
		break;
	case OPT_DUPWIN:
		scf.dupwin_ms = parse_secs(optarg, "--duplicate-window", 100);
		break;
	case OPT_MAXBYTES:
		if (pgflo_parse_size(optarg, &scf.max_bytes) == -1 ||
		    scf.max_bytes == 0)
			pgflo_usage_error(SYNOPSIS, "invalid --max-bytes: %s",
			    optarg);
		break;
	case OPT_MAXOUTAGE:
		dc.max_outage_ms = parse_secs(optarg, "--max-outage", 0);
		break;
	case OPT_METRICS:
		metricsfile = optarg;
		break;
	case OPT_NO_PROGRESS:
		progressflag = 0;
		break;
	case OPT_PROGRESS:
		progressflag = 1;
		break;
	case OPT_MSGID:
		msgid = 1;
		break;
	case OPT_PREFIX:
		prefix = optarg;
		break;
	case OPT_REPLICAS:
		scf.replicas = (int)parse_num(optarg, "--replicas", 1, 5);
		break;
	case OPT_STREAM:
		stream = optarg;
		break;
	default:
		pgflo_usage_exit(SYNOPSIS);
	}
}

static void
parse_options(int argc, char *argv[])
{
	char errbuf[512];
	const char *e;
	int ch;

	if ((e = pgflo_env("BATCH_ROWS", NULL)) != NULL)
		dc.batch_rows = parse_num(e, "PGFLO_BATCH_ROWS", 1,
		    100000000L);
	if ((e = pgflo_env("BATCH_MS", NULL)) != NULL)
		dc.batch_ms = parse_ms(e, "PGFLO_BATCH_MS", 0);
	while ((ch = getopt_long(argc, argv, "b:hm:s:Vv", longopts,
	    NULL)) != -1) {
		if (ch == 'h') {
			help();
			exit(0);
		}
		if (ch == 'V') {
			pgflo_print_version();
			exit(0);
		}
		parse_option(ch);
	}
	if (optind != argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	pgflo_nats_stream_args(SYNOPSIS, stream, prefix);
	scf.name = stream;
	snprintf(scf.subject, sizeof(scf.subject), "%s.%s.>", prefix, stream);
	if (server != NULL && pgflo_natsconn_url_ok(server, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid -s: %s", errbuf);
}

int
main(int argc, char *argv[])
{
	char errbuf[1024];
	struct pgflo_reader rd;
	struct pgflo_jspub_config jc;
	/* static: still reachable when pgflo_errx() exits (LeakSanitizer). */
	static struct pgflo_durable *d;
	int st;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	pgflo_out_init();
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	jc = (struct pgflo_jspub_config){ .stream = stream, .server = server,
	    .prefix = prefix, .msgid = msgid, .verbose = vflag, .scf = scf };
	pgflo_jspub_init(&jc);
	if (pgflo_metrics_init(&metrics, metricsfile, "publish", "stream",
	    stream, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (pgflo_progress_init(&progress, progressflag, "rows"))
		pgflo_metrics_progress(&metrics, &progress);
	dc.metrics = &metrics;
	d = pgflo_durable_new(&dc, &pgflo_jspub_ops, NULL);
	st = pgflo_durable_run(d, &rd);
	pgflo_metrics_close(&metrics);
	if (st != 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(st, "%s", pgflo_durable_errmsg(d));
	}
	if (vflag)
		pgflo_warnx("%llu messages in stream %s, %lu records skipped, "
		    "%lu batches", (unsigned long long)pgflo_jspub_acked(), stream,
		    pgflo_durable_skipped(d), pgflo_durable_batches(d));
	pgflo_durable_free(d);
	pgflo_reader_close(&rd);
	pgflo_jspub_free();
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
