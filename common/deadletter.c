/*
 * deadletter.c - the one dead-letter file writer (deadletter.h), used
 * by the reader (reader.c) and the durable stage (durable.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "deadletter.h"

struct pgflo_deadletter *
pgflo_deadletter_open(const char *path, char *errbuf, size_t errlen)
{
	struct pgflo_deadletter *d;
	FILE *f;
	int fd, e;

	/* 0600: a bad record may hold what no one else may read. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	f = fd != -1 ? fdopen(fd, "a") : NULL;
	if (f == NULL) {
		e = errno;
		if (fd != -1)
			close(fd);
		snprintf(errbuf, errlen, "could not open dead-letter file "
		    "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	d = pgflo_xmalloc(sizeof(*d));
	memset(d, 0, sizeof(*d));
	d->f = f;
	d->name = pgflo_xstrdup(path);
	return d;
}

static int
write_error(struct pgflo_deadletter *d)
{
	int e = errno;

	snprintf(d->errmsg, sizeof(d->errmsg), "could not write dead-letter "
	    "file %s: %s", d->name, strerror(e));
	errno = e;
	return -1;
}

int
pgflo_deadletter_put(struct pgflo_deadletter *d, const char *s, size_t n)
{
	d->unsynced = 1;
	if (n > 0 && fwrite(s, 1, n, d->f) != n)
		return write_error(d);
	return 0;
}

int
pgflo_deadletter_printf(struct pgflo_deadletter *d, const char *fmt, ...)
{
	va_list ap;
	int r;

	d->unsynced = 1;
	va_start(ap, fmt);
	r = vfprintf(d->f, fmt, ap);
	va_end(ap);
	return r < 0 ? write_error(d) : 0;
}

int
pgflo_deadletter_end(struct pgflo_deadletter *d)
{
	d->unsynced = 1;
	if (putc('\n', d->f) == EOF || fflush(d->f) == EOF)
		return write_error(d);
	return 0;
}

int
pgflo_deadletter_line(struct pgflo_deadletter *d, const char *s, size_t n)
{
	if (pgflo_deadletter_put(d, s, n) == -1)
		return -1;
	return pgflo_deadletter_end(d);
}

int
pgflo_deadletter_sync(struct pgflo_deadletter *d)
{
	if (!d->unsynced)
		return 0;
	if (fflush(d->f) == EOF || fsync(fileno(d->f)) == -1)
		return write_error(d);
	d->unsynced = 0;
	return 0;
}

void
pgflo_deadletter_close(struct pgflo_deadletter *d)
{
	if (d == NULL)
		return;
	fclose(d->f);
	free(d->name);
	free(d);
}
