/*
 * sig.c - SIGINT/SIGTERM only set a flag.  Installed without SA_RESTART
 * so that a blocking read or select() returns EINTR and the loop can
 * drain, flush and exit 0 (STYLE.md 6.7).  From then on SIGPIPE is
 * ignored: Ctrl-C signals the whole pipeline, and a reader that stopped
 * first must show up as EPIPE, which output.c judges, not as a death by
 * SIGPIPE.
 */
#include <signal.h>
#include <string.h>

#include "pgflo.h"

volatile sig_atomic_t pgflo_stop_signal;
static struct sigaction ignore;

static void
on_stop(int signo)
{
	pgflo_stop_signal = signo;
	sigaction(SIGPIPE, &ignore, NULL);
}

void
pgflo_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	memset(&ignore, 0, sizeof(ignore));
	ignore.sa_handler = SIG_IGN;
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
