/*
 * workload.c - the allocation-heavy program `make bench` measures.
 *
 *   workload [-t THREADS] [-n PAIRS]
 *
 * Makes exactly PAIRS malloc/free pairs in total (default 5,000,000), split
 * evenly over THREADS threads (default 1). Each thread keeps a window of
 * live blocks and replaces one at a time, so a free never directly follows
 * its own malloc; sizes are mixed (mostly small, some up to 64 KiB), and
 * every allocation is made at the bottom of one of four recursive call paths
 * of different depths, so stacks are many but not unbounded (the few
 * distinct paths times the few depths each takes). Each thread's first
 * WINDOW frees are free(NULL) and it frees its window at the end, so there
 * are exactly PAIRS mallocs and PAIRS frees of real blocks: a tracer records
 * 2 x PAIRS events, plus whatever libc and the thread library allocate for
 * themselves (and the free(NULL) calls, if it records those).
 *
 * Prints one line, "pairs=N threads=T checksum=C", so a run that did not do
 * the work is noticed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 256		/* live blocks per thread */

struct worker {
	pthread_t th;
	uint64_t pairs;
	uint64_t seed;
	uint64_t checksum;
	void *slot[WINDOW];
};

static inline uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: cheap, so the workload is the allocator, not the PRNG */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static size_t pick_size(uint64_t r)
{
	unsigned c = (unsigned)(r >> 56);

	if (c < 160)
		return 8 + (r & 120);		/* 62%: 8..128 bytes */
	if (c < 230)
		return 128 + (r & 1023);	/* 27%: 128..1151 */
	if (c < 252)
		return 1024 + (r & 8191);	/* 9%: 1 KiB..9 KiB */
	return 16384 + (r & 49151);		/* 2%: 16..64 KiB */
}

/* One malloc/free pair at the bottom of the stack: replace a window slot. */
static __attribute__((noinline)) void churn(struct worker *w, uint64_t r)
{
	unsigned i = (unsigned)(r >> 8) % WINDOW;
	size_t n = pick_size(r);
	char *p;

	free(w->slot[i]);
	p = malloc(n);
	if (!p) {
		perror("workload: malloc");
		exit(1);
	}
	p[0] = (char)r;
	p[n - 1] = (char)n;
	w->checksum += (uintptr_t)n ^ (uint8_t)p[0];
	w->slot[i] = p;
}

/* Four call paths; each recursion adds frames, so depth varies per path. */
static __attribute__((noinline)) void path_a(struct worker *w, uint64_t r, unsigned d);
static __attribute__((noinline)) void path_b(struct worker *w, uint64_t r, unsigned d);

static __attribute__((noinline)) void path_a(struct worker *w, uint64_t r, unsigned d)
{
	if (d == 0) {
		churn(w, r);
		return;
	}
	if (d & 1)
		path_b(w, r, d - 1);
	else
		path_a(w, r, d - 1);
	__asm__ volatile("" ::: "memory");	/* not a tail call: keep the frame */
}

static __attribute__((noinline)) void path_b(struct worker *w, uint64_t r, unsigned d)
{
	if (d == 0) {
		churn(w, r);
		return;
	}
	path_a(w, r, d - 1);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void path_c(struct worker *w, uint64_t r, unsigned d)
{
	if (d == 0) {
		churn(w, r);
		return;
	}
	path_c(w, r, d - 1);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void leaf_d(struct worker *w, uint64_t r)
{
	churn(w, r);
	__asm__ volatile("" ::: "memory");
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (uint64_t k = 0; k < w->pairs; k++) {
		uint64_t r = next_rand(&w->seed);

		switch ((r >> 4) & 3) {
		case 0:
			path_a(w, r, 2 + (unsigned)((r >> 20) & 7));	/* 2..9 deep */
			break;
		case 1:
			path_b(w, r, 12 + (unsigned)((r >> 20) & 3));	/* 12..15 */
			break;
		case 2:
			path_c(w, r, 20 + (unsigned)((r >> 20) & 15));	/* 20..35 */
			break;
		default:
			leaf_d(w, r);					/* shallow */
			break;
		}
	}
	for (unsigned i = 0; i < WINDOW; i++) {
		free(w->slot[i]);
		w->slot[i] = NULL;
	}
	return NULL;
}

static uint64_t parse_count(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || v == 0) {
		fprintf(stderr, "workload: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t pairs = 5000000, threads = 1, sum = 0;
	struct worker *w;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			threads = parse_count(argv[++i], "thread count");
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			pairs = parse_count(argv[++i], "pair count");
		else {
			fprintf(stderr, "usage: workload [-t THREADS] [-n PAIRS]\n");
			return 2;
		}
	}
	if (threads > 256 || pairs < threads * WINDOW) {
		fprintf(stderr, "workload: at most 256 threads, at least %d pairs each\n", WINDOW);
		return 2;
	}
	w = calloc(threads, sizeof(*w));
	if (!w)
		return 1;
	for (uint64_t t = 0; t < threads; t++) {
		w[t].pairs = pairs / threads + (t < pairs % threads);
		w[t].seed = 0x9e3779b97f4a7c15ull * (t + 1);
	}
	if (threads == 1) {
		run(&w[0]);
	} else {
		for (uint64_t t = 0; t < threads; t++)
			if (pthread_create(&w[t].th, NULL, run, &w[t])) {
				fprintf(stderr, "workload: pthread_create failed\n");
				return 1;
			}
		for (uint64_t t = 0; t < threads; t++)
			pthread_join(w[t].th, NULL);
	}
	for (uint64_t t = 0; t < threads; t++)
		sum += w[t].checksum;
	printf("pairs=%llu threads=%llu checksum=%llu\n", (unsigned long long)pairs,
	       (unsigned long long)threads, (unsigned long long)sum);
	free(w);
	return 0;
}
