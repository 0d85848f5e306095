/*
 * report_text.c - the report for people: what ran, how it ended, the
 * totals, the peak, then the blocks still live at exit grouped by the stack
 * that allocated them (largest first), and the warnings last so they are
 * the last thing on screen.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* "1 block", "2 blocks" */
static const char *s_if(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void print_seconds(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%06" PRIu64 " s", ns / 1000000000u, ns % 1000000000u / 1000u);
}

static void print_end(FILE *out, const struct report *rep)
{
	const struct reader_end *end = reader_end(rep->r);
	const struct reader_stopped *st = reader_stopped(rep->r);

	fprintf(out, "ended:     ");
	if (!end) {
		fprintf(out, "unknown (no END record: the trace is incomplete)\n");
	} else {
		switch (end->how) {
		case RS_END_EXIT:
			if (end->status >= 0)
				fprintf(out, "exit, status %" PRId64 "\n", end->status);
			else
				fprintf(out, "exit\n");
			break;
		case RS_END_EXIT_CALL:
			fprintf(out, "_exit, status %" PRId64 "\n", end->status);
			break;
		case RS_END_SIGNAL:
			fprintf(out, "killed by signal %" PRId64 " (%s)\n", end->status,
				end->status > 0 && end->status < 65 ? strsignal((int)end->status) : "?");
			break;
		case RS_END_ABORT:
			fprintf(out, "abort()\n");
			break;
		case RS_END_EXEC:
			fprintf(out, "replaced by exec\n");
			break;
		default:
			fprintf(out, "unknown way %" PRIu64 ", status %" PRId64 "\n", end->how, end->status);
			break;
		}
	}
	if (st)
		fprintf(out, "stopped:   tracing stopped at seq %" PRIu64 ": %s (errno %" PRIu64 ")\n",
			st->seq, report_stop_reason_name(st->reason), st->err);
}

static void print_frame(FILE *out, const struct report_frame *f, int first)
{
	fprintf(out, "    %s 0x%012" PRIx64 ": %s", f->inlined ? "  inlined" : first ? "at" : "by",
		f->ip, f->function ? f->function : "???");
	if (f->file) {
		fprintf(out, " (%s", f->file);
		if (f->line)
			fprintf(out, ":%u", f->line);
		fputc(')', out);
	}
	if (f->module)
		fprintf(out, " [%s]", base_name(f->module));
	fputc('\n', out);
}

static void print_stack_max(FILE *out, const struct report *rep, uint64_t id, const char *indent,
			    size_t max)
{
	const struct report_stack *st = report_graph_stack(rep, id);

	if (id == 0) {
		fprintf(out, "%s  (no stack recorded)\n", indent);
		return;
	}
	if (!st || !st->known) {
		fprintf(out, "%s  (stack %" PRIu64 " is not defined in the trace)\n", indent, id);
		return;
	}
	for (size_t k = 0; k < st->nframes && k < max; k++) {
		fputs(indent, out);
		print_frame(out, &st->frames[k], k == 0);
	}
	if (st->nframes > max)
		fprintf(out, "%s    ... %zu more frames\n", indent, st->nframes - max);
}

static void print_stack(FILE *out, const struct report *rep, uint64_t id, const char *indent)
{
	print_stack_max(out, rep, id, indent, SIZE_MAX);
}

/* Frames shown per Python object: the interpreter's own are many and alike. */
#define PY_FRAMES_SHOWN 8

static void print_pyobj(FILE *out, const struct pygraph *g, uint32_t i)
{
	const struct py_object *o = &g->snap->objs[i];

	fprintf(out, "%s 0x%" PRIx64, pygraph_type_name(g->snap, o->type), o->addr);
	if (g->block[i] != PYGRAPH_NONE)
		fprintf(out, " (%" PRIu64 " byte%s)", g->blocks[g->block[i]].size,
			s_if(g->blocks[g->block[i]].size));
}

static void print_py_cycles(FILE *out, const struct report *rep)
{
	const struct pygraph *g = &rep->pygraph;
	const struct py_snapshot *s = rep->pysnap;
	char summary[512];

	fprintf(out, "\npython snapshot: #%" PRIu64 " (%s) of %s at seq %" PRIu64 ": %" PRIu64
		     " tracked object%s, %" PRIu64 " bytes",
		s->id, s->trigger == RS_SNAP_EXIT ? "before finalization" : reader_trigger_name(s->trigger),
		s->runtime, s->seq, g->objects, s_if(g->objects), g->bytes);
	for (uint64_t k = 0; k < s->ngen; k++)
		fprintf(out, "%s %" PRIu64 ": %" PRIu64, k ? "," : "; generation", k, s->gen_objects[k]);
	fprintf(out, "\npython garbage (a full gc.collect() would free it): %" PRIu64 " object%s, %" PRIu64
		     " bytes\n",
		g->garbage_objects, s_if(g->garbage_objects), g->garbage_bytes);
	fprintf(out, "\npython leaked cycles: %zu\n", g->ncycles);
	for (size_t k = 0; k < g->ncycles; k++) {
		const struct pygraph_cycle *cy = &g->cycles[k];

		pygraph_cycle_summary(g, cy, summary, sizeof(summary));
		fprintf(out, "\npython cycle #%zu: %s, %zu object%s, %" PRIu64 " bytes\n", k + 1, summary,
			cy->nmembers, s_if(cy->nmembers), cy->bytes);
		fprintf(out, "  edges closing it:\n");
		for (size_t i = 0; i < cy->nclosing && i < REPORT_CYCLE_SHOW; i++) {
			const struct pygraph_edge *e = &cy->closing[i];

			fputs("    ", out);
			print_pyobj(out, g, e->src);
			if (e->name)
				fprintf(out, " -[%s]-> ", py_string(s, e->name));
			else
				fputs(" -> ", out);
			print_pyobj(out, g, e->dst);
			fputc('\n', out);
		}
		if (cy->nclosing > REPORT_CYCLE_SHOW)
			fprintf(out, "    ... and %zu more\n", cy->nclosing - REPORT_CYCLE_SHOW);
		fprintf(out, "  members:\n");
		for (size_t i = 0; i < cy->nmembers && i < REPORT_CYCLE_SHOW; i++) {
			uint32_t m = cy->members[i];
			const struct py_object *o = &s->objs[m];

			fputs("    ", out);
			print_pyobj(out, g, m);
			fprintf(out, ", refcount %" PRIu64 ", generation %" PRIu32, o->refcnt, o->gen);
			if (o->site)
				fprintf(out, ", created at %s", py_string(s, o->site));
			fputc('\n', out);
			print_stack_max(out, rep, pygraph_obj_stack(g, m), "    ", PY_FRAMES_SHOWN);
		}
		if (cy->nmembers > REPORT_CYCLE_SHOW)
			fprintf(out, "    ... and %zu more\n", cy->nmembers - REPORT_CYCLE_SHOW);
		if (cy->nhanging)
			fprintf(out, "  hanging off it: %zu object%s, %" PRIu64 " bytes\n", cy->nhanging,
				s_if(cy->nhanging), cy->hanging_bytes);
	}
}

static void print_block(FILE *out, const struct report *rep, uint32_t b, const char *indent)
{
	const struct heap_block *blk = &rep->graph.blocks[b];

	fprintf(out, "%s0x%" PRIx64 " (%" PRIu64 " byte%s), stack %" PRIu64 "\n", indent, blk->addr,
		blk->size, s_if(blk->size), blk->stack);
}

static void print_cycles(FILE *out, const struct report *rep)
{
	const struct graph *g = &rep->graph;
	const struct reader_snapshot *sn = rep->snapshot;
	uint64_t unreach_blocks = 0, unreach_bytes = 0;

	fprintf(out, "\nsnapshot:  #%" PRIu64 " (%s) at seq %" PRIu64 "%s: %zu region%s, %" PRIu64
		     " word%s; %" PRIu32 " live block%s, %zu edge%s, %zu root pointer%s\n",
		sn->id, reader_trigger_name(sn->trigger), sn->seq, sn->complete ? "" : " (incomplete)",
		sn->nregions, s_if(sn->nregions), g->words, s_if(g->words), g->nblocks, s_if(g->nblocks),
		g->nedges, s_if(g->nedges), g->nroots, s_if(g->nroots));
	for (int c = GRAPH_CYCLE; c <= GRAPH_PLAIN_LEAK; c++) {
		unreach_blocks += g->totals[c].blocks;
		unreach_bytes += g->totals[c].bytes;
	}
	fprintf(out, "unreachable: %" PRIu64 " bytes in %" PRIu64 " block%s: %" PRIu64 " in cycles (%" PRIu64
		     " bytes), %" PRIu64 " held by cycles (%" PRIu64 " bytes), %" PRIu64
		     " plain leaks (%" PRIu64 " bytes)\n",
		unreach_bytes, unreach_blocks, s_if(unreach_blocks), g->totals[GRAPH_CYCLE].blocks,
		g->totals[GRAPH_CYCLE].bytes, g->totals[GRAPH_HELD_BY_CYCLE].blocks,
		g->totals[GRAPH_HELD_BY_CYCLE].bytes, g->totals[GRAPH_PLAIN_LEAK].blocks,
		g->totals[GRAPH_PLAIN_LEAK].bytes);
	fprintf(out, "\nleaked cycles: %zu\n", g->ncycles);
	for (size_t k = 0; k < g->ncycles; k++) {
		const struct graph_cycle *cy = &g->cycles[k];

		fprintf(out, "\ncycle #%zu: %" PRIu64 " bytes in %zu block%s, found by %s\n", k + 1, cy->bytes,
			cy->nmembers, s_if(cy->nmembers), graph_methods_name(cy->methods));
		fprintf(out, "  members:\n");
		for (size_t i = 0; i < cy->nmembers && i < REPORT_CYCLE_SHOW; i++) {
			print_block(out, rep, cy->members[i], "    ");
			print_stack(out, rep, g->blocks[cy->members[i]].stack, "    ");
		}
		if (cy->nmembers > REPORT_CYCLE_SHOW)
			fprintf(out, "    ... and %zu more\n", cy->nmembers - REPORT_CYCLE_SHOW);
		fprintf(out, "  edges closing it:\n");
		for (size_t i = 0; i < cy->nclosing && i < REPORT_CYCLE_SHOW; i++) {
			const struct graph_edge *e = &g->edges[cy->closing[i]];

			fprintf(out, "    block 0x%" PRIx64 " +%" PRIu64 " -> block 0x%" PRIx64, g->blocks[e->src].addr,
				e->offset, g->blocks[e->dst].addr);
			if (e->interior)
				fprintf(out, " (interior: 0x%" PRIx64 " = +%" PRIu64 ")", e->target,
					e->target - g->blocks[e->dst].addr);
			fputc('\n', out);
		}
		if (cy->nclosing > REPORT_CYCLE_SHOW)
			fprintf(out, "    ... and %zu more\n", cy->nclosing - REPORT_CYCLE_SHOW);
		if (!cy->nhanging) {
			fprintf(out, "  nothing hangs off it\n");
			continue;
		}
		fprintf(out, "  hanging off it: %" PRIu64 " bytes in %zu block%s\n", cy->hanging_bytes,
			cy->nhanging, s_if(cy->nhanging));
		for (size_t i = 0; i < cy->nhanging && i < REPORT_CYCLE_SHOW; i++)
			print_block(out, rep, cy->hanging[i], "    ");
		if (cy->nhanging > REPORT_CYCLE_SHOW)
			fprintf(out, "    ... and %zu more\n", cy->nhanging - REPORT_CYCLE_SHOW);
	}
}

static void print_fn_counts(FILE *out, char **names, size_t nnames, const uint64_t *counts)
{
	for (size_t i = 0; i < REFCOUNTS_FN_MAX; i++) {
		if (!counts[i] && i >= nnames)
			continue;
		if (i < nnames)
			fprintf(out, " %s %" PRIu64 ";", names[i], counts[i]);
		else
			fprintf(out, " fn#%zu %" PRIu64 ";", i, counts[i]);
	}
}

static void print_refcounts(FILE *out, const struct report *rep)
{
	const struct refcount_totals *t = &rep->rc_totals;

	fprintf(out, "\nrefcounts: %" PRIu64 " retain%s, %" PRIu64 " release%s on %" PRIu64
		     " object%s (%" PRIu64 " freed, %" PRIu64 " never allocated in the trace)\n",
		t->retains, s_if(t->retains), t->releases, s_if(t->releases), t->objects, s_if(t->objects),
		t->freed, t->unallocated);
	for (size_t i = 0; i < rep->napis; i++) {
		const struct refcount_api *a = &rep->apis[i];
		const struct reader_refapi *meta = reader_refapi(rep->r, a->api);

		fprintf(out, "  api %" PRIu64 " (%s): %" PRIu64 " retain%s, %" PRIu64 " release%s:", a->api,
			meta ? meta->name : "no REFAPI record", a->retains, s_if(a->retains), a->releases,
			s_if(a->releases));
		print_fn_counts(out, meta ? meta->retain : NULL, meta ? meta->nretain : 0, a->retain_fn);
		print_fn_counts(out, meta ? meta->release : NULL, meta ? meta->nrelease : 0, a->release_fn);
		if (a->other_fn)
			fprintf(out, " other %" PRIu64 ";", a->other_fn);
		fputc('\n', out);
	}
	fprintf(out, "\nleaked refcounted objects: %zu\n", rep->nrefobjs);
	for (size_t i = 0; i < rep->nrefobjs; i++) {
		const struct report_refobj *ro = &rep->refobjs[i];

		fprintf(out, "\n  0x%" PRIx64 " (%" PRIu64 " bytes): %" PRIu64 " retain%s, %" PRIu64
			     " release%s, balance %" PRId64,
			ro->o.addr, ro->o.size, ro->o.retains, s_if(ro->o.retains), ro->o.releases,
			s_if(ro->o.releases), ro->o.balance);
		if (ro->o.allocated && ro->o.block != ro->o.addr)
			fprintf(out, ", %" PRIu64 " bytes into its block at 0x%" PRIx64,
				ro->o.addr - ro->o.block, ro->o.block);
		if (ro->cls >= 0)
			fprintf(out, ", %s%s, gc_refs %" PRId64, graph_class_name(ro->cls),
				ro->count_garbage ? ", cyclic garbage by count" : "", ro->gc_refs);
		fputc('\n', out);
		fprintf(out, "    allocated at stack %" PRIu64 "\n", ro->o.alloc_stack);
		print_stack(out, rep, ro->o.alloc_stack, "    ");
		for (size_t k = 0; k < ro->nblame; k++) {
			fprintf(out, "    unbalanced: %" PRIu64 " x %s at stack %" PRIu64 "\n", ro->blame[k].count,
				ro->blame[k].is_alloc ? "the allocation's reference" : "retain",
				ro->blame[k].stack);
			print_stack(out, rep, ro->blame[k].stack, "    ");
		}
	}
	if (rep->nblame) {
		fprintf(out, "\nunbalanced retains by stack (all leaked objects):\n");
		for (size_t i = 0; i < rep->nblame; i++) {
			const struct report_blame *b = &rep->blame[i];
			const char *fn = report_stack_function(rep, b->stack);

			fprintf(out, "  #%zu: %" PRIu64 " reference%s in %" PRIu64 " object%s, %s, stack %" PRIu64
				     " (%s)\n",
				i + 1, b->references, s_if(b->references), b->objects, s_if(b->objects),
				b->is_alloc ? "allocation" : "retain", b->stack, fn ? fn : "???");
		}
	}
}

int report_write_text(const struct report *rep, FILE *out)
{
	const struct reader_process *pr = reader_process(rep->r);
	const struct heap_totals *t = &rep->totals;

	fprintf(out, "refscope report: %s\n", rep->path);
	if (pr) {
		fprintf(out, "process:   %" PRIu64 " (parent %" PRIu64 ")%s:", pr->pid, pr->ppid,
			pr->origin == RS_ORIGIN_FORK ? ", began as a fork" : "");
		if (pr->argc)
			for (uint64_t i = 0; i < pr->argc; i++)
				fprintf(out, " %s", pr->argv[i]);
		else
			fprintf(out, " %s", pr->exe);
		fputc('\n', out);
		if (pr->exe[0])
			fprintf(out, "exe:       %s\n", pr->exe);
	}
	if (rep->scanned)
		print_end(out, rep);
	fprintf(out, "events:    %" PRIu64 " in ", t->events);
	print_seconds(out, rep->duration_ns);
	fprintf(out, ", %" PRIu64 " thread%s, %zu stack%s\n", t->threads, s_if(t->threads), rep->nstacks,
		s_if(rep->nstacks));
	fprintf(out,
		"totals:    %" PRIu64 " allocations (%" PRIu64 " bytes), %" PRIu64 " frees (%" PRIu64
		" bytes), %" PRIu64 " reallocs\n",
		t->allocations, t->allocated_bytes, t->frees, t->freed_bytes, t->reallocs);
	fprintf(out, "           %" PRIu64 " free(NULL), %" PRIu64 " failed allocations, %" PRIu64
		     " frees of unknown blocks\n",
		t->free_null, t->failed_allocations, t->unknown_frees);
	fprintf(out, "peak:      %" PRIu64 " bytes in %" PRIu64 " block%s, at event %" PRIu64 " (",
		t->peak_bytes, t->peak_blocks, s_if(t->peak_blocks), t->peak_event);
	print_seconds(out, t->peak_time);
	fprintf(out, ")\n\n");

	if (!t->live_blocks) {
		fprintf(out, "live at exit: nothing; every block was freed\n");
	} else {
		fprintf(out, "live at exit: %" PRIu64 " bytes in %" PRIu64 " block%s, from %zu allocation stack%s",
			t->live_bytes, t->live_blocks, s_if(t->live_blocks), rep->ngroups_total,
			s_if(rep->ngroups_total));
		if (rep->ngroups < rep->ngroups_total)
			fprintf(out, " (the %zu largest shown)", rep->ngroups);
		fprintf(out, "\n");
	}
	for (size_t i = 0; i < rep->ngroups; i++) {
		const struct report_group *g = &rep->groups[i];

		fprintf(out, "\n#%zu: %" PRIu64 " bytes in %" PRIu64 " block%s", i + 1, g->g.bytes, g->g.blocks,
			s_if(g->g.blocks));
		if (g->g.blocks > 1 && g->g.min_size != g->g.max_size)
			fprintf(out, " (%" PRIu64 " to %" PRIu64 " bytes each)", g->g.min_size, g->g.max_size);
		else if (g->g.blocks > 1)
			fprintf(out, " (%" PRIu64 " bytes each)", g->g.min_size);
		fprintf(out, ", stack %" PRIu64 "\n", g->g.stack);
		if (g->g.stack == 0)
			fprintf(out, "    (no stack recorded)\n");
		else if (!g->stack_known)
			fprintf(out, "    (stack %" PRIu64 " is not defined in the trace)\n", g->g.stack);
		for (size_t k = 0; k < g->nframes; k++)
			print_frame(out, &g->frames[k], k == 0);
	}
	report_text_sites(rep, out);
	if (rep->have_graph)
		print_cycles(out, rep);
	if (rep->have_pygraph)
		print_py_cycles(out, rep);
	if (rep->analyzed)
		print_refcounts(out, rep);
	if (rep->nwarnings) {
		fprintf(out, "\nwarnings:\n");
		for (size_t i = 0; i < rep->nwarnings; i++)
			fprintf(out, "  - %s\n", rep->warnings[i]);
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
