/*
 * pyobjects.h - the Python-aware snapshots of a trace (PY_SNAPSHOT ..
 * PY_SNAPSHOT_END, include/refscope_format.h), decoded: for every object
 * CPython's collector tracked at that instant, its address, type, reference
 * count, generation, creation site and references as its type's traversal
 * reports them.
 *
 * Calling order: after reader_scan, py_snapshots_load; read the array;
 * py_snapshots_free.
 */
#ifndef REFSCOPE_PYOBJECTS_H
#define REFSCOPE_PYOBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

#define PY_MAX_GENS 16

struct py_ref {
	uint64_t addr;	/* the referent (a tracked object) */
	uint32_t name;	/* string index: attribute, slot or key name; 0: none */
};

struct py_object {
	uint64_t addr;		/* id(): the address of the object */
	uint64_t refcnt;	/* less the snapshot's own references */
	uint32_t type;		/* string index */
	uint32_t site;		/* string index of "file:line"; 0: unknown */
	uint32_t gen;
	size_t ref0, nref;	/* refs[ref0 .. ref0 + nref) */
};

struct py_snapshot {
	uint64_t offset;	/* of the PY_SNAPSHOT record */
	uint64_t id, seq, time, trigger, tid;
	char *runtime;		/* "cpython 3.11.2" */
	int complete;		/* PY_SNAPSHOT_END read */
	uint64_t end_objects, ngen;
	uint64_t gen_objects[PY_MAX_GENS]; /* from PY_SNAPSHOT_END */
	char **strings;		/* [0] is "" */
	size_t nstrings;
	struct py_object *objs;	/* sorted by address, one entry per object */
	size_t nobjs;
	struct py_ref *refs;
	size_t nrefs;
};

/* Decodes every Python-aware snapshot of r. Damage (a record that does not
 * decode, an index out of range) stops the load: the snapshots before it
 * are kept, the one it hit is marked incomplete, and *why (when not NULL)
 * gets a message naming the byte offset. Returns 0 or -ENOMEM / -EIO. */
int py_snapshots_load(struct reader *r, struct py_snapshot **out, size_t *n, char *why,
		      size_t why_len);
void py_snapshots_free(struct py_snapshot *s, size_t n);

/* The object at addr, or NULL. */
const struct py_object *py_snapshot_find(const struct py_snapshot *s, uint64_t addr);
/* A string of the table ("" when out of range). */
const char *py_string(const struct py_snapshot *s, uint32_t i);

#endif
