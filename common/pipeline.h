/*
 * pipeline.h - run a pipeline of programs with pipe(2), fork(2) and
 * execv(2), as a shell would run "a | b | c", without a shell: no
 * string is ever parsed or quoted, each argument goes to its program
 * as it is.  Used by the pgflo front end (tools/pgflo.c).
 */
#ifndef PGFLO_PIPELINE_H
#define PGFLO_PIPELINE_H

#include <sys/types.h>

#include "pgflo.h"

#define PGFLO_STAGE_ARGS	64
#define PGFLO_STAGE_ENV		4

struct pgflo_stage {
	const char *argv[PGFLO_STAGE_ARGS];	/* [0] a tool name, NULL-ended */
	/* "NAME=VALUE" set in the child only (a password), NULL-ended. */
	const char *env[PGFLO_STAGE_ENV];
	/* Instead of argv: run in the forked child; returns its status. */
	int	(*fn)(void *);
	void	*arg;
	/* "{ this && then; }": then runs, same stdout, if this exits 0. */
	struct pgflo_stage *then;
	int	 devnull_out;	/* stdout to /dev/null (a last sink) */
	/*
	 * A pure filter, which keeps the default dispositions (pgflo-rule):
	 * its death by the stop signal passed to it is a clean stop.
	 */
	int	 filter;
	pid_t	 pid;
	int	 status;	/* exit status, 128+N for signal N */
};

/* Appends an argument (borrowed) to a stage; exits 2 past the limit. */
void	pgflo_stage_arg(struct pgflo_stage *st, const char *arg);
/* Sets the environment entry "NAME=VALUE" (borrowed) of a stage. */
void	pgflo_stage_env(struct pgflo_stage *st, const char *entry);

/*
 * The path of a pgflo tool: beside the running program (the directory
 * of /proc/self/exe) first, then PATH.  New string, or NULL when the
 * tool is nowhere.
 */
char	*pgflo_tool_path(const char *name);

/*
 * Runs the n stages as one pipeline in a process group of its own and
 * waits for all of them.  SIGINT and SIGTERM to the caller are passed
 * to the whole group, so every stage drains and stops; so is SIGTERM
 * when a stage ends before one upstream of it.  Returns the
 * pipeline's status: that of the last stage that failed, a stage that
 * died of SIGPIPE (141) counting only when no other failed; 0 when all
 * exited 0.  Each failure but SIGPIPE is reported on stderr.
 */
int	pgflo_pipeline_run(struct pgflo_stage *st, size_t n);

/*
 * Catches SIGINT and SIGTERM from now on, passing them to the running
 * pipeline's group, so that a stop between two pipelines is not lost.
 */
void	pgflo_pipeline_catch(void);
/* Whether SIGINT or SIGTERM came since pgflo_pipeline_catch(). */
int	pgflo_pipeline_stopped(void);

/*
 * Runs one stage with its stdout into out (reset first, NUL-ended) and
 * returns its exit status as above, -1 if it could not be started.
 */
int	pgflo_stage_output(struct pgflo_stage *st, struct pgflo_buf *out);
/* The same, stopping the stage (SIGTERM) once a whole line was read. */
int	pgflo_stage_output_max(struct pgflo_stage *st, struct pgflo_buf *out,
	    int first_line);

#endif /* PGFLO_PIPELINE_H */
