/*
 * snapshot.h - the heap scan: SNAPSHOT, SNAP_REGION, SNAP_WORDS and
 * SNAPSHOT_END records (include/refscope_format.h, types 40..43).
 *
 * What is scanned, in this order (regions never overlap; a range claimed by
 * an earlier kind is cut out of later ones):
 *   TLS    the scanning thread's static TLS blocks (dl_iterate_phdr's
 *          dlpi_tls_data), except the shim's own;
 *   STACK  the scanning thread's stack, from req->stack_lo (its registers
 *          spilled at or above it by the caller, e.g. with getcontext) to the
 *          end of its mapping; every other thread's stack from its stack
 *          pointer (minus the 128-byte red zone) to the end of its mapping,
 *          the pointer read from /proc/self/task/TID/syscall. That works for
 *          threads blocked in the kernel; their registers are not scanned.
 *          A thread running at that instant has no known stack pointer: its
 *          whole stack mapping is scanned as ANON (the main thread's
 *          [stack] as STACK). Other threads' static TLS lives at the top of
 *          their stack mapping and is scanned with it;
 *   DATA   every writable PT_LOAD segment of every loaded object, .bss
 *          included, except librefscope.so's;
 *   ANON   every other private, readable and writable anonymous mapping in
 *          /proc/self/maps ([heap], malloc arenas, mmap'd blocks, memory the
 *          program mapped), minus the shim's registered memory (ownmem.h).
 * The parts of a stack mapping below the stack pointer are dead frames and
 * are never scanned; nor is the [stack] of a main thread that has called
 * pthread_exit. The stacks glibc keeps cached for reuse after a thread ends
 * are anonymous mappings like any other and are scanned as ANON: stale words
 * there can make garbage look reachable (a leak missed, never a false one).
 *
 * A word is kept when its value lies in a private anonymous writable mapping
 * (the only places heap blocks live), stacks and the shim's memory excluded.
 * Memory is read with process_vm_readv on ourselves, so a page unmapped
 * under our feet is skipped instead of faulting; where that call is refused
 * (seccomp), readable mappings are read directly.
 *
 * Consistency: seq is taken first (rs_seq_global: above every stamp taken
 * so far, and the floor of every later one), then every thread's buffer is
 * flushed, so the records of all events below seq come before SNAPSHOT
 * except an event another thread is stamping at that moment, and the
 * buffer of a thread caught appending (not waited for): those follow in
 * later chunks, and readers merge by seq. Other threads are not
 * stopped: a signal to stop them would cut their sleeps and reads short
 * (EINTR), changing the program. So with threads running, the scan is fuzzy:
 * a block allocated or freed while the scan runs may be seen or not. With
 * one thread (or the others blocked) it is exact.
 *
 * Nothing here calls malloc or stdio: work buffers are mmap'd once and
 * registered as the shim's own. One snapshot at a time (a process-wide
 * lock); not async-signal-safe.
 */
#ifndef REFSCOPE_SNAPSHOT_H
#define REFSCOPE_SNAPSHOT_H

#include <stdint.h>

struct rs_tbuf;

struct rs_snapshot_req {
	unsigned trigger;	/* RS_SNAP_* */
	uint32_t tid;		/* the scanning thread */
	struct rs_tbuf *self;	/* its event buffer (flushed with the others), or NULL */
	uintptr_t stack_lo;	/* its stack is scanned from here up; 0: not at all
				 * (the shim's own thread) */
	int compress;		/* zstd SNAP_WORDS bodies */
	uint64_t wait_ns;	/* how long to wait for a snapshot in progress */
	int last;		/* the trace ends after it: no snapshot may follow */
};

struct rs_snapshot_stats {
	uint64_t id, regions, words, bytes, duration_ns;
};

/* Takes one snapshot. 0, -EBUSY (another one still running after wait_ns),
 * -EPIPE (not tracing), -ENOMEM, or the write error. stats may be NULL. */
int rs_snapshot_take(const struct rs_snapshot_req *req, struct rs_snapshot_stats *stats);

/* No snapshot may start from now on (END follows); waits up to wait_ns for
 * one in progress. Idempotent. */
void rs_snapshot_close(uint64_t wait_ns);

/* Frames payload [start, end) as one top-level record of the given type and
 * writes it with one write(2); start must have 16 writable bytes before it.
 * 0 or a negative errno. */
int rs_snapshot_emit(uint8_t type, uint8_t *start, uint8_t *end);

/* Fork child: ids restart at 0 (a new trace); the lock is released. */
void rs_snapshot_reset_after_fork(void);

#endif /* REFSCOPE_SNAPSHOT_H */
