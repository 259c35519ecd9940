/*
 * yamlconf.h - a flat YAML configuration file, as pg_flo's (viper's)
 * ~/.pg_flo.yaml: one mapping of keys to scalars or lists of scalars.
 */
#ifndef PGFLO_YAMLCONF_H
#define PGFLO_YAMLCONF_H

#include <stddef.h>

#include "pgflo.h"

/*
 * Called once per top-level key, in file order, with its value (a
 * scalar, or a list's scalars joined with commas; "" for a null) and
 * its line.  Returns 0, or -1 with a message in errbuf to stop.
 */
typedef int (*pgflo_yamlconf_fn)(const char *key, const char *value,
    unsigned long line, void *arg, char *errbuf, size_t errlen);

/*
 * Reads path and calls fn for each key.  Returns 0, or -1 with
 * "PATH:LINE: what" in errbuf: not readable, not YAML, not a mapping,
 * a nested mapping, or fn's own error.
 */
int	pgflo_yamlconf_load(const char *path, pgflo_yamlconf_fn fn, void *arg,
	    char *errbuf, size_t errlen);

#endif /* PGFLO_YAMLCONF_H */
