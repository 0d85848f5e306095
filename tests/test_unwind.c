/*
 * test_unwind.c - the fast frame walker against libunwind.
 *
 * In process: the walker and libunwind unwind the same recursion and must
 * give the same frames. Under LD_PRELOAD: with REFSCOPE_UNWIND_CHECK=1 every
 * event the walker served is unwound by libunwind too, and each process
 * prints "refscope: unwind check: fast F libunwind L mismatches M" at its
 * end; samples and real programs (threads, a dlclose storm, a fork storm,
 * python3, sort, the bench workload) must show no mismatch, and the
 * workload's and threads8's events must all be walked fast.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "e2e_util.h"
#include "unwind.h"

/* ---- in process ------------------------------------------------------------ */

static unsigned nfast, nslow;
static uintptr_t fast[64 + RS_UNWIND_SLACK], slow[64 + RS_UNWIND_SLACK];

static __attribute__((noinline)) void both_ways(void)
{
	uintptr_t pc, sp, fp;
	int n;

	__asm__ volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2"
			 : "=r"(pc), "=r"(sp), "=r"(fp));
	n = rs_unwind_fast(fast, 64, pc, sp, fp);
	cr_assert_gt(n, 0, "the walker left a plain C stack to libunwind");
	nfast = (unsigned)n;
	nslow = rs_unwind_squeeze(slow, unw_backtrace((void **)slow, 64 + RS_UNWIND_SLACK), 64);
}

static __attribute__((noinline)) void recurse(unsigned d)
{
	if (d == 0)
		both_ways();
	else
		recurse(d - 1);
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

Test(unwind, fast_walk_matches_libunwind_in_process)
{
	cr_assert_eq(rs_unwind_init(), 0);
	recurse(12);
	cr_assert_eq(nfast, nslow, "fast %u frames, libunwind %u", nfast, nslow);
	cr_assert_geq(nfast, 14);
	/* frame 0: where each looked from, both inside both_ways */
	cr_assert_neq(fast[0], slow[0]);
	for (unsigned i = 1; i < nfast; i++)
		cr_assert_eq(fast[i], slow[i], "frame %u: %#lx vs %#lx", i, (unsigned long)fast[i],
			     (unsigned long)slow[i]);
}

Test(unwind, depth_limit_is_kept)
{
	uintptr_t pc, sp, fp, ips[5 + RS_UNWIND_SLACK];

	cr_assert_eq(rs_unwind_init(), 0);
	__asm__ volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2"
			 : "=r"(pc), "=r"(sp), "=r"(fp));
	cr_assert_eq(rs_unwind_fast(ips, 2, pc, sp, fp), 2);
}

Test(unwind, stack_pointer_outside_the_thread_stack_is_left_to_libunwind)
{
	static uintptr_t fake_stack[64];
	uintptr_t ips[8 + RS_UNWIND_SLACK];

	cr_assert_eq(rs_unwind_init(), 0);
	/* as on a signal stack or a coroutine's: never walked */
	cr_assert_eq(rs_unwind_fast(ips, 8, (uintptr_t)&both_ways, (uintptr_t)&fake_stack[8], 0),
		     -1);
}

Test(unwind, mismatch_is_counted)
{
	struct rs_unwind_counts before, after;
	uintptr_t bogus[3] = { 1, 2, 3 };

	cr_assert_eq(rs_unwind_init(), 0);
	rs_unwind_counts(&before);
	rs_unwind_check(bogus, 3, 64);
	rs_unwind_counts(&after);
	cr_assert_eq(after.fast, before.fast + 1);
	cr_assert_eq(after.mismatch, before.mismatch + 1);
}

/* ---- under LD_PRELOAD, REFSCOPE_UNWIND_CHECK=1 ----------------------------- */

static char *dir;

static void setup(void)
{
	e2e_need_plain_samples();
	dir = e2e_tmpdir();
	setenv("REFSCOPE_UNWIND_CHECK", "1", 1);
}

static void teardown(void)
{
	unsetenv("REFSCOPE_UNWIND_CHECK");
	if (dir)
		e2e_rmtree(dir);
	free(dir);
	dir = NULL;
}

struct sums {
	unsigned long long fast, slow, mismatch, procs;
};

/* Runs argv traced; sums the check lines of all its processes. */
static struct sums checked(char *const argv[], const char *stdin_path)
{
	struct e2e_proc p;
	struct sums s = { 0, 0, 0, 0 };
	const char *line;

	e2e_traced(dir, argv, stdin_path, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s failed: %s", argv[0],
		  p.err);
	for (line = p.err; line && (line = strstr(line, "refscope: unwind check:")); line++) {
		unsigned long long f, l, m;

		cr_assert_eq(sscanf(line, "refscope: unwind check: fast %llu libunwind %llu mismatches %llu",
				    &f, &l, &m), 3);
		s.fast += f;
		s.slow += l;
		s.mismatch += m;
		s.procs++;
	}
	cr_assert_gt(s.procs, 0, "no check line from %s: %s", argv[0], p.err);
	cr_assert_eq(s.mismatch, 0, "%s: %llu events unwound differently: %s", argv[0], s.mismatch,
		     p.err);
	e2e_proc_free(&p);
	return s;
}

Test(unwind, check_bench_workload_one_thread, .init = setup, .fini = teardown)
{
	char *argv[] = { RS_BUILD_DIR "/bench/workload", "-n", "3000", NULL };
	struct sums s = checked(argv, NULL);

	/* 3000 malloc and 3000 free of blocks, 256 free(NULL), libc's own */
	cr_assert_geq(s.fast, 6256);
	cr_assert_eq(s.slow, 0);
	cr_assert_eq(s.procs, 1);
}

Test(unwind, check_bench_workload_four_threads, .init = setup, .fini = teardown)
{
	char *argv[] = { RS_BUILD_DIR "/bench/workload", "-t", "4", "-n", "4000", NULL };
	struct sums s = checked(argv, NULL);

	cr_assert_geq(s.fast, 8000 + 4 * 256);
	cr_assert_eq(s.slow, 0);
}

Test(unwind, check_threads8, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("threads8"), NULL };
	struct sums s = checked(argv, NULL);

	cr_assert_gt(s.fast, 1000);
	cr_assert_eq(s.slow, 0);
}

Test(unwind, check_dlclose_storm, .init = setup, .fini = teardown, .timeout = 120)
{
	/* the rule cache is forgotten on every dlclose; the threads' mallocs
	 * through JIT stubs (no unwind info) go to libunwind, their frees are
	 * walked fast. How many the 40 rounds leave time for depends on the
	 * scheduler (54 to 1500 seen), but each of the 4 threads makes at
	 * least 100 of both (dlstorm's WORKER_MIN) */
	char *argv[] = { E2E_SAMPLE("dlstorm"), RS_BUILD_DIR "/samples/librefobj.so", "40", NULL };
	struct sums s = checked(argv, NULL);

	cr_assert_geq(s.fast, 400);
	cr_assert_geq(s.slow, 400);
}

Test(unwind, check_fork_storm, .init = setup, .fini = teardown, .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("forkstorm"), "10", NULL };
	struct sums s = checked(argv, NULL);

	cr_assert_eq(s.procs, 11, "the parent and each child report");
	cr_assert_gt(s.fast, 1000);
}

Test(unwind, check_python3, .init = setup, .fini = teardown, .timeout = 120)
{
	char *argv[] = { "/usr/bin/python3", "-S", "-c",
			 "import json\nd = [{'k': str(i)} for i in range(5000)]\n"
			 "print(len(json.loads(json.dumps(d))))", NULL };
	struct sums s = checked(argv, NULL);

	cr_assert_gt(s.fast, 1000);
}

Test(unwind, check_sort, .init = setup, .fini = teardown, .timeout = 120)
{
	char input[512], cmd[600];
	char *argv[] = { "/usr/bin/sort", "-n", NULL };
	struct sums s;

	snprintf(input, sizeof(input), "%s/numbers", dir);
	snprintf(cmd, sizeof(cmd), "seq 20000 -1 1 > %s", input);
	cr_assert_eq(system(cmd), 0);
	s = checked(argv, input);
	cr_assert_gt(s.fast, 10);
}
