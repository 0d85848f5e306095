/*
 * refobj_plugin.c - librefobj_plugin.so, a plugin that loads librefobj.so
 * itself with dlopen(RTLD_LOCAL) by bare name (found through this plugin's
 * RUNPATH) and calls it only through pointers from dlsym: the case where
 * LD_PRELOAD plus dlsym(RTLD_NEXT) finds nothing.
 *
 * plugin_run leaks a 2-cycle {P1, P2} and balances one extra retain on P1:
 * P1 is retained twice (link from P2, the extra one) and released twice,
 * P2 retained once (link from P1) and released once.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "refobj.h"

int plugin_run(void);

int plugin_run(void)
{
	void *lib = dlopen("librefobj.so", RTLD_NOW | RTLD_LOCAL);
	struct refobj *(*new_)(int);
	struct refobj *(*retain)(struct refobj *);
	void (*release)(struct refobj *);
	void (*set_link)(struct refobj *, struct refobj *);
	struct refobj *p1, *p2;

	if (!lib)
		return -1;
	*(void **)&new_ = dlsym(lib, "refobj_new");
	*(void **)&retain = dlsym(lib, "refobj_retain");
	*(void **)&release = dlsym(lib, "refobj_release");
	*(void **)&set_link = dlsym(lib, "refobj_set_link");
	if (!new_ || !retain || !release || !set_link)
		return -1;
	p1 = new_(1);
	p2 = new_(2);
	set_link(p1, p2);
	set_link(p2, p1);
	retain(p1);
	release(p1);
	fprintf(stderr, "refobj: plugin P1 %p\n", (void *)p1);
	fprintf(stderr, "refobj: plugin P2 %p\n", (void *)p2);
	release(p1);
	release(p2);
	return 2;
}
