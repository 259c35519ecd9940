/*
 * relmeta.h - a relation as change records carry it (relmeta.c): its
 * "schema" and "table", its "key" (the replica identity columns that
 * pgoutput flags) and "types", and each column's JSON key and encoding.
 *
 * pgflo-capture fills one from pgoutput's Relation message, pgflo-copy
 * from the catalog (pgflo_relmeta_load(): the columns pgoutput would
 * send), and both write the header and the values of a row through
 * it, so that a copied row and the same row streamed are the same bytes
 * by construction.
 */
#ifndef PGFLO_RELMETA_H
#define PGFLO_RELMETA_H

#include <stdint.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "pg2json.h"
#include "typecache.h"

struct pgflo_relcol {
	char	*name;
	char	*jkey;		/* "name": */
	size_t	 jkeylen;
	uint32_t typoid;
	int32_t	 typmod;
	int	 key;		/* a replica identity column */
	struct pgflo_vtype vt;
};

struct pgflo_relmeta {
	char	*schema, *table;
	char	*head;		/* "schema":"s","table":"t" */
	size_t	 headlen;
	char	*meta;		/* "key":[...],"types":{...} */
	size_t	 metalen;
	int	 ncols;
	struct pgflo_relcol *cols;
};

/*
 * New, with ncols zeroed columns; the caller sets each one's name (new:
 * pgflo_xstrdup), typoid, typmod and key, then calls pgflo_relmeta_build.
 * An empty schema (pgoutput's for pg_catalog) becomes "pg_catalog".
 */
struct pgflo_relmeta *pgflo_relmeta_new(const char *schema,
	    const char *table, int ncols);
/*
 * Builds head, meta and the columns' keys and encodings, types looked
 * up in tc.  A type that cannot be looked up is not fatal: its values
 * are written as text, its name as "unknown", each with a warning.
 */
void	pgflo_relmeta_build(struct pgflo_relmeta *rm,
	    struct pgflo_typecache *tc);
/*
 * The built relation oid schema.table as pgoutput would send it, read
 * from the catalog on conn: its columns neither dropped nor generated,
 * in order, and the replica identity columns as key.  New, or NULL with
 * errbuf set ("could not read the columns: why").
 */
struct pgflo_relmeta *pgflo_relmeta_load(PGconn *conn,
	    struct pgflo_typecache *tc, uint32_t oid, const char *schema,
	    const char *table, char *errbuf, size_t errlen);
void	pgflo_relmeta_free(struct pgflo_relmeta *rm);

/* Adds c's name to the array jnull writes, opening it on the first. */
void	pgflo_relmeta_jnull(struct pgflo_jw *jnull,
	    const struct pgflo_relcol *c);

/*
 * Writes column c as a member of the object open in w: its key, then
 * text[0..len) as its value, or null when text is NULL (SQL NULL).  A
 * json/jsonb value that is JSON null adds the column's name to the array
 * jnull writes (pgflo_relmeta_jnull; the caller closes it when its
 * buffer is not empty).  Inline, the separator and key written straight
 * into the buffer: this runs for every value of every row.
 */
static inline void
pgflo_relmeta_value(struct pgflo_jw *w, const struct pgflo_relcol *c,
    const char *text, size_t len, struct pgflo_jw *jnull)
{
	/* pgflo_jw_raw(w, c->jkey, c->jkeylen), as jsonwrite.c's sep(). */
	if (w->after_key)
		w->after_key = 0;
	else {
		if (!w->first[w->depth])
			pgflo_buf_putc(w->b, ',');
		w->first[w->depth] = 0;
	}
	pgflo_buf_putn(w->b, c->jkey, c->jkeylen);
	if (text == NULL) {
		pgflo_buf_putn(w->b, "null", 4);
		return;
	}
	w->after_key = 1;
	pgflo_value_write(w, &c->vt, text, len);
	/* JSON null is not SQL NULL (pgflo-record(5), json_null). */
	if (pgflo_value_is_json_null(&c->vt, text, len))
		pgflo_relmeta_jnull(jnull, c);
}

#endif
