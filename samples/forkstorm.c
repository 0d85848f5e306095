/*
 * forkstorm - forks again and again while four threads allocate, so a fork
 * lands while another thread is inside the unwinder (libunwind's locks, the
 * loader's dl_iterate_phdr lock). The threads call malloc through a stub in
 * an anonymous executable mapping, as JIT-compiled code does: an address in
 * no module, which libunwind looks up (dl_iterate_phdr) on every unwind
 * because a failed lookup is never cached. Each child allocates through
 * call paths new to it and exits; the parent waits for it.
 *
 * usage: forkstorm [FORKS]   (default 200). Prints "forks N ok" and exits 0.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jit_stubs.h"

static atomic_int stop;

__attribute__((noinline)) static void *deep(int n, size_t sz)
{
	void *p;

	if (n > 0) {
		p = deep(n - 1, sz + 1);
		__asm__ volatile("" ::: "memory");	/* no tail call: a new stack each depth */
		return p;
	}
	return malloc(sz);
}

static void *worker(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	struct jit_stubs j = { 0 };

	while (!atomic_load(&stop)) {
		/* many distinct depths: stack cache misses keep the unwinder busy */
		free(deep((int)(i++ % 40), 16));
		free(jit_next(&j)(malloc, 24));
	}
	return NULL;
}

__attribute__((noinline)) static void child_work(int k)
{
	for (int j = 0; j < 20; j++)
		free(deep((k + j) % 30, 32));
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 200;
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i * 7));
	for (int k = 0; k < forks; k++) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 1;
		if (pid == 0) {
			child_work(k);
			_exit(0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 2;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("forks %d ok\n", forks);
	return 0;
}
