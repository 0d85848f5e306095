/*
 * threads8 - 8 threads hand blocks to each other; exactly 8 blocks of
 * 801..808 bytes (6436 bytes) are leaked, all other blocks are freed by a
 * thread other than the one that allocated them.
 *
 * Round r (ROUNDS of them): thread i allocates BATCH blocks of 32 + i bytes
 * into its outbox; after a barrier, thread i frees every block of thread
 * (i + 1) % 8's outbox. So 8 * ROUNDS * BATCH = 3200 blocks are allocated in
 * one thread and freed in another. Each thread also allocates one block of
 * 801 + i bytes and drops its pointer: the 8 leaks, one per thread, from one
 * call stack. Threads are joined; no stdio.
 *
 * Threads get 256 KiB stacks (run_threads.h) so that glibc's stack cache
 * keeps all 8 of them: then exactly 8 more blocks, the cached threads' DTVs
 * (calloc in allocate_dtv), are still live at exit.
 * Valgrind frees them in __libc_freeres before it counts; refscope does
 * not (tests/test_valgrind.c asserts that exact difference).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "run_threads.h"

#define NTHREADS 8
#define ROUNDS 20
#define BATCH 20

static pthread_barrier_t barrier;
static void *outbox[NTHREADS][BATCH];
static volatile int failed;

__attribute__((noinline)) static void leak_one(int i)
{
	char *volatile p = malloc(801 + (size_t)i);

	if (!p)
		failed = 1;
	else
		memset(p, i, 801 + (size_t)i);
	p = NULL; /* the only pointer is dropped */
}

static void *worker(void *arg)
{
	int i = (int)(long)arg, next = (i + 1) % NTHREADS;

	leak_one(i);
	for (int r = 0; r < ROUNDS; r++) {
		for (int j = 0; j < BATCH; j++) {
			outbox[i][j] = malloc(32 + (size_t)i);
			if (!outbox[i][j])
				failed = 1;
		}
		pthread_barrier_wait(&barrier);	/* all outboxes full */
		for (int j = 0; j < BATCH; j++) {
			free(outbox[next][j]);	/* allocated by thread next */
			outbox[next][j] = NULL;
		}
		pthread_barrier_wait(&barrier);	/* all outboxes empty */
	}
	return NULL;
}

int main(void)
{
	if (pthread_barrier_init(&barrier, NULL, NTHREADS) || run_threads(NTHREADS, worker))
		return 1;
	pthread_barrier_destroy(&barrier);
	return failed ? 1 : 0;
}
