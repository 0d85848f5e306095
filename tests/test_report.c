/*
 * test_report.c - the report built from traces made by tests/tracebuild.c:
 * every field of the JSON (parsed with jansson, never string-matched), the
 * partial report of a damaged trace, --top, and real symbolization of this
 * test binary's own code through the PROCESS.exe of the main program.
 */

#include <criterion/criterion.h>
#include <elf.h>
#include <jansson.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "tracebuild.h"

static json_t *report_json(const char *path, size_t top, char **text)
{
	struct report_options opt = { .top = top, .progress = 0, .symbolize = 1 };
	struct report rep;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	json_t *root;
	json_error_t err;

	cr_assert_eq(report_build(path, &opt, &rep), 0);
	f = open_memstream(&buf, &len);
	cr_assert_eq(report_write_json(&rep, f), 0);
	fclose(f);
	root = json_loadb(buf, len, 0, &err);
	cr_assert_not_null(root, "invalid JSON: %s at line %d\n%s", err.text, err.line, buf);
	free(buf);
	if (text) {
		f = open_memstream(text, &len);
		cr_assert_eq(report_write_text(&rep, f), 0);
		fclose(f);
	}
	report_release(&rep);
	return root;
}

static json_t *get(json_t *obj, const char *path)
{
	char key[64];
	const char *dot;
	json_t *cur = obj;

	while (cur && *path) {
		dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_is_array(cur))
			cur = json_array_get(cur, (size_t)atoi(key));
		else
			cur = json_object_get(cur, key);
		path += n + (dot ? 1 : 0);
	}
	cr_assert_not_null(cur, "missing %s", path);
	return cur;
}

static long long ival(json_t *root, const char *path)
{
	json_t *v = get(root, path);

	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return json_integer_value(v);
}

static const char *sval(json_t *root, const char *path)
{
	json_t *v = get(root, path);

	cr_assert(json_is_string(v), "%s is not a string", path);
	return json_string_value(v);
}

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

Test(report, json_has_every_fact_of_the_sample)
{
	char dir[64], path[128];
	json_t *root, *g;

	write_sample(dir, path);
	root = report_json(path, 20, NULL);

	cr_assert_str_eq(sval(root, "schema"), "refscope-report");
	cr_assert_eq(ival(root, "schema_version"), 1);
	cr_assert_str_eq(sval(root, "refscope_version"), REFSCOPE_VERSION);

	cr_assert_str_eq(sval(root, "trace.path"), path);
	cr_assert_eq(ival(root, "trace.format_version"), 2);	/* tracebuild writes seq deltas */
	cr_assert_eq(ival(root, "trace.pid"), 100);
	cr_assert_eq(ival(root, "trace.ppid"), 1);
	cr_assert_str_eq(sval(root, "trace.exe"), "/usr/bin/prog");
	cr_assert_eq(json_array_size(get(root, "trace.argv")), 2);
	cr_assert_str_eq(sval(root, "trace.argv.1"), "--flag");
	cr_assert_str_eq(sval(root, "trace.origin"), "start");
	cr_assert(json_is_true(get(root, "trace.complete")));
	cr_assert_str_eq(sval(root, "trace.end.how"), "exit");
	cr_assert_eq(ival(root, "trace.end.status"), 0);
	cr_assert(json_is_null(get(root, "trace.stopped")));
	cr_assert(json_is_null(get(root, "trace.error")));

	cr_assert_eq(ival(root, "totals.events"), 10);
	cr_assert_eq(ival(root, "totals.allocations"), 4);
	cr_assert_eq(ival(root, "totals.frees"), 2);
	cr_assert_eq(ival(root, "totals.free_null"), 1);
	cr_assert_eq(ival(root, "totals.failed_allocations"), 0);
	cr_assert_eq(ival(root, "totals.reallocs"), 0);
	cr_assert_eq(ival(root, "totals.unknown_frees"), 0);
	cr_assert_eq(ival(root, "totals.allocated_bytes"), 120);
	cr_assert_eq(ival(root, "totals.freed_bytes"), 48);
	cr_assert_eq(ival(root, "totals.stacks"), 2);
	cr_assert_eq(ival(root, "totals.threads"), 2);
	cr_assert_eq(ival(root, "totals.duration_ns"), 210);

	cr_assert_eq(ival(root, "peak.live_bytes"), 72);
	cr_assert_eq(ival(root, "peak.live_blocks"), 2);
	cr_assert_eq(ival(root, "peak.seq"), 9);
	cr_assert_eq(ival(root, "peak.event"), 9);
	cr_assert_eq(ival(root, "peak.time_ns"), 190);

	cr_assert_eq(ival(root, "live_at_exit.blocks"), 2);
	cr_assert_eq(ival(root, "live_at_exit.bytes"), 72);
	cr_assert_eq(json_array_size(get(root, "live_at_exit.groups")), 2);
	g = get(root, "live_at_exit.groups.0");
	cr_assert_eq(ival(g, "bytes"), 64);
	cr_assert_eq(ival(g, "blocks"), 1);
	cr_assert_eq(ival(g, "min_size"), 64);
	cr_assert_eq(ival(g, "max_size"), 64);
	cr_assert_eq(ival(g, "stack_id"), 1);
	cr_assert_eq(json_array_size(get(g, "frames")), 2);
	cr_assert_str_eq(sval(g, "frames.0.ip"), "0x401000");
	cr_assert_str_eq(sval(g, "frames.1.ip"), "0x402000");
	/* /usr/bin/prog does not exist: the frame knows its module only */
	cr_assert(json_is_null(get(g, "frames.0.function")));
	cr_assert(json_is_null(get(g, "frames.0.file")));
	cr_assert(json_is_null(get(g, "frames.0.line")));
	cr_assert_str_eq(sval(g, "frames.0.module"), "/usr/bin/prog");
	cr_assert(json_is_false(get(g, "frames.0.inlined")));
	g = get(root, "live_at_exit.groups.1");
	cr_assert_eq(ival(g, "bytes"), 8);
	cr_assert_eq(ival(g, "stack_id"), 2);
	cr_assert_eq(json_array_size(get(g, "frames")), 3);
	cr_assert_str_eq(sval(g, "frames.2.ip"), "0x7f0000001234");
	cr_assert(json_is_null(get(g, "frames.2.module")), "no module covers 0x7f0000001234");

	cr_assert_eq(json_array_size(get(root, "modules")), 1);
	cr_assert_str_eq(sval(root, "modules.0.path"), "/usr/bin/prog");
	cr_assert_str_eq(sval(root, "modules.0.base"), "0x400000");
	cr_assert_str_eq(sval(root, "modules.0.build_id"), "deadbeef");
	cr_assert_str_eq(sval(root, "modules.0.status"), "missing");
	cr_assert_eq(json_array_size(get(root, "warnings")), 1);
	cr_assert_str_eq(sval(root, "warnings.0"),
			 "module /usr/bin/prog cannot be opened: its frames show the module only");
	json_decref(root);
	unlink(path);
	rmdir(dir);
}

Test(report, top_n_keeps_the_biggest_groups)
{
	char dir[64], path[128];
	json_t *root;

	write_sample(dir, path);
	root = report_json(path, 1, NULL);
	cr_assert_eq(json_array_size(get(root, "live_at_exit.groups")), 1);
	cr_assert_eq(ival(root, "live_at_exit.groups.0.stack_id"), 1);
	cr_assert_eq(ival(root, "live_at_exit.blocks"), 2, "totals still count every group");
	json_decref(root);
	root = report_json(path, 0, NULL);
	cr_assert_eq(json_array_size(get(root, "live_at_exit.groups")), 2, "0 means all");
	json_decref(root);
	unlink(path);
	rmdir(dir);
}

Test(report, damaged_trace_gives_partial_report_and_error)
{
	char path[512];
	json_t *root;
	char *text = NULL;

	snprintf(path, sizeof(path), "%s/tests/fixtures/truncated_chunk.trace", RS_SOURCE_DIR);
	root = report_json(path, 20, &text);
	cr_assert_str_eq(sval(root, "trace.error.message"),
			 "truncated record at byte 178: chunk needs 52 bytes, 18 left");
	cr_assert_eq(ival(root, "trace.error.offset"), 178);
	cr_assert(json_is_false(get(root, "trace.complete")));
	cr_assert(json_is_null(get(root, "trace.end")));
	cr_assert_eq(ival(root, "totals.events"), 4);
	cr_assert_eq(ival(root, "live_at_exit.blocks"), 1); /* 0x2000, 32 bytes: its free is cut off */
	cr_assert_eq(ival(root, "live_at_exit.bytes"), 32);
	cr_assert_eq(json_array_size(get(root, "warnings")), 4);
	/* cut by the end of the file, no END before it: what a kill -9 leaves */
	cr_assert(json_is_true(get(root, "trace.error.cut")));
	cr_assert_str_eq(sval(root, "warnings.1"),
			 "trace is incomplete: its last record, at byte 178, is cut short (killed while "
			 "writing, or the disk was full): truncated record at byte 178: chunk needs 52 "
			 "bytes, 18 left; the report covers everything before it");
	cr_assert_str_eq(sval(root, "warnings.2"),
			 "trace is incomplete: no END record (the program was killed, or the trace was cut)");
	/* stack 2 is defined in the chunk that was cut off */
	cr_assert_str_eq(sval(root, "warnings.3"),
			 "allocation stacks used but never defined in the trace: 1");
	cr_assert_not_null(strstr(text, "live at exit: 32 bytes in 1 block,"), "%s", text);
	cr_assert_not_null(strstr(text, "ended:     unknown (no END record"), "%s", text);
	free(text);
	json_decref(root);
}

Test(report, header_damage_gives_null_facts)
{
	char path[512];
	json_t *root;

	snprintf(path, sizeof(path), "%s/tests/fixtures/bad_magic.trace", RS_SOURCE_DIR);
	root = report_json(path, 20, NULL);
	cr_assert_str_eq(sval(root, "trace.error.message"), "not a refscope trace: bad magic at byte 0");
	cr_assert(json_is_null(get(root, "trace.format_version")));
	cr_assert(json_is_null(get(root, "trace.exe")));
	cr_assert_eq(ival(root, "totals.events"), 0);
	json_decref(root);
}

/* ---- real symbolization of this binary ----------------------------------- */

__attribute__((noinline)) int report_test_leaker(int x);
__attribute__((noinline)) int report_test_leaker(int x)
{
	return x * 3 + 1;
}

struct self_image {
	uint64_t base;
	uint64_t vaddr[8], memsz[8], flags[8];
	int nseg;
	uint8_t build_id[64];
	size_t build_id_len;
};

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct self_image *im = arg;

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0; /* the main program has the empty name */
	im->base = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && im->nseg < 8) {
			im->vaddr[im->nseg] = ph->p_vaddr;
			im->memsz[im->nseg] = ph->p_memsz;
			im->flags[im->nseg] = ph->p_flags;
			im->nseg++;
		}
		if (ph->p_type == PT_NOTE) {
			const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
			const uint8_t *end = p + ph->p_memsz;

			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
				const uint8_t *name = p + sizeof(*nh);
				const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);

				if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
				    !memcmp(name, "GNU", 4) && nh->n_descsz <= 64) {
					memcpy(im->build_id, desc, nh->n_descsz);
					im->build_id_len = nh->n_descsz;
				}
				p = desc + ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	return 1;
}

Test(report, symbolizes_main_program_through_process_exe)
{
	struct self_image im = { 0 };
	char dir[64], path[128], exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *argv[] = { "refscope-tests" };
	uint64_t ips[2];
	struct tb t;
	json_t *root, *frames;
	size_t last;
	const char *file;

	cr_assert_gt(n, 0);
	exe[n] = '\0';
	dl_iterate_phdr(find_self, &im);
	cr_assert_gt(im.nseg, 0);
	ips[0] = (uint64_t)(uintptr_t)&report_test_leaker; /* innermost: exact */
	ips[1] = (uint64_t)(uintptr_t)&report_test_leaker + 1; /* a return address just past it */

	tb_init(&t, 5, 1);
	tb_process(&t, 5, 1, exe, 1, argv, RS_ORIGIN_START);
	/* tb_module writes one segment: give the executable one */
	tb_module(&t, 0, im.base, "", im.build_id, im.build_id_len, im.vaddr[0], 0x10000000, 5);
	tb_stack(&t, 1, 2, ips);
	tb_chunk_begin(&t, 5, 1, 0);
	tb_alloc(&t, 1, 0, 0x1000, 24, 1, RS_KIND_MALLOC);
	tb_chunk_end(&t, 1);
	tb_end(&t, 2, RS_END_EXIT, 0, 10, 0);
	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "self.trace");
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);

	root = report_json(path, 20, NULL);
	cr_assert_str_eq(sval(root, "modules.0.path"), exe);
	cr_assert_str_eq(sval(root, "modules.0.status"), im.build_id_len ? "ok" : "no_build_id");
	frames = get(root, "live_at_exit.groups.0.frames");
	cr_assert_geq(json_array_size(frames), 2);
	cr_assert_str_eq(sval(frames, "0.function"), "report_test_leaker");
	cr_assert_str_eq(sval(frames, "0.module"), exe);
	file = sval(frames, "0.file");
	cr_assert_not_null(strstr(file, "test_report.c"), "file %s", file);
	cr_assert_gt(ival(frames, "0.line"), 0);
	last = json_array_size(frames) - 1;
	cr_assert(json_is_false(json_object_get(json_array_get(frames, last), "inlined")));
	/* ip - 1 of the return address lands in the same function */
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, last), "function")),
			 "report_test_leaker");
	cr_assert_eq(json_array_size(get(root, "warnings")), 0);
	cr_assert_eq(report_test_leaker(1), 4);
	json_decref(root);
	unlink(path);
	rmdir(dir);
}
