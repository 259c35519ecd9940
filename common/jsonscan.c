/*
 * jsonscan.c - a strict JSON span scanner over raw record lines
 * (jsonscan.h): validation, iteration and string decoding in place.
 */
#include <string.h>

#include "pgflo.h"
#include "jsonscan.h"

/* The deepest nesting accepted, in levels: a record is level 1. */
#define MAXDEPTH 512

const char *
pgflo_js_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

static int
ishex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* The bytes a string's walk stops at: '"', '\\', control characters. */
static const unsigned char strstop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1
};

static const char *
skip_string(const char *p, const char *end)
{
	p++;	/* the opening quote */
	while (p < end) {
		unsigned char c;

		while (p < end && !strstop[(unsigned char)*p])
			p++;
		if (p >= end)
			break;
		c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p >= end)
				return NULL;
			switch (*p) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				p++;
				break;
			case 'u':
				if (end - p < 5 || !ishex(p[1]) || !ishex(p[2]) ||
				    !ishex(p[3]) || !ishex(p[4]))
					return NULL;
				p += 5;
				break;
			default:
				return NULL;
			}
			continue;
		}
		p++;
	}
	return NULL;
}

static const char *
skip_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *
skip_value(const char *p, const char *end, int depth)
{
	p = pgflo_js_ws(p, end);
	if (p >= end)
		return NULL;
	switch (*p) {
	case '"':
		return skip_string(p, end);
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';

		/* This container is level depth + 1. */
		if (depth >= MAXDEPTH)
			return NULL;
		p = pgflo_js_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = pgflo_js_ws(p, end);
				if (p >= end || *p != '"' ||
				    (p = skip_string(p, end)) == NULL)
					return NULL;
				p = pgflo_js_ws(p, end);
				if (p >= end || *p++ != ':')
					return NULL;
			}
			if ((p = skip_value(p, end, depth + 1)) == NULL)
				return NULL;
			p = pgflo_js_ws(p, end);
			if (p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	case 't':
		return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return skip_number(p, end);
	}
}

/*
 * The end of a value of a line pgflo_js_valid() accepted: no checks, so
 * a string is a walk to its closing quote and a container a count of
 * brackets outside strings.  Strings are short: a loop, not memchr().
 * In a valid string, strstop finds '"' and '\\' only.
 */
static const char *
skip_valid_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		while (p < end && !strstop[(unsigned char)*p])
			p++;
		if (p >= end)
			break;
		if (*p == '"')
			return p + 1;
		p++;	/* a backslash: the byte after it too */
	}
	return end;
}

/* The bytes a container's walk stops at. */
static const unsigned char structural[256] = {
	['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1
};

static const char *
skip_valid(const char *p, const char *end)
{
	int depth = 0;

	switch (*p) {
	case '"':
		return skip_valid_string(p, end);
	case '{':
	case '[':
		break;
	default:	/* a number or a literal: up to a delimiter */
		while (p < end && *p != ',' && *p != '}' && *p != ']' &&
		    *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		return p;
	}
	while (p < end) {
		while (p < end && !structural[(unsigned char)*p])
			p++;
		if (p >= end)
			break;
		switch (*p) {
		case '"':
			p = skip_valid_string(p, end);
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return p + 1;
			break;
		}
		p++;
	}
	return p;
}

const char *
pgflo_js_skip_valid(const char *p, const char *end)
{
	return p < end ? skip_valid(p, end) : end;
}

const char *
pgflo_js_skip(const char *p, const char *end)
{
	return skip_value(p, end, 0);
}

int
pgflo_js_valid(const char *p, size_t n)
{
	const char *e = pgflo_js_skip(p, p + n);

	return e != NULL && pgflo_js_ws(e, p + n) == p + n;
}

static int
iter_open(struct pgflo_js_iter *it, struct pgflo_span v, char open)
{
	const char *p = v.p, *end = v.p + v.n;

	p = pgflo_js_ws(p, end);
	if (p >= end || *p != open)
		return -1;
	it->p = p + 1;
	it->end = end;
	it->first = 1;
	it->valid = 0;
	return 0;
}

int
pgflo_js_obj(struct pgflo_js_iter *it, struct pgflo_span v)
{
	return iter_open(it, v, '{');
}

int
pgflo_js_arr(struct pgflo_js_iter *it, struct pgflo_span v)
{
	return iter_open(it, v, '[');
}

int
pgflo_js_obj_valid(struct pgflo_js_iter *it, struct pgflo_span v)
{
	if (iter_open(it, v, '{') == -1)
		return -1;
	it->valid = 1;
	return 0;
}

int
pgflo_js_arr_valid(struct pgflo_js_iter *it, struct pgflo_span v)
{
	if (iter_open(it, v, '[') == -1)
		return -1;
	it->valid = 1;
	return 0;
}

/* Spans were validated when the line was: no checks needed here. */
static int
iter_sep(struct pgflo_js_iter *it, char close)
{
	it->p = pgflo_js_ws(it->p, it->end);
	if (it->p >= it->end || *it->p == close)
		return 0;
	if (!it->first && *it->p == ',')
		it->p = pgflo_js_ws(it->p + 1, it->end);
	it->first = 0;
	return 1;
}

/* The value at the iterator as *val, stepping over it; 0 if none. */
static int
iter_value(struct pgflo_js_iter *it, struct pgflo_span *val)
{
	const char *e;

	if (it->valid) {
		if (it->p >= it->end)
			return 0;
		e = skip_valid(it->p, it->end);
	} else if ((e = pgflo_js_skip(it->p, it->end)) == NULL)
		return 0;
	val->p = it->p;
	val->n = (size_t)(e - it->p);
	it->p = e;
	return 1;
}

int
pgflo_js_obj_next(struct pgflo_js_iter *it, struct pgflo_span *key,
    struct pgflo_span *val)
{
	const char *e;

	if (!iter_sep(it, '}'))
		return 0;
	if (it->valid)
		e = skip_valid_string(it->p, it->end);
	else if ((e = skip_string(it->p, it->end)) == NULL)
		return 0;
	key->p = it->p;
	key->n = (size_t)(e - it->p);
	it->p = pgflo_js_ws(e, it->end);
	if (it->p < it->end && *it->p == ':')
		it->p++;
	it->p = pgflo_js_ws(it->p, it->end);
	return iter_value(it, val);
}

int
pgflo_js_arr_next(struct pgflo_js_iter *it, struct pgflo_span *val)
{
	return iter_sep(it, ']') && iter_value(it, val);
}

static unsigned
hexval(const char *p)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v = v * 16 + (unsigned)(c <= '9' ? c - '0' :
		    (c | 0x20) - 'a' + 10);
	}
	return v;
}

static void
put_utf8(struct pgflo_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	pgflo_buf_putn(b, u, n);
}

void
pgflo_js_str(struct pgflo_buf *b, struct pgflo_span s)
{
	const char *p = s.p + 1, *end = s.p + s.n - 1, *run;

	pgflo_buf_grow(b, s.n);
	while (p < end) {
		run = p;
		while (p < end && *p != '\\')
			p++;
		if (p > run)
			pgflo_buf_putn(b, run, (size_t)(p - run));
		if (p >= end)
			break;
		p++;
		switch (*p++) {
		case 'b': pgflo_buf_putc(b, '\b'); break;
		case 'f': pgflo_buf_putc(b, '\f'); break;
		case 'n': pgflo_buf_putc(b, '\n'); break;
		case 'r': pgflo_buf_putc(b, '\r'); break;
		case 't': pgflo_buf_putc(b, '\t'); break;
		case 'u': {
			unsigned cp = hexval(p);

			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				unsigned lo = hexval(p + 2);

				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
					p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;	/* a lone surrogate */
			put_utf8(b, cp);
			break;
		}
		default:	/* '"', '\\', '/' */
			pgflo_buf_putc(b, p[-1]);
			break;
		}
	}
}

int
pgflo_js_str_eq(struct pgflo_span s, const char *k)
{
	size_t n = strlen(k);

	if (s.n == n + 2 && memchr(s.p, '\\', s.n) == NULL)
		return memcmp(s.p + 1, k, n) == 0;
	if (memchr(s.p, '\\', s.n) != NULL) {
		struct pgflo_buf t = { 0 };
		int eq;

		pgflo_js_str(&t, s);
		eq = t.len == n && memcmp(t.data, k, n) == 0;
		pgflo_buf_free(&t);
		return eq;
	}
	return 0;
}
