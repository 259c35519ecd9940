/*
 * buf.c - a growable byte buffer.  Records are assembled here and
 * written with one fwrite, so the hot path does no per-field stdio.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"

void
pgflo_buf_grow(struct pgflo_buf *b, size_t extra)
{
	size_t need = b->len + extra;
	size_t cap = b->cap != 0 ? b->cap : 256;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = pgflo_xrealloc(b->data, cap);
	b->cap = cap;
}

void
pgflo_buf_free(struct pgflo_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
pgflo_buf_puts(struct pgflo_buf *b, const char *s)
{
	pgflo_buf_putn(b, s, strlen(s));
}

void
pgflo_buf_printf(struct pgflo_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data != NULL ? b->data + b->len : NULL,
	    b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		pgflo_buf_grow(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *
pgflo_buf_cstr(struct pgflo_buf *b)
{
	if (b->cap - b->len < 1)
		pgflo_buf_grow(b, 1);
	b->data[b->len] = '\0';
	return b->data;
}
