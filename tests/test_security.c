/*
 * test_security.c - the promises of docs/SECURITY.md, each on real runs:
 * the trace descriptor's flags as the kernel holds them (write-only,
 * append, no-follow, close-on-exec, mode 0600); no descriptor of the shim
 * (trace, libunwind's pipe) in a program exec'd from a traced one; a file
 * already at the trace's name is left as it was; setgid programs are not
 * traced; and the analyzer, given a trace whose modules name a FIFO, a
 * device, a huge file, a script and shell syntax, finishes, executes none of
 * them and opens every one read-only. (The setuid case and planted symlinks
 * are in test_shim_rules.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"
#include "refscope_format.h"
#include "tracebuild.h"

static char *dir;

static void setup(void)
{
	dir = e2e_tmpdir();
}

static void teardown(void)
{
	e2e_rmtree(dir);
	free(dir);
}

/* `refscope run -q -o dir --snapshot-interval 1 -- argv`: the periodic
 * snapshot trigger is running too. */
static void traced_with_snapshots(char *const argv[], struct e2e_proc *p)
{
	char *full[16];
	size_t k = 0;

	full[k++] = E2E_REFSCOPE;
	full[k++] = "run";
	full[k++] = "-q";
	full[k++] = "--snapshot-interval";
	full[k++] = "1";
	full[k++] = "-o";
	full[k++] = dir;
	full[k++] = "--";
	for (size_t i = 0; argv[i]; i++) {
		cr_assert_lt(k, sizeof(full) / sizeof(full[0]) - 1);
		full[k++] = argv[i];
	}
	full[k] = NULL;
	e2e_exec(full, NULL, NULL, p);
}

/* Some line of text starts with prefix. */
static int mem_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, n))
			return 1;
	return 0;
}

/* Each run's stdout is a file in a directory of its own: the same name. */
static void mask_run_dirs(char *s)
{
	static const char pre[] = "/tmp/refscope-e2e-";

	while ((s = strstr(s, pre)) != NULL) {
		s += sizeof(pre) - 1;
		for (int k = 0; k < 6 && *s; k++)
			*s++ = 'X';
	}
}

/* bash printing "FD TARGET FLAGS" for each of its own descriptors (octal
 * flags from /proc/PID/fdinfo; the subshells read the shell's own). */
#define LIST_FDS                                                                            \
	"for f in /proc/$$/fd/*; do n=${f##*/};"                                                \
	" printf '%s %s %s\\n' $n \"$(readlink $f)\" \"$(sed -n 's/^flags:\\t*//p'"             \
	" /proc/$$/fdinfo/$n)\"; done"

/*
 * Untraced and traced, bash lists its descriptors: the traced one has the
 * same lines plus the shim's, all at 100 or above and all close-on-exec:
 * libunwind's address-validation pipe and the trace, open write-only,
 * append, no-follow (what the kernel keeps of the open flags; O_CREAT and
 * O_EXCL are not kept), as a regular file of mode 0600.
 */
Test(security, trace_descriptor_flags_and_mode, .init = setup, .fini = teardown)
{
	char *argv[] = { "/bin/bash", "-c", LIST_FDS, NULL };
	struct e2e_proc plain, traced;
	char *sv = NULL, want[512];
	int extra = 0, trace = 0;

	e2e_exec(argv, NULL, NULL, &plain);
	traced_with_snapshots(argv, &traced);
	cr_assert_eq(plain.status, 0);
	cr_assert_eq(traced.status, 0, "%s", traced.err);
	snprintf(want, sizeof(want), "%s/refscope.bash.", dir);
	for (char *l = strtok_r(traced.out, "\n", &sv); l; l = strtok_r(NULL, "\n", &sv)) {
		int fd = atoi(l);
		char *flags = strrchr(l, ' ');
		unsigned long f;
		struct stat st;

		char num[16];

		snprintf(num, sizeof(num), "%d ", fd);
		if (fd < 100 && mem_line(plain.out, num))
			continue;	/* open untraced too (stdout: another file) */
		extra++;
		cr_assert_geq(fd, 100, "the shim took a low descriptor: %s", l);
		cr_assert_not_null(flags, "%s", l);
		f = strtoul(flags + 1, NULL, 8);
		cr_assert(f & O_CLOEXEC, "not close-on-exec: %s", l);
		if (strstr(l, want)) {
			trace++;
			cr_assert_eq(f & O_ACCMODE, O_WRONLY, "%s", l);
			cr_assert(f & O_APPEND, "%s", l);
			cr_assert(f & O_NOFOLLOW, "%s", l);
			*flags = 0;
			cr_assert_eq(stat(strchr(l, ' ') + 1, &st), 0, "%s", l);
			cr_assert(S_ISREG(st.st_mode));
			cr_assert_eq(st.st_mode & 07777, 0600);
		} else {
			cr_assert_not_null(strstr(l, " pipe:["), "unexpected descriptor %s", l);
		}
	}
	cr_assert_eq(trace, 1, "%s", traced.out);
	cr_assert_geq(extra, 1);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

/*
 * A traced bash (snapshot trigger running) starts fdcheck untraced (no
 * LD_PRELOAD), once as a forked child and once by exec in place: fdcheck
 * sees exactly the descriptors, errno and lowest free number it sees when
 * nothing is traced - no trace file, no libunwind pipe.
 */
Test(security, no_shim_descriptor_reaches_an_exec_d_program, .init = setup, .fini = teardown)
{
	char cmd[512];
	char *argv[] = { "/bin/bash", "-c", cmd, NULL };
	/* a forked child, then an exec in place (after a subshell) */
	const char *const how[] = { "", "x=$(ls /); exec " };

	for (size_t i = 0; i < 2; i++) {
		struct e2e_proc plain, traced;
		char **v;

		snprintf(cmd, sizeof(cmd), "%senv -u LD_PRELOAD %s%s", how[i], E2E_SAMPLE("fdcheck"),
			 i ? "" : "; true");
		e2e_exec(argv, NULL, NULL, &plain);
		traced_with_snapshots(argv, &traced);
		cr_assert_eq(plain.status, 0);
		cr_assert_eq(traced.status, 0, "%s", traced.err);
		cr_assert_not_null(strstr(plain.out, "open /dev/null -> "), "%s", plain.out);
		mask_run_dirs(plain.out);
		mask_run_dirs(traced.out);
		cr_assert_str_eq(traced.out, plain.out, "%s", cmd);
		/* bash was traced, fdcheck was not */
		cr_assert_geq(e2e_traces(dir, "bash", &v), 1);
		e2e_free_paths(v);
		cr_assert_eq(e2e_traces(dir, "fdcheck", &v), 0);
		e2e_free_paths(v);
		e2e_proc_free(&plain);
		e2e_proc_free(&traced);
	}
}

/*
 * A regular file already at the trace's name (anybody who can write the
 * directory can make one, and pids are guessable): O_EXCL refuses it, so it
 * is neither truncated nor appended to, nor does its mode change; the shim
 * takes the next free name and the program runs as untraced.
 */
Test(security, existing_file_at_trace_path_is_left_alone, .init = setup, .fini = teardown)
{
	char planted[512], next[512], buf[64];
	char *argv[] = { E2E_SAMPLE("fdcheck"), NULL };
	int st;
	pid_t pid;
	FILE *f;
	struct stat sb;
	json_t *j;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd, out = open("/dev/null", O_WRONLY);

		snprintf(planted, sizeof(planted), "%s/refscope.fdcheck.%d.trace", dir, (int)getpid());
		fd = open(planted, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, "planted\n", 8) != 8 || close(fd) || out < 0)
			_exit(126);
		dup2(out, 1);
		setenv("LD_PRELOAD", RS_BUILD_DIR "/librefscope.so", 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	snprintf(planted, sizeof(planted), "%s/refscope.fdcheck.%d.trace", dir, (int)pid);
	cr_assert_eq(stat(planted, &sb), 0);
	cr_assert_eq(sb.st_size, 8, "the planted file was written to");
	cr_assert_eq(sb.st_mode & 07777, 0644);
	f = fopen(planted, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_str_eq(buf, "planted\n");
	snprintf(next, sizeof(next), "%s/refscope.fdcheck.%d.1.trace", dir, (int)pid);
	cr_assert_eq(stat(next, &sb), 0, "the next free name is used");
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(e2e_report(next, &j), 0);
	cr_assert(json_is_true(e2e_get(j, "trace.complete")));
	json_decref(j);
}

/*
 * Secure execution through setgid alone (the setuid case is
 * shim_rules/secure_execution_mode_writes_nothing): root runs a program
 * that is setgid nogroup, so AT_SECURE is set while the process could
 * still write a trace anywhere; the shim, linked in (the loader ignores
 * LD_PRELOAD paths in that mode), writes none. The same binary without the
 * setgid bit is traced: the control.
 */
Test(security, setgid_program_is_not_traced, .init = setup, .fini = teardown)
{
	char cmd[2048], exe[512];
	char *argv[] = { exe, NULL };
	struct e2e_proc p;
	char **v;
	FILE *f;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a setgid binary of another group");
	snprintf(cmd, sizeof(cmd), "%s/sec.c", dir);
	f = fopen(cmd, "w");
	cr_assert_not_null(f);
	fputs("#include <stdio.h>\n#include <stdlib.h>\n#include <sys/auxv.h>\n#include <unistd.h>\n"
	      "int main(void) { void *p = malloc(10);\n"
	      "printf(\"secure %lu egid %d\\n\", getauxval(AT_SECURE), (int)getegid());\n"
	      "free(p); return 3; }\n", f);
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd),
		 "cp %2$s/librefscope.so %1$s/ && chmod 0755 %1$s/librefscope.so && cd %1$s"
		 " && cc -o plain sec.c -L. -Wl,-rpath,%1$s -Wl,--no-as-needed -lrefscope"
		 " && cp plain sgid && chgrp nogroup sgid && chmod g+s sgid && rm sec.c",
		 dir, RS_BUILD_DIR);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(setenv("REFSCOPE_OUTPUT_DIR", dir, 1), 0);
	snprintf(exe, sizeof(exe), "%s/sgid", dir);
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert_eq(WEXITSTATUS(p.status), 3);
	cr_assert_str_eq(p.out, "secure 1 egid 65534\n");
	cr_assert_eq(e2e_traces(dir, NULL, &v), 0, "secure mode: no trace");
	e2e_free_paths(v);
	e2e_proc_free(&p);
	snprintf(exe, sizeof(exe), "%s/plain", dir);
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert_eq(WEXITSTATUS(p.status), 3);
	cr_assert_str_eq(p.out, "secure 0 egid 0\n");
	cr_assert_eq(e2e_traces(dir, "plain", &v), 1, "the control is traced");
	e2e_free_paths(v);
	e2e_proc_free(&p);
}

/* ---- the analyzer and hostile module paths ------------------------------ */

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

/*
 * A trace whose PROCESS exe is a shell script and whose modules are: a FIFO
 * nobody writes, /dev/zero, a symlink to it, a symlink to the FIFO, an 8 GiB
 * sparse file starting with a real ELF header, the script, a name made of
 * shell syntax (and HTML), /proc/self/mem, a directory, and a real ELF file (the
 * control). A stack runs through all of them and its blocks are live at
 * exit, so every report symbolizes each module. Every report must end in
 * time with exit 0, execute nothing (the script and the shell syntax would
 * create marker files), and open each file read-only (inotify on each: the
 * control's IN_CLOSE_NOWRITE shows the watch works; no IN_CLOSE_WRITE,
 * IN_MODIFY or IN_ATTRIB anywhere); the modules are "missing" except the
 * control and the huge file (its header is /bin/true's, so libdwfl maps it
 * as a module without a build-id; the rest is never read). The argv is HTML
 * too: the --html page holds it as text, never as an element.
 */
Test(security, analyzer_survives_hostile_module_paths, .init = setup, .fini = teardown,
     .timeout = 120)
{
	enum { NMOD = 10 };
	char paths[NMOD][512], trace[512], script[512], huge[512], fifo[512], elf[512], cmd[1024];
	const char *const names[NMOD] = {
		"fifo", "/dev/zero", "link-to-zero", "link-to-fifo", "huge", "script.sh",
		"$(touch pwned-subst);touch pwned-semicolon;`touch pwned-backtick`"
		"</script><img src=x onerror=alert(2)>",
		"/proc/self/mem", "a-directory", "control-elf",
	};
	/* an HTML report must not let a trace's strings out of their data */
	const char *const argv0[] = { "</script><img src=x onerror=alert(1)>" };
	const char *const markers[] = { "pwned-script", "pwned-exe", "pwned-subst",
					"pwned-semicolon", "pwned-backtick" };
	char html[300];
	const char *const reports[][3] = {
		{ "report", NULL }, { "report", "--json", NULL }, { "report", "--cycles", NULL },
		{ "report", "--format", "collapsed" }, { "report", "--html", html },
	};
	uint64_t ips[NMOD];
	struct tb t;
	int in, watched[NMOD], nwatch = 0, nowrite_control = 0;
	char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	json_t *j, *m;
	size_t i;

	for (i = 0; i < NMOD; i++) {
		if (names[i][0] == '/')
			snprintf(paths[i], sizeof(paths[i]), "%s", names[i]);
		else
			snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, names[i]);
	}
	snprintf(fifo, sizeof(fifo), "%s", paths[0]);
	snprintf(huge, sizeof(huge), "%s", paths[4]);
	snprintf(script, sizeof(script), "%s", paths[5]);
	snprintf(elf, sizeof(elf), "%s", paths[9]);
	snprintf(html, sizeof(html), "%s/report.html", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(symlink("/dev/zero", paths[2]), 0);
	cr_assert_eq(symlink(fifo, paths[3]), 0);
	/* long enough (> an ELF header) that the analyzer reads it */
	write_text(script, "#!/bin/sh\ntouch pwned-script\n"
			   "# padding padding padding padding padding padding padding padding\n", 0755);
	cr_assert_eq(mkdir(paths[8], 0700), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && cp /bin/true control-elf && head -c 4096 /bin/true > huge"
		 " && truncate -s 8G huge && printf '#!/bin/sh\\ntouch pwned-exe\\n' > exe.sh"
		 " && chmod 0755 exe.sh",
		 dir);
	cr_assert_eq(system(cmd), 0);

	tb_init(&t, 7, 1);
	snprintf(cmd, sizeof(cmd), "%s/exe.sh", dir);
	tb_process(&t, 7, 1, cmd, 1, (const char *const *)argv0, RS_ORIGIN_START);
	for (i = 0; i < NMOD; i++) {
		uint64_t base = 0x10000000ull * (i + 1);

		tb_module(&t, 0, base, paths[i], NULL, 0, 0, 0x100000, 5);
		ips[i] = base + 0x1234;
	}
	tb_stack(&t, 1, NMOD, ips);
	tb_chunk_begin(&t, 7, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 24, 1, RS_KIND_MALLOC);
	tb_alloc(&t, 2, 1, 0x2000, 40, 1, RS_KIND_MALLOC);
	tb_chunk_end(&t, 1);
	tb_end(&t, 3, RS_END_EXIT, 0, 10, 0);
	snprintf(trace, sizeof(trace), "%s/hostile.trace", dir);
	cr_assert_eq(tb_write(&t, trace), 0);
	tb_release(&t);

	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	cr_assert_geq(in, 0);
	for (i = 0; i < NMOD; i++) {
		if (i == 1 || i == 2 || i == 6 || i == 7)
			continue;	/* devices, /proc, no such file: nothing to watch */
		watched[nwatch] = inotify_add_watch(in, paths[i], IN_ALL_EVENTS);
		cr_assert_geq(watched[nwatch], 0, "%s", paths[i]);
		nwatch++;
	}
	cr_assert_geq(inotify_add_watch(in, cmd, IN_ALL_EVENTS), 0);

	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		char *argv[8];
		size_t k = 0;
		struct e2e_proc p;

		argv[k++] = E2E_REFSCOPE;
		for (size_t a = 0; a < 3 && reports[i][a]; a++)
			argv[k++] = (char *)reports[i][a];
		argv[k++] = trace;
		argv[k] = NULL;
		e2e_exec(argv, NULL, dir, &p);
		cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s %s: %#x %s",
			  reports[i][0], reports[i][1] ? reports[i][1] : "", p.status, p.err);
		e2e_proc_free(&p);
	}
	for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		char mk[600];

		snprintf(mk, sizeof(mk), "%s/%s", dir, markers[i]);
		cr_assert_neq(access(mk, F_OK), 0, "something was executed: %s exists", markers[i]);
	}
	while ((n = read(in, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			cr_assert_eq(e->mask & (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
						IN_MOVE_SELF),
				     0, "watch %d: event %#x", e->wd, e->mask);
			if (e->wd == watched[nwatch - 1] && (e->mask & IN_CLOSE_NOWRITE))
				nowrite_control++;
			p += sizeof(*e) + e->len;
		}
	}
	close(in);
	cr_assert_gt(nowrite_control, 0, "the control ELF was never opened: is the watch working?");
	snprintf(cmd, sizeof(cmd), "grep -c 'onerror=alert(1)' '%1$s' >/dev/null"
		 " && ! grep -q '<img' '%1$s'", html);
	cr_assert_eq(system(cmd), 0, "%s: the argv is in it, and no <img> element", html);

	cr_assert_eq(e2e_report(trace, &j), 0);
	json_array_foreach(e2e_get(j, "modules"), i, m) {
		const char *path = json_string_value(json_object_get(m, "path"));
		const char *status = json_string_value(json_object_get(m, "status"));

		cr_assert_not_null(path);
		if (!strcmp(path, elf))
			cr_assert_str_neq(status, "missing", "the control ELF");
		else if (!strcmp(path, huge))	/* a real ELF header: libdwfl takes it, */
			cr_assert_str_neq(status, "ok", "%s", path); /* mapped, never read whole */
		else
			cr_assert_str_eq(status, "missing", "%s: %s", path, status);
	}
	cr_assert_eq(json_array_size(e2e_get(j, "modules")), NMOD);
	json_decref(j);
}
