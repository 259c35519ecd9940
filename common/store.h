/*
 * store.h - checkpoint stores, one interface for every kind.  A store
 * holds one document: a position record, which may carry the progress of
 * an initial copy in its "copy" member (copyprog.c).  URLs: "file:PATH" (or a plain path);
 * "nats:BUCKET/KEY", a key of a NATS JetStream key-value bucket
 * (store_nats.c).
 * Implemented in store.c.
 */
#ifndef PGFLO_STORE_H
#define PGFLO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lsn.h"

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
	/* After a get that found nothing: why, when it is worth a word. */
	char	 note[512];
	/*
	 * After a get that found a position: when it was written, in ms
	 * since the epoch (a file's mtime, a nats: entry's timestamp);
	 * 0 unknown.
	 */
	int64_t	 stamp_ms;
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
 * PGFLO_EXIT_USAGE for a nats: bucket that does not exist, a refused
 * login or credentials that could not be read, else PGFLO_EXIT_FAIL.
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

#endif
