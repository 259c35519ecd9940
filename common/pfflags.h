/*
 * pfflags.h - pg_flo's settings (tools/pgflo.c): a table of flags, each
 * also a PG_FLO_<NAME> variable and a key of the YAML config file,
 * resolved as cobra, pflag and viper do: flag > env > config > default.
 */
#ifndef PGFLO_PFFLAGS_H
#define PGFLO_PFFLAGS_H

#include <stddef.h>

#include "pgflo.h"

enum pgflo_pf_type {
	PGFLO_PF_STR, PGFLO_PF_INT, PGFLO_PF_BOOL, PGFLO_PF_LIST, PGFLO_PF_DUR
};

/* Where a value came from, weakest first. */
enum { PGFLO_PF_DEFAULT, PGFLO_PF_CONFIG, PGFLO_PF_ENV, PGFLO_PF_ARGV };

struct pgflo_pf {
	const char *name;	/* pg_flo's flag and config key */
	enum pgflo_pf_type type;
	int	 cmds;		/* the caller's bit mask of commands */
	const char *dflt;
	const char *help;
	char	*val;		/* resolved (owned), or NULL */
	int	 from;		/* PGFLO_PF_* */
	int	 secret;	/* a password: warned about on argv */
};

struct pgflo_pf_set {
	struct pgflo_pf *v;
	size_t	 n;
	const char *cfgfile;	/* for messages, set by pgflo_pf_config() */
};

/* The flag called name (len bytes of it), or NULL. */
struct pgflo_pf *pgflo_pf_lookup(struct pgflo_pf_set *set, const char *name,
	    size_t len);
/* The value of a flag (borrowed), NULL when unset or empty. */
const char *pgflo_pf_get(struct pgflo_pf_set *set, const char *name);
/* Whether a boolean flag is true. */
int	pgflo_pf_on(struct pgflo_pf_set *set, const char *name);
/* strconv.ParseBool's words and YAML's (yes/no/on/off): 0, or -1. */
int	pgflo_pf_bool(const char *s, int *out);
/* "PG_FLO_<NAME>" of a flag (upper case, - as _) in buf; returns buf. */
const char *pgflo_pf_env_name(const char *flag, char *buf, size_t len);
/*
 * Checks v for the flag's type and stores it as coming from from; a
 * list given again on argv is added to.  0, or -1 with a message.
 */
int	pgflo_pf_set(struct pgflo_pf *f, const char *v, int from, char *err,
	    size_t errlen);
/* Every flag not given on argv from its PG_FLO_ variable: 0 or -1. */
int	pgflo_pf_env(struct pgflo_pf_set *set, char *err, size_t errlen);
/*
 * The config file's keys for the flags below env and argv; an unknown
 * key is warned about.  0, or -1 with "PATH:LINE: what".
 */
int	pgflo_pf_config(struct pgflo_pf_set *set, const char *path, char *err,
	    size_t errlen);

#endif /* PGFLO_PFFLAGS_H */
