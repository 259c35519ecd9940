/*
 * pg2json.h - PostgreSQL values as record values (pg2json.c).
 *
 * One encoder for every tool that reads rows out of PostgreSQL (capture
 * from pgoutput, copy from COPY/SELECT text), so that the same value is
 * always the same JSON.  A value arrives as PostgreSQL's text output; its
 * type, looked up once in the catalog (typecache.h), decides the JSON
 * encoding (pgflo-record(5), VALUES):
 *
 *   int2 int4 int8 oid      JSON integer
 *   bool                    true / false
 *   float4 float8           JSON number; NaN, Infinity, -Infinity strings
 *   json jsonb              embedded JSON, white space outside strings removed
 *   arrays                  nested JSON arrays of elements encoded by the
 *                           element type; NULL elements null; an array with
 *                           explicit bounds ("[0:1]={1,2}") stays a string
 *   domains                 as their base type
 *   everything else         the text output as a JSON string (numeric,
 *                           money, bytea's "\x..." hex, dates, ranges, ...)
 *
 * The encoder expects the server to print values with DateStyle ISO,
 * IntervalStyle postgres, TimeZone UTC, bytea_output hex and
 * extra_float_digits 1: pgflo_pg_session_sql() is the SET command that
 * makes a session (normal or replication) do so.
 */
#ifndef PGFLO_PG2JSON_H
#define PGFLO_PG2JSON_H

#include <stddef.h>
#include <stdint.h>

#include "pgflo.h"
#include "jsonwrite.h"

/* How a value of a type becomes JSON. */
enum pgflo_vkind {
	PGFLO_VK_STRING = 0,	/* text output as a JSON string */
	PGFLO_VK_INT,		/* JSON integer */
	PGFLO_VK_BOOL,		/* t/f as true/false */
	PGFLO_VK_FLOAT,		/* JSON number or "NaN"/"Infinity" */
	PGFLO_VK_JSON,		/* embedded, compacted */
	PGFLO_VK_ARRAY		/* array text parsed into JSON arrays */
};

/* A type as the encoder needs it: a kind and, for arrays, the element's. */
struct pgflo_vtype {
	enum pgflo_vkind kind;
	enum pgflo_vkind elem;	/* PGFLO_VK_ARRAY only; never ARRAY */
	char	 delim;		/* PGFLO_VK_ARRAY only: typdelim, ',' or ';' */
};

/* The SET command fixing the output styles the encoder expects. */
extern const char pgflo_pg_session_sql[];

/* The kind of a built-in type oid, or -1 when a catalog look-up is needed. */
int	pgflo_vtype_builtin(uint32_t oid, struct pgflo_vtype *t);

/*
 * Writes the value text[0..len) of type t as one JSON value into w.  Never
 * fails: text that does not fit its kind (which PostgreSQL does not
 * produce) is written as a string.
 */
void	pgflo_value_write(struct pgflo_jw *w, const struct pgflo_vtype *t,
	    const char *text, size_t len);
/*
 * True when text is a json/jsonb value that is JSON null: it is written
 * as null like SQL NULL, so records list such columns in "json_null"
 * (pgflo-record(5)).  Arrays holding a JSON null keep their text form.
 */
int	pgflo_value_is_json_null(const struct pgflo_vtype *t, const char *text,
	    size_t len);
/* Frees this thread's scratch buffer; call at the end of a thread. */
void	pgflo_value_thread_done(void);
/* Appends json text with the white space outside strings removed. */
void	pgflo_json_compact(struct pgflo_buf *b, const char *text, size_t len);

#endif
