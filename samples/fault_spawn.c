/*
 * fault_spawn - starts children without fork: vfork + execv and
 * posix_spawn, of leak7 (traceable) and of fault_static (not traceable),
 * both next to this program.
 *
 * Order: vfork+exec leak7, posix_spawn leak7, vfork+exec fault_static,
 * posix_spawn fault_static; each waited for. leak7 must exit 0 and
 * fault_static 5. Main leaks 3 blocks of 5100 bytes. Prints the children's
 * statuses as "spawn 0 0 5 5", fault_static prints "static ok" twice before.
 * With argument "exec", main instead leaks its 3 blocks and execs
 * fault_static itself (exit status 5, its trace ends with END(exec)).
 */
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *volatile sink;

__attribute__((noinline)) static void leak(size_t n)
{
	sink = malloc(n);
	sink = NULL;
}

static void beside(char *out, const char *name)
{
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 32);
	char *slash;

	if (n <= 0)
		exit(2);
	out[n] = '\0';
	slash = strrchr(out, '/');
	strcpy(slash ? slash + 1 : out, name);
}

static int by_vfork(const char *path)
{
	char *args[] = { (char *)path, NULL };
	int st;
	pid_t pid = vfork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(path, args);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int by_spawn(const char *path)
{
	char *args[] = { (char *)path, NULL };
	pid_t pid;
	int st;

	if (posix_spawn(&pid, path, NULL, NULL, args, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	static char leak7[PATH_MAX], stat[PATH_MAX];
	int a, b, c, d;

	beside(leak7, "leak7");
	beside(stat, "fault_static");
	for (int i = 0; i < 3; i++)
		leak(5100);
	if (argc > 1 && !strcmp(argv[1], "exec")) {
		char *args[] = { stat, NULL };

		execv(stat, args);
		return 127;
	}
	fflush(stdout);
	a = by_vfork(leak7);
	b = by_spawn(leak7);
	c = by_vfork(stat);
	d = by_spawn(stat);
	printf("spawn %d %d %d %d\n", a, b, c, d);
	return a == 0 && b == 0 && c == 5 && d == 5 ? 0 : 1;
}
