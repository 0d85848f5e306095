/*
 * dlstorm - dlopen and dlclose a library again and again while four threads
 * allocate. dlclose frees memory while it holds the loader's lock, and the
 * threads' unwinds take libunwind's lock and then the loader's (libunwind
 * looks addresses up with dl_iterate_phdr): an unwind from inside dlclose's
 * free would take them in the other order. The threads call malloc through
 * stubs at fresh addresses (as JIT code does), so libunwind's lookups run all
 * the time; main calls dlclose through such a stub too. The rounds start
 * once every thread runs, and each thread makes at least WORKER_MIN calls
 * whatever the scheduler allows it during the rounds, so the counts a test
 * sees have a floor (4 * WORKER_MIN mallocs through stubs, as many frees).
 *
 * usage: dlstorm LIBRARY [ROUNDS]   (default 300). Prints "rounds N ok".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jit_stubs.h"

#define WORKER_MIN 100

static atomic_int stop, running;

static void *close_lib(size_t h)
{
	dlclose((void *)h);
	return NULL;
}

static void *(*const close_fn)(size_t) = close_lib;

static void *worker(void *arg)
{
	struct jit_stubs j = { 0 };

	(void)arg;
	atomic_fetch_add(&running, 1);
	for (unsigned n = 0; n < WORKER_MIN || !atomic_load(&stop); n++)
		free(jit_next(&j)(malloc, 24));
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 300;
	pthread_t t[4];
	struct jit_stubs jm = { 0 };

	if (argc < 2)
		return 2;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	while (atomic_load(&running) < 4)
		sched_yield();
	for (int k = 0; k < rounds; k++) {
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);

		if (!h)
			return 1;
		/* from a fresh address too: the frees dlclose makes unwind
		 * through libunwind's slow path, under the loader's lock */
		jit_next(&jm)(close_fn, (size_t)h);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("rounds %d ok\n", rounds);
	return 0;
}
