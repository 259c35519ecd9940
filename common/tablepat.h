/*
 * tablepat.h - table patterns (tablepat.c), one meaning in every tool
 * (pgflo(7), TABLE PATTERNS): [schema.]table, where either part may hold
 * '*' (any run of characters, none included) and '?' (one character);
 * every other character stands for itself, case included.  A pattern
 * without a dot, a bare table name, matches that table in every schema:
 * "users" is public.users and crm.users alike; "public.users" is the
 * one.  The first dot separates the schema from the table.
 *
 * pgflo-rule matches records with pgflo_tablepat_match(); pgflo-capture
 * and pgflo-copy resolve their -t list against the catalog with
 * pgflo_tables_resolve() (publication.h), and the DDL trigger
 * (ddltrig.c) matches new tables, both with the LIKE form of
 * pgflo_tables_pattern_next().
 */
#ifndef PGFLO_TABLEPAT_H
#define PGFLO_TABLEPAT_H

#include <stddef.h>

#include "pgflo.h"

/* A resolved table list, sorted by schema then name, no duplicates. */
struct pgflo_tables {
	size_t	 n;
	char	**schema;
	char	**name;
};

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
/*
 * Splits pat at its first dot: *schema (NULL for a bare table name: any
 * schema) and *table, both new; both NULL for NULL or "".
 */
void	pgflo_tablepat_split(const char *pat, char **schema, char **table);
/* 1 when the glob pat ('*', '?') matches all of s, else 0. */
int	pgflo_tablepat_glob(const char *pat, const char *s);
/* 1 when schema.table matches the split pattern (NULL parts: any). */
int	pgflo_tablepat_match(const char *schema_pat, const char *table_pat,
	    const char *schema, const char *table);

#endif
