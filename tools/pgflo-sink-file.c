/*
 * pgflo-sink-file - append change records to rotating NDJSON files and
 * print a position once they are on disk.
 *
 * The durable stage (common/durable.c) batches whole source transactions;
 * a commit writes the batch to the open file and fdatasync()s it, and only
 * then is the position printed.  The files (common/fileset.c) are
 * DIR/<prefix><UTC time>-<seq>.ndjson, ".part" while open.  The position
 * the files already hold is the last record of the newest one: a rerun
 * from an older checkpoint skips what is there.  This file is the command
 * line and the stage's callbacks.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "deadletter.h"
#include "durable.h"
#include "fileset.h"
#include "jsonscan.h"
#include "lsn.h"
#include "metrics.h"
#include "output.h"
#include "reader.h"
#include "recspan.h"

#define SYNOPSIS \
	"pgflo-sink-file [-v] [-a age] [-b rows] [-f mode] [-g group] " \
	"[-k n]\n" \
	"                       [-m ms] [-P prefix] [-s bytes] " \
	"[--dead-letter file]\n" \
	"                       [--metrics file] -d dir\n" \
	"       pgflo-sink-file [-g group] [-P prefix] -p -d dir"

enum {
	OPT_DEADLETTER = 256, OPT_METRICS
};

static const struct option longopts[] = {
	{ "batch-ms",		required_argument, NULL, 'm' },
	{ "batch-rows",		required_argument, NULL, 'b' },
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "dir",		required_argument, NULL, 'd' },
	{ "fsync",		required_argument, NULL, 'f' },
	{ "group",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "keep",		required_argument, NULL, 'k' },
	{ "max-age",		required_argument, NULL, 'a' },
	{ "max-bytes",		required_argument, NULL, 's' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "position",		no_argument,	   NULL, 'p' },
	{ "prefix",		required_argument, NULL, 'P' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

enum fsync_mode { FSYNC_ALWAYS, FSYNC_BATCH, FSYNC_NEVER };

static struct pgflo_fileset_config fc = {
	.prefix = "", .max_bytes = (size_t)64 << 20, .max_age_ms = 3600000L,
	.sync = 1
};
static struct pgflo_durable_config dc = {
	.group = "default", .batch_rows = 10000, .batch_ms = 100,
	.head_only = 1
};
static enum fsync_mode fsync_mode = FSYNC_BATCH;
static const char *deadletter, *metricsfile;
static struct pgflo_metrics metrics;
static int pflag, vflag;

/* The stage's sink: the files, the position they hold. */
struct sink {
	struct pgflo_fileset *fs;
	struct pgflo_pos held;
	int	 failed;
	unsigned long nwritten;
	struct pgflo_recspan rec;	/* for the position held */
};

static void
help(void)
{
	printf(
"pgflo-sink-file appends change records (stdin) to rotating NDJSON files\n"
"in DIR and prints a position record once they are on disk.\n"
"\n"
"Usage:\n"
"  pgflo-sink-file [OPTION]... -d DIR < records\n"
"  pgflo-sink-file [-g GROUP] [-P PREFIX] --position -d DIR\n"
"\n"
"Options:\n"
"  -d, --dir=DIR           write DIR/PREFIX<UTC time>-<seq>.ndjson (0600);\n"
"                          the file being written ends in \".part\"\n"
"  -P, --prefix=P          file name prefix (default none)\n"
"  -p, --position          print the position the files hold and exit\n"
"  -s, --max-bytes=N       finish a file at the commit reaching N bytes\n"
"                          (default 64M; 0 never; also 512k, 1G)\n"
"  -a, --max-age=S         or once it is S old, also while input is quiet\n"
"                          (default 1h; 0 never; also 250ms, 5m)\n"
"  -k, --keep=N            keep the newest N finished files (default all)\n"
"  -f, --fsync=MODE        always: every transaction on disk before its\n"
"                          position; batch (default): once per batch;\n"
"                          never: positions after write(2) only\n"
"  -b, --batch-rows=N      commit after N changes (default 10000)\n"
"  -m, --batch-ms=MS       commit after MS ms or when input is quiet\n"
"                          (default 100; also \"2s\")\n"
"  -g, --group=NAME        group of the position records (default\n"
"                          \"default\")\n"
"      --dead-letter=FILE  write bad records to FILE, go on\n"
"      --metrics=FILE      keep Prometheus metrics in FILE (every 5s)\n"
"  -v, --verbose           report batches and a summary on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_GROUP, PGFLO_BATCH_ROWS, PGFLO_BATCH_MS, PGFLO_FLUSH,\n"
"PGFLO_MAX_RECORD, PGFLO_METRICS.\n"
"Exit status: 0 ok or stopped, 1 bad record, write error or no position\n"
"(-p), 2 usage or bad DIR, 141 reader gone (SIGPIPE).\n");
}

static long
parse_num(const char *s, long min, long max, const char *what)
{
	long v;

	if (pgflo_parse_long(s, min, max, &v) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
	return v;
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

static void
parse_fsync(const char *s)
{
	if (strcmp(s, "always") == 0)
		fsync_mode = FSYNC_ALWAYS;
	else if (strcmp(s, "batch") == 0)
		fsync_mode = FSYNC_BATCH;
	else if (strcmp(s, "never") == 0)
		fsync_mode = FSYNC_NEVER;
	else
		pgflo_usage_error(SYNOPSIS, "invalid --fsync: %s (want "
		    "always, batch or never)", s);
	fc.sync = fsync_mode != FSYNC_NEVER;
}

/* One option of the files; 0 when ch is none of them. */
static int
file_option(int ch)
{
	long v;

	switch (ch) {
	case 'a':
		/* A bare number is seconds here, as the option's name says. */
		if (pgflo_parse_duration_ms(optarg, &v) == -1 || v < 0)
			pgflo_usage_error(SYNOPSIS, "invalid --max-age: %s",
			    optarg);
		fc.max_age_ms = v;
		break;
	case 'd':
		fc.dir = optarg;
		break;
	case 'f':
		parse_fsync(optarg);
		break;
	case 'k':
		fc.keep = (int)parse_num(optarg, 1, 100000000L, "--keep");
		break;
	case 'P':
		if (strchr(optarg, '/') != NULL)
			pgflo_usage_error(SYNOPSIS, "invalid --prefix: %s "
			    "(no '/')", optarg);
		fc.prefix = optarg;
		break;
	case 's':
		if (pgflo_parse_size(optarg, &fc.max_bytes) == -1)
			pgflo_usage_error(SYNOPSIS, "invalid --max-bytes: %s",
			    optarg);
		break;
	default:
		return 0;
	}
	return 1;
}

/* Options, after the PGFLO_* defaults they override. */
static void
parse_options(int argc, char *argv[])
{
	const char *e;
	int ch;

	dc.group = pgflo_env("GROUP", dc.group);
	if ((e = pgflo_env("BATCH_ROWS", NULL)) != NULL)
		dc.batch_rows = parse_num(e, 1, 100000000L, "PGFLO_BATCH_ROWS");
	if ((e = pgflo_env("BATCH_MS", NULL)) != NULL)
		dc.batch_ms = parse_ms(e, "PGFLO_BATCH_MS");
	while ((ch = getopt_long(argc, argv, "a:b:d:f:g:hk:m:P:ps:Vv", longopts,
	    NULL)) != -1) {
		if (file_option(ch))
			continue;
		switch (ch) {
		case 'b':
			dc.batch_rows = parse_num(optarg, 1, 100000000L,
			    "--batch-rows");
			break;
		case 'g':
			dc.group = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'm':
			dc.batch_ms = parse_ms(optarg, "--batch-ms");
			break;
		case 'p':
			pflag = 1;
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		case 'v':
			vflag = dc.verbose = 1;
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_METRICS:
			metricsfile = optarg;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind != argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if (fc.dir == NULL)
		pgflo_usage_error(SYNOPSIS, "-d is required");
	if (*dc.group == '\0')
		pgflo_usage_error(SYNOPSIS, "empty group name");
}

/* scan_back(): the last record with a position is where the files are. */
static int
held_match(void *arg, const char *line, size_t len)
{
	struct sink *s = arg;

	if (pgflo_recspan_parse_head(&s->rec, line, len) == -1 ||
	    (!s->rec.has_lsn && !s->rec.has_seq))
		return 0;
	s->held = s->rec.pos;
	return 1;
}

static int
op_connect(void *sink, char *errbuf, size_t errlen)
{
	(void)sink;
	(void)errbuf;
	(void)errlen;
	return 0;
}

static int
op_setup(void *sink, struct pgflo_pos *applied, char *errbuf, size_t errlen)
{
	struct sink *s = sink;

	(void)errbuf;
	(void)errlen;
	*applied = s->held;
	return 0;
}

static void
op_close(void *sink)
{
	(void)sink;
}

static void
op_begin(void *sink, int one_by_one)
{
	(void)sink;
	(void)one_by_one;
}

/* The record as it came, byte for byte. */
static int
op_write(void *sink, struct pgflo_recspan *r, long idx, char *errbuf,
    size_t errlen)
{
	struct sink *s = sink;

	(void)idx;
	(void)errbuf;
	(void)errlen;
	if (pgflo_fileset_append(s->fs, r->line, r->linelen) == -1)
		s->failed = 1;	/* failed() reports it: the run ends */
	else
		s->nwritten++;
	return 0;
}

static int
op_failed(void *sink, int wait)
{
	struct sink *s = sink;

	(void)wait;
	return s->failed;
}

static void
op_failure(void *sink, struct pgflo_durable_failure *f)
{
	struct sink *s = sink;

	/* Waiting cannot help a full disk: exit 1, nothing more committed. */
	f->kind = PGFLO_DF_STOP;
	f->status = PGFLO_EXIT_FAIL;
	f->idx = -1;
	f->nrecords = 0;
	snprintf(f->msg, sizeof(f->msg), "%s", pgflo_fileset_errmsg(s->fs));
}

static int
op_commit(void *sink, const struct pgflo_pos *pos)
{
	struct sink *s = sink;

	(void)pos;	/* the files hold it: their last record */
	if (s->failed || pgflo_fileset_commit(s->fs) == -1) {
		s->failed = 1;
		return -1;
	}
	return 0;
}

static void
op_rollback(void *sink, int in_batch)
{
	struct sink *s = sink;

	(void)in_batch;
	if (pgflo_fileset_rollback(s->fs) == -1)
		s->failed = 1;
}

/* --fsync always: a commit per transaction; else when the file is due. */
static int
op_commit_soon(void *sink)
{
	struct sink *s = sink;

	return fsync_mode == FSYNC_ALWAYS || pgflo_fileset_due(s->fs);
}

static int
op_idle(void *sink, long *wait_ms, char *errbuf, size_t errlen)
{
	struct sink *s = sink;

	if (pgflo_fileset_tick(s->fs, wait_ms) == -1) {
		snprintf(errbuf, errlen, "%s", pgflo_fileset_errmsg(s->fs));
		return -1;
	}
	return 0;
}

static const struct pgflo_durable_ops file_ops = {
	.connect = op_connect,
	.setup = op_setup,
	.close = op_close,
	.begin = op_begin,
	.write = op_write,
	.failed = op_failed,
	.failure = op_failure,
	.commit = op_commit,
	.rollback = op_rollback,
	.commit_soon = op_commit_soon,
	.idle = op_idle
};

/* -p: the position the files hold, without a lock or a change. */
static void
print_held(void)
{
	char errbuf[1024];
	struct sink s;
	int st;

	memset(&s, 0, sizeof(s));
	fc.readonly = 1;
	if ((s.fs = pgflo_fileset_open(&fc, &st, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(st, "%s", errbuf);
	if (pgflo_fileset_scan_back(s.fs, held_match, &s) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", pgflo_fileset_errmsg(s.fs));
	pgflo_recspan_free(&s.rec);
	(void)pgflo_fileset_close(s.fs, 0, NULL, 0);
	if (!pgflo_pos_is_set(&s.held))
		pgflo_errx(PGFLO_EXIT_FAIL, "no position in %s", fc.dir);
	if (pgflo_durable_print_position(dc.group, &s.held) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
}

/* Writes stdin through the durable stage; its exit status. */
static int
write_stdin(void)
{
	char errbuf[1024];
	struct pgflo_reader rd;
	struct pgflo_durable *d;
	struct sink s;
	int st;

	memset(&s, 0, sizeof(s));
	if ((s.fs = pgflo_fileset_open(&fc, &st, errbuf,
	    sizeof(errbuf))) == NULL)
		pgflo_errx(st, "%s", errbuf);
	if (pgflo_fileset_scan_back(s.fs, held_match, &s) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", pgflo_fileset_errmsg(s.fs));
	pgflo_recspan_free(&s.rec);
	if (deadletter != NULL && (dc.dl = pgflo_deadletter_open(deadletter,
	    errbuf, sizeof(errbuf))) == NULL)
		pgflo_err(PGFLO_EXIT_USAGE, "%s", deadletter);
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	if (pgflo_metrics_init(&metrics, metricsfile, "sink-file", "group",
	    dc.group, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	dc.metrics = &metrics;
	d = pgflo_durable_new(&dc, &file_ops, &s);
	st = pgflo_durable_run(d, &rd);
	pgflo_metrics_close(&metrics);
	/* What the stage did not commit is not kept. */
	if (st != 0)
		(void)pgflo_fileset_rollback(s.fs);
	if (pgflo_fileset_close(s.fs, st == 0 && !s.failed, errbuf,
	    sizeof(errbuf)) == -1 && st == 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	}
	if (st != 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(st, "%s", pgflo_durable_errmsg(d));
	}
	if (vflag)
		pgflo_warnx("%lu records written, %lu records skipped, "
		    "%lu commits", s.nwritten, pgflo_durable_skipped(d),
		    pgflo_durable_batches(d));
	pgflo_durable_free(d);
	pgflo_reader_close(&rd);
	pgflo_deadletter_close(dc.dl);
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
		print_held();
	else
		write_stdin();
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
