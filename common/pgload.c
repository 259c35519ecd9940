/*
 * pgload.c - parallel COPY loaders for pgflo-sink-pg -j (pgload.h).
 * Blocking libpq connections, one transaction each; the sink's single
 * thread fills their COPY buffers while their servers load in parallel.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgflo.h"
#include "pgconn.h"
#include "pgload.h"

#define LOAD_CHUNK	(256 * 1024)	/* COPY bytes per PQputCopyData */

struct loader {
	PGconn	*c;
	int	 txn;		/* BEGIN sent */
	int	 copying;	/* in COPY IN */
	struct pgflo_buf sig;	/* of the COPY in progress */
	struct pgflo_buf data;	/* COPY text not yet sent */
};

struct pgflo_pgload {
	struct loader *l;
	int	 n;
	int	 cur;		/* the loader pgflo_pgload_buf() gave */
	int	 dirty;
};

/* The loaders' notices (a ROLLBACK after a failed COMMIT): none. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Sets errbuf from res or the connection; -1. */
static int
fail(struct loader *l, PGresult *res, char *errbuf, size_t errlen,
    int *lost)
{
	*lost = PQstatus(l->c) == CONNECTION_BAD;
	snprintf(errbuf, errlen, "COPY loader: %s", res != NULL &&
	    PQresultStatus(res) == PGRES_FATAL_ERROR ? pgflo_pg_resmsg(res) :
	    pgflo_pg_errmsg(l->c));
	return -1;
}

struct pgflo_pgload *
pgflo_pgload_new(const char *conninfo, int n, const char *session,
    char *errbuf, size_t errlen)
{
	struct pgflo_pgload *pl = pgflo_xmalloc(sizeof(*pl));
	PGresult *res;
	int i;

	memset(pl, 0, sizeof(*pl));
	pl->l = pgflo_xmalloc((size_t)n * sizeof(*pl->l));
	memset(pl->l, 0, (size_t)n * sizeof(*pl->l));
	pl->n = n;
	for (i = 0; i < n; i++) {
		if ((pl->l[i].c = pgflo_pg_connect(conninfo, 0, errbuf,
		    errlen)) == NULL)
			goto fail;
		PQsetClientEncoding(pl->l[i].c, "UTF8");
		PQsetNoticeProcessor(pl->l[i].c, quiet, NULL);
		if (session != NULL && (res = pgflo_pg_exec(pl->l[i].c,
		    session, PGRES_COMMAND_OK, errbuf, errlen)) == NULL)
			goto fail;
		if (session != NULL)
			PQclear(res);
	}
	return pl;
fail:
	pgflo_pgload_free(pl);
	return NULL;
}

void
pgflo_pgload_free(struct pgflo_pgload *pl)
{
	int i;

	if (pl == NULL)
		return;
	pgflo_pgload_abort(pl);
	for (i = 0; i < pl->n; i++) {
		PQfinish(pl->l[i].c);
		pgflo_buf_free(&pl->l[i].sig);
		pgflo_buf_free(&pl->l[i].data);
	}
	free(pl->l);
	free(pl);
}

static int
send_data(struct loader *l, char *errbuf, size_t errlen, int *lost)
{
	if (l->data.len > 0 && PQputCopyData(l->c, l->data.data,
	    (int)l->data.len) != 1)
		return fail(l, NULL, errbuf, errlen, lost);
	pgflo_buf_reset(&l->data);
	return 0;
}

/* Ends l's COPY (its transaction stays open); -1 errbuf. */
static int
end_copy(struct loader *l, char *errbuf, size_t errlen, int *lost)
{
	PGresult *res;
	int r = 0;

	if (!l->copying)
		return 0;
	l->copying = 0;
	if (send_data(l, errbuf, errlen, lost) == -1 ||
	    PQputCopyEnd(l->c, NULL) != 1)
		r = fail(l, NULL, errbuf, errlen, lost);
	while ((res = PQgetResult(l->c)) != NULL) {
		if (r == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
			r = fail(l, res, errbuf, errlen, lost);
		PQclear(res);
	}
	return r;
}

struct pgflo_buf *
pgflo_pgload_buf(struct pgflo_pgload *pl, uint64_t h,
    const struct pgflo_buf *sig, const char *copysql, char *errbuf,
    size_t errlen, int *lost)
{
	struct loader *l;
	PGresult *res;

	pl->cur = (int)(h % (uint64_t)pl->n);
	l = &pl->l[pl->cur];
	if (l->copying && (l->sig.len != sig->len ||
	    memcmp(l->sig.data, sig->data, sig->len) != 0) &&
	    end_copy(l, errbuf, errlen, lost) == -1)
		return NULL;
	if (l->copying)
		return &l->data;
	pl->dirty = 1;
	if (!l->txn) {
		res = PQexec(l->c, "BEGIN");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fail(l, res, errbuf, errlen, lost);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		l->txn = 1;
	}
	res = PQexec(l->c, copysql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fail(l, res, errbuf, errlen, lost);
		PQclear(res);
		return NULL;
	}
	PQclear(res);
	l->copying = 1;
	pgflo_buf_reset(&l->sig);
	pgflo_buf_putn(&l->sig, sig->data, sig->len);
	pgflo_buf_reset(&l->data);
	return &l->data;
}

int
pgflo_pgload_sent(struct pgflo_pgload *pl, char *errbuf, size_t errlen,
    int *lost)
{
	struct loader *l = &pl->l[pl->cur];

	if (l->data.len < LOAD_CHUNK)
		return 0;
	return send_data(l, errbuf, errlen, lost);
}

int
pgflo_pgload_dirty(const struct pgflo_pgload *pl)
{
	return pl != NULL && pl->dirty;
}

int
pgflo_pgload_commit(struct pgflo_pgload *pl, char *errbuf, size_t errlen,
    int *lost)
{
	PGresult *res;
	int i, r = 0;

	if (!pl->dirty)
		return 0;
	for (i = 0; i < pl->n && r == 0; i++)
		r = end_copy(&pl->l[i], errbuf, errlen, lost);
	/* Every COMMIT on its way before the first is waited for. */
	for (i = 0; i < pl->n && r == 0; i++)
		if (pl->l[i].txn && PQsendQuery(pl->l[i].c, "COMMIT") != 1)
			r = fail(&pl->l[i], NULL, errbuf, errlen, lost);
	for (i = 0; i < pl->n && r == 0; i++) {
		if (!pl->l[i].txn)
			continue;
		while ((res = PQgetResult(pl->l[i].c)) != NULL) {
			if (r == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
				r = fail(&pl->l[i], res, errbuf, errlen, lost);
			PQclear(res);
		}
		pl->l[i].txn = 0;
	}
	if (r == -1) {
		pgflo_pgload_abort(pl);
		return -1;
	}
	pl->dirty = 0;
	return 0;
}

void
pgflo_pgload_abort(struct pgflo_pgload *pl)
{
	PGresult *res;
	struct loader *l;
	int i;

	for (i = 0; i < pl->n; i++) {
		l = &pl->l[i];
		pgflo_buf_reset(&l->data);
		if (PQstatus(l->c) == CONNECTION_BAD) {
			l->copying = l->txn = 0;
			continue;
		}
		if (l->copying) {
			PQputCopyEnd(l->c, "rolled back");
			while ((res = PQgetResult(l->c)) != NULL)
				PQclear(res);
			l->copying = 0;
		}
		/* A COMMIT sent and not read yet: its results first. */
		while ((res = PQgetResult(l->c)) != NULL)
			PQclear(res);
		if (l->txn)
			PQclear(PQexec(l->c, "ROLLBACK"));
		l->txn = 0;
	}
	pl->dirty = 0;
}
