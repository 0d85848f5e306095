/*
 * test_addrmap.c - the address-keyed table heap.c and generations.c share:
 * growth at three quarters, lookups after backward-shift deletions in long
 * probe runs, iteration over exactly the records present.
 */

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>

#include "addrmap.h"

struct rec {
	uint64_t addr;
	uint64_t value;
};

/* Addresses 16 apart in one page-aligned run: many share probe runs. */
#define N 20000
#define ADDR(i) (0x7f0000000000ull + 16 * (uint64_t)(i))

Test(addrmap, finds_every_record_after_growth_and_removals)
{
	struct addrmap m;
	size_t seen = 0;
	uint64_t sum = 0;

	cr_assert_eq(addrmap_init(&m, sizeof(struct rec)), 0);
	cr_assert_eq(m.cap, ADDRMAP_INITIAL);
	for (uint64_t i = 0; i < N; i++) {
		struct rec r = { ADDR(i), i };

		cr_assert_null(addrmap_find(&m, r.addr));
		cr_assert_eq(addrmap_insert(&m, &r), 0);
	}
	cr_assert_eq(m.count, N);
	/* 20000 records need more than 16384 * 3 / 4: the table is 32768 */
	cr_assert_eq(m.cap, 32768);
	for (uint64_t i = 0; i < N; i += 3)
		addrmap_remove(&m, addrmap_find(&m, ADDR(i)));
	for (uint64_t i = 0; i < N; i++) {
		struct rec *r = addrmap_find(&m, ADDR(i));

		if (i % 3 == 0) {
			cr_assert_null(r, "removed %" PRIu64 " still found", i);
		} else {
			cr_assert_not_null(r, "record %" PRIu64 " lost", i);
			cr_assert_eq(r->value, i);
		}
	}
	for (size_t k = 0; k < m.cap; k++) {
		const struct rec *r = addrmap_at(&m, k);

		if (r) {
			seen++;
			sum += r->value;
		}
	}
	cr_assert_eq(seen, N - (N + 2) / 3);
	cr_assert_eq(m.count, seen);
	/* the values left: all of 0..N-1 minus the multiples of 3 */
	cr_assert_eq(sum, (uint64_t)N * (N - 1) / 2 - 3 * (uint64_t)((N - 1) / 3) * ((N - 1) / 3 + 1) / 2);
	addrmap_release(&m);
}
