/*
 * pgflo-rule - filter, transform and route change records.
 *
 * A pure filter: records in, records out, in order.  Rules come from
 * the command line (scoped by --table) and from pg_flo's rules and
 * routing YAML files.  Nothing is parsed into a tree: a record no
 * rule touches is written as its original bytes, and a changed one is
 * the original with the changed values and keys spliced in (rule.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "output.h"
#include "reader.h"
#include "rule.h"

#define SYNOPSIS \
	"pgflo-rule [-kv] [-f rulefile] [-r routefile] [--dead-letter file] " \
	"[rule ...]"

enum {
	OPT_DEADLETTER = 256, OPT_RENAME_TABLE, OPT_RENAME_COLUMN,
	OPT_KEEP_DELETES
};

static const struct option longopts[] = {
	{ "dead-letter",	required_argument, NULL, OPT_DEADLETTER },
	{ "exclude",		required_argument, NULL, 'x' },
	{ "filter",		required_argument, NULL, 'w' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "keep-deletes",	no_argument,	   NULL, OPT_KEEP_DELETES },
	{ "mask",		required_argument, NULL, 'm' },
	{ "ops",		required_argument, NULL, 'o' },
	{ "regex",		required_argument, NULL, 'e' },
	{ "rename-column",	required_argument, NULL, OPT_RENAME_COLUMN },
	{ "rename-table",	required_argument, NULL, OPT_RENAME_TABLE },
	{ "routing",		required_argument, NULL, 'r' },
	{ "rules",		required_argument, NULL, 'f' },
	{ "skip-bad",		no_argument,	   NULL, 'k' },
	{ "table",		required_argument, NULL, 't' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int kflag, vflag;
static int redacting;	/* a rule masks, rewrites or excludes */

/* The inline scope: --table and the --ops/--keep-deletes after it. */
static const char *scope_table;
static unsigned scope_ops;
static int scope_keep;
static size_t scope_start;	/* the scope's first rule */

static void
help(void)
{
	printf(
"pgflo-rule filters, transforms and routes change records (NDJSON).\n"
"\n"
"Usage:\n"
"  pgflo-rule [OPTION]... [RULE]...  < records > records\n"
"\n"
"Rule files (pg_flo's YAML formats):\n"
"  -f, --rules=FILE          rules: tables: {TABLE: [rule, ...]}\n"
"  -r, --routing=FILE        routing: {TABLE: {destination_table, ...}}\n"
"\n"
"Inline rules, applied in order to the tables of the --table before them:\n"
"  -t, --table=PATTERN       scope: table, schema.table, globs (public.*)\n"
"  -o, --ops=LIST            following rules only for insert,update,delete\n"
"  -m, --mask=COL[:CHAR]     keep first and last character, mask the rest\n"
"  -e, --regex=COL=/RE/REPL/ replace every match of RE ($1 for groups)\n"
"  -w, --filter='COL OP VAL' keep rows where the comparison holds; OP is\n"
"                            = != < <= > >= ~ !~ contains (or == <> eq ne\n"
"                            lt lte gt gte)\n"
"  -x, --exclude=COL         drop a column\n"
"      --rename-table=NAME   rename the table (NAME or schema.name)\n"
"      --rename-column=OLD=NEW  rename a column\n"
"      --keep-deletes        the scope's filters pass deletes whose old row\n"
"                            lacks the column (allow_empty_deletes)\n"
"\n"
"Options:\n"
"  -k, --skip-bad            warn about bad input lines and go on\n"
"      --dead-letter=FILE    set bad lines aside in FILE (mode 0600) and go\n"
"                            on; a mask, regex or exclude rule leaves only\n"
"                            {\"line\":N,\"error\":...} there\n"
"  -v, --verbose             print a summary at exit\n"
"  -V, --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Environment: PGFLO_MAX_RECORD, PGFLO_FLUSH.\n"
"Exit status: 0 ok, 1 bad record or write error, 2 usage or bad rule file,\n"
"130/143 killed by SIGINT/SIGTERM, 141 reader gone (SIGPIPE).\n");
}

static void
add_rule(struct pgflo_ruleset *rs, struct pgflo_rule_spec *spec,
    const char *optname, const char *arg)
{
	char where[512], err[512];

	snprintf(where, sizeof(where), "--%s '%s'", optname, arg);
	spec->table = scope_table;
	spec->where = where;
	if (spec->ops == 0)
		spec->ops = scope_ops;
	spec->allow_empty_deletes = scope_keep;
	if (pgflo_ruleset_add(rs, spec, err, sizeof(err)) == -1)
		pgflo_usage_error(SYNOPSIS, "%s: %s", where, err);
}

/* A rules (-f) or routes (-r) file; what is wrong in it exits 2. */
static void
load_file(struct pgflo_ruleset *rs, int (*load)(struct pgflo_ruleset *,
    const char *, char *, size_t), const char *path)
{
	char err[1024];

	if (load(rs, path, err, sizeof(err)) == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", err);
}

static void
bad_arg(const char *optname, const char *arg, const char *why)
{
	pgflo_usage_error(SYNOPSIS, "--%s '%s': %s", optname, arg, why);
}

/* Copies up to an unescaped delimiter; "\<delim>" becomes <delim>. */
static const char *
delimited(const char *s, char delim, struct pgflo_buf *out)
{
	pgflo_buf_reset(out);
	for (; *s != '\0' && *s != delim; s++) {
		if (s[0] == '\\' && s[1] == delim)
			s++;
		else if (s[0] == '\\' && s[1] != '\0')
			pgflo_buf_putc(out, *s++);
		pgflo_buf_putc(out, *s);
	}
	pgflo_buf_cstr(out);
	return *s == delim ? s + 1 : NULL;
}

/* COL=/pattern/replacement/[ix] */
static void
parse_regex(struct pgflo_ruleset *rs, const char *arg)
{
	struct pgflo_rule_spec spec;
	struct pgflo_buf col = { 0 }, pat = { 0 }, rep = { 0 };
	const char *eq = strchr(arg, '='), *p;
	char delim;

	memset(&spec, 0, sizeof(spec));
	if (eq == NULL || eq == arg)
		bad_arg("regex", arg, "expected COL=/pattern/replacement/");
	pgflo_buf_putn(&col, arg, (size_t)(eq - arg));
	pgflo_buf_cstr(&col);
	delim = eq[1];
	if (delim == '\0' || delim == '\\' || delim == ' ' ||
	    (delim >= '0' && delim <= '9') || (delim >= 'a' && delim <= 'z') ||
	    (delim >= 'A' && delim <= 'Z'))
		bad_arg("regex", arg, "expected COL=/pattern/replacement/");
	p = delimited(eq + 2, delim, &pat);
	if (p == NULL || (p = delimited(p, delim, &rep)) == NULL)
		bad_arg("regex", arg, "unterminated; expected "
		    "COL=/pattern/replacement/");
	for (; *p != '\0'; p++) {
		if (*p == 'i')
			spec.caseless = 1;
		else if (*p == 'x')
			spec.extended = 1;
		else if (*p != 'g')
			bad_arg("regex", arg, "unknown flag (i, x, g)");
	}
	spec.kind = PGFLO_RULE_REGEX;
	spec.column = col.data;
	spec.pattern = pat.data;
	spec.replace = rep.data;
	add_rule(rs, &spec, "regex", arg);
	pgflo_buf_free(&col);
	pgflo_buf_free(&pat);
	pgflo_buf_free(&rep);
}

/* 'COL OP VALUE' */
static void
parse_filter(struct pgflo_ruleset *rs, const char *arg)
{
	struct pgflo_rule_spec spec;
	struct pgflo_buf col = { 0 }, val = { 0 };
	const char *s = arg, *c0, *o0;
	size_t n;

	memset(&spec, 0, sizeof(spec));
	while (*s == ' ')
		s++;
	for (c0 = s; *s != '\0' && *s != ' ' && strchr("=!<>~", *s) == NULL;
	    s++)
		;
	if (s == c0)
		bad_arg("filter", arg, "expected 'COLUMN OP VALUE'");
	pgflo_buf_putn(&col, c0, (size_t)(s - c0));
	pgflo_buf_cstr(&col);
	while (*s == ' ')
		s++;
	o0 = s;
	if (*s != '\0' && strchr("=!<>~", *s) != NULL)
		while (*s != '\0' && strchr("=!<>~", *s) != NULL)
			s++;
	else
		while (*s != '\0' && *s != ' ')
			s++;
	if ((spec.cmp = pgflo_rule_cmp_parse(o0, (size_t)(s - o0))) == 0)
		bad_arg("filter", arg, "unknown operator (= != < <= > >= ~ !~ "
		    "contains eq ne lt lte gt gte)");
	while (*s == ' ')
		s++;
	n = strlen(s);
	if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
		s++;
		n -= 2;
	} else if (n == 0)
		bad_arg("filter", arg, "missing value");
	pgflo_buf_putn(&val, s, n);
	pgflo_buf_cstr(&val);
	spec.kind = PGFLO_RULE_FILTER;
	spec.column = col.data;
	spec.value = val.data;
	add_rule(rs, &spec, "filter", arg);
	pgflo_buf_free(&col);
	pgflo_buf_free(&val);
}

/* COL[:CHAR], OLD=NEW: split at the first sep. */
static void
parse_pair(struct pgflo_ruleset *rs, enum pgflo_rule_kind kind,
    const char *optname, const char *arg, char sep)
{
	struct pgflo_rule_spec spec;
	struct pgflo_buf col = { 0 };
	const char *p = strchr(arg, sep);

	memset(&spec, 0, sizeof(spec));
	spec.kind = kind;
	if (p == NULL)
		p = arg + strlen(arg);
	if (p == arg)
		bad_arg(optname, arg, "missing column name");
	pgflo_buf_putn(&col, arg, (size_t)(p - arg));
	spec.column = pgflo_buf_cstr(&col);
	if (kind == PGFLO_RULE_MASK && *p == sep)
		spec.mask = p + 1;
	if (kind == PGFLO_RULE_RENAME_COLUMN) {
		if (*p != sep || p[1] == '\0')
			bad_arg(optname, arg, "expected OLD=NEW");
		spec.newname = p + 1;
	}
	add_rule(rs, &spec, optname, arg);
	pgflo_buf_free(&col);
}

static void
simple_rule(struct pgflo_ruleset *rs, enum pgflo_rule_kind kind,
    const char *optname, const char *arg)
{
	struct pgflo_rule_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.kind = kind;
	if (*arg == '\0')
		bad_arg(optname, arg, "empty name");
	if (kind == PGFLO_RULE_EXCLUDE)
		spec.column = arg;
	else {
		if (arg[strlen(arg) - 1] == '.' || *arg == '.')
			bad_arg(optname, arg, "expected NAME or SCHEMA.NAME");
		spec.newname = arg;
	}
	add_rule(rs, &spec, optname, arg);
}

struct counts {
	unsigned long in, out, dropped, changed, bad;
};

/*
 * What the dead-letter file gets for a bad line when a rule masks,
 * rewrites or excludes: {"line":N,"error":"..."}, never the line, whose
 * bytes hold the values the rules hide.
 */
static int
reject_redacted(struct pgflo_reader *r, const char *msg)
{
	struct pgflo_buf b = { 0 };
	struct pgflo_jw w;
	char *line = r->line;
	size_t len = r->len;
	int rc;

	pgflo_jw_init(&w, &b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "line");
	pgflo_jw_uint(&w, r->lineno);
	pgflo_jw_key(&w, "error");
	pgflo_jw_str(&w, msg);
	pgflo_jw_obj_end(&w);
	/* pgflo_reader_reject() writes r->line: lend it the placeholder. */
	r->line = pgflo_buf_cstr(&b);
	r->len = b.len;
	rc = pgflo_reader_reject(r, "%s", msg);
	r->line = line;
	r->len = len;
	pgflo_buf_free(&b);
	return rc;
}

/* A bad line: fatal, or skipped with -k / --dead-letter. */
static void
bad_line(struct pgflo_reader *r, struct counts *n, const char *msg)
{
	if (r->deadletter != NULL) {
		if ((redacting ? reject_redacted(r, msg) :
		    pgflo_reader_reject(r, "%s", msg)) == -1)
			pgflo_errx(PGFLO_EXIT_FAIL, "%s", r->errmsg);
	} else if (kflag)
		pgflo_warnx("%s (skipped)", msg);
	else
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", msg);
	n->bad++;
}

/*
 * The words for a line the span scanner refused: jansson's, which
 * only runs on this rare path.
 */
static void
bad_json(const struct pgflo_reader *r, char *msg, size_t len)
{
	const char *nul = memchr(r->line, '\0', r->len);
	json_error_t jerr;
	json_t *rec;
	char *near;

	/* jansson stops at a NUL byte and may call the rest valid. */
	if (nul != NULL) {
		snprintf(msg, len, "%s:%lu: invalid JSON: NUL byte (column %zu)",
		    r->name, r->lineno, (size_t)(nul - r->line) + 1);
		return;
	}
	rec = json_loadb(r->line, r->len, 0, &jerr);
	if (rec == NULL && strstr(jerr.text, "too big") != NULL)
		rec = json_loadb(r->line, r->len, JSON_DECODE_INT_AS_REAL,
		    &jerr);
	/* "near '...'" quotes the line: not when rules hide values. */
	if (rec == NULL && redacting &&
	    (near = strstr(jerr.text, " near '")) != NULL)
		*near = '\0';
	if (rec == NULL)
		snprintf(msg, len, "%s:%lu: invalid JSON: %s (column %d)",
		    r->name, r->lineno, jerr.text, jerr.column);
	else if (!json_is_object(rec))
		snprintf(msg, len, "%s:%lu: record is not a JSON object",
		    r->name, r->lineno);
	else
		snprintf(msg, len, "%s:%lu: invalid JSON: nested too deeply",
		    r->name, r->lineno);
	json_decref(rec);
}

static void
run(struct pgflo_ruleset *rs, struct pgflo_reader *r, struct counts *n)
{
	const char *out;
	char msg[700];
	size_t outlen;
	int rc, changed;

	while ((rc = pgflo_reader_next(r)) == 1) {
		n->in++;
		rc = pgflo_ruleset_apply(rs, r->line, r->len, r->name,
		    r->lineno, &out, &outlen, &changed, msg, sizeof(msg));
		if (rc == PGFLO_RULE_BADJSON) {
			bad_json(r, msg, sizeof(msg));
			rc = -1;
		}
		if (rc == -1) {
			bad_line(r, n, msg);
			continue;
		}
		if (rc == 0) {
			n->dropped++;
			continue;
		}
		if (changed)
			n->changed++;
		if (pgflo_out_line(out, outlen) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "write error");
		n->out++;
	}
	if (rc == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", r->errmsg);
}

int
main(int argc, char *argv[])
{
	struct pgflo_ruleset *rs;
	struct pgflo_reader r;
	struct counts n = { 0 };
	const char *deadletter = NULL;
	unsigned ops;
	int ch;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	rs = pgflo_ruleset_new();
	while ((ch = getopt_long(argc, argv, "+Ve:f:hkm:o:r:t:vw:x:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'V':
			pgflo_print_version();
			pgflo_ruleset_free(rs);
			return 0;
		case 'e':
			parse_regex(rs, optarg);
			break;
		case 'f':
			load_file(rs, pgflo_rules_load_yaml, optarg);
			break;
		case 'h':
			help();
			pgflo_ruleset_free(rs);
			return 0;
		case 'k':
			kflag = 1;
			break;
		case 'm':
			parse_pair(rs, PGFLO_RULE_MASK, "mask", optarg, ':');
			break;
		case 'o':
			ops = pgflo_rule_op_parse(optarg, strlen(optarg));
			if (ops == 0)
				bad_arg("ops", optarg, "expected a list of "
				    "insert, update, delete, truncate");
			scope_ops = ops;
			break;
		case 'r':
			load_file(rs, pgflo_routes_load_yaml, optarg);
			break;
		case 't':
			if (*optarg == '\0')
				bad_arg("table", optarg, "empty pattern");
			scope_table = optarg;
			scope_ops = 0;
			scope_keep = 0;
			scope_start = pgflo_ruleset_nrules(rs);
			break;
		case 'v':
			vflag = 1;
			break;
		case 'w':
			parse_filter(rs, optarg);
			break;
		case 'x':
			simple_rule(rs, PGFLO_RULE_EXCLUDE, "exclude", optarg);
			break;
		case OPT_DEADLETTER:
			deadletter = optarg;
			break;
		case OPT_KEEP_DELETES:
			scope_keep = 1;
			pgflo_ruleset_keep_deletes(rs, scope_start);
			break;
		case OPT_RENAME_COLUMN:
			parse_pair(rs, PGFLO_RULE_RENAME_COLUMN,
			    "rename-column", optarg, '=');
			break;
		case OPT_RENAME_TABLE:
			simple_rule(rs, PGFLO_RULE_RENAME_TABLE,
			    "rename-table", optarg);
			break;
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind < argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s",
		    argv[optind]);
	if (pgflo_reader_open(&r, STDIN_FILENO, "<stdin>") == -1)
		pgflo_errx(PGFLO_EXIT_USAGE, "%s", r.errmsg);
	if (deadletter != NULL &&
	    pgflo_reader_set_deadletter(&r, deadletter) == -1)
		pgflo_errx(PGFLO_EXIT_FAIL, "%s", r.errmsg);
	redacting = pgflo_ruleset_redacts(rs);
	r.redact = redacting;	/* over-long lines the reader sets aside */
	pgflo_out_init();
	run(rs, &r, &n);
	if (pgflo_out_close() == -1)
		pgflo_err(PGFLO_EXIT_FAIL, "write error");
	if (vflag)
		pgflo_warnx("%lu records read, %lu written (%lu changed), "
		    "%lu dropped, %lu bad; %zu rules", n.in, n.out, n.changed,
		    n.dropped, n.bad, pgflo_ruleset_count(rs));
	pgflo_reader_close(&r);
	pgflo_ruleset_free(rs);
	return 0;
}
