/*
 * signals.c - flushing the trace on a fatal signal, and staying out of the
 * program's way.
 *
 * At init we take every fatal signal still at SIG_DFL. The handler writes
 * what each buffer has committed as raw chunks (no compression, no lock an
 * interrupted thread may hold), writes END(SIGNAL), restores SIG_DFL and
 * raises the signal again so the process dies exactly as it would have. A
 * program installing its own handler gets exactly its handler (we give the
 * signal up); one querying a signal we own sees SIG_DFL.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "bootstrap.h"
#include "guard.h"
#include "shim.h"

static const int fatal_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM, SIGINT, SIGHUP,
	SIGQUIT, SIGTRAP, SIGSYS, SIGXCPU, SIGXFSZ,
	SIGPIPE,	/* not in the brief's list, but `prog | head` dies of it */
};

static atomic_uchar owned[NSIG];

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;
	int e = errno;

	(void)si;
	(void)uc;
	if (sig > 0 && sig < NSIG && atomic_exchange(&owned[sig], 0)) {
		rs_shim_fatal(sig);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		rs_real.sigaction(sig, &dfl, NULL);
		/* blocked while we run: delivered with SIG_DFL when we return */
		raise(sig);
	}
	errno = e;
}

void rs_signals_install(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaddset(&sa.sa_mask, fatal_signals[i]);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		int sig = fatal_signals[i];

		if (atomic_load(&owned[sig]))
			continue;
		if (rs_real.sigaction(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
		    old.sa_handler != SIG_DFL)
			continue;
		atomic_store(&owned[sig], 1);
		if (rs_real.sigaction(sig, &sa, NULL) != 0)
			atomic_store(&owned[sig], 0);
	}
}

/*
 * The user's snapshot signal: handled by fn until the program installs a
 * handler of its own for it (then the program's wins, as for the fatal
 * ones). Returns 0 or -1.
 */
int rs_signals_take(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	if (sig <= 0 || sig >= NSIG)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	atomic_store(&owned[sig], 1);
	if (rs_real.sigaction(sig, &sa, NULL) != 0) {
		atomic_store(&owned[sig], 0);
		return -1;
	}
	return 0;
}

static void as_default(struct sigaction *old)
{
	if (old) {
		memset(old, 0, sizeof(*old));
		old->sa_handler = SIG_DFL;
	}
}

RS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r;

	rs_bootstrap();
	if (sig <= 0 || sig >= NSIG || !atomic_load(&owned[sig]))
		return rs_real.sigaction(sig, act, old);
	if (!act) {
		as_default(old);
		return 0;
	}
	r = rs_real.sigaction(sig, act, NULL);
	if (r == 0) {
		atomic_store(&owned[sig], 0);	/* the program's handler from now on */
		as_default(old);
	}
	return r;
}

static __sighandler_t give_up(int sig, __sighandler_t h,
			      __sighandler_t (*real)(int, __sighandler_t))
{
	__sighandler_t prev;

	if (sig <= 0 || sig >= NSIG || !atomic_load(&owned[sig]))
		return real(sig, h);
	prev = real(sig, h);
	if (prev == SIG_ERR)
		return prev;
	atomic_store(&owned[sig], 0);
	return SIG_DFL;
}

RS_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return give_up(sig, h, rs_real.signal);
}

RS_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h);
RS_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return give_up(sig, h, rs_real.sysv_signal);
}

RS_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h);
RS_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return give_up(sig, h, rs_real.bsd_signal);
}
