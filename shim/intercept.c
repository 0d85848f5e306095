/*
 * intercept.c - the malloc family hooks and the retain/release record path.
 *
 * Each hook: forward at once while the real functions are being found (pool),
 * while nested inside another hook (guard) or while not tracing; else record.
 * A call that gives a block back takes its sequence number before the real
 * call, one that receives a block after it. errno is what the real function
 * left: our recording never changes it.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "guard.h"
#include "refapi.h"
#include "refscope_format.h"
#include "shim.h"

static inline struct rs_tbuf *tbuf(void)
{
	struct rs_tbuf *tb = rs_self.tb;

	return rs_likely(tb != NULL) ? tb : rs_shim_tbuf();
}

static inline uint64_t mul_sat(size_t a, size_t b)
{
	size_t n;

	return __builtin_mul_overflow(a, b, &n) ? UINT64_MAX : n;
}

/* Records the outcome of a call that receives a block (or failed to). */
static inline __attribute__((always_inline)) void rec_alloc(void *p, uint64_t size, unsigned kind, uint64_t align)
{
	struct rs_tbuf *tb = tbuf();
	uint64_t t;
	uint32_t st;

	if (rs_unlikely(!tb))
		return;
	t = rs_writer_time(tb);
	st = rs_shim_stack(tb);
	if (p)
		rs_ev_alloc(tb, 0, t, (uintptr_t)p, size, st, kind, align);
	else
		rs_ev_alloc_failed(tb, 0, t, size, st, kind, 0);
}

/* Records a block given back; before the real call, so the address cannot
 * be handed out again (and recorded) by another thread in between. */
static inline __attribute__((always_inline)) void rec_free(void *p, unsigned kind)
{
	struct rs_tbuf *tb = tbuf();
	uint64_t t;
	uint32_t st;

	if (rs_unlikely(!tb))
		return;
	t = rs_writer_time(tb);
	st = rs_opt.free_stacks ? rs_shim_stack(tb) : 0;
	rs_ev_free(tb, 0, t, (uintptr_t)p, st, kind);
}

#define HOOK_PROLOGUE(pool_expr, forward_expr)                              \
	do {                                                                \
		if (rs_unlikely(!atomic_load_explicit(&rs_boot_done,        \
						      memory_order_acquire)) && \
		    rs_boot_use_pool())                                     \
			return pool_expr;                                   \
		if (rs_self.guard || !rs_shim_ready())                      \
			return forward_expr;                                \
		rs_self.caller = __builtin_return_address(0);               \
	} while (0)

RS_EXPORT void *malloc(size_t n)
{
	void *p;
	int e;

	HOOK_PROLOGUE(rs_pool_alloc(n, 16), rs_real.malloc(n));
	rs_self.guard = 1;
	p = rs_real.malloc(n);
	e = errno;
	rec_alloc(p, n, RS_KIND_MALLOC, 0);
	errno = e;
	rs_self.guard = 0;
	return p;
}

RS_EXPORT void *calloc(size_t a, size_t b)
{
	void *p;
	int e;

	HOOK_PROLOGUE(rs_pool_alloc(mul_sat(a, b) > SIZE_MAX / 2 ? SIZE_MAX : a * b, 16),
		      rs_real.calloc(a, b));
	rs_self.guard = 1;
	p = rs_real.calloc(a, b);
	e = errno;
	rec_alloc(p, mul_sat(a, b), RS_KIND_CALLOC, 0);
	errno = e;
	rs_self.guard = 0;
	return p;
}

RS_EXPORT void free(void *p)
{
	int e;

	if (rs_unlikely(rs_pool_owns(p)))
		return;	/* served by the bootstrap pool: never given back */
	HOOK_PROLOGUE((void)0, rs_real.free(p));
	rs_self.guard = 1;
	e = errno;
	rec_free(p, RS_KIND_FREE);
	errno = e;
	rs_real.free(p);
	rs_self.guard = 0;
}

/* realloc and reallocarray, written as their meaning (see the format). */
static void *do_realloc(void *old, size_t a, size_t b, unsigned kind)
{
	uint64_t size = mul_sat(a, b);
	struct rs_tbuf *tb;
	uint64_t t;
	uint32_t st = 0;
	void *p;
	int e = errno;

	rs_self.guard = 1;
	if (!old) {
		p = kind == RS_KIND_REALLOC ? rs_real.realloc(NULL, a) :
					      rs_real.reallocarray(NULL, a, b);
		e = errno;
		rec_alloc(p, size, kind, 0);
		errno = e;
		rs_self.guard = 0;
		return p;
	}
	tb = tbuf();
	if (tb) {
		t = rs_writer_time(tb);
		st = rs_shim_stack(tb);
		rs_ev_free(tb, 0, t, (uintptr_t)old, st, kind);
	}
	errno = e;
	p = kind == RS_KIND_REALLOC ? rs_real.realloc(old, a) : rs_real.reallocarray(old, a, b);
	e = errno;
	if (tb) {
		if (p) {
			t = rs_writer_time(tb);
			rs_ev_alloc(tb, 0, t, (uintptr_t)p, size, st, kind, 0);
		} else if (size != 0) {
			/* failed: old stays live; the reader restores it */
			t = rs_writer_time(tb);
			rs_ev_alloc_failed(tb, 0, t, size, st, kind, (uintptr_t)old);
		}
		/* size 0 and NULL: glibc freed old, the FREE says it all */
		}
	errno = e;
	rs_self.guard = 0;
	return p;
}

/* realloc of a bootstrap-pool block: copy it out into a real block. */
static void *pool_realloc(void *old, size_t n)
{
	size_t have = rs_pool_size(old);
	void *p = malloc(n);

	if (p)
		memcpy(p, old, have < n ? have : n);
	return p;
}

RS_EXPORT void *realloc(void *old, size_t n)
{
	if (rs_unlikely(!atomic_load_explicit(&rs_boot_done, memory_order_acquire)) &&
	    rs_boot_use_pool()) {
		void *p = rs_pool_alloc(n, 16);

		if (p && old)
			memcpy(p, old, rs_pool_size(old) < n ? rs_pool_size(old) : n);
		return p;
	}
	if (rs_unlikely(rs_pool_owns(old)))
		return pool_realloc(old, n);
	if (rs_self.guard || !rs_shim_ready())
		return rs_real.realloc(old, n);
	rs_self.caller = __builtin_return_address(0);
	return do_realloc(old, n, 1, RS_KIND_REALLOC);
}

RS_EXPORT void *reallocarray(void *old, size_t a, size_t b)
{
	if (rs_unlikely(!atomic_load_explicit(&rs_boot_done, memory_order_acquire)) &&
	    rs_boot_use_pool())
		return realloc(old, (size_t)mul_sat(a, b));
	if (rs_unlikely(rs_pool_owns(old)))
		return pool_realloc(old, (size_t)mul_sat(a, b));
	if (rs_self.guard || !rs_shim_ready())
		return rs_real.reallocarray(old, a, b);
	rs_self.caller = __builtin_return_address(0);
	return do_realloc(old, a, b, RS_KIND_REALLOCARRAY);
}

RS_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int r, e;

	if (rs_unlikely(!atomic_load_explicit(&rs_boot_done, memory_order_acquire)) &&
	    rs_boot_use_pool()) {
		void *p = rs_pool_alloc(n, align);

		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (rs_self.guard || !rs_shim_ready())
		return rs_real.posix_memalign(out, align, n);
	rs_self.caller = __builtin_return_address(0);
	rs_self.guard = 1;
	r = rs_real.posix_memalign(out, align, n);
	e = errno;
	rec_alloc(r == 0 ? *out : NULL, n, RS_KIND_POSIX_MEMALIGN, align);
	errno = e;
	rs_self.guard = 0;
	return r;
}

#define ALIGNED_HOOK(name, kind, params, args, pool_expr, size_expr, align_expr) \
	RS_EXPORT void *name params                                             \
	{                                                                       \
		void *p;                                                        \
		int e;                                                          \
									\
		HOOK_PROLOGUE(pool_expr, rs_real.name args);                    \
		rs_self.guard = 1;                                              \
		p = rs_real.name args;                                          \
		e = errno;                                                      \
		rec_alloc(p, size_expr, kind, align_expr);                      \
		errno = e;                                                      \
		rs_self.guard = 0;                                              \
		return p;                                                       \
	}

ALIGNED_HOOK(aligned_alloc, RS_KIND_ALIGNED_ALLOC, (size_t align, size_t n), (align, n),
	     rs_pool_alloc(n, align), n, align)
ALIGNED_HOOK(memalign, RS_KIND_MEMALIGN, (size_t align, size_t n), (align, n),
	     rs_pool_alloc(n, align), n, align)
ALIGNED_HOOK(valloc, RS_KIND_VALLOC, (size_t n), (n), rs_pool_alloc(n, 4096), n, 0)
ALIGNED_HOOK(pvalloc, RS_KIND_PVALLOC, (size_t n), (n), rs_pool_alloc(n, 4096), n, 0)

/* ---- retain/release ------------------------------------------------------
 *
 * Taken before the real call (the trampoline calls us first): a release may
 * free the object, and its number must come before that FREE.
 */
static void rec_ref(int release, const void *obj, unsigned api, unsigned fn)
{
	struct rs_tbuf *tb = tbuf();
	uint64_t t;
	uint32_t st;

	rs_self.caller = NULL;	/* not a malloc-family call: none left over from one */
	if (rs_unlikely(!tb))
		return;
	t = rs_writer_time(tb);
	st = rs_shim_stack(tb);
	rs_ev_ref(tb, release, 0, t, (uintptr_t)obj, st, api, fn);
}

void rs_shim_refapi_hit(unsigned idx, const void *obj)
{
	const struct rs_refapi_fn *f;
	int e;

	if (rs_self.guard || !rs_shim_ready())
		return;
	e = errno;
	rs_self.guard = 1;
	rs_self.caller = NULL;	/* a traced call: unwind it (never the loader's) */
	f = rs_refapi_tramp_fn(idx);
	rec_ref(f->release, obj, f->api, f->fn);
	errno = e;
	rs_self.guard = 0;
}

static void annotate(int release, const void *p)
{
	int e;

	if (rs_self.guard || !rs_shim_ready())
		return;
	e = errno;
	rs_self.guard = 1;
	rs_self.caller = NULL;
	rs_refapi_announce(RS_REFAPI_ANNOTATION);	/* once; before the first event */
	rec_ref(release, p, RS_REFAPI_ANNOTATION, 0);
	errno = e;
	rs_self.guard = 0;
}

/* include/refscope.h declares these weak for programs; not here. */
RS_EXPORT void refscope__retain(const void *p);
RS_EXPORT void refscope__release(const void *p);
RS_EXPORT int refscope__active(void);

RS_EXPORT void refscope__retain(const void *p)
{
	annotate(0, p);
}

RS_EXPORT void refscope__release(const void *p)
{
	annotate(1, p);
}

RS_EXPORT int refscope__active(void)
{
	return atomic_load_explicit(&rs_tracing, memory_order_relaxed) != 0;
}
