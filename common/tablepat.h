/*
 * tablepat.h - table patterns (tablepat.c): the -t list of pgflo-capture
 * and pgflo-copy, resolved the same way by both, and its LIKE form for
 * the DDL trigger (ddltrig.c).
 */
#ifndef PGFLO_TABLEPAT_H
#define PGFLO_TABLEPAT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pgflo.h"

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
/* Appends schema.name (copied); pgflo_tables_sort() restores the order. */
void	pgflo_tables_add(struct pgflo_tables *t, const char *schema,
	    const char *name);
void	pgflo_tables_sort(struct pgflo_tables *t);

/*
 * The next pattern of the comma-separated list at *pp, as LIKE patterns
 * for the schema (ls) and the table (lt); pat gets its text.  1 for a
 * pattern, 0 at the end, -1 for a bad one (errbuf set).
 */
int	pgflo_tables_pattern_next(const char **pp, struct pgflo_buf *ls,
	    struct pgflo_buf *lt, struct pgflo_buf *pat, char *errbuf,
	    size_t errlen);

#endif
