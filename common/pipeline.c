/*
 * pipeline.c - a pipeline of programs without a shell: pipe(2),
 * fork(2), execv(2), one process group, signals passed on, every
 * status collected.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgflo.h"
#include "pipeline.h"

#define MAXFDS	64

/* The group the signal handler passes SIGINT/SIGTERM to. */
static volatile pid_t pipeline_pgid;
static volatile sig_atomic_t group_stop, group_sig;

void
pgflo_stage_arg(struct pgflo_stage *st, const char *arg)
{
	size_t i;

	for (i = 0; i < PGFLO_STAGE_ARGS - 1 && st->argv[i] != NULL; i++)
		;
	if (i >= PGFLO_STAGE_ARGS - 1)
		pgflo_errx(PGFLO_EXIT_USAGE, "too many arguments for %s",
		    st->argv[0]);
	st->argv[i] = arg;
	st->argv[i + 1] = NULL;
}

void
pgflo_stage_env(struct pgflo_stage *st, const char *entry)
{
	size_t i;

	for (i = 0; i < PGFLO_STAGE_ENV - 1 && st->env[i] != NULL; i++)
		;
	if (i >= PGFLO_STAGE_ENV - 1)
		pgflo_errx(PGFLO_EXIT_USAGE, "too many environment entries");
	st->env[i] = entry;
	st->env[i + 1] = NULL;
}

static char *
executable(const char *dir, size_t dirlen, const char *name)
{
	char *p;
	struct stat sb;

	p = pgflo_xmalloc(dirlen + strlen(name) + 2);
	memcpy(p, dir, dirlen);
	p[dirlen] = '/';
	strcpy(p + dirlen + 1, name);
	if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

char *
pgflo_tool_path(const char *name)
{
	char self[PATH_MAX], *p, *slash;
	const char *path, *end;
	ssize_t n;

	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0 ? pgflo_xstrdup(name) : NULL;
	/* Beside the front end first: an installed set stays together. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL &&
		    (p = executable(self, (size_t)(slash - self), name)) != NULL)
			return p;
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (;;) {
		end = strchr(path, ':');
		if (end == NULL)
			end = path + strlen(path);
		if (end > path &&
		    (p = executable(path, (size_t)(end - path), name)) != NULL)
			return p;
		if (*end == '\0')
			return NULL;
		path = end + 1;
	}
}

static void
pass_signal(int sig)
{
	int saved = errno;

	group_stop = 1;
	group_sig = sig;
	if (pipeline_pgid > 0)
		kill(-pipeline_pgid, sig);
	errno = saved;
}

static int
wait_status(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return 1;
}

/* In a child: replaces the process by the stage's program. */
static void PGFLO_NORETURN
exec_stage(const struct pgflo_stage *st)
{
	char *path;
	size_t i;

	for (i = 0; st->env[i] != NULL; i++)
		if (putenv((char *)st->env[i]) != 0)
			_exit(PGFLO_EXIT_FAIL);
	if (st->fn != NULL) {
		int rv = st->fn(st->arg);

		if (fflush(stdout) != 0 && rv == 0)
			rv = PGFLO_EXIT_FAIL;
		_exit(rv);
	}
	if ((path = pgflo_tool_path(st->argv[0])) == NULL) {
		pgflo_warnx("%s: not found (not built or not installed?)",
		    st->argv[0]);
		_exit(127);
	}
	execv(path, (char *const *)st->argv);
	pgflo_warn("%s", path);
	_exit(126);
}

static void
group_signal(int sig)
{
	(void)sig;
	group_stop = 1;
}

/*
 * In a child: "{ first && then; }".  The child waits for first; a stop
 * signal meanwhile reaches first through the group and keeps then from
 * starting.
 */
static void PGFLO_NORETURN
run_chain(const struct pgflo_stage *st)
{
	struct sigaction sa;
	pid_t pid;
	int ws;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = group_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (st->then != NULL) {
		if ((pid = fork()) == -1) {
			pgflo_warn("fork");
			_exit(PGFLO_EXIT_FAIL);
		}
		if (pid == 0) {
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			exec_stage(st);
		}
		while (waitpid(pid, &ws, 0) == -1)
			if (errno != EINTR)
				_exit(PGFLO_EXIT_FAIL);
		if (wait_status(ws) != 0) {
			if (wait_status(ws) != 141)
				pgflo_warnx("%s exited with status %d",
				    st->argv[0], wait_status(ws));
			_exit(wait_status(ws));
		}
		if (group_stop)
			_exit(0);
		st = st->then;
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	exec_stage(st);
}

static void
close_all(int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Forks stage st with stdin in, stdout out; fds are closed in it. */
static pid_t
start_stage(struct pgflo_stage *st, int in, int out, int *fds, size_t nfds)
{
	pid_t pid;
	int null;

	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0) {
		if (pipeline_pgid > 0)
			setpgid(pid, pipeline_pgid);
		return pid;
	}
	setpgid(0, pipeline_pgid > 0 ? pipeline_pgid : 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (in >= 0 && dup2(in, STDIN_FILENO) == -1)
		_exit(PGFLO_EXIT_FAIL);
	if (st->devnull_out) {
		if ((null = open("/dev/null", O_WRONLY)) == -1 ||
		    dup2(null, STDOUT_FILENO) == -1)
			_exit(PGFLO_EXIT_FAIL);
		close(null);
	} else if (out >= 0 && dup2(out, STDOUT_FILENO) == -1)
		_exit(PGFLO_EXIT_FAIL);
	close_all(fds, nfds);
	if (st->then != NULL)
		run_chain(st);
	exec_stage(st);
}

void
pgflo_pipeline_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pass_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * Stage i ended while one before it runs: the pipeline cannot finish,
 * and a stage blocked reading its input (a pure filter, an idle
 * consumer) would wait for ever for the SIGPIPE its next write gets.
 * So the group is stopped as by SIGTERM: each stage drains and exits.
 */
static void
end_upstream(struct pgflo_stage *st, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (st[j].pid > 0 && st[j].status == -1) {
			if (pipeline_pgid > 0 && !group_stop) {
				group_stop = 1;
				group_sig = SIGTERM;
				kill(-pipeline_pgid, SIGTERM);
			}
			return;
		}
}

int
pgflo_pipeline_stopped(void)
{
	return group_stop != 0;
}

int
pgflo_pipeline_run(struct pgflo_stage *st, size_t n)
{
	int fds[MAXFDS], p[2], in = -1, ws, rv = 0, sigpipe = 0;
	size_t i, nfds = 0, left = 0;
	pid_t pid;

	if (n == 0 || 2 * n > MAXFDS)
		pgflo_errx(PGFLO_EXIT_USAGE, "bad pipeline of %zu stages", n);
	for (i = 0; i + 1 < n; i++) {
		if (pipe(p) == -1)
			pgflo_err(PGFLO_EXIT_FAIL, "pipe");
		fds[nfds++] = p[0];
		fds[nfds++] = p[1];
	}
	pipeline_pgid = 0;
	pgflo_pipeline_catch();
	fflush(stdout);
	for (i = 0; i < n; i++) {
		in = i > 0 ? fds[2 * (i - 1)] : -1;
		pid = start_stage(&st[i], in, i + 1 < n ? fds[2 * i + 1] : -1,
		    fds, nfds);
		if (pid == -1) {
			pgflo_warn("fork");
			if (pipeline_pgid > 0)
				kill(-pipeline_pgid, SIGTERM);
			rv = PGFLO_EXIT_FAIL;
			break;
		}
		st[i].pid = pid;
		st[i].status = -1;
		if (i == 0) {
			setpgid(pid, pid);
			pipeline_pgid = pid;
		}
		left++;
	}
	close_all(fds, nfds);
	/* A stop that came before the group existed. */
	if (group_stop && pipeline_pgid > 0)
		kill(-pipeline_pgid, group_sig);
	while (left > 0) {
		if ((pid = waitpid(-1, &ws, 0)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++)
			if (st[i].pid == pid && st[i].status == -1) {
				st[i].status = wait_status(ws);
				left--;
				end_upstream(st, i);
			}
	}
	for (i = 0; i < n; i++) {
		if (st[i].filter && group_stop &&
		    st[i].status == 128 + group_sig)
			st[i].status = 0;
		if (st[i].pid <= 0 || st[i].status == 0)
			continue;
		if (st[i].status == 141) {
			sigpipe = 141;
			continue;
		}
		/* A chain reported its own failing member already. */
		if (st[i].then == NULL && st[i].status != 127)
			pgflo_warnx("%s exited with status %d",
			    st[i].fn != NULL ? "pgflo" : st[i].argv[0],
			    st[i].status);
		rv = st[i].status;
	}
	pipeline_pgid = 0;
	if (rv == 0)
		rv = sigpipe;
	if (rv == 127 || rv == 126)
		rv = PGFLO_EXIT_USAGE;
	return rv;
}

int
pgflo_stage_output(struct pgflo_stage *st, struct pgflo_buf *out)
{
	return pgflo_stage_output_max(st, out, 0);
}

int
pgflo_stage_output_max(struct pgflo_stage *st, struct pgflo_buf *out,
    int first_line)
{
	char chunk[4096];
	int p[2], ws;
	ssize_t r;
	pid_t pid;

	pgflo_buf_reset(out);
	if (pipe(p) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) == -1)
			_exit(PGFLO_EXIT_FAIL);
		close(p[0]);
		close(p[1]);
		exec_stage(st);
	}
	close(p[1]);
	for (;;) {
		r = read(p[0], chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		pgflo_buf_putn(out, chunk, (size_t)r);
		if (first_line && memchr(out->data, '\n', out->len) != NULL) {
			/* Enough: the rest is not read, nor waited for. */
			kill(pid, SIGTERM);
			break;
		}
	}
	close(p[0]);
	pgflo_buf_cstr(out);
	while (waitpid(pid, &ws, 0) == -1)
		if (errno != EINTR)
			return -1;
	return wait_status(ws);
}
