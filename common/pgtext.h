/*
 * pgtext.h - PostgreSQL's text output read back (pgtext.c): type names
 * as format_type() prints them sorted into classes, timestamps, dates,
 * times and intervals turned into numbers, arrays written in
 * PostgreSQL's array text, jsonb's spacing, hex and base64.  Used by
 * pgflo-format (recfmt.c) to give a record's values the conventions of
 * other change data capture tools.
 */
#ifndef PGFLO_PGTEXT_H
#define PGFLO_PGTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pgflo.h"
#include "jsonscan.h"

enum pgflo_tclass {
	PGFLO_T_OTHER,		/* text, varchar, enums, ranges, ... */
	PGFLO_T_INT,		/* smallint, integer, bigint */
	PGFLO_T_OID,
	PGFLO_T_FLOAT,		/* real, double precision */
	PGFLO_T_NUMERIC,
	PGFLO_T_MONEY,
	PGFLO_T_BOOL,
	PGFLO_T_JSON,
	PGFLO_T_JSONB,
	PGFLO_T_BYTEA,
	PGFLO_T_TIMESTAMPTZ,
	PGFLO_T_TIMESTAMP,
	PGFLO_T_DATE,
	PGFLO_T_TIME,
	PGFLO_T_TIMETZ,
	PGFLO_T_INTERVAL,
	PGFLO_T_UUID,
	PGFLO_T_INET,		/* inet, cidr */
	PGFLO_T_TEXT,		/* text, character varying, character */
	PGFLO_T_BOX,		/* box: its arrays are ';'-delimited */
	PGFLO_T_MACADDR,	/* macaddr, macaddr8 */
	PGFLO_T_QCHAR,		/* "char" */
	PGFLO_T_HSTORE
};

struct pgflo_ptype {
	enum pgflo_tclass cls;	/* of the element, for an array */
	int	 array;		/* dimensions written in the name ("[]") */
	int	 precision;	/* timestamp(3): 3; -1 when not given */
};

/* Classifies a format_type() name such as "timestamp(3) with time zone". */
void	pgflo_ptype_parse(const char *name, size_t n, struct pgflo_ptype *t);

/*
 * PostgreSQL's ISO output parsed: 0 and the value, or -1 when s is not
 * one (BC dates, "infinity", another DateStyle).  Timestamps and times
 * with a zone are taken to UTC; those without are taken as UTC.
 */
int	pgflo_pg_timestamp_us(const char *s, size_t n, int64_t *us);
int	pgflo_pg_date_days(const char *s, size_t n, int64_t *days);
int	pgflo_pg_time_us(const char *s, size_t n, int64_t *us, int with_tz);
/* IntervalStyle postgres: "1 year 2 mons -3 days +04:05:06.5". */
int	pgflo_pg_interval(const char *s, size_t n, int64_t *months,
	    int64_t *days, int64_t *us);

/*
 * Appends microseconds since 1970 as ISO 8601 in UTC,
 * "2026-11-23T18:00:00.123456Z": with digits fraction digits (0 to 6),
 * or as few as the value needs for -1 (none for whole seconds), with sep
 * between date and time ('T' or ' ') and zone ("Z", "+00" or "").
 */
void	pgflo_iso_time(struct pgflo_buf *b, int64_t us, char sep, int digits,
	    const char *zone);

/*
 * hstore's text output ("a"=>"1", "b"=>NULL) as a compact JSON object
 * of strings and nulls, {"a":"1","b":null}; -1 when s is not one.
 */
int	pgflo_hstore_json(struct pgflo_buf *b, const char *s, size_t n);
/* "\\xdeadbeef" (or "deadbeef") decoded; -1 when not hex. */
int	pgflo_hex_decode(struct pgflo_buf *b, const char *s, size_t n);
/* Standard base64 with padding. */
void	pgflo_base64(struct pgflo_buf *b, const void *p, size_t n);

/*
 * Appends a JSON value as jsonb prints it: ", " between elements, ": "
 * after keys, nothing else outside strings.  v must be valid JSON.
 */
void	pgflo_jsonb_text(struct pgflo_buf *b, struct pgflo_span v);
/* The same without any white space outside strings (json). */
void	pgflo_json_text(struct pgflo_buf *b, struct pgflo_span v);

/*
 * Appends a record's array value (a JSON array, nested for more
 * dimensions) in PostgreSQL's array text, "{1,2,NULL,\"a b\"}": elements
 * quoted as array_out() quotes them; booleans t and f; objects and
 * arrays below the element level (json[]) as jsonb or json text.
 * -1 when v is not an array.
 */
int	pgflo_pg_array_text(struct pgflo_buf *b, struct pgflo_span v,
	    enum pgflo_tclass elem);

#endif
