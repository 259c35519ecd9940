/*
 * frontsink.c - the front end's own durable stages for pg_flo's JSON,
 * which no pgflo sink reads (pgflo(1), worker stdout and file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "frontsink.h"
#include "output.h"
#include "reader.h"

/*
 * worker stdout and file: pgflo-format writes pg_flo's JSON, which no
 * pgflo sink reads, so the front end is the durable stage.  stamp()
 * follows each transaction (and each record outside one) with a
 * position record, which pgflo-format passes through in order; split()
 * writes the other lines out and sends a position on to
 * pgflo-checkpoint only once the lines before it are written (stdout)
 * or on disk (file).
 */
int
pgflo_fe_stamp(void *arg)
{
	const char *group = arg, *op;
	struct pgflo_reader in;
	char *line;
	size_t len;
	json_t *r, *pos, *v;
	int intx = 0, rv = 0, got;

	pgflo_out_init();
	pgflo_reader_open(&in, STDIN_FILENO, "<stdin>");
	/* The reader's waits notice a reader of stdout gone, input or not. */
	while ((got = pgflo_reader_next(&in)) == 1) {
		line = in.line;
		len = in.len;
		fwrite(line, 1, len, stdout);
		putchar('\n');
		if (strstr(line, "\"stream_seq\"") == NULL ||
		    (r = json_loadb(line, len, 0, NULL)) == NULL) {
			fflush(stdout);
			continue;
		}
		op = json_string_value(json_object_get(r, "op"));
		if (op != NULL && strcmp(op, "begin") == 0)
			intx = 1;
		else if (op != NULL && strcmp(op, "position") != 0 &&
		    (strcmp(op, "commit") == 0 || !intx)) {
			intx = 0;
			pos = json_pack("{ss}", "op", "position");
			if ((v = json_object_get(r, "commit_lsn")) != NULL &&
			    strcmp(op, "commit") == 0) {
				json_object_set(pos, "commit_lsn", v);
				json_object_set(pos, "ordinal",
				    json_object_get(r, "ordinal"));
			}
			json_object_set(pos, "stream_seq",
			    json_object_get(r, "stream_seq"));
			json_object_set_new(pos, "group", json_string(group));
			json_dumpf(pos, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(pos);
		}
		json_decref(r);
		if (fflush(stdout) != 0)
			break;
	}
	if (got == -1) {
		pgflo_warnx("stdout worker: %s", in.errmsg);
		rv = PGFLO_EXIT_FAIL;
	} else if (ferror(stdout)) {
		pgflo_warn("stdout worker");
		rv = PGFLO_EXIT_FAIL;
	}
	pgflo_reader_close(&in);
	return rv;
}

#define FILE_MAX_BYTES	(100L * 1024 * 1024)	/* pg_flo's file sink */
#define FILE_MAX_MS	(3600L * 1000)

/* file: DIR/pg_flo_log_<UTC time>.jsonl, appended, as pg_flo names it. */
static int
fe_open(struct pgflo_fe_split *sp)
{
	struct pgflo_buf b = { 0 };
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	pgflo_buf_printf(&b, "%s/pg_flo_log_%s.jsonl", sp->dir, ts);
	fd = open(b.data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || (sp->fp = fdopen(fd, "a")) == NULL) {
		pgflo_warn("%s", b.data);
		pgflo_buf_free(&b);
		return -1;
	}
	pgflo_buf_free(&b);
	sp->opened_ms = pgflo_now_ms();
	sp->size = 0;
	return 0;
}

/* Makes what was written durable: flushed, and for a file synced. */
static int
fe_sync(struct pgflo_fe_split *sp)
{
	if (fflush(sp->fp) != 0)
		return -1;
	if (sp->out == -1 && fdatasync(fileno(sp->fp)) == -1)
		return -1;
	if (sp->out == -1 && (sp->size >= FILE_MAX_BYTES ||
	    pgflo_now_ms() - sp->opened_ms >= FILE_MAX_MS)) {
		if (fclose(sp->fp) != 0)
			return -1;
		sp->fp = NULL;
		return fe_open(sp);
	}
	return 0;
}

int
pgflo_fe_split(void *arg)
{
	struct pgflo_fe_split *sp = arg;
	struct pgflo_reader in;
	char *line;
	size_t len;
	int rv = 0, got, bad;

	if (sp->out != -1)
		sp->fp = fdopen(sp->out, "w");
	else if (fe_open(sp) == -1)
		return PGFLO_EXIT_FAIL;
	if (sp->fp == NULL)
		return PGFLO_EXIT_FAIL;
	/*
	 * The stdout worker's reader is the user's (| head): its waits
	 * watch that descriptor, so a reader gone ends the worker even
	 * while the stream is quiet.
	 */
	pgflo_out_init();
	if (sp->out != -1)
		pgflo_out_watch_other(sp->out);
	pgflo_reader_open(&in, STDIN_FILENO, "<stdin>");
	while ((got = pgflo_reader_next(&in)) == 1) {
		line = in.line;
		len = in.len;
		if (strncmp(line, "{\"op\":\"position\"", 16) == 0) {
			if (fe_sync(sp) == -1)
				break;
			fwrite(line, 1, len, stdout);
			putchar('\n');
			if (fflush(stdout) != 0)
				break;
			continue;
		}
		fwrite(line, 1, len, sp->fp);
		fputc('\n', sp->fp);
		sp->size += (off_t)len + 1;
		/* stdout: every record at once, as pg_flo prints it. */
		if (sp->out != -1 && fflush(sp->fp) != 0)
			break;
	}
	if (got == -1) {
		pgflo_warnx("%s worker: %s", sp->out != -1 ? "stdout" : "file",
		    in.errmsg);
		rv = PGFLO_EXIT_FAIL;
	}
	bad = ferror(stdout) || ferror(sp->fp);
	if (fclose(sp->fp) != 0)
		bad = 1;
	if (bad && rv == 0) {
		pgflo_warn("%s worker", sp->out != -1 ? "stdout" : "file");
		rv = PGFLO_EXIT_FAIL;
	}
	pgflo_reader_close(&in);
	return rv;
}

