/*
 * test_realworld.c - programs nobody here wrote, under `refscope run`: ls,
 * sort (also with threads), python3, git, sqlite3 and a multithreaded xz
 * round trip. Their stdout, stderr and exit status must be byte-for-byte
 * those of a plain run, and every trace they leave must be readable to its
 * end (report exits 0, no error, an END) and hold events.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e_util.h"

static char *dir;
static char traces[300], work[300];
static int runs;

static void setup(void)
{
	dir = e2e_tmpdir();
	snprintf(work, sizeof(work), "%s/work", dir);
	cr_assert_eq(mkdir(work, 0700), 0);
}

static void teardown(void)
{
	e2e_rmtree(dir);
	free(dir);
}

/* Every trace in the traces dir: readable, complete, with events; the one
 * of the first process (prog, origin start) ended as the plain run did.
 * Returns the first process's thread count. */
static long long check_traces(const char *prog, int status)
{
	char **v;
	size_t n = e2e_traces(traces, NULL, &v);
	int firsts = 0;
	long long threads = 0;

	cr_assert_geq(n, 1, "no trace for %s", prog);
	for (size_t i = 0; i < n; i++) {
		json_t *j;
		char want[512];

		cr_assert_eq(e2e_report(v[i], &j), 0, "report on %s", v[i]);
		cr_assert_null(e2e_str(j, "trace.error"), "%s: %s", v[i], e2e_str(j, "trace.error.message"));
		cr_assert(json_is_true(e2e_get(j, "trace.complete")), "%s has no END", v[i]);
		cr_assert_gt(e2e_int(j, "totals.events"), 0, "%s", v[i]);
		cr_assert_gt(e2e_int(j, "totals.allocations"), 0, "%s", v[i]);
		snprintf(want, sizeof(want), "%s/refscope.%s.", traces, prog);
		if (!strncmp(v[i], want, strlen(want)) &&
		    !strcmp(e2e_str(j, "trace.origin"), "start")) {
			firsts++;
			cr_assert_str_eq(e2e_str(j, "trace.end.how"), "exit");
			cr_assert_eq(e2e_int(j, "trace.end.status"), status);
			threads = e2e_int(j, "totals.threads");
		}
		json_decref(j);
	}
	cr_assert_eq(firsts, 1, "one trace of %s's own process", prog);
	e2e_free_paths(v);
	return threads;
}

/* Runs argv plain and traced; asserts identical output and status, returns
 * the plain run's exit status (out: its stdout, if wanted). */
static int same_as_plain(char *const argv[], const char *stdin_path, const char *prog,
			 long long *threads, char **out, size_t *out_len)
{
	struct e2e_proc plain, traced;
	int status;
	long long t;

	/* each traced run gets a trace directory of its own */
	snprintf(traces, sizeof(traces), "%s/traces%d", dir, ++runs);
	cr_assert_eq(mkdir(traces, 0700), 0);
	e2e_exec(argv, stdin_path, work, &plain);
	e2e_traced(traces, argv, stdin_path, work, &traced);
	cr_assert(WIFEXITED(plain.status), "%s: plain run status %#x", prog, plain.status);
	cr_assert_eq(traced.status, plain.status, "%s: status %#x traced, %#x plain", prog,
		     traced.status, plain.status);
	cr_assert_eq(traced.out_len, plain.out_len, "%s: %zu bytes of stdout traced, %zu plain",
		     prog, traced.out_len, plain.out_len);
	cr_assert(memcmp(traced.out, plain.out, plain.out_len) == 0, "%s: stdout differs", prog);
	cr_assert_str_eq(traced.err, plain.err, "%s: stderr differs", prog);
	status = WEXITSTATUS(plain.status);
	t = check_traces(prog, status);
	if (threads)
		*threads = t;
	if (out) {
		*out = plain.out;
		*out_len = plain.out_len;
		plain.out = NULL;
	}
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
	return status;
}

/* A deterministic text file: n lines "<number> line <i>" in scrambled order. */
static void make_lines(const char *path, unsigned n)
{
	FILE *f = fopen(path, "w");
	uint32_t x = 12345;

	cr_assert_not_null(f);
	for (unsigned i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		fprintf(f, "%u line %u\n", (x >> 8) % 1000003u, i);
	}
	cr_assert_eq(fclose(f), 0);
}

static void in_work(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", work, name);
}

Test(realworld, ls_recursive, .init = setup, .fini = teardown)
{
	char *argv[] = { "ls", "-lR", "/usr/include/linux", NULL };
	char *out;
	size_t len;

	cr_assert_eq(same_as_plain(argv, NULL, "ls", NULL, &out, &len), 0);
	cr_assert_gt(len, 10000, "ls printed the tree");
	free(out);
}

Test(realworld, sort_file, .init = setup, .fini = teardown)
{
	char in[400], *argv[] = { "sort", in, NULL };
	char *out;
	size_t len;

	in_work(in, sizeof(in), "in.txt");
	make_lines(in, 100000);
	size_t lines = 0;

	cr_assert_eq(same_as_plain(argv, NULL, "sort", NULL, &out, &len), 0);
	for (size_t i = 0; i < len; i++)
		lines += out[i] == '\n';
	cr_assert_eq(lines, 100000);
	free(out);
}

/* Two sorting threads, and a small buffer so temporary files are merged. */
Test(realworld, sort_parallel, .init = setup, .fini = teardown)
{
	char in[400], tmp[400], *argv[] = { "sort", "--parallel=2", "-S", "1M", "-T", tmp, in, NULL };
	char *out;
	size_t len;

	in_work(in, sizeof(in), "in.txt");
	in_work(tmp, sizeof(tmp), "");
	make_lines(in, 200000);
	cr_assert_eq(same_as_plain(argv, NULL, "sort", NULL, &out, &len), 0);
	free(out);
}

Test(realworld, python3_allocates, .init = setup, .fini = teardown)
{
	char *argv[] = { "/usr/bin/python3", "-c",
			 "import json, sys\n"
			 "d = [{'k': i, 'v': str(i) * 3, 'l': list(range(i % 7))} for i in range(20000)]\n"
			 "s = json.dumps(d)\n"
			 "print(len(s), sum(x['k'] for x in json.loads(s)))\n"
			 "print('to stderr', file=sys.stderr)\n"
			 "sys.exit(4)\n",
			 NULL };
	char *out;
	size_t len;

	cr_assert_eq(same_as_plain(argv, NULL, "python3", NULL, &out, &len), 4);
	cr_assert_str_eq(out, "1041267 199990000\n");
	free(out);
}

Test(realworld, git_version_and_log, .init = setup, .fini = teardown)
{
	char repo[400], cmd[2048];
	char *version[] = { "git", "--version", NULL };
	char *log[] = { "git", "-C", repo, "log", "--stat", "--format=%H %an %ad %s", NULL };
	char *out;
	size_t len;

	cr_assert_eq(same_as_plain(version, NULL, "git", NULL, &out, &len), 0);
	cr_assert_eq(strncmp(out, "git version ", 12), 0);
	free(out);
	in_work(repo, sizeof(repo), "repo");
	snprintf(cmd, sizeof(cmd),
		 "set -e; export GIT_CONFIG_NOSYSTEM=1 HOME='%1$s' GIT_AUTHOR_DATE='2020-01-02T03:04:05Z'"
		 " GIT_COMMITTER_DATE='2020-01-02T03:04:05Z'; git init -q '%2$s'; cd '%2$s';"
		 " for i in 1 2 3; do seq $i 50 > f$i; git add f$i;"
		 " git -c user.name=rs -c user.email=rs@example.org commit -q -m c$i; done",
		 work, repo);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(same_as_plain(log, NULL, "git", NULL, &out, &len), 0);
	cr_assert_not_null(strstr(out, " rs Thu Jan 2 03:04:05 2020 +0000 c3\n"), "%s", out);
	free(out);
}

Test(realworld, sqlite3_script, .init = setup, .fini = teardown)
{
	char sql[400], *argv[] = { "sqlite3", ":memory:", NULL };
	char *out;
	size_t len;
	FILE *f;

	in_work(sql, sizeof(sql), "q.sql");
	f = fopen(sql, "w");
	cr_assert_not_null(f);
	fputs("create table t(a integer primary key, b text);\n"
	      "with recursive c(x) as (select 1 union all select x + 1 from c where x < 5000)\n"
	      "  insert into t select x, printf('row-%05d', x) from c;\n"
	      "create index i on t(b);\n"
	      "select count(*), sum(a), max(b) from t;\n"
	      "select a from t where b = 'row-04999';\n"
	      "delete from t where a % 2 = 0;\n"
	      "select count(*) from t;\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(same_as_plain(argv, sql, "sqlite3", NULL, &out, &len), 0);
	cr_assert_str_eq(out, "5000|12502500|row-05000\n4999\n2500\n");
	free(out);
}

/* xz with two worker threads: compressed bytes identical to a plain run's
 * (small blocks, so both threads work), and decompressing them under
 * refscope gives the input back. */
Test(realworld, xz_threads_round_trip, .init = setup, .fini = teardown)
{
	char data[400], xzf[400];
	char *zip[] = { "xz", "-T2", "--block-size=128KiB", "-c", data, NULL };
	char *unzip[] = { "xz", "-d", "-T2", "-c", NULL };
	char *out, *back;
	size_t len, blen;
	long long threads;
	FILE *f;
	struct stat st;

	in_work(data, sizeof(data), "data");
	in_work(xzf, sizeof(xzf), "data.xz");
	make_lines(data, 100000);	/* about 1.9 MB: 15 blocks */
	cr_assert_eq(same_as_plain(zip, NULL, "xz", &threads, &out, &len), 0);
	cr_assert_geq(threads, 2, "xz -T2 compressed in worker threads");
	f = fopen(xzf, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(out, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	free(out);
	cr_assert_eq(same_as_plain(unzip, xzf, "xz", NULL, &back, &blen), 0);
	cr_assert_eq(stat(data, &st), 0);
	cr_assert_eq(blen, (size_t)st.st_size);
	f = fopen(data, "r");
	out = malloc(blen + 1);
	cr_assert_eq(fread(out, 1, blen, f), blen);
	fclose(f);
	cr_assert(memcmp(out, back, blen) == 0, "the round trip gives the input back");
	free(out);
	free(back);
}
