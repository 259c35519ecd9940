/*
 * pgprog.h - running PostgreSQL's own client programs (pg_dump,
 * pg_restore) from a tool, and reading their archives (pgprog.c).  The
 * connection string a user gave with -d reaches the child on its command
 * line without its password; the password, when the string held one,
 * goes to the child's environment (PGPASSWORD), which only the same user
 * can read.
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

/*
 * The table of contents of a custom-format archive, as pg_restore -l
 * lists it: one line "ID; CLASS OID DESC NAMESPACE TAG OWNER" per entry,
 * CLASS and OID its catalog object (0 0 for comments, ownerships and the
 * like); keep says whether pgflo_toc_restore() takes it.
 */
struct pgflo_tocent {
	char	*line;
	unsigned cls, oid;
	int	 keep;
};

struct pgflo_toc {
	struct pgflo_tocent *v;
	size_t	 n;
};

/*
 * Reads the TOC of archive with pg_restore (a path or name), every entry
 * kept; 0, or -1 with errbuf and *status set as pgflo_pgprog_run's.
 */
int	pgflo_toc_read(const char *pg_restore, const char *archive,
	    struct pgflo_toc *t, int *status, char *errbuf, size_t errlen);
/*
 * Appends to out the SQL of the kept entries (of section, NULL for all)
 * in the order of the list, by pg_restore -L list (a file it writes),
 * without owners, privileges, tablespaces, security labels, publications
 * and subscriptions, and without the psql-only lines (\restrict and
 * \unrestrict, which guard psql against a hostile dump: the script goes
 * through libpq, or is shown).  0, or -1 as pgflo_toc_read.
 */
int	pgflo_toc_restore(const char *pg_restore, const struct pgflo_toc *t,
	    const char *archive, const char *list, const char *section,
	    struct pgflo_buf *out, int *status, char *errbuf, size_t errlen);
/*
 * Keeps the COMMENT entries on kept entries too (a comment has no OID of
 * its own in the TOC: "COMMENT NAMESPACE DESC TAG OWNER" is matched).
 */
void	pgflo_toc_keep_comments(struct pgflo_toc *t);
void	pgflo_toc_free(struct pgflo_toc *t);

#endif
