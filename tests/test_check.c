/*
 * test_check.c - `refscope check`, `run --check` and `report DIR` as a CI
 * job runs them, on samples traced for real: exact exit codes for policies
 * that hold and that fail, suppressions turning a failure into a pass (and
 * listed as suppressed), a baseline that tolerates the known leak after a
 * rebuild at other addresses and catches a new one, a tree of more than 20
 * processes (shell, fork, exec, posix_spawn, a killed one), JUnit parsed
 * by xmllint and SARIF parsed by jansson. The suppression matcher is also
 * tested on its own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
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

static char *path_in(const char *d, const char *name)
{
	char *p;

	cr_assert_neq(asprintf(&p, "%s/%s", d, name), -1);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot create %s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* Runs build/refscope with args (NULL-terminated) in cwd; exit code. */
static int refscope(const char *cwd, struct e2e_proc *p, const char *const *args)
{
	char *argv[64];
	size_t n = 0;

	argv[n++] = E2E_REFSCOPE;
	for (; *args; args++) {
		cr_assert_lt(n, 63);
		argv[n++] = (char *)*args;
	}
	argv[n] = NULL;
	e2e_exec(argv, NULL, cwd, p);
	cr_assert(WIFEXITED(p->status), "refscope died: %s", p->err);
	return WEXITSTATUS(p->status);
}

#define RS(cwd, p, ...) refscope(cwd, p, (const char *const[]){ __VA_ARGS__, NULL })

/* Traces sample argv into sub (a directory under dir); returns its path. */
static char *trace_into(const char *sub, char *const argv[])
{
	char *d = path_in(dir, sub);
	struct e2e_proc p;

	e2e_traced(d, argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status), "traced %s died", argv[0]);
	e2e_proc_free(&p);
	return d;
}

static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;

	for (const char *s = strstr(text, needle); s; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* ---- the suppression matcher ------------------------------------------- */

Test(check, pattern_matching_follows_leaksanitizer)
{
	cr_assert(suppress_pattern_match("make_record", "make_record"));
	cr_assert(suppress_pattern_match("record", "make_record"), "a substring matches");
	cr_assert(suppress_pattern_match("^make", "make_record"));
	cr_assert_not(suppress_pattern_match("^record", "make_record"));
	cr_assert(suppress_pattern_match("record$", "make_record"));
	cr_assert_not(suppress_pattern_match("make$", "make_record"));
	cr_assert(suppress_pattern_match("^make_record$", "make_record"));
	cr_assert_not(suppress_pattern_match("^make_record$", "make_record2"));
	cr_assert(suppress_pattern_match("mak*cord", "make_record"));
	cr_assert(suppress_pattern_match("^m*d$", "make_record"));
	cr_assert_not(suppress_pattern_match("^m*x$", "make_record"));
	cr_assert(suppress_pattern_match("libfoo*.so", "/usr/lib/libfoo-2.0.so.1"));
	cr_assert(suppress_pattern_match("*", "anything"));
	cr_assert_not(suppress_pattern_match("x", NULL));
}

Test(check, stack_keys_ignore_addresses_and_directories)
{
	struct check_frame a[2] = { { "f", "/src/a/x.c", "/bin/p", 10 }, { NULL, NULL, "/lib/libc.so.6", 0 } };
	struct check_frame b[2] = { { "f", "/other/x.c", "/usr/bin/p", 99 }, { NULL, NULL, "/lib64/libc.so.6", 0 } };
	char *ka = check_stack_key(a, 2), *kb = check_stack_key(b, 2);

	cr_assert_str_eq(ka, "f@x.c;?@libc.so.6");
	cr_assert_str_eq(kb, ka);
	free(ka);
	free(kb);
	ka = check_stack_key(NULL, 0);
	cr_assert_str_eq(ka, "");
	free(ka);
}

/* ---- policies on leak7: 7 blocks, 700 bytes from one site --------------- */

Test(check, policy_passes_and_fails_with_exact_codes, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv);
	struct e2e_proc p;

	cr_assert_eq(RS(NULL, &p, "check", d), 1, "no leak allowed by default: %s", p.err);
	cr_assert_not_null(strstr(p.err, "leak7"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "700 bytes in 7 blocks"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "result: FAIL"), "%s", p.err);
	cr_assert_eq(p.out_len, 0, "the summary goes to stderr");
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-bytes", "700", d), 0, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "result: ok"), "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-bytes=699", d), 1, "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-blocks", "7", d), 0, "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-blocks", "6", d), 1, "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-blocks", "7", "--max-leaked-bytes", "600", d), 1);
	e2e_proc_free(&p);
	/* no rule at all: nothing can fail */
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "", d), 0, "%s", p.err);
	e2e_proc_free(&p);
	free(d);
}

Test(check, bad_input_and_usage_exit_2, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv), *empty = path_in(dir, "empty"), *bad = path_in(dir, "bad.supp");
	struct e2e_proc p;

	cr_assert_eq(mkdir(empty, 0700), 0);
	write_file(bad, "leak:ok\nleek:typo\n");
	cr_assert_eq(RS(NULL, &p, "check"), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "/nonexistent/trace"), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", RS_SOURCE_DIR "/tests/fixtures/bad_magic.trace"), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", empty), 2, "a directory without traces");
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--bogus", d), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "leaks,typo", d), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--max-leaked-bytes", "-1", d), 2);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", bad, d), 2);
	cr_assert_not_null(strstr(p.err, "bad.supp:2"), "names the line: %s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--baseline", bad, d), 2, "not JSON");
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--help"), 0);
	cr_assert_not_null(strstr(p.out, "usage: refscope check"));
	e2e_proc_free(&p);
	free(d);
	free(empty);
	free(bad);
}

/* ---- suppressions -------------------------------------------------------- */

Test(check, suppressions_turn_a_failure_into_a_pass, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv), *supp = path_in(dir, "leak7.supp");
	char *sarif = path_in(dir, "out.sarif"), *other = path_in(dir, "other.supp");
	struct e2e_proc p;
	json_error_t je;
	json_t *j, *res;

	write_file(supp, "# known: remember_forever keeps its records\n\nleak:remember_forever\nleak:unused_pattern\n");
	write_file(other, "leak:^remember$\ncycle:remember_forever\nrefcount:*\n");
	cr_assert_eq(RS(NULL, &p, "check", d), 1);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", other, d), 1,
		     "an anchored pattern that does not match, and other kinds, do not suppress: %s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, "--sarif", sarif, d), 0, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "leak sites suppressed (1)"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "700 bytes in 7 blocks [leak:remember_forever]"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "leak:remember_forever 1;"), "hit count: %s", p.err);
	cr_assert_not_null(strstr(p.err, "leak:unused_pattern 0;"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "leaks: 0 new, 1 suppressed"), "%s", p.err);
	e2e_proc_free(&p);
	/* the suppressed finding is still in the SARIF, marked suppressed */
	j = json_load_file(sarif, 0, &je);
	cr_assert_not_null(j, "%s", je.text);
	res = json_object_get(json_array_get(json_object_get(j, "runs"), 0), "results");
	cr_assert_eq(json_array_size(res), 1);
	cr_assert_str_eq(e2e_str(json_array_get(res, 0), "ruleId"), "leak");
	cr_assert_eq(json_array_size(json_object_get(json_array_get(res, 0), "suppressions")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(json_array_get(res, 0), "suppressions"), 0),
				 "justification")),
			 "leak:remember_forever");
	json_decref(j);
	/* module and file names match too */
	write_file(supp, "leak:samples/leak7\n");
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, d), 0, "%s", p.err);
	e2e_proc_free(&p);
	write_file(supp, "leak:leak7.c\n");
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, d), 0, "%s", p.err);
	e2e_proc_free(&p);
	free(d);
	free(supp);
	free(sarif);
	free(other);
}

Test(check, gen_suppressions_prints_what_failed, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv), *supp = path_in(dir, "gen.supp");
	struct e2e_proc p;

	cr_assert_eq(RS(NULL, &p, "check", "--gen-suppressions", d), 1);
	cr_assert_eq(count_lines_with(p.out, "\nleak:"), 1, "one entry: %s", p.out);
	cr_assert_not_null(strstr(p.out, "\nleak:^make_record$\n"), "%s", p.out);
	cr_assert_eq(p.out[0], '#', "a comment says what it is for: %s", p.out);
	write_file(supp, p.out);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, d), 0, "pasted back, it passes: %s", p.err);
	e2e_proc_free(&p);
	free(d);
	free(supp);
}

/* ---- baselines ----------------------------------------------------------- */

Test(check, baseline_tolerates_the_known_leak_and_catches_a_new_one, .init = setup,
     .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv), *base = path_in(dir, "base.json");
	char *bin = path_in(dir, "leak7"), *trace, *cmd;
	char *rebuilt[2] = { bin, NULL }, *fe[3] = { E2E_SAMPLE("forkexec"), E2E_SAMPLE("leak7"), NULL };
	struct e2e_proc p;
	char *d2, *d3;

	trace = e2e_only_trace(d, "leak7");
	cr_assert_eq(RS(NULL, &p, "report", "--json", "--top", "0", "-o", base, trace), 0);
	e2e_proc_free(&p);
	/* leak7 rebuilt elsewhere, non-PIE at another address: same keys */
	cr_assert_neq(asprintf(&cmd, "cc -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-inline-functions-called-once "
				     "-no-pie -Wl,-Ttext-segment=0x800000 -o %s %s/samples/leak7.c",
			       bin, RS_SOURCE_DIR), -1);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
	d2 = trace_into("rebuilt", rebuilt);
	cr_assert_eq(RS(NULL, &p, "check", d2), 1, "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--baseline", base, d2), 0, "the baseline has it: %s", p.err);
	cr_assert_not_null(strstr(p.err, "leak sites in the baseline (1)"), "%s", p.err);
	e2e_proc_free(&p);
	/* forkexec: leak7 (known) plus the forkexec processes' own leaks (new) */
	d3 = trace_into("fe", fe);
	cr_assert_eq(RS(NULL, &p, "check", "--baseline", base, d3), 1, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "2 of 3 processes failed"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "leaks: 2 new, 0 suppressed, 1 in the baseline"), "%s", p.err);
	e2e_proc_free(&p);
	/* a baseline of the whole tree (report --json DIR) tolerates all of it */
	cr_assert_eq(RS(NULL, &p, "report", "--json", "--top", "0", "-o", base, d3), 0, "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--baseline", base, d3), 0, "%s", p.err);
	e2e_proc_free(&p);
	free(trace);
	free(d);
	free(d2);
	free(d3);
	free(base);
	free(bin);
}

/* ---- JUnit and SARIF --------------------------------------------------- */

/* xmllint --xpath EXPR file: its output (a number for count()). */
static long xpath_num(const char *file, const char *expr)
{
	char *argv[] = { "xmllint", "--xpath", (char *)expr, (char *)file, NULL };
	struct e2e_proc p;
	long v;

	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "xmllint %s: %s", expr, p.err);
	v = strtol(p.out, NULL, 10);
	e2e_proc_free(&p);
	return v;
}

static char *xpath_str(const char *file, const char *expr)
{
	char *argv[] = { "xmllint", "--xpath", (char *)expr, (char *)file, NULL };
	struct e2e_proc p;
	char *s;

	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "xmllint %s: %s", expr, p.err);
	s = strdup(p.out);
	e2e_proc_free(&p);
	return s;
}

Test(check, junit_and_sarif_parse_with_exact_contents, .init = setup, .fini = teardown)
{
	char *fe[3] = { E2E_SAMPLE("forkexec"), E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("fe", fe), *junit = path_in(dir, "j.xml"), *sarif = path_in(dir, "s.sarif");
	char *supp = path_in(dir, "s.supp"), *s;
	struct e2e_proc p;
	json_error_t je;
	json_t *j, *run, *res, *r;
	size_t i;
	int found = 0;

	write_file(supp, "leak:^remember_forever$\n");
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "leaks,cycles", "--suppressions", supp,
			"--junit", junit, "--sarif", sarif, d), 1, "%s", p.err);
	e2e_proc_free(&p);
	{
		char *argv[] = { "xmllint", "--noout", junit, NULL };

		e2e_exec(argv, NULL, NULL, &p);
		cr_assert_eq(WEXITSTATUS(p.status), 0, "well-formed: %s", p.err);
		e2e_proc_free(&p);
	}
	/* 3 processes x 2 rules */
	cr_assert_eq(xpath_num(junit, "count(//testsuite)"), 3);
	cr_assert_eq(xpath_num(junit, "count(//testcase)"), 6);
	cr_assert_eq(xpath_num(junit, "count(//testcase[failure])"), 2, "the two forkexec processes leak");
	cr_assert_eq(xpath_num(junit, "count(//testcase[failure][@name[starts-with(., 'leaks')]])"), 2);
	cr_assert_eq(xpath_num(junit, "string(/testsuites/@failures)"), 2);
	cr_assert_eq(xpath_num(junit, "string(/testsuites/@tests)"), 6);
	cr_assert_eq(xpath_num(junit, "count(//testcase[@classname='refscope.leak7'][failure])"), 0);
	s = xpath_str(junit, "string(//testcase[@classname='refscope.leak7'][starts-with(@name,'leaks')]/system-out)");
	cr_assert_not_null(strstr(s, "suppressed leak: 700 bytes, 7 blocks"), "%s", s);
	free(s);

	j = json_load_file(sarif, 0, &je);
	cr_assert_not_null(j, "SARIF is JSON: %s", je.text);
	cr_assert_str_eq(e2e_str(j, "version"), "2.1.0");
	cr_assert_eq(json_array_size(json_object_get(j, "runs")), 1);
	run = json_array_get(json_object_get(j, "runs"), 0);
	cr_assert_str_eq(e2e_str(run, "tool.driver.name"), "refscope");
	cr_assert_eq(json_array_size(e2e_get(run, "tool.driver.rules")), 3);
	res = json_object_get(run, "results");
	cr_assert_eq(json_array_size(res), 3, "one leak site per process");
	json_array_foreach(res, i, r) {
		json_t *loc = json_array_get(json_object_get(r, "locations"), 0);
		const char *uri = e2e_str(loc, "physicalLocation.artifactLocation.uri");
		long long line = e2e_int(loc, "physicalLocation.region.startLine");

		cr_assert_str_eq(e2e_str(r, "ruleId"), "leak");
		cr_assert_eq(strncmp(uri, "file:///", 8), 0, "%s", uri);
		if (strstr(uri, "/samples/leak7.c")) {
			found++;
			cr_assert_eq(line, 19, "malloc in make_record is on line 19");
			cr_assert_eq(e2e_int(r, "properties.bytes"), 700);
			cr_assert_eq(json_array_size(json_object_get(r, "suppressions")), 1);
		} else {
			cr_assert_not_null(strstr(uri, "/samples/forkexec.c"), "%s", uri);
			cr_assert_eq(line, 27);
			cr_assert_null(json_object_get(r, "suppressions"));
		}
		cr_assert(json_is_string(e2e_get(r, "partialFingerprints.refscopeKey/v1")) ||
			  json_is_string(json_object_get(json_object_get(r, "partialFingerprints"),
							 "refscopeKey/v1")));
		cr_assert_geq(json_array_size(json_object_get(json_array_get(json_object_get(r, "stacks"), 0),
							      "frames")), 3);
	}
	cr_assert_eq(found, 1);
	json_decref(j);
	free(d);
	free(junit);
	free(sarif);
	free(supp);
}

/* ---- policy file, run --check -------------------------------------------- */

Test(check, policy_file_and_flags_over_it, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("leak7"), NULL };
	char *d = trace_into("t", argv), *pol = path_in(dir, ".refscope.toml");
	char *other = path_in(dir, "strict.toml"), *supp = path_in(dir, "x.supp");
	struct e2e_proc p;

	write_file(pol, "# CI policy\n[check]\nmax-leaked-bytes = 700   # leak7's known records\n"
			"fail-on = [\"leaks\"]\n");
	write_file(other, "max_leaked_bytes = 0\nsuppressions = \"x.supp\"\n");
	write_file(supp, "leak:make_record\n");
	cr_assert_eq(RS(dir, &p, "check", d), 0, ".refscope.toml in the current directory: %s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(dir, &p, "check", "--max-leaked-bytes", "10", d), 1, "a flag overrides it");
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", d), 1, "elsewhere there is no policy file");
	e2e_proc_free(&p);
	/* paths in a policy file are relative to it */
	cr_assert_eq(RS(NULL, &p, "check", "--policy", other, d), 0, "%s", p.err);
	e2e_proc_free(&p);
	write_file(other, "max-leaked-bytes = lots\n");
	cr_assert_eq(RS(NULL, &p, "check", "--policy", other, d), 2);
	cr_assert_not_null(strstr(p.err, "strict.toml:1"), "%s", p.err);
	e2e_proc_free(&p);
	free(d);
	free(pol);
	free(other);
	free(supp);
}

Test(check, run_check_exit_rules, .init = setup, .fini = teardown)
{
	char *out = path_in(dir, "o");
	struct e2e_proc p;

	cr_assert_eq(RS(NULL, &p, "run", "--check", "-o", out, "--", E2E_SAMPLE("leak7")), 1, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "result: FAIL"), "%s", p.err);
	e2e_proc_free(&p);
	/* only this run's traces are checked: the old one is still there */
	cr_assert_eq(RS(NULL, &p, "run", "-o", out, "--check", "--max-leaked-bytes", "700", "--",
			E2E_SAMPLE("leak7")), 0, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "refscope check: 1 process\n"), "%s", p.err);
	e2e_proc_free(&p);
	/* the program's failure wins: exit_direct leaks 160 bytes and _exits 3 */
	cr_assert_eq(RS(NULL, &p, "run", "--check", "-o", out, "--", E2E_SAMPLE("exit_direct")), 3);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "run", "--check", "--max-leaked-bytes", "160", "-o", out, "--",
			E2E_SAMPLE("exit_direct")), 3);
	e2e_proc_free(&p);
	/* killed by a signal: refscope dies of it too */
	{
		char *argv[] = { E2E_REFSCOPE, "run", "--check", "-o", out, "--", E2E_SAMPLE("killed"), "term", NULL };

		e2e_exec(argv, NULL, NULL, &p);
		cr_assert(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGTERM);
		e2e_proc_free(&p);
	}
	cr_assert_eq(RS(NULL, &p, "run", "--check", "--fail-on", "bogus", "--", E2E_SAMPLE("leak7")), 2);
	e2e_proc_free(&p);
	free(out);
}

/* ---- cycles and reference counts ----------------------------------------- */

Test(check, cycle_and_refcount_rules, .init = setup, .fini = teardown)
{
	char *cy[] = { E2E_SAMPLE("cycle2"), NULL };
	char *dc = trace_into("c", cy), *supp = path_in(dir, "c.supp");
	char *ro = path_in(dir, "r");
	struct e2e_proc p;

	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "cycles", dc), 1, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "cycles: 1 leaked cycle (96 bytes in 2 blocks)"), "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "refcount", dc), 0, "no refcounts: %s", p.err);
	e2e_proc_free(&p);
	write_file(supp, "cycle:^node_new$\n");
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "cycles", "--suppressions", supp, dc), 0, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "leaked cycles by site suppressed (1)"), "%s", p.err);
	e2e_proc_free(&p);
	/* refobj_leaks: rings of 2, 3, 5 and one over-retained object */
	cr_assert_eq(RS(NULL, &p, "run", "-q", "--refapi", "refobj_retain:refobj_release", "-o", ro, "--",
			E2E_SAMPLE("refobj_leaks")), 0);
	e2e_proc_free(&p);
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "cycles,refcount", ro), 1, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "cycles: 3 leaked cycles (560 bytes in 10 blocks)"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "refcount: 11 unbalanced references from 2 stacks"), "%s", p.err);
	e2e_proc_free(&p);
	/* report --cycles --json is a baseline of cycles and unbalanced retains */
	{
		char *base = path_in(dir, "r.json"), **v;

		cr_assert_eq(e2e_traces(ro, "refobj_leaks", &v), 1);
		cr_assert_eq(RS(NULL, &p, "report", "--cycles", "--json", "--top", "0", "-o", base, v[0]), 0);
		e2e_proc_free(&p);
		e2e_free_paths(v);
		cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "leaks,cycles,refcount", "--baseline", base, ro), 0,
			     "%s", p.err);
		cr_assert_not_null(strstr(p.err, "unbalanced retains in the baseline (2)"), "%s", p.err);
		e2e_proc_free(&p);
		free(base);
	}
	write_file(supp, "cycle:make_ring\nrefcount:make_ring\n");
	cr_assert_eq(RS(NULL, &p, "check", "--fail-on", "cycles,refcount", "--suppressions", supp, ro), 1);
	cr_assert_not_null(strstr(p.err, "refcount: 1 unbalanced reference from 1 stack"), "%s", p.err);
	cr_assert_not_null(strstr(p.err, "cache_lookup_forgets_release"), "%s", p.err);
	e2e_proc_free(&p);
	free(dc);
	free(supp);
	free(ro);
}

/* ---- a whole process tree -------------------------------------------------- */

/*
 * sh -c runs proctree tree (14 processes: fork, fork + exec, posix_spawn,
 * exec), proctree fork 2 in a background subshell (3), proctree leaf 1 into
 * a pipe to cat, killed term (dies of SIGTERM) and killed kill9 (no END
 * record). With the shell's own
 * processes that is well over 20 traces.
 */
Test(check, process_tree_of_more_than_20, .init = setup, .fini = teardown)
{
	char *sh[] = { "sh", "-c",
		       "P=" RS_BUILD_DIR "/samples/proctree; $P tree; ( $P fork 2 ) & wait; "
		       "$P leaf 1 | cat >/dev/null; " RS_BUILD_DIR "/samples/killed term; "
		       RS_BUILD_DIR "/samples/killed kill9; exit 0",
		       NULL };
	char *d = trace_into("tree", sh), *supp = path_in(dir, "tree.supp"), *junit = path_in(dir, "t.xml");
	char **v;
	size_t ntotal = e2e_traces(d, NULL, &v), nproc;
	struct e2e_proc p;

	e2e_free_paths(v);
	nproc = e2e_traces(d, "proctree", &v);
	e2e_free_paths(v);
	cr_assert_eq(nproc, 18, "14 + 3 + 1 proctree traces, got %zu", nproc);
	cr_assert_eq(e2e_traces(d, "killed", &v), 2);
	e2e_free_paths(v);
	cr_assert_eq(e2e_traces(d, "cat", &v), 1);
	e2e_free_paths(v);
	cr_assert_geq(e2e_traces(d, "sh", &v), 1);
	e2e_free_paths(v);
	cr_assert_geq(ntotal, 21, "%zu traces", ntotal);

	cr_assert_eq(RS(NULL, &p, "report", "--top", "0", d), 0, "%s", p.err);
	cr_assert_eq(count_lines_with(p.out, "\n  proctree "), 18, "a line per process: %s", p.out);
	cr_assert_not_null(strstr(p.out, "signal 15 (Terminated)"), "the killed one: %s", p.out);
	cr_assert_not_null(strstr(p.out, "killed (no END record)"), "the kill -9: %s", p.out);
	/* combined over processes: leaf_leak 64 bytes in 4 + 1 processes (3 spawned
	 * leaf 1, exec'd leaf 2, piped leaf 1) = 6 blocks; child_leak 3 + 2 */
	cr_assert_not_null(strstr(p.out, "384 bytes in 6 blocks in 5 processes: leak (proctree.c:"), "%s", p.out);
	cr_assert_not_null(strstr(p.out, "160 bytes in 5 blocks in 5 processes: leak (proctree.c:"), "%s", p.out);
	cr_assert_not_null(strstr(p.out, "256 bytes in 2 blocks in 2 processes: leak (proctree.c:"), "%s", p.out);
	e2e_proc_free(&p);

	/* the shell, cat and libc's locale data leak too: suppress all but
	 * proctree's, then allow exactly the biggest proctree process */
	write_file(supp, "leak:dash\nleak:/bin/cat\nleak:setlocale\nleak:killed\n");
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, "--max-leaked-bytes", "128", "--junit",
			junit, d), 0, "%s", p.err);
	cr_assert_not_null(strstr(p.err, "result: ok"), "%s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(xpath_num(junit, "count(//testcase)"), (long)ntotal);
	cr_assert_eq(RS(NULL, &p, "check", "--suppressions", supp, "--max-leaked-bytes", "127", d), 1);
	cr_assert_not_null(strstr(p.err, "3 of "), "two parent_leak and leaf 2 leak 128 each: %s", p.err);
	e2e_proc_free(&p);
	free(d);
	free(supp);
	free(junit);
}
