/*
 * test_shim_writer.c - the writer's records decode with the format's helpers:
 * exact round trips (raw and zstd), chunk boundaries when a buffer fills,
 * END/STOPPED, buffer recycling, and losing the descriptor.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refscope_format.h"
#include "test_shim_util.h"
#include "writer.h"

static char path[] = "/tmp/refscope-test-writer-XXXXXX";

static int exact_order;	/* the next open_writer's config.exact_order */

static int open_writer_shift(int compress, size_t buf, unsigned time_shift)
{
	struct rs_writer_config c;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	fd = open(path, O_RDWR | O_APPEND);
	cr_assert_geq(fd, 0);
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.path = path;
	c.compress = compress;
	c.buf_size = buf;
	c.quiet = 1;
	c.start_mono = 0;
	c.time_shift = time_shift;
	c.exact_order = exact_order;
	cr_assert_eq(rs_writer_open(&c), 0);
	return fd;
}

static int open_writer(int compress, size_t buf)
{
	return open_writer_shift(compress, buf, 0);
}

static void decode(struct tdec *d)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(tdec_fd(d, fd), 0, "trace does not decode");
	close(fd);
	unlink(path);
}

/*
 * Stamps (format version 3): the time (100), the previous stamp + 1 when the
 * time has not moved (101), a lower bound above both (250: a seq_excess).
 */
static void write_five(struct rs_tbuf *tb)
{
	rs_ev_alloc(tb, 10, 100, 0x7f0000001000ull, 24, 3, RS_KIND_MALLOC, 0);
	rs_ev_free(tb, 0, 100, 0x7f0000000f00ull, 4, RS_KIND_FREE);
	rs_ev_alloc_failed(tb, 13, 170, 1ull << 40, 5, RS_KIND_REALLOC, 0x2000);
	rs_ev_thread_start(tb, 250, 200, 5);
	rs_ev_alloc(tb, 0, 300, 0x1000, 0, 6, RS_KIND_POSIX_MEMALIGN, 64);
}

static void check_five(const struct tdec *d)
{
	const struct trec *r;

	r = tdec_nth(d, RS_EV_ALLOC, 0);
	cr_assert_eq(r->seq, 100);
	cr_assert_eq(r->time, 100);
	cr_assert_eq(r->addr, 0x7f0000001000ull);
	cr_assert_eq(r->size, 24);
	cr_assert_eq(r->stack, 3);
	cr_assert_eq(r->kind, RS_KIND_MALLOC);
	cr_assert_eq(r->align, 0);
	cr_assert_eq(r->tid, 77);
	r = tdec_nth(d, RS_EV_FREE, 0);
	cr_assert_eq(r->seq, 101);
	cr_assert_eq(r->time, 100);
	cr_assert_eq(r->addr, 0x7f0000000f00ull);	/* a negative address delta */
	cr_assert_eq(r->stack, 4);
	cr_assert_eq(r->kind, RS_KIND_FREE);
	r = tdec_nth(d, RS_EV_ALLOC_FAILED, 0);
	cr_assert_eq(r->seq, 170);
	cr_assert_eq(r->time, 170);
	cr_assert_eq(r->size, 1ull << 40);
	cr_assert_eq(r->stack, 5);
	cr_assert_eq(r->kind, RS_KIND_REALLOC);
	cr_assert_eq(r->old, 0x2000);
	r = tdec_nth(d, RS_EV_THREAD_START, 0);
	cr_assert_eq(r->seq, 250);
	cr_assert_eq(r->time, 200);
	cr_assert_eq(r->creator, 5);
	r = tdec_nth(d, RS_EV_ALLOC, 1);
	cr_assert_eq(r->seq, 300);
	cr_assert_eq(r->time, 300);
	cr_assert_eq(r->addr, 0x1000);
	cr_assert_eq(r->size, 0);
	cr_assert_eq(r->kind, RS_KIND_POSIX_MEMALIGN);
	cr_assert_eq(r->align, 64);
}

Test(writer, raw_round_trip_is_exact)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	const struct trec *c;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(77);
	cr_assert_not_null(tb);
	write_five(tb);
	rs_ev_thread_exit(tb, 21, 301);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1);
	c = tdec_nth(&d, RS_REC_CHUNK, 0);
	cr_assert_eq(c->encoding, RS_CHUNK_STREAMS);
	cr_assert_eq(c->zstd_streams, 0);
	cr_assert_eq(c->tid, 77);
	cr_assert_eq(c->first_seq, 100);
	cr_assert_eq(c->first_time, 100);
	cr_assert_eq(c->nevents, 6);
	check_five(&d);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->seq, 301);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->time, 301);
	cr_assert_eq(d.n, 7);	/* the chunk and its six events, nothing else */
	tdec_free(&d);
}

Test(writer, zstd_chunk_decodes_with_zstd_decompress)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	const struct trec *c;

	open_writer(1, 64 << 10);
	tb = rs_tbuf_acquire(77);
	write_five(tb);
	/* compressible filler so zstd wins over raw */
	for (uint64_t i = 0; i < 3000; i++)
		rs_ev_alloc(tb, 100 + i, 1000 + i, 0x5000 + 32 * (i % 8), 32, 9, RS_KIND_MALLOC, 0);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1);
	c = tdec_nth(&d, RS_REC_CHUNK, 0);
	cr_assert_eq(c->encoding, RS_CHUNK_STREAMS);
	cr_assert_geq(c->zstd_streams, 1);
	cr_assert_lt(c->body_size, c->raw_size);
	cr_assert_eq(c->nevents, 3005);
	check_five(&d);
	cr_assert_eq(tdec_nth(&d, RS_EV_ALLOC, 1001)->seq, 1000 + 999);
	cr_assert_eq(tdec_nth(&d, RS_EV_ALLOC, 1001)->addr, 0x5000 + 32 * (999 % 8));
	tdec_free(&d);
}

Test(writer, full_buffer_splits_into_chunks_with_fresh_deltas)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	const size_t nev = 140000;	/* 16 KiB buffer: 64 KiB streams, ~65500 events a chunk */
	size_t seen = 0;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(9);
	for (uint64_t i = 0; i < nev; i++)
		rs_ev_alloc(tb, 1 + 9 * i, 7 * i, 0x100000 + 64 * i, i, 1, RS_KIND_MALLOC, 0);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_gt(d.nchunks, 2);
	for (size_t k = 0; k < d.nchunks; k++) {
		const struct trec *c = tdec_nth(&d, RS_REC_CHUNK, k);
		const struct trec *first = tdec_nth(&d, RS_EV_ALLOC, seen);

		cr_assert_leq(c->nevents, 64 << 10);
		cr_assert_eq(c->first_seq, first->seq, "chunk %zu", k);
		cr_assert_eq(c->first_time, first->time);
		seen += c->nevents;
	}
	cr_assert_eq(seen, nev);
	for (size_t i = 0; i < nev; i++) {
		const struct trec *r = tdec_nth(&d, RS_EV_ALLOC, i);

		cr_assert_eq(r->seq, 1 + 9 * i);	/* the bound, above the time */
		cr_assert_eq(r->time, 7 * i);
		cr_assert_eq(r->addr, 0x100000 + 64 * i);
		cr_assert_eq(r->size, i);
	}
	tdec_free(&d);
}

Test(writer, stack_record_round_trip)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	uintptr_t ips[3] = { 0x7fff00001234, 0x401000, 0x7fff00002000 };
	const struct trec *s;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(1);
	rs_tbuf_stack(tb, 12, ips, 3);
	rs_tbuf_flush(tb);
	decode(&d);
	s = tdec_nth(&d, RS_REC_STACK, 0);
	cr_assert_not_null(s);
	cr_assert_eq(s->id, 12);
	cr_assert_eq(s->nframes, 3);
	cr_assert_eq(s->ips[0], 0x7fff00001234);
	cr_assert_eq(s->ips[1], 0x401000);
	cr_assert_eq(s->ips[2], 0x7fff00002000);
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 0)->nevents, 0);
	tdec_free(&d);
}

Test(writer, end_record_fields)
{
	struct tdec d = { 0 };
	const struct trec *e;
	struct rs_tbuf *tb;
	const uint64_t far = 1ull << 62;	/* a stamp far above the clock */

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(3);
	rs_ev_thread_start(tb, far, 1, 0);
	cr_assert_eq(rs_writer_end(RS_END_SIGNAL, 11), 0);
	cr_assert_eq(rs_writer_end(RS_END_EXIT, -1), 0);
	rs_ev_thread_exit(tb, 0, 2);	/* after END: above it (the floor) */
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 2);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_START, 0)->seq, far);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->seq, far + 1);
	e = tdec_nth(&d, RS_REC_END, 0);
	cr_assert_eq(e->seq, far + 1);	/* above every stamp taken before */
	cr_assert_eq(e->how, RS_END_SIGNAL);
	cr_assert_eq(e->status, 11);
	e = tdec_nth(&d, RS_REC_END, 1);
	cr_assert_eq(e->seq, far + 1);
	cr_assert_eq(e->how, RS_END_EXIT);
	cr_assert_eq(e->status, -1);
	cr_assert_eq(e->lost, 0);
	tdec_free(&d);
}

Test(writer, released_buffer_is_reused)
{
	struct rs_tbuf *a, *b, *c;

	open_writer(1, 16 << 10);
	a = rs_tbuf_acquire(1);
	b = rs_tbuf_acquire(2);
	cr_assert_neq(a, b);
	rs_tbuf_release(a);
	c = rs_tbuf_acquire(3);
	cr_assert_eq(c, a);
	cr_assert_eq(c->tid, 3);
	cr_assert_eq(c->len, 0);
	unlink(path);
}

Test(writer, release_flushes_pending_events)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(5);
	rs_ev_thread_exit(tb, 4, 40);
	rs_tbuf_release(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->seq, 40);	/* its time */
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->tid, 5);
	tdec_free(&d);
}

Test(writer, signal_flush_writes_committed_records_raw)
{
	struct tdec d = { 0 };
	struct rs_tbuf *self, *other;

	open_writer(1, 16 << 10);
	self = rs_tbuf_acquire(1);
	other = rs_tbuf_acquire(2);
	write_five(self);
	rs_ev_free(other, 30, 400, 0x9000, 0, RS_KIND_FREE);
	rs_writer_flush_all_signal(self);
	decode(&d);
	cr_assert_eq(d.nchunks, 2);
	/* raw: no compression in a signal handler */
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 0)->encoding, RS_CHUNK_STREAMS);
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 0)->zstd_streams, 0);
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 1)->encoding, RS_CHUNK_STREAMS);
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 1)->zstd_streams, 0);
	cr_assert_eq(tdec_count(&d, RS_EV_ALLOC) + tdec_count(&d, RS_EV_FREE) +
		     tdec_count(&d, RS_EV_ALLOC_FAILED) + tdec_count(&d, RS_EV_THREAD_START), 6);
	tdec_free(&d);
}

Test(writer, closed_descriptor_is_reopened_by_path)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	int fd;

	open_writer(0, 16 << 10);
	fd = rs_writer_fd();
	cr_assert_geq(fd, 100, "the trace descriptor is moved out of the way");
	tb = rs_tbuf_acquire(1);
	rs_ev_thread_exit(tb, 1, 1);
	rs_tbuf_flush(tb);
	close(fd);	/* the program closed our descriptor */
	rs_ev_thread_exit(tb, 2, 2);
	rs_tbuf_flush(tb);
	cr_assert_eq(atomic_load(&rs_tracing), 1);
	{
		struct stat a, b;

		cr_assert_eq(fstat(rs_writer_fd(), &a), 0);
		cr_assert_eq(stat(path, &b), 0);
		cr_assert_eq(a.st_ino, b.st_ino, "reopened the same file");
		cr_assert_geq(rs_writer_fd(), 100);
	}
	decode(&d);
	cr_assert_eq(d.nchunks, 2);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 1)->seq, 2);
	tdec_free(&d);
}

Test(writer, replaced_descriptor_is_never_written)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	char other[] = "/tmp/refscope-test-other-XXXXXX";
	int fd, ofd = mkstemp(other);

	open_writer(0, 16 << 10);
	fd = rs_writer_fd();
	tb = rs_tbuf_acquire(1);
	unlink(path);	/* no way back to our file */
	dup2(ofd, fd);	/* the program put its own file on our number */
	rs_ev_thread_exit(tb, 2, 2);
	rs_tbuf_flush(tb);
	cr_assert_eq(atomic_load(&rs_tracing), 0);
	cr_assert_eq(lseek(ofd, 0, SEEK_END), 0, "wrote into the program's file");
	close(ofd);
	unlink(other);
	(void)d;
}

Test(writer, write_error_stops_tracing)
{
	struct rs_writer_config c;
	struct rs_tbuf *tb;
	int fd = open("/dev/full", O_WRONLY | O_APPEND);

	cr_assert_geq(fd, 0);
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.quiet = 1;
	c.buf_size = 16 << 10;
	cr_assert_eq(rs_writer_open(&c), 0);
	tb = rs_tbuf_acquire(1);
	rs_ev_thread_exit(tb, 1, 1);
	rs_tbuf_flush(tb);
	cr_assert_eq(atomic_load(&rs_tracing), 0);
	cr_assert_eq(rs_writer_out("x", 1), -EPIPE);
}

static void *report_tid(void *out)
{
	*(pid_t *)out = gettid();
	return NULL;
}

/* A fork child's trace has its own start time: its clock, the floor and
 * the address stamps start afresh, so its seqs follow its times again. */
Test(writer, fork_child_numbers_from_its_own_start)
{
	struct rs_writer_config c;
	struct tdec d = { 0 };
	struct rs_tbuf *tb, *other;
	char child[] = "/tmp/refscope-test-writer-child-XXXXXX";
	int fd;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(1);
	other = rs_tbuf_acquire(2);
	rs_ev_alloc(tb, 0, 5000000000ull, 0x1000, 24, 1, RS_KIND_MALLOC, 0);
	rs_ev_alloc(other, 0, 6000000000ull, 0x2000, 24, 1, RS_KIND_MALLOC, 0);
	(void)rs_seq_global();	/* the floor, above both */
	rs_writer_reset_after_fork(tb, 3);
	rs_writer_drop_fd();
	unlink(path);
	fd = mkstemp(child);
	cr_assert_geq(fd, 0);
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.path = child;
	c.quiet = 1;
	c.buf_size = 16 << 10;
	cr_assert_eq(rs_writer_open(&c), 0);
	rs_ev_free(tb, 0, 100, 0x1000, 1, RS_KIND_FREE);
	rs_ev_alloc(tb, 0, 100, 0x2000, 24, 1, RS_KIND_MALLOC, 0);
	rs_tbuf_flush(tb);
	fd = open(child, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tdec_fd(&d, fd), 0);
	close(fd);
	unlink(child);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1, "nothing of the parent's");
	cr_assert_eq(tdec_nth(&d, RS_EV_FREE, 0)->seq, 100);
	cr_assert_eq(tdec_nth(&d, RS_EV_ALLOC, 0)->seq, 101);
	tdec_free(&d);
}

/*
 * Event times: where the TSC is usable, a thread reuses its last clock
 * reading until the TSC says RS_TIME_REUSE_NS passed. Times never go back,
 * are never later than the clock, and are rarely more than the window (plus
 * the time between the two calls here, which a preemption can stretch)
 * early. Elsewhere every time is a fresh reading.
 */
Test(writer, event_times_reuse_a_reading_for_at_most_the_window)
{
	struct rs_tbuf *tb;
	uint64_t t0, prev, same = 0, changed = 0, late = 0;
	const unsigned n = 200000;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(1);
	t0 = rs_writer_time(tb);
	usleep(3000);	/* the TSC rate needs two readings 1 ms apart */
	prev = rs_writer_time(tb);
	cr_assert_geq(prev - t0, 3000000);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t = rs_writer_time(tb), now = rs_writer_now();

		cr_assert_geq(t, prev, "sample %u: time went back", i);
		cr_assert_leq(t, now, "sample %u: time after the clock", i);
		late += now - t > 2 * RS_TIME_REUSE_NS;
		if (t == prev)
			same++;
		else
			changed++;
		prev = t;
	}
	cr_assert_gt(changed, 1000, "%lu fresh readings", (unsigned long)changed);
	if (rs_writer_time_reuses())
		cr_assert_gt(same, changed, "reused %lu, read %lu", (unsigned long)same,
			     (unsigned long)changed);
	cr_assert_lt(late, n / 100, "%lu of %u times more than twice the window early",
		     (unsigned long)late, n);
	unlink(path);
}

Test(writer, retired_buffer_reused_only_after_its_thread_is_gone)
{
	struct tdec d = { 0 };
	struct rs_tbuf *dead, *live, *b;
	pthread_t th;
	pid_t tid = 0;

	open_writer(0, 16 << 10);
	pthread_create(&th, NULL, report_tid, &tid);
	pthread_join(th, NULL);
	live = rs_tbuf_acquire((uint32_t)gettid());
	rs_tbuf_retire(live);
	dead = rs_tbuf_acquire((uint32_t)tid);
	rs_ev_thread_exit(dead, 1, 1);
	rs_tbuf_retire(dead);
	rs_ev_free(dead, 2, 2, 0, 0, RS_KIND_FREE);	/* a late free after THREAD_EXIT */
	b = rs_tbuf_acquire(999);
	cr_assert_eq(b, dead, "the finished thread's buffer is recycled");
	cr_assert_neq(b, live);
	decode(&d);
	cr_assert_eq(d.nchunks, 2);
	cr_assert_eq(tdec_nth(&d, RS_EV_FREE, 0)->seq, 2);
	cr_assert_eq(tdec_nth(&d, RS_EV_FREE, 0)->tid, (uint32_t)tid);
	tdec_free(&d);
}

Test(writer, deep_stack_record_round_trip)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	static uintptr_t ips[RS_DEPTH_MAX];
	const struct trec *s;

	for (unsigned i = 0; i < RS_DEPTH_MAX; i++)
		ips[i] = 0x7f0000000000ull + (i * 7919u) % 100003u * 16u;
	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(1);
	rs_tbuf_stack(tb, 1, ips, 1);
	rs_tbuf_stack(tb, 300, ips, RS_DEPTH_MAX);
	rs_ev_thread_exit(tb, 0, 6);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_STACK), 2);
	s = tdec_nth(&d, RS_REC_STACK, 1);
	cr_assert_eq(s->id, 300);
	cr_assert_eq(s->nframes, RS_DEPTH_MAX);
	for (unsigned i = 0; i < RS_DEPTH_MAX; i++)
		cr_assert_eq(s->ips[i], ips[i], "frame %u", i);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->seq, 6);
	tdec_free(&d);
}

struct pev {
	int type;
	uint64_t seq, time, addr, size, stack, kind;
};

/* Every way a packed event can carry its address, stack, seq and time, with
 * an unpacked event (calloc) between two runs of packed ones. */
Test(writer, packed_events_round_trip_every_mode)
{
	static const struct pev ev[] = {
		{ RS_EV_ALLOC, 10, 10, 0x10000, 24, 5, RS_KIND_MALLOC },	/* delta/16, stack id */
		{ RS_EV_ALLOC, 20, 20, 0x10020, 24, 6, RS_KIND_MALLOC },	/* stack + 1 */
		{ RS_EV_FREE, 31, 30, 0x10000, 0, 6, RS_KIND_FREE },	/* 2nd latest alloc; same stack; seq + 1 */
		{ RS_EV_ALLOC, 40, 40, 0x10000, 20, 7, RS_KIND_MALLOC }, /* latest freed of its class */
		{ RS_EV_ALLOC, 45, 45, 0x50000, 64, 7, RS_KIND_CALLOC },	/* not packed */
		{ RS_EV_FREE, 50, 50, 0x10020, 0, 0, RS_KIND_FREE },	/* no stack */
		{ RS_EV_FREE, 60, 60, 0x10000, 0, 3, RS_KIND_FREE },
		{ RS_EV_ALLOC, 70, 70, 0x10020, 24, 3, RS_KIND_MALLOC },	/* class history, 1 back */
		{ RS_EV_FREE, 5100, 5000, 0, 0, 3, RS_KIND_FREE },	/* free(NULL), seq 100 up, big time */
		{ RS_EV_ALLOC, 5101, 5001, 0x20008, 100000, 9, RS_KIND_MALLOC }, /* odd delta, no class */
		{ RS_EV_FREE, 5102, 5002, 0x20008, 0, 9, RS_KIND_FREE },	/* seq: previous + 1 */
		{ RS_EV_FREE, 5103, 5003, 0x30000, 0, 9, RS_KIND_FREE },	/* unknown block */
		{ RS_EV_FREE, 5104, 5004, 0x30001, 0, 9, RS_KIND_FREE },	/* unknown, odd delta */
		{ RS_EV_ALLOC, 5105, 5005, 0x10000, 24, 9, RS_KIND_MALLOC }, /* freed 2 chunks ago? no: delta */
	};
	const size_t n = sizeof(ev) / sizeof(ev[0]);
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	size_t k = 0;

	open_writer(0, 16 << 10);
	tb = rs_tbuf_acquire(3);
	for (size_t i = 0; i < n; i++)
		if (ev[i].type == RS_EV_ALLOC)
			rs_ev_alloc(tb, ev[i].seq, ev[i].time, ev[i].addr, ev[i].size,
				    (uint32_t)ev[i].stack, (unsigned)ev[i].kind, 0);
		else
			rs_ev_free(tb, ev[i].seq, ev[i].time, ev[i].addr, (uint32_t)ev[i].stack,
				   (unsigned)ev[i].kind);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1);
	cr_assert_eq(tdec_nth(&d, RS_REC_CHUNK, 0)->nevents, n);
	for (size_t i = 0; i < d.n; i++) {
		const struct trec *r = &d.r[i];

		if (r->type != RS_EV_ALLOC && r->type != RS_EV_FREE)
			continue;
		cr_assert_lt(k, n);
		cr_assert_eq(r->type, ev[k].type, "event %zu", k);
		cr_assert_eq(r->seq, ev[k].seq, "event %zu", k);
		cr_assert_eq(r->time, ev[k].time, "event %zu", k);
		cr_assert_eq(r->addr, ev[k].addr, "event %zu: %#lx", k, (unsigned long)r->addr);
		cr_assert_eq(r->stack, ev[k].stack, "event %zu", k);
		cr_assert_eq(r->kind, ev[k].kind, "event %zu", k);
		if (r->type == RS_EV_ALLOC) {
			cr_assert_eq(r->size, ev[k].size, "event %zu", k);
			cr_assert_eq(r->align, 0);
		}
		k++;
	}
	cr_assert_eq(k, n);
	tdec_free(&d);
}

/* Frees in random order name their blocks by rank among the live ones
 * (format version 3): every FREE decodes to the block it freed. */
Test(writer, packed_frees_in_random_order_decode_exactly)
{
	enum { N = 3000 };
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	uint64_t order[N], seed = 88172645463325252ull;
	size_t nf = 0;

	open_writer(1, 64 << 10);
	tb = rs_tbuf_acquire(4);
	for (uint64_t i = 0; i < N; i++) {
		rs_ev_alloc(tb, 0, i, 0x100000 + 48 * i, 40, 1, RS_KIND_MALLOC, 0);
		order[i] = i;
	}
	for (size_t i = N - 1; i > 0; i--) {	/* Fisher-Yates */
		size_t j;
		uint64_t x;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		j = seed % (i + 1);
		x = order[i], order[i] = order[j], order[j] = x;
	}
	for (size_t i = 0; i < N; i++)
		rs_ev_free(tb, 0, N + i, 0x100000 + 48 * order[i], 2, RS_KIND_FREE);
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 1, "one chunk: every free is by rank");
	for (size_t i = 0; i < d.n; i++)
		if (d.r[i].type == RS_EV_FREE) {
			cr_assert_lt(nf, N);
			cr_assert_eq(d.r[i].addr, 0x100000 + 48 * order[nf], "free %zu", nf);
			nf++;
		}
	cr_assert_eq(nf, N);
	tdec_free(&d);
}

/* Packed times are rounded down to 2^shift ns against the previous time as
 * the reader sees it, so errors never add up; unpacked events stay exact. */
Test(writer, packed_times_round_down_without_drift)
{
	static const uint64_t t[] = { 1000, 5000, 9000, 9100, 20000 };
	static const uint64_t want[] = { 1000, 1000, 5096, 5096, 17384 };
	struct tdec d = { 0 };
	struct rs_tbuf *tb;

	open_writer_shift(0, 16 << 10, 12);
	tb = rs_tbuf_acquire(3);
	for (size_t i = 0; i < 5; i++)
		rs_ev_alloc(tb, 1 + i, t[i], 0x1000 + 16 * i, 8, 1, RS_KIND_MALLOC, 0);
	rs_ev_thread_exit(tb, 6, 20001);
	rs_tbuf_flush(tb);
	decode(&d);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(tdec_nth(&d, RS_EV_ALLOC, i)->time, want[i], "event %zu", i);
	cr_assert_eq(tdec_nth(&d, RS_EV_THREAD_EXIT, 0)->time, 20001);
	tdec_free(&d);
}

/* A chunk holds packed events up to its streams' size, then the next chunk
 * starts fresh: no reference reaches back into an earlier chunk. */
Test(writer, packed_chunks_restart_their_histories)
{
	struct tdec d = { 0 };
	struct rs_tbuf *tb;
	const uint64_t pairs = 70000;

	open_writer(1, 16 << 10);
	tb = rs_tbuf_acquire(3);
	for (uint64_t i = 0; i < pairs; i++) {
		uint64_t a = 0x100000 + 64 * (i % 50);

		rs_ev_alloc(tb, 2 * i + 1, 2 * i + 1, a, 8 + i % 40, 1 + i % 3, RS_KIND_MALLOC, 0);
		rs_ev_free(tb, 2 * i + 2, 2 * i + 2, a, 2 + i % 3, RS_KIND_FREE);
	}
	rs_tbuf_flush(tb);
	decode(&d);
	cr_assert_geq(d.nchunks, 3);
	cr_assert_eq(tdec_count(&d, RS_EV_ALLOC), pairs);
	cr_assert_eq(tdec_count(&d, RS_EV_FREE), pairs);
	for (uint64_t i = 0; i < pairs; i++) {
		const struct trec *a = tdec_nth(&d, RS_EV_ALLOC, i), *f = tdec_nth(&d, RS_EV_FREE, i);

		cr_assert_eq(a->addr, 0x100000 + 64 * (i % 50), "pair %lu", (unsigned long)i);
		cr_assert_eq(a->size, 8 + i % 40);
		cr_assert_eq(a->stack, 1 + i % 3);
		cr_assert_eq(f->addr, a->addr);
		cr_assert_eq(f->stack, 2 + i % 3);
		cr_assert_eq(f->seq, 2 * i + 2);
	}
	tdec_free(&d);
}

/* The nth event of type type of thread tid, in file order. */
static const struct trec *ev_of(const struct tdec *d, uint32_t tid, uint8_t type, size_t nth)
{
	for (size_t i = 0, k = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];

		if (r->in_chunk && r->tid == tid && r->type == type && k++ == nth)
			return r;
	}
	cr_assert_fail("no event %zu of type %u in thread %u", nth, type, tid);
	return NULL;
}

/*
 * Stamps order the events of one address across threads: a free in thread 2
 * of a block thread 1 allocated at stamp 1000 is stamped 1001 though its time
 * (500) is earlier; thread 2's clock then goes on from there, while thread 1
 * on an address nobody else touched keeps to its own clock and time.
 * rs_seq_global is above every thread's clock and raises the floor that
 * every later event of either thread is stamped at least.
 */
Test(writer, stamps_order_an_address_across_threads)
{
	const uint64_t p = 0x7f0000010000ull, q = 0x7f0000020000ull, r = 0x7f0000030000ull;
	const uint64_t far = 1ull << 62;
	struct rs_tbuf *t1, *t2;
	struct tdec d = { 0 };
	uint64_t g1, g2;

	open_writer(0, 16 << 10);
	t1 = rs_tbuf_acquire(1);
	t2 = rs_tbuf_acquire(2);
	rs_ev_alloc(t1, 0, 1000, p, 48, 1, RS_KIND_MALLOC, 0);	/* 1000: its time */
	rs_ev_free(t2, 0, 500, p, 2, RS_KIND_FREE);		/* 1001: p's stamp + 1 */
	rs_ev_alloc(t2, 0, 600, q, 16, 2, RS_KIND_MALLOC, 0);	/* 1002: its clock + 1 */
	rs_ev_alloc(t1, 0, 1000, r, 32, 1, RS_KIND_MALLOC, 0);	/* 1001: its clock + 1 */
	rs_ev_free(t1, 0, 1500, r, 1, RS_KIND_FREE);		/* 1500: its time */
	rs_ev_ref(t2, 0, 0, 700, q, 2, 1, 0);			/* 1003: clock + 1, unpacked */
	g1 = rs_seq_global();
	rs_ev_alloc(t1, 0, 1600, r, 8, 1, RS_KIND_MALLOC, 0);	/* g1: the floor */
	rs_ev_thread_start(t2, far, 800, 1);			/* far: its bound */
	g2 = rs_seq_global();					/* far + 1: t2's clock + 1 */
	rs_ev_free(t1, 0, 1700, r, 1, RS_KIND_FREE);		/* g2: the floor */
	rs_ev_thread_exit(t2, 0, 900);				/* g2: its clock + 1 */
	rs_tbuf_flush(t1);
	rs_tbuf_flush(t2);
	decode(&d);
	cr_assert_gt(g1, 1500);
	cr_assert_lt(g1, far);
	cr_assert_eq(g2, far + 1);
	cr_assert_eq(tdec_count(&d, RS_REC_CHUNK), 2);
	cr_assert_eq(ev_of(&d, 1, RS_EV_ALLOC, 0)->seq, 1000);
	cr_assert_eq(ev_of(&d, 2, RS_EV_FREE, 0)->seq, 1001);
	cr_assert_eq(ev_of(&d, 2, RS_EV_FREE, 0)->time, 500);
	cr_assert_eq(ev_of(&d, 2, RS_EV_ALLOC, 0)->seq, 1002);
	cr_assert_eq(ev_of(&d, 2, RS_EV_ALLOC, 0)->time, 600);
	cr_assert_eq(ev_of(&d, 1, RS_EV_ALLOC, 1)->seq, 1001);
	cr_assert_eq(ev_of(&d, 1, RS_EV_FREE, 0)->seq, 1500);
	cr_assert_eq(ev_of(&d, 2, RS_EV_RETAIN, 0)->seq, 1003);
	cr_assert_eq(ev_of(&d, 1, RS_EV_ALLOC, 2)->seq, g1);
	cr_assert_eq(ev_of(&d, 1, RS_EV_ALLOC, 2)->time, 1600);
	cr_assert_eq(ev_of(&d, 2, RS_EV_THREAD_START, 0)->seq, far);
	cr_assert_eq(ev_of(&d, 1, RS_EV_FREE, 1)->seq, g2);
	cr_assert_eq(ev_of(&d, 2, RS_EV_THREAD_EXIT, 0)->seq, g2);
	tdec_free(&d);
}

/*
 * With exact order a packed event is stamped at the time read, not at the
 * rounded one a reader decodes: thread 2's malloc at 20100, which thread
 * 1's free at 20000 may have caused (on another address), is numbered after
 * it although its decoded time (5000, its chunk's start) is far below the
 * free's (17384). By default the stamp time is rounded down to 2^12 ns but
 * not below the decoded time: 17384 for the free, 16384 for the malloc,
 * which then sorts first (the few microseconds the default leaves open).
 */
static void stamp_free_then_malloc(uint64_t want_free, uint64_t want_malloc)
{
	const uint64_t p = 0x7f0000010000ull, q = 0x7f0000020000ull, r = 0x7f0000030000ull;
	struct tdec d = { 0 };
	struct rs_tbuf *t1, *t2;

	open_writer_shift(0, 16 << 10, 14);
	t1 = rs_tbuf_acquire(1);
	t2 = rs_tbuf_acquire(2);
	rs_ev_alloc(t1, 0, 1000, p, 65536, 1, RS_KIND_MALLOC, 0);
	rs_ev_alloc(t2, 0, 5000, q, 16, 2, RS_KIND_MALLOC, 0);
	rs_ev_free(t1, 0, 20000, p, 1, RS_KIND_FREE);
	rs_ev_alloc(t2, 0, 20100, r, 65536, 2, RS_KIND_MALLOC, 0);
	rs_tbuf_flush(t1);
	rs_tbuf_flush(t2);
	decode(&d);
	cr_assert_eq(ev_of(&d, 1, RS_EV_FREE, 0)->time, 17384);
	cr_assert_eq(ev_of(&d, 1, RS_EV_FREE, 0)->seq, want_free);
	cr_assert_eq(ev_of(&d, 2, RS_EV_ALLOC, 1)->time, 5000);
	cr_assert_eq(ev_of(&d, 2, RS_EV_ALLOC, 1)->seq, want_malloc);
	tdec_free(&d);
}

Test(writer, packed_stamps_follow_the_exact_time)
{
	exact_order = 1;
	stamp_free_then_malloc(20000, 20100);
}

Test(writer, packed_stamps_by_default_follow_the_time_to_4us)
{
	stamp_free_then_malloc(17384, 16384);
}
