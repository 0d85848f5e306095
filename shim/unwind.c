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

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <libunwind.h>
#include <unistd.h>

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

/*
 * libunwind (1.6, x86_64: tdep_init_mem_validate) opens a pipe the first
 * time it is used, to validate addresses, and keeps it for the life of the
 * process. Made from a hook it would take the program's lowest free numbers
 * (3 and 4), and the program's own next open() would get another number than
 * untraced. So while libunwind initializes, every free number below the
 * floor holds a placeholder; the pipe lands at or above it, beside the trace
 * descriptor, and libunwind keeps using it there. Runs once, at init.
 */
#define FD_FLOOR_MAX 128

static void init_libunwind_high(void)
{
	int hold[FD_FLOOR_MAX], nhold = 0, e = errno;
	int floor = rs_writer_fd_floor();
	int src = open("/", O_PATH | O_CLOEXEC);
	void *warm[4];

	if (floor > FD_FLOOR_MAX)
		floor = FD_FLOOR_MAX;
	if (src >= 0 && src < floor) {
		hold[nhold++] = src;
		while (nhold < floor) {
			int fd = fcntl(src, F_DUPFD_CLOEXEC, 0);	/* the lowest free number */

			if (fd < 0)
				break;
			if (fd >= floor) {
				close(fd);
				break;
			}
			hold[nhold++] = fd;
		}
	} else if (src >= 0) {
		close(src);
	}
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unw_backtrace(warm, 4);	/* whatever else the first unwind opens, opens here */
	while (nhold)
		close(hold[--nhold]);
	errno = e;
}

int rs_unwind_init(void)
{
	init_libunwind_high();
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
