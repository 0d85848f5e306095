/*
 * test_reader.c - the trace decoder: round trip, merge order, and damage of
 * every kind (truncation at every byte, bit flips, impossible lengths, bad
 * magic and version, zstd and varint errors) with exact messages and offsets.
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

#define MAXEV 4096

struct decoded {
	size_t n;
	struct reader_event ev[MAXEV];
	int has_error;
	struct reader_error err;
	size_t peak_active;
};

/* Opens, scans and merges path into d; returns the reader (closed by the
 * caller) so metadata can be checked. */
static struct reader *decode_file(const char *path, struct decoded *d)
{
	struct reader *r;
	struct reader_event ev;
	const struct reader_error *e;

	memset(d, 0, sizeof(*d));
	cr_assert_eq(reader_open(path, &r), 0, "cannot open %s", path);
	if (!reader_error(r))
		reader_scan(r, NULL, NULL);
	while (reader_next(r, &ev) == 1) {
		cr_assert_lt(d->n, MAXEV);
		d->ev[d->n++] = ev;
	}
	e = reader_error(r);
	if (e) {
		d->has_error = 1;
		d->err = *e;
	}
	d->peak_active = reader_peak_active(r);
	return r;
}

static void decode_tb(const struct tb *t, size_t len, struct decoded *d)
{
	char dir[64], path[128];

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "t.trace");
	cr_assert_eq(tb_write_prefix(t, len, path), 0);
	reader_close(decode_file(path, d));
	unlink(path);
	rmdir(dir);
}

Test(reader, decodes_round_trip)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));
	char dir[64], path[128];
	struct reader *r;
	const struct reader_process *pr;
	const struct reader_module *m;
	const struct reader_end *end;
	const uint64_t *ips;
	size_t n;
	static const uint8_t types[10] = { RS_EV_THREAD_START, RS_EV_ALLOC, RS_EV_THREAD_START,
					   RS_EV_ALLOC, RS_EV_ALLOC, RS_EV_FREE,
					   RS_EV_FREE, RS_EV_THREAD_EXIT, RS_EV_ALLOC, RS_EV_FREE };
	static const uint64_t tids[10] = { 100, 100, 101, 101, 100, 101, 100, 101, 100, 100 };
	static const uint64_t times[10] = { 100, 110, 130, 140, 150, 160, 170, 180, 190, 200 };

	tb_build_sample(&t, &s);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "t.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	r = decode_file(path, d);

	cr_assert_eq(d->has_error, 0, "unexpected error: %s", d->err.message);
	cr_assert_eq(d->n, 10);
	for (size_t i = 0; i < 10; i++) {
		cr_assert_eq(d->ev[i].seq, i + 1, "event %zu has seq %lu", i, (unsigned long)d->ev[i].seq);
		cr_assert_eq(d->ev[i].type, types[i], "event %zu type %u", i, d->ev[i].type);
		cr_assert_eq(d->ev[i].tid, tids[i]);
		cr_assert_eq(d->ev[i].time, times[i]);
	}
	cr_assert_eq(d->ev[1].addr, 0x1000);
	cr_assert_eq(d->ev[1].size, 16);
	cr_assert_eq(d->ev[1].stack, 1);
	cr_assert_eq(d->ev[2].creator_tid, 100);
	cr_assert_eq(d->ev[4].kind, RS_KIND_CALLOC);
	cr_assert_eq(d->ev[5].addr, 0x2000);
	cr_assert_eq(d->ev[6].addr, 0x1000);
	cr_assert_eq(d->ev[9].addr, 0);

	cr_assert_eq(reader_header(r)->pid, 100);
	cr_assert_eq(reader_header(r)->ppid, 1);
	pr = reader_process(r);
	cr_assert_not_null(pr);
	cr_assert_str_eq(pr->exe, "/usr/bin/prog");
	cr_assert_eq(pr->argc, 2);
	cr_assert_str_eq(pr->argv[1], "--flag");
	cr_assert_eq(pr->depth_limit, 64);
	m = reader_modules(r, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(m[0].base, 0x400000);
	cr_assert_str_eq(m[0].path, "");
	cr_assert_eq(m[0].build_id_len, 4);
	cr_assert_eq(m[0].build_id[3], 0xef);
	cr_assert_eq(m[0].nseg, 1);
	cr_assert_eq(m[0].segs[0].memsz, 0x5000);
	end = reader_end(r);
	cr_assert_not_null(end);
	cr_assert_eq(end->next_seq, 11);
	cr_assert_eq(end->end_time, 210);
	cr_assert_eq(reader_nchunks(r), 3);
	cr_assert_eq(reader_nstacks(r), 2);
	ips = reader_stack(r, 2, &n);
	cr_assert_not_null(ips);
	cr_assert_eq(n, 3);
	cr_assert_eq(ips[2], 0x7f0000001234);
	cr_assert_null(reader_stack(r, 3, &n));
	reader_close(r);
	unlink(path);
	rmdir(dir);
	tb_release(&t);
	free(d);
}

/* Three threads whose events interleave; each thread's chunks are written
 * at once (worst file order for a merge), zstd and raw mixed. */
Test(reader, merges_three_interleaved_thread_chunks)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint64_t owner[301];
	unsigned x = 12345;

	for (int i = 1; i <= 300; i++) {
		x = x * 1103515245u + 12345u;
		owner[i] = 1 + (x >> 16) % 3;
	}
	tb_init(&t, 1, 0);
	for (uint64_t tid = 1; tid <= 3; tid++) {
		int in_chunk = 0, k = 0;

		for (uint64_t seq = 1; seq <= 300; seq++) {
			if (owner[seq] != tid)
				continue;
			if (!in_chunk) {
				tb_chunk_begin(&t, tid, seq, seq * 10);
				in_chunk = 1;
			}
			tb_alloc(&t, seq, seq * 10, 0x10000 * tid + seq * 16, seq, 0, RS_KIND_MALLOC);
			if (++k % 10 == 0) {
				tb_chunk_end(&t, (int)(k / 10 % 2));
				in_chunk = 0;
			}
		}
		if (in_chunk)
			tb_chunk_end(&t, 1);
	}
	tb_end(&t, 301, RS_END_EXIT, 0, 4000, 0);
	decode_tb(&t, t.len, d);
	cr_assert_eq(d->has_error, 0, "%s", d->err.message);
	cr_assert_eq(d->n, 300);
	for (size_t i = 0; i < 300; i++) {
		cr_assert_eq(d->ev[i].seq, i + 1);
		cr_assert_eq(d->ev[i].tid, owner[i + 1]);
		cr_assert_eq(d->ev[i].size, i + 1);
		cr_assert_eq(d->ev[i].addr, 0x10000 * owner[i + 1] + (i + 1) * 16);
		cr_assert_eq(d->ev[i].time, (i + 1) * 10);
	}
	/* one chunk per thread at a time, never all of them */
	cr_assert_leq(d->peak_active, 3, "peak active %zu", d->peak_active);
	tb_release(&t);
	free(d);
}

Test(reader, keeps_one_chunk_active_for_one_thread)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));

	tb_init(&t, 1, 0);
	for (uint64_t c = 0; c < 50; c++) {
		tb_chunk_begin(&t, 7, c * 10 + 1, 0);
		for (uint64_t k = 1; k <= 10; k++)
			tb_alloc(&t, c * 10 + k, 0, (c * 10 + k) * 32, 1, 0, RS_KIND_MALLOC);
		tb_chunk_end(&t, (int)(c % 2));
	}
	decode_tb(&t, t.len, d);
	cr_assert_eq(d->has_error, 0);
	cr_assert_eq(d->n, 500);
	cr_assert_eq(d->peak_active, 1);
	tb_release(&t);
	free(d);
}

/* ---- truncation ---------------------------------------------------------- */

Test(reader, decodes_truncated_chunk_up_to_cut)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));
	size_t cut, k;
	char msg[256];
	uint64_t size = 0;

	tb_build_sample(&t, &s);
	cut = s.chunk_at[1] + 20; /* inside the second chunk's body */
	decode_tb(&t, cut, d);
	k = rs_get_uvarint(t.buf + s.chunk_at[1] + 1, t.buf + t.len, &size);
	snprintf(msg, sizeof(msg), "truncated record at byte %zu: chunk needs %lu bytes, %lu left",
		 s.chunk_at[1], (unsigned long)size, (unsigned long)(cut - s.chunk_at[1] - 1 - k));
	cr_assert_eq(d->has_error, 1);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, s.chunk_at[1]);
	/* the first chunk is whole: its four events come out */
	cr_assert_eq(d->n, 4);
	cr_assert_eq(d->ev[3].seq, 7);
	tb_release(&t);
	free(d);
}

Test(reader, survives_a_cut_at_every_byte)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));

	tb_build_sample(&t, &s);
	for (size_t cut = 0; cut < t.len; cut++) {
		size_t start = 0, boundary = cut == RS_FILE_HEADER_SIZE;
		uint64_t expect = 0;

		for (size_t k = 0; k < s.nrec; k++) {
			if (s.rec[k] == cut)
				boundary = 1;
			if (s.rec[k] <= cut)
				start = s.rec[k];
		}
		if (cut < RS_FILE_HEADER_SIZE)
			start = 0;
		for (int c = 0; c < 3; c++)
			if (s.chunk_end[c] <= cut)
				expect += s.chunk_events[c];
		decode_tb(&t, cut, d);
		cr_assert_eq(d->n, expect, "cut %zu: %zu events, expected %lu", cut, d->n,
			     (unsigned long)expect);
		if (boundary) {
			cr_assert_eq(d->has_error, 0, "cut %zu at a record boundary: %s", cut, d->err.message);
			continue;
		}
		cr_assert_eq(d->has_error, 1, "cut %zu: no error", cut);
		cr_assert(d->err.offset == start || d->err.offset == cut,
			  "cut %zu: error at %lu (%s), record starts at %zu", cut,
			  (unsigned long)d->err.offset, d->err.message, start);
		cr_assert(strncmp(d->err.message, "truncated ", 10) == 0, "cut %zu: %s", cut,
			  d->err.message);
		/* the END is gone with the cut: past the header, it is a kill's cut */
		cr_assert_eq(d->err.cut, cut >= RS_FILE_HEADER_SIZE, "cut %zu: %s", cut, d->err.message);
	}
	tb_release(&t);
	free(d);
}

Test(reader, survives_every_bit_flip)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));

	tb_build_sample(&t, &s);
	for (size_t i = 0; i < t.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			t.buf[i] ^= (uint8_t)(1u << bit);
			decode_tb(&t, t.len, d);
			t.buf[i] ^= (uint8_t)(1u << bit);
			cr_assert_leq(d->n, 10 + 1, "flip %zu.%d", i, bit);
			if (d->has_error)
				cr_assert_lt(d->err.offset, t.len, "flip %zu.%d: %s", i, bit, d->err.message);
		}
	}
	tb_release(&t);
	free(d);
}

/* ---- exact messages ------------------------------------------------------ */

Test(reader, rejects_wrong_magic)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));

	tb_build_sample(&t, &s);
	t.buf[0] = 'X';
	decode_tb(&t, t.len, d);
	cr_assert_eq(d->n, 0);
	cr_assert_str_eq(d->err.message, "not a refscope trace: bad magic at byte 0");
	cr_assert_eq(d->err.offset, 0);
	tb_release(&t);
	free(d);
}

Test(reader, rejects_wrong_version)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));

	tb_build_sample(&t, &s);
	rs_put_le16(t.buf + 8, RS_FORMAT_VERSION + 1);
	decode_tb(&t, t.len, d);
	cr_assert_eq(d->n, 0);
	cr_assert_str_eq(d->err.message, "unsupported format version 4 at byte 8 (this reader knows 1 to 3)");
	cr_assert_eq(d->err.offset, 8);
	tb_release(&t);
	free(d);
}

Test(reader, rejects_huge_length_field)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint8_t rec[16];
	size_t n, at;
	char msg[256];

	tb_init(&t, 1, 0);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 0);
	at = t.len;
	rec[0] = RS_REC_MODULE;
	n = 1 + rs_put_uvarint(rec + 1, 1ull << 40);
	memcpy(rec + n, "abc", 3);
	tb_bytes(&t, rec, n + 3);
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg), "truncated record at byte %zu: module needs 1099511627776 bytes, 3 left", at);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, at);
	cr_assert_eq(d->n, 1);
	tb_release(&t);
	free(d);
}

Test(reader, rejects_raw_size_over_limit)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint8_t p[64];
	size_t n = 0, at;

	tb_init(&t, 1, 0);
	p[n++] = RS_CHUNK_ZSTD;
	n += rs_put_uvarint(p + n, 1);		       /* tid */
	n += rs_put_uvarint(p + n, 1);		       /* first_seq */
	n += rs_put_uvarint(p + n, 0);		       /* first_time */
	n += rs_put_uvarint(p + n, RS_CHUNK_MAX_RAW + 1); /* raw_size */
	n += rs_put_uvarint(p + n, 1);		       /* nevents */
	memset(p + n, 0, 8);
	at = tb_raw_record(&t, RS_REC_CHUNK, p, n + 8);
	decode_tb(&t, t.len, d);
	cr_assert_str_eq(d->err.message, "chunk at byte 64: raw size 4194305 exceeds the limit 4194304");
	cr_assert_eq(d->err.offset, at);
	tb_release(&t);
	free(d);
}

Test(reader, reports_zstd_error_with_chunk_offset)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));
	char msg[256];

	tb_build_sample(&t, &s);
	/* the zstd magic is the first 4 bytes of the third chunk's body:
	 * find it and break it */
	for (size_t i = s.chunk_at[2]; i + 4 <= s.chunk_end[2]; i++) {
		if (rs_get_le32(t.buf + i) == 0xFD2FB528u) {
			t.buf[i] ^= 0x01;
			break;
		}
	}
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg), "chunk at byte %zu: zstd error: Unknown frame descriptor", s.chunk_at[2]);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, s.chunk_at[2]);
	cr_assert_eq(d->n, 8); /* the first two chunks */
	tb_release(&t);
	free(d);
}

Test(reader, reports_bad_varint_inside_chunk_body)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	static const uint8_t bad[] = { 0xff, 0xff, 0xff };
	size_t at, inner;
	char msg[256];

	tb_init(&t, 1, 0);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	tb_alloc(&t, 2, 0, 0x2000, 10, 0, RS_KIND_MALLOC);
	inner = tb_raw_record(&t, RS_EV_FREE, bad, sizeof(bad));
	t.nevents++;
	at = tb_chunk_end(&t, 0);
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg),
		 "chunk at byte %zu, body offset %zu: free event cut or bad varint at field offset 0", at,
		 inner);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, at);
	cr_assert_eq(d->n, 2, "the events before the damage come out");
	tb_release(&t);
	free(d);
}

Test(reader, rejects_event_count_mismatch)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	size_t at;
	char msg[256];

	tb_init(&t, 1, 0);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	t.nevents = 2;
	at = tb_chunk_end(&t, 1);
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg), "chunk at byte %zu: body has 1 events, header says 2", at);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->n, 1);
	tb_release(&t);
	free(d);
}

Test(reader, rejects_zero_filled_tail)
{
	struct tb t;
	struct tb_sample s;
	struct decoded *d = malloc(sizeof(*d));
	char msg[256];
	size_t at;

	tb_build_sample(&t, &s);
	at = t.len;
	for (int i = 0; i < 32; i++)
		tb_raw_record(&t, 0, NULL, 0); /* type 0, size 0: two zero bytes */
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg), "invalid record type 0 at byte %zu (zero-filled data?)", at);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->n, 10);
	tb_release(&t);
	free(d);
}

Test(reader, skips_unknown_records_and_trailing_bytes)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	char dir[64], path[128];
	struct reader *r;
	uint8_t p[64];
	size_t n = 0;

	tb_init(&t, 1, 0);
	tb_raw_record(&t, 99, "whatever", 8);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_raw_record(&t, 40, "refcount", 8); /* reserved type inside a chunk */
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 1);
	/* an END with two fields nobody knows yet */
	n += rs_put_uvarint(p + n, 2);
	n += rs_put_uvarint(p + n, RS_END_EXIT_CALL);
	n += rs_put_svarint(p + n, 3);
	n += rs_put_uvarint(p + n, 99);
	n += rs_put_uvarint(p + n, 0);
	n += rs_put_uvarint(p + n, 12345);
	n += rs_put_uvarint(p + n, 67890);
	tb_raw_record(&t, RS_REC_END, p, n);

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "t.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	r = decode_file(path, d);
	cr_assert_eq(d->has_error, 0, "%s", d->err.message);
	cr_assert_eq(d->n, 1);
	cr_assert_not_null(reader_end(r));
	cr_assert_eq(reader_end(r)->how, RS_END_EXIT_CALL);
	cr_assert_eq(reader_end(r)->status, 3);
	cr_assert_eq(reader_end(r)->end_time, 99);
	reader_close(r);
	unlink(path);
	rmdir(dir);
	tb_release(&t);
	free(d);
}

Test(reader, last_end_record_wins)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	char dir[64], path[128];
	struct reader *r;

	tb_init(&t, 1, 0);
	tb_end(&t, 1, RS_END_EXEC, -1, 10, 0);
	tb_end(&t, 5, RS_END_SIGNAL, 11, 20, 4);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "t.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	r = decode_file(path, d);
	cr_assert_eq(reader_end(r)->how, RS_END_SIGNAL);
	cr_assert_eq(reader_end(r)->status, 11);
	cr_assert_eq(reader_end(r)->events_lost, 4);
	reader_close(r);
	unlink(path);
	rmdir(dir);
	tb_release(&t);
	free(d);
}

Test(reader, reports_missing_file)
{
	struct reader *r = NULL;

	cr_assert_eq(reader_open("/nonexistent/refscope.trace", &r), -ENOENT);
	cr_assert_null(r);
}

/* The fixtures in tests/fixtures (see the README there). */
static void check_fixture(const char *name, const char *message, uint64_t offset, size_t events)
{
	char path[512];
	struct decoded *d = malloc(sizeof(*d));

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", RS_SOURCE_DIR, name);
	reader_close(decode_file(path, d));
	if (message) {
		cr_assert_eq(d->has_error, 1, "%s: no error", name);
		cr_assert_str_eq(d->err.message, message, "%s", name);
		cr_assert_eq(d->err.offset, offset, "%s", name);
	} else {
		cr_assert_eq(d->has_error, 0, "%s: %s", name, d->err.message);
	}
	cr_assert_eq(d->n, events, "%s: %zu events", name, d->n);
	free(d);
}

Test(reader, decodes_fixtures)
{
	check_fixture("good.trace", NULL, 0, 10);
	check_fixture("truncated_chunk.trace", "truncated record at byte 178: chunk needs 52 bytes, 18 left",
		      178, 4);
	check_fixture("bitflip_zstd.trace", "chunk at byte 232: zstd error: Unknown frame descriptor", 232, 8);
	check_fixture("huge_length.trace",
		      "truncated record at byte 99: module needs 1099511627776 bytes, 3 left", 99, 0);
	check_fixture("bad_magic.trace", "not a refscope trace: bad magic at byte 0", 0, 0);
	check_fixture("version4.trace", "unsupported format version 4 at byte 8 (this reader knows 1 to 3)", 8, 0);
}

/* An unknown record is skipped by its size, however large: only known
 * metadata is read into memory (and bounded). */
Test(reader, skips_large_unknown_record)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	size_t big = 17u << 20;
	uint8_t *junk = calloc(1, big);

	tb_init(&t, 1, 0);
	tb_raw_record(&t, 12, junk, big);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 1);
	decode_tb(&t, t.len, d);
	cr_assert_eq(d->has_error, 0, "%s", d->err.message);
	cr_assert_eq(d->n, 1);
	free(junk);
	tb_release(&t);
	free(d);
}

/* A known metadata record over the limit is refused before it is read. */
Test(reader, rejects_oversized_metadata_record)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	size_t big = (16u << 20) + 1;
	uint8_t *junk = calloc(1, big);
	char msg[256];
	size_t at;

	tb_init(&t, 1, 0);
	at = tb_raw_record(&t, RS_REC_MODULE, junk, big);
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg), "module record at byte %zu: payload of %zu bytes exceeds the limit %u", at,
		 big, 16u << 20);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, at);
	free(junk);
	tb_release(&t);
	free(d);
}

/*
 * Event types the reader does not know (16..63, except REFAPI and the
 * snapshot range 40..47) are skipped by their framed size, yet their common
 * head (seq_delta, time_delta) is applied and they count in the chunk's
 * nevents: the known events after them keep their exact seq and time.
 */
Test(reader, skips_unknown_events_keeping_seq_and_time)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint8_t big[300], small[3] = { 7, 8, 9 };

	memset(big, 0x55, sizeof(big));
	for (int zstd = 0; zstd < 2; zstd++) {
		tb_init(&t, 1, 0);
		tb_chunk_begin(&t, 1, 1, 100);
		tb_alloc(&t, 1, 100, 0x1000, 10, 0, RS_KIND_MALLOC);
		tb_event_unknown(&t, 21, 2, 150, small, sizeof(small));
		tb_alloc(&t, 3, 160, 0x2000, 20, 0, RS_KIND_MALLOC);
		tb_event_unknown(&t, 50, 5, 400, big, sizeof(big));
		tb_event_unknown(&t, 63, 6, 410, NULL, 0);
		tb_free(&t, 7, 500, 0x2000, 0, RS_KIND_FREE);
		tb_chunk_end(&t, zstd);
		tb_chunk_begin(&t, 2, 4, 300);
		tb_event_unknown(&t, 31, 4, 300, small, 1);
		tb_alloc(&t, 8, 600, 0x3000, 30, 0, RS_KIND_MALLOC);
		tb_chunk_end(&t, zstd);
		decode_tb(&t, t.len, d);
		cr_assert_eq(d->has_error, 0, "zstd %d: %s", zstd, d->err.message);
		cr_assert_eq(d->n, 4, "zstd %d: %zu events", zstd, d->n);
		cr_assert_eq(d->ev[0].seq, 1);
		cr_assert_eq(d->ev[1].seq, 3);
		cr_assert_eq(d->ev[1].time, 160);
		cr_assert_eq(d->ev[1].addr, 0x2000);
		cr_assert_eq(d->ev[2].seq, 7);
		cr_assert_eq(d->ev[2].time, 500);
		cr_assert_eq(d->ev[2].type, RS_EV_FREE);
		cr_assert_eq(d->ev[2].addr, 0x2000);
		cr_assert_eq(d->ev[3].seq, 8);
		cr_assert_eq(d->ev[3].time, 600);
		cr_assert_eq(d->ev[3].tid, 2);
		tb_release(&t);
	}
	free(d);
}

/* An unknown event too short for its common head is damage, with its place. */
Test(reader, rejects_unknown_event_without_its_head)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint8_t one = 1;
	size_t chunk, at;
	char msg[256];

	tb_init(&t, 1, 0);
	tb_chunk_begin(&t, 1, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
	at = tb_raw_record(&t, 22, &one, 1); /* seq_delta only */
	t.nevents++;
	chunk = tb_chunk_end(&t, 0);
	decode_tb(&t, t.len, d);
	snprintf(msg, sizeof(msg),
		 "chunk at byte %zu, body offset %zu: unknown event type 22 cut or bad varint at field offset 1",
		 chunk, at);
	cr_assert_eq(d->has_error, 1);
	cr_assert_str_eq(d->err.message, msg);
	cr_assert_eq(d->err.offset, chunk);
	cr_assert_eq(d->n, 1);
	tb_release(&t);
	free(d);
}

/*
 * Which cut records are a kill's cut (err.cut) and which are damage: a
 * plausible size running past the end of a trace without END is a cut; after
 * an END (other than exec's, which a failed exec supersedes), or with a size
 * no writer produces, it is damage.
 */
Test(reader, tells_a_cut_last_record_from_damage)
{
	struct tb t;
	struct decoded *d = malloc(sizeof(*d));
	uint8_t junk[40];
	size_t at, full;

	memset(junk, 0x11, sizeof(junk));
	for (int c = 0; c < 4; c++) {
		tb_init(&t, 1, 0);
		tb_chunk_begin(&t, 1, 1, 0);
		tb_alloc(&t, 1, 0, 0x1000, 10, 0, RS_KIND_MALLOC);
		tb_chunk_end(&t, 0);
		if (c == 1)
			tb_end(&t, 2, RS_END_EXIT, 0, 5, 0);
		if (c == 2)
			tb_end(&t, 2, RS_END_EXEC, -1, 5, 0);
		if (c == 3) {
			uint8_t huge[] = { RS_REC_MODULE, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };

			at = t.len;
			tb_bytes(&t, huge, sizeof(huge)); /* size 2^42: no writer makes that */
			tb_bytes(&t, junk, 3);
			decode_tb(&t, t.len, d);
			cr_assert_eq(d->has_error, 1);
			cr_assert_eq(d->err.offset, at);
			cr_assert_eq(d->err.cut, 0, "%s", d->err.message);
			cr_assert_eq(d->n, 1);
			tb_release(&t);
			continue;
		}
		at = tb_raw_record(&t, RS_REC_STOPPED, junk, sizeof(junk));
		full = t.len;
		decode_tb(&t, full - 10, d);
		cr_assert_eq(d->has_error, 1, "case %d", c);
		cr_assert_eq(d->err.offset, at, "case %d", c);
		cr_assert_eq(d->err.cut, c != 1, "case %d: %s", c, d->err.message);
		cr_assert_eq(d->n, 1, "case %d", c);
		tb_release(&t);
	}
	free(d);
}

struct want_ev {
	uint8_t type;
	uint64_t tid, seq, time, addr;
};

/*
 * Version 3 seqs are stamps: seq = max(next_min, time) + seq_excess. File
 * order: chunk a (thread 1), chunk b (thread 2), chunk c (thread 1). b starts
 * (95) far below a's end (120) and its first_seq (90) is below its first
 * time (95), so its first event is numbered by its time; a jumps by a
 * seq_excess (101 -> 105, 115 -> 120); threads share stamps 105 and 125,
 * which come out in file order (b also jumps, 100 -> 105). Thread 2 frees a block thread 1 allocated
 * (0x2000) and reuses one thread 1 freed (0x1000), each numbered after.
 */
Test(reader, merges_version3_stamps)
{
	static const struct want_ev want[] = {
		{ RS_EV_ALLOC, 2, 95, 95, 0x4000 },
		{ RS_EV_ALLOC, 1, 100, 100, 0x1000 },
		{ RS_EV_ALLOC, 1, 105, 101, 0x2000 },
		{ RS_EV_ALLOC, 2, 105, 100, 0x5000 },
		{ RS_EV_FREE, 2, 106, 102, 0x2000 },
		{ RS_EV_FREE, 1, 110, 110, 0x1000 },
		{ RS_EV_ALLOC, 2, 111, 111, 0x1000 },
		{ RS_EV_ALLOC, 1, 120, 115, 0x3000 },
		{ RS_EV_ALLOC, 2, 125, 120, 0x6000 },
		{ RS_EV_FREE, 1, 125, 121, 0x4000 },
		{ RS_EV_THREAD_EXIT, 1, 200, 200, 0 },
	};
	const size_t n = sizeof(want) / sizeof(want[0]);
	struct decoded *d = malloc(sizeof(*d));
	struct tb t;

	for (int zstd = 0; zstd < 2; zstd++) {
		tb_init_version(&t, 1, 0, 3);
		tb_chunk_begin(&t, 1, 100, 100);
		tb_alloc(&t, 100, 100, 0x1000, 8, 0, RS_KIND_MALLOC);
		tb_alloc(&t, 105, 101, 0x2000, 8, 0, RS_KIND_MALLOC);
		tb_free(&t, 110, 110, 0x1000, 0, RS_KIND_FREE);
		tb_alloc(&t, 120, 115, 0x3000, 8, 0, RS_KIND_MALLOC);
		tb_chunk_end(&t, zstd);
		tb_chunk_begin(&t, 2, 90, 95);
		tb_alloc(&t, 95, 95, 0x4000, 8, 0, RS_KIND_MALLOC);
		tb_alloc(&t, 105, 100, 0x5000, 8, 0, RS_KIND_MALLOC);
		tb_free(&t, 106, 102, 0x2000, 0, RS_KIND_FREE);
		tb_alloc(&t, 111, 111, 0x1000, 8, 0, RS_KIND_MALLOC);
		tb_alloc(&t, 125, 120, 0x6000, 8, 0, RS_KIND_MALLOC);
		tb_chunk_end(&t, zstd);
		tb_chunk_begin(&t, 1, 125, 121);
		tb_free(&t, 125, 121, 0x4000, 0, RS_KIND_FREE);
		tb_thread_exit(&t, 200, 200);
		tb_chunk_end(&t, zstd);
		tb_end(&t, 201, RS_END_EXIT, 0, 201, 0);
		decode_tb(&t, t.len, d);
		cr_assert_eq(d->has_error, 0, "zstd %d: %s", zstd, d->err.message);
		cr_assert_eq(d->n, n, "zstd %d: %zu events", zstd, d->n);
		for (size_t i = 0; i < n; i++) {
			const struct reader_event *e = &d->ev[i];

			cr_assert_eq(e->type, want[i].type, "zstd %d, event %zu", zstd, i);
			cr_assert_eq(e->tid, want[i].tid, "zstd %d, event %zu", zstd, i);
			cr_assert_eq(e->seq, want[i].seq, "zstd %d, event %zu: seq %lu", zstd, i,
				     (unsigned long)e->seq);
			cr_assert_eq(e->time, want[i].time, "zstd %d, event %zu", zstd, i);
			if (want[i].addr)
				cr_assert_eq(e->addr, want[i].addr, "zstd %d, event %zu", zstd, i);
		}
		tb_release(&t);
	}
	free(d);
}

/*
 * A version 3 seq must leave room for the next one: after an event at seq
 * 1000 (time 100), a THREAD_EXIT with time_delta dt and seq_excess x is
 * numbered 1001 + x (its time stays below 1001). At UINT64_MAX or past it,
 * or with a time past UINT64_MAX, the chunk is damaged there.
 */
Test(reader, rejects_version3_seq_overflow)
{
	static const struct {
		uint64_t dt, excess;
		int ok;
	} c[] = {
		{ 0, UINT64_MAX - 1002, 1 },	/* UINT64_MAX - 1: the largest */
		{ 0, UINT64_MAX - 1001, 0 },	/* UINT64_MAX: nothing could follow */
		{ 0, UINT64_MAX - 50, 0 },	/* past it */
		{ UINT64_MAX, 0, 0 },		/* the time wraps */
	};
	struct decoded *d = malloc(sizeof(*d));

	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		uint8_t payload[2 * RS_UVARINT_MAX];
		size_t n = 0, at, inner;
		char msg[256];
		struct tb t;

		n += rs_put_uvarint(payload + n, c[k].excess);
		n += rs_put_uvarint(payload + n, c[k].dt);
		tb_init_version(&t, 1, 0, 3);
		tb_chunk_begin(&t, 1, 100, 100);
		tb_alloc(&t, 1000, 100, 0x1000, 8, 0, RS_KIND_MALLOC);
		inner = tb_raw_record(&t, RS_EV_THREAD_EXIT, payload, n);
		t.nevents++;
		at = tb_chunk_end(&t, 0);
		decode_tb(&t, t.len, d);
		if (c[k].ok) {
			cr_assert_eq(d->has_error, 0, "case %zu: %s", k, d->err.message);
			cr_assert_eq(d->n, 2, "case %zu", k);
			cr_assert_eq(d->ev[1].seq, UINT64_MAX - 1, "case %zu", k);
			cr_assert_eq(d->ev[1].time, 100, "case %zu", k);
		} else {
			snprintf(msg, sizeof(msg),
				 "chunk at byte %zu, body offset %zu: sequence number overflows", at, inner);
			cr_assert_eq(d->has_error, 1, "case %zu", k);
			cr_assert_str_eq(d->err.message, msg, "case %zu", k);
			cr_assert_eq(d->err.offset, at, "case %zu", k);
			cr_assert_eq(d->n, 1, "case %zu: the event before the damage comes out", k);
			cr_assert_eq(d->ev[0].seq, 1000, "case %zu", k);
		}
		tb_release(&t);
	}
	free(d);
}
