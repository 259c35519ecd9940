/*
 * pgprog.h - running PostgreSQL's own client programs (pg_dump,
 * pg_restore) from a tool (pgprog.c).  The connection string a user gave
 * with -d reaches the child on its command line without its password;
 * the password, when the string held one, goes to the child's
 * environment (PGPASSWORD), which only the same user can read.
 */
#ifndef PGFLO_PGPROG_H
#define PGFLO_PGPROG_H

#include <stddef.h>

#include "pgflo.h"

/*
 * Splits conninfo (a conninfo string or URI) into *safe, a conninfo
 * string of the same settings without the password (appended to safe),
 * and *password (new, NULL when it held none).  -1 with errbuf set when
 * it does not parse.
 */
int	pgflo_pgprog_conninfo(const char *conninfo, struct pgflo_buf *safe,
	    char **password, char *errbuf, size_t errlen);
/*
 * The path of program name (pg_dump ...) in bindir; bare name (found on
 * PATH) when bindir is NULL or empty.  New.
 */
char	*pgflo_pgprog_path(const char *bindir, const char *name);
/*
 * Runs argv[0] (a path, or a name found on PATH) with argv, its stdin
 * /dev/null, its stderr ours; password, when not NULL, as PGPASSWORD in
 * its environment.  Its stdout is appended to out, or thrown away when
 * out is NULL.  A stop signal (pgflo_stopping()) sends the child SIGTERM.
 * 0 when it exited 0; otherwise -1 with errbuf set and *status set to
 * PGFLO_EXIT_USAGE when it could not be started (not found), else
 * PGFLO_EXIT_FAIL.
 */
int	pgflo_pgprog_run(char *const argv[], const char *password,
	    struct pgflo_buf *out, int *status, char *errbuf, size_t errlen);

#endif
