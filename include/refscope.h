/*
 * refscope.h - what a program can say to refscope, when refscope is there.
 *
 * Include it and call these anywhere; no library to link. The entry points
 * are weak references resolved at run time against librefscope.so when the
 * program runs under `refscope run` (LD_PRELOAD); without refscope they are
 * NULL and these wrappers do nothing, so the program links and runs as
 * before.
 *
 *   refscope_snapshot()   take a heap snapshot now (the graph of live blocks
 *                         and the pointers between them). The scan runs in
 *                         the calling thread, before the call returns.
 *                         Returns 0, or -1 when refscope is not loaded or not
 *                         tracing.
 *   refscope_retain(p)    record that the program took a reference to the
 *   refscope_release(p)   object at p / dropped one; for refcounting code
 *                         that wants to say so explicitly (API "annotation").
 *   refscope_active()     1 when the shim is loaded and tracing.
 */
#ifndef REFSCOPE_H
#define REFSCOPE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Exported by librefscope.so; do not call directly (may be NULL). */
int refscope__snapshot(void) __attribute__((weak));
void refscope__retain(const void *p) __attribute__((weak));
void refscope__release(const void *p) __attribute__((weak));
int refscope__active(void) __attribute__((weak));

static inline int refscope_snapshot(void)
{
	return refscope__snapshot ? refscope__snapshot() : -1;
}

static inline void refscope_retain(const void *p)
{
	if (refscope__retain)
		refscope__retain(p);
}

static inline void refscope_release(const void *p)
{
	if (refscope__release)
		refscope__release(p);
}

static inline int refscope_active(void)
{
	return refscope__active ? refscope__active() : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* REFSCOPE_H */
