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

#include "graph.h"
#include "heap.h"
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

/* A symbolized stack (cycle members, refcounted objects, blame). */
struct report_stack {
	uint64_t id;
	struct report_frame *frames;
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
	struct report_stack *stacks; /* resolved, by id */
	size_t nstacks_resolved;
};

struct report_options {
	size_t top;	 /* groups kept; 0: all */
	int progress;	 /* 1: show a progress line on stderr when it is a terminal */
	int symbolize;	 /* 0: frames carry ips only (tests) */
	int cycles;	 /* 1: analyze a heap snapshot and the reference counts */
	int64_t snapshot; /* the snapshot id to analyze; -1: the last one */
};

/* Members and hanging blocks shown (and symbolized) per cycle. */
#define REPORT_CYCLE_SHOW 50

/* report_build's result when opt->snapshot names no snapshot of the trace. */
#define REPORT_NO_SNAPSHOT (-ESRCH)

/* Returns 0 (check rep->have_error for damage), or a negative errno when
 * the trace cannot be opened (-ENOENT, ...) or memory ran out. */
int report_build(const char *path, const struct report_options *opt, struct report *rep);
int report_write_text(const struct report *rep, FILE *out);
int report_write_json(const struct report *rep, FILE *out);
/* The resolved stack id (after report_build with cycles), or NULL. */
const struct report_stack *report_stack(const struct report *rep, uint64_t id);
/* The first frame with a function name that is not an allocator or
 * refcount function of the C library or refscope; NULL if none. */
const char *report_stack_function(const struct report *rep, uint64_t id);
void report_release(struct report *rep);

/* "exit", "exit_call", "signal", "abort", "exec"; NULL for unknown values. */
const char *report_end_how_name(uint64_t how);
const char *report_module_status_name(int status);
const char *report_stop_reason_name(uint64_t reason);

#endif
