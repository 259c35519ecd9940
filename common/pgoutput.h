/*
 * pgoutput.h - pgoutput messages (protocol version 1, with messages)
 * into change records (pgoutput.c): the decoding half of pgflo-capture,
 * as pgflo-record(5) describes the records.  pgoutput sends a
 * transaction only after its commit, change by change, so each record
 * is handed to emit as it is decoded and memory stays bounded by the
 * largest row.
 */
#ifndef PGFLO_PGOUTPUT_H
#define PGFLO_PGOUTPUT_H

#include <stdint.h>

#include "pgflo.h"
#include "copyprog.h"
#include "lsn.h"
#include "repl.h"
#include "typecache.h"

struct pgoutput_state;

struct pgflo_pgoutput {
	/* Set by the caller before the first message. */
	struct pgflo_typecache *types;	/* borrowed */
	const char *slot;		/* whose DDL messages are records */
	int	 track_ddl;
	/* The copy's progress of this slot (may be NULL), borrowed. */
	const struct pgflo_copyprog *copied;
	pgflo_lsn endpos;		/* 0: none */
	struct pgflo_pos skip;		/* records at or before: not written */
	/* Writes one record (no new line); it exits when it cannot. */
	void	(*emit)(const char *rec, size_t len);

	/* Kept by the decoder; the caller reads them. */
	int	 in_tx;			/* between Begin and Commit */
	int64_t	 commit_ts;		/* its, in us since 2000-01-01 */
	struct pgflo_pos written;	/* the last record written */
	pgflo_lsn done;			/* all sent up to here handled */
	int	 reached_end;		/* endpos reached */
	struct pgoutput_state *st;
};

/* New, zeroed but for its own state. */
struct pgflo_pgoutput *pgflo_pgoutput_new(void);
void	pgflo_pgoutput_free(struct pgflo_pgoutput *d);
/*
 * Decodes one pgoutput message, c being left at it by
 * pgflo_repl_header().  0, or -1 with errbuf set: a protocol violation
 * (a malformed message, a change outside a transaction or for a
 * relation never described).
 */
int	pgflo_pgoutput_decode(struct pgflo_pgoutput *d, struct pgflo_cur *c,
	    char *errbuf, size_t errlen);
/*
 * A wal_end the server reports idle (a keepalive): with no transaction
 * pending, everything up to it is handled.
 */
void	pgflo_pgoutput_idle(struct pgflo_pgoutput *d, pgflo_lsn wal_end);

#endif
