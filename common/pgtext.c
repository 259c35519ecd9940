/*
 * pgtext.c - PostgreSQL's text output read back, for pgflo-format.
 * Records carry values as PostgreSQL prints them (pgflo-record(5));
 * other tools' formats want numbers (Debezium's epoch microseconds),
 * other spellings (RFC 3339) or PostgreSQL's array text (wal2json).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "pgtext.h"

#define US_PER_SEC	INT64_C(1000000)
#define US_PER_DAY	(INT64_C(86400) * US_PER_SEC)
#define MAX_DAYS	(INT64_C(106751990))	/* INT64_MAX / US_PER_DAY - 1 */

static const struct {
	const char *name;
	enum pgflo_tclass cls;
} tnames[] = {
	{ "\"char\"", PGFLO_T_QCHAR },
	{ "bigint", PGFLO_T_INT },
	{ "boolean", PGFLO_T_BOOL },
	{ "box", PGFLO_T_BOX },
	{ "bytea", PGFLO_T_BYTEA },
	{ "character", PGFLO_T_TEXT },
	{ "character varying", PGFLO_T_TEXT },
	{ "cidr", PGFLO_T_INET },
	{ "date", PGFLO_T_DATE },
	{ "double precision", PGFLO_T_FLOAT },
	{ "hstore", PGFLO_T_HSTORE },
	{ "inet", PGFLO_T_INET },
	{ "integer", PGFLO_T_INT },
	{ "interval", PGFLO_T_INTERVAL },
	{ "json", PGFLO_T_JSON },
	{ "macaddr", PGFLO_T_MACADDR },
	{ "macaddr8", PGFLO_T_MACADDR },
	{ "jsonb", PGFLO_T_JSONB },
	{ "money", PGFLO_T_MONEY },
	{ "numeric", PGFLO_T_NUMERIC },
	{ "oid", PGFLO_T_OID },
	{ "real", PGFLO_T_FLOAT },
	{ "smallint", PGFLO_T_INT },
	{ "text", PGFLO_T_TEXT },
	{ "time with time zone", PGFLO_T_TIMETZ },
	{ "time without time zone", PGFLO_T_TIME },
	{ "timestamp with time zone", PGFLO_T_TIMESTAMPTZ },
	{ "timestamp without time zone", PGFLO_T_TIMESTAMP },
	{ "uuid", PGFLO_T_UUID },
};

void
pgflo_ptype_parse(const char *name, size_t n, struct pgflo_ptype *t)
{
	char base[64];
	size_t i, j = 0;
	int inparen = 0;

	t->cls = PGFLO_T_OTHER;
	t->array = 0;
	t->precision = -1;
	while (n >= 2 && name[n - 2] == '[' && name[n - 1] == ']') {
		t->array++;
		n -= 2;
	}
	/* "timestamp(3) with time zone" is "timestamp with time zone". */
	for (i = 0; i < n && j < sizeof(base) - 1; i++) {
		if (name[i] == '(') {
			inparen = 1;
			if (name[i + 1] >= '0' && name[i + 1] <= '9')
				t->precision = atoi(name + i + 1);
		} else if (name[i] == ')')
			inparen = 0;
		else if (!inparen)
			base[j++] = name[i];
	}
	if (i < n)
		return;
	base[j] = '\0';
	/* "interval year to month", "interval(3)" */
	if (strncmp(base, "interval", 8) == 0 &&
	    (base[8] == '\0' || base[8] == ' ')) {
		t->cls = PGFLO_T_INTERVAL;
		return;
	}
	for (i = 0; i < sizeof(tnames) / sizeof(tnames[0]); i++)
		if (strcmp(base, tnames[i].name) == 0) {
			t->cls = tnames[i].cls;
			return;
		}
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Digits at *p, at least min of them; -1 when fewer. */
static int64_t
digits(const char **p, const char *end, int min)
{
	int64_t v = 0;
	int k = 0;

	while (*p < end && **p >= '0' && **p <= '9' && k < 18) {
		v = v * 10 + (**p - '0');
		(*p)++;
		k++;
	}
	return k < min ? -1 : v;
}

static int
expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/* HH:MM:SS[.ffffff] as microseconds; hours may exceed 24 (intervals). */
static int
parse_clock(const char **p, const char *end, int64_t *us)
{
	int64_t h, mi, s, frac = 0, scale = 100000;

	if ((h = digits(p, end, 1)) < 0 || expect(p, end, ':') == -1 ||
	    (mi = digits(p, end, 2)) < 0 || expect(p, end, ':') == -1 ||
	    (s = digits(p, end, 2)) < 0)
		return -1;
	if (*p < end && **p == '.') {
		(*p)++;
		if (*p >= end || **p < '0' || **p > '9')
			return -1;
		for (; *p < end && **p >= '0' && **p <= '9'; (*p)++) {
			frac += (**p - '0') * scale;
			scale /= 10;
		}
	}
	if (h > INT64_C(2562047787) || mi > 59 || s > 60)
		return -1;	/* an interval's hours stay in int64 */
	*us = ((h * 60 + mi) * 60 + s) * US_PER_SEC + frac;
	return 0;
}

/* +HH[:MM[:SS]] or -HH...: the zone's offset east of UTC in seconds. */
static int
parse_zone(const char **p, const char *end, int64_t *off)
{
	int64_t h, m = 0, s = 0;
	int sign;

	if (*p >= end || (**p != '+' && **p != '-'))
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if ((h = digits(p, end, 2)) < 0)
		return -1;
	if (*p < end && **p == ':') {
		(*p)++;
		if ((m = digits(p, end, 2)) < 0)
			return -1;
		if (*p < end && **p == ':') {
			(*p)++;
			if ((s = digits(p, end, 2)) < 0)
				return -1;
		}
	}
	*off = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int
parse_date(const char **p, const char *end, int64_t *days)
{
	int64_t y, m, d;

	if ((y = digits(p, end, 4)) < 0 || expect(p, end, '-') == -1 ||
	    (m = digits(p, end, 2)) < 0 || expect(p, end, '-') == -1 ||
	    (d = digits(p, end, 2)) < 0 || m < 1 || m > 12 || d < 1 || d > 31 ||
	    y > 5874897)	/* date's last year */
		return -1;
	*days = pgflo_days_from_civil(y, m, d);
	return 0;
}

int
pgflo_pg_date_days(const char *s, size_t n, int64_t *days)
{
	const char *p = s, *end = s + n;

	if (parse_date(&p, end, days) == -1 || p != end)
		return -1;
	return 0;
}

int
pgflo_pg_timestamp_us(const char *s, size_t n, int64_t *us)
{
	const char *p = s, *end = s + n;
	int64_t days, clock, off = 0;

	if (parse_date(&p, end, &days) == -1 || expect(&p, end, ' ') == -1 ||
	    parse_clock(&p, end, &clock) == -1)
		return -1;
	if (p < end && parse_zone(&p, end, &off) == -1)
		return -1;
	/* timestamp's range ends in 294276; beyond, int64 overflows */
	if (p != end || days > MAX_DAYS || days < -MAX_DAYS)
		return -1;
	*us = days * US_PER_DAY + clock - off * US_PER_SEC;
	return 0;
}

int
pgflo_pg_time_us(const char *s, size_t n, int64_t *us, int with_tz)
{
	const char *p = s, *end = s + n;
	int64_t clock, off = 0;

	if (parse_clock(&p, end, &clock) == -1)
		return -1;
	if (with_tz && parse_zone(&p, end, &off) == -1)
		return -1;
	if (p != end)
		return -1;
	clock -= off * US_PER_SEC;
	*us = ((clock % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
	return 0;
}

int
pgflo_pg_interval(const char *s, size_t n, int64_t *months, int64_t *days,
    int64_t *us)
{
	const char *p = s, *end = s + n, *q;
	int64_t v, t;
	int sign;

	*months = *days = *us = 0;
	while (p < end) {
		sign = 1;
		if (*p == '-' || *p == '+') {
			sign = *p == '-' ? -1 : 1;
			p++;
		}
		for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q < end && *q == ':') {
			if (parse_clock(&p, end, &t) == -1 ||
			    (sign > 0 && *us > INT64_MAX - t) ||
			    (sign < 0 && *us < INT64_MIN + t))
				return -1;
			*us += sign * t;
		} else {
			/* months and days are int32 in an interval */
			if ((v = digits(&p, end, 1)) < 0 || v > INT32_MAX ||
			    expect(&p, end, ' ') == -1)
				return -1;
			for (q = p; q < end && *q != ' '; q++)
				;
			if ((size_t)(q - p) >= 4 && strncmp(p, "year", 4) == 0)
				*months += sign * v * 12;
			else if ((size_t)(q - p) >= 3 &&
			    strncmp(p, "mon", 3) == 0)
				*months += sign * v;
			else if ((size_t)(q - p) >= 3 &&
			    strncmp(p, "day", 3) == 0)
				*days += sign * v;
			else
				return -1;
			p = q;
		}
		if (p < end && expect(&p, end, ' ') == -1)
			return -1;
	}
	return 0;
}

void
pgflo_iso_time(struct pgflo_buf *b, int64_t us, char sep, int digits,
    const char *zone)
{
	int64_t day = us >= 0 ? us / US_PER_DAY : -((-us + US_PER_DAY - 1) /
	    US_PER_DAY), y;
	int64_t rest = us - day * US_PER_DAY, sec = rest / US_PER_SEC;
	int frac = (int)(rest % US_PER_SEC), m, d, nd = 6;
	char f[8];

	civil_from_days(day, &y, &m, &d);
	pgflo_buf_printf(b, "%04lld-%02d-%02d%c%02d:%02d:%02d", (long long)y,
	    m, d, sep, (int)(sec / 3600), (int)(sec / 60 % 60),
	    (int)(sec % 60));
	snprintf(f, sizeof(f), "%06d", frac);
	if (digits < 0)
		while (nd > 0 && f[nd - 1] == '0')
			nd--;
	else if (digits < 6)
		nd = digits;
	if (nd > 0) {
		pgflo_buf_putc(b, '.');
		pgflo_buf_putn(b, f, (size_t)nd);
	}
	pgflo_buf_puts(b, zone);
}

/* One quoted hstore string, unescaped, as a JSON string into b. */
static int
hstore_str(struct pgflo_buf *b, const char **p, const char *end,
    struct pgflo_buf *t)
{
	if (*p >= end || **p != '"')
		return -1;
	pgflo_buf_reset(t);
	for ((*p)++; *p < end && **p != '"'; (*p)++) {
		if (**p == '\\' && *p + 1 < end)
			(*p)++;
		pgflo_buf_putc(t, **p);
	}
	if (*p >= end)
		return -1;
	(*p)++;
	pgflo_buf_putc(b, '"');
	pgflo_json_escape(b, t->data != NULL ? t->data : "", t->len);
	pgflo_buf_putc(b, '"');
	return 0;
}

int
pgflo_hstore_json(struct pgflo_buf *b, const char *s, size_t n)
{
	struct pgflo_buf t = { 0 };
	const char *p = s, *end = s + n;
	int first = 1, rc = -1;

	pgflo_buf_putc(b, '{');
	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		if (!first && (*p++ != ',' || (p < end && *p++ != ' ')))
			goto out;
		if (!first)
			pgflo_buf_putc(b, ',');
		first = 0;
		if (hstore_str(b, &p, end, &t) == -1 || end - p < 2 ||
		    p[0] != '=' || p[1] != '>')
			goto out;
		p += 2;
		pgflo_buf_putc(b, ':');
		if (end - p >= 4 && strncmp(p, "NULL", 4) == 0) {
			pgflo_buf_puts(b, "null");
			p += 4;
		} else if (hstore_str(b, &p, end, &t) == -1)
			goto out;
	}
	pgflo_buf_putc(b, '}');
	rc = 0;
out:
	pgflo_buf_free(&t);
	return rc;
}

static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
pgflo_hex_decode(struct pgflo_buf *b, const char *s, size_t n)
{
	size_t i;
	int hi, lo;

	if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
		s += 2;
		n -= 2;
	}
	if (n % 2 != 0)
		return -1;
	pgflo_buf_grow(b, n / 2 + 1);
	for (i = 0; i < n; i += 2) {
		if ((hi = hexdigit(s[i])) < 0 || (lo = hexdigit(s[i + 1])) < 0)
			return -1;
		b->data[b->len++] = (char)(hi << 4 | lo);
	}
	return 0;
}

void
pgflo_base64(struct pgflo_buf *b, const void *data, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i;
	uint32_t v;

	pgflo_buf_grow(b, (n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		b->data[b->len++] = tab[v >> 18];
		b->data[b->len++] = tab[v >> 12 & 63];
		b->data[b->len++] = tab[v >> 6 & 63];
		b->data[b->len++] = tab[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		b->data[b->len++] = tab[v >> 18];
		b->data[b->len++] = tab[v >> 12 & 63];
		b->data[b->len++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		b->data[b->len++] = '=';
	}
}

static void
json_respace(struct pgflo_buf *b, struct pgflo_span v, int spaced)
{
	const char *p = v.p, *end = v.p + v.n, *run;

	while (p < end) {
		if (*p == '"') {
			run = p++;
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			p++;
			pgflo_buf_putn(b, run, (size_t)(p - run));
		} else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		else {
			pgflo_buf_putc(b, *p);
			if (spaced && (*p == ',' || *p == ':'))
				pgflo_buf_putc(b, ' ');
			p++;
		}
	}
}

void
pgflo_jsonb_text(struct pgflo_buf *b, struct pgflo_span v)
{
	json_respace(b, v, 1);
}

void
pgflo_json_text(struct pgflo_buf *b, struct pgflo_span v)
{
	json_respace(b, v, 0);
}

/* One element, quoted as array_out() quotes. */
static void
array_elem(struct pgflo_buf *b, const char *s, size_t n, char delim)
{
	size_t i;
	int quote = n == 0 || (n == 4 && strncasecmp(s, "NULL", 4) == 0);

	for (i = 0; i < n && !quote; i++)
		if (s[i] == delim || (s[i] != '\0' &&
		    strchr("\"\\{}\t\n\v\f\r ", s[i]) != NULL))
			quote = 1;
	if (!quote) {
		pgflo_buf_putn(b, s, n);
		return;
	}
	pgflo_buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, s[i]);
	}
	pgflo_buf_putc(b, '"');
}

int
pgflo_pg_array_text(struct pgflo_buf *b, struct pgflo_span v,
    enum pgflo_tclass elem)
{
	struct pgflo_js_iter it;
	struct pgflo_span e;
	struct pgflo_buf t = { 0 };
	int first = 1, json = elem == PGFLO_T_JSON || elem == PGFLO_T_JSONB;
	char delim = elem == PGFLO_T_BOX ? ';' : ',';

	if (pgflo_js_arr(&it, v) == -1)
		return -1;
	pgflo_buf_putc(b, '{');
	while (pgflo_js_arr_next(&it, &e) == 1) {
		if (!first)
			pgflo_buf_putc(b, delim);
		first = 0;
		pgflo_buf_reset(&t);
		if (*e.p == '[' && !json)
			pgflo_pg_array_text(b, e, elem);
		else if (*e.p == 'n')
			pgflo_buf_puts(b, "NULL");
		else if (*e.p == '"') {
			pgflo_js_str(&t, e);
			array_elem(b, t.data != NULL ? t.data : "", t.len, delim);
		} else if (*e.p == 't' || *e.p == 'f') {
			if (json)
				pgflo_buf_putn(b, e.p, e.n);
			else
				pgflo_buf_putc(b, *e.p);
		} else if (*e.p == '{' || *e.p == '[') {
			if (elem == PGFLO_T_JSONB)
				pgflo_jsonb_text(&t, e);
			else
				pgflo_json_text(&t, e);
			array_elem(b, t.data, t.len, delim);
		} else
			pgflo_buf_putn(b, e.p, e.n);
	}
	pgflo_buf_putc(b, '}');
	pgflo_buf_free(&t);
	return 0;
}
