/*
 * copytext.h - COPY ... TO STDOUT text format rows (copytext.c).
 *
 * pgflo-copy reads tables with COPY in text format and hands each field,
 * decoded, to the value encoder (pg2json.h), which expects PostgreSQL's
 * text output: the same text pgoutput sends to pgflo-capture.
 */
#ifndef PGFLO_COPYTEXT_H
#define PGFLO_COPYTEXT_H

#include <stddef.h>

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

#endif
