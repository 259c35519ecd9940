/*
 * frontsink.h - the stdout and file sinks of the pgflo front end
 * (tools/pgflo.c), run as functions of forked pipeline stages
 * (pipeline.h): pgflo-consume | pgflo-rule | stamp | pgflo-format --to
 * pg_flo | split | pgflo-checkpoint --save STORE.
 */
#ifndef PGFLO_FRONTSINK_H
#define PGFLO_FRONTSINK_H

#include <sys/types.h>

#include <stdio.h>

#include "pgflo.h"

/*
 * Copies records from stdin to stdout and follows each transaction's
 * commit, and each record with a stream_seq outside a transaction, with
 * a position record of group arg (a borrowed string).  Returns the exit
 * status.
 */
int	pgflo_fe_stamp(void *arg);

struct pgflo_fe_split {
	int	 out;		/* the front end's stdout, or -1 for files */
	const char *dir;	/* file: the directory of pg_flo_log_*.jsonl */
	FILE	*fp;
	long	 opened_ms;
	off_t	 size;
};

/*
 * Writes the lines of stdin to out (or files in dir), and each position
 * record to stdout once the lines before it are written (out) or synced
 * (dir).  arg is a struct pgflo_fe_split.  Returns the exit status.
 */
int	pgflo_fe_split(void *arg);

#endif /* PGFLO_FRONTSINK_H */
