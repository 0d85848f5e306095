/*
 * gobject_dlopen - libgobject dlopen'ed RTLD_LOCAL by a program that does
 * not link it (as Python loads PyGObject's _gi.so): no g_object_ref in the
 * global scope, so dlsym(RTLD_NEXT) finds nothing; the functions are
 * called through dlsym'd pointers, and libgobject makes calls of its own
 * that no GOT slot sees (GLib binds them with -Bsymbolic-functions):
 *   A: g_object_ref (pointer)                     retain 1
 *      g_value_set_object -> g_object_ref          retain 2 (inside libgobject)
 *      g_value_unset -> g_object_unref             release 1 (inside)
 *      g_object_add_toggle_ref -> g_object_ref     retain 3 (inside)
 *      g_object_remove_toggle_ref -> g_object_unref release 2 (inside)
 *      g_object_unref twice (pointer)              releases 3, 4: finalized
 *   B: handed to A with g_object_set_data_full(A, "peer", B, g_object_unref):
 *      finalizing A calls the destroy notify        release 1: finalized
 * Weak references (no count change) count the finalized objects; the
 * program prints 2. Totals: 3 retains, 5 releases. Run with G_SLICE=always-malloc (refscope
 * run sets it). Addresses go to stderr ("gobject: NAME ADDR").
 */
#include <dlfcn.h>
#include <glib-object.h>
#include <stdio.h>

#define GET(h, name) dlsym(h, #name)

static int finalized;

static void gone(gpointer data, GObject *where)
{
	(void)data;
	(void)where;
	finalized++;
}

static void toggled(gpointer data, GObject *obj, gboolean is_last)
{
	(void)data;
	(void)obj;
	(void)is_last;
}

int main(void)
{
	void *h = dlopen("libgobject-2.0.so.0", RTLD_NOW | RTLD_LOCAL);
	GType (*object_type)(void);
	gpointer (*object_new)(GType, const char *, ...);
	gpointer (*ref)(gpointer);
	void (*unref)(gpointer);
	GValue *(*value_init)(GValue *, GType);
	void (*value_set_object)(GValue *, gpointer);
	void (*value_unset)(GValue *);
	void (*set_data_full)(GObject *, const char *, gpointer, GDestroyNotify);
	void (*add_toggle)(GObject *, GToggleNotify, gpointer);
	void (*remove_toggle)(GObject *, GToggleNotify, gpointer);
	void (*weak_ref)(GObject *, GWeakNotify, gpointer);
	GValue v = G_VALUE_INIT;
	GObject *a, *b;

	if (!h) {
		fprintf(stderr, "gobject_dlopen: %s\n", dlerror());
		return 1;
	}
	*(void **)&object_type = GET(h, g_object_get_type);
	*(void **)&object_new = GET(h, g_object_new);
	*(void **)&ref = GET(h, g_object_ref);
	*(void **)&unref = GET(h, g_object_unref);
	*(void **)&value_init = GET(h, g_value_init);
	*(void **)&value_set_object = GET(h, g_value_set_object);
	*(void **)&value_unset = GET(h, g_value_unset);
	*(void **)&set_data_full = GET(h, g_object_set_data_full);
	*(void **)&add_toggle = GET(h, g_object_add_toggle_ref);
	*(void **)&remove_toggle = GET(h, g_object_remove_toggle_ref);
	*(void **)&weak_ref = GET(h, g_object_weak_ref);
	if (!object_type || !object_new || !ref || !unref || !value_init || !value_set_object ||
	    !value_unset || !set_data_full || !add_toggle || !remove_toggle ||
	    !weak_ref) {
		fprintf(stderr, "gobject_dlopen: a function is missing\n");
		return 1;
	}
	a = object_new(object_type(), NULL);
	b = object_new(object_type(), NULL);
	fprintf(stderr, "gobject: A %p\ngobject: B %p\n", (void *)a, (void *)b);
	weak_ref(a, gone, NULL);
	weak_ref(b, gone, NULL);
	set_data_full(a, "peer", b, unref);
	ref(a);
	value_init(&v, object_type());
	value_set_object(&v, a);
	value_unset(&v);
	add_toggle(a, toggled, NULL);
	remove_toggle(a, toggled, NULL);
	unref(a);
	unref(a);
	printf("gobject_dlopen: %d objects finalized\n", finalized);
	return 0;
}
