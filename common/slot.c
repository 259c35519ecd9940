/*
 * slot.c - the logical replication slot of a pipeline (slot.h): its
 * name, existence, creation (on a replication connection) and drop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "lsn.h"
#include "pgconn.h"
#include "slot.h"

int
pgflo_slot_name_ok(const char *slot)
{
	size_t n = strlen(slot);

	return n > 0 && n <= 63 &&
	    strspn(slot, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int
pgflo_slot_exists(PGconn *conn, const char *slot, pgflo_lsn *confirmed,
    char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT plugin, database = pg_catalog.current_database(), "
	    "slot_type, confirmed_flush_lsn FROM pg_catalog.pg_replication_slots "
	    "WHERE slot_name = $1";
	PGresult *res;
	int r = -1;

	if (confirmed != NULL)
		*confirmed = 0;
	if ((res = pgflo_pg_query(conn, sql, slot,
	    "could not look up the slot", errbuf, errlen)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		r = 0;
	else if (strcmp(PQgetvalue(res, 0, 2), "logical") != 0 ||
	    strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0)
		snprintf(errbuf, errlen, "slot \"%s\" exists but is not a "
		    "logical pgoutput slot", slot);
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		snprintf(errbuf, errlen, "slot \"%s\" belongs to another "
		    "database", slot);
	else {
		if (confirmed != NULL && !PQgetisnull(res, 0, 3))
			pgflo_lsn_parse(PQgetvalue(res, 0, 3), confirmed);
		r = 1;
	}
	PQclear(res);
	return r;
}

static int
slot_create(PGconn *repl, const char *slot, int temporary,
    const char *snapshot, pgflo_lsn *consistent, char **snapname,
    char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 };
	PGresult *res;
	int r = -1;

	pgflo_buf_puts(&sql, "CREATE_REPLICATION_SLOT ");
	pgflo_pg_quote_ident(&sql, slot);
	if (temporary)
		pgflo_buf_puts(&sql, " TEMPORARY");
	pgflo_buf_puts(&sql, " LOGICAL pgoutput (SNAPSHOT ");
	pgflo_pg_quote_literal(&sql, snapshot);
	pgflo_buf_putc(&sql, ')');
	res = pgflo_pg_exec(repl, pgflo_buf_cstr(&sql), PGRES_TUPLES_OK,
	    errbuf, errlen);
	pgflo_buf_free(&sql);
	if (res == NULL) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", errbuf);
		snprintf(errbuf, errlen, "could not create slot \"%s\": %s",
		    slot, tmp);
		return -1;
	}
	if (PQnfields(res) < 4 || PQntuples(res) != 1) {
		snprintf(errbuf, errlen, "could not create slot \"%s\": "
		    "unexpected reply", slot);
		goto out;
	}
	if (consistent != NULL &&
	    pgflo_lsn_parse(PQgetvalue(res, 0, 1), consistent) == -1) {
		snprintf(errbuf, errlen, "could not create slot \"%s\": bad "
		    "consistent point", slot);
		goto out;
	}
	if (snapname != NULL)
		*snapname = PQgetisnull(res, 0, 2) ? NULL :
		    pgflo_xstrdup(PQgetvalue(res, 0, 2));
	r = 0;
out:
	PQclear(res);
	return r;
}

int
pgflo_slot_create(PGconn *repl, const char *slot, const char *snapshot,
    pgflo_lsn *consistent, char **snapname, char *errbuf, size_t errlen)
{
	return slot_create(repl, slot, 0, snapshot, consistent, snapname,
	    errbuf, errlen);
}

int
pgflo_slot_create_temporary(PGconn *repl, const char *slot,
    pgflo_lsn *consistent, char **snapname, char *errbuf, size_t errlen)
{
	return slot_create(repl, slot, 1, "export", consistent, snapname,
	    errbuf, errlen);
}

int
pgflo_slot_drop(PGconn *conn, const char *slot, char *errbuf, size_t errlen)
{
	PGresult *res;
	int r;

	res = pgflo_pg_query(conn, "SELECT "
	    "pg_catalog.pg_drop_replication_slot(slot_name) FROM "
	    "pg_catalog.pg_replication_slots WHERE slot_name = $1", slot,
	    "could not drop the slot", errbuf, errlen);
	if (res == NULL)
		return -1;
	r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}
