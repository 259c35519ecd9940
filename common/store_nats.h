/*
 * store_nats.h - the nats: checkpoint store (store_nats.c) behind
 * store.c's interface, and what the two share.  Tools use only the
 * pgflo_store_*() functions of store.c.
 */
#ifndef PGFLO_STORE_NATS_H
#define PGFLO_STORE_NATS_H

#include <jansson.h>

struct pgflo_store;
struct pgflo_store_ops;

extern const struct pgflo_store_ops pgflo_store_nats_ops;

/* pgflo_store_create() of a nats: store: the bucket, made when missing. */
int	pgflo_store_nats_create(struct pgflo_store *st, int replicas);
/* pgflo_store_status() of a nats: store. */
int	pgflo_store_nats_status(const struct pgflo_store *st);

/*
 * store.c: text (NUL-terminated) as a stored document, checked as
 * pgflo_store_get_doc() checks it.  The document (new), or NULL with
 * why set.
 */
json_t	*pgflo_store_doc_parse(const char *text, char *why, size_t whylen);

#endif /* PGFLO_STORE_NATS_H */
