/*
 * natsmsg.h - how change records are laid out as JetStream messages
 * (natsmsg.c): the contract between pgflo-publish and pgflo-consume,
 * documented in pgflo-publish(1).
 *
 * Subjects: P.STREAM.SCHEMA.TABLE for changes, with SCHEMA and TABLE
 * encoded as one token each (pgflo_nats_token_encode); P.STREAM.$txn for
 * a transaction with no message of its own to carry its boundaries,
 * P.STREAM.$msg for logical messages, P.STREAM.$ddl for ddl without a
 * table.  No encoded name begins with '$'.
 *
 * A message's body is the record's line, unchanged (without '\n'), or a
 * part of it.  Headers:
 *   Pgflo-Position  "X/Y:ORDINAL": every record at or before it is in
 *                   the stream up to and including this message ("0/0"
 *                   none yet).  A part but the last carries the position
 *                   before its record.
 *   Pgflo-Begin     on the first message of a transaction: its begin
 *                   record, whole.
 *   Pgflo-Commit    on the last: its commit record, whole.
 *   Pgflo-Part      "I/N" on each part of a record split because it was
 *                   larger than the server's max_payload; a part 1 starts
 *                   the record again (the parts before were left behind
 *                   by a failure, with the Pgflo-Begin of their part 1).
 *                   Pgflo-Begin rides on part 1, Pgflo-Commit on part N.
 */
#ifndef PGFLO_NATSMSG_H
#define PGFLO_NATSMSG_H

#include "pgflo.h"

#define PGFLO_HDR_POSITION	"Pgflo-Position"
#define PGFLO_HDR_BEGIN		"Pgflo-Begin"
#define PGFLO_HDR_COMMIT	"Pgflo-Commit"
#define PGFLO_HDR_PART		"Pgflo-Part"

/*
 * Appends name (len bytes, any bytes) to b as one subject token: A-Z a-z
 * 0-9 _ - as they are, every other byte as %XX (upper-case hex), so '.',
 * '*', '>', space, '%' and UTF-8 all fit and the encoding is reversible.
 */
void	pgflo_nats_token_encode(struct pgflo_buf *b, const char *name,
	    size_t len);
/* Appends the name token (len bytes) decodes to; -1 if malformed. */
int	pgflo_nats_token_decode(struct pgflo_buf *b, const char *tok,
	    size_t len);
/*
 * Whether s is a valid subject prefix (tokens of printable ASCII but
 * space . * > separated by single dots), or with single_token a stream
 * name (A-Z a-z 0-9 _ -).
 */
int	pgflo_nats_name_ok(const char *s, int single_token);
/*
 * Exits with a usage error (synopsis) unless stream and prefix, as
 * given to --stream and --subject-prefix, name a stream and its
 * subjects: pgflo-publish and pgflo-consume take the same pair.
 */
void	pgflo_nats_stream_args(const char *synopsis, const char *stream,
	    const char *prefix);

#endif
