/*
 * refobj_plugin - a host loading two plugins with dlopen(RTLD_LOCAL), both
 * using librefobj.so where the host and the shim's scope cannot see it:
 *   librefobj_plugin.so         dlopens librefobj.so RTLD_LOCAL, calls it
 *                               through dlsym'd pointers (2-cycle P1, P2);
 *   librefobj_linked_plugin.so  linked against librefobj.so (3-cycle L1..L3).
 * Totals: 6 retains, 6 releases, 5 objects leaked in two cycles.
 * Exit status 0 when both plugins ran.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run_plugin(const char *dir, const char *file, const char *entry)
{
	char path[PATH_MAX];
	int (*run)(void);
	void *h;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "refobj_plugin: %s\n", dlerror());
		return -1;
	}
	*(void **)&run = dlsym(h, entry);
	return run ? run() : -1;
}

int main(void)
{
	char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	char *slash;
	int a, b;

	if (n <= 0)
		return 2;
	dir[n] = 0;
	slash = strrchr(dir, '/');
	if (!slash)
		return 2;
	*slash = 0;
	a = run_plugin(dir, "librefobj_plugin.so", "plugin_run");
	b = run_plugin(dir, "librefobj_linked_plugin.so", "linked_plugin_run");
	printf("refobj_plugin: plugin %d, linked plugin %d\n", a, b);
	return a == 2 && b == 3 ? 0 : 1;
}
