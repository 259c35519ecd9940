/*
 * pgconn.c - libpq helpers shared by capture, copy and sink-pg.
 * Connection strings go to libpq untouched (expand_dbname), so PG*
 * variables, .pgpass and service files work and no password is ever
 * rebuilt into a string of ours.
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"

/* The last failure's exit status; per thread, as pgflo-copy's workers. */
static _Thread_local int connect_status = PGFLO_EXIT_UNAVAIL;

/*
 * Failures that no retry mends: the server (or libpq) refused who we
 * are or what we asked for.  Matched on the text, as libpq hands no
 * SQLSTATE for a failed connection; a server with lc_messages other
 * than English falls back to "unavailable".
 */
static const char *const config_errors[] = {
	"authentication failed",	/* password, ident, peer, cert ... */
	"no pg_hba.conf entry",
	"pg_hba.conf rejects",
	"no password supplied",
	" does not exist",		/* role or database */
	"is not permitted to log in",
	"permission denied",
	"must be superuser or replication role",
	"definition of service",	/* ... "not found" */
	"invalid port number",
	"invalid integer value",
	NULL
};

static int
classify(PGconn *conn, const char *msg)
{
	int i;

	if (PQconnectionNeedsPassword(conn))
		return PGFLO_EXIT_USAGE;
	for (i = 0; config_errors[i] != NULL; i++)
		if (strstr(msg, config_errors[i]) != NULL)
			return PGFLO_EXIT_USAGE;
	return PGFLO_EXIT_UNAVAIL;
}

int
pgflo_pg_connect_status(void)
{
	return connect_status;
}

PGconn *
pgflo_pg_connect(const char *conninfo, int replication, char *errbuf,
    size_t errlen)
{
	const char *keys[4], *vals[4];
	PGconn *conn;
	int n = 0;

	keys[n] = "dbname";
	vals[n++] = conninfo != NULL ? conninfo : "";
	if (replication) {
		keys[n] = "replication";
		vals[n++] = "database";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = pgflo_progname;
	keys[n] = NULL;
	vals[n] = NULL;
	connect_status = PGFLO_EXIT_UNAVAIL;
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(errbuf, errlen, "%s", pgflo_pg_errmsg(conn));
		connect_status = classify(conn, errbuf);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int
pgflo_pg_conninfo_ok(const char *conninfo, char *errbuf, size_t errlen)
{
	PQconninfoOption *opts;
	char *perr = NULL, *nl;

	opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &perr);
	if (opts != NULL) {
		PQconninfoOption *o;

		/* Argv is world-readable (ps); never echo the secret. */
		for (o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "password") == 0 &&
			    o->val != NULL && *o->val != '\0')
				pgflo_warnx("warning: the connection string "
				    "given with -d holds a password, visible "
				    "to other users in ps; use PGPASSWORD, "
				    "~/.pgpass or a service file");
		PQconninfoFree(opts);
		return 0;
	}
	snprintf(errbuf, errlen, "bad connection string: %s",
	    perr != NULL ? perr : "out of memory");
	if ((nl = strchr(errbuf, '\n')) != NULL)
		*nl = '\0';
	PQfreemem(perr);
	return -1;
}

/* msg, borrowed from a buffer of our own, without trailing new lines. */
static const char *
chomp(char msg[1024], const char *text)
{
	size_t n;

	snprintf(msg, 1024, "%s", text);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	return msg;
}

const char *
pgflo_pg_errmsg(const PGconn *conn)
{
	static char msg[1024];

	return chomp(msg, PQerrorMessage(conn));
}

const char *
pgflo_pg_resmsg(const PGresult *res)
{
	static char msg[1024];

	return chomp(msg, PQresultErrorMessage(res));
}

void
pgflo_pg_quote_ident(struct pgflo_buf *b, const char *ident)
{
	const char *p;

	pgflo_buf_putc(b, '"');
	for (p = ident; *p != '\0'; p++) {
		if (*p == '"')
			pgflo_buf_putc(b, '"');
		pgflo_buf_putc(b, *p);
	}
	pgflo_buf_putc(b, '"');
}

void
pgflo_pg_quote_literal(struct pgflo_buf *b, const char *s)
{
	const char *p;

	/* E'' form so that backslashes mean the same under any setting. */
	pgflo_buf_puts(b, strchr(s, '\\') != NULL ? "E'" : "'");
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'' || *p == '\\')
			pgflo_buf_putc(b, *p);
		pgflo_buf_putc(b, *p);
	}
	pgflo_buf_putc(b, '\'');
}

/*
 * The one check of a result: res when ok, else NULL, res freed, errbuf
 * set to "what: why" (just "why" when what is NULL).
 */
static PGresult *
checked(PGconn *conn, PGresult *res, int ok, const char *what, char *errbuf,
    size_t errlen)
{
	if (ok)
		return res;
	snprintf(errbuf, errlen, "%s%s%s", what != NULL ? what : "",
	    what != NULL ? ": " : "", res != NULL ? pgflo_pg_resmsg(res) :
	    pgflo_pg_errmsg(conn));
	PQclear(res);
	return NULL;
}

PGresult *
pgflo_pg_exec(PGconn *conn, const char *sql, ExecStatusType want,
    char *errbuf, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);

	return checked(conn, res, PQresultStatus(res) == want, NULL, errbuf,
	    errlen);
}

PGresult *
pgflo_pg_queryv(PGconn *conn, const char *sql, int nparams,
    const char *const *params, const char *what, char *errbuf,
    size_t errlen)
{
	PGresult *res;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	return checked(conn, res, PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK, what, errbuf, errlen);
}

PGresult *
pgflo_pg_query(PGconn *conn, const char *sql, const char *param,
    const char *what, char *errbuf, size_t errlen)
{
	return pgflo_pg_queryv(conn, sql, param != NULL ? 1 : 0, &param, what,
	    errbuf, errlen);
}

int
pgflo_pg_command(PGconn *conn, const char *sql, const char *what,
    char *errbuf, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);

	if ((res = checked(conn, res, PQresultStatus(res) == PGRES_COMMAND_OK,
	    what, errbuf, errlen)) == NULL) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	PQclear(res);
	return 0;
}
