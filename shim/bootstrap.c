/*
 * bootstrap.c - finding the real functions without allocating.
 *
 * dlsym(RTLD_NEXT) may allocate (its error state, a TLS block): while this
 * thread resolves, its allocations come from a static bump pool. A pool block
 * is never given back (free of it is ignored; realloc copies it out), so
 * the pool only has to cover what dlsym needs once.
 */
#include "bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"

/* glibc's own allocator entry points: the fallback when dlsym finds nothing. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

struct rs_real_fns rs_real;
atomic_int rs_boot_done;
static atomic_int boot_started;

#define POOL_SIZE (256u << 10)
#define POOL_HDR 16

static _Alignas(64) unsigned char pool[POOL_SIZE];
static _Atomic size_t pool_used;

void *rs_pool_alloc(size_t n, size_t align)
{
	size_t old = atomic_load(&pool_used), start, end;

	if (align < POOL_HDR)
		align = POOL_HDR;
	if (align > 4096 || n > POOL_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	do {
		start = (old + POOL_HDR + align - 1) & ~(align - 1);
		end = start + n;
		if (end > POOL_SIZE) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!atomic_compare_exchange_weak(&pool_used, &old, end));
	memcpy(pool + start - sizeof(size_t), &n, sizeof(n));
	return pool + start;	/* static memory: already zero, which calloc needs */
}

int rs_pool_owns(const void *p)
{
	return (const unsigned char *)p >= pool && (const unsigned char *)p < pool + POOL_SIZE;
}

size_t rs_pool_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

/* ---- fallbacks: used only when dlsym could not find the real function ---- */

static void *fb_reallocarray(void *p, size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

static int fb_posix_memalign(void **out, size_t al, size_t n)
{
	void *p;

	if (al < sizeof(void *) || (al & (al - 1)))
		return EINVAL;
	p = __libc_memalign(al, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *fb_aligned_alloc(size_t al, size_t n)
{
	return __libc_memalign(al, n);
}

static void *fb_null_open(const char *f, int m)
{
	(void)f;
	(void)m;
	return NULL;
}

static void *fb_null_mopen(Lmid_t l, const char *f, int m)
{
	(void)l;
	(void)f;
	(void)m;
	return NULL;
}

static void *fb_null_sym(void *h, const char *name)
{
	(void)h;
	(void)name;
	return NULL;
}

static int fb_fail_close(void *h)
{
	(void)h;
	return -1;
}

static int fb_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	(void)t;
	(void)a;
	(void)fn;
	(void)arg;
	return EAGAIN;
}

static int fb_execve(const char *p, char *const a[], char *const e[])
{
	return (int)syscall(SYS_execve, p, a, e);
}

static int fb_execv(const char *p, char *const a[])
{
	return fb_execve(p, a, environ);
}

static int fb_execvp(const char *p, char *const a[])
{
	(void)p;
	(void)a;
	errno = ENOSYS;
	return -1;
}

static int fb_execvpe(const char *p, char *const a[], char *const e[])
{
	(void)p;
	(void)a;
	(void)e;
	errno = ENOSYS;
	return -1;
}

static int fb_fexecve(int fd, char *const a[], char *const e[])
{
	return (int)syscall(SYS_execveat, fd, "", a, e, 0x1000 /* AT_EMPTY_PATH */);
}

__attribute__((noreturn)) static void fb_exit(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

__attribute__((noreturn)) static void fb_abort(void)
{
	raise(SIGABRT);
	fb_exit(127);
}

static int fb_sigaction(int sig, const struct sigaction *a, struct sigaction *o)
{
	(void)sig;
	(void)a;
	(void)o;
	errno = ENOSYS;
	return -1;
}

static __sighandler_t fb_signal(int sig, __sighandler_t h)
{
	(void)sig;
	(void)h;
	errno = ENOSYS;
	return SIG_ERR;
}

static int fb_prctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
	return (int)syscall(SYS_prctl, op, a, b, c, d);
}

static int fb_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int fb_close_range(unsigned a, unsigned b, int flags)
{
	return (int)syscall(SYS_close_range, a, b, flags);
}

static void fb_closefrom(int fd)
{
	syscall(SYS_close_range, (unsigned)fd, ~0U, 0);
}

static int fb_dup3(int a, int b, int flags)
{
	return (int)syscall(SYS_dup3, a, b, flags);
}

static int fb_dup2(int a, int b)
{
	if (a == b)	/* dup3 refuses it; dup2 checks a is open */
		return (int)syscall(SYS_fcntl, a, F_GETFD) < 0 ? -1 : b;
	return fb_dup3(a, b, 0);
}

static void set_fallbacks(void)
{
	rs_real.malloc = __libc_malloc;
	rs_real.calloc = __libc_calloc;
	rs_real.realloc = __libc_realloc;
	rs_real.reallocarray = fb_reallocarray;
	rs_real.free = __libc_free;
	rs_real.posix_memalign = fb_posix_memalign;
	rs_real.aligned_alloc = fb_aligned_alloc;
	rs_real.memalign = __libc_memalign;
	rs_real.valloc = __libc_valloc;
	rs_real.pvalloc = __libc_pvalloc;
	rs_real.dlopen = fb_null_open;
	rs_real.dlmopen = fb_null_mopen;
	rs_real.dlclose = fb_fail_close;
	rs_real.dlsym = fb_null_sym;
	rs_real.pthread_create = fb_pthread_create;
	rs_real.execve = fb_execve;
	rs_real.execv = fb_execv;
	rs_real.execvp = fb_execvp;
	rs_real.execvpe = fb_execvpe;
	rs_real.fexecve = fb_fexecve;
	rs_real.exit = fb_exit;
	rs_real._exit = fb_exit;
	rs_real._Exit = fb_exit;
	rs_real.abort = fb_abort;
	rs_real.sigaction = fb_sigaction;
	rs_real.signal = fb_signal;
	rs_real.sysv_signal = fb_signal;
	rs_real.bsd_signal = fb_signal;
	rs_real.close = fb_close;
	rs_real.prctl = fb_prctl;
	rs_real.close_range = fb_close_range;
	rs_real.closefrom = fb_closefrom;
	rs_real.dup2 = fb_dup2;
	rs_real.dup3 = fb_dup3;
}

#define RESOLVE(field, name, fallback)                                        \
	do {                                                                  \
		void *sym_ = rs_real.dlsym(RTLD_NEXT, name);                  \
		if (sym_)                                                     \
			memcpy(&rs_real.field, &sym_, sizeof(sym_));          \
		else                                                          \
			rs_real.field = fallback;                             \
	} while (0)

void rs_bootstrap(void)
{
	void *sym;

	if (atomic_load_explicit(&rs_boot_done, memory_order_acquire))
		return;
	if (atomic_exchange(&boot_started, 1)) {
		/* another thread resolves (or we do, and got here through dlsym) */
		if (rs_self.bootstrapping)
			return;
		while (!atomic_load_explicit(&rs_boot_done, memory_order_acquire))
			__builtin_ia32_pause();
		return;
	}
	rs_self.bootstrapping = 1;
	set_fallbacks();	/* nothing is NULL even while dlsym runs */
	/* the shim hooks dlsym: find libc's by version, which dlvsym needs */
	sym = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!sym)
		sym = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	if (sym)
		memcpy(&rs_real.dlsym, &sym, sizeof(sym));
	RESOLVE(malloc, "malloc", __libc_malloc);
	RESOLVE(calloc, "calloc", __libc_calloc);
	RESOLVE(realloc, "realloc", __libc_realloc);
	RESOLVE(reallocarray, "reallocarray", fb_reallocarray);
	RESOLVE(free, "free", __libc_free);
	RESOLVE(posix_memalign, "posix_memalign", fb_posix_memalign);
	RESOLVE(aligned_alloc, "aligned_alloc", fb_aligned_alloc);
	RESOLVE(memalign, "memalign", __libc_memalign);
	RESOLVE(valloc, "valloc", __libc_valloc);
	RESOLVE(pvalloc, "pvalloc", __libc_pvalloc);
	RESOLVE(dlopen, "dlopen", fb_null_open);
	RESOLVE(dlmopen, "dlmopen", fb_null_mopen);
	RESOLVE(dlclose, "dlclose", fb_fail_close);
	RESOLVE(pthread_create, "pthread_create", fb_pthread_create);
	RESOLVE(execve, "execve", fb_execve);
	RESOLVE(execv, "execv", fb_execv);
	RESOLVE(execvp, "execvp", fb_execvp);
	RESOLVE(execvpe, "execvpe", fb_execvpe);
	RESOLVE(fexecve, "fexecve", fb_fexecve);
	RESOLVE(exit, "exit", fb_exit);
	RESOLVE(_exit, "_exit", fb_exit);
	RESOLVE(_Exit, "_Exit", fb_exit);
	RESOLVE(abort, "abort", fb_abort);
	RESOLVE(sigaction, "sigaction", fb_sigaction);
	RESOLVE(signal, "signal", fb_signal);
	RESOLVE(sysv_signal, "sysv_signal", fb_signal);
	RESOLVE(bsd_signal, "bsd_signal", fb_signal);
	RESOLVE(close, "close", fb_close);
	RESOLVE(close_range, "close_range", fb_close_range);
	RESOLVE(closefrom, "closefrom", fb_closefrom);
	RESOLVE(dup2, "dup2", fb_dup2);
	RESOLVE(dup3, "dup3", fb_dup3);
	RESOLVE(prctl, "prctl", fb_prctl);
	sym = rs_real.dlsym(RTLD_NEXT, "__libc_start_main");
	if (!sym)
		sym = dlvsym(RTLD_NEXT, "__libc_start_main", "GLIBC_2.2.5");
	memcpy(&rs_real.libc_start_main, &sym, sizeof(sym));	/* checked at the call */
	rs_self.bootstrapping = 0;
	atomic_store_explicit(&rs_boot_done, 1, memory_order_release);
}

int rs_boot_use_pool(void)
{
	rs_bootstrap();
	return rs_self.bootstrapping;
}
