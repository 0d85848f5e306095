/*
 * snaptrigger.c - when heap snapshots are taken (the scan is snapshot.c).
 *
 *  - at exit (exit() or return from main; _exit too, except in a fork
 *    child), before END, unless REFSCOPE_SNAPSHOT=0;
 *  - when the program calls refscope_snapshot() (include/refscope.h): in the
 *    calling thread, its registers spilled by getcontext;
 *  - on the user's signal (REFSCOPE_SNAPSHOT_SIGNAL): the handler only posts
 *    a semaphore (async-signal-safe); a thread of ours does the scan;
 *  - every REFSCOPE_SNAPSHOT_INTERVAL seconds, by the same thread.
 *
 * The snapshot thread exists only when a signal or an interval is asked
 * for. It is made with the real pthread_create (no THREAD_START event), on a
 * stack we map and register as our own memory, with every signal blocked, so
 * it never runs a handler of the program; its hooks only forward. A fork
 * child starts its own. It counts as a thread for glibc: when the program's
 * main thread has called pthread_exit and every other thread of the program
 * is gone, the process would wait for ours for ever, so it looks every 200 ms
 * and then leaves itself, which makes glibc run exit(0) as it would have.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "bootstrap.h"
#include "guard.h"
#include "ownmem.h"
#include "refscope_format.h"
#include "shim.h"
#include "snapshot.h"

#define THREAD_STACK (1u << 20)
#define POLL_NS 200000000ull	/* how often the thread checks it is alone */
#define EXIT_WAIT_NS 10000000000ull	/* exit waits this long for a scan in progress */

static sem_t wake;
static atomic_int thread_up;
static uint8_t *thread_stack;
static size_t thread_stack_size;
static int forked;

static uint32_t gettid_(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

/* Called with the guard set. stack_lo: see rs_snapshot_req. */
__attribute__((noinline)) static int take(unsigned trigger, uintptr_t stack_lo, uint64_t wait_ns,
					  int last)
{
	struct rs_snapshot_req req;

	memset(&req, 0, sizeof(req));
	req.trigger = trigger;
	req.tid = rs_self.tid ? rs_self.tid : gettid_();
	req.self = rs_self.tb;
	req.stack_lo = stack_lo;
	req.compress = rs_opt.compress;
	req.wait_ns = wait_ns;
	req.last = last;
	return rs_snapshot_take(&req, NULL);
}

RS_EXPORT int refscope__snapshot(void);
RS_EXPORT int refscope__snapshot(void)
{
	ucontext_t uc;	/* the caller's registers, scanned with its stack */
	int e = errno, rc;

	if (rs_self.guard || !rs_shim_ready())
		return -1;
	rs_self.guard = 1;
	getcontext(&uc);
	if (!rs_self.tb)
		rs_shim_tbuf();
	rc = take(RS_SNAP_REQUEST, (uintptr_t)&uc, EXIT_WAIT_NS, 0);
	rs_py_request(RS_SNAP_REQUEST);
	rs_self.guard = 0;
	errno = e;
	return rc == 0 ? 0 : -1;
}

void rs_snaptrig_exit(unsigned how)
{
	ucontext_t uc;

	if (!rs_opt.snapshot || (how != RS_END_EXIT && how != RS_END_EXIT_CALL) ||
	    (how == RS_END_EXIT_CALL && forked)) {
		/* END follows: a scan of the snapshot thread must not come after it */
		rs_snapshot_close(EXIT_WAIT_NS);
		return;
	}
	getcontext(&uc);
	take(RS_SNAP_EXIT, (uintptr_t)&uc, EXIT_WAIT_NS, 1);
}

/* ---- the snapshot thread ------------------------------------------------ */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int e = errno;

	(void)sig;
	(void)si;
	(void)uc;
	if (atomic_load(&thread_up))
		sem_post(&wake);	/* async-signal-safe; the thread does the work */
	errno = e;
}

/* "/proc/self/task/TID/stat" */
static void stat_path(char *path, uint32_t tid)
{
	char num[16];
	int nd = 0;
	size_t pl = 16;

	memcpy(path, "/proc/self/task/", 16);
	do {
		num[nd++] = (char)('0' + tid % 10);
		tid /= 10;
	} while (tid);
	while (nd)
		path[pl++] = num[--nd];
	memcpy(path + pl, "/stat", 6);
}

/* Has the thread ended (a zombie: the main thread stays listed as one
 * after pthread_exit until the process ends)? */
static int ended(uint32_t tid)
{
	char path[64], st[512];
	const char *p;
	ssize_t k;
	int fd;

	stat_path(path, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	k = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (k <= 0)
		return 1;
	st[k] = 0;
	p = strrchr(st, ')');	/* the name before it may hold anything */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Is every other thread of the process gone? Cheap while another thread
 * than the main one exists: that is seen in the first directory read. */
static int alone(uint32_t me)
{
	static char buf[4096];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint32_t main_tid = (uint32_t)getpid();
	int others = 0, main_seen = 0;
	long n;

	if (fd < 0)
		return 0;
	while (!others && (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			uint32_t tid = 0;

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			for (const char *q = d->d_name; *q; q++)
				tid = tid * 10 + (uint32_t)(*q - '0');
			if (tid == main_tid)
				main_seen = 1;
			else if (tid != me)
				others++;
		}
	}
	close(fd);
	return !others && (!main_seen || ended(main_tid));
}

static void *snap_thread(void *arg)
{
	uint64_t interval = (uint64_t)rs_opt.snapshot_interval * 1000000000ull;
	uint64_t due = interval ? rs_clock_ns(CLOCK_MONOTONIC) + interval : 0;
	uint32_t me = gettid_();

	(void)arg;
	rs_self.guard = 1;	/* whatever we call only forwards */
	rs_self.tid = me;
	for (;;) {
		uint64_t now = rs_clock_ns(CLOCK_MONOTONIC), until = now + POLL_NS;
		struct timespec ts;
		unsigned trigger = 0;

		if (due && due < until)
			until = due;
		ts.tv_sec = (time_t)(until / 1000000000u);
		ts.tv_nsec = (long)(until % 1000000000u);
		if (sem_clockwait(&wake, CLOCK_MONOTONIC, &ts) == 0) {
			while (sem_trywait(&wake) == 0)
				;	/* signals while we scan make one snapshot */
			trigger = RS_SNAP_SIGNAL;
		} else if (errno == ETIMEDOUT && due && rs_clock_ns(CLOCK_MONOTONIC) >= due) {
			trigger = RS_SNAP_PERIODIC;
		}
		if (!atomic_load(&rs_tracing))
			break;
		if (trigger) {
			take(trigger, 0, EXIT_WAIT_NS, 0);
			rs_py_request(trigger);
			if (interval)
				due = rs_clock_ns(CLOCK_MONOTONIC) + interval;
		} else if (alone(me)) {
			break;
		}
	}
	atomic_store(&thread_up, 0);
	rs_self.guard = 0;
	/* the last thread: glibc calls exit(0) on its way out, as it would have */
	pthread_exit(NULL);
}

static int start_thread(void)
{
	pthread_attr_t a;
	sigset_t all, old;
	pthread_t t;
	int rc;

	if (!thread_stack) {
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);
		uint8_t *m = mmap(NULL, THREAD_STACK + pg, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

		if (m == MAP_FAILED)
			return -ENOMEM;
		mprotect(m, pg, PROT_NONE);	/* guard page */
		rs_own_add(m, THREAD_STACK + pg);
		thread_stack = m + pg;
		thread_stack_size = THREAD_STACK;
	}
	if (sem_init(&wake, 0, 0) != 0)
		return -errno;
	pthread_attr_init(&a);
	pthread_attr_setstack(&a, thread_stack, thread_stack_size);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* inherited: it never takes a signal */
	atomic_store(&thread_up, 1);
	rc = rs_real.pthread_create(&t, &a, snap_thread, NULL);
	if (rc)
		atomic_store(&thread_up, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return -rc;
}

static void say(const char *what)
{
	ssize_t w;

	if (rs_opt.quiet)
		return;
	w = write(2, what, strlen(what));	/* best effort */
	(void)w;
}

/* Called from init with the guard set. */
void rs_snaptrig_init(void)
{
	if (!rs_opt.snapshot_signal && !rs_opt.snapshot_interval)
		return;
	if (start_thread() < 0) {
		say("refscope: cannot start the snapshot thread: no signal or periodic snapshots\n");
		return;
	}
	if (rs_opt.snapshot_signal && rs_signals_take(rs_opt.snapshot_signal, on_signal) < 0)
		say("refscope: cannot handle the snapshot signal\n");
}

/* Fork child, guard set: the thread did not come along; ours starts again. */
void rs_snaptrig_fork_child(void)
{
	forked = 1;
	rs_own_after_fork();
	rs_snapshot_reset_after_fork();
	atomic_store(&thread_up, 0);
	if ((rs_opt.snapshot_signal || rs_opt.snapshot_interval) && atomic_load(&rs_tracing))
		start_thread();
}
