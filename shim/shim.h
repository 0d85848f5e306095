/*
 * shim.h - what the hook files share: lazy init, the calling thread's buffer
 * and stack, and the end-of-trace paths.
 *
 * Calling order in a recording hook: check rs_self.guard and rs_shim_ready(),
 * set the guard, then rs_shim_tbuf() (may be NULL: just forward),
 * rs_shim_stack(), the rs_ev_* appenders, clear the guard.
 */
#ifndef REFSCOPE_SHIM_H
#define REFSCOPE_SHIM_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "guard.h"
#include "options.h"
#include "unwind.h"
#include "writer.h"

extern struct rs_options rs_opt;

/* 1 when events are being recorded; may run the lazy init. */
int rs_shim_try_init(void);
static inline int rs_shim_ready(void)
{
	return atomic_load_explicit(&rs_tracing, memory_order_relaxed) || rs_shim_try_init();
}

struct rs_tbuf *rs_shim_tbuf(void);
/* rs_shim_stack's out-of-line parts: the hook called from the loader (one
 * frame, no unwind: see shim.c); interning n captured frames (0 if none). */
uint32_t rs_shim_stack_loader(struct rs_tbuf *tb, uintptr_t caller);
uint32_t rs_shim_stack_intern(struct rs_tbuf *tb, const uintptr_t *ips, unsigned n);

/* The running hook's caller's stack, interned: its id, 0 if none. Inlined
 * into the hook, so the walk starts in the hook's own frame: every shim
 * frame in between would cost a step per event, then be dropped. */
static inline __attribute__((always_inline)) uint32_t rs_shim_stack(struct rs_tbuf *tb)
{
	uintptr_t ips[RS_DEPTH_MAX + RS_UNWIND_SLACK];
	uintptr_t caller = (uintptr_t)rs_self.caller;

	rs_self.caller = NULL;
	if (rs_unlikely(caller - rs_ldso_lo < rs_ldso_span))
		return rs_shim_stack_loader(tb, caller);
	return rs_shim_stack_intern(tb, ips, rs_unwind_capture(ips, rs_opt.depth));
}

/* From the fatal-signal handler: flush what is committed, write END. */
void rs_shim_fatal(int sig);

/* intercept.c: records a call that came through refapi trampoline idx. */
void rs_shim_refapi_hit(unsigned idx, const void *obj);

/* signals.c */
void rs_signals_install(void);
int rs_signals_take(int sig, void (*fn)(int, siginfo_t *, void *));

/* pysnap.c: CPython targets. Before main, guard set: the interpreter's
 * environment (PYTHONMALLOC, PYTHONPATH). From a snapshot trigger: ask the
 * interpreter for a Python-aware snapshot (a pending call). */
void rs_py_prepare(void);
void rs_py_request(unsigned trigger);

/* snaptrigger.c: when heap snapshots are taken */
void rs_snaptrig_init(void);		/* after the trace is open: signal, thread */
void rs_snaptrig_exit(unsigned how);	/* exit path, before END */
void rs_snaptrig_fork_child(void);

#endif /* REFSCOPE_SHIM_H */
