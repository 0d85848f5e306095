/*
 * exit_direct - leaks 4 blocks of 40 bytes (160 bytes), frees 6 others, then
 * calls _exit(3): no atexit handlers, no destructors, no stdio flush. The
 * trace must still end with END(exit_call, 3) and the process exit with 3.
 * No stdio.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) static void leak40(void)
{
	sink = malloc(40);
	if (sink)
		memset(sink, 1, 40);
	sink = NULL;
}

int main(void)
{
	void *tmp[6];

	for (int i = 0; i < 4; i++)
		leak40();
	for (int i = 0; i < 6; i++)
		tmp[i] = malloc(64);
	for (int i = 0; i < 6; i++)
		free(tmp[i]);
	_exit(3);
}
