/*
 * test_shim_refapi_gobject.c - GObject retain/release events where
 * libgobject is reached only through dlopen(RTLD_LOCAL) (PyGObject's _gi.so
 * under Python, or a C program's own dlopen), including the calls
 * libgobject makes to itself (bound with -Bsymbolic-functions, seen only
 * through the detoured entries of shim/refapi.c): every event present,
 * once, made where the samples' headers say, in that order; the programs'
 * output and exit status the same as without refscope. Also four threads
 * calling into a libgobject linked normally, half the calls its own.
 *
 * Where each event is made is checked without the analyzer: this process
 * dlopens the same library and reads the function's offset and size from
 * its symbol; the trace's MODULE record gives the base in the traced one.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_util.h"
#include "refscope_format.h"
#include "test_shim_util.h"

#define PYTHON "/usr/bin/python3"
#define PYCYCLE RS_SOURCE_DIR "/samples/py/gobject_pycycle.py"
#define LIBGOBJECT "libgobject-2.0.so.0"
#define LIBGLIB "libglib-2.0.so.0"

/* Where an event's innermost frame must be: in function fn of library lib
 * (a file name), or, fn NULL, anywhere in the module whose path ends with
 * lib ("" : the main program, which the trace names ""). */
struct where {
	const char *lib, *fn;
};

struct expect {
	uint8_t type;	/* RS_EV_RETAIN or RS_EV_RELEASE */
	struct where at;
};

static char *dir;

static void setup(void)
{
	dir = e2e_tmpdir();
}

static void teardown(void)
{
	e2e_rmtree(dir);
	free(dir);
}

static void need_gi(void)
{
	if (access(PYTHON, X_OK) != 0 ||
	    system(PYTHON " -c 'from gi.repository import GObject' 2>/dev/null") != 0)
		cr_skip_test("no python3-gi (make deps installs it)");
}

/* The base of the module whose path ends with suffix ("" : the main
 * program's empty path). */
static uint64_t module_base(const struct tdec *d, const char *suffix)
{
	size_t sl = strlen(suffix);

	for (size_t i = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];
		size_t pl = strlen(r->path);

		if (r->type != RS_REC_MODULE)
			continue;
		if (sl ? pl >= sl && strcmp(r->path + pl - sl, suffix) == 0 : pl == 0)
			return r->base;
	}
	cr_assert_fail("no module '%s' in the trace", suffix);
	return 0;
}

/* The module (path) holding ip: the one with the highest base below it. */
static const char *module_of(const struct tdec *d, uint64_t ip)
{
	const struct trec *best = NULL;

	for (size_t i = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];

		if (r->type == RS_REC_MODULE && r->base <= ip && (!best || r->base > best->base))
			best = r;
	}
	return best ? best->path : "";
}

/* fn's offset in lib and its size, from this process's own copy. */
static void fn_range(const char *lib, const char *fn, uint64_t *off, uint64_t *size)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL), *p;
	const ElfW(Sym) *sym = NULL;
	Dl_info di;

	cr_assert_not_null(h, "%s", dlerror());
	p = dlsym(h, fn);
	cr_assert_not_null(p, "%s in %s", fn, lib);
	cr_assert(dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym);
	*off = (uint64_t)((uintptr_t)p - (uintptr_t)di.dli_fbase);
	*size = sym->st_size;
}

static const struct trec *stack_of(const struct tdec *d, uint64_t id)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].type == RS_REC_STACK && d->r[i].id == id)
			return &d->r[i];
	cr_assert_fail("stack %lu is not defined", (unsigned long)id);
	return NULL;
}

static void check_where(const struct tdec *d, const struct trec *ev, const struct where *w,
			const char *what)
{
	const struct trec *st = stack_of(d, ev->stack);
	uint64_t ip = st->ips[0], off, size, base;
	const char *path;
	size_t pl, sl = strlen(w->lib);

	cr_assert_geq(st->nframes, 2, "%s: a stack", what);
	if (w->fn) {
		fn_range(w->lib, w->fn, &off, &size);
		base = module_base(d, w->lib);
		cr_assert(ip - base >= off && ip - base < off + size,
			  "%s: made in %s (ip 0x%lx, function at 0x%lx+%lu)", what, w->fn,
			  (unsigned long)ip, (unsigned long)(base + off), (unsigned long)size);
		return;
	}
	path = module_of(d, ip);
	pl = strlen(path);
	cr_assert(sl ? pl >= sl && strcmp(path + pl - sl, w->lib) == 0 : pl == 0,
		  "%s: made in %s, not %s", what, w->lib[0] ? w->lib : "the program", path);
}

/*
 * The GObject API's events on addr, in sequence order, against want; then
 * whether the block was freed after the last one (freed 1) or never (0).
 * Only this object's lifetime counts: the address may have been a block
 * freed before it, or be handed out again after.
 */
static void check_events(const struct tdec *d, uint64_t addr, const char *name,
			 const struct expect *want, size_t nwant, int freed)
{
	size_t k = 0;
	uint64_t first = 0, last = 0, free_seq = UINT64_MAX;

	for (size_t i = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];
		char what[64];

		if (r->addr != addr || (r->type != RS_EV_RETAIN && r->type != RS_EV_RELEASE))
			continue;
		cr_assert_eq(r->api, 1, "%s: GObject API", name);
		cr_assert_eq(r->fn, 0, "%s: g_object_ref or g_object_unref", name);
		cr_assert_gt(r->seq, last, "%s: events in sequence order (one thread)", name);
		first = first ? first : r->seq;
		last = r->seq;
		cr_assert_lt(k, nwant, "%s: more than %zu events", name, nwant);
		snprintf(what, sizeof(what), "%s event %zu", name, k + 1);
		cr_assert_eq(r->type, want[k].type, "%s: %s", what,
			     want[k].type == RS_EV_RETAIN ? "a retain" : "a release");
		check_where(d, r, &want[k].at, what);
		k++;
	}
	cr_assert_eq(k, nwant, "%s: %zu events, not %zu", name, nwant, k);
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].type == RS_EV_FREE && d->r[i].addr == addr && d->r[i].seq > first &&
		    d->r[i].seq < free_seq)
			free_seq = d->r[i].seq;
	if (freed)
		cr_assert(free_seq > last && free_seq != UINT64_MAX,
			  "%s: freed after its last release", name);
	else
		cr_assert_eq(free_seq, UINT64_MAX, "%s: never freed", name);
}

/* One trace in dir, decoded whole: its END is there, nothing lost. */
static void read_trace(const char *path, struct tdec *d)
{
	const struct trec *end;

	cr_assert_eq(tdec_file(d, path, NULL), 0, "%s decodes to its end", path);
	cr_assert_eq(tdec_count(d, RS_REC_END), 1);
	end = tdec_nth(d, RS_REC_END, 0);
	cr_assert_eq(end->lost, 0, "no event lost");
	cr_assert_eq(end->status, 0);
}

static size_t count_type(const struct tdec *d, uint8_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->r[i].type == type && d->r[i].api == 1;
	return n;
}

/* "NAME 0x..." or "NAME refcount N" from the script's notes. */
static unsigned long long note(const char *notes, const char *key, int base)
{
	const char *p = strstr(notes, key);

	cr_assert_not_null(p, "'%s' in the notes:\n%s", key, notes);
	return strtoull(p + strlen(key), NULL, base);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 4096);

	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(s);
	cr_assert_lt(fread(s, 1, 4095, f), 4095);
	fclose(f);
	return s;
}

/*
 * samples/py/gobject_pycycle.py; the expected events are derived in its
 * header and were counted independently with gdb breakpoints on
 * g_object_ref/g_object_unref (the whole run: the same totals as the
 * trace). N's balance (1 + 3 - 2) is its final ref_count as Python read it.
 */
Test(shim_refapi, pygobject_cycle_through_rtld_local, .init = setup, .fini = teardown)
{
	static const struct where gi = { "/_gi.cpython-311-x86_64-linux-gnu.so", NULL };
	static const struct where set = { LIBGOBJECT, "g_value_set_object" };
	static const struct where unset = { LIBGOBJECT, "g_value_unset" };
	static const struct where toggle = { LIBGOBJECT, "g_object_add_toggle_ref" };
	const struct expect d_want[] = {
		{ RS_EV_RETAIN, set },	  /* GObject.Value(GObject.Object, d) */
		{ RS_EV_RELEASE, unset }, /* dv.unset() */
		{ RS_EV_RETAIN, set },	  /* d.emit: the instance's GValue */
		{ RS_EV_RELEASE, unset }, /* ... unset after the emission */
		{ RS_EV_RELEASE, gi },	  /* the wrapper dies: its reference */
	};
	const struct expect n_want[] = {
		{ RS_EV_RETAIN, set },	  /* h.value = GObject.Value(GObject.Object, n) */
		{ RS_EV_RETAIN, toggle }, /* n.holder = h: the wrapper turns toggle */
		{ RS_EV_RELEASE, gi },	  /* ... and drops its plain reference */
		{ RS_EV_RETAIN, set },	  /* n.emit('poke') */
		{ RS_EV_RELEASE, unset },
	};
	char notes[512];
	char *plain_argv[] = { PYTHON, PYCYCLE, notes, NULL };
	char *traced_argv[] = { E2E_REFSCOPE, "run", "-q", "--no-snapshot", "-o", dir, "--",
				PYTHON, PYCYCLE, notes, NULL };
	struct e2e_proc plain, traced;
	struct tdec d = { 0 };
	char cmd[1024], line[4096], *trace, *text;
	uint64_t n_addr, d_addr;
	json_t *rep, *leaked, *obj, *unb;
	int found_set = 0;
	FILE *p;

	need_gi();
	snprintf(notes, sizeof(notes), "%s/notes.txt", dir);
	e2e_exec(plain_argv, NULL, NULL, &plain);
	cr_assert_eq(plain.status, 0, "%s", plain.err);
	cr_assert_str_eq(plain.out, "gobject_pycycle: cycle built, collector found 0\n");
	cr_assert_str_eq(plain.err, "gobject_pycycle: done\n");
	e2e_exec(traced_argv, NULL, NULL, &traced);
	cr_assert_eq(traced.status, plain.status);
	cr_assert_str_eq(traced.out, plain.out, "stdout unchanged under refscope");
	cr_assert_str_eq(traced.err, plain.err, "stderr unchanged under refscope");

	text = slurp(notes);
	d_addr = note(text, "D 0x", 16);
	n_addr = note(text, "N 0x", 16);
	cr_assert_eq(note(text, "D refcount ", 10), 1);
	cr_assert_eq(note(text, "N refcount ", 10), 2);
	free(text);

	trace = e2e_only_trace(dir, "python3");
	read_trace(trace, &d);
	check_events(&d, d_addr, "D", d_want, sizeof(d_want) / sizeof(d_want[0]), 1);
	check_events(&d, n_addr, "N", n_want, sizeof(n_want) / sizeof(n_want[0]), 0);
	/* the whole run, as gdb's breakpoints counted it (Debian bookworm:
	 * GLib 2.74.6, PyGObject 3.42.2, Python 3.11.2): nothing lost, nothing
	 * counted twice, the calls inside libgobject and gi's included */
	cr_assert_eq(count_type(&d, RS_EV_RETAIN), 930);
	cr_assert_eq(count_type(&d, RS_EV_RELEASE), 550);

	/* the report: N leaked (no snapshot: every live refcounted block
	 * counts; with one, Python's collector lists keep N's holders
	 * reachable), the Value's retain without a release, with its stack */
	snprintf(cmd, sizeof(cmd), "%s report --json --top 0 --cycles %s 2>/dev/null", E2E_REFSCOPE,
		 trace);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	{
		json_error_t err;

		rep = json_loadf(p, 0, &err);
		cr_assert_not_null(rep, "report JSON: %s", err.text);
	}
	cr_assert_eq(pclose(p), 0);
	leaked = e2e_get(rep, "refcounts.leaked");
	/* N, and gi's GIRepository singleton (48 bytes into its block, after
	 * its private data), which lives until exit */
	cr_assert_eq(json_array_size(leaked), 2, "two leaked refcounted objects");
	snprintf(line, sizeof(line), "0x%lx", (unsigned long)n_addr);
	obj = NULL;
	for (size_t i = 0; i < json_array_size(leaked); i++)
		if (strcmp(e2e_str(json_array_get(leaked, i), "address"), line) == 0)
			obj = json_array_get(leaked, i);
	cr_assert_not_null(obj, "N (%s) is named leaked", line);
	cr_assert_eq(e2e_int(obj, "size"), 24, "a Node instance: no private data");
	cr_assert_str_eq(e2e_str(obj, "block"), line, "at its block's start");
	cr_assert_eq(e2e_int(obj, "retains"), 3);
	cr_assert_eq(e2e_int(obj, "releases"), 2);
	cr_assert_eq(e2e_int(obj, "balance"), 2);
	unb = e2e_get(obj, "unbalanced");
	cr_assert_eq(json_array_size(unb), 2, "two references wait for a release");
	for (size_t i = 0; i < json_array_size(unb); i++) {
		json_t *u = json_array_get(unb, i);
		json_t *f0 = json_array_get(e2e_get(u, "frames"), 0);

		if (json_is_true(e2e_get(u, "allocation")))
			continue;
		cr_assert_str_eq(e2e_str(f0, "function"), "g_value_set_object");
		cr_assert_gt(json_array_size(e2e_get(u, "frames")), 5, "with its whole stack");
		found_set++;
	}
	cr_assert_eq(found_set, 1, "the Value's retain is the unbalanced one");
	json_decref(rep);
	tdec_free(&d);
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

/* samples/gobject_dlopen.c: the events its header lists, where it says. */
Test(shim_refapi, gobject_dlopen_rtld_local_and_inner_calls, .init = setup, .fini = teardown)
{
	static const struct where prog = { "", NULL };
	const struct expect a_want[] = {
		{ RS_EV_RETAIN, prog },
		{ RS_EV_RETAIN, { LIBGOBJECT, "g_value_set_object" } },
		{ RS_EV_RELEASE, { LIBGOBJECT, "g_value_unset" } },
		{ RS_EV_RETAIN, { LIBGOBJECT, "g_object_add_toggle_ref" } },
		/* g_object_remove_toggle_ref tail-calls g_object_unref: main's */
		{ RS_EV_RELEASE, prog },
		{ RS_EV_RELEASE, prog },
		{ RS_EV_RELEASE, prog },
	};
	/* A's finalization clears its data list, calling the destroy notify */
	const struct expect b_want[] = { { RS_EV_RELEASE, { LIBGLIB, "g_datalist_clear" } } };
	char *argv[] = { E2E_SAMPLE("gobject_dlopen"), NULL };
	struct e2e_proc plain, traced;
	struct tdec d = { 0 };
	char *trace, key[64];
	uint64_t a, b;
	const char *s;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &plain);
	cr_assert_eq(plain.status, 0, "%s", plain.err);
	cr_assert_str_eq(plain.out, "gobject_dlopen: 2 objects finalized\n");
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert_eq(traced.status, 0, "%s", traced.err);
	cr_assert_str_eq(traced.out, plain.out);
	snprintf(key, sizeof(key), "gobject: A 0x");
	s = strstr(traced.err, key);
	cr_assert_not_null(s);
	a = strtoull(s + strlen(key), NULL, 16);
	s = strstr(traced.err, "gobject: B 0x");
	cr_assert_not_null(s);
	b = strtoull(s + strlen("gobject: B 0x"), NULL, 16);
	trace = e2e_only_trace(dir, "gobject_dlopen");
	read_trace(trace, &d);
	check_events(&d, a, "A", a_want, sizeof(a_want) / sizeof(a_want[0]), 1);
	check_events(&d, b, "B", b_want, 1, 1);
	cr_assert_eq(count_type(&d, RS_EV_RETAIN), 3, "3 retains in all, as gdb counts them");
	cr_assert_eq(count_type(&d, RS_EV_RELEASE), 5, "5 releases in all");
	tdec_free(&d);
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}

/* samples/gobject_threads.c: four threads at once, half the calls made by
 * libgobject itself; every one recorded once, each where it was made. */
Test(shim_refapi, gobject_threads_inner_and_outer_calls, .init = setup, .fini = teardown)
{
	char *argv[] = { E2E_SAMPLE("gobject_threads"), "5000", NULL };
	struct e2e_proc plain, traced;
	struct tdec d = { 0 };
	uint64_t o, base, set_off, set_size, unset_off, unset_size;
	size_t retains[2] = { 0, 0 }, releases[2] = { 0, 0 }, threads = 0;
	const char *s;
	char *trace;

	e2e_need_plain_samples();
	e2e_exec(argv, NULL, NULL, &plain);
	e2e_traced(dir, argv, NULL, NULL, &traced);
	cr_assert_eq(traced.status, 0, "%s", traced.err);
	cr_assert_eq(plain.status, 0);
	cr_assert_str_eq(traced.out, "gobject_threads: 4 threads, 5000 rounds, finalized 1\n");
	cr_assert_str_eq(traced.out, plain.out);
	s = strstr(traced.err, "gobject: O 0x");
	cr_assert_not_null(s);
	o = strtoull(s + strlen("gobject: O 0x"), NULL, 16);
	trace = e2e_only_trace(dir, "gobject_threads");
	read_trace(trace, &d);
	base = module_base(&d, "/" LIBGOBJECT);
	fn_range(LIBGOBJECT, "g_value_set_object", &set_off, &set_size);
	fn_range(LIBGOBJECT, "g_value_unset", &unset_off, &unset_size);
	for (size_t i = 0; i < d.n; i++) {
		const struct trec *r = &d.r[i];
		uint64_t ip;
		int inner;

		threads += r->type == RS_EV_THREAD_START && r->creator != 0;
		if (r->type != RS_EV_RETAIN && r->type != RS_EV_RELEASE)
			continue;
		cr_assert_eq(r->addr, o, "only the shared object is referenced");
		ip = stack_of(&d, r->stack)->ips[0] - base;
		if (r->type == RS_EV_RETAIN) {
			inner = ip >= set_off && ip < set_off + set_size;
			retains[inner]++;
		} else {
			inner = ip >= unset_off && ip < unset_off + unset_size;
			releases[inner]++;
		}
	}
	cr_assert_eq(threads, 4);
	cr_assert_eq(retains[0], 20000, "the workers' g_object_ref");
	cr_assert_eq(retains[1], 20000, "g_value_set_object's");
	cr_assert_eq(releases[0], 20001, "the workers' g_object_unref and main's");
	cr_assert_eq(releases[1], 20000, "g_value_unset's");
	tdec_free(&d);
	free(trace);
	e2e_proc_free(&plain);
	e2e_proc_free(&traced);
}
