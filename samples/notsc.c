/*
 * notsc - forbids itself the TSC (prctl PR_SET_TSC, PR_TSC_SIGSEGV: rdtsc
 * then kills it with SIGSEGV), then makes PAIRS malloc(40)/free pairs and
 * keeps KEEP blocks of 99 bytes; writes "ok\n" and exits 0. A tracer that
 * reads the TSC for its timestamps must stop before the prctl. No stdio.
 */
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PAIRS 20000
#define KEEP 9

static void *volatile sink;
static void *kept[KEEP];

int main(void)
{
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0)
		return 2;
	for (int i = 0; i < PAIRS; i++) {
		sink = malloc(40);
		free(sink);
	}
	for (int i = 0; i < KEEP; i++)
		kept[i] = malloc(99);
	sink = kept;
	return write(1, "ok\n", 3) == 3 ? 0 : 3;
}
