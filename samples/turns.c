/*
 * turns - two threads take turns through one C11 atomic (spinning): in its
 * turn a thread allocates a 64 KiB block (below glibc's mmap threshold, so
 * from its own arena: the two threads' blocks have different addresses),
 * writes to it, frees it and hands the turn over. So at most one such block
 * is ever live, and each allocation follows the other thread's free within
 * moments: the trace's seqs must order the two though no address links
 * them (the report's peak counts both blocks live at once otherwise).
 *
 * ROUNDS turns per thread; argv[1] sets another number. Nothing leaks but
 * the two threads' DTVs (run_threads.h). No stdio.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "run_threads.h"

#define ROUNDS 10000
#define BLOCK (64 << 10)

static int rounds = ROUNDS;
static atomic_int turn;
static atomic_int failed;

static void *worker(void *arg)
{
	int me = (int)(long)arg;

	for (int r = 0; r < rounds; r++) {
		unsigned spins = 0;
		char *p;

		while (atomic_load_explicit(&turn, memory_order_acquire) != me)
			if (++spins % 64 == 0)	/* there may be one core */
				sched_yield();
		p = malloc(BLOCK);
		if (p)
			*(volatile char *)p = 1;
		else
			atomic_store(&failed, 1);
		free(p);
		atomic_store_explicit(&turn, !me, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (rounds = atoi(argv[1])) <= 0)
		return 2;
	if (run_threads(2, worker))
		return 1;
	return atomic_load(&failed) ? 1 : 0;
}
