/*
 * options.h - the REFSCOPE_* environment variables, read once at init.
 */
#ifndef REFSCOPE_OPTIONS_H
#define REFSCOPE_OPTIONS_H

#include <stddef.h>

struct rs_options {
	unsigned depth;		/* REFSCOPE_DEPTH, 1..256, default 64 */
	int free_stacks;	/* REFSCOPE_FREE_STACKS, default 1 */
	int compress;		/* REFSCOPE_COMPRESS, default 1 */
	size_t buffer_bytes;	/* REFSCOPE_BUFFER_KB * 1024, default 64 KiB */
	int quiet;		/* REFSCOPE_QUIET */
	int disable;		/* REFSCOPE_DISABLE */
	char output_dir[2048];	/* REFSCOPE_OUTPUT_DIR, default "." */
};

/* Parses the environment through getenv; no malloc, no stdio. */
void rs_options_parse(struct rs_options *o);

#endif /* REFSCOPE_OPTIONS_H */
