/*
 * handoff - NTHREADS threads in a ring hand freshly allocated blocks to each
 * other through one-slot lock-free mailboxes (C11 atomics, spinning), so
 * every block is allocated in one thread and freed in the next within
 * moments, and glibc gives the freed address straight back out to the
 * freeing thread (tcache): one address passes through every thread in turn.
 * This is what the trace's seqs must order across threads.
 *
 * Round r (ROUNDS of them; argv[1] sets another number, valgrind runs 100):
 * thread i allocates one block, puts it in thread (i + 1) % NTHREADS's
 * mailbox, then takes the block thread i - 1 put in its own and frees it.
 * Blocks are 16, 32, 48, 64 bytes by turns (block_size), except in the last
 * LEAK rounds: those are 48 bytes and the receiver drops its only pointer
 * instead of freeing them. So NTHREADS * ROUNDS blocks are allocated,
 * NTHREADS * (ROUNDS - LEAK) freed by another thread than their
 * allocation's, and exactly NTHREADS * LEAK = 12 blocks of 48 bytes (576
 * bytes) leaked, from one call stack (make_block).
 *
 * The NTHREADS threads' DTVs are still live at exit too (run_threads.h).
 * No stdio.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "run_threads.h"

#define NTHREADS 4
#define ROUNDS 10000
#define LEAK 3

static int rounds = ROUNDS;	/* > LEAK */
static _Atomic(char *) mailbox[NTHREADS];
static atomic_int failed;

static size_t block_size(int r)
{
	return r >= rounds - LEAK ? 48 : 16 + 16 * (size_t)(r % 4);
}

/* Spins briefly, then lets the other threads run: there may be fewer cores
 * than threads. */
static void backoff(unsigned *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

__attribute__((noinline)) static char *make_block(int r)
{
	char *p = malloc(block_size(r));

	if (p)
		memset(p, r & 0x7f, block_size(r));
	else
		atomic_store(&failed, 1);
	return p;
}

static void *worker(void *arg)
{
	int i = (int)(long)arg, next = (i + 1) % NTHREADS;

	for (int r = 0; r < rounds; r++) {
		char *p = make_block(r), *expect = NULL;
		unsigned spins = 0;

		while (!atomic_compare_exchange_weak_explicit(&mailbox[next], &expect, p,
							      memory_order_release, memory_order_relaxed)) {
			expect = NULL;
			backoff(&spins);
		}
		spins = 0;
		while (!(p = atomic_exchange_explicit(&mailbox[i], NULL, memory_order_acquire)))
			backoff(&spins);
		if (p[0] != (r & 0x7f))	/* thread i - 1's block of the same round */
			atomic_store(&failed, 1);
		if (r < rounds - LEAK)
			free(p);
		/* else: the only pointer is dropped with p */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (rounds = atoi(argv[1])) <= LEAK)
		return 2;
	if (run_threads(NTHREADS, worker))
		return 1;
	return atomic_load(&failed) ? 1 : 0;
}
