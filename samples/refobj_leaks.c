/*
 * refobj_leaks - leaks through a refcounted library (librefobj.so, linked
 * normally), with known truth:
 *   - three leaked cycles: rings of 2, 3 and 5 objects (R2a.., R3a.., R5a..),
 *     each member retained once (the link from its predecessor, inside the
 *     library) and released once (main's own reference);
 *   - one over-retained object X: retained once in cache_lookup_forgets_release
 *     and released once by main, so the reference taken there is never given
 *     back;
 *   - everything else freed: a chain of 4 (3 retains, 4 + 3 releases, the
 *     cascade included) and a temporary retained twice, released three times.
 * Totals: 16 retains, 21 releases; 11 objects (56 bytes each) leaked.
 * With any argument, every object is also on the library's uncounted list of
 * all instances, so the leaked cycles stay reachable from a global.
 * Object addresses go to stderr ("refobj: NAME ADDR"), the summary to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "lib/refobj.h"

static int next_id;

__attribute__((noinline)) static void make_ring(int n, const char *label)
{
	struct refobj *o[5];

	for (int i = 0; i < n; i++)
		o[i] = refobj_new(next_id++);
	for (int i = 0; i < n; i++)
		refobj_set_link(o[i], o[(i + 1) % n]);
	for (int i = 0; i < n; i++) {
		fprintf(stderr, "refobj: %s%c %p\n", label, 'a' + i, (void *)o[i]);
		refobj_release(o[i]);
	}
}

__attribute__((noinline)) struct refobj *cache_lookup_forgets_release(struct refobj *o)
{
	return refobj_retain(o);	/* the caller never learns it owns a reference */
}

__attribute__((noinline)) static void freed_chain(void)
{
	struct refobj *o[4];

	for (int i = 0; i < 4; i++)
		o[i] = refobj_new(next_id++);
	for (int i = 0; i < 3; i++)
		refobj_set_link(o[i], o[i + 1]);
	for (int i = 0; i < 4; i++)
		refobj_release(o[i]);
}

/* One retain through a pointer to the function: its address comes from a
 * GLOB_DAT slot (in RELRO when linked with -z relro -z now), not the PLT. */
struct refobj *(*volatile retain_ptr)(struct refobj *) = refobj_retain;

__attribute__((noinline)) static void freed_temp(void)
{
	struct refobj *t = refobj_new(next_id++);

	refobj_retain(t);
	retain_ptr(t);
	refobj_release(t);
	refobj_release(t);
	refobj_release(t);
}

int main(int argc, char **argv)
{
	struct refobj *x;

	(void)argv;
	refobj_track_all(argc > 1);
	make_ring(2, "R2");
	make_ring(3, "R3");
	make_ring(5, "R5");
	x = refobj_new(next_id++);
	cache_lookup_forgets_release(x);
	fprintf(stderr, "refobj: X %p\n", (void *)x);
	fprintf(stderr, "refobj: fn cache_lookup_forgets_release %p\n",
		(void *)cache_lookup_forgets_release);
	refobj_release(x);
	freed_chain();
	freed_temp();
	printf("refobj_leaks: %d objects leaked%s\n", refobj_live(),
	       argc > 1 ? ", all on the list of instances" : "");
	return 0;
}
