/*
 * jsonwrite.c - the hot-path JSON writer.  Building a jansson object per row
 * costs 7-10 us (ENVIRONMENT.md 6); this writes straight into a buffer.
 * Output is always valid UTF-8: control characters are escaped and
 * invalid bytes become U+FFFD.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"

static const char hexlow[] = "0123456789abcdef";
static const char hexup[] = "0123456789ABCDEF";
/* The characters with a short escape, and the letter of each. */
static const char shortesc[] = "\"\\\n\t\r\b\f";
static const char shortname[] = "\"\\ntrbf";

#define ONES	0x0101010101010101ULL
#define HIGH	0x8080808080808080ULL
/* Eight bytes at a time: the high bit of each byte of x that is 0. */
#define ZERO_BYTES(x)	(((x) - ONES) & ~(x) & HIGH)

int
pgflo_jw_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint64_t x;

	while (i < len) {
		if (len - i >= 8) {
			memcpy(&x, p + i, 8);
			if ((x & HIGH) == 0) {
				i += 8;
				continue;
			}
		}
		if ((n = pgflo_utf8_seqlen(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* 8 bytes needing no escape: no control character, '"' or '\\'. */
static int
plain8(uint64_t x, uint64_t high)
{
	return ((((x - ONES * 0x20) & ~x & HIGH) | ZERO_BYTES(x ^ (ONES * '"')) |
	    ZERO_BYTES(x ^ (ONES * '\\')) | (x & high)) == 0);
}

void
pgflo_json_escape_flags(struct pgflo_buf *b, const char *s, size_t len,
    int flags)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *hex = flags & PGFLO_ESC_UPPER ? hexup : hexlow, *q;
	uint64_t x, high = flags & PGFLO_ESC_VALID ? 0 : HIGH;
	size_t i = 0, run = 0, n;

	pgflo_buf_grow(b, len + 2);
	while (i < len) {
		unsigned char c = p[i];

		if (len - i >= 8) {
			memcpy(&x, p + i, 8);
			if (plain8(x, high)) {
				i += 8;
				run += 8;
				continue;
			}
		}
		if (c >= 0x20 && c != '"' && c != '\\' &&
		    (c < 0x80 || high == 0)) {
			i++;
			run++;
			continue;
		}
		if (c >= 0x80 && (n = pgflo_utf8_seqlen(p + i, len - i)) != 0) {
			i += n;
			run += n;
			continue;
		}
		/* Flush the plain run, then the escape. */
		pgflo_buf_putn(b, s + i - run, run);
		run = 0;
		if ((q = memchr(shortesc, c, sizeof(shortesc) - 1)) != NULL) {
			char e[2] = { '\\', shortname[q - shortesc] };

			pgflo_buf_putn(b, e, 2);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
			    hex[c & 15] };

			pgflo_buf_putn(b, e, 6);
		} else		/* invalid UTF-8 byte */
			pgflo_buf_putn(b, "\\ufffd", 6);
		i++;
	}
	pgflo_buf_putn(b, s + i - run, run);
}

void
pgflo_json_escape(struct pgflo_buf *b, const char *s, size_t len)
{
	pgflo_json_escape_flags(b, s, len, 0);
}

void
pgflo_jw_init(struct pgflo_jw *w, struct pgflo_buf *b)
{
	w->b = b;
	w->depth = 0;
	w->first[0] = 1;
	w->after_key = 0;
}

/* Separator before a value: none after a key, a comma between elements. */
static void
sep(struct pgflo_jw *w)
{
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (!w->first[w->depth])
		pgflo_buf_putc(w->b, ',');
	w->first[w->depth] = 0;
}

static void
open_nest(struct pgflo_jw *w, char c)
{
	sep(w);
	pgflo_buf_putc(w->b, c);
	if (w->depth < PGFLO_JW_MAXDEPTH - 1)
		w->depth++;
	w->first[w->depth] = 1;
}

void
pgflo_jw_obj_begin(struct pgflo_jw *w)
{
	open_nest(w, '{');
}

static void
close_nest(struct pgflo_jw *w, char c)
{
	pgflo_buf_putc(w->b, c);
	if (w->depth > 0)
		w->depth--;
}

void
pgflo_jw_obj_end(struct pgflo_jw *w)
{
	close_nest(w, '}');
}

void
pgflo_jw_arr_begin(struct pgflo_jw *w)
{
	open_nest(w, '[');
}

void
pgflo_jw_arr_end(struct pgflo_jw *w)
{
	close_nest(w, ']');
}

void
pgflo_jw_keyn(struct pgflo_jw *w, const char *key, size_t len)
{
	sep(w);
	pgflo_buf_putc(w->b, '"');
	pgflo_json_escape(w->b, key, len);
	pgflo_buf_putn(w->b, "\":", 2);
	w->after_key = 1;
}

void
pgflo_jw_key(struct pgflo_jw *w, const char *key)
{
	pgflo_jw_keyn(w, key, strlen(key));
}

void
pgflo_jw_strn(struct pgflo_jw *w, const char *s, size_t len)
{
	sep(w);
	pgflo_buf_putc(w->b, '"');
	pgflo_json_escape(w->b, s, len);
	pgflo_buf_putc(w->b, '"');
}

void
pgflo_jw_str(struct pgflo_jw *w, const char *s)
{
	pgflo_jw_strn(w, s, strlen(s));
}

void
pgflo_jw_int(struct pgflo_jw *w, long long v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", v);

	sep(w);
	pgflo_buf_putn(w->b, tmp, (size_t)n);
}

void
pgflo_jw_uint(struct pgflo_jw *w, unsigned long long v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", v);

	sep(w);
	pgflo_buf_putn(w->b, tmp, (size_t)n);
}

void
pgflo_jw_bool(struct pgflo_jw *w, int v)
{
	sep(w);
	if (v)
		pgflo_buf_putn(w->b, "true", 4);
	else
		pgflo_buf_putn(w->b, "false", 5);
}

void
pgflo_jw_null(struct pgflo_jw *w)
{
	sep(w);
	pgflo_buf_putn(w->b, "null", 4);
}

void
pgflo_jw_raw(struct pgflo_jw *w, const char *s, size_t len)
{
	sep(w);
	pgflo_buf_putn(w->b, s, len);
}

/* Shortest "%.Ng" that reads back as the same double. */
static int
format_real(char *tmp, size_t sz, double d)
{
	int prec, n = 0;

	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sz, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* Keep it a real: 1e+20 and 3 would read back as integers. */
	if (strpbrk(tmp, ".eEn") == NULL && n + 2 < (int)sz) {
		tmp[n++] = '.';
		tmp[n++] = '0';
		tmp[n] = '\0';
	}
	return n;
}

void
pgflo_jw_json(struct pgflo_jw *w, const json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;
	char tmp[40];
	int n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		pgflo_jw_obj_begin(w);
		json_object_foreach((json_t *)v, key, val) {
			pgflo_jw_key(w, key);
			pgflo_jw_json(w, val);
		}
		pgflo_jw_obj_end(w);
		break;
	case JSON_ARRAY:
		pgflo_jw_arr_begin(w);
		json_array_foreach(v, i, val)
			pgflo_jw_json(w, val);
		pgflo_jw_arr_end(w);
		break;
	case JSON_STRING:
		pgflo_jw_strn(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		pgflo_jw_int(w, json_integer_value(v));
		break;
	case JSON_REAL:
		n = format_real(tmp, sizeof(tmp), json_real_value(v));
		pgflo_jw_raw(w, tmp, (size_t)n);
		break;
	case JSON_TRUE:
		pgflo_jw_bool(w, 1);
		break;
	case JSON_FALSE:
		pgflo_jw_bool(w, 0);
		break;
	case JSON_NULL:
	default:
		pgflo_jw_null(w);
		break;
	}
}
