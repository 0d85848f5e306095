/*
 * fault_churn - allocates and frees PAIRS (argv[1], default 100000) blocks
 * of 1..1000 bytes (block i has 1 + i % 1000 bytes), then leaks 5 blocks of
 * 7777 bytes, prints "churn PAIRS" and exits 7: a program whose trace is
 * big, for the full-disk test.
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 100000;

	for (long i = 0; i < pairs; i++) {
		sink = malloc(1 + (size_t)(i % 1000));
		free(sink);
	}
	for (int i = 0; i < 5; i++)
		sink = malloc(7777);
	printf("churn %ld\n", pairs);
	return 7;
}
