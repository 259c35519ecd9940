/*
 * publication.c - the tables and the publication of a pipeline
 * (publication.h): -t patterns resolved against the catalog, and the
 * publication made to hold exactly those tables, with the replica
 * identity check that keeps the application's UPDATE and DELETE working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "tablepat.h"
#include "publication.h"

static int
tables_has(const struct pgflo_tables *t, const char *s, const char *n)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->schema[i], s) == 0 && strcmp(t->name[i], n) == 0)
			return 1;
	return 0;
}

int
pgflo_tables_resolve(PGconn *conn, const char *patterns,
    struct pgflo_tables *out, char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
	    "AND n.nspname LIKE $1 AND c.relname LIKE $2 "
	    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
	    "AND n.nspname !~ '^pg_(toast|temp_)' ORDER BY 1, 2";
	struct pgflo_buf ls = { 0 }, lt = { 0 }, pat = { 0 };
	const char *p, *params[2];
	PGresult *res;
	int i, k, r = -1;

	memset(out, 0, sizeof(*out));
	p = patterns;
	while ((k = pgflo_tables_pattern_next(&p, &ls, &lt, &pat, errbuf,
	    errlen)) != 0) {
		if (k == -1)
			goto out;
		params[0] = ls.data;
		params[1] = lt.data;
		res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(errbuf, errlen, "could not list tables: %s",
			    pgflo_pg_resmsg(res));
			PQclear(res);
			goto out;
		}
		if (PQntuples(res) == 0) {
			snprintf(errbuf, errlen, "no table matches '%s'",
			    pat.data);
			PQclear(res);
			goto out;
		}
		for (i = 0; i < PQntuples(res); i++)
			if (!tables_has(out, PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1)))
				pgflo_tables_add(out, PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1));
		PQclear(res);
	}
	if (out->n == 0) {
		snprintf(errbuf, errlen, "no table pattern given");
		goto out;
	}
	pgflo_tables_sort(out);
	r = 0;
out:
	if (r == -1)
		pgflo_tables_free(out);
	pgflo_buf_free(&ls);
	pgflo_buf_free(&lt);
	pgflo_buf_free(&pat);
	return r;
}

int
pgflo_pub_exists(PGconn *conn, const char *pub, char *errbuf, size_t errlen)
{
	PGresult *res;
	int r;

	res = pgflo_pg_query(conn, "SELECT 1 FROM pg_catalog.pg_publication "
	    "WHERE pubname = $1", pub, "could not look up the publication",
	    errbuf, errlen);
	if (res == NULL)
		return -1;
	r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

static void
table_list(struct pgflo_buf *b, const struct pgflo_tables *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (i > 0)
			pgflo_buf_puts(b, ", ");
		pgflo_pg_quote_ident(b, t->schema[i]);
		pgflo_buf_putc(b, '.');
		pgflo_pg_quote_ident(b, t->name[i]);
	}
}

/*
 * The tables of t, and leaf partitions of its partitioned ones, without
 * a replica identity: display name, schema, name, display name of the
 * partitioned table (or null), whether pub publishes it for updates or
 * deletes already.  NULL with errbuf set on failure.
 */
static PGresult *
no_identity(PGconn *conn, const char *pub, const struct pgflo_tables *t,
    char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 };
	PGresult *res;
	size_t i;

	pgflo_buf_puts(&sql, "WITH t AS (SELECT c.oid, c.relkind FROM (VALUES ");
	for (i = 0; i < t->n; i++) {
		pgflo_buf_puts(&sql, i > 0 ? ", (" : "(");
		pgflo_pg_quote_literal(&sql, t->schema[i]);
		pgflo_buf_puts(&sql, ", ");
		pgflo_pg_quote_literal(&sql, t->name[i]);
		pgflo_buf_putc(&sql, ')');
	}
	pgflo_buf_puts(&sql, ") u(s, r) "
	    "JOIN pg_catalog.pg_namespace n ON n.nspname = u.s "
	    "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
	    "AND c.relname = u.r), "
	    "l AS (SELECT oid AS top, oid AS rel FROM t WHERE relkind = 'r' "
	    "UNION ALL SELECT t.oid, p.relid FROM t, "
	    "pg_catalog.pg_partition_tree(t.oid) p "
	    "WHERE t.relkind = 'p' AND p.isleaf) "
	    "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), "
	    "n.nspname, c.relname, CASE WHEN l.top <> l.rel THEN "
	    "pg_catalog.format('%I.%I', tn.nspname, tc.relname) END, "
	    "EXISTS (SELECT FROM pg_catalog.pg_publication p "
	    "JOIN pg_catalog.pg_publication_rel pr ON pr.prpubid = p.oid "
	    "WHERE p.pubname = $1 AND (p.pubupdate OR p.pubdelete) "
	    "AND pr.prrelid = l.top) "
	    "FROM l JOIN pg_catalog.pg_class c ON c.oid = l.rel "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "JOIN pg_catalog.pg_class tc ON tc.oid = l.top "
	    "JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace "
	    "WHERE c.relkind = 'r' AND NOT " PGFLO_PUB_HAS_IDENTITY " "
	    "ORDER BY n.nspname, c.relname");
	res = pgflo_pg_query(conn, pgflo_buf_cstr(&sql), pub,
	    "could not check the replica identities", errbuf, errlen);
	pgflo_buf_free(&sql);
	return res;
}

/* The refusal naming the tables of no_identity's res. */
static void
no_identity_msg(const PGresult *res, char *errbuf, size_t errlen)
{
	static const char tail[] = " (UPDATE and DELETE on them would fail "
	    "once published; run ALTER TABLE ... REPLICA IDENTITY FULL, use "
	    "--replica-identity-full, --publish-inserts-only, or leave them "
	    "out of -t)";
	struct pgflo_buf b = { 0 };
	int i, n = PQntuples(res), part, old;

	pgflo_buf_puts(&b, "tables without a replica identity: ");
	for (i = 0; i < n; i++) {
		if (i > 0 && b.len + sizeof(tail) + 160 > errlen) {
			pgflo_buf_printf(&b, " and %d more", n - i);
			break;
		}
		if (i > 0)
			pgflo_buf_puts(&b, ", ");
		pgflo_buf_puts(&b, PQgetvalue(res, i, 0));
		part = !PQgetisnull(res, i, 3);
		old = strcmp(PQgetvalue(res, i, 4), "t") == 0;
		if (part)
			pgflo_buf_printf(&b, " (partition of %s",
			    PQgetvalue(res, i, 3));
		if (old)
			pgflo_buf_puts(&b, part ? "; " : " (");
		if (old)
			pgflo_buf_puts(&b, "already published: its UPDATE "
			    "and DELETE fail now");
		if (part || old)
			pgflo_buf_putc(&b, ')');
	}
	pgflo_buf_puts(&b, tail);
	snprintf(errbuf, errlen, "%s", pgflo_buf_cstr(&b));
	pgflo_buf_free(&b);
}

int
pgflo_pub_sync(PGconn *conn, const char *pub, const struct pgflo_tables *t,
    int flags, int *changed, char *errbuf, size_t errlen)
{
	/* Columns 3 and 4: it publishes all four, or insert, truncate. */
	static const char cur_sql[] =
	    "SELECT p.puballtables, n.nspname, c.relname, "
	    "p.pubinsert AND p.pubupdate AND p.pubdelete AND p.pubtruncate, "
	    "p.pubinsert AND NOT p.pubupdate AND NOT p.pubdelete "
	    "AND p.pubtruncate "
	    "FROM pg_catalog.pg_publication p "
	    "LEFT JOIN pg_catalog.pg_publication_rel pr ON pr.prpubid = p.oid "
	    "LEFT JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid "
	    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE p.pubname = $1";
	int inserts_only = (flags & PGFLO_PUB_INSERTS_ONLY) != 0;
	const char *publish = inserts_only ? "insert, truncate" :
	    "insert, update, delete, truncate";
	struct pgflo_tables cur = { 0 };
	struct pgflo_buf sql = { 0 };
	PGresult *res, *nores = NULL;
	int i, same, same_publish, exists, nfull = 0, r = -1;
	size_t k;

	if (changed != NULL)
		*changed = 0;
	if ((res = pgflo_pg_query(conn, cur_sql, pub,
	    "could not look up the publication", errbuf, errlen)) == NULL)
		return -1;
	if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		snprintf(errbuf, errlen, "publication \"%s\" is FOR ALL "
		    "TABLES; drop it, or name another with -P", pub);
		PQclear(res);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 1))
			pgflo_tables_add(&cur, PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2));
	pgflo_tables_sort(&cur);
	exists = PQntuples(res) > 0;
	same = cur.n == t->n;
	for (k = 0; same && k < t->n; k++)
		same = strcmp(cur.schema[k], t->schema[k]) == 0 &&
		    strcmp(cur.name[k], t->name[k]) == 0;
	same_publish = exists &&
	    strcmp(PQgetvalue(res, 0, inserts_only ? 4 : 3), "t") == 0;
	/* Checked before anything changes; held tables too. */
	if (!inserts_only) {
		if ((nores = no_identity(conn, pub, t, errbuf, errlen)) ==
		    NULL)
			goto out;
		nfull = PQntuples(nores);
		if (nfull > 0 && (flags & PGFLO_PUB_RI_FULL) == 0) {
			no_identity_msg(nores, errbuf, errlen);
			r = -2;
			goto out;
		}
	}
	if (exists && same && same_publish && nfull == 0)
		goto done;
	pgflo_buf_puts(&sql, "BEGIN;\n");
	for (i = 0; i < nfull; i++) {
		pgflo_buf_puts(&sql, "ALTER TABLE ");
		pgflo_pg_quote_ident(&sql, PQgetvalue(nores, i, 1));
		pgflo_buf_putc(&sql, '.');
		pgflo_pg_quote_ident(&sql, PQgetvalue(nores, i, 2));
		pgflo_buf_puts(&sql, " REPLICA IDENTITY FULL;\n");
	}
	if (!exists) {
		pgflo_buf_puts(&sql, "CREATE PUBLICATION ");
		pgflo_pg_quote_ident(&sql, pub);
		pgflo_buf_puts(&sql, " FOR TABLE ");
		table_list(&sql, t);
		pgflo_buf_printf(&sql, " WITH (publish = '%s');\n", publish);
	}
	if (exists && !same) {
		pgflo_buf_puts(&sql, "ALTER PUBLICATION ");
		pgflo_pg_quote_ident(&sql, pub);
		pgflo_buf_puts(&sql, " SET TABLE ");
		table_list(&sql, t);
		pgflo_buf_puts(&sql, ";\n");
	}
	if (exists && !same_publish) {
		pgflo_buf_puts(&sql, "ALTER PUBLICATION ");
		pgflo_pg_quote_ident(&sql, pub);
		pgflo_buf_printf(&sql, " SET (publish = '%s');\n", publish);
	}
	pgflo_buf_puts(&sql, "COMMIT");
	if (pgflo_pg_command(conn, pgflo_buf_cstr(&sql), nfull > 0 ?
	    "could not set REPLICA IDENTITY FULL and update the publication" :
	    !exists ? "could not create the publication" :
	    "could not alter the publication", errbuf, errlen) == -1)
		goto out;
	for (i = 0; i < nfull; i++)
		pgflo_warnx("warning: %s had no replica identity: set "
		    "REPLICA IDENTITY FULL", PQgetvalue(nores, i, 0));
	if (changed != NULL)
		*changed = 1;
done:
	if (inserts_only)
		pgflo_warnx("warning: publication \"%s\" publishes inserts and "
		    "truncates only: updates and deletes are not captured",
		    pub);
	r = 0;
out:
	PQclear(res);
	PQclear(nores);
	pgflo_tables_free(&cur);
	pgflo_buf_free(&sql);
	return r;
}

int
pgflo_pub_drop(PGconn *conn, const char *pub, char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 };
	PGresult *res;

	pgflo_buf_puts(&sql, "DROP PUBLICATION IF EXISTS ");
	pgflo_pg_quote_ident(&sql, pub);
	res = pgflo_pg_query(conn, pgflo_buf_cstr(&sql), NULL,
	    "could not drop the publication", errbuf, errlen);
	pgflo_buf_free(&sql);
	PQclear(res);
	return res != NULL ? 0 : -1;
}
