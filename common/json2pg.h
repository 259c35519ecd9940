/*
 * json2pg.h - JSON value -> PostgreSQL text input (json2pg.c), for
 * values taken in place from a record line (jsonscan.h).
 */
#ifndef PGFLO_JSON2PG_H
#define PGFLO_JSON2PG_H

#include "pgflo.h"
#include "jsonscan.h"

/*
 * Appends PostgreSQL's text input for the JSON value v of a column of
 * type typname (format_type() text).  Returns 1 when the value is SQL
 * NULL (nothing appended), 0 otherwise.  Strings as they are, numbers
 * as their JSON text, booleans as t/f, json/jsonb as the JSON text
 * received, arrays as array literals (elements by the element type).
 */
int	pgflo_pgtext(struct pgflo_buf *b, struct pgflo_span v,
	    const char *typname);
/*
 * A span pointing here stands for a json/jsonb value that is JSON null,
 * not SQL NULL (a column the record lists in "json_null"): pgflo_pgtext
 * writes the text null for it.
 */
extern const char pgflo_js_json_null[];

#endif
