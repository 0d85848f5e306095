/*
 * test_faults.c - faults the shim must survive (issue 6): each sample runs
 * untraced and under `refscope run`, with a timeout (a hang fails the
 * test), and must give the same stdout, stderr and exit status; then the
 * facts its trace must hold by the sample's construction are checked
 * exactly, by size classes only the sample allocates.
 *
 * Traces are read through `refscope dump` (streamed line by line: some hold
 * hundreds of thousands of events) or `refscope report --json`.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e_util.h"
#include "refscope_format.h"

#define RUN_TIMEOUT 60	/* seconds: far beyond any sample's run; only a hang gets there */

static char *dir;
static char mounted[256];

static void setup(void)
{
	e2e_need_plain_samples();
	dir = e2e_tmpdir();
}

static void teardown(void)
{
	if (mounted[0]) {
		umount2(mounted, MNT_DETACH);
		mounted[0] = '\0';
	}
	if (dir)
		e2e_rmtree(dir);
	free(dir);
	dir = NULL;
}

/*
 * Runs argv untraced, then under `refscope run -q -o tracedir`, both with
 * env added; neither may hang, and the traced run must print and exit
 * exactly as the untraced one. The traced run is left in *traced.
 */
static void same_both_ways(const char *tracedir, char *const argv[], char *const env[],
			   struct e2e_proc *traced)
{
	struct e2e_proc plain;

	e2e_exec_env(argv, env, RUN_TIMEOUT, &plain);
	cr_assert(!plain.timed_out, "%s hung untraced", argv[0]);
	e2e_traced_env(tracedir, argv, NULL, NULL, env, RUN_TIMEOUT, traced);
	cr_assert(!traced->timed_out, "%s hung traced", argv[0]);
	cr_assert_eq(traced->status, plain.status, "%s: status %#x traced, %#x untraced", argv[0],
		     traced->status, plain.status);
	cr_assert_str_eq(traced->out, plain.out, "%s: stdout differs", argv[0]);
	cr_assert_eq(traced->out_len, plain.out_len);
	cr_assert_str_eq(traced->err, plain.err, "%s: stderr differs", argv[0]);
	cr_assert_eq(traced->err_len, plain.err_len);
	e2e_proc_free(&plain);
}

/* ---- a trace's events, from `refscope dump` ------------------------------ */

struct fev {
	uint64_t seq, addr, size, stack;
	uint32_t tid;
	int is_free;
};

struct ftrace {
	struct fev *ev;
	size_t n, cap;
	size_t thread_starts, thread_exits, chunks;
	uint32_t pid, ppid;
	int fork_origin, have_end, have_stopped;
	long long end_how, end_status;
};

static void push(struct ftrace *t, struct fev e)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 4096;
		t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
		cr_assert_not_null(t->ev);
	}
	t->ev[t->n++] = e;
}

static void load(const char *trace, struct ftrace *t)
{
	char *argv[] = { E2E_REFSCOPE, "dump", (char *)trace, NULL }, *cmd, *line = NULL;
	size_t cap = 0;
	uint32_t tid = 0;
	FILE *f;

	memset(t, 0, sizeof(*t));
	cr_assert_neq(asprintf(&cmd, "'%s' dump '%s'", argv[0], argv[2]), -1);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (getline(&line, &cap, f) > 0) {
		struct fev e = { 0 };
		const char *at = line + strspn(line, " "), *s = strchr(at, ' ');
		unsigned long long a, b, c, d, g;

		if (!s)	/* "@OFFSET TYPE ...", chunk events indented */
			continue;
		s++;
		if (line[0] == '@' && sscanf(s, "chunk len %llu encoding %*s tid %llu", &a, &b) == 2) {
			tid = (uint32_t)b;
			t->chunks++;
		} else if (line[0] == '@' && sscanf(s, "process len %*u pid %llu ppid %llu", &a, &b) == 2) {
			t->pid = (uint32_t)a;
			t->ppid = (uint32_t)b;
			t->fork_origin = strstr(s, " origin fork") != NULL;
		} else if (line[0] == '@' && !strncmp(s, "end ", 4)) {
			long long how, st;

			cr_assert_eq(sscanf(s, "end len %*u next_seq %*u how %lld status %lld", &how, &st), 2,
				     "%s", line);
			t->have_end = 1;
			t->end_how = how;
			t->end_status = st;
		} else if (line[0] == '@' && !strncmp(s, "stopped ", 8)) {
			t->have_stopped = 1;
		} else if (sscanf(s, "alloc len %*u seq %llu time %*u addr %llx size %llu stack %llu",
				  &a, &b, &c, &d) == 4) {
			e = (struct fev){ a, b, c, d, tid, 0 };
			push(t, e);
		} else if (sscanf(s, "free len %*u seq %llu time %*u addr %llx stack %llu", &a, &b,
				  &g) == 3) {
			e = (struct fev){ a, b, 0, g, tid, 1 };
			push(t, e);
		} else if (!strncmp(s, "thread_start ", 13)) {
			t->thread_starts++;
		} else if (!strncmp(s, "thread_exit ", 12)) {
			t->thread_exits++;
		}
	}
	free(line);
	cr_assert_eq(pclose(f), 0, "refscope dump failed on %s", trace);
	free(cmd);
}

static void unload(struct ftrace *t)
{
	free(t->ev);
	memset(t, 0, sizeof(*t));
}

/* What became of the blocks of lo..hi bytes (the sample's own sizes). */
struct tally {
	long allocs, frees, cross, live, unstacked;
	long long live_bytes;
};

static int by_addr_seq(const void *a, const void *b)
{
	const struct fev *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Replays each address's events in sequence order: an allocation is freed
 * by the next free of its address, else live at the end. Sorts t->ev. */
static struct tally tally(struct ftrace *t, uint64_t lo, uint64_t hi)
{
	struct tally r = { 0 };

	qsort(t->ev, t->n, sizeof(*t->ev), by_addr_seq);
	for (size_t i = 0; i < t->n; i++) {
		const struct fev *a = &t->ev[i], *next = i + 1 < t->n ? &t->ev[i + 1] : NULL;

		if (a->is_free || a->size < lo || a->size > hi)
			continue;
		r.allocs++;
		r.unstacked += a->stack == 0;
		if (next && next->addr == a->addr && next->is_free) {
			r.frees++;
			r.cross += next->tid != a->tid;
		} else {
			r.live++;
			r.live_bytes += (long long)a->size;
		}
	}
	return r;
}

#define ASSERT_TALLY(t, lo, hi, want_allocs, want_frees, want_live)                            \
	do {                                                                                   \
		struct tally t_ = tally((t), (lo), (hi));                                      \
		cr_assert_eq(t_.allocs, (want_allocs), "blocks of %d..%d bytes: %ld allocated, " \
			     "want %ld", (lo), (hi), t_.allocs, (long)(want_allocs));          \
		cr_assert_eq(t_.frees, (want_frees), "blocks of %d..%d bytes: %ld freed, want %ld", \
			     (lo), (hi), t_.frees, (long)(want_frees));                        \
		cr_assert_eq(t_.live, (want_live), "blocks of %d..%d bytes: %ld live, want %ld", \
			     (lo), (hi), t_.live, (long)(want_live));                          \
	} while (0)

static void load_only(const char *tracedir, const char *prog, struct ftrace *t)
{
	char *path = e2e_only_trace(tracedir, prog);

	load(path, t);
	free(path);
}

static void assert_exit_end(const struct ftrace *t, long long status)
{
	cr_assert(t->have_end, "no END record");
	cr_assert_eq(t->end_how, RS_END_EXIT, "END how %lld", t->end_how);
	cr_assert_eq(t->end_status, status);
}

/* Live-at-exit blocks (and their bytes) of the report's groups whose stack
 * names fn. */
static long long groups_with(json_t *report, const char *fn, long long *bytes)
{
	json_t *groups = e2e_get(report, "live_at_exit.groups"), *g, *f;
	long long blocks = 0;
	size_t i, k;

	*bytes = 0;
	json_array_foreach(groups, i, g) {
		json_array_foreach(json_object_get(g, "frames"), k, f) {
			const char *name = json_string_value(json_object_get(f, "function"));

			if (name && !strcmp(name, fn)) {
				blocks += e2e_int(g, "blocks");
				*bytes += e2e_int(g, "bytes");
				break;
			}
		}
	}
	return blocks;
}

/* The report of prog's only trace has exactly blocks live at exit, of bytes
 * in all, from stacks that name fn. */
static void assert_leaked_by(const char *prog, const char *fn, long long blocks, long long bytes)
{
	char *trace = e2e_only_trace(dir, prog);
	long long got;
	json_t *j;

	cr_assert_eq(e2e_report(trace, &j), 0);
	cr_assert_eq(groups_with(j, fn, &got), blocks, "%s: blocks from %s", prog, fn);
	cr_assert_eq(got, bytes, "%s: bytes from %s", prog, fn);
	json_decref(j);
	free(trace);
}

/* ---- threads ------------------------------------------------------------ */

Test(faults, threads_hand_blocks_over_while_threads_come_and_go, .init = setup,
     .fini = teardown, .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_threads16"), NULL };
	struct e2e_proc p;
	struct ftrace t;
	struct tally x;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "threads16 ok\n");
	load_only(dir, "fault_threads16", &t);
	assert_exit_end(&t, 0);
	x = tally(&t, 1000, 1015);
	cr_assert_eq(x.allocs, 2560);
	cr_assert_eq(x.frees, 2560);
	cr_assert_eq(x.cross, 2560, "every hand-over block is freed by another thread");
	ASSERT_TALLY(&t, 2000, 2000, 100, 100, 0);
	x = tally(&t, 3000, 3015);
	cr_assert_eq(x.live, 16);
	cr_assert_eq(x.live_bytes, 48120);
	cr_assert_eq(x.allocs, 16);
	/* main's own start, 16 workers and 100 short-lived threads */
	cr_assert_eq(t.thread_starts, 117);
	cr_assert_eq(t.thread_exits, 116);
	unload(&t);
	e2e_proc_free(&p);
}

/* ---- fork, vfork, posix_spawn, exec ------------------------------------- */

Test(faults, fork_from_threads_child_has_only_its_own_events, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_forkmt"), NULL };
	struct e2e_proc p;
	char **paths;
	uint32_t parent = 0;
	int children = 0;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "forkmt ok\n");
	cr_assert_eq(e2e_traces(dir, "fault_forkmt", &paths), 4, "the parent and 3 children");
	for (size_t i = 0; paths[i]; i++) {
		struct ftrace t;

		load(paths[i], &t);
		assert_exit_end(&t, 0);
		if (!t.fork_origin) {
			parent = t.pid;
			ASSERT_TALLY(&t, 4300, 4300, 0, 0, 0);	/* no child's event */
			ASSERT_TALLY(&t, 4200, 4200, 5, 0, 5);
			ASSERT_TALLY(&t, 4400, 4400, 2, 0, 2);
			cr_assert_gt(tally(&t, 4100, 4100).allocs, 0, "the threads ran");
			cr_assert_eq(tally(&t, 4100, 4100).live, 0);
			unload(&t);
			continue;
		}
		children++;
		/* the child's own events only: none of the threads (gone in the
		 * child) and none the forking thread had buffered before fork */
		cr_assert_eq(t.n, 50, "%s: %zu events", paths[i], t.n);
		ASSERT_TALLY(&t, 4300, 4300, 30, 20, 10);
		for (size_t k = 0; k < t.n; k++)
			cr_assert_eq(t.ev[k].tid, t.pid, "an event of another thread than the child's");
		unload(&t);
	}
	cr_assert_eq(children, 3);
	cr_assert_neq(parent, 0);
	for (size_t i = 0; paths[i]; i++) {
		struct ftrace t;

		load(paths[i], &t);
		if (t.fork_origin)
			cr_assert_eq(t.ppid, parent);
		unload(&t);
	}
	e2e_free_paths(paths);
	e2e_proc_free(&p);
}

Test(faults, vfork_and_posix_spawn_children_get_their_own_traces, .init = setup,
     .fini = teardown, .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_spawn"), NULL };
	struct e2e_proc p;
	struct ftrace t;
	char **paths;
	size_t n;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "static ok\nstatic ok\nspawn 0 0 5 5\n");
	cr_assert_eq(e2e_traces(dir, NULL, &paths), 3, "fault_spawn, 2 x leak7, no fault_static");
	e2e_free_paths(paths);
	load_only(dir, "fault_spawn", &t);
	assert_exit_end(&t, 0);	/* the vfork child's exec wrote no END(exec) into it */
	ASSERT_TALLY(&t, 5100, 5100, 3, 0, 3);
	ASSERT_TALLY(&t, 100, 100, 0, 0, 0);	/* none of leak7's blocks */
	n = e2e_traces(dir, "leak7", &paths);
	cr_assert_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		struct ftrace c;

		load(paths[i], &c);
		assert_exit_end(&c, 0);
		cr_assert(!c.fork_origin);
		cr_assert_eq(c.ppid, t.pid, "leak7 is fault_spawn's child");
		ASSERT_TALLY(&c, 100, 100, 100, 93, 7);
		unload(&c);
	}
	e2e_free_paths(paths);
	unload(&t);
	e2e_proc_free(&p);
}

Test(faults, exec_of_a_static_binary_runs_as_untraced, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_spawn"), "exec", NULL };
	char *direct[] = { E2E_SAMPLE("fault_static"), NULL };
	struct e2e_proc p;
	struct ftrace t;
	char **paths;

	/* the traced program execs it: its trace ends there, nothing follows */
	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "static ok\n");
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 5);
	e2e_proc_free(&p);
	cr_assert_eq(e2e_traces(dir, NULL, &paths), 1);
	e2e_free_paths(paths);
	load_only(dir, "fault_spawn", &t);
	cr_assert(t.have_end);
	cr_assert_eq(t.end_how, RS_END_EXEC);
	ASSERT_TALLY(&t, 5100, 5100, 3, 0, 3);
	unload(&t);

	/* refscope run on it directly */
	same_both_ways(dir, direct, NULL, &p);
	cr_assert_str_eq(p.out, "static ok\n");
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 5);
	cr_assert_eq(e2e_traces(dir, "fault_static", &paths), 0);
	e2e_free_paths(paths);
	e2e_proc_free(&p);
}

/* ---- descriptors ---------------------------------------------------------- */

/*
 * fault_fds closes every descriptor (close_range, a close loop, closefrom)
 * or dup2s (dup3s) its own files over the ones open at start, the shim's
 * among them, then writes to its files while allocating, some of it through
 * code without unwind information (libunwind then validates addresses
 * through its pipe). Before fds.c, libunwind read
 * from and closed the program's files on its old pipe numbers and reopened
 * its pipe on the program's next numbers ("late open -> 12", not 10; the
 * program's files lost lines). Now: same output, every event recorded, and
 * after close_range or a close loop every stack is captured; after the
 * program took the pipe's numbers with dup2, libunwind is no longer called:
 * the events through JIT code, which only libunwind can walk, have no stack.
 */
static void fds_mode(const char *mode)
{
	char own[512];
	char *argv[] = { E2E_SAMPLE("fault_fds"), (char *)mode, own, NULL };
	char *env[] = { "REFSCOPE_BUFFER_KB=16", NULL };	/* many writes */
	char want[128];
	struct e2e_proc p;
	struct ftrace t;
	struct tally x;
	int took_pipe = !strncmp(mode, "dup", 3);

	snprintf(own, sizeof(own), "%s/own", dir);
	cr_assert_eq(mkdir(own, 0700), 0);
	same_both_ways(dir, argv, env, &p);
	/* 3..9 are its own: the lowest free number is 10, as untraced; after
	 * dup2 mode that depends on what the test runner left open */
	snprintf(want, sizeof(want), "%sfds %s ok\n", took_pipe ? "" : "late open -> 10\n", mode);
	if (took_pipe)
		cr_assert_not_null(strstr(p.out, want), "%s", p.out);
	else
		cr_assert_str_eq(p.out, want);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	load_only(dir, "fault_fds", &t);
	assert_exit_end(&t, 0);
	cr_assert_geq(t.chunks, 2, "the trace was written again after the close");
	ASSERT_TALLY(&t, 6000, 6000, 80000, 80000, 0);
	ASSERT_TALLY(&t, 6200, 6200, 64, 64, 0);
	x = tally(&t, 6300, 6300);	/* the other thread's, while the numbers changed */
	cr_assert_eq(x.frees, x.allocs);
	cr_assert_eq(x.live, 0);
	x = tally(&t, 6100, 6100);
	cr_assert_eq(x.live, 4);
	cr_assert_eq(x.unstacked, 0, "stacks after %s", mode);
	/* the JIT frames need libunwind: given up once its pipe was taken */
	cr_assert_eq(tally(&t, 6200, 6200).unstacked, took_pipe ? 64 : 0);
	unload(&t);
	e2e_proc_free(&p);
}

Test(faults, close_range_leaves_tracing_and_the_program_alone, .init = setup, .fini = teardown,
     .timeout = 120)
{
	fds_mode("close_range");
}

Test(faults, close_loop_leaves_tracing_and_the_program_alone, .init = setup, .fini = teardown,
     .timeout = 120)
{
	fds_mode("close_loop");
}

Test(faults, closefrom_leaves_tracing_and_the_program_alone, .init = setup, .fini = teardown,
     .timeout = 120)
{
	fds_mode("closefrom");
}

Test(faults, dup2_over_the_shims_descriptors_never_writes_the_programs_files, .init = setup,
     .fini = teardown, .timeout = 120)
{
	fds_mode("dup2");
}

Test(faults, dup3_over_the_shims_descriptors_never_writes_the_programs_files, .init = setup,
     .fini = teardown, .timeout = 120)
{
	fds_mode("dup3");
}

/* ---- a full file system ----------------------------------------------------- */

/*
 * The trace goes to a 256 KiB tmpfs (uncompressed, so it fills): the
 * program runs on unchanged. The write that did not fit is cut off again
 * and STOPPED (write_error, ENOSPC) ends the trace, which reads without
 * error: a prefix of fault_churn's loop, k allocations of 1 + i % 1000
 * bytes (i < k) and k or k - 1 frees. Before the cut-off, the trace ended
 * inside a chunk the disk had taken only part of, and had no STOPPED.
 */
Test(faults, full_file_system_stops_the_trace_cleanly, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_churn"), "200000", NULL };
	char *env[] = { "REFSCOPE_COMPRESS=0", "REFSCOPE_BUFFER_KB=16", NULL };
	struct e2e_proc p;
	char *trace;
	json_t *j;
	long long k, bytes = 0;

	if (geteuid() != 0)
		cr_skip_test("mounting a tmpfs needs root");
	snprintf(mounted, sizeof(mounted), "%s/fs", dir);
	cr_assert_eq(mkdir(mounted, 0700), 0);
	if (mount("tmpfs", mounted, "tmpfs", 0, "size=256k") != 0) {
		int e = errno;

		mounted[0] = '\0';
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(e));
	}
	same_both_ways(mounted, argv, env, &p);
	cr_assert_str_eq(p.out, "churn 200000\n");
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 7);
	trace = e2e_only_trace(mounted, "fault_churn");
	cr_assert_eq(e2e_report(trace, &j), 0, "a stopped trace is no error");
	cr_assert(json_is_false(e2e_get(j, "trace.complete")));
	cr_assert(json_is_null(e2e_get(j, "trace.end")));
	cr_assert_str_eq(e2e_str(j, "trace.stopped.reason"), "write_error");
	cr_assert_eq(e2e_int(j, "trace.stopped.errno"), ENOSPC);
	cr_assert(json_is_null(e2e_get(j, "trace.error")), "the trace ends with whole records");
	k = e2e_int(j, "totals.allocations");
	cr_assert_gt(k, 0);
	cr_assert_lt(k, 200000, "the file system was full before the end");
	/* the cut may fall between the last allocation and its free */
	cr_assert(e2e_int(j, "totals.frees") == k || e2e_int(j, "totals.frees") == k - 1,
		  "%lld allocations, %lld frees", k, e2e_int(j, "totals.frees"));
	for (long long i = 0; i < k; i++)
		bytes += 1 + i % 1000;
	cr_assert_eq(e2e_int(j, "totals.allocated_bytes"), bytes, "a prefix of the loop");
	json_decref(j);
	free(trace);
	e2e_proc_free(&p);
}

/* ---- kill -9 anywhere ---------------------------------------------------- */

/*
 * allocloop (2 threads) killed at random points from its start: during the
 * loader, the shim's init, the first chunk or later. Whatever the kill cut,
 * the trace (if one was created) reports with exit 0, incomplete, either
 * without error or with the error "cut" at its last whole record. A file
 * shorter than the header is only possible if the kill fell between its
 * creation and its first write; it is counted, not reported. The seed is
 * in every message.
 */
Test(faults, kill9_at_random_points_reads_to_the_last_record, .init = setup, .fini = teardown,
     .timeout = 120)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	srand(seed);
	for (int round = 0; round < 8; round++) {
		char sub[512], shim[] = "LD_PRELOAD=" RS_BUILD_DIR "/librefscope.so", out[600];
		int ms = rand() % 300, st;
		char **paths;
		size_t n;
		pid_t pid;
		struct stat sb;

		snprintf(sub, sizeof(sub), "%s/%d", dir, round);
		cr_assert_eq(mkdir(sub, 0700), 0);
		snprintf(out, sizeof(out), "REFSCOPE_OUTPUT_DIR=%s", sub);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			char *argv[] = { E2E_SAMPLE("allocloop"), "2", NULL };
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			putenv(shim);
			putenv(out);
			putenv("REFSCOPE_COMPRESS=0");
			execv(argv[0], argv);
			_exit(127);
		}
		usleep((useconds_t)ms * 1000);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		n = e2e_traces(sub, "allocloop", &paths);
		cr_assert_leq(n, 1, "seed %u round %d", seed, round);
		if (n == 1 && stat(paths[0], &sb) == 0 && sb.st_size >= RS_FILE_HEADER_SIZE) {
			json_t *j;

			cr_assert_eq(e2e_report(paths[0], &j), 0, "seed %u round %d (%d ms): report failed",
				     seed, round, ms);
			cr_assert(json_is_false(e2e_get(j, "trace.complete")));
			if (!json_is_null(e2e_get(j, "trace.error")))
				cr_assert(json_is_true(e2e_get(j, "trace.error.cut")),
					  "seed %u round %d (%d ms): %s", seed, round, ms,
					  e2e_str(j, "trace.error.message"));
			json_decref(j);
		}
		e2e_free_paths(paths);
	}
}

/* ---- dlopen, longjmp, C++ exceptions, signal handlers ------------------- */

Test(faults, dlopen_dlclose_loop, .init = setup, .fini = teardown, .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_dlloop"), NULL };
	struct e2e_proc p;
	struct ftrace t;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "dlloop 100 ok\n");
	load_only(dir, "fault_dlloop", &t);
	assert_exit_end(&t, 0);
	ASSERT_TALLY(&t, 7000, 7000, 100, 100, 0);
	ASSERT_TALLY(&t, 7100, 7100, 100, 50, 50);
	unload(&t);
	/* symbolized from the library unloaded long before the end */
	assert_leaked_by("fault_dlloop", "plug_keep", 50, 355000);
	e2e_proc_free(&p);
}

Test(faults, longjmp_out_of_nested_allocating_calls, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_longjmp"), NULL };
	struct e2e_proc p;
	struct ftrace t;
	struct tally x;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "longjmp 20 ok\n");
	load_only(dir, "fault_longjmp", &t);
	assert_exit_end(&t, 0);
	x = tally(&t, 8001, 8010);
	cr_assert_eq(x.allocs, 200);
	cr_assert_eq(x.frees, 100);
	cr_assert_eq(x.live, 100);
	cr_assert_eq(x.live_bytes, 800600);
	cr_assert_eq(x.unstacked, 0);
	unload(&t);
	/* one group per depth: each stack names nest */
	assert_leaked_by("fault_longjmp", "nest", 100, 800600);
	e2e_proc_free(&p);
}

Test(faults, cxx_exception_through_frames_that_own_memory, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_throw"), NULL };
	struct e2e_proc p;
	struct ftrace t;
	struct tally x;

	same_both_ways(dir, argv, NULL, &p);
	cr_assert_str_eq(p.out, "caught 50\n");
	load_only(dir, "fault_throw", &t);
	assert_exit_end(&t, 0);
	ASSERT_TALLY(&t, 9001, 9005, 250, 250, 0);
	x = tally(&t, 9100, 9100);
	cr_assert_eq(x.allocs, 3);
	cr_assert_eq(x.live, 3);
	cr_assert_eq(x.live_bytes, 27300);
	unload(&t);
	e2e_proc_free(&p);
}

/*
 * The handler's malloc and free run on the main thread, often while it is
 * inside the shim's own malloc hook: the re-entrancy guard forwards them
 * unrecorded (no lock is taken twice), so the trace holds between 1 and 201
 * of the 700-byte blocks, each with its free. Five traced runs, none may hang.
 */
Test(faults, malloc_in_a_signal_handler_never_deadlocks, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { E2E_SAMPLE("fault_sigmalloc"), NULL };

	for (int run = 0; run < 5; run++) {
		struct e2e_proc p;
		struct ftrace t;
		struct tally x;
		char sub[512];

		snprintf(sub, sizeof(sub), "%s/%d", dir, run);
		cr_assert_eq(mkdir(sub, 0700), 0);
		if (run == 0) {
			same_both_ways(sub, argv, NULL, &p);
		} else {
			e2e_traced_env(sub, argv, NULL, NULL, NULL, RUN_TIMEOUT, &p);
			cr_assert(!p.timed_out, "run %d hung", run);
		}
		cr_assert_str_eq(p.out, "sigmalloc ok\n");
		cr_assert_eq(p.status, 0);
		load_only(sub, "fault_sigmalloc", &t);
		assert_exit_end(&t, 0);
		x = tally(&t, 600, 600);
		cr_assert_gt(x.allocs, 0);
		cr_assert_eq(x.frees, x.allocs);
		x = tally(&t, 700, 700);
		cr_assert_geq(x.allocs, 1);
		cr_assert_leq(x.allocs, 201);
		cr_assert_eq(x.frees, x.allocs);
		ASSERT_TALLY(&t, 777, 777, 3, 0, 3);
		unload(&t);
		e2e_proc_free(&p);
	}
}
