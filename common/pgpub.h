/*
 * pgpub.h - the server-side objects of a pipeline (pgpub.c): the tables
 * it captures, its publication, its logical replication slot and its
 * DDL event triggers.  Shared by pgflo-capture and pgflo-copy so that
 * both resolve -t the same way and create the same objects.
 *
 * Names, all derived from the slot name S unless given:
 *   publication       S                          (-P overrides)
 *   DDL function      public.pgflo_ddl_S()
 *   event triggers    pgflo_ddl_S (ddl_command_end), pgflo_ddl_drop_S
 *                     (sql_drop)
 *   DDL messages      prefix "pgflo.ddl.S" (pg_logical_emit_message)
 * Every function takes a normal connection unless it says replication,
 * returns 0 (or a count) or -1 with errbuf set, and never exits.
 */
#ifndef PGFLO_PGPUB_H
#define PGFLO_PGPUB_H

#include <libpq-fe.h>

#include "pgflo.h"

#define PGFLO_HEARTBEAT_PREFIX	"pgflo.heartbeat"
#define PGFLO_DDL_PREFIX	"pgflo.ddl."

/* A resolved table list, sorted by schema then name, no duplicates. */
struct pgflo_tables {
	size_t	 n;
	char	**schema;
	char	**name;
};

/*
 * Resolves patterns, a comma-separated list of [schema.]table where
 * either part may hold '*' (any run of characters) and '?' (one
 * character); the schema defaults to public.  Ordinary and partitioned
 * tables match; system schemas never do.  A pattern matching nothing is
 * an error.  *out is new (pgflo_tables_free).
 */
int	pgflo_tables_resolve(PGconn *conn, const char *patterns,
	    struct pgflo_tables *out, char *errbuf, size_t errlen);
void	pgflo_tables_free(struct pgflo_tables *t);

/* 1 when valid as a slot name ([a-z0-9_], 1 to 63 bytes), else 0. */
int	pgflo_slot_name_ok(const char *slot);

/* Flags of pgflo_pub_sync and pgflo_ddl_install. */
#define PGFLO_PUB_RI_FULL	0x01	/* --replica-identity-full */
#define PGFLO_PUB_INSERTS_ONLY	0x02	/* --publish-inserts-only */

/*
 * Makes publication pub hold exactly tables and publish insert, update,
 * delete and truncate (PGFLO_PUB_INSERTS_ONLY: insert and truncate):
 * creates it when missing, alters its table list and its publish
 * parameter when they differ.  A table published for updates and
 * deletes needs a usable replica identity, or the application's UPDATE
 * and DELETE on it fail: so unless PGFLO_PUB_INSERTS_ONLY, every table,
 * and every leaf partition of a partitioned one, must have a primary key
 * (not deferrable), a REPLICA IDENTITY USING INDEX whose index exists, or
 * REPLICA IDENTITY FULL, including tables the publication held before.
 * With PGFLO_PUB_RI_FULL, those without get REPLICA IDENTITY FULL, with a
 * warning on stderr each, in the transaction that alters the publication;
 * without it, nothing is changed and -2 is returned with errbuf naming
 * them (a configuration error).  PGFLO_PUB_INSERTS_ONLY warns on stderr
 * that updates and deletes are not captured.  *changed (may be NULL) is
 * set to 1 when something was created or altered.
 */
int	pgflo_pub_sync(PGconn *conn, const char *pub,
	    const struct pgflo_tables *tables, int flags, int *changed,
	    char *errbuf, size_t errlen);
/* 1 exists, 0 not, -1 error. */
int	pgflo_pub_exists(PGconn *conn, const char *pub, char *errbuf,
	    size_t errlen);
/* DROP PUBLICATION IF EXISTS. */
int	pgflo_pub_drop(PGconn *conn, const char *pub, char *errbuf,
	    size_t errlen);

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

/*
 * Installs (replaces) the DDL event triggers of slot: each DDL command
 * on a table of publication pub, and each DROP TABLE of one, becomes a
 * transactional message with prefix "pgflo.ddl.<slot>" whose content is
 * {"tag","object_type","schema","table","statement"}.  With patterns
 * (as for pgflo_tables_resolve), a table made by CREATE TABLE [AS] or
 * SELECT INTO that they match is first added to pub, in the creating
 * transaction, so that its CREATE is such a message too.
 *
 * While pub publishes updates or deletes, a new table without a replica
 * identity (as for pgflo_pub_sync; a partitioned one without a primary
 * key) is not added, and a new partition without one of a table in pub
 * cannot be left out: with PGFLO_PUB_RI_FULL in flags, the trigger gives
 * either REPLICA IDENTITY FULL (and adds the table); without it, it
 * raises a WARNING in the creating session and writes a message whose
 * content also has "warning" (a sentence naming the table), to be shown
 * rather than written as a record.  Nothing in the trigger makes the
 * creating statement fail.
 *
 * patterns NULL keeps the patterns and PGFLO_PUB_RI_FULL of the installed
 * function (none when there is none), ignoring flags; "" means none.
 * Needs a superuser.
 */
int	pgflo_ddl_install(PGconn *conn, const char *slot, const char *pub,
	    const char *patterns, int flags, char *errbuf, size_t errlen);
/* Drops them (IF EXISTS). */
int	pgflo_ddl_drop(PGconn *conn, const char *slot, char *errbuf,
	    size_t errlen);

#endif
