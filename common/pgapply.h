/*
 * pgapply.h - pgflo-sink-pg's PostgreSQL sink for the durable stage
 * (pgapply.c, durable.h): SQL building, the statement and catalog
 * caches, the libpq pipeline queue, COPY batches of snapshot rows, DDL
 * apply, and the applied position kept in pgflo.applied.  Linked by
 * pgflo-sink-pg alone.
 */
#ifndef PGFLO_PGAPPLY_H
#define PGFLO_PGAPPLY_H

#include <libpq-fe.h>

#include "pgflo.h"
#include "durable.h"

struct pgflo_pgapply_config {
	const char *conninfo;	/* -d */
	const char *group;	/* -g: the row of pgflo.applied */
	int	 apply_ddl;	/* -a */
	int	 create_tables;	/* -c */
	int	 jobs;		/* -j: COPY loaders for snapshot rows, >1 */
	int	 no_triggers;	/* --disable-triggers */
	int	 verbose;	/* -v */
	int	 nmap;		/* -s SRC=DST, nmap of them */
	char	**mapsrc, **mapdst;
};

/* The ops to give pgflo_durable_new() (sink argument: NULL). */
extern const struct pgflo_durable_ops pgflo_pgapply_ops;

/* Before the first use; c's strings are borrowed. */
void	pgflo_pgapply_init(const struct pgflo_pgapply_config *c);
/* Changes applied (for -v's summary). */
unsigned long pgflo_pgapply_applied(void);
/* Closes the connections and frees every cache. */
void	pgflo_pgapply_free(void);
/*
 * The position applied for group (pgflo-sink-pg -p): 1 found, 0 none,
 * -1 with errbuf set.
 */
int	pgflo_pgapply_read_applied(PGconn *c, const char *group,
	    struct pgflo_pos *p, char *errbuf, size_t errlen);

#endif
