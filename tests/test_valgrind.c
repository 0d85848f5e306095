/*
 * test_valgrind.c - refscope against Valgrind on the same binaries: for each
 * stdio-free sample, the blocks and bytes refscope finds live at the end of
 * the trace must equal Valgrind's "in use at exit" exactly. The samples run
 * uninstrumented under Valgrind (memcheck replaces malloc itself) and under
 * `refscope run` separately. Where the two legitimately differ, the test says
 * why and asserts the exact difference.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"

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

struct vg {
	long long bytes, blocks;
};

/* "1,245" -> 1245 */
static long long num(const char *s, const char **end)
{
	long long v = 0;

	while ((*s >= '0' && *s <= '9') || *s == ',') {
		if (*s != ',')
			v = v * 10 + (*s - '0');
		s++;
	}
	*end = s;
	return v;
}

/*
 * Runs argv under valgrind --leak-check=full, one log per process, and
 * reads "in use at exit: X bytes in Y blocks" from the log of the process we
 * started (its "Parent PID" is us: a fork child's log names the sample
 * instead, and a child that execs writes no summary at all).
 */
static struct vg valgrind(char *const argv[], const char *extra)
{
	char logopt[300], parent[64], *full[16];
	struct e2e_proc p;
	struct vg r = { -1, -1 };
	size_t k = 0, found = 0;
	DIR *d;
	struct dirent *e;

	snprintf(logopt, sizeof(logopt), "--log-file=%s/vg.%%p", dir);
	snprintf(parent, sizeof(parent), "Parent PID: %d\n", (int)getpid());
	full[k++] = "valgrind";
	full[k++] = "--leak-check=full";
	full[k++] = logopt;
	if (extra)
		full[k++] = (char *)extra;
	for (size_t i = 0; argv[i]; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	e2e_exec(full, NULL, NULL, &p);
	e2e_proc_free(&p);
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[512], line[512];
		int ours = 0;
		FILE *f;

		if (strncmp(e->d_name, "vg.", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f);
		while (fgets(line, sizeof(line), f)) {
			const char *s;

			if (strstr(line, parent))
				ours = 1;
			s = strstr(line, "in use at exit: ");
			if (ours && s) {
				r.bytes = num(s + 16, &s);
				cr_assert_eq(strncmp(s, " bytes in ", 10), 0, "%s", line);
				r.blocks = num(s + 10, &s);
				found++;
			}
		}
		fclose(f);
	}
	closedir(d);
	cr_assert_eq(found, 1, "one HEAP SUMMARY from the process we started");
	return r;
}

/* The report of the trace of prog whose origin is "start" and whose exe is
 * the sample (the first process). */
static json_t *refscope_first(char *const argv[], const char *prog)
{
	struct e2e_proc p;
	char **v;
	json_t *found = NULL;
	size_t n;

	e2e_traced(dir, argv, NULL, NULL, &p);
	e2e_proc_free(&p);
	n = e2e_traces(dir, prog, &v);
	for (size_t i = 0; i < n; i++) {
		json_t *j;

		cr_assert_eq(e2e_report(v[i], &j), 0);
		cr_assert_null(e2e_str(j, "trace.error"));
		if (!strcmp(e2e_str(j, "trace.origin"), "start")) {
			cr_assert_null(found, "two traces of %s start a process", prog);
			found = j;
		} else {
			json_decref(j);
		}
	}
	e2e_free_paths(v);
	cr_assert_not_null(found);
	return found;
}

static void same_as_valgrind(char *const argv[], const char *prog)
{
	struct vg vg = valgrind(argv, NULL);
	json_t *j = refscope_first(argv, prog);
	long long blocks = e2e_int(j, "live_at_exit.blocks"), bytes = e2e_int(j, "live_at_exit.bytes");

	cr_assert(blocks == vg.blocks && bytes == vg.bytes,
		  "%s: refscope %lld bytes in %lld blocks, valgrind %lld bytes in %lld blocks", argv[0],
		  bytes, blocks, vg.bytes, vg.blocks);
	json_decref(j);
}

Test(valgrind, leak7, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };

	same_as_valgrind(argv, "leak7");
}

Test(valgrind, exit_direct, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("exit_direct"), NULL };

	same_as_valgrind(argv, "exit_direct");
}

/* The parent's trace against Valgrind's parent: the fork child's summary is
 * never printed (it execs), and its blocks must not be in the parent's. */
Test(valgrind, forkexec_parent, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("forkexec"), E2E_SAMPLE("leak7"), NULL };

	same_as_valgrind(argv, "forkexec");
}

Test(valgrind, killed_segv, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("killed"), "segv", NULL };

	same_as_valgrind(argv, "killed");
}

Test(valgrind, killed_term, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("killed"), "term", NULL };

	same_as_valgrind(argv, "killed");
}

Test(valgrind, killed_abort, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("killed"), "abort", NULL };

	same_as_valgrind(argv, "killed");
}

/* Valgrind 3.19 aborts the program at pvalloc, hence --no-pvalloc. Also a
 * 0-byte block (malloc(0)) counts as a block for both. */
Test(valgrind, edges_without_pvalloc, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("edges"), "--no-pvalloc", NULL };

	same_as_valgrind(argv, "edges");
}

/*
 * threads8: glibc keeps the stacks of exited threads in a cache, each with
 * its DTV (dynamic thread vector, calloc'd by allocate_dtv). Valgrind runs
 * __libc_freeres before counting, which empties that cache, so its "in use
 * at exit" lacks the 8 DTVs; refscope reports what the process really held
 * at exit. So: refscope minus its allocate_dtv group (exactly 8 blocks) is
 * Valgrind's count exactly. With --run-libc-freeres=no Valgrind sees the
 * same 16 blocks; the bytes still differ because a DTV has one slot per
 * module with TLS, and the preloaded librefscope.so and libunwind are two
 * more such modules.
 */
Test(valgrind, threads8_but_the_cached_thread_dtvs, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("threads8"), NULL };
	struct vg vg = valgrind(argv, NULL), nofree;
	json_t *j = refscope_first(argv, "threads8"), *dtv = e2e_group_with(j, "allocate_dtv");
	long long blocks = e2e_int(j, "live_at_exit.blocks"), bytes = e2e_int(j, "live_at_exit.bytes");

	cr_assert_not_null(dtv);
	cr_assert_eq(e2e_int(dtv, "blocks"), 8);
	cr_assert_eq(blocks - 8, vg.blocks, "refscope %lld blocks, valgrind %lld", blocks, vg.blocks);
	cr_assert_eq(bytes - e2e_int(dtv, "bytes"), vg.bytes, "refscope %lld bytes, valgrind %lld",
		     bytes, vg.bytes);
	e2e_rmtree(dir);
	free(dir);
	dir = e2e_tmpdir();
	nofree = valgrind(argv, "--run-libc-freeres=no");
	cr_assert_eq(nofree.blocks, blocks);
	cr_assert_eq(nofree.bytes - vg.bytes, 8 * (e2e_int(dtv, "bytes") / 8 - 16 * 2),
		     "8 DTVs, each 2 slots of 16 bytes smaller without the shim");
	json_decref(j);
}
