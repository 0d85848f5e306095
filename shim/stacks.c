/*
 * stacks.c - the global stack table: open hashing with lock-free inserts,
 * behind each thread's direct-mapped cache.
 *
 * Nodes live in one big MAP_NORESERVE arena handed out by an atomic bump, so
 * interning never calls malloc and a reader never sees freed memory. Two
 * threads racing to insert the same stack both allocate a node; only the one
 * whose compare-and-swap publishes it writes the STACK record, the other
 * finds the winner and abandons its node (ids may therefore have gaps).
 */
#include "stacks.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "ownmem.h"
#include "writer.h"

struct rs_stack_node {
	struct rs_stack_node *_Atomic next;
	uint64_t hash;
	uint32_t id;
	uint32_t n;
	uintptr_t ips[];
};

#define NBUCKETS (1u << 18)
#define ARENA_SIZE ((size_t)1 << 31)	/* reserved, touched only as used */

static struct rs_stack_node *_Atomic *buckets;
static uint8_t *arena;
static _Atomic size_t arena_used;
/* The arena is reserved PROT_NONE (no commit charge even under strict
 * overcommit) and made writable in steps as nodes need it. */
#define ARENA_STEP ((size_t)1 << 20)
static _Atomic size_t arena_writable;
static atomic_int grow_lock;
static _Atomic uint32_t next_id = 1;

static int map_tables(void)
{
	void *b = mmap(NULL, NBUCKETS * sizeof(*buckets), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *a;

	if (b == MAP_FAILED)
		return -ENOMEM;
	a = mmap(NULL, ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (a == MAP_FAILED) {
		munmap(b, NBUCKETS * sizeof(*buckets));
		return -ENOMEM;
	}
	rs_own_add(b, NBUCKETS * sizeof(*buckets));
	rs_own_add(a, ARENA_SIZE);
	buckets = b;
	arena = a;
	atomic_store(&arena_used, 0);
	atomic_store(&arena_writable, 0);
	atomic_store(&grow_lock, 0);
	atomic_store(&next_id, 1);
	return 0;
}

/* Makes [0, end) of the arena writable; 0 or -ENOMEM. Rare: once a MiB. */
static int arena_grow(size_t end)
{
	size_t w;
	int rc = 0;

	if (end <= atomic_load_explicit(&arena_writable, memory_order_acquire))
		return 0;
	while (atomic_exchange_explicit(&grow_lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
	w = atomic_load(&arena_writable);
	if (end > w) {
		size_t nw = (end + ARENA_STEP - 1) & ~(ARENA_STEP - 1);

		if (mprotect(arena + w, nw - w, PROT_READ | PROT_WRITE) == 0)
			atomic_store_explicit(&arena_writable, nw, memory_order_release);
		else
			rc = -ENOMEM;
	}
	atomic_store_explicit(&grow_lock, 0, memory_order_release);
	return rc;
}

int rs_stacks_init(void)
{
	if (buckets)
		return 0;
	return map_tables();
}

int rs_stacks_reset(void)
{
	if (buckets) {
		rs_own_remove((void *)buckets, NBUCKETS * sizeof(*buckets));
		rs_own_remove(arena, ARENA_SIZE);
		munmap((void *)buckets, NBUCKETS * sizeof(*buckets));
		munmap(arena, ARENA_SIZE);
		buckets = NULL;
		arena = NULL;
	}
	return map_tables();
}

uint32_t rs_stacks_count(void)
{
	return atomic_load(&next_id) - 1;
}

/* One multiply per frame (the loop runs for every event), in two chains,
 * odd and even frames, so that each waits for half as many multiplies in a
 * row; the mix at the end spreads the high bits the multiplies gathered
 * into the low ones the cache and the buckets index by. */
static uint64_t hash_ips(const uintptr_t *ips, unsigned n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, g = 0xc2b2ae3d27d4eb4full;
	unsigned i = 0;

	for (; i + 1 < n; i += 2) {
		h = (h ^ ips[i]) * 0xff51afd7ed558ccdull;
		g = (g ^ ips[i + 1]) * 0x9fb21c651e98df25ull;
	}
	if (i < n)
		h = (h ^ ips[i]) * 0xff51afd7ed558ccdull;
	h ^= g ^ (g >> 31);
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h ? h : 1;
}

static int same(const struct rs_stack_node *s, uint64_t h, const uintptr_t *ips, unsigned n)
{
	return s->hash == h && s->n == n && memcmp(s->ips, ips, n * sizeof(*ips)) == 0;
}

static const struct rs_stack_node *find(const struct rs_stack_node *s,
					const struct rs_stack_node *stop, uint64_t h,
					const uintptr_t *ips, unsigned n)
{
	for (; s && s != stop; s = atomic_load_explicit(&s->next, memory_order_acquire))
		if (same(s, h, ips, n))
			return s;
	return NULL;
}

uint32_t rs_stacks_intern(struct rs_tbuf *tb, const uintptr_t *ips, unsigned n, int *is_new)
{
	uint64_t h = hash_ips(ips, n);
	struct rs_stack_cache_entry *ce = &tb->cache[h & (RS_STACK_CACHE - 1)];
	struct rs_stack_node *_Atomic *bucket;
	struct rs_stack_node *head, *node;
	const struct rs_stack_node *hit;
	size_t sz, off;

	*is_new = 0;
	if (ce->hash == h && ce->node && same(ce->node, h, ips, n))
		return ce->node->id;
	if (!buckets)
		return 0;
	bucket = &buckets[h & (NBUCKETS - 1)];
	head = atomic_load_explicit(bucket, memory_order_acquire);
	hit = find(head, NULL, h, ips, n);
	if (hit)
		goto cached;
	sz = (sizeof(*node) + n * sizeof(*ips) + 15) & ~(size_t)15;
	off = atomic_fetch_add(&arena_used, sz);
	if (off + sz > ARENA_SIZE || arena_grow(off + sz) < 0)
		return 0;	/* no room: the event goes without a stack */
	node = (struct rs_stack_node *)(arena + off);
	node->hash = h;
	node->n = n;
	memcpy(node->ips, ips, n * sizeof(*ips));
	node->id = atomic_fetch_add(&next_id, 1);
	for (;;) {
		atomic_store_explicit(&node->next, head, memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(bucket, &head, node,
							  memory_order_release,
							  memory_order_acquire))
			break;
		/* someone pushed first: they may have pushed this very stack */
		hit = find(head, atomic_load_explicit(&node->next, memory_order_relaxed),
			   h, ips, n);
		if (hit)
			goto cached;
	}
	rs_tbuf_stack(tb, node->id, ips, n);
	*is_new = 1;
	hit = node;
cached:
	ce->node = hit;
	ce->hash = h;
	return hit->id;
}
