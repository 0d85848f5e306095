/*
 * pysnap.c - CPython targets: preparing the interpreter's environment, and
 * writing the Python-aware snapshot records (PY_SNAPSHOT .. PY_SNAPSHOT_END,
 * include/refscope_format.h) that the interpreter side gathers.
 *
 * How it fits together (docs/PYTHON.md):
 *  - before main, rs_py_prepare looks for CPython's C API in the process
 *    (Py_Initialize exported by the executable or a library loaded with it).
 *    When it is there, and REFSCOPE_PYTHON is not 0, it sets PYTHONMALLOC=malloc
 *    (unless set: every object is then a malloc block with a stack) and puts
 *    the directory holding our sitecustomize.py (python/ next to
 *    librefscope.so) first on PYTHONPATH;
 *  - that sitecustomize.py chains to the system's own, takes our changes
 *    back out of os.environ and sys.path, and registers an atexit callback:
 *    atexit callbacks run at the start of Py_FinalizeEx, after the program's
 *    code and before module teardown and the final collection;
 *  - the callback walks gc.get_objects() and calls the refscope__py_*
 *    functions below through ctypes, with the GIL held. They only encode and
 *    write: no malloc, no Python API.
 *  - the snapshot signal and refscope_snapshot() reach Python through
 *    Py_AddPendingCall (rs_py_request): the callable sitecustomize registered
 *    runs in the main thread at its next check for pending calls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"
#include "ownmem.h"
#include "refscope_format.h"
#include "shim.h"
#include "snapshot.h"
#include "bootstrap.h"

#define HEADROOM 64
#define BUF_SIZE (4u << 20)
#define FLUSH_AT (2u << 20)	/* flush the PY_OBJECTS body past this */
#define REFS_PER_ENTRY 65536u	/* an object with more continues in the next entry */
#define ENTRY_MAX ((size_t)(8 + 2 * REFS_PER_ENTRY) * RS_UVARINT_MAX)

static uint8_t *buf;		/* BUF_SIZE bytes, HEADROOM before it */
/* refscope__py_pause: this thread's allocations are the gathering's own */
static __thread int paused __attribute__((tls_model("initial-exec")));
static atomic_int busy;
static uint64_t next_id;
static int64_t open_id = -1;

/* ---- before main: the environment ---------------------------------------- */

static int have_python(void)
{
	int found = rs_real.dlsym(RTLD_DEFAULT, "Py_Initialize") != NULL ||
		    rs_real.dlsym(RTLD_DEFAULT, "Py_InitializeFromConfig") != NULL;

	if (!found)
		dlerror();	/* frees the message a failed lookup leaves (not traced either) */
	return found;
}

/* "DIR/python" for the directory holding librefscope.so; 0 or -1. */
static int our_dir(char *out, size_t cap)
{
	Dl_info info;
	const char *slash;
	size_t n;

	if (!dladdr((const void *)&have_python, &info) || !info.dli_fname)
		return -1;
	slash = strrchr(info.dli_fname, '/');
	n = slash ? (size_t)(slash - info.dli_fname) : 0;
	if (!slash || n + sizeof("/python/sitecustomize.py") > cap)
		return -1;
	memcpy(out, info.dli_fname, n);
	memcpy(out + n, "/python/sitecustomize.py", sizeof("/python/sitecustomize.py"));
	if (access(out, R_OK) != 0)
		return -1;
	out[n + sizeof("/python") - 1] = 0;
	return 0;
}

void rs_py_prepare(void)
{
	static char path[8192];
	char dir[4096];
	const char *old;
	size_t dn, on;

	if (!rs_opt.python || !atomic_load(&rs_tracing) || !have_python())
		return;
	/* our own variables say what to take back out (sitecustomize.py) */
	if (!getenv("PYTHONMALLOC") && setenv("PYTHONMALLOC", "malloc", 1) == 0)
		setenv("REFSCOPE_PY_MALLOC", "1", 1);
	if (our_dir(dir, sizeof(dir)) < 0)
		return;
	old = getenv("PYTHONPATH");
	dn = strlen(dir);
	on = old ? strlen(old) : 0;
	if (old && (!strncmp(old, dir, dn) && (old[dn] == ':' || !old[dn])))
		return;		/* an exec'd child of a traced Python: there already */
	if (dn + 1 + on + 1 > sizeof(path))
		return;
	memcpy(path, dir, dn);
	if (on) {
		path[dn] = ':';
		memcpy(path + dn + 1, old, on + 1);
	} else {
		path[dn] = 0;
	}
	setenv("PYTHONPATH", path, 1);
}

/* ---- the records ----------------------------------------------------------- */

static int buf_init(void)
{
	uint8_t *m;

	if (buf)
		return 0;
	m = mmap(NULL, HEADROOM + BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	rs_own_add(m, HEADROOM + BUF_SIZE);
	buf = m + HEADROOM;
	return 0;
}

/* Entered from Python through ctypes: the calling thread's hooks only
 * forward while we work, and errno is the program's again afterwards. */
struct entry {
	int guard, err;
};

static int enter(struct entry *e)
{
	e->err = errno;
	e->guard = rs_self.guard;
	if ((e->guard && !paused) || !atomic_load(&rs_tracing))
		return -1;
	rs_self.guard = 1;
	return 0;
}

static void leave(const struct entry *e)
{
	rs_self.guard = e->guard;
	errno = e->err;
}

static size_t put_str(uint8_t *p, const char *s, size_t n)
{
	size_t k = rs_put_uvarint(p, n);

	memcpy(p + k, s, n);
	return k + n;
}

/*
 * on = 1: the calling thread's allocations and frees go untraced (the hooks
 * only forward) until refscope__py_pause(0). The gathering's own objects
 * are made and dropped in between, so they never appear in the trace; the
 * program's objects are not freed meanwhile (the gathering holds them).
 */
RS_EXPORT int refscope__py_pause(int on);
RS_EXPORT int refscope__py_pause(int on)
{
	int e = errno;

	if (on) {
		if (paused || rs_self.guard || !atomic_load(&rs_tracing))
			return -1;
		paused = 1;
		rs_self.guard = 1;
	} else if (paused) {
		paused = 0;
		rs_self.guard = 0;
	}
	errno = e;
	return 0;
}

RS_EXPORT long refscope__py_begin(unsigned trigger, const char *runtime);
RS_EXPORT long refscope__py_begin(unsigned trigger, const char *runtime)
{
	struct entry e;
	uint8_t *p;
	size_t rn = runtime ? strnlen(runtime, 256) : 0;
	long id = -1;

	if (enter(&e) < 0)
		return -1;
	if (atomic_exchange(&busy, 1))
		goto out;
	if (buf_init() < 0) {
		atomic_store(&busy, 0);
		goto out;
	}
	p = buf;
	p += rs_put_uvarint(p, next_id);
	/* every event before this number came before the gathering starts */
	p += rs_put_uvarint(p, rs_seq_global());
	p += rs_put_uvarint(p, rs_writer_now());
	p += rs_put_uvarint(p, trigger);
	p += rs_put_uvarint(p, (uint64_t)syscall(SYS_gettid));
	p += put_str(p, runtime ? runtime : "", rn);
	rs_writer_flush_all_quick(rs_self.tb);
	if (rs_snapshot_emit(RS_REC_PY_SNAPSHOT, buf, p) < 0) {
		atomic_store(&busy, 0);
		goto out;
	}
	open_id = (int64_t)next_id;
	id = (long)next_id++;
out:
	leave(&e);
	return id;
}

/* count NUL-terminated strings in blob[0 .. len), the first numbered first. */
RS_EXPORT int refscope__py_strings(long id, uint64_t first, const char *blob, size_t len,
				   size_t count);
RS_EXPORT int refscope__py_strings(long id, uint64_t first, const char *blob, size_t len,
				   size_t count)
{
	struct entry e;
	uint8_t *p;
	size_t at = 0, n = 0;
	int rc = -1;

	if (enter(&e) < 0)
		return -1;
	if (id != open_id || id < 0 || !blob)
		goto out;
	while (n < count && at < len) {
		uint8_t *start = buf;

		p = buf;
		p += rs_put_uvarint(p, (uint64_t)id);
		p += rs_put_uvarint(p, first + n);
		p += RS_UVARINT_MAX;	/* count, moved into place below */
		{
			uint8_t *cnt_at = p - RS_UVARINT_MAX, *body = p;
			size_t k = 0;

			while (n + k < count && at < len) {
				size_t sl = strnlen(blob + at, len - at);

				if (sl > 4096 || (size_t)(p - buf) + sl + RS_UVARINT_MAX > FLUSH_AT)
					break;
				p += put_str(p, blob + at, sl);
				at += sl + 1;
				k++;
			}
			if (!k)
				goto out;	/* a string longer than a record */
			{
				size_t cn = rs_put_uvarint(cnt_at, k);

				memmove(cnt_at + cn, body, (size_t)(p - body));
				p -= RS_UVARINT_MAX - cn;
			}
			n += k;
		}
		if (rs_snapshot_emit(RS_REC_PY_STRINGS, start, p) < 0)
			goto out;
	}
	rc = n == count ? 0 : -1;
out:
	leave(&e);
	return rc;
}

static int objects_flush(long id, uint8_t *count_at, uint8_t *body, uint8_t *end, uint64_t k)
{
	size_t cn = rs_put_uvarint(count_at, k);

	memmove(count_at + cn, body, (size_t)(end - body));
	end -= RS_UVARINT_MAX - cn;
	(void)id;
	return rs_snapshot_emit(RS_REC_PY_OBJECTS, buf, end);
}

/*
 * v: per object addr, type, refcount, generation, site, nref, then nref x
 * (referent addr, name); n values in all. Entries are split so that none
 * holds more than REFS_PER_ENTRY references (the rest follow in entries at
 * the same address).
 */
RS_EXPORT int refscope__py_objects(long id, const uint64_t *v, size_t n);
RS_EXPORT int refscope__py_objects(long id, const uint64_t *v, size_t n)
{
	struct entry e;
	uint8_t *p = NULL, *count_at = NULL, *body = NULL;
	uint64_t prev = 0, k = 0;
	size_t i = 0;
	int rc = -1;

	if (enter(&e) < 0)
		return -1;
	if (id != open_id || id < 0 || (!v && n))
		goto out;
	while (i < n) {
		uint64_t nref, done = 0;

		if (n - i < 6 || (nref = v[i + 5]) > (n - i - 6) / 2)
			goto out;	/* malformed: nothing more from this call */
		do {
			uint64_t part = nref - done > REFS_PER_ENTRY ? REFS_PER_ENTRY : nref - done;
			const uint64_t *r = v + i + 6 + 2 * done;

			if (!p) {
				p = buf;
				p += rs_put_uvarint(p, (uint64_t)id);
				count_at = p;
				p += RS_UVARINT_MAX;
				body = p;
				prev = 0;
				k = 0;
			}
			p += rs_put_svarint(p, (int64_t)(v[i] - prev));
			prev = v[i];
			for (int f = 1; f < 5; f++)
				p += rs_put_uvarint(p, v[i + f]);
			p += rs_put_uvarint(p, part);
			for (uint64_t j = 0; j < part; j++) {
				p += rs_put_svarint(p, (int64_t)(r[2 * j] - v[i]));
				p += rs_put_uvarint(p, r[2 * j + 1]);
			}
			k++;
			done += part;
			if ((size_t)(p - buf) > BUF_SIZE - ENTRY_MAX || (size_t)(p - buf) > FLUSH_AT) {
				if (objects_flush(id, count_at, body, p, k) < 0)
					goto out;
				p = NULL;
			}
		} while (done < nref);
		i += 6 + 2 * nref;
	}
	if (p && objects_flush(id, count_at, body, p, k) < 0)
		goto out;
	rc = 0;
out:
	leave(&e);
	return rc;
}

RS_EXPORT int refscope__py_end(long id, uint64_t nobjects, const uint64_t *gens, size_t ngen);
RS_EXPORT int refscope__py_end(long id, uint64_t nobjects, const uint64_t *gens, size_t ngen)
{
	struct entry e;
	uint8_t *p;
	int rc = -1;

	if (enter(&e) < 0)
		return -1;
	if (id != open_id || id < 0 || ngen > 16 || (!gens && ngen))
		goto out;
	p = buf;
	p += rs_put_uvarint(p, (uint64_t)id);
	p += rs_put_uvarint(p, nobjects);
	p += rs_put_uvarint(p, ngen);
	for (size_t g = 0; g < ngen; g++)
		p += rs_put_uvarint(p, gens[g]);
	rc = rs_snapshot_emit(RS_REC_PY_SNAPSHOT_END, buf, p) < 0 ? -1 : 0;
	open_id = -1;
	atomic_store(&busy, 0);
out:
	leave(&e);
	return rc;
}

/* ---- snapshots asked for from outside: signal, refscope_snapshot() -------- */

static void *callable;		/* sitecustomize's gathering function, a PyObject * */
static atomic_uint pending_trigger;

RS_EXPORT int refscope__py_register(void *fn);
RS_EXPORT int refscope__py_register(void *fn)
{
	callable = fn;	/* sitecustomize keeps it alive (a module global) */
	return 0;
}

/* Which trigger the pending call is for (0: none); taken by the callable. */
RS_EXPORT unsigned refscope__py_pending_trigger(void);
RS_EXPORT unsigned refscope__py_pending_trigger(void)
{
	return atomic_exchange(&pending_trigger, 0);
}

/* Runs in the interpreter's main thread with the GIL held. */
static int run_pending(void *arg)
{
	void *(*call)(void *, void *) = rs_real.dlsym(RTLD_DEFAULT, "PyObject_CallObject");
	void (*clear)(void) = rs_real.dlsym(RTLD_DEFAULT, "PyErr_Clear");
	void (*decref)(void *) = rs_real.dlsym(RTLD_DEFAULT, "Py_DecRef");
	void *res;

	(void)arg;
	if (!call || !clear || !decref || !callable)
		return 0;
	res = call(callable, NULL);
	if (res)
		decref(res);
	else
		clear();	/* never raise into the program */
	return 0;
}

void rs_py_request(unsigned trigger)
{
	int (*add)(int (*)(void *), void *);

	if (!callable)
		return;
	add = rs_real.dlsym(RTLD_DEFAULT, "Py_AddPendingCall");
	if (!add)
		return;
	atomic_store(&pending_trigger, trigger);
	add(run_pending, NULL);
}
