/*
 * jspub.h - the JetStream sink of pgflo-publish (jspub.c): durable-stage
 * ops that publish each record into a stream exactly once, in order.
 *
 * Every message carries Nats-Expected-Last-Sequence, the stream sequence
 * of the message before it, so the server stores a message only right
 * after its predecessor: what the stream holds is always a prefix of what
 * was sent, in order.  At start and after any failure the stream's last
 * message says how far that prefix goes (its Pgflo-Position header); the
 * durable stage skips the input at or before it and sends the rest again
 * from its retained batch.  A message id alone does not give this
 * (../shared/NATS.md): it is only a second guard (msgid).
 *
 * Messages are the record lines unchanged.  A transaction's begin and
 * commit records ride as headers on its first and last message, so a
 * one-row transaction is one message, not three; a record larger than the
 * server takes is sent in parts.  The layout is natsmsg.h's.  One sink
 * per process: the state is this module's.
 */
#ifndef PGFLO_JSPUB_H
#define PGFLO_JSPUB_H

#include <stdint.h>

#include "durable.h"
#include "natsstream.h"

struct pgflo_jspub_config {
	const char *stream;	/* its name */
	const char *server;	/* -s, or NULL: the environment's */
	const char *prefix;	/* of the subjects */
	int	 msgid;		/* also send Nats-Msg-Id */
	int	 verbose;	/* report the stream's size on stderr */
	struct pgflo_natsstream_config scf;	/* when it is created */
};

extern const struct pgflo_durable_ops pgflo_jspub_ops;

/* Before the stage runs; cf is copied. */
void	pgflo_jspub_init(const struct pgflo_jspub_config *cf);
/* The last stream sequence acknowledged. */
uint64_t pgflo_jspub_acked(void);
void	pgflo_jspub_free(void);

#endif
