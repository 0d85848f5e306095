/*
 * snapshot.c - one heap snapshot: find the regions to scan, read them, keep
 * the words that may point at heap blocks, write them (see snapshot.h for
 * what is scanned and why).
 *
 * All work memory is mmap'd on first use, kept for later snapshots and
 * registered as the shim's own: the region list, the /proc/self/maps text,
 * the SNAP_WORDS body, the zstd output and a static compression context.
 * Growing one of them happens before /proc/self/maps is read, or yields a
 * mapping the list does not know about anyway.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "snapshot.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "modules.h"
#include "ownmem.h"
#include "refscope_format.h"
#include "unwind.h"
#include "writer.h"

#define RAW_MAX (1u << 20)	/* SNAP_WORDS body, well under RS_CHUNK_MAX_RAW */
#define WORD_MAX (2 * RS_UVARINT_MAX)
#define HEADROOM 64
#define SCRATCH (64u << 10)
#define RED_ZONE 128
#define NAME_MAX_LEN 4096
#define PM_ENTRIES 4096		/* pagemap entries read at once: 16 MiB of pages */

/* ---- work memory ---------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t cap;
};

static size_t page_size(void)
{
	static size_t pg;

	if (!pg)
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return pg;
}

static size_t page_round(size_t n)
{
	return (n + page_size() - 1) & ~(page_size() - 1);
}

static int wbuf_ensure(struct wbuf *b, size_t need)
{
	size_t sz;
	void *m;

	if (b->cap >= need)
		return 0;
	sz = page_round(need > 2 * b->cap ? need : 2 * b->cap);
	m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	rs_own_add(m, sz);
	if (b->p) {
		rs_own_remove(b->p, b->cap);
		munmap(b->p, b->cap);
	}
	b->p = m;
	b->cap = sz;
	return 0;
}

/* The fixed part: body, zstd output, context, read scratch, record buffer. */
static struct {
	uint8_t *body;		/* RAW_MAX bytes, HEADROOM before it */
	uint8_t *zout;		/* zcap bytes, HEADROOM before it */
	size_t zcap;
	ZSTD_CCtx *cctx;
	uint8_t *scratch;	/* SCRATCH bytes */
	uint8_t *rec;		/* a SNAP_REGION or SNAPSHOT record */
	uint64_t *pm;		/* PM_ENTRIES pagemap entries */
} w;

static int fixed_init(void)
{
	size_t body, zout, ws, scratch, rec, pm, total;
	uint8_t *m;

	if (w.body)
		return 0;
	body = page_round(HEADROOM + RAW_MAX);
	w.zcap = ZSTD_compressBound(RAW_MAX);
	zout = page_round(HEADROOM + w.zcap);
	ws = page_round(ZSTD_estimateCCtxSize_usingCParams(ZSTD_getCParams(1, RAW_MAX, 0)));
	scratch = SCRATCH;
	rec = page_round(NAME_MAX_LEN + 16 * RS_UVARINT_MAX);
	pm = page_round(PM_ENTRIES * sizeof(uint64_t));
	total = body + zout + ws + scratch + rec + pm;
	m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	w.cctx = ZSTD_initStaticCCtx(m + body + zout, ws);
	if (!w.cctx) {
		munmap(m, total);
		return -ENOMEM;
	}
	rs_own_add(m, total);
	w.body = m + HEADROOM;
	w.zout = m + body + HEADROOM;
	w.scratch = m + body + zout + ws;
	w.rec = w.scratch + scratch;
	w.pm = (uint64_t *)(w.rec + rec);
	return 0;
}

/* ---- the process's mappings ------------------------------------------------ */

struct mapping {
	uintptr_t start, end;
	uint8_t r, wr, priv, anon;	/* anon: no file ([heap], [anon:..], nameless) */
	uint8_t stack;			/* [stack] */
	const char *name;		/* NUL-terminated, inside the maps text */
};

static struct wbuf maps_text, maps_buf, cand_buf, cover_buf, excl_buf, tgt_buf, anon_buf, own_buf;
static struct wbuf dirents;
static struct mapping *maps;
static size_t nmaps;

/* Reads a /proc file whole into b (grown as needed); returns its length. */
static ssize_t read_proc(const char *path, struct wbuf *b)
{
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		size_t len = 0;
		ssize_t n;

		if (fd < 0)
			return -errno;
		while (len < b->cap - 1) {
			n = read(fd, b->p + len, b->cap - 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		close(fd);
		if (len < b->cap - 1) {
			b->p[len] = 0;
			return (ssize_t)len;
		}
		if (wbuf_ensure(b, 2 * b->cap) < 0)
			return -ENOMEM;
	}
}

static uintptr_t hex(const char **s)
{
	uintptr_t v = 0;
	const char *p = *s;

	if (p[0] == '0' && p[1] == 'x')
		p += 2;
	for (;; p++) {
		char c = *p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			break;
	}
	*s = p;
	return v;
}

static int read_maps(void)
{
	ssize_t len;
	size_t lines = 0;
	char *p, *end;

	if (!maps_text.p && wbuf_ensure(&maps_text, 256u << 10) < 0)
		return -ENOMEM;
	/* thread-self: once the main thread has called pthread_exit,
	 * /proc/self/maps (the leader's view) is empty */
	len = read_proc("/proc/thread-self/maps", &maps_text);
	if (len < 0)
		len = read_proc("/proc/self/maps", &maps_text);
	if (len < 0)
		return (int)len;
	end = (char *)maps_text.p + len;
	for (p = (char *)maps_text.p; p < end; p++)
		lines += *p == '\n';
	if (wbuf_ensure(&maps_buf, (lines + 1) * sizeof(struct mapping)) < 0)
		return -ENOMEM;
	maps = (struct mapping *)maps_buf.p;
	nmaps = 0;
	for (p = (char *)maps_text.p; p < end && nmaps <= lines;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct mapping *m = &maps[nmaps];
		const char *q = p;
		int field = 0;

		if (!nl)
			nl = end;
		*nl = 0;
		m->start = hex(&q);
		if (*q == '-')
			q++;
		m->end = hex(&q);
		while (*q == ' ')
			q++;
		m->r = q[0] == 'r';
		m->wr = q[1] == 'w';
		m->priv = q[3] == 'p';
		/* skip perms, offset, dev, inode: the name is what follows */
		while (*q && field < 4) {
			while (*q && *q != ' ')
				q++;
			while (*q == ' ')
				q++;
			field++;
		}
		m->name = q;
		m->stack = strcmp(q, "[stack]") == 0;
		m->anon = !*q || strcmp(q, "[heap]") == 0 || strncmp(q, "[anon:", 6) == 0;
		if (m->end > m->start)
			nmaps++;
		p = nl + 1;
	}
	return 0;
}

/* The mapping holding addr, or NULL. */
static const struct mapping *map_of(uintptr_t addr)
{
	size_t lo = 0, hi = nmaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (maps[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nmaps && maps[lo].start <= addr ? &maps[lo] : NULL;
}

/* ---- interval sets (sorted, disjoint) -------------------------------------- */

struct iset {
	struct wbuf *buf;
	struct rs_range *r;
	size_t n, cap;
};

static int iset_init(struct iset *s, struct wbuf *b, size_t cap)
{
	if (wbuf_ensure(b, cap * sizeof(struct rs_range)) < 0)
		return -ENOMEM;
	s->buf = b;
	s->r = (struct rs_range *)b->p;
	s->n = 0;
	s->cap = cap;
	return 0;
}

/* First index whose end is > a. */
static size_t iset_find(const struct iset *s, uintptr_t a)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->r[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds [a, b), merging with what it touches. Silently full: callers size
 * the sets for every range they can add. */
static void iset_add(struct iset *s, uintptr_t a, uintptr_t b)
{
	size_t i, j;

	if (a >= b)
		return;
	i = iset_find(s, a);
	if (i > 0 && s->r[i - 1].end == a)
		i--;
	j = i;
	while (j < s->n && s->r[j].start <= b) {
		if (s->r[j].start < a)
			a = s->r[j].start;
		if (s->r[j].end > b)
			b = s->r[j].end;
		j++;
	}
	if (j == i) {
		if (s->n == s->cap)
			return;
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
		s->n++;
	} else if (j > i + 1) {
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n -= j - i - 1;
	}
	s->r[i].start = a;
	s->r[i].end = b;
}

static int iset_has(const struct iset *s, uintptr_t v)
{
	size_t i = iset_find(s, v);

	return i < s->n && s->r[i].start <= v;
}

/* ---- candidate regions ------------------------------------------------------ */

struct cand {
	uintptr_t start, end;
	uintptr_t dead_lo;	/* stacks: [dead_lo, start) is dead and never scanned */
	uint32_t kind, tid;
	const char *name;
};

static struct cand *cands;
static size_t ncands, cand_cap;

static void cand_add(uintptr_t start, uintptr_t end, uint32_t kind, uint32_t tid,
		     const char *name, uintptr_t dead_lo)
{
	if (ncands == cand_cap || start >= end)
		return;
	cands[ncands].start = start;
	cands[ncands].end = end;
	cands[ncands].dead_lo = dead_lo ? dead_lo : start;
	cands[ncands].kind = kind;
	cands[ncands].tid = tid;
	cands[ncands].name = name ? name : "";
	ncands++;
}

/* dl_iterate_phdr: collects TLS blocks and DATA segments; our own object's
 * writable segments (and TLS) go to the excluded set instead. */
struct phdr_ctx {
	uint32_t tid;
	int tls_pass;
	struct iset *excl;
};

static const int self_marker;

static int is_self(const struct dl_phdr_info *info)
{
	uintptr_t me = (uintptr_t)&self_marker;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && me >= s && me < s + ph->p_memsz)
			return 1;
	}
	return 0;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct phdr_ctx *c = data;
	int self = is_self(info);

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;

		if (c->tls_pass) {
			if (ph->p_type != PT_TLS || !info->dlpi_tls_data || !ph->p_memsz)
				continue;
			s = (uintptr_t)info->dlpi_tls_data;
			e = s + ph->p_memsz;
			if (self)
				iset_add(c->excl, s, e);
			else
				cand_add(s, e, RS_REGION_TLS, c->tid, "", 0);
			continue;
		}
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || !ph->p_memsz)
			continue;
		if (self) {
			/* .bss runs on to the end of its page as an anonymous mapping */
			iset_add(c->excl, s & ~(page_size() - 1), page_round(e));
		} else {
			const struct mapping *m = map_of(s);

			cand_add(s, e, RS_REGION_DATA, 0, m ? m->name : "", 0);
		}
	}
	return 0;
}

/* Reads /proc/self/task/TID/FILE into buf (NUL-terminated); its length. */
static ssize_t task_file(uint32_t tid, const char *file, char *buf, size_t cap)
{
	char path[64] = "/proc/self/task/";
	size_t k = strlen(path);
	char num[16];
	int nd = 0, fd;
	ssize_t n;

	do {
		num[nd++] = (char)('0' + tid % 10);
		tid /= 10;
	} while (tid);
	while (nd)
		path[k++] = num[--nd];
	path[k++] = '/';
	memcpy(path + k, file, strlen(file) + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

/* A thread that has ended but is still listed (the main thread after
 * pthread_exit stays a zombie until the process ends). */
static int thread_ended(uint32_t tid)
{
	char buf[512];
	const char *p;

	if (task_file(tid, "stat", buf, sizeof(buf)) <= 0)
		return 1;
	p = strrchr(buf, ')');	/* the name before it may hold anything */
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The stack pointer of a thread blocked in the kernel, from
 * /proc/self/task/TID/syscall ("nr args.. sp pc", or "running"). */
static uintptr_t thread_sp(uint32_t tid)
{
	char buf[256];
	ssize_t n = task_file(tid, "syscall", buf, sizeof(buf));
	const char *tok[12];
	int nt = 0;

	if (n <= 0 || buf[0] == 'r')
		return 0;
	for (char *p = buf; *p && nt < 12;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		tok[nt++] = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	if (nt < 3)
		return 0;
	return hex(&tok[nt - 2]);
}

/* Adds the stacks of the threads other than `me`, from /proc/self/task. */
static void other_stacks(uint32_t me, uint32_t pid)
{
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (fd < 0)
		return;
	if (!dirents.p && wbuf_ensure(&dirents, 64u << 10) < 0) {
		close(fd);
		return;
	}
	while ((n = syscall(SYS_getdents64, fd, dirents.p, dirents.cap)) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(dirents.p + off);
			uint32_t tid = 0;
			uintptr_t sp;
			const struct mapping *m;

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			for (const char *q = d->d_name; *q >= '0' && *q <= '9'; q++)
				tid = tid * 10 + (uint32_t)(*q - '0');
			if (tid == me)
				continue;
			sp = thread_sp(tid);
			if (sp) {
				m = map_of(sp);
				if (!m) {
					m = map_of(sp - RED_ZONE);
					if (!m)
						continue;
				}
				sp = sp - RED_ZONE < m->start ? m->start : (sp - RED_ZONE) & ~(uintptr_t)7;
				cand_add(sp, m->end, RS_REGION_STACK, tid, m->name, m->start);
			} else if (tid == pid && !thread_ended(tid)) {
				/* the main thread, running: its whole [stack] */
				for (size_t i = 0; i < nmaps; i++)
					if (maps[i].stack)
						cand_add(maps[i].start, maps[i].end, RS_REGION_STACK,
							 tid, maps[i].name, 0);
			}
		}
	}
	close(fd);
}

/* ---- records --------------------------------------------------------------- */

static size_t put_str(uint8_t *p, const char *s, size_t n)
{
	size_t k = rs_put_uvarint(p, n);

	memcpy(p + k, s, n);
	return k + n;
}

int rs_snapshot_emit(uint8_t type, uint8_t *start, uint8_t *end)
{
	uint8_t h[1 + RS_UVARINT_MAX];
	size_t hn = 0;

	h[hn++] = type;
	hn += rs_put_uvarint(h + hn, (uint64_t)(end - start));
	memcpy(start - hn, h, hn);
	return rs_writer_out(start - hn, (size_t)(end - start) + hn);
}

struct scan {
	uint64_t id;
	int compress;
	int direct;		/* process_vm_readv refused: read in place */
	int pm_fd;		/* /proc/thread-self/pagemap, or -1 */
	pid_t pid;		/* our own thread id, for process_vm_readv */
	struct iset *tgt;
	uintptr_t tmin, tmax;
	/* the open SNAP_WORDS record */
	uint32_t rid;
	uintptr_t rstart, prev_loc;
	uint64_t prev_val;
	size_t len;
	uint64_t nwords;
	/* totals */
	uint64_t regions, words, bytes;
	int err;
};

static void words_flush(struct scan *s)
{
	uint8_t ph[HEADROOM];
	size_t phn = 0;
	uint8_t *body = w.body;
	size_t blen = s->len;
	uint8_t enc = RS_CHUNK_RAW;
	int rc;

	if (!s->nwords)
		return;
	if (s->compress && s->len >= 512) {
		size_t z = ZSTD_compressCCtx(w.cctx, w.zout, w.zcap, w.body, s->len, 1);

		if (!ZSTD_isError(z) && z < s->len) {
			body = w.zout;
			blen = z;
			enc = RS_CHUNK_ZSTD;
		}
	}
	phn += rs_put_uvarint(ph + phn, s->id);
	phn += rs_put_uvarint(ph + phn, s->rid);
	ph[phn++] = enc;
	phn += rs_put_uvarint(ph + phn, s->len);
	phn += rs_put_uvarint(ph + phn, s->nwords);
	/* the fields go in the headroom in front of the body */
	memcpy(body - phn, ph, phn);
	rc = rs_snapshot_emit(RS_REC_SNAP_WORDS, body - phn, body + blen);
	if (rc < 0 && !s->err)
		s->err = rc;
	s->words += s->nwords;
	s->len = 0;
	s->nwords = 0;
	s->prev_loc = s->rstart;
	s->prev_val = 0;
}

static inline int is_target(const struct scan *s, uintptr_t v)
{
	return v >= s->tmin && v < s->tmax && iset_has(s->tgt, v);
}

static void add_word(struct scan *s, uintptr_t loc, uintptr_t v)
{
	uint8_t *p;

	if (s->len + WORD_MAX > RAW_MAX)
		words_flush(s);
	p = w.body + s->len;
	p += rs_put_uvarint(p, loc - s->prev_loc);
	p += rs_put_svarint(p, (int64_t)(v - s->prev_val));
	s->len = (size_t)(p - w.body);
	s->nwords++;
	s->prev_loc = loc;
	s->prev_val = v;
}

/* Copies n bytes at addr into scratch; returns the bytes read (from addr on),
 * 0 when the first page cannot be read. */
static size_t read_mem(struct scan *s, uintptr_t addr, size_t n)
{
	struct iovec l = { w.scratch, n }, r = { (void *)addr, n };
	ssize_t got;

	if (s->direct) {
		memcpy(w.scratch, (const void *)addr, n);
		return n;
	}
	got = syscall(SYS_process_vm_readv, s->pid, &l, 1UL, &r, 1UL, 0UL);
	return got > 0 ? (size_t)got : 0;
}

static void scan_run(struct scan *s, uintptr_t a, uintptr_t b)
{
	const size_t ws = sizeof(uintptr_t);

	while (a < b && !s->err) {
		size_t n = b - a > SCRATCH ? SCRATCH : b - a;
		size_t got = read_mem(s, a, n) & ~(ws - 1);
		const uintptr_t *wd = (const uintptr_t *)w.scratch;

		if (!got) {
			a = (a + page_size()) & ~(page_size() - 1);	/* unreadable page */
			continue;
		}
		for (size_t i = 0; i < got / ws; i++)
			if (is_target(s, wd[i]))
				add_word(s, a + i * ws, wd[i]);
		s->bytes += got;
		a += got;
	}
}

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

/*
 * Scans the pages of [a, b) that hold something: present in memory or
 * swapped out, as /proc/self/pagemap says. A page never touched reads as
 * zeros; skipping it keeps a sparse mapping (a calloc'd gigabyte, a big
 * reservation) from costing a fault per page. Without pagemap, all of it.
 */
static void scan_bytes(struct scan *s, uintptr_t a, uintptr_t b)
{
	const size_t ws = sizeof(uintptr_t), pg = page_size();

	a = (a + ws - 1) & ~(ws - 1);
	b &= ~(ws - 1);
	while (a < b && !s->err) {
		uintptr_t first = a / pg, last = (b - 1) / pg, run_a, run_b;
		size_t n = last - first + 1, i, j;
		ssize_t got;

		if (s->pm_fd < 0) {
			scan_run(s, a, b);
			return;
		}
		if (n > PM_ENTRIES)
			n = PM_ENTRIES;
		got = pread(s->pm_fd, w.pm, n * sizeof(uint64_t), (off_t)(first * sizeof(uint64_t)));
		if (got < (ssize_t)sizeof(uint64_t)) {
			close(s->pm_fd);	/* refused: read everything from now on */
			s->pm_fd = -1;
			continue;
		}
		n = (size_t)got / sizeof(uint64_t);
		for (i = 0; i < n && !(w.pm[i] & (PM_PRESENT | PM_SWAPPED)); i++)
			;
		if (i == n) {
			a = (first + n) * pg;	/* nothing in these pages */
			continue;
		}
		for (j = i; j < n && (w.pm[j] & (PM_PRESENT | PM_SWAPPED)); j++)
			;
		run_a = (first + i) * pg;
		run_b = (first + j) * pg;
		scan_run(s, run_a > a ? run_a : a, run_b < b ? run_b : b);
		a = run_b;
	}
}

static void scan_region(struct scan *s, const struct cand *c, uintptr_t a, uintptr_t b)
{
	const struct mapping *m;
	uint8_t *p = w.rec + HEADROOM, *start = p;
	size_t nlen = strlen(c->name);
	size_t i;
	int rc;

	if (nlen > NAME_MAX_LEN)
		nlen = NAME_MAX_LEN;
	s->rid = (uint32_t)s->regions++;
	p += rs_put_uvarint(p, s->id);
	p += rs_put_uvarint(p, s->rid);
	p += rs_put_uvarint(p, a);
	p += rs_put_uvarint(p, b);
	p += rs_put_uvarint(p, c->kind);
	p += rs_put_uvarint(p, c->tid);
	p += put_str(p, c->name, nlen);
	rc = rs_snapshot_emit(RS_REC_SNAP_REGION, start, p);
	if (rc < 0) {
		s->err = rc;
		return;
	}
	s->rstart = s->prev_loc = a;
	s->prev_val = 0;
	s->len = 0;
	s->nwords = 0;
	/* only the readable parts of the mappings it spans */
	m = map_of(a);
	i = m ? (size_t)(m - maps) : 0;
	for (; i < nmaps && maps[i].start < b; i++) {
		uintptr_t x = maps[i].start > a ? maps[i].start : a;
		uintptr_t y = maps[i].end < b ? maps[i].end : b;

		if (maps[i].r && x < y)
			scan_bytes(s, x, y);
	}
	words_flush(s);
}

/* ---- the snapshot ------------------------------------------------------------ */

static atomic_int busy;
static atomic_int closed;
static uint64_t next_id;

void rs_snapshot_reset_after_fork(void)
{
	if (atomic_load(&busy)) {
		/* forked in the middle of a scan (by another thread): a buffer
		 * may have been half replaced; start from fresh ones (the old
		 * mappings stay registered as ours, never scanned) */
		memset(&w, 0, sizeof(w));
		memset(&maps_text, 0, sizeof(maps_text));
		memset(&maps_buf, 0, sizeof(maps_buf));
		memset(&cand_buf, 0, sizeof(cand_buf));
		memset(&cover_buf, 0, sizeof(cover_buf));
		memset(&excl_buf, 0, sizeof(excl_buf));
		memset(&tgt_buf, 0, sizeof(tgt_buf));
		memset(&anon_buf, 0, sizeof(anon_buf));
		memset(&own_buf, 0, sizeof(own_buf));
		memset(&dirents, 0, sizeof(dirents));
	}
	next_id = 0;
	atomic_store(&closed, 0);
	atomic_store(&busy, 0);
}

static int lock_wait(uint64_t wait_ns)
{
	uint64_t until = rs_clock_ns(CLOCK_MONOTONIC) + wait_ns;
	struct timespec ms = { 0, 1000000 };

	while (atomic_exchange_explicit(&busy, 1, memory_order_acquire)) {
		if (rs_clock_ns(CLOCK_MONOTONIC) >= until)
			return -EBUSY;
		nanosleep(&ms, NULL);
	}
	return 0;
}

static int write_head(uint64_t id, uint64_t seq, const struct rs_snapshot_req *req)
{
	uint8_t *p = w.rec + HEADROOM, *start = p;

	p += rs_put_uvarint(p, id);
	p += rs_put_uvarint(p, seq);
	p += rs_put_uvarint(p, rs_writer_now());
	p += rs_put_uvarint(p, req->trigger);
	p += rs_put_uvarint(p, req->tid);
	return rs_snapshot_emit(RS_REC_SNAPSHOT, start, p);
}

static int write_end(const struct scan *s, uint64_t dur)
{
	uint8_t *p = w.rec + HEADROOM, *start = p;

	p += rs_put_uvarint(p, s->id);
	p += rs_put_uvarint(p, s->regions);
	p += rs_put_uvarint(p, s->words);
	p += rs_put_uvarint(p, s->bytes);
	p += rs_put_uvarint(p, dur);
	return rs_snapshot_emit(RS_REC_SNAPSHOT_END, start, p);
}

/* out = a minus b. */
static void iset_subtract(const struct iset *a, const struct iset *b, struct iset *out)
{
	out->n = 0;
	for (size_t i = 0; i < a->n; i++) {
		uintptr_t x = a->r[i].start, y = a->r[i].end;

		for (size_t j = iset_find(b, x); j < b->n && b->r[j].start < y && x < y; j++) {
			if (b->r[j].start > x)
				iset_add(out, x, b->r[j].start);
			if (b->r[j].end > x)
				x = b->r[j].end;
		}
		if (x < y)
			iset_add(out, x, y);
	}
}

/*
 * Fills cands (in the order they claim memory), covered (what is never
 * scanned: ours, dead stack) and tgt (where a kept word may point).
 */
static int collect(const struct rs_snapshot_req *req, struct iset *covered, struct iset *tgt)
{
	struct phdr_ctx pc = { req->tid, 1, covered };
	struct iset anon, notgt;
	struct rs_range *own;
	size_t nown, cap;
	const struct mapping *m;
	int gated;
	pid_t pid = getpid();

	if (read_maps() < 0)
		return -ENOMEM;
	/* everything a set can receive: maps, own ranges, modules' segments */
	cap = 4 * nmaps + RS_OWN_MAX + 1024;
	if (wbuf_ensure(&cand_buf, cap * sizeof(struct cand)) < 0 ||
	    iset_init(covered, &cover_buf, cap) < 0 || iset_init(tgt, &tgt_buf, cap) < 0 ||
	    iset_init(&anon, &anon_buf, cap) < 0 || iset_init(&notgt, &excl_buf, cap) < 0 ||
	    wbuf_ensure(&own_buf, RS_OWN_MAX * sizeof(struct rs_range)) < 0)
		return -ENOMEM;
	cands = (struct cand *)cand_buf.p;
	cand_cap = cap;
	ncands = 0;
	/* every mapping of ours exists by now: the registry is complete */
	own = (struct rs_range *)own_buf.p;
	nown = rs_own_copy(own, RS_OWN_MAX);
	for (size_t i = 0; i < nown && i < RS_OWN_MAX; i++)
		iset_add(covered, own[i].start, own[i].end);

	/* counted in, so a fork waits for the walks; refused only when a fork
	 * held the gate for a second: walk anyway, a snapshot needs its roots */
	gated = rs_loader_enter();
	dl_iterate_phdr(phdr_cb, &pc);		/* TLS first: it sits inside stacks */
	if (req->stack_lo && (m = map_of(req->stack_lo)) != NULL)
		cand_add(req->stack_lo & ~(uintptr_t)7, m->end, RS_REGION_STACK, req->tid,
			 m->name, m->start);
	other_stacks(req->tid, (uint32_t)pid);
	pc.tls_pass = 0;
	dl_iterate_phdr(phdr_cb, &pc);
	if (gated)
		rs_loader_leave();
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].r && maps[i].wr && maps[i].priv && (maps[i].anon || maps[i].stack))
			cand_add(maps[i].start, maps[i].end, RS_REGION_ANON, 0, maps[i].name, 0);

	/* targets: anonymous private writable memory, not ours, not a stack */
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].wr && maps[i].priv && maps[i].anon)
			iset_add(&anon, maps[i].start, maps[i].end);
	for (size_t i = 0; i < covered->n; i++)
		iset_add(&notgt, covered->r[i].start, covered->r[i].end);
	for (size_t i = 0; i < ncands; i++) {
		if (cands[i].kind != RS_REGION_STACK)
			continue;
		iset_add(&notgt, cands[i].dead_lo, cands[i].end);
		iset_add(covered, cands[i].dead_lo, cands[i].start);	/* dead frames */
	}
	iset_subtract(&anon, &notgt, tgt);
	return 0;
}

/* Scans what of each candidate no earlier one (nor our memory) claimed. */
static void scan_all(struct scan *s, struct iset *covered)
{
	for (size_t i = 0; i < ncands && !s->err; i++) {
		const struct cand *c = &cands[i];
		uintptr_t x = c->start, y = c->end;

		for (size_t j = iset_find(covered, x); j < covered->n && covered->r[j].start < y && x < y;
		     j++) {
			if (covered->r[j].start > x)
				scan_region(s, c, x, covered->r[j].start);
			if (covered->r[j].end > x)
				x = covered->r[j].end;
		}
		if (x < y)
			scan_region(s, c, x, y);
		iset_add(covered, c->start, c->end);
	}
}

int rs_snapshot_take(const struct rs_snapshot_req *req, struct rs_snapshot_stats *stats)
{
	struct iset covered, tgt;
	struct scan s;
	struct iovec l, r;
	uint64_t t0 = rs_clock_ns(CLOCK_MONOTONIC), seq;
	int rc;

	if (!atomic_load(&rs_tracing) || atomic_load(&closed))
		return -EPIPE;
	if ((rc = lock_wait(req->wait_ns)) < 0)
		return rc;
	if (atomic_load(&closed)) {
		atomic_store_explicit(&busy, 0, memory_order_release);
		return -EPIPE;
	}
	if ((rc = fixed_init()) < 0)
		goto out;
	memset(&s, 0, sizeof(s));
	s.id = next_id++;
	s.compress = req->compress;
	s.pid = (pid_t)syscall(SYS_gettid);	/* not getpid: the leader may be gone */
	rs_modules_maybe_rescan();	/* objects loaded behind our back get MODULE first */
	seq = rs_seq_global();		/* before the flush: see snapshot.h */
	/* a thread busy appending is skipped, not waited for: its buffer
	 * lock is taken again at once, and waiting stalls every snapshot */
	rs_writer_flush_all_quick(req->self);
	if ((rc = write_head(s.id, seq, req)) < 0)
		goto out;
	rc = collect(req, &covered, &tgt);
	if (rc == 0) {
		s.tgt = &tgt;
		if (tgt.n) {
			s.tmin = tgt.r[0].start;
			s.tmax = tgt.r[tgt.n - 1].end;
		}
		/* can we read ourselves safely? (seccomp may refuse the call) */
		l.iov_base = w.scratch;
		l.iov_len = sizeof(uintptr_t);
		r.iov_base = (void *)&next_id;
		r.iov_len = sizeof(uintptr_t);
		s.direct = syscall(SYS_process_vm_readv, s.pid, &l, 1UL, &r, 1UL, 0UL) < 0;
		/* open only while scanning: the program's descriptors stay as they were */
		s.pm_fd = open("/proc/thread-self/pagemap", O_RDONLY | O_CLOEXEC);
		scan_all(&s, &covered);
		if (s.pm_fd >= 0)
			close(s.pm_fd);
		rc = s.err;
	}
	if (rc == 0)	/* without SNAPSHOT_END a reader knows it is incomplete */
		write_end(&s, rs_clock_ns(CLOCK_MONOTONIC) - t0);
	if (stats) {
		stats->id = s.id;
		stats->regions = s.regions;
		stats->words = s.words;
		stats->bytes = s.bytes;
		stats->duration_ns = rs_clock_ns(CLOCK_MONOTONIC) - t0;
	}
out:
	if (req->last)
		atomic_store(&closed, 1);
	atomic_store_explicit(&busy, 0, memory_order_release);
	return rc;
}

void rs_snapshot_close(uint64_t wait_ns)
{
	if (lock_wait(wait_ns) == 0) {
		atomic_store(&closed, 1);
		atomic_store_explicit(&busy, 0, memory_order_release);
	} else {
		atomic_store(&closed, 1);	/* the scan in progress still ends */
	}
}
