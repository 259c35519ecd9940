/*
 * natsconn.c - the NATS connection of publish, consume and the nats:
 * store (natsconn.h).
 *
 * nats.c 3.4.1 facts this relies on (../shared/NATS.md): the default
 * reconnect gives up after 60 attempts (-1 is for ever); a JetStream
 * request without a timeout may wait for ever, so every context gets a
 * Wait; nats_Open() ignores SIGPIPE for the whole process (out.c turns
 * EPIPE back into SIGPIPE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "natsconn.h"

#define DEFAULT_TIMEOUT_MS	5000
#define RECONNECT_WAIT_MS	250
#define PING_INTERVAL_MS	2000	/* a dead server is noticed in ~6 s */
#define MAX_PINGS_OUT		2

static int nconns;		/* open, for nats_Close() at exit */

static void
lib_close(void)
{
	if (nconns == 0)
		(void)nats_CloseAndWait(DEFAULT_TIMEOUT_MS);
}

char *
pgflo_natsconn_redact(const char *url)
{
	char *s = pgflo_xstrdup(url), *w = s;
	const char *p = url, *sep, *at, *end;

	while ((sep = strstr(p, "://")) != NULL) {
		sep += 3;
		memmove(w, p, (size_t)(sep - p));
		w += sep - p;
		end = sep + strcspn(sep, ",/");
		at = memchr(sep, '@', (size_t)(end - sep));
		p = at != NULL ? at + 1 : sep;
	}
	memmove(w, p, strlen(p) + 1);
	return s;
}

int
pgflo_natsconn_url_ok(const char *url, char *errbuf, size_t errlen)
{
	char *r = pgflo_natsconn_redact(url);
	int same = strcmp(r, url) == 0;

	free(r);
	if (same && *url != '\0')
		return 0;
	snprintf(errbuf, errlen, *url == '\0' ? "empty server URL" :
	    "credentials in the server URL would show in ps(1): use "
	    "PGFLO_NATS_USER and PGFLO_NATS_PASSWORD, or PGFLO_NATS_URL");
	return -1;
}

int
pgflo_natsconn_exit_status(natsStatus s)
{
	switch (s) {
	case NATS_OK:
		return 0;
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
	case NATS_SSL_ERROR:
	case NATS_INVALID_ARG:
	case NATS_NOT_FOUND:
		return PGFLO_EXIT_USAGE;
	case NATS_NO_SERVER:
	case NATS_TIMEOUT:
	case NATS_IO_ERROR:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_STALE_CONNECTION:
	case NATS_NOT_YET_CONNECTED:
	case NATS_NO_RESPONDERS:
		return PGFLO_EXIT_UNAVAIL;
	default:
		return PGFLO_EXIT_FAIL;
	}
}

const char *
pgflo_natsconn_why(natsStatus s)
{
	const char *why = nats_GetLastError(NULL);
	const char *p;

	if (why == NULL || *why == '\0')
		return natsStatus_GetText(s);
	if (*why == '(' && (p = strstr(why, "): ")) != NULL)
		why = p + 3;	/* nats.c's "(file.c:N): " */
	return why;
}

static void
disconnected_cb(natsConnection *nc, void *closure)
{
	const struct pgflo_natsconn_config *cf = closure;

	cf->lost(cf->arg, nc, 0);
}

static void
closed_cb(natsConnection *nc, void *closure)
{
	const struct pgflo_natsconn_config *cf = closure;

	cf->lost(cf->arg, nc, 1);
}

/* Credentials and TLS from the environment (natsconn.h). */
static natsStatus
set_auth(natsOptions *o, const char *url, int *secure)
{
	const char *creds = pgflo_env("NATS_CREDS", NULL);
	const char *nkey = pgflo_env("NATS_NKEY", NULL);
	const char *user = pgflo_env("NATS_USER", NULL);
	const char *token = pgflo_env("NATS_TOKEN", NULL);
	const char *ca = pgflo_env("NATS_CA", NULL);
	const char *cert = pgflo_env("NATS_CERT", NULL);
	const char *key = pgflo_env("NATS_KEY", NULL);
	natsStatus s = NATS_OK;

	*secure = strncmp(url, "tls://", 6) == 0 || ca != NULL ||
	    cert != NULL;
	if (creds != NULL)
		s = natsOptions_SetUserCredentialsFromFiles(o, creds, NULL);
	if (s == NATS_OK && nkey != NULL)
		s = natsOptions_SetNKeyFromSeed(o,
		    pgflo_env("NATS_NKEY_PUB", ""), nkey);
	if (s == NATS_OK && user != NULL)
		s = natsOptions_SetUserInfo(o, user,
		    pgflo_env("NATS_PASSWORD", ""));
	if (s == NATS_OK && token != NULL)
		s = natsOptions_SetToken(o, token);
	if (s == NATS_OK && *secure)
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && ca != NULL)
		s = natsOptions_LoadCATrustedCertificates(o, ca);
	if (s == NATS_OK && (cert != NULL || key != NULL))
		s = natsOptions_LoadCertificatesChain(o, cert != NULL ? cert :
		    "", key != NULL ? key : "");
	return s;
}

/* A comma-separated list of servers (natsOptions_SetURL takes one). */
static natsStatus
set_servers(natsOptions *o, const char *url)
{
	char *copy = pgflo_xstrdup(url), *p, *save = NULL;
	const char **v = NULL;
	int n = 0;
	natsStatus s;

	for (p = strtok_r(copy, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		v = pgflo_xrealloc(v, (size_t)(n + 1) * sizeof(*v));
		v[n++] = p;
	}
	s = n > 0 ? natsOptions_SetServers(o, v, n) : NATS_INVALID_ARG;
	free(v);
	free(copy);
	return s;
}

static natsStatus
set_options(natsOptions *o, const struct pgflo_natsconn_config *cf,
    const char *url, long timeout)
{
	natsStatus s;
	int secure;

	s = strchr(url, ',') != NULL ? set_servers(o, url) :
	    natsOptions_SetURL(o, url);
	/* Servers in the order given: the first is the one to use. */
	if (s == NATS_OK)
		s = natsOptions_SetNoRandomize(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, pgflo_progname);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, RECONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, PING_INTERVAL_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, MAX_PINGS_OUT);
	if (s == NATS_OK)
		s = natsOptions_SetFailRequestsOnDisconnect(o, true);
	if (s == NATS_OK && cf->lost != NULL)
		s = natsOptions_SetDisconnectedCB(o, disconnected_cb,
		    (void *)cf);
	if (s == NATS_OK && cf->lost != NULL)
		s = natsOptions_SetClosedCB(o, closed_cb, (void *)cf);
	if (s == NATS_OK)
		s = set_auth(o, url, &secure);
	return s;
}

int
pgflo_natsconn_open(struct pgflo_natsconn *c,
    const struct pgflo_natsconn_config *cf, jsOptions *jo, char *errbuf,
    size_t errlen)
{
	static int atexit_done;
	const char *url = cf->url != NULL ? cf->url :
	    pgflo_env("NATS_URL", PGFLO_NATS_DEFAULT_URL);
	natsOptions *o = NULL;
	jsOptions dflt;
	natsStatus s;
	int st;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = cf->timeout_ms > 0 ? cf->timeout_ms :
	    DEFAULT_TIMEOUT_MS;
	c->shown = pgflo_natsconn_redact(url);
	/* nats.c signs with the seed but sends the key it is told. */
	if (pgflo_env("NATS_NKEY", NULL) != NULL &&
	    pgflo_env("NATS_NKEY_PUB", NULL) == NULL) {
		snprintf(errbuf, errlen, "NATS server %s: PGFLO_NATS_NKEY "
		    "needs PGFLO_NATS_NKEY_PUB, the user's public key (U...)",
		    c->shown);
		pgflo_natsconn_close(c);
		return PGFLO_EXIT_USAGE;
	}
	s = natsOptions_Create(&o);
	/* After nats_Open()'s own atexit handler, so that it runs first. */
	if (s == NATS_OK && !atexit_done) {
		atexit_done = 1;
		atexit(lib_close);
	}
	if (s == NATS_OK && (s = set_options(o, cf, url,
	    c->timeout_ms)) != NATS_OK) {
		snprintf(errbuf, errlen, "NATS settings: %s",
		    pgflo_natsconn_why(s));
		natsOptions_Destroy(o);
		free(c->shown);
		c->shown = NULL;
		return PGFLO_EXIT_USAGE;
	}
	if (s == NATS_OK)
		s = natsConnection_Connect(&c->nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK) {
		nconns++;
		if (jo == NULL) {
			jsOptions_Init(&dflt);
			jo = &dflt;
		}
		if (jo->Wait == 0)
			jo->Wait = c->timeout_ms;
		s = natsConnection_JetStream(&c->js, c->nc, jo);
	}
	if (s == NATS_OK)
		return 0;
	snprintf(errbuf, errlen, "NATS server %s: %s", c->shown,
	    pgflo_natsconn_why(s));
	st = pgflo_natsconn_exit_status(s);
	pgflo_natsconn_close(c);
	/*
	 * Not the network, which exit_status() knows: the settings, as a
	 * credentials file that cannot be read.
	 */
	return st != PGFLO_EXIT_FAIL ? st : PGFLO_EXIT_USAGE;
}

void
pgflo_natsconn_close(struct pgflo_natsconn *c)
{
	if (c->js != NULL)
		jsCtx_Destroy(c->js);
	if (c->nc != NULL) {
		natsConnection_Destroy(c->nc);
		nconns--;
	}
	free(c->shown);
	memset(c, 0, sizeof(*c));
}
