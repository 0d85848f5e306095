/*
 * test_shim_util.h - an independent decoder of refscope traces for the shim's
 * unit tests: every record, chunk bodies flattened in file order.
 */
#ifndef TEST_SHIM_UTIL_H
#define TEST_SHIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define TDEC_MAX_FRAMES 256

struct trec {
	uint8_t type;
	int in_chunk;
	uint32_t tid;
	size_t chunk_index;
	/* CHUNK */
	uint8_t encoding;
	unsigned zstd_streams;	/* STREAMS chunks: how many streams are zstd frames */
	uint64_t first_seq, first_time, raw_size, nevents, body_size;
	/* events */
	uint64_t seq, time, addr, size, stack, kind, align, old, creator;
	/* STACK */
	uint64_t id, nframes, ips[TDEC_MAX_FRAMES];
	/* PROCESS (pid, ppid, origin) and MODULE (base, path, build id) */
	uint64_t pid, ppid, origin, base, build_id_len, nseg;
	char path[256];
	/* END / STOPPED (how doubles as the stop reason, old as errno) */
	uint64_t how, lost;
	/* RETAIN / RELEASE (addr, stack too) and REFAPI (api is the id, path
	 * the name, names the retain then release names, space-separated) */
	uint64_t api, fn, nretain, nrelease;
	char names[512];
	int64_t status;
};

struct tdec {
	struct trec *r;
	size_t n, cap, nchunks, file_size;
	unsigned version;	/* the trace's format version; 0: RS_FORMAT_VERSION */
};

/* 0, or negative on a malformed trace. */
int tdec_bytes(struct tdec *d, const uint8_t *buf, size_t len);
int tdec_fd(struct tdec *d, int fd);
/* A whole trace file: checks the header, decodes what follows it. */
int tdec_file(struct tdec *d, const char *path, uint32_t *pid);
size_t tdec_count(const struct tdec *d, uint8_t type);
const struct trec *tdec_nth(const struct tdec *d, uint8_t type, size_t nth);
void tdec_free(struct tdec *d);

#endif
