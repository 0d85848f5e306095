/*
 * dlstorm - dlopen and dlclose a library again and again while four threads
 * allocate. dlclose frees memory while it holds the loader's lock, and the
 * threads' unwinds take libunwind's lock and then the loader's (libunwind
 * looks addresses up with dl_iterate_phdr): an unwind from inside dlclose's
 * free would take them in the other order. The threads call malloc through
 * stubs at fresh addresses (as JIT code does), so libunwind's lookups run all
 * the time; main calls dlclose through such a stub too.
 *
 * usage: dlstorm LIBRARY [ROUNDS]   (default 300). Prints "rounds N ok".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_int stop;

typedef void *(*stub_fn)(void *(*fn)(size_t), size_t n);

/* push rbp; mov rbp,rsp; mov rax,rdi; mov rdi,rsi; call rax; pop rbp; ret */
static const unsigned char stub_code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x89, 0xf8, 0x48,
					   0x89, 0xf7, 0xff, 0xd0, 0x5d, 0xc3 };

#define JIT_SPAN (64u << 20)
#define STUB_STEP 16
/* libunwind reads 16 bytes at a return address (signal frame check): keep
 * every stub well inside its page, away from the unreadable next one */
#define STUBS_PER_PAGE ((4096 - 64) / STUB_STEP)

/* A thread's code area: every stub it calls sits at a new address, so each
 * unwind through one is a lookup libunwind has never cached. */
struct jit {
	unsigned char *base;
	size_t page, slot;	/* current page offset, next slot in it */
};

static stub_fn jit_next(struct jit *j)
{
	if (!j->base || j->slot == STUBS_PER_PAGE) {
		if (!j->base || j->page + 4096 >= JIT_SPAN) {
			if (j->base)
				munmap(j->base, JIT_SPAN);
			j->base = mmap(NULL, JIT_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				       -1, 0);
			if (j->base == MAP_FAILED)
				abort();
			j->page = 0;
		} else {
			j->page += 4096;
		}
		mprotect(j->base + j->page, 4096, PROT_READ | PROT_WRITE);
		for (size_t i = 0; i < STUBS_PER_PAGE; i++)
			memcpy(j->base + j->page + i * STUB_STEP, stub_code, sizeof(stub_code));
		mprotect(j->base + j->page, 4096, PROT_READ | PROT_EXEC);
		j->slot = 0;
	}
	return (stub_fn)(void *)(j->base + j->page + STUB_STEP * j->slot++);
}

static void *close_lib(size_t h)
{
	dlclose((void *)h);
	return NULL;
}

static void *(*const close_fn)(size_t) = close_lib;

static void *worker(void *arg)
{
	struct jit j = { 0 };

	(void)arg;
	while (!atomic_load(&stop))
		free(jit_next(&j)(malloc, 24));
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 300;
	pthread_t t[4];
	struct jit jm = { 0 };

	if (argc < 2)
		return 2;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int k = 0; k < rounds; k++) {
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);

		if (!h)
			return 1;
		/* from a fresh address too: the frees dlclose makes unwind
		 * through libunwind's slow path, under the loader's lock */
		jit_next(&jm)(close_fn, (size_t)h);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("rounds %d ok\n", rounds);
	return 0;
}
