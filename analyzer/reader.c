/*
 * reader.c - validating, streaming decoder of a refscope trace.
 *
 * The file is read with pread(2) at known offsets; nothing is mapped and no
 * length taken from the file is trusted before it is checked against what is
 * left of the file and against a fixed limit. Pass 1 indexes the chunks,
 * pass 2 merges them by sequence number through a min-heap of cursors (see
 * reader.h). Every failure is turned into one message with a byte offset.
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <uthash.h>

/* A metadata record (PROCESS with its argv, MODULE, STACK) larger than this
 * is damage, not data: it bounds what one record can make us allocate. */
#define META_MAX (16u << 20)
/* The largest payload a chunk can need: encoding + 5 varints + a zstd frame
 * of a maximal body. */
#define CHUNK_PAYLOAD_MAX (ZSTD_COMPRESSBOUND(RS_CHUNK_MAX_RAW) + 64)

struct stack_entry {
	uint64_t id;
	size_t nframes;
	uint64_t *ips;
	UT_hash_handle hh;
};

/*
 * An index from one or two ids to a position in an array (snapshots by id,
 * regions by snapshot and id, REFAPIs by id): the lookups the scan makes for
 * every record stay O(1), so a hostile trace of a million snapshots,
 * regions or REFAPIs cannot make the scan quadratic (20000 regions took
 * 0.5 s, 200000 would take a minute).
 */
struct id_slot {
	uint64_t key[2];
	size_t at;
	UT_hash_handle hh;
};

static struct id_slot *id_find(const struct id_slot *h, uint64_t a, uint64_t b)
{
	uint64_t key[2] = { a, b };
	struct id_slot *e;

	HASH_FIND(hh, h, key, sizeof(key), e);
	return e;
}

static int id_add(struct id_slot **h, uint64_t a, uint64_t b, size_t at)
{
	struct id_slot *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->key[0] = a;
	e->key[1] = b;
	e->at = at;
	HASH_ADD(hh, *h, key, sizeof(e->key), e);
	return 0;
}

static void id_free(struct id_slot **h)
{
	struct id_slot *e, *tmp;

	HASH_ITER(hh, *h, e, tmp) {
		HASH_DEL(*h, e);
		free(e);
	}
}

struct cursor {
	const struct reader_chunk *c;
	uint8_t *body;
	size_t len, pos;
	uint64_t prev_seq, prev_time, prev_addr;
	uint64_t next_min;	/* version 3: the least seq the next event takes */
	int stamps;		/* version 3 seqs (rs_seq_v3), else deltas */
	uint64_t events;
	struct reader_event next; /* the event the heap is keyed by */
};

struct reader {
	int fd;
	uint64_t file_size;
	struct rs_file_header hdr;
	int header_ok;

	int have_error;
	struct reader_error err;

	int have_process;
	struct reader_process process;
	struct reader_module *modules;
	size_t nmodules, cap_modules;
	int have_end;
	struct reader_end end;
	int have_stopped;
	struct reader_stopped stopped;

	struct reader_chunk *chunks; /* file order */
	size_t nchunks, cap_chunks;
	struct stack_entry *stacks;
	size_t nstacks;
	struct reader_refapi *refapis;
	size_t nrefapis, cap_refapis;
	struct reader_snapshot *snapshots; /* file order */
	size_t nsnapshots, cap_snapshots;
	struct id_slot *snapshot_ids; /* id -> index in snapshots */
	struct id_slot *region_ids;   /* (snapshot index, region id) -> index in its regions */
	struct id_slot *refapi_ids;   /* id -> index in refapis */
	struct id_slot *module_heads; /* base -> see module_add */
	size_t *module_prev;
	struct reader_pyrec *pyrecs; /* file order */
	size_t npyrecs, cap_pyrecs;

	/* pass 2 */
	int merging, merge_done;
	size_t *order; /* chunk indexes sorted by first_seq */
	size_t next_pending;
	struct cursor **heap;
	size_t nheap, peak_active;
	uint64_t held, held_limit; /* decoded body bytes the merge holds, and their bound */
	uint64_t chunk_bytes, chunk_bytes_done; /* for the progress display */
	ZSTD_DCtx *zstd;
};

/* ---- errors -------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_error(struct reader_error *e, uint64_t offset,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	e->offset = offset;
	e->cut = 0;
}

/* The earliest damage in the file wins: what comes after it is suspect, and
 * the merge may meet a damaged chunk body after the scan stopped further on. */
#define FAIL(r, off, ...)                                          \
	do {                                                       \
		if (!(r)->have_error || (off) < (r)->err.offset) { \
			set_error(&(r)->err, (off), __VA_ARGS__); \
			(r)->have_error = 1;                       \
		}                                                  \
	} while (0)

/* FAIL for a record cut by the end of the file (see reader_error.cut). */
#define FAIL_CUT(r, off, ...)                                      \
	do {                                                       \
		if (!(r)->have_error || (off) < (r)->err.offset) { \
			set_error(&(r)->err, (off), __VA_ARGS__); \
			(r)->have_error = 1;                       \
			(r)->err.cut = 1;                          \
		}                                                  \
	} while (0)

const char *reader_record_name(unsigned type)
{
	switch (type) {
	case RS_REC_PROCESS: return "process";
	case RS_REC_MODULE: return "module";
	case RS_REC_MODULE_UNLOAD: return "module_unload";
	case RS_REC_CHUNK: return "chunk";
	case RS_REC_STACK: return "stack";
	case RS_REC_END: return "end";
	case RS_REC_STOPPED: return "stopped";
	case RS_EV_ALLOC: return "alloc";
	case RS_EV_FREE: return "free";
	case RS_EV_ALLOC_FAILED: return "alloc_failed";
	case RS_EV_THREAD_START: return "thread_start";
	case RS_EV_THREAD_EXIT: return "thread_exit";
	case RS_EV_RETAIN: return "retain";
	case RS_EV_RELEASE: return "release";
	case RS_REC_REFAPI: return "refapi";
	case RS_REC_SNAPSHOT: return "snapshot";
	case RS_REC_SNAP_REGION: return "snap_region";
	case RS_REC_SNAP_WORDS: return "snap_words";
	case RS_REC_SNAPSHOT_END: return "snapshot_end";
	case RS_REC_PY_SNAPSHOT: return "py_snapshot";
	case RS_REC_PY_STRINGS: return "py_strings";
	case RS_REC_PY_OBJECTS: return "py_objects";
	case RS_REC_PY_SNAPSHOT_END: return "py_snapshot_end";
	default: return "unknown";
	}
}

const char *reader_kind_name(uint64_t kind)
{
	static const char *const names[RS_KIND_COUNT_] = {
		"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "free",
		"new", "new[]", "delete", "delete[]",
	};

	return kind < RS_KIND_COUNT_ ? names[kind] : "unknown";
}

const char *reader_region_kind_name(uint64_t kind)
{
	switch (kind) {
	case RS_REGION_DATA: return "data";
	case RS_REGION_STACK: return "stack";
	case RS_REGION_TLS: return "tls";
	case RS_REGION_ANON: return "anon";
	default: return "unknown";
	}
}

const char *reader_trigger_name(uint64_t trigger)
{
	switch (trigger) {
	case RS_SNAP_EXIT: return "exit";
	case RS_SNAP_SIGNAL: return "signal";
	case RS_SNAP_REQUEST: return "request";
	case RS_SNAP_PERIODIC: return "periodic";
	default: return "unknown";
	}
}

/* ---- file access --------------------------------------------------------- */

/* Reads up to n bytes at off; returns the count (short only at end of file)
 * or a negative errno. */
static ssize_t read_at(struct reader *r, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pread(r->fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

/* ---- payload parsing ----------------------------------------------------- */

struct pp {
	const uint8_t *start, *p, *end;
	int ok;
};

static void pp_init(struct pp *q, const uint8_t *p, size_t n)
{
	q->start = q->p = p;
	q->end = p + n;
	q->ok = 1;
}

static uint64_t pp_u(struct pp *q)
{
	uint64_t v = 0;
	size_t n;

	if (!q->ok)
		return 0;
	n = rs_get_uvarint(q->p, q->end, &v);
	if (!n) {
		q->ok = 0;
		return 0;
	}
	q->p += n;
	return v;
}

static int64_t pp_s(struct pp *q)
{
	return rs_unzigzag(pp_u(q));
}

static uint8_t pp_u8(struct pp *q)
{
	if (!q->ok || q->p >= q->end) {
		q->ok = 0;
		return 0;
	}
	return *q->p++;
}

/* A string or byte string: returns a pointer into the payload and its
 * length, checked against what is left. */
static const uint8_t *pp_bytes(struct pp *q, size_t *len)
{
	uint64_t n = pp_u(q);
	const uint8_t *s;

	if (!q->ok || n > (uint64_t)(q->end - q->p)) {
		q->ok = 0;
		*len = 0;
		return NULL;
	}
	s = q->p;
	q->p += n;
	*len = (size_t)n;
	return s;
}

static size_t pp_off(const struct pp *q)
{
	return (size_t)(q->p - q->start);
}

static char *dup_str(const uint8_t *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* ---- stacks -------------------------------------------------------------- */

/* Parses a STACK payload and adds it to the table; a second definition of
 * an id is ignored. Returns 0, -EINVAL (field cut: *bad_at = payload offset)
 * or -ENOMEM. */
static int stack_parse(struct reader *r, const uint8_t *p, size_t n, struct reader_record *rec,
		       uint64_t **scratch, size_t *bad_at)
{
	struct pp q;
	uint64_t id, nframes, prev = 0;
	uint64_t *ips;
	struct stack_entry *e;

	pp_init(&q, p, n);
	id = pp_u(&q);
	nframes = pp_u(&q);
	/* every frame takes at least one byte: bounds the allocation */
	if (!q.ok || nframes > (uint64_t)(q.end - q.p)) {
		*bad_at = pp_off(&q);
		return -EINVAL;
	}
	ips = malloc((nframes ? nframes : 1) * sizeof(*ips));
	if (!ips)
		return -ENOMEM;
	for (uint64_t i = 0; i < nframes; i++) {
		prev += (uint64_t)pp_s(&q);
		ips[i] = prev;
	}
	if (!q.ok) {
		*bad_at = pp_off(&q);
		free(ips);
		return -EINVAL;
	}
	rec->stack_id = id;
	rec->nframes = (size_t)nframes;
	rec->ips = ips;
	HASH_FIND(hh, r->stacks, &id, sizeof(id), e);
	if (e || id == 0) {
		*scratch = ips; /* caller frees after the callback */
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(ips);
		return -ENOMEM;
	}
	e->id = id;
	e->nframes = (size_t)nframes;
	e->ips = ips;
	HASH_ADD(hh, r->stacks, id, sizeof(e->id), e);
	r->nstacks++;
	*scratch = NULL;
	return 0;
}

const uint64_t *reader_stack(const struct reader *r, uint64_t id, size_t *nframes)
{
	struct stack_entry *e;

	HASH_FIND(hh, r->stacks, &id, sizeof(id), e);
	if (!e) {
		*nframes = 0;
		return NULL;
	}
	*nframes = e->nframes;
	return e->ips;
}

size_t reader_nstacks(const struct reader *r)
{
	return r->nstacks;
}

/* ---- metadata records ---------------------------------------------------- */

static void process_clear(struct reader_process *p)
{
	free(p->exe);
	for (uint64_t i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	memset(p, 0, sizeof(*p));
}

static int process_parse(struct reader_process *out, const uint8_t *p, size_t n, size_t *bad_at)
{
	struct pp q;
	struct reader_process pr = { 0 };
	const uint8_t *s;
	size_t len;
	uint64_t argc;

	pp_init(&q, p, n);
	pr.pid = pp_u(&q);
	pr.ppid = pp_u(&q);
	s = pp_bytes(&q, &len);
	if (!q.ok)
		goto bad;
	pr.exe = dup_str(s, len);
	argc = pp_u(&q);
	/* each argument takes at least its length byte */
	if (!q.ok || argc > (uint64_t)(q.end - q.p))
		goto bad;
	pr.argv = calloc(argc ? argc : 1, sizeof(*pr.argv));
	if (!pr.exe || !pr.argv)
		goto nomem;
	for (uint64_t i = 0; i < argc; i++) {
		s = pp_bytes(&q, &len);
		if (!q.ok)
			goto bad;
		pr.argv[i] = dup_str(s, len);
		pr.argc = i + 1;
		if (!pr.argv[i])
			goto nomem;
	}
	pr.depth_limit = pp_u(&q);
	pr.page_size = pp_u(&q);
	pr.origin = pp_u(&q);
	if (!q.ok)
		goto bad;
	process_clear(out);
	*out = pr;
	return 0;
bad:
	*bad_at = pp_off(&q);
	process_clear(&pr);
	return -EINVAL;
nomem:
	process_clear(&pr);
	return -ENOMEM;
}

static void module_clear(struct reader_module *m)
{
	free(m->path);
	free(m->build_id);
	free(m->segs);
}

static int module_parse(struct reader_module *m, const uint8_t *p, size_t n, size_t *bad_at)
{
	struct pp q;
	const uint8_t *s, *b;
	size_t slen, blen;
	uint64_t nseg;

	memset(m, 0, sizeof(*m));
	pp_init(&q, p, n);
	m->seq = pp_u(&q);
	m->base = pp_u(&q);
	s = pp_bytes(&q, &slen);
	b = pp_bytes(&q, &blen);
	nseg = pp_u(&q);
	/* a segment takes at least three bytes */
	if (!q.ok || nseg > (uint64_t)(q.end - q.p) / 3) {
		*bad_at = pp_off(&q);
		return -EINVAL;
	}
	m->path = dup_str(s, slen);
	m->build_id = malloc(blen ? blen : 1);
	m->segs = calloc(nseg ? nseg : 1, sizeof(*m->segs));
	if (!m->path || !m->build_id || !m->segs) {
		module_clear(m);
		return -ENOMEM;
	}
	if (blen)
		memcpy(m->build_id, b, blen);
	m->build_id_len = blen;
	for (uint64_t i = 0; i < nseg; i++) {
		m->segs[i].vaddr = pp_u(&q);
		m->segs[i].memsz = pp_u(&q);
		m->segs[i].flags = pp_u(&q);
	}
	m->nseg = (size_t)nseg;
	if (!q.ok) {
		*bad_at = pp_off(&q);
		module_clear(m);
		return -EINVAL;
	}
	return 0;
}

/* Room for one more element in *arr (n used of *cap): doubles it, from 16. */
static int grow_array(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *na;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(*arr, ncap * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

/*
 * Modules by base: module_heads maps a base to the newest module loaded
 * there that may still be loaded, module_prev[i] is the module loaded at the
 * same base before module i (SIZE_MAX: none). An unload takes the newest
 * loaded one, as a search from the end would, and moves the head past it:
 * every module is passed over at most once, however the trace orders its
 * loads and unloads.
 */
static int module_add(struct reader *r, struct reader_module *m)
{
	size_t cap = r->cap_modules;
	struct id_slot *head = id_find(r->module_heads, m->base, 0);

	if (grow_array((void **)&r->modules, &r->cap_modules, r->nmodules, sizeof(*r->modules)))
		return -ENOMEM;
	if (grow_array((void **)&r->module_prev, &cap, r->nmodules, sizeof(*r->module_prev)))
		return -ENOMEM;
	if (head) {
		r->module_prev[r->nmodules] = head->at;
		head->at = r->nmodules;
	} else {
		r->module_prev[r->nmodules] = SIZE_MAX;
		if (id_add(&r->module_heads, m->base, 0, r->nmodules))
			return -ENOMEM;
	}
	r->modules[r->nmodules++] = *m;
	return 0;
}

static void module_unload(struct reader *r, uint64_t seq, uint64_t base)
{
	struct id_slot *head = id_find(r->module_heads, base, 0);
	size_t i = head ? head->at : SIZE_MAX;

	while (i != SIZE_MAX && r->modules[i].unloaded)
		i = r->module_prev[i];
	if (head)
		head->at = i == SIZE_MAX ? SIZE_MAX : r->module_prev[i];
	if (i == SIZE_MAX)
		return;
	r->modules[i].unloaded = 1;
	r->modules[i].unload_seq = seq;
}

/* ---- reference counting APIs -------------------------------------------- */

static void refapi_clear(struct reader_refapi *a)
{
	free(a->name);
	for (size_t i = 0; i < a->nretain; i++)
		free(a->retain[i]);
	for (size_t i = 0; i < a->nrelease; i++)
		free(a->release[i]);
	free(a->retain);
	free(a->release);
	memset(a, 0, sizeof(*a));
}

/* A list of names: uvarint count, count x string. */
static int names_parse(struct pp *q, char ***out, size_t *n)
{
	const uint8_t *s;
	size_t len;
	uint64_t count = pp_u(q);

	*out = NULL;
	*n = 0;
	/* each name takes at least its length byte */
	if (!q->ok || count > (uint64_t)(q->end - q->p)) {
		q->ok = 0;
		return -EINVAL;
	}
	*out = calloc(count ? count : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		s = pp_bytes(q, &len);
		if (!q->ok)
			return -EINVAL;
		(*out)[i] = dup_str(s, len);
		*n = (size_t)i + 1;
		if (!(*out)[i])
			return -ENOMEM;
	}
	return 0;
}

/* A second REFAPI with a known id replaces the first (a re-announcement
 * after a fork, say). */
static int refapi_apply(struct reader *r, uint64_t offset, const uint8_t *p, size_t n,
			struct reader_record *rec, size_t *bad_at)
{
	struct reader_refapi a = { .offset = offset };
	const struct id_slot *slot;
	const uint8_t *s;
	size_t len;
	struct pp q;
	int rc;

	pp_init(&q, p, n);
	a.id = pp_u(&q);
	s = pp_bytes(&q, &len);
	if (!q.ok)
		goto bad;
	a.name = dup_str(s, len);
	if (!a.name)
		goto nomem;
	rc = names_parse(&q, &a.retain, &a.nretain);
	if (rc == 0)
		rc = names_parse(&q, &a.release, &a.nrelease);
	if (rc == -ENOMEM)
		goto nomem;
	if (rc)
		goto bad;
	a.how = pp_u(&q);
	if (!q.ok)
		goto bad;
	slot = id_find(r->refapi_ids, a.id, 0);
	if (slot) {
		refapi_clear(&r->refapis[slot->at]);
		r->refapis[slot->at] = a;
		rec->refapi = &r->refapis[slot->at];
		return 0;
	}
	if (id_add(&r->refapi_ids, a.id, 0, r->nrefapis))
		goto nomem;
	if (r->nrefapis == r->cap_refapis) {
		size_t cap = r->cap_refapis ? r->cap_refapis * 2 : 8;
		struct reader_refapi *na = realloc(r->refapis, cap * sizeof(*na));

		if (!na)
			goto nomem;
		r->refapis = na;
		r->cap_refapis = cap;
	}
	r->refapis[r->nrefapis] = a;
	rec->refapi = &r->refapis[r->nrefapis++];
	return 0;
bad:
	*bad_at = pp_off(&q);
	refapi_clear(&a);
	return -EINVAL;
nomem:
	refapi_clear(&a);
	return -ENOMEM;
}

const struct reader_refapi *reader_refapi(const struct reader *r, uint64_t id)
{
	const struct id_slot *e = id_find(r->refapi_ids, id, 0);

	return e ? &r->refapis[e->at] : NULL;
}

const struct reader_refapi *reader_refapis(const struct reader *r, size_t *n)
{
	*n = r->nrefapis;
	return r->refapis;
}

/* ---- snapshots ----------------------------------------------------------- */

static struct reader_snapshot *snapshot_find(const struct reader *r, uint64_t id)
{
	const struct id_slot *e = id_find(r->snapshot_ids, id, 0);

	return e ? &r->snapshots[e->at] : NULL;
}

/* The index of region id in snapshot snap, or SIZE_MAX. */
static size_t region_find(const struct reader *r, const struct reader_snapshot *snap, uint64_t id)
{
	const struct id_slot *e = id_find(r->region_ids, (uint64_t)(snap - r->snapshots), id);

	return e ? e->at : SIZE_MAX;
}

/* The snapshot a SNAP_REGION, SNAP_WORDS or SNAPSHOT_END record at off
 * belongs to, which must be defined before it and not ended; else fails the
 * reader, naming the record, and returns NULL. */
static struct reader_snapshot *snapshot_open(struct reader *r, uint8_t type, uint64_t off, uint64_t id)
{
	struct reader_snapshot *snap = snapshot_find(r, id);

	if (!snap || snap->complete) {
		FAIL(r, off, "%s at byte %" PRIu64 ": snapshot %" PRIu64 " is %s", reader_record_name(type), off, id,
		     snap ? "already ended" : "not defined before it");
		return NULL;
	}
	return snap;
}

static void snapshot_clear(struct reader_snapshot *s)
{
	for (size_t i = 0; i < s->nregions; i++)
		free(s->regions[i].name);
	free(s->regions);
	free(s->words);
}

/*
 * SNAPSHOT, SNAP_REGION and SNAPSHOT_END (small, read whole). Records that
 * contradict the snapshots before them (an unknown snapshot or a second
 * definition) are damage: fails the reader with a message naming the byte.
 */
static int snap_apply(struct reader *r, uint8_t type, uint64_t off, uint64_t payload_off,
		      const uint8_t *p, size_t n, struct reader_record *rec)
{
	struct reader_snapshot *snap;
	struct pp q;
	uint64_t id;

	pp_init(&q, p, n);
	id = pp_u(&q);
	switch (type) {
	case RS_REC_SNAPSHOT: {
		struct reader_snapshot s = { .offset = off, .id = id };

		s.seq = pp_u(&q);
		s.time = pp_u(&q);
		s.trigger = pp_u(&q);
		s.tid = pp_u(&q);
		if (!q.ok)
			break;
		if (snapshot_find(r, id)) {
			FAIL(r, off, "snapshot at byte %" PRIu64 ": snapshot %" PRIu64 " defined twice", off,
			     id);
			return -EINVAL;
		}
		if (grow_array((void **)&r->snapshots, &r->cap_snapshots, r->nsnapshots,
			       sizeof(*r->snapshots)) ||
		    id_add(&r->snapshot_ids, id, 0, r->nsnapshots))
			return -ENOMEM;
		r->snapshots[r->nsnapshots] = s;
		rec->snapshot = &r->snapshots[r->nsnapshots++];
		return 0;
	}
	case RS_REC_SNAP_REGION: {
		struct reader_region g = { .offset = off, .snapshot = id };
		const uint8_t *name;
		size_t len;

		g.id = pp_u(&q);
		g.start = pp_u(&q);
		g.end = pp_u(&q);
		g.kind = pp_u(&q);
		g.tid = pp_u(&q);
		name = pp_bytes(&q, &len);
		if (!q.ok)
			break;
		snap = snapshot_open(r, type, off, id);
		if (!snap)
			return -EINVAL;
		if (g.end < g.start) {
			FAIL(r, off,
			     "snap_region at byte %" PRIu64 ": region %" PRIu64 " ends (0x%" PRIx64
			     ") before it starts (0x%" PRIx64 ")",
			     off, g.id, g.end, g.start);
			return -EINVAL;
		}
		if (region_find(r, snap, g.id) != SIZE_MAX) {
			FAIL(r, off,
			     "snap_region at byte %" PRIu64 ": region %" PRIu64 " defined twice in snapshot %" PRIu64,
			     off, g.id, id);
			return -EINVAL;
		}
		if (grow_array((void **)&snap->regions, &snap->cap_regions, snap->nregions,
			       sizeof(*snap->regions)) ||
		    id_add(&r->region_ids, (uint64_t)(snap - r->snapshots), g.id, snap->nregions))
			return -ENOMEM;
		g.name = dup_str(name, len);
		if (!g.name)
			return -ENOMEM;
		snap->regions[snap->nregions] = g;
		rec->region = &snap->regions[snap->nregions++];
		return 0;
	}
	case RS_REC_SNAPSHOT_END: {
		uint64_t regions = pp_u(&q), words = pp_u(&q), bytes = pp_u(&q), ns = pp_u(&q);

		if (!q.ok)
			break;
		snap = snapshot_open(r, type, off, id);
		if (!snap)
			return -EINVAL;
		snap->complete = 1;
		snap->end_regions = regions;
		snap->end_words = words;
		snap->bytes_scanned = bytes;
		snap->duration_ns = ns;
		rec->snapshot = snap;
		return 0;
	}
	default:
		return 0;
	}
	FAIL(r, off, "bad %s record at byte %" PRIu64 ": field cut or bad varint at byte %" PRIu64,
	     reader_record_name(type), off, payload_off + pp_off(&q));
	return -EINVAL;
}

/*
 * CHUNK and SNAP_WORDS keep their bodies in the file; their headers (a few
 * varints at the start of the payload) are read into buf (HEAD_MAX bytes,
 * fewer when the payload is shorter) and q is set to parse them.
 */
#define HEAD_MAX (1 + 5 * RS_UVARINT_MAX)

static int head_read(struct reader *r, uint64_t off, uint64_t payload_off, uint64_t size, uint8_t *buf,
		     struct pp *q)
{
	size_t want = size < HEAD_MAX ? (size_t)size : HEAD_MAX;
	ssize_t n = read_at(r, buf, want, payload_off);

	if (n < 0)
		return (int)n;
	if ((size_t)n < want) {
		FAIL(r, off, "truncated record at byte %" PRIu64 ": file shrank while reading", off);
		return -EINVAL;
	}
	pp_init(q, buf, (size_t)n);
	return 0;
}

/* The decoded size a CHUNK or SNAP_WORDS header at off announces: within
 * RS_CHUNK_MAX_RAW, else fails the reader. */
static int head_raw_size_ok(struct reader *r, uint8_t type, uint64_t off, uint64_t raw_size)
{
	if (raw_size <= RS_CHUNK_MAX_RAW)
		return 1;
	FAIL(r, off, "%s at byte %" PRIu64 ": raw size %" PRIu64 " exceeds the limit %u", reader_record_name(type),
	     off, raw_size, RS_CHUNK_MAX_RAW);
	return 0;
}

/* Reads a SNAP_WORDS header from the start of its payload and indexes it
 * under its snapshot; the body stays in the file. */
static int words_index(struct reader *r, uint64_t off, uint64_t payload_off, uint64_t size,
		       struct reader_record *rec)
{
	uint8_t buf[HEAD_MAX];
	struct reader_snapshot *snap;
	struct reader_words w = { .offset = off };
	size_t ri;
	struct pp q = { 0 };
	int rc = head_read(r, off, payload_off, size, buf, &q);

	if (rc)
		return rc;
	w.snapshot = pp_u(&q);
	w.region = pp_u(&q);
	w.encoding = pp_u8(&q);
	w.raw_size = pp_u(&q);
	w.nwords = pp_u(&q);
	if (!q.ok) {
		FAIL(r, off, "bad snap_words record at byte %" PRIu64 ": field cut or bad varint at byte %" PRIu64,
		     off, payload_off + pp_off(&q));
		return -EINVAL;
	}
	w.body_offset = payload_off + pp_off(&q);
	w.body_size = size - pp_off(&q);
	snap = snapshot_open(r, RS_REC_SNAP_WORDS, off, w.snapshot);
	if (!snap)
		return -EINVAL;
	ri = region_find(r, snap, w.region);
	if (ri == SIZE_MAX) {
		FAIL(r, off, "snap_words at byte %" PRIu64 ": region %" PRIu64 " of snapshot %" PRIu64
			     " is not defined before it",
		     off, w.region, w.snapshot);
		return -EINVAL;
	}
	w.region_index = ri;
	if (w.encoding != RS_CHUNK_RAW && w.encoding != RS_CHUNK_ZSTD) {
		FAIL(r, off, "snap_words at byte %" PRIu64 ": unknown encoding %u", off, w.encoding);
		return -EINVAL;
	}
	if (!head_raw_size_ok(r, RS_REC_SNAP_WORDS, off, w.raw_size))
		return -EINVAL;
	/* a word takes at least two bytes: two one-byte deltas */
	if (w.nwords > w.raw_size / 2) {
		FAIL(r, off, "snap_words at byte %" PRIu64 ": %" PRIu64 " words cannot fit %" PRIu64 " bytes",
		     off, w.nwords, w.raw_size);
		return -EINVAL;
	}
	if (w.encoding == RS_CHUNK_RAW && w.body_size != w.raw_size) {
		FAIL(r, off, "snap_words at byte %" PRIu64 ": raw body of %" PRIu64 " bytes, header says %" PRIu64,
		     off, w.body_size, w.raw_size);
		return -EINVAL;
	}
	if (grow_array((void **)&snap->words, &snap->cap_words, snap->nwords_recs, sizeof(*snap->words)))
		return -ENOMEM;
	snap->words[snap->nwords_recs] = w;
	snap->nwords += w.nwords;
	rec->words = &snap->words[snap->nwords_recs++];
	return 0;
}

/*
 * Parses a record that is not a chunk and not an event, wherever it was met,
 * fills rec for the callback and applies it to the reader. Returns 0,
 * -EINVAL (*bad_at: payload offset of the damage) or -ENOMEM. *scratch gets
 * memory to free after the callback.
 */
static int meta_apply(struct reader *r, uint8_t type, uint64_t offset, const uint8_t *p, size_t n,
		      struct reader_record *rec, void **scratch, size_t *bad_at)
{
	struct pp q;
	int rc = 0;

	*scratch = NULL;
	pp_init(&q, p, n);
	switch (type) {
	case RS_REC_PROCESS:
		rc = process_parse(&r->process, p, n, bad_at);
		if (rc == 0) {
			r->have_process = 1;
			rec->process = &r->process;
		}
		return rc;
	case RS_REC_MODULE: {
		struct reader_module m;

		rc = module_parse(&m, p, n, bad_at);
		if (rc)
			return rc;
		m.offset = offset;
		rc = module_add(r, &m);
		if (rc) {
			module_clear(&m);
			return rc;
		}
		rec->module = &r->modules[r->nmodules - 1];
		return 0;
	}
	case RS_REC_MODULE_UNLOAD:
		rec->unload_seq = pp_u(&q);
		rec->unload_base = pp_u(&q);
		if (!q.ok)
			break;
		module_unload(r, rec->unload_seq, rec->unload_base);
		return 0;
	case RS_REC_STACK: {
		uint64_t *ips = NULL;

		rc = stack_parse(r, p, n, rec, &ips, bad_at);
		*scratch = ips;
		return rc;
	}
	case RS_REC_END:
		r->end.next_seq = pp_u(&q);
		r->end.how = pp_u(&q);
		r->end.status = pp_s(&q);
		r->end.end_time = pp_u(&q);
		r->end.events_lost = pp_u(&q);
		if (!q.ok)
			break;
		r->have_end = 1; /* several: the last one wins */
		rec->end = &r->end;
		return 0;
	case RS_REC_REFAPI:
		return refapi_apply(r, offset, p, n, rec, bad_at);
	case RS_REC_STOPPED:
		r->stopped.seq = pp_u(&q);
		r->stopped.reason = pp_u(&q);
		r->stopped.err = pp_u(&q);
		if (!q.ok)
			break;
		r->have_stopped = 1;
		rec->stopped = &r->stopped;
		return 0;
	default:
		return 0; /* unknown: skipped */
	}
	*bad_at = pp_off(&q);
	return -EINVAL;
}

/* ---- open and pass 1 ----------------------------------------------------- */

int reader_open(const char *path, struct reader **out)
{
	struct reader *r;
	struct stat st;
	uint8_t h[RS_FILE_HEADER_SIZE];
	ssize_t n;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->held_limit = READER_HELD_MAX;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err = -errno;
		free(r);
		return err;
	}
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* a pipe or device has no size to check lengths against */
		err = errno;
		err = fstat(r->fd, &st) < 0 ? -err : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(r->fd);
		free(r);
		return err;
	}
	r->file_size = (uint64_t)st.st_size;
	n = read_at(r, h, sizeof(h), 0);
	if (n < 0) {
		close(r->fd);
		free(r);
		return (int)n;
	}
	*out = r;
	if (n >= RS_MAGIC_LEN && memcmp(h, RS_MAGIC, RS_MAGIC_LEN) != 0) {
		FAIL(r, 0, "not a refscope trace: bad magic at byte 0");
		return 0;
	}
	if (n < RS_FILE_HEADER_SIZE) {
		FAIL(r, 0, "truncated file header at byte 0: needs %d bytes, %zd left",
		     RS_FILE_HEADER_SIZE, n);
		return 0;
	}
	rs_header_decode(h, &r->hdr);
	if (r->hdr.version < RS_FORMAT_VERSION_MIN || r->hdr.version > RS_FORMAT_VERSION) {
		FAIL(r, 8, "unsupported format version %u at byte 8 (this reader knows %d to %d)",
		     r->hdr.version, RS_FORMAT_VERSION_MIN, RS_FORMAT_VERSION);
		return 0;
	}
	if (r->hdr.header_size < RS_FILE_HEADER_SIZE) {
		FAIL(r, 10, "bad header size %u at byte 10 (at least %d)", r->hdr.header_size,
		     RS_FILE_HEADER_SIZE);
		return 0;
	}
	if (r->hdr.header_size > r->file_size) {
		FAIL(r, 0, "truncated file header at byte 0: needs %u bytes, %" PRIu64 " left",
		     r->hdr.header_size, r->file_size);
		return 0;
	}
	r->header_ok = 1;
	return 0;
}

static int chunk_add(struct reader *r, const struct reader_chunk *c)
{
	if (grow_array((void **)&r->chunks, &r->cap_chunks, r->nchunks, sizeof(*r->chunks)))
		return -ENOMEM;
	r->chunks[r->nchunks++] = *c;
	r->chunk_bytes += c->size;
	return 0;
}

/* Reads a chunk's header fields from the start of its payload. */
static int chunk_index(struct reader *r, uint64_t off, uint64_t payload_off, uint64_t size,
		       struct reader_chunk *c)
{
	uint8_t buf[HEAD_MAX];
	struct pp q = { 0 };
	int rc = head_read(r, off, payload_off, size, buf, &q);

	if (rc)
		return rc;
	memset(c, 0, sizeof(*c));
	c->offset = off;
	c->size = size;
	c->encoding = pp_u8(&q);
	c->tid = pp_u(&q);
	c->first_seq = pp_u(&q);
	c->first_time = pp_u(&q);
	c->raw_size = pp_u(&q);
	c->nevents = pp_u(&q);
	if (!q.ok) {
		FAIL(r, off,
		     "bad chunk header at byte %" PRIu64 ": field cut or bad varint at byte %" PRIu64,
		     off, payload_off + pp_off(&q));
		return -EINVAL;
	}
	c->body_offset = payload_off + pp_off(&q);
	c->body_size = size - pp_off(&q);
	if (c->encoding != RS_CHUNK_RAW && c->encoding != RS_CHUNK_ZSTD &&
	    (c->encoding != RS_CHUNK_STREAMS || r->hdr.version < 2)) {
		FAIL(r, payload_off, "chunk at byte %" PRIu64 ": unknown encoding %u", off, c->encoding);
		return -EINVAL;
	}
	if (!head_raw_size_ok(r, RS_REC_CHUNK, off, c->raw_size))
		return -EINVAL;
	/* an event record takes at least 4 bytes: type, size, two deltas */
	if (c->nevents > c->raw_size / 4) {
		FAIL(r, off, "chunk at byte %" PRIu64 ": %" PRIu64 " events cannot fit %" PRIu64 " bytes",
		     off, c->nevents, c->raw_size);
		return -EINVAL;
	}
	if (c->encoding == RS_CHUNK_RAW && c->body_size < c->raw_size) {
		FAIL(r, off, "chunk at byte %" PRIu64 ": raw body of %" PRIu64 " bytes, header says %" PRIu64,
		     off, c->body_size, c->raw_size);
		return -EINVAL;
	}
	return 0;
}

/*
 * Is a record running past the end of the file what an interrupted write
 * leaves (a kill -9 or a full disk cutting the shim's last write(2)), rather
 * than a damaged size field? Only if its size is one a writer can produce and
 * the trace was not ended before it: the shim writes nothing after END, except
 * after END(exec) when the exec failed.
 */
static int cut_by_eof(const struct reader *r, uint8_t type, uint64_t size)
{
	if (r->have_end && r->end.how != RS_END_EXEC)
		return 0;
	return size <= (type == RS_REC_CHUNK || type == RS_REC_SNAP_WORDS ? CHUNK_PAYLOAD_MAX : META_MAX);
}

/* A record's payload within what a writer produces: CHUNK_PAYLOAD_MAX for a
 * CHUNK or SNAP_WORDS, META_MAX for any other record read whole; else
 * fails the reader. */
static int payload_size_ok(struct reader *r, uint8_t type, uint64_t off, uint64_t size)
{
	int body = type == RS_REC_CHUNK || type == RS_REC_SNAP_WORDS;
	uint64_t max = body ? CHUNK_PAYLOAD_MAX : META_MAX;

	if (size <= max)
		return 1;
	FAIL(r, off, "%s%s at byte %" PRIu64 ": payload of %" PRIu64 " bytes exceeds the limit %" PRIu64,
	     reader_record_name(type), body ? "" : " record", off, size, max);
	return 0;
}

int reader_scan(struct reader *r, reader_record_fn fn, void *ctx)
{
	uint64_t off;

	if (!r->header_ok)
		return -EINVAL;
	off = r->hdr.header_size;
	while (off < r->file_size) {
		uint8_t hb[1 + RS_UVARINT_MAX];
		ssize_t n = read_at(r, hb, sizeof(hb), off);
		uint64_t size, left, payload_off;
		size_t k;
		struct reader_record rec;
		uint8_t type;

		if (n < 0)
			return (int)n;
		type = hb[0];
		if (type == 0) {
			FAIL(r, off, "invalid record type 0 at byte %" PRIu64 " (zero-filled data?)", off);
			return -EINVAL;
		}
		k = rs_get_uvarint(hb + 1, hb + n, &size);
		if (!k) {
			if ((size_t)n < sizeof(hb) && cut_by_eof(r, type, 0))
				FAIL_CUT(r, off, "truncated record at byte %" PRIu64 ": size field cut", off);
			else if ((size_t)n < sizeof(hb))
				FAIL(r, off, "truncated record at byte %" PRIu64 ": size field cut", off);
			else
				FAIL(r, off, "bad record size at byte %" PRIu64 ": varint too long", off);
			return -EINVAL;
		}
		payload_off = off + 1 + k;
		left = r->file_size - payload_off;
		if (size > left) {
			if (cut_by_eof(r, type, size))
				FAIL_CUT(r, off,
					 "truncated record at byte %" PRIu64 ": %s needs %" PRIu64 " bytes, %" PRIu64
					 " left",
					 off, reader_record_name(type), size, left);
			else
				FAIL(r, off,
				     "truncated record at byte %" PRIu64 ": %s needs %" PRIu64 " bytes, %" PRIu64
				     " left",
				     off, reader_record_name(type), size, left);
			return -EINVAL;
		}
		memset(&rec, 0, sizeof(rec));
		rec.offset = off;
		rec.type = type;
		rec.size = size;
		if (type == RS_REC_CHUNK) {
			struct reader_chunk c;
			int rc;

			if (!payload_size_ok(r, type, off, size))
				return -EINVAL;
			rc = chunk_index(r, off, payload_off, size, &c);
			if (rc)
				return rc;
			rc = chunk_add(r, &c);
			if (rc)
				return rc;
			rec.chunk = &r->chunks[r->nchunks - 1];
		} else if (type == RS_REC_SNAP_WORDS) {
			int rc;

			if (!payload_size_ok(r, type, off, size))
				return -EINVAL;
			rc = words_index(r, off, payload_off, size, &rec);
			if (rc)
				return rc;
		} else if ((type >= RS_REC_PROCESS && type <= RS_REC_STOPPED) || type == RS_REC_REFAPI ||
			   type == RS_REC_SNAPSHOT || type == RS_REC_SNAP_REGION ||
			   type == RS_REC_SNAPSHOT_END) {
			uint8_t *buf;
			void *scratch = NULL;
			size_t bad_at = 0;
			int rc;

			if (!payload_size_ok(r, type, off, size))
				return -EINVAL;
			buf = malloc(size ? (size_t)size : 1);
			if (!buf)
				return -ENOMEM;
			n = read_at(r, buf, (size_t)size, payload_off);
			if (n < 0 || (uint64_t)n < size) {
				free(buf);
				if (n < 0)
					return (int)n;
				FAIL(r, off, "truncated record at byte %" PRIu64 ": file shrank while reading",
				     off);
				return -EINVAL;
			}
			if (type >= RS_REC_SNAPSHOT) {
				rc = snap_apply(r, type, off, payload_off, buf, (size_t)size, &rec);
				free(buf);
				if (rc)
					return rc;
				if (fn)
					fn(ctx, &rec);
				off = payload_off + size;
				continue;
			}
			rc = meta_apply(r, type, off, buf, (size_t)size, &rec, &scratch, &bad_at);
			free(buf);
			if (rc == -EINVAL) {
				FAIL(r, off,
				     "bad %s record at byte %" PRIu64 ": field cut or bad varint at byte %" PRIu64,
				     reader_record_name(type), off, (uint64_t)(payload_off + bad_at));
				return rc;
			}
			if (rc)
				return rc;
			if (fn)
				fn(ctx, &rec);
			free(scratch);
			off = payload_off + size;
			continue;
		}
		if (type >= RS_REC_PY_SNAPSHOT && type <= RS_REC_PY_SNAPSHOT_END) {
			/* indexed only: pyobjects.c decodes them */
			if (!payload_size_ok(r, type, off, size))
				return -EINVAL;
			if (grow_array((void **)&r->pyrecs, &r->cap_pyrecs, r->npyrecs, sizeof(*r->pyrecs)))
				return -ENOMEM;
			r->pyrecs[r->npyrecs++] = (struct reader_pyrec){ off, payload_off, size, type };
		}
		/* events outside a chunk and unknown types: skipped */
		if (fn)
			fn(ctx, &rec);
		off = payload_off + size;
	}
	return 0;
}

/* ---- chunk bodies -------------------------------------------------------- */

/*
 * Decodes a STREAMS body (src, c->body_size bytes) into its expanded body of
 * raw_size bytes (see refscope_format.h).
 */
static int streams_load(struct reader *r, const struct reader_chunk *c, const uint8_t *src,
			uint8_t **out, struct reader_error *err)
{
	struct rs_pack_in in;
	uint8_t *dec[RS_PS_COUNT] = { NULL };
	const uint8_t *p = src, *end = src + c->body_size;
	uint8_t *dst = NULL;
	void *scratch = NULL;
	uint64_t total = 0;
	const char *why = NULL;
	size_t at = 0;
	unsigned shift;
	int rc = -EINVAL;
	long n;

	memset(&in, 0, sizeof(in));
	if (end - p < 2 || p[0] != RS_PS_COUNT) {
		set_error(err, c->offset, "chunk at byte %" PRIu64 ": streams header is not %d streams",
			  c->offset, RS_PS_COUNT);
		return -EINVAL;
	}
	shift = p[1];
	p += 2;
	for (unsigned i = 0; i < RS_PS_COUNT; i++) {
		uint64_t raw, stored;
		uint8_t enc;
		size_t k1, k2;

		if (p >= end)
			goto cut;
		enc = *p++;
		k1 = rs_get_uvarint(p, end, &raw);
		k2 = k1 ? rs_get_uvarint(p + k1, end, &stored) : 0;
		if (!k2)
			goto cut;
		p += k1 + k2;
		if (stored > (uint64_t)(end - p))
			goto cut;
		total += raw;
		if (raw > RS_CHUNK_MAX_RAW || total > RS_CHUNK_MAX_RAW ||
		    (enc != RS_CHUNK_RAW && enc != RS_CHUNK_ZSTD) ||
		    (enc == RS_CHUNK_RAW && stored != raw)) {
			set_error(err, c->offset,
				  "chunk at byte %" PRIu64 ": stream %u: bad encoding %u or size %" PRIu64,
				  c->offset, i, enc, raw);
			goto out;
		}
		if (enc == RS_CHUNK_RAW) {
			in.s[i] = p;
		} else {
			size_t got;

			dec[i] = malloc(raw ? (size_t)raw : 1);
			if (!dec[i]) {
				rc = -ENOMEM;
				goto out;
			}
			if (!r->zstd)
				r->zstd = ZSTD_createDCtx();
			if (!r->zstd) {
				rc = -ENOMEM;
				goto out;
			}
			got = ZSTD_decompressDCtx(r->zstd, dec[i], (size_t)raw, p, (size_t)stored);
			if (ZSTD_isError(got) || got != raw) {
				set_error(err, c->offset, "chunk at byte %" PRIu64 ": stream %u: zstd error: %s",
					  c->offset, i,
					  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
				goto out;
			}
			in.s[i] = dec[i];
		}
		in.len[i] = (size_t)raw;
		p += stored;
	}
	dst = malloc(c->raw_size ? (size_t)c->raw_size : 1);
	scratch = malloc(rs_pack_scratch_size(in.len[RS_PS_HEAD]));
	if (!dst || !scratch) {
		rc = -ENOMEM;
		goto out;
	}
	n = rs_pack_expand(&in, shift, r->hdr.version, dst, (size_t)c->raw_size, scratch, &why, &at);
	if (n < 0 || (uint64_t)n != c->raw_size) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ": packed events: %s (record at %zu of stream 0)",
			  c->offset, why ? why : "expanded body shorter than raw_size", at);
		goto out;
	}
	*out = dst;
	dst = NULL;
	rc = 0;
	goto out;
cut:
	set_error(err, c->offset, "chunk at byte %" PRIu64 ": streams cut short", c->offset);
out:
	for (unsigned i = 0; i < RS_PS_COUNT; i++)
		free(dec[i]);
	free(scratch);
	free(dst);
	return rc;
}

/* Reads and decodes a body (a chunk's or a words record's) into a fresh
 * buffer of raw_size bytes; what names the record in messages. */
static int body_load(struct reader *r, const char *what, uint64_t offset, uint8_t encoding,
		     uint64_t body_offset, uint64_t body_size, uint64_t raw_size, uint8_t **out,
		     struct reader_error *err)
{
	uint64_t want = encoding == RS_CHUNK_RAW ? raw_size : body_size;
	uint8_t *src = malloc(want ? (size_t)want : 1);
	ssize_t n;

	*out = NULL;
	if (!src)
		return -ENOMEM;
	n = read_at(r, src, (size_t)want, body_offset);
	if (n < 0) {
		free(src);
		return (int)n;
	}
	if ((uint64_t)n < want) {
		free(src);
		set_error(err, offset, "truncated record at byte %" PRIu64 ": file shrank while reading",
			  offset);
		return -EINVAL;
	}
	if (encoding == RS_CHUNK_RAW) {
		*out = src;
		return 0;
	}
	{
		uint8_t *dst = malloc(raw_size ? (size_t)raw_size : 1);
		size_t got;

		if (!dst) {
			free(src);
			return -ENOMEM;
		}
		if (!r->zstd)
			r->zstd = ZSTD_createDCtx();
		if (!r->zstd) {
			free(src);
			free(dst);
			return -ENOMEM;
		}
		got = ZSTD_decompressDCtx(r->zstd, dst, (size_t)raw_size, src, (size_t)want);
		free(src);
		if (ZSTD_isError(got)) {
			set_error(err, offset, "%s at byte %" PRIu64 ": zstd error: %s", what, offset,
				  ZSTD_getErrorName(got));
			free(dst);
			return -EINVAL;
		}
		if (got != raw_size) {
			set_error(err, offset,
				  "%s at byte %" PRIu64 ": body decodes to %zu bytes, header says %" PRIu64,
				  what, offset, got, raw_size);
			free(dst);
			return -EINVAL;
		}
		*out = dst;
	}
	return 0;
}

static int chunk_load(struct reader *r, const struct reader_chunk *c, uint8_t **out,
		      struct reader_error *err)
{
	uint8_t *src;
	int rc;

	if (c->encoding != RS_CHUNK_STREAMS)
		return body_load(r, "chunk", c->offset, c->encoding, c->body_offset, c->body_size,
				 c->raw_size, out, err);
	/* the streams as stored, then decoded and expanded */
	rc = body_load(r, "chunk", c->offset, RS_CHUNK_RAW, c->body_offset, c->body_size,
		       c->body_size, &src, err);
	if (rc)
		return rc;
	rc = streams_load(r, c, src, out, err);
	free(src);
	return rc;
}

/* ---- snapshot words ------------------------------------------------------ */

/* Appends the words of one record to *out (capacity *cap). last_loc: the
 * last location seen in this region (0 with *have_last 0: none yet). */
static int words_append(struct reader *r, const struct reader_snapshot *snap,
			const struct reader_words *w, struct reader_word **out, size_t *n, size_t *cap,
			uint64_t *last_loc, int *have_last, struct reader_error *err)
{
	const struct reader_region *g = &snap->regions[w->region_index];
	uint8_t *body;
	uint64_t loc = g->start, value = 0;
	struct pp q;
	int rc = body_load(r, "snap_words", w->offset, w->encoding, w->body_offset, w->body_size,
			   w->raw_size, &body, err);

	if (rc)
		return rc;
	if (*n + w->nwords > *cap) {
		size_t ncap = (*n + (size_t)w->nwords) * 2;
		struct reader_word *na = realloc(*out, (ncap ? ncap : 1) * sizeof(*na));

		if (!na) {
			free(body);
			return -ENOMEM;
		}
		*out = na;
		*cap = ncap;
	}
	pp_init(&q, body, (size_t)w->raw_size);
	for (uint64_t i = 0; i < w->nwords; i++) {
		size_t at = pp_off(&q);
		uint64_t dl = pp_u(&q);
		int64_t dv = pp_s(&q);

		if (!q.ok) {
			set_error(err, w->offset,
				  "snap_words at byte %" PRIu64 ", body offset %zu: word %" PRIu64
				  " cut or bad varint",
				  w->offset, at, i);
			rc = -EINVAL;
			break;
		}
		loc += dl;
		value += (uint64_t)dv;
		if (loc < g->start || loc >= g->end || loc < dl ||
		    (*have_last && loc <= *last_loc)) {
			set_error(err, w->offset,
				  "snap_words at byte %" PRIu64 ", body offset %zu: location 0x%" PRIx64
				  " %s region %" PRIu64 " [0x%" PRIx64 ", 0x%" PRIx64 ")",
				  w->offset, at, loc,
				  loc >= g->start && loc < g->end && loc >= dl ? "does not increase in" : "outside",
				  g->id, g->start, g->end);
			rc = -EINVAL;
			break;
		}
		*last_loc = loc;
		*have_last = 1;
		(*out)[*n].loc = loc;
		(*out)[*n].value = value;
		(*out)[*n].region = w->region_index;
		(*n)++;
	}
	if (rc == 0 && q.p != q.end) {
		set_error(err, w->offset,
			  "snap_words at byte %" PRIu64 ": %zu bytes left after %" PRIu64 " words",
			  w->offset, (size_t)(q.end - q.p), w->nwords);
		rc = -EINVAL;
	}
	free(body);
	return rc;
}

int reader_words_decode(struct reader *r, const struct reader_words *w, struct reader_word **out,
			size_t *n, struct reader_error *err)
{
	const struct reader_snapshot *snap = snapshot_find(r, w->snapshot);
	uint64_t last = 0;
	int have = 0;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!snap)
		return -EINVAL;
	return words_append(r, snap, w, out, n, &cap, &last, &have, err);
}

int reader_snapshot_words(struct reader *r, size_t i, struct reader_word **out, size_t *n)
{
	const struct reader_snapshot *snap;
	uint64_t *last;
	int *have;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (i >= r->nsnapshots)
		return -EINVAL;
	snap = &r->snapshots[i];
	last = calloc(snap->nregions ? snap->nregions : 1, sizeof(*last));
	have = calloc(snap->nregions ? snap->nregions : 1, sizeof(*have));
	if (!last || !have) {
		free(last);
		free(have);
		return -ENOMEM;
	}
	for (size_t k = 0; k < snap->nwords_recs && rc == 0; k++) {
		const struct reader_words *w = &snap->words[k];
		struct reader_error err;

		rc = words_append(r, snap, w, out, n, &cap, &last[w->region_index],
				  &have[w->region_index], &err);
		if (rc == -EINVAL)
			FAIL(r, err.offset, "%s", err.message);
	}
	free(last);
	free(have);
	return rc;
}

size_t reader_nsnapshots(const struct reader *r)
{
	return r->nsnapshots;
}

const struct reader_snapshot *reader_snapshot(const struct reader *r, size_t i)
{
	return i < r->nsnapshots ? &r->snapshots[i] : NULL;
}

static void cursor_init(struct cursor *cur, const struct reader_chunk *c, uint8_t *body, unsigned version)
{
	memset(cur, 0, sizeof(*cur));
	cur->c = c;
	cur->body = body;
	cur->len = (size_t)c->raw_size;
	cur->stamps = version >= RS_FORMAT_STAMPS;
	cur->next_min = c->first_seq;
	cur->prev_seq = c->first_seq;
	cur->prev_time = c->first_time;
	cur->prev_addr = 0;
}

/*
 * Decodes the record at the cursor into rec (events into *ev, metadata
 * applied to the reader). Returns 1 for a record, 0 at the end of the body,
 * -EINVAL with err set, or -ENOMEM. *scratch: memory to free after use.
 */
/*
 * The common end of an event in a chunk: its fields parsed whole, its seq
 * delta not overflowing. Moves the cursor's seq and time on (and its
 * address when the event carries one: has_addr), counts the event and
 * hands it to rec. ev NULL: an event of a type this reader does not know,
 * only counted. Returns 1, or -EINVAL with err set.
 */
static inline int event_done(struct cursor *cur, uint64_t at, uint8_t type, const struct pp *q, uint64_t ds,
			     uint64_t dt, int has_addr, struct reader_event *ev, struct reader_record *rec,
			     struct reader_error *err)
{
	const struct reader_chunk *c = cur->c;

	if (!q->ok && ev) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64
			  ": %s event cut or bad varint at field offset %zu",
			  c->offset, at, reader_record_name(type), pp_off(q));
		return -EINVAL;
	}
	if (!q->ok) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64
			  ": unknown event type %u cut or bad varint at field offset %zu",
			  c->offset, at, type, pp_off(q));
		return -EINVAL;
	}
	/* version 3: the seq depends on the time; the next must be above it */
	if (cur->stamps ? cur->prev_time + dt < cur->prev_time ||
			  rs_seq_v3(cur->next_min, cur->prev_time + dt, ds, &cur->prev_seq) ||
			  cur->prev_seq == UINT64_MAX :
			  cur->prev_seq + ds < cur->prev_seq) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64 ": sequence number overflows", c->offset,
			  at);
		return -EINVAL;
	}
	if (!cur->stamps)
		cur->prev_seq += ds;
	cur->next_min = cur->prev_seq + 1;
	cur->prev_time += dt;
	cur->events++;
	if (!ev)
		return 1;
	if (has_addr)
		cur->prev_addr = ev->addr;
	ev->seq = cur->prev_seq;
	ev->time = cur->prev_time;
	rec->event = ev;
	return 1;
}

static int cursor_step(struct reader *r, struct cursor *cur, struct reader_record *rec,
		       struct reader_event *ev, void **scratch, struct reader_error *err)
{
	const struct reader_chunk *c = cur->c;
	const uint8_t *p = cur->body + cur->pos;
	const uint8_t *end = cur->body + cur->len;
	uint64_t size, at = cur->pos;
	size_t k;
	uint8_t type;
	struct pp q;

	*scratch = NULL;
	if (cur->pos >= cur->len) {
		if (cur->events != c->nevents) {
			set_error(err, c->offset,
				  "chunk at byte %" PRIu64 ": body has %" PRIu64 " events, header says %" PRIu64,
				  c->offset, cur->events, c->nevents);
			return -EINVAL;
		}
		return 0;
	}
	type = *p;
	if (type == 0) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64 ": invalid record type 0",
			  c->offset, at);
		return -EINVAL;
	}
	k = rs_get_uvarint(p + 1, end, &size);
	if (!k || size > (uint64_t)(end - (p + 1 + k))) {
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64 ": truncated %s record%s",
			  c->offset, at, reader_record_name(type), k ? "" : " (size field)");
		return -EINVAL;
	}
	memset(rec, 0, sizeof(*rec));
	rec->offset = at;
	rec->type = type;
	rec->size = size;
	p += 1 + k;
	cur->pos = (size_t)(p - cur->body) + (size_t)size;
	pp_init(&q, p, (size_t)size);

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->tid = c->tid;
	switch (type) {
	case RS_EV_ALLOC:
	case RS_EV_FREE:
	case RS_EV_ALLOC_FAILED:
	case RS_EV_THREAD_START:
	case RS_EV_THREAD_EXIT: {
		uint64_t ds = pp_u(&q), dt = pp_u(&q);

		if (type == RS_EV_ALLOC || type == RS_EV_FREE)
			ev->addr = cur->prev_addr + (uint64_t)pp_s(&q);
		if (type == RS_EV_ALLOC || type == RS_EV_ALLOC_FAILED)
			ev->size = pp_u(&q);
		if (type != RS_EV_THREAD_START && type != RS_EV_THREAD_EXIT) {
			ev->stack = pp_u(&q);
			ev->kind = pp_u(&q);
		}
		if (type == RS_EV_ALLOC)
			ev->alignment = pp_u(&q);
		if (type == RS_EV_ALLOC_FAILED)
			ev->old = pp_u(&q);
		if (type == RS_EV_THREAD_START)
			ev->creator_tid = pp_u(&q);
		return event_done(cur, at, type, &q, ds, dt, type == RS_EV_ALLOC || type == RS_EV_FREE, ev, rec,
				  err);
	}
	case RS_EV_RETAIN:
	case RS_EV_RELEASE: {
		uint64_t ds = pp_u(&q), dt = pp_u(&q);

		ev->addr = cur->prev_addr + (uint64_t)pp_s(&q);
		ev->stack = pp_u(&q);
		ev->api = pp_u(&q);
		ev->fn = pp_u(&q);
		return event_done(cur, at, type, &q, ds, dt, 1, ev, rec, err);
	}
	case RS_REC_CHUNK:
		set_error(err, c->offset,
			  "chunk at byte %" PRIu64 ", body offset %" PRIu64 ": chunk inside a chunk",
			  c->offset, at);
		return -EINVAL;
	default: {
		size_t bad_at = 0;
		int rc;

		/* an event of a type this reader does not know: skipped by
		 * its size, but its common head keeps the seq and time state
		 * of the events after it, and it counts in nevents */
		if (rs_is_event_type(type)) {
			uint64_t ds = pp_u(&q), dt = pp_u(&q);

			return event_done(cur, at, type, &q, ds, dt, 0, NULL, rec, err);
		}
		/* unknown types, and snapshot records, which belong at top
		 * level: skipped. A REFAPI is applied wherever it is met. */
		if (type >= RS_EV_ALLOC && type != RS_REC_REFAPI)
			return 1;
		rc = meta_apply(r, type, c->offset, p, (size_t)size, rec, scratch, &bad_at);
		if (rc == -EINVAL)
			set_error(err, c->offset,
				  "chunk at byte %" PRIu64 ", body offset %" PRIu64
				  ": bad %s record, field cut or bad varint at field offset %zu",
				  c->offset, at, reader_record_name(type), bad_at);
		return rc ? rc : 1;
	}
	}
}

int reader_chunk_walk(struct reader *r, size_t i, reader_record_fn fn, void *ctx,
		      struct reader_error *err)
{
	struct cursor cur;
	uint8_t *body;
	int rc;

	if (i >= r->nchunks)
		return -EINVAL;
	rc = chunk_load(r, &r->chunks[i], &body, err);
	if (rc)
		return rc;
	cursor_init(&cur, &r->chunks[i], body, r->hdr.version);
	for (;;) {
		struct reader_record rec;
		struct reader_event ev;
		void *scratch;

		rc = cursor_step(r, &cur, &rec, &ev, &scratch, err);
		if (rc <= 0)
			break;
		if (fn)
			fn(ctx, &rec);
		free(scratch);
	}
	free(body);
	return rc;
}

/* ---- pass 2: the merge --------------------------------------------------- */

static int cursor_before(const struct cursor *a, const struct cursor *b)
{
	if (a->next.seq != b->next.seq)
		return a->next.seq < b->next.seq;
	/* equal seqs: events of different threads with one stamp (version 3),
	 * which may come in either order, or damage: file order */
	return a->c->offset < b->c->offset;
}

static void heap_push(struct reader *r, struct cursor *cur)
{
	size_t i = r->nheap++;

	r->heap[i] = cur;
	if (r->nheap > r->peak_active)
		r->peak_active = r->nheap;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!cursor_before(r->heap[i], r->heap[parent]))
			break;
		r->heap[i] = r->heap[parent];
		r->heap[parent] = cur;
		i = parent;
	}
}

static struct cursor *heap_pop(struct reader *r)
{
	struct cursor *top = r->heap[0];
	size_t i = 0;

	r->heap[0] = r->heap[--r->nheap];
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < r->nheap && cursor_before(r->heap[l], r->heap[m]))
			m = l;
		if (l + 1 < r->nheap && cursor_before(r->heap[l + 1], r->heap[m]))
			m = l + 1;
		if (m == i)
			break;
		struct cursor *t = r->heap[i];

		r->heap[i] = r->heap[m];
		r->heap[m] = t;
		i = m;
	}
	return top;
}

static void cursor_free(struct reader *r, struct cursor *cur)
{
	if (cur) {
		r->held -= cur->len;
		free(cur->body);
		free(cur);
	}
}

/* Moves the cursor to its next event. Returns 1 (cur->next set), 0 (body
 * done), or an error (reader error set for -EINVAL). */
static int cursor_advance(struct reader *r, struct cursor *cur)
{
	for (;;) {
		struct reader_record rec;
		struct reader_event ev;
		struct reader_error err;
		void *scratch;
		int rc = cursor_step(r, cur, &rec, &ev, &scratch, &err);

		free(scratch);
		if (rc == -EINVAL) {
			FAIL(r, err.offset, "%s", err.message);
			return rc;
		}
		if (rc <= 0)
			return rc;
		if (rec.event) {
			cur->next = ev;
			return 1;
		}
	}
}

static int chunk_order_cmp(const void *a, const void *b, void *arg)
{
	const struct reader_chunk *chunks = arg;
	const struct reader_chunk *x = &chunks[*(const size_t *)a];
	const struct reader_chunk *y = &chunks[*(const size_t *)b];

	if (x->first_seq != y->first_seq)
		return x->first_seq < y->first_seq ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int merge_start(struct reader *r)
{
	r->order = malloc((r->nchunks ? r->nchunks : 1) * sizeof(*r->order));
	r->heap = malloc((r->nchunks ? r->nchunks : 1) * sizeof(*r->heap));
	if (!r->order || !r->heap)
		return -ENOMEM;
	for (size_t i = 0; i < r->nchunks; i++)
		r->order[i] = i;
	qsort_r(r->order, r->nchunks, sizeof(*r->order), chunk_order_cmp, r->chunks);
	r->merging = 1;
	return 0;
}

int reader_next(struct reader *r, struct reader_event *ev)
{
	struct cursor *cur;
	int rc;

	if (r->merge_done)
		return 0;
	if (!r->merging) {
		rc = merge_start(r);
		if (rc)
			return rc;
	}
	for (;;) {
		/* a pending chunk's events all have seq >= its first_seq, so it
		 * can wait while that is above the smallest seq on the heap */
		while (r->next_pending < r->nchunks &&
		       (r->nheap == 0 ||
			r->chunks[r->order[r->next_pending]].first_seq <= r->heap[0]->next.seq)) {
			const struct reader_chunk *c = &r->chunks[r->order[r->next_pending++]];
			struct reader_error err;
			uint8_t *body;

			/* chunks are taken in seq order, not file order (a thread
			 * that flushes late has early events at the end of the
			 * file), so progress counts chunk bytes taken */
			r->chunk_bytes_done += c->size;
			if (c->raw_size > r->held_limit - r->held) {
				FAIL(r, c->offset,
				     "chunk at byte %" PRIu64 ": merging it would hold %" PRIu64
				     " bytes of decoded chunks at once (limit %" PRIu64
				     "): too many chunks overlap in sequence numbers",
				     c->offset, r->held + c->raw_size, r->held_limit);
				r->merge_done = 1;
				return 0;
			}
			rc = chunk_load(r, c, &body, &err);
			if (rc == -EINVAL) {
				FAIL(r, err.offset, "%s", err.message);
				r->merge_done = 1;
				return 0;
			}
			if (rc)
				return rc;
			cur = malloc(sizeof(*cur));
			if (!cur) {
				free(body);
				return -ENOMEM;
			}
			cursor_init(cur, c, body, r->hdr.version);
			r->held += cur->len;
			rc = cursor_advance(r, cur);
			if (rc == 1) {
				heap_push(r, cur);
				continue;
			}
			cursor_free(r, cur);
			if (rc == 0)
				continue;
			if (rc == -EINVAL) {
				r->merge_done = 1;
				return 0;
			}
			return rc;
		}
		if (r->nheap == 0) {
			r->merge_done = 1;
			return 0;
		}
		cur = heap_pop(r);
		*ev = cur->next;
		rc = cursor_advance(r, cur);
		if (rc == 1) {
			heap_push(r, cur);
		} else {
			cursor_free(r, cur);
			if (rc == -EINVAL) {
				/* the event in hand came before the damage */
				r->merge_done = 1;
				return 1;
			}
			if (rc < 0)
				return rc;
		}
		return 1;
	}
}

/* ---- accessors ----------------------------------------------------------- */

const struct reader_error *reader_error(const struct reader *r)
{
	return r->have_error ? &r->err : NULL;
}

const struct rs_file_header *reader_header(const struct reader *r)
{
	return &r->hdr;
}

const struct reader_process *reader_process(const struct reader *r)
{
	return r->have_process ? &r->process : NULL;
}

const struct reader_module *reader_modules(const struct reader *r, size_t *n)
{
	*n = r->nmodules;
	return r->modules;
}

const struct reader_end *reader_end(const struct reader *r)
{
	return r->have_end ? &r->end : NULL;
}

const struct reader_stopped *reader_stopped(const struct reader *r)
{
	return r->have_stopped ? &r->stopped : NULL;
}

size_t reader_nchunks(const struct reader *r)
{
	return r->nchunks;
}

const struct reader_chunk *reader_chunk(const struct reader *r, size_t i)
{
	return i < r->nchunks ? &r->chunks[i] : NULL;
}

uint64_t reader_file_size(const struct reader *r)
{
	return r->file_size;
}

size_t reader_peak_active(const struct reader *r)
{
	return r->peak_active;
}

void reader_set_held_limit(struct reader *r, uint64_t bytes)
{
	r->held_limit = bytes;
}

uint64_t reader_progress(const struct reader *r)
{
	if (r->merge_done || r->chunk_bytes == 0)
		return r->file_size;
	return (uint64_t)((double)r->chunk_bytes_done / (double)r->chunk_bytes * (double)r->file_size);
}

void reader_close(struct reader *r)
{
	struct stack_entry *e, *tmp;

	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	process_clear(&r->process);
	for (size_t i = 0; i < r->nmodules; i++)
		module_clear(&r->modules[i]);
	free(r->modules);
	free(r->chunks);
	for (size_t i = 0; i < r->nrefapis; i++)
		refapi_clear(&r->refapis[i]);
	free(r->refapis);
	for (size_t i = 0; i < r->nsnapshots; i++)
		snapshot_clear(&r->snapshots[i]);
	free(r->snapshots);
	id_free(&r->snapshot_ids);
	id_free(&r->region_ids);
	id_free(&r->refapi_ids);
	id_free(&r->module_heads);
	free(r->module_prev);
	free(r->pyrecs);
	HASH_ITER(hh, r->stacks, e, tmp) {
		HASH_DEL(r->stacks, e);
		free(e->ips);
		free(e);
	}
	for (size_t i = 0; i < r->nheap; i++)
		cursor_free(r, r->heap[i]);
	free(r->heap);
	free(r->order);
	ZSTD_freeDCtx(r->zstd);
	free(r);
}

const struct reader_pyrec *reader_pyrecs(const struct reader *r, size_t *n)
{
	*n = r->npyrecs;
	return r->pyrecs;
}

int reader_payload(struct reader *r, const struct reader_pyrec *rec, uint8_t **out)
{
	uint8_t *buf = malloc(rec->size ? (size_t)rec->size : 1);
	ssize_t n;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	n = read_at(r, buf, (size_t)rec->size, rec->payload_offset);
	if (n < 0 || (uint64_t)n < rec->size) {
		free(buf);
		return n < 0 ? (int)n : -EINVAL;
	}
	*out = buf;
	return 0;
}
