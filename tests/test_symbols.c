/*
 * test_symbols.c - the symbolizer against binaries whose truth is known.
 *
 * Each test compiles samples/symbolize_inline.c into a fresh temporary
 * directory (-O1 -g, as the Makefile builds samples), reads the binary's
 * PT_LOAD segments, build-id and symbol table with libelf, registers it the
 * way the analyzer registers a MODULE record, and checks what addresses
 * inside sym_outer resolve to: names, source basename and line (the lines are
 * found in the source by their INLINE_BODY / CALL_SITE marker comments).
 * Hostile inputs (missing, non-ELF, truncated and corrupted files, FIFOs)
 * must give a status and never crash or hang.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols.h"

#define SAMPLE_SRC RS_SOURCE_DIR "/samples/symbolize_inline.c"
#define FAKE_BASE 0x7f1234560000ull

struct elfinfo {
	struct sym_segment segs[16];
	size_t nsegs;
	uint8_t build_id[64];
	size_t build_id_len;
	int type; /* ET_EXEC or ET_DYN */
};

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/refscope-symtest-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(symbols, .init = setup, .fini = teardown);

/* Compiles the sample into tmpdir/name with extra flags; returns the path. */
static const char *build_sample(const char *name, const char *flags)
{
	static char path[256];
	char cmd[1024];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof(cmd),
		 "cc -std=gnu11 -O1 -g -fno-omit-frame-pointer %s -o '%s' '%s'",
		 flags, path, SAMPLE_SRC);
	cr_assert_eq(system(cmd), 0, "cannot compile: %s", cmd);
	return path;
}

static void read_elf(const char *path, struct elfinfo *ei)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	GElf_Ehdr eh;
	size_t phnum;
	Elf_Scn *scn = NULL;

	memset(ei, 0, sizeof(*ei));
	cr_assert_geq(fd, 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	cr_assert_not_null(gelf_getehdr(elf, &eh));
	ei->type = eh.e_type;
	cr_assert_eq(elf_getphdrnum(elf, &phnum), 0);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		cr_assert_not_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type != PT_LOAD)
			continue;
		cr_assert_lt(ei->nsegs, 16u);
		ei->segs[ei->nsegs].vaddr = ph.p_vaddr;
		ei->segs[ei->nsegs].memsz = ph.p_memsz;
		ei->segs[ei->nsegs].flags = ph.p_flags;
		ei->nsegs++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp((char *)d->d_buf + noff, "GNU", 4) == 0 &&
			    nh.n_descsz <= sizeof(ei->build_id)) {
				memcpy(ei->build_id, (char *)d->d_buf + doff, nh.n_descsz);
				ei->build_id_len = nh.n_descsz;
			}
		}
	}
	elf_end(elf);
	close(fd);
}

/* st_value and st_size of a symbol in .symtab (ELF vaddr). */
static uint64_t find_symbol(const char *path, const char *name, uint64_t *size)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t value = 0;

	cr_assert_geq(fd, 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym))
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (n && strcmp(n, name) == 0 && GELF_ST_TYPE(sym.st_info) == STT_FUNC) {
				value = sym.st_value;
				*size = sym.st_size;
			}
		}
	}
	elf_end(elf);
	close(fd);
	cr_assert_neq(value, 0, "no symbol %s in %s", name, path);
	return value;
}

/* Line number of the first source line containing needle. */
static unsigned source_line(const char *needle)
{
	FILE *f = fopen(SAMPLE_SRC, "r");
	char buf[512];
	unsigned line = 0;

	cr_assert_not_null(f);
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		if (strstr(buf, needle)) {
			fclose(f);
			return line;
		}
	}
	fclose(f);
	cr_assert_fail("no line with %s in %s", needle, SAMPLE_SRC);
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;

	return s ? s + 1 : p;
}

static struct symbolizer *new_with(const char *path, uint64_t base, const struct elfinfo *ei,
				   int expect_status)
{
	struct symbolizer *s;
	int st;

	cr_assert_eq(symbolizer_new(&s), 0);
	st = symbolizer_add_module(s, base, path, ei->build_id, ei->build_id_len, ei->segs,
				   ei->nsegs);
	cr_assert_eq(st, expect_status, "add_module(%s) = %d, expected %d", path, st,
		     expect_status);
	return s;
}

static void assert_frame(const struct sym_frame *f, uint64_t ip, const char *fn,
			 const char *file_base, unsigned line, const char *module, int inlined)
{
	cr_assert_eq(f->ip, ip, "ip %#llx, expected %#llx", (unsigned long long)f->ip,
		     (unsigned long long)ip);
	cr_assert_not_null(f->function);
	cr_assert_str_eq(f->function, fn);
	cr_assert_not_null(f->file);
	cr_assert_str_eq(base_name(f->file), file_base);
	cr_assert_eq(f->line, line, "%s: line %u, expected %u", fn, f->line, line);
	cr_assert_str_eq(f->module, module);
	cr_assert_eq(f->inlined, inlined);
}

/*
 * Walks every address of sym_outer (at bias) and checks the inlined ones:
 * innermost sym_inner_alloc (inlined=1) inside its body, then sym_outer at
 * the call site. Returns how many addresses expanded to two frames, and
 * asserts that the return address of the malloc call (the one whose line is
 * INLINE_BODY) was among them.
 */
static unsigned check_inline_walk(struct symbolizer *s, const char *path, uint64_t bias)
{
	uint64_t size, entry = find_symbol(path, "sym_outer", &size);
	unsigned body = source_line("/* INLINE_BODY */");
	unsigned call = source_line("/* CALL_SITE */");
	unsigned inlined = 0, at_body = 0;

	cr_assert_gt(size, 0);
	for (uint64_t a = entry; a < entry + size; a++) {
		struct sym_frame f[8];
		size_t n = 99;

		cr_assert_eq(symbolizer_resolve(s, bias + a, 0, f, 8, &n), 0);
		cr_assert(n == 1 || n == 2, "%zu frames at %#llx", n, (unsigned long long)a);
		cr_assert_str_eq(f[n - 1].function, "sym_outer");
		cr_assert_eq(f[n - 1].inlined, 0);
		if (n == 1)
			continue;
		inlined++;
		cr_assert_str_eq(f[0].function, "sym_inner_alloc");
		cr_assert_eq(f[0].inlined, 1);
		cr_assert(f[0].line == body || f[0].line == body - 1,
			  "inline line %u, expected %u or %u", f[0].line, body - 1, body);
		cr_assert_str_eq(base_name(f[0].file), "symbolize_inline.c");
		assert_frame(&f[1], bias + a, "sym_outer", "symbolize_inline.c", call, path, 0);
		if (f[0].line == body) {
			/* the same frames from the return address just past it */
			struct sym_frame r[8];
			size_t rn;

			at_body++;
			cr_assert_eq(symbolizer_resolve(s, bias + a + 1, 1, r, 8, &rn), 0);
			cr_assert_eq(rn, 2);
			assert_frame(&r[0], bias + a + 1, "sym_inner_alloc",
				     "symbolize_inline.c", f[0].line, path, 1);
			assert_frame(&r[1], bias + a + 1, "sym_outer", "symbolize_inline.c",
				     call, path, 0);
		}
	}
	cr_assert_gt(inlined, 0, "no address of sym_outer expanded an inlined frame");
	cr_assert_gt(at_body, 0, "no inlined address on line %u", body);
	return inlined;
}

Test(symbols, resolves_function_and_line)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	uint64_t size, entry;
	struct symbolizer *s;
	struct sym_frame f[4];
	size_t n = 0;

	read_elf(path, &ei);
	cr_assert_eq(ei.type, ET_DYN);
	cr_assert_gt(ei.build_id_len, 0);
	entry = find_symbol(path, "sym_outer", &size);
	s = new_with(path, 0, &ei, SYM_MODULE_OK);
	cr_assert_eq(symbolizer_resolve(s, entry, 0, f, 4, &n), 0);
	cr_assert_eq(n, 1);
	assert_frame(&f[0], entry, "sym_outer", "symbolize_inline.c",
		     source_line("{ /* ENTRY"), path, 0);
	cr_assert_eq(f[0].file[0], '/', "file %s is not absolute", f[0].file);
	symbolizer_free(s);
}

Test(symbols, expands_inlined_frames)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	struct symbolizer *s;

	read_elf(path, &ei);
	s = new_with(path, 0, &ei, SYM_MODULE_OK);
	check_inline_walk(s, path, 0);
	symbolizer_free(s);
}

Test(symbols, resolves_at_a_load_bias)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	struct symbolizer *s;
	struct sym_frame f[4];
	uint64_t size, entry;
	size_t n;

	read_elf(path, &ei);
	entry = find_symbol(path, "sym_outer", &size);
	s = new_with(path, FAKE_BASE, &ei, SYM_MODULE_OK);
	check_inline_walk(s, path, FAKE_BASE);
	/* the unshifted address is in no module now */
	cr_assert_eq(symbolizer_resolve(s, entry, 0, f, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_null(f[0].module);
	cr_assert_null(f[0].function);
	symbolizer_free(s);
}

Test(symbols, resolves_non_pie_executable)
{
	const char *path = build_sample("nopie", "-fno-pie -no-pie");
	struct elfinfo ei;
	struct symbolizer *s;
	struct sym_frame f[4];
	uint64_t size, entry;
	size_t n;

	read_elf(path, &ei);
	cr_assert_eq(ei.type, ET_EXEC);
	entry = find_symbol(path, "sym_outer", &size);
	cr_assert_geq(entry, 0x400000u);
	s = new_with(path, 0, &ei, SYM_MODULE_OK);
	cr_assert_eq(symbolizer_resolve(s, entry, 0, f, 4, &n), 0);
	cr_assert_eq(n, 1);
	assert_frame(&f[0], entry, "sym_outer", "symbolize_inline.c",
		     source_line("{ /* ENTRY"), path, 0);
	check_inline_walk(s, path, 0);
	symbolizer_free(s);
}

Test(symbols, stale_build_id_still_symbolizes)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	struct symbolizer *s;
	struct sym_frame f[4];
	uint64_t size, entry;
	size_t n;

	read_elf(path, &ei);
	entry = find_symbol(path, "sym_outer", &size);
	ei.build_id[3] ^= 0x40;
	s = new_with(path, 0, &ei, SYM_MODULE_STALE);
	cr_assert_eq(symbolizer_resolve(s, entry, 0, f, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(f[0].function, "sym_outer");
	symbolizer_free(s);

	/* a shorter recorded id is a different id too */
	ei.build_id[3] ^= 0x40;
	ei.build_id_len = 4;
	s = new_with(path, 0, &ei, SYM_MODULE_STALE);
	symbolizer_free(s);
}

Test(symbols, no_build_id_on_either_side)
{
	const char *with = build_sample("pie", "");
	const char *without;
	struct elfinfo ei, none;
	struct symbolizer *s;
	struct sym_frame f[4];
	uint64_t size, entry;
	size_t n;

	read_elf(with, &ei);
	ei.build_id_len = 0; /* the trace recorded none */
	s = new_with(with, 0, &ei, SYM_MODULE_NO_BUILD_ID);
	symbolizer_free(s);

	without = build_sample("noid", "-Wl,--build-id=none");
	read_elf(without, &none);
	cr_assert_eq(none.build_id_len, 0);
	entry = find_symbol(without, "sym_outer", &size);
	read_elf(with, &ei);
	memcpy(none.build_id, ei.build_id, ei.build_id_len); /* the run's file had one */
	none.build_id_len = ei.build_id_len;
	s = new_with(without, 0, &none, SYM_MODULE_NO_BUILD_ID);
	cr_assert_eq(symbolizer_resolve(s, entry, 0, f, 4, &n), 0);
	cr_assert_str_eq(f[0].function, "sym_outer");
	symbolizer_free(s);
}

Test(symbols, missing_module_maps_to_module_only)
{
	struct sym_segment seg = { .vaddr = 0, .memsz = 0x5000, .flags = PF_R | PF_X };
	const uint8_t id[4] = { 1, 2, 3, 4 };
	char path[128];
	struct symbolizer *s;
	struct sym_frame f[4];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/gone/libgone.so", tmpdir);
	cr_assert_eq(symbolizer_new(&s), 0);
	cr_assert_eq(symbolizer_add_module(s, FAKE_BASE, path, id, 4, &seg, 1),
		     SYM_MODULE_MISSING);
	cr_assert_eq(symbolizer_add_module(s, 0x1000, "linux-vdso.so.1", NULL, 0, &seg, 1),
		     SYM_MODULE_MISSING);
	cr_assert_eq(symbolizer_add_module(s, 0x9000, "[vdso]", NULL, 0, &seg, 1),
		     SYM_MODULE_MISSING);
	cr_assert_eq(symbolizer_add_module(s, 0x20000, "", NULL, 0, &seg, 1),
		     SYM_MODULE_MISSING);
	cr_assert_eq(symbolizer_resolve(s, FAKE_BASE + 0x1234, 1, f, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(f[0].ip, FAKE_BASE + 0x1234);
	cr_assert_not_null(f[0].module);
	cr_assert_str_eq(f[0].module, path);
	cr_assert_null(f[0].function);
	cr_assert_null(f[0].file);
	cr_assert_eq(f[0].line, 0);
	cr_assert_eq(f[0].inlined, 0);
	cr_assert_eq(symbolizer_resolve(s, 0x1010, 0, f, 4, &n), 0);
	cr_assert_str_eq(f[0].module, "linux-vdso.so.1");
	cr_assert_null(f[0].function);
	symbolizer_free(s);
}

Test(symbols, no_module_covers_the_address)
{
	struct symbolizer *s;
	struct sym_frame f[2];
	size_t n = 99;

	cr_assert_eq(symbolizer_new(&s), 0);
	cr_assert_eq(symbolizer_resolve(s, 0x1234, 1, f, 2, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(f[0].ip, 0x1234);
	cr_assert_null(f[0].module);
	cr_assert_null(f[0].function);
	cr_assert_null(f[0].file);
	cr_assert_eq(symbolizer_resolve(s, 0, 1, f, 2, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(symbolizer_resolve(s, 0x1234, 0, f, 0, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(symbolizer_resolve(s, 0x1234, 0, NULL, 2, &n), -EINVAL);
	cr_assert_eq(symbolizer_add_module(s, 0, NULL, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(symbolizer_add_module(s, 0, "/x", NULL, 0, NULL, 3), -EINVAL);
	symbolizer_free(s);
	symbolizer_free(NULL);
}

Test(symbols, cache_keeps_strings_and_max_cuts_outer_frames)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	struct symbolizer *s;
	uint64_t size, entry, a;
	struct sym_frame f[4], g[4];
	size_t n, m;

	read_elf(path, &ei);
	entry = find_symbol(path, "sym_outer", &size);
	s = new_with(path, 0, &ei, SYM_MODULE_OK);
	for (a = entry; a < entry + size; a++) {
		cr_assert_eq(symbolizer_resolve(s, a, 0, f, 4, &n), 0);
		if (n == 2)
			break;
	}
	cr_assert_eq(n, 2);
	cr_assert_eq(symbolizer_resolve(s, a, 0, g, 4, &m), 0);
	cr_assert_eq(m, 2);
	cr_assert_eq(g[0].function, f[0].function); /* same pointers: cached */
	cr_assert_eq(g[1].file, f[1].file);
	cr_assert_eq(symbolizer_resolve(s, a, 0, g, 1, &m), 0);
	cr_assert_eq(m, 1);
	cr_assert_str_eq(g[0].function, "sym_inner_alloc");
	/* is_return_address looks at a - 1: a different answer for the entry */
	cr_assert_eq(symbolizer_resolve(s, entry, 1, g, 4, &m), 0);
	cr_assert(m >= 1);
	cr_assert(g[m - 1].function == NULL || strcmp(g[m - 1].function, "sym_outer") != 0);
	symbolizer_free(s);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void *slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	void *buf;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Adds path and resolves a spread of addresses; only asks for no crash. */
static int poke(const char *path, const struct elfinfo *ei)
{
	struct symbolizer *s;
	int st;

	cr_assert_eq(symbolizer_new(&s), 0);
	st = symbolizer_add_module(s, 0, path, ei->build_id, ei->build_id_len, ei->segs,
				   ei->nsegs);
	cr_assert(st >= 0 && st <= SYM_MODULE_NO_BUILD_ID, "%s: status %d", path, st);
	for (uint64_t a = 0; a < 0x5000; a += 7) {
		struct sym_frame f[8];
		size_t n = 0;

		cr_assert_eq(symbolizer_resolve(s, a, (int)(a & 1), f, 8, &n), 0);
		cr_assert(n >= 1 && n <= 8);
		cr_assert_str_eq(f[0].module, path);
	}
	symbolizer_free(s);
	return st;
}

Test(symbols, hostile_files_never_crash)
{
	const char *bin = build_sample("pie", "");
	struct elfinfo ei;
	char p[256];
	size_t len;
	uint8_t *img;
	static const size_t cuts[] = { 1, 16, 63, 64, 65, 200, 1000, 4096, 8192 };

	read_elf(bin, &ei);
	/* segments covering 0..0x5000 so every poke lands in the module */
	ei.nsegs = 1;
	ei.segs[0].vaddr = 0;
	ei.segs[0].memsz = 0x5000;

	if (access("/etc/hostname", R_OK) == 0)
		cr_assert_eq(poke("/etc/hostname", &ei), SYM_MODULE_MISSING);
	snprintf(p, sizeof(p), "%s/garbage", tmpdir);
	write_file(p, "this is not an ELF file, not even close to one....................", 68);
	cr_assert_eq(poke(p, &ei), SYM_MODULE_MISSING);
	snprintf(p, sizeof(p), "%s/empty", tmpdir);
	write_file(p, "", 0);
	cr_assert_eq(poke(p, &ei), SYM_MODULE_MISSING);
	cr_assert_eq(poke(tmpdir, &ei), SYM_MODULE_MISSING);   /* a directory */
	cr_assert_eq(poke("/dev/zero", &ei), SYM_MODULE_MISSING); /* a device */
	snprintf(p, sizeof(p), "%s/fifo", tmpdir);
	cr_assert_eq(mkfifo(p, 0600), 0);
	cr_assert_eq(poke(p, &ei), SYM_MODULE_MISSING); /* must not block */
	snprintf(p, sizeof(p), "%s/unreadable", tmpdir);
	write_file(p, "x", 1);
	chmod(p, 0);
	cr_assert_eq(poke(p, &ei), SYM_MODULE_MISSING); /* root reads it anyway: garbage */

	img = slurp(bin, &len);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]) + 3; i++) {
		size_t cut = i < sizeof(cuts) / sizeof(cuts[0]) ? cuts[i]
			     : i == sizeof(cuts) / sizeof(cuts[0]) ? len / 2
			     : i == sizeof(cuts) / sizeof(cuts[0]) + 1 ? len - 1000 : len - 1;

		snprintf(p, sizeof(p), "%s/trunc-%zu", tmpdir, cut);
		write_file(p, img, cut);
		poke(p, &ei);
	}
	/* corrupted: header kept, then bytes flipped all over (sections,
	 * symbol tables, DWARF) with a fixed seed so a failure reproduces */
	for (unsigned round = 0; round < 8; round++) {
		uint8_t *bad = malloc(len);
		unsigned seed = 12345 + round;

		cr_assert_not_null(bad);
		memcpy(bad, img, len);
		for (size_t k = 0; k < len / 97; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = 64 + (seed >> 4) % (len - 64);

			bad[at] ^= (uint8_t)(seed >> 24) | 1;
		}
		snprintf(p, sizeof(p), "%s/corrupt-%u", tmpdir, round);
		write_file(p, bad, len);
		poke(p, &ei);
		free(bad);
	}
	free(img);
}

/*
 * The whole of sym_outer against binutils' addr2line -i -f: the same
 * function names, file basenames and lines, frame by frame.
 */
Test(symbols, agrees_with_addr2line)
{
	const char *path = build_sample("pie", "");
	struct elfinfo ei;
	struct symbolizer *s;
	uint64_t size, entry;
	char cmd[512], fn[256], loc[512];
	FILE *out;

	if (system("addr2line --version >/dev/null 2>&1") != 0)
		cr_skip_test("addr2line (binutils) not installed");
	read_elf(path, &ei);
	entry = find_symbol(path, "sym_outer", &size);
	s = new_with(path, 0, &ei, SYM_MODULE_OK);
	for (uint64_t a = entry; a < entry + size; a++) {
		struct sym_frame f[8];
		size_t n, k = 0;

		cr_assert_eq(symbolizer_resolve(s, a, 0, f, 8, &n), 0);
		snprintf(cmd, sizeof(cmd), "addr2line -i -f -e '%s' %#llx", path,
			 (unsigned long long)a);
		out = popen(cmd, "r");
		cr_assert_not_null(out);
		while (fgets(fn, sizeof(fn), out) && fgets(loc, sizeof(loc), out)) {
			char *colon = strrchr(loc, ':');

			fn[strcspn(fn, "\n")] = 0;
			cr_assert_lt(k, n, "addr2line has more frames at %#llx",
				     (unsigned long long)a);
			cr_assert_str_eq(f[k].function, fn);
			cr_assert_not_null(colon);
			*colon = 0;
			cr_assert_str_eq(base_name(f[k].file), base_name(loc));
			cr_assert_eq(f[k].line, (unsigned)strtoul(colon + 1, NULL, 10),
				     "%#llx frame %zu", (unsigned long long)a, k);
			k++;
		}
		pclose(out);
		cr_assert_eq(k, n, "frame count differs at %#llx", (unsigned long long)a);
	}
	symbolizer_free(s);
}

/* The test process itself, registered as the shim registers a process. */
struct self_ctx {
	struct symbolizer *s;
	int vdso_status;
};

static int add_self_module(struct dl_phdr_info *info, size_t sz, void *arg)
{
	struct self_ctx *ctx = arg;
	struct sym_segment segs[16];
	struct elfinfo ei;
	char exe[512];
	const char *path = info->dlpi_name;
	size_t nsegs = 0;
	int st;

	(void)sz;
	for (int i = 0; i < info->dlpi_phnum && nsegs < 16; i++) {
		if (info->dlpi_phdr[i].p_type != PT_LOAD)
			continue;
		segs[nsegs].vaddr = info->dlpi_phdr[i].p_vaddr;
		segs[nsegs].memsz = info->dlpi_phdr[i].p_memsz;
		segs[nsegs].flags = info->dlpi_phdr[i].p_flags;
		nsegs++;
	}
	if (!path[0]) { /* the main program: the analyzer uses PROCESS.exe */
		ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		cr_assert_gt(l, 0);
		exe[l] = 0;
		path = exe;
	}
	memset(&ei, 0, sizeof(ei));
	if (path[0] == '/')
		read_elf(path, &ei);
	st = symbolizer_add_module(ctx->s, info->dlpi_addr, path, ei.build_id, ei.build_id_len,
				   segs, nsegs);
	if (strstr(path, "vdso"))
		ctx->vdso_status = st;
	else
		cr_assert(st == SYM_MODULE_OK || st == SYM_MODULE_NO_BUILD_ID,
			  "%s: status %d", path, st);
	return 0;
}

__attribute__((noinline)) static uint64_t self_marker(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

Test(symbols, resolves_own_process_modules)
{
	struct self_ctx ctx = { .vdso_status = -1 };
	struct sym_frame f[8];
	size_t n;
	uint64_t ret;

	cr_assert_eq(symbolizer_new(&ctx.s), 0);
	dl_iterate_phdr(add_self_module, &ctx);
	cr_assert(ctx.vdso_status == -1 || ctx.vdso_status == SYM_MODULE_MISSING);

	cr_assert_eq(symbolizer_resolve(ctx.s, (uint64_t)(uintptr_t)&self_marker, 0, f, 8, &n), 0);
	cr_assert_str_eq(f[n - 1].function, "self_marker");
	cr_assert_str_eq(base_name(f[n - 1].file), "test_symbols.c");

	ret = self_marker(); /* a return address into this very test */
	cr_assert_eq(symbolizer_resolve(ctx.s, ret, 1, f, 8, &n), 0);
	cr_assert_not_null(f[n - 1].function);
	cr_assert(strstr(f[n - 1].function, "resolves_own_process_modules") != NULL,
		  "return address in %s", f[n - 1].function);

	/* libc, wherever it was loaded */
	cr_assert_eq(symbolizer_resolve(ctx.s, (uint64_t)(uintptr_t)&getpid, 0, f, 8, &n), 0);
	cr_assert_not_null(f[n - 1].module);
	cr_assert(strstr(f[n - 1].module, "libc.so") != NULL, "module %s", f[n - 1].module);
	cr_assert_not_null(f[n - 1].function);
	cr_assert(strstr(f[n - 1].function, "getpid") != NULL, "function %s",
		  f[n - 1].function);
	symbolizer_free(ctx.s);
}
