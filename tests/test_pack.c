/*
 * test_pack.c - the packed-event helpers of refscope_format.h that writer
 * and reader share: the live set of a chunk's packed ALLOCs (version 3 FREE
 * address mode 1 names a block by its rank among the blocks still live)
 * against a plain array, and expansions of chunks packed by hand from the
 * spec (one whose ranks and ages differ).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "refscope_format.h"

/* A chunk packed by hand: its streams, and what expanding it gives. */
struct packed {
	struct rs_pack_in in;
	void *scratch;
	uint8_t out[256];
	const char *why;
	size_t at;
};

/* Stream st of p is the array a. */
#define STREAM(p, st, a) ((p)->in.s[st] = (a), (p)->in.len[st] = sizeof(a))

/* The streams every hand-packed chunk here has. */
#define STREAMS(p, rec, head, size, addr0, addr1, fage)                   \
	(STREAM(p, RS_PS_RECORDS, rec), STREAM(p, RS_PS_HEAD, head),        \
	 STREAM(p, RS_PS_SIZE, size), STREAM(p, RS_PS_ADDR, addr0),         \
	 STREAM(p, RS_PS_ADDR + 1, addr1), STREAM(p, RS_PS_FAGE, fage))

/* Expands p as a trace of the given version from its first byte: the
 * expanded length, or -1 with p->why. */
static long expand(struct packed *p, unsigned version)
{
	if (!p->scratch)
		p->scratch = malloc(rs_pack_scratch_size(p->in.len[RS_PS_HEAD]));
	cr_assert_not_null(p->scratch);
	memset(p->in.pos, 0, sizeof(p->in.pos));
	p->why = NULL;
	return rs_pack_expand(&p->in, 0, version, p->out, sizeof(p->out), p->scratch, &p->why, &p->at);
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Random inserts (in index order, as ALLOCs come) and removals, every
 * answer checked against a count over a plain array of live flags. */
Test(pack, live_set_ranks_match_a_plain_count)
{
	enum { N = 20000 };
	struct rs_pack_live l = { .nwords = N / 64 + 1 };
	uint8_t *alive = calloc(N, 1);
	uint32_t n = 0, nlive = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	l.bits = calloc(l.nwords, sizeof(*l.bits));
	l.fen = calloc(l.nwords + 1, sizeof(*l.fen));
	cr_assert(alive && l.bits && l.fen);
	for (unsigned step = 0; step < 3 * N; step++) {
		uint64_t r = next_rand(&seed);

		if (n < N && (nlive == 0 || r % 3 != 0)) {
			rs_live_insert(&l, n);
			alive[n++] = 1;
			nlive++;
		} else if (nlive) {
			uint32_t i = (uint32_t)(r >> 16) % n, after = 0;
			int64_t back;

			while (!alive[i])
				i = (i + 1) % n;
			for (uint32_t j = i + 1; j < n; j++)
				after += alive[j];
			cr_assert_eq(rs_live_after(&l, i), after, "step %u: index %u", step, i);
			back = rs_live_nth_latest(&l, after);
			cr_assert_eq(back, (int64_t)i, "step %u: rank %u", step, after);
			rs_live_remove(&l, i);
			alive[i] = 0;
			nlive--;
		}
		cr_assert_eq(l.total, nlive);
	}
	cr_assert_eq(rs_live_nth_latest(&l, nlive), -1, "no block with that many live after it");
	free(alive);
	free(l.bits);
	free(l.fen);
}

/* The addresses of the FREE records of an expanded body, in order. */
static size_t free_addrs(const uint8_t *out, size_t n, uint64_t *addrs, size_t max)
{
	uint64_t addr = 0, v;
	size_t p = 0, nfree = 0;

	while (p < n) {
		const uint8_t *end = out + p + 2 + out[p + 1];
		const uint8_t *q = out + p + 2;
		int64_t d = 0;

		q += rs_get_uvarint(q, end, &v);	/* seq */
		q += rs_get_uvarint(q, end, &v);	/* time */
		cr_assert_neq(rs_get_svarint(q, end, &d), 0);
		addr += (uint64_t)d;
		if (out[p] == RS_EV_FREE && nfree < max)
			addrs[nfree++] = addr;
		p = (size_t)(end - out);
	}
	return nfree;
}

/*
 * Three mallocs (0x1000, 0x2000, 0x3000), then three frees with FAGE 0, 1,
 * 0. Version 3 reads ranks among the blocks still live: 0x3000 (the latest
 * live), 0x1000 (0x2000 is still live after it), 0x2000 (alone). Version 2
 * read ages among all the chunk's mallocs: 0x3000, 0x2000, 0x3000.
 */
Test(pack, version3_frees_name_blocks_by_rank)
{
	static const uint8_t rec[] = { RS_REC_PACKED, 1, 6 };
	static const uint8_t alloc_h = RS_PH_SEQ1 | RS_PH_STACK_NONE << RS_PH_STACK_SHIFT |
				       RS_PH_ADDR_DELTA16 << RS_PH_ADDR_SHIFT;
	static const uint8_t free_h = RS_PH_FREE | RS_PH_SEQ1 | RS_PH_STACK_NONE << RS_PH_STACK_SHIFT |
				      RS_PH_ADDR_REF << RS_PH_ADDR_SHIFT;
	static const uint8_t head[] = { alloc_h, alloc_h, alloc_h, free_h, free_h, free_h };
	static const uint8_t size[] = { 24, 24, 24 };
	/* svarints of the deltas in 16-byte units: +0x100 (zigzag 0x200) thrice */
	static const uint8_t addr0[] = { 0x80, 0x80, 0x80 }, addr1[] = { 0x04, 0x04, 0x04 };
	static const uint8_t fage[] = { 0, 1, 0 };
	static const uint64_t want3[] = { 0x3000, 0x1000, 0x2000 }, want2[] = { 0x3000, 0x2000, 0x3000 };
	struct packed p = { 0 };
	uint64_t got[4];
	long n;

	STREAMS(&p, rec, head, size, addr0, addr1, fage);
	n = expand(&p, 3);
	cr_assert_gt(n, 0, "%s", p.why ? p.why : "");
	cr_assert_eq(free_addrs(p.out, (size_t)n, got, 4), 3);
	cr_assert_arr_eq(got, want3, sizeof(want3));

	n = expand(&p, 2);
	cr_assert_gt(n, 0, "%s", p.why ? p.why : "");
	cr_assert_eq(free_addrs(p.out, (size_t)n, got, 4), 3);
	cr_assert_arr_eq(got, want2, sizeof(want2));

	/* a rank with not that many live blocks: damage */
	p.in.s[RS_PS_FAGE] = (const uint8_t[]){ 0, 2, 0 };
	cr_assert_eq(expand(&p, 3), -1);
	cr_assert_str_eq(p.why, "free refers to an allocation before the chunk");
	free(p.scratch);
}

/* The packed-stream expansion against bytes written by hand from the spec in
 * refscope_format.h: a malloc of 24 bytes at 0x1000 with stack 7, then its
 * free (the latest allocation, same stack). */
Test(pack, expands_hand_packed_streams)
{
	static const uint8_t rec[] = { RS_REC_PACKED, 1, 2 };
	static const uint8_t head[] = {
		RS_PH_SEQ1 | RS_PH_STACK_ID << RS_PH_STACK_SHIFT | RS_PH_ADDR_DELTA16 << RS_PH_ADDR_SHIFT,
		RS_PH_FREE | RS_PH_SEQ1 | RS_PH_STACK_SAME << RS_PH_STACK_SHIFT |
			RS_PH_ADDR_REF << RS_PH_ADDR_SHIFT,
	};
	static const uint8_t size[] = { 24 }, addr0[] = { 0x80 }, addr1[] = { 0x04 };
	static const uint8_t stack[] = { 7 }, fage[] = { 0 }, bad_fage[] = { 1 };
	static const uint8_t want[] = { RS_EV_ALLOC, 8, 1, 0, 0x80, 0x40, 24, 7, 0, 0,
					RS_EV_FREE, 5, 1, 0, 0, 7, RS_KIND_FREE };
	struct packed p = { 0 };
	long n;

	STREAMS(&p, rec, head, size, addr0, addr1, fage);
	STREAM(&p, RS_PS_STACK, stack);
	n = expand(&p, 2);
	cr_assert_eq(n, (long)sizeof(want), "%ld: %s", n, p.why ? p.why : "");
	cr_assert_arr_eq(p.out, want, sizeof(want));

	/* version 3: HEAD bit 1 is a seq field (seq_excess) of 0, not 1 */
	n = expand(&p, 3);
	cr_assert_eq(n, (long)sizeof(want), "%ld: %s", n, p.why ? p.why : "");
	cr_assert_eq(p.out[2], 0);
	cr_assert_eq(p.out[12], 0);
	p.out[2] = p.out[12] = 1;
	cr_assert_arr_eq(p.out, want, sizeof(want));

	/* the free names an allocation the chunk does not have */
	STREAM(&p, RS_PS_FAGE, bad_fage);
	cr_assert_eq(expand(&p, 3), -1);
	cr_assert_str_eq(p.why, "free refers to an allocation before the chunk");

	/* a stream longer than its events need */
	STREAM(&p, RS_PS_FAGE, fage);
	p.in.len[RS_PS_SIZE] = 2;
	p.in.s[RS_PS_SIZE] = (const uint8_t[]){ 24, 1 };
	cr_assert_eq(expand(&p, 3), -1);
	cr_assert_str_eq(p.why, "packed streams hold more than the events use");
	free(p.scratch);
}
