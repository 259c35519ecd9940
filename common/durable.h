/*
 * durable.h - the durable stage (durable.c): the loop of a sink that
 * makes change records durable somewhere and then tells upstream how far
 * it got.  It reads records (reader.c), groups them by source
 * transaction (commit_lsn), batches whole transactions by rows and time
 * (-b, -m), hands each record of the open batch to the sink's write()
 * and the batch to its commit(); once commit() succeeded it prints the
 * position record and the snapshot (copy progress) records of the batch,
 * in order.  Records at or before the applied position are skipped.  The
 * raw lines of the open batch are kept (bounded) so that after a failure
 * the batch is rolled back and replayed: the complete transactions before
 * the failing one are committed, the failing one is written to the
 * dead-letter file (or the run ends, exit 1), and after a lost connection
 * everything is applied again once it is back.
 *
 * A sink gives the ops below.  write() may queue (a pipeline, async
 * publishes): failures found later are reported by failed() and
 * failure(), naming the record by the index write() was given, so memory
 * stays bounded by the batch and the sink keeps its speed.
 *
 * How the sinks plug in:
 *   pgflo-sink-pg (pgapply.c): begin sends BEGIN; write queues the
 *     statement or COPY row in the libpq pipeline; commit adds the
 *     pgflo.applied upsert and COMMIT and reads every result; rollback
 *     sends ROLLBACK; setup reads pgflo.applied.
 *   pgflo-publish (JetStream): write starts an async publish of the line,
 *     expecting the stream sequence of the message before it;
 *     failed(wait) waits for the outstanding acks; commit waits for all
 *     acks of the batch and amend adds the stream sequence reached;
 *     connect reads the stream's last message, whose position setup
 *     returns, so that a replay skips what the stream holds (a message
 *     id alone would not: ../shared/NATS.md).
 *   pgflo-sink-http (webhook.c): write appends the line to the pending
 *     records and POSTs them when a request is full; commit POSTs the
 *     rest; a request is retried, halved (413) or dead-lettered inside
 *     the sink; what it cannot deliver (a refusal without a dead-letter
 *     file, retries used up) ends the run, PGFLO_DF_STOP; commit_soon keeps
 *     requests to whole transactions; rollback drops the pending
 *     records; setup returns --after, or none.
 *   pgflo-sink-file (fileset.c): write appends the line to the open
 *     file; commit writes and fdatasync()s it (and the directory after
 *     a file was created or renamed), finishing it when due (commit_soon
 *     asks for the commit then); rollback truncates back to the last
 *     commit; setup gives the position of the last record the files
 *     hold; idle finishes a file by age while input is quiet; a write
 *     error is PGFLO_DF_STOP with status 1.
 */
#ifndef PGFLO_DURABLE_H
#define PGFLO_DURABLE_H

#include "pgflo.h"
#include "lsn.h"
#include "metrics.h"
#include "reader.h"
#include "recspan.h"

struct pgflo_deadletter;

/* What failed, as the sink reports it (failure()). */
enum pgflo_durable_fail {
	/* Records: idx names the first, nrecords how many it covered. */
	PGFLO_DF_RECORDS,
	/* The commit: the stage narrows it down to one transaction. */
	PGFLO_DF_COMMIT,
	/* The sink changed its way: replay the batch as it is. */
	PGFLO_DF_RETRY,
	/* The connection is gone: reconnect, replay. */
	PGFLO_DF_LOST,
	/*
	 * Waiting cannot help (a full stream), or a stop signal came while
	 * the sink waited: the run ends with status (0: a clean stop), after
	 * printing reached, what the sink holds for sure, if set.
	 */
	PGFLO_DF_STOP
};

struct pgflo_durable_failure {
	enum pgflo_durable_fail kind;
	long	 idx;		/* write()'s index of the record, -1 none */
	int	 nrecords;
	int	 status;	/* PGFLO_DF_STOP: the exit status, or 0 */
	struct pgflo_pos reached;	/* PGFLO_DF_STOP: durable so far */
	char	 msg[1024];	/* one line */
};

struct pgflo_durable_ops {
	/*
	 * Connects; 0, or the exit status (PGFLO_EXIT_USAGE: a retry cannot
	 * help, else PGFLO_EXIT_UNAVAIL) with errbuf the server's message.
	 */
	int	(*connect)(void *sink, char *errbuf, size_t errlen);
	/* After connect: *applied is the durable position; -1 errbuf. */
	int	(*setup)(void *sink, struct pgflo_pos *applied, char *errbuf,
		    size_t errlen);
	/* Drops the connection and everything it cached. */
	void	(*close)(void *sink);
	/* Opens a batch; one_by_one: no record shares a request. */
	void	(*begin)(void *sink, int one_by_one);
	/*
	 * Hands one record of the open batch (idx: its index among the
	 * retained lines, -1 when too many to keep).  0 taken (perhaps
	 * only queued), -1 this record cannot be made durable (errbuf).
	 */
	int	(*write)(void *sink, struct pgflo_recspan *r, long idx,
		    char *errbuf, size_t errlen);
	/*
	 * 1 when something written failed; with wait, after sending what
	 * is queued and waiting for every answer.
	 */
	int	(*failed)(void *sink, int wait);
	/* What failed (after failed() said so). */
	void	(*failure)(void *sink, struct pgflo_durable_failure *f);
	/*
	 * Makes the open batch durable, with the position pos (NULL:
	 * unchanged) in the same unit; 0, or -1 (failure() says why).
	 */
	int	(*commit)(void *sink, const struct pgflo_pos *pos);
	/* Abandons the open batch (in_batch: one was begun). */
	void	(*rollback)(void *sink, int in_batch);
	/* Optional: 1 when the batch should be committed now (DDL). */
	int	(*commit_soon)(void *sink);
	/* Optional: why record r cannot be made durable, or NULL. */
	const char *(*check)(void *sink, struct pgflo_recspan *r);
	/*
	 * Optional: after a commit, adds to pos what only the sink knows
	 * of the position reached (publish: the stream sequence).
	 */
	void	(*amend)(void *sink, struct pgflo_pos *pos);
	/*
	 * Optional: before the stage waits for input with no batch open,
	 * the sink's timed work (sink-file finishes a file by age); 0 with
	 * *wait_ms how long the wait may last (-1 no limit), or -1 to end
	 * the run, exit 1 (errbuf).
	 */
	int	(*idle)(void *sink, long *wait_ms, char *errbuf, size_t errlen);
};

struct pgflo_durable_config {
	const char *group;	/* of the position records printed */
	long	 batch_rows;	/* commit after this many changes */
	long	 batch_ms;	/* or this long after the batch began */
	int	 verbose;	/* report batches on stderr */
	int	 noloop;	/* a lost connection ends the run, exit 3 */
	long	 max_outage_ms;	/* >0: exit 3 when not back within this */
	struct pgflo_deadletter *dl;	/* failing transactions go here */
	/* Optional: counted into, its file rewritten from the loop. */
	struct pgflo_metrics *metrics;
	/* The sink needs op, names and position only, not the columns. */
	int	 head_only;
};

struct pgflo_durable;

struct pgflo_durable *pgflo_durable_new(const struct pgflo_durable_config *cf,
	    const struct pgflo_durable_ops *ops, void *sink);
void	pgflo_durable_free(struct pgflo_durable *d);
/*
 * Connects and runs until EOF or a stop signal: 0; or the exit status,
 * with pgflo_durable_errmsg() saying why (the complete transactions
 * before the failure are committed), also for failures found deep
 * inside (a write error, a lost connection with --no-loop).  The caller
 * flushes stdout and exits with it: the stage itself never exits.
 */
int	pgflo_durable_run(struct pgflo_durable *d, struct pgflo_reader *rd);
const char *pgflo_durable_errmsg(const struct pgflo_durable *d);
/* Records skipped (applied before), batches committed. */
unsigned long pgflo_durable_skipped(const struct pgflo_durable *d);
unsigned long pgflo_durable_batches(const struct pgflo_durable *d);
/* Prints a position record of group and flushes; -1 on write error. */
int	pgflo_durable_print_position(const char *group,
	    const struct pgflo_pos *p);

#endif
