/*
 * refobj.c - librefobj.so: see refobj.h. Calls between its own functions go
 * through the library's PLT (default visibility, no -Bsymbolic), so a
 * release cascading into the link is seen by GOT redirection like any other.
 */
#include "refobj.h"

#include <stdlib.h>
#include <string.h>

static int track;
static int live;
static struct refobj *all;

struct refobj *refobj_new(int id)
{
	struct refobj *o = calloc(1, sizeof(*o));

	if (!o)
		abort();
	o->refs = 1;
	o->id = id;
	memset(o->payload, 'r', sizeof(o->payload));
	if (track) {
		o->all_next = all;
		if (all)
			all->all_prev = o;
		all = o;
	}
	live++;
	return o;
}

/* Not inlined into refobj_release: GCC binds a function's calls to itself
 * directly, which would hide the cascade from GOT redirection. */
__attribute__((noinline)) static void drop_link(struct refobj *link)
{
	refobj_release(link);
}

struct refobj *refobj_retain(struct refobj *o)
{
	o->refs++;
	return o;
}

void refobj_release(struct refobj *o)
{
	if (--o->refs > 0)
		return;
	if (o->all_prev)
		o->all_prev->all_next = o->all_next;
	else if (all == o)
		all = o->all_next;
	if (o->all_next)
		o->all_next->all_prev = o->all_prev;
	if (o->link)
		drop_link(o->link);
	live--;
	free(o);
}

void refobj_set_link(struct refobj *o, struct refobj *target)
{
	struct refobj *old = o->link;

	o->link = target ? refobj_retain(target) : NULL;
	if (old)
		refobj_release(old);
}

void refobj_track_all(int on)
{
	track = on;
}

struct refobj *refobj_first(void)
{
	return all;
}

int refobj_live(void)
{
	return live;
}
