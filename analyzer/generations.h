/*
 * generations.h - a generational model of the traced heap, lifetimes, and
 * per-allocation-site statistics, computed in one streaming replay.
 *
 * The trace is replayed on an allocation clock (the number of successful
 * allocations so far) and every block is put in one of three generations
 * the way CPython's collector (3.8 to 3.11) sorts its objects:
 *
 *   - count0 grows by one per allocation and shrinks by one per free while
 *     it is above 0 (a free of any block, as CPython's deallocation does).
 *   - When an allocation makes count0 exceed threshold[0], a collection
 *     runs. It collects the oldest generation g whose counter exceeds its
 *     threshold: count2 for g = 2, count1 for g = 1, otherwise g = 0.
 *     Collecting g adds one to count[g + 1] (g < 2) and resets counts 0..g.
 *     So with 700/10/10, the 12th collection is the first of generation 1
 *     (count1 must reach 11 > 10), exactly as in CPython.
 *   - A collection of g merges generations 0..g and moves every block in
 *     them that is still live into g + 1 (generation 2 stays in 2): a
 *     young block at a generation-1 collection goes straight to 2.
 *   - threshold[0] = 0 disables collections (CPython's gc.disable()).
 *     CPython's extra condition on full collections (long_lived_pending >
 *     long_lived_total / 4) is not modelled.
 *
 * The program's frees play the collector's part: a block freed while in
 * generation g "died" there. Every block that entered a generation left it
 * by dying or by promotion, or is live at the end:
 *     entered[g] = died[g] + promoted[g] + live[g]   (promoted[2] = 0).
 *
 * A realloc counts as the free of the old block and the allocation of the
 * new one (as heaptrack counts it); a failed realloc leaves the old block
 * where it was. An allocation at an address still live ends the old block.
 *
 * Lifetimes: in allocations (clock at free - clock at birth: 0 when no
 * other allocation happened in between) and in nanoseconds, in
 * power-of-two buckets: bucket 0 holds lifetime 0, bucket k >= 1 holds
 * [2^(k-1), 2^k). Only freed blocks are in the histograms; blocks live at
 * the end are counted apart.
 *
 * Per allocation site (stack id): allocations, bytes, frees, the blocks
 * that reached generation 2, the live blocks at the end by generation, the
 * site's own peak of live bytes, its temporary allocations (heaptrack's
 * rule: a block freed with no other allocation and no other free since it
 * was allocated), and the median lifetime in allocations. The median is
 * taken over the site's freed blocks and, for blocks live at the end, their
 * age at the end (a lower bound of their lifetime). It is the lower bound
 * of a log-linear bucket: exact below 16, otherwise at most 12.5% below the
 * true median (8 buckets per power of two).
 *
 * Memory is bounded by the live blocks (one node each, holding its
 * generation tag), the sites (bounded by the stacks of the trace) and one
 * record per thread; never by the number of events. Each block is visited
 * at most twice by promotions, so the whole replay is linear in the events.
 *
 * Snapshot generations (Instruments' "mark generation" heapshots): given
 * the seq of every heap snapshot of the trace (gen_set_snapshots), the
 * blocks still live at the last snapshot (after every event numbered below
 * its seq) are grouped by when they were born: interval 0 holds the blocks
 * born before snapshot 0, interval k the ones born at or after snapshot
 * k - 1's seq and before snapshot k's; inside an interval, by allocation
 * site. With fewer than two snapshots there is nothing to compare and no
 * intervals. This walks the live set once, when the replay reaches the last
 * snapshot.
 *
 * Calling order: gen_new, gen_set_snapshots (optional), gen_event for each
 * event in sequence order, gen_finish, then gen_stats / gen_sites /
 * gen_heapshots, gen_free.
 */
#ifndef REFSCOPE_GENERATIONS_H
#define REFSCOPE_GENERATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

#define GEN_COUNT 3
#define GEN_BUCKETS 65 /* lifetime histogram buckets: 0, [1,2), [2,4), ... [2^63, 2^64) */

struct gen_generation {
	uint64_t threshold;
	uint64_t collections; /* collections of exactly this generation */
	uint64_t entered, entered_bytes;
	uint64_t died, died_bytes;	   /* freed while in this generation */
	uint64_t promoted, promoted_bytes; /* survived a collection and moved older */
	uint64_t live, live_bytes;	   /* in this generation at the end */
};

struct gen_stats {
	struct gen_generation gen[GEN_COUNT];
	uint64_t clock;		 /* allocations replayed: the allocation clock at the end */
	uint64_t end_time;	 /* time of the last event */
	uint64_t freed;		 /* blocks in the histograms */
	uint64_t hist_allocs[GEN_BUCKETS]; /* freed blocks by lifetime in allocations */
	uint64_t hist_ns[GEN_BUCKETS];	   /* freed blocks by lifetime in ns */
	uint64_t temporary, temporary_bytes;
};

struct gen_site {
	uint64_t stack;
	uint64_t allocations, bytes;
	uint64_t frees;
	uint64_t reached_oldest, reached_oldest_bytes; /* entered generation 2 */
	uint64_t live, live_bytes;		       /* at the end */
	uint64_t live_by_gen[GEN_COUNT], live_bytes_by_gen[GEN_COUNT];
	uint64_t peak_bytes; /* the most bytes from this site live at once */
	uint64_t temporary;
	uint64_t median_lifetime; /* in allocations; see the header comment */
};

/* Blocks born in one interval between snapshots, still live at the last. */
struct gen_heapshot_site {
	uint64_t stack, blocks, bytes;
};

struct gen_heapshot {
	uint64_t from_seq, to_seq; /* born in [from_seq, to_seq); from_seq 0 for interval 0 */
	uint64_t blocks, bytes;
	struct gen_heapshot_site *sites; /* bytes descending, then blocks, then stack id */
	size_t nsites;
};

/*
 * The timeline: live bytes by generation, sampled. Events are cut into
 * intervals of `stride` events; each interval keeps the state at its
 * highest total of live bytes (so the peak is never lost between samples).
 * When GEN_SAMPLES are full, neighbours are merged pairwise (the higher one
 * kept) and the stride doubles: memory stays fixed whatever the trace's
 * length, and the samples stay evenly spread over the events.
 */
#define GEN_SAMPLES 2048

struct gen_sample {
	uint64_t time, clock, seq;
	uint64_t bytes[GEN_COUNT];
};

struct gen_model;

/* thresholds: 3 values (NULL: 700, 10, 10). Returns 0 or -ENOMEM. */
int gen_new(const uint64_t *thresholds, struct gen_model **out);
/* seqs: the snapshots' seq values in the order taken (sorted here). Before
 * the first gen_event. Returns 0 or -ENOMEM. */
int gen_set_snapshots(struct gen_model *m, const uint64_t *seqs, size_t n);
/* Returns 0 or -ENOMEM. */
int gen_event(struct gen_model *m, const struct reader_event *ev);
/* Settles pending reallocs and counts what is live at the end. Once. */
int gen_finish(struct gen_model *m);
const struct gen_stats *gen_stats(const struct gen_model *m);
/* Every site, long-lived first: reached_oldest_bytes descending, then
 * reached_oldest, bytes and allocations descending, then stack id
 * ascending. *out is malloc'd. Returns 0 or -ENOMEM. */
int gen_sites(const struct gen_model *m, struct gen_site **out, size_t *n);
/* The intervals (one per snapshot, see above), or NULL and *n 0 with fewer
 * than two snapshots. Valid until gen_free. */
const struct gen_heapshot *gen_heapshots(const struct gen_model *m, size_t *n);
/* The generation of the block live at addr now (after gen_finish: at the
 * end of the trace), or -1 when no block lives there. */
int gen_generation_of(const struct gen_model *m, uint64_t addr);
/* Nodes the pool holds room for, and slots of the address table (memory
 * bound checks: they follow the most blocks live at once, not the events). */
size_t gen_node_capacity(const struct gen_model *m);
size_t gen_table_capacity(const struct gen_model *m);
/* The samples in event order (valid after gen_finish, until gen_free). */
const struct gen_sample *gen_timeline(const struct gen_model *m, size_t *n);
void gen_free(struct gen_model *m);

/* The histogram bucket of a lifetime (see above). */
unsigned gen_bucket(uint64_t v);

#endif
