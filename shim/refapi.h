/*
 * refapi.h - seeing retain/release calls of refcounting libraries.
 *
 * APIs: GObject (id 1), CPython (id 2), the annotation API of
 * include/refscope.h (id 3), and pairs named at run time in REFSCOPE_REFAPI
 * ("retain:release[,retain:release...]", ids 4.. in order, name "user").
 * The object is the first argument of every function.
 *
 * How (x86_64 only): callers' GOT slots are redirected. For every loaded
 * module, the JUMP_SLOT, GLOB_DAT and (addend 0) R_X86_64_64 relocations of
 * DT_JMPREL and DT_RELA that name a traced function get their slot (or data
 * word: a function pointer initialized statically) pointed at a trampoline; the
 * trampoline keeps every argument register, calls the record function with
 * (trampoline index, first argument) and jumps to the function the slot held
 * (or, for a lazy slot not bound yet, to the first definition in load
 * order, found through the modules' own hash tables). This works wherever the library came from: linked
 * normally, or dlopen'ed RTLD_LOCAL by the program or a plugin, since it
 * never looks the name up from the shim's scope. Pointers obtained with
 * dlsym are redirected the same way (rs_refapi_redirect). For the GObject
 * API the entries of the functions in libgobject are detoured as well
 * (refapi.c says how and when), since libgobject calls them directly: then
 * GOT slots and dlsym'd pointers are left alone, and every call is recorded
 * once. Not seen: other calls bound inside the defining library
 * (-Bsymbolic, hidden aliases), pointers with an addend, modules of other
 * dlmopen namespaces.
 *
 * Calling order: rs_refapi_init once at shim init (parses the options),
 * rs_refapi_scan after init and after every dlopen/dlmopen/dlclose/dlsym
 * (patches modules not seen before, once the loader has relocated them),
 * rs_refapi_announce_all in a fork child after its trace opened. The caller
 * holds the re-entrancy guard around these (they call dl_iterate_phdr and
 * mprotect, and write REFAPI records). The record path is rs_refapi_hit_fn, set by
 * the hook file; it runs on every traced call and must neither allocate nor
 * call stdio.
 */
#ifndef REFSCOPE_REFAPI_H
#define REFSCOPE_REFAPI_H

#include <stddef.h>
#include <stdint.h>

#define RS_REFAPI_GOBJECT 1
#define RS_REFAPI_CPYTHON 2
#define RS_REFAPI_ANNOTATION 3
#define RS_REFAPI_USER_FIRST 4
#define RS_REFAPI_MAX_USER 16
#define RS_REFAPI_NAME_MAX 128
#define RS_REFAPI_TRAMPS 256	/* distinct (function, target) pairs */

/* What a trampoline stands for. */
struct rs_refapi_fn {
	uint8_t api;		/* REFAPI id */
	uint8_t fn;		/* index in the API's retain or release list */
	uint8_t release;	/* 1: RELEASE event, 0: RETAIN */
};

/*
 * Records one call: idx names the trampoline (rs_refapi_tramp_fn(idx)
 * says what it stands for), obj is the call's first argument. Returns
 * nothing; the trampoline jumps to the target afterwards. Must preserve
 * errno.
 */
typedef void (*rs_refapi_hit_t)(unsigned idx, const void *obj);
extern rs_refapi_hit_t rs_refapi_hit_fn __attribute__((visibility("hidden")));

/* Parses spec (REFSCOPE_REFAPI, may be NULL) and sets up the tables.
 * Malformed pairs are skipped. Returns the number of user pairs kept. */
int rs_refapi_init(const char *spec);
/* Patches the GOT slots of modules not seen before. self_addr: an address
 * inside the shim, whose own module is never patched. Returns the number
 * of slots redirected by this call. */
int rs_refapi_scan(const void *self_addr);
/* Forget which modules were seen (after the shim stops or for tests). */
void rs_refapi_forget_modules(void);

/* 1 when name is a traced function (cheap; for the dlsym hook). */
int rs_refapi_wants(const char *name);
/* The trampoline standing for (name, target), or target itself when name
 * is not traced, target is NULL or no trampoline is left. */
void *rs_refapi_redirect(const char *name, void *target);

const struct rs_refapi_fn *rs_refapi_tramp_fn(unsigned idx);
/* Writes the REFAPI record of api once per trace (top-level record, so it
 * precedes in the file every chunk holding its events). */
void rs_refapi_announce(unsigned api);
/* Fork child with a new trace: the announced APIs are written again. */
void rs_refapi_announce_all(void);

/* Encodes the REFAPI record of api (framed) into out; returns its length,
 * 0 when api is unknown or cap too small. */
size_t rs_refapi_record(unsigned api, uint8_t *out, size_t cap);
/* The number of APIs defined (3 built in + user pairs). */
unsigned rs_refapi_count(void);

#endif /* REFSCOPE_REFAPI_H */
