/*
 * fuzz_trace.c - libFuzzer target: the input bytes are a trace file, read
 * and written through every report (report_all: dump, text, JSON, collapsed,
 * HTML, DOT, generations, check). Built with -fsanitize=fuzzer,address,
 * undefined by `make fuzz` (see the Makefile); any crash, sanitizer report,
 * leak or timeout is a bug in the analyzer.
 *
 * The reader wants a path to a regular file: the bytes go to a memfd, named
 * /proc/self/fd/N, rewritten for each input. Nothing is symbolized: module
 * paths in a fuzzed trace name arbitrary files, and opening them would make
 * runs slow and depend on the machine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int trace_fd = -1;
static char trace_path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace_fd = memfd_create("refscope-fuzz", MFD_CLOEXEC);
	devnull = fopen("/dev/null", "w");
	if (trace_fd < 0 || !devnull) {
		perror("fuzz_trace: memfd_create or /dev/null");
		exit(1);
	}
	snprintf(trace_path, sizeof(trace_path), "/proc/self/fd/%d", trace_fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(trace_fd, 0) != 0)
		abort();
	while (done < size) {
		ssize_t k = pwrite(trace_fd, data + done, size - done, (off_t)done);

		if (k <= 0)
			abort();
		done += (size_t)k;
	}
	report_all(trace_path, 0, devnull, devnull);
	return 0;
}
