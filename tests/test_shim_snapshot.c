/*
 * test_shim_snapshot.c - heap snapshots written by the shim: samples run
 * under LD_PRELOAD, their traces decoded here (SNAPSHOT, SNAP_REGION,
 * SNAP_WORDS, SNAPSHOT_END by a decoder of this file; events by
 * test_shim_util's), and the snapshot engine driven directly.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "options.h"
#include "ownmem.h"
#include "refscope_format.h"
#include "snapshot.h"
#include "test_shim_util.h"
#include "writer.h"

/* ---- decoding the snapshot records ---------------------------------------- */

struct sword {
	uint64_t loc, val;
};

struct sregion {
	uint64_t snap, id, start, end, kind, tid;
	char name[512];
	struct sword *w;
	size_t nw;
};

struct ssnap {
	uint64_t id, seq, time, trigger, tid;
	int ended;
	uint64_t regions, words, bytes, duration;
	size_t nregions_seen;
};

struct strace {
	struct ssnap s[64];
	size_t ns;
	struct sregion *r;
	size_t nr;
	size_t bad;	/* records that did not decode, or words for unknown regions */
	uint64_t shim_lo[8], shim_hi[8];	/* librefscope.so's writable segments */
	size_t nshim;
};

static int uv(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	size_t n = rs_get_uvarint(*p, end, v);

	*p += n;
	return n ? 0 : -1;
}

static struct sregion *find_region(struct strace *t, uint64_t snap, uint64_t id)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->r[i].snap == snap && t->r[i].id == id)
			return &t->r[i];
	return NULL;
}

static void dec_words(struct strace *t, const uint8_t *p, const uint8_t *end)
{
	uint64_t snap, rid, raw, nw, loc, val = 0, v;
	uint8_t enc;
	uint8_t *body;
	const uint8_t *q, *qe;
	struct sregion *r;

	if (uv(&p, end, &snap) || uv(&p, end, &rid) || p >= end) {
		t->bad++;
		return;
	}
	enc = *p++;
	if (uv(&p, end, &raw) || uv(&p, end, &nw) || raw > RS_CHUNK_MAX_RAW) {
		t->bad++;
		return;
	}
	r = find_region(t, snap, rid);
	if (!r) {
		t->bad++;
		return;
	}
	body = malloc(raw + 1);
	if (enc == RS_CHUNK_ZSTD) {
		size_t z = ZSTD_decompress(body, raw, p, (size_t)(end - p));

		if (ZSTD_isError(z) || z != raw) {
			t->bad++;
			free(body);
			return;
		}
	} else {
		if ((uint64_t)(end - p) != raw) {
			t->bad++;
			free(body);
			return;
		}
		memcpy(body, p, raw);
	}
	r->w = realloc(r->w, (r->nw + nw) * sizeof(*r->w));
	loc = r->start;
	q = body;
	qe = body + raw;
	for (uint64_t i = 0; i < nw; i++) {
		int64_t sv;
		size_t n;

		if (uv(&q, qe, &v)) {
			t->bad++;
			break;
		}
		loc += v;
		n = rs_get_svarint(q, qe, &sv);
		if (!n) {
			t->bad++;
			break;
		}
		q += n;
		val += (uint64_t)sv;
		r->w[r->nw].loc = loc;
		r->w[r->nw].val = val;
		r->nw++;
	}
	if (q != qe)
		t->bad++;
	free(body);
}

static int strace_file(struct strace *t, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;
	const uint8_t *p, *end;

	memset(t, 0, sizeof(*t));
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	buf = malloc((size_t)st.st_size + 1);
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(buf);
		return -1;
	}
	close(fd);
	if ((size_t)st.st_size < RS_FILE_HEADER_SIZE || memcmp(buf, RS_MAGIC, RS_MAGIC_LEN)) {
		free(buf);
		return -1;
	}
	p = buf + rs_get_le16(buf + 10);
	end = buf + st.st_size;
	while (p < end) {
		uint8_t type = *p++;
		uint64_t size;
		const uint8_t *q, *rend;

		if (uv(&p, end, &size) || p + size > end)
			break;	/* a cut record at the end: what came before counts */
		q = p;
		rend = p + size;
		p = rend;
		if (type == RS_REC_MODULE) {
			uint64_t seq, base, plen, blen, nseg, va, sz, fl;
			int shim;

			if (uv(&q, rend, &seq) || uv(&q, rend, &base) || uv(&q, rend, &plen) ||
			    q + plen > rend)
				continue;
			shim = plen >= 14 && !memcmp(q + plen - 14, "librefscope.so", 14);
			q += plen;
			if (uv(&q, rend, &blen) || q + blen > rend)
				continue;
			q += blen;
			if (uv(&q, rend, &nseg))
				continue;
			for (uint64_t i = 0; i < nseg; i++) {
				if (uv(&q, rend, &va) || uv(&q, rend, &sz) || uv(&q, rend, &fl))
					break;
				if (shim && (fl & 2) && t->nshim < 8) {	/* PF_W */
					t->shim_lo[t->nshim] = (base + va) & ~4095ull;
					t->shim_hi[t->nshim++] = (base + va + sz + 4095) & ~4095ull;
				}
			}
		} else if (type == RS_REC_SNAPSHOT && t->ns < 64) {
			struct ssnap *s = &t->s[t->ns++];

			memset(s, 0, sizeof(*s));
			if (uv(&q, rend, &s->id) || uv(&q, rend, &s->seq) || uv(&q, rend, &s->time) ||
			    uv(&q, rend, &s->trigger) || uv(&q, rend, &s->tid))
				t->bad++;
		} else if (type == RS_REC_SNAP_REGION) {
			struct sregion *r;
			uint64_t nlen;

			t->r = realloc(t->r, (t->nr + 1) * sizeof(*t->r));
			r = &t->r[t->nr++];
			memset(r, 0, sizeof(*r));
			if (uv(&q, rend, &r->snap) || uv(&q, rend, &r->id) || uv(&q, rend, &r->start) ||
			    uv(&q, rend, &r->end) || uv(&q, rend, &r->kind) || uv(&q, rend, &r->tid) ||
			    uv(&q, rend, &nlen) || q + nlen > rend) {
				t->bad++;
				continue;
			}
			memcpy(r->name, q, nlen < sizeof(r->name) - 1 ? nlen : sizeof(r->name) - 1);
			for (size_t i = 0; i < t->ns; i++)
				if (t->s[i].id == r->snap)
					t->s[i].nregions_seen++;
		} else if (type == RS_REC_SNAP_WORDS) {
			dec_words(t, q, rend);
		} else if (type == RS_REC_SNAPSHOT_END) {
			uint64_t id;

			if (uv(&q, rend, &id)) {
				t->bad++;
				continue;
			}
			for (size_t i = 0; i < t->ns; i++) {
				struct ssnap *s = &t->s[i];

				if (s->id != id)
					continue;
				s->ended = 1;
				if (uv(&q, rend, &s->regions) || uv(&q, rend, &s->words) ||
				    uv(&q, rend, &s->bytes) || uv(&q, rend, &s->duration))
					t->bad++;
			}
		}
	}
	free(buf);
	return 0;
}

static void strace_free(struct strace *t)
{
	for (size_t i = 0; i < t->nr; i++)
		free(t->r[i].w);
	free(t->r);
}

/* Words of snapshot `snap` kept, over all its regions. */
static uint64_t words_of(const struct strace *t, uint64_t snap)
{
	uint64_t n = 0;

	for (size_t i = 0; i < t->nr; i++)
		if (t->r[i].snap == snap)
			n += t->r[i].nw;
	return n;
}

/* Is there a word at loc holding val in snapshot snap? Returns its region. */
static const struct sregion *has_word(const struct strace *t, uint64_t snap, uint64_t loc,
				      uint64_t val)
{
	for (size_t i = 0; i < t->nr; i++) {
		if (t->r[i].snap != snap || loc < t->r[i].start || loc >= t->r[i].end)
			continue;
		for (size_t k = 0; k < t->r[i].nw; k++)
			if (t->r[i].w[k].loc == loc && t->r[i].w[k].val == val)
				return &t->r[i];
	}
	return NULL;
}

/* The region of snapshot snap that holds a word with value val, of a kind. */
static const struct sregion *word_to(const struct strace *t, uint64_t snap, uint64_t val,
				     uint64_t kind)
{
	for (size_t i = 0; i < t->nr; i++) {
		if (t->r[i].snap != snap || t->r[i].kind != kind)
			continue;
		for (size_t k = 0; k < t->r[i].nw; k++)
			if (t->r[i].w[k].val == val)
				return &t->r[i];
	}
	return NULL;
}

/* ---- running samples -------------------------------------------------------- */

static char dir[] = "/tmp/refscope-test-snap-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

struct child {
	pid_t pid;
	int in, out;	/* its stdin (ours to write/close), its stdout */
};

static void start(struct child *c, char *const argv[], const char *const env[], int preload)
{
	int pin[2], pout[2];

	cr_assert_eq(pipe(pin), 0);
	cr_assert_eq(pipe(pout), 0);
	c->pid = fork();
	cr_assert_geq(c->pid, 0);
	if (c->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		unsetenv("LD_PRELOAD");
		if (preload)
			setenv("LD_PRELOAD", RS_BUILD_DIR "/librefscope.so", 1);
		setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		unsetenv("REFSCOPE_DISABLE");
		unsetenv("REFSCOPE_SNAPSHOT");
		unsetenv("REFSCOPE_SNAPSHOT_SIGNAL");
		unsetenv("REFSCOPE_SNAPSHOT_INTERVAL");
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = pout[0];
}

/* Reads its stdout until EOF (or until `until` shows up, when given). */
static void read_out(struct child *c, char *out, size_t cap, const char *until)
{
	size_t got = strlen(out);
	ssize_t n;

	while (got < cap - 1 && (n = read(c->out, out + got, cap - 1 - got)) > 0) {
		got += (size_t)n;
		out[got] = 0;
		if (until && strstr(out, until))
			return;
	}
	out[got] = 0;
}

static int finish(struct child *c, char *out, size_t cap)
{
	int st;

	if (c->in >= 0)
		close(c->in);
	read_out(c, out, cap, NULL);
	close(c->out);
	cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
	return st;
}

static int run(char *const argv[], const char *const env[], int preload, char *out, size_t cap)
{
	struct child c;

	out[0] = 0;
	start(&c, argv, env, preload);
	return finish(&c, out, cap);
}

/* The path of the only trace in dir (of the pid when given). */
static void trace_path(char *path, size_t cap, pid_t pid)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	int found = 0;
	char want[32];

	snprintf(want, sizeof(want), ".%d.trace", (int)pid);
	cr_assert_not_null(dd);
	while ((e = readdir(dd)) != NULL) {
		if (strncmp(e->d_name, "refscope.", 9) != 0)
			continue;
		if (pid && !strstr(e->d_name, want))
			continue;
		found++;
		snprintf(path, cap, "%s/%s", dir, e->d_name);
	}
	closedir(dd);
	cr_assert_eq(found, 1, "one trace expected, %d found", found);
}

static void load(struct strace *t, struct tdec *d, pid_t pid)
{
	char path[512];

	trace_path(path, sizeof(path), pid);
	cr_assert_eq(strace_file(t, path), 0);
	cr_assert_eq(t->bad, 0, "every snapshot record decodes");
	if (d)
		cr_assert_eq(tdec_file(d, path, NULL), 0);
}

/* Every snapshot is complete and self-consistent; ids are 0, 1, ... */
static void check_complete(const struct strace *t)
{
	for (size_t i = 0; i < t->ns; i++) {
		const struct ssnap *s = &t->s[i];

		cr_assert_eq(s->id, i, "snapshot ids count from 0 in order");
		cr_assert(s->ended, "snapshot %zu has its SNAPSHOT_END", i);
		cr_assert_eq(s->regions, s->nregions_seen, "snapshot %zu: region count", i);
		cr_assert_eq(s->words, words_of(t, s->id), "snapshot %zu: word count", i);
		cr_assert_gt(s->regions, 3);
		cr_assert_gt(s->bytes, 0);
	}
	/* regions of one snapshot never overlap */
	for (size_t i = 0; i < t->nr; i++)
		for (size_t j = i + 1; j < t->nr; j++)
			if (t->r[i].snap == t->r[j].snap)
				cr_assert(t->r[i].end <= t->r[j].start || t->r[j].end <= t->r[i].start,
					  "regions %lu and %lu overlap", (unsigned long)t->r[i].id,
					  (unsigned long)t->r[j].id);
}

/* The n-th ALLOC of a given size. */
static uint64_t alloc_addr(const struct tdec *d, uint64_t size, size_t nth)
{
	for (size_t i = 0; i < tdec_count(d, RS_EV_ALLOC); i++) {
		const struct trec *a = tdec_nth(d, RS_EV_ALLOC, i);

		if (a->size == size && nth-- == 0)
			return a->addr;
	}
	return 0;
}

static const char *sample(const char *name)
{
	static char path[8][512];
	static int k;

	k = (k + 1) % 8;
	snprintf(path[k], sizeof(path[k]), "%s/samples/%s", RS_BUILD_DIR, name);
	return path[k];
}

/* ---- end to end -------------------------------------------------------------- */

Test(shim_snapshot, exit_snapshot_holds_the_leaked_cycle, .init = setup, .fini = teardown)
{
	char *argv[] = { (char *)sample("cycle2"), NULL };
	char out[64];
	struct strace t;
	struct tdec d = { 0 };
	uint64_t a, b, pa, pb;
	const struct sregion *r;

	cr_assert_eq(run(argv, NULL, 1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
	load(&t, &d, 0);
	cr_assert_eq(t.ns, 1, "one snapshot, at exit");
	check_complete(&t);
	cr_assert_eq(t.s[0].trigger, RS_SNAP_EXIT);
	cr_assert_eq(t.s[0].tid, tdec_nth(&d, RS_REC_PROCESS, 0)->pid, "main thread scans");
	a = alloc_addr(&d, 48, 0);
	b = alloc_addr(&d, 48, 1);
	pa = alloc_addr(&d, 16, 0);
	pb = alloc_addr(&d, 16, 1);
	cr_assert(a && b && pa && pb);
	/* a->next = b, b->next = a, and each node's payload pointer */
	r = has_word(&t, 0, a, b);
	cr_assert_not_null(r, "a->next == b is in the snapshot");
	cr_assert_eq(r->kind, RS_REGION_ANON);
	cr_assert_str_eq(r->name, "[heap]");
	cr_assert_not_null(has_word(&t, 0, b, a), "b->next == a is in the snapshot");
	cr_assert_not_null(has_word(&t, 0, a + 8, pa));
	cr_assert_not_null(has_word(&t, 0, b + 8, pb));
	/* nothing outside the heap points at the cycle: it is garbage */
	cr_assert_null(word_to(&t, 0, a, RS_REGION_DATA));
	cr_assert_null(word_to(&t, 0, b, RS_REGION_DATA));
	cr_assert_null(word_to(&t, 0, a, RS_REGION_STACK));
	cr_assert_null(word_to(&t, 0, b, RS_REGION_STACK));
	/* the snapshot sees every event: its seq is past every event's, and
	 * END (written after it) is not below it */
	for (size_t i = 0; i < d.n; i++)
		if (d.r[i].in_chunk && rs_is_event_type(d.r[i].type))
			cr_assert_lt(d.r[i].seq, t.s[0].seq, "record %zu", i);
	cr_assert_leq(t.s[0].seq, tdec_nth(&d, RS_REC_END, 0)->seq);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	strace_free(&t);
	tdec_free(&d);
}

Test(shim_snapshot, regions_are_data_stack_tls_and_never_the_shim, .init = setup,
     .fini = teardown)
{
	char *argv[] = { (char *)sample("cycle_kept"), NULL };
	char out[64], exe[PATH_MAX];
	struct strace t;
	struct tdec d = { 0 };
	uint32_t pid;
	int exe_data = 0, stack = 0, tls = 0, heap = 0;
	uint64_t a, b;
	const struct sregion *r;

	cr_assert_eq(run(argv, NULL, 1, out, sizeof(out)), 0);
	load(&t, &d, 0);
	pid = (uint32_t)tdec_nth(&d, RS_REC_PROCESS, 0)->pid;
	cr_assert_not_null(realpath(argv[0], exe));
	cr_assert_eq(t.ns, 1);
	check_complete(&t);
	for (size_t i = 0; i < t.nr; i++) {
		const struct sregion *x = &t.r[i];

		cr_assert(x->kind >= RS_REGION_DATA && x->kind <= RS_REGION_ANON);
		cr_assert_null(strstr(x->name, "librefscope"), "the shim's data is never scanned");
		for (size_t k = 0; k < t.nshim; k++)
			cr_assert(x->end <= t.shim_lo[k] || x->start >= t.shim_hi[k],
				  "region %lx-%lx overlaps the shim's data and .bss",
				  (unsigned long)x->start, (unsigned long)x->end);
		exe_data += x->kind == RS_REGION_DATA && !strcmp(x->name, exe);
		stack += x->kind == RS_REGION_STACK && x->tid == pid && !strcmp(x->name, "[stack]");
		tls += x->kind == RS_REGION_TLS && x->tid == pid;
		heap += x->kind == RS_REGION_ANON && !strcmp(x->name, "[heap]");
		if (x->kind != RS_REGION_STACK && x->kind != RS_REGION_TLS)
			cr_assert_eq(x->tid, 0);
	}
	cr_assert_eq(t.nshim, 1, "librefscope.so has one writable segment");
	cr_assert_eq(exe_data, 1, "the executable's data+bss is one region");
	cr_assert_eq(stack, 1, "the scanning thread's stack");
	cr_assert_geq(tls, 1, "the scanning thread's TLS (libc has some)");
	cr_assert_eq(heap, 1);
	/* the reachable cycle: kept -> a (from the executable's .bss), a <-> b */
	a = alloc_addr(&d, 16, 0);
	b = alloc_addr(&d, 16, 1);
	r = word_to(&t, 0, a, RS_REGION_DATA);
	cr_assert_not_null(r, "the global `kept` points at a");
	cr_assert_str_eq(r->name, exe);
	cr_assert_not_null(has_word(&t, 0, a, b));
	cr_assert_not_null(has_word(&t, 0, b, a));
	strace_free(&t);
	tdec_free(&d);
}

Test(shim_snapshot, disabled_by_environment, .init = setup, .fini = teardown)
{
	char *argv[] = { (char *)sample("cycle2"), NULL };
	const char *env[] = { "REFSCOPE_SNAPSHOT=0", NULL };
	char out[64];
	struct strace t;
	struct tdec d = { 0 };

	cr_assert_eq(run(argv, env, 1, out, sizeof(out)), 0);
	load(&t, &d, 0);
	cr_assert_eq(t.ns, 0);
	cr_assert_eq(t.nr, 0);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	cr_assert_eq(tdec_count(&d, RS_EV_ALLOC), 20, "2 nodes, 2 payloads, 16 scratch");
	strace_free(&t);
	tdec_free(&d);
}

Test(shim_snapshot, refscope_snapshot_on_request, .init = setup, .fini = teardown)
{
	char *argv[] = { (char *)sample("snapshots"), NULL };
	char out[128];
	struct strace t;
	struct tdec d = { 0 };
	uint64_t n[3];
	uint32_t pid;

	cr_assert_eq(run(argv, NULL, 1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\n");
	load(&t, &d, 0);
	pid = (uint32_t)tdec_nth(&d, RS_REC_PROCESS, 0)->pid;
	cr_assert_eq(t.ns, 3);
	check_complete(&t);
	cr_assert_eq(t.s[0].trigger, RS_SNAP_REQUEST);
	cr_assert_eq(t.s[1].trigger, RS_SNAP_REQUEST);
	cr_assert_eq(t.s[2].trigger, RS_SNAP_EXIT);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(t.s[i].tid, pid);
		n[i] = alloc_addr(&d, 32, (size_t)i);
		cr_assert_neq(n[i], 0);
	}
	/* the ring's edges, in both requested snapshots */
	for (uint64_t s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++)
			cr_assert_not_null(has_word(&t, s, n[i], n[(i + 1) % 3]),
					   "snapshot %lu: node %d -> node %d", (unsigned long)s, i,
					   (i + 1) % 3);
	/* first snapshot: the global `ring` holds node 0 */
	cr_assert_not_null(word_to(&t, 0, n[0], RS_REGION_DATA));
	/* second: `ring` was cleared */
	cr_assert_null(word_to(&t, 1, n[0], RS_REGION_DATA));
	cr_assert_lt(t.s[0].seq, tdec_nth(&d, RS_REC_END, 0)->seq + 1);
	strace_free(&t);
	tdec_free(&d);
}

Test(shim_snapshot, refscope_snapshot_without_the_shim_is_minus_one)
{
	char *argv[] = { (char *)sample("snapshots"), NULL };
	char out[128];

	cr_assert_eq(run(argv, NULL, 0, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: -1\nsnapshot 1: -1\n");
}

/* Threads blocked in the kernel: their stacks from their stack pointers. */
Test(shim_snapshot, blocked_threads_stacks_are_scanned, .init = setup, .fini = teardown)
{
	char *argv[] = { (char *)sample("snapshots"), "threads", NULL };
	char out[128];
	struct strace t;
	struct tdec d = { 0 };
	uint32_t pid, tids[2];
	size_t nt = 0;

	cr_assert_eq(run(argv, NULL, 1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\nsnapshot 2: 0\n");
	load(&t, &d, 0);
	pid = (uint32_t)tdec_nth(&d, RS_REC_PROCESS, 0)->pid;
	cr_assert_eq(t.ns, 4);
	check_complete(&t);
	cr_assert_eq(t.s[2].trigger, RS_SNAP_REQUEST);
	for (size_t i = 0; i < tdec_count(&d, RS_EV_THREAD_START); i++) {
		const struct trec *ts = tdec_nth(&d, RS_EV_THREAD_START, i);

		if (ts->tid != pid && nt < 2)
			tids[nt++] = ts->tid;
	}
	cr_assert_eq(nt, 2);
	for (size_t k = 0; k < 2; k++) {
		uint64_t blk = 0;
		const struct sregion *r;

		/* the 40-byte block this thread allocated */
		for (size_t i = 0; i < tdec_count(&d, RS_EV_ALLOC); i++) {
			const struct trec *a = tdec_nth(&d, RS_EV_ALLOC, i);

			if (a->size == 40 && a->tid == tids[k])
				blk = a->addr;
		}
		cr_assert_neq(blk, 0);
		r = word_to(&t, 2, blk, RS_REGION_STACK);
		cr_assert_not_null(r, "thread %u's block is held from its stack", tids[k]);
		cr_assert_eq(r->tid, tids[k]);
	}
	strace_free(&t);
	tdec_free(&d);
}

/* Polls the trace until n complete snapshots of the given trigger are in it. */
static int wait_snapshot(pid_t pid, uint64_t trigger, size_t n, int timeout_ms)
{
	char path[512];

	for (int waited = 0; waited < timeout_ms; waited += 20) {
		struct strace t;
		size_t ok = 0;

		trace_path(path, sizeof(path), pid);
		if (strace_file(&t, path) == 0)
			for (size_t i = 0; i < t.ns; i++)
				ok += t.s[i].trigger == trigger && t.s[i].ended;
		strace_free(&t);
		if (ok >= n)
			return 1;
		usleep(20000);
	}
	return 0;
}

static void signal_case(const char *sigenv, int sig)
{
	char *argv[] = { (char *)sample("snapshots"), "wait", NULL };
	const char *env[] = { sigenv, NULL };
	char out[128] = "";
	struct child c;
	struct strace t;
	struct tdec d = { 0 };
	uint32_t pid;
	size_t found;

	start(&c, argv, env, 1);
	read_out(&c, out, sizeof(out), "ready\n");
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\nready\n");
	cr_assert_eq(kill(c.pid, sig), 0);
	cr_assert(wait_snapshot(c.pid, RS_SNAP_SIGNAL, 1, 10000), "a snapshot follows the signal");
	cr_assert_eq(finish(&c, out, sizeof(out)), 0, "the program is not killed by the signal");
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\nready\n");
	load(&t, &d, c.pid);
	pid = (uint32_t)c.pid;
	cr_assert_eq(t.ns, 4);
	check_complete(&t);
	cr_assert_eq(t.s[2].trigger, RS_SNAP_SIGNAL);
	cr_assert_neq(t.s[2].tid, pid, "taken by the snapshot thread");
	cr_assert_eq(t.s[3].trigger, RS_SNAP_EXIT);
	/* the snapshot thread is ours: no THREAD_START for it */
	cr_assert_eq(tdec_count(&d, RS_EV_THREAD_START), 1);
	/* the main thread, blocked in read(2), has its stack scanned too */
	found = 0;
	for (size_t i = 0; i < t.nr; i++)
		found += t.r[i].snap == 2 && t.r[i].kind == RS_REGION_STACK && t.r[i].tid == pid;
	cr_assert_eq(found, 1);
	/* and the ring (garbage now) is still in it */
	cr_assert_not_null(has_word(&t, 2, alloc_addr(&d, 32, 0), alloc_addr(&d, 32, 1)));
	strace_free(&t);
	tdec_free(&d);
}

Test(shim_snapshot, on_the_snapshot_signal_by_name, .init = setup, .fini = teardown)
{
	signal_case("REFSCOPE_SNAPSHOT_SIGNAL=USR2", SIGUSR2);
}

Test(shim_snapshot, on_the_snapshot_signal_by_number, .init = setup, .fini = teardown)
{
	static char env[64];

	snprintf(env, sizeof(env), "REFSCOPE_SNAPSHOT_SIGNAL=%d", SIGRTMIN + 3);
	signal_case(env, SIGRTMIN + 3);
}

/* Two periodic snapshots, then the program is let go: how many come in a
 * fixed run time depends on when the snapshot thread gets the CPU (a 2.6 s
 * run was to hold exactly 2), so the program waits until the trace shows
 * two and the count is checked against the trace's own structure. */
Test(shim_snapshot, every_interval, .init = setup, .fini = teardown, .timeout = 120)
{
	char *argv[] = { (char *)sample("snapshots"), "wait", NULL };
	const char *env[] = { "REFSCOPE_SNAPSHOT_INTERVAL=1", NULL };
	char out[128] = "";
	struct child c;
	struct strace t;
	size_t periodic = 0;

	start(&c, argv, env, 1);
	read_out(&c, out, sizeof(out), "ready\n");
	cr_assert(wait_snapshot(c.pid, RS_SNAP_PERIODIC, 2, 60000), "two periodic snapshots");
	cr_assert_eq(finish(&c, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\nready\n");
	load(&t, NULL, 0);
	check_complete(&t);
	for (size_t i = 0; i < t.ns; i++)
		periodic += t.s[i].trigger == RS_SNAP_PERIODIC;
	cr_assert_geq(periodic, 2);
	cr_assert_eq(t.ns, periodic + 3, "2 requests, the periodic ones, exit");
	cr_assert_eq(t.s[t.ns - 1].trigger, RS_SNAP_EXIT);
	strace_free(&t);
}

/* main calls pthread_exit: glibc ends the process when the last thread
 * goes, and the snapshot thread must not be that last thread for ever */
Test(shim_snapshot, snapshot_thread_does_not_keep_the_process_alive, .init = setup,
     .fini = teardown, .timeout = 20)
{
	char *argv[] = { (char *)sample("snapshots"), "pthread_exit", NULL };
	const char *env[] = { "REFSCOPE_SNAPSHOT_INTERVAL=100", NULL };
	char out[128];
	struct strace t;
	struct tdec d = { 0 };

	cr_assert_eq(run(argv, env, 1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\n");
	load(&t, &d, 0);
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	cr_assert_eq(tdec_nth(&d, RS_REC_END, 0)->status, 0);
	cr_assert_eq(t.ns, 3);
	check_complete(&t);
	cr_assert_eq(t.s[2].trigger, RS_SNAP_EXIT);
	strace_free(&t);
	tdec_free(&d);
}

/* The fork child writes its own trace: ids from 0, its own snapshot thread. */
Test(shim_snapshot, fork_child_has_its_own_snapshots, .init = setup, .fini = teardown,
     .timeout = 30)
{
	char *argv[] = { (char *)sample("snapshots"), "fork", NULL };
	const char *env[] = { "REFSCOPE_SNAPSHOT_INTERVAL=1", NULL };
	char out[128], path[600];
	struct child c;
	struct strace t;
	struct tdec d = { 0 };
	DIR *dd;
	struct dirent *e;
	int children = 0;

	out[0] = 0;
	start(&c, argv, env, 1);
	cr_assert_eq(finish(&c, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "snapshot 0: 0\nsnapshot 1: 0\nsnapshot 2: 0\n");
	dd = opendir(dir);
	while ((e = readdir(dd)) != NULL) {
		const struct trec *p;

		if (strncmp(e->d_name, "refscope.", 9) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		memset(&d, 0, sizeof(d));
		cr_assert_eq(tdec_file(&d, path, NULL), 0);
		cr_assert_eq(strace_file(&t, path), 0);
		cr_assert_eq(t.bad, 0);
		check_complete(&t);
		p = tdec_nth(&d, RS_REC_PROCESS, 0);
		if (p->origin == RS_ORIGIN_FORK) {
			children++;
			/* 1 s after the fork the child's own thread takes one
			 * (a loaded machine may delay the child past 2 s and give
			 * it a second); its main thread makes the one request,
			 * and the exit snapshot is last */
			size_t periodic = 0, request = 0;

			cr_assert_geq(t.ns, 3, "child: periodic, request, exit");
			for (size_t k = 0; k + 1 < t.ns; k++) {
				if (t.s[k].trigger == RS_SNAP_PERIODIC) {
					periodic++;
					cr_assert_neq(t.s[k].tid, p->pid);
				} else {
					cr_assert_eq(t.s[k].trigger, RS_SNAP_REQUEST);
					cr_assert_eq(t.s[k].tid, p->pid);
					request++;
				}
			}
			cr_assert_geq(periodic, 1);
			cr_assert_eq(request, 1);
			cr_assert_eq(t.s[t.ns - 1].trigger, RS_SNAP_EXIT);
		} else {
			cr_assert_geq(t.ns, 3);
			cr_assert_eq(t.s[0].trigger, RS_SNAP_REQUEST);
			cr_assert_eq(t.s[1].trigger, RS_SNAP_REQUEST);
			cr_assert_eq(t.s[t.ns - 1].trigger, RS_SNAP_EXIT);
		}
		strace_free(&t);
		tdec_free(&d);
	}
	closedir(dd);
	cr_assert_eq(children, 1);
}

Test(shim_snapshot, run_flags, .init = setup, .fini = teardown)
{
	char cmd[1024];
	struct strace t;

	snprintf(cmd, sizeof(cmd), "%s/refscope run -q -o %s --no-snapshot -- %s", RS_BUILD_DIR,
		 dir, sample("cycle2"));
	cr_assert_eq(system(cmd), 0);
	load(&t, NULL, 0);
	cr_assert_eq(t.ns, 0, "--no-snapshot");
	strace_free(&t);
	snprintf(cmd, sizeof(cmd), "%s/refscope run -q -o %s --snapshot-signal KILL -- true 2>/dev/null",
		 RS_BUILD_DIR, dir);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 2, "KILL cannot be a snapshot signal");
	snprintf(cmd, sizeof(cmd), "%s/refscope run -q -o %s --snapshot-interval 0 -- true 2>/dev/null",
		 RS_BUILD_DIR, dir);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 2);
	snprintf(cmd, sizeof(cmd), "%s/refscope run -q -o %s --snapshot-signal SIGUSR2 "
		 "--snapshot-interval 30 -- %s >/dev/null", RS_BUILD_DIR, dir, sample("snapshots"));
	cr_assert_eq(system(cmd), 0);
}

Test(shim_snapshot, signal_names)
{
	cr_assert_eq(rs_options_signal("USR2"), SIGUSR2);
	cr_assert_eq(rs_options_signal("SIGUSR1"), SIGUSR1);
	cr_assert_eq(rs_options_signal("12"), 12);
	cr_assert_eq(rs_options_signal("HUP"), SIGHUP);
	cr_assert_eq(rs_options_signal("RTMIN"), SIGRTMIN);
	cr_assert_eq(rs_options_signal("RTMIN+3"), SIGRTMIN + 3);
	cr_assert_eq(rs_options_signal("SIGRTMAX-1"), SIGRTMAX - 1);
	cr_assert_eq(rs_options_signal("RTMIN+99"), 0);
	cr_assert_eq(rs_options_signal("RTMIN3"), 0);
	cr_assert_eq(rs_options_signal("KILL"), 0);
	cr_assert_eq(rs_options_signal("STOP"), 0);
	cr_assert_eq(rs_options_signal("SEGV"), 0);
	cr_assert_eq(rs_options_signal("9"), 0);
	cr_assert_eq(rs_options_signal("32"), 0, "glibc's own");
	cr_assert_eq(rs_options_signal("65"), 0);
	cr_assert_eq(rs_options_signal("usr2"), 0);
	cr_assert_eq(rs_options_signal(""), 0);
	cr_assert_eq(rs_options_signal(NULL), 0);
}

/* ---- the engine, without LD_PRELOAD ------------------------------------------ */

/* A mapping registered as the shim's is neither scanned nor a target; an
 * ordinary mapping is both. */
Test(shim_snapshot, engine_skips_registered_memory, .init = setup, .fini = teardown)
{
	char path[512];
	uint8_t hb[RS_FILE_HEADER_SIZE];
	struct rs_file_header h = { .version = RS_FORMAT_VERSION,
				    .header_size = RS_FILE_HEADER_SIZE,
				    .flags = RS_HDR_LITTLE_ENDIAN,
				    .pointer_size = 8 };
	struct rs_writer_config cfg = { 0 };
	struct rs_snapshot_req req = { 0 };
	struct rs_snapshot_stats st;
	size_t len = 8 * 4096;
	uintptr_t *mine, *prog, *sparse;
	struct strace t;
	int fd;

#ifdef __SANITIZE_ADDRESS__
	/* the engine scans every private writable mapping of this process:
	 * under ASan (make SANITIZE=address) that includes its ~20 TiB shadow,
	 * hours of reading zero pages */
	cr_skip_test("the scan would read ASan's shadow memory");
#endif

	snprintf(path, sizeof(path), "%s/engine.trace", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	cr_assert_geq(fd, 0);
	rs_header_encode(hb, &h);
	cr_assert_eq(write(fd, hb, sizeof(hb)), (ssize_t)sizeof(hb));
	cfg.fd = fd;
	cfg.compress = 1;
	cfg.buf_size = 64 << 10;
	cfg.quiet = 1;
	cr_assert_eq(rs_writer_open(&cfg), 0);

	mine = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	prog = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(mine, MAP_FAILED);
	cr_assert_neq(prog, MAP_FAILED);
	rs_own_add(mine, len);
	mine[3] = (uintptr_t)&prog[100];	/* would be kept, were it scanned */
	prog[5] = (uintptr_t)&prog[200];	/* kept: into anonymous memory */
	prog[6] = (uintptr_t)&mine[7];		/* dropped: into the shim's memory */
	prog[7] = (uintptr_t)dir;		/* dropped: a file's data, not anonymous */
	for (int i = 0; i < 2000; i++)		/* enough words to be compressed */
		prog[400 + i] = (uintptr_t)&prog[i % 300];
	/* 256 MiB never touched but one page: only that page is read */
	sparse = mmap(NULL, 256u << 20, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(sparse, MAP_FAILED);
	sparse[(100u << 20) / 8 + 1] = (uintptr_t)&prog[9];

	req.trigger = RS_SNAP_REQUEST;
	req.tid = (uint32_t)syscall(SYS_gettid);
	req.compress = 1;
	cr_assert_eq(rs_snapshot_take(&req, &st), 0);
	cr_assert_eq(rs_snapshot_take(&req, &st), 0);
	cr_assert_eq(st.id, 1);
	cr_assert_lt(st.bytes, 128u << 20, "untouched pages are not read (%lu bytes)",
		     (unsigned long)st.bytes);

	cr_assert_eq(strace_file(&t, path), 0);
	cr_assert_eq(t.bad, 0);
	cr_assert_eq(t.ns, 2);
	check_complete(&t);
	cr_assert_eq(t.s[1].words, st.words);
	cr_assert_eq(t.s[1].regions, st.regions);
	for (size_t i = 0; i < t.nr; i++) {
		cr_assert(t.r[i].end <= (uintptr_t)mine || t.r[i].start >= (uintptr_t)mine + len,
			  "region %lx-%lx covers the registered mapping",
			  (unsigned long)t.r[i].start, (unsigned long)t.r[i].end);
		cr_assert(t.r[i].kind != RS_REGION_STACK || t.r[i].tid != req.tid,
			  "stack_lo 0: our own stack is not scanned");
	}
	for (uint64_t s = 0; s < 2; s++) {
		cr_assert_not_null(has_word(&t, s, (uintptr_t)&prog[5], (uintptr_t)&prog[200]));
		cr_assert_null(has_word(&t, s, (uintptr_t)&prog[6], (uintptr_t)&mine[7]));
		cr_assert_null(has_word(&t, s, (uintptr_t)&prog[7], (uintptr_t)dir));
		cr_assert_not_null(has_word(&t, s, (uintptr_t)&sparse[(100u << 20) / 8 + 1],
					    (uintptr_t)&prog[9]));
		for (int i = 0; i < 2000; i++)
			cr_assert_not_null(has_word(&t, s, (uintptr_t)&prog[400 + i],
						    (uintptr_t)&prog[i % 300]));
	}
	strace_free(&t);
}
