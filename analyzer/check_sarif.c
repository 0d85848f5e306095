/*
 * check_sarif.c - `refscope check --sarif FILE`: SARIF 2.1.0 (OASIS), the
 * format code-scanning services read. One run, tool "refscope", three rules
 * (leak, cycle, refcount); one result per finding of each process, located
 * at the innermost frame of its stack that has a source file and line, with
 * the whole stack in "stacks". Suppressed findings carry "suppressions"
 * (kind external: the suppression file); with a baseline every result has
 * a baselineState ("new" or "unchanged"). partialFingerprints holds the
 * finding's stable key.
 */
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* A file path as a URI reference: absolute paths become file:// URIs;
 * anything outside RFC 3986's unreserved set and '/' is percent-encoded. */
static void write_uri(struct jsonw *w, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), k = 0;
	char *s = malloc(3 * n + 8);

	if (!s) {
		jsonw_string(w, path);
		return;
	}
	if (path[0] == '/') {
		memcpy(s, "file://", 7);
		k = 7;
	}
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p)) {
			s[k++] = (char)*p;
		} else {
			s[k++] = '%';
			s[k++] = hex[*p >> 4];
			s[k++] = hex[*p & 15];
		}
	}
	s[k] = '\0';
	jsonw_string(w, s);
	free(s);
}

static void text(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_begin_object(w);
	jsonw_key(w, "text");
	jsonw_string(w, s);
	jsonw_end_object(w);
}

static void write_location(struct jsonw *w, const struct check_frame *f)
{
	jsonw_begin_object(w);
	if (f->file) {
		jsonw_key(w, "physicalLocation");
		jsonw_begin_object(w);
		jsonw_key(w, "artifactLocation");
		jsonw_begin_object(w);
		jsonw_key(w, "uri");
		write_uri(w, f->file);
		jsonw_end_object(w);
		if (f->line) {
			jsonw_key(w, "region");
			jsonw_begin_object(w);
			jsonw_key(w, "startLine");
			jsonw_uint(w, f->line);
			jsonw_end_object(w);
		}
		jsonw_end_object(w);
	}
	if (f->function) {
		jsonw_key(w, "logicalLocations");
		jsonw_begin_array(w);
		jsonw_begin_object(w);
		jsonw_key(w, "name");
		jsonw_string(w, f->function);
		jsonw_key(w, "kind");
		jsonw_string(w, "function");
		jsonw_end_object(w);
		jsonw_end_array(w);
	}
	jsonw_end_object(w);
}

static void write_rules(struct jsonw *w)
{
	static const char *const names[] = { "MemoryLeak", "LeakedCycle", "UnbalancedRetain" };
	static const char *const desc[] = {
		"Memory allocated and never freed before the process ended",
		"A cycle of heap blocks that nothing outside the cycle points to",
		"A reference taken (retain) that no release balances, on a leaked object",
	};

	jsonw_key(w, "rules");
	jsonw_begin_array(w);
	for (unsigned r = 0; r < CHECK_NRULES; r++) {
		jsonw_begin_object(w);
		jsonw_key(w, "id");
		jsonw_string(w, check_rule_kind((enum check_rule)r));
		jsonw_key(w, "name");
		jsonw_string(w, names[r]);
		text(w, "shortDescription", desc[r]);
		jsonw_key(w, "defaultConfiguration");
		jsonw_begin_object(w);
		jsonw_key(w, "level");
		jsonw_string(w, "error");
		jsonw_end_object(w);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

static void write_result(struct jsonw *w, const struct check_set *set, const struct check_policy *p,
			 const struct check_finding *f)
{
	const struct check_proc *pr = &set->procs[f->proc];
	const struct check_frame *loc = check_location(f);
	const char *fn = NULL;
	char *msg = NULL;
	int n;

	for (size_t i = 0; i < f->nframes && !fn; i++)
		fn = f->frames[i].function;
	if (f->rule == CHECK_LEAKS)
		n = asprintf(&msg, "%llu bytes in %llu blocks leaked by %s (pid %llu), allocated in %s",
			     (unsigned long long)f->bytes, (unsigned long long)f->blocks, pr->prog,
			     (unsigned long long)pr->pid, fn ? fn : "an unknown function");
	else if (f->rule == CHECK_CYCLES)
		n = asprintf(&msg, "leaked cycle of %llu blocks (%llu bytes) in %s (pid %llu), allocated in %s",
			     (unsigned long long)f->blocks, (unsigned long long)f->bytes, pr->prog,
			     (unsigned long long)pr->pid, fn ? fn : "an unknown function");
	else
		n = asprintf(&msg, "%llu unbalanced references on %llu leaked objects in %s (pid %llu), taken in %s",
			     (unsigned long long)f->blocks, (unsigned long long)f->bytes, pr->prog,
			     (unsigned long long)pr->pid, fn ? fn : "an unknown function");
	if (n < 0)
		msg = NULL;
	jsonw_begin_object(w);
	jsonw_key(w, "ruleId");
	jsonw_string(w, check_rule_kind(f->rule));
	jsonw_key(w, "ruleIndex");
	jsonw_uint(w, f->rule);
	jsonw_key(w, "level");
	jsonw_string(w, p->fail_on & CHECK_RULE_BIT(f->rule) ? "error" : "warning");
	text(w, "message", msg ? msg : "leak");
	free(msg);
	jsonw_key(w, "locations");
	jsonw_begin_array(w);
	if (loc)
		write_location(w, loc);
	jsonw_end_array(w);
	jsonw_key(w, "stacks");
	jsonw_begin_array(w);
	jsonw_begin_object(w);
	text(w, "message", f->rule == CHECK_REFCOUNT ? "retain stack" : "allocation stack");
	jsonw_key(w, "frames");
	jsonw_begin_array(w);
	for (size_t i = 0; i < f->nframes; i++) {
		jsonw_begin_object(w);
		jsonw_key(w, "location");
		write_location(w, &f->frames[i]);
		if (f->frames[i].module) {
			jsonw_key(w, "module");
			jsonw_string(w, f->frames[i].module);
		}
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_end_object(w);
	jsonw_end_array(w);
	jsonw_key(w, "partialFingerprints");
	jsonw_begin_object(w);
	jsonw_key(w, "refscopeKey/v1");
	jsonw_string(w, f->key);
	jsonw_end_object(w);
	if (f->state == CHECK_SUPPRESSED) {
		char *just = NULL;

		if (asprintf(&just, "%s:%s", check_rule_kind(f->rule), f->by ? f->by->pattern : "?") < 0)
			just = NULL;
		jsonw_key(w, "suppressions");
		jsonw_begin_array(w);
		jsonw_begin_object(w);
		jsonw_key(w, "kind");
		jsonw_string(w, "external");
		jsonw_key(w, "justification");
		jsonw_string(w, just);
		jsonw_end_object(w);
		jsonw_end_array(w);
		free(just);
	}
	if (p->baseline) {
		jsonw_key(w, "baselineState");
		jsonw_string(w, f->state == CHECK_BASELINE ? "unchanged" : "new");
	}
	jsonw_key(w, "properties");
	jsonw_begin_object(w);
	jsonw_key(w, "process");
	jsonw_string(w, pr->prog);
	jsonw_key(w, "pid");
	jsonw_uint(w, pr->pid);
	jsonw_key(w, "trace");
	jsonw_string(w, pr->path);
	jsonw_key(w, f->rule == CHECK_REFCOUNT ? "references" : "blocks");
	jsonw_uint(w, f->blocks);
	jsonw_key(w, f->rule == CHECK_REFCOUNT ? "objects" : "bytes");
	jsonw_uint(w, f->bytes);
	jsonw_end_object(w);
	jsonw_end_object(w);
}

int check_write_sarif(const struct check_set *set, const struct check_policy *p, FILE *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_begin_object(&w);
	jsonw_key(&w, "$schema");
	jsonw_string(&w, "https://json.schemastore.org/sarif-2.1.0.json");
	jsonw_key(&w, "version");
	jsonw_string(&w, "2.1.0");
	jsonw_key(&w, "runs");
	jsonw_begin_array(&w);
	jsonw_begin_object(&w);
	jsonw_key(&w, "tool");
	jsonw_begin_object(&w);
	jsonw_key(&w, "driver");
	jsonw_begin_object(&w);
	jsonw_key(&w, "name");
	jsonw_string(&w, "refscope");
	jsonw_key(&w, "version");
	jsonw_string(&w, REFSCOPE_VERSION);
	write_rules(&w);
	jsonw_end_object(&w);
	jsonw_end_object(&w);
	jsonw_key(&w, "results");
	jsonw_begin_array(&w);
	for (size_t i = 0; i < set->nfindings; i++)
		write_result(&w, set, p, &set->findings[i]);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	return jsonw_finish(&w);
}
