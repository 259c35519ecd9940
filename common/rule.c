/*
 * rule.c - compile and apply the rules of pgflo-rule(1): filters with
 * type-directed exact comparisons, UTF-8 aware masks, PCRE2 regex
 * transforms, column exclusion, table and column renames, routes.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

#include "pgflo.h"
#include "rule.h"

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
	int64_t	 tval_tz;
	int64_t	 tval_naive;
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
	uint64_t hash;
	struct rule **rules;
	size_t	 nrules;
	struct route *route;
	int	 renames;	/* a table or column rename applies */
	int	 ddl_warned;
};

struct pgflo_ruleset {
	struct rule **rules;
	size_t	 nrules;
	struct route **routes;
	size_t	 nroutes;
	struct entry **tab;	/* open addressing, power of two */
	size_t	 tabcap;
	size_t	 tabn;
	pcre2_match_data *md;
	struct pgflo_buf tmp;
	char	*sub;		/* pcre2_substitute output */
	size_t	 subcap;
};

struct pgflo_ruleset *
pgflo_ruleset_new(void)
{
	struct pgflo_ruleset *rs = pgflo_xmalloc(sizeof(*rs));

	memset(rs, 0, sizeof(*rs));
	return rs;
}

static void
entry_free(struct entry *e)
{
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
	for (i = 0; i < rs->tabcap; i++)
		entry_free(rs->tab[i]);
	free(rs->tab);
	pcre2_match_data_free(rs->md);
	pgflo_buf_free(&rs->tmp);
	free(rs->sub);
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

static char *
xstrdup0(const char *s)
{
	return s != NULL ? pgflo_xstrdup(s) : NULL;
}

/* "schema.table" → both patterns; "table" → any schema. */
static void
split_pattern(const char *pat, char **schema, char **table)
{
	const char *dot;

	*schema = *table = NULL;
	if (pat == NULL || *pat == '\0')
		return;
	dot = strchr(pat, '.');
	if (dot == NULL) {
		*table = pgflo_xstrdup(pat);
		return;
	}
	*schema = pgflo_xmalloc((size_t)(dot - pat) + 1);
	memcpy(*schema, pat, (size_t)(dot - pat));
	(*schema)[dot - pat] = '\0';
	*table = pgflo_xstrdup(dot + 1);
}

static int
pattern_match(const char *schema_pat, const char *table_pat,
    const char *schema, const char *table)
{
	if (table_pat != NULL && fnmatch(table_pat, table, 0) != 0)
		return 0;
	if (schema_pat != NULL && fnmatch(schema_pat, schema, 0) != 0)
		return 0;
	return 1;
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
	size_t i;

	for (i = 0; i < rs->tabcap; i++) {
		entry_free(rs->tab[i]);
		rs->tab[i] = NULL;
	}
	rs->tabn = 0;
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
	split_pattern(s->table, &r->schema_pat, &r->table_pat);
	r->where = pgflo_xstrdup(s->where != NULL ? s->where : "rule");
	r->ops = s->ops != 0 ? s->ops : PGFLO_RULE_ALLOPS;
	r->allow_empty_deletes = s->allow_empty_deletes;
	r->column = xstrdup0(s->column);
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
	if (rs->md == NULL)
		rs->md = pcre2_match_data_create(32, NULL);
	rs->rules = pgflo_xrealloc(rs->rules,
	    (rs->nrules + 1) * sizeof(*rs->rules));
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
	split_pattern(s->table, &rt->schema_pat, &rt->table_pat);
	rt->where = pgflo_xstrdup(s->where != NULL ? s->where : "route");
	if (s->dest != NULL && *s->dest != '\0')
		split_pattern(s->dest, &rt->dest_schema, &rt->dest_table);
	rt->ops = s->ops != 0 ? s->ops : PGFLO_RULE_ALLOPS;
	rt->nmap = s->nmap;
	rt->src = pgflo_xmalloc((s->nmap + 1) * sizeof(char *));
	rt->dst = pgflo_xmalloc((s->nmap + 1) * sizeof(char *));
	for (i = 0; i < s->nmap; i++) {
		rt->src[i] = pgflo_xstrdup(s->src[i]);
		rt->dst[i] = pgflo_xstrdup(s->dst[i]);
	}
	rs->routes = pgflo_xrealloc(rs->routes,
	    (rs->nroutes + 1) * sizeof(*rs->routes));
	rs->routes[rs->nroutes++] = rt;
	tab_reset(rs);
	return 0;
}

/* ---- the per-table cache ---- */

static uint64_t
hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (; *b != '\0'; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	return h;
}

static struct entry *
entry_build(struct pgflo_ruleset *rs, const char *schema, const char *table,
    uint64_t h)
{
	struct entry *e = pgflo_xmalloc(sizeof(*e));
	size_t i;

	memset(e, 0, sizeof(*e));
	e->schema = pgflo_xstrdup(schema);
	e->table = pgflo_xstrdup(table);
	e->hash = h;
	e->rules = pgflo_xmalloc((rs->nrules + 1) * sizeof(*e->rules));
	for (i = 0; i < rs->nrules; i++) {
		struct rule *r = rs->rules[i];

		if (!pattern_match(r->schema_pat, r->table_pat, schema, table))
			continue;
		e->rules[e->nrules++] = r;
		if (r->kind == PGFLO_RULE_RENAME_TABLE ||
		    r->kind == PGFLO_RULE_RENAME_COLUMN)
			e->renames = 1;
	}
	for (i = 0; i < rs->nroutes; i++) {
		struct route *rt = rs->routes[i];

		if (pattern_match(rt->schema_pat, rt->table_pat, schema,
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
	uint64_t h = hash2(schema, table);
	struct entry **old;
	size_t i, oldcap, mask;

	if (rs->tabcap != 0) {
		mask = rs->tabcap - 1;
		for (i = h & mask; rs->tab[i] != NULL; i = (i + 1) & mask) {
			struct entry *e = rs->tab[i];

			if (e->hash == h && strcmp(e->table, table) == 0 &&
			    strcmp(e->schema, schema) == 0)
				return e;
		}
	}
	if (2 * (rs->tabn + 1) > rs->tabcap) {
		old = rs->tab;
		oldcap = rs->tabcap;
		rs->tabcap = oldcap != 0 ? 2 * oldcap : 64;
		rs->tab = pgflo_xmalloc(rs->tabcap * sizeof(*rs->tab));
		memset(rs->tab, 0, rs->tabcap * sizeof(*rs->tab));
		mask = rs->tabcap - 1;
		for (i = 0; i < oldcap; i++) {
			size_t j;

			if (old[i] == NULL)
				continue;
			for (j = old[i]->hash & mask; rs->tab[j] != NULL;
			    j = (j + 1) & mask)
				;
			rs->tab[j] = old[i];
		}
		free(old);
	}
	mask = rs->tabcap - 1;
	for (i = h & mask; rs->tab[i] != NULL; i = (i + 1) & mask)
		;
	rs->tab[i] = entry_build(rs, schema, table, h);
	rs->tabn++;
	return rs->tab[i];
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

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
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

int
pgflo_time_parse(const char *s, size_t n, int use_offset, int64_t *us)
{
	size_t i = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, fd = 0;
	int oh = 0, om = 0, os = 0, oneg = 0, bc = 0;
	int64_t days, t;

	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 8 && strncasecmp(s, "infinity", 8) == 0) {
		*us = INT64_MAX;
		return 0;
	}
	if (n == 9 && strncasecmp(s, "-infinity", 9) == 0) {
		*us = INT64_MIN;
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
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
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
				i++;
				while (i < n && isdigit((unsigned char)s[i])) {
					if (fd < 6) {
						frac = frac * 10 + (s[i] - '0');
						fd++;
					}
					i++;
				}
				if (fd == 0)
					return -1;
				while (fd < 6) {
					frac *= 10;
					fd++;
				}
			}
		}
		if (h > 24 || mi > 59 || sec > 60)
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
		}
	}
	if (i != n)
		return -1;
	days = days_from_civil(bc ? 1 - (int64_t)y : y, mo, d);
	t = ((days * 24 + h) * 60 + mi) * 60 + sec;
	if (use_offset)
		t -= (oneg ? -1 : 1) * ((int64_t)oh * 3600 + om * 60 + os);
	*us = t * 1000000 + frac;
	return 0;
}

static enum family
type_family(const char *type, const json_t *v)
{
	if (type == NULL) {
		switch (json_typeof(v)) {
		case JSON_INTEGER:
			return FAM_DECIMAL;
		case JSON_REAL:
			return FAM_FLOAT;
		case JSON_TRUE:
		case JSON_FALSE:
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
	int ok = -1;

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
	default:
		ok = 0;
		break;
	}
	if (ok == 0)
		r->parse_ok |= bit;
	return ok;
}

static void
rule_warn(struct rule *r, const char *locus, const char *fmt, const char *arg)
{
	char msg[256];

	if (r->warned)
		return;
	r->warned = 1;
	snprintf(msg, sizeof(msg), fmt, arg);
	pgflo_warnx("%s: %s: %s (warned once per rule)", locus, r->where, msg);
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

/* Does the value (not NULL) of a column of the given type pass? */
static int
filter_value(struct pgflo_ruleset *rs, struct rule *r, const json_t *v,
    const char *type, const char *locus)
{
	enum family f = type_family(type, v);
	const char *s = NULL;
	size_t slen = 0;
	char tmp[64];
	int c, b, rc;
	double d;
	int64_t t;

	if (json_is_string(v)) {
		s = json_string_value(v);
		slen = json_string_length(v);
	}
	if (r->cmp == PGFLO_CMP_CONTAINS)
		return s != NULL && contains(s, slen, r->value, r->valuelen);
	if (r->cmp == PGFLO_CMP_MATCH || r->cmp == PGFLO_CMP_NOMATCH) {
		if (s == NULL)
			return 0;
		rc = pcre2_match(r->re, (PCRE2_SPTR)s, slen, 0,
		    PCRE2_NO_UTF_CHECK, rs->md, NULL);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
			return 0;
		return (rc >= 0) == (r->cmp == PGFLO_CMP_MATCH);
	}
	switch (f) {
	case FAM_DECIMAL:
		if (json_is_integer(v)) {
			snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			s = tmp;
			slen = strlen(tmp);
		} else if (json_is_real(v)) {
			snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
			s = tmp;
			slen = strlen(tmp);
		}
		if (s == NULL)
			return 0;
		if (pgflo_decimal_cmp(s, slen, r->value, r->valuelen, &c)
		    == -1) {
			rule_warn(r, locus, "\"%s\" is not a number to compare "
			    "with", r->value);
			return 0;
		}
		return cmp_result(r->cmp, c);
	case FAM_FLOAT:
		if (json_is_number(v))
			d = json_number_value(v);
		else if (s == NULL || parse_double(s, &d) == -1)
			return 0;
		if (operand(r, f) == -1) {
			rule_warn(r, locus, "\"%s\" is not a number to compare "
			    "with", r->value);
			return 0;
		}
		return cmp_result(r->cmp, cmp_double(d, r->dval));
	case FAM_BOOL:
		if (json_is_boolean(v))
			b = json_is_true(v);
		else if (s == NULL || parse_bool(s, slen, &b) == -1)
			return 0;
		if (operand(r, f) == -1) {
			rule_warn(r, locus, "\"%s\" is not a boolean", r->value);
			return 0;
		}
		return cmp_result(r->cmp, b - r->bval);
	case FAM_TSTZ:
	case FAM_TS:
		if (s == NULL || pgflo_time_parse(s, slen, f == FAM_TSTZ, &t)
		    == -1)
			return 0;
		if (operand(r, f) == -1) {
			rule_warn(r, locus, "\"%s\" is not a timestamp",
			    r->value);
			return 0;
		}
		if (f == FAM_TSTZ)
			c = (t > r->tval_tz) - (t < r->tval_tz);
		else
			c = (t > r->tval_naive) - (t < r->tval_naive);
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
}

/* 1 pass, 0 drop. */
static int
apply_filter(struct pgflo_ruleset *rs, struct rule *r, json_t *rec,
    unsigned opbit, const char *locus)
{
	json_t *row, *v, *types, *t;

	row = json_object_get(rec, opbit == PGFLO_RULE_DELETE ? "old" : "new");
	v = json_is_object(row) ? json_object_get(row, r->column) : NULL;
	if (v == NULL) {
		/* A key-only old row of a delete lacks the column. */
		if (opbit == PGFLO_RULE_DELETE && r->allow_empty_deletes)
			return 1;
		return 0;
	}
	if (json_is_null(v))
		return 0;
	types = json_object_get(rec, "types");
	t = json_is_object(types) ? json_object_get(types, r->column) : NULL;
	return filter_value(rs, r, v, json_is_string(t) ?
	    json_string_value(t) : NULL, locus);
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

/* The substituted copy of s in rs->sub; 0 no match, 1 changed, -1 error. */
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
		    SUB_FLAGS | PCRE2_NO_UTF_CHECK, rs->md, NULL,
		    (PCRE2_SPTR)r->replace, PCRE2_ZERO_TERMINATED,
		    (PCRE2_UCHAR *)rs->sub, &len);
		if (rc != PCRE2_ERROR_NOMEMORY)
			break;
		rs->subcap = len + 1;
		rs->sub = pgflo_xrealloc(rs->sub, rs->subcap);
	}
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0;
	*outlen = len;
	return 1;
}

/* Masks or rewrites one column of one row; returns 1 when changed. */
static int
transform_row(struct pgflo_ruleset *rs, struct rule *r, json_t *rec,
    json_t *row, const char *locus)
{
	json_t *v, *types;
	const char *s;
	size_t n, outlen = 0;
	char tmp[64];
	int isnum = 0, rc;

	if (!json_is_object(row) || (v = json_object_get(row, r->column)) ==
	    NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
	} else if (json_is_integer(v)) {
		n = (size_t)snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s = tmp;
		isnum = 1;
	} else if (json_is_real(v)) {
		n = (size_t)snprintf(tmp, sizeof(tmp), "%.17g",
		    json_real_value(v));
		s = tmp;
		isnum = 1;
	} else {
		rule_warn(r, locus, "column %s is not text; left unchanged",
		    r->column);
		return 0;
	}
	if (r->kind == PGFLO_RULE_MASK) {
		if (!mask_string(rs, r, s, n))
			return 0;
		json_object_set_new(row, r->column,
		    json_stringn(rs->tmp.data, rs->tmp.len));
	} else {
		rc = regex_string(rs, r, s, n, &outlen);
		if (rc <= 0) {
			if (rc < 0)
				rule_warn(r, locus, "regex failed on column %s",
				    r->column);
			return 0;
		}
		v = json_stringn(rs->sub, outlen);
		if (v == NULL) {
			rule_warn(r, locus, "regex on column %s made invalid "
			    "UTF-8; left unchanged", r->column);
			return 0;
		}
		json_object_set_new(row, r->column, v);
	}
	/* A number turned into text: tell the sink. */
	if (isnum && json_is_object(types = json_object_get(rec, "types")))
		json_object_set_new(types, r->column, json_string("text"));
	return 1;
}

static int
remove_from_array(json_t *arr, const char *name)
{
	size_t i;
	int n = 0;

	if (!json_is_array(arr))
		return 0;
	for (i = 0; i < json_array_size(arr);) {
		json_t *v = json_array_get(arr, i);

		if (json_is_string(v) && strcmp(json_string_value(v), name)
		    == 0) {
			json_array_remove(arr, i);
			n = 1;
		} else
			i++;
	}
	return n;
}

/* The record members that list column names (pgflo-record(5)). */
static const char *const colarrs[] = {
	"key", "unchanged", "json_null", "old_json_null"
};
#define NCOLARRS (sizeof(colarrs) / sizeof(colarrs[0]))

static int
exclude_column(json_t *rec, const char *col)
{
	static const char *const objs[] = { "new", "old", "types" };
	int n = 0;
	size_t i;
	json_t *o;

	for (i = 0; i < 3; i++)
		if (json_is_object(o = json_object_get(rec, objs[i])) &&
		    json_object_del(o, col) == 0)
			n = 1;
	for (i = 0; i < NCOLARRS; i++)
		n |= remove_from_array(json_object_get(rec, colarrs[i]), col);
	return n;
}

static const char *
mapped(const char *name, char *const *src, char *const *dst, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(src[i], name) == 0)
			return dst[i];
	return NULL;
}

/* Renames columns in new, old, types (keeping key order) and colarrs. */
static int
rename_columns(json_t *rec, char *const *src, char *const *dst, size_t n)
{
	static const char *const objs[] = { "new", "old", "types" };
	const char *key, *to;
	json_t *o, *v, *repl;
	size_t i, j;
	int changed = 0, hit;

	for (i = 0; i < 3; i++) {
		if (!json_is_object(o = json_object_get(rec, objs[i])))
			continue;
		hit = 0;
		json_object_foreach(o, key, v)
			if (mapped(key, src, dst, n) != NULL)
				hit = 1;
		if (!hit)
			continue;
		repl = json_object();
		json_object_foreach(o, key, v) {
			to = mapped(key, src, dst, n);
			json_object_set(repl, to != NULL ? to : key, v);
		}
		json_object_set_new(rec, objs[i], repl);
		changed = 1;
	}
	for (i = 0; i < NCOLARRS; i++) {
		if (!json_is_array(o = json_object_get(rec, colarrs[i])))
			continue;
		json_array_foreach(o, j, v) {
			if (!json_is_string(v) || (to = mapped(
			    json_string_value(v), src, dst, n)) == NULL)
				continue;
			json_array_set_new(o, j, json_string(to));
			changed = 1;
		}
	}
	return changed;
}

static int
rename_table(json_t *rec, const char *schema, const char *table)
{
	int changed = 0;
	const char *cur;

	if (table != NULL) {
		cur = pgflo_rec_str(rec, "table");
		if (cur == NULL || strcmp(cur, table) != 0) {
			json_object_set_new(rec, "table", json_string(table));
			changed = 1;
		}
	}
	if (schema != NULL) {
		cur = pgflo_rec_str(rec, "schema");
		if (cur == NULL || strcmp(cur, schema) != 0) {
			json_object_set_new(rec, "schema", json_string(schema));
			changed = 1;
		}
	}
	return changed;
}

int
pgflo_ruleset_apply(struct pgflo_ruleset *rs, json_t *rec, int *changed,
    const char *locus, char *errbuf, size_t errlen)
{
	const char *schema, *table;
	struct entry *e;
	struct route *rt;
	unsigned opbit;
	size_t i;
	int rows;

	*changed = 0;
	switch (pgflo_rec_op(rec)) {
	case PGFLO_OP_INSERT:
		opbit = PGFLO_RULE_INSERT;
		break;
	case PGFLO_OP_UPDATE:
		opbit = PGFLO_RULE_UPDATE;
		break;
	case PGFLO_OP_DELETE:
		opbit = PGFLO_RULE_DELETE;
		break;
	case PGFLO_OP_TRUNCATE:
		opbit = PGFLO_RULE_TRUNCATE;
		break;
	case PGFLO_OP_DDL:
		opbit = 0;
		break;
	default:
		return 1;	/* begin, commit, position, snapshot, ... */
	}
	schema = pgflo_rec_str(rec, "schema");
	table = pgflo_rec_str(rec, "table");
	if (table == NULL || schema == NULL) {
		if (opbit == 0)
			return 1;
		snprintf(errbuf, errlen, "%s: %s record without "
		    "\"schema\" and \"table\" strings", locus,
		    pgflo_op_name(pgflo_rec_op(rec)));
		return -1;
	}
	e = lookup(rs, schema, table);
	if (opbit == 0) {
		if (e->renames && !e->ddl_warned) {
			e->ddl_warned = 1;
			pgflo_warnx("warning: %s: ddl for renamed table %s.%s "
			    "passed unchanged; its statement is not rewritten",
			    locus, schema, table);
		}
		return 1;
	}
	rows = opbit != PGFLO_RULE_TRUNCATE;
	for (i = 0; i < e->nrules; i++) {
		struct rule *r = e->rules[i];

		if ((r->ops & opbit) == 0)
			continue;
		switch (r->kind) {
		case PGFLO_RULE_FILTER:
			if (rows && !apply_filter(rs, r, rec, opbit, locus))
				return 0;
			break;
		case PGFLO_RULE_MASK:
		case PGFLO_RULE_REGEX:
			if (!rows)
				break;
			if (opbit != PGFLO_RULE_DELETE)
				*changed |= transform_row(rs, r, rec,
				    json_object_get(rec, "new"), locus);
			if (opbit != PGFLO_RULE_INSERT)
				*changed |= transform_row(rs, r, rec,
				    json_object_get(rec, "old"), locus);
			break;
		case PGFLO_RULE_EXCLUDE:
			if (rows)
				*changed |= exclude_column(rec, r->column);
			break;
		case PGFLO_RULE_RENAME_TABLE:
			*changed |= rename_table(rec, r->newschema, r->newname);
			break;
		case PGFLO_RULE_RENAME_COLUMN:
			if (rows)
				*changed |= rename_columns(rec, &r->column,
				    &r->newname, 1);
			break;
		}
	}
	if ((rt = e->route) != NULL) {
		if ((rt->ops & opbit) == 0)
			return 0;
		*changed |= rename_table(rec, rt->dest_schema, rt->dest_table);
		if (rows && rt->nmap > 0)
			*changed |= rename_columns(rec, rt->src, rt->dst,
			    rt->nmap);
	}
	return 1;
}
