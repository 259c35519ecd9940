/*
 * pgflo-checkpoint - store and read positions.
 *
 * --save STORE keeps the newest position of its input, of each kind
 * (commit_lsn with ordinal, stream_seq) on its own and never moving
 * backwards, with the copy progress of the snapshot records, and stores
 * that document atomically, at most every --interval, and at EOF or on
 * SIGINT/SIGTERM.  --get STORE prints what is stored.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "copyprog.h"
#include "jsonscan.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "metrics.h"
#include "output.h"
#include "reader.h"
#include "record.h"
#include "store.h"

#define STOP_GRACE_MS	2000	/* reading on after SIGINT/SIGTERM */
#define RETRY_MS	500	/* a store that is down, tried again */

#define SYNOPSIS \
	"pgflo-checkpoint [-tv] [-i interval] [--dead-letter file] " \
	"[--replicas n]\n" \
	"                        [--max-outage secs] [--metrics file] -s store\n" \
	"       pgflo-checkpoint [-f field] [--default value] -g store"

enum { OPT_DEFAULT = 256, OPT_DEADLETTER, OPT_MAXOUTAGE, OPT_METRICS,
	OPT_REPLICAS };

static const struct option longopts[] = {
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "default",		required_argument, NULL, OPT_DEFAULT },
	{ "field",		required_argument, NULL, 'f' },
	{ "get",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "interval",		required_argument, NULL, 'i' },
	{ "max-outage",		required_argument, NULL, OPT_MAXOUTAGE },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "replicas",		required_argument, NULL, OPT_REPLICAS },
	{ "save",		required_argument, NULL, 's' },
	{ "tee",		no_argument,	   NULL, 't' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The longest "group" kept: a name, not a payload. */
#define GROUP_MAX_BYTES 1024
/*
 * Room in the store for everything but the copy progress: the position
 * part is bounded by GROUP_MAX_BYTES (escaped, at most 6 bytes a byte).
 */
#define POS_RESERVE (8 << 10)
#define COPY_MAX_BYTES (PGFLO_STORE_MAX_BYTES - POS_RESERVE)
/*
 * More than one snapshot record can add to the stored copy progress: a
 * new slot (under 450 bytes, escaped) and a table entry (two names of
 * 63 bytes, escaped, an LSN and a count: under 900).
 */
#define MERGE_MAX_BYTES 2048

static int tflag, vflag;
static long replicas;		/* of a nats: bucket --save creates */
static long max_outage_ms;	/* of the store under --save; 0: for ever */
/* An upper bound of the stored size of the copy progress ("copy"). */
static size_t copysize = COPY_MAX_BYTES;
/* --save --metrics: batches are the positions stored. */
static const char *metricsfile;
static struct pgflo_metrics metrics;

static void
help(void)
{
	printf(
"pgflo-checkpoint stores and reads positions (LSN, stream sequence).\n"
"\n"
"Usage:\n"
"  pgflo-checkpoint [OPTION]... --save STORE   < records\n"
"  pgflo-checkpoint [OPTION]... --get STORE\n"
"\n"
"Options:\n"
"  -s, --save=STORE        keep the newest position record of stdin in STORE\n"
"  -g, --get=STORE         print the position held by STORE\n"
"  -i, --interval=SECS     store at most this often (default 1s; 0: every\n"
"                          position)\n"
"  -t, --tee               copy every input record to stdout\n"
"      --dead-letter=FILE  write bad input lines to FILE and go on\n"
"      --replicas=N        with --save: replicas of a nats: bucket it creates\n"
"                          (default 1)\n"
"      --max-outage=SECS   with --save: exit 3 when the store has been\n"
"                          unreachable this long (default: wait for ever)\n"
"      --metrics=FILE      with --save: keep Prometheus metrics in FILE\n"
"                          (every 5s)\n"
"  -f, --field=NAME        with --get: print only commit_lsn, ordinal or\n"
"                          stream_seq\n"
"      --default=VALUE     with --get: print VALUE when nothing is stored\n"
"  -v, --verbose           report what was stored at exit\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"STORE is file:PATH (or a plain PATH) or nats:BUCKET/KEY (a JetStream\n"
"key-value bucket; --save creates it when missing).\n"
"Environment: PGFLO_CHECKPOINT_INTERVAL, PGFLO_MAX_RECORD, PGFLO_FLUSH,\n"
"PGFLO_METRICS;\n"
"PGFLO_NATS_URL, PGFLO_NATS_CREDS, PGFLO_NATS_NKEY, PGFLO_NATS_NKEY_PUB,\n"
"PGFLO_NATS_USER, PGFLO_NATS_PASSWORD, PGFLO_NATS_TOKEN, PGFLO_NATS_CA,\n"
"PGFLO_NATS_CERT, PGFLO_NATS_KEY.\n"
"Exit status: 0 ok or stopped, 1 data or I/O failure, 2 usage, 3 server\n"
"unreachable, 141 reader gone (SIGPIPE).\n");
}

static int
get(const char *url, const char *field, const char *dflt)
{
	struct pgflo_store *st;
	struct pgflo_pos pos;
	char errbuf[512], lsn[PGFLO_LSN_BUFSZ];
	json_t *rec = NULL;
	int r;

	if ((st = pgflo_store_open(url, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	r = pgflo_store_get(st, &pos, &rec);
	if (r == -1)
		pgflo_errx(pgflo_store_status(st), "%s", st->errmsg);
	if (r == 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", st->note);
		pgflo_store_close(st);
		if (dflt == NULL && errbuf[0] != '\0')
			pgflo_errx(PGFLO_EXIT_FAIL, "no position stored in %s "
			    "(%s)", url, errbuf);
		if (dflt == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "no position stored in %s",
			    url);
		printf("%s\n", dflt);
		return 0;
	}
	if (field == NULL)
		r = pgflo_out_json(rec);
	else if (strcmp(field, "commit_lsn") == 0 && pos.commit_lsn != 0)
		r = printf("%s\n", pgflo_lsn_format(pos.commit_lsn, lsn));
	else if (strcmp(field, "ordinal") == 0 && pos.commit_lsn != 0)
		r = printf("%llu\n", (unsigned long long)pos.ordinal);
	else if (strcmp(field, "stream_seq") == 0 && pos.stream_seq != 0)
		r = printf("%llu\n", (unsigned long long)pos.stream_seq);
	else
		pgflo_errx(PGFLO_EXIT_FAIL, "position in %s has no %s", url,
		    field);
	json_decref(rec);
	pgflo_store_close(st);
	return r < 0 ? -1 : 0;
}

/*
 * Stores doc (borrowed): 0, or -1 while the store is unreachable (the
 * caller keeps doc and tries again): a NATS server that restarts must
 * not end the pipeline, as publish and capture ride it out too.  Other
 * failures, and an outage past --max-outage, end the run.
 */
/* A position stored: one batch, the last position. */
static void
count_stored(const json_t *doc)
{
	struct pgflo_pos p;

	metrics.batches++;
	if (pgflo_pos_from_json(doc, &p) == 0) {
		metrics.last_lsn = p.commit_lsn;
		metrics.last_seq = p.stream_seq;
	}
}

/* An input line, and with -t the same line out. */
static void
count_line(const struct pgflo_reader *rd)
{
	enum pgflo_metric_op op;

	if (!pgflo_metrics_on(&metrics))
		return;
	op = pgflo_metrics_line_op(rd->line, rd->len);
	metrics.in[op]++;
	metrics.bytes_in += rd->len + 1;
	if (tflag) {
		metrics.out[op]++;
		metrics.bytes_out += rd->len + 1;
	}
}

/* The wait for input, shortened to the metrics file's next rewrite. */
static int
wait_ms(int timeout)
{
	long m;

	pgflo_metrics_tick(&metrics);
	if (!pgflo_metrics_on(&metrics))
		return timeout;
	m = metrics.next_ms - pgflo_now_ms();
	m = m < 0 ? 0 : m;
	return timeout < 0 || m < timeout ? (int)m : timeout;
}

/* Whether a position waits and its store is due (or its retry). */
static int
store_due(int dirty, long last, long retry_at, long interval_ms)
{
	long now = pgflo_now_ms();

	return dirty && (retry_at != 0 ? now >= retry_at :
	    interval_ms == 0 || now - last >= interval_ms);
}

static int
put(struct pgflo_store *st, const json_t *doc)
{
	static long down_since;

	if (pgflo_store_put(st, doc) == 0) {
		count_stored(doc);
		if (down_since != 0)
			pgflo_warnx("%s is back; position stored", st->url);
		down_since = 0;
		return 0;
	}
	if (pgflo_store_status(st) != PGFLO_EXIT_UNAVAIL)
		pgflo_errx(pgflo_store_status(st), "%s", st->errmsg);
	metrics.retries++;
	if (down_since == 0) {
		down_since = pgflo_now_ms();
		pgflo_warnx("%s; keeping the position, trying again",
		    st->errmsg);
	}
	if (max_outage_ms > 0 && pgflo_now_ms() - down_since >= max_outage_ms)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "%s (for longer than "
		    "--max-outage)", st->errmsg);
	return -1;
}

/* At the end: the last position stored, or exit 3 on a stop signal. */
static void
put_last(struct pgflo_store *st, const json_t *doc)
{
	struct timespec ts = { 0, RETRY_MS * 1000000L };

	while (put(st, doc) == -1) {
		if (pgflo_stopping())
			pgflo_errx(PGFLO_EXIT_UNAVAIL, "%s: the last position "
			    "was not stored", st->errmsg);
		nanosleep(&ts, NULL);
	}
}

/*
 * The position of a position record, and its group (borrowed, or NULL);
 * NULL, or what is wrong with it.
 */
static const char *
position_of(const json_t *rec, struct pgflo_pos *pos, json_t **group)
{
	json_t *v;

	memset(pos, 0, sizeof(*pos));
	if ((v = json_object_get(rec, "commit_lsn")) != NULL &&
	    !json_is_null(v) &&
	    pgflo_lsn_parse(json_string_value(v), &pos->commit_lsn) == -1)
		return "\"commit_lsn\" is not an LSN";
	if ((v = json_object_get(rec, "ordinal")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return "\"ordinal\" is not a non-negative integer";
		if (pos->commit_lsn == 0)
			return "an \"ordinal\" without a \"commit_lsn\"";
		pos->ordinal = (uint64_t)json_integer_value(v);
	}
	if ((v = json_object_get(rec, "stream_seq")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return "\"stream_seq\" is not a non-negative integer";
		pos->stream_seq = (uint64_t)json_integer_value(v);
	}
	if (!pgflo_pos_is_set(pos))
		return "no \"commit_lsn\" or \"stream_seq\"";
	if ((*group = json_object_get(rec, "group")) != NULL) {
		if (json_is_null(*group))
			*group = NULL;
		else if (!json_is_string(*group))
			return "\"group\" is not a string";
		else if (json_string_length(*group) > GROUP_MAX_BYTES)
			return "\"group\" is longer than 1024 bytes";
	}
	return NULL;
}

/*
 * The document stored: op, each kind of position, the group and the
 * copy progress (group and copy borrowed, may be NULL).
 */
static json_t *
position_doc(const struct pgflo_pos *best, json_t *group, json_t *copy)
{
	char lsn[PGFLO_LSN_BUFSZ];
	json_t *doc;

	doc = json_pack("{s:s}", "op", "position");
	if (best->commit_lsn != 0) {
		json_object_set_new(doc, "commit_lsn",
		    json_string(pgflo_lsn_format(best->commit_lsn, lsn)));
		json_object_set_new(doc, "ordinal",
		    json_integer((json_int_t)best->ordinal));
	}
	if (best->stream_seq != 0)
		json_object_set_new(doc, "stream_seq",
		    json_integer((json_int_t)best->stream_seq));
	if (group != NULL)
		json_object_set(doc, "group", group);
	if (copy != NULL)
		json_object_set(doc, "copy", copy);
	return doc;
}

/* The size of v (borrowed) as the store writes it. */
static size_t
stored_size(const json_t *v)
{
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;
	size_t n;

	pgflo_jw_init(&w, &b);
	pgflo_jw_json(&w, v);
	n = b.len;
	pgflo_buf_free(&b);
	return n;
}

/*
 * Whether one more snapshot record keeps the copy progress small enough
 * for the store to read back.  copysize only grows by the most a merge
 * adds and is measured again, seldom, when it nears the limit.
 */
static int
copy_fits(const json_t *doc)
{
	const json_t *copy;

	if (copysize + MERGE_MAX_BYTES <= COPY_MAX_BYTES)
		return 1;
	copy = doc != NULL ? json_object_get(doc, "copy") : NULL;
	copysize = copy != NULL ? stored_size(copy) : 0;
	return copysize + MERGE_MAX_BYTES <= COPY_MAX_BYTES;
}

/* A line that cannot be kept: dead-letter it, or fail. */
static void
refuse(struct pgflo_reader *rd, const char *what, const char *why)
{
	if (pgflo_reader_reject(rd, "%s:%lu: %s%s%s", rd->name, rd->lineno,
	    what, *what != '\0' ? ": " : "", why) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd->errmsg);
}

/*
 * The document kept (see the file comment); what the store could not
 * read back is refused.  Returns 1 when doc changed.
 */
static int
keep(struct pgflo_reader *rd, json_t **doc, struct pgflo_pos *best,
    json_t *rec)
{
	struct pgflo_pos pos;
	json_t *group, *copy, *nd;
	const char *bad;
	char why[256];
	int r;

	switch (pgflo_rec_op(rec)) {
	case PGFLO_OP_POSITION:
		if ((bad = position_of(rec, &pos, &group)) != NULL) {
			refuse(rd, "malformed position record", bad);
			return 0;
		}
		if (pgflo_pos_advance(best, &pos) == 0)
			return 0;	/* never move backwards */
		if (group == NULL && *doc != NULL)
			group = json_object_get(*doc, "group");
		copy = *doc != NULL ? json_object_get(*doc, "copy") : NULL;
		nd = position_doc(best, group, copy);
		json_decref(*doc);
		*doc = nd;
		return 1;
	case PGFLO_OP_SNAPSHOT:
		if (!copy_fits(*doc)) {
			snprintf(why, sizeof(why), "copy progress would "
			    "outgrow the %d bytes a store holds",
			    PGFLO_STORE_MAX_BYTES);
			refuse(rd, "snapshot record not kept", why);
			return 0;
		}
		if (*doc == NULL)
			*doc = json_pack("{s:s}", "op", "position");
		if ((r = pgflo_copyprog_merge(*doc, rec, why,
		    sizeof(why))) == -1) {
			refuse(rd, "", why);
			return 0;
		}
		if (r == 1)
			copysize += MERGE_MAX_BYTES;
		return r == 1;
	default:
		return 0;
	}
}

/*
 * The words for a line the span scanner refused: jansson's, which only
 * runs on this rare path (its integers end at int64, hence the retry).
 */
static void
bad_json(struct pgflo_reader *rd)
{
	json_error_t jerr;
	json_t *j;
	const char *nul;

	if ((nul = memchr(rd->line, '\0', rd->len)) != NULL) {
		snprintf(rd->errmsg, sizeof(rd->errmsg), "%s:%lu: invalid "
		    "JSON: a NUL byte (column %zu)", rd->name, rd->lineno,
		    (size_t)(nul - rd->line) + 1);
		return;
	}
	j = json_loadb(rd->line, rd->len, 0, &jerr);
	if (j == NULL && strstr(jerr.text, "too big") != NULL)
		j = json_loadb(rd->line, rd->len, JSON_DECODE_INT_AS_REAL,
		    &jerr);
	if (j == NULL)
		snprintf(rd->errmsg, sizeof(rd->errmsg),
		    "%s:%lu: invalid JSON: %s (column %d)", rd->name,
		    rd->lineno, jerr.text, jerr.column);
	else
		snprintf(rd->errmsg, sizeof(rd->errmsg),
		    "%s:%lu: invalid JSON: nested more than 512 levels deep",
		    rd->name, rd->lineno);
	json_decref(j);
}

/*
 * The current line as a record.  Only position and snapshot records are
 * parsed (with jansson); any other valid record is only checked by the
 * span scanner, whose numbers have no range, so a pass-through never
 * refuses a number it does not need.  Returns a new reference: the
 * record, or JSON null for a record that is not kept; NULL with
 * rd->errmsg for a bad line.
 */
static json_t *
scan_record(struct pgflo_reader *rd)
{
	struct pgflo_span line = { rd->line, rd->len }, key, val, op = { 0 };
	struct pgflo_js_iter it;
	json_error_t jerr;
	json_t *rec;

	if (!pgflo_js_valid(rd->line, rd->len) ||
	    !pgflo_jw_valid_utf8(rd->line, rd->len)) {
		bad_json(rd);
		return NULL;
	}
	if (pgflo_js_obj(&it, line) == -1) {
		snprintf(rd->errmsg, sizeof(rd->errmsg),
		    "%s:%lu: record is not a JSON object", rd->name, rd->lineno);
		return NULL;
	}
	while (pgflo_js_obj_next(&it, &key, &val)) {
		if (!pgflo_js_str_eq(key, "op"))
			continue;
		if (op.p != NULL) {
			snprintf(rd->errmsg, sizeof(rd->errmsg),
			    "%s:%lu: record has more than one \"op\"", rd->name,
			    rd->lineno);
			return NULL;
		}
		op = val;
	}
	if (op.p == NULL || *op.p != '"') {
		snprintf(rd->errmsg, sizeof(rd->errmsg),
		    "%s:%lu: record has no \"op\" string", rd->name, rd->lineno);
		return NULL;
	}
	if (!pgflo_js_str_eq(op, "position") &&
	    !pgflo_js_str_eq(op, "snapshot"))
		return json_null();
	rec = json_loadb(rd->line, rd->len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL)
		snprintf(rd->errmsg, sizeof(rd->errmsg),
		    "%s:%lu: invalid JSON: %s (column %d)", rd->name,
		    rd->lineno, jerr.text, jerr.column);
	return rec;
}

/* A due store: done, or tried again RETRY_MS later. */
static void
store_now(struct pgflo_store *st, const json_t *doc, int *dirty, long *last,
    long *retry_at)
{
	if (put(st, doc) == 0) {
		*dirty = 0;
		*last = pgflo_now_ms();
		*retry_at = 0;
	} else
		*retry_at = pgflo_now_ms() + RETRY_MS;
}

static int
save(const char *url, long interval_ms, const char *deadletter)
{
	struct pgflo_reader rd;
	struct pgflo_store *st;
	struct pgflo_pos best;
	json_t *rec, *doc = NULL;
	char errbuf[512], lsn[PGFLO_LSN_BUFSZ];
	long last = 0, grace_end = 0, retry_at = 0;
	int r, dirty = 0;

	if ((st = pgflo_store_open(url, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (pgflo_store_create(st, (int)replicas) == -1)
		pgflo_errx(pgflo_store_status(st), "%s", st->errmsg);
	/* Start from what is stored, so a replay never moves it back. */
	memset(&best, 0, sizeof(best));
	if (pgflo_store_get_doc(st, &doc) == -1)
		pgflo_errx(pgflo_store_status(st), "%s", st->errmsg);
	if (doc != NULL)
		(void)pgflo_pos_from_json(doc, &best);
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	if (pgflo_metrics_init(&metrics, metricsfile, "checkpoint", "store",
	    url, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (deadletter != NULL &&
	    pgflo_reader_set_deadletter(&rd, deadletter) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);

	for (;;) {
		int timeout = -1;

		if (dirty)
			timeout = (int)(retry_at != 0 ? retry_at -
			    pgflo_now_ms() : interval_ms - (pgflo_now_ms() -
			    last));
		if (pgflo_stopping()) {
			/*
			 * Ctrl-C stops the stages upstream too, and their last
			 * positions are still on the way: read on to their
			 * EOF, for STOP_GRACE_MS at most.
			 */
			if (grace_end == 0)
				grace_end = pgflo_now_ms() + STOP_GRACE_MS;
			if (pgflo_now_ms() >= grace_end)
				break;
			if (timeout < 0 || grace_end - pgflo_now_ms() < timeout)
				timeout = (int)(grace_end - pgflo_now_ms());
		}
		if (dirty && timeout <= 0)
			r = 2;
		else if ((r = pgflo_reader_next_timeout(&rd,
		    wait_ms(timeout < 0 ? -1 : timeout))) == 2 &&
		    !store_due(dirty, last, retry_at, interval_ms))
			continue;	/* the metrics file's turn */
		if (r == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd.errmsg);
		if (r == 0 && !rd.eof)
			continue;	/* a stop signal: see above */
		if (r == 0)
			break;
		if (r == 2) {
			/* Quiet upstream or interval due: store now. */
			if (dirty)
				store_now(st, doc, &dirty, &last, &retry_at);
			continue;
		}
		count_line(&rd);
		if (tflag && pgflo_out_line(rd.line, rd.len) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		if ((rec = scan_record(&rd)) == NULL) {
			metrics.errors++;
			if (pgflo_reader_reject(&rd, NULL) == -1)
				pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd.errmsg);
			continue;
		}
		if (keep(&rd, &doc, &best, rec))
			dirty = 1;
		json_decref(rec);
		if (dirty && (retry_at != 0 ? pgflo_now_ms() >= retry_at :
		    interval_ms == 0 || pgflo_now_ms() - last >= interval_ms))
			store_now(st, doc, &dirty, &last, &retry_at);
	}
	if (dirty)
		put_last(st, doc);
	pgflo_metrics_close(&metrics);
	if (vflag) {
		if (pgflo_pos_is_set(&best))
			pgflo_warnx("stored position %s:%llu%s in %s",
			    best.commit_lsn != 0 ?
			    pgflo_lsn_format(best.commit_lsn, lsn) : "-",
			    (unsigned long long)best.ordinal,
			    best.stream_seq != 0 ? " (with stream_seq)" : "",
			    url);
		else
			pgflo_warnx("no position seen; %s unchanged", url);
		if (rd.nbad > 0)
			pgflo_warnx("%lu bad lines written to %s", rd.nbad,
			    deadletter);
	}
	json_decref(doc);
	pgflo_reader_close(&rd);
	pgflo_store_close(st);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *savestore = NULL, *getstore = NULL, *field = NULL;
	const char *dflt = NULL, *deadletter = NULL, *iv;
	long interval_ms;
	int ch;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	iv = pgflo_env("CHECKPOINT_INTERVAL", "1s");
	if (pgflo_parse_duration_ms(iv, &interval_ms) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE,
		    "invalid PGFLO_CHECKPOINT_INTERVAL: %s", iv);
	while ((ch = getopt_long(argc, argv, "f:g:hi:s:tVv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			field = optarg;
			if (strcmp(field, "commit_lsn") != 0 &&
			    strcmp(field, "ordinal") != 0 &&
			    strcmp(field, "stream_seq") != 0)
				pgflo_usage_error(SYNOPSIS, "invalid field: %s "
				    "(commit_lsn, ordinal or stream_seq)", field);
			break;
		case 'g':
			getstore = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'i':
			if (pgflo_parse_duration_ms(optarg, &interval_ms) == -1)
				pgflo_usage_error(SYNOPSIS,
				    "invalid interval: %s", optarg);
			break;
		case 's':
			savestore = optarg;
			break;
		case 't':
			tflag = 1;
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
		case OPT_DEFAULT:
			dflt = optarg;
			break;
		case OPT_METRICS:
			metricsfile = optarg;
			break;
		case OPT_MAXOUTAGE:
			if (pgflo_parse_duration_ms(optarg, &max_outage_ms) == -1 ||
			    max_outage_ms <= 0)
				pgflo_usage_error(SYNOPSIS,
				    "invalid max-outage: %s", optarg);
			break;
		case OPT_REPLICAS:
			if (pgflo_parse_long(optarg, 1, 5, &replicas) == -1)
				pgflo_usage_error(SYNOPSIS,
				    "invalid replicas: %s (1 to 5)", optarg);
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if ((savestore == NULL) == (getstore == NULL))
		pgflo_usage_error(SYNOPSIS,
		    "give exactly one of --save or --get");
	if (getstore != NULL && replicas != 0)
		pgflo_usage_error(SYNOPSIS, "--replicas is for --save");
	if (getstore != NULL && max_outage_ms != 0)
		pgflo_usage_error(SYNOPSIS, "--max-outage is for --save");
	if (getstore != NULL && metricsfile != NULL)
		pgflo_usage_error(SYNOPSIS, "--metrics is for --save");
	pgflo_out_init();
	if (getstore != NULL) {
		if (get(getstore, field, dflt) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
	} else {
		pgflo_catch_signals();
		pgflo_out_clean_stop();
		pgflo_out_watch(tflag);	/* without -t stdout is unused */
		save(savestore, interval_ms, deadletter);
	}
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
