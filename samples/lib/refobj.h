/*
 * refobj.h - a small refcounted object library for refscope's samples and
 * tests, with its own retain/release names (traced with
 * `refscope run --refapi refobj_retain:refobj_release`).
 *
 * An object starts with one reference. refobj_set_link makes o hold a
 * counted reference to target (and drops the one it held). The last
 * refobj_release frees the object and releases its link. With
 * refobj_track_all(1), every live object is also kept on an intrusive list
 * of all instances (refobj_first/next): an uncounted reference, as a
 * registry or a weak table would hold.
 */
#ifndef REFOBJ_H
#define REFOBJ_H

struct refobj {
	int refs;
	int id;
	struct refobj *link;		/* counted */
	struct refobj *all_prev, *all_next; /* uncounted list of all instances */
	char payload[24];
};

struct refobj *refobj_new(int id);
struct refobj *refobj_retain(struct refobj *o);
void refobj_release(struct refobj *o);
void refobj_set_link(struct refobj *o, struct refobj *target);
void refobj_track_all(int on);
struct refobj *refobj_first(void);
int refobj_live(void);

#endif
