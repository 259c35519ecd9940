/*
 * pgflo.h - the base of the shared library of the pgflo tools
 * (libpgflo.a): exit statuses, diagnostics and usage errors (msg.c),
 * option parsing (opt.c), the clock (clock.c), signals (sig.c) and the
 * byte buffer (buf.c), which every tool needs.
 *
 * The header rule: every other module common/NAME.c has its own
 * common/NAME.h, named for what it holds, which includes what its
 * declarations need (this file among them).  A file includes pgflo.h
 * plus the header of each module it uses.  Functions return 0 / -1 (or
 * NULL) and leave the decision to exit to main(); the only exceptions
 * are pgflo_x*alloc() (exit 1 on out of memory) and the pgflo_err*()
 * family, whose job is to exit.
 */
#ifndef PGFLO_H
#define PGFLO_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef PGFLO_VERSION
#define PGFLO_VERSION "0.0.0"
#endif

/*
 * Exit status, STYLE.md 6.1.  The rule every tool keeps, by what a
 * rerun of the same command would do:
 *   1  it fails again on the same data: a bad record, a rejected
 *      statement, a write error.  Fix the data or the target.
 *   2  it fails again whatever the data: the command line, a rules or
 *      config file, a refused login, missing privileges or replica
 *      identity.  Fix the command or the role.
 *   3  it may succeed later: the server is unreachable or the
 *      connection was lost (and --no-loop forbids waiting).
 * A stop by SIGINT/SIGTERM after draining is 0; a reader gone is 141.
 * Only main() and the pgflo_err*() family exit; common/ returns -1.
 */
#define PGFLO_EXIT_OK		0
#define PGFLO_EXIT_FAIL		1	/* the data or the target refused */
#define PGFLO_EXIT_USAGE	2	/* the command, config or role */
#define PGFLO_EXIT_UNAVAIL	3	/* unreachable or connection lost */

#if defined(__GNUC__)
#define PGFLO_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#define PGFLO_NORETURN		__attribute__((noreturn))
#else
#define PGFLO_PRINTF(f, a)
#define PGFLO_NORETURN
#endif

/* msg.c: diagnostics on stderr as "pgflo-xxx: ...", err(3) style. */
extern const char *pgflo_progname;
/* Set while stderr's last line is unfinished (progress.c). */
extern int pgflo_msg_midline;
/* Sets the name from argv[0] and shortens argv[0] to it (for getopt). */
void	pgflo_setprogname(char *argv[]);
void	pgflo_err(int eval, const char *fmt, ...) PGFLO_PRINTF(2, 3) PGFLO_NORETURN;
void	pgflo_errx(int eval, const char *fmt, ...) PGFLO_PRINTF(2, 3) PGFLO_NORETURN;
void	pgflo_warn(const char *fmt, ...) PGFLO_PRINTF(1, 2);
void	pgflo_warnx(const char *fmt, ...) PGFLO_PRINTF(1, 2);
void	pgflo_vwarnx(const char *fmt, va_list ap) PGFLO_PRINTF(1, 0);
/* Prints "pgflo-xxx (pgflo) VERSION" on stdout. */
void	pgflo_print_version(void);
/* The usage error tail: "Try 'pgflo-xxx --help' ...", exit 2. */
void	pgflo_usage_exit(const char *synopsis) PGFLO_NORETURN;
/*
 * The one path for a usage error: "pgflo-xxx: what (context)", the
 * synopsis and the --help hint on stderr, exit 2.  A missing option is
 * worded "-X is required" (or "-X is required (or --alt)").
 */
void	pgflo_usage_error(const char *synopsis, const char *fmt, ...)
	    PGFLO_PRINTF(2, 3) PGFLO_NORETURN;
/*
 * PostgreSQL's rule: -h/--help or -V/--version as the first argument is
 * answered before anything else is parsed; exits 0 if it was one.
 */
void	pgflo_std_options(int argc, char *argv[], void (*help)(void));
void	*pgflo_xmalloc(size_t n);
void	*pgflo_xrealloc(void *p, size_t n);
char	*pgflo_xstrdup(const char *s);

/* opt.c: checked number parsing and PGFLO_* environment fallbacks. */
/* Returns the value of PGFLO_<name>, or dflt when unset or empty. */
const char *pgflo_env(const char *name, const char *dflt);
int	pgflo_parse_long(const char *s, long min, long max, long *out);
/* "250ms", "2s", "1.5s", "5m", "1h"; a bare number is seconds. */
int	pgflo_parse_duration_ms(const char *s, long *ms_out);
/* "64M", "1G", "512k", bare bytes. */
int	pgflo_parse_size(const char *s, size_t *out);

/* clock.c: milliseconds on the monotonic clock. */
long	pgflo_now_ms(void);
/* Days since 1970-01-01 of year y, month m (1-12), day d (Gregorian). */
int64_t	pgflo_days_from_civil(int64_t y, int64_t m, int64_t d);

/* sig.c: SIGINT/SIGTERM set a flag; loops drain and exit 0. */
extern volatile sig_atomic_t pgflo_stop_signal;
/* Installs the handlers without SA_RESTART so blocking calls see EINTR. */
void	pgflo_catch_signals(void);
#define pgflo_stopping()	(pgflo_stop_signal != 0)

/* buf.c: a growable byte buffer; the JSON writer's and readers' storage. */
struct pgflo_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	pgflo_buf_grow(struct pgflo_buf *b, size_t extra);
void	pgflo_buf_free(struct pgflo_buf *b);
#define pgflo_buf_reset(b)	((b)->len = 0)
static inline void
pgflo_buf_putn(struct pgflo_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n + 1)
		pgflo_buf_grow(b, n + 1);
	__builtin_memcpy(b->data + b->len, p, n);
	b->len += n;
}
static inline void
pgflo_buf_putc(struct pgflo_buf *b, char c)
{
	if (b->cap - b->len < 2)
		pgflo_buf_grow(b, 2);
	b->data[b->len++] = c;
}
void	pgflo_buf_puts(struct pgflo_buf *b, const char *s);
void	pgflo_buf_printf(struct pgflo_buf *b, const char *fmt, ...) PGFLO_PRINTF(2, 3);
/* NUL-terminates without counting it; returns b->data. */
char	*pgflo_buf_cstr(struct pgflo_buf *b);

#endif /* PGFLO_H */
