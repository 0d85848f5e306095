/*
 * report_sites.c - the report's part on allocation sites and the
 * generational model (generations.h): gathers the model's results into the
 * report, symbolizes the stacks of the sites it will show, and writes the
 * text and JSON sections. Kept apart from report.c, report_text.c and
 * report_json.c so those stay about the blocks live at exit.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "jsonw.h"

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sites by their own peak of live bytes, then by bytes, then stack id. */
static int peak_cmp(const void *a, const void *b)
{
	const struct gen_site *x = *(const struct gen_site *const *)a;
	const struct gen_site *y = *(const struct gen_site *const *)b;

	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static size_t shown(const struct report *rep)
{
	return rep->top_sites;
}

/* The sites of the peak table: the shown ones, highest peak first. */
static const struct gen_site **by_peak(const struct report *rep)
{
	const struct gen_site **arr = malloc((rep->nsites ? rep->nsites : 1) * sizeof(*arr));

	if (!arr)
		return NULL;
	for (size_t i = 0; i < rep->nsites; i++)
		arr[i] = &rep->sites[i];
	qsort(arr, rep->nsites, sizeof(*arr), peak_cmp);
	return arr;
}

struct seq_id {
	uint64_t seq, id;
};

static int seq_id_cmp(const void *a, const void *b)
{
	const struct seq_id *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int report_sites_prepare(struct report *rep, struct gen_model *gen)
{
	size_t n = reader_nsnapshots(rep->r);
	struct seq_id *si;
	uint64_t *seqs;
	int rc;

	if (n < 2)
		return 0;
	si = malloc(n * sizeof(*si));
	seqs = malloc(n * sizeof(*seqs));
	rep->shot_ids = malloc(n * sizeof(*rep->shot_ids));
	if (!si || !seqs || !rep->shot_ids) {
		free(si);
		free(seqs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		si[i].seq = reader_snapshot(rep->r, i)->seq;
		si[i].id = reader_snapshot(rep->r, i)->id;
	}
	qsort(si, n, sizeof(*si), seq_id_cmp);
	for (size_t i = 0; i < n; i++) {
		seqs[i] = si[i].seq;
		rep->shot_ids[i] = si[i].id;
	}
	rc = gen_set_snapshots(gen, seqs, n);
	free(si);
	free(seqs);
	return rc;
}

static int copy_timeline(struct report *rep, struct gen_model *gen)
{
	size_t n;
	const struct gen_sample *t = gen_timeline(gen, &n);

	rep->timeline = malloc((n ? n : 1) * sizeof(*t));
	if (!rep->timeline)
		return -ENOMEM;
	memcpy(rep->timeline, t, n * sizeof(*t));
	rep->ntimeline = n;
	return 0;
}

static int bytes_cmp(const void *a, const void *b)
{
	const struct gen_site *x = *(const struct gen_site *const *)a;
	const struct gen_site *y = *(const struct gen_site *const *)b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int leaked_cmp(const void *a, const void *b)
{
	const struct gen_site *x = *(const struct gen_site *const *)a;
	const struct gen_site *y = *(const struct gen_site *const *)b;

	if (x->live_bytes != y->live_bytes)
		return x->live_bytes > y->live_bytes ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Adds the stacks of the REPORT_HTML_STACKS biggest sites by bytes and by
 * leaked bytes to ids. */
static int html_ids(const struct report *rep, uint64_t *ids, size_t *nids)
{
	const struct gen_site **arr = malloc((rep->nsites ? rep->nsites : 1) * sizeof(*arr));
	size_t k = rep->nsites < REPORT_HTML_STACKS ? rep->nsites : REPORT_HTML_STACKS;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < rep->nsites; i++)
		arr[i] = &rep->sites[i];
	qsort(arr, rep->nsites, sizeof(*arr), bytes_cmp);
	for (size_t i = 0; i < k; i++)
		ids[(*nids)++] = arr[i]->stack;
	qsort(arr, rep->nsites, sizeof(*arr), leaked_cmp);
	for (size_t i = 0; i < k && arr[i]->live_bytes; i++)
		ids[(*nids)++] = arr[i]->stack;
	free(arr);
	return 0;
}

static int copy_shots(struct report *rep, struct gen_model *gen)
{
	size_t n;
	const struct gen_heapshot *shots = gen_heapshots(gen, &n);

	if (!n)
		return 0;
	rep->shots = calloc(n, sizeof(*rep->shots));
	if (!rep->shots)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		struct gen_heapshot *d = &rep->shots[k];

		*d = shots[k];
		d->sites = malloc((d->nsites ? d->nsites : 1) * sizeof(*d->sites));
		if (!d->sites) {
			d->nsites = 0;
			return -ENOMEM;
		}
		rep->nshots++;
		memcpy(d->sites, shots[k].sites, d->nsites * sizeof(*d->sites));
	}
	return 0;
}

/* The generation each unreachable block and each leaked cycle's members
 * were in at the end. */
static int leak_generations(struct report *rep, struct gen_model *gen)
{
	const struct graph *g = &rep->graph;

	if (!rep->have_graph || !g->cls)
		return 0;
	rep->have_leak_gens = 1;
	rep->block_gens = malloc(g->nblocks ? g->nblocks : 1);
	if (!rep->block_gens)
		return -ENOMEM;
	for (uint32_t b = 0; b < g->nblocks; b++) {
		int gn = gen_generation_of(gen, g->blocks[b].addr);

		rep->block_gens[b] = (uint8_t)(gn < 0 ? GEN_COUNT : gn);
		if (g->cls[b] == GRAPH_REACHABLE || g->cls[b] > GRAPH_PLAIN_LEAK)
			continue;
		rep->leak_gens[g->cls[b]][rep->block_gens[b]]++;
	}
	if (!g->ncycles)
		return 0;
	rep->cycle_gens = calloc(g->ncycles, sizeof(*rep->cycle_gens));
	if (!rep->cycle_gens)
		return -ENOMEM;
	for (size_t k = 0; k < g->ncycles; k++) {
		for (size_t i = 0; i < g->cycles[k].nmembers; i++)
			rep->cycle_gens[k][rep->block_gens[g->cycles[k].members[i]]]++;
	}
	return 0;
}

static size_t shot_shown(const struct report *rep, const struct gen_heapshot *h)
{
	return rep->top_sites && rep->top_sites < h->nsites ? rep->top_sites : h->nsites;
}

int report_sites_build(struct report *rep, const struct report_options *opt, struct gen_model *gen)
{
	const struct gen_site **peak = NULL;
	uint64_t *ids = NULL;
	size_t nids = 0, n, k;
	int rc;

	rep->show_generations = opt->generations;
	rep->gen = *gen_stats(gen);
	rc = gen_sites(gen, &rep->sites, &rep->nsites);
	if (rc)
		return rc;
	rep->top_sites = opt->top && opt->top < rep->nsites ? opt->top : rep->nsites;
	rc = copy_shots(rep, gen);
	if (!rc)
		rc = copy_timeline(rep, gen);
	if (!rc)
		rc = leak_generations(rep, gen);
	if (rc)
		return rc;
	n = 4 * rep->nsites + 1;
	for (size_t i = 0; i < rep->nshots; i++)
		n += rep->shots[i].nsites;
	peak = by_peak(rep);
	ids = malloc(n * sizeof(*ids));
	if (!peak || !ids) {
		rc = -ENOMEM;
		goto out;
	}
	n = opt->all_stacks ? rep->nsites : rep->top_sites;
	for (size_t i = 0; i < n; i++)
		ids[nids++] = rep->sites[i].stack;
	for (size_t i = 0; i < rep->top_sites; i++)
		ids[nids++] = peak[i]->stack;
	for (size_t i = 0; i < rep->nshots; i++)
		for (size_t j = 0; j < shot_shown(rep, &rep->shots[i]); j++)
			ids[nids++] = rep->shots[i].sites[j].stack;
	if (opt->html) {
		rc = html_ids(rep, ids, &nids);
		if (rc)
			goto out;
	}
	qsort(ids, nids, sizeof(*ids), u64_cmp);
	for (size_t i = k = 0; i < nids; i++)
		if (i == 0 || ids[i] != ids[k - 1])
			ids[k++] = ids[i];
	nids = k;
	rep->stacks = calloc(nids ? nids : 1, sizeof(*rep->stacks));
	if (!rep->stacks) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nids; i++) {
		struct report_stack *s = &rep->stacks[i];

		s->id = ids[i];
		rep->nstacks_resolved++;
		rc = report_resolve_stack(rep, s->id, &s->frames, &s->nframes, &s->known);
		if (rc)
			goto out;
	}
out:
	free(peak);
	free(ids);
	return rc;
}

void report_sites_release(struct report *rep)
{
	for (size_t i = 0; i < rep->nstacks_resolved; i++)
		free(rep->stacks[i].frames);
	free(rep->stacks);
	free(rep->sites);
	for (size_t i = 0; i < rep->nshots; i++)
		free(rep->shots[i].sites);
	free(rep->shots);
	free(rep->shot_ids);
	free(rep->timeline);
	free(rep->cycle_gens);
	free(rep->block_gens);
	rep->block_gens = NULL;
	rep->cycle_gens = NULL;
	rep->have_leak_gens = 0;
	rep->timeline = NULL;
	rep->ntimeline = 0;
	rep->shots = NULL;
	rep->shot_ids = NULL;
	rep->nshots = 0;
	rep->stacks = NULL;
	rep->sites = NULL;
	rep->nstacks_resolved = rep->nsites = 0;
}

const struct report_stack *report_stack_find(const struct report *rep, uint64_t id)
{
	size_t lo = 0, hi = rep->nstacks_resolved;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rep->stacks[mid].id < id)
			lo = mid + 1;
		else if (rep->stacks[mid].id > id)
			hi = mid;
		else
			return &rep->stacks[mid];
	}
	return NULL;
}

/* ---- text ---------------------------------------------------------------- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void print_percent(FILE *out, uint64_t part, uint64_t whole)
{
	if (!whole)
		fprintf(out, "     -");
	else
		fprintf(out, "%5.1f%%", 100.0 * (double)part / (double)whole);
}

/* "main (prog.c:12)" for the first frame with a function, else the ip. */
static void print_where(FILE *out, const struct report *rep, uint64_t stack)
{
	const struct report_stack *s = report_stack_find(rep, stack);

	if (!stack) {
		fprintf(out, "(no stack recorded)");
		return;
	}
	if (!s || !s->known || !s->nframes) {
		fprintf(out, "stack %" PRIu64 " (not defined in the trace)", stack);
		return;
	}
	for (size_t i = 0; i < s->nframes; i++) {
		const struct report_frame *f = &s->frames[i];

		if (!f->function)
			continue;
		fprintf(out, "%s", f->function);
		if (f->file)
			fprintf(out, " (%s:%u)", base_name(f->file), f->line);
		return;
	}
	fprintf(out, "0x%" PRIx64, s->frames[0].ip);
	if (s->frames[0].module)
		fprintf(out, " [%s]", base_name(s->frames[0].module));
}

static void print_frames(FILE *out, const struct report *rep, uint64_t stack)
{
	const struct report_stack *s = report_stack_find(rep, stack);

	if (!stack) {
		fprintf(out, "    (no stack recorded)\n");
		return;
	}
	if (!s || !s->known) {
		fprintf(out, "    (stack %" PRIu64 " is not defined in the trace)\n", stack);
		return;
	}
	for (size_t k = 0; k < s->nframes; k++) {
		const struct report_frame *f = &s->frames[k];

		fprintf(out, "    %s 0x%012" PRIx64 ": %s", f->inlined ? "  inlined" : k == 0 ? "at" : "by",
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
}

static void print_peak_table(FILE *out, const struct report *rep)
{
	const struct gen_site **peak = by_peak(rep);
	size_t n = shown(rep);

	if (!peak)
		return;
	fprintf(out, "\nallocation sites: %zu", rep->nsites);
	if (n < rep->nsites)
		fprintf(out, " (the %zu with the highest peak shown)", n);
	fprintf(out, "; temporary: %" PRIu64 " allocations freed with no other allocation in between\n",
		rep->gen.temporary);
	if (n)
		fprintf(out, "  %12s %10s %14s %10s  %s\n", "peak bytes", "allocs", "bytes", "temporary",
			"where");
	for (size_t i = 0; i < n; i++) {
		const struct gen_site *s = peak[i];

		fprintf(out, "  %12" PRIu64 " %10" PRIu64 " %14" PRIu64 " %10" PRIu64 "  ", s->peak_bytes,
			s->allocations, s->bytes, s->temporary);
		print_where(out, rep, s->stack);
		fputc('\n', out);
	}
	free(peak);
}

static void print_ns(FILE *out, uint64_t ns)
{
	if (ns < 1000)
		fprintf(out, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		fprintf(out, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		fprintf(out, "%.1f ms", (double)ns / 1e6);
	else
		fprintf(out, "%.1f s", (double)ns / 1e9);
}

static void print_hist(FILE *out, const uint64_t *hist, int ns)
{
	int lo = -1, hi = -1;

	for (int k = 0; k < GEN_BUCKETS; k++) {
		if (hist[k]) {
			if (lo < 0)
				lo = k;
			hi = k;
		}
	}
	for (int k = lo; lo >= 0 && k <= hi; k++) {
		uint64_t a = k ? (uint64_t)1 << (k - 1) : 0;

		fprintf(out, "    ");
		if (k == 0) {
			fprintf(out, "%-24s", "0");
		} else {
			char buf[64];
			FILE *m = fmemopen(buf, sizeof(buf), "w");

			if (!m)
				continue;
			if (ns) {
				print_ns(m, a);
				fprintf(m, " to < ");
				if (k < 64)
					print_ns(m, a * 2);
				else
					fprintf(m, "2^64 ns");
			} else if (k == 1) {
				fprintf(m, "1");
			} else {
				fprintf(m, "%" PRIu64 " to %" PRIu64, a, a * 2 - 1);
			}
			fclose(m);
			fprintf(out, "%-24s", buf);
		}
		fprintf(out, " %12" PRIu64 "\n", hist[k]);
	}
}

static void print_generations(FILE *out, const struct report *rep)
{
	const struct gen_stats *st = &rep->gen;
	uint64_t live = 0;

	fprintf(out, "\ngenerations: CPython-like model, thresholds %" PRIu64 "/%" PRIu64 "/%" PRIu64
		     ", on a clock of %" PRIu64 " allocations\n",
		st->gen[0].threshold, st->gen[1].threshold, st->gen[2].threshold, st->clock);
	fprintf(out, "  %3s %11s %10s %14s %10s %14s %10s %14s %10s %14s %8s\n", "gen", "collections",
		"entered", "bytes", "died", "bytes", "promoted", "bytes", "live", "bytes", "survival");
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		const struct gen_generation *x = &st->gen[g];

		live += x->live;
		fprintf(out, "  %3u %11" PRIu64 " %10" PRIu64 " %14" PRIu64 " %10" PRIu64 " %14" PRIu64
			     " %10" PRIu64 " %14" PRIu64 " %10" PRIu64 " %14" PRIu64 "  ",
			g, x->collections, x->entered, x->entered_bytes, x->died, x->died_bytes, x->promoted,
			x->promoted_bytes, x->live, x->live_bytes);
		if (g + 1 < GEN_COUNT)
			print_percent(out, x->promoted, x->entered);
		else
			fprintf(out, "     -");
		fputc('\n', out);
	}
	fprintf(out, "  (survival: the share of the blocks that entered a generation and were promoted)\n");

	fprintf(out, "\nlifetimes of the %" PRIu64 " freed blocks (%" PRIu64 " still live at the end are not counted)\n",
		st->freed, live);
	fprintf(out, "  in allocations made in between:\n");
	print_hist(out, st->hist_allocs, 0);
	fprintf(out, "  in time:\n");
	print_hist(out, st->hist_ns, 1);

	fprintf(out, "\nlong-lived sites (most bytes reaching generation %d first)", GEN_COUNT - 1);
	if (shown(rep) < rep->nsites)
		fprintf(out, ", the first %zu of %zu", shown(rep), rep->nsites);
	fprintf(out, ":\n");
	for (size_t i = 0; i < shown(rep); i++) {
		const struct gen_site *s = &rep->sites[i];

		fprintf(out, "\n#%zu: %" PRIu64 " allocation%s (%" PRIu64 " bytes), %" PRIu64
			     " reached generation %d (",
			i + 1, s->allocations, s->allocations == 1 ? "" : "s", s->bytes, s->reached_oldest,
			GEN_COUNT - 1);
		fprintf(out, "%.1f%%", s->allocations ? 100.0 * (double)s->reached_oldest / (double)s->allocations : 0.0);
		fprintf(out, "), median lifetime %" PRIu64 " allocations, stack %" PRIu64 "\n",
			s->median_lifetime, s->stack);
		fprintf(out, "    live at end: %" PRIu64 " blocks (%" PRIu64 " bytes), by generation %" PRIu64
			     "/%" PRIu64 "/%" PRIu64 "; peak %" PRIu64 " bytes; %" PRIu64 " temporary\n",
			s->live, s->live_bytes, s->live_by_gen[0], s->live_by_gen[1], s->live_by_gen[2],
			s->peak_bytes, s->temporary);
		print_frames(out, rep, s->stack);
	}
}

static void print_shots(FILE *out, const struct report *rep)
{
	size_t last = rep->nshots - 1;

	fprintf(out, "\nsnapshot generations: blocks still live at snapshot %" PRIu64 " (seq %" PRIu64
		     "), by when they were born\n",
		rep->shot_ids[last], rep->shots[last].to_seq);
	for (size_t k = 0; k < rep->nshots; k++) {
		const struct gen_heapshot *h = &rep->shots[k];

		if (k == 0)
			fprintf(out, "  before snapshot %" PRIu64 " (seq %" PRIu64 ")", rep->shot_ids[0],
				h->to_seq);
		else
			fprintf(out, "  snapshot %" PRIu64 " to %" PRIu64 " (seq %" PRIu64 " to %" PRIu64 ")",
				rep->shot_ids[k - 1], rep->shot_ids[k], h->from_seq, h->to_seq);
		fprintf(out, ": %" PRIu64 " bytes in %" PRIu64 " block%s, from %zu site%s\n", h->bytes,
			h->blocks, h->blocks == 1 ? "" : "s", h->nsites, h->nsites == 1 ? "" : "s");
		for (size_t j = 0; j < shot_shown(rep, h); j++) {
			fprintf(out, "    %12" PRIu64 " bytes in %8" PRIu64 " blocks  ", h->sites[j].bytes,
				h->sites[j].blocks);
			print_where(out, rep, h->sites[j].stack);
			fputc('\n', out);
		}
	}
}

static void print_leak_gens(FILE *out, const struct report *rep)
{
	static const char *const what[] = { NULL, "in cycles", "held by cycles", "plain leaks" };

	fprintf(out, "\nunreachable at the snapshot, by generation at the end (0/1/2/freed later):\n");
	for (int c = GRAPH_CYCLE; c <= GRAPH_PLAIN_LEAK; c++)
		fprintf(out, "  %-15s %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n", what[c],
			rep->leak_gens[c][0], rep->leak_gens[c][1], rep->leak_gens[c][2],
			rep->leak_gens[c][GEN_COUNT]);
	for (size_t k = 0; rep->cycle_gens && k < rep->graph.ncycles; k++)
		fprintf(out, "  cycle #%zu: %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n", k + 1,
			rep->cycle_gens[k][0], rep->cycle_gens[k][1], rep->cycle_gens[k][2],
			rep->cycle_gens[k][GEN_COUNT]);
}

/* CPython targets: the collector's own generations, beside the model's. */
static void print_py_generations(FILE *out, const struct report *rep)
{
	fprintf(out, "\npython generations: objects CPython's collector tracked per generation, at each"
		     " Python-aware snapshot\n");
	fprintf(out, "  %8s %-20s %12s %10s %10s %10s %10s\n", "snapshot", "trigger", "seq", "gen 0",
		"gen 1", "gen 2", "objects");
	for (size_t i = 0; i < rep->npysnaps; i++) {
		const struct py_snapshot *s = &rep->pysnaps[i];

		fprintf(out, "  %8" PRIu64 " %-20s %12" PRIu64, s->id,
			s->trigger == RS_SNAP_EXIT ? "before finalization" : reader_trigger_name(s->trigger),
			s->seq);
		for (uint64_t g = 0; g < 3; g++) {
			if (g < s->ngen)
				fprintf(out, " %10" PRIu64, s->gen_objects[g]);
			else
				fprintf(out, " %10s", "-");
		}
		fprintf(out, " %10zu%s\n", s->nobjs, s->complete ? "" : " (incomplete)");
	}
}

void report_text_sites(const struct report *rep, FILE *out)
{
	print_peak_table(out, rep);
	if (rep->show_generations)
		print_generations(out, rep);
	if (rep->show_generations && rep->nshots)
		print_shots(out, rep);
	if (rep->show_generations && rep->have_leak_gens)
		print_leak_gens(out, rep);
	if (rep->show_generations && rep->npysnaps)
		print_py_generations(out, rep);
}

/* ---- JSON ---------------------------------------------------------------- */

static void field(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

static void ratio(struct jsonw *w, const char *key, uint64_t part, uint64_t whole)
{
	jsonw_key(w, key);
	if (whole)
		jsonw_double(w, (double)part / (double)whole);
	else
		jsonw_null(w);
}

static void write_frames(struct jsonw *w, const struct report_stack *s)
{
	jsonw_key(w, "frames");
	jsonw_begin_array(w);
	for (size_t k = 0; s && k < s->nframes; k++) {
		report_json_frame(w, &s->frames[k]);
	}
	jsonw_end_array(w);
}

static void write_hist(struct jsonw *w, const char *key, const uint64_t *hist)
{
	jsonw_key(w, key);
	jsonw_begin_array(w);
	for (int k = 0; k < GEN_BUCKETS; k++) {
		if (!hist[k])
			continue;
		jsonw_begin_object(w);
		field(w, "min", k ? (uint64_t)1 << (k - 1) : 0);
		field(w, "max", k == 0 ? 0 : k == 64 ? UINT64_MAX : ((uint64_t)1 << k) - 1);
		field(w, "blocks", hist[k]);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

static void write_uints(struct jsonw *w, const char *key, const uint64_t *v, size_t n)
{
	jsonw_key(w, key);
	jsonw_begin_array(w);
	for (size_t i = 0; i < n; i++)
		jsonw_uint(w, v[i]);
	jsonw_end_array(w);
}

void report_json_sites(const struct report *rep, struct jsonw *w)
{
	const struct gen_stats *st = &rep->gen;
	uint64_t live = 0;

	jsonw_key(w, "generations");
	jsonw_begin_array(w);
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		const struct gen_generation *x = &st->gen[g];

		live += x->live;
		jsonw_begin_object(w);
		field(w, "collections", x->collections);
		field(w, "collected", x->died);
		jsonw_key(w, "uncollectable");
		jsonw_null(w);
		field(w, "generation", g);
		field(w, "threshold", x->threshold);
		field(w, "entered", x->entered);
		field(w, "entered_bytes", x->entered_bytes);
		field(w, "died", x->died);
		field(w, "died_bytes", x->died_bytes);
		field(w, "promoted", x->promoted);
		field(w, "promoted_bytes", x->promoted_bytes);
		field(w, "live", x->live);
		field(w, "live_bytes", x->live_bytes);
		if (g + 1 < GEN_COUNT) {
			ratio(w, "survival_rate", x->promoted, x->entered);
		} else {
			jsonw_key(w, "survival_rate");
			jsonw_null(w);
		}
		jsonw_end_object(w);
	}
	jsonw_end_array(w);

	jsonw_key(w, "lifetimes");
	jsonw_begin_object(w);
	field(w, "allocation_clock", st->clock);
	field(w, "freed", st->freed);
	field(w, "live", live);
	field(w, "temporary", st->temporary);
	field(w, "temporary_bytes", st->temporary_bytes);
	write_hist(w, "allocations", st->hist_allocs);
	write_hist(w, "ns", st->hist_ns);
	jsonw_end_object(w);

	jsonw_key(w, "leak_generations");
	if (rep->have_leak_gens) {
		static const char *const what[] = { NULL, "cycle", "held_by_cycle", "plain_leak" };

		jsonw_begin_object(w);
		for (int c = GRAPH_CYCLE; c <= GRAPH_PLAIN_LEAK; c++)
			write_uints(w, what[c], rep->leak_gens[c], GEN_COUNT + 1);
		jsonw_key(w, "cycles");
		jsonw_begin_array(w);
		for (size_t k = 0; rep->cycle_gens && k < rep->graph.ncycles; k++) {
			jsonw_begin_array(w);
			for (unsigned g = 0; g <= GEN_COUNT; g++)
				jsonw_uint(w, rep->cycle_gens[k][g]);
			jsonw_end_array(w);
		}
		jsonw_end_array(w);
		jsonw_end_object(w);
	} else {
		jsonw_null(w);
	}

	jsonw_key(w, "snapshot_generations");
	if (rep->nshots) {
		jsonw_begin_object(w);
		field(w, "last_snapshot", rep->shot_ids[rep->nshots - 1]);
		field(w, "last_seq", rep->shots[rep->nshots - 1].to_seq);
		jsonw_key(w, "intervals");
		jsonw_begin_array(w);
		for (size_t k = 0; k < rep->nshots; k++) {
			const struct gen_heapshot *h = &rep->shots[k];

			jsonw_begin_object(w);
			jsonw_key(w, "from_snapshot");
			if (k)
				jsonw_uint(w, rep->shot_ids[k - 1]);
			else
				jsonw_null(w);
			field(w, "to_snapshot", rep->shot_ids[k]);
			field(w, "from_seq", h->from_seq);
			field(w, "to_seq", h->to_seq);
			field(w, "blocks", h->blocks);
			field(w, "bytes", h->bytes);
			field(w, "site_count", h->nsites);
			jsonw_key(w, "sites");
			jsonw_begin_array(w);
			for (size_t j = 0; j < shot_shown(rep, h); j++) {
				jsonw_begin_object(w);
				field(w, "stack_id", h->sites[j].stack);
				field(w, "blocks", h->sites[j].blocks);
				field(w, "bytes", h->sites[j].bytes);
				write_frames(w, report_stack_find(rep, h->sites[j].stack));
				jsonw_end_object(w);
			}
			jsonw_end_array(w);
			jsonw_end_object(w);
		}
		jsonw_end_array(w);
		jsonw_end_object(w);
	} else {
		jsonw_null(w);
	}

	jsonw_key(w, "sites");
	jsonw_begin_object(w);
	field(w, "count", rep->nsites);
	jsonw_key(w, "long_lived");
	jsonw_begin_array(w);
	for (size_t i = 0; i < shown(rep); i++) {
		const struct gen_site *s = &rep->sites[i];

		jsonw_begin_object(w);
		field(w, "stack_id", s->stack);
		field(w, "allocations", s->allocations);
		field(w, "bytes", s->bytes);
		field(w, "frees", s->frees);
		field(w, "temporary", s->temporary);
		field(w, "peak_bytes", s->peak_bytes);
		field(w, "live", s->live);
		field(w, "live_bytes", s->live_bytes);
		write_uints(w, "live_by_generation", s->live_by_gen, GEN_COUNT);
		write_uints(w, "live_bytes_by_generation", s->live_bytes_by_gen, GEN_COUNT);
		field(w, "reached_oldest", s->reached_oldest);
		field(w, "reached_oldest_bytes", s->reached_oldest_bytes);
		ratio(w, "reached_oldest_share", s->reached_oldest, s->allocations);
		field(w, "median_lifetime_allocations", s->median_lifetime);
		write_frames(w, report_stack_find(rep, s->stack));
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_end_object(w);
}
