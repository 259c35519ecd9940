/*
 * pgflo-publish - publish change records into a NATS JetStream stream,
 * each exactly once, in order.
 *
 * publish is the only writer of its stream.  Every message carries
 * Nats-Expected-Last-Sequence, the stream sequence of the message before
 * it, so the server stores a message only right after its predecessor:
 * what the stream holds is always a prefix of what was sent, in order.
 * At start and after any failure the stream's last message says how far
 * that prefix goes (its Pgflo-Position header); the durable stage
 * (common/durable.c) skips the input at or before it and sends the rest
 * again from its retained batch.  A message id alone does not give this
 * (../shared/NATS.md): it is only a second guard here (--msg-id).
 *
 * Messages are the record lines unchanged.  A transaction's begin and
 * commit records ride as headers on its first and last message, so a
 * one-row transaction is one message, not three; a record larger than
 * the server takes is sent in parts.  The layout is natsmsg.h's.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "durable.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "natsstream.h"
#include "output.h"

#define SYNOPSIS \
	"pgflo-publish [-v] [-b rows] [-m ms] [-s url] [--create] " \
	"[--replicas n]\n" \
	"                     [--subject-prefix p] [--max-bytes n] " \
	"[--max-outage secs]\n" \
	"                     [--duplicate-window time] [--msg-id] " \
	"--stream name"

#define WINDOW_MSGS	4096		/* unacknowledged messages */
#define WINDOW_BYTES	((size_t)8 << 20)	/* and their bytes */
#define BATCH_BYTES	((size_t)8 << 20)	/* commit soon after */
/*
 * For each acknowledgement.  nats.c keeps a message's state until this
 * expires, acknowledged or not: 10 s took RSS to 66 MB at 60k messages a
 * second, 2 s to 29 MB.  A slower ack is a resync, which is harmless.
 */
#define PUB_WAIT_MS	2000
#define HDR_ROOM	1024		/* our headers but begin/commit */
#define MARKER_MAX	2048		/* a begin/commit line in a header */
#define ERR_WRONG_LAST	10071		/* JSStreamWrongLastSequenceErr */

enum {
	OPT_CREATE = 256, OPT_DUPWIN, OPT_MAXBYTES, OPT_MAXOUTAGE, OPT_MSGID,
	OPT_PREFIX, OPT_REPLICAS, OPT_STREAM
};

static const struct option longopts[] = {
	{ "batch-ms",		required_argument, NULL, 'm' },
	{ "batch-rows",		required_argument, NULL, 'b' },
	{ "create",		no_argument,	   NULL, OPT_CREATE },
	{ "duplicate-window",	required_argument, NULL, OPT_DUPWIN },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "max-bytes",		required_argument, NULL, OPT_MAXBYTES },
	{ "max-outage",		required_argument, NULL, OPT_MAXOUTAGE },
	{ "msg-id",		no_argument,	   NULL, OPT_MSGID },
	{ "replicas",		required_argument, NULL, OPT_REPLICAS },
	{ "server",		required_argument, NULL, 's' },
	{ "stream",		required_argument, NULL, OPT_STREAM },
	{ "subject-prefix",	required_argument, NULL, OPT_PREFIX },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line. */
static const char *stream, *server, *prefix = "pgflo";
static int msgid, vflag;
static struct pgflo_natsstream_config scf = {
	.replicas = 1, .dupwin_ms = 120000
};
static struct pgflo_durable_config dc = {
	.batch_rows = 10000, .batch_ms = 100
};

/* A record waiting for the next one: its commit may ride on it. */
struct held {
	int	 on;
	struct pgflo_buf line, subject;
	struct pgflo_pos pos;	/* its own */
	int	 has_pos;
};

/* The sink.  mu guards what the ack handler and the lost callback touch. */
static struct pub {
	struct pgflo_natsconn conn;
	struct pgflo_natsconn_config ncf;
	int	 checked;		/* the stream was looked at */
	int	 started;		/* setup() ran */
	size_t	 maxpayload;
	struct pgflo_buf subj, hdr;	/* scratch */
	struct pgflo_buf begin;		/* a begin record not yet sent */
	int	 have_begin;
	struct held held;
	struct pgflo_pos covered;	/* of everything sent */
	struct pgflo_pos found;		/* by the last resync */
	size_t	 batch_bytes;
	struct pgflo_pos sent_to;	/* sent, then rolled back */
	/*
	 * Snapshot rows have no position to skip them by: the sequence of
	 * each one's last message in the open batch, and how many of those
	 * the replay after a failure leaves out (the stream holds them).
	 */
	uint64_t *snapseq;
	size_t	 nsnap, csnap, skip_snap;
	struct pgflo_pos commit_pos;	/* covered at the last commit() */
	uint64_t commit_seq;		/* and its message's sequence */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	natsConnection *cur_nc;		/* the callbacks' own */
	jsCtx	*cur_js;
	uint64_t sent;			/* the last sequence sent */
	uint64_t acked;			/* the last acknowledged */
	size_t	 inflight;		/* bytes sent, not acknowledged */
	int	 failed, full;
	char	 why[600];
} pub = {
	.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER
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
"  -b, --batch-rows=N      report after N changes at most (default 10000)\n"
"  -m, --batch-ms=MS       report after MS ms at most (default 100)\n"
"  -v, --verbose           report batches on stderr\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_NATS_URL, PGFLO_NATS_CREDS, PGFLO_NATS_NKEY,\n"
"PGFLO_NATS_NKEY_PUB, PGFLO_NATS_USER, PGFLO_NATS_PASSWORD, PGFLO_NATS_TOKEN,\n"
"PGFLO_NATS_CA, PGFLO_NATS_CERT, PGFLO_NATS_KEY, PGFLO_BATCH_ROWS,\n"
"PGFLO_BATCH_MS, PGFLO_FLUSH, PGFLO_MAX_RECORD.\n"
"Exit status: 0 ok or stopped, 1 bad record, 2 usage, stream missing or\n"
"refused login, 3 server unavailable or stream full, 141 reader gone.\n");
}

/* ---- the connection's callbacks (nats.c's threads) ---- */

/* Records the first failure; mu held. */
static void
set_failed(const char *fmt, ...) PGFLO_PRINTF(1, 2);
static void
set_failed(const char *fmt, ...)
{
	va_list ap;

	if (!pub.failed) {
		va_start(ap, fmt);
		vsnprintf(pub.why, sizeof(pub.why), fmt, ap);
		va_end(ap);
	}
	pub.failed = 1;
	pthread_cond_broadcast(&pub.cv);
}

static void
lost_cb(void *arg, natsConnection *nc, int closed)
{
	(void)arg;
	pthread_mutex_lock(&pub.mu);
	if (nc == pub.cur_nc)
		set_failed("connection to NATS server %s %s", pub.conn.shown,
		    closed ? "closed" : "lost");
	pthread_mutex_unlock(&pub.mu);
}

/* A message nobody else can store: the stream is full (Discard=New). */
static int
full_error(const char *text)
{
	return text != NULL && (strstr(text, "maximum bytes") != NULL ||
	    strstr(text, "maximum messages") != NULL ||
	    strstr(text, "resource limits") != NULL);
}

static void
ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pub.mu);
	if (js == pub.cur_js) {
		size_t n = (size_t)natsMsg_GetDataLength(msg);

		pub.inflight = pub.inflight > n ? pub.inflight - n : 0;
		if (pa != NULL && pa->Sequence > pub.acked)
			pub.acked = pa->Sequence;
		if (pae != NULL) {
			if (full_error(pae->ErrText))
				pub.full = 1;
			set_failed("stream %s: %s%s%s", stream,
			    pae->ErrText != NULL ? pae->ErrText :
			    natsStatus_GetText(pae->Err),
			    pae->ErrCode == ERR_WRONG_LAST ? " (another "
			    "writer, or a message lost in a reconnect)" : "",
			    pae->Err == NATS_TIMEOUT ? " (no acknowledgement)" :
			    "");
		}
		pthread_cond_broadcast(&pub.cv);
	}
	pthread_mutex_unlock(&pub.mu);
	natsMsg_Destroy(msg);
}

/* Waits on cv for at most ms; mu held. */
static void
wait_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&pub.cv, &pub.mu, &ts);
}

/* ---- sending ---- */

static void
pos_text(char *b, size_t n, const struct pgflo_pos *p)
{
	char lsn[PGFLO_LSN_BUFSZ];

	snprintf(b, n, "%s:%llu", pgflo_lsn_format(p->commit_lsn, lsn),
	    (unsigned long long)p->ordinal);
}

static natsStatus
set_headers(natsMsg *m, const struct pgflo_pos *covered,
    const struct pgflo_pos *own, const char *begin, const char *commit,
    int part, int nparts, uint64_t expect)
{
	char b[128], id[512];
	natsStatus s;

	snprintf(b, sizeof(b), "%llu", (unsigned long long)expect);
	s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", b);
	pos_text(b, sizeof(b), covered);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, PGFLO_HDR_POSITION, b);
	if (s == NATS_OK && nparts > 1) {
		snprintf(b, sizeof(b), "%d/%d", part, nparts);
		s = natsMsgHeader_Set(m, PGFLO_HDR_PART, b);
	}
	if (s == NATS_OK && msgid && own != NULL) {
		pos_text(b, sizeof(b), own);
		snprintf(id, sizeof(id), "%.255s:%s:%d", stream, b, part);
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	}
	if (s == NATS_OK && begin != NULL)
		s = natsMsgHeader_Set(m, PGFLO_HDR_BEGIN, begin);
	if (s == NATS_OK && commit != NULL)
		s = natsMsgHeader_Set(m, PGFLO_HDR_COMMIT, commit);
	return s;
}

/* Room in the window, or a failure: 0, or -1. */
static int
wait_window(size_t len)
{
	int r;

	pthread_mutex_lock(&pub.mu);
	while (!pub.failed && pub.sent > pub.acked &&
	    (pub.sent - pub.acked >= WINDOW_MSGS ||
	    pub.inflight + len > WINDOW_BYTES))
		wait_ms(100);
	r = pub.failed ? -1 : 0;
	pthread_mutex_unlock(&pub.mu);
	return r;
}

/*
 * One message, expecting the last one sent before it.  covered: the
 * position the stream reaches with it; own: the record's, for the id.
 */
static int
send_one(const char *subj, const char *data, size_t len,
    const struct pgflo_pos *covered, const struct pgflo_pos *own,
    const char *begin, const char *commit, int part, int nparts)
{
	jsPubOptions po;
	natsMsg *m = NULL;
	natsStatus s;

	if (wait_window(len) == -1)
		return -1;
	s = natsMsg_Create(&m, subj, NULL, data, (int)len);
	if (s == NATS_OK)
		s = set_headers(m, covered, own, begin, commit, part, nparts,
		    pub.sent);
	jsPubOptions_Init(&po);
	po.MaxWait = PUB_WAIT_MS;
	pthread_mutex_lock(&pub.mu);
	pub.inflight += len;
	pthread_mutex_unlock(&pub.mu);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(pub.conn.js, &m, &po);
	natsMsg_Destroy(m);	/* NULL once the library took it */
	pthread_mutex_lock(&pub.mu);
	if (s == NATS_OK)
		pub.sent++;
	else
		set_failed("could not publish to %s: %s", subj,
		    pgflo_natsconn_why(s));
	pthread_mutex_unlock(&pub.mu);
	pub.batch_bytes += len;
	return s == NATS_OK ? 0 : -1;
}

/*
 * A record's line, in parts when it is larger than the server takes
 * (each part but the last covers only what came before it).
 */
static int
send_record(const char *subj, const char *line, size_t len,
    const struct pgflo_pos *own, const char *begin, const char *commit)
{
	size_t extra = HDR_ROOM + (begin != NULL ? strlen(begin) : 0) +
	    (commit != NULL ? strlen(commit) : 0);
	size_t partlen = pub.maxpayload - HDR_ROOM - 2 * MARKER_MAX;
	struct pgflo_pos before = pub.covered;
	int i, n;

	if (own != NULL)
		pub.covered = *own;
	if (len + extra <= pub.maxpayload)
		return send_one(subj, line, len, &pub.covered, own, begin,
		    commit, 1, 1);
	n = (int)((len + partlen - 1) / partlen);
	for (i = 1; i <= n; i++) {
		size_t off = (size_t)(i - 1) * partlen;
		size_t k = i < n ? partlen : len - off;

		if (send_one(subj, line + off, k, i < n ? &before :
		    &pub.covered, own, i == 1 ? begin : NULL, i == n ?
		    commit : NULL, i, n) == -1)
			return -1;
	}
	return 0;
}

/* P.STREAM.SCHEMA.TABLE, or P.STREAM.$what. */
static const char *
subject(const struct pgflo_recspan *r, const char *what)
{
	pgflo_buf_reset(&pub.subj);
	pgflo_buf_printf(&pub.subj, "%s.%s.", prefix, stream);
	if (what != NULL || r->schema == NULL || r->table == NULL) {
		pgflo_buf_printf(&pub.subj, "$%s", what != NULL ? what : "ddl");
		return pgflo_buf_cstr(&pub.subj);
	}
	pgflo_nats_token_encode(&pub.subj, r->schema, strlen(r->schema));
	pgflo_buf_putc(&pub.subj, '.');
	pgflo_nats_token_encode(&pub.subj, r->table, strlen(r->table));
	return pgflo_buf_cstr(&pub.subj);
}

/* A begin or commit line fits in a header: not too long, no CR. */
static int
marker_ok(const char *line, size_t len)
{
	return len <= MARKER_MAX && memchr(line, '\r', len) == NULL;
}

/* The begin record held, on its own ($txn). */
static int
flush_begin(void)
{
	struct pgflo_pos p = { 0 };

	if (!pub.have_begin)
		return 0;
	pub.have_begin = 0;
	if (pgflo_pos_parse(pgflo_buf_cstr(&pub.begin), &p) == -1)
		p = pub.covered;
	pgflo_buf_reset(&pub.subj);
	pgflo_buf_printf(&pub.subj, "%s.%s.$txn", prefix, stream);
	return send_record(pgflo_buf_cstr(&pub.subj), pub.begin.data,
	    pub.begin.len, &p, NULL, NULL);
}

/* The record held, with the commit line (may be NULL) on it. */
static int
flush_held(const char *commit, const struct pgflo_pos *cpos)
{
	struct held *h = &pub.held;
	const char *begin = NULL;
	int r;

	if (!h->on)
		return 0;
	h->on = 0;
	if (pub.have_begin && marker_ok(pub.begin.data, pub.begin.len))
		begin = pgflo_buf_cstr(&pub.begin);
	else if (flush_begin() == -1)
		return -1;
	pub.have_begin = 0;
	if (commit != NULL) {
		/* The message reaches the commit: its position. */
		r = send_record(pgflo_buf_cstr(&h->subject), h->line.data,
		    h->line.len, cpos, begin, commit);
		return r;
	}
	return send_record(pgflo_buf_cstr(&h->subject), h->line.data,
	    h->line.len, h->has_pos ? &h->pos : NULL, begin, NULL);
}

static void
hold(const struct pgflo_recspan *r, const char *subj)
{
	struct held *h = &pub.held;

	pgflo_buf_reset(&h->line);
	pgflo_buf_putn(&h->line, r->line, r->linelen);
	pgflo_buf_reset(&h->subject);
	pgflo_buf_puts(&h->subject, subj);
	h->pos = r->pos;
	h->has_pos = r->has_lsn;
	h->on = 1;
}

/* ---- the durable stage's ops ---- */

static void
pub_close(void *sink)
{
	(void)sink;
	pthread_mutex_lock(&pub.mu);
	pub.cur_nc = NULL;
	pub.cur_js = NULL;
	pthread_mutex_unlock(&pub.mu);
	pgflo_natsconn_close(&pub.conn);
	pub.held.on = pub.have_begin = 0;
}

/*
 * The stream's last message says how far it holds the input; the next
 * message expects its sequence.
 */
static int
resync(struct pgflo_pos *applied, char *errbuf, size_t errlen)
{
	int st;

	if ((st = pgflo_natsstream_last(pub.conn.js, stream, applied, errbuf,
	    errlen)) != 0)
		return st;
	pub.covered = *applied;
	pub.covered.stream_seq = 0;
	pthread_mutex_lock(&pub.mu);
	pub.sent = pub.acked = applied->stream_seq;
	pthread_mutex_unlock(&pub.mu);
	return 0;
}

/*
 * Connects, looks at the stream (once) and reads how far it goes: the
 * stage's setup() only hands that on, so that a server that is back but
 * not ready yet is one more reconnect, never a usage error.
 */
static int
pub_connect(void *sink, char *errbuf, size_t errlen)
{
	jsOptions jo;
	size_t maxmsg = 0, i;
	int st;

	(void)sink;
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = ack_cb;
	pub.ncf.url = server;
	pub.ncf.lost = lost_cb;
	if ((st = pgflo_natsconn_open(&pub.conn, &pub.ncf, &jo, errbuf,
	    errlen)) != 0)
		return st;
	pthread_mutex_lock(&pub.mu);
	pub.cur_nc = pub.conn.nc;
	pub.cur_js = pub.conn.js;
	pub.failed = pub.full = 0;
	pub.inflight = 0;
	pthread_mutex_unlock(&pub.mu);
	pub.maxpayload = (size_t)natsConnection_GetMaxPayload(pub.conn.nc);
	if (!pub.checked && (st = pgflo_natsstream_open(pub.conn.js,
	    pub.conn.shown, &scf, &maxmsg, errbuf, errlen)) != 0)
		return st;
	if (maxmsg > 0 && maxmsg < pub.maxpayload)
		pub.maxpayload = maxmsg;
	pub.checked = 1;
	if (pub.maxpayload < HDR_ROOM + 3 * MARKER_MAX) {
		snprintf(errbuf, errlen, "stream %s takes messages of %zu "
		    "bytes at most: too few", stream, pub.maxpayload);
		return PGFLO_EXIT_USAGE;
	}
	memset(&pub.sent_to, 0, sizeof(pub.sent_to));
	if ((st = resync(&pub.found, errbuf, errlen)) != 0)
		return st;
	/* The stream holds a prefix: the snapshot rows up to its end. */
	for (i = 0; i < pub.nsnap; i++)
		if (pub.snapseq[i] <= pub.found.stream_seq)
			pub.skip_snap++;
	pub.nsnap = 0;
	return 0;
}

/* What pub_connect() found: the stage's applied position. */
static int
pub_setup(void *sink, struct pgflo_pos *applied, char *errbuf,
    size_t errlen)
{
	(void)sink;
	(void)errbuf;
	(void)errlen;
	*applied = pub.found;
	if (vflag)
		pgflo_warnx("stream %s holds %llu messages", stream,
		    (unsigned long long)applied->stream_seq);
	/*
	 * At start: what the stream holds is durable, whatever the
	 * checkpoint store last got (the stage reports it after a reconnect).
	 */
	if (!pub.started && pgflo_pos_is_set(applied) &&
	    pgflo_durable_print_position(NULL, applied) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	pub.started = 1;
	return 0;
}

static void
pub_begin(void *sink, int one_by_one)
{
	(void)sink;
	(void)one_by_one;
	pub.batch_bytes = 0;
	pub.nsnap = 0;
}

/* A snapshot row of the open batch is in the stream at seq (0: was). */
static void
snap_note(uint64_t seq)
{
	if (pub.nsnap == pub.csnap) {
		pub.csnap = pub.csnap != 0 ? pub.csnap * 2 : 1024;
		pub.snapseq = pgflo_xrealloc(pub.snapseq,
		    pub.csnap * sizeof(*pub.snapseq));
	}
	pub.snapseq[pub.nsnap++] = seq;
}

static int
pub_write(void *sink, struct pgflo_recspan *r, long idx, char *errbuf,
    size_t errlen)
{
	(void)sink;
	(void)idx;
	(void)errbuf;
	(void)errlen;
	if (r->has_lsn && pgflo_pos_is_set(&pub.sent_to) &&
	    pgflo_pos_cmp(&r->pos, &pub.sent_to) <= 0)
		return 0;	/* sent before a rollback */
	switch (r->op) {
	case PGFLO_OP_BEGIN:
		if (flush_held(NULL, NULL) == -1 || flush_begin() == -1)
			return 0;
		pgflo_buf_reset(&pub.begin);
		pgflo_buf_putn(&pub.begin, r->line, r->linelen);
		pub.have_begin = 1;
		return 0;
	case PGFLO_OP_COMMIT:
		if (pub.held.on && marker_ok(r->line, r->linelen)) {
			pgflo_buf_reset(&pub.hdr);
			pgflo_buf_putn(&pub.hdr, r->line, r->linelen);
			(void)flush_held(pgflo_buf_cstr(&pub.hdr), &r->pos);
			return 0;
		}
		if (flush_held(NULL, NULL) == -1)
			return 0;
		/* Nothing to ride on: the commit is a message of its own. */
		if (pub.have_begin && marker_ok(pub.begin.data,
		    pub.begin.len)) {
			pub.have_begin = 0;
			(void)send_record(subject(r, "txn"), r->line,
			    r->linelen, &r->pos, pgflo_buf_cstr(&pub.begin),
			    NULL);
			return 0;
		}
		if (flush_begin() == 0)
			(void)send_record(subject(r, "txn"), r->line,
			    r->linelen, &r->pos, NULL, NULL);
		return 0;
	default:
		break;
	}
	if (flush_held(NULL, NULL) == -1)
		return 0;
	if (!r->has_lsn) {
		/* A snapshot row: in no transaction, nothing to wait for. */
		if (pub.skip_snap > 0) {
			pub.skip_snap--;	/* in the stream already */
			snap_note(0);		/* and replayed if need be */
			return 0;
		}
		if (flush_begin() == 0 && send_record(subject(r, NULL),
		    r->line, r->linelen, NULL, NULL, NULL) == 0)
			snap_note(pub.sent);
		return 0;
	}
	hold(r, subject(r, r->op == PGFLO_OP_MESSAGE ? "msg" : NULL));
	return 0;
}

static int
pub_failed(void *sink, int wait)
{
	int r;

	(void)sink;
	pthread_mutex_lock(&pub.mu);
	while (wait && !pub.failed && pub.acked < pub.sent)
		wait_ms(100);
	r = pub.failed;
	pthread_mutex_unlock(&pub.mu);
	return r;
}

/*
 * Discard=New refused a message: nothing is lost (the slot keeps the
 * rest), but waiting cannot help.  The run ends, after reporting what
 * the stream holds so that the checkpoint gets that far.
 */
static void
stream_full(struct pgflo_durable_failure *f)
{
	char errbuf[512];
	size_t n = strlen(f->msg);

	f->kind = PGFLO_DF_STOP;
	f->status = PGFLO_EXIT_UNAVAIL;
	/* Refused once, every later message is (it expects that one). */
	if (pgflo_natsstream_last(pub.conn.js, stream, &f->reached, errbuf,
	    sizeof(errbuf)) == -1)
		memset(&f->reached, 0, sizeof(f->reached));
	snprintf(f->msg + n, sizeof(f->msg) - n, " (stream full: nothing "
	    "was lost; raise its limits or make room, then run again)");
}

static void
pub_failure(void *sink, struct pgflo_durable_failure *f)
{
	(void)sink;
	pthread_mutex_lock(&pub.mu);
	f->kind = PGFLO_DF_LOST;
	snprintf(f->msg, sizeof(f->msg), "%s", pub.why);
	pthread_mutex_unlock(&pub.mu);
	if (pub.full)
		stream_full(f);
}

static int
pub_commit(void *sink, const struct pgflo_pos *pos)
{
	(void)pos;
	if (flush_held(NULL, NULL) == -1 || flush_begin() == -1)
		return -1;
	pub.batch_bytes = 0;
	pub.commit_pos = pub.covered;
	pthread_mutex_lock(&pub.mu);
	pub.commit_seq = pub.sent;
	pthread_mutex_unlock(&pub.mu);
	if (pub_failed(sink, 1))
		return -1;
	pub.nsnap = 0;	/* durable: never replayed */
	return 0;
}

static void
pub_amend(void *sink, struct pgflo_pos *pos)
{
	(void)sink;
	/*
	 * The sequence of the message that reached pos; unknown (none)
	 * for transactions replayed after a rollback, which were sent
	 * before it.
	 */
	pos->stream_seq = pgflo_pos_cmp(pos, &pub.commit_pos) == 0 ?
	    pub.commit_seq : 0;
}

/*
 * The stage replays the transactions before the one it rolled back, but
 * what was sent stays sent: records up to there are not sent again (a
 * failure to store them comes back as an error, and a resync).
 */
static void
pub_rollback(void *sink, int in_batch)
{
	(void)sink;
	(void)in_batch;
	pub.held.on = pub.have_begin = 0;
	if (pgflo_pos_cmp(&pub.covered, &pub.sent_to) > 0)
		pub.sent_to = pub.covered;
	/* Snapshot rows come before every transaction: all replayed. */
	pub.skip_snap += pub.nsnap;
	pub.nsnap = 0;
	pub.batch_bytes = 0;
}

static int
pub_commit_soon(void *sink)
{
	(void)sink;
	return pub.batch_bytes >= BATCH_BYTES;
}

static const char *
pub_check(void *sink, struct pgflo_recspan *r)
{
	(void)sink;
	if (r->op >= PGFLO_OP_INSERT && r->op <= PGFLO_OP_TRUNCATE &&
	    (r->schema == NULL || r->table == NULL))
		return "a change record without schema or table";
	return NULL;
}

static const struct pgflo_durable_ops pub_ops = {
	.connect = pub_connect,
	.setup = pub_setup,
	.close = pub_close,
	.begin = pub_begin,
	.write = pub_write,
	.failed = pub_failed,
	.failure = pub_failure,
	.commit = pub_commit,
	.rollback = pub_rollback,
	.commit_soon = pub_commit_soon,
	.check = pub_check,
	.amend = pub_amend,
};

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
	if (stream == NULL)
		pgflo_usage_error(SYNOPSIS, "--stream is required");
	if (!pgflo_nats_name_ok(stream, 1))
		pgflo_usage_error(SYNOPSIS, "invalid --stream: %s (A-Z a-z "
		    "0-9 _ - only)", stream);
	if (!pgflo_nats_name_ok(prefix, 0))
		pgflo_usage_error(SYNOPSIS, "invalid --subject-prefix: %s",
		    prefix);
	if (strlen(stream) > 200 || strlen(prefix) > 200)
		pgflo_usage_error(SYNOPSIS, "--stream or --subject-prefix "
		    "longer than 200 bytes");
	scf.name = stream;
	snprintf(scf.subject, sizeof(scf.subject), "%s.%s.>", prefix, stream);
	if (server != NULL && pgflo_natsconn_url_ok(server, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "invalid -s: %s", errbuf);
}

static void
pub_free(void)
{
	pgflo_natsconn_close(&pub.conn);
	pgflo_buf_free(&pub.subj);
	pgflo_buf_free(&pub.hdr);
	pgflo_buf_free(&pub.begin);
	pgflo_buf_free(&pub.held.line);
	pgflo_buf_free(&pub.held.subject);
	free(pub.snapseq);
}

int
main(int argc, char *argv[])
{
	struct pgflo_reader rd;
	struct pgflo_durable *d;
	int st;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	pgflo_out_init();
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	pgflo_catch_signals();
	pgflo_out_clean_stop();
	d = pgflo_durable_new(&dc, &pub_ops, NULL);
	if ((st = pgflo_durable_run(d, &rd)) != 0) {
		(void)pgflo_out_flush(0);
		pgflo_errx(st, "%s", pgflo_durable_errmsg(d));
	}
	if (vflag)
		pgflo_warnx("%llu messages in stream %s, %lu records skipped, "
		    "%lu batches", (unsigned long long)pub.acked, stream,
		    pgflo_durable_skipped(d), pgflo_durable_batches(d));
	pgflo_durable_free(d);
	pgflo_reader_close(&rd);
	pub_free();
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
