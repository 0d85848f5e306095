/*
 * test_cycles.c - the snapshot graph and leaked cycles, from heapfix
 * fixtures: a two-node cycle, cycles of 2, 3 and 5 with exact members,
 * bytes and closing edges, a reachable cycle (zero leaked), the three
 * classes of unreachable blocks, interior pointers, a chosen snapshot, and
 * rings and chains of a million blocks (iterative SCC).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cycles.h"
#include "heapfix.h"
#include "report.h"

#define A(i) (HF_HEAP + 0x100 * (uint64_t)(i))

static void build_report(const char *path, struct report *rep)
{
	struct report_options opt = { .top = 20, .symbolize = 0, .cycles = 1, .snapshot = -1 };

	cr_assert_eq(report_build(path, &opt, rep), 0);
	cr_assert_eq(rep->have_error, 0, "%s", rep->error.message);
	cr_assert_eq(rep->have_graph, 1);
}

static uint64_t block_addr(const struct report *rep, uint32_t b)
{
	return rep->graph.blocks[b].addr;
}

/* The cycle whose members include addr. */
static const struct graph_cycle *cycle_with(const struct report *rep, uint64_t addr)
{
	for (size_t k = 0; k < rep->graph.ncycles; k++) {
		const struct graph_cycle *cy = &rep->graph.cycles[k];

		for (size_t i = 0; i < cy->nmembers; i++)
			if (block_addr(rep, cy->members[i]) == addr)
				return cy;
	}
	return NULL;
}

static int cls_of(const struct report *rep, uint64_t addr)
{
	uint32_t b = graph_find(&rep->graph, addr);

	cr_assert_neq(b, UINT32_MAX);
	return rep->graph.cls[b];
}

Test(cycles, finds_two_node_cycle)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct graph_cycle *cy;
	const struct graph_edge *e0, *e1;

	hf_init(&f);
	hf_alloc(&f, A(0), 32, 1);
	hf_alloc(&f, A(1), 48, 2);
	hf_ptr(&f, A(0) + 8, A(1));
	hf_ptr(&f, A(1) + 16, A(0));
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.nblocks, 2);
	cr_assert_eq(rep.graph.nedges, 2);
	cr_assert_eq(rep.graph.ncycles, 1);
	cy = &rep.graph.cycles[0];
	cr_assert_eq(cy->nmembers, 2);
	cr_assert_eq(block_addr(&rep, cy->members[0]), A(0));
	cr_assert_eq(block_addr(&rep, cy->members[1]), A(1));
	cr_assert_eq(cy->bytes, 80);
	cr_assert_eq(cy->methods, GRAPH_BY_REACHABILITY);
	cr_assert_eq(cy->nclosing, 2);
	e0 = &rep.graph.edges[cy->closing[0]];
	e1 = &rep.graph.edges[cy->closing[1]];
	cr_assert_eq(block_addr(&rep, e0->src), A(0));
	cr_assert_eq(e0->offset, 8);
	cr_assert_eq(block_addr(&rep, e0->dst), A(1));
	cr_assert_eq(block_addr(&rep, e1->src), A(1));
	cr_assert_eq(e1->offset, 16);
	cr_assert_eq(block_addr(&rep, e1->dst), A(0));
	cr_assert_eq(e0->interior, 0);
	cr_assert_eq(cy->nhanging, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, 2);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].bytes, 80);
	cr_assert_eq(rep.graph.totals[GRAPH_REACHABLE].blocks, 0);
	report_release(&rep);
	hf_release(&f);
}

/* Rings of n blocks starting at block first, each pointing at +8 to the next. */
static void ring(struct hf *f, int first, int n, uint64_t size)
{
	for (int i = 0; i < n; i++)
		hf_alloc(f, A(first + i), size, (uint64_t)first);
	for (int i = 0; i < n; i++)
		hf_ptr(f, A(first + i) + 8, A(first + (i + 1) % n));
}

Test(cycles, finds_cycles_of_2_3_and_5_exactly)
{
	struct hf f;
	struct report rep;
	char path[128];
	static const int first[3] = { 0, 10, 20 }, len[3] = { 2, 3, 5 };

	hf_init(&f);
	ring(&f, 0, 2, 16);
	ring(&f, 10, 3, 24);
	ring(&f, 20, 5, 40);
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.ncycles, 3);
	/* largest first: 5 x 40, 3 x 24, 2 x 16 */
	for (int k = 0; k < 3; k++) {
		const struct graph_cycle *cy = &rep.graph.cycles[2 - k];

		cr_assert_eq(cy->nmembers, (size_t)len[k], "cycle %d has %zu", k, cy->nmembers);
		for (int i = 0; i < len[k]; i++)
			cr_assert_eq(block_addr(&rep, cy->members[i]), A(first[k] + i));
		cr_assert_eq(cy->nclosing, (size_t)len[k]);
		cr_assert_eq(cy->nhanging, 0);
	}
	cr_assert_eq(rep.graph.cycles[0].bytes, 200);
	cr_assert_eq(rep.graph.cycles[1].bytes, 72);
	cr_assert_eq(rep.graph.cycles[2].bytes, 32);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, 10);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].bytes, 304);
	report_release(&rep);
	hf_release(&f);
}

Test(cycles, reachable_cycle_is_not_leaked)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	ring(&f, 0, 3, 32);
	hf_root(&f, 5, A(1));
	hf_write(&f, path);
	build_report(path, &rep);
	cr_assert_eq(rep.graph.nroots, 1);
	cr_assert_eq(rep.graph.ncycles, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_REACHABLE].blocks, 3);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, 0);
	report_release(&rep);
	hf_release(&f);
}

Test(cycles, classifies_held_by_cycle_and_plain_leaks)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct graph_cycle *cy;

	hf_init(&f);
	ring(&f, 0, 2, 32);		/* A0 <-> A1 */
	hf_alloc(&f, A(2), 64, 9);	/* held by the cycle */
	hf_alloc(&f, A(3), 8, 9);	/* held through A2 */
	hf_ptr(&f, A(1) + 16, A(2));
	hf_ptr(&f, A(2), A(3));
	hf_alloc(&f, A(4), 100, 9);	/* plain: nothing points to it */
	hf_alloc(&f, A(5), 10, 9);	/* plain: held by a plain leak */
	hf_ptr(&f, A(4) + 8, A(5));
	hf_alloc(&f, A(6), 24, 9);	/* a self-loop: a cycle of one */
	hf_ptr(&f, A(6) + 16, A(6));
	hf_alloc(&f, A(7), 12, 9);	/* reachable from a root */
	hf_root(&f, 0, A(7));
	hf_ptr(&f, A(7), A(4) + 8 - 8); /* A7 -> A4 makes A4 and A5 reachable */
	hf_alloc(&f, A(8), 50, 9);	/* plain leak pointing into the cycle */
	hf_ptr(&f, A(8), A(0));
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(cls_of(&rep, A(0)), GRAPH_CYCLE);
	cr_assert_eq(cls_of(&rep, A(1)), GRAPH_CYCLE);
	cr_assert_eq(cls_of(&rep, A(2)), GRAPH_HELD_BY_CYCLE);
	cr_assert_eq(cls_of(&rep, A(3)), GRAPH_HELD_BY_CYCLE);
	cr_assert_eq(cls_of(&rep, A(4)), GRAPH_REACHABLE);
	cr_assert_eq(cls_of(&rep, A(5)), GRAPH_REACHABLE);
	cr_assert_eq(cls_of(&rep, A(6)), GRAPH_CYCLE);
	cr_assert_eq(cls_of(&rep, A(7)), GRAPH_REACHABLE);
	cr_assert_eq(cls_of(&rep, A(8)), GRAPH_PLAIN_LEAK);
	cr_assert_eq(rep.graph.ncycles, 2);
	cy = cycle_with(&rep, A(0));
	cr_assert_not_null(cy);
	cr_assert_eq(cy->nmembers, 2);
	cr_assert_eq(cy->nhanging, 2);
	cr_assert_eq(block_addr(&rep, cy->hanging[0]), A(2));
	cr_assert_eq(block_addr(&rep, cy->hanging[1]), A(3));
	cr_assert_eq(cy->hanging_bytes, 72);
	cy = cycle_with(&rep, A(6));
	cr_assert_not_null(cy);
	cr_assert_eq(cy->nmembers, 1);
	cr_assert_eq(cy->nclosing, 1);
	cr_assert_eq(cy->bytes, 24);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, 1);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].bytes, 50);
	cr_assert_eq(rep.graph.totals[GRAPH_HELD_BY_CYCLE].bytes, 72);
	report_release(&rep);
	hf_release(&f);
}

Test(cycles, follows_interior_pointers)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct graph_cycle *cy;
	const struct graph_edge *e;

	hf_init(&f);
	hf_alloc(&f, A(0), 64, 1);
	hf_alloc(&f, A(1), 64, 1);
	hf_ptr(&f, A(0) + 0, A(1) + 24); /* interior */
	hf_ptr(&f, A(1) + 8, A(0));
	hf_ptr(&f, A(1) + 16, A(1) + 64); /* one past the end: no edge */
	hf_alloc(&f, A(2), 32, 1);
	hf_root(&f, 3, A(2) + 31); /* interior root keeps it */
	hf_alloc(&f, A(3), 32, 1);
	hf_ptr(&f, A(2) + 8, A(3) + 4);
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.nedges, 3);
	cr_assert_eq(rep.graph.ncycles, 1);
	cy = &rep.graph.cycles[0];
	cr_assert_eq(cy->nmembers, 2);
	cr_assert_eq(cy->nclosing, 2);
	e = &rep.graph.edges[cy->closing[0]];
	cr_assert_eq(block_addr(&rep, e->src), A(0));
	cr_assert_eq(e->interior, 1);
	cr_assert_eq(e->target, A(1) + 24);
	cr_assert_eq(rep.graph.edges[cy->closing[1]].interior, 0);
	cr_assert_eq(cls_of(&rep, A(2)), GRAPH_REACHABLE);
	cr_assert_eq(cls_of(&rep, A(3)), GRAPH_REACHABLE);
	cr_assert_eq(rep.graph.roots[0].interior, 1);
	report_release(&rep);
	hf_release(&f);
}

/* A block freed before the snapshot is not a node; a word pointing at its
 * old address is ignored. */
Test(cycles, freed_blocks_are_not_in_the_graph)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	ring(&f, 0, 2, 16);
	hf_alloc(&f, A(2), 16, 1);
	hf_ptr(&f, A(1) + 0, A(2));
	hf_free(&f, A(2));
	hf_write(&f, path);
	build_report(path, &rep);
	cr_assert_eq(rep.graph.nblocks, 2);
	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nhanging, 0);
	report_release(&rep);
	hf_release(&f);
}

/* A stale local of main, left on the stack of the thread taking the exit
 * snapshot, does not keep a cycle; the same word in a snapshot requested
 * while the program runs does. */
static void stack_root(uint64_t trigger, size_t want_cycles)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	f.trigger = trigger;
	ring(&f, 0, 2, 16);
	hf_stack_root(&f, 4, A(0));
	hf_write(&f, path);
	build_report(path, &rep);
	cr_assert_eq(rep.graph.ncycles, want_cycles);
	cr_assert_eq(rep.graph.nroots, want_cycles ? 0 : 1);
	report_release(&rep);
	hf_release(&f);
}

Test(cycles, exit_snapshot_ignores_the_exiting_threads_stack)
{
	stack_root(RS_SNAP_EXIT, 1);
	stack_root(RS_SNAP_REQUEST, 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MILLION 1000000

static void big(int ring_closed, struct report *rep, double *secs)
{
	struct hf f;
	char path[128];
	struct report_options opt = { .top = 5, .symbolize = 0, .cycles = 1, .snapshot = -1 };
	double t0;

	hf_init(&f);
	for (uint64_t i = 0; i < MILLION; i++)
		hf_alloc(&f, HF_HEAP + 32 * i, 16, 1);
	for (uint64_t i = 0; i < MILLION; i++) {
		if (i + 1 < MILLION || ring_closed)
			hf_ptr(&f, HF_HEAP + 32 * i + 8, HF_HEAP + 32 * ((i + 1) % MILLION));
	}
	hf_write(&f, path);
	hf_release(&f);
	t0 = now();
	cr_assert_eq(report_build(path, &opt, rep), 0);
	*secs = now() - t0;
	cr_assert_eq(rep->have_error, 0, "%s", rep->error.message);
	unlink(path);
}

Test(cycles, ring_of_a_million_blocks, .timeout = 120)
{
	struct report rep;
	double secs;

	big(1, &rep, &secs);
	fprintf(stderr, "cycles: ring of %d blocks analyzed in %.2f s\n", MILLION, secs);
	cr_assert_eq(rep.graph.nblocks, MILLION);
	cr_assert_eq(rep.graph.nedges, MILLION);
	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nmembers, MILLION);
	cr_assert_eq(rep.graph.cycles[0].nclosing, MILLION);
	cr_assert_eq(rep.graph.cycles[0].bytes, 16ull * MILLION);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, MILLION);
	report_release(&rep);
}

Test(cycles, chain_of_a_million_blocks_is_no_cycle, .timeout = 120)
{
	struct report rep;
	double secs;

	big(0, &rep, &secs);
	fprintf(stderr, "cycles: chain of %d blocks analyzed in %.2f s\n", MILLION, secs);
	cr_assert_eq(rep.graph.ncycles, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, MILLION);
	report_release(&rep);
}

/* The SCC routine alone: two components joined by a one-way edge, and a
 * node left out by the member mask. */
Test(cycles, scc_splits_components_and_honours_the_mask)
{
	/* 0 <-> 1 -> 2 <-> 3, 4 -> 4, 5 (masked out) <-> 0 */
	static const size_t off[] = { 0, 2, 4, 5, 6, 7, 8 };
	static const uint32_t adj[] = { 1, 5, 0, 2, 3, 2, 4, 0 };
	static const uint8_t member[] = { 1, 1, 1, 1, 1, 0 };
	uint32_t comp[6], ncomp;

	cr_assert_eq(cycles_scc(6, off, adj, member, comp, &ncomp), 0);
	cr_assert_eq(ncomp, 3);
	cr_assert_eq(comp[0], comp[1]);
	cr_assert_eq(comp[2], comp[3]);
	cr_assert_neq(comp[0], comp[2]);
	cr_assert_neq(comp[4], comp[0]);
	cr_assert_neq(comp[4], comp[2]);
	cr_assert_eq(comp[5], CYCLES_NONE);
	/* a component is numbered before the components that reach it */
	cr_assert_lt(comp[2], comp[0]);
}

/* Two snapshots: in the first a root still holds A (A <-> B), in the
 * second it no longer does and C exists. The last is analyzed by default,
 * --snapshot 0 picks the first, an unknown id is refused. */
Test(cycles, analyzes_the_snapshot_asked_for)
{
	struct tb t;
	char dir[64], path[128];
	struct report rep;
	struct report_options opt = { .top = 20, .symbolize = 0, .cycles = 1, .snapshot = -1 };
	uint64_t locs[2] = { A(0) + 8, A(1) + 8 }, vals[2] = { A(1), A(0) };
	uint64_t rloc = HF_DATA, rval = A(0);

	tb_init(&t, 5, 1);
	tb_chunk_begin(&t, 5, 1, 1);
	tb_alloc(&t, 1, 1, A(0), 32, 0, RS_KIND_MALLOC);
	tb_alloc(&t, 2, 2, A(1), 32, 0, RS_KIND_MALLOC);
	tb_alloc(&t, 3, 3, A(2), 32, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 0);
	tb_snapshot(&t, 0, 3, 3, RS_SNAP_REQUEST, 5);
	tb_snap_region(&t, 0, 1, HF_DATA, HF_DATA + 4096, RS_REGION_DATA, 0, "");
	tb_snap_region(&t, 0, 2, HF_HEAP, HF_HEAP + 0x10000, RS_REGION_ANON, 0, "[heap]");
	tb_snap_words(&t, 0, 1, HF_DATA, 0, 1, &rloc, &rval, 0);
	tb_snap_words(&t, 0, 2, HF_HEAP, 0, 2, locs, vals, 0);
	tb_snapshot_end(&t, 0, 2, 3, 0, 0);
	tb_snapshot(&t, 1, 4, 4, RS_SNAP_EXIT, 5);
	tb_snap_region(&t, 1, 2, HF_HEAP, HF_HEAP + 0x10000, RS_REGION_ANON, 0, "[heap]");
	tb_snap_words(&t, 1, 2, HF_HEAP, 1, 2, locs, vals, 0);
	tb_snapshot_end(&t, 1, 1, 2, 0, 0);
	tb_end(&t, 4, RS_END_EXIT, 0, 5, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "two.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);

	build_report(path, &rep);
	cr_assert_eq(rep.snapshot->id, 1);
	cr_assert_eq(rep.graph.nblocks, 3);
	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, 1);
	report_release(&rep);

	opt.snapshot = 0;
	cr_assert_eq(report_build(path, &opt, &rep), 0);
	cr_assert_eq(rep.snapshot->id, 0);
	cr_assert_eq(rep.graph.nblocks, 2, "C is allocated at seq 3, not below the snapshot's seq");
	cr_assert_eq(rep.graph.ncycles, 0);
	cr_assert_eq(rep.graph.nroots, 1);
	report_release(&rep);

	opt.snapshot = 7;
	cr_assert_eq(report_build(path, &opt, &rep), REPORT_NO_SNAPSHOT);
	report_release(&rep);
}
