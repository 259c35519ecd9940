/*
 * pgpub.c - tables, publication, slot and DDL triggers of a pipeline
 * (pgpub.h).  Identifiers are always quoted; values go as parameters on
 * normal connections and as quoted literals on replication ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "pgpub.h"

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

static int
tables_has(const struct pgflo_tables *t, const char *s, const char *n)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->schema[i], s) == 0 && strcmp(t->name[i], n) == 0)
			return 1;
	return 0;
}

static void
tables_add(struct pgflo_tables *t, const char *s, const char *n)
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

static void
tables_sort(struct pgflo_tables *t)
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
static int
pattern_next(const char **pp, struct pgflo_buf *ls, struct pgflo_buf *lt,
    struct pgflo_buf *pat, char *errbuf, size_t errlen)
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
			glob_like(ls, "public", 6);
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
	while ((k = pattern_next(&p, &ls, &lt, &pat, errbuf, errlen)) != 0) {
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
				tables_add(out, PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1));
		PQclear(res);
	}
	if (out->n == 0) {
		snprintf(errbuf, errlen, "no table pattern given");
		goto out;
	}
	tables_sort(out);
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
pgflo_slot_name_ok(const char *slot)
{
	size_t n = strlen(slot);

	return n > 0 && n <= 63 &&
	    strspn(slot, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Runs a one-parameter query; NULL with errbuf set on failure. */
static PGresult *
query(PGconn *conn, const char *sql, const char *param, const char *what,
    char *errbuf, size_t errlen)
{
	PGresult *res;

	res = PQexecParams(conn, sql, param != NULL ? 1 : 0, NULL, &param,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errbuf, errlen, "%s: %s", what, res != NULL ?
		    pgflo_pg_resmsg(res) : pgflo_pg_errmsg(conn));
		PQclear(res);
		return NULL;
	}
	return res;
}

int
pgflo_pub_exists(PGconn *conn, const char *pub, char *errbuf, size_t errlen)
{
	PGresult *res;
	int r;

	res = query(conn, "SELECT 1 FROM pg_catalog.pg_publication "
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
 * The condition on pg_class c that UPDATE and DELETE on c can log their
 * old row: REPLICA IDENTITY FULL, or the valid, immediate primary key
 * (DEFAULT) or replica identity index (USING INDEX), as relcache picks
 * them.  Shared with the DDL trigger.
 */
#define HAS_IDENTITY \
	"(c.relreplident = 'f' OR EXISTS (SELECT FROM pg_catalog.pg_index i " \
	"WHERE i.indrelid = c.oid AND i.indisvalid AND i.indimmediate AND " \
	"CASE c.relreplident WHEN 'd' THEN i.indisprimary " \
	"WHEN 'i' THEN i.indisreplident ELSE false END))"

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
	    "WHERE c.relkind = 'r' AND NOT " HAS_IDENTITY " "
	    "ORDER BY n.nspname, c.relname");
	res = query(conn, pgflo_buf_cstr(&sql), pub, "could not check the "
	    "replica identities", errbuf, errlen);
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

static int exec_cmd(PGconn *conn, const char *sql, const char *what,
    char *errbuf, size_t errlen);

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
	if ((res = query(conn, cur_sql, pub, "could not look up the "
	    "publication", errbuf, errlen)) == NULL)
		return -1;
	if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		snprintf(errbuf, errlen, "publication \"%s\" is FOR ALL "
		    "TABLES; drop it, or name another with -P", pub);
		PQclear(res);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 1))
			tables_add(&cur, PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2));
	tables_sort(&cur);
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
	if (exec_cmd(conn, pgflo_buf_cstr(&sql), nfull > 0 ?
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
	res = query(conn, pgflo_buf_cstr(&sql), NULL,
	    "could not drop the publication", errbuf, errlen);
	pgflo_buf_free(&sql);
	PQclear(res);
	return res != NULL ? 0 : -1;
}

int
pgflo_slot_exists(PGconn *conn, const char *slot, pgflo_lsn *confirmed,
    char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT plugin, database = pg_catalog.current_database(), "
	    "slot_type, confirmed_flush_lsn FROM pg_catalog.pg_replication_slots "
	    "WHERE slot_name = $1";
	PGresult *res;
	int r = -1;

	if (confirmed != NULL)
		*confirmed = 0;
	if ((res = query(conn, sql, slot, "could not look up the slot",
	    errbuf, errlen)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		r = 0;
	else if (strcmp(PQgetvalue(res, 0, 2), "logical") != 0 ||
	    strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0)
		snprintf(errbuf, errlen, "slot \"%s\" exists but is not a "
		    "logical pgoutput slot", slot);
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		snprintf(errbuf, errlen, "slot \"%s\" belongs to another "
		    "database", slot);
	else {
		if (confirmed != NULL && !PQgetisnull(res, 0, 3))
			pgflo_lsn_parse(PQgetvalue(res, 0, 3), confirmed);
		r = 1;
	}
	PQclear(res);
	return r;
}

static int
slot_create(PGconn *repl, const char *slot, int temporary,
    const char *snapshot, pgflo_lsn *consistent, char **snapname,
    char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 };
	PGresult *res;
	int r = -1;

	pgflo_buf_puts(&sql, "CREATE_REPLICATION_SLOT ");
	pgflo_pg_quote_ident(&sql, slot);
	if (temporary)
		pgflo_buf_puts(&sql, " TEMPORARY");
	pgflo_buf_puts(&sql, " LOGICAL pgoutput (SNAPSHOT ");
	pgflo_pg_quote_literal(&sql, snapshot);
	pgflo_buf_putc(&sql, ')');
	res = pgflo_pg_exec(repl, pgflo_buf_cstr(&sql), PGRES_TUPLES_OK,
	    errbuf, errlen);
	pgflo_buf_free(&sql);
	if (res == NULL) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", errbuf);
		snprintf(errbuf, errlen, "could not create slot \"%s\": %s",
		    slot, tmp);
		return -1;
	}
	if (PQnfields(res) < 4 || PQntuples(res) != 1) {
		snprintf(errbuf, errlen, "could not create slot \"%s\": "
		    "unexpected reply", slot);
		goto out;
	}
	if (consistent != NULL &&
	    pgflo_lsn_parse(PQgetvalue(res, 0, 1), consistent) == -1) {
		snprintf(errbuf, errlen, "could not create slot \"%s\": bad "
		    "consistent point", slot);
		goto out;
	}
	if (snapname != NULL)
		*snapname = PQgetisnull(res, 0, 2) ? NULL :
		    pgflo_xstrdup(PQgetvalue(res, 0, 2));
	r = 0;
out:
	PQclear(res);
	return r;
}

int
pgflo_slot_create(PGconn *repl, const char *slot, const char *snapshot,
    pgflo_lsn *consistent, char **snapname, char *errbuf, size_t errlen)
{
	return slot_create(repl, slot, 0, snapshot, consistent, snapname,
	    errbuf, errlen);
}

int
pgflo_slot_create_temporary(PGconn *repl, const char *slot,
    pgflo_lsn *consistent, char **snapname, char *errbuf, size_t errlen)
{
	return slot_create(repl, slot, 1, "export", consistent, snapname,
	    errbuf, errlen);
}

int
pgflo_slot_drop(PGconn *conn, const char *slot, char *errbuf, size_t errlen)
{
	PGresult *res;
	int r;

	res = query(conn, "SELECT pg_catalog.pg_drop_replication_slot("
	    "slot_name) FROM pg_catalog.pg_replication_slots "
	    "WHERE slot_name = $1", slot, "could not drop the slot",
	    errbuf, errlen);
	if (res == NULL)
		return -1;
	r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

/* "pgflo_ddl_" / "pgflo_ddl_drop_" + slot, as one quoted identifier. */
static void
ddl_name(struct pgflo_buf *b, const char *kind, const char *slot)
{
	char name[64];

	snprintf(name, sizeof(name), "pgflo_%s_%s", kind, slot);
	pgflo_pg_quote_ident(b, name);
}

static int
exec_cmd(PGconn *conn, const char *sql, const char *what, char *errbuf,
    size_t errlen)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errbuf, errlen, "%s: %s", what, res != NULL ?
		    pgflo_pg_resmsg(res) : pgflo_pg_errmsg(conn));
		PQclear(res);
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Ends the DDL function's comment when it sets REPLICA IDENTITY FULL. */
#define RI_FULL_NOTE	"\n--replica-identity-full"

/*
 * The patterns baked into slot's installed DDL function (its comment),
 * as a new string, or NULL when there is none; *ri_full whether it was
 * installed with PGFLO_PUB_RI_FULL.  -1 on error.
 */
static int
ddl_patterns(PGconn *conn, const char *slot, char **out, int *ri_full,
    char *errbuf, size_t errlen)
{
	size_t n, k = strlen(RI_FULL_NOTE);
	char name[64];
	PGresult *res;

	*out = NULL;
	snprintf(name, sizeof(name), "pgflo_ddl_%s", slot);
	if ((res = query(conn, "SELECT d.description "
	    "FROM pg_catalog.pg_proc p "
	    "JOIN pg_catalog.pg_description d ON d.objoid = p.oid "
	    "AND d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass "
	    "WHERE p.pronamespace = 'public'::pg_catalog.regnamespace "
	    "AND p.proname = $1 AND p.pronargs = 0", name,
	    "could not look up the DDL function", errbuf, errlen)) == NULL)
		return -1;
	if (PQntuples(res) > 0)
		*out = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	*ri_full = 0;
	if (*out != NULL && (n = strlen(*out)) >= k &&
	    strcmp(*out + n - k, RI_FULL_NOTE) == 0) {
		(*out)[n - k] = '\0';
		*ri_full = 1;
	}
	return 0;
}

/*
 * Appends the PL/pgSQL of the function's ddl_command_end part that adds
 * a table created by CREATE TABLE [AS] or SELECT INTO to the publication
 * (literal publ) when it matches patterns as pgflo_tables_resolve would.
 * While the publication publishes updates or deletes, a new table needs
 * a replica identity to be added, and a new partition of a table in it
 * one to be safe: without, it gets REPLICA IDENTITY FULL (variable
 * ri_full) or a WARNING and a message with "warning" (prefix literal
 * pfx).  Each step that may fail is in its own block: the creating
 * statement must never fail because of us.
 */
static int
ddl_add_tables(struct pgflo_buf *b, const char *patterns, const char *publ,
    const char *pfx, char *errbuf, size_t errlen)
{
	struct pgflo_buf ls = { 0 }, lt = { 0 }, pat = { 0 };
	const char *p = patterns;
	int k, n = 0;

	pgflo_buf_puts(b,
	    "  SELECT p.pubupdate OR p.pubdelete INTO pubupd\n"
	    "    FROM pg_publication p WHERE p.pubname = ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, ";\n"
	    "  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP\n"
	    "    CONTINUE WHEN r.classid <> 'pg_class'::regclass\n"
	    "      OR r.object_type <> 'table' OR r.command_tag NOT IN\n"
	    "      ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO');\n"
	    "    SELECT n.nspname, c.relname, c.relkind, c.relispartition,\n"
	    "      " HAS_IDENTITY "\n"
	    "      INTO nsp, tbl, kind, part, hasid FROM pg_class c\n"
	    "      JOIN pg_namespace n ON n.oid = c.relnamespace\n"
	    "      WHERE c.oid = r.objid AND c.relkind IN ('r', 'p')\n"
	    "      AND c.relpersistence = 'p';\n"
	    "    CONTINUE WHEN NOT FOUND\n"
	    "      OR nsp IN ('pg_catalog', 'information_schema')\n"
	    "      OR nsp ~ '^pg_(toast|temp_)';\n"
	    "    IF part THEN\n"
	    /* Published with its parent already: it only needs an identity. */
	    "      CONTINUE WHEN hasid OR kind <> 'r' OR pubupd IS NOT TRUE\n"
	    "        OR NOT EXISTS (SELECT FROM pg_publication_rel pr\n"
	    "          JOIN pg_publication p ON p.oid = pr.prpubid\n"
	    "          WHERE p.pubname = ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, " AND pr.prrelid IN\n"
	    "          (SELECT relid FROM pg_partition_ancestors(r.objid)));\n"
	    "    ELSE\n"
	    "      CONTINUE WHEN NOT EXISTS (SELECT FROM (VALUES ");
	while ((k = pattern_next(&p, &ls, &lt, &pat, errbuf, errlen)) == 1) {
		pgflo_buf_puts(b, n++ > 0 ? ", (" : "(");
		pgflo_pg_quote_literal(b, ls.data);
		pgflo_buf_puts(b, ", ");
		pgflo_pg_quote_literal(b, lt.data);
		pgflo_buf_putc(b, ')');
	}
	pgflo_buf_free(&ls);
	pgflo_buf_free(&lt);
	pgflo_buf_free(&pat);
	if (k == -1)
		return -1;
	if (n == 0) {
		snprintf(errbuf, errlen, "no table pattern given");
		return -1;
	}
	pgflo_buf_puts(b, ") p(s, t)\n"
	    "          WHERE nsp LIKE p.s AND tbl LIKE p.t)\n"
	    "        OR EXISTS (SELECT FROM pg_publication WHERE pubname = ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, "\n"
	    "          AND puballtables)\n"
	    "        OR EXISTS (SELECT FROM pg_publication_tables\n"
	    "          WHERE pubname = ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, " AND schemaname = nsp AND tablename = tbl);\n"
	    "    END IF;\n"
	    "    IF pubupd AND NOT hasid THEN\n"
	    "      BEGIN\n"
	    "        IF ri_full THEN\n"
	    /* Our own ALTER is no ddl record (see the top of the function). */
	    "          PERFORM set_config('pgflo.ddl_internal', 'on', true);\n"
	    "          EXECUTE format('ALTER TABLE %I.%I REPLICA IDENTITY FULL',\n"
	    "            nsp, tbl);\n"
	    "          PERFORM set_config('pgflo.ddl_internal', '', true);\n"
	    "          hasid := true;\n"
	    "          RAISE WARNING 'pgflo: new table %.% had no replica "
	    "identity: set REPLICA IDENTITY FULL',\n"
	    "            quote_ident(nsp), quote_ident(tbl);\n"
	    "        ELSE\n"
	    "          msg := format(CASE WHEN part THEN 'new partition %I.%I "
	    "of a table in publication %I has no replica identity: UPDATE "
	    "and DELETE on it fail until it has one'\n"
	    "            ELSE 'new table %I.%I is not added to publication %I: "
	    "it has no replica identity' END, nsp, tbl, ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, ");\n"
	    "          RAISE WARNING 'pgflo: %', msg USING HINT = 'Give it a "
	    "primary key or REPLICA IDENTITY FULL' ||\n"
	    "            CASE WHEN part THEN '.' ELSE ', then run pgflo-capture "
	    "with -t to add it.' END;\n"
	    "          PERFORM pg_logical_emit_message(true, ");
	pgflo_buf_puts(b, pfx);
	pgflo_buf_puts(b, ",\n"
	    "            json_build_object('tag', r.command_tag, 'object_type',\n"
	    "              r.object_type, 'schema', nsp, 'table', tbl,\n"
	    "              'statement', current_query(), 'warning', msg)::text);\n"
	    "        END IF;\n"
	    "      EXCEPTION WHEN OTHERS THEN\n"
	    "        RAISE WARNING 'pgflo: new table %.%: %', quote_ident(nsp),\n"
	    "          quote_ident(tbl), SQLERRM;\n"
	    "      END;\n"
	    "    END IF;\n"
	    "    CONTINUE WHEN part OR (pubupd AND NOT hasid);\n"
	    "    BEGIN\n"
	    "      EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I', ");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, ",\n"
	    "        nsp, tbl);\n"
	    "    EXCEPTION WHEN OTHERS THEN\n"
	    "      RAISE WARNING 'pgflo: could not add table %.% to "
	    "publication %: %',\n"
	    "        quote_ident(nsp), quote_ident(tbl), quote_ident(");
	pgflo_buf_puts(b, publ);
	pgflo_buf_puts(b, "),\n"
	    "        SQLERRM;\n"
	    "    END;\n"
	    "  END LOOP;\n");
	return 0;
}

int
pgflo_ddl_install(PGconn *conn, const char *slot, const char *pub,
    const char *patterns, int flags, char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 }, fn = { 0 }, lit = { 0 }, body = { 0 };
	struct pgflo_buf pfx = { 0 };
	char prefix[128], *kept = NULL;
	int r = -1, ri_full = (flags & PGFLO_PUB_RI_FULL) != 0;

	if (patterns == NULL) {
		if (ddl_patterns(conn, slot, &kept, &ri_full, errbuf,
		    errlen) == -1)
			return -1;
		patterns = kept;
	}
	snprintf(prefix, sizeof(prefix), "%s%s", PGFLO_DDL_PREFIX, slot);
	pgflo_buf_puts(&fn, "public.");
	ddl_name(&fn, "ddl", slot);
	pgflo_pg_quote_literal(&lit, pub);
	pgflo_buf_cstr(&lit);
	pgflo_pg_quote_literal(&pfx, prefix);
	pgflo_buf_cstr(&pfx);

	/* The body goes as one quoted literal: no quoting inside can end it. */
	pgflo_buf_puts(&body, "\n"
	    "DECLARE\n"
	    "  r record;\n"
	    "  rel oid;\n"
	    "  done oid[] := '{}';\n"
	    "  nsp text;\n"
	    "  tbl text;\n"
	    "  kind \"char\";\n"
	    "  part boolean;\n"
	    "  hasid boolean;\n"
	    "  pubupd boolean;\n"
	    "  msg text;\n");
	pgflo_buf_printf(&body, "  ri_full constant boolean := %s;\n",
	    ri_full ? "true" : "false");
	pgflo_buf_puts(&body,
	    "BEGIN\n"
	    /* Set around the ALTER TABLE that this function runs itself. */
	    "  IF current_setting('pgflo.ddl_internal', true) = 'on' THEN\n"
	    "    RETURN;\n"
	    "  END IF;\n"
	    "  IF tg_event = 'sql_drop' THEN\n"
	    "    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() d\n"
	    "        WHERE d.object_type = 'table' AND d.original LOOP\n"
	    "      CONTINUE WHEN NOT EXISTS (SELECT 1 FROM\n"
	    "          pg_event_trigger_dropped_objects() p\n"
	    "          WHERE p.object_type = 'publication relation'\n"
	    "          AND p.object_identity = format('%s in publication %s',\n"
	    "            r.object_identity, quote_ident(");
	pgflo_buf_puts(&body, lit.data);
	pgflo_buf_puts(&body, ")));\n"
	    "      PERFORM pg_logical_emit_message(true, ");
	pgflo_pg_quote_literal(&body, prefix);
	pgflo_buf_puts(&body, ",\n"
	    "        json_build_object('tag', tg_tag, 'object_type',\n"
	    "          r.object_type, 'schema', r.schema_name, 'table',\n"
	    "          r.object_name, 'statement', current_query())::text);\n"
	    "    END LOOP;\n"
	    "    RETURN;\n"
	    "  END IF;\n");
	if (patterns != NULL && *patterns != '\0' &&
	    ddl_add_tables(&body, patterns, lit.data, pfx.data, errbuf,
	    errlen) == -1)
		goto out;
	pgflo_buf_puts(&body,
	    "  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP\n"
	    "    CONTINUE WHEN r.classid <> 'pg_class'::regclass;\n"
	    "    SELECT CASE WHEN c.relkind IN ('i', 'I') THEN\n"
	    "        (SELECT i.indrelid FROM pg_index i\n"
	    "         WHERE i.indexrelid = c.oid) ELSE c.oid END\n"
	    "      INTO rel FROM pg_class c WHERE c.oid = r.objid;\n"
	    "    CONTINUE WHEN rel IS NULL OR rel = ANY (done);\n"
	    "    SELECT n.nspname, c.relname INTO nsp, tbl FROM pg_class c\n"
	    "      JOIN pg_namespace n ON n.oid = c.relnamespace\n"
	    "      WHERE c.oid = rel;\n"
	    /* A partitioned table is in pg_publication_rel only. */
	    "    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_publication_tables\n"
	    "      WHERE pubname = ");
	pgflo_buf_puts(&body, lit.data);
	pgflo_buf_puts(&body, " AND schemaname = nsp AND tablename = tbl)\n"
	    "      AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr\n"
	    "        JOIN pg_publication p ON p.oid = pr.prpubid\n"
	    "        WHERE p.pubname = ");
	pgflo_buf_puts(&body, lit.data);
	pgflo_buf_puts(&body, " AND pr.prrelid = rel);\n"
	    "    done := done || rel;\n"
	    "    PERFORM pg_logical_emit_message(true, ");
	pgflo_pg_quote_literal(&body, prefix);
	pgflo_buf_puts(&body, ",\n"
	    "      json_build_object('tag', r.command_tag, 'object_type',\n"
	    "        r.object_type, 'schema', nsp, 'table', tbl,\n"
	    "        'statement', current_query())::text);\n"
	    "  END LOOP;\n"
	    "END\n");

	pgflo_buf_puts(&sql, "BEGIN;\nCREATE OR REPLACE FUNCTION ");
	pgflo_buf_puts(&sql, pgflo_buf_cstr(&fn));
	pgflo_buf_puts(&sql, "() RETURNS event_trigger LANGUAGE plpgsql "
	    "SECURITY DEFINER SET search_path = pg_catalog AS ");
	pgflo_pg_quote_literal(&sql, pgflo_buf_cstr(&body));
	/* The patterns, kept for a later install without them. */
	pgflo_buf_puts(&sql, ";\nCOMMENT ON FUNCTION ");
	pgflo_buf_puts(&sql, fn.data);
	pgflo_buf_puts(&sql, "() IS ");
	if (patterns != NULL && *patterns != '\0') {
		/* body is in sql already: reused for the comment. */
		pgflo_buf_reset(&body);
		pgflo_buf_puts(&body, patterns);
		if (ri_full)
			pgflo_buf_puts(&body, RI_FULL_NOTE);
		pgflo_pg_quote_literal(&sql, pgflo_buf_cstr(&body));
	} else
		pgflo_buf_puts(&sql, "NULL");
	pgflo_buf_puts(&sql, ";\nDROP EVENT TRIGGER IF EXISTS ");
	ddl_name(&sql, "ddl", slot);
	pgflo_buf_puts(&sql, ";\nDROP EVENT TRIGGER IF EXISTS ");
	ddl_name(&sql, "ddl_drop", slot);
	pgflo_buf_puts(&sql, ";\nCREATE EVENT TRIGGER ");
	ddl_name(&sql, "ddl", slot);
	pgflo_buf_puts(&sql, " ON ddl_command_end EXECUTE FUNCTION ");
	pgflo_buf_puts(&sql, fn.data);
	pgflo_buf_puts(&sql, "();\nCREATE EVENT TRIGGER ");
	ddl_name(&sql, "ddl_drop", slot);
	pgflo_buf_puts(&sql, " ON sql_drop EXECUTE FUNCTION ");
	pgflo_buf_puts(&sql, fn.data);
	pgflo_buf_puts(&sql, "();\nCOMMIT");
	r = exec_cmd(conn, pgflo_buf_cstr(&sql),
	    "could not create the DDL event triggers", errbuf, errlen);
out:
	pgflo_buf_free(&sql);
	pgflo_buf_free(&fn);
	pgflo_buf_free(&lit);
	pgflo_buf_free(&body);
	pgflo_buf_free(&pfx);
	free(kept);
	return r;
}

int
pgflo_ddl_drop(PGconn *conn, const char *slot, char *errbuf, size_t errlen)
{
	struct pgflo_buf sql = { 0 };
	int r;

	pgflo_buf_puts(&sql, "BEGIN; DROP EVENT TRIGGER IF EXISTS ");
	ddl_name(&sql, "ddl", slot);
	pgflo_buf_puts(&sql, "; DROP EVENT TRIGGER IF EXISTS ");
	ddl_name(&sql, "ddl_drop", slot);
	pgflo_buf_puts(&sql, "; DROP FUNCTION IF EXISTS public.");
	ddl_name(&sql, "ddl", slot);
	pgflo_buf_puts(&sql, "(); COMMIT");
	r = exec_cmd(conn, pgflo_buf_cstr(&sql),
	    "could not drop the DDL event triggers", errbuf, errlen);
	pgflo_buf_free(&sql);
	return r;
}
