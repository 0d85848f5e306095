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
 * collects), A3 stays in 0. A0 <-> A1 is a cycle, A2 points to itself. */
Test(report_html, draws_leaked_cycles_coloured_by_generation)
{
	struct hf f;
	char path[128];
	char *html;
	uint64_t a[4];

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
	cr_assert_not_null(strstr(html, "<h2>Leaked cycles</h2><p>2 leaked cycles in snapshot 0;"), "%s", html);
	cr_assert_eq(count(html, "<svg class=\"cycle\""), 2);
	/* by bytes: the 100-byte self-loop first */
	cr_assert_not_null(strstr(html, "<svg class=\"cycle\" data-members=\"1\" data-edges=\"1\""));
	cr_assert_not_null(strstr(html, "<svg class=\"cycle\" data-members=\"2\" data-edges=\"2\""));
	cr_assert_eq(count(html, "fill=\"#4f9bd9\""), 3, "three members, all in generation 1");
	cr_assert_eq(count(html, "generation 1 at the end"), 3);
	cr_assert_eq(count(html, "<polygon"), 2, "two arrowheads in the ring");
	free(html);
	hf_release(&f);
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

/* samples/lifetimes traced, its report drawn by headless Chromium. */
Test(report_html, chromium_draws_every_chart_without_errors, .timeout = 240)
{
	char *dir = e2e_tmpdir(), *trace, page[512], url[600], shot[512], prof[512], shotarg[600],
	     profarg[600], v[64];
	char *argv[] = { E2E_SAMPLE("lifetimes"), NULL };
	char *rargv[] = { E2E_REFSCOPE, "report", "--generations", "--html", page, NULL, NULL };
	char *dump[] = { "timeout", "120", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
			 "--disable-background-networking", profarg, "--dump-dom", url, NULL };
	char *snap[] = { "timeout", "120", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
			 "--disable-background-networking", profarg, "--window-size=1200,1600", shotarg,
			 url, NULL };
	struct e2e_proc p;
	struct stat sb;
	unsigned char magic[8];
	FILE *f;
	int alloc_nodes, leak_nodes;

	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
		     "chromium is not installed (make deps installs it)");
	e2e_traced(dir, argv, NULL, NULL, &p);
	e2e_proc_free(&p);
	trace = e2e_only_trace(dir, "lifetimes");
	snprintf(page, sizeof(page), "%s/report.html", dir);
	snprintf(url, sizeof(url), "file://%s", page);
	snprintf(prof, sizeof(prof), "%s/chromium-profile", dir);
	snprintf(profarg, sizeof(profarg), "--user-data-dir=%s", prof);
	rargv[5] = trace;
	e2e_exec(rargv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	cr_assert_eq(p.out_len, 0, "--html alone writes nothing on stdout: %s", p.out);
	e2e_proc_free(&p);

	e2e_exec(dump, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "chromium: %s", p.err);
	cr_assert_eq(body_attr(p.out, "data-status", v, sizeof(v)), 0, "%.2000s", p.out);
	if (strcmp(v, "ok")) {
		char err[512] = "";

		body_attr(p.out, "data-error", err, sizeof(err));
		cr_assert_fail("page status %s: %s", v, err);
	}
	cr_assert_eq(body_attr(p.out, "data-timeline-areas", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "3");
	cr_assert_eq(body_attr(p.out, "data-timeline-points", v, sizeof(v)), 0);
	cr_assert_gt(atoi(v), 1000, "%s points for ~100000 events", v);
	cr_assert_leq(atoi(v), GEN_SAMPLES);
	cr_assert_eq(body_attr(p.out, "data-flame-alloc-nodes", v, sizeof(v)), 0);
	alloc_nodes = atoi(v);
	cr_assert_eq(body_attr(p.out, "data-flame-leak-nodes", v, sizeof(v)), 0);
	leak_nodes = atoi(v);
	/* the same call path, and two more leaves (make_medium, make_short) */
	cr_assert_geq(leak_nodes, 3, "all, main, make_long at least");
	cr_assert_eq(alloc_nodes, leak_nodes + 2, "alloc %d leak %d", alloc_nodes, leak_nodes);
	cr_assert_not_null(strstr(p.out, ">make_medium</div>"));
	cr_assert_not_null(strstr(p.out, "class=\"peak\""));
	e2e_proc_free(&p);

	mkdir(RS_BUILD_DIR "/artifacts", 0755);
	snprintf(shot, sizeof(shot), "%s/artifacts/report-lifetimes.png", RS_BUILD_DIR);
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

	free(trace);
	e2e_rmtree(dir);
	free(dir);
}
