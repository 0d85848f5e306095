/*
 * modules.c - what is loaded where, as the trace needs it to symbolize.
 *
 * Known objects are kept in a fixed static table keyed by (load bias, name
 * hash): no malloc. Records are built in a static buffer under the module
 * lock and written as top-level records. The build id is read from the
 * PT_NOTE segments in memory, so no file is opened.
 */
#include "modules.h"

#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>

#include "refscope_format.h"
#include "unwind.h"
#include "writer.h"

#define MAX_MODULES 4096
#define MAX_SEGS 32
#define MAX_PATH_LEN 4096
#define MAX_BUILD_ID 64

struct known {
	uint64_t base;
	uint64_t name_hash;
	uint32_t gen;
};

static struct known known[MAX_MODULES];
static unsigned nknown;
static uint32_t gen;
static atomic_int lock;
static unsigned long long last_adds, last_subs;
static uint8_t rec[64 + MAX_PATH_LEN + MAX_BUILD_ID + MAX_SEGS * 3 * RS_UVARINT_MAX];

static void lock_take(void)
{
	while (atomic_exchange_explicit(&lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
}

void rs_modules_lock(void)
{
	lock_take();
}

void rs_modules_unlock(void)
{
	atomic_store_explicit(&lock, 0, memory_order_release);
}

void rs_modules_reset(void)
{
	nknown = 0;
	gen = 0;
	last_adds = last_subs = 0;
	atomic_store(&lock, 0);
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/* NT_GNU_BUILD_ID from the object's PT_NOTE segments, as mapped. */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;
		size_t al;

		if (ph->p_type != PT_NOTE)
			continue;
		al = ph->p_align == 8 ? 8 : 4;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof(*nh);
			const uint8_t *desc = name + ((nh->n_namesz + al - 1) & ~(al - 1));

			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= MAX_BUILD_ID) {
				*out = desc;
				return nh->n_descsz;
			}
			p = desc + ((nh->n_descsz + al - 1) & ~(al - 1));
		}
	}
	return 0;
}

static void write_module(const struct dl_phdr_info *info)
{
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	size_t nlen = strlen(name);
	const uint8_t *bid = NULL;
	size_t blen = build_id(info, &bid);
	uint8_t *p = rec + 1 + RS_UVARINT_MAX;	/* payload, framed afterwards */
	uint8_t *start = p;
	unsigned nseg = 0;
	uint8_t hdr[1 + RS_UVARINT_MAX];
	size_t hn = 0;

	if (nlen > MAX_PATH_LEN)
		nlen = MAX_PATH_LEN;
	p += rs_put_uvarint(p, rs_seq_global());
	p += rs_put_uvarint(p, info->dlpi_addr);
	p += rs_put_uvarint(p, nlen);
	memcpy(p, name, nlen);
	p += nlen;
	p += rs_put_uvarint(p, blen);
	if (blen)
		memcpy(p, bid, blen);
	p += blen;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD && nseg < MAX_SEGS)
			nseg++;
	p += rs_put_uvarint(p, nseg);
	nseg = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || nseg++ >= MAX_SEGS)
			continue;
		p += rs_put_uvarint(p, ph->p_vaddr);
		p += rs_put_uvarint(p, ph->p_memsz);
		p += rs_put_uvarint(p, ph->p_flags);
	}
	hdr[hn++] = RS_REC_MODULE;
	hn += rs_put_uvarint(hdr + hn, (uint64_t)(p - start));
	memcpy(start - hn, hdr, hn);
	rs_writer_out(start - hn, (size_t)(p - start) + hn);
}

static void write_unload(uint64_t base)
{
	uint8_t r[2 + 2 * RS_UVARINT_MAX];
	uint8_t *p = r + 2;

	p += rs_put_uvarint(p, rs_seq_global());
	p += rs_put_uvarint(p, base);
	r[0] = RS_REC_MODULE_UNLOAD;
	r[1] = (uint8_t)(p - r - 2);
	rs_writer_out(r, (size_t)(p - r));
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	uint64_t h = hash_name(info->dlpi_name ? info->dlpi_name : "");
	unsigned i;

	(void)data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		last_adds = info->dlpi_adds;
		last_subs = info->dlpi_subs;
	}
	for (i = 0; i < nknown; i++) {
		if (known[i].base == info->dlpi_addr && known[i].name_hash == h) {
			known[i].gen = gen;
			return 0;
		}
	}
	if (nknown < MAX_MODULES) {
		known[nknown].base = info->dlpi_addr;
		known[nknown].name_hash = h;
		known[nknown].gen = gen;
		nknown++;
	}
	write_module(info);
	return 0;
}

static void scan_locked(void)
{
	unsigned i, j;

	if (!rs_loader_enter())	/* a fork holds the gate: the next scan sees it all */
		return;
	gen++;
	dl_iterate_phdr(scan_cb, NULL);
	rs_loader_leave();
	for (i = j = 0; i < nknown; i++) {
		if (known[i].gen != gen) {
			write_unload(known[i].base);
			rs_unwind_forget();
			continue;
		}
		known[j++] = known[i];
	}
	nknown = j;
}

int rs_modules_scan(void)
{
	if (!atomic_load(&rs_tracing))
		return 0;
	lock_take();
	scan_locked();
	rs_modules_unlock();
	return 0;
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
	}
	return 1;	/* the counters are the same in every entry: one is enough */
}

void rs_modules_maybe_rescan(void)
{
	unsigned long long c[2] = { 0, 0 };

	if (!atomic_load(&rs_tracing))
		return;
	/* never wait: a scanner may be blocked on a loader lock our caller holds */
	if (atomic_exchange_explicit(&lock, 1, memory_order_acquire))
		return;
	if (!rs_loader_enter()) {
		rs_modules_unlock();
		return;
	}
	dl_iterate_phdr(counters_cb, c);
	if (c[0] != last_adds || c[1] != last_subs)
		scan_locked();
	rs_loader_leave();
	rs_modules_unlock();
}
