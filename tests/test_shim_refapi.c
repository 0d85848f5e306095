/*
 * test_shim_refapi.c - retain/release tracing under LD_PRELOAD on the
 * samples whose truth is known (see each sample's header): the counts per
 * object, API id and function index, the stacks, the REFAPI records, and
 * the programs' output and exit status unchanged. Plus the engine's spec
 * parsing and REFAPI encoding, without LD_PRELOAD.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refapi.h"
#include "refscope_format.h"
#include "test_shim_util.h"

#define SAMPLES RS_BUILD_DIR "/samples/"
#define REFOBJ_SPEC "REFSCOPE_REFAPI=refobj_retain:refobj_release"

static char dir[] = "/tmp/refscope-test-refapi-XXXXXX";

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

/*
 * Runs argv (preloaded unless plain) with up to three extra environment
 * entries; stdout into out, stderr into err. Returns the wait status.
 */
static int run(char *const argv[], int plain, const char *const env[3], char *out, size_t ocap,
	       char *err, size_t ecap)
{
	char epath[512];
	int pfd[2], st = 0, efd;
	pid_t pid;
	ssize_t n, got = 0;

	snprintf(epath, sizeof(epath), "%s/stderr.txt", dir);
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		efd = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(pfd[1], 1);
		dup2(efd, 2);
		close(pfd[0]);
		unsetenv("REFSCOPE_DISABLE");
		unsetenv("REFSCOPE_REFAPI");
		unsetenv("LD_BIND_NOW");
		setenv("G_SLICE", "always-malloc", 1);
		if (!plain) {
			setenv("LD_PRELOAD", RS_BUILD_DIR "/librefscope.so", 1);
			setenv("REFSCOPE_OUTPUT_DIR", dir, 1);
		}
		for (int i = 0; env && i < 3 && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	/* a hang fails the test, never the suite: SIGKILL after 60 s (a TERM
	 * would go through the shim's fatal-signal flush) */
	for (int waited = 0;;) {
		struct pollfd pf = { pfd[0], POLLIN, 0 };

		if (poll(&pf, 1, 1000) == 0) {
			if (++waited < 60)
				continue;
			kill(pid, SIGKILL);
			break;
		}
		n = (size_t)got < ocap - 1 ? read(pfd[0], out + got, ocap - 1 - (size_t)got) : 0;
		if (n <= 0)
			break;
		got += n;
	}
	out[got] = 0;
	close(pfd[0]);
	for (int i = 0; i < 600 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(100000);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (err) {
		FILE *f = fopen(epath, "r");
		size_t k = f ? fread(err, 1, ecap - 1, f) : 0;

		err[k] = 0;
		if (f)
			fclose(f);
		unlink(epath);
	}
	return st;
}

/* Decodes the only trace in dir whose name starts with prefix. */
static void only_trace(const char *prefix, struct tdec *d)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	char path[512];
	int found = 0;

	cr_assert_not_null(dd);
	while ((e = readdir(dd)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		found++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(tdec_file(d, path, NULL), 0, "%s does not decode", path);
	}
	closedir(dd);
	cr_assert_eq(found, 1, "one trace named %s*", prefix);
}

/* The address the sample printed as "<tag>: NAME 0x..." on stderr. */
static uint64_t addr_of(const char *err, const char *tag, const char *name)
{
	char key[96];
	const char *p;

	snprintf(key, sizeof(key), "%s: %s 0x", tag, name);
	p = strstr(err, key);
	cr_assert_not_null(p, "no '%s' in the sample's stderr:\n%s", key, err);
	return strtoull(p + strlen(key), NULL, 16);
}

/* Events of type on addr (0: any) through api, fn (-1: any). */
static size_t count(const struct tdec *d, uint8_t type, uint64_t addr, uint64_t api, int fn)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];

		if (r->type == type && (!addr || r->addr == addr) && r->api == api &&
		    (fn < 0 || r->fn == (uint64_t)fn))
			n++;
	}
	return n;
}

static const struct trec *refapi_rec(const struct tdec *d, uint64_t api, size_t *index)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].type == RS_REC_REFAPI && d->r[i].api == api) {
			if (index)
				*index = i;
			return &d->r[i];
		}
	return NULL;
}

static const struct trec *stack_rec(const struct tdec *d, uint64_t id)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].type == RS_REC_STACK && d->r[i].id == id)
			return &d->r[i];
	return NULL;
}

/* Every event of api has a known stack; its REFAPI record comes first. */
static void check_api_records(const struct tdec *d, uint64_t api, const char *name,
			      const char *names, uint64_t how)
{
	size_t at = 0;
	const struct trec *a = refapi_rec(d, api, &at);

	cr_assert_not_null(a, "REFAPI %lu written", (unsigned long)api);
	cr_assert_str_eq(a->path, name);
	cr_assert_str_eq(a->names, names);
	cr_assert_eq(a->how, how);
	for (size_t i = 0; i < d->n; i++) {
		const struct trec *r = &d->r[i];

		if ((r->type != RS_EV_RETAIN && r->type != RS_EV_RELEASE) || r->api != api)
			continue;
		cr_assert_gt(i, at, "the REFAPI record precedes its events");
		cr_assert_neq(r->stack, 0, "event seq %lu has a stack", (unsigned long)r->seq);
		cr_assert_not_null(stack_rec(d, r->stack));
	}
}

static void check_refobj_leaks(const struct tdec *d, const char *err)
{
	static const char *const ring[] = { "R2a", "R2b", "R3a", "R3b", "R3c",
					    "R5a", "R5b", "R5c", "R5d", "R5e" };
	uint64_t x = addr_of(err, "refobj", "X");
	uint64_t fn = addr_of(err, "refobj", "fn cache_lookup_forgets_release");
	const struct trec *st = NULL;

	check_api_records(d, 4, "user", "refobj_retain refobj_release", RS_REFAPI_HOW_GOT);
	for (size_t i = 0; i < sizeof(ring) / sizeof(ring[0]); i++) {
		uint64_t a = addr_of(err, "refobj", ring[i]);

		cr_assert_eq(count(d, RS_EV_RETAIN, a, 4, 0), 1, "%s retained once", ring[i]);
		cr_assert_eq(count(d, RS_EV_RELEASE, a, 4, 0), 1, "%s released once", ring[i]);
	}
	cr_assert_eq(count(d, RS_EV_RETAIN, x, 4, 0), 1);
	cr_assert_eq(count(d, RS_EV_RELEASE, x, 4, 0), 1);
	cr_assert_eq(count(d, RS_EV_RETAIN, 0, 4, -1), 16, "16 retains in all");
	cr_assert_eq(count(d, RS_EV_RELEASE, 0, 4, -1), 21, "21 releases, the cascade included");
	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].type == RS_EV_RETAIN && d->r[i].addr == x)
			st = stack_rec(d, d->r[i].stack);
	cr_assert_not_null(st);
	cr_assert_geq(st->nframes, 2);
	cr_assert(st->ips[0] >= fn && st->ips[0] < fn + 64,
		  "X's retain is inside cache_lookup_forgets_release (ip 0x%lx, fn 0x%lx)",
		  (unsigned long)st->ips[0], (unsigned long)fn);
}

Test(shim_refapi, user_pair_linked_normally, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refobj_leaks", NULL };
	const char *env[3] = { REFOBJ_SPEC, NULL, NULL };
	char plain[128], out[128], err[4096];
	struct tdec d = { 0 };

	cr_assert_eq(run(argv, 1, NULL, plain, sizeof(plain), NULL, 0), 0);
	cr_assert_str_eq(plain, "refobj_leaks: 11 objects leaked\n");
	cr_assert_eq(run(argv, 0, env, out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, plain, "output unchanged under the shim");
	only_trace("refscope.refobj_leaks.", &d);
	check_refobj_leaks(&d, err);
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 1, -1) + count(&d, RS_EV_RETAIN, 0, 3, -1), 0);
	tdec_free(&d);
}

Test(shim_refapi, user_pair_bound_now_and_with_registry, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refobj_leaks", "registry", NULL };
	const char *env[3] = { REFOBJ_SPEC, "LD_BIND_NOW=1", NULL };
	char out[128], err[4096];
	struct tdec d = { 0 };

	cr_assert_eq(run(argv, 0, env, out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "refobj_leaks: 11 objects leaked, all on the list of instances\n");
	only_trace("refscope.refobj_leaks.", &d);
	check_refobj_leaks(&d, err);
	tdec_free(&d);
}

Test(shim_refapi, rtld_local_plugins_and_dlsym, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refobj_plugin", NULL };
	const char *env[3] = { REFOBJ_SPEC, NULL, NULL };
	static const char *const linked[] = { "linked L1", "linked L2", "linked L3" };
	char plain[128], out[128], err[4096];
	struct tdec d = { 0 };
	uint64_t p1, p2;

	cr_assert_eq(run(argv, 1, NULL, plain, sizeof(plain), NULL, 0), 0);
	cr_assert_eq(run(argv, 0, env, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out, plain);
	cr_assert_str_eq(out, "refobj_plugin: plugin 2, linked plugin 3\n");
	only_trace("refscope.refobj_plugin.", &d);
	check_api_records(&d, 4, "user", "refobj_retain refobj_release", RS_REFAPI_HOW_GOT);
	p1 = addr_of(err, "refobj", "plugin P1");
	p2 = addr_of(err, "refobj", "plugin P2");
	cr_assert_eq(count(&d, RS_EV_RETAIN, p1, 4, 0), 2, "link + the dlsym'd retain");
	cr_assert_eq(count(&d, RS_EV_RELEASE, p1, 4, 0), 2);
	cr_assert_eq(count(&d, RS_EV_RETAIN, p2, 4, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, p2, 4, 0), 1);
	for (int i = 0; i < 3; i++) {
		uint64_t a = addr_of(err, "refobj", linked[i]);

		cr_assert_eq(count(&d, RS_EV_RETAIN, a, 4, 0), 1, "%s", linked[i]);
		cr_assert_eq(count(&d, RS_EV_RELEASE, a, 4, 0), 1, "%s", linked[i]);
	}
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 4, -1), 6);
	cr_assert_eq(count(&d, RS_EV_RELEASE, 0, 4, -1), 6);
	tdec_free(&d);
}

Test(shim_refapi, unknown_names_change_nothing, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refobj_leaks", NULL };
	const char *env[3] = { "REFSCOPE_REFAPI=no_such_retain:no_such_release,garbage,:x,a:", NULL,
			       NULL };
	char out[128];
	struct tdec d = { 0 };

	cr_assert_eq(run(argv, 0, env, out, sizeof(out), NULL, 0), 0);
	cr_assert_str_eq(out, "refobj_leaks: 11 objects leaked\n");
	only_trace("refscope.refobj_leaks.", &d);
	cr_assert_eq(tdec_count(&d, RS_EV_RETAIN) + tdec_count(&d, RS_EV_RELEASE), 0);
	cr_assert_eq(tdec_count(&d, RS_REC_REFAPI), 0, "no API was found, none is described");
	cr_assert_eq(tdec_count(&d, RS_REC_END), 1);
	tdec_free(&d);
}

Test(shim_refapi, gobject_refs_seen, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "gobject_cycle", NULL };
	char out[128], err[4096];
	struct tdec d = { 0 };
	uint64_t a, b, c;

	cr_assert_eq(run(argv, 0, NULL, out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "gobject_cycle: 2 objects left in a reference cycle\n");
	only_trace("refscope.gobject_cycle.", &d);
	check_api_records(&d, 1, "gobject", "g_object_ref g_object_ref_sink g_object_unref",
			  RS_REFAPI_HOW_GOT);
	a = addr_of(err, "gobject", "A");
	b = addr_of(err, "gobject", "B");
	c = addr_of(err, "gobject", "C");
	cr_assert_eq(count(&d, RS_EV_RETAIN, a, 1, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, a, 1, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RETAIN, b, 1, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, b, 1, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RETAIN, c, 1, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, c, 1, 0), 2);
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 1, -1), 3);
	cr_assert_eq(count(&d, RS_EV_RELEASE, 0, 1, -1), 4);
	tdec_free(&d);
}

Test(shim_refapi, annotation_api, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refapi_annotate", NULL };
	char out[128], err[4096];
	struct tdec d = { 0 };
	uint64_t k, f;

	cr_assert_eq(run(argv, 1, NULL, out, sizeof(out), NULL, 0), 0);
	cr_assert_str_eq(out, "refapi_annotate: active 0\n", "runs without refscope");
	cr_assert_eq(run(argv, 0, NULL, out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "refapi_annotate: active 1\n");
	only_trace("refscope.refapi_annotate.", &d);
	check_api_records(&d, 3, "annotation", "refscope_retain refscope_release",
			  RS_REFAPI_HOW_ANNOTATION);
	k = addr_of(err, "annotate", "K");
	f = addr_of(err, "annotate", "F");
	cr_assert_eq(count(&d, RS_EV_RETAIN, k, 3, 0), 2);
	cr_assert_eq(count(&d, RS_EV_RELEASE, k, 3, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RETAIN, f, 3, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, f, 3, 0), 2);
	cr_assert_eq(tdec_count(&d, RS_REC_REFAPI), 1);
	tdec_free(&d);
}

Test(shim_refapi, cpython_incref_through_ctypes, .init = setup, .fini = teardown)
{
	char *argv[] = { "/usr/bin/python3", "-c",
			 "import ctypes\n"
			 "o = object(); api = ctypes.pythonapi; p = ctypes.py_object(o)\n"
			 "for _ in range(3): api.Py_IncRef(p)\n"
			 "for _ in range(3): api.Py_DecRef(p)\n"
			 "import sys; sys.stderr.write('py: O %s\\n' % hex(id(o)))\n"
			 "print('refcount ok', sys.getrefcount(o) < 10)\n",
			 NULL };
	char *pass[] = { "/usr/bin/python3", "-c", "pass", NULL };
	char out[128], err[4096], cmd[128];
	struct tdec d = { 0 };
	uint64_t o;

	if (access(argv[0], X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	cr_assert_eq(run(pass, 0, NULL, out, sizeof(out), NULL, 0), 0);
	cr_assert_str_eq(out, "");
	snprintf(cmd, sizeof(cmd), "rm -f %s/refscope.*", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(run(argv, 0, NULL, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out, "refcount ok True\n");
	only_trace("refscope.python3", &d);
	o = addr_of(err, "py", "O");
	check_api_records(&d, 2, "cpython", "Py_IncRef _Py_IncRef Py_DecRef _Py_DecRef",
			  RS_REFAPI_HOW_GOT);
	cr_assert_eq(count(&d, RS_EV_RETAIN, o, 2, 0), 3);
	cr_assert_eq(count(&d, RS_EV_RELEASE, o, 2, 0), 3);
	tdec_free(&d);
}

Test(shim_refapi, run_flag_sets_the_child_environment, .init = setup, .fini = teardown)
{
	char cmd[1024], line[256];
	FILE *p;
	int slice = 0, spec = 0;

	snprintf(cmd, sizeof(cmd),
		 "env -u G_SLICE %s/refscope run -q -o %s --refapi a_ref:a_unref --refapi b_ref:b_unref"
		 " -- /usr/bin/env",
		 RS_BUILD_DIR, dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		slice += strcmp(line, "G_SLICE=always-malloc\n") == 0;
		spec += strcmp(line, "REFSCOPE_REFAPI=a_ref:a_unref,b_ref:b_unref\n") == 0;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(slice, 1);
	cr_assert_eq(spec, 1);
	snprintf(cmd, sizeof(cmd), "G_SLICE=debug-blocks %s/refscope run -q -o %s -- /usr/bin/env",
		 RS_BUILD_DIR, dir);
	p = popen(cmd, "r");
	slice = 0;
	while (fgets(line, sizeof(line), p))
		slice += strcmp(line, "G_SLICE=debug-blocks\n") == 0;
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(slice, 1, "the user's G_SLICE is kept");
}

Test(shim_refapi, run_flag_traces_the_sample, .init = setup, .fini = teardown)
{
	char cmd[1024];
	struct tdec d = { 0 };

	snprintf(cmd, sizeof(cmd),
		 "timeout -s KILL 60 %s/refscope run -q -o %s --refapi refobj_retain:refobj_release"
		 " -- %s >/dev/null 2>&1",
		 RS_BUILD_DIR, dir, SAMPLES "refobj_leaks");
	cr_assert_eq(system(cmd), 0);
	only_trace("refscope.refobj_leaks.", &d);
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 4, 0), 16);
	cr_assert_eq(count(&d, RS_EV_RELEASE, 0, 4, 0), 21);
	tdec_free(&d);
}

/* ---- the engine, in this process ----------------------------------------- */

Test(shim_refapi, spec_parsing_and_refapi_record)
{
	uint8_t rec[1024];
	struct tdec d = { 0 };
	size_t n;

	cr_assert_eq(rs_refapi_init("mylib_retain:mylib_release,bad,:x,y:,"
				    "other_ref:other_unref"),
		     2);
	cr_assert_eq(rs_refapi_count(), 5);
	cr_assert(rs_refapi_wants("g_object_ref_sink"));
	cr_assert(rs_refapi_wants("_Py_DecRef"));
	cr_assert(rs_refapi_wants("other_unref"));
	cr_assert_not(rs_refapi_wants("refscope_retain"), "the annotation is exported, not patched");
	cr_assert_not(rs_refapi_wants("bad"));
	n = rs_refapi_record(5, rec, sizeof(rec));
	cr_assert_gt(n, 0);
	cr_assert_eq(tdec_bytes(&d, rec, n), 0);
	cr_assert_eq(d.n, 1);
	cr_assert_eq(d.r[0].type, RS_REC_REFAPI);
	cr_assert_eq(d.r[0].api, 5);
	cr_assert_str_eq(d.r[0].path, "user");
	cr_assert_eq(d.r[0].nretain, 1);
	cr_assert_eq(d.r[0].nrelease, 1);
	cr_assert_str_eq(d.r[0].names, "other_ref other_unref");
	cr_assert_eq(d.r[0].how, RS_REFAPI_HOW_GOT);
	cr_assert_eq(rs_refapi_record(6, rec, sizeof(rec)), 0);
	cr_assert_eq(rs_refapi_record(0, rec, sizeof(rec)), 0);
	tdec_free(&d);
}

/* PyGObject loads libgobject RTLD_LOCAL behind Python's back: the case where
 * a preloaded g_object_ref with dlsym(RTLD_NEXT) finds NULL and crashes. */
Test(shim_refapi, python_gi_runs_and_its_refs_are_seen, .init = setup, .fini = teardown)
{
	char *argv[] = { "/usr/bin/python3", "-c",
			 "import sys, re\n"
			 "from gi.repository import GObject\n"
			 "objs = [GObject.Object() for _ in range(5)]\n"
			 "m = re.search(r'GObject at (0x[0-9a-f]+)', repr(objs[0]))\n"
			 "sys.stderr.write('gi: O %s\\n' % m.group(1))\n"
			 "print('gi ok', len(objs))\n",
			 NULL };
	char out[128], err[4096];
	struct tdec d = { 0 };
	uint64_t o;

	if (system("/usr/bin/python3 -c 'from gi.repository import GObject' 2>/dev/null") != 0)
		cr_skip_test("no python3-gi");
	cr_assert_eq(run(argv, 0, NULL, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out, "gi ok 5\n");
	only_trace("refscope.python3", &d);
	o = addr_of(err, "gi", "O");
	check_api_records(&d, 1, "gobject", "g_object_ref g_object_ref_sink g_object_unref",
			  RS_REFAPI_HOW_GOT);
	/* PyGObject holds the object's one reference (a plain wrapper, no
	 * instance dict: no toggle reference) and drops it when the wrapper
	 * dies at exit */
	cr_assert_eq(count(&d, RS_EV_RETAIN, o, 1, -1), 0);
	cr_assert_eq(count(&d, RS_EV_RELEASE, o, 1, 0), 1, "the wrapper's g_object_unref is seen");
	cr_assert_gt(count(&d, RS_EV_RETAIN, 0, 1, 0), 100, "and PyGObject's other refs");
	tdec_free(&d);
}

/* Full RELRO (-z relro -z now): the PLT slots and the GLOB_DAT/absolute
 * function pointers are read-only when the shim patches them. */
Test(shim_refapi, full_relro_program, .init = setup, .fini = teardown)
{
	char cmd[2048], exe[512], out[128], err[4096];
	char *argv[] = { exe, NULL };
	const char *env[3] = { REFOBJ_SPEC, NULL, NULL };
	struct tdec d = { 0 };

	snprintf(exe, sizeof(exe), "%s/refobj_relro", dir);
	snprintf(cmd, sizeof(cmd),
		 "cc -std=gnu11 -O1 -g -fno-omit-frame-pointer -I%s/include -o %s %s/samples/refobj_leaks.c"
		 " -L%s/samples -lrefobj -Wl,-rpath,%s/samples -Wl,-z,relro,-z,now"
		 " && readelf -lW %s | grep -q GNU_RELRO && readelf -dW %s | grep -q BIND_NOW",
		 RS_SOURCE_DIR, exe, RS_SOURCE_DIR, RS_BUILD_DIR, RS_BUILD_DIR, exe, exe);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(run(argv, 0, env, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out, "refobj_leaks: 11 objects leaked\n");
	only_trace("refscope.refobj_relro.", &d);
	check_refobj_leaks(&d, err);
	tdec_free(&d);
}

/* A fork child writes its own trace: the REFAPI record again, then its own
 * events through the trampoline the parent looked up. */
Test(shim_refapi, fork_child_describes_the_api_again, .init = setup, .fini = teardown)
{
	char *argv[] = { "/usr/bin/python3", "-c",
			 "import ctypes, os, sys\n"
			 "o = object(); p = ctypes.py_object(o); inc = ctypes.pythonapi.Py_IncRef\n"
			 "dec = ctypes.pythonapi.Py_DecRef\n"
			 "inc(p); dec(p)\n"
			 "pid = os.fork()\n"
			 "if pid == 0:\n"
			 "    inc(p); inc(p); dec(p); dec(p); os._exit(0)\n"
			 "os.waitpid(pid, 0)\n"
			 "sys.stderr.write('py: O %s\\n' % hex(id(o)))\n",
			 NULL };
	char out[128], err[4096];
	DIR *dd;
	struct dirent *e;
	int traces = 0;

	if (access(argv[0], X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	cr_assert_eq(run(argv, 0, NULL, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	dd = opendir(dir);
	while ((e = readdir(dd)) != NULL) {
		struct tdec d = { 0 };
		char path[512];
		uint64_t o = addr_of(err, "py", "O");
		const struct trec *p;

		if (strncmp(e->d_name, "refscope.", 9) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(tdec_file(&d, path, NULL), 0);
		p = tdec_nth(&d, RS_REC_PROCESS, 0);
		check_api_records(&d, 2, "cpython", "Py_IncRef _Py_IncRef Py_DecRef _Py_DecRef",
				  RS_REFAPI_HOW_GOT);
		if (p->origin == RS_ORIGIN_FORK) {
			cr_assert_eq(count(&d, RS_EV_RETAIN, o, 2, 0), 2, "the child's own");
			cr_assert_eq(count(&d, RS_EV_RELEASE, o, 2, 0), 2);
		} else {
			cr_assert_eq(count(&d, RS_EV_RETAIN, o, 2, 0), 1, "the parent's only");
			cr_assert_eq(count(&d, RS_EV_RELEASE, o, 2, 0), 1);
		}
		traces++;
		tdec_free(&d);
	}
	closedir(dd);
	cr_assert_eq(traces, 2);
}

/* Traced calls on 4 threads while the main thread loads and unloads a
 * plugin 20 times (scans and patches run meanwhile): no event lost. */
Test(shim_refapi, threads_while_modules_come_and_go, .init = setup, .fini = teardown)
{
	char *argv[] = { SAMPLES "refobj_threads", NULL };
	const char *env[3] = { REFOBJ_SPEC, NULL, NULL };
	char out[128];
	struct tdec d = { 0 };
	size_t threads = 0;

	cr_assert_eq(run(argv, 0, env, out, sizeof(out), NULL, 0), 0);
	cr_assert_str_eq(out, "refobj_threads: 4 threads done, 20 loads, 0 live\n");
	only_trace("refscope.refobj_threads.", &d);
	check_api_records(&d, 4, "user", "refobj_retain refobj_release", RS_REFAPI_HOW_GOT);
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 4, 0), 40000);
	cr_assert_eq(count(&d, RS_EV_RELEASE, 0, 4, 0), 40004);
	for (size_t i = 0; i < d.n; i++)
		threads += d.r[i].type == RS_EV_THREAD_START && d.r[i].creator != 0;
	cr_assert_eq(threads, 4);
	tdec_free(&d);
}

/* A plugin dlopen'ed by bare name (the dlopen hook is a tail call there, to
 * keep the caller's RUNPATH) whose constructor uses librefobj before the
 * program ever calls dlsym: patched at the first new stack after the load. */
Test(shim_refapi, bare_name_dlopen_constructor, .init = setup, .fini = teardown)
{
	char cmd[2048], exe[512], out[64];
	char *argv[] = { exe, NULL };
	const char *env[3] = { REFOBJ_SPEC, NULL, NULL };
	struct tdec d = { 0 };
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s/ctor.c", dir);
	f = fopen(cmd, "w");
	fputs("#include \"refobj.h\"\n#include <stdio.h>\n"
	      "__attribute__((constructor)) static void init(void) {\n"
	      "struct refobj *o = refobj_new(7);\n"
	      "refobj_retain(o); refobj_release(o); refobj_release(o); }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/main.c", dir);
	f = fopen(cmd, "w");
	fputs("#include <dlfcn.h>\n#include <stdio.h>\nint main(void) {\n"
	      "puts(dlopen(\"librsctor.so\", RTLD_NOW) ? \"loaded\" : \"failed\"); return 0; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %1$s/lib && cc -shared -fPIC -I%2$s/samples/lib -o %1$s/lib/librsctor.so"
		 " %1$s/ctor.c -L%3$s/samples -lrefobj -Wl,-rpath,%3$s/samples"
		 " && cc -o %1$s/bin %1$s/main.c -ldl -Wl,-rpath,'$ORIGIN/lib' -Wl,--enable-new-dtags"
		 " && rm %1$s/ctor.c %1$s/main.c",
		 dir, RS_SOURCE_DIR, RS_BUILD_DIR);
	cr_assert_eq(system(cmd), 0);
	snprintf(exe, sizeof(exe), "%s/bin", dir);
	cr_assert_eq(run(argv, 0, env, out, sizeof(out), NULL, 0), 0);
	cr_assert_str_eq(out, "loaded\n");
	only_trace("refscope.bin.", &d);
	cr_assert_eq(count(&d, RS_EV_RETAIN, 0, 4, 0), 1);
	cr_assert_eq(count(&d, RS_EV_RELEASE, 0, 4, 0), 2);
	tdec_free(&d);
}

/* ---- trampolines and GOT patching in this process (no shim) --------------- */

static unsigned hits[RS_REFAPI_TRAMPS];
static const void *last_obj;

static void count_hit(unsigned idx, const void *obj)
{
	hits[idx]++;
	last_obj = obj;
}

/* Every argument register, stack arguments and a double result. */
__attribute__((noinline)) static double many_args(void *o, long a, long b, long c, long d, long e,
						  double f0, double f1, double f2, double f3,
						  double f4, double f5, double f6, double f7, long s1,
						  double s2, long s3)
{
	(void)o;
	return (double)(a + 2 * b + 3 * c + 4 * d + 5 * e) + f0 + 2 * f1 + 3 * f2 + 4 * f3 +
	       5 * f4 + 6 * f5 + 7 * f6 + 8 * f7 + (double)(100 * s1) + 1000 * s2 +
	       (double)(10000 * s3);
}

Test(shim_refapi, trampoline_keeps_arguments_and_result)
{
	double (*fn)(void *, long, long, long, long, long, double, double, double, double, double,
		     double, double, double, long, double, long);
	void *t;
	int o;
	double want, got;

	rs_refapi_hit_fn = count_hit;
	cr_assert_eq(rs_refapi_init("many_args:many_release"), 1);
	t = rs_refapi_redirect("many_args", (void *)many_args);
	cr_assert_neq(t, (void *)many_args, "a trampoline stands for it");
	cr_assert_eq(rs_refapi_redirect("many_args", (void *)many_args), t, "one per target");
	cr_assert_eq(rs_refapi_redirect("not_traced", (void *)many_args), (void *)many_args);
	*(void **)&fn = t;
	want = many_args(&o, 1, 2, 3, 4, 5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 6, 0.25, 7);
	errno = 1234;
	got = fn(&o, 1, 2, 3, 4, 5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 6, 0.25, 7);
	cr_assert_eq(errno, 1234, "the trampoline leaves errno alone");
	cr_assert_float_eq(got, want, 1e-9);
	cr_assert_eq(last_obj, &o, "the object is the first argument");
	cr_assert_eq(hits[0], 1);
	cr_assert_eq(rs_refapi_tramp_fn(0)->api, 4);
	cr_assert_eq(rs_refapi_tramp_fn(0)->release, 0);
}

Test(shim_refapi, got_patching_of_an_rtld_local_plugin)
{
	void *h;
	int (*run_plugin)(void);
	unsigned retains = 0, releases = 0;

	rs_refapi_hit_fn = count_hit;
	cr_assert_eq(rs_refapi_init("refobj_retain:refobj_release"), 1);
	h = dlopen(SAMPLES "librefobj_linked_plugin.so", RTLD_LAZY | RTLD_LOCAL);
	cr_assert_not_null(h, "%s", dlerror());
	/* the plugin's PLT slot of refobj_release (it never calls retain
	 * itself), librefobj's own two, nothing in this program */
	cr_assert_eq(rs_refapi_scan(NULL), 3);
	cr_assert_eq(rs_refapi_scan(NULL), 0, "nothing new, nothing patched twice");
	*(void **)&run_plugin = dlsym(h, "linked_plugin_run");
	cr_assert_not_null(run_plugin);
	cr_assert_eq(run_plugin(), 3);
	for (unsigned i = 0; i < RS_REFAPI_TRAMPS; i++) {
		if (!hits[i])
			continue;
		cr_assert_eq(rs_refapi_tramp_fn(i)->api, 4);
		if (rs_refapi_tramp_fn(i)->release)
			releases += hits[i];
		else
			retains += hits[i];
	}
	cr_assert_eq(retains, 3, "one link per ring member");
	cr_assert_eq(releases, 3, "the plugin's own releases");
}
