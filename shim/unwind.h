/*
 * unwind.h - capturing the caller's stack as raw instruction pointers.
 *
 * rs_unwind_init() sets libunwind's caching policy and learns the address
 * range of the object holding this code, so frames of the shim itself are
 * left out of every stack. Capture goes through the shim's own frame walker
 * (rules from .eh_frame cached per return address, cfi.h), and through
 * unw_backtrace for an event whose stack it cannot walk; a nested malloc
 * from libunwind is forwarded by the hook's guard.
 * rs_unwind_init() also makes libunwind open its address-validation pipe
 * then, at or above rs_writer_fd_floor(), never on the program's low numbers.
 */
#ifndef REFSCOPE_UNWIND_H
#define REFSCOPE_UNWIND_H

#include <stdint.h>

#define RS_UNWIND_SLACK 16	/* room for the shim's own frames, dropped */

int rs_unwind_init(void);

/* The address range of an object's PT_LOAD segments; the object containing
 * addr (0, or -1 if none). Callers in hooks hold the loader gate. */
struct dl_phdr_info;
void rs_object_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);
int rs_object_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/* Capture in three steps, so the caller can inline the unw_backtrace call
 * into the hook itself: each shim frame between the hook and unw_backtrace
 * would cost libunwind a frame step, only to be dropped.
 * rs_unwind_begin: 1 if this thread may unwind now (then call rs_unwind_end
 * right after unwinding); rs_unwind_squeeze: drops the shim's frames
 * from the n raw ones in place, the innermost made an address inside the
 * call; returns the number kept, at most max. */
int rs_unwind_begin(void);
void rs_unwind_end(void);
unsigned rs_unwind_squeeze(uintptr_t *ips, int n, unsigned max);

int unw_backtrace(void **buffer, int size);	/* libunwind-common.h */
/* 0 once libunwind's pipe was given up (see rs_unwind_give_up below). */
int rs_unwind_libunwind_ok(void);

/*
 * The fast walker: steps from the frame at (pc, sp, fp) - the hook's own,
 * its registers read where the hook is - through the callers by cached
 * per-return-address rules (cfi.h), dropping the shim's frames as
 * rs_unwind_squeeze does. Fills ips as rs_unwind_capture; returns the
 * number of frames kept, or -1 when any frame needs what only libunwind
 * does (a rule it cannot apply, a frame outside the thread's known stack,
 * no known stack for this thread): the caller then unwinds with libunwind.
 * It takes no lock and needs no fork gate: only a miss in its rule cache
 * walks the loader's list, and counts itself in at the gate for that.
 */
int rs_unwind_fast(uintptr_t *ips, unsigned max, uintptr_t pc, uintptr_t sp, uintptr_t fp);

/* REFSCOPE_UNWIND_CHECK=1 (a debugging aid): every event the fast walker
 * served is unwound by libunwind too, and the two compared. */
extern int rs_unwind_checking;
void rs_unwind_check(const uintptr_t *ips, unsigned n, unsigned max);
struct rs_unwind_counts {
	uint64_t fast, slow, mismatch;	/* events walked fast, by libunwind, differing */
};
void rs_unwind_counts(struct rs_unwind_counts *c);

/* The calling thread's stack bounds, for the fast walker: call at thread
 * start, outside any hook's recording (pthread_getattr_np may allocate). */
void rs_unwind_thread_start(void);
/* A module was unloaded: every cached rule is forgotten (another object may
 * be loaded at the same addresses). */
void rs_unwind_forget(void);

/* Fills ips (innermost first, the innermost as an address inside the call);
 * returns the number of frames, at most max. ips must have room for
 * max + RS_UNWIND_SLACK entries. Inlined: no frame of its own, so the
 * libunwind fallback starts in the hook, as the fast walker does. */
static inline __attribute__((always_inline)) unsigned rs_unwind_capture(uintptr_t *ips, unsigned max)
{
	uintptr_t pc, sp, fp;
	int n;

	/* one asm: pc, rsp and rbp as they are at the same instruction */
	__asm__ volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2"
			 : "=r"(pc), "=r"(sp), "=r"(fp));
	n = rs_unwind_fast(ips, max, pc, sp, fp);
	if (__builtin_expect(n < 0, 0)) {
		if (!rs_unwind_begin())
			return 0;
		/* ips holds max + RS_UNWIND_SLACK entries: unwind in place, then
		 * squeeze out our own frames (one buffer: hooks may run on small
		 * thread stacks) */
		n = rs_unwind_libunwind_ok() ?
			    unw_backtrace((void **)ips, (int)(max + RS_UNWIND_SLACK)) : 0;
		n = (int)rs_unwind_squeeze(ips, n, max);
		rs_unwind_end();
	} else if (__builtin_expect(rs_unwind_checking, 0)) {
		rs_unwind_check(ips, (unsigned)n, max);
	}
	return (unsigned)n;
}

/*
 * fork handlers (call from pthread_atfork's, prepare last, parent and child
 * first): prepare waits (bounded) until no thread is inside libunwind and
 * keeps new unwinds out until parent/child; so a child never inherits
 * libunwind's or the loader's locks held. A child of a fork whose wait timed
 * out captures no stacks at all.
 */
/* Is ip inside the dynamic loader (ld.so)? Learned by rs_unwind_init. */
int rs_unwind_in_loader(uintptr_t ip);
/* Its range, for inlined tests: ip - rs_ldso_lo < rs_ldso_span. */
extern uintptr_t rs_ldso_lo, rs_ldso_span;

/*
 * The shim's own dl_iterate_phdr walks (module scans, GOT patching, heap
 * snapshots) hold the loader's lock just as libunwind's lookups do, and a
 * fork child inheriting it held hangs on its first walk. They count
 * themselves in through the same gate: rs_loader_enter returns 1 (walk,
 * then rs_loader_leave) or 0 (a fork kept the gate closed too long, or this
 * is the child of such a fork: do not walk now).
 */
int rs_loader_enter(void);
void rs_loader_leave(void);

/*
 * libunwind's address-validation pipe (see unwind.c). rs_unwind_pipe_number:
 * fd is one of its two numbers (a compare, no system call);
 * rs_unwind_owns_fd: and the number still holds that pipe (call it only in
 * the process the trace belongs to: a vfork child has its own table).
 * rs_unwind_give_up: the program is taking a number: libunwind is never
 * called again (after waiting, bounded, for calls in flight); the fast
 * walker goes on, and an event only libunwind could walk has no stack.
 */
int rs_unwind_pipe_number(int fd);
void rs_unwind_pipe_fds(int out[2]);	/* its two numbers, -1 if none */
int rs_unwind_owns_fd(int fd);
void rs_unwind_give_up(void);

void rs_unwind_fork_prepare(void);
void rs_unwind_fork_parent(void);
void rs_unwind_fork_child(void);

#endif /* REFSCOPE_UNWIND_H */
