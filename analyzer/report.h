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

#include <stdint.h>
#include <stdio.h>

#include "heap.h"
#include "reader.h"

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
};

struct report_options {
	size_t top;	 /* groups kept; 0: all */
	int progress;	 /* 1: show a progress line on stderr when it is a terminal */
	int symbolize;	 /* 0: frames carry ips only (tests) */
};

/* Returns 0 (check rep->have_error for damage), or a negative errno when
 * the trace cannot be opened (-ENOENT, ...) or memory ran out. */
int report_build(const char *path, const struct report_options *opt, struct report *rep);
int report_write_text(const struct report *rep, FILE *out);
int report_write_json(const struct report *rep, FILE *out);
void report_release(struct report *rep);

/* "exit", "exit_call", "signal", "abort", "exec"; NULL for unknown values. */
const char *report_end_how_name(uint64_t how);
const char *report_module_status_name(int status);
const char *report_stop_reason_name(uint64_t reason);

#endif
