/*
 * durable.c - the durable stage (durable.h): batches of whole source
 * transactions handed to a sink, the position printed once they are
 * durable, replay after a failure, the dead-letter file for what cannot
 * be made durable.
 *
 * Each source transaction gets a tag; the raw lines of the open batch
 * are retained with theirs (up to RETAIN_MAX bytes).  After a failure
 * the batch is rolled back and its lines, minus the failing
 * transaction's, go to the replay queue, which is read before stdin.  A
 * transaction set aside leaves a fold line in its place, so that its
 * position joins the batch there (a rerun skips it) and never before the
 * transactions ahead of it.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "backoff.h"
#include "deadletter.h"
#include "durable.h"
#include "jsonscan.h"
#include "lsn.h"
#include "output.h"
#include "reader.h"
#include "record.h"
#include "recspan.h"

#define RETAIN_MAX	((size_t)32 << 20)	/* replayable bytes */
#define BACKOFF_FIRST	500
#define BACKOFF_MAX	30000

/*
 * The lineno of a fold line, not a record: "F" and a position set aside,
 * which joins the batch there; or "D", a position and whether the begin
 * was seen: the transaction set aside goes on from there (discard).
 */
#define FOLD_LINE	0

struct line {
	size_t	 off, len;
	unsigned long lineno;
	unsigned long txn;	/* source transaction tag */
};
struct lines {
	struct pgflo_buf data;
	struct line *v;
	size_t	 n, cap, next;
};

struct mark {
	int	 kind;		/* 'F' or 'D' */
	struct pgflo_pos pos;
	int	 begun;
};

struct pgflo_durable {
	struct pgflo_durable_config cf;
	const struct pgflo_durable_ops *ops;
	void	*sink;
	struct pgflo_recspan rec;	/* the record being processed */
	struct lines retained, replay;
	int	 overflow;		/* retained is incomplete */
	/* Snapshot records of the open batch: printed once committed. */
	struct lines echoes;
	struct pgflo_pos applied;	/* durable */
	struct pgflo_pos bpos;		/* with the open batch */
	int	 batch_open, bdirty;
	long	 batch_start, batch_changes;
	unsigned long txn_seq;
	struct {
		int	 open, begun;
		int	 skipping;	/* it began at or before bpos */
		pgflo_lsn lsn;
		unsigned long tag;
	} cur;
	/*
	 * A source transaction being set aside: its records still to come
	 * go to the dead-letter file too.  Its position (the highest set
	 * aside) joins the next batch once it is complete.
	 */
	struct {
		int	 active;
		int	 begun, done;	/* its begin, its commit set aside */
		pgflo_lsn lsn;
		struct pgflo_pos pos;
	} discard;
	struct {
		int	 pending;
		int	 code;
		char	 msg[1200];
	} leave;		/* exit once the replay queue is applied */
	/* The line being processed, until it is retained. */
	struct {
		const char *s;
		size_t	 len;
		unsigned long lineno;
		int	 pending;
	} curline;
	int	 aborted;	/* the batch was rolled back under process() */
	int	 slowmode;	/* one record per request (locating errors) */
	int	 txnmode;	/* a commit per transaction (locating one) */
	int	 stopped;	/* a stop signal while reconnecting */
	unsigned long nskipped, nbatches;
	/* --metrics: the open batch's records by op, until committed. */
	int	 from_stdin;
	uint64_t bout[PGFLO_M_NOPS], bout_bytes;
	char	 errbuf[1024];
};

static void handle_failure(struct pgflo_durable *);

/* The metric op of a record op: the first six share their order. */
static enum pgflo_metric_op
mop(enum pgflo_op op)
{
	return op >= PGFLO_OP_INSERT && op <= PGFLO_OP_COMMIT ?
	    (enum pgflo_metric_op)(op - PGFLO_OP_INSERT) : PGFLO_M_OTHER;
}

static void maybe_commit(struct pgflo_durable *);

/*
 * Ends the run from deep inside (a write error, a lost connection with
 * --no-loop): back to pgflo_durable_run(), which returns the status and
 * leaves the message to main(), since common/ never exits.  One stage
 * runs per process.
 */
static jmp_buf fatal_jb;
static int fatal_code;
static char fatal_msg[2048];

static void PGFLO_NORETURN PGFLO_PRINTF(2, 3)
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fatal_msg, sizeof(fatal_msg), fmt, ap);
	va_end(ap);
	fatal_code = code;
	longjmp(fatal_jb, 1);
}

/* "write error: <errno>", as pgflo_err() words it. */
static void PGFLO_NORETURN
die_write(void)
{
	die(PGFLO_EXIT_FAIL, "write error: %s", strerror(errno));
}

/* Control characters (a newline in a value, say) as spaces: one line. */
static void
oneline(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

static void
lines_add(struct lines *l, const char *s, size_t n, unsigned long lineno,
    unsigned long txn)
{
	if (l->n == l->cap) {
		l->cap = l->cap != 0 ? l->cap * 2 : 1024;
		l->v = pgflo_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].off = l->data.len;
	l->v[l->n].len = n;
	l->v[l->n].lineno = lineno;
	l->v[l->n].txn = txn;
	l->n++;
	pgflo_buf_putn(&l->data, s, n);
	pgflo_buf_putc(&l->data, '\0');
}

static void
lines_reset(struct lines *l)
{
	l->n = l->next = 0;
	pgflo_buf_reset(&l->data);
	if (l->data.cap > ((size_t)8 << 20)) {
		pgflo_buf_free(&l->data);
		free(l->v);
		l->v = NULL;
		l->cap = 0;
	}
}

static void
lines_free(struct lines *l)
{
	pgflo_buf_free(&l->data);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
pgflo_durable_print_position(const char *group, const struct pgflo_pos *p)
{
	struct pgflo_buf b = { 0 };
	int r = 0;

	pgflo_pos_write(&b, p, group);
	if (pgflo_out_line(b.data, b.len) == -1 || pgflo_out_flush(0) == -1)
		r = -1;
	pgflo_buf_free(&b);
	return r;
}

static void
print_position(struct pgflo_durable *d, const struct pgflo_pos *p)
{
	if (pgflo_durable_print_position(d->cf.group, p) == -1)
		die_write();
}

static void
dead_letter_line(struct pgflo_durable *d, const char *s, size_t n)
{
	if (pgflo_deadletter_line(d->cf.dl, s, n) == -1)
		die(PGFLO_EXIT_FAIL, "%s", d->cf.dl->errmsg);
}

static void
open_batch(struct pgflo_durable *d)
{
	if (d->batch_open)
		return;
	d->ops->begin(d->sink, d->slowmode);
	d->batch_open = 1;
	d->batch_start = pgflo_now_ms();
	d->batch_changes = 0;
	d->bpos = d->applied;
	d->bdirty = 0;
	memset(d->bout, 0, sizeof(d->bout));
	d->bout_bytes = 0;
}

/* A batch committed: its records are out. */
static void
count_committed(struct pgflo_durable *d)
{
	struct pgflo_metrics *m = d->cf.metrics;
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < PGFLO_M_NOPS; i++)
		m->out[i] += d->bout[i];
	m->bytes_out += d->bout_bytes;
	m->batches++;
	if (m->last_commit_ts > 0)
		m->lag_seconds = pgflo_wall_seconds() - m->last_commit_ts;
}

/* After a commit: what it covered is printed, the batch state reset. */
static void
committed(struct pgflo_durable *d)
{
	size_t i;

	d->batch_open = 0;
	d->nbatches++;
	count_committed(d);
	if (d->cf.verbose)
		pgflo_warnx("committed %ld changes", d->batch_changes);
	/* The copy's progress is durable with the batch (copyprog.c). */
	for (i = 0; i < d->echoes.n; i++)
		if (pgflo_out_line(d->echoes.data.data + d->echoes.v[i].off,
		    d->echoes.v[i].len) == -1 || pgflo_out_flush(0) == -1)
			die_write();
	lines_reset(&d->echoes);
	if (d->bdirty) {
		if (d->ops->amend != NULL)
			d->ops->amend(d->sink, &d->bpos);
		d->applied = d->bpos;
		print_position(d, &d->applied);
		if (d->cf.metrics != NULL) {
			d->cf.metrics->last_lsn = d->applied.commit_lsn;
			d->cf.metrics->last_seq = d->applied.stream_seq;
		}
	}
	lines_reset(&d->retained);
	d->overflow = 0;
	d->slowmode = 0;
	/* Locating a failed commit: one transaction each, until replayed. */
	if (d->replay.next >= d->replay.n)
		d->txnmode = 0;
}

/* Commits the open batch; on failure the failure handling takes over. */
static int
commit_batch(struct pgflo_durable *d)
{
	if (!d->batch_open)
		return 0;
	/* Set-aside transactions are durable before the position past them. */
	if (d->cf.dl != NULL && pgflo_deadletter_sync(d->cf.dl) == -1)
		die(PGFLO_EXIT_FAIL, "%s", d->cf.dl->errmsg);
	if (d->ops->commit(d->sink, d->bdirty ? &d->bpos : NULL) == -1) {
		handle_failure(d);
		return -1;
	}
	committed(d);
	return 0;
}

static void
fold_line_add(struct lines *l, int kind, const struct pgflo_pos *p,
    int begun, unsigned long txn)
{
	char b[100];
	int n;

	n = snprintf(b, sizeof(b), "%c %llu %llu %llu %d", kind,
	    (unsigned long long)p->commit_lsn, (unsigned long long)p->ordinal,
	    (unsigned long long)p->stream_seq, begun);
	lines_add(l, b, (size_t)n, FOLD_LINE, txn);
}

/*
 * Builds the replay queue: the retained lines outside [lo_txn, hi_txn]
 * (those inside go to the dead-letter file with to_dead, followed by the
 * current line with cur_dead, and the fold line mark in their place),
 * then with keep_rest the current line and what was still queued.
 */
static void
requeue(struct pgflo_durable *d, unsigned long lo_txn, unsigned long hi_txn,
    int to_dead, int keep_rest, int cur_dead, const struct mark *fold)
{
	struct lines nq = { 0 };
	size_t i;
	int dropped = 0;

	for (i = 0; i < d->retained.n; i++) {
		struct line *l = &d->retained.v[i];
		const char *s = d->retained.data.data + l->off;

		if (l->txn >= lo_txn && l->txn <= hi_txn) {
			if (to_dead && l->lineno != FOLD_LINE)
				dead_letter_line(d, s, l->len);
			dropped = 1;
			continue;
		}
		if (dropped && fold != NULL) {
			fold_line_add(&nq, fold->kind, &fold->pos, fold->begun,
			    0);
			fold = NULL;
		}
		lines_add(&nq, s, l->len, l->lineno, 0);
	}
	if (cur_dead && d->curline.pending) {
		dead_letter_line(d, d->curline.s, d->curline.len);
		d->curline.pending = 0;
	}
	if (fold != NULL)
		fold_line_add(&nq, fold->kind, &fold->pos, fold->begun, 0);
	if (keep_rest && d->curline.pending)
		lines_add(&nq, d->curline.s, d->curline.len, d->curline.lineno,
		    0);
	d->curline.pending = 0;
	for (i = d->replay.next; keep_rest && i < d->replay.n; i++)
		lines_add(&nq, d->replay.data.data + d->replay.v[i].off,
		    d->replay.v[i].len, d->replay.v[i].lineno, 0);
	lines_free(&d->replay);
	d->replay = nq;
	lines_reset(&d->retained);
}

static void
rollback(struct pgflo_durable *d)
{
	d->ops->rollback(d->sink, d->batch_open);
	lines_reset(&d->echoes);	/* replayed from retained, if at all */
	d->batch_open = 0;
	d->cur.open = 0;
	d->aborted = 1;
}

/* Replays the whole batch (and what followed it). */
static void
replay_all(struct pgflo_durable *d)
{
	rollback(d);
	requeue(d, 1, 0, 0, 1, 0, NULL);
}

/* Describes retained line idx: "<stdin>:N: op schema.table (key)=(vals)". */
static void
describe(struct pgflo_durable *d, long idx, char *out, size_t outlen)
{
	struct pgflo_buf b = { 0 };
	struct line *l;

	if (idx < 0 || (size_t)idx >= d->retained.n) {
		snprintf(out, outlen, "<stdin>");
		return;
	}
	l = &d->retained.v[idx];
	pgflo_recspan_describe(&b, d->retained.data.data + l->off, l->len,
	    l->lineno);
	snprintf(out, outlen, "%s", pgflo_buf_cstr(&b));
	pgflo_buf_free(&b);
}

/* Raises p to q: by commit_lsn and ordinal, and by stream_seq. */
static int
pos_raise(struct pgflo_pos *p, const struct pgflo_pos *q)
{
	int r = 0;

	if (q->commit_lsn != 0 && (q->commit_lsn > p->commit_lsn ||
	    (q->commit_lsn == p->commit_lsn && q->ordinal > p->ordinal))) {
		p->commit_lsn = q->commit_lsn;
		p->ordinal = q->ordinal;
		r = 1;
	}
	if (q->stream_seq > p->stream_seq) {
		p->stream_seq = q->stream_seq;
		r = 1;
	}
	return r;
}

/*
 * The position of a transaction set aside joins the open batch, kept as
 * a fold line among its retained lines, so that a rollback replays it in
 * its place (never before the transactions ahead of it).
 */
static void
fold(struct pgflo_durable *d, const struct pgflo_pos *p)
{
	if (!pgflo_pos_is_set(p))
		return;
	open_batch(d);
	if (pos_raise(&d->bpos, p))
		d->bdirty = 1;
	if (!d->overflow)
		fold_line_add(&d->retained, 'F', p, 0, ++d->txn_seq);
}

/* The transaction being set aside is complete. */
static void
discard_end(struct pgflo_durable *d)
{
	if (!d->discard.active)
		return;
	d->discard.active = 0;
	fold(d, &d->discard.pos);
}

/* Notes a record of the transaction being set aside. */
static void
discard_note(struct pgflo_durable *d, enum pgflo_op op,
    const struct pgflo_pos *p)
{
	pos_raise(&d->discard.pos, p);
	if (op == PGFLO_OP_BEGIN)
		d->discard.begun = 1;
	if (op == PGFLO_OP_COMMIT)
		d->discard.done = 1;
}

/* Starts setting aside the rest of the transaction at lsn. */
static void
discard_start(struct pgflo_durable *d, pgflo_lsn lsn,
    const struct pgflo_pos *pos, int begun)
{
	d->discard.active = 1;
	d->discard.lsn = lsn;
	d->discard.pos = *pos;
	d->discard.begun = begun;
	d->discard.done = 0;
}

/*
 * Rolls back and writes source transaction tag to the dead-letter file:
 * its retained lines, then the current line with cur_dead (a bad
 * record); the rest of it follows (discard).  The transactions around
 * it are applied again.
 */
static void
set_aside(struct pgflo_durable *d, unsigned long tag, int cur_dead,
    enum pgflo_op curop, const struct pgflo_pos *curpos)
{
	struct pgflo_recspan r = { 0 };
	struct pgflo_pos pos = { 0 };
	struct mark m;
	pgflo_lsn lsn = 0;
	int xcur = d->cur.open && d->cur.tag == tag;
	int begun = xcur && d->cur.begun, done = 0;
	const char *why;
	size_t i;

	for (i = 0; i < d->retained.n; i++) {
		struct line *l = &d->retained.v[i];

		if (l->txn != tag || l->lineno == FOLD_LINE)
			continue;
		if (pgflo_recspan_parse(&r, d->retained.data.data + l->off,
		    l->len, &why) == 0) {
			if (r.has_lsn)
				lsn = r.pos.commit_lsn;
			pos_raise(&pos, &r.pos);
			begun |= r.op == PGFLO_OP_BEGIN;
			done |= r.op == PGFLO_OP_COMMIT;
		}
	}
	pgflo_recspan_free(&r);
	if (cur_dead && curpos != NULL) {
		if (curpos->commit_lsn != 0)
			lsn = curpos->commit_lsn;
		pos_raise(&pos, curpos);
		begun |= curop == PGFLO_OP_BEGIN;
		done |= curop == PGFLO_OP_COMMIT;
	}
	rollback(d);
	/*
	 * Complete when it was committed or another one began: its position
	 * joins the batch in its place.  Else the rest of it is set aside as
	 * it comes, from its place on: never before what is replayed.
	 */
	m.pos = pos;
	m.begun = begun;
	m.kind = done || !xcur ? 'F' : 'D';
	if (m.kind == 'D' && m.pos.commit_lsn == 0)
		m.pos.commit_lsn = lsn != 0 ? lsn : d->cur.lsn;
	requeue(d, tag, tag, 1, 1, cur_dead, m.kind == 'D' ||
	    pgflo_pos_is_set(&pos) ? &m : NULL);
}

/* Ends the run once the replay queue is applied. */
static void
leave(struct pgflo_durable *d, int code, const char *fmt, ...)
    PGFLO_PRINTF(3, 4);
static void
leave(struct pgflo_durable *d, int code, const char *fmt, ...)
{
	va_list ap;

	d->leave.pending = 1;
	d->leave.code = code;
	va_start(ap, fmt);
	vsnprintf(d->leave.msg, sizeof(d->leave.msg), fmt, ap);
	va_end(ap);
}

/*
 * Something in the open batch failed.  Roll back, then apply again
 * every complete source transaction before the failing one, and either
 * stop there (exit 1) or write the failing one to the dead-letter file
 * and go on.
 */
static void
fail_txn(struct pgflo_durable *d, long idx, const char *msg)
{
	char where[600];
	unsigned long tag;

	describe(d, idx, where, sizeof(where));
	oneline(where);
	if (d->cf.metrics != NULL)
		d->cf.metrics->errors++;
	if (d->overflow) {
		rollback(d);
		die(PGFLO_EXIT_FAIL, "%s: %s (the transaction was too large to "
		    "keep; nothing of this batch was committed)", where, msg);
	}
	tag = idx >= 0 && (size_t)idx < d->retained.n ?
	    d->retained.v[idx].txn : d->cur.tag;
	if (d->cf.dl != NULL) {
		pgflo_warnx("%s: %s (transaction written to %s)", where, msg,
		    d->cf.dl->name);
		set_aside(d, tag, 0, PGFLO_OP_UNKNOWN, NULL);
		return;
	}
	rollback(d);
	/* Keep only the transactions before the failing one. */
	requeue(d, tag, (unsigned long)-1, 0, 0, 0, NULL);
	leave(d, PGFLO_EXIT_FAIL, "%s: %s", where, msg);
}

static void
reconnect(struct pgflo_durable *d, const char *msg)
{
	struct pgflo_backoff b;
	long since = pgflo_now_ms();
	int st;

	if (d->overflow)
		die(PGFLO_EXIT_UNAVAIL, "connection lost: %s (the open "
		    "transaction is too large to replay; restart)", msg);
	if (d->cf.noloop)
		die(PGFLO_EXIT_UNAVAIL, "connection lost: %s", msg);
	pgflo_warnx("connection lost: %s; reconnecting", msg);
	if (d->cf.metrics != NULL)
		d->cf.metrics->errors++;
	d->ops->close(d->sink);
	lines_reset(&d->echoes);
	d->batch_open = 0;
	d->cur.open = 0;
	d->aborted = 1;
	pgflo_backoff_init(&b, BACKOFF_FIRST, BACKOFF_MAX);
	for (;;) {
		if (pgflo_stopping() || pgflo_backoff_sleep(&b) == -1) {
			d->stopped = 1;	/* run() ends, a clean stop */
			return;
		}
		if ((st = d->ops->connect(d->sink, d->errbuf,
		    sizeof(d->errbuf))) == 0 && d->ops->setup(d->sink,
		    &d->applied, d->errbuf, sizeof(d->errbuf)) == 0)
			break;
		if (st == PGFLO_EXIT_USAGE)
			die(PGFLO_EXIT_USAGE, "could not connect: %s",
			    d->errbuf);
		pgflo_out_check_reader();
		d->ops->close(d->sink);
		if (d->cf.max_outage_ms > 0 &&
		    pgflo_now_ms() - since >= d->cf.max_outage_ms)
			die(PGFLO_EXIT_UNAVAIL, "connection lost: %s (not back "
			    "within %ld s)", d->errbuf,
			    d->cf.max_outage_ms / 1000);
		pgflo_warnx("reconnecting: %s", d->errbuf);
		if (d->cf.metrics != NULL) {
			d->cf.metrics->retries++;
			pgflo_metrics_tick(d->cf.metrics);
		}
	}
	pgflo_warnx("reconnected");
	/* A commit whose reply was lost is durable: report it now. */
	if (pgflo_pos_is_set(&d->applied))
		print_position(d, &d->applied);
	requeue(d, 1, 0, 0, 1, 0, NULL);
}

/* A failed commit: which transaction, or again one per commit. */
static int
commit_failed(struct pgflo_durable *d, const char *msg)
{
	long first = -1, last = -1;
	char cmsg[1100];
	size_t i;

	if (d->overflow)
		return 0;
	for (i = 0; i < d->retained.n; i++)
		if (d->retained.v[i].lineno != FOLD_LINE) {
			if (first == -1)
				first = (long)i;
			last = (long)i;
		}
	if (first != -1 && d->retained.v[first].txn !=
	    d->retained.v[last].txn && !d->txnmode) {
		/*
		 * A deferred constraint, say: again with a commit after each
		 * transaction, to find the one.
		 */
		replay_all(d);
		d->txnmode = 1;
		return 1;
	}
	if (last == -1)
		return 0;
	snprintf(cmsg, sizeof(cmsg), "commit failed: %s", msg);
	fail_txn(d, last, cmsg);
	return 1;
}

static void
handle_failure(struct pgflo_durable *d)
{
	struct pgflo_durable_failure f;

	memset(&f, 0, sizeof(f));
	f.idx = -1;
	d->ops->failure(d->sink, &f);
	switch (f.kind) {
	case PGFLO_DF_LOST:
		reconnect(d, f.msg);
		return;
	case PGFLO_DF_RETRY:
		replay_all(d);
		return;
	case PGFLO_DF_COMMIT:
		if (commit_failed(d, f.msg))
			return;
		rollback(d);
		die(PGFLO_EXIT_FAIL, "commit failed: %s", f.msg);
	case PGFLO_DF_STOP:
		rollback(d);
		if (pgflo_pos_is_set(&f.reached) &&
		    pgflo_pos_cmp(&f.reached, &d->applied) > 0)
			print_position(d, &f.reached);
		die(f.status, "%s", f.msg);
	case PGFLO_DF_RECORDS:
		break;
	}
	if (f.nrecords > 1 && !d->slowmode) {
		/* Several records in one request: again one by one. */
		replay_all(d);
		d->slowmode = 1;
		return;
	}
	if (f.idx < 0) {
		rollback(d);
		die(PGFLO_EXIT_FAIL, "apply failed: %s", f.msg);
	}
	fail_txn(d, f.idx, f.msg);
}

static void
maybe_commit(struct pgflo_durable *d)
{
	if (d->batch_open && (d->batch_changes >= d->cf.batch_rows ||
	    pgflo_now_ms() - d->batch_start >= d->cf.batch_ms ||
	    (d->ops->commit_soon != NULL && d->ops->commit_soon(d->sink)) ||
	    d->txnmode))
		commit_batch(d);
}

static void
close_txn(struct pgflo_durable *d)
{
	if (!d->cur.open)
		return;
	d->cur.open = 0;
	maybe_commit(d);
}

/*
 * At or before what is applied, or already reached in the open batch: an
 * upstream that restarts mid-transaction sends it again from its begin
 * while this batch is still open.
 */
static int
skip(const struct pgflo_durable *d, const struct pgflo_recspan *r)
{
	const struct pgflo_pos *at = d->batch_open ? &d->bpos : &d->applied;

	if (r->has_lsn)
		return at->commit_lsn != 0 &&
		    (r->pos.commit_lsn < at->commit_lsn ||
		    (r->pos.commit_lsn == at->commit_lsn &&
		    r->pos.ordinal <= at->ordinal));
	if (r->has_seq)
		return at->stream_seq != 0 &&
		    r->pos.stream_seq <= at->stream_seq;
	return 0;
}

/*
 * What a parsed record may not be: every change is part of a source
 * transaction and has its position, except the rows of an initial copy
 * ("snapshot":true), which are part of none.
 */
static const char *
check_record(struct pgflo_durable *d, struct pgflo_recspan *r)
{
	int change = (r->op >= PGFLO_OP_INSERT && r->op <= PGFLO_OP_TRUNCATE) ||
	    r->op == PGFLO_OP_DDL;
	const char *(*check)(void *, struct pgflo_recspan *) =
	    d->ops->check;

	if (change && r->snapshot) {
		if (r->has_lsn)
			return "a snapshot record with a commit_lsn";
		if (d->cur.open && d->cur.begun)
			return "a snapshot record inside a transaction";
		return check != NULL ? check(d->sink, r) : NULL;
	}
	if ((change || r->op == PGFLO_OP_BEGIN || r->op == PGFLO_OP_COMMIT) &&
	    !r->has_lsn) {
		snprintf(r->whybuf, sizeof(r->whybuf), "%s record without "
		    "commit_lsn", pgflo_op_name(r->op));
		return r->whybuf;
	}
	return change && check != NULL ? check(d->sink, r) : NULL;
}

/* A bad record with --dead-letter: it, or its transaction, set aside. */
static void
bad_to_dead(struct pgflo_durable *d, const char *msg, int inside, int other,
    enum pgflo_op op, const struct pgflo_pos *pos, int parsed)
{
	if (inside) {
		pgflo_warnx("%s (transaction written to %s)", msg,
		    d->cf.dl->name);
		set_aside(d, d->cur.tag, 1, op, parsed ? pos : NULL);
		return;
	}
	pgflo_warnx("%s (written to %s)", msg, d->cf.dl->name);
	if (other)
		close_txn(d);
	dead_letter_line(d, d->curline.s, d->curline.len);
	d->curline.pending = 0;
	if (other && op != PGFLO_OP_COMMIT) {
		/* The rest of its transaction follows it there. */
		discard_start(d, pos->commit_lsn, &(struct pgflo_pos){ 0 }, 0);
		discard_note(d, op, pos);
	}
}

/*
 * A line that is not a record, or a record that cannot be applied
 * (rec is valid when parsed).  It fails the source transaction it is in:
 * the transaction is set aside whole (--dead-letter) or not committed,
 * and what came before is committed before the exit.
 */
static void
bad_record(struct pgflo_durable *d, const char *msg, int parsed)
{
	struct pgflo_recspan *r = &d->rec;
	struct pgflo_pos pos = r->pos;
	enum pgflo_op op = parsed ? r->op : PGFLO_OP_UNKNOWN;
	int same, other, inside;

	/* A failure still in the pipeline is earlier: it comes first. */
	if (d->batch_open && d->ops->failed(d->sink, 1)) {
		handle_failure(d);
		return;
	}
	if (parsed && (r->has_lsn || r->has_seq) && skip(d, r)) {
		d->nskipped++;	/* applied or set aside before */
		d->curline.pending = 0;
		return;
	}
	same = parsed && r->has_lsn && d->cur.open &&
	    r->pos.commit_lsn == d->cur.lsn;
	other = parsed && r->has_lsn && !same;
	inside = d->cur.open && (same || (!other && d->cur.begun));
	if (inside && d->cur.skipping) {
		d->nskipped++;
		d->curline.pending = 0;
		return;
	}
	if (d->cf.dl != NULL) {
		bad_to_dead(d, msg, inside, other, op, &pos, parsed);
		return;
	}
	/* An open transaction that may go on is not committed. */
	if (d->cur.open && !other) {
		rollback(d);
		requeue(d, d->cur.tag, (unsigned long)-1, 0, 0, 0, NULL);
	}
	d->curline.pending = 0;
	leave(d, PGFLO_EXIT_FAIL, "%s", msg);
}

/* A fold line (FOLD_LINE) from the replay queue. */
static void
process_fold(struct pgflo_durable *d, const char *line)
{
	struct pgflo_pos p = { 0 };
	unsigned long long a, b, c;
	char k;
	int begun;

	/* In the place of a transaction set aside: it ended the last. */
	close_txn(d);
	if (d->aborted)
		return;	/* requeued, this line with the rest */
	d->curline.pending = 0;
	if (sscanf(line, "%c %llu %llu %llu %d", &k, &a, &b, &c,
	    &begun) != 5)
		return;
	p.commit_lsn = a;
	p.ordinal = b;
	p.stream_seq = c;
	if (k == 'F') {
		fold(d, &p);
		return;
	}
	discard_end(d);
	discard_start(d, p.commit_lsn, &p, begun);
}

/* Parses line into d->rec: 1 parsed, 0 not (msg says why); why: bad. */
static int
parse_line(struct pgflo_durable *d, const char *line, size_t len,
    unsigned long lineno, char *msg, size_t msglen, const char **why)
{
	json_error_t jerr;
	json_t *j;
	int valid;

	*why = NULL;
	/* One pass; what fails it goes the long way, for the message. */
	if (d->cf.head_only && pgflo_recspan_parse_head(&d->rec, line,
	    len) == 0) {
		if ((*why = check_record(d, &d->rec)) != NULL)
			snprintf(msg, msglen, "<stdin>:%lu: %s", lineno, *why);
		return 1;
	}
	valid = pgflo_js_valid(line, len);
	if (valid && pgflo_recspan_parse(&d->rec, line, len, why) == 0) {
		if ((*why = check_record(d, &d->rec)) != NULL)
			snprintf(msg, msglen, "<stdin>:%lu: %s", lineno, *why);
		return 1;
	}
	if (valid) {
		snprintf(msg, msglen, "<stdin>:%lu: %s", lineno, *why);
		return 0;
	}
	j = json_loadb(line, len, 0, &jerr);
	if (j == NULL)
		snprintf(msg, msglen, "<stdin>:%lu: invalid JSON: %s "
		    "(column %d)", lineno, jerr.text, jerr.column);
	else
		snprintf(msg, msglen, "<stdin>:%lu: invalid JSON", lineno);
	json_decref(j);
	return 0;
}

/* A line of the transaction being set aside goes after it: 1 taken. */
static int
discard_line(struct pgflo_durable *d, const char *line, size_t len,
    int parsed, const char *why)
{
	struct pgflo_recspan *r = &d->rec;

	if (!d->discard.active)
		return 0;
	if (parsed && r->has_lsn) {
		if (r->pos.commit_lsn != d->discard.lsn) {
			discard_end(d);	/* another transaction */
			return 0;
		}
		dead_letter_line(d, line, len);
		d->curline.pending = 0;
		discard_note(d, r->op, &r->pos);
		if (r->op == PGFLO_OP_COMMIT)
			discard_end(d);
		return 1;
	}
	if (!parsed || why != NULL) {
		/* A bad line between its begin and its commit is its own. */
		if (d->discard.begun && !d->discard.done) {
			dead_letter_line(d, line, len);
			d->curline.pending = 0;
			return 1;
		}
		discard_end(d);
	}
	return 0;
}

/* The source transaction tag of d->rec, opening or closing one. */
static unsigned long
txn_tag(struct pgflo_durable *d)
{
	struct pgflo_recspan *r = &d->rec;

	if (r->has_lsn) {
		if (d->cur.open && d->cur.lsn != r->pos.commit_lsn)
			close_txn(d);
		if (d->aborted)
			return 0;
		if (!d->cur.open) {
			d->cur.open = 1;
			d->cur.begun = 0;
			d->cur.lsn = r->pos.commit_lsn;
			d->cur.tag = ++d->txn_seq;
			d->cur.skipping = skip(d, r);
		}
		if (r->op == PGFLO_OP_BEGIN)
			d->cur.begun = 1;
		return d->cur.tag;
	}
	if (d->cur.open && d->cur.begun)
		return ++d->txn_seq;	/* not part of it (a snapshot marker) */
	close_txn(d);
	return d->cur.tag = ++d->txn_seq;
}

/* Keeps line for a replay: its index, or -1 when the batch is too big. */
static long
retain(struct pgflo_durable *d, const char *line, size_t len,
    unsigned long lineno, unsigned long tag)
{
	long idx = -1;

	if (!d->overflow) {
		if (d->retained.data.len + len > RETAIN_MAX) {
			d->overflow = 1;
			lines_reset(&d->retained);
		} else {
			idx = (long)d->retained.n;
			lines_add(&d->retained, line, len, lineno, tag);
		}
	}
	d->curline.pending = 0;
	return idx;
}

/* Hands d->rec to the sink; the batch and its position move on. */
static void
write_rec(struct pgflo_durable *d, long idx)
{
	struct pgflo_recspan *r = &d->rec;
	char msg[1200];

	if (d->ops->write(d->sink, r, idx, d->errbuf,
	    sizeof(d->errbuf)) == -1) {
		if (d->ops->failed(d->sink, 0)) {
			handle_failure(d);
			return;
		}
		snprintf(msg, sizeof(msg), "%s", d->errbuf);
		oneline(msg);
		/* A failure of an earlier record comes first. */
		if (d->ops->failed(d->sink, 1)) {
			handle_failure(d);
			return;
		}
		fail_txn(d, idx, msg);
		return;
	}
	if (d->ops->failed(d->sink, 0)) {
		handle_failure(d);
		return;
	}
	if (r->op >= PGFLO_OP_INSERT && r->op <= PGFLO_OP_TRUNCATE)
		d->batch_changes++;
	d->bout[mop(r->op)]++;
	d->bout_bytes += r->linelen + 1;
	if (r->has_lsn) {
		d->bpos.commit_lsn = r->pos.commit_lsn;
		d->bpos.ordinal = r->pos.ordinal;
		d->bdirty = 1;
	}
	if (r->has_seq) {
		d->bpos.stream_seq = r->pos.stream_seq;
		d->bdirty = 1;
	}
	if (r->op == PGFLO_OP_COMMIT || !r->has_lsn)
		close_txn(d);
	if (!r->has_lsn && !d->cur.open && !d->aborted)
		maybe_commit(d);
}

/* A line read from stdin; a begin's commit time is the source's. */
static void
count_in(struct pgflo_durable *d, const char *line, size_t len,
    enum pgflo_op op)
{
	struct pgflo_metrics *m = d->cf.metrics;
	double ts;

	m->in[mop(op)]++;
	m->bytes_in += len + 1;
	if (op == PGFLO_OP_BEGIN && (ts = pgflo_metrics_commit_ts(line)) > 0)
		m->last_commit_ts = ts;
}

/* One input line (from stdin or the replay queue). */
static void
process(struct pgflo_durable *d, const char *line, size_t len,
    unsigned long lineno)
{
	struct pgflo_recspan *r = &d->rec;
	const char *why;
	unsigned long tag;
	char msg[1200];
	int parsed;

	d->aborted = 0;
	d->curline.s = line;
	d->curline.len = len;
	d->curline.lineno = lineno;
	d->curline.pending = 1;
	if (lineno == FOLD_LINE) {
		process_fold(d, line);
		return;
	}
	parsed = parse_line(d, line, len, lineno, msg, sizeof(msg), &why);
	if (discard_line(d, line, len, parsed, why))
		return;
	if (d->cf.metrics != NULL && d->from_stdin)
		count_in(d, line, len, parsed ? r->op : PGFLO_OP_UNKNOWN);
	if (why != NULL || !parsed) {
		oneline(msg);
		if (d->cf.metrics != NULL)
			d->cf.metrics->errors++;
		bad_record(d, msg, parsed);
		return;
	}
	tag = txn_tag(d);
	if (d->aborted)
		return;	/* requeue() took this line */
	if (d->ops->failed(d->sink, 0)) {
		handle_failure(d);
		return;
	}
	if (skip(d, r)) {
		d->nskipped++;
		if (r->op == PGFLO_OP_COMMIT)
			close_txn(d);
		return;
	}
	if (r->op == PGFLO_OP_POSITION || r->op == PGFLO_OP_UNKNOWN ||
	    (r->op == PGFLO_OP_MESSAGE && !r->has_lsn))
		return;
	open_batch(d);
	if (r->op == PGFLO_OP_SNAPSHOT) {
		/* Nothing to apply: echoed after the commit that covers it. */
		lines_add(&d->echoes, line, len, lineno, tag);
		(void)retain(d, line, len, lineno, tag);
		if (!d->cur.open)
			maybe_commit(d);
		return;
	}
	write_rec(d, retain(d, line, len, lineno, tag));
}

/* Commits the complete transactions and rolls back an incomplete one. */
static void
finish(struct pgflo_durable *d)
{
	/* One set aside without its end is not made durable: it comes again. */
	if (d->discard.active && (!d->discard.begun || d->discard.done))
		discard_end(d);
	d->discard.active = 0;
	if (!d->leave.pending && d->cur.open && d->cur.begun &&
	    d->batch_open) {
		rollback(d);
		requeue(d, d->cur.tag, (unsigned long)-1, 0, 0, 0, NULL);
		leave(d, PGFLO_EXIT_OK, "%s", "");
		return;
	}
	/* With leave pending, the replayed transactions were complete. */
	d->cur.open = 0;
	commit_batch(d);
}

struct pgflo_durable *
pgflo_durable_new(const struct pgflo_durable_config *cf,
    const struct pgflo_durable_ops *ops, void *sink)
{
	struct pgflo_durable *d = pgflo_xmalloc(sizeof(*d));

	memset(d, 0, sizeof(*d));
	d->cf = *cf;
	d->ops = ops;
	d->sink = sink;
	return d;
}

void
pgflo_durable_free(struct pgflo_durable *d)
{
	if (d == NULL)
		return;
	pgflo_recspan_free(&d->rec);
	lines_free(&d->retained);
	lines_free(&d->replay);
	lines_free(&d->echoes);
	free(d);
}

const char *
pgflo_durable_errmsg(const struct pgflo_durable *d)
{
	if (fatal_code != 0)
		return fatal_msg;
	return d->leave.pending ? d->leave.msg : d->errbuf;
}

unsigned long
pgflo_durable_skipped(const struct pgflo_durable *d)
{
	return d->nskipped;
}

unsigned long
pgflo_durable_batches(const struct pgflo_durable *d)
{
	return d->nbatches;
}

/* At the end of the input or the replay queue: 1 to go on, else done. */
static int
ended(struct pgflo_durable *d)
{
	finish(d);
	return d->replay.next < d->replay.n || d->leave.pending;
}

/* Waits for the next line of stdin: 1 a line, 0 the end, -1 go round. */
static int
next_line(struct pgflo_durable *d, struct pgflo_reader *rd)
{
	int r, timeout = -1, idle = 0, mtimeout;
	long w;

	if (d->batch_open && !(d->cur.open && d->cur.begun)) {
		timeout = (int)(d->cf.batch_ms - (pgflo_now_ms() -
		    d->batch_start));
		if (timeout < 0)
			timeout = 0;
	} else if (!d->batch_open && d->ops->idle != NULL) {
		if (d->ops->idle(d->sink, &w, d->errbuf,
		    sizeof(d->errbuf)) == -1)
			die(PGFLO_EXIT_FAIL, "%s", d->errbuf);
		idle = 1;
		timeout = w > INT_MAX ? INT_MAX : (int)w;
	}
	/* The metrics file is rewritten also while no input comes. */
	if (pgflo_metrics_on(d->cf.metrics)) {
		mtimeout = (int)(d->cf.metrics->next_ms - pgflo_now_ms());
		if (mtimeout < 0)
			mtimeout = 0;
		if (timeout == -1 || mtimeout < timeout) {
			r = pgflo_reader_next_timeout(rd, mtimeout);
			if (r == 2) {
				pgflo_metrics_tick(d->cf.metrics);
				return -1;
			}
			goto got;
		}
	}
	r = pgflo_reader_next_timeout(rd, timeout);
got:
	if (r == 2 && idle)
		return -1;	/* the sink's timer: round again */
	if (r == 2) {
		/* No commit record: quiet input ends it. */
		d->cur.open = 0;
		commit_batch(d);
		return -1;
	}
	if (r == -1) {
		finish(d);
		die(PGFLO_EXIT_FAIL, "%s", rd->errmsg);
	}
	if (r == 0)
		return pgflo_stopping() || ended(d) ? -1 : 0;
	return 1;
}

static int
connect_sink(struct pgflo_durable *d)
{
	int st;

	if ((st = d->ops->connect(d->sink, d->errbuf, sizeof(d->errbuf))) != 0)
		die(st, "could not connect: %s", d->errbuf);
	/* Privileges or a foreign table in the way: configuration, exit 2. */
	if (d->ops->setup(d->sink, &d->applied, d->errbuf,
	    sizeof(d->errbuf)) == -1)
		die(PGFLO_EXIT_USAGE, "%s", d->errbuf);
	return 0;
}

int
pgflo_durable_run(struct pgflo_durable *d, struct pgflo_reader *rd)
{
	int r;

	if (setjmp(fatal_jb) != 0)
		return fatal_code;
	connect_sink(d);
	while (!d->stopped) {
		if (d->cf.metrics != NULL)
			pgflo_metrics_tick(d->cf.metrics);
		if (d->replay.next < d->replay.n) {
			struct line *l = &d->replay.v[d->replay.next++];

			process(d, d->replay.data.data + l->off, l->len,
			    l->lineno);
			continue;
		}
		if (d->replay.n > 0)
			lines_reset(&d->replay);
		if (d->leave.pending) {
			finish(d);
			if (d->replay.next < d->replay.n)
				continue;
			return d->leave.msg[0] != '\0' ? d->leave.code : 0;
		}
		/* A failed final commit queues its lines again. */
		if (pgflo_stopping()) {
			if (ended(d))
				continue;
			break;
		}
		if ((r = next_line(d, rd)) == -1)
			continue;
		if (r == 0)
			break;
		d->from_stdin = 1;
		process(d, rd->line, rd->len, rd->lineno);
		d->from_stdin = 0;
	}
	return 0;
}
