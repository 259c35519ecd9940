/*
 * deadletter.h - the dead-letter file (deadletter.c): where a tool
 * writes, verbatim and one per line, the records it could not use, so
 * that none disappears (--dead-letter FILE of rule, checkpoint and
 * sink-pg).  Appended to, created 0600: a bad record may hold what no
 * one else may read.
 */
#ifndef PGFLO_DEADLETTER_H
#define PGFLO_DEADLETTER_H

#include <stddef.h>
#include <stdio.h>

#include "pgflo.h"

struct pgflo_deadletter {
	FILE	*f;
	char	*name;		/* the path, for messages */
	int	 unsynced;	/* written since the last sync */
	char	 errmsg[512];
};

/*
 * Opens (appends to) path; NULL with errbuf set ("could not open
 * dead-letter file PATH: ...") and errno kept on failure.
 */
struct pgflo_deadletter *pgflo_deadletter_open(const char *path,
	    char *errbuf, size_t errlen);
/*
 * Appends n bytes of a line (a line set aside as it arrives takes
 * several); pgflo_deadletter_end() ends it with '\n' and flushes.
 * pgflo_deadletter_line() is both.  -1 with errmsg ("could not write
 * dead-letter file PATH: ...") on a write error.
 */
int	pgflo_deadletter_put(struct pgflo_deadletter *d, const char *s,
	    size_t n);
int	pgflo_deadletter_printf(struct pgflo_deadletter *d, const char *fmt,
	    ...) PGFLO_PRINTF(2, 3);
int	pgflo_deadletter_end(struct pgflo_deadletter *d);
int	pgflo_deadletter_line(struct pgflo_deadletter *d, const char *s,
	    size_t n);
/*
 * Makes what was written since the last sync durable (fflush, fsync):
 * before a position past the records set aside is confirmed.  -1 with
 * errmsg.
 */
int	pgflo_deadletter_sync(struct pgflo_deadletter *d);
/* Closes and frees d (NULL is fine). */
void	pgflo_deadletter_close(struct pgflo_deadletter *d);

#endif
