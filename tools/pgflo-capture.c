/*
 * pgflo-capture - logical replication (pgoutput) to change records.
 *
 * Reads a slot with the streaming replication protocol and writes one
 * NDJSON record per change (pgflo-record(5)).  pgoutput v1 sends a
 * transaction only after its commit, change by change, so every record
 * is written as it arrives and memory stays bounded by the largest row.
 * The flush LSN confirmed to the server never passes what is durable:
 * flushed (and fsynced) stdout, or the position a checkpoint store holds.
 */
#include <sys/select.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pgflo.h"
#include "copyprog.h"
#include "ddltrig.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "output.h"
#include "pg2json.h"
#include "pgconn.h"
#include "publication.h"
#include "slot.h"
#include "store.h"
#include "tablepat.h"
#include "typecache.h"

#define SYNOPSIS \
	"pgflo-capture [-n] [-c store] [-E lsn] [-I pos] [-P publication]\n" \
	"       [-s secs] [-t tables] [--create-slot] [--heartbeat secs]\n" \
	"       [--publish-inserts-only | --replica-identity-full]\n" \
	"       [--track-ddl] -d conninfo -S slot\n" \
	"       pgflo-capture --drop [-P publication] -d conninfo -S slot"

#define EPOCH_2000_US	946684800000000LL

enum {
	OPT_CREATE_SLOT = 256, OPT_DROP, OPT_HEARTBEAT, OPT_TRACK_DDL,
	OPT_INSERTS_ONLY, OPT_RI_FULL
};

static const struct option longopts[] = {
	{ "checkpoint",		required_argument, NULL, 'c' },
	{ "create-slot",	no_argument,	   NULL, OPT_CREATE_SLOT },
	{ "dbname",		required_argument, NULL, 'd' },
	{ "drop",		no_argument,	   NULL, OPT_DROP },
	{ "endpos",		required_argument, NULL, 'E' },
	{ "heartbeat",		required_argument, NULL, OPT_HEARTBEAT },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "no-loop",		no_argument,	   NULL, 'n' },
	{ "publication",	required_argument, NULL, 'P' },
	{ "publish-inserts-only", no_argument,	   NULL, OPT_INSERTS_ONLY },
	{ "replica-identity-full", no_argument,	   NULL, OPT_RI_FULL },
	{ "slot",		required_argument, NULL, 'S' },
	{ "start",		required_argument, NULL, 'I' },
	{ "status-interval",	required_argument, NULL, 's' },
	{ "tables",		required_argument, NULL, 't' },
	{ "track-ddl",		no_argument,	   NULL, OPT_TRACK_DDL },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Options. */
static const char *conninfo, *slot, *pubname, *cpurl;
static struct pgflo_buf tablepats;
static int create_slot, dropflag, track_ddl, noloop;
static int pubflags;		/* PGFLO_PUB_*, for -t */
static long status_ms = 10000, heartbeat_ms;
static pgflo_lsn endpos;

/* Connections and caches. */
static PGconn *repl, *cat;
static struct pgflo_typecache *types;
static struct pgflo_store *store;
static char errbuf[1024];
static char ddl_prefix[128];

/* One column of a relation, with its JSON fragments prebuilt. */
struct col {
	char	*name;
	char	*jkey;		/* "name": */
	size_t	 jkeylen;
	uint32_t typoid;
	int	 key;
	struct pgflo_vtype vt;
};

struct rel {
	uint32_t relid;
	char	*schema, *table;
	char	*head;		/* "schema":"s","table":"t" */
	size_t	 headlen;
	char	*meta;		/* "key":[...],"types":{...} */
	size_t	 metalen;
	int	 ncols;
	struct col *cols;
	pgflo_lsn sync;		/* copied again: changes before are in it */
};

static struct rel **rels;
static size_t nrels, caprels;

/* The transaction being received. */
static struct {
	int	 active;	/* between Begin and Commit */
	int	 begun;		/* its begin record was written */
	pgflo_lsn commit_lsn;
	int64_t	 ts;
	uint32_t xid;
	uint64_t ordinal;	/* of the last record */
	char	 lsnfrag[64];	/* "commit_lsn":"X/Y" */
	size_t	 lsnfraglen;
	struct pgflo_buf tail;	/* "xid":N,"commit_ts":"..."[,"origin":".."] */
	char	*origin;
} tx;

/* Positions. */
static struct pgflo_pos skip_pos;	/* records at or before: not written */
static struct pgflo_pos written_pos;	/* the last record written */
static pgflo_lsn done_lsn;	/* all the server sent up to here handled */
static pgflo_lsn flushed_lsn;	/* done_lsn at the last stdout flush */
static pgflo_lsn sent_flush;	/* the flush LSN last confirmed */
static pgflo_lsn sent_write;
static struct pgflo_pos cp_pos;	/* what the checkpoint store holds */
static struct pgflo_copyprog copied;	/* the copy's progress, at start */
static int reached_end;		/* --endpos reached */

static struct pgflo_buf out;	/* the record being written */
static struct pgflo_buf scratch;
static struct pgflo_buf tnames;	/* type names of a relation being read */
static int streaming;		/* in COPY BOTH mode */

static void
help(void)
{
	printf(
"pgflo-capture reads a logical replication slot (pgoutput) and writes one\n"
"change record per line on stdout.\n"
"\n"
"Usage:\n"
"  pgflo-capture [OPTION]... -d CONNINFO -S SLOT\n"
"  pgflo-capture --drop -d CONNINFO -S SLOT\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO     the source database (conninfo string or URI)\n"
"  -S, --slot=SLOT           the logical replication slot\n"
"  -t, --tables=PATTERNS     schema.table patterns, '*' globs, comma list;\n"
"                            creates or updates the publication to match\n"
"  -P, --publication=NAME    the publication (default: the slot's name)\n"
"      --create-slot         create the slot when it does not exist\n"
"  -I, --start=POS           start after POS (X/Y, X/Y:ORDINAL or a\n"
"                            position record)\n"
"  -c, --checkpoint=STORE    confirm only what STORE holds as durable; start\n"
"                            from it when --start is absent\n"
"  -E, --endpos=LSN          stop once everything up to LSN is written\n"
"  -s, --status-interval=SECS  status updates to the server (default 10s)\n"
"      --heartbeat=SECS      emit a heartbeat message this often\n"
"      --track-ddl           capture DDL on the tables as ddl records\n"
"      --replica-identity-full  give tables without a key REPLICA IDENTITY\n"
"                            FULL (alters them) rather than refuse them\n"
"      --publish-inserts-only  publish only inserts and truncates, so that\n"
"                            tables without a key may join\n"
"  -n, --no-loop             exit 3 when the connection is lost\n"
"      --drop                drop the slot, publication and DDL triggers\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_STATUS_INTERVAL, PGFLO_FLUSH, libpq's PG* variables.\n"
"Exit status: 0 ok or stopped, 1 failure, 2 usage or login refused, 3 server\n"
"unreachable, 141 reader gone (SIGPIPE).\n");
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Protocol reading: a cursor over one CopyData message.  Malformed input
 * is a protocol violation: exit 1.
 */
struct cur {
	const unsigned char *p;
	size_t	 n, off;
};

static void
need(struct cur *c, size_t k)
{
	if (c->n - c->off < k)
		pgflo_errx(PGFLO_EXIT_FAIL, "malformed replication message "
		    "(type '%c', %zu bytes)", c->n > 0 ? c->p[0] : '?', c->n);
}

static unsigned
get8(struct cur *c)
{
	need(c, 1);
	return c->p[c->off++];
}

static uint32_t
get32(struct cur *c)
{
	const unsigned char *p;

	need(c, 4);
	p = c->p + c->off;
	c->off += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(struct cur *c)
{
	uint64_t hi = get32(c);

	return hi << 32 | get32(c);
}

static const char *
getstr(struct cur *c)
{
	const char *s = (const char *)c->p + c->off;
	const void *z = memchr(s, '\0', c->n - c->off);

	if (z == NULL)
		need(c, c->n - c->off + 1);
	c->off += (size_t)((const char *)z - s) + 1;
	return s;
}

static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

static void
fmt_ts(int64_t pgus, char out_ts[64])
{
	int64_t us = pgus + EPOCH_2000_US;
	int64_t s = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	t = (time_t)s;
	gmtime_r(&t, &tm);
	snprintf(out_ts, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)frac);
}

/* Relations, by relid. */
static struct rel *
rel_find(uint32_t relid)
{
	size_t i;

	if (caprels == 0)
		return NULL;
	for (i = (relid * 2654435761u) & (caprels - 1); rels[i] != NULL;
	    i = (i + 1) & (caprels - 1))
		if (rels[i]->relid == relid)
			return rels[i];
	return NULL;
}

static void
rel_free(struct rel *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ncols; i++) {
		free(r->cols[i].name);
		free(r->cols[i].jkey);
	}
	free(r->cols);
	free(r->schema);
	free(r->table);
	free(r->head);
	free(r->meta);
	free(r);
}

static void
rel_put(struct rel *r)
{
	struct rel **old = rels;
	size_t i, oldcap = caprels;

	for (i = 0; caprels > 0 && i < caprels; i++)
		if (rels[i] != NULL && rels[i]->relid == r->relid) {
			rel_free(rels[i]);
			rels[i] = r;
			return;
		}
	if ((nrels + 1) * 2 > caprels) {
		caprels = oldcap == 0 ? 32 : oldcap * 2;
		rels = calloc(caprels, sizeof(*rels));
		if (rels == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
		nrels = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i] != NULL)
				rel_put(old[i]);
		free(old);
	}
	for (i = (r->relid * 2654435761u) & (caprels - 1); rels[i] != NULL;
	    i = (i + 1) & (caprels - 1))
		;
	rels[i] = r;
	nrels++;
}

static char *
frag_dup(struct pgflo_buf *b, size_t *len)
{
	char *s = pgflo_xmalloc(b->len + 1);

	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	*len = b->len;
	return s;
}

/* 'R': relid(4) nspname\0 relname\0 replident(1) ncols(2) cols. */
static void
on_relation(struct cur *c)
{
	struct rel *r = pgflo_xmalloc(sizeof(*r));
	struct pgflo_jw w;
	const char *typname;
	int32_t typmod;
	int i;

	memset(r, 0, sizeof(*r));
	r->relid = get32(c);
	r->schema = pgflo_xstrdup(getstr(c));
	r->table = pgflo_xstrdup(getstr(c));
	(void)get8(c);
	r->ncols = (int)(get8(c) << 8);
	r->ncols |= (int)get8(c);
	r->cols = pgflo_xmalloc(sizeof(*r->cols) * (size_t)(r->ncols + 1));
	memset(r->cols, 0, sizeof(*r->cols) * (size_t)(r->ncols + 1));
	if (r->schema[0] == '\0') {
		free(r->schema);
		r->schema = pgflo_xstrdup("pg_catalog");
	}

	pgflo_buf_reset(&scratch);
	pgflo_jw_init(&w, &scratch);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "schema");
	pgflo_jw_str(&w, r->schema);
	pgflo_jw_key(&w, "table");
	pgflo_jw_str(&w, r->table);
	pgflo_jw_obj_end(&w);
	/* Keep the members without the braces. */
	scratch.data[scratch.len - 1] = '\0';
	r->head = pgflo_xstrdup(scratch.data + 1);
	r->headlen = strlen(r->head);

	pgflo_buf_reset(&tnames);
	for (i = 0; i < r->ncols; i++) {
		struct col *cl = &r->cols[i];

		cl->key = get8(c) & 1;
		cl->name = pgflo_xstrdup(getstr(c));
		cl->typoid = get32(c);
		typmod = (int32_t)get32(c);
		pgflo_buf_reset(&scratch);
		pgflo_buf_putc(&scratch, '"');
		pgflo_json_escape(&scratch, cl->name, strlen(cl->name));
		pgflo_buf_putn(&scratch, "\":", 2);
		cl->jkey = frag_dup(&scratch, &cl->jkeylen);
		if (pgflo_typecache_vtype(types, cl->typoid, &cl->vt, errbuf,
		    sizeof(errbuf)) == -1) {
			pgflo_warnx("%s.%s.%s: %s; writing its values as text",
			    r->schema, r->table, cl->name, errbuf);
			memset(&cl->vt, 0, sizeof(cl->vt));
			cl->vt.delim = ',';
		}
		typname = pgflo_typecache_name(types, cl->typoid, typmod,
		    errbuf, sizeof(errbuf));
		if (typname == NULL) {
			pgflo_warnx("%s.%s.%s: %s", r->schema, r->table,
			    cl->name, errbuf);
			typname = "unknown";
		}
		pgflo_buf_puts(&tnames, typname);
		pgflo_buf_putc(&tnames, '\0');
	}
	/* "key":[...],"types":{...}; type names in tnames, NUL-separated. */
	pgflo_buf_reset(&scratch);
	pgflo_jw_init(&w, &scratch);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "key");
	pgflo_jw_arr_begin(&w);
	for (i = 0; i < r->ncols; i++)
		if (r->cols[i].key)
			pgflo_jw_str(&w, r->cols[i].name);
	pgflo_jw_arr_end(&w);
	pgflo_jw_key(&w, "types");
	pgflo_jw_obj_begin(&w);
	{
		const char *tn = tnames.data;

		for (i = 0; i < r->ncols; i++) {
			pgflo_jw_key(&w, r->cols[i].name);
			pgflo_jw_str(&w, tn);
			tn += strlen(tn) + 1;
		}
	}
	pgflo_jw_obj_end(&w);
	pgflo_jw_obj_end(&w);
	scratch.data[scratch.len - 1] = '\0';
	r->meta = pgflo_xstrdup(scratch.data + 1);
	r->metalen = strlen(r->meta);
	/* pgflo-copy re-copied it from a later snapshot (copyprog.c). */
	if (copied.slot != NULL && strcmp(copied.slot, slot) == 0)
		(void)pgflo_copyprog_lookup(&copied, r->schema, r->table,
		    &r->sync);
	rel_put(r);
}

/* 'Y': typoid(4) nspname\0 typname\0: a name for a dropped type. */
static void
on_type(struct cur *c)
{
	uint32_t oid = get32(c);
	const char *nsp = getstr(c);

	pgflo_typecache_hint(types, oid, nsp, getstr(c));
}

static void
emit(void)
{
	if (pgflo_out_line(out.data, out.len) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
}

/* A record's position is (tx.commit_lsn, ordinal): skip if covered. */
static int
skipped(pgflo_lsn lsn, uint64_t ordinal)
{
	struct pgflo_pos p = { lsn, ordinal, 0 };

	return skip_pos.commit_lsn != 0 && pgflo_pos_cmp(&p, &skip_pos) <= 0;
}

static void
mark_written(pgflo_lsn lsn, uint64_t ordinal)
{
	written_pos.commit_lsn = lsn;
	written_pos.ordinal = ordinal;
}

/* Starts a record of the current transaction: {"op":op,[head,]position. */
static void
rec_start(struct pgflo_jw *w, const char *op, const struct rel *r)
{
	pgflo_buf_reset(&out);
	pgflo_jw_init(w, &out);
	pgflo_jw_obj_begin(w);
	pgflo_jw_key(w, "op");
	pgflo_jw_str(w, op);
	if (r != NULL)
		pgflo_jw_raw(w, r->head, r->headlen);
	pgflo_jw_raw(w, tx.lsnfrag, tx.lsnfraglen);
	pgflo_jw_key(w, "ordinal");
	pgflo_jw_uint(w, tx.ordinal);
	pgflo_jw_raw(w, tx.tail.data, tx.tail.len);
}

/* Writes the begin record before the first record of a transaction. */
static void
tx_begin_record(void)
{
	struct pgflo_jw w;
	char ts[64];

	if (tx.begun)
		return;
	tx.begun = 1;
	pgflo_buf_reset(&tx.tail);
	pgflo_jw_init(&w, &tx.tail);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "xid");
	pgflo_jw_uint(&w, tx.xid);
	pgflo_jw_key(&w, "commit_ts");
	fmt_ts(tx.ts, ts);
	pgflo_jw_str(&w, ts);
	if (tx.origin != NULL) {
		pgflo_jw_key(&w, "origin");
		pgflo_jw_str(&w, tx.origin);
	}
	pgflo_jw_obj_end(&w);
	/* Drop the braces: the members are spliced into records. */
	memmove(tx.tail.data, tx.tail.data + 1, tx.tail.len - 2);
	tx.tail.len -= 2;
	if (skipped(tx.commit_lsn, 0))
		return;
	{
		uint64_t ord = tx.ordinal;

		tx.ordinal = 0;
		rec_start(&w, "begin", NULL);
		pgflo_jw_obj_end(&w);
		tx.ordinal = ord;
	}
	emit();
	mark_written(tx.commit_lsn, 0);
}

/* Claims the next ordinal; 0 if the record is to be skipped. */
static int
tx_next(void)
{
	if (!tx.active)
		pgflo_errx(PGFLO_EXIT_FAIL, "change outside a transaction");
	tx_begin_record();
	tx.ordinal++;
	return !skipped(tx.commit_lsn, tx.ordinal);
}

/* 'B': final_lsn(8) commit_ts(8) xid(4). */
static void
on_begin(struct cur *c)
{
	char lsn[PGFLO_LSN_BUFSZ];

	tx.active = 1;
	tx.begun = 0;
	tx.commit_lsn = get64(c);
	tx.ts = (int64_t)get64(c);
	tx.xid = get32(c);
	tx.ordinal = 0;
	free(tx.origin);
	tx.origin = NULL;
	tx.lsnfraglen = (size_t)snprintf(tx.lsnfrag, sizeof(tx.lsnfrag),
	    "\"commit_lsn\":\"%s\"", pgflo_lsn_format(tx.commit_lsn, lsn));
}

/* 'C': flags(1) commit_lsn(8) end_lsn(8) ts(8). */
static void
on_commit(struct cur *c)
{
	struct pgflo_jw w;
	char lsn[PGFLO_LSN_BUFSZ];
	pgflo_lsn end;

	(void)get8(c);
	(void)get64(c);
	end = get64(c);
	if (tx.begun) {
		tx.ordinal++;
		if (!skipped(tx.commit_lsn, tx.ordinal)) {
			rec_start(&w, "commit", NULL);
			pgflo_jw_key(&w, "end_lsn");
			pgflo_jw_str(&w, pgflo_lsn_format(end, lsn));
			pgflo_jw_obj_end(&w);
			emit();
			mark_written(tx.commit_lsn, tx.ordinal);
		}
	}
	tx.active = 0;
	if (end > done_lsn)
		done_lsn = end;
	if (endpos != 0 && (end >= endpos || tx.commit_lsn >= endpos))
		reached_end = 1;
}

/* 'O': commit_lsn(8) name\0. */
static void
on_origin(struct cur *c)
{
	(void)get64(c);
	free(tx.origin);
	tx.origin = pgflo_xstrdup(getstr(c));
}

/*
 * TupleData: ncols(2), then per column 'n', 'u', or 't'/'b' len(4) bytes.
 * keyonly: a 'K' tuple, whose non-key columns are nulls to leave out.
 * unch (may be NULL) collects the unchanged TOAST columns, jnull the
 * json/jsonb columns whose value is JSON null (not SQL NULL).
 */
static void
write_tuple(struct pgflo_jw *w, struct cur *c, const struct rel *r,
    int keyonly, struct pgflo_buf *unch, struct pgflo_buf *jnull)
{
	struct pgflo_jw uw, nw;
	uint32_t len;
	int i, n;
	unsigned kind;

	n = (int)(get8(c) << 8);
	n |= (int)get8(c);
	if (n > r->ncols)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s.%s: %d columns sent, %d "
		    "known", r->schema, r->table, n, r->ncols);
	pgflo_jw_obj_begin(w);
	if (unch != NULL)
		pgflo_jw_init(&uw, unch);
	pgflo_buf_reset(jnull);
	pgflo_jw_init(&nw, jnull);
	for (i = 0; i < n; i++) {
		const struct col *cl = &r->cols[i];

		kind = get8(c);
		switch (kind) {
		case 'n':
			if (keyonly && !cl->key)
				break;
			pgflo_jw_raw(w, cl->jkey, cl->jkeylen);
			w->after_key = 1;
			pgflo_jw_null(w);
			break;
		case 'u':
			if (unch != NULL) {
				if (unch->len == 0)
					pgflo_jw_arr_begin(&uw);
				pgflo_jw_str(&uw, cl->name);
			}
			break;
		case 't':
		case 'b':
			len = get32(c);
			need(c, len);
			pgflo_jw_raw(w, cl->jkey, cl->jkeylen);
			w->after_key = 1;
			if (kind == 't' && pgflo_value_is_json_null(&cl->vt,
			    (const char *)c->p + c->off, len)) {
				if (jnull->len == 0)
					pgflo_jw_arr_begin(&nw);
				pgflo_jw_str(&nw, cl->name);
			}
			if (kind == 't')
				pgflo_value_write(w, &cl->vt,
				    (const char *)c->p + c->off, len);
			else
				pgflo_jw_strn(w, (const char *)c->p + c->off,
				    len);
			c->off += len;
			break;
		default:
			pgflo_errx(PGFLO_EXIT_FAIL, "malformed tuple data "
			    "(column kind '%c')", kind);
		}
	}
	pgflo_jw_obj_end(w);
	if (unch != NULL && unch->len > 0)
		pgflo_jw_arr_end(&uw);
	if (jnull->len > 0)
		pgflo_jw_arr_end(&nw);
}

static struct rel *
rel_get(uint32_t relid)
{
	struct rel *r = rel_find(relid);

	if (r == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "change for unknown relation %u",
		    relid);
	return r;
}

/* 'I' relid 'N' tuple; 'U' relid ['K'|'O' tuple] 'N' tuple; 'D'. */
static void
on_change(struct cur *c, char type)
{
	static struct pgflo_buf unch, jnull;
	struct pgflo_jw w;
	struct rel *r;
	unsigned t;

	r = rel_get(get32(c));
	if (!tx_next() || tx.commit_lsn < r->sync)
		return;
	rec_start(&w, type == 'I' ? "insert" : type == 'U' ? "update" :
	    "delete", r);
	pgflo_jw_raw(&w, r->meta, r->metalen);
	t = get8(c);
	if (t == 'K' || t == 'O') {
		pgflo_jw_key(&w, "old");
		write_tuple(&w, c, r, t == 'K', NULL, &jnull);
		if (jnull.len > 0) {
			pgflo_jw_key(&w, "old_json_null");
			pgflo_jw_raw(&w, jnull.data, jnull.len);
		}
		if (type == 'U')
			t = get8(c);
	}
	pgflo_buf_reset(&unch);
	if (type != 'D') {
		if (t != 'N')
			pgflo_errx(PGFLO_EXIT_FAIL, "malformed change message");
		pgflo_jw_key(&w, "new");
		write_tuple(&w, c, r, 0, &unch, &jnull);
		if (unch.len > 0) {
			pgflo_jw_key(&w, "unchanged");
			pgflo_jw_raw(&w, unch.data, unch.len);
		}
		if (jnull.len > 0) {
			pgflo_jw_key(&w, "json_null");
			pgflo_jw_raw(&w, jnull.data, jnull.len);
		}
	}
	pgflo_jw_obj_end(&w);
	emit();
	mark_written(tx.commit_lsn, tx.ordinal);
}

/* 'T': nrels(4) options(1) relids(4)... */
static void
on_truncate(struct cur *c)
{
	struct pgflo_jw w;
	uint32_t i, n = get32(c);
	unsigned opts = get8(c);
	struct rel *r;

	for (i = 0; i < n; i++) {
		r = rel_get(get32(c));
		if (!tx_next() || tx.commit_lsn < r->sync)
			continue;
		rec_start(&w, "truncate", r);
		pgflo_jw_key(&w, "cascade");
		pgflo_jw_bool(&w, (opts & 1) != 0);
		pgflo_jw_key(&w, "restart_identity");
		pgflo_jw_bool(&w, (opts & 2) != 0);
		pgflo_jw_obj_end(&w);
		emit();
		mark_written(tx.commit_lsn, tx.ordinal);
	}
}

/* A ddl record from one of our DDL trigger's messages. */
static void
ddl_record(const char *content, size_t len)
{
	static const char *const fields[] = { "tag", "object_type",
	    "statement" };
	struct pgflo_jw w;
	json_error_t jerr;
	json_t *m, *v;
	size_t i;

	if ((m = json_loadb(content, len, 0, &jerr)) == NULL ||
	    !json_is_object(m)) {
		pgflo_warnx("ignoring a malformed DDL message: %s", jerr.text);
		json_decref(m);
		return;
	}
	/* The trigger's word about a table it could not add: not a record. */
	if (json_is_string(v = json_object_get(m, "warning"))) {
		if (!skipped(tx.commit_lsn, tx.ordinal + 1))
			pgflo_warnx("warning: %s", json_string_value(v));
		json_decref(m);
		return;
	}
	if (!tx_next()) {
		json_decref(m);
		return;
	}
	pgflo_buf_reset(&out);
	pgflo_jw_init(&w, &out);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "op");
	pgflo_jw_str(&w, "ddl");
	pgflo_jw_key(&w, "schema");
	pgflo_jw_json(&w, (v = json_object_get(m, "schema")) != NULL ? v :
	    json_null());
	pgflo_jw_key(&w, "table");
	pgflo_jw_json(&w, (v = json_object_get(m, "table")) != NULL ? v :
	    json_null());
	pgflo_jw_raw(&w, tx.lsnfrag, tx.lsnfraglen);
	pgflo_jw_key(&w, "ordinal");
	pgflo_jw_uint(&w, tx.ordinal);
	pgflo_jw_raw(&w, tx.tail.data, tx.tail.len);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		pgflo_jw_key(&w, fields[i]);
		pgflo_jw_json(&w, (v = json_object_get(m, fields[i])) != NULL ?
		    v : json_null());
	}
	pgflo_jw_obj_end(&w);
	json_decref(m);
	emit();
	mark_written(tx.commit_lsn, tx.ordinal);
}

static void
hex_content(struct pgflo_jw *w, const unsigned char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	pgflo_buf_reset(&scratch);
	pgflo_buf_putn(&scratch, "\\x", 2);
	for (i = 0; i < len; i++) {
		pgflo_buf_putc(&scratch, hex[p[i] >> 4]);
		pgflo_buf_putc(&scratch, hex[p[i] & 15]);
	}
	pgflo_jw_strn(w, scratch.data, scratch.len);
}

/* 'M': flags(1) lsn(8) prefix\0 len(4) content. */
static void
on_message(struct cur *c)
{
	struct pgflo_jw w;
	unsigned flags = get8(c);
	pgflo_lsn lsn = get64(c);
	const char *prefix = getstr(c);
	const unsigned char *content;
	char lsnbuf[PGFLO_LSN_BUFSZ];
	uint32_t len = get32(c);
	int trans = (flags & 1) != 0;

	need(c, len);
	content = c->p + c->off;
	c->off += len;
	/* Past --endpos: stop without writing it. */
	if (!trans && endpos != 0 && lsn > endpos) {
		reached_end = 1;
		return;
	}
	if (strcmp(prefix, PGFLO_HEARTBEAT_PREFIX) == 0)
		goto done;
	if (strncmp(prefix, PGFLO_DDL_PREFIX, strlen(PGFLO_DDL_PREFIX)) == 0) {
		if (track_ddl && trans && tx.active &&
		    strcmp(prefix, ddl_prefix) == 0)
			ddl_record((const char *)content, len);
		goto done;
	}
	if (trans) {
		if (!tx_next())
			return;
		rec_start(&w, "message", NULL);
	} else {
		if (skipped(lsn, 1))
			goto done;
		pgflo_buf_reset(&out);
		pgflo_jw_init(&w, &out);
		pgflo_jw_obj_begin(&w);
		pgflo_jw_key(&w, "op");
		pgflo_jw_str(&w, "message");
		pgflo_jw_key(&w, "commit_lsn");
		pgflo_jw_str(&w, pgflo_lsn_format(lsn, lsnbuf));
		pgflo_jw_key(&w, "ordinal");
		pgflo_jw_uint(&w, 1);
	}
	pgflo_jw_key(&w, "prefix");
	pgflo_jw_str(&w, prefix);
	if (memchr(content, '\0', len) == NULL &&
	    pgflo_jw_valid_utf8((const char *)content, len)) {
		pgflo_jw_key(&w, "content");
		pgflo_jw_strn(&w, (const char *)content, len);
	} else {
		pgflo_jw_key(&w, "content_hex");
		hex_content(&w, content, len);
	}
	pgflo_jw_key(&w, "transactional");
	pgflo_jw_bool(&w, trans);
	pgflo_jw_obj_end(&w);
	emit();
	if (trans) {
		mark_written(tx.commit_lsn, tx.ordinal);
		return;
	}
	mark_written(lsn, 1);
done:
	if (!trans) {
		if (lsn > done_lsn)
			done_lsn = lsn;
		if (endpos != 0 && lsn >= endpos)
			reached_end = 1;
	}
}

/* One pgoutput message (after the 25-byte XLogData header). */
static void
on_pgoutput(struct cur *c)
{
	char type = (char)get8(c);

	switch (type) {
	case 'B':
		on_begin(c);
		/* Stop before a transaction committed past --endpos. */
		if (endpos != 0 && tx.commit_lsn > endpos) {
			tx.active = 0;
			reached_end = 1;
		}
		break;
	case 'C':
		on_commit(c);
		break;
	case 'R':
		on_relation(c);
		break;
	case 'Y':
		on_type(c);
		break;
	case 'I':
	case 'U':
	case 'D':
		on_change(c, type);
		break;
	case 'T':
		on_truncate(c);
		break;
	case 'O':
		on_origin(c);
		break;
	case 'M':
		on_message(c);
		break;
	default:
		pgflo_errx(PGFLO_EXIT_FAIL, "unknown pgoutput message type "
		    "'%c'", type);
	}
}

/*
 * What pgflo-copy made durable, read once: a table it copied again under
 * a later snapshot holds every change that committed before that
 * snapshot's point, so those are not written again.
 */
static void
load_copied(void)
{
	if (pgflo_copyprog_read(store, &copied, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
}

/* Polls the checkpoint store; keeps the newest position seen. */
static void
poll_checkpoint(void)
{
	struct pgflo_pos p;
	json_t *rec = NULL;
	int r;

	if (store == NULL)
		return;
	r = pgflo_store_get(store, &p, &rec);
	json_decref(rec);
	if (r == -1) {
		pgflo_warnx("%s", store->errmsg);
		return;
	}
	if (r == 1 && p.commit_lsn != 0 && pgflo_pos_cmp(&p, &cp_pos) > 0)
		cp_pos = p;
}

/* The flush LSN we may confirm now (see the file comment). */
static pgflo_lsn
confirmable(void)
{
	pgflo_lsn lsn;

	if (store == NULL)
		lsn = flushed_lsn;
	else if (!tx.active && (written_pos.commit_lsn == 0 ||
	    pgflo_pos_cmp(&cp_pos, &written_pos) >= 0))
		lsn = flushed_lsn;	/* all we wrote is durable */
	else
		/* The transaction at cp_pos is sent again on restart. */
		lsn = cp_pos.commit_lsn < flushed_lsn ? cp_pos.commit_lsn :
		    flushed_lsn;
	return lsn > sent_flush ? lsn : sent_flush;
}

/* Flushes stdout, then sends 'r' write(8) flush(8) apply(8) time(8) reply(1). */
static int
send_status(int force)
{
	unsigned char msg[34];
	pgflo_lsn flush;

	if (done_lsn > flushed_lsn) {
		if (pgflo_out_flush(1) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		flushed_lsn = done_lsn;
	}
	flush = confirmable();
	if (!force && flush == sent_flush && done_lsn == sent_write)
		return 0;
	msg[0] = 'r';
	put64(msg + 1, done_lsn > flush ? done_lsn : flush);
	put64(msg + 9, flush);
	put64(msg + 17, flush);
	put64(msg + 25, (uint64_t)(now_us() - EPOCH_2000_US));
	msg[33] = 0;
	if (PQputCopyData(repl, (const char *)msg, sizeof(msg)) <= 0 ||
	    PQflush(repl) != 0)
		return -1;
	sent_flush = flush;
	sent_write = done_lsn;
	return 0;
}

static void
heartbeat(void)
{
	PGresult *res;

	res = PQexec(cat, "SELECT pg_catalog.pg_logical_emit_message(false, '"
	    PGFLO_HEARTBEAT_PREFIX "', '')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		pgflo_warnx("heartbeat failed: %s", res != NULL ?
		    pgflo_pg_resmsg(res) : pgflo_pg_errmsg(cat));
	PQclear(res);
}

enum { ST_STOP, ST_LOST };

/* Handles one CopyData message from the server. */
static int
on_copydata(const char *buf, int len)
{
	struct cur c = { (const unsigned char *)buf, (size_t)len, 0 };
	pgflo_lsn wal_end;
	unsigned type = get8(&c);

	if (type == 'w') {
		(void)get64(&c);	/* start */
		(void)get64(&c);	/* wal_end */
		(void)get64(&c);	/* send time */
		on_pgoutput(&c);
		return 0;
	}
	if (type == 'k') {
		wal_end = get64(&c);
		(void)get64(&c);
		/* Nothing of ours is pending: the server's position is ours. */
		if (!tx.active && wal_end > done_lsn)
			done_lsn = wal_end;
		if (endpos != 0 && !tx.active && wal_end >= endpos)
			reached_end = 1;
		/* Reply at once: the server pings when it goes idle. */
		return send_status(get8(&c) != 0) == -1 ? -1 : 0;
	}
	pgflo_errx(PGFLO_EXIT_FAIL, "unexpected replication message '%c'",
	    type);
}

/* Streams until stopped or the connection is lost. */
static int
stream(void)
{
	long next_status, next_hb, now, wait;
	struct timeval tv;
	fd_set rfds;
	char *buf;
	int r, sock, burst;

	next_status = pgflo_now_ms() + status_ms;
	next_hb = heartbeat_ms > 0 ? pgflo_now_ms() + heartbeat_ms : 0;
	for (;;) {
		burst = 0;
		r = 0;
		while (!pgflo_stopping() && !reached_end &&
		    (r = PQgetCopyData(repl, &buf, 1)) > 0) {
			if (on_copydata(buf, r) == -1) {
				PQfreemem(buf);
				goto lost;
			}
			PQfreemem(buf);
			burst++;
		}
		if (pgflo_stopping() || reached_end)
			return ST_STOP;
		if (r == -2 || r == -1)
			goto lost;
		now = pgflo_now_ms();
		if (now >= next_status) {
			poll_checkpoint();
			if (send_status(1) == -1)
				goto lost;
			next_status = now + status_ms;
		}
		if (next_hb != 0 && now >= next_hb) {
			heartbeat();
			next_hb = now + heartbeat_ms;
		}
		if (!tx.active && pgflo_out_flush(0) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		/* Let a busy server fill the socket: fewer, larger reads. */
		if (burst > 8) {
			struct timespec ts = { 0, 300000 };

			nanosleep(&ts, NULL);
			if (PQconsumeInput(repl) == 0)
				goto lost;
			continue;
		}
		wait = next_status - now;
		if (next_hb != 0 && next_hb - now < wait)
			wait = next_hb - now;
		if (wait < 0)
			wait = 0;
		/* A dead reader must free the slot even with no WAL flowing. */
		pgflo_out_check_reader();
		if (wait > PGFLO_OUT_CHECK_MS)
			wait = PGFLO_OUT_CHECK_MS;
		sock = PQsocket(repl);
		if (sock < 0)
			goto lost;
		FD_ZERO(&rfds);
		FD_SET(sock, &rfds);
		tv.tv_sec = wait / 1000;
		tv.tv_usec = (wait % 1000) * 1000;
		r = select(sock + 1, &rfds, NULL, NULL, &tv);
		if (r == -1 && errno != EINTR)
			pgflo_err(PGFLO_EXIT_FAIL, "select");
		if (r > 0 && PQconsumeInput(repl) == 0)
			goto lost;
	}
lost:
	snprintf(errbuf, sizeof(errbuf), "%s", pgflo_pg_errmsg(repl));
	return ST_LOST;
}

static void
disconnect(void)
{
	streaming = 0;
	PQfinish(repl);
	repl = NULL;
	PQfinish(cat);
	cat = NULL;
	pgflo_typecache_set_conn(types, NULL);
}

/* A clear message rather than the walsender's refusal.  Exits. */
static void
check_role(void)
{
	PGresult *res;

	res = pgflo_pg_exec(cat, "SELECT rolsuper OR rolreplication, "
	    "current_user FROM pg_catalog.pg_roles WHERE rolname = "
	    "current_user", PGRES_TUPLES_OK, errbuf, sizeof(errbuf));
	if (res == NULL)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	/* Configuration, not bad data: retrying will not help (exit 2). */
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		char role[256];

		snprintf(role, sizeof(role), "%s",
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
		PQclear(res);	/* freed before exit: no leak report */
		pgflo_errx(PGFLO_EXIT_USAGE, "role \"%s\" may not use "
		    "replication: it needs the REPLICATION attribute", role);
	}
	PQclear(res);
}

/* Both connections; 0, or -1 with errbuf set (a connection failure). */
static int
connect_both(int first)
{
	PGresult *res;

	if ((cat = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		return -1;
	if (first)
		check_role();
	if ((repl = pgflo_pg_connect(conninfo, 1, errbuf,
	    sizeof(errbuf))) == NULL) {
		PQfinish(cat);
		cat = NULL;
		return -1;
	}
	pgflo_typecache_set_conn(types, cat);
	if ((res = pgflo_pg_exec(repl, pgflo_pg_session_sql, PGRES_COMMAND_OK,
	    errbuf, sizeof(errbuf))) == NULL) {
		disconnect();
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Role and objects: once, on the first connection.  Exits on failure. */
static void
setup(void)
{
	struct pgflo_tables tables;
	pgflo_lsn confirmed;
	int r = -1;

	if (dropflag) {
		if (pgflo_slot_drop(cat, slot, errbuf, sizeof(errbuf)) == -1 ||
		    pgflo_ddl_drop(cat, slot, errbuf, sizeof(errbuf)) == -1 ||
		    pgflo_pub_drop(cat, pubname, errbuf, sizeof(errbuf)) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		return;
	}
	if (tablepats.len > 0) {
		if (pgflo_tables_resolve(cat, pgflo_buf_cstr(&tablepats),
		    &tables, errbuf, sizeof(errbuf)) == -1 ||
		    (r = pgflo_pub_sync(cat, pubname, &tables, pubflags, NULL,
		    errbuf, sizeof(errbuf))) < 0)
			pgflo_errx(r == -2 ? PGFLO_EXIT_USAGE : PGFLO_EXIT_FAIL,
			    "%s", errbuf);
		pgflo_tables_free(&tables);
	} else if ((r = pgflo_pub_exists(cat, pubname, errbuf,
	    sizeof(errbuf))) != 1)
		pgflo_errx(PGFLO_EXIT_FAIL, r == -1 ? "%s" : "publication "
		    "\"%s\" does not exist (give -t to create it)",
		    r == -1 ? errbuf : pubname);
	if (track_ddl && pgflo_ddl_install(cat, slot, pubname,
	    tablepats.len > 0 ? pgflo_buf_cstr(&tablepats) : NULL, pubflags,
	    errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s (--track-ddl needs a "
		    "superuser)", errbuf);
	if ((r = pgflo_slot_exists(cat, slot, &confirmed, errbuf,
	    sizeof(errbuf))) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	if (r == 0) {
		if (!create_slot)
			pgflo_errx(PGFLO_EXIT_FAIL, "slot \"%s\" does not exist "
			    "(use --create-slot)", slot);
		if (pgflo_slot_create(repl, slot, "nothing", &confirmed, NULL,
		    errbuf, sizeof(errbuf)) == -1 &&
		    pgflo_slot_exists(cat, slot, &confirmed, errbuf,
		    sizeof(errbuf)) != 1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	}
	sent_flush = flushed_lsn = done_lsn = confirmed;
}

static int
start_replication(pgflo_lsn from)
{
	struct pgflo_buf sql = { 0 }, ident = { 0 };
	char lsn[PGFLO_LSN_BUFSZ];
	PGresult *res;

	pgflo_buf_puts(&sql, "START_REPLICATION SLOT ");
	pgflo_pg_quote_ident(&sql, slot);
	pgflo_buf_printf(&sql, " LOGICAL %s (proto_version '1', "
	    "publication_names ", pgflo_lsn_format(from, lsn));
	pgflo_pg_quote_ident(&ident, pubname);
	pgflo_pg_quote_literal(&sql, pgflo_buf_cstr(&ident));
	pgflo_buf_puts(&sql, ", messages 'true')");
	res = PQexec(repl, pgflo_buf_cstr(&sql));
	pgflo_buf_free(&sql);
	pgflo_buf_free(&ident);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		snprintf(errbuf, sizeof(errbuf), "could not start replication: "
		    "%s", pgflo_pg_resmsg(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	streaming = 1;
	return 0;
}

/* Sleeps ms, waking early on a stop signal. */
static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!pgflo_stopping() && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
finish(void)
{
	if (streaming && repl != NULL && PQstatus(repl) == CONNECTION_OK) {
		send_status(1);
		PQputCopyEnd(repl, NULL);
		PQflush(repl);
	}
	disconnect();
	pgflo_typecache_free(types);
	pgflo_store_close(store);
	pgflo_copyprog_free(&copied);
	while (nrels > 0 && caprels > 0) {
		size_t i;

		for (i = 0; i < caprels; i++)
			rel_free(rels[i]);
		nrels = 0;
	}
	free(rels);
	free(tx.origin);
	pgflo_buf_free(&tx.tail);
	pgflo_buf_free(&out);
	pgflo_buf_free(&scratch);
	pgflo_buf_free(&tnames);
	pgflo_buf_free(&tablepats);
}

static void
parse_secs(const char *arg, const char *what, long *ms)
{
	if (pgflo_parse_duration_ms(arg, ms) == -1 || *ms <= 0) {
		pgflo_warnx("bad %s '%s'", what, arg);
		pgflo_usage_exit(SYNOPSIS);
	}
}

int
main(int argc, char *argv[])
{
	const char *startarg = NULL, *endarg = NULL, *env;
	struct pgflo_pos startpos = { 0 };
	long backoff = 1000;
	int ch, first = 1, st;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	if ((env = pgflo_env("STATUS_INTERVAL", NULL)) != NULL)
		parse_secs(env, "PGFLO_STATUS_INTERVAL", &status_ms);
	while ((ch = getopt_long(argc, argv, "E:I:P:S:Vc:d:hns:t:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'E':
			endarg = optarg;
			break;
		case 'I':
			startarg = optarg;
			break;
		case 'P':
			pubname = optarg;
			break;
		case 'S':
			slot = optarg;
			break;
		case 'V':
			pgflo_print_version();
			return 0;
		case 'c':
			cpurl = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'n':
			noloop = 1;
			break;
		case 's':
			parse_secs(optarg, "status interval", &status_ms);
			break;
		case 't':
			if (tablepats.len > 0)
				pgflo_buf_putc(&tablepats, ',');
			pgflo_buf_puts(&tablepats, optarg);
			break;
		case OPT_CREATE_SLOT:
			create_slot = 1;
			break;
		case OPT_DROP:
			dropflag = 1;
			break;
		case OPT_HEARTBEAT:
			parse_secs(optarg, "heartbeat interval", &heartbeat_ms);
			break;
		case OPT_TRACK_DDL:
			track_ddl = 1;
			break;
		case OPT_INSERTS_ONLY:
			pubflags |= PGFLO_PUB_INSERTS_ONLY;
			break;
		case OPT_RI_FULL:
			pubflags |= PGFLO_PUB_RI_FULL;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind != argc) {
		pgflo_warnx("unexpected argument '%s'", argv[optind]);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (slot == NULL) {
		pgflo_warnx("no slot given (-S)");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (!pgflo_slot_name_ok(slot)) {
		pgflo_warnx("bad slot name '%s': use 1 to 63 of a-z, 0-9, _",
		    slot);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pubflags != 0 && tablepats.len == 0) {
		pgflo_warnx("--publish-inserts-only and --replica-identity-full "
		    "need -t");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pubflags == (PGFLO_PUB_INSERTS_ONLY | PGFLO_PUB_RI_FULL)) {
		pgflo_warnx("--publish-inserts-only and --replica-identity-full "
		    "exclude each other");
		pgflo_usage_exit(SYNOPSIS);
	}
	if (pubname == NULL)
		pubname = slot;
	if (endarg != NULL && pgflo_lsn_parse(endarg, &endpos) == -1) {
		pgflo_warnx("bad LSN '%s'", endarg);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (startarg != NULL && (pgflo_pos_parse(startarg, &startpos) == -1 ||
	    startpos.commit_lsn == 0)) {
		pgflo_warnx("bad start position '%s'", startarg);
		pgflo_usage_exit(SYNOPSIS);
	}
	/* A bare LSN is a place to start from, not a record to skip. */
	if (startarg != NULL && strchr(startarg, ':') == NULL &&
	    strchr(startarg, '{') == NULL)
		startpos.ordinal = 0, skip_pos.commit_lsn = 0;
	else
		skip_pos = startpos;
	if (pgflo_pg_conninfo_ok(conninfo, errbuf, sizeof(errbuf)) == -1) {
		pgflo_warnx("%s", errbuf);
		pgflo_usage_exit(SYNOPSIS);
	}
	if (cpurl != NULL && !dropflag) {
		if ((store = pgflo_store_open(cpurl, errbuf,
		    sizeof(errbuf))) == NULL)
			pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
		poll_checkpoint();
		if (startarg == NULL && cp_pos.commit_lsn != 0)
			startpos = skip_pos = cp_pos;
		load_copied();
	}
	snprintf(ddl_prefix, sizeof(ddl_prefix), "%s%s", PGFLO_DDL_PREFIX,
	    slot);

	pgflo_catch_signals();
	pgflo_out_init();
	pgflo_out_clean_stop();
	types = pgflo_typecache_new(NULL);
	for (;;) {
		if (connect_both(first) == -1) {
			/* A refused login does not mend: exit 2, no retry. */
			if (first || noloop ||
			    pgflo_pg_connect_status() == PGFLO_EXIT_USAGE)
				pgflo_errx(pgflo_pg_connect_status(), "could "
				    "not connect: %s", errbuf);
			pgflo_warnx("could not connect: %s; retrying in %lds",
			    errbuf, backoff / 1000);
			goto retry;
		}
		if (first) {
			setup();
			if (dropflag) {
				finish();
				return 0;
			}
			first = 0;
		}
		if (start_replication(startpos.commit_lsn) == -1) {
			if (PQstatus(repl) == CONNECTION_OK)
				pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
			if (noloop)
				pgflo_errx(PGFLO_EXIT_UNAVAIL, "%s", errbuf);
			goto retry;
		}
		backoff = 1000;
		st = stream();
		if (st == ST_STOP)
			break;
		/* Lost: resume after what was written, without repeating it. */
		if (noloop)
			pgflo_errx(PGFLO_EXIT_UNAVAIL, "connection lost: %s",
			    errbuf);
		pgflo_warnx("connection lost: %s; reconnecting in %lds",
		    errbuf, backoff / 1000);
		if (written_pos.commit_lsn != 0 &&
		    pgflo_pos_cmp(&written_pos, &skip_pos) > 0)
			skip_pos = written_pos;
		startpos.commit_lsn = sent_flush;
		tx.active = 0;
retry:
		disconnect();
		nap(backoff);
		if (pgflo_stopping())
			break;
		backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
	}
	if (pgflo_out_flush(1) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	flushed_lsn = done_lsn;
	poll_checkpoint();
	finish();
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
