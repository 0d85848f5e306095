/*
 * report_all.c - one trace through every consumer of the reader and every
 * writer the command line has: `dump`, `report` (text with the generations,
 * JSON, collapsed by each weight, HTML, DOT of all cycles and of the first
 * ones), the report of the first snapshot with other thresholds, and `check`
 * with every rule (summary, generated suppressions, JUnit, SARIF, the
 * process-tree aggregate). The libFuzzer target (tests/fuzz/fuzz_trace.c)
 * calls it, so hostile bytes reach the same code as `refscope report`
 * without a main of their own; only main.c picks exit codes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "report.h"

/* DOT of each cycle, one by one: the first ones are enough to reach every
 * line of the writer; the rest only cost time. */
#define ALL_DOT_CYCLES 3

/* 0, or the first negative errno other than damage (-ENOMEM, -EIO). */
static int keep_first(int *first, int rc)
{
	if (rc < 0 && rc != -EINVAL && *first == 0)
		*first = rc;
	return rc;
}

static int all_of_report(const char *path, const struct report_options *opt, FILE *out)
{
	struct report rep;
	int first = 0;
	int rc = report_build(path, opt, &rep);

	if (rc) {
		report_release(&rep);
		return rc == REPORT_NO_SNAPSHOT || rc == -EINVAL ? 0 : rc;
	}
	keep_first(&first, report_write_text(&rep, out));
	keep_first(&first, report_write_json(&rep, out));
	keep_first(&first, report_write_collapsed(&rep, REPORT_BY_BYTES, out));
	keep_first(&first, report_write_collapsed(&rep, REPORT_BY_COUNT, out));
	keep_first(&first, report_write_collapsed(&rep, REPORT_BY_LEAKED, out));
	if (opt->html)
		keep_first(&first, report_write_html(&rep, out));
	if (rep.have_graph) {
		keep_first(&first, report_write_dot(&rep, 0, out));
		for (size_t i = 1; i <= rep.graph.ncycles && i <= ALL_DOT_CYCLES; i++)
			keep_first(&first, report_write_dot(&rep, i, out));
	}
	report_release(&rep);
	return first;
}

static int all_of_check(const char *path, int symbolize, FILE *out)
{
	struct check_policy pol;
	struct suppressions sup = { 0 };
	struct check_set set;
	char err[512];
	int first = 0;

	check_policy_init(&pol);
	pol.fail_on = CHECK_RULE_BIT(CHECK_LEAKS) | CHECK_RULE_BIT(CHECK_CYCLES) |
		      CHECK_RULE_BIT(CHECK_REFCOUNT);
	pol.have_max_bytes = 1;
	pol.max_bytes = 64;
	check_set_init(&set, 1);
	set.no_symbols = !symbolize;
	if (keep_first(&first, check_set_add(&set, path, err, sizeof(err))) == 0 &&
	    keep_first(&first, check_set_sort(&set)) == 0) {
		check_judge(&set, &pol, &sup, NULL);
		check_write_summary(&set, &pol, &sup, out);
		check_write_gen_suppressions(&set, out);
		check_write_aggregate(&set, 0, out);
		keep_first(&first, check_write_junit(&set, &pol, out));
		keep_first(&first, check_write_sarif(&set, &pol, out));
	}
	check_set_release(&set);
	check_policy_release(&pol);
	return first;
}

int report_all(const char *path, int symbolize, FILE *out, FILE *msgs)
{
	struct report_options opt = {
		.top = 0, .symbolize = symbolize, .generations = 1, .all_stacks = 1, .html = 1,
		.cycles = 1, .snapshot = -1,
	};
	struct report_options first_snap = {
		.top = 1, .symbolize = symbolize, .generations = 1, .have_thresholds = 1,
		.gen_thresholds = { 1, 1, 1 }, .cycles = 1, .snapshot = 0,
	};
	int first = 0;

	dump_trace(path, out, msgs); /* its verdict is the reader's, checked elsewhere */
	keep_first(&first, all_of_report(path, &opt, out));
	keep_first(&first, all_of_report(path, &first_snap, out));
	keep_first(&first, all_of_check(path, symbolize, out));
	return first;
}
