/*
 * cycle2 - the two-node cycle from CPython's memory-management story, in C.
 *
 *   a->next = b; b->next = a;   then both pointers are dropped.
 *
 * Nothing else points at either node, so they are unreachable, yet each is
 * still pointed to: a leaked cycle of exactly two 48-byte blocks (and two
 * 16-byte payloads hanging off it). Everything else is freed. No stdio, so
 * no library buffer is live at exit.
 */
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	char *payload;
	char name[32];
};

__attribute__((noinline)) static struct node *node_new(const char *name)
{
	struct node *n = malloc(sizeof(*n));

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	strncpy(n->name, name, sizeof(n->name) - 1);
	n->payload = malloc(16);
	if (n->payload)
		memset(n->payload, 0x5a, 16);
	return n;
}

__attribute__((noinline)) static void make_cycle(void)
{
	struct node *a = node_new("a");
	struct node *b = node_new("b");

	if (!a || !b)
		exit(1);
	a->next = b;
	b->next = a;
	/* a and b go out of scope here: the cycle is garbage */
}

int main(void)
{
	void *scratch[16];

	make_cycle();
	/* overwrite the dead frame of make_cycle so no stale copy of a or b
	 * stays below the stack pointer (it is not scanned, but be sure) */
	for (int i = 0; i < 16; i++)
		scratch[i] = malloc(24);
	for (int i = 0; i < 16; i++)
		free(scratch[i]);
	return 0;
}
