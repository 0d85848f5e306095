/*
 * baseline.c - the findings a project has accepted, read from the output
 * of `refscope report --json` (docs/JSON.md), and the stable keys both
 * sides compare.
 *
 * From a report: every live_at_exit group is a leak site, every entry of
 * "cycles" a leaked cycle, every entry of refcounts.unbalanced_by_stack an
 * unbalanced-retain finding. The report must have been written with
 * `--top 0`, or it only holds the 20 largest groups; `report --cycles` adds
 * the cycles and reference counts. A set (`report --json DIR`) is a list of
 * such reports.
 */
#include "check.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *check_stack_key(const struct check_frame *frames, size_t n)
{
	size_t len = 1, k = 0;
	char *key;

	for (size_t i = 0; i < n; i++) {
		const struct check_frame *f = &frames[i];
		const char *where = f->file ? f->file : f->module ? f->module : "?";

		len += strlen(f->function ? f->function : "?") + strlen(base_name(where)) + 2;
	}
	key = malloc(len);
	if (!key)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct check_frame *f = &frames[i];
		const char *where = f->file ? f->file : f->module ? f->module : "?";

		k += (size_t)sprintf(key + k, "%s%s@%s", i ? ";" : "", f->function ? f->function : "?",
				     base_name(where));
	}
	key[k] = '\0';
	return key;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *check_join_keys(char **keys, size_t n)
{
	size_t len = 1, k = 0;
	char *out;

	qsort(keys, n, sizeof(*keys), str_cmp);
	for (size_t i = 0; i < n; i++)
		len += strlen(keys[i]) + 3;
	out = malloc(len);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(keys[i], keys[i - 1]))
			continue;
		k += (size_t)sprintf(out + k, "%s%s", k ? " | " : "", keys[i]);
	}
	return out;
}

char *check_refcount_key(int is_alloc, const char *stack_key)
{
	char *k;

	if (asprintf(&k, "%s %s", is_alloc ? "allocation" : "retain", stack_key) < 0)
		return NULL;
	return k;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The key of a JSON "frames" array. */
static char *frames_key(json_t *frames)
{
	size_t n = json_array_size(frames), i;
	struct check_frame *v = calloc(n ? n : 1, sizeof(*v));
	json_t *f;
	char *key;

	if (!v)
		return NULL;
	json_array_foreach(frames, i, f) {
		v[i].function = (char *)jstr(f, "function");
		v[i].file = (char *)jstr(f, "file");
		v[i].module = (char *)jstr(f, "module");
	}
	key = check_stack_key(v, n);
	free(v);
	return key;
}

static int add_key(struct baseline *b, enum check_rule r, char *key)
{
	char **nv;

	if (!key)
		return -ENOMEM;
	nv = realloc(b->keys[r], (b->nkeys[r] + 1) * sizeof(*nv));
	if (!nv) {
		free(key);
		return -ENOMEM;
	}
	b->keys[r] = nv;
	b->keys[r][b->nkeys[r]++] = key;
	return 0;
}

static int load_report(struct baseline *b, json_t *rep)
{
	json_t *v, *g, *members, *m;
	size_t i, k;
	int rc;

	json_array_foreach(json_object_get(json_object_get(rep, "live_at_exit"), "groups"), i, g) {
		rc = add_key(b, CHECK_LEAKS, frames_key(json_object_get(g, "frames")));
		if (rc)
			return rc;
	}
	json_array_foreach(json_object_get(rep, "cycles"), i, v) {
		size_t n = 0;
		char **keys;

		members = json_object_get(v, "members");
		keys = calloc(json_array_size(members) + 1, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		json_array_foreach(members, k, m) {
			if (json_object_get(m, "frames"))
				keys[n++] = frames_key(json_object_get(m, "frames"));
		}
		rc = add_key(b, CHECK_CYCLES, check_join_keys(keys, n));
		for (k = 0; k < n; k++)
			free(keys[k]);
		free(keys);
		if (rc)
			return rc;
	}
	json_array_foreach(json_object_get(json_object_get(rep, "refcounts"), "unbalanced_by_stack"), i, v) {
		char *sk = frames_key(json_object_get(v, "frames"));

		if (!sk)
			return -ENOMEM;
		rc = add_key(b, CHECK_REFCOUNT,
			     check_refcount_key(json_is_true(json_object_get(v, "allocation")), sk));
		free(sk);
		if (rc)
			return rc;
	}
	b->reports++;
	return 0;
}

int baseline_load(struct baseline *b, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *rep;
	const char *schema;
	size_t i;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	if (!root) {
		snprintf(err, errlen, "cannot read baseline %s: %s (line %d)", path, je.text, je.line);
		return -EINVAL;
	}
	schema = jstr(root, "schema");
	if (schema && !strcmp(schema, "refscope-report")) {
		rc = load_report(b, root);
	} else if (schema && !strcmp(schema, "refscope-report-set")) {
		json_array_foreach(json_object_get(root, "reports"), i, rep) {
			rc = load_report(b, rep);
			if (rc)
				break;
		}
	} else {
		snprintf(err, errlen, "baseline %s is not the output of refscope report --json (schema %s)",
			 path, schema ? schema : "missing");
		rc = -EINVAL;
	}
	json_decref(root);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory reading baseline %s", path);
	for (unsigned r = 0; r < CHECK_NRULES && !rc; r++)
		if (b->nkeys[r])
			qsort(b->keys[r], b->nkeys[r], sizeof(char *), str_cmp);
	return rc;
}

int baseline_has(const struct baseline *b, enum check_rule rule, const char *key)
{
	if (!b || !b->nkeys[rule])
		return 0;
	return bsearch(&key, b->keys[rule], b->nkeys[rule], sizeof(char *), str_cmp) != NULL;
}

void baseline_release(struct baseline *b)
{
	for (unsigned r = 0; r < CHECK_NRULES; r++) {
		for (size_t i = 0; i < b->nkeys[r]; i++)
			free(b->keys[r][i]);
		free(b->keys[r]);
	}
	memset(b, 0, sizeof(*b));
}
