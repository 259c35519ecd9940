/*
 * natsstream.h - the JetStream stream of a pgflo pipeline (natsstream.c):
 * looked up, or created with settings that never lose data silently,
 * and read at its end.  For pgflo-publish now, pgflo-consume next.
 */
#ifndef PGFLO_NATSSTREAM_H
#define PGFLO_NATSSTREAM_H

#include <nats/nats.h>

#include "pgflo.h"
#include "lsn.h"

struct pgflo_natsstream_config {
	const char *name;
	char	 subject[512];	/* P.NAME.>: what it must take */
	int	 create;	/* create it when missing */
	int	 replicas;	/* of a created stream */
	size_t	 max_bytes;	/* of a created stream; 0 no limit */
	long	 dupwin_ms;	/* its duplicate window */
};

/*
 * Looks up the stream (creates it with cf->create: file storage, limits
 * retention, no max age, discard new) and checks that it takes
 * cf->subject; warns on stderr about each setting that loses data.
 * *max_msg: its max message size, 0 none.  server names the server in
 * messages.  0, or the exit status (errbuf says why).
 */
int	pgflo_natsstream_open(jsCtx *js, const char *server,
	    const struct pgflo_natsstream_config *cf, size_t *max_msg,
	    char *errbuf, size_t errlen);
/*
 * The stream's end: pos->stream_seq its last sequence (0 empty), and the
 * commit_lsn and ordinal of that message's Pgflo-Position header
 * (natsmsg.h).  0, PGFLO_EXIT_UNAVAIL (the server did not answer) or
 * PGFLO_EXIT_USAGE (a last message without the header: another writer),
 * errbuf saying why.
 */
int	pgflo_natsstream_last(jsCtx *js, const char *stream,
	    struct pgflo_pos *pos, char *errbuf, size_t errlen);
/*
 * Whether the server lists stream name: 1, 0, or -1 (*s says why).  By
 * the list, not the stream's info: nats-server 2.9.10 can crash on an
 * info request for a stream another client is creating.
 */
int	pgflo_natsstream_listed(jsCtx *js, const char *name, natsStatus *s);

#endif
