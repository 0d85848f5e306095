/*
 * test_realworld.c - a corpus of programs nobody here wrote (Debian
 * packages `make deps` installs), each run plain and under `refscope run`:
 * stdout and the exit status must be byte for byte those of the plain run,
 * and stderr too once refscope's own summary is taken off its end (the
 * summary itself is checked line by line against the traces). Every trace
 * the run leaves - children a program forks or execs included (gcc's cc1, as
 * and ld, tar's gzip, git's helpers) - must read to its end and report, and
 * a process tree's directory must report as a whole.
 *
 * One line of the table is one program: its trace name, the exit status it
 * must give (non-zero ones included: grep without a match, a failing gcc or
 * make), an optional shell command preparing its work directory, its argv,
 * optional stdin, an optional shell check afterwards, and what its stdout
 * must hold. Both runs start from a fresh work directory at the same path,
 * made by the same preparation, so stateful programs (git commit, tar -x)
 * do the same thing twice. A fixed environment (C locale, UTC, git
 * identities and dates) makes every output reproducible.
 */
#include <criterion/criterion.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e_util.h"

static char *dir;
static char traces[300], work[300], input[300];
static int runs;

/* "<number> line <i>", n lines in a scrambled order: ../in.txt of every
 * work directory (about 1.9 MB for the 100000 lines every test gets) */
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

static void setup(void)
{
	static const char *const env[][2] = {
		{ "LC_ALL", "C" }, { "TZ", "UTC" }, { "PYTHONHASHSEED", "0" },
		{ "OMP_NUM_THREADS", "2" },	/* sort --parallel: 2 even on one core */
		{ "GIT_CONFIG_NOSYSTEM", "1" }, { "GIT_CONFIG_GLOBAL", "/dev/null" },
		{ "GIT_CONFIG_COUNT", "1" }, { "GIT_CONFIG_KEY_0", "init.defaultBranch" },
		{ "GIT_CONFIG_VALUE_0", "main" },
		{ "GIT_AUTHOR_NAME", "rs" }, { "GIT_AUTHOR_EMAIL", "rs@example.org" },
		{ "GIT_COMMITTER_NAME", "rs" }, { "GIT_COMMITTER_EMAIL", "rs@example.org" },
		{ "GIT_AUTHOR_DATE", "2020-01-02T03:04:05Z" },
		{ "GIT_COMMITTER_DATE", "2020-01-02T03:04:05Z" },
	};

	dir = e2e_tmpdir();
	snprintf(work, sizeof(work), "%s/work", dir);
	snprintf(input, sizeof(input), "%s/in.txt", dir);
	make_lines(input, 100000);
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		cr_assert_eq(setenv(env[i][0], env[i][1], 1), 0);
	cr_assert_eq(setenv("HOME", dir, 1), 0);
	/* Debian's programs, not a user's wrappers (a pyenv shim is a bash
	 * script running env, readlink and the real python) */
	cr_assert_eq(setenv("PATH", "/usr/bin:/bin", 1), 0);
	unsetenv("MAKEFLAGS");	/* make's own jobserver must not reach the corpus */
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
}

static void teardown(void)
{
	e2e_rmtree(dir);
	free(dir);
}

struct entry {
	const char *prog;	/* its trace name: refscope.<prog>.<pid>.trace */
	int status;		/* the exit status both runs must give */
	const char *prep;	/* sh command run in the fresh work dir first */
	const char *in;		/* stdin, in the work dir (NULL: /dev/null) */
	const char *post;	/* sh command that must succeed after each run */
	/* stdout must hold this; "" it must be empty; NULL any non-empty bytes */
	const char *want;
	int threads;		/* at least this many threads in prog's trace */
	const char *argv[16];
};

/* One trace's name and live-at-exit figures, for the summary. */
struct seen {
	char name[256];
	long long blocks, bytes;
};

static void sh_in_work(const char *cmd, const char *what)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	struct e2e_proc p;

	e2e_exec(argv, NULL, work, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s `%s` failed (%#x): %s%s",
		  what, cmd, p.status, p.out, p.err);
	e2e_proc_free(&p);
}

/* A fresh work directory at the same path for each run. */
static void fresh_work(const struct entry *e)
{
	e2e_rmtree(work);
	cr_assert_eq(mkdir(work, 0700), 0);
	if (e->prep)
		sh_in_work(e->prep, "preparation");
}

/*
 * Every trace of the run: readable, complete, with events; the one of the
 * started process (prog, origin start) ended as the plain run did. Fills
 * seen[] (sorted by name); returns the started process's trace index.
 */
static size_t check_traces(const struct entry *e, int status, struct seen **seen, size_t *n)
{
	char **v;
	size_t first = SIZE_MAX;

	*n = e2e_traces(traces, NULL, &v);
	cr_assert_geq(*n, 1, "no trace for %s", e->prog);
	*seen = calloc(*n, sizeof(**seen));
	cr_assert_not_null(*seen);
	for (size_t i = 0; i < *n; i++) {
		json_t *j;
		char want[512];
		struct seen *s = &(*seen)[i];

		cr_assert_eq(e2e_report(v[i], &j), 0, "report on %s", v[i]);
		cr_assert_null(e2e_str(j, "trace.error"), "%s: %s", v[i], e2e_str(j, "trace.error.message"));
		cr_assert(json_is_true(e2e_get(j, "trace.complete")), "%s has no END", v[i]);
		cr_assert_gt(e2e_int(j, "totals.events"), 0, "%s", v[i]);
		snprintf(s->name, sizeof(s->name), "%s", v[i] + strlen(traces) + 1);
		s->blocks = e2e_int(j, "live_at_exit.blocks");
		s->bytes = e2e_int(j, "live_at_exit.bytes");
		snprintf(want, sizeof(want), "%s/refscope.%s.", traces, e->prog);
		if (!strncmp(v[i], want, strlen(want)) &&
		    !strcmp(e2e_str(j, "trace.origin"), "start")) {
			cr_assert_eq(first, SIZE_MAX, "one trace of %s's own process", e->prog);
			first = i;
			/* exit_call: sh and others end with _exit */
			cr_assert(!strcmp(e2e_str(j, "trace.end.how"), "exit") ||
					  !strcmp(e2e_str(j, "trace.end.how"), "exit_call"),
				  "%s ended by %s", v[i], e2e_str(j, "trace.end.how"));
			cr_assert_eq(e2e_int(j, "trace.end.status"), status);
			cr_assert_geq(e2e_int(j, "totals.threads"), e->threads);
			/* a child may well never allocate (gzip has static buffers) */
			cr_assert_gt(e2e_int(j, "totals.allocations"), 0, "%s", v[i]);
		}
		json_decref(j);
	}
	cr_assert_neq(first, SIZE_MAX, "no trace of %s's own process", e->prog);
	e2e_free_paths(v);
	return first;
}

/*
 * What `refscope run` appends to stderr after the program ended (run.c,
 * summary()): a line per trace of the pid it started (names
 * "refscope.*.PID.trace" first, then "refscope.*.PID.*.trace" of later exec'd
 * images, each in name order as glob(3) gives them), then one line counting
 * the other traces, when there are any.
 */
static char *expected_summary(const struct seen *seen, size_t n, size_t first)
{
	char pid[32], pat[2][64], *text = NULL;
	size_t len = 0, ours = 0;
	FILE *f = open_memstream(&text, &len);
	const char *p = strrchr(seen[first].name, '.');

	cr_assert_not_null(f);
	/* refscope.<prog>.<pid>.trace: the digits before ".trace" */
	while (p > seen[first].name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	snprintf(pid, sizeof(pid), "%.*s", (int)strcspn(p, "."), p);
	snprintf(pat[0], sizeof(pat[0]), "refscope.*.%s.trace", pid);
	snprintf(pat[1], sizeof(pat[1]), "refscope.*.%s.*.trace", pid);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			if (fnmatch(pat[pass], seen[i].name, 0) != 0)
				continue;
			fprintf(f, "refscope: trace %s/%s: %lld blocks (%lld bytes) live at exit\n",
				traces, seen[i].name, seen[i].blocks, seen[i].bytes);
			ours++;
		}
	cr_assert_geq(ours, 1);
	if (n > ours)
		fprintf(f, "refscope: %zu more trace%s written by child processes in %s\n", n - ours,
			n - ours == 1 ? "" : "s", traces);
	cr_assert_eq(fclose(f), 0);
	return text;
}

/* A process tree: `refscope report --json DIR` reports every trace, with
 * the figures each one has alone. */
static void check_tree_report(const struct seen *seen, size_t n)
{
	json_t *set, *r;
	long long blocks = 0, bytes = 0, want_blocks = 0, want_bytes = 0;
	size_t i;

	cr_assert_eq(e2e_report(traces, &set), 0, "report on %s", traces);
	cr_assert_str_eq(e2e_str(set, "schema"), "refscope-report-set");
	cr_assert_eq(json_array_size(e2e_get(set, "reports")), n);
	json_array_foreach(e2e_get(set, "reports"), i, r) {
		cr_assert_null(e2e_str(r, "trace.error"));
		blocks += e2e_int(r, "live_at_exit.blocks");
		bytes += e2e_int(r, "live_at_exit.bytes");
		want_blocks += seen[i].blocks;
		want_bytes += seen[i].bytes;
	}
	cr_assert(blocks == want_blocks && bytes == want_bytes,
		  "the tree's report: %lld bytes in %lld blocks, its traces alone %lld in %lld", bytes,
		  blocks, want_bytes, want_blocks);
	json_decref(set);
}

static void run_entry(const char *name, const struct entry *e)
{
	char in[400], *summary;
	char *const *argv = (char *const *)e->argv;
	struct e2e_proc plain, traced;
	struct seen *seen;
	size_t n, first, plen;

	if (e->in)
		snprintf(in, sizeof(in), "%s/%s", work, e->in);
	fresh_work(e);
	e2e_exec(argv, e->in ? in : NULL, work, &plain);
	if (e->post)
		sh_in_work(e->post, "check after the plain run:");
	cr_assert(WIFEXITED(plain.status), "%s: plain run status %#x", name, plain.status);
	cr_assert_eq(WEXITSTATUS(plain.status), e->status, "%s: plain run exited %d: %s", name,
		     WEXITSTATUS(plain.status), plain.err);

	/* each traced run gets a trace directory of its own */
	snprintf(traces, sizeof(traces), "%s/traces%d", dir, ++runs);
	cr_assert_eq(mkdir(traces, 0700), 0);
	fresh_work(e);
	e2e_traced_summary(traces, argv, e->in ? in : NULL, work, &traced);
	if (e->post)
		sh_in_work(e->post, "check after the traced run:");
	cr_assert_eq(traced.status, plain.status, "%s: status %#x traced, %#x plain", name,
		     traced.status, plain.status);
	cr_assert_eq(traced.out_len, plain.out_len, "%s: %zu bytes of stdout traced, %zu plain",
		     name, traced.out_len, plain.out_len);
	cr_assert(memcmp(traced.out, plain.out, plain.out_len) == 0, "%s: stdout differs", name);
	if (!e->want)
		cr_assert_gt(plain.out_len, 0, "%s printed nothing", name);
	else if (!e->want[0])
		cr_assert_eq(plain.out_len, 0, "%s printed %s", name, plain.out);
	else
		cr_assert_not_null(strstr(plain.out, e->want), "%s: no '%s' in %s", name, e->want,
				   plain.out);

	first = check_traces(e, e->status, &seen, &n);
	summary = expected_summary(seen, n, first);
	if (n > 1)
		check_tree_report(seen, n);
	plen = plain.err_len;
	cr_assert(traced.err_len >= plen && memcmp(traced.err, plain.err, plen) == 0,
		  "%s: stderr differs:\n--- plain\n%s--- traced\n%s", name, plain.err, traced.err);
	cr_assert_str_eq(traced.err + plen, summary, "%s: refscope's summary", name);
	free(summary);
	free(seen);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

#define CORPUS(name, ...)                                                        \
	Test(realworld, name, .init = setup, .fini = teardown)                   \
	{                                                                        \
		static const struct entry e = { __VA_ARGS__ };                   \
		run_entry(#name, &e);                                            \
	}

/* stdlib-heavy: json, re, collections, pathlib, subprocess (a traced
 * child), csv, hashlib, statistics, fractions, decimal, tempfile, zlib */
#define PY_STDLIB                                                                          \
	"import collections, csv, decimal, fractions, hashlib, io, itertools, json, pathlib, " \
	"re, statistics, subprocess, sys, tempfile, zlib\n"                                    \
	"names = sorted(f.name for f in pathlib.Path('/usr/include/linux').glob('*.h'))\n"     \
	"words = collections.Counter(re.findall(r'[a-z]+', ' '.join(names)))\n"               \
	"print(len(names), words.most_common(3))\n"                                            \
	"nums = [int(l.split()[0]) for l in open('../in.txt')]\n"                              \
	"print(statistics.median(nums), fractions.Fraction(sum(nums), len(nums)))\n"           \
	"print(decimal.Decimal(1) / decimal.Decimal(7))\n"                                     \
	"d = collections.defaultdict(list)\n"                                                  \
	"for k, g in itertools.groupby(sorted(nums[:5000]), key=lambda x: x % 13):\n"          \
	"    d[k].extend(g)\n"                                                                 \
	"s = json.dumps({str(k): v for k, v in d.items()}, sort_keys=True)\n"                  \
	"print(hashlib.sha256(s.encode()).hexdigest(), len(zlib.compress(s.encode())))\n"      \
	"buf = io.StringIO()\n"                                                                \
	"csv.writer(buf).writerows([n, n * n, str(n)[::-1]] for n in nums[:100])\n"            \
	"print(len(buf.getvalue()))\n"                                                         \
	"r = subprocess.run(['ls', '/usr/include/linux'], capture_output=True, text=True)\n"   \
	"print(len(r.stdout.split()), r.returncode)\n"                                         \
	"with tempfile.TemporaryDirectory(dir='.') as t:\n"                                    \
	"    p = pathlib.Path(t) / 'x.json'\n"                                                 \
	"    p.write_text(s)\n"                                                                \
	"    print(json.loads(p.read_text()) == json.loads(s))\n"                             \
	"print('stdlib done', file=sys.stderr)\n"

#define PY_JSON_EXIT4                                                                       \
	"import json, sys\n"                                                                    \
	"d = [{'k': i, 'v': str(i) * 3, 'l': list(range(i % 7))} for i in range(20000)]\n"      \
	"s = json.dumps(d)\n"                                                                   \
	"print(len(s), sum(x['k'] for x in json.loads(s)))\n"                                   \
	"print('to stderr', file=sys.stderr)\n"                                                 \
	"sys.exit(4)\n"

#define PERL_SCRIPT                                                                         \
	"use strict; use warnings; use List::Util qw(sum max);\n"                               \
	"my %h; open my $f, '<', '../in.txt' or die;\n"                                         \
	"while (<$f>) { my ($n) = /^(\\d+)/; $h{$n % 97}++; }\n"                                \
	"close $f;\n"                                                                           \
	"printf \"%d buckets, max %d, sum %d\\n\", scalar(keys %h), max(values %h), "           \
	"sum(values %h);\n"                                                                     \
	"my @w = sort { $a cmp $b } map { sprintf '%x', $_ * 7919 } 1 .. 5000;\n"               \
	"print \"@w[0 .. 4]\\n\";\n"                                                            \
	"my $s = join ',', reverse 1 .. 20; $s =~ s/(\\d+)/<$1>/g; print \"$s\\n\";\n"          \
	"warn \"perl done\\n\";\n"

/* subshells, pipelines, command substitution, functions, an associative
 * array, a here-string; ends with status 3 */
#define BASH_SCRIPT                                                                         \
	"set -o pipefail\n"                                                                     \
	"sq() { local n=$1; echo \"sq $n $((n * n))\"; }\n"                                     \
	"for i in 1 2 3; do sq $i; done\n"                                                      \
	"echo \"sum $(seq 1 1000 | paste -sd+ | bc)\"\n"                                        \
	"( cd /usr/include/linux && ls | wc -l )\n"                                             \
	"{ echo b; echo a; echo c; } | sort | tr a-c A-C | paste -sd,\n"                        \
	"grep -c line ../in.txt | ( read n; echo \"lines $n\" )\n"                              \
	"declare -A m=([one]=1 [two]=2); echo \"${#m[@]} ${m[two]}\"\n"                         \
	"read -r x y <<< 'left right'; echo \"$y $x\"\n"                                        \
	"echo to-stderr >&2\n"                                                                  \
	"false | true | (exit 3)\n"

#define GIT_REPO                                                                            \
	"git init -q r && cd r && for i in 1 2 3; do seq $i 50 > f$i && git add f$i &&"         \
	" git commit -q -m c$i || exit 1; done"

#define MAKEFILE                                                                            \
	"printf 'all: count\\nout.txt: ../in.txt\\n\\tsort -n ../in.txt > s.txt\\n\\thead -1000 s.txt > $@\\n"   \
	"count: out.txt\\n\\twc -l < out.txt\\n\\t@echo done >&2\\n.PHONY: all count\\n'"       \
	" > Makefile"

/* name, trace name, status, then what the entry needs */
CORPUS(ls_recursive, .prog = "ls", .want = "/usr/include/linux:\n", .argv = { "ls", "-lR", "/usr/include" })
CORPUS(ls_missing_exits_2, .prog = "ls", .status = 2, .want = "", .argv = { "ls", "-l", "/nonexistent-refscope" })
CORPUS(sort_big_file, .prog = "sort", .want = "\n", .argv = { "sort", "../in.txt" })
CORPUS(sort_parallel, .prog = "sort", .want = "\n", .threads = 2, .prep = "cat ../in.txt ../in.txt > big.txt", .argv = { "sort", "--parallel=2", "-n", "big.txt" })
CORPUS(du, .prog = "du", .want = "\t/usr/include/linux\n", .argv = { "du", "-ab", "/usr/include/linux" })
CORPUS(grep_matches, .prog = "grep", .want = "_MAX", .argv = { "grep", "-rnE", "define [A-Z_]+_MAX\\b", "/usr/include/linux" })
CORPUS(grep_no_match_exits_1, .prog = "grep", .status = 1, .want = "", .argv = { "grep", "-r", "no-such-string-zq", "/usr/include/linux/netfilter" })
CORPUS(sed, .prog = "sed", .want = ":", .argv = { "sed", "-E", "-e", "s/^([0-9]+) line ([0-9]+)$/\\2:\\1/", "-e", "/^[0-9]*7:/d", "../in.txt" })
CORPUS(gawk, .prog = "gawk", .want = "\n100000\n", .argv = { "gawk", "BEGIN { PROCINFO[\"sorted_in\"] = \"@ind_num_asc\" } { s[$1 % 10] += $1; n++ } END { for (k in s) print k, s[k]; print n }", "../in.txt" })
CORPUS(find, .prog = "find", .want = "/usr/include/", .argv = { "find", "/usr/include", "-name", "*.h", "-size", "+20k", "-printf", "%s %p\n" })
CORPUS(tar_gzip_create, .prog = "tar", .argv = { "tar", "-czf", "-", "-C", "/usr/include/linux/netfilter", "." })
CORPUS(tar_gzip_extract, .prog = "tar", .prep = "tar -czf t.tgz -C /usr/include/linux . && mkdir x", .post = "diff -r /usr/include/linux x", .want = "./netfilter/\n", .argv = { "tar", "-xzvf", "t.tgz", "-C", "x" })
CORPUS(python3_stdlib, .prog = "python3", .want = "\nTrue\n", .argv = { "python3", "-c", PY_STDLIB })
CORPUS(python3_exits_4, .prog = "python3", .status = 4, .want = "1041267 199990000\n", .argv = { "python3", "-c", PY_JSON_EXIT4 })
CORPUS(perl, .prog = "perl", .want = "97 buckets", .argv = { "perl", "-e", PERL_SCRIPT })
CORPUS(git_init_commit_log, .prog = "sh", .want = " rs c3\n", .argv = { "sh", "-c", GIT_REPO " && git log --format='%H %an %s'" })
CORPUS(git_log, .prog = "git", .prep = GIT_REPO, .want = " rs Thu Jan 2 03:04:05 2020 +0000 c3\n", .argv = { "git", "-C", "r", "log", "--stat", "--format=%H %an %ad %s" })
CORPUS(sqlite3_script, .prog = "sqlite3", .prep = "printf \"create table t(a integer primary key, b text);\\nwith recursive c(x) as (select 1 union all select x + 1 from c where x < 5000) insert into t select x, printf('row-%%05d', x) from c;\\ncreate index i on t(b);\\nselect count(*), sum(a), max(b) from t;\\nselect a from t where b = 'row-04999';\\ndelete from t where a %% 2 = 0;\\nselect count(*) from t;\\n\" > q.sql", .in = "q.sql", .want = "5000|12502500|row-05000\n4999\n2500\n", .argv = { "sqlite3", ":memory:" })
CORPUS(gcc_compiles, .prog = "gcc", .prep = "printf '#include <stdio.h>\\nint main(void) { puts(\"hi\"); return 0; }\\n' > hello.c", .post = "test \"$(./hello)\" = hi", .want = "", .argv = { "gcc", "-O2", "-o", "hello", "hello.c" })
CORPUS(gcc_error_exits_1, .prog = "gcc", .status = 1, .prep = "printf 'int main(void) { return nope; }\\n' > bad.c", .want = "", .argv = { "gcc", "-c", "bad.c" })
CORPUS(make, .prog = "make", .prep = MAKEFILE, .post = "test $(wc -l < out.txt) = 1000", .want = "\n1000\n", .argv = { "make" })
CORPUS(make_no_rule_exits_2, .prog = "make", .status = 2, .prep = MAKEFILE, .want = "", .argv = { "make", "nope" })
CORPUS(bash_script, .prog = "bash", .status = 3, .want = "sum 500500\n", .argv = { "bash", "-c", BASH_SCRIPT })
CORPUS(xz_threads_compress, .prog = "xz", .threads = 2, .argv = { "xz", "-T2", "--block-size=128KiB", "-c", "../in.txt" })
CORPUS(xz_threads_decompress, .prog = "xz", .prep = "xz -T2 --block-size=128KiB -c ../in.txt > in.xz", .want = " line 99999\n", .argv = { "xz", "-d", "-T2", "-c", "in.xz" })
CORPUS(diff_exits_1, .prog = "diff", .status = 1, .prep = "seq 1 300 > a && seq 1 300 | sed 's/^1.7$/x/' > b", .want = "+x\n", .argv = { "diff", "-u", "--label", "a", "--label", "b", "a", "b" })
CORPUS(cmp_exits_1, .prog = "cmp", .status = 1, .prep = "cp ../in.txt c && printf X | dd of=c bs=1 seek=5000 conv=notrunc 2>/dev/null", .want = "differ: char 5001", .argv = { "cmp", "../in.txt", "c" })
CORPUS(cut, .prog = "cut", .want = " 99999\n", .argv = { "cut", "-d", " ", "-f1,3", "../in.txt" })
CORPUS(uniq, .prog = "uniq", .prep = "cut -c1-2 ../in.txt | sort > c.txt", .want = " 10\n", .argv = { "uniq", "-c", "c.txt" })
CORPUS(wc, .prog = "wc", .want = " 100000 ", .argv = { "wc", "../in.txt", "/usr/include/stdio.h" })
CORPUS(od, .prog = "od", .want = "  >", .argv = { "od", "-A", "x", "-t", "x1z", "-N", "65536", "../in.txt" })
CORPUS(base64, .prog = "base64", .want = "\n", .argv = { "base64", "../in.txt" })
CORPUS(sha256sum, .prog = "sha256sum", .want = "  ../in.txt\n", .argv = { "sha256sum", "../in.txt", "/usr/include/stdio.h", "/usr/include/stdlib.h" })
CORPUS(bc, .prog = "bc", .prep = "printf 'scale=60\\n4*a(1)\\ndefine f(n) { if (n < 2) return 1; return n * f(n - 1); }\\nf(60)\\n' > s.bc", .want = "3.14159265358979323846", .argv = { "bc", "-lq", "s.bc" })
CORPUS(file, .prog = "file", .want = "ELF", .argv = { "file", "-L", "/bin/ls", "/bin/sh", "/usr/include/stdio.h", "../in.txt", "/usr/include" })
