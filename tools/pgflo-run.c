/*
 * pgflo-run - run a pipeline of pgflo tools as one unit: one shell line,
 * in a process group of its own, stopped as one and, with -r, started
 * again as one.
 *
 * The line runs under bash -o pipefail, so its status is that of the
 * last stage that failed.  SIGINT, SIGTERM and SIGHUP are passed on to
 * every process of the line (a supervisor that signals only its child,
 * as docker, runit or a plain shell do, then stops them all, and each
 * stage drains and saves its position).  When one stage dies the pgflo
 * tools beside it exit within a second (a reader or writer gone), the
 * line ends and, with -r, runs again after a backoff; whatever the line
 * left behind (a stage put in the background) is stopped first: this
 * process is their subreaper.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgflo.h"

#define SYNOPSIS \
	"pgflo-run [-r] [-b min] [-m max] [-g secs] pipeline"

#define GRACE_MS	10000	/* left-overs: SIGTERM, then SIGKILL */

static const struct option longopts[] = {
	{ "backoff",		required_argument, NULL, 'b' },
	{ "grace",		required_argument, NULL, 'g' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "max-backoff",	required_argument, NULL, 'm' },
	{ "restart",		no_argument,	   NULL, 'r' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static long backoff_ms = 1000, max_backoff_ms = 60000, grace_ms = GRACE_MS;
static int rflag;
static const char *line;

static volatile sig_atomic_t stop_sig;
static volatile pid_t group;	/* the line's process group, 0 none */

static void
help(void)
{
	printf(
"pgflo-run runs a pipeline (one shell line) as one unit: in a process group\n"
"of its own, under bash -o pipefail; SIGINT, SIGTERM and SIGHUP go to every\n"
"process of it, and with -r it is started again, whole, when it ends.\n"
"\n"
"Usage:\n"
"  pgflo-run [OPTION]... 'pgflo-capture ... | pgflo-sink-pg ... | ...'\n"
"\n"
"Options:\n"
"  -r, --restart           start the line again when it ends (not after a\n"
"                          stop signal, nor when it exits 2: usage)\n"
"  -b, --backoff=SECS      the first wait before a restart (default 1s),\n"
"                          doubled each time up to -m, back to it after a\n"
"                          run that lasted -m\n"
"  -m, --max-backoff=SECS  the longest wait (default 60s)\n"
"  -g, --grace=SECS        how long what the line left running gets after\n"
"                          SIGTERM, then SIGKILL (default 10s)\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"\n"
"Environment: the line's own; PATH finds bash.\n"
"Exit status: 0 the line ended well or stopped cleanly on SIGINT/SIGTERM,\n"
"1 a stage failed, 2 usage (also of pgflo-run), 3 unavailable, 141 reader\n"
"gone (SIGPIPE), 128+N killed by signal N: the status of the line's last\n"
"failing stage.\n");
}

/* Passed on to the whole line; the first one decides the end. */
static void
on_signal(int signo)
{
	if (stop_sig == 0)
		stop_sig = signo;
	if (group > 0)
		(void)kill(-group, signo == SIGHUP ? SIGTERM : signo);
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int
status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return PGFLO_EXIT_FAIL;
}

/* Reaps whatever is done; 1 while some child is left. */
static int
reap(void)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		;
	return p == 0 || (p == -1 && errno == EINTR);
}

/*
 * What the line left behind, reparented here: SIGTERM to its group and
 * to every child left, SIGKILL after grace_ms.
 */
static void
stop_leftovers(pid_t pg)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	long end;

	(void)kill(-pg, SIGTERM);
	if (!reap())
		return;
	end = pgflo_now_ms() + grace_ms;
	while (reap() && pgflo_now_ms() < end)
		nanosleep(&nap, NULL);
	if (!reap())
		return;
	pgflo_warnx("killing what the pipeline left running");
	(void)kill(-pg, SIGKILL);
	end = pgflo_now_ms() + 1000;
	while (reap() && pgflo_now_ms() < end)
		nanosleep(&nap, NULL);
}

/* One run of the line: its exit status. */
static int
run_once(void)
{
	sigset_t all, old;
	pid_t pid, w;
	int st;

	/* No signal between the fork and knowing the group. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		pgflo_err(PGFLO_EXIT_FAIL, "fork");
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/*
		 * The shell traps the signals it gets with the stages, so it
		 * waits for them and exits with their status (a stage that
		 * stopped cleanly: 0); its children get the defaults back.
		 */
		execlp("bash", "bash", "-o", "pipefail", "-c",
		    "trap : INT TERM HUP; eval \"$1\"", "pgflo-run", line,
		    (char *)NULL);
		pgflo_warn("could not run bash");
		_exit(127);
	}
	(void)setpgid(pid, pid);
	group = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (stop_sig != 0)
		(void)kill(-pid, stop_sig == SIGHUP ? SIGTERM : stop_sig);
	while ((w = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
		;
	group = 0;
	stop_leftovers(pid);
	return w == pid ? status_of(st) : PGFLO_EXIT_FAIL;
}

/* Sleeps ms, or less when a stop signal comes: -1 then. */
static int
nap(long ms)
{
	struct timespec ts;
	long end = pgflo_now_ms() + ms, left;

	while (stop_sig == 0 && (left = end - pgflo_now_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000L;
		(void)nanosleep(&ts, NULL);
	}
	return stop_sig != 0 ? -1 : 0;
}

static int
supervise(void)
{
	long wait_ms = backoff_ms, started;
	int st;

	for (;;) {
		started = pgflo_now_ms();
		st = run_once();
		if (stop_sig != 0 || !rflag)
			return st;
		if (st == PGFLO_EXIT_USAGE) {
			pgflo_warnx("the pipeline exited 2 (usage, or a login "
			    "refused): not started again");
			return st;
		}
		if (pgflo_now_ms() - started >= max_backoff_ms)
			wait_ms = backoff_ms;
		pgflo_warnx("the pipeline exited %d; starting it again in "
		    "%.1fs", st, (double)wait_ms / 1000);
		if (nap(wait_ms) == -1)
			return st;
		wait_ms = wait_ms * 2 > max_backoff_ms ? max_backoff_ms :
		    wait_ms * 2;
	}
}

static long
parse_secs(const char *s, const char *what)
{
	long v;

	if (pgflo_parse_duration_ms(s, &v) == -1 || v < 0)
		pgflo_usage_error(SYNOPSIS, "invalid %s: %s", what, s);
	return v;
}

static void
parse_options(int argc, char *argv[])
{
	int ch;

	/* "+": the line's own options are not ours. */
	while ((ch = getopt_long(argc, argv, "+b:g:hm:rV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			backoff_ms = parse_secs(optarg, "--backoff");
			break;
		case 'g':
			grace_ms = parse_secs(optarg, "--grace");
			break;
		case 'h':
			help();
			exit(0);
		case 'm':
			max_backoff_ms = parse_secs(optarg, "--max-backoff");
			break;
		case 'r':
			rflag = 1;
			break;
		case 'V':
			pgflo_print_version();
			exit(0);
		default:
			pgflo_usage_exit(SYNOPSIS);
		}
	}
	if (optind == argc)
		pgflo_usage_error(SYNOPSIS, "no pipeline given");
	if (optind + 1 != argc)
		pgflo_usage_error(SYNOPSIS, "unexpected argument: %s (the "
		    "pipeline is one argument: quote it)", argv[optind + 1]);
	line = argv[optind];
	if (max_backoff_ms < backoff_ms)
		max_backoff_ms = backoff_ms;
}

int
main(int argc, char *argv[])
{
	int st;

	pgflo_setprogname(argv);
	pgflo_std_options(argc, argv, help);
	parse_options(argc, argv);
	catch_signals();
	/* Orphans of the line come here, to be stopped and reaped. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	st = supervise();
	/* A stop signal that every stage took cleanly is a clean stop. */
	return st;
}
