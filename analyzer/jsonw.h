/*
 * jsonw.h - a small streaming JSON writer: objects, arrays, strings escaped
 * to valid UTF-8 (an invalid byte becomes U+FFFD, so paths that are not
 * UTF-8 still give a document every parser accepts), integers, booleans,
 * null. Two-space indentation. Nesting deeper than JSONW_DEPTH is ignored
 * (the report never comes close).
 *
 * Calling order: jsonw_init, then values; inside an object every value is
 * preceded by jsonw_key; jsonw_finish ends with a newline and returns 0 or
 * -EIO when a write failed.
 */
#ifndef REFSCOPE_JSONW_H
#define REFSCOPE_JSONW_H

#include <stdint.h>
#include <stdio.h>

#define JSONW_DEPTH 32

struct jsonw {
	FILE *out;
	int depth;
	int count[JSONW_DEPTH]; /* values written at each level */
	int after_key;
};

void jsonw_init(struct jsonw *w, FILE *out);
void jsonw_begin_object(struct jsonw *w);
void jsonw_end_object(struct jsonw *w);
void jsonw_begin_array(struct jsonw *w);
void jsonw_end_array(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s); /* NULL writes null */
void jsonw_bytes(struct jsonw *w, const char *s, size_t n);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, int v);
void jsonw_null(struct jsonw *w);
void jsonw_hex(struct jsonw *w, uint64_t v); /* "0x..." */
void jsonw_double(struct jsonw *w, double v); /* finite: %.6g; NaN, inf: null */
int jsonw_finish(struct jsonw *w);

#endif
