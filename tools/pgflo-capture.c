/*
 * pgflo-capture - logical replication (pgoutput) to change records.
 *
 * Reads a slot with the streaming replication protocol and writes one
 * NDJSON record per change (pgflo-record(5)).  pgoutput v1 sends a
 * transaction only after its commit, change by change, so every record
 * is written as it arrives and memory stays bounded by the largest row.
 * The flush LSN confirmed to the server never passes what is durable:
 * flushed (and fsynced) stdout, or the position a checkpoint store holds.
 * This file holds the options, the stream loop and that decision;
 * repl.c speaks the replication protocol, pgoutput.c turns its messages
 * into records.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pgflo.h"
#include "backoff.h"
#include "copyprog.h"
#include "ddltrig.h"
#include "lsn.h"
#include "metrics.h"
#include "output.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "publication.h"
#include "repl.h"
#include "slot.h"
#include "store.h"
#include "tablepat.h"
#include "typecache.h"

#define SYNOPSIS \
	"pgflo-capture [-n] [-c store] [-E lsn] [-I pos] [-P publication]\n" \
	"       [-s secs] [-t tables] [--create-slot] [--heartbeat secs]\n" \
	"       [--publish-inserts-only | --replica-identity-full]\n" \
	"       [--metrics file] [--track-ddl] -d conninfo -S slot\n" \
	"       pgflo-capture --drop [-P publication] -d conninfo -S slot"

enum {
	OPT_CREATE_SLOT = 256, OPT_DROP, OPT_HEARTBEAT, OPT_TRACK_DDL,
	OPT_INSERTS_ONLY, OPT_METRICS, OPT_RI_FULL
};

static const struct option longopts[] = {
	{ "checkpoint",		required_argument, NULL, 'c' },
	{ "create-slot",	no_argument,	   NULL, OPT_CREATE_SLOT },
	{ "dbname",		required_argument, NULL, 'd' },
	{ "drop",		no_argument,	   NULL, OPT_DROP },
	{ "endpos",		required_argument, NULL, 'E' },
	{ "heartbeat",		required_argument, NULL, OPT_HEARTBEAT },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "no-loop",		no_argument,	   NULL, 'n' },
	{ "publication",	required_argument, NULL, 'P' },
	{ "publish-inserts-only", no_argument,	   NULL, OPT_INSERTS_ONLY },
	{ "replica-identity-full", no_argument,	   NULL, OPT_RI_FULL },
	{ "slot",		required_argument, NULL, 'S' },
	{ "start",		required_argument, NULL, 'I' },
	{ "status-interval",	required_argument, NULL, 's' },
	{ "tables",		required_argument, NULL, 't' },
	{ "track-ddl",		no_argument,	   NULL, OPT_TRACK_DDL },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Options. */
static const char *conninfo, *slot, *pubname, *cpurl, *metricsfile;
static struct pgflo_buf tablepats;
static int create_slot, dropflag, track_ddl, noloop;
static int pubflags;		/* PGFLO_PUB_*, for -t */
static long status_ms = 10000, heartbeat_ms;
static const char *startarg;

/* Connections, caches and the decoder. */
static PGconn *repl, *cat;
static struct pgflo_typecache *types;
static struct pgflo_store *store;
static struct pgflo_pgoutput *dec;
static char errbuf[1024];

/*
 * Positions.  The decoder keeps the rest: dec->done (all the server sent
 * up to here handled), dec->written (the last record written), dec->skip
 * (records at or before it are not written) and dec->in_tx.
 */
static struct pgflo_pos startpos;	/* where the stream starts */
static pgflo_lsn flushed_lsn;	/* dec->done at the last stdout flush */
static pgflo_lsn sent_flush;	/* the flush LSN last confirmed */
static pgflo_lsn sent_write;
static struct pgflo_pos cp_pos;	/* what the checkpoint store holds */
static struct pgflo_copyprog copied;	/* the copy's progress, at start */
static int streaming;		/* in COPY BOTH mode */
static struct pgflo_metrics metrics;	/* --metrics */

static void
help(void)
{
	printf(
"pgflo-capture reads a logical replication slot (pgoutput) and writes one\n"
"change record per line on stdout.\n"
"\n"
"Usage:\n"
"  pgflo-capture [OPTION]... -d CONNINFO -S SLOT\n"
"  pgflo-capture --drop -d CONNINFO -S SLOT\n"
"\n"
"Options:\n"
"  -d, --dbname=CONNINFO     the source database (conninfo string or URI)\n"
"  -S, --slot=SLOT           the logical replication slot\n"
"  -t, --tables=PATTERNS     schema.table patterns, '*' globs, comma list;\n"
"                            creates or updates the publication to match\n"
"  -P, --publication=NAME    the publication (default: the slot's name)\n"
"      --create-slot         create the slot when it does not exist\n"
"  -I, --start=POS           start after POS (X/Y, X/Y:ORDINAL or a\n"
"                            position record)\n"
"  -c, --checkpoint=STORE    confirm only what STORE holds as durable; start\n"
"                            from it when --start is absent\n"
"  -E, --endpos=LSN          stop once everything up to LSN is written\n"
"  -s, --status-interval=SECS  status updates to the server (default 10s)\n"
"      --heartbeat=SECS      emit a heartbeat message this often\n"
"      --track-ddl           capture DDL on the tables as ddl records\n"
"      --replica-identity-full  give tables without a key REPLICA IDENTITY\n"
"                            FULL (alters them) rather than refuse them\n"
"      --publish-inserts-only  publish only inserts and truncates, so that\n"
"                            tables without a key may join\n"
"  -n, --no-loop             exit 3 when the connection is lost\n"
"      --metrics=FILE        keep Prometheus metrics in FILE (every 5s)\n"
"      --drop                drop the slot, publication and DDL triggers\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_STATUS_INTERVAL, PGFLO_FLUSH, PGFLO_METRICS, libpq's\n"
"PG* variables.\n"
"Exit status: 0 ok or stopped, 1 failure, 2 usage or login refused, 3 server\n"
"unreachable, 141 reader gone (SIGPIPE).\n");
}

/* The decoder's output: one record a line, counted by its op. */
static void
emit(const char *rec, size_t len)
{
	const char *op, *end;
	enum pgflo_metric_op mo = PGFLO_M_OTHER;

	if (pgflo_out_line(rec, len) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	/* Every record starts {"op":"NAME" (pgoutput.c). */
	if (len > 7 && (end = memchr((op = rec + 7), '"', len - 7)) != NULL)
		mo = pgflo_metrics_op(op, (size_t)(end - op));
	metrics.out[mo]++;
	metrics.bytes_out += len + 1;
	if (mo == PGFLO_M_BEGIN)
		metrics.last_commit_ts = (double)dec->commit_ts / 1e6 +
		    946684800.0;
}

/* The last rewrite of the metrics file, whatever ends the run. */
static void
metrics_atexit(void)
{
	pgflo_metrics_close(&metrics);
}

/*
 * What pgflo-copy made durable, read once: a table it copied again under
 * a later snapshot holds every change that committed before that
 * snapshot's point, so those are not written again.
 */
static void
load_copied(void)
{
	if (pgflo_copyprog_read(store, &copied, errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(pgflo_store_status(store), "%s", errbuf);
}

/* Polls the checkpoint store; keeps the newest position seen. */
static void
poll_checkpoint(void)
{
	struct pgflo_pos p;
	json_t *rec = NULL;
	int r;

	if (store == NULL)
		return;
	r = pgflo_store_get(store, &p, &rec);
	json_decref(rec);
	if (r == -1) {
		pgflo_warnx("%s", store->errmsg);
		return;
	}
	if (r == 1 && p.commit_lsn != 0 && pgflo_pos_cmp(&p, &cp_pos) > 0)
		cp_pos = p;
}

/* The flush LSN we may confirm now (see the file comment). */
static pgflo_lsn
confirmable(void)
{
	pgflo_lsn lsn;

	if (store == NULL)
		lsn = flushed_lsn;
	else if (!dec->in_tx && (dec->written.commit_lsn == 0 ||
	    pgflo_pos_cmp(&cp_pos, &dec->written) >= 0))
		lsn = flushed_lsn;	/* all we wrote is durable */
	else
		/* The transaction at cp_pos is sent again on restart. */
		lsn = cp_pos.commit_lsn < flushed_lsn ? cp_pos.commit_lsn :
		    flushed_lsn;
	return lsn > sent_flush ? lsn : sent_flush;
}

/* Flushes stdout, then confirms what is durable (see the file comment). */
static int
send_status(int force)
{
	pgflo_lsn flush;

	if (dec->done > flushed_lsn) {
		if (pgflo_out_flush(1) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		flushed_lsn = dec->done;
	}
	flush = confirmable();
	if (!force && flush == sent_flush && dec->done == sent_write)
		return 0;
	if (pgflo_repl_send_status(repl, dec->done > flush ? dec->done : flush,
	    flush, flush) == -1)
		return -1;
	sent_flush = metrics.last_lsn = flush;
	sent_write = dec->done;
	return 0;
}

static void
heartbeat(void)
{
	PGresult *res;
	char msg[1024];

	if ((res = pgflo_pg_query(cat, "SELECT pg_catalog."
	    "pg_logical_emit_message(false, '" PGFLO_HEARTBEAT_PREFIX "', '')",
	    NULL, "heartbeat failed", msg, sizeof(msg))) == NULL)
		pgflo_warnx("%s", msg);
	PQclear(res);
}

enum { ST_STOP, ST_LOST };

/* Handles one CopyData message from the server. */
static int
on_copydata(const char *buf, int len)
{
	struct pgflo_cur c = { (const unsigned char *)buf, (size_t)len, 0, 0 };
	struct pgflo_repl_msg m;

	metrics.bytes_in += (uint64_t)len;
	switch (pgflo_repl_header(&c, &m)) {
	case 'w':
		if (c.bad || pgflo_pgoutput_decode(dec, &c, errbuf,
		    sizeof(errbuf)) == -1) {
			if (c.bad)
				pgflo_cur_error(&c, errbuf, sizeof(errbuf));
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		}
		return 0;
	case 'k':
		if (c.bad) {
			pgflo_cur_error(&c, errbuf, sizeof(errbuf));
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		}
		/* Nothing of ours is pending: the server's position is ours. */
		pgflo_pgoutput_idle(dec, m.wal_end);
		/* Reply at once: the server pings when it goes idle. */
		return send_status(m.reply) == -1 ? -1 : 0;
	}
	pgflo_errx(PGFLO_EXIT_FAIL, "unexpected replication message '%c'",
	    m.type);
}

/* Reads what the server sent; 0, or -1 when the connection is lost. */
static int
drain(int *burst)
{
	char *buf;
	int r = 0;

	*burst = 0;
	while (!pgflo_stopping() && !dec->reached_end &&
	    (r = PQgetCopyData(repl, &buf, 1)) > 0) {
		r = on_copydata(buf, r);
		PQfreemem(buf);
		if (r == -1)
			return -1;
		(*burst)++;
	}
	return r == -2 || r == -1 ? -1 : 0;
}

/*
 * Why the stream ended, in errbuf.  An error the server sends during
 * COPY BOTH (a terminated walsender, a shutdown) ends the copy and
 * waits as a result; PQerrorMessage() is empty then.
 */
static void
lost_reason(void)
{
	PGresult *res;
	const char *m;
	int i;

	snprintf(errbuf, sizeof(errbuf), "%s", pgflo_pg_errmsg(repl));
	for (i = 0; i < 4 && errbuf[0] == '\0' &&
	    (res = PQgetResult(repl)) != NULL; i++) {
		m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (m != NULL)
			snprintf(errbuf, sizeof(errbuf), "%s", m);
		PQclear(res);
	}
	if (errbuf[0] == '\0')
		snprintf(errbuf, sizeof(errbuf), "the server ended the stream");
}

/* Streams until stopped or the connection is lost. */
static int
stream(void)
{
	long next_status, next_hb, now, wait;
	int r, burst;

	next_status = pgflo_now_ms() + status_ms;
	next_hb = heartbeat_ms > 0 ? pgflo_now_ms() + heartbeat_ms : 0;
	for (;;) {
		r = drain(&burst);
		if (pgflo_stopping() || dec->reached_end)
			return ST_STOP;
		if (r == -1)
			goto lost;
		now = pgflo_now_ms();
		pgflo_metrics_tick(&metrics);
		if (now >= next_status) {
			poll_checkpoint();
			if (send_status(1) == -1)
				goto lost;
			next_status = now + status_ms;
		}
		if (next_hb != 0 && now >= next_hb) {
			heartbeat();
			next_hb = now + heartbeat_ms;
		}
		/* Nothing more is ready: what was read goes downstream. */
		if (pgflo_out_flush(0) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		/* Let a busy server fill the socket: fewer, larger reads. */
		if (burst > 8) {
			struct timespec ts = { 0, 300000 };

			nanosleep(&ts, NULL);
			if (PQconsumeInput(repl) == 0)
				goto lost;
			continue;
		}
		wait = next_status - now;
		if (next_hb != 0 && next_hb - now < wait)
			wait = next_hb - now;
		if (wait < 0)
			wait = 0;
		/* A dead reader must free the slot even with no WAL flowing. */
		pgflo_out_check_reader();
		if (wait > PGFLO_OUT_CHECK_MS)
			wait = PGFLO_OUT_CHECK_MS;
		if ((r = pgflo_repl_wait(repl, wait)) == -2)
			pgflo_err(PGFLO_EXIT_FAIL, "select");
		if (r == -1)
			goto lost;
	}
lost:
	lost_reason();
	return ST_LOST;
}

static void
disconnect(void)
{
	streaming = 0;
	PQfinish(repl);
	repl = NULL;
	PQfinish(cat);
	cat = NULL;
	pgflo_typecache_set_conn(types, NULL);
}

/* Both connections; 0, or -1 with errbuf set (a connection failure). */
static int
connect_both(int first)
{
	int r;

	if ((cat = pgflo_pg_connect(conninfo, 0, errbuf,
	    sizeof(errbuf))) == NULL)
		return -1;
	/* A clear message rather than the walsender's refusal. */
	if (first && (r = pgflo_repl_check_role(cat, errbuf,
	    sizeof(errbuf))) < 0) {
		PQfinish(cat);
		cat = NULL;
		/* Configuration, not bad data: retrying will not help (2). */
		pgflo_errx(r == -2 ? PGFLO_EXIT_USAGE : PGFLO_EXIT_FAIL, "%s",
		    errbuf);
	}
	if ((repl = pgflo_repl_connect(conninfo, errbuf,
	    sizeof(errbuf))) == NULL) {
		PQfinish(cat);
		cat = NULL;
		return -1;
	}
	pgflo_typecache_set_conn(types, cat);
	return 0;
}

/* Role and objects: once, on the first connection.  Exits on failure. */
static void
setup(void)
{
	struct pgflo_tables tables;
	pgflo_lsn confirmed;
	int r = -1;

	if (dropflag) {
		if (pgflo_slot_drop(cat, slot, errbuf, sizeof(errbuf)) == -1 ||
		    pgflo_ddl_drop(cat, slot, errbuf, sizeof(errbuf)) == -1 ||
		    pgflo_pub_drop(cat, pubname, errbuf, sizeof(errbuf)) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
		return;
	}
	if (tablepats.len > 0) {
		if (pgflo_tables_resolve(cat, pgflo_buf_cstr(&tablepats),
		    &tables, errbuf, sizeof(errbuf)) == -1 ||
		    (r = pgflo_pub_sync(cat, pubname, &tables, pubflags, NULL,
		    errbuf, sizeof(errbuf))) < 0)
			pgflo_errx(r == -2 ? PGFLO_EXIT_USAGE : PGFLO_EXIT_FAIL,
			    "%s", errbuf);
		pgflo_tables_free(&tables);
	} else if ((r = pgflo_pub_exists(cat, pubname, errbuf,
	    sizeof(errbuf))) != 1)
		pgflo_errx(PGFLO_EXIT_FAIL, r == -1 ? "%s" : "publication "
		    "\"%s\" does not exist (give -t to create it)",
		    r == -1 ? errbuf : pubname);
	if (track_ddl && pgflo_ddl_install(cat, slot, pubname,
	    tablepats.len > 0 ? pgflo_buf_cstr(&tablepats) : NULL, pubflags,
	    errbuf, sizeof(errbuf)) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s (--track-ddl needs a "
		    "superuser)", errbuf);
	if ((r = pgflo_slot_exists(cat, slot, &confirmed, errbuf,
	    sizeof(errbuf))) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	if (r == 0) {
		if (!create_slot)
			pgflo_errx(PGFLO_EXIT_FAIL, "slot \"%s\" does not exist "
			    "(use --create-slot)", slot);
		if (pgflo_slot_create(repl, slot, "nothing", &confirmed, NULL,
		    errbuf, sizeof(errbuf)) == -1 &&
		    pgflo_slot_exists(cat, slot, &confirmed, errbuf,
		    sizeof(errbuf)) != 1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
	}
	sent_flush = flushed_lsn = dec->done = confirmed;
}

static void
finish(void)
{
	if (streaming && repl != NULL && PQstatus(repl) == CONNECTION_OK) {
		send_status(1);
		pgflo_repl_end(repl);
	}
	disconnect();
	pgflo_typecache_free(types);
	pgflo_store_close(store);
	pgflo_copyprog_free(&copied);
	pgflo_pgoutput_free(dec);
	pgflo_buf_free(&tablepats);
}

static void
parse_secs(const char *arg, const char *what, long *ms)
{
	if (pgflo_parse_duration_ms(arg, ms) == -1 || *ms <= 0)
		pgflo_usage_error(SYNOPSIS, "bad %s '%s'", what, arg);
}

/* The command line, into the options and the decoder's settings. */
static void
parse_args(int argc, char *argv[])
{
	const char *endarg = NULL, *env;
	int ch;

	if ((env = pgflo_env("STATUS_INTERVAL", NULL)) != NULL)
		parse_secs(env, "PGFLO_STATUS_INTERVAL", &status_ms);
	while ((ch = getopt_long(argc, argv, "E:I:P:S:Vc:d:hns:t:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'E':
			endarg = optarg;
			break;
		case 'I':
			startarg = optarg;
			break;
		case 'P':
			pubname = optarg;
			break;
		case 'S':
			slot = optarg;
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		case 'c':
			cpurl = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			help();
			exit(0);
		case 'n':
			noloop = 1;
			break;
		case 's':
			parse_secs(optarg, "status interval", &status_ms);
			break;
		case 't':
			if (tablepats.len > 0)
				pgflo_buf_putc(&tablepats, ',');
			pgflo_buf_puts(&tablepats, optarg);
			break;
		case OPT_CREATE_SLOT:
			create_slot = 1;
			break;
		case OPT_DROP:
			dropflag = 1;
			break;
		case OPT_HEARTBEAT:
			parse_secs(optarg, "heartbeat interval", &heartbeat_ms);
			break;
		case OPT_TRACK_DDL:
			track_ddl = 1;
			break;
		case OPT_INSERTS_ONLY:
			pubflags |= PGFLO_PUB_INSERTS_ONLY;
			break;
		case OPT_METRICS:
			metricsfile = optarg;
			break;
		case OPT_RI_FULL:
			pubflags |= PGFLO_PUB_RI_FULL;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind != argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument '%s'",
		    argv[optind]);
	if (slot == NULL)
		pgflo_usage_error(SYNOPSIS, "-S is required");
	if (!pgflo_slot_name_ok(slot))
		pgflo_usage_error(SYNOPSIS, "bad slot name '%s': use 1 to 63 "
		    "of a-z, 0-9, _", slot);
	if (pubflags != 0 && tablepats.len == 0)
		pgflo_usage_error(SYNOPSIS, "--publish-inserts-only and "
		    "--replica-identity-full need -t");
	if (pubflags == (PGFLO_PUB_INSERTS_ONLY | PGFLO_PUB_RI_FULL))
		pgflo_usage_error(SYNOPSIS, "--publish-inserts-only and "
		    "--replica-identity-full exclude each other");
	if (pubname == NULL)
		pubname = slot;
	if (endarg != NULL && pgflo_lsn_parse(endarg, &dec->endpos) == -1)
		pgflo_usage_error(SYNOPSIS, "bad LSN '%s'", endarg);
	if (startarg != NULL && (pgflo_pos_parse(startarg, &startpos) == -1 ||
	    startpos.commit_lsn == 0))
		pgflo_usage_error(SYNOPSIS, "bad start position '%s'",
		    startarg);
	/* A bare LSN is a place to start from, not a record to skip. */
	if (startarg != NULL && strchr(startarg, ':') == NULL &&
	    strchr(startarg, '{') == NULL)
		startpos.ordinal = 0, dec->skip.commit_lsn = 0;
	else
		dec->skip = startpos;
	if (pgflo_pg_conninfo_ok(conninfo, errbuf, sizeof(errbuf)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", errbuf);
}

/* The checkpoint store: where to start, what a copy made durable. */
static void
open_store(void)
{
	if ((store = pgflo_store_open(cpurl, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	poll_checkpoint();
	if (startarg == NULL && cp_pos.commit_lsn != 0)
		startpos = dec->skip = cp_pos;
	load_copied();
	if (copied.slot != NULL && strcmp(copied.slot, slot) == 0)
		dec->copied = &copied;
}

/* Connects and streams, reconnecting; returns once stopped or at endpos. */
static void
run(void)
{
	struct pgflo_backoff bo;
	int first = 1;

	pgflo_backoff_init(&bo, 1000, 30000);
	for (;;) {
		if (connect_both(first) == -1) {
			/* A refused login does not mend: exit 2, no retry. */
			if (first || noloop ||
			    pgflo_pg_connect_status() == PGFLO_EXIT_USAGE)
				pgflo_errx(pgflo_pg_connect_status(), "could "
				    "not connect: %s", errbuf);
			pgflo_warnx("could not connect: %s; retrying in %lds",
			    errbuf, pgflo_backoff_ms(&bo) / 1000);
			goto retry;
		}
		if (first) {
			setup();
			if (dropflag)
				return;
			first = 0;
		}
		if (pgflo_repl_start(repl, slot, startpos.commit_lsn, pubname,
		    errbuf, sizeof(errbuf)) == -1) {
			if (PQstatus(repl) == CONNECTION_OK)
				pgflo_errx(PGFLO_EXIT_FAIL, "%s", errbuf);
			if (noloop)
				pgflo_errx(PGFLO_EXIT_UNAVAIL, "%s", errbuf);
			goto retry;
		}
		streaming = 1;
		pgflo_backoff_reset(&bo);
		if (stream() == ST_STOP)
			return;
		/* Lost: resume after what was written, without repeating it. */
		if (noloop)
			pgflo_errx(PGFLO_EXIT_UNAVAIL, "connection lost: %s",
			    errbuf);
		pgflo_warnx("connection lost: %s; reconnecting in %lds",
		    errbuf, pgflo_backoff_ms(&bo) / 1000);
		metrics.errors++;
		if (dec->written.commit_lsn != 0 &&
		    pgflo_pos_cmp(&dec->written, &dec->skip) > 0)
			dec->skip = dec->written;
		startpos.commit_lsn = sent_flush;
		dec->in_tx = 0;
retry:
		disconnect();
		metrics.retries++;
		pgflo_metrics_tick(&metrics);
		if (pgflo_backoff_sleep(&bo) == -1)
			return;
	}
}

int
main(int argc, char *argv[])
{
	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	dec = pgflo_pgoutput_new();
	dec->emit = emit;
	parse_args(argc, argv);
	if (cpurl != NULL && !dropflag)
		open_store();
	dec->slot = slot;
	dec->track_ddl = track_ddl;

	if (!dropflag) {
		if (pgflo_metrics_init(&metrics, metricsfile, "capture",
		    "slot", slot, errbuf, sizeof(errbuf)) == -1)
			pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
		atexit(metrics_atexit);
	}
	pgflo_catch_signals();
	pgflo_out_init();
	pgflo_out_flush_when_idle();	/* stream() flushes after each drain */
	pgflo_out_clean_stop();
	types = pgflo_typecache_new(NULL);
	dec->types = types;
	run();
	if (dropflag) {
		finish();
		return 0;
	}
	if (pgflo_out_flush(1) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	flushed_lsn = dec->done;
	poll_checkpoint();
	finish();
	if (pgflo_out_close() == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
