/*
 * test_shim_preload.c - build/librefscope.so under LD_PRELOAD on real
 * programs: unchanged output and exit status, one trace per process with the
 * right origin and END, and no file at all when disabled.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refscope_format.h"
#include "test_shim_util.h"

static char dir[] = "/tmp/refscope-test-preload-XXXXXX";

/* Runs argv with the shim preloaded into dir; returns the wait status and
 * the first bytes of its stdout in out. */
static int run(char *const argv[], const char *extra_env, char *out, size_t cap)
{
	int pfd[2], st = 0;
	pid_t pid;
	ssize_t n, got = 0;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv("LD_PRELOAD", RS_BUILD_DIR "/librefscope.so", 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		unsetenv("REFSCOPE_DISABLE");
		if (extra_env)
			putenv((char *)extra_env);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while (out && (size_t)got < cap - 1 && (n = read(pfd[0], out + got, cap - 1 - (size_t)got)) > 0)
		got += n;
	if (out)
		out[got] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return st;
}

/* Decodes the only trace in dir whose name starts with prefix. */
static int only_trace(const char *prefix, struct tdec *d, uint32_t *pid)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	char path[512];
	int found = 0;

	cr_assert_not_null(dd);
	while ((e = readdir(dd)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		found++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(tdec_file(d, path, pid), 0, "%s does not decode", path);
	}
	closedir(dd);
	return found;
}

static int count_files(void)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(dd)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dd);
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

Test(shim_preload, echo_output_status_and_trace, .init = setup, .fini = teardown)
{
	char *argv[] = { "/bin/echo", "hello", "refscope", NULL };
	char out[64];
	struct tdec d = { 0 };
	const struct trec *p, *e;
	uint32_t pid = 0;
	int libc_bid = 0;

	cr_assert_eq(run(argv, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "hello refscope\n");
	cr_assert_eq(only_trace("refscope.echo.", &d, &pid), 1);
	p = tdec_nth(&d, RS_REC_PROCESS, 0);
	cr_assert_eq(d.r[0].type, RS_REC_PROCESS, "PROCESS comes first");
	cr_assert_eq(p->pid, pid);
	cr_assert_eq(p->origin, RS_ORIGIN_START);
	for (size_t i = 0; i < tdec_count(&d, RS_REC_MODULE); i++) {
		const struct trec *m = tdec_nth(&d, RS_REC_MODULE, i);

		if (strstr(m->path, "libc.so.6"))
			libc_bid = (int)m->build_id_len;
	}
	cr_assert_eq(libc_bid, 20, "libc's GNU build id is 20 bytes");
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	e = tdec_nth(&d, RS_REC_END, 0);
	cr_assert_eq(e->how, RS_END_EXIT);
	cr_assert_eq(e->status, 0);
	cr_assert_gt(tdec_count(&d, RS_EV_ALLOC), 0);
	tdec_free(&d);
}

Test(shim_preload, fatal_signal_keeps_exit_status, .init = setup, .fini = teardown)
{
	char *argv[] = { "/bin/sh", "-c", "kill -SEGV $$", NULL };
	struct tdec d = { 0 };
	const struct trec *e;
	int st = run(argv, NULL, NULL, 0);

	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(WTERMSIG(st), SIGSEGV);
	cr_assert_eq(only_trace("refscope.sh.", &d, NULL), 1);
	e = tdec_nth(&d, RS_REC_END, 0);
	cr_assert_not_null(e);
	cr_assert_eq(e->how, RS_END_SIGNAL);
	cr_assert_eq(e->status, SIGSEGV);
	tdec_free(&d);
}

Test(shim_preload, fork_child_gets_its_own_trace, .init = setup, .fini = teardown)
{
	/* dash forks a subshell for ( ... ) and exits it with _exit */
	char *argv[] = { "/bin/sh", "-c", "(echo x) ; echo y", NULL };
	char out[16];
	struct tdec d = { 0 };
	uint32_t pids[2] = { 0, 0 };
	int forks = 0, starts = 0;
	DIR *dd;
	struct dirent *e;

	cr_assert_eq(run(argv, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "x\ny\n");
	dd = opendir(dir);
	while ((e = readdir(dd)) != NULL) {
		char path[512];
		const struct trec *p;
		uint32_t pid;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		memset(&d, 0, sizeof(d));
		cr_assert_eq(tdec_file(&d, path, &pid), 0);
		p = tdec_nth(&d, RS_REC_PROCESS, 0);
		cr_assert_eq(tdec_count(&d, RS_REC_END), 1, "%s", e->d_name);
		if (p->origin == RS_ORIGIN_FORK) {
			forks++;
			pids[1] = (uint32_t)p->ppid;
		} else {
			starts++;
			pids[0] = pid;
		}
		tdec_free(&d);
	}
	closedir(dd);
	cr_assert_eq(starts, 1);
	cr_assert_eq(forks, 1);
	cr_assert_eq(pids[1], pids[0], "the child's ppid is the traced parent");
}

Test(shim_preload, disabled_writes_nothing, .init = setup, .fini = teardown)
{
	char *argv[] = { "/bin/echo", "quiet", NULL };
	char out[16];

	cr_assert_eq(run(argv, "REFSCOPE_DISABLE=1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "quiet\n");
	cr_assert_eq(count_files(), 0);
}

/* dlopen of a bare name found through the program's own RUNPATH: the shim
 * must not become dlopen's caller. The plugin's module is still recorded. */
Test(shim_preload, dlopen_keeps_the_callers_runpath, .init = setup, .fini = teardown)
{
	char cmd[1024], exe[512], out[64];
	char *argv[] = { exe, NULL };
	struct tdec d = { 0 };
	int found = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s/plug.c", dir);
	f = fopen(cmd, "w");
	fputs("#include <stdlib.h>\nvoid *plug(void) { return malloc(77); }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/main.c", dir);
	f = fopen(cmd, "w");
	fputs("#include <dlfcn.h>\n#include <stdio.h>\nint main(void) {\n"
	      "void *h = dlopen(\"librsplug.so\", RTLD_NOW);\n"
	      "if (!h) { puts(\"dlopen failed\"); return 1; }\n"
	      "void *(*f)(void) = (void *(*)(void))dlsym(h, \"plug\");\n"
	      "puts(f() ? \"plug ok\" : \"plug null\"); return 0; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %1$s/lib && cc -shared -fPIC -fno-builtin -o %1$s/lib/librsplug.so %1$s/plug.c"
		 " && cc -o %1$s/bin %1$s/main.c -ldl -Wl,-rpath,'$ORIGIN/lib' -Wl,--enable-new-dtags"
		 " && rm %1$s/plug.c %1$s/main.c", dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(exe, sizeof(exe), "%s/bin", dir);
	cr_assert_eq(run(argv, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "plug ok\n");
	cr_assert_eq(only_trace("refscope.bin.", &d, NULL), 1);
	for (size_t i = 0; i < tdec_count(&d, RS_REC_MODULE); i++)
		found += strstr(tdec_nth(&d, RS_REC_MODULE, i)->path, "librsplug.so") != NULL;
	cr_assert_eq(found, 1, "the plugin is recorded once");
	tdec_free(&d);
}
