/*
 * reader.h - validating, streaming decoder of a refscope trace.
 *
 * Pass 1 (reader_scan) walks the top-level records once: it parses the
 * metadata (PROCESS, MODULE, MODULE_UNLOAD, STACK, END, STOPPED) and indexes
 * every CHUNK by file offset with its header, without touching the bodies.
 * Pass 2 (reader_next) merges the chunks by sequence number: each chunk is a
 * sorted stream, a min-heap holds one cursor per active chunk, and a chunk is
 * read and decoded only when its first_seq is due, so memory is bounded by the
 * chunks that overlap in time (about one per live thread), not by the events.
 *
 * On any damage (truncation, framing, impossible length, zstd, bad varint,
 * magic, version) the reader yields everything before the failure and keeps
 * one error: a lowercase message naming what failed and where, and the byte
 * offset. Lengths read from the file are bounded before anything is
 * allocated from them.
 *
 * Reference counting and heap snapshots: RETAIN and RELEASE are events like
 * ALLOC (merged by seq, object in addr, api and fn set). REFAPI records are
 * kept by id. The scan indexes every snapshot with its regions and the file
 * offsets of its SNAP_WORDS records, checking their headers (a region or
 * words record naming an unknown snapshot or region is damage); the words
 * themselves are decoded on demand by reader_snapshot_words, which checks
 * that locations increase inside their region.
 *
 * Calling order: reader_open, reader_scan, then reader_next until it returns
 * 0, then reader_error to learn whether the trace was read to its end, then
 * reader_close. The accessors are valid after reader_scan. reader_chunk_walk
 * (used by `refscope dump`) may be called on any indexed chunk after or during
 * reader_scan.
 */
#ifndef REFSCOPE_READER_H
#define REFSCOPE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "refscope_format.h"

struct reader;

struct reader_error {
	char message[256];
	uint64_t offset; /* byte offset in the file where the failure lies */
	/*
	 * 1 when the damage is only this: the file's last record is cut short
	 * by the end of the file (its size is within the limits a writer can
	 * produce), and no END came before it (END(exec) excepted, exec may
	 * fail). That is what a kill -9 or a full disk leaves when it interrupts
	 * the shim's write(2): everything before the cut is sound, the trace is
	 * incomplete rather than corrupt. Any other damage found earlier in the
	 * file replaces the error and clears this.
	 */
	int cut;
};

struct reader_process {
	uint64_t pid, ppid;
	char *exe;
	uint64_t argc;
	char **argv;
	uint64_t depth_limit, page_size, origin;
};

struct reader_segment {
	uint64_t vaddr, memsz, flags;
};

struct reader_module {
	uint64_t offset; /* of the record */
	uint64_t seq, base;
	char *path;
	uint8_t *build_id;
	size_t build_id_len;
	size_t nseg;
	struct reader_segment *segs;
	int unloaded; /* a MODULE_UNLOAD named this base after it was loaded */
	uint64_t unload_seq;
};

struct reader_end {
	uint64_t next_seq; /* last seq + 1 */
	uint64_t how;	   /* RS_END_* */
	int64_t status;
	uint64_t end_time;
	uint64_t events_lost;
};

struct reader_stopped {
	uint64_t seq, reason, err;
};

struct reader_chunk {
	uint64_t offset;      /* file offset of the record (its type byte) */
	uint64_t size;	      /* payload bytes */
	uint64_t body_offset; /* file offset of the body */
	uint64_t body_size;   /* bytes of the body as stored */
	uint8_t encoding;     /* RS_CHUNK_* */
	uint64_t tid, first_seq, first_time, raw_size, nevents;
};

/* A REFAPI record: the names of one refcount API's functions. */
struct reader_refapi {
	uint64_t offset; /* of the record */
	uint64_t id;
	char *name;
	size_t nretain, nrelease;
	char **retain, **release;
	uint64_t how; /* RS_REFAPI_HOW_* */
};

struct reader_region {
	uint64_t offset; /* of the SNAP_REGION record */
	uint64_t snapshot, id, start, end, kind, tid;
	char *name;
};

/* A SNAP_WORDS record, indexed; its body is decoded on demand. */
struct reader_words {
	uint64_t offset;      /* of the record */
	uint64_t body_offset; /* file offset of the body */
	uint64_t body_size;
	uint64_t snapshot, region;
	size_t region_index; /* into the snapshot's regions */
	uint8_t encoding;    /* RS_CHUNK_* */
	uint64_t raw_size, nwords;
};

struct reader_snapshot {
	uint64_t offset; /* of the SNAPSHOT record */
	uint64_t id, seq, time, trigger, tid;
	int complete; /* a SNAPSHOT_END was read */
	uint64_t end_regions, end_words, bytes_scanned, duration_ns; /* from SNAPSHOT_END */
	struct reader_region *regions;
	size_t nregions, cap_regions;
	struct reader_words *words;
	size_t nwords_recs, cap_words;
	uint64_t nwords; /* sum over the words records */
};

/* One scanned word: at loc (inside region regions[region]) the value. */
struct reader_word {
	uint64_t loc, value;
	size_t region;
};

/* An event with absolute values, as reader_next hands it out. Fields an
 * event type does not carry are 0. */
struct reader_event {
	uint8_t type; /* RS_EV_* */
	uint64_t seq, time, tid;
	uint64_t addr;	/* ALLOC, FREE; the object of RETAIN, RELEASE */
	uint64_t size;	/* ALLOC, ALLOC_FAILED */
	uint64_t stack; /* ALLOC, FREE, ALLOC_FAILED, RETAIN, RELEASE */
	uint64_t api;	/* RETAIN, RELEASE: REFAPI id */
	uint64_t fn;	/* RETAIN, RELEASE: index in the API's retain/release list */
	uint64_t kind;	/* RS_KIND_* */
	uint64_t alignment;
	uint64_t old;	      /* ALLOC_FAILED */
	uint64_t creator_tid; /* THREAD_START */
};

/* One record as the scan or a chunk walk meets it (for `refscope dump`).
 * Pointers stay valid until the callback returns. */
struct reader_record {
	uint64_t offset; /* file offset, or offset inside the decoded chunk body */
	uint8_t type;
	uint64_t size; /* payload bytes */
	const struct reader_process *process;
	const struct reader_module *module;
	uint64_t unload_seq, unload_base;
	const struct reader_chunk *chunk;
	uint64_t stack_id;
	size_t nframes;
	const uint64_t *ips;
	const struct reader_end *end;
	const struct reader_stopped *stopped;
	const struct reader_event *event;
	const struct reader_refapi *refapi;
	const struct reader_snapshot *snapshot; /* SNAPSHOT, SNAPSHOT_END */
	const struct reader_region *region;
	const struct reader_words *words;
};

typedef void (*reader_record_fn)(void *ctx, const struct reader_record *rec);

/* Opens path and reads its header. Returns 0 (a bad header becomes the
 * reader's error, and the scan yields nothing), or a negative errno when the
 * file cannot be opened or read (-EINVAL: not a regular file). */
int reader_open(const char *path, struct reader **out);

/* Pass 1. fn (may be NULL) sees every top-level record in file order.
 * Returns 0, or -EINVAL when the walk stopped at damage (see reader_error),
 * or -ENOMEM / -EIO. */
int reader_scan(struct reader *r, reader_record_fn fn, void *ctx);

/* Pass 2: the next event in global sequence order. Returns 1 with *ev
 * filled, 0 when there are no more (check reader_error), or a negative errno
 * for the reader's own failures (-ENOMEM, -EIO). */
int reader_next(struct reader *r, struct reader_event *ev);

/* Decodes chunk i (index order = file order) and hands every record of its
 * body to fn in file order, events with absolute values. Returns 0 or
 * -EINVAL with the chunk's damage in *err (the reader's error is untouched). */
int reader_chunk_walk(struct reader *r, size_t i, reader_record_fn fn, void *ctx,
		      struct reader_error *err);

/* NULL when everything read so far was sound. */
const struct reader_error *reader_error(const struct reader *r);

const struct rs_file_header *reader_header(const struct reader *r);
const struct reader_process *reader_process(const struct reader *r); /* NULL if none */
const struct reader_module *reader_modules(const struct reader *r, size_t *n);
const struct reader_end *reader_end(const struct reader *r);	     /* the last one, or NULL */
const struct reader_stopped *reader_stopped(const struct reader *r); /* NULL if none */
size_t reader_nchunks(const struct reader *r);
const struct reader_chunk *reader_chunk(const struct reader *r, size_t i);
/* The frames of a stack, innermost first; NULL when id is unknown. */
const uint64_t *reader_stack(const struct reader *r, uint64_t id, size_t *nframes);
size_t reader_nstacks(const struct reader *r);
uint64_t reader_file_size(const struct reader *r);
/* Bytes of the file consumed so far by the merge (for a progress display). */
uint64_t reader_progress(const struct reader *r);
/* The most chunks the merge held decoded at once (memory bound check). */
size_t reader_peak_active(const struct reader *r);

/*
 * The decoded chunk bodies the merge may hold at once. A sound trace has
 * about one chunk per live thread overlapping in sequence numbers (64 KiB
 * each by default); a hostile one can have thousands of chunks with the same
 * first_seq whose few hundred bytes of zstd each decode to the 4 MiB limit.
 * Past the bound the merge stops with an error at the chunk that would
 * exceed it. reader_set_held_limit (before the first reader_next) changes
 * it; the tests use a small one.
 */
#define READER_HELD_MAX (512ull << 20)
void reader_set_held_limit(struct reader *r, uint64_t bytes);

/* REFAPI records by id; NULL when unknown. */
const struct reader_refapi *reader_refapi(const struct reader *r, uint64_t id);
const struct reader_refapi *reader_refapis(const struct reader *r, size_t *n);

/* Snapshots in file order (which is the order taken). */
size_t reader_nsnapshots(const struct reader *r);
const struct reader_snapshot *reader_snapshot(const struct reader *r, size_t i);
/* Decodes every word of snapshot i, in record order (locations increase
 * within a region). *out is malloc'd. Returns 0, -EINVAL (damage: the
 * reader's error is set, *out holds the words before it), -ENOMEM or -EIO. */
int reader_snapshot_words(struct reader *r, size_t i, struct reader_word **out, size_t *n);
/* Decodes one words record (for `refscope dump`): -EINVAL with *err set. */
int reader_words_decode(struct reader *r, const struct reader_words *w, struct reader_word **out,
			size_t *n, struct reader_error *err);

/* Python-aware snapshot records (PY_SNAPSHOT .. PY_SNAPSHOT_END), indexed by
 * the scan in file order and decoded by pyobjects.c. */
struct reader_pyrec {
	uint64_t offset;	 /* of the record */
	uint64_t payload_offset; /* of its payload */
	uint64_t size;		 /* payload bytes (at most the metadata limit) */
	uint8_t type;		 /* RS_REC_PY_* */
};
const struct reader_pyrec *reader_pyrecs(const struct reader *r, size_t *n);
/* Reads a record's payload into *out (malloc'd). 0, -ENOMEM, -EIO, or
 * -EINVAL when the file is shorter than the index says. */
int reader_payload(struct reader *r, const struct reader_pyrec *rec, uint8_t **out);

void reader_close(struct reader *r);

/* Names for display: "alloc", "free", "module", ...; "unknown" otherwise. */
const char *reader_region_kind_name(uint64_t kind);
const char *reader_trigger_name(uint64_t trigger);
const char *reader_record_name(unsigned type);
const char *reader_kind_name(uint64_t kind);

#endif
