/*
 * store.c - checkpoint stores.  Each holds one document, a position
 * record (with a copy's progress in "copy", copyprog.c); every
 * kind sits behind struct pgflo_store_ops so tools name a store by URL
 * and never care which kind it is.  The file store replaces the file
 * atomically: write a temporary, fsync, rename, fsync the directory, so
 * a reader sees the old or the new position, never a torn one.  The
 * temporary is a new file of a name no one else uses (O_EXCL, never
 * through a symlink), and it is removed when any step fails.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "record.h"
#include "store.h"
#include "store_nats.h"

#define STORE_MAX_BYTES PGFLO_STORE_MAX_BYTES

struct file_store {
	char	*path;
	char	*tmp;		/* PATH.tmp.PID.N, made anew by each put */
	size_t	 tmpsz;
	unsigned long ntmp;
	char	*dir;
};

static int
file_open(struct pgflo_store *st, const char *rest)
{
	struct file_store *fs;
	char *copy;

	if (*rest == '\0') {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "empty path in checkpoint store %s", st->url);
		return -1;
	}
	fs = pgflo_xmalloc(sizeof(*fs));
	fs->path = pgflo_xstrdup(rest);
	fs->tmpsz = strlen(rest) + 64;
	fs->tmp = pgflo_xmalloc(fs->tmpsz);
	fs->tmp[0] = '\0';
	fs->ntmp = 0;
	copy = pgflo_xstrdup(rest);
	fs->dir = pgflo_xstrdup(dirname(copy));
	free(copy);
	st->priv = fs;
	return 0;
}

static int
file_get(struct pgflo_store *st, char **text)
{
	struct file_store *fs = st->priv;
	struct pgflo_buf b = { 0 };
	struct stat sb;
	char chunk[4096];
	size_t n;
	FILE *fp;

	if ((fp = fopen(fs->path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "could not open checkpoint %s: %s", fs->path,
		    strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		pgflo_buf_putn(&b, chunk, n);
		if (b.len > STORE_MAX_BYTES)
			break;
	}
	if (ferror(fp) || b.len > STORE_MAX_BYTES) {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "could not read checkpoint %s: %s", fs->path,
		    ferror(fp) ? strerror(errno) : "file too large");
		fclose(fp);
		pgflo_buf_free(&b);
		return -1;
	}
	if (fstat(fileno(fp), &sb) == 0)
		st->stamp_ms = (int64_t)sb.st_mtim.tv_sec * 1000 +
		    sb.st_mtim.tv_nsec / 1000000;
	fclose(fp);
	*text = pgflo_buf_cstr(&b);
	return 1;
}

/*
 * A new temporary file beside the store: O_EXCL under a name of this
 * process's own, so an existing file or symlink there is never written
 * through.  The fd, or -1 with errno.
 */
static int
file_tmp(struct file_store *fs)
{
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		snprintf(fs->tmp, fs->tmpsz, "%s.tmp.%ld.%lu", fs->path,
		    (long)getpid(), fs->ntmp++);
		fd = open(fs->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0644);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int
file_put(struct pgflo_store *st, const char *text, size_t len)
{
	struct file_store *fs = st->priv;
	const char *what = "write", *file = fs->tmp;
	int fd, dfd, e;

	if ((fd = file_tmp(fs)) == -1) {
		what = "create";
		goto fail;
	}
	while (len > 0) {
		ssize_t w = write(fd, text, len);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			goto fail_fd;
		}
		text += w;
		len -= (size_t)w;
	}
	what = "fsync";
	if (fsync(fd) == -1)
		goto fail_fd;
	what = "close";
	if (close(fd) == -1)
		goto fail_tmp;
	what = "rename";
	file = fs->path;
	if (rename(fs->tmp, fs->path) == -1)
		goto fail_tmp;
	/* The rename itself must reach the disk. */
	what = "fsync the directory of";
	if ((dfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if (fsync(dfd) == -1 && errno != EINVAL) {
		close(dfd);
		goto fail;
	}
	close(dfd);
	return 0;
fail_fd:
	e = errno;
	close(fd);
	errno = e;
fail_tmp:
	e = errno;
	(void)unlink(fs->tmp);	/* leave nothing behind */
	errno = e;
fail:
	snprintf(st->errmsg, sizeof(st->errmsg),
	    "could not %s checkpoint %s: %s", what, file, strerror(errno));
	return -1;
}

static void
file_close(struct pgflo_store *st)
{
	struct file_store *fs = st->priv;

	if (fs == NULL)
		return;
	free(fs->path);
	free(fs->tmp);
	free(fs->dir);
	free(fs);
}

static const struct pgflo_store_ops file_ops = {
	"file", file_open, file_get, file_put, file_close
};

static const struct pgflo_store_ops *const store_kinds[] = {
	&file_ops,
	&pgflo_store_nats_ops,
};

struct pgflo_store *
pgflo_store_open(const char *url, char *errbuf, size_t errlen)
{
	const struct pgflo_store_ops *ops = NULL;
	struct pgflo_store *st;
	const char *colon, *rest = url;
	size_t i, n;

	colon = strchr(url, ':');
	if (colon != NULL && strchr(url, '/') != NULL &&
	    strchr(url, '/') < colon)
		colon = NULL;	/* "./a:b" is a path */
	if (colon == NULL) {
		ops = &file_ops;	/* a plain path */
	} else {
		n = (size_t)(colon - url);
		for (i = 0; i < sizeof(store_kinds) / sizeof(store_kinds[0]);
		    i++)
			if (strlen(store_kinds[i]->scheme) == n &&
			    strncmp(store_kinds[i]->scheme, url, n) == 0)
				ops = store_kinds[i];
		if (ops == NULL) {
			snprintf(errbuf, errlen,
			    "unknown checkpoint store kind in %s "
			    "(supported: file:PATH, nats:BUCKET/KEY)", url);
			return NULL;
		}
		rest = colon + 1;
	}
	st = pgflo_xmalloc(sizeof(*st));
	memset(st, 0, sizeof(*st));
	st->ops = ops;
	st->url = pgflo_xstrdup(url);
	if (ops->open(st, rest) == -1) {
		snprintf(errbuf, errlen, "%s", st->errmsg);
		pgflo_store_close(st);
		return NULL;
	}
	return st;
}

json_t *
pgflo_store_doc_parse(const char *text, char *why, size_t whylen)
{
	struct pgflo_pos p;
	json_error_t jerr;
	json_t *j;

	j = json_loads(text, 0, &jerr);
	if (j == NULL || !json_is_object(j) ||
	    pgflo_rec_op(j) != PGFLO_OP_POSITION ||
	    pgflo_pos_from_json(j, &p) == -1 ||
	    (!pgflo_pos_is_set(&p) && json_object_get(j, "copy") == NULL)) {
		snprintf(why, whylen, "%s",
		    j == NULL ? jerr.text : "not a position record");
		json_decref(j);
		return NULL;
	}
	return j;
}

int
pgflo_store_get_doc(struct pgflo_store *st, json_t **doc)
{
	char *text = NULL, why[256];
	json_t *j;
	int r;

	st->note[0] = '\0';
	if ((r = st->ops->get(st, &text)) != 1)
		return r;
	j = pgflo_store_doc_parse(text, why, sizeof(why));
	free(text);
	if (j == NULL) {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "corrupt checkpoint %s: %s", st->url, why);
		return -1;
	}
	*doc = j;
	return 1;
}

int
pgflo_store_get(struct pgflo_store *st, struct pgflo_pos *p, json_t **rec)
{
	json_t *j;
	int r;

	if ((r = pgflo_store_get_doc(st, &j)) != 1)
		return r;
	(void)pgflo_pos_from_json(j, p);	/* checked above */
	if (!pgflo_pos_is_set(p)) {
		json_decref(j);		/* copy progress only */
		return 0;
	}
	if (rec != NULL)
		*rec = j;
	else
		json_decref(j);
	return 1;
}

int
pgflo_store_put(struct pgflo_store *st, const json_t *rec)
{
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;
	int r;

	pgflo_jw_init(&w, &b);
	pgflo_jw_json(&w, rec);
	pgflo_buf_putc(&b, '\n');
	if (b.len > STORE_MAX_BYTES) {
		/* It could not be read back: keep what is stored. */
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "checkpoint for %s would be %zu bytes, more than the %d "
		    "a store holds; not stored", st->url, b.len,
		    STORE_MAX_BYTES);
		r = -1;
	} else
		r = st->ops->put(st, b.data, b.len);
	pgflo_buf_free(&b);
	return r;
}

int
pgflo_store_create(struct pgflo_store *st, int replicas)
{
	if (st->ops == &pgflo_store_nats_ops)
		return pgflo_store_nats_create(st, replicas);
	return 0;	/* a file is made by its first put */
}

int
pgflo_store_status(const struct pgflo_store *st)
{
	if (st->ops == &pgflo_store_nats_ops)
		return pgflo_store_nats_status(st);
	return PGFLO_EXIT_FAIL;
}

void
pgflo_store_close(struct pgflo_store *st)
{
	if (st == NULL)
		return;
	if (st->ops != NULL && st->ops->close != NULL)
		st->ops->close(st);
	free(st->url);
	free(st);
}

int
pgflo_pos_arg(const char *arg, struct pgflo_pos *p, char *errbuf,
    size_t errlen)
{
	struct pgflo_store *st;
	int r;

	if (pgflo_pos_parse(arg, p) == 0)
		return 1;
	if (strchr(arg, ':') == NULL || *arg == '{') {
		snprintf(errbuf, errlen, "invalid position: %s (a position "
		    "record, X/Y, X/Y:ORDINAL, a stream sequence or a store)",
		    arg);
		return -1;
	}
	if ((st = pgflo_store_open(arg, errbuf, errlen)) == NULL)
		return -1;
	if ((r = pgflo_store_get(st, p, NULL)) == -1)
		snprintf(errbuf, errlen, "%s", st->errmsg);
	pgflo_store_close(st);
	return r;
}
