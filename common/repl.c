/*
 * repl.c - the streaming replication protocol shared by pgflo-capture
 * and pgflo-copy (repl.h).
 */
#include <sys/select.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "lsn.h"
#include "pg2json.h"
#include "pgconn.h"
#include "repl.h"

#define EPOCH_2000_US	946684800000000LL

void
pgflo_cur_error(const struct pgflo_cur *c, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "malformed replication message (type '%c', "
	    "%zu bytes)", c->n > 0 ? c->p[0] : '?', c->n);
}

int64_t
pgflo_repl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 -
	    EPOCH_2000_US;
}

void
pgflo_repl_ts_format(int64_t pgus, char out[64])
{
	int64_t us = pgus + EPOCH_2000_US;
	int64_t s = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	t = (time_t)s;
	gmtime_r(&t, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)frac);
}

PGconn *
pgflo_repl_connect(const char *conninfo, char *errbuf, size_t errlen)
{
	PGconn *repl;
	PGresult *res;

	if ((repl = pgflo_pg_connect(conninfo, 1, errbuf, errlen)) == NULL)
		return NULL;
	if ((res = pgflo_pg_exec(repl, pgflo_pg_session_sql, PGRES_COMMAND_OK,
	    errbuf, errlen)) == NULL) {
		PQfinish(repl);
		return NULL;
	}
	PQclear(res);
	return repl;
}

int
pgflo_repl_check_role(PGconn *conn, char *errbuf, size_t errlen)
{
	PGresult *res;
	int r = 0;

	res = pgflo_pg_exec(conn, "SELECT rolsuper OR rolreplication, "
	    "current_user FROM pg_catalog.pg_roles WHERE rolname = "
	    "current_user", PGRES_TUPLES_OK, errbuf, errlen);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		snprintf(errbuf, errlen, "role \"%.256s\" may not use "
		    "replication: it needs the REPLICATION attribute",
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
		r = -2;
	}
	PQclear(res);
	return r;
}

int
pgflo_repl_start(PGconn *repl, const char *slot, pgflo_lsn from,
    const char *pub, char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 }, ident = { 0 };
	char lsn[PGFLO_LSN_BUFSZ];
	PGresult *res;
	int r = 0;

	pgflo_buf_puts(&sql, "START_REPLICATION SLOT ");
	pgflo_pg_quote_ident(&sql, slot);
	pgflo_buf_printf(&sql, " LOGICAL %s (proto_version '1', "
	    "publication_names ", pgflo_lsn_format(from, lsn));
	pgflo_pg_quote_ident(&ident, pub);
	pgflo_pg_quote_literal(&sql, pgflo_buf_cstr(&ident));
	pgflo_buf_puts(&sql, ", messages 'true')");
	res = PQexec(repl, pgflo_buf_cstr(&sql));
	pgflo_buf_free(&sql);
	pgflo_buf_free(&ident);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		snprintf(errbuf, errlen, "could not start replication: %s",
		    pgflo_pg_resmsg(res));
		r = -1;
	}
	PQclear(res);
	return r;
}

/*
 * 'w' start(8) wal_end(8) send_time(8), then the plugin's message;
 * 'k' wal_end(8) send_time(8) reply_requested(1).
 */
unsigned
pgflo_repl_header(struct pgflo_cur *c, struct pgflo_repl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = pgflo_cur_get8(c);
	if (m->type == 'w')
		m->start = pgflo_cur_get64(c);
	if (m->type == 'w' || m->type == 'k') {
		m->wal_end = pgflo_cur_get64(c);
		m->sent = (int64_t)pgflo_cur_get64(c);
	}
	if (m->type == 'k')
		m->reply = pgflo_cur_get8(c) != 0;
	return m->type;
}

static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

/* 'r' write(8) flush(8) apply(8) time(8) reply(1). */
int
pgflo_repl_send_status(PGconn *repl, pgflo_lsn write, pgflo_lsn flush,
    pgflo_lsn apply)
{
	unsigned char msg[34];

	msg[0] = 'r';
	put64(msg + 1, write);
	put64(msg + 9, flush);
	put64(msg + 17, apply);
	put64(msg + 25, (uint64_t)pgflo_repl_now());
	msg[33] = 0;
	if (PQputCopyData(repl, (const char *)msg, sizeof(msg)) <= 0 ||
	    PQflush(repl) != 0)
		return -1;
	return 0;
}

int
pgflo_repl_wait(PGconn *conn, long ms)
{
	struct timeval tv;
	fd_set rfds;
	int r, sock = PQsocket(conn);

	if (sock < 0)
		return -1;
	FD_ZERO(&rfds);
	FD_SET(sock, &rfds);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	r = select(sock + 1, &rfds, NULL, NULL, &tv);
	if (r == -1 && errno != EINTR)
		return -2;
	if (r > 0 && PQconsumeInput(conn) == 0)
		return -1;
	return 0;
}

void
pgflo_repl_end(PGconn *repl)
{
	PQputCopyEnd(repl, NULL);
	PQflush(repl);
}

int
pgflo_repl_import_snapshot(PGconn *conn, const char *snapname,
    char *errbuf, size_t errlen)
{
	struct pgflo_buf b = { 0 };
	PGresult *res;

	if ((res = pgflo_pg_query(conn, "BEGIN ISOLATION LEVEL REPEATABLE "
	    "READ READ ONLY", NULL, "could not begin", errbuf,
	    errlen)) == NULL)
		return -1;
	PQclear(res);
	pgflo_buf_puts(&b, "SET TRANSACTION SNAPSHOT ");
	pgflo_pg_quote_literal(&b, snapname);
	res = pgflo_pg_query(conn, pgflo_buf_cstr(&b), NULL, "could not "
	    "import the snapshot", errbuf, errlen);
	pgflo_buf_free(&b);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}
