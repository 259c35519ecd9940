/*
 * pgconn.h - libpq helpers (pgconn.c).  Kept out of pgflo.h so that
 * tools without libpq do not need its headers.
 */
#ifndef PGFLO_PGCONN_H
#define PGFLO_PGCONN_H

#include <libpq-fe.h>

#include "pgflo.h"

/*
 * Connects with conninfo (a conninfo string or URI, given to libpq as
 * it is); replication adds replication=database.  NULL with errbuf set.
 */
PGconn	*pgflo_pg_connect(const char *conninfo, int replication,
	    char *errbuf, size_t errlen);
/*
 * The exit status for this thread's last failed pgflo_pg_connect():
 * PGFLO_EXIT_USAGE when the server refused the role, password, database
 * or privilege (retrying cannot help), PGFLO_EXIT_UNAVAIL otherwise
 * (refused, timed out, starting up, too many clients).  Reconnect loops
 * give up on the first.
 */
int	pgflo_pg_connect_status(void);
/*
 * Checks that conninfo, as given with -d, parses (a usage error, exit
 * 2, rather than a connection failure); 0, or -1 with errbuf set.
 * Warns when it holds a password (ps shows argv to every user).
 */
int	pgflo_pg_conninfo_ok(const char *conninfo, char *errbuf, size_t errlen);
/* PQerrorMessage / PQresultErrorMessage without the trailing newline. */
const char *pgflo_pg_errmsg(const PGconn *conn);
const char *pgflo_pg_resmsg(const PGresult *res);
/* Appends "ident" with embedded quotes doubled; never unquoted. */
void	pgflo_pg_quote_ident(struct pgflo_buf *b, const char *ident);
/* Appends a string literal; for the simple protocol of replication. */
void	pgflo_pg_quote_literal(struct pgflo_buf *b, const char *s);
/* PQexec expecting status want; NULL with errbuf set otherwise. */
PGresult *pgflo_pg_exec(PGconn *conn, const char *sql, ExecStatusType want,
	    char *errbuf, size_t errlen);
/*
 * The query-and-check helper: sql with nparams parameters (text), the
 * result (new) when it gave rows or a command's success; otherwise
 * NULL, the result freed, errbuf set to "what: why".  A caller that
 * exits tells a lost server by PQstatus(conn) (PGFLO_EXIT_UNAVAIL).
 */
PGresult *pgflo_pg_queryv(PGconn *conn, const char *sql, int nparams,
	    const char *const *params, const char *what, char *errbuf,
	    size_t errlen);
/* As above, with at most one parameter (param NULL: none). */
PGresult *pgflo_pg_query(PGconn *conn, const char *sql, const char *param,
	    const char *what, char *errbuf, size_t errlen);
/*
 * PQexec of sql (commands, perhaps a whole transaction) expecting
 * success; -1 with errbuf set to "what: why" after a ROLLBACK otherwise.
 */
int	pgflo_pg_command(PGconn *conn, const char *sql, const char *what,
	    char *errbuf, size_t errlen);

#endif
