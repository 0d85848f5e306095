/*
 * test_shim_stacks.c - interning: equal stacks share an id, different ones
 * do not, each id's STACK record is written exactly once, and threads
 * interning concurrently agree on every id.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refscope_format.h"
#include "stacks.h"
#include "test_shim_util.h"
#include "writer.h"

static char path[] = "/tmp/refscope-test-stacks-XXXXXX";

static void open_writer(void)
{
	struct rs_writer_config c;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.compress = 1;
	c.buf_size = 16 << 10;
	c.quiet = 1;
	cr_assert_eq(rs_writer_open(&c), 0);
	cr_assert_eq(rs_stacks_init(), 0);
}

static void decode(struct tdec *d)
{
	int fd = open(path, O_RDONLY);

	cr_assert_eq(tdec_fd(d, fd), 0);
	close(fd);
	unlink(path);
}

Test(stacks, same_stack_same_id)
{
	uintptr_t a[3] = { 0x1000, 0x2000, 0x3000 };
	uintptr_t a2[3] = { 0x1000, 0x2000, 0x3000 };
	struct rs_tbuf *tb, *tb2;
	int n1, n2, n3;
	uint32_t id1, id2, id3;

	open_writer();
	tb = rs_tbuf_acquire(1);
	tb2 = rs_tbuf_acquire(2);
	id1 = rs_stacks_intern(tb, a, 3, &n1);
	id2 = rs_stacks_intern(tb, a2, 3, &n2);	/* per-thread cache hit */
	id3 = rs_stacks_intern(tb2, a2, 3, &n3);	/* global table hit */
	cr_assert_eq(id1, 1);
	cr_assert_eq(id2, 1);
	cr_assert_eq(id3, 1);
	cr_assert_eq(n1, 1);
	cr_assert_eq(n2, 0);
	cr_assert_eq(n3, 0);
	unlink(path);
}

Test(stacks, different_stacks_different_ids)
{
	uintptr_t a[3] = { 0x1000, 0x2000, 0x3000 };
	uintptr_t b[3] = { 0x1000, 0x2000, 0x3001 };
	uintptr_t c[2] = { 0x1000, 0x2000 };	/* a prefix of a */
	struct rs_tbuf *tb;
	int n;
	uint32_t ia, ib, ic;

	open_writer();
	tb = rs_tbuf_acquire(1);
	ia = rs_stacks_intern(tb, a, 3, &n);
	ib = rs_stacks_intern(tb, b, 3, &n);
	ic = rs_stacks_intern(tb, c, 2, &n);
	cr_assert_eq(ia, 1);
	cr_assert_eq(ib, 2);
	cr_assert_eq(ic, 3);
	cr_assert_eq(rs_stacks_intern(tb, b, 3, &n), 2);
	cr_assert_eq(rs_stacks_count(), 3);
	unlink(path);
}

Test(stacks, stack_record_written_once_per_id)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb, *tb2;
	uintptr_t ips[4];
	int n;

	open_writer();
	tb = rs_tbuf_acquire(1);
	tb2 = rs_tbuf_acquire(2);
	for (int rep = 0; rep < 3; rep++)
		for (uintptr_t i = 0; i < 50; i++) {
			ips[0] = 0x400000 + i;
			ips[1] = 0x500000;
			ips[2] = 0x600000 + i * 4096;
			ips[3] = 0x10;
			rs_stacks_intern(rep == 1 ? tb2 : tb, ips, 4, &n);
		}
	rs_tbuf_flush(tb);
	rs_tbuf_flush(tb2);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_STACK), 50);
	for (size_t k = 0; k < 50; k++) {
		const struct trec *s = tdec_nth(&d, RS_REC_STACK, k);

		cr_assert_eq(s->id, k + 1);
		cr_assert_eq(s->tid, 1);	/* written by the thread that created it */
		cr_assert_eq(s->nframes, 4);
		cr_assert_eq(s->ips[0], 0x400000 + k);
		cr_assert_eq(s->ips[2], 0x600000 + k * 4096);
		cr_assert_eq(s->ips[3], 0x10);
	}
	tdec_free(&d);
}

Test(stacks, reset_starts_ids_over)
{
	uintptr_t a[1] = { 0x1234 };
	uintptr_t b[1] = { 0x5678 };
	struct rs_tbuf *tb;
	int n;

	open_writer();
	tb = rs_tbuf_acquire(1);
	cr_assert_eq(rs_stacks_intern(tb, a, 1, &n), 1);
	cr_assert_eq(rs_stacks_reset(), 0);
	memset(tb->cache, 0, sizeof(tb->cache));
	cr_assert_eq(rs_stacks_intern(tb, b, 1, &n), 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(rs_stacks_intern(tb, a, 1, &n), 2);
	unlink(path);
}

#define NTHREADS 4
#define NSTACKS 500

static uint32_t ids[NTHREADS][NSTACKS];
static const int mult[NTHREADS] = { 1, 3, 7, 9 };	/* coprime with NSTACKS */

static void *intern_all(void *arg)
{
	int t = (int)(intptr_t)arg;
	struct rs_tbuf *tb = rs_tbuf_acquire((uint32_t)(100 + t));
	uintptr_t ips[8];
	int n;

	for (int rep = 0; rep < 3; rep++)
		for (int k = 0; k < NSTACKS; k++) {
			/* each thread walks the stacks in its own order */
			int i = (k * mult[t] + t * 37) % NSTACKS;

			for (int f = 0; f < 8; f++)
				ips[f] = 0x10000 * (uintptr_t)(f + 1) + (uintptr_t)i;
			uint32_t id = rs_stacks_intern(tb, ips, 8, &n);

			if (rep == 0)
				ids[t][i] = id;
			else if (ids[t][i] != id)
				ids[t][i] = 0xffffffff;	/* unstable id: flagged */
		}
	rs_tbuf_release(tb);
	return NULL;
}

Test(stacks, concurrent_interning_agrees)
{
	pthread_t th[NTHREADS];
	struct tdec d = { 0 };
	static unsigned char seen[1 << 16];

	open_writer();
	for (int t = 0; t < NTHREADS; t++)
		pthread_create(&th[t], NULL, intern_all, (void *)(intptr_t)t);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (int i = 0; i < NSTACKS; i++) {
		cr_assert_neq(ids[0][i], 0);
		for (int t = 1; t < NTHREADS; t++)
			cr_assert_eq(ids[t][i], ids[0][i], "stack %d: thread %d got %u, thread 0 %u",
				     i, t, ids[t][i], ids[0][i]);
	}
	decode(&d);
	/* every id that was handed out has exactly one STACK record */
	cr_assert_eq(tdec_count(&d, RS_REC_STACK), NSTACKS);
	for (size_t k = 0; k < NSTACKS; k++) {
		const struct trec *s = tdec_nth(&d, RS_REC_STACK, k);

		cr_assert_lt(s->id, sizeof(seen));
		cr_assert_eq(seen[s->id], 0, "id %lu defined twice", (unsigned long)s->id);
		seen[s->id] = 1;
		/* and its frames are the stack that id stands for */
		cr_assert_eq(ids[0][(s->ips[0] - 0x10000)], s->id);
	}
	tdec_free(&d);
}
