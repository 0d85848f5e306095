/*
 * run_threads.h - for the threaded samples: runs n threads of fn, thread i
 * given (void *)i, with 256 KiB stacks, and joins them. Small stacks so that
 * glibc's stack cache (40 MiB) keeps all of them whatever `ulimit -s` says:
 * then exactly n more blocks, the cached threads' DTVs (calloc in
 * allocate_dtv), are still live at exit. Returns 0, or 1 when a thread
 * could not be started.
 */
#ifndef SAMPLES_RUN_THREADS_H
#define SAMPLES_RUN_THREADS_H

#include <pthread.h>

#define RUN_THREADS_MAX 64

static inline int run_threads(int n, void *(*fn)(void *))
{
	pthread_t t[RUN_THREADS_MAX];
	pthread_attr_t attr;

	if (n > RUN_THREADS_MAX || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 256 << 10))
		return 1;
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], &attr, fn, (void *)i))
			return 1;
	pthread_attr_destroy(&attr);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

#endif
