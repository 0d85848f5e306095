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
	int snapshot;		/* REFSCOPE_SNAPSHOT: snapshot at exit, default 1 */
	int snapshot_signal;	/* REFSCOPE_SNAPSHOT_SIGNAL (name or number), 0: none */
	unsigned snapshot_interval;	/* REFSCOPE_SNAPSHOT_INTERVAL seconds, 0: never */
	int python;		/* REFSCOPE_PYTHON: prepare CPython targets, default 1 */
	unsigned flush_ms;	/* REFSCOPE_FLUSH_MS: buffer age bound, default 1000, 0: none */
	int exact_order;	/* REFSCOPE_EXACT_ORDER: stamps at the exact time, default 0 */
};

/* Parses the environment through getenv; no malloc, no stdio. */
void rs_options_parse(struct rs_options *o);
/* A signal a snapshot can be asked with: "USR2", "SIGUSR2", "12",
 * "RTMIN+3"; 0 for anything else, and for signals that cannot be caught or
 * that mean a fault (KILL, STOP, SEGV, BUS, ILL, FPE, ABRT, TRAP, SYS). */
int rs_options_signal(const char *s);

#endif /* REFSCOPE_OPTIONS_H */
