/*
 * test_signals.c - a program dying of a signal through its own handler
 * leaves a complete trace: the cleanup-and-reraise idiom of coreutils
 * (handler: clean up, signal(sig, SIG_DFL), raise(sig)), SIG_DFL set with
 * sigaction while the signal is blocked in the handler, SA_RESETHAND
 * handlers, System V sigset handlers, _exit from a handler; the real case `sort big | head -1`; what
 * the program sees when it queries its signals; and kill -9 of a running
 * program loses at most the events of the last REFSCOPE_FLUSH_MS.
 * The sample is samples/sigdie.c, whose opening comment states the truth.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e_util.h"
#include "refscope_format.h"
#include "test_shim_util.h"

#define SIGDIE_KEEP 37		/* samples/sigdie.c: KEEP, PAIRS */
#define SIGDIE_PAIRS 5000

static char *dir;

static void setup(void)
{
	e2e_need_plain_samples();
	dir = e2e_tmpdir();
	signal(SIGPIPE, SIG_DFL);	/* the programs we start must be able to die of it */
}

static void teardown(void)
{
	if (dir)
		e2e_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* Allocations of size bytes in a decoded trace. */
static size_t allocs_of(const struct tdec *d, uint64_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->r[i].type == RS_EV_ALLOC && d->r[i].size == size;
	return n;
}

/* sigdie HOW SIG, plain then traced: the same wait status, and a trace with
 * every allocation made before the signal and END(how, status). */
static void dies_complete(const char *how, int sig, unsigned end_how, int64_t end_status)
{
	char num[16];
	char *argv[] = { E2E_SAMPLE("sigdie"), (char *)how, num, NULL };
	struct e2e_proc plain, traced;
	const struct trec *end;
	struct tdec d = { 0 };
	char *trace;

	snprintf(num, sizeof(num), "%d", sig);
	e2e_exec(argv, NULL, NULL, &plain);
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert_eq(traced.status, plain.status, "%s %d: wait status %#x traced, %#x plain",
		     how, sig, traced.status, plain.status);
	cr_assert_str_eq(traced.out, plain.out);
	trace = e2e_only_trace(dir, "sigdie");
	cr_assert_eq(tdec_file(&d, trace, NULL), 0, "%s does not decode", trace);
	cr_assert_eq(allocs_of(&d, 777), SIGDIE_KEEP, "%s %d", how, sig);
	cr_assert_eq(allocs_of(&d, 555), SIGDIE_PAIRS, "%s %d", how, sig);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1, "%s %d: one END record", how, sig);
	end = tdec_nth(&d, RS_REC_END, 0);
	cr_assert_eq(end->how, end_how, "%s %d: END how %llu", how, sig,
		     (unsigned long long)end->how);
	cr_assert_eq(end->status, end_status);
	tdec_free(&d);
	cr_assert_eq(unlink(trace), 0);
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

Test(signals, reraise_after_cleanup_ends_the_trace, .init = setup, .fini = teardown,
     .timeout = 60)
{
	const int sigs[] = { SIGPIPE, SIGTERM, SIGHUP };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		dies_complete("reraise", sigs[i], RS_END_SIGNAL, sigs[i]);
		dies_complete("sigaction", sigs[i], RS_END_SIGNAL, sigs[i]);
	}
}

Test(signals, resethand_handler_that_reraises_ends_the_trace, .init = setup, .fini = teardown,
     .timeout = 60)
{
	dies_complete("resethand", SIGPIPE, RS_END_SIGNAL, SIGPIPE);
	dies_complete("resethand", SIGTERM, RS_END_SIGNAL, SIGTERM);
}

/* System V's sigset: glibc's calls its internal sigaction, unseen; the
 * shim's own sigset goes through its sigaction hook. */
Test(signals, sigset_handler_that_reraises_ends_the_trace, .init = setup, .fini = teardown,
     .timeout = 60)
{
	dies_complete("sigset", SIGPIPE, RS_END_SIGNAL, SIGPIPE);
	dies_complete("sigset", SIGTERM, RS_END_SIGNAL, SIGTERM);
}

Test(signals, handler_calling_exit_ends_the_trace, .init = setup, .fini = teardown,
     .timeout = 60)
{
	dies_complete("exit", SIGPIPE, RS_END_EXIT_CALL, 3);
	dies_complete("exit", SIGTERM, RS_END_EXIT_CALL, 3);
}

/* What sigaction, signal and sysv_signal report (handlers, masks, flags,
 * glibc's restorer) is the same traced as plain, line for line. */
Test(signals, queries_see_what_the_program_set, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("sigdie"), "query", NULL };
	struct e2e_proc plain, traced;

	e2e_exec(argv, NULL, NULL, &plain);
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert_eq(plain.status, 0);
	cr_assert_eq(traced.status, 0);
	cr_assert(strstr(plain.out, "back to dfl pipe dfl") != NULL, "%s", plain.out);
	cr_assert(strstr(plain.out, "\nhold again prev hold\ndfl prev hold\n") != NULL, "%s", plain.out);
	cr_assert(strstr(plain.out, "\nbad signal err\n") != NULL, "%s", plain.out);
	cr_assert_str_eq(traced.out, plain.out);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

/* coreutils sort: killed by SIGPIPE through its handler once head is gone. */
Test(signals, sort_into_head_trace_ends_with_sigpipe, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char cmd[1024], big[600];
	char *argv[] = { "/bin/bash", "-c", cmd, NULL };
	struct e2e_proc plain, traced;
	json_t *j;
	char *trace;
	FILE *f;

	snprintf(big, sizeof(big), "%s/big.txt", dir);
	f = fopen(big, "w");
	cr_assert_not_null(f);
	for (unsigned i = 0; i < 200000; i++)
		fprintf(f, "%u\n", (i * 2654435761u) % 1000003u);	/* unsorted */
	cr_assert_eq(fclose(f), 0);
	/* sort writes ~1.4 MB, far more than the pipe and head take */
	snprintf(cmd, sizeof(cmd), "sort %s | head -1; echo \"${PIPESTATUS[0]}\"", big);
	e2e_exec(argv, NULL, NULL, &plain);
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert_str_eq(plain.out, "0\n141\n");
	cr_assert_str_eq(traced.out, plain.out);
	cr_assert_eq(traced.status, plain.status);
	trace = e2e_only_trace(dir, "sort");
	cr_assert_eq(e2e_report(trace, &j), 0);
	cr_assert(json_is_true(e2e_get(j, "trace.complete")), "sort's trace has END");
	cr_assert_str_eq(e2e_str(j, "trace.end.how"), "signal");
	cr_assert_eq(e2e_int(j, "trace.end.status"), SIGPIPE);
	cr_assert_gt(e2e_int(j, "totals.allocations"), 0);
	/* sort holds its input in one buffer of at least the file's size */
	cr_assert_geq(e2e_int(j, "totals.allocated_bytes"), 200000 * 2);
	json_decref(j);
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

/* The pairs sigdie slow has made: its progress file (0 while there is none). */
static uint64_t pairs_done(const char *progress)
{
	uint64_t done = 0;
	int fd = open(progress, O_RDONLY);

	if (fd >= 0 && pread(fd, &done, sizeof(done), 0) != (ssize_t)sizeof(done))
		done = 0;
	if (fd >= 0)
		close(fd);
	return done;
}

/* Polls until sigdie slow has made at least n pairs; returns how many. */
static uint64_t wait_pairs(const char *progress, uint64_t n)
{
	uint64_t done;

	while ((done = pairs_done(progress)) < n)
		usleep(10000);	/* the test's timeout bounds this */
	return done;
}

/*
 * sigdie slow (a pair every ms) preloaded with REFSCOPE_FLUSH_MS=flush_ms:
 * once its progress file says it made *before (>= 1000) pairs, it is let
 * make `after` more, then killed with SIGKILL. Each pair sleeps >= 1 ms, so
 * pair before + after came at least `after` ms after pair `before`, however
 * the machine scheduled it. Returns the allocations its trace holds.
 */
static long long kill9_slow(const char *flush_ms, uint64_t after, long long *before)
{
	char progress[600];
	char *argv[] = { E2E_SAMPLE("sigdie"), "slow", progress, NULL };
	uint64_t done;
	json_t *j;
	char *trace;
	long long allocs;
	int st;
	pid_t pid;

	snprintf(progress, sizeof(progress), "%s/progress", dir);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("LD_PRELOAD", RS_BUILD_DIR "/librefscope.so", 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		setenv("REFSCOPE_FLUSH_MS", flush_ms, 1);
		setenv("REFSCOPE_QUIET", "1", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	done = wait_pairs(progress, 1000);
	*before = (long long)done;
	wait_pairs(progress, done + after);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	trace = e2e_only_trace(dir, "sigdie");
	cr_assert_eq(e2e_report(trace, &j), 0, "a killed trace reports");
	cr_assert(json_is_false(e2e_get(j, "trace.complete")));
	allocs = e2e_int(j, "totals.allocations");
	json_decref(j);
	cr_assert_eq(unlink(trace), 0);
	free(trace);
	unlink(progress);
	return allocs;
}

/*
 * A thread making an event a millisecond never fills its buffer (256 Ki
 * packed events) in a few seconds: only the age bound writes it, on the
 * first event at least 300 ms after the buffer's first one. Killed 400
 * pairs (>= 400 ms) after it had made `before` pairs, its trace holds every
 * one of them; with no bound (0), none. (A fixed 1.8 s of slack assumed the
 * thread got the CPU again in that time.)
 */
Test(signals, kill9_loses_at_most_the_flush_age, .init = setup, .fini = teardown,
     .timeout = 60)
{
	long long before, allocs;

	allocs = kill9_slow("300", 400, &before);
	cr_assert_gt(before, 0);
	cr_assert_geq(allocs, before, "%lld allocations in the trace, %lld made 400 pairs before",
		      allocs, before);
	allocs = kill9_slow("0", 400, &before);
	cr_assert_gt(before, 0);
	cr_assert_lt(allocs, before, "without a bound the buffer waits until it is full");
}
