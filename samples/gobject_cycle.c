/*
 * gobject_cycle - two GObjects holding references to each other through
 * g_object_set_data_full: a reference cycle GObject never breaks. A third
 * object is taken, referenced and released to nothing.
 *   A: g_object_ref once (held by B), g_object_unref once (main's)
 *   B: the same
 *   C: g_object_ref once, g_object_unref twice: finalized
 * Run with G_SLICE=always-malloc (refscope run sets it) so GLib 2.74 takes
 * instances from malloc, not from its slice allocator.
 * Addresses go to stderr ("gobject: NAME ADDR").
 */
#include <glib-object.h>
#include <stdio.h>

int main(void)
{
	GObject *a = g_object_new(G_TYPE_OBJECT, NULL);
	GObject *b = g_object_new(G_TYPE_OBJECT, NULL);
	GObject *c;

	g_object_set_data_full(a, "peer", g_object_ref(b), g_object_unref);
	g_object_set_data_full(b, "peer", g_object_ref(a), g_object_unref);
	fprintf(stderr, "gobject: A %p\ngobject: B %p\n", (void *)a, (void *)b);
	g_object_unref(a);
	g_object_unref(b);

	c = g_object_new(G_TYPE_OBJECT, NULL);
	fprintf(stderr, "gobject: C %p\n", (void *)c);
	g_object_ref(c);
	g_object_unref(c);
	g_object_unref(c);
	printf("gobject_cycle: 2 objects left in a reference cycle\n");
	return 0;
}
