/*
 * slot.h - the logical replication slot of a pipeline (slot.c), and the
 * prefix of the heartbeat messages pgflo-capture writes into it.
 * Functions take a normal connection unless they say replication,
 * return 0 (or a count) or -1 with errbuf set, and never exit.
 */
#ifndef PGFLO_SLOT_H
#define PGFLO_SLOT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "lsn.h"

#define PGFLO_HEARTBEAT_PREFIX	"pgflo.heartbeat"

/* 1 when valid as a slot name ([a-z0-9_], 1 to 63 bytes), else 0. */
int	pgflo_slot_name_ok(const char *slot);

/*
 * 1 when the slot exists (a pgoutput slot of this database), 0 when not,
 * -1 on error, including a slot of another plugin or database.
 * *confirmed (may be NULL) gets its confirmed_flush_lsn.
 */
int	pgflo_slot_exists(PGconn *conn, const char *slot, pgflo_lsn *confirmed,
	    char *errbuf, size_t errlen);
/*
 * On a replication connection: CREATE_REPLICATION_SLOT slot LOGICAL
 * pgoutput (SNAPSHOT 'snapshot'), snapshot being "nothing", "export" or
 * "use".  *consistent (may be NULL) gets the consistent point;
 * *snapname (may be NULL) a new copy of the exported snapshot's name.
 */
int	pgflo_slot_create(PGconn *repl, const char *slot, const char *snapshot,
	    pgflo_lsn *consistent, char **snapname, char *errbuf, size_t errlen);
/*
 * As above, a TEMPORARY slot with an exported snapshot: a snapshot whose
 * consistent point (*consistent) tells which commits it shows (those
 * before it), as PostgreSQL's own table synchronisation uses one.  The
 * slot goes away with the connection.
 */
int	pgflo_slot_create_temporary(PGconn *repl, const char *slot,
	    pgflo_lsn *consistent, char **snapname, char *errbuf,
	    size_t errlen);
/* pg_drop_replication_slot when it exists; 1 dropped, 0 none. */
int	pgflo_slot_drop(PGconn *conn, const char *slot, char *errbuf,
	    size_t errlen);

#endif
