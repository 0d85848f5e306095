/*
 * signals.c - flushing the trace on a fatal signal, and staying out of the
 * program's way.
 *
 * At init we take every fatal signal still at SIG_DFL. The handler writes
 * what each buffer has committed as raw chunks (no compression, no lock an
 * interrupted thread may hold), writes END(SIGNAL), restores SIG_DFL and
 * raises the signal again so the process dies exactly as it would have.
 *
 * What the program sees is what it asked for: a program installing its own
 * handler gets exactly its handler (we give the signal up); one setting a
 * fatal signal back to SIG_DFL gets our handler in its place (we take the
 * signal back), so the cleanup-and-reraise idiom of coreutils and many
 * others (handler: clean up, signal(sig, SIG_DFL), raise(sig)) dies through
 * on_fatal with a complete trace. A handler installed with SA_RESETHAND,
 * which the kernel would reset to SIG_DFL on delivery without a call we
 * see, runs through a wrapper that does that reset itself, to our handler.
 * Querying a signal we hold returns the action the program last set (or
 * SIG_DFL), masks and flags included.
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

/* owned[sig]: who handles sig. */
enum { PROGRAM = 0, FATAL = 1, WRAPPED = 2, SNAPSHOT = 3 };

static atomic_uchar owned[NSIG];
static atomic_uchar takeable[NSIG];	/* fatal, and tracing was set up */
/* FATAL or WRAPPED: the action the program set last, as a query shows it */
static struct sigaction shown[NSIG];

#if defined(__x86_64__) && !defined(SA_RESTORER)
#define SA_RESTORER 0x04000000	/* asm/signal.h; glibc sets it on every action */
#endif

/* shown[sig] = act; what glibc adds to every action it installs (its
 * restorer) is taken from the action now installed, as a real query shows it. */
static void show(int sig, const struct sigaction *act)
{
	struct sigaction cur;

	shown[sig] = *act;
#ifdef SA_RESTORER
	if (rs_real.sigaction(sig, NULL, &cur) == 0) {
		shown[sig].sa_flags |= cur.sa_flags & SA_RESTORER;
		shown[sig].sa_restorer = cur.sa_restorer;
	}
#else
	(void)cur;
#endif
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;
	int e = errno;

	(void)si;
	(void)uc;
	if (sig > 0 && sig < NSIG && atomic_exchange(&owned[sig], PROGRAM) == FATAL) {
		rs_shim_fatal(sig);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		rs_real.sigaction(sig, &dfl, NULL);
		/* blocked while we run: delivered with SIG_DFL when we return */
		raise(sig);
	}
	errno = e;
}

static void fatal_action(struct sigaction *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sa_sigaction = on_fatal;
	sa->sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa->sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaddset(&sa->sa_mask, fatal_signals[i]);
}

/*
 * Makes on_fatal sig's handler, shown as act (NULL: plain SIG_DFL); old
 * gets the real previous action. owned is set first: a signal arriving
 * just after the install must find on_fatal willing. 0 or -1 (errno).
 */
static int take(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction sa;
	unsigned char was = atomic_exchange(&owned[sig], FATAL);

	fatal_action(&sa);
	if (rs_real.sigaction(sig, &sa, old) != 0) {
		atomic_store(&owned[sig], was);
		return -1;
	}
	if (act) {
		show(sig, act);
	} else {
		memset(&shown[sig], 0, sizeof(shown[sig]));
		sigemptyset(&shown[sig].sa_mask);
	}
	shown[sig].sa_handler = SIG_DFL;
	return 0;
}

void rs_signals_install(void)
{
	struct sigaction old;

	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		int sig = fatal_signals[i];

		if (atomic_load(&owned[sig]) == SNAPSHOT)
			continue;
		atomic_store(&takeable[sig], 1);
		if (atomic_load(&owned[sig]))
			continue;
		if (rs_real.sigaction(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
		    old.sa_handler != SIG_DFL)
			continue;
		take(sig, NULL, NULL);
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
	unsigned char was;

	if (sig <= 0 || sig >= NSIG)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	atomic_store(&takeable[sig], 0);	/* SIG_DFL set by the program means SIG_DFL */
	was = atomic_exchange(&owned[sig], SNAPSHOT);
	memset(&shown[sig], 0, sizeof(shown[sig]));
	shown[sig].sa_handler = SIG_DFL;
	if (rs_real.sigaction(sig, &sa, NULL) != 0) {
		atomic_store(&owned[sig], was);
		return -1;
	}
	return 0;
}

/*
 * A program handler installed with SA_RESETHAND: the kernel would set
 * SIG_DFL as it delivers the signal; we set our on_fatal (shown as SIG_DFL,
 * the program's mask and flags kept, as the kernel keeps them) and run the
 * handler, so a re-raise from it, or the next such signal, ends the trace.
 */
static void on_resethand(int sig, siginfo_t *si, void *uc)
{
	struct sigaction act;

	if (sig <= 0 || sig >= NSIG)
		return;
	act = shown[sig];
	if (atomic_load(&owned[sig]) == WRAPPED) {
		int e = errno;

		take(sig, &act, NULL);
		errno = e;
	}
	if (act.sa_flags & SA_SIGINFO) {
		if (act.sa_sigaction)
			act.sa_sigaction(sig, si, uc);
	} else if (act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN) {
		act.sa_handler(sig);
	}
}

static int is_default(const struct sigaction *act)
{
	return act->sa_handler == SIG_DFL;	/* sa_sigaction shares its bytes */
}

static int wants_reset(const struct sigaction *act)
{
	return (act->sa_flags & SA_RESETHAND) && act->sa_handler != SIG_IGN && !is_default(act);
}

/* sig is ours (FATAL or WRAPPED), or takeable; act is the program's. */
static int set_held(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev, real_old, sa;
	unsigned char was = atomic_load(&owned[sig]);
	int r;

	prev = shown[sig];
	if (is_default(act) || !wants_reset(act)) {
		if (is_default(act))
			r = take(sig, act, &real_old);
		else if ((r = rs_real.sigaction(sig, act, &real_old)) == 0)
			atomic_store(&owned[sig], PROGRAM);	/* the program's handler from now on */
	} else {
		sa = *act;
		sa.sa_sigaction = on_resethand;
		sa.sa_flags = (act->sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
		atomic_store(&owned[sig], WRAPPED);
		shown[sig] = *act;	/* before the install: on_resethand reads it */
		r = rs_real.sigaction(sig, &sa, &real_old);
		if (r != 0) {
			shown[sig] = prev;
			atomic_store(&owned[sig], was);
		} else {
			show(sig, act);
		}
	}
	if (r == 0 && old)
		*old = was == PROGRAM ? real_old : prev;
	return r;
}

RS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	unsigned char o;

	rs_bootstrap();
	if (sig <= 0 || sig >= NSIG)
		return rs_real.sigaction(sig, act, old);
	o = atomic_load(&owned[sig]);
	if (o == PROGRAM && !atomic_load(&takeable[sig]))
		return rs_real.sigaction(sig, act, old);
	if (!act) {
		if (o == PROGRAM)
			return rs_real.sigaction(sig, act, old);
		if (old)
			*old = shown[sig];
		return 0;
	}
	if (o == SNAPSHOT) {
		int r = rs_real.sigaction(sig, act, NULL);

		if (r == 0) {
			atomic_store(&owned[sig], PROGRAM);
			if (old)
				*old = shown[sig];
		}
		return r;
	}
	if (o == PROGRAM && !is_default(act) && !wants_reset(act))
		return rs_real.sigaction(sig, act, old);
	return set_held(sig, act, old);
}

/* signal() and its variants on a signal that is ours or may become ours:
 * through sigaction with the flags each variant sets. */
static __sighandler_t set_handler(int sig, __sighandler_t h, int flags,
				  __sighandler_t (*real)(int, __sighandler_t))
{
	struct sigaction act, old;

	if (sig <= 0 || sig >= NSIG)
		return real(sig, h);
	memset(&act, 0, sizeof(act));
	act.sa_handler = h;
	act.sa_flags = flags;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&act.sa_mask, sig);	/* as glibc's signal() does */
	if (!atomic_load(&owned[sig]) &&
	    (!atomic_load(&takeable[sig]) || (!is_default(&act) && !wants_reset(&act))))
		return real(sig, h);
	if (sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

RS_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return set_handler(sig, h, SA_RESTART, rs_real.signal);	/* glibc's BSD semantics */
}

RS_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h);
RS_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, rs_real.sysv_signal);
}

/*
 * System V's sigset, as glibc does it (sysdeps/posix/sigset.c) but through
 * our sigaction: glibc's own calls its internal __sigaction, which we never
 * see, so a program resetting a fatal signal with sigset(sig, SIG_DFL) in
 * its handler and re-raising it took the signal away from us, and its
 * events died with it. Never calls the real sigset: sigaction and
 * sigprocmask are all it is made of.
 */
RS_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp)
{
	struct sigaction act, old;
	sigset_t set, prev;

	rs_bootstrap();
	if (sigemptyset(&set) < 0 || sigaddset(&set, sig) < 0)
		return SIG_ERR;
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &set, &prev) < 0)
			return SIG_ERR;
		if (sigismember(&prev, sig))
			return SIG_HOLD;
		if (sigaction(sig, NULL, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = disp;
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0 || sigprocmask(SIG_UNBLOCK, &set, &prev) < 0)
		return SIG_ERR;
	return sigismember(&prev, sig) ? SIG_HOLD : old.sa_handler;
}

RS_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h);
RS_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	rs_bootstrap();
	return set_handler(sig, h, SA_RESTART, rs_real.bsd_signal);
}
