/*
 * pgflo-checkpoint - store and read positions.
 *
 * --save STORE keeps the newest position record of its input (never
 * moving backwards) and stores it atomically, at most every --interval,
 * and at EOF or on SIGINT/SIGTERM.  --get STORE prints what is stored.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"

#define STOP_GRACE_MS	2000	/* reading on after SIGINT/SIGTERM */

#define SYNOPSIS \
	"pgflo-checkpoint [-tv] [-i interval] [--dead-letter file] -s store\n" \
	"       pgflo-checkpoint [-f field] [--default value] -g store"

enum { OPT_DEFAULT = 256, OPT_DEADLETTER };

static const struct option longopts[] = {
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "default",		required_argument, NULL, OPT_DEFAULT },
	{ "field",		required_argument, NULL, 'f' },
	{ "get",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "interval",		required_argument, NULL, 'i' },
	{ "save",		required_argument, NULL, 's' },
	{ "tee",		no_argument,	   NULL, 't' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int tflag, vflag;

static void
help(void)
{
	printf(
"pgflo-checkpoint stores and reads positions (LSN, stream sequence).\n"
"\n"
"Usage:\n"
"  pgflo-checkpoint [OPTION]... --save STORE   < records\n"
"  pgflo-checkpoint [OPTION]... --get STORE\n"
"\n"
"Options:\n"
"  -s, --save=STORE        keep the newest position record of stdin in STORE\n"
"  -g, --get=STORE         print the position held by STORE\n"
"  -i, --interval=SECS     store at most this often (default 1s; 0: every\n"
"                          position)\n"
"  -t, --tee               copy every input record to stdout\n"
"      --dead-letter=FILE  write bad input lines to FILE and go on\n"
"  -f, --field=NAME        with --get: print only commit_lsn, ordinal or\n"
"                          stream_seq\n"
"      --default=VALUE     with --get: print VALUE when nothing is stored\n"
"  -v, --verbose           report what was stored at exit\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"STORE is file:PATH (or a plain PATH).\n"
"Environment: PGFLO_CHECKPOINT_INTERVAL, PGFLO_MAX_RECORD, PGFLO_FLUSH.\n"
"Exit status: 0 ok or stopped, 1 data or I/O failure, 2 usage, 141 reader\n"
"gone (SIGPIPE).\n");
}

static int
get(const char *url, const char *field, const char *dflt)
{
	struct pgflo_store *st;
	struct pgflo_pos pos;
	char errbuf[512], lsn[PGFLO_LSN_BUFSZ];
	json_t *rec = NULL;
	int r;

	if ((st = pgflo_store_open(url, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	r = pgflo_store_get(st, &pos, &rec);
	if (r == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", st->errmsg);
	if (r == 0) {
		pgflo_store_close(st);
		if (dflt == NULL)
			pgflo_errx(PGFLO_EXIT_FAIL, "no position stored in %s",
			    url);
		printf("%s\n", dflt);
		return 0;
	}
	if (field == NULL)
		r = pgflo_out_json(rec);
	else if (strcmp(field, "commit_lsn") == 0 && pos.commit_lsn != 0)
		r = printf("%s\n", pgflo_lsn_format(pos.commit_lsn, lsn));
	else if (strcmp(field, "ordinal") == 0 && pos.commit_lsn != 0)
		r = printf("%llu\n", (unsigned long long)pos.ordinal);
	else if (strcmp(field, "stream_seq") == 0 && pos.stream_seq != 0)
		r = printf("%llu\n", (unsigned long long)pos.stream_seq);
	else
		pgflo_errx(PGFLO_EXIT_FAIL, "position in %s has no %s", url,
		    field);
	json_decref(rec);
	pgflo_store_close(st);
	return r < 0 ? -1 : 0;
}

/* Stores doc (borrowed); exits on failure. */
static void
put(struct pgflo_store *st, const json_t *doc)
{
	if (pgflo_store_put(st, doc) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", st->errmsg);
}

/*
 * The document kept: the newest position record, never moving
 * backwards, with the copy progress of the snapshot records merged into
 * its "copy" member (copyprog.c).  Returns 1 when doc changed.
 */
static int
keep(struct pgflo_reader *rd, json_t **doc, struct pgflo_pos *best,
    json_t *rec)
{
	struct pgflo_pos pos;
	json_t *copy;
	char why[256];
	int r;

	switch (pgflo_rec_op(rec)) {
	case PGFLO_OP_POSITION:
		if (pgflo_pos_from_json(rec, &pos) == -1 ||
		    !pgflo_pos_is_set(&pos)) {
			if (pgflo_reader_reject(rd, "%s:%lu: malformed position "
			    "record", rd->name, rd->lineno) == -1)
				pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd->errmsg);
			return 0;
		}
		if (pgflo_pos_is_set(best) && pgflo_pos_cmp(&pos, best) <= 0)
			return 0;	/* never move backwards */
		*best = pos;
		rec = json_deep_copy(rec);
		json_object_del(rec, "copy");
		if (*doc != NULL &&
		    (copy = json_object_get(*doc, "copy")) != NULL)
			json_object_set(rec, "copy", copy);
		json_decref(*doc);
		*doc = rec;
		return 1;
	case PGFLO_OP_SNAPSHOT:
		if (*doc == NULL)
			*doc = json_pack("{s:s}", "op", "position");
		if ((r = pgflo_copyprog_merge(*doc, rec, why,
		    sizeof(why))) == -1 && pgflo_reader_reject(rd, "%s:%lu: %s",
		    rd->name, rd->lineno, why) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd->errmsg);
		return r == 1;
	default:
		return 0;
	}
}

static int
save(const char *url, long interval_ms, const char *deadletter)
{
	struct pgflo_reader rd;
	struct pgflo_store *st;
	struct pgflo_pos best;
	json_t *rec, *doc = NULL;
	char errbuf[512], lsn[PGFLO_LSN_BUFSZ];
	long last = 0, grace_end = 0;
	int r, dirty = 0;

	if ((st = pgflo_store_open(url, errbuf, sizeof(errbuf))) == NULL)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", errbuf);
	/* Start from what is stored, so a replay never moves it back. */
	memset(&best, 0, sizeof(best));
	if (pgflo_store_get_doc(st, &doc) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", st->errmsg);
	if (doc != NULL)
		(void)pgflo_pos_from_json(doc, &best);
	if (pgflo_reader_open(&rd, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);
	if (deadletter != NULL &&
	    pgflo_reader_set_deadletter(&rd, deadletter) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", rd.errmsg);

	for (;;) {
		int timeout = -1;

		if (dirty)
			timeout = (int)(interval_ms - (pgflo_now_ms() - last));
		if (pgflo_stopping()) {
			/*
			 * Ctrl-C stops the stages upstream too, and their last
			 * positions are still on the way: read on to their
			 * EOF, for STOP_GRACE_MS at most.
			 */
			if (grace_end == 0)
				grace_end = pgflo_now_ms() + STOP_GRACE_MS;
			if (pgflo_now_ms() >= grace_end)
				break;
			if (timeout < 0 || grace_end - pgflo_now_ms() < timeout)
				timeout = (int)(grace_end - pgflo_now_ms());
		}
		if (dirty && timeout <= 0)
			r = 2;
		else
			r = pgflo_reader_next_timeout(&rd,
			    timeout < 0 ? -1 : timeout);
		if (r == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd.errmsg);
		if (r == 0 && !rd.eof)
			continue;	/* a stop signal: see above */
		if (r == 0)
			break;
		if (r == 2) {
			/* Quiet upstream or interval due: store now. */
			if (dirty) {
				put(st, doc);
				dirty = 0;
				last = pgflo_now_ms();
			}
			continue;
		}
		if (tflag && pgflo_out_line(rd.line, rd.len) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		if ((rec = pgflo_reader_record(&rd)) == NULL) {
			if (pgflo_reader_reject(&rd, NULL) == -1)
				pgflo_errx(PGFLO_EXIT_FAIL, "%s", rd.errmsg);
			continue;
		}
		if (keep(&rd, &doc, &best, rec))
			dirty = 1;
		json_decref(rec);
		if (dirty && (interval_ms == 0 ||
		    pgflo_now_ms() - last >= interval_ms)) {
			put(st, doc);
			dirty = 0;
			last = pgflo_now_ms();
		}
	}
	if (dirty)
		put(st, doc);
	if (vflag) {
		if (pgflo_pos_is_set(&best))
			pgflo_warnx("stored position %s:%llu%s in %s",
			    best.commit_lsn != 0 ?
			    pgflo_lsn_format(best.commit_lsn, lsn) : "-",
			    (unsigned long long)best.ordinal,
			    best.stream_seq != 0 ? " (with stream_seq)" : "",
			    url);
		else
			pgflo_warnx("no position seen; %s unchanged", url);
		if (rd.nbad > 0)
			pgflo_warnx("%lu bad lines written to %s", rd.nbad,
			    deadletter);
	}
	json_decref(doc);
	pgflo_reader_close(&rd);
	pgflo_store_close(st);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *savestore = NULL, *getstore = NULL, *field = NULL;
	const char *dflt = NULL, *deadletter = NULL, *iv;
	long interval_ms;
	int ch;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	iv = pgflo_env("CHECKPOINT_INTERVAL", "1s");
	if (pgflo_parse_duration_ms(iv, &interval_ms) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE,
		    "invalid PGFLO_CHECKPOINT_INTERVAL: %s", iv);
	while ((ch = getopt_long(argc, argv, "f:g:hi:s:tVv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			field = optarg;
			if (strcmp(field, "commit_lsn") != 0 &&
			    strcmp(field, "ordinal") != 0 &&
			    strcmp(field, "stream_seq") != 0)
				pgflo_errx(PGFLO_EXIT_USAGE, "invalid field: %s "
				    "(commit_lsn, ordinal or stream_seq)", field);
			break;
		case 'g':
			getstore = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'i':
			if (pgflo_parse_duration_ms(optarg, &interval_ms) == -1)
				pgflo_errx(PGFLO_EXIT_USAGE,
				    "invalid interval: %s", optarg);
			break;
		case 's':
			savestore = optarg;
			break;
		case 't':
			tflag = 1;
			break;
		case 'V':
			pgflo_print_version();
			return 0;
		case 'v':
			vflag = 1;
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_DEFAULT:
			dflt = optarg;
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc) {
		pgflo_warnx("unexpected argument: %s", argv[optind]);
		pgflo_usage_exit(SYNOPSIS);
	}
	if ((savestore == NULL) == (getstore == NULL)) {
		pgflo_warnx("give exactly one of --save or --get");
		pgflo_usage_exit(SYNOPSIS);
	}
	pgflo_out_init();
	if (getstore != NULL) {
		if (get(getstore, field, dflt) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
	} else {
		pgflo_catch_signals();
		pgflo_out_clean_stop();
		pgflo_out_watch(tflag);	/* without -t stdout is unused */
		save(savestore, interval_ms, deadletter);
	}
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	return 0;
}
