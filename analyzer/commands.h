/*
 * commands.h - the subcommands of the refscope CLI.
 *
 * Each command parses its own arguments (argv[0] is the command name) and
 * returns a result; only main.c turns results into exit codes.
 */
#ifndef REFSCOPE_COMMANDS_H
#define REFSCOPE_COMMANDS_H

#include <stdio.h>

/* Outcome of a command other than run: main.c maps it to an exit code. */
enum cmd_status {
	CMD_OK = 0,	    /* exit 0 */
	CMD_BAD_INPUT = 2,  /* exit 2: unreadable/corrupt trace (partial report may have been printed) */
	CMD_USAGE = 3,      /* exit 2 after printing usage: bad flags */
	CMD_HELP = 4,       /* exit 0: --help was printed */
	CMD_POLICY_FAILED = 5, /* exit 1: `check` found the policy violated */
	CMD_INCOMPLETE = 6, /* exit 0: trace cut short by a kill -9 or a full disk (its last
			     * record cut at the end of the file), reported up to the cut */
};

/* `refscope run`: what happened to the traced program. */
struct run_result {
	int status;	  /* a cmd_status for refscope's own failures/usage */
	int exited;	  /* 1: the program exited with exit_code */
	int exit_code;
	int signaled;	  /* 1: the program was killed by signal term_signal */
	int term_signal;
};

void cmd_run(int argc, char **argv, struct run_result *out); /* run.c */
enum cmd_status cmd_report(int argc, char **argv);          /* report.c */
enum cmd_status cmd_dump(int argc, char **argv);            /* dump.c */
/* `refscope dump` of one trace: the records to out, the messages to msgs. */
enum cmd_status dump_trace(const char *path, FILE *out, FILE *msgs); /* dump.c */
enum cmd_status cmd_graph(int argc, char **argv);           /* report_dot.c */
enum cmd_status cmd_check(int argc, char **argv);           /* check.c */
/* 1: `run` was given --check among its options (before the program) */
int run_check_requested(int argc, char **argv);              /* check.c */
/* `run --check`: the run's outcome in *out, the check's verdict returned */
enum cmd_status cmd_run_check(int argc, char **argv, struct run_result *out); /* check.c */

#endif
