/*
 * report.c - `refscope report`: reads a trace, replays it, symbolizes the
 * biggest groups of blocks still live at exit, and hands the result to the
 * text or JSON writer. Building the report is apart from writing it so the
 * tests check the facts and the two formats cannot disagree about them.
 */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "commands.h"
#include "symbols.h"

#define PROGRESS_MIN_BYTES (16u << 20)
#define MAX_INLINE 64

const char *report_end_how_name(uint64_t how)
{
	switch (how) {
	case RS_END_EXIT: return "exit";
	case RS_END_EXIT_CALL: return "exit_call";
	case RS_END_SIGNAL: return "signal";
	case RS_END_ABORT: return "abort";
	case RS_END_EXEC: return "exec";
	default: return NULL;
	}
}

const char *report_module_status_name(int status)
{
	switch (status) {
	case SYM_MODULE_OK: return "ok";
	case SYM_MODULE_STALE: return "stale";
	case SYM_MODULE_MISSING: return "missing";
	case SYM_MODULE_NO_BUILD_ID: return "no_build_id";
	default: return "missing";
	}
}

const char *report_stop_reason_name(uint64_t reason)
{
	switch (reason) {
	case RS_STOP_WRITE_ERROR: return "write_error";
	case RS_STOP_FD_LOST: return "fd_lost";
	case RS_STOP_NO_MEMORY: return "no_memory";
	default: return "unknown";
	}
}

__attribute__((format(printf, 2, 3))) static int warn(struct report *rep, const char *fmt, ...)
{
	char **n;
	char *s;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -ENOMEM;
	n = realloc(rep->warnings, (rep->nwarnings + 1) * sizeof(*n));
	if (!n) {
		free(s);
		return -ENOMEM;
	}
	rep->warnings = n;
	rep->warnings[rep->nwarnings++] = s;
	return 0;
}

/* A pseudo-module (the vdso) has no file; missing it is normal. */
static int is_pseudo_module(const char *path)
{
	return path[0] == '[' || !strncmp(path, "linux-vdso.so", 13) ||
	       !strncmp(path, "linux-gate.so", 13);
}

static int add_modules(struct report *rep, const struct report_options *opt)
{
	const struct reader_process *pr = reader_process(rep->r);
	const struct reader_module *mods;
	size_t n;
	int rc;

	mods = reader_modules(rep->r, &n);
	rep->modules = calloc(n ? n : 1, sizeof(*rep->modules));
	if (!rep->modules)
		return -ENOMEM;
	if (opt->symbolize) {
		rc = symbolizer_new(&rep->sym);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		const struct reader_module *m = &mods[i];
		struct report_module *rm = &rep->modules[rep->nmodules++];
		struct sym_segment segs[64];
		size_t nseg = m->nseg < 64 ? m->nseg : 64;

		rm->path = m->path[0] ? m->path : pr && pr->exe ? pr->exe : "";
		rm->base = m->base;
		rm->build_id = m->build_id;
		rm->build_id_len = m->build_id_len;
		rm->status = -1;
		if (!rep->sym)
			continue;
		for (size_t k = 0; k < nseg; k++) {
			segs[k].vaddr = m->segs[k].vaddr;
			segs[k].memsz = m->segs[k].memsz;
			segs[k].flags = (uint32_t)m->segs[k].flags;
		}
		rc = symbolizer_add_module(rep->sym, rm->base, rm->path, rm->build_id, rm->build_id_len,
					   segs, nseg);
		if (rc == -ENOMEM)
			return rc;
		rm->status = rc < 0 ? SYM_MODULE_MISSING : rc;
		if (!rm->path[0] || is_pseudo_module(rm->path))
			continue;
		if (rm->status == SYM_MODULE_STALE)
			rc = warn(rep, "module %s changed since the run (build-id differs): its frames may be wrong",
				  rm->path);
		else if (rm->status == SYM_MODULE_MISSING)
			rc = warn(rep, "module %s cannot be opened: its frames show the module only",
				  rm->path);
		else
			rc = 0;
		if (rc)
			return rc;
	}
	return 0;
}

static int push_frame(struct report_frame **frames, size_t *n, size_t *cap,
		      const struct report_frame *f)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct report_frame *nf = realloc(*frames, ncap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		*frames = nf;
		*cap = ncap;
	}
	(*frames)[(*n)++] = *f;
	return 0;
}

int report_resolve_stack(const struct report *rep, uint64_t stack, struct report_frame **frames,
			 size_t *nframes, int *known)
{
	size_t nips, cap = 0;
	const uint64_t *ips = reader_stack(rep->r, stack, &nips);
	struct sym_frame sf[MAX_INLINE];

	*frames = NULL;
	*nframes = 0;
	*known = ips != NULL;
	for (size_t i = 0; i < nips; i++) {
		struct report_frame f = { .ip = ips[i] };
		size_t n = 0;
		int rc;

		if (rep->sym && symbolizer_resolve(rep->sym, ips[i], i > 0, sf, MAX_INLINE, &n) == 0 && n) {
			for (size_t k = 0; k < n; k++) {
				f.function = sf[k].function;
				f.file = sf[k].file;
				f.line = sf[k].line;
				f.module = sf[k].module;
				f.inlined = sf[k].inlined;
				rc = push_frame(frames, nframes, &cap, &f);
				if (rc)
					return rc;
			}
			continue;
		}
		rc = push_frame(frames, nframes, &cap, &f);
		if (rc)
			return rc;
	}
	return 0;
}

static int resolve_group(struct report *rep, struct report_group *g)
{
	return report_resolve_stack(rep, g->g.stack, &g->frames, &g->nframes, &g->stack_known);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Resolves every stack id in ids (duplicates allowed) into rep->graph_stacks. */
static int resolve_stacks(struct report *rep, uint64_t *ids, size_t n)
{
	size_t distinct = 0;

	if (n)	/* ids may be NULL when n is 0: qsort's arguments must not be */
		qsort(ids, n, sizeof(*ids), u64_cmp);
	for (size_t i = 0; i < n; i++)
		distinct += !i || ids[i] != ids[i - 1];
	rep->graph_stacks = calloc(distinct ? distinct : 1, sizeof(*rep->graph_stacks));
	if (!rep->graph_stacks)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct report_stack *st;

		if (i && ids[i] == ids[i - 1])
			continue;
		st = &rep->graph_stacks[rep->ngraph_stacks++];
		st->id = ids[i];
		if (report_resolve_stack(rep, ids[i], &st->frames, &st->nframes, &st->known))
			return -ENOMEM;
	}
	return 0;
}

const struct report_stack *report_graph_stack(const struct report *rep, uint64_t id)
{
	size_t lo = 0, hi = rep->ngraph_stacks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rep->graph_stacks[mid].id == id)
			return &rep->graph_stacks[mid];
		if (rep->graph_stacks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *report_stack_function(const struct report *rep, uint64_t id)
{
	const struct report_stack *st = report_graph_stack(rep, id);

	for (size_t i = 0; st && i < st->nframes; i++)
		if (st->frames[i].function)
			return st->frames[i].function;
	return NULL;
}

static void progress_show(struct report *rep, int *shown, int *last)
{
	uint64_t size = reader_file_size(rep->r);
	int pct = size ? (int)(reader_progress(rep->r) * 100 / size) : 100;

	if (pct == *last)
		return;
	*last = pct;
	*shown = 1;
	fprintf(stderr, "\rrefscope: reading %s %3d%%", rep->path, pct);
	fflush(stderr);
}

/* What the snapshot analysis keeps from the replay: the blocks live when
 * the snapshot was taken and their reference counts then. */
struct capture {
	struct refcounts *rc; /* NULL: no analysis */
	const struct reader_snapshot *snap;
	int taken;
	struct heap_block *blocks;
	size_t nblocks;
	uint8_t *counted;
	int64_t *balance;
	/* the Python-aware snapshot's blocks (pygraph.h) */
	const struct py_snapshot *pysnap;
	int pytaken;
	struct heap_block *pyblocks;
	size_t npyblocks;
};

static int capture_take(struct capture *c, const struct heap *h)
{
	int rc;

	c->taken = 1;
	rc = heap_blocks(h, &c->blocks, &c->nblocks);
	if (rc)
		return rc;
	c->counted = calloc(c->nblocks ? c->nblocks : 1, 1);
	c->balance = calloc(c->nblocks ? c->nblocks : 1, sizeof(*c->balance));
	if (!c->counted || !c->balance)
		return -ENOMEM;
	for (size_t i = 0; i < c->nblocks; i++) {
		struct refcount_object o;

		if (refcounts_lookup(c->rc, c->blocks[i].addr, &o)) {
			c->counted[i] = 1;
			c->balance[i] = o.balance;
		}
	}
	return 0;
}

static int replay(struct report *rep, const struct report_options *opt, struct heap *h,
		  struct gen_model *gen, struct capture *cap)
{
	int show = opt->progress && isatty(STDERR_FILENO) &&
		   reader_file_size(rep->r) > PROGRESS_MIN_BYTES;
	int shown = 0, last = -1;
	uint64_t n = 0;
	struct reader_event ev;
	int rc;

	while ((rc = reader_next(rep->r, &ev)) == 1) {
		if (cap->pysnap && !cap->pytaken && ev.seq >= cap->pysnap->seq) {
			cap->pytaken = 1;
			rc = heap_blocks(h, &cap->pyblocks, &cap->npyblocks);
			if (rc)
				break;
		}
		if (cap->rc && !cap->taken) {
			/* the snapshot sees every event numbered below its seq */
			if (cap->snap && ev.seq >= cap->snap->seq) {
				rc = capture_take(cap, h);
				if (rc)
					break;
			} else {
				rc = refcounts_event(cap->rc, h, &ev);
				if (rc)
					break;
			}
		}
		rc = heap_event(h, &ev);
		if (!rc)
			rc = gen_event(gen, &ev);
		if (rc)
			break;
		if (show && (++n & 0xffff) == 0)
			progress_show(rep, &shown, &last);
	}
	if (shown)
		fprintf(stderr, "\r%*s\r", (int)strlen(rep->path) + 24, "");
	if (rc == 0 && cap->rc && cap->snap && !cap->taken)
		rc = capture_take(cap, h);
	if (rc == 0 && cap->pysnap && !cap->pytaken) {
		cap->pytaken = 1;
		rc = heap_blocks(h, &cap->pyblocks, &cap->npyblocks);
	}
	return rc;
}

static int choose_snapshot(struct report *rep, const struct report_options *opt)
{
	size_t n = reader_nsnapshots(rep->r);

	if (opt->snapshot < 0) {
		rep->snapshot = n ? reader_snapshot(rep->r, n - 1) : NULL;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct reader_snapshot *s = reader_snapshot(rep->r, i);

		if (s->id == (uint64_t)opt->snapshot) {
			rep->snapshot = s;
			return 0;
		}
	}
	return REPORT_NO_SNAPSHOT;
}

static int blame_add(struct report *rep, const struct refcount_blame *b, size_t *cap)
{
	for (size_t i = 0; i < rep->nblame; i++) {
		if (rep->blame[i].stack == b->stack && rep->blame[i].is_alloc == b->is_alloc) {
			rep->blame[i].references += b->count;
			rep->blame[i].objects++;
			return 0;
		}
	}
	if (rep->nblame == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct report_blame *n = realloc(rep->blame, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rep->blame = n;
		*cap = ncap;
	}
	rep->blame[rep->nblame++] = (struct report_blame){ b->stack, b->is_alloc, b->count, 1 };
	return 0;
}

static int report_blame_cmp(const void *a, const void *b)
{
	const struct report_blame *x = a, *y = b;

	if (x->references != y->references)
		return x->references > y->references ? -1 : 1;
	if (x->is_alloc != y->is_alloc)
		return x->is_alloc ? 1 : -1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The leaked refcounted objects with their blame, and every stack the
 * analysis shows, resolved. */
static int analyze_refcounts(struct report *rep, struct refcounts *rc)
{
	struct refcount_object *live = NULL;
	size_t nlive = 0, cap_blame = 0, nids = 0, cap_ids = 0;
	uint64_t *ids = NULL;
	const struct graph *g = &rep->graph;
	int err;

	refcounts_totals(rc, &rep->rc_totals);
	err = refcounts_apis(rc, &rep->apis, &rep->napis);
	if (err)
		return err;
	err = refcounts_live(rc, &live, &nlive);
	if (err)
		return err;
	rep->refobjs = calloc(nlive ? nlive : 1, sizeof(*rep->refobjs));
	if (!rep->refobjs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nlive; i++) {
		struct report_refobj ro = { .o = live[i], .block = UINT32_MAX, .cls = -1 };

		if (rep->have_graph) {
			uint32_t b = graph_find(g, live[i].addr);

			if (b == UINT32_MAX || g->blocks[b].addr != live[i].addr || !g->counted ||
			    !g->counted[b])
				continue;
			ro.block = b;
			ro.cls = g->cls[b];
			ro.count_garbage = !g->count_alive[b];
			ro.gc_refs = g->gc_refs[b];
			if (ro.cls == GRAPH_REACHABLE && !ro.count_garbage)
				continue;
		} else if (!live[i].allocated) {
			continue;
		}
		err = refcounts_blame(rc, rep->r, live[i].addr, &ro.blame, &ro.nblame);
		if (err)
			goto out;
		rep->refobjs[rep->nrefobjs++] = ro;
		for (size_t k = 0; k < ro.nblame; k++) {
			err = blame_add(rep, &ro.blame[k], &cap_blame);
			if (err)
				goto out;
		}
	}
	if (rep->blame)
		qsort(rep->blame, rep->nblame, sizeof(*rep->blame), report_blame_cmp);

	/* every stack shown: cycle members and what hangs off them, leaked
	 * objects, blame */
#define PUSH_ID(x)                                                               	do {                                                                     		if (nids == cap_ids) {                                           			size_t nc = cap_ids ? cap_ids * 2 : 64;                  			uint64_t *ni = realloc(ids, nc * sizeof(*ni));           			if (!ni) {                                               				err = -ENOMEM;                                   				goto out;                                        			}                                                        			ids = ni;                                                			cap_ids = nc;                                            		}                                                                		ids[nids++] = (x);                                               	} while (0)
	for (size_t k = 0; rep->have_graph && k < g->ncycles; k++) {
		const struct graph_cycle *cy = &g->cycles[k];

		/* every member: the HTML page lists each cycle's members by site */
		for (size_t i = 0; i < cy->nmembers; i++)
			PUSH_ID(g->blocks[cy->members[i]].stack);
		for (size_t i = 0; i < cy->nhanging && i < REPORT_CYCLE_SHOW; i++)
			PUSH_ID(g->blocks[cy->hanging[i]].stack);
	}
	for (size_t k = 0; rep->have_pygraph && k < rep->pygraph.ncycles; k++) {
		const struct pygraph_cycle *cy = &rep->pygraph.cycles[k];

		for (size_t i = 0; i < cy->nmembers && i < REPORT_CYCLE_SHOW; i++)
			PUSH_ID(pygraph_obj_stack(&rep->pygraph, cy->members[i]));
	}
	for (size_t i = 0; i < rep->nrefobjs; i++) {
		PUSH_ID(rep->refobjs[i].o.alloc_stack);
		for (size_t k = 0; k < rep->refobjs[i].nblame; k++)
			PUSH_ID(rep->refobjs[i].blame[k].stack);
	}
#undef PUSH_ID
	err = resolve_stacks(rep, ids, nids);
out:
	free(ids);
	free(live);
	return err;
}

static int analyze(struct report *rep, struct refcounts *rc, struct capture *cap)
{
	int err;

	if (cap->pysnap && cap->pytaken) {
		err = pygraph_analyze(&rep->pygraph, cap->pysnap, cap->pyblocks, cap->npyblocks);
		cap->pyblocks = NULL;
		rep->have_pygraph = 1;
		rep->pysnap = cap->pysnap;
		if (err)
			return err;
	}
	if (rep->snapshot) {
		struct reader_word *words = NULL;
		size_t nwords = 0;

		err = reader_snapshot_words(rep->r, (size_t)(rep->snapshot - reader_snapshot(rep->r, 0)),
					    &words, &nwords);
		if (err && err != -EINVAL) {
			free(words);
			return err;
		}
		/* damage: the graph is built from the words before it */
		err = graph_build(&rep->graph, rep->snapshot, cap->blocks, cap->nblocks, words, nwords);
		cap->blocks = NULL;
		rep->have_graph = 1;
		free(words);
		if (err)
			return err;
		graph_set_counts(&rep->graph, cap->counted, cap->balance);
		cap->counted = NULL;
		cap->balance = NULL;
		err = graph_analyze(&rep->graph);
		if (err)
			return err;
	}
	return analyze_refcounts(rep, rc);
}


static int add_warnings(struct report *rep)
{
	const struct reader_end *end = reader_end(rep->r);
	const struct reader_stopped *st = reader_stopped(rep->r);
	const struct reader_process *pr = reader_process(rep->r);
	const struct heap_totals *t = &rep->totals;
	int rc = 0;

	if (rep->have_error && rep->error.cut)
		rc = warn(rep, "trace is incomplete: its last record, at byte %" PRIu64 ", is cut short"
			  " (killed while writing, or the disk was full): %s; the report covers"
			  " everything before it",
			  rep->error.offset, rep->error.message);
	else if (rep->have_error)
		rc = warn(rep, "decode error: %s; the report covers what came before it",
			  rep->error.message);
	if (!rc && rep->scanned && !end)
		rc = warn(rep, "trace is incomplete: no END record (the program was killed, or the trace was cut)");
	if (!rc && st)
		rc = warn(rep, "tracing stopped early at seq %" PRIu64 ": %s (errno %" PRIu64 ": %s)",
			  st->seq, report_stop_reason_name(st->reason), st->err,
			  strerror(st->err < INT_MAX ? (int)st->err : 0));
	if (!rc && end && end->events_lost)
		rc = warn(rep, "%" PRIu64 " events were not written after tracing stopped",
			  end->events_lost);
	if (!rc && pr && pr->origin == RS_ORIGIN_FORK)
		rc = warn(rep, "this process began as a fork: blocks inherited from its parent are not in this trace");
	if (!rc && t->alloc_over_live)
		rc = warn(rep, "%" PRIu64 " allocations returned an address that was still live (a free was not traced)",
			  t->alloc_over_live);
	if (!rc && t->restore_unmatched)
		rc = warn(rep, "%" PRIu64 " failed reallocs name a block whose free was not traced",
			  t->restore_unmatched);
	if (!rc && rep->undefined_stacks)
		rc = warn(rep, "allocation stacks used but never defined in the trace: %zu",
			  rep->undefined_stacks);
	return rc;
}

int report_build(const char *path, const struct report_options *opt, struct report *rep)
{
	struct capture cap = { 0 };
	struct heap *h = NULL;
	struct gen_model *gen = NULL;
	struct heap_group *groups = NULL;
	const struct reader_error *e;
	const struct reader_end *end;
	size_t ngroups = 0, keep;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->path = path;
	rc = reader_open(path, &rep->r);
	if (rc)
		return rc;
	rc = heap_new(&h);
	if (rc)
		return rc;
	rc = gen_new(opt->have_thresholds ? opt->gen_thresholds : NULL, &gen);
	if (rc)
		goto out;
	if (!reader_error(rep->r)) {
		rep->scanned = 1;
		rc = reader_scan(rep->r, NULL, NULL);
		if (rc && rc != -EINVAL)
			goto out;
		rc = report_sites_prepare(rep, gen);
		if (rc)
			goto out;
		rc = py_snapshots_load(rep->r, &rep->pysnaps, &rep->npysnaps, rep->pyerror,
				       sizeof(rep->pyerror));
		if (rc)
			goto out;
		/* the HTML page draws the leaked cycles whenever there is a snapshot
		 * (a heap snapshot or a Python-aware one) */
		if (opt->cycles || (opt->html && (reader_nsnapshots(rep->r) || rep->npysnaps))) {
			rep->analyzed = 1;
			rc = choose_snapshot(rep, opt);
			if (rc)
				goto out;
			rc = refcounts_new(&cap.rc);
			if (rc)
				goto out;
			cap.snap = rep->snapshot;
			/* the last complete Python-aware snapshot */
			for (size_t i = rep->npysnaps; i-- > 0 && !cap.pysnap;)
				if (rep->pysnaps[i].complete)
					cap.pysnap = &rep->pysnaps[i];
		}
		rc = replay(rep, opt, h, gen, &cap);
		if (rc)
			goto out;
	}
	heap_finish(h);
	heap_totals(h, &rep->totals);
	rc = gen_finish(gen);
	if (rc)
		goto out;
	e = reader_error(rep->r);
	if (e) {
		rep->have_error = 1;
		rep->error = *e;
	}
	end = reader_end(rep->r);
	rep->duration_ns = end ? end->end_time : rep->totals.last_time;
	rep->nstacks = reader_nstacks(rep->r);

	rc = heap_groups(h, &groups, &ngroups);
	if (rc)
		goto out;
	rep->ngroups_total = ngroups;
	keep = opt->top && opt->top < ngroups ? opt->top : ngroups;
	rep->groups = calloc(keep ? keep : 1, sizeof(*rep->groups));
	if (!rep->groups) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ngroups; i++) {
		size_t nips;

		if (groups[i].stack && !reader_stack(rep->r, groups[i].stack, &nips))
			rep->undefined_stacks++;
	}
	rc = add_modules(rep, opt);
	if (rc)
		goto out;
	for (size_t i = 0; i < keep; i++) {
		rep->groups[i].g = groups[i];
		rep->ngroups++;
		rc = resolve_group(rep, &rep->groups[i]);
		if (rc)
			goto out;
	}
	if (cap.rc) {
		/* after add_modules: the analysis symbolizes its stacks */
		rc = analyze(rep, cap.rc, &cap);
		if (rc)
			goto out;
		e = reader_error(rep->r);
		if (e && !rep->have_error) {
			rep->have_error = 1;
			rep->error = *e;
		}
	}
	rc = report_sites_build(rep, opt, gen);
	if (rc)
		goto out;
	rc = add_warnings(rep);
	if (!rc && rep->analyzed && !rep->snapshot)
		rc = warn(rep, "no heap snapshot in the trace: cycles cannot be found, and every refcounted "
			       "block live at exit counts as leaked");
	if (!rc && rep->pyerror[0])
		rc = warn(rep, "python snapshot damaged: %s; the snapshots before it are used",
			  rep->pyerror);
	if (!rc && rep->snapshot && !rep->snapshot->complete)
		rc = warn(rep, "snapshot %" PRIu64 " is incomplete (no SNAPSHOT_END): its graph may miss edges",
			  rep->snapshot->id);
out:
	free(groups);
	gen_free(gen);
	heap_free(h);
	refcounts_free(cap.rc);
	free(cap.blocks);
	free(cap.pyblocks);
	free(cap.counted);
	free(cap.balance);
	return rc;
}

void report_release(struct report *rep)
{
	report_sites_release(rep);
	for (size_t i = 0; i < rep->ngroups; i++)
		free(rep->groups[i].frames);
	free(rep->groups);
	free(rep->modules);
	if (rep->have_graph)
		graph_release(&rep->graph);
	if (rep->have_pygraph)
		pygraph_release(&rep->pygraph);
	py_snapshots_free(rep->pysnaps, rep->npysnaps);
	free(rep->apis);
	for (size_t i = 0; i < rep->nrefobjs; i++)
		free(rep->refobjs[i].blame);
	free(rep->refobjs);
	free(rep->blame);
	for (size_t i = 0; i < rep->ngraph_stacks; i++)
		free(rep->graph_stacks[i].frames);
	free(rep->graph_stacks);
	for (size_t i = 0; i < rep->nwarnings; i++)
		free(rep->warnings[i]);
	free(rep->warnings);
	if (rep->sym)
		symbolizer_free(rep->sym);
	reader_close(rep->r);
	memset(rep, 0, sizeof(*rep));
}

/* ---- the command --------------------------------------------------------- */

static void report_usage(FILE *f)
{
	fprintf(f, "usage: refscope report [--json | --format FMT] [--generations] [--html FILE]\n"
		   "                       [--top N] [--cycles [--snapshot N]] [-o FILE] TRACE|DIR\n"
		   "Report the blocks a traced program never freed, grouped by allocation stack.\n"
		   "A DIR (refscope run -o DIR of a process tree): a line per process and the\n"
		   "leak sites of all of them combined; with --json, the report of every trace.\n"
		   "\n"
		   "  -j, --json         write JSON (schema: docs/JSON.md) instead of text\n"
		   "  -n, --top N        show the N biggest groups (default 20; 0: all)\n"
		   "  -c, --cycles       analyze a heap snapshot: what is unreachable (cycle\n"
		   "                     member, held by a cycle, plain leak), every leaked\n"
		   "                     cycle (members, edges closing it, what hangs off it,\n"
		   "                     found by reachability and/or reference counts), and\n"
		   "                     refcounted objects: leaked ones with the retain stacks\n"
		   "                     no release balances, and retains/releases per API\n"
		   "  -s, --snapshot N   analyze snapshot N (0 is the first taken; default: the\n"
		   "                     last); implies --cycles\n"
		   "  -o, --output FILE  write the report to FILE instead of standard output\n"
		   "  -g, --generations  also show a CPython-like generational model of the heap\n"
		   "                     (collections, promotions, survival per generation),\n"
		   "                     lifetime histograms and the long-lived allocation sites\n"
		   "      --gen-thresholds T0,T1,T2\n"
		   "                     thresholds of the model (default 700,10,10, as CPython's\n"
		   "                     gc.get_threshold(); T0 = 0 disables collections)\n"
		   "      --format FMT   text (default), json, or collapsed: folded stacks for\n"
		   "                     flamegraph.pl and speedscope, one line per stack\n"
		   "      --by WEIGHT    what --format collapsed weighs a stack by: bytes\n"
		   "                     (allocated, default), count (allocations), leaked (bytes\n"
		   "                     still live at the end)\n"
		   "      --html FILE    write one self-contained HTML page to FILE (timeline of\n"
		   "                     live bytes by generation, flame graphs of allocated and\n"
		   "                     leaked bytes, every leaked cycle of the snapshot (drawn\n"
		   "                     on a click) and of the Python-aware snapshot (objects\n"
		   "                     labelled by type), the tables); nothing on standard output\n"
		   "                     unless --json, --format or -o asks for it too\n"
		   "  -h, --help         show this help\n");
}

static int parse_count(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_thresholds(const char *s, uint64_t *out)
{
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		char *end;

		if (!(s[0] >= '0' && s[0] <= '9'))
			return -EINVAL;
		errno = 0;
		out[g] = strtoull(s, &end, 10);
		if (errno || *end != (g + 1 < GEN_COUNT ? ',' : '\0'))
			return -EINVAL;
		s = end + 1;
	}
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum cmd_status cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "top", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "cycles", no_argument, NULL, 'c' },
		{ "snapshot", required_argument, NULL, 's' },
		{ "generations", no_argument, NULL, 'g' },
		{ "gen-thresholds", required_argument, NULL, 'T' },
		{ "format", required_argument, NULL, 'F' },
		{ "by", required_argument, NULL, 'B' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct report_options opt = { .top = 20, .progress = 1, .symbolize = 1, .snapshot = -1 };
	size_t snap;
	const char *output = NULL, *html = NULL;
	int explicit_format = 0;
	struct report rep;
	FILE *out = stdout;
	enum report_weight by = REPORT_BY_BYTES;
	int json = 0, collapsed = 0, c, rc;
	enum cmd_status st = CMD_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+jn:o:gcs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.cycles = 1;
			break;
		case 's':
			if (parse_count(optarg, &snap) || snap > INT64_MAX) {
				fprintf(stderr, "refscope report: --snapshot wants a snapshot number, not '%s'\n",
					optarg);
				return CMD_USAGE;
			}
			opt.snapshot = (int64_t)snap;
			opt.cycles = 1;
			break;
		case 'g':
			opt.generations = 1;
			break;
		case 'H':
			html = optarg;
			break;
		case 'T':
			if (parse_thresholds(optarg, opt.gen_thresholds)) {
				fprintf(stderr, "refscope report: --gen-thresholds wants three counts like 700,10,10, not '%s'\n",
					optarg);
				return CMD_USAGE;
			}
			opt.have_thresholds = 1;
			break;
		case 'F':
			explicit_format = 1;
			json = !strcmp(optarg, "json");
			collapsed = !strcmp(optarg, "collapsed");
			if (!json && !collapsed && strcmp(optarg, "text")) {
				fprintf(stderr, "refscope report: --format wants text, json or collapsed, not '%s'\n",
					optarg);
				return CMD_USAGE;
			}
			break;
		case 'B':
			if (!strcmp(optarg, "bytes")) {
				by = REPORT_BY_BYTES;
			} else if (!strcmp(optarg, "count")) {
				by = REPORT_BY_COUNT;
			} else if (!strcmp(optarg, "leaked")) {
				by = REPORT_BY_LEAKED;
			} else {
				fprintf(stderr, "refscope report: --by wants bytes, count or leaked, not '%s'\n",
					optarg);
				return CMD_USAGE;
			}
			break;
		case 'j':
			explicit_format = 1;
			json = 1;
			break;
		case 'n':
			if (parse_count(optarg, &opt.top)) {
				fprintf(stderr, "refscope report: --top wants a count, not '%s'\n", optarg);
				return CMD_USAGE;
			}
			break;
		case 'o':
			explicit_format = 1;
			output = optarg;
			break;
		case 'h':
			report_usage(stdout);
			return CMD_HELP;
		default:
			report_usage(stderr);
			return CMD_USAGE;
		}
	}
	if (argc - optind != 1) {
		report_usage(stderr);
		return CMD_USAGE;
	}
	opt.all_stacks = collapsed;
	opt.html = html != NULL;
	if (is_dir(argv[optind]) && !collapsed) {
		/* a process tree's traces: check.c aggregates them */
		if (output && !(out = fopen(output, "w"))) {
			fprintf(stderr, "refscope report: cannot create %s: %s\n", output, strerror(errno));
			return CMD_BAD_INPUT;
		}
		st = (enum cmd_status)check_report_dir(argv[optind], &opt, json, out);
		if (out != stdout && fclose(out) != 0)
			st = CMD_BAD_INPUT;
		return st;
	}
	rc = report_build(argv[optind], &opt, &rep);
	if (rc == REPORT_NO_SNAPSHOT) {
		fprintf(stderr, "refscope report: %s has no snapshot %" PRId64 " (it has %zu)\n", argv[optind],
			opt.snapshot, reader_nsnapshots(rep.r));
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (rc) {
		fprintf(stderr, "refscope report: cannot read %s: %s\n", argv[optind],
			rc == -EINVAL ? "not a regular file" : strerror(-rc));
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (html) {
		FILE *h = fopen(html, "w");

		rc = h ? report_write_html(&rep, h) : -errno;
		if (h && fclose(h) != 0 && !rc)
			rc = -EIO;
		if (rc) {
			fprintf(stderr, "refscope report: cannot write %s: %s\n", html, strerror(-rc));
			st = CMD_BAD_INPUT;
		}
		if (!explicit_format)
			goto done;
	}
	if (output) {
		out = fopen(output, "w");
		if (!out) {
			fprintf(stderr, "refscope report: cannot create %s: %s\n", output, strerror(errno));
			report_release(&rep);
			return CMD_BAD_INPUT;
		}
	}
	if (collapsed)
		rc = report_write_collapsed(&rep, by, out);
	else
		rc = json ? report_write_json(&rep, out) : report_write_text(&rep, out);
	if (out != stdout && fclose(out) != 0)
		rc = -EIO;
	if (rc) {
		fprintf(stderr, "refscope report: cannot write %s: %s\n", output ? output : "the report",
			strerror(-rc));
		st = CMD_BAD_INPUT;
	}
done:
	if (rep.have_error && rep.error.cut) {
		fprintf(stderr, "refscope report: %s: incomplete trace, reported up to byte %" PRIu64 ": %s\n",
			rep.path, rep.error.offset, rep.error.message);
		if (st == CMD_OK)
			st = CMD_INCOMPLETE;
	} else if (rep.have_error) {
		fprintf(stderr, "refscope report: %s: %s\n", rep.path, rep.error.message);
		st = CMD_BAD_INPUT;
	}
	report_release(&rep);
	return st;
}
