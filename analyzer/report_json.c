/*
 * report_json.c - the report as JSON, schema "refscope-report" version 1
 * (docs/JSON.md; the e2e tests parse it). Absent facts are null, addresses
 * are "0x..." strings, every count is a JSON integer.
 */
#include "report.h"

#include <string.h>

#include "jsonw.h"
#include "symbols.h"

static void write_trace(struct jsonw *w, const struct report *rep)
{
	const struct rs_file_header *h = reader_header(rep->r);
	const struct reader_process *pr = rep->r ? reader_process(rep->r) : NULL;
	const struct reader_end *end = reader_end(rep->r);
	const struct reader_stopped *st = reader_stopped(rep->r);
	int header_ok = rep->scanned;

	jsonw_key(w, "trace");
	jsonw_begin_object(w);
	jsonw_key(w, "path");
	jsonw_string(w, rep->path);
	jsonw_key(w, "format_version");
	if (header_ok)
		jsonw_uint(w, h->version);
	else
		jsonw_null(w);
	jsonw_key(w, "pid");
	if (pr)
		jsonw_uint(w, pr->pid);
	else if (header_ok)
		jsonw_uint(w, h->pid);
	else
		jsonw_null(w);
	jsonw_key(w, "ppid");
	if (pr)
		jsonw_uint(w, pr->ppid);
	else if (header_ok)
		jsonw_uint(w, h->ppid);
	else
		jsonw_null(w);
	jsonw_key(w, "exe");
	jsonw_string(w, pr ? pr->exe : NULL);
	jsonw_key(w, "argv");
	if (pr) {
		jsonw_begin_array(w);
		for (uint64_t i = 0; i < pr->argc; i++)
			jsonw_string(w, pr->argv[i]);
		jsonw_end_array(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "origin");
	jsonw_string(w, !pr ? NULL : pr->origin == RS_ORIGIN_FORK ? "fork" : "start");
	jsonw_key(w, "complete");
	jsonw_bool(w, end != NULL);
	jsonw_key(w, "end");
	if (end) {
		jsonw_begin_object(w);
		jsonw_key(w, "how");
		jsonw_string(w, report_end_how_name(end->how));
		jsonw_key(w, "status");
		jsonw_int(w, end->status);
		jsonw_end_object(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "stopped");
	if (st) {
		jsonw_begin_object(w);
		jsonw_key(w, "reason");
		jsonw_string(w, report_stop_reason_name(st->reason));
		jsonw_key(w, "errno");
		jsonw_uint(w, st->err);
		jsonw_end_object(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "error");
	if (rep->have_error) {
		jsonw_begin_object(w);
		jsonw_key(w, "message");
		jsonw_string(w, rep->error.message);
		jsonw_key(w, "offset");
		jsonw_uint(w, rep->error.offset);
		jsonw_key(w, "cut");
		jsonw_bool(w, rep->error.cut);
		jsonw_end_object(w);
	} else {
		jsonw_null(w);
	}
	jsonw_end_object(w);
}

static void field(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

static void write_totals(struct jsonw *w, const struct report *rep)
{
	const struct heap_totals *t = &rep->totals;

	jsonw_key(w, "totals");
	jsonw_begin_object(w);
	field(w, "events", t->events);
	field(w, "allocations", t->allocations);
	field(w, "frees", t->frees);
	field(w, "free_null", t->free_null);
	field(w, "failed_allocations", t->failed_allocations);
	field(w, "reallocs", t->reallocs);
	field(w, "unknown_frees", t->unknown_frees);
	field(w, "allocated_bytes", t->allocated_bytes);
	field(w, "freed_bytes", t->freed_bytes);
	field(w, "stacks", rep->nstacks);
	field(w, "threads", t->threads);
	field(w, "duration_ns", rep->duration_ns);
	jsonw_end_object(w);

	jsonw_key(w, "peak");
	jsonw_begin_object(w);
	field(w, "live_bytes", t->peak_bytes);
	field(w, "live_blocks", t->peak_blocks);
	field(w, "seq", t->peak_seq);
	field(w, "event", t->peak_event);
	field(w, "time_ns", t->peak_time);
	jsonw_end_object(w);
}

void report_json_frame(struct jsonw *w, const struct report_frame *f)
{
	jsonw_begin_object(w);
	jsonw_key(w, "ip");
	jsonw_hex(w, f->ip);
	jsonw_key(w, "function");
	jsonw_string(w, f->function);
	jsonw_key(w, "file");
	jsonw_string(w, f->file);
	jsonw_key(w, "line");
	if (f->line)
		jsonw_uint(w, f->line);
	else
		jsonw_null(w);
	jsonw_key(w, "module");
	jsonw_string(w, f->module);
	jsonw_key(w, "inlined");
	jsonw_bool(w, f->inlined);
	jsonw_end_object(w);
}

static void write_live(struct jsonw *w, const struct report *rep)
{
	jsonw_key(w, "live_at_exit");
	jsonw_begin_object(w);
	field(w, "blocks", rep->totals.live_blocks);
	field(w, "bytes", rep->totals.live_bytes);
	jsonw_key(w, "groups");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->ngroups; i++) {
		const struct report_group *g = &rep->groups[i];

		jsonw_begin_object(w);
		field(w, "blocks", g->g.blocks);
		field(w, "bytes", g->g.bytes);
		field(w, "min_size", g->g.min_size);
		field(w, "max_size", g->g.max_size);
		field(w, "stack_id", g->g.stack);
		jsonw_key(w, "frames");
		jsonw_begin_array(w);
		for (size_t k = 0; k < g->nframes; k++)
			report_json_frame(w, &g->frames[k]);
		jsonw_end_array(w);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_end_object(w);
}

static void write_modules(struct jsonw *w, const struct report *rep)
{
	static const char hex[] = "0123456789abcdef";

	jsonw_key(w, "modules");
	jsonw_begin_array(w);
	for (size_t i = 0; i < rep->nmodules; i++) {
		const struct report_module *m = &rep->modules[i];
		char bid[2 * 64 + 1];
		size_t n = m->build_id_len < 64 ? m->build_id_len : 64;

		for (size_t k = 0; k < n; k++) {
			bid[2 * k] = hex[m->build_id[k] >> 4];
			bid[2 * k + 1] = hex[m->build_id[k] & 15];
		}
		bid[2 * n] = '\0';
		jsonw_begin_object(w);
		jsonw_key(w, "path");
		jsonw_string(w, m->path);
		jsonw_key(w, "base");
		jsonw_hex(w, m->base);
		jsonw_key(w, "build_id");
		jsonw_string(w, bid);
		jsonw_key(w, "status");
		if (m->status < 0)
			jsonw_null(w);
		else
			jsonw_string(w, report_module_status_name(m->status));
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

int report_write_json(const struct report *rep, FILE *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_begin_object(&w);
	jsonw_key(&w, "schema");
	jsonw_string(&w, "refscope-report");
	jsonw_key(&w, "schema_version");
	jsonw_uint(&w, 1);
	jsonw_key(&w, "refscope_version");
	jsonw_string(&w, REFSCOPE_VERSION);
	write_trace(&w, rep);
	write_totals(&w, rep);
	write_live(&w, rep);
	write_modules(&w, rep);
	report_json_sites(rep, &w);
	report_json_graph(rep, &w);
	report_json_python(rep, &w);
	jsonw_key(&w, "warnings");
	jsonw_begin_array(&w);
	for (size_t i = 0; i < rep->nwarnings; i++)
		jsonw_string(&w, rep->warnings[i]);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	return jsonw_finish(&w);
}
