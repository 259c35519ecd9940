/*
 * output.c - records on stdout.  A pipe or terminal is flushed after every
 * record so a downstream filter sees it at once; a regular file is
 * flushed at transaction boundaries and before blocking (STYLE.md 6.6,
 * git's maybe_flush_or_die).  PGFLO_FLUSH=1/0 overrides.
 *
 * A reader that went away is noticed without writing too: Linux reports
 * POLLERR on a pipe's write end once the read end is closed, and POLLHUP
 * on a stream socket whose peer closed, even for poll events 0.  Either
 * way the tool dies as a write hitting EPIPE would (SIGPIPE, 141), so a
 * stage idling on a quiet source does not outlive its pipeline.  (A TCP
 * peer's close only half-closes our end; the next write finds it.)
 */
#include <sys/stat.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "output.h"

static int flush_each = 1;
static int out_is_file;
static int out_is_pipe;		/* a FIFO or a socket: watched */
static int watch_fd = -1;
static int clean_stop;
static struct pgflo_buf jbuf;

void
pgflo_out_init(void)
{
	struct stat st;
	const char *f;

	out_is_file = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode);
	out_is_pipe = !out_is_file && (S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode));
	watch_fd = out_is_pipe ? STDOUT_FILENO : -1;
	flush_each = !out_is_file;
	f = pgflo_env("FLUSH", NULL);
	if (f != NULL)
		flush_each = strcmp(f, "0") != 0;
	/* Large stdio buffer: a record is one fwrite, flushes are explicit. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

void
pgflo_out_flush_when_idle(void)
{
	if (pgflo_env("FLUSH", NULL) == NULL)
		flush_each = 0;
}

int
pgflo_out_flush_each(void)
{
	return flush_each;
}

void
pgflo_check_pipe(int errnum)
{
	if (errnum != EPIPE)
		return;
	/* nats.c set SIGPIPE to SIG_IGN; die the way the shell expects. */
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	exit(141);
}

void
pgflo_out_clean_stop(void)
{
	clean_stop = 1;
}

void
pgflo_out_reader_left(void)
{
	if (clean_stop && pgflo_stopping()) {
		/* Ctrl-C reached the reader first: still a clean stop. */
		signal(SIGPIPE, SIG_IGN);
		exit(PGFLO_EXIT_OK);
	}
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	exit(141);
}

void
pgflo_out_watch(int on)
{
	watch_fd = on && out_is_pipe ? STDOUT_FILENO : -1;
}

void
pgflo_out_watch_other(int fd)
{
	struct stat st;

	watch_fd = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode)) ? fd : -1;
}

int
pgflo_out_watch_fd(void)
{
	/* After a stop signal the tool's own stop path decides. */
	return pgflo_stopping() ? -1 : watch_fd;
}

int
pgflo_out_gone(short revents)
{
	if (revents & POLLNVAL) {
		watch_fd = -1;	/* stdout closed: writes will say so */
		return 0;
	}
	return (revents & (POLLERR | POLLHUP)) != 0;
}

int
pgflo_out_reader_gone(void)
{
	struct pollfd pfd;

	if ((pfd.fd = pgflo_out_watch_fd()) == -1)
		return 0;
	pfd.events = 0;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 1 && pgflo_out_gone(pfd.revents);
}

void
pgflo_out_check_reader(void)
{
	if (pgflo_out_reader_gone())
		pgflo_out_reader_left();
}

static int
failed(void)
{
	int e = errno;

	if (e == EPIPE)
		pgflo_out_reader_left();
	errno = e;
	return -1;
}

int
pgflo_out_line(const char *s, size_t len)
{
	if (fwrite(s, 1, len, stdout) != len || putc('\n', stdout) == EOF)
		return failed();
	if (flush_each && fflush(stdout) == EOF)
		return failed();
	return 0;
}

int
pgflo_out_json(const json_t *rec)
{
	struct pgflo_jw w;

	pgflo_buf_reset(&jbuf);
	pgflo_jw_init(&w, &jbuf);
	pgflo_jw_json(&w, rec);
	return pgflo_out_line(jbuf.data, jbuf.len);
}

int
pgflo_out_flush(int sync)
{
	if (fflush(stdout) == EOF)
		return failed();
	/* A position is confirmed upstream only once a file holds it. */
	if (sync && out_is_file && fsync(STDOUT_FILENO) == -1 &&
	    errno != EINVAL)
		return failed();
	return 0;
}

int
pgflo_out_close(void)
{
	int r = 0;

	pgflo_buf_free(&jbuf);
	if (fflush(stdout) == EOF)
		r = failed();
	if (ferror(stdout))
		r = -1;
	if (fclose(stdout) != 0 && r == 0)
		r = failed();
	return r;
}
