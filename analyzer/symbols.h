/*
 * symbols.h - offline symbolization of instruction pointers (libdw).
 *
 * Built from the MODULE records of a trace: each module is opened read-only
 * by path, its build-id compared with the recorded one, and addresses are
 * resolved to function, source file:line and module, with inlined frames
 * expanded. Nothing named in a trace is ever executed.
 *
 * Calling order: symbolizer_new, symbolizer_add_module for every module,
 * then any number of symbolizer_resolve, then symbolizer_free. Strings handed
 * out stay valid until symbolizer_free.
 */
#ifndef REFSCOPE_SYMBOLS_H
#define REFSCOPE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct symbolizer;

struct sym_segment {
	uint64_t vaddr; /* ELF p_vaddr */
	uint64_t memsz;
	uint32_t flags; /* PF_X, PF_W, PF_R */
};

/* One source-level frame; an instruction pointer can expand to several
 * (inlined callees first, the function that contains them last). */
struct sym_frame {
	uint64_t ip;
	const char *function; /* demangled where possible; NULL if unknown */
	const char *file;     /* NULL if no line info */
	unsigned line;	      /* 0 if unknown */
	const char *module;   /* path of the module; NULL if no module covers ip */
	int inlined;	      /* 1: inlined into the next frame */
};

/* Results of symbolizer_add_module (>= 0), errors are negative errno. */
enum sym_module_status {
	SYM_MODULE_OK = 0,
	SYM_MODULE_STALE = 1,	/* the file's build-id differs: binary changed since the run */
	SYM_MODULE_MISSING = 2, /* the file cannot be opened; addresses map to the module only */
	SYM_MODULE_NO_BUILD_ID = 3, /* opened, but no build-id to check against */
};

int symbolizer_new(struct symbolizer **out);
int symbolizer_add_module(struct symbolizer *s, uint64_t base, const char *path,
			  const uint8_t *build_id, size_t build_id_len,
			  const struct sym_segment *segs, size_t nsegs);
/*
 * Resolves ip. is_return_address: 1 for every frame but the innermost of a
 * stack (the symbolizer looks up ip - 1). Writes at most max frames,
 * innermost first, and their count to *n (at least 1 when max >= 1: an
 * unknown address still yields a frame with function NULL). Returns 0 or a
 * negative errno.
 */
int symbolizer_resolve(struct symbolizer *s, uint64_t ip, int is_return_address,
		       struct sym_frame *frames, size_t max, size_t *n);
void symbolizer_free(struct symbolizer *s);

#endif
