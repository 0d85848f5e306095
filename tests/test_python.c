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

/* `refscope report --json --top 1 trace`, parsed. */
static json_t *plain_report(const char *trace)
{
	char *argv[] = { E2E_REFSCOPE, "report", "--json", "--top", "1", (char *)trace, NULL };
	struct e2e_proc p;
	json_error_t err;
	json_t *rep;

	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "report: %s", p.err);
	rep = json_loads(p.out, 0, &err);
	cr_assert_not_null(rep, "not JSON: %s", err.text);
	e2e_proc_free(&p);
	return rep;
}

static long long peak_of(const char *how)
{
	char *args[] = { PY_SAMPLE("listcomp.py"), (char *)how, NULL };
	char *trace, *dir = run_py(args, &trace);
	json_t *rep;
	long long peak;

	rep = plain_report(trace);
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

/* `refscope report --json --cycles --top 1 trace`, parsed (--top 1: the
 * live-at-exit groups are not what these tests look at, and symbolizing
 * all of them is the slow part); also the text report into *text when text
 * is not NULL (free). */
static json_t *cycles_report(const char *trace, char **text)
{
	char *jargv[] = { E2E_REFSCOPE, "report", "--json", "--cycles", "--top", "1", (char *)trace, NULL };
	char *targv[] = { E2E_REFSCOPE, "report", "--cycles", "--top", "1", (char *)trace, NULL };
	struct e2e_proc p;
	json_error_t err;
	json_t *rep;

	e2e_exec(jargv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "report: %s", p.err);
	rep = json_loads(p.out, 0, &err);
	cr_assert_not_null(rep, "not JSON: %s", err.text);
	e2e_proc_free(&p);
	if (text) {
		e2e_exec(targv, NULL, NULL, &p);
		cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "report: %s", p.err);
		*text = p.out;
		p.out = NULL;
		e2e_proc_free(&p);
	}
	return rep;
}

/* Runs node_cycle.py KIND [collect]; the JSON report in *rep (json_decref),
 * the text report in *text (free); returns the analyzed cycles. */
static json_t *node_cycles(const char *kind, const char *collect, json_t **rep, char **text)
{
	char *args[] = { PY_SAMPLE("node_cycle.py"), (char *)kind, (char *)collect, NULL };
	char *trace, *dir = run_py(args, &trace);
	json_t *cycles, *snaps = NULL;

	*rep = cycles_report(trace, text);
	/* one snapshot, before finalization, every object in one generation */
	snaps = e2e_get(*rep, "python.snapshots");
	cr_assert_eq(json_array_size(snaps), 1);
	cr_assert_str_eq(e2e_str(json_array_get(snaps, 0), "trigger"), "before_finalization");
	cr_assert_eq(e2e_int(*rep, "python.analyzed.snapshot"), 0);
	cycles = e2e_get(*rep, "python.analyzed.cycles");
	cr_assert(json_is_array(cycles));
	free(trace);
	e2e_rmtree(dir);
	free(dir);
	return cycles;
}

static json_t *at(json_t *a, size_t i)
{
	json_t *v = json_array_get(a, i);

	cr_assert_not_null(v, "no element %zu", i);
	return v;
}

/* Every closing edge of cycle cy named name (NULL: unnamed); how many. */
static size_t edges_named(json_t *cy, const char *name)
{
	json_t *edges = e2e_get(cy, "closing_edges"), *e;
	size_t i, n = 0;

	json_array_foreach(edges, i, e) {
		const char *nm = e2e_str(e, "name");

		n += name ? nm && !strcmp(nm, name) : !nm;
	}
	return n;
}

/*
 * The story's two-node cycle with the collector disabled, each node's
 * __dict__ a real dict object: one leaked cycle of 2 Node and their 2
 * instance dicts, 4 objects; Node -> dict (unnamed), dict -[next]-> Node.
 * 240 bytes on CPython 3.11: each Node block 56 (collector header 16,
 * dict/values pointers 16, object 24), each dict block 64. The members'
 * blocks start before their addresses (the collector's header).
 */
Test(python, dict_cycle_is_two_nodes_and_their_instance_dicts)
{
	json_t *rep, *cy, *types, *m, *members;
	char *text;
	json_t *cycles = node_cycles("dict", NULL, &rep, &text);
	size_t i;

	e2e_need_plain_samples();
	cr_assert_eq(json_array_size(cycles), 1);
	cy = at(cycles, 0);
	cr_assert_str_eq(e2e_str(cy, "summary"), "2 Node, 2 dict (instance dicts)");
	cr_assert_eq(e2e_int(cy, "objects"), 4);
	cr_assert_eq(e2e_int(cy, "bytes"), 240);
	types = e2e_get(cy, "types");
	cr_assert_eq(json_array_size(types), 2);
	cr_assert_str_eq(e2e_str(at(types, 0), "type"), "Node");
	cr_assert_eq(e2e_int(at(types, 0), "objects"), 2);
	cr_assert_eq(e2e_int(at(types, 0), "bytes"), 112);
	cr_assert_str_eq(e2e_str(at(types, 1), "type"), "dict");
	cr_assert_eq(e2e_int(at(types, 1), "bytes"), 128);
	cr_assert_eq(e2e_int(cy, "closing_edges_total"), 4);
	cr_assert_eq(edges_named(cy, "next"), 2);
	cr_assert_eq(edges_named(cy, NULL), 2);
	members = e2e_get(cy, "members");
	json_array_foreach(members, i, m) {
		unsigned long long a = strtoull(e2e_str(m, "address"), NULL, 16);
		unsigned long long b = strtoull(e2e_str(m, "block"), NULL, 16);

		cr_assert_eq(e2e_int(m, "refcount"), 1);
		cr_assert_eq(e2e_int(m, "generation"), 0);
		cr_assert_eq(a - b, strcmp(e2e_str(m, "type"), "Node") ? 16u : 32u);
		cr_assert_gt(json_array_size(e2e_get(m, "frames")), 0);
	}
	cr_assert_eq(e2e_int(rep, "python.analyzed.garbage.objects"), 4);
	cr_assert(strstr(text, "\npython leaked cycles: 1\n"), "%s", text);
	cr_assert(strstr(text, "python cycle #1: 2 Node, 2 dict (instance dicts), 4 objects, 240 bytes\n"),
		  "%s", text);
	cr_assert(strstr(text, " -[next]-> Node 0x"), "%s", text);
	free(text);
	json_decref(rep);
}

/* __slots__ = ['value', 'next']: one cycle of 2 Node and no dicts, 96
 * bytes (each block 48: header 16, object 16, two slots), fewer than the
 * dict version's 240; the edges are named by their slot. */
Test(python, slots_cycle_has_no_dicts_and_fewer_bytes)
{
	json_t *rep, *cy;
	char *text;
	json_t *cycles = node_cycles("slots", NULL, &rep, &text);

	e2e_need_plain_samples();
	cr_assert_eq(json_array_size(cycles), 1);
	cy = at(cycles, 0);
	cr_assert_str_eq(e2e_str(cy, "summary"), "2 Node");
	cr_assert_eq(e2e_int(cy, "objects"), 2);
	cr_assert_eq(e2e_int(cy, "bytes"), 96);
	cr_assert_lt(e2e_int(cy, "bytes"), 240);
	cr_assert_eq(json_array_size(e2e_get(cy, "types")), 1);
	cr_assert_eq(edges_named(cy, "next"), 2);
	cr_assert(strstr(text, "python cycle #1: 2 Node, 2 objects, 96 bytes\n"), "%s", text);
	free(text);
	json_decref(rep);
}

/* Plain attributes: CPython 3.11 keeps them in a values array, not a dict
 * object, until something asks for __dict__: the cycle is 2 Node alone
 * (112 bytes; the values arrays are malloc blocks but not objects). With
 * gc.collect() before the end nothing is left to find. */
Test(python, plain_cycle_found_and_gone_after_collect)
{
	json_t *rep, *cy;
	json_t *cycles = node_cycles("plain", NULL, &rep, NULL);

	e2e_need_plain_samples();
	cr_assert_eq(json_array_size(cycles), 1);
	cy = at(cycles, 0);
	cr_assert_str_eq(e2e_str(cy, "summary"), "2 Node");
	cr_assert_eq(e2e_int(cy, "bytes"), 112);
	cr_assert_eq(edges_named(cy, NULL), 2);
	json_decref(rep);

	cycles = node_cycles("plain", "collect", &rep, NULL);
	cr_assert_eq(json_array_size(cycles), 0);
	cr_assert_eq(e2e_int(rep, "python.analyzed.garbage.objects"), 0);
	json_decref(rep);
}

/* A leaked Python cycle fails `refscope check` (the cycles rule) as a C
 * one does, keyed by what it is. */
Test(python, leaked_cycle_fails_check)
{
	char *args[] = { PY_SAMPLE("node_cycle.py"), "slots", NULL };
	char *trace, *dir = run_py(args, &trace);
	char *argv[] = { E2E_REFSCOPE, "check", "--fail-on", "cycles", trace, NULL };
	struct e2e_proc p;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1, "status %d: %s", p.status, p.err);
	cr_assert(strstr(p.err, "      cycles: 1 leaked cycle (96 bytes in 2 blocks)\n"), "%s", p.err);
	cr_assert(strstr(p.err, "96 bytes in 2 blocks of cycles: python: 2 Node\n"), "%s", p.err);
	e2e_proc_free(&p);
	free(trace);
	e2e_rmtree(dir);
	free(dir);
}

/* run --py-tracemalloc: each member names the line that created it
 * (tracemalloc, started by sitecustomize.py through _tracemalloc). The
 * slots version: CPython 3.11's tracemalloc cannot find objects that have
 * a managed dict (docs/PYTHON.md). */
Test(python, tracemalloc_names_the_creating_lines)
{
	char *dir = e2e_tmpdir(), *trace;
	char *argv[] = { E2E_REFSCOPE, "run", "-q", "--py-tracemalloc", "-o", dir, "--", PYTHON,
			 PY_SAMPLE("node_cycle.py"), "slots", NULL };
	struct e2e_proc p;
	json_t *rep, *members;
	const char *s0, *s1;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	cr_assert_str_eq(p.out, "made a slots cycle\n");
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "python3.11");
	rep = cycles_report(trace, NULL);
	members = e2e_get(at(e2e_get(rep, "python.analyzed.cycles"), 0), "members");
	cr_assert_eq(json_array_size(members), 2);
	s0 = e2e_str(at(members, 0), "created_at");
	s1 = e2e_str(at(members, 1), "created_at");
	cr_assert(s0 && s1);
	/* a = cls(1) and b = cls(2), in either address order */
	cr_assert((!strcmp(s0, PY_SAMPLE("node_cycle.py:36")) && !strcmp(s1, PY_SAMPLE("node_cycle.py:37"))) ||
		  (!strcmp(s0, PY_SAMPLE("node_cycle.py:37")) && !strcmp(s1, PY_SAMPLE("node_cycle.py:36"))),
		  "%s %s", s0, s1);
	json_decref(rep);
	free(trace);
	e2e_rmtree(dir);
	free(dir);
}

/* The snapshot signal reaches the interpreter as a pending call: a second
 * Python-aware snapshot, taken while the program runs, with the
 * collector's generation counts; report --generations shows both. The
 * program runs until the pending call has run (its gc.get_objects audit
 * event), however late the snapshot thread gets the CPU: a fixed 2 s of
 * sleeps was a guess about the scheduler. */
Test(python, snapshot_signal_takes_a_python_snapshot_too, .timeout = 120)
{
	char *dir = e2e_tmpdir(), *trace;
	char *argv[] = { E2E_REFSCOPE, "run", "-q", "--snapshot-signal", "USR2", "-o", dir, "--", PYTHON,
			 "-c",
			 "import os, signal, sys, time\n"
			 "seen = []\n"
			 "sys.addaudithook(lambda ev, a: ev == 'gc.get_objects' and not seen and seen.append(1))\n"
			 "keep = [dict() for i in range(1000)]\n"
			 "os.kill(os.getpid(), signal.SIGUSR2)\n"
			 "while not seen:\n"
			 "    time.sleep(0.005)\n",
			 NULL };
	char *gargv[] = { E2E_REFSCOPE, "report", "--generations", "--top", "1", NULL, NULL };
	struct e2e_proc p;
	json_t *rep, *snaps, *s;
	size_t i;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "python3.11");
	rep = plain_report(trace);
	snaps = e2e_get(rep, "python.snapshots");
	cr_assert_eq(json_array_size(snaps), 2);
	cr_assert_str_eq(e2e_str(at(snaps, 0), "trigger"), "signal");
	cr_assert_str_eq(e2e_str(at(snaps, 1), "trigger"), "before_finalization");
	json_array_foreach(snaps, i, s) {
		json_t *gens = e2e_get(s, "generations");

		cr_assert_eq(json_array_size(gens), 3);
		cr_assert_eq(json_integer_value(at(gens, 0)) + json_integer_value(at(gens, 1)) +
				     json_integer_value(at(gens, 2)),
			     e2e_int(s, "objects"));
		cr_assert_gt(e2e_int(s, "objects"), 1000);	/* the 1000 dicts at least */
	}
	json_decref(rep);
	gargv[5] = trace;
	e2e_exec(gargv, NULL, NULL, &p);
	cr_assert(strstr(p.out, "\npython generations: "), "%s", p.out);
	cr_assert(strstr(p.out, " signal "), "%s", p.out);
	cr_assert(strstr(p.out, " before finalization "), "%s", p.out);
	e2e_proc_free(&p);
	free(trace);
	e2e_rmtree(dir);
	free(dir);
}
