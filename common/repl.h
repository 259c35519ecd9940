/*
 * repl.h - the streaming replication protocol (repl.c), the counterpart
 * of PostgreSQL's streamutil.c: a replication connection, the role
 * check, START_REPLICATION, the CopyBoth messages (a cursor over one,
 * XLogData and keepalive headers, standby status updates), the wait for
 * the socket, a snapshot exported by a slot imported elsewhere.  Slots
 * themselves are made in slot.c.  Nothing here exits; -1 comes with
 * errbuf set.
 */
#ifndef PGFLO_REPL_H
#define PGFLO_REPL_H

#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "lsn.h"

/*
 * A cursor over one CopyData message, read in network byte order.  A
 * read past its end sets bad (sticky) and yields zeroes or NULL, so a
 * decoder checks bad once before it acts on what it read.  Inline: the
 * hot path reads a few fields per column.
 */
struct pgflo_cur {
	const unsigned char *p;
	size_t	 n, off;
	int	 bad;
};

static inline int
pgflo_cur_need(struct pgflo_cur *c, size_t k)
{
	if (c->n - c->off >= k)
		return 1;
	c->bad = 1;
	c->off = c->n;
	return 0;
}

static inline unsigned
pgflo_cur_get8(struct pgflo_cur *c)
{
	return pgflo_cur_need(c, 1) ? c->p[c->off++] : 0;
}

static inline uint32_t
pgflo_cur_get32(struct pgflo_cur *c)
{
	const unsigned char *p = c->p + c->off;

	if (!pgflo_cur_need(c, 4))
		return 0;
	c->off += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
pgflo_cur_get64(struct pgflo_cur *c)
{
	uint64_t hi = pgflo_cur_get32(c);

	return hi << 32 | pgflo_cur_get32(c);
}

/* The next len bytes, borrowed; NULL when fewer are left. */
static inline const unsigned char *
pgflo_cur_bytes(struct pgflo_cur *c, size_t len)
{
	const unsigned char *p = c->p + c->off;

	if (!pgflo_cur_need(c, len))
		return NULL;
	c->off += len;
	return p;
}

/* A NUL-terminated string, borrowed; "" when unterminated. */
static inline const char *
pgflo_cur_str(struct pgflo_cur *c)
{
	const char *s = (const char *)c->p + c->off;
	const char *z = memchr(s, '\0', c->n - c->off);

	if (z == NULL) {
		pgflo_cur_need(c, c->n - c->off + 1);
		return "";
	}
	c->off += (size_t)(z - s) + 1;
	return s;
}

/* "malformed replication message (type 'w', N bytes)" into errbuf. */
void	pgflo_cur_error(const struct pgflo_cur *c, char *errbuf,
	    size_t errlen);

/* The server's clock: microseconds since 2000-01-01 00:00 UTC. */
int64_t	pgflo_repl_now(void);
/* A server timestamp as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void	pgflo_repl_ts_format(int64_t pgus, char out[64]);

/*
 * A replication connection (replication=database) whose session prints
 * values as pg2json.c expects (pgflo_pg_session_sql).  NULL with errbuf
 * set; pgflo_pg_connect_status() tells a refused login.
 */
PGconn	*pgflo_repl_connect(const char *conninfo, char *errbuf,
	    size_t errlen);
/*
 * Whether the role of conn (a normal connection) may replicate, before
 * the walsender refuses it less clearly.  0 it may; -2 it may not
 * (errbuf says so: a configuration error); -1 the query failed.
 */
int	pgflo_repl_check_role(PGconn *conn, char *errbuf, size_t errlen);
/*
 * START_REPLICATION SLOT slot LOGICAL from with pgoutput's proto_version
 * 1, publication pub and messages: CopyBoth mode on success.
 */
int	pgflo_repl_start(PGconn *repl, const char *slot, pgflo_lsn from,
	    const char *pub, char *errbuf, size_t errlen);

/*
 * The header of a CopyData message from the server, read from c: 'w'
 * (XLogData; c is left at its payload) or 'k' (primary keepalive), or
 * any other type byte, which the caller reports.
 */
struct pgflo_repl_msg {
	unsigned type;
	pgflo_lsn start;	/* 'w' */
	pgflo_lsn wal_end;
	int64_t	 sent;		/* the server's clock */
	int	 reply;		/* 'k': the server asks for a status now */
};
unsigned pgflo_repl_header(struct pgflo_cur *c, struct pgflo_repl_msg *m);
/* A standby status update; 0, or -1 (the connection is lost). */
int	pgflo_repl_send_status(PGconn *repl, pgflo_lsn write, pgflo_lsn flush,
	    pgflo_lsn apply);
/*
 * Waits up to ms for the socket of conn, then consumes what came.  0
 * (data, time-out, or a signal), -1 the connection is lost, -2 select
 * failed (errno).
 */
int	pgflo_repl_wait(PGconn *conn, long ms);
/* Leaves CopyBoth mode (CopyDone), as a clean stop does. */
void	pgflo_repl_end(PGconn *repl);

/*
 * On a normal connection: BEGIN ISOLATION LEVEL REPEATABLE READ READ
 * ONLY, then SET TRANSACTION SNAPSHOT snapname (one exported by a
 * slot, or pg_export_snapshot()).  -1 with errbuf "could not begin: ..."
 * or "could not import the snapshot: ...".
 */
int	pgflo_repl_import_snapshot(PGconn *conn, const char *snapname,
	    char *errbuf, size_t errlen);

#endif
