/*
 * jit_stubs.h - code at fresh addresses, as JIT-compiled code is, for the
 * samples that keep the unwinder busy (dlstorm, forkstorm).
 *
 * A stub is `push rbp; mov rbp,rsp; mov rax,rdi; mov rdi,rsi; call rax;
 * pop rbp; ret`: stub(fn, n) calls fn(n) from an address in no module, which
 * libunwind looks up (dl_iterate_phdr) on every unwind because a failed
 * lookup is never cached. Each thread keeps its own struct jit_stubs (zeroed)
 * and takes a new stub per call, so no two calls share a return address.
 */
#ifndef SAMPLES_JIT_STUBS_H
#define SAMPLES_JIT_STUBS_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef void *(*jit_stub_fn)(void *(*fn)(size_t), size_t n);

#define JIT_SPAN (64u << 20)
#define JIT_STUB_STEP 16
/* libunwind reads 16 bytes at a return address (signal frame check): keep
 * every stub well inside its page, away from the unreadable next one */
#define JIT_STUBS_PER_PAGE ((4096 - 64) / JIT_STUB_STEP)

struct jit_stubs {
	unsigned char *base;
	size_t page, slot;	/* current page offset, next slot in it */
};

/* The next unused stub; a new 64 MiB area (PROT_NONE but for the pages in
 * use) when the last one is used up. Aborts if it cannot map one. */
static jit_stub_fn jit_next(struct jit_stubs *j)
{
	static const unsigned char code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x89, 0xf8,
					      0x48, 0x89, 0xf7, 0xff, 0xd0, 0x5d, 0xc3 };

	if (!j->base || j->slot == JIT_STUBS_PER_PAGE) {
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
		for (size_t i = 0; i < JIT_STUBS_PER_PAGE; i++)
			memcpy(j->base + j->page + i * JIT_STUB_STEP, code, sizeof(code));
		mprotect(j->base + j->page, 4096, PROT_READ | PROT_EXEC);
		j->slot = 0;
	}
	return (jit_stub_fn)(void *)(j->base + j->page + JIT_STUB_STEP * j->slot++);
}

#endif /* SAMPLES_JIT_STUBS_H */
