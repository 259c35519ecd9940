/*
 * natsread.h - reading a pgflo stream back (natsread.c): an ordered push
 * consumer (no state on the server) with flow control and heartbeats,
 * that never goes on past a gap, and the records of natsmsg.h put back
 * together from their parts.
 *
 * nats.c 3.4.1's ordered consumer drops messages silently when the
 * reader falls behind its pending limits (../shared/NATS.md): the limits
 * are lifted (the server's flow control bounds memory instead), and
 * every message is checked anyway.  Without a filter a stream's
 * sequences come one by one; with one, the consumer's sequence does.  A
 * jump, a dropped message, a slow consumer event, a consumer gone or a
 * subscription error resubscribes from the sequence after the last
 * message handed out whole; a jump found again at the same place (the
 * messages were deleted from the stream) is an error.
 */
#ifndef PGFLO_NATSREAD_H
#define PGFLO_NATSREAD_H

#include <stdint.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "lsn.h"

struct pgflo_natsread_config {
	const char *stream;
	const char *filter;	/* subject filter */
	int	 whole;		/* filter is all of the stream's subjects */
	uint64_t start_seq;	/* the first sequence wanted (>= 1) */
	size_t	 max_record;	/* parts put together at most */
	long	 max_outage_ms;	/* 0: wait for ever */
};

/* A record, put together (borrowed until the next call). */
struct pgflo_natsrec {
	const char *data;	/* the record's line, no '\n' */
	size_t	 len;
	const char *begin;	/* Pgflo-Begin, or NULL */
	const char *commit;	/* Pgflo-Commit, or NULL */
	const char *subject;
	struct pgflo_pos hdrpos;	/* Pgflo-Position (0/0 none) */
	uint64_t seq;		/* of its last message */
	uint64_t pending;	/* matching messages after it, when sent */
};

struct pgflo_natsread;

/* NULL, or a reader; it subscribes at the first next(). */
struct pgflo_natsread *pgflo_natsread_new(natsConnection *nc, jsCtx *js,
	    const struct pgflo_natsread_config *cf);
void	pgflo_natsread_free(struct pgflo_natsread *r);
/*
 * The next record: 1 (in *rec), 2 when none came within timeout_ms, 0
 * when a stop signal came, or minus an exit status (PGFLO_EXIT_FAIL: a
 * gap that stays, a record too big, a bad part; PGFLO_EXIT_UNAVAIL: the
 * server gone past max_outage_ms; PGFLO_EXIT_USAGE: the stream is gone)
 * with errbuf saying why.
 */
int	pgflo_natsread_next(struct pgflo_natsread *r, struct pgflo_natsrec *rec,
	    long timeout_ms, char *errbuf, size_t errlen);
/* The sequence of the last message handed out (in a record, whole). */
uint64_t pgflo_natsread_last(const struct pgflo_natsread *r);
/* Whether a message is there already: the next call will not wait. */
int	pgflo_natsread_ready(struct pgflo_natsread *r);
/* Resubscriptions so far (for -v). */
unsigned long pgflo_natsread_resubscribes(const struct pgflo_natsread *r);
/*
 * Whether the consumer has nothing left to send: the server says none
 * pending and nothing is queued here.  -1 when it could not be asked.
 */
int	pgflo_natsread_drained(struct pgflo_natsread *r);

/*
 * A message of a stream by sequence (seq) or, with subject, the last on
 * that subject: direct get when the stream allows it, else the API.
 * 0 (*m new), 1 none, -1 (errbuf).
 */
int	pgflo_natsread_get(jsCtx *js, const char *stream, int direct,
	    uint64_t seq, const char *subject, natsMsg **m, char *errbuf,
	    size_t errlen);
/*
 * The first sequence whose Pgflo-Position is after pos, between 1 and
 * last (binary search; the headers never go back), backed up to the part
 * 1 of a record in parts.  last + 1 when none.  0 (*seq), or -1.
 */
int	pgflo_natsread_seek(jsCtx *js, const char *stream, int direct,
	    uint64_t last, const struct pgflo_pos *pos, uint64_t *seq,
	    char *errbuf, size_t errlen);

#endif
