/*
 * test_graph_e2e.c - the snapshot analysis end to end: the cycle samples
 * run under `refscope run` (the shim takes the exit snapshot), then
 * `report --cycles` (built in-process and as JSON, parsed with jansson) and
 * `refscope graph` (DOT, and SVG through Graphviz when it is installed).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "tracebuild.h"

#define REFSCOPE RS_BUILD_DIR "/refscope"

/* Runs a sample under refscope into a fresh directory; the trace path
 * into path. */
static void trace_sample(const char *name, char *dir, char *path)
{
	char cmd[1024];
	DIR *d;
	struct dirent *e;

	tb_tmpdir(dir, 64);
	snprintf(cmd, sizeof(cmd), "%s run -q -o %s -- %s/samples/%s >/dev/null 2>&1", REFSCOPE, dir,
		 RS_BUILD_DIR, name);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	d = opendir(dir);
	cr_assert_not_null(d);
	path[0] = '\0';
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".trace"))
			snprintf(path, 512, "%s/%s", dir, e->d_name);
	closedir(d);
	cr_assert_neq(path[0], '\0', "no trace in %s", dir);
}

static void build(const char *path, struct report *rep)
{
	struct report_options opt = { .top = 20, .symbolize = 1, .cycles = 1, .snapshot = -1 };

	cr_assert_eq(report_build(path, &opt, rep), 0);
	cr_assert_eq(rep->have_error, 0, "%s", rep->error.message);
	cr_assert_eq(rep->have_graph, 1);
}

Test(graph_e2e, cycle2_sample_has_one_cycle_of_two_48_byte_nodes)
{
	char dir[64], path[512];
	struct report rep;
	const struct graph_cycle *cy;
	const struct graph *g;

	trace_sample("cycle2", dir, path);
	build(path, &rep);
	g = &rep.graph;
	cr_assert_eq(g->ncycles, 1);
	cy = &g->cycles[0];
	cr_assert_eq(cy->nmembers, 2);
	cr_assert_eq(g->blocks[cy->members[0]].size, 48);
	cr_assert_eq(g->blocks[cy->members[1]].size, 48);
	cr_assert_eq(cy->bytes, 96);
	cr_assert_eq(cy->nclosing, 2);
	cr_assert_eq(g->edges[cy->closing[0]].offset, 0); /* next is the first field */
	cr_assert_eq(cy->nhanging, 2);
	cr_assert_eq(cy->hanging_bytes, 32);
	cr_assert_eq(cy->methods, GRAPH_BY_REACHABILITY);
	cr_assert_eq(g->totals[GRAPH_CYCLE].blocks, 2);
	cr_assert_eq(g->totals[GRAPH_HELD_BY_CYCLE].blocks, 2);
	cr_assert_eq(g->totals[GRAPH_PLAIN_LEAK].blocks, 0);
	cr_assert_str_eq(report_stack_function(&rep, g->blocks[cy->members[0]].stack), "node_new");
	report_release(&rep);
}

Test(graph_e2e, cycle_kept_sample_has_no_leaked_cycle)
{
	char dir[64], path[512];
	struct report rep;

	trace_sample("cycle_kept", dir, path);
	build(path, &rep);
	cr_assert_eq(rep.graph.ncycles, 0);
	cr_assert_gt(rep.graph.totals[GRAPH_REACHABLE].blocks, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, 0);
	report_release(&rep);
}

static char *slurp_cmd(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char tmp[4096];

	cr_assert_not_null(p);
	while ((n = fread(tmp, 1, sizeof(tmp), p)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
		}
		memcpy(buf + len, tmp, n);
		len += n;
	}
	if (!buf)
		buf = calloc(1, 1);
	buf[len] = '\0';
	*status = pclose(p);
	return buf;
}

Test(graph_e2e, json_cycles_section_of_cycle2)
{
	char dir[64], path[512], cmd[1024];
	json_error_t err;
	json_t *root, *cy, *m;
	int status;
	char *out;

	trace_sample("cycle2", dir, path);
	snprintf(cmd, sizeof(cmd), "%s report --cycles --json %s", REFSCOPE, path);
	out = slurp_cmd(cmd, &status);
	cr_assert_eq(status, 0);
	root = json_loads(out, 0, &err);
	cr_assert_not_null(root, "%s", err.text);
	cr_assert_eq(json_array_size(json_object_get(root, "cycles")), 1);
	cy = json_array_get(json_object_get(root, "cycles"), 0);
	cr_assert_eq(json_integer_value(json_object_get(cy, "blocks")), 2);
	cr_assert_eq(json_integer_value(json_object_get(cy, "bytes")), 96);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cy, "found_by"), 0)), "reachability");
	cr_assert_eq(json_array_size(json_object_get(cy, "found_by")), 1);
	m = json_array_get(json_object_get(cy, "members"), 0);
	cr_assert_eq(json_integer_value(json_object_get(m, "size")), 48);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(m, "frames"), 0),
							   "function")),
			 "node_new");
	cr_assert_eq(json_array_size(json_object_get(cy, "closing_edges")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(cy, "hanging"), "blocks")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(root, "unreachable"), "cycle"),
							"bytes")),
		     96);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "snapshot"), "trigger")), "exit");
	cr_assert_not_null(json_object_get(root, "refcounts"));
	json_decref(root);
	free(out);
}

Test(graph_e2e, graph_command_writes_dot_and_svg)
{
	char dir[64], path[512], cmd[2048], svg[600];
	int status;
	char *out;
	FILE *f;
	char head[64] = { 0 };

	trace_sample("cycle2", dir, path);
	snprintf(cmd, sizeof(cmd), "%s graph %s", REFSCOPE, path);
	out = slurp_cmd(cmd, &status);
	cr_assert_eq(status, 0);
	cr_assert_not_null(strstr(out, "digraph refscope {"), "%s", out);
	cr_assert_not_null(strstr(out, "label=\"cycle #1: 96 bytes in 2 blocks (reachability)\";"), "%s", out);
	cr_assert_not_null(strstr(out, "\\n48 bytes\\nnode_new\"];"), "%s", out);
	cr_assert_not_null(strstr(out, "[label=\"+0\", style=bold];"), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "%s graph --cycle 2 %s 2>&1", REFSCOPE, path);
	out = slurp_cmd(cmd, &status);
	cr_assert_eq(WEXITSTATUS(status), 2);
	cr_assert_not_null(strstr(out, "has no cycle 2 (it has 1 leaked)"), "%s", out);
	free(out);
	if (system("command -v dot >/dev/null 2>&1") != 0)
		return; /* graphviz missing: the DOT is all we can check */
	snprintf(svg, sizeof(svg), "%s/g.svg", dir);
	snprintf(cmd, sizeof(cmd), "%s graph --cycle 1 -o %s %s", REFSCOPE, svg, path);
	cr_assert_eq(system(cmd), 0);
	f = fopen(svg, "r");
	cr_assert_not_null(f);
	cr_assert_gt(fread(head, 1, sizeof(head) - 1, f), 0);
	fclose(f);
	cr_assert_not_null(strstr(head, "<?xml"), "%s", head);
}

/* ---- refobj_leaks: a refcounted library (--refapi) ------------------------ */

struct named {
	char name[32];
	uint64_t addr;
};

/* Runs refobj_leaks (with "registry": every object on the library's
 * uncounted list of instances) and reads the addresses it prints. */
static size_t trace_named(const char *flags, const char *sample, const char *arg, const char *prefix,
			  char *dir, char *path, struct named *objs, size_t max)
{
	char cmd[1024], errpath[600], line[256], fmt[64];
	DIR *d;
	struct dirent *e;
	FILE *f;
	size_t n = 0;

	tb_tmpdir(dir, 64);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	snprintf(cmd, sizeof(cmd), "%s run -q %s -o %s -- %s/samples/%s %s >/dev/null 2>%s", REFSCOPE, flags, dir,
		 RS_BUILD_DIR, sample, arg, errpath);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(fmt, sizeof(fmt), "%s: ", prefix);
	f = fopen(errpath, "r");
	cr_assert_not_null(f);
	while (n < max && fgets(line, sizeof(line), f)) {
		char name[16];
		void *p;

		if (!strncmp(line, fmt, strlen(fmt)) &&
		    sscanf(line + strlen(fmt), "%15s %p", name, &p) == 2 && strcmp(name, "fn")) {
			snprintf(objs[n].name, sizeof(objs[n].name), "%s", name);
			objs[n].addr = (uint64_t)(uintptr_t)p;
			n++;
		}
	}
	fclose(f);
	d = opendir(dir);
	cr_assert_not_null(d);
	path[0] = '\0';
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".trace"))
			snprintf(path, 512, "%s/%s", dir, e->d_name);
	closedir(d);
	cr_assert_neq(path[0], '\0');
	return n;
}

static size_t trace_refobj(int registry, char *dir, char *path, struct named *objs, size_t max)
{
	return trace_named("--refapi refobj_retain:refobj_release", "refobj_leaks", registry ? "registry" : "",
			   "refobj", dir, path, objs, max);
}

static uint64_t addr_of(const struct named *objs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(objs[i].name, name))
			return objs[i].addr;
	cr_assert_fail("no object %s", name);
	return 0;
}

/* The rings R2, R3, R5 are cycles with exactly their members. */
static void check_rings(const struct report *rep, const struct named *objs, size_t nobj, unsigned methods)
{
	static const char *const rings[3] = { "R5", "R3", "R2" }; /* largest first */
	static const size_t len[3] = { 5, 3, 2 };
	const struct graph *g = &rep->graph;

	cr_assert_eq(g->ncycles, 3);
	for (int k = 0; k < 3; k++) {
		const struct graph_cycle *cy = &g->cycles[k];

		cr_assert_eq(cy->nmembers, len[k], "cycle %d: %zu members", k, cy->nmembers);
		cr_assert_eq(cy->bytes, 56 * len[k]);
		cr_assert_eq(cy->methods, methods, "cycle %d found by %s", k, graph_methods_name(cy->methods));
		cr_assert_eq(cy->nclosing, len[k], "only the counted links close it");
		for (size_t i = 0; i < len[k]; i++) {
			char name[16];
			uint64_t a;
			int found = 0;

			snprintf(name, sizeof(name), "%s%c", rings[k], (int)('a' + i));
			a = addr_of(objs, nobj, name);
			for (size_t j = 0; j < cy->nmembers; j++)
				found |= g->blocks[cy->members[j]].addr == a;
			cr_assert(found, "%s is not in its cycle", name);
		}
	}
}

Test(graph_e2e, refobj_rings_found_by_both_methods_and_over_retain_blamed)
{
	char dir[64], path[512];
	struct named objs[16];
	size_t nobj = trace_refobj(0, dir, path, objs, 16);
	struct report rep;
	uint64_t x = addr_of(objs, nobj, "X");
	const struct report_refobj *ro = NULL;

	cr_assert_eq(nobj, 11);
	build(path, &rep);
	check_rings(&rep, objs, nobj, GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT);
	cr_assert_eq(rep.rc_totals.retains, 16);
	cr_assert_eq(rep.rc_totals.releases, 21);
	cr_assert_eq(rep.napis, 1);
	cr_assert_eq(rep.apis[0].retains, 16);
	cr_assert_eq(rep.apis[0].releases, 21);
	cr_assert_eq(rep.nrefobjs, 11);
	for (size_t i = 0; i < rep.nrefobjs; i++)
		if (rep.refobjs[i].o.addr == x)
			ro = &rep.refobjs[i];
	cr_assert_not_null(ro);
	cr_assert_eq(ro->o.balance, 1);
	cr_assert_eq(ro->cls, GRAPH_PLAIN_LEAK);
	cr_assert_eq(ro->nblame, 1);
	cr_assert_str_eq(report_stack_function(&rep, ro->blame[0].stack), "cache_lookup_forgets_release");
	/* by stack: the ring links (one stack per ring size), then X's */
	cr_assert_eq(rep.nblame, 4);
	cr_assert_str_eq(report_stack_function(&rep, rep.blame[3].stack), "cache_lookup_forgets_release");
	cr_assert_str_eq(report_stack_function(&rep, rep.blame[0].stack), "refobj_set_link");
	report_release(&rep);
}

Test(graph_e2e, refobj_rings_on_uncounted_list_found_by_count_method_only)
{
	char dir[64], path[512];
	struct named objs[16];
	size_t nobj = trace_refobj(1, dir, path, objs, 16);
	struct report rep;

	cr_assert_eq(nobj, 11);
	build(path, &rep);
	/* the list keeps everything reachable */
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, 0);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, 0);
	check_rings(&rep, objs, nobj, GRAPH_BY_REFCOUNT);
	cr_assert_eq(rep.graph.count_garbage, 10);
	report_release(&rep);
}

/* Two GObjects holding each other through g_object_set_data_full: the
 * references sit in each object's qdata array, a plain block the object
 * owns; both methods find the cycle of the two objects and their arrays. */
Test(graph_e2e, gobject_cycle_through_qdata_found_by_both_methods)
{
	char dir[64], path[512];
	struct named objs[4];
	size_t nobj = trace_named("", "gobject_cycle", "", "gobject", dir, path, objs, 4);
	struct report rep;
	const struct graph *g;
	const struct graph_cycle *cy;
	uint64_t a, b, c;
	int seen_a = 0, seen_b = 0;

	cr_assert_eq(nobj, 3);
	a = addr_of(objs, nobj, "A");
	b = addr_of(objs, nobj, "B");
	c = addr_of(objs, nobj, "C");
	build(path, &rep);
	g = &rep.graph;
	cr_assert_eq(g->ncycles, 1);
	cy = &g->cycles[0];
	cr_assert_eq(cy->methods, GRAPH_BY_REACHABILITY | GRAPH_BY_REFCOUNT);
	cr_assert_eq(cy->nmembers, 4, "A, B and their qdata arrays");
	for (size_t i = 0; i < cy->nmembers; i++) {
		seen_a |= g->blocks[cy->members[i]].addr == a;
		seen_b |= g->blocks[cy->members[i]].addr == b;
		cr_assert_neq(g->blocks[cy->members[i]].addr, c);
	}
	cr_assert(seen_a && seen_b);
	cr_assert_eq(rep.nrefobjs, 2);
	cr_assert_eq(rep.napis, 1);
	cr_assert_eq(rep.apis[0].retains, 3);
	cr_assert_eq(rep.apis[0].releases, 4);
	report_release(&rep);
}
