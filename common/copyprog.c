/*
 * copyprog.c - the progress of an initial copy, as a durable stage
 * reports it (DESIGN.md "Initial copy and the handover").
 *
 * pgflo-copy frames each table with snapshot begin/end records and ends
 * with a snapshot done record.  A durable stage (pgflo-sink-pg, and
 * pgflo-publish) writes each of them on its stdout only once everything
 * before it is durable; pgflo-checkpoint merges them into the "copy"
 * member of the document it stores beside the position:
 *
 *   "copy":{"slot":"s","done":true,"lsn":"0/5000060",
 *           "tables":[{"schema":"public","table":"t","lsn":"0/5000028",
 *                      "rows":1000},...]}
 *
 * A table listed there is durable downstream, with the LSN from which the
 * stream must apply its changes (its "sync" LSN); "done" says the whole
 * copy of the run whose snapshot was at "lsn" is.  pgflo-copy resumes
 * from this, pgflo-capture skips what a re-copied table already holds.
 */
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"

/* NAMEDATALEN - 1: no PostgreSQL name (slot, schema, table) is longer. */
#define NAME_MAX_BYTES 63

/* A name longer than PostgreSQL holds cannot be what the source sent. */
static int
name_ok(const char *what, const char *name, char *errbuf, size_t errlen)
{
	if (strlen(name) <= NAME_MAX_BYTES)
		return 1;
	snprintf(errbuf, errlen, "snapshot record whose \"%s\" is longer "
	    "than %d bytes", what, NAME_MAX_BYTES);
	return 0;
}

/* The entry of schema.table in the array tables, or NULL. */
static json_t *
find_table(json_t *tables, const char *schema, const char *table)
{
	json_t *e;
	size_t i;

	json_array_foreach(tables, i, e) {
		const char *s = pgflo_rec_str(e, "schema");
		const char *t = pgflo_rec_str(e, "table");

		if (s != NULL && t != NULL && strcmp(s, schema) == 0 &&
		    strcmp(t, table) == 0)
			return e;
	}
	return NULL;
}

int
pgflo_copyprog_merge(json_t *doc, const json_t *rec, char *errbuf,
    size_t errlen)
{
	const char *phase, *slot, *schema, *table, *lsntext;
	json_t *copy, *tables, *e, *rows;
	pgflo_lsn lsn;

	phase = pgflo_rec_str(rec, "phase");
	slot = pgflo_rec_str(rec, "slot");
	lsntext = pgflo_rec_str(rec, "lsn");
	if (phase == NULL) {
		snprintf(errbuf, errlen, "snapshot record without \"phase\"");
		return -1;
	}
	/* Copies without a slot (--no-slot) cannot be resumed. */
	if (slot == NULL || strcmp(phase, "begin") == 0)
		return 0;
	if (strcmp(phase, "end") != 0 && strcmp(phase, "done") != 0) {
		snprintf(errbuf, errlen, "snapshot record of unknown phase "
		    "\"%.64s\"", phase);
		return -1;
	}
	if (!name_ok("slot", slot, errbuf, errlen))
		return -1;
	if (lsntext == NULL || pgflo_lsn_parse(lsntext, &lsn) == -1) {
		snprintf(errbuf, errlen, "snapshot record without a valid "
		    "\"lsn\"");
		return -1;
	}
	/* Check all before changing anything: a bad record leaves no trace. */
	schema = pgflo_rec_str(rec, "schema");
	table = pgflo_rec_str(rec, "table");
	rows = json_object_get(rec, "rows");
	if (strcmp(phase, "end") == 0) {
		if (schema == NULL || table == NULL) {
			snprintf(errbuf, errlen, "snapshot end record without "
			    "\"schema\" and \"table\"");
			return -1;
		}
		if (!name_ok("schema", schema, errbuf, errlen) ||
		    !name_ok("table", table, errbuf, errlen))
			return -1;
		if (rows != NULL && !json_is_null(rows) &&
		    (!json_is_integer(rows) || json_integer_value(rows) < 0)) {
			snprintf(errbuf, errlen, "snapshot end record whose "
			    "\"rows\" is not a count");
			return -1;
		}
	}
	copy = json_object_get(doc, "copy");
	if (copy == NULL || !json_is_object(copy) ||
	    pgflo_rec_str(copy, "slot") == NULL ||
	    strcmp(pgflo_rec_str(copy, "slot"), slot) != 0) {
		/* First news of this slot's copy. */
		copy = json_pack("{s:s,s:b,s:[]}", "slot", slot, "done", 0,
		    "tables");
		json_object_set_new(doc, "copy", copy);
	}
	if (strcmp(phase, "done") == 0) {
		json_object_set_new(copy, "done", json_true());
		json_object_set_new(copy, "lsn", json_string(lsntext));
		return 1;
	}
	tables = json_object_get(copy, "tables");
	if (!json_is_array(tables)) {
		tables = json_array();
		json_object_set_new(copy, "tables", tables);
	}
	if ((e = find_table(tables, schema, table)) == NULL) {
		e = json_pack("{s:s,s:s}", "schema", schema, "table", table);
		json_array_append_new(tables, e);
	}
	json_object_set_new(e, "lsn", json_string(lsntext));
	if (json_is_integer(rows))
		json_object_set(e, "rows", rows);
	return 1;
}

int
pgflo_copyprog_load(const json_t *doc, struct pgflo_copyprog *cp,
    char *errbuf, size_t errlen)
{
	const json_t *copy, *tables, *e;
	const char *slot, *lsn;
	size_t i;

	memset(cp, 0, sizeof(*cp));
	if (doc == NULL || (copy = json_object_get(doc, "copy")) == NULL)
		return 0;
	if (!json_is_object(copy) || (slot = pgflo_rec_str(copy,
	    "slot")) == NULL)
		goto bad;
	cp->done = json_is_true(json_object_get(copy, "done"));
	if ((lsn = pgflo_rec_str(copy, "lsn")) != NULL &&
	    pgflo_lsn_parse(lsn, &cp->lsn) == -1)
		goto bad;
	tables = json_object_get(copy, "tables");
	if (tables != NULL && !json_is_array(tables))
		goto bad;
	cp->t = pgflo_xmalloc(sizeof(*cp->t) * (json_array_size(tables) + 1));
	json_array_foreach(tables, i, e) {
		struct pgflo_copyprog_table *t = &cp->t[cp->n];
		const char *s = pgflo_rec_str(e, "schema");
		const char *n = pgflo_rec_str(e, "table");

		lsn = pgflo_rec_str(e, "lsn");
		if (s == NULL || n == NULL || lsn == NULL ||
		    pgflo_lsn_parse(lsn, &t->lsn) == -1)
			goto bad;
		t->schema = pgflo_xstrdup(s);
		t->table = pgflo_xstrdup(n);
		cp->n++;
	}
	cp->slot = pgflo_xstrdup(slot);
	return 0;
bad:
	pgflo_copyprog_free(cp);
	snprintf(errbuf, errlen, "malformed \"copy\" member");
	return -1;
}

int
pgflo_copyprog_lookup(const struct pgflo_copyprog *cp, const char *schema,
    const char *table, pgflo_lsn *lsn)
{
	size_t i;

	for (i = 0; i < cp->n; i++)
		if (strcmp(cp->t[i].schema, schema) == 0 &&
		    strcmp(cp->t[i].table, table) == 0) {
			if (lsn != NULL)
				*lsn = cp->t[i].lsn;
			return 1;
		}
	return 0;
}

void
pgflo_copyprog_free(struct pgflo_copyprog *cp)
{
	size_t i;

	for (i = 0; i < cp->n; i++) {
		free(cp->t[i].schema);
		free(cp->t[i].table);
	}
	free(cp->t);
	free(cp->slot);
	memset(cp, 0, sizeof(*cp));
}
