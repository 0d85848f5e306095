/*
 * fds.c - the program's close, close_range, closefrom, dup2 and dup3, kept
 * off the shim's own descriptors: the trace file and libunwind's
 * address-validation pipe (see unwind.c), all at or above the fd floor.
 *
 * Untraced, those numbers are not open: closing one fails with EBADF, and
 * a close_range or closefrom over them closes everything else. So that is
 * what the program gets, and the shim keeps its descriptors. A dup2 onto
 * one of them means the program wants that number: the trace moves to
 * another number first, and libunwind's pipe is given up (no more unwinding:
 * libunwind would read, close and write whatever the program put there).
 * Only the process the descriptors belong to is protected: a vfork child
 * shares our memory but has its own descriptor table. Calls made inside our
 * hooks (libunwind's own close, say) go straight through. Raw system calls
 * cannot be seen here: the writer's identity check before each write, and
 * its reopen, are the net under those.
 */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bootstrap.h"
#include "guard.h"
#include "unwind.h"
#include "writer.h"

#define NOURS 3

static int is_ours(int fd)
{
	if (fd < 0 || rs_self.guard || !atomic_load_explicit(&rs_tracing, memory_order_relaxed))
		return 0;
	if (fd != rs_writer_fd() && !rs_unwind_pipe_number(fd))
		return 0;	/* the common case: three compares */
	return rs_writer_owns_fd(fd) || (getpid() == rs_writer_pid() && rs_unwind_owns_fd(fd));
}

/* Our descriptors in [lo, hi], increasing, into out; how many. */
static int ours_in(unsigned lo, unsigned hi, int out[NOURS])
{
	int cand[NOURS], n = 0;

	cand[0] = rs_writer_fd();
	rs_unwind_pipe_fds(cand + 1);
	for (int i = 0; i < NOURS; i++) {
		int fd = cand[i], k;

		if (fd < 0 || (unsigned)fd < lo || (unsigned)fd > hi || !is_ours(fd))
			continue;
		for (k = n; k > 0 && out[k - 1] > fd; k--)
			out[k] = out[k - 1];
		out[k] = fd;
		n++;
	}
	return n;
}

/* The program takes fd, one of ours, for itself. */
static void give_up(int fd)
{
	if (fd == rs_writer_fd())
		rs_writer_move_fd();	/* stops tracing if no number is left */
	else
		rs_unwind_give_up();
}

RS_EXPORT int close(int fd)
{
	rs_bootstrap();
	if (rs_unlikely(is_ours(fd))) {
		errno = EBADF;	/* as untraced: nothing open there */
		return -1;
	}
	return rs_real.close(fd);
}

/* close_range over [lo, hi] but around ours (n of them, increasing). */
static int close_around(unsigned lo, unsigned hi, int flags, const int *ours, int n)
{
	int r = 0, e = 0;

	for (int i = 0; i <= n; i++) {
		unsigned end = i < n ? (unsigned)ours[i] - 1 : hi;

		if (i < n && (unsigned)ours[i] == lo) {
			lo++;
			continue;
		}
		if (lo <= end && rs_real.close_range(lo, end, flags) != 0 && !e) {
			r = -1;
			e = errno;
		}
		if (i < n)
			lo = (unsigned)ours[i] + 1;
	}
	if (e)
		errno = e;
	return r;
}

RS_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	int ours[NOURS], n;

	rs_bootstrap();
	/* CLOEXEC only marks: ours are close-on-exec already */
	if (lo > hi || (flags & CLOSE_RANGE_CLOEXEC) || !(n = ours_in(lo, hi, ours)))
		return rs_real.close_range(lo, hi, flags);
	return close_around(lo, hi, flags, ours, n);
}

RS_EXPORT void closefrom(int lo)
{
	int ours[NOURS], n, e = errno;
	unsigned from = lo < 0 ? 0 : (unsigned)lo;

	rs_bootstrap();
	if (!(n = ours_in(from, ~0U, ours))) {
		rs_real.closefrom(lo);
		return;
	}
	/* below our highest with close_range, above it with closefrom (which
	 * never fails: glibc falls back to closing one by one) */
	if (close_around(from, (unsigned)ours[n - 1], 0, ours, n) != 0)
		for (unsigned fd = from; fd < (unsigned)ours[n - 1]; fd++)
			if (!is_ours((int)fd))
				rs_real.close((int)fd);
	rs_real.closefrom(ours[n - 1] + 1);
	errno = e;
}

static int dup_onto(int old, int fd, int flags, int is_dup3)
{
	int r, e;

	if (old == fd && !is_dup3) {
		errno = EBADF;	/* dup2(x, x) checks x is open: untraced it is not */
		return -1;
	}
	give_up(fd);
	r = is_dup3 ? rs_real.dup3(old, fd, flags) : rs_real.dup2(old, fd);
	if (r < 0) {
		/* the number is left as untraced: free (the trace moved off it,
		 * or it is a pipe end nobody uses any more) */
		e = errno;
		if (fd != rs_writer_fd())
			rs_real.close(fd);
		errno = e;
	}
	return r;
}

RS_EXPORT int dup2(int old, int fd)
{
	rs_bootstrap();
	if (rs_likely(!is_ours(fd)))
		return rs_real.dup2(old, fd);
	return dup_onto(old, fd, 0, 0);
}

RS_EXPORT int dup3(int old, int fd, int flags)
{
	rs_bootstrap();
	if (rs_likely(!is_ours(fd)) || old == fd)	/* dup3(x, x) is EINVAL anyway */
		return rs_real.dup3(old, fd, flags);
	return dup_onto(old, fd, flags, 1);
}
