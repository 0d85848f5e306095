/*
 * fault_forkmt - forks from a multi-threaded program; each child allocates.
 *
 * Four threads allocate and free blocks of 4100 bytes until main is done.
 * Main leaks 5 blocks of 4200 bytes, then forks FORKS = 3 children one after
 * the other while the threads run. Each child (only the forking thread
 * exists in it) allocates 30 blocks of 4300 bytes, frees 20 of them and
 * exits 0 (10 blocks, 43000 bytes live). After the children, main leaks 2
 * blocks of 4400 bytes, stops and joins the threads.
 *
 * Truth: the parent's trace has no block of 4300 bytes; each child's trace
 * (origin fork) has 30 allocations and 20 frees of 4300 bytes and nothing
 * of 4100 or 4200 bytes. Prints "forkmt ok" (parent only).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKS 3

static atomic_int stop, running;
static void *volatile sink;

static void *spin(void *arg)
{
	(void)arg;
	atomic_fetch_add(&running, 1);
	while (!atomic_load(&stop)) {
		void *volatile p = malloc(4100);

		free(p);
	}
	return NULL;
}

__attribute__((noinline)) static void leak(size_t n)
{
	sink = malloc(n);
	sink = NULL;
}

__attribute__((noinline)) static void child(void)
{
	void *keep[30];

	for (int i = 0; i < 30; i++)
		keep[i] = malloc(4300);
	for (int i = 0; i < 20; i++)
		free(keep[i]);
	exit(keep[29] ? 0 : 1);
}

int main(void)
{
	pthread_t t[4];
	int ok = 1, st;

	for (int i = 0; i < 5; i++)
		leak(4200);
	for (int i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, spin, NULL))
			return 1;
	while (atomic_load(&running) < 4)
		usleep(1000);
	fflush(stdout);
	for (int k = 0; k < FORKS; k++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0)
			child();
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	leak(4400);
	leak(4400);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("forkmt %s\n", ok ? "ok" : "FAILED");
	return !ok;
}
