/*
 * heap.c - replay of allocation events into a live set (see heap.h).
 *
 * The live set is an open-addressing table with linear probing and
 * backward-shift deletion (no tombstones, so a long run of malloc/free
 * churn never degrades it); address 0 marks an empty slot, which is safe
 * because no allocator hands out address 0. Per-thread state (a realloc
 * whose FREE was seen but whose outcome was not yet) lives in a uthash
 * table keyed by tid.
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

struct slot {
	uint64_t addr; /* 0: empty */
	uint64_t size;
	uint64_t stack;
};

struct thread {
	uint64_t tid;
	int pending;	   /* a FREE kind=REALLOC awaits its outcome */
	int pending_known; /* the freed block was live */
	struct slot block; /* what that FREE took out of the live set */
	UT_hash_handle hh;
};

struct heap {
	struct slot *slots;
	size_t cap, count; /* cap is a power of two */
	struct thread *threads;
	struct heap_totals t;
};

static size_t slot_hash(uint64_t addr, size_t cap)
{
	return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static struct slot *slot_find(const struct heap *h, uint64_t addr)
{
	size_t i = slot_hash(addr, h->cap);

	while (h->slots[i].addr) {
		if (h->slots[i].addr == addr)
			return &h->slots[i];
		i = (i + 1) & (h->cap - 1);
	}
	return NULL;
}

static void slot_put(struct slot *slots, size_t cap, const struct slot *s)
{
	size_t i = slot_hash(s->addr, cap);

	while (slots[i].addr)
		i = (i + 1) & (cap - 1);
	slots[i] = *s;
}

static int grow(struct heap *h)
{
	size_t cap = h->cap * 2;
	struct slot *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++)
		if (h->slots[i].addr)
			slot_put(n, cap, &h->slots[i]);
	free(h->slots);
	h->slots = n;
	h->cap = cap;
	return 0;
}

/* Backward-shift deletion: pulls later members of the probe run into the
 * hole so that every lookup still finds them without tombstones. */
static void slot_remove(struct heap *h, struct slot *s)
{
	size_t mask = h->cap - 1;
	size_t hole = (size_t)(s - h->slots);
	size_t i = hole;

	for (;;) {
		size_t home;

		i = (i + 1) & mask;
		if (!h->slots[i].addr)
			break;
		home = slot_hash(h->slots[i].addr, h->cap);
		/* move i into the hole when its home is not in (hole, i] */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			h->slots[hole] = h->slots[i];
			hole = i;
		}
	}
	h->slots[hole].addr = 0;
	h->count--;
}

static int live_insert(struct heap *h, const struct slot *s)
{
	if ((h->count + 1) * 4 > h->cap * 3) {
		int rc = grow(h);

		if (rc)
			return rc;
	}
	slot_put(h->slots, h->cap, s);
	h->count++;
	h->t.live_blocks++;
	h->t.live_bytes += s->size;
	return 0;
}

static void live_remove(struct heap *h, struct slot *s)
{
	h->t.live_blocks--;
	h->t.live_bytes -= s->size;
	slot_remove(h, s);
}

int heap_new(struct heap **out)
{
	struct heap *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->cap = 1024;
	h->slots = calloc(h->cap, sizeof(*h->slots));
	if (!h->slots) {
		free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

static int is_realloc(uint64_t kind)
{
	return kind == RS_KIND_REALLOC || kind == RS_KIND_REALLOCARRAY;
}

static struct thread *thread_get(struct heap *h, uint64_t tid)
{
	struct thread *t;

	HASH_FIND(hh, h->threads, &tid, sizeof(tid), t);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	HASH_ADD(hh, h->threads, tid, sizeof(t->tid), t);
	h->t.threads++;
	return t;
}

static void note_peak(struct heap *h, const struct reader_event *ev)
{
	if (h->t.live_bytes > h->t.peak_bytes) {
		h->t.peak_bytes = h->t.live_bytes;
		h->t.peak_blocks = h->t.live_blocks;
		h->t.peak_seq = ev->seq;
		h->t.peak_time = ev->time;
	}
}

int heap_event(struct heap *h, const struct reader_event *ev)
{
	struct thread *th = thread_get(h, ev->tid);
	struct slot *s;

	if (!th)
		return -ENOMEM;
	if (h->t.events == 0)
		h->t.first_time = ev->time;
	h->t.events++;
	h->t.last_time = ev->time;
	h->t.last_seq = ev->seq;

	/* a realloc's FREE not followed by its outcome was realloc(p, 0) */
	if (th->pending) {
		int outcome = (ev->type == RS_EV_ALLOC && is_realloc(ev->kind)) ||
			      (ev->type == RS_EV_ALLOC_FAILED && ev->old == th->block.addr);

		if (!outcome) {
			h->t.reallocs++;
			th->pending = 0;
		}
	}

	switch (ev->type) {
	case RS_EV_ALLOC: {
		struct slot n = { ev->addr, ev->size, ev->stack };
		int rc;

		th->pending = 0;
		h->t.allocations++;
		h->t.allocated_bytes += ev->size;
		if (is_realloc(ev->kind))
			h->t.reallocs++;
		if (ev->addr == 0)
			break; /* not a block anyone can free; keep the empty-slot marker sound */
		s = slot_find(h, ev->addr);
		if (s) {
			h->t.alloc_over_live++;
			live_remove(h, s);
		}
		rc = live_insert(h, &n);
		if (rc)
			return rc;
		note_peak(h, ev);
		break;
	}
	case RS_EV_FREE:
		if (ev->addr == 0) {
			h->t.free_null++;
			break;
		}
		h->t.frees++;
		s = slot_find(h, ev->addr);
		if (is_realloc(ev->kind)) {
			th->pending = 1;
			th->pending_known = s != NULL;
			th->block = s ? *s : (struct slot){ ev->addr, 0, 0 };
		}
		if (!s) {
			h->t.unknown_frees++;
			break;
		}
		h->t.freed_bytes += s->size;
		live_remove(h, s);
		break;
	case RS_EV_ALLOC_FAILED:
		h->t.failed_allocations++;
		if (is_realloc(ev->kind))
			h->t.reallocs++;
		if (ev->old == 0)
			break;
		if (!th->pending || th->block.addr != ev->old) {
			h->t.restore_unmatched++;
			break;
		}
		/* the realloc failed: its FREE never happened */
		th->pending = 0;
		h->t.frees--;
		if (!th->pending_known) {
			h->t.unknown_frees--;
			break;
		}
		h->t.freed_bytes -= th->block.size;
		if (slot_find(h, ev->old))
			break; /* already live again: the trace contradicts itself */
		return live_insert(h, &th->block);
	default:
		break;
	}
	return 0;
}

void heap_finish(struct heap *h)
{
	struct thread *t, *tmp;

	HASH_ITER(hh, h->threads, t, tmp) {
		if (t->pending) {
			h->t.reallocs++;
			t->pending = 0;
		}
	}
}

void heap_totals(const struct heap *h, struct heap_totals *out)
{
	*out = h->t;
}

struct group_entry {
	struct heap_group g;
	UT_hash_handle hh;
};

static int group_cmp(const void *a, const void *b)
{
	const struct heap_group *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

int heap_groups(const struct heap *h, struct heap_group **out, size_t *n)
{
	struct group_entry *groups = NULL, *e, *tmp;
	struct heap_group *arr;
	size_t count = 0, i = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	for (size_t k = 0; k < h->cap; k++) {
		const struct slot *s = &h->slots[k];

		if (!s->addr)
			continue;
		HASH_FIND(hh, groups, &s->stack, sizeof(s->stack), e);
		if (!e) {
			e = calloc(1, sizeof(*e));
			if (!e) {
				rc = -ENOMEM;
				goto out;
			}
			e->g.stack = s->stack;
			e->g.min_size = s->size;
			HASH_ADD(hh, groups, g.stack, sizeof(e->g.stack), e);
			count++;
		}
		e->g.blocks++;
		e->g.bytes += s->size;
		if (s->size < e->g.min_size)
			e->g.min_size = s->size;
		if (s->size > e->g.max_size)
			e->g.max_size = s->size;
	}
	arr = malloc((count ? count : 1) * sizeof(*arr));
	if (!arr) {
		rc = -ENOMEM;
		goto out;
	}
	HASH_ITER(hh, groups, e, tmp)
		arr[i++] = e->g;
	qsort(arr, count, sizeof(*arr), group_cmp);
	*out = arr;
	*n = count;
out:
	HASH_ITER(hh, groups, e, tmp) {
		HASH_DEL(groups, e);
		free(e);
	}
	return rc;
}

static int block_cmp(const void *a, const void *b)
{
	const struct heap_block *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int heap_blocks(const struct heap *h, struct heap_block **out, size_t *n)
{
	struct heap_block *arr = malloc((h->count ? h->count : 1) * sizeof(*arr));
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		if (!h->slots[i].addr)
			continue;
		arr[k].addr = h->slots[i].addr;
		arr[k].size = h->slots[i].size;
		arr[k].stack = h->slots[i].stack;
		k++;
	}
	qsort(arr, k, sizeof(*arr), block_cmp);
	*out = arr;
	*n = k;
	return 0;
}

int heap_lookup(const struct heap *h, uint64_t addr, struct heap_block *out)
{
	const struct slot *s = addr ? slot_find(h, addr) : NULL;

	if (!s)
		return 0;
	out->addr = s->addr;
	out->size = s->size;
	out->stack = s->stack;
	return 1;
}

void heap_free(struct heap *h)
{
	struct thread *t, *tmp;

	if (!h)
		return;
	HASH_ITER(hh, h->threads, t, tmp) {
		HASH_DEL(h->threads, t);
		free(t);
	}
	free(h->slots);
	free(h);
}
