/*
 * copytext.h - COPY text format, both directions (copytext.c).
 *
 * pgflo-copy reads tables with COPY in text format and hands each field,
 * decoded, to the value encoder (pg2json.h), which expects PostgreSQL's
 * text output: the same text pgoutput sends to pgflo-capture.
 * pgflo-sink-pg writes snapshot rows with COPY FROM STDIN (pgapply.c).
 */
#ifndef PGFLO_COPYTEXT_H
#define PGFLO_COPYTEXT_H

#include <stddef.h>

#include "pgflo.h"

/* One field of a row: its decoded text, or null. */
struct pgflo_copyfield {
	const char *p;
	size_t	 len;
	int	 null;
};

/*
 * Splits one row of COPY text format (tab-separated, "\N" for NULL,
 * backslash escapes, with or without its trailing newline) into nf
 * fields, decoding the escapes in place: row is modified.  Returns the
 * number of fields found (the caller compares it with nf; at most nf are
 * stored).
 */
int	pgflo_copytext_split(char *row, size_t len, struct pgflo_copyfield *f,
	    int nf);

/*
 * Appends the n bytes of s as one COPY text field: backslash, tab,
 * newline and carriage return escaped; the field ends at a NUL byte
 * (text cannot hold one).
 */
void	pgflo_copytext_escape(struct pgflo_buf *b, const char *s, size_t n);

#endif
