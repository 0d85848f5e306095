/*
 * e2e_util.c - helpers of the end-to-end tests (see e2e_util.h). Output is
 * captured through files, not pipes, so a program writing megabytes to
 * stderr while we read stdout cannot deadlock.
 */
#include "e2e_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void e2e_need_plain_samples(void)
{
#ifdef E2E_ASAN_SAMPLES
	cr_skip_test("samples built with AddressSanitizer cannot be traced or run under valgrind");
#endif
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	cr_assert_geq(fd, 0, "cannot open %s", path);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Waits for pid; after timeout_s seconds (0: never) kills its process
 * group and says so. */
static int wait_for(pid_t pid, int timeout_s, int *status)
{
	struct timespec t0, now;

	if (!timeout_s) {
		cr_assert_eq(waitpid(pid, status, 0), pid);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		cr_assert_geq(w, 0);
		if (w == pid)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= timeout_s) {
			kill(-pid, SIGKILL);
			cr_assert_eq(waitpid(pid, status, 0), pid);
			return 1;
		}
		usleep(2000);
	}
}

static void spawn(char *const argv[], const char *stdin_path, const char *cwd,
		  char *const env[], int timeout_s, struct e2e_proc *p)
{
	char *tmp = e2e_tmpdir(), out[256], err[256];
	pid_t pid;

	snprintf(out, sizeof(out), "%s/out", tmp);
	snprintf(err, sizeof(err), "%s/err", tmp);
	memset(p, 0, sizeof(*p));
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int i = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (timeout_s)
			setpgid(0, 0);	/* a timeout kills the program's children too */
		for (size_t k = 0; env && env[k]; k++)
			if (putenv(env[k]) != 0)
				_exit(119);
		if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		close(i);
		close(o);
		close(e);
		if (cwd && chdir(cwd) != 0)
			_exit(121);
		execvp(argv[0], argv);
		_exit(122);
	}
	p->timed_out = wait_for(pid, timeout_s, &p->status);
	p->out = slurp(out, &p->out_len);
	p->err = slurp(err, &p->err_len);
	e2e_rmtree(tmp);
	free(tmp);
}

void e2e_exec(char *const argv[], const char *stdin_path, const char *cwd, struct e2e_proc *p)
{
	spawn(argv, stdin_path, cwd, NULL, 0, p);
}

void e2e_exec_env(char *const argv[], char *const env[], int timeout_s, struct e2e_proc *p)
{
	spawn(argv, NULL, NULL, env, timeout_s, p);
}

static void traced(const char *dir, char *const argv[], const char *stdin_path, const char *cwd,
		   char *const env[], int timeout_s, int quiet, struct e2e_proc *p)
{
	char *full[64];
	size_t n = 0, k = 0;

	while (argv[n])
		n++;
	cr_assert_lt(n + 6, sizeof(full) / sizeof(full[0]));
	full[k++] = E2E_REFSCOPE;
	full[k++] = "run";
	if (quiet)
		full[k++] = "-q";
	full[k++] = "-o";
	full[k++] = (char *)dir;
	full[k++] = "--";
	for (size_t i = 0; i <= n; i++)
		full[k++] = argv[i];
	spawn(full, stdin_path, cwd, env, timeout_s, p);
}

void e2e_traced(const char *dir, char *const argv[], const char *stdin_path, const char *cwd,
		struct e2e_proc *p)
{
	traced(dir, argv, stdin_path, cwd, NULL, 0, 1, p);
}

void e2e_traced_env(const char *dir, char *const argv[], const char *stdin_path, const char *cwd,
		    char *const env[], int timeout_s, struct e2e_proc *p)
{
	traced(dir, argv, stdin_path, cwd, env, timeout_s, 1, p);
}

void e2e_traced_summary(const char *dir, char *const argv[], const char *stdin_path,
			const char *cwd, struct e2e_proc *p)
{
	traced(dir, argv, stdin_path, cwd, NULL, 0, 0, p);
}

void e2e_proc_free(struct e2e_proc *p)
{
	free(p->out);
	free(p->err);
	memset(p, 0, sizeof(*p));
}

char *e2e_tmpdir(void)
{
	char *d = strdup("/tmp/refscope-e2e-XXXXXX");

	cr_assert_not_null(d);
	cr_assert_not_null(mkdtemp(d), "mkdtemp failed");
	return d;
}

/* nftw callback of e2e_rmtree: the first failure into rm_err */
static char rm_err[600];

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT)
		return 0;
	snprintf(rm_err, sizeof(rm_err), "%s: %s", path, strerror(errno));
	return 1;
}

/*
 * In process, not system("rm -rf"): no shell found through PATH, no fork
 * that a loaded machine can refuse, and a failure names the file and the
 * reason (a directory not empty names what appeared in it meanwhile).
 */
void e2e_rmtree(const char *dir)
{
	if (!dir || strncmp(dir, "/tmp/refscope-e2e-", 18) != 0)
		return;	/* only ever our own directories */
	rm_err[0] = 0;
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT && !rm_err[0])
		snprintf(rm_err, sizeof(rm_err), "%s: %s", dir, strerror(errno));
	if (rm_err[0]) {
		DIR *d = opendir(dir);
		struct dirent *e;
		char left[1024] = "";

		while (d && (e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    strlen(left) + strlen(e->d_name) + 2 < sizeof(left)) {
				strcat(left, " ");
				strcat(left, e->d_name);
			}
		if (d)
			closedir(d);
		cr_assert_fail("cannot remove %s; left in %s:%s", rm_err, dir, left);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t e2e_traces(const char *dir, const char *prog, char ***paths)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char prefix[256], **v = NULL;
	size_t n = 0;

	cr_assert_not_null(d, "cannot list %s", dir);
	snprintf(prefix, sizeof(prefix), "refscope.%s%s", prog ? prog : "", prog ? "." : "");
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || l < 6 ||
		    strcmp(e->d_name + l - 6, ".trace") != 0)
			continue;
		v = realloc(v, (n + 2) * sizeof(*v));
		cr_assert_not_null(v);
		cr_assert_neq(asprintf(&v[n], "%s/%s", dir, e->d_name), -1);
		n++;
	}
	closedir(d);
	if (!v)
		v = calloc(1, sizeof(*v));
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	*paths = v;
	return n;
}

void e2e_free_paths(char **paths)
{
	for (size_t i = 0; paths && paths[i]; i++)
		free(paths[i]);
	free(paths);
}

char *e2e_only_trace(const char *dir, const char *prog)
{
	char **v, *one;
	size_t n = e2e_traces(dir, prog, &v);

	cr_assert_eq(n, 1, "%zu traces of %s in %s, want 1", n, prog, dir);
	one = v[0];
	v[0] = NULL;
	e2e_free_paths(v);
	return one;
}

int e2e_report(const char *trace, json_t **out)
{
	return e2e_report_with(trace, NULL, out);
}

int e2e_report_with(const char *trace, const char *flag, json_t **out)
{
	char *argv[] = { E2E_REFSCOPE, "report", "--json", "--top", "0", (char *)trace, NULL, NULL };
	struct e2e_proc p;
	json_error_t err;
	int code;

	if (flag) {
		argv[6] = argv[5];
		argv[5] = (char *)flag;
	}
	e2e_exec(argv, NULL, NULL, &p);
	cr_assert(WIFEXITED(p.status), "refscope report died on %s", trace);
	code = WEXITSTATUS(p.status);
	*out = json_loads(p.out, 0, &err);
	cr_assert_not_null(*out, "report on %s is not JSON: %s (line %d); stderr: %s", trace,
			   err.text, err.line, p.err);
	e2e_proc_free(&p);
	return code;
}

json_t *e2e_get(json_t *root, const char *path)
{
	char key[128];
	const char *s = path;
	json_t *v = root;

	while (*s) {
		size_t n = strcspn(s, ".");

		cr_assert_lt(n, sizeof(key));
		memcpy(key, s, n);
		key[n] = '\0';
		cr_assert(json_is_object(v), "%s: not an object before '%s'", path, key);
		v = json_object_get(v, key);
		cr_assert_not_null(v, "the report has no %s", path);
		s += n + (s[n] == '.');
	}
	return v;
}

long long e2e_int(json_t *root, const char *path)
{
	json_t *v = e2e_get(root, path);

	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return (long long)json_integer_value(v);
}

const char *e2e_str(json_t *root, const char *path)
{
	json_t *v = e2e_get(root, path);

	if (json_is_null(v))
		return NULL;
	cr_assert(json_is_string(v), "%s is not a string", path);
	return json_string_value(v);
}

json_t *e2e_group_with(json_t *report, const char *fn)
{
	json_t *groups = e2e_get(report, "live_at_exit.groups"), *g, *f;
	size_t i, j;

	json_array_foreach(groups, i, g) {
		json_array_foreach(json_object_get(g, "frames"), j, f) {
			const char *name = json_string_value(json_object_get(f, "function"));

			if (name && !strcmp(name, fn))
				return g;
		}
	}
	return NULL;
}
