/*
 * e2e_util.h - running real programs for the end-to-end tests: plain or
 * under `build/refscope run`, with stdin, stdout, stderr and the wait status
 * captured; finding the traces a run wrote; reading `refscope report --json`
 * with jansson. Every helper asserts (Criterion) on its own failures, so a
 * test reads as the facts it checks.
 */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <jansson.h>
#include <stddef.h>

#define E2E_REFSCOPE RS_BUILD_DIR "/refscope"
#define E2E_SAMPLE(name) RS_BUILD_DIR "/samples/" name

/*
 * Samples built with AddressSanitizer (make SANITIZE=address) can run
 * neither under LD_PRELOAD=librefscope.so (ASan's runtime must be the first
 * library) nor under Valgrind; tests of the samples call
 * e2e_need_plain_samples() first, which skips them in such a build (the
 * tests are built with the samples' sanitizer flags).
 */
#if defined(__SANITIZE_ADDRESS__)
#define E2E_ASAN_SAMPLES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define E2E_ASAN_SAMPLES 1
#endif
#endif
void e2e_need_plain_samples(void);

struct e2e_proc {
	int status;	/* from waitpid */
	char *out, *err;	/* everything written, NUL-terminated */
	size_t out_len, err_len;
	int timed_out;	/* killed (with its process group) after the timeout */
};

/* Runs argv (argv[0] a path, or a name looked up in PATH) with stdin from
 * stdin_path (NULL: /dev/null) in cwd (NULL: the current directory). */
void e2e_exec(char *const argv[], const char *stdin_path, const char *cwd, struct e2e_proc *p);
/* The same under `refscope run -q -o dir -- argv...` (-q: refscope itself
 * writes nothing, so the output is the program's alone). */
void e2e_traced(const char *dir, char *const argv[], const char *stdin_path, const char *cwd,
		struct e2e_proc *p);
/* The same without -q: stderr ends with refscope's summary, a line per trace
 * of the started process ("refscope: trace DIR/NAME: B blocks (N bytes) live
 * at exit") and "refscope: K more trace(s) written by child processes in DIR"
 * when its children left traces. */
void e2e_traced_summary(const char *dir, char *const argv[], const char *stdin_path,
			const char *cwd, struct e2e_proc *p);
/* The same, with env ("NAME=value" strings, NULL-terminated; NULL: none)
 * added to the environment, killed after timeout_s seconds (0: never). */
void e2e_exec_env(char *const argv[], char *const env[], int timeout_s, struct e2e_proc *p);
void e2e_traced_env(const char *dir, char *const argv[], const char *stdin_path, const char *cwd,
		    char *const env[], int timeout_s, struct e2e_proc *p);
void e2e_proc_free(struct e2e_proc *p);

/* A new empty directory under /tmp (free() it); e2e_rmtree removes it. */
char *e2e_tmpdir(void);
void e2e_rmtree(const char *dir);

/* The traces in dir named refscope.<prog>.*.trace (prog NULL: all), sorted
 * by name; *paths is a NULL-terminated array (e2e_free_paths). */
size_t e2e_traces(const char *dir, const char *prog, char ***paths);
void e2e_free_paths(char **paths);
/* The one trace of prog in dir (asserts there is exactly one); free() it. */
char *e2e_only_trace(const char *dir, const char *prog);

/* `refscope report --json --top 0 trace`: returns report's exit code and
 * the parsed JSON in *out (json_decref it). */
int e2e_report(const char *trace, json_t **out);
/* The same with one more option before the trace (e.g. "--cycles"). */
int e2e_report_with(const char *trace, const char *flag, json_t **out);
/* A member by dotted path ("live_at_exit.blocks"); asserts it exists. */
json_t *e2e_get(json_t *root, const char *path);
long long e2e_int(json_t *root, const char *path);
/* NULL for a JSON null. */
const char *e2e_str(json_t *root, const char *path);

/* The live-at-exit group whose frames name function fn (NULL if none). */
json_t *e2e_group_with(json_t *report, const char *fn);

#endif
