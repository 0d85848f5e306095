/*
 * refapi_annotate - a hand-rolled refcount that tells refscope about its
 * references with refscope_retain/refscope_release (include/refscope.h).
 * Without refscope the calls do nothing and the program runs the same.
 *   K: retained twice, released once: leaked with one extra reference
 *   F: retained once, released twice: freed
 * Addresses go to stderr ("annotate: NAME ADDR").
 */
#include <stdio.h>
#include <stdlib.h>

#include "refscope.h"

struct counted {
	int refs;
	char data[28];
};

static struct counted *counted_new(void)
{
	struct counted *c = calloc(1, sizeof(*c));

	if (c)
		c->refs = 1;
	return c;
}

__attribute__((noinline)) static void counted_ref(struct counted *c)
{
	c->refs++;
	refscope_retain(c);
}

__attribute__((noinline)) static void counted_unref(struct counted *c)
{
	refscope_release(c);
	if (--c->refs == 0)
		free(c);
}

int main(void)
{
	struct counted *k = counted_new(), *f = counted_new();

	if (!k || !f)
		return 1;
	fprintf(stderr, "annotate: K %p\nannotate: F %p\n", (void *)k, (void *)f);
	counted_ref(k);
	counted_ref(k);
	counted_unref(k);
	counted_ref(f);
	counted_unref(f);
	counted_unref(f);
	printf("refapi_annotate: active %d\n", refscope_active() ? 1 : 0);
	return 0;
}
