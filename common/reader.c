/*
 * reader.c - NDJSON record input: a read(2) buffer with no fixed line
 * length, a size cap, "<stdin>:LINE" locations, and the dead-letter file
 * (deadletter.c) that keeps a bad record from disappearing (an over-long
 * one too, streamed into it).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "deadletter.h"
#include "output.h"
#include "reader.h"

#define DEFAULT_MAX_RECORD ((size_t)64 << 20)
#define READ_CHUNK (1 << 16)
/*
 * Linux's F_SETPIPE_SZ (fcntl.h has it only with _GNU_SOURCE): a pipe of
 * 1 MiB (pipe-max-size) rather than 64 KiB, so that upstream writes on
 * while the stage waits for a commit (group commit) instead of stalling.
 */
#if defined(__linux__) && !defined(F_SETPIPE_SZ)
#define F_SETPIPE_SZ 1031
#endif
#define PIPE_SIZE (1 << 20)

int
pgflo_reader_open(struct pgflo_reader *r, int fd, const char *name)
{
	const char *m;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
#ifdef F_SETPIPE_SZ
	{
		struct stat sb;

		/* Best effort: the kernel's limit may be lower. */
		if (fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
			(void)fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
	}
#endif
	r->name = name != NULL ? name : "<stdin>";
	r->maxlen = DEFAULT_MAX_RECORD;
	m = pgflo_env("MAX_RECORD", NULL);
	if (m != NULL && (pgflo_parse_size(m, &r->maxlen) == -1 ||
	    r->maxlen == 0)) {
		snprintf(r->errmsg, sizeof(r->errmsg),
		    "invalid PGFLO_MAX_RECORD: %s", m);
		return -1;
	}
	return 0;
}

void
pgflo_reader_close(struct pgflo_reader *r)
{
	pgflo_buf_free(&r->buf);
	r->line = NULL;
	if (r->deadletter != NULL && r->spilling) {
		/* Stopped inside an over-long line: end what was set aside. */
		if (r->redact)
			(void)pgflo_deadletter_printf(r->deadletter,
			    "{\"line\":%lu,\"error\":"
			    "\"record exceeds the limit (cut short)\"}",
			    r->lineno);
		(void)pgflo_deadletter_end(r->deadletter);
		pgflo_warnx("%s:%lu: record exceeds the limit of %zu bytes "
		    "(PGFLO_MAX_RECORD) (written to %s, cut short)", r->name,
		    r->lineno, r->maxlen, r->deadletter->name);
		r->spilling = 0;
	}
	pgflo_deadletter_close(r->deadletter);
	r->deadletter = NULL;
}

int
pgflo_reader_set_deadletter(struct pgflo_reader *r, const char *path)
{
	r->deadletter = pgflo_deadletter_open(path, r->errmsg,
	    sizeof(r->errmsg));
	return r->deadletter != NULL ? 0 : -1;
}

/* Takes bytes [pos, end) as the current line; consumes through skip. */
static void
take_line(struct pgflo_reader *r, size_t end, size_t skip)
{
	size_t n = end - r->pos;

	r->line = r->buf.data + r->pos;
	if (n > 0 && r->line[n - 1] == '\r')
		n--;
	r->line[n] = '\0';
	r->len = n;
	r->pos = r->scan = skip;
	r->lineno++;
}

/*
 * Waits for input on r->fd, watching stdout's reader as well (output.c):
 * 1 readable, 2 timeout, 3 stop, -1 error.  Wakes every
 * PGFLO_OUT_CHECK_MS, so a stop signal that came just before the wait
 * ends a blocking one too.
 */
static int
wait_input(struct pgflo_reader *r, int timeout_ms)
{
	struct pollfd pfd[2];
	long deadline = pgflo_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int nfd, pr, wait;

	for (;;) {
		pfd[0].fd = r->fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = pgflo_out_watch_fd();
		pfd[1].events = 0;
		pfd[1].revents = 0;
		nfd = pfd[1].fd != -1 ? 2 : 1;
		wait = PGFLO_OUT_CHECK_MS;
		if (timeout_ms >= 0 && deadline - pgflo_now_ms() < wait)
			wait = (int)(deadline - pgflo_now_ms());
		if (wait < 0)
			wait = 0;
		pr = poll(pfd, (nfds_t)nfd, wait);
		if (pr == -1) {
			if (errno != EINTR)
				return -1;
			if (pgflo_stopping())
				return 3;
			if (timeout_ms >= 0)
				return 2;
			continue;
		}
		if (nfd == 2 && pgflo_out_gone(pfd[1].revents))
			pgflo_out_reader_left();
		if (pfd[0].revents != 0)
			return 1;	/* input, EOF or an error read() tells */
		if (timeout_ms >= 0 && pgflo_now_ms() >= deadline)
			return 2;
		if (timeout_ms < 0 && pr == 0 && pgflo_stopping())
			return 3;
	}
}

/*
 * Writes the over-long line being set aside to the dead-letter file as
 * its bytes arrive, so it never has to fit in memory.  1 when the line
 * ended (and it was counted and warned about), 0 when more of it is to
 * be read, -1 on a write error.
 */
static int
spill(struct pgflo_reader *r)
{
	char *nl = NULL;
	size_t end = r->buf.len;

	if (r->pos < r->buf.len &&
	    (nl = memchr(r->buf.data + r->pos, '\n', r->buf.len - r->pos)) !=
	    NULL)
		end = (size_t)(nl - r->buf.data);
	/* A redacting reader (pgflo-rule masking) keeps no content. */
	if (end > r->pos && !r->redact && pgflo_deadletter_put(r->deadletter,
	    r->buf.data + r->pos, end - r->pos) == -1)
		goto fail;
	r->pos = r->scan = nl != NULL ? end + 1 : end;
	if (nl == NULL && !r->eof)
		return 0;
	if (r->redact && pgflo_deadletter_printf(r->deadletter,
	    "{\"line\":%lu,\"error\":\"record exceeds the limit of %zu "
	    "bytes (PGFLO_MAX_RECORD)\"}", r->lineno, r->maxlen) == -1)
		goto fail;
	if (pgflo_deadletter_end(r->deadletter) == -1)
		goto fail;
	r->spilling = 0;
	r->nbad++;
	pgflo_warnx("%s:%lu: record exceeds the limit of %zu bytes "
	    "(PGFLO_MAX_RECORD) (written to %s)", r->name, r->lineno,
	    r->maxlen, r->deadletter->name);
	return 1;
fail:
	snprintf(r->errmsg, sizeof(r->errmsg), "%s", r->deadletter->errmsg);
	return -1;
}

/*
 * The line at r->pos is longer than the limit: set it aside whole in
 * the dead-letter file (0, spill() takes over), or -1, an error naming it.
 */
static int
too_long(struct pgflo_reader *r)
{
	if (r->deadletter != NULL) {
		r->spilling = 1;
		r->lineno++;
		return 0;
	}
	snprintf(r->errmsg, sizeof(r->errmsg),
	    "%s:%lu: record exceeds the limit of %zu bytes (PGFLO_MAX_RECORD)",
	    r->name, r->lineno + 1, r->maxlen);
	return -1;
}

/* Reads more input; 1 got some, 0 EOF, 2 timeout, 3 stop, -1 error. */
static int
fill(struct pgflo_reader *r, int timeout_ms)
{
	ssize_t n;
	int w;

	/* Drop consumed bytes so the buffer stays the size of a record. */
	if (r->pos > 0) {
		memmove(r->buf.data, r->buf.data + r->pos, r->buf.len - r->pos);
		r->buf.len -= r->pos;
		r->scan -= r->pos;
		r->pos = 0;
	}
	if ((w = wait_input(r, timeout_ms)) == -1)
		goto fail;
	if (w != 1)
		return w;
	pgflo_buf_grow(&r->buf, READ_CHUNK + 1);
	for (;;) {
		n = read(r->fd, r->buf.data + r->buf.len,
		    r->buf.cap - r->buf.len - 1);
		if (n >= 0)
			break;
		if (errno == EINTR) {
			if (pgflo_stopping())
				return 3;
			continue;
		}
		goto fail;
	}
	if (n == 0)
		return 0;
	r->buf.len += (size_t)n;
	return 1;
fail:
	snprintf(r->errmsg, sizeof(r->errmsg), "%s: read error: %s", r->name,
	    strerror(errno));
	return -1;
}

int
pgflo_reader_next_timeout(struct pgflo_reader *r, int timeout_ms)
{
	char *nl;
	int f;

	for (;;) {
		if (r->spilling && (f = spill(r)) != 0) {
			if (f == -1)
				return -1;
			continue;
		}
		nl = r->scan < r->buf.len ? memchr(r->buf.data + r->scan, '\n',
		    r->buf.len - r->scan) : NULL;
		if (nl != NULL) {
			size_t end = (size_t)(nl - r->buf.data);

			if (end - r->pos > r->maxlen) {
				if (too_long(r) == -1)
					return -1;
				continue;
			}
			take_line(r, end, end + 1);
			if (r->len == 0)
				continue;	/* empty lines are skipped */
			return 1;
		}
		r->scan = r->buf.len;
		if (r->buf.len - r->pos > r->maxlen) {
			if (too_long(r) == -1)
				return -1;
			continue;
		}
		if (r->eof) {
			if (r->pos == r->buf.len)
				return 0;
			/* An unterminated last line. */
			pgflo_buf_grow(&r->buf, 1);
			take_line(r, r->buf.len, r->buf.len);
			if (r->len == 0)
				continue;
			return 1;
		}
		switch ((f = fill(r, timeout_ms))) {
		case 0:
			r->eof = 1;
			break;
		case 1:
			break;
		case 2:
			return 2;
		case 3:
			return 0;
		default:
			return -1;
		}
	}
}

int
pgflo_reader_ready(struct pgflo_reader *r)
{
	struct pollfd pfd;
	int pr;

	if (r->pos < r->buf.len || r->spilling)
		return 1;
	if (r->eof)
		return 0;
	pfd.fd = r->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	while ((pr = poll(&pfd, 1, 0)) == -1 && errno == EINTR)
		if (pgflo_stopping())
			return 1;
	/* An error is ready too: the next read tells it. */
	return pr != 0;
}

int
pgflo_reader_next(struct pgflo_reader *r)
{
	return pgflo_reader_next_timeout(r, -1);
}

int
pgflo_reader_reject(struct pgflo_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
		va_end(ap);
	}
	if (r->deadletter == NULL)
		return -1;
	if (pgflo_deadletter_line(r->deadletter, r->line, r->len) == -1) {
		snprintf(r->errmsg, sizeof(r->errmsg), "%s",
		    r->deadletter->errmsg);
		return -1;
	}
	r->nbad++;
	pgflo_warnx("%s (written to %s)", r->errmsg, r->deadletter->name);
	return 0;
}
