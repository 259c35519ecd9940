/*
 * fileset.h - a directory of rotating NDJSON files (fileset.c), written
 * by one process: DIR/<prefix><UTC time>-<seq>.ndjson.  The file being
 * written carries the suffix ".part"; it is renamed to its final name
 * once finished (by size or age), so a name without ".part" is complete
 * and never changes again.  seq grows by one per file across restarts,
 * which keeps names unique within a second and orders the files.
 *
 * Lines are appended to a buffer and reach the file at commit, or when
 * the buffer is full; a commit makes them durable (fdatasync, and the
 * directory after a file was created, renamed or removed), unless sync
 * is off.  A rollback cuts the open file back to the last commit.
 * Files are finished only at a commit or while nothing is pending, so a
 * finished file never loses a line.
 *
 * On open the directory is locked (flock) and recovered from a crash:
 * the newest file, if it is a ".part" file, is cut back to its last
 * complete line and written on (removed when empty); an older ".part"
 * file, which a crash during a rename leaves, is cut back the same way
 * and finished.
 */
#ifndef PGFLO_FILESET_H
#define PGFLO_FILESET_H

#include <stddef.h>

#include "pgflo.h"

struct pgflo_fileset_config {
	const char *dir;
	const char *prefix;	/* no '/' */
	size_t	 max_bytes;	/* finish a file at this size; 0 never */
	long	 max_age_ms;	/* or at this age; 0 never */
	int	 keep;		/* keep the newest N finished files; 0 all */
	int	 sync;		/* fdatasync the files, fsync the directory */
	/* Only to scan (pgflo_fileset_scan_back): no lock, no recovery. */
	int	 readonly;
};

struct pgflo_fileset;

/*
 * Opens, locks and recovers the directory: NULL with errbuf on failure,
 * *status PGFLO_EXIT_USAGE when dir is not a directory one can write,
 * else PGFLO_EXIT_FAIL.  cf's strings are borrowed.
 */
struct pgflo_fileset *pgflo_fileset_open(const struct pgflo_fileset_config *cf,
	    int *status, char *errbuf, size_t errlen);
/*
 * Calls match(arg, line, len) on the complete lines of the files, the
 * newest first, until it returns 1: 1 then, 0 when no line matched, -1
 * on a read error (errmsg).  line is NUL-terminated, without '\n'.
 */
int	pgflo_fileset_scan_back(struct pgflo_fileset *fs,
	    int (*match)(void *arg, const char *line, size_t len), void *arg);
/* Appends a line (and '\n'), opening a file if none is; -1 errmsg. */
int	pgflo_fileset_append(struct pgflo_fileset *fs, const char *s, size_t n);
/* 1 when the open file is due to be finished (size or age). */
int	pgflo_fileset_due(const struct pgflo_fileset *fs);
/*
 * Writes and syncs what was appended, then finishes the file if due;
 * -1 errmsg (nothing is durable past the previous commit).
 */
int	pgflo_fileset_commit(struct pgflo_fileset *fs);
/* Drops what was appended since the last commit; -1 errmsg. */
int	pgflo_fileset_rollback(struct pgflo_fileset *fs);
/*
 * With nothing pending: finishes the open file when it is old enough;
 * *wait_ms is how long until the next one is (-1 none open).  -1 errmsg.
 */
int	pgflo_fileset_tick(struct pgflo_fileset *fs, long *wait_ms);
/*
 * Finishes the open file (after a commit; with finish 0 it is left as a
 * ".part" file to be written on) and frees fs: -1 errmsg, in errbuf.
 */
int	pgflo_fileset_close(struct pgflo_fileset *fs, int finish, char *errbuf,
	    size_t errlen);
const char *pgflo_fileset_errmsg(const struct pgflo_fileset *fs);

#endif
