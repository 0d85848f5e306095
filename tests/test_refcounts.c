/*
 * test_refcounts.c - reference counts from RETAIN/RELEASE events: balances
 * and per-API coverage, the blame of an over-retain (which retain lacks its
 * release), and the count method (CPython's cycle collector) finding a
 * leaked cycle that an uncounted global list still reaches.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapfix.h"
#include "report.h"

#define A(i) (HF_HEAP + 0x100 * (uint64_t)(i))

/* Fake code addresses: function f, call site k. */
#define LIBC 0x7f0000001000ull
#define MAIN(k) (0x401000ull + (k))
#define OBJ_NEW 0x402000ull
#define CACHE_LOOKUP 0x403000ull
#define USE(k) (0x404000ull + (k))
#define LINK 0x405000ull

enum { S_ALLOC = 1, S_CACHE, S_USE_RETAIN, S_USE_RELEASE, S_MAIN_RELEASE, S_LINK, S_OTHER };

static void stacks(struct hf *f)
{
	const uint64_t alloc[] = { OBJ_NEW, MAIN(0x10), LIBC };
	const uint64_t cache[] = { CACHE_LOOKUP, MAIN(0x20), LIBC };
	const uint64_t use_r[] = { USE(1), MAIN(0x30), LIBC };
	const uint64_t use_l[] = { USE(2), MAIN(0x30), LIBC };
	const uint64_t main_l[] = { MAIN(0x40), LIBC };
	const uint64_t link[] = { LINK, MAIN(0x50), LIBC };
	const uint64_t other[] = { MAIN(0x60), LIBC };

	hf_stack(f, S_ALLOC, 3, alloc);
	hf_stack(f, S_CACHE, 3, cache);
	hf_stack(f, S_USE_RETAIN, 3, use_r);
	hf_stack(f, S_USE_RELEASE, 3, use_l);
	hf_stack(f, S_MAIN_RELEASE, 2, main_l);
	hf_stack(f, S_LINK, 3, link);
	hf_stack(f, S_OTHER, 2, other);
}

static void build_report(const char *path, struct report *rep)
{
	struct report_options opt = { .top = 20, .symbolize = 0, .cycles = 1, .snapshot = -1 };

	cr_assert_eq(report_build(path, &opt, rep), 0);
	cr_assert_eq(rep->have_error, 0, "%s", rep->error.message);
}

static const struct report_refobj *leaked(const struct report *rep, uint64_t addr)
{
	for (size_t i = 0; i < rep->nrefobjs; i++)
		if (rep->refobjs[i].o.addr == addr)
			return &rep->refobjs[i];
	return NULL;
}

/* The text report of rep (free() it). */
static char *text_of(const struct report *rep)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_assert_not_null(out);
	cr_assert_eq(report_write_text(rep, out), 0);
	fclose(out);
	return text;
}

/*
 * The object is made in main (S_ALLOC), used by use() which retains and
 * releases it, looked up through cache_lookup() which retains it and never
 * releases, then main drops its reference. LIFO matching would let use()'s
 * release balance cache_lookup's retain; the stack rule does not.
 */
Test(refcounts, blames_the_over_retain_on_cache_lookup)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct report_refobj *ro;

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 48, S_ALLOC);
	hf_retain(&f, A(0), S_USE_RETAIN);
	hf_retain(&f, A(0), S_CACHE);
	hf_unref(&f, A(0), S_USE_RELEASE);
	hf_unref(&f, A(0), S_MAIN_RELEASE);
	/* a balanced object, freed: not leaked */
	hf_alloc(&f, A(1), 48, S_ALLOC);
	hf_retain(&f, A(1), S_USE_RETAIN);
	hf_unref(&f, A(1), S_USE_RELEASE);
	hf_unref(&f, A(1), S_MAIN_RELEASE);
	hf_free(&f, A(1));
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.rc_totals.objects, 2);
	cr_assert_eq(rep.rc_totals.freed, 1);
	cr_assert_eq(rep.rc_totals.retains, 3);
	cr_assert_eq(rep.rc_totals.releases, 4);
	cr_assert_eq(rep.nrefobjs, 1);
	ro = leaked(&rep, A(0));
	cr_assert_not_null(ro);
	cr_assert_eq(ro->o.retains, 2);
	cr_assert_eq(ro->o.releases, 2);
	cr_assert_eq(ro->o.balance, 1);
	cr_assert_eq(ro->o.size, 48);
	cr_assert_eq(ro->o.alloc_stack, S_ALLOC);
	cr_assert_eq(ro->cls, GRAPH_PLAIN_LEAK);
	cr_assert_eq(ro->nblame, 1);
	cr_assert_eq(ro->blame[0].stack, S_CACHE);
	cr_assert_eq(ro->blame[0].is_alloc, 0);
	cr_assert_eq(ro->blame[0].count, 1);
	cr_assert_eq(rep.nblame, 1);
	cr_assert_eq(rep.blame[0].stack, S_CACHE);
	cr_assert_eq(rep.blame[0].objects, 1);
	cr_assert_eq(rep.blame[0].references, 1);
	report_release(&rep);
	hf_release(&f);
}

/* The same over-retain repeated on 3 objects, and an object whose own
 * allocation reference was never dropped: blame aggregates by stack. */
Test(refcounts, aggregates_unbalanced_references_by_stack)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct report_refobj *ro;

	hf_init(&f);
	stacks(&f);
	for (int i = 0; i < 3; i++) {
		hf_alloc(&f, A(i), 32, S_ALLOC);
		hf_retain(&f, A(i), S_CACHE);
		hf_retain(&f, A(i), S_CACHE);
		hf_unref(&f, A(i), S_MAIN_RELEASE);
		hf_unref(&f, A(i), S_OTHER);
	}
	hf_alloc(&f, A(5), 32, S_ALLOC);
	hf_retain(&f, A(5), S_USE_RETAIN);
	hf_unref(&f, A(5), S_USE_RELEASE);
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.nrefobjs, 4);
	cr_assert_eq(rep.nblame, 2);
	cr_assert_eq(rep.blame[0].stack, S_CACHE);
	cr_assert_eq(rep.blame[0].references, 3);
	cr_assert_eq(rep.blame[0].objects, 3);
	cr_assert_eq(rep.blame[1].stack, S_ALLOC);
	cr_assert_eq(rep.blame[1].is_alloc, 1);
	cr_assert_eq(rep.blame[1].objects, 1);
	ro = leaked(&rep, A(5));
	cr_assert_not_null(ro);
	cr_assert_eq(ro->o.balance, 1);
	report_release(&rep);
	hf_release(&f);
}

Test(refcounts, counts_events_per_api)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 16, S_ALLOC);
	for (int i = 0; i < 5; i++)
		hf_retain(&f, A(0), S_USE_RETAIN);
	for (int i = 0; i < 6; i++)
		hf_unref(&f, A(0), S_USE_RELEASE);
	hf_free(&f, A(0));
	/* an object the trace never allocated (a static one) */
	hf_retain(&f, 0x600100, S_OTHER);
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.napis, 1);
	cr_assert_eq(rep.apis[0].api, HF_API);
	cr_assert_eq(rep.apis[0].retains, 6);
	cr_assert_eq(rep.apis[0].releases, 6);
	cr_assert_eq(rep.apis[0].retain_fn[0], 6);
	cr_assert_eq(rep.apis[0].release_fn[0], 6);
	cr_assert_eq(rep.rc_totals.objects, 2);
	cr_assert_eq(rep.rc_totals.unallocated, 1);
	cr_assert_eq(rep.rc_totals.freed, 1);
	cr_assert_eq(rep.nrefobjs, 0);
	report_release(&rep);
	hf_release(&f);
}

/* P <-> Q, each holding a counted reference to the other, dropped by their
 * creator: cyclic garbage. An uncounted global list of all objects (nodes
 * N0 -> N1, not refcounted, from a root) still points at both, so
 * reachability calls them alive; the count method finds the cycle. R is
 * held by a counted root pointer and holds S: both alive. */
Test(refcounts, count_method_finds_cycle_in_uncounted_global_list)
{
	struct hf f;
	struct report rep;
	char path[128];
	const struct graph_cycle *cy;

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 40, S_ALLOC); /* P */
	hf_alloc(&f, A(1), 40, S_ALLOC); /* Q */
	hf_retain(&f, A(1), S_LINK);	 /* P.peer = Q */
	hf_retain(&f, A(0), S_LINK);	 /* Q.peer = P */
	hf_unref(&f, A(0), S_MAIN_RELEASE);
	hf_unref(&f, A(1), S_MAIN_RELEASE);
	hf_ptr(&f, A(0) + 8, A(1));
	hf_ptr(&f, A(1) + 8, A(0));
	hf_alloc(&f, A(10), 16, S_OTHER); /* list nodes */
	hf_alloc(&f, A(11), 16, S_OTHER);
	hf_root(&f, 0, A(10));
	hf_ptr(&f, A(10), A(0));
	hf_ptr(&f, A(10) + 8, A(11));
	hf_ptr(&f, A(11), A(1));
	hf_alloc(&f, A(20), 40, S_ALLOC); /* R, held by a counted root */
	hf_alloc(&f, A(21), 40, S_ALLOC); /* S, held by R */
	hf_retain(&f, A(21), S_LINK);
	hf_unref(&f, A(21), S_MAIN_RELEASE);
	hf_root(&f, 1, A(20));
	hf_ptr(&f, A(20) + 8, A(21));
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.totals[GRAPH_REACHABLE].blocks, 6);
	cr_assert_eq(rep.graph.ncycles, 1);
	cy = &rep.graph.cycles[0];
	cr_assert_eq(cy->methods, GRAPH_BY_REFCOUNT);
	cr_assert_eq(cy->nmembers, 2);
	cr_assert_eq(rep.graph.blocks[cy->members[0]].addr, A(0));
	cr_assert_eq(rep.graph.blocks[cy->members[1]].addr, A(1));
	cr_assert_eq(cy->bytes, 80);
	cr_assert_eq(cy->nclosing, 2);
	cr_assert_eq(rep.graph.count_garbage, 2);
	cr_assert_eq(rep.nrefobjs, 2);
	cr_assert_not_null(leaked(&rep, A(0)));
	cr_assert_not_null(leaked(&rep, A(1)));
	cr_assert_eq(leaked(&rep, A(0))->gc_refs, 0);
	cr_assert_eq(leaked(&rep, A(0))->count_garbage, 1);
	cr_assert_eq(leaked(&rep, A(0))->cls, GRAPH_REACHABLE);
	cr_assert_null(leaked(&rep, A(20)));
	cr_assert_null(leaked(&rep, A(21)));
	/* the retains that made the cycle are what no release balances */
	cr_assert_eq(leaked(&rep, A(0))->nblame, 1);
	cr_assert_eq(leaked(&rep, A(0))->blame[0].stack, S_LINK);
	report_release(&rep);
	hf_release(&f);
}

/* Without the list, both methods find the same cycle: reported once. */
Test(refcounts, unreachable_refcounted_cycle_found_by_both_methods)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	stacks(&f);
	for (int i = 0; i < 3; i++)
		hf_alloc(&f, A(i), 24, S_ALLOC);
	for (int i = 0; i < 3; i++) {
		hf_retain(&f, A((i + 1) % 3), S_LINK);
		hf_ptr(&f, A(i) + 8, A((i + 1) % 3));
	}
	for (int i = 0; i < 3; i++)
		hf_unref(&f, A(i), S_MAIN_RELEASE);
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nmembers, 3);
	cr_assert_eq(rep.graph.cycles[0].methods, GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT);
	cr_assert_str_eq(graph_methods_name(rep.graph.cycles[0].methods), "reachability+refcount");
	cr_assert_eq(rep.nrefobjs, 3);
	report_release(&rep);
	hf_release(&f);
}

/* An over-retained object still reachable is not leaked; without a
 * snapshot, every live refcounted block counts, with a warning. */
Test(refcounts, without_snapshot_every_live_object_counts)
{
	struct hf f;
	struct report rep;
	char path[128];
	int warned = 0;

	hf_init(&f);
	stacks(&f);
	f.snapshots = 0;
	hf_alloc(&f, A(0), 24, S_ALLOC);
	hf_retain(&f, A(0), S_CACHE);
	hf_write(&f, path);
	build_report(path, &rep);
	cr_assert_eq(rep.have_graph, 0);
	cr_assert_eq(rep.nrefobjs, 1);
	cr_assert_eq(rep.refobjs[0].cls, -1);
	cr_assert_eq(rep.refobjs[0].o.balance, 2);
	for (size_t i = 0; i < rep.nwarnings; i++)
		warned |= strstr(rep.warnings[i], "no heap snapshot") != NULL;
	cr_assert(warned);
	report_release(&rep);
	hf_release(&f);
}

Test(refcounts, text_report_shows_cycles_and_blame)
{
	struct hf f;
	struct report rep;
	char path[128], *text;

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 32, S_ALLOC);
	hf_alloc(&f, A(1), 48, S_ALLOC);
	hf_ptr(&f, A(0) + 8, A(1));
	hf_ptr(&f, A(1) + 16, A(0) + 4);
	hf_retain(&f, A(1), S_CACHE);
	hf_write(&f, path);
	build_report(path, &rep);
	text = text_of(&rep);
	cr_assert_not_null(strstr(text, "leaked cycles: 1\n"), "%s", text);
	cr_assert_not_null(strstr(text, "cycle #1: 80 bytes in 2 blocks, found by reachability\n"), "%s", text);
	cr_assert_not_null(strstr(text, "    block 0x10000000 +8 -> block 0x10000100\n"), "%s", text);
	cr_assert_not_null(strstr(text, "    block 0x10000100 +16 -> block 0x10000000 (interior: 0x10000004 = +4)\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "    unbalanced: 1 x retain at stack 2\n"), "%s", text);
	cr_assert_not_null(strstr(text, "api 1 (user): 1 retain, 0 releases: obj_retain 1; obj_release 0;"),
			   "%s", text);
	free(text);
	report_release(&rep);
	hf_release(&f);
}

/* Rings of 2 and 3 linked (+8, counted) and also on an intrusive doubly
 * linked list of all instances (+16 next, +24 prev, uncounted) whose head
 * is a global: the count method keeps the rings apart. */
Test(refcounts, count_method_ignores_intrusive_doubly_linked_list)
{
	struct hf f;
	struct report rep;
	char path[128];
	static const int first[2] = { 0, 10 }, len[2] = { 2, 3 };
	uint64_t all[5];
	int na = 0;

	hf_init(&f);
	stacks(&f);
	for (int r = 0; r < 2; r++) {
		for (int i = 0; i < len[r]; i++) {
			hf_alloc(&f, A(first[r] + i), 40, S_ALLOC);
			all[na++] = A(first[r] + i);
		}
		for (int i = 0; i < len[r]; i++) {
			hf_retain(&f, A(first[r] + (i + 1) % len[r]), S_LINK);
			hf_ptr(&f, A(first[r] + i) + 8, A(first[r] + (i + 1) % len[r]));
		}
		for (int i = 0; i < len[r]; i++)
			hf_unref(&f, A(first[r] + i), S_MAIN_RELEASE);
	}
	hf_root(&f, 0, all[0]);
	for (int i = 0; i < na; i++) {
		if (i + 1 < na)
			hf_ptr(&f, all[i] + 16, all[i + 1]);
		if (i > 0)
			hf_ptr(&f, all[i] + 24, all[i - 1]);
	}
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.totals[GRAPH_REACHABLE].blocks, 5);
	cr_assert_eq(rep.graph.ncycles, 2);
	cr_assert_eq(rep.graph.cycles[0].nmembers, 3);
	cr_assert_eq(rep.graph.cycles[0].nclosing, 3);
	cr_assert_eq(rep.graph.cycles[0].methods, GRAPH_BY_REFCOUNT);
	cr_assert_eq(rep.graph.cycles[1].nmembers, 2);
	cr_assert_eq(rep.graph.cycles[1].nclosing, 2);
	for (size_t e = 0; e < rep.graph.nedges; e++)
		cr_assert_eq(rep.graph.edge_counted[e], rep.graph.edges[e].offset == 8, "edge %zu at +%lu", e,
			     (unsigned long)rep.graph.edges[e].offset);
	report_release(&rep);
	hf_release(&f);
}

/* P and Q hold each other through buffers they own (plain blocks, like
 * GObject's qdata arrays): the count method follows the references through
 * the buffers. */
Test(refcounts, count_method_follows_owned_buffers)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 24, S_ALLOC);  /* P */
	hf_alloc(&f, A(1), 24, S_ALLOC);  /* Q */
	hf_alloc(&f, A(2), 16, S_OTHER);  /* P's buffer */
	hf_alloc(&f, A(3), 16, S_OTHER);  /* Q's buffer */
	hf_retain(&f, A(1), S_LINK);
	hf_retain(&f, A(0), S_LINK);
	hf_unref(&f, A(0), S_MAIN_RELEASE);
	hf_unref(&f, A(1), S_MAIN_RELEASE);
	hf_ptr(&f, A(0) + 16, A(2) + 3); /* a tagged pointer: interior */
	hf_ptr(&f, A(2) + 8, A(1));
	hf_ptr(&f, A(1) + 16, A(3) + 3);
	hf_ptr(&f, A(3) + 8, A(0));
	hf_write(&f, path);
	build_report(path, &rep);

	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nmembers, 4);
	cr_assert_eq(rep.graph.cycles[0].methods, GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT);
	cr_assert_eq(rep.graph.count_garbage, 2);
	report_release(&rep);
	hf_release(&f);
}

/* An object released more often than retained (the trace missed a retain):
 * its negative balance says nothing about which fields count, and must not
 * derail the inference. */
Test(refcounts, negative_balance_does_not_derail_the_count_method)
{
	struct hf f;
	struct report rep;
	char path[128];

	hf_init(&f);
	stacks(&f);
	hf_alloc(&f, A(0), 40, S_ALLOC);
	hf_alloc(&f, A(1), 40, S_ALLOC);
	hf_alloc(&f, A(2), 40, S_ALLOC); /* Z */
	hf_retain(&f, A(1), S_LINK);
	hf_retain(&f, A(0), S_LINK);
	hf_unref(&f, A(0), S_MAIN_RELEASE);
	hf_unref(&f, A(1), S_MAIN_RELEASE);
	hf_unref(&f, A(2), S_OTHER);
	hf_unref(&f, A(2), S_OTHER);
	hf_ptr(&f, A(0) + 8, A(1));
	hf_ptr(&f, A(1) + 8, A(0));
	hf_ptr(&f, A(0) + 16, A(2));
	hf_write(&f, path);
	build_report(path, &rep);
	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nmembers, 2);
	cr_assert_eq(rep.graph.cycles[0].methods, GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT);
	cr_assert_eq(rep.graph.balance[graph_find(&rep.graph, A(2))], -1);
	report_release(&rep);
	hf_release(&f);
}

/* A GObject whose class has private data sits 48 bytes into its block:
 * its calls name the instance, the FREE names the block. One such object
 * leaks (joined to its block: size, allocation stack, blame), one is freed
 * (its lifetime ends with the block's FREE), and an address 48 bytes past
 * the end of a block is no object of it. No snapshot: every live one counts. */
Test(refcounts, object_inside_its_block)
{
	struct hf f;
	struct report rep;
	struct refcount_totals t;
	char path[128], *text;

	hf_init(&f);
	stacks(&f);
	f.snapshots = 0;
	hf_alloc(&f, A(0), 80, S_ALLOC);
	hf_retain(&f, A(0) + 48, S_CACHE);
	hf_retain(&f, A(0) + 48, S_USE_RETAIN);
	hf_unref(&f, A(0) + 48, S_USE_RELEASE);
	hf_alloc(&f, A(1), 80, S_ALLOC);
	hf_retain(&f, A(1) + 48, S_USE_RETAIN);
	hf_unref(&f, A(1) + 48, S_USE_RELEASE);
	hf_unref(&f, A(1) + 48, S_MAIN_RELEASE);
	hf_free(&f, A(1));
	hf_alloc(&f, A(2), 16, S_ALLOC);
	hf_retain(&f, A(2) + 64, S_OTHER);
	hf_write(&f, path);
	build_report(path, &rep);
	t = rep.rc_totals;
	cr_assert_eq(t.objects, 3);
	cr_assert_eq(t.freed, 1, "A(1)'s object ended with its block");
	cr_assert_eq(t.unallocated, 1, "A(2) + 64 is past A(2)'s 16 bytes");
	cr_assert_eq(rep.nrefobjs, 1);
	cr_assert_eq(rep.refobjs[0].o.addr, A(0) + 48);
	cr_assert_eq(rep.refobjs[0].o.block, A(0));
	cr_assert_eq(rep.refobjs[0].o.size, 80);
	cr_assert_eq(rep.refobjs[0].o.alloc_stack, S_ALLOC);
	cr_assert_eq(rep.refobjs[0].o.balance, 2);
	/* the allocation's reference and the cache's retain wait; the use's
	 * retain went with the use's release (same caller) */
	cr_assert_eq(rep.refobjs[0].nblame, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct refcount_blame *b = &rep.refobjs[0].blame[i];

		cr_assert_eq(b->count, 1);
		cr_assert_eq(b->stack, b->is_alloc ? S_ALLOC : S_CACHE);
	}
	cr_assert_neq(rep.refobjs[0].blame[0].is_alloc, rep.refobjs[0].blame[1].is_alloc);
	text = text_of(&rep);
	cr_assert_not_null(strstr(text, "  0x10000030 (80 bytes): 2 retains, 1 release, balance 2, 48 bytes into "
					"its block at 0x10000000\n"),
			   "%s", text);
	free(text);
	report_release(&rep);
	hf_release(&f);
}
