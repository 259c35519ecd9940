/*
 * json2pg.c - JSON value -> PostgreSQL text input (json2pg.h), the
 * conversion of pgflo-sink-pg, the inverse of the capture encoder
 * (pg2json.c; pgflo-record(5), VALUES).
 */
#include <string.h>

#include "pgflo.h"
#include "jsonscan.h"
#include "json2pg.h"

static int
is_json_type(const char *t)
{
	return strcmp(t, "json") == 0 || strcmp(t, "jsonb") == 0;
}

/* One array element, quoted as array_in() wants it. */
static void
quote_elem(struct pgflo_buf *b, const char *s, size_t n)
{
	size_t i;

	pgflo_buf_grow(b, n + 2);
	pgflo_buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			pgflo_buf_putc(b, '\\');
		pgflo_buf_putc(b, s[i]);
	}
	pgflo_buf_putc(b, '"');
}

static void
array_literal(struct pgflo_buf *b, struct pgflo_span v, int json_elems,
    char delim, struct pgflo_buf *tmp)
{
	struct pgflo_js_iter it;
	struct pgflo_span e;
	int n = 0;

	pgflo_js_arr_valid(&it, v);
	pgflo_buf_putc(b, '{');
	while (pgflo_js_arr_next(&it, &e)) {
		if (n++ > 0)
			pgflo_buf_putc(b, delim);
		if (*e.p == 'n') {
			pgflo_buf_puts(b, "NULL");
		} else if (*e.p == '[' && !json_elems) {
			array_literal(b, e, json_elems, delim, tmp);
		} else if (json_elems) {
			quote_elem(b, e.p, e.n);
		} else if (*e.p == '"') {
			pgflo_buf_reset(tmp);
			pgflo_js_str(tmp, e);
			quote_elem(b, tmp->data != NULL ? tmp->data : "",
			    tmp->len);
		} else if (*e.p == 't' || *e.p == 'f') {
			pgflo_buf_putc(b, *e.p);
		} else {
			/* numbers; an object (a domain over json) as is */
			quote_elem(b, e.p, e.n);
		}
	}
	pgflo_buf_putc(b, '}');
}

const char pgflo_js_json_null[] = "null";

int
pgflo_pgtext(struct pgflo_buf *b, struct pgflo_span v, const char *typname)
{
	size_t tl = strlen(typname);

	if (v.p == pgflo_js_json_null) {
		pgflo_buf_putn(b, "null", 4);
		return 0;
	}
	switch (*v.p) {
	case 'n':
		return 1;
	case '"':
		if (is_json_type(typname))
			pgflo_buf_putn(b, v.p, v.n);
		else
			pgflo_js_str(b, v);
		return 0;
	case 't':
	case 'f':
		if (is_json_type(typname))
			pgflo_buf_putn(b, v.p, v.n);
		else
			pgflo_buf_putc(b, *v.p);
		return 0;
	case '[':
		if (!is_json_type(typname)) {
			struct pgflo_buf tmp = { 0 };
			char et[64];
			size_t n = tl;

			/* The element type: typname without its "[]". */
			while (n >= 2 && typname[n - 1] == ']' &&
			    typname[n - 2] == '[')
				n -= 2;
			snprintf(et, sizeof(et), "%.*s", (int)n, typname);
			array_literal(b, v, is_json_type(et),
			    strcmp(et, "box") == 0 ? ';' : ',', &tmp);
			pgflo_buf_free(&tmp);
			return 0;
		}
		/* FALLTHROUGH */
	default:	/* numbers, objects, json arrays: their JSON text */
		pgflo_buf_putn(b, v.p, v.n);
		return 0;
	}
}
