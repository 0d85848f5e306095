/*
 * tracebuild.c - the test trace writer (see tracebuild.h). Independent of
 * the shim's writer on purpose: it encodes straight from the format header,
 * so a test disagreeing with the shim points at one of the two.
 */
#include "tracebuild.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "refscope_format.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q) {
		fprintf(stderr, "tracebuild: out of memory\n");
		abort();
	}
	return q;
}

static void put(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (*len + n > *cap) {
		*cap = (*len + n) * 2 + 256;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

/* A payload under construction. */
struct pl {
	uint8_t *b;
	size_t len, cap;
};

static void pl_u(struct pl *p, uint64_t v)
{
	uint8_t tmp[RS_UVARINT_MAX];

	put(&p->b, &p->len, &p->cap, tmp, rs_put_uvarint(tmp, v));
}

static void pl_s(struct pl *p, int64_t v)
{
	pl_u(p, rs_zigzag(v));
}

static void pl_u8(struct pl *p, uint8_t v)
{
	put(&p->b, &p->len, &p->cap, &v, 1);
}

static void pl_bytes(struct pl *p, const void *s, size_t n)
{
	pl_u(p, n);
	put(&p->b, &p->len, &p->cap, s, n);
}

static void frame(uint8_t **buf, size_t *len, size_t *cap, uint8_t type, const void *payload,
		  size_t n)
{
	uint8_t tmp[RS_UVARINT_MAX];

	put(buf, len, cap, &type, 1);
	put(buf, len, cap, tmp, rs_put_uvarint(tmp, n));
	put(buf, len, cap, payload, n);
}

/* Emits a record at top level, or into the open chunk's body. */
static size_t emit(struct tb *t, uint8_t type, struct pl *p)
{
	size_t at;

	if (t->in_chunk) {
		at = t->blen;
		frame(&t->body, &t->blen, &t->bcap, type, p->b, p->len);
	} else {
		at = t->len;
		frame(&t->buf, &t->len, &t->cap, type, p->b, p->len);
	}
	free(p->b);
	return at;
}

void tb_init(struct tb *t, uint32_t pid, uint32_t ppid)
{
	tb_init_version(t, pid, ppid, 2);
}

void tb_init_version(struct tb *t, uint32_t pid, uint32_t ppid, unsigned version)
{
	struct rs_file_header h = {
		.version = (uint16_t)version,
		.header_size = RS_FILE_HEADER_SIZE,
		.flags = RS_HDR_LITTLE_ENDIAN,
		.pid = pid,
		.ppid = ppid,
		.start_realtime = 1700000000000000000ull,
		.start_monotonic = 1000,
		.pointer_size = 8,
	};
	uint8_t hb[RS_FILE_HEADER_SIZE];

	memset(t, 0, sizeof(*t));
	t->version = version;
	rs_header_encode(hb, &h);
	put(&t->buf, &t->len, &t->cap, hb, sizeof(hb));
}

void tb_release(struct tb *t)
{
	free(t->buf);
	free(t->body);
	memset(t, 0, sizeof(*t));
}

size_t tb_process(struct tb *t, uint64_t pid, uint64_t ppid, const char *exe, int argc,
		  const char *const *argv, uint64_t origin)
{
	struct pl p = { 0 };

	pl_u(&p, pid);
	pl_u(&p, ppid);
	pl_bytes(&p, exe, strlen(exe));
	pl_u(&p, (uint64_t)argc);
	for (int i = 0; i < argc; i++)
		pl_bytes(&p, argv[i], strlen(argv[i]));
	pl_u(&p, 64);
	pl_u(&p, 4096);
	pl_u(&p, origin);
	return emit(t, RS_REC_PROCESS, &p);
}

size_t tb_module(struct tb *t, uint64_t seq, uint64_t base, const char *path, const uint8_t *build_id,
		 size_t build_id_len, uint64_t vaddr, uint64_t memsz, uint64_t flags)
{
	struct pl p = { 0 };

	pl_u(&p, seq);
	pl_u(&p, base);
	pl_bytes(&p, path, strlen(path));
	pl_bytes(&p, build_id, build_id_len);
	pl_u(&p, 1);
	pl_u(&p, vaddr);
	pl_u(&p, memsz);
	pl_u(&p, flags);
	return emit(t, RS_REC_MODULE, &p);
}

size_t tb_module_unload(struct tb *t, uint64_t seq, uint64_t base)
{
	struct pl p = { 0 };

	pl_u(&p, seq);
	pl_u(&p, base);
	return emit(t, RS_REC_MODULE_UNLOAD, &p);
}

size_t tb_stack(struct tb *t, uint64_t id, size_t n, const uint64_t *ips)
{
	struct pl p = { 0 };
	uint64_t prev = 0;

	pl_u(&p, id);
	pl_u(&p, n);
	for (size_t i = 0; i < n; i++) {
		pl_s(&p, (int64_t)(ips[i] - prev));
		prev = ips[i];
	}
	return emit(t, RS_REC_STACK, &p);
}

size_t tb_end(struct tb *t, uint64_t next_seq, uint64_t how, int64_t status, uint64_t end_time,
	      uint64_t events_lost)
{
	struct pl p = { 0 };

	pl_u(&p, next_seq);
	pl_u(&p, how);
	pl_s(&p, status);
	pl_u(&p, end_time);
	pl_u(&p, events_lost);
	return emit(t, RS_REC_END, &p);
}

size_t tb_stopped(struct tb *t, uint64_t seq, uint64_t reason, uint64_t err)
{
	struct pl p = { 0 };

	pl_u(&p, seq);
	pl_u(&p, reason);
	pl_u(&p, err);
	return emit(t, RS_REC_STOPPED, &p);
}

size_t tb_raw_record(struct tb *t, uint8_t type, const void *payload, size_t n)
{
	struct pl p = { 0 };

	put(&p.b, &p.len, &p.cap, payload, n);
	if (!p.b)
		p.b = xrealloc(NULL, 1);
	return emit(t, type, &p);
}

void tb_chunk_begin(struct tb *t, uint64_t tid, uint64_t first_seq, uint64_t first_time)
{
	t->in_chunk = 1;
	t->blen = 0;
	t->tid = tid;
	t->first_seq = t->prev_seq = t->next_min = first_seq;
	t->first_time = t->prev_time = first_time;
	t->prev_addr = 0;
	t->nevents = 0;
}

static void ev_head(struct tb *t, struct pl *p, uint64_t seq, uint64_t time)
{
	if (t->version >= RS_FORMAT_STAMPS) {
		uint64_t base = t->next_min > time ? t->next_min : time;

		if (seq < base)
			abort();	/* a stamp below its time or its predecessor */
		pl_u(p, seq - base);
		t->next_min = seq + 1;
	} else {
		pl_u(p, seq - t->prev_seq);
	}
	pl_u(p, time - t->prev_time);
	t->prev_seq = seq;
	t->prev_time = time;
	t->nevents++;
}

size_t tb_alloc(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t size,
		uint64_t stack, uint64_t kind)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	pl_s(&p, (int64_t)(addr - t->prev_addr));
	t->prev_addr = addr;
	pl_u(&p, size);
	pl_u(&p, stack);
	pl_u(&p, kind);
	pl_u(&p, 0);
	return emit(t, RS_EV_ALLOC, &p);
}

size_t tb_free(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
	       uint64_t kind)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	pl_s(&p, (int64_t)(addr - t->prev_addr));
	t->prev_addr = addr;
	pl_u(&p, stack);
	pl_u(&p, kind);
	return emit(t, RS_EV_FREE, &p);
}

size_t tb_alloc_failed(struct tb *t, uint64_t seq, uint64_t time, uint64_t size, uint64_t stack,
		       uint64_t kind, uint64_t old)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	pl_u(&p, size);
	pl_u(&p, stack);
	pl_u(&p, kind);
	pl_u(&p, old);
	return emit(t, RS_EV_ALLOC_FAILED, &p);
}

size_t tb_thread_start(struct tb *t, uint64_t seq, uint64_t time, uint64_t creator)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	pl_u(&p, creator);
	return emit(t, RS_EV_THREAD_START, &p);
}

size_t tb_thread_exit(struct tb *t, uint64_t seq, uint64_t time)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	return emit(t, RS_EV_THREAD_EXIT, &p);
}

size_t tb_event_unknown(struct tb *t, uint8_t type, uint64_t seq, uint64_t time, const void *rest,
			size_t n)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	put(&p.b, &p.len, &p.cap, rest, n);
	return emit(t, type, &p);
}

static size_t ref_event(struct tb *t, uint8_t type, uint64_t seq, uint64_t time, uint64_t addr,
			uint64_t stack, uint64_t api, uint64_t fn)
{
	struct pl p = { 0 };

	ev_head(t, &p, seq, time);
	pl_s(&p, (int64_t)(addr - t->prev_addr));
	t->prev_addr = addr;
	pl_u(&p, stack);
	pl_u(&p, api);
	pl_u(&p, fn);
	return emit(t, type, &p);
}

size_t tb_retain(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
		 uint64_t api, uint64_t fn)
{
	return ref_event(t, RS_EV_RETAIN, seq, time, addr, stack, api, fn);
}

size_t tb_release_ref(struct tb *t, uint64_t seq, uint64_t time, uint64_t addr, uint64_t stack,
		      uint64_t api, uint64_t fn)
{
	return ref_event(t, RS_EV_RELEASE, seq, time, addr, stack, api, fn);
}

size_t tb_refapi(struct tb *t, uint64_t id, const char *name, size_t nretain,
		 const char *const *retain, size_t nrelease, const char *const *release, uint64_t how)
{
	struct pl p = { 0 };

	pl_u(&p, id);
	pl_bytes(&p, name, strlen(name));
	pl_u(&p, nretain);
	for (size_t i = 0; i < nretain; i++)
		pl_bytes(&p, retain[i], strlen(retain[i]));
	pl_u(&p, nrelease);
	for (size_t i = 0; i < nrelease; i++)
		pl_bytes(&p, release[i], strlen(release[i]));
	pl_u(&p, how);
	return emit(t, RS_REC_REFAPI, &p);
}

size_t tb_snapshot(struct tb *t, uint64_t id, uint64_t seq, uint64_t time, uint64_t trigger,
		   uint64_t tid)
{
	struct pl p = { 0 };

	pl_u(&p, id);
	pl_u(&p, seq);
	pl_u(&p, time);
	pl_u(&p, trigger);
	pl_u(&p, tid);
	return emit(t, RS_REC_SNAPSHOT, &p);
}

size_t tb_snap_region(struct tb *t, uint64_t snap, uint64_t region, uint64_t start, uint64_t end,
		      uint64_t kind, uint64_t tid, const char *name)
{
	struct pl p = { 0 };

	pl_u(&p, snap);
	pl_u(&p, region);
	pl_u(&p, start);
	pl_u(&p, end);
	pl_u(&p, kind);
	pl_u(&p, tid);
	pl_bytes(&p, name, strlen(name));
	return emit(t, RS_REC_SNAP_REGION, &p);
}

static size_t words_record(struct tb *t, uint64_t snap, uint64_t region, uint64_t region_start,
			   int zstd, size_t n, const uint64_t *locs, const uint64_t *values)
{
	struct pl body = { 0 }, p = { 0 };
	uint64_t loc = region_start, value = 0;

	for (size_t i = 0; i < n; i++) {
		pl_u(&body, locs[i] - loc);
		pl_s(&body, (int64_t)(values[i] - value));
		loc = locs[i];
		value = values[i];
	}
	pl_u(&p, snap);
	pl_u(&p, region);
	pl_u8(&p, zstd ? RS_CHUNK_ZSTD : RS_CHUNK_RAW);
	pl_u(&p, body.len);
	pl_u(&p, n);
	if (zstd) {
		size_t bound = ZSTD_compressBound(body.len);
		uint8_t *z = xrealloc(NULL, bound);
		size_t k = ZSTD_compress(z, bound, body.b, body.len, 1);

		if (ZSTD_isError(k))
			abort();
		put(&p.b, &p.len, &p.cap, z, k);
		free(z);
	} else {
		put(&p.b, &p.len, &p.cap, body.b, body.len);
	}
	free(body.b);
	return emit(t, RS_REC_SNAP_WORDS, &p);
}

size_t tb_snap_words(struct tb *t, uint64_t snap, uint64_t region, uint64_t region_start, int zstd,
		     size_t n, const uint64_t *locs, const uint64_t *values, size_t max_words)
{
	size_t first = t->len, done = 0;

	if (!max_words)
		max_words = n ? n : 1;
	do {
		size_t k = n - done < max_words ? n - done : max_words;
		size_t at = words_record(t, snap, region, region_start, zstd, k, locs + done, values + done);

		if (done == 0)
			first = at;
		done += k;
	} while (done < n);
	return first;
}

size_t tb_snapshot_end(struct tb *t, uint64_t snap, uint64_t regions, uint64_t words,
		       uint64_t bytes_scanned, uint64_t duration_ns)
{
	struct pl p = { 0 };

	pl_u(&p, snap);
	pl_u(&p, regions);
	pl_u(&p, words);
	pl_u(&p, bytes_scanned);
	pl_u(&p, duration_ns);
	return emit(t, RS_REC_SNAPSHOT_END, &p);
}

size_t tb_chunk_end(struct tb *t, int zstd)
{
	struct pl p = { 0 };
	size_t at;

	t->in_chunk = 0;
	pl_u8(&p, zstd ? RS_CHUNK_ZSTD : RS_CHUNK_RAW);
	pl_u(&p, t->tid);
	pl_u(&p, t->first_seq);
	pl_u(&p, t->first_time);
	pl_u(&p, t->blen);
	pl_u(&p, t->nevents);
	if (zstd) {
		size_t bound = ZSTD_compressBound(t->blen);
		uint8_t *z = xrealloc(NULL, bound);
		size_t n = ZSTD_compress(z, bound, t->body, t->blen, 3);

		if (ZSTD_isError(n))
			abort();
		put(&p.b, &p.len, &p.cap, z, n);
		free(z);
	} else if (t->blen) {
		put(&p.b, &p.len, &p.cap, t->body, t->blen);
	}
	at = t->len;
	frame(&t->buf, &t->len, &t->cap, RS_REC_CHUNK, p.b, p.len);
	free(p.b);
	return at;
}

int tb_write_prefix(const struct tb *t, size_t n, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	if (n > t->len)
		n = t->len;
	while (done < n) {
		ssize_t k = write(fd, t->buf + done, n - done);

		if (k < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		done += (size_t)k;
	}
	return close(fd) < 0 ? -errno : 0;
}

int tb_write(const struct tb *t, const char *path)
{
	return tb_write_prefix(t, t->len, path);
}

/* Directories tb_tmpdir made in this process, removed when it exits (each
 * Criterion test runs in its own process). */
static char *tmpdirs[64];
static size_t ntmpdirs;

static int rm_quiet(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tmpdirs(void)
{
	for (size_t i = 0; i < ntmpdirs; i++) {
		nftw(tmpdirs[i], rm_quiet, 16, FTW_DEPTH | FTW_PHYS);
		free(tmpdirs[i]);
	}
	ntmpdirs = 0;
}

void tb_tmpdir(char *out, size_t size)
{
	snprintf(out, size, "/tmp/refscope-test.XXXXXX");
	if (!mkdtemp(out))
		abort();
	if (ntmpdirs < sizeof(tmpdirs) / sizeof(tmpdirs[0])) {
		if (!ntmpdirs)
			atexit(rm_tmpdirs);
		tmpdirs[ntmpdirs] = strdup(out);
		if (tmpdirs[ntmpdirs])
			ntmpdirs++;
	}
}

void tb_path(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

void tb_bytes(struct tb *t, const void *p, size_t n)
{
	put(&t->buf, &t->len, &t->cap, p, n);
}

static const uint64_t ips1[] = { 0x401000, 0x402000 };
static const uint64_t ips2[] = { 0x403000, 0x401000, 0x7f0000001234 };

void tb_build_sample(struct tb *t, struct tb_sample *s)
{
	const char *argv[] = { "prog", "--flag" };
	const uint8_t bid[] = { 0xde, 0xad, 0xbe, 0xef };

	memset(s, 0, sizeof(*s));
	tb_init(t, 100, 1);
	s->rec[s->nrec++] = tb_process(t, 100, 1, "/usr/bin/prog", 2, argv, RS_ORIGIN_START);
	s->rec[s->nrec++] = tb_module(t, 0, 0x400000, "", bid, sizeof(bid), 0, 0x5000, 5);
	s->rec[s->nrec++] = tb_stack(t, 1, 2, ips1);

	tb_chunk_begin(t, 100, 1, 100);
	tb_thread_start(t, 1, 100, 0);
	tb_alloc(t, 2, 110, 0x1000, 16, 1, RS_KIND_MALLOC);
	tb_alloc(t, 5, 150, 0x2000, 32, 2, RS_KIND_CALLOC);
	tb_free(t, 7, 170, 0x1000, 1, RS_KIND_FREE);
	s->chunk_at[0] = s->rec[s->nrec++] = tb_chunk_end(t, 1);
	s->chunk_events[0] = 4;

	tb_chunk_begin(t, 101, 3, 130);
	tb_thread_start(t, 3, 130, 100);
	tb_stack(t, 2, 3, ips2); /* defined inside a chunk; the other thread uses it at seq 5 */
	tb_alloc(t, 4, 140, 0x3000, 8, 2, RS_KIND_MALLOC);
	tb_free(t, 6, 160, 0x2000, 2, RS_KIND_FREE);
	tb_thread_exit(t, 8, 180);
	s->chunk_at[1] = s->rec[s->nrec++] = tb_chunk_end(t, 0);
	s->chunk_events[1] = 4;

	tb_chunk_begin(t, 100, 9, 190);
	tb_alloc(t, 9, 190, 0x4000, 64, 1, RS_KIND_MALLOC);
	tb_free(t, 10, 200, 0, 0, RS_KIND_FREE);
	s->chunk_at[2] = s->rec[s->nrec++] = tb_chunk_end(t, 1);
	s->chunk_events[2] = 2;

	s->end_at = s->rec[s->nrec++] = tb_end(t, 11, RS_END_EXIT, 0, 210, 0);
	for (int i = 0; i < 3; i++) {
		for (size_t k = 0; k < s->nrec; k++)
			if (s->rec[k] == s->chunk_at[i])
				s->chunk_end[i] = s->rec[k + 1];
	}
}

