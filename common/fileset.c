/*
 * fileset.c - a directory of rotating NDJSON files (fileset.h): names,
 * the buffered append, commit and rollback, rotation, retention and the
 * recovery after a crash.
 *
 * The open file is opened with O_APPEND, so that after a rollback's
 * ftruncate() the next write lands at the cut.  With sync on, each
 * buffer written out is handed to writeback at once (Linux's
 * sync_file_range), so that the fdatasync() of a commit waits for the
 * last part only, not for the whole batch.
 */
#define _GNU_SOURCE	/* sync_file_range */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgflo.h"
#include "fileset.h"

#define WBUF_MAX	((size_t)256 << 10)	/* written out at this size */
#define READ_CHUNK	((size_t)64 << 10)
#define TS_LEN		16			/* YYYYMMDDTHHMMSSZ */
#define SUFFIX		".ndjson"
#define PART		".part"

struct fsfile {
	unsigned long seq;
	char	*name;		/* the final name, without ".part" */
	time_t	 t;		/* the time in the name */
	int	 part;
};

struct pgflo_fileset {
	struct pgflo_fileset_config cf;
	int	 dirfd;
	struct fsfile *done;	/* the finished files, oldest first */
	size_t	 ndone, capdone;
	unsigned long nextseq;
	/* The open file. */
	int	 fd;		/* -1: none */
	char	*name;		/* its final name */
	long	 born_ms;	/* monotonic */
	off_t	 committed;	/* bytes made durable */
	off_t	 written;	/* bytes handed to write(2) */
	int	 dirdirty;	/* an entry changed, the directory not synced */
	int	 failed;	/* a write failed: nothing more is written */
	struct pgflo_buf wbuf;
	char	 errmsg[1024];
};

static void PGFLO_PRINTF(2, 3)
fs_err(struct pgflo_fileset *fs, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(fs->errmsg, sizeof(fs->errmsg), fmt, ap);
	va_end(ap);
	n = strlen(fs->errmsg);
	snprintf(fs->errmsg + n, sizeof(fs->errmsg) - n, ": %s", strerror(e));
	errno = e;
}

static int
digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parses <prefix>YYYYMMDDTHHMMSSZ-<seq>.ndjson[.part]: 0, or -1 not ours. */
static int
parse_name(const char *prefix, const char *s, struct fsfile *f)
{
	size_t pl = strlen(prefix);
	const char *p = s + pl;
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (strncmp(s, prefix, pl) != 0 || strlen(p) < TS_LEN + 2 ||
	    digits(p, 4, &tm.tm_year) == -1 || digits(p + 4, 2, &tm.tm_mon) ||
	    digits(p + 6, 2, &tm.tm_mday) || p[8] != 'T' ||
	    digits(p + 9, 2, &tm.tm_hour) || digits(p + 11, 2, &tm.tm_min) ||
	    digits(p + 13, 2, &tm.tm_sec) || p[15] != 'Z' || p[16] != '-' ||
	    p[17] < '0' || p[17] > '9')
		return -1;
	errno = 0;
	f->seq = strtoul(p + 17, &end, 10);
	if (errno != 0 || strncmp(end, SUFFIX, sizeof(SUFFIX) - 1) != 0)
		return -1;
	end += sizeof(SUFFIX) - 1;
	if (*end == '\0')
		f->part = 0;
	else if (strcmp(end, PART) == 0)
		f->part = 1;
	else
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	f->t = timegm(&tm);
	f->name = strndup(s, (size_t)(end - s));
	if (f->name == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
	return 0;
}

/* The last '\n' of s[0, n), or NULL (memrchr is a GNU extension). */
static char *
last_nl(char *s, size_t n)
{
	while (n-- > 0)
		if (s[n] == '\n')
			return s + n;
	return NULL;
}

static int
seq_cmp(const void *a, const void *b)
{
	const struct fsfile *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "name.part" in a static buffer of the caller. */
static const char *
partname(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s" PART, name);
	return buf;
}

static int
sync_dir(struct pgflo_fileset *fs)
{
	if (!fs->cf.sync || !fs->dirdirty)
		return 0;
	if (fsync(fs->dirfd) == -1) {
		fs_err(fs, "could not fsync directory %s", fs->cf.dir);
		return -1;
	}
	fs->dirdirty = 0;
	return 0;
}

static void
done_add(struct pgflo_fileset *fs, struct fsfile *f)
{
	if (fs->ndone == fs->capdone) {
		fs->capdone = fs->capdone != 0 ? fs->capdone * 2 : 16;
		fs->done = pgflo_xrealloc(fs->done,
		    fs->capdone * sizeof(*fs->done));
	}
	fs->done[fs->ndone++] = *f;
}

/* Removes the oldest finished files beyond --keep. */
static int
retain(struct pgflo_fileset *fs)
{
	size_t drop, i;

	if (fs->cf.keep <= 0 || fs->ndone <= (size_t)fs->cf.keep)
		return 0;
	drop = fs->ndone - (size_t)fs->cf.keep;
	for (i = 0; i < drop; i++) {
		if (unlinkat(fs->dirfd, fs->done[i].name, 0) == -1 &&
		    errno != ENOENT) {
			fs_err(fs, "could not remove %s/%s", fs->cf.dir,
			    fs->done[i].name);
			return -1;
		}
		free(fs->done[i].name);
		fs->dirdirty = 1;
	}
	memmove(fs->done, fs->done + drop,
	    (fs->ndone - drop) * sizeof(*fs->done));
	fs->ndone -= drop;
	return sync_dir(fs);
}

/* Cuts fd back to just after its last '\n' (0 when none); its new size. */
static off_t
cut_torn(struct pgflo_fileset *fs, int fd, const char *name)
{
	char buf[READ_CHUNK];
	struct stat st;
	off_t end, at;
	ssize_t n;
	char *nl;

	if (fstat(fd, &st) == -1) {
		fs_err(fs, "could not stat %s/%s", fs->cf.dir, name);
		return -1;
	}
	for (end = st.st_size; end > 0; end = at) {
		at = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
		if ((n = pread(fd, buf, (size_t)(end - at), at)) !=
		    end - at) {
			if (n >= 0)
				errno = EIO;
			fs_err(fs, "could not read %s/%s", fs->cf.dir, name);
			return -1;
		}
		if ((nl = last_nl(buf, (size_t)n)) != NULL) {
			end = at + (nl - buf) + 1;
			break;
		}
	}
	if (end < st.st_size && (ftruncate(fd, end) == -1 ||
	    (fs->cf.sync && fdatasync(fd) == -1))) {
		fs_err(fs, "could not cut the torn line of %s/%s", fs->cf.dir,
		    name);
		return -1;
	}
	return end;
}

/* A ".part" file left by a crash: cut, then written on or finished. */
static int
recover_part(struct pgflo_fileset *fs, struct fsfile *f, int newest)
{
	char pn[PATH_MAX];
	off_t size;
	int fd;

	partname(f->name, pn, sizeof(pn));
	if ((fd = openat(fs->dirfd, pn, O_RDWR | O_APPEND | O_CLOEXEC)) ==
	    -1) {
		fs_err(fs, "could not open %s/%s", fs->cf.dir, pn);
		return -1;
	}
	if ((size = cut_torn(fs, fd, pn)) == -1)
		goto fail;
	if (size == 0) {
		close(fd);
		if (unlinkat(fs->dirfd, pn, 0) == -1) {
			fs_err(fs, "could not remove %s/%s", fs->cf.dir, pn);
			return -1;
		}
		fs->dirdirty = 1;
		free(f->name);
		return 0;
	}
	if (newest) {
		long age = (long)(time(NULL) - f->t);

		fs->fd = fd;
		fs->name = f->name;
		fs->committed = fs->written = size;
		fs->born_ms = pgflo_now_ms() - (age > 0 ? age * 1000 : 0);
		return 0;
	}
	if (close(fd) == -1 || renameat(fs->dirfd, pn, fs->dirfd,
	    f->name) == -1) {
		fs_err(fs, "could not finish %s/%s", fs->cf.dir, pn);
		return -1;
	}
	fs->dirdirty = 1;
	f->part = 0;
	done_add(fs, f);
	return 0;
fail:
	close(fd);
	return -1;
}

/* Reads the directory: the files in order, the next seq, the recovery. */
static int
recover(struct pgflo_fileset *fs)
{
	struct fsfile *v = NULL, f;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *dp;
	int dfd, r = -1;

	if ((dfd = dup(fs->dirfd)) == -1 || (dp = fdopendir(dfd)) == NULL) {
		fs_err(fs, "could not read directory %s", fs->cf.dir);
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	while ((errno = 0, de = readdir(dp)) != NULL) {
		if (parse_name(fs->cf.prefix, de->d_name, &f) == -1)
			continue;
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			v = pgflo_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = f;
	}
	if (errno != 0) {
		fs_err(fs, "could not read directory %s", fs->cf.dir);
		closedir(dp);
		goto out;
	}
	closedir(dp);
	if (n > 0)
		qsort(v, n, sizeof(*v), seq_cmp);
	for (i = 0; i < n; i++) {
		if (v[i].seq >= fs->nextseq)
			fs->nextseq = v[i].seq + 1;
		if (v[i].part && fs->cf.readonly) {
			/* Only looked at: the torn line is left out by the scan. */
			char pn[PATH_MAX];

			partname(v[i].name, pn, sizeof(pn));
			free(v[i].name);
			v[i].name = pgflo_xstrdup(pn);
		}
		if (!v[i].part || fs->cf.readonly)
			done_add(fs, &v[i]);
		else if (recover_part(fs, &v[i], i == n - 1) == -1)
			break;
		v[i].name = NULL;
	}
	if (i == n && (fs->cf.readonly || (sync_dir(fs) == 0 &&
	    retain(fs) == 0)))
		r = 0;
out:
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return r;
}

struct pgflo_fileset *
pgflo_fileset_open(const struct pgflo_fileset_config *cf, int *status,
    char *errbuf, size_t errlen)
{
	struct pgflo_fileset *fs = pgflo_xmalloc(sizeof(*fs));

	memset(fs, 0, sizeof(*fs));
	fs->cf = *cf;
	fs->fd = -1;
	fs->nextseq = 1;
	*status = PGFLO_EXIT_USAGE;
	if ((fs->dirfd = open(cf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || faccessat(fs->dirfd, ".", cf->readonly ? R_OK | X_OK :
	    W_OK | X_OK, AT_EACCESS) == -1) {
		fs_err(fs, "%s", cf->dir);
		goto fail;
	}
	*status = PGFLO_EXIT_FAIL;
	if (!cf->readonly && flock(fs->dirfd, LOCK_EX | LOCK_NB) == -1) {
		fs_err(fs, "could not lock directory %s (another "
		    "pgflo-sink-file?)", cf->dir);
		goto fail;
	}
	if (recover(fs) == -1)
		goto fail;
	return fs;
fail:
	snprintf(errbuf, errlen, "%s", fs->errmsg);
	(void)pgflo_fileset_close(fs, 0, NULL, 0);
	return NULL;
}

/* Calls match on the complete lines of fd's first size bytes, last first. */
static int
scan_file(struct pgflo_fileset *fs, int fd, off_t size, const char *name,
    int (*match)(void *, const char *, size_t), void *arg)
{
	struct pgflo_buf b = { 0 }, nb;
	off_t pos = size;	/* b holds the file from pos on */
	size_t lim = 0;		/* b[0, lim) is still to be scanned */
	int cut = 0, r = 0;	/* cut: b[lim - 1] ends a line */
	size_t chunk;
	char *nl;

	for (;;) {
		nl = lim > 1 || (!cut && lim > 0) ? last_nl(b.data,
		    cut ? lim - 1 : lim) : NULL;
		if (nl == NULL && pos > 0) {
			chunk = b.len > READ_CHUNK ? b.len : READ_CHUNK;
			if ((off_t)chunk > pos)
				chunk = (size_t)pos;
			nb = (struct pgflo_buf){ 0 };
			pgflo_buf_grow(&nb, chunk + lim + 1);
			errno = 0;
			if (pread(fd, nb.data, chunk, pos - (off_t)chunk) !=
			    (ssize_t)chunk) {
				if (errno == 0)
					errno = EIO;
				fs_err(fs, "could not read %s/%s", fs->cf.dir,
				    name);
				pgflo_buf_free(&nb);
				r = -1;
				break;
			}
			if (lim > 0)
				memcpy(nb.data + chunk, b.data, lim);
			nb.len = lim += chunk;
			pos -= (off_t)chunk;
			pgflo_buf_free(&b);
			b = nb;
			continue;
		}
		if (!cut) {
			if (nl == NULL)
				break;	/* no complete line */
			lim = (size_t)(nl - b.data) + 1;
			cut = 1;
			continue;
		}
		/* The line b[start, lim - 1). */
		{
			size_t start = nl != NULL ? (size_t)(nl - b.data) + 1 :
			    0;

			b.data[lim - 1] = '\0';
			if (lim - 1 > start && match(arg, b.data + start,
			    lim - 1 - start)) {
				r = 1;
				break;
			}
			if (start == 0)
				break;
			lim = start;
		}
	}
	pgflo_buf_free(&b);
	return r;
}

/* scan_file() on a file of the directory; size -1: all of it. */
static int
scan_named(struct pgflo_fileset *fs, const char *name, off_t size,
    int (*match)(void *, const char *, size_t), void *arg)
{
	int fd, r;

	if ((fd = openat(fs->dirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;	/* removed by someone else */
		fs_err(fs, "could not open %s/%s", fs->cf.dir, name);
		return -1;
	}
	if (size == -1 && (size = lseek(fd, 0, SEEK_END)) == -1) {
		fs_err(fs, "could not read %s/%s", fs->cf.dir, name);
		close(fd);
		return -1;
	}
	r = scan_file(fs, fd, size, name, match, arg);
	close(fd);
	return r;
}

int
pgflo_fileset_scan_back(struct pgflo_fileset *fs,
    int (*match)(void *, const char *, size_t), void *arg)
{
	char pn[PATH_MAX];
	size_t i;
	int r;

	if (fs->fd != -1 && (r = scan_named(fs, partname(fs->name, pn,
	    sizeof(pn)), fs->committed, match, arg)) != 0)
		return r;
	for (i = fs->ndone; i-- > 0;)
		if ((r = scan_named(fs, fs->done[i].name, -1, match, arg)) != 0)
			return r;
	return 0;
}

/* Opens the next file, named by the time now and the next seq. */
static int
open_file(struct pgflo_fileset *fs)
{
	char ts[32], pn[PATH_MAX];
	struct pgflo_buf b = { 0 };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	pgflo_buf_printf(&b, "%s%s-%06lu" SUFFIX, fs->cf.prefix, ts,
	    fs->nextseq);
	fs->name = pgflo_buf_cstr(&b);
	if ((fs->fd = openat(fs->dirfd, partname(fs->name, pn, sizeof(pn)),
	    O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) == -1) {
		fs_err(fs, "could not create %s/%s", fs->cf.dir, pn);
		free(fs->name);
		fs->name = NULL;
		return -1;
	}
	fs->nextseq++;
	fs->born_ms = pgflo_now_ms();
	fs->committed = fs->written = 0;
	fs->dirdirty = 1;
	return 0;
}

static int
write_out(struct pgflo_fileset *fs)
{
	char pn[PATH_MAX];
	size_t off = 0;
	ssize_t n;

	while (off < fs->wbuf.len) {
		n = write(fs->fd, fs->wbuf.data + off, fs->wbuf.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			fs->failed = 1;
			fs->written += (off_t)off;
			pgflo_buf_reset(&fs->wbuf);
			fs_err(fs, "%s/%s: write error", fs->cf.dir,
			    partname(fs->name, pn, sizeof(pn)));
			return -1;
		}
		off += (size_t)n;
	}
	/* Only a head start: errors show in the commit's fdatasync. */
	if (fs->cf.sync)
		(void)sync_file_range(fs->fd, fs->written, (off_t)off,
		    SYNC_FILE_RANGE_WRITE);
	fs->written += (off_t)off;
	pgflo_buf_reset(&fs->wbuf);
	return 0;
}

int
pgflo_fileset_append(struct pgflo_fileset *fs, const char *s, size_t n)
{
	if (fs->failed || (fs->fd == -1 && open_file(fs) == -1))
		return -1;
	pgflo_buf_putn(&fs->wbuf, s, n);
	pgflo_buf_putc(&fs->wbuf, '\n');
	if (fs->wbuf.len >= WBUF_MAX)
		return write_out(fs);
	return 0;
}

int
pgflo_fileset_due(const struct pgflo_fileset *fs)
{
	if (fs->fd == -1)
		return 0;
	if (fs->cf.max_bytes > 0 && (size_t)fs->written + fs->wbuf.len >=
	    fs->cf.max_bytes)
		return 1;
	return fs->cf.max_age_ms > 0 &&
	    pgflo_now_ms() - fs->born_ms >= fs->cf.max_age_ms;
}

/* Renames the open file, fully committed, to its final name. */
static int
finish_file(struct pgflo_fileset *fs)
{
	struct fsfile f = { 0 };
	char pn[PATH_MAX];
	int fd = fs->fd, e;

	partname(fs->name, pn, sizeof(pn));
	fs->fd = -1;
	if (fs->written == 0) {
		/* Nothing kept after a rollback: no empty file. */
		if (close(fd) == -1 || unlinkat(fs->dirfd, pn, 0) == -1) {
			fs_err(fs, "could not remove %s/%s", fs->cf.dir, pn);
			goto fail;
		}
	} else {
		e = close(fd);
		if (e == -1 || renameat(fs->dirfd, pn, fs->dirfd,
		    fs->name) == -1) {
			fs_err(fs, "could not finish %s/%s", fs->cf.dir, pn);
			goto fail;
		}
		f.name = fs->name;
		fs->name = NULL;
		done_add(fs, &f);
	}
	fs->dirdirty = 1;
	free(fs->name);
	fs->name = NULL;
	if (sync_dir(fs) == -1)
		return -1;
	return retain(fs);
fail:
	fs->failed = 1;
	free(fs->name);
	fs->name = NULL;
	return -1;
}

int
pgflo_fileset_commit(struct pgflo_fileset *fs)
{
	char pn[PATH_MAX];

	if (fs->failed)
		return -1;
	if (fs->fd == -1)
		return 0;
	if (fs->wbuf.len > 0 && write_out(fs) == -1)
		return -1;
	if (fs->cf.sync && fs->written > fs->committed &&
	    fdatasync(fs->fd) == -1) {
		fs->failed = 1;
		fs_err(fs, "could not fsync %s/%s", fs->cf.dir,
		    partname(fs->name, pn, sizeof(pn)));
		return -1;
	}
	if (sync_dir(fs) == -1) {
		fs->failed = 1;
		return -1;
	}
	fs->committed = fs->written;
	if (pgflo_fileset_due(fs))
		return finish_file(fs);
	return 0;
}

int
pgflo_fileset_rollback(struct pgflo_fileset *fs)
{
	char pn[PATH_MAX];

	pgflo_buf_reset(&fs->wbuf);
	if (fs->fd == -1 || fs->written == fs->committed)
		return 0;
	if (ftruncate(fs->fd, fs->committed) == -1) {
		fs->failed = 1;
		fs_err(fs, "could not truncate %s/%s", fs->cf.dir,
		    partname(fs->name, pn, sizeof(pn)));
		return -1;
	}
	fs->written = fs->committed;
	return 0;
}

int
pgflo_fileset_tick(struct pgflo_fileset *fs, long *wait_ms)
{
	long age;

	*wait_ms = -1;
	if (fs->failed)
		return -1;
	if (fs->fd == -1 || fs->cf.max_age_ms <= 0)
		return 0;
	age = pgflo_now_ms() - fs->born_ms;
	if (age < fs->cf.max_age_ms) {
		*wait_ms = fs->cf.max_age_ms - age;
		return 0;
	}
	/* Nothing is pending between batches: the commit only finishes. */
	return pgflo_fileset_commit(fs);
}

int
pgflo_fileset_close(struct pgflo_fileset *fs, int finish, char *errbuf,
    size_t errlen)
{
	size_t i;
	int r = 0;

	if (fs == NULL)
		return 0;
	if (fs->fd != -1) {
		if (finish && !fs->failed) {
			if (pgflo_fileset_commit(fs) == -1 || (fs->fd != -1 &&
			    finish_file(fs) == -1))
				r = -1;
		}
		if (fs->fd != -1)
			close(fs->fd);
	}
	if (r == -1 && errbuf != NULL)
		snprintf(errbuf, errlen, "%s", fs->errmsg);
	if (fs->dirfd != -1)
		close(fs->dirfd);
	for (i = 0; i < fs->ndone; i++)
		free(fs->done[i].name);
	free(fs->done);
	free(fs->name);
	pgflo_buf_free(&fs->wbuf);
	free(fs);
	return r;
}

const char *
pgflo_fileset_errmsg(const struct pgflo_fileset *fs)
{
	return fs->errmsg;
}
