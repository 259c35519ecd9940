/*
 * jsonscan.h - raw JSON spans (jsonscan.c): a record line validated and
 * walked in place, without building jansson objects.  Used by
 * pgflo-sink-pg: values are taken from the raw record line, so numbers
 * keep their exact text (jansson turns 1.10 into 1.1 and cannot load
 * integers beyond int64) and json/jsonb values reach the server exactly
 * as received (json2pg.h).
 */
#ifndef PGFLO_JSONSCAN_H
#define PGFLO_JSONSCAN_H

#include <stddef.h>

#include "pgflo.h"

/* A JSON value in place: p points at its first byte, n bytes long. */
struct pgflo_span {
	const char *p;
	size_t	 n;
};

/* Skips white space; returns the first other byte (or end). */
const char *pgflo_js_ws(const char *p, const char *end);
/*
 * Validates one JSON value starting at p (after white space); returns
 * the byte past it, or NULL when it is not valid JSON.
 */
const char *pgflo_js_skip(const char *p, const char *end);
/* The byte past the value at p of a line pgflo_js_valid() accepted. */
const char *pgflo_js_skip_valid(const char *p, const char *end);
/* Validates a whole line as one JSON value with nothing after it. */
int	pgflo_js_valid(const char *p, size_t n);

/* Iterates over an object's members or an array's elements. */
struct pgflo_js_iter {
	const char *p, *end;
	int	 first;
	int	 valid;	/* the text passed pgflo_js_valid(): no checks */
};
/* 0 when v is an object (resp. array) and the iterator is set up. */
int	pgflo_js_obj(struct pgflo_js_iter *it, struct pgflo_span v);
int	pgflo_js_arr(struct pgflo_js_iter *it, struct pgflo_span v);
/* The same for a value of a line pgflo_js_valid() accepted: faster. */
int	pgflo_js_obj_valid(struct pgflo_js_iter *it, struct pgflo_span v);
int	pgflo_js_arr_valid(struct pgflo_js_iter *it, struct pgflo_span v);
/* 1 with the next member's key (the raw string) and value, 0 at end. */
int	pgflo_js_obj_next(struct pgflo_js_iter *it, struct pgflo_span *key,
	    struct pgflo_span *val);
int	pgflo_js_arr_next(struct pgflo_js_iter *it, struct pgflo_span *val);

/* Appends the decoded contents of the JSON string s (with quotes). */
void	pgflo_js_str(struct pgflo_buf *b, struct pgflo_span s);
/* True when the raw key s equals the C string k. */
int	pgflo_js_str_eq(struct pgflo_span s, const char *k);

#endif
