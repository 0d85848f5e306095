/*
 * lifetimes - a known lifetime mix for the generational model: 90% of the
 * blocks are freed at once, 9% after about three thousand allocations, 1%
 * live until the end (never freed). No stdio, so every allocation in the
 * trace is one of these.
 *
 * 50 rounds of 1000 allocations, each round in this order:
 *   1. free the 90 medium blocks of round r - 3 (from round 3 on)
 *   2. allocate 10 long blocks (200 bytes, make_long) and 90 medium blocks
 *      (48 bytes, make_medium): the "keepers"
 *   3. 900 times: allocate a short block (16 bytes, make_short), free it
 * After the last round the medium blocks of rounds 47, 48 and 49 are freed.
 *
 * The truth, on the allocation clock (allocation n has clock n):
 *   allocations 50000 (45000 short, 4500 medium, 500 long), frees 49500,
 *   live at exit 500 blocks, 100000 bytes (the long ones).
 *   Every short block is temporary (heaptrack's rule) with lifetime 0.
 *   Medium block j (10 <= j < 100 in its round's keepers) of round r lives
 *   2999 - j allocations; those of rounds 48 and 49 live 1999 - j and
 *   999 - j (freed at the end, clock 50000).
 * With --gen-thresholds 99,10,10 the collections fall on each round's
 * 100th keeper (tests/test_generations.c works out every figure).
 */
#include <stdlib.h>
#include <string.h>

#define ROUNDS 50
#define LONG 10
#define MEDIUM 90
#define SHORT 900

static void *medium[ROUNDS][MEDIUM];
static void *longs[ROUNDS * LONG];
static void *volatile sink; /* the short block escapes, so malloc/free stay */

__attribute__((noinline)) static void *make_long(void)
{
	void *p = malloc(200);

	if (p)
		memset(p, 1, 200);
	return p;
}

__attribute__((noinline)) static void *make_medium(void)
{
	void *p = malloc(48);

	if (p)
		memset(p, 2, 48);
	return p;
}

__attribute__((noinline)) static void make_short(void)
{
	sink = malloc(16);
	free(sink);
}

int main(void)
{
	for (int r = 0; r < ROUNDS; r++) {
		if (r >= 3)
			for (int i = 0; i < MEDIUM; i++)
				free(medium[r - 3][i]);
		for (int i = 0; i < LONG; i++)
			longs[r * LONG + i] = make_long();
		for (int i = 0; i < MEDIUM; i++)
			medium[r][i] = make_medium();
		for (int i = 0; i < SHORT; i++)
			make_short();
	}
	for (int r = ROUNDS - 3; r < ROUNDS; r++)
		for (int i = 0; i < MEDIUM; i++)
			free(medium[r][i]);
	/* the long blocks stay live until the end: drop the pointers so the
	 * leak is real */
	memset(longs, 0, sizeof(longs));
	return 0;
}
