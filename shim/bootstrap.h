/*
 * bootstrap.h - the real functions behind every hook, and the static pool
 * that serves allocations made while they are being looked up.
 *
 * rs_bootstrap() resolves everything once with dlsym(RTLD_NEXT). dlsym itself
 * may call malloc/calloc: on the resolving thread those are served from the
 * pool (rs_boot_use_pool() says so); other threads wait for the resolution.
 * A pointer that never resolves gets glibc's exported __libc_* allocator or a
 * safe fallback, so no hook ever calls through NULL.
 */
#ifndef REFSCOPE_BOOTSTRAP_H
#define REFSCOPE_BOOTSTRAP_H

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

typedef int (*rs_main_fn)(int, char **, char **);

struct rs_real_fns {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void (*free)(void *);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*dlopen)(const char *, int);
	void *(*dlmopen)(Lmid_t, const char *, int);
	int (*dlclose)(void *);
	void *(*dlsym)(void *, const char *);
	int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	void (*exit)(int) __attribute__((noreturn));
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
	void (*abort)(void) __attribute__((noreturn));
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	__sighandler_t (*signal)(int, __sighandler_t);
	__sighandler_t (*sysv_signal)(int, __sighandler_t);
	__sighandler_t (*bsd_signal)(int, __sighandler_t);
	int (*close)(int);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*prctl)(int, unsigned long, unsigned long, unsigned long, unsigned long);
	int (*libc_start_main)(rs_main_fn, int, char **, void (*)(void), void (*)(void),
			       void (*)(void), void *);
};

extern struct rs_real_fns rs_real;
extern atomic_int rs_boot_done;

/* Resolves the real functions (once). */
void rs_bootstrap(void);
/* Called by a hook when !rs_boot_done: resolves, and returns 1 when this
 * thread is inside the resolution and must use the pool. */
int rs_boot_use_pool(void);

void *rs_pool_alloc(size_t n, size_t align);
int rs_pool_owns(const void *p);
size_t rs_pool_size(const void *p);

#endif /* REFSCOPE_BOOTSTRAP_H */
