/*
 * pfflags.c - pg_flo's settings as cobra, pflag and viper resolve them:
 * a flag beats PG_FLO_<NAME>, which beats the config file, which beats
 * the default.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgflo.h"
#include "pfflags.h"
#include "yamlconf.h"

struct pgflo_pf *
pgflo_pf_lookup(struct pgflo_pf_set *set, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strlen(set->v[i].name) == len &&
		    strncmp(set->v[i].name, name, len) == 0)
			return &set->v[i];
	return NULL;
}

const char *
pgflo_pf_env_name(const char *flag, char *buf, size_t len)
{
	char *p;

	snprintf(buf, len, "PG_FLO_%s", flag);
	for (p = buf; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	return buf;
}

const char *
pgflo_pf_get(struct pgflo_pf_set *set, const char *name)
{
	struct pgflo_pf *f = pgflo_pf_lookup(set, name, strlen(name));

	return f != NULL && f->val != NULL && f->val[0] != '\0' ? f->val : NULL;
}

int
pgflo_pf_bool(const char *s, int *out)
{
	static const char *yes[] = { "1", "t", "true", "yes", "y", "on" };
	static const char *no[] = { "0", "f", "false", "no", "n", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

int
pgflo_pf_on(struct pgflo_pf_set *set, const char *name)
{
	const char *v = pgflo_pf_get(set, name);
	int b = 0;

	return v != NULL && pgflo_pf_bool(v, &b) == 0 && b;
}

int
pgflo_pf_set(struct pgflo_pf *f, const char *v, int from, char *err, size_t errlen)
{
	long n, ms;
	int b;

	if (f->type == PGFLO_PF_INT && pgflo_parse_long(v, 0, 1000000, &n) == -1) {
		snprintf(err, errlen, "--%s: not a number: %s", f->name, v);
		return -1;
	}
	if (f->type == PGFLO_PF_BOOL && pgflo_pf_bool(v, &b) == -1) {
		snprintf(err, errlen, "--%s: not true or false: %s", f->name,
		    v);
		return -1;
	}
	if (f->type == PGFLO_PF_DUR && pgflo_parse_duration_ms(v, &ms) == -1) {
		snprintf(err, errlen, "--%s: not a duration: %s", f->name, v);
		return -1;
	}
	if (f->type == PGFLO_PF_LIST && from == PGFLO_PF_ARGV && f->from == PGFLO_PF_ARGV &&
	    f->val != NULL && f->val[0] != '\0') {
		/* A list flag given again adds to the list, as pflag's. */
		size_t len = strlen(f->val) + strlen(v) + 2;
		char *s = pgflo_xmalloc(len);

		snprintf(s, len, "%s,%s", f->val, v);
		free(f->val);
		f->val = s;
		return 0;
	}
	free(f->val);
	f->val = pgflo_xstrdup(v);
	f->from = from;
	return 0;
}

static int
config_key(const char *key, const char *value, unsigned long line,
    void *arg, char *err, size_t errlen)
{
	struct pgflo_pf_set *set = arg;
	struct pgflo_pf *f = pgflo_pf_lookup(set, key, strlen(key));
	const char *cfgfile = set->cfgfile;
	char msg[300];

	if (f == NULL) {
		if (strcmp(key, "config") != 0)
			pgflo_warnx("warning: %s:%lu: unknown key %s, ignored",
			    cfgfile, line, key);
		return 0;
	}
	if (f->from > PGFLO_PF_CONFIG)
		return 0;
	if (value[0] == '\0')
		return 0;
	if (pgflo_pf_set(f, value, PGFLO_PF_CONFIG, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s:%lu: %s", cfgfile, line, msg);
		return -1;
	}
	return 0;
}

int
pgflo_pf_env(struct pgflo_pf_set *set, char *err, size_t errlen)
{
	char name[80], msg[300];
	const char *v;
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (set->v[i].from == PGFLO_PF_ARGV)
			continue;
		pgflo_pf_env_name(set->v[i].name, name, sizeof(name));
		if ((v = getenv(name)) == NULL || v[0] == '\0')
			continue;
		if (pgflo_pf_set(&set->v[i], v, PGFLO_PF_ENV, msg,
		    sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s: %s", name, msg);
			return -1;
		}
	}
	return 0;
}

int
pgflo_pf_config(struct pgflo_pf_set *set, const char *path, char *err,
    size_t errlen)
{
	set->cfgfile = path;
	return pgflo_yamlconf_load(path, config_key, set, err, errlen);
}

