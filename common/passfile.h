/*
 * passfile.h - a temporary libpq password file, so that a tool that
 * connects to two databases gets both passwords without argv.
 */
#ifndef PGFLO_PASSFILE_H
#define PGFLO_PASSFILE_H

#include <stddef.h>

#include "pgflo.h"

/* One line of a libpq password file; a NULL field matches anything. */
struct pgflo_pass {
	const char *host, *port, *dbname, *user, *password;
};

/*
 * Writes a new password file, mode 0600, in TMPDIR (else /tmp): the n
 * entries, then the lines of the user's own (PGPASSFILE, else
 * ~/.pgpass), so that other connections still find theirs.  Returns its
 * path (new; the caller unlinks it), or NULL with errno set.
 */
char	*pgflo_passfile_new(const struct pgflo_pass *e, size_t n);

#endif /* PGFLO_PASSFILE_H */
