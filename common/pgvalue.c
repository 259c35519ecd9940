/*
 * pgvalue.c - PostgreSQL text output to record values (pgvalue.h).
 * The hot path: no allocation per value except the array scratch buffer,
 * which is kept between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "pgvalue.h"

const char pgflo_pg_session_sql[] =
    "SET DateStyle = ISO; SET IntervalStyle = postgres; "
    "SET TimeZone = 'UTC'; SET bytea_output = hex; "
    "SET extra_float_digits = 1";

int
pgflo_vtype_builtin(uint32_t oid, struct pgflo_vtype *t)
{
	t->kind = PGFLO_VK_STRING;
	t->elem = PGFLO_VK_STRING;
	t->delim = ',';
	switch (oid) {
	case 20: case 21: case 23: case 26:	/* int8 int2 int4 oid */
		t->kind = PGFLO_VK_INT;
		return 0;
	case 16:
		t->kind = PGFLO_VK_BOOL;
		return 0;
	case 700: case 701:
		t->kind = PGFLO_VK_FLOAT;
		return 0;
	case 114: case 3802:
		t->kind = PGFLO_VK_JSON;
		return 0;
	/* text varchar bpchar numeric money bytea date time timestamp[tz]
	 * interval uuid char name timetz inet cidr macaddr */
	case 25: case 1043: case 1042: case 1700: case 790: case 17:
	case 1082: case 1083: case 1114: case 1184: case 1186: case 2950:
	case 18: case 19: case 1266: case 869: case 650: case 829:
		return 0;
	}
	t->kind = PGFLO_VK_ARRAY;
	switch (oid) {
	case 1016: case 1005: case 1007: case 1028:
		t->elem = PGFLO_VK_INT;
		return 0;
	case 1000:
		t->elem = PGFLO_VK_BOOL;
		return 0;
	case 1021: case 1022:
		t->elem = PGFLO_VK_FLOAT;
		return 0;
	case 199: case 3807:
		t->elem = PGFLO_VK_JSON;
		return 0;
	case 1009: case 1015: case 1014: case 1231: case 791: case 1001:
	case 1182: case 1115: case 1185: case 1187: case 2951: case 1003:
		t->elem = PGFLO_VK_STRING;
		return 0;
	}
	t->kind = PGFLO_VK_STRING;
	return -1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; ints: no frac/exp. */
static int
json_number(const char *s, size_t len, int intonly)
{
	size_t i = 0, d;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (intonly)
		return i == len;
	if (i < len && s[i] == '.') {
		for (d = ++i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == len;
}

void
pgflo_json_compact(struct pgflo_buf *b, const char *s, size_t len)
{
	size_t i = 0, run = 0;
	int instr = 0;

	pgflo_buf_grow(b, len + 1);
	while (i < len) {
		char c = s[i];

		if (instr) {
			if (c == '\\' && i + 1 < len) {
				i += 2;
				run += 2;
				continue;
			}
			if (c == '"')
				instr = 0;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			pgflo_buf_putn(b, s + i - run, run);
			run = 0;
			i++;
			continue;
		} else if (c == '"')
			instr = 1;
		i++;
		run++;
	}
	pgflo_buf_putn(b, s + i - run, run);
}

/* One scalar (never an array). */
static void
scalar_write(struct pgflo_jw *w, enum pgflo_vkind kind, const char *s,
    size_t len)
{
	switch (kind) {
	case PGFLO_VK_INT:
		if (json_number(s, len, 1)) {
			pgflo_jw_raw(w, s, len);
			return;
		}
		break;
	case PGFLO_VK_BOOL:
		if (len == 1 && (s[0] == 't' || s[0] == 'f')) {
			pgflo_jw_bool(w, s[0] == 't');
			return;
		}
		break;
	case PGFLO_VK_FLOAT:
		if (json_number(s, len, 0)) {
			pgflo_jw_raw(w, s, len);
			return;
		}
		break;	/* NaN, Infinity, -Infinity */
	case PGFLO_VK_JSON:
		if (len > 0 && pgflo_jw_valid_utf8(s, len)) {
			pgflo_jw_raw(w, "", 0);	/* the separator */
			pgflo_json_compact(w->b, s, len);
			return;
		}
		break;
	default:
		break;
	}
	pgflo_jw_strn(w, s, len);
}

/* Per thread: pgflo-copy encodes in several worker threads. */
static _Thread_local struct pgflo_buf scratch;

void
pgflo_value_thread_done(void)
{
	pgflo_buf_free(&scratch);
}

int
pgflo_value_is_json_null(const struct pgflo_vtype *t, const char *s,
    size_t len)
{
	while (len > 0 && strchr(" \t\n\r", s[0]) != NULL) {
		s++;
		len--;
	}
	while (len > 0 && strchr(" \t\n\r", s[len - 1]) != NULL)
		len--;
	return t->kind == PGFLO_VK_JSON && len == 4 && memcmp(s, "null", 4) == 0;
}

/*
 * Parses one {...} level of array_out text at s[*pos] into w.  -1 when
 * the text is not what array_out writes.
 */
static int
array_level(struct pgflo_jw *w, const struct pgflo_vtype *t, const char *s,
    size_t len, size_t *pos, int depth)
{
	size_t i = *pos, start;

	if (i >= len || s[i] != '{' || depth > 6)
		return -1;
	i++;
	pgflo_jw_arr_begin(w);
	if (i < len && s[i] == '}') {
		pgflo_jw_arr_end(w);
		*pos = i + 1;
		return 0;
	}
	for (;;) {
		if (i >= len)
			return -1;
		if (s[i] == '{') {
			if (array_level(w, t, s, len, &i, depth + 1) == -1)
				return -1;
		} else if (s[i] == '"') {
			pgflo_buf_reset(&scratch);
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				pgflo_buf_putc(&scratch, s[i]);
			}
			if (i >= len)
				return -1;
			i++;
			/*
			 * A JSON null element would read back as SQL NULL:
			 * such an array keeps its text form.
			 */
			if (t->elem == PGFLO_VK_JSON && scratch.len == 4 &&
			    memcmp(scratch.data, "null", 4) == 0)
				return -1;
			scalar_write(w, t->elem, scratch.data != NULL ?
			    scratch.data : "", scratch.len);
		} else {
			start = i;
			while (i < len && s[i] != t->delim && s[i] != '}')
				i++;
			if (i - start == 4 && strncasecmp(s + start, "NULL",
			    4) == 0)
				pgflo_jw_null(w);
			else
				scalar_write(w, t->elem, s + start, i - start);
		}
		if (i >= len)
			return -1;
		if (s[i] == '}') {
			pgflo_jw_arr_end(w);
			*pos = i + 1;
			return 0;
		}
		if (s[i] != t->delim)
			return -1;
		i++;
	}
}

void
pgflo_value_write(struct pgflo_jw *w, const struct pgflo_vtype *t,
    const char *s, size_t len)
{
	struct pgflo_jw saved;
	size_t mark, pos = 0;

	if (t->kind != PGFLO_VK_ARRAY) {
		scalar_write(w, t->kind, s, len);
		return;
	}
	/* "[0:1]={1,2}": explicit bounds are kept by keeping the text. */
	if (len == 0 || s[0] != '{') {
		pgflo_jw_strn(w, s, len);
		return;
	}
	saved = *w;
	mark = w->b->len;
	if (array_level(w, t, s, len, &pos, 0) == 0 && pos == len)
		return;
	*w = saved;
	w->b->len = mark;
	pgflo_jw_strn(w, s, len);
}

/*
 * The cache: open addressing on a 64-bit key, (oid << 32 | typmod) for
 * names and oid for kinds.
 */
struct slot {
	uint64_t key;
	int	 used;
	struct pgflo_vtype vt;
	char	 delim;		/* the type's own typdelim */
	char	*name;
};

struct table {
	struct slot *s;
	size_t	 cap, n;
};

struct pgflo_typecache {
	PGconn	*conn;
	struct table kinds, names, hints;
};

static size_t
hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k;
}

static struct slot *
tab_find(struct table *t, uint64_t key)
{
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = hash64(key) & (t->cap - 1); t->s[i].used;
	    i = (i + 1) & (t->cap - 1))
		if (t->s[i].key == key)
			return &t->s[i];
	return NULL;
}

static struct slot *
tab_add(struct table *t, uint64_t key)
{
	struct slot *old = t->s;
	size_t i, oldcap = t->cap;

	if ((t->n + 1) * 2 > t->cap) {
		t->cap = oldcap == 0 ? 64 : oldcap * 2;
		t->s = calloc(t->cap, sizeof(*t->s));
		if (t->s == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
		t->n = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i].used)
				*tab_add(t, old[i].key) = old[i];
		free(old);
	}
	for (i = hash64(key) & (t->cap - 1); t->s[i].used;
	    i = (i + 1) & (t->cap - 1))
		;
	t->s[i].used = 1;
	t->s[i].key = key;
	t->n++;
	return &t->s[i];
}

static void
tab_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->s[i].used)
			free(t->s[i].name);
	free(t->s);
	memset(t, 0, sizeof(*t));
}

struct pgflo_typecache *
pgflo_typecache_new(PGconn *conn)
{
	struct pgflo_typecache *tc = pgflo_xmalloc(sizeof(*tc));

	memset(tc, 0, sizeof(*tc));
	tc->conn = conn;
	return tc;
}

void
pgflo_typecache_set_conn(struct pgflo_typecache *tc, PGconn *conn)
{
	tc->conn = conn;
}

void
pgflo_typecache_free(struct pgflo_typecache *tc)
{
	if (tc == NULL)
		return;
	tab_free(&tc->kinds);
	tab_free(&tc->names);
	tab_free(&tc->hints);
	free(tc);
	pgflo_value_thread_done();
}

/* One parameterised catalog query with a single row expected. */
static PGresult *
query1(struct pgflo_typecache *tc, const char *sql, int nparams,
    const char *const *params, char *errbuf, size_t errlen)
{
	PGresult *res;

	if (tc->conn == NULL) {
		snprintf(errbuf, errlen, "no catalog connection");
		return NULL;
	}
	res = PQexecParams(tc->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, errlen, "type look-up failed: %s",
		    res != NULL ? pgflo_pg_resmsg(res) :
		    pgflo_pg_errmsg(tc->conn));
		PQclear(res);
		return NULL;
	}
	if (PQntuples(res) != 1) {
		snprintf(errbuf, errlen, "type %s not found", params[0]);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Looks up (and caches) oid's slot in kinds; depth guards domain loops. */
static struct slot *
kind_lookup(struct pgflo_typecache *tc, uint32_t oid, int depth,
    char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT typtype, typbasetype, typelem, typdelim, typcategory, "
	    "typlen FROM pg_catalog.pg_type WHERE oid = $1";
	struct slot *sl, *base;
	struct pgflo_vtype vt;
	PGresult *res;
	const char *p[1];
	char oidbuf[16], typtype, cat;
	uint32_t baseoid, elemoid;
	char delim;
	long typlen;

	if ((sl = tab_find(&tc->kinds, oid)) != NULL)
		return sl;
	if (depth > 8) {
		snprintf(errbuf, errlen, "type %u: domains nested too deep",
		    oid);
		return NULL;
	}
	snprintf(oidbuf, sizeof(oidbuf), "%u", oid);
	p[0] = oidbuf;
	if ((res = query1(tc, sql, 1, p, errbuf, errlen)) == NULL)
		return NULL;
	typtype = *PQgetvalue(res, 0, 0);
	baseoid = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	elemoid = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	delim = *PQgetvalue(res, 0, 3);
	cat = *PQgetvalue(res, 0, 4);
	typlen = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	PQclear(res);

	if (typtype == 'd') {
		if ((base = kind_lookup(tc, baseoid, depth + 1, errbuf,
		    errlen)) == NULL)
			return NULL;
		vt = base->vt;
	} else if (cat == 'A' && elemoid != 0 && typlen == -1 &&
	    oid != 22 && oid != 30) {	/* not int2vector, oidvector */
		if ((base = kind_lookup(tc, elemoid, depth + 1, errbuf,
		    errlen)) == NULL)
			return NULL;
		vt.kind = PGFLO_VK_ARRAY;
		vt.elem = base->vt.kind == PGFLO_VK_ARRAY ? PGFLO_VK_STRING :
		    base->vt.kind;
		vt.delim = base->delim != '\0' ? base->delim : ',';
	} else if (pgflo_vtype_builtin(oid, &vt) == -1)
		vt.kind = PGFLO_VK_STRING;
	sl = tab_add(&tc->kinds, oid);
	sl->vt = vt;
	sl->delim = delim;
	return sl;
}

int
pgflo_typecache_vtype(struct pgflo_typecache *tc, uint32_t oid,
    struct pgflo_vtype *t, char *errbuf, size_t errlen)
{
	struct slot *sl;

	/* Built-in arrays still need their element's delimiter: ','. */
	if (pgflo_vtype_builtin(oid, t) == 0)
		return 0;
	if ((sl = kind_lookup(tc, oid, 0, errbuf, errlen)) == NULL)
		return -1;
	*t = sl->vt;
	return 0;
}

const char *
pgflo_typecache_name(struct pgflo_typecache *tc, uint32_t oid,
    int32_t typmod, char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT pg_catalog.format_type($1::pg_catalog.oid, "
	    "NULLIF($2::pg_catalog.int4, -1))";
	uint64_t key = (uint64_t)oid << 32 | (uint32_t)typmod;
	struct slot *sl;
	PGresult *res;
	const char *p[2];
	char oidbuf[16], modbuf[16];

	if ((sl = tab_find(&tc->names, key)) != NULL)
		return sl->name;
	snprintf(oidbuf, sizeof(oidbuf), "%u", oid);
	snprintf(modbuf, sizeof(modbuf), "%d", (int)typmod);
	p[0] = oidbuf;
	p[1] = modbuf;
	if ((res = query1(tc, sql, 2, p, errbuf, errlen)) == NULL ||
	    PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), "???") == 0) {
		PQclear(res);
		/* A type dropped since: pgoutput's Type message named it. */
		if ((sl = tab_find(&tc->hints, oid)) != NULL)
			return sl->name;
		if (res != NULL)
			snprintf(errbuf, errlen, "type %u not found", oid);
		return NULL;
	}
	sl = tab_add(&tc->names, key);
	sl->name = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return sl->name;
}

void
pgflo_typecache_hint(struct pgflo_typecache *tc, uint32_t oid,
    const char *nspname, const char *typname)
{
	struct slot *sl;
	size_t n = strlen(nspname) + strlen(typname) + 2;

	if ((sl = tab_find(&tc->hints, oid)) == NULL)
		sl = tab_add(&tc->hints, oid);
	free(sl->name);
	sl->name = pgflo_xmalloc(n);
	snprintf(sl->name, n, "%s.%s", nspname, typname);
}
