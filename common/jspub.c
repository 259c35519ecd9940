/*
 * jspub.c - the JetStream sink of pgflo-publish: see jspub.h for the
 * guarantees and how they are kept.  nats.c calls ack_cb and lost_cb on
 * its own threads; pub.mu guards what they touch.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "durable.h"
#include "jspub.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "natsstream.h"
#include "output.h"

#define WINDOW_MSGS	4096		/* unacknowledged messages */
#define WINDOW_BYTES	((size_t)8 << 20)	/* and their bytes */
#define BATCH_BYTES	((size_t)8 << 20)	/* commit soon after */
/*
 * For each acknowledgement.  nats.c keeps a message's state until this
 * expires, acknowledged or not: 10 s took RSS to 66 MB at 60k messages a
 * second, 2 s to 29 MB, and to 36 MB at 98k a second on a quiet machine,
 * where 1 s gives 28 MB at the same speed.  A slower ack is a resync,
 * which is harmless.
 */
#define PUB_WAIT_MS	1000
#define HDR_ROOM	1024		/* our headers but begin/commit */
#define MARKER_MAX	2048		/* a begin/commit line in a header */
#define ERR_WRONG_LAST	10071		/* JSStreamWrongLastSequenceErr */

/* The configuration (pgflo_jspub_init). */
static const char *stream, *server, *prefix;
static int msgid, vflag;
static struct pgflo_natsstream_config scf;

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
	struct pgflo_buf subj_of;	/* schema\0table\0 that subj is of */
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
	int	 waiting;		/* threads in wait_ms() */
	int	 failed, full;
	char	 why[600];
} pub = {
	.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER
};

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
		/* No wake-up call per ack when nobody waits for one. */
		if (pub.waiting > 0)
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
	pub.waiting++;
	(void)pthread_cond_timedwait(&pub.cv, &pub.mu, &ts);
	pub.waiting--;
}

/* ---- sending ---- */

static natsStatus
set_headers(natsMsg *m, const struct pgflo_pos *covered,
    const struct pgflo_pos *own, const char *begin, const char *commit,
    int part, int nparts, uint64_t expect)
{
	char b[PGFLO_POS_BUFSZ], id[512];
	natsStatus s;

	s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence",
	    pgflo_u64_format(expect, b));
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, PGFLO_HDR_POSITION,
		    pgflo_pos_format(covered, b));
	if (s == NATS_OK && nparts > 1) {
		snprintf(b, sizeof(b), "%d/%d", part, nparts);
		s = natsMsgHeader_Set(m, PGFLO_HDR_PART, b);
	}
	if (s == NATS_OK && msgid && own != NULL) {
		snprintf(id, sizeof(id), "%.255s:%s:%d", stream,
		    pgflo_pos_format(own, b), part);
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	}
	if (s == NATS_OK && begin != NULL)
		s = natsMsgHeader_Set(m, PGFLO_HDR_BEGIN, begin);
	if (s == NATS_OK && commit != NULL)
		s = natsMsgHeader_Set(m, PGFLO_HDR_COMMIT, commit);
	return s;
}

/* Room in the window for len bytes, taken; or a failure: -1. */
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
	if (r == 0)
		pub.inflight += len;	/* before its ack can come */
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
	int table = what == NULL && r->schema != NULL && r->table != NULL;

	/* Runs of one table's changes: the subject of the last one. */
	if (table && pub.subj_of.len > 0 && strcmp(r->schema,
	    pub.subj_of.data) == 0 && strcmp(r->table, pub.subj_of.data +
	    strlen(pub.subj_of.data) + 1) == 0)
		return pgflo_buf_cstr(&pub.subj);
	pgflo_buf_reset(&pub.subj);
	pgflo_buf_reset(&pub.subj_of);
	pgflo_buf_printf(&pub.subj, "%s.%s.", prefix, stream);
	if (!table) {
		pgflo_buf_printf(&pub.subj, "$%s", what != NULL ? what : "ddl");
		return pgflo_buf_cstr(&pub.subj);
	}
	pgflo_nats_token_encode(&pub.subj, r->schema, strlen(r->schema));
	pgflo_buf_putc(&pub.subj, '.');
	pgflo_nats_token_encode(&pub.subj, r->table, strlen(r->table));
	pgflo_buf_putn(&pub.subj_of, r->schema, strlen(r->schema) + 1);
	pgflo_buf_putn(&pub.subj_of, r->table, strlen(r->table) + 1);
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
	pgflo_buf_reset(&pub.subj_of);
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

const struct pgflo_durable_ops pgflo_jspub_ops = {
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

void
pgflo_jspub_init(const struct pgflo_jspub_config *cf)
{
	stream = cf->stream;
	server = cf->server;
	prefix = cf->prefix;
	msgid = cf->msgid;
	vflag = cf->verbose;
	scf = cf->scf;
}

uint64_t
pgflo_jspub_acked(void)
{
	uint64_t n;

	pthread_mutex_lock(&pub.mu);
	n = pub.acked;
	pthread_mutex_unlock(&pub.mu);
	return n;
}

void
pgflo_jspub_free(void)
{
	pgflo_natsconn_close(&pub.conn);
	pgflo_buf_free(&pub.subj);
	pgflo_buf_free(&pub.subj_of);
	pgflo_buf_free(&pub.hdr);
	pgflo_buf_free(&pub.begin);
	pgflo_buf_free(&pub.held.line);
	pgflo_buf_free(&pub.held.subject);
	free(pub.snapseq);
}
