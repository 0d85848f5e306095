/*
 * main.c - the refscope command line: dispatches subcommands and is the only
 * place that turns results into exit codes (0 ok, also for a trace cut short
 * by a kill -9 or a full disk; 1 `check` found the policy violated, 2 bad
 * input or usage; for `run` the traced program's own status, its terminating
 * signal re-raised; for `run --check` the program's status when it failed,
 * else the check's).
 */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: refscope COMMAND [ARGS]\n"
		"\n"
		"Find memory a program never gave back.\n"
		"\n"
		"commands:\n"
		"  run [OPTIONS] -- PROG [ARGS...]   run PROG with allocation tracing\n"
		"  report [OPTIONS] TRACE            report what was still live at exit\n"
		"  dump TRACE                        print every record of a trace\n"
		"  check [OPTIONS] TRACE|DIR...      exit 1 when traces break a leak policy\n"
		"  graph [OPTIONS] TRACE             leaked cycles of a heap snapshot as Graphviz DOT/SVG\n"
		"\n"
		"  refscope COMMAND --help   options of a command\n"
		"  refscope --version        print the version\n");
}

static int status_exit(enum cmd_status st)
{
	switch (st) {
	case CMD_OK:
	case CMD_HELP:
		return 0;
	/*
	 * A trace whose only damage is its last record cut by the end of the
	 * file is what kill -9 or a full disk leaves (the shim's write(2) was
	 * interrupted): the contract is that such a trace is readable up to
	 * its last record, so it is a result, not bad input. It exits 0, like a
	 * trace killed between two writes (no END, nothing cut); the report
	 * and stderr say it is incomplete and where it was cut. Any other
	 * damage stays exit 2.
	 */
	case CMD_INCOMPLETE:
		return 0;
	case CMD_POLICY_FAILED:
		return 1;
	case CMD_BAD_INPUT:
	case CMD_USAGE:
	default:
		return 2;
	}
}

/* The shell must see the program's own status: its exit code, or death by
 * the same signal (restore the default action first, so it is not caught or
 * ignored here). */
static int run_exit(const struct run_result *r)
{
	if (r->status != CMD_OK)
		return status_exit((enum cmd_status)r->status);
	if (r->signaled) {
		sigset_t set;

		/* the program already dumped its core if it was going to;
		 * a second one of refscope would only mislead */
		struct rlimit no_core = { 0, 0 };

		fflush(NULL);
		setrlimit(RLIMIT_CORE, &no_core);
		signal(r->term_signal, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, r->term_signal);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(r->term_signal);
		/* not fatal after all (e.g. SIGCHLD-like): fall back to the shell's convention */
		return 128 + r->term_signal;
	}
	return r->exit_code;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("refscope %s\n", REFSCOPE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run") && run_check_requested(argc - 1, argv + 1)) {
		struct run_result r = { 0 };
		enum cmd_status st = cmd_run_check(argc - 1, argv + 1, &r);

		/* the program's own failure wins: a crash or a failing test
		 * must not turn into "leak check failed" (or pass) */
		if (r.status != CMD_OK || r.signaled || (r.exited && r.exit_code != 0))
			return run_exit(&r);
		return status_exit(st);
	}
	if (!strcmp(cmd, "run")) {
		struct run_result r = { 0 };

		cmd_run(argc - 1, argv + 1, &r);
		return run_exit(&r);
	}
	if (!strcmp(cmd, "report"))
		return status_exit(cmd_report(argc - 1, argv + 1));
	if (!strcmp(cmd, "check"))
		return status_exit(cmd_check(argc - 1, argv + 1));
	if (!strcmp(cmd, "dump"))
		return status_exit(cmd_dump(argc - 1, argv + 1));
	if (!strcmp(cmd, "graph"))
		return status_exit(cmd_graph(argc - 1, argv + 1));
	fprintf(stderr, "refscope: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
