/*
 * store_nats.c - the nats:BUCKET/KEY checkpoint store: the document is
 * the value of KEY in the NATS JetStream key-value bucket BUCKET (the
 * stream KV_BUCKET, subject $KV.BUCKET.KEY), on the server of
 * PGFLO_NATS_URL.
 *
 * Every write is a compare-and-swap on the key's revision (the stream
 * sequence of its last entry): it expects the revision this process
 * last read or wrote, or no entry at all, and what it writes is merged
 * with the entry at that revision: each kind of position keeps the
 * later one (pgflo_pos_advance()), and the "group" and "copy" members
 * are taken from whichever side changed them since this process last
 * read or wrote the key (ours when both did).  When another writer came
 * between, the entry is read again and the merge and the write are
 * tried again.  So a stored position never moves backwards, whoever
 * writes, even a writer that fell behind another.  A conflict is the
 * server's error code 10071 ("wrong last sequence"), which
 * kvStore_Update() hides behind a generic error (../shared/NATS.md),
 * hence js_Publish() to $KV.BUCKET.KEY, and js_DirectGetMsg() to read.
 *
 * Every call is bounded (NATS_WAIT_MS): the connect, each request and
 * the wait for a reconnect.  Nothing is sent while the connection is
 * down, so writes do not pile up in nats.c's reconnect buffer; one that
 * a disconnect catches in flight may still land after its caller gave
 * up on it, which its compare-and-swap makes harmless (it moves the key
 * forwards from the revision it expects, or is refused).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nats/nats.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "natsconn.h"
#include "store.h"
#include "store_nats.h"

#define NATS_WAIT_MS	2000	/* connect, each request, a reconnect */
#define NATS_PUT_MS	10000	/* conflicting writers: give up after */
#define BUCKET_HISTORY	5	/* entries a new bucket keeps per key */
#define DIRECT_TRIES	3	/* direct gets of a bucket's key */

struct nats_store {
	char	*bucket, *key;
	char	*stream;	/* KV_<bucket> */
	char	*subject;	/* $KV.<bucket>.<key> */
	char	*url;		/* PGFLO_NATS_URL */
	char	*shown;		/* url without user and password */
	struct pgflo_natsconn conn;
	struct pgflo_natsconn_config ncf;
	uint64_t rev;		/* of the key's last entry, as last seen; 0 none */
	int	 known;		/* rev (and seen) are read */
	int	 found;		/* the bucket was there */
	json_t	*seen;		/* the document at rev, or NULL */
	json_t	*prev;		/* the document the caller last read or put */
	int	 status;	/* exit status of the last failure */
};

static int
bucket_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* As nats.c's validKey(): tokens of [-_/\=A-Za-z0-9] between dots. */
static int
key_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
		if (s[i] != '.' && s[i] != '/' && s[i] != '\\' &&
		    s[i] != '=' && !bucket_ok(s + i, 1))
			return 0;
	}
	return 1;
}

static int
nats_open(struct pgflo_store *st, const char *rest)
{
	struct nats_store *ns;
	const char *slash = strchr(rest, '/');

	if (slash == NULL || !bucket_ok(rest, (size_t)(slash - rest)) ||
	    !key_ok(slash + 1)) {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "invalid checkpoint store %s (nats:BUCKET/KEY: a bucket "
		    "of A-Z a-z 0-9 _ -, a key of those and . / \\ =)",
		    st->url);
		return -1;
	}
	ns = pgflo_xmalloc(sizeof(*ns));
	memset(ns, 0, sizeof(*ns));
	ns->bucket = pgflo_xmalloc((size_t)(slash - rest) + 1);
	memcpy(ns->bucket, rest, (size_t)(slash - rest));
	ns->bucket[slash - rest] = '\0';
	ns->key = pgflo_xstrdup(slash + 1);
	ns->stream = pgflo_xmalloc(strlen(ns->bucket) + 4);
	snprintf(ns->stream, strlen(ns->bucket) + 4, "KV_%s", ns->bucket);
	ns->subject = pgflo_xmalloc(strlen(rest) + 6);
	snprintf(ns->subject, strlen(rest) + 6, "$KV.%s.%s", ns->bucket,
	    ns->key);
	ns->url = pgflo_xstrdup(pgflo_env("NATS_URL",
	    PGFLO_NATS_DEFAULT_URL));
	ns->shown = pgflo_natsconn_redact(ns->url);
	ns->status = PGFLO_EXIT_FAIL;
	st->priv = ns;
	return 0;
}

/*
 * Sets st->errmsg to "checkpoint URL: could not WHAT NATS server SERVER:
 * why" and the exit status that s calls for.
 */
static int
fail_why(struct pgflo_store *st, natsStatus s, const char *what,
    const char *why)
{
	struct nats_store *ns = st->priv;

	switch (s) {
	case NATS_NO_SERVER:
	case NATS_TIMEOUT:
	case NATS_IO_ERROR:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_STALE_CONNECTION:
	case NATS_NOT_YET_CONNECTED:
	case NATS_NO_RESPONDERS:
		ns->status = PGFLO_EXIT_UNAVAIL;
		break;
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
		ns->status = PGFLO_EXIT_USAGE;
		break;
	default:
		ns->status = PGFLO_EXIT_FAIL;
	}
	snprintf(st->errmsg, sizeof(st->errmsg),
	    "checkpoint %s: could not %s NATS server %s: %s", st->url, what,
	    ns->shown, why);
	return -1;
}

/* fail_why() with nats.c's words for s, when its last error is s. */
static int
fail(struct pgflo_store *st, natsStatus s, const char *what)
{
	natsStatus last = NATS_OK;
	const char *why = nats_GetLastError(&last);

	if (why == NULL || *why == '\0' || last != s)
		why = natsStatus_GetText(s);
	else if (*why == '(' && strstr(why, "): ") != NULL)
		why = strstr(why, "): ") + 3;	/* nats.c's "(file.c:N): " */
	return fail_why(st, s, what, why);
}

static int
no_bucket(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;

	ns->status = PGFLO_EXIT_USAGE;
	snprintf(st->errmsg, sizeof(st->errmsg),
	    "checkpoint %s: no bucket %s on NATS server %s (pgflo-checkpoint "
	    "--save %s creates it)", st->url, ns->bucket, ns->shown, st->url);
	return -1;
}

/* A get of a bucket not made yet: nothing stored, and st->note why. */
static int
no_bucket_yet(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;

	snprintf(st->note, sizeof(st->note), "no bucket %s on NATS server %s "
	    "yet: pgflo-checkpoint --save %s creates it", ns->bucket,
	    ns->shown, st->url);
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Connected, or -1: the first call connects (failing at once when no
 * server answers); later ones wait NATS_WAIT_MS at most for nats.c to
 * reconnect.
 */
static int
nats_connect(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;
	jsOptions jo;
	char errbuf[600];
	long waited;
	int r;

	if (ns->conn.nc != NULL) {
		for (waited = 0; natsConnection_Status(ns->conn.nc) !=
		    NATS_CONN_STATUS_CONNECTED; waited += 20) {
			if (waited >= NATS_WAIT_MS)
				return fail_why(st, NATS_CONNECTION_DISCONNECTED,
				    "reach", "connection lost, not back within 2 s");
			sleep_ms(20);
		}
		return 0;
	}
	ns->ncf.url = ns->url;
	ns->ncf.timeout_ms = NATS_WAIT_MS;
	jsOptions_Init(&jo);
	if ((r = pgflo_natsconn_open(&ns->conn, &ns->ncf, &jo, errbuf,
	    sizeof(errbuf))) != 0) {
		ns->status = r;
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "checkpoint %s: could not connect to %.400s", st->url,
		    errbuf);
		return -1;
	}
	return 0;
}

/*
 * Whether the bucket's stream exists: 1, 0, or -1.  By its name in the
 * list, never by its info: nats-server 2.9.10 crashes on a request that
 * reads a stream's store (info, $JS.API.STREAM.MSG.GET) while another
 * client is creating that stream.
 */
static int
bucket_exists(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;
	jsStreamNamesList *names = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int i, found = 0;

	if ((s = js_StreamNames(&names, ns->conn.js, NULL, &jerr)) == NATS_NOT_FOUND)
		return 0;	/* no stream at all */
	if (s != NATS_OK)
		return fail(st, s, "use JetStream on");
	for (i = 0; i < names->Count; i++)
		if (strcmp(names->List[i], ns->stream) == 0)
			found = 1;
	jsStreamNamesList_Destroy(names);
	return found;
}

/*
 * Why a request to the bucket found no responder: it is missing, or its
 * stream is there but not (yet) answering, as while another process
 * creates it (unavailable).  -1, or 0 for a read of a missing bucket
 * (nothing stored).
 */
static int
no_responder(struct pgflo_store *st, const char *what, int reading)
{
	int r;

	if ((r = bucket_exists(st)) == -1)
		return -1;
	if (r == 0)
		return reading ? no_bucket_yet(st) : no_bucket(st);
	return fail_why(st, NATS_NO_RESPONDERS, what,
	    "the bucket's stream does not answer");
}

/*
 * The key's last entry: 1 a value (*text new, NUL-terminated), 0 none;
 * *rev its revision (a delete marker's too), 0 when the key never was.
 * A direct get, as nats.c's kvStore_Get() (see bucket_exists()); as
 * one of a missing stream times out, the bucket is looked up first.
 */
static int
fetch(struct pgflo_store *st, char **text, uint64_t *rev)
{
	struct nats_store *ns = st->priv;
	jsDirectGetMsgOptions dgo;
	natsMsg *m = NULL;
	const char *op = NULL, *data;
	natsStatus s;
	int len, r, tries;

	*rev = 0;
	if (nats_connect(st) == -1)
		return -1;
	if (!ns->found) {
		/*
		 * A bucket not made yet holds nothing, as a file not made
		 * yet: a pipeline's first run reads the store before its
		 * pgflo-checkpoint --save creates the bucket.
		 */
		if ((r = bucket_exists(st)) != 1)
			return r == 0 ? no_bucket_yet(st) : -1;
		ns->found = 1;
	}
	jsDirectGetMsgOptions_Init(&dgo);
	dgo.LastBySubject = ns->subject;
	/*
	 * A bucket another process is creating is listed before its stream
	 * answers direct gets: a get then times out, or finds no
	 * responder, for a moment (seen on nats-server 2.9.10 with a
	 * pipeline's capture reading the store as its pgflo-checkpoint
	 * --save creates it).  So such a get is tried again, a few times.
	 */
	for (tries = 1;; tries++) {
		s = js_DirectGetMsg(&m, ns->conn.js, ns->stream, NULL, &dgo);
		if ((s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS) ||
		    tries == DIRECT_TRIES)
			break;
		sleep_ms(100);
		if (nats_connect(st) == -1)
			return -1;
	}
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s == NATS_NO_RESPONDERS)
		return no_responder(st, "read it from", 1);
	if (s != NATS_OK)
		return fail(st, s, "read it from");
	*rev = natsMsg_GetSequence(m);
	st->stamp_ms = natsMsg_GetTime(m) / 1000000;
	if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK &&
	    (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0)) {
		natsMsg_Destroy(m);
		return 0;
	}
	data = natsMsg_GetData(m);
	len = natsMsg_GetDataLength(m);
	if (len > PGFLO_STORE_MAX_BYTES ||
	    (len > 0 && memchr(data, '\0', (size_t)len) != NULL)) {
		ns->status = PGFLO_EXIT_FAIL;
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "corrupt checkpoint %s: %s", st->url,
		    len > PGFLO_STORE_MAX_BYTES ? "more than 1 MiB" :
		    "a NUL byte");
		natsMsg_Destroy(m);
		return -1;
	}
	*text = pgflo_xmalloc((size_t)len + 1);
	memcpy(*text, data, (size_t)len);
	(*text)[len] = '\0';
	natsMsg_Destroy(m);
	return 1;
}

/* Reads the key into rev and seen; a corrupt value is an error. */
static int
refresh(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;
	char *text = NULL, why[256];
	json_t *doc = NULL;
	int r;

	ns->known = 0;
	if ((r = fetch(st, &text, &ns->rev)) == -1)
		return -1;
	if (r == 1 && (doc = pgflo_store_doc_parse(text, why,
	    sizeof(why))) == NULL) {
		ns->status = PGFLO_EXIT_FAIL;
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "corrupt checkpoint %s: %s; not overwritten", st->url, why);
		free(text);
		return -1;
	}
	free(text);
	json_decref(ns->seen);
	ns->seen = doc;
	ns->known = 1;
	return 0;
}

static int
nats_get(struct pgflo_store *st, char **text)
{
	struct nats_store *ns = st->priv;
	char why[256];
	int r;

	ns->known = 0;
	if ((r = fetch(st, text, &ns->rev)) == -1)
		return -1;
	json_decref(ns->seen);
	ns->seen = r == 1 ? pgflo_store_doc_parse(*text, why, sizeof(why)) :
	    NULL;
	/* A corrupt value is reported by the caller, and never merged. */
	ns->known = r == 0 || ns->seen != NULL;
	json_decref(ns->prev);
	ns->prev = json_incref(ns->seen);
	return r;
}

/* Whether a and b (either may be NULL) are the same value. */
static int
same(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return json_equal(a, b);
}

/* Member key of ours when we changed it since prev, else of seen. */
static json_t *
pick(json_t *ours, json_t *seen, json_t *prev, const char *key)
{
	json_t *o = json_object_get(ours, key);

	if (prev == NULL ? o != NULL : !same(o, json_object_get(prev, key)))
		return o;
	return json_object_get(seen, key);
}

/*
 * The document to store over seen (may be NULL): ours with each kind of
 * position the later of the two (see the file comment).  New reference.
 */
static json_t *
merge(json_t *ours, json_t *seen, json_t *prev)
{
	struct pgflo_pos best, p;
	char lsn[PGFLO_LSN_BUFSZ];
	json_t *doc, *v;

	if (seen == NULL)
		return json_incref(ours);
	(void)pgflo_pos_from_json(ours, &best);	/* checked by the caller */
	(void)pgflo_pos_from_json(seen, &p);
	(void)pgflo_pos_advance(&best, &p);
	doc = json_pack("{s:s}", "op", "position");
	if (best.commit_lsn != 0) {
		json_object_set_new(doc, "commit_lsn",
		    json_string(pgflo_lsn_format(best.commit_lsn, lsn)));
		json_object_set_new(doc, "ordinal",
		    json_integer((json_int_t)best.ordinal));
	}
	if (best.stream_seq != 0)
		json_object_set_new(doc, "stream_seq",
		    json_integer((json_int_t)best.stream_seq));
	if ((v = pick(ours, seen, prev, "group")) != NULL)
		json_object_set(doc, "group", v);
	if ((v = pick(ours, seen, prev, "copy")) != NULL)
		json_object_set(doc, "copy", v);
	return doc;
}

/*
 * One compare-and-swap of the key from rev: 1 stored (rev updated), 0
 * someone else wrote it first, -1 error.
 */
static int
cas(struct pgflo_store *st, const char *text, size_t len)
{
	struct nats_store *ns = st->priv;
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (nats_connect(st) == -1)
		return -1;
	jsPubOptions_Init(&po);
	po.MaxWait = NATS_WAIT_MS;
	po.ExpectStream = ns->stream;
	if (ns->rev == 0)
		po.ExpectNoMessage = true;
	else
		po.ExpectLastSubjectSeq = ns->rev;
	s = js_Publish(&pa, ns->conn.js, ns->subject, text, (int)len, &po, &jerr);
	if (s == NATS_OK) {
		ns->rev = pa->Sequence;
		jsPubAck_Destroy(pa);
		return 1;
	}
	if (jerr == JSStreamWrongLastSequenceErr)
		return 0;
	if (jerr == JSStreamNotFoundErr)
		return no_bucket(st);
	if (s == NATS_NO_RESPONDERS)
		return no_responder(st, "write it to", 0);
	return fail(st, s, "write it to");
}

static int
nats_put(struct pgflo_store *st, const char *text, size_t len)
{
	struct nats_store *ns = st->priv;
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;
	json_t *ours, *doc = NULL;
	long until = pgflo_now_ms() + NATS_PUT_MS;
	int r = -1, tries;

	if ((ours = json_loadb(text, len, 0, NULL)) == NULL) {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "checkpoint for %s is not JSON; not stored", st->url);
		return -1;
	}
	if (!ns->known && refresh(st) == -1)
		goto out;
	for (tries = 1;; tries++) {
		json_decref(doc);
		doc = merge(ours, ns->seen, ns->prev);
		if (json_equal(doc, ours))
			r = cas(st, text, len);
		else {
			pgflo_buf_reset(&b);
			pgflo_jw_init(&w, &b);
			pgflo_jw_json(&w, doc);
			pgflo_buf_putc(&b, '\n');
			r = cas(st, b.data, b.len);
		}
		if (r != 0)
			break;
		/* Another writer came between: merge with what it wrote. */
		if ((r = refresh(st)) == -1)
			break;
		if (pgflo_now_ms() >= until) {
			ns->status = PGFLO_EXIT_UNAVAIL;
			snprintf(st->errmsg, sizeof(st->errmsg),
			    "checkpoint %s: could not write it: other writers "
			    "came first %d times in %d s", st->url, tries,
			    NATS_PUT_MS / 1000);
			r = -1;
			break;
		}
	}
	if (r == 1) {
		json_decref(ns->seen);
		ns->seen = json_incref(doc);
		ns->known = 1;
		json_decref(ns->prev);
		ns->prev = json_incref(ours);
	}
out:
	pgflo_buf_free(&b);
	json_decref(doc);
	json_decref(ours);
	return r == 1 ? 0 : -1;
}

static void
nats_close(struct pgflo_store *st)
{
	struct nats_store *ns = st->priv;

	if (ns == NULL)
		return;
	pgflo_natsconn_close(&ns->conn);
	json_decref(ns->seen);
	json_decref(ns->prev);
	free(ns->bucket);
	free(ns->key);
	free(ns->stream);
	free(ns->subject);
	free(ns->url);
	free(ns->shown);
	free(ns);
}

const struct pgflo_store_ops pgflo_store_nats_ops = {
	"nats", nats_open, nats_get, nats_put, nats_close
};

int
pgflo_store_nats_create(struct pgflo_store *st, int replicas)
{
	struct nats_store *ns = st->priv;
	kvStore *kv = NULL;
	kvConfig cfg;
	natsStatus s;
	int r;

	if (nats_connect(st) == -1 || (r = bucket_exists(st)) == -1)
		return -1;
	if (r == 1) {
		ns->found = 1;
		return 0;
	}
	kvConfig_Init(&cfg);
	cfg.Bucket = ns->bucket;
	cfg.History = BUCKET_HISTORY;
	cfg.StorageType = js_FileStorage;
	cfg.Replicas = replicas > 0 ? replicas : 1;
	if ((s = js_CreateKeyValue(&kv, ns->conn.js, &cfg)) == NATS_OK) {
		kvStore_Destroy(kv);
		return 0;
	}
	(void)fail(st, s, "create its bucket on");
	/* A writer beside us may have made it first. */
	if (bucket_exists(st) == 1)
		return 0;
	if (ns->status == PGFLO_EXIT_FAIL)
		ns->status = PGFLO_EXIT_USAGE;
	return -1;
}

int
pgflo_store_nats_status(const struct pgflo_store *st)
{
	const struct nats_store *ns = st->priv;

	return ns != NULL ? ns->status : PGFLO_EXIT_USAGE;
}
