/*
 * pyobjects.c - decoding the Python-aware snapshot records (see
 * pyobjects.h; the layout is in include/refscope_format.h). Entries of
 * PY_OBJECTS at the same address as the entry before them continue that
 * object (more references); after the load the objects are sorted by
 * address and each appears once.
 */
#include "pyobjects.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cur {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t u(struct cur *c)
{
	uint64_t v = 0;
	size_t k = c->bad ? 0 : rs_get_uvarint(c->p, c->end, &v);

	if (!k)
		c->bad = 1;
	c->p += k;
	return v;
}

static int64_t sv(struct cur *c)
{
	int64_t v = 0;
	size_t k = c->bad ? 0 : rs_get_svarint(c->p, c->end, &v);

	if (!k)
		c->bad = 1;
	c->p += k;
	return v;
}

/* A string field, malloc'd and NUL-terminated; NULL when cut (c->bad) or
 * out of memory (c->bad stays 0). */
static char *str(struct cur *c)
{
	uint64_t n = u(c);
	char *s;

	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	memcpy(s, c->p, (size_t)n);
	s[n] = 0;
	c->p += n;
	return s;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 64;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

struct load {
	struct py_snapshot *s;	/* the open one, or NULL */
	size_t cap_strings, cap_objs, cap_refs;
};

static int obj_cmp(const void *a, const void *b)
{
	const struct py_object *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sorts the objects by address, keeping their references in place. */
static void finish(struct py_snapshot *s)
{
	if (s->nobjs) /* objs is NULL for a snapshot without objects: qsort's must not be */
		qsort(s->objs, s->nobjs, sizeof(*s->objs), obj_cmp);
}

/* One record into the open snapshot; -EINVAL on damage. */
static int apply(struct load *l, uint8_t type, struct cur *c)
{
	struct py_snapshot *s = l->s;
	uint64_t id = u(c);

	if (c->bad || !s || id != s->id)
		return -EINVAL;
	if (type == RS_REC_PY_STRINGS) {
		uint64_t first = u(c), count = u(c);

		if (c->bad || first != s->nstrings || count > (uint64_t)(c->end - c->p))
			return -EINVAL;
		if (grow((void **)&s->strings, &l->cap_strings, s->nstrings + (size_t)count,
			 sizeof(*s->strings)))
			return -ENOMEM;
		for (uint64_t i = 0; i < count; i++) {
			char *x = str(c);

			if (!x)
				return c->bad ? -EINVAL : -ENOMEM;
			s->strings[s->nstrings++] = x;
		}
		return 0;
	}
	if (type == RS_REC_PY_OBJECTS) {
		uint64_t count = u(c), prev = 0;

		if (c->bad || count > (uint64_t)(c->end - c->p))
			return -EINVAL;
		for (uint64_t i = 0; i < count; i++) {
			struct py_object o = { 0 };
			uint64_t nref;

			o.addr = prev + (uint64_t)sv(c);
			prev = o.addr;
			o.type = (uint32_t)u(c);
			o.refcnt = u(c);
			o.gen = (uint32_t)u(c);
			o.site = (uint32_t)u(c);
			nref = u(c);
			if (c->bad || o.type >= s->nstrings || o.site >= s->nstrings ||
			    nref > (uint64_t)(c->end - c->p) / 2)
				return -EINVAL;
			if (grow((void **)&s->refs, &l->cap_refs, s->nrefs + (size_t)nref, sizeof(*s->refs)))
				return -ENOMEM;
			/* an entry at the previous entry's address continues it */
			if (s->nobjs && s->objs[s->nobjs - 1].addr == o.addr) {
				s->objs[s->nobjs - 1].nref += (size_t)nref;
			} else {
				if (grow((void **)&s->objs, &l->cap_objs, s->nobjs + 1, sizeof(*s->objs)))
					return -ENOMEM;
				o.ref0 = s->nrefs;
				o.nref = (size_t)nref;
				s->objs[s->nobjs++] = o;
			}
			for (uint64_t k = 0; k < nref; k++) {
				struct py_ref *r = &s->refs[s->nrefs++];

				r->addr = o.addr + (uint64_t)sv(c);
				r->name = (uint32_t)u(c);
				if (c->bad || r->name >= s->nstrings)
					return -EINVAL;
			}
		}
		return 0;
	}
	/* PY_SNAPSHOT_END */
	s->end_objects = u(c);
	s->ngen = u(c);
	if (c->bad || s->ngen > PY_MAX_GENS)
		return -EINVAL;
	for (uint64_t g = 0; g < s->ngen; g++)
		s->gen_objects[g] = u(c);
	if (c->bad)
		return -EINVAL;
	s->complete = 1;
	finish(s);
	l->s = NULL;
	return 0;
}

static int begin(struct load *l, struct py_snapshot **out, size_t *n, size_t *cap,
		 const struct reader_pyrec *rec, struct cur *c)
{
	struct py_snapshot s = { .offset = rec->offset };

	s.id = u(c);
	s.seq = u(c);
	s.time = u(c);
	s.trigger = u(c);
	s.tid = u(c);
	s.runtime = str(c);
	if (!s.runtime)
		return c->bad ? -EINVAL : -ENOMEM;
	s.strings = malloc(16 * sizeof(*s.strings));
	if (!s.strings || !(s.strings[0] = strdup(""))) {
		free(s.strings);
		free(s.runtime);
		return -ENOMEM;
	}
	s.nstrings = 1;
	if (grow((void **)out, cap, *n + 1, sizeof(**out))) {
		free(s.strings[0]);
		free(s.strings);
		free(s.runtime);
		return -ENOMEM;
	}
	(*out)[(*n)++] = s;
	l->s = &(*out)[*n - 1];
	l->cap_strings = 16;
	l->cap_objs = l->cap_refs = 0;
	return 0;
}

int py_snapshots_load(struct reader *r, struct py_snapshot **out, size_t *n, char *why,
		      size_t why_len)
{
	size_t nrec, cap = 0;
	const struct reader_pyrec *recs = reader_pyrecs(r, &nrec);
	struct load l = { 0 };
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (why && why_len)
		why[0] = 0;
	for (size_t i = 0; i < nrec && rc == 0; i++) {
		uint8_t *buf;
		struct cur c;

		rc = reader_payload(r, &recs[i], &buf);
		if (rc == -EINVAL)
			goto damaged;
		if (rc)
			break;
		c = (struct cur){ buf, buf + recs[i].size, 0 };
		if (recs[i].type == RS_REC_PY_SNAPSHOT) {
			if (l.s)
				finish(l.s);	/* the one before never ended */
			/* l.s points into *out, which begin may move */
			l.s = NULL;
			rc = begin(&l, out, n, &cap, &recs[i], &c);
		} else {
			rc = apply(&l, recs[i].type, &c);
		}
		free(buf);
		if (rc == -EINVAL) {
damaged:
			if (why)
				snprintf(why, why_len, "bad %s record at byte %" PRIu64,
					 reader_record_name(recs[i].type), recs[i].offset);
			rc = 0;
			if (l.s)
				finish(l.s);
			l.s = NULL;
			break;
		}
	}
	if (rc == 0 && l.s)
		finish(l.s);
	if (rc) {
		py_snapshots_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void py_snapshots_free(struct py_snapshot *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < s[i].nstrings; k++)
			free(s[i].strings[k]);
		free(s[i].strings);
		free(s[i].runtime);
		free(s[i].objs);
		free(s[i].refs);
	}
	free(s);
}

const struct py_object *py_snapshot_find(const struct py_snapshot *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nobjs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->objs[mid].addr == addr)
			return &s->objs[mid];
		if (s->objs[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *py_string(const struct py_snapshot *s, uint32_t i)
{
	return i < s->nstrings ? s->strings[i] : "";
}
