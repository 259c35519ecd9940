/*
 * pg2json.c - PostgreSQL text output to record values (pg2json.h).
 * The hot path: no allocation per value except the array scratch buffer,
 * which is kept between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "pg2json.h"

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
