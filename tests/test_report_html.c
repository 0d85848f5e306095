/*
 * test_report_html.c - `refscope report --html`: the page is self-contained
 * (nothing it could fetch, a Content-Security-Policy that forbids fetching),
 * its embedded data is valid JSON with the sample's exact figures even when
 * the trace's name tries to close the script element, and a real browser
 * (headless Chromium, Debian's chromium package) draws it without a script
 * error. The browser test keeps a screenshot in build/artifacts/.
 */

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"
#include "heapfix.h"
#include "report.h"
#include "tracebuild.h"

__attribute__((noinline)) static char *html_of_opt(const char *path, int cycles)
{
	struct report_options opt = { .top = 20, .symbolize = 1, .html = 1, .cycles = cycles,
				      .snapshot = -1, .have_thresholds = cycles,
				      .gen_thresholds = { 2, 1, 1 } };
	struct report rep;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(report_build(path, &opt, &rep), 0);
	f = open_memstream(&buf, &len);
	cr_assert_eq(report_write_html(&rep, f), 0);
	fclose(f);
	report_release(&rep);
	return buf;
}

static char *html_of(const char *path)
{
	return html_of_opt(path, 0);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static json_t *data_of(const char *html)
{
	static const char open[] = "<script id=\"refscope-data\" type=\"application/json\">";
	const char *a = strstr(html, open), *b;
	json_error_t err;
	json_t *j;

	cr_assert_not_null(a);
	a += strlen(open);
	b = strstr(a, "</script>");
	cr_assert_not_null(b);
	j = json_loadb(a, (size_t)(b - a), 0, &err);
	cr_assert_not_null(j, "%s: %.*s", err.text, (int)(b - a), a);
	return j;
}

Test(report_html, self_contained_with_the_sample_data)
{
	char dir[64], sub[96], path[160];
	struct tb t;
	struct tb_sample s;
	char *html;
	json_t *d, *st, *last;
	size_t i;
	long long b = 0, l = 0, n = 0;

	tb_build_sample(&t, &s);
	tb_tmpdir(dir, sizeof(dir));
	/* a path that would end the data's script element if it were not
	 * escaped: directory "x<", file "script><b>&.trace" */
	snprintf(sub, sizeof(sub), "%s/x<", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/script><b>&.trace", sub);
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);
	html = html_of(path);

	cr_assert_eq(strncmp(html, "<!DOCTYPE html>", 15), 0);
	cr_assert_not_null(strstr(html, "Content-Security-Policy\" content=\"default-src 'none';"));
	cr_assert_null(strstr(html, "<link"));
	cr_assert_null(strstr(html, " src="));
	cr_assert_null(strstr(html, "href="));
	cr_assert_null(strstr(html, "url("));
	cr_assert_null(strstr(html, "@import"));
	/* the error hook, the data, the drawing script: nothing else closes one */
	cr_assert_eq(count(html, "</script>"), 3, "%s", html);
	cr_assert_not_null(strstr(html, "<h1>refscope report: "));
	cr_assert_not_null(strstr(html, "x&lt;/script&gt;&lt;b&gt;&amp;.trace</h1>"));
	/* lifetimes: 0x2000 0 allocations and 10 ns, 0x1000 2 allocations and 60 ns */
	cr_assert_not_null(strstr(html, "<p>2 freed blocks by lifetime (blocks still live at the end are not "
					"counted); 1 temporary allocations"), "%s", html);
	cr_assert_not_null(strstr(html, "<tr><td>0</td><td class=n>1</td><td class=n>0</td></tr>"));
	cr_assert_not_null(strstr(html, "<tr><td>2 to 3</td><td class=n>1</td><td class=n>0</td></tr>"));
	cr_assert_not_null(strstr(html, "<tr><td>8 to 15</td><td class=n>0</td><td class=n>1</td></tr>"));
	cr_assert_not_null(strstr(html, "<tr><td>32 to 63</td><td class=n>0</td><td class=n>1</td></tr>"));
	cr_assert_eq(count(html, "<table class=lifetimes>"), 1);
	cr_assert_eq(count(html, "</td></tr>\n</table>\n<h2>Long-lived sites</h2>"), 1, "4 rows, then the sites");

	d = data_of(html);
	cr_assert_str_eq(json_string_value(json_object_get(d, "path")), path);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "peak"), "bytes")), 72);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "peak"), "time")), 190);
	cr_assert_eq(json_integer_value(json_object_get(d, "duration")), 210);
	/* 10 events, one sample each (stride 1); with thresholds 700 nothing is
	 * collected, so the last sample holds all 72 live bytes in gen 0 */
	cr_assert_eq(json_array_size(json_object_get(d, "timeline")), 10);
	last = json_array_get(json_object_get(d, "timeline"), 9);
	cr_assert_eq(json_integer_value(json_array_get(last, 0)), 200);
	cr_assert_eq(json_integer_value(json_array_get(last, 1)), 4);
	cr_assert_eq(json_integer_value(json_array_get(last, 2)), 72);
	cr_assert_eq(json_integer_value(json_array_get(last, 3)), 0);
	st = json_object_get(d, "stacks");
	cr_assert_eq(json_array_size(st), 2);
	for (i = 0; i < 2; i++) {
		json_t *e = json_array_get(st, i);

		b += json_integer_value(json_object_get(e, "b"));
		l += json_integer_value(json_object_get(e, "l"));
		n += json_integer_value(json_object_get(e, "n"));
	}
	cr_assert_eq(b, 120);
	cr_assert_eq(l, 72);
	cr_assert_eq(n, 4);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "other"), "b")), 0);
	/* stack 1 root first: 0x402000 then 0x401000 */
	{
		json_t *names = json_object_get(d, "names");
		json_t *f = json_object_get(json_array_get(st, 0), "f");

		cr_assert_str_eq(json_string_value(json_array_get(names, (size_t)json_integer_value(json_array_get(f, 0)))),
				 "0x402000 [prog]");
		cr_assert_str_eq(json_string_value(json_array_get(names, (size_t)json_integer_value(json_array_get(f, 1)))),
				 "0x401000 [prog]");
	}
	json_decref(d);
	free(html);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

/* Thresholds 2/1/1 (html_of_opt with cycles): A0-A2 end in generation 1 (3rd allocation
 * collects), A3 stays in 0. A0 <-> A1 is a cycle, A2 points to itself. The
 * page carries them as data for the script, no pre-drawn SVG. */
Test(report_html, leaked_cycles_carry_generations_as_data)
{
	struct hf f;
	char path[128];
	char *html;
	uint64_t a[4];
	json_t *d, *groups, *inst;

	hf_init(&f);
	for (int i = 0; i < 4; i++) {
		a[i] = HF_HEAP + 0x100 * (uint64_t)i;
		hf_alloc(&f, a[i], i == 2 ? 100 : 32, 9);
	}
	hf_ptr(&f, a[0] + 8, a[1]);
	hf_ptr(&f, a[1] + 8, a[0]);
	hf_ptr(&f, a[2] + 8, a[2]);
	hf_root(&f, 0, a[3]); /* reachable */
	hf_write(&f, path);
	html = html_of_opt(path, 1);
	cr_assert_not_null(strstr(html, "<h2>Leaked cycles</h2><p>2 leaked cycles in snapshot 0."), "%s", html);
	cr_assert_eq(count(html, "<svg class=\"cycle\""), 0, "drawn by the script, on demand");
	cr_assert_not_null(strstr(html, "<tr><td>in leaked cycles</td><td class=n>0</td><td class=n>3</td>"
					"<td class=n>0</td><td class=n>0</td></tr>"), "%s", html);
	cr_assert_not_null(strstr(html, "<tr><td>plain leaks</td><td class=n>0</td><td class=n>0</td>"
					"<td class=n>0</td><td class=n>0</td></tr>"));
	d = data_of(html);
	groups = json_object_get(json_object_get(d, "cycles"), "groups");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "cycles"), "total")), 2);
	cr_assert_eq(json_array_size(groups), 2);
	/* by bytes: the 100-byte self-loop first, its one edge from node 0 to itself */
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(groups, 0), "b")), 100);
	cr_assert_eq(json_array_size(json_object_get(json_array_get(groups, 0), "e")), 2);
	inst = json_array_get(json_object_get(json_array_get(groups, 0), "i"), 0);
	cr_assert_str_eq(json_string_value(json_array_get(inst, 4)), "1", "generation 1 at the end");
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(inst, 2), 0)), "10000200");
	inst = json_array_get(json_object_get(json_array_get(groups, 1), "i"), 0);
	cr_assert_eq(json_integer_value(json_array_get(inst, 0)), 2, "cycle #2 of the text report");
	cr_assert_eq(json_integer_value(json_array_get(inst, 1)), 64);
	cr_assert_str_eq(json_string_value(json_array_get(inst, 4)), "11");
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(json_array_get(groups, 1), "g"), 1)), 2);
	json_decref(d);
	free(html);
	hf_release(&f);
}

/*
 * Eight leaked cycles in four drawings: five two-block rings of site 1 (one
 * of 48-byte blocks, four of 32: sizes do not split a group), a 100-byte
 * self-loop of site 2, a ring site 2 -> 3 -> 3 of 40-byte blocks, and a ring
 * of 120 16-byte blocks of site 3, of which HTML_CYCLE_NODES (50) are drawn.
 * Plus a reachable block and a plain leak, which are no cycle.
 */
#define MC_BIG 120
static void multi_cycle_trace(char *path)
{
	static const uint64_t ips[3] = { 0x401000, 0x402000, 0x403000 };
	struct hf f;
	uint64_t at = HF_HEAP;

	hf_init(&f);
	for (uint64_t s = 1; s <= 3; s++)
		hf_stack(&f, s, 1, &ips[s - 1]);
	for (int r = 0; r < 5; r++, at += 0x100) {
		hf_alloc(&f, at, r == 2 ? 48 : 32, 1);
		hf_alloc(&f, at + 0x80, r == 2 ? 48 : 32, 1);
		hf_ptr(&f, at + 8, at + 0x80);
		hf_ptr(&f, at + 0x80 + 8, at);
	}
	hf_alloc(&f, at, 100, 2);
	hf_ptr(&f, at + 8, at);
	at += 0x100;
	hf_alloc(&f, at, 40, 2);
	hf_alloc(&f, at + 0x40, 40, 3);
	hf_alloc(&f, at + 0x80, 40, 3);
	hf_ptr(&f, at + 8, at + 0x40);
	hf_ptr(&f, at + 0x40 + 8, at + 0x80);
	hf_ptr(&f, at + 0x80 + 8, at);
	at += 0x100;
	for (uint64_t i = 0; i < MC_BIG; i++) {
		hf_alloc(&f, at + 0x20 * i, 16, 3);
		hf_ptr(&f, at + 0x20 * i + 8, at + 0x20 * ((i + 1) % MC_BIG));
	}
	at += 0x20 * MC_BIG;
	hf_alloc(&f, at, 64, 1); /* reachable */
	hf_root(&f, 0, at);
	hf_alloc(&f, at + 0x100, 64, 1); /* plain leak */
	hf_write(&f, path);
	hf_release(&f);
}

static const char *name_at(json_t *d, json_t *idx)
{
	return json_string_value(json_array_get(json_object_get(d, "names"), (size_t)json_integer_value(idx)));
}

Test(report_html, every_cycle_listed_alike_ones_grouped)
{
	char path[128];
	char *html = NULL;
	json_t *d, *gs, *g;
	static const long long bytes[4] = { 16 * MC_BIG, 4 * 64 + 96, 120, 100 };
	static const long long members[4] = { MC_BIG, 2, 3, 1 };
	static const long long counts[4] = { 1, 5, 1, 1 };
	static const size_t drawn[4] = { 50, 2, 3, 1 };
	static const size_t edges[4] = { 49, 2, 3, 1 };

	multi_cycle_trace(path);
	html = html_of(path); /* no --cycles: --html analyzes the snapshot anyway */
	d = data_of(html);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "cycles"), "total")), 8);
	gs = json_object_get(json_object_get(d, "cycles"), "groups");
	cr_assert_eq(json_array_size(gs), 4);
	for (size_t i = 0; i < 4; i++) {
		g = json_array_get(gs, i);
		cr_assert_eq(json_integer_value(json_object_get(g, "b")), bytes[i], "group %zu", i);
		cr_assert_eq(json_integer_value(json_object_get(g, "n")), members[i], "group %zu", i);
		cr_assert_eq(json_integer_value(json_object_get(g, "c")), counts[i], "group %zu", i);
		cr_assert_eq(json_array_size(json_object_get(g, "i")), (size_t)counts[i], "group %zu", i);
		cr_assert_eq(json_array_size(json_object_get(g, "k")), drawn[i], "group %zu", i);
		cr_assert_eq(json_array_size(json_object_get(g, "e")), 2 * edges[i], "group %zu", i);
		cr_assert_eq(json_integer_value(json_object_get(g, "io")), 0);
		/* everything in generation 0: 135 allocations, threshold 700 */
		cr_assert_eq(json_integer_value(json_array_get(json_object_get(g, "g"), 0)),
			     members[i] * counts[i]);
	}
	/* the rings: the 48-byte one first; members by site: 2 of 0x401000 */
	g = json_array_get(gs, 1);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(json_object_get(g, "i"), 0), 1)), 96);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(json_object_get(g, "i"), 1), 1)), 64);
	cr_assert_str_eq(name_at(d, json_array_get(json_array_get(json_object_get(g, "s"), 0), 0)), "0x401000");
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(json_object_get(g, "s"), 0), 1)), 2);
	/* the three-ring: two members of site 3 listed first, drawn from site 2 */
	g = json_array_get(gs, 2);
	cr_assert_str_eq(name_at(d, json_array_get(json_array_get(json_object_get(g, "s"), 0), 0)), "0x403000");
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(json_object_get(g, "s"), 0), 1)), 2);
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "k"), 0)), "0x402000");
	/* the big ring drawn as a path along its pointers: 0->1, 1->2, ... */
	g = json_array_get(gs, 0);
	for (size_t i = 0; i < 49; i++) {
		cr_assert_eq(json_integer_value(json_array_get(json_object_get(g, "e"), 2 * i)), (long long)i);
		cr_assert_eq(json_integer_value(json_array_get(json_object_get(g, "e"), 2 * i + 1)), (long long)i + 1);
	}
	json_decref(d);
	free(html);
}

static int body_attr(const char *dom, const char *name, char *out, size_t size)
{
	const char *body = strstr(dom, "<body"), *end, *p;
	char key[64];

	if (!body)
		return -1;
	end = strchr(body, '>');
	snprintf(key, sizeof(key), " %s=\"", name);
	p = strstr(body, key);
	if (!p || p > end)
		return -1;
	p += strlen(key);
	snprintf(out, size, "%.*s", (int)(strcspn(p, "\"")), p);
	return 0;
}

/* Loads file://page + hash in headless Chromium: the DOM it dumps into
 * *dom (the caller frees it), asserting the page's script finished without
 * error; then a screenshot of the top height pixels kept as
 * build/artifacts/shot. */
static void chromium_load(const char *dir, const char *page, const char *hash, int height,
			  const char *shot_name, struct e2e_proc *dom)
{
	char url[600], shot[512], shotarg[600], profarg[600], sizearg[64], v[64];
	char *dump[] = { "timeout", "120", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
			 "--disable-background-networking", profarg, "--dump-dom", url, NULL };
	char *snap[] = { "timeout", "120", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
			 "--disable-background-networking", profarg, sizearg, shotarg,
			 url, NULL };
	struct e2e_proc p;
	struct stat sb;
	unsigned char magic[8];
	FILE *f;

	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
		     "chromium is not installed (make deps installs it)");
	snprintf(url, sizeof(url), "file://%s%s", page, hash);
	snprintf(sizearg, sizeof(sizearg), "--window-size=1200,%d", height);
	snprintf(profarg, sizeof(profarg), "--user-data-dir=%s/chromium-profile", dir);
	e2e_exec(dump, NULL, NULL, dom);
	cr_assert(WIFEXITED(dom->status) && WEXITSTATUS(dom->status) == 0, "chromium: %s", dom->err);
	cr_assert_eq(body_attr(dom->out, "data-status", v, sizeof(v)), 0, "%.2000s", dom->out);
	if (strcmp(v, "ok")) {
		char err[512] = "";

		body_attr(dom->out, "data-error", err, sizeof(err));
		cr_assert_fail("page status %s: %s", v, err);
	}

	mkdir(RS_BUILD_DIR "/artifacts", 0755);
	snprintf(shot, sizeof(shot), "%s/artifacts/%s", RS_BUILD_DIR, shot_name);
	snprintf(shotarg, sizeof(shotarg), "--screenshot=%s", shot);
	unlink(shot);
	e2e_exec(snap, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "chromium: %s", p.err);
	e2e_proc_free(&p);
	cr_assert_eq(stat(shot, &sb), 0, "no screenshot at %s", shot);
	cr_assert_gt(sb.st_size, 10000);
	f = fopen(shot, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(magic, 1, 8, f), 8);
	fclose(f);
	cr_assert_eq(memcmp(magic, "\x89PNG\r\n\x1a\n", 8), 0);
}

static int body_int(const char *dom, const char *name)
{
	char v[64];

	cr_assert_eq(body_attr(dom, name, v, sizeof(v)), 0, "no %s on <body>", name);
	return atoi(v);
}

/* samples/lifetimes traced, its report drawn by headless Chromium. */
Test(report_html, chromium_draws_every_chart_without_errors, .timeout = 240)
{
	char *dir = e2e_tmpdir(), *trace, page[512];
	char *argv[] = { E2E_SAMPLE("lifetimes"), NULL };
	char *rargv[] = { E2E_REFSCOPE, "report", "--generations", "--html", page, NULL, NULL };
	struct e2e_proc p;
	int alloc_nodes, leak_nodes;

	e2e_traced(dir, argv, NULL, NULL, &p);
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "lifetimes");
	snprintf(page, sizeof(page), "%s/report.html", dir);
	rargv[5] = trace;
	e2e_exec(rargv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	cr_assert_eq(p.out_len, 0, "--html alone writes nothing on stdout: %s", p.out);
	e2e_proc_free(&p);

	chromium_load(dir, page, "", 1600, "report-lifetimes.png", &p);
	cr_assert_eq(body_int(p.out, "data-timeline-areas"), 3);
	cr_assert_gt(body_int(p.out, "data-timeline-points"), 1000, "points for ~100000 events");
	cr_assert_leq(body_int(p.out, "data-timeline-points"), GEN_SAMPLES);
	alloc_nodes = body_int(p.out, "data-flame-alloc-nodes");
	leak_nodes = body_int(p.out, "data-flame-leak-nodes");
	/* the same call path, and two more leaves (make_medium, make_short) */
	cr_assert_geq(leak_nodes, 3, "all, main, make_long at least");
	cr_assert_eq(alloc_nodes, leak_nodes + 2, "alloc %d leak %d", alloc_nodes, leak_nodes);
	cr_assert_not_null(strstr(p.out, ">make_medium</div>"));
	cr_assert_not_null(strstr(p.out, "class=\"peak\""));
	e2e_proc_free(&p);

	free(trace);
	e2e_rmtree(dir);
	free(dir);
}

/* The eight cycles of multi_cycle_trace: the table lists the four groups,
 * the first (the 120-block ring) is drawn on load, and #cycles-all draws
 * every cycle: 5 * 2 + 1 + 3 + 50 nodes, 5 * 2 + 1 + 3 + 49 arrows. */
Test(report_html, chromium_draws_every_leaked_cycle, .timeout = 240)
{
	char *dir = e2e_tmpdir(), trace[128], page[512];
	char *rargv[] = { E2E_REFSCOPE, "report", "--html", page, trace, NULL };
	struct e2e_proc p;

	multi_cycle_trace(trace);
	snprintf(page, sizeof(page), "%s/cycles.html", dir);
	e2e_exec(rargv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	e2e_proc_free(&p);

	/* tall enough to show the table and the first cycle drawn */
	chromium_load(dir, page, "#cycles-all", 2800, "report-cycles.png", &p);
	cr_assert_eq(body_int(p.out, "data-cycles"), 8);
	cr_assert_eq(body_int(p.out, "data-cycle-groups"), 4);
	cr_assert_eq(body_int(p.out, "data-cycle-rows"), 4);
	cr_assert_eq(count(p.out, "<tr class=\"crow\""), 4);
	cr_assert_eq(body_int(p.out, "data-cycle-shown"), 1, "the big ring: cycle #1, the most bytes");
	cr_assert_eq(body_int(p.out, "data-cycle-shown-nodes"), 50);
	cr_assert_eq(body_int(p.out, "data-cycles-drawn"), 8);
	cr_assert_eq(body_int(p.out, "data-cycle-nodes"), 64);
	cr_assert_eq(body_int(p.out, "data-cycle-edges"), 63);
	cr_assert_eq(body_int(p.out, "data-cycles-cut"), 1);
	/* in the DOM: the eight drawn at once and the one on display */
	cr_assert_eq(count(p.out, "<svg class=\"cycle\""), 9);
	cr_assert_eq(count(p.out, "class=\"node\""), 64 + 50);
	cr_assert_eq(count(p.out, "70 more members not drawn"), 2);
	e2e_proc_free(&p);

	/* filtered by a site: the three-ring (0x402000 -> 0x403000 x2) and the
	 * self-loop of 0x402000 */
	chromium_load(dir, page, "#filter=0x402000", 1600, "report-cycles-filtered.png", &p);
	cr_assert_eq(body_int(p.out, "data-cycle-rows"), 2);
	cr_assert_eq(count(p.out, "<tr class=\"crow\""), 2);
	cr_assert_not_null(strstr(p.out, "2 of 4 groups (8 cycles)"));
	e2e_proc_free(&p);

	unlink(trace);
	e2e_rmtree(dir);
	free(dir);
}

/* 3000 two-block rings of one site: one group listing all 3000; the text
 * report (a few hundred bytes per cycle) is cut to its first 256 KiB. */
Test(report_html, thousands_of_alike_cycles_one_group_text_cut)
{
	struct hf f;
	char path[128];
	char *html;
	json_t *d, *g;
	uint64_t at = HF_HEAP;

	hf_init(&f);
	for (int r = 0; r < 3000; r++, at += 0x100) {
		hf_alloc(&f, at, 32, 1);
		hf_alloc(&f, at + 0x80, 32, 1);
		hf_ptr(&f, at + 8, at + 0x80);
		hf_ptr(&f, at + 0x80 + 8, at);
	}
	hf_write(&f, path);
	hf_release(&f);
	html = html_of(path);
	cr_assert_not_null(strstr(html, "<summary>the start of the text report</summary>"));
	cr_assert_not_null(strstr(html, " more bytes: run refscope report --cycles on the trace for all of it\n"));
	cr_assert_lt(strlen(html), 1u << 20, "%zu bytes", strlen(html));
	d = data_of(html);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "cycles"), "total")), 3000);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(d, "cycles"), "groups")), 1);
	g = json_array_get(json_object_get(json_object_get(d, "cycles"), "groups"), 0);
	cr_assert_eq(json_integer_value(json_object_get(g, "c")), 3000);
	cr_assert_eq(json_array_size(json_object_get(g, "i")), 3000);
	cr_assert_eq(json_integer_value(json_object_get(g, "b")), 3000 * 64);
	json_decref(d);
	free(html);
}

/* samples/py/html_cycles.py, traced without a heap snapshot (--no-snapshot):
 * the page still analyzes the Python-aware one. Thirty alike Pair cycles are one group of 30
 * (one row, each cycle kept: number, addresses, refcounts), the ring of
 * three dicts another, its edges named by the keys; all in the collector's
 * generation 0 (it never ran). */
Test(report_html, python_cycles_alike_grouped_dict_keys_named, .timeout = 120)
{
	char *dir = e2e_tmpdir(), *trace, *html;
	char *argv[] = { "/usr/bin/python3.11", RS_SOURCE_DIR "/samples/py/html_cycles.py", NULL };
	char *env[] = { "REFSCOPE_SNAPSHOT=0", NULL }; /* no heap snapshot: --html analyzes the Python one */
	struct e2e_proc p;
	json_t *d, *py, *g, *l;
	int named[3] = { 0, 0, 0 };

	e2e_traced_env(dir, argv, NULL, NULL, env, 120, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	cr_assert_str_eq(p.out, "made 31 cycles\n");
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "python3.11");
	html = html_of(trace);
	cr_assert_not_null(strstr(html, "<h2>Leaked cycles</h2><p>No heap snapshot in the trace"));
	cr_assert_not_null(strstr(html, "31 leaked cycles, found by the collector's own algorithm"));
	d = data_of(html);
	py = json_object_get(d, "pycycles");
	cr_assert_eq(json_integer_value(json_object_get(py, "total")), 31);
	cr_assert_eq(json_array_size(json_object_get(py, "groups")), 2);
	/* by bytes: 30 cycles of two 40-byte Pairs, then three 64-byte dicts */
	g = json_array_get(json_object_get(py, "groups"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(g, "u")), "2 Pair");
	cr_assert_eq(json_integer_value(json_object_get(g, "c")), 30);
	cr_assert_eq(json_integer_value(json_object_get(g, "b")), 30 * 2 * 40);
	cr_assert_eq(json_array_size(json_object_get(g, "i")), 30);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(g, "g"), 0)), 60);
	cr_assert_eq(json_array_size(json_object_get(g, "e")), 4);
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "l"), 0)), "other");
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "l"), 1)), "other");
	g = json_array_get(json_object_get(py, "groups"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(g, "u")), "3 dict");
	cr_assert_eq(json_integer_value(json_object_get(g, "c")), 1);
	cr_assert_eq(json_integer_value(json_object_get(g, "b")), 3 * 64);
	cr_assert_eq(json_array_size(json_object_get(g, "e")), 6, "a ring of three");
	l = json_object_get(g, "l");
	cr_assert_eq(json_array_size(l), 3);
	for (size_t i = 0; i < 3; i++) {
		const char *n = name_at(d, json_array_get(l, i));

		cr_assert_not_null(n);
		for (int k = 0; k < 3; k++)
			named[k] += !strcmp(n, (const char *[]){ "to_x", "to_y", "to_z" }[k]);
	}
	cr_assert(named[0] == 1 && named[1] == 1 && named[2] == 1, "each key names one edge");
	json_decref(d);
	free(html);
	free(trace);
	e2e_rmtree(dir);
	free(dir);
}

/* A Python program's leaked two-node cycle (samples/py/node_cycle.py slots:
 * class Node with __slots__ value and next, a.next = b; b.next = a, the
 * collector disabled), traced with --py-tracemalloc: the page lists it
 * under "Python leaked cycles" and draws it with the C cycles' code, two
 * nodes labelled Node, two arrows named next, and a member table with
 * each object's reference count, generation and creating line.
 * #python-first puts that section at the top for the screenshot. */
Test(report_html, chromium_draws_a_python_cycle, .timeout = 240)
{
	char *dir = e2e_tmpdir(), *trace, page[512], *html;
	char *argv[] = { "/usr/bin/python3.11", RS_SOURCE_DIR "/samples/py/node_cycle.py", "slots", NULL };
	char *env[] = { "REFSCOPE_PY_TRACEMALLOC=1", NULL };
	char *rargv[] = { E2E_REFSCOPE, "report", "--html", page, NULL, NULL };
	struct e2e_proc p;
	json_t *d, *py, *g, *inst;
	size_t len;
	FILE *f;

	e2e_traced_env(dir, argv, NULL, NULL, env, 120, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	cr_assert_str_eq(p.out, "made a slots cycle\n");
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "python3.11");
	snprintf(page, sizeof(page), "%s/python.html", dir);
	rargv[4] = trace;
	e2e_exec(rargv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	e2e_proc_free(&p);

	/* the data: one cycle, types and edge names by index into names */
	f = fopen(page, "r");
	cr_assert_not_null(f);
	html = NULL;
	len = 0;
	cr_assert_gt(getdelim(&html, &len, '\0', f), 0);
	fclose(f);
	cr_assert_not_null(strstr(html, "<div id=python><h2>Python leaked cycles</h2>"));
	cr_assert_not_null(strstr(html, "<table class=pygens>"), "the collector's own generations");
	cr_assert_not_null(strstr(html, "<tr><td>0</td><td>before finalization</td>"));
	d = data_of(html);
	py = json_object_get(d, "pycycles");
	cr_assert_eq(json_integer_value(json_object_get(py, "total")), 1);
	cr_assert_eq(json_array_size(json_object_get(py, "groups")), 1);
	g = json_array_get(json_object_get(py, "groups"), 0);
	cr_assert_eq(json_integer_value(json_object_get(g, "n")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(g, "u")), "2 Node");
	cr_assert_eq(json_array_size(json_object_get(g, "t")), 2);
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "t"), 0)), "Node");
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "t"), 1)), "Node");
	cr_assert_eq(json_array_size(json_object_get(g, "e")), 4, "a -> b and b -> a");
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "l"), 0)), "next");
	cr_assert_str_eq(name_at(d, json_array_get(json_object_get(g, "l"), 1)), "next");
	inst = json_array_get(json_object_get(g, "i"), 0);
	cr_assert_str_eq(json_string_value(json_array_get(inst, 4)), "00", "both in generation 0");
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(inst, 7), 0)), 1, "refcount: b.next only");
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(inst, 7), 1)), 1);
	json_decref(d);
	free(html);

	chromium_load(dir, page, "#python-first", 900, "report-python-cycle.png", &p);
	cr_assert_eq(body_int(p.out, "data-pycycles"), 1);
	cr_assert_eq(body_int(p.out, "data-pycycle-groups"), 1);
	cr_assert_eq(body_int(p.out, "data-pycycle-rows"), 1);
	cr_assert_eq(body_int(p.out, "data-pycycle-shown"), 1);
	cr_assert_eq(body_int(p.out, "data-pycycle-shown-nodes"), 2);
	cr_assert_eq(body_int(p.out, "data-pycycle-shown-edges"), 2);
	cr_assert_not_null(strstr(p.out, "<div class=\"ctitle\">python cycle #1: 2 Node, 96 bytes in 2 objects</div>"),
			   "%s", strstr(p.out, "pycycle-view"));
	cr_assert_eq(count(p.out, "class=\"label\">Node</text>"), 2);
	cr_assert_eq(count(p.out, "class=\"elabel\" fill=\"#036\">next</text>"), 2);
	/* the member table: created on lines 36 and 37 (a = cls(1); b = cls(2)) */
	cr_assert_eq(count(p.out, "<td>Node</td><td>0x"), 2);
	cr_assert_not_null(strstr(p.out, "/samples/py/node_cycle.py:36</td>"));
	cr_assert_not_null(strstr(p.out, "/samples/py/node_cycle.py:37</td>"));
	cr_assert_eq(count(p.out, "<td>48</td><td>1</td><td>0</td>"), 2, "48 bytes, refcount 1, generation 0");
	e2e_proc_free(&p);

	free(trace);
	e2e_rmtree(dir);
	free(dir);
}
