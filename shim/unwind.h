/*
 * unwind.h - capturing the caller's stack as raw instruction pointers.
 *
 * rs_unwind_init() sets libunwind's caching policy and learns the address
 * range of the object holding this code, so frames of the shim itself are
 * left out of every stack. Capture goes through unw_backtrace (the fast
 * path); a nested malloc from libunwind is forwarded by the hook's guard.
 * rs_unwind_init() also makes libunwind open its address-validation pipe
 * then, at or above rs_writer_fd_floor(), never on the program's low numbers.
 */
#ifndef REFSCOPE_UNWIND_H
#define REFSCOPE_UNWIND_H

#include <stdint.h>

#define RS_UNWIND_SLACK 16	/* room for the shim's own frames, dropped */

int rs_unwind_init(void);

/* Capture in three steps, so the caller can inline the unw_backtrace call
 * into the hook itself: each shim frame between the hook and unw_backtrace
 * would cost libunwind a frame step on every event, only to be dropped.
 * rs_unwind_begin: 1 if this thread may unwind now (then call rs_unwind_end
 * right after unw_backtrace); rs_unwind_squeeze: drops the shim's frames
 * from the n raw ones in place, the innermost made an address inside the
 * call; returns the number kept, at most max. */
int rs_unwind_begin(void);
void rs_unwind_end(void);
unsigned rs_unwind_squeeze(uintptr_t *ips, int n, unsigned max);

int unw_backtrace(void **buffer, int size);	/* libunwind-common.h */

/* Fills ips (innermost first, the innermost as an address inside the call);
 * returns the number of frames, at most max. ips must have room for
 * max + RS_UNWIND_SLACK entries. Inlined: no frame of its own. */
static inline __attribute__((always_inline)) unsigned rs_unwind_capture(uintptr_t *ips, unsigned max)
{
	int n;

	if (!rs_unwind_begin())
		return 0;
	/* ips holds max + RS_UNWIND_SLACK entries: unwind in place, then squeeze
	 * out our own frames (one buffer: hooks may run on small thread stacks) */
	n = unw_backtrace((void **)ips, (int)(max + RS_UNWIND_SLACK));
	rs_unwind_end();
	return rs_unwind_squeeze(ips, n, max);
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
 * the process the trace belongs to: a vfork child has its own table). rs_unwind_give_up:
 * the program is taking a number: no unwinding from now on (events keep no
 * stack), after waiting (bounded) for unwinds in flight.
 */
int rs_unwind_pipe_number(int fd);
void rs_unwind_pipe_fds(int out[2]);	/* its two numbers, -1 if none */
int rs_unwind_owns_fd(int fd);
void rs_unwind_give_up(void);

void rs_unwind_fork_prepare(void);
void rs_unwind_fork_parent(void);
void rs_unwind_fork_child(void);

#endif /* REFSCOPE_UNWIND_H */
