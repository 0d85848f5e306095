/*
 * cycle_kept - a two-node cycle that stays reachable: a->next = b,
 * b->next = a, and the global `kept` points at a until exit. The snapshot
 * at exit sees kept -> a -> b -> a: zero leaked cycles, zero leaks. No
 * stdio.
 */
#include <stdlib.h>

struct node {
	struct node *next;
	long value;
};

struct node *kept;

__attribute__((noinline)) static struct node *node_new(long v)
{
	struct node *n = malloc(sizeof(*n));

	if (!n)
		exit(1);
	n->next = NULL;
	n->value = v;
	return n;
}

int main(void)
{
	struct node *a = node_new(1), *b = node_new(2);

	a->next = b;
	b->next = a;
	kept = a;
	return 0;
}
