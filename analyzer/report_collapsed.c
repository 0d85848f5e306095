/*
 * report_collapsed.c - `refscope report --format collapsed`: folded stacks,
 * the input format of Brendan Gregg's flamegraph.pl and of speedscope. One
 * line per distinct stack: the frames root first (outermost caller first,
 * the allocator's caller last), separated by ';', then a space and the
 * weight (bytes allocated, allocations, or bytes still live at the end).
 *
 * A frame is its function name, or "0x<ip>" with the module's file name in
 * brackets when the function is unknown; inlined functions are frames of
 * their own. ';' and line breaks inside names become '_' so a line always
 * parses. Stacks that symbolize to the same line are summed, lines are
 * sorted, and stacks of weight 0 are left out.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct line {
	char *text;
	uint64_t weight;
};

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void put_name(FILE *m, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' || *s == '\n' || *s == '\r' ? '_' : *s, m);
}

static void put_frame(FILE *m, const struct report_frame *f)
{
	char buf[32];

	if (f->function) {
		put_name(m, f->function);
		return;
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, f->ip);
	fputs(buf, m);
	if (f->module) {
		fputs(" [", m);
		put_name(m, base_name(f->module));
		fputc(']', m);
	}
}

static char *fold(const struct report *rep, uint64_t stack)
{
	const struct report_stack *s = report_stack_find(rep, stack);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (!m)
		return NULL;
	if (!stack)
		fputs("[no stack]", m);
	else if (!s || !s->known || !s->nframes)
		fprintf(m, "[stack %" PRIu64 "]", stack);
	else
		for (size_t k = s->nframes; k-- > 0;) {
			put_frame(m, &s->frames[k]);
			if (k)
				fputc(';', m);
		}
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

static uint64_t weight(const struct gen_site *s, enum report_weight by)
{
	switch (by) {
	case REPORT_BY_COUNT: return s->allocations;
	case REPORT_BY_LEAKED: return s->live_bytes;
	case REPORT_BY_BYTES:
	default: return s->bytes;
	}
}

int report_write_collapsed(const struct report *rep, enum report_weight by, FILE *out)
{
	struct line *lines = calloc(rep->nsites ? rep->nsites : 1, sizeof(*lines));
	size_t n = 0, k = 0;
	int rc = 0;

	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < rep->nsites; i++) {
		uint64_t wgt = weight(&rep->sites[i], by);

		if (!wgt)
			continue;
		lines[n].text = fold(rep, rep->sites[i].stack);
		if (!lines[n].text) {
			rc = -ENOMEM;
			goto out;
		}
		lines[n++].weight = wgt;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	for (size_t i = 0; i < n; i = k) {
		uint64_t sum = 0;

		for (k = i; k < n && !strcmp(lines[k].text, lines[i].text); k++)
			sum += lines[k].weight;
		fprintf(out, "%s %" PRIu64 "\n", lines[i].text, sum);
	}
	if (fflush(out) != 0 || ferror(out))
		rc = -EIO;
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	return rc;
}
