/*
 * pgoutput.c - pgoutput messages into change records (pgoutput.h).
 * Each handler reads its whole message before it writes anything, so
 * that a malformed one (the cursor's bad flag) fails before its record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "copyprog.h"
#include "ddltrig.h"
#include "jsonwrite.h"
#include "lsn.h"
#include "map.h"
#include "pgoutput.h"
#include "relmeta.h"
#include "slot.h"
#include "typecache.h"

/* A relation as the last Relation message described it. */
struct rel {
	struct pgflo_relmeta *m;
	pgflo_lsn sync;		/* copied again: changes before are in it */
};

struct pgoutput_state {
	struct pgflo_map rels;	/* relid (4 bytes) -> struct rel */
	/* The last one looked up: changes come in runs of one relation. */
	struct rel *last;
	uint32_t lastid;
	/* The transaction being received. */
	struct {
		int	 begun;		/* its begin record was written */
		pgflo_lsn commit_lsn;
		int64_t	 ts;
		uint32_t xid;
		uint64_t ordinal;	/* of the last record */
		char	 lsnfrag[64];	/* "commit_lsn":"X/Y" */
		size_t	 lsnfraglen;
		/* "xid":N,"commit_ts":"..."[,"origin":"..."] */
		struct pgflo_buf tail;
		char	*origin;
	} tx;
	struct pgflo_buf out;	/* the record being written */
	struct pgflo_buf scratch;
	struct pgflo_buf unch, jnull;
	char	 ddl_prefix[128];
	char	*errbuf;	/* the caller's, during a decode */
	size_t	 errlen;
};

static int
fail(struct pgflo_pgoutput *d, const char *fmt, ...) PGFLO_PRINTF(2, 3);

static int
fail(struct pgflo_pgoutput *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->st->errbuf, d->st->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The cursor ran past the message: -1, errbuf naming it. */
static int
malformed(struct pgflo_pgoutput *d, const struct pgflo_cur *c)
{
	pgflo_cur_error(c, d->st->errbuf, d->st->errlen);
	return -1;
}

struct pgflo_pgoutput *
pgflo_pgoutput_new(void)
{
	struct pgflo_pgoutput *d = pgflo_xmalloc(sizeof(*d));

	memset(d, 0, sizeof(*d));
	d->st = pgflo_xmalloc(sizeof(*d->st));
	memset(d->st, 0, sizeof(*d->st));
	return d;
}

static void
rel_free(void *p)
{
	struct rel *r = p;

	if (r == NULL)
		return;
	pgflo_relmeta_free(r->m);
	free(r);
}

void
pgflo_pgoutput_free(struct pgflo_pgoutput *d)
{
	struct pgoutput_state *st;

	if (d == NULL)
		return;
	st = d->st;
	pgflo_map_clear(&st->rels, rel_free);
	free(st->tx.origin);
	pgflo_buf_free(&st->tx.tail);
	pgflo_buf_free(&st->out);
	pgflo_buf_free(&st->scratch);
	pgflo_buf_free(&st->unch);
	pgflo_buf_free(&st->jnull);
	free(st);
	free(d);
}

static void
emit(struct pgflo_pgoutput *d)
{
	d->emit(d->st->out.data, d->st->out.len);
}

/* A record's position is (commit_lsn, ordinal): skip if covered. */
static int
skipped(const struct pgflo_pgoutput *d, pgflo_lsn lsn, uint64_t ordinal)
{
	struct pgflo_pos p = { lsn, ordinal, 0 };

	return d->skip.commit_lsn != 0 && pgflo_pos_cmp(&p, &d->skip) <= 0;
}

static void
mark_written(struct pgflo_pgoutput *d, pgflo_lsn lsn, uint64_t ordinal)
{
	d->written.commit_lsn = lsn;
	d->written.ordinal = ordinal;
}

/* Opens a record {"op":op: the caller adds the rest. */
static void
rec_open(struct pgflo_pgoutput *d, struct pgflo_jw *w, const char *op)
{
	pgflo_buf_reset(&d->st->out);
	pgflo_jw_init(w, &d->st->out);
	pgflo_jw_obj_begin(w);
	pgflo_jw_key(w, "op");
	pgflo_jw_str(w, op);
}

/* The position members of a record of the current transaction. */
static void
rec_position(struct pgflo_pgoutput *d, struct pgflo_jw *w)
{
	struct pgoutput_state *st = d->st;

	pgflo_jw_raw(w, st->tx.lsnfrag, st->tx.lsnfraglen);
	pgflo_jw_key(w, "ordinal");
	pgflo_jw_uint(w, st->tx.ordinal);
	pgflo_jw_raw(w, st->tx.tail.data, st->tx.tail.len);
}

/* Starts a record of the current transaction: {"op":op,[head,]position. */
static void
rec_start(struct pgflo_pgoutput *d, struct pgflo_jw *w, const char *op,
    const struct rel *r)
{
	rec_open(d, w, op);
	if (r != NULL)
		pgflo_jw_raw(w, r->m->head, r->m->headlen);
	rec_position(d, w);
}

/* Writes the begin record before the first record of a transaction. */
static void
tx_begin_record(struct pgflo_pgoutput *d)
{
	struct pgoutput_state *st = d->st;
	struct pgflo_jw w;
	uint64_t ord;
	char ts[64];

	if (st->tx.begun)
		return;
	st->tx.begun = 1;
	pgflo_buf_reset(&st->tx.tail);
	pgflo_jw_init(&w, &st->tx.tail);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "xid");
	pgflo_jw_uint(&w, st->tx.xid);
	pgflo_jw_key(&w, "commit_ts");
	pgflo_repl_ts_format(st->tx.ts, ts);
	pgflo_jw_str(&w, ts);
	if (st->tx.origin != NULL) {
		pgflo_jw_key(&w, "origin");
		pgflo_jw_str(&w, st->tx.origin);
	}
	pgflo_jw_obj_end(&w);
	/* Drop the braces: the members are spliced into records. */
	memmove(st->tx.tail.data, st->tx.tail.data + 1, st->tx.tail.len - 2);
	st->tx.tail.len -= 2;
	if (skipped(d, st->tx.commit_lsn, 0))
		return;
	ord = st->tx.ordinal;
	st->tx.ordinal = 0;
	rec_start(d, &w, "begin", NULL);
	pgflo_jw_obj_end(&w);
	st->tx.ordinal = ord;
	emit(d);
	mark_written(d, st->tx.commit_lsn, 0);
}

/* Claims the next ordinal: 1 to write the record, 0 to skip it, -1. */
static int
tx_next(struct pgflo_pgoutput *d)
{
	if (!d->in_tx)
		return fail(d, "change outside a transaction");
	tx_begin_record(d);
	d->st->tx.ordinal++;
	return !skipped(d, d->st->tx.commit_lsn, d->st->tx.ordinal);
}

/* 'B': final_lsn(8) commit_ts(8) xid(4). */
static int
on_begin(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	struct pgoutput_state *st = d->st;
	char lsn[PGFLO_LSN_BUFSZ];

	d->in_tx = 1;
	st->tx.begun = 0;
	st->tx.commit_lsn = pgflo_cur_get64(c);
	st->tx.ts = (int64_t)pgflo_cur_get64(c);
	d->commit_ts = st->tx.ts;
	st->tx.xid = pgflo_cur_get32(c);
	if (c->bad)
		return malformed(d, c);
	st->tx.ordinal = 0;
	free(st->tx.origin);
	st->tx.origin = NULL;
	st->tx.lsnfraglen = (size_t)snprintf(st->tx.lsnfrag,
	    sizeof(st->tx.lsnfrag), "\"commit_lsn\":\"%s\"",
	    pgflo_lsn_format(st->tx.commit_lsn, lsn));
	/* Stop before a transaction committed past endpos. */
	if (d->endpos != 0 && st->tx.commit_lsn > d->endpos) {
		d->in_tx = 0;
		d->reached_end = 1;
	}
	return 0;
}

/* 'C': flags(1) commit_lsn(8) end_lsn(8) ts(8). */
static int
on_commit(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	struct pgoutput_state *st = d->st;
	struct pgflo_jw w;
	char lsn[PGFLO_LSN_BUFSZ];
	pgflo_lsn end;

	(void)pgflo_cur_get8(c);
	(void)pgflo_cur_get64(c);
	end = pgflo_cur_get64(c);
	if (c->bad)
		return malformed(d, c);
	if (st->tx.begun) {
		st->tx.ordinal++;
		if (!skipped(d, st->tx.commit_lsn, st->tx.ordinal)) {
			rec_start(d, &w, "commit", NULL);
			pgflo_jw_key(&w, "end_lsn");
			pgflo_jw_str(&w, pgflo_lsn_format(end, lsn));
			pgflo_jw_obj_end(&w);
			emit(d);
			mark_written(d, st->tx.commit_lsn, st->tx.ordinal);
		}
	}
	d->in_tx = 0;
	if (end > d->done)
		d->done = end;
	if (d->endpos != 0 && (end >= d->endpos ||
	    st->tx.commit_lsn >= d->endpos))
		d->reached_end = 1;
	return 0;
}

/* 'O': commit_lsn(8) name\0. */
static int
on_origin(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	const char *name;

	(void)pgflo_cur_get64(c);
	name = pgflo_cur_str(c);
	if (c->bad)
		return malformed(d, c);
	free(d->st->tx.origin);
	d->st->tx.origin = pgflo_xstrdup(name);
	return 0;
}

/*
 * 'R': relid(4) nspname\0 relname\0 replident(1) ncols(2), then per
 * column flags(1) name\0 typoid(4) typmod(4).
 */
static int
on_relation(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	struct rel *r;
	const char *nsp, *name;
	uint32_t relid;
	int i, ncols;

	relid = pgflo_cur_get32(c);
	nsp = pgflo_cur_str(c);
	name = pgflo_cur_str(c);
	(void)pgflo_cur_get8(c);
	ncols = (int)(pgflo_cur_get8(c) << 8);
	ncols |= (int)pgflo_cur_get8(c);
	r = pgflo_xmalloc(sizeof(*r));
	r->sync = 0;
	r->m = pgflo_relmeta_new(nsp, name, ncols);
	for (i = 0; i < ncols && !c->bad; i++) {
		struct pgflo_relcol *cl = &r->m->cols[i];

		cl->key = pgflo_cur_get8(c) & 1;
		cl->name = pgflo_xstrdup(pgflo_cur_str(c));
		cl->typoid = pgflo_cur_get32(c);
		cl->typmod = (int32_t)pgflo_cur_get32(c);
	}
	if (c->bad) {
		rel_free(r);
		return malformed(d, c);
	}
	pgflo_relmeta_build(r->m, d->types);
	/* pgflo-copy re-copied it from a later snapshot (copyprog.c). */
	if (d->copied != NULL)
		(void)pgflo_copyprog_lookup(d->copied, r->m->schema,
		    r->m->table, &r->sync);
	d->st->last = NULL;
	rel_free(pgflo_map_put(&d->st->rels, &relid, sizeof(relid), r));
	return 0;
}

/* 'Y': typoid(4) nspname\0 typname\0: a name for a dropped type. */
static int
on_type(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	uint32_t oid = pgflo_cur_get32(c);
	const char *nsp = pgflo_cur_str(c);
	const char *name = pgflo_cur_str(c);

	if (c->bad)
		return malformed(d, c);
	pgflo_typecache_hint(d->types, oid, nsp, name);
	return 0;
}

/* The relation of a change: NULL with errbuf set when never described. */
static struct rel *
rel_get(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	uint32_t relid = pgflo_cur_get32(c);
	struct rel *r;

	if (c->bad) {
		malformed(d, c);
		return NULL;
	}
	if (d->st->last != NULL && d->st->lastid == relid)
		return d->st->last;
	if ((r = pgflo_map_get(&d->st->rels, &relid, sizeof(relid))) == NULL)
		fail(d, "change for unknown relation %u", relid);
	d->st->last = r;
	d->st->lastid = relid;
	return r;
}

/*
 * TupleData: ncols(2), then per column 'n', 'u', or 't'/'b' len(4) bytes.
 * keyonly: a 'K' tuple, whose non-key columns are nulls to leave out.
 * unch (may be NULL) collects the unchanged TOAST columns, jnull the
 * json/jsonb columns whose value is JSON null (not SQL NULL).
 */
static int
write_tuple(struct pgflo_pgoutput *d, struct pgflo_jw *w, struct pgflo_cur *c,
    const struct rel *r, int keyonly, struct pgflo_buf *unch,
    struct pgflo_buf *jnull)
{
	const struct pgflo_relmeta *m = r->m;
	const unsigned char *p;
	struct pgflo_jw uw, nw;
	uint32_t len;
	int i, n;
	unsigned kind;

	n = (int)(pgflo_cur_get8(c) << 8);
	n |= (int)pgflo_cur_get8(c);
	if (c->bad)
		return malformed(d, c);
	if (n > m->ncols)
		return fail(d, "%s.%s: %d columns sent, %d known", m->schema,
		    m->table, n, m->ncols);
	pgflo_jw_obj_begin(w);
	if (unch != NULL)
		pgflo_jw_init(&uw, unch);
	pgflo_buf_reset(jnull);
	pgflo_jw_init(&nw, jnull);
	for (i = 0; i < n; i++) {
		const struct pgflo_relcol *cl = &m->cols[i];

		switch (kind = pgflo_cur_get8(c)) {
		case 'n':
			if (!keyonly || cl->key)
				pgflo_relmeta_value(w, cl, NULL, 0, &nw);
			break;
		case 'u':
			if (unch != NULL) {
				if (unch->len == 0)
					pgflo_jw_arr_begin(&uw);
				pgflo_jw_raw(&uw, cl->jkey, cl->jkeylen - 1);
			}
			break;
		case 't':
		case 'b':
			len = pgflo_cur_get32(c);
			if ((p = pgflo_cur_bytes(c, len)) == NULL)
				return malformed(d, c);
			if (kind == 't') {
				pgflo_relmeta_value(w, cl, (const char *)p, len,
				    &nw);
				break;
			}
			pgflo_jw_raw(w, cl->jkey, cl->jkeylen);
			w->after_key = 1;
			pgflo_jw_strn(w, (const char *)p, len);
			break;
		default:
			if (c->bad)
				return malformed(d, c);
			return fail(d, "malformed tuple data (column kind "
			    "'%c')", kind);
		}
	}
	pgflo_jw_obj_end(w);
	if (unch != NULL && unch->len > 0)
		pgflo_jw_arr_end(&uw);
	if (jnull->len > 0)
		pgflo_jw_arr_end(&nw);
	return 0;
}

/* "key" and its list, when list (a JSON array in b) is not empty. */
static void
put_list(struct pgflo_jw *w, const char *key, const struct pgflo_buf *b)
{
	if (b->len == 0)
		return;
	pgflo_jw_key(w, key);
	pgflo_jw_raw(w, b->data, b->len);
}

/* 'I' relid 'N' tuple; 'U' relid ['K'|'O' tuple] 'N' tuple; 'D'. */
static int
on_change(struct pgflo_pgoutput *d, struct pgflo_cur *c, char type)
{
	struct pgoutput_state *st = d->st;
	struct pgflo_jw w;
	struct rel *r;
	unsigned t;
	int k;

	if ((r = rel_get(d, c)) == NULL || (k = tx_next(d)) == -1)
		return -1;
	if (k == 0 || st->tx.commit_lsn < r->sync)
		return 0;
	rec_start(d, &w, type == 'I' ? "insert" : type == 'U' ? "update" :
	    "delete", r);
	pgflo_jw_raw(&w, r->m->meta, r->m->metalen);
	t = pgflo_cur_get8(c);
	if (t == 'K' || t == 'O') {
		pgflo_jw_key(&w, "old");
		if (write_tuple(d, &w, c, r, t == 'K', NULL, &st->jnull) == -1)
			return -1;
		put_list(&w, "old_json_null", &st->jnull);
		if (type == 'U')
			t = pgflo_cur_get8(c);
	}
	pgflo_buf_reset(&st->unch);
	if (type != 'D') {
		if (c->bad)
			return malformed(d, c);
		if (t != 'N')
			return fail(d, "malformed change message");
		pgflo_jw_key(&w, "new");
		if (write_tuple(d, &w, c, r, 0, &st->unch, &st->jnull) == -1)
			return -1;
		put_list(&w, "unchanged", &st->unch);
		put_list(&w, "json_null", &st->jnull);
	}
	if (c->bad)
		return malformed(d, c);
	pgflo_jw_obj_end(&w);
	emit(d);
	mark_written(d, st->tx.commit_lsn, st->tx.ordinal);
	return 0;
}

/* 'T': nrels(4) options(1) relids(4)... */
static int
on_truncate(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	struct pgflo_jw w;
	uint32_t i, n = pgflo_cur_get32(c);
	unsigned opts = pgflo_cur_get8(c);
	struct rel *r;
	int k;

	if (c->bad)
		return malformed(d, c);
	for (i = 0; i < n; i++) {
		if ((r = rel_get(d, c)) == NULL || (k = tx_next(d)) == -1)
			return -1;
		if (k == 0 || d->st->tx.commit_lsn < r->sync)
			continue;
		rec_start(d, &w, "truncate", r);
		pgflo_jw_key(&w, "cascade");
		pgflo_jw_bool(&w, (opts & 1) != 0);
		pgflo_jw_key(&w, "restart_identity");
		pgflo_jw_bool(&w, (opts & 2) != 0);
		pgflo_jw_obj_end(&w);
		emit(d);
		mark_written(d, d->st->tx.commit_lsn, d->st->tx.ordinal);
	}
	return 0;
}

/* Member key of m, or JSON null. */
static void
put_member(struct pgflo_jw *w, json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);

	pgflo_jw_key(w, key);
	pgflo_jw_json(w, v != NULL ? v : json_null());
}

/* A ddl record from one of our DDL trigger's messages. */
static int
ddl_record(struct pgflo_pgoutput *d, const char *content, size_t len)
{
	struct pgflo_jw w;
	json_error_t jerr;
	json_t *m, *v;
	int k;

	if ((m = json_loadb(content, len, 0, &jerr)) == NULL ||
	    !json_is_object(m)) {
		pgflo_warnx("ignoring a malformed DDL message: %s", jerr.text);
		json_decref(m);
		return 0;
	}
	/* The trigger's word about a table it could not add: not a record. */
	if (json_is_string(v = json_object_get(m, "warning"))) {
		if (!skipped(d, d->st->tx.commit_lsn, d->st->tx.ordinal + 1))
			pgflo_warnx("warning: %s", json_string_value(v));
		json_decref(m);
		return 0;
	}
	if ((k = tx_next(d)) != 1) {
		json_decref(m);
		return k;
	}
	rec_open(d, &w, "ddl");
	put_member(&w, m, "schema");
	put_member(&w, m, "table");
	rec_position(d, &w);
	put_member(&w, m, "tag");
	put_member(&w, m, "object_type");
	put_member(&w, m, "statement");
	pgflo_jw_obj_end(&w);
	json_decref(m);
	emit(d);
	mark_written(d, d->st->tx.commit_lsn, d->st->tx.ordinal);
	return 0;
}

/* "content", or "content_hex" when it is not text. */
static void
put_content(struct pgflo_pgoutput *d, struct pgflo_jw *w,
    const unsigned char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct pgflo_buf *b = &d->st->scratch;
	size_t i;

	if (memchr(p, '\0', len) == NULL &&
	    pgflo_jw_valid_utf8((const char *)p, len)) {
		pgflo_jw_key(w, "content");
		pgflo_jw_strn(w, (const char *)p, len);
		return;
	}
	pgflo_jw_key(w, "content_hex");
	pgflo_buf_reset(b);
	pgflo_buf_putn(b, "\\x", 2);
	for (i = 0; i < len; i++) {
		pgflo_buf_putc(b, hex[p[i] >> 4]);
		pgflo_buf_putc(b, hex[p[i] & 15]);
	}
	pgflo_jw_strn(w, b->data, b->len);
}

/* A message record; 0 when skipped, 1 written, -1. */
static int
message_record(struct pgflo_pgoutput *d, int trans, pgflo_lsn lsn,
    const char *prefix, const unsigned char *content, size_t len)
{
	struct pgflo_jw w;
	char lsnbuf[PGFLO_LSN_BUFSZ];
	int k;

	if (trans) {
		if ((k = tx_next(d)) != 1)
			return k;
		rec_start(d, &w, "message", NULL);
	} else {
		if (skipped(d, lsn, 1))
			return 0;
		rec_open(d, &w, "message");
		pgflo_jw_key(&w, "commit_lsn");
		pgflo_jw_str(&w, pgflo_lsn_format(lsn, lsnbuf));
		pgflo_jw_key(&w, "ordinal");
		pgflo_jw_uint(&w, 1);
	}
	pgflo_jw_key(&w, "prefix");
	pgflo_jw_str(&w, prefix);
	put_content(d, &w, content, len);
	pgflo_jw_key(&w, "transactional");
	pgflo_jw_bool(&w, trans);
	pgflo_jw_obj_end(&w);
	emit(d);
	if (trans)
		mark_written(d, d->st->tx.commit_lsn, d->st->tx.ordinal);
	else
		mark_written(d, lsn, 1);
	return 1;
}

/* 'M': flags(1) lsn(8) prefix\0 len(4) content. */
static int
on_message(struct pgflo_pgoutput *d, struct pgflo_cur *c)
{
	unsigned flags = pgflo_cur_get8(c);
	pgflo_lsn lsn = pgflo_cur_get64(c);
	const char *prefix = pgflo_cur_str(c);
	uint32_t len = pgflo_cur_get32(c);
	const unsigned char *content = pgflo_cur_bytes(c, len);
	int trans = (flags & 1) != 0, r = 0;

	if (c->bad)
		return malformed(d, c);
	/* Past endpos: stop without writing it. */
	if (!trans && d->endpos != 0 && lsn > d->endpos) {
		d->reached_end = 1;
		return 0;
	}
	if (strncmp(prefix, PGFLO_DDL_PREFIX, strlen(PGFLO_DDL_PREFIX)) == 0) {
		if (d->track_ddl && trans && d->in_tx &&
		    strcmp(prefix, d->st->ddl_prefix) == 0)
			r = ddl_record(d, (const char *)content, len);
	} else if (strcmp(prefix, PGFLO_HEARTBEAT_PREFIX) != 0)
		r = message_record(d, trans, lsn, prefix, content, len);
	if (r == -1)
		return -1;
	if (!trans) {
		if (lsn > d->done)
			d->done = lsn;
		if (d->endpos != 0 && lsn >= d->endpos)
			d->reached_end = 1;
	}
	return 0;
}

int
pgflo_pgoutput_decode(struct pgflo_pgoutput *d, struct pgflo_cur *c,
    char *errbuf, size_t errlen)
{
	struct pgoutput_state *st = d->st;
	char type;

	st->errbuf = errbuf;
	st->errlen = errlen;
	if (st->ddl_prefix[0] == '\0')
		snprintf(st->ddl_prefix, sizeof(st->ddl_prefix), "%s%s",
		    PGFLO_DDL_PREFIX, d->slot);
	type = (char)pgflo_cur_get8(c);
	switch (type) {
	case 'B':
		return on_begin(d, c);
	case 'C':
		return on_commit(d, c);
	case 'R':
		return on_relation(d, c);
	case 'Y':
		return on_type(d, c);
	case 'I':
	case 'U':
	case 'D':
		return on_change(d, c, type);
	case 'T':
		return on_truncate(d, c);
	case 'O':
		return on_origin(d, c);
	case 'M':
		return on_message(d, c);
	default:
		if (c->bad)
			return malformed(d, c);
		return fail(d, "unknown pgoutput message type '%c'", type);
	}
}

void
pgflo_pgoutput_idle(struct pgflo_pgoutput *d, pgflo_lsn wal_end)
{
	if (d->in_tx)
		return;
	if (wal_end > d->done)
		d->done = wal_end;
	if (d->endpos != 0 && wal_end >= d->endpos)
		d->reached_end = 1;
}
