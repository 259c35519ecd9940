/*
 * lsn.h - LSNs and positions.  A position (commit_lsn, ordinal,
 * stream_seq) orders the stream totally; DESIGN.md "Positions".
 * Implemented in lsn.c.
 */
#ifndef PGFLO_LSN_H
#define PGFLO_LSN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pgflo.h"

typedef uint64_t pgflo_lsn;
#define PGFLO_LSN_INVALID	((pgflo_lsn)0)
#define PGFLO_LSN_BUFSZ		24
int	pgflo_lsn_parse(const char *s, pgflo_lsn *out);
/* Writes "X/Y" (upper-case hex, as PostgreSQL does) into buf; returns buf. */
char	*pgflo_lsn_format(pgflo_lsn lsn, char buf[PGFLO_LSN_BUFSZ]);
/* Writes v in decimal into buf; returns buf.  No stdio: a hot path. */
#define PGFLO_U64_BUFSZ		21
char	*pgflo_u64_format(uint64_t v, char buf[PGFLO_U64_BUFSZ]);

struct pgflo_pos {
	pgflo_lsn commit_lsn;	/* 0: none */
	uint64_t ordinal;
	uint64_t stream_seq;	/* 0: none */
};
/*
 * <0, 0, >0; by commit_lsn then ordinal, else by stream_seq.  Meant for
 * positions of one kind: a commit_lsn-only position and a
 * stream_seq-only one compare by stream_seq (0 for the first).
 */
int	pgflo_pos_cmp(const struct pgflo_pos *a, const struct pgflo_pos *b);
int	pgflo_pos_is_set(const struct pgflo_pos *p);
/* Writes "X/Y:ORDINAL" into buf; returns buf. */
#define PGFLO_POS_BUFSZ		(PGFLO_LSN_BUFSZ + PGFLO_U64_BUFSZ)
char	*pgflo_pos_format(const struct pgflo_pos *p, char buf[PGFLO_POS_BUFSZ]);
/*
 * Moves *best forwards to p kind by kind: (commit_lsn, ordinal) and
 * stream_seq each only when p has a newer one of that kind, so a
 * position of one kind never drops or blocks the other.  Returns the
 * kinds that moved, PGFLO_POS_LSN | PGFLO_POS_SEQ, or 0.
 */
#define PGFLO_POS_LSN	1
#define PGFLO_POS_SEQ	2
int	pgflo_pos_advance(struct pgflo_pos *best, const struct pgflo_pos *p);
/* From a record's commit_lsn/ordinal/stream_seq members; -1 if malformed. */
int	pgflo_pos_from_json(const json_t *rec, struct pgflo_pos *p);
/*
 * From text: a position record as JSON, "X/Y", "X/Y:ORDINAL" or a bare
 * stream sequence number.  -1 if none of these.
 */
int	pgflo_pos_parse(const char *s, struct pgflo_pos *p);
/* Appends {"op":"position",...} (no newline) to b; group may be NULL. */
void	pgflo_pos_write(struct pgflo_buf *b, const struct pgflo_pos *p,
	    const char *group);

#endif
