/*
 * test_snapshot_reader.c - the reader's side of reference counting and heap
 * snapshots: RETAIN/RELEASE events merged by seq with allocations, REFAPI
 * records, SNAPSHOT/SNAP_REGION/SNAP_WORDS (raw and zstd, split over several
 * records)/SNAPSHOT_END, `refscope dump` of them, and damage named by byte
 * offset.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"
#include "refscope_format.h"
#include "tracebuild.h"

static const char *const retain_names[] = { "obj_retain", "obj_retain_sink" };
static const char *const release_names[] = { "obj_release" };

struct built {
	size_t refapi_at, snap_at, region_at[2], words_at[2], end_at;
};

/* Two threads: tid 1 allocates 0x1000 (seq 1) and retains it twice (seq 3,
 * 5); tid 2 releases it (seq 4). One snapshot at seq 6 with a data region
 * (2 words, raw) and an anon region (5 words, zstd, 2 words per record). */
static void build(struct tb *t, struct built *b, int with_end)
{
	static const uint64_t dlocs[] = { 0x600000, 0x600010 };
	static const uint64_t dvals[] = { 0x1000, 0x1008 };
	static const uint64_t alocs[] = { 0x1000, 0x1008, 0x1010, 0x2000, 0x2ff8 };
	static const uint64_t avals[] = { 0x1000, 0x600000, 0x7fff0000, 0, 0x1000 };

	tb_init(t, 42, 1);
	b->refapi_at = tb_refapi(t, 3, "user", 2, retain_names, 1, release_names, RS_REFAPI_HOW_GOT);
	tb_chunk_begin(t, 1, 1, 10);
	tb_alloc(t, 1, 10, 0x1000, 64, 7, RS_KIND_MALLOC);
	tb_retain(t, 3, 30, 0x1000, 8, 3, 0);
	tb_retain(t, 5, 50, 0x1000, 9, 3, 1);
	tb_chunk_end(t, 1);
	tb_chunk_begin(t, 2, 2, 20);
	tb_thread_start(t, 2, 20, 1);
	tb_release_ref(t, 4, 40, 0x1000, 10, 3, 0);
	tb_chunk_end(t, 0);
	b->snap_at = tb_snapshot(t, 0, 6, 60, RS_SNAP_EXIT, 1);
	b->region_at[0] = tb_snap_region(t, 0, 1, 0x600000, 0x601000, RS_REGION_DATA, 0, "/usr/bin/prog");
	b->region_at[1] = tb_snap_region(t, 0, 2, 0x1000, 0x3000, RS_REGION_ANON, 0, "[heap]");
	b->words_at[0] = tb_snap_words(t, 0, 1, 0x600000, 0, 2, dlocs, dvals, 0);
	b->words_at[1] = tb_snap_words(t, 0, 2, 0x1000, 1, 5, alocs, avals, 2);
	if (with_end)
		b->end_at = tb_snapshot_end(t, 0, 2, 7, 0x2000, 12345);
	tb_end(t, 6, RS_END_EXIT, 0, 70, 0);
}

static struct reader *open_tb(const struct tb *t, size_t len, char *path)
{
	char dir[64];
	struct reader *r;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, 128, dir, "s.trace");
	cr_assert_eq(tb_write_prefix(t, len, path), 0);
	cr_assert_eq(reader_open(path, &r), 0);
	return r;
}

Test(snapshot_reader, decodes_refcount_events_and_snapshot)
{
	struct tb t;
	struct built b;
	char path[128];
	struct reader *r;
	struct reader_event ev[8];
	size_t nev = 0, n;
	const struct reader_refapi *a;
	const struct reader_snapshot *s;
	struct reader_word *w;

	build(&t, &b, 1);
	r = open_tb(&t, t.len, path);
	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	while (nev < 8 && reader_next(r, &ev[nev]) == 1)
		nev++;
	cr_assert_null(reader_error(r), "%s", reader_error(r)->message);
	cr_assert_eq(nev, 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(ev[i].seq, i + 1);
	cr_assert_eq(ev[2].type, RS_EV_RETAIN);
	cr_assert_eq(ev[2].addr, 0x1000);
	cr_assert_eq(ev[2].stack, 8);
	cr_assert_eq(ev[2].api, 3);
	cr_assert_eq(ev[2].fn, 0);
	cr_assert_eq(ev[2].tid, 1);
	cr_assert_eq(ev[3].type, RS_EV_RELEASE);
	cr_assert_eq(ev[3].addr, 0x1000);
	cr_assert_eq(ev[3].stack, 10);
	cr_assert_eq(ev[3].tid, 2);
	cr_assert_eq(ev[3].time, 40);
	cr_assert_eq(ev[4].type, RS_EV_RETAIN);
	cr_assert_eq(ev[4].fn, 1);
	cr_assert_eq(ev[4].stack, 9);

	a = reader_refapi(r, 3);
	cr_assert_not_null(a);
	cr_assert_str_eq(a->name, "user");
	cr_assert_eq(a->nretain, 2);
	cr_assert_str_eq(a->retain[1], "obj_retain_sink");
	cr_assert_eq(a->nrelease, 1);
	cr_assert_str_eq(a->release[0], "obj_release");
	cr_assert_eq(a->how, RS_REFAPI_HOW_GOT);
	cr_assert_eq(a->offset, b.refapi_at);
	cr_assert_null(reader_refapi(r, 4));

	cr_assert_eq(reader_nsnapshots(r), 1);
	s = reader_snapshot(r, 0);
	cr_assert_eq(s->offset, b.snap_at);
	cr_assert_eq(s->id, 0);
	cr_assert_eq(s->seq, 6);
	cr_assert_eq(s->time, 60);
	cr_assert_eq(s->trigger, RS_SNAP_EXIT);
	cr_assert_eq(s->complete, 1);
	cr_assert_eq(s->end_words, 7);
	cr_assert_eq(s->bytes_scanned, 0x2000);
	cr_assert_eq(s->duration_ns, 12345);
	cr_assert_eq(s->nregions, 2);
	cr_assert_eq(s->regions[1].start, 0x1000);
	cr_assert_eq(s->regions[1].end, 0x3000);
	cr_assert_eq(s->regions[1].kind, RS_REGION_ANON);
	cr_assert_str_eq(s->regions[1].name, "[heap]");
	cr_assert_str_eq(s->regions[0].name, "/usr/bin/prog");
	cr_assert_eq(s->nwords_recs, 4); /* 1 raw + 3 zstd (2 + 2 + 1 words) */
	cr_assert_eq(s->nwords, 7);
	cr_assert_eq(s->words[0].offset, b.words_at[0]);
	cr_assert_eq(s->words[1].offset, b.words_at[1]);

	cr_assert_eq(reader_snapshot_words(r, 0, &w, &n), 0);
	cr_assert_eq(n, 7);
	cr_assert_eq(w[0].loc, 0x600000);
	cr_assert_eq(w[0].value, 0x1000);
	cr_assert_eq(w[0].region, 0);
	cr_assert_eq(w[1].value, 0x1008);
	cr_assert_eq(w[2].loc, 0x1000);
	cr_assert_eq(w[2].value, 0x1000);
	cr_assert_eq(w[2].region, 1);
	cr_assert_eq(w[4].value, 0x7fff0000);
	cr_assert_eq(w[5].loc, 0x2000);
	cr_assert_eq(w[5].value, 0);
	cr_assert_eq(w[6].loc, 0x2ff8);
	cr_assert_eq(w[6].value, 0x1000);
	free(w);
	cr_assert_null(reader_error(r));
	reader_close(r);
	tb_release(&t);
}

Test(snapshot_reader, snapshot_without_end_is_incomplete)
{
	struct tb t;
	struct built b;
	char path[128];
	struct reader *r;

	build(&t, &b, 0);
	r = open_tb(&t, t.len, path);
	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	cr_assert_eq(reader_nsnapshots(r), 1);
	cr_assert_eq(reader_snapshot(r, 0)->complete, 0);
	reader_close(r);
	tb_release(&t);
}

static void expect_scan_error(struct tb *t, const char *msg, uint64_t offset)
{
	char path[128];
	struct reader *r = open_tb(t, t->len, path);
	const struct reader_error *e;

	cr_assert_eq(reader_scan(r, NULL, NULL), -EINVAL);
	e = reader_error(r);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->message, msg);
	cr_assert_eq(e->offset, offset);
	reader_close(r);
}

Test(snapshot_reader, rejects_records_naming_unknown_snapshot_or_region)
{
	struct tb t;
	uint64_t loc = 0x10, val = 0x20;
	size_t at;
	char msg[256];

	tb_init(&t, 1, 0);
	at = tb_snap_region(&t, 5, 1, 0, 0x100, RS_REGION_DATA, 0, "");
	snprintf(msg, sizeof(msg), "snap_region at byte %zu: snapshot 5 is not defined before it", at);
	expect_scan_error(&t, msg, at);
	tb_release(&t);

	tb_init(&t, 1, 0);
	tb_snapshot(&t, 5, 1, 0, RS_SNAP_REQUEST, 1);
	tb_snap_region(&t, 5, 1, 0, 0x100, RS_REGION_DATA, 0, "");
	at = tb_snap_words(&t, 5, 2, 0, 0, 1, &loc, &val, 0);
	snprintf(msg, sizeof(msg),
		 "snap_words at byte %zu: region 2 of snapshot 5 is not defined before it", at);
	expect_scan_error(&t, msg, at);
	tb_release(&t);

	tb_init(&t, 1, 0);
	tb_snapshot(&t, 5, 1, 0, RS_SNAP_REQUEST, 1);
	at = tb_snapshot(&t, 5, 2, 0, RS_SNAP_REQUEST, 1);
	snprintf(msg, sizeof(msg), "snapshot at byte %zu: snapshot 5 defined twice", at);
	expect_scan_error(&t, msg, at);
	tb_release(&t);

	tb_init(&t, 1, 0);
	tb_snapshot(&t, 5, 1, 0, RS_SNAP_REQUEST, 1);
	at = tb_snap_region(&t, 5, 1, 0x200, 0x100, RS_REGION_DATA, 0, "");
	snprintf(msg, sizeof(msg),
		 "snap_region at byte %zu: region 1 ends (0x100) before it starts (0x200)", at);
	expect_scan_error(&t, msg, at);
	tb_release(&t);

	tb_init(&t, 1, 0);
	tb_snapshot(&t, 5, 1, 0, RS_SNAP_REQUEST, 1);
	tb_snapshot_end(&t, 5, 0, 0, 0, 0);
	at = tb_snap_region(&t, 5, 1, 0, 0x100, RS_REGION_DATA, 0, "");
	snprintf(msg, sizeof(msg), "snap_region at byte %zu: snapshot 5 is already ended", at);
	expect_scan_error(&t, msg, at);
	tb_release(&t);
}

static void expect_words_error(struct tb *t, const char *msg, uint64_t offset, size_t words_before)
{
	char path[128];
	struct reader *r = open_tb(t, t->len, path);
	struct reader_word *w;
	size_t n;

	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	cr_assert_eq(reader_snapshot_words(r, 0, &w, &n), -EINVAL);
	cr_assert_eq(n, words_before);
	free(w);
	cr_assert_not_null(reader_error(r));
	cr_assert_str_eq(reader_error(r)->message, msg);
	cr_assert_eq(reader_error(r)->offset, offset);
	reader_close(r);
}

Test(snapshot_reader, rejects_words_outside_their_region_or_not_increasing)
{
	struct tb t;
	uint64_t locs[3] = { 0x1000, 0x1008, 0x2000 }, vals[3] = { 1, 2, 3 };
	uint64_t back[2] = { 0x1010, 0x1008 };
	size_t at;
	char msg[256];

	tb_init(&t, 1, 0);
	tb_snapshot(&t, 0, 1, 0, RS_SNAP_EXIT, 1);
	tb_snap_region(&t, 0, 9, 0x1000, 0x2000, RS_REGION_DATA, 0, "");
	at = tb_snap_words(&t, 0, 9, 0x1000, 0, 3, locs, vals, 0);
	snprintf(msg, sizeof(msg),
		 "snap_words at byte %zu, body offset 4: location 0x2000 outside region 9 [0x1000, 0x2000)", at);
	expect_words_error(&t, msg, at, 2);
	tb_release(&t);

	/* the second record restarts its deltas but must continue upwards */
	tb_init(&t, 1, 0);
	tb_snapshot(&t, 0, 1, 0, RS_SNAP_EXIT, 1);
	tb_snap_region(&t, 0, 9, 0x1000, 0x2000, RS_REGION_DATA, 0, "");
	tb_snap_words(&t, 0, 9, 0x1000, 1, 1, &back[0], vals, 0);
	at = tb_snap_words(&t, 0, 9, 0x1000, 1, 1, &back[1], vals, 0);
	snprintf(msg, sizeof(msg),
		 "snap_words at byte %zu, body offset 0: location 0x1008 does not increase in region 9 [0x1000, 0x2000)",
		 at);
	expect_words_error(&t, msg, at, 1);
	tb_release(&t);
}

Test(snapshot_reader, reports_zstd_damage_in_words_with_offset)
{
	struct tb t;
	struct built b;
	char msg[256];

	build(&t, &b, 1);
	/* the zstd frame magic of the first anon words record: its payload
	 * is snapshot, region, encoding, raw_size, nwords (5 bytes), after
	 * the type byte and a one-byte size */
	t.buf[b.words_at[1] + 2 + 5] ^= 1;
	snprintf(msg, sizeof(msg), "snap_words at byte %zu: zstd error: Unknown frame descriptor",
		 b.words_at[1]);
	expect_words_error(&t, msg, b.words_at[1], 2);
	tb_release(&t);
}

Test(snapshot_reader, truncated_words_record_stops_the_scan_there)
{
	struct tb t;
	struct built b;
	char path[128];
	struct reader *r;

	build(&t, &b, 1);
	r = open_tb(&t, b.words_at[1] + 4, path);
	cr_assert_eq(reader_scan(r, NULL, NULL), -EINVAL);
	cr_assert_not_null(reader_error(r));
	cr_assert_eq(reader_error(r)->offset, b.words_at[1]);
	cr_assert_eq(reader_nsnapshots(r), 1);
	cr_assert_eq(reader_snapshot(r, 0)->nwords_recs, 1);
	reader_close(r);
	tb_release(&t);
}

Test(snapshot_reader, dump_prints_the_new_records)
{
	struct tb t;
	struct built b;
	char path[128], cmd[512], line[512], want[128];
	FILE *p;
	int seen_refapi = 0, seen_retain = 0, seen_release = 0, seen_snap = 0, seen_region = 0,
	    seen_words = 0, seen_word = 0, seen_end = 0;

	build(&t, &b, 1);
	reader_close(open_tb(&t, t.len, path));
	snprintf(cmd, sizeof(cmd), "%s/refscope dump %s", RS_BUILD_DIR, path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	snprintf(want, sizeof(want), "@%zu snapshot ", b.snap_at);
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, "refapi len") && strstr(line, "id 3 name \"user\" retain [\"obj_retain\" \"obj_retain_sink\"] release [\"obj_release\"] how 0x2"))
			seen_refapi = 1;
		if (strstr(line, "retain len") && strstr(line, "seq 3 time 30 addr 0x1000 stack 8 api 3 fn 0"))
			seen_retain = 1;
		if (strstr(line, "release len") && strstr(line, "seq 4 time 40 addr 0x1000 stack 10 api 3 fn 0"))
			seen_release = 1;
		if (!strncmp(line, want, strlen(want)) && strstr(line, "id 0 seq 6 time 60 trigger exit tid 1"))
			seen_snap = 1;
		if (strstr(line, "snap_region") && strstr(line, "region 2 0x1000-0x3000 kind anon tid 0 name \"[heap]\""))
			seen_region = 1;
		if (strstr(line, "snap_words") && strstr(line, "region 2 encoding zstd"))
			seen_words++;
		if (!strcmp(line, "  0x2ff8: 0x1000\n"))
			seen_word = 1;
		if (strstr(line, "snapshot_end") && strstr(line, "regions 2 words 7 bytes_scanned 8192 duration_ns 12345"))
			seen_end = 1;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert(seen_refapi && seen_retain && seen_release && seen_snap && seen_region && seen_word &&
		  seen_end);
	cr_assert_eq(seen_words, 3);
	tb_release(&t);
}
