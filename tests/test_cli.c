/*
 * test_cli.c - build/refscope as a user runs it: exit codes (0, 2, the
 * program's own status, its signal, 127), --help and --version, report and
 * dump on the fixtures, report -o with JSON parsed by jansson, and run's
 * environment, signal handling and summary.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracebuild.h"

#define REFSCOPE RS_BUILD_DIR "/refscope"
#define FIXTURE(name) RS_SOURCE_DIR "/tests/fixtures/" name

struct result {
	int status; /* from waitpid */
	char out[1 << 16];
	char err[1 << 16];
};

static void slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* Runs argv (argv[0] is replaced by build/refscope) in cwd (NULL: here),
 * with extra environment settings "NAME=value" (or "NAME" to unset). */
static struct result *run(const char *cwd, const char *const *env, const char *const *argv)
{
	struct result *r = calloc(1, sizeof(*r));
	char dir[64], out[128], err[128];
	pid_t pid;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(out, sizeof(out), dir, "out");
	tb_path(err, sizeof(err), dir, "err");
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(o, 1);
		dup2(e, 2);
		if (cwd && chdir(cwd) != 0)
			_exit(99);
		for (; env && *env; env++) {
			const char *eq = strchr(*env, '=');

			if (eq) {
				char name[64];

				snprintf(name, sizeof(name), "%.*s", (int)(eq - *env), *env);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(*env);
			}
		}
		execv(REFSCOPE, (char *const *)argv);
		_exit(98);
	}
	cr_assert_eq(waitpid(pid, &r->status, 0), pid);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
	rmdir(dir);
	return r;
}

static int exit_code(const struct result *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static int have_library(void)
{
	return access(RS_BUILD_DIR "/librefscope.so", R_OK) == 0;
}

static const char *const no_preload[] = { "LD_PRELOAD", NULL };

Test(cli, prints_version)
{
	const char *argv[] = { "refscope", "--version", NULL };
	struct result *r = run(NULL, NULL, argv);

	cr_assert_eq(exit_code(r), 0);
	cr_assert_str_eq(r->out, "refscope " REFSCOPE_VERSION "\n");
	free(r);
}

Test(cli, help_exits_zero_for_every_command)
{
	const char *cmds[][3] = {
		{ "refscope", "--help", NULL },
		{ "refscope", "report", "--help" },
		{ "refscope", "run", "--help" },
		{ "refscope", "dump", "--help" },
		{ "refscope", "graph", "--help" },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *argv[4] = { cmds[i][0], cmds[i][1], cmds[i][2], NULL };
		struct result *r = run(NULL, NULL, argv);

		cr_assert_eq(exit_code(r), 0, "%s %s", cmds[i][1], cmds[i][2] ? cmds[i][2] : "");
		cr_assert_not_null(strstr(r->out, "usage: refscope"), "%s", r->out);
		cr_assert_str_eq(r->err, "");
		free(r);
	}
}

Test(cli, usage_errors_exit_2)
{
	const char *cmds[][5] = {
		{ "refscope", NULL },
		{ "refscope", "bogus", NULL },
		{ "refscope", "report", NULL },
		{ "refscope", "report", "--top", "x", FIXTURE("good.trace") },
		{ "refscope", "report", "--nope", FIXTURE("good.trace"), NULL },
		{ "refscope", "dump", NULL },
		{ "refscope", "run", NULL },
		{ "refscope", "run", "--depth", "0", "true" },
		{ "refscope", "run", "--buffer-kb", "x", "true" },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *argv[6] = { 0 };
		struct result *r;

		memcpy(argv, cmds[i], sizeof(cmds[i]));
		r = run(NULL, NULL, argv);
		cr_assert_eq(exit_code(r), 2, "case %zu: exit %d", i, exit_code(r));
		cr_assert_neq(r->err[0], '\0', "case %zu says nothing", i);
		free(r);
	}
}

/* A trace whose last record is cut by the end of the file (kill -9 during a
 * write, full disk) is incomplete, not bad input: reported up to the cut,
 * exit 0, the cut's offset on stderr and in the report. */
Test(cli, report_exits_0_on_cut_trace_with_its_offset)
{
	const char *argv[] = { "refscope", "report", FIXTURE("truncated_chunk.trace"), NULL };
	struct result *r = run(NULL, NULL, argv);

	cr_assert_eq(exit_code(r), 0, "%s", r->err);
	cr_assert_not_null(strstr(r->out, "live at exit: 32 bytes in 1 block,"), "%s", r->out);
	cr_assert_not_null(strstr(r->out, "trace is incomplete: its last record, at byte 178, is cut short"),
			   "%s", r->out);
	cr_assert_not_null(strstr(r->err, "incomplete trace, reported up to byte 178: truncated record at "
					  "byte 178: chunk needs 52 bytes, 18 left"),
			   "%s", r->err);
	free(r);
}

/* Real corruption still exits 2, after the partial report. */
Test(cli, report_exits_2_on_damage_after_partial_report)
{
	const char *argv[] = { "refscope", "report", FIXTURE("bitflip_zstd.trace"), NULL };
	struct result *r = run(NULL, NULL, argv);

	cr_assert_eq(exit_code(r), 2);
	cr_assert_not_null(strstr(r->out, "live at exit:"), "%s", r->out);
	cr_assert_not_null(strstr(r->err, "chunk at byte 232: zstd error: Unknown frame descriptor"), "%s",
			   r->err);
	free(r);
}

Test(cli, report_missing_file_exits_2)
{
	const char *argv[] = { "refscope", "report", "/nonexistent/x.trace", NULL };
	struct result *r = run(NULL, NULL, argv);

	cr_assert_eq(exit_code(r), 2);
	cr_assert_str_eq(r->err,
			 "refscope report: cannot read /nonexistent/x.trace: No such file or directory\n");
	cr_assert_str_eq(r->out, "");
	free(r);
}

Test(cli, report_json_to_file)
{
	char dir[64], path[128];
	const char *argv[] = { "refscope", "report", "--json", "-o", path, "--top", "1",
			       FIXTURE("good.trace"), NULL };
	struct result *r;
	json_error_t err;
	json_t *root;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "r.json");
	r = run(NULL, NULL, argv);
	cr_assert_eq(exit_code(r), 0, "%s", r->err);
	cr_assert_str_eq(r->out, "");
	root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s", err.text);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(root, "live_at_exit"), "bytes")), 72);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(root, "live_at_exit"), "groups")), 1);
	json_decref(root);
	unlink(path);
	rmdir(dir);
	free(r);
}

Test(cli, dump_prints_every_record_with_offsets)
{
	const char *argv[] = { "refscope", "dump", FIXTURE("good.trace"), NULL };
	struct result *r = run(NULL, NULL, argv);
	size_t lines = 0;

	cr_assert_eq(exit_code(r), 0, "%s", r->err);
	for (const char *p = r->out; *p; p++)
		lines += *p == '\n';
	/* header + 7 top-level records + 10 events + 1 STACK inside a chunk */
	cr_assert_eq(lines, 19, "%s", r->out);
	cr_assert_eq(strncmp(r->out, "@0 header version 1 header_size 64 flags 0x1 pid 100 ppid 1 ", 60), 0,
		     "%s", r->out);
	cr_assert_not_null(strstr(r->out, "\n@64 process len 33 pid 100 ppid 1 exe \"/usr/bin/prog\" "
					  "argv [\"prog\" \"--flag\"] depth_limit 64 page_size 4096 origin start\n"));
	cr_assert_not_null(strstr(r->out, "\n  @232+0 alloc len 9 seq 9 time 190 addr 0x4000 size 64 "
					  "stack 1 kind malloc align 0\n"),
			   "%s", r->out);
	cr_assert_not_null(strstr(r->out, "\n@270 end len 6 next_seq 11 how 1 status 0 end_time 210 "
					  "events_lost 0\n"));
	free(r);
}

Test(cli, dump_exits_2_on_damage)
{
	const char *argv[] = { "refscope", "dump", FIXTURE("bitflip_zstd.trace"), NULL };
	struct result *r = run(NULL, NULL, argv);

	cr_assert_eq(exit_code(r), 2);
	cr_assert_not_null(strstr(r->out, "  error: chunk at byte 232: zstd error: Unknown frame descriptor\n"),
			   "%s", r->out);
	/* the records after the damaged chunk are still listed */
	cr_assert_not_null(strstr(r->out, "\n@270 end len 6"), "%s", r->out);
	free(r);
}

Test(cli, run_prog_not_found_exits_127)
{
	const char *argv[] = { "refscope", "run", "-q", "--", "refscope-no-such-program", NULL };
	struct result *r = run(NULL, no_preload, argv);

	cr_assert_eq(exit_code(r), 127);
	cr_assert_str_eq(r->err, "refscope run: refscope-no-such-program: command not found\n");
	free(r);
}

Test(cli, run_passes_exit_status_and_signal)
{
	const char *exit3[] = { "refscope", "run", "-q", "-o", "/tmp", "--", "/bin/sh", "-c", "exit 3", NULL };
	const char *killed[] = { "refscope", "run", "-q", "-o", "/tmp", "--", "/bin/sh", "-c",
				 "kill -TERM $$", NULL };
	struct result *r;
	char dir[64];

	if (!have_library())
		cr_skip_test("no build/librefscope.so");
	tb_tmpdir(dir, sizeof(dir));
	exit3[4] = killed[4] = dir;
	r = run(NULL, no_preload, exit3);
	cr_assert_eq(exit_code(r), 3, "%s", r->err);
	free(r);
	r = run(NULL, no_preload, killed);
	cr_assert(WIFSIGNALED(r->status), "status 0x%x", r->status);
	cr_assert_eq(WTERMSIG(r->status), SIGTERM);
	free(r);
}

Test(cli, run_leaves_sigint_to_the_program)
{
	/* the program's parent is refscope: SIGINT to it must not end the run */
	const char *argv[] = { "refscope", "run", "-q", "-o", "/tmp", "--", "/bin/sh", "-c",
			       "kill -INT $PPID; sleep 0.2; exit 5", NULL };
	struct result *r;
	char dir[64];

	if (!have_library())
		cr_skip_test("no build/librefscope.so");
	tb_tmpdir(dir, sizeof(dir));
	argv[4] = dir;
	r = run(NULL, no_preload, argv);
	cr_assert_eq(exit_code(r), 5, "status 0x%x", r->status);
	free(r);
}

Test(cli, run_sets_child_environment_only)
{
	char dir[64], expect[512];
	const char *env[] = { "LD_PRELOAD=libm.so.6", "REFSCOPE_QUIET", "REFSCOPE_DEPTH",
#ifdef __SANITIZE_ADDRESS__
			      /* an ASan refscope started with LD_PRELOAD set refuses to
			       * run unless its runtime comes first: let it (make SANITIZE=) */
			      "ASAN_OPTIONS=verify_asan_link_order=0",
#endif
			      NULL };
	const char *argv[] = { "refscope", "run", "-o", "out", "--depth", "7", "--no-free-stacks",
			       "--no-compress", "--buffer-kb", "16", "--quiet", "--", "/bin/sh", "-c",
			       "echo \"$LD_PRELOAD|$REFSCOPE_OUTPUT_DIR|$REFSCOPE_DEPTH|$REFSCOPE_FREE_STACKS|"
			       "$REFSCOPE_COMPRESS|$REFSCOPE_BUFFER_KB|$REFSCOPE_QUIET\"",
			       NULL };
	struct result *r;

	if (!have_library())
		cr_skip_test("no build/librefscope.so");
	tb_tmpdir(dir, sizeof(dir));
	r = run(dir, env, argv);
	cr_assert_eq(exit_code(r), 0, "%s", r->err);
	snprintf(expect, sizeof(expect), "%s/librefscope.so:libm.so.6|%s/out|7|0|0|16|1\n", RS_BUILD_DIR,
		 dir);
	cr_assert_str_eq(r->out, expect);
	free(r);
	/* refscope itself was not traced: nothing in its own cwd */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "ls %s/refscope.*.trace >/dev/null 2>&1", dir);
		cr_assert_neq(system(cmd), 0, "a trace appeared in refscope's cwd");
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		cr_assert_eq(system(cmd), 0);
	}
}

Test(cli, run_summary_names_the_trace)
{
	char dir[64], expect[256];
	/* stands in for the shim: writes a trace under the name the shim would */
	const char *argv[] = { "refscope", "run", "-o", "out", "--", "/bin/sh", "-c",
			       "cp " FIXTURE("good.trace") " \"$REFSCOPE_OUTPUT_DIR/refscope.sh.$$.trace\"; "
			       "cp " FIXTURE("good.trace") " \"$REFSCOPE_OUTPUT_DIR/refscope.kid.1.trace\"",
			       NULL };
	struct result *r;
	char *line;

	if (!have_library())
		cr_skip_test("no build/librefscope.so");
	tb_tmpdir(dir, sizeof(dir));
	r = run(dir, (const char *const[]){ "LD_PRELOAD", "REFSCOPE_DISABLE=1", NULL }, argv);
	cr_assert_eq(exit_code(r), 0, "%s", r->err);
	line = strstr(r->err, "refscope: trace out/refscope.sh.");
	cr_assert_not_null(line, "%s", r->err);
	cr_assert_not_null(strstr(line, ".trace: 2 blocks (72 bytes) live at exit\n"), "%s", r->err);
	snprintf(expect, sizeof(expect), "refscope: 1 more trace written by child processes in out\n");
	cr_assert_not_null(strstr(r->err, expect), "%s", r->err);
	free(r);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		cr_assert_eq(system(cmd), 0);
	}
}
