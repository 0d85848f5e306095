/*
 * report_json_python.c - the "python" member of the JSON report
 * (docs/JSON.md): every Python-aware snapshot with the collector's own
 * generation counts, and with --cycles the collector's algorithm on the
 * last complete one (pygraph.h): its garbage and leaked cycles.
 */
#include "report.h"

#include "jsonw.h"

#define JSON_PY_LIST 1000 /* members and edges listed per cycle */

static void field(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

static void write_snapshot(struct jsonw *w, const struct py_snapshot *s)
{
	jsonw_begin_object(w);
	field(w, "id", s->id);
	field(w, "seq", s->seq);
	field(w, "time_ns", s->time);
	jsonw_key(w, "trigger");
	jsonw_string(w, s->trigger == RS_SNAP_EXIT ? "before_finalization"
						  : reader_trigger_name(s->trigger));
	jsonw_key(w, "runtime");
	jsonw_string(w, s->runtime);
	jsonw_key(w, "complete");
	jsonw_bool(w, s->complete);
	field(w, "objects", s->nobjs);
	jsonw_key(w, "generations");
	jsonw_begin_array(w);
	for (uint64_t g = 0; g < s->ngen; g++)
		jsonw_uint(w, s->gen_objects[g]);
	jsonw_end_array(w);
	jsonw_end_object(w);
}

static void write_object(struct jsonw *w, const struct report *rep, uint32_t i, int frames)
{
	const struct pygraph *g = &rep->pygraph;
	const struct py_object *o = &g->snap->objs[i];
	uint64_t stack = pygraph_obj_stack(g, i);
	const struct report_stack *st = report_graph_stack(rep, stack);

	jsonw_begin_object(w);
	jsonw_key(w, "address");
	jsonw_hex(w, o->addr);
	jsonw_key(w, "type");
	jsonw_string(w, pygraph_type_name(g->snap, o->type));
	field(w, "size", pygraph_obj_bytes(g, i));
	field(w, "refcount", o->refcnt);
	field(w, "generation", o->gen);
	jsonw_key(w, "created_at");
	jsonw_string(w, o->site ? py_string(g->snap, o->site) : NULL);
	jsonw_key(w, "block");
	if (g->block[i] == PYGRAPH_NONE)
		jsonw_null(w);
	else
		jsonw_hex(w, g->blocks[g->block[i]].addr);
	field(w, "stack_id", stack);
	if (frames) {
		jsonw_key(w, "frames");
		jsonw_begin_array(w);
		for (size_t k = 0; st && k < st->nframes; k++)
			report_json_frame(w, &st->frames[k]);
		jsonw_end_array(w);
	}
	jsonw_end_object(w);
}

static void write_cycle(struct jsonw *w, const struct report *rep, const struct pygraph_cycle *cy)
{
	const struct pygraph *g = &rep->pygraph;
	char summary[512];

	pygraph_cycle_summary(g, cy, summary, sizeof(summary));
	jsonw_begin_object(w);
	jsonw_key(w, "summary");
	jsonw_string(w, summary);
	field(w, "objects", cy->nmembers);
	field(w, "bytes", cy->bytes);
	jsonw_key(w, "instance_dicts");
	jsonw_bool(w, cy->instance_dicts);
	jsonw_key(w, "types");
	jsonw_begin_array(w);
	for (size_t k = 0; k < cy->ntypes; k++) {
		jsonw_begin_object(w);
		jsonw_key(w, "type");
		jsonw_string(w, pygraph_type_name(g->snap, cy->types[k].type));
		field(w, "objects", cy->types[k].objects);
		field(w, "bytes", cy->types[k].bytes);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "members");
	jsonw_begin_array(w);
	for (size_t i = 0; i < cy->nmembers && i < JSON_PY_LIST; i++)
		write_object(w, rep, cy->members[i], i < REPORT_CYCLE_SHOW);
	jsonw_end_array(w);
	field(w, "closing_edges_total", cy->nclosing);
	jsonw_key(w, "closing_edges");
	jsonw_begin_array(w);
	for (size_t i = 0; i < cy->nclosing && i < JSON_PY_LIST; i++) {
		const struct pygraph_edge *e = &cy->closing[i];

		jsonw_begin_object(w);
		jsonw_key(w, "from");
		jsonw_hex(w, g->snap->objs[e->src].addr);
		jsonw_key(w, "to");
		jsonw_hex(w, g->snap->objs[e->dst].addr);
		jsonw_key(w, "name");
		jsonw_string(w, e->name ? py_string(g->snap, e->name) : NULL);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "hanging");
	jsonw_begin_object(w);
	field(w, "objects", cy->nhanging);
	field(w, "bytes", cy->hanging_bytes);
	jsonw_end_object(w);
	jsonw_end_object(w);
}

void report_json_python(const struct report *rep, struct jsonw *w)
{
	const struct pygraph *g = &rep->pygraph;

	if (!rep->npysnaps)
		return;
	jsonw_key(w, "python");
	jsonw_begin_object(w);
	jsonw_key(w, "snapshots");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->npysnaps; i++)
		write_snapshot(w, &rep->pysnaps[i]);
	jsonw_end_array(w);
	jsonw_key(w, "analyzed");
	if (!rep->have_pygraph) {
		jsonw_null(w);
		jsonw_end_object(w);
		return;
	}
	jsonw_begin_object(w);
	field(w, "snapshot", rep->pysnap->id);
	field(w, "tracked_objects", g->objects);
	field(w, "tracked_bytes", g->bytes);
	field(w, "objects_without_block", g->unjoined);
	jsonw_key(w, "garbage");
	jsonw_begin_object(w);
	field(w, "objects", g->garbage_objects);
	field(w, "bytes", g->garbage_bytes);
	jsonw_end_object(w);
	jsonw_key(w, "cycles");
	jsonw_begin_array(w);
	for (size_t k = 0; k < g->ncycles; k++)
		write_cycle(w, rep, &g->cycles[k]);
	jsonw_end_array(w);
	jsonw_end_object(w);
	jsonw_end_object(w);
}
