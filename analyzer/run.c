/*
 * run.c - `refscope run`: runs a program with librefscope.so preloaded and
 * the REFSCOPE_* variables set from the flags, waits for it like a shell
 * does (SIGINT and SIGQUIT go to the program, not to refscope), then prints
 * a short summary on stderr: the program's trace(s), what was live at exit,
 * and how many other traces its children wrote. Only the child's environment
 * gets LD_PRELOAD, so refscope itself is never traced. Exit codes are chosen
 * by main.c from the run_result.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "heap.h"
#include "reader.h"

#ifndef RS_LIBDIR
#define RS_LIBDIR "/usr/local/lib/refscope"
#endif

#define LIB_NAME "librefscope.so"

struct run_opts {
	const char *dir; /* as given, for display */
	char *abs_dir;	 /* for the child: it may chdir */
	const char *depth, *buffer_kb;
	char *refapi;	 /* --refapi pairs joined with ',' (REFSCOPE_REFAPI) */
	int no_free_stacks, no_compress, quiet;
	const char *snap_signal, *snap_interval;
	int no_snapshot;
	int no_python, py_tracemalloc, exact_order;
};

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: refscope run [OPTIONS] [--] PROG [ARGS...]\n"
		"Run PROG with every allocation and free traced; write\n"
		"DIR/refscope.<prog>.<pid>.trace (and one trace per traced child).\n"
		"\n"
		"  -o, --output-dir DIR   directory for the traces (default: current directory)\n"
		"  -d, --depth N          at most N frames per stack (1..256, default 64)\n"
		"      --no-free-stacks   do not record a stack for frees\n"
		"      --no-compress      write raw chunks instead of zstd\n"
		"      --buffer-kb N      per-thread buffer of N KiB (default 64)\n"
		"      --refapi RET:REL   also trace the refcount pair RET/REL (object = first\n"
		"                         argument); repeatable. GObject and CPython are built in\n"
		"      --no-snapshot      no heap snapshot at exit (default: one at exit)\n"
		"      --snapshot-signal SIG  take a heap snapshot whenever PROG gets SIG\n"
		"                         (a name like USR2 or SIGUSR2, RTMIN+N, or a number)\n"
		"      --snapshot-interval N  take a heap snapshot every N seconds\n"
		"      --no-python        leave CPython targets as they are: no PYTHONMALLOC=malloc,\n"
		"                         no Python-aware snapshot (docs/PYTHON.md)\n"
		"      --py-tracemalloc   CPython targets: start tracemalloc, so the report names\n"
		"                         the Python file:line that created each leaked object\n"
		"                         (slower, more memory: docs/PYTHON.md)\n"
		"      --exact-order      order the events of different threads exactly (by\n"
		"                         time read for every event): the peak is then exact\n"
		"                         however fast threads hand memory to each other; about\n"
		"                         one more trace byte per event. Default: to about 6 us\n"
		"  -q, --quiet            no messages from the tracer, no summary\n"
		"      --check            when PROG is done, check every trace in DIR (the\n"
		"                         whole process tree) as `refscope check` does; its\n"
		"                         flags (--max-leaked-bytes, --fail-on, ...) may be\n"
		"                         given here too (docs/ci.md)\n"
		"  -h, --help             show this help\n"
		"\n"
		"The exit status is PROG's; if PROG is killed by a signal, refscope\n"
		"dies of the same signal. 127: PROG not found, 126: not executable.\n"
		"PROG gets G_SLICE=always-malloc unless G_SLICE is set, so GLib's\n"
		"objects come from malloc.\n");
}

static int parse_uint(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return 0;
}

/* "retain:release", two non-empty names without ',' or ':' in them. */
static int valid_pair(const char *s)
{
	const char *colon = strchr(s, ':');

	return colon && colon != s && colon[1] && !strchr(colon + 1, ':') && !strchr(s, ',');
}

static int add_refapi(struct run_opts *o, const char *pair)
{
	char *joined;

	if (!o->refapi) {
		o->refapi = strdup(pair);
		return o->refapi ? 0 : -1;
	}
	if (asprintf(&joined, "%s,%s", o->refapi, pair) < 0)
		return -1;
	free(o->refapi);
	o->refapi = joined;
	return 0;
}


/*
 * The signal number for a --snapshot-signal value, or 0 when the shim would
 * not take it (it parses the same forms: see shim/options.c): a name with or
 * without SIG, RTMIN+N, RTMAX-N or a number; never one that cannot be caught
 * or that means a fault.
 */
static int snapshot_signal(const char *s)
{
	int sig = 0;
	char *end;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	if (*s >= '0' && *s <= '9') {
		long v = strtol(s, &end, 10);

		sig = *end || v >= NSIG ? 0 : (int)v;
	} else if (!strncmp(s, "RTMIN", 5) || !strncmp(s, "RTMAX", 5)) {
		long v = 0;

		if (s[5]) {
			if (s[5] != (s[4] == 'N' ? '+' : '-') || !(s[6] >= '0' && s[6] <= '9'))
				return 0;
			v = strtol(s + 6, &end, 10);
			if (*end || v > SIGRTMAX - SIGRTMIN)
				return 0;
		}
		sig = s[4] == 'N' ? SIGRTMIN + (int)v : SIGRTMAX - (int)v;
	} else {
		for (int i = 1; i < SIGRTMIN && !sig; i++)
			if (sigabbrev_np(i) && !strcmp(sigabbrev_np(i), s))
				sig = i;
	}
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGILL:
	case SIGFPE: case SIGABRT: case SIGTRAP: case SIGSYS:
		return 0;
	}
	return sig >= 32 && sig < SIGRTMIN ? 0 : sig;
}

/* librefscope.so next to the refscope executable (the build/ layout), in
 * ../lib/refscope from it (an installed tree, wherever it was moved to), or
 * in RS_LIBDIR (the LIBDIR given at build time). */
static char *find_library(void)
{
	static const char *const rel[] = { "", "/../lib/refscope" };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *path;

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				if (asprintf(&path, "%s%s/%s", self, rel[i], LIB_NAME) < 0)
					continue;
				if (access(path, R_OK) == 0)
					return path;
				free(path);
			}
		}
	}
	if (asprintf(&path, "%s/%s", RS_LIBDIR, LIB_NAME) >= 0) {
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

/* Finds prog like execvp would. Returns a malloc'd path, or NULL with
 * *status 127 (not found) or 126 (found, not executable). */
static char *find_program(const char *prog, int *status)
{
	const char *path = getenv("PATH");
	int seen = 0;

	*status = 127;
	if (strchr(prog, '/')) {
		struct stat st;

		if (stat(prog, &st) != 0)
			return NULL;
		if (S_ISDIR(st.st_mode) || access(prog, X_OK) != 0) {
			*status = 126;
			return NULL;
		}
		return strdup(prog);
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		char *cand;
		struct stat st;

		if (asprintf(&cand, "%.*s%s%s", (int)len, path, len ? "/" : "", prog) < 0)
			return NULL;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(cand, X_OK) == 0)
				return cand;
			seen = 1;
		}
		free(cand);
		path += len;
		if (*path == ':')
			path++;
	}
	if (seen)
		*status = 126;
	return NULL;
}

/* Sets the child's environment; runs in the child, before exec. */
static int child_env(const struct run_opts *o, const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload;
	int rc = 0;

	/* prepend: ours must come first to see the malloc family first;
	 * the program's own preloads keep working behind it */
	if (old && old[0]) {
		if (asprintf(&preload, "%s:%s", lib, old) < 0)
			return -1;
	} else {
		preload = strdup(lib);
		if (!preload)
			return -1;
	}
	rc |= setenv("LD_PRELOAD", preload, 1);
	rc |= setenv("REFSCOPE_OUTPUT_DIR", o->abs_dir, 1);
	if (o->depth)
		rc |= setenv("REFSCOPE_DEPTH", o->depth, 1);
	if (o->no_free_stacks)
		rc |= setenv("REFSCOPE_FREE_STACKS", "0", 1);
	if (o->no_compress)
		rc |= setenv("REFSCOPE_COMPRESS", "0", 1);
	if (o->buffer_kb)
		rc |= setenv("REFSCOPE_BUFFER_KB", o->buffer_kb, 1);
	if (o->quiet)
		rc |= setenv("REFSCOPE_QUIET", "1", 1);
	if (o->refapi)
		rc |= setenv("REFSCOPE_REFAPI", o->refapi, 1);
	/* GLib 2.74 takes GObjects from its slice allocator, which the shim
	 * cannot see; newer GLib ignores the variable */
	rc |= setenv("G_SLICE", "always-malloc", 0);
	if (o->no_snapshot)
		rc |= setenv("REFSCOPE_SNAPSHOT", "0", 1);
	if (o->snap_signal)
		rc |= setenv("REFSCOPE_SNAPSHOT_SIGNAL", o->snap_signal, 1);
	if (o->snap_interval)
		rc |= setenv("REFSCOPE_SNAPSHOT_INTERVAL", o->snap_interval, 1);
	if (o->no_python)
		rc |= setenv("REFSCOPE_PYTHON", "0", 1);
	if (o->py_tracemalloc)
		rc |= setenv("REFSCOPE_PY_TRACEMALLOC", "1", 1);
	if (o->exact_order)
		rc |= setenv("REFSCOPE_EXACT_ORDER", "1", 1);
	free(preload);
	return rc;
}

static int glob_traces(const char *dir, const char *pattern, glob_t *g)
{
	size_t dlen = strlen(dir), k = 0;
	char *pat = malloc(2 * dlen + strlen(pattern) + 2);
	int rc;

	memset(g, 0, sizeof(*g));
	if (!pat)
		return -ENOMEM;
	/* the directory is a literal: escape what glob would expand in it */
	for (size_t i = 0; i < dlen; i++) {
		if (strchr("*?[]\\", dir[i]))
			pat[k++] = '\\';
		pat[k++] = dir[i];
	}
	pat[k++] = '/';
	strcpy(pat + k, pattern);
	rc = glob(pat, 0, NULL, g);
	free(pat);
	return rc == 0 || rc == GLOB_NOMATCH ? 0 : -EIO;
}

static int in_list(const glob_t *g, const char *path)
{
	for (size_t i = 0; i < g->gl_pathc; i++)
		if (!strcmp(g->gl_pathv[i], path))
			return 1;
	return 0;
}

/* The live-at-exit numbers of one trace, for the summary. */
static void summarize_trace(const char *abs_path, const char *shown)
{
	struct reader *r = NULL;
	struct heap *h = NULL;
	struct reader_event ev;
	struct heap_totals t;
	const struct reader_error *e;
	int rc = reader_open(abs_path, &r);

	if (rc) {
		fprintf(stderr, "refscope: trace %s: cannot read it: %s\n", shown, strerror(-rc));
		return;
	}
	if (heap_new(&h) == 0) {
		if (!reader_error(r) && reader_scan(r, NULL, NULL) != -ENOMEM)
			while (reader_next(r, &ev) == 1 && heap_event(h, &ev) == 0)
				;
		heap_finish(h);
		heap_totals(h, &t);
		fprintf(stderr, "refscope: trace %s: %" PRIu64 " blocks (%" PRIu64 " bytes) live at exit\n",
			shown, t.live_blocks, t.live_bytes);
		e = reader_error(r);
		if (e && e->cut)
			fprintf(stderr, "refscope: trace %s is incomplete (cut short at byte %" PRIu64 ")\n",
				shown, e->offset);
		else if (e)
			fprintf(stderr, "refscope: trace %s is damaged: %s\n", shown, e->message);
		else if (!reader_end(r))
			fprintf(stderr, "refscope: trace %s is incomplete (no END record)\n", shown);
		heap_free(h);
	}
	reader_close(r);
}

static void summary(const struct run_opts *o, pid_t pid, const glob_t *before)
{
	glob_t mine1, mine2, all;
	char pat1[64], pat2[64];
	size_t ours = 0, others = 0;
	size_t dlen = strlen(o->abs_dir);

	snprintf(pat1, sizeof(pat1), "refscope.*.%d.trace", (int)pid);
	snprintf(pat2, sizeof(pat2), "refscope.*.%d.*.trace", (int)pid);
	if (glob_traces(o->abs_dir, pat1, &mine1) || glob_traces(o->abs_dir, pat2, &mine2) ||
	    glob_traces(o->abs_dir, "refscope.*.trace", &all)) {
		fprintf(stderr, "refscope: cannot list the traces in %s\n", o->dir);
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		const glob_t *g = pass ? &mine2 : &mine1;

		for (size_t i = 0; i < g->gl_pathc; i++) {
			char *shown;

			if (in_list(before, g->gl_pathv[i]))
				continue; /* an older run's, with a recycled pid */
			if (asprintf(&shown, "%s/%s", o->dir, g->gl_pathv[i] + dlen + 1) < 0)
				continue;
			summarize_trace(g->gl_pathv[i], shown);
			free(shown);
			ours++;
		}
	}
	if (!ours)
		fprintf(stderr, "refscope: no trace was written for pid %d (statically linked, setuid, "
				"or REFSCOPE_DISABLE set?)\n",
			(int)pid);
	for (size_t i = 0; i < all.gl_pathc; i++)
		if (!in_list(before, all.gl_pathv[i]) && !in_list(&mine1, all.gl_pathv[i]) &&
		    !in_list(&mine2, all.gl_pathv[i]))
			others++;
	if (others)
		fprintf(stderr, "refscope: %zu more trace%s written by child processes in %s\n", others,
			others == 1 ? "" : "s", o->dir);
	globfree(&mine1);
	globfree(&mine2);
	globfree(&all);
}

void cmd_run(int argc, char **argv, struct run_result *out)
{
	static const struct option opts[] = {
		{ "output-dir", required_argument, NULL, 'o' },
		{ "depth", required_argument, NULL, 'd' },
		{ "no-free-stacks", no_argument, NULL, 'F' },
		{ "no-compress", no_argument, NULL, 'C' },
		{ "buffer-kb", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "refapi", required_argument, NULL, 'R' },
		{ "no-snapshot", no_argument, NULL, 'N' },
		{ "snapshot-signal", required_argument, NULL, 'S' },
		{ "snapshot-interval", required_argument, NULL, 'I' },
		{ "no-python", no_argument, NULL, 'P' },
		{ "py-tracemalloc", no_argument, NULL, 'T' },
		{ "exact-order", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_opts o = { .dir = "." };
	struct sigaction ign, dfl, old_int, old_quit, old_chld;
	char *lib = NULL, *prog = NULL;
	glob_t before;
	int c, status, pipefd[2], child_errno = 0;
	pid_t pid;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:d:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.dir = optarg;
			break;
		case 'd':
			if (parse_uint(optarg, 1, 256)) {
				fprintf(stderr, "refscope run: --depth wants 1..256, not '%s'\n", optarg);
				out->status = CMD_USAGE;
				goto done;
			}
			o.depth = optarg;
			break;
		case 'F':
			o.no_free_stacks = 1;
			break;
		case 'C':
			o.no_compress = 1;
			break;
		case 'b':
			if (parse_uint(optarg, 1, 1u << 20)) {
				fprintf(stderr, "refscope run: --buffer-kb wants a size in KiB, not '%s'\n",
					optarg);
				out->status = CMD_USAGE;
				goto done;
			}
			o.buffer_kb = optarg;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'R':
			if (!valid_pair(optarg)) {
				fprintf(stderr, "refscope run: --refapi wants RETAIN:RELEASE, not '%s'\n",
					optarg);
				out->status = CMD_USAGE;
				goto done;
			}
			if (add_refapi(&o, optarg) < 0) {
				out->status = CMD_BAD_INPUT;
				goto done;
			}
			break;
		case 'N':
			o.no_snapshot = 1;
			break;
		case 'P':
			o.no_python = 1;
			break;
		case 'T':
			o.py_tracemalloc = 1;
			break;
		case 'E':
			o.exact_order = 1;
			break;
		case 'S':
			if (!snapshot_signal(optarg)) {
				fprintf(stderr, "refscope run: --snapshot-signal wants a signal a program "
						"can catch (e.g. USR2), not '%s'\n", optarg);
				out->status = CMD_USAGE;
				goto done;
			}
			o.snap_signal = optarg;
			break;
		case 'I':
			if (parse_uint(optarg, 1, 86400)) {
				fprintf(stderr, "refscope run: --snapshot-interval wants 1..86400 seconds, "
						"not '%s'\n", optarg);
				out->status = CMD_USAGE;
				goto done;
			}
			o.snap_interval = optarg;
			break;
		case 'h':
			run_usage(stdout);
			out->status = CMD_HELP;
			goto done;
		default:
			run_usage(stderr);
			out->status = CMD_USAGE;
			goto done;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "refscope run: no program to run\n");
		run_usage(stderr);
		out->status = CMD_USAGE;
		return;
	}

	if (mkdir(o.dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "refscope run: cannot create %s: %s\n", o.dir, strerror(errno));
		out->status = CMD_BAD_INPUT;
		goto done;
	}
	o.abs_dir = realpath(o.dir, NULL);
	if (!o.abs_dir) {
		fprintf(stderr, "refscope run: cannot use %s: %s\n", o.dir, strerror(errno));
		out->status = CMD_BAD_INPUT;
		goto done;
	}
	prog = find_program(argv[optind], &status);
	if (!prog) {
		fprintf(stderr, "refscope run: %s: %s\n", argv[optind],
			status == 127 ? "command not found" : "permission denied");
		out->exited = 1;
		out->exit_code = status;
		goto done;
	}
	lib = find_library();
	if (!lib) {
		fprintf(stderr, "refscope run: cannot find %s next to refscope or in %s\n", LIB_NAME,
			RS_LIBDIR);
		out->status = CMD_BAD_INPUT;
		goto done;
	}
	if (glob_traces(o.abs_dir, "refscope.*.trace", &before)) {
		fprintf(stderr, "refscope run: cannot list the traces in %s\n", o.dir);
		out->status = CMD_BAD_INPUT;
		goto done;
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		fprintf(stderr, "refscope run: pipe: %s\n", strerror(errno));
		out->status = CMD_BAD_INPUT;
		globfree(&before);
		goto done;
	}

	/* ignore the terminal's signals before fork, as system(3) does, so
	 * none can kill refscope between fork and waitpid; the child gets the
	 * old dispositions back before exec */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	/* SIGCHLD ignored (inherited) would reap the child before waitpid */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int e;

		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigaction(SIGCHLD, &old_chld, NULL);
		close(pipefd[0]);
		if (child_env(&o, lib) == 0)
			execv(prog, argv + optind);
		e = errno;
		/* the exec failed: tell the parent why through the pipe */
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0) {
		fprintf(stderr, "refscope run: fork: %s\n", strerror(errno));
		close(pipefd[0]);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigaction(SIGCHLD, &old_chld, NULL);
		out->status = CMD_BAD_INPUT;
		globfree(&before);
		goto done;
	}
	do
		n = read(pipefd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 0;
			break;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGCHLD, &old_chld, NULL);

	if (n == (ssize_t)sizeof(child_errno)) {
		fprintf(stderr, "refscope run: cannot execute %s: %s\n", prog, strerror(child_errno));
		out->exited = 1;
		out->exit_code = child_errno == ENOENT ? 127 : 126;
		globfree(&before);
		goto done;
	}
	if (WIFSIGNALED(status)) {
		out->signaled = 1;
		out->term_signal = WTERMSIG(status);
	} else {
		out->exited = 1;
		out->exit_code = WEXITSTATUS(status);
	}
	if (!o.quiet)
		summary(&o, pid, &before);
	globfree(&before);
done:
	free(prog);
	free(lib);
	free(o.abs_dir);
	free(o.refapi);
}
