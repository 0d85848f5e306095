/*
 * pygraph.h - CPython's own cycle-collection algorithm run on a Python-aware
 * snapshot (pyobjects.h), and the leaked cycles it finds, as Python sees
 * them.
 *
 * The algorithm is the collector's (Modules/gcmodule.c: update_refs,
 * subtract_refs, move_unreachable), over every tracked object as in a full
 * collection: gc_refs = reference count minus the references from other
 * tracked objects (the edges the type traversals reported); an object left
 * with gc_refs > 0 is referenced from outside the tracked objects (a C
 * global, a frame, an untracked container) and alive; whatever an alive
 * object references is alive. What is left is cyclic garbage: a full
 * gc.collect() would free it. Its strongly connected components of more
 * than one object (or an object referencing itself) are the leaked cycles;
 * the other garbage objects hang off a cycle (reachable from its members
 * only through garbage) and are counted with the first cycle reaching them.
 *
 * Each object is joined to the malloc block containing its address (the
 * collector's header comes before the object; PYTHONMALLOC=malloc makes
 * every object a block), which gives its bytes and allocation stack.
 *
 * Calling order: pygraph_analyze, read the struct, pygraph_release.
 */
#ifndef REFSCOPE_PYGRAPH_H
#define REFSCOPE_PYGRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "pyobjects.h"

#define PYGRAPH_NONE UINT32_MAX

struct pygraph_edge {
	uint32_t src, dst;	/* object indexes (snap->objs) */
	uint32_t name;		/* string index; 0: none */
};

struct pygraph_count {
	uint32_t type;		/* string index */
	uint64_t objects, bytes;
};

struct pygraph_cycle {
	uint32_t *members;	/* object indexes, ascending (by address) */
	size_t nmembers;
	uint64_t bytes;
	struct pygraph_count *types; /* members by type: most objects first */
	size_t ntypes;
	struct pygraph_edge *closing; /* references between members */
	size_t nclosing;
	uint32_t *hanging;	/* garbage reachable only through the cycle */
	size_t nhanging;
	uint64_t hanging_bytes;
	int instance_dicts;	/* every dict member is held by a member of a class */
};

struct pygraph {
	const struct py_snapshot *snap;
	struct heap_block *blocks; /* live at snap->seq, by address */
	size_t nblocks;
	uint32_t *block;	/* per object: index into blocks, or PYGRAPH_NONE */
	int64_t *gc_refs;	/* per object, after subtracting internal references */
	uint8_t *alive;		/* per object */
	uint64_t objects, bytes;		/* every tracked object */
	uint64_t garbage_objects, garbage_bytes; /* what a full collection frees */
	uint64_t unjoined;	/* objects in no live block (not malloc'd: static types) */
	struct pygraph_cycle *cycles; /* most bytes first */
	size_t ncycles;
};

/* Takes ownership of blocks (malloc'd; sorted here). 0 or -ENOMEM (blocks
 * freed by pygraph_release either way). */
int pygraph_analyze(struct pygraph *g, const struct py_snapshot *snap, struct heap_block *blocks,
		    size_t nblocks);
void pygraph_release(struct pygraph *g);

/* Bytes of object i's block (0 when it has none) and its allocation stack. */
uint64_t pygraph_obj_bytes(const struct pygraph *g, uint32_t i);
uint64_t pygraph_obj_stack(const struct pygraph *g, uint32_t i);
/* The type name as shown: "__main__." dropped. */
const char *pygraph_type_name(const struct py_snapshot *s, uint32_t type);
/* "2 Node, 2 dict" for a cycle, into buf. */
void pygraph_cycle_summary(const struct pygraph *g, const struct pygraph_cycle *cy, char *buf,
			   size_t len);

#endif
