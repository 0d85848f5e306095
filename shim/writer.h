/*
 * writer.h - per-thread event buffers, chunk framing and the trace descriptor.
 *
 * Contract:
 *  - rs_writer_open() adopts a descriptor (already holding the file header, or
 *    nothing: the writer never writes the header itself) and makes tracing
 *    active. Everything else is a no-op while tracing is not active.
 *  - A buffer (struct rs_tbuf) belongs to one thread. Only its owner appends;
 *    a flusher on another thread (exit, exec, fatal signal) takes the
 *    buffer's lock. Appends take the same lock, which is uncontended except
 *    while a flusher works: there is no global lock per event.
 *  - Events are appended in time order per buffer (each thread appends in
 *    program order). The writer numbers them itself: stamps (format version
 *    3), each above the thread's last, the floor raised by global records,
 *    and the last stamp of the event's address (see writer.c).
 *  - A full buffer becomes one CHUNK record written with one write(2) on the
 *    O_APPEND descriptor, so chunks of different threads never interleave.
 *    So does a buffer whose first event is older than max_age_ns, at the
 *    next event of its thread (checked against the time each event carries):
 *    kill -9 then loses about max_age_ns of a busy thread's events; an idle
 *    thread's buffer waits for its next event, its exit or the process's end.
 *  - On write failure or a lost descriptor tracing stops (STOPPED record when
 *    possible, one line on stderr unless quiet); callers keep forwarding.
 *  - Nothing here calls malloc or stdio: buffers and the zstd workspace are
 *    mmap'd and recycled through a free list.
 */
#ifndef REFSCOPE_WRITER_H
#define REFSCOPE_WRITER_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "refscope_format.h"

#define RS_CHUNK_HEADROOM 64	/* room for the CHUNK framing in front of a body */
#define RS_STACK_CACHE 1024	/* per-thread direct-mapped stack cache entries */
#define RS_DEPTH_DEFAULT 64
#define RS_DEPTH_MAX 256
#define RS_BUFFER_MIN (16u << 10)
#define RS_BUFFER_MAX (4u << 20)

/* Packed events (STREAMS chunks): see refscope_format.h. */
/* Each packed stream holds 4 x buf_size bytes (at most this): with the
 * default 64 KiB buffer, a chunk holds up to ~256 Ki malloc/free events, and
 * big chunks are what makes them compress well. Pages are touched as used. */
#define RS_PACK_STREAM_CAP (1u << 20)
#define RS_PACK_TABLE (1u << 13)	/* recent blocks, direct-mapped by address */
#define RS_PACK_TIME_SHIFT 14		/* packed times in units of 16.384 us */

struct rs_stack_node;

/* A block this chunk saw allocated (freed == 0) or freed into a class history. */
struct rs_pack_slot {
	uint64_t addr;
	uint32_t ord;		/* packed ALLOC number, or number in its class history */
	uint32_t gen;		/* the chunk it belongs to (tb->gen) */
	uint16_t cls;		/* rs_pack_class of its size */
	uint16_t freed;
};

/* The buffer state a signal flush may write: complete records and events only. */
struct rs_tbuf_commit {
	uint32_t len, nevents, npending, markers;
	uint64_t xsize;
	uint32_t slen[RS_PS_COUNT];
};

struct rs_stack_cache_entry {
	uint64_t hash;
	const struct rs_stack_node *node;
};

struct rs_tbuf {
	struct rs_tbuf *next_all;	/* every buffer ever mapped, append-only */
	struct rs_tbuf *next_free;
	atomic_int lock;		/* owner while appending, flushers while flushing */
	int in_use;
	int retired;			/* owner thread exited; reaped once it is gone */
	/* 1 while compressing, 2 while its write(2) is in flight: tells a
	 * signal flush on the same thread whether the records are out already */
	volatile sig_atomic_t flushing;
	struct rs_tbuf *next_retired;
	uint32_t tid;
	int have_first;
	uint64_t first_seq, first_time;
	/* an event this late flushes the buffer first: first_time plus the age
	 * bound (UINT64_MAX while empty, or with no bound) */
	uint64_t flush_at;
	uint64_t prev_seq, prev_time, prev_addr;
	uint64_t next_min;		/* the least seq a reader gives the next event */
	_Atomic uint64_t clock;		/* the thread's last stamp, kept across chunks */
	uint64_t tsc_last, ns_last;	/* rs_writer_time's last clock reading (0: none) */
	uint32_t nevents;
	size_t len, cap;
	uint8_t *data;			/* cap bytes, RS_CHUNK_HEADROOM before it */
	size_t map_size;
	/* packed events: streams 1.. of the chunk (stream 0 is data) */
	uint8_t *ps[RS_PS_COUNT];
	uint32_t slen[RS_PS_COUNT];
	uint32_t sraw;			/* sum of slen */
	uint32_t scap;			/* bytes each packed stream holds */
	uint32_t budget;		/* packed events that surely fit before checking again */
	uint32_t npending;		/* packed events not yet behind a PACKED record */
	uint32_t markers;		/* bytes of PACKED records in data */
	uint32_t nalloc;		/* packed ALLOCs in this chunk */
	uint32_t gen;
	uint64_t xsize;			/* expanded bytes of the packed events */
	uint64_t prev_stack;
	uint32_t *class_count;		/* RS_PACK_NCLASSES history lengths */
	struct rs_pack_succ *succ;	/* RS_PACK_NSUCC stack successors */
	struct rs_pack_slot *table;	/* RS_PACK_TABLE */
	struct rs_pack_live live;	/* this chunk's packed ALLOCs not yet freed */
	/* double-buffered commit: snap[snap_cur] is what a signal may write */
	struct rs_tbuf_commit snap[2];
	atomic_uint snap_cur;
	struct rs_stack_cache_entry cache[RS_STACK_CACHE];
};

struct rs_writer_config {
	int fd;			/* O_APPEND descriptor, owned by the writer from now */
	const char *path;	/* for reopening a lost descriptor; may be NULL */
	int compress;		/* zstd level 1 chunks, else raw */
	size_t buf_size;	/* bytes of records per buffer, clamped to limits */
	int quiet;		/* never write to stderr */
	uint64_t start_mono;	/* CLOCK_MONOTONIC ns of the file header */
	unsigned time_shift;	/* malloc/free times rounded down to 2^time_shift ns */
	uint64_t max_age_ns;	/* a buffer whose first event is older is written
				 * at its thread's next event; 0: only when full */
	int exact_order;	/* stamps at the exact time, every event reads the
				 * clock; else RS_ORDER_NS apart (see writer.c) */
};

/* Non-zero while events are recorded. Read on every hook call. */
extern atomic_int rs_tracing;

int rs_writer_open(const struct rs_writer_config *cfg);
/* Forget the descriptor and all buffers' contents without writing (fork child). */
void rs_writer_reset_after_fork(struct rs_tbuf *self, uint32_t tid);
/* Closes the descriptor (fork child: it is the parent's file). */
void rs_writer_drop_fd(void);
int rs_writer_fd(void);
/* Is fd the trace descriptor of the calling process, still holding the
 * trace file (not something the program put on its number)? */
int rs_writer_owns_fd(int fd);
/* The process the trace descriptor belongs to. */
pid_t rs_writer_pid(void);
/* Moves the trace descriptor to another number (the program is about to
 * dup2 onto this one); 0, or negative errno after stopping tracing. */
int rs_writer_move_fd(void);
/* The lowest number the shim's own long-lived descriptors may take: 100, or
 * half of RLIMIT_NOFILE when that is lower. */
int rs_writer_fd_floor(void);

/* One write(2) of a complete top-level record; 0 or negative errno. */
int rs_writer_out(const void *buf, size_t len);
/* Stop tracing for good (reason RS_STOP_*); idempotent. */
void rs_writer_stop(unsigned reason, int err);
/* Stop tracing without a STOPPED record (after END). */
void rs_writer_finish(void);
/* Write END; tracing stays as it is (exec may fail and come back). */
int rs_writer_end(unsigned how, int64_t status);

uint64_t rs_writer_now(void);		/* ns since start_mono */
/*
 * The time of an event of tb's thread, ns since start_mono: the clock read
 * at most RS_TIME_REUSE_NS before (see writer.c), never later than it, and
 * never before the thread's previous event time.
 */
uint64_t rs_writer_time(struct rs_tbuf *tb);
#define RS_TIME_REUSE_NS 2000
#define RS_ORDER_SHIFT 12	/* packed events are stamped at times rounded to 2^12 ns */
/* Does rs_writer_time reuse readings (the TSC is usable)? For tests. */
int rs_writer_time_reuses(void);
/* Never read the TSC again, nor the vDSO's clock, which reads it: the
 * program is about to forbid it (prctl PR_SET_TSC). */
void rs_writer_tsc_off(void);
/* clock_gettime(c) in ns; by the system call after rs_writer_tsc_off. */
uint64_t rs_clock_ns(clockid_t c);
/* A stamp for a global record (MODULE, snapshots, END, STOPPED): above
 * every event before it (up to clock skew, see snapshot.h), and every event
 * after it is numbered at least this (the floor is raised to it). */
uint64_t rs_seq_global(void);
/* The same without raising the floor: a lower bound for what comes next. */
uint64_t rs_seq_peek(void);

/* Buffers. acquire returns NULL when no memory could be mapped. */
struct rs_tbuf *rs_tbuf_acquire(uint32_t tid);
void rs_tbuf_release(struct rs_tbuf *tb);	/* flush, then recycle */
/*
 * The owner thread is exiting but may still free memory in later
 * destructors: flush now, keep the buffer usable by its owner, and recycle it
 * once the thread no longer exists (checked by a later acquire).
 */
void rs_tbuf_retire(struct rs_tbuf *tb);
int rs_tbuf_flush(struct rs_tbuf *tb);
/* self: the calling thread's buffer (or NULL); it may be flushed from a
 * signal handler that interrupted an append (exit or exec in a handler). */
void rs_writer_flush_all(struct rs_tbuf *self);
/* Async-signal-safe: raw chunks, no waiting on locks an interrupted thread holds. */
void rs_writer_flush_all_signal(struct rs_tbuf *self);
/* Skips a buffer whose owner is busy appending (a snapshot of a running
 * program: its events follow, readers merge by seq). */
void rs_writer_flush_all_quick(struct rs_tbuf *self);

/*
 * Record appenders; each frames one record in tb. lo: the least stamp the
 * event may take (0: no bound; the shim passes 0, tests pass bounds). An
 * event that hands an address back (free, release) is appended before the
 * real call, one that receives an address after it: the stamp published
 * for the address is what orders the next owner's events after this one.
 */
void rs_ev_alloc(struct rs_tbuf *tb, uint64_t lo, uint64_t time, uint64_t addr,
		 uint64_t size, uint32_t stack, unsigned kind, uint64_t align);
void rs_ev_free(struct rs_tbuf *tb, uint64_t lo, uint64_t time, uint64_t addr,
		uint32_t stack, unsigned kind);
void rs_ev_alloc_failed(struct rs_tbuf *tb, uint64_t lo, uint64_t time, uint64_t size,
			uint32_t stack, unsigned kind, uint64_t old);
void rs_ev_thread_start(struct rs_tbuf *tb, uint64_t lo, uint64_t time, uint32_t creator);
void rs_ev_thread_exit(struct rs_tbuf *tb, uint64_t lo, uint64_t time);
/* RETAIN (release == 0) or RELEASE of the object at addr through function
 * fn of REFAPI api; appended before the real call. */
void rs_ev_ref(struct rs_tbuf *tb, int release, uint64_t lo, uint64_t time, uint64_t addr,
	       uint32_t stack, unsigned api, unsigned fn);
void rs_tbuf_stack(struct rs_tbuf *tb, uint32_t id, const uintptr_t *ips, unsigned n);

#endif /* REFSCOPE_WRITER_H */
