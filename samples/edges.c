/*
 * edges - the corners of the malloc family, each once, with a known truth.
 *
 * Live at exit, 9 blocks, 1345 bytes (sizes as asked):
 *   realloc(NULL, 20) 20, malloc(0) 0, reallocarray(.., 20, 12) 240,
 *   posix_memalign(64, 100) 100, aligned_alloc(256, 512) 512, valloc(300)
 *   300, pvalloc(100) 100 (the allocator rounds it up to a page; refscope
 *   records the 100 asked for), calloc(7, 9) 63, realloc(1000-byte, 10) 10.
 * Totals: 18 allocations (6761 bytes), 9 frees (5416 bytes), 1 free(NULL),
 *   6 failed allocations (malloc(SIZE_MAX), calloc overflow, realloc to
 *   SIZE_MAX - 4096, reallocarray overflow, posix_memalign with alignment 3
 *   (EINVAL) and with SIZE_MAX - 100 (ENOMEM)), 8 realloc/reallocarray calls
 *   (realloc(NULL, n), realloc(p, 0), the failed realloc, reallocarray(NULL),
 *   its overflow, its growth, one growing and one shrinking realloc). A
 *   failed realloc leaves its block live; it is freed afterwards.
 * With argv[1] "--no-pvalloc" the pvalloc is skipped (Valgrind 3.19 aborts
 *   the program at pvalloc): 8 blocks, 1245 bytes live, 17 allocations
 *   (6661 bytes).
 *
 * errno: every failed call's errno (or posix_memalign's return value) and
 * errno after successful calls (set to EILSEQ before, which no successful
 * call may touch) are written to stdout with write(2) as one line, so a run
 * under refscope can be compared with a plain one. No stdio: nothing but the
 * blocks above is live at exit. Exit status 0 when every value is what glibc
 * gives, else 10 + the number of the first wrong one.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char line[512];
static size_t len;
static int bad;
static int nchecks;

static void put(const char *s)
{
	size_t n = strlen(s);

	if (len + n < sizeof(line)) {
		memcpy(line + len, s, n);
		len += n;
	}
}

/* Records "name=value " and checks value against what glibc gives. */
static void check(const char *name, int value, int want)
{
	char num[16];
	int k = 0;
	unsigned v = value < 0 ? (unsigned)-value : (unsigned)value;

	nchecks++;
	if (value != want && !bad)
		bad = 10 + nchecks;
	put(name);
	put("=");
	if (value < 0)
		put("-");
	do
		num[sizeof(num) - 1 - ++k] = (char)('0' + v % 10);
	while ((v /= 10) && k < 14);
	num[sizeof(num) - 1] = '\0';
	put(num + sizeof(num) - 1 - k);
	put(" ");
}

int main(int argc, char **argv)
{
	/* volatile: the compiler must neither drop a malloc/free pair nor
	 * know a size is too large at compile time */
	void *volatile p, *volatile q, *volatile keep[9];
	volatile size_t huge = SIZE_MAX, half = SIZE_MAX / 2;
	void *volatile nullp = NULL; /* else realloc(NULL, n) is compiled as malloc(n) */
	void *pm = NULL;
	int rc, k = 0, no_pvalloc = argc > 1 && !strcmp(argv[1], "--no-pvalloc");

	errno = EILSEQ;
	p = malloc(10);
	check("malloc_ok", errno, EILSEQ);
	free(p);

	keep[k++] = realloc(nullp, 20);		/* ALLOC kind=realloc */
	p = malloc(30);
	q = realloc(p, 0);			/* glibc: frees p, returns NULL */
	check("realloc0_null", q == NULL, 1);
	free(nullp);				/* free(NULL) */
	keep[k++] = malloc(0);			/* a unique 0-byte block */
	p = calloc(0, 8);
	free(p);

	errno = 0;
	p = malloc(huge);
	check("malloc_huge", p == NULL ? errno : -1, ENOMEM);
	errno = 0;
	p = calloc(half, 4);
	check("calloc_overflow", p == NULL ? errno : -1, ENOMEM);

	p = malloc(40);
	errno = 0;
	q = realloc(p, huge - 4096);
	check("realloc_huge", q == NULL ? errno : -1, ENOMEM);
	free(p);				/* still ours after the failure */

	p = reallocarray(nullp, 10, 12);
	errno = 0;
	q = reallocarray(p, half, 4);
	check("reallocarray_overflow", q == NULL ? errno : -1, ENOMEM);
	errno = EILSEQ;
	keep[k++] = reallocarray(p, 20, 12);
	check("reallocarray_ok", errno, EILSEQ);

	errno = EILSEQ;
	rc = posix_memalign(&pm, 64, 100);
	check("posix_memalign_ok", rc, 0);
	check("posix_memalign_errno", errno, EILSEQ);
	keep[k++] = pm;
	pm = NULL;
	rc = posix_memalign(&pm, 3, 8);
	check("posix_memalign_einval", rc, EINVAL);
	rc = posix_memalign(&pm, 64, huge - 100);
	check("posix_memalign_enomem", rc, ENOMEM);

	errno = EILSEQ;
	keep[k++] = aligned_alloc(256, 512);
	p = memalign(128, 200);
	free(p);
	keep[k++] = valloc(300);
	if (!no_pvalloc)
		keep[k++] = pvalloc(100);
	keep[k++] = calloc(7, 9);
	p = malloc(16);
	p = realloc(p, 4000);			/* grows: likely moves */
	free(p);
	p = malloc(1000);
	keep[k++] = realloc(p, 10);		/* shrinks: likely in place */
	check("aligned_and_realloc_errno", errno, EILSEQ);

	for (int i = 0; i < k; i++)
		if (!keep[i])
			bad = bad ? bad : 99;
	/* the only pointers are dropped: 9 (or 8) leaks */
	for (int i = 0; i < k; i++)
		keep[i] = NULL;
	put("\n");
	if (write(1, line, len) != (ssize_t)len)
		return 98;
	return bad;
}
