/*
 * killed - leaks, then dies; argv[1] picks how:
 *   segv   a real invalid write (SIGSEGV, default action)
 *   term   raise(SIGTERM) (default action)
 *   abort  abort() (SIGABRT)
 *   kill9  raise(SIGKILL): nothing can flush, see below
 * Without an argument it exits 0.
 *
 * segv, term, abort: 3 blocks of 24 bytes and 1 of 1000 (4 blocks, 1072
 * bytes) are live at death, 10 blocks of 16 bytes were freed.
 *
 * kill9: no handler runs, so the trace keeps only what the shim had written
 * before; it must stay readable up to its last record. The program first
 * allocates and frees KILL9_BLOCKS blocks of 1, 2, 3, ... bytes, one after
 * the other, enough to fill the per-thread buffer many times, so whatever
 * the trace holds is a prefix: k allocations of 1..k bytes (k(k+1)/2 bytes
 * allocated), and k frees, or k - 1 if the cut fell between the last
 * allocation and its free (then the k-byte block is live).
 * No stdio.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define KILL9_BLOCKS 200000	/* 400000 events: more than a chunk of packed events holds */

static void *volatile sink;

__attribute__((noinline)) static void leak(size_t n)
{
	sink = malloc(n);
	if (sink)
		memset(sink, 7, n);
	sink = NULL;
}

__attribute__((noinline)) static void die(const char *how)
{
	if (!strcmp(how, "segv")) {
		volatile int *volatile bad = (int *)16;

		*bad = 1;
	} else if (!strcmp(how, "term")) {
		raise(SIGTERM);
	} else if (!strcmp(how, "abort")) {
		abort();
	} else if (!strcmp(how, "kill9")) {
		raise(SIGKILL);
	}
}

int main(int argc, char **argv)
{
	void *tmp[10];

	if (argc > 1 && !strcmp(argv[1], "kill9")) {
		for (size_t i = 1; i <= KILL9_BLOCKS; i++) {
			sink = malloc(i);
			free(sink);
		}
		die(argv[1]);
		return 0;
	}
	for (int i = 0; i < 3; i++)
		leak(24);
	leak(1000);
	for (int i = 0; i < 10; i++)
		tmp[i] = malloc(16);
	for (int i = 0; i < 10; i++)
		free(tmp[i]);
	if (argc > 1)
		die(argv[1]);
	return 0;
}
