/*
 * pygraph.c - the collector's algorithm on a Python-aware snapshot, and
 * the leaked cycles (see pygraph.h for what and why).
 */
#include "pygraph.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cycles.h"

/* The block containing addr (blocks sorted by address), or PYGRAPH_NONE. */
static uint32_t block_of(const struct pygraph *g, uint64_t addr)
{
	size_t lo = 0, hi = g->nblocks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->blocks[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return PYGRAPH_NONE;
	lo--;
	if (addr < g->blocks[lo].addr + (g->blocks[lo].size ? g->blocks[lo].size : 1))
		return (uint32_t)lo;
	return PYGRAPH_NONE;
}

uint64_t pygraph_obj_bytes(const struct pygraph *g, uint32_t i)
{
	return g->block[i] == PYGRAPH_NONE ? 0 : g->blocks[g->block[i]].size;
}

uint64_t pygraph_obj_stack(const struct pygraph *g, uint32_t i)
{
	return g->block[i] == PYGRAPH_NONE ? 0 : g->blocks[g->block[i]].stack;
}

const char *pygraph_type_name(const struct py_snapshot *s, uint32_t type)
{
	const char *n = py_string(s, type);

	return strncmp(n, "__main__.", 9) ? n : n + 9;
}

static int block_cmp(const void *a, const void *b)
{
	const struct heap_block *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* A type of the program or a library ("module.qualname"), not a builtin. */
static int user_type(const struct py_snapshot *s, uint32_t type)
{
	return strchr(py_string(s, type), '.') != NULL;
}

static const struct py_snapshot *sort_snap;	/* for count_cmp (qsort has no context) */

static int count_cmp(const void *a, const void *b)
{
	const struct pygraph_count *x = a, *y = b;
	int ux = user_type(sort_snap, x->type), uy = user_type(sort_snap, y->type);

	if (x->objects != y->objects)
		return x->objects > y->objects ? -1 : 1;
	if (ux != uy)
		return uy - ux;
	return strcmp(py_string(sort_snap, x->type), py_string(sort_snap, y->type));
}

static int cycle_cmp(const void *a, const void *b)
{
	const struct pygraph_cycle *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->nmembers != y->nmembers)
		return x->nmembers > y->nmembers ? -1 : 1;
	return x->members[0] < y->members[0] ? -1 : x->members[0] > y->members[0];
}

static int types_of(const struct pygraph *g, struct pygraph_cycle *cy)
{
	cy->types = calloc(cy->nmembers, sizeof(*cy->types));
	if (!cy->types)
		return -ENOMEM;
	for (size_t i = 0; i < cy->nmembers; i++) {
		uint32_t m = cy->members[i];
		uint32_t t = g->snap->objs[m].type;
		size_t k = 0;

		while (k < cy->ntypes && cy->types[k].type != t)
			k++;
		if (k == cy->ntypes)
			cy->types[cy->ntypes++].type = t;
		cy->types[k].objects++;
		cy->types[k].bytes += pygraph_obj_bytes(g, m);
	}
	sort_snap = g->snap;
	qsort(cy->types, cy->ntypes, sizeof(*cy->types), count_cmp);
	/* dicts every one of which a member of a user type references: the
	 * instance dicts of those objects */
	for (size_t i = 0; i < cy->nmembers; i++) {
		uint32_t m = cy->members[i];
		int held = 0;

		if (strcmp(py_string(g->snap, g->snap->objs[m].type), "dict"))
			continue;
		for (size_t e = 0; e < cy->nclosing && !held; e++)
			held = cy->closing[e].dst == m &&
			       user_type(g->snap, g->snap->objs[cy->closing[e].src].type);
		if (!held)
			return 0;
		cy->instance_dicts = 1;
	}
	return 0;
}

void pygraph_cycle_summary(const struct pygraph *g, const struct pygraph_cycle *cy, char *buf,
			   size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t k = 0; k < cy->ntypes && at < len; k++) {
		const char *name = pygraph_type_name(g->snap, cy->types[k].type);
		int w = snprintf(buf + at, len - at, "%s%llu %s%s", k ? ", " : "",
				 (unsigned long long)cy->types[k].objects, name,
				 cy->instance_dicts && !strcmp(name, "dict") ? " (instance dicts)" : "");

		if (w < 0)
			break;
		at += (size_t)w;
	}
}

int pygraph_analyze(struct pygraph *g, const struct py_snapshot *snap, struct heap_block *blocks,
		    size_t nblocks)
{
	size_t n = snap->nobjs, nedges = 0;
	size_t *off = NULL;
	uint32_t *adj = NULL, *comp = NULL, *queue = NULL, *size = NULL, *owner = NULL;
	uint8_t *garbage = NULL, *selfloop = NULL;
	uint32_t ncomp = 0;
	int rc = -ENOMEM;

	memset(g, 0, sizeof(*g));
	g->snap = snap;
	g->blocks = blocks;
	g->nblocks = nblocks;
	if (nblocks) /* blocks may be NULL then, and qsort's must not be */
		qsort(g->blocks, nblocks, sizeof(*blocks), block_cmp);
	g->block = malloc((n ? n : 1) * sizeof(*g->block));
	g->gc_refs = malloc((n ? n : 1) * sizeof(*g->gc_refs));
	g->alive = calloc(n ? n : 1, 1);
	off = calloc(n + 1, sizeof(*off));
	adj = malloc((snap->nrefs ? snap->nrefs : 1) * sizeof(*adj));
	queue = malloc((n ? n : 1) * sizeof(*queue));
	if (!g->block || !g->gc_refs || !g->alive || !off || !adj || !queue)
		goto out;

	/* update_refs, subtract_refs: only references to tracked objects count */
	for (size_t i = 0; i < n; i++) {
		g->block[i] = block_of(g, snap->objs[i].addr);
		g->gc_refs[i] = snap->objs[i].refcnt > INT64_MAX ? INT64_MAX : (int64_t)snap->objs[i].refcnt;
		g->objects++;
		g->bytes += pygraph_obj_bytes(g, (uint32_t)i);
		if (g->block[i] == PYGRAPH_NONE)
			g->unjoined++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct py_object *o = &snap->objs[i];

		off[i] = nedges;
		for (size_t k = 0; k < o->nref; k++) {
			const struct py_object *d = py_snapshot_find(snap, snap->refs[o->ref0 + k].addr);

			if (!d)
				continue;
			adj[nedges++] = (uint32_t)(d - snap->objs);
			g->gc_refs[d - snap->objs]--;
		}
	}
	off[n] = nedges;

	/* move_unreachable: alive from every object referenced from outside */
	{
		size_t head = 0, tail = 0;

		for (size_t i = 0; i < n; i++)
			if (g->gc_refs[i] > 0) {
				g->alive[i] = 1;
				queue[tail++] = (uint32_t)i;
			}
		while (head < tail) {
			uint32_t v = queue[head++];

			for (size_t e = off[v]; e < off[v + 1]; e++)
				if (!g->alive[adj[e]]) {
					g->alive[adj[e]] = 1;
					queue[tail++] = adj[e];
				}
		}
	}
	garbage = calloc(n ? n : 1, 1);
	selfloop = calloc(n ? n : 1, 1);
	comp = malloc((n ? n : 1) * sizeof(*comp));
	if (!garbage || !selfloop || !comp)
		goto out;
	for (size_t i = 0; i < n; i++) {
		garbage[i] = !g->alive[i];
		if (garbage[i]) {
			g->garbage_objects++;
			g->garbage_bytes += pygraph_obj_bytes(g, (uint32_t)i);
		}
		for (size_t e = off[i]; e < off[i + 1]; e++)
			if (adj[e] == i)
				selfloop[i] = 1;
	}
	if ((rc = cycles_scc((uint32_t)n, off, adj, garbage, comp, &ncomp)) < 0)
		goto out;
	rc = -ENOMEM;
	size = calloc(ncomp ? ncomp : 1, sizeof(*size));
	owner = malloc((ncomp ? ncomp : 1) * sizeof(*owner));	/* component -> cycle */
	if (!size || !owner)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (comp[i] != CYCLES_NONE)
			size[comp[i]]++;
	for (uint32_t c = 0; c < ncomp; c++)
		owner[c] = PYGRAPH_NONE;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = comp[i];
		struct pygraph_cycle *cy;

		if (c == CYCLES_NONE || (size[c] < 2 && !selfloop[i]))
			continue;
		if (owner[c] == PYGRAPH_NONE) {
			struct pygraph_cycle *nc = realloc(g->cycles, (g->ncycles + 1) * sizeof(*nc));

			if (!nc)
				goto out;
			g->cycles = nc;
			memset(&nc[g->ncycles], 0, sizeof(*nc));
			nc[g->ncycles].members = malloc(size[c] * sizeof(uint32_t));
			if (!nc[g->ncycles].members)
				goto out;
			owner[c] = (uint32_t)g->ncycles++;
		}
		cy = &g->cycles[owner[c]];
		cy->members[cy->nmembers++] = (uint32_t)i;
		cy->bytes += pygraph_obj_bytes(g, (uint32_t)i);
	}
	/* closing edges; what hangs off each cycle (the first to reach it) */
	for (size_t k = 0; k < g->ncycles; k++) {
		struct pygraph_cycle *cy = &g->cycles[k];
		size_t head = 0, tail = 0, ne = 0;

		for (size_t i = 0; i < cy->nmembers; i++) {
			uint32_t v = cy->members[i];

			for (size_t e = off[v]; e < off[v + 1]; e++)
				ne += comp[adj[e]] == comp[v];
		}
		cy->closing = malloc((ne ? ne : 1) * sizeof(*cy->closing));
		if (!cy->closing)
			goto out;
		for (size_t i = 0; i < cy->nmembers; i++) {
			uint32_t v = cy->members[i];
			const struct py_object *o = &snap->objs[v];
			size_t r = 0;

			for (size_t e = off[v]; e < off[v + 1]; e++, r++) {
				/* adj skipped references to untracked objects: find
				 * the reference this edge came from for its name */
				while (r < o->nref && !py_snapshot_find(snap, snap->refs[o->ref0 + r].addr))
					r++;
				if (comp[adj[e]] == comp[v])
					cy->closing[cy->nclosing++] = (struct pygraph_edge){
						v, adj[e], snap->refs[o->ref0 + r].name };
			}
			queue[tail++] = v;
		}
		while (head < tail) {
			uint32_t v = queue[head++];

			for (size_t e = off[v]; e < off[v + 1]; e++) {
				uint32_t w = adj[e], c = comp[w];

				if (!garbage[w] || (c != CYCLES_NONE && owner[c] != PYGRAPH_NONE))
					continue;
				garbage[w] = 0;	/* claimed */
				queue[tail++] = w;
				uint32_t *nh = realloc(cy->hanging, (cy->nhanging + 1) * sizeof(*nh));

				if (!nh)
					goto out;
				cy->hanging = nh;
				cy->hanging[cy->nhanging++] = w;
				cy->hanging_bytes += pygraph_obj_bytes(g, w);
			}
		}
		if (types_of(g, cy) < 0)
			goto out;
	}
	if (g->ncycles)
		qsort(g->cycles, g->ncycles, sizeof(*g->cycles), cycle_cmp);
	rc = 0;
out:
	free(off);
	free(adj);
	free(comp);
	free(queue);
	free(size);
	free(owner);
	free(garbage);
	free(selfloop);
	return rc;
}

void pygraph_release(struct pygraph *g)
{
	for (size_t k = 0; k < g->ncycles; k++) {
		free(g->cycles[k].members);
		free(g->cycles[k].types);
		free(g->cycles[k].closing);
		free(g->cycles[k].hanging);
	}
	free(g->cycles);
	free(g->blocks);
	free(g->block);
	free(g->gc_refs);
	free(g->alive);
	memset(g, 0, sizeof(*g));
}
