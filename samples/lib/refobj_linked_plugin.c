/*
 * refobj_linked_plugin.c - librefobj_linked_plugin.so, linked against
 * librefobj.so (DT_NEEDED) and loaded by its host with dlopen(RTLD_LOCAL):
 * both live in a local scope the shim's own lookups never see.
 *
 * linked_plugin_run leaks a 3-cycle {L1, L2, L3}: each retained once (the
 * link from its predecessor) and released once.
 */
#include <stdio.h>

#include "refobj.h"

int linked_plugin_run(void);

int linked_plugin_run(void)
{
	struct refobj *o[3];

	for (int i = 0; i < 3; i++)
		o[i] = refobj_new(10 + i);
	for (int i = 0; i < 3; i++)
		refobj_set_link(o[i], o[(i + 1) % 3]);
	for (int i = 0; i < 3; i++) {
		fprintf(stderr, "refobj: linked L%d %p\n", i + 1, (void *)o[i]);
		refobj_release(o[i]);
	}
	return 3;
}
