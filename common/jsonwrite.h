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
/*
 * The one JSON string escaper and UTF-8 check of the tree.
 *
 * pgflo_json_escape() appends the escaped body of a JSON string (no
 * quotes): '"', '\\' and control characters escaped (\n, \u001f), and
 * each byte of invalid UTF-8 as \ufffd.  pgflo_json_escape_flags() with
 * PGFLO_ESC_VALID takes s as valid UTF-8 already (no check, bytes as
 * they are) and with PGFLO_ESC_UPPER writes upper-case hex (\u001F), as
 * jansson does: pgflo-rule's output keeps jansson's bytes.
 */
#define PGFLO_ESC_VALID	0x01
#define PGFLO_ESC_UPPER	0x02
void	pgflo_json_escape(struct pgflo_buf *b, const char *s, size_t len);
void	pgflo_json_escape_flags(struct pgflo_buf *b, const char *s, size_t len,
	    int flags);
/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int	pgflo_jw_valid_utf8(const char *s, size_t len);

/*
 * The length of the valid UTF-8 sequence at s (n bytes left, n > 0): 1
 * for ASCII, 2 to 4, or 0 when invalid (overlong, surrogate, beyond
 * U+10FFFF, cut short), as jansson judges.
 */
static inline size_t
pgflo_utf8_seqlen(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

#endif
