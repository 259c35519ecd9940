/*
 * natsmsg.c - subject tokens of PostgreSQL names (natsmsg.h).
 */
#include <string.h>

#include "pgflo.h"
#include "natsmsg.h"

static int
plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

void
pgflo_nats_token_encode(struct pgflo_buf *b, const char *name, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (plain(c)) {
			pgflo_buf_putc(b, (char)c);
			continue;
		}
		pgflo_buf_putc(b, '%');
		pgflo_buf_putc(b, hex[c >> 4]);
		pgflo_buf_putc(b, hex[c & 15]);
	}
}

static int
unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
pgflo_nats_token_decode(struct pgflo_buf *b, const char *tok, size_t len)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (plain((unsigned char)tok[i])) {
			pgflo_buf_putc(b, tok[i]);
			continue;
		}
		if (tok[i] != '%' || i + 2 >= len)
			return -1;
		if ((hi = unhex(tok[i + 1])) == -1 ||
		    (lo = unhex(tok[i + 2])) == -1)
			return -1;
		pgflo_buf_putc(b, (char)(hi << 4 | lo));
		i += 2;
	}
	return 0;
}

int
pgflo_nats_name_ok(const char *s, int single_token)
{
	size_t n = strlen(s), i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (single_token ? !plain(c) : (c <= ' ' || c >= 0x7f ||
		    c == '*' || c == '>' || (c == '.' && s[i + 1] == '.')))
			return 0;
	}
	return 1;
}

void
pgflo_nats_stream_args(const char *synopsis, const char *stream,
    const char *prefix)
{
	if (stream == NULL)
		pgflo_usage_error(synopsis, "--stream is required");
	if (!pgflo_nats_name_ok(stream, 1))
		pgflo_usage_error(synopsis, "invalid --stream: %s (A-Z a-z "
		    "0-9 _ - only)", stream);
	if (!pgflo_nats_name_ok(prefix, 0))
		pgflo_usage_error(synopsis, "invalid --subject-prefix: %s",
		    prefix);
	/* Room for both in a subject, with the schema and table tokens. */
	if (strlen(stream) > 200 || strlen(prefix) > 200)
		pgflo_usage_error(synopsis, "--stream or --subject-prefix "
		    "longer than 200 bytes");
}
