/*
 * tracebuild.h - a tiny trace writer for tests: builds a refscope trace in
 * memory record by record (header, PROCESS, MODULE, STACK, END, STOPPED,
 * CHUNK raw or zstd with events given as absolute values and written as
 * deltas), so tests control every byte and know every record's offset.
 *
 * Calling order: tb_init, any records (events only between tb_chunk_begin
 * and tb_chunk_end; tb_stack inside a chunk goes into the chunk body), then
 * tb_write or tb_data, then tb_release. Allocation failure aborts the test.
 */
#ifndef REFSCOPE_TRACEBUILD_H
#define REFSCOPE_TRACEBUILD_H

#include <stddef.h>
#include <stdint.h>

struct tb {
	uint8_t *buf;
	size_t len, cap;
	/* the open chunk */
	int in_chunk;
	uint8_t *body;
	size_t blen, bcap;
	uint64_t tid, first_seq, first_time;
	uint64_t prev_seq, prev_time, prev_addr, nevents;
	uint64_t next_min;	/* version 3: the least seq the next event may have */
	unsigned version;
};

/* Writes a valid header: version 2 (events carry seq deltas, so a test
 * numbers them as it likes), header size 64, pid, ppid. */
void tb_init(struct tb *t, uint32_t pid, uint32_t ppid);
/* The same with another version. From version 3 (RS_FORMAT_STAMPS) events
 * carry seq_excess: an event's seq must be at least its time and above the
 * previous event's of the chunk (aborts otherwise). */
void tb_init_version(struct tb *t, uint32_t pid, uint32_t ppid, unsigned version);
void tb_release(struct tb *t);

/* Each returns the file offset of the record it wrote (inside a chunk: the
 * offset in the chunk body). */
size_t tb_process(struct tb *t, uint64_t pid, uint64_t ppid, const char *exe, int argc,
		  const char *const *argv, uint64_t origin);
size_t tb_module(struct tb *t, uint64_t seq, uint64_t base, const char *path, const uint8_t *build_id,
		 size_t build_id_len, uint64_t vaddr, uint64_t memsz, uint64_t flags);
size_t tb_module_unload(struct tb *t, uint64_t seq, uint64_t base);
size_t tb_stack(struct tb *t, uint64_t id, size_t n, const uint64_t *ips);
size_t tb_end(struct tb *t, uint64_t next_seq, uint64_t how, int64_t status, uint64_t end_time,
	      uint64_t events_lost);
size_t tb_stopped(struct tb *t, uint64_t seq, uint64_t reason, uint64_t err);
/* Any record with a raw payload (unknown types, hand-made damage). */
size_t tb_raw_record(struct tb *t, uint8_t type, const void *payload, size_t n);

void tb_chunk_begin(struct tb *t, uint64_t tid, uint64_t first_seq, uint64_t first_time);
size_t tb_alloc(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t size,
		uint64_t stack, uint64_t kind);
size_t tb_free(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
	       uint64_t kind);
size_t tb_alloc_failed(struct tb *t, uint64_t seq, uint64_t time, uint64_t size, uint64_t stack,
		       uint64_t kind, uint64_t old);
size_t tb_thread_start(struct tb *t, uint64_t seq, uint64_t time, uint64_t creator);
size_t tb_thread_exit(struct tb *t, uint64_t seq, uint64_t time);
/* RETAIN / RELEASE of object addr by api's function number fn. */
size_t tb_retain(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
		 uint64_t api, uint64_t fn);
size_t tb_release_ref(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
		      uint64_t api, uint64_t fn);
/* An event of a type the reader may not know: the common head (seq and
 * time deltas, counted in nevents) then n bytes of its own fields. */
size_t tb_event_unknown(struct tb *t, uint8_t type, uint64_t seq, uint64_t time, const void *rest,
			size_t n);
/* Closes the chunk: zstd 1 compresses the body. Returns the chunk's offset. */
size_t tb_chunk_end(struct tb *t, int zstd);

/* Top-level reference counting and snapshot records. */
size_t tb_refapi(struct tb *t, uint64_t id, const char *name, size_t nretain,
		 const char *const *retain, size_t nrelease, const char *const *release, uint64_t how);
size_t tb_snapshot(struct tb *t, uint64_t id, uint64_t seq, uint64_t time, uint64_t trigger,
		   uint64_t tid);
size_t tb_snap_region(struct tb *t, uint64_t snap, uint64_t region, uint64_t start, uint64_t end,
		      uint64_t kind, uint64_t tid, const char *name);
/* The words (absolute locations, increasing, and values) of a region that
 * starts at region_start; split into several SNAP_WORDS records of at most
 * max_words words each (0: one record). Returns the first record's offset. */
size_t tb_snap_words(struct tb *t, uint64_t snap, uint64_t region, uint64_t region_start, int zstd,
		     size_t n, const uint64_t *locs, const uint64_t *values, size_t max_words);
size_t tb_snapshot_end(struct tb *t, uint64_t snap, uint64_t regions, uint64_t words,
		       uint64_t bytes_scanned, uint64_t duration_ns);

/* Writes the trace to path (0600, truncating); returns 0 or -errno. */
int tb_write(const struct tb *t, const char *path);
/* Writes the first n bytes of the trace to path. */
int tb_write_prefix(const struct tb *t, size_t n, const char *path);

/* Appends bytes as they are (hand-made damage). */
void tb_bytes(struct tb *t, const void *p, size_t n);

/*
 * The sample trace the tests share: pid 100; PROCESS, MODULE (main program,
 * build-id deadbeef), STACK 1 at top level; chunk 0 (zstd, tid 100, seqs
 * 1 2 5 7), chunk 1 (raw, tid 101, seqs 3 4 6 8, defines STACK 2), chunk 2
 * (zstd, tid 100, seqs 9 10: an alloc and a free(NULL)); END next_seq 11.
 * Live at exit: 0x3000 (8 bytes, stack 2) and 0x4000 (64 bytes, stack 1).
 */
struct tb_sample {
	size_t rec[16];	    /* offsets of the top-level records, in order */
	size_t nrec;
	size_t chunk_at[3]; /* offsets of the three chunks */
	size_t chunk_end[3];
	uint64_t chunk_events[3];
	size_t end_at;
};

void tb_build_sample(struct tb *t, struct tb_sample *s);

/* Makes a fresh private directory /tmp/refscope-test.XXXXXX into out
 * (size >= 64); aborts on failure. */
void tb_tmpdir(char *out, size_t size);
/* out = dir/name. */
void tb_path(char *out, size_t size, const char *dir, const char *name);

#endif
