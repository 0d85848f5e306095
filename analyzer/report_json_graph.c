/*
 * report_json_graph.c - the --cycles sections of the JSON report
 * ("snapshot", "unreachable", "cycles", "refcounts"; docs/JSON.md). Kept
 * apart from report_json.c so the snapshot analysis has one home.
 */
#include "report.h"

#include "jsonw.h"

#define JSON_CYCLE_LIST 1000 /* members, edges and hanging blocks listed per cycle */

static void field(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

static void write_frames(struct jsonw *w, const struct report *rep, uint64_t stack)
{
	const struct report_stack *st = report_graph_stack(rep, stack);

	jsonw_key(w, "frames");
	jsonw_begin_array(w);
	for (size_t i = 0; st && i < st->nframes; i++) {
		report_json_frame(w, &st->frames[i]);
	}
	jsonw_end_array(w);
}

static void write_block(struct jsonw *w, const struct report *rep, uint32_t b, int frames)
{
	const struct heap_block *blk = &rep->graph.blocks[b];

	jsonw_begin_object(w);
	jsonw_key(w, "address");
	jsonw_hex(w, blk->addr);
	field(w, "size", blk->size);
	field(w, "stack_id", blk->stack);
	if (frames)
		write_frames(w, rep, blk->stack);
	jsonw_end_object(w);
}

static void write_methods(struct jsonw *w, unsigned methods)
{
	jsonw_key(w, "found_by");
	jsonw_begin_array(w);
	if (methods & GRAPH_BY_REACHABILITY)
		jsonw_string(w, "reachability");
	if (methods & GRAPH_BY_REFCOUNT)
		jsonw_string(w, "refcount");
	jsonw_end_array(w);
}

static void write_cycle(struct jsonw *w, const struct report *rep, const struct graph_cycle *cy)
{
	const struct graph *g = &rep->graph;

	jsonw_begin_object(w);
	field(w, "blocks", cy->nmembers);
	field(w, "bytes", cy->bytes);
	write_methods(w, cy->methods);
	jsonw_key(w, "members");
	jsonw_begin_array(w);
	for (size_t i = 0; i < cy->nmembers && i < JSON_CYCLE_LIST; i++)
		write_block(w, rep, cy->members[i], i < REPORT_CYCLE_SHOW);
	jsonw_end_array(w);
	field(w, "closing_edges_total", cy->nclosing);
	jsonw_key(w, "closing_edges");
	jsonw_begin_array(w);
	for (size_t i = 0; i < cy->nclosing && i < JSON_CYCLE_LIST; i++) {
		const struct graph_edge *e = &g->edges[cy->closing[i]];

		jsonw_begin_object(w);
		jsonw_key(w, "from");
		jsonw_hex(w, g->blocks[e->src].addr);
		field(w, "offset", e->offset);
		jsonw_key(w, "to");
		jsonw_hex(w, g->blocks[e->dst].addr);
		jsonw_key(w, "value");
		jsonw_hex(w, e->target);
		jsonw_key(w, "interior");
		jsonw_bool(w, e->interior);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "hanging");
	jsonw_begin_object(w);
	field(w, "blocks", cy->nhanging);
	field(w, "bytes", cy->hanging_bytes);
	jsonw_key(w, "list");
	jsonw_begin_array(w);
	for (size_t i = 0; i < cy->nhanging && i < JSON_CYCLE_LIST; i++)
		write_block(w, rep, cy->hanging[i], 0);
	jsonw_end_array(w);
	jsonw_end_object(w);
	jsonw_end_object(w);
}

static void write_graph(struct jsonw *w, const struct report *rep)
{
	const struct graph *g = &rep->graph;
	const struct reader_snapshot *sn = rep->snapshot;
	static const char *const cls[4] = { "reachable", "cycle", "held_by_cycle", "plain_leak" };

	jsonw_key(w, "snapshot");
	if (!sn) {
		jsonw_null(w);
	} else {
		jsonw_begin_object(w);
		field(w, "id", sn->id);
		field(w, "seq", sn->seq);
		field(w, "time_ns", sn->time);
		jsonw_key(w, "trigger");
		jsonw_string(w, reader_trigger_name(sn->trigger));
		jsonw_key(w, "complete");
		jsonw_bool(w, sn->complete);
		field(w, "regions", sn->nregions);
		field(w, "words", g->words);
		field(w, "live_blocks", g->nblocks);
		field(w, "edges", g->nedges);
		field(w, "root_pointers", g->nroots);
		jsonw_end_object(w);
	}
	jsonw_key(w, "unreachable");
	if (!rep->have_graph) {
		jsonw_null(w);
	} else {
		jsonw_begin_object(w);
		for (int c = 0; c < 4; c++) {
			jsonw_key(w, cls[c]);
			jsonw_begin_object(w);
			field(w, "blocks", g->totals[c].blocks);
			field(w, "bytes", g->totals[c].bytes);
			jsonw_end_object(w);
		}
		jsonw_end_object(w);
	}
	jsonw_key(w, "cycles");
	jsonw_begin_array(w);
	for (size_t k = 0; rep->have_graph && k < g->ncycles; k++)
		write_cycle(w, rep, &g->cycles[k]);
	jsonw_end_array(w);
}

static void write_fn_counts(struct jsonw *w, const char *kind, char **names, size_t nnames,
			    const uint64_t *counts)
{
	for (size_t i = 0; i < REFCOUNTS_FN_MAX; i++) {
		if (!counts[i] && i >= nnames)
			continue;
		jsonw_begin_object(w);
		jsonw_key(w, "kind");
		jsonw_string(w, kind);
		jsonw_key(w, "name");
		jsonw_string(w, i < nnames ? names[i] : NULL);
		field(w, "index", i);
		field(w, "events", counts[i]);
		jsonw_end_object(w);
	}
}

static void write_refcounts(struct jsonw *w, const struct report *rep)
{
	const struct refcount_totals *t = &rep->rc_totals;

	jsonw_key(w, "refcounts");
	jsonw_begin_object(w);
	field(w, "objects", t->objects);
	field(w, "freed", t->freed);
	field(w, "never_allocated", t->unallocated);
	field(w, "retains", t->retains);
	field(w, "releases", t->releases);
	jsonw_key(w, "apis");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->napis; i++) {
		const struct refcount_api *a = &rep->apis[i];
		const struct reader_refapi *meta = reader_refapi(rep->r, a->api);

		jsonw_begin_object(w);
		field(w, "id", a->api);
		jsonw_key(w, "name");
		jsonw_string(w, meta ? meta->name : NULL);
		field(w, "retains", a->retains);
		field(w, "releases", a->releases);
		jsonw_key(w, "functions");
		jsonw_begin_array(w);
		write_fn_counts(w, "retain", meta ? meta->retain : NULL, meta ? meta->nretain : 0, a->retain_fn);
		write_fn_counts(w, "release", meta ? meta->release : NULL, meta ? meta->nrelease : 0,
				a->release_fn);
		jsonw_end_array(w);
		field(w, "other_functions", a->other_fn);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "leaked");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->nrefobjs; i++) {
		const struct report_refobj *ro = &rep->refobjs[i];

		jsonw_begin_object(w);
		jsonw_key(w, "address");
		jsonw_hex(w, ro->o.addr);
		jsonw_key(w, "block");
		jsonw_hex(w, ro->o.allocated ? ro->o.block : ro->o.addr);
		field(w, "size", ro->o.size);
		field(w, "retains", ro->o.retains);
		field(w, "releases", ro->o.releases);
		jsonw_key(w, "balance");
		jsonw_int(w, ro->o.balance);
		jsonw_key(w, "class");
		jsonw_string(w, ro->cls >= 0 ? graph_class_name(ro->cls) : NULL);
		jsonw_key(w, "cyclic_garbage");
		jsonw_bool(w, ro->count_garbage);
		jsonw_key(w, "gc_refs");
		if (ro->cls >= 0)
			jsonw_int(w, ro->gc_refs);
		else
			jsonw_null(w);
		field(w, "stack_id", ro->o.alloc_stack);
		write_frames(w, rep, ro->o.alloc_stack);
		jsonw_key(w, "unbalanced");
		jsonw_begin_array(w);
		for (size_t k = 0; k < ro->nblame; k++) {
			jsonw_begin_object(w);
			field(w, "stack_id", ro->blame[k].stack);
			jsonw_key(w, "allocation");
			jsonw_bool(w, ro->blame[k].is_alloc);
			field(w, "references", ro->blame[k].count);
			write_frames(w, rep, ro->blame[k].stack);
			jsonw_end_object(w);
		}
		jsonw_end_array(w);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "unbalanced_by_stack");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->nblame; i++) {
		const struct report_blame *b = &rep->blame[i];

		jsonw_begin_object(w);
		field(w, "stack_id", b->stack);
		jsonw_key(w, "allocation");
		jsonw_bool(w, b->is_alloc);
		field(w, "references", b->references);
		field(w, "objects", b->objects);
		jsonw_key(w, "function");
		jsonw_string(w, report_stack_function(rep, b->stack));
		write_frames(w, rep, b->stack);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_end_object(w);
}

void report_json_graph(const struct report *rep, struct jsonw *w)
{
	if (!rep->analyzed)
		return;
	write_graph(w, rep);
	write_refcounts(w, rep);
}
