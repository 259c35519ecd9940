/*
 * pgflo - pg_flo's command lines and configuration file, run as pgflo
 * pipelines: "pgflo replicator ..." and "pgflo worker SINK ..." take
 * pg_flo's flags, PG_FLO_* variables and ~/.pg_flo.yaml, and run
 *
 *   { pgflo-copy && pgflo-capture; } | pgflo-publish | pgflo-checkpoint
 *   pgflo-consume | pgflo-rule | sink
 *
 * with pipe(2), fork(2) and execv(2) (pipeline.c): no shell, so no value
 * is ever quoted or parsed twice.  Passwords reach the tools through
 * their environment (PGPASSWORD) or a temporary passfile, never argv.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "frontsink.h"
#include "passfile.h"
#include "pfflags.h"
#include "pipeline.h"

#define SYNOPSIS \
	"pgflo [--config file] replicator [--flag value ...]\n" \
	"       pgflo [--config file] worker stdout|file|postgres|webhook\n" \
	"             [--flag value ...]"

#define T_STR	PGFLO_PF_STR
#define T_INT	PGFLO_PF_INT
#define T_BOOL	PGFLO_PF_BOOL
#define T_LIST	PGFLO_PF_LIST
#define T_DUR	PGFLO_PF_DUR

/* Which commands a flag belongs to. */
#define C_REPL		0x01
#define C_STDOUT	0x02
#define C_FILE		0x04
#define C_PG		0x08
#define C_HOOK		0x10
#define C_WORKER	(C_STDOUT | C_FILE | C_PG | C_HOOK)

static struct pgflo_pf flags[] = {
	{ "host", T_STR, C_REPL, NULL, "source host", NULL, 0, 0 },
	{ "port", T_INT, C_REPL, "5432", "source port", NULL, 0, 0 },
	{ "dbname", T_STR, C_REPL, NULL, "source database", NULL, 0, 0 },
	{ "user", T_STR, C_REPL, NULL, "source user", NULL, 0, 0 },
	{ "password", T_STR, C_REPL, NULL, "source password", NULL, 0, 1 },
	{ "group", T_STR, C_REPL | C_WORKER, NULL,
	    "replication group: slot, stream and positions", NULL, 0, 0 },
	{ "schema", T_STR, C_REPL | C_PG, "public", "schema of --tables",
	    NULL, 0, 0 },
	{ "tables", T_LIST, C_REPL | C_PG, NULL,
	    "tables to replicate (default: all of --schema)", NULL, 0, 0 },
	{ "nats-url", T_STR, C_REPL | C_WORKER, NULL, "NATS server URL",
	    NULL, 0, 0 },
	{ "stream", T_BOOL, C_REPL, "false", "stream changes (the default)",
	    NULL, 0, 0 },
	{ "copy-and-stream", T_BOOL, C_REPL, "false",
	    "copy the tables, then stream", NULL, 0, 0 },
	{ "copy", T_BOOL, C_REPL, "false", "copy the tables, then exit",
	    NULL, 0, 0 },
	{ "max-copy-workers-per-table", T_INT, C_REPL, "4",
	    "copy connections (in all)", NULL, 0, 0 },
	{ "track-ddl", T_BOOL, C_REPL, "false", "capture DDL", NULL, 0, 0 },
	{ "retry-max-attempts", T_INT, C_REPL, "3", "accepted, unused",
	    NULL, 0, 0 },
	{ "retry-initial-wait", T_DUR, C_REPL, "1s", "accepted, unused",
	    NULL, 0, 0 },
	{ "retry-max-wait", T_DUR, C_REPL, "8s", "accepted, unused",
	    NULL, 0, 0 },
	{ "rules-config", T_STR, C_WORKER, NULL, "pg_flo rules file",
	    NULL, 0, 0 },
	{ "routing-config", T_STR, C_WORKER, NULL, "pg_flo routing file",
	    NULL, 0, 0 },
	{ "batch-size", T_INT, C_WORKER, "1000", "rows per target commit",
	    NULL, 0, 0 },
	{ "file-output-dir", T_STR, C_FILE, NULL, "directory of the files",
	    NULL, 0, 0 },
	{ "target-host", T_STR, C_PG, NULL, "target host", NULL, 0, 0 },
	{ "target-port", T_INT, C_PG, "5432", "target port", NULL, 0, 0 },
	{ "target-dbname", T_STR, C_PG, NULL, "target database", NULL, 0, 0 },
	{ "target-user", T_STR, C_PG, NULL, "target user", NULL, 0, 0 },
	{ "target-password", T_STR, C_PG, NULL, "target password",
	    NULL, 0, 1 },
	{ "target-sync-schema", T_BOOL, C_PG, "false",
	    "copy the schema first (pgflo-schema)", NULL, 0, 0 },
	{ "target-disable-foreign-keys", T_BOOL, C_PG, "false",
	    "apply with triggers and FKs off", NULL, 0, 0 },
	{ "source-host", T_STR, C_PG, NULL, "schema sync: source host",
	    NULL, 0, 0 },
	{ "source-port", T_INT, C_PG, "5432", "schema sync: source port",
	    NULL, 0, 0 },
	{ "source-dbname", T_STR, C_PG, NULL, "schema sync: source database",
	    NULL, 0, 0 },
	{ "source-user", T_STR, C_PG, NULL, "schema sync: source user",
	    NULL, 0, 0 },
	{ "source-password", T_STR, C_PG, NULL,
	    "schema sync: source password", NULL, 0, 1 },
	{ "webhook-url", T_STR, C_HOOK, NULL, "the webhook", NULL, 0, 0 },
};
#define NFLAGS	(sizeof(flags) / sizeof(flags[0]))

static const char *cfgfile;
static int cmd;			/* C_REPL or one worker sink */
static const char *cmdname = "";
static char *words[4];
static int nwords;

static void
help(void)
{
	printf(
"pgflo runs pg_flo's commands as pgflo pipelines: the same flags,\n"
"PG_FLO_* variables and config file (~/.pg_flo.yaml, keys = flag names).\n"
"\n"
"Usage:\n"
"  pgflo [--config FILE] replicator [FLAG]...\n"
"  pgflo [--config FILE] worker stdout|file|postgres|webhook [FLAG]...\n"
"  pgflo version\n"
"\n"
"replicator: --host --port --dbname --user --password --group --schema\n"
"  --tables --nats-url --stream | --copy-and-stream | --copy\n"
"  --max-copy-workers-per-table --track-ddl --retry-max-attempts\n"
"  --retry-initial-wait --retry-max-wait\n"
"worker: --group --nats-url --rules-config --routing-config --batch-size\n"
"  file: --file-output-dir     webhook: --webhook-url\n"
"  postgres: --target-host --target-port --target-dbname --target-user\n"
"  --target-password --target-sync-schema --target-disable-foreign-keys\n"
"  --source-host --source-port --source-dbname --source-user\n"
"  --source-password --schema --tables\n"
"\n"
"Flags are --name VALUE or --name=VALUE; each has the variable\n"
"PG_FLO_NAME (upper case, - as _).  A flag beats the variable, which beats\n"
"the config file.  --password on the command line is visible to others.\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Exit status: 0 ok or stopped, 1 failure, 2 usage, bad config or tool\n"
"missing, 3 server unavailable, 141 reader gone (SIGPIPE).\n");
}

static struct pgflo_pf_set fset = { flags, NFLAGS, NULL };

#define lookup(name, len)	pgflo_pf_lookup(&fset, (name), (len))
#define get(name)		pgflo_pf_get(&fset, (name))
#define on(name)		pgflo_pf_on(&fset, (name))
#define env_name(f, b, l)	pgflo_pf_env_name((f), (b), (l))
#define parse_bool(s, o)	pgflo_pf_bool((s), (o))

static void
read_env(void)
{
	char err[400];

	if (pgflo_pf_env(&fset, err, sizeof(err)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", err);
}

/* Hides a password given on argv from ps(1), as far as Linux lets us. */
static void
scrub(char *s)
{
	for (; *s != '\0'; s++)
		*s = 'x';
}

static void
parse_argv(int argc, char *argv[])
{
	struct pgflo_pf *f;
	char msg[300], *a, *eq, *v;
	int i, dashdash = 0;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (dashdash || a[0] != '-' || a[1] == '\0') {
			if (nwords == 4)
				pgflo_usage_error(SYNOPSIS, "too many "
				    "arguments: %s", a);
			words[nwords++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help();
			exit(0);
		}
		if (a[1] != '-')
			pgflo_usage_error(SYNOPSIS, "unknown shorthand flag: "
			    "%s", a);
		a += 2;
		eq = strchr(a, '=');
		if (strncmp(a, "config", eq ? (size_t)(eq - a) : strlen(a))
		    == 0 && (eq ? (size_t)(eq - a) : strlen(a)) == 6) {
			if (eq == NULL && i + 1 >= argc)
				pgflo_usage_error(SYNOPSIS, "--config needs a "
				    "file");
			cfgfile = eq != NULL ? eq + 1 : argv[++i];
			continue;
		}
		f = lookup(a, eq ? (size_t)(eq - a) : strlen(a));
		if (f == NULL)
			pgflo_usage_error(SYNOPSIS, "unknown flag: %s",
			    argv[i]);
		if (eq != NULL)
			v = eq + 1;
		else if (f->type == T_BOOL)
			v = "true";
		else if (i + 1 < argc)	/* as pflag: whatever comes next */
			v = argv[++i];
		else
			pgflo_usage_error(SYNOPSIS, "--%s needs a value",
			    f->name);
		if (pgflo_pf_set(f, v, PGFLO_PF_ARGV, msg, sizeof(msg)) == -1)
			pgflo_usage_error(SYNOPSIS, "%s", msg);
		if (f->secret) {
			pgflo_warnx("warning: --%s on the command line is "
			    "visible to other users (ps); use %s, the config "
			    "file or ~/.pgpass", f->name,
			    env_name(f->name, msg, sizeof(msg)));
			scrub(v);
		}
	}
}

static void
pick_command(void)
{
	static const struct { const char *name; int c; } sinks[] = {
		{ "stdout", C_STDOUT }, { "file", C_FILE },
		{ "postgres", C_PG }, { "webhook", C_HOOK },
	};
	size_t i;

	if (nwords == 0)
		pgflo_usage_error(SYNOPSIS, "a command is required: "
		    "replicator or worker");
	if (strcmp(words[0], "version") == 0) {
		pgflo_print_version();
		exit(0);
	}
	if (strcmp(words[0], "help") == 0) {
		help();
		exit(0);
	}
	if (strcmp(words[0], "replicator") == 0 && nwords == 1) {
		cmd = C_REPL;
		cmdname = "replicator";
		return;
	}
	if (strcmp(words[0], "worker") == 0 && nwords == 2)
		for (i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
			if (strcmp(words[1], sinks[i].name) == 0) {
				cmd = sinks[i].c;
				cmdname = sinks[i].name;
				return;
			}
	if (strcmp(words[0], "worker") == 0 && nwords < 2)
		pgflo_usage_error(SYNOPSIS, "worker needs a sink: stdout, "
		    "file, postgres or webhook");
	pgflo_usage_error(SYNOPSIS, "unknown command: %s%s%s", words[0],
	    nwords > 1 ? " " : "", nwords > 1 ? words[1] : "");
}

static void
load_config(void)
{
	char err[600], *home, path[4096];
	struct stat sb;

	if (cfgfile == NULL && (home = getenv("HOME")) != NULL) {
		snprintf(path, sizeof(path), "%s/.pg_flo.yaml", home);
		if (stat(path, &sb) == 0)
			cfgfile = pgflo_xstrdup(path);
	}
	if (cfgfile == NULL)
		return;
	if (pgflo_pf_config(&fset, cfgfile, err, sizeof(err)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s", err);
	fprintf(stderr, "Using config file: %s\n", cfgfile);
}

/* Every flag given must belong to the command, as cobra checks. */
static void
check_flags(void)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (flags[i].from == PGFLO_PF_ARGV && !(flags[i].cmds & cmd))
			pgflo_usage_error(SYNOPSIS, "unknown flag: --%s "
			    "(not a flag of %s)", flags[i].name, cmdname);
	for (i = 0; i < NFLAGS; i++)
		if (flags[i].val == NULL && flags[i].dflt != NULL)
			flags[i].val = pgflo_xstrdup(flags[i].dflt);
}

static void
require(const char *name)
{
	char env[80];

	if (get(name) == NULL)
		pgflo_usage_error(SYNOPSIS, "missing required configuration: "
		    "%s (--%s, %s or the config file)", name, name,
		    env_name(name, env, sizeof(env)));
}

/* Adds key='value' to a conninfo string, quoted as libpq reads it. */
static void
conn_add(struct pgflo_buf *b, const char *key, const char *val)
{
	if (val == NULL)
		return;
	if (b->len > 0)
		pgflo_buf_putc(b, ' ');
	pgflo_buf_printf(b, "%s='", key);
	for (; *val != '\0'; val++) {
		if (*val == '\'' || *val == '\\')
			pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, *val);
	}
	pgflo_buf_putc(b, '\'');
}

/* The conninfo of the flags host, port, ... after prefix; new string. */
static char *
conninfo(const char *prefix)
{
	static const char *keys[] = { "host", "port", "dbname", "user" };
	struct pgflo_buf b = { 0 };
	char name[64];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, keys[i]);
		conn_add(&b, keys[i], get(name));
	}
	return pgflo_buf_cstr(&b);
}

/* "PGPASSWORD=..." for the child of one connection, or NULL; new. */
static char *
password_env(const char *prefix)
{
	struct pgflo_buf b = { 0 };
	char name[64];
	const char *pw;

	snprintf(name, sizeof(name), "%spassword", prefix);
	if ((pw = get(name)) == NULL)
		return NULL;
	pgflo_buf_printf(&b, "PGPASSWORD=%s", pw);
	return pgflo_buf_cstr(&b);
}

/* pg_flo's name of both the slot and the publication of a group. */
static char *
slot_name(void)
{
	struct pgflo_buf b = { 0 };
	const char *g;

	pgflo_buf_puts(&b, "pg_flo_");
	for (g = get("group"); *g != '\0'; g++)
		pgflo_buf_putc(&b, *g == '-' ? '_' : *g);
	pgflo_buf_puts(&b, "_publication");
	return pgflo_buf_cstr(&b);
}

/* --tables as pgflo patterns: schema.table each, or schema.* for all. */
static char *
table_patterns(void)
{
	struct pgflo_buf b = { 0 };
	const char *schema = get("schema"), *t, *end, *s, *e;

	if (schema == NULL)
		schema = "public";
	if ((t = get("tables")) == NULL) {
		pgflo_buf_printf(&b, "%s.*", schema);
		return pgflo_buf_cstr(&b);
	}
	for (;;) {
		end = strchr(t, ',');
		if (end == NULL)
			end = t + strlen(t);
		for (s = t; s < end && isspace((unsigned char)*s); s++)
			;
		for (e = end; e > s && isspace((unsigned char)e[-1]); e--)
			;
		if (e > s) {
			if (b.len > 0)
				pgflo_buf_putc(&b, ',');
			/* pg_flo prefixes --schema; schema.table is ours. */
			if (memchr(s, '.', (size_t)(e - s)) == NULL)
				pgflo_buf_printf(&b, "%s.", schema);
			pgflo_buf_putn(&b, s, (size_t)(e - s));
		}
		if (*end == '\0')
			break;
		t = end + 1;
	}
	if (b.len == 0)
		pgflo_buf_printf(&b, "%s.*", schema);
	return pgflo_buf_cstr(&b);
}

/* Exits 2 unless every tool of the pipeline is there. */
static void
need_tools(struct pgflo_stage *st, size_t n)
{
	struct pgflo_stage *s;
	char *p;
	size_t i;

	for (i = 0; i < n; i++)
		for (s = &st[i]; s != NULL; s = s->then) {
			if (s->fn != NULL)
				continue;
			if ((p = pgflo_tool_path(s->argv[0])) == NULL)
				pgflo_errx(PGFLO_EXIT_USAGE, "%s %s needs %s, "
				    "which is not built or installed",
				    cmd == C_REPL ? "replicator" : "worker",
				    cmd == C_REPL ? "" : cmdname, s->argv[0]);
			free(p);
		}
}

static void
stage(struct pgflo_stage *st, const char *tool)
{
	memset(st, 0, sizeof(*st));
	st->argv[0] = tool;
}

#define ARG(st, a)	pgflo_stage_arg((st), (a))

static int
run_replicator(void)
{
	struct pgflo_stage st[3], copy, capture;
	char *conn, *pw, *slot, *tables, store[256];
	int rv;

	require("dbname");
	if (on("stream") + on("copy") + on("copy-and-stream") > 1)
		pgflo_usage_error(SYNOPSIS, "cannot specify multiple modes: "
		    "use --stream, --copy-and-stream, or --copy");
	conn = conninfo("");
	pw = password_env("");
	slot = slot_name();
	tables = table_patterns();
	/* A copy only has no slot: its progress must not pass for one's. */
	snprintf(store, sizeof(store), "nats:pgflo/%s%s", get("group"),
	    on("copy") ? ".copy" : "");

	stage(&copy, "pgflo-copy");
	ARG(&copy, "-d"); ARG(&copy, conn);
	if (on("copy"))
		ARG(&copy, "--no-slot");
	else {
		ARG(&copy, "-S"); ARG(&copy, slot);
		ARG(&copy, "-P"); ARG(&copy, slot);
		ARG(&copy, "-c"); ARG(&copy, store);
	}
	ARG(&copy, "-t"); ARG(&copy, tables);
	ARG(&copy, "-j"); ARG(&copy, get("max-copy-workers-per-table"));
	ARG(&copy, "--no-progress");

	stage(&capture, "pgflo-capture");
	ARG(&capture, "-d"); ARG(&capture, conn);
	ARG(&capture, "-S"); ARG(&capture, slot);
	ARG(&capture, "-P"); ARG(&capture, slot);
	ARG(&capture, "-t"); ARG(&capture, tables);
	ARG(&capture, "-c"); ARG(&capture, store);
	ARG(&capture, "--create-slot");
	if (on("track-ddl"))
		ARG(&capture, "--track-ddl");
	if (pw != NULL) {
		pgflo_stage_env(&copy, pw);
		pgflo_stage_env(&capture, pw);
	}

	if (on("copy"))
		st[0] = copy;
	else if (on("copy-and-stream")) {
		st[0] = copy;
		st[0].then = &capture;
	} else
		st[0] = capture;
	stage(&st[1], "pgflo-publish");
	ARG(&st[1], "--stream"); ARG(&st[1], get("group"));
	ARG(&st[1], "--create");
	stage(&st[2], "pgflo-checkpoint");
	ARG(&st[2], "--save"); ARG(&st[2], store);
	st[2].devnull_out = 1;
	need_tools(st, 3);
	rv = pgflo_pipeline_run(st, 3);
	free(conn);
	free(pw);
	free(slot);
	free(tables);
	return rv;
}

/*
 * The source's and the target's passwords in a temporary passfile;
 * "PGPASSFILE=path", new, and its path in *path.
 */
static char *
passfile(char **path)
{
	static const char *pre[] = { "source-", "target-" };
	struct pgflo_pass e[2];
	struct pgflo_buf b = { 0 };
	char name[5][64];
	size_t i, n = 0;

	for (i = 0; i < 2; i++) {
		snprintf(name[0], 64, "%shost", pre[i]);
		snprintf(name[1], 64, "%sport", pre[i]);
		snprintf(name[2], 64, "%sdbname", pre[i]);
		snprintf(name[3], 64, "%suser", pre[i]);
		snprintf(name[4], 64, "%spassword", pre[i]);
		if (get(name[4]) == NULL)
			continue;
		e[n].host = get(name[0]);
		e[n].port = get(name[1]);
		e[n].dbname = get(name[2]);
		e[n].user = get(name[3]);
		e[n++].password = get(name[4]);
	}
	if ((*path = pgflo_passfile_new(e, n)) == NULL)
		pgflo_err(PGFLO_EXIT_FAIL, "temporary password file");
	pgflo_buf_printf(&b, "PGPASSFILE=%s", *path);
	return pgflo_buf_cstr(&b);
}

/* --target-sync-schema: pgflo-schema copies the tables' schema. */
static int
sync_schema(const char *target, const char *section)
{
	struct pgflo_stage st;
	char *src, *tables, *env, *path;
	int rv;

	require("source-dbname");
	src = conninfo("source-");
	tables = table_patterns();
	stage(&st, "pgflo-schema");
	ARG(&st, "-d"); ARG(&st, src);
	ARG(&st, "-D"); ARG(&st, target);
	ARG(&st, "-t"); ARG(&st, tables);
	/* pg_flo syncs at every start: what exists already is left. */
	ARG(&st, "--section"); ARG(&st, section);
	ARG(&st, "--if-missing");
	need_tools(&st, 1);
	env = path = NULL;
	if (get("source-password") != NULL || get("target-password") != NULL) {
		env = passfile(&path);
		pgflo_stage_env(&st, env);
	}
	rv = pgflo_pipeline_run(&st, 1);
	if (path != NULL)
		unlink(path);
	free(path);
	free(env);
	free(src);
	free(tables);
	return rv;
}

/*
 * Where a sink's own records say it is, for --from: what "TOOL -d DEST
 * -g GROUP --position" prints, or "first" when it holds nothing yet
 * (status 1, with sink-pg's stream_seq 0 or no output).  Returns 0, or
 * the tool's failing status.
 */
static int
sink_position(const char *tool, const char *dest, const char *pw,
    const char *prefix, struct pgflo_buf *pos)
{
	struct pgflo_stage st;
	int rv;

	stage(&st, tool);
	ARG(&st, "-d"); ARG(&st, dest);
	ARG(&st, "-g"); ARG(&st, get("group"));
	if (prefix != NULL) {
		ARG(&st, "-P"); ARG(&st, prefix);
	}
	ARG(&st, "--position");
	if (pw != NULL)
		pgflo_stage_env(&st, pw);
	need_tools(&st, 1);
	if ((rv = pgflo_stage_output(&st, pos)) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "%s --position", tool);
	while (pos->len > 0 && pos->data[pos->len - 1] == '\n')
		pos->data[--pos->len] = '\0';
	if (rv == 0 && pos->len > 0)
		return 0;
	if (rv == 1) {
		/* Nothing applied yet: sink-pg prints stream_seq 0. */
		if (pos->len == 0)
			pgflo_buf_puts(pos, "first");
		pgflo_buf_cstr(pos);
		return 0;
	}
	pgflo_warnx("%s --position exited with status %d", tool, rv);
	return rv == 0 ? PGFLO_EXIT_FAIL : rv;
}

static struct pgflo_fe_split split_arg;

/*
 * The worker's pipeline; with nowait, only up to the end of the stream
 * as it is now (the catch-up before post-data).
 */
static int
worker_pipeline(int nowait)
{
	struct pgflo_stage st[6];
	struct pgflo_buf from = { 0 };
	const char *g = get("group");
	char store[256], *target = NULL, *pw = NULL;
	size_t n = 0, i;
	int rv = 0;

	snprintf(store, sizeof(store), "nats:pgflo/%s.%s", g, cmdname);
	pgflo_buf_puts(&from, store);
	if (cmd == C_PG) {
		target = conninfo("target-");
		pw = password_env("target-");
		if ((rv = sink_position("pgflo-sink-pg", target, pw, NULL,
		    &from)) != 0)
			goto out;
	}
	if (cmd == C_FILE) {
		require("file-output-dir");
		if (mkdir(get("file-output-dir"), 0750) == -1 &&
		    errno != EEXIST)
			pgflo_err(PGFLO_EXIT_USAGE, "%s",
			    get("file-output-dir"));
	}
	if (cmd == C_HOOK)
		require("webhook-url");

	stage(&st[n], "pgflo-consume");
	ARG(&st[n], "--stream"); ARG(&st[n], g);
	ARG(&st[n], "--from"); ARG(&st[n], pgflo_buf_cstr(&from));
	if (nowait)
		ARG(&st[n], "--no-wait");
	n++;
	if (get("rules-config") != NULL || get("routing-config") != NULL) {
		stage(&st[n], "pgflo-rule");
		if (get("rules-config") != NULL) {
			ARG(&st[n], "-f"); ARG(&st[n], get("rules-config"));
		}
		if (get("routing-config") != NULL) {
			ARG(&st[n], "-r"); ARG(&st[n], get("routing-config"));
		}
		st[n++].filter = 1;
	}
	switch (cmd) {
	case C_PG:
		stage(&st[n], "pgflo-sink-pg");
		ARG(&st[n], "-d"); ARG(&st[n], target);
		ARG(&st[n], "-g"); ARG(&st[n], g);
		ARG(&st[n], "-b"); ARG(&st[n], get("batch-size"));
		ARG(&st[n], "--apply-ddl");
		if (on("target-disable-foreign-keys"))
			ARG(&st[n], "--disable-triggers");
		if (pw != NULL)
			pgflo_stage_env(&st[n], pw);
		st[n++].devnull_out = 1;
		break;
	case C_HOOK:
		stage(&st[n], "pgflo-sink-http");
		ARG(&st[n], "-u"); ARG(&st[n], get("webhook-url"));
		n++;
		break;
	default:	/* stdout, file */
		stage(&st[n], "");
		st[n].fn = pgflo_fe_stamp;
		st[n++].arg = (void *)g;
		stage(&st[n], "pgflo-format");
		ARG(&st[n], "--to"); ARG(&st[n], "pg_flo");
		st[n++].filter = 1;
		memset(&split_arg, 0, sizeof(split_arg));
		split_arg.out = -1;
		split_arg.dir = get("file-output-dir");
		if (cmd == C_STDOUT &&
		    (split_arg.out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC,
		    3)) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "stdout");
		stage(&st[n], "");
		st[n].fn = pgflo_fe_split;
		st[n++].arg = &split_arg;
		break;
	}
	if (cmd != C_PG) {
		stage(&st[n], "pgflo-checkpoint");
		ARG(&st[n], "--save"); ARG(&st[n], store);
		st[n++].devnull_out = 1;
	}
	for (i = 0; i < n; i++)
		if (st[i].fn != NULL) {
			st[i].argv[0] = "pgflo";
			st[i].filter = 1;
		}
	need_tools(st, n);
	/* Stopped while it synced the schema or asked for the position. */
	if (pgflo_pipeline_stopped())
		goto out;
	rv = pgflo_pipeline_run(st, n);
	if (split_arg.out > 2)
		close(split_arg.out);
out:
	pgflo_buf_free(&from);
	free(target);
	free(pw);
	return rv;
}

/*
 * Whether the stream starts with a copy, once it has a first record:
 * 1 (a snapshot record), 0 (a change), -1 stopped while waiting.
 */
static int
stream_has_copy(void)
{
	struct pgflo_stage st;
	struct pgflo_buf b = { 0 };
	int said = 0, rv;

	for (;;) {
		stage(&st, "pgflo-consume");
		ARG(&st, "--stream"); ARG(&st, get("group"));
		ARG(&st, "--from"); ARG(&st, "first");
		ARG(&st, "--no-wait");
		pgflo_stage_output_max(&st, &b, 1);
		if (b.len > 0) {
			rv = strstr(b.data, "\"op\":\"snapshot\"") != NULL ||
			    strstr(b.data, "\"snapshot\":true") != NULL;
			break;
		}
		if (!said++)
			pgflo_warnx("waiting for the first record of stream "
			    "%s", get("group"));
		sleep(1);
		if (pgflo_pipeline_stopped()) {
			rv = -1;
			break;
		}
	}
	pgflo_buf_free(&b);
	return rv;
}

/* Waits for the replicator's store to hold copy.done: 0, or -1 stopped. */
static int
wait_copy_done(void)
{
	struct pgflo_stage st;
	struct pgflo_buf b = { 0 };
	char store[256];
	json_t *doc;
	int said = 0, rv = -1;

	snprintf(store, sizeof(store), "nats:pgflo/%s", get("group"));
	while (!pgflo_pipeline_stopped()) {
		stage(&st, "pgflo-checkpoint");
		ARG(&st, "--get"); ARG(&st, store);
		if (pgflo_stage_output(&st, &b) == 0 &&
		    (doc = json_loads(b.data, 0, NULL)) != NULL) {
			int done = json_is_true(json_object_get(
			    json_object_get(doc, "copy"), "done"));

			json_decref(doc);
			if (done) {
				rv = 0;
				break;
			}
		}
		if (!said++)
			pgflo_warnx("waiting for the copy to finish (%s) before "
			    "indexes and foreign keys", store);
		sleep(1);
	}
	pgflo_buf_free(&b);
	return rv;
}

/*
 * --target-sync-schema in pg_restore's order: pre-data, the copy's
 * rows, post-data (indexes, foreign keys, sequences), then the stream,
 * so that a copy loads in any order and the stream applies with the
 * foreign keys enforced.
 */
static int
sync_around_copy(void)
{
	char *target;
	int rv, copy;

	require("source-dbname");
	target = conninfo("target-");
	if ((rv = sync_schema(target, "pre-data")) != 0)
		goto out;
	if ((copy = stream_has_copy()) == -1)
		goto out;
	if (copy == 1 && (wait_copy_done() == -1 ||
	    (rv = worker_pipeline(1)) != 0 || pgflo_pipeline_stopped()))
		goto out;
	rv = sync_schema(target, "post-data");
out:
	free(target);
	/* A stop that ended a step is a stop. */
	return pgflo_pipeline_stopped() ? -1 : rv;
}

static int
run_worker(void)
{
	int rv;

	if (cmd == C_PG)
		require("target-dbname");
	if (cmd == C_PG && on("target-sync-schema") &&
	    (rv = sync_around_copy()) != 0)
		return rv == -1 ? 0 : rv;
	return worker_pipeline(0);
}
int
main(int argc, char *argv[])
{
	int i, rv;

	pgflo_setprogname(argv);
	if (argc > 1 && (strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "--version") == 0)) {
		pgflo_print_version();
		return 0;
	}
	parse_argv(argc, argv);
	pick_command();
	read_env();
	load_config();
	check_flags();
	require("group");
	for (i = 0; get("group")[i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
		    get("group")[i]) == NULL)
			pgflo_usage_error(SYNOPSIS, "--group: only letters, "
			    "digits, _ and - (as a stream name): %s",
			    get("group"));
	pgflo_pipeline_catch();
	/* Every NATS tool and the nats: store read it. */
	if (get("nats-url") != NULL &&
	    setenv("PGFLO_NATS_URL", get("nats-url"), 1) == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "setenv");
	if (cmd == C_REPL)
		rv = run_replicator();
	else
		rv = run_worker();
	for (i = 0; i < (int)NFLAGS; i++)
		free(flags[i].val);
	return rv;
}
