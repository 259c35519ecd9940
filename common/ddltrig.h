/*
 * ddltrig.h - the DDL event triggers of a pipeline (ddltrig.c), named
 * from the slot name S:
 *   DDL function      public.pgflo_ddl_S()
 *   event triggers    pgflo_ddl_S (ddl_command_end), pgflo_ddl_drop_S
 *                     (sql_drop)
 *   DDL messages      prefix "pgflo.ddl.S" (pg_logical_emit_message)
 */
#ifndef PGFLO_DDLTRIG_H
#define PGFLO_DDLTRIG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "publication.h"

#define PGFLO_DDL_PREFIX	"pgflo.ddl."

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
