/*
 * refobj_threads - 4 threads each retain and release their own object
 * 10000 times (then drop it: 10000 retains, 10001 releases per thread,
 * nothing leaked) while the main thread dlopens and dlcloses a plugin that
 * uses librefobj 20 times, so the shim scans and patches modules while
 * traced calls run. Totals: 40000 retains, 40004 releases.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/refobj.h"

#define THREADS 4
#define ROUNDS 10000

static void *worker(void *arg)
{
	struct refobj *o = refobj_new((int)(long)arg);

	for (int i = 0; i < ROUNDS; i++) {
		refobj_retain(o);
		refobj_release(o);
	}
	refobj_release(o);
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 64);
	char *slash;
	int loads = 0;

	if (n <= 0)
		return 2;
	path[n] = 0;
	slash = strrchr(path, '/');
	strcpy(slash + 1, "librefobj_linked_plugin.so");
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < 20; i++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

		if (h) {
			loads++;
			dlclose(h);
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("refobj_threads: %d threads done, %d loads, %d live\n", THREADS, loads, refobj_live());
	return 0;
}
