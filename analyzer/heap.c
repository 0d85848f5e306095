/*
 * heap.c - replay of allocation events into a live set (see heap.h).
 *
 * The live set is an addrmap (addrmap.h) of slots keyed by address.
 * Per-thread state (a realloc
 * whose FREE was seen but whose outcome was not yet) lives in a uthash
 * table keyed by tid.
 */
#include "heap.h"

#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

struct slot {
	uint64_t addr; /* first: the addrmap key */
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
	struct addrmap live;
	struct thread *threads;
	struct heap_totals t;
};

static struct slot *slot_find(const struct heap *h, uint64_t addr)
{
	return addrmap_find(&h->live, addr);
}

static int live_insert(struct heap *h, const struct slot *s)
{
	int rc = addrmap_insert(&h->live, s);

	if (rc)
		return rc;
	h->t.live_blocks++;
	h->t.live_bytes += s->size;
	return 0;
}

static void live_remove(struct heap *h, struct slot *s)
{
	h->t.live_blocks--;
	h->t.live_bytes -= s->size;
	addrmap_remove(&h->live, s);
}

int heap_new(struct heap **out)
{
	struct heap *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	if (addrmap_init(&h->live, sizeof(struct slot))) {
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
		h->t.peak_event = h->t.events;
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
	for (size_t k = 0; k < h->live.cap; k++) {
		const struct slot *s = addrmap_at(&h->live, k);

		if (!s)
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
	struct heap_block *arr = malloc((h->live.count ? h->live.count : 1) * sizeof(*arr));
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < h->live.cap; i++) {
		const struct slot *s = addrmap_at(&h->live, i);

		if (!s)
			continue;
		arr[k].addr = s->addr;
		arr[k].size = s->size;
		arr[k].stack = s->stack;
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
	addrmap_release(&h->live);
	free(h);
}
