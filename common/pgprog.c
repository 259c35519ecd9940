/*
 * pgprog.c - running pg_dump and pg_restore from a tool (pgprog.h):
 * fork and exec with the output read into a buffer, the password kept
 * off the command line.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgprog.h"

/* A conninfo value in single quotes, quotes and backslashes escaped. */
static void
put_value(struct pgflo_buf *b, const char *v)
{
	pgflo_buf_putc(b, '\'');
	for (; *v != '\0'; v++) {
		if (*v == '\'' || *v == '\\')
			pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, *v);
	}
	pgflo_buf_putc(b, '\'');
}

int
pgflo_pgprog_conninfo(const char *conninfo, struct pgflo_buf *safe,
    char **password, char *errbuf, size_t errlen)
{
	PQconninfoOption *opts, *o;
	char *perr = NULL, *nl;
	int n = 0;

	*password = NULL;
	opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &perr);
	if (opts == NULL) {
		snprintf(errbuf, errlen, "bad connection string: %s",
		    perr != NULL ? perr : "out of memory");
		if ((nl = strchr(errbuf, '\n')) != NULL)
			*nl = '\0';
		PQfreemem(perr);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0) {
			if (*o->val != '\0')
				*password = pgflo_xstrdup(o->val);
			continue;
		}
		if (n++ > 0)
			pgflo_buf_putc(safe, ' ');
		pgflo_buf_puts(safe, o->keyword);
		pgflo_buf_putc(safe, '=');
		put_value(safe, o->val);
	}
	pgflo_buf_cstr(safe);
	PQconninfoFree(opts);
	return 0;
}

char *
pgflo_pgprog_path(const char *bindir, const char *name)
{
	struct pgflo_buf b = { 0 };

	if (bindir == NULL || *bindir == '\0')
		return pgflo_xstrdup(name);
	pgflo_buf_printf(&b, "%s/%s", bindir, name);
	return pgflo_buf_cstr(&b);
}

/* In the child: the pipes in place, then exec; errno to errfd if not. */
static void
child(char *const argv[], const char *password, int outfd, int errfd)
{
	int null, e;

	if ((null = open("/dev/null", O_RDWR)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 ||
	    dup2(outfd != -1 ? outfd : null, STDOUT_FILENO) == -1)
		goto fail;
	if (password != NULL && setenv("PGPASSWORD", password, 1) == -1)
		goto fail;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

/* Reads fd to its end into out (NULL: discards); -1 on a read error. */
static int
drain(int fd, struct pgflo_buf *out, pid_t pid)
{
	char buf[65536];
	ssize_t n;
	int killed = 0;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR) {
			if (pgflo_stopping() && !killed) {
				kill(pid, SIGTERM);
				killed = 1;
			}
			continue;
		}
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		if (out != NULL)
			pgflo_buf_putn(out, buf, (size_t)n);
	}
}

int
pgflo_pgprog_run(char *const argv[], const char *password,
    struct pgflo_buf *out, int *status, char *errbuf, size_t errlen)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, e = 0, ws, r = -1;
	pid_t pid;
	ssize_t n;

	*status = PGFLO_EXIT_FAIL;
	if (pipe(outp) == -1 || pipe(errp) == -1 ||
	    fcntl(errp[1], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(outp[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(errp[0], F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		snprintf(errbuf, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(argv, password, outp[1], errp[1]);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (drain(outp[0], out, pid) == -1) {
		snprintf(errbuf, errlen, "reading from %s: %s", argv[0],
		    strerror(errno));
		kill(pid, SIGTERM);
	}
	while ((n = read(errp[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	while (waitpid(pid, &ws, 0) == -1)
		if (errno != EINTR) {
			snprintf(errbuf, errlen, "waitpid: %s",
			    strerror(errno));
			goto out;
		}
	if (n == (ssize_t)sizeof(e)) {
		snprintf(errbuf, errlen, "could not run %s: %s", argv[0],
		    strerror(e));
		*status = PGFLO_EXIT_USAGE;
	} else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		r = 0;
	else if (WIFEXITED(ws))
		snprintf(errbuf, errlen, "%s failed (exit status %d)",
		    argv[0], WEXITSTATUS(ws));
	else
		snprintf(errbuf, errlen, "%s was killed by signal %d",
		    argv[0], WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
out:
	if (outp[0] != -1)
		close(outp[0]);
	if (outp[1] != -1)
		close(outp[1]);
	if (errp[0] != -1)
		close(errp[0]);
	if (errp[1] != -1)
		close(errp[1]);
	return r;
}

void
pgflo_toc_free(struct pgflo_toc *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].line);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* Calls f on each line of text (without its newline). */
static void
each_line(char *text, void (*f)(const char *, size_t, void *), void *arg)
{
	char *line, *nl;

	for (line = text; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		f(line, (size_t)(nl - line), arg);
		if (*nl == '\0')
			break;
	}
}

static void
toc_line(const char *line, size_t n, void *arg)
{
	struct pgflo_toc *t = arg;
	unsigned id, cls, oid;

	if (*line == ';' || sscanf(line, "%u; %u %u", &id, &cls, &oid) != 3)
		return;
	t->v = pgflo_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n].line = pgflo_xmalloc(n + 1);
	memcpy(t->v[t->n].line, line, n);
	t->v[t->n].line[n] = '\0';
	t->v[t->n].cls = cls;
	t->v[t->n].oid = oid;
	t->v[t->n++].keep = 1;
}

int
pgflo_toc_read(const char *pg_restore, const char *archive,
    struct pgflo_toc *t, int *status, char *errbuf, size_t errlen)
{
	char *argv[] = { (char *)pg_restore, "-l", (char *)archive, NULL };
	struct pgflo_buf out = { 0 };
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = pgflo_pgprog_run(argv, NULL, &out, status, errbuf,
	    errlen)) == 0)
		each_line(pgflo_buf_cstr(&out), toc_line, t);
	pgflo_buf_free(&out);
	return r;
}

static void
sql_line(const char *line, size_t n, void *arg)
{
	struct pgflo_buf *out = arg;

	if (strncmp(line, "\\restrict ", 10) == 0 ||
	    strncmp(line, "\\unrestrict ", 12) == 0)
		return;
	pgflo_buf_putn(out, line, n);
	pgflo_buf_putc(out, '\n');
}

int
pgflo_toc_restore(const char *pg_restore, const struct pgflo_toc *t,
    const char *archive, const char *list, const char *section,
    struct pgflo_buf *out, int *status, char *errbuf, size_t errlen)
{
	char *argv[20];
	struct pgflo_buf sql = { 0 };
	FILE *f;
	size_t i;
	int n = 0, r;

	*status = PGFLO_EXIT_FAIL;
	if ((f = fopen(list, "w")) == NULL) {
		snprintf(errbuf, errlen, "%s: %s", list, strerror(errno));
		return -1;
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].keep)
			fprintf(f, "%s\n", t->v[i].line);
	if (ferror(f) | (fclose(f) != 0)) {
		snprintf(errbuf, errlen, "%s: write error", list);
		return -1;
	}
	argv[n++] = (char *)pg_restore;
	argv[n++] = "-L";
	argv[n++] = (char *)list;
	if (section != NULL) {
		argv[n++] = "--section";
		argv[n++] = (char *)section;
	}
	argv[n++] = "--no-owner";
	argv[n++] = "--no-privileges";
	argv[n++] = "--no-tablespaces";
	argv[n++] = "--no-security-labels";
	argv[n++] = "--no-publications";
	argv[n++] = "--no-subscriptions";
	argv[n++] = "-f";
	argv[n++] = "-";
	argv[n++] = (char *)archive;
	argv[n] = NULL;
	if ((r = pgflo_pgprog_run(argv, NULL, &sql, status, errbuf,
	    errlen)) == 0)
		each_line(pgflo_buf_cstr(&sql), sql_line, out);
	pgflo_buf_free(&sql);
	return r;
}

/* The text after "ID; CLASS OID ": "DESC NAMESPACE TAG OWNER". */
static const char *
toc_text(const char *line)
{
	int spaces = 0;

	for (; *line != '\0' && spaces < 3; line++)
		spaces += *line == ' ';
	return line;
}

/*
 * Whether ct, " TAG OWNER" of a comment, names et, " TAG OWNER" of an
 * entry: the same, or with the name in the tag quoted, as pg_dump's
 * fmtId() quotes it in a comment's tag (not in the object's own).
 */
static int
tag_matches(const char *ct, const char *et)
{
	struct pgflo_buf q = { 0 };
	const char *owner, *args, *p;
	int r;

	if (strcmp(ct, et) == 0)
		return 1;
	if ((owner = strrchr(et, ' ')) == NULL || owner == et)
		return 0;
	for (args = et + 1; args < owner && *args != '('; args++)
		;
	pgflo_buf_puts(&q, " \"");
	for (p = et + 1; p < args; p++) {
		if (*p == '"')
			pgflo_buf_putc(&q, '"');
		pgflo_buf_putc(&q, *p);
	}
	pgflo_buf_putc(&q, '"');
	pgflo_buf_puts(&q, args);
	r = strcmp(ct, pgflo_buf_cstr(&q)) == 0;
	pgflo_buf_free(&q);
	return r;
}

/*
 * Whether comment c ("NAMESPACE DESC TAG OWNER") is on entry e ("DESC
 * NAMESPACE TAG OWNER"): some split of e at two spaces, reordered, is c.
 */
static int
comment_on(const char *c, const char *e)
{
	const char *d, *n;
	size_t dl, nl, cl = strlen(c);

	for (d = strchr(e, ' '); d != NULL; d = strchr(d + 1, ' '))
		for (n = strchr(d + 1, ' '); n != NULL; n = strchr(n + 1, ' ')) {
			dl = (size_t)(d - e);		/* DESC */
			nl = (size_t)(n - d - 1);	/* NAMESPACE */
			if (cl > nl + 1 + dl &&
			    memcmp(c, d + 1, nl) == 0 && c[nl] == ' ' &&
			    memcmp(c + nl + 1, e, dl) == 0 &&
			    tag_matches(c + nl + 1 + dl, n))
				return 1;
		}
	return 0;
}

void
pgflo_toc_keep_comments(struct pgflo_toc *t)
{
	const char *c;
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		c = toc_text(t->v[i].line);
		if (t->v[i].keep || t->v[i].cls != 0 ||
		    strncmp(c, "COMMENT ", 8) != 0)
			continue;
		for (j = 0; j < t->n && !t->v[i].keep; j++)
			if (t->v[j].keep && t->v[j].cls != 0 &&
			    comment_on(c + 8, toc_text(t->v[j].line)))
				t->v[i].keep = 1;
	}
}
