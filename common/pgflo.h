/*
 * pgflo.h - the shared library of the pgflo tools (libpgflo.a).
 *
 * Every prototype, grouped by the source file that owns it.  Functions
 * return 0 / -1 (or NULL) and leave the decision to exit to main(); the
 * only exceptions are pgflo_x*alloc() (exit 1 on out of memory) and the
 * pgflo_err*() family, whose job is to exit.
 */
#ifndef PGFLO_H
#define PGFLO_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

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

/*
 * jw.c: a small streaming JSON writer for the hot path (no jansson
 * objects).  Commas are inserted automatically per nesting level.
 * Strings are escaped; invalid UTF-8 bytes become U+FFFD so the output is
 * always valid UTF-8 (pgflo_jw_valid_utf8() lets callers choose another
 * encoding first).
 */
#define PGFLO_JW_MAXDEPTH 64
struct pgflo_jw {
	struct pgflo_buf *b;
	int	depth;
	unsigned char first[PGFLO_JW_MAXDEPTH];	/* no element written yet */
	int	after_key;
};
void	pgflo_jw_init(struct pgflo_jw *w, struct pgflo_buf *b);
void	pgflo_jw_obj_begin(struct pgflo_jw *w);
void	pgflo_jw_obj_end(struct pgflo_jw *w);
void	pgflo_jw_arr_begin(struct pgflo_jw *w);
void	pgflo_jw_arr_end(struct pgflo_jw *w);
void	pgflo_jw_key(struct pgflo_jw *w, const char *key);
void	pgflo_jw_keyn(struct pgflo_jw *w, const char *key, size_t len);
void	pgflo_jw_str(struct pgflo_jw *w, const char *s);
void	pgflo_jw_strn(struct pgflo_jw *w, const char *s, size_t len);
void	pgflo_jw_int(struct pgflo_jw *w, long long v);
void	pgflo_jw_uint(struct pgflo_jw *w, unsigned long long v);
void	pgflo_jw_bool(struct pgflo_jw *w, int v);
void	pgflo_jw_null(struct pgflo_jw *w);
/* Writes already-valid JSON text as one value. */
void	pgflo_jw_raw(struct pgflo_jw *w, const char *s, size_t len);
/* Writes a jansson value (borrowed) compactly. */
void	pgflo_jw_json(struct pgflo_jw *w, const json_t *v);
/* Appends the escaped body of a JSON string (no quotes). */
void	pgflo_json_escape(struct pgflo_buf *b, const char *s, size_t len);
int	pgflo_jw_valid_utf8(const char *s, size_t len);

/*
 * out.c: record output on stdout.  Flushes after every record unless
 * stdout is a regular file (STYLE.md 6.6); PGFLO_FLUSH=1/0 overrides.
 * EPIPE becomes a SIGPIPE death (nats.c ignores SIGPIPE for us).
 */
void	pgflo_out_init(void);
/* Writes len bytes plus '\n'; -1 on write error (errno set). */
int	pgflo_out_line(const char *s, size_t len);
/* Writes a jansson record (borrowed) as one compact line. */
int	pgflo_out_json(const json_t *rec);
/* Forces a flush (and fsync for regular files when sync is set). */
int	pgflo_out_flush(int sync);
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
 * in.c: NDJSON record input.  A buffered read(2) loop rather than stdio,
 * so that a tool can wait for input with a timeout (commit a batch, save
 * a checkpoint while upstream is quiet) without losing a partial line.
 * Lines have no length limit but PGFLO_MAX_RECORD (default 64 MiB);
 * empty lines are skipped; the last line may lack its '\n'.  Errors name
 * the location as "<stdin>:LINE".
 */
struct pgflo_reader {
	int	 fd;
	const char *name;	/* "<stdin>" or a file name */
	struct pgflo_buf buf;	/* bytes read, not yet consumed */
	size_t	 pos;		/* start of the unconsumed bytes */
	size_t	 scan;		/* where the search for '\n' resumes */
	int	 eof;
	char	*line;		/* the current line, NUL-terminated, in buf */
	size_t	 len;		/* its length, without '\n' */
	unsigned long lineno;
	size_t	 maxlen;
	FILE	*deadletter;	/* --dead-letter FILE, or NULL */
	const char *deadletter_name;
	unsigned long nbad;	/* lines rejected to the dead letter file */
	int	 spilling;	/* an over-long line is going to deadletter */
	int	 redact;	/* dead letters hold {"line","error"}, not lines */
	char	 errmsg[512];
};
int	pgflo_reader_open(struct pgflo_reader *r, int fd, const char *name);
void	pgflo_reader_close(struct pgflo_reader *r);
/*
 * Opens (appends to) the dead-letter file; -1 with errmsg on failure.
 * Besides the lines a caller rejects, the reader itself then sets aside
 * each line longer than PGFLO_MAX_RECORD there, whole (streamed, never
 * held in memory), warns naming it and goes on; without a dead-letter
 * file such a line is an error.  Either way the caller never sees it.
 */
int	pgflo_reader_set_deadletter(struct pgflo_reader *r, const char *path);
/*
 * 1 a line is in r->line, 0 at EOF (or when a stop signal interrupted
 * the wait, or came within PGFLO_OUT_CHECK_MS before it), -1 on error
 * (errmsg says why).  While it waits, a reader of stdout that goes away
 * ends the process (pgflo_out_reader_left), so that every filter on
 * the reader notices a dead neighbour with no input flowing.
 */
int	pgflo_reader_next(struct pgflo_reader *r);
/* As above, but returns 2 when no whole line came within timeout_ms. */
int	pgflo_reader_next_timeout(struct pgflo_reader *r, int timeout_ms);
/*
 * A record could not be used: with a dead-letter file, writes the line
 * there verbatim, warns with why and returns 0 (go on); without one,
 * returns -1 (the caller fails with r->errmsg).
 */
int	pgflo_reader_reject(struct pgflo_reader *r, const char *fmt, ...) PGFLO_PRINTF(2, 3);

/* record.c: field access on parsed records. */
enum pgflo_op {
	PGFLO_OP_UNKNOWN = 0,
	PGFLO_OP_INSERT, PGFLO_OP_UPDATE, PGFLO_OP_DELETE, PGFLO_OP_TRUNCATE,
	PGFLO_OP_BEGIN, PGFLO_OP_COMMIT, PGFLO_OP_DDL, PGFLO_OP_MESSAGE,
	PGFLO_OP_SNAPSHOT, PGFLO_OP_POSITION
};
enum pgflo_op pgflo_op_parse(const char *s);
const char *pgflo_op_name(enum pgflo_op op);
enum pgflo_op pgflo_rec_op(const json_t *rec);
/* Borrowed string member, or NULL when missing or not a string. */
const char *pgflo_rec_str(const json_t *rec, const char *key);

/*
 * lsn.c: LSNs and positions.  A position (commit_lsn, ordinal,
 * stream_seq) orders the stream totally; DESIGN.md "Positions".
 */
typedef uint64_t pgflo_lsn;
#define PGFLO_LSN_INVALID	((pgflo_lsn)0)
#define PGFLO_LSN_BUFSZ		24
int	pgflo_lsn_parse(const char *s, pgflo_lsn *out);
/* Writes "X/Y" (upper-case hex, as PostgreSQL does) into buf; returns buf. */
char	*pgflo_lsn_format(pgflo_lsn lsn, char buf[PGFLO_LSN_BUFSZ]);

struct pgflo_pos {
	pgflo_lsn commit_lsn;	/* 0: none */
	uint64_t ordinal;
	uint64_t stream_seq;	/* 0: none */
};
/*
 * <0, 0, >0; by commit_lsn then ordinal, else by stream_seq.  Meant for
 * positions of one kind: a commit_lsn-only position and a
 * stream_seq-only one compare by stream_seq (0 for the first).
 */
int	pgflo_pos_cmp(const struct pgflo_pos *a, const struct pgflo_pos *b);
int	pgflo_pos_is_set(const struct pgflo_pos *p);
/*
 * Moves *best forwards to p kind by kind: (commit_lsn, ordinal) and
 * stream_seq each only when p has a newer one of that kind, so a
 * position of one kind never drops or blocks the other.  Returns the
 * kinds that moved, PGFLO_POS_LSN | PGFLO_POS_SEQ, or 0.
 */
#define PGFLO_POS_LSN	1
#define PGFLO_POS_SEQ	2
int	pgflo_pos_advance(struct pgflo_pos *best, const struct pgflo_pos *p);
/* From a record's commit_lsn/ordinal/stream_seq members; -1 if malformed. */
int	pgflo_pos_from_json(const json_t *rec, struct pgflo_pos *p);
/*
 * From text: a position record as JSON, "X/Y", "X/Y:ORDINAL" or a bare
 * stream sequence number.  -1 if none of these.
 */
int	pgflo_pos_parse(const char *s, struct pgflo_pos *p);
/* Appends {"op":"position",...} (no newline) to b; group may be NULL. */
void	pgflo_pos_write(struct pgflo_buf *b, const struct pgflo_pos *p,
	    const char *group);

/*
 * store.c: checkpoint stores, one interface for every kind.  A store
 * holds one document: a position record, which may carry the progress of
 * an initial copy in its "copy" member (copyprog.c).  URLs: "file:PATH" (or a plain path);
 * "nats:BUCKET/KEY", a key of a NATS JetStream key-value bucket
 * (store_nats.c).
 */
struct pgflo_store;
/* The most a store holds and reads back, in bytes. */
#define PGFLO_STORE_MAX_BYTES	(1 << 20)
struct pgflo_store_ops {
	const char *scheme;
	int	(*open)(struct pgflo_store *st, const char *rest);
	/* 1 found (*text new, NUL-terminated), 0 none, -1 error. */
	int	(*get)(struct pgflo_store *st, char **text);
	int	(*put)(struct pgflo_store *st, const char *text, size_t len);
	void	(*close)(struct pgflo_store *st);
};
struct pgflo_store {
	const struct pgflo_store_ops *ops;
	char	*url;
	void	*priv;
	char	 errmsg[512];
};
/* NULL with *errmsg set (static or in errbuf) on failure. */
struct pgflo_store *pgflo_store_open(const char *url, char *errbuf, size_t errlen);
/* 1 found, 0 nothing stored, -1 error (st->errmsg). */
int	pgflo_store_get(struct pgflo_store *st, struct pgflo_pos *p, json_t **rec);
/*
 * Stores the document rec (borrowed) whole; -1 (st->errmsg) when it
 * could not be written, or would be more than PGFLO_STORE_MAX_BYTES and
 * so could not be read back (the store then keeps what it had).
 */
int	pgflo_store_put(struct pgflo_store *st, const json_t *rec);
void	pgflo_store_close(struct pgflo_store *st);
/*
 * Makes what st is kept in when it is missing: a nats: bucket, with
 * replicas copies (0: 1); nothing for a file.  0, or -1 (st->errmsg).
 */
int	pgflo_store_create(struct pgflo_store *st, int replicas);
/*
 * The exit status the last failure of st calls for (STYLE.md 6.1):
 * PGFLO_EXIT_UNAVAIL when the server could not be reached,
 * PGFLO_EXIT_USAGE for a nats: bucket that does not exist or a refused
 * login, else PGFLO_EXIT_FAIL.
 */
int	pgflo_store_status(const struct pgflo_store *st);
/*
 * The whole stored document: the position record, with the "copy"
 * member of copyprog.c when a copy reported progress.  1 found (*doc
 * new), 0 nothing stored, -1 error (st->errmsg).  pgflo_store_get()
 * returns 0 for a document that holds copy progress but no position.
 */
int	pgflo_store_get_doc(struct pgflo_store *st, json_t **doc);
/*
 * A position argument (--start, --from): what pgflo_pos_parse() takes,
 * or a store URL ("file:PATH") whose position is read.  1 found, 0 the
 * store holds none, -1 error (errbuf says why).
 */
int	pgflo_pos_arg(const char *arg, struct pgflo_pos *p, char *errbuf,
	    size_t errlen);

/*
 * copyprog.c: the progress of an initial copy, made durable downstream
 * and kept in the checkpoint store's "copy" member (see copyprog.c).
 */
struct pgflo_copyprog_range {
	long	 lo, hi;		/* chunk numbers, both included */
	unsigned long long xmin;	/* of the snapshot they were copied under */
};
struct pgflo_copyprog_table {
	char	*schema, *table;
	int	 done;		/* durable whole; lsn is set */
	pgflo_lsn lsn;		/* the stream applies its changes from here */
	/* Not done: the chunks made durable so far, of pages each. */
	long	 pages;
	long long filenode;
	size_t	 nranges;
	struct pgflo_copyprog_range *ranges;
};
struct pgflo_copyprog {
	char	*slot;		/* NULL: no copy recorded */
	int	 done;		/* the copy whose snapshot was at lsn is durable */
	pgflo_lsn lsn;
	size_t	 n;
	struct pgflo_copyprog_table *t;
};
/*
 * Merges a snapshot record (borrowed) into doc's "copy" member: 1
 * changed, 0 nothing to keep (a begin record, a copy without a slot),
 * -1 malformed (errbuf says why).
 */
int	pgflo_copyprog_merge(json_t *doc, const json_t *rec, char *errbuf,
	    size_t errlen);
/* Reads doc's "copy" (doc may be NULL) into *cp; -1 if malformed. */
int	pgflo_copyprog_load(const json_t *doc, struct pgflo_copyprog *cp,
	    char *errbuf, size_t errlen);
/* pgflo_copyprog_load() of what st holds; -1 with errbuf set. */
int	pgflo_copyprog_read(struct pgflo_store *st, struct pgflo_copyprog *cp,
	    char *errbuf, size_t errlen);
/* 1 and *lsn (may be NULL) when schema.table is durable whole, else 0. */
int	pgflo_copyprog_lookup(const struct pgflo_copyprog *cp,
	    const char *schema, const char *table, pgflo_lsn *lsn);
/* The entry of schema.table, done or partial (borrowed), or NULL. */
const struct pgflo_copyprog_table *pgflo_copyprog_find(
	    const struct pgflo_copyprog *cp, const char *schema,
	    const char *table);
/* 1 and *xmin when chunk k of t (may be NULL) is durable, else 0. */
int	pgflo_copyprog_chunk(const struct pgflo_copyprog_table *t, long k,
	    unsigned long long *xmin);
void	pgflo_copyprog_free(struct pgflo_copyprog *cp);

#endif /* PGFLO_H */
