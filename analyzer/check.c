/*
 * check.c - `refscope check`: reads traces (or directories of them, one per
 * process of a process tree), turns what they leaked into findings with
 * stable keys, marks the suppressed and baselined ones, judges each process
 * against the policy, and writes the summary (always, on stderr), the
 * suppressions to paste (--gen-suppressions, on stdout) and the CI files.
 * Also `refscope run --check` and `refscope report DIR`, which share it.
 * Exit codes are main.c's: this file returns cmd_status values.
 */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "report.h"

#define SITES_SHOWN 10 /* combined sites listed in the summary */
#define FRAMES_SHOWN 4 /* functions named per site in the summary */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static const char *s_if(uint64_t n)
{
	return n == 1 ? "" : "s";
}

void check_set_init(struct check_set *set, int analyze)
{
	memset(set, 0, sizeof(*set));
	set->analyze = analyze;
}

static void free_frames(struct check_frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].function);
		free(f[i].file);
		free(f[i].module);
	}
	free(f);
}

void check_set_release(struct check_set *set)
{
	for (size_t i = 0; i < set->nfindings; i++) {
		free(set->findings[i].key);
		free_frames(set->findings[i].frames, set->findings[i].nframes);
	}
	free(set->findings);
	for (size_t i = 0; i < set->nprocs; i++) {
		free(set->procs[i].path);
		free(set->procs[i].prog);
		free(set->procs[i].damage);
		for (unsigned r = 0; r < CHECK_NRULES; r++)
			free(set->procs[i].why[r]);
	}
	free(set->procs);
	memset(set, 0, sizeof(*set));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Appends the frames of a report stack to *v (copies of the strings). */
static int copy_frames(struct check_frame **v, size_t *n, const struct report_frame *rf, size_t nrf)
{
	struct check_frame *nv;

	if (!nrf)
		return 0;
	nv = realloc(*v, (*n + nrf) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	for (size_t i = 0; i < nrf; i++) {
		struct check_frame *f = &nv[(*n)++];

		f->function = dup_or_null(rf[i].function);
		f->file = dup_or_null(rf[i].file);
		f->module = dup_or_null(rf[i].module);
		f->line = rf[i].line;
		if ((rf[i].function && !f->function) || (rf[i].file && !f->file) ||
		    (rf[i].module && !f->module))
			return -ENOMEM;
	}
	return 0;
}

static struct check_finding *new_finding(struct check_set *set, enum check_rule rule)
{
	struct check_finding *nv = realloc(set->findings, (set->nfindings + 1) * sizeof(*nv));

	if (!nv)
		return NULL;
	set->findings = nv;
	nv = &set->findings[set->nfindings++];
	memset(nv, 0, sizeof(*nv));
	nv->rule = rule;
	nv->proc = set->nprocs;
	return nv;
}

/* The finding of this process with this rule and key, if any (groups with
 * different stack ids can fold into one key: same functions and files). */
static struct check_finding *find_same(struct check_set *set, size_t first, enum check_rule rule,
				       const char *key)
{
	for (size_t i = first; i < set->nfindings; i++)
		if (set->findings[i].rule == rule && !strcmp(set->findings[i].key, key))
			return &set->findings[i];
	return NULL;
}

/* The finding of this process with key for rule, made when new; takes key
 * and frames (kept by a new finding, freed otherwise). NULL: out of memory. */
static struct check_finding *take_finding(struct check_set *set, size_t first, enum check_rule rule,
					  char *key, struct check_frame *frames, size_t nframes)
{
	struct check_finding *f = find_same(set, first, rule, key);

	if (!f)
		f = new_finding(set, rule);
	if (!f || f->key) {
		free(key);
		free_frames(frames, nframes);
		return f;
	}
	f->key = key;
	f->frames = frames;
	f->nframes = nframes;
	return f;
}

static int add_leaks(struct check_set *set, const struct report *rep, size_t first)
{
	for (size_t i = 0; i < rep->ngroups; i++) {
		const struct report_group *g = &rep->groups[i];
		struct check_frame *frames = NULL;
		size_t nframes = 0;
		struct check_finding *f;
		char *key;

		if (copy_frames(&frames, &nframes, g->frames, g->nframes)) {
			free_frames(frames, nframes);
			return -ENOMEM;
		}
		key = check_stack_key(frames, nframes);
		if (!key) {
			free_frames(frames, nframes);
			return -ENOMEM;
		}
		f = take_finding(set, first, CHECK_LEAKS, key, frames, nframes);
		if (!f)
			return -ENOMEM;
		f->blocks += g->g.blocks;
		f->bytes += g->g.bytes;
		f->count++;
	}
	return 0;
}

static int stack_key(const struct report *rep, uint64_t id, char **key, struct check_frame **frames,
		     size_t *nframes)
{
	const struct report_stack *st = report_graph_stack(rep, id);
	size_t first = *nframes;

	if (st && copy_frames(frames, nframes, st->frames, st->nframes))
		return -ENOMEM;
	/* a stack with no frames (stack 0, or one the trace never defined) may
	 * leave *frames NULL, and NULL + 0 is undefined */
	*key = check_stack_key(*frames ? *frames + first : NULL, *nframes - first);
	return *key ? 0 : -ENOMEM;
}

/*
 * One leaked cycle: its members' allocation stacks (the first
 * REPORT_CYCLE_SHOW), nmembers and bytes. The key is the member stack keys
 * joined, or, for a Python cycle (pykey), "python: " and the cycle as Python
 * sees it ("2 Node, 2 dict"): its members' stacks are the interpreter's.
 */
static int add_cycle(struct check_set *set, const struct report *rep, size_t first,
		     const uint64_t *stacks, size_t nmembers, uint64_t bytes, const char *pykey)
{
	size_t n = nmembers < REPORT_CYCLE_SHOW ? nmembers : REPORT_CYCLE_SHOW, nkeys = 0;
	char **keys = calloc(n ? n : 1, sizeof(*keys)), *key = NULL;
	struct check_frame *frames = NULL;
	size_t nframes = 0;
	struct check_finding *f;
	int rc = 0;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = stack_key(rep, stacks[i], &keys[nkeys], &frames, &nframes);
		if (!rc)
			nkeys++;
	}
	if (!rc && pykey)
		rc = asprintf(&key, "python: %s", pykey) < 0 ? -ENOMEM : 0;
	else if (!rc)
		key = check_join_keys(keys, nkeys);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (!key) {
		free_frames(frames, nframes);
		return -ENOMEM;
	}
	f = take_finding(set, first, CHECK_CYCLES, key, frames, nframes);
	if (!f)
		return -ENOMEM;
	f->blocks += nmembers;
	f->bytes += bytes;
	f->count++;
	return 0;
}

static int add_cycles(struct check_set *set, const struct report *rep, size_t first)
{
	const struct graph *g = &rep->graph;
	const struct pygraph *pg = &rep->pygraph;
	uint64_t stacks[REPORT_CYCLE_SHOW];
	char summary[512];
	int rc = 0;

	for (size_t k = 0; rep->have_graph && k < g->ncycles && !rc; k++) {
		const struct graph_cycle *cy = &g->cycles[k];

		for (size_t i = 0; i < cy->nmembers && i < REPORT_CYCLE_SHOW; i++)
			stacks[i] = g->blocks[cy->members[i]].stack;
		rc = add_cycle(set, rep, first, stacks, cy->nmembers, cy->bytes, NULL);
	}
	for (size_t k = 0; rep->have_pygraph && k < pg->ncycles && !rc; k++) {
		const struct pygraph_cycle *cy = &pg->cycles[k];

		for (size_t i = 0; i < cy->nmembers && i < REPORT_CYCLE_SHOW; i++)
			stacks[i] = pygraph_obj_stack(pg, cy->members[i]);
		pygraph_cycle_summary(pg, cy, summary, sizeof(summary));
		rc = add_cycle(set, rep, first, stacks, cy->nmembers, cy->bytes, summary);
	}
	return rc;
}

static int add_refcounts(struct check_set *set, const struct report *rep, size_t first)
{
	for (size_t i = 0; i < rep->nblame; i++) {
		const struct report_blame *b = &rep->blame[i];
		struct check_frame *frames = NULL;
		size_t nframes = 0;
		struct check_finding *f;
		char *sk = NULL, *key;

		if (stack_key(rep, b->stack, &sk, &frames, &nframes)) {
			free_frames(frames, nframes);
			return -ENOMEM;
		}
		key = check_refcount_key(b->is_alloc, sk);
		free(sk);
		if (!key) {
			free_frames(frames, nframes);
			return -ENOMEM;
		}
		f = take_finding(set, first, CHECK_REFCOUNT, key, frames, nframes);
		if (!f)
			return -ENOMEM;
		f->blocks += b->references;
		f->bytes += b->objects;
		f->count++;
	}
	return 0;
}

static void describe_end(struct check_proc *p, const struct report *rep)
{
	const struct reader_end *end = reader_end(rep->r);

	p->complete = end != NULL;
	if (!end) {
		snprintf(p->ended, sizeof(p->ended), "killed (no END record)");
		p->abnormal = 1;
		return;
	}
	switch (end->how) {
	case RS_END_EXIT:
		snprintf(p->ended, sizeof(p->ended), "exit %" PRId64, end->status);
		break;
	case RS_END_EXIT_CALL:
		snprintf(p->ended, sizeof(p->ended), "_exit %" PRId64, end->status);
		break;
	case RS_END_SIGNAL:
		snprintf(p->ended, sizeof(p->ended), "signal %" PRId64 " (%s)", end->status,
			 end->status > 0 && end->status < 65 ? strsignal((int)end->status) : "?");
		p->abnormal = 1;
		break;
	case RS_END_ABORT:
		snprintf(p->ended, sizeof(p->ended), "abort");
		p->abnormal = 1;
		break;
	case RS_END_EXEC:
		snprintf(p->ended, sizeof(p->ended), "exec");
		break;
	default:
		snprintf(p->ended, sizeof(p->ended), "unknown end %" PRIu64, end->how);
		break;
	}
}

int check_set_add(struct check_set *set, const char *path, char *err, size_t errlen)
{
	struct report_options opt = { .top = 0, .symbolize = 1, .snapshot = -1 };
	const struct reader_process *pr;
	struct check_proc *procs, *p;
	struct report rep;
	size_t first = set->nfindings;
	int rc;

	opt.cycles = set->analyze;
	opt.symbolize = !set->no_symbols;
	rc = report_build(path, &opt, &rep);
	if (rc == -ENOMEM) {
		report_release(&rep);
		snprintf(err, errlen, "out of memory reading %s", path);
		return rc;
	}
	if (rc || !rep.scanned) {
		if (rc)
			snprintf(err, errlen, "cannot read %s: %s", path,
				 rc == -EINVAL ? "not a regular file" : strerror(-rc));
		else
			snprintf(err, errlen, "%s: %s", path,
				 rep.have_error ? rep.error.message : "not a refscope trace");
		report_release(&rep);
		return -EINVAL;
	}
	procs = realloc(set->procs, (set->nprocs + 1) * sizeof(*procs));
	if (!procs) {
		report_release(&rep);
		return -ENOMEM;
	}
	set->procs = procs;
	p = &procs[set->nprocs];
	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
	pr = reader_process(rep.r);
	if (pr) {
		const char *name = pr->argc && pr->argv[0][0] ? pr->argv[0] : pr->exe;

		p->prog = strdup(base_name(name));
		p->pid = pr->pid;
		p->ppid = pr->ppid;
		p->forked = pr->origin == RS_ORIGIN_FORK;
	} else {
		p->prog = strdup("?");
		p->pid = reader_header(rep.r)->pid;
	}
	describe_end(p, &rep);
	if (rep.have_error)
		p->damage = strdup(rep.error.message);
	p->live_blocks = rep.totals.live_blocks;
	p->live_bytes = rep.totals.live_bytes;
	p->analyzed = rep.analyzed;
	p->snapshot = rep.snapshot != NULL;
	rc = !p->path || !p->prog ? -ENOMEM : 0;
	if (!rc)
		rc = add_leaks(set, &rep, first);
	if (!rc && rep.analyzed)
		rc = add_cycles(set, &rep, first);
	if (!rc && rep.analyzed)
		rc = add_refcounts(set, &rep, first);
	set->nprocs++; /* released with the set even on failure */
	report_release(&rep);
	if (rc)
		snprintf(err, errlen, "out of memory reading %s", path);
	return rc;
}

struct proc_order {
	uint64_t pid;
	size_t index;
};

static int proc_order_cmp(const void *a, const void *b)
{
	const struct proc_order *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int check_set_sort(struct check_set *set)
{
	struct proc_order *o = calloc(set->nprocs + 1, sizeof(*o));
	struct check_proc *np = calloc(set->nprocs + 1, sizeof(*np));
	size_t *where = calloc(set->nprocs + 1, sizeof(*where));

	if (!o || !np || !where) {
		free(o);
		free(np);
		free(where);
		return -ENOMEM;
	}
	for (size_t i = 0; i < set->nprocs; i++)
		o[i] = (struct proc_order){ set->procs[i].pid, i };
	qsort(o, set->nprocs, sizeof(*o), proc_order_cmp);
	for (size_t i = 0; i < set->nprocs; i++) {
		np[i] = set->procs[o[i].index];
		where[o[i].index] = i;
	}
	for (size_t i = 0; i < set->nfindings; i++)
		set->findings[i].proc = where[set->findings[i].proc];
	free(set->procs);
	set->procs = np;
	free(o);
	free(where);
	return 0;
}

/* ---- arguments ------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Trace names in the order processes were born: pids as numbers, and
 * refscope.P.PID.trace before refscope.P.PID.1.trace (what the same pid
 * exec'd next). */
static int trace_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);
	char *sx = strndup(x, lx > 6 ? lx - 6 : lx), *sy = strndup(y, ly > 6 ? ly - 6 : ly);
	int c = sx && sy ? strverscmp(sx, sy) : strcmp(x, y);

	free(sx);
	free(sy);
	return c;
}

static int push_path(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

static int list_dir(const char *dir, char ***v, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t first = *n;
	int rc = 0;

	if (!d) {
		snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
		return -EINVAL;
	}
	while ((e = readdir(d)) != NULL && !rc) {
		char *p;

		if (fnmatch("refscope.*.trace", e->d_name, FNM_PERIOD))
			continue;
		if (asprintf(&p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name) < 0)
			p = NULL;
		rc = push_path(v, n, p);
	}
	closedir(d);
	if (rc)
		return rc;
	if (*n == first) {
		snprintf(err, errlen, "no refscope.*.trace files in %s", dir);
		return -EINVAL;
	}
	qsort(*v + first, *n - first, sizeof(char *), trace_cmp);
	return 0;
}

int check_expand_args(char **args, size_t nargs, char ***out, size_t *n, char *err, size_t errlen)
{
	char **v = NULL;
	size_t nv = 0;
	int rc = 0;

	for (size_t i = 0; i < nargs && !rc; i++) {
		struct stat st;

		if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc = list_dir(args[i], &v, &nv, err, errlen);
		else
			rc = push_path(&v, &nv, strdup(args[i]));
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc) {
		check_free_paths(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

void check_free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* ---- judging -------------------------------------------------------------- */

static void set_why(struct check_proc *p, enum check_rule r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(struct check_proc *p, enum check_rule r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&p->why[r], fmt, ap) < 0)
		p->why[r] = NULL;
	va_end(ap);
}

void check_judge(struct check_set *set, const struct check_policy *pol, struct suppressions *s,
		 const struct baseline *b)
{
	memset(set->counts, 0, sizeof(set->counts));
	for (size_t i = 0; i < set->nfindings; i++) {
		struct check_finding *f = &set->findings[i];
		struct suppression *sp = suppress_match(s, f->rule, f->frames, f->nframes);

		f->by = sp;
		if (sp) {
			f->state = CHECK_SUPPRESSED;
			sp->hits++;
		} else if (baseline_has(b, f->rule, f->key)) {
			f->state = CHECK_BASELINE;
		} else {
			f->state = CHECK_NEW;
		}
		set->counts[f->rule][f->state]++;
	}
	set->failed = 0;
	for (size_t k = 0; k < set->nprocs; k++) {
		struct check_proc *p = &set->procs[k];

		memset(p->new_findings, 0, sizeof(p->new_findings));
		memset(p->new_blocks, 0, sizeof(p->new_blocks));
		memset(p->new_bytes, 0, sizeof(p->new_bytes));
		for (unsigned r = 0; r < CHECK_NRULES; r++) {
			p->failed[r] = 0;
			free(p->why[r]);
			p->why[r] = NULL;
		}
		for (size_t i = 0; i < set->nfindings; i++) {
			const struct check_finding *f = &set->findings[i];

			if (f->proc != k || f->state != CHECK_NEW)
				continue;
			p->new_findings[f->rule] += f->rule == CHECK_CYCLES ? f->count : 1;
			p->new_blocks[f->rule] += f->blocks;
			p->new_bytes[f->rule] += f->bytes;
		}
		if (pol->fail_on & CHECK_RULE_BIT(CHECK_LEAKS)) {
			int limits = pol->have_max_bytes || pol->have_max_blocks;
			uint64_t bytes = p->new_bytes[CHECK_LEAKS], blocks = p->new_blocks[CHECK_LEAKS];

			if (!limits && p->new_findings[CHECK_LEAKS]) {
				p->failed[CHECK_LEAKS] = 1;
				set_why(p, CHECK_LEAKS, "%" PRIu64 " bytes in %" PRIu64 " block%s leaked from %" PRIu64
					" site%s (no leak allowed)", bytes, blocks, s_if(blocks),
					p->new_findings[CHECK_LEAKS], s_if(p->new_findings[CHECK_LEAKS]));
			} else if (pol->have_max_bytes && bytes > pol->max_bytes) {
				p->failed[CHECK_LEAKS] = 1;
				set_why(p, CHECK_LEAKS, "%" PRIu64 " bytes leaked, more than --max-leaked-bytes %" PRIu64,
					bytes, pol->max_bytes);
			} else if (pol->have_max_blocks && blocks > pol->max_blocks) {
				p->failed[CHECK_LEAKS] = 1;
				set_why(p, CHECK_LEAKS, "%" PRIu64 " blocks leaked, more than --max-leaked-blocks %" PRIu64,
					blocks, pol->max_blocks);
			}
		}
		if ((pol->fail_on & CHECK_RULE_BIT(CHECK_CYCLES)) && p->new_findings[CHECK_CYCLES]) {
			p->failed[CHECK_CYCLES] = 1;
			set_why(p, CHECK_CYCLES, "%" PRIu64 " leaked cycle%s (%" PRIu64 " bytes in %" PRIu64 " blocks)",
				p->new_findings[CHECK_CYCLES], s_if(p->new_findings[CHECK_CYCLES]),
				p->new_bytes[CHECK_CYCLES], p->new_blocks[CHECK_CYCLES]);
		}
		if ((pol->fail_on & CHECK_RULE_BIT(CHECK_REFCOUNT)) && p->new_findings[CHECK_REFCOUNT]) {
			p->failed[CHECK_REFCOUNT] = 1;
			set_why(p, CHECK_REFCOUNT, "%" PRIu64 " unbalanced reference%s from %" PRIu64 " stack%s",
				p->new_blocks[CHECK_REFCOUNT], s_if(p->new_blocks[CHECK_REFCOUNT]),
				p->new_findings[CHECK_REFCOUNT], s_if(p->new_findings[CHECK_REFCOUNT]));
		}
		for (unsigned r = 0; r < CHECK_NRULES; r++)
			set->failed |= p->failed[r];
	}
}

/* ---- text ----------------------------------------------------------------- */

const struct check_frame *check_location(const struct check_finding *f)
{
	for (size_t i = 0; i < f->nframes; i++)
		if (f->frames[i].file && f->frames[i].line)
			return &f->frames[i];
	return NULL;
}

/* "make_record (leak7.c:19) <- remember_forever <- main" */
static void print_site(FILE *out, const struct check_finding *f)
{
	size_t shown = 0;

	/* a Python cycle says what it is; its stacks are the interpreter's */
	if (f->rule == CHECK_CYCLES && !strncmp(f->key, "python: ", 8)) {
		fprintf(out, "%s", f->key);
		return;
	}
	if (!f->nframes) {
		fprintf(out, "(no stack recorded)");
		return;
	}
	for (size_t i = 0; i < f->nframes && shown < FRAMES_SHOWN; i++) {
		const struct check_frame *fr = &f->frames[i];

		fprintf(out, "%s%s", shown ? " <- " : "", fr->function ? fr->function : "???");
		if (!shown && fr->file)
			fprintf(out, " (%s:%u)", base_name(fr->file), fr->line);
		else if (!shown && fr->module)
			fprintf(out, " [%s]", base_name(fr->module));
		shown++;
	}
	if (f->nframes > shown)
		fprintf(out, " <- ...");
}

static void print_amount(FILE *out, const struct check_finding *f, uint64_t blocks, uint64_t bytes)
{
	switch (f->rule) {
	case CHECK_LEAKS:
		fprintf(out, "%" PRIu64 " bytes in %" PRIu64 " block%s", bytes, blocks, s_if(blocks));
		break;
	case CHECK_CYCLES:
		fprintf(out, "%" PRIu64 " bytes in %" PRIu64 " block%s of cycles", bytes, blocks, s_if(blocks));
		break;
	default:
		fprintf(out, "%" PRIu64 " unbalanced reference%s in %" PRIu64 " object%s", blocks, s_if(blocks),
			bytes, s_if(bytes));
		break;
	}
}

static int finding_cmp(const void *a, const void *b)
{
	const struct check_finding *x = *(const struct check_finding *const *)a;
	const struct check_finding *y = *(const struct check_finding *const *)b;
	int c;

	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->state != y->state)
		return x->state < y->state ? -1 : 1;
	c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->proc < y->proc ? -1 : x->proc > y->proc;
}

/* A site combined over processes. */
struct combined {
	const struct check_finding *first;
	uint64_t blocks, bytes, procs;
};

static int combined_cmp(const void *a, const void *b)
{
	const struct combined *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	return strcmp(x->first->key, y->first->key);
}

/* Findings of rule in state, combined by key across processes, largest
 * first. *out malloc'd. */
static size_t combine(const struct check_set *set, enum check_rule rule, int state,
		      struct combined **out)
{
	const struct check_finding **v = calloc(set->nfindings + 1, sizeof(*v));
	struct combined *c = calloc(set->nfindings + 1, sizeof(*c));
	size_t n = 0, nc = 0;

	*out = c;
	if (!v || !c) {
		free(v);
		return 0;
	}
	for (size_t i = 0; i < set->nfindings; i++)
		if (set->findings[i].rule == rule && (state < 0 || (int)set->findings[i].state == state))
			v[n++] = &set->findings[i];
	qsort(v, n, sizeof(*v), finding_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!nc || strcmp(c[nc - 1].first->key, v[i]->key) ||
		    (state < 0 && c[nc - 1].first->state != v[i]->state))
			c[nc++].first = v[i];
		c[nc - 1].blocks += v[i]->blocks;
		c[nc - 1].bytes += v[i]->bytes;
		c[nc - 1].procs++;
	}
	free(v);
	qsort(c, nc, sizeof(*c), combined_cmp);
	return nc;
}

static void print_proc_line(FILE *out, const struct check_set *set, const struct check_proc *p,
			    const struct check_policy *pol)
{
	int failed = 0;

	fprintf(out, "  %-16s pid %-7" PRIu64 " %-24s", p->prog, p->pid, p->ended);
	fprintf(out, " leaked %" PRIu64 " bytes in %" PRIu64 " block%s", p->live_bytes, p->live_blocks,
		s_if(p->live_blocks));
	if (set->analyze && p->analyzed) {
		uint64_t cyc = 0, rc = 0;

		for (size_t i = 0; i < set->nfindings; i++) {
			if (&set->procs[set->findings[i].proc] != p)
				continue;
			cyc += set->findings[i].rule == CHECK_CYCLES ? set->findings[i].count : 0;
			rc += set->findings[i].rule == CHECK_REFCOUNT ? set->findings[i].blocks : 0;
		}
		if (p->snapshot)
			fprintf(out, ", %" PRIu64 " cycle%s", cyc, s_if(cyc));
		else
			fprintf(out, ", no snapshot");
		fprintf(out, ", %" PRIu64 " unbalanced ref%s", rc, s_if(rc));
	}
	for (unsigned r = 0; pol && r < CHECK_NRULES; r++)
		failed |= p->failed[r];
	if (pol)
		fprintf(out, "  %s", failed ? "FAIL" : "ok");
	if (p->forked)
		fprintf(out, " (began as a fork)");
	if (p->damage)
		fprintf(out, " (damaged trace: %s)", p->damage);
	fputc('\n', out);
}

static void print_sites(FILE *out, const struct check_set *set, enum check_rule r, int state,
			const char *title, size_t limit)
{
	struct combined *c;
	size_t n = combine(set, r, state, &c);

	if (n)
		fprintf(out, "%s (%zu):\n", title, n);
	for (size_t i = 0; i < n && (!limit || i < limit); i++) {
		fprintf(out, "  ");
		print_amount(out, c[i].first, c[i].blocks, c[i].bytes);
		if (set->nprocs > 1)
			fprintf(out, " in %" PRIu64 " process%s", c[i].procs, c[i].procs == 1 ? "" : "es");
		if (c[i].first->state == CHECK_SUPPRESSED && c[i].first->by)
			fprintf(out, " [%s:%s]", check_rule_kind(r), c[i].first->by->pattern);
		fprintf(out, ": ");
		print_site(out, c[i].first);
		fputc('\n', out);
	}
	if (limit && n > limit)
		fprintf(out, "  ... and %zu more\n", n - limit);
	free(c);
}

void check_write_summary(const struct check_set *set, const struct check_policy *pol,
			 const struct suppressions *s, FILE *out)
{
	size_t failed_procs = 0;

	fprintf(out, "refscope check: %zu process%s\n", set->nprocs, set->nprocs == 1 ? "" : "es");
	for (size_t i = 0; i < set->nprocs; i++) {
		print_proc_line(out, set, &set->procs[i], pol);
		for (unsigned r = 0; r < CHECK_NRULES; r++)
			if (set->procs[i].failed[r] && set->procs[i].why[r])
				fprintf(out, "      %s: %s\n", check_rule_name((enum check_rule)r),
					set->procs[i].why[r]);
		for (unsigned r = 0; r < CHECK_NRULES; r++)
			if (set->procs[i].failed[r]) {
				failed_procs++;
				break;
			}
	}
	for (unsigned r = 0; r < CHECK_NRULES; r++) {
		char title[96];
		const char *what = r == CHECK_LEAKS ? "leak sites" : r == CHECK_CYCLES ? "leaked cycles by site" :
							   "unbalanced retains";

		if (!(pol->fail_on & CHECK_RULE_BIT(r)) && r != CHECK_LEAKS)
			continue;
		snprintf(title, sizeof(title), "%s", what);
		print_sites(out, set, (enum check_rule)r, CHECK_NEW, title, SITES_SHOWN);
		snprintf(title, sizeof(title), "%s suppressed", what);
		print_sites(out, set, (enum check_rule)r, CHECK_SUPPRESSED, title, SITES_SHOWN);
		snprintf(title, sizeof(title), "%s in the baseline", what);
		print_sites(out, set, (enum check_rule)r, CHECK_BASELINE, title, SITES_SHOWN);
	}
	if (s && s->n) {
		fprintf(out, "suppressions used (%s):", s->path ? s->path : "");
		for (size_t i = 0; i < s->n; i++)
			fprintf(out, " %s:%s %" PRIu64 ";", check_rule_kind(s->v[i].rule), s->v[i].pattern,
				s->v[i].hits);
		fputc('\n', out);
	}
	fprintf(out, "result: %s", set->failed ? "FAIL" : "ok");
	fprintf(out, " (%zu of %zu process%s failed; rules:", failed_procs, set->nprocs,
		set->nprocs == 1 ? "" : "es");
	for (unsigned r = 0; r < CHECK_NRULES; r++)
		if (pol->fail_on & CHECK_RULE_BIT(r))
			fprintf(out, " %s", check_rule_name((enum check_rule)r));
	if (!pol->fail_on)
		fprintf(out, " none");
	if (pol->have_max_bytes)
		fprintf(out, "; max %" PRIu64 " bytes", pol->max_bytes);
	if (pol->have_max_blocks)
		fprintf(out, "; max %" PRIu64 " blocks", pol->max_blocks);
	fprintf(out, "; leaks: %" PRIu64 " new, %" PRIu64 " suppressed, %" PRIu64 " in the baseline)\n",
		set->counts[CHECK_LEAKS][CHECK_NEW], set->counts[CHECK_LEAKS][CHECK_SUPPRESSED],
		set->counts[CHECK_LEAKS][CHECK_BASELINE]);
}

void check_write_aggregate(const struct check_set *set, size_t top, FILE *out)
{
	uint64_t blocks = 0, bytes = 0;

	for (size_t i = 0; i < set->nprocs; i++) {
		blocks += set->procs[i].live_blocks;
		bytes += set->procs[i].live_bytes;
	}
	fprintf(out, "refscope report: %zu process%s, %" PRIu64 " bytes in %" PRIu64 " block%s live at exit\n",
		set->nprocs, set->nprocs == 1 ? "" : "es", bytes, blocks, s_if(blocks));
	for (size_t i = 0; i < set->nprocs; i++)
		print_proc_line(out, set, &set->procs[i], NULL);
	print_sites(out, set, CHECK_LEAKS, -1, "\nleak sites, all processes combined", top);
	if (set->analyze) {
		print_sites(out, set, CHECK_CYCLES, -1, "\nleaked cycles by site", top);
		print_sites(out, set, CHECK_REFCOUNT, -1, "\nunbalanced retains", top);
	}
}

void check_write_gen_suppressions(const struct check_set *set, FILE *out)
{
	char **done = calloc(set->nfindings + 1, sizeof(*done));
	size_t ndone = 0;

	for (size_t i = 0; done && i < set->nfindings; i++) {
		const struct check_finding *f = &set->findings[i];
		const struct check_proc *p = &set->procs[f->proc];
		const char *fn = NULL;
		int seen = 0;

		if (f->state != CHECK_NEW || !p->failed[f->rule])
			continue;
		for (size_t k = 0; k < f->nframes && !fn; k++)
			fn = f->frames[k].function;
		if (!fn && f->nframes)
			fn = f->frames[0].module ? base_name(f->frames[0].module) : NULL;
		if (!fn)
			continue;
		for (size_t k = 0; k < ndone && !seen; k++)
			seen = !strcmp(done[k], f->key);
		if (seen)
			continue;
		done[ndone++] = f->key;
		fprintf(out, "# ");
		print_amount(out, f, f->blocks, f->bytes);
		fprintf(out, " (%s, pid %" PRIu64 "): ", p->prog, p->pid);
		print_site(out, f);
		fprintf(out, "\n%s:^%s$\n", check_rule_kind(f->rule), fn);
	}
	free(done);
}

/* ---- the commands ----------------------------------------------------------- */

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: refscope check [OPTIONS] TRACE|DIR...\n"
		"Check traces against a leak policy: exit 0 when it holds, 1 when it is\n"
		"violated, 2 on bad input or usage. A DIR means every refscope.*.trace in\n"
		"it (one per process of a process tree). The summary goes to stderr.\n"
		"\n"
		"      --max-leaked-bytes N   allow up to N leaked bytes per process\n"
		"      --max-leaked-blocks N  allow up to N leaked blocks per process\n"
		"                             (without either: no leak is allowed)\n"
		"      --fail-on RULES        rules that fail the check, comma-separated:\n"
		"                             leaks, cycles, refcount (default: leaks)\n"
		"      --suppressions FILE    leak:, cycle:, refcount: patterns to ignore\n"
		"      --baseline FILE        refscope report --json output: fail only on\n"
		"                             findings it does not have\n"
		"      --junit FILE           write JUnit XML (a test case per process and rule)\n"
		"      --sarif FILE           write SARIF 2.1.0 (findings at their source lines)\n"
		"      --gen-suppressions     print suppressions for what failed, on stdout\n"
		"      --policy FILE          read the policy from FILE (default: .refscope.toml\n"
		"                             in the current directory, when it exists);\n"
		"                             flags override it\n"
		"  -h, --help                 show this help\n"
		"\n"
		"See docs/ci.md.\n");
}

/* Finds --policy in argv and loads it (or ./.refscope.toml), then applies
 * the flags over it. Returns 0, CMD_USAGE or CMD_BAD_INPUT. args/nargs get
 * the non-flag arguments when args is not NULL. */
static enum cmd_status parse_policy(struct check_policy *pol, int argc, char **argv, int start,
				    char **args, size_t *nargs, const char *prefix)
{
	struct check_policy scratch;
	const char *policy = NULL;
	char err[512];
	int rc, dashdash = 0;

	check_policy_init(&scratch);
	for (int i = start; i < argc;) {
		rc = dashdash ? 0 : check_policy_flag(&scratch, argc, argv, &i, prefix, &policy);
		if (rc < 0) {
			check_policy_release(&scratch);
			return rc == -ENOMEM ? CMD_BAD_INPUT : CMD_USAGE;
		}
		if (rc == 0) {
			if (!dashdash && !strcmp(argv[i], "--"))
				dashdash = 1;
			i++;
		}
	}
	check_policy_release(&scratch);
	rc = 0;
	if (policy) {
		rc = check_policy_file(pol, policy, err, sizeof(err));
	} else {
		rc = check_policy_file(pol, ".refscope.toml", err, sizeof(err));
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc) {
		fprintf(stderr, "%s: %s\n", prefix, err);
		return CMD_BAD_INPUT;
	}
	dashdash = 0;
	for (int i = start; i < argc;) {
		rc = dashdash ? 0 : check_policy_flag(pol, argc, argv, &i, prefix, &policy);
		if (rc < 0)
			return CMD_USAGE;
		if (rc)
			continue;
		if (!dashdash && !strcmp(argv[i], "--")) {
			dashdash = 1;
		} else if (args) {
			if (!dashdash && argv[i][0] == '-' && argv[i][1]) {
				fprintf(stderr, "%s: unknown option %s\n", prefix, argv[i]);
				return CMD_USAGE;
			}
			args[(*nargs)++] = argv[i];
		}
		i++;
	}
	return CMD_OK;
}

/* Checks the traces in paths against pol: summary, files, the verdict. */
static enum cmd_status check_traces(char **paths, size_t n, struct check_policy *pol)
{
	struct suppressions sup = { 0 };
	struct baseline base = { 0 };
	struct check_set set;
	enum cmd_status st = CMD_OK;
	char err[512];
	int have_base = 0;

	if (pol->suppressions && suppress_load(&sup, pol->suppressions, err, sizeof(err))) {
		fprintf(stderr, "refscope check: %s\n", err);
		suppress_release(&sup);
		return CMD_BAD_INPUT;
	}
	if (pol->baseline) {
		if (baseline_load(&base, pol->baseline, err, sizeof(err))) {
			fprintf(stderr, "refscope check: %s\n", err);
			suppress_release(&sup);
			baseline_release(&base);
			return CMD_BAD_INPUT;
		}
		have_base = 1;
	}
	check_set_init(&set, (pol->fail_on & (CHECK_RULE_BIT(CHECK_CYCLES) |
					      CHECK_RULE_BIT(CHECK_REFCOUNT))) != 0);
	for (size_t i = 0; i < n; i++) {
		if (check_set_add(&set, paths[i], err, sizeof(err))) {
			fprintf(stderr, "refscope check: %s\n", err);
			st = CMD_BAD_INPUT;
			goto out;
		}
	}
	if (check_set_sort(&set)) {
		st = CMD_BAD_INPUT;
		goto out;
	}
	check_judge(&set, pol, &sup, have_base ? &base : NULL);
	check_write_summary(&set, pol, &sup, stderr);
	if (pol->gen_suppressions)
		check_write_gen_suppressions(&set, stdout);
	for (int k = 0; k < 2; k++) {
		const char *path = k ? pol->sarif : pol->junit;
		FILE *f;
		int rc;

		if (!path)
			continue;
		f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "refscope check: cannot create %s: %s\n", path, strerror(errno));
			st = CMD_BAD_INPUT;
			goto out;
		}
		rc = k ? check_write_sarif(&set, pol, f) : check_write_junit(&set, pol, f);
		if (fclose(f) != 0 || rc) {
			fprintf(stderr, "refscope check: cannot write %s\n", path);
			st = CMD_BAD_INPUT;
			goto out;
		}
	}
	if (fflush(stdout) != 0) {
		st = CMD_BAD_INPUT;
		goto out;
	}
	st = set.failed ? CMD_POLICY_FAILED : CMD_OK;
out:
	check_set_release(&set);
	suppress_release(&sup);
	baseline_release(&base);
	return st;
}

enum cmd_status cmd_check(int argc, char **argv)
{
	struct check_policy pol;
	char **args = calloc((size_t)argc + 1, sizeof(*args)), **paths = NULL, err[512];
	size_t nargs = 0, npaths = 0;
	enum cmd_status st;

	if (!args)
		return CMD_BAD_INPUT;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			check_usage(stdout);
			free(args);
			return CMD_HELP;
		}
	}
	check_policy_init(&pol);
	st = parse_policy(&pol, argc, argv, 1, args, &nargs, "refscope check");
	if (st == CMD_USAGE)
		check_usage(stderr);
	if (st == CMD_OK && !nargs) {
		fprintf(stderr, "refscope check: no trace or directory given\n");
		check_usage(stderr);
		st = CMD_USAGE;
	}
	if (st == CMD_OK && check_expand_args(args, nargs, &paths, &npaths, err, sizeof(err))) {
		fprintf(stderr, "refscope check: %s\n", err);
		st = CMD_BAD_INPUT;
	}
	if (st == CMD_OK)
		st = check_traces(paths, npaths, &pol);
	check_free_paths(paths, npaths);
	free(args);
	check_policy_release(&pol);
	return st;
}

/* ---- run --check -------------------------------------------------------- */

/* run's options that take a value in the next word */
static int run_takes_value(const char *a)
{
	static const char *const opts[] = { "-o", "--output-dir", "-d", "--depth", "--buffer-kb",
					    "--refapi", "--snapshot-signal", "--snapshot-interval" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(a, opts[i]))
			return 1;
	return 0;
}

static int list_traces(const char *dir, char ***v, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	*v = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL && !rc) {
		char *p;

		if (fnmatch("refscope.*.trace", e->d_name, FNM_PERIOD))
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			p = NULL;
		rc = push_path(v, n, p);
	}
	closedir(d);
	if (!rc)
		qsort(*v, *n, sizeof(char *), str_cmp);
	return rc;
}

int run_check_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--check"))
			return 1;
		if (!strcmp(a, "--") || a[0] != '-' || !a[1])
			return 0;
		if (run_takes_value(a) || (!strncmp(a, "--", 2) && !strchr(a, '=') &&
					   (!strcmp(a + 2, "max-leaked-bytes") || !strcmp(a + 2, "max-leaked-blocks") ||
					    !strcmp(a + 2, "fail-on") || !strcmp(a + 2, "suppressions") ||
					    !strcmp(a + 2, "baseline") || !strcmp(a + 2, "junit") ||
					    !strcmp(a + 2, "sarif") || !strcmp(a + 2, "policy"))))
			i++;
	}
	return 0;
}

enum cmd_status cmd_run_check(int argc, char **argv, struct run_result *out)
{
	struct check_policy pol;
	char **ra = calloc((size_t)argc + 1, sizeof(*ra)), **before = NULL, **after = NULL;
	char **fresh = NULL;
	size_t nbefore = 0, nafter = 0, nfresh = 0;
	const char *dir = ".", *policy = NULL;
	int nra = 0, i;
	enum cmd_status st;

	memset(out, 0, sizeof(*out));
	out->status = CMD_OK;
	if (!ra) {
		out->status = CMD_BAD_INPUT;
		return CMD_BAD_INPUT;
	}
	check_policy_init(&pol);
	/* run's own options first: the check flags are taken out, run sees
	 * the rest; everything from the program on is left alone */
	ra[nra++] = argv[0];
	for (i = 1; i < argc;) {
		const char *a = argv[i];
		int rc;

		if (!strcmp(a, "--") || a[0] != '-' || !a[1])
			break;
		if (!strcmp(a, "--check")) {
			i++;
			continue;
		}
		rc = check_policy_flag(&pol, argc, argv, &i, "refscope run --check", &policy);
		if (rc < 0) {
			out->status = CMD_USAGE;
			st = CMD_USAGE;
			goto done;
		}
		if (rc)
			continue;
		if (run_takes_value(a) && i + 1 < argc) {
			if (!strcmp(a, "-o") || !strcmp(a, "--output-dir"))
				dir = argv[i + 1];
			ra[nra++] = argv[i++];
		} else if (!strncmp(a, "--output-dir=", 13)) {
			dir = a + 13;
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			dir = a + 2;
		}
		ra[nra++] = argv[i++];
	}
	for (; i < argc; i++)
		ra[nra++] = argv[i];
	/* the policy file, then the flags again over it */
	check_policy_release(&pol);
	check_policy_init(&pol);
	st = parse_policy(&pol, i, argv, 1, NULL, NULL, "refscope run --check");
	if (st != CMD_OK) {
		out->status = st;
		goto done;
	}
	if (list_traces(dir, &before, &nbefore)) {
		fprintf(stderr, "refscope run --check: cannot list the traces in %s\n", dir);
		out->status = st = CMD_BAD_INPUT;
		goto done;
	}
	cmd_run(nra, ra, out);
	if (out->status != CMD_OK) {
		st = (enum cmd_status)out->status;
		goto done;
	}
	if (list_traces(dir, &after, &nafter)) {
		fprintf(stderr, "refscope run --check: cannot list the traces in %s\n", dir);
		st = CMD_BAD_INPUT;
		goto done;
	}
	fresh = calloc(nafter + 1, sizeof(*fresh));
	for (size_t k = 0; fresh && k < nafter; k++)
		if (!bsearch(&after[k], before, nbefore, sizeof(char *), str_cmp))
			fresh[nfresh++] = after[k];
	if (!nfresh) {
		fprintf(stderr, "refscope run --check: the program wrote no trace in %s\n", dir);
		st = CMD_BAD_INPUT;
		goto done;
	}
	st = check_traces(fresh, nfresh, &pol);
done:
	free(fresh);
	check_free_paths(before, nbefore);
	check_free_paths(after, nafter);
	check_policy_release(&pol);
	free(ra);
	return st;
}

/* ---- report DIR ------------------------------------------------------------- */

int check_report_dir(const char *dir, const struct report_options *opt, int json,
				 FILE *out)
{
	char *arg = (char *)dir, **paths = NULL, err[512];
	size_t n = 0;
	enum cmd_status st = CMD_OK;

	if (check_expand_args(&arg, 1, &paths, &n, err, sizeof(err))) {
		fprintf(stderr, "refscope report: %s\n", err);
		return CMD_BAD_INPUT;
	}
	if (json) {
		fprintf(out, "{\n  \"schema\": \"refscope-report-set\",\n  \"schema_version\": 1,\n"
			     "  \"reports\": [\n");
		for (size_t i = 0; i < n; i++) {
			struct report rep;
			int rc = report_build(paths[i], opt, &rep);

			if (rc) {
				fprintf(stderr, "refscope report: cannot read %s: %s\n", paths[i], strerror(-rc));
				report_release(&rep);
				st = CMD_BAD_INPUT;
				break;
			}
			if (i)
				fprintf(out, ",\n");
			if (report_write_json(&rep, out))
				st = CMD_BAD_INPUT;
			if (rep.have_error && rep.error.cut) {
				/* killed while writing: incomplete, not bad input (main.c) */
				fprintf(stderr, "refscope report: %s: incomplete trace, reported up to byte %"
					PRIu64 ": %s\n", rep.path, rep.error.offset, rep.error.message);
			} else if (rep.have_error) {
				fprintf(stderr, "refscope report: %s: %s\n", rep.path, rep.error.message);
				st = CMD_BAD_INPUT;
			}
			report_release(&rep);
		}
		fprintf(out, "  ]\n}\n");
	} else {
		struct check_set set;

		check_set_init(&set, opt->cycles);
		for (size_t i = 0; i < n; i++) {
			if (check_set_add(&set, paths[i], err, sizeof(err))) {
				fprintf(stderr, "refscope report: %s\n", err);
				st = CMD_BAD_INPUT;
				break;
			}
		}
		if (st == CMD_OK && check_set_sort(&set))
			st = CMD_BAD_INPUT;
		if (st == CMD_OK)
			check_write_aggregate(&set, opt->top, out);
		for (size_t i = 0; i < set.nprocs; i++)
			if (set.procs[i].damage)
				st = CMD_BAD_INPUT;
		check_set_release(&set);
	}
	check_free_paths(paths, n);
	if (fflush(out) != 0 || ferror(out))
		st = CMD_BAD_INPUT;
	return st;
}
