/*
 * natsconn.h - a connection to a NATS server (natsconn.c), set up the one
 * way every pgflo tool that speaks NATS wants it: the URL from -s or
 * PGFLO_NATS_URL, credentials and TLS from the environment and files
 * only (never argv, never printed), a timeout on the connect and on
 * every JetStream request, reconnection for ever in the background, and
 * a callback when the connection drops or closes.
 *
 * Environment (all optional):
 *   PGFLO_NATS_URL       nats://127.0.0.1:4222 when unset
 *   PGFLO_NATS_CREDS     a .creds file (user JWT and NKey seed)
 *   PGFLO_NATS_NKEY      a file holding an NKey seed, with
 *   PGFLO_NATS_NKEY_PUB  the user's public NKey (U...)
 *   PGFLO_NATS_USER, PGFLO_NATS_PASSWORD   user and password
 *   PGFLO_NATS_TOKEN     a token
 *   PGFLO_NATS_CA        CA certificates (PEM file): TLS, server checked
 *   PGFLO_NATS_CERT, PGFLO_NATS_KEY        client certificate and key
 */
#ifndef PGFLO_NATSCONN_H
#define PGFLO_NATSCONN_H

#include <nats/nats.h>

#include "pgflo.h"

#define PGFLO_NATS_DEFAULT_URL	"nats://127.0.0.1:4222"

struct pgflo_natsconn_config {
	const char *url;	/* NULL: PGFLO_NATS_URL, else the default */
	long	 timeout_ms;	/* the connect and each request; 0: 5000 */
	/*
	 * Optional: called on nats.c's thread when the connection nc
	 * drops (closed 0; it is being re-established) or is closed
	 * (closed 1), also by pgflo_natsconn_close(): compare nc.
	 */
	void	(*lost)(void *arg, natsConnection *nc, int closed);
	void	*arg;
};

struct pgflo_natsconn {
	natsConnection *nc;
	jsCtx	*js;
	char	*shown;		/* the URL without user:password@, new */
	long	 timeout_ms;
};

/*
 * Connects c (zeroed, or closed) and opens its JetStream context with
 * the options jo (may be NULL; a zero Wait becomes the timeout).  0, or
 * the exit status a rerun calls for (PGFLO_EXIT_USAGE: bad settings or
 * refused credentials; PGFLO_EXIT_UNAVAIL: no server answered) with
 * errbuf saying why.  cf must outlive the connection (callbacks).
 */
int	pgflo_natsconn_open(struct pgflo_natsconn *c,
	    const struct pgflo_natsconn_config *cf, jsOptions *jo,
	    char *errbuf, size_t errlen);
/* Destroys the context and the connection; c can be opened again. */
void	pgflo_natsconn_close(struct pgflo_natsconn *c);
/* Checks a -s URL: -1 (errbuf) when it holds credentials (argv). */
int	pgflo_natsconn_url_ok(const char *url, char *errbuf, size_t errlen);
/* The exit status that a failure with s calls for. */
int	pgflo_natsconn_exit_status(natsStatus s);
/* nats.c's last error text for s, without its "(file.c:N): " (static). */
const char *pgflo_natsconn_why(natsStatus s);
/* url with each user:password@ taken out (new). */
char	*pgflo_natsconn_redact(const char *url);

#endif
