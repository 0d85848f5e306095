/*
 * report_text.c - the report for people: what ran, how it ended, the
 * totals, the peak, then the blocks still live at exit grouped by the stack
 * that allocated them (largest first), and the warnings last so they are
 * the last thing on screen.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
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
	fprintf(out, "peak:      %" PRIu64 " bytes in %" PRIu64 " block%s, at seq %" PRIu64 " (",
		t->peak_bytes, t->peak_blocks, s_if(t->peak_blocks), t->peak_seq);
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
	if (rep->nwarnings) {
		fprintf(out, "\nwarnings:\n");
		for (size_t i = 0; i < rep->nwarnings; i++)
			fprintf(out, "  - %s\n", rep->warnings[i]);
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
