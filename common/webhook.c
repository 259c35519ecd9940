/*
 * webhook.c - one body delivered to a webhook (webhook.h): libcurl for
 * HTTP, OpenSSL's libcrypto (libcurl's own TLS library here) for
 * HMAC-SHA256, SHA-256 and base64.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "pgflo.h"
#include "backoff.h"
#include "webhook.h"

#define BACKOFF_FIRST	250		/* ms, the ceiling of the first wait */
#define BACKOFF_MAX	60000		/* ms, of any wait */
#define RETRY_AFTER_MAX	3600		/* s: a longer Retry-After is cut */
#define ANSWER_MAX	200		/* bytes of a refusal quoted */
#define SECRET_MAX	65536		/* bytes of a secret file */

struct pgflo_webhook {
	struct pgflo_webhook_config cf;
	CURL	*curl;
	char	*shown;			/* the URL without query: messages */
	struct pgflo_buf sig, hdr;	/* scratch */
	char	 reason[64];		/* of the status line */
	char	 answer[ANSWER_MAX + 1];	/* the start of a response body */
	size_t	 nanswer;
	char	 curlerr[CURL_ERROR_SIZE];
	unsigned long nrequests, nretries;
};

/* ---- keys and signatures ---- */

/* Decodes base64 s (n bytes) into a new buffer; -1 if not base64. */
static int
b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *b;
	int len, pad = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	b = pgflo_xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(b, (const unsigned char *)s, (int)n);
	if (len < 0 || len - pad <= 0) {
		free(b);
		return -1;
	}
	*out = b;
	*outlen = (size_t)(len - pad);
	return 0;
}

int
pgflo_webhook_keys_parse(struct pgflo_webhook_keys *k, const char *text,
    const char *what, char *errbuf, size_t errlen)
{
	const char *p = text, *e;
	int nth = 0;

	for (;;) {
		unsigned char *key;
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && !isspace((unsigned char)*e); e++)
			;
		nth++;
		if ((size_t)(e - p) > 6 && strncmp(p, "whsec_", 6) == 0)
			p += 6;
		if (b64_decode(p, (size_t)(e - p), &key, &len) == -1) {
			snprintf(errbuf, errlen, "secret %d of %s is not "
			    "\"whsec_\" and base64", nth, what);
			return -1;
		}
		k->key = pgflo_xrealloc(k->key, (size_t)(k->n + 1) *
		    sizeof(*k->key));
		k->len = pgflo_xrealloc(k->len, (size_t)(k->n + 1) *
		    sizeof(*k->len));
		k->key[k->n] = key;
		k->len[k->n] = len;
		k->n++;
		p = e;
	}
	if (nth == 0) {
		snprintf(errbuf, errlen, "no secret in %s", what);
		return -1;
	}
	return 0;
}

void
pgflo_webhook_keys_free(struct pgflo_webhook_keys *k)
{
	int i;

	for (i = 0; i < k->n; i++) {
		/* Not left lying in freed memory. */
		memset(k->key[i], 0, k->len[i]);
		free(k->key[i]);
	}
	free(k->key);
	free(k->len);
	memset(k, 0, sizeof(*k));
}

void
pgflo_webhook_sign(struct pgflo_buf *out, const struct pgflo_webhook_keys *k,
    const char *id, long ts, const char *body, size_t len)
{
	static EVP_MAC *mac;
	OSSL_PARAM params[2];
	unsigned char md[EVP_MAX_MD_SIZE];
	char b64[4 * EVP_MAX_MD_SIZE / 3 + 8], tsb[32];
	size_t mdlen;
	int i;

	if (mac == NULL && (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "libcrypto has no HMAC");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	snprintf(tsb, sizeof(tsb), ".%ld.", ts);
	for (i = 0; i < k->n; i++) {
		EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);

		if (c == NULL || EVP_MAC_init(c, k->key[i], k->len[i],
		    params) != 1 ||
		    EVP_MAC_update(c, (const unsigned char *)id,
		    strlen(id)) != 1 ||
		    EVP_MAC_update(c, (const unsigned char *)tsb,
		    strlen(tsb)) != 1 ||
		    EVP_MAC_update(c, (const unsigned char *)body, len) != 1 ||
		    EVP_MAC_final(c, md, &mdlen, sizeof(md)) != 1)
			pgflo_errx(PGFLO_EXIT_FAIL, "HMAC-SHA256 failed");
		EVP_MAC_CTX_free(c);
		EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
		pgflo_buf_printf(out, "%sv1,%s", i > 0 ? " " : "", b64);
	}
}

void
pgflo_webhook_hash(struct pgflo_buf *out, const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
		pgflo_errx(PGFLO_EXIT_FAIL, "SHA-256 failed");
	for (i = 0; i < 16 && i < n; i++)
		pgflo_buf_printf(out, "%02x", md[i]);
}

int
pgflo_secret_file(const char *path, struct pgflo_buf *out, char *errbuf,
    size_t errlen)
{
	struct stat st;
	char b[4096];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(errbuf, errlen, "could not open %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(errbuf, errlen, "%s may be read by others (mode "
		    "%04o): chmod 600 it", path, (unsigned)st.st_mode & 07777);
		close(fd);
		return -1;
	}
	while ((n = read(fd, b, sizeof(b))) > 0 && out->len < SECRET_MAX)
		pgflo_buf_putn(out, b, (size_t)n);
	if (n == -1)
		snprintf(errbuf, errlen, "could not read %s: %s", path,
		    strerror(errno));
	memset(b, 0, sizeof(b));
	close(fd);
	if (n == -1)
		return -1;
	while (out->len > 0 && (out->data[out->len - 1] == '\n' ||
	    out->data[out->len - 1] == '\r'))
		out->len--;
	pgflo_buf_cstr(out);
	return 0;
}

/* ---- the request ---- */

int
pgflo_webhook_url_ok(const char *url, char *errbuf, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL;
	CURLUcode rc;
	int r = -1;

	if (u == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
	if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK)
		snprintf(errbuf, errlen, "%s", curl_url_strerror(rc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		snprintf(errbuf, errlen, "not an http or https URL");
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
		snprintf(errbuf, errlen, "a user or password in the URL "
		    "(on the command line): use --bearer-file");
	else
		r = 0;
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return r;
}

/* scheme://host[:port]/path: the query may hold a token. */
static char *
shown_url(const char *url)
{
	CURLU *u = curl_url();
	char *s = NULL, *r;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		r = pgflo_xstrdup(s);
	else
		r = pgflo_xstrdup("the URL");
	curl_free(s);
	curl_url_cleanup(u);
	return r;
}

/* The response body: its start is kept to quote a refusal. */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct pgflo_webhook *w = arg;
	size_t len = size * n, k = ANSWER_MAX - w->nanswer;

	if (k > len)
		k = len;
	memcpy(w->answer + w->nanswer, p, k);
	w->nanswer += k;
	w->answer[w->nanswer] = '\0';
	return len;
}

/* The status line's reason phrase ("HTTP/1.1 503 Service Unavailable"). */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct pgflo_webhook *w = arg;
	size_t len = size * n, i;
	const char *s;

	if (len > 9 && strncmp(p, "HTTP/", 5) == 0 &&
	    (s = memchr(p, ' ', len)) != NULL &&
	    (s = memchr(s + 1, ' ', len - (size_t)(s + 1 - p))) != NULL) {
		s++;
		for (i = 0; i + 1 < sizeof(w->reason) && s + i < p + len &&
		    s[i] != '\r' && s[i] != '\n'; i++)
			w->reason[i] = s[i];
		w->reason[i] = '\0';
	}
	return len;
}

struct pgflo_webhook *
pgflo_webhook_new(const struct pgflo_webhook_config *cf, char *errbuf,
    size_t errlen)
{
	struct pgflo_webhook *w;
	static int inited;
	CURL *c;

	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(errbuf, errlen, "could not initialize libcurl");
		return NULL;
	}
	inited = 1;
	if ((c = curl_easy_init()) == NULL) {
		snprintf(errbuf, errlen, "could not initialize libcurl");
		return NULL;
	}
	w = pgflo_xmalloc(sizeof(*w));
	memset(w, 0, sizeof(*w));
	w->cf = *cf;
	w->curl = c;
	w->shown = shown_url(cf->url);
	curl_easy_setopt(c, CURLOPT_URL, cf->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cf->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pgflo-sink-http/"
	    PGFLO_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->curlerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (cf->cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, cf->cacert);
	if (cf->cert != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, cf->cert);
	if (cf->key != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, cf->key);
	return w;
}

void
pgflo_webhook_free(struct pgflo_webhook *w)
{
	if (w == NULL)
		return;
	curl_easy_cleanup(w->curl);
	free(w->shown);
	pgflo_buf_free(&w->sig);
	pgflo_buf_free(&w->hdr);
	free(w);
}

static struct curl_slist *
add_header(struct curl_slist *l, struct pgflo_buf *b, const char *fmt, ...)
    PGFLO_PRINTF(3, 4);
static struct curl_slist *
add_header(struct curl_slist *l, struct pgflo_buf *b, const char *fmt, ...)
{
	struct curl_slist *n;
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	pgflo_buf_reset(b);
	pgflo_buf_grow(b, (size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(b->data, (size_t)len + 1, fmt, ap);
	va_end(ap);
	s = b->data;
	if ((n = curl_slist_append(l, s)) == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
	memset(s, 0, (size_t)len);	/* it may hold the token */
	return n;
}

/* The headers of one attempt (its own webhook-timestamp and signature). */
static struct curl_slist *
headers(struct pgflo_webhook *w, const char *id, const char *body,
    size_t len)
{
	struct curl_slist *l = NULL;
	long ts = (long)time(NULL);
	int i, own_type = 0;

	for (i = 0; i < w->cf.nheaders; i++)
		if (strncasecmp(w->cf.headers[i], "content-type:", 13) == 0)
			own_type = 1;
	if (!own_type)
		l = add_header(l, &w->hdr, "Content-Type: %s",
		    w->cf.content_type);
	l = add_header(l, &w->hdr, "Expect:");
	l = add_header(l, &w->hdr, "webhook-id: %s", id);
	l = add_header(l, &w->hdr, "webhook-timestamp: %ld", ts);
	if (w->cf.keys != NULL && w->cf.keys->n > 0) {
		pgflo_buf_reset(&w->sig);
		pgflo_webhook_sign(&w->sig, w->cf.keys, id, ts, body, len);
		l = add_header(l, &w->hdr, "webhook-signature: %s",
		    pgflo_buf_cstr(&w->sig));
	}
	if (w->cf.bearer != NULL)
		l = add_header(l, &w->hdr, "Authorization: Bearer %s",
		    w->cf.bearer);
	for (i = 0; i < w->cf.nheaders; i++)
		l = add_header(l, &w->hdr, "%s", w->cf.headers[i]);
	return l;
}

/* What a status means: OK, TOO_LARGE, REFUSED, or -1 to retry. */
static int
classify(long code)
{
	if (code >= 200 && code < 300)
		return PGFLO_WH_OK;
	if (code == 413)
		return PGFLO_WH_TOO_LARGE;
	if (code == 408 || code == 425 || code == 429 ||
	    (code >= 500 && code != 501 && code != 505))
		return -1;
	return PGFLO_WH_REFUSED;
}

/* A transport error no wait can fix (the local TLS files, say). */
static int
fatal_curl(CURLcode rc)
{
	return rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_CRL_BADFILE || rc == CURLE_UNSUPPORTED_PROTOCOL ||
	    rc == CURLE_URL_MALFORMAT || rc == CURLE_NOT_BUILT_IN ||
	    rc == CURLE_OUT_OF_MEMORY;
}

/* The refusal's start, on one line. */
static void
quote_answer(struct pgflo_webhook *w, char *errbuf, size_t errlen)
{
	size_t n = strlen(errbuf), i;

	for (i = 0; i < w->nanswer; i++)
		if ((unsigned char)w->answer[i] < 0x20)
			w->answer[i] = ' ';
	while (w->nanswer > 0 && w->answer[w->nanswer - 1] == ' ')
		w->answer[--w->nanswer] = '\0';
	if (w->nanswer > 0 && n < errlen)
		snprintf(errbuf + n, errlen - n, ": %s", w->answer);
}

/*
 * One attempt: a result, or -1 to retry with errbuf set and
 * *retry_after the server's wish (s).
 */
static int
attempt(struct pgflo_webhook *w, const char *id, const char *body,
    size_t len, long *retry_after, char *errbuf, size_t errlen)
{
	struct curl_slist *l = headers(w, id, body, len);
	curl_off_t ra = 0;
	long code = 0;
	CURLcode rc;
	int r;

	w->reason[0] = w->curlerr[0] = w->answer[0] = '\0';
	w->nanswer = 0;
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)len);
	w->nrequests++;
	rc = curl_easy_perform(w->curl);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(l);
	*retry_after = 0;
	if (rc != CURLE_OK) {
		snprintf(errbuf, errlen, "could not POST to %s: %s", w->shown,
		    w->curlerr[0] != '\0' ? w->curlerr :
		    curl_easy_strerror(rc));
		return fatal_curl(rc) ? PGFLO_WH_CONFIG : -1;
	}
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	r = classify(code);
	if (r == PGFLO_WH_OK)
		return r;
	snprintf(errbuf, errlen, "HTTP %ld%s%s from %s", code,
	    w->reason[0] != '\0' ? " " : "", w->reason, w->shown);
	quote_answer(w, errbuf, errlen);
	if (r == -1 && curl_easy_getinfo(w->curl, CURLINFO_RETRY_AFTER,
	    &ra) == CURLE_OK && ra > 0)
		*retry_after = ra > RETRY_AFTER_MAX ? RETRY_AFTER_MAX :
		    (long)ra;
	return r;
}

enum pgflo_webhook_result
pgflo_webhook_deliver(struct pgflo_webhook *w, const char *id,
    const char *body, size_t len, void (*tick)(void), char *errbuf,
    size_t errlen)
{
	struct pgflo_backoff b;
	long n = 0, ra, ms;
	int r;

	pgflo_backoff_init(&b, BACKOFF_FIRST, BACKOFF_MAX);
	pgflo_backoff_jitter(&b);
	for (;;) {
		if ((r = attempt(w, id, body, len, &ra, errbuf,
		    errlen)) != -1)
			return r;
		if (w->cf.max_attempts > 0 && ++n >= w->cf.max_attempts) {
			size_t k = strlen(errbuf);

			snprintf(errbuf + k, errlen - k, " (%ld attempts)", n);
			return PGFLO_WH_GAVE_UP;
		}
		ms = pgflo_backoff_next(&b);
		if (ra * 1000 > ms)
			ms = ra * 1000;
		pgflo_warnx("%s; again in %.1f s", errbuf, ms / 1000.0);
		w->nretries++;
		if (pgflo_sleep_ms(ms, tick, 500) == -1)
			return PGFLO_WH_STOPPED;
	}
}

unsigned long
pgflo_webhook_requests(const struct pgflo_webhook *w)
{
	return w->nrequests;
}

unsigned long
pgflo_webhook_retries(const struct pgflo_webhook *w)
{
	return w->nretries;
}
