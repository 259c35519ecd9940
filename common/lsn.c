/*
 * lsn.c - LSN text ("16/B374D848") and positions.  A change is named by
 * (commit_lsn, ordinal); records read back from JetStream also carry
 * stream_seq.  DESIGN.md, "Positions and guarantees".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "jsonwrite.h"
#include "lsn.h"

static int
parse_hex32(const char *s, const char **end, uint32_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (isxdigit((unsigned char)*s)) {
		int d = isdigit((unsigned char)*s) ? *s - '0' :
		    (tolower((unsigned char)*s) - 'a' + 10);
		v = v * 16 + (uint64_t)d;
		if (++n > 8)
			return -1;
		s++;
	}
	if (n == 0)
		return -1;
	*end = s;
	*out = (uint32_t)v;
	return 0;
}

/* Parses "X/Y" at s; *end is set past it. */
static int
lsn_prefix(const char *s, const char **end, pgflo_lsn *out)
{
	uint32_t hi, lo;

	if (parse_hex32(s, &s, &hi) == -1 || *s++ != '/' ||
	    parse_hex32(s, &s, &lo) == -1)
		return -1;
	*end = s;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

int
pgflo_lsn_parse(const char *s, pgflo_lsn *out)
{
	const char *end;

	if (s == NULL || lsn_prefix(s, &end, out) == -1 || *end != '\0')
		return -1;
	return 0;
}

/*
 * Writes v in upper-case hex at p, then sep unless it is NUL; returns
 * the end.
 */
static char *
put_hex32(char *p, uint32_t v, char sep)
{
	char t[8];
	int n = 0;

	do
		t[n++] = "0123456789ABCDEF"[v & 15];
	while ((v >>= 4) != 0);
	while (n > 0)
		*p++ = t[--n];
	if (sep != '\0')
		*p++ = sep;
	return p;
}

char *
pgflo_lsn_format(pgflo_lsn lsn, char buf[PGFLO_LSN_BUFSZ])
{
	*put_hex32(put_hex32(buf, (uint32_t)(lsn >> 32), '/'), (uint32_t)lsn,
	    '\0') = '\0';
	return buf;
}

char *
pgflo_u64_format(uint64_t v, char buf[PGFLO_U64_BUFSZ])
{
	char t[PGFLO_U64_BUFSZ], *p = buf;
	int n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = t[--n];
	*p = '\0';
	return buf;
}

char *
pgflo_pos_format(const struct pgflo_pos *p, char buf[PGFLO_POS_BUFSZ])
{
	char *e;

	pgflo_lsn_format(p->commit_lsn, buf);
	e = buf + strlen(buf);
	*e++ = ':';
	pgflo_u64_format(p->ordinal, e);
	return buf;
}

int
pgflo_pos_is_set(const struct pgflo_pos *p)
{
	return p->commit_lsn != 0 || p->stream_seq != 0;
}

#define CMP(a, b)	((a) < (b) ? -1 : (a) > (b))

int
pgflo_pos_cmp(const struct pgflo_pos *a, const struct pgflo_pos *b)
{
	if (a->commit_lsn != 0 && b->commit_lsn != 0) {
		if (a->commit_lsn != b->commit_lsn)
			return CMP(a->commit_lsn, b->commit_lsn);
		return CMP(a->ordinal, b->ordinal);
	}
	if (a->stream_seq != 0 || b->stream_seq != 0)
		return CMP(a->stream_seq, b->stream_seq);
	return CMP(a->commit_lsn, b->commit_lsn);
}

int
pgflo_pos_advance(struct pgflo_pos *best, const struct pgflo_pos *p)
{
	int adv = 0;

	if (p->commit_lsn != 0 && (best->commit_lsn == 0 ||
	    p->commit_lsn > best->commit_lsn ||
	    (p->commit_lsn == best->commit_lsn &&
	    p->ordinal > best->ordinal))) {
		best->commit_lsn = p->commit_lsn;
		best->ordinal = p->ordinal;
		adv |= PGFLO_POS_LSN;
	}
	if (p->stream_seq != 0 && p->stream_seq > best->stream_seq) {
		best->stream_seq = p->stream_seq;
		adv |= PGFLO_POS_SEQ;
	}
	return adv;
}

int
pgflo_pos_from_json(const json_t *rec, struct pgflo_pos *p)
{
	json_t *v;

	memset(p, 0, sizeof(*p));
	if ((v = json_object_get(rec, "commit_lsn")) != NULL &&
	    !json_is_null(v) &&
	    pgflo_lsn_parse(json_string_value(v), &p->commit_lsn) == -1)
		return -1;
	if ((v = json_object_get(rec, "ordinal")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -1;
		p->ordinal = (uint64_t)json_integer_value(v);
	}
	if ((v = json_object_get(rec, "stream_seq")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -1;
		p->stream_seq = (uint64_t)json_integer_value(v);
	}
	return 0;
}

int
pgflo_pos_parse(const char *s, struct pgflo_pos *p)
{
	const char *end;
	char *e;
	json_t *rec;
	int r;

	memset(p, 0, sizeof(*p));
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '{') {
		if ((rec = json_loads(s, 0, NULL)) == NULL)
			return -1;
		r = json_is_object(rec) ? pgflo_pos_from_json(rec, p) : -1;
		json_decref(rec);
		return r;
	}
	if (strchr(s, '/') != NULL) {
		if (lsn_prefix(s, &end, &p->commit_lsn) == -1)
			return -1;
		if (*end == ':') {
			errno = 0;
			p->ordinal = strtoull(end + 1, &e, 10);
			if (errno != 0 || e == end + 1)
				return -1;
			end = e;
		}
		while (isspace((unsigned char)*end))
			end++;
		return *end == '\0' ? 0 : -1;
	}
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	p->stream_seq = strtoull(s, &e, 10);
	while (isspace((unsigned char)*e))
		e++;
	return errno == 0 && *e == '\0' ? 0 : -1;
}

void
pgflo_pos_write(struct pgflo_buf *b, const struct pgflo_pos *p,
    const char *group)
{
	struct pgflo_jw w;
	char lsn[PGFLO_LSN_BUFSZ];

	pgflo_jw_init(&w, b);
	pgflo_jw_obj_begin(&w);
	pgflo_jw_key(&w, "op");
	pgflo_jw_str(&w, "position");
	if (p->commit_lsn != 0) {
		pgflo_jw_key(&w, "commit_lsn");
		pgflo_jw_str(&w, pgflo_lsn_format(p->commit_lsn, lsn));
		pgflo_jw_key(&w, "ordinal");
		pgflo_jw_uint(&w, p->ordinal);
	}
	if (p->stream_seq != 0) {
		pgflo_jw_key(&w, "stream_seq");
		pgflo_jw_uint(&w, p->stream_seq);
	}
	if (group != NULL) {
		pgflo_jw_key(&w, "group");
		pgflo_jw_str(&w, group);
	}
	pgflo_jw_obj_end(&w);
}
