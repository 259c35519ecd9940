/*
 * output.h - record output on stdout.  Flushes after every record unless
 * stdout is a regular file (STYLE.md 6.6) or the tool flushes when idle
 * (pgflo_out_flush_when_idle); PGFLO_FLUSH=1/0 overrides.
 * EPIPE becomes a SIGPIPE death (nats.c ignores SIGPIPE for us).
 * Implemented in output.c.
 */
#ifndef PGFLO_OUTPUT_H
#define PGFLO_OUTPUT_H

#include <stddef.h>

#include <jansson.h>

#include "pgflo.h"

void	pgflo_out_init(void);
/* Writes len bytes plus '\n'; -1 on write error (errno set). */
int	pgflo_out_line(const char *s, size_t len);
/* Writes a jansson record (borrowed) as one compact line. */
int	pgflo_out_json(const json_t *rec);
/* Forces a flush (and fsync for regular files when sync is set). */
int	pgflo_out_flush(int sync);
/*
 * For a tool that flushes whenever its input has nothing more ready
 * (capture, after each read of the replication stream): no per-record
 * flushes unless PGFLO_FLUSH=1 asks for them.  Under load the flushes
 * then cover many records; an idle input still gets each one at once.
 */
void	pgflo_out_flush_when_idle(void);
/* True when a per-record flush is in force. */
int	pgflo_out_flush_each(void);
/* Flushes and closes stdout; -1 on any write error.  Call last. */
int	pgflo_out_close(void);
/* On EPIPE: restore SIGPIPE and raise it (git's check_pipe()). */
void	pgflo_check_pipe(int errnum);
/*
 * The reader of stdout is gone (a write hit EPIPE, or poll said so):
 * dies by SIGPIPE (141), or, after pgflo_out_clean_stop() once a stop
 * signal arrived, exits 0 quietly.  Does not return.
 */
void	pgflo_out_reader_left(void) PGFLO_NORETURN;
/*
 * For tools whose SIGINT/SIGTERM status is 0 (all but pgflo-copy): a
 * reader that stopped first on the same Ctrl-C is not a failure.
 */
void	pgflo_out_clean_stop(void);
/*
 * Dead neighbours.  stdout is watched when it is a pipe or a socket:
 * 1 when its reader is gone (POLLERR/POLLHUP for poll events 0); never
 * blocks.  pgflo_out_check_reader() acts on it (pgflo_out_reader_left)
 * and returns otherwise; loops that wait call it at least every
 * PGFLO_OUT_CHECK_MS.  Not watched after a stop signal.
 */
#define PGFLO_OUT_CHECK_MS	500
int	pgflo_out_reader_gone(void);
void	pgflo_out_check_reader(void);
/* For a poll() of one's own: the fd to add with events 0, or -1. */
int	pgflo_out_watch_fd(void);
/* True when that entry's revents say the reader is gone. */
int	pgflo_out_gone(short revents);
/* Stops (0) or resumes watching, for a tool that writes nothing. */
void	pgflo_out_watch(int on);
/*
 * Watches fd (when a pipe or a socket) instead of stdout: for a stage
 * whose records go to another descriptor.
 */
void	pgflo_out_watch_other(int fd);

#endif
