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
 * A table listed there with an "lsn" is durable downstream, with the LSN
 * from which the stream must apply its changes (its "sync" LSN); "done"
 * says the whole copy of the run whose snapshot was at "lsn" is.  A table
 * with a key whose copy is under way lists instead the chunks made
 * durable so far, as ranges [first, last, xmin] of chunk numbers with the
 * xmin of the snapshot they were copied under, beside the chunk size in
 * pages and the table's relfilenode (a rewrite renumbers the pages):
 *
 *   {"schema":"public","table":"big","pages":1024,"filenode":16384,
 *    "chunks":[[0,41,731],[44,44,731]]}
 *
 * A table that a rerun must copy again whole although the store lists it
 * (put back into -t, or --reuse-slot) is first forgotten: a snapshot
 * record of phase "reset" removes its entry and clears "done", and
 * pgflo-copy waits until the store shows that before it writes anything
 * that changes the target, so that the store never claims a table that
 * a killed rerun left half copied.
 *
 * pgflo-copy resumes from this, pgflo-capture skips what a re-copied
 * table already holds.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "lsn.h"
#include "record.h"
#include "store.h"
#include "copyprog.h"

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

static json_int_t
int_member(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Adds chunk k (copied under xmin) to the sorted ranges of entry e. */
static void
add_chunk(json_t *e, json_int_t k, json_int_t xmin)
{
	json_t *chunks = json_object_get(e, "chunks"), *r, *prev, *next;
	size_t i, n;

	if (!json_is_array(chunks)) {
		chunks = json_array();
		json_object_set_new(e, "chunks", chunks);
	}
	n = json_array_size(chunks);
	/* Drop k from any range holding it; ranges are few, keep it simple. */
	for (i = 0; i < n; i++) {
		json_int_t lo, hi, x;

		r = json_array_get(chunks, i);
		lo = json_integer_value(json_array_get(r, 0));
		hi = json_integer_value(json_array_get(r, 1));
		x = json_integer_value(json_array_get(r, 2));
		if (k < lo || k > hi)
			continue;
		json_array_remove(chunks, i);
		if (k > lo)
			json_array_insert_new(chunks, i++,
			    json_pack("[I,I,I]", lo, k - 1, x));
		if (k < hi)
			json_array_insert_new(chunks, i,
			    json_pack("[I,I,I]", k + 1, hi, x));
		break;
	}
	n = json_array_size(chunks);
	for (i = 0; i < n; i++)
		if (json_integer_value(json_array_get(json_array_get(chunks,
		    i), 0)) > k)
			break;
	json_array_insert_new(chunks, i, json_pack("[I,I,I]", k, k, xmin));
	/* Merge with the neighbours that continue it under the same xmin. */
	next = json_array_get(chunks, i + 1);
	if (next != NULL && json_integer_value(json_array_get(next, 0)) ==
	    k + 1 && json_integer_value(json_array_get(next, 2)) == xmin) {
		json_array_set(json_array_get(chunks, i), 1,
		    json_array_get(next, 1));
		json_array_remove(chunks, i + 1);
	}
	prev = i > 0 ? json_array_get(chunks, i - 1) : NULL;
	if (prev != NULL && json_integer_value(json_array_get(prev, 1)) ==
	    k - 1 && json_integer_value(json_array_get(prev, 2)) == xmin) {
		json_array_set(prev, 1,
		    json_array_get(json_array_get(chunks, i), 1));
		json_array_remove(chunks, i);
	}
}

int
pgflo_copyprog_merge(json_t *doc, const json_t *rec, char *errbuf,
    size_t errlen)
{
	const char *phase, *slot, *schema, *table, *lsntext;
	json_t *copy, *tables, *e, *rows;
	pgflo_lsn lsn;
	size_t i;

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
	if (strcmp(phase, "end") != 0 && strcmp(phase, "done") != 0 &&
	    strcmp(phase, "chunk") != 0 && strcmp(phase, "reset") != 0) {
		snprintf(errbuf, errlen, "snapshot record of unknown phase "
		    "\"%.64s\"", phase);
		return -1;
	}
	if (!name_ok("slot", slot, errbuf, errlen))
		return -1;
	if (strcmp(phase, "chunk") == 0) {
		if (int_member(rec, "chunk") < 0 ||
		    int_member(rec, "pages") < 1 ||
		    int_member(rec, "xmin") < 0 ||
		    int_member(rec, "filenode") < 0) {
			snprintf(errbuf, errlen, "snapshot chunk record without "
			    "\"chunk\", \"pages\", \"xmin\" and \"filenode\"");
			return -1;
		}
	} else if (lsntext == NULL || pgflo_lsn_parse(lsntext, &lsn) == -1) {
		snprintf(errbuf, errlen, "snapshot record without a valid "
		    "\"lsn\"");
		return -1;
	}
	/* Check all before changing anything: a bad record leaves no trace. */
	schema = pgflo_rec_str(rec, "schema");
	table = pgflo_rec_str(rec, "table");
	rows = json_object_get(rec, "rows");
	if (strcmp(phase, "end") == 0 || strcmp(phase, "chunk") == 0) {
		if (schema == NULL || table == NULL) {
			snprintf(errbuf, errlen, "snapshot %s record without "
			    "\"schema\" and \"table\"", phase);
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
	if (strcmp(phase, "reset") == 0) {
		/* Copied again whole: forget it, and that the copy is done. */
		json_object_set_new(copy, "done", json_false());
		e = find_table(tables, schema, table);
		for (i = 0; e != NULL && i < json_array_size(tables); i++)
			if (json_array_get(tables, i) == e) {
				json_array_remove(tables, i);
				break;
			}
		return 1;
	}
	if ((e = find_table(tables, schema, table)) == NULL) {
		e = json_pack("{s:s,s:s}", "schema", schema, "table", table);
		json_array_append_new(tables, e);
	}
	if (strcmp(phase, "chunk") == 0) {
		if (json_object_get(e, "lsn") != NULL)
			return 0;	/* durable whole already */
		if (int_member(e, "pages") != int_member(rec, "pages") ||
		    int_member(e, "filenode") != int_member(rec, "filenode")) {
			/* Another chunk size or a rewritten table: anew. */
			json_object_del(e, "chunks");
			json_object_set(e, "pages", json_object_get(rec,
			    "pages"));
			json_object_set(e, "filenode", json_object_get(rec,
			    "filenode"));
		}
		add_chunk(e, int_member(rec, "chunk"), int_member(rec, "xmin"));
		return 1;
	}
	json_object_del(e, "pages");
	json_object_del(e, "filenode");
	json_object_del(e, "chunks");
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
		const json_t *chunks = json_object_get(e, "chunks"), *r;
		size_t j;

		memset(t, 0, sizeof(*t));
		lsn = pgflo_rec_str(e, "lsn");
		if (s == NULL || n == NULL || (lsn != NULL &&
		    pgflo_lsn_parse(lsn, &t->lsn) == -1))
			goto bad;
		t->done = lsn != NULL;
		t->schema = pgflo_xstrdup(s);
		t->table = pgflo_xstrdup(n);
		cp->n++;
		if (t->done || chunks == NULL)
			continue;
		t->pages = (long)int_member(e, "pages");
		t->filenode = (long long)int_member(e, "filenode");
		if (!json_is_array(chunks) || t->pages < 1 || t->filenode < 0)
			goto bad;
		t->ranges = pgflo_xmalloc(sizeof(*t->ranges) *
		    (json_array_size(chunks) + 1));
		json_array_foreach(chunks, j, r) {
			struct pgflo_copyprog_range *g = &t->ranges[t->nranges];

			if (!json_is_array(r) || json_array_size(r) != 3 ||
			    !json_is_integer(json_array_get(r, 0)) ||
			    !json_is_integer(json_array_get(r, 1)) ||
			    !json_is_integer(json_array_get(r, 2)))
				goto bad;
			g->lo = (long)json_integer_value(json_array_get(r, 0));
			g->hi = (long)json_integer_value(json_array_get(r, 1));
			g->xmin = (unsigned long long)json_integer_value(
			    json_array_get(r, 2));
			t->nranges++;
		}
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
	const struct pgflo_copyprog_table *t;

	if ((t = pgflo_copyprog_find(cp, schema, table)) == NULL || !t->done)
		return 0;
	if (lsn != NULL)
		*lsn = t->lsn;
	return 1;
}

const struct pgflo_copyprog_table *
pgflo_copyprog_find(const struct pgflo_copyprog *cp, const char *schema,
    const char *table)
{
	size_t i;

	for (i = 0; i < cp->n; i++)
		if (strcmp(cp->t[i].schema, schema) == 0 &&
		    strcmp(cp->t[i].table, table) == 0)
			return &cp->t[i];
	return NULL;
}

int
pgflo_copyprog_chunk(const struct pgflo_copyprog_table *t, long k,
    unsigned long long *xmin)
{
	size_t i;

	for (i = 0; t != NULL && i < t->nranges; i++)
		if (k >= t->ranges[i].lo && k <= t->ranges[i].hi) {
			*xmin = t->ranges[i].xmin;
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
		free(cp->t[i].ranges);
	}
	free(cp->t);
	free(cp->slot);
	memset(cp, 0, sizeof(*cp));
}

int
pgflo_copyprog_read(struct pgflo_store *st, struct pgflo_copyprog *cp,
    char *errbuf, size_t errlen)
{
	json_t *doc = NULL;
	char why[256];
	int r;

	memset(cp, 0, sizeof(*cp));
	if (pgflo_store_get_doc(st, &doc) == -1) {
		snprintf(errbuf, errlen, "%s", st->errmsg);
		return -1;
	}
	r = pgflo_copyprog_load(doc, cp, why, sizeof(why));
	json_decref(doc);
	if (r == -1)
		snprintf(errbuf, errlen, "%s: %s", st->url, why);
	return r;
}
