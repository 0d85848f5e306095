/*
 * sigdie - dies of a signal through a handler of its own, as coreutils and
 * many others do; the target of tests/test_signals.c. argv[1] picks how,
 * argv[2] the signal number (13 SIGPIPE: a write to a pipe nobody reads;
 * anything else: kill(getpid())):
 *   reraise    handler (sigaction, a mask of the caught signals): cleanup,
 *              signal(sig, SIG_DFL), raise(sig)
 *   sigaction  the same, SIG_DFL set through sigaction, and the signal sent
 *              again with kill(getpid()) while it is blocked in the handler
 *   resethand  handler installed with SA_RESETHAND: cleanup, raise(sig)
 *   sigset     handler installed with System V's sigset(): cleanup,
 *              sigset(sig, SIG_DFL) (which unblocks sig), raise(sig)
 *   exit       handler calls _exit(3)
 * Before the signal it leaks KEEP blocks of 777 bytes and makes PAIRS
 * malloc(555)/free pairs; the handler's cleanup allocates nothing. So the
 * trace must hold exactly KEEP allocations of 777 and PAIRS of 555.
 *
 *   query      prints what the signal functions report while it sets SIG_DFL,
 *              handlers, SA_RESETHAND ones, sigset's dispositions and holds
 *              (one line each), then exits 0: traced and plain runs must
 *              print the same
 *   slow FILE  for ever: malloc(333), free, the number of pairs done so far
 *              written (8 bytes, pwrite at 0) to FILE, 1 ms sleep: a busy
 *              thread whose events trickle, for the kill -9 bound
 * No stdio.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* sigset is obsolescent, and glibc says so; programs still call it, and
 * the shim must see them do it: that is what its modes here test */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define KEEP 37
#define PAIRS 5000

static void *volatile sink;
static volatile sig_atomic_t cleaned;

static void say(const char *s)
{
	ssize_t w = write(1, s, strlen(s));

	(void)w;
}

static void say_num(const char *label, unsigned long v)
{
	char b[32];
	int n = 0;

	say(label);
	do {
		b[sizeof(b) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	{
		ssize_t w = write(1, b + sizeof(b) - n, (size_t)n);

		(void)w;
	}
	say("\n");
}

static void cleanup(void)
{
	cleaned = 1;	/* a real program unlinks its temporary files here */
}

static void reraise(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void reraise_sigaction(int sig)
{
	struct sigaction dfl;

	cleanup();
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	kill(getpid(), sig);	/* blocked here: delivered when we return */
}

static void sigset_raise(int sig)
{
	cleanup();
	sigset(sig, SIG_DFL);
	raise(sig);
}

static void reset_raise(int sig)
{
	cleanup();
	raise(sig);	/* the kernel already reset the action to SIG_DFL */
}

static void exit_3(int sig)
{
	(void)sig;
	cleanup();
	_exit(3);
}

__attribute__((noinline)) static void work(void)
{
	for (int i = 0; i < KEEP; i++)
		sink = malloc(777);
	for (int i = 0; i < PAIRS; i++) {
		sink = malloc(555);
		free(sink);
	}
	sink = NULL;
}

static void send(int sig)
{
	int p[2];

	if (sig != SIGPIPE) {
		kill(getpid(), sig);
		return;
	}
	if (pipe(p) != 0)
		return;
	close(p[0]);
	if (write(p[1], "x", 1) < 0)	/* SIGPIPE */
		say("write failed\n");
}

static void handle(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGPIPE);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	(void)sig;
}

/* "LABEL WHAT" when match, else "LABEL other", a line. */
static void is(const char *label, int match, const char *what)
{
	say(label);
	say(" ");
	say(match ? what : "other");
	say("\n");
}

static void show(const char *what, int sig)
{
	struct sigaction o;

	memset(&o, 0, sizeof(o));
	sigaction(sig, NULL, &o);
	say(what);
	say(o.sa_handler == SIG_DFL ? " dfl" : o.sa_handler == SIG_IGN ? " ign" : " handler");
	say_num(" flags ", (unsigned long)(unsigned)o.sa_flags);
	say_num(" mask-pipe ", (unsigned long)sigismember(&o.sa_mask, SIGPIPE));
	say_num(" mask-int ", (unsigned long)sigismember(&o.sa_mask, SIGINT));
	say_num(" restorer-set ", (unsigned long)(o.sa_restorer != NULL));
}

static int query(void)
{
	struct sigaction sa, old;
	__sighandler_t prev;

	show("start pipe", SIGPIPE);
	prev = signal(SIGPIPE, SIG_DFL);	/* already SIG_DFL */
	is("prev", prev == SIG_DFL, "dfl");
	show("dfl again pipe", SIGPIPE);
	prev = signal(SIGPIPE, reraise);
	is("prev", prev == SIG_DFL, "dfl");
	show("handler pipe", SIGPIPE);
	prev = signal(SIGPIPE, SIG_DFL);
	is("prev", prev == reraise, "handler");
	show("back to dfl pipe", SIGPIPE);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	memset(&old, 0, sizeof(old));
	sigaction(SIGTERM, &sa, &old);
	is("old", old.sa_handler == SIG_DFL, "dfl");
	show("dfl with mask term", SIGTERM);

	sa.sa_handler = reset_raise;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGHUP, &sa, &old);
	show("resethand hup", SIGHUP);
	memset(&old, 0, sizeof(old));
	sigaction(SIGHUP, NULL, &old);
	say(old.sa_handler == reset_raise ? "hup is reset_raise\n" : "hup other\n");
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGHUP, &sa, &old);
	is("old", old.sa_handler == reset_raise, "reset_raise");
	show("ignored hup", SIGHUP);

	prev = sysv_signal(SIGINT, reraise);
	is("prev", prev == SIG_DFL, "dfl");
	show("sysv int", SIGINT);
	prev = signal(SIGINT, SIG_DFL);
	is("prev", prev == reraise, "handler");
	show("dfl int", SIGINT);

	/* sigset: a handler, a hold (the handler stays), back to SIG_DFL (which
	 * reports the hold and lifts it) */
	prev = sigset(SIGTERM, reraise);
	is("sigset prev", prev == SIG_DFL, "dfl");
	show("sigset term", SIGTERM);
	prev = sigset(SIGTERM, SIG_HOLD);
	is("hold prev", prev == reraise, "handler");
	prev = sigset(SIGTERM, SIG_HOLD);
	is("hold again prev", prev == SIG_HOLD, "hold");
	prev = sigset(SIGTERM, SIG_DFL);
	is("dfl prev", prev == SIG_HOLD, "hold");
	show("sigset dfl term", SIGTERM);
	prev = sigset(-1, SIG_DFL);
	is("bad signal", prev == SIG_ERR, "err");
	return 0;
}

static void slow(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct timespec ms = { 0, 1000000 };
	uint64_t done = 0;

	if (fd < 0)
		_exit(2);
	for (;;) {
		sink = malloc(333);
		free(sink);
		done++;
		if (pwrite(fd, &done, sizeof(done), 0) != sizeof(done))
			_exit(2);
		nanosleep(&ms, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "";
	int sig = argc > 2 ? atoi(argv[2]) : SIGTERM;

	if (!strcmp(how, "query"))
		return query();
	if (!strcmp(how, "slow") && argc > 2)
		slow(argv[2]);
	if (!strcmp(how, "reraise"))
		handle(sig, reraise, 0);
	else if (!strcmp(how, "sigaction"))
		handle(sig, reraise_sigaction, 0);
	else if (!strcmp(how, "resethand"))
		handle(sig, reset_raise, SA_RESETHAND);
	else if (!strcmp(how, "exit"))
		handle(sig, exit_3, 0);
	else if (!strcmp(how, "sigset"))
		sigset(sig, sigset_raise);
	else
		return 2;
	work();
	send(sig);
	say("survived\n");
	return 1;
}
