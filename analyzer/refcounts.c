/*
 * refcounts.c - per-object reference counts and the blame of unbalanced
 * retains (see refcounts.h for the matching rules and why).
 *
 * Objects live in a uthash table keyed by address, the allocated ones in a
 * second one keyed by their block's start (the FREE names the block, not an
 * object inside it); an object keeps its own
 * retain/release events (seq, stack) until it is freed, so memory is bounded
 * by the events of objects still live, which are the ones blame needs.
 */
#include "refcounts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

struct ref_ev {
	uint64_t seq, stack;
	uint8_t release;
};

struct obj {
	struct refcount_object o;
	struct ref_ev *ev;
	size_t nev, cap;
	UT_hash_handle hh;	/* objs, by o.addr */
	UT_hash_handle bh;	/* by_block, by o.block (allocated objects) */
};

struct api_entry {
	struct refcount_api a;
	UT_hash_handle hh;
};

struct refcounts {
	struct obj *objs;
	struct obj *by_block;
	struct api_entry *apis;
	struct refcount_totals t;
};

int refcounts_new(struct refcounts **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void obj_drop(struct refcounts *rc, struct obj *o, int freed)
{
	if (freed)
		rc->t.freed++;
	HASH_DEL(rc->objs, o);
	if (o->o.allocated)
		HASH_DELETE(bh, rc->by_block, o);
	free(o->ev);
	free(o);
}

static int count_api(struct refcounts *rc, const struct reader_event *ev)
{
	struct api_entry *e;
	int rel = ev->type == RS_EV_RELEASE;

	HASH_FIND(hh, rc->apis, &ev->api, sizeof(ev->api), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->a.api = ev->api;
		HASH_ADD(hh, rc->apis, a.api, sizeof(e->a.api), e);
	}
	if (rel)
		e->a.releases++;
	else
		e->a.retains++;
	if (ev->fn >= REFCOUNTS_FN_MAX)
		e->a.other_fn++;
	else if (rel)
		e->a.release_fn[ev->fn]++;
	else
		e->a.retain_fn[ev->fn]++;
	return 0;
}

/*
 * The live block holding addr: the one starting there, else the nearest
 * one starting below it (blocks never overlap) if it reaches addr. Blocks
 * start 16-byte aligned; an object sits at most REFCOUNTS_INTERIOR_MAX
 * bytes into its block (a GObject after its class's private data).
 */
static int containing_block(const struct heap *h, uint64_t addr, struct heap_block *b)
{
	if (heap_lookup(h, addr, b))
		return 1;
	for (uint64_t s = (addr - 1) & ~(uint64_t)15; addr > 16 && addr - s <= REFCOUNTS_INTERIOR_MAX;
	     s -= 16)
		if (heap_lookup(h, s, b))
			return addr < b->addr + b->size;
	return 0;
}

int refcounts_event(struct refcounts *rc, const struct heap *h, const struct reader_event *ev)
{
	struct obj *o;

	switch (ev->type) {
	case RS_EV_ALLOC:
	case RS_EV_FREE:
		/* a new block at the address (a free was missed) or its end:
		 * either way the lifetime the events belonged to is over */
		if (!ev->addr)
			return 0;
		HASH_FIND(bh, rc->by_block, &ev->addr, sizeof(ev->addr), o);
		if (!o)
			HASH_FIND(hh, rc->objs, &ev->addr, sizeof(ev->addr), o);
		if (o)
			obj_drop(rc, o, ev->type == RS_EV_FREE);
		return 0;
	case RS_EV_RETAIN:
	case RS_EV_RELEASE:
		break;
	default:
		return 0;
	}
	if (count_api(rc, ev))
		return -ENOMEM;
	if (ev->type == RS_EV_RETAIN)
		rc->t.retains++;
	else
		rc->t.releases++;
	HASH_FIND(hh, rc->objs, &ev->addr, sizeof(ev->addr), o);
	if (!o) {
		struct heap_block b;

		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->o.addr = ev->addr;
		if (containing_block(h, ev->addr, &b)) {
			o->o.allocated = 1;
			o->o.block = b.addr;
			o->o.size = b.size;
			o->o.alloc_stack = b.stack;
			o->o.balance = 1;
		} else {
			rc->t.unallocated++;
		}
		HASH_ADD(hh, rc->objs, o.addr, sizeof(o->o.addr), o);
		if (o->o.allocated)
			HASH_ADD(bh, rc->by_block, o.block, sizeof(o->o.block), o);
		rc->t.objects++;
	}
	if (o->nev == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4;
		struct ref_ev *n = realloc(o->ev, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		o->ev = n;
		o->cap = cap;
	}
	o->ev[o->nev++] = (struct ref_ev){ ev->seq, ev->stack, ev->type == RS_EV_RELEASE };
	if (ev->type == RS_EV_RETAIN) {
		o->o.retains++;
		o->o.balance++;
	} else {
		o->o.releases++;
		o->o.balance--;
	}
	return 0;
}

int refcounts_lookup(const struct refcounts *rc, uint64_t addr, struct refcount_object *out)
{
	struct obj *o;

	HASH_FIND(hh, rc->objs, &addr, sizeof(addr), o);
	if (!o)
		return 0;
	*out = o->o;
	return 1;
}

static int object_cmp(const void *a, const void *b)
{
	const struct refcount_object *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int refcounts_live(const struct refcounts *rc, struct refcount_object **out, size_t *n)
{
	size_t count = HASH_COUNT(rc->objs), i = 0;
	struct obj *o, *tmp;

	*out = malloc((count ? count : 1) * sizeof(**out));
	*n = 0;
	if (!*out)
		return -ENOMEM;
	HASH_ITER(hh, rc->objs, o, tmp)
		(*out)[i++] = o->o;
	qsort(*out, count, sizeof(**out), object_cmp);
	*n = count;
	return 0;
}

/* Outermost frames two stacks share (exact addresses). */
static size_t common_outer(const struct reader *r, uint64_t a, uint64_t b)
{
	size_t na, nb, k = 0;
	const uint64_t *x = reader_stack(r, a, &na);
	const uint64_t *y = reader_stack(r, b, &nb);

	if (!x || !y)
		return 0;
	while (k < na && k < nb && x[na - 1 - k] == y[nb - 1 - k])
		k++;
	return k;
}

struct waiting {
	uint64_t seq, stack;
	int is_alloc;
};

static int blame_cmp(const void *a, const void *b)
{
	const struct refcount_blame *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->is_alloc != y->is_alloc)
		return x->is_alloc ? 1 : -1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

int refcounts_blame(const struct refcounts *rc, const struct reader *r, uint64_t addr,
		    struct refcount_blame **out, size_t *n)
{
	struct obj *o;
	struct waiting *w;
	size_t nw = 0, nb = 0;
	int simple;

	*out = NULL;
	*n = 0;
	HASH_FIND(hh, rc->objs, &addr, sizeof(addr), o);
	if (!o)
		return 0;
	w = malloc((o->nev + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	simple = o->nev > REFCOUNTS_MATCH_MAX;
	if (o->o.allocated)
		w[nw++] = (struct waiting){ 0, o->o.alloc_stack, 1 };
	for (size_t i = 0; i < o->nev; i++) {
		const struct ref_ev *e = &o->ev[i];
		size_t best = 0, best_common = 0;

		if (!e->release) {
			w[nw++] = (struct waiting){ e->seq, e->stack, 0 };
			continue;
		}
		if (nw == 0)
			continue; /* a release with nothing to balance: balance < 0 */
		if (simple) {
			nw--;
			continue;
		}
		for (size_t k = 0; k < nw; k++) {
			size_t c = common_outer(r, e->stack, w[k].stack);

			if (k == 0 || c > best_common ||
			    (c == best_common && w[k].is_alloc > w[best].is_alloc) ||
			    (c == best_common && w[k].is_alloc == w[best].is_alloc && w[k].seq > w[best].seq)) {
				best = k;
				best_common = c;
			}
		}
		memmove(&w[best], &w[best + 1], (nw - best - 1) * sizeof(*w));
		nw--;
	}
	*out = malloc((nw ? nw : 1) * sizeof(**out));
	if (!*out) {
		free(w);
		return -ENOMEM;
	}
	for (size_t k = 0; k < nw; k++) {
		size_t j;

		for (j = 0; j < nb; j++)
			if ((*out)[j].stack == w[k].stack && (*out)[j].is_alloc == w[k].is_alloc)
				break;
		if (j == nb)
			(*out)[nb++] = (struct refcount_blame){ w[k].stack, w[k].is_alloc, 0 };
		(*out)[j].count++;
	}
	free(w);
	qsort(*out, nb, sizeof(**out), blame_cmp);
	*n = nb;
	return 0;
}

static int api_cmp(const void *a, const void *b)
{
	const struct refcount_api *x = a, *y = b;

	return x->api < y->api ? -1 : x->api > y->api;
}

int refcounts_apis(const struct refcounts *rc, struct refcount_api **out, size_t *n)
{
	size_t count = HASH_COUNT(rc->apis), i = 0;
	struct api_entry *e, *tmp;

	*out = malloc((count ? count : 1) * sizeof(**out));
	*n = 0;
	if (!*out)
		return -ENOMEM;
	HASH_ITER(hh, rc->apis, e, tmp)
		(*out)[i++] = e->a;
	qsort(*out, count, sizeof(**out), api_cmp);
	*n = count;
	return 0;
}

void refcounts_totals(const struct refcounts *rc, struct refcount_totals *out)
{
	*out = rc->t;
}

void refcounts_free(struct refcounts *rc)
{
	struct obj *o, *tmp;
	struct api_entry *e, *etmp;

	if (!rc)
		return;
	HASH_ITER(hh, rc->objs, o, tmp)
		obj_drop(rc, o, 0);
	HASH_ITER(hh, rc->apis, e, etmp) {
		HASH_DEL(rc->apis, e);
		free(e);
	}
	free(rc);
}
