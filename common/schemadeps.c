/*
 * schemadeps.c - what a group of tables needs from the catalog, for
 * their schema to be made elsewhere (schemadeps.h).
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "schemadeps.h"

void
pgflo_strs_add(struct pgflo_strs *s, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], v) == 0)
			return;
	pgflo_strs_push(s, v);
}

void
pgflo_strs_push(struct pgflo_strs *s, const char *v)
{
	s->v = pgflo_xrealloc(s->v, (s->n + 2) * sizeof(*s->v));
	s->v[s->n++] = pgflo_xstrdup(v);
	s->v[s->n] = NULL;
}

void
pgflo_strs_free(struct pgflo_strs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void
pgflo_objs_add(struct pgflo_objs *o, unsigned cls, unsigned oid)
{
	o->v = pgflo_xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->v[o->n].cls = cls;
	o->v[o->n++].oid = oid;
}

int
pgflo_objs_has(const struct pgflo_objs *o, unsigned cls, unsigned oid)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->v[i].cls == cls && o->v[i].oid == oid)
			return 1;
	return 0;
}

void
pgflo_array_literal(struct pgflo_buf *b, const struct pgflo_strs *s)
{
	const char *p;
	size_t i;

	pgflo_buf_putc(b, '{');
	for (i = 0; i < s->n; i++) {
		if (i > 0)
			pgflo_buf_putc(b, ',');
		pgflo_buf_putc(b, '"');
		for (p = s->v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				pgflo_buf_putc(b, '\\');
			pgflo_buf_putc(b, *p);
		}
		pgflo_buf_putc(b, '"');
	}
	pgflo_buf_putc(b, '}');
	pgflo_buf_cstr(b);
}

/* The tables, and the partitions of partitioned ones, as OIDs and names. */
static const char tables_sql[] =
    "WITH s AS (SELECT format('%I.%I', u.s, u.t)::regclass AS r "
    "FROM unnest($1::text[], $2::text[]) u(s, t)), "
    "a AS (SELECT r FROM s UNION SELECT p.relid FROM s, "
    "pg_catalog.pg_partition_tree(s.r) p) "
    "SELECT c.oid, format('%I.%I', n.nspname, c.relname) "
    "FROM a JOIN pg_catalog.pg_class c ON c.oid = a.r "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY 2";

/*
 * Everything the tables depend on: from each object, what it refers to
 * (any dependency) and its own parts (auto and internal dependents: a
 * table's defaults, constraints, indexes; a domain's constraints), over
 * and over.  The walk stops at schemas, at members of an extension (the
 * extension is needed instead) and at relations other than the tables,
 * their indexes, sequences and composite types.  It does not go from an
 * object to the types made for it (row and array types: a column that
 * uses one leads there) nor to a foreign key's internal triggers.
 * Objects made by initdb are below 16384.  Only the objects that pg_dump
 * -n dumps, and the relations (for their schemas), are returned.
 */
static const char need_sql[] =
    "WITH RECURSIVE sel(oid) AS (SELECT unnest($1::oid[])), "
    "o(cls, oid, ext) AS ("
    " SELECT 'pg_catalog.pg_class'::regclass::oid, oid, NULL::oid FROM sel"
    " UNION"
    " SELECT x.c, x.o, (SELECT e.refobjid FROM pg_catalog.pg_depend e"
    "  WHERE e.classid = x.c AND e.objid = x.o AND e.deptype = 'e' LIMIT 1)"
    " FROM o, LATERAL ("
    "  SELECT d.refclassid AS c, d.refobjid AS o FROM pg_catalog.pg_depend d"
    "  WHERE d.classid = o.cls AND d.objid = o.oid"
    "  AND d.deptype IN ('n', 'a', 'i')"
    "  UNION ALL"
    "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d"
    "  WHERE d.refclassid = o.cls AND d.refobjid = o.oid"
    "  AND d.deptype IN ('a', 'i')"
    "  AND d.classid <> 'pg_catalog.pg_type'::regclass"
    "  AND NOT (d.classid = 'pg_catalog.pg_trigger'::regclass"
    "  AND d.deptype = 'i')) x"
    " WHERE o.ext IS NULL AND x.o >= 16384"
    " AND x.c NOT IN ('pg_catalog.pg_namespace'::regclass,"
    "  'pg_catalog.pg_extension'::regclass)"
    " AND (x.c <> 'pg_catalog.pg_class'::regclass OR EXISTS ("
    "  SELECT FROM pg_catalog.pg_class r WHERE r.oid = x.o AND"
    "  (r.relkind IN ('S', 'c') OR r.oid IN (SELECT oid FROM sel) OR"
    "  r.relkind = 'i' AND EXISTS (SELECT FROM pg_catalog.pg_index i"
    "  WHERE i.indexrelid = r.oid AND i.indrelid IN (SELECT oid FROM sel))"
    "  ))))"
    "SELECT o.cls, o.oid, (pg_catalog.pg_identify_object(o.cls, o.oid, 0))"
    ".schema, (SELECT format('%I', e.extname) FROM pg_catalog.pg_extension e"
    " WHERE e.oid = o.ext), (SELECT format('%I', n.nspname)"
    " FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n"
    " ON n.oid = e.extnamespace WHERE e.oid = o.ext),"
    " CASE WHEN o.cls = 'pg_catalog.pg_class'::regclass THEN"
    " (SELECT CASE WHEN r.relkind = 'S' THEN format('%I.%I', n.nspname,"
    " r.relname) END FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n"
    " ON n.oid = r.relnamespace WHERE r.oid = o.oid) END,"
    " o.cls IN ('pg_catalog.pg_proc'::regclass,"
    " 'pg_catalog.pg_collation'::regclass, 'pg_catalog.pg_operator'::regclass,"
    " 'pg_catalog.pg_opclass'::regclass, 'pg_catalog.pg_opfamily'::regclass,"
    " 'pg_catalog.pg_ts_config'::regclass, 'pg_catalog.pg_ts_dict'::regclass,"
    " 'pg_catalog.pg_conversion'::regclass) OR o.cls ="
    " 'pg_catalog.pg_type'::regclass AND EXISTS (SELECT FROM"
    " pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class r ON r.oid ="
    " t.typrelid WHERE t.oid = o.oid AND t.typcategory <> 'A' AND"
    " (r.oid IS NULL OR r.relkind = 'c'))"
    " FROM o WHERE o.ext IS NOT NULL OR o.cls IN ("
    " 'pg_catalog.pg_class'::regclass, 'pg_catalog.pg_type'::regclass,"
    " 'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_collation'::regclass,"
    " 'pg_catalog.pg_operator'::regclass, 'pg_catalog.pg_opclass'::regclass,"
    " 'pg_catalog.pg_opfamily'::regclass, 'pg_catalog.pg_ts_config'::regclass,"
    " 'pg_catalog.pg_ts_dict'::regclass, 'pg_catalog.pg_conversion'::regclass)"
    " ORDER BY 1, 2";

/* Foreign keys of the tables that refer to a table not selected. */
static const char fk_sql[] =
    "SELECT c.oid, format('%I', c.conname), format('%I.%I', n.nspname, "
    "r.relname), format('%I.%I', fn.nspname, f.relname) "
    "FROM pg_catalog.pg_constraint c "
    "JOIN pg_catalog.pg_class r ON r.oid = c.conrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace "
    "JOIN pg_catalog.pg_class f ON f.oid = c.confrelid "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace "
    "WHERE c.contype = 'f' AND c.conrelid = ANY ($1::oid[]) "
    "AND NOT c.confrelid = ANY ($1::oid[]) ORDER BY 3, 2";

#define CONSTRAINT_CLASS	2606	/* pg_constraint's OID */

static unsigned
uval(PGresult *res, int r, int c)
{
	return (unsigned)strtoul(PQgetvalue(res, r, c), NULL, 10);
}

/* The tables and their partitions. */
static int
read_tables(PGconn *conn, const struct pgflo_tables *tl,
    struct pgflo_schemadeps *d, char *errbuf, size_t errlen)
{
	struct pgflo_strs s = { 0 }, t = { 0 };
	struct pgflo_buf a = { 0 }, b = { 0 };
	const char *params[2];
	PGresult *res;
	size_t i;
	int r;

	for (i = 0; i < tl->n; i++) {
		pgflo_strs_push(&s, tl->schema[i]);
		pgflo_strs_push(&t, tl->name[i]);
	}
	pgflo_array_literal(&a, &s);
	pgflo_array_literal(&b, &t);
	params[0] = a.data;
	params[1] = b.data;
	res = pgflo_pg_queryv(conn, tables_sql, 2, params,
	    "could not list the tables", errbuf, errlen);
	for (r = 0; res != NULL && r < PQntuples(res); r++) {
		pgflo_strs_add(&d->tableoids, PQgetvalue(res, r, 0));
		pgflo_strs_add(&d->tables, PQgetvalue(res, r, 1));
	}
	PQclear(res);
	pgflo_strs_free(&s);
	pgflo_strs_free(&t);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
	return res != NULL ? 0 : -1;
}

/* One row of need_sql. */
static void
need_row(struct pgflo_schemadeps *d, PGresult *res, int r,
    struct pgflo_buf *b)
{
	if (!PQgetisnull(res, r, 3)) {
		pgflo_buf_reset(b);
		pgflo_buf_printf(b, "%s WITH SCHEMA %s", PQgetvalue(res, r, 3),
		    PQgetvalue(res, r, 4));
		pgflo_strs_add(&d->exts, b->data);
		pgflo_strs_add(&d->schemas, PQgetvalue(res, r, 4));
		return;
	}
	pgflo_objs_add(&d->need, uval(res, r, 0), uval(res, r, 1));
	if (!PQgetisnull(res, r, 2))
		pgflo_strs_add(&d->schemas, PQgetvalue(res, r, 2));
	if (!PQgetisnull(res, r, 5))
		pgflo_strs_add(&d->seqs, PQgetvalue(res, r, 5));
	if (strcmp(PQgetvalue(res, r, 6), "t") == 0 && !PQgetisnull(res, r, 2))
		pgflo_strs_add(&d->typeschemas, PQgetvalue(res, r, 2));
}

int
pgflo_schemadeps_read(PGconn *conn, const struct pgflo_tables *tl,
    struct pgflo_schemadeps *d, char *errbuf, size_t errlen)
{
	struct pgflo_buf a = { 0 }, b = { 0 };
	const char *param;
	PGresult *res = NULL;
	int r, ret = -1;

	memset(d, 0, sizeof(*d));
	if (read_tables(conn, tl, d, errbuf, errlen) == -1)
		goto out;
	pgflo_array_literal(&a, &d->tableoids);
	param = a.data;
	if ((res = pgflo_pg_query(conn, need_sql, param,
	    "could not read the tables' dependencies", errbuf,
	    errlen)) == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++)
		need_row(d, res, r, &b);
	PQclear(res);
	if ((res = pgflo_pg_query(conn, "SELECT oid FROM "
	    "pg_catalog.pg_constraint WHERE contype = 'p' AND "
	    "conrelid = ANY ($1::oid[])", param, "could not read primary keys",
	    errbuf, errlen)) == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++)
		pgflo_objs_add(&d->pkeys, CONSTRAINT_CLASS, uval(res, r, 0));
	PQclear(res);
	if ((res = pgflo_pg_query(conn, fk_sql, param,
	    "could not read foreign keys", errbuf, errlen)) == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++) {
		pgflo_objs_add(&d->skipfk, CONSTRAINT_CLASS, uval(res, r, 0));
		pgflo_buf_reset(&b);
		pgflo_buf_printf(&b, "foreign key %s of %s: it refers to %s, "
		    "which is not selected", PQgetvalue(res, r, 1),
		    PQgetvalue(res, r, 2), PQgetvalue(res, r, 3));
		pgflo_strs_push(&d->skipfk_why, b.data);
	}
	PQclear(res);
	ret = 0;
out:
	if (ret == -1)
		pgflo_schemadeps_free(d);
	pgflo_buf_free(&a);
	pgflo_buf_free(&b);
	return ret;
}

void
pgflo_schemadeps_free(struct pgflo_schemadeps *d)
{
	pgflo_strs_free(&d->tables);
	pgflo_strs_free(&d->tableoids);
	pgflo_strs_free(&d->seqs);
	pgflo_strs_free(&d->schemas);
	pgflo_strs_free(&d->typeschemas);
	pgflo_strs_free(&d->exts);
	pgflo_strs_free(&d->skipfk_why);
	free(d->need.v);
	free(d->pkeys.v);
	free(d->skipfk.v);
	memset(d, 0, sizeof(*d));
}
