/*
 * symbolize_inline.c - a known function with an always-inline callee, for
 * tests/test_symbols.c. The test looks for the marker lines below by their
 * comments, so edit them together: the inlined call sits on the line marked
 * CALL_SITE, the body of the inline on the line marked INLINE_BODY, the
 * entry of sym_outer on the line marked ENTRY.
 */
#include <stdio.h>
#include <stdlib.h>

static volatile int sink;

static inline __attribute__((always_inline)) void *sym_inner_alloc(size_t n)
{
	sink += (int)n;
	return malloc(n); /* INLINE_BODY */
}

__attribute__((noinline)) void *sym_outer(size_t n)
{ /* ENTRY: gcc gives the first instruction the line of the brace */
	void *p = sym_inner_alloc(n + 1); /* CALL_SITE */

	sink += 2;
	return p;
}

int main(int argc, char **argv)
{
	void *p = sym_outer((size_t)argc);

	(void)argv;
	printf("%p\n", p ? (void *)1 : NULL);
	free(p);
	return 0;
}
