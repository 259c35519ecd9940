/*
 * tablepat.c - table patterns (tablepat.h), one meaning for every tool:
 * matched in C by pgflo-rule, in LIKE form by the catalog queries of
 * pgflo-capture and pgflo-copy (publication.c) and the DDL trigger.
 * No libpq here: pgflo-rule links it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"
#include "tablepat.h"

void
pgflo_tables_free(struct pgflo_tables *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->schema[i]);
		free(t->name[i]);
	}
	free(t->schema);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

/* Glob to LIKE: '*' '%', '?' '_', LIKE's own specials escaped. */
static void
glob_like(struct pgflo_buf *b, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '*')
			pgflo_buf_putc(b, '%');
		else if (s[i] == '?')
			pgflo_buf_putc(b, '_');
		else {
			if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
				pgflo_buf_putc(b, '\\');
			pgflo_buf_putc(b, s[i]);
		}
	}
	pgflo_buf_cstr(b);
}

void
pgflo_tables_add(struct pgflo_tables *t, const char *s, const char *n)
{
	t->schema = pgflo_xrealloc(t->schema, (t->n + 1) * sizeof(char *));
	t->name = pgflo_xrealloc(t->name, (t->n + 1) * sizeof(char *));
	t->schema[t->n] = pgflo_xstrdup(s);
	t->name[t->n] = pgflo_xstrdup(n);
	t->n++;
}

static int
cmp_idx(const struct pgflo_tables *t, size_t a, size_t b)
{
	int c = strcmp(t->schema[a], t->schema[b]);

	return c != 0 ? c : strcmp(t->name[a], t->name[b]);
}

void
pgflo_tables_sort(struct pgflo_tables *t)
{
	size_t i, j;
	char *s, *n;

	/* Insertion sort: table lists are short. */
	for (i = 1; i < t->n; i++)
		for (j = i; j > 0 && cmp_idx(t, j - 1, j) > 0; j--) {
			s = t->schema[j];
			n = t->name[j];
			t->schema[j] = t->schema[j - 1];
			t->name[j] = t->name[j - 1];
			t->schema[j - 1] = s;
			t->name[j - 1] = n;
		}
}

/*
 * The next pattern of the comma-separated list at *pp, as LIKE patterns
 * for the schema (ls) and the table (lt); pat gets its text.  1 for a
 * pattern, 0 at the end, -1 for a bad one (errbuf set).
 */
int
pgflo_tables_pattern_next(const char **pp, struct pgflo_buf *ls,
    struct pgflo_buf *lt, struct pgflo_buf *pat, char *errbuf, size_t errlen)
{
	const char *p, *end, *dot;

	for (p = *pp; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		pgflo_buf_reset(pat);
		pgflo_buf_putn(pat, p, (size_t)(end - p));
		while (pat->len > 0 && (pat->data[pat->len - 1] == ' ' ||
		    pat->data[pat->len - 1] == '\t'))
			pat->len--;
		pgflo_buf_cstr(pat);
		if (pat->len == 0)
			continue;
		*pp = *end == ',' ? end + 1 : end;
		pgflo_buf_reset(ls);
		pgflo_buf_reset(lt);
		if ((dot = strchr(pat->data, '.')) != NULL) {
			glob_like(ls, pat->data, (size_t)(dot - pat->data));
			glob_like(lt, dot + 1, strlen(dot + 1));
		} else {
			glob_like(ls, "*", 1);	/* any schema */
			glob_like(lt, pat->data, pat->len);
		}
		if (ls->len == 0 || lt->len == 0) {
			snprintf(errbuf, errlen, "bad table pattern '%s'",
			    pat->data);
			return -1;
		}
		return 1;
	}
	*pp = p;
	return 0;
}

void
pgflo_tablepat_split(const char *pat, char **schema, char **table)
{
	const char *dot;

	*schema = *table = NULL;
	if (pat == NULL || *pat == '\0')
		return;
	if ((dot = strchr(pat, '.')) == NULL) {
		*table = pgflo_xstrdup(pat);
		return;
	}
	*schema = pgflo_xmalloc((size_t)(dot - pat) + 1);
	memcpy(*schema, pat, (size_t)(dot - pat));
	(*schema)[dot - pat] = '\0';
	*table = pgflo_xstrdup(dot + 1);
}

int
pgflo_tablepat_glob(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Backtracking to the last '*' only: linear in practice. */
	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == '?' || (*pat != '\0' && *pat == *s)) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++resume;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

int
pgflo_tablepat_match(const char *schema_pat, const char *table_pat,
    const char *schema, const char *table)
{
	if (table_pat != NULL && !pgflo_tablepat_glob(table_pat, table))
		return 0;
	if (schema_pat != NULL && !pgflo_tablepat_glob(schema_pat, schema))
		return 0;
	return 1;
}
