/*
 * reader.h - NDJSON record input.  A buffered read(2) loop rather than stdio,
 * so that a tool can wait for input with a timeout (commit a batch, save
 * a checkpoint while upstream is quiet) without losing a partial line.
 * Lines have no length limit but PGFLO_MAX_RECORD (default 64 MiB);
 * empty lines are skipped; the last line may lack its '\n'.  Errors name
 * the location as "<stdin>:LINE".
 * Implemented in reader.c.
 */
#ifndef PGFLO_READER_H
#define PGFLO_READER_H

#include <stddef.h>
#include <stdio.h>

#include "pgflo.h"

struct pgflo_deadletter;
struct pgflo_reader {
	int	 fd;
	const char *name;	/* "<stdin>" or a file name */
	struct pgflo_buf buf;	/* bytes read, not yet consumed */
	size_t	 pos;		/* start of the unconsumed bytes */
	size_t	 scan;		/* where the search for '\n' resumes */
	int	 eof;
	char	*line;		/* the current line, NUL-terminated, in buf */
	size_t	 len;		/* its length, without '\n' */
	unsigned long lineno;
	size_t	 maxlen;
	struct pgflo_deadletter *deadletter;	/* --dead-letter, or NULL */
	unsigned long nbad;	/* lines rejected to the dead letter file */
	int	 spilling;	/* an over-long line is going to deadletter */
	int	 redact;	/* dead letters hold {"line","error"}, not lines */
	char	 errmsg[512];
};
/* A pipe on fd is enlarged to 1 MiB where Linux allows (group commit). */
int	pgflo_reader_open(struct pgflo_reader *r, int fd, const char *name);
void	pgflo_reader_close(struct pgflo_reader *r);
/*
 * Opens (appends to) the dead-letter file; -1 with errmsg on failure.
 * Besides the lines a caller rejects, the reader itself then sets aside
 * each line longer than PGFLO_MAX_RECORD there, whole (streamed, never
 * held in memory), warns naming it and goes on; without a dead-letter
 * file such a line is an error.  Either way the caller never sees it.
 */
int	pgflo_reader_set_deadletter(struct pgflo_reader *r, const char *path);
/*
 * 1 a line is in r->line, 0 at EOF (or when a stop signal interrupted
 * the wait, or came within PGFLO_OUT_CHECK_MS before it), -1 on error
 * (errmsg says why).  While it waits, a reader of stdout that goes away
 * ends the process (pgflo_out_reader_left), so that every filter on
 * the reader notices a dead neighbour with no input flowing.
 */
int	pgflo_reader_next(struct pgflo_reader *r);
/* As above, but returns 2 when no whole line came within timeout_ms. */
int	pgflo_reader_next_timeout(struct pgflo_reader *r, int timeout_ms);
/*
 * 1 when reading on would not wait: bytes are buffered, or the fd has
 * input (or EOF, or an error) now; 0 when nothing more is ready (group
 * commit: the stage makes durable what it has instead of waiting).
 */
int	pgflo_reader_ready(struct pgflo_reader *r);
/*
 * A record could not be used: with a dead-letter file, writes the line
 * there verbatim, warns with why and returns 0 (go on); without one,
 * returns -1 (the caller fails with r->errmsg).
 */
int	pgflo_reader_reject(struct pgflo_reader *r, const char *fmt, ...) PGFLO_PRINTF(2, 3);

#endif
