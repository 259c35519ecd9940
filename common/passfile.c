/*
 * passfile.c - a temporary libpq password file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pgflo.h"
#include "passfile.h"

/* A field: ':' and '\\' escaped, as libpq reads them; "*" for any. */
static void
field(FILE *fp, const char *v)
{
	if (v == NULL) {
		fputc('*', fp);
		return;
	}
	for (; *v != '\0'; v++) {
		if (*v == ':' || *v == '\\')
			fputc('\\', fp);
		fputc(*v, fp);
	}
}

static void
append_own(FILE *out)
{
	struct pgflo_buf b = { 0 };
	const char *pf = getenv("PGPASSFILE"), *home = getenv("HOME");
	char chunk[4096];
	size_t n;
	FILE *in;

	if (pf != NULL && pf[0] != '\0')
		pgflo_buf_puts(&b, pf);
	else if (home != NULL)
		pgflo_buf_printf(&b, "%s/.pgpass", home);
	else
		return;
	if ((in = fopen(pgflo_buf_cstr(&b), "r")) != NULL) {
		while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
			fwrite(chunk, 1, n, out);
		fclose(in);
	}
	pgflo_buf_free(&b);
}

char *
pgflo_passfile_new(const struct pgflo_pass *e, size_t n)
{
	struct pgflo_buf b = { 0 };
	const char *tmp = getenv("TMPDIR");
	size_t i;
	FILE *fp;
	int fd, saved;

	pgflo_buf_printf(&b, "%s/pgflo-pass.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(b.data)) == -1)	/* mode 0600 */
		goto fail;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto unlink;
	}
	for (i = 0; i < n; i++) {
		field(fp, e[i].host);
		fputc(':', fp);
		field(fp, e[i].port);
		fputc(':', fp);
		field(fp, e[i].dbname);
		fputc(':', fp);
		field(fp, e[i].user);
		fputc(':', fp);
		field(fp, e[i].password);
		fputc('\n', fp);
	}
	append_own(fp);
	if (fclose(fp) != 0)
		goto unlink;
	return b.data;
unlink:
	saved = errno;
	unlink(b.data);
	errno = saved;
fail:
	saved = errno;
	pgflo_buf_free(&b);
	errno = saved;
	return NULL;
}
