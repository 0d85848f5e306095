/*
 * policy.c - the policy `refscope check` enforces: limits per process, the
 * rules that fail the check, the suppression and baseline files, the CI
 * outputs. It comes from a policy file (a plain `key = value` format close
 * to TOML, documented in docs/ci.md) and from flags, which override it.
 */
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *check_rule_name(enum check_rule r)
{
	static const char *const names[] = { "leaks", "cycles", "refcount" };

	return (unsigned)r < CHECK_NRULES ? names[r] : "?";
}

const char *check_rule_kind(enum check_rule r)
{
	static const char *const kinds[] = { "leak", "cycle", "refcount" };

	return (unsigned)r < CHECK_NRULES ? kinds[r] : "?";
}

void check_policy_init(struct check_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->fail_on = CHECK_RULE_BIT(CHECK_LEAKS);
}

void check_policy_release(struct check_policy *p)
{
	free(p->suppressions);
	free(p->baseline);
	free(p->junit);
	free(p->sarif);
	memset(p, 0, sizeof(*p));
}

int check_parse_rules(const char *s, unsigned *bits)
{
	unsigned b = 0;

	while (*s) {
		size_t n = strcspn(s, ", ");
		int found = 0;

		for (unsigned r = 0; r < CHECK_NRULES && n; r++) {
			const char *name = check_rule_name((enum check_rule)r);

			/* "leak" and "cycle" too: the suppression kinds */
			if ((strlen(name) == n || strlen(check_rule_kind((enum check_rule)r)) == n) &&
			    (!strncmp(s, name, n))) {
				b |= CHECK_RULE_BIT(r);
				found = 1;
			}
		}
		if (n && !found)
			return -EINVAL;
		s += n;
		while (*s == ',' || *s == ' ')
			s++;
	}
	*bits = b;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!(*s >= '0' && *s <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Sets key to value; 0, -EINVAL (unknown key or bad value), -ENOMEM.
 * base: the directory relative paths are resolved against, or NULL. */
static int policy_set(struct check_policy *p, const char *key, const char *value, const char *base)
{
	char **path = NULL;

	if (!strcmp(key, "max-leaked-bytes") || !strcmp(key, "max_leaked_bytes")) {
		p->have_max_bytes = 1;
		return parse_u64(value, &p->max_bytes);
	}
	if (!strcmp(key, "max-leaked-blocks") || !strcmp(key, "max_leaked_blocks")) {
		p->have_max_blocks = 1;
		return parse_u64(value, &p->max_blocks);
	}
	if (!strcmp(key, "fail-on") || !strcmp(key, "fail_on"))
		return check_parse_rules(value, &p->fail_on);
	if (!strcmp(key, "suppressions"))
		path = &p->suppressions;
	else if (!strcmp(key, "baseline"))
		path = &p->baseline;
	else if (!strcmp(key, "junit"))
		path = &p->junit;
	else if (!strcmp(key, "sarif"))
		path = &p->sarif;
	else
		return -EINVAL;
	if (!value[0])
		return -EINVAL;
	if (base && value[0] != '/') {
		char *joined;
		int rc;

		if (asprintf(&joined, "%s/%s", base, value) < 0)
			return -ENOMEM;
		rc = set_str(path, joined);
		free(joined);
		return rc;
	}
	return set_str(path, value);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A value: "quoted" (no escapes), or bare up to a # comment; a TOML
 * array ["leaks", "cycles"] is taken as a list. */
static int unquote(char *v)
{
	size_t k = 0;
	int in_str = 0;

	for (size_t i = 0; v[i]; i++) {
		char c = v[i];

		if (c == '"') {
			in_str = !in_str;
			continue;
		}
		if (!in_str && c == '#')
			break;
		if (!in_str && (c == '[' || c == ']'))
			continue;
		v[k++] = c;
	}
	v[k] = '\0';
	if (in_str)
		return -EINVAL;
	memmove(v, trim(v), strlen(trim(v)) + 1);
	return 0;
}

int check_policy_file(struct check_policy *p, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096], *base = NULL, *slash;
	unsigned no = 0;
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	slash = strrchr(path, '/');
	if (slash && asprintf(&base, "%.*s", (int)(slash - path), path) < 0)
		base = NULL;
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *key, *value;

		no++;
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			if (strcmp(s, "[check]") && strcmp(s, "[refscope]")) {
				snprintf(err, errlen, "%s:%u: unknown section %s (want [check])", path, no, s);
				rc = -EINVAL;
				break;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: want key = value", path, no);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = eq + 1;
		if (unquote(value)) {
			snprintf(err, errlen, "%s:%u: unterminated string", path, no);
			rc = -EINVAL;
			break;
		}
		rc = policy_set(p, key, value, base);
		if (rc == -ENOMEM) {
			snprintf(err, errlen, "out of memory");
			break;
		}
		if (rc) {
			snprintf(err, errlen, "%s:%u: bad setting '%s = %s'", path, no, key, value);
			break;
		}
	}
	free(base);
	fclose(f);
	return rc;
}

static const char *const flag_names[] = {
	"max-leaked-bytes", "max-leaked-blocks", "fail-on", "suppressions",
	"baseline", "junit", "sarif", "policy",
};

int check_policy_flag(struct check_policy *p, int argc, char **argv, int *i, const char *prefix,
		      const char **policy_path)
{
	const char *arg = argv[*i], *value = NULL;
	size_t n;
	int rc;

	if (strncmp(arg, "--", 2))
		return 0;
	arg += 2;
	if (!strcmp(arg, "gen-suppressions")) {
		p->gen_suppressions = 1;
		(*i)++;
		return 1;
	}
	n = strcspn(arg, "=");
	for (size_t k = 0; k < sizeof(flag_names) / sizeof(flag_names[0]); k++) {
		if (strlen(flag_names[k]) != n || strncmp(arg, flag_names[k], n))
			continue;
		if (arg[n] == '=') {
			value = arg + n + 1;
			(*i)++;
		} else if (*i + 1 < argc) {
			value = argv[*i + 1];
			*i += 2;
		} else {
			fprintf(stderr, "%s: --%s wants a value\n", prefix, flag_names[k]);
			return -EINVAL;
		}
		if (!strcmp(flag_names[k], "policy")) {
			*policy_path = value;
			return 1;
		}
		rc = policy_set(p, flag_names[k], value, NULL);
		if (rc == -ENOMEM)
			return rc;
		if (rc) {
			fprintf(stderr, "%s: bad value for --%s: '%s'\n", prefix, flag_names[k], value);
			return -EINVAL;
		}
		return 1;
	}
	return 0;
}
