/*
 * test_generations.c - the generational model (analyzer/generations.c) fed
 * event by event with numbers worked out by hand in the comments, the same
 * facts through `refscope report` on tracebuild traces (JSON and folded
 * stacks), and samples/lifetimes run under the shim.
 */

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"
#include "generations.h"
#include "graph.h"
#include "heapfix.h"
#include "report.h"
#include "tracebuild.h"

/* ---- the model, event by event ------------------------------------------- */

struct feed {
	struct gen_model *m;
	uint64_t seq, time;
};

static void feed_init(struct feed *f, uint64_t t0, uint64_t t1, uint64_t t2)
{
	uint64_t th[GEN_COUNT] = { t0, t1, t2 };

	memset(f, 0, sizeof(*f));
	cr_assert_eq(gen_new(th, &f->m), 0);
}

static void ev(struct feed *f, uint8_t type, uint64_t addr, uint64_t size, uint64_t stack,
	       uint64_t kind, uint64_t old)
{
	struct reader_event e = { .type = type, .seq = ++f->seq, .time = f->time, .tid = 1,
				  .addr = addr, .size = size, .stack = stack, .kind = kind, .old = old };

	cr_assert_eq(gen_event(f->m, &e), 0);
}

static void al(struct feed *f, uint64_t addr, uint64_t size, uint64_t stack)
{
	ev(f, RS_EV_ALLOC, addr, size, stack, RS_KIND_MALLOC, 0);
}

static void fr(struct feed *f, uint64_t addr)
{
	ev(f, RS_EV_FREE, addr, 0, 0, RS_KIND_FREE, 0);
}

static const struct gen_site *site(const struct gen_site *s, size_t n, uint64_t stack)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].stack == stack)
			return &s[i];
	cr_assert_fail("no site %llu", (unsigned long long)stack);
	return NULL;
}

static void check_balance(const struct gen_stats *st)
{
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		const struct gen_generation *x = &st->gen[g];

		cr_assert_eq(x->entered, x->died + x->promoted + x->live, "generation %u", g);
		cr_assert_eq(x->entered_bytes, x->died_bytes + x->promoted_bytes + x->live_bytes);
	}
	cr_assert_eq(st->gen[GEN_COUNT - 1].promoted, 0);
}

/*
 * Thresholds 2/1/1, 21 allocations, no frees. count0 exceeds 2 at every 3rd
 * allocation, so collections run at allocations 3, 6, ..., 21:
 *   #3  count1 0        -> gen 0 (1-3 to gen 1), count1 1
 *   #6  count1 1 (!> 1) -> gen 0 (4-6 to gen 1), count1 2
 *   #9  count1 2 > 1    -> gen 1: gen 0 (7-9) and gen 1 (1-6) to gen 2, count2 1
 *   #12 count2 1, count1 0 -> gen 0 (10-12 to gen 1), count1 1
 *   #15 -> gen 0 (13-15 to gen 1), count1 2
 *   #18 count1 2 > 1    -> gen 1: 16-18 and 10-15 to gen 2, count2 2
 *   #21 count2 2 > 1    -> gen 2: 19-21 to gen 2, every count 0
 * collections 4/2/1; entered 21/12/21 (gen 1: 3+3+3+3; gen 2: 9+9+3);
 * promoted 21/12/0; all 21 live in gen 2 at the end.
 */
Test(generations, cpython_schedule_of_collections_and_promotions)
{
	struct feed f;
	const struct gen_stats *st;
	struct gen_site *sites;
	size_t n;

	feed_init(&f, 2, 1, 1);
	for (uint64_t i = 1; i <= 21; i++)
		al(&f, 0x1000 * i, 10, 7);
	cr_assert_eq(gen_finish(f.m), 0);
	st = gen_stats(f.m);
	cr_assert_eq(st->gen[0].collections, 4);
	cr_assert_eq(st->gen[1].collections, 2);
	cr_assert_eq(st->gen[2].collections, 1);
	cr_assert_eq(st->gen[0].entered, 21);
	cr_assert_eq(st->gen[1].entered, 12);
	cr_assert_eq(st->gen[2].entered, 21);
	cr_assert_eq(st->gen[0].promoted, 21);
	cr_assert_eq(st->gen[1].promoted, 12);
	cr_assert_eq(st->gen[1].promoted_bytes, 120);
	cr_assert_eq(st->gen[0].live, 0);
	cr_assert_eq(st->gen[1].live, 0);
	cr_assert_eq(st->gen[2].live, 21);
	cr_assert_eq(st->gen[2].live_bytes, 210);
	cr_assert_eq(st->clock, 21);
	cr_assert_eq(st->freed, 0);
	check_balance(st);
	cr_assert_eq(gen_sites(f.m, &sites, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(sites[0].reached_oldest, 21);
	cr_assert_eq(sites[0].live_by_gen[2], 21);
	cr_assert_eq(sites[0].peak_bytes, 210);
	/* ages at the end: 20, 19, ..., 0; the 11th smallest is 10 */
	cr_assert_eq(sites[0].median_lifetime, 10);
	free(sites);
	gen_free(f.m);
}

/* The 12th collection is the first of generation 1 with the defaults:
 * count1 must exceed 10. 12 x 701 allocations, none freed. */
Test(generations, default_thresholds_need_eleven_young_collections)
{
	struct feed f;
	const struct gen_stats *st;

	memset(&f, 0, sizeof(f));
	cr_assert_eq(gen_new(NULL, &f.m), 0);
	for (uint64_t i = 1; i <= 12 * 701; i++)
		al(&f, 16 * i, 1, 1);
	cr_assert_eq(gen_finish(f.m), 0);
	st = gen_stats(f.m);
	cr_assert_eq(st->gen[0].threshold, 700);
	cr_assert_eq(st->gen[1].threshold, 10);
	cr_assert_eq(st->gen[2].threshold, 10);
	cr_assert_eq(st->gen[0].collections, 11);
	cr_assert_eq(st->gen[1].collections, 1);
	cr_assert_eq(st->gen[2].collections, 0);
	cr_assert_eq(st->gen[1].entered, 11 * 701);
	cr_assert_eq(st->gen[2].entered, 12 * 701);
	cr_assert_eq(st->gen[2].live, 12 * 701);
	check_balance(st);
	gen_free(f.m);
}

/*
 * Frees: thresholds 2/10/10, stack 1 unless said.
 *   a alloc (count0 1, clock 1), b alloc (2, clock 2), free a (count0 1,
 *   lifetime 2 - 1 = 1), c alloc (2, clock 3), d alloc (3 > 2: collection of
 *   gen 0, b c d to gen 1, count0 0, clock 4), free b (count0 stays 0; b
 *   died in gen 1, lifetime 4 - 2 = 2), e alloc stack 2 (clock 5, count0 1),
 *   free e (temporary, lifetime 0, count0 0), f alloc stack 2 (clock 6),
 *   g alloc stack 3 (clock 7), free f (not temporary: g came between;
 *   lifetime 1).
 * gen 0: entered 7 (a..g), died 3 (a, e, f), promoted 3 (b c d), live 1 (g).
 * gen 1: entered 3, died 1 (b), live 2 (c d).
 * lifetimes in allocations: 0 x1 (e), 1 x2 (a, f), 2 x1 (b).
 */
Test(generations, frees_lifetimes_and_temporaries)
{
	struct feed f;
	const struct gen_stats *st;
	const struct gen_site *s;
	struct gen_site *sites;
	size_t n;

	feed_init(&f, 2, 10, 10);
	f.time = 100;
	al(&f, 0xa0, 1, 1);
	al(&f, 0xb0, 2, 1);
	f.time = 103;
	fr(&f, 0xa0);
	al(&f, 0xc0, 4, 1);
	al(&f, 0xd0, 8, 1);
	f.time = 200;
	fr(&f, 0xb0);
	al(&f, 0xe0, 16, 2);
	fr(&f, 0xe0);
	al(&f, 0xf0, 32, 2);
	al(&f, 0x100, 64, 3);
	fr(&f, 0xf0);
	fr(&f, 0x999); /* unknown: changes nothing */
	cr_assert_eq(gen_finish(f.m), 0);
	st = gen_stats(f.m);
	cr_assert_eq(st->gen[0].collections, 1);
	cr_assert_eq(st->gen[0].entered, 7);
	cr_assert_eq(st->gen[0].entered_bytes, 127);
	cr_assert_eq(st->gen[0].died, 3);
	cr_assert_eq(st->gen[0].died_bytes, 1 + 16 + 32);
	cr_assert_eq(st->gen[0].promoted, 3);
	cr_assert_eq(st->gen[0].promoted_bytes, 2 + 4 + 8);
	cr_assert_eq(st->gen[0].live, 1);
	cr_assert_eq(st->gen[1].entered, 3);
	cr_assert_eq(st->gen[1].died, 1);
	cr_assert_eq(st->gen[1].died_bytes, 2);
	cr_assert_eq(st->gen[1].live, 2);
	cr_assert_eq(st->gen[1].live_bytes, 12);
	check_balance(st);
	cr_assert_eq(st->freed, 4);
	cr_assert_eq(st->hist_allocs[0], 1);
	cr_assert_eq(st->hist_allocs[1], 2);
	cr_assert_eq(st->hist_allocs[2], 1);
	/* ns: a 3 (bucket [2,4)), b 100 ([64,128)), e and f 0 */
	cr_assert_eq(st->hist_ns[0], 2);
	cr_assert_eq(st->hist_ns[2], 1);
	cr_assert_eq(st->hist_ns[7], 1);
	cr_assert_eq(st->temporary, 1);
	cr_assert_eq(st->temporary_bytes, 16);

	cr_assert_eq(gen_sites(f.m, &sites, &n), 0);
	cr_assert_eq(n, 3);
	s = site(sites, n, 1);
	cr_assert_eq(s->allocations, 4);
	cr_assert_eq(s->bytes, 15);
	cr_assert_eq(s->frees, 2);
	cr_assert_eq(s->peak_bytes, 14); /* b c d live at once */
	cr_assert_eq(s->live, 2);
	cr_assert_eq(s->live_by_gen[1], 2);
	cr_assert_eq(s->temporary, 0);
	/* a 1, b 2, c and d aged 7 - 3 = 4 and 7 - 4 = 3: lower median of 1 2 3 4 */
	cr_assert_eq(s->median_lifetime, 2);
	s = site(sites, n, 2);
	cr_assert_eq(s->temporary, 1);
	cr_assert_eq(s->peak_bytes, 32);
	cr_assert_eq(s->median_lifetime, 0);
	s = site(sites, n, 3);
	cr_assert_eq(s->live_by_gen[0], 1);
	/* nothing reached generation 2: by bytes, 64 (stack 3), 48 (2), 15 (1) */
	cr_assert_eq(sites[0].stack, 3);
	cr_assert_eq(sites[1].stack, 2);
	cr_assert_eq(sites[2].stack, 1);
	free(sites);
	gen_free(f.m);
}

/* A successful realloc ends the old block and starts a new one; a failed
 * one leaves the old block live where it was. */
Test(generations, realloc_success_and_failure)
{
	struct feed f;
	const struct gen_stats *st;

	feed_init(&f, 0, 10, 10); /* threshold 0: no collections */
	al(&f, 0x10, 8, 1);
	ev(&f, RS_EV_FREE, 0x10, 0, 1, RS_KIND_REALLOC, 0);
	ev(&f, RS_EV_ALLOC, 0x20, 16, 1, RS_KIND_REALLOC, 0);
	ev(&f, RS_EV_FREE, 0x20, 0, 1, RS_KIND_REALLOC, 0);
	ev(&f, RS_EV_ALLOC_FAILED, 0, 1000, 1, RS_KIND_REALLOC, 0x20);
	for (int i = 0; i < 5000; i++)
		al(&f, 0x1000 + 16 * (uint64_t)i, 1, 2);
	cr_assert_eq(gen_finish(f.m), 0);
	st = gen_stats(f.m);
	cr_assert_eq(st->gen[0].collections, 0);
	cr_assert_eq(st->gen[0].entered, 5002);
	cr_assert_eq(st->gen[0].died, 1);
	cr_assert_eq(st->gen[0].died_bytes, 8);
	cr_assert_eq(st->gen[0].live, 5001);
	cr_assert_eq(st->gen[0].live_bytes, 5016);
	cr_assert_eq(st->temporary, 1, "0x10 was the last allocation when realloc freed it");
	check_balance(st);
	gen_free(f.m);
}

/* Two million events, never more than 100 blocks live: memory follows the
 * live set (the pool and table keep their first size), the timeline keeps
 * at most GEN_SAMPLES points, and the peak survives the merging. */
Test(generations, memory_follows_the_live_set)
{
	struct feed f;
	const struct gen_sample *tl;
	size_t n, peak_at = 0;
	uint64_t best = 0;

	feed_init(&f, 700, 10, 10);
	for (uint64_t i = 0; i < 1000000; i++) {
		f.time = i;
		al(&f, 0x1000 + 16 * (i % 100), i == 777777 ? 5000 : 8, 1);
		if (i >= 99)
			fr(&f, 0x1000 + 16 * ((i - 99) % 100));
	}
	cr_assert_eq(gen_finish(f.m), 0);
	cr_assert_eq(gen_node_capacity(f.m), 1024);
	cr_assert_eq(gen_table_capacity(f.m), 1024);
	tl = gen_timeline(f.m, &n);
	cr_assert_leq(n, GEN_SAMPLES);
	cr_assert_geq(n, GEN_SAMPLES / 2);
	for (size_t i = 0; i < n; i++) {
		uint64_t t = tl[i].bytes[0] + tl[i].bytes[1] + tl[i].bytes[2];

		if (t > best) {
			best = t;
			peak_at = i;
		}
		if (i)
			cr_assert_gt(tl[i].seq, tl[i - 1].seq);
	}
	/* 100 live blocks of 8 bytes, one of them 5000 bytes: 99 x 8 + 5000 */
	cr_assert_eq(best, 99 * 8 + 5000);
	cr_assert_eq(tl[peak_at].time, 777777);
	gen_free(f.m);
}

/* Median: a bucket's lower bound above 16 (100 lies in [96, 104)). */
Test(generations, median_is_the_lower_bound_of_its_bucket)
{
	struct feed f;
	struct gen_site *sites;
	size_t n;

	feed_init(&f, 0, 10, 10);
	for (int k = 0; k < 3; k++) {
		al(&f, 0x10, 1, 9);
		for (int i = 0; i < 100; i++)
			al(&f, 0x100 + 16 * (uint64_t)(k * 100 + i), 1, 8);
		fr(&f, 0x10);
	}
	cr_assert_eq(gen_finish(f.m), 0);
	cr_assert_eq(gen_sites(f.m, &sites, &n), 0);
	cr_assert_eq(site(sites, n, 9)->median_lifetime, 96);
	cr_assert_eq(site(sites, n, 9)->frees, 3);
	free(sites);
	cr_assert_eq(gen_bucket(0), 0);
	cr_assert_eq(gen_bucket(1), 1);
	cr_assert_eq(gen_bucket(3), 2);
	cr_assert_eq(gen_bucket(4096), 13);
	cr_assert_eq(gen_bucket(UINT64_MAX), 64);
	gen_free(f.m);
}

/* ---- through the report ---------------------------------------------------- */

static void write_sample(char *dir, char *path)
{
	struct tb t;
	struct tb_sample s;

	tb_build_sample(&t, &s);
	tb_tmpdir(dir, 64);
	tb_path(path, 128, dir, "sample.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);
}

static char *report_out(const char *path, const struct report_options *opt, int fmt,
			enum report_weight by)
{
	struct report rep;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(report_build(path, opt, &rep), 0);
	f = open_memstream(&buf, &len);
	if (fmt == 'j')
		cr_assert_eq(report_write_json(&rep, f), 0);
	else if (fmt == 'c')
		cr_assert_eq(report_write_collapsed(&rep, by, f), 0);
	else if (fmt == 'h')
		cr_assert_eq(report_write_html(&rep, f), 0);
	else
		cr_assert_eq(report_write_text(&rep, f), 0);
	fclose(f);
	report_release(&rep);
	return buf;
}

static json_t *jget(json_t *cur, const char *path)
{
	char key[64];

	while (cur && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(key)) : json_object_get(cur, key);
		path += n + (dot ? 1 : 0);
	}
	cr_assert_not_null(cur);
	return cur;
}

static long long jint(json_t *root, const char *path)
{
	json_t *v = jget(root, path);

	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return json_integer_value(v);
}

/*
 * The shared sample (tracebuild.h) with thresholds 1/1/1: allocations
 * 0x1000 (seq 2), 0x3000 (4), 0x2000 (5), 0x4000 (9); frees 0x2000 (6),
 * 0x1000 (7).
 *   seq 2 alloc 0x1000: count0 1
 *   seq 4 alloc 0x3000: count0 2 > 1 -> gen 0: 0x1000 0x3000 to gen 1, count1 1
 *   seq 5 alloc 0x2000: count0 1
 *   seq 6 free 0x2000: died in gen 0 (lifetime 0 allocations, temporary), count0 0
 *   seq 7 free 0x1000: died in gen 1 (lifetime 3 - 1 = 2), count0 stays 0
 *   seq 9 alloc 0x4000: count0 1
 * gen 0: 1 collection, entered 4 (120 bytes), died 1 (32), promoted 2 (24),
 * live 1 (64). gen 1: entered 2 (24), died 1 (16), live 1 (8).
 */
Test(generations, report_json_of_the_sample)
{
	struct report_options opt = { .top = 20, .symbolize = 1, .have_thresholds = 1,
				      .gen_thresholds = { 1, 1, 1 } };
	char dir[64], path[128];
	char *buf;
	json_t *root, *g;
	json_error_t err;

	write_sample(dir, path);
	buf = report_out(path, &opt, 'j', REPORT_BY_BYTES);
	root = json_loads(buf, 0, &err);
	cr_assert_not_null(root, "%s: %s", err.text, buf);
	cr_assert_eq(json_array_size(jget(root, "generations")), 3);
	g = jget(root, "generations.0");
	cr_assert_eq(jint(g, "collections"), 1);
	cr_assert_eq(jint(g, "collected"), 1);
	cr_assert(json_is_null(jget(g, "uncollectable")));
	cr_assert_eq(jint(g, "threshold"), 1);
	cr_assert_eq(jint(g, "entered"), 4);
	cr_assert_eq(jint(g, "entered_bytes"), 120);
	cr_assert_eq(jint(g, "died_bytes"), 32);
	cr_assert_eq(jint(g, "promoted"), 2);
	cr_assert_eq(jint(g, "promoted_bytes"), 24);
	cr_assert_eq(jint(g, "live"), 1);
	cr_assert_eq(jint(g, "live_bytes"), 64);
	cr_assert_float_eq(json_real_value(jget(g, "survival_rate")), 0.5, 1e-9);
	g = jget(root, "generations.1");
	cr_assert_eq(jint(g, "collections"), 0);
	cr_assert_eq(jint(g, "entered"), 2);
	cr_assert_eq(jint(g, "died_bytes"), 16);
	cr_assert_eq(jint(g, "live_bytes"), 8);
	cr_assert_float_eq(json_real_value(jget(g, "survival_rate")), 0.0, 1e-9);
	cr_assert(json_is_null(jget(root, "generations.2.survival_rate")));
	cr_assert_eq(jint(root, "lifetimes.allocation_clock"), 4);
	cr_assert_eq(jint(root, "lifetimes.freed"), 2);
	cr_assert_eq(jint(root, "lifetimes.live"), 2);
	cr_assert_eq(jint(root, "lifetimes.temporary"), 1);
	cr_assert_eq(jint(root, "lifetimes.temporary_bytes"), 32);
	cr_assert_eq(json_array_size(jget(root, "lifetimes.allocations")), 2);
	cr_assert_eq(jint(root, "lifetimes.allocations.0.max"), 0);
	cr_assert_eq(jint(root, "lifetimes.allocations.1.min"), 2);
	cr_assert_eq(jint(root, "lifetimes.allocations.1.max"), 3);
	cr_assert_eq(jint(root, "lifetimes.allocations.1.blocks"), 1);
	/* ns: 0x2000 150 -> 160 (10, [8,16)), 0x1000 110 -> 170 (60, [32,64)) */
	cr_assert_eq(jint(root, "lifetimes.ns.0.min"), 8);
	cr_assert_eq(jint(root, "lifetimes.ns.1.min"), 32);
	cr_assert_eq(jint(root, "sites.count"), 2);
	/* stack 1 sent 0x1000 (16 bytes) to gen 1 only; nothing reached gen 2:
	 * stack 1 has more bytes (80 > 40) */
	g = jget(root, "sites.long_lived.0");
	cr_assert_eq(jint(g, "stack_id"), 1);
	cr_assert_eq(jint(g, "allocations"), 2);
	cr_assert_eq(jint(g, "bytes"), 80);
	cr_assert_eq(jint(g, "frees"), 1);
	cr_assert_eq(jint(g, "peak_bytes"), 64);
	cr_assert_eq(jint(g, "live_bytes"), 64);
	cr_assert_eq(jint(g, "live_by_generation.0"), 1);
	cr_assert_eq(jint(g, "reached_oldest"), 0);
	cr_assert_eq(jint(g, "median_lifetime_allocations"), 0); /* 2 and age 0: lower median */
	cr_assert_eq(json_array_size(jget(g, "frames")), 2);
	g = jget(root, "sites.long_lived.1");
	cr_assert_eq(jint(g, "stack_id"), 2);
	cr_assert_eq(jint(g, "temporary"), 1);
	cr_assert_eq(jint(g, "peak_bytes"), 40);
	cr_assert_eq(jint(g, "live_by_generation.1"), 1);
	json_decref(root);
	free(buf);
	unlink(path);
	rmdir(dir);
}

Test(generations, text_sections)
{
	struct report_options opt = { .top = 20, .symbolize = 1, .generations = 1 };
	char dir[64], path[128];
	char *buf;

	write_sample(dir, path);
	buf = report_out(path, &opt, 't', REPORT_BY_BYTES);
	cr_assert_not_null(strstr(buf, "\nallocation sites: 2; temporary: 1 allocations freed"), "%s", buf);
	cr_assert_not_null(strstr(buf, "\ngenerations: CPython-like model, thresholds 700/10/10, on a clock of 4 allocations\n"),
			   "%s", buf);
	cr_assert_not_null(strstr(buf, "\nlifetimes of the 2 freed blocks (2 still live at the end are not counted)\n"),
			   "%s", buf);
	cr_assert_not_null(strstr(buf, "\n#1: 2 allocations (80 bytes), 0 reached generation 2 (0.0%)"), "%s", buf);
	/* heaptrack's figures per site: its own peak of live bytes and its
	 * temporary allocations (stack 2's 0x2000 was freed right after it) */
	cr_assert_not_null(strstr(buf, "\n    peak bytes     allocs          bytes  temporary  where\n"), "%s", buf);
	cr_assert_not_null(strstr(buf, "\n            64          2             80          0  "), "%s", buf);
	cr_assert_not_null(strstr(buf, "\n            40          2             40          1  "), "%s", buf);
	cr_assert_not_null(strstr(buf, "\npeak:      72 bytes in 2 blocks, at event 9 ("), "%s", buf);
	free(buf);
	opt.generations = 0;
	buf = report_out(path, &opt, 't', REPORT_BY_BYTES);
	cr_assert_null(strstr(buf, "generations:"), "%s", buf);
	cr_assert_not_null(strstr(buf, "\nallocation sites: 2;"), "%s", buf);
	free(buf);
	unlink(path);
	rmdir(dir);
}

Test(generations, collapsed_stacks_root_first)
{
	struct report_options opt = { .top = 20, .symbolize = 1, .all_stacks = 1 };
	char dir[64], path[128];
	char *buf;

	write_sample(dir, path);
	/* /usr/bin/prog is missing: frames are the ip and the module's name */
	buf = report_out(path, &opt, 'c', REPORT_BY_BYTES);
	cr_assert_str_eq(buf, "0x402000 [prog];0x401000 [prog] 80\n"
			      "0x7f0000001234;0x401000 [prog];0x403000 [prog] 40\n");
	free(buf);
	buf = report_out(path, &opt, 'c', REPORT_BY_COUNT);
	cr_assert_str_eq(buf, "0x402000 [prog];0x401000 [prog] 2\n"
			      "0x7f0000001234;0x401000 [prog];0x403000 [prog] 2\n");
	free(buf);
	buf = report_out(path, &opt, 'c', REPORT_BY_LEAKED);
	cr_assert_str_eq(buf, "0x402000 [prog];0x401000 [prog] 64\n"
			      "0x7f0000001234;0x401000 [prog];0x403000 [prog] 8\n");
	free(buf);
	unlink(path);
	rmdir(dir);
}

/*
 * Snapshots at seq 3, 6 and 10 (ids 0, 1, 2). Blocks, by birth:
 *   seq 1 A 10 st1 (freed at 10: after the last snapshot, so live there)
 *   seq 2 B 20 st1 (freed at 7)     seq 3 C 30 st2     seq 4 D 40 st2
 *   seq 5 E 50 st3 (freed at 8)     seq 6 F 60 st3     seq 9 G 70 st1
 *   seq 11 H 80 st1 (after the last snapshot)
 * Live at the last snapshot, by interval: before 0: A (10); 0 to 1: C D
 * (70, one site); 1 to 2: G (70, st1) then F (60, st3).
 */
Test(generations, snapshot_generations_group_survivors_by_birth)
{
	struct report_options opt = { .top = 20, .symbolize = 0, .generations = 1 };
	const uint64_t ips[] = { 0x401000 };
	char dir[64], path[128];
	char *buf;
	json_t *root, *iv;
	json_error_t err;
	struct tb t;

	tb_init(&t, 7, 1);
	for (uint64_t s = 1; s <= 3; s++)
		tb_stack(&t, s, 1, ips);
	tb_chunk_begin(&t, 7, 1, 0);
	tb_alloc(&t, 1, 1, 0xa0, 10, 1, RS_KIND_MALLOC);
	tb_alloc(&t, 2, 2, 0xb0, 20, 1, RS_KIND_MALLOC);
	tb_alloc(&t, 3, 3, 0xc0, 30, 2, RS_KIND_MALLOC);
	tb_alloc(&t, 4, 4, 0xd0, 40, 2, RS_KIND_MALLOC);
	tb_alloc(&t, 5, 5, 0xe0, 50, 3, RS_KIND_MALLOC);
	tb_alloc(&t, 6, 6, 0xf0, 60, 3, RS_KIND_MALLOC);
	tb_free(&t, 7, 7, 0xb0, 1, RS_KIND_FREE);
	tb_free(&t, 8, 8, 0xe0, 1, RS_KIND_FREE);
	tb_alloc(&t, 9, 9, 0x100, 70, 1, RS_KIND_MALLOC);
	tb_free(&t, 10, 10, 0xa0, 1, RS_KIND_FREE);
	tb_alloc(&t, 11, 11, 0x110, 80, 1, RS_KIND_MALLOC);
	tb_chunk_end(&t, 0);
	for (uint64_t id = 0; id < 3; id++) {
		static const uint64_t seqs[] = { 3, 6, 10 };

		tb_snapshot(&t, id, seqs[id], seqs[id], RS_SNAP_REQUEST, 7);
		tb_snapshot_end(&t, id, 0, 0, 0, 0);
	}
	tb_end(&t, 12, RS_END_EXIT, 0, 12, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "snaps.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);

	buf = report_out(path, &opt, 'j', REPORT_BY_BYTES);
	root = json_loads(buf, 0, &err);
	cr_assert_not_null(root, "%s: %s", err.text, buf);
	cr_assert(json_is_null(jget(root, "trace.error")), "%s", buf);
	cr_assert_eq(jint(root, "snapshot_generations.last_snapshot"), 2);
	cr_assert_eq(jint(root, "snapshot_generations.last_seq"), 10);
	cr_assert_eq(json_array_size(jget(root, "snapshot_generations.intervals")), 3);
	iv = jget(root, "snapshot_generations.intervals.0");
	cr_assert(json_is_null(jget(iv, "from_snapshot")));
	cr_assert_eq(jint(iv, "to_snapshot"), 0);
	cr_assert_eq(jint(iv, "from_seq"), 0);
	cr_assert_eq(jint(iv, "to_seq"), 3);
	cr_assert_eq(jint(iv, "blocks"), 1);
	cr_assert_eq(jint(iv, "bytes"), 10);
	cr_assert_eq(jint(iv, "sites.0.stack_id"), 1);
	iv = jget(root, "snapshot_generations.intervals.1");
	cr_assert_eq(jint(iv, "from_snapshot"), 0);
	cr_assert_eq(jint(iv, "to_snapshot"), 1);
	cr_assert_eq(jint(iv, "blocks"), 2);
	cr_assert_eq(jint(iv, "bytes"), 70);
	cr_assert_eq(jint(iv, "site_count"), 1);
	cr_assert_eq(jint(iv, "sites.0.stack_id"), 2);
	cr_assert_eq(jint(iv, "sites.0.blocks"), 2);
	iv = jget(root, "snapshot_generations.intervals.2");
	cr_assert_eq(jint(iv, "from_seq"), 6);
	cr_assert_eq(jint(iv, "to_seq"), 10);
	cr_assert_eq(jint(iv, "blocks"), 2);
	cr_assert_eq(jint(iv, "bytes"), 130);
	cr_assert_eq(json_array_size(jget(iv, "sites")), 2);
	cr_assert_eq(jint(iv, "sites.0.stack_id"), 1);
	cr_assert_eq(jint(iv, "sites.0.bytes"), 70);
	cr_assert_eq(jint(iv, "sites.1.stack_id"), 3);
	cr_assert_eq(jint(iv, "sites.1.bytes"), 60);
	json_decref(root);
	free(buf);

	buf = report_out(path, &opt, 't', REPORT_BY_BYTES);
	cr_assert_not_null(strstr(buf, "\nsnapshot generations: blocks still live at snapshot 2 (seq 10), by when they were born\n"
				       "  before snapshot 0 (seq 3): 10 bytes in 1 block, from 1 site\n"),
			   "%s", buf);
	cr_assert_not_null(strstr(buf, "\n  snapshot 1 to 2 (seq 6 to 10): 130 bytes in 2 blocks, from 2 sites\n"),
			   "%s", buf);
	free(buf);
	buf = report_out(path, &opt, 'h', REPORT_BY_BYTES);
	cr_assert_not_null(strstr(buf, "<tr><td>before snapshot 0</td><td class=n>10</td><td class=n>1</td>"), "%s", buf);
	cr_assert_not_null(strstr(buf, "<tr><td>snapshot 1 to 2</td><td class=n>130</td><td class=n>2</td><td class=n>2</td>"),
			   "%s", buf);
	free(buf);
	unlink(path);
	rmdir(dir);
}

Test(generations, one_snapshot_has_no_intervals)
{
	struct report_options opt = { .top = 20, .symbolize = 0 };
	char dir[64], path[128];
	char *buf;
	json_t *root;
	struct tb t;

	tb_init(&t, 7, 1);
	tb_chunk_begin(&t, 7, 1, 0);
	tb_alloc(&t, 1, 1, 0xa0, 10, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 0);
	tb_snapshot(&t, 0, 2, 2, RS_SNAP_EXIT, 7);
	tb_snapshot_end(&t, 0, 0, 0, 0, 0);
	tb_end(&t, 2, RS_END_EXIT, 0, 3, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "one.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);
	buf = report_out(path, &opt, 'j', REPORT_BY_BYTES);
	root = json_loads(buf, 0, NULL);
	cr_assert_not_null(root);
	cr_assert(json_is_null(jget(root, "snapshot_generations")));
	json_decref(root);
	free(buf);
	unlink(path);
	rmdir(dir);
}

/* ---- samples/lifetimes under the shim -------------------------------------- */

static json_t *site_with(json_t *sites, const char *fn)
{
	size_t i, k;
	json_t *s, *f;

	json_array_foreach(sites, i, s) {
		json_array_foreach(json_object_get(s, "frames"), k, f) {
			const char *name = json_string_value(json_object_get(f, "function"));

			if (name && !strcmp(name, fn))
				return s;
		}
	}
	return NULL;
}

/*
 * samples/lifetimes.c with thresholds 99/10/10. Each round frees old
 * medium blocks first (count0 is 0 then, so those frees change nothing),
 * allocates 100 keepers (count0 1..100: the 100th exceeds 99 and collects,
 * count0 back to 0), then 900 short pairs (count0 0 -> 1 -> 0). So
 * collection k falls on round k - 1's last keeper, with exactly that
 * round's 100 keepers in generation 0, and CPython's schedule makes
 * collections 12, 24, 36, 48 (rounds 11, 23, 35, 47) the generation-1 ones:
 *   gen 0: 46 collections; entered 50000; died 45000 (the short ones);
 *          promoted 5000 (every keeper); live 0.
 *   gen 1: 4 collections; entered 46 x 100 = 4600. At round 11's
 *          collection it holds the long blocks of rounds 0-10 (110) and the
 *          medium of rounds 9, 10 (180): 290 promoted, the same in each of
 *          the 4 cycles of 12 rounds (1160). Medium of rounds 0-8 (freed at
 *          the start of rounds 3-11, before that collection) died there:
 *          810 per cycle, 3240, plus rounds 48 and 49 freed at the end: 3420.
 *          Live at the end: the long blocks of rounds 48, 49: 20.
 *   gen 2: entered 4 x (290 + 100) = 1560; died: medium of rounds 9, 10, 11
 *          of each cycle, 12 x 90 = 1080; live: long of rounds 0-47, 480.
 * Lifetimes (allocations): 45000 x 0; medium 2999 - j (j = 10..99 in its
 * round) for rounds 0-47 (4320 in [2048, 4096)), 1999 - j for round 48 and
 * 999 - j for round 49 (90 each in [1024, 2048) and [512, 1024)).
 * Medium median: rank 2250 of 4500 = the 2070th of the 4320 values
 * 2900..2989 (48 of each), 2943, whose bucket starts at 11 << 8 = 2816.
 * Long median: ages at the end 1000 (50 - r) - j - 1; rank 250 is round
 * 25's largest, 24999, bucket 12 << 11 = 24576.
 */
Test(generations, lifetimes_sample_matches_the_worked_figures)
{
	char *dir = e2e_tmpdir(), *trace;
	char *argv[] = { E2E_SAMPLE("lifetimes"), NULL };
	char *rargv[] = { E2E_REFSCOPE, "report", "--json", "--top", "0", "--gen-thresholds",
			  "99,10,10", NULL, NULL };
	struct e2e_proc p, rp;
	json_t *j, *g, *s, *sites;
	json_error_t err;
	static const long long want[3][7] = {
		/* collections entered died promoted live collected live_bytes */
		{ 46, 50000, 45000, 5000, 0, 45000, 0 },
		{ 4, 4600, 3420, 1160, 20, 3420, 4000 },
		{ 0, 1560, 1080, 0, 480, 1080, 96000 },
	};

	e2e_traced(dir, argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
	trace = e2e_only_trace(dir, "lifetimes");
	rargv[7] = trace;
	e2e_exec(rargv, NULL, NULL, &rp);
	cr_assert(WIFEXITED(rp.status) && WEXITSTATUS(rp.status) == 0, "%s", rp.err);
	j = json_loads(rp.out, 0, &err);
	cr_assert_not_null(j, "%s", err.text);
	cr_assert_eq(e2e_int(j, "totals.allocations"), 50000);
	cr_assert_eq(e2e_int(j, "live_at_exit.blocks"), 500);
	cr_assert_eq(e2e_int(j, "live_at_exit.bytes"), 100000);
	for (int k = 0; k < 3; k++) {
		g = json_array_get(e2e_get(j, "generations"), (size_t)k);
		cr_assert_eq(e2e_int(g, "collections"), want[k][0], "gen %d", k);
		cr_assert_eq(e2e_int(g, "entered"), want[k][1], "gen %d: %lld", k, e2e_int(g, "entered"));
		cr_assert_eq(e2e_int(g, "died"), want[k][2], "gen %d: %lld", k, e2e_int(g, "died"));
		cr_assert_eq(e2e_int(g, "promoted"), want[k][3], "gen %d", k);
		cr_assert_eq(e2e_int(g, "live"), want[k][4], "gen %d", k);
		cr_assert_eq(e2e_int(g, "collected"), want[k][5], "gen %d", k);
		cr_assert_eq(e2e_int(g, "live_bytes"), want[k][6], "gen %d", k);
	}
	g = e2e_get(j, "generations");
	cr_assert_float_eq(json_real_value(e2e_get(json_array_get(g, 0), "survival_rate")), 0.1, 1e-9);
	cr_assert_float_eq(json_real_value(e2e_get(json_array_get(g, 1), "survival_rate")),
			   1160.0 / 4600, 1e-6);
	cr_assert_eq(e2e_int(j, "lifetimes.freed"), 49500);
	cr_assert_eq(e2e_int(j, "lifetimes.live"), 500);
	cr_assert_eq(e2e_int(j, "lifetimes.temporary"), 45000);
	cr_assert_eq(e2e_int(j, "lifetimes.temporary_bytes"), 45000 * 16);
	g = e2e_get(j, "lifetimes.allocations");
	cr_assert_eq(json_array_size(g), 4);
	cr_assert_eq(e2e_int(json_array_get(g, 0), "max"), 0);
	cr_assert_eq(e2e_int(json_array_get(g, 0), "blocks"), 45000);
	cr_assert_eq(e2e_int(json_array_get(g, 1), "min"), 512);
	cr_assert_eq(e2e_int(json_array_get(g, 1), "blocks"), 90);
	cr_assert_eq(e2e_int(json_array_get(g, 2), "min"), 1024);
	cr_assert_eq(e2e_int(json_array_get(g, 2), "blocks"), 90);
	cr_assert_eq(e2e_int(json_array_get(g, 3), "min"), 2048);
	cr_assert_eq(e2e_int(json_array_get(g, 3), "blocks"), 4320);

	sites = e2e_get(j, "sites.long_lived");
	cr_assert_eq(e2e_int(j, "sites.count"), 3);
	s = json_array_get(sites, 0);
	cr_assert_eq(site_with(sites, "make_long"), s, "the long-lived site comes first");
	cr_assert_eq(e2e_int(s, "allocations"), 500);
	cr_assert_eq(e2e_int(s, "reached_oldest"), 480);
	cr_assert_float_eq(json_real_value(e2e_get(s, "reached_oldest_share")), 0.96, 1e-9);
	cr_assert_eq(json_integer_value(json_array_get(e2e_get(s, "live_by_generation"), 1)), 20);
	cr_assert_eq(json_integer_value(json_array_get(e2e_get(s, "live_by_generation"), 2)), 480);
	cr_assert_eq(e2e_int(s, "median_lifetime_allocations"), 24576);
	cr_assert_eq(e2e_int(s, "peak_bytes"), 100000);
	s = site_with(sites, "make_medium");
	cr_assert_not_null(s);
	cr_assert_eq(s, json_array_get(sites, 1));
	cr_assert_eq(e2e_int(s, "reached_oldest"), 1080);
	cr_assert_eq(e2e_int(s, "median_lifetime_allocations"), 2816);
	cr_assert_eq(e2e_int(s, "peak_bytes"), 270 * 48);
	cr_assert_eq(e2e_int(s, "temporary"), 0);
	s = site_with(sites, "make_short");
	cr_assert_not_null(s);
	cr_assert_eq(e2e_int(s, "temporary"), 45000);
	cr_assert_eq(e2e_int(s, "median_lifetime_allocations"), 0);
	cr_assert_eq(e2e_int(s, "peak_bytes"), 16);
	json_decref(j);
	e2e_proc_free(&rp);

	/* folded stacks by count: one line per site, root first, ending in the
	 * allocating function */
	{
		char *cargv[] = { E2E_REFSCOPE, "report", "--format", "collapsed", "--by", "count",
				  trace, NULL };
		const char *want_tail[] = { ";main;make_long 500\n", ";main;make_medium 4500\n",
					    ";main;make_short 45000\n" };
		char *line;
		int n = 0;

		e2e_exec(cargv, NULL, NULL, &rp);
		cr_assert(WIFEXITED(rp.status) && WEXITSTATUS(rp.status) == 0, "%s", rp.err);
		for (line = rp.out; *line; n++) {
			char *nl = strchr(line, '\n');

			cr_assert_not_null(nl);
			cr_assert_lt(n, 3, "%s", rp.out);
			cr_assert_eq(strncmp(nl + 1 - strlen(want_tail[n]), want_tail[n], strlen(want_tail[n])), 0,
				     "line %d of %s", n, rp.out);
			line = nl + 1;
		}
		cr_assert_eq(n, 3);
		e2e_proc_free(&rp);
	}
	free(trace);
	e2e_proc_free(&p);
	e2e_rmtree(dir);
	free(dir);
}

/*
 * Leaks and leaked cycles by generation. Thresholds 2/1/1; allocations
 * A0..A6 in order: the 3rd and the 6th collect generation 0 (count1 1 is
 * not > 1), so A0-A5 end in generation 1 and A6 in generation 0.
 * A0 <-> A1 is a cycle (64 bytes) holding A2; A5 points to itself (a cycle
 * of 100 bytes, the first by bytes); A3 and A6 are plain leaks; A4 is
 * reachable from a root.
 */
Test(generations, leaks_and_cycles_by_generation)
{
	struct report_options opt = { .top = 20, .symbolize = 0, .cycles = 1, .snapshot = -1,
				      .generations = 1, .have_thresholds = 1,
				      .gen_thresholds = { 2, 1, 1 } };
	struct report rep;
	struct hf f;
	char path[128];
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	json_t *root;
	uint64_t a[7];

	hf_init(&f);
	for (int i = 0; i < 7; i++) {
		a[i] = HF_HEAP + 0x100 * (uint64_t)i;
		hf_alloc(&f, a[i], i == 5 ? 100 : 32, 9);
	}
	hf_ptr(&f, a[0] + 8, a[1]);
	hf_ptr(&f, a[1] + 8, a[0]);
	hf_ptr(&f, a[1] + 16, a[2]);
	hf_ptr(&f, a[5] + 8, a[5]);
	hf_root(&f, 0, a[4]);
	hf_write(&f, path);
	cr_assert_eq(report_build(path, &opt, &rep), 0);
	cr_assert_eq(rep.have_graph, 1);
	cr_assert_eq(rep.have_leak_gens, 1);
	cr_assert_eq(rep.leak_gens[GRAPH_CYCLE][1], 3);
	cr_assert_eq(rep.leak_gens[GRAPH_CYCLE][0] + rep.leak_gens[GRAPH_CYCLE][2], 0);
	cr_assert_eq(rep.leak_gens[GRAPH_HELD_BY_CYCLE][1], 1);
	cr_assert_eq(rep.leak_gens[GRAPH_PLAIN_LEAK][0], 1);
	cr_assert_eq(rep.leak_gens[GRAPH_PLAIN_LEAK][1], 1);
	cr_assert_eq(rep.graph.ncycles, 2);
	cr_assert_eq(rep.cycle_gens[0][1], 1, "the 100-byte self-loop comes first");
	cr_assert_eq(rep.cycle_gens[1][1], 2);

	out = open_memstream(&buf, &len);
	cr_assert_eq(report_write_json(&rep, out), 0);
	fclose(out);
	root = json_loads(buf, 0, NULL);
	cr_assert_not_null(root, "%s", buf);
	cr_assert_eq(json_integer_value(json_array_get(jget(root, "leak_generations.plain_leak"), 0)), 1);
	cr_assert_eq(json_integer_value(json_array_get(jget(root, "leak_generations.cycle"), 1)), 3);
	cr_assert_eq(json_array_size(jget(root, "leak_generations.cycles")), 2);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(jget(root, "leak_generations.cycles"), 1), 1)), 2);
	json_decref(root);
	free(buf);
	buf = NULL;
	out = open_memstream(&buf, &len);
	cr_assert_eq(report_write_text(&rep, out), 0);
	fclose(out);
	cr_assert_not_null(strstr(buf, "\nunreachable at the snapshot, by generation at the end (0/1/2/freed later):\n"
				       "  in cycles       0/3/0/0\n"
				       "  held by cycles  0/1/0/0\n"
				       "  plain leaks     1/1/0/0\n"
				       "  cycle #1: 0/1/0/0\n"
				       "  cycle #2: 0/2/0/0\n"),
			   "%s", buf);
	free(buf);
	report_release(&rep);
	hf_release(&f);
}
