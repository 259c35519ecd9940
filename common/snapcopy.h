/*
 * snapcopy.h - the snapshot copy (snapcopy.c), linked by pgflo-copy
 * alone, as pg_dump's parallel.c is by pg_dump: the tables pgflo-copy
 * planned, copied by -j workers in chunks of physical pages (ctid
 * ranges), each worker on its own connection inside one exported
 * snapshot, with COPY ... TO STDOUT in text format.  Each row becomes
 * one insert record with "snapshot":true (relmeta.c writes its values
 * as pgflo-capture does), each table is framed by snapshot records
 * (pgflo-record(5)).  Workers format whole records into their own
 * buffers and write them under one lock, so lines never interleave.
 * One copy a process: the functions share its state.
 */
#ifndef PGFLO_SNAPCOPY_H
#define PGFLO_SNAPCOPY_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "copyprog.h"
#include "lsn.h"
#include "metrics.h"
#include "relmeta.h"

/* A table to copy, as pgflo-copy plans it. */
struct pgflo_snaptable {
	char	*schema, *name;
	uint32_t oid;
	struct pgflo_relmeta *rm;	/* its columns, for the records */
	char	*from;		/* "schema"."name" */
	char	*select;	/* the quoted column list */
	char	*prefix;	/* {"op":"insert",...,"new":{ */
	size_t	 prefixlen;
	int	 keyed;		/* a key that upserts converge on */
	int	 truncate;	/* emptied downstream before its rows */
	int	 reset;		/* in the store, but copied again whole */
	char	 sync[PGFLO_LSN_BUFSZ];	/* the stream applies from here */
	long	 chunk_pages;
	long long filenode;	/* a rewrite (VACUUM FULL) changes it */
	/* Its chunks already durable downstream, or NULL. */
	const struct pgflo_copyprog_table *durable;
	long	 pages;		/* at planning time */
	long	 nchunks;
	/* Under the output lock while the copy runs. */
	long	 chunks_left;
	long	 pages_done;
	int	 begun;
	unsigned long long rows, bytes;
	struct timespec t0;
};

struct pgflo_snapcopy {
	/* Set by the caller. */
	struct pgflo_snaptable *tables;
	size_t	 ntables;
	const char *slot;	/* NULL (--no-slot): no slot, no LSN */
	const char *lsn;	/* the snapshot's point */
	unsigned long long xmin;	/* the snapshot's xmin (an xid) */
	int	 progress;	/* rows, bytes, rate and ETA on stderr */
	/* Optional: counted into (rows out), its file kept up to date. */
	struct pgflo_metrics *metrics;
	/* The outcome. */
	volatile sig_atomic_t failed;	/* 0, or the exit status: 1 or 3 */
	char	 failmsg[1024];
	unsigned long long rows;
};

/* Binds the copy to sc, then queues every table's chunks. */
void	pgflo_snapcopy_plan(struct pgflo_snapcopy *sc);
/* How many workers the copy can use out of jobs. */
long	pgflo_snapcopy_workers(long jobs);
/*
 * Starts a worker on each of conns[0..n), connections inside the
 * snapshot, which the copy now owns; signals stay with the calling
 * thread.  -1 when a thread could not start.
 */
int	pgflo_snapcopy_start(PGconn **conns, long n);
/*
 * Waits for the workers, reporting progress every 2 s, then writes the
 * done record (unless failed or stopped) and flushes stdout; a failure
 * is in sc->failed.  The workers' connections are closed.
 */
void	pgflo_snapcopy_finish(void);
void	pgflo_snapcopy_free(void);

/* A snapshot record of phase for t (begin, end, reset) into b. */
void	pgflo_snapcopy_marker(struct pgflo_buf *b,
	    const struct pgflo_snaptable *t, const char *phase, int withrows);
/* Writes b whole to stdout; -1 on a write error (EPIPE kills). */
int	pgflo_snapcopy_write(const struct pgflo_buf *b);

#endif
