/*
 * heapfix.c - heap-graph fixtures (see heapfix.h).
 */
#include "heapfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope_format.h"

static const char *const retain_names[] = { "obj_retain" };
static const char *const release_names[] = { "obj_release" };

void hf_init(struct hf *f)
{
	memset(f, 0, sizeof(*f));
	f->snapshots = 1;
	f->trigger = RS_SNAP_EXIT;
	tb_init(&f->t, 77, 1);
	tb_refapi(&f->t, HF_API, "user", 1, retain_names, 1, release_names, RS_REFAPI_HOW_GOT);
}

static uint64_t next(struct hf *f)
{
	if (f->chunk_events == HF_CHUNK_EVENTS) {
		tb_chunk_end(&f->t, 1);
		f->chunk_events = 0;
	}
	if (f->chunk_events == 0)
		tb_chunk_begin(&f->t, 77, f->seq + 1, f->seq + 1);
	f->chunk_events++;
	return ++f->seq;
}

void hf_alloc(struct hf *f, uint64_t addr, uint64_t size, uint64_t stack)
{
	uint64_t s = next(f);

	tb_alloc(&f->t, s, s, addr, size, stack, RS_KIND_MALLOC);
}

void hf_free(struct hf *f, uint64_t addr)
{
	uint64_t s = next(f);

	tb_free(&f->t, s, s, addr, 0, RS_KIND_FREE);
}

void hf_retain(struct hf *f, uint64_t addr, uint64_t stack)
{
	uint64_t s = next(f);

	tb_retain(&f->t, s, s, addr, stack, HF_API, 0);
}

void hf_unref(struct hf *f, uint64_t addr, uint64_t stack)
{
	uint64_t s = next(f);

	tb_release_ref(&f->t, s, s, addr, stack, HF_API, 0);
}

static void push(struct hf_word **arr, size_t *n, size_t *cap, uint64_t loc, uint64_t value)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*arr = realloc(*arr, *cap * sizeof(**arr));
		if (!*arr)
			abort();
	}
	(*arr)[(*n)++] = (struct hf_word){ loc, value };
}

void hf_ptr(struct hf *f, uint64_t loc, uint64_t value)
{
	push(&f->heap, &f->nheap, &f->cap_heap, loc, value);
}

void hf_root(struct hf *f, uint64_t slot, uint64_t value)
{
	push(&f->data, &f->ndata, &f->cap_data, HF_DATA + slot * 8, value);
}

void hf_stack_root(struct hf *f, uint64_t slot, uint64_t value)
{
	push(&f->stack, &f->nstack, &f->cap_stack, HF_STACK + slot * 8, value);
}

void hf_stack(struct hf *f, uint64_t id, size_t n, const uint64_t *ips)
{
	int in = f->t.in_chunk;

	/* top level, not inside the open chunk */
	f->t.in_chunk = 0;
	tb_stack(&f->t, id, n, ips);
	f->t.in_chunk = in;
}

static int word_cmp(const void *a, const void *b)
{
	const struct hf_word *x = a, *y = b;

	return x->loc < y->loc ? -1 : x->loc > y->loc;
}

static void words(struct hf *f, uint64_t region, uint64_t start, struct hf_word *w, size_t n)
{
	uint64_t *locs = malloc((n ? n : 1) * sizeof(*locs));
	uint64_t *vals = malloc((n ? n : 1) * sizeof(*vals));

	if (!locs || !vals)
		abort();
	if (n)	/* qsort(NULL, 0) is undefined (glibc declares it nonnull) */
		qsort(w, n, sizeof(*w), word_cmp);
	for (size_t i = 0; i < n; i++) {
		locs[i] = w[i].loc;
		vals[i] = w[i].value;
	}
	if (n)
		tb_snap_words(&f->t, 0, region, start, 1, n, locs, vals, 500000);
	free(locs);
	free(vals);
}

void hf_write(struct hf *f, char *path)
{
	char dir[64];

	if (f->chunk_events)
		tb_chunk_end(&f->t, 1);
	f->chunk_events = 0;
	if (f->snapshots) {
		tb_snapshot(&f->t, 0, f->seq + 1, f->seq + 1, f->trigger, 77);
		tb_snap_region(&f->t, 0, 1, HF_DATA, HF_DATA + (1u << 20), RS_REGION_DATA, 0, "/bin/prog");
		tb_snap_region(&f->t, 0, 2, HF_HEAP, HF_HEAP + (3ull << 30), RS_REGION_ANON, 0, "[heap]");
		words(f, 1, HF_DATA, f->data, f->ndata);
		words(f, 2, HF_HEAP, f->heap, f->nheap);
		if (f->nstack) {
			tb_snap_region(&f->t, 0, 3, HF_STACK, HF_STACK + (1u << 20), RS_REGION_STACK, 77,
				       "[stack]");
			words(f, 3, HF_STACK, f->stack, f->nstack);
		}
		tb_snapshot_end(&f->t, 0, f->nstack ? 3 : 2, f->ndata + f->nheap + f->nstack, 0, 0);
	}
	tb_end(&f->t, f->seq + 1, RS_END_EXIT, 0, f->seq + 2, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, 128, dir, "graph.trace");
	if (tb_write(&f->t, path))
		abort();
}

void hf_release(struct hf *f)
{
	tb_release(&f->t);
	free(f->heap);
	free(f->data);
	free(f->stack);
	memset(f, 0, sizeof(*f));
}
