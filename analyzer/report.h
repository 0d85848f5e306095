/*
 * report.h - what `refscope report` knows about a trace, gathered once and
 * written as text (report_text.c) or JSON (report_json.c, schema in
 * docs/JSON.md).
 *
 * report_build reads the trace (reader.h), replays it (heap.h), groups the
 * blocks live at exit by allocation stack and symbolizes the frames of the
 * groups it keeps (symbols.h). A decode error does not fail the build: the
 * report covers what came before it and carries the error.
 *
 * Calling order: report_build, report_write_text / report_write_json any
 * number of times, report_release.
 */
#ifndef REFSCOPE_REPORT_H
#define REFSCOPE_REPORT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "generations.h"
#include "graph.h"
#include "heap.h"
#include "pygraph.h"
#include "pyobjects.h"
#include "reader.h"
#include "refcounts.h"

struct symbolizer;

struct report_frame {
	uint64_t ip;
	const char *function; /* NULL: unknown */
	const char *file;     /* NULL: no line info */
	unsigned line;	      /* 0: unknown */
	const char *module;   /* NULL: no module covers ip */
	int inlined;	      /* 1: inlined into the next frame */
};

struct report_group {
	struct heap_group g;
	struct report_frame *frames; /* innermost first, inlined expanded */
	size_t nframes;
	int stack_known; /* the trace defined this stack id */
};

/* A symbolized stack, for the allocation sites (report_sites.c). */
struct report_stack {
	uint64_t id;
	struct report_frame *frames; /* innermost first, inlined expanded */
	size_t nframes;
	int known; /* the trace defined this stack id */
};

/* A refcounted object that leaked: live at the snapshot (or at exit when
 * there is none) and unreachable or cyclic garbage (any live one without
 * a snapshot). */
struct report_refobj {
	struct refcount_object o;
	uint32_t block;	  /* in graph.blocks, or UINT32_MAX */
	int cls;	  /* enum graph_class, -1 without a snapshot */
	int count_garbage; /* the count method found it garbage */
	int64_t gc_refs;
	struct refcount_blame *blame; /* unbalanced references by stack */
	size_t nblame;
};

/* Unbalanced references over all leaked objects, by stack. */
struct report_blame {
	uint64_t stack;
	int is_alloc;
	uint64_t references, objects;
};

struct report_module {
	const char *path; /* PROCESS.exe for the main program */
	uint64_t base;
	const uint8_t *build_id;
	size_t build_id_len;
	int status; /* enum sym_module_status, or -1: not checked */
};

struct report {
	const char *path;
	struct reader *r;
	int scanned;	/* the header was sound and the scan ran */
	int have_error;
	struct reader_error error;
	struct heap_totals totals;
	uint64_t duration_ns;
	size_t nstacks;
	size_t undefined_stacks; /* stack ids used by live groups but never defined */
	struct report_group *groups; /* the groups kept (top N) */
	size_t ngroups, ngroups_total;
	struct report_module *modules;
	size_t nmodules;
	char **warnings;
	size_t nwarnings;
	struct symbolizer *sym;
	/* the generational model and allocation sites (generations.h) */
	int show_generations;	 /* text: print the model, lifetimes, long-lived sites */
	struct gen_stats gen;
	struct gen_site *sites;	 /* every site, long-lived first */
	size_t nsites;
	size_t top_sites;	 /* sites shown (the --top N) */
	struct report_stack *stacks; /* the stacks resolved for shown sites, by id */
	size_t nstacks_resolved;
	/* snapshot generations: one interval per snapshot (>= 2 snapshots) */
	struct gen_heapshot *shots;
	size_t nshots;
	uint64_t *shot_ids; /* the snapshot ids, in seq order */
	struct gen_sample *timeline; /* live bytes by generation over the trace */
	size_t ntimeline;
	/* with a snapshot analysed: the generation (at the end of the trace) of
	 * the unreachable blocks, by graph class (GRAPH_CYCLE..GRAPH_PLAIN_LEAK),
	 * and of each leaked cycle's members; index GEN_COUNT counts blocks
	 * freed after the snapshot */
	int have_leak_gens;
	uint64_t leak_gens[4][GEN_COUNT + 1];
	uint64_t (*cycle_gens)[GEN_COUNT + 1]; /* aligned with graph.cycles */
	uint8_t *block_gens; /* aligned with graph.blocks: 0..2, or GEN_COUNT */

	/* --cycles: the snapshot analysis and reference counts */
	int analyzed;
	const struct reader_snapshot *snapshot; /* NULL: the trace has none */
	int have_graph;
	struct graph graph;
	struct refcount_totals rc_totals;
	struct refcount_api *apis;
	size_t napis;
	struct report_refobj *refobjs; /* by address */
	size_t nrefobjs;
	struct report_blame *blame; /* by references descending */
	size_t nblame;
	struct report_stack *graph_stacks; /* resolved for the analysis, by id */
	size_t ngraph_stacks;

	/* CPython targets: the Python-aware snapshots (every one, for the
	 * generation counts) and, with --cycles, the collector's algorithm on
	 * the last complete one */
	struct py_snapshot *pysnaps;
	size_t npysnaps;
	char pyerror[160];	/* damage in the PY_* records, or "" */
	const struct py_snapshot *pysnap; /* the one analyzed, or NULL */
	int have_pygraph;
	struct pygraph pygraph;
};

struct report_options {
	size_t top;	 /* groups kept; 0: all */
	int progress;	 /* 1: show a progress line on stderr when it is a terminal */
	int symbolize;	 /* 0: frames carry ips only (tests) */
	int generations; /* 1: the text report shows the generational model */
	int all_stacks;	 /* 1: resolve the stack of every site (collapsed output) */
	int html;	 /* 1: resolve the stacks the HTML flame graphs draw */
	int have_thresholds;
	uint64_t gen_thresholds[GEN_COUNT]; /* when have_thresholds; else 700, 10, 10 */
	int cycles;	  /* 1: analyze a heap snapshot and the reference counts */
	int64_t snapshot; /* the snapshot id to analyze; -1: the last one */
};

/* Members and hanging blocks shown (and symbolized) per cycle. */
#define REPORT_CYCLE_SHOW 50

/* report_build's result when opt->snapshot names no snapshot of the trace. */
#define REPORT_NO_SNAPSHOT (-ESRCH)

/* What --format collapsed weighs a stack by. */
enum report_weight {
	REPORT_BY_BYTES,  /* bytes allocated from the stack */
	REPORT_BY_COUNT,  /* allocations from the stack */
	REPORT_BY_LEAKED, /* bytes from the stack still live at the end */
};

/* Returns 0 (check rep->have_error for damage), or a negative errno when
 * the trace cannot be opened (-ENOENT, ...) or memory ran out. */
int report_build(const char *path, const struct report_options *opt, struct report *rep);
int report_write_text(const struct report *rep, FILE *out);
int report_write_json(const struct report *rep, FILE *out);
/* One self-contained HTML page (report_html.c). */
int report_write_html(const struct report *rep, FILE *out);
/* The sites the HTML flame graphs draw by name; the rest are summed. */
#define REPORT_HTML_STACKS 2000
/* Folded stacks for flamegraph.pl and speedscope (report_collapsed.c). */
int report_write_collapsed(const struct report *rep, enum report_weight by, FILE *out);
void report_release(struct report *rep);
/* A stack resolved for the --cycles analysis, or NULL. */
const struct report_stack *report_graph_stack(const struct report *rep, uint64_t id);
/* Its first frame with a function name; NULL if none. */
const char *report_stack_function(const struct report *rep, uint64_t id);
/* report_json_graph.c: the --cycles members of the JSON report. */
struct jsonw;
void report_json_graph(const struct report *rep, struct jsonw *w);
/* report_json_python.c: the "python" member (Python-aware snapshots). */
void report_json_python(const struct report *rep, struct jsonw *w);
/* One symbolized frame as the JSON object docs/JSON.md describes (ip,
 * function, file, line, module, inlined); every report section uses it. */
void report_json_frame(struct jsonw *w, const struct report_frame *f);
/* report_dot.c: the leaked cycles as Graphviz DOT; which: 0 for all, else
 * the 1-based cycle number. */
int report_write_dot(const struct report *rep, size_t which, FILE *out);

/* report_all.c: the trace at path through every consumer of the reader and
 * every writer of dump, report, graph and check (all rules), everything
 * written to out, dump's messages to msgs; symbolize 0 opens no module.
 * For the fuzz target and the hostile-input tests. Returns 0 (damage is not
 * a failure here), or the first -ENOMEM / -EIO. */
int report_all(const char *path, int symbolize, FILE *out, FILE *msgs);

/* "exit", "exit_call", "signal", "abort", "exec"; NULL for unknown values. */
const char *report_end_how_name(uint64_t how);
const char *report_module_status_name(int status);
const char *report_stop_reason_name(uint64_t reason);

/* report_sites.c: run by report_build (prepare after the scan, build after
 * the replay) and report_release. */
int report_sites_prepare(struct report *rep, struct gen_model *gen);
int report_sites_build(struct report *rep, const struct report_options *opt,
		       struct gen_model *gen);
void report_sites_release(struct report *rep);
/* The resolved stack id (bsearch in rep->stacks), or NULL. */
const struct report_stack *report_stack_find(const struct report *rep, uint64_t id);
/* report.c: symbolizes the frames of one stack id. *frames is malloc'd. */
int report_resolve_stack(const struct report *rep, uint64_t stack, struct report_frame **frames,
			 size_t *nframes, int *known);
/* report_sites.c: the text and JSON sections on generations and sites. */
void report_text_sites(const struct report *rep, FILE *out);
struct jsonw;
void report_json_sites(const struct report *rep, struct jsonw *w);

#endif
