/*
 * natsread.c - an ordered consumer of a pgflo stream that never goes on
 * past a gap, and the records put back together (natsread.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "natsread.h"

#define HEARTBEAT_MS	2000
#define IDLE_CHECK_MS	(3 * HEARTBEAT_MS)	/* then ask the server */
#define MAX_JUMPS	3	/* the same gap again: it is in the stream */
#define ERR_NO_MSG	10037	/* JSNoMessageFoundErr */

struct pgflo_natsread {
	natsConnection *nc;
	jsCtx	*js;
	struct pgflo_natsread_config cf;
	natsSubscription *sub;
	natsMsg	*cur;		/* the message the record's headers are in */
	uint64_t last;		/* handed out whole, or skipped */
	uint64_t got;		/* the last message received */
	uint64_t cons;		/* its consumer sequence */
	uint64_t jump_at;
	int	 jumps;
	struct pgflo_buf part;	/* the record in parts */
	struct pgflo_buf begin;	/* its part 1's Pgflo-Begin */
	int	 part_i, part_n, has_begin;
	unsigned long resubs;
	long	 idle_since, down_since;
};

struct pgflo_natsread *
pgflo_natsread_new(natsConnection *nc, jsCtx *js,
    const struct pgflo_natsread_config *cf)
{
	struct pgflo_natsread *r = pgflo_xmalloc(sizeof(*r));

	memset(r, 0, sizeof(*r));
	r->nc = nc;
	r->js = js;
	r->cf = *cf;
	r->last = cf->start_seq > 0 ? cf->start_seq - 1 : 0;
	r->got = r->last;
	r->idle_since = pgflo_now_ms();
	return r;
}

static void
unsubscribe(struct pgflo_natsread *r)
{
	if (r->sub != NULL) {
		natsSubscription_Destroy(r->sub);
		r->sub = NULL;
	}
	r->part_i = r->part_n = 0;
	r->has_begin = 0;
}

void
pgflo_natsread_free(struct pgflo_natsread *r)
{
	if (r == NULL)
		return;
	unsubscribe(r);
	natsMsg_Destroy(r->cur);
	pgflo_buf_free(&r->part);
	pgflo_buf_free(&r->begin);
	free(r);
}

uint64_t
pgflo_natsread_last(const struct pgflo_natsread *r)
{
	return r->last;
}

int
pgflo_natsread_ready(struct pgflo_natsread *r)
{
	uint64_t q = 0;

	return r->sub != NULL && natsSubscription_QueuedMsgs(r->sub,
	    &q) == NATS_OK && q > 0;
}

unsigned long
pgflo_natsread_resubscribes(const struct pgflo_natsread *r)
{
	return r->resubs;
}

/* An ordered consumer from r->last + 1: 0, or the status s of nats.c. */
static natsStatus
subscribe(struct pgflo_natsread *r, jsErrCode *jerr)
{
	jsSubOptions so;
	natsStatus s;

	unsubscribe(r);
	jsSubOptions_Init(&so);
	so.Stream = r->cf.stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverByStartSequence;
	so.Config.OptStartSeq = r->last + 1;
	so.Config.FlowControl = true;
	so.Config.Heartbeat = (int64_t)HEARTBEAT_MS * 1000000;
	*jerr = 0;
	s = js_SubscribeSync(&r->sub, r->js, r->cf.filter, NULL, &so, jerr);
	if (s != NATS_OK) {
		r->sub = NULL;
		return s;
	}
	/* NATS.md: the default limits drop messages silently. */
	natsSubscription_SetPendingLimits(r->sub, -1, -1);
	r->got = r->last;
	r->cons = 0;
	r->idle_since = pgflo_now_ms();
	return NATS_OK;
}

/* -1 (errbuf) once the server has been gone longer than allowed. */
static int
outage(struct pgflo_natsread *r, int down, char *errbuf, size_t errlen)
{
	long now = pgflo_now_ms();

	if (!down) {
		r->down_since = 0;
		return 0;
	}
	if (r->down_since == 0)
		r->down_since = now;
	if (r->cf.max_outage_ms > 0 &&
	    now - r->down_since >= r->cf.max_outage_ms) {
		snprintf(errbuf, errlen, "NATS server unreachable for %ld s "
		    "(--max-outage)", (now - r->down_since) / 1000);
		return -1;
	}
	return 0;
}

/* A subscription, made when there is none: 0, 2 not yet, or a status. */
static int
ensure_sub(struct pgflo_natsread *r, char *errbuf, size_t errlen)
{
	jsErrCode jerr;
	natsStatus s;

	if (r->sub != NULL)
		return 0;
	if ((s = subscribe(r, &jerr)) == NATS_OK)
		return outage(r, 0, errbuf, errlen);
	if (jerr == JSStreamNotFoundErr) {
		snprintf(errbuf, errlen, "stream %s is gone", r->cf.stream);
		return -PGFLO_EXIT_USAGE;
	}
	if (outage(r, 1, errbuf, errlen) == -1)
		return -PGFLO_EXIT_UNAVAIL;
	nats_Sleep(200);
	return 2;
}

/* Nothing came: is the consumer still there (nats.c may have lost it)? */
static int
idle(struct pgflo_natsread *r, char *errbuf, size_t errlen)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	uint64_t q = 0;
	long now = pgflo_now_ms();

	int down = natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED;

	if (!down && r->down_since != 0) {
		/* Back: the server may have lost the consumer with itself. */
		r->down_since = 0;
		unsubscribe(r);
		r->resubs++;
		return 0;
	}
	if (outage(r, down, errbuf, errlen) == -1)
		return -PGFLO_EXIT_UNAVAIL;
	if (now - r->idle_since < IDLE_CHECK_MS || r->down_since != 0)
		return 0;
	r->idle_since = now;
	s = natsSubscription_GetConsumerInfo(&ci, r->sub, NULL, &jerr);
	if (s != NATS_OK) {
		if (jerr != 0 || s == NATS_NOT_FOUND ||
		    s == NATS_INVALID_SUBSCRIPTION) {
			unsubscribe(r);
			r->resubs++;
		}
		jsConsumerInfo_Destroy(ci);
		return 0;
	}
	if (ci->NumPending > 0 && natsSubscription_QueuedMsgs(r->sub,
	    &q) == NATS_OK && q == 0) {
		/* Pending on the server, nothing here, for seconds. */
		unsubscribe(r);
		r->resubs++;
	}
	jsConsumerInfo_Destroy(ci);
	return 0;
}

/* A gap before sequence seq: resubscribe, or fail when it stays. */
static int
gap(struct pgflo_natsread *r, uint64_t seq, char *errbuf, size_t errlen)
{
	uint64_t from = r->last + 1;

	if (r->jump_at == from && r->jumps >= MAX_JUMPS) {
		snprintf(errbuf, errlen, "stream %s: messages %llu to %llu "
		    "are missing (deleted from the stream?)", r->cf.stream,
		    (unsigned long long)from, (unsigned long long)seq - 1);
		return -PGFLO_EXIT_FAIL;
	}
	if (r->jump_at != from) {
		r->jump_at = from;
		r->jumps = 0;
	}
	r->jumps++;
	unsubscribe(r);
	r->resubs++;
	return 0;
}

static const char *
hdr(natsMsg *m, const char *k)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, k, &v) != NATS_OK)
		return NULL;
	return v;
}

/* A message, in order: 1 a record is whole, 0 go on, or -status. */
static int
take(struct pgflo_natsread *r, natsMsg *m, uint64_t seq,
    struct pgflo_natsrec *rec, char *errbuf, size_t errlen)
{
	const char *part = hdr(m, PGFLO_HDR_PART), *b, *pos;
	const char *data = natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	int i = 1, n = 1;

	if (part != NULL && (sscanf(part, "%d/%d", &i, &n) != 2 || i < 1 ||
	    i > n)) {
		snprintf(errbuf, errlen, "stream %s: message %llu: bad %s %s",
		    r->cf.stream, (unsigned long long)seq, PGFLO_HDR_PART,
		    part);
		return -PGFLO_EXIT_FAIL;
	}
	b = hdr(m, PGFLO_HDR_BEGIN);
	if (n > 1) {
		if (i == 1) {
			/* A record starts (again): earlier parts are void. */
			pgflo_buf_reset(&r->part);
			r->has_begin = b != NULL;
			pgflo_buf_reset(&r->begin);
			if (b != NULL)
				pgflo_buf_puts(&r->begin, b);
		} else if (r->part_n == 0) {
			/* The rest of a record begun before our start. */
			r->last = seq;
			natsMsg_Destroy(m);
			return 0;
		} else if (i != r->part_i + 1 || n != r->part_n) {
			snprintf(errbuf, errlen, "stream %s: message %llu: "
			    "part %d/%d after part %d/%d", r->cf.stream,
			    (unsigned long long)seq, i, n, r->part_i,
			    r->part_n);
			return -PGFLO_EXIT_FAIL;
		}
		r->part_i = i;
		r->part_n = n;
		if (r->part.len + len > r->cf.max_record) {
			snprintf(errbuf, errlen, "stream %s: the record ending "
			    "at message %llu is over PGFLO_MAX_RECORD (%zu "
			    "bytes)", r->cf.stream, (unsigned long long)seq,
			    r->cf.max_record);
			return -PGFLO_EXIT_FAIL;
		}
		pgflo_buf_putn(&r->part, data, len);
		if (i < n) {
			natsMsg_Destroy(m);
			return 0;
		}
		data = r->part.data;
		len = r->part.len;
		b = r->has_begin ? pgflo_buf_cstr(&r->begin) : NULL;
		r->part_i = r->part_n = 0;
	} else if (r->part_n != 0) {
		snprintf(errbuf, errlen, "stream %s: message %llu: a whole "
		    "record after part %d/%d", r->cf.stream,
		    (unsigned long long)seq, r->part_i, r->part_n);
		return -PGFLO_EXIT_FAIL;
	}
	natsMsg_Destroy(r->cur);
	r->cur = m;
	memset(rec, 0, sizeof(*rec));
	rec->data = data;
	rec->len = len;
	rec->begin = b;
	rec->commit = hdr(m, PGFLO_HDR_COMMIT);
	rec->subject = natsMsg_GetSubject(m);
	if ((pos = hdr(m, PGFLO_HDR_POSITION)) != NULL &&
	    strcmp(pos, "0/0:0") != 0)
		(void)pgflo_pos_parse(pos, &rec->hdrpos);
	rec->seq = seq;
	r->last = seq;
	return 1;
}

/* One message from the subscription: 1 a record, 0 go on, 2, -status. */
static int
receive(struct pgflo_natsread *r, struct pgflo_natsrec *rec, long timeout_ms,
    char *errbuf, size_t errlen)
{
	jsMsgMetaData *md = NULL;
	natsMsg *m = NULL;
	natsStatus s;
	uint64_t seq, cseq, pending;
	int64_t dropped = 0;
	int st;

	s = natsSubscription_NextMsg(&m, r->sub, timeout_ms);
	if (s == NATS_TIMEOUT) {
		if ((st = idle(r, errbuf, errlen)) != 0)
			return st;
		return r->sub != NULL ? 2 : 0;
	}
	if (s != NATS_OK || natsMsg_GetMetaData(&md, m) != NATS_OK) {
		/* Slow consumer, missed heartbeats, a closed subscription. */
		natsMsg_Destroy(m);
		unsubscribe(r);
		r->resubs++;
		return 0;
	}
	seq = md->Sequence.Stream;
	cseq = md->Sequence.Consumer;
	pending = md->NumPending;
	jsMsgMetaData_Destroy(md);
	r->idle_since = pgflo_now_ms();
	r->down_since = 0;
	if (natsSubscription_GetDropped(r->sub, &dropped) == NATS_OK &&
	    dropped > 0) {
		natsMsg_Destroy(m);
		return gap(r, seq, errbuf, errlen);
	}
	if (seq <= r->got) {
		natsMsg_Destroy(m);	/* again, after a reset */
		return 0;
	}
	if (r->cf.whole ? seq != r->got + 1 :
	    (cseq != r->cons + 1 && cseq != 1)) {
		natsMsg_Destroy(m);
		return gap(r, seq, errbuf, errlen);
	}
	r->got = seq;
	r->cons = cseq;
	if ((st = take(r, m, seq, rec, errbuf, errlen)) == 1)
		rec->pending = pending;
	else if (st != 0)
		natsMsg_Destroy(m);
	return st;
}

int
pgflo_natsread_next(struct pgflo_natsread *r, struct pgflo_natsrec *rec,
    long timeout_ms, char *errbuf, size_t errlen)
{
	long deadline = pgflo_now_ms() + timeout_ms, left;
	int st;

	for (;;) {
		if (pgflo_stopping())
			return 0;
		left = deadline - pgflo_now_ms();
		if ((st = ensure_sub(r, errbuf, errlen)) == 2) {
			if (left <= 0)
				return 2;
			continue;
		}
		if (st != 0)
			return st;
		st = receive(r, rec, left > 0 ? left : 1, errbuf, errlen);
		if (st == 2 && left > 0)
			continue;
		if (st != 0)
			return st;
	}
}

int
pgflo_natsread_drained(struct pgflo_natsread *r)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	uint64_t q = 0;
	int ret;

	if (r->sub == NULL || r->part_n != 0)
		return 0;
	if (natsSubscription_GetConsumerInfo(&ci, r->sub, NULL,
	    &jerr) != NATS_OK)
		return -1;
	ret = ci->NumPending == 0 && natsSubscription_QueuedMsgs(r->sub,
	    &q) == NATS_OK && q == 0 && ci->Delivered.Consumer <= r->cons;
	jsConsumerInfo_Destroy(ci);
	return ret;
}

int
pgflo_natsread_get(jsCtx *js, const char *stream, int direct, uint64_t seq,
    const char *subject, natsMsg **m, char *errbuf, size_t errlen)
{
	jsDirectGetMsgOptions dgo;
	jsErrCode jerr = 0;
	natsStatus s;

	*m = NULL;
	if (direct) {
		jsDirectGetMsgOptions_Init(&dgo);
		if (subject != NULL)
			dgo.LastBySubject = subject;
		else
			dgo.Sequence = seq;
		s = js_DirectGetMsg(m, js, stream, NULL, &dgo);
	} else if (subject != NULL)
		s = js_GetLastMsg(m, js, stream, subject, NULL, &jerr);
	else
		s = js_GetMsg(m, js, stream, seq, NULL, &jerr);
	if (s == NATS_OK)
		return 0;
	*m = NULL;
	if (s == NATS_NOT_FOUND || jerr == ERR_NO_MSG)
		return 1;
	snprintf(errbuf, errlen, "stream %s: get message %llu: %s", stream,
	    (unsigned long long)seq, pgflo_natsconn_why(s));
	return -1;
}

/* The Pgflo-Position of message seq: 1 after pos, 0 not, -1 error. */
static int
after(jsCtx *js, const char *stream, int direct, uint64_t seq,
    const struct pgflo_pos *pos, int *part, char *errbuf, size_t errlen)
{
	struct pgflo_pos p = { 0 };
	const char *v;
	natsMsg *m;
	int st, i = 1, n = 1;

	if ((st = pgflo_natsread_get(js, stream, direct, seq, NULL, &m,
	    errbuf, errlen)) != 0)
		return st == 1 ? 0 : -1;
	if ((v = hdr(m, PGFLO_HDR_POSITION)) != NULL &&
	    strcmp(v, "0/0:0") != 0)
		(void)pgflo_pos_parse(v, &p);
	if ((v = hdr(m, PGFLO_HDR_PART)) != NULL &&
	    sscanf(v, "%d/%d", &i, &n) != 2)
		i = 1;
	*part = i;
	natsMsg_Destroy(m);
	return p.commit_lsn != 0 && pgflo_pos_cmp(&p, pos) > 0;
}

int
pgflo_natsread_seek(jsCtx *js, const char *stream, int direct, uint64_t last,
    const struct pgflo_pos *pos, uint64_t *seq, char *errbuf, size_t errlen)
{
	struct pgflo_pos lp = *pos;
	uint64_t lo = 1, hi = last + 1, mid;
	int st, part = 1;

	lp.stream_seq = 0;
	/* The first in [lo, hi) after pos; hi when none. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((st = after(js, stream, direct, mid, &lp, &part, errbuf,
		    errlen)) == -1)
			return -1;
		if (st)
			hi = mid;
		else
			lo = mid + 1;
	}
	*seq = lo;
	if (lo <= last && after(js, stream, direct, lo, &lp, &part, errbuf,
	    errlen) == 1 && part > 1 && (uint64_t)part <= lo)
		*seq = lo - (uint64_t)(part - 1);
	return 0;
}
