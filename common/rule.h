/*
 * rule.h - the rule engine of pgflo-rule: filter, transform and route
 * change records (pgflo-rule(1)).  rule.c compiles and applies rules;
 * ruleyaml.c loads pg_flo's rules and routing YAML files into the same
 * structures as the inline rules.
 */
#ifndef PGFLO_RULE_H
#define PGFLO_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "pgflo.h"

/* Operation bits a rule or route applies to. */
#define PGFLO_RULE_INSERT	0x01
#define PGFLO_RULE_UPDATE	0x02
#define PGFLO_RULE_DELETE	0x04
#define PGFLO_RULE_TRUNCATE	0x08
#define PGFLO_RULE_ALLOPS	0x0f

enum pgflo_rule_kind {
	PGFLO_RULE_FILTER = 1,
	PGFLO_RULE_MASK,
	PGFLO_RULE_REGEX,
	PGFLO_RULE_EXCLUDE,
	PGFLO_RULE_RENAME_TABLE,
	PGFLO_RULE_RENAME_COLUMN
};

enum pgflo_rule_cmp {
	PGFLO_CMP_EQ = 1, PGFLO_CMP_NE, PGFLO_CMP_LT, PGFLO_CMP_LE,
	PGFLO_CMP_GT, PGFLO_CMP_GE, PGFLO_CMP_CONTAINS, PGFLO_CMP_MATCH,
	PGFLO_CMP_NOMATCH
};

/*
 * What a caller fills in to add a rule; pgflo_ruleset_add() copies
 * every string.  table: a pattern ("users", "public.users", "public.*",
 * NULL for every table).
 */
struct pgflo_rule_spec {
	enum pgflo_rule_kind kind;
	const char *table;
	const char *where;	/* "rules.yml:12" or "--filter 'a = 1'" */
	unsigned ops;		/* 0: all */
	int	 allow_empty_deletes;
	const char *column;
	enum pgflo_rule_cmp cmp;
	const char *value;	/* filter operand, as text */
	const char *pattern;	/* regex transform or ~ */
	int	 caseless;	/* regex flag i */
	int	 extended;	/* regex flag x */
	const char *replace;	/* regex transform */
	const char *mask;	/* mask character(s); NULL: "*" */
	const char *newname;	/* rename: table, "schema.table", column */
};

struct pgflo_route_spec {
	const char *table;	/* source pattern */
	const char *where;
	const char *dest;	/* NULL, "table" or "schema.table" */
	unsigned ops;		/* 0: all */
	size_t	 nmap;
	const char **src;	/* column mappings */
	const char **dst;
};

struct pgflo_ruleset;

struct pgflo_ruleset *pgflo_ruleset_new(void);
void	pgflo_ruleset_free(struct pgflo_ruleset *rs);
/* 0, or -1 with errbuf (a bad regex, a bad mask). */
int	pgflo_ruleset_add(struct pgflo_ruleset *rs,
	    const struct pgflo_rule_spec *spec, char *errbuf, size_t errlen);
int	pgflo_ruleset_add_route(struct pgflo_ruleset *rs,
	    const struct pgflo_route_spec *spec, char *errbuf, size_t errlen);
/* The number of rules (routes not counted). */
size_t	pgflo_ruleset_nrules(const struct pgflo_ruleset *rs);
/* Sets allow_empty_deletes on rule number `from` and the later ones. */
void	pgflo_ruleset_keep_deletes(struct pgflo_ruleset *rs, size_t from);
/* The number of rules and routes loaded. */
size_t	pgflo_ruleset_count(const struct pgflo_ruleset *rs);
/*
 * 1 when a rule masks, rewrites or excludes a column: then a bad line
 * must not be kept as it was read (pgflo-rule(1), --dead-letter).
 */
int	pgflo_ruleset_redacts(const struct pgflo_ruleset *rs);

/*
 * "eq", "=", "==", "ne", "!=", "<>", "lt", "<", ... "contains", "~",
 * "!~", in any case; 0 when unknown.
 */
enum pgflo_rule_cmp pgflo_rule_cmp_parse(const char *s, size_t len);
/* "insert,update" or "INSERT"; 0 on an unknown name. */
unsigned pgflo_rule_op_parse(const char *s, size_t len);

/*
 * Applies the rules to one record line of len bytes (left as it is).
 * Returns 1 keep: *out and *outlen are the record to write, the line
 * itself, or when *changed is set a copy with the changed values and
 * keys spliced in (valid until the next call); 0 drop; -1 a bad record
 * (errbuf says why, naming name:lineno): malformed, a key repeated at
 * the top level or in an object a rule reads, or a rule that cannot be
 * applied to it (a regex that fails, a value not of its type);
 * PGFLO_RULE_BADJSON when the line is not one valid JSON object (the
 * caller finds the words).
 * name and lineno name the line in warnings.
 */
#define PGFLO_RULE_BADJSON	(-2)
int	pgflo_ruleset_apply(struct pgflo_ruleset *rs, const char *line,
	    size_t len, const char *name, unsigned long lineno,
	    const char **out, size_t *outlen, int *changed, char *errbuf,
	    size_t errlen);

/*
 * Exact comparisons, exposed for tests: returns 0 and sets *res to
 * <0, 0, >0; -1 when a side is not a number.
 */
int	pgflo_decimal_cmp(const char *a, size_t alen, const char *b,
	    size_t blen, int *res);
/*
 * An instant or a local date and time: seconds since 1970-01-01 (UTC)
 * and microseconds; infinity and -infinity are INT64_MAX and INT64_MIN
 * seconds.
 */
struct pgflo_time {
	int64_t	 sec;
	int32_t	 usec;
};

/*
 * PostgreSQL's timestamp and date output ("2026-11-23 18:00:00.5+01",
 * 'T' or ' ', "Z", " BC", "infinity"; years of 4 to 9 digits, so every
 * value PostgreSQL accepts).  A value without an offset is taken as UTC;
 * with use_offset 0 the offset is ignored (timestamp without time zone,
 * date).  0, or -1 when malformed.
 */
int	pgflo_time_parse(const char *s, size_t len, int use_offset,
	    struct pgflo_time *t);
/* <0, 0, >0 as a is before, at or after b. */
int	pgflo_time_cmp(const struct pgflo_time *a, const struct pgflo_time *b);

/* ruleyaml.c: pg_flo's YAML files.  0, or -1 with "FILE:LINE: why". */
int	pgflo_rules_load_yaml(struct pgflo_ruleset *rs, const char *path,
	    char *errbuf, size_t errlen);
int	pgflo_routes_load_yaml(struct pgflo_ruleset *rs, const char *path,
	    char *errbuf, size_t errlen);

#endif /* PGFLO_RULE_H */
