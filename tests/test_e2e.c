/*
 * test_e2e.c - the samples under `build/refscope run`, checked against the
 * truth each one states in its opening comment: exact live-at-exit blocks
 * and bytes, totals, END records, the exit status handed back, output left
 * alone, and one trace per process across fork and exec.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e_util.h"
#include "refscope_format.h"
#include "test_shim_util.h"

static char *dir;

static void setup(void)
{
	e2e_need_plain_samples();
	dir = e2e_tmpdir();
}

static void teardown(void)
{
	if (dir)
		e2e_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* Runs a sample traced; returns the report of its only trace. */
static json_t *traced_sample(char *const argv[], const char *prog, struct e2e_proc *p)
{
	json_t *j;
	char *trace;

	e2e_traced(dir, argv, NULL, NULL, p);
	trace = e2e_only_trace(dir, prog);
	cr_assert_eq(e2e_report(trace, &j), 0, "report failed on %s", trace);
	free(trace);
	cr_assert_null(e2e_str(j, "trace.error"));
	return j;
}

static void assert_end(json_t *j, const char *how, long long status)
{
	cr_assert(json_is_true(e2e_get(j, "trace.complete")));
	cr_assert_str_eq(e2e_str(j, "trace.end.how"), how);
	cr_assert_eq(e2e_int(j, "trace.end.status"), status);
}

static void assert_live(json_t *j, long long blocks, long long bytes)
{
	cr_assert_eq(e2e_int(j, "live_at_exit.blocks"), blocks, "live blocks %lld, want %lld",
		     e2e_int(j, "live_at_exit.blocks"), blocks);
	cr_assert_eq(e2e_int(j, "live_at_exit.bytes"), bytes, "live bytes %lld, want %lld",
		     e2e_int(j, "live_at_exit.bytes"), bytes);
}

static void assert_silent(const struct e2e_proc *p)
{
	cr_assert_eq(p->out_len, 0, "stdout: %s", p->out);
	cr_assert_eq(p->err_len, 0, "stderr: %s", p->err);
}

Test(e2e, leak7_seven_blocks_of_100, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "leak7", &p), *g;
	char **traces;
	struct stat st;

	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	assert_silent(&p);
	assert_end(j, "exit", 0);
	assert_live(j, 7, 700);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 100);
	cr_assert_eq(e2e_int(j, "totals.frees"), 93);
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	cr_assert_eq(e2e_int(j, "totals.allocated_bytes"), 10000);
	cr_assert_eq(json_array_size(e2e_get(j, "live_at_exit.groups")), 1, "one leaking stack");
	g = e2e_group_with(j, "remember_forever");
	cr_assert_not_null(g, "the leak's stack names remember_forever");
	cr_assert_eq(e2e_int(g, "blocks"), 7);
	cr_assert_not_null(e2e_group_with(j, "make_record"));
	cr_assert_eq(e2e_traces(dir, NULL, &traces), 1);
	cr_assert_eq(stat(traces[0], &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "trace mode %o", st.st_mode & 0777);
	e2e_free_paths(traces);
	json_decref(j);
	e2e_proc_free(&p);
}

struct ev {
	uint64_t seq, addr;
	uint32_t tid;
	int is_free;
};

static int by_seq(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Replays the trace in sequence order and counts the frees made by another
 * thread than the block's allocation (*same: by the same thread) and, if
 * reused is not NULL, the allocations at an address another thread had
 * allocated before. */
static size_t cross_thread_frees(const char *trace, size_t *same, size_t *reused)
{
	struct tdec d = { 0 };
	struct ev *v;
	size_t n = 0, cross = 0;
	enum { SLOTS = 1 << 16 };
	static uint64_t key[SLOTS];	/* addresses are never removed: no tombstones */
	static uint32_t owner[SLOTS];
	static uint8_t live[SLOTS];

	cr_assert_eq(tdec_file(&d, trace, NULL), 0);
	v = calloc(d.n, sizeof(*v));
	for (size_t i = 0; i < d.n; i++)
		if (d.r[i].type == RS_EV_ALLOC || (d.r[i].type == RS_EV_FREE && d.r[i].addr))
			v[n++] = (struct ev){ d.r[i].seq, d.r[i].addr, d.r[i].tid,
					      d.r[i].type == RS_EV_FREE };
	qsort(v, n, sizeof(*v), by_seq);
	memset(key, 0, sizeof(key));
	memset(live, 0, sizeof(live));
	*same = 0;
	if (reused)
		*reused = 0;
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)(v[i].addr >> 4) & (SLOTS - 1), probes = 0;

		while (key[h] && key[h] != v[i].addr) {
			h = (h + 1) & (SLOTS - 1);
			cr_assert_lt(++probes, SLOTS, "more than %d distinct addresses", SLOTS);
		}
		if (!v[i].is_free) {
			if (reused && key[h] == v[i].addr && owner[h] != v[i].tid)
				(*reused)++;
			key[h] = v[i].addr;
			owner[h] = v[i].tid;
			live[h] = 1;
		} else if (key[h] == v[i].addr && live[h]) {
			if (owner[h] != v[i].tid)
				cross++;
			else
				(*same)++;
			live[h] = 0;
		}
	}
	free(v);
	tdec_free(&d);
	return cross;
}

Test(e2e, threads8_frees_across_threads, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("threads8"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "threads8", &p), *leak, *dtv;
	char *trace = e2e_only_trace(dir, "threads8");
	size_t same;

	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	assert_silent(&p);
	assert_end(j, "exit", 0);
	leak = e2e_group_with(j, "leak_one");
	cr_assert_not_null(leak);
	cr_assert_eq(e2e_int(leak, "blocks"), 8);
	cr_assert_eq(e2e_int(leak, "bytes"), 6436);
	cr_assert_eq(e2e_int(leak, "min_size"), 801);
	cr_assert_eq(e2e_int(leak, "max_size"), 808);
	/* glibc's: the DTVs of the 8 cached thread stacks (see the sample) */
	dtv = e2e_group_with(j, "allocate_dtv");
	cr_assert_not_null(dtv);
	cr_assert_eq(e2e_int(dtv, "blocks"), 8);
	cr_assert_eq(e2e_int(dtv, "min_size"), e2e_int(dtv, "max_size"));
	cr_assert_eq(json_array_size(e2e_get(j, "live_at_exit.groups")), 2);
	assert_live(j, 16, 6436 + e2e_int(dtv, "bytes"));
	cr_assert_eq(e2e_int(j, "totals.allocations"), 8 * 20 * 20 + 8 + 8);
	cr_assert_eq(e2e_int(j, "totals.frees"), 8 * 20 * 20);
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	cr_assert_eq(e2e_int(j, "totals.threads"), 9);
	cr_assert_eq(cross_thread_frees(trace, &same, NULL), 8 * 20 * 20);
	cr_assert_eq(same, 0);
	free(trace);
	json_decref(j);
	e2e_proc_free(&p);
}

/*
 * handoff: 4 threads pass 40000 fresh blocks round a ring through spinning
 * mailboxes, each freed by the next thread moments after its allocation,
 * its address handed straight back out to the freeing thread (tcache). With
 * version 3 stamps only the per-address stamps order such a free after its
 * allocation (times are rounded to 16 us, thread clocks drift apart inside
 * that): a stamp that missed it shows as unknown frees, allocations over a
 * live address (a report warning) and wrong live blocks, thousands of them.
 */
Test(e2e, handoff_orders_reused_addresses_across_threads, .init = setup, .fini = teardown)
{
	enum { THREADS = 4, ROUNDS = 10000, LEAK = 3 };
	char *argv[] = { E2E_SAMPLE("handoff"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "handoff", &p), *leak, *dtv;
	char *trace = e2e_only_trace(dir, "handoff");
	/* blocks of 16, 32, 48, 64 bytes by turns, then LEAK of 48, per thread */
	const long long bytes = THREADS * ((ROUNDS - LEAK) / 4 * 160 + 16 + LEAK * 48);
	size_t same, reused;

	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	assert_silent(&p);
	assert_end(j, "exit", 0);
	cr_assert_eq(json_array_size(e2e_get(j, "warnings")), 0, "warnings: %s",
		     json_dumps(e2e_get(j, "warnings"), 0));
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	leak = e2e_group_with(j, "make_block");
	cr_assert_not_null(leak);
	cr_assert_eq(e2e_int(leak, "blocks"), THREADS * LEAK);
	cr_assert_eq(e2e_int(leak, "bytes"), THREADS * LEAK * 48);
	cr_assert_eq(e2e_int(leak, "min_size"), 48);
	cr_assert_eq(e2e_int(leak, "max_size"), 48);
	dtv = e2e_group_with(j, "allocate_dtv");	/* glibc's, as in threads8 */
	cr_assert_not_null(dtv);
	cr_assert_eq(e2e_int(dtv, "blocks"), THREADS);
	cr_assert_eq(json_array_size(e2e_get(j, "live_at_exit.groups")), 2);
	assert_live(j, THREADS * LEAK + THREADS, THREADS * LEAK * 48 + e2e_int(dtv, "bytes"));
	cr_assert_eq(e2e_int(j, "totals.allocations"), THREADS * ROUNDS + THREADS);
	cr_assert_eq(e2e_int(j, "totals.frees"), THREADS * (ROUNDS - LEAK));
	cr_assert_eq(e2e_int(j, "totals.allocated_bytes"), bytes + e2e_int(dtv, "bytes"));
	cr_assert_eq(e2e_int(j, "totals.freed_bytes"), bytes - THREADS * LEAK * 48);
	cr_assert_eq(e2e_int(j, "totals.threads"), THREADS + 1);
	cr_assert_eq(cross_thread_frees(trace, &same, &reused), THREADS * (ROUNDS - LEAK));
	cr_assert_eq(same, 0);
	/* what makes it hard: nearly every allocation takes an address another
	 * thread allocated before (glibc's choice, so a bound, not a count) */
	cr_assert_gt(reused, THREADS * ROUNDS * 9 / 10, "only %zu addresses reused across threads",
		     reused);
	free(trace);
	json_decref(j);
	e2e_proc_free(&p);
}

/*
 * turns: two threads take turns allocating and freeing a 64 KiB block, each
 * from its own arena, so at most one is ever live. Only the time orders one
 * thread's free before the other's allocation just after it. With
 * REFSCOPE_EXACT_ORDER (refscope run --exact-order) every packed event is
 * stamped at the time read, and the peak holds one block. By default stamps
 * are exact to a few microseconds only (RS_ORDER_SHIFT, rs_writer_time's
 * reuse), and a turn handed over faster than that may replay the other
 * thread's allocation before the free: the peak then holds both blocks,
 * never more.
 */
static json_t *turns(char *const env[], long long *dtv_bytes)
{
	enum { ROUNDS = 10000 };
	char *argv[] = { E2E_SAMPLE("turns"), NULL };
	struct e2e_proc p;
	json_t *j, *dtv;
	char *trace;

	e2e_traced_env(dir, argv, NULL, NULL, env, 0, &p);
	trace = e2e_only_trace(dir, "turns");
	cr_assert_eq(e2e_report(trace, &j), 0, "report failed on %s", trace);
	cr_assert_eq(unlink(trace), 0);
	free(trace);
	cr_assert_null(e2e_str(j, "trace.error"));
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	assert_silent(&p);
	assert_end(j, "exit", 0);
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 2 * ROUNDS + 2);
	cr_assert_eq(e2e_int(j, "totals.frees"), 2 * ROUNDS);
	dtv = e2e_group_with(j, "allocate_dtv");	/* glibc's, as in threads8 */
	cr_assert_not_null(dtv);
	cr_assert_eq(e2e_int(dtv, "blocks"), 2);
	*dtv_bytes = e2e_int(dtv, "bytes");
	assert_live(j, 2, *dtv_bytes);
	e2e_proc_free(&p);
	return j;
}

Test(e2e, turns_peak_counts_one_block_handed_between_threads, .init = setup, .fini = teardown)
{
	char *env[] = { "REFSCOPE_EXACT_ORDER=1", NULL };
	long long dtv;
	json_t *j = turns(env, &dtv);

	cr_assert_eq(e2e_int(j, "peak.live_blocks"), 3);
	cr_assert_eq(e2e_int(j, "peak.live_bytes"), (64 << 10) + dtv);
	json_decref(j);
}

Test(e2e, turns_peak_by_default_counts_at_most_both_blocks, .init = setup, .fini = teardown)
{
	char *env[] = { "REFSCOPE_EXACT_ORDER=0", NULL };
	long long dtv, peak;
	json_t *j = turns(env, &dtv);

	peak = e2e_int(j, "peak.live_bytes");
	cr_assert(peak == (64 << 10) + dtv || peak == (128 << 10) + dtv, "peak %lld", peak);
	cr_assert_eq(e2e_int(j, "peak.live_blocks"), peak == (64 << 10) + dtv ? 3 : 4);
	json_decref(j);
}

/* refscope run --exact-order is REFSCOPE_EXACT_ORDER=1 for the program. */
Test(e2e, exact_order_flag_sets_the_environment, .init = setup, .fini = teardown)
{
	char cmd[1024], line[256];
	FILE *p;
	int on = 0, off = 0;

	snprintf(cmd, sizeof(cmd),
		 "%s run -q -o %s --exact-order -- /usr/bin/env; %s run -q -o %s -- /usr/bin/env",
		 E2E_REFSCOPE, dir, E2E_REFSCOPE, dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		on += strcmp(line, "REFSCOPE_EXACT_ORDER=1\n") == 0;
		off += strncmp(line, "REFSCOPE_EXACT_ORDER=", 21) == 0;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(on, 1);
	cr_assert_eq(off, 1, "set by the flag only");
}

/*
 * notsc forbids itself the TSC (prctl PR_SET_TSC, PR_TSC_SIGSEGV), after
 * which rdtsc, and with it the vDSO's clock_gettime, kill it: the shim must
 * stop reading either before the call, and still trace every event.
 */
Test(e2e, program_that_forbids_the_tsc_runs_and_is_traced, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("notsc"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "notsc", &p);

	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x", p.status);
	cr_assert_str_eq(p.out, "ok\n");
	assert_end(j, "exit", 0);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 20009);
	cr_assert_eq(e2e_int(j, "totals.frees"), 20000);
	assert_live(j, 9, 9 * 99);
	json_decref(j);
	e2e_proc_free(&p);
}

Test(e2e, fork_and_exec_write_one_trace_each, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("forkexec"), E2E_SAMPLE("leak7"), NULL };
	struct e2e_proc p;
	char **fe, *l7;
	json_t *parent = NULL, *child = NULL, *exec;

	e2e_traced(dir, argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x", p.status);
	assert_silent(&p);
	cr_assert_eq(e2e_traces(dir, NULL, &fe), 3, "parent, fork child, exec'd leak7");
	e2e_free_paths(fe);
	cr_assert_eq(e2e_traces(dir, "forkexec", &fe), 2);
	for (int i = 0; i < 2; i++) {
		json_t *j;

		cr_assert_eq(e2e_report(fe[i], &j), 0);
		cr_assert_null(e2e_str(j, "trace.error"));
		if (!strcmp(e2e_str(j, "trace.origin"), "fork"))
			child = j;
		else
			parent = j;
	}
	cr_assert(parent && child, "one trace starts, the other is a fork");
	l7 = e2e_only_trace(dir, "leak7");
	cr_assert_eq(e2e_report(l7, &exec), 0);

	/* the parent: only its own 4 allocations and 1 free */
	assert_end(parent, "exit", 0);
	assert_live(parent, 3, 901);
	cr_assert_eq(e2e_int(parent, "totals.allocations"), 4);
	cr_assert_eq(e2e_int(parent, "totals.allocated_bytes"), 300 + 300 + 55 + 301);
	cr_assert_eq(e2e_int(parent, "totals.frees"), 1);
	cr_assert_eq(e2e_int(parent, "totals.freed_bytes"), 55);
	/* the fork child: its 5 leaks, the inherited block's free is unknown */
	assert_end(child, "exec", -1);
	assert_live(child, 5, 250);
	cr_assert_eq(e2e_int(child, "totals.allocations"), 5);
	cr_assert_eq(e2e_int(child, "totals.frees"), 1);
	cr_assert_eq(e2e_int(child, "totals.unknown_frees"), 1);
	cr_assert_eq(e2e_int(child, "trace.ppid"), e2e_int(parent, "trace.pid"));
	/* the exec'd image: same pid as the child, a fresh start */
	cr_assert_str_eq(e2e_str(exec, "trace.origin"), "start");
	cr_assert_eq(e2e_int(exec, "trace.pid"), e2e_int(child, "trace.pid"));
	assert_end(exec, "exit", 0);
	assert_live(exec, 7, 700);
	cr_assert_eq(e2e_int(exec, "totals.allocations"), 100);

	json_decref(parent);
	json_decref(child);
	json_decref(exec);
	free(l7);
	e2e_free_paths(fe);
	e2e_proc_free(&p);
}

Test(e2e, underscore_exit_keeps_status_and_end, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("exit_direct"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "exit_direct", &p);

	cr_assert(WIFEXITED(p.status));
	cr_assert_eq(WEXITSTATUS(p.status), 3);
	assert_silent(&p);
	assert_end(j, "exit_call", 3);
	assert_live(j, 4, 160);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 10);
	cr_assert_eq(e2e_int(j, "totals.frees"), 6);
	json_decref(j);
	e2e_proc_free(&p);
}

/* refscope run dies of the program's signal; END says which. */
static void killed_by(const char *how, int sig, const char *end_how)
{
	char *argv[] = { E2E_SAMPLE("killed"), (char *)how, NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "killed", &p);

	cr_assert(WIFSIGNALED(p.status), "%s: status %#x", how, p.status);
	cr_assert_eq(WTERMSIG(p.status), sig);
	assert_silent(&p);
	assert_end(j, end_how, sig);
	assert_live(j, 4, 1072);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 14);
	cr_assert_eq(e2e_int(j, "totals.frees"), 10);
	json_decref(j);
	e2e_proc_free(&p);
}

Test(e2e, sigsegv_end_and_status, .init = setup, .fini = teardown)
{
	killed_by("segv", SIGSEGV, "signal");
}

Test(e2e, sigterm_end_and_status, .init = setup, .fini = teardown)
{
	killed_by("term", SIGTERM, "signal");
}

Test(e2e, abort_end_and_status, .init = setup, .fini = teardown)
{
	killed_by("abort", SIGABRT, "abort");
}

Test(e2e, no_signal_exits_zero, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("killed"), NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "killed", &p);

	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	assert_end(j, "exit", 0);
	assert_live(j, 4, 1072);
	json_decref(j);
	e2e_proc_free(&p);
}

/* kill -9: no END, but everything written before is readable and is a
 * prefix of what happened (see samples/killed.c). */
Test(e2e, sigkill_trace_is_a_readable_prefix, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("killed"), "kill9", NULL };
	struct e2e_proc p;
	json_t *j = traced_sample(argv, "killed", &p);
	long long k = e2e_int(j, "totals.allocations"), frees = e2e_int(j, "totals.frees");

	cr_assert(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGKILL, "status %#x", p.status);
	cr_assert(json_is_false(e2e_get(j, "trace.complete")));
	cr_assert(json_is_null(e2e_get(j, "trace.end")));
	cr_assert_gt(k, 0, "whole buffers were written before the kill");
	cr_assert_leq(k, 200000);
	cr_assert_eq(e2e_int(j, "totals.allocated_bytes"), k * (k + 1) / 2,
		     "sizes 1..%lld: a prefix of the allocations", k);
	cr_assert(frees == k || frees == k - 1, "%lld frees for %lld allocations", frees, k);
	assert_live(j, k - frees, frees == k ? 0 : k);
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	json_decref(j);
	e2e_proc_free(&p);
}

static const char edges_out[] =
	"malloc_ok=84 realloc0_null=1 malloc_huge=12 calloc_overflow=12 realloc_huge=12 "
	"reallocarray_overflow=12 reallocarray_ok=84 posix_memalign_ok=0 posix_memalign_errno=84 "
	"posix_memalign_einval=22 posix_memalign_enomem=12 aligned_and_realloc_errno=84 \n";

static void edges(int pvalloc, long long blocks, long long bytes)
{
	char *argv[] = { E2E_SAMPLE("edges"), pvalloc ? NULL : "--no-pvalloc", NULL };
	struct e2e_proc p, plain;
	json_t *j = traced_sample(argv, "edges", &p), *g, *live;
	size_t i;
	int zero = 0, pv = 0;

	e2e_exec(argv, NULL, NULL, &plain);
	cr_assert(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0,
		  "glibc itself: status %#x, %s", plain.status, plain.out);
	cr_assert_str_eq(plain.out, edges_out);
	/* errno and return values exactly as without refscope */
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x", p.status);
	cr_assert_str_eq(p.out, plain.out);
	cr_assert_eq(p.err_len, 0, "%s", p.err);
	assert_end(j, "exit", 0);
	assert_live(j, blocks, bytes);
	cr_assert_eq(e2e_int(j, "totals.allocations"), blocks + 9);
	cr_assert_eq(e2e_int(j, "totals.allocated_bytes"), bytes + 5416);
	cr_assert_eq(e2e_int(j, "totals.frees"), 9);
	cr_assert_eq(e2e_int(j, "totals.freed_bytes"), 5416);
	cr_assert_eq(e2e_int(j, "totals.free_null"), 1);
	cr_assert_eq(e2e_int(j, "totals.failed_allocations"), 6);
	cr_assert_eq(e2e_int(j, "totals.reallocs"), 8);
	cr_assert_eq(e2e_int(j, "totals.unknown_frees"), 0);
	cr_assert_eq(json_array_size(e2e_get(j, "warnings")), 0);
	live = e2e_get(j, "live_at_exit.groups");
	json_array_foreach(live, i, g) {
		cr_assert_eq(e2e_int(g, "blocks"), 1, "every leak has its own line");
		zero += e2e_int(g, "bytes") == 0;
		pv += e2e_int(g, "bytes") == 100;
	}
	cr_assert_eq(zero, 1, "malloc(0) is a live 0-byte block");
	/* posix_memalign's 100, and pvalloc's 100 as asked (not a page) */
	cr_assert_eq(pv, pvalloc ? 2 : 1);
	json_decref(j);
	e2e_proc_free(&p);
	e2e_proc_free(&plain);
}

Test(e2e, malloc_family_edge_cases, .init = setup, .fini = teardown)
{
	edges(1, 9, 1345);
}

Test(e2e, malloc_family_edge_cases_without_pvalloc, .init = setup, .fini = teardown)
{
	edges(0, 8, 1245);
}
