/*
 * report.c - `refscope report`: not implemented yet (placeholder while dump lands).
 */
#include <stdio.h>

#include "commands.h"

enum cmd_status cmd_report(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "refscope report: not implemented yet\n");
	return CMD_USAGE;
}
