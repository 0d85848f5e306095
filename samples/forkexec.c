/*
 * forkexec - a parent and a forked child that execs leak7: three processes'
 * worth of leaks, each with its own exact truth.
 *
 * Parent: leaks 2 blocks of 300 bytes before fork and 1 block of 301 bytes
 * after it (3 blocks, 901 bytes); it also frees one block of 55 bytes
 * allocated before fork. It waits for the child and exits 0 if the child
 * exited 0, else 1.
 * Child (fork): frees the 55-byte block it inherited (a free of a block its
 * own trace never saw), leaks 5 blocks of 50 bytes (250 bytes), then execs
 * leak7 (argv[1], default: leak7 next to this program), so its trace ends
 * with END(exec) and 5 blocks, 250 bytes live.
 * The exec'd leak7: its own trace, 7 blocks of 100 bytes (700 bytes).
 * The parent's trace holds none of the child's events: 4 allocations
 * (2 x 300, 55, 301), 1 free. No stdio.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) static void leak(size_t n)
{
	sink = malloc(n);
	if (sink)
		memset(sink, 0x5a, n);
	sink = NULL;
}

int main(int argc, char **argv)
{
	char target[PATH_MAX];
	void *volatile shared; /* volatile: the compiler may not drop malloc/free */
	pid_t pid;
	int st;

	if (argc > 1 && strlen(argv[1]) < sizeof(target)) {
		strcpy(target, argv[1]);
	} else {
		ssize_t n = readlink("/proc/self/exe", target, sizeof(target) - 16);
		char *slash;

		if (n <= 0)
			return 2;
		target[n] = '\0';
		slash = strrchr(target, '/');
		strcpy(slash ? slash + 1 : target, "leak7");
	}
	leak(300);
	leak(300);
	shared = malloc(55);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		char *args[] = { target, NULL };

		free(shared);
		for (int i = 0; i < 5; i++)
			leak(50);
		execv(target, args);
		_exit(127);
	}
	free(shared);
	leak(301);
	if (waitpid(pid, &st, 0) != pid)
		return 2;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
