/*
 * record.c - field access on parsed records (pgflo-record(5)).
 */
#include <string.h>

#include <jansson.h>

#include "pgflo.h"
#include "record.h"

static const char *const opnames[] = {
	[PGFLO_OP_UNKNOWN] = "unknown",
	[PGFLO_OP_INSERT] = "insert",
	[PGFLO_OP_UPDATE] = "update",
	[PGFLO_OP_DELETE] = "delete",
	[PGFLO_OP_TRUNCATE] = "truncate",
	[PGFLO_OP_BEGIN] = "begin",
	[PGFLO_OP_COMMIT] = "commit",
	[PGFLO_OP_DDL] = "ddl",
	[PGFLO_OP_MESSAGE] = "message",
	[PGFLO_OP_SNAPSHOT] = "snapshot",
	[PGFLO_OP_POSITION] = "position",
};

enum pgflo_op
pgflo_op_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return PGFLO_OP_UNKNOWN;
	for (i = 1; i < sizeof(opnames) / sizeof(opnames[0]); i++)
		if (strcmp(s, opnames[i]) == 0)
			return (enum pgflo_op)i;
	return PGFLO_OP_UNKNOWN;
}

const char *
pgflo_op_name(enum pgflo_op op)
{
	if ((size_t)op >= sizeof(opnames) / sizeof(opnames[0]))
		op = PGFLO_OP_UNKNOWN;
	return opnames[op];
}

enum pgflo_op
pgflo_rec_op(const json_t *rec)
{
	return pgflo_op_parse(pgflo_rec_str(rec, "op"));
}

const char *
pgflo_rec_str(const json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}
