/*
 * test_pygraph.c - Python-aware snapshot records read back (pyobjects.c)
 * and the collector's algorithm on them (pygraph.c), from traces written by
 * hand with tracebuild: exact objects, references, cycles and bytes, an
 * object split over two entries, and a damaged record.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pygraph.h"
#include "pyobjects.h"
#include "report.h"
#include "tracebuild.h"

/* A payload under construction. */
struct pl {
	uint8_t b[4096];
	size_t n;
};

static void u(struct pl *p, uint64_t v)
{
	p->n += rs_put_uvarint(p->b + p->n, v);
}

static void sv(struct pl *p, int64_t v)
{
	p->n += rs_put_svarint(p->b + p->n, v);
}

static void str(struct pl *p, const char *s)
{
	u(p, strlen(s));
	memcpy(p->b + p->n, s, strlen(s));
	p->n += strlen(s);
}

/* Objects at 0x1010, 0x1110, ... (block i at 0x1000 + 0x100 i, 64 bytes,
 * the object 16 bytes in, as behind the collector's header). */
#define OBJ(i) (0x1010u + 0x100u * (i))

struct obj {
	unsigned type, refcnt, gen, nref;
	int refs[4];	/* object indexes */
	unsigned names[4];
};

/* PY_OBJECTS with objs[first .. first + n), each split over two entries
 * when split (its first reference in one entry, the rest in the next). */
static void objects(struct tb *t, uint64_t id, const struct obj *objs, size_t first, size_t n,
		    int split)
{
	struct pl p = { .n = 0 };
	uint64_t prev = 0, count = 0;
	struct pl body = { .n = 0 };

	for (size_t i = first; i < first + n; i++) {
		const struct obj *o = &objs[i];
		unsigned parts = split && o->nref > 1 ? 2 : 1;

		for (unsigned part = 0; part < parts; part++) {
			unsigned r0 = parts == 2 && part == 1 ? 1 : 0;
			unsigned r1 = parts == 2 && part == 0 ? 1 : o->nref;

			sv(&body, (int64_t)(OBJ(i) - prev));
			prev = OBJ(i);
			u(&body, o->type);
			u(&body, o->refcnt);
			u(&body, o->gen);
			u(&body, 0);
			u(&body, r1 - r0);
			for (unsigned k = r0; k < r1; k++) {
				sv(&body, (int64_t)OBJ(o->refs[k]) - (int64_t)OBJ(i));
				u(&body, o->names[k]);
			}
			count++;
		}
	}
	u(&p, id);
	u(&p, count);
	memcpy(p.b + p.n, body.b, body.n);
	p.n += body.n;
	tb_raw_record(t, RS_REC_PY_OBJECTS, p.b, p.n);
}

/*
 * 0 Holder  refcount 1, nothing references it: held from outside
 * 1 list    refcount 1, held by 0: alive through it
 * 2 Node    -> 3 [next]          \
 * 3 Node    -> 4 [next]           } a 3-cycle, each refcount 1
 * 4 Node    -> 2 [next], -> 5    /
 * 5 list    refcount 1, held only by 4: hangs off the cycle
 * 6 Node    -> 6: a self-loop, refcount 1
 * 7 dict    refcount 2 but one reference from 3: held from outside too
 */
static const struct obj OBJS[] = {
	{ 1, 1, 2, 1, { 1 }, { 0 } },
	{ 2, 1, 2, 0, { 0 }, { 0 } },
	{ 3, 1, 0, 1, { 3 }, { 4 } },
	{ 3, 1, 0, 2, { 4, 7 }, { 4, 5 } },
	{ 3, 1, 1, 2, { 2, 5 }, { 4, 0 } },
	{ 2, 1, 1, 0, { 0 }, { 0 } },
	{ 3, 1, 0, 1, { 6 }, { 0 } },
	{ 5, 2, 2, 0, { 0 }, { 0 } },
};
#define NOBJ (sizeof(OBJS) / sizeof(OBJS[0]))

/* A trace: the blocks allocated, a Python-aware snapshot of OBJS (split as
 * asked, the objects over two PY_OBJECTS records), optionally a second,
 * damaged snapshot, END. */
static void build(const char *path, int split, int damaged_second)
{
	struct tb t;
	struct pl p = { .n = 0 };
	const char *argv[] = { "python3" };
	static const char *const strs[] = { "__main__.Holder", "list", "__main__.Node", "next",
					    "dict", "other" };

	tb_init(&t, 42, 1);
	tb_process(&t, 42, 1, "/usr/bin/python3", 1, argv, RS_ORIGIN_START);
	tb_chunk_begin(&t, 42, 1, 10);
	for (unsigned i = 0; i < NOBJ; i++)
		tb_alloc(&t, 1 + i, 10 + i, OBJ(i) - 16, 64, 0, RS_KIND_MALLOC);
	tb_chunk_end(&t, 0);
	u(&p, 0);
	u(&p, 1 + NOBJ);
	u(&p, 100);
	u(&p, RS_SNAP_EXIT);
	u(&p, 42);
	str(&p, "cpython 3.11.2");
	tb_raw_record(&t, RS_REC_PY_SNAPSHOT, p.b, p.n);
	p.n = 0;
	u(&p, 0);
	u(&p, 1);
	u(&p, 6);
	for (int i = 0; i < 6; i++)
		str(&p, strs[i]);
	tb_raw_record(&t, RS_REC_PY_STRINGS, p.b, p.n);
	objects(&t, 0, OBJS, 0, 4, split);
	objects(&t, 0, OBJS, 4, NOBJ - 4, split);
	p.n = 0;
	u(&p, 0);
	u(&p, NOBJ);
	u(&p, 3);
	u(&p, 4);
	u(&p, 2);
	u(&p, 2);
	tb_raw_record(&t, RS_REC_PY_SNAPSHOT_END, p.b, p.n);
	if (damaged_second) {
		p.n = 0;
		u(&p, 1);
		u(&p, 1 + NOBJ);
		u(&p, 200);
		u(&p, RS_SNAP_SIGNAL);
		u(&p, 42);
		str(&p, "cpython 3.11.2");
		tb_raw_record(&t, RS_REC_PY_SNAPSHOT, p.b, p.n);
		p.n = 0;
		u(&p, 1);
		u(&p, 1);
		sv(&p, OBJ(0));
		u(&p, 9);	/* type: no string 9 in this snapshot */
		tb_raw_record(&t, RS_REC_PY_OBJECTS, p.b, p.n);
	}
	tb_end(&t, 1 + NOBJ, RS_END_EXIT, 0, 300, 0);
	cr_assert_eq(tb_write(&t, path), 0);
	tb_release(&t);
}

static void analyze(const char *path, struct report *rep)
{
	struct report_options opt = { .top = 1, .cycles = 1, .snapshot = -1 };

	cr_assert_eq(report_build(path, &opt, rep), 0);
	cr_assert_eq(rep->have_pygraph, 1);
}

static void check_graph(const struct report *rep)
{
	const struct pygraph *g = &rep->pygraph;
	const struct pygraph_cycle *c0, *c1;
	char s[128];

	cr_assert_eq(rep->npysnaps >= 1, 1);
	cr_assert_eq(rep->pysnap, &rep->pysnaps[0]);
	cr_assert_eq(rep->pysnaps[0].nobjs, NOBJ);
	cr_assert_eq(rep->pysnaps[0].nrefs, 7);
	cr_assert_eq(rep->pysnaps[0].gen_objects[0], 4);
	cr_assert_eq(g->objects, NOBJ);
	cr_assert_eq(g->bytes, NOBJ * 64);
	cr_assert_eq(g->unjoined, 0);
	/* 0, 1 and 7 alive; 2, 3, 4, 5, 6 garbage */
	cr_assert_eq(g->gc_refs[0], 1);
	cr_assert_eq(g->gc_refs[1], 0);
	cr_assert_eq(g->gc_refs[7], 1);
	cr_assert_eq(g->alive[1], 1);
	cr_assert_eq(g->garbage_objects, 5);
	cr_assert_eq(g->garbage_bytes, 5 * 64);
	cr_assert_eq(g->ncycles, 2);
	c0 = &g->cycles[0];
	c1 = &g->cycles[1];
	cr_assert_eq(c0->nmembers, 3);
	cr_assert_eq(c0->bytes, 192);
	cr_assert_eq(c0->members[0], 2);
	cr_assert_eq(c0->members[2], 4);
	cr_assert_eq(c0->nclosing, 3);
	for (size_t e = 0; e < c0->nclosing; e++)
		cr_assert_str_eq(py_string(g->snap, c0->closing[e].name), "next");
	cr_assert_eq(c0->nhanging, 1);
	cr_assert_eq(c0->hanging[0], 5);
	cr_assert_eq(c0->hanging_bytes, 64);
	pygraph_cycle_summary(g, c0, s, sizeof(s));
	cr_assert_str_eq(s, "3 Node");
	cr_assert_eq(c1->nmembers, 1);
	cr_assert_eq(c1->members[0], 6);
	cr_assert_eq(c1->nclosing, 1);
	cr_assert_eq(pygraph_obj_stack(g, 6), 0);
	cr_assert_eq(g->blocks[g->block[6]].addr, OBJ(6) - 16);
}

Test(pygraph, collector_algorithm_finds_cycle_self_loop_and_hanging)
{
	char dir[64], path[512];
	struct report rep;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "py.trace");
	build(path, 0, 0);
	analyze(path, &rep);
	check_graph(&rep);
	cr_assert_eq(rep.pyerror[0], 0);
	report_release(&rep);
}

/* An object whose references come in two entries at the same address is
 * one object with all of them. */
Test(pygraph, entry_at_same_address_continues_the_object)
{
	char dir[64], path[512];
	struct report rep;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "py.trace");
	build(path, 1, 0);
	analyze(path, &rep);
	check_graph(&rep);
	cr_assert_eq(rep.pysnaps[0].objs[3].nref, 2);
	cr_assert_eq(rep.pysnaps[0].objs[4].nref, 2);
	report_release(&rep);
}

/* A damaged second snapshot (a type index past the string table): it is
 * kept as incomplete, the complete first one is analyzed, and the report
 * warns with the record's offset. */
Test(pygraph, damaged_snapshot_leaves_the_earlier_one)
{
	char dir[64], path[512];
	struct report rep;

	tb_tmpdir(dir, sizeof(dir));
	tb_path(path, sizeof(path), dir, "py.trace");
	build(path, 0, 1);
	analyze(path, &rep);
	cr_assert_eq(rep.npysnaps, 2);
	cr_assert_eq(rep.pysnaps[1].complete, 0);
	cr_assert_eq(rep.pysnaps[1].nobjs, 0);
	check_graph(&rep);
	cr_assert(strstr(rep.pyerror, "bad py_objects record at byte "), "%s", rep.pyerror);
	report_release(&rep);
}
