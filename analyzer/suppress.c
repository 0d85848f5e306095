/*
 * suppress.c - suppression files in LeakSanitizer's format, extended.
 *
 * One entry a line: `leak:PATTERN` (as LeakSanitizer), `cycle:PATTERN`,
 * `refcount:PATTERN`; `#` starts a comment line; blank lines are ignored.
 * A pattern matches a finding when it matches the function name, the
 * source file or the module path of any of its frames. Matching follows
 * LeakSanitizer's TemplateMatch: a substring match, `*` matches any run of
 * characters, a leading `^` anchors at the start, a trailing `$` at the end.
 */
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Matches pattern p (no '*' left to interpret at its start) against s
 * anchored at the start of s; '*' anywhere after. */
static int match_here(const char *p, const char *s, int anchor_end)
{
	while (*p && *p != '*') {
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	if (!*p)
		return !anchor_end || !*s;
	/* '*': try every split, shortest first */
	while (*p == '*')
		p++;
	if (!*p)
		return 1;
	for (; *s; s++)
		if (match_here(p, s, anchor_end))
			return 1;
	return match_here(p, s, anchor_end);
}

int suppress_pattern_match(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);
	int anchor_start = pattern[0] == '^';
	int anchor_end = n > (size_t)anchor_start && pattern[n - 1] == '$';
	char *p;
	int m = 0;

	if (!s)
		return 0;
	p = strndup(pattern + anchor_start, n - (size_t)anchor_start - (size_t)anchor_end);
	if (!p)
		return 0;
	if (anchor_start) {
		m = match_here(p, s, anchor_end);
	} else {
		for (const char *t = s;; t++) {
			if (match_here(p, t, anchor_end)) {
				m = 1;
				break;
			}
			if (!*t)
				break;
		}
	}
	free(p);
	return m;
}

static int parse_kind(const char *s, size_t n, enum check_rule *rule)
{
	for (unsigned r = 0; r < CHECK_NRULES; r++) {
		const char *kind = check_rule_kind((enum check_rule)r);

		if (strlen(kind) == n && !strncmp(s, kind, n)) {
			*rule = (enum check_rule)r;
			return 0;
		}
	}
	return -EINVAL;
}

int suppress_load(struct suppressions *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	unsigned no = 0;
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot open suppressions %s: %s", path, strerror(errno));
		return rc;
	}
	free(s->path);
	s->path = strdup(path);
	while (fgets(line, sizeof(line), f)) {
		char *t = line, *e, *colon;
		struct suppression *nv;
		enum check_rule rule;

		no++;
		while (isspace((unsigned char)*t))
			t++;
		e = t + strlen(t);
		while (e > t && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*t || *t == '#')
			continue;
		colon = strchr(t, ':');
		if (!colon || parse_kind(t, (size_t)(colon - t), &rule) || !colon[1]) {
			snprintf(err, errlen, "%s:%u: want leak:PATTERN, cycle:PATTERN or refcount:PATTERN, not '%s'",
				 path, no, t);
			rc = -EINVAL;
			break;
		}
		nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
		if (!nv) {
			rc = -ENOMEM;
			break;
		}
		s->v = nv;
		s->v[s->n] = (struct suppression){ .rule = rule, .pattern = strdup(colon + 1), .line = no };
		if (!s->v[s->n].pattern) {
			rc = -ENOMEM;
			break;
		}
		s->n++;
	}
	fclose(f);
	return rc;
}

struct suppression *suppress_match(struct suppressions *s, enum check_rule rule,
				   const struct check_frame *frames, size_t n)
{
	for (size_t i = 0; s && i < s->n; i++) {
		struct suppression *sp = &s->v[i];

		if (sp->rule != rule)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (suppress_pattern_match(sp->pattern, frames[k].function) ||
			    suppress_pattern_match(sp->pattern, frames[k].file) ||
			    suppress_pattern_match(sp->pattern, frames[k].module))
				return sp;
		}
	}
	return NULL;
}

void suppress_release(struct suppressions *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].pattern);
	free(s->v);
	free(s->path);
	memset(s, 0, sizeof(*s));
}
