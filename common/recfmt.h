/*
 * recfmt.h - change records in other tools' shapes (recfmt.c), for
 * pgflo-format: Debezium's change event value (JSON converter, schemas
 * disabled, decimal.handling.mode=string), pg_flo's worker output,
 * wal2json's format-version 2 and Sequin's change message.
 * A record is read in place (jsonscan.h), never built as a tree, and
 * one output line is written per record, or none when the format has
 * no counterpart; position records pass through byte for byte.
 */
#ifndef PGFLO_RECFMT_H
#define PGFLO_RECFMT_H

#include <stddef.h>

#include "pgflo.h"

enum pgflo_fmt_kind {
	PGFLO_FMT_DEBEZIUM,
	PGFLO_FMT_PGFLO,	/* pg_flo */
	PGFLO_FMT_SEQUIN,
	PGFLO_FMT_WAL2JSON
};

struct pgflo_fmt_opts {
	enum pgflo_fmt_kind kind;
	const char *name;	/* Debezium: source.name (topic.prefix) */
	const char *db;		/* Debezium: source.db */
	const char *version;	/* Debezium: source.version */
	const char *placeholder; /* Debezium: unavailable.value.placeholder */
	const char *skipped;	/* Debezium: skipped.operations, "c,u,d,t" */
	int	 transactions;	/* Debezium: BEGIN/END events, "transaction" */
	int	 xids;		/* wal2json: include-xids */
	int	 timestamps;	/* wal2json: include-timestamp */
};

struct pgflo_fmt;

/* Parses a format name ("debezium", "pg_flo", ...); -1 if unknown. */
int	pgflo_fmt_kind_parse(const char *s, enum pgflo_fmt_kind *kind);
/*
 * Checks a Debezium skipped.operations list: "none" or c, u, d and t
 * separated by commas; -1 if it is none of these.
 */
int	pgflo_fmt_skipped_check(const char *s);
/* New formatter; the strings of o are borrowed and must outlive it. */
struct pgflo_fmt *pgflo_fmt_new(const struct pgflo_fmt_opts *o);
void	pgflo_fmt_free(struct pgflo_fmt *f);

#define PGFLO_FMT_BADJSON	(-2)
/*
 * Formats one record line.  1: *out, *outlen hold the output line
 * (without '\n'; valid until the next call); 0: the format has nothing
 * for this record (a begin record for pg_flo); -1: the record lacks
 * what its op needs (err says what); PGFLO_FMT_BADJSON: the line is
 * not one JSON object.
 */
int	pgflo_fmt_record(struct pgflo_fmt *f, const char *line, size_t len,
	    const char **out, size_t *outlen, char *err, size_t errlen);

#endif
