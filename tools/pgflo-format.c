/*
 * pgflo-format - change records in the shape of another CDC tool:
 * Debezium, pg_flo, wal2json (format-version 2) or Sequin.
 *
 * A pure filter: one line out per record, or none when the format has
 * nothing for it; position records pass through unchanged, so that
 * pgflo-checkpoint still works downstream.  The formats live in
 * recfmt.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "output.h"
#include "reader.h"
#include "recfmt.h"

#define SYNOPSIS \
	"pgflo-format [-Tksvx] [-n name] [--dead-letter file] -t format"

enum {
	OPT_DB = 256, OPT_DEADLETTER, OPT_PLACEHOLDER, OPT_DBZ_VERSION,
	OPT_SKIPPED
};

static const struct option longopts[] = {
	{ "db",			required_argument, NULL, OPT_DB },
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "debezium-version",	required_argument, NULL, OPT_DBZ_VERSION },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "include-timestamp",	no_argument,	   NULL, 's' },
	{ "include-xids",	no_argument,	   NULL, 'x' },
	{ "name",		required_argument, NULL, 'n' },
	{ "placeholder",	required_argument, NULL, OPT_PLACEHOLDER },
	{ "skip-bad",		no_argument,	   NULL, 'k' },
	{ "skipped-operations",	required_argument, NULL, OPT_SKIPPED },
	{ "to",			required_argument, NULL, 't' },
	{ "transactions",	no_argument,	   NULL, 'T' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int kflag, vflag;

static void
help(void)
{
	printf(
"pgflo-format writes change records (NDJSON) in the shape of another\n"
"change data capture tool, one line per record.\n"
"\n"
"Usage:\n"
"  pgflo-format -t FORMAT [OPTION]...  < records > events\n"
"\n"
"Formats (-t, --to=FORMAT):\n"
"  debezium   Debezium's change event value (JSON converter, schemas\n"
"             disabled, decimal.handling.mode=string)\n"
"  pg_flo     pg_flo's worker output (stdout and file sinks)\n"
"  wal2json   wal2json's format-version 2\n"
"  sequin     Sequin's change messages\n"
"Position records pass through unchanged.\n"
"\n"
"Debezium:\n"
"  -n, --name=NAME           source.name, the topic prefix (pgflo)\n"
"      --db=NAME             source.db ($PGDATABASE)\n"
"      --debezium-version=V  source.version (3.0.0.Final)\n"
"      --placeholder=TEXT    for unchanged TOASTed values\n"
"                            (__debezium_unavailable_value)\n"
"      --skipped-operations=LIST  c,u,d,t not written, or none (t)\n"
"  -T, --transactions        BEGIN and END events and \"transaction\" blocks\n"
"                            (provide.transaction.metadata)\n"
"wal2json:\n"
"  -x, --include-xids        \"xid\" in every object\n"
"  -s, --include-timestamp   \"timestamp\" in every object\n"
"\n"
"Options:\n"
"  -k, --skip-bad            warn about bad input lines and go on\n"
"      --dead-letter=FILE    set bad lines aside in FILE (mode 0600), go on\n"
"  -v, --verbose             print a summary at exit\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_FORMAT, PGFLO_FORMAT_NAME, PGFLO_MAX_RECORD,\n"
"PGFLO_FLUSH.\n"
"Exit status: 0 ok (also after SIGINT or SIGTERM), 1 bad record or write\n"
"error, 2 usage, 141 reader gone (SIGPIPE).\n");
}

struct counts {
	unsigned long in, out, dropped, bad;
};

/* The words for a line that is not one JSON object: jansson's. */
static void
bad_json(const struct pgflo_reader *r, char *msg, size_t len)
{
	const char *nul = memchr(r->line, '\0', r->len);
	json_error_t jerr;
	json_t *rec;

	if (nul != NULL) {
		snprintf(msg, len, "%s:%lu: invalid JSON: NUL byte (column %zu)",
		    r->name, r->lineno, (size_t)(nul - r->line) + 1);
		return;
	}
	rec = json_loadb(r->line, r->len, 0, &jerr);
	if (rec == NULL && strstr(jerr.text, "too big") != NULL)
		rec = json_loadb(r->line, r->len, JSON_DECODE_INT_AS_REAL,
		    &jerr);
	if (rec == NULL)
		snprintf(msg, len, "%s:%lu: invalid JSON: %s (column %d)",
		    r->name, r->lineno, jerr.text, jerr.column);
	else if (!json_is_object(rec))
		snprintf(msg, len, "%s:%lu: record is not a JSON object",
		    r->name, r->lineno);
	else
		snprintf(msg, len, "%s:%lu: invalid JSON: nested too deeply",
		    r->name, r->lineno);
	json_decref(rec);
}

/* A bad line: fatal, or skipped with -k / --dead-letter. */
static void
bad_line(struct pgflo_reader *r, struct counts *n, const char *msg)
{
	if (r->deadletter != NULL) {
		if (pgflo_reader_reject(r, "%s", msg) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", r->errmsg);
	} else if (kflag)
		pgflo_warnx("%s (skipped)", msg);
	else
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", msg);
	n->bad++;
}

static void
run(struct pgflo_fmt *f, struct pgflo_reader *r, struct counts *n)
{
	const char *out;
	char err[512], msg[700];
	size_t outlen;
	int rc;

	while ((rc = pgflo_reader_next(r)) == 1) {
		n->in++;
		rc = pgflo_fmt_record(f, r->line, r->len, &out, &outlen, err,
		    sizeof(err));
		if (rc == PGFLO_FMT_BADJSON) {
			bad_json(r, msg, sizeof(msg));
			bad_line(r, n, msg);
			continue;
		}
		if (rc == -1) {
			snprintf(msg, sizeof(msg), "%s:%lu: %s", r->name,
			    r->lineno, err);
			bad_line(r, n, msg);
			continue;
		}
		if (rc == 0) {
			n->dropped++;
			continue;
		}
		if (pgflo_out_line(out, outlen) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		n->out++;
	}
	if (rc == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", r->errmsg);
}

int
main(int argc, char *argv[])
{
	struct pgflo_fmt_opts o;
	struct pgflo_fmt *f;
	struct pgflo_reader r;
	struct counts n = { 0 };
	const char *deadletter = NULL, *to;
	int ch;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	memset(&o, 0, sizeof(o));
	to = pgflo_env("FORMAT", NULL);
	o.name = pgflo_env("FORMAT_NAME", "pgflo");
	o.db = getenv("PGDATABASE") != NULL ? getenv("PGDATABASE") : "";
	o.version = "3.0.0.Final";
	o.placeholder = "__debezium_unavailable_value";
	o.skipped = "t";
	while ((ch = getopt_long(argc, argv, "+TVhkn:st:vx", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'T':
			o.transactions = 1;
			break;
		case 'V':
			pgflo_print_version();
			return 0;
		case 'h':
			help();
			return 0;
		case 'k':
			kflag = 1;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 's':
			o.timestamps = 1;
			break;
		case 't':
			to = optarg;
			break;
		case 'v':
			vflag = 1;
			break;
		case 'x':
			o.xids = 1;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_DBZ_VERSION:
			o.version = optarg;
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_PLACEHOLDER:
			o.placeholder = optarg;
			break;
		case OPT_SKIPPED:
			if (pgflo_fmt_skipped_check(optarg) == -1)
				pgflo_usage_error(SYNOPSIS, "--skipped-operations "
				    "'%s': expected c, u, d, t separated by "
				    "commas, or none", optarg);
			o.skipped = optarg;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if (to == NULL)
		pgflo_usage_error(SYNOPSIS, "-t is required (or PGFLO_FORMAT)");
	if (pgflo_fmt_kind_parse(to, &o.kind) == -1)
		pgflo_usage_error(SYNOPSIS, "--to '%s': unknown format "
		    "(debezium, pg_flo, wal2json, sequin)", to);
	if (pgflo_reader_open(&r, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", r.errmsg);
	if (deadletter != NULL &&
	    pgflo_reader_set_deadletter(&r, deadletter) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", r.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	pgflo_out_init();
	f = pgflo_fmt_new(&o);
	run(f, &r, &n);
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	if (vflag)
		pgflo_warnx("%lu records read, %lu written, %lu without "
		    "counterpart in %s, %lu bad", n.in, n.out, n.dropped, to,
		    n.bad);
	pgflo_fmt_free(f);
	pgflo_reader_close(&r);
	return 0;
}
