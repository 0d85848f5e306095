/*
 * check_junit.c - `refscope check --junit FILE`: JUnit XML as CI systems
 * read it (Jenkins, GitLab, GitHub test reporters). One <testsuite> per
 * process, one <testcase> per rule of the policy (--fail-on); a violated
 * rule is a <failure> whose text lists the findings that count, the
 * suppressed and baselined ones are named in <system-out>.
 */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Writes s escaped for XML text and attributes. Bytes that are not valid
 * UTF-8, and control characters XML 1.0 forbids, become U+FFFD, so any
 * path or symbol still gives a document every parser accepts. */
static void xml_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		unsigned char c = *p;
		size_t len = 0;

		if (c < 0x80) {
			if (c == '&')
				fputs("&amp;", out);
			else if (c == '<')
				fputs("&lt;", out);
			else if (c == '>')
				fputs("&gt;", out);
			else if (c == '"')
				fputs("&quot;", out);
			else if (c == '\'')
				fputs("&apos;", out);
			else if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
				fputs("\xef\xbf\xbd", out);
			else
				fputc(c, out);
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		for (size_t k = 1; k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				len = 0;
		/* overlong 3/4-byte forms and surrogates */
		if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
			len = 0;
		if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
			len = 0;
		if (!len) {
			fputs("\xef\xbf\xbd", out);
			p++;
			continue;
		}
		fwrite(p, 1, len, out);
		p += len;
	}
}

static void write_finding(FILE *out, const struct check_finding *f)
{
	const struct check_frame *loc = check_location(f);

	fprintf(out, "%s: %" PRIu64 " %s, %" PRIu64 " %s", check_rule_kind(f->rule), f->bytes,
		f->rule == CHECK_REFCOUNT ? "objects" : "bytes", f->blocks,
		f->rule == CHECK_REFCOUNT ? "references" : "blocks");
	if (loc) {
		fputs(" at ", out);
		xml_str(out, loc->file);
		fprintf(out, ":%u", loc->line);
	}
	fputs("\n  ", out);
	xml_str(out, f->key);
	fputc('\n', out);
}

int check_write_junit(const struct check_set *set, const struct check_policy *p, FILE *out)
{
	size_t tests = 0, failures = 0;
	unsigned nrules = 0;

	for (unsigned r = 0; r < CHECK_NRULES; r++)
		nrules += (p->fail_on & CHECK_RULE_BIT(r)) != 0;
	for (size_t i = 0; i < set->nprocs; i++)
		for (unsigned r = 0; r < CHECK_NRULES; r++)
			if (p->fail_on & CHECK_RULE_BIT(r)) {
				tests++;
				failures += set->procs[i].failed[r] != 0;
			}
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"refscope check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n",
		tests, failures);
	for (size_t i = 0; i < set->nprocs; i++) {
		const struct check_proc *pr = &set->procs[i];
		size_t pf = 0;

		for (unsigned r = 0; r < CHECK_NRULES; r++)
			pf += (p->fail_on & CHECK_RULE_BIT(r)) && pr->failed[r];
		fputs("  <testsuite name=\"", out);
		xml_str(out, pr->prog);
		fprintf(out, " (pid %" PRIu64 ")\" tests=\"%u\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n",
			pr->pid, nrules, pf);
		fputs("    <properties>\n      <property name=\"trace\" value=\"", out);
		xml_str(out, pr->path);
		fputs("\"/>\n      <property name=\"ended\" value=\"", out);
		xml_str(out, pr->ended);
		fputs("\"/>\n    </properties>\n", out);
		for (unsigned r = 0; r < CHECK_NRULES; r++) {
			if (!(p->fail_on & CHECK_RULE_BIT(r)))
				continue;
			fputs("    <testcase classname=\"refscope.", out);
			xml_str(out, pr->prog);
			fprintf(out, "\" name=\"%s (pid %" PRIu64 ")\" time=\"0\">\n",
				check_rule_name((enum check_rule)r), pr->pid);
			if (pr->failed[r]) {
				fputs("      <failure type=\"", out);
				xml_str(out, check_rule_name((enum check_rule)r));
				fputs("\" message=\"", out);
				xml_str(out, pr->why[r]);
				fputs("\">", out);
				for (size_t k = 0; k < set->nfindings; k++) {
					const struct check_finding *f = &set->findings[k];

					if (f->proc == i && f->rule == r && f->state == CHECK_NEW)
						write_finding(out, f);
				}
				fputs("</failure>\n", out);
			}
			fputs("      <system-out>", out);
			for (size_t k = 0; k < set->nfindings; k++) {
				const struct check_finding *f = &set->findings[k];

				if (f->proc != i || f->rule != r || f->state == CHECK_NEW)
					continue;
				fputs(f->state == CHECK_SUPPRESSED ? "suppressed " : "in the baseline ", out);
				write_finding(out, f);
			}
			fputs("</system-out>\n    </testcase>\n", out);
		}
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
	return fflush(out) != 0 || ferror(out) ? -EIO : 0;
}
