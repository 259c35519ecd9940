/*
 * copytext.c - COPY text format rows (copytext.h): decoding what COPY TO
 * wrote, escaping what COPY FROM reads.  COPY TO escapes backslash, the
 * delimiter and the control characters \b \f \n \r \t \v; COPY FROM
 * also reads octal (\ooo) and hex (\xhh) escapes, decoded here too so
 * any valid row reads back.
 */
#include <string.h>

#include "pgflo.h"
#include "copytext.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
pgflo_copytext_split(char *row, size_t len, struct pgflo_copyfield *f,
    int nf)
{
	char *p = row, *end = row + len, *out, *start;
	int n = 0;

	if (len > 0 && end[-1] == '\n')
		end--;
	for (;;) {
		start = out = p;
		/* Fast path: copy nothing until the first backslash. */
		while (p < end && *p != '\t' && *p != '\\')
			p++;
		out = p;
		while (p < end && *p != '\t') {
			char c = *p++;
			int v, k;

			if (c != '\\' || p >= end) {
				*out++ = c;
				continue;
			}
			c = *p++;
			switch (c) {
			case 'b': *out++ = '\b'; break;
			case 'f': *out++ = '\f'; break;
			case 'n': *out++ = '\n'; break;
			case 'r': *out++ = '\r'; break;
			case 't': *out++ = '\t'; break;
			case 'v': *out++ = '\v'; break;
			case 'N':
				/* "\N" alone is NULL; elsewhere a plain N. */
				*out++ = 'N';
				break;
			case 'x':
				if (p < end && (v = hexval(*p)) >= 0) {
					p++;
					if (p < end && hexval(*p) >= 0)
						v = v * 16 + hexval(*p++);
					*out++ = (char)v;
				} else
					*out++ = 'x';
				break;
			default:
				if (c >= '0' && c <= '7') {
					v = c - '0';
					for (k = 0; k < 2 && p < end &&
					    *p >= '0' && *p <= '7'; k++)
						v = v * 8 + (*p++ - '0');
					*out++ = (char)v;
				} else
					*out++ = c;
				break;
			}
		}
		if (n < nf) {
			f[n].p = start;
			f[n].len = (size_t)(out - start);
			/* Raw "\N" is the only 2-byte field decoding to "N". */
			f[n].null = p - start == 2 && out - start == 1 &&
			    start[0] == 'N';
		}
		n++;
		if (p >= end)
			break;
		p++;	/* the tab */
	}
	return n;
}

void
pgflo_copytext_escape(struct pgflo_buf *b, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *q;

	for (q = p; q < end; q++) {
		char e;

		switch (*q) {
		case '\\':
			e = '\\';
			break;
		case '\t':
			e = 't';
			break;
		case '\n':
			e = 'n';
			break;
		case '\r':
			e = 'r';
			break;
		case '\0':
			end = q;
			continue;
		default:
			continue;
		}
		pgflo_buf_putn(b, p, (size_t)(q - p));
		pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, e);
		p = q + 1;
	}
	pgflo_buf_putn(b, p, (size_t)(end - p));
}
