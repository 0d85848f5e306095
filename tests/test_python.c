/*
 * test_python.c - CPython targets end to end (docs/PYTHON.md): the Python
 * scripts in samples/py/ run under `refscope run` with Debian's python3.11
 * (installed by `make deps`); the shim prepares the interpreter
 * (PYTHONMALLOC=malloc, our sitecustomize.py) and the atexit callback writes
 * the Python-aware snapshot that `report --cycles` analyzes.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e_util.h"

#define PYTHON "/usr/bin/python3.11"
#define PY_SAMPLE(name) RS_SOURCE_DIR "/samples/py/" name

/* Runs a sample script under refscope in a fresh directory; returns the
 * directory (e2e_rmtree, free) and the trace path in *trace (free). */
static char *run_py(char *const args[], char **trace)
{
	char *argv[16];
	size_t n = 0;
	struct e2e_proc p;
	char *dir = e2e_tmpdir();

	argv[n++] = PYTHON;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	e2e_traced(dir, argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s failed: %s", args[0], p.err);
	e2e_proc_free(&p);
	*trace = e2e_only_trace(dir, "python3.11");
	return dir;
}

static long long peak_of(const char *how)
{
	char *args[] = { PY_SAMPLE("listcomp.py"), (char *)how, NULL };
	char *trace, *dir = run_py(args, &trace);
	json_t *rep;
	long long peak;

	cr_assert_eq(e2e_report(trace, &rep), 0);
	peak = e2e_int(rep, "peak.live_bytes");
	json_decref(rep);
	free(trace);
	e2e_rmtree(dir);
	free(dir);
	return peak;
}

/* With PYTHONMALLOC=malloc every int is a malloc block: the list of 10**6
 * (each int 32 bytes, the list's array 8 MB) lives at once, the generator's
 * ints one at a time. Measured: 42.5 MB against 2.9 MB (the interpreter
 * itself); without PYTHONMALLOC=malloc pymalloc's arenas would hide both. */
Test(python, list_comprehension_peaks_many_times_a_generator)
{
	long long list = peak_of("list"), gen = peak_of("gen");

	e2e_need_plain_samples();
	cr_assert_gt(list, 40000000, "list peak %lld", list);
	cr_assert_lt(gen, 8000000, "generator peak %lld", gen);
	cr_assert_gt(list, 8 * gen, "list %lld, generator %lld", list, gen);
}

/* The program's output, exit status and environment are the same with
 * refscope as without: sitecustomize.py takes PYTHONMALLOC, PYTHONPATH and
 * its own directory back out and runs Debian's sitecustomize. */
Test(python, output_is_the_same_traced_or_not)
{
	char *argv[] = { PYTHON, PY_SAMPLE("outputs.py"), NULL };
	struct e2e_proc plain, traced;
	char *dir = e2e_tmpdir(), *trace;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &plain);
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 3);
	cr_assert_eq(traced.status, plain.status);
	cr_assert_str_eq(traced.out, plain.out);
	cr_assert_str_eq(traced.err, plain.err);
	cr_assert(strstr(plain.out, "sitecustomize /usr/lib/python3.11/sitecustomize.py\n"),
		  "%s", plain.out);
	trace = e2e_only_trace(dir, "python3.11");
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
	e2e_rmtree(dir);
	free(dir);
}
