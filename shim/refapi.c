/*
 * refapi.c - which refcounting functions are traced, and the GOT surgery
 * that routes every call of them through a trampoline (see refapi.h).
 *
 * No malloc here: the tables are static.
 * x86_64 and glibc only: the trampolines are assembly, the relocations
 * R_X86_64_JUMP_SLOT and R_X86_64_GLOB_DAT.
 */
#include "refapi.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "refscope_format.h"
#include "unwind.h"
#include "writer.h"

#if !defined(__x86_64__)
#error "refapi.c: GOT redirection is implemented for x86_64 only"
#endif

struct func {
	char name[RS_REFAPI_NAME_MAX];
	size_t len;
	struct rs_refapi_fn f;
};

struct api {
	const char *name;
	unsigned how;
	unsigned first, nretain, nrelease; /* funcs[first..]: retains, then releases */
	int entry;	/* the defining module's entries are detoured too (see below) */
};

#define MAX_APIS (RS_REFAPI_USER_FIRST + RS_REFAPI_MAX_USER)
#define MAX_FUNCS (8 + 2 * RS_REFAPI_MAX_USER)

static struct func funcs[MAX_FUNCS];
static unsigned nfuncs;
static struct api apis[MAX_APIS];	/* by id; apis[0] unused */
static unsigned napis;			/* highest id + 1 */
static atomic_int announced[MAX_APIS];	/* 0 no, 1 being written, 2 written */

struct tramp {
	struct rs_refapi_fn f;
	unsigned func;
	void *_Atomic target;
};

static struct tramp tramps[RS_REFAPI_TRAMPS];
static atomic_uint ntramps;
static atomic_int tramp_lock;	/* the trampoline table; never held across a loader call */
static atomic_int scan_lock;	/* one scanner; others leave it a rescan request */
static atomic_int scan_again;

rs_refapi_hit_t rs_refapi_hit_fn;


/* ---- trampolines ----------------------------------------------------------
 *
 * rs_refapi_tramps is RS_REFAPI_TRAMPS entries of 16 bytes; entry i loads i
 * into r11 (scratch, never an argument) and jumps to the common part, which
 * saves the argument registers (rdi rsi rdx rcx r8 r9, rax for varargs,
 * xmm0-7), calls rs_refapi_enter(i, rdi) with the stack 16-byte aligned,
 * restores them and jumps to the target it returned. The call's return
 * address is untouched, so the target returns straight to the caller and
 * the unwinder (CFI below) walks from the record function to the caller.
 */
void *rs_refapi_enter(unsigned idx, const void *obj) __attribute__((visibility("hidden")));

__asm__(".text\n"
	".p2align 4\n"
	".type rs_refapi_common, @function\n"
	"rs_refapi_common:\n"
	".cfi_startproc\n"
	"push %rdi\n.cfi_adjust_cfa_offset 8\n"
	"push %rsi\n.cfi_adjust_cfa_offset 8\n"
	"push %rdx\n.cfi_adjust_cfa_offset 8\n"
	"push %rcx\n.cfi_adjust_cfa_offset 8\n"
	"push %r8\n.cfi_adjust_cfa_offset 8\n"
	"push %r9\n.cfi_adjust_cfa_offset 8\n"
	"push %rax\n.cfi_adjust_cfa_offset 8\n"
	"push %r11\n.cfi_adjust_cfa_offset 8\n"
	"sub $136, %rsp\n.cfi_adjust_cfa_offset 136\n"
	"movaps %xmm0, 0(%rsp)\n"
	"movaps %xmm1, 16(%rsp)\n"
	"movaps %xmm2, 32(%rsp)\n"
	"movaps %xmm3, 48(%rsp)\n"
	"movaps %xmm4, 64(%rsp)\n"
	"movaps %xmm5, 80(%rsp)\n"
	"movaps %xmm6, 96(%rsp)\n"
	"movaps %xmm7, 112(%rsp)\n"
	"mov %r11d, %edi\n"
	"mov 192(%rsp), %rsi\n"		/* the saved rdi: the object */
	"call rs_refapi_enter\n"
	"mov %rax, %r11\n"
	"movaps 0(%rsp), %xmm0\n"
	"movaps 16(%rsp), %xmm1\n"
	"movaps 32(%rsp), %xmm2\n"
	"movaps 48(%rsp), %xmm3\n"
	"movaps 64(%rsp), %xmm4\n"
	"movaps 80(%rsp), %xmm5\n"
	"movaps 96(%rsp), %xmm6\n"
	"movaps 112(%rsp), %xmm7\n"
	"add $144, %rsp\n.cfi_adjust_cfa_offset -144\n"	/* and the saved r11 */
	"pop %rax\n.cfi_adjust_cfa_offset -8\n"
	"pop %r9\n.cfi_adjust_cfa_offset -8\n"
	"pop %r8\n.cfi_adjust_cfa_offset -8\n"
	"pop %rcx\n.cfi_adjust_cfa_offset -8\n"
	"pop %rdx\n.cfi_adjust_cfa_offset -8\n"
	"pop %rsi\n.cfi_adjust_cfa_offset -8\n"
	"pop %rdi\n.cfi_adjust_cfa_offset -8\n"
	"jmp *%r11\n"
	".cfi_endproc\n"
	".size rs_refapi_common, .-rs_refapi_common\n"
	".p2align 4\n"
	".globl rs_refapi_tramps\n"
	".hidden rs_refapi_tramps\n"
	".type rs_refapi_tramps, @function\n"
	"rs_refapi_tramps:\n"
	".cfi_startproc\n"
	".set rs_refapi_i, 0\n"
	".rept 256\n"
	"movl $rs_refapi_i, %r11d\n"
	"jmp rs_refapi_common\n"
	".p2align 4\n"
	".set rs_refapi_i, rs_refapi_i + 1\n"
	".endr\n"
	".cfi_endproc\n"
	".size rs_refapi_tramps, .-rs_refapi_tramps\n");

extern const char rs_refapi_tramps[] __attribute__((visibility("hidden")));
_Static_assert(RS_REFAPI_TRAMPS == 256, "the .rept count above");
#define TRAMP_SIZE 16

void *rs_refapi_enter(unsigned idx, const void *obj)
{
	rs_refapi_hit_t hit = rs_refapi_hit_fn;

	if (hit)
		hit(idx, obj);
	return atomic_load_explicit(&tramps[idx].target, memory_order_acquire);
}

static void *tramp_addr(unsigned i)
{
	return (void *)(rs_refapi_tramps + (size_t)i * TRAMP_SIZE);
}

static int is_tramp(uintptr_t p)
{
	uintptr_t lo = (uintptr_t)rs_refapi_tramps;

	return p >= lo && p < lo + RS_REFAPI_TRAMPS * TRAMP_SIZE;
}

const struct rs_refapi_fn *rs_refapi_tramp_fn(unsigned idx)
{
	return &tramps[idx < RS_REFAPI_TRAMPS ? idx : 0].f;
}

/* ---- entry detours (the table; the patching is below) -------------------- */

#define MAX_DETOURS 8

static uintptr_t detoured[MAX_DETOURS];	/* functions whose entry jumps to a trampoline */
static atomic_uint ndetoured;

static int is_detoured(uintptr_t fn)
{
	unsigned n = atomic_load_explicit(&ndetoured, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (detoured[i] == fn)
			return 1;
	return 0;
}

/* The trampoline for (func, target), made on first use; -1 when full. */
static int tramp_get(unsigned func, void *target)
{
	unsigned n;
	int found = -1;

	while (atomic_exchange_explicit(&tramp_lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
	n = atomic_load(&ntramps);
	for (unsigned i = 0; i < n && found < 0; i++)
		if (tramps[i].func == func && atomic_load(&tramps[i].target) == target)
			found = (int)i;
	if (found < 0 && n < RS_REFAPI_TRAMPS) {
		tramps[n].func = func;
		tramps[n].f = funcs[func].f;
		atomic_store_explicit(&tramps[n].target, target, memory_order_release);
		atomic_store(&ntramps, n + 1);
		found = (int)n;
	}
	atomic_store_explicit(&tramp_lock, 0, memory_order_release);
	return found;
}

/* ---- the APIs ------------------------------------------------------------ */

static void add_func(const char *name, size_t len, unsigned api, unsigned fn, int release)
{
	struct func *f = &funcs[nfuncs++];

	memcpy(f->name, name, len);
	f->name[len] = 0;
	f->len = len;
	f->f.api = (uint8_t)api;
	f->f.fn = (uint8_t)fn;
	f->f.release = (uint8_t)release;
}

static void add_api(unsigned id, const char *name, unsigned how, const char *const *ret,
		    unsigned nret, const char *const *rel, unsigned nrel)
{
	apis[id].name = name;
	apis[id].how = how;
	apis[id].entry = 0;
	apis[id].first = nfuncs;
	apis[id].nretain = nret;
	apis[id].nrelease = nrel;
	for (unsigned i = 0; i < nret; i++)
		add_func(ret[i], strlen(ret[i]), id, i, 0);
	for (unsigned i = 0; i < nrel; i++)
		add_func(rel[i], strlen(rel[i]), id, i, 1);
	if (id + 1 > napis)
		napis = id + 1;
}

static int valid_name(const char *s, size_t n)
{
	if (n == 0 || n >= RS_REFAPI_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '$' || c == '@'))
			return 0;
	}
	return 1;
}

/* One "retain:release" pair from [s, e). */
static int add_user_pair(const char *s, const char *e)
{
	const char *colon = memchr(s, ':', (size_t)(e - s));
	unsigned id = napis < RS_REFAPI_USER_FIRST ? RS_REFAPI_USER_FIRST : napis;
	char a[RS_REFAPI_NAME_MAX], b[RS_REFAPI_NAME_MAX];
	const char *ra[1] = { a }, *rb[1] = { b };
	size_t na, nb;

	if (!colon || id >= MAX_APIS)
		return 0;
	na = (size_t)(colon - s);
	nb = (size_t)(e - colon - 1);
	if (!valid_name(s, na) || !valid_name(colon + 1, nb))
		return 0;
	memcpy(a, s, na);
	a[na] = 0;
	memcpy(b, colon + 1, nb);
	b[nb] = 0;
	add_api(id, "user", RS_REFAPI_HOW_GOT, ra, 1, rb, 1);
	return 1;
}

int rs_refapi_init(const char *spec)
{
	static const char *const gret[] = { "g_object_ref", "g_object_ref_sink" };
	static const char *const grel[] = { "g_object_unref" };
	static const char *const pret[] = { "Py_IncRef", "_Py_IncRef" };
	static const char *const prel[] = { "Py_DecRef", "_Py_DecRef" };
	static const char *const aret[] = { "refscope_retain" };
	static const char *const arel[] = { "refscope_release" };
	int users = 0;

	nfuncs = 0;
	napis = 0;
	add_api(RS_REFAPI_GOBJECT, "gobject", RS_REFAPI_HOW_GOT, gret, 2, grel, 1);
	apis[RS_REFAPI_GOBJECT].entry = 1;	/* libgobject binds its own calls directly */
	add_api(RS_REFAPI_CPYTHON, "cpython", RS_REFAPI_HOW_GOT, pret, 2, prel, 2);
	/* never looked up in a GOT: the shim exports refscope__retain itself */
	add_api(RS_REFAPI_ANNOTATION, "annotation", RS_REFAPI_HOW_ANNOTATION, aret, 1, arel, 1);
	nfuncs -= 2;	/* ... so its names are not matched against relocations */
	while (spec && *spec) {
		const char *e = strchr(spec, ',');

		if (!e)
			e = spec + strlen(spec);
		users += add_user_pair(spec, e);
		spec = *e ? e + 1 : e;
	}
	return users;
}

unsigned rs_refapi_count(void)
{
	return napis ? napis - 1 : 0;
}

static int find_func(const char *name)
{
	for (unsigned i = 0; i < nfuncs; i++)
		if (funcs[i].name[0] == name[0] && strcmp(funcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

int rs_refapi_wants(const char *name)
{
	return name && find_func(name) >= 0;
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s), k = rs_put_uvarint(p, n);

	memcpy(p + k, s, n);
	return k + n;
}

size_t rs_refapi_record(unsigned api, uint8_t *out, size_t cap)
{
	const struct api *a;
	uint8_t body[64 + 8 * (RS_REFAPI_NAME_MAX + RS_UVARINT_MAX)];
	uint8_t *p = body;
	size_t n, hn;
	const char *const aname[2] = { "refscope_retain", "refscope_release" };

	if (api == 0 || api >= napis || !apis[api].name)
		return 0;
	a = &apis[api];
	p += rs_put_uvarint(p, api);
	p += put_str(p, a->name);
	p += rs_put_uvarint(p, a->nretain);
	for (unsigned i = 0; i < a->nretain; i++)
		p += put_str(p, api == RS_REFAPI_ANNOTATION ? aname[0] : funcs[a->first + i].name);
	p += rs_put_uvarint(p, a->nrelease);
	for (unsigned i = 0; i < a->nrelease; i++)
		p += put_str(p, api == RS_REFAPI_ANNOTATION ? aname[1] :
							      funcs[a->first + a->nretain + i].name);
	p += rs_put_uvarint(p, a->how);
	n = (size_t)(p - body);
	if (cap < 1 + RS_UVARINT_MAX + n)
		return 0;
	out[0] = RS_REC_REFAPI;
	hn = 1 + rs_put_uvarint(out + 1, n);
	memcpy(out + hn, body, n);
	return hn + n;
}

static void write_refapi(unsigned api)
{
	uint8_t rec[128 + 8 * (RS_REFAPI_NAME_MAX + RS_UVARINT_MAX)];
	size_t n = rs_refapi_record(api, rec, sizeof(rec));

	if (n)
		rs_writer_out(rec, n);
}

void rs_refapi_announce(unsigned api)
{
	int st;

	if (api >= MAX_APIS)
		return;
	st = atomic_load_explicit(&announced[api], memory_order_acquire);
	if (st == 2)
		return;
	st = 0;
	if (atomic_compare_exchange_strong(&announced[api], &st, 1)) {
		write_refapi(api);
		atomic_store_explicit(&announced[api], 2, memory_order_release);
		return;
	}
	/* another thread is writing it: the event must come after the record */
	while (atomic_load_explicit(&announced[api], memory_order_acquire) != 2)
		__builtin_ia32_pause();
}

void rs_refapi_announce_all(void)
{
	for (unsigned api = 1; api < napis && api < MAX_APIS; api++)
		if (atomic_load(&announced[api]) == 2)
			write_refapi(api);
}

void *rs_refapi_redirect(const char *name, void *target)
{
	int f, t;

	if (!target || !name || is_tramp((uintptr_t)target) || is_detoured((uintptr_t)target))
		return target;
	f = find_func(name);
	if (f < 0)
		return target;
	t = tramp_get((unsigned)f, target);
	if (t < 0)
		return target;
	rs_refapi_announce(funcs[f].f.api);
	return tramp_addr((unsigned)t);
}

/* ---- modules -------------------------------------------------------------
 *
 * Everything happens inside dl_iterate_phdr's callback: the loader holds its
 * list lock there, so no module is unmapped under us (dlclose takes that
 * lock to unlink one). The loader lists a module while another thread is
 * still relocating it; _dl_find_object knows it only once relocated, so an
 * unknown one is left for a later scan. The shim calls neither dlopen nor
 * dlsym here: dlopen(RTLD_NOLOAD) would run constructors of modules not
 * initialized yet (the shim may be initializing inside GLib's constructor),
 * and dlsym takes the other loader lock, in the opposite order to dlopen.
 */

#define MAX_SEEN 4096

struct seen {
	uintptr_t base, dyn;
	uint32_t gen;
};

struct mod {
	uintptr_t base, dyn, lo, hi, relro_lo, relro_hi;
	const ElfW(Sym) *symtab;
	const char *strtab;
	const uint32_t *gnu_hash, *sysv_hash;
	const ElfW(Half) *versym;
	const ElfW(Rela) *tabs[2];
	size_t sizes[2];
	uint64_t flags_1;	/* DT_FLAGS_1 */
};

static struct seen seen[MAX_SEEN];
static unsigned nseen;
static uint32_t seen_gen;
static uintptr_t skip_lo, skip_hi;
static int scan_done;
static int scan_pending;		/* a module was not relocated yet */
static unsigned long long last_adds = ~0ull, last_subs;

void rs_refapi_forget_modules(void)
{
	while (atomic_exchange_explicit(&scan_lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
	nseen = 0;
	last_adds = ~0ull;
	atomic_store_explicit(&scan_lock, 0, memory_order_release);
}

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
	/* glibc relocates d_ptr entries in place; a read-only dynamic section
	 * keeps link-time addresses */
	return v < base ? v + base : v;
}

/* Fills m from the program headers; 0, or -1 when it has no usable dynamic
 * section or is the shim itself or the vDSO. */
static int mod_load(struct mod *m, const struct dl_phdr_info *info)
{
	uintptr_t base = info->dlpi_addr, pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	size_t relaent = sizeof(ElfW(Rela));
	int pltrel_rela = 1;

	memset(m, 0, sizeof(*m));
	m->base = base;
	m->lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_DYNAMIC)
			m->dyn = base + ph->p_vaddr;
		if (ph->p_type == PT_LOAD) {
			if (base + ph->p_vaddr < m->lo)
				m->lo = base + ph->p_vaddr;
			if (base + ph->p_vaddr + ph->p_memsz > m->hi)
				m->hi = base + ph->p_vaddr + ph->p_memsz;
		}
		if (ph->p_type == PT_GNU_RELRO) {
			/* the pages the loader made read-only (it rounds both ends down) */
			m->relro_lo = (base + ph->p_vaddr) & ~(pg - 1);
			m->relro_hi = (base + ph->p_vaddr + ph->p_memsz) & ~(pg - 1);
		}
	}
	if (!m->dyn || (m->lo <= skip_lo && skip_lo < m->hi) ||
	    base == getauxval(AT_SYSINFO_EHDR))
		return -1;
	for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)m->dyn; d->d_tag != DT_NULL; d++) {
		uintptr_t v = d->d_un.d_ptr;

		switch (d->d_tag) {
		case DT_SYMTAB: m->symtab = (const ElfW(Sym) *)dyn_ptr(base, v); break;
		case DT_STRTAB: m->strtab = (const char *)dyn_ptr(base, v); break;
		case DT_GNU_HASH: m->gnu_hash = (const uint32_t *)dyn_ptr(base, v); break;
		case DT_HASH: m->sysv_hash = (const uint32_t *)dyn_ptr(base, v); break;
		case DT_VERSYM: m->versym = (const ElfW(Half) *)dyn_ptr(base, v); break;
		case DT_JMPREL: m->tabs[0] = (const ElfW(Rela) *)dyn_ptr(base, v); break;
		case DT_PLTRELSZ: m->sizes[0] = d->d_un.d_val; break;
		case DT_PLTREL: pltrel_rela = d->d_un.d_val == DT_RELA; break;
		case DT_RELA: m->tabs[1] = (const ElfW(Rela) *)dyn_ptr(base, v); break;
		case DT_RELASZ: m->sizes[1] = d->d_un.d_val; break;
		case DT_RELAENT: relaent = d->d_un.d_val; break;
		case DT_FLAGS_1: m->flags_1 = d->d_un.d_val; break;
		default: break;
		}
	}
	if (!m->symtab || !m->strtab || relaent != sizeof(ElfW(Rela)) || !pltrel_rela)
		return -1;
	return 0;
}

static int usable_def(const struct mod *m, uint32_t ix)
{
	const ElfW(Sym) *s = &m->symtab[ix];
	unsigned type = ELF64_ST_TYPE(s->st_info), bind = ELF64_ST_BIND(s->st_info);

	if (s->st_shndx == SHN_UNDEF || !s->st_value || (type != STT_FUNC && type != STT_NOTYPE))
		return 0;
	if (bind != STB_GLOBAL && bind != STB_WEAK)
		return 0;
	return !m->versym || !(m->versym[ix] & 0x8000);	/* not a hidden old version */
}

/* The module's exported definition of name (its run-time address), or 0. */
static uintptr_t mod_lookup(const struct mod *m, const char *name)
{
	if (m->gnu_hash) {
		const uint32_t *gh = m->gnu_hash;
		uint32_t nb = gh[0], off = gh[1], nbloom = gh[2], shift = gh[3], h = 5381, ix;
		const uint64_t *bloom = (const uint64_t *)(gh + 4);
		const uint32_t *buckets = (const uint32_t *)(bloom + nbloom);
		const uint32_t *chain = buckets + nb;
		uint64_t word, mask;

		for (const unsigned char *c = (const unsigned char *)name; *c; c++)
			h = h * 33 + *c;
		if (!nb || !nbloom)
			return 0;
		word = bloom[(h / 64) % nbloom];
		mask = (1ull << (h % 64)) | (1ull << ((h >> shift) % 64));
		if ((word & mask) != mask)
			return 0;
		ix = buckets[h % nb];
		if (ix < off)
			return 0;
		for (;; ix++) {
			uint32_t ch = chain[ix - off];

			if ((h | 1) == (ch | 1) && !strcmp(name, m->strtab + m->symtab[ix].st_name) &&
			    usable_def(m, ix))
				return m->base + m->symtab[ix].st_value;
			if (ch & 1)
				return 0;
		}
	}
	if (m->sysv_hash) {
		const uint32_t *ht = m->sysv_hash;
		uint32_t nb = ht[0], h = 0, g;
		const uint32_t *bucket = ht + 2, *chain = bucket + nb;

		for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
			h = (h << 4) + *c;
			g = h & 0xf0000000u;
			if (g)
				h ^= g >> 24;
			h &= ~g;
		}
		if (!nb)
			return 0;
		for (uint32_t ix = bucket[h % nb]; ix != STN_UNDEF; ix = chain[ix])
			if (!strcmp(name, m->strtab + m->symtab[ix].st_name) && usable_def(m, ix))
				return m->base + m->symtab[ix].st_value;
	}
	return 0;
}

struct lookup {
	const char *name;
	uintptr_t found;
};

static int lookup_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct lookup *l = data;
	struct mod m;

	(void)size;
	if (mod_load(&m, info) < 0)
		return 0;
	l->found = mod_lookup(&m, l->name);
	return l->found != 0;
}

/* Points slot at v; the slot's page is read-only when it lies in RELRO. */
static int write_slot(const struct mod *m, void **slot, void *v)
{
	uintptr_t a = (uintptr_t)slot;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	void *page = (void *)(a & ~(pg - 1));
	int ro = a >= m->relro_lo && a < m->relro_hi;

	if (ro && mprotect(page, pg, PROT_READ | PROT_WRITE) != 0)
		return -1;
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
	if (ro)
		mprotect(page, pg, PROT_READ);
	return 0;
}

/* Redirects the module's slots naming traced functions; returns how many. */
static int patch_module(const struct mod *m)
{
	int done = 0;

	for (int t = 0; t < 2; t++) {
		size_t n = m->tabs[t] ? m->sizes[t] / sizeof(ElfW(Rela)) : 0;

		for (size_t i = 0; i < n; i++) {
			const ElfW(Rela) *r = &m->tabs[t][i];
			unsigned type = ELF64_R_TYPE(r->r_info);
			const ElfW(Sym) *s;
			void **slot;
			uintptr_t cur, own;
			void *target;
			int f, k;

			/* PLT and GOT slots, and function pointers in data (a static
			 * initializer): all hold the function's address */
			if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
			    !(type == R_X86_64_64 && r->r_addend == 0))
				continue;
			if (ELF64_R_SYM(r->r_info) == 0)
				continue;
			s = &m->symtab[ELF64_R_SYM(r->r_info)];
			if (ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC)
				continue;
			f = find_func(m->strtab + s->st_name);
			if (f < 0)
				continue;
			slot = (void **)(m->base + r->r_offset);
			cur = (uintptr_t)__atomic_load_n(slot, __ATOMIC_ACQUIRE);
			if (!cur || is_tramp(cur))
				continue;
			own = s->st_shndx != SHN_UNDEF ? m->base + s->st_value : 0;
			target = (void *)cur;
			if (type == R_X86_64_JUMP_SLOT && cur >= m->lo && cur < m->hi && cur != own) {
				/* lazy binding, not bound yet: the slot holds this module's
				 * PLT stub, which would bind it over our trampoline. Find
				 * the definition in load order (the global scope first). */
				struct lookup l = { funcs[f].name, 0 };

				dl_iterate_phdr(lookup_cb, &l);	/* the loader's lock is recursive */
				if (!l.found)
					continue;
				target = (void *)l.found;
			}
			if (is_detoured((uintptr_t)target))
				continue;	/* its entry records every call */
			k = tramp_get((unsigned)f, target);
			if (k < 0)
				continue;
			rs_refapi_announce(funcs[f].f.api);
			if (write_slot(m, slot, tramp_addr((unsigned)k)) == 0)
				done++;
		}
	}
	return done;
}

/* ---- entry detours --------------------------------------------------------
 *
 * GLib links libgobject with -Bsymbolic-functions: its own calls of
 * g_object_ref/unref (dispose chains, toggle references, closures,
 * g_object_set_data_full's destroy notify, weak pointers) are direct calls
 * or pointers no GOT slot holds. So, for the APIs marked for it, the entry
 * of the defining module's function is replaced by a jmp rel32 to a stub
 * mapped next to the module:
 *   stub+0:      jmp *0(%rip); .quad trampoline k
 *   stub+RESUME: the displaced instructions; jmp *0(%rip); .quad fn + n
 * Trampoline k records the call and jumps to stub+RESUME, which runs the
 * function's first instructions and goes on at fn + n: every call is
 * recorded once, whoever made it. Trampolines GOT slots were pointed at
 * before (target fn) are retargeted at stub+RESUME first, then the entry
 * is written, so a call through them is recorded once in any order; slots
 * and dlsym'd pointers met afterwards are left alone (is_detoured).
 * Conditions, else the GOT way alone: the module is never unloaded
 * (DF_1_NODELETE, as libgobject), the entry is 8-byte aligned (the 8 bytes
 * are swapped by one atomic store, so a thread running the function
 * meanwhile executes the old or the new instruction, never a mix), its
 * first instructions are position independent ones insn_len knows, a
 * stub page lands within +-2 GiB, and the text page may be made writable
 * (PROT_EXEC kept throughout: other threads may be running in it). A jump
 * from inside the function back into its first 5 bytes would break it; a
 * prologue is not a loop head, and the decoder takes only prologue code.
 */

#define STUB_SIZE 64
#define STUB_RESUME 16

/* The length of a position-independent prologue instruction at p, or 0:
 * endbr64, push reg, mov $imm reg, and register-to-register ALU and mov
 * (ModRM mod 3, so nothing rip-relative, no branch). */
static size_t insn_len(const uint8_t *p)
{
	size_t rex = (p[0] & 0xf0) == 0x40;
	uint8_t op = p[rex], modrm = p[rex + 1];
	int wide = rex && (p[0] & 0x08);

	if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		return 4;
	if (op >= 0x50 && op <= 0x57)
		return wide ? 0 : rex + 1;
	if (op >= 0xb8 && op <= 0xbf)
		return rex + (wide ? 9 : 5);
	if ((modrm & 0xc0) != 0xc0)
		return 0;
	switch (op) {
	case 0x01: case 0x09: case 0x21: case 0x29: case 0x31: case 0x39:
	case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b:
	case 0x85: case 0x89: case 0x8b:
		return rex + 2;
	case 0x83:
		return rex + 3;
	case 0x81:
		return rex + 6;
	default:
		return 0;
	}
}

static void put_abs_jmp(uint8_t *p, uintptr_t to)
{
	static const uint8_t jmp[6] = { 0xff, 0x25, 0, 0, 0, 0 };	/* jmp *0(%rip) */

	memcpy(p, jmp, sizeof(jmp));
	memcpy(p + sizeof(jmp), &to, sizeof(to));
}

static int near(uintptr_t a, uintptr_t b)
{
	intptr_t d = (intptr_t)(a - b);

	return d > -((intptr_t)1 << 31) + 4096 && d < ((intptr_t)1 << 31) - 4096;
}

/* A fresh read-write page within +-2 GiB of [lo, hi), or NULL. */
static uint8_t *near_page(uintptr_t lo, uintptr_t hi, size_t pg)
{
	for (uintptr_t step = 1; step <= 64; step++) {
		for (int up = 0; up < 2; up++) {
			uintptr_t hint = up ? ((hi + pg - 1) & ~(pg - 1)) + step * (1u << 20)
					    : (lo & ~(pg - 1)) - step * (1u << 20);
			void *p = mmap((void *)hint, pg, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				return NULL;
			if (near((uintptr_t)p, lo) && near((uintptr_t)p, hi))
				return p;
			munmap(p, pg);
		}
	}
	return NULL;
}

/* Swaps the entry's first 5 bytes for a jmp rel32 to stub. */
static int write_entry(uintptr_t fn, const uint8_t *stub, size_t pg)
{
	void *page = (void *)(fn & ~(pg - 1));
	int32_t rel = (int32_t)((intptr_t)stub - (intptr_t)(fn + 5));
	uint64_t word;

	memcpy(&word, (const void *)fn, sizeof(word));
	((uint8_t *)&word)[0] = 0xe9;
	memcpy((uint8_t *)&word + 1, &rel, sizeof(rel));
	if (mprotect(page, pg, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
		return -1;
	__atomic_store_n((uint64_t *)fn, word, __ATOMIC_SEQ_CST);
	mprotect(page, pg, PROT_READ | PROT_EXEC);
	return 0;
}

/* Detours the entries of the module's definitions of marked functions;
 * returns how many. */
static int detour_module(const struct mod *m)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), fns[MAX_DETOURS];
	unsigned idx[MAX_DETOURS], nfn = 0, done = 0;
	uint8_t *page = NULL;

	if (!(m->flags_1 & DF_1_NODELETE))
		return 0;
	for (unsigned f = 0; f < nfuncs && nfn < MAX_DETOURS; f++) {
		uintptr_t fn;
		size_t n = 0, k = 1;

		if (!apis[funcs[f].f.api].entry)
			continue;
		fn = mod_lookup(m, funcs[f].name);
		if (!fn || (fn & 7) || is_detoured(fn) ||
		    atomic_load(&ndetoured) + nfn >= MAX_DETOURS)
			continue;
		while (n < 5 && k)
			n += k = insn_len((const uint8_t *)fn + n);
		if (!k || n > STUB_SIZE - STUB_RESUME - 14)
			continue;
		if (!page)
			page = near_page(m->lo, m->hi, pg);
		if (!page)
			return 0;
		fns[nfn] = fn;
		idx[nfn++] = f;
	}
	for (unsigned i = 0; i < nfn; i++) {
		uint8_t *stub = page + i * STUB_SIZE, *resume = stub + STUB_RESUME;
		size_t n = 0;
		int t;

		while (n < 5)
			n += insn_len((const uint8_t *)fns[i] + n);
		memcpy(resume, (const void *)fns[i], n);
		put_abs_jmp(resume + n, fns[i] + n);
		/* the trampoline a GOT slot already uses (retargeted below), or a new one */
		t = tramp_get(idx[i], (void *)fns[i]);
		if (t < 0) {
			fns[i] = 0;
			continue;
		}
		put_abs_jmp(stub, (uintptr_t)tramp_addr((unsigned)t));
		idx[i] = (unsigned)t;
	}
	if (page && mprotect(page, pg, PROT_READ | PROT_EXEC) != 0)
		return 0;
	for (unsigned i = 0; i < nfn; i++) {
		unsigned d;

		if (!fns[i])
			continue;
		/* retarget first: a call through the trampoline skips the entry */
		atomic_store_explicit(&tramps[idx[i]].target, page + i * STUB_SIZE + STUB_RESUME,
				      memory_order_release);
		if (write_entry(fns[i], page + i * STUB_SIZE, pg) != 0) {
			atomic_store_explicit(&tramps[idx[i]].target, (void *)fns[i],
					      memory_order_release);
			continue;
		}
		d = atomic_load(&ndetoured);
		detoured[d] = fns[i];
		atomic_store_explicit(&ndetoured, d + 1, memory_order_release);
		rs_refapi_announce(funcs[tramps[idx[i]].func].f.api);
		done++;
	}
	return (int)done;
}

static int patch_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct dl_find_object fo;
	struct mod m;

	(void)size;
	(void)data;
	if (mod_load(&m, info) < 0)
		return 0;
	for (unsigned i = 0; i < nseen; i++) {
		if (seen[i].base == m.base && seen[i].dyn == m.dyn) {
			seen[i].gen = seen_gen;
			return 0;
		}
	}
	if (_dl_find_object((void *)m.dyn, &fo) != 0) {
		scan_pending = 1;	/* still being relocated by another thread's dlopen */
		return 0;
	}
	if (nseen < MAX_SEEN) {
		seen[nseen].base = m.base;
		seen[nseen].dyn = m.dyn;
		seen[nseen].gen = seen_gen;
		nseen++;
	}
	scan_done += detour_module(&m);
	scan_done += patch_module(&m);
	return 0;
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
	}
	return 1;	/* the same in every entry */
}

int rs_refapi_scan(const void *self_addr)
{
	int done = 0;

	if (!nfuncs)
		return 0;
	/*
	 * Never wait for another scanner (it may wait for a loader lock this
	 * thread holds): leave it a request to scan again; whoever holds the
	 * scan lock serves it.
	 */
	atomic_store(&scan_again, 1);
	if (!rs_loader_enter())		/* a fork holds the gate; scan_again stays set */
		return done;
	do {
		if (atomic_exchange_explicit(&scan_lock, 1, memory_order_acquire))
			break;
		if (self_addr && !skip_hi)
			rs_object_of((uintptr_t)self_addr, &skip_lo, &skip_hi);
		while (atomic_exchange(&scan_again, 0)) {
			unsigned long long c[2] = { 0, 0 };
			unsigned j = 0;

			/* nothing loaded or unloaded since the last pass: done (dlsym
			 * calls this often) */
			dl_iterate_phdr(counters_cb, c);
			if (c[0] == last_adds && c[1] == last_subs && !scan_pending)
				continue;
			last_adds = c[0];
			last_subs = c[1];
			scan_pending = 0;
			seen_gen++;
			scan_done = 0;
			dl_iterate_phdr(patch_cb, NULL);
			done += scan_done;
			for (unsigned i = 0; i < nseen; i++)	/* forget unloaded modules */
				if (seen[i].gen == seen_gen)
					seen[j++] = seen[i];
			nseen = j;
		}
		atomic_store_explicit(&scan_lock, 0, memory_order_release);
	} while (atomic_load(&scan_again));
	rs_loader_leave();
	return done;
}
