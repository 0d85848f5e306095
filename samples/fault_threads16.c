/*
 * fault_threads16 - 16 threads hand blocks to each other while the main
 * thread keeps creating and joining short-lived threads.
 *
 * Round r (ROUNDS of them, two phases each): in the fill phase worker i
 * allocates BATCH blocks of 1000 + i bytes into its outbox; in the drain
 * phase it frees every block of worker (i + 1) % 16's outbox. Main takes
 * part in both barriers and during each phase creates and joins CHURN
 * threads, each allocating and freeing one block of 2000 bytes. Each worker
 * also leaks one block of 3000 + i bytes.
 *
 * Truth: 16 * ROUNDS * BATCH = 2560 blocks of 1000..1015 bytes, each freed
 * by another thread than its allocator; 2 * ROUNDS * CHURN = 100 blocks of
 * 2000 bytes, all freed; 16 blocks of 3000..3015 bytes (48120 bytes) live at
 * exit; 116 threads started and exited. Prints "threads16 ok".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWORKERS 16
#define ROUNDS 10
#define BATCH 16
#define CHURN 5

static pthread_barrier_t barrier;
static void *outbox[NWORKERS][BATCH];
static volatile int failed;

__attribute__((noinline)) static void leak_one(int i)
{
	char *volatile p = malloc(3000 + (size_t)i);

	if (!p)
		failed = 1;
	else
		memset(p, i, 3000 + (size_t)i);
	p = NULL;
}

static void *worker(void *arg)
{
	int i = (int)(long)arg, next = (i + 1) % NWORKERS;

	leak_one(i);
	for (int r = 0; r < ROUNDS; r++) {
		for (int j = 0; j < BATCH; j++)
			if (!(outbox[i][j] = malloc(1000 + (size_t)i)))
				failed = 1;
		pthread_barrier_wait(&barrier);
		for (int j = 0; j < BATCH; j++) {
			free(outbox[next][j]);
			outbox[next][j] = NULL;
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void *churner(void *arg)
{
	char *volatile p = malloc(2000);

	(void)arg;
	if (!p)
		failed = 1;
	free(p);
	return NULL;
}

static void churn(void)
{
	for (int k = 0; k < CHURN; k++) {
		pthread_t t;

		if (pthread_create(&t, NULL, churner, NULL) || pthread_join(t, NULL))
			failed = 1;
	}
}

int main(void)
{
	pthread_t t[NWORKERS];

	if (pthread_barrier_init(&barrier, NULL, NWORKERS + 1))
		return 1;
	for (long i = 0; i < NWORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			return 1;
	for (int r = 0; r < ROUNDS; r++) {
		churn();	/* while the workers fill */
		pthread_barrier_wait(&barrier);
		churn();	/* while they drain */
		pthread_barrier_wait(&barrier);
	}
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	printf("threads16 %s\n", failed ? "FAILED" : "ok");
	return failed;
}
