/*
 * heap.h - replay of a trace's events: the set of live blocks and the totals.
 *
 * Events are fed in global sequence order (reader_next). The live set is
 * keyed by address; memory is bounded by the live blocks plus one small
 * record per thread, never by the number of events.
 *
 * Semantics (refscope_format.h):
 *   ALLOC          a block becomes live (size 0 is a real block). An ALLOC at
 *                  an address already live replaces it (counted in
 *                  alloc_over_live: the trace missed a free).
 *   FREE           address 0 is free(NULL): counted, changes nothing. An
 *                  address not live (allocated before tracing, inherited
 *                  across fork) is an unknown free.
 *   realloc        FREE(old) kind=REALLOC, then in the same thread ALLOC
 *                  kind=REALLOC (success) or ALLOC_FAILED(old) (failure: old
 *                  is restored with its original size and stack, and the FREE
 *                  is taken back from the totals) or nothing (realloc(p, 0)).
 *   reallocs       counts realloc/reallocarray calls: successes, failures and
 *                  realloc(p, 0).
 *   frees          FREE events with a non-zero address (known or not), minus
 *                  those taken back by a failed realloc.
 *
 * Calling order: heap_new, heap_event for each event, heap_finish, then
 * heap_totals / heap_groups, heap_free.
 */
#ifndef REFSCOPE_HEAP_H
#define REFSCOPE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct heap;

struct heap_totals {
	uint64_t events, allocations, frees, free_null, failed_allocations, reallocs;
	uint64_t unknown_frees;
	uint64_t allocated_bytes, freed_bytes;
	uint64_t threads;
	uint64_t live_blocks, live_bytes; /* now (at the end, after heap_finish) */
	uint64_t peak_bytes, peak_blocks, peak_seq, peak_time;
	uint64_t peak_event;	/* the peak event's number in merge order, from 1 */
	uint64_t first_time, last_time, last_seq;
	uint64_t alloc_over_live;   /* ALLOC at an address already live */
	uint64_t restore_unmatched; /* ALLOC_FAILED(old) with no FREE(old) before it */
};

/* Blocks still live, grouped by the stack that allocated them. */
struct heap_group {
	uint64_t stack;
	uint64_t blocks, bytes, min_size, max_size;
};

int heap_new(struct heap **out);
/* Returns 0 or -ENOMEM. */
int heap_event(struct heap *h, const struct reader_event *ev);
/* Settles what is still pending (a realloc(p, 0) at the very end). */
void heap_finish(struct heap *h);
void heap_totals(const struct heap *h, struct heap_totals *out);
/* The live blocks grouped by stack id, sorted by bytes descending, then
 * blocks descending, then stack id. *out is malloc'd. Returns 0 or -ENOMEM. */
int heap_groups(const struct heap *h, struct heap_group **out, size_t *n);
/* A live block, as heap_blocks hands them out. */
struct heap_block {
	uint64_t addr, size, stack;
};

/* The blocks live now, sorted by address (for interior-pointer lookup);
 * may be called in the middle of a replay. *out is malloc'd. Returns 0 or
 * -ENOMEM. */
int heap_blocks(const struct heap *h, struct heap_block **out, size_t *n);
/* The live block that starts at addr: returns 1 with *out filled, or 0. */
int heap_lookup(const struct heap *h, uint64_t addr, struct heap_block *out);
void heap_free(struct heap *h);

#endif
