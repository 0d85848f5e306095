/*
 * heapfix.h - heap-graph fixtures for the cycle and refcount tests, on top
 * of tracebuild: allocations, frees, retains and releases (one thread,
 * seqs counted up from 1, chunks cut every HF_CHUNK_EVENTS events), then
 * one snapshot taken after them with a DATA region (roots) at HF_DATA and
 * an ANON heap region at HF_HEAP holding the pointer words given.
 *
 * Calling order: hf_init, events and words in any order, hf_write, hf_release.
 */
#ifndef REFSCOPE_HEAPFIX_H
#define REFSCOPE_HEAPFIX_H

#include <stddef.h>
#include <stdint.h>

#include "tracebuild.h"

#define HF_DATA 0x600000ull	/* DATA region [HF_DATA, HF_DATA + 1 MiB) */
#define HF_HEAP 0x10000000ull	/* ANON region [HF_HEAP, HF_HEAP + 3 GiB) */
#define HF_CHUNK_EVENTS 100000
#define HF_API 1		/* the REFAPI id: "user", obj_retain / obj_release */

struct hf_word {
	uint64_t loc, value;
};

struct hf {
	struct tb t;
	uint64_t seq;
	uint64_t chunk_events;
	struct hf_word *heap, *data;
	size_t nheap, ndata, cap_heap, cap_data;
	int snapshots; /* 0: write no snapshot */
	uint64_t trigger; /* RS_SNAP_*, default RS_SNAP_EXIT; taken by tid 77 */
	struct hf_word *stack;
	size_t nstack, cap_stack;
};

void hf_init(struct hf *f);
void hf_alloc(struct hf *f, uint64_t addr, uint64_t size, uint64_t stack);
void hf_free(struct hf *f, uint64_t addr);
void hf_retain(struct hf *f, uint64_t addr, uint64_t stack);
void hf_unref(struct hf *f, uint64_t addr, uint64_t stack);
/* A pointer word at loc (inside a block) holding value. */
void hf_ptr(struct hf *f, uint64_t loc, uint64_t value);
/* A root: a word of the DATA region at HF_DATA + slot * 8 holding value. */
void hf_root(struct hf *f, uint64_t slot, uint64_t value);
/* A word of the snapshot-taking thread's STACK region at HF_STACK + slot * 8. */
#define HF_STACK 0x7ff000000000ull
void hf_stack_root(struct hf *f, uint64_t slot, uint64_t value);
/* Stack id -> frames (outermost last) as a top-level STACK record. */
void hf_stack(struct hf *f, uint64_t id, size_t n, const uint64_t *ips);
/* Ends the events, writes the snapshot and END; the trace goes to a fresh
 * temporary directory, its path into path (>= 128 bytes). */
void hf_write(struct hf *f, char *path);
void hf_release(struct hf *f);

#endif
