/*
 * opt.c - checked parsing of numeric options and PGFLO_* environment
 * fallbacks (option > environment > default, STYLE.md 6.4).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"

const char *
pgflo_env(const char *name, const char *dflt)
{
	char var[128];
	const char *v;

	snprintf(var, sizeof(var), "PGFLO_%s", name);
	v = getenv(var);
	return v != NULL && *v != '\0' ? v : dflt;
}

int
pgflo_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
pgflo_parse_duration_ms(const char *s, long *ms_out)
{
	char *end;
	double v, mult;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -1;
	v *= mult;
	if (v > (double)LONG_MAX / 2)
		return -1;
	*ms_out = (long)(v + 0.5);
	return 0;
}

int
pgflo_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned long long mult = 1;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mult = 1ULL << 10;
		end++;
		break;
	case 'm': case 'M':
		mult = 1ULL << 20;
		end++;
		break;
	case 'g': case 'G':
		mult = 1ULL << 30;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || (v != 0 && mult > SIZE_MAX / v))
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}
