/*
 * options.c - parsing REFSCOPE_* variables without malloc or stdio.
 * A malformed number keeps the default; values are clamped to their limits.
 */
#include "options.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

/* Returns 1 and the value when s is a decimal number, else 0. */
static int parse_num(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > UINT64_MAX / 100)
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 1;
}

static int flag(const char *name, int def)
{
	uint64_t v;

	if (!parse_num(getenv(name), &v))
		return def;
	return v != 0;
}

int rs_options_signal(const char *s)
{
	uint64_t v;
	int sig = 0;

	if (!s || !*s)
		return 0;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	if (parse_num(s, &v)) {
		sig = v < (uint64_t)NSIG ? (int)v : 0;
	} else if (strncmp(s, "RTMIN", 5) == 0) {
		sig = SIGRTMIN;
		if (s[5] == '+' && parse_num(s + 6, &v) && v <= (uint64_t)(SIGRTMAX - SIGRTMIN))
			sig += (int)v;
		else if (s[5])
			sig = 0;
	} else if (strncmp(s, "RTMAX", 5) == 0) {
		sig = SIGRTMAX;
		if (s[5] == '-' && parse_num(s + 6, &v) && v <= (uint64_t)(SIGRTMAX - SIGRTMIN))
			sig -= (int)v;
		else if (s[5])
			sig = 0;
	} else {
		for (int i = 1; i < SIGRTMIN && !sig; i++) {
			const char *n = sigabbrev_np(i);

			if (n && strcmp(n, s) == 0)
				sig = i;
		}
	}
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGILL:
	case SIGFPE: case SIGABRT: case SIGTRAP: case SIGSYS:
		return 0;
	}
	/* glibc's own (cancellation, setxid) sit below SIGRTMIN */
	if (sig >= 32 && sig < SIGRTMIN)
		return 0;
	return sig;
}

void rs_options_parse(struct rs_options *o)
{
	const char *dir = getenv("REFSCOPE_OUTPUT_DIR");
	uint64_t v;
	size_t n;

	o->depth = RS_DEPTH_DEFAULT;
	if (parse_num(getenv("REFSCOPE_DEPTH"), &v))
		o->depth = v < 1 ? 1 : v > RS_DEPTH_MAX ? RS_DEPTH_MAX : (unsigned)v;
	o->free_stacks = flag("REFSCOPE_FREE_STACKS", 1);
	o->compress = flag("REFSCOPE_COMPRESS", 1);
	o->buffer_bytes = 64u << 10;
	if (parse_num(getenv("REFSCOPE_BUFFER_KB"), &v)) {
		if (v < RS_BUFFER_MIN >> 10)
			v = RS_BUFFER_MIN >> 10;
		if (v > RS_BUFFER_MAX >> 10)
			v = RS_BUFFER_MAX >> 10;
		o->buffer_bytes = (size_t)v << 10;
	}
	o->quiet = flag("REFSCOPE_QUIET", 0);
	o->disable = flag("REFSCOPE_DISABLE", 0);
	o->snapshot = flag("REFSCOPE_SNAPSHOT", 1);
	o->python = flag("REFSCOPE_PYTHON", 1);
	o->snapshot_signal = rs_options_signal(getenv("REFSCOPE_SNAPSHOT_SIGNAL"));
	o->snapshot_interval = 0;
	if (parse_num(getenv("REFSCOPE_SNAPSHOT_INTERVAL"), &v))
		o->snapshot_interval = v > 86400 * 365 ? 86400 * 365 : (unsigned)v;
	o->exact_order = flag("REFSCOPE_EXACT_ORDER", 0);
	o->flush_ms = 1000;
	if (parse_num(getenv("REFSCOPE_FLUSH_MS"), &v))
		o->flush_ms = v > 86400000 ? 86400000 : (unsigned)v;
	if (!dir || !*dir)
		dir = ".";
	n = strlen(dir);
	if (n >= sizeof(o->output_dir))
		n = 0;	/* too long to be usable: fall back to "." */
	if (n) {
		memcpy(o->output_dir, dir, n + 1);
	} else {
		o->output_dir[0] = '.';
		o->output_dir[1] = 0;
	}
}
