/*
 * publication.h - the publication of a pipeline (publication.c).  The
 * server-side objects of a pipeline are its tables (tablepat.h), its
 * publication (here), its logical replication slot (slot.h) and its DDL
 * event triggers (ddltrig.h).  Shared by pgflo-capture and pgflo-copy
 * so that both create the same objects.
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
#ifndef PGFLO_PUBLICATION_H
#define PGFLO_PUBLICATION_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "tablepat.h"

/*
 * Resolves patterns, a comma-separated list of table patterns
 * (tablepat.h), against the catalog.  Ordinary and partitioned tables
 * match; system schemas never do.  A pattern matching nothing is an
 * error.  *out is new (pgflo_tables_free).
 */
int	pgflo_tables_resolve(PGconn *conn, const char *patterns,
	    struct pgflo_tables *out, char *errbuf, size_t errlen);

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
 * The condition on pg_class c that UPDATE and DELETE on c can log their
 * old row: REPLICA IDENTITY FULL, or the valid, immediate primary key
 * (DEFAULT) or replica identity index (USING INDEX), as relcache picks
 * them.  Shared with the DDL trigger.
 */
#define PGFLO_PUB_HAS_IDENTITY \
	"(c.relreplident = 'f' OR EXISTS (SELECT FROM pg_catalog.pg_index i " \
	"WHERE i.indrelid = c.oid AND i.indisvalid AND i.indimmediate AND " \
	"CASE c.relreplident WHEN 'd' THEN i.indisprimary " \
	"WHEN 'i' THEN i.indisreplident ELSE false END))"

#endif
