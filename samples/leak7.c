/*
 * leak7 - leaks exactly 7 blocks of 100 bytes and frees everything else.
 *
 * 100 blocks of 100 bytes are allocated through two call paths; the 7 kept
 * in `kept` are never freed (a plain leak, reported by one allocation stack),
 * the other 93 are. No stdio, so no library buffer is live at exit and
 * Valgrind's "in use at exit" must agree exactly: 7 blocks, 700 bytes.
 */
#include <stdlib.h>
#include <string.h>

#define BLOCKS 100
#define LEAKED 7

static void *kept[LEAKED];

__attribute__((noinline)) static void *make_record(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 0xab, n);
	return p;
}

__attribute__((noinline)) static void remember_forever(int i)
{
	kept[i] = make_record(100);
	kept[i] = NULL; /* the only pointer is dropped: a real leak */
}

int main(void)
{
	void *tmp[BLOCKS - LEAKED];

	for (int i = 0; i < LEAKED; i++)
		remember_forever(i);
	for (int i = 0; i < BLOCKS - LEAKED; i++)
		tmp[i] = make_record(100);
	for (int i = 0; i < BLOCKS - LEAKED; i++)
		free(tmp[i]);
	return 0;
}
