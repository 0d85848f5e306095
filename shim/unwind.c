/*
 * unwind.c - libunwind backtraces with the shim's own frames removed.
 *
 * Every frame inside the shim's object (the hook, the trampolines wrapping
 * main and thread start routines) is dropped, wherever it is on the stack.
 * The innermost kept frame is a return address into the caller of malloc;
 * it is stored minus one so it lands inside the call instruction, which makes
 * it the exact address the format asks for.
 */
#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <link.h>
#include <libunwind.h>

#include "writer.h"

static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t me = (uintptr_t)data;
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (me >= lo && me < hi) {
		self_lo = lo;
		self_hi = hi;
		return 1;
	}
	return 0;
}

int rs_unwind_init(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
#ifdef RS_TESTING
	/* in the unit tests the engine is inside the test program: keep all frames */
	(void)find_self;
#else
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&rs_unwind_init);
#endif
	return 0;
}

unsigned rs_unwind_capture(uintptr_t *ips, unsigned max)
{
	/* ips holds max + RS_UNWIND_SLACK entries: unwind in place, then squeeze
	 * out our own frames (one buffer: hooks may run on small thread stacks) */
	int n = unw_backtrace((void **)ips, (int)(max + RS_UNWIND_SLACK));
	unsigned k = 0;

	for (int i = 0; i < n && k < max; i++) {
		uintptr_t ip = ips[i];

		if (ip >= self_lo && ip < self_hi)
			continue;
		ips[k++] = ip;
	}
	if (k)
		ips[0] -= 1;
	return k;
}
