/*
 * pgflo-consume - read change records back from a NATS JetStream stream
 * that pgflo-publish wrote, from a stored position, with nothing skipped.
 *
 * The reading itself (an ordered consumer that resubscribes rather than
 * go on past a gap, records put back together from their parts) is
 * common/natsread.c's.  This file turns messages into the records
 * capture wrote: the begin and commit records that ride in headers
 * (natsmsg.h) come out around the changes, and "stream_seq" is added to
 * each record but a begin (whose message's change follows it, so a
 * position at the begin must not skip it).  With -t or --partition a
 * transaction's markers may be on messages this reader does not get:
 * its begin is then made from its first change and its commit when the
 * next transaction shows up, or when the stream says it is over.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "lsn.h"
#include "backoff.h"
#include "metrics.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "natsread.h"
#include "natsstream.h"
#include "output.h"
#include "record.h"
#include "store.h"
#include "tablepat.h"

#define SYNOPSIS \
	"pgflo-consume [-v] [-s url] [-t patterns] [--from pos] [--no-wait]\n" \
	"                     [--partition i/n] [--subject-prefix p] " \
	"[--max-outage secs]\n" \
	"                     [--metrics file] [--[no-]progress] --stream name"

#define WAIT_MS		200	/* a wait for messages, at most */
#define QUIET_MS	1000	/* then see whether an open txn is over */
#define MAX_PATTERNS	64

enum { OPT_FROM = 256, OPT_MAXOUTAGE, OPT_METRICS, OPT_NOPROGRESS,
	OPT_NOWAIT, OPT_PARTITION, OPT_PREFIX, OPT_PROGRESS, OPT_STREAM };

static const struct option longopts[] = {
	{ "from",		required_argument, NULL, OPT_FROM },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "max-outage",		required_argument, NULL, OPT_MAXOUTAGE },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "no-progress",	no_argument,	   NULL, OPT_NOPROGRESS },
	{ "no-wait",		no_argument,	   NULL, OPT_NOWAIT },
	{ "partition",		required_argument, NULL, OPT_PARTITION },
	{ "progress",		no_argument,	   NULL, OPT_PROGRESS },
	{ "server",		required_argument, NULL, 's' },
	{ "stream",		required_argument, NULL, OPT_STREAM },
	{ "subject-prefix",	required_argument, NULL, OPT_PREFIX },
	{ "tables",		required_argument, NULL, 't' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line. */
static const char *stream, *server, *from, *tables, *prefix = "pgflo";
static const char *metricsfile;
static int nowait, vflag, progressflag = -1;
static struct pgflo_metrics metrics;
static struct pgflo_progress progress;
static long part_i, part_n, max_outage_ms;

/* Table patterns, split (NULL schema: any). */
static struct {
	int	 n;
	char	*schema[MAX_PATTERNS], *table[MAX_PATTERNS];
} pats;

/* What a record holds that the markers and filters need: raw spans. */
struct rinfo {
	enum pgflo_op op;
	struct pgflo_pos pos;
	int	 has_lsn, txnal;
	struct pgflo_span lsn, xid, ts, origin, schema, table, key, newv, oldv;
};

/* The open transaction, when markers are made here (-t, --partition). */
static struct {
	int	 synth;		/* this reader may miss markers */
	int	 open;
	pgflo_lsn lsn;
	uint64_t last_ord;
	struct pgflo_buf tail;	/* ,"xid":..,"commit_ts":..[,"origin":..] */
	struct pgflo_buf lsntext;
	struct pgflo_buf begin;	/* a begin seen, for a change yet to come */
	pgflo_lsn begin_lsn;
	long	 quiet_since;
} tx;

static struct pgflo_pos from_pos;	/* lsn-only: drop records up to it */
static int from_lsn;
static struct pgflo_buf obuf;
static unsigned long nwritten;

static void
help(void)
{
	printf(
"pgflo-consume reads change records back from a NATS JetStream stream that\n"
"pgflo-publish wrote, from a stored position, and writes them on stdout with\n"
"\"stream_seq\" added, begin and commit records around each transaction.\n"
"\n"
"Usage:\n"
"  pgflo-consume [OPTION]... --stream NAME\n"
"\n"
"Options:\n"
"      --stream=NAME       the stream (A-Z a-z 0-9 _ -)\n"
"  -s, --server=URL        NATS server (default $PGFLO_NATS_URL, else\n"
"                          nats://127.0.0.1:4222); no credentials here\n"
"      --from=POS          start after POS: a stream sequence, a position\n"
"                          record, file:PATH, nats:BUCKET/KEY, first, last\n"
"                          or new (default first)\n"
"  -t, --tables=PATTERNS   only these tables' changes ([schema.]table, * ?)\n"
"      --partition=I/N     only the rows whose key hashes to I of 1..N\n"
"      --no-wait           exit at the end of the stream as it was at start\n"
"      --subject-prefix=P  as given to pgflo-publish (default pgflo)\n"
"      --max-outage=SECS   exit 3 when the server is gone this long\n"
"                          (default: wait for ever)\n"
"      --metrics=FILE      keep Prometheus metrics in FILE (every 5s)\n"
"      --progress          rows, rows/s and lag on stderr, one line kept\n"
"                          up to date (default when stderr is a terminal)\n"
"      --no-progress       no progress line\n"
"  -v, --verbose           report a summary on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_NATS_URL, PGFLO_NATS_CREDS, PGFLO_NATS_NKEY,\n"
"PGFLO_NATS_NKEY_PUB, PGFLO_NATS_USER, PGFLO_NATS_PASSWORD, PGFLO_NATS_TOKEN,\n"
"PGFLO_NATS_CA, PGFLO_NATS_CERT, PGFLO_NATS_KEY, PGFLO_FLUSH,\n"
"PGFLO_MAX_RECORD, PGFLO_METRICS.\n"
"Exit status: 0 ok, stopped or --no-wait done, 1 gap or bad message, 2 usage\n"
"or no stream with --no-wait, 3 server unavailable, 141 reader gone.\n");
}

/* ---- records ---- */

/* The top-level members of a record line: -1 when it is not an object. */
static int
scan(const char *line, size_t len, struct rinfo *ri)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, v, all = { line, len };
	struct pgflo_buf b = { 0 };

	memset(ri, 0, sizeof(*ri));
	ri->txnal = 1;
	if (pgflo_js_obj(&it, all) == -1)
		return -1;
	while (pgflo_js_obj_next(&it, &k, &v) == 1) {
		if (pgflo_js_str_eq(k, "op") && *v.p == '"') {
			pgflo_buf_reset(&b);
			pgflo_js_str(&b, v);
			ri->op = pgflo_op_parse(pgflo_buf_cstr(&b));
		} else if (pgflo_js_str_eq(k, "commit_lsn") && *v.p == '"') {
			ri->lsn = v;
			pgflo_buf_reset(&b);
			pgflo_js_str(&b, v);
			ri->has_lsn = pgflo_lsn_parse(pgflo_buf_cstr(&b),
			    &ri->pos.commit_lsn) == 0;
		} else if (pgflo_js_str_eq(k, "ordinal"))
			ri->pos.ordinal = strtoull(v.p, NULL, 10);
		else if (pgflo_js_str_eq(k, "xid"))
			ri->xid = v;
		else if (pgflo_js_str_eq(k, "commit_ts"))
			ri->ts = v;
		else if (pgflo_js_str_eq(k, "origin"))
			ri->origin = v;
		else if (pgflo_js_str_eq(k, "schema"))
			ri->schema = v;
		else if (pgflo_js_str_eq(k, "table"))
			ri->table = v;
		else if (pgflo_js_str_eq(k, "key"))
			ri->key = v;
		else if (pgflo_js_str_eq(k, "new"))
			ri->newv = v;
		else if (pgflo_js_str_eq(k, "old"))
			ri->oldv = v;
		else if (pgflo_js_str_eq(k, "transactional") && *v.p == 'f')
			ri->txnal = 0;
	}
	pgflo_buf_free(&b);
	if (!ri->has_lsn)
		ri->txnal = 0;
	return 0;
}

/* Writes line with ,"stream_seq":seq before its last '}' (seq 0: none). */
static void
emit(const char *line, size_t len, uint64_t seq)
{
	size_t olen;
	int r;

	if (from_lsn) {
		struct rinfo ri;

		if (scan(line, len, &ri) == 0 && ri.has_lsn &&
		    pgflo_pos_cmp(&ri.pos, &from_pos) <= 0)
			return;
		if (ri.has_lsn)
			from_lsn = 0;	/* past it: the rest is later */
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r' ||
	    line[len - 1] == '\t'))
		len--;
	olen = len;
	if (seq == 0 || len < 2 || line[len - 1] != '}')
		r = pgflo_out_line(line, len);
	else {
		pgflo_buf_reset(&obuf);
		pgflo_buf_putn(&obuf, line, len - 1);
		if (len > 2 && line[len - 2] != '{')
			pgflo_buf_putc(&obuf, ',');
		pgflo_buf_printf(&obuf, "\"stream_seq\":%llu}",
		    (unsigned long long)seq);
		r = pgflo_out_line(obuf.data, obuf.len);
		len = obuf.len;
	}
	if (r == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	nwritten++;
	if (pgflo_metrics_on(&metrics))
		pgflo_metrics_count_out(&metrics, line, olen, len, seq);
}

static void
putspan(struct pgflo_buf *b, const char *key, struct pgflo_span v)
{
	if (v.p == NULL)
		return;
	pgflo_buf_printf(b, ",\"%s\":", key);
	pgflo_buf_putn(b, v.p, v.n);
}

/* Opens the transaction of ri: its begin as seen, or made from ri. */
static void
tx_open(const struct rinfo *ri)
{
	tx.open = 1;
	tx.lsn = ri->pos.commit_lsn;
	pgflo_buf_reset(&tx.tail);
	putspan(&tx.tail, "xid", ri->xid);
	putspan(&tx.tail, "commit_ts", ri->ts);
	putspan(&tx.tail, "origin", ri->origin);
	pgflo_buf_reset(&tx.lsntext);
	pgflo_buf_putn(&tx.lsntext, ri->lsn.p, ri->lsn.n);
	if (tx.begin.len > 0 && tx.begin_lsn == tx.lsn) {
		emit(tx.begin.data, tx.begin.len, 0);
	} else {
		pgflo_buf_reset(&obuf);
		pgflo_buf_printf(&obuf, "{\"op\":\"begin\",\"commit_lsn\":%s,"
		    "\"ordinal\":0%s}", pgflo_buf_cstr(&tx.lsntext),
		    pgflo_buf_cstr(&tx.tail));
		emit(pgflo_buf_cstr(&obuf), obuf.len, 0);
	}
	pgflo_buf_reset(&tx.begin);
}

/*
 * Ends the open transaction whose commit this reader did not get: a
 * commit made of what is known, at the sequence before seq + 1.
 */
static void
tx_close_made(uint64_t seq)
{
	struct pgflo_buf b = { 0 };

	if (!tx.open)
		return;
	pgflo_buf_printf(&b, "{\"op\":\"commit\",\"commit_lsn\":%s,"
	    "\"ordinal\":%llu%s}", pgflo_buf_cstr(&tx.lsntext),
	    (unsigned long long)tx.last_ord + 1, pgflo_buf_cstr(&tx.tail));
	emit(b.data, b.len, seq);
	pgflo_buf_free(&b);
	tx.open = 0;
}

/* A commit record (a header or a body) at seq. */
static void
tx_commit(const char *line, size_t len, uint64_t seq)
{
	struct rinfo ri;

	if (scan(line, len, &ri) == -1 || !ri.has_lsn)
		return;
	if (tx.begin.len > 0 && tx.begin_lsn == ri.pos.commit_lsn)
		pgflo_buf_reset(&tx.begin);
	if (!tx.open)
		return;		/* nothing of it came here */
	if (tx.lsn != ri.pos.commit_lsn) {
		tx_close_made(seq - 1);
		return;
	}
	emit(line, len, seq);
	tx.open = 0;
}

/* A begin record seen: kept until a change of its transaction comes. */
static void
tx_begin(const char *line, size_t len, uint64_t seq)
{
	struct rinfo ri;

	if (scan(line, len, &ri) == -1 || !ri.has_lsn)
		return;
	if (tx.open && tx.lsn != ri.pos.commit_lsn)
		tx_close_made(seq - 1);
	pgflo_buf_reset(&tx.begin);
	pgflo_buf_putn(&tx.begin, line, len);
	tx.begin_lsn = ri.pos.commit_lsn;
}

static uint64_t
fnv(uint64_t h, const char *p, size_t n)
{
	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

/* The partition (1..N) of a row: a hash of its key values. */
static long
row_partition(const struct rinfo *ri)
{
	struct pgflo_js_iter ki, vi;
	struct pgflo_span kn, k, v, row = ri->op == PGFLO_OP_DELETE ||
	    ri->newv.p == NULL ? ri->oldv : ri->newv;
	uint64_t h = 14695981039346656037ULL;

	if (row.p == NULL || ri->key.p == NULL ||
	    pgflo_js_arr(&ki, ri->key) == -1)
		return 1;
	while (pgflo_js_arr_next(&ki, &kn) == 1) {
		if (pgflo_js_obj(&vi, row) == -1)
			return 1;
		while (pgflo_js_obj_next(&vi, &k, &v) == 1)
			if (k.n == kn.n && memcmp(k.p, kn.p, k.n) == 0) {
				h = fnv(h, v.p, v.n);
				break;
			}
		h = fnv(h, "\x1f", 1);
	}
	return (long)(h % (uint64_t)part_n) + 1;
}

/* Whether this reader writes the record ri (-t, --partition). */
static int
wanted(const struct rinfo *ri)
{
	struct pgflo_buf s = { 0 }, t = { 0 };
	int i, ok = pats.n == 0;

	if (ri->op == PGFLO_OP_SNAPSHOT || ri->op == PGFLO_OP_POSITION)
		return 1;
	if (pats.n > 0 && ri->schema.p != NULL && ri->table.p != NULL) {
		pgflo_js_str(&s, ri->schema);
		pgflo_js_str(&t, ri->table);
		for (i = 0; i < pats.n && !ok; i++)
			ok = pgflo_tablepat_match(pats.schema[i],
			    pats.table[i], pgflo_buf_cstr(&s),
			    pgflo_buf_cstr(&t));
	}
	pgflo_buf_free(&s);
	pgflo_buf_free(&t);
	if (!ok || part_n == 0)
		return ok;
	if (ri->op == PGFLO_OP_INSERT || ri->op == PGFLO_OP_UPDATE ||
	    ri->op == PGFLO_OP_DELETE)
		return row_partition(ri) == part_i;
	return part_i == 1;	/* truncate, ddl, messages: the first */
}

/* A record's body, when markers are made here. */
static void
body_synth(const struct pgflo_natsrec *rec)
{
	struct rinfo ri;

	if (scan(rec->data, rec->len, &ri) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "stream %s: message %llu is not "
		    "a record", stream, (unsigned long long)rec->seq);
	if (ri.op == PGFLO_OP_BEGIN) {
		tx_begin(rec->data, rec->len, rec->seq);
		return;
	}
	if (ri.op == PGFLO_OP_COMMIT) {
		tx_commit(rec->data, rec->len, rec->seq);
		return;
	}
	if (ri.txnal && tx.open && tx.lsn != ri.pos.commit_lsn)
		tx_close_made(rec->seq - 1);
	if (!wanted(&ri))
		return;
	if (ri.txnal && !tx.open)
		tx_open(&ri);
	emit(rec->data, rec->len, rec->seq);
	if (ri.txnal)
		tx.last_ord = ri.pos.ordinal;
}

/* One record from the stream, with the markers that ride on it. */
static void
record(const struct pgflo_natsrec *rec)
{
	if (pgflo_metrics_on(&metrics)) {
		metrics.in[pgflo_metrics_line_op(rec->data, rec->len)]++;
		metrics.bytes_in += rec->len + 1;
		metrics.in[PGFLO_M_BEGIN] += rec->begin != NULL;
		metrics.in[PGFLO_M_COMMIT] += rec->commit != NULL;
	}
	if (!tx.synth) {
		if (rec->begin != NULL)
			emit(rec->begin, strlen(rec->begin), 0);
		emit(rec->data, rec->len, rec->seq);
		if (rec->commit != NULL)
			emit(rec->commit, strlen(rec->commit), rec->seq);
		return;
	}
	if (rec->begin != NULL)
		tx_begin(rec->begin, strlen(rec->begin), rec->seq);
	body_synth(rec);
	if (rec->commit != NULL)
		tx_commit(rec->commit, strlen(rec->commit), rec->seq);
	tx.quiet_since = pgflo_now_ms();
}

/* ---- the stream ---- */

static struct pgflo_natsconn conn;
static struct pgflo_natsread_config rcf;
static char filter[1024];
static int direct;

/*
 * The input is quiet with a transaction open whose end this reader
 * does not get: once the stream's last message is past that
 * transaction and nothing this reader gets comes before it, the
 * transaction is over; its commit is the real one when that message
 * carries it.
 */
static void
quiet(struct pgflo_natsread *r)
{
	char errbuf[512];
	struct pgflo_pos p = { 0 };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsMsg *m = NULL, *f = NULL;
	const char *v = NULL, *c = NULL;
	uint64_t last, seen = pgflo_natsread_last(r);
	struct rinfo ri;

	if (!tx.open || pgflo_now_ms() - tx.quiet_since < QUIET_MS)
		return;
	tx.quiet_since = pgflo_now_ms();
	if (js_GetStreamInfo(&si, conn.js, stream, NULL, &jerr) != NATS_OK)
		return;
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (last <= seen || pgflo_natsread_get(conn.js, stream, direct, last,
	    NULL, &m, errbuf, sizeof(errbuf)) != 0)
		return;
	if (pgflo_natsread_get(conn.js, stream, direct, 0, filter, &f, errbuf,
	    sizeof(errbuf)) == -1)
		goto out;
	if (f != NULL) {
		jsMsgMetaData *md = NULL;
		uint64_t fs = 0;

		/* A direct get has no metadata: its header says. */
		if (natsMsgHeader_Get(f, "Nats-Sequence", &v) == NATS_OK)
			fs = strtoull(v, NULL, 10);
		else if (natsMsg_GetMetaData(&md, f) == NATS_OK) {
			fs = md->Sequence.Stream;
			jsMsgMetaData_Destroy(md);
		} else
			fs = natsMsg_GetSequence(f);
		if (fs > seen)
			goto out;	/* more of ours to come */
	}
	if (natsMsgHeader_Get(m, PGFLO_HDR_POSITION, &v) != NATS_OK ||
	    pgflo_pos_parse(v, &p) == -1)
		goto out;
	if (natsMsgHeader_Get(m, PGFLO_HDR_COMMIT, &c) == NATS_OK &&
	    scan(c, strlen(c), &ri) == 0 && ri.has_lsn &&
	    ri.pos.commit_lsn == tx.lsn)
		tx_commit(c, strlen(c), last);
	else if (p.commit_lsn > tx.lsn)
		tx_close_made(last);
	if (!tx.open)
		(void)pgflo_out_flush(0);
out:
	natsMsg_Destroy(f);
	natsMsg_Destroy(m);
}

/* The server-side filter of the patterns, and whether one is needed. */
static void
set_filter(void)
{
	struct pgflo_buf b = { 0 };
	const char *sch = NULL, *tab = NULL;
	int i, same_s = 1, same_t = 1;

	snprintf(filter, sizeof(filter), "%s.%s.>", prefix, stream);
	rcf.whole = 1;
	if (pats.n == 0)
		return;
	rcf.whole = 0;
	for (i = 0; i < pats.n; i++) {
		const char *s = pats.schema[i], *t = pats.table[i];

		if (s == NULL || strpbrk(s, "*?") != NULL)
			s = "*";
		if (strpbrk(t, "*?") != NULL)
			t = "*";
		if (i > 0) {
			same_s &= strcmp(s, sch) == 0;
			same_t &= strcmp(t, tab) == 0;
		}
		sch = same_s ? s : "*";
		tab = same_t ? t : "*";
	}
	pgflo_buf_printf(&b, "%s.%s.", prefix, stream);
	if (strcmp(sch, "*") == 0)
		pgflo_buf_putc(&b, '*');
	else
		pgflo_nats_token_encode(&b, sch, strlen(sch));
	pgflo_buf_putc(&b, '.');
	if (strcmp(tab, "*") == 0)
		pgflo_buf_putc(&b, '*');
	else
		pgflo_nats_token_encode(&b, tab, strlen(tab));
	if (b.len < sizeof(filter))
		snprintf(filter, sizeof(filter), "%s", pgflo_buf_cstr(&b));
	pgflo_buf_free(&b);
}

/* A position from a store: 1, 0 none, or exits with the store's status. */
static int
from_store(const char *arg, struct pgflo_pos *p)
{
	struct pgflo_store *st;
	char errbuf[512];
	int r;

	if (strchr(arg, ':') == NULL || *arg == '{')
		pgflo_usage_error(SYNOPSIS, "invalid --from: %s (a stream "
		    "sequence, a position record, X/Y:ORDINAL, a store, "
		    "first, last or new)", arg);
	if ((st = pgflo_store_open(arg, errbuf, sizeof(errbuf))) == NULL)
		pgflo_usage_error(SYNOPSIS, "invalid --from: %s", errbuf);
	if ((r = pgflo_store_get(st, p, NULL)) == -1) {
		snprintf(errbuf, sizeof(errbuf), "%s", st->errmsg);
		r = pgflo_store_status(st);
		pgflo_store_close(st);
		pgflo_errx(r, "%s", errbuf);
	}
	pgflo_store_close(st);
	return r;
}

/* The first sequence to read, from --from and the stream's state. */
static uint64_t
start_seq(const jsStreamInfo *si)
{
	uint64_t first = si->State.FirstSeq > 0 ? si->State.FirstSeq : 1;
	uint64_t last = si->State.LastSeq, seq;
	struct pgflo_pos p = { 0 };
	char errbuf[512];

	if (from == NULL || strcmp(from, "first") == 0)
		return first;
	if (strcmp(from, "last") == 0)
		return last > 0 ? last : first;
	if (strcmp(from, "new") == 0)
		return last + 1;
	if (pgflo_pos_parse(from, &p) == -1 && from_store(from, &p) == 0) {
		pgflo_warnx("%s holds no position: reading stream %s from its "
		    "start", from, stream);
		return first;
	}
	if (p.stream_seq != 0)
		return p.stream_seq + 1;
	if (p.commit_lsn == 0)
		return first;
	from_pos = p;
	from_lsn = 1;
	if (pgflo_natsread_seek(conn.js, stream, direct, last, &p, &seq,
	    errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "%s", errbuf);
	return seq;
}

/*
 * A follower started before its stream exists (a worker before its
 * replicator's first run) waits for it, as tail -F waits for a file;
 * with --no-wait a missing stream is an error.  By its name in the
 * list, never by its info: nats-server 2.9.10 can crash on a request
 * for a stream's info while another client creates it.
 */
static void
wait_for_stream(void)
{
	natsStatus s;
	int r, warned = 0;

	while ((r = pgflo_natsstream_listed(conn.js, stream, &s)) == 0) {
		if (nowait)
			pgflo_errx(PGFLO_EXIT_USAGE, "no stream %s on NATS "
			    "server %s", stream, conn.shown);
		if (!warned++)
			pgflo_warnx("no stream %s on NATS server %s yet: "
			    "waiting for it (pgflo-publish --create makes it)",
			    stream, conn.shown);
		if (pgflo_sleep_ms(1000, pgflo_out_check_reader, 100) == -1)
			exit(0);
	}
	if (r == -1)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "stream %s: %s", stream,
		    pgflo_natsconn_why(s));
	/* Listed while being made: give its creation a moment. */
	if (warned)
		(void)pgflo_sleep_ms(200, NULL, 0);
}

/* Connects and looks the stream up: its state (new). */
static jsStreamInfo *
open_stream(void)
{
	struct pgflo_natsconn_config ncf = { .url = server };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	char errbuf[600];
	natsStatus s;
	int st;

	if ((st = pgflo_natsconn_open(&conn, &ncf, NULL, errbuf,
	    sizeof(errbuf))) != 0)
		pgflo_errx(st, "%s", errbuf);
	wait_for_stream();
	s = js_GetStreamInfo(&si, conn.js, stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
		pgflo_errx(PGFLO_EXIT_USAGE, "no stream %s on NATS server %s",
		    stream, conn.shown);
	if (s != NATS_OK)
		pgflo_errx(PGFLO_EXIT_UNAVAIL, "stream %s: %s", stream,
		    pgflo_natsconn_why(s));
	direct = si->Config->AllowDirect;
	return si;
}

/* True when --no-wait is done after rec (NULL: nothing came). */
static int
at_end(struct pgflo_natsread *r, const struct pgflo_natsrec *rec,
    uint64_t end)
{
	if (!nowait)
		return 0;
	if (pgflo_natsread_last(r) >= end)
		return 1;
	if (rcf.whole)
		return 0;
	if (rec != NULL)
		return rec->pending == 0;
	return pgflo_natsread_drained(r) == 1;
}

static int
run(struct pgflo_natsread *r, uint64_t end)
{
	struct pgflo_natsrec rec;
	char errbuf[600];
	int st;

	if (nowait && rcf.start_seq > end)
		return 0;
	for (;;) {
		st = pgflo_natsread_next(r, &rec, WAIT_MS, errbuf,
		    sizeof(errbuf));
		metrics.retries = pgflo_natsread_resubscribes(r);
		pgflo_metrics_tick(&metrics);
		if (st == 1) {
			record(&rec);
			if (at_end(r, &rec, end))
				break;
			/* Flushed when nothing more is there: at once when idle. */
			if (!pgflo_natsread_ready(r) && pgflo_out_flush(0) == -1)
				pgflo_err(PGFLO_EXIT_FAIL, "write error");
			continue;
		}
		if (st == 0)
			return 0;
		if (st < 0) {
			(void)pgflo_out_flush(0);
			pgflo_errx(-st, "%s", errbuf);
		}
		if (pgflo_out_flush(0) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		pgflo_out_check_reader();
		if (tx.synth)
			quiet(r);
		if (at_end(r, NULL, end))
			break;
	}
	if (tx.synth && tx.open) {
		tx.quiet_since = 0;
		quiet(r);
	}
	return 0;
}

/* ---- the command line ---- */

static long
parse_secs(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_duration_ms(s, &v) == 0 && v >= 0)
		return v;
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

static void
parse_tables(const char *list)
{
	struct pgflo_buf ls = { 0 }, lt = { 0 }, pat = { 0 };
	const char *p = list;
	char errbuf[512];
	int r;

	while ((r = pgflo_tables_pattern_next(&p, &ls, &lt, &pat, errbuf,
	    sizeof(errbuf))) == 1) {
		if (pats.n == MAX_PATTERNS)
			pgflo_usage_error(SYNOPSIS, "more than %d table "
			    "patterns", MAX_PATTERNS);
		pgflo_tablepat_split(pgflo_buf_cstr(&pat),
		    &pats.schema[pats.n], &pats.table[pats.n]);
		if (pats.table[pats.n] != NULL)
			pats.n++;
	}
	pgflo_buf_free(&ls);
	pgflo_buf_free(&lt);
	pgflo_buf_free(&pat);
	if (r == -1)
		pgflo_usage_error(SYNOPSIS, "invalid -t: %s", errbuf);
}

static void
parse_option(int ch)
{
	char c;

	switch (ch) {
	case 's':
		server = optarg;
		break;
	case 't':
		tables = optarg;
		break;
	case 'v':
		vflag = 1;
		break;
	case OPT_FROM:
		from = optarg;
		break;
	case OPT_MAXOUTAGE:
		max_outage_ms = parse_secs(optarg, "--max-outage");
		break;
	case OPT_METRICS:
		metricsfile = optarg;
		break;
	case OPT_NOPROGRESS:
		progressflag = 0;
		break;
	case OPT_PROGRESS:
		progressflag = 1;
		break;
	case OPT_NOWAIT:
		nowait = 1;
		break;
	case OPT_PARTITION:
		if (sscanf(optarg, "%ld/%ld%c", &part_i, &part_n, &c) != 2 ||
		    part_n < 1 || part_n > 1024 || part_i < 1 ||
		    part_i > part_n)
			pgflo_usage_error(SYNOPSIS, "invalid --partition: %s "
			    "(I/N, 1 <= I <= N <= 1024)", optarg);
		break;
	case OPT_PREFIX:
		prefix = optarg;
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
	const char *m;
	int ch;

	while ((ch = getopt_long(argc, argv, "hs:t:Vv", longopts,
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
	if (server != NULL && pgflo_natsconn_url_ok(server, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid -s: %s", errbuf);
	if (tables != NULL)
		parse_tables(tables);
	rcf.max_record = (size_t)64 << 20;
	if ((m = pgflo_env("MAX_RECORD", NULL)) != NULL &&
	    (pgflo_parse_size(m, &rcf.max_record) == -1 ||
	    rcf.max_record == 0))
		pgflo_usage_error(SYNOPSIS, "invalid PGFLO_MAX_RECORD: %s", m);
	tx.synth = pats.n > 0 || part_n > 0;
}

int
main(int argc, char *argv[])
{
	struct pgflo_natsread *r;
	jsStreamInfo *si;
	char errbuf[512];
	uint64_t end;
	int i;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	pgflo_out_init();
	pgflo_out_flush_when_idle();
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	if (pgflo_metrics_init(&metrics, metricsfile, "consume", "stream",
	    stream, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	if (pgflo_progress_init(&progress, progressflag, "rows"))
		pgflo_metrics_progress(&metrics, &progress);
	si = open_stream();
	set_filter();
	rcf.stream = stream;
	rcf.filter = filter;
	rcf.max_outage_ms = max_outage_ms;
	rcf.start_seq = start_seq(si);
	end = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	r = pgflo_natsread_new(conn.nc, conn.js, &rcf);
	(void)run(r, end);
	if (pgflo_out_flush(0) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	metrics.retries = pgflo_natsread_resubscribes(r);
	pgflo_metrics_close(&metrics);
	if (vflag)
		pgflo_warnx("%lu records written, up to stream sequence %llu, "
		    "%lu resubscriptions", nwritten,
		    (unsigned long long)pgflo_natsread_last(r),
		    pgflo_natsread_resubscribes(r));
	pgflo_natsread_free(r);
	pgflo_natsconn_close(&conn);
	for (i = 0; i < pats.n; i++) {
		free(pats.schema[i]);
		free(pats.table[i]);
	}
	pgflo_buf_free(&obuf);
	pgflo_buf_free(&tx.tail);
	pgflo_buf_free(&tx.lsntext);
	pgflo_buf_free(&tx.begin);
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
