/*
 * webhook.h - delivering a body to a webhook (webhook.c), for
 * pgflo-sink-http: one libcurl easy handle, reused so the connection is
 * kept alive; Standard Webhooks headers and signatures; the retry loop
 * with full-jitter backoff and Retry-After.  One request at a time, so
 * the receiver sees the bodies in order.
 *
 * Standard Webhooks (standardwebhooks.com, v1): webhook-id, stable for a
 * body across retries; webhook-timestamp, Unix seconds of each attempt;
 * webhook-signature, "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>"
 * for each key, space-separated (several keys during a rotation).  A
 * secret is "whsec_<base64 key>"; the key is the decoded bytes.
 *
 * Secrets never reach argv or a message: errors name the file, not what
 * it holds.
 */
#ifndef PGFLO_WEBHOOK_H
#define PGFLO_WEBHOOK_H

#include <stddef.h>

#include "pgflo.h"

/* Signing keys, decoded. */
struct pgflo_webhook_keys {
	unsigned char **key;
	size_t	*len;
	int	 n;
};

/*
 * Parses whitespace-separated secrets ("whsec_" then base64; the prefix
 * is optional) into k, adding to it.  -1 with errbuf naming the nth
 * secret (what: a file name or a variable), never its text.
 */
int	pgflo_webhook_keys_parse(struct pgflo_webhook_keys *k,
	    const char *text, const char *what, char *errbuf, size_t errlen);
void	pgflo_webhook_keys_free(struct pgflo_webhook_keys *k);
/*
 * Appends to out the webhook-signature value for id.ts.body: "v1,<sig>"
 * per key, space-separated.
 */
void	pgflo_webhook_sign(struct pgflo_buf *out,
	    const struct pgflo_webhook_keys *k, const char *id, long ts,
	    const char *body, size_t len);
/* Appends the first 16 bytes of SHA-256(data) in hex (32 digits). */
void	pgflo_webhook_hash(struct pgflo_buf *out, const void *data,
	    size_t len);
/*
 * Reads a secret file whole into out (a trailing newline dropped); -1
 * with errbuf.  Refuses a file others may read (mode & 077), as ssh
 * does with keys.
 */
int	pgflo_secret_file(const char *path, struct pgflo_buf *out,
	    char *errbuf, size_t errlen);

struct pgflo_webhook_config {
	const char *url;
	const char *const *headers;	/* "K: V", nheaders of them */
	int	 nheaders;
	const char *content_type;
	const char *bearer;		/* token, or NULL */
	const struct pgflo_webhook_keys *keys;	/* or NULL: unsigned */
	long	 timeout_ms;		/* per request */
	long	 max_attempts;		/* 0: unlimited */
	const char *cacert, *cert, *key;	/* TLS files, or NULL */
	int	 verbose;		/* report retries on stderr */
};

/* What a delivery came to. */
enum pgflo_webhook_result {
	PGFLO_WH_OK,		/* 2xx */
	PGFLO_WH_TOO_LARGE,	/* 413: send less */
	PGFLO_WH_REFUSED,	/* another 4xx (or 3xx, 501, 505): permanent */
	PGFLO_WH_GAVE_UP,	/* retryable, but max_attempts used up */
	PGFLO_WH_CONFIG,	/* no wait can help: the TLS files, say */
	PGFLO_WH_STOPPED	/* a stop signal while waiting to retry */
};

struct pgflo_webhook;

/* NULL with errbuf (a URL curl refuses, say). */
struct pgflo_webhook *pgflo_webhook_new(const struct pgflo_webhook_config *cf,
	    char *errbuf, size_t errlen);
void	pgflo_webhook_free(struct pgflo_webhook *w);
/*
 * Checks that url is http(s) and carries no user or password (they
 * would be on argv); -1 with errbuf.
 */
int	pgflo_webhook_url_ok(const char *url, char *errbuf, size_t errlen);
/*
 * POSTs body until a 2xx or a permanent answer, retrying 408, 425,
 * 429, 5xx but 501 and 505, and transport errors (a timeout, a refused
 * or reset connection) with full-jitter backoff (Retry-After, seconds
 * or an HTTP date, when longer), at most max_attempts times.  tick is
 * called at least every 500 ms while waiting.  errbuf says why for
 * anything but PGFLO_WH_OK: "HTTP 410 Gone from URL", say.
 */
enum pgflo_webhook_result pgflo_webhook_deliver(struct pgflo_webhook *w,
	    const char *id, const char *body, size_t len, void (*tick)(void),
	    char *errbuf, size_t errlen);
/* Requests sent and retries, for -v. */
unsigned long pgflo_webhook_requests(const struct pgflo_webhook *w);
unsigned long pgflo_webhook_retries(const struct pgflo_webhook *w);

#endif
