/*
 * proctree - builds a process tree with every way a process is born:
 * fork, fork + exec, posix_spawn. Each process leaks a known amount from a
 * known function, so a whole-tree check has exact truth. argv[1] picks:
 *
 *   leaf K        leaks K blocks of 64 bytes in leaf_leak, exits 0
 *   fork N        forks N children; each leaks 1 block of 32 bytes in
 *                 child_leak and exits 0 (a fork with no exec); the parent
 *                 leaks 1 block of 128 bytes in parent_leak, waits, exits 0
 *   spawn N       posix_spawn's N times `proctree leaf 1`; leaks nothing
 *                 itself, waits, exits 0
 *   exec          leaks 1 block of 16 bytes in exec_leak, then execs
 *                 `proctree leaf 2` (same pid, a second trace)
 *   tree          fork 3 + spawn 3 + exec, run one after the other from
 *                 children of this process: 1 + (1 + 3) + (1 + 3) + (1 + 1)
 *                 = 11 traces, see tests/test_check.c
 *
 * Any child that fails makes the parent exit 1. No stdio.
 */
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *volatile sink;

static void leak(size_t n)
{
	sink = malloc(n);
	if (sink)
		memset(sink, 0x33, n);
	sink = NULL;
}

__attribute__((noinline)) static void leaf_leak(void) { leak(64); }
__attribute__((noinline)) static void child_leak(void) { leak(32); }
__attribute__((noinline)) static void parent_leak(void) { leak(128); }
__attribute__((noinline)) static void exec_leak(void) { leak(16); }

static const char *self;

static int wait_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int do_fork(int n)
{
	pid_t pids[64];
	int ok = 1;

	for (int i = 0; i < n && i < 64; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			child_leak();
			exit(0);
		}
	}
	parent_leak();
	for (int i = 0; i < n && i < 64; i++)
		ok &= pids[i] > 0 && wait_ok(pids[i]);
	return ok ? 0 : 1;
}

static int do_spawn(int n)
{
	char *args[] = { (char *)self, "leaf", "1", NULL };
	pid_t pids[64];
	int ok = 1;

	for (int i = 0; i < n && i < 64; i++)
		if (posix_spawn(&pids[i], self, NULL, NULL, args, environ) != 0)
			pids[i] = -1;
	for (int i = 0; i < n && i < 64; i++)
		ok &= pids[i] > 0 && wait_ok(pids[i]);
	return ok ? 0 : 1;
}

static int do_exec(void)
{
	char *args[] = { (char *)self, "leaf", "2", NULL };

	exec_leak();
	execv(self, args);
	return 1;
}

/* Runs proctree with args in a child: fork, then exec (no shell). */
static int run_child(char *mode, char *arg)
{
	char *args[] = { (char *)self, mode, arg, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execv(self, args);
		_exit(127);
	}
	return pid > 0 && wait_ok(pid) ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "tree";
	int n = argc > 2 ? atoi(argv[2]) : 1;
	int rc = 0;

	self = "/proc/self/exe";
	if (!strcmp(mode, "leaf")) {
		for (int i = 0; i < n; i++)
			leaf_leak();
		return 0;
	}
	/* posix_spawn and exec of /proc/self/exe would name every program
	 * "exe": use the real path */
	{
		static char path[4096];
		ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);

		if (len > 0) {
			path[len] = '\0';
			self = path;
		}
	}
	if (!strcmp(mode, "fork"))
		return do_fork(n);
	if (!strcmp(mode, "spawn"))
		return do_spawn(n);
	if (!strcmp(mode, "exec"))
		return do_exec();
	if (!strcmp(mode, "tree")) {
		rc |= run_child("fork", "3");
		rc |= run_child("spawn", "3");
		rc |= run_child("exec", "1");
		return rc;
	}
	return 2;
}
