/*
 * test_hostile.c - hostile input to the analyzer, under AddressSanitizer and
 * UndefinedBehaviorSanitizer whatever this binary was built with: every
 * fixture, every input of the fuzz corpus and every crash the fuzzer found
 * goes through build/san/refscope (the command line built with clang and
 * both sanitizers) and build/fuzz/fuzz_trace (the libFuzzer target, which
 * runs the trace through every report). `make test` builds both. A
 * sanitizer report exits 86 (ASAN_OPTIONS/UBSAN_OPTIONS below), never a
 * status refscope uses.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"
#include "reader.h"
#include "report.h"
#include "refscope_format.h"
#include "tracebuild.h"

#define SAN_REFSCOPE RS_BUILD_DIR "/san/refscope"
#define FUZZ_TARGET RS_BUILD_DIR "/fuzz/fuzz_trace"
#define SAN_EXIT 86

static void sanitizers_on(void)
{
	cr_assert_eq(access(SAN_REFSCOPE, X_OK), 0, "%s missing: `make test` builds it", SAN_REFSCOPE);
	cr_assert_eq(access(FUZZ_TARGET, X_OK), 0, "%s missing: `make test` builds it", FUZZ_TARGET);
	setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1:abort_on_error=0", 1);
	setenv("UBSAN_OPTIONS", "exitcode=86:print_stacktrace=1:halt_on_error=1", 1);
	/* the runs check for leaks themselves: Criterion's own suppressions
	 * (make SANITIZE=...) do not apply to them */
	unsetenv("LSAN_OPTIONS");
}

/* Runs the sanitized refscope; returns its exit code (asserts it exited). */
static int san_run(const char *cmd, const char *opt, const char *path, struct e2e_proc *p)
{
	char *argv[8];
	int n = 0;

	argv[n++] = SAN_REFSCOPE;
	argv[n++] = (char *)cmd;
	if (opt) {
		argv[n++] = (char *)opt;
		if (!strcmp(opt, "-o") || !strcmp(opt, "--html"))
			argv[n++] = "/dev/null";
	}
	argv[n++] = (char *)path;
	argv[n] = NULL;
	e2e_exec(argv, NULL, NULL, p);
	cr_assert(WIFEXITED(p->status), "refscope %s %s %s: killed by signal %d\n%s", cmd,
		  opt ? opt : "", path, WTERMSIG(p->status), p->err);
	cr_assert_neq(WEXITSTATUS(p->status), SAN_EXIT, "refscope %s %s %s: sanitizer report\n%s", cmd,
		      opt ? opt : "", path, p->err);
	return WEXITSTATUS(p->status);
}

/* The fuzz target over directories of inputs, each run once (-runs=0). */
static void fuzz_replay(const char *const *dirs)
{
	char *argv[16];
	int n = 0;
	char *empty = e2e_tmpdir();
	char prefix[128];
	struct e2e_proc p;

	argv[n++] = FUZZ_TARGET;
	argv[n++] = "-runs=0";
	argv[n++] = "-timeout=10";
	argv[n++] = "-rss_limit_mb=1024";
	snprintf(prefix, sizeof(prefix), "-artifact_prefix=%s/", empty);
	argv[n++] = prefix; /* a failing input is written there, not in the cwd */
	/* first directory: where libFuzzer would add inputs; never the repository's */
	argv[n++] = empty;
	for (size_t i = 0; dirs[i]; i++)
		argv[n++] = (char *)dirs[i];
	argv[n] = NULL;
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
		  "fuzz target failed on %s ... (status 0x%x)\n%s", dirs[0], p.status,
		  p.err_len > 6000 ? p.err + p.err_len - 6000 : p.err);
	cr_assert(strstr(p.err, "INITED") != NULL, "fuzz target did not run its inputs\n%s", p.err);
	e2e_proc_free(&p);
	e2e_rmtree(empty);
	free(empty);
}

/* ---- fixtures: the exact outcome of each --------------------------------- */

struct fixture {
	const char *name;
	int exit_code; /* of report and dump */
	const char *report_err; /* exact stderr line of `report` (without the path prefix) */
};

static const struct fixture fixtures[] = {
	{ "good.trace", 0, NULL },
	{ "truncated_chunk.trace", 0,
	  "incomplete trace, reported up to byte 178: truncated record at byte 178: chunk needs 52 bytes, "
	  "18 left" },
	{ "bitflip_zstd.trace", 2, "chunk at byte 232: zstd error: Unknown frame descriptor" },
	{ "huge_length.trace", 2, "truncated record at byte 99: module needs 1099511627776 bytes, 3 left" },
	{ "bad_magic.trace", 2, "not a refscope trace: bad magic at byte 0" },
	{ "version4.trace", 2, "unsupported format version 4 at byte 8 (this reader knows 1 to 3)" },
	{ "zstd_bomb.trace", 2, "chunk at byte 99: zstd error: Destination buffer is too small" },
	{ "huge_raw_size.trace", 2, "chunk at byte 99: raw size 1099511627776 exceeds the limit 4194304" },
	{ "huge_frame_count.trace", 2,
	  "bad stack record at byte 99: field cut or bad varint at byte 111" },
	{ "huge_word_count.trace", 2,
	  "snap_words at byte 121: 1125899906842624 words cannot fit 20 bytes" },
	{ "undefined_stack.trace", 0, NULL },
	{ "overlapping_chunks.trace", 0, NULL },
};

Test(hostile, fixtures_give_their_exact_error_under_sanitizers, .timeout = 120)
{
	sanitizers_on();
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture *f = &fixtures[i];
		char path[512], want[1024];
		struct e2e_proc p;

		snprintf(path, sizeof(path), "%s/tests/fixtures/%s", RS_SOURCE_DIR, f->name);
		cr_assert_eq(san_run("report", "-o", path, &p), f->exit_code, "report %s: %s", f->name, p.err);
		if (f->report_err) {
			snprintf(want, sizeof(want), "refscope report: %s: %s\n", path, f->report_err);
			cr_assert(strstr(p.err, want) != NULL, "report %s: stderr\n%s\nwanted\n%s", f->name,
				  p.err, want);
		} else {
			cr_assert_eq(p.err_len, 0, "report %s: %s", f->name, p.err);
		}
		e2e_proc_free(&p);
		cr_assert_eq(san_run("dump", NULL, path, &p), f->exit_code, "dump %s: %s", f->name, p.err);
		e2e_proc_free(&p);
		/* the other commands: any verdict, but no sanitizer report */
		san_run("report", "--cycles", path, &p);
		e2e_proc_free(&p);
		san_run("report", "--html", path, &p);
		e2e_proc_free(&p);
		san_run("check", "--fail-on=leaks,cycles,refcount", path, &p);
		e2e_proc_free(&p);
		san_run("graph", "-o", path, &p);
		e2e_proc_free(&p);
	}
}

/* Every input the fuzzer kept and every crash it found, through the whole
 * report path (fuzz target) and the command line (sanitized refscope). */
Test(hostile, corpus_and_crashes_replay_under_sanitizers, .timeout = 300)
{
	static const char *const sub[] = { "tests/fuzz/corpus", "tests/fuzz/crashes", "tests/fixtures" };
	char dirs[3][512];
	const char *list[4];
	size_t files = 0;

	sanitizers_on();
	for (int d = 0; d < 3; d++) {
		snprintf(dirs[d], sizeof(dirs[d]), "%s/%s", RS_SOURCE_DIR, sub[d]);
		list[d] = dirs[d];
	}
	list[3] = NULL;
	fuzz_replay(list);
	for (int d = 0; d < 2; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		cr_assert_not_null(dir, "%s: %s", dirs[d], strerror(errno));
		while ((de = readdir(dir))) {
			char path[2048];
			struct e2e_proc p;
			int rc;

			if (de->d_name[0] == '.' || !strcmp(de->d_name, "README"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[d], de->d_name);
			/* the fuzz target ran dump and every writer; this is the
			 * command line's own path, symbolizing included */
			rc = san_run("report", "--cycles", path, &p);
			cr_assert(rc == 0 || rc == 2, "report --cycles %s: exit %d\n%s", path, rc, p.err);
			e2e_proc_free(&p);
			files++;
		}
		closedir(dir);
	}
	cr_assert_gt(files, 20, "only %zu corpus files", files);
}

/* ---- the sample trace cut at every byte, and every bit of it flipped ---- */

/*
 * A cut is what kill -9 leaves: past the file header, `report` exits 0 and
 * says up to which record it read (the record the cut falls in), or says
 * nothing of damage when the cut falls between two records; inside the
 * header it is bad input (exit 2). Never a crash, never a sanitizer report.
 */
Test(hostile, cut_at_every_byte_reports_up_to_the_cut, .timeout = 300)
{
	struct tb t;
	struct tb_sample s;
	char dir[64], path[128];

	sanitizers_on();
	tb_build_sample(&t, &s);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "cut.trace");
	for (size_t cut = 0; cut < t.len; cut++) {
		struct e2e_proc p;
		size_t start = 0;
		int boundary = cut == RS_FILE_HEADER_SIZE, rc;
		char want[128];

		for (size_t k = 0; k < s.nrec; k++) {
			if (s.rec[k] == cut)
				boundary = 1;
			if (s.rec[k] <= cut)
				start = s.rec[k];
		}
		cr_assert_eq(tb_write_prefix(&t, cut, path), 0);
		rc = san_run("report", "-o", path, &p);
		if (cut < RS_FILE_HEADER_SIZE) {
			cr_assert_eq(rc, 2, "cut %zu: exit %d\n%s", cut, rc, p.err);
			snprintf(want, sizeof(want), "truncated file header at byte 0: needs %d bytes, %zu left",
				 RS_FILE_HEADER_SIZE, cut);
			cr_assert(strstr(p.err, want) != NULL, "cut %zu: stderr\n%s\nwanted %s", cut, p.err, want);
		} else if (boundary) {
			cr_assert_eq(rc, 0, "cut %zu: exit %d\n%s", cut, rc, p.err);
			cr_assert(strstr(p.err, "incomplete trace") == NULL, "cut %zu: %s", cut, p.err);
		} else {
			cr_assert_eq(rc, 0, "cut %zu: exit %d\n%s", cut, rc, p.err);
			snprintf(want, sizeof(want), "incomplete trace, reported up to byte %zu: truncated record at byte %zu",
				 start, start);
			cr_assert(strstr(p.err, want) != NULL, "cut %zu: stderr\n%s\nwanted %s", cut, p.err, want);
		}
		e2e_proc_free(&p);
	}
	unlink(path);
	rmdir(dir);
	tb_release(&t);
}

/* Every bit of the sample flipped, one at a time, through every report. */
Test(hostile, every_bit_flip_through_every_report, .timeout = 300)
{
	struct tb t;
	struct tb_sample s;
	char *dir;
	const char *list[2];

	sanitizers_on();
	tb_build_sample(&t, &s);
	dir = e2e_tmpdir();
	for (size_t i = 0; i < t.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			char path[256];

			snprintf(path, sizeof(path), "%s/flip-%zu-%d", dir, i, bit);
			t.buf[i] ^= (uint8_t)(1u << bit);
			cr_assert_eq(tb_write(&t, path), 0);
			t.buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	list[0] = dir;
	list[1] = NULL;
	fuzz_replay(list);
	e2e_rmtree(dir);
	free(dir);
	tb_release(&t);
}

/* ---- what the fixtures mean, in process ---------------------------------- */

/* An allocation naming a stack id the trace never defined: reported, with
 * the count of such stacks, never looked up out of range. */
Test(hostile, undefined_stack_is_counted_not_followed)
{
	struct report_options opt = { .top = 0, .snapshot = -1 };
	struct report rep;

	cr_assert_eq(report_build(RS_SOURCE_DIR "/tests/fixtures/undefined_stack.trace", &opt, &rep), 0);
	cr_assert_eq(rep.have_error, 0, "%s", rep.error.message);
	cr_assert_eq(rep.ngroups, 1);
	cr_assert_eq(rep.groups[0].g.stack, 0xffffffffffull);
	cr_assert_eq(rep.groups[0].stack_known, 0);
	cr_assert_eq(rep.groups[0].nframes, 0);
	cr_assert_eq(rep.undefined_stacks, 1);
	cr_assert_eq(rep.totals.live_bytes, 48);
	report_release(&rep);
}

/* Eight chunks at the same seq, each a few dozen bytes of zstd that decode
 * to 64 KiB: the merge must hold them all at once. Under the default bound
 * (512 MiB) they decode; under a bound of 160 KiB the third one stops the
 * merge with its offset, before it is decoded. (A hostile trace does the
 * same with thousands of chunks of 4 MiB.) */
Test(hostile, merge_memory_is_bounded)
{
	const char *path = RS_SOURCE_DIR "/tests/fixtures/overlapping_chunks.trace";
	struct reader *r;
	struct reader_event ev;
	const struct reader_error *e;
	uint64_t n = 0;
	char want[256];

	cr_assert_eq(reader_open(path, &r), 0);
	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	cr_assert_eq(reader_nchunks(r), 8);
	while (reader_next(r, &ev) == 1)
		n++;
	cr_assert_null(reader_error(r), "%s", reader_error(r)->message);
	cr_assert_eq(n, 8 * (64u << 10) / 4);
	cr_assert_eq(reader_peak_active(r), 8);
	reader_close(r);

	cr_assert_eq(reader_open(path, &r), 0);
	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	reader_set_held_limit(r, 160u << 10);
	n = 0;
	while (reader_next(r, &ev) == 1)
		n++;
	e = reader_error(r);
	cr_assert_not_null(e);
	snprintf(want, sizeof(want),
		 "chunk at byte %lu: merging it would hold 196608 bytes of decoded chunks at once "
		 "(limit 163840): too many chunks overlap in sequence numbers",
		 (unsigned long)reader_chunk(r, 2)->offset);
	cr_assert_str_eq(e->message, want);
	cr_assert_eq(e->offset, reader_chunk(r, 2)->offset);
	cr_assert_eq(e->cut, 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(reader_peak_active(r), 2);
	reader_close(r);
}

/* Loads and unloads at one base, in a hostile order: an unload takes the
 * newest module still loaded there (the reader indexes modules by base so
 * that a million unloads cannot make the scan quadratic). */
Test(hostile, module_unloads_take_the_newest_loaded_at_a_base)
{
	struct tb t;
	char dir[64], path[128];
	struct reader *r;
	const struct reader_module *m;
	size_t n;

	tb_init(&t, 1, 0);
	tb_module_unload(&t, 1, 0x1000); /* nothing loaded there yet */
	tb_module(&t, 2, 0x1000, "a", NULL, 0, 0, 0x10, 5);
	tb_module(&t, 3, 0x2000, "other", NULL, 0, 0, 0x10, 5);
	tb_module(&t, 4, 0x1000, "b", NULL, 0, 0, 0x10, 5);
	tb_module_unload(&t, 5, 0x1000); /* b */
	tb_module_unload(&t, 6, 0x1000); /* a */
	tb_module_unload(&t, 7, 0x1000); /* nothing left */
	tb_module(&t, 8, 0x1000, "c", NULL, 0, 0, 0x10, 5);
	tb_module_unload(&t, 9, 0x1000); /* c */
	tb_module(&t, 10, 0x1000, "d", NULL, 0, 0, 0x10, 5);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "m.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	cr_assert_eq(reader_open(path, &r), 0);
	cr_assert_eq(reader_scan(r, NULL, NULL), 0);
	m = reader_modules(r, &n);
	cr_assert_eq(n, 5);
	cr_assert_str_eq(m[0].path, "a");
	cr_assert(m[0].unloaded && m[0].unload_seq == 6);
	cr_assert_eq(m[1].unloaded, 0);
	cr_assert_str_eq(m[2].path, "b");
	cr_assert(m[2].unloaded && m[2].unload_seq == 5);
	cr_assert(m[3].unloaded && m[3].unload_seq == 9);
	cr_assert_eq(m[4].unloaded, 0);
	reader_close(r);
	unlink(path);
	rmdir(dir);
	tb_release(&t);
}

/* ---- deep and cyclic snapshot graphs ------------------------------------- */

#define DEEP_N 100000u		/* blocks in each of the chain and the ring */
#define DEEP_HEAP 0x10000000ull
#define DEEP_DATA 0x600000ull
#define DEEP_ADDR(i) (DEEP_HEAP + 32ull * (i))

/*
 * A root holding the head of a chain of 100000 blocks, each pointing to
 * the next, and a ring of 100000 more that nothing holds: reachability and
 * the cycle search must walk them without recursion (no stack overflow,
 * under ASan's bigger frames too) and find exactly one leaked cycle of
 * 100000 members.
 */
Test(hostile, deep_chain_and_huge_ring_in_a_snapshot, .timeout = 120)
{
	struct tb t;
	char dir[64], path[128];
	struct report_options opt = { .top = 5, .symbolize = 0, .cycles = 1, .snapshot = -1 };
	struct report rep;
	uint64_t *locs = malloc(2 * DEEP_N * sizeof(*locs)), *vals = malloc(2 * DEEP_N * sizeof(*vals));
	uint64_t rloc = DEEP_DATA, rval = DEEP_ADDR(0);
	struct e2e_proc p;

	cr_assert(locs && vals);
	tb_init(&t, 5, 1);
	tb_chunk_begin(&t, 5, 1, 1);
	for (uint32_t i = 0; i < 2 * DEEP_N; i++)
		tb_alloc(&t, 1 + i, 1 + i, DEEP_ADDR(i), 32, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 1);
	for (uint32_t i = 0; i < 2 * DEEP_N; i++) {
		locs[i] = DEEP_ADDR(i) + 8;
		if (i < DEEP_N) /* the chain ends in a null pointer */
			vals[i] = i + 1 < DEEP_N ? DEEP_ADDR(i + 1) : 0;
		else /* the ring closes on its first block */
			vals[i] = i + 1 < 2 * DEEP_N ? DEEP_ADDR(i + 1) : DEEP_ADDR(DEEP_N);
	}
	tb_snapshot(&t, 0, 2 * DEEP_N + 1, 0, RS_SNAP_EXIT, 5);
	tb_snap_region(&t, 0, 1, DEEP_DATA, DEEP_DATA + 4096, RS_REGION_DATA, 0, "");
	tb_snap_region(&t, 0, 2, DEEP_HEAP, DEEP_HEAP + 0x1000000, RS_REGION_ANON, 0, "[heap]");
	tb_snap_words(&t, 0, 1, DEEP_DATA, 0, 1, &rloc, &rval, 0);
	tb_snap_words(&t, 0, 2, DEEP_HEAP, 1, 2 * DEEP_N, locs, vals, 65536);
	tb_snapshot_end(&t, 0, 2, 2 * DEEP_N + 1, 0, 0);
	tb_end(&t, 2 * DEEP_N + 1, RS_END_EXIT, 0, 5, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "deep.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);
	free(locs);
	free(vals);

	cr_assert_eq(report_build(path, &opt, &rep), 0);
	cr_assert_eq(rep.have_error, 0, "%s", rep.error.message);
	cr_assert_eq(rep.graph.nblocks, 2 * DEEP_N);
	cr_assert_eq(rep.graph.ncycles, 1);
	cr_assert_eq(rep.graph.cycles[0].nmembers, DEEP_N);
	cr_assert_eq(rep.graph.cycles[0].bytes, 32ull * DEEP_N);
	cr_assert_eq(rep.graph.totals[GRAPH_REACHABLE].blocks, DEEP_N);
	cr_assert_eq(rep.graph.totals[GRAPH_CYCLE].blocks, DEEP_N);
	cr_assert_eq(rep.graph.totals[GRAPH_PLAIN_LEAK].blocks, 0);
	report_release(&rep);

	/* the command line under ASan and UBSan: the same, no stack overflow */
	sanitizers_on();
	cr_assert_eq(san_run("report", "--cycles", path, &p), 0, "%s", p.err);
	e2e_proc_free(&p);
	unlink(path);
	rmdir(dir);
}

/* ---- a real trace of the shim cut at every byte -------------------------- */

struct offsets {
	uint64_t at[256];
	size_t n;
};

static void on_top_record(void *ctx, const struct reader_record *rec)
{
	struct offsets *o = ctx;

	cr_assert_lt(o->n, 256);
	o->at[o->n++] = rec->offset;
}

/*
 * leak7_shim.trace is what the shim wrote for samples/leak7 (a STREAMS
 * chunk, a heap snapshot of 20 regions and words records, END). Cut at every
 * byte past the header, as a kill -9 leaves it: in process, the reader
 * reports the cut record's own offset as a cut (incomplete, not damage) or
 * nothing at a record boundary, and every report is written; every fourth
 * cut also goes through the sanitized fuzz target.
 */
Test(hostile, shim_trace_cut_at_every_byte, .timeout = 300)
{
	const char *src = RS_SOURCE_DIR "/tests/fixtures/leak7_shim.trace";
	struct offsets rec = { .n = 0 };
	struct reader *r;
	FILE *f = fopen(src, "rb"), *devnull = fopen("/dev/null", "w");
	uint8_t buf[8192];
	size_t len;
	char dir[64], path[128], *cuts = e2e_tmpdir();
	const char *list[2] = { cuts, NULL };

	cr_assert(f && devnull);
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	cr_assert_eq(len, 3441);
	cr_assert_eq(reader_open(src, &r), 0);
	cr_assert_eq(reader_scan(r, on_top_record, &rec), 0);
	cr_assert_null(reader_error(r));
	cr_assert_not_null(reader_end(r));
	reader_close(r);
	cr_assert_gt(rec.n, 30);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "cut.trace");
	for (size_t cut = RS_FILE_HEADER_SIZE; cut < len; cut++) {
		const struct reader_error *e;
		struct reader_event ev;
		uint64_t start = 0;
		int boundary = 0;

		for (size_t k = 0; k < rec.n; k++) {
			if (rec.at[k] == cut)
				boundary = 1;
			if (rec.at[k] <= cut)
				start = rec.at[k];
		}
		f = fopen(path, "wb");
		cr_assert(f && fwrite(buf, 1, cut, f) == cut && fclose(f) == 0);
		cr_assert_eq(reader_open(path, &r), 0);
		reader_scan(r, NULL, NULL);
		while (reader_next(r, &ev) == 1)
			;
		e = reader_error(r);
		if (boundary) {
			cr_assert_null(e, "cut %zu at a record boundary: %s", cut, e->message);
		} else {
			cr_assert_not_null(e, "cut %zu: no error", cut);
			cr_assert_eq(e->offset, start, "cut %zu: error at %lu, the record starts at %lu: %s", cut,
				     (unsigned long)e->offset, (unsigned long)start, e->message);
			cr_assert_eq(e->cut, 1, "cut %zu: %s", cut, e->message);
		}
		reader_close(r);
		cr_assert_eq(report_all(path, 0, devnull, devnull), 0, "cut %zu", cut);
		if (cut % 4 == 0) {
			char keep[256];

			snprintf(keep, sizeof(keep), "%s/cut-%zu", cuts, cut);
			f = fopen(keep, "wb");
			cr_assert(f && fwrite(buf, 1, cut, f) == cut && fclose(f) == 0);
		}
	}
	fclose(devnull);
	unlink(path);
	rmdir(dir);
	sanitizers_on();
	fuzz_replay(list);
	e2e_rmtree(cuts);
	free(cuts);
}
