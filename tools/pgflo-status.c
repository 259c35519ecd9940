/*
 * pgflo-status - is the pipeline running, and how far behind is it: the
 * source's slot, the JetStream stream, the checkpoint stores and the
 * target's applied position, one line each, for a person (a table), a
 * script (--json) or node_exporter's textfile collector (--prometheus).
 * The exit status is the health check: 0 healthy, 1 a threshold passed
 * or a slot inactive or missing, 3 a server unreachable.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pgflo.h"
#include "lsn.h"
#include "metrics.h"
#include "natsconn.h"
#include "pgconn.h"
#include "store.h"

#define SYNOPSIS \
	"pgflo-status [-d conninfo] [-S slot] [--stream name] [-s url]\n" \
	"                    [--store store ...] [--target conninfo " \
	"[-g group]]\n" \
	"                    [--json | --prometheus] [--max-lag-bytes n]\n" \
	"                    [--max-lag-seconds s]"

enum {
	OPT_JSON = 256, OPT_MAXBYTES, OPT_MAXSECS, OPT_PROM, OPT_STORE,
	OPT_STREAM, OPT_TARGET
};

static const struct option longopts[] = {
	{ "dbname",		required_argument, NULL, 'd' },
	{ "group",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "json",		no_argument,	   NULL, OPT_JSON },
	{ "max-lag-bytes",	required_argument, NULL, OPT_MAXBYTES },
	{ "max-lag-seconds",	required_argument, NULL, OPT_MAXSECS },
	{ "prometheus",		no_argument,	   NULL, OPT_PROM },
	{ "server",		required_argument, NULL, 's' },
	{ "slot",		required_argument, NULL, 'S' },
	{ "store",		required_argument, NULL, OPT_STORE },
	{ "stream",		required_argument, NULL, OPT_STREAM },
	{ "target",		required_argument, NULL, OPT_TARGET },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The command line. */
static const char *source, *slot, *stream, *server, *target;
static const char *group = "default";
static const char **stores;
static int nstores, jsonflag, promflag;
static double max_lag_bytes = -1, max_lag_secs = -1;

/* What was found: one object per thing, its "kind" first. */
static json_t *items, *problems;
static int worst;		/* the exit status so far */
static pgflo_lsn current_lsn;	/* the source's, 0 unknown */
static double source_now;	/* the source's clock, 0 unknown */
static uint64_t stream_last_seq;	/* the stream's last message, 0 unknown */

/*
 * The WAL an idle source writes after a commit without a transaction
 * (the commit record's end, a standby snapshot, a checkpoint): up to this
 * far past the applied commit the target counts as caught up.
 */
#define IDLE_WAL_BYTES	1024

static void
help(void)
{
	printf(
"pgflo-status shows the state of a pipeline, a line for each thing given:\n"
"the source's slot, the stream, checkpoint stores and the target, with how\n"
"far each is behind; its exit status says whether all is well.\n"
"\n"
"Usage:\n"
"  pgflo-status [OPTION]...\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO   the source database (its current WAL position)\n"
"  -S, --slot=NAME         the source's replication slot (needs -d)\n"
"      --stream=NAME       a JetStream stream\n"
"  -s, --server=URL        NATS server (default $PGFLO_NATS_URL, else\n"
"                          nats://127.0.0.1:4222); no credentials here\n"
"      --store=STORE       a checkpoint store (file:PATH, nats:BUCKET/KEY);\n"
"                          may be repeated\n"
"      --target=CONNINFO   the target database of pgflo-sink-pg\n"
"  -g, --group=NAME        its applied position's group (default \"default\")\n"
"      --json              one JSON object instead of the table\n"
"      --prometheus        the Prometheus text format instead of the table\n"
"      --max-lag-bytes=N   unhealthy when something is N bytes behind\n"
"      --max-lag-seconds=S unhealthy when something is S seconds behind\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: PGFLO_GROUP, PGFLO_NATS_URL and the other PGFLO_NATS_*,\n"
"libpq's PG* variables.\n"
"Exit status: 0 healthy, 1 a threshold passed or a slot inactive or\n"
"missing, 2 usage, 3 a server unreachable, 130/143 killed by\n"
"SIGINT/SIGTERM, 141 reader gone (SIGPIPE).\n");
}

/* ---- findings ---- */

static void
problem(int status, const char *fmt, ...) PGFLO_PRINTF(2, 3);

static void
problem(int status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(problems, json_string(buf));
	if (status == PGFLO_EXIT_UNAVAIL || worst == 0 ||
	    (worst == PGFLO_EXIT_FAIL && status == PGFLO_EXIT_USAGE))
		worst = status;
}

static json_t *
item_new(const char *kind, const char *name)
{
	json_t *it = json_object();

	json_object_set_new(it, "kind", json_string(kind));
	json_object_set_new(it, "name", json_string(name));
	json_array_append_new(items, it);
	return it;
}

static void
set_state(json_t *it, const char *state)
{
	json_object_set_new(it, "state", json_string(state));
}

/* A text column: NULL becomes JSON null. */
static void
set_text(json_t *it, const char *key, PGresult *res, int col)
{
	json_object_set_new(it, key, PQgetisnull(res, 0, col) ? json_null() :
	    json_string(PQgetvalue(res, 0, col)));
}

static void
set_int(json_t *it, const char *key, PGresult *res, int col)
{
	json_object_set_new(it, key, PQgetisnull(res, 0, col) ? json_null() :
	    json_integer(strtoll(PQgetvalue(res, 0, col), NULL, 10)));
}

static void
set_real(json_t *it, const char *key, PGresult *res, int col)
{
	json_object_set_new(it, key, PQgetisnull(res, 0, col) ? json_null() :
	    json_real(strtod(PQgetvalue(res, 0, col), NULL)));
}

/* lag_bytes of a position at lsn against the source's current LSN. */
static void
set_lag_bytes(json_t *it, pgflo_lsn lsn)
{
	json_object_set_new(it, "lag_bytes", current_lsn == 0 || lsn == 0 ?
	    json_null() : json_integer(current_lsn > lsn ?
	    (json_int_t)(current_lsn - lsn) : 0));
}

static void
set_position(json_t *it, const struct pgflo_pos *p)
{
	char buf[PGFLO_POS_BUFSZ], lb[PGFLO_LSN_BUFSZ];

	json_object_set_new(it, "position", pgflo_pos_is_set(p) ?
	    json_string(pgflo_pos_format(p, buf)) : json_null());
	json_object_set_new(it, "commit_lsn", p->commit_lsn != 0 ?
	    json_string(pgflo_lsn_format(p->commit_lsn, lb)) : json_null());
	json_object_set_new(it, "stream_seq", p->stream_seq != 0 ?
	    json_integer((json_int_t)p->stream_seq) : json_null());
}

/* ---- the source and its slot ---- */

static const char slot_sql[] =
    "SELECT s.active, s.active_pid, s.restart_lsn::text, "
    "s.confirmed_flush_lsn::text, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, "
    "s.wal_status, s.safe_wal_size, "
    "extract(epoch FROM r.flush_lag)::float8, s.slot_type "
    "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r "
    "ON r.pid = s.active_pid WHERE s.slot_name = $1";

static void
check_slot(PGconn *c)
{
	char errbuf[1024];
	PGresult *res;
	json_t *it;
	int active;

	it = item_new("slot", slot);
	if ((res = pgflo_pg_query(c, slot_sql, slot, "reading the slot",
	    errbuf, sizeof(errbuf))) == NULL) {
		set_state(it, "error");
		problem(PGFLO_EXIT_FAIL, "%s", errbuf);
		return;
	}
	if (PQntuples(res) == 0) {
		set_state(it, "missing");
		problem(PGFLO_EXIT_FAIL, "slot %s does not exist", slot);
		PQclear(res);
		return;
	}
	active = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	set_state(it, active ? "active" : "inactive");
	set_int(it, "pid", res, 1);
	set_text(it, "restart_lsn", res, 2);
	set_text(it, "confirmed_flush_lsn", res, 3);
	set_int(it, "retained_bytes", res, 4);
	set_int(it, "lag_bytes", res, 5);
	/*
	 * flush_lag is NULL once a walsender is idle and caught up, and
	 * keeps the lag of the last reply until then: none left is none.
	 */
	if (active && (PQgetisnull(res, 0, 8) || (!PQgetisnull(res, 0, 5) &&
	    strtoll(PQgetvalue(res, 0, 5), NULL, 10) <= 0)))
		json_object_set_new(it, "lag_seconds", json_real(0));
	else
		set_real(it, "lag_seconds", res, 8);
	set_text(it, "wal_status", res, 6);
	set_int(it, "safe_wal_size", res, 7);
	if (!active)
		problem(PGFLO_EXIT_FAIL, "slot %s is not active", slot);
	if (!PQgetisnull(res, 0, 6) && strcmp(PQgetvalue(res, 0, 6),
	    "lost") == 0)
		problem(PGFLO_EXIT_FAIL, "slot %s lost WAL it needed "
		    "(wal_status lost)", slot);
	PQclear(res);
}

static void
check_source(void)
{
	char errbuf[1024];
	PGresult *res;
	PGconn *c;

	if ((c = pgflo_pg_connect(source, 0, errbuf, sizeof(errbuf))) ==
	    NULL) {
		if (slot != NULL)
			set_state(item_new("slot", slot), "unreachable");
		problem(pgflo_pg_connect_status(), "source: %s", errbuf);
		return;
	}
	if ((res = pgflo_pg_query(c, "SELECT pg_current_wal_lsn()::text, "
	    "extract(epoch FROM now())::float8",
	    NULL, "reading the current WAL position", errbuf,
	    sizeof(errbuf))) != NULL) {
		pgflo_lsn_parse(PQgetvalue(res, 0, 0), &current_lsn);
		source_now = strtod(PQgetvalue(res, 0, 1), NULL);
		PQclear(res);
	} else
		problem(PGFLO_EXIT_FAIL, "source: %s", errbuf);
	if (slot != NULL)
		check_slot(c);
	PQfinish(c);
}

/* ---- the stream ---- */

static void
check_stream(void)
{
	struct pgflo_natsconn_config cf = { .url = server };
	struct pgflo_natsconn nc = { 0 };
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	char errbuf[1024];
	natsStatus s;
	json_t *it;
	int r;

	it = item_new("stream", stream);
	if ((r = pgflo_natsconn_open(&nc, &cf, NULL, errbuf,
	    sizeof(errbuf))) != 0) {
		set_state(it, "unreachable");
		problem(r, "stream %s: %s", stream, errbuf);
		pgflo_natsconn_close(&nc);
		return;
	}
	s = js_GetStreamInfo(&si, nc.js, stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		set_state(it, "missing");
		problem(PGFLO_EXIT_FAIL, "stream %s does not exist", stream);
	} else if (s != NATS_OK) {
		set_state(it, "error");
		problem(pgflo_natsconn_exit_status(s), "stream %s: %s", stream,
		    pgflo_natsconn_why(s));
	} else {
		set_state(it, "ok");
		json_object_set_new(it, "messages",
		    json_integer((json_int_t)si->State.Msgs));
		json_object_set_new(it, "bytes",
		    json_integer((json_int_t)si->State.Bytes));
		json_object_set_new(it, "first_seq",
		    json_integer((json_int_t)si->State.FirstSeq));
		json_object_set_new(it, "last_seq",
		    json_integer((json_int_t)si->State.LastSeq));
		stream_last_seq = si->State.LastSeq;
		json_object_set_new(it, "consumers",
		    json_integer((json_int_t)si->State.Consumers));
	}
	jsStreamInfo_Destroy(si);
	pgflo_natsconn_close(&nc);
}

/* ---- the checkpoint stores ---- */

static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

static void
check_store(const char *url)
{
	struct pgflo_store *st;
	struct pgflo_pos p;
	char errbuf[1024];
	json_t *it;
	int r;

	it = item_new("store", url);
	if ((st = pgflo_store_open(url, errbuf, sizeof(errbuf))) == NULL) {
		set_state(it, "error");
		problem(PGFLO_EXIT_USAGE, "%s", errbuf);
		return;
	}
	if ((r = pgflo_store_get(st, &p, NULL)) == -1) {
		r = pgflo_store_status(st);
		set_state(it, r == PGFLO_EXIT_UNAVAIL ? "unreachable" : "error");
		problem(r, "%s", st->errmsg);
	} else if (r == 0) {
		set_state(it, "empty");
	} else {
		set_state(it, "ok");
		set_position(it, &p);
		set_lag_bytes(it, p.commit_lsn);
		json_object_set_new(it, "age_seconds", st->stamp_ms == 0 ?
		    json_null() : json_real(round(wall_ms() -
		    (double)st->stamp_ms) / 1000.0));
	}
	pgflo_store_close(st);
}

/* ---- the target ---- */

/* commit_ts through to_jsonb: a table of an older pgflo has none. */
static const char target_sql[] =
    "SELECT commit_lsn::text, ordinal, stream_seq, "
    "to_char(updated_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "extract(epoch FROM now() - updated_at)::float8, "
    "to_char((to_jsonb(a) ->> 'commit_ts')::timestamptz AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "extract(epoch FROM (to_jsonb(a) ->> 'commit_ts')::timestamptz)::float8, "
    "extract(epoch FROM now())::float8 "
    "FROM pgflo.applied a WHERE group_name = $1";

/*
 * The target's lag in seconds (see pgflo-status(1)): 0 when it has all
 * the source has, else the time since the commit of the last transaction
 * it applied, by the source's clock (the target's without -d).  Behind:
 * the stream has messages past the applied one (--stream), else the
 * source's WAL is more than IDLE_WAL_BYTES past the applied commit.
 */
static json_t *
target_lag_seconds(const struct pgflo_pos *p, PGresult *res)
{
	double ts, now;
	int behind;

	if (PQgetisnull(res, 0, 6) || p->commit_lsn == 0)
		return json_null();
	ts = strtod(PQgetvalue(res, 0, 6), NULL);
	now = source_now != 0 ? source_now : strtod(PQgetvalue(res, 0, 7),
	    NULL);
	if (stream_last_seq != 0 && p->stream_seq != 0)
		behind = stream_last_seq > p->stream_seq;
	else if (current_lsn != 0)
		behind = current_lsn > p->commit_lsn + IDLE_WAL_BYTES;
	else
		return json_null();
	return json_real(behind && now > ts ? round((now - ts) * 1000) /
	    1000 : 0);
}

static void
target_row(json_t *it, PGresult *res)
{
	struct pgflo_pos p = { 0 };

	if (!PQgetisnull(res, 0, 0))
		pgflo_lsn_parse(PQgetvalue(res, 0, 0), &p.commit_lsn);
	if (!PQgetisnull(res, 0, 1))
		p.ordinal = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	if (!PQgetisnull(res, 0, 2))
		p.stream_seq = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	set_state(it, "ok");
	set_position(it, &p);
	set_lag_bytes(it, p.commit_lsn);
	json_object_set_new(it, "lag_seconds", target_lag_seconds(&p, res));
	set_text(it, "applied_at", res, 3);
	set_real(it, "age_seconds", res, 4);
	set_text(it, "commit_ts", res, 5);
}

static void
check_target(void)
{
	char errbuf[1024];
	PGresult *res;
	PGconn *c;
	json_t *it;

	it = item_new("target", group);
	if ((c = pgflo_pg_connect(target, 0, errbuf, sizeof(errbuf))) ==
	    NULL) {
		set_state(it, "unreachable");
		problem(pgflo_pg_connect_status(), "target: %s", errbuf);
		return;
	}
	res = PQexecParams(c, target_sql, 1, NULL, &group, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		target_row(it, res);
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : "", "42P01") == 0) {
		set_state(it, "empty");	/* nothing applied yet */
	} else {
		set_state(it, "error");
		problem(PGFLO_EXIT_FAIL, "target: reading pgflo.applied: %s",
		    pgflo_pg_resmsg(res));
	}
	PQclear(res);
	PQfinish(c);
}

/* ---- thresholds ---- */

static void
check_thresholds(void)
{
	const char *kind, *name;
	json_t *it, *v;
	size_t i;

	json_array_foreach(items, i, it) {
		kind = json_string_value(json_object_get(it, "kind"));
		name = json_string_value(json_object_get(it, "name"));
		v = json_object_get(it, "lag_bytes");
		if (max_lag_bytes >= 0 && json_is_integer(v) &&
		    (double)json_integer_value(v) > max_lag_bytes)
			problem(PGFLO_EXIT_FAIL, "%s %s is %lld bytes behind "
			    "(--max-lag-bytes %.0f)", kind, name,
			    (long long)json_integer_value(v), max_lag_bytes);
		v = json_object_get(it, "lag_seconds");
		if (max_lag_secs >= 0 && json_is_number(v) &&
		    json_number_value(v) > max_lag_secs)
			problem(PGFLO_EXIT_FAIL, "%s %s is %.3f seconds behind "
			    "(--max-lag-seconds %g)", kind, name,
			    json_number_value(v), max_lag_secs);
	}
}

/* ---- output ---- */

static void
put_value(struct pgflo_buf *b, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		pgflo_buf_puts(b, json_string_value(v));
	} else if (json_is_real(v)) {
		pgflo_buf_printf(b, "%.3f", json_real_value(v));
	} else if (json_is_null(v) || v == NULL) {
		pgflo_buf_putc(b, '-');
	} else {
		s = json_dumps(v, JSON_ENCODE_ANY);
		pgflo_buf_puts(b, s);
		free(s);
	}
}

static const char *const columns[] = {
	"kind", "name", "state", "position", "lag_bytes", "lag_seconds",
	"age_seconds"
};
#define NCOLUMNS	(sizeof(columns) / sizeof(columns[0]))

/* The table: the columns every line has, then the rest as key=value. */
static void
print_table(void)
{
	struct pgflo_buf b = { 0 };
	const char *key;
	json_t *it, *v;
	size_t i, j;
	int known;

	printf("%-7s %-20s %-11s %-22s %11s %11s %11s %s\n", "KIND", "NAME",
	    "STATE", "POSITION", "LAG_BYTES", "LAG_SECONDS", "AGE_SECONDS",
	    "DETAIL");
	json_array_foreach(items, i, it) {
		for (j = 0; j < NCOLUMNS; j++) {
			pgflo_buf_reset(&b);
			put_value(&b, json_object_get(it, columns[j]));
			printf(j < 4 ? "%-*s " : "%*s ", j == 0 ? 7 :
			    j == 1 ? 20 : j == 2 ? 11 : j == 3 ? 22 : 11,
			    pgflo_buf_cstr(&b));
		}
		json_object_foreach(it, key, v) {
			for (known = 0, j = 0; j < NCOLUMNS; j++)
				known |= strcmp(key, columns[j]) == 0;
			if (known || strcmp(key, "commit_lsn") == 0)
				continue;
			pgflo_buf_reset(&b);
			put_value(&b, v);
			printf(" %s=%s", key, pgflo_buf_cstr(&b));
		}
		putchar('\n');
	}
	json_array_foreach(problems, i, v)
		pgflo_warnx("%s", json_string_value(v));
	pgflo_buf_free(&b);
}

static void
print_json(void)
{
	json_t *doc, *st, *it, *copy;
	const char *kind;
	size_t i;

	doc = json_object();
	json_object_set_new(doc, "healthy", json_boolean(worst == 0));
	json_object_set_new(doc, "status", json_integer(worst));
	json_object_set(doc, "problems", problems);
	st = json_array();
	json_array_foreach(items, i, it) {
		kind = json_string_value(json_object_get(it, "kind"));
		copy = json_deep_copy(it);
		json_object_del(copy, "kind");
		if (strcmp(kind, "store") == 0)
			json_array_append_new(st, copy);
		else
			json_object_set_new(doc, kind, copy);
	}
	if (nstores > 0)
		json_object_set_new(doc, "stores", st);
	else
		json_decref(st);
	json_dumpf(doc, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(doc);
}

/* The label of a kind's name: slot="...", group="...". */
static const char *
label_of(const char *kind)
{
	return strcmp(kind, "target") == 0 ? "group" : kind;
}

/* A field as a sample value: numbers, booleans, LSNs; else NaN. */
static double
sample_value(const char *key, const json_t *v)
{
	pgflo_lsn lsn;
	size_t n = strlen(key);

	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	if (json_is_string(v) && n > 4 && strcmp(key + n - 4, "_lsn") == 0 &&
	    pgflo_lsn_parse(json_string_value(v), &lsn) == 0)
		return (double)lsn;
	return NAN;
}

/* One family: pgflo_KIND_KEY with a sample for each item of kind. */
static void
prom_family(struct pgflo_buf *b, const char *kind, const char *key)
{
	const char *labels[] = { NULL, NULL, NULL };
	char name[128], help[160];
	json_t *it, *v;
	size_t i;

	snprintf(name, sizeof(name), "pgflo_%s_%s", kind, key);
	snprintf(help, sizeof(help), "pgflo-status: the %s's %s.", kind, key);
	pgflo_prom_family(b, name, "gauge", help);
	labels[0] = label_of(kind);
	json_array_foreach(items, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "kind")),
		    kind) != 0 || (v = json_object_get(it, key)) == NULL ||
		    json_is_null(v))
			continue;
		labels[1] = json_string_value(json_object_get(it, "name"));
		pgflo_prom_sample(b, name, labels, sample_value(key, v));
	}
}

static void
print_prometheus(void)
{
	static const char *const kinds[] = { "slot", "stream", "store",
	    "target" };
	struct pgflo_buf b = { 0 };
	json_t *seen, *it, *v;
	const char *key, *labels[] = { NULL, NULL, "state", NULL, NULL };
	size_t i, k;

	pgflo_prom_family(&b, "pgflo_status_healthy", "gauge",
	    "1 when pgflo-status found nothing wrong.");
	pgflo_prom_sample(&b, "pgflo_status_healthy", NULL, worst == 0);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		seen = json_object();
		json_array_foreach(items, i, it) {
			if (strcmp(json_string_value(json_object_get(it,
			    "kind")), kinds[k]) != 0)
				continue;
			json_object_foreach(it, key, v)
				if (!isnan(sample_value(key, v)))
					json_object_set_new(seen, key,
					    json_true());
		}
		json_object_foreach(seen, key, v)
			prom_family(&b, kinds[k], key);
		json_decref(seen);
	}
	pgflo_prom_family(&b, "pgflo_status_up", "gauge",
	    "1 when the thing was found in a good state, by its state.");
	json_array_foreach(items, i, it) {
		key = json_string_value(json_object_get(it, "kind"));
		labels[0] = label_of(key);
		labels[1] = json_string_value(json_object_get(it, "name"));
		labels[3] = json_string_value(json_object_get(it, "state"));
		pgflo_prom_sample(&b, "pgflo_status_up", labels,
		    strcmp(labels[3], "ok") == 0 ||
		    strcmp(labels[3], "active") == 0);
	}
	fwrite(b.data, 1, b.len, stdout);
	pgflo_buf_free(&b);
	json_array_foreach(problems, i, v)
		pgflo_warnx("%s", json_string_value(v));
}

/* ---- the command line ---- */

static double
parse_limit(const char *s, const char *what)
{
	size_t n;
	long ms;

	if (strcmp(what, "--max-lag-bytes") == 0) {
		if (pgflo_parse_size(s, &n) == 0)
			return (double)n;
	} else if (pgflo_parse_duration_ms(s, &ms) == 0 && ms >= 0) {
		return (double)ms / 1000.0;
	}
	pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
}

static void
parse_option(int ch)
{
	switch (ch) {
	case 'd':
		source = optarg;
		break;
	case 'g':
		group = optarg;
		break;
	case 'S':
		slot = optarg;
		break;
	case 's':
		server = optarg;
		break;
	case OPT_JSON:
		jsonflag = 1;
		break;
	case OPT_MAXBYTES:
		max_lag_bytes = parse_limit(optarg, "--max-lag-bytes");
		break;
	case OPT_MAXSECS:
		max_lag_secs = parse_limit(optarg, "--max-lag-seconds");
		break;
	case OPT_PROM:
		promflag = 1;
		break;
	case OPT_STORE:
		stores = pgflo_xrealloc(stores, sizeof(*stores) *
		    (size_t)(nstores + 1));
		stores[nstores++] = optarg;
		break;
	case OPT_STREAM:
		stream = optarg;
		break;
	case OPT_TARGET:
		target = optarg;
		break;
	default:
		pgflo_usage_exit(SYNOPSIS);
	}
}

static void
parse_options(int argc, char *argv[])
{
	char errbuf[512];
	int ch;

	group = pgflo_env("GROUP", group);
	while ((ch = getopt_long(argc, argv, "d:g:hS:s:V", longopts,
	    NULL)) != -1)
		parse_option(ch);
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if (slot != NULL && source == NULL)
		pgflo_usage_error(SYNOPSIS, "-S needs -d (the source)");
	if (source == NULL && stream == NULL && nstores == 0 &&
	    target == NULL)
		pgflo_usage_error(SYNOPSIS, "nothing to show: give -d, -S, "
		    "--stream, --store or --target");
	if (jsonflag && promflag)
		pgflo_usage_error(SYNOPSIS, "--json and --prometheus exclude "
		    "each other");
	if ((source != NULL && pgflo_pg_conninfo_ok(source, errbuf,
	    sizeof(errbuf)) == -1) || (target != NULL &&
	    pgflo_pg_conninfo_ok(target, errbuf, sizeof(errbuf)) == -1))
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
	if (server != NULL && pgflo_natsconn_url_ok(server, errbuf,
	    sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
}

int
main(int argc, char *argv[])
{
	int i;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	items = json_array();
	problems = json_array();
	if (source != NULL)
		check_source();
	if (stream != NULL)
		check_stream();
	for (i = 0; i < nstores; i++)
		check_store(stores[i]);
	if (target != NULL)
		check_target();
	/* nats_Open() ignored SIGPIPE; a reader gone is 141 here too. */
	signal(SIGPIPE, SIG_DFL);
	check_thresholds();
	if (jsonflag)
		print_json();
	else if (promflag)
		print_prometheus();
	else
		print_table();
	json_decref(items);
	json_decref(problems);
	free(stores);
	if (stream != NULL)
		nats_Close();
	if (ferror(stdout) || fclose(stdout) != 0)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return worst;
}
