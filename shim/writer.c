/*
 * writer.c - turns per-thread event buffers into CHUNK records on the trace
 * descriptor, and owns that descriptor.
 *
 * Each thread appends framed records to its own mmap'd buffer under the
 * buffer's own lock. A full buffer is compressed (zstd level 1 in a static
 * context, no malloc) and written as one CHUNK with one write(2). Buffers of
 * exited threads go back to a free list, so many short threads reuse a few
 * mappings. Before each write the descriptor is checked with fstat: the
 * program may have closed it or put another file on its number.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "ownmem.h"
#include "refscope_format.h"

atomic_int rs_tracing;

static struct {
	int fd;
	pid_t pid;		/* the process the descriptor's trace belongs to */
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
	int compress;
	size_t buf_size;
	size_t scap;		/* bytes of each packed stream */
	unsigned time_shift;
	uint64_t max_age;	/* 0: no bound */
	int exact_order;
	int quiet;
	uint64_t start_mono;
	atomic_int stopped;
	atomic_int fd_lock;		/* reopening the descriptor */
	atomic_int writing;		/* threads inside writer_outv */
	atomic_int list_lock;		/* free list and the all-buffers list */
	struct rs_tbuf *all;
	struct rs_tbuf *free;
	struct rs_tbuf *retired;
} g = { .fd = -1 };

/*
 * Sequence numbers are stamps (format version 3, see refscope_format.h): a
 * thread's next stamp is the least number above its last one, not below the
 * event's time, not below the floor, and above the stamp last published for
 * the event's address. The floor is raised by global records (MODULE,
 * snapshots, END, STOPPED) so that every later event is numbered after
 * them; it is written that rarely and read by every event, so it sits alone
 * on its cache line. addr_stamp keeps, per hashed address, the highest stamp
 * of an event on an address of that slot: colliding addresses only ever make
 * a stamp larger than it had to be, never order anything wrongly. No event
 * writes a line every thread reads, unlike one shared counter.
 */
static struct {
	_Alignas(64) _Atomic uint64_t floor;
	char pad[56];
} clk = { 1, { 0 } };

#define ADDR_STAMP_BITS 16
static _Alignas(64) _Atomic uint64_t addr_stamp[1u << ADDR_STAMP_BITS];

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static inline void spin_lock(atomic_int *l)
{
	while (atomic_exchange_explicit(l, 1, memory_order_acquire))
		while (atomic_load_explicit(l, memory_order_relaxed))
			cpu_relax();
}

static inline int spin_trylock(atomic_int *l, unsigned spins)
{
	for (unsigned i = 0; i <= spins; i++) {
		if (!atomic_exchange_explicit(l, 1, memory_order_acquire))
			return 1;
		cpu_relax();
	}
	return 0;
}

/*
 * Buffer locks record who holds them: OWNER (the buffer's thread, appending
 * or flushing its own buffer) or FLUSHER (another thread flushing it). So a
 * flush running on the owner thread from a signal handler can tell that it
 * interrupted its own append, instead of waiting for itself for ever.
 */
enum { TB_OWNER = 1, TB_FLUSHER = 2 };

static inline int tb_trylock(struct rs_tbuf *tb, int who, unsigned spins)
{
	for (unsigned i = 0; i <= spins; i++) {
		int z = 0;

		if (atomic_compare_exchange_weak_explicit(&tb->lock, &z, who,
							  memory_order_acquire,
							  memory_order_relaxed))
			return 1;
		cpu_relax();
	}
	return 0;
}

static inline void tb_lock(struct rs_tbuf *tb, int who)
{
	while (!tb_trylock(tb, who, 1u << 10))
		;
}

static inline void spin_unlock(atomic_int *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/*
 * Event times. clock_gettime cost about a tenth of every event on make
 * bench's workload (perf: 9.5% of cycles in __vdso_clock_gettime), while
 * packed times are rounded down to 16 us anyway. Where the kernel itself
 * keeps time with the TSC (clocksource "tsc": the same count on every CPU,
 * at a constant rate) and this process may read it (PR_GET_TSC), a thread
 * reads the clock only when the TSC says RS_TIME_REUSE_NS have passed since
 * its last reading, and else reuses that reading. The TSC rate comes from
 * two readings at least 1 ms apart; until then, and wherever the TSC is not
 * usable, every event reads the clock.
 */
static struct {
	atomic_int usable;
	uint64_t ns0, tsc0;		/* a reading at open */
	_Atomic uint64_t gate;		/* TSC ticks in RS_TIME_REUSE_NS; 0: not yet known */
} tsc;

/* 1 once the program forbade itself the TSC: the vDSO's clock reads it */
static atomic_int vdso_off;

uint64_t rs_clock_ns(clockid_t c)
{
	struct timespec ts;

	if (atomic_load_explicit(&vdso_off, memory_order_relaxed))
		syscall(SYS_clock_gettime, c, &ts);
	else
		clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return rs_clock_ns(CLOCK_MONOTONIC);
}

static void tsc_init(void)
{
#if defined(__x86_64__)
	char b[8];
	int fd, mode = 0;
	ssize_t n = 0;

	atomic_store(&tsc.usable, 0);
	if (prctl(PR_GET_TSC, &mode, 0, 0, 0) != 0 || mode != PR_TSC_ENABLE)
		return;
	fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n < 4 || memcmp(b, "tsc\n", 4) != 0)
		return;
	tsc.tsc0 = __builtin_ia32_rdtsc();
	tsc.ns0 = mono_ns();
	atomic_store(&tsc.usable, 1);
#endif
}

int rs_writer_time_reuses(void)
{
	return atomic_load_explicit(&tsc.usable, memory_order_relaxed);
}

void rs_writer_tsc_off(void)
{
	atomic_store(&tsc.usable, 0);
	atomic_store(&vdso_off, 1);
}

uint64_t rs_writer_time(struct rs_tbuf *tb)
{
#if defined(__x86_64__)
	if (atomic_load_explicit(&tsc.usable, memory_order_relaxed) && !g.exact_order) {
		uint64_t gate = atomic_load_explicit(&tsc.gate, memory_order_relaxed);
		uint64_t c = __builtin_ia32_rdtsc(), ns;

		/* unsigned: a TSC behind the last reading reads the clock too */
		if (gate && tb->tsc_last && c - tb->tsc_last < gate)
			return tb->ns_last - g.start_mono;
		ns = mono_ns();
		if (!gate && ns - tsc.ns0 >= 1000000 && c > tsc.tsc0) {
			/* 128 bits: the first reading may come days after open */
			gate = (uint64_t)((unsigned __int128)(c - tsc.tsc0) * RS_TIME_REUSE_NS /
					  (ns - tsc.ns0));
			atomic_store_explicit(&tsc.gate, gate ? gate : 1, memory_order_relaxed);
		}
		if (ns < tb->ns_last)	/* never: the clock is monotonic */
			ns = tb->ns_last;
		tb->tsc_last = c;
		tb->ns_last = ns;
		return ns - g.start_mono;
	}
#endif
	return rs_writer_now();
}

uint64_t rs_writer_now(void)
{
	return mono_ns() - g.start_mono;
}

uint64_t rs_seq_peek(void)
{
	uint64_t now = rs_writer_now() + 1, f = atomic_load_explicit(&clk.floor, memory_order_acquire);

	return now > f ? now : f;
}

uint64_t rs_seq_global(void)
{
	uint64_t s = rs_seq_peek(), f = atomic_load_explicit(&clk.floor, memory_order_relaxed);

	/* above every stamp taken so far, whatever the clock says */
	for (struct rs_tbuf *tb = atomic_load((_Atomic(struct rs_tbuf *) *)&g.all); tb; tb = tb->next_all) {
		uint64_t c = atomic_load_explicit(&tb->clock, memory_order_relaxed);

		s = c >= s ? c + 1 : s;
	}

	while (f < s && !atomic_compare_exchange_weak_explicit(&clk.floor, &f, s, memory_order_acq_rel,
							       memory_order_relaxed))
		;
	return s;
}

/*
 * The stamp of tb's next event: at time t (the time read for the event,
 * not rounded: a stamp never lags the real time, else an event another
 * thread caused could sort before its cause), on addr (0: none), at least
 * lo. Publishes it for addr before the caller hands the
 * address on (a free: before the real call; an allocation: before
 * returning the block), so whichever thread gets the address next reads it.
 */
static inline uint64_t take_stamp(struct rs_tbuf *tb, uint64_t t, uint64_t addr, uint64_t lo)
{
	uint64_t s = atomic_load_explicit(&tb->clock, memory_order_relaxed) + 1;
	uint64_t v = atomic_load_explicit(&clk.floor, memory_order_acquire);

	s = s > t ? s : t;
	s = s > lo ? s : lo;
	s = s > v ? s : v;
	if (addr) {
		_Atomic uint64_t *slot = &addr_stamp[((addr >> 4) * 0x9e3779b97f4a7c15ull) >>
						     (64 - ADDR_STAMP_BITS)];

		v = atomic_load_explicit(slot, memory_order_acquire);
		if (s <= v)
			s = v + 1;
		/* another thread may raise it meanwhile: then it is above s already */
		while (v < s && !atomic_compare_exchange_weak_explicit(slot, &v, s, memory_order_acq_rel,
								       memory_order_acquire))
			;
	}
	atomic_store_explicit(&tb->clock, s, memory_order_relaxed);	/* rs_seq_global reads it */
	return s;
}

int rs_writer_fd(void)
{
	return g.fd;
}

int rs_writer_fd_floor(void)
{
	struct rlimit rl;
	int floor = 100;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 2 * (rlim_t)floor)
		floor = (int)(rl.rlim_cur / 2);
	return floor;
}

/* Moves fd to a high number so a program's dup2 onto low numbers misses it. */
static int move_high(int fd)
{
	int floor = rs_writer_fd_floor();
	int nfd;

	if (fd >= floor)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

int rs_writer_open(const struct rs_writer_config *cfg)
{
	struct stat st;
	size_t n;

	if (fstat(cfg->fd, &st) < 0)
		return -errno;
	g.fd = move_high(cfg->fd);	/* cfg->fd is closed if it moved */
	g.pid = getpid();
	g.dev = st.st_dev;
	g.ino = st.st_ino;
	g.path[0] = 0;
	if (cfg->path) {
		n = strlen(cfg->path);
		if (n < sizeof(g.path))
			memcpy(g.path, cfg->path, n + 1);
	}
	g.compress = cfg->compress;
	g.buf_size = cfg->buf_size < RS_BUFFER_MIN ? RS_BUFFER_MIN :
		     cfg->buf_size > RS_BUFFER_MAX ? RS_BUFFER_MAX : cfg->buf_size;
	g.quiet = cfg->quiet;
	g.start_mono = cfg->start_mono;
	g.scap = 4 * g.buf_size < RS_PACK_STREAM_CAP ? 4 * g.buf_size : RS_PACK_STREAM_CAP;
	g.time_shift = cfg->time_shift > 30 ? 30 : cfg->time_shift;
	g.max_age = cfg->max_age_ns;
	g.exact_order = cfg->exact_order;
	tsc_init();
	atomic_store(&g.stopped, 0);
	atomic_store(&rs_tracing, 1);
	return 0;
}

void rs_writer_drop_fd(void)
{
	if (g.fd >= 0)
		close(g.fd);
	g.fd = -1;
	atomic_store(&rs_tracing, 0);
}

static void say(const char *what, int err)
{
	char line[160];
	size_t n = 0;
	const char *pre = "refscope: tracing stopped: ";
	char num[12];
	int k = 0;
	ssize_t w;

	if (g.quiet)
		return;
	n = strlen(pre);
	memcpy(line, pre, n);
	memcpy(line + n, what, strlen(what));
	n += strlen(what);
	if (err) {
		memcpy(line + n, " (errno ", 8);
		n += 8;
		do {
			num[k++] = (char)('0' + err % 10);
			err /= 10;
		} while (err && k < 11);
		while (k)
			line[n++] = num[--k];
		line[n++] = ')';
	}
	line[n++] = '\n';
	w = write(2, line, n);	/* best effort: nothing to do if stderr is gone */
	(void)w;
}

static int fd_is_ours(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == g.dev && st.st_ino == g.ino;
}

static void stop(unsigned reason, int err, int record);

pid_t rs_writer_pid(void)
{
	return g.pid;
}

int rs_writer_owns_fd(int fd)
{
	return fd >= 0 && fd == g.fd && getpid() == g.pid && fd_is_ours(fd);
}

/*
 * The program is about to dup2 a file of its own onto the trace's number:
 * take another number first (the old one is still ours, so F_DUPFD cannot
 * return it); the program's dup2 then closes the old one. No room for a
 * descriptor: stop tracing, the number goes to the program all the same.
 */
int rs_writer_move_fd(void)
{
	int nfd;

	if (!spin_trylock(&g.fd_lock, 1u << 20))
		return -EBUSY;
	nfd = fcntl(g.fd, F_DUPFD_CLOEXEC, rs_writer_fd_floor());
	if (nfd >= 0)
		__atomic_store_n(&g.fd, nfd, __ATOMIC_SEQ_CST);
	spin_unlock(&g.fd_lock);
	/* a write that read the old number may still be on its way to it:
	 * wait for those (bounded: one on a stuck device must not hang us) */
	for (unsigned i = 0; nfd >= 0 && atomic_load(&g.writing) && i < 100000; i++) {
		struct timespec ts = { 0, 10000 };

		nanosleep(&ts, NULL);
	}
	if (nfd < 0) {
		int e = errno;

		stop(RS_STOP_FD_LOST, e, 1);
		return -e;
	}
	return 0;
}

/*
 * The descriptor is no longer our file: reopen the path (never create,
 * never follow a link) and accept it only if it is the same inode.
 */
static int reopen(int seen_fd)
{
	int fd, ok = 0;

	if (!spin_trylock(&g.fd_lock, 1u << 20))
		return -EBUSY;
	if (g.fd != seen_fd && fd_is_ours(g.fd)) {
		spin_unlock(&g.fd_lock);	/* another thread already reopened */
		return 0;
	}
	if (g.path[0]) {
		fd = open(g.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (fd_is_ours(fd)) {
				g.fd = move_high(fd);
				ok = 1;
			} else {
				close(fd);
			}
		}
	}
	spin_unlock(&g.fd_lock);
	return ok ? 0 : -EBADF;
}

static void stop(unsigned reason, int err, int record)
{
	uint8_t rec[40];
	uint8_t *p = rec + 2;
	ssize_t w;

	if (atomic_exchange(&g.stopped, 1))
		return;
	atomic_store(&rs_tracing, 0);
	if (record && fd_is_ours(g.fd)) {
		p += rs_put_uvarint(p, rs_seq_global());
		p += rs_put_uvarint(p, reason);
		p += rs_put_uvarint(p, (uint64_t)(err < 0 ? -err : err));
		rec[0] = RS_REC_STOPPED;
		rec[1] = (uint8_t)(p - rec - 2);
		w = write(g.fd, rec, (size_t)(p - rec));
		(void)w;	/* the write path just failed; this is a last try */
	}
	say(reason == RS_STOP_WRITE_ERROR ? "write error on the trace file" :
	    reason == RS_STOP_FD_LOST ? "the program closed the trace file" :
	    reason == RS_STOP_NO_MEMORY ? "out of memory for trace buffers" : "error",
	    err < 0 ? -err : err);
}

void rs_writer_stop(unsigned reason, int err)
{
	stop(reason, err, 1);
}

void rs_writer_finish(void)
{
	atomic_store(&g.stopped, 1);
	atomic_store(&rs_tracing, 0);
}

/*
 * A record write failed, or stopped part way (a full file system). A part
 * written is cut off again, when the file still ends with it (no other
 * thread appended since): the trace then ends with whole records, and the
 * room freed lets STOPPED say why it ends there.
 */
static void write_failed(int fd, ssize_t w, size_t len)
{
	int err = w < 0 ? errno : ENOSPC;
	struct stat st;
	off_t end;

	if (w > 0 && (size_t)w < len && !atomic_load(&g.stopped)) {
		end = lseek(fd, 0, SEEK_CUR);	/* O_APPEND: just past our part */
		if (end >= w && fstat(fd, &st) == 0 && st.st_size == end &&
		    ftruncate(fd, end - w) != 0)
			err = errno;
	}
	stop(RS_STOP_WRITE_ERROR, err, 1);
}

/*
 * One writev(2) of a complete top-level record in pieces. Counted in
 * g.writing from before the descriptor is read until the write is done, so
 * rs_writer_move_fd can wait until no write can still land on the number
 * the program is about to take.
 */
static int outv(const struct iovec *iov, int n, size_t len)
{
	int fd = __atomic_load_n(&g.fd, __ATOMIC_SEQ_CST);
	ssize_t w;

	if (atomic_load_explicit(&g.stopped, memory_order_relaxed) || fd < 0)
		return -EPIPE;
	/*
	 * A child made without fork's handlers (_Fork, clone, vfork) holds a
	 * copy of our buffers: its chunks must never reach the parent's trace.
	 * Not a stop: a vfork child shares rs_tracing with the parent.
	 */
	if (getpid() != g.pid)
		return -ESRCH;
	if (!fd_is_ours(fd)) {
		if (reopen(fd) < 0) {
			stop(RS_STOP_FD_LOST, EBADF, 0);	/* never write to a stranger's fd */
			return -EBADF;
		}
		fd = g.fd;
	}
	for (;;) {
		/* one call: O_APPEND places the whole record at once */
		w = writev(fd, iov, n);
		if (w == (ssize_t)len)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		/* O_APPEND on a regular file: a short write means the disk is full */
		write_failed(fd, w, len);
		return -EIO;
	}
}

static int writer_outv(const struct iovec *iov, int n, size_t len)
{
	int r;

	atomic_fetch_add(&g.writing, 1);
	r = outv(iov, n, len);
	atomic_fetch_sub(&g.writing, 1);
	return r;
}

int rs_writer_out(const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return writer_outv(&iov, 1, len);
}

int rs_writer_end(unsigned how, int64_t status)
{
	uint8_t rec[64];
	uint8_t *p = rec + 2;

	p += rs_put_uvarint(p, rs_seq_global());
	p += rs_put_uvarint(p, how);
	p += rs_put_svarint(p, status);
	p += rs_put_uvarint(p, rs_writer_now());
	p += rs_put_uvarint(p, 0);
	rec[0] = RS_REC_END;
	rec[1] = (uint8_t)(p - rec - 2);
	return rs_writer_out(rec, (size_t)(p - rec));
}

/* ---- buffers ------------------------------------------------------------ */

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) & ~(pg - 1);
}

static void flush_locked(struct rs_tbuf *tb, int allow_compress);

#define MARKER_MAX (2 + RS_UVARINT_MAX)	/* a PACKED record */
#define STREAM_SLACK 16			/* a stream is full with less room left */

/* Makes the buffer's current state the one a signal flush would write. */
static inline void commit(struct rs_tbuf *tb)
{
	unsigned cur = atomic_load_explicit(&tb->snap_cur, memory_order_relaxed) ^ 1;
	struct rs_tbuf_commit *c = &tb->snap[cur];

	c->len = (uint32_t)tb->len;
	c->nevents = tb->nevents;
	c->npending = tb->npending;
	c->markers = tb->markers;
	c->xsize = tb->xsize;
	memcpy(c->slen, tb->slen, sizeof(c->slen));
	atomic_store_explicit(&tb->snap_cur, cur, memory_order_release);
}

static void tbuf_reset(struct rs_tbuf *tb)
{
	tb->len = 0;
	tb->nevents = 0;
	tb->have_first = 0;
	tb->flush_at = UINT64_MAX;
	memset(tb->slen, 0, sizeof(tb->slen));
	tb->sraw = 0;
	tb->npending = 0;
	tb->markers = 0;
	tb->xsize = 0;
	tb->prev_stack = 0;
	tb->budget = 0;
	tb->gen++;	/* forgets every table slot at once */
	if (!tb->gen)
		tb->gen = 1;
	memset(tb->class_count, 0, RS_PACK_NCLASSES * sizeof(*tb->class_count));
	memset(tb->succ, 0, RS_PACK_NSUCC * sizeof(*tb->succ));
	if (tb->live.bits) {
		/* the bits in use, and the whole tree: an update reaches its top */
		memset(tb->live.bits, 0, (tb->nalloc / 64 + 1) * sizeof(*tb->live.bits));
		memset(tb->live.fen, 0, (tb->live.nwords + 1) * sizeof(*tb->live.fen));
		tb->live.total = 0;
	}
	tb->nalloc = 0;
	commit(tb);
}

static struct rs_tbuf *tbuf_map(void)
{
	size_t head = page_round(sizeof(struct rs_tbuf));
	size_t rec = page_round(RS_CHUNK_HEADROOM + g.buf_size + MARKER_MAX);
	size_t streams = (RS_PS_COUNT - 1) * g.scap;
	size_t table = page_round(RS_PACK_TABLE * sizeof(struct rs_pack_slot));
	size_t classes = page_round(RS_PACK_NCLASSES * sizeof(uint32_t));
	size_t succ = page_round(RS_PACK_NSUCC * sizeof(struct rs_pack_succ));
	/* a chunk holds at most scap packed events (one HEAD byte each) */
	uint32_t nwords = (uint32_t)(g.scap / 64 + 1);
	size_t live = page_round(nwords * sizeof(uint64_t) + (nwords + 1) * sizeof(uint32_t));
	size_t total = head + rec + streams + table + classes + succ + live;
	uint8_t *m;
	struct rs_tbuf *tb;

	m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	rs_own_add(m, total);
	tb = (struct rs_tbuf *)m;
	tb->map_size = total;
	tb->data = m + head + RS_CHUNK_HEADROOM;
	tb->cap = g.buf_size;
	m += head + rec;
	for (unsigned i = 1; i < RS_PS_COUNT; i++, m += g.scap)
		tb->ps[i] = m;
	tb->scap = (uint32_t)g.scap;
	tb->table = (struct rs_pack_slot *)m;
	tb->class_count = (uint32_t *)(m + table);
	tb->succ = (struct rs_pack_succ *)(m + table + classes);
	tb->live.bits = (uint64_t *)(m + table + classes + succ);
	tb->live.fen = (uint32_t *)(tb->live.bits + nwords);
	tb->live.nwords = nwords;
	tb->gen = 1;
	return tb;
}

/*
 * Compression contexts: a few shared slots instead of one per thread, so a
 * thread costs one buffer, not a 300 KiB zstd workspace. Taken per chunk
 * (never per event) with trylock; when all are busy the chunk goes raw.
 */
#define ZSLOTS 8

struct zslot {
	atomic_int lock;
	void *cctx;		/* ZSTD_CCtx in a static workspace */
	uint8_t *out;		/* cap bytes, RS_CHUNK_HEADROOM before it */
	size_t cap;
};

static struct zslot zslots[ZSLOTS];

static int zslot_map(struct zslot *z)
{
	size_t cap = ZSTD_compressBound(g.buf_size) + (RS_PS_COUNT - 1) * ZSTD_compressBound(g.scap);
	size_t big = g.buf_size > g.scap ? g.buf_size : g.scap;
	size_t ws = ZSTD_estimateCCtxSize_usingCParams(ZSTD_getCParams(1, big, 0));
	size_t outsz = page_round(RS_CHUNK_HEADROOM + cap);
	uint8_t *m = mmap(NULL, outsz + page_round(ws), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -ENOMEM;
	z->cctx = ZSTD_initStaticCCtx(m + outsz, ws);
	if (!z->cctx) {
		munmap(m, outsz + page_round(ws));
		return -ENOMEM;
	}
	rs_own_add(m, outsz + page_round(ws));
	z->out = m + RS_CHUNK_HEADROOM;
	z->cap = cap;
	return 0;
}

static struct zslot *zslot_get(uint32_t hint)
{
	for (unsigned pass = 0; pass < 16; pass++) {
		for (unsigned i = 0; i < ZSLOTS; i++) {
			struct zslot *z = &zslots[(hint + i) % ZSLOTS];

			if (atomic_load_explicit(&z->lock, memory_order_relaxed) ||
			    atomic_exchange_explicit(&z->lock, 1, memory_order_acquire))
				continue;
			if (!z->cctx && zslot_map(z) < 0) {
				spin_unlock(&z->lock);
				return NULL;
			}
			return z;
		}
		cpu_relax();
	}
	return NULL;
}

/* Has the thread with this id finished? (its buffer can then be reused) */
static int thread_gone(uint32_t tid)
{
	return syscall(SYS_tgkill, getpid(), (pid_t)tid, 0) < 0 && errno == ESRCH;
}

/* Moves retired buffers of finished threads to the free list; list lock held. */
static void reap_retired(void)
{
	struct rs_tbuf **pp = &g.retired, *tb;
	int e = errno;

	while ((tb = *pp) != NULL) {
		if (!thread_gone(tb->tid)) {
			pp = &tb->next_retired;
			continue;
		}
		*pp = tb->next_retired;
		if (!tb_trylock(tb, TB_FLUSHER, 1u << 16))
			continue;	/* its thread left an append by longjmp: never reuse it */
		flush_locked(tb, 1);	/* what it freed after its THREAD_EXIT */
		tb->in_use = 0;
		tb->retired = 0;
		spin_unlock(&tb->lock);
		tb->next_free = g.free;
		g.free = tb;
	}
	errno = e;
}

struct rs_tbuf *rs_tbuf_acquire(uint32_t tid)
{
	struct rs_tbuf *tb;

	spin_lock(&g.list_lock);
	if (g.retired)
		reap_retired();
	tb = g.free;
	if (tb)
		g.free = tb->next_free;
	spin_unlock(&g.list_lock);
	if (!tb) {
		tb = tbuf_map();
		if (!tb) {
			stop(RS_STOP_NO_MEMORY, ENOMEM, 1);
			return NULL;
		}
		spin_lock(&g.list_lock);
		tb->next_all = g.all;
		atomic_store_explicit((_Atomic(struct rs_tbuf *) *)&g.all, tb,
				      memory_order_release);
		spin_unlock(&g.list_lock);
	}
	tb_lock(tb, TB_OWNER);
	tb->tid = tid;
	tb->in_use = 1;
	tb->next_free = NULL;
	tbuf_reset(tb);
	spin_unlock(&tb->lock);
	return tb;
}

/* Puts the pending packed events behind a PACKED record (the slack kept
 * after data makes room for it); lock held. */
static void close_batch(struct rs_tbuf *tb)
{
	uint8_t *p = tb->data + tb->len;
	size_t n;

	if (!tb->npending)
		return;
	n = rs_put_uvarint(p + 2, tb->npending);
	p[0] = RS_REC_PACKED;
	p[1] = (uint8_t)n;
	tb->len += 2 + n;
	tb->markers += (uint32_t)(2 + n);
	tb->npending = 0;
}

/* Writes the buffer as one STREAMS CHUNK with one writev; tb->lock held. */
static void flush_locked(struct rs_tbuf *tb, int allow_compress)
{
	uint8_t h[RS_CHUNK_HEADROOM + 2];
	uint8_t ph[RS_CHUNK_HEADROOM];
	uint8_t sh[RS_PS_COUNT][1 + 2 * RS_UVARINT_MAX];
	struct iovec iov[1 + 2 * RS_PS_COUNT];
	size_t phn = 0, hn = 0, body = 2, total;
	struct zslot *zs = NULL;
	size_t zoff = 0;

	if (tb->len == 0 && tb->slen[RS_PS_HEAD] == 0)
		return;
	tb->flushing = 1;
	close_batch(tb);
	/* small bodies (a thread's last events) are not worth a context reset */
	if (allow_compress && g.compress && tb->len + tb->sraw >= 4096)
		zs = zslot_get(tb->tid);
	for (unsigned i = 0; i < RS_PS_COUNT; i++) {
		const uint8_t *src = i ? tb->ps[i] : tb->data;
		size_t len = i ? tb->slen[i] : tb->len;
		size_t n = 0, stored = len;
		uint8_t enc = RS_CHUNK_RAW;

		iov[1 + 2 * i + 1].iov_base = (void *)src;
		if (zs && len >= 64) {
			size_t z = ZSTD_compressCCtx(zs->cctx, zs->out + zoff, zs->cap - zoff, src, len, 1);

			if (!ZSTD_isError(z) && z < len) {
				iov[1 + 2 * i + 1].iov_base = zs->out + zoff;
				zoff += z;
				stored = z;
				enc = RS_CHUNK_ZSTD;
			}
		}
		sh[i][n++] = enc;
		n += rs_put_uvarint(sh[i] + n, len);
		n += rs_put_uvarint(sh[i] + n, stored);
		iov[1 + 2 * i].iov_base = sh[i];
		iov[1 + 2 * i].iov_len = n;
		iov[1 + 2 * i + 1].iov_len = stored;
		body += n + stored;
	}
	ph[phn++] = RS_CHUNK_STREAMS;
	phn += rs_put_uvarint(ph + phn, tb->tid);
	phn += rs_put_uvarint(ph + phn, tb->have_first ? tb->first_seq : rs_seq_peek());
	phn += rs_put_uvarint(ph + phn, tb->have_first ? tb->first_time : rs_writer_now());
	phn += rs_put_uvarint(ph + phn, tb->len - tb->markers + tb->xsize);
	phn += rs_put_uvarint(ph + phn, tb->nevents);
	h[hn++] = RS_REC_CHUNK;
	hn += rs_put_uvarint(h + hn, phn + body);
	memcpy(h + hn, ph, phn);
	hn += phn;
	h[hn++] = RS_PS_COUNT;
	h[hn++] = (uint8_t)g.time_shift;
	iov[0].iov_base = h;
	iov[0].iov_len = hn;
	total = hn - 2 + body;
	tb->flushing = 2;
	writer_outv(iov, 1 + 2 * RS_PS_COUNT, total);
	if (zs)
		spin_unlock(&zs->lock);
	tbuf_reset(tb);
	tb->flushing = 0;
}

int rs_tbuf_flush(struct rs_tbuf *tb)
{
	tb_lock(tb, TB_OWNER);
	flush_locked(tb, 1);
	spin_unlock(&tb->lock);
	return 0;
}

void rs_tbuf_release(struct rs_tbuf *tb)
{
	tb_lock(tb, TB_OWNER);
	flush_locked(tb, 1);
	tb->in_use = 0;
	spin_unlock(&tb->lock);
	spin_lock(&g.list_lock);
	tb->next_free = g.free;
	g.free = tb;
	spin_unlock(&g.list_lock);
}

void rs_tbuf_retire(struct rs_tbuf *tb)
{
	tb_lock(tb, TB_OWNER);
	flush_locked(tb, 1);
	tb->retired = 1;
	spin_unlock(&tb->lock);
	spin_lock(&g.list_lock);
	tb->next_retired = g.retired;
	g.retired = tb;
	spin_unlock(&g.list_lock);
}

/* Our own thread was interrupted inside an append or flush of its buffer:
 * write only what was committed, never wait on our own lock. */
static void flush_interrupted(struct rs_tbuf *tb)
{
	const struct rs_tbuf_commit *c =
		&tb->snap[atomic_load_explicit(&tb->snap_cur, memory_order_acquire)];

	if (tb->flushing == 2 || !tb->in_use)
		return;	/* may be written already: a lost chunk beats a doubled one */
	tb->len = c->len;
	tb->nevents = c->nevents;
	tb->npending = c->npending;
	tb->markers = c->markers;
	tb->xsize = c->xsize;
	memcpy(tb->slen, c->slen, sizeof(tb->slen));
	tb->sraw = 0;
	for (unsigned i = 1; i < RS_PS_COUNT; i++)
		tb->sraw += tb->slen[i];
	flush_locked(tb, 0);
}

static void flush_all(struct rs_tbuf *self, int in_signal, unsigned spins)
{
	/* the list only grows at its head: walk a snapshot, no list lock (the
	 * caller may have interrupted its own thread holding it) */
	struct rs_tbuf *tb = atomic_load((_Atomic(struct rs_tbuf *) *)&g.all);

	for (; tb; tb = tb->next_all) {
		int who = tb == self ? TB_OWNER : TB_FLUSHER;

		if (tb == self && atomic_load(&tb->lock) == TB_OWNER) {
			flush_interrupted(tb);
			continue;
		}
		/*
		 * Never wait for ever: a thread may be stopped inside an append
		 * (we are a signal handler), or may have left one by longjmp
		 * from its own signal handler. Losing its buffer beats a hang.
		 */
		if (!tb_trylock(tb, who, spins))
			continue;
		if (tb->in_use)
			flush_locked(tb, !in_signal);
		spin_unlock(&tb->lock);
	}
}

void rs_writer_flush_all(struct rs_tbuf *self)
{
	flush_all(self, 0, 1u << 26);
}

void rs_writer_flush_all_signal(struct rs_tbuf *self)
{
	flush_all(self, 1, 100000u);
}

void rs_writer_flush_all_quick(struct rs_tbuf *self)
{
	flush_all(self, 0, 1u << 12);
}

void rs_writer_reset_after_fork(struct rs_tbuf *self, uint32_t tid)
{
	struct rs_tbuf *tb;

	for (unsigned i = 0; i < ZSLOTS; i++)
		atomic_store(&zslots[i].lock, 0);	/* holders do not exist in the child */
	g.free = NULL;
	g.retired = NULL;
	atomic_store(&g.list_lock, 0);
	atomic_store(&g.fd_lock, 0);
	/* the child's trace starts its clock afresh with its own start time:
	 * the parent's stamps would hold its seqs far above its times */
	atomic_store(&clk.floor, 1);
	memset((void *)addr_stamp, 0, sizeof(addr_stamp));
	for (tb = g.all; tb; tb = tb->next_all) {
		/* the parent's events: the child's trace must never get them */
		atomic_store(&tb->lock, 0);
		atomic_store_explicit(&tb->clock, 0, memory_order_relaxed);
		tb->tsc_last = tb->ns_last = 0;	/* the child's times start afresh */
		tbuf_reset(tb);
		memset(tb->cache, 0, sizeof(tb->cache));
		if (tb == self) {
			tb->tid = tid;
			continue;
		}
		tb->in_use = 0;
		tb->retired = 0;
		tb->next_free = g.free;
		g.free = tb;
	}
}

/* ---- record encoding ---------------------------------------------------- */

#define RS_EVENT_MAX 80	/* type + size + 7 fields of at most 10 bytes */

/* Would a record of need bytes (and a PACKED record after it) overflow the
 * buffer or the chunk limits? */
static inline int rec_full(const struct rs_tbuf *tb, size_t need)
{
	return tb->len + need > tb->cap ||
	       tb->len + tb->sraw + need + MARKER_MAX > RS_CHUNK_MAX_RAW ||
	       tb->len - tb->markers + tb->xsize + need > RS_CHUNK_MAX_RAW;
}

/* Makes room for a record of at most need bytes; lock held. */
static inline uint8_t *reserve(struct rs_tbuf *tb, size_t need)
{
	if (rec_full(tb, need))
		flush_locked(tb, 1);
	return tb->data + tb->len;
}

/*
 * Starts an event at time t on addr (0: none), its stamp at least lo. For
 * the first event of a chunk: sets the chunk state (first_seq is the
 * event's stamp) and returns 1; else returns 0 and the caller takes the
 * stamp at time t.
 */
static inline int begin_event(struct rs_tbuf *tb, uint64_t t, uint64_t addr, uint64_t lo)
{
	if (!tb->have_first) {
		tb->first_time = tb->prev_time = t;
		tb->prev_addr = 0;
		tb->have_first = 1;
		tb->flush_at = g.max_age ? t + g.max_age : UINT64_MAX;
		tb->first_seq = tb->prev_seq = take_stamp(tb, t, addr, lo);
		tb->next_min = tb->first_seq;
		return 1;
	}
	return 0;
}

/* The time a packed event read at t and decoded at td is stamped at. */
static inline uint64_t stamp_time(uint64_t t, uint64_t td)
{
	uint64_t r = t & ~((1ull << RS_ORDER_SHIFT) - 1);

	if (g.exact_order)
		return t;
	return r > td ? r : td;
}

/* The seq field of an event of stamp sq at (decoded) time td; moves the
 * chunk state on. */
static inline uint64_t seq_excess(struct rs_tbuf *tb, uint64_t sq, uint64_t td)
{
	uint64_t base = tb->next_min > td ? tb->next_min : td;

	tb->prev_seq = sq;
	tb->next_min = sq + 1;
	return sq - base;
}

/* Is the buffer's first event older than the age bound at time t? Then it
 * goes out before the event of time t (the normal path: one chunk). */
static inline int too_old(const struct rs_tbuf *tb, uint64_t t)
{
	return __builtin_expect(t >= tb->flush_at, 0);
}

/* Event header: type, size placeholder, seq and time fields; the event is
 * on addr (0: none), its stamp at least lo. */
static inline uint8_t *event_head(struct rs_tbuf *tb, uint8_t type, uint64_t lo, uint64_t t, uint64_t addr)
{
	uint64_t sq;
	uint8_t *p;

	tb_lock(tb, TB_OWNER);
	if (too_old(tb, t))
		flush_locked(tb, 1);
	reserve(tb, RS_EVENT_MAX + MARKER_MAX);
	close_batch(tb);	/* packed events before this one come first */
	p = tb->data + tb->len;
	sq = begin_event(tb, t, addr, lo) ? tb->first_seq : take_stamp(tb, t, addr, lo);
	p[0] = type;
	p += 2;		/* every event payload is < 128 bytes: a one-byte size */
	p += rs_put_uvarint(p, seq_excess(tb, sq, t));
	p += rs_put_uvarint(p, t - tb->prev_time);
	tb->prev_time = t;
	return p;
}

static inline void event_commit(struct rs_tbuf *tb, uint8_t *end)
{
	uint8_t *rec = tb->data + tb->len;

	rec[1] = (uint8_t)(end - rec - 2);
	tb->len = (size_t)(end - tb->data);
	tb->nevents++;
	tb->budget = 0;	/* records count against the chunk limits too */
	commit(tb);
	spin_unlock(&tb->lock);
}

static inline uint8_t *put_addr(struct rs_tbuf *tb, uint8_t *p, uint64_t addr)
{
	p += rs_put_svarint(p, (int64_t)(addr - tb->prev_addr));
	tb->prev_addr = addr;
	return p;
}

/* ---- packed events (STREAMS chunks, see refscope_format.h) --------------- */

/* A split varint: first byte to stream st, the rest to stream rest. */
static inline unsigned sput(struct rs_tbuf *tb, unsigned st, unsigned rest, uint64_t v)
{
	unsigned n = 1;

	if (v < 0x80) {
		tb->ps[st][tb->slen[st]++] = (uint8_t)v;
		tb->sraw++;
		return 1;
	}
	tb->ps[st][tb->slen[st]++] = (uint8_t)(v | 0x80);
	v >>= 7;
	while (v >= 0x80) {
		tb->ps[rest][tb->slen[rest]++] = (uint8_t)(v | 0x80);
		v >>= 7;
		n++;
	}
	tb->ps[rest][tb->slen[rest]++] = (uint8_t)v;
	tb->sraw += n + 1;
	return n + 1;
}

static inline size_t ulen(uint64_t v)
{
	return v < 0x80 ? 1 : (size_t)(64 - __builtin_clzll(v) + 6) / 7;
}

/*
 * How many more packed events surely fit (0: flush first)? One event adds at
 * most 2 varints to a stream (EXTRA), 5 varints in all, and RS_EVENT_MAX
 * expanded bytes. Computed now and then, not per event: tb->budget.
 */
static uint32_t packed_room(const struct rs_tbuf *tb)
{
	uint64_t room = UINT32_MAX, r;

	for (unsigned i = 1; i < RS_PS_COUNT; i++) {
		if (tb->slen[i] + STREAM_SLACK + 2 * RS_UVARINT_MAX > tb->scap)
			return 0;
		r = (tb->scap - tb->slen[i] - STREAM_SLACK) / (2 * RS_UVARINT_MAX);
		room = r < room ? r : room;
	}
	r = tb->len + tb->sraw + MARKER_MAX;
	if (r + 5 * RS_UVARINT_MAX > RS_CHUNK_MAX_RAW)
		return 0;
	r = (RS_CHUNK_MAX_RAW - r) / (5 * RS_UVARINT_MAX);
	room = r < room ? r : room;
	r = tb->len - tb->markers + tb->xsize + MARKER_MAX;
	if (r + RS_EVENT_MAX > RS_CHUNK_MAX_RAW)
		return 0;
	r = (RS_CHUNK_MAX_RAW - r) / RS_EVENT_MAX;
	return (uint32_t)(r < room ? r : room);
}

static inline struct rs_pack_slot *slot_of(struct rs_tbuf *tb, uint64_t addr)
{
	return &tb->table[((addr >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - 13)];
}

_Static_assert(RS_PACK_TABLE == 1u << 13, "slot_of hashes to 13 bits");

/* The address as a delta, in 16-byte units when it can be. */
static inline unsigned put_addr_delta(struct rs_tbuf *tb, uint64_t addr)
{
	uint64_t d = addr - tb->prev_addr;

	if (!(d & 15)) {
		sput(tb, RS_PS_ADDR, RS_PS_ADDR + 1, rs_zigzag((int64_t)d >> 4));
		return RS_PH_ADDR_DELTA16;
	}
	sput(tb, RS_PS_ADDR, RS_PS_ADDR + 1, rs_zigzag((int64_t)d));
	return RS_PH_ADDR_DELTA;
}

/* One malloc (is_free 0) or free (1) as a packed event. */
static void packed_event(struct rs_tbuf *tb, int is_free, uint64_t lo, uint64_t t,
			 uint64_t addr, uint64_t size, uint32_t stack)
{
	struct rs_pack_slot *sl;
	unsigned h = is_free ? RS_PH_FREE : 0, mode;
	uint64_t q, sq, ex;
	size_t x;
	int first;

	tb_lock(tb, TB_OWNER);
	if (too_old(tb, t) || (!tb->budget && !(tb->budget = packed_room(tb)))) {
		flush_locked(tb, 1);
		tb->budget = packed_room(tb);
	}
	tb->budget--;
	first = begin_event(tb, t, addr, lo);
	q = first ? 0 : (t - tb->prev_time) >> g.time_shift;
	tb->prev_time += q << g.time_shift;	/* the time a reader will see */
	/*
	 * Stamped at the time read (exact order), or at it rounded down to
	 * 2^RS_ORDER_SHIFT ns but not below the time the reader decodes. A
	 * stamp lagging the time lets an event another thread caused through
	 * the program's own synchronization (a free, a signal, the other
	 * thread's malloc of other memory) sort before its cause: a false peak.
	 * Exact, the excess holds the time's low bits (about a byte an event);
	 * rounded, events of different threads less than about 6 us apart
	 * (the rounding and rs_writer_time's reuse) may sort either way.
	 */
	if (!first)
		sq = take_stamp(tb, stamp_time(t, tb->prev_time), addr, lo);
	else
		sq = tb->first_seq;
	x = 2 + (is_free ? 1 : 2);
	ex = seq_excess(tb, sq, tb->prev_time);
	if (!ex)
		h |= RS_PH_SEQ1;
	else
		sput(tb, RS_PS_EXTRA, RS_PS_EXTRA, ex);
	x += ulen(ex);
	if (q < 3)
		h |= (unsigned)q << RS_PH_TIME_SHIFT;
	else {
		h |= 3u << RS_PH_TIME_SHIFT;
		sput(tb, RS_PS_EXTRA, RS_PS_EXTRA, q - 3);
	}
	x += ulen(q << g.time_shift);
	if (!stack) {
		mode = RS_PH_STACK_NONE;
	} else if (stack == tb->prev_stack) {
		mode = RS_PH_STACK_SAME;
	} else if (stack == rs_pack_next(tb->succ, tb->prev_stack)) {
		/* what followed it last time: a free's stack and the malloc's
		 * after it, say, whatever order threads interned them in */
		mode = RS_PH_STACK_NEXT;
	} else {
		/* an id rather than a delta: the next stack is often as likely
		 * any of a few, and a difference of two such is twice as random */
		mode = RS_PH_STACK_ID;
		sput(tb, RS_PS_STACK, RS_PS_STACK + 1, stack);
	}
	if (stack) {
		rs_pack_learn(tb->succ, tb->prev_stack, stack);
		tb->prev_stack = stack;
	}
	h |= mode << RS_PH_STACK_SHIFT;
	x += ulen(stack);
	sl = slot_of(tb, addr);
	if (!is_free) {
		unsigned c = rs_pack_class(size);

		sput(tb, RS_PS_SIZE, RS_PS_SIZE + 1, size);
		x += ulen(size);
		if (c && sl->gen == tb->gen && sl->addr == addr && sl->freed && sl->cls == c) {
			uint32_t age = tb->class_count[c] - 1 - sl->ord;

			if (!age) {
				mode = RS_PH_ADDR_REF;
			} else {
				mode = RS_PH_ADDR_AGE;
				sput(tb, RS_PS_AAGE, RS_PS_AAGE + 1, age - 1);
			}
		} else {
			mode = put_addr_delta(tb, addr);
		}
		sl->addr = addr;
		sl->gen = tb->gen;
		sl->freed = 0;
		sl->cls = (uint16_t)c;
		sl->ord = tb->nalloc;
		rs_live_insert(&tb->live, tb->nalloc++);
	} else if (!addr) {
		mode = RS_PH_ADDR_NULL;
	} else if (sl->gen == tb->gen && sl->addr == addr && !sl->freed) {
		mode = RS_PH_ADDR_REF;
		sput(tb, RS_PS_FAGE, RS_PS_FAGE + 1, rs_live_after(&tb->live, sl->ord));
		rs_live_remove(&tb->live, sl->ord);
		if (sl->cls) {
			sl->freed = 1;
			sl->ord = tb->class_count[sl->cls]++;
		} else {
			sl->gen = 0;
		}
	} else {
		mode = put_addr_delta(tb, addr);
	}
	h |= mode << RS_PH_ADDR_SHIFT;
	x += ulen(rs_zigzag((int64_t)(addr - tb->prev_addr)));
	tb->prev_addr = addr;
	tb->ps[RS_PS_HEAD][tb->slen[RS_PS_HEAD]++] = (uint8_t)h;
	tb->sraw++;
	tb->xsize += x;
	tb->nevents++;
	tb->npending++;
	commit(tb);
	spin_unlock(&tb->lock);
}

void rs_ev_alloc(struct rs_tbuf *tb, uint64_t lo, uint64_t t, uint64_t addr,
		 uint64_t size, uint32_t stack, unsigned kind, uint64_t align)
{
	uint8_t *p;

	if (kind == RS_KIND_MALLOC && !align) {
		packed_event(tb, 0, lo, t, addr, size, stack);
		return;
	}
	p = event_head(tb, RS_EV_ALLOC, lo, t, addr);

	p = put_addr(tb, p, addr);
	p += rs_put_uvarint(p, size);
	p += rs_put_uvarint(p, stack);
	p += rs_put_uvarint(p, kind);
	p += rs_put_uvarint(p, align);
	event_commit(tb, p);
}

void rs_ev_free(struct rs_tbuf *tb, uint64_t lo, uint64_t t, uint64_t addr,
		uint32_t stack, unsigned kind)
{
	uint8_t *p;

	if (kind == RS_KIND_FREE) {
		packed_event(tb, 1, lo, t, addr, 0, stack);
		return;
	}
	p = event_head(tb, RS_EV_FREE, lo, t, addr);

	p = put_addr(tb, p, addr);
	p += rs_put_uvarint(p, stack);
	p += rs_put_uvarint(p, kind);
	event_commit(tb, p);
}

void rs_ev_alloc_failed(struct rs_tbuf *tb, uint64_t lo, uint64_t t, uint64_t size,
			uint32_t stack, unsigned kind, uint64_t old)
{
	uint8_t *p = event_head(tb, RS_EV_ALLOC_FAILED, lo, t, 0);

	p += rs_put_uvarint(p, size);
	p += rs_put_uvarint(p, stack);
	p += rs_put_uvarint(p, kind);
	p += rs_put_uvarint(p, old);
	event_commit(tb, p);
}

void rs_ev_thread_start(struct rs_tbuf *tb, uint64_t lo, uint64_t t, uint32_t creator)
{
	uint8_t *p = event_head(tb, RS_EV_THREAD_START, lo, t, 0);

	p += rs_put_uvarint(p, creator);
	event_commit(tb, p);
}

void rs_ev_thread_exit(struct rs_tbuf *tb, uint64_t lo, uint64_t t)
{
	event_commit(tb, event_head(tb, RS_EV_THREAD_EXIT, lo, t, 0));
}

void rs_ev_ref(struct rs_tbuf *tb, int release, uint64_t lo, uint64_t t, uint64_t addr,
	       uint32_t stack, unsigned api, unsigned fn)
{
	uint8_t *p = event_head(tb, release ? RS_EV_RELEASE : RS_EV_RETAIN, lo, t, addr);

	p = put_addr(tb, p, addr);
	p += rs_put_uvarint(p, stack);
	p += rs_put_uvarint(p, api);
	p += rs_put_uvarint(p, fn);
	event_commit(tb, p);
}

void rs_tbuf_stack(struct rs_tbuf *tb, uint32_t id, const uintptr_t *ips, unsigned n)
{
	/* payload encoded in place after a 3-byte size slot (it is < 2^21),
	 * then moved down to the real size's length: no big stack buffer */
	const size_t slot = 3;
	uintptr_t prev = 0;
	uint8_t *p, *q;
	size_t pn, sn;
	uint8_t sz[RS_UVARINT_MAX];

	if (n > RS_DEPTH_MAX)
		n = RS_DEPTH_MAX;
	tb_lock(tb, TB_OWNER);
	p = reserve(tb, 1 + slot + 2 * RS_UVARINT_MAX + (size_t)n * RS_UVARINT_MAX);
	q = p + 1 + slot;
	q += rs_put_uvarint(q, id);
	q += rs_put_uvarint(q, n);
	for (unsigned i = 0; i < n; i++) {
		q += rs_put_svarint(q, (int64_t)(ips[i] - prev));
		prev = ips[i];
	}
	pn = (size_t)(q - (p + 1 + slot));
	sn = rs_put_uvarint(sz, pn);
	p[0] = RS_REC_STACK;
	memmove(p + 1 + sn, p + 1 + slot, pn);
	memcpy(p + 1, sz, sn);
	tb->len = (size_t)(p + 1 + sn + pn - tb->data);
	/* not an event: nevents unchanged, but the bytes are committed */
	tb->budget = 0;
	commit(tb);
	spin_unlock(&tb->lock);
}
