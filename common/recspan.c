/*
 * recspan.c - change records parsed in place from the raw line
 * (recspan.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "json2pg.h"
#include "lsn.h"
#include "pgconn.h"
#include "record.h"
#include "recspan.h"

static char *
arena_str(struct pgflo_recspan *r, struct pgflo_span s)
{
	char *p = r->arena.data + r->arena.len;

	pgflo_js_str(&r->arena, s);
	pgflo_buf_putc(&r->arena, '\0');
	return p;
}

/* Why decoded string p of n bytes is no name: NULL with why set. */
static char *
bad_name(struct pgflo_recspan *r, const char *p, size_t n, const char *what,
    size_t maxlen, const char **why)
{
	if (memchr(p, '\0', n) != NULL)
		snprintf(r->whybuf, sizeof(r->whybuf), "%s holds a NUL byte "
		    "(\\u0000), which PostgreSQL cannot store", what);
	else
		snprintf(r->whybuf, sizeof(r->whybuf), "%s is %zu bytes long, "
		    "more than the %zu of a PostgreSQL name", what, n, maxlen);
	*why = r->whybuf;
	return NULL;
}

/*
 * A decoded string that PostgreSQL could hold: NULL with why set when it
 * has a NUL byte (text cannot) or, for a name (maxlen
 * PGFLO_RECSPAN_NAME_BYTES), when it is longer than a name can be, which
 * the server would truncate onto another object.  Once per name and type on the hot path: inline.
 */
static inline char *
arena_name(struct pgflo_recspan *r, struct pgflo_span s, const char *what,
    size_t maxlen, const char **why)
{
	size_t off = r->arena.len, n;
	char *p = arena_str(r, s);

	n = r->arena.len - off - 1;
	/* Only an escape (the text got shorter) makes a NUL byte. */
	if ((n + 2 != s.n && memchr(p, '\0', n) != NULL) || n > maxlen)
		return bad_name(r, p, n, what, maxlen, why);
	return p;
}

static int
parse_cols(struct pgflo_recspan *r, struct pgflo_span v,
    struct pgflo_reccol **cv, int *n, int *cap, int values, const char **why)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, val;

	if (pgflo_js_obj_valid(&it, v) == -1)
		return -1;
	*n = 0;
	while (pgflo_js_obj_next(&it, &k, &val)) {
		if (*n == PGFLO_RECSPAN_MAX_COLUMNS) {
			snprintf(r->whybuf, sizeof(r->whybuf),
			    "record has more than %d columns, PostgreSQL's "
			    "limit",
			    PGFLO_RECSPAN_MAX_COLUMNS);
			*why = r->whybuf;
			return -1;
		}
		if (*n == *cap) {
			*cap = *cap != 0 ? *cap * 2 : 32;
			*cv = pgflo_xrealloc(*cv, (size_t)*cap * sizeof(**cv));
		}
		if (((*cv)[*n].name = arena_name(r, k, "a column name",
		    PGFLO_RECSPAN_NAME_BYTES, why)) == NULL)
			return -1;
		(*cv)[*n].type = NULL;
		(*cv)[*n].v = val;
		if (!values) {
			if (*val.p != '"')
				return -1;
			if (((*cv)[*n].type = arena_name(r, val, "a type name",
			    SIZE_MAX, why)) == NULL)
				return -1;
		}
		(*n)++;
	}
	return 0;
}

static int
span_uint(struct pgflo_span v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v.n == 0 || v.n > 19)
		return -1;
	for (i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v.p[i] - '0');
	}
	/* Kept in a bigint (pgflo.applied). */
	if (x > INT64_MAX)
		return -1;
	*out = x;
	return 0;
}

/*
 * The columns a json_null list names hold JSON null, not SQL NULL: their
 * spans point at pgflo_js_json_null so that pgflo_pgtext sends 'null'.
 */
static int
mark_json_null(struct pgflo_span list, struct pgflo_reccol *cv, int n)
{
	struct pgflo_js_iter it;
	struct pgflo_span v;
	int i;

	if (list.p == NULL)
		return 0;
	if (pgflo_js_arr_valid(&it, list) == -1)
		return -1;
	while (pgflo_js_arr_next(&it, &v)) {
		if (*v.p != '"')
			return -1;
		for (i = 0; i < n; i++)
			if (pgflo_js_str_eq(v, cv[i].name) &&
			    *cv[i].v.p == 'n') {
				cv[i].v.p = pgflo_js_json_null;
				cv[i].v.n = 4;
			}
	}
	return 0;
}

#define KEYIS(k, s)	((k).n == sizeof(s) + 1 && \
	memcmp((k).p + 1, s, sizeof(s) - 1) == 0)

/* The members parsed for changes only, as spans. */
struct members {
	struct pgflo_span types, newv, oldv, key, jnull, ojnull;
	int	 have_op;
};
#define SPAN(name, field)	{ name, sizeof(name) - 1, \
	offsetof(struct members, field) }
static const struct {
	const char *name;
	size_t	 len, off;
} spans[] = {
	SPAN("types", types), SPAN("new", newv), SPAN("old", oldv),
	SPAN("key", key), SPAN("json_null", jnull),
	SPAN("old_json_null", ojnull), { NULL, 0, 0 }
};

/* A position member; 1 when k is none of them, -1 malformed. */
static int
pos_member(struct pgflo_recspan *r, struct pgflo_span k, struct pgflo_span v,
    const char **why)
{
	if (KEYIS(k, "commit_lsn") && *v.p == '"') {
		*why = "malformed commit_lsn";
		if (pgflo_lsn_parse(arena_str(r, v), &r->pos.commit_lsn) == -1)
			return -1;
		r->has_lsn = r->pos.commit_lsn != 0;
	} else if (KEYIS(k, "ordinal") && *v.p != 'n') {
		*why = "malformed ordinal";
		if (span_uint(v, &r->pos.ordinal) == -1)
			return -1;
	} else if (KEYIS(k, "stream_seq") && *v.p != 'n') {
		*why = "malformed stream_seq";
		if (span_uint(v, &r->pos.stream_seq) == -1)
			return -1;
		r->has_seq = r->pos.stream_seq != 0;
	} else if (KEYIS(k, "commit_ts") && *v.p == '"') {
		r->commit_ts = v;
	} else
		return 1;
	return 0;
}

/* One member of the record; -1 malformed. */
static int
member(struct pgflo_recspan *r, struct members *m, struct pgflo_span k,
    struct pgflo_span v, const char **why)
{
	int p;

	if (KEYIS(k, "op")) {
		if (*v.p != '"')
			return -2;
		m->have_op = 1;
		r->op = pgflo_op_parse(arena_str(r, v));
	} else if (KEYIS(k, "schema") && *v.p == '"') {
		if ((r->schema = arena_name(r, v, "the schema name",
		    PGFLO_RECSPAN_NAME_BYTES, why)) == NULL)
			return -1;
	} else if (KEYIS(k, "table") && *v.p == '"') {
		if ((r->table = arena_name(r, v, "the table name",
		    PGFLO_RECSPAN_NAME_BYTES, why)) == NULL)
			return -1;
	} else if ((p = pos_member(r, k, v, why)) != 1) {
		return p;
	} else if (KEYIS(k, "snapshot")) {
		r->snapshot = *v.p == 't';
	} else if (KEYIS(k, "cascade")) {
		r->cascade = *v.p == 't';
	} else if (KEYIS(k, "restart_identity")) {
		r->restart = *v.p == 't';
	} else if (KEYIS(k, "statement") && *v.p == '"') {
		if ((r->statement = arena_name(r, v, "the statement",
		    SIZE_MAX, why)) == NULL)
			return -1;
	} else if (KEYIS(k, "tag") && *v.p == '"') {
		if ((r->tag = arena_name(r, v, "the tag", SIZE_MAX,
		    why)) == NULL)
			return -1;
	} else {
		for (p = 0; spans[p].name != NULL; p++)
			if (k.n == spans[p].len + 2 &&
			    memcmp(k.p + 1, spans[p].name, spans[p].len) == 0) {
				*(struct pgflo_span *)(void *)((char *)m +
				    spans[p].off) = v;
				break;
			}
	}
	return 0;
}

/* The "key" array of column names. */
static int
parse_key(struct pgflo_recspan *r, struct pgflo_span key, const char **why)
{
	struct pgflo_js_iter it;
	struct pgflo_span v;

	if (key.p == NULL || *key.p != '[')
		return 0;
	pgflo_js_arr_valid(&it, key);
	while (pgflo_js_arr_next(&it, &v)) {
		*why = "record has more key columns than PostgreSQL's limit";
		if (r->nkey == PGFLO_RECSPAN_MAX_COLUMNS)
			return -1;
		*why = "malformed \"key\"";
		if (*v.p != '"')
			return -1;
		if (r->nkey == r->ckey) {
			r->ckey = r->ckey != 0 ? r->ckey * 2 : 16;
			r->keyv = pgflo_xrealloc(r->keyv,
			    (size_t)r->ckey * sizeof(*r->keyv));
		}
		if ((r->keyv[r->nkey] = arena_name(r, v, "a key column name",
		    PGFLO_RECSPAN_NAME_BYTES, why)) == NULL)
			return -1;
		r->nkey++;
	}
	return 0;
}

/*
 * "types", parsed once for the rows of a table that repeat it: the text
 * of the last one is kept with its names, in an arena of their own.
 */
static int
parse_types(struct pgflo_recspan *r, struct pgflo_span v, const char **why)
{
	struct pgflo_buf save;
	int rc;

	if (r->traw.len == v.n && r->traw.len > 0 &&
	    memcmp(r->traw.data, v.p, v.n) == 0) {
		r->ntypes = r->ntcache;
		return 0;
	}
	pgflo_buf_reset(&r->traw);
	save = r->arena;
	r->arena = r->tarena;
	pgflo_buf_reset(&r->arena);
	/* No reallocation while names point into it. */
	pgflo_buf_grow(&r->arena, 2 * v.n + 256);
	rc = parse_cols(r, v, &r->types, &r->ntypes, &r->ctypes, 0, why);
	r->tarena = r->arena;
	r->arena = save;
	if (rc == -1)
		return -1;
	r->ntcache = r->ntypes;
	pgflo_buf_putn(&r->traw, v.p, v.n);
	return 0;
}

/* The members of a change: types, key, new, old and their json nulls. */
static int
parse_change(struct pgflo_recspan *r, const struct members *m,
    const char **why)
{
	*why = "record has no \"types\" object";
	if (m->types.p == NULL || parse_types(r, m->types, why) == -1)
		return -1;
	if (parse_key(r, m->key, why) == -1)
		return -1;
	*why = "malformed \"new\" or \"old\"";
	if (m->newv.p != NULL && *m->newv.p != 'n') {
		if (parse_cols(r, m->newv, &r->newv, &r->nnew, &r->cnew, 1,
		    why) == -1)
			return -1;
		r->has_new = 1;
	}
	*why = "malformed \"new\" or \"old\"";
	if (m->oldv.p != NULL && *m->oldv.p != 'n') {
		if (parse_cols(r, m->oldv, &r->oldv, &r->nold, &r->cold, 1,
		    why) == -1)
			return -1;
		r->has_old = 1;
	}
	*why = "malformed \"json_null\" or \"old_json_null\"";
	if (mark_json_null(m->jnull, r->newv, r->nnew) == -1 ||
	    mark_json_null(m->ojnull, r->oldv, r->nold) == -1)
		return -1;
	*why = "insert or update without \"new\"";
	if ((r->op == PGFLO_OP_INSERT || r->op == PGFLO_OP_UPDATE) &&
	    !r->has_new)
		return -1;
	return 0;
}

static void
parse_init(struct pgflo_recspan *r, const char *line, size_t len)
{
	pgflo_buf_reset(&r->arena);
	pgflo_buf_grow(&r->arena, 2 * len + 256);
	r->op = PGFLO_OP_UNKNOWN;
	r->line = line;
	r->linelen = len;
	r->schema = r->table = r->statement = r->tag = NULL;
	memset(&r->pos, 0, sizeof(r->pos));
	r->commit_ts = (struct pgflo_span){ NULL, 0 };
	r->has_lsn = r->has_seq = r->snapshot = r->cascade = r->restart = 0;
	r->has_new = r->has_old = 0;
	r->ntypes = r->nnew = r->nold = r->nkey = 0;
}

static int
is_change(enum pgflo_op op)
{
	return op == PGFLO_OP_INSERT || op == PGFLO_OP_UPDATE ||
	    op == PGFLO_OP_DELETE || op == PGFLO_OP_TRUNCATE;
}

int
pgflo_recspan_parse_head(struct pgflo_recspan *r, const char *line,
    size_t len)
{
	const char *p, *e, *end = line + len, *why;
	struct members m = { 0 };
	struct pgflo_span k, v;

	parse_init(r, line, len);
	p = pgflo_js_ws(line, end);
	if (p >= end || *p != '{')
		return -1;
	p = pgflo_js_ws(p + 1, end);
	if (p < end && *p == '}')
		p++;
	else
		for (;;) {
			if (p >= end || *p != '"' ||
			    (e = pgflo_js_skip(p, end)) == NULL)
				return -1;
			k = (struct pgflo_span){ p, (size_t)(e - p) };
			p = pgflo_js_ws(e, end);
			if (p >= end || *p++ != ':')
				return -1;
			p = pgflo_js_ws(p, end);
			if ((e = pgflo_js_skip(p, end)) == NULL)
				return -1;
			v = (struct pgflo_span){ p, (size_t)(e - p) };
			if (member(r, &m, k, v, &why) != 0)
				return -1;
			p = pgflo_js_ws(e, end);
			if (p < end && *p == ',') {
				p = pgflo_js_ws(p + 1, end);
				continue;
			}
			if (p >= end || *p++ != '}')
				return -1;
			break;
		}
	if (pgflo_js_ws(p, end) != end || !m.have_op)
		return -1;
	return is_change(r->op) && (r->schema == NULL || r->table == NULL) ?
	    -1 : 0;
}

/*
 * The end of the value at p of member k: "types", when it is the text
 * the record before had (a table's rows repeat it), is compared, not
 * walked; a complete object that is a prefix is the whole value.
 */
static const char *
value_end(const struct pgflo_recspan *r, struct pgflo_span k, const char *p,
    const char *end)
{
	if (r->traw.len > 0 && KEYIS(k, "types") &&
	    (size_t)(end - p) >= r->traw.len &&
	    memcmp(p, r->traw.data, r->traw.len) == 0)
		return p + r->traw.len;
	return pgflo_js_skip_valid(p, end);
}

int
pgflo_recspan_parse(struct pgflo_recspan *r, const char *line, size_t len,
    const char **why)
{
	const char *p, *q, *end = line + len;
	struct pgflo_span k, v;
	struct members m = { 0 };
	int e;

	parse_init(r, line, len);
	*why = "record is not a JSON object";
	p = pgflo_js_ws(line, end);
	if (p >= end || *p != '{')
		return -1;
	for (p = pgflo_js_ws(p + 1, end); p < end && *p == '"';) {
		q = pgflo_js_skip_valid(p, end);
		k = (struct pgflo_span){ p, (size_t)(q - p) };
		p = pgflo_js_ws(q, end);
		p = pgflo_js_ws(p + 1, end);	/* the ':' */
		q = value_end(r, k, p, end);
		v = (struct pgflo_span){ p, (size_t)(q - p) };
		if ((e = member(r, &m, k, v, why)) == -2)
			goto badop;
		else if (e == -1)
			return -1;
		p = pgflo_js_ws(q, end);
		if (p < end && *p == ',')
			p = pgflo_js_ws(p + 1, end);
	}
	if (!m.have_op)
		goto badop;
	if (r->op != PGFLO_OP_INSERT && r->op != PGFLO_OP_UPDATE &&
	    r->op != PGFLO_OP_DELETE && r->op != PGFLO_OP_TRUNCATE)
		return 0;
	*why = "record has no schema or table";
	if (r->schema == NULL || r->table == NULL)
		return -1;
	if (r->op == PGFLO_OP_TRUNCATE)
		return 0;
	return parse_change(r, &m, why);
badop:
	*why = "record has no \"op\" string";
	return -1;
}

void
pgflo_recspan_free(struct pgflo_recspan *r)
{
	free(r->types);
	free(r->newv);
	free(r->oldv);
	free(r->keyv);
	pgflo_buf_free(&r->arena);
	pgflo_buf_free(&r->tarena);
	pgflo_buf_free(&r->traw);
	memset(r, 0, sizeof(*r));
}

const struct pgflo_reccol *
pgflo_recspan_col(const struct pgflo_reccol *cv, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(cv[i].name, name) == 0)
			return &cv[i];
	return NULL;
}

const char *
pgflo_recspan_type(const struct pgflo_recspan *r, int hint, const char *name)
{
	int i;

	if (hint < r->ntypes && strcmp(r->types[hint].name, name) == 0)
		return r->types[hint].type;
	for (i = 0; i < r->ntypes; i++)
		if (strcmp(r->types[i].name, name) == 0)
			return r->types[i].type;
	return NULL;
}

int
pgflo_recspan_has_nul(struct pgflo_span v)
{
	size_t i;

	if ((*v.p != '"' && *v.p != '[' && *v.p != '{') ||
	    memchr(v.p, '\\', v.n) == NULL)
		return 0;
	for (i = 0; i + 1 < v.n; i++)
		if (v.p[i] == '\\') {
			if (v.p[i + 1] == 'u' && i + 5 < v.n &&
			    memcmp(v.p + i + 2, "0000", 4) == 0)
				return 1;
			i++;
		}
	return 0;
}

void
pgflo_recspan_describe(struct pgflo_buf *b, const char *line, size_t len,
    unsigned long lineno)
{
	struct pgflo_recspan r = { 0 };
	const struct pgflo_reccol *c;
	const char *why;
	int i;

	pgflo_buf_printf(b, "<stdin>:%lu", lineno);
	if (pgflo_js_valid(line, len) &&
	    pgflo_recspan_parse(&r, line, len, &why) == 0 && r.table != NULL) {
		pgflo_buf_printf(b, ": %s ", pgflo_op_name(r.op));
		pgflo_pg_quote_ident(b, r.schema);
		pgflo_buf_putc(b, '.');
		pgflo_pg_quote_ident(b, r.table);
		if (r.nkey > 0) {
			pgflo_buf_puts(b, " (");
			for (i = 0; i < r.nkey; i++)
				pgflo_buf_printf(b, "%s%s", i > 0 ? "," : "",
				    r.keyv[i]);
			pgflo_buf_puts(b, ")=(");
			for (i = 0; i < r.nkey; i++) {
				c = r.has_old ? pgflo_recspan_col(r.oldv,
				    r.nold, r.keyv[i]) : NULL;
				if (c == NULL)
					c = pgflo_recspan_col(r.newv, r.nnew,
					    r.keyv[i]);
				pgflo_buf_printf(b, "%s%.*s", i > 0 ? "," : "",
				    c != NULL ? (int)(c->v.n > 64 ? 64 :
				    c->v.n) : 1, c != NULL ? c->v.p : "?");
			}
			pgflo_buf_putc(b, ')');
		}
	}
	pgflo_recspan_free(&r);
}
