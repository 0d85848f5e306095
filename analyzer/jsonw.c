/*
 * jsonw.c - the JSON writer (see jsonw.h).
 */
#include "jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void jsonw_init(struct jsonw *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void indent(struct jsonw *w)
{
	fputc('\n', w->out);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->out);
}

/* Separator and indentation before a value or a key. */
static void before_value(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (w->depth > 0 && w->depth < JSONW_DEPTH) {
		if (w->count[w->depth]++)
			fputc(',', w->out);
		indent(w);
	}
}

static void open_level(struct jsonw *w, char c)
{
	before_value(w);
	fputc(c, w->out);
	w->depth++;
	if (w->depth < JSONW_DEPTH)
		w->count[w->depth] = 0;
}

static void close_level(struct jsonw *w, char c)
{
	int had = w->depth < JSONW_DEPTH ? w->count[w->depth] : 1;

	w->depth--;
	if (had)
		indent(w);
	fputc(c, w->out);
}

void jsonw_begin_object(struct jsonw *w)
{
	open_level(w, '{');
}

void jsonw_end_object(struct jsonw *w)
{
	close_level(w, '}');
}

void jsonw_begin_array(struct jsonw *w)
{
	open_level(w, '[');
}

void jsonw_end_array(struct jsonw *w)
{
	close_level(w, ']');
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are invalid */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void jsonw_bytes(struct jsonw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	before_value(w);
	fputc('"', w->out);
	while (i < n) {
		unsigned char c = p[i];
		size_t k;

		if (c == '"' || c == '\\') {
			fputc('\\', w->out);
			fputc(c, w->out);
			i++;
			continue;
		}
		if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", w->out); break;
			case '\t': fputs("\\t", w->out); break;
			case '\r': fputs("\\r", w->out); break;
			default: fprintf(w->out, "\\u%04x", c); break;
			}
			i++;
			continue;
		}
		k = utf8_len(p + i, n - i);
		if (!k) {
			fputs("\\ufffd", w->out);
			i++;
			continue;
		}
		fwrite(p + i, 1, k, w->out);
		i += k;
	}
	fputc('"', w->out);
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s)
		jsonw_null(w);
	else
		jsonw_bytes(w, s, strlen(s));
}

void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_string(w, key);
	fputs(": ", w->out);
	w->after_key = 1;
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRIu64, v);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRId64, v);
}

void jsonw_bool(struct jsonw *w, int v)
{
	before_value(w);
	fputs(v ? "true" : "false", w->out);
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	fputs("null", w->out);
}

void jsonw_hex(struct jsonw *w, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	jsonw_string(w, buf);
}

void jsonw_double(struct jsonw *w, double v)
{
	if (v != v || v > 1e300 || v < -1e300) {
		jsonw_null(w);
		return;
	}
	before_value(w);
	fprintf(w->out, "%.6g", v);
}

int jsonw_finish(struct jsonw *w)
{
	fputc('\n', w->out);
	if (fflush(w->out) != 0 || ferror(w->out))
		return -EIO;
	return 0;
}
