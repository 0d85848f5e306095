/*
 * refscope_format.h - the on-disk trace format, and the only definition of it.
 *
 * The shim writes it and the analyzer reads it; both include this file.
 * docs/FORMAT.md is the specification in prose; this header carries the
 * numbers and the byte-level helpers. Record types are numbered explicitly and
 * never renumbered; a change a reader must know about bumps RS_FORMAT_VERSION.
 *
 * Layout of a trace file:
 *
 *   file header (RS_FILE_HEADER_SIZE bytes, fixed-width little-endian)
 *   record*
 *
 * Every record, at top level and inside a chunk, is framed the same way:
 *
 *   u8 type | uvarint size | size bytes of payload
 *
 * so a reader skips a type it does not know. Type 0 is never valid (it is what
 * a zero-filled hole or an unwritten tail looks like). Payload fields are
 * variable-length integers:
 *   uvarint  LEB128, 7 bits a byte, least significant group first, at most
 *            10 bytes for 64 bits;
 *   svarint  zigzag ((v << 1) ^ (v >> 63)) then uvarint;
 *   string   uvarint length, then that many bytes, no terminator;
 *   u8       one byte.
 * A record whose payload is longer than the fields a reader knows is valid:
 * the reader ignores the rest (fields are only ever appended).
 *
 * Events (allocations, frees, ...) appear only inside CHUNK records. A chunk
 * holds the events of one thread, in that thread's order; its body is a
 * sequence of records, raw or compressed as one zstd frame. Each event carries
 * a sequence number (seq); merging all chunks by seq, equal seqs in any
 * order, gives an order consistent with how the events happened: each
 * thread's events in its order, and the events of any one address in the
 * order they happened, across threads too (see RS_EV_* below). Versions 1
 * and 2 take seqs from one process-wide counter. From version 3 a seq is a
 * stamp of a clock (a Lamport clock kept near the time): per thread strictly
 * increasing, at least the event's time in ns, above the seq of the last
 * event on the same address in any thread, and at least the seq of any
 * MODULE, snapshot or other global record written before it (which is above
 * every event's before it: "below seq" means before); events of different
 * threads may share one. The shim's stamps also lie between the time it
 * read for the event (exact, not the rounded packed time) and the moment it
 * took the stamp, so an event another thread caused through the program's
 * own synchronization, on any address, is numbered after its cause.
 * Inside a chunk, numbers are deltas against per-chunk state that starts as
 *   prev_seq = chunk.first_seq, prev_time = chunk.first_time, prev_addr = 0
 * and is updated by every event that carries the field. The seq field:
 *   version <= 2  seq_delta:  seq = prev_seq + seq_delta
 *   version >= 3  seq_excess: seq = max(next_min, time) + seq_excess, time
 *                 the event's time (after its time_delta), next_min =
 *                 chunk.first_seq for the chunk's first event, else
 *                 prev_seq + 1 (rs_seq_v3).
 * The field keeps its place and name seq_delta below in both versions.
 *
 * Event types and the common head. Inside a chunk, every record whose type
 * is in 16..63 is an event (rs_is_event_type), except the top-level types
 * numbered in that range: REFAPI (34) and the snapshot range 40..47. Every
 * event record, of every type present and future, starts with
 *   uvarint seq_delta, uvarint time_delta
 * and counts in the chunk's nevents. A reader that meets an event type it
 * does not know applies those two deltas (so the seq and time of the events
 * after it stay exact), counts it, and skips the rest of it by its size; it
 * does not reject it. prev_addr is left as it was: an event type that carries
 * an address delta must be known to be decoded. So new event types take
 * free numbers in 16..63 and new top-level record types take 8..15 or 64 and
 * above, never a number in the event range.
 */
#ifndef REFSCOPE_FORMAT_H
#define REFSCOPE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RS_MAGIC "RFSCOPE\0"    /* 8 bytes, the NUL included */
#define RS_MAGIC_LEN 8
#define RS_FORMAT_VERSION 3
#define RS_FORMAT_VERSION_MIN 1	/* version 1 has no STREAMS chunks, else the same */
#define RS_FORMAT_STAMPS 3	/* the first version whose seqs are stamps (above) */
#define RS_FILE_HEADER_SIZE 64

/* Header flags. */
#define RS_HDR_LITTLE_ENDIAN 0x1u /* always set: all fixed-width fields are LE */

/*
 * File header, as bytes (offsets in bytes, all little-endian):
 *   0  magic[8]             RS_MAGIC
 *   8  u16 version          RS_FORMAT_VERSION
 *  10  u16 header_size      RS_FILE_HEADER_SIZE; a reader skips to this offset
 *  12  u32 flags            RS_HDR_*
 *  16  u32 pid
 *  20  u32 ppid
 *  24  u64 start_realtime   CLOCK_REALTIME at trace start, ns since the epoch
 *  32  u64 start_monotonic  CLOCK_MONOTONIC at trace start, ns; event times
 *                           are ns since this instant
 *  40  u8  pointer_size     8 on LP64
 *  41  ..63 reserved, zero
 */
struct rs_file_header {
	uint16_t version;
	uint16_t header_size;
	uint32_t flags;
	uint32_t pid;
	uint32_t ppid;
	uint64_t start_realtime;
	uint64_t start_monotonic;
	uint8_t pointer_size;
};

/*
 * Top-level record types (may also appear inside a chunk, except CHUNK).
 *
 * PROCESS  once, first record after the header.
 *   uvarint pid, uvarint ppid, string exe (readlink of /proc/self/exe),
 *   uvarint argc, argc x string argv, uvarint depth_limit (max frames a stack
 *   holds), uvarint page_size, uvarint origin (RS_ORIGIN_*).
 *
 * MODULE   a loaded object (executable, shared library, vdso), written at
 *          start for every object loaded then, and whenever new ones appear.
 *   uvarint seq (sequence number current when it was seen), uvarint base
 *   (load bias: runtime address = base + ELF vaddr), string path (as the
 *   loader knows it; empty for the main program: use PROCESS.exe), string
 *   build_id (raw bytes of NT_GNU_BUILD_ID, may be empty), uvarint nseg, nseg x
 *   { uvarint vaddr, uvarint memsz, uvarint flags (ELF PF_* bits) } for each
 *   PT_LOAD segment.
 *
 * MODULE_UNLOAD
 *   uvarint seq, uvarint base.
 *
 * CHUNK    a thread's events.
 *   u8 encoding (RS_CHUNK_RAW, RS_CHUNK_ZSTD or RS_CHUNK_STREAMS (see the
 *   end of this file)), uvarint tid, uvarint
 *   first_seq, uvarint first_time (ns since start_monotonic), uvarint
 *   raw_size (bytes of the body once decoded, at most RS_CHUNK_MAX_RAW),
 *   uvarint nevents (event records in the body), then the body: raw_size
 *   bytes, or one zstd frame that decodes to them, running to the end of the
 *   payload.
 *
 * STACK    an interned call stack; events name it by id.
 *   uvarint id (>= 1; 0 means "no stack"), uvarint nframes, nframes x svarint
 *   (ip - previous ip, previous starting at 0). Innermost frame first. The
 *   innermost frame is an exact address; the others are return addresses (a
 *   symbolizer subtracts 1 to land inside the call). Defined once per trace,
 *   possibly after an event that uses it (in another thread's chunk).
 *
 * END      the shim finished writing; its absence means the trace is
 *          incomplete (killed, or the file system filled).
 *   uvarint last_seq + 1, uvarint how (RS_END_*), svarint status (exit status
 *   or signal number, -1 when unknown), uvarint end_time, uvarint
 *   events_lost (not written because tracing stopped).
 *
 * STOPPED  tracing stopped before the end.
 *   uvarint seq, uvarint reason (RS_STOP_*), uvarint errno value.
 */
enum rs_record_type {
	RS_REC_PROCESS = 1,
	RS_REC_MODULE = 2,
	RS_REC_MODULE_UNLOAD = 3,
	RS_REC_CHUNK = 4,
	RS_REC_STACK = 5,
	RS_REC_END = 6,
	RS_REC_STOPPED = 7,
	/*
	 * PACKED   only in stream 0 of a STREAMS chunk (see the end of this
	 *          file), never in a chunk body as read: stands for the next
	 *          packed events. uvarint count. Not an event itself.
	 */
	RS_REC_PACKED = 8,

	/*
	 * Event records, inside chunks only. seq_delta and time_delta are
	 * against the chunk state; addr fields are svarint deltas against
	 * prev_addr, which becomes the decoded address.
	 *
	 * Sequence numbers: an event that hands a block back to the allocator
	 * takes its number before the real call, and one that receives a block
	 * takes its number after the real call returns. So for any one address
	 * the numbers order its owners correctly even across threads: from one
	 * counter (versions 1, 2), or (version 3) because each event's stamp is
	 * above the stamp the last event on its address published, read after
	 * the real call that handed the address over.
	 *
	 * ALLOC  uvarint seq_delta, uvarint time_delta, svarint addr_delta,
	 *        uvarint size (bytes asked for; 0 is a real, distinct block),
	 *        uvarint stack, uvarint kind (RS_KIND_*), uvarint alignment
	 *        (0 unless the call takes one).
	 * FREE   uvarint seq_delta, uvarint time_delta, svarint addr_delta,
	 *        uvarint stack, uvarint kind. Address 0 is free(NULL): recorded,
	 *        changes nothing.
	 * ALLOC_FAILED  the call returned NULL (or posix_memalign an error).
	 *        uvarint seq_delta, uvarint time_delta, uvarint size, uvarint
	 *        stack, uvarint kind, uvarint old (for realloc: the block that
	 *        stays live; 0 otherwise).
	 *
	 * realloc(old, n) is written as its meaning:
	 *   old == NULL        ALLOC kind=REALLOC
	 *   n == 0, old != 0   FREE kind=REALLOC (glibc frees and returns NULL)
	 *   success            FREE(old) kind=REALLOC, taken before the call, then
	 *                      ALLOC(new) kind=REALLOC, taken after, same stack
	 *   failure            FREE(old) then ALLOC_FAILED(old=old): the reader
	 *                      restores old as it was.
	 *
	 * THREAD_START  uvarint seq_delta, uvarint time_delta, uvarint
	 *        creator_tid (0 for the main thread).
	 * THREAD_EXIT   uvarint seq_delta, uvarint time_delta.
	 */
	RS_EV_ALLOC = 16,
	RS_EV_FREE = 17,
	RS_EV_ALLOC_FAILED = 18,
	RS_EV_THREAD_START = 19,
	RS_EV_THREAD_EXIT = 20,

	/*
	 * Reference counting (32..39). RETAIN and RELEASE are events, inside
	 * chunks only, like ALLOC; the object is the first argument of the
	 * call, taken before the real call (a release may free the object).
	 *
	 * RETAIN   uvarint seq_delta, uvarint time_delta, svarint addr_delta
	 *          (the object), uvarint stack, uvarint api (REFAPI id),
	 *          uvarint fn (index of the function in the REFAPI record's
	 *          retain list).
	 * RELEASE  the same, fn indexing the release list.
	 * REFAPI   top-level; describes an API before its first event.
	 *          uvarint id, string name ("gobject", "cpython", "annotation",
	 *          or "user" for --refapi pairs), uvarint nretain, nretain x
	 *          string, uvarint nrelease, nrelease x string, uvarint how
	 *          (RS_REFAPI_HOW_* bits: how calls are intercepted).
	 */
	RS_EV_RETAIN = 32,
	RS_EV_RELEASE = 33,
	RS_REC_REFAPI = 34,

	/*
	 * Heap snapshots (40..47), top-level records. A snapshot is the set of
	 * candidate pointers found in memory at one instant: every aligned
	 * pointer-sized word of a scanned region whose value falls inside a
	 * mapping that can hold heap blocks. The shim does not know the
	 * blocks; the analyzer does (replay up to the snapshot's seq), and
	 * keeps a word as an edge only when its value lies inside a live block
	 * (at its start or, marked interior, inside it), and as a block->block
	 * edge when its location lies inside a live block too. The shim's own
	 * memory is never scanned.
	 *
	 * SNAPSHOT      uvarint snapshot id (0, 1, ... in the order taken),
	 *               uvarint seq (the scan sees the heap as it was after
	 *               every event numbered below seq), uvarint time, uvarint
	 *               trigger (RS_SNAP_*), uvarint tid (the thread scanning).
	 * SNAP_REGION   uvarint snapshot id, uvarint region id (unique in the
	 *               snapshot), uvarint start, uvarint end (exclusive),
	 *               uvarint kind (RS_REGION_*), uvarint tid (owner of a
	 *               stack or TLS region; 0 otherwise), string name (module
	 *               path, or the /proc/self/maps name, may be empty).
	 * SNAP_WORDS    uvarint snapshot id, uvarint region id, u8 encoding
	 *               (RS_CHUNK_RAW or RS_CHUNK_ZSTD), uvarint raw_size
	 *               (<= RS_CHUNK_MAX_RAW), uvarint nwords, then the body as
	 *               in CHUNK: nwords x { uvarint loc_delta (bytes from the
	 *               previous location; the first from the region start),
	 *               svarint value_delta (from the previous value; the first
	 *               from 0) }. A region's words may span several records,
	 *               each restarting the deltas; locations increase.
	 * SNAPSHOT_END  uvarint snapshot id, uvarint regions, uvarint words,
	 *               uvarint bytes_scanned, uvarint duration_ns. Without it
	 *               the snapshot is incomplete (the analyzer says so).
	 */
	RS_REC_SNAPSHOT = 40,
	RS_REC_SNAP_REGION = 41,
	RS_REC_SNAP_WORDS = 42,
	RS_REC_SNAPSHOT_END = 43,

	/* 48..63 reserved for language runtimes (CPython object graphs): events
	 * inside chunks, with the common head; their top-level records take
	 * numbers from 64 up. */

	/*
	 * Python-aware snapshots (64..67), top-level records: what CPython's
	 * cycle collector tracks at one instant, gathered inside the
	 * interpreter with its public API (docs/PYTHON.md). A reader that does
	 * not know them skips them by their size. Objects are named by address
	 * (id()); the heap block holding an object is the live block (heap
	 * replayed up to the snapshot's seq) containing the address, which is
	 * usually not its start (the collector's header comes before it).
	 *
	 * PY_SNAPSHOT   uvarint py snapshot id (0, 1, ... in the order taken,
	 *               numbered apart from heap snapshots), uvarint seq (the
	 *               objects were gathered after every event numbered below
	 *               it), uvarint time, uvarint trigger (RS_SNAP_*, EXIT
	 *               meaning "before the interpreter finalizes"), uvarint tid,
	 *               string runtime (e.g. "CPython 3.11.2").
	 * PY_STRINGS    uvarint id, uvarint first (index of the first string;
	 *               index 0 is the empty string, never sent), uvarint count,
	 *               count x string. Type names, edge names and source
	 *               locations are indexes into this table, which may grow
	 *               between PY_OBJECTS records but always before its indexes
	 *               are used.
	 * PY_OBJECTS    uvarint id, uvarint count, count x { svarint addr_delta
	 *               (from the previous object's address, the first from 0),
	 *               uvarint type (string: "module.qualname", the module
	 *               left out for builtins), uvarint refcount (the object's
	 *               reference count less the references the snapshot itself
	 *               held), uvarint generation (0..), uvarint site (string
	 *               "file:line" where the object was created, 0: unknown),
	 *               uvarint nref, nref x { svarint ref_delta (referent's
	 *               address minus this object's), uvarint name (string: the
	 *               attribute, slot or key name of the edge, 0: none) } }.
	 *               The references are those the object's type traversal
	 *               reports (what the collector itself follows), in its
	 *               order, duplicates kept, limited to objects the collector
	 *               tracks.
	 * PY_SNAPSHOT_END  uvarint id, uvarint objects, uvarint ngen, ngen x
	 *               uvarint objects in generation i. Without it the
	 *               snapshot is incomplete.
	 */
	RS_REC_PY_SNAPSHOT = 64,
	RS_REC_PY_STRINGS = 65,
	RS_REC_PY_OBJECTS = 66,
	RS_REC_PY_SNAPSHOT_END = 67,
};

/* Inside a chunk: does a record of this type begin with the common event
 * head (seq_delta, time_delta) and count in nevents? See the file comment. */
static inline int rs_is_event_type(unsigned type)
{
	return type >= RS_EV_ALLOC && type <= 63 && type != RS_REC_REFAPI &&
	       !(type >= RS_REC_SNAPSHOT && type <= 47);
}

enum rs_refapi_how {
	RS_REFAPI_HOW_EXPORT = 0x1,	/* the shim exports the function names */
	RS_REFAPI_HOW_GOT = 0x2,	/* callers' GOT/PLT slots are redirected */
	RS_REFAPI_HOW_ANNOTATION = 0x4, /* refscope_retain/refscope_release */
};

enum rs_snapshot_trigger {
	RS_SNAP_EXIT = 1,	/* at exit, before END */
	RS_SNAP_SIGNAL = 2,	/* the user's snapshot signal */
	RS_SNAP_REQUEST = 3,	/* refscope_snapshot() called by the program */
	RS_SNAP_PERIODIC = 4,	/* every REFSCOPE_SNAPSHOT_INTERVAL seconds */
};

/*
 * What a region is. Roots are DATA, STACK and TLS regions, and ANON regions
 * that hold no live block (memory the program mapped itself); words in ANON
 * regions outside live blocks are free allocator memory and are ignored.
 */
enum rs_region_kind {
	RS_REGION_DATA = 1,  /* a writable PT_LOAD segment of a module, .bss included */
	RS_REGION_STACK = 2, /* a thread's stack, from its stack pointer (registers
			      * of the scanning thread spilled onto it) to its top */
	RS_REGION_TLS = 3,   /* a thread's static TLS block */
	RS_REGION_ANON = 4,  /* any other private writable mapping ([heap], arenas, mmaps) */
};

enum rs_alloc_kind {
	RS_KIND_MALLOC = 0,
	RS_KIND_CALLOC = 1,
	RS_KIND_REALLOC = 2,
	RS_KIND_REALLOCARRAY = 3,
	RS_KIND_POSIX_MEMALIGN = 4,
	RS_KIND_ALIGNED_ALLOC = 5,
	RS_KIND_MEMALIGN = 6,
	RS_KIND_VALLOC = 7,
	RS_KIND_PVALLOC = 8,
	RS_KIND_FREE = 9,
	RS_KIND_NEW = 10,	/* operator new, when intercepted */
	RS_KIND_NEW_ARRAY = 11,
	RS_KIND_DELETE = 12,
	RS_KIND_DELETE_ARRAY = 13,
	RS_KIND_COUNT_ = 14
};

enum rs_chunk_encoding {
	RS_CHUNK_RAW = 0,
	RS_CHUNK_ZSTD = 1,
	RS_CHUNK_STREAMS = 2,	/* format version 2 */
};

#define RS_CHUNK_MAX_RAW (4u << 20) /* a reader rejects a larger raw_size */

enum rs_origin {
	RS_ORIGIN_START = 0, /* the process started traced (exec of a traced image) */
	RS_ORIGIN_FORK = 1,  /* child of a traced process: its heap began as a copy */
};

enum rs_end_how {
	RS_END_EXIT = 1,	/* exit() or return from main; status unknown (-1) or known */
	RS_END_EXIT_CALL = 2,	/* _exit/_Exit called directly; status known */
	RS_END_SIGNAL = 3,	/* a fatal signal; status is the signal number */
	RS_END_ABORT = 4,	/* abort(); status is SIGABRT */
	RS_END_EXEC = 5,	/* the image was replaced by execve; status -1 */
};

enum rs_stop_reason {
	RS_STOP_WRITE_ERROR = 1, /* write(2) failed (errno: ENOSPC, EIO, ...) */
	RS_STOP_FD_LOST = 2,	 /* the program closed or replaced the trace fd */
	RS_STOP_NO_MEMORY = 3,	 /* the shim could not map memory for itself */
};

/* ---- byte helpers shared by writer and reader ---------------------------- */

#define RS_UVARINT_MAX 10

static inline size_t rs_put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline uint64_t rs_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t rs_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline size_t rs_put_svarint(uint8_t *p, int64_t v)
{
	return rs_put_uvarint(p, rs_zigzag(v));
}

/*
 * Decodes a uvarint from [p, end). Returns the bytes consumed, or 0 when the
 * input ends inside the number or the number does not fit 64 bits.
 */
static inline size_t rs_get_uvarint(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	size_t n = 0;

	while (p + n < end) {
		uint8_t b = p[n++];

		if (shift == 63 && b > 1)
			return 0;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return n;
		}
		shift += 7;
		if (shift > 63)
			return 0;
	}
	return 0;
}

static inline size_t rs_get_svarint(const uint8_t *p, const uint8_t *end, int64_t *out)
{
	uint64_t u;
	size_t n = rs_get_uvarint(p, end, &u);

	if (n)
		*out = rs_unzigzag(u);
	return n;
}

static inline void rs_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void rs_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void rs_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t rs_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t rs_get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t rs_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void rs_header_encode(uint8_t out[RS_FILE_HEADER_SIZE],
				    const struct rs_file_header *h)
{
	memset(out, 0, RS_FILE_HEADER_SIZE);
	memcpy(out, RS_MAGIC, RS_MAGIC_LEN);
	rs_put_le16(out + 8, h->version);
	rs_put_le16(out + 10, h->header_size);
	rs_put_le32(out + 12, h->flags);
	rs_put_le32(out + 16, h->pid);
	rs_put_le32(out + 20, h->ppid);
	rs_put_le64(out + 24, h->start_realtime);
	rs_put_le64(out + 32, h->start_monotonic);
	out[40] = h->pointer_size;
}

/* Returns 0, or -1 when the bytes are not a refscope header (bad magic). */
static inline int rs_header_decode(const uint8_t in[RS_FILE_HEADER_SIZE],
				   struct rs_file_header *h)
{
	if (memcmp(in, RS_MAGIC, RS_MAGIC_LEN) != 0)
		return -1;
	h->version = rs_get_le16(in + 8);
	h->header_size = rs_get_le16(in + 10);
	h->flags = rs_get_le32(in + 12);
	h->pid = rs_get_le32(in + 16);
	h->ppid = rs_get_le32(in + 20);
	h->start_realtime = rs_get_le64(in + 24);
	h->start_monotonic = rs_get_le64(in + 32);
	h->pointer_size = in[40];
	return 0;
}

/* ---- STREAMS chunks (format version 2) -----------------------------------
 *
 * A CHUNK with encoding RS_CHUNK_STREAMS keeps the fields of its malloc and
 * free events in separate byte streams, which compress far better apart
 * than interleaved (each gets its own entropy tables). Its body is
 *
 *   u8 nstreams (RS_PS_COUNT; a reader refuses another count), u8 time_shift,
 *   nstreams x { u8 encoding (RS_CHUNK_RAW or RS_CHUNK_ZSTD), uvarint
 *                raw_len, uvarint stored_len, stored_len bytes: the raw
 *                bytes, or one zstd frame that decodes to raw_len bytes }
 *
 * and the raw_len sum to at most RS_CHUNK_MAX_RAW. Stream 0 is a record
 * sequence like any chunk body, in which PACKED records stand for events
 * kept in the other streams. Replacing every PACKED record by its events,
 * written as ordinary ALLOC and FREE records (minimal varints, every field
 * present), gives the chunk's expanded body: the CHUNK's raw_size and
 * nevents describe that, and a reader decodes a STREAMS chunk by expanding
 * it (rs_pack_expand) and reading the result as a raw body.
 *
 * A packed event starts with one byte of the HEAD stream:
 *   bit 0     0: ALLOC (kind MALLOC, alignment 0); 1: FREE (kind FREE)
 *   bit 1     1: the seq field is the common one: seq_delta 1 (version 2),
 *             seq_excess 0 (version 3); 0: it is a uvarint from EXTRA
 *   bits 2-3  q = 0..2, or 3: q = 3 + a uvarint from EXTRA; time_delta is
 *             q << time_shift ns (the writer rounds times down)
 *   bits 4-5  stack: 0 prev_stack; 1 next(prev_stack); 2 a uvarint from
 *             STACK; 3 none (0). Except with 3, the successor table
 *             learns that the stack followed prev_stack (when prev_stack
 *             is not 0), then prev_stack (0 at chunk start) becomes it.
 *             next(p) is the stack that followed p the last time p was
 *             prev_stack in this chunk, by a table of RS_PACK_NSUCC
 *             entries indexed by p mod RS_PACK_NSUCC (a later p with the
 *             same index replaces an entry), else p + 1
 *   bits 6-7  where the address comes from, below
 * then, for an ALLOC, its size: a uvarint from SIZE. Addresses:
 *   0  prev_addr + 16 x an svarint from ADDR
 *   1  ALLOC: the latest address in the class history of class(size)
 *      FREE: the address of the latest packed ALLOC of this chunk
 *   2  ALLOC: the address k + 1 before the latest in that class history,
 *      k a uvarint from AAGE
 *      FREE: 0 (free(NULL))
 *   3  prev_addr + an svarint from ADDR
 *   FREE with 1 takes k, a uvarint from FAGE, first: the address is that of
 *   a packed ALLOC of the chunk. Version 3: the one with k live packed
 *   ALLOCs after it (k = 0: the latest live one), where a packed ALLOC is
 *   live until a FREE with 1 names it (struct rs_pack_live): a rank among
 *   the blocks still live, smaller than the age. Version 2: the packed ALLOC
 *   k before the latest one. The FREE then appends the address to the class
 *   history of class(that ALLOC's size), if that has a class. Histories
 *   start empty in every chunk.
 * prev_addr becomes the address, as for any event with an address.
 * class(size) = (size + 23) / 16 for size <= RS_PACK_CLASS_SIZE_MAX, else
 * none: the size classes of common allocators, where a free block of one
 * class is what the next allocation of that class gets back.
 *
 * A varint "from X" is split: its first byte is the next byte of stream X,
 * its further bytes (if any) the next bytes of stream X + 1, which keeps
 * the frequent one-byte values apart from the rest. EXTRA is one stream
 * holding ordinary varints.
 */
enum rs_pack_stream {
	RS_PS_RECORDS = 0,
	RS_PS_HEAD = 1,
	RS_PS_SIZE = 2,		/* and 3 */
	RS_PS_ADDR = 4,		/* and 5 */
	RS_PS_FAGE = 6,		/* and 7 */
	RS_PS_AAGE = 8,		/* and 9 */
	RS_PS_STACK = 10,	/* and 11 */
	RS_PS_EXTRA = 12,
	RS_PS_COUNT = 13
};

#define RS_PH_FREE 0x01u
#define RS_PH_SEQ1 0x02u
#define RS_PH_TIME_SHIFT 2
#define RS_PH_STACK_SHIFT 4
#define RS_PH_ADDR_SHIFT 6
enum { RS_PH_STACK_SAME = 0, RS_PH_STACK_NEXT = 1, RS_PH_STACK_ID = 2, RS_PH_STACK_NONE = 3 };
enum { RS_PH_ADDR_DELTA16 = 0, RS_PH_ADDR_REF = 1, RS_PH_ADDR_AGE = 2, RS_PH_ADDR_DELTA = 3 };
#define RS_PH_ADDR_NULL 2	/* FREE only */

#define RS_PACK_CLASS_SIZE_MAX 65512u
#define RS_PACK_NCLASSES 4096u	/* classes are 1 .. RS_PACK_NCLASSES - 1 */

/* The successor table of stack ids (see above), empty (all 0) at chunk start. */
#define RS_PACK_NSUCC 4096u
struct rs_pack_succ {
	uint64_t key, next;
};

static inline uint64_t rs_pack_next(const struct rs_pack_succ *t, uint64_t p)
{
	const struct rs_pack_succ *e = &t[p & (RS_PACK_NSUCC - 1)];

	return p && e->key == p ? e->next : p + 1;
}

static inline void rs_pack_learn(struct rs_pack_succ *t, uint64_t p, uint64_t stack)
{
	if (p) {
		t[p & (RS_PACK_NSUCC - 1)].key = p;
		t[p & (RS_PACK_NSUCC - 1)].next = stack;
	}
}

/*
 * The live packed ALLOCs of a chunk (version 3, FREE address mode 1): bit i
 * of bits[] is set from packed ALLOC i until a packed FREE in mode 1 names
 * it; fen[1..nwords] is a Fenwick tree of the ALLOCs freed so far per
 * 64-bit word (ALLOCs come in index order, so every word before the last
 * ALLOC's is full and its live count is 64 minus that). So an ALLOC costs a
 * bit, and counting the live ALLOCs after one, finding the k-th latest and a
 * FREE take O(log n). nwords: at least (packed events + 63) / 64; all zero
 * at chunk start.
 */
struct rs_pack_live {
	uint64_t *bits;
	uint32_t *fen;
	uint32_t nwords, total;
};

static inline void rs_live_insert(struct rs_pack_live *l, uint32_t i)
{
	l->bits[i >> 6] |= 1ull << (i & 63);
	l->total++;
}

static inline void rs_live_remove(struct rs_pack_live *l, uint32_t i)
{
	l->bits[i >> 6] &= ~(1ull << (i & 63));
	for (uint32_t j = (i >> 6) + 1; j <= l->nwords; j += j & -j)
		l->fen[j]++;
	l->total--;
}

/* How many live ALLOCs come after ALLOC i (i live): the FAGE value naming it. */
static inline uint32_t rs_live_after(const struct rs_pack_live *l, uint32_t i)
{
	uint32_t w = i >> 6, upto = 64 * w;	/* live at indexes <= i */
	uint64_t m = (i & 63) == 63 ? ~0ull : (2ull << (i & 63)) - 1;

	for (uint32_t j = w; j; j -= j & -j)
		upto -= l->fen[j];
	upto += (uint32_t)__builtin_popcountll(l->bits[w] & m);
	return l->total - upto;
}

/*
 * The ALLOC with k live ALLOCs after it; -1 when there are not k + 1 live.
 * A tree node of words past the last ALLOC counts them as 64 live each: it
 * then holds the target if anything does, which is all the descent asks.
 */
static inline int64_t rs_live_nth_latest(const struct rs_pack_live *l, uint64_t k)
{
	uint32_t pos = 0, rem, step = 1;
	uint64_t b;

	if (k >= l->total)
		return -1;
	rem = l->total - (uint32_t)k;	/* the rem-th live from the start, 1-based */
	while (step <= l->nwords / 2)
		step <<= 1;
	for (; step; step >>= 1)
		if (pos + step <= l->nwords && 64 * step - l->fen[pos + step] < rem) {
			pos += step;
			rem -= 64 * step - l->fen[pos];
		}
	if (pos >= l->nwords)
		return -1;
	b = l->bits[pos];	/* its rem-th set bit */
	while (--rem && b)
		b &= b - 1;
	return b ? (int64_t)pos * 64 + __builtin_ctzll(b) : -1;
}

/* The size class of a packed ALLOC's size; 0 when it has none. */
static inline unsigned rs_pack_class(uint64_t size)
{
	return size <= RS_PACK_CLASS_SIZE_MAX ? (unsigned)((size + 23) >> 4) : 0;
}

static inline size_t rs_uvarint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * The seq of a version 3 event (see the file comment): next_min is the
 * chunk's first_seq for its first event, else the previous event's seq + 1;
 * time the event's time. 0, or -1 when it overflows.
 */
static inline int rs_seq_v3(uint64_t next_min, uint64_t time, uint64_t excess, uint64_t *seq)
{
	uint64_t base = next_min > time ? next_min : time;

	if (base + excess < base)
		return -1;
	*seq = base + excess;
	return 0;
}

/* The decoded streams of one STREAMS chunk. */
struct rs_pack_in {
	const uint8_t *s[RS_PS_COUNT];
	size_t len[RS_PS_COUNT];
	size_t pos[RS_PS_COUNT];
};

/* A split varint from streams first and rest; 0, or -1 when cut or too long. */
static inline int rs_pack_get(struct rs_pack_in *in, unsigned first, unsigned rest, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0, st = first;

	for (;;) {
		uint8_t b;

		if (in->pos[st] >= in->len[st])
			return -1;
		b = in->s[st][in->pos[st]++];
		if (shift == 63 && b > 1)
			return -1;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
		st = rest;
	}
}

/* Bytes of scratch memory rs_pack_expand needs for n packed events. */
static inline size_t rs_pack_scratch_size(size_t n)
{
	return RS_PACK_NSUCC * sizeof(struct rs_pack_succ) +
	       n * (2 * sizeof(uint64_t) + sizeof(uint64_t) + sizeof(uint32_t)) +
	       RS_PACK_NCLASSES * sizeof(uint32_t) +
	       (n / 64 + 1) * sizeof(uint64_t) + (n / 64 + 2) * sizeof(uint32_t) + 16;
}

/*
 * Expands a STREAMS chunk's decoded streams (in->pos all 0) into out, at most
 * cap bytes; version is the trace's (what HEAD bit 1 stands for).
 * scratch: rs_pack_scratch_size(in->len[RS_PS_HEAD]) bytes, 8-aligned. Returns the expanded length, or -1 with *why saying what was
 * wrong and *at the offset in stream 0 of the record being expanded.
 */
static inline long rs_pack_expand(struct rs_pack_in *in, unsigned time_shift, unsigned version,
				  uint8_t *out, size_t cap, void *scratch, const char **why, size_t *at)
{
	size_t n = in->len[RS_PS_HEAD];
	struct rs_pack_succ *succ = scratch;
	uint64_t *a_addr = (uint64_t *)(succ + RS_PACK_NSUCC);	/* packed ALLOCs, in order */
	uint64_t *a_size = a_addr + n;
	uint64_t *h_addr = a_size + n;		/* class history entries */
	uint32_t *h_prev = (uint32_t *)(h_addr + n);	/* previous in class, index + 1 */
	uint32_t *c_last = h_prev + n;		/* latest of each class, index + 1 */
	struct rs_pack_live live = {
		.bits = (uint64_t *)(((uintptr_t)(c_last + RS_PACK_NCLASSES) + 7) & ~(uintptr_t)7),
		.nwords = (uint32_t)(n / 64 + 1),
	};
	size_t nalloc = 0, nhist = 0, o = 0;
	const uint8_t *s0 = in->s[RS_PS_RECORDS];
	size_t p = 0, len0 = in->len[RS_PS_RECORDS];
	uint64_t prev_addr = 0, prev_stack = 0;

	live.fen = (uint32_t *)(live.bits + live.nwords);
	memset(c_last, 0, RS_PACK_NCLASSES * sizeof(*c_last));
	memset(succ, 0, RS_PACK_NSUCC * sizeof(*succ));
	memset(live.bits, 0, live.nwords * sizeof(*live.bits));
	memset(live.fen, 0, (live.nwords + 1) * sizeof(*live.fen));
	*why = NULL;
	*at = 0;
	if (time_shift > 40) {
		*why = "time shift too large";
		return -1;
	}
	while (p < len0) {
		uint8_t type = s0[p];
		uint64_t size, count, v;
		size_t k = rs_get_uvarint(s0 + p + 1, s0 + len0, &size);

		*at = p;
		if (!k || size > len0 - p - 1 - k) {
			*why = "record cut short";
			return -1;
		}
		if (type != RS_REC_PACKED) {
			const uint8_t *q = s0 + p + 1 + k, *qe = q + size;
			int64_t d;

			if (o + 1 + k + size > cap) {
				*why = "expands beyond raw_size";
				return -1;
			}
			memcpy(out + o, s0 + p, 1 + k + size);
			o += 1 + k + size;
			p += 1 + k + size;
			/* events with an address move prev_addr: follow them */
			if (type == RS_EV_ALLOC || type == RS_EV_FREE || type == RS_EV_RETAIN ||
			    type == RS_EV_RELEASE) {
				size_t m1 = rs_get_uvarint(q, qe, &v), m2 = 0, m3 = 0;

				if (m1)
					m2 = rs_get_uvarint(q + m1, qe, &v);
				if (m2)
					m3 = rs_get_svarint(q + m1 + m2, qe, &d);
				if (!m3) {
					*why = "bad event record";
					return -1;
				}
				prev_addr += (uint64_t)d;
			}
			continue;
		}
		k += 1;
		if (!rs_get_uvarint(s0 + p + k, s0 + p + k + size, &count)) {
			*why = "bad packed count";
			return -1;
		}
		p += k + size;
		for (uint64_t e = 0; e < count; e++) {
			uint8_t h, rec[96];
			uint64_t seqd = version >= RS_FORMAT_STAMPS ? 0 : 1, q, stack, addr, asize = 0;
			unsigned mode;
			size_t r = 2;

			if (in->pos[RS_PS_HEAD] >= n) {
				*why = "more packed events than the head stream holds";
				return -1;
			}
			h = in->s[RS_PS_HEAD][in->pos[RS_PS_HEAD]++];
			if (!(h & RS_PH_SEQ1) && rs_pack_get(in, RS_PS_EXTRA, RS_PS_EXTRA, &seqd))
				goto cut;
			q = (h >> RS_PH_TIME_SHIFT) & 3;
			if (q == 3) {
				if (rs_pack_get(in, RS_PS_EXTRA, RS_PS_EXTRA, &v))
					goto cut;
				q = 3 + v;
			}
			if (q > (UINT64_MAX >> time_shift)) {
				*why = "time delta overflows";
				return -1;
			}
			switch ((h >> RS_PH_STACK_SHIFT) & 3) {
			case RS_PH_STACK_SAME:
				stack = prev_stack;
				break;
			case RS_PH_STACK_NEXT:
				stack = rs_pack_next(succ, prev_stack);
				break;
			case RS_PH_STACK_ID:
				if (rs_pack_get(in, RS_PS_STACK, RS_PS_STACK + 1, &v))
					goto cut;
				stack = v;
				break;
			default:
				stack = 0;
				break;
			}
			if (((h >> RS_PH_STACK_SHIFT) & 3) != RS_PH_STACK_NONE) {
				rs_pack_learn(succ, prev_stack, stack);
				prev_stack = stack;
			}
			mode = (h >> RS_PH_ADDR_SHIFT) & 3;
			if (!(h & RS_PH_FREE) && rs_pack_get(in, RS_PS_SIZE, RS_PS_SIZE + 1, &asize))
				goto cut;
			if (mode == RS_PH_ADDR_DELTA16 || mode == RS_PH_ADDR_DELTA) {
				if (rs_pack_get(in, RS_PS_ADDR, RS_PS_ADDR + 1, &v))
					goto cut;
				addr = prev_addr + (uint64_t)rs_unzigzag(v) * (mode == RS_PH_ADDR_DELTA16 ? 16 : 1);
			} else if (h & RS_PH_FREE) {
				unsigned c;

				if (mode == RS_PH_ADDR_NULL) {
					addr = 0;
				} else {
					int64_t i;

					if (rs_pack_get(in, RS_PS_FAGE, RS_PS_FAGE + 1, &v))
						goto cut;
					if (version >= RS_FORMAT_STAMPS)
						i = rs_live_nth_latest(&live, v);
					else
						i = v < nalloc ? (int64_t)(nalloc - 1 - v) : -1;
					if (i < 0) {
						*why = "free refers to an allocation before the chunk";
						return -1;
					}
					if (version >= RS_FORMAT_STAMPS)
						rs_live_remove(&live, (uint32_t)i);
					addr = a_addr[i];
					c = rs_pack_class(a_size[i]);
					if (c) {
						h_addr[nhist] = addr;
						h_prev[nhist] = c_last[c];
						c_last[c] = (uint32_t)++nhist;
					}
				}
			} else {
				unsigned c = rs_pack_class(asize);
				uint32_t i;

				v = 0;
				if (mode == RS_PH_ADDR_AGE) {
					if (rs_pack_get(in, RS_PS_AAGE, RS_PS_AAGE + 1, &v))
						goto cut;
					v++;
				}
				i = c ? c_last[c] : 0;
				for (; i && v; v--)
					i = h_prev[i - 1];
				if (!i) {
					*why = "allocation refers to a class history entry that does not exist";
					return -1;
				}
				addr = h_addr[i - 1];
			}
			if (!(h & RS_PH_FREE)) {
				if (version >= RS_FORMAT_STAMPS)
					rs_live_insert(&live, (uint32_t)nalloc);
				a_addr[nalloc] = addr;
				a_size[nalloc++] = asize;
			}
			rec[0] = (h & RS_PH_FREE) ? RS_EV_FREE : RS_EV_ALLOC;
			r += rs_put_uvarint(rec + r, seqd);
			r += rs_put_uvarint(rec + r, q << time_shift);
			r += rs_put_svarint(rec + r, (int64_t)(addr - prev_addr));
			prev_addr = addr;
			if (!(h & RS_PH_FREE))
				r += rs_put_uvarint(rec + r, asize);
			r += rs_put_uvarint(rec + r, stack);
			if (h & RS_PH_FREE) {
				rec[r++] = RS_KIND_FREE;
			} else {
				rec[r++] = RS_KIND_MALLOC;
				rec[r++] = 0;
			}
			rec[1] = (uint8_t)(r - 2);
			if (o + r > cap) {
				*why = "expands beyond raw_size";
				return -1;
			}
			memcpy(out + o, rec, r);
			o += r;
		}
	}
	for (unsigned st = 1; st < RS_PS_COUNT; st++)
		if (in->pos[st] != in->len[st]) {
			*at = len0;
			*why = "packed streams hold more than the events use";
			return -1;
		}
	return (long)o;
cut:
	*why = "packed streams cut short";
	return -1;
}

#endif /* REFSCOPE_FORMAT_H */
