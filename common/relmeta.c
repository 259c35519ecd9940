/*
 * relmeta.c - the one builder of a relation's record header and row
 * values, shared by pgflo-capture and pgflo-copy (relmeta.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "pg2json.h"
#include "pgconn.h"
#include "relmeta.h"
#include "typecache.h"

struct pgflo_relmeta *
pgflo_relmeta_new(const char *schema, const char *table, int ncols)
{
	struct pgflo_relmeta *rm = pgflo_xmalloc(sizeof(*rm));

	memset(rm, 0, sizeof(*rm));
	rm->schema = pgflo_xstrdup(*schema != '\0' ? schema : "pg_catalog");
	rm->table = pgflo_xstrdup(table);
	rm->ncols = ncols;
	rm->cols = pgflo_xmalloc(sizeof(*rm->cols) * (size_t)(ncols + 1));
	memset(rm->cols, 0, sizeof(*rm->cols) * (size_t)(ncols + 1));
	return rm;
}

void
pgflo_relmeta_free(struct pgflo_relmeta *rm)
{
	int i;

	if (rm == NULL)
		return;
	for (i = 0; i < rm->ncols; i++) {
		free(rm->cols[i].name);
		free(rm->cols[i].jkey);
	}
	free(rm->cols);
	free(rm->schema);
	free(rm->table);
	free(rm->head);
	free(rm->meta);
	free(rm);
}

/* The members of the object in b, without its braces: new. */
static char *
members(struct pgflo_buf *b, size_t *len)
{
	char *s;

	*len = b->len - 2;
	s = pgflo_xmalloc(*len + 1);
	memcpy(s, b->data + 1, *len);
	s[*len] = '\0';
	return s;
}

/* One column's key and encoding; its type name appended to tnames. */
static void
build_col(const struct pgflo_relmeta *rm, struct pgflo_relcol *c,
    struct pgflo_typecache *tc, struct pgflo_buf *tnames)
{
	struct pgflo_buf b = { 0 };
	const char *typname;
	char errbuf[1024];

	pgflo_buf_putc(&b, '"');
	pgflo_json_escape(&b, c->name, strlen(c->name));
	pgflo_buf_putn(&b, "\":", 2);
	c->jkey = pgflo_xstrdup(pgflo_buf_cstr(&b));
	c->jkeylen = b.len;
	pgflo_buf_free(&b);
	if (pgflo_typecache_vtype(tc, c->typoid, &c->vt, errbuf,
	    sizeof(errbuf)) == -1) {
		pgflo_warnx("%s.%s.%s: %s; writing its values as text",
		    rm->schema, rm->table, c->name, errbuf);
		memset(&c->vt, 0, sizeof(c->vt));
		c->vt.delim = ',';
	}
	typname = pgflo_typecache_name(tc, c->typoid, c->typmod, errbuf,
	    sizeof(errbuf));
	if (typname == NULL) {
		pgflo_warnx("%s.%s.%s: %s", rm->schema, rm->table, c->name,
		    errbuf);
		typname = "unknown";
	}
	pgflo_buf_puts(tnames, typname);
	pgflo_buf_putc(tnames, '\0');
}

void
pgflo_relmeta_build(struct pgflo_relmeta *rm, struct pgflo_typecache *tc)
{
	struct pgflo_buf b = { 0 }, tnames = { 0 };
	struct pgflo_jw w;
	const char *tn;
	int i;

	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "schema");
	pgflo_jw_str(&w, rm->schema);
	pgflo_jw_key(&w, "table");
	pgflo_jw_str(&w, rm->table);
	pgflo_jw_obj_end(&w);
	rm->head = members(&b, &rm->headlen);

	for (i = 0; i < rm->ncols; i++)
		build_col(rm, &rm->cols[i], tc, &tnames);
	/* "key":[...],"types":{...}; type names in tnames, NUL-separated. */
	pgflo_buf_reset(&b);
	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "key");
	pgflo_jw_arr_begin(&w);
	for (i = 0; i < rm->ncols; i++)
		if (rm->cols[i].key)
			pgflo_jw_str(&w, rm->cols[i].name);
	pgflo_jw_arr_end(&w);
	pgflo_jw_key(&w, "types");
	pgflo_jw_obj_begin(&w);
	for (i = 0, tn = tnames.data; i < rm->ncols; i++) {
		pgflo_jw_key(&w, rm->cols[i].name);
		pgflo_jw_str(&w, tn);
		tn += strlen(tn) + 1;
	}
	pgflo_jw_obj_end(&w);
	pgflo_jw_obj_end(&w);
	rm->meta = members(&b, &rm->metalen);
	pgflo_buf_free(&b);
	pgflo_buf_free(&tnames);
}

struct pgflo_relmeta *
pgflo_relmeta_load(PGconn *conn, struct pgflo_typecache *tc, uint32_t oid,
    const char *schema, const char *table, char *errbuf, size_t errlen)
{
	/* pgoutput's key flag: the replica identity's columns. */
	static const char sql[] =
	    "SELECT a.attname, a.atttypid, a.atttypmod, "
	    "CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false "
	    "ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
	    "WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey) AND "
	    "CASE c.relreplident WHEN 'd' THEN i.indisprimary "
	    "ELSE i.indisreplident END) END "
	    "FROM pg_catalog.pg_attribute a "
	    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
	    "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND "
	    "NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum";
	struct pgflo_relmeta *rm;
	char oidtext[16];
	PGresult *res;
	int i;

	snprintf(oidtext, sizeof(oidtext), "%u", oid);
	if ((res = pgflo_pg_query(conn, sql, oidtext, "could not read the "
	    "columns", errbuf, errlen)) == NULL)
		return NULL;
	rm = pgflo_relmeta_new(schema, table, PQntuples(res));
	for (i = 0; i < rm->ncols; i++) {
		struct pgflo_relcol *c = &rm->cols[i];

		c->name = pgflo_xstrdup(PQgetvalue(res, i, 0));
		c->typoid = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL,
		    10);
		c->typmod = (int32_t)strtol(PQgetvalue(res, i, 2), NULL, 10);
		c->key = PQgetvalue(res, i, 3)[0] == 't';
	}
	PQclear(res);
	pgflo_relmeta_build(rm, tc);
	return rm;
}

void
pgflo_relmeta_jnull(struct pgflo_jw *jnull, const struct pgflo_relcol *c)
{
	if (jnull->b->len == 0)
		pgflo_jw_arr_begin(jnull);
	pgflo_jw_raw(jnull, c->jkey, c->jkeylen - 1);
}
