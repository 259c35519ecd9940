/*
 * recspan.h - a change record parsed in place (recspan.c): the members
 * a stage acts on, as spans into the raw line (values keep their exact
 * JSON text: jansson turns 1.10 into 1.1) and decoded names.  No
 * jansson objects and, once the buffers have grown, no allocation per
 * record: the hot path of pgflo-sink-pg and the durable stage.
 *
 * Names are checked as PostgreSQL would keep them: a NUL byte, a name
 * longer than NAMEDATALEN - 1 bytes or more than 1600 columns make the
 * record malformed (the server would cut it onto another object).
 */
#ifndef PGFLO_RECSPAN_H
#define PGFLO_RECSPAN_H

#include "pgflo.h"
#include "jsonscan.h"
#include "lsn.h"
#include "record.h"

#define PGFLO_RECSPAN_NAME_BYTES	63	/* NAMEDATALEN - 1 */
#define PGFLO_RECSPAN_MAX_COLUMNS	1600	/* MaxHeapAttributeNumber */

/* One column: its decoded name, type (in "types") and value span. */
struct pgflo_reccol {
	char	*name;
	const char *type;
	struct pgflo_span v;
};

struct pgflo_recspan {
	enum pgflo_op op;
	const char *line;		/* the raw line parsed, borrowed */
	size_t	 linelen;
	char	*schema, *table;	/* decoded; NULL when missing */
	struct pgflo_pos pos;
	int	 has_lsn, has_seq;	/* a commit_lsn, a stream_seq */
	struct pgflo_span commit_ts;	/* the raw string, p NULL: none */
	int	 snapshot, cascade, restart;
	int	 has_new, has_old;
	char	*statement, *tag;	/* of a ddl record */
	struct pgflo_reccol *types, *newv, *oldv;
	int	 ntypes, nnew, nold;
	char	**keyv;			/* the "key" column names */
	int	 nkey;
	/* Storage, kept between records. */
	int	 ctypes, cnew, cold, ckey;
	struct pgflo_buf arena;		/* the decoded strings */
	/* The last "types" text, its names in tarena, ntcache of them. */
	struct pgflo_buf traw, tarena;
	int	 ntcache;
	char	 whybuf[256];
};

/*
 * Parses a line that pgflo_js_valid() accepted into r (zeroed before
 * its first use; the spans point into line, which must outlive them).
 * Members other than op, schema and table are parsed for changes
 * (insert, update, delete, truncate) only.  -1 with *why set for a
 * malformed record (why may point into r).
 */
int	pgflo_recspan_parse(struct pgflo_recspan *r, const char *line,
	    size_t len, const char **why);
/*
 * The head of a record only, for a stage that passes records on whole
 * (sink-file): validates the line as pgflo_js_valid() does, in the same
 * pass, and parses op, schema, table, the position and the flags, not
 * the columns.  0, or -1 for a line that pgflo_recspan_parse() (after
 * pgflo_js_valid()) would reject too, which says why.
 */
int	pgflo_recspan_parse_head(struct pgflo_recspan *r, const char *line,
	    size_t len);
/* Frees r's storage; r is zeroed (empty) again. */
void	pgflo_recspan_free(struct pgflo_recspan *r);
/* The column named name of cv[0..n), or NULL. */
const struct pgflo_reccol *pgflo_recspan_col(const struct pgflo_reccol *cv,
	    int n, const char *name);
/* The type "types" gives column name (hint: its likely index), or NULL. */
const char *pgflo_recspan_type(const struct pgflo_recspan *r, int hint,
	    const char *name);
/* Whether the JSON text v holds the escape \u0000 (a NUL byte, decoded). */
int	pgflo_recspan_has_nul(struct pgflo_span v);
/*
 * Appends "<stdin>:LINENO" and, for a change, ": op schema.table
 * (key)=(values)" (values cut at 64 bytes): where an error happened.
 */
void	pgflo_recspan_describe(struct pgflo_buf *b, const char *line,
	    size_t len, unsigned long lineno);

#endif
