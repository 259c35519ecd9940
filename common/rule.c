/*
 * rule.c - compile and apply the rules of pgflo-rule(1): filters with
 * type-directed exact comparisons, UTF-8 aware masks, PCRE2 regex
 * transforms, column exclusion, table and column renames, routes.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <pcre2.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "jsonwrite.h"
#include "map.h"
#include "record.h"
#include "tablepat.h"
#include "rule.h"

/*
 * Explicit PCRE2 limits, whatever libpcre2 was built with (pgflo-rule(1),
 * LIMITS): a match that reaches one fails its record.
 */
#define RE_MATCH_LIMIT	10000000	/* backtracking steps per match */
#define RE_DEPTH_LIMIT	100000		/* nested backtracking, no JIT */
#define RE_HEAP_LIMIT	20480		/* KiB of backtracking frames */
#define RE_JIT_STACK	(1024 * 1024)	/* bytes of JIT stack */

enum family {
	FAM_TEXT, FAM_DECIMAL, FAM_FLOAT, FAM_TSTZ, FAM_TS, FAM_BOOL
};

struct rule {
	enum pgflo_rule_kind kind;
	char	*schema_pat;	/* NULL: any */
	char	*table_pat;	/* NULL: any */
	char	*where;
	unsigned ops;
	int	 allow_empty_deletes;
	char	*column;
	size_t	 columnlen;
	enum pgflo_rule_cmp cmp;
	char	*value;
	size_t	 valuelen;
	char	*mask;
	size_t	 masklen;
	char	*replace;
	pcre2_code *re;
	char	*newname;
	char	*newschema;
	int	 warned;
	/* The operand parsed per type family, on first use. */
	unsigned parsed;	/* bit per family tried */
	unsigned parse_ok;	/* bit per family that parsed */
	double	 dval;
	int	 bval;
	struct pgflo_time tval_tz;
	struct pgflo_time tval_naive;
};

struct route {
	char	*schema_pat;
	char	*table_pat;
	char	*where;
	char	*dest_table;	/* NULL: keep */
	char	*dest_schema;	/* NULL: keep */
	unsigned ops;
	size_t	 nmap;
	char	**src;
	char	**dst;
};

/* The rules and route for one schema.table, computed once. */
struct entry {
	char	*schema;
	char	*table;
	struct rule **rules;
	size_t	 nrules;
	struct route *route;
	int	 renames;	/* a table or column rename applies */
	int	 ddl_warned;
};

struct pgflo_ruleset {
	struct rule **rules;
	size_t	 nrules, rulecap;
	struct route **routes;
	size_t	 nroutes, routecap;
	struct pgflo_map tab;	/* "schema\0table" -> struct entry */
	struct entry *last;	/* the entry of the record before */
	struct pgflo_buf key;	/* tab's look-up key */
	pcre2_match_data *md;
	pcre2_match_context *mctx;	/* the limits below */
	pcre2_jit_stack *jstack;
	struct pgflo_buf tmp;
	char	*sub;		/* pcre2_substitute output */
	size_t	 subcap;
	struct rec *rec;	/* the current record */
};

static void rec_free(struct rec *rc);

struct pgflo_ruleset *
pgflo_ruleset_new(void)
{
	struct pgflo_ruleset *rs = pgflo_xmalloc(sizeof(*rs));

	memset(rs, 0, sizeof(*rs));
	return rs;
}

static void
entry_free(void *p)
{
	struct entry *e = p;

	if (e == NULL)
		return;
	free(e->schema);
	free(e->table);
	free(e->rules);
	free(e);
}

void
pgflo_ruleset_free(struct pgflo_ruleset *rs)
{
	size_t i, j;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nrules; i++) {
		struct rule *r = rs->rules[i];

		free(r->schema_pat);
		free(r->table_pat);
		free(r->where);
		free(r->column);
		free(r->value);
		free(r->mask);
		free(r->replace);
		free(r->newname);
		free(r->newschema);
		pcre2_code_free(r->re);
		free(r);
	}
	free(rs->rules);
	for (i = 0; i < rs->nroutes; i++) {
		struct route *rt = rs->routes[i];

		free(rt->schema_pat);
		free(rt->table_pat);
		free(rt->where);
		free(rt->dest_table);
		free(rt->dest_schema);
		for (j = 0; j < rt->nmap; j++) {
			free(rt->src[j]);
			free(rt->dst[j]);
		}
		free(rt->src);
		free(rt->dst);
		free(rt);
	}
	free(rs->routes);
	pgflo_map_clear(&rs->tab, entry_free);
	pgflo_buf_free(&rs->key);
	pcre2_match_data_free(rs->md);
	pcre2_match_context_free(rs->mctx);
	pcre2_jit_stack_free(rs->jstack);
	pgflo_buf_free(&rs->tmp);
	free(rs->sub);
	rec_free(rs->rec);
	free(rs);
}

size_t
pgflo_ruleset_nrules(const struct pgflo_ruleset *rs)
{
	return rs->nrules;
}

void
pgflo_ruleset_keep_deletes(struct pgflo_ruleset *rs, size_t from)
{
	size_t i;

	for (i = from; i < rs->nrules; i++)
		rs->rules[i]->allow_empty_deletes = 1;
}

size_t
pgflo_ruleset_count(const struct pgflo_ruleset *rs)
{
	return rs->nrules + rs->nroutes;
}

int
pgflo_ruleset_redacts(const struct pgflo_ruleset *rs)
{
	size_t i;

	for (i = 0; i < rs->nrules; i++)
		if (rs->rules[i]->kind == PGFLO_RULE_MASK ||
		    rs->rules[i]->kind == PGFLO_RULE_REGEX ||
		    rs->rules[i]->kind == PGFLO_RULE_EXCLUDE)
			return 1;
	return 0;
}

static char *
xstrdup0(const char *s)
{
	return s != NULL ? pgflo_xstrdup(s) : NULL;
}

enum pgflo_rule_cmp
pgflo_rule_cmp_parse(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum pgflo_rule_cmp cmp;
	} ops[] = {
		{ "=", PGFLO_CMP_EQ }, { "==", PGFLO_CMP_EQ },
		{ "eq", PGFLO_CMP_EQ }, { "!=", PGFLO_CMP_NE },
		{ "<>", PGFLO_CMP_NE }, { "ne", PGFLO_CMP_NE },
		{ "<", PGFLO_CMP_LT }, { "lt", PGFLO_CMP_LT },
		{ "<=", PGFLO_CMP_LE }, { "lte", PGFLO_CMP_LE },
		{ ">", PGFLO_CMP_GT }, { "gt", PGFLO_CMP_GT },
		{ ">=", PGFLO_CMP_GE }, { "gte", PGFLO_CMP_GE },
		{ "contains", PGFLO_CMP_CONTAINS }, { "~", PGFLO_CMP_MATCH },
		{ "!~", PGFLO_CMP_NOMATCH },
	};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == len &&
		    strncasecmp(ops[i].name, s, len) == 0)
			return ops[i].cmp;
	return 0;
}

unsigned
pgflo_rule_op_parse(const char *s, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "insert", PGFLO_RULE_INSERT }, { "update", PGFLO_RULE_UPDATE },
		{ "delete", PGFLO_RULE_DELETE },
		{ "truncate", PGFLO_RULE_TRUNCATE },
	};
	unsigned ops = 0, bit;
	size_t i, n;

	while (len > 0) {
		while (len > 0 && (*s == ',' || *s == ' ')) {
			s++;
			len--;
		}
		for (n = 0; n < len && s[n] != ',' && s[n] != ' '; n++)
			;
		if (n == 0)
			break;
		bit = 0;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncasecmp(names[i].name, s, n) == 0)
				bit = names[i].bit;
		if (bit == 0)
			return 0;
		ops |= bit;
		s += n;
		len -= n;
	}
	return ops;
}

static pcre2_code *
compile_re(const char *pattern, int caseless, int extended, char *errbuf,
    size_t errlen)
{
	pcre2_code *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	uint32_t opts = PCRE2_UTF | PCRE2_UCP;
	int ec;

	if (caseless)
		opts |= PCRE2_CASELESS;
	if (extended)
		opts |= PCRE2_EXTENDED;
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts,
	    &ec, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(errbuf, errlen, "bad regex /%s/: %s at offset %zu",
		    pattern, (char *)msg, (size_t)off);
		return NULL;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

#define SUB_FLAGS (PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | \
    PCRE2_SUBSTITUTE_UNSET_EMPTY | PCRE2_SUBSTITUTE_UNKNOWN_UNSET)

/* pcre2 checks a replacement only when a match happens: try one now. */
static int
check_replacement(const char *replace, char *errbuf, size_t errlen)
{
	pcre2_code *re;
	PCRE2_UCHAR out[64], msg[256];
	PCRE2_SIZE outlen = sizeof(out);
	int ec;

	re = compile_re("", 0, 0, errbuf, errlen);
	if (re == NULL)
		return -1;
	ec = pcre2_substitute(re, (PCRE2_SPTR)"", 0, 0,
	    SUB_FLAGS & ~PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL, NULL,
	    (PCRE2_SPTR)replace, PCRE2_ZERO_TERMINATED, out, &outlen);
	pcre2_code_free(re);
	if (ec < 0 && ec != PCRE2_ERROR_NOMEMORY) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(errbuf, errlen, "bad replacement \"%s\": %s", replace,
		    (char *)msg);
		return -1;
	}
	return 0;
}

static void
tab_reset(struct pgflo_ruleset *rs)
{
	pgflo_map_clear(&rs->tab, entry_free);
	rs->last = NULL;
}

int
pgflo_ruleset_add(struct pgflo_ruleset *rs, const struct pgflo_rule_spec *s,
    char *errbuf, size_t errlen)
{
	struct rule *r;
	const char *dot;

	r = pgflo_xmalloc(sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->kind = s->kind;
	pgflo_tablepat_split(s->table, &r->schema_pat, &r->table_pat);
	r->where = pgflo_xstrdup(s->where != NULL ? s->where : "rule");
	r->ops = s->ops != 0 ? s->ops : PGFLO_RULE_ALLOPS;
	r->allow_empty_deletes = s->allow_empty_deletes;
	r->column = xstrdup0(s->column);
	r->columnlen = r->column != NULL ? strlen(r->column) : 0;
	r->cmp = s->cmp;
	r->value = xstrdup0(s->value);
	r->valuelen = r->value != NULL ? strlen(r->value) : 0;
	r->replace = xstrdup0(s->replace);
	switch (s->kind) {
	case PGFLO_RULE_FILTER:
		if (r->value == NULL) {
			snprintf(errbuf, errlen, "filter without a value");
			goto fail;
		}
		if (r->cmp == PGFLO_CMP_MATCH || r->cmp == PGFLO_CMP_NOMATCH) {
			r->re = compile_re(r->value, 0, 0, errbuf, errlen);
			if (r->re == NULL)
				goto fail;
		}
		break;
	case PGFLO_RULE_REGEX:
		r->re = compile_re(s->pattern, s->caseless, s->extended, errbuf,
		    errlen);
		if (r->re == NULL)
			goto fail;
		if (r->replace == NULL)
			r->replace = pgflo_xstrdup("");
		if (check_replacement(r->replace, errbuf, errlen) == -1)
			goto fail;
		break;
	case PGFLO_RULE_MASK:
		r->mask = pgflo_xstrdup(s->mask != NULL ? s->mask : "*");
		r->masklen = strlen(r->mask);
		if (r->masklen == 0 || !pgflo_jw_valid_utf8(r->mask,
		    r->masklen)) {
			snprintf(errbuf, errlen,
			    "mask character must be a non-empty UTF-8 string");
			goto fail;
		}
		break;
	case PGFLO_RULE_RENAME_TABLE:
		dot = strchr(s->newname, '.');
		if (dot != NULL) {
			r->newschema = pgflo_xmalloc((size_t)(dot - s->newname)
			    + 1);
			memcpy(r->newschema, s->newname,
			    (size_t)(dot - s->newname));
			r->newschema[dot - s->newname] = '\0';
			r->newname = pgflo_xstrdup(dot + 1);
		} else
			r->newname = pgflo_xstrdup(s->newname);
		break;
	case PGFLO_RULE_RENAME_COLUMN:
		r->newname = pgflo_xstrdup(s->newname);
		break;
	case PGFLO_RULE_EXCLUDE:
		break;
	}
	if (rs->md == NULL) {
		rs->md = pcre2_match_data_create(32, NULL);
		rs->mctx = pcre2_match_context_create(NULL);
		rs->jstack = pcre2_jit_stack_create(32 * 1024, RE_JIT_STACK,
		    NULL);
		if (rs->md == NULL || rs->mctx == NULL || rs->jstack == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "out of memory");
		pcre2_set_match_limit(rs->mctx, RE_MATCH_LIMIT);
		pcre2_set_depth_limit(rs->mctx, RE_DEPTH_LIMIT);
		pcre2_set_heap_limit(rs->mctx, RE_HEAP_LIMIT);
		pcre2_jit_stack_assign(rs->mctx, NULL, rs->jstack);
	}
	if (rs->nrules == rs->rulecap) {
		rs->rulecap = rs->rulecap != 0 ? 2 * rs->rulecap : 16;
		rs->rules = pgflo_xrealloc(rs->rules,
		    rs->rulecap * sizeof(*rs->rules));
	}
	rs->rules[rs->nrules++] = r;
	tab_reset(rs);
	return 0;
fail:
	free(r->schema_pat);
	free(r->table_pat);
	free(r->where);
	free(r->column);
	free(r->value);
	free(r->replace);
	free(r->mask);
	pcre2_code_free(r->re);
	free(r);
	return -1;
}

int
pgflo_ruleset_add_route(struct pgflo_ruleset *rs,
    const struct pgflo_route_spec *s, char *errbuf, size_t errlen)
{
	struct route *rt;
	size_t i;

	(void)errbuf;
	(void)errlen;
	rt = pgflo_xmalloc(sizeof(*rt));
	memset(rt, 0, sizeof(*rt));
	pgflo_tablepat_split(s->table, &rt->schema_pat, &rt->table_pat);
	rt->where = pgflo_xstrdup(s->where != NULL ? s->where : "route");
	if (s->dest != NULL && *s->dest != '\0')
		pgflo_tablepat_split(s->dest, &rt->dest_schema, &rt->dest_table);
	rt->ops = s->ops != 0 ? s->ops : PGFLO_RULE_ALLOPS;
	rt->nmap = s->nmap;
	rt->src = pgflo_xmalloc((s->nmap + 1) * sizeof(char *));
	rt->dst = pgflo_xmalloc((s->nmap + 1) * sizeof(char *));
	for (i = 0; i < s->nmap; i++) {
		rt->src[i] = pgflo_xstrdup(s->src[i]);
		rt->dst[i] = pgflo_xstrdup(s->dst[i]);
	}
	if (rs->nroutes == rs->routecap) {
		rs->routecap = rs->routecap != 0 ? 2 * rs->routecap : 16;
		rs->routes = pgflo_xrealloc(rs->routes,
		    rs->routecap * sizeof(*rs->routes));
	}
	rs->routes[rs->nroutes++] = rt;
	tab_reset(rs);
	return 0;
}

/* ---- the per-table cache ---- */

#define TAB_MAX	65536	/* tables remembered; then it starts again */

static struct entry *
entry_build(struct pgflo_ruleset *rs, const char *schema, const char *table)
{
	struct entry *e = pgflo_xmalloc(sizeof(*e));
	size_t i;

	memset(e, 0, sizeof(*e));
	e->schema = pgflo_xstrdup(schema);
	e->table = pgflo_xstrdup(table);
	e->rules = pgflo_xmalloc((rs->nrules + 1) * sizeof(*e->rules));
	for (i = 0; i < rs->nrules; i++) {
		struct rule *r = rs->rules[i];

		if (!pgflo_tablepat_match(r->schema_pat, r->table_pat, schema,
		    table))
			continue;
		e->rules[e->nrules++] = r;
		if (r->kind == PGFLO_RULE_RENAME_TABLE ||
		    r->kind == PGFLO_RULE_RENAME_COLUMN)
			e->renames = 1;
	}
	/* Only the rules that match: many tables may be seen. */
	e->rules = pgflo_xrealloc(e->rules, (e->nrules + 1) *
	    sizeof(*e->rules));
	for (i = 0; i < rs->nroutes; i++) {
		struct route *rt = rs->routes[i];

		if (pgflo_tablepat_match(rt->schema_pat, rt->table_pat, schema,
		    table)) {
			e->route = rt;
			if (rt->dest_table != NULL || rt->nmap > 0)
				e->renames = 1;
			break;
		}
	}
	return e;
}

static struct entry *
lookup(struct pgflo_ruleset *rs, const char *schema, const char *table)
{
	struct entry *e = rs->last;

	/* Records come in runs of one table: no hashing for those. */
	if (e != NULL && strcmp(e->table, table) == 0 &&
	    strcmp(e->schema, schema) == 0)
		return e;
	pgflo_buf_reset(&rs->key);
	pgflo_buf_puts(&rs->key, schema);
	pgflo_buf_putc(&rs->key, '\0');
	pgflo_buf_puts(&rs->key, table);
	if ((e = pgflo_map_get(&rs->tab, rs->key.data, rs->key.len)) == NULL) {
		/* A stream of ever new table names must not grow it for ever. */
		if (rs->tab.n >= TAB_MAX)
			tab_reset(rs);
		e = entry_build(rs, schema, table);
		pgflo_map_put(&rs->tab, rs->key.data, rs->key.len, e);
	}
	rs->last = e;
	return e;
}

/* ---- exact comparisons ---- */

/*
 * A decimal as sign, significant digits (no leading or trailing
 * zeros; digit k read through dig()) and exponent e: 0.D x 10^e.
 * cls: 0 finite, 1 +Infinity, -1 -Infinity, 2 NaN (PostgreSQL sorts
 * NaN above everything and equal to itself).
 */
struct dec {
	int	 cls;
	int	 neg;
	const char *ip;		/* integer digits */
	size_t	 ilen;
	const char *fp;		/* fraction digits */
	size_t	 flen;
	size_t	 skip;		/* leading zeros in ip..fp to skip */
	size_t	 nd;		/* significant digits */
	long long e;
};

static char
dec_digit(const struct dec *d, size_t k)
{
	k += d->skip;
	return k < d->ilen ? d->ip[k] : d->fp[k - d->ilen];
}

static int
dec_parse(const char *s, size_t n, struct dec *d)
{
	size_t i = 0, total, z;
	long long ex = 0;
	int eneg = 0;

	memset(d, 0, sizeof(*d));
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		d->neg = s[i++] == '-';
	if (n - i == 3 && strncasecmp(s + i, "nan", 3) == 0) {
		d->cls = 2;
		return 0;
	}
	if ((n - i == 8 && strncasecmp(s + i, "infinity", 8) == 0) ||
	    (n - i == 3 && strncasecmp(s + i, "inf", 3) == 0)) {
		d->cls = d->neg ? -1 : 1;
		return 0;
	}
	d->ip = s + i;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	d->ilen = (size_t)(s + i - d->ip);
	if (i < n && s[i] == '.') {
		i++;
		d->fp = s + i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		d->flen = (size_t)(s + i - d->fp);
	}
	if (d->ilen + d->flen == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		if (i >= n || !isdigit((unsigned char)s[i]))
			return -1;
		for (; i < n && isdigit((unsigned char)s[i]); i++)
			if (ex < 1000000000LL)
				ex = ex * 10 + (s[i] - '0');
		if (eneg)
			ex = -ex;
	}
	if (i != n)
		return -1;
	total = d->ilen + d->flen;
	for (z = 0; z < total && dec_digit(d, z) == '0'; z++)
		;
	d->skip = z;
	d->nd = total - z;
	while (d->nd > 0 && dec_digit(d, d->nd - 1) == '0')
		d->nd--;
	d->e = (long long)d->ilen - (long long)z + ex;
	if (d->nd == 0)
		d->neg = 0;
	return 0;
}

static int
cmp_abs(const struct dec *a, const struct dec *b)
{
	size_t k, n;
	char ca, cb;

	if (a->e != b->e)
		return a->e < b->e ? -1 : 1;
	n = a->nd > b->nd ? a->nd : b->nd;
	for (k = 0; k < n; k++) {
		ca = k < a->nd ? dec_digit(a, k) : '0';
		cb = k < b->nd ? dec_digit(b, k) : '0';
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

static int
dec_rank(const struct dec *d)
{
	if (d->cls == 2)
		return 3;
	if (d->cls != 0)
		return d->cls == 1 ? 2 : -2;
	if (d->nd == 0)
		return 0;
	return d->neg ? -1 : 1;
}

int
pgflo_decimal_cmp(const char *a, size_t alen, const char *b, size_t blen,
    int *res)
{
	struct dec da, db;
	int ra, rb, c;

	if (dec_parse(a, alen, &da) == -1 || dec_parse(b, blen, &db) == -1)
		return -1;
	ra = dec_rank(&da);
	rb = dec_rank(&db);
	if (ra != rb || ra == 0 || ra == 2 || ra == -2 || ra == 3) {
		*res = (ra > rb) - (ra < rb);
		return 0;
	}
	c = cmp_abs(&da, &db);
	*res = ra < 0 ? -c : c;
	return 0;
}

static int
month_days(int64_t y, int m)
{
	static const unsigned char mdays[12] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 28;
	return mdays[m - 1];
}

static int
num(const char *s, size_t n, size_t *i, int min, int max, int *out)
{
	int v = 0, k = 0;

	while (*i < n && isdigit((unsigned char)s[*i]) && k < 9) {
		v = v * 10 + (s[(*i)++] - '0');
		k++;
	}
	if (k < min || k > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Seconds and microseconds rather than microseconds alone: PostgreSQL's
 * timestamps reach 294276 AD and its dates 5874897 AD, which overflow
 * 64-bit microseconds since 1970; a year of up to 9 digits fits here.
 */
int
pgflo_time_parse(const char *s, size_t n, int use_offset,
    struct pgflo_time *tm)
{
	size_t i = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, fd = 0;
	int oh = 0, om = 0, os = 0, oneg = 0, bc = 0;
	int64_t year, t;

	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 8 && strncasecmp(s, "infinity", 8) == 0) {
		tm->sec = INT64_MAX;
		tm->usec = 0;
		return 0;
	}
	if (n == 9 && strncasecmp(s, "-infinity", 9) == 0) {
		tm->sec = INT64_MIN;
		tm->usec = 0;
		return 0;
	}
	if (n > 3 && strncmp(s + n - 3, " BC", 3) == 0) {
		bc = 1;
		n -= 3;
	}
	if (num(s, n, &i, 4, 9, &y) == -1 || i >= n || s[i++] != '-' ||
	    num(s, n, &i, 2, 2, &mo) == -1 || i >= n || s[i++] != '-' ||
	    num(s, n, &i, 2, 2, &d) == -1)
		return -1;
	/* Astronomical years: 1 BC is year 0, a leap year. */
	year = bc ? 1 - (int64_t)y : y;
	if (y == 0 || mo < 1 || mo > 12 || d < 1 ||
	    d > month_days(year, mo))
		return -1;
	if (i < n && (s[i] == ' ' || s[i] == 'T')) {
		i++;
		if (num(s, n, &i, 2, 2, &h) == -1 || i >= n ||
		    s[i++] != ':' || num(s, n, &i, 2, 2, &mi) == -1)
			return -1;
		if (i < n && s[i] == ':') {
			i++;
			if (num(s, n, &i, 2, 2, &sec) == -1)
				return -1;
			if (i < n && s[i] == '.') {
				/* As PG: rint(strtod(".ddd") * 1000000). */
				char fb[24] = "0.";

				i++;
				while (i < n && isdigit((unsigned char)s[i])) {
					if (fd < 20)
						fb[2 + fd] = s[i];
					fd++;
					i++;
				}
				if (fd == 0)
					return -1;
				frac = (int)rint(strtod(fb, NULL) * 1000000);
			}
		}
		if (h > 24 || mi > 59 || sec > 60 ||
		    (h == 24 && (mi != 0 || sec != 0 || frac != 0)))
			return -1;
		if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			oneg = s[i++] == '-';
			if (num(s, n, &i, 2, 2, &oh) == -1)
				return -1;
			if (i < n && s[i] == ':')
				i++;
			if (i < n && num(s, n, &i, 2, 2, &om) == -1)
				return -1;
			if (i < n && s[i] == ':')
				i++;
			if (i < n && num(s, n, &i, 2, 2, &os) == -1)
				return -1;
			if (om > 59 || os > 59)
				return -1;
		}
	}
	if (i != n)
		return -1;
	t = ((pgflo_days_from_civil(year, mo, d) * 24 + h) * 60 + mi) * 60 +
	    sec;
	if (use_offset)
		t -= (oneg ? -1 : 1) * ((int64_t)oh * 3600 + om * 60 + os);
	if (frac == 1000000) {
		t++;
		frac = 0;
	}
	tm->sec = t;
	tm->usec = frac;
	return 0;
}

int
pgflo_time_cmp(const struct pgflo_time *a, const struct pgflo_time *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return (a->usec > b->usec) - (a->usec < b->usec);
}

/* ---- the record in place: spans of the raw line ---- */

/*
 * A record is never loaded into a tree.  The line is validated once
 * (strictly, as jansson would) while its top-level members are noted as
 * spans; only the objects and arrays a rule reads are split into
 * members, and a changed record is written by splicing: replaced values
 * and keys come from the arena, every other value is copied as the very
 * bytes it was read as.
 */

/* The member names rules read (pgflo-record(5)). */
enum slot {
	S_OP, S_SCHEMA, S_TABLE, S_TYPES, S_NEW, S_OLD, S_KEY, S_UNCHANGED,
	S_JSON_NULL, S_OLD_JSON_NULL, NSLOTS
};

static const char *const slotname[NSLOTS] = {
	"op", "schema", "table", "types", "new", "old", "key", "unchanged",
	"json_null", "old_json_null"
};

/* A member of an object, or an element of an array (key.p NULL). */
struct item {
	struct pgflo_span key;	/* raw JSON string */
	const char *name;	/* decoded key or string element; or NULL */
	size_t	 namelen;
	struct pgflo_span v;	/* JSON text: in the line or the arena */
	int	 slot;		/* top level: the slot it fills, or -1 */
	int	 dead;
	int	 dup;		/* put_obj: a later duplicate key */
	size_t	 last;		/* put_obj: the duplicate holding the value */
};

struct cont {
	int	 state;		/* 0 not split yet, 1 split, -1 absent */
	int	 dirty;
	int	 nodups;	/* checked: no key twice, so put_obj need not */
	struct item *it;
	size_t	 n, cap;
};

struct chunk {
	struct chunk *next;
	size_t	 cap, used;
	char	 data[];
};

#define CHUNK	65536

struct rec {
	const char *line;
	size_t	 len;
	struct cont top;
	int	 slot[NSLOTS];	/* index in top.it (the last such key), -1 */
	struct cont sub[NSLOTS];	/* types .. old_json_null */
	const char *schema, *table;	/* current, NUL-terminated */
	struct chunk *arena;
	struct pgflo_buf esc;
	struct pgflo_buf out;
	size_t	*htab;		/* put_obj's duplicate finder */
	size_t	 hcap;
	const char *name;	/* for the locus */
	unsigned long lineno;
	char	*err;		/* rec_fail()'s message: the caller's errbuf */
	size_t	 errlen;
	int	 failed;
};

static char *
arena_alloc(struct rec *rc, size_t n)
{
	struct chunk *c = rc->arena;
	size_t cap;

	if (c == NULL || c->cap - c->used < n) {
		cap = n > CHUNK ? n : CHUNK;
		c = pgflo_xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = rc->arena;
		rc->arena = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* Keeps one chunk of the usual size for the next record. */
static void
arena_reset(struct rec *rc)
{
	struct chunk *c, *next, *keep = NULL;

	for (c = rc->arena; c != NULL; c = next) {
		next = c->next;
		if (keep == NULL && c->cap == CHUNK) {
			keep = c;
			continue;
		}
		free(c);
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	rc->arena = keep;
}

static const char *
arena_copy(struct rec *rc, const char *s, size_t n, int nul)
{
	char *p = arena_alloc(rc, n + (nul != 0));

	if (n > 0)
		memcpy(p, s, n);
	if (nul)
		p[n] = '\0';
	return p;
}

static void
rec_free(struct rec *rc)
{
	size_t i;

	if (rc == NULL)
		return;
	free(rc->top.it);
	for (i = 0; i < NSLOTS; i++)
		free(rc->sub[i].it);
	arena_reset(rc);
	free(rc->arena);
	pgflo_buf_free(&rc->esc);
	pgflo_buf_free(&rc->out);
	free(rc->htab);
	free(rc);
}

static struct item *
cont_add(struct cont *c)
{
	struct item *x;

	if (c->n == c->cap) {
		c->cap = c->cap != 0 ? 2 * c->cap : 16;
		c->it = pgflo_xrealloc(c->it, c->cap * sizeof(*c->it));
	}
	x = &c->it[c->n++];
	memset(x, 0, sizeof(*x));
	x->slot = -1;
	return x;
}

/* The decoded text of a JSON string span (not NUL-terminated). */
static void
str_text(struct rec *rc, struct pgflo_span v, const char **s, size_t *n)
{
	struct pgflo_buf *b = &rc->esc;

	if (memchr(v.p, '\\', v.n) == NULL) {
		*s = v.p + 1;
		*n = v.n - 2;
		return;
	}
	pgflo_buf_reset(b);
	pgflo_js_str(b, v);
	*s = arena_copy(rc, b->data, b->len, 0);
	*n = b->len;
}

/* The same, NUL-terminated (always a copy). */
static const char *
str_cstr(struct rec *rc, struct pgflo_span v, size_t *n)
{
	const char *s;
	size_t len;

	str_text(rc, v, &s, &len);
	if (n != NULL)
		*n = len;
	return arena_copy(rc, s, len, 1);
}

/* A JSON string for s (valid UTF-8) in the arena, escaped as jansson does. */
static struct pgflo_span
json_string_span(struct rec *rc, const char *s, size_t n)
{
	struct pgflo_buf *b = &rc->esc;
	struct pgflo_span v;

	pgflo_buf_reset(b);
	pgflo_buf_putc(b, '"');
	pgflo_json_escape_flags(b, s, n, PGFLO_ESC_VALID | PGFLO_ESC_UPPER);
	pgflo_buf_putc(b, '"');
	v.p = arena_copy(rc, b->data, b->len, 0);
	v.n = b->len;
	return v;
}

/* Sets the item's name from its raw key (or string element). */
static void
item_name(struct rec *rc, struct item *x, struct pgflo_span s)
{
	str_text(rc, s, &x->name, &x->namelen);
}

static int
name_eq(const struct item *x, const char *s, size_t n)
{
	return x->name != NULL && x->namelen == n &&
	    memcmp(x->name, s, n) == 0;
}

static const unsigned char slotlen[NSLOTS] = { 2, 6, 5, 5, 3, 3, 3, 9, 9, 13 };

static int
slot_of(const char *s, size_t n)
{
	int i;

	if (n < 2 || n > 13)
		return -1;
	for (i = 0; i < NSLOTS; i++)
		if (slotlen[i] == n && s[0] == slotname[i][0] &&
		    memcmp(slotname[i], s, n) == 0)
			return i;
	return -1;
}

/*
 * Validates the line as one JSON object, as strictly as jansson does,
 * noting its members; -1 when it is not one.
 */
static int
scan_top(struct rec *rc)
{
	const char *p = rc->line, *end = rc->line + rc->len, *e;
	struct item *x;
	int s;

	rc->top.n = 0;
	for (s = 0; s < NSLOTS; s++)
		rc->slot[s] = -1;
	p = pgflo_js_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = pgflo_js_ws(p + 1, end);
	if (p < end && *p == '}') {
		p++;
		goto tail;
	}
	for (;;) {
		if (p >= end || *p != '"' || (e = pgflo_js_skip(p, end)) == NULL)
			return -1;
		x = cont_add(&rc->top);
		x->key.p = p;
		x->key.n = (size_t)(e - p);
		p = pgflo_js_ws(e, end);
		if (p >= end || *p != ':')
			return -1;
		p = pgflo_js_ws(p + 1, end);
		if ((e = pgflo_js_skip(p, end)) == NULL)
			return -1;
		x->v.p = p;
		x->v.n = (size_t)(e - p);
		p = pgflo_js_ws(e, end);
		if (p >= end)
			return -1;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p++ != ',')
			return -1;
		p = pgflo_js_ws(p, end);
	}
tail:
	return pgflo_js_ws(p, end) == end ? 0 : -1;
}

static unsigned
hex4(const unsigned char *p)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0' :
		    (p[i] | 0x20) - 'a' + 10);
	return v;
}

/*
 * What jansson checks beyond the grammar: UTF-8, and \u escapes that
 * are neither \u0000 nor a lone surrogate.  Eight bytes at a time while
 * they are ASCII without a backslash.  The line is valid JSON already,
 * so every backslash starts an escape.
 */
static int
check_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t high = 0x8080808080808080ULL;
	size_t i = 0, k;
	unsigned cp;

	while (i < n) {
		if (n - i >= 8) {
			uint64_t x, y;

			memcpy(&x, p + i, 8);
			y = x ^ (ones * '\\');
			if (((x | ((y - ones) & ~y)) & high) == 0) {
				i += 8;
				continue;
			}
		}
		if (p[i] < 0x80 && p[i] != '\\') {
			i++;
			continue;
		}
		if (p[i] != '\\') {
			if ((k = pgflo_utf8_seqlen(p + i, n - i)) == 0)
				return -1;
			i += k;
			continue;
		}
		if (p[i + 1] != 'u') {
			i += 2;
			continue;
		}
		cp = hex4(p + i + 2);
		i += 6;
		if (cp == 0 || (cp >= 0xdc00 && cp < 0xe000))
			return -1;
		if (cp >= 0xd800 && cp < 0xdc00) {
			if (n - i < 6 || p[i] != '\\' || p[i + 1] != 'u')
				return -1;
			cp = hex4(p + i + 2);
			if (cp < 0xdc00 || cp >= 0xe000)
				return -1;
			i += 6;
		}
	}
	return 0;
}

static void
locus(struct rec *rc, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%lu", rc->name, rc->lineno);
}

static void
rec_fail(struct rec *rc, const struct rule *r, const char *fmt, ...)
    PGFLO_PRINTF(3, 4);

/*
 * The record cannot be handled as the rules say: its first reason goes
 * to errbuf, and pgflo_ruleset_apply() returns -1, so the record is
 * never written half transformed.
 */
static void
rec_fail(struct rec *rc, const struct rule *r, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (rc->failed)
		return;
	rc->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r != NULL)
		snprintf(rc->err, rc->errlen, "%s:%lu: %s: %s", rc->name,
		    rc->lineno, r->where, msg);
	else
		snprintf(rc->err, rc->errlen, "%s:%lu: %s", rc->name,
		    rc->lineno, msg);
}

static void
regex_fail(struct rec *rc, const struct rule *r, int ec)
{
	PCRE2_UCHAR msg[256];

	pcre2_get_error_message(ec, msg, sizeof(msg));
	rec_fail(rc, r, "column %s: the regex could not be applied: %s",
	    r->column, (char *)msg);
}

/* At most max bytes of s, cut at a UTF-8 character boundary. */
static int
cut_utf8(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

static void mark_dups(struct rec *rc, struct cont *c);

/*
 * Fails the record when an object repeats a key: jansson keeps the last
 * one, a byte-keeping writer the first, and a mask must not leave one
 * unmasked.  in: the member's name, or NULL at the top level.
 */
static int
check_dups(struct rec *rc, struct cont *c, const char *in)
{
	struct item *x;
	size_t i;

	mark_dups(rc, c);
	c->nodups = 1;
	for (i = 0; i < c->n; i++) {
		x = &c->it[i];
		if (!x->dup)
			continue;
		c->nodups = 0;
		rec_fail(rc, NULL, "duplicate key %.*s%s%s%s", cut_utf8(x->key.p,
		    x->key.n, 64), x->key.p, in != NULL ? " in \"" : "",
		    in != NULL ? in : "", in != NULL ? "\"" : "");
		return -1;
	}
	return 0;
}

/*
 * Splits a slot's object or array into items, once per record; a value
 * of the wrong kind (but null) or a repeated key fails the record.
 */
static struct cont *
cont_get(struct rec *rc, enum slot s)
{
	struct cont *c = &rc->sub[s];
	struct pgflo_js_iter it;
	struct pgflo_span k, v;
	struct item *x;
	int obj = s == S_TYPES || s == S_NEW || s == S_OLD;

	if (c->state != 0)
		return c;
	c->state = -1;
	if (rc->slot[s] < 0)
		return c;
	v = rc->top.it[rc->slot[s]].v;
	if (*v.p == 'n')
		return c;
	if (obj) {
		if (pgflo_js_obj(&it, v) == -1) {
			rec_fail(rc, NULL, "\"%s\" is not an object",
			    slotname[s]);
			return c;
		}
		while (pgflo_js_obj_next(&it, &k, &v)) {
			x = cont_add(c);
			x->key = k;
			x->v = v;
			item_name(rc, x, k);
		}
		if (check_dups(rc, c, slotname[s]) == -1)
			return c;
	} else {
		if (pgflo_js_arr(&it, v) == -1) {
			rec_fail(rc, NULL, "\"%s\" is not an array",
			    slotname[s]);
			return c;
		}
		while (pgflo_js_arr_next(&it, &v)) {
			x = cont_add(c);
			x->v = v;
			if (*v.p == '"')
				item_name(rc, x, v);
		}
	}
	c->state = 1;
	return c;
}

/* The last live member named so (jansson keeps the last duplicate). */
static struct item *
find(struct cont *c, const char *name, size_t n)
{
	size_t i;

	if (c->state != 1)
		return NULL;
	for (i = c->n; i-- > 0;)
		if (!c->it[i].dead && name_eq(&c->it[i], name, n))
			return &c->it[i];
	return NULL;
}

static void
put_value(struct rec *rc, struct pgflo_buf *b, const struct item *x);

/* Eight bytes at a time: every record's keys are hashed (mark_dups). */
static uint64_t
name_hash(const char *s, size_t n)
{
	uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15ULL, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (n >= 4) {	/* two loads that may overlap */
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		h = (h ^ ((uint64_t)a << 32 | b)) * 0xc4ceb9fe1a85ec53ULL;
	} else if (n > 0)
		h = (h ^ ((uint64_t)(unsigned char)s[0] << 16 |
		    (uint64_t)(unsigned char)s[n / 2] << 8 |
		    (unsigned char)s[n - 1])) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return h;
}

/*
 * Marks duplicate keys among the live members: jansson kept one, at the
 * first place with the last value.  A hash table, so wide rows cost
 * O(n).
 */
static void
mark_dups(struct rec *rc, struct cont *c)
{
	size_t i, h, k, mask, empty = (size_t)-1;
	struct item *x;

	for (k = 16; k < 2 * c->n; k *= 2)
		;
	if (rc->hcap < k) {
		rc->hcap = k;
		rc->htab = pgflo_xrealloc(rc->htab, k * sizeof(*rc->htab));
	}
	mask = k - 1;
	for (h = 0; h < k; h++)
		rc->htab[h] = empty;
	for (i = 0; i < c->n; i++) {
		x = &c->it[i];
		x->dup = 0;
		x->last = i;
		if (x->dead)
			continue;
		h = (size_t)name_hash(x->name, x->namelen);
		for (h &= mask; rc->htab[h] != empty; h = (h + 1) & mask) {
			struct item *f = &c->it[rc->htab[h]];

			if (name_eq(f, x->name, x->namelen)) {
				f->last = i;
				x->dup = 1;
				break;
			}
		}
		if (!x->dup)
			rc->htab[h] = i;
	}
}

/* Writes an object compactly, one member per key (mark_dups). */
static void
put_obj(struct rec *rc, struct pgflo_buf *b, struct cont *c)
{
	size_t i;
	int first = 1;

	if (!c->nodups)
		mark_dups(rc, c);
	pgflo_buf_putc(b, '{');
	for (i = 0; i < c->n; i++) {
		struct item *x = &c->it[i];

		if (x->dead || x->dup)
			continue;
		if (!first)
			pgflo_buf_putc(b, ',');
		first = 0;
		pgflo_buf_putn(b, x->key.p, x->key.n);
		pgflo_buf_putc(b, ':');
		put_value(rc, b, c->nodups ? x : &c->it[x->last]);
	}
	pgflo_buf_putc(b, '}');
}

static void
put_arr(struct pgflo_buf *b, struct cont *c)
{
	size_t i;
	int first = 1;

	pgflo_buf_putc(b, '[');
	for (i = 0; i < c->n; i++) {
		if (c->it[i].dead)
			continue;
		if (!first)
			pgflo_buf_putc(b, ',');
		first = 0;
		pgflo_buf_putn(b, c->it[i].v.p, c->it[i].v.n);
	}
	pgflo_buf_putc(b, ']');
}

static void
put_value(struct rec *rc, struct pgflo_buf *b, const struct item *x)
{
	struct cont *c;

	if (x->slot >= 0 && (c = &rc->sub[x->slot])->dirty) {
		if (x->slot == S_TYPES || x->slot == S_NEW || x->slot == S_OLD)
			put_obj(rc, b, c);
		else
			put_arr(b, c);
		return;
	}
	pgflo_buf_putn(b, x->v.p, x->v.n);
}

static enum family
type_family(const char *type, int kind)
{
	if (type == NULL) {
		switch (kind) {
		case 'i':
			return FAM_DECIMAL;
		case 'r':
			return FAM_FLOAT;
		case 't':
		case 'f':
			return FAM_BOOL;
		default:
			return FAM_TEXT;
		}
	}
	if (strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0 ||
	    strcmp(type, "smallint") == 0 || strncmp(type, "numeric", 7) == 0 ||
	    strcmp(type, "oid") == 0 || strncmp(type, "decimal", 7) == 0 ||
	    strcmp(type, "int2") == 0 || strcmp(type, "int4") == 0 ||
	    strcmp(type, "int8") == 0)
		return strchr(type, '[') != NULL ? FAM_TEXT : FAM_DECIMAL;
	if (strcmp(type, "double precision") == 0 || strcmp(type, "real") == 0 ||
	    strcmp(type, "float4") == 0 || strcmp(type, "float8") == 0)
		return FAM_FLOAT;
	if (strcmp(type, "boolean") == 0 || strcmp(type, "bool") == 0)
		return FAM_BOOL;
	if (strncmp(type, "timestamp", 9) == 0 && strchr(type, '[') == NULL)
		return strstr(type, "with time zone") != NULL ||
		    strcmp(type, "timestamptz") == 0 ? FAM_TSTZ : FAM_TS;
	if (strcmp(type, "date") == 0)
		return FAM_TS;
	return FAM_TEXT;
}

/*
 * The kind of a JSON value by its first byte: '"' string, 'n' null,
 * 't' 'f' booleans, '{' '[' , 'i' integer, 'r' real (as jansson).
 */
static int
value_kind(struct pgflo_span v)
{
	size_t i;

	switch (*v.p) {
	case '"': case 'n': case 't': case 'f': case '{': case '[':
		return *v.p;
	default:
		for (i = 0; i < v.n; i++)
			if (v.p[i] == '.' || v.p[i] == 'e' || v.p[i] == 'E')
				return 'r';
		return 'i';
	}
}

static int
parse_bool(const char *s, size_t n, int *b)
{
	static const char *const t[] = { "true", "t", "yes", "y", "on", "1" };
	static const char *const f[] = { "false", "f", "no", "n", "off", "0" };
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strlen(t[i]) == n && strncasecmp(t[i], s, n) == 0) {
			*b = 1;
			return 0;
		}
		if (strlen(f[i]) == n && strncasecmp(f[i], s, n) == 0) {
			*b = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_double(const char *s, double *d)
{
	char *end;

	if (strcasecmp(s, "NaN") == 0) {
		*d = NAN;
		return 0;
	}
	errno = 0;
	*d = strtod(s, &end);
	if (end == s || *end != '\0')
		return -1;
	return 0;
}

/* Orders doubles as PostgreSQL does: NaN equal to itself and largest. */
static int
cmp_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a > b) - (a < b);
}

/* The operand for a family, parsed once; -1 when it is not one. */
static int
operand(struct rule *r, enum family f)
{
	unsigned bit = 1u << f;
	int ok = -1, cmp;

	if (r->parsed & bit)
		return r->parse_ok & bit ? 0 : -1;
	r->parsed |= bit;
	switch (f) {
	case FAM_FLOAT:
		ok = parse_double(r->value, &r->dval);
		break;
	case FAM_BOOL:
		ok = parse_bool(r->value, r->valuelen, &r->bval);
		break;
	case FAM_TSTZ:
		ok = pgflo_time_parse(r->value, r->valuelen, 1, &r->tval_tz);
		break;
	case FAM_TS:
		ok = pgflo_time_parse(r->value, r->valuelen, 0,
		    &r->tval_naive);
		break;
	case FAM_DECIMAL:
		ok = pgflo_decimal_cmp(r->value, r->valuelen, "0", 1, &cmp);
		break;
	default:
		ok = 0;
		break;
	}
	if (ok == 0)
		r->parse_ok |= bit;
	return ok;
}

static void
rule_warn(struct rule *r, struct rec *rc, const char *fmt, const char *arg)
{
	char msg[256], where[300];

	if (r->warned)
		return;
	r->warned = 1;
	snprintf(msg, sizeof(msg), fmt, arg);
	locus(rc, where, sizeof(where));
	pgflo_warnx("%s: %s: %s (warned once per rule)", where, r->where, msg);
}

static int
cmp_result(enum pgflo_rule_cmp op, int c)
{
	switch (op) {
	case PGFLO_CMP_EQ:
		return c == 0;
	case PGFLO_CMP_NE:
		return c != 0;
	case PGFLO_CMP_LT:
		return c < 0;
	case PGFLO_CMP_LE:
		return c <= 0;
	case PGFLO_CMP_GT:
		return c > 0;
	case PGFLO_CMP_GE:
		return c >= 0;
	default:
		return 0;
	}
}

/* memmem(3) is a GNU extension. */
static int
contains(const char *s, size_t n, const char *w, size_t wn)
{
	const char *p, *end;

	if (wn == 0)
		return 1;
	if (n < wn)
		return 0;
	end = s + n - wn;
	for (p = s; p <= end; p++) {
		p = memchr(p, w[0], (size_t)(end - p) + 1);
		if (p == NULL)
			return 0;
		if (memcmp(p, w, wn) == 0)
			return 1;
	}
	return 0;
}

/*
 * Does the value v (not null) of a column of the given type pass?  A
 * value that cannot be read as its type, or a regex that fails, fails
 * the record (rec_fail): a filter that cannot decide never drops.
 */
static int
filter_value(struct pgflo_ruleset *rs, struct rule *r, struct rec *rc,
    struct pgflo_span v, const char *type)
{
	static const char *const famword[] = {
		"text", "number", "number", "timestamp", "timestamp or date",
		"boolean"
	};
	int kind = value_kind(v);
	enum family f = type_family(type, kind);
	const char *s = NULL;
	size_t slen = 0;
	int c, b, isnum = kind == 'i' || kind == 'r';
	double d;
	struct pgflo_time t;

	if (kind == '"')
		str_text(rc, v, &s, &slen);
	if (r->cmp == PGFLO_CMP_CONTAINS)
		return s != NULL && contains(s, slen, r->value, r->valuelen);
	if (r->cmp == PGFLO_CMP_MATCH || r->cmp == PGFLO_CMP_NOMATCH) {
		if (s == NULL)
			return 0;
		c = pcre2_match(r->re, (PCRE2_SPTR)s, slen, 0,
		    PCRE2_NO_UTF_CHECK, rs->md, rs->mctx);
		if (c < 0 && c != PCRE2_ERROR_NOMATCH) {
			regex_fail(rc, r, c);
			return 0;
		}
		return (c >= 0) == (r->cmp == PGFLO_CMP_MATCH);
	}
	switch (f) {
	case FAM_DECIMAL:
		if (isnum) {
			/* The number's own text: exact, whatever its size. */
			s = v.p;
			slen = v.n;
		}
		if (operand(r, f) == -1) {
			rule_warn(r, rc, "\"%s\" is not a number to compare "
			    "with", r->value);
			return 0;
		}
		if (s == NULL || pgflo_decimal_cmp(s, slen, r->value,
		    r->valuelen, &c) == -1)
			goto badvalue;
		return cmp_result(r->cmp, c);
	case FAM_FLOAT:
		if (operand(r, f) == -1) {
			rule_warn(r, rc, "\"%s\" is not a number to compare "
			    "with", r->value);
			return 0;
		}
		if (isnum)
			d = strtod(arena_copy(rc, v.p, v.n, 1), NULL);
		else if (s == NULL || parse_double(arena_copy(rc, s, slen, 1),
		    &d) == -1)
			goto badvalue;
		return cmp_result(r->cmp, cmp_double(d, r->dval));
	case FAM_BOOL:
		if (operand(r, f) == -1) {
			rule_warn(r, rc, "\"%s\" is not a boolean", r->value);
			return 0;
		}
		if (kind == 't' || kind == 'f')
			b = kind == 't';
		else if (s == NULL || parse_bool(s, slen, &b) == -1)
			goto badvalue;
		return cmp_result(r->cmp, b - r->bval);
	case FAM_TSTZ:
	case FAM_TS:
		if (operand(r, f) == -1) {
			rule_warn(r, rc, "\"%s\" is not a timestamp", r->value);
			return 0;
		}
		if (s == NULL || pgflo_time_parse(s, slen, f == FAM_TSTZ, &t)
		    == -1)
			goto badvalue;
		c = pgflo_time_cmp(&t, f == FAM_TSTZ ? &r->tval_tz :
		    &r->tval_naive);
		return cmp_result(r->cmp, c);
	case FAM_TEXT:
	default:
		if (s == NULL)
			return 0;
		c = memcmp(s, r->value, slen < r->valuelen ? slen :
		    r->valuelen);
		if (c == 0)
			c = (slen > r->valuelen) - (slen < r->valuelen);
		return cmp_result(r->cmp, c);
	}
badvalue:
	/* The value itself is never quoted: it may be what a rule hides. */
	rec_fail(rc, r, "column %s: the value is not a valid %s", r->column,
	    famword[f]);
	return 0;
}

/* 1 pass, 0 drop. */
static int
apply_filter(struct pgflo_ruleset *rs, struct rule *r, struct rec *rc,
    unsigned opbit)
{
	struct item *v, *t;
	const char *type = NULL;

	v = find(cont_get(rc, opbit == PGFLO_RULE_DELETE ? S_OLD : S_NEW),
	    r->column, r->columnlen);
	if (v == NULL) {
		/* A key-only old row of a delete lacks the column. */
		if (opbit == PGFLO_RULE_DELETE && r->allow_empty_deletes)
			return 1;
		return 0;
	}
	if (*v->v.p == 'n')
		return 0;
	t = find(cont_get(rc, S_TYPES), r->column, r->columnlen);
	if (t != NULL && *t->v.p == '"')
		type = str_cstr(rc, t->v, NULL);
	return filter_value(rs, r, rc, v->v, type);
}

/* The masked copy of s in rs->tmp; 0 when s is too short to mask. */
static int
mask_string(struct pgflo_ruleset *rs, struct rule *r, const char *s,
    size_t n)
{
	size_t i, nch = 0, first, lastpos = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			nch++;
			lastpos = i;
		}
	if (nch <= 2)
		return 0;
	for (first = 1; first < n && ((unsigned char)s[first] & 0xc0) == 0x80;
	    first++)
		;
	pgflo_buf_reset(&rs->tmp);
	pgflo_buf_putn(&rs->tmp, s, first);
	for (i = 0; i < nch - 2; i++)
		pgflo_buf_putn(&rs->tmp, r->mask, r->masklen);
	pgflo_buf_putn(&rs->tmp, s + lastpos, n - lastpos);
	return 1;
}

/*
 * The substituted copy of s in rs->sub; 0 no match, 1 changed, or a
 * PCRE2 error code (< 0).
 */
static int
regex_string(struct pgflo_ruleset *rs, struct rule *r, const char *s,
    size_t n, size_t *outlen)
{
	PCRE2_SIZE len;
	int rc;

	if (rs->subcap < n * 2 + 64) {
		rs->subcap = n * 2 + 64;
		rs->sub = pgflo_xrealloc(rs->sub, rs->subcap);
	}
	for (;;) {
		len = rs->subcap;
		rc = pcre2_substitute(r->re, (PCRE2_SPTR)s, n, 0,
		    SUB_FLAGS | PCRE2_NO_UTF_CHECK, rs->md, rs->mctx,
		    (PCRE2_SPTR)r->replace, PCRE2_ZERO_TERMINATED,
		    (PCRE2_UCHAR *)rs->sub, &len);
		if (rc != PCRE2_ERROR_NOMEMORY)
			break;
		rs->subcap = len + 1;
		rs->sub = pgflo_xrealloc(rs->sub, rs->subcap);
	}
	if (rc <= 0)
		return rc;
	*outlen = len;
	return 1;
}

/* Sets types[col] to "text", adding the member when it is missing. */
static void
set_type_text(struct rec *rc, const char *col, size_t collen)
{
	struct cont *c = cont_get(rc, S_TYPES);
	struct item *x;

	if (c->state != 1)
		return;
	if ((x = find(c, col, collen)) == NULL) {
		x = cont_add(c);
		x->key = json_string_span(rc, col, collen);
		x->name = col;
		x->namelen = collen;
	}
	x->v.p = "\"text\"";
	x->v.n = 6;
	c->dirty = 1;
}

/*
 * Masks or rewrites one column of one row; returns 1 when changed.  A
 * value the rule cannot change (an object, an array, a boolean; a regex
 * that fails) fails the record: it never passes unredacted.
 */
static int
transform_row(struct pgflo_ruleset *rs, struct rule *r, struct rec *rc,
    enum slot row)
{
	struct cont *c = cont_get(rc, row);
	struct item *x = find(c, r->column, r->columnlen);
	const char *s, *res;
	size_t n, outlen = 0;
	int kind, ret;

	if (x == NULL || (kind = value_kind(x->v)) == 'n')
		return 0;
	if (kind == '"')
		str_text(rc, x->v, &s, &n);
	else if (kind == 'i' || kind == 'r') {
		s = x->v.p;
		n = x->v.n;
	} else {
		rec_fail(rc, r, "column %s in \"%s\" is %s, not a string or "
		    "a number", r->column, slotname[row], kind == '{' ?
		    "an object" : kind == '[' ? "an array" : "a boolean");
		return 0;
	}
	if (r->kind == PGFLO_RULE_MASK) {
		if (!mask_string(rs, r, s, n))
			return 0;
		res = rs->tmp.data;
		outlen = rs->tmp.len;
	} else {
		ret = regex_string(rs, r, s, n, &outlen);
		if (ret < 0)
			regex_fail(rc, r, ret);
		if (ret <= 0)
			return 0;
		res = rs->sub;
		if (!pgflo_jw_valid_utf8(res, outlen)) {
			rec_fail(rc, r, "column %s: the regex made invalid "
			    "UTF-8", r->column);
			return 0;
		}
	}
	x->v = json_string_span(rc, res, outlen);
	c->dirty = 1;
	/* A number turned into text: tell the sink. */
	if (kind != '"')
		set_type_text(rc, r->column, r->columnlen);
	return 1;
}

static const enum slot objslots[] = { S_NEW, S_OLD, S_TYPES };
static const enum slot arrslots[] = {
	S_KEY, S_UNCHANGED, S_JSON_NULL, S_OLD_JSON_NULL
};
/* The containers that hold column names: objects' keys, then lists. */
#define NNAMED	(3 + 4)

/* The i-th of them (i < 3: an object), or NULL when the record has none. */
static struct cont *
named_cont(struct rec *rc, size_t i)
{
	struct cont *c = cont_get(rc, i < 3 ? objslots[i] : arrslots[i - 3]);

	return c->state == 1 ? c : NULL;
}

/* Drops a column from new, old, types and the lists of names. */
static int
exclude_column(struct rec *rc, const char *col, size_t collen)
{
	struct cont *c;
	size_t i, j;
	int n = 0;

	for (i = 0; i < NNAMED; i++) {
		if ((c = named_cont(rc, i)) == NULL)
			continue;
		for (j = 0; j < c->n; j++) {
			if (c->it[j].dead || !name_eq(&c->it[j], col, collen))
				continue;
			c->it[j].dead = 1;
			c->dirty = 1;
			n = 1;
		}
	}
	return n;
}

static const char *
mapped(const struct item *x, char *const *src, char *const *dst, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name_eq(x, src[i], strlen(src[i])))
			return dst[i];
	return NULL;
}

/* Renames columns in new, old, types (keeping key order) and the lists. */
static int
rename_columns(struct rec *rc, char *const *src, char *const *dst,
    size_t n)
{
	struct cont *c;
	struct item *x;
	const char *to;
	size_t i, j;
	int changed = 0;

	for (i = 0; i < NNAMED; i++) {
		if ((c = named_cont(rc, i)) == NULL)
			continue;
		for (j = 0; j < c->n; j++) {
			x = &c->it[j];
			if (x->dead || (to = mapped(x, src, dst, n)) == NULL)
				continue;
			if (i < 3) {
				x->key = json_string_span(rc, to, strlen(to));
				c->nodups = 0;	/* onto an existing name? */
			} else
				x->v = json_string_span(rc, to, strlen(to));
			x->name = to;
			x->namelen = strlen(to);
			c->dirty = 1;
			changed = 1;
		}
	}
	return changed;
}

static int
rename_table(struct rec *rc, const char *schema, const char *table)
{
	int changed = 0;
	struct item *x;

	if (table != NULL && strcmp(rc->table, table) != 0) {
		x = &rc->top.it[rc->slot[S_TABLE]];
		x->v = json_string_span(rc, table, strlen(table));
		rc->table = table;
		changed = 1;
	}
	if (schema != NULL && strcmp(rc->schema, schema) != 0) {
		x = &rc->top.it[rc->slot[S_SCHEMA]];
		x->v = json_string_span(rc, schema, strlen(schema));
		rc->schema = schema;
		changed = 1;
	}
	return changed;
}

static unsigned
op_bit(const char *s, size_t n, enum pgflo_op *op)
{
	static const struct {
		const char *name;
		enum pgflo_op op;
		unsigned bit;
	} ops[] = {
		{ "insert", PGFLO_OP_INSERT, PGFLO_RULE_INSERT },
		{ "update", PGFLO_OP_UPDATE, PGFLO_RULE_UPDATE },
		{ "delete", PGFLO_OP_DELETE, PGFLO_RULE_DELETE },
		{ "truncate", PGFLO_OP_TRUNCATE, PGFLO_RULE_TRUNCATE },
		{ "ddl", PGFLO_OP_DDL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == n && memcmp(ops[i].name, s, n) == 0) {
			*op = ops[i].op;
			return ops[i].bit;
		}
	*op = PGFLO_OP_UNKNOWN;
	return 0;
}

/* A string member's decoded text, NUL-terminated; NULL if not a string. */
static const char *
top_str(struct rec *rc, enum slot s)
{
	struct item *x;

	if (rc->slot[s] < 0)
		return NULL;
	x = &rc->top.it[rc->slot[s]];
	if (*x->v.p != '"')
		return NULL;
	return str_cstr(rc, x->v, NULL);
}

/* Does the record carry this row (not null)? */
static int
has_row(struct rec *rc, enum slot s)
{
	return rc->slot[s] >= 0 && *rc->top.it[rc->slot[s]].v.p != 'n';
}

static int
rec_open(struct rec *rc, const char *line, size_t len)
{
	struct item *x;
	size_t i;
	int s;

	arena_reset(rc);
	for (s = 0; s < NSLOTS; s++) {
		rc->sub[s].state = 0;
		rc->sub[s].dirty = 0;
		rc->sub[s].nodups = 0;
		rc->sub[s].n = 0;
	}
	rc->line = line;
	rc->len = len;
	if (scan_top(rc) == -1 || check_text(line, len) == -1)
		return -1;
	for (i = 0; i < rc->top.n; i++) {
		x = &rc->top.it[i];
		item_name(rc, x, x->key);
		if ((s = slot_of(x->name, x->namelen)) >= 0) {
			if (rc->slot[s] >= 0)
				rc->top.it[rc->slot[s]].slot = -1;
			rc->slot[s] = (int)i;
			x->slot = s;
		}
	}
	(void)check_dups(rc, &rc->top, NULL);
	return 0;
}

/* The record state of rs for one line, set up for errors into errbuf. */
static struct rec *
rec_get(struct pgflo_ruleset *rs, const char *name, unsigned long lineno,
    char *errbuf, size_t errlen)
{
	struct rec *rc;

	if (rs->rec == NULL) {
		rs->rec = pgflo_xmalloc(sizeof(*rs->rec));
		memset(rs->rec, 0, sizeof(*rs->rec));
	}
	rc = rs->rec;
	rc->name = name;
	rc->lineno = lineno;
	rc->err = errbuf;
	rc->errlen = errlen;
	rc->failed = 0;
	return rc;
}

/*
 * The record's "op" as *op and its rule bit as *opbit; -1 (the error
 * set) when it has none, or carries rows where no rule looks for them.
 */
static int
rec_op(struct rec *rc, enum pgflo_op *op, unsigned *opbit)
{
	struct item *opx;
	const char *s;
	char where[300];
	size_t n;

	if (rc->slot[S_OP] < 0 || *(opx = &rc->top.it[rc->slot[S_OP]])->v.p
	    != '"') {
		locus(rc, where, sizeof(where));
		snprintf(rc->err, rc->errlen, "%s: record has no \"op\" string",
		    where);
		return -1;
	}
	str_text(rc, opx->v, &s, &n);
	*opbit = op_bit(s, n, op);
	/* Rows only where rules look for them: none passes unmasked. */
	if ((*opbit & (PGFLO_RULE_INSERT | PGFLO_RULE_UPDATE |
	    PGFLO_RULE_DELETE)) == 0 && (has_row(rc, S_NEW) ||
	    has_row(rc, S_OLD))) {
		enum pgflo_op any = pgflo_op_parse(str_cstr(rc, opx->v, NULL));

		if (any != PGFLO_OP_UNKNOWN)
			rec_fail(rc, NULL, "a %s record may not carry \"new\" "
			    "or \"old\"", pgflo_op_name(any));
		else
			rec_fail(rc, NULL, "a record of an unknown \"op\" may "
			    "not carry \"new\" or \"old\"");
		return -1;
	}
	return 0;
}

/* The rules of e on the record: 1 keep it, 0 drop it, -1 failed. */
static int
apply_rules(struct pgflo_ruleset *rs, const struct entry *e, struct rec *rc,
    unsigned opbit, int *changed)
{
	int rows = opbit != PGFLO_RULE_TRUNCATE;
	size_t i;

	for (i = 0; i < e->nrules; i++) {
		struct rule *r = e->rules[i];

		if ((r->ops & opbit) == 0)
			continue;
		switch (r->kind) {
		case PGFLO_RULE_FILTER:
			if (rows && !apply_filter(rs, r, rc, opbit))
				return rc->failed ? -1 : 0;
			break;
		case PGFLO_RULE_MASK:
		case PGFLO_RULE_REGEX:
			/* Both rows, whatever the op: an insert's "old" too. */
			if (!rows)
				break;
			*changed |= transform_row(rs, r, rc, S_NEW);
			*changed |= transform_row(rs, r, rc, S_OLD);
			break;
		case PGFLO_RULE_EXCLUDE:
			if (rows)
				*changed |= exclude_column(rc, r->column,
				    r->columnlen);
			break;
		case PGFLO_RULE_RENAME_TABLE:
			*changed |= rename_table(rc, r->newschema, r->newname);
			break;
		case PGFLO_RULE_RENAME_COLUMN:
			if (rows)
				*changed |= rename_columns(rc, &r->column,
				    &r->newname, 1);
			break;
		}
		if (rc->failed)
			return -1;
	}
	return 1;
}

/* The route of e, if any: 1 keep the record, 0 drop it, -1 failed. */
static int
apply_route(const struct entry *e, struct rec *rc, unsigned opbit,
    int *changed)
{
	const struct route *rt = e->route;

	if (rt == NULL)
		return 1;
	if ((rt->ops & opbit) == 0)
		return 0;
	*changed |= rename_table(rc, rt->dest_schema, rt->dest_table);
	if (opbit != PGFLO_RULE_TRUNCATE && rt->nmap > 0)
		*changed |= rename_columns(rc, rt->src, rt->dst, rt->nmap);
	return rc->failed ? -1 : 1;
}

int
pgflo_ruleset_apply(struct pgflo_ruleset *rs, const char *line, size_t len,
    const char *name, unsigned long lineno, const char **out, size_t *outlen,
    int *changed, char *errbuf, size_t errlen)
{
	struct rec *rc;
	struct entry *e;
	enum pgflo_op op;
	unsigned opbit;
	char where[300];
	int r;

	*changed = 0;
	*out = line;
	*outlen = len;
	rc = rec_get(rs, name, lineno, errbuf, errlen);
	if (rec_open(rc, line, len) == -1)
		return PGFLO_RULE_BADJSON;
	if (rc->failed || rec_op(rc, &op, &opbit) == -1)
		return -1;
	if (op == PGFLO_OP_UNKNOWN)
		return 1;	/* begin, commit, position, snapshot, ... */
	rc->schema = top_str(rc, S_SCHEMA);
	rc->table = top_str(rc, S_TABLE);
	if (rc->table == NULL || rc->schema == NULL) {
		if (opbit == 0)
			return 1;
		locus(rc, where, sizeof(where));
		snprintf(errbuf, errlen, "%s: %s record without "
		    "\"schema\" and \"table\" strings", where,
		    pgflo_op_name(op));
		return -1;
	}
	e = lookup(rs, rc->schema, rc->table);
	if (opbit == 0) {
		if (e->renames && !e->ddl_warned) {
			e->ddl_warned = 1;
			locus(rc, where, sizeof(where));
			pgflo_warnx("warning: %s: ddl for renamed table %s.%s "
			    "passed unchanged; its statement is not rewritten",
			    where, rc->schema, rc->table);
		}
		return 1;
	}
	if ((r = apply_rules(rs, e, rc, opbit, changed)) != 1 ||
	    (r = apply_route(e, rc, opbit, changed)) != 1)
		return r;
	if (*changed) {
		pgflo_buf_reset(&rc->out);
		pgflo_buf_grow(&rc->out, len + 64);
		put_obj(rc, &rc->out, &rc->top);
		*out = rc->out.data;
		*outlen = rc->out.len;
	}
	return 1;
}
