/*
 * test_shim_rules.c - the rules of the shim (TEAM.md) checked on real
 * programs under LD_PRELOAD: the traced program keeps its descriptors and
 * errno, survives fork while other threads allocate, gets a trace per exec'd
 * image, is left alone in secure-execution mode, and a trace path somebody
 * planted a symlink on is never followed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "refscope_format.h"
#include "test_shim_util.h"

#define SHIM RS_BUILD_DIR "/librefscope.so"
#define SAMPLE(name) RS_BUILD_DIR "/samples/" name

static char dir[] = "/tmp/refscope-test-rules-XXXXXX";

/*
 * Runs argv (preloaded when preload is set) with its stdout into out; kills
 * it after timeout_s seconds. Returns the wait status, or -1 on timeout.
 */
static int run_prog(char *const argv[], int preload, char *out, size_t cap, int timeout_s)
{
	int pfd[2], st = 0;
	pid_t pid;
	ssize_t n;
	size_t got = 0;
	struct timespec t0, now;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);	/* a timeout kills the program's children too */
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		if (preload)
			setenv("LD_PRELOAD", SHIM, 1);
		else
			unsetenv("LD_PRELOAD");
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		unsetenv("REFSCOPE_DISABLE");
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		while (out && got < cap - 1 && (n = read(pfd[0], out + got, cap - 1 - got)) > 0)
			got += (size_t)n;
		while (!out || got >= cap - 1) {	/* beyond what we keep: drain */
			char sink[4096];

			if (read(pfd[0], sink, sizeof(sink)) <= 0)
				break;
		}
		if (w == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= timeout_s) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			st = -1;
			break;
		}
		usleep(2000);
	}
	while (out && got < cap - 1 && (n = read(pfd[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	if (out)
		out[got] = 0;
	close(pfd[0]);
	return st;
}

/* "pipe:[12345]" -> "pipe:[]": each run has its own stdout pipe. */
static void mask_pipes(char *s)
{
	char *p;

	while ((p = strstr(s, "pipe:[")) != NULL) {
		char *q = p + 6, *e = q;

		while (*e >= '0' && *e <= '9')
			e++;
		memmove(q, e, strlen(e) + 1);
		s = q;
	}
}

static int count_traces(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* ---- descriptors and errno ---------------------------------------------- */

/*
 * fdcheck prints errno at main and after malloc, the number open() returns
 * and every descriptor it has. Traced, every line must be the same, except
 * extra descriptors at 100 and above: the trace file and libunwind's address
 * validation pipe (which used to take 3 and 4).
 */
Test(shim_rules, descriptors_and_errno_as_untraced, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLE("fdcheck"), NULL };
	static char plain[8192], traced[8192];
	char *a, *b, *sa = NULL, *sb = NULL;
	int extra_trace = 0;

	cr_assert_eq(run_prog(argv, 0, plain, sizeof(plain), 20), 0);
	cr_assert_eq(run_prog(argv, 1, traced, sizeof(traced), 20), 0);
	cr_assert_eq(count_traces("refscope.fdcheck."), 1);
	cr_assert_not_null(strstr(plain, "open /dev/null -> 3\n"), "%s", plain);
	mask_pipes(plain);
	mask_pipes(traced);
	a = strtok_r(plain, "\n", &sa);
	b = strtok_r(traced, "\n", &sb);
	while (a || b) {
		int fb = b && !strncmp(b, "fd ", 3) ? atoi(b + 3) : -1;

		if (b && fb >= 100 && (!a || strcmp(a, b) != 0)) {
			/* ours: the trace file, or libunwind's pipe */
			cr_assert(strstr(b, dir) || strstr(b, "pipe:["), "extra descriptor: %s", b);
			extra_trace += strstr(b, dir) != NULL;
			b = strtok_r(NULL, "\n", &sb);
			continue;
		}
		cr_assert(a && b, "traced run differs: '%s' vs '%s'", a ? a : "(end)", b ? b : "(end)");
		cr_assert_str_eq(b, a);
		a = strtok_r(NULL, "\n", &sa);
		b = strtok_r(NULL, "\n", &sb);
	}
	cr_assert_eq(extra_trace, 1, "the trace file is the one extra file");
}

/* ---- fork while other threads unwind ------------------------------------ */

/*
 * forkstorm forks 100 times while four threads allocate through code at new
 * addresses (so they are inside libunwind's lookups most of the time). Before
 * the fork gate, a child inherited libunwind's mutex held and hung on its
 * first malloc (19 runs of 20 hung). Every child must finish, with its own
 * trace, ended, and stacks captured.
 */
Test(shim_rules, fork_while_threads_unwind_never_hangs, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *argv[] = { SAMPLE("forkstorm"), "100", NULL };
	char out[64];
	DIR *d;
	struct dirent *e;
	int children = 0, with_stacks = 0;

	cr_assert_eq(run_prog(argv, 1, out, sizeof(out), 60), 0, "forkstorm hung or failed");
	cr_assert_str_eq(out, "forks 100 ok\n");
	d = opendir(dir);
	while ((e = readdir(d)) != NULL) {
		char path[512];
		struct tdec t = { 0 };
		const struct trec *p;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(tdec_file(&t, path, NULL), 0, "%s", e->d_name);
		p = tdec_nth(&t, RS_REC_PROCESS, 0);
		cr_assert_not_null(p);
		cr_assert_eq(tdec_count(&t, RS_REC_END), 1, "%s has no END", e->d_name);
		if (p->origin == RS_ORIGIN_FORK) {
			children++;
			with_stacks += tdec_count(&t, RS_REC_STACK) > 0;
			cr_assert_eq(tdec_count(&t, RS_EV_ALLOC), 20, "%s", e->d_name);
		}
		tdec_free(&t);
	}
	closedir(d);
	cr_assert_eq(children, 100);
	cr_assert_eq(with_stacks, 100, "children unwind (the gate never timed out)");
}

/* ---- kill -9 ------------------------------------------------------------ */

/*
 * Walks the top-level framing of the trace at path (as far as it is written):
 * returns how many whole CHUNK records with events it holds; the offset of
 * the last whole record into *last and the file's size into *size when not
 * NULL.
 */
static unsigned whole_chunks(const char *path, uint64_t *last, off_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	uint8_t *buf;
	size_t n;
	uint64_t at = RS_FILE_HEADER_SIZE, len;
	unsigned chunks = 0;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fstat(fileno(f), &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	cr_assert_not_null(buf);
	n = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	while (at < n) {
		size_t k = rs_get_uvarint(buf + at + 1, buf + n, &len);
		const uint8_t *p, *end;
		uint64_t v = 0;

		if (!k || at + 1 + k + len > n)
			break;
		if (last)
			*last = at;
		/* CHUNK: u8 encoding, uvarint tid, first_seq, first_time,
		 * raw_size, nevents */
		p = buf + at + 1 + k + 1;
		end = buf + at + 1 + k + len;
		for (int i = 0; buf[at] == RS_REC_CHUNK && i < 5 && p < end; i++) {
			size_t m = rs_get_uvarint(p, end, &v);

			p = m ? p + m : end;
		}
		if (buf[at] == RS_REC_CHUNK && v > 0)
			chunks++;
		at += 1 + k + len;
	}
	free(buf);
	if (size)
		*size = (off_t)n;
	return chunks;
}

/* The trace whose name starts with prefix, NULL while there is none (free). */
static char *trace_path(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *path = NULL;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		cr_assert_null(path, "more than one trace");
		cr_assert_geq(asprintf(&path, "%s/%s", dir, e->d_name), 0);
	}
	closedir(d);
	return path;
}

/* Starts allocloop traced, with raw 1 MiB chunks (long writes, so a kill
 * can land inside one), waits until it runs and its trace holds a whole chunk
 * of events, lets it allocate ms more, kills it. */
static void kill9_allocloop(int ms)
{
	char *argv[] = { SAMPLE("allocloop"), "2", NULL }, *path = NULL;
	int pfd[2], st;
	char buf[8];
	pid_t pid;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setenv("LD_PRELOAD", SHIM, 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		setenv("REFSCOPE_COMPRESS", "0", 1);
		setenv("REFSCOPE_BUFFER_KB", "1024", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], buf, 6), 6);
	close(pfd[0]);
	/* The kill must come after at least one whole chunk of events, which
	 * needs a 1 MiB buffer filled: no fixed time is enough on a loaded
	 * machine (a 64 KiB trace after 250 ms had none under load 5), so
	 * look at the trace itself (the test's timeout bounds the wait). */
	while (!path || whole_chunks(path, NULL, NULL) == 0) {
		if (!path)
			path = trace_path("refscope.allocloop.");
		usleep(10000);
	}
	free(path);
	usleep((useconds_t)ms * 1000);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static char *only_trace_path(const char *prefix)
{
	char *path = trace_path(prefix);

	cr_assert_not_null(path);
	return path;
}

/* refscope report --json on path: exit status and the parsed report. */
static int report_json(const char *path, json_t **out)
{
	char *argv[] = { RS_BUILD_DIR "/refscope", "report", "--json", (char *)path, NULL };
	static char text[1 << 20];
	json_error_t jerr;
	int st = run_prog(argv, 0, text, sizeof(text), 60);

	*out = json_loads(text, 0, &jerr);
	cr_assert_not_null(*out, "%s: %s", jerr.text, text);
	return st;
}

static json_t *jget(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	return b ? json_object_get(v, b) : v;
}

/*
 * kill -9 while two threads allocate: the trace is readable up to its last
 * record whatever the kill interrupted, and a record cut by the kill (the
 * shim's write(2) stopped part way: seen in 4 of 30 such kills) makes the
 * report incomplete, exit 0, naming the offset; never "bad input". The last
 * trace is then cut again inside its last record, as such a kill leaves it,
 * to check that path on a real trace every time.
 */
Test(shim_rules, kill9_trace_reads_up_to_its_last_record, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char *path = NULL;
	json_t *j, *err;
	long long events = 0, cut_events;
	off_t size = 0;
	uint64_t last = 0, off;

	for (int round = 0; round < 6; round++) {
		free(path);
		kill9_allocloop(250 + 50 * round);
		path = only_trace_path("refscope.allocloop.");
		cr_assert_eq(report_json(path, &j), 0, "round %d: report exit status", round);
		cr_assert(json_is_false(jget(jget(j, "trace", NULL), "complete", NULL)));
		err = jget(jget(j, "trace", NULL), "error", NULL);
		if (!json_is_null(err))
			cr_assert(json_is_true(json_object_get(err, "cut")), "round %d: %s", round,
				  json_string_value(json_object_get(err, "message")));
		events = json_integer_value(jget(j, "totals", "events"));
		cr_assert_gt(events, 0, "round %d: whole chunks were written", round);
		json_decref(j);
		if (round < 5)
			cr_assert_eq(unlink(path), 0);
	}

	/* walk the top-level framing to the last whole record */
	cr_assert_gt(whole_chunks(path, &last, &size), 0);
	cr_assert_lt(last, (uint64_t)size);
	cr_assert_eq(truncate(path, (off_t)last + ((uint64_t)size - last) / 2), 0);
	cr_assert_eq(report_json(path, &j), 0, "a cut last record is not bad input");
	err = jget(jget(j, "trace", NULL), "error", NULL);
	cr_assert(json_is_true(json_object_get(err, "cut")));
	off = (uint64_t)json_integer_value(json_object_get(err, "offset"));
	cr_assert_eq(off, last, "the error names the cut record's offset");
	cut_events = json_integer_value(jget(j, "totals", "events"));
	cr_assert_lt(cut_events, events);
	cr_assert_gt(cut_events, 0);
	json_decref(j);
	free(path);
}

/* ---- the loader's locks ---------------------------------------------------- */

/*
 * dlclose frees memory holding the loader's lock, while four threads unwind
 * (libunwind's lock, then the loader's, for its lookups). Before the shim
 * stopped unwinding calls made by the loader itself, dlstorm hung 10 runs of
 * 10 (seen first in the refobj_threads test, hung at exit's dlclose).
 */
Test(shim_rules, dlclose_while_threads_unwind_never_hangs, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char cmd[1024], lib[512], out[64];
	char *argv[] = { SAMPLE("dlstorm"), lib, "300", NULL };
	struct tdec d = { 0 };
	char *path;

	snprintf(lib, sizeof(lib), "%s/libplug.so", dir);
	snprintf(cmd, sizeof(cmd),
		 "echo 'int plug_value(void) { return 42; }' > %1$s/p.c && cc -shared -fPIC -o %2$s %1$s/p.c"
		 " && rm %1$s/p.c", dir, lib);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(run_prog(argv, 1, out, sizeof(out), 60), 0, "dlstorm hung or failed");
	cr_assert_str_eq(out, "rounds 300 ok\n");
	path = only_trace_path("refscope.dlstorm.");
	cr_assert_eq(tdec_file(&d, path, NULL), 0);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	cr_assert_gt(tdec_count(&d, RS_EV_ALLOC), 300, "dlopen allocates every round");
	tdec_free(&d);
	free(path);
}

/* ---- exec, secure execution, the trace file itself ------------------------ */

/*
 * sh execs fdcheck (same pid): the exec'd image gets its own trace, started
 * fresh, and sh's trace ends with END(exec). The exec'd program sees no
 * descriptor of the old trace (O_CLOEXEC): its only trace descriptor is its
 * own file.
 */
Test(shim_rules, exec_gets_its_own_trace_and_no_old_descriptor, .init = setup, .fini = teardown)
{
	char cmd[256];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	static char out[8192];
	struct tdec sh = { 0 }, fc = { 0 };
	char *shp, *fcp;
	uint32_t shpid = 0, fcpid = 0;
	int ours = 0;

	snprintf(cmd, sizeof(cmd), "exec %s", SAMPLE("fdcheck"));
	cr_assert_eq(run_prog(argv, 1, out, sizeof(out), 30), 0);
	shp = only_trace_path("refscope.sh.");
	fcp = only_trace_path("refscope.fdcheck.");
	cr_assert_eq(tdec_file(&sh, shp, &shpid), 0);
	cr_assert_eq(tdec_file(&fc, fcp, &fcpid), 0);
	cr_assert_eq(shpid, fcpid, "exec keeps the pid");
	cr_assert_eq(tdec_count(&sh, RS_REC_END), 1);
	cr_assert_eq(tdec_nth(&sh, RS_REC_END, 0)->how, RS_END_EXEC);
	cr_assert_eq(tdec_nth(&fc, RS_REC_PROCESS, 0)->origin, RS_ORIGIN_START);
	cr_assert_eq(tdec_nth(&fc, RS_REC_END, 0)->how, RS_END_EXIT);
	cr_assert_gt(tdec_count(&fc, RS_EV_ALLOC), 0);
	for (char *sv = NULL, *l = strtok_r(out, "\n", &sv); l; l = strtok_r(NULL, "\n", &sv)) {
		char *t = strstr(l, dir);

		if (strncmp(l, "fd ", 3) != 0 || !t)
			continue;
		ours++;
		cr_assert(strncmp(t + strlen(dir), "/refscope.fdcheck.", 18) == 0,
			  "an old trace descriptor leaked into the exec'd image: %s", l);
	}
	cr_assert_eq(ours, 1, "%s", out);
	tdec_free(&sh);
	tdec_free(&fc);
	free(shp);
	free(fcp);
}

/*
 * Secure execution (setuid: AT_SECURE set): the shim does nothing at all. The
 * loader ignores LD_PRELOAD paths in that mode, so the program links the shim
 * (a copy in the test directory, absolute rpath) to make sure it is loaded. A copy that is not setuid is
 * the control: it does write a trace, into the same directory, which the
 * setuid one (running as nobody) could write too.
 */
Test(shim_rules, secure_execution_mode_writes_nothing, .init = setup, .fini = teardown)
{
	char cmd[2048], exe[512], out[128];
	char *argv[] = { exe, NULL };
	FILE *f;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a setuid binary");
	snprintf(cmd, sizeof(cmd), "%s/sec.c", dir);
	f = fopen(cmd, "w");
	fputs("#include <stdio.h>\n#include <stdlib.h>\n#include <sys/auxv.h>\n#include <unistd.h>\n"
	      "int main(void) { void *p = malloc(10);\n"
	      "printf(\"secure %lu euid %d\\n\", getauxval(AT_SECURE), (int)geteuid());\n"
	      "free(p); return 3; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 /* a copy of the shim beside it: the setuid run (as nobody) must be
		  * able to read it wherever the tree is (CI clones into /root, 0700) */
		 "cp %2$s/librefscope.so %1$s/ && chmod 0755 %1$s/librefscope.so"
		 " && cc -o %1$s/plain %1$s/sec.c -L%1$s -Wl,-rpath,%1$s -Wl,--no-as-needed -lrefscope"
		 " && cp %1$s/plain %1$s/suid && chown nobody %1$s/suid && chmod u+s %1$s/suid"
		 " && rm %1$s/sec.c && chmod 1777 %1$s",
		 dir, RS_BUILD_DIR);
	cr_assert_eq(system(cmd), 0);
	snprintf(exe, sizeof(exe), "%s/suid", dir);
	cr_assert_eq(WEXITSTATUS(run_prog(argv, 0, out, sizeof(out), 30)), 3);
	cr_assert_str_eq(out, "secure 1 euid 65534\n");
	cr_assert_eq(count_traces("refscope."), 0, "secure mode: no trace");
	snprintf(exe, sizeof(exe), "%s/plain", dir);
	cr_assert_eq(WEXITSTATUS(run_prog(argv, 0, out, sizeof(out), 30)), 3);
	cr_assert_str_eq(out, "secure 0 euid 0\n");
	cr_assert_eq(count_traces("refscope.plain."), 1, "the control is traced");
}

/*
 * Someone planted symlinks on the names the trace would get (the pid is known
 * before exec): one to a file of theirs, one dangling. The shim follows
 * neither (O_EXCL|O_NOFOLLOW), takes the next free name, creates it 0600
 * whatever the umask, and the program runs as untraced.
 */
Test(shim_rules, symlink_at_trace_path_is_not_followed, .init = setup, .fini = teardown)
{
	char victim[512], ghost[512], link0[512], link1[512], trace[512], out[4096], buf[64];
	int pfd[2], st;
	pid_t pid;
	ssize_t n;
	size_t got = 0;
	struct stat sb;
	struct tdec d = { 0 };
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(ghost, sizeof(ghost), "%s/ghost", dir);
	f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *argv[] = { SAMPLE("fdcheck"), NULL };

		snprintf(link0, sizeof(link0), "%s/refscope.fdcheck.%d.trace", dir, (int)getpid());
		snprintf(link1, sizeof(link1), "%s/refscope.fdcheck.%d.1.trace", dir, (int)getpid());
		if (symlink(victim, link0) || symlink(ghost, link1))
			_exit(126);
		umask(0);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setenv("LD_PRELOAD", SHIM, 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while (got < sizeof(out) - 1 && (n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	cr_assert_not_null(strstr(out, "open /dev/null -> 3\n"), "%s", out);
	f = fopen(victim, "r");
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_str_eq(buf, "precious\n");
	cr_assert_eq(stat(victim, &sb), 0);
	cr_assert_eq(sb.st_size, 9, "nothing appended to the link's target");
	cr_assert_eq(lstat(ghost, &sb), -1, "the dangling link's target was not created");
	snprintf(trace, sizeof(trace), "%s/refscope.fdcheck.%d.2.trace", dir, (int)pid);
	cr_assert_eq(lstat(trace, &sb), 0, "the next free name is used");
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0600, "mode %o with umask 0", sb.st_mode & 07777);
	cr_assert_eq(tdec_file(&d, trace, NULL), 0);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	tdec_free(&d);
}
