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
#include <sched.h>
#include <sys/auxv.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "writer.h"

static uintptr_t self_lo, self_hi;
static uintptr_t ldso_lo, ldso_hi;

/* The loader's object: the one loaded at AT_BASE. */
static int find_ldso(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	(void)size;
	if (info->dlpi_addr != (uintptr_t)data)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	ldso_lo = lo;
	ldso_hi = hi;
	return 1;
}

int rs_unwind_in_loader(uintptr_t ip)
{
	return ip >= ldso_lo && ip < ldso_hi;
}

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
	uintptr_t base = (uintptr_t)getauxval(AT_BASE);

	init_libunwind_high();
	if (base)	/* 0: the loader was run as the program; nothing to tell apart */
		dl_iterate_phdr(find_ldso, (void *)base);
#ifdef RS_TESTING
	/* in the unit tests the engine is inside the test program: keep all frames */
	(void)find_self;
#else
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&rs_unwind_init);
#endif
	return 0;
}

/*
 * fork. A thread inside libunwind may hold libunwind's own mutex (taken
 * around its DWARF lookups) or the loader's dl_iterate_phdr lock (glibc does
 * not reset that one in a fork child). The child gets them locked by a thread
 * that does not exist there, and its first unwind would wait for ever. So
 * fork's prepare handler closes a gate, waits until no thread is inside
 * unw_backtrace, and keeps new unwinds out until the parent and child
 * handlers open it again.
 *
 * Threads count themselves in and out on one of NSHARD padded counters (so
 * events of different threads do not share one contended cache line). The
 * count and the gate are both seq_cst: either the entering thread sees the
 * gate closed, or the forking thread sees it counted (Dekker).
 *
 * Never wait for ever: a thread kept at the gate longer than GATE_WAIT_NS
 * records its event with no stack; a fork that cannot see the unwinder empty
 * within that time goes ahead, and its child never unwinds (no stacks).
 */
#define NSHARD 16
#define GATE_WAIT_NS 1000000000ull

static struct {
	_Alignas(64) atomic_int n;
	char pad[60];
} inside[NSHARD];
static atomic_int gate;		/* 1 while a fork is in progress */
static atomic_int next_shard;
static int fork_unsafe;		/* the prepare wait timed out */
static int no_unwind;		/* this process is a child of such a fork */
static __thread int my_shard = -1;
static __thread int my_depth;	/* this thread inside unw_backtrace (0 or 1) */
static __thread int my_gate;	/* this thread closed the gate */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pause_a_little(unsigned round)
{
	if (round < 64) {
		__builtin_ia32_pause();
	} else if (round < 1024) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 50000 };

		nanosleep(&ts, NULL);
	}
}

/* 1: counted in, may unwind; 0: the gate stayed closed too long. */
static int unwind_enter(void)
{
	uint64_t deadline = 0;

	if (__builtin_expect(my_shard < 0, 0))
		my_shard = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % NSHARD;
	for (unsigned round = 0;; round++) {
		atomic_fetch_add(&inside[my_shard].n, 1);
		/* my_depth: already counted in (a loader walk that unwinds); the
		 * fork waits for the outer entry anyway */
		if (__builtin_expect(!atomic_load(&gate), 1) || my_gate || my_depth)
			break;
		atomic_fetch_sub(&inside[my_shard].n, 1);
		if (!deadline)
			deadline = now_ns() + GATE_WAIT_NS;
		else if (now_ns() > deadline)
			return 0;
		pause_a_little(round);
	}
	my_depth++;
	return 1;
}

static void unwind_leave(void)
{
	my_depth--;
	atomic_fetch_sub_explicit(&inside[my_shard].n, 1, memory_order_release);
}

void rs_unwind_fork_prepare(void)
{
	uint64_t deadline = 0;
	int e = errno;

	my_gate = 1;
	atomic_store(&gate, 1);
	for (unsigned round = 0;; round++) {
		int busy = 0;

		for (int i = 0; i < NSHARD; i++)
			busy += atomic_load(&inside[i].n);
		busy -= my_depth;	/* fork from a signal handler that interrupted our own unwind */
		if (busy <= 0)
			break;
		if (!deadline) {
			deadline = now_ns() + GATE_WAIT_NS;
		} else if (now_ns() > deadline) {
			fork_unsafe = 1;
			break;
		}
		pause_a_little(round);
	}
	errno = e;
}

void rs_unwind_fork_parent(void)
{
	fork_unsafe = 0;
	my_gate = 0;
	atomic_store(&gate, 0);
}

void rs_unwind_fork_child(void)
{
	/* the other threads, and their counts, do not exist here */
	for (int i = 0; i < NSHARD; i++)
		atomic_store(&inside[i].n, 0);
	if (my_depth)
		atomic_store(&inside[my_shard].n, my_depth);
	no_unwind = fork_unsafe;
	fork_unsafe = 0;
	my_gate = 0;
	atomic_store(&gate, 0);
}

int rs_unwind_begin(void)
{
	return !__builtin_expect(no_unwind, 0) && unwind_enter();
}

void rs_unwind_end(void)
{
	unwind_leave();
}

int rs_loader_enter(void)
{
	return rs_unwind_begin();
}

void rs_loader_leave(void)
{
	unwind_leave();
}

/*
 * Squeezes the shim's own frames out of n raw frames, in place. The range
 * test is one unsigned compare (lo == hi == 0 before init and in the unit
 * tests: nothing is dropped); the bounds are local copies, since the stores
 * into ips could alias the globals and would make the compiler reload them
 * every frame. Leading own frames (the hook, always) are skipped before the
 * copying loop; further own frames (trampolines) are dropped without a branch,
 * and the loop runs to n rather than also testing k against max each frame.
 */
unsigned rs_unwind_squeeze(uintptr_t *ips, int n, unsigned max)
{
	const uintptr_t lo = self_lo, span = self_hi - self_lo;
	unsigned k = 0;
	int i = 0;

	while (i < n && ips[i] - lo < span)
		i++;
	for (; i < n; i++) {
		uintptr_t ip = ips[i];

		ips[k] = ip;	/* k <= i: never past what was read */
		k += ip - lo >= span;
	}
	if (k > max)	/* the first max kept are in place; n <= max + slack */
		k = max;
	if (k)
		ips[0] -= 1;
	return k;
}
