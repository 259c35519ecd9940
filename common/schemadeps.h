/*
 * schemadeps.h - what a group of tables needs from the catalog for its
 * schema to be made in another database (schemadeps.c): the tables and
 * their partitions, the types, functions and sequences their columns,
 * defaults and constraints use, the schemas and extensions of those, and
 * the foreign keys that lead out of the group.  Used by pgflo-schema,
 * which has pg_dump make exactly these objects.
 */
#ifndef PGFLO_SCHEMADEPS_H
#define PGFLO_SCHEMADEPS_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "tablepat.h"

/* A list of strings, NULL-terminated (an argv), each new. */
struct pgflo_strs {
	char	**v;
	size_t	 n;
};

/* Appends v, unless the list has it already (add) or always (push). */
void	pgflo_strs_add(struct pgflo_strs *s, const char *v);
void	pgflo_strs_push(struct pgflo_strs *s, const char *v);
void	pgflo_strs_free(struct pgflo_strs *s);
/* Appends an array literal of the strings, for a text[] or oid[]. */
void	pgflo_array_literal(struct pgflo_buf *b, const struct pgflo_strs *s);

/* Catalog objects: the OID of their catalog (pg_class's) and their own. */
struct pgflo_objs {
	struct pgflo_obj {
		unsigned cls, oid;
	}	*v;
	size_t	 n;
};

void	pgflo_objs_add(struct pgflo_objs *o, unsigned cls, unsigned oid);
int	pgflo_objs_has(const struct pgflo_objs *o, unsigned cls,
	    unsigned oid);

/* Names are as quote_ident() gives them: SQL, and psql patterns too. */
struct pgflo_schemadeps {
	struct pgflo_strs tables;	/* schema.table, partitions too */
	struct pgflo_strs tableoids;	/* their OIDs, as text */
	struct pgflo_strs seqs;		/* sequences owned or used */
	struct pgflo_strs schemas;	/* the schema of every object */
	struct pgflo_strs typeschemas;	/* those holding types, functions */
	struct pgflo_strs exts;		/* "name WITH SCHEMA schema" */
	struct pgflo_objs need;		/* every object needed */
	struct pgflo_objs pkeys;	/* the tables' primary keys */
	struct pgflo_objs skipfk;	/* foreign keys out of the group */
	struct pgflo_strs skipfk_why;	/* "foreign key k of t: it refers
					   to u, which is not selected" */
};

/*
 * Walks the catalog from the tables tl (resolved by
 * pgflo_tables_resolve()): from each object to what it refers to and to
 * its own parts (a table's defaults, constraints, indexes, triggers; a
 * domain's constraints), stopping at schemas, extensions (whose members
 * are the extension's) and other tables.  *d is new
 * (pgflo_schemadeps_free); -1 with errbuf set.
 */
int	pgflo_schemadeps_read(PGconn *conn, const struct pgflo_tables *tl,
	    struct pgflo_schemadeps *d, char *errbuf, size_t errlen);
void	pgflo_schemadeps_free(struct pgflo_schemadeps *d);

#endif
