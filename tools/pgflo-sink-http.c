/*
 * pgflo-sink-http - POST change records to a webhook, at least once, and
 * print a position once the receiver took everything up to it.
 *
 * Records come from stdin; a request carries one record (--batch 1) or
 * up to N of them, whole source transactions unless one is larger than
 * N (it is then sent in requests of N records, in order).  One request
 * is in flight at a time, so the receiver sees the records in order.
 * The batching, the position output and the dead-letter file for bad
 * input are the durable stage's (common/durable.c): here a batch is
 * durable once every request carrying it got a 2xx.  HTTP, signing and
 * retries are common/webhook.c's.  This file is the command line and
 * how records become requests.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "deadletter.h"
#include "durable.h"
#include "lsn.h"
#include "metrics.h"
#include "output.h"
#include "reader.h"
#include "webhook.h"

#define SYNOPSIS \
	"pgflo-sink-http [-v] [-b n] [-f json|ndjson] [-H 'k: v'] [-m ms]\n" \
	"                       [-t secs] [--after pos] [--bearer-file f] " \
	"[--cacert f]\n" \
	"                       [--cert f --key f] [--dead-letter f] " \
	"[--markers]\n" \
	"                       [--max-attempts n] [--metrics file] " \
	"[--secret-file f]\n" \
	"                       -u url"

#define BATCH_MAX	100000

enum {
	OPT_AFTER = 256, OPT_BEARER, OPT_CACERT, OPT_CERT, OPT_DEADLETTER,
	OPT_KEY, OPT_MARKERS, OPT_MAXATT, OPT_METRICS, OPT_SECRET
};

static const struct option longopts[] = {
	{ "after",		required_argument, NULL, OPT_AFTER },
	{ "batch",		required_argument, NULL, 'b' },
	{ "bearer-file",	required_argument, NULL, OPT_BEARER },
	{ "cacert",		required_argument, NULL, OPT_CACERT },
	{ "cert",		required_argument, NULL, OPT_CERT },
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "format",		required_argument, NULL, 'f' },
	{ "header",		required_argument, NULL, 'H' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "key",		required_argument, NULL, OPT_KEY },
	{ "linger",		required_argument, NULL, 'm' },
	{ "markers",		no_argument,	   NULL, OPT_MARKERS },
	{ "max-attempts",	required_argument, NULL, OPT_MAXATT },
	{ "secret-file",	required_argument, NULL, OPT_SECRET },
	{ "timeout",		required_argument, NULL, 't' },
	{ "url",		required_argument, NULL, 'u' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line. */
static struct pgflo_webhook_config wcf = {
	.timeout_ms = 30000, .content_type = "application/json"
};
static struct pgflo_durable_config dc = {
	.batch_rows = LONG_MAX, .batch_ms = 100
};
static long batch = 1;
static int ndjson, markers, vflag;
static const char *deadletter, *secretfile, *bearerfile, *metricsfile;
static struct pgflo_metrics metrics;
static const char **hdrs;
static struct pgflo_pos after;

/* A record of the pending requests: its line in raw, its position. */
struct rec {
	size_t	 off, len;	/* in raw; len without the '\n' */
	struct pgflo_pos pos;
	int	 has_pos;
};

/* The sink: records taken, not yet delivered. */
static struct hs {
	struct pgflo_webhook *w;
	struct pgflo_webhook_keys keys;
	struct pgflo_buf bearer;
	struct pgflo_buf raw;		/* the lines, each ending in '\n' */
	struct rec *v;
	int	 n, cap;
	/* The source transaction of the last record taken. */
	pgflo_lsn txn_lsn;
	int	 txn_start;		/* its first record in v */
	int	 txn_n;			/* its records taken, sent or not */
	struct pgflo_buf body, id;	/* scratch */
	unsigned long delivered, deadlettered;
	/* A request that cannot be delivered ends the run (failure()). */
	struct {
		int	 on, status;
		char	 msg[1000];
	} fail;
} hs;

static void
help(void)
{
	printf(
"pgflo-sink-http POSTs change records (stdin) to a webhook, at least once\n"
"and in order, and prints a position record once the receiver answered 2xx\n"
"for everything up to it.  Standard Webhooks headers and signatures.\n"
"\n"
"Usage:\n"
"  pgflo-sink-http [OPTION]... --url URL < records\n"
"\n"
"Options:\n"
"  -u, --url=URL           the webhook (http or https; no credentials)\n"
"  -b, --batch=N           records per request (default 1: the record as\n"
"                          is; more: a JSON array or NDJSON)\n"
"  -f, --format=FORMAT     json (default) or ndjson for batches\n"
"  -m, --linger=MS         send a partial batch after MS ms (default 100)\n"
"      --markers           send begin and commit records too\n"
"  -H, --header='K: V'     add a header to every request (not secrets)\n"
"      --secret-file=FILE  sign with the whsec_ secrets in FILE\n"
"      --bearer-file=FILE  send the token in FILE as Authorization: Bearer\n"
"  -t, --timeout=SECS      per request (default 30)\n"
"      --max-attempts=N    give up a request after N tries, exit 3\n"
"                          (default: retry for ever)\n"
"      --dead-letter=FILE  append refused records to FILE and go on\n"
"      --cacert=FILE       verify the server with these CA certificates\n"
"      --cert=FILE, --key=FILE  client certificate and its key\n"
"      --after=POS         skip records at or before POS\n"
"      --metrics=FILE      keep Prometheus metrics in FILE (every 5s)\n"
"  -v, --verbose           report batches and a summary on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_WEBHOOK_SECRET, PGFLO_BEARER_TOKEN, PGFLO_FLUSH,\n"
"PGFLO_GROUP_COMMIT, PGFLO_MAX_RECORD, PGFLO_METRICS.\n"
"Exit status: 0 ok or stopped, 1 bad record or request refused, 2 usage,\n"
"3 retries used up, 141 reader gone (SIGPIPE).\n");
}

/* ---- requests ---- */

/* "pgflo-<LSN, 16 hex>-<ordinal>-<hash of the body>": webhook.h. */
static const char *
request_id(const struct rec *first, const char *body, size_t len)
{
	pgflo_buf_reset(&hs.id);
	pgflo_buf_puts(&hs.id, "pgflo-");
	if (first->has_pos && first->pos.commit_lsn != 0)
		pgflo_buf_printf(&hs.id, "%016llX-%llu-",
		    (unsigned long long)first->pos.commit_lsn,
		    (unsigned long long)first->pos.ordinal);
	else if (first->has_pos)
		pgflo_buf_printf(&hs.id, "s%llu-",
		    (unsigned long long)first->pos.stream_seq);
	pgflo_webhook_hash(&hs.id, body, len);
	return pgflo_buf_cstr(&hs.id);
}

/* The body of records [i, j): one as is, a JSON array, or NDJSON. */
static void
build_body(int i, int j)
{
	int k;

	pgflo_buf_reset(&hs.body);
	if (batch == 1 && !ndjson) {
		pgflo_buf_putn(&hs.body, hs.raw.data + hs.v[i].off,
		    hs.v[i].len);
		return;
	}
	if (ndjson) {
		pgflo_buf_putn(&hs.body, hs.raw.data + hs.v[i].off,
		    hs.v[j - 1].off + hs.v[j - 1].len + 1 - hs.v[i].off);
		return;
	}
	pgflo_buf_putc(&hs.body, '[');
	for (k = i; k < j; k++) {
		if (k > i)
			pgflo_buf_putc(&hs.body, ',');
		pgflo_buf_putn(&hs.body, hs.raw.data + hs.v[k].off,
		    hs.v[k].len);
	}
	pgflo_buf_putc(&hs.body, ']');
}

/* Ends the run: the stage stops at failed(), the position stays. */
static int
fail(int status, const char *msg)
{
	hs.fail.on = 1;
	hs.fail.status = status;
	snprintf(hs.fail.msg, sizeof(hs.fail.msg), "%s", msg);
	return -1;
}

/* Records [i, j) refused for good: to the dead-letter file, or the end. */
static int
refused(int i, int j, const char *msg)
{
	char m[1000];
	int k;

	if (dc.dl == NULL) {
		snprintf(m, sizeof(m), "%s (position not advanced past it)",
		    msg);
		return fail(PGFLO_EXIT_FAIL, m);
	}
	for (k = i; k < j; k++)
		if (pgflo_deadletter_line(dc.dl, hs.raw.data + hs.v[k].off,
		    hs.v[k].len) == -1)
			return fail(PGFLO_EXIT_FAIL, dc.dl->errmsg);
	/* Durable before any position past them is printed. */
	if (pgflo_deadletter_sync(dc.dl) == -1)
		return fail(PGFLO_EXIT_FAIL, dc.dl->errmsg);
	hs.deadlettered += (unsigned long)(j - i);
	pgflo_warnx("%s (%d record%s written to %s)", msg, j - i,
	    j - i == 1 ? "" : "s", dc.dl->name);
	return 0;
}

/* Delivers records [i, j): a 413 halves them.  0, or -1 (fail()). */
static int
send_range(int i, int j)
{
	char errbuf[900], m[1000];
	int r;

	build_body(i, j);
	r = pgflo_webhook_deliver(hs.w, request_id(&hs.v[i], hs.body.data,
	    hs.body.len), hs.body.data, hs.body.len, pgflo_out_check_reader,
	    errbuf, sizeof(errbuf));
	switch (r) {
	case PGFLO_WH_OK:
		hs.delivered += (unsigned long)(j - i);
		if (vflag)
			pgflo_warnx("delivered %d records", j - i);
		return 0;
	case PGFLO_WH_TOO_LARGE:
		if (j - i == 1)
			return refused(i, j, errbuf);
		if (vflag)
			pgflo_warnx("%s: again in two halves", errbuf);
		if (send_range(i, i + (j - i) / 2) == -1)
			return -1;
		return send_range(i + (j - i) / 2, j);
	case PGFLO_WH_REFUSED:
		return refused(i, j, errbuf);
	case PGFLO_WH_STOPPED:
		/* A stop signal while waiting to retry: a clean stop. */
		return fail(0, "stopped");
	default:
		snprintf(m, sizeof(m), "%s (position not advanced past it)",
		    errbuf);
		return fail(r == PGFLO_WH_CONFIG ? PGFLO_EXIT_USAGE :
		    PGFLO_EXIT_UNAVAIL, m);
	}
}

/* Sends the first n records taken; the rest move to the front. */
static int
send_first(int n)
{
	size_t cut;
	int k;

	if (n <= 0 || hs.fail.on)
		return hs.fail.on ? -1 : 0;
	if (send_range(0, n) == -1)
		return -1;
	cut = n < hs.n ? hs.v[n].off : hs.raw.len;
	memmove(hs.raw.data, hs.raw.data + cut, hs.raw.len - cut);
	hs.raw.len -= cut;
	for (k = n; k < hs.n; k++) {
		hs.v[k - n] = hs.v[k];
		hs.v[k - n].off -= cut;
	}
	hs.n -= n;
	hs.txn_start = hs.txn_start > n ? hs.txn_start - n : 0;
	return 0;
}

/* ---- the durable stage's ops ---- */

static int
hs_connect(void *sink, char *errbuf, size_t errlen)
{
	(void)sink;
	if (hs.w == NULL && (hs.w = pgflo_webhook_new(&wcf, errbuf,
	    errlen)) == NULL)
		return PGFLO_EXIT_USAGE;
	return 0;
}

/* What is durable is the checkpoint store's: --after says it. */
static int
hs_setup(void *sink, struct pgflo_pos *applied, char *errbuf, size_t errlen)
{
	(void)sink;
	(void)errbuf;
	(void)errlen;
	*applied = after;
	return 0;
}

static void
hs_close(void *sink)
{
	(void)sink;
}

static void
hs_begin(void *sink, int one_by_one)
{
	(void)sink;
	(void)one_by_one;
}

static void
take(const struct pgflo_recspan *r)
{
	struct rec *e;

	if (hs.n == hs.cap) {
		hs.cap = hs.cap != 0 ? hs.cap * 2 : 64;
		hs.v = pgflo_xrealloc(hs.v, (size_t)hs.cap * sizeof(*hs.v));
	}
	e = &hs.v[hs.n++];
	e->off = hs.raw.len;
	e->len = r->linelen;
	e->pos = r->pos;
	e->has_pos = r->has_lsn || r->has_seq;
	pgflo_buf_putn(&hs.raw, r->line, r->linelen);
	pgflo_buf_putc(&hs.raw, '\n');
	hs.txn_n++;
}

/*
 * A record for the next request.  A full request goes at once: the
 * whole transactions before this record's, or, when its transaction
 * alone fills it, the first N records.
 */
static int
hs_write(void *sink, struct pgflo_recspan *r, long idx, char *errbuf,
    size_t errlen)
{
	(void)sink;
	(void)idx;
	(void)errbuf;
	(void)errlen;
	if (!markers && (r->op == PGFLO_OP_BEGIN || r->op == PGFLO_OP_COMMIT))
		return 0;
	if (!r->has_lsn || r->pos.commit_lsn != hs.txn_lsn) {
		hs.txn_lsn = r->has_lsn ? r->pos.commit_lsn : 0;
		hs.txn_start = hs.n;
		hs.txn_n = 0;
	}
	if (hs.fail.on)
		return 0;	/* failed() says so */
	if (hs.n >= batch && send_first(hs.txn_start > 0 ? hs.txn_start :
	    hs.n) == -1)
		return 0;
	take(r);
	return 0;
}

static int
hs_failed(void *sink, int wait)
{
	(void)sink;
	(void)wait;
	/* send_range() retried, halved or dead-lettered what it could. */
	return hs.fail.on;
}

/* The run ends; nothing of the open batch is reported. */
static void
hs_failure(void *sink, struct pgflo_durable_failure *f)
{
	(void)sink;
	f->kind = PGFLO_DF_STOP;
	f->status = hs.fail.status;
	snprintf(f->msg, sizeof(f->msg), "%s", hs.fail.msg);
}

/* Everything taken is delivered: the stage then prints the position. */
static int
hs_commit(void *sink, const struct pgflo_pos *pos)
{
	(void)sink;
	(void)pos;
	return send_first(hs.n);
}

static void
hs_rollback(void *sink, int in_batch)
{
	(void)sink;
	(void)in_batch;
	hs.n = 0;
	hs.raw.len = 0;
	hs.txn_start = hs.txn_n = 0;
	hs.txn_lsn = 0;
	hs.fail.on = 0;
}

/*
 * At the end of a transaction: send when the request is full, or when
 * another transaction like the last would not fit.
 */
static int
hs_commit_soon(void *sink)
{
	(void)sink;
	return hs.n > 0 && (hs.n >= batch || hs.n + hs.txn_n > batch);
}

static const struct pgflo_durable_ops hs_ops = {
	.connect = hs_connect,
	.setup = hs_setup,
	.close = hs_close,
	.begin = hs_begin,
	.write = hs_write,
	.failed = hs_failed,
	.failure = hs_failure,
	.commit = hs_commit,
	.rollback = hs_rollback,
	.commit_soon = hs_commit_soon,
};

/* ---- the command line ---- */

static long
parse_num(const char *s, const char *what, long min, long max)
{
	long v;

	if (pgflo_parse_long(s, min, max, &v) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
	return v;
}

/* A duration; a bare number is ms (unit "ms") or seconds. */
static long
parse_ms(const char *s, const char *what, int bare_ms, long min)
{
	long v;

	if (bare_ms && pgflo_parse_long(s, 0, 86400000L, &v) == 0 && v >= min)
		return v;
	if (pgflo_parse_duration_ms(s, &v) == 0 && v >= min &&
	    v <= 86400000L)
		return v;
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

static void
add_header(const char *h)
{
	const char *c = strchr(h, ':');
	static int n;

	if (c == NULL || c == h || strpbrk(h, "\r\n") != NULL)
		pgflo_usage_error(SYNOPSIS, "invalid --header: want 'Name: "
		    "value'");
	hdrs = pgflo_xrealloc(hdrs, (size_t)(n + 1) * sizeof(*hdrs));
	hdrs[n++] = h;
	wcf.headers = hdrs;
	wcf.nheaders = n;
}

static void
parse_option(int ch)
{
	switch (ch) {
	case 'b':
		batch = parse_num(optarg, "--batch", 1, BATCH_MAX);
		break;
	case 'f':
		if (strcmp(optarg, "json") != 0 && strcmp(optarg,
		    "ndjson") != 0)
			pgflo_usage_error(SYNOPSIS, "invalid --format: %s "
			    "(json or ndjson)", optarg);
		ndjson = strcmp(optarg, "ndjson") == 0;
		break;
	case 'H':
		add_header(optarg);
		break;
	case 'm':
		dc.batch_ms = parse_ms(optarg, "--linger", 1, 0);
		break;
	case 't':
		wcf.timeout_ms = parse_ms(optarg, "--timeout", 0, 1);
		break;
	case 'u':
		wcf.url = optarg;
		break;
	case 'v':
		vflag = wcf.verbose = 1;
		break;
	case OPT_AFTER:
		if (pgflo_pos_parse(optarg, &after) == -1)
			pgflo_usage_error(SYNOPSIS, "invalid --after: %s (a "
			    "position record, X/Y[:ORDINAL] or a stream "
			    "sequence)", optarg);
		break;
	case OPT_BEARER:
		bearerfile = optarg;
		break;
	case OPT_CACERT:
		wcf.cacert = optarg;
		break;
	case OPT_CERT:
		wcf.cert = optarg;
		break;
	case OPT_DEADLETTER:
		deadletter = optarg;
		break;
	case OPT_KEY:
		wcf.key = optarg;
		break;
	case OPT_MARKERS:
		markers = 1;
		break;
	case OPT_MAXATT:
		wcf.max_attempts = parse_num(optarg, "--max-attempts", 1,
		    1000000000L);
		break;
	case OPT_METRICS:
		metricsfile = optarg;
		break;
	case OPT_SECRET:
		secretfile = optarg;
		break;
	default:
		pgflo_usage_exit(SYNOPSIS);
	}
}

/* The secrets: from their files, else the environment; never argv. */
static void
load_secrets(void)
{
	struct pgflo_buf b = { 0 };
	char errbuf[1024];
	const char *e;

	if (secretfile != NULL) {
		if (pgflo_secret_file(secretfile, &b, errbuf,
		    sizeof(errbuf)) == -1)
			pgflo_usage_error(SYNOPSIS, "%s", errbuf);
		e = pgflo_buf_cstr(&b);
	} else
		e = pgflo_env("WEBHOOK_SECRET", NULL);
	if (e != NULL && pgflo_webhook_keys_parse(&hs.keys, e,
	    secretfile != NULL ? secretfile : "PGFLO_WEBHOOK_SECRET", errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
	if (b.data != NULL)
		memset(b.data, 0, b.cap);
	pgflo_buf_free(&b);
	wcf.keys = &hs.keys;
	if (bearerfile != NULL) {
		if (pgflo_secret_file(bearerfile, &hs.bearer, errbuf,
		    sizeof(errbuf)) == -1)
			pgflo_usage_error(SYNOPSIS, "%s", errbuf);
	} else if ((e = pgflo_env("BEARER_TOKEN", NULL)) != NULL)
		pgflo_buf_puts(&hs.bearer, e);
	if (hs.bearer.len > 0) {
		if (strpbrk(pgflo_buf_cstr(&hs.bearer), "\r\n") != NULL)
			pgflo_usage_error(SYNOPSIS, "the bearer token of %s "
			    "holds a line break", bearerfile != NULL ?
			    bearerfile : "PGFLO_BEARER_TOKEN");
		wcf.bearer = hs.bearer.data;
	}
}

static void
parse_options(int argc, char *argv[])
{
	char errbuf[512];
	int ch;

	while ((ch = getopt_long(argc, argv, "b:f:H:hm:t:u:Vv", longopts,
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
	if (wcf.url == NULL)
		pgflo_usage_error(SYNOPSIS, "-u is required");
	if (pgflo_webhook_url_ok(wcf.url, errbuf, sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid --url: %s", errbuf);
	if ((wcf.cert == NULL) != (wcf.key == NULL))
		pgflo_usage_error(SYNOPSIS, "--cert and --key go together");
	if (ndjson)
		wcf.content_type = "application/x-ndjson";
	load_secrets();
}

static void
hs_free(void)
{
	pgflo_webhook_free(hs.w);
	pgflo_webhook_keys_free(&hs.keys);
	if (hs.bearer.data != NULL)
		memset(hs.bearer.data, 0, hs.bearer.cap);
	pgflo_buf_free(&hs.bearer);
	pgflo_buf_free(&hs.raw);
	pgflo_buf_free(&hs.body);
	pgflo_buf_free(&hs.id);
	free(hs.v);
	free(hdrs);
}

int
main(int argc, char *argv[])
{
	char errbuf[1024];
	struct pgflo_reader rd;
	/* static: still reachable when pgflo_errx() exits (LeakSanitizer). */
	static struct pgflo_durable *d;
	int st;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	pgflo_out_init();
	if (deadletter != NULL && (dc.dl = pgflo_deadletter_open(deadletter,
	    errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	if (pgflo_metrics_init(&metrics, metricsfile, "sink-http", NULL, NULL,
	    errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	dc.metrics = &metrics;
	d = pgflo_durable_new(&dc, &hs_ops, NULL);
	st = pgflo_durable_run(d, &rd);
	pgflo_metrics_close(&metrics);
	if (st != 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(st, "%s", pgflo_durable_errmsg(d));
	}
	if (vflag)
		pgflo_warnx("%lu records delivered in %lu requests (%lu "
		    "retries), %lu dead-lettered, %lu skipped", hs.delivered,
		    hs.w != NULL ? pgflo_webhook_requests(hs.w) : 0,
		    hs.w != NULL ? pgflo_webhook_retries(hs.w) : 0,
		    hs.deadlettered, pgflo_durable_skipped(d));
	pgflo_durable_free(d);
	pgflo_reader_close(&rd);
	pgflo_deadletter_close(dc.dl);
	hs_free();
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
