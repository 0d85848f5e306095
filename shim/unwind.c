/*
 * unwind.c - backtraces with the shim's own frames removed: the shim's own
 * x86_64 frame walker (below, "the fast walker"), libunwind for the events
 * it cannot walk (unwind info it cannot apply, a stack it does not know).
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
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cfi.h"
#include "ownmem.h"
#include "writer.h"

static uintptr_t self_lo, self_hi;
uintptr_t rs_ldso_lo, rs_ldso_span;	/* span 0: nothing is in the loader */

void rs_object_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < *lo)
			*lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > *hi)
			*hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
}

/* The loader's object: the one loaded at AT_BASE. */
static int find_ldso(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t lo, hi;

	(void)size;
	if (info->dlpi_addr != (uintptr_t)data)
		return 0;
	rs_object_span(info, &lo, &hi);
	rs_ldso_lo = lo;
	rs_ldso_span = hi - lo;
	return 1;
}

int rs_unwind_in_loader(uintptr_t ip)
{
	return ip - rs_ldso_lo < rs_ldso_span;
}

struct object_of {
	uintptr_t addr, lo, hi;
};

static int object_of_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct object_of *o = data;
	uintptr_t lo, hi;

	(void)size;
	rs_object_span(info, &lo, &hi);
	if (o->addr < lo || o->addr >= hi)
		return 0;
	o->lo = lo;
	o->hi = hi;
	return 1;
}

int rs_object_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	struct object_of o = { addr, 0, 0 };

	if (!dl_iterate_phdr(object_of_cb, &o))
		return -1;
	*lo = o.lo;
	*hi = o.hi;
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
#define PIPE_SCAN 32	/* numbers from the floor up where the pipe may land */

/*
 * The pipe is libunwind's (static in libunwind, used whenever it must check
 * an address: frames without unwind information, as JIT code has). When
 * its read end fails, libunwind closes BOTH numbers and makes a new pipe on
 * the lowest free ones: so after a program's close_range, libunwind would
 * read from and close the files the program opened on those numbers, then
 * write its probe bytes into the next ones (seen with fault_fds). fds.c
 * keeps the program's close and dup2 off these numbers; when the program
 * puts its own file on one anyway, unwinding stops for good.
 */
static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} upipe[2] = { { -1, 0, 0 }, { -1, 0, 0 } };
static atomic_int pipe_lost;	/* the program took a pipe number: never unwind again */

/* Remembers the pipes that appeared at [floor, floor + PIPE_SCAN) while
 * libunwind initialized; open_before has 1 for the numbers open before. */
static void note_pipe(int floor, const unsigned char *open_before)
{
	int k = 0;

	for (int i = 0; i < PIPE_SCAN && k < 2; i++) {
		struct stat st;

		if (open_before[i] || fstat(floor + i, &st) != 0 || !S_ISFIFO(st.st_mode))
			continue;
		upipe[k].fd = floor + i;
		upipe[k].dev = st.st_dev;
		upipe[k].ino = st.st_ino;
		k++;
	}
}

int rs_unwind_pipe_number(int fd)
{
	return fd >= 0 && (fd == upipe[0].fd || fd == upipe[1].fd) &&
	       !atomic_load_explicit(&pipe_lost, memory_order_relaxed);
}

void rs_unwind_pipe_fds(int out[2])
{
	out[0] = upipe[0].fd;
	out[1] = upipe[1].fd;
}

int rs_unwind_owns_fd(int fd)
{
	struct stat st;

	if (!rs_unwind_pipe_number(fd) || fstat(fd, &st) != 0)
		return 0;
	for (int i = 0; i < 2; i++)
		if (fd == upipe[i].fd && st.st_dev == upipe[i].dev && st.st_ino == upipe[i].ino)
			return 1;
	return 0;
}

static void init_libunwind_high(void)
{
	int hold[FD_FLOOR_MAX], nhold = 0, e = errno;
	int floor = rs_writer_fd_floor();
	int src = open("/", O_PATH | O_CLOEXEC);
	unsigned char open_before[PIPE_SCAN];
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
	for (int i = 0; i < PIPE_SCAN; i++)
		open_before[i] = fcntl(floor + i, F_GETFD) >= 0;
	/* libunwind's own init (and its pipe) runs on this first call */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unw_backtrace(warm, 4);	/* whatever else the first unwind opens, opens here */
	note_pipe(floor, open_before);
	while (nhold)
		close(hold[--nhold]);
	errno = e;
}

static void uc_init(void);
static void main_stack_bounds(void);

int rs_unwind_init(void)
{
	uintptr_t base = (uintptr_t)getauxval(AT_BASE);
	const char *check = getenv("REFSCOPE_UNWIND_CHECK");

	init_libunwind_high();
	rs_unwind_checking = check && check[0] == '1';
	main_stack_bounds();
	uc_init();
	if (base)	/* 0: the loader was run as the program; nothing to tell apart */
		dl_iterate_phdr(find_ldso, (void *)base);
#ifdef RS_TESTING
	/* in the unit tests the engine is inside the test program: keep all frames */
#else
	rs_object_of((uintptr_t)&rs_unwind_init, &self_lo, &self_hi);
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
			deadline = rs_clock_ns(CLOCK_MONOTONIC) + GATE_WAIT_NS;
		else if (rs_clock_ns(CLOCK_MONOTONIC) > deadline)
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

/* Waits until no other thread is inside unw_backtrace: 1, or 0 when that
 * took longer than GATE_WAIT_NS (new entries must be kept out already). */
static int wait_unwinders(void)
{
	uint64_t deadline = 0;

	for (unsigned round = 0;; round++) {
		int busy = 0;

		for (int i = 0; i < NSHARD; i++)
			busy += atomic_load(&inside[i].n);
		busy -= my_depth;	/* called from a signal handler that interrupted our own unwind */
		if (busy <= 0)
			return 1;
		if (!deadline)
			deadline = rs_clock_ns(CLOCK_MONOTONIC) + GATE_WAIT_NS;
		else if (rs_clock_ns(CLOCK_MONOTONIC) > deadline)
			return 0;
		pause_a_little(round);
	}
}

void rs_unwind_fork_prepare(void)
{
	int e = errno;

	my_gate = 1;
	atomic_store(&gate, 1);
	if (!wait_unwinders())
		fork_unsafe = 1;
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

/* Called counted in (between rs_unwind_begin and rs_unwind_end); seq_cst,
 * as the gate: a give-up either sees this thread counted or is seen here. */
int rs_unwind_libunwind_ok(void)
{
	return !atomic_load(&pipe_lost);
}

/*
 * From now on no thread enters libunwind; wait (bounded, as for fork) for
 * those inside to leave, so none is probing through the pipe when the
 * program's dup2 puts its file on the number.
 */
void rs_unwind_give_up(void)
{
	int e = errno;

	atomic_store(&pipe_lost, 1);
	wait_unwinders();
	errno = e;
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

/* ---- the fast walker ---------------------------------------------------- */

/*
 * Rules are cached per return address in one open-addressing table in
 * mmap'd memory, keys and values in two arrays: a slot is claimed by a
 * compare-and-swap of its key (0 -> the address) and never given to another
 * key; its value is stored after. A reader takes the value, then checks the
 * key: a value it sees in a slot whose key is its own is that key's (or 0,
 * not yet stored: a miss). Values carry the generation they were computed
 * in: rs_unwind_forget (a module unloaded) bumps it, and a value of another
 * generation is recomputed in place (same key: a plain store).
 *
 * A value: bits 0-15 generation (never 0: an empty value is a miss),
 * bit 16 special (bit 17 set: the outermost frame; clear: unsupported),
 * bit 18 CFA from rbp, bit 19 rbp saved, bits 24-39 where (CFA + a signed
 * 16-bit offset, at most -8: below the CFA; -8 when not saved: the lowest
 * address the step reads), bits 40-63 the CFA's signed 24-bit offset. A
 * rule that does not fit is unsupported.
 */
#define UC_BITS 16
#define UC_SIZE (1u << UC_BITS)
#define UC_PROBE 16
#define V_SPECIAL (1ull << 16)
#define V_END (1ull << 17)
#define V_CFA_RBP (1ull << 18)
#define V_RBP_SAVED (1ull << 19)
#define V_RBP_OFF(v) ((int64_t)(int16_t)((v) >> 24))
#define V_CFA_OFF(v) ((int64_t)(v) >> 40)

static _Atomic uintptr_t *uc_key;
static _Atomic uint64_t *uc_val;
static _Atomic uint32_t uc_gen = 1;
int rs_unwind_checking;
static _Atomic uint64_t n_fast, n_slow, n_mismatch;

/* This thread's stack, [stk_lo, stk_hi); stk_state 0 unknown yet, 1 known,
 * 2 none (the walker leaves its events to libunwind). */
static __thread uintptr_t stk_lo, stk_hi;
static __thread int stk_state;
static uintptr_t main_lo, main_hi;

extern void *__libc_stack_end;	/* ld.so: the main thread's stack at start */

static void main_stack_bounds(void)
{
	struct rlimit rl;
	uintptr_t lim = (uintptr_t)64 << 20;

	/* what the outermost frames read lies below __libc_stack_end; the
	 * rest of its page is mapped too */
	main_hi = ((uintptr_t)__libc_stack_end | 4095) + 1;
	/* nothing else is mapped within 128 MiB below the main stack (the
	 * kernel's mmap gap), so an sp this close is on the main stack */
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur < lim)
		lim = rl.rlim_cur;
	main_lo = main_hi - lim;
}

void rs_unwind_thread_start(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;

	stk_state = 2;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0 && size) {
		stk_lo = (uintptr_t)addr;
		stk_hi = (uintptr_t)addr + size;
		stk_state = 1;
	}
	pthread_attr_destroy(&a);
}

static int stack_known(void)
{
	if (stk_state == 0) {
		stk_state = 2;
		/* threads are set up by rs_unwind_thread_start; here only the
		 * main thread. (A fork child's one thread is its forker: if that
		 * was not the main thread, its sp is nowhere near the main stack
		 * and the range test in rs_unwind_fast sends it to libunwind.) */
		if (main_hi && (pid_t)syscall(SYS_gettid) == getpid()) {
			stk_lo = main_lo;
			stk_hi = main_hi;
			stk_state = 1;
		}
	}
	return stk_state == 1;
}

void rs_unwind_forget(void)
{
	uint32_t g = atomic_fetch_add(&uc_gen, 1) + 1;

	if (!(g & 0xffff))	/* generation 0 would look like an empty value */
		atomic_fetch_add(&uc_gen, 1);
}

static void uc_init(void)
{
	size_t half = UC_SIZE * sizeof(uintptr_t);
	uint8_t *m;

	if (uc_key)
		return;
	m = mmap(NULL, 2 * half, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return;	/* no cache: every event goes to libunwind */
	rs_own_add(m, 2 * half);
	/* set before tracing starts (rs_unwind_init), so read plainly */
	uc_key = (_Atomic uintptr_t *)(void *)m;
	uc_val = (_Atomic uint64_t *)(void *)(m + half);
}

static uint64_t encode_rule(const struct rs_cfi_rule *r, uint32_t gen)
{
	uint64_t v = gen;

	if (r->kind == RS_CFI_END)
		return v | V_SPECIAL | V_END;
	if (r->kind != RS_CFI_OK || r->cfa_off < -(1 << 23) || r->cfa_off >= (1 << 23) ||
	    (r->rbp_saved && (r->rbp_off > -8 || r->rbp_off < INT16_MIN)))
		return v | V_SPECIAL;
	v |= (uint64_t)r->cfa_off << 40;
	if (r->cfa_reg == RS_CFI_RBP)
		v |= V_CFA_RBP;
	if (r->rbp_saved)
		v |= V_RBP_SAVED | (uint64_t)(uint16_t)r->rbp_off << 24;
	else
		v |= (uint64_t)(uint16_t)-8 << 24;
	return v;
}

/* Computed on a miss; 0 when the loader's list cannot be walked now (a
 * fork holds the gate): not cached, the event goes to libunwind's gate. */
static uint64_t rule_for(uintptr_t key, uint32_t gen)
{
	struct rs_cfi_rule r;

	if (!rs_loader_enter())
		return 0;
	rs_cfi_lookup(key - 1, &r);
	rs_loader_leave();
	return encode_rule(&r, gen);
}

static inline uint32_t uc_hash(uintptr_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - UC_BITS));
}

/* The rule for the frame whose return address (or exact pc + 1) is key,
 * when its home slot did not have it: probe on, fill on a miss. */
static __attribute__((noinline)) uint64_t lookup_slow(uintptr_t key, uint32_t gen)
{
	uint32_t h = uc_hash(key);
	uint64_t v;

	for (unsigned i = 0; i < UC_PROBE; i++) {
		uint32_t j = (h + i) & (UC_SIZE - 1);
		uintptr_t k = atomic_load_explicit(&uc_key[j], memory_order_acquire);

		if (k == 0) {
			uintptr_t zero = 0;

			if (!atomic_compare_exchange_strong(&uc_key[j], &zero, key) && zero != key)
				continue;	/* another address took it */
			k = key;
		}
		if (k != key)
			continue;
		v = atomic_load_explicit(&uc_val[j], memory_order_acquire);
		if ((v & 0xffff) == gen)
			return v;
		v = rule_for(key, gen);
		if (v)
			atomic_store_explicit(&uc_val[j], v, memory_order_release);
		return v ? v : V_SPECIAL;
	}
	v = rule_for(key, gen);	/* table crowded here: not cached */
	return v ? v : V_SPECIAL;
}

int rs_unwind_fast(uintptr_t *ips, unsigned max, uintptr_t pc, uintptr_t sp, uintptr_t fp)
{
	const uintptr_t lo = self_lo, span = self_hi - self_lo;
	const uint32_t gen = atomic_load_explicit(&uc_gen, memory_order_relaxed) & 0xffff;
	_Atomic uintptr_t *const keys = uc_key;
	_Atomic uint64_t *const vals = uc_val;
	uintptr_t key = pc + 1, top;
	size_t k = 0;

	if (__builtin_expect(!keys || !stack_known(), 0) || sp - stk_lo >= stk_hi - stk_lo)
		goto slow;	/* e.g. on a signal stack or a coroutine's */
	top = stk_hi;
	for (;;) {
		uint32_t i = uc_hash(key);
		uint64_t v = atomic_load_explicit(&vals[i], memory_order_acquire);
		uintptr_t cfa, ra, at;

		if (__builtin_expect(atomic_load_explicit(&keys[i], memory_order_relaxed) != key ||
				     (uint16_t)v != gen, 0))
			v = lookup_slow(key, gen);
		ips[k] = key;	/* kept unless the shim's own */
		k += key - lo >= span;
		if (__builtin_expect(v & V_SPECIAL, 0)) {
			if (!(v & V_END))
				goto slow;
			break;	/* the outermost frame */
		}
		/*
		 * Every read lies within [sp, top), so a bad rule (or a garbage
		 * rbp) never faults: the lowest, at, at or above sp (a signed
		 * difference: also when rbp + offset wrapped), the CFA at most
		 * top; the return address is at CFA - 8 >= at.
		 */
		cfa = ((v & V_CFA_RBP) ? fp : sp) + (uintptr_t)V_CFA_OFF(v);
		at = cfa + (uintptr_t)V_RBP_OFF(v);
		if ((intptr_t)(at - sp) < 0 || cfa > top)
			goto slow;
		ra = *(const uintptr_t *)(cfa - 8);
		if (v & V_RBP_SAVED)
			fp = *(const uintptr_t *)at;
		sp = cfa;
		if (!ra || k >= max)
			break;
		key = ra;
	}
	if (k)
		ips[0] -= 1;
	return (int)k;
slow:
	if (rs_unwind_checking)
		atomic_fetch_add_explicit(&n_slow, 1, memory_order_relaxed);
	return -1;
}

void rs_unwind_check(const uintptr_t *ips, unsigned n, unsigned max)
{
	uintptr_t ref[RS_DEPTH_MAX + RS_UNWIND_SLACK];
	unsigned m;

	if (max > RS_DEPTH_MAX)
		max = RS_DEPTH_MAX;
	if (!rs_unwind_begin())
		return;
	if (!rs_unwind_libunwind_ok()) {	/* counted in, as it asks */
		rs_unwind_end();
		return;
	}
	m = rs_unwind_squeeze(ref, unw_backtrace((void **)ref, (int)(max + RS_UNWIND_SLACK)), max);
	rs_unwind_end();
	atomic_fetch_add_explicit(&n_fast, 1, memory_order_relaxed);
	if (m != n || memcmp(ref, ips, n * sizeof(*ips)) != 0)
		atomic_fetch_add_explicit(&n_mismatch, 1, memory_order_relaxed);
}

void rs_unwind_counts(struct rs_unwind_counts *c)
{
	c->fast = atomic_load(&n_fast);
	c->slow = atomic_load(&n_slow);
	c->mismatch = atomic_load(&n_mismatch);
}
