/*
 * recfmt.c - change records in other tools' shapes, for pgflo-format.
 * Each format's facts (field order, value conventions, escaping) are
 * written beside the code that keeps them, with where they come from;
 * man/pgflo-format.1 lists them for users.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "jsonwrite.h"
#include "pgtext.h"
#include "recfmt.h"

enum esc { ESC_PG, ESC_UPPER, ESC_GO };

struct col {
	struct pgflo_span name;		/* raw key of "types" */
	struct pgflo_span tname;	/* raw type name string */
	struct pgflo_ptype t;
	int	 strarr;		/* pg_flo: array kept as PG text */
	size_t	 dname, dlen;		/* decoded name in f->names */
};

struct kv {
	struct pgflo_span k, v;
};

struct row {
	struct kv *kv;
	size_t	 n, cap, hint;
};

/* The fields of a record that some format uses; p NULL when absent. */
struct rec {
	struct pgflo_span op, schema, table, commit_lsn, ordinal, xid;
	struct pgflo_span commit_ts, key, types, new, old, unchanged;
	struct pgflo_span snapshot, prefix, content, content_hex;
	struct pgflo_span transactional, tag, object_type, statement;
	struct pgflo_span json_null, old_json_null;
	char	 opname[16];
	int	 is_snapshot;
};

struct txcount {
	char	*name;		/* "schema.table" */
	unsigned long n;
};

struct tcache {
	char	*raw;		/* the raw type name string */
	size_t	 n;
	struct pgflo_ptype t;
	int	 strarr;
};

struct pgflo_fmt {
	struct pgflo_fmt_opts o;
	struct tcache tc[128];	/* type names seen, the first 128 */
	size_t	 ntc;
	enum esc esc;
	struct pgflo_buf out, s1, s2, names;
	struct col *cols;
	size_t	 ncols, capcols;
	size_t	*order;		/* pg_flo: columns sorted by name */
	struct row nrow, orow;
	struct rec r;
	/* Debezium transaction metadata */
	char	 txid[64];
	unsigned long txtotal;
	struct txcount *txc;
	size_t	 ntxc, captxc;
};

static const struct {
	const char *name;
	enum pgflo_fmt_kind kind;
} kinds[] = {
	{ "debezium", PGFLO_FMT_DEBEZIUM },
	{ "pg_flo", PGFLO_FMT_PGFLO },
	{ "pgflo", PGFLO_FMT_PGFLO },
	{ "sequin", PGFLO_FMT_SEQUIN },
	{ "wal2json", PGFLO_FMT_WAL2JSON },
};

int
pgflo_fmt_kind_parse(const char *s, enum pgflo_fmt_kind *kind)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, kinds[i].name) == 0) {
			*kind = kinds[i].kind;
			return 0;
		}
	return -1;
}

int
pgflo_fmt_skipped_check(const char *s)
{
	if (strcmp(s, "none") == 0)
		return 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s += s[1] == ',' ? 2 : 1)
		if (strchr("cudt", *s) == NULL ||
		    (s[1] != ',' && s[1] != '\0') || (s[1] == ',' && s[2] == '\0'))
			return -1;
	return 0;
}

struct pgflo_fmt *
pgflo_fmt_new(const struct pgflo_fmt_opts *o)
{
	struct pgflo_fmt *f = pgflo_xmalloc(sizeof(*f));

	memset(f, 0, sizeof(*f));
	f->o = *o;
	/*
	 * Escaping as each producer's JSON library does: Jackson (Kafka's
	 * JsonConverter) writes \u001F in upper case; Go's encoding/json
	 * escapes <, >, & and U+2028/9; PostgreSQL's escape_json()
	 * (wal2json) and Jason write lower case.
	 */
	f->esc = o->kind == PGFLO_FMT_DEBEZIUM ? ESC_UPPER :
	    o->kind == PGFLO_FMT_PGFLO ? ESC_GO : ESC_PG;
	return f;
}

void
pgflo_fmt_free(struct pgflo_fmt *f)
{
	size_t i;

	if (f == NULL)
		return;
	pgflo_buf_free(&f->out);
	pgflo_buf_free(&f->s1);
	pgflo_buf_free(&f->s2);
	pgflo_buf_free(&f->names);
	free(f->cols);
	free(f->order);
	free(f->nrow.kv);
	free(f->orow.kv);
	for (i = 0; i < f->ntxc; i++)
		free(f->txc[i].name);
	free(f->txc);
	for (i = 0; i < f->ntc; i++)
		free(f->tc[i].raw);
	free(f);
}

/* Go's encoding/json string escaping (HTML-safe, as json.Marshal). */
static void
go_escape(struct pgflo_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		unsigned char c = p[i];

		if (c == '<' || c == '>' || c == '&' || c < 0x20) {
			if (c == '\n')
				pgflo_buf_puts(b, "\\n");
			else if (c == '\r')
				pgflo_buf_puts(b, "\\r");
			else if (c == '\t')
				pgflo_buf_puts(b, "\\t");
			else {
				char e[6] = { '\\', 'u', '0', '0',
				    hex[c >> 4], hex[c & 15] };

				pgflo_buf_putn(b, e, 6);
			}
			i++;
		} else if (c == '"' || c == '\\') {
			pgflo_buf_putc(b, '\\');
			pgflo_buf_putc(b, (char)c);
			i++;
		} else if (c < 0x80) {
			pgflo_buf_putc(b, (char)c);
			i++;
		} else if ((k = pgflo_utf8_seqlen(p + i, n - i)) == 0) {
			pgflo_buf_puts(b, "\\ufffd");
			i++;
		} else if (k == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			pgflo_buf_puts(b, p[i + 2] == 0xa8 ? "\\u2028" :
			    "\\u2029");
			i += 3;
		} else {
			pgflo_buf_putn(b, p + i, k);
			i += k;
		}
	}
}

static void
put_str(struct pgflo_fmt *f, const char *s, size_t n)
{
	pgflo_buf_putc(&f->out, '"');
	if (f->esc == ESC_GO)
		go_escape(&f->out, s, n);
	else
		pgflo_json_escape_flags(&f->out, s, n,
		    f->esc == ESC_UPPER ? PGFLO_ESC_UPPER : 0);
	pgflo_buf_putc(&f->out, '"');
}

static void
put_cstr(struct pgflo_fmt *f, const char *s)
{
	put_str(f, s, strlen(s));
}

/* A JSON string of the record, decoded and escaped for the format. */
static void
put_jstr(struct pgflo_fmt *f, struct pgflo_span s)
{
	pgflo_buf_reset(&f->s2);
	pgflo_js_str(&f->s2, s);
	put_str(f, f->s2.data != NULL ? f->s2.data : "", f->s2.len);
}

static void
put_raw(struct pgflo_fmt *f, const char *s)
{
	pgflo_buf_puts(&f->out, s);
}

static void
put_span(struct pgflo_fmt *f, struct pgflo_span s)
{
	pgflo_buf_putn(&f->out, s.p, s.n);
}

static int
span_eq(struct pgflo_span a, struct pgflo_span b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static int
span_is(struct pgflo_span v, char c)
{
	return v.p != NULL && v.n > 0 && *v.p == c;
}

/* A record string decoded into b (reset first); "" when absent. */
static const char *
dec(struct pgflo_buf *b, struct pgflo_span s)
{
	pgflo_buf_reset(b);
	if (span_is(s, '"'))
		pgflo_js_str(b, s);
	return pgflo_buf_cstr(b);
}

/* True when the raw name is an element of the array of strings arr. */
static int
in_list(struct pgflo_span arr, struct pgflo_span name)
{
	struct pgflo_js_iter it;
	struct pgflo_span e;

	if (!span_is(arr, '[') || pgflo_js_arr(&it, arr) == -1)
		return 0;
	while (pgflo_js_arr_next(&it, &e) == 1)
		if (span_eq(e, name))
			return 1;
	return 0;
}

/* Unsigned 64-bit LSN "X/Y" as an integer; -1 when not one. */
static int
lsn_value(struct pgflo_span s, struct pgflo_buf *b, uint64_t *v)
{
	const char *t = dec(b, s), *slash = strchr(t, '/');
	char *end;
	unsigned long long hi, lo;

	if (slash == NULL || slash == t)
		return -1;
	hi = strtoull(t, &end, 16);
	if (end != slash)
		return -1;
	lo = strtoull(slash + 1, &end, 16);
	if (*end != '\0' || end == slash + 1 || hi > 0xffffffffULL ||
	    lo > 0xffffffffULL)
		return -1;
	*v = hi << 32 | lo;
	return 0;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* commit_ts ("2026-11-23T18:00:00.123456Z") as microseconds. */
static int
commit_us(struct pgflo_fmt *f, int64_t *us)
{
	char *t, *z;

	if (!span_is(f->r.commit_ts, '"'))
		return -1;
	t = (char *)dec(&f->s1, f->r.commit_ts);
	if ((z = strchr(t, 'T')) != NULL)
		*z = ' ';
	if ((z = strchr(t, 'Z')) != NULL && z[1] == '\0')
		strcpy(z, "+00");
	return pgflo_pg_timestamp_us(t, strlen(t), us);
}


/* ---- values ---- */

static int
special_number(const char *s)
{
	return strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 ||
	    strcmp(s, "-Infinity") == 0;
}

/* A number as PostgreSQL prints it that is also a valid JSON number. */
static int
plain_number(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && strspn(s, "0123456789+-eE.") == n &&
	    (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) &&
	    pgflo_js_valid(s, n);
}

/* The json/jsonb text of an embedded value, into b. */
static void
json_text(struct pgflo_buf *b, enum pgflo_tclass cls, struct pgflo_span v)
{
	pgflo_buf_reset(b);
	if (cls == PGFLO_T_JSONB)
		pgflo_jsonb_text(b, v);
	else
		pgflo_json_text(b, v);
}

/* A string value's text (or a non-string's raw JSON) as a string. */
static void
put_text(struct pgflo_fmt *f, struct pgflo_span v)
{
	if (v.p == NULL)
		put_raw(f, "null");	/* absent */
	else if (span_is(v, '"'))
		put_jstr(f, v);
	else
		put_str(f, v.p, v.n);
}

/*
 * wal2json's pg_decode_write_value(): numbers unquoted (NaN and
 * Infinity as null), booleans, bytea as hex without "\x", everything
 * else, json and arrays included, as a string of its text output.
 */
static void
val_wal2json(struct pgflo_fmt *f, const struct pgflo_ptype *t,
    struct pgflo_span v, int jnull)
{
	const char *s;

	if (jnull > 0) {
		put_raw(f, "\"null\"");
		return;
	}
	if (span_is(v, 'n')) {
		put_raw(f, "null");
		return;
	}
	if (t->array && span_is(v, '[')) {
		pgflo_buf_reset(&f->s1);
		pgflo_pg_array_text(&f->s1, v, t->cls);
		put_str(f, f->s1.data, f->s1.len);
		return;
	}
	switch (t->cls) {
	case PGFLO_T_INT:
	case PGFLO_T_OID:
	case PGFLO_T_FLOAT:
	case PGFLO_T_NUMERIC:
		if (!span_is(v, '"')) {
			put_span(f, v);
			break;
		}
		s = dec(&f->s1, v);
		if (special_number(s))
			put_raw(f, "null");
		else if (plain_number(s))
			put_raw(f, s);
		else
			put_text(f, v);
		break;
	case PGFLO_T_BOOL:
		put_span(f, v);
		break;
	case PGFLO_T_BYTEA:
		s = dec(&f->s1, v);
		if (s[0] == '\\' && s[1] == 'x')
			s += 2;
		put_cstr(f, s);
		break;
	case PGFLO_T_JSON:
	case PGFLO_T_JSONB:
		json_text(&f->s1, t->cls, v);
		put_str(f, f->s1.data, f->s1.len);
		break;
	default:
		put_text(f, v);
	}
}

static void val_debezium(struct pgflo_fmt *, const struct pgflo_ptype *,
    struct pgflo_span, int);

/* Elements of an array value, each as the format writes its type. */
static void
val_array(struct pgflo_fmt *f, const struct pgflo_ptype *t,
    struct pgflo_span v, int flat,
    void (*one)(struct pgflo_fmt *, const struct pgflo_ptype *,
    struct pgflo_span, int), int *first)
{
	struct pgflo_js_iter it;
	struct pgflo_span e;
	struct pgflo_ptype et = *t;
	int json = t->cls == PGFLO_T_JSON || t->cls == PGFLO_T_JSONB;
	int mine = 1;

	et.array = 0;
	if (first == NULL || !flat) {
		pgflo_buf_putc(&f->out, '[');
		first = &mine;
	}
	pgflo_js_arr(&it, v);
	while (pgflo_js_arr_next(&it, &e) == 1) {
		if (span_is(e, '[') && !json) {
			if (flat)
				val_array(f, t, e, 1, one, first);
			else {
				if (!*first)
					pgflo_buf_putc(&f->out, ',');
				*first = 0;
				val_array(f, t, e, 0, one, NULL);
			}
			continue;
		}
		if (!*first)
			pgflo_buf_putc(&f->out, ',');
		*first = 0;
		one(f, &et, e, -1);	/* -1: an element */
	}
	if (first == &mine)
		pgflo_buf_putc(&f->out, ']');
}

/* Debezium's temporal types (time.precision.mode=adaptive); -1 if not one. */
static int
dbz_time(struct pgflo_fmt *f, const struct pgflo_ptype *t, const char *s)
{
	int64_t n, mo, d, us;

	switch (t->cls) {
	case PGFLO_T_DATE:
		if (pgflo_pg_date_days(s, strlen(s), &n) == 0) {
			pgflo_buf_printf(&f->out, "%lld", (long long)n);
			return 0;
		}
		break;
	case PGFLO_T_TIMESTAMP:
		if (pgflo_pg_timestamp_us(s, strlen(s), &n) == 0) {
			/* MicroTimestamp, or Timestamp (ms) up to (3) */
			if (t->precision >= 0 && t->precision <= 3)
				n = n >= 0 ? n / 1000 : -((-n + 999) / 1000);
			pgflo_buf_printf(&f->out, "%lld", (long long)n);
			return 0;
		}
		break;
	case PGFLO_T_TIMESTAMPTZ:
		/* ZonedTimestamp: exactly (p) digits, else as few as needed */
		if (pgflo_pg_timestamp_us(s, strlen(s), &n) == 0) {
			pgflo_buf_putc(&f->out, '"');
			pgflo_iso_time(&f->out, n, 'T', t->precision > 0 &&
			    t->precision <= 6 ? t->precision : -1, "Z");
			pgflo_buf_putc(&f->out, '"');
			return 0;
		}
		break;
	case PGFLO_T_TIME:
		if (pgflo_pg_time_us(s, strlen(s), &n, 0) == 0) {
			if (t->precision >= 0 && t->precision <= 3)
				n /= 1000;
			pgflo_buf_printf(&f->out, "%lld", (long long)n);
			return 0;
		}
		break;
	case PGFLO_T_TIMETZ:
		if (pgflo_pg_time_us(s, strlen(s), &n, 1) == 0) {
			pgflo_buf_reset(&f->s2);
			pgflo_iso_time(&f->s2, n, 'T', -1, "Z");
			pgflo_buf_putc(&f->out, '"');
			pgflo_buf_puts(&f->out,
			    strchr(pgflo_buf_cstr(&f->s2), 'T') + 1);
			pgflo_buf_putc(&f->out, '"');
			return 0;
		}
		break;
	case PGFLO_T_INTERVAL:
		/* MicroDuration: a month is 365.25 / 12 days */
		if (pgflo_pg_interval(s, strlen(s), &mo, &d,
		    &us) == 0) {
			double days = (double)mo * (365.25 / 12.0) + (double)d;
			double v = days * 86400e6 + (double)us;

			if (v >= 9.2e18 || v <= -9.2e18)
				break;
			pgflo_buf_printf(&f->out, "%lld", (long long)v);
			return 0;
		}
		break;
	default:
		break;
	}
	return -1;
}

/*
 * Debezium's defaults (postgresql.adoc, "Data type mappings"):
 * time.precision.mode=adaptive, decimal.handling.mode=string,
 * binary.handling.mode=bytes (base64 in the JSON converter),
 * interval.handling.mode=numeric, json as a string.
 */
static void
val_debezium(struct pgflo_fmt *f, const struct pgflo_ptype *t,
    struct pgflo_span v, int jnull)
{
	const char *s;
	size_t i;

	if (jnull > 0) {
		put_raw(f, "\"null\"");
		return;
	}
	if (span_is(v, 'n')) {
		put_raw(f, "null");
		return;
	}
	if (t->array && span_is(v, '[')) {
		val_array(f, t, v, 0, val_debezium, NULL);
		return;
	}
	s = span_is(v, '"') ? dec(&f->s1, v) : NULL;
	switch (t->cls) {
	case PGFLO_T_INT:
	case PGFLO_T_OID:
	case PGFLO_T_BOOL:
	case PGFLO_T_FLOAT:
		if (s == NULL)
			put_span(f, v);
		else
			put_cstr(f, s);		/* NaN, Infinity */
		return;
	case PGFLO_T_NUMERIC:
		if (s == NULL)
			put_str(f, v.p, v.n);
		else
			put_cstr(f, s);
		return;
	case PGFLO_T_MONEY:
		/* BigDecimal's text: the digits, sign and point of "$1,234.50" */
		if (s == NULL)
			break;
		pgflo_buf_reset(&f->s2);
		for (i = 0; s[i] != '\0'; i++)
			if ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
			    s[i] == '-')
				pgflo_buf_putc(&f->s2, s[i]);
		pgflo_buf_putc(&f->out, '"');
		pgflo_buf_putn(&f->out, f->s2.data, f->s2.len);
		pgflo_buf_putc(&f->out, '"');
		return;
	case PGFLO_T_DATE:
	case PGFLO_T_TIMESTAMP:
	case PGFLO_T_TIMESTAMPTZ:
	case PGFLO_T_TIME:
	case PGFLO_T_TIMETZ:
	case PGFLO_T_INTERVAL:
		if (s != NULL && dbz_time(f, t, s) == 0)
			return;
		break;
	case PGFLO_T_BYTEA:
		pgflo_buf_reset(&f->s2);
		if (s != NULL && pgflo_hex_decode(&f->s2, s, strlen(s)) == 0) {
			pgflo_buf_reset(&f->s1);
			pgflo_base64(&f->s1, f->s2.data, f->s2.len);
			put_str(f, f->s1.data, f->s1.len);
			return;
		}
		break;
	case PGFLO_T_JSON:
	case PGFLO_T_JSONB:
		json_text(&f->s1, t->cls, v);
		put_str(f, f->s1.data, f->s1.len);
		return;
	case PGFLO_T_HSTORE:
		/* hstore.handling.mode=json: a string of a JSON object */
		pgflo_buf_reset(&f->s2);
		if (s != NULL && pgflo_hstore_json(&f->s2, s, strlen(s)) == 0) {
			put_str(f, f->s2.data, f->s2.len);
			return;
		}
		break;
	default:
		/* a domain over a number or boolean: its base type's value */
		if (s == NULL) {
			put_span(f, v);
			return;
		}
		break;
	}
	put_text(f, v);
}

/* macaddr "08:00:2b:01:02:03" as bytes, base64 ([]byte in Go). */
static int
put_macaddr(struct pgflo_fmt *f, const char *s)
{
	size_t i;

	pgflo_buf_reset(&f->s2);
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] != ':' && s[i] != '-' && s[i] != '.')
			pgflo_buf_putc(&f->s2, s[i]);
	pgflo_buf_reset(&f->s1);
	if (pgflo_hex_decode(&f->s1, f->s2.data, f->s2.len) == -1)
		return -1;
	pgflo_buf_reset(&f->s2);
	pgflo_base64(&f->s2, f->s1.data, f->s1.len);
	put_str(f, f->s2.data, f->s2.len);
	return 0;
}

/* pgx's temporal values; -1 if s is not one. */
static int
pgflo_time(struct pgflo_fmt *f, const struct pgflo_ptype *t, const char *s)
{
	int64_t n, mo, d, us;

	switch (t->cls) {
	case PGFLO_T_DATE:
	case PGFLO_T_TIMESTAMP:
	case PGFLO_T_TIMESTAMPTZ:
		/* InfinityModifier, an int8: 1 and -1 */
		if (strcmp(s, "infinity") == 0 || strcmp(s, "-infinity") == 0) {
			put_raw(f, *s == '-' ? "-1" : "1");
			return 0;
		}
		if (t->cls == PGFLO_T_DATE ?
		    pgflo_pg_date_days(s, strlen(s), &n) == 0 &&
		    n < INT64_C(106751990) && n > -INT64_C(106751990) &&
		    (n *= INT64_C(86400000000), 1) :
		    pgflo_pg_timestamp_us(s, strlen(s), &n) == 0) {
			/* time.Time: RFC 3339 with nanoseconds, trimmed */
			pgflo_buf_putc(&f->out, '"');
			pgflo_iso_time(&f->out, n, 'T', -1, "Z");
			pgflo_buf_putc(&f->out, '"');
			return 0;
		}
		break;
	case PGFLO_T_TIME:
		if (pgflo_pg_time_us(s, strlen(s), &n, 0) == 0) {
			pgflo_buf_printf(&f->out,
			    "{\"Microseconds\":%lld,\"Valid\":true}",
			    (long long)n);
			return 0;
		}
		break;
	case PGFLO_T_INTERVAL:
		if (pgflo_pg_interval(s, strlen(s), &mo, &d,
		    &us) == 0) {
			pgflo_buf_printf(&f->out, "{\"Microseconds\":%lld,"
			    "\"Days\":%lld,\"Months\":%lld,\"Valid\":true}",
			    (long long)us, (long long)d, (long long)mo);
			return 0;
		}
		break;
	default:
		break;
	}
	return -1;
}

/* pgx's text decoding as pg_flo's buildDecodedMessage() marshals it. */
static void
val_pgflo(struct pgflo_fmt *f, const struct pgflo_ptype *t,
    struct pgflo_span v, int jnull)
{
	const char *s;
	size_t i;

	if (jnull > 0) {
		put_raw(f, "\"null\"");
		return;
	}
	if (span_is(v, 'n')) {
		put_raw(f, "null");
		return;
	}
	if (t->array && span_is(v, '[')) {
		int first = 1;

		/* pgx's ArrayCodec gives a flat []any */
		pgflo_buf_putc(&f->out, '[');
		val_array(f, t, v, 1, val_pgflo, &first);
		pgflo_buf_putc(&f->out, ']');
		return;
	}
	s = span_is(v, '"') ? dec(&f->s1, v) : NULL;
	switch (t->cls) {
	case PGFLO_T_INT:
	case PGFLO_T_OID:
	case PGFLO_T_BOOL:
	case PGFLO_T_FLOAT:
	case PGFLO_T_NUMERIC:
		/* pgtype.Numeric's MarshalJSON: digits, or "NaN" */
		if (s == NULL)
			put_span(f, v);
		else if (plain_number(s))
			put_raw(f, s);
		else
			put_cstr(f, s);
		return;
	case PGFLO_T_DATE:
	case PGFLO_T_TIMESTAMP:
	case PGFLO_T_TIMESTAMPTZ:
	case PGFLO_T_TIME:
	case PGFLO_T_INTERVAL:
		if (s != NULL && pgflo_time(f, t, s) == 0)
			return;
		break;
	case PGFLO_T_BYTEA:
		/* []byte: base64 */
		pgflo_buf_reset(&f->s2);
		if (s != NULL && pgflo_hex_decode(&f->s2, s, strlen(s)) == 0) {
			pgflo_buf_reset(&f->s1);
			pgflo_base64(&f->s1, f->s2.data, f->s2.len);
			put_str(f, f->s1.data, f->s1.len);
			return;
		}
		break;
	case PGFLO_T_UUID:
		/* [16]byte: an array of numbers */
		pgflo_buf_reset(&f->s2);
		if (s == NULL || strlen(s) != 36)
			break;
		for (i = 0; s[i] != '\0'; i++)
			if (s[i] != '-')
				pgflo_buf_putc(&f->s2, s[i]);
		pgflo_buf_reset(&f->s1);
		if (pgflo_hex_decode(&f->s1, f->s2.data, f->s2.len) == -1 ||
		    f->s1.len != 16)
			break;
		pgflo_buf_putc(&f->out, '[');
		for (i = 0; i < 16; i++)
			pgflo_buf_printf(&f->out, i ? ",%u" : "%u",
			    (unsigned char)f->s1.data[i]);
		pgflo_buf_putc(&f->out, ']');
		return;
	case PGFLO_T_INET:
		/* netip.Prefix: always with its length */
		if (s == NULL)
			break;
		pgflo_buf_reset(&f->s2);
		pgflo_buf_puts(&f->s2, s);
		if (strchr(s, '/') == NULL)
			pgflo_buf_puts(&f->s2, strchr(s, ':') ? "/128" : "/32");
		put_str(f, f->s2.data, f->s2.len);
		return;
	case PGFLO_T_MACADDR:
		if (s != NULL && put_macaddr(f, s) == 0)
			return;
		break;
	case PGFLO_T_QCHAR:
		/* QCharCodec: a rune, the byte's number */
		if (s != NULL && strlen(s) <= 1) {
			pgflo_buf_printf(&f->out, "%u", (unsigned char)*s);
			return;
		}
		break;
	case PGFLO_T_JSON:
	case PGFLO_T_JSONB:
		/* as text at the top (pg_flo's own rule), decoded in arrays */
		if (jnull == -1) {
			put_span(f, v);
			return;
		}
		json_text(&f->s1, t->cls, v);
		put_str(f, f->s1.data, f->s1.len);
		return;
	default:
		break;
	}
	put_text(f, v);
}

/* Postgrex's values as Jason encodes them (Sequin's messages.mdx). */
static void
val_sequin(struct pgflo_fmt *f, const struct pgflo_ptype *t,
    struct pgflo_span v, int jnull)
{
	const char *s;
	int64_t n;

	(void)jnull;
	if (span_is(v, 'n')) {
		put_raw(f, "null");
		return;
	}
	if (t->array && span_is(v, '[')) {
		val_array(f, t, v, 0, val_sequin, NULL);
		return;
	}
	s = span_is(v, '"') ? dec(&f->s1, v) : NULL;
	switch (t->cls) {
	case PGFLO_T_NUMERIC:
		if (s != NULL && plain_number(s)) {
			put_raw(f, s);
			return;
		}
		break;
	case PGFLO_T_TIMESTAMPTZ:
	case PGFLO_T_TIMESTAMP:
		if (s != NULL && pgflo_pg_timestamp_us(s, strlen(s), &n) == 0) {
			/* DateTime (Z) and NaiveDateTime, microseconds */
			pgflo_buf_putc(&f->out, '"');
			pgflo_iso_time(&f->out, n, 'T', 6,
			    t->cls == PGFLO_T_TIMESTAMPTZ ? "Z" : "");
			pgflo_buf_putc(&f->out, '"');
			return;
		}
		break;
	case PGFLO_T_JSON:
	case PGFLO_T_JSONB:
		put_span(f, v);
		return;
	default:
		break;
	}
	if (s == NULL)
		put_span(f, v);
	else
		put_text(f, v);
}

static void
val(struct pgflo_fmt *f, const struct col *c, struct pgflo_span v, int jnull)
{
	switch (f->o.kind) {
	case PGFLO_FMT_DEBEZIUM:
		val_debezium(f, &c->t, v, jnull);
		break;
	case PGFLO_FMT_PGFLO:
		if ((c->strarr || c->t.cls == PGFLO_T_OTHER ||
		    c->t.cls == PGFLO_T_BOX) && span_is(v, '[')) {
			/* pg_flo keeps these arrays as their text */
			pgflo_buf_reset(&f->s1);
			pgflo_pg_array_text(&f->s1, v, c->t.cls);
			put_str(f, f->s1.data, f->s1.len);
		} else
			val_pgflo(f, &c->t, v, jnull);
		break;
	case PGFLO_FMT_SEQUIN:
		val_sequin(f, &c->t, v, jnull);
		break;
	case PGFLO_FMT_WAL2JSON:
		val_wal2json(f, &c->t, v, jnull);
		break;
	}
}

/* ---- reading a record ---- */

static const struct {
	const char *key;
	size_t	 off;
} fields[] = {
#define F(k) { #k, offsetof(struct rec, k) }
	F(op), F(schema), F(table), F(commit_lsn), F(ordinal), F(xid),
	F(commit_ts), F(key), F(types), F(new), F(old), F(unchanged),
	F(snapshot), F(prefix), F(content), F(content_hex),
	F(transactional), F(tag), F(object_type), F(statement),
	F(json_null), F(old_json_null),
#undef F
};

/* The raw key k is the string key: a byte compare unless k has escapes. */
static int
key_is(struct pgflo_span k, const char *key)
{
	size_t n = strlen(key);

	if (memchr(k.p, '\\', k.n) != NULL)
		return pgflo_js_str_eq(k, key);
	return k.n == n + 2 && memcmp(k.p + 1, key, n) == 0;
}

static int
parse_fields(struct pgflo_fmt *f, const char *line, size_t len)
{
	struct pgflo_js_iter it;
	struct pgflo_span whole = { line, len }, k, v;
	size_t i;

	memset(&f->r, 0, sizeof(f->r));
	/* Not UTF-8 is not JSON (jansson's words say where). */
	if (!pgflo_js_valid(line, len) || !pgflo_jw_valid_utf8(line, len))
		return PGFLO_FMT_BADJSON;
	whole.p = pgflo_js_ws(line, line + len);
	whole.n = (size_t)(line + len - whole.p);
	if (pgflo_js_obj(&it, whole) == -1)
		return PGFLO_FMT_BADJSON;
	while (pgflo_js_obj_next(&it, &k, &v) == 1)
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (key_is(k, fields[i].key)) {
				*(struct pgflo_span *)((char *)&f->r +
				    fields[i].off) = v;
				break;
			}
	if (span_is(f->r.op, '"') && f->r.op.n < sizeof(f->r.opname) + 2) {
		memcpy(f->r.opname, f->r.op.p + 1, f->r.op.n - 2);
		f->r.opname[f->r.op.n - 2] = '\0';
	}
	f->r.is_snapshot = span_is(f->r.snapshot, 't');
	return 0;
}

/* pg_flo's list of array types it passes on as their text. */
static int
text_array_type(const char *t)
{
	static const char *const names[] = {
		"integer[]", "bigint[]", "text[]", "boolean[]", "real[]",
		"double precision[]", "bytea[]", "uuid[]",
		"timestamp without time zone[]", NULL
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(t, names[i]) == 0)
			return 1;
	return strncmp(t, "numeric", 7) == 0 ||
	    (strncmp(t, "timestamp(", 10) == 0 &&
	    strstr(t, "without time zone[]") != NULL);
}

/*
 * A column's type class, from a cache of the type names seen: records
 * repeat their tables' few type names, and classifying one costs a
 * decode and a table search.
 */
static void
type_of(struct pgflo_fmt *f, struct col *c)
{
	struct tcache *e;
	const char *tn;
	size_t i;

	for (i = 0; i < f->ntc; i++) {
		e = &f->tc[i];
		if (e->n == c->tname.n && memcmp(e->raw, c->tname.p, e->n) == 0) {
			c->t = e->t;
			c->strarr = e->strarr;
			return;
		}
	}
	tn = dec(&f->s1, c->tname);
	pgflo_ptype_parse(tn, strlen(tn), &c->t);
	c->strarr = c->t.array && text_array_type(tn);
	if (f->ntc == sizeof(f->tc) / sizeof(f->tc[0]))
		return;
	e = &f->tc[f->ntc++];
	e->raw = pgflo_xmalloc(c->tname.n);
	memcpy(e->raw, c->tname.p, c->tname.n);
	e->n = c->tname.n;
	e->t = c->t;
	e->strarr = c->strarr;
}

static int
parse_types(struct pgflo_fmt *f, char *err, size_t errlen)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, v;
	struct col *c;

	f->ncols = 0;
	pgflo_buf_reset(&f->names);
	if (!span_is(f->r.types, '{') || pgflo_js_obj(&it, f->r.types) == -1) {
		snprintf(err, errlen, "%s record without \"types\"",
		    f->r.opname);
		return -1;
	}
	while (pgflo_js_obj_next(&it, &k, &v) == 1) {
		if (!span_is(v, '"')) {
			snprintf(err, errlen, "\"types\" holds a non-string");
			return -1;
		}
		if (f->ncols == f->capcols) {
			f->capcols = f->capcols ? f->capcols * 2 : 16;
			f->cols = pgflo_xrealloc(f->cols,
			    f->capcols * sizeof(*f->cols));
			f->order = pgflo_xrealloc(f->order,
			    f->capcols * sizeof(*f->order));
		}
		c = &f->cols[f->ncols];
		c->name = k;
		c->tname = v;
		type_of(f, c);
		c->dname = f->names.len;
		pgflo_js_str(&f->names, k);
		c->dlen = f->names.len - c->dname;
		f->order[f->ncols] = f->ncols;
		f->ncols++;
	}
	return 0;
}

static int
parse_row(struct row *row, struct pgflo_span obj)
{
	struct pgflo_js_iter it;
	struct pgflo_span k, v;

	row->n = row->hint = 0;
	if (!span_is(obj, '{') || pgflo_js_obj(&it, obj) == -1)
		return -1;
	while (pgflo_js_obj_next(&it, &k, &v) == 1) {
		if (row->n == row->cap) {
			row->cap = row->cap ? row->cap * 2 : 16;
			row->kv = pgflo_xrealloc(row->kv,
			    row->cap * sizeof(*row->kv));
		}
		row->kv[row->n].k = k;
		row->kv[row->n].v = v;
		row->n++;
	}
	return 0;
}

/* The value of column c in row, or a span with p NULL when absent. */
static struct pgflo_span
lookup(struct row *row, const struct col *c)
{
	struct pgflo_span none = { NULL, 0 };
	size_t i, j;

	/* Rows list columns in the order of "types": start at the hint. */
	for (i = 0; i < row->n; i++) {
		j = (row->hint + i) % row->n;
		if (span_eq(row->kv[j].k, c->name)) {
			row->hint = j + 1;
			return row->kv[j].v;
		}
	}
	return none;
}

static int
key_is_every_column(struct pgflo_fmt *f)
{
	size_t i;

	if (f->ncols == 0)
		return 0;
	for (i = 0; i < f->ncols; i++)
		if (!in_list(f->r.key, f->cols[i].name))
			return 0;
	return 1;
}

/* What an op needs; err names what is missing. */
static int
check_record(struct pgflo_fmt *f, char *err, size_t errlen)
{
	const char *op = f->r.opname, *what = NULL;
	int change = strcmp(op, "insert") == 0 || strcmp(op, "update") == 0 ||
	    strcmp(op, "delete") == 0;

	if (change || strcmp(op, "truncate") == 0 || strcmp(op, "ddl") == 0) {
		if (!span_is(f->r.schema, '"'))
			what = "schema";
		else if (!span_is(f->r.table, '"'))
			what = "table";
	}
	if (what == NULL && change && !f->r.is_snapshot &&
	    !span_is(f->r.commit_lsn, '"'))
		what = "commit_lsn";
	if (what == NULL && (strcmp(op, "insert") == 0 ||
	    strcmp(op, "update") == 0) && !span_is(f->r.new, '{'))
		what = "new";
	if (what == NULL && strcmp(op, "delete") == 0 &&
	    !span_is(f->r.old, '{'))
		what = "old";
	if (what != NULL) {
		snprintf(err, errlen, "%s record without \"%s\"", op, what);
		return -1;
	}
	if (change) {
		if (parse_types(f, err, errlen) == -1)
			return -1;
		parse_row(&f->nrow, f->r.new);
		parse_row(&f->orow, f->r.old);
	}
	return 0;
}

/* ---- wal2json format-version 2 (wal2json.c, README.md) ---- */

/* include-xids, include-timestamp: after "action". */
static void
w2j_tx_fields(struct pgflo_fmt *f, int nulls)
{
	int64_t us;

	if (f->o.xids) {
		put_raw(f, ",\"xid\":");
		if (span_is(f->r.xid, '"') || f->r.xid.p == NULL ||
		    span_is(f->r.xid, 'n'))
			put_raw(f, nulls ? "null" : "0");
		else
			put_span(f, f->r.xid);
	}
	if (f->o.timestamps) {
		put_raw(f, ",\"timestamp\":");
		if (commit_us(f, &us) == -1)
			put_raw(f, "null");
		else {
			/* timestamptz_to_str(): "2026-11-23 18:00:00.5+00" */
			pgflo_buf_putc(&f->out, '"');
			pgflo_iso_time(&f->out, us, ' ', -1, "+00");
			pgflo_buf_putc(&f->out, '"');
		}
	}
}

/* [{"name":..,"type":..,"value":..}, ...] of row, in column order. */
static void
w2j_columns(struct pgflo_fmt *f, struct row *row, struct pgflo_span jnulls,
    int keyonly)
{
	const struct col *c;
	struct pgflo_span v;
	const char *tn;
	size_t i, n;
	int first = 1;

	pgflo_buf_putc(&f->out, '[');
	for (i = 0; i < f->ncols; i++) {
		c = &f->cols[i];
		if (keyonly && !in_list(f->r.key, c->name))
			continue;
		if ((v = lookup(row, c)).p == NULL)
			continue;	/* unchanged TOAST, or not in the key */
		if (!first)
			pgflo_buf_putc(&f->out, ',');
		first = 0;
		put_raw(f, "{\"name\":");
		put_jstr(f, c->name);
		put_raw(f, ",\"type\":");
		/* a quoted type name loses its quotes, as in wal2json */
		tn = dec(&f->s1, c->tname);
		n = strlen(tn);
		if (n >= 2 && tn[0] == '"' && tn[n - 1] == '"' &&
		    memchr(tn + 1, '"', n - 2) == NULL)
			put_str(f, tn + 1, n - 2);
		else
			put_str(f, tn, n);
		put_raw(f, ",\"value\":");
		val(f, c, v, in_list(jnulls, c->name));
		pgflo_buf_putc(&f->out, '}');
	}
	pgflo_buf_putc(&f->out, ']');
}

static int
fmt_wal2json(struct pgflo_fmt *f)
{
	const char *op = f->r.opname;
	char action;

	if (strcmp(op, "begin") == 0 || strcmp(op, "commit") == 0) {
		pgflo_buf_printf(&f->out, "{\"action\":\"%c\"",
		    *op == 'b' ? 'B' : 'C');
		w2j_tx_fields(f, 0);
		pgflo_buf_putc(&f->out, '}');
		return 1;
	}
	if (strcmp(op, "message") == 0) {
		int tx = span_is(f->r.transactional, 't');

		put_raw(f, "{\"action\":\"M\"");
		w2j_tx_fields(f, !tx);
		pgflo_buf_printf(&f->out, ",\"transactional\":%s,\"prefix\":",
		    tx ? "true" : "false");
		put_text(f, f->r.prefix);
		put_raw(f, ",\"content\":");
		if (f->r.content.p == NULL && span_is(f->r.content_hex, '"')) {
			pgflo_buf_reset(&f->s1);
			dec(&f->s2, f->r.content_hex);
			pgflo_hex_decode(&f->s1, f->s2.data, f->s2.len);
			put_str(f, f->s1.data, f->s1.len);
		} else
			put_text(f, f->r.content);
		pgflo_buf_putc(&f->out, '}');
		return 1;
	}
	action = strcmp(op, "insert") == 0 ? 'I' : strcmp(op, "update") == 0 ?
	    'U' : strcmp(op, "delete") == 0 ? 'D' :
	    strcmp(op, "truncate") == 0 ? 'T' : 0;
	if (action == 0)
		return 0;	/* ddl, snapshot: none in wal2json */
	/* "no tuple identifier for UPDATE": wal2json warns and drops it */
	if (action == 'U' && f->orow.n == 0 &&
	    (!span_is(f->r.key, '[') || f->r.key.n <= 2))
		return 0;
	pgflo_buf_printf(&f->out, "{\"action\":\"%c\"", action);
	if (!f->r.is_snapshot)
		w2j_tx_fields(f, 0);
	put_raw(f, ",\"schema\":");
	put_jstr(f, f->r.schema);
	put_raw(f, ",\"table\":");
	put_jstr(f, f->r.table);
	if (action == 'I' || action == 'U') {
		put_raw(f, ",\"columns\":");
		w2j_columns(f, &f->nrow, f->r.json_null, 0);
	}
	/* identity: the old key (or row), else the key from the new row */
	if (action == 'D' || (action == 'U' && f->orow.n > 0)) {
		put_raw(f, ",\"identity\":");
		w2j_columns(f, &f->orow, f->r.old_json_null, 0);
	} else if (action == 'U' && span_is(f->r.key, '[') &&
	    f->r.key.n > 2) {
		put_raw(f, ",\"identity\":");
		w2j_columns(f, &f->nrow, f->r.json_null, 1);
	}
	pgflo_buf_putc(&f->out, '}');
	return 1;
}

/* ---- pg_flo (pkg/sinks/shared.go buildDecodedMessage) ---- */

static struct pgflo_fmt *sort_f;

/* Go sorts map keys by their bytes. */
static int
by_name(const void *a, const void *b)
{
	const struct col *x = &sort_f->cols[*(const size_t *)a];
	const struct col *y = &sort_f->cols[*(const size_t *)b];
	const char *nm = sort_f->names.data;
	size_t n = x->dlen < y->dlen ? x->dlen : y->dlen;
	int c = memcmp(nm + x->dname, nm + y->dname, n);

	if (c != 0)
		return c;
	return x->dlen < y->dlen ? -1 : x->dlen > y->dlen;
}

/* A map of every column; absent ones (unchanged TOAST, not in the key) null. */
static void
pgflo_tuple(struct pgflo_fmt *f, const char *name, struct row *row,
    struct pgflo_span jnulls)
{
	const struct col *c;
	struct pgflo_span v;
	size_t i;

	pgflo_buf_printf(&f->out, ",\"%s\":{", name);
	for (i = 0; i < f->ncols; i++) {
		c = &f->cols[f->order[i]];
		if (i > 0)
			pgflo_buf_putc(&f->out, ',');
		put_str(f, f->names.data + c->dname, c->dlen);
		pgflo_buf_putc(&f->out, ':');
		if ((v = lookup(row, c)).p == NULL)
			put_raw(f, "null");
		else
			val(f, c, v, in_list(jnulls, c->name));
	}
	pgflo_buf_putc(&f->out, '}');
}

static void
pgflo_head(struct pgflo_fmt *f)
{
	/* EmittedAt is time.Now() where pg_flo builds the message */
	put_raw(f, "{\"EmittedAt\":\"");
	pgflo_iso_time(&f->out, now_us(), 'T', -1, "Z");
	put_raw(f, "\",\"LSN\":");
	if (span_is(f->r.commit_lsn, '"') && !f->r.is_snapshot &&
	    strcmp(f->r.opname, "ddl") != 0) {
		/* pglogrepl's LSN.String(): "%X/%X" */
		uint64_t lsn;

		if (lsn_value(f->r.commit_lsn, &f->s1, &lsn) == 0)
			pgflo_buf_printf(&f->out, "\"%X/%X\"",
			    (unsigned)(lsn >> 32), (unsigned)lsn);
		else
			put_text(f, f->r.commit_lsn);
	} else
		put_raw(f, "\"\"");
}

static void
pgflo_tail(struct pgflo_fmt *f, const char *type)
{
	struct pgflo_js_iter it;
	struct pgflo_span e;
	int first = 1;

	/* ReplicationKey: the primary key, FULL, or none */
	put_raw(f, ",\"ReplicationKey\":{\"Type\":");
	if (strcmp(type, "DDL") == 0 || !span_is(f->r.key, '[') ||
	    f->r.key.n <= 2)
		put_raw(f, "\"\",\"Columns\":null}");
	else if (key_is_every_column(f) && f->ncols > 1)
		put_raw(f, "\"FULL\",\"Columns\":null}");
	else {
		put_raw(f, "\"PRIMARY KEY\",\"Columns\":[");
		pgflo_js_arr(&it, f->r.key);
		while (pgflo_js_arr_next(&it, &e) == 1) {
			if (!first)
				pgflo_buf_putc(&f->out, ',');
			first = 0;
			put_text(f, e);
		}
		put_raw(f, "]}");
	}
	put_raw(f, ",\"Schema\":");
	put_jstr(f, f->r.schema);
	put_raw(f, ",\"Table\":");
	put_jstr(f, f->r.table);
	pgflo_buf_printf(&f->out, ",\"Type\":\"%s\"}", type);
}

/* DDL as pg_flo's ddl_replicator.go publishes it: a NewTuple of text. */
static void
pgflo_ddl(struct pgflo_fmt *f)
{
	int64_t us;

	put_raw(f, ",\"NewTuple\":{\"created_at\":");
	if (commit_us(f, &us) == 0) {
		/* stored with time.RFC3339: whole seconds */
		us -= ((us % 1000000) + 1000000) % 1000000;
		pgflo_buf_putc(&f->out, '"');
		pgflo_iso_time(&f->out, us, 'T', -1, "Z");
		pgflo_buf_putc(&f->out, '"');
	} else
		put_raw(f, "null");
	put_raw(f, ",\"ddl_command\":");
	put_text(f, f->r.statement);
	put_raw(f, ",\"event_type\":");
	put_text(f, f->r.tag);
	put_raw(f, ",\"object_identity\":");
	pgflo_buf_reset(&f->s1);
	dec(&f->s2, f->r.schema);
	pgflo_buf_puts(&f->s1, f->s2.data);
	pgflo_buf_putc(&f->s1, '.');
	dec(&f->s2, f->r.table);
	pgflo_buf_puts(&f->s1, f->s2.data);
	put_str(f, f->s1.data, f->s1.len);
	put_raw(f, ",\"object_type\":");
	put_text(f, f->r.object_type);
	pgflo_buf_putc(&f->out, '}');
}

static int
fmt_pgflo(struct pgflo_fmt *f)
{
	const char *op = f->r.opname;

	if (strcmp(op, "ddl") == 0) {
		pgflo_head(f);
		pgflo_ddl(f);
		pgflo_tail(f, "DDL");
		return 1;
	}
	if (strcmp(op, "insert") != 0 && strcmp(op, "update") != 0 &&
	    strcmp(op, "delete") != 0)
		return 0;	/* pg_flo has no truncate, begin or commit */
	sort_f = f;
	qsort(f->order, f->ncols, sizeof(*f->order), by_name);
	pgflo_head(f);
	if (*op != 'd')
		pgflo_tuple(f, "NewTuple", &f->nrow, f->r.json_null);
	if (*op == 'd' || f->orow.n > 0)
		pgflo_tuple(f, "OldTuple", &f->orow, f->r.old_json_null);
	pgflo_tail(f, *op == 'i' ? "INSERT" : *op == 'u' ? "UPDATE" :
	    "DELETE");
	return 1;
}

/* ---- Sequin (docs/reference/messages.mdx) ---- */

/* An object of row's columns in table order; absent ones left out. */
static void
obj_row(struct pgflo_fmt *f, struct row *row, struct pgflo_span jnulls,
    struct row *fallback)
{
	const struct col *c;
	struct pgflo_span v;
	size_t i;
	int first = 1;

	pgflo_buf_putc(&f->out, '{');
	for (i = 0; i < f->ncols; i++) {
		c = &f->cols[i];
		v = lookup(row, c);
		if (v.p == NULL && fallback != NULL)
			v = lookup(fallback, c);
		if (v.p == NULL)
			continue;
		if (!first)
			pgflo_buf_putc(&f->out, ',');
		first = 0;
		put_jstr(f, c->name);
		pgflo_buf_putc(&f->out, ':');
		val(f, c, v, in_list(jnulls, c->name));
	}
	pgflo_buf_putc(&f->out, '}');
}

/* "changes": the old values of the columns whose value changed. */
static void
sequin_changes(struct pgflo_fmt *f)
{
	const struct col *c;
	struct pgflo_span nv, ov;
	size_t i;
	int first = 1;

	pgflo_buf_putc(&f->out, '{');
	for (i = 0; i < f->ncols; i++) {
		c = &f->cols[i];
		if ((ov = lookup(&f->orow, c)).p == NULL ||
		    (nv = lookup(&f->nrow, c)).p == NULL || span_eq(ov, nv))
			continue;
		if (!first)
			pgflo_buf_putc(&f->out, ',');
		first = 0;
		put_jstr(f, c->name);
		pgflo_buf_putc(&f->out, ':');
		val(f, c, ov, in_list(f->r.old_json_null, c->name));
	}
	pgflo_buf_putc(&f->out, '}');
}

static void
sequin_metadata(struct pgflo_fmt *f)
{
	uint64_t lsn = 0;
	struct pgflo_span none = { NULL, 0 };

	put_raw(f, ",\"metadata\":{\"table_schema\":");
	put_jstr(f, f->r.schema);
	put_raw(f, ",\"table_name\":");
	put_jstr(f, f->r.table);
	put_raw(f, ",\"idempotency_key\":\"");
	pgflo_buf_reset(&f->s2);
	if (f->r.is_snapshot) {
		/* a backfill's key: the table and the row's key values */
		pgflo_buf_printf(&f->s2, "%s.", dec(&f->s1, f->r.schema));
		pgflo_buf_printf(&f->s2, "%s:", dec(&f->s1, f->r.table));
		if (span_is(f->r.key, '[')) {
			struct pgflo_js_iter it;
			struct pgflo_span e;
			struct col kc;

			memset(&kc, 0, sizeof(kc));
			pgflo_js_arr(&it, f->r.key);
			while (pgflo_js_arr_next(&it, &e) == 1) {
				kc.name = e;
				none = lookup(&f->nrow, &kc);
				if (none.p != NULL)
					pgflo_buf_putn(&f->s2, none.p, none.n);
				pgflo_buf_putc(&f->s2, ',');
			}
		}
	} else {
		lsn_value(f->r.commit_lsn, &f->s1, &lsn);
		pgflo_buf_printf(&f->s2, "%llu:%.*s", (unsigned long long)lsn,
		    (int)f->r.ordinal.n, f->r.ordinal.p != NULL ?
		    f->r.ordinal.p : "");
	}
	pgflo_buf_reset(&f->s1);
	pgflo_base64(&f->s1, f->s2.data, f->s2.len);
	pgflo_buf_putn(&f->out, f->s1.data, f->s1.len);
	put_raw(f, "\",\"commit_timestamp\":");
	if (f->r.is_snapshot || !span_is(f->r.commit_ts, '"')) {
		pgflo_buf_putc(&f->out, '"');
		pgflo_iso_time(&f->out, now_us(), 'T', 6, "Z");
		pgflo_buf_putc(&f->out, '"');
	} else
		put_jstr(f, f->r.commit_ts);
	pgflo_buf_printf(&f->out, ",\"commit_lsn\":%llu,\"commit_idx\":",
	    (unsigned long long)lsn);
	if (f->r.is_snapshot || f->r.ordinal.p == NULL)
		put_raw(f, "0");
	else
		put_span(f, f->r.ordinal);
	put_raw(f, "}}");
}

static int
fmt_sequin(struct pgflo_fmt *f)
{
	const char *op = f->r.opname;

	if (strcmp(op, "insert") != 0 && strcmp(op, "update") != 0 &&
	    strcmp(op, "delete") != 0)
		return 0;	/* Sequin sends row changes only */
	put_raw(f, "{\"record\":");
	if (*op == 'd')
		obj_row(f, &f->orow, f->r.old_json_null, NULL);
	else
		obj_row(f, &f->nrow, f->r.json_null,
		    *op == 'u' ? &f->orow : NULL);
	put_raw(f, ",\"changes\":");
	if (*op == 'u')
		sequin_changes(f);
	else
		put_raw(f, "null");
	put_raw(f, ",\"action\":");
	put_cstr(f, f->r.is_snapshot ? "read" : op);
	sequin_metadata(f);
	return 1;
}

/* ---- Debezium (documentation/.../connectors/postgresql.adoc) ---- */

/* A struct of every column: absent ones null, or the placeholder. */
static void
dbz_row(struct pgflo_fmt *f, struct row *row, struct pgflo_span jnulls,
    struct pgflo_span unchanged)
{
	const struct col *c;
	struct pgflo_span v;
	const char *ph = f->o.placeholder;
	size_t i;

	pgflo_buf_putc(&f->out, '{');
	for (i = 0; i < f->ncols; i++) {
		c = &f->cols[i];
		if (i > 0)
			pgflo_buf_putc(&f->out, ',');
		put_jstr(f, c->name);
		pgflo_buf_putc(&f->out, ':');
		if ((v = lookup(row, c)).p != NULL)
			val(f, c, v, in_list(jnulls, c->name));
		else if (!in_list(unchanged, c->name))
			put_raw(f, "null");
		else if (row == &f->nrow && (v = lookup(&f->orow, c)).p != NULL)
			/* REPLICA IDENTITY FULL: the old row has it */
			val(f, c, v, in_list(f->r.old_json_null, c->name));
		else if (c->t.cls == PGFLO_T_BYTEA && !c->t.array) {
			pgflo_buf_reset(&f->s1);
			pgflo_base64(&f->s1, ph, strlen(ph));
			put_str(f, f->s1.data, f->s1.len);
		} else if (c->t.array) {
			pgflo_buf_putc(&f->out, '[');
			put_cstr(f, ph);
			pgflo_buf_putc(&f->out, ']');
		} else
			put_cstr(f, ph);
	}
	pgflo_buf_putc(&f->out, '}');
}

static void
dbz_ts(struct pgflo_fmt *f, const char *prefix, int64_t us)
{
	pgflo_buf_printf(&f->out, "%s\"ts_ms\":%lld,\"ts_us\":%lld,"
	    "\"ts_ns\":%lld000", prefix, (long long)(us / 1000),
	    (long long)us, (long long)us);
}

/* source: SchemaFactory.sourceInfoSchemaBuilder() + PostgresSourceInfo. */
static void
dbz_source(struct pgflo_fmt *f, int message)
{
	uint64_t lsn;
	int64_t us;

	if (f->r.is_snapshot || commit_us(f, &us) == -1)
		us = now_us();
	put_raw(f, "\"source\":{\"version\":");
	put_cstr(f, f->o.version);
	put_raw(f, ",\"connector\":\"postgresql\",\"name\":");
	put_cstr(f, f->o.name);
	pgflo_buf_printf(&f->out, ",\"ts_ms\":%lld,\"snapshot\":\"%s\","
	    "\"db\":", (long long)(us / 1000),
	    f->r.is_snapshot ? "true" : "false");
	put_cstr(f, f->o.db);
	pgflo_buf_printf(&f->out, ",\"sequence\":null,\"ts_us\":%lld,"
	    "\"ts_ns\":%lld000,\"schema\":", (long long)us, (long long)us);
	if (message)
		put_raw(f, "\"\",\"table\":\"\"");
	else {
		put_jstr(f, f->r.schema);
		put_raw(f, ",\"table\":");
		put_jstr(f, f->r.table);
	}
	put_raw(f, ",\"txId\":");
	if (f->r.xid.p != NULL && !span_is(f->r.xid, '"') && !f->r.is_snapshot)
		put_span(f, f->r.xid);
	else
		put_raw(f, "null");
	put_raw(f, ",\"lsn\":");
	if (!f->r.is_snapshot && lsn_value(f->r.commit_lsn, &f->s1, &lsn) == 0)
		pgflo_buf_printf(&f->out, "%llu", (unsigned long long)lsn);
	else
		put_raw(f, "null");
	put_raw(f, ",\"xmin\":null}");
}

/* "xid:lsn", Debezium's transaction id, into f->txid. */
static void
dbz_txid(struct pgflo_fmt *f)
{
	uint64_t lsn = 0;

	lsn_value(f->r.commit_lsn, &f->s1, &lsn);
	snprintf(f->txid, sizeof(f->txid), "%.*s:%llu",
	    f->r.xid.p != NULL && f->r.xid.n < 24 ? (int)f->r.xid.n : 0,
	    f->r.xid.p != NULL ? f->r.xid.p : "", (unsigned long long)lsn);
}

static void
dbz_tx_reset(struct pgflo_fmt *f)
{
	size_t i;

	for (i = 0; i < f->ntxc; i++)
		free(f->txc[i].name);
	f->ntxc = 0;
	f->txtotal = 0;
}

/* The transaction block of a change: its orders in the transaction. */
static void
dbz_tx_block(struct pgflo_fmt *f)
{
	char prev[64];
	size_t i;

	memcpy(prev, f->txid, sizeof(prev));
	dbz_txid(f);
	if (strcmp(prev, f->txid) != 0)
		dbz_tx_reset(f);	/* its begin record was dropped */
	pgflo_buf_reset(&f->s2);
	pgflo_buf_printf(&f->s2, "%s.", dec(&f->s1, f->r.schema));
	pgflo_buf_puts(&f->s2, dec(&f->s1, f->r.table));
	pgflo_buf_cstr(&f->s2);
	for (i = 0; i < f->ntxc; i++)
		if (strcmp(f->txc[i].name, f->s2.data) == 0)
			break;
	if (i == f->ntxc) {
		if (f->ntxc == f->captxc) {
			f->captxc = f->captxc ? f->captxc * 2 : 8;
			f->txc = pgflo_xrealloc(f->txc,
			    f->captxc * sizeof(*f->txc));
		}
		f->txc[i].name = pgflo_xstrdup(f->s2.data);
		f->txc[i].n = 0;
		f->ntxc++;
	}
	f->txc[i].n++;
	f->txtotal++;
	put_raw(f, ",\"transaction\":{\"id\":");
	put_cstr(f, f->txid);
	pgflo_buf_printf(&f->out, ",\"total_order\":%lu,"
	    "\"data_collection_order\":%lu}", f->txtotal, f->txc[i].n);
}

/* BEGIN and END events of the transaction metadata topic. */
static int
dbz_boundary(struct pgflo_fmt *f, int begin)
{
	int64_t us;
	size_t i;

	if (!f->o.transactions)
		return 0;
	if (begin) {
		dbz_tx_reset(f);
		dbz_txid(f);
	} else if (f->txid[0] == '\0')
		dbz_txid(f);
	if (commit_us(f, &us) == -1)
		us = now_us();
	put_raw(f, begin ? "{\"status\":\"BEGIN\",\"id\":" :
	    "{\"status\":\"END\",\"id\":");
	put_cstr(f, f->txid);
	pgflo_buf_printf(&f->out, ",\"ts_ms\":%lld", (long long)(us / 1000));
	if (begin)
		put_raw(f, ",\"event_count\":null,\"data_collections\":null}");
	else {
		pgflo_buf_printf(&f->out, ",\"event_count\":%lu,"
		    "\"data_collections\":[", f->txtotal);
		for (i = 0; i < f->ntxc; i++) {
			if (i > 0)
				pgflo_buf_putc(&f->out, ',');
			put_raw(f, "{\"data_collection\":");
			put_cstr(f, f->txc[i].name);
			pgflo_buf_printf(&f->out, ",\"event_count\":%lu}",
			    f->txc[i].n);
		}
		put_raw(f, "]}");
		dbz_tx_reset(f);
		f->txid[0] = '\0';
	}
	return 1;
}

static int
fmt_debezium(struct pgflo_fmt *f)
{
	const char *op = f->r.opname;
	struct pgflo_span none = { NULL, 0 };
	char code;

	if (strcmp(op, "begin") == 0 || strcmp(op, "commit") == 0)
		return dbz_boundary(f, *op == 'b');
	if (strcmp(op, "message") == 0) {
		pgflo_buf_putc(&f->out, '{');
		dbz_source(f, 1);
		put_raw(f, ",\"op\":\"m\"");
		dbz_ts(f, ",", now_us());
		put_raw(f, ",\"message\":{\"prefix\":");
		put_text(f, f->r.prefix);
		put_raw(f, ",\"content\":\"");
		/* bytes: base64 */
		pgflo_buf_reset(&f->s2);
		if (span_is(f->r.content, '"'))
			pgflo_js_str(&f->s2, f->r.content);
		else if (span_is(f->r.content_hex, '"')) {
			dec(&f->s1, f->r.content_hex);
			pgflo_hex_decode(&f->s2, f->s1.data, f->s1.len);
		}
		pgflo_buf_reset(&f->s1);
		pgflo_base64(&f->s1, f->s2.data, f->s2.len);
		pgflo_buf_putn(&f->out, f->s1.data, f->s1.len);
		put_raw(f, "\"}}");
		return 1;
	}
	code = strcmp(op, "insert") == 0 ? (f->r.is_snapshot ? 'r' : 'c') :
	    strcmp(op, "update") == 0 ? 'u' : strcmp(op, "delete") == 0 ?
	    'd' : strcmp(op, "truncate") == 0 ? 't' : 0;
	if (code == 0)
		return 0;	/* ddl, snapshot: none in Debezium */
	/* skipped.operations, "t" by default */
	if (code != 'r' && f->o.skipped != NULL &&
	    strcmp(f->o.skipped, "none") != 0 && strchr(f->o.skipped, code))
		return 0;
	put_raw(f, "{\"before\":");
	if (code == 'd' || (code == 'u' && f->orow.n > 0))
		dbz_row(f, &f->orow, f->r.old_json_null, none);
	else
		put_raw(f, "null");
	put_raw(f, ",\"after\":");
	if (code == 'c' || code == 'r' || code == 'u')
		dbz_row(f, &f->nrow, f->r.json_null, f->r.unchanged);
	else
		put_raw(f, "null");
	pgflo_buf_putc(&f->out, ',');
	dbz_source(f, 0);
	if (f->o.transactions && code != 'r')
		dbz_tx_block(f);
	else
		put_raw(f, ",\"transaction\":null");
	pgflo_buf_printf(&f->out, ",\"op\":\"%c\"", code);
	dbz_ts(f, ",", now_us());
	pgflo_buf_putc(&f->out, '}');
	return 1;
}

/* ---- entry ---- */

int
pgflo_fmt_record(struct pgflo_fmt *f, const char *line, size_t len,
    const char **out, size_t *outlen, char *err, size_t errlen)
{
	const char *op;
	char word[24];
	int rc;

	if ((rc = parse_fields(f, line, len)) != 0)
		return rc;
	op = f->r.opname;
	if (*op == '\0') {
		snprintf(err, errlen, "record without \"op\"");
		return -1;
	}
	if (strcmp(op, "position") == 0) {
		/* As it came, for pgflo-checkpoint downstream; only the
		 * white space around the object goes. */
		while (len > 0 && (*line == ' ' || *line == '\t' ||
		    *line == '\r')) {
			line++;
			len--;
		}
		while (len > 0 && (line[len - 1] == ' ' ||
		    line[len - 1] == '\t' || line[len - 1] == '\r'))
			len--;
		*out = line;
		*outlen = len;
		return 1;
	}
	if (strcmp(op, "snapshot") == 0)
		return 0;
	snprintf(word, sizeof(word), " %s ", op);
	if (strstr(" insert update delete truncate begin commit ddl message ",
	    word) == NULL) {
		snprintf(err, errlen, "unknown op \"%s\"", op);
		return -1;
	}
	if (check_record(f, err, errlen) == -1)
		return -1;
	pgflo_buf_reset(&f->out);
	switch (f->o.kind) {
	case PGFLO_FMT_DEBEZIUM:
		rc = fmt_debezium(f);
		break;
	case PGFLO_FMT_PGFLO:
		rc = fmt_pgflo(f);
		break;
	case PGFLO_FMT_SEQUIN:
		rc = fmt_sequin(f);
		break;
	default:
		rc = fmt_wal2json(f);
		break;
	}
	*out = f->out.data;
	*outlen = f->out.len;
	return rc;
}
