/*
 * symbols.c - offline symbolization of instruction pointers with libdwfl.
 *
 * Every module of a trace gets its own offline Dwfl session, reported at the
 * load bias the trace recorded, so modules that overlap in time (unloaded and
 * reloaded at the same address) never collide inside libdwfl; the symbolizer
 * picks the module itself from the recorded PT_LOAD segments. A file is only
 * ever opened read-only and parsed; nothing named in a trace is executed.
 * Results are cached per (ip, is_return_address) and every string handed out
 * is interned here, so it outlives the libdw session that produced it.
 */
#include "symbols.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#define SYM_MAX_FRAMES 64 /* inline depth cap; deeper chains are cut at the innermost */

struct sym_module {
	uint64_t base;
	const char *path; /* interned */
	uint8_t *build_id;
	size_t build_id_len;
	struct sym_segment *segs;
	size_t nsegs;
	int status;	    /* enum sym_module_status */
	Dwfl *dwfl;	    /* NULL when missing */
	Dwfl_Module *mod;   /* NULL when missing */
};

struct sym_cache_key {
	uint64_t ip;
	uint64_t is_return;
};

struct sym_cache_entry {
	struct sym_cache_key key;
	size_t n;
	struct sym_frame *frames;
	UT_hash_handle hh;
};

struct sym_string {
	UT_hash_handle hh;
	char str[]; /* key */
};

struct symbolizer {
	struct sym_module *mods;
	size_t nmods, capmods;
	struct sym_cache_entry *cache;
	struct sym_string *strings;
};

/* The callbacks of an offline session: debuginfo found by build-id under
 * /usr/lib/debug/.build-id or through .gnu_debuglink. */
static char *sym_debuginfo_path;
static const Dwfl_Callbacks sym_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &sym_debuginfo_path,
};

static const char *sym_intern(struct symbolizer *s, const char *str)
{
	struct sym_string *e;
	size_t len;

	if (!str)
		return NULL;
	HASH_FIND_STR(s->strings, str, e);
	if (e)
		return e->str;
	len = strlen(str);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memset(&e->hh, 0, sizeof(e->hh));
	memcpy(e->str, str, len + 1);
	HASH_ADD(hh, s->strings, str[0], len, e);
	return e->str;
}

/*
 * C++ names: __cxa_demangle lives in libstdc++, which the analyzer does not
 * link; it is looked up once with dlopen and used when present. The library
 * is a system one, never a module of the trace.
 */
typedef char *(*sym_demangle_fn)(const char *, char *, size_t *, int *);

static sym_demangle_fn sym_demangler(void)
{
	static int tried;
	static sym_demangle_fn fn;

	if (!tried) {
		void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

		tried = 1;
		if (h)
			*(void **)&fn = dlsym(h, "__cxa_demangle");
	}
	return fn;
}

/* Interns name, demangled when it is a C++ mangled name and a demangler is
 * at hand, without an ELF symbol version suffix ("fopen@@GLIBC_2.2.5"). */
static const char *sym_intern_name(struct symbolizer *s, const char *name)
{
	const char *r;
	char *tmp = NULL;

	if (!name)
		return NULL;
	if (strchr(name, '@')) {
		tmp = strndup(name, (size_t)(strchr(name, '@') - name));
		if (!tmp)
			return NULL;
		name = tmp;
	}
	if (name[0] == '_' && name[1] == 'Z') {
		sym_demangle_fn fn = sym_demangler();
		int status = -1;
		char *d = fn ? fn(name, NULL, NULL, &status) : NULL;

		if (d && status == 0) {
			r = sym_intern(s, d);
			free(d);
			free(tmp);
			return r;
		}
		free(d);
	}
	r = sym_intern(s, name);
	free(tmp);
	return r;
}

/* Interns file made absolute against the compilation directory, as
 * addr2line prints it. A leading "./" is dropped; a relative compilation
 * directory (Debian maps its build paths to ".") is not joined, the name
 * would not get any more findable. */
static const char *sym_intern_path(struct symbolizer *s, const char *file, const char *comp_dir)
{
	const char *r;
	char *joined;
	size_t dlen;

	if (!file)
		return NULL;
	if (file[0] == '/')
		return sym_intern(s, file);
	while (file[0] == '.' && file[1] == '/')
		file += 2;
	if (!comp_dir || comp_dir[0] != '/')
		return sym_intern(s, file);
	dlen = strlen(comp_dir);
	joined = malloc(dlen + 1 + strlen(file) + 1);
	if (!joined)
		return NULL;
	memcpy(joined, comp_dir, dlen);
	if (comp_dir[dlen - 1] != '/')
		joined[dlen++] = '/';
	strcpy(joined + dlen, file);
	r = sym_intern(s, joined);
	free(joined);
	return r;
}

int symbolizer_new(struct symbolizer **out)
{
	struct symbolizer *s;

	if (!out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	elf_version(EV_CURRENT);
	*out = s;
	return 0;
}

/* Opens path for reading without blocking on a FIFO or a device and without
 * ever following it into something that is not a regular file. */
static int sym_open_regular(const char *path)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: a hostile path naming a FIFO must not hang the open */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int sym_is_pseudo_path(const char *path)
{
	/* the vdso lives only in memory; a same-named file in the cwd is not it */
	return path[0] == '\0' || path[0] == '[' || strncmp(path, "linux-vdso.so", 13) == 0 ||
	       strncmp(path, "linux-gate.so", 13) == 0;
}

/* Only executables and shared objects are modules: a relocatable object
 * or a core file named by a trace would be placed by other rules. */
static int sym_is_loadable(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	GElf_Ehdr ehdr;
	Elf *elf = dwfl_module_getelf(mod, &bias);

	if (!elf || !gelf_getehdr(elf, &ehdr))
		return 0;
	return ehdr.e_type == ET_EXEC || ehdr.e_type == ET_DYN;
}

/* Opens the module's file and reports it at its bias; leaves m->status. */
static void sym_open_module(struct sym_module *m)
{
	const unsigned char *bits = NULL;
	GElf_Addr bid_vaddr = 0;
	int fd, len;

	m->status = SYM_MODULE_MISSING;
	if (sym_is_pseudo_path(m->path))
		return;
	fd = sym_open_regular(m->path);
	if (fd < 0)
		return;
	m->dwfl = dwfl_begin(&sym_callbacks);
	if (!m->dwfl) {
		close(fd);
		return;
	}
	dwfl_report_begin(m->dwfl);
	/* add_p_vaddr: runtime address = base + p_vaddr for ET_DYN, and
	 * libdwfl ignores base for ET_EXEC whose bias is 0 by definition */
	m->mod = dwfl_report_elf(m->dwfl, m->path, m->path, fd, m->base, true);
	if (!m->mod)
		close(fd); /* consumed only on success */
	if (dwfl_report_end(m->dwfl, NULL, NULL) != 0 || !m->mod) {
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		m->mod = NULL;
		return;
	}
	if (!sym_is_loadable(m->mod)) {
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		m->mod = NULL;
		return;
	}
	len = dwfl_module_build_id(m->mod, &bits, &bid_vaddr);
	if (len <= 0 || m->build_id_len == 0)
		m->status = SYM_MODULE_NO_BUILD_ID;
	else if ((size_t)len != m->build_id_len || memcmp(bits, m->build_id, (size_t)len) != 0)
		m->status = SYM_MODULE_STALE;
	else
		m->status = SYM_MODULE_OK;
}

int symbolizer_add_module(struct symbolizer *s, uint64_t base, const char *path,
			  const uint8_t *build_id, size_t build_id_len,
			  const struct sym_segment *segs, size_t nsegs)
{
	struct sym_module *m;

	if (!s || !path || (nsegs && !segs) || (build_id_len && !build_id))
		return -EINVAL;
	if (s->nmods == s->capmods) {
		size_t cap = s->capmods ? s->capmods * 2 : 16;
		struct sym_module *n = realloc(s->mods, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->mods = n;
		s->capmods = cap;
	}
	m = &s->mods[s->nmods];
	memset(m, 0, sizeof(*m));
	m->base = base;
	m->path = sym_intern(s, path);
	if (!m->path)
		return -ENOMEM;
	if (build_id_len) {
		m->build_id = malloc(build_id_len);
		if (!m->build_id)
			return -ENOMEM;
		memcpy(m->build_id, build_id, build_id_len);
		m->build_id_len = build_id_len;
	}
	if (nsegs) {
		m->segs = malloc(nsegs * sizeof(*segs));
		if (!m->segs) {
			free(m->build_id);
			return -ENOMEM;
		}
		memcpy(m->segs, segs, nsegs * sizeof(*segs));
		m->nsegs = nsegs;
	}
	sym_open_module(m);
	s->nmods++;
	return m->status;
}

static int sym_module_covers(const struct sym_module *m, uint64_t addr)
{
	if (m->nsegs) {
		for (size_t i = 0; i < m->nsegs; i++) {
			uint64_t lo = m->base + m->segs[i].vaddr;

			if (addr >= lo && addr - lo < m->segs[i].memsz)
				return 1;
		}
		return 0;
	}
	if (m->mod) { /* no recorded segments: trust the file's own layout */
		Dwarf_Addr start, end;

		dwfl_module_info(m->mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
		return addr >= start && addr < end;
	}
	return 0;
}

/* The module covering addr; the most recently added wins when several do. */
static struct sym_module *sym_find_module(struct symbolizer *s, uint64_t addr)
{
	for (size_t i = s->nmods; i-- > 0;)
		if (sym_module_covers(&s->mods[i], addr))
			return &s->mods[i];
	return NULL;
}

/* The name of a function DIE: a C++ linkage name demangled, as it is
 * qualified; else DW_AT_name (an asm label like glibc's __GI_ aliases is not
 * the name users know); else the raw linkage name. Both follow
 * abstract_origin and specification, so an inlined instance or an
 * out-of-line clone is named after its source function. */
static const char *sym_die_name(struct symbolizer *s, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *linkage = NULL, *name;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		linkage = dwarf_formstring(&attr);
	if (linkage && linkage[0] == '_' && linkage[1] == 'Z' && sym_demangler())
		return sym_intern_name(s, linkage);
	name = dwarf_diename(die);
	return sym_intern_name(s, name ? name : linkage);
}

static int sym_is_function_scope(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);

	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

/*
 * Expands addr into frames with DWARF: the innermost scope from
 * dwarf_getscopes, then its physical parents from dwarf_getscopes_die
 * (dwarf_getscopes itself continues into the abstract origin's scopes).
 * Each inlined level reports the line the level inside it was called from,
 * as addr2line -i does. file/line are those of the line table at addr.
 * Returns the frame count, 0 when there is no DWARF scope for addr.
 */
static size_t sym_expand_dwarf(struct symbolizer *s, struct sym_module *m, Dwarf_Addr addr,
			       const char *file, unsigned line,
			       struct sym_frame *out, size_t max)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cudie, *scopes = NULL, *chain = NULL, innermost;
	Dwarf_Files *files = NULL;
	Dwarf_Attribute attr;
	size_t nfiles = 0, n = 0;
	const char *comp_dir;
	int nscopes, nchain;

	cudie = dwfl_module_addrdie(m->mod, addr, &bias);
	if (!cudie)
		return 0;
	nscopes = dwarf_getscopes(cudie, addr - bias, &scopes);
	if (nscopes <= 0) {
		free(scopes);
		return 0;
	}
	innermost = scopes[0];
	free(scopes);
	nchain = dwarf_getscopes_die(&innermost, &chain);
	if (nchain <= 0) {
		free(chain);
		return 0;
	}
	if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
		files = NULL;
	comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));

	for (int i = 0; i < nchain && n < max; i++) {
		Dwarf_Die *die = &chain[i];
		Dwarf_Word val;
		int inlined;

		if (!sym_is_function_scope(die))
			continue;
		inlined = dwarf_tag(die) == DW_TAG_inlined_subroutine;
		out[n].function = sym_die_name(s, die);
		out[n].file = file;
		out[n].line = line;
		out[n].module = m->path;
		out[n].inlined = inlined;
		n++;
		if (!inlined)
			break; /* the containing function: the physical frame ends here */
		/* the next frame out is at this inline's call site */
		file = NULL;
		line = 0;
		if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &val) == 0 &&
		    val < nfiles)
			file = sym_intern_path(s, dwarf_filesrc(files, val, NULL, NULL), comp_dir);
		if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &val) == 0 &&
		    val <= UINT32_MAX)
			line = (unsigned)val;
	}
	free(chain);
	/* a chain of inlines with no subprogram above (broken DWARF, or the
	 * frame cap): the last one stands for the containing function */
	if (n)
		out[n - 1].inlined = 0;
	return n;
}

static size_t sym_resolve_uncached(struct symbolizer *s, uint64_t addr,
				   struct sym_frame *out, size_t max)
{
	struct sym_module *m = sym_find_module(s, addr);
	const char *symname, *file = NULL;
	unsigned line = 0;
	Dwfl_Line *l;
	GElf_Off off;
	GElf_Sym sym;
	size_t n;

	memset(&out[0], 0, sizeof(out[0]));
	if (!m)
		return 1;
	out[0].module = m->path;
	if (!m->mod)
		return 1; /* missing: the caller has the module and can print an offset */

	l = dwfl_module_getsrc(m->mod, addr);
	if (l) {
		int lineno = 0;
		const char *f = dwfl_lineinfo(l, NULL, &lineno, NULL, NULL, NULL);

		if (f && lineno > 0) {
			file = sym_intern_path(s, f, dwfl_line_comp_dir(l));
			line = (unsigned)lineno;
		}
	}

	n = sym_expand_dwarf(s, m, addr, file, line, out, max);
	if (n && out[n - 1].function)
		return n;
	/* no DWARF scope, or a nameless one: the symbol table names it */
	symname = dwfl_module_addrinfo(m->mod, addr, &off, &sym, NULL, NULL, NULL);
	if (n == 0) {
		out[0].file = file;
		out[0].line = line;
		n = 1;
	}
	out[n - 1].function = sym_intern_name(s, symname);
	return n;
}

int symbolizer_resolve(struct symbolizer *s, uint64_t ip, int is_return_address,
		       struct sym_frame *frames, size_t max, size_t *n)
{
	struct sym_cache_key key;
	struct sym_cache_entry *e;

	if (!s || !n || (max && !frames))
		return -EINVAL;
	memset(&key, 0, sizeof(key));
	key.ip = ip;
	key.is_return = is_return_address ? 1 : 0;
	HASH_FIND(hh, s->cache, &key, sizeof(key), e);
	if (!e) {
		struct sym_frame tmp[SYM_MAX_FRAMES];
		uint64_t addr = (is_return_address && ip > 0) ? ip - 1 : ip;
		size_t cnt;

		memset(tmp, 0, sizeof(tmp));
		cnt = sym_resolve_uncached(s, addr, tmp, SYM_MAX_FRAMES);
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->frames = calloc(cnt, sizeof(*e->frames));
		if (!e->frames) {
			free(e);
			return -ENOMEM;
		}
		for (size_t i = 0; i < cnt; i++) {
			e->frames[i] = tmp[i];
			e->frames[i].ip = ip;
		}
		e->n = cnt;
		e->key = key;
		HASH_ADD(hh, s->cache, key, sizeof(key), e);
	}
	*n = e->n < max ? e->n : max;
	if (*n)
		memcpy(frames, e->frames, *n * sizeof(*frames));
	return 0;
}

void symbolizer_free(struct symbolizer *s)
{
	struct sym_cache_entry *e, *etmp;
	struct sym_string *str, *stmp;

	if (!s)
		return;
	for (size_t i = 0; i < s->nmods; i++) {
		if (s->mods[i].dwfl)
			dwfl_end(s->mods[i].dwfl);
		free(s->mods[i].build_id);
		free(s->mods[i].segs);
	}
	free(s->mods);
	HASH_ITER(hh, s->cache, e, etmp) {
		HASH_DEL(s->cache, e);
		free(e->frames);
		free(e);
	}
	HASH_ITER(hh, s->strings, str, stmp) {
		HASH_DEL(s->strings, str);
		free(str);
	}
	free(s);
}
