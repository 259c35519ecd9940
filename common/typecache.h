/*
 * typecache.h - the catalog facts about types (typecache.c): the
 * encoding of each type oid for pg2json.h, and type names.
 */
#ifndef PGFLO_TYPECACHE_H
#define PGFLO_TYPECACHE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pg2json.h"

/*
 * A cache of the catalog facts about types, fed from a normal (not a
 * replication) connection, which it borrows.  Look-ups hit the server
 * once per type oid and once per (oid, typmod) name; the answers live
 * until pgflo_typecache_free().
 */
struct pgflo_typecache;
/* new; conn is borrowed and must outlive the cache (or be reset). */
struct pgflo_typecache *pgflo_typecache_new(PGconn *conn);
void	pgflo_typecache_free(struct pgflo_typecache *tc);
/* Points the cache at another connection (after a reconnect). */
void	pgflo_typecache_set_conn(struct pgflo_typecache *tc, PGconn *conn);
/*
 * The encoding of type oid (domains resolved to their base type, arrays
 * to their element type).  0, or -1 with errbuf set (the caller may
 * fall back to PGFLO_VK_STRING: a type dropped since is not fatal).
 */
int	pgflo_typecache_vtype(struct pgflo_typecache *tc, uint32_t oid,
	    struct pgflo_vtype *t, char *errbuf, size_t errlen);
/*
 * format_type(oid, typmod), borrowed from the cache: "integer",
 * "numeric(10,2)", "character varying(50)", "text[]", "public.mood" when
 * the type is not on the search path.  NULL with errbuf set.
 */
const char *pgflo_typecache_name(struct pgflo_typecache *tc, uint32_t oid,
	    int32_t typmod, char *errbuf, size_t errlen);
/* Remembers a name learnt elsewhere (pgoutput's Type message). */
void	pgflo_typecache_hint(struct pgflo_typecache *tc, uint32_t oid,
	    const char *nspname, const char *typname);

#endif
