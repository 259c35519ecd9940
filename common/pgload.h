/*
 * pgload.h - parallel COPY loaders (pgload.c): pgflo-sink-pg -j, several
 * target connections taking COPY rows at once.  A row goes to the loader
 * its key hashes to, so rows of one key never wait on each other across
 * connections; each loader keeps one transaction open, with one COPY at
 * a time in it, until pgflo_pgload_commit() ends the COPYs and commits
 * every loader.  The caller reports progress only after that returned 0.
 */
#ifndef PGFLO_PGLOAD_H
#define PGFLO_PGLOAD_H

#include <stdint.h>

#include <libpq-fe.h>

#include "pgflo.h"

struct pgflo_pgload;

/*
 * n loaders on conninfo, each set up with the SQL session (may be
 * NULL); NULL with errbuf.
 */
struct pgflo_pgload *pgflo_pgload_new(const char *conninfo, int n,
	    const char *session, char *errbuf, size_t errlen);
/* Rolls back what is open and closes the connections; NULL is fine. */
void	pgflo_pgload_free(struct pgflo_pgload *pl);
/*
 * The COPY buffer of the loader for key hash h, set to run copysql for
 * rows of signature sig (starting that COPY if its COPY is another);
 * the caller appends one COPY text row to it and calls
 * pgflo_pgload_sent().  NULL when that loader failed (errbuf; *lost
 * when its connection went away).
 */
struct pgflo_buf *pgflo_pgload_buf(struct pgflo_pgload *pl, uint64_t h,
	    const struct pgflo_buf *sig, const char *copysql, char *errbuf,
	    size_t errlen, int *lost);
/* After a row was appended: sends a full buffer; -1 as above. */
int	pgflo_pgload_sent(struct pgflo_pgload *pl, char *errbuf,
	    size_t errlen, int *lost);
/* Whether a loader holds rows not yet committed. */
int	pgflo_pgload_dirty(const struct pgflo_pgload *pl);
/*
 * Ends every COPY, then commits every loader (the COMMITs sent at once,
 * then read): 0, or -1 with errbuf (*lost as above), the loaders that
 * had not committed rolled back.
 */
int	pgflo_pgload_commit(struct pgflo_pgload *pl, char *errbuf,
	    size_t errlen, int *lost);
/* Abandons every open COPY and transaction. */
void	pgflo_pgload_abort(struct pgflo_pgload *pl);

#endif
