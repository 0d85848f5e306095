/*
 * faultplug - the library fault_dlloop loads and unloads in a loop:
 * plug_work allocates and frees 7000 bytes and returns a new block of 7100
 * bytes from plug_keep.
 */
#include <stdlib.h>
#include <string.h>

void *plug_work(void);

__attribute__((noinline)) static void *plug_keep(void)
{
	void *p = malloc(7100);

	if (p)
		memset(p, 1, 7100);
	return p;
}

void *plug_work(void)
{
	char *volatile tmp = malloc(7000);

	free(tmp);
	return plug_keep();
}
