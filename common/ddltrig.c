/*
 * ddltrig.c - the DDL event triggers of a pipeline (ddltrig.h): each
 * DDL command on a published table becomes a transactional logical
 * message; tables created that match the patterns join the publication.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "publication.h"
#include "tablepat.h"
#include "ddltrig.h"

/* "pgflo_ddl_" / "pgflo_ddl_drop_" + slot, as one quoted identifier. */
static void
ddl_name(struct pgflo_buf *b, const char *kind, const char *slot)
{
	char name[64];

	snprintf(name, sizeof(name), "pgflo_%s_%s", kind, slot);
	pgflo_pg_quote_ident(b, name);
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
	if ((res = pgflo_pg_query(conn, "SELECT d.description "
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
	    "      " PGFLO_PUB_HAS_IDENTITY "\n"
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
	while ((k = pgflo_tables_pattern_next(&p, &ls, &lt, &pat, errbuf,
	    errlen)) == 1) {
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

/*
 * The function's declarations, and its sql_drop part: a DROP TABLE of
 * a table of publication lit (a literal) becomes a message of prefix.
 */
static void
ddl_body_drop(struct pgflo_buf *body, const char *lit, const char *prefix,
    int ri_full)
{
	pgflo_buf_puts(body, "\n"
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
	pgflo_buf_printf(body, "  ri_full constant boolean := %s;\n",
	    ri_full ? "true" : "false");
	pgflo_buf_puts(body,
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
	pgflo_buf_puts(body, lit);
	pgflo_buf_puts(body, ")));\n"
	    "      PERFORM pg_logical_emit_message(true, ");
	pgflo_pg_quote_literal(body, prefix);
	pgflo_buf_puts(body, ",\n"
	    "        json_build_object('tag', tg_tag, 'object_type',\n"
	    "          r.object_type, 'schema', r.schema_name, 'table',\n"
	    "          r.object_name, 'statement', current_query())::text);\n"
	    "    END LOOP;\n"
	    "    RETURN;\n"
	    "  END IF;\n");
}

/* The ddl_command_end part: a command on a table of lit, a message. */
static void
ddl_body_commands(struct pgflo_buf *body, const char *lit, const char *prefix)
{
	pgflo_buf_puts(body,
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
	pgflo_buf_puts(body, lit);
	pgflo_buf_puts(body, " AND schemaname = nsp AND tablename = tbl)\n"
	    "      AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr\n"
	    "        JOIN pg_publication p ON p.oid = pr.prpubid\n"
	    "        WHERE p.pubname = ");
	pgflo_buf_puts(body, lit);
	pgflo_buf_puts(body, " AND pr.prrelid = rel);\n"
	    "    done := done || rel;\n"
	    "    PERFORM pg_logical_emit_message(true, ");
	pgflo_pg_quote_literal(body, prefix);
	pgflo_buf_puts(body, ",\n"
	    "      json_build_object('tag', r.command_tag, 'object_type',\n"
	    "        r.object_type, 'schema', nsp, 'table', tbl,\n"
	    "        'statement', current_query())::text);\n"
	    "  END LOOP;\n"
	    "END\n");
}

/*
 * The transaction that installs function fn (its body in body, which it
 * then reuses) with the patterns in its comment, and both triggers.
 */
static void
ddl_install_sql(struct pgflo_buf *sql, const char *fn, struct pgflo_buf *body,
    const char *slot, const char *patterns, int ri_full)
{
	pgflo_buf_puts(sql, "BEGIN;\nCREATE OR REPLACE FUNCTION ");
	pgflo_buf_puts(sql, fn);
	pgflo_buf_puts(sql, "() RETURNS event_trigger LANGUAGE plpgsql "
	    "SECURITY DEFINER SET search_path = pg_catalog AS ");
	pgflo_pg_quote_literal(sql, pgflo_buf_cstr(body));
	/* The patterns, kept for a later install without them. */
	pgflo_buf_puts(sql, ";\nCOMMENT ON FUNCTION ");
	pgflo_buf_puts(sql, fn);
	pgflo_buf_puts(sql, "() IS ");
	if (patterns != NULL && *patterns != '\0') {
		/* body is in sql already: reused for the comment. */
		pgflo_buf_reset(body);
		pgflo_buf_puts(body, patterns);
		if (ri_full)
			pgflo_buf_puts(body, RI_FULL_NOTE);
		pgflo_pg_quote_literal(sql, pgflo_buf_cstr(body));
	} else
		pgflo_buf_puts(sql, "NULL");
	pgflo_buf_puts(sql, ";\nDROP EVENT TRIGGER IF EXISTS ");
	ddl_name(sql, "ddl", slot);
	pgflo_buf_puts(sql, ";\nDROP EVENT TRIGGER IF EXISTS ");
	ddl_name(sql, "ddl_drop", slot);
	pgflo_buf_puts(sql, ";\nCREATE EVENT TRIGGER ");
	ddl_name(sql, "ddl", slot);
	pgflo_buf_puts(sql, " ON ddl_command_end EXECUTE FUNCTION ");
	pgflo_buf_puts(sql, fn);
	pgflo_buf_puts(sql, "();\nCREATE EVENT TRIGGER ");
	ddl_name(sql, "ddl_drop", slot);
	pgflo_buf_puts(sql, " ON sql_drop EXECUTE FUNCTION ");
	pgflo_buf_puts(sql, fn);
	pgflo_buf_puts(sql, "();\nCOMMIT");
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
	pgflo_buf_cstr(&fn);
	pgflo_pg_quote_literal(&lit, pub);
	pgflo_buf_cstr(&lit);
	pgflo_pg_quote_literal(&pfx, prefix);
	pgflo_buf_cstr(&pfx);

	/* The body goes as one quoted literal: no quoting inside can end it. */
	ddl_body_drop(&body, lit.data, prefix, ri_full);
	if (patterns != NULL && *patterns != '\0' &&
	    ddl_add_tables(&body, patterns, lit.data, pfx.data, errbuf,
	    errlen) == -1)
		goto out;
	ddl_body_commands(&body, lit.data, prefix);
	ddl_install_sql(&sql, fn.data, &body, slot, patterns, ri_full);
	r = pgflo_pg_command(conn, pgflo_buf_cstr(&sql),
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
	r = pgflo_pg_command(conn, pgflo_buf_cstr(&sql),
	    "could not drop the DDL event triggers", errbuf, errlen);
	pgflo_buf_free(&sql);
	return r;
}
