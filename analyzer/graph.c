/*
 * graph.c - the reference graph of a snapshot: edges from the words,
 * reachability, classification of what is unreachable, the count method,
 * and the leaked cycles (see graph.h). Everything is iterative (explicit
 * queues and stacks): a chain of millions of blocks must not overflow the
 * call stack.
 */
#include "graph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cycles.h"

const char *graph_class_name(int cls)
{
	switch (cls) {
	case GRAPH_REACHABLE: return "reachable";
	case GRAPH_CYCLE: return "cycle";
	case GRAPH_HELD_BY_CYCLE: return "held_by_cycle";
	case GRAPH_PLAIN_LEAK: return "plain_leak";
	default: return "unknown";
	}
}

const char *graph_methods_name(unsigned methods)
{
	switch (methods) {
	case GRAPH_BY_REACHABILITY: return "reachability";
	case GRAPH_BY_REFCOUNT: return "refcount";
	case GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT: return "reachability+refcount";
	default: return "none";
	}
}

uint32_t graph_find(const struct graph *g, uint64_t addr)
{
	uint32_t lo = 0, hi = g->nblocks;

	/* the last block starting at or below addr */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (g->blocks[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return UINT32_MAX;
	lo--;
	if (addr == g->blocks[lo].addr || addr - g->blocks[lo].addr < g->blocks[lo].size)
		return lo;
	return UINT32_MAX;
}

/* A location inside a block (a zero-sized block holds no word). */
static uint32_t find_holder(const struct graph *g, uint64_t loc)
{
	uint32_t b = graph_find(g, loc);

	if (b != UINT32_MAX && loc - g->blocks[b].addr >= g->blocks[b].size)
		return UINT32_MAX;
	return b;
}

static int edge_cmp(const void *a, const void *b)
{
	const struct graph_edge *x = a, *y = b;

	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* ANON regions that hold a live block are allocator memory, not roots.
 * At exit, the stack of the thread taking the snapshot holds only frames
 * that will never run program code again (main has returned, or exit was
 * called from them) and stale locals of frames already gone: no roots. */
static int region_is_root(const struct graph *g, const struct reader_region *rg)
{
	uint32_t b;

	if (rg->kind == RS_REGION_STACK && g->snap->trigger == RS_SNAP_EXIT && rg->tid == g->snap->tid)
		return 0;
	if (rg->kind == RS_REGION_DATA || rg->kind == RS_REGION_STACK || rg->kind == RS_REGION_TLS)
		return 1;
	if (rg->kind != RS_REGION_ANON)
		return 0;
	if (rg->start == rg->end)
		return 1;
	b = graph_find(g, rg->start);
	if (b != UINT32_MAX)
		return 0;
	/* the first block at or after start */
	{
		uint32_t lo = 0, hi = g->nblocks;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (g->blocks[mid].addr < rg->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo == g->nblocks || g->blocks[lo].addr >= rg->end;
	}
}

int graph_build(struct graph *g, const struct reader_snapshot *snap, struct heap_block *blocks,
		size_t nblocks, const struct reader_word *words, size_t nwords)
{
	uint8_t *root_region = NULL;
	size_t cap_edges = 0, cap_roots = 0;

	memset(g, 0, sizeof(*g));
	g->snap = snap;
	g->blocks = blocks;
	if (nblocks >= UINT32_MAX)
		return -ENOMEM;
	g->nblocks = (uint32_t)nblocks;
	g->words = nwords;
	root_region = calloc(snap->nregions ? snap->nregions : 1, 1);
	if (!root_region)
		return -ENOMEM;
	for (size_t i = 0; i < snap->nregions; i++)
		root_region[i] = (uint8_t)region_is_root(g, &snap->regions[i]);
	for (size_t i = 0; i < nwords; i++) {
		const struct reader_word *w = &words[i];
		uint32_t dst = graph_find(g, w->value), src;
		uint8_t interior;

		if (dst == UINT32_MAX) {
			g->words_ignored++;
			continue;
		}
		interior = w->value != g->blocks[dst].addr;
		src = find_holder(g, w->loc);
		if (src != UINT32_MAX) {
			if (g->nedges == cap_edges) {
				size_t cap = cap_edges ? cap_edges * 2 : 1024;
				struct graph_edge *n = realloc(g->edges, cap * sizeof(*n));

				if (!n)
					goto nomem;
				g->edges = n;
				cap_edges = cap;
			}
			g->edges[g->nedges++] = (struct graph_edge){
				src, dst, w->loc - g->blocks[src].addr, w->value, interior
			};
		} else if (w->region < snap->nregions && root_region[w->region]) {
			if (g->nroots == cap_roots) {
				size_t cap = cap_roots ? cap_roots * 2 : 256;
				struct graph_root *n = realloc(g->roots, cap * sizeof(*n));

				if (!n)
					goto nomem;
				g->roots = n;
				cap_roots = cap;
			}
			g->roots[g->nroots++] = (struct graph_root){ dst, w->region, w->loc, w->value, interior };
		} else {
			g->words_ignored++;
		}
	}
	free(root_region);
	root_region = NULL;
	if (g->nedges)	/* edges is NULL without any: qsort must not see it */
		qsort(g->edges, g->nedges, sizeof(*g->edges), edge_cmp);
	g->off = calloc((size_t)g->nblocks + 1, sizeof(*g->off));
	g->adj = malloc((g->nedges ? g->nedges : 1) * sizeof(*g->adj));
	g->cls = calloc(g->nblocks ? g->nblocks : 1, 1);
	if (!g->off || !g->adj || !g->cls)
		goto nomem;
	for (size_t e = 0; e < g->nedges; e++) {
		g->off[g->edges[e].src + 1]++;
		g->adj[e] = g->edges[e].dst;
	}
	for (uint32_t v = 0; v < g->nblocks; v++)
		g->off[v + 1] += g->off[v];
	return 0;
nomem:
	free(root_region);
	return -ENOMEM;
}

void graph_set_counts(struct graph *g, uint8_t *counted, int64_t *balance)
{
	free(g->counted);
	free(g->balance);
	g->counted = counted;
	g->balance = balance;
}

/* Marks everything reachable from the marked blocks in queue[0..n)
 * through the edges ok[] allows. */
static void spread(const struct graph *g, uint8_t *mark, uint32_t *queue, size_t n, const uint8_t *ok)
{
	size_t head = 0;

	while (head < n) {
		uint32_t v = queue[head++];

		for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t w = g->adj[e];

			if (mark[w] || !ok[e])
				continue;
			mark[w] = 1;
			queue[n++] = w;
		}
	}
}

static int has_self_loop(const struct graph *g, uint32_t v, const uint8_t *ok)
{
	for (size_t e = g->off[v]; e < g->off[v + 1]; e++)
		if (g->adj[e] == v && (!ok || ok[e]))
			return 1;
	return 0;
}

static int cycle_cmp(const void *a, const void *b)
{
	const struct graph_cycle *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->nmembers != y->nmembers)
		return x->nmembers > y->nmembers ? -1 : 1;
	return x->members[0] < y->members[0] ? -1 : x->members[0] > y->members[0];
}

/*
 * Collects the cycles among the components: comp from cycles_scc over the
 * blocks in member[], is_cycle[c] set for the components that are cycles.
 * Hanging blocks: reachable from the cycle through blocks in member[] that
 * are in no cycle. stamp: scratch, one entry per block.
 */
static int collect_cycles(struct graph *g, const uint32_t *comp, uint32_t ncomp, const uint8_t *is_cycle,
			  const uint8_t *member, const uint8_t *ok, unsigned method, uint32_t *stamp,
			  uint32_t *queue)
{
	size_t *count = calloc((size_t)ncomp + 1, sizeof(*count));
	size_t *slot = calloc((size_t)ncomp + 1, sizeof(*slot));
	size_t first = g->ncycles, ncyc = 0;
	struct graph_cycle *n;

	if (!count || !slot)
		goto nomem;
	for (uint32_t v = 0; v < g->nblocks; v++)
		if (comp[v] != CYCLES_NONE && is_cycle[comp[v]])
			count[comp[v]]++;
	for (uint32_t c = 0; c < ncomp; c++)
		if (is_cycle[c])
			slot[c] = ncyc++;
	n = realloc(g->cycles, (g->ncycles + ncyc + 1) * sizeof(*n));
	if (!n)
		goto nomem;
	g->cycles = n;
	memset(&g->cycles[first], 0, ncyc * sizeof(*n));
	g->ncycles += ncyc;
	for (uint32_t c = 0; c < ncomp; c++) {
		struct graph_cycle *cy;

		if (!is_cycle[c])
			continue;
		cy = &g->cycles[first + slot[c]];
		cy->methods = method;
		cy->members = malloc(count[c] * sizeof(*cy->members));
		if (!cy->members)
			goto nomem;
	}
	for (uint32_t v = 0; v < g->nblocks; v++) {
		struct graph_cycle *cy;

		if (comp[v] == CYCLES_NONE || !is_cycle[comp[v]])
			continue;
		cy = &g->cycles[first + slot[comp[v]]];
		cy->members[cy->nmembers++] = v;
		cy->bytes += g->blocks[v].size;
	}
	for (size_t k = first; k < g->ncycles; k++) {
		struct graph_cycle *cy = &g->cycles[k];
		uint32_t c = comp[cy->members[0]];
		size_t nclosing = 0, nq = 0, head = 0, nh = 0;
		uint32_t mark = (uint32_t)k + 1;

		for (size_t i = 0; i < cy->nmembers; i++) {
			uint32_t v = cy->members[i];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++)
				if (comp[g->adj[e]] == c && (!ok || ok[e]))
					nclosing++;
		}
		cy->closing = malloc((nclosing ? nclosing : 1) * sizeof(*cy->closing));
		if (!cy->closing)
			goto nomem;
		for (size_t i = 0; i < cy->nmembers; i++) {
			uint32_t v = cy->members[i];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++)
				if (comp[g->adj[e]] == c && (!ok || ok[e]))
					cy->closing[cy->nclosing++] = e;
			stamp[v] = mark;
			queue[nq++] = v;
		}
		/* what hangs off it: blocks in no cycle, reached through it */
		while (head < nq) {
			uint32_t v = queue[head++];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
				uint32_t w = g->adj[e];

				if (stamp[w] == mark || !member[w] || (ok && !ok[e]) ||
				    (comp[w] != CYCLES_NONE && is_cycle[comp[w]]))
					continue;
				stamp[w] = mark;
				queue[nq++] = w;
				nh++;
			}
		}
		cy->hanging = malloc((nh ? nh : 1) * sizeof(*cy->hanging));
		if (!cy->hanging)
			goto nomem;
		for (size_t i = cy->nmembers; i < nq; i++) {
			cy->hanging[cy->nhanging++] = queue[i];
			cy->hanging_bytes += g->blocks[queue[i]].size;
		}
	}
	free(count);
	free(slot);
	return 0;
nomem:
	free(count);
	free(slot);
	return -ENOMEM;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- which pointer fields hold counted references ------------------------ */

/* Edges by field: the size of the block holding the pointer, its offset. */
static int field_cmp(const void *a, const void *b, void *arg)
{
	const struct graph *g = arg;
	const struct graph_edge *x = &g->edges[*(const size_t *)a];
	const struct graph_edge *y = &g->edges[*(const size_t *)b];
	uint64_t xs = g->blocks[x->src].size, ys = g->blocks[y->src].size;

	if (xs != ys)
		return xs < ys ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

/*
 * Decides which pointers to refcounted blocks, found in refcounted blocks or
 * in the buffers they own, are counted references (g->edge_counted). Pointers are grouped by field: the size of the block
 * holding them and their offset in it. All fields start counted; while some
 * object is pointed to by more counted pointers than its balance (a count
 * cannot be lower than the references that hold it), the field with the
 * most pointers into such objects is taken as uncounted. Two fields that
 * are each other's inverse (a->f == b exactly when b->g == a: the next and
 * prev of an intrusive list of all instances) go together, and first on a
 * tie: a doubly linked list would otherwise tie with a counted link and
 * join every object into one strongly connected component.
 */
static int infer_counted_fields(struct graph *g, const uint32_t *owner)
{
	size_t ncand = 0, ncls = 0;
	size_t *idx = NULL, *cls_of = NULL, *cls_edges = NULL, *partner = NULL, *score = NULL;
	uint8_t *included = NULL;
	int64_t *load = NULL;
	uint32_t n = g->nblocks;
	int rc = -ENOMEM;

	g->edge_counted = calloc(g->nedges ? g->nedges : 1, 1);
	idx = malloc((g->nedges ? g->nedges : 1) * sizeof(*idx));
	cls_of = malloc((g->nedges ? g->nedges : 1) * sizeof(*cls_of));
	load = calloc(n ? n : 1, sizeof(*load));
	if (!g->edge_counted || !idx || !cls_of || !load)
		goto out;
	for (size_t e = 0; e < g->nedges; e++) {
		const struct graph_edge *ed = &g->edges[e];

		cls_of[e] = SIZE_MAX;
		if (!ed->interior && g->counted[ed->dst] && owner[ed->src] != UINT32_MAX)
			idx[ncand++] = e;
	}
	qsort_r(idx, ncand, sizeof(*idx), field_cmp, g);
	for (size_t i = 0; i < ncand; i++) {
		if (i && field_cmp(&idx[i - 1], &idx[i], g) != 0)
			ncls++;
		cls_of[idx[i]] = ncls;
	}
	if (ncand)
		ncls++;
	cls_edges = calloc(ncls + 1, sizeof(*cls_edges));
	partner = malloc((ncls + 1) * sizeof(*partner));
	score = calloc(ncls + 1, sizeof(*score));
	included = malloc(ncls + 1);
	if (!cls_edges || !partner || !score || !included)
		goto out;
	memset(included, 1, ncls + 1);
	for (size_t i = 0; i < ncand; i++) {
		cls_edges[cls_of[idx[i]]]++;
		load[g->edges[idx[i]].dst]++;
	}
	/* inverse fields: for each field, the field holding the reverse of
	 * most of its pointers */
	for (size_t c = 0; c <= ncls; c++)
		partner[c] = SIZE_MAX;
	if (ncls <= 4096) {
		size_t first = 0;

		while (first < ncand) {
			size_t c = cls_of[idx[first]], best = SIZE_MAX;

			memset(score, 0, (ncls + 1) * sizeof(*score));
			for (; first < ncand && cls_of[idx[first]] == c; first++) {
				const struct graph_edge *ed = &g->edges[idx[first]];

				for (size_t e = g->off[ed->dst]; e < g->off[ed->dst + 1]; e++)
					if (g->adj[e] == ed->src && cls_of[e] != SIZE_MAX && cls_of[e] != c)
						score[cls_of[e]]++;
			}
			for (size_t k = 0; k < ncls; k++)
				if (score[k] && (best == SIZE_MAX || score[k] > score[best]))
					best = k;
			/* nine in ten of both fields' pointers are mutual */
			if (best != SIZE_MAX && score[best] * 10 >= cls_edges[c] * 9 &&
			    score[best] * 10 >= cls_edges[best] * 9)
				partner[c] = best;
		}
		for (size_t c = 0; c < ncls; c++)
			if (partner[c] != SIZE_MAX && partner[partner[c]] != c)
				partner[c] = SIZE_MAX;
	}
	for (;;) {
		size_t best = SIZE_MAX, best_score = 0;
		int any = 0;

		memset(score, 0, (ncls + 1) * sizeof(*score));
		for (size_t i = 0; i < ncand; i++) {
			const struct graph_edge *ed = &g->edges[idx[i]];
			size_t c = cls_of[idx[i]];

			/* a negative balance is a trace that missed retains:
			 * it says nothing about which fields count */
			if (c < ncls && included[c] && g->balance[ed->dst] >= 0 &&
			    load[ed->dst] > g->balance[ed->dst]) {
				score[c]++;
				any = 1;
			}
		}
		if (!any)
			break;
		for (size_t c = 0; c < ncls; c++) {
			size_t sc;
			int pair, best_pair;

			if (!included[c] || !score[c])
				continue;
			pair = partner[c] != SIZE_MAX;
			best_pair = best != SIZE_MAX && partner[best] != SIZE_MAX;
			sc = score[c] + (pair ? score[partner[c]] : 0);
			if (best == SIZE_MAX || sc > best_score || (sc == best_score && pair && !best_pair)) {
				best = c;
				best_score = sc;
			}
		}
		if (best == SIZE_MAX)
			break;
		included[best] = 0;
		if (partner[best] != SIZE_MAX)
			included[partner[best]] = 0;
		for (size_t i = 0; i < ncand; i++) {
			size_t c = cls_of[idx[i]];

			if (c < ncls && !included[c]) {
				load[g->edges[idx[i]].dst]--;
				cls_of[idx[i]] = ncls; /* taken out once */
			}
		}
	}
	for (size_t i = 0; i < ncand; i++)
		g->edge_counted[idx[i]] = cls_of[idx[i]] < ncls;
	rc = 0;
out:
	free(idx);
	free(cls_of);
	free(cls_edges);
	free(partner);
	free(score);
	free(included);
	free(load);
	return rc;
}

/*
 * The refcounted block that owns each block: itself for a refcounted block;
 * for another block, the owner of the only block pointing to it (a buffer
 * such as GObject's qdata array belongs to its object, and the references
 * it holds are the object's). UINT32_MAX: no owner (pointed to by a root,
 * by several blocks, or by none).
 */
static uint32_t *find_owners(const struct graph *g)
{
	uint32_t n = g->nblocks;
	uint32_t *src = malloc((n ? n : 1) * sizeof(*src));
	uint32_t *owner = malloc((n ? n : 1) * sizeof(*owner));
	const uint32_t many = UINT32_MAX - 1;

	if (!src || !owner) {
		free(src);
		free(owner);
		return NULL;
	}
	for (uint32_t v = 0; v < n; v++)
		src[v] = UINT32_MAX;
	for (size_t e = 0; e < g->nedges; e++) {
		uint32_t a = g->edges[e].src, b = g->edges[e].dst;

		if (a == b || g->counted[b])
			continue;
		src[b] = src[b] == UINT32_MAX || src[b] == a ? a : many;
	}
	for (size_t i = 0; i < g->nroots; i++)
		src[g->roots[i].dst] = many;
	for (uint32_t v = 0; v < n; v++) {
		uint32_t w = v;
		int steps = 0;

		/* up the chain of sole holders, a bounded number of steps (a
		 * ring of plain blocks has no owner) */
		while (!g->counted[w] && src[w] < many && steps++ < 64)
			w = src[w];
		owner[v] = g->counted[w] ? w : UINT32_MAX;
	}
	free(src);
	return owner;
}

/* The count method (see graph.h); adds its cycles, or marks the
 * reachability cycles it finds too. */
static int count_method(struct graph *g, const uint32_t *reach_comp, const uint8_t *reach_is_cycle,
			uint32_t *stamp, uint32_t *queue)
{
	uint32_t n = g->nblocks, ncomp = 0;
	uint8_t *garbage = calloc(n ? n : 1, 1), *is_cycle = NULL;
	uint8_t *ok = malloc(g->nedges ? g->nedges : 1);
	uint32_t *comp = malloc((n ? n : 1) * sizeof(*comp));
	size_t *soff = calloc((size_t)n + 1, sizeof(*soff));
	uint32_t *sadj = malloc((g->nedges ? g->nedges : 1) * sizeof(*sadj));
	uint32_t *owner = NULL;
	size_t nq = 0, before = g->ncycles, kept;
	int rc = -ENOMEM;

	g->gc_refs = calloc(n ? n : 1, sizeof(*g->gc_refs));
	g->count_alive = calloc(n ? n : 1, 1);
	if (!garbage || !ok || !comp || !soff || !sadj || !g->gc_refs || !g->count_alive)
		goto out;
	owner = find_owners(g);
	if (!owner)
		goto out;
	rc = infer_counted_fields(g, owner);
	if (rc)
		goto out;
	rc = -ENOMEM;
	for (uint32_t v = 0; v < n; v++)
		g->gc_refs[v] = g->counted[v] ? g->balance[v] : 0;
	/* liveness follows counted references, and any pointer into a block
	 * that is not refcounted (an object's own buffers) */
	for (size_t e = 0; e < g->nedges; e++) {
		const struct graph_edge *ed = &g->edges[e];

		if (g->edge_counted[e])
			g->gc_refs[ed->dst]--;
		ok[e] = g->edge_counted[e] || !g->counted[ed->dst];
	}
	/* held from outside: alive, and all they reach */
	for (uint32_t v = 0; v < n; v++) {
		if (g->counted[v] && g->gc_refs[v] > 0) {
			g->count_alive[v] = 1;
			queue[nq++] = v;
		}
	}
	spread(g, g->count_alive, queue, nq, ok);
	/* from the roots, only into blocks that are not refcounted: a
	 * refcounted block is held by its count, not by uncounted pointers */
	nq = 0;
	for (size_t i = 0; i < g->nroots; i++) {
		uint32_t v = g->roots[i].dst;

		if (g->count_alive[v] || g->counted[v])
			continue;
		g->count_alive[v] = 1;
		queue[nq++] = v;
	}
	spread(g, g->count_alive, queue, nq, ok);
	for (uint32_t v = 0; v < n; v++) {
		garbage[v] = !g->count_alive[v];
		if (garbage[v] && g->counted[v])
			g->count_garbage++;
	}
	/* components over the edges liveness follows */
	for (size_t e = 0; e < g->nedges; e++)
		if (ok[e])
			soff[g->edges[e].src + 1]++;
	for (uint32_t v = 0; v < n; v++)
		soff[v + 1] += soff[v];
	{
		size_t k = 0;

		for (size_t e = 0; e < g->nedges; e++)
			if (ok[e])
				sadj[k++] = g->edges[e].dst;
	}
	rc = cycles_scc(n, soff, sadj, garbage, comp, &ncomp);
	if (rc)
		goto out;
	rc = -ENOMEM;
	is_cycle = calloc((size_t)ncomp + 1, 1);
	if (!is_cycle)
		goto out;
	{
		/* a cycle: more than one block or a self-loop, and refcounted */
		uint32_t *size = calloc((size_t)ncomp + 1, sizeof(*size));
		uint8_t *has_counted = calloc((size_t)ncomp + 1, 1);

		if (!size || !has_counted) {
			free(size);
			free(has_counted);
			goto out;
		}
		for (uint32_t v = 0; v < n; v++) {
			if (comp[v] == CYCLES_NONE)
				continue;
			size[comp[v]]++;
			if (g->counted[v])
				has_counted[comp[v]] = 1;
			if (has_self_loop(g, v, ok))
				is_cycle[comp[v]] = 1;
		}
		for (uint32_t c = 0; c < ncomp; c++)
			is_cycle[c] = has_counted[c] && (size[c] > 1 || is_cycle[c]);
		free(size);
		free(has_counted);
	}
	memset(stamp, 0, n * sizeof(*stamp));
	rc = collect_cycles(g, comp, ncomp, is_cycle, garbage, ok, GRAPH_BY_REFCOUNT, stamp, queue);
	if (rc)
		goto out;
	/* a cycle reachability found as well: one cycle, both methods */
	kept = before;
	for (size_t k = before; k < g->ncycles; k++) {
		struct graph_cycle *cy = &g->cycles[k];
		uint32_t rcmp = reach_comp[cy->members[0]];
		size_t same = 0, match = SIZE_MAX;

		if (rcmp != CYCLES_NONE && reach_is_cycle[rcmp]) {
			for (size_t i = 0; i < cy->nmembers; i++)
				same += reach_comp[cy->members[i]] == rcmp;
			for (size_t j = 0; j < before && same == cy->nmembers; j++) {
				if (g->cycles[j].nmembers == cy->nmembers &&
				    reach_comp[g->cycles[j].members[0]] == rcmp) {
					match = j;
					break;
				}
			}
		}
		if (match != SIZE_MAX) {
			g->cycles[match].methods |= GRAPH_BY_REFCOUNT;
			free(cy->members);
			free(cy->closing);
			free(cy->hanging);
			continue;
		}
		g->cycles[kept++] = *cy;
	}
	g->ncycles = kept;
	rc = 0;
out:
	free(owner);
	free(garbage);
	free(ok);
	free(comp);
	free(soff);
	free(sadj);
	free(is_cycle);
	return rc;
}

int graph_analyze(struct graph *g)
{
	uint32_t n = g->nblocks, ncomp = 0;
	uint8_t *reach = calloc(n ? n : 1, 1), *unreach = calloc(n ? n : 1, 1), *is_cycle = NULL;
	uint32_t *comp = malloc((n ? n : 1) * sizeof(*comp));
	uint32_t *queue = malloc((n ? n : 1) * sizeof(*queue));
	uint32_t *stamp = calloc(n ? n : 1, sizeof(*stamp));
	uint32_t *size = NULL;
	size_t nq = 0;
	int rc = -ENOMEM;

	if (!reach || !unreach || !comp || !queue || !stamp)
		goto out;
	for (size_t i = 0; i < g->nroots; i++) {
		uint32_t v = g->roots[i].dst;

		if (!reach[v]) {
			reach[v] = 1;
			queue[nq++] = v;
		}
	}
	{
		/* spread() consults counted[] only when told not to enter */
		size_t head = 0;

		while (head < nq) {
			uint32_t v = queue[head++];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
				uint32_t w = g->adj[e];

				if (!reach[w]) {
					reach[w] = 1;
					queue[nq++] = w;
				}
			}
		}
	}
	for (uint32_t v = 0; v < n; v++)
		unreach[v] = !reach[v];
	rc = cycles_scc(n, g->off, g->adj, unreach, comp, &ncomp);
	if (rc)
		goto out;
	rc = -ENOMEM;
	is_cycle = calloc((size_t)ncomp + 1, 1);
	size = calloc((size_t)ncomp + 1, sizeof(*size));
	if (!is_cycle || !size)
		goto out;
	for (uint32_t v = 0; v < n; v++) {
		if (comp[v] == CYCLES_NONE)
			continue;
		size[comp[v]]++;
		if (has_self_loop(g, v, NULL))
			is_cycle[comp[v]] = 1;
	}
	for (uint32_t c = 0; c < ncomp; c++)
		if (size[c] > 1)
			is_cycle[c] = 1;
	/* classes: cycle members, then what they hold, the rest plain */
	nq = 0;
	for (uint32_t v = 0; v < n; v++) {
		if (reach[v]) {
			g->cls[v] = GRAPH_REACHABLE;
		} else if (is_cycle[comp[v]]) {
			g->cls[v] = GRAPH_CYCLE;
			queue[nq++] = v;
		} else {
			g->cls[v] = GRAPH_PLAIN_LEAK;
		}
	}
	{
		size_t head = 0;

		while (head < nq) {
			uint32_t v = queue[head++];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
				uint32_t w = g->adj[e];

				if (g->cls[w] != GRAPH_PLAIN_LEAK)
					continue;
				g->cls[w] = GRAPH_HELD_BY_CYCLE;
				queue[nq++] = w;
			}
		}
	}
	for (uint32_t v = 0; v < n; v++) {
		g->totals[g->cls[v]].blocks++;
		g->totals[g->cls[v]].bytes += g->blocks[v].size;
	}
	rc = collect_cycles(g, comp, ncomp, is_cycle, unreach, NULL, GRAPH_BY_REACHABILITY, stamp, queue);
	if (rc)
		goto out;
	if (g->counted) {
		rc = count_method(g, comp, is_cycle, stamp, queue);
		if (rc)
			goto out;
	}
	for (size_t k = 0; k < g->ncycles; k++) {
		qsort(g->cycles[k].members, g->cycles[k].nmembers, sizeof(uint32_t), u32_cmp);
		qsort(g->cycles[k].hanging, g->cycles[k].nhanging, sizeof(uint32_t), u32_cmp);
	}
	if (g->ncycles)
		qsort(g->cycles, g->ncycles, sizeof(*g->cycles), cycle_cmp);
	rc = 0;
out:
	free(reach);
	free(unreach);
	free(is_cycle);
	free(size);
	free(comp);
	free(queue);
	free(stamp);
	return rc;
}

void graph_release(struct graph *g)
{
	for (size_t k = 0; k < g->ncycles; k++) {
		free(g->cycles[k].members);
		free(g->cycles[k].closing);
		free(g->cycles[k].hanging);
	}
	free(g->cycles);
	free(g->blocks);
	free(g->edges);
	free(g->off);
	free(g->adj);
	free(g->roots);
	free(g->cls);
	free(g->counted);
	free(g->balance);
	free(g->gc_refs);
	free(g->count_alive);
	free(g->edge_counted);
	memset(g, 0, sizeof(*g));
}
