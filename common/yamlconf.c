/*
 * yamlconf.c - a flat YAML configuration file with libyaml's document
 * API, so that every error names FILE:LINE.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "pgflo.h"
#include "yamlconf.h"

/* A configuration file is small; a list of 10,000 tables is plenty. */
#define YAMLCONF_MAX_ITEMS	10000

static const char *
scalar(yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	/* An empty plain scalar is YAML's null. */
	return (const char *)n->data.scalar.value;
}

/* The value of node v as one string in b: a scalar, or a list joined. */
static int
value(yaml_document_t *doc, yaml_node_t *v, struct pgflo_buf *b)
{
	yaml_node_item_t *it;
	const char *s;
	size_t n = 0;

	pgflo_buf_reset(b);
	if ((s = scalar(v)) != NULL) {
		pgflo_buf_puts(b, s);
		return 0;
	}
	if (v == NULL || v->type != YAML_SEQUENCE_NODE)
		return -1;
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		if ((s = scalar(yaml_document_get_node(doc, *it))) == NULL ||
		    ++n > YAMLCONF_MAX_ITEMS)
			return -1;
		if (b->len > 0)
			pgflo_buf_putc(b, ',');
		pgflo_buf_puts(b, s);
	}
	return 0;
}

static int
walk(yaml_document_t *doc, const char *path, pgflo_yamlconf_fn fn,
    void *arg, char *errbuf, size_t errlen)
{
	yaml_node_t *root, *k, *v;
	yaml_node_pair_t *p;
	struct pgflo_buf b = { 0 };
	const char *key;
	int rv = -1;

	root = yaml_document_get_root_node(doc);
	if (root == NULL) {
		/* An empty file sets nothing, as viper reads it. */
		return 0;
	}
	if (root->type != YAML_MAPPING_NODE) {
		snprintf(errbuf, errlen, "%s:%lu: not a mapping of keys to "
		    "values", path, (unsigned long)root->start_mark.line + 1);
		return -1;
	}
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(doc, p->key);
		v = yaml_document_get_node(doc, p->value);
		if ((key = scalar(k)) == NULL) {
			snprintf(errbuf, errlen, "%s:%lu: a key is not a "
			    "string", path,
			    (unsigned long)(k ? k->start_mark.line + 1 : 0));
			goto out;
		}
		if (value(doc, v, &b) == -1) {
			snprintf(errbuf, errlen, "%s:%lu: %s: not a value or "
			    "a list of values", path,
			    (unsigned long)v->start_mark.line + 1, key);
			goto out;
		}
		if (fn(key, pgflo_buf_cstr(&b),
		    (unsigned long)v->start_mark.line + 1, arg, errbuf,
		    errlen) == -1)
			goto out;
	}
	rv = 0;
out:
	pgflo_buf_free(&b);
	return rv;
}

int
pgflo_yamlconf_load(const char *path, pgflo_yamlconf_fn fn, void *arg,
    char *errbuf, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *fp;
	int rv;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(fp);
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(errbuf, errlen, "%s:%lu: %s", path,
		    (unsigned long)parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		fclose(fp);
		return -1;
	}
	rv = walk(&doc, path, fn, arg, errbuf, errlen);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(fp);
	return rv;
}
