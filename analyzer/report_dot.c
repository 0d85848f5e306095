/*
 * report_dot.c - `refscope graph TRACE`: the leaked cycles of a snapshot as
 * Graphviz DOT, one cluster per cycle (members as boxes labelled with
 * address, size and allocating function; the edges closing it labelled with
 * the offset they sit at), and what hangs off each cycle as dashed boxes.
 * With -o FILE.svg the DOT goes through `dot -Tsvg` instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "report.h"

#define DOT_MAX_NODES 500 /* per cycle: members, then hanging blocks */

static void dot_label_str(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
}

static void dot_node(FILE *out, const struct report *rep, uint32_t b, int hanging)
{
	const struct heap_block *blk = &rep->graph.blocks[b];
	const char *fn = report_stack_function(rep, blk->stack);

	fprintf(out, "    b%" PRIx64 " [label=\"0x%" PRIx64 "\\n%" PRIu64 " bytes", blk->addr, blk->addr,
		blk->size);
	if (fn) {
		fprintf(out, "\\n");
		dot_label_str(out, fn);
	}
	fprintf(out, "\"%s];\n", hanging ? ", style=dashed" : "");
}

static int in_sorted(const uint32_t *arr, size_t n, uint32_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (arr[mid] == v)
			return 1;
		if (arr[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* which: 0 all cycles, else the 1-based cycle number. */
int report_write_dot(const struct report *rep, size_t which, FILE *out)
{
	const struct graph *g = &rep->graph;

	fprintf(out, "digraph refscope {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
	for (size_t k = 0; rep->have_graph && k < g->ncycles; k++) {
		const struct graph_cycle *cy = &g->cycles[k];
		size_t shown = 0;

		if (which && which != k + 1)
			continue;
		fprintf(out, "  subgraph cluster_%zu {\n    label=\"cycle #%zu: %" PRIu64 " bytes in %zu block%s (%s)\";\n",
			k + 1, k + 1, cy->bytes, cy->nmembers, cy->nmembers == 1 ? "" : "s",
			graph_methods_name(cy->methods));
		for (size_t i = 0; i < cy->nmembers && shown < DOT_MAX_NODES; i++, shown++)
			dot_node(out, rep, cy->members[i], 0);
		fprintf(out, "  }\n");
		for (size_t i = 0; i < cy->nhanging && shown < DOT_MAX_NODES; i++, shown++)
			dot_node(out, rep, cy->hanging[i], 1);
		/* edges between the nodes drawn: the ones closing the cycle bold */
		for (size_t i = 0; i < cy->nmembers && i < DOT_MAX_NODES; i++) {
			uint32_t v = cy->members[i];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
				const struct graph_edge *ed = &g->edges[e];
				int closing = in_sorted(cy->members, cy->nmembers, ed->dst);

				if (!closing && !in_sorted(cy->hanging, cy->nhanging, ed->dst))
					continue;
				fprintf(out, "  b%" PRIx64 " -> b%" PRIx64 " [label=\"+%" PRIu64 "%s\"%s];\n",
					g->blocks[ed->src].addr, g->blocks[ed->dst].addr, ed->offset,
					ed->interior ? " (interior)" : "", closing ? ", style=bold" : "");
			}
		}
		for (size_t i = 0; i < cy->nhanging && cy->nmembers + i < DOT_MAX_NODES; i++) {
			uint32_t v = cy->hanging[i];

			for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
				const struct graph_edge *ed = &g->edges[e];

				if (!in_sorted(cy->hanging, cy->nhanging, ed->dst))
					continue;
				fprintf(out, "  b%" PRIx64 " -> b%" PRIx64 " [label=\"+%" PRIu64 "\", style=dashed];\n",
					g->blocks[ed->src].addr, g->blocks[ed->dst].addr, ed->offset);
			}
		}
		if (cy->nmembers + cy->nhanging > DOT_MAX_NODES)
			fprintf(out, "  more%zu [label=\"... %zu more blocks\", shape=plaintext];\n", k + 1,
				cy->nmembers + cy->nhanging - DOT_MAX_NODES);
	}
	fprintf(out, "}\n");
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}

static void graph_usage(FILE *f)
{
	fprintf(f, "usage: refscope graph [--cycle N] [--snapshot N] [-o FILE] TRACE\n"
		   "Write the leaked cycles of a heap snapshot as a Graphviz DOT graph: one\n"
		   "cluster per cycle, members labelled with address, size and allocating\n"
		   "function, edges with the offset of the pointer; what hangs off a cycle\n"
		   "dashed.\n"
		   "\n"
		   "  -c, --cycle N      only cycle N (numbered as in `refscope report --cycles`)\n"
		   "  -s, --snapshot N   analyze snapshot N (default: the last one)\n"
		   "  -o, --output FILE  write to FILE instead of standard output; a name ending\n"
		   "                     in .svg is rendered with Graphviz's dot -Tsvg\n"
		   "  -h, --help         show this help\n");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* Writes the DOT through `dot -Tsvg -o path`. */
static int write_svg(const struct report *rep, size_t which, const char *path)
{
	int fds[2], status, rc;
	pid_t pid;
	FILE *out;

	/* close-on-exec: dot must see the end of its input when we close ours */
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		execlp("dot", "dot", "-Tsvg", "-o", path, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	out = fdopen(fds[1], "w");
	if (!out) {
		close(fds[1]);
		waitpid(pid, &status, 0);
		return -ENOMEM;
	}
	rc = report_write_dot(rep, which, out);
	if (fclose(out) != 0 && !rc)
		rc = -EIO;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EPROTO;
	return rc;
}

enum cmd_status cmd_graph(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cycle", required_argument, NULL, 'c' },
		{ "snapshot", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct report_options opt = { .top = 1, .progress = 1, .symbolize = 1, .cycles = 1, .snapshot = -1 };
	const char *output = NULL;
	struct report rep;
	size_t which = 0;
	char *end;
	int c, rc;
	enum cmd_status st = CMD_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 's': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (!optarg[0] || optarg[0] == '-' || errno || *end || v > INT64_MAX ||
			    (c == 'c' && v == 0)) {
				fprintf(stderr, "refscope graph: --%s wants a number%s, not '%s'\n",
					c == 'c' ? "cycle" : "snapshot", c == 'c' ? " from 1" : "", optarg);
				return CMD_USAGE;
			}
			if (c == 'c')
				which = (size_t)v;
			else
				opt.snapshot = (int64_t)v;
			break;
		}
		case 'o':
			output = optarg;
			break;
		case 'h':
			graph_usage(stdout);
			return CMD_HELP;
		default:
			graph_usage(stderr);
			return CMD_USAGE;
		}
	}
	if (argc - optind != 1) {
		graph_usage(stderr);
		return CMD_USAGE;
	}
	rc = report_build(argv[optind], &opt, &rep);
	if (rc == REPORT_NO_SNAPSHOT) {
		fprintf(stderr, "refscope graph: %s has no snapshot %" PRId64 " (it has %zu)\n", argv[optind],
			opt.snapshot, reader_nsnapshots(rep.r));
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (rc) {
		fprintf(stderr, "refscope graph: cannot read %s: %s\n", argv[optind],
			rc == -EINVAL ? "not a regular file" : strerror(-rc));
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (!rep.have_graph) {
		fprintf(stderr, "refscope graph: %s has no heap snapshot\n", argv[optind]);
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (which > rep.graph.ncycles) {
		fprintf(stderr, "refscope graph: %s has no cycle %zu (it has %zu leaked)\n", argv[optind], which,
			rep.graph.ncycles);
		report_release(&rep);
		return CMD_BAD_INPUT;
	}
	if (output && ends_with(output, ".svg")) {
		rc = write_svg(&rep, which, output);
		if (rc)
			fprintf(stderr, "refscope graph: cannot write %s with dot -Tsvg: %s\n", output,
				rc == -ENOENT ? "dot (graphviz) is not installed" :
				rc == -EPROTO ? "dot failed" : strerror(-rc));
	} else {
		FILE *out = output ? fopen(output, "w") : stdout;

		if (!out) {
			fprintf(stderr, "refscope graph: cannot create %s: %s\n", output, strerror(errno));
			report_release(&rep);
			return CMD_BAD_INPUT;
		}
		rc = report_write_dot(&rep, which, out);
		if (out != stdout && fclose(out) != 0)
			rc = -EIO;
		if (rc)
			fprintf(stderr, "refscope graph: cannot write %s: %s\n", output ? output : "the graph",
				strerror(-rc));
	}
	if (rc)
		st = CMD_BAD_INPUT;
	if (rep.have_error && rep.error.cut) {
		fprintf(stderr, "refscope graph: %s: incomplete trace, read up to byte %" PRIu64 ": %s\n",
			rep.path, rep.error.offset, rep.error.message);
		if (st == CMD_OK)
			st = CMD_INCOMPLETE;
	} else if (rep.have_error) {
		fprintf(stderr, "refscope graph: %s: %s\n", rep.path, rep.error.message);
		st = CMD_BAD_INPUT;
	}
	report_release(&rep);
	return st;
}
