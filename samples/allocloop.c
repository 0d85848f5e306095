/*
 * allocloop - allocates and frees for ever (until killed), in argv[1]
 * threads (default 1): the target of the kill -9 tests. Each thread keeps the
 * last 64 blocks alive in a ring, so a trace cut anywhere has live blocks.
 * Writes "ready\n" on stdout once every thread is running. No other stdio.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int running;

static void *spin(void *arg)
{
	void *ring[64] = { 0 };
	size_t i = 0;

	(void)arg;
	atomic_fetch_add(&running, 1);
	for (;;) {
		free(ring[i % 64]);
		ring[i % 64] = malloc(16 + i % 512);
		i++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t t;
	ssize_t w;

	for (int i = 1; i < n; i++)
		pthread_create(&t, NULL, spin, NULL);
	while (atomic_load(&running) < n - 1)
		usleep(1000);
	w = write(1, "ready\n", 6);
	(void)w;
	spin(NULL);
	return 0;
}
