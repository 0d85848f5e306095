/*
 * gobject_threads - four threads referencing one GObject at once, half of
 * the references taken by libgobject itself (g_value_set_object and
 * g_value_unset call g_object_ref/unref directly, past any GOT slot):
 *   each thread, ROUNDS times: g_object_ref, g_value_set_object (a ref
 *   inside libgobject), g_value_unset (an unref inside), g_object_unref.
 * Then main drops its own reference: the object is finalized.
 * Totals: 4 * ROUNDS * 2 retains, 4 * ROUNDS * 2 + 1 releases.
 *
 * usage: gobject_threads [ROUNDS]   (default 5000). Prints "gobject_threads:
 * 4 threads, N rounds, finalized 1". Address on stderr ("gobject: O ADDR").
 */
#include <glib-object.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static GObject *shared;
static int rounds = 5000;
static int finalized;

static void gone(gpointer data, GObject *where)
{
	(void)data;
	(void)where;
	finalized++;
}

static void *worker(void *arg)
{
	GValue v = G_VALUE_INIT;

	(void)arg;
	g_value_init(&v, G_TYPE_OBJECT);
	for (int i = 0; i < rounds; i++) {
		g_object_ref(shared);
		g_value_set_object(&v, shared);
		g_value_unset(&v);
		g_value_init(&v, G_TYPE_OBJECT);
		g_object_unref(shared);
	}
	g_value_unset(&v);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[4];

	if (argc > 1)
		rounds = atoi(argv[1]);
	shared = g_object_new(G_TYPE_OBJECT, NULL);
	g_object_weak_ref(shared, gone, NULL);
	fprintf(stderr, "gobject: O %p\n", (void *)shared);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	g_object_unref(shared);
	printf("gobject_threads: 4 threads, %d rounds, finalized %d\n", rounds, finalized);
	return 0;
}
