/*
 * graph.h - the reference graph of one heap snapshot, and what leaked.
 *
 * Built from the blocks live at the snapshot (heap replayed up to its seq,
 * sorted by address) and the snapshot's words: a word whose value lies in a
 * live block (at its start, or inside it: interior) is an edge; a
 * block->block edge when its location lies inside a live block too, a
 * root->block edge when it lies in a DATA, STACK or TLS region, or an ANON
 * region that holds no live block. Other words (free allocator memory) are
 * ignored. In a snapshot taken at exit, the stack of the thread taking it is
 * not a root: its frames never run program code again, and what is left of
 * main's frame is stale (a dropped local would keep a leaked cycle
 * "reachable"). The stacks of other threads, still running, are roots.
 *
 * graph_analyze then finds:
 *   - reachability from the roots; every unreachable block classified as a
 *     cycle member (its strongly connected component among unreachable
 *     blocks has more than one block, or it points to itself), held by a
 *     cycle (reachable from a cycle member through unreachable blocks), or
 *     a plain leak;
 *   - the count method (CPython's cycle collector), when reference counts
 *     were given: for each refcounted block, gc_refs = balance minus the
 *     counted pointers to its start found inside refcounted blocks, or in
 *     the blocks they own (a block held by one pointer only, from a
 *     refcounted block or from a block it owns: GObject's qdata array). Which
 *     pointers are counted is inferred per field (block size and offset):
 *     a field is uncounted when counting it would give some object more
 *     references than its balance (see infer_counted_fields in graph.c);
 *     this separates an intrusive list of all instances from the links
 *     that hold references. Blocks with
 *     gc_refs > 0 are held from outside, and everything reachable from them
 *     through counted pointers (and into blocks that are not refcounted)
 *     is alive. From the roots, liveness spreads only through blocks that
 *     are not refcounted: a refcounted block is kept by its count, so an
 *     uncounted pointer (a registry, a list of all instances, a weak table)
 *     does not keep it alive. Refcounted blocks left are cyclic garbage;
 *   - leaked cycles: strongly connected components (more than one block, or
 *     a self-loop) among unreachable blocks ("reachability"), and among
 *     blocks the count method did not find alive that hold at least one
 *     refcounted block ("refcount"); a cycle both find has both methods.
 *
 * Calling order: graph_build, optionally graph_set_counts, graph_analyze,
 * then read the struct, graph_release.
 */
#ifndef REFSCOPE_GRAPH_H
#define REFSCOPE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "reader.h"

enum graph_class {
	GRAPH_REACHABLE = 0,
	GRAPH_CYCLE = 1,	  /* member of a leaked cycle */
	GRAPH_HELD_BY_CYCLE = 2,  /* unreachable, held only through a leaked cycle */
	GRAPH_PLAIN_LEAK = 3,	  /* unreachable, no cycle involved */
};

enum graph_method {
	GRAPH_BY_REACHABILITY = 1,
	GRAPH_BY_REFCOUNT = 2,
};

struct graph_edge {
	uint32_t src, dst;
	uint64_t offset; /* of the pointer inside src */
	uint64_t target; /* the pointer's value */
	uint8_t interior; /* points inside dst, not at its start */
};

struct graph_root {
	uint32_t dst;
	size_t region; /* index into the snapshot's regions */
	uint64_t loc, target;
	uint8_t interior;
};

struct graph_cycle {
	uint32_t *members; /* block indexes, ascending (by address) */
	size_t nmembers;
	uint64_t bytes;
	size_t *closing; /* indexes into edges: both ends in the cycle */
	size_t nclosing;
	uint32_t *hanging; /* blocks not in a cycle reachable only through it */
	size_t nhanging;
	uint64_t hanging_bytes;
	unsigned methods; /* GRAPH_BY_* bits */
};

struct graph_class_total {
	uint64_t blocks, bytes;
};

struct graph {
	const struct reader_snapshot *snap;
	struct heap_block *blocks; /* sorted by address */
	uint32_t nblocks;
	struct graph_edge *edges; /* sorted by src, then offset */
	size_t nedges;
	size_t *off; /* CSR: edges of block v are edges[off[v] .. off[v + 1]) */
	uint32_t *adj;
	struct graph_root *roots;
	size_t nroots;
	uint64_t words, words_ignored;

	uint8_t *cls;	/* enum graph_class per block */
	struct graph_class_total totals[4];

	/* the count method (graph_set_counts) */
	uint8_t *counted;  /* refcounted block */
	int64_t *balance;
	int64_t *gc_refs;
	uint8_t *count_alive;
	uint8_t *edge_counted; /* per edge: taken as a counted reference */
	uint64_t count_garbage; /* refcounted blocks found garbage */

	struct graph_cycle *cycles; /* by bytes descending */
	size_t ncycles;
};

/* Takes ownership of blocks (sorted by address, malloc'd). Returns 0 or
 * -ENOMEM (blocks freed either way by graph_release). */
int graph_build(struct graph *g, const struct reader_snapshot *snap, struct heap_block *blocks,
		size_t nblocks, const struct reader_word *words, size_t nwords);
/* Reference counts per block (index aligned with g->blocks); takes
 * ownership of both malloc'd arrays. */
void graph_set_counts(struct graph *g, uint8_t *counted, int64_t *balance);
int graph_analyze(struct graph *g);
/* The block containing addr (interior pointers included), or UINT32_MAX. */
uint32_t graph_find(const struct graph *g, uint64_t addr);
void graph_release(struct graph *g);

const char *graph_class_name(int cls);
/* "reachability", "refcount", or "reachability+refcount". */
const char *graph_methods_name(unsigned methods);

#endif
