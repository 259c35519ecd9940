/*
 * msg.c - diagnostics on stderr in err(3) shape, with the program name,
 * and the few helpers that are allowed to exit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"

const char *pgflo_progname = "pgflo";
int pgflo_msg_midline;

/*
 * Also points argv[0] at the base name, so that getopt's own messages
 * read "pgflo-xxx: unrecognized option" like ours.
 */
void
pgflo_setprogname(char *argv[])
{
	char *p;

	if (argv[0] == NULL || *argv[0] == '\0')
		return;
	p = strrchr(argv[0], '/');
	if (p != NULL)
		argv[0] = p + 1;
	pgflo_progname = argv[0];
	/* stderr unbuffered, as PostgreSQL's tools keep it. */
	setvbuf(stderr, NULL, _IONBF, 0);
}

static void
vmsg(int errnum, const char *fmt, va_list ap)
{
	/* Records already written must come before the message. */
	fflush(stdout);
	if (pgflo_msg_midline) {
		fputc('\n', stderr);	/* under a progress line */
		pgflo_msg_midline = 0;
	}
	fprintf(stderr, "%s: ", pgflo_progname);
	if (fmt != NULL)
		vfprintf(stderr, fmt, ap);
	if (errnum >= 0)
		fprintf(stderr, "%s%s", fmt != NULL ? ": " : "",
		    strerror(errnum));
	fputc('\n', stderr);
}

void
pgflo_err(int eval, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vmsg(e, fmt, ap);
	va_end(ap);
	exit(eval);
}

void
pgflo_errx(int eval, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(-1, fmt, ap);
	va_end(ap);
	exit(eval);
}

void
pgflo_warn(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vmsg(e, fmt, ap);
	va_end(ap);
}

void
pgflo_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(-1, fmt, ap);
	va_end(ap);
}

void
pgflo_vwarnx(const char *fmt, va_list ap)
{
	vmsg(-1, fmt, ap);
}

void
pgflo_print_version(void)
{
	printf("%s (pgflo) %s\n", pgflo_progname, PGFLO_VERSION);
}

void
pgflo_usage_exit(const char *synopsis)
{
	fflush(stdout);
	fprintf(stderr, "usage: %s\n", synopsis);
	fprintf(stderr, "Try '%s --help' for more information.\n",
	    pgflo_progname);
	exit(PGFLO_EXIT_USAGE);
}

void
pgflo_usage_error(const char *synopsis, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(-1, fmt, ap);
	va_end(ap);
	pgflo_usage_exit(synopsis);
}

void
pgflo_std_options(int argc, char *argv[], void (*help)(void))
{
	if (argc < 2)
		return;
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		help();
	else if (strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "--version") == 0)
		pgflo_print_version();
	else
		return;
	exit(fflush(stdout) == 0 && !ferror(stdout) ? 0 : PGFLO_EXIT_FAIL);
}

void *
pgflo_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "out of memory (%zu bytes)", n);
	return p;
}

void *
pgflo_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "out of memory (%zu bytes)", n);
	return q;
}

char *
pgflo_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(pgflo_xmalloc(n), s, n);
}
