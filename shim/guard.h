/*
 * guard.h - per-thread state of the hooks: the re-entrancy flag, the cached
 * thread id and the thread's event buffer.
 *
 * Lives in initial-exec TLS so that touching it never calls malloc (a
 * general-dynamic TLS access may allocate through __tls_get_addr). Only the
 * hook files (intercept.c, bootstrap.c, shim.c, signals.c) use it; the engine
 * takes its buffer as an argument so the unit tests can drive it.
 */
#ifndef REFSCOPE_GUARD_H
#define REFSCOPE_GUARD_H

#include <stdint.h>

struct rs_tbuf;

struct rs_thread {
	int guard;		/* inside a hook: nested calls only forward */
	int bootstrapping;	/* resolving real functions: serve from the pool */
	uint32_t tid;		/* gettid(), 0 until first needed; reset after fork */
	struct rs_tbuf *tb;	/* this thread's event buffer, NULL until first event */
	const void *caller;	/* return address of the running hook, read (and
				 * cleared) by rs_shim_stack: when it lies in the
				 * loader, the loader's locks may be held */
};

extern __thread struct rs_thread rs_self
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

#define RS_EXPORT __attribute__((visibility("default")))
#define rs_likely(x) __builtin_expect(!!(x), 1)
#define rs_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* REFSCOPE_GUARD_H */
