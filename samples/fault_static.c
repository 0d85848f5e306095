/*
 * fault_static - linked statically (see the Makefile): a program the shim
 * cannot be preloaded into. Allocates, prints "static ok" and exits 5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile p = malloc(64);

	if (!p)
		return 1;
	strcpy(p, "static ok");
	puts(p);
	free(p);
	return 5;
}
