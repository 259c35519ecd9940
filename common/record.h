/*
 * record.h - field access on parsed records.
 * Implemented in record.c.
 */
#ifndef PGFLO_RECORD_H
#define PGFLO_RECORD_H

#include <jansson.h>

enum pgflo_op {
	PGFLO_OP_UNKNOWN = 0,
	PGFLO_OP_INSERT, PGFLO_OP_UPDATE, PGFLO_OP_DELETE, PGFLO_OP_TRUNCATE,
	PGFLO_OP_BEGIN, PGFLO_OP_COMMIT, PGFLO_OP_DDL, PGFLO_OP_MESSAGE,
	PGFLO_OP_SNAPSHOT, PGFLO_OP_POSITION
};
enum pgflo_op pgflo_op_parse(const char *s);
const char *pgflo_op_name(enum pgflo_op op);
enum pgflo_op pgflo_rec_op(const json_t *rec);
/* Borrowed string member, or NULL when missing or not a string. */
const char *pgflo_rec_str(const json_t *rec, const char *key);

#endif
