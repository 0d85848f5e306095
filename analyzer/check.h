/*
 * check.h - `refscope check`: a leak gate for CI.
 *
 * The pieces, one file each:
 *   policy.c    the policy (limits, rules, files), from a policy file and flags
 *   suppress.c  LeakSanitizer-style suppression files (leak:, cycle:, refcount:)
 *   baseline.c  the findings a `refscope report --json` already had
 *   check.c     gathering findings from traces, judging them, the summary,
 *               the command itself (and `run --check`, `report DIR`)
 *   check_junit.c, check_sarif.c  the CI outputs
 *
 * A finding is one leak site, leaked cycle or unbalanced-retain stack of one
 * process. Its key is built from symbolized frames only (function and the
 * base name of the source file, or of the module when there is no line
 * info), never addresses, so it is the same across rebuilds and address
 * space layouts; baselines compare keys.
 *
 * Calling order: check_policy_init, check_policy_file / check_policy_flags,
 * check_set_init, check_set_add for every trace, check_set_sort, check_judge (with the
 * suppressions and baseline loaded), the writers, check_set_release.
 */
#ifndef REFSCOPE_CHECK_H
#define REFSCOPE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum check_rule {
	CHECK_LEAKS = 0,
	CHECK_CYCLES = 1,
	CHECK_REFCOUNT = 2,
	CHECK_NRULES = 3,
};

#define CHECK_RULE_BIT(r) (1u << (r))

/* "leaks", "cycles", "refcount" */
const char *check_rule_name(enum check_rule r);
/* "leak", "cycle", "refcount": the suppression prefix and SARIF rule id */
const char *check_rule_kind(enum check_rule r);

/* ---- policy.c ------------------------------------------------------------ */

struct check_policy {
	int have_max_bytes, have_max_blocks;
	uint64_t max_bytes, max_blocks; /* per process, over findings that count */
	unsigned fail_on;		/* CHECK_RULE_BIT set; default: leaks */
	char *suppressions;		/* malloc'd paths, NULL: none */
	char *baseline;
	char *junit;
	char *sarif;
	int gen_suppressions;
};

void check_policy_init(struct check_policy *p);
void check_policy_release(struct check_policy *p);
/* Parses "leaks,cycles,refcount" into *bits. 0 or -EINVAL. */
int check_parse_rules(const char *s, unsigned *bits);
/*
 * Reads a policy file (format in docs/ci.md): lines `key = value`, `#`
 * comments, an optional `[check]` header. Relative paths in it are taken
 * relative to the file's directory. Returns 0, -ENOENT when the file does
 * not exist, or -EINVAL with a message in err (file:line: what).
 */
int check_policy_file(struct check_policy *p, const char *path, char *err, size_t errlen);

/*
 * The check flags, shared by `check` and `run --check`. check_policy_flag
 * takes one flag at argv[*i] (with its value in the same word after '=' or
 * in argv[*i + 1]) and advances *i past it. Returns 1 when it took a flag,
 * 0 when argv[*i] is not a check flag, -EINVAL on a bad value (message
 * printed with prefix).
 */
int check_policy_flag(struct check_policy *p, int argc, char **argv, int *i, const char *prefix,
		      const char **policy_path);

/* ---- suppress.c ---------------------------------------------------------- */

struct check_frame {
	char *function, *file, *module; /* NULL: unknown */
	unsigned line;
};

struct suppression {
	enum check_rule rule;
	char *pattern;
	unsigned line; /* in its file */
	uint64_t hits; /* findings it suppressed */
};

struct suppressions {
	struct suppression *v;
	size_t n;
	char *path;
};

/* Returns 0, or a negative errno (-EINVAL with file:line in err). */
int suppress_load(struct suppressions *s, const char *path, char *err, size_t errlen);
/* The first suppression of rule matching any frame's function, source file
 * or module (LeakSanitizer rules: substring, `*` any run, `^`/`$` anchors),
 * or NULL. */
struct suppression *suppress_match(struct suppressions *s, enum check_rule rule,
				   const struct check_frame *frames, size_t n);
/* The wildcard match itself (exposed for the tests). */
int suppress_pattern_match(const char *pattern, const char *s);
void suppress_release(struct suppressions *s);

/* ---- baseline.c ---------------------------------------------------------- */

struct baseline {
	char **keys[CHECK_NRULES]; /* sorted */
	size_t nkeys[CHECK_NRULES];
	size_t reports; /* reports read from the file */
};

/* Reads `refscope report --json` output (one report, or the set that
 * `report --json DIR` writes). 0, or -EINVAL with a message in err. */
int baseline_load(struct baseline *b, const char *path, char *err, size_t errlen);
int baseline_has(const struct baseline *b, enum check_rule rule, const char *key);
void baseline_release(struct baseline *b);

/* The stable key of a stack: "fn@file;fn@file;..." innermost first.
 * Returns a malloc'd string or NULL. */
char *check_stack_key(const struct check_frame *frames, size_t n);
/* A cycle's key: its member stack keys, sorted, deduplicated, joined by " | ". */
char *check_join_keys(char **keys, size_t n);
/* A refcount finding's key: "allocation " or "retain " then the stack key. */
char *check_refcount_key(int is_alloc, const char *stack_key);

/* ---- check.c ------------------------------------------------------------- */

enum check_state {
	CHECK_NEW = 0,	      /* counts against the policy */
	CHECK_SUPPRESSED = 1, /* a suppression matched */
	CHECK_BASELINE = 2,   /* the baseline has it */
};

struct check_finding {
	enum check_rule rule;
	size_t proc; /* index in set->procs */
	char *key;
	struct check_frame *frames; /* leaks, refcount: the stack; cycles: every member stack */
	size_t nframes;
	uint64_t blocks, bytes; /* leaks: blocks and bytes; cycles: members and bytes;
				 * refcount: references and objects */
	uint64_t count;		/* leak groups, cycles, blame stacks folded into this key */
	enum check_state state;
	const struct suppression *by; /* when suppressed */
};

struct check_proc {
	char *path;
	char *prog; /* base name of the program */
	uint64_t pid, ppid;
	int forked;	/* began as a fork of a traced process */
	char ended[96]; /* "exit 0", "signal 9 (Killed)", "killed (no END record)", ... */
	int complete;	/* END record read */
	int abnormal;	/* signal, abort, or no END */
	char *damage;	/* decode error, NULL if none */
	uint64_t live_blocks, live_bytes;
	int analyzed;	  /* the cycle/refcount analysis ran */
	int snapshot;	  /* it had a heap snapshot */
	/* per rule, over the findings in state CHECK_NEW */
	uint64_t new_findings[CHECK_NRULES];
	uint64_t new_blocks[CHECK_NRULES], new_bytes[CHECK_NRULES];
	int failed[CHECK_NRULES];
	char *why[CHECK_NRULES]; /* failure message, malloc'd */
};

struct check_set {
	struct check_proc *procs;
	size_t nprocs;
	struct check_finding *findings;
	size_t nfindings;
	int analyze; /* run the cycle/refcount analysis */
	int no_symbols; /* 1: frames carry ips only, no module is opened (the fuzz target) */
	int failed;  /* some enabled rule failed for some process */
	uint64_t counts[CHECK_NRULES][3]; /* findings by rule and state */
};

void check_set_init(struct check_set *set, int analyze);
/* Reads one trace. Returns 0; -EINVAL when it is not a readable trace
 * (message in err); -ENOMEM. A damaged trace is read up to the damage. */
int check_set_add(struct check_set *set, const char *path, char *err, size_t errlen);
/* Orders the processes by pid (a pid's exec'd images in the order added):
 * the order of a process tree. 0 or -ENOMEM. */
int check_set_sort(struct check_set *set);
/* Expands the arguments: a directory gives its refscope.*.trace files
 * sorted by name. *out is a malloc'd array of malloc'd paths. 0, or
 * -EINVAL (message in err). */
int check_expand_args(char **args, size_t nargs, char ***out, size_t *n, char *err, size_t errlen);
void check_free_paths(char **paths, size_t n);
/* Marks suppressed and baselined findings and evaluates the policy. */
void check_judge(struct check_set *set, const struct check_policy *p, struct suppressions *s,
		 const struct baseline *b);
void check_write_summary(const struct check_set *set, const struct check_policy *p,
			 const struct suppressions *s, FILE *out);
void check_write_gen_suppressions(const struct check_set *set, FILE *out);
/* The text of `report DIR`: a line per process and the combined leak sites
 * (the top largest; 0: all). */
void check_write_aggregate(const struct check_set *set, size_t top, FILE *out);
void check_set_release(struct check_set *set);
/* The innermost frame with a source file and line, or NULL. */
const struct check_frame *check_location(const struct check_finding *f);

/* `refscope report DIR` (text: a line per process and the combined sites;
 * JSON: the set of reports, schema "refscope-report-set"). Returns an enum
 * cmd_status. */
struct report_options;
int check_report_dir(const char *dir, const struct report_options *opt, int json, FILE *out);

/* ---- check_junit.c, check_sarif.c --------------------------------------- */

int check_write_junit(const struct check_set *set, const struct check_policy *p, FILE *out);
int check_write_sarif(const struct check_set *set, const struct check_policy *p, FILE *out);

#endif
