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
/* Fills ips (innermost first, the innermost as an address inside the call);
 * returns the number of frames, at most max. ips must have room for
 * max + RS_UNWIND_SLACK entries. */
unsigned rs_unwind_capture(uintptr_t *ips, unsigned max);

/*
 * fork handlers (call from pthread_atfork's, prepare last, parent and child
 * first): prepare waits (bounded) until no thread is inside libunwind and
 * keeps new unwinds out until parent/child; so a child never inherits
 * libunwind's or the loader's locks held. A child of a fork whose wait timed
 * out captures no stacks at all.
 */
/* Is ip inside the dynamic loader (ld.so)? Learned by rs_unwind_init. */
int rs_unwind_in_loader(uintptr_t ip);

void rs_unwind_fork_prepare(void);
void rs_unwind_fork_parent(void);
void rs_unwind_fork_child(void);

#endif /* REFSCOPE_UNWIND_H */
