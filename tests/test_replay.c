/*
 * test_replay.c - the live set: realloc success, failure and zero,
 * free(NULL), unknown frees, zero-size blocks, the peak and its seq, the
 * live-at-exit groups and their order, and a churn big enough to grow and
 * shrink the table many times.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "heap.h"
#include "refscope_format.h"

static uint64_t next_seq;

static struct heap *fresh(void)
{
	struct heap *h;

	cr_assert_eq(heap_new(&h), 0);
	next_seq = 1;
	return h;
}

static void feed(struct heap *h, uint8_t type, uint64_t tid, uint64_t addr, uint64_t size,
		 uint64_t stack, uint64_t kind, uint64_t old)
{
	struct reader_event ev = {
		.type = type, .seq = next_seq, .time = next_seq * 100, .tid = tid, .addr = addr,
		.size = size, .stack = stack, .kind = kind, .old = old,
	};

	next_seq++;
	cr_assert_eq(heap_event(h, &ev), 0);
}

static void alloc(struct heap *h, uint64_t tid, uint64_t addr, uint64_t size, uint64_t stack,
		  uint64_t kind)
{
	feed(h, RS_EV_ALLOC, tid, addr, size, stack, kind, 0);
}

static void dealloc(struct heap *h, uint64_t tid, uint64_t addr, uint64_t kind)
{
	feed(h, RS_EV_FREE, tid, addr, 0, 0, kind, 0);
}

static void failed(struct heap *h, uint64_t tid, uint64_t size, uint64_t kind, uint64_t old)
{
	feed(h, RS_EV_ALLOC_FAILED, tid, 0, size, 9, kind, old);
}

static struct heap_totals totals(struct heap *h)
{
	struct heap_totals t;

	heap_finish(h);
	heap_totals(h, &t);
	return t;
}

Test(replay, realloc_success_moves_the_block)
{
	struct heap *h = fresh();
	struct heap_totals t;
	struct heap_group *g;
	size_t n;

	alloc(h, 1, 0x1000, 10, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_REALLOC);
	alloc(h, 1, 0x2000, 20, 2, RS_KIND_REALLOC);
	t = totals(h);
	cr_assert_eq(t.allocations, 2);
	cr_assert_eq(t.frees, 1);
	cr_assert_eq(t.reallocs, 1);
	cr_assert_eq(t.allocated_bytes, 30);
	cr_assert_eq(t.freed_bytes, 10);
	cr_assert_eq(t.live_blocks, 1);
	cr_assert_eq(t.live_bytes, 20);
	cr_assert_eq(t.unknown_frees, 0);
	cr_assert_eq(heap_groups(h, &g, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(g[0].stack, 2);
	free(g);
	heap_free(h);
}

Test(replay, realloc_failure_restores_old_block)
{
	struct heap *h = fresh();
	struct heap_totals t;
	struct heap_group *g;
	size_t n;

	alloc(h, 1, 0x1000, 10, 3, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_REALLOC);
	alloc(h, 2, 0x5000, 1, 4, RS_KIND_MALLOC); /* another thread in between */
	failed(h, 1, 1u << 30, RS_KIND_REALLOC, 0x1000);
	dealloc(h, 1, 0x1000, RS_KIND_FREE); /* the restored block frees normally */
	t = totals(h);
	cr_assert_eq(t.failed_allocations, 1);
	cr_assert_eq(t.reallocs, 1);
	cr_assert_eq(t.frees, 1, "the realloc's FREE is taken back; %lu", (unsigned long)t.frees);
	cr_assert_eq(t.freed_bytes, 10);
	cr_assert_eq(t.unknown_frees, 0);
	cr_assert_eq(t.live_blocks, 1);
	cr_assert_eq(t.live_bytes, 1);
	cr_assert_eq(t.restore_unmatched, 0);
	cr_assert_eq(heap_groups(h, &g, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(g[0].stack, 4);
	free(g);
	heap_free(h);
}

Test(replay, realloc_failure_keeps_original_size_and_stack)
{
	struct heap *h = fresh();
	struct heap_group *g;
	size_t n;

	alloc(h, 1, 0x1000, 77, 5, RS_KIND_CALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_REALLOC);
	failed(h, 1, 1000000, RS_KIND_REALLOC, 0x1000);
	cr_assert_eq(heap_groups(h, &g, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(g[0].stack, 5);
	cr_assert_eq(g[0].bytes, 77);
	cr_assert_eq(g[0].min_size, 77);
	free(g);
	heap_free(h);
}

Test(replay, realloc_to_zero_frees_and_counts)
{
	struct heap *h = fresh();
	struct heap_totals t;

	alloc(h, 1, 0x1000, 10, 1, RS_KIND_MALLOC);
	alloc(h, 1, 0x2000, 20, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_REALLOC); /* realloc(p, 0), then an unrelated malloc */
	alloc(h, 1, 0x3000, 30, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x2000, RS_KIND_REALLOC); /* a moving realloc ... */
	alloc(h, 1, 0x4000, 40, 1, RS_KIND_REALLOC);
	alloc(h, 1, 0x5000, 50, 1, RS_KIND_REALLOC); /* realloc(NULL, n) */
	t = totals(h);
	cr_assert_eq(t.reallocs, 3, "reallocs %lu", (unsigned long)t.reallocs);
	cr_assert_eq(t.frees, 2);
	cr_assert_eq(t.allocations, 5);
	cr_assert_eq(t.live_blocks, 3);
	cr_assert_eq(t.live_bytes, 120);
	heap_free(h);

	h = fresh();
	alloc(h, 1, 0x1000, 10, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_REALLOC);
	t = totals(h); /* heap_finish settles the pending realloc(p, 0) */
	cr_assert_eq(t.reallocs, 1);
	cr_assert_eq(t.frees, 1);
	cr_assert_eq(t.live_blocks, 0);
	heap_free(h);
}

Test(replay, counts_free_null_and_unknown_frees)
{
	struct heap *h = fresh();
	struct heap_totals t;

	dealloc(h, 1, 0, RS_KIND_FREE);
	dealloc(h, 1, 0, RS_KIND_FREE);
	dealloc(h, 1, 0xdead0, RS_KIND_FREE); /* allocated before tracing */
	alloc(h, 1, 0x1000, 5, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1000, RS_KIND_FREE);
	dealloc(h, 1, 0x1000, RS_KIND_FREE); /* double free: unknown the second time */
	t = totals(h);
	cr_assert_eq(t.events, 6);
	cr_assert_eq(t.free_null, 2);
	cr_assert_eq(t.frees, 3);
	cr_assert_eq(t.unknown_frees, 2);
	cr_assert_eq(t.freed_bytes, 5);
	cr_assert_eq(t.live_blocks, 0);
	cr_assert_eq(t.threads, 1);
	heap_free(h);
}

Test(replay, zero_size_blocks_are_real)
{
	struct heap *h = fresh();
	struct heap_totals t;
	struct heap_group *g;
	size_t n;

	alloc(h, 1, 0x1000, 0, 1, RS_KIND_MALLOC);
	alloc(h, 1, 0x1010, 0, 1, RS_KIND_MALLOC);
	alloc(h, 1, 0x1020, 12, 1, RS_KIND_MALLOC);
	dealloc(h, 1, 0x1010, RS_KIND_FREE);
	t = totals(h);
	cr_assert_eq(t.live_blocks, 2);
	cr_assert_eq(t.live_bytes, 12);
	cr_assert_eq(t.unknown_frees, 0);
	cr_assert_eq(heap_groups(h, &g, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(g[0].blocks, 2);
	cr_assert_eq(g[0].min_size, 0);
	cr_assert_eq(g[0].max_size, 12);
	free(g);
	heap_free(h);
}

Test(replay, peak_records_bytes_blocks_and_seq)
{
	struct heap *h = fresh();
	struct heap_totals t;

	alloc(h, 1, 0x1000, 100, 1, RS_KIND_MALLOC);	/* seq 1: 100 */
	alloc(h, 2, 0x2000, 200, 1, RS_KIND_MALLOC);	/* seq 2: 300 */
	alloc(h, 1, 0x3000, 50, 1, RS_KIND_MALLOC);	/* seq 3: 350 peak */
	dealloc(h, 2, 0x2000, RS_KIND_FREE);		/* seq 4: 150 */
	alloc(h, 1, 0x4000, 199, 1, RS_KIND_MALLOC);	/* seq 5: 349 */
	alloc(h, 1, 0x5000, 1, 1, RS_KIND_MALLOC);	/* seq 6: 350, not above */
	t = totals(h);
	cr_assert_eq(t.peak_bytes, 350);
	cr_assert_eq(t.peak_blocks, 3);
	cr_assert_eq(t.peak_seq, 3);
	cr_assert_eq(t.peak_event, 3);
	cr_assert_eq(t.peak_time, 300);
	cr_assert_eq(t.threads, 2);
	cr_assert_eq(t.live_bytes, 350);
	cr_assert_eq(t.live_blocks, 4);
	heap_free(h);
}

/* Version 3 seqs are stamps near the time, with gaps: the peak's event
 * number counts the events before it, whatever their seqs. */
Test(replay, peak_event_counts_events_not_seqs)
{
	struct heap *h = fresh();
	struct heap_totals t;

	next_seq = 1000;
	alloc(h, 1, 0x1000, 100, 1, RS_KIND_MALLOC);	/* seq 1000 */
	next_seq = 5000;
	alloc(h, 2, 0x2000, 200, 1, RS_KIND_MALLOC);	/* seq 5000 */
	dealloc(h, 2, 0x2000, RS_KIND_FREE);		/* seq 5001 */
	next_seq = 9000;
	alloc(h, 1, 0x3000, 250, 1, RS_KIND_MALLOC);	/* seq 9000: 350, the peak */
	t = totals(h);
	cr_assert_eq(t.peak_bytes, 350);
	cr_assert_eq(t.peak_seq, 9000);
	cr_assert_eq(t.peak_event, 4);
	heap_free(h);
}

Test(replay, groups_sorted_by_bytes_then_blocks)
{
	struct heap *h = fresh();
	struct heap_group *g;
	size_t n;

	alloc(h, 1, 0x1000, 10, 7, RS_KIND_MALLOC); /* stack 7: 10 bytes, 1 block */
	alloc(h, 1, 0x2000, 5, 3, RS_KIND_MALLOC);  /* stack 3: 10 bytes, 2 blocks */
	alloc(h, 1, 0x3000, 5, 3, RS_KIND_MALLOC);
	alloc(h, 1, 0x4000, 300, 9, RS_KIND_MALLOC); /* stack 9: 300 bytes */
	alloc(h, 1, 0x5000, 10, 2, RS_KIND_MALLOC);  /* stack 2: ties with 7 */
	alloc(h, 1, 0x6000, 1, 0, RS_KIND_MALLOC);   /* no stack */
	alloc(h, 1, 0x7000, 1000, 4, RS_KIND_MALLOC);
	dealloc(h, 1, 0x7000, RS_KIND_FREE); /* freed: no group */
	cr_assert_eq(heap_groups(h, &g, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(g[0].stack, 9);
	cr_assert_eq(g[1].stack, 3);
	cr_assert_eq(g[1].blocks, 2);
	cr_assert_eq(g[2].stack, 2);
	cr_assert_eq(g[3].stack, 7);
	cr_assert_eq(g[4].stack, 0);
	cr_assert_eq(g[4].bytes, 1);
	free(g);
	heap_free(h);
}

Test(replay, alloc_at_live_address_replaces_block)
{
	struct heap *h = fresh();
	struct heap_totals t;

	alloc(h, 1, 0x1000, 10, 1, RS_KIND_MALLOC);
	alloc(h, 1, 0x1000, 30, 2, RS_KIND_MALLOC);
	t = totals(h);
	cr_assert_eq(t.alloc_over_live, 1);
	cr_assert_eq(t.live_blocks, 1);
	cr_assert_eq(t.live_bytes, 30);
	heap_free(h);
}

Test(replay, failed_realloc_without_its_free_is_counted)
{
	struct heap *h = fresh();
	struct heap_totals t;

	failed(h, 1, 10, RS_KIND_REALLOC, 0x1000);
	failed(h, 1, 10, RS_KIND_MALLOC, 0);
	t = totals(h);
	cr_assert_eq(t.restore_unmatched, 1);
	cr_assert_eq(t.failed_allocations, 2);
	cr_assert_eq(t.reallocs, 1);
	cr_assert_eq(t.live_blocks, 0);
	heap_free(h);
}

/* Many blocks in and out in a scrambled order: the table grows, and the
 * backward-shift deletion must keep every survivor findable. */
Test(replay, churn_keeps_every_block_findable)
{
	struct heap *h = fresh();
	struct heap_totals t;
	enum { N = 50000 };
	uint64_t *addrs = malloc(N * sizeof(*addrs));
	unsigned x = 1;

	for (uint64_t i = 0; i < N; i++) {
		addrs[i] = 0x10000000 + i * 48;
		alloc(h, 1, addrs[i], i % 100, 1 + i % 7, RS_KIND_MALLOC);
	}
	for (uint64_t i = N - 1; i > 0; i--) { /* shuffle */
		uint64_t j, tmp;

		x = x * 1103515245u + 12345u;
		j = (x >> 8) % (i + 1);
		tmp = addrs[i];
		addrs[i] = addrs[j];
		addrs[j] = tmp;
	}
	for (uint64_t i = 0; i < N / 2; i++)
		dealloc(h, 1, addrs[i], RS_KIND_FREE);
	heap_totals(h, &t);
	cr_assert_eq(t.live_blocks, N / 2);
	cr_assert_eq(t.unknown_frees, 0);
	for (uint64_t i = N / 2; i < N; i++)
		dealloc(h, 1, addrs[i], RS_KIND_FREE);
	t = totals(h);
	cr_assert_eq(t.unknown_frees, 0);
	cr_assert_eq(t.live_blocks, 0);
	cr_assert_eq(t.live_bytes, 0);
	cr_assert_eq(t.freed_bytes, t.allocated_bytes);
	free(addrs);
	heap_free(h);
}
