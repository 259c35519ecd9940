/*
 * jsonwrite.h - a small streaming JSON writer for the hot path (no jansson
 * objects).  Commas are inserted automatically per nesting level.
 * Strings are escaped; invalid UTF-8 bytes become U+FFFD so the output is
 * always valid UTF-8 (pgflo_jw_valid_utf8() lets callers choose another
 * encoding first).
 * Implemented in jsonwrite.c.
 */
#ifndef PGFLO_JSONWRITE_H
#define PGFLO_JSONWRITE_H

#include <stddef.h>

#include <jansson.h>

#include "pgflo.h"

#define PGFLO_JW_MAXDEPTH 64
struct pgflo_jw {
	struct pgflo_buf *b;
	int	depth;
	unsigned char first[PGFLO_JW_MAXDEPTH];	/* no element written yet */
	int	after_key;
};
void	pgflo_jw_init(struct pgflo_jw *w, struct pgflo_buf *b);
void	pgflo_jw_obj_begin(struct pgflo_jw *w);
void	pgflo_jw_obj_end(struct pgflo_jw *w);
void	pgflo_jw_arr_begin(struct pgflo_jw *w);
void	pgflo_jw_arr_end(struct pgflo_jw *w);
void	pgflo_jw_key(struct pgflo_jw *w, const char *key);
void	pgflo_jw_keyn(struct pgflo_jw *w, const char *key, size_t len);
void	pgflo_jw_str(struct pgflo_jw *w, const char *s);
void	pgflo_jw_strn(struct pgflo_jw *w, const char *s, size_t len);
void	pgflo_jw_int(struct pgflo_jw *w, long long v);
void	pgflo_jw_uint(struct pgflo_jw *w, unsigned long long v);
void	pgflo_jw_bool(struct pgflo_jw *w, int v);
void	pgflo_jw_null(struct pgflo_jw *w);
/* Writes already-valid JSON text as one value. */
void	pgflo_jw_raw(struct pgflo_jw *w, const char *s, size_t len);
/* Writes a jansson value (borrowed) compactly. */
void	pgflo_jw_json(struct pgflo_jw *w, const json_t *v);
/* Appends the escaped body of a JSON string (no quotes). */
void	pgflo_json_escape(struct pgflo_buf *b, const char *s, size_t len);
int	pgflo_jw_valid_utf8(const char *s, size_t len);

#endif
