/*
 * fault_dlloop - dlopen, call, dlclose the same library LOOPS = 100 times.
 *
 * The library is libfaultplug.so next to this program (opened by absolute
 * path). Each round calls plug_work(), which allocates and frees a block of
 * 7000 bytes and returns one of 7100 bytes allocated in plug_keep; main frees
 * the blocks of even rounds. Truth: 100 blocks of 7000 bytes allocated and
 * freed, 100 of 7100 allocated, 50 (355000 bytes) live at exit, allocated
 * in plug_keep (code unloaded long before the end). Prints "dlloop 100 ok".
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOPS 100

int main(void)
{
	char lib[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", lib, sizeof(lib) - 32);
	char *slash;
	int ok = 0;

	if (n <= 0)
		return 2;
	lib[n] = '\0';
	slash = strrchr(lib, '/');
	strcpy(slash ? slash + 1 : lib, "libfaultplug.so");
	for (int i = 0; i < LOOPS; i++) {
		void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		void *(*work)(void);
		void *p;

		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		*(void **)&work = dlsym(h, "plug_work");
		p = work ? work() : NULL;
		if (p && i % 2 == 0)
			free(p);
		ok += p != NULL;
		if (dlclose(h))
			return 1;
	}
	printf("dlloop %d %s\n", ok, ok == LOOPS ? "ok" : "FAILED");
	return ok == LOOPS ? 0 : 1;
}
