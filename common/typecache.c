/*
 * typecache.c - the catalog facts about types (typecache.h): how each
 * type oid is encoded (pg2json.h) and its format_type() name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "map.h"
#include "pg2json.h"
#include "pgconn.h"
#include "typecache.h"

/*
 * The cache: maps on a 64-bit key, (oid << 32 | typmod) for names and
 * oid for kinds and hints.
 */
struct slot {
	struct pgflo_vtype vt;
	char	 delim;		/* the type's own typdelim */
	char	*name;
};

struct pgflo_typecache {
	PGconn	*conn;
	struct pgflo_map kinds, names, hints;
};

static struct slot *
tab_find(const struct pgflo_map *m, uint64_t key)
{
	return pgflo_map_get(m, &key, sizeof(key));
}

static struct slot *
tab_add(struct pgflo_map *m, uint64_t key)
{
	struct slot *sl = pgflo_xmalloc(sizeof(*sl));

	memset(sl, 0, sizeof(*sl));
	pgflo_map_put(m, &key, sizeof(key), sl);
	return sl;
}

static void
slot_free(void *p)
{
	struct slot *sl = p;

	free(sl->name);
	free(sl);
}

struct pgflo_typecache *
pgflo_typecache_new(PGconn *conn)
{
	struct pgflo_typecache *tc = pgflo_xmalloc(sizeof(*tc));

	memset(tc, 0, sizeof(*tc));
	tc->conn = conn;
	return tc;
}

void
pgflo_typecache_set_conn(struct pgflo_typecache *tc, PGconn *conn)
{
	tc->conn = conn;
}

void
pgflo_typecache_free(struct pgflo_typecache *tc)
{
	if (tc == NULL)
		return;
	pgflo_map_clear(&tc->kinds, slot_free);
	pgflo_map_clear(&tc->names, slot_free);
	pgflo_map_clear(&tc->hints, slot_free);
	free(tc);
	pgflo_value_thread_done();
}

/* One parameterised catalog query with a single row expected. */
static PGresult *
query1(struct pgflo_typecache *tc, const char *sql, int nparams,
    const char *const *params, char *errbuf, size_t errlen)
{
	PGresult *res;

	if (tc->conn == NULL) {
		snprintf(errbuf, errlen, "no catalog connection");
		return NULL;
	}
	res = PQexecParams(tc->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errbuf, errlen, "type look-up failed: %s",
		    res != NULL ? pgflo_pg_resmsg(res) :
		    pgflo_pg_errmsg(tc->conn));
		PQclear(res);
		return NULL;
	}
	if (PQntuples(res) != 1) {
		snprintf(errbuf, errlen, "type %s not found", params[0]);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Looks up (and caches) oid's slot in kinds; depth guards domain loops. */
static struct slot *
kind_lookup(struct pgflo_typecache *tc, uint32_t oid, int depth,
    char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT typtype, typbasetype, typelem, typdelim, typcategory, "
	    "typlen FROM pg_catalog.pg_type WHERE oid = $1";
	struct slot *sl, *base;
	struct pgflo_vtype vt;
	PGresult *res;
	const char *p[1];
	char oidbuf[16], typtype, cat;
	uint32_t baseoid, elemoid;
	char delim;
	long typlen;

	if ((sl = tab_find(&tc->kinds, oid)) != NULL)
		return sl;
	if (depth > 8) {
		snprintf(errbuf, errlen, "type %u: domains nested too deep",
		    oid);
		return NULL;
	}
	snprintf(oidbuf, sizeof(oidbuf), "%u", oid);
	p[0] = oidbuf;
	if ((res = query1(tc, sql, 1, p, errbuf, errlen)) == NULL)
		return NULL;
	typtype = *PQgetvalue(res, 0, 0);
	baseoid = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	elemoid = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	delim = *PQgetvalue(res, 0, 3);
	cat = *PQgetvalue(res, 0, 4);
	typlen = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	PQclear(res);

	if (typtype == 'd') {
		if ((base = kind_lookup(tc, baseoid, depth + 1, errbuf,
		    errlen)) == NULL)
			return NULL;
		vt = base->vt;
	} else if (cat == 'A' && elemoid != 0 && typlen == -1 &&
	    oid != 22 && oid != 30) {	/* not int2vector, oidvector */
		if ((base = kind_lookup(tc, elemoid, depth + 1, errbuf,
		    errlen)) == NULL)
			return NULL;
		vt.kind = PGFLO_VK_ARRAY;
		vt.elem = base->vt.kind == PGFLO_VK_ARRAY ? PGFLO_VK_STRING :
		    base->vt.kind;
		vt.delim = base->delim != '\0' ? base->delim : ',';
	} else if (pgflo_vtype_builtin(oid, &vt) == -1)
		vt.kind = PGFLO_VK_STRING;
	sl = tab_add(&tc->kinds, oid);
	sl->vt = vt;
	sl->delim = delim;
	return sl;
}

int
pgflo_typecache_vtype(struct pgflo_typecache *tc, uint32_t oid,
    struct pgflo_vtype *t, char *errbuf, size_t errlen)
{
	struct slot *sl;

	/* Built-in arrays still need their element's delimiter: ','. */
	if (pgflo_vtype_builtin(oid, t) == 0)
		return 0;
	if ((sl = kind_lookup(tc, oid, 0, errbuf, errlen)) == NULL)
		return -1;
	*t = sl->vt;
	return 0;
}

const char *
pgflo_typecache_name(struct pgflo_typecache *tc, uint32_t oid,
    int32_t typmod, char *errbuf, size_t errlen)
{
	static const char sql[] =
	    "SELECT pg_catalog.format_type($1::pg_catalog.oid, "
	    "NULLIF($2::pg_catalog.int4, -1))";
	uint64_t key = (uint64_t)oid << 32 | (uint32_t)typmod;
	struct slot *sl;
	PGresult *res;
	const char *p[2];
	char oidbuf[16], modbuf[16];

	if ((sl = tab_find(&tc->names, key)) != NULL)
		return sl->name;
	snprintf(oidbuf, sizeof(oidbuf), "%u", oid);
	snprintf(modbuf, sizeof(modbuf), "%d", (int)typmod);
	p[0] = oidbuf;
	p[1] = modbuf;
	if ((res = query1(tc, sql, 2, p, errbuf, errlen)) == NULL ||
	    PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), "???") == 0) {
		PQclear(res);
		/* A type dropped since: pgoutput's Type message named it. */
		if ((sl = tab_find(&tc->hints, oid)) != NULL)
			return sl->name;
		if (res != NULL)
			snprintf(errbuf, errlen, "type %u not found", oid);
		return NULL;
	}
	sl = tab_add(&tc->names, key);
	sl->name = pgflo_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return sl->name;
}

void
pgflo_typecache_hint(struct pgflo_typecache *tc, uint32_t oid,
    const char *nspname, const char *typname)
{
	struct slot *sl;
	size_t n = strlen(nspname) + strlen(typname) + 2;

	if ((sl = tab_find(&tc->hints, oid)) == NULL)
		sl = tab_add(&tc->hints, oid);
	free(sl->name);
	sl->name = pgflo_xmalloc(n);
	snprintf(sl->name, n, "%s.%s", nspname, typname);
}
