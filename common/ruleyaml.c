/*
 * ruleyaml.c - pg_flo's rules and routing YAML files, loaded with
 * libyaml's document API so every error can name FILE:LINE.  Unknown
 * keys, wrong types and empty files are errors: a typo must never turn
 * into silently zero rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "pgflo.h"
#include "rule.h"

/*
 * What one file may expand to.  libyaml shares an aliased node instead
 * of copying it, but walking the document visits it once per use: a
 * 166 KB file of aliased rule lists made 9,000,000 rules and 2.6 GB.
 */
#define YAML_MAX_RULES	10000		/* rules, or routes, per file */
#define YAML_MAX_NODES	1000000		/* nodes visited, aliases expanded */

struct ctx {
	yaml_document_t doc;
	const char *path;
	char	*errbuf;
	size_t	 errlen;
	size_t	 nodes;		/* visited so far */
};

static int
fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    PGFLO_PRINTF(3, 4);

static int
fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n != NULL)
		snprintf(c->errbuf, c->errlen, "%s:%lu: %s", c->path,
		    (unsigned long)n->start_mark.line + 1, msg);
	else
		snprintf(c->errbuf, c->errlen, "%s: %s", c->path, msg);
	return -1;
}

static const char *
scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ?
	    (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *
node(struct ctx *c, int id)
{
	return yaml_document_get_node(&c->doc, id);
}

/* Counts n visited nodes against YAML_MAX_NODES; -1 over it. */
static int
visit(struct ctx *c, const yaml_node_t *at, size_t n)
{
	c->nodes += n;
	if (c->nodes <= YAML_MAX_NODES)
		return 0;
	return fail(c, at, "more than %d nodes once aliases are expanded; "
	    "refusing the file", YAML_MAX_NODES);
}

static size_t
nitems(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top -
		    n->data.mapping.pairs.start);
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top -
		    n->data.sequence.items.start);
	return 0;
}

/*
 * Sets up c and loads the document of path, whose root must be a
 * mapping (of what: the error otherwise).  -1 with errbuf set, and no
 * document to delete.
 */
static int
load(struct ctx *c, const char *path, char *errbuf, size_t errlen,
    const char *what, yaml_node_t **root)
{
	yaml_parser_t p;
	FILE *f;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->errbuf = errbuf;
	c->errlen = errlen;
	c->path = path;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(c->errbuf, c->errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &c->doc)) {
		snprintf(c->errbuf, c->errlen, "%s:%lu: invalid YAML: %s%s%s",
		    path, (unsigned long)p.problem_mark.line + 1,
		    p.problem != NULL ? p.problem : "error",
		    p.context != NULL ? " " : "",
		    p.context != NULL ? p.context : "");
		goto out;
	}
	*root = yaml_document_get_root_node(&c->doc);
	if (*root == NULL) {
		yaml_document_delete(&c->doc);
		snprintf(c->errbuf, c->errlen, "%s: empty file, no rules",
		    path);
		goto out;
	}
	if ((*root)->type != YAML_MAPPING_NODE) {
		fail(c, *root, "expected a mapping %s", what);
		yaml_document_delete(&c->doc);
		goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

static int
is_true(const char *s, int *b)
{
	static const char *const t[] = { "true", "yes", "on", "y" };
	static const char *const f[] = { "false", "no", "off", "n" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*b = 1;
			return 0;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*b = 0;
			return 0;
		}
	}
	return -1;
}

static int
get_bool(struct ctx *c, const yaml_node_t *v, const char *key, int *b)
{
	const char *s = scalar(v);

	if (s == NULL || is_true(s, b) == -1)
		return fail(c, v, "%s: expected true or false", key);
	return 0;
}

static int
get_string(struct ctx *c, const yaml_node_t *v, const char *key,
    const char **out)
{
	const char *s = scalar(v);

	if (s == NULL)
		return fail(c, v, "%s: expected a string", key);
	*out = s;
	return 0;
}

/* A list of operation names (or one name); pg_flo writes INSERT. */
static int
get_ops(struct ctx *c, const yaml_node_t *v, unsigned *ops)
{
	yaml_node_item_t *it;
	const yaml_node_t *e;
	const char *s;
	unsigned bit;

	*ops = 0;
	if (v->type == YAML_SCALAR_NODE) {
		s = scalar(v);
		if ((*ops = pgflo_rule_op_parse(s, strlen(s))) == 0)
			return fail(c, v, "operations: unknown operation "
			    "\"%s\"", s);
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "operations: expected a list");
	if (visit(c, v, nitems(v)) == -1)
		return -1;
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		e = node(c, *it);
		if ((s = scalar(e)) == NULL)
			return fail(c, e, "operations: expected a name");
		bit = pgflo_rule_op_parse(s, strlen(s));
		if (bit == 0 || strchr(s, ',') != NULL)
			return fail(c, e, "operations: unknown operation "
			    "\"%s\" (insert, update, delete, truncate)", s);
		*ops |= bit;
	}
	if (*ops == 0)
		return fail(c, v, "operations: empty list");
	return 0;
}

/* Rejects a key seen twice in one mapping (libyaml keeps both). */
static int
dup_key(struct ctx *c, const yaml_node_t *map, const yaml_node_pair_t *upto,
    const yaml_node_t *k)
{
	const yaml_node_pair_t *p;
	const char *a = scalar(k), *b;

	for (p = map->data.mapping.pairs.start; p < upto; p++) {
		b = scalar(node(c, p->key));
		if (a != NULL && b != NULL && strcmp(a, b) == 0)
			return fail(c, k, "duplicate key \"%s\"", a);
	}
	return 0;
}

/* A rule of a rules file as it is read. */
struct yrule {
	struct pgflo_rule_spec spec;
	const char *type, *ttype, *op;	/* rule, transform and filter kinds */
	const yaml_node_t *typenode;	/* blamed for a bad kind */
	const yaml_node_t *params;
	unsigned pops;			/* parameters.operations */
	int	 have_pops;
};

/* The keys of rule rn: type, column, operations, parameters, ... */
static int
rule_keys(struct ctx *c, const yaml_node_t *rn, struct yrule *y)
{
	yaml_node_pair_t *p;
	const yaml_node_t *k, *v;
	const char *key;

	for (p = rn->data.mapping.pairs.start; p < rn->data.mapping.pairs.top;
	    p++) {
		k = node(c, p->key);
		v = node(c, p->value);
		if ((key = scalar(k)) == NULL)
			return fail(c, k, "rule keys must be strings");
		if (dup_key(c, rn, p, k) == -1)
			return -1;
		if (strcmp(key, "type") == 0) {
			if (get_string(c, v, key, &y->type) == -1)
				return -1;
			y->typenode = v;
		} else if (strcmp(key, "column") == 0) {
			if (get_string(c, v, key, &y->spec.column) == -1)
				return -1;
		} else if (strcmp(key, "operations") == 0) {
			if (get_ops(c, v, &y->spec.ops) == -1)
				return -1;
		} else if (strcmp(key, "allow_empty_deletes") == 0) {
			if (get_bool(c, v, key, &y->spec.allow_empty_deletes)
			    == -1)
				return -1;
		} else if (strcmp(key, "parameters") == 0) {
			if (v->type != YAML_MAPPING_NODE)
				return fail(c, v, "parameters: expected a "
				    "mapping");
			y->params = v;
		} else
			return fail(c, k, "unknown key \"%s\" in rule (type, "
			    "column, parameters, operations, "
			    "allow_empty_deletes)", key);
	}
	return 0;
}

/* One key of a rule's parameters, for a rule of type y->type. */
static int
rule_param(struct ctx *c, struct yrule *y, const char *key,
    const yaml_node_t *pk, const yaml_node_t *pv)
{
	int transform = strcmp(y->type, "transform") == 0;
	int filter = strcmp(y->type, "filter") == 0;
	int pallow = 0;

	if (strcmp(key, "operations") == 0) {
		if (get_ops(c, pv, &y->pops) == -1)
			return -1;
		y->have_pops = 1;
	} else if (strcmp(key, "allow_empty_deletes") == 0) {
		if (get_bool(c, pv, key, &pallow) == -1)
			return -1;
		y->spec.allow_empty_deletes |= pallow;
	} else if (transform && strcmp(key, "type") == 0) {
		if (get_string(c, pv, key, &y->ttype) == -1)
			return -1;
		y->typenode = pv;
	} else if (transform && strcmp(key, "pattern") == 0) {
		return get_string(c, pv, key, &y->spec.pattern);
	} else if (transform && strcmp(key, "replace") == 0) {
		return get_string(c, pv, key, &y->spec.replace);
	} else if (transform && strcmp(key, "mask_char") == 0) {
		return get_string(c, pv, key, &y->spec.mask);
	} else if (filter && strcmp(key, "operator") == 0) {
		if (get_string(c, pv, key, &y->op) == -1)
			return -1;
		y->typenode = pv;
	} else if (filter && strcmp(key, "value") == 0) {
		return get_string(c, pv, key, &y->spec.value);
	} else
		return fail(c, pk, "unknown parameter \"%s\" for a %s rule",
		    key, y->type);
	return 0;
}

static int
rule_params(struct ctx *c, struct yrule *y)
{
	const yaml_node_t *params = y->params, *pk;
	yaml_node_pair_t *q;
	const char *key;

	if (params == NULL)
		return 0;
	if (visit(c, params, 2 * nitems(params)) == -1)
		return -1;
	for (q = params->data.mapping.pairs.start;
	    q < params->data.mapping.pairs.top; q++) {
		pk = node(c, q->key);
		if ((key = scalar(pk)) == NULL)
			return fail(c, pk, "parameter keys must be strings");
		if (dup_key(c, params, q, pk) == -1 ||
		    rule_param(c, y, key, pk, node(c, q->value)) == -1)
			return -1;
	}
	return 0;
}

/* The kind of rule rn from its type and parameters, in y->spec.kind. */
static int
rule_kind(struct ctx *c, const yaml_node_t *rn, struct yrule *y)
{
	struct pgflo_rule_spec *spec = &y->spec;

	if (strcmp(y->type, "filter") == 0) {
		spec->kind = PGFLO_RULE_FILTER;
		if (y->op == NULL)
			return fail(c, rn, "filter without parameters.operator");
		if ((spec->cmp = pgflo_rule_cmp_parse(y->op,
		    strlen(y->op))) == 0)
			return fail(c, y->typenode, "unknown operator \"%s\" "
			    "(eq, ne, gt, lt, gte, lte, contains, ~)", y->op);
		if (spec->value == NULL)
			return fail(c, rn, "filter without parameters.value");
		return 0;
	}
	if (strcmp(y->type, "transform") != 0) {
		spec->kind = PGFLO_RULE_EXCLUDE;
		return 0;
	}
	if (y->ttype == NULL)
		return fail(c, rn, "transform without parameters.type "
		    "(regex, mask)");
	if (strcmp(y->ttype, "regex") == 0) {
		spec->kind = PGFLO_RULE_REGEX;
		if (spec->pattern == NULL)
			return fail(c, rn, "regex transform without "
			    "parameters.pattern");
		if (spec->replace == NULL)
			return fail(c, rn, "regex transform without "
			    "parameters.replace");
	} else if (strcmp(y->ttype, "mask") == 0) {
		spec->kind = PGFLO_RULE_MASK;
	} else
		return fail(c, y->typenode, "unknown transform type \"%s\" "
		    "(regex, mask)", y->ttype);
	if (spec->kind != PGFLO_RULE_REGEX &&
	    (spec->pattern != NULL || spec->replace != NULL))
		return fail(c, rn, "pattern/replace belong to a regex "
		    "transform");
	if (spec->kind != PGFLO_RULE_MASK && spec->mask != NULL)
		return fail(c, rn, "mask_char belongs to a mask transform");
	return 0;
}

static int
load_rule(struct ctx *c, struct pgflo_ruleset *rs, const char *table,
    const yaml_node_t *rn)
{
	struct yrule y;
	const char *type;
	char where[300], err[400];

	memset(&y, 0, sizeof(y));
	y.typenode = rn;
	if (rn->type != YAML_MAPPING_NODE)
		return fail(c, rn, "a rule must be a mapping (type, column, "
		    "parameters)");
	if (visit(c, rn, 1 + 2 * nitems(rn)) == -1 ||
	    rule_keys(c, rn, &y) == -1)
		return -1;
	if ((type = y.type) == NULL)
		return fail(c, rn, "rule without a type (transform, filter, "
		    "exclude_column)");
	if (y.spec.column == NULL || *y.spec.column == '\0')
		return fail(c, rn, "rule without a column");
	if (strcmp(type, "transform") != 0 && strcmp(type, "filter") != 0 &&
	    strcmp(type, "exclude_column") != 0 && strcmp(type, "exclude") != 0)
		return fail(c, y.typenode, "unknown rule type \"%s\" "
		    "(transform, filter, exclude_column)", type);
	if (rule_params(c, &y) == -1)
		return -1;
	if (y.have_pops) {
		if (y.spec.ops != 0 && y.spec.ops != y.pops)
			return fail(c, y.params, "operations given twice, "
			    "differently");
		y.spec.ops = y.pops;
	}
	y.spec.table = table;
	snprintf(where, sizeof(where), "%s:%lu", c->path,
	    (unsigned long)rn->start_mark.line + 1);
	y.spec.where = where;
	if (rule_kind(c, rn, &y) == -1)
		return -1;
	if (pgflo_ruleset_add(rs, &y.spec, err, sizeof(err)) == -1)
		return fail(c, rn, "%s", err);
	return 0;
}

int
pgflo_rules_load_yaml(struct pgflo_ruleset *rs, const char *path,
    char *errbuf, size_t errlen)
{
	struct ctx c;
	yaml_node_t *root, *k, *v, *tk, *tv, *rn;
	yaml_node_pair_t *p, *tp;
	yaml_node_item_t *it;
	const char *key, *table;
	size_t nrules = 0;
	int rc = -1;

	if (load(&c, path, errbuf, errlen, "with \"tables:\"", &root) == -1)
		return -1;
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		k = node(&c, p->key);
		v = node(&c, p->value);
		if ((key = scalar(k)) == NULL || strcmp(key, "tables") != 0) {
			fail(&c, k, "unknown key \"%s\" (a rules file has one "
			    "key, \"tables:\")", key != NULL ? key : "?");
			goto out;
		}
		if (dup_key(&c, root, p, k) == -1)
			goto out;
		if (v->type != YAML_MAPPING_NODE) {
			fail(&c, v, "tables: expected a mapping of table names "
			    "to lists of rules");
			goto out;
		}
		for (tp = v->data.mapping.pairs.start;
		    tp < v->data.mapping.pairs.top; tp++) {
			tk = node(&c, tp->key);
			tv = node(&c, tp->value);
			if ((table = scalar(tk)) == NULL || *table == '\0') {
				fail(&c, tk, "table names must be strings");
				goto out;
			}
			if (tv->type != YAML_SEQUENCE_NODE) {
				fail(&c, tv, "%s: expected a list of rules",
				    table);
				goto out;
			}
			if (visit(&c, tv, 2) == -1)
				goto out;
			for (it = tv->data.sequence.items.start;
			    it < tv->data.sequence.items.top; it++) {
				rn = node(&c, *it);
				if (++nrules > YAML_MAX_RULES) {
					fail(&c, rn, "more than %d rules once "
					    "aliases are expanded; refusing "
					    "the file", YAML_MAX_RULES);
					goto out;
				}
				if (load_rule(&c, rs, table, rn) == -1)
					goto out;
			}
		}
	}
	if (nrules == 0) {
		fail(&c, root, "no rules");
		goto out;
	}
	rc = 0;
out:
	yaml_document_delete(&c.doc);
	return rc;
}

static int
load_mappings(struct ctx *c, const yaml_node_t *v, struct pgflo_route_spec *rt)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *p;
	const yaml_node_t *m, *k, *mv;
	const char *key, *src, *dst;

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "column_mappings: expected a list");
	if (visit(c, v, 3 * nitems(v)) == -1)
		return -1;
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		m = node(c, *it);
		if (m->type != YAML_MAPPING_NODE)
			return fail(c, m, "column_mappings: expected "
			    "{source: ..., destination: ...}");
		src = dst = NULL;
		for (p = m->data.mapping.pairs.start;
		    p < m->data.mapping.pairs.top; p++) {
			k = node(c, p->key);
			mv = node(c, p->value);
			key = scalar(k);
			if (key != NULL && strcmp(key, "source") == 0) {
				if (get_string(c, mv, key, &src) == -1)
					return -1;
			} else if (key != NULL && strcmp(key, "destination")
			    == 0) {
				if (get_string(c, mv, key, &dst) == -1)
					return -1;
			} else
				return fail(c, k, "unknown key \"%s\" in a "
				    "column mapping (source, destination)",
				    key != NULL ? key : "?");
		}
		if (src == NULL || dst == NULL || *src == '\0' || *dst == '\0')
			return fail(c, m, "a column mapping needs source and "
			    "destination");
		/* Doubling (at 0, 1, 2, 4, ...): no quadratic copying. */
		if ((rt->nmap & (rt->nmap - 1)) == 0) {
			rt->src = pgflo_xrealloc(rt->src, (rt->nmap != 0 ?
			    2 * rt->nmap : 1) * sizeof(*rt->src));
			rt->dst = pgflo_xrealloc(rt->dst, (rt->nmap != 0 ?
			    2 * rt->nmap : 1) * sizeof(*rt->dst));
		}
		rt->src[rt->nmap] = src;
		rt->dst[rt->nmap] = dst;
		rt->nmap++;
	}
	return 0;
}

int
pgflo_routes_load_yaml(struct pgflo_ruleset *rs, const char *path,
    char *errbuf, size_t errlen)
{
	struct ctx c;
	struct pgflo_route_spec rt;
	yaml_node_t *root, *k, *v, *rk, *rv;
	yaml_node_pair_t *p, *q;
	const char *table, *key, *srctable;
	char where[300];
	size_t nroutes = 0;
	int rc = -1;

	memset(&rt, 0, sizeof(rt));
	if (load(&c, path, errbuf, errlen, "of table names to routes",
	    &root) == -1)
		return -1;
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		k = node(&c, p->key);
		v = node(&c, p->value);
		if ((table = scalar(k)) == NULL || *table == '\0') {
			fail(&c, k, "table names must be strings");
			goto out;
		}
		if (dup_key(&c, root, p, k) == -1)
			goto out;
		if (++nroutes > YAML_MAX_RULES) {
			fail(&c, k, "more than %d routes; refusing the file",
			    YAML_MAX_RULES);
			goto out;
		}
		if (v->type != YAML_MAPPING_NODE) {
			fail(&c, v, "%s: expected a mapping (destination_table, "
			    "column_mappings, operations)", table);
			goto out;
		}
		free(rt.src);
		free(rt.dst);
		memset(&rt, 0, sizeof(rt));
		rt.table = table;
		srctable = NULL;
		if (visit(&c, v, 1 + 2 * nitems(v)) == -1)
			goto out;
		for (q = v->data.mapping.pairs.start;
		    q < v->data.mapping.pairs.top; q++) {
			rk = node(&c, q->key);
			rv = node(&c, q->value);
			if ((key = scalar(rk)) == NULL) {
				fail(&c, rk, "route keys must be strings");
				goto out;
			}
			if (dup_key(&c, v, q, rk) == -1)
				goto out;
			if (strcmp(key, "source_table") == 0) {
				if (get_string(&c, rv, key, &srctable) == -1)
					goto out;
				if (strcmp(srctable, table) != 0) {
					fail(&c, rv, "source_table \"%s\" differs "
					    "from its key \"%s\"", srctable,
					    table);
					goto out;
				}
			} else if (strcmp(key, "destination_table") == 0) {
				if (get_string(&c, rv, key, &rt.dest) == -1)
					goto out;
			} else if (strcmp(key, "column_mappings") == 0) {
				if (load_mappings(&c, rv, &rt) == -1)
					goto out;
			} else if (strcmp(key, "operations") == 0) {
				if (get_ops(&c, rv, &rt.ops) == -1)
					goto out;
			} else {
				fail(&c, rk, "unknown key \"%s\" in route "
				    "(source_table, destination_table, "
				    "column_mappings, operations)", key);
				goto out;
			}
		}
		snprintf(where, sizeof(where), "%s:%lu", path,
		    (unsigned long)k->start_mark.line + 1);
		rt.where = where;
		if (pgflo_ruleset_add_route(rs, &rt, errbuf, errlen) == -1)
			goto out;
	}
	if (root->data.mapping.pairs.top == root->data.mapping.pairs.start) {
		fail(&c, root, "no routes");
		goto out;
	}
	rc = 0;
out:
	free(rt.src);
	free(rt.dst);
	yaml_document_delete(&c.doc);
	return rc;
}
