/*
 * copyprog.h - the progress of an initial copy, made durable downstream
 * and kept in the checkpoint store's "copy" member (see copyprog.c).
 * Implemented in copyprog.c.
 */
#ifndef PGFLO_COPYPROG_H
#define PGFLO_COPYPROG_H

#include <stddef.h>

#include <jansson.h>

#include "lsn.h"
#include "store.h"

struct pgflo_copyprog_range {
	long	 lo, hi;		/* chunk numbers, both included */
	unsigned long long xmin;	/* of the snapshot they were copied under */
};
struct pgflo_copyprog_table {
	char	*schema, *table;
	int	 done;		/* durable whole; lsn is set */
	pgflo_lsn lsn;		/* the stream applies its changes from here */
	/* Not done: the chunks made durable so far, of pages each. */
	long	 pages;
	long long filenode;
	size_t	 nranges;
	struct pgflo_copyprog_range *ranges;
};
struct pgflo_copyprog {
	char	*slot;		/* NULL: no copy recorded */
	int	 done;		/* the copy whose snapshot was at lsn is durable */
	pgflo_lsn lsn;
	size_t	 n;
	struct pgflo_copyprog_table *t;
};
/*
 * Merges a snapshot record (borrowed) into doc's "copy" member: 1
 * changed, 0 nothing to keep (a begin record, a copy without a slot),
 * -1 malformed (errbuf says why).
 */
int	pgflo_copyprog_merge(json_t *doc, const json_t *rec, char *errbuf,
	    size_t errlen);
/* Reads doc's "copy" (doc may be NULL) into *cp; -1 if malformed. */
int	pgflo_copyprog_load(const json_t *doc, struct pgflo_copyprog *cp,
	    char *errbuf, size_t errlen);
/* pgflo_copyprog_load() of what st holds; -1 with errbuf set. */
int	pgflo_copyprog_read(struct pgflo_store *st, struct pgflo_copyprog *cp,
	    char *errbuf, size_t errlen);
/* 1 and *lsn (may be NULL) when schema.table is durable whole, else 0. */
int	pgflo_copyprog_lookup(const struct pgflo_copyprog *cp,
	    const char *schema, const char *table, pgflo_lsn *lsn);
/* The entry of schema.table, done or partial (borrowed), or NULL. */
const struct pgflo_copyprog_table *pgflo_copyprog_find(
	    const struct pgflo_copyprog *cp, const char *schema,
	    const char *table);
/* 1 and *xmin when chunk k of t (may be NULL) is durable, else 0. */
int	pgflo_copyprog_chunk(const struct pgflo_copyprog_table *t, long k,
	    unsigned long long *xmin);
void	pgflo_copyprog_free(struct pgflo_copyprog *cp);

#endif
