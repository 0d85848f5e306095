/*
 * run.c - `refscope run`: not implemented yet (placeholder while dump lands).
 */
#include <stdio.h>

#include "commands.h"

void cmd_run(int argc, char **argv, struct run_result *out)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "refscope run: not implemented yet\n");
	out->status = CMD_USAGE;
}
