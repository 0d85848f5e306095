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

/* An event with absolute values, as reader_next hands it out. Fields an
 * event type does not carry are 0. */
struct reader_event {
	uint8_t type; /* RS_EV_* */
	uint64_t seq, time, tid;
	uint64_t addr;	/* ALLOC, FREE */
	uint64_t size;	/* ALLOC, ALLOC_FAILED */
	uint64_t stack; /* ALLOC, FREE, ALLOC_FAILED */
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
};

typedef void (*reader_record_fn)(void *ctx, const struct reader_record *rec);

/* Opens path and reads its header. Returns 0 (a bad header becomes the
 * reader's error, and the scan yields nothing), or a negative errno when the
 * file cannot be opened or read. */
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

void reader_close(struct reader *r);

/* Names for display: "alloc", "free", "module", ...; "unknown" otherwise. */
const char *reader_record_name(unsigned type);
const char *reader_kind_name(uint64_t kind);

#endif
