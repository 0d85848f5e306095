/*
 * refcounts.h - reference counts replayed from RETAIN and RELEASE events.
 *
 * An object is an address that saw retain/release events, for one lifetime:
 * from its ALLOC (or its first event when the trace never allocated it) to
 * its FREE. An allocated object starts at one reference (the one its
 * allocation hands out); an address the trace never allocated starts at
 * zero. balance = start + retains - releases. The object may sit inside
 * its block rather than at its start, up to REFCOUNTS_INTERIOR_MAX bytes
 * in: a GObject whose class has private data (G_ADD_PRIVATE) is allocated
 * with that data before the instance, and every call names the instance;
 * the FREE of the block ends its lifetime. The snapshot graph's count
 * method knows only objects at the start of their block (pointers to
 * an object inside one are interior pointers there), so a report with a
 * snapshot shows only those.
 *
 * Blame (which retains lack their release), per object, done once the
 * replay is over (stacks may be defined late in the trace). Every reference
 * (the allocation's and each retain's) waits for a release; each release,
 * in sequence order, balances ONE waiting reference, chosen as:
 *   1. the one whose stack shares the most outermost frames (exact return
 *      addresses, from main outwards) with the release's stack: a retain
 *      and the release that balances it usually happen under the same
 *      caller (retain/use/release in one function shares every frame
 *      outside that function);
 *   2. on a tie, the allocation's reference: a constructor hands its
 *      reference to its caller, and the release that finally frees the
 *      object is that caller's (so an extra retain in a helper such as
 *      cache_lookup, called from the same function, is left waiting
 *      instead of the allocation);
 *   3. then the most recent (references are usually dropped LIFO).
 * The references left waiting are the unbalanced retains, reported
 * aggregated by stack. An object with more than REFCOUNTS_MATCH_MAX events
 * is matched by rule 3 alone (cost).
 *
 * Calling order: refcounts_new, refcounts_event for every event in seq order
 * (before heap_event sees it; the heap says which addresses are blocks),
 * then the queries, refcounts_free.
 */
#ifndef REFSCOPE_REFCOUNTS_H
#define REFSCOPE_REFCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "reader.h"

#define REFCOUNTS_MATCH_MAX 20000
#define REFCOUNTS_FN_MAX 8 /* functions counted one by one per API */
#define REFCOUNTS_INTERIOR_MAX 512 /* how far into its block an object may be */

struct refcounts;

struct refcount_object {
	uint64_t addr;
	int allocated; /* the trace allocated it: block, size and alloc_stack are known */
	uint64_t block; /* the start of its block: addr, or below it */
	uint64_t size, alloc_stack; /* the block's */
	uint64_t retains, releases;
	int64_t balance;
};

/* Retain/release events seen per API (REFAPI id), all objects included. */
struct refcount_api {
	uint64_t api;
	uint64_t retains, releases;
	uint64_t retain_fn[REFCOUNTS_FN_MAX], release_fn[REFCOUNTS_FN_MAX]; /* by fn index */
	uint64_t other_fn; /* events whose fn index is >= REFCOUNTS_FN_MAX */
};

/* References left waiting, aggregated by the stack that took them. */
struct refcount_blame {
	uint64_t stack;
	int is_alloc; /* the allocation's own reference */
	uint64_t count;
};

struct refcount_totals {
	uint64_t objects;	/* lifetimes that saw events */
	uint64_t freed;		/* of which ended by a FREE */
	uint64_t unallocated;	/* of which the trace never allocated */
	uint64_t retains, releases;
};

int refcounts_new(struct refcounts **out);
/* Returns 0 or -ENOMEM. h: the heap as it is before this event. */
int refcounts_event(struct refcounts *rc, const struct heap *h, const struct reader_event *ev);
/* The live object at addr: 1 with *out filled, or 0. */
int refcounts_lookup(const struct refcounts *rc, uint64_t addr, struct refcount_object *out);
/* All objects not freed, sorted by address; *out malloc'd. */
int refcounts_live(const struct refcounts *rc, struct refcount_object **out, size_t *n);
/* The unbalanced references of the live object at addr, sorted by count
 * descending then stack; *out malloc'd (empty when addr is not an object). */
int refcounts_blame(const struct refcounts *rc, const struct reader *r, uint64_t addr,
		    struct refcount_blame **out, size_t *n);
/* Per-API counts, sorted by API id; *out malloc'd. */
int refcounts_apis(const struct refcounts *rc, struct refcount_api **out, size_t *n);
void refcounts_totals(const struct refcounts *rc, struct refcount_totals *out);
void refcounts_free(struct refcounts *rc);

#endif
