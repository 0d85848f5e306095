/*
 * generations.c - the generational model, lifetimes and site statistics
 * (see generations.h for the model and its rules).
 *
 * Live blocks are nodes in a pool (indices stay valid when it grows); an
 * addrmap (addrmap.h, the table heap.c uses too) maps addresses to node
 * indices, and each generation is a doubly-linked list of node indices, so
 * a collection walks only the generations it promotes and splices them in
 * O(1) after retagging. Sites live in a uthash table keyed by stack id; a
 * node points at its site so a free needs no second lookup.
 */
#include "generations.h"

#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#define NIL UINT32_MAX
#define MED_BUCKETS 496 /* 16 exact values, then 8 per power of two up to 2^63 */

struct med_entry {
	uint16_t idx;
	uint64_t n;
};

struct site {
	struct gen_site s;
	uint64_t cur_bytes;
	struct med_entry *med; /* sorted by idx */
	size_t nmed, capmed;
	UT_hash_handle hh;
};

struct node {
	uint64_t addr, size, birth_clock, birth_time, birth_seq;
	struct site *site;
	uint32_t prev, next; /* in its generation's list; next links the free list */
	uint8_t gen;
};

struct slot {
	uint64_t addr; /* first: the addrmap key */
	uint32_t node;
};

struct thread {
	uint64_t tid;
	int pending;   /* a realloc's FREE took pend_node out of the table */
	int pend_temp; /* that FREE was a temporary free */
	uint32_t pend_node;
	uint64_t pend_addr, pend_clock, pend_time;
	UT_hash_handle hh;
};

struct gen_model {
	struct gen_stats st;
	uint64_t count[GEN_COUNT];
	uint32_t head[GEN_COUNT], tail[GEN_COUNT];
	struct node *nodes;
	uint32_t nnodes, capnodes, free_nodes;
	struct addrmap table;
	struct site *sites;
	struct thread *threads;
	uint64_t last_alloc; /* heaptrack's lastAllocationPtr: 0 after any free */
	int finished;
	uint64_t *snap_seqs; /* sorted */
	size_t nsnaps;
	int captured; /* the live set was grouped at the last snapshot */
	struct gen_heapshot *shots;
	/* the timeline */
	uint64_t live_bytes[GEN_COUNT]; /* now */
	struct gen_sample samples[GEN_SAMPLES];
	size_t nsamples;
	uint64_t stride, in_interval;
	int have_best;
	struct gen_sample best; /* the highest state of the current interval */
};

unsigned gen_bucket(uint64_t v)
{
	return v ? 64u - (unsigned)__builtin_clzll(v) : 0;
}

static unsigned med_bucket(uint64_t v)
{
	unsigned e;

	if (v < 16)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return 16 + (e - 4) * 8 + (unsigned)((v >> (e - 3)) & 7);
}

static uint64_t med_lower(unsigned idx)
{
	unsigned e, sub;

	if (idx < 16)
		return idx;
	e = (idx - 16) / 8 + 4;
	sub = (idx - 16) % 8;
	return (uint64_t)(8 + sub) << (e - 3);
}

static int med_add(struct site *s, uint64_t v)
{
	unsigned idx = med_bucket(v);
	size_t lo = 0, hi = s->nmed;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->med[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->nmed && s->med[lo].idx == idx) {
		s->med[lo].n++;
		return 0;
	}
	if (s->nmed == s->capmed) {
		size_t cap = s->capmed ? s->capmed * 2 : 4;
		struct med_entry *n = realloc(s->med, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->med = n;
		s->capmed = cap;
	}
	memmove(&s->med[lo + 1], &s->med[lo], (s->nmed - lo) * sizeof(*s->med));
	s->med[lo].idx = (uint16_t)idx;
	s->med[lo].n = 1;
	s->nmed++;
	return 0;
}

/* The lower median: the ((n + 1) / 2)-th smallest value's bucket. */
static uint64_t med_value(const struct site *s)
{
	uint64_t total = 0, rank, seen = 0;

	for (size_t i = 0; i < s->nmed; i++)
		total += s->med[i].n;
	if (!total)
		return 0;
	rank = (total + 1) / 2;
	for (size_t i = 0; i < s->nmed; i++) {
		seen += s->med[i].n;
		if (seen >= rank)
			return med_lower(s->med[i].idx);
	}
	return 0;
}

/* ---- the address table ------------------------------------------------- */

static struct slot *slot_find(const struct gen_model *m, uint64_t addr)
{
	return addrmap_find(&m->table, addr);
}

static int table_insert(struct gen_model *m, uint64_t addr, uint32_t node)
{
	struct slot s = { .addr = addr, .node = node };

	return addrmap_insert(&m->table, &s);
}

/* ---- nodes and generation lists ---------------------------------------- */

static int node_new(struct gen_model *m, uint32_t *out)
{
	if (m->free_nodes != NIL) {
		*out = m->free_nodes;
		m->free_nodes = m->nodes[*out].next;
		return 0;
	}
	if (m->nnodes == m->capnodes) {
		uint32_t cap = m->capnodes ? m->capnodes * 2 : 1024;
		struct node *n;

		if (cap >= NIL)
			return -ENOMEM;
		n = realloc(m->nodes, (size_t)cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->nodes = n;
		m->capnodes = cap;
	}
	*out = m->nnodes++;
	return 0;
}

static void list_append(struct gen_model *m, unsigned g, uint32_t i)
{
	struct node *n = &m->nodes[i];

	n->gen = (uint8_t)g;
	n->next = NIL;
	n->prev = m->tail[g];
	if (m->tail[g] != NIL)
		m->nodes[m->tail[g]].next = i;
	else
		m->head[g] = i;
	m->tail[g] = i;
}

static void list_unlink(struct gen_model *m, uint32_t i)
{
	struct node *n = &m->nodes[i];

	if (n->prev != NIL)
		m->nodes[n->prev].next = n->next;
	else
		m->head[n->gen] = n->next;
	if (n->next != NIL)
		m->nodes[n->next].prev = n->prev;
	else
		m->tail[n->gen] = n->prev;
}

/* Moves every block of generation from into to (both lists end-to-end). */
static void promote_all(struct gen_model *m, unsigned from, unsigned to)
{
	struct gen_generation *gf = &m->st.gen[from], *gt = &m->st.gen[to];

	if (m->head[from] == NIL)
		return;
	for (uint32_t i = m->head[from]; i != NIL; i = m->nodes[i].next) {
		struct node *n = &m->nodes[i];

		n->gen = (uint8_t)to;
		m->live_bytes[from] -= n->size;
		m->live_bytes[to] += n->size;
		gf->promoted++;
		gf->promoted_bytes += n->size;
		gt->entered++;
		gt->entered_bytes += n->size;
		if (to == GEN_COUNT - 1) {
			n->site->s.reached_oldest++;
			n->site->s.reached_oldest_bytes += n->size;
		}
	}
	if (m->tail[to] != NIL) {
		m->nodes[m->tail[to]].next = m->head[from];
		m->nodes[m->head[from]].prev = m->tail[to];
	} else {
		m->head[to] = m->head[from];
	}
	m->tail[to] = m->tail[from];
	m->head[from] = m->tail[from] = NIL;
}

static void collect(struct gen_model *m, unsigned g)
{
	unsigned to = g + 1 < GEN_COUNT ? g + 1 : g;

	m->st.gen[g].collections++;
	/* generations 0..g are merged and their survivors move to g + 1;
	 * the oldest generation's survivors stay where they are */
	for (unsigned k = 0; k <= g && k < GEN_COUNT - 1; k++)
		promote_all(m, k, to);
	if (g + 1 < GEN_COUNT)
		m->count[g + 1]++;
	for (unsigned k = 0; k <= g; k++)
		m->count[k] = 0;
}

/* CPython's collect_generations: the oldest generation over its threshold. */
static void collect_generations(struct gen_model *m)
{
	for (unsigned g = GEN_COUNT - 1; g > 0; g--) {
		if (m->count[g] > m->st.gen[g].threshold) {
			collect(m, g);
			return;
		}
	}
	collect(m, 0);
}

/* ---- events ------------------------------------------------------------- */

static struct site *site_get(struct gen_model *m, uint64_t stack)
{
	struct site *s;

	HASH_FIND(hh, m->sites, &stack, sizeof(stack), s);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->s.stack = stack;
	HASH_ADD(hh, m->sites, s.stack, sizeof(s->s.stack), s);
	return s;
}

static struct thread *thread_get(struct gen_model *m, uint64_t tid)
{
	struct thread *t;

	HASH_FIND(hh, m->threads, &tid, sizeof(tid), t);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	HASH_ADD(hh, m->threads, tid, sizeof(t->tid), t);
	return t;
}

/* The block of node i ends at (clock, time): it leaves its generation. */
static int die(struct gen_model *m, uint32_t i, uint64_t clock, uint64_t time, int temporary)
{
	struct node *n = &m->nodes[i];
	struct site *s = n->site;
	struct gen_generation *g = &m->st.gen[n->gen];
	uint64_t life = clock - n->birth_clock;
	uint64_t ns = time > n->birth_time ? time - n->birth_time : 0;

	g->died++;
	g->died_bytes += n->size;
	m->live_bytes[n->gen] -= n->size;
	m->st.freed++;
	m->st.hist_allocs[gen_bucket(life)]++;
	m->st.hist_ns[gen_bucket(ns)]++;
	s->s.frees++;
	s->cur_bytes -= n->size;
	if (temporary) {
		s->s.temporary++;
		m->st.temporary++;
		m->st.temporary_bytes += n->size;
	}
	list_unlink(m, i);
	n->next = m->free_nodes;
	m->free_nodes = i;
	return med_add(s, life);
}

static int on_alloc(struct gen_model *m, const struct reader_event *ev)
{
	struct slot *old = slot_find(m, ev->addr);
	struct site *s;
	struct node *n;
	uint32_t i;
	int rc;

	m->st.clock++;
	if (old) {
		/* the trace missed a free: the old block ends here */
		uint32_t oi = old->node;

		addrmap_remove(&m->table, old);
		rc = die(m, oi, m->st.clock, ev->time, 0);
		if (rc)
			return rc;
	}
	s = site_get(m, ev->stack);
	if (!s)
		return -ENOMEM;
	rc = node_new(m, &i);
	if (rc)
		return rc;
	rc = table_insert(m, ev->addr, i);
	if (rc)
		return rc;
	n = &m->nodes[i];
	n->addr = ev->addr;
	n->size = ev->size;
	n->birth_clock = m->st.clock;
	n->birth_time = ev->time;
	n->birth_seq = ev->seq;
	n->site = s;
	list_append(m, 0, i);
	m->st.gen[0].entered++;
	m->st.gen[0].entered_bytes += ev->size;
	m->live_bytes[0] += ev->size;
	s->s.allocations++;
	s->s.bytes += ev->size;
	s->cur_bytes += ev->size;
	if (s->cur_bytes > s->s.peak_bytes)
		s->s.peak_bytes = s->cur_bytes;
	m->last_alloc = ev->addr;
	m->count[0]++;
	if (m->st.gen[0].threshold && m->count[0] > m->st.gen[0].threshold)
		collect_generations(m);
	return 0;
}

static int is_realloc(uint64_t kind)
{
	return kind == RS_KIND_REALLOC || kind == RS_KIND_REALLOCARRAY;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int gen_set_snapshots(struct gen_model *m, const uint64_t *seqs, size_t n)
{
	free(m->snap_seqs);
	m->snap_seqs = NULL;
	m->nsnaps = 0;
	if (n < 2)
		return 0;
	m->snap_seqs = malloc(n * sizeof(*m->snap_seqs));
	if (!m->snap_seqs)
		return -ENOMEM;
	memcpy(m->snap_seqs, seqs, n * sizeof(*seqs));
	qsort(m->snap_seqs, n, sizeof(*seqs), u64_cmp);
	m->nsnaps = n;
	return 0;
}

struct shot_key {
	uint64_t interval, stack;
};

struct shot_entry {
	struct shot_key k;
	struct gen_heapshot_site s;
	UT_hash_handle hh;
};

static int shot_site_cmp(const void *a, const void *b)
{
	const struct gen_heapshot_site *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The interval of a birth seq: the number of snapshot seqs <= it. */
static size_t interval_of(const struct gen_model *m, uint64_t seq)
{
	size_t lo = 0, hi = m->nsnaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->snap_seqs[mid] <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Groups the live set by birth interval and site: the heap as the last
 * snapshot saw it. */
static int capture(struct gen_model *m)
{
	struct shot_entry *map = NULL, *e, *tmp;
	size_t *fill = NULL;
	int rc = 0;

	m->captured = 1;
	m->shots = calloc(m->nsnaps, sizeof(*m->shots));
	fill = calloc(m->nsnaps, sizeof(*fill));
	if (!m->shots || !fill) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < m->nsnaps; k++) {
		m->shots[k].from_seq = k ? m->snap_seqs[k - 1] : 0;
		m->shots[k].to_seq = m->snap_seqs[k];
	}
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		for (uint32_t i = m->head[g]; i != NIL; i = m->nodes[i].next) {
			const struct node *n = &m->nodes[i];
			struct shot_key key = { interval_of(m, n->birth_seq), n->site->s.stack };

			if (key.interval >= m->nsnaps)
				continue; /* born after the last snapshot: cannot happen before it */
			HASH_FIND(hh, map, &key, sizeof(key), e);
			if (!e) {
				e = calloc(1, sizeof(*e));
				if (!e) {
					rc = -ENOMEM;
					goto out;
				}
				e->k = key;
				e->s.stack = key.stack;
				HASH_ADD(hh, map, k, sizeof(e->k), e);
				m->shots[key.interval].nsites++;
			}
			e->s.blocks++;
			e->s.bytes += n->size;
			m->shots[key.interval].blocks++;
			m->shots[key.interval].bytes += n->size;
		}
	}
	for (size_t k = 0; k < m->nsnaps; k++) {
		m->shots[k].sites = calloc(m->shots[k].nsites ? m->shots[k].nsites : 1,
					   sizeof(*m->shots[k].sites));
		if (!m->shots[k].sites) {
			rc = -ENOMEM;
			goto out;
		}
	}
	HASH_ITER(hh, map, e, tmp)
		m->shots[e->k.interval].sites[fill[e->k.interval]++] = e->s;
	for (size_t k = 0; k < m->nsnaps; k++)
		qsort(m->shots[k].sites, m->shots[k].nsites, sizeof(*m->shots[k].sites), shot_site_cmp);
out:
	HASH_ITER(hh, map, e, tmp) {
		HASH_DEL(map, e);
		free(e);
	}
	free(fill);
	return rc;
}

const struct gen_heapshot *gen_heapshots(const struct gen_model *m, size_t *n)
{
	*n = m->shots ? m->nsnaps : 0;
	return m->shots;
}

static uint64_t sample_total(const struct gen_sample *s)
{
	uint64_t t = 0;

	for (unsigned g = 0; g < GEN_COUNT; g++)
		t += s->bytes[g];
	return t;
}

static void sample_push(struct gen_model *m)
{
	if (m->nsamples == GEN_SAMPLES) {
		for (size_t i = 0; i < GEN_SAMPLES / 2; i++) {
			const struct gen_sample *a = &m->samples[2 * i], *b = &m->samples[2 * i + 1];

			m->samples[i] = sample_total(b) > sample_total(a) ? *b : *a;
		}
		m->nsamples = GEN_SAMPLES / 2;
		m->stride *= 2;
	}
	m->samples[m->nsamples++] = m->best;
	m->have_best = 0;
	m->in_interval = 0;
}

static void sample_note(struct gen_model *m, const struct reader_event *ev)
{
	struct gen_sample now = { .time = ev->time, .clock = m->st.clock, .seq = ev->seq };

	memcpy(now.bytes, m->live_bytes, sizeof(now.bytes));
	if (!m->have_best || sample_total(&now) > sample_total(&m->best)) {
		m->best = now;
		m->have_best = 1;
	}
	if (++m->in_interval >= m->stride)
		sample_push(m);
}

static int gen_event_apply(struct gen_model *m, const struct reader_event *ev);

int gen_event(struct gen_model *m, const struct reader_event *ev)
{
	int rc = gen_event_apply(m, ev);

	if (!rc)
		sample_note(m, ev);
	return rc;
}

size_t gen_node_capacity(const struct gen_model *m)
{
	return m->capnodes;
}

size_t gen_table_capacity(const struct gen_model *m)
{
	return m->table.cap;
}

int gen_generation_of(const struct gen_model *m, uint64_t addr)
{
	const struct slot *s = addr ? slot_find(m, addr) : NULL;

	return s ? m->nodes[s->node].gen : -1;
}

const struct gen_sample *gen_timeline(const struct gen_model *m, size_t *n)
{
	*n = m->nsamples;
	return m->samples;
}

static int gen_event_apply(struct gen_model *m, const struct reader_event *ev)
{
	struct thread *th = thread_get(m, ev->tid);
	struct slot *s;
	int rc, temp;

	if (!th)
		return -ENOMEM;
	/* the last snapshot saw the heap after every event below its seq */
	if (m->nsnaps && !m->captured && ev->seq >= m->snap_seqs[m->nsnaps - 1]) {
		rc = capture(m);
		if (rc)
			return rc;
	}
	m->st.end_time = ev->time;
	/* a realloc's FREE is final unless this event says the realloc failed */
	if (th->pending && !(ev->type == RS_EV_ALLOC_FAILED && ev->old == th->pend_addr)) {
		th->pending = 0;
		rc = die(m, th->pend_node, th->pend_clock, th->pend_time, th->pend_temp);
		if (rc)
			return rc;
	}
	switch (ev->type) {
	case RS_EV_ALLOC:
		if (ev->addr == 0)
			break;
		return on_alloc(m, ev);
	case RS_EV_FREE:
		if (ev->addr == 0)
			break;
		temp = ev->addr == m->last_alloc;
		m->last_alloc = 0;
		s = slot_find(m, ev->addr);
		if (!s)
			break;
		uint32_t i = s->node;

		addrmap_remove(&m->table, s);
		if (m->count[0] > 0)
			m->count[0]--;
		if (is_realloc(ev->kind)) {
			th->pending = 1;
			th->pend_temp = temp;
			th->pend_node = i;
			th->pend_addr = ev->addr;
			th->pend_clock = m->st.clock;
			th->pend_time = ev->time;
			break;
		}
		return die(m, i, m->st.clock, ev->time, temp);
	case RS_EV_ALLOC_FAILED:
		if (!th->pending || ev->old != th->pend_addr)
			break;
		/* the realloc failed: its block never left */
		th->pending = 0;
		m->count[0]++;
		if (slot_find(m, ev->old))
			return die(m, th->pend_node, th->pend_clock, th->pend_time, 0);
		return table_insert(m, ev->old, th->pend_node);
	default:
		break;
	}
	return 0;
}

int gen_new(const uint64_t *thresholds, struct gen_model **out)
{
	static const uint64_t defaults[GEN_COUNT] = { 700, 10, 10 };
	struct gen_model *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	if (addrmap_init(&m->table, sizeof(struct slot))) {
		free(m);
		return -ENOMEM;
	}
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		m->st.gen[g].threshold = thresholds ? thresholds[g] : defaults[g];
		m->head[g] = m->tail[g] = NIL;
	}
	m->free_nodes = NIL;
	m->stride = 1;
	*out = m;
	return 0;
}

int gen_finish(struct gen_model *m)
{
	struct thread *t, *tmp;
	int rc;

	if (m->finished)
		return 0;
	m->finished = 1;
	if (m->nsnaps && !m->captured) {
		rc = capture(m);
		if (rc)
			return rc;
	}
	HASH_ITER(hh, m->threads, t, tmp) {
		if (t->pending) {
			t->pending = 0;
			rc = die(m, t->pend_node, t->pend_clock, t->pend_time, t->pend_temp);
			if (rc)
				return rc;
		}
	}
	if (m->have_best)
		sample_push(m);
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		for (uint32_t i = m->head[g]; i != NIL; i = m->nodes[i].next) {
			const struct node *n = &m->nodes[i];
			struct site *s = n->site;

			m->st.gen[g].live++;
			m->st.gen[g].live_bytes += n->size;
			s->s.live++;
			s->s.live_bytes += n->size;
			s->s.live_by_gen[g]++;
			s->s.live_bytes_by_gen[g] += n->size;
			/* its age at the end: a lower bound of its lifetime */
			rc = med_add(s, m->st.clock - n->birth_clock);
			if (rc)
				return rc;
		}
	}
	return 0;
}

const struct gen_stats *gen_stats(const struct gen_model *m)
{
	return &m->st;
}

static int site_cmp(const void *a, const void *b)
{
	const struct gen_site *x = a, *y = b;

	if (x->reached_oldest_bytes != y->reached_oldest_bytes)
		return x->reached_oldest_bytes > y->reached_oldest_bytes ? -1 : 1;
	if (x->reached_oldest != y->reached_oldest)
		return x->reached_oldest > y->reached_oldest ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->allocations != y->allocations)
		return x->allocations > y->allocations ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

int gen_sites(const struct gen_model *m, struct gen_site **out, size_t *n)
{
	size_t count = HASH_COUNT(m->sites), i = 0;
	struct gen_site *arr = malloc((count ? count : 1) * sizeof(*arr));
	const struct site *s, *tmp;

	*out = NULL;
	*n = 0;
	if (!arr)
		return -ENOMEM;
	HASH_ITER(hh, m->sites, s, tmp) {
		arr[i] = s->s;
		arr[i].median_lifetime = med_value(s);
		i++;
	}
	qsort(arr, count, sizeof(*arr), site_cmp);
	*out = arr;
	*n = count;
	return 0;
}

void gen_free(struct gen_model *m)
{
	struct site *s, *stmp;
	struct thread *t, *ttmp;

	if (!m)
		return;
	HASH_ITER(hh, m->sites, s, stmp) {
		HASH_DEL(m->sites, s);
		free(s->med);
		free(s);
	}
	HASH_ITER(hh, m->threads, t, ttmp) {
		HASH_DEL(m->threads, t);
		free(t);
	}
	for (size_t k = 0; m->shots && k < m->nsnaps; k++)
		free(m->shots[k].sites);
	free(m->shots);
	free(m->snap_seqs);
	free(m->nodes);
	addrmap_release(&m->table);
	free(m);
}
