/*
 * test_shim_util.c - a small independent trace decoder for the shim's unit
 * tests (declared in test_shim_util.h), and tests of the decoder itself
 * against hand-encoded bytes so a decoder bug cannot hide a writer bug.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "refscope_format.h"
#include "test_shim_util.h"

static int get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	size_t n = rs_get_uvarint(*p, end, v);

	if (!n)
		return -1;
	*p += n;
	return 0;
}

static int gets(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	size_t n = rs_get_svarint(*p, end, v);

	if (!n)
		return -1;
	*p += n;
	return 0;
}

static struct trec *add(struct tdec *d)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		d->r = realloc(d->r, d->cap * sizeof(*d->r));
	}
	memset(&d->r[d->n], 0, sizeof(d->r[0]));
	return &d->r[d->n++];
}

static int dec_body(struct tdec *d, const uint8_t *p, const uint8_t *end, const struct trec *ch)
{
	uint64_t seq = ch->first_seq, time = ch->first_time, addr = 0, type, size, v, ds;
	uint64_t next_min = ch->first_seq;	/* version 3: the least seq the next event takes */
	int stamps = (d->version ? d->version : RS_FORMAT_VERSION) >= RS_FORMAT_STAMPS;
	int64_t sv;
	unsigned nev = 0;

	while (p < end) {
		const uint8_t *rend;
		struct trec *r;

		type = *p++;
		if (get(&p, end, &size) || p + size > end)
			return -1;
		rend = p + size;
		r = add(d);
		r->type = (uint8_t)type;
		r->in_chunk = 1;
		r->tid = ch->tid;
		r->chunk_index = ch->chunk_index;
		if (type == RS_REC_STACK) {
			uint64_t prev = 0;

			if (get(&p, rend, &r->id) || get(&p, rend, &r->nframes) ||
			    r->nframes > TDEC_MAX_FRAMES)
				return -1;
			for (uint64_t i = 0; i < r->nframes; i++) {
				if (gets(&p, rend, &sv))
					return -1;
				prev += (uint64_t)sv;
				r->ips[i] = prev;
			}
		} else if (type == RS_EV_RETAIN || type == RS_EV_RELEASE) {
			nev++;
			if (get(&p, rend, &ds) || get(&p, rend, &v))
				return -1;
			time += v;
			if (!stamps)
				seq += ds;
			else if (rs_seq_v3(next_min, time, ds, &seq))
				return -1;
			next_min = seq + 1;
			r->seq = seq;
			r->time = time;
			if (gets(&p, rend, &sv))
				return -1;
			addr += (uint64_t)sv;
			r->addr = addr;
			if (get(&p, rend, &r->stack) || get(&p, rend, &r->api) || get(&p, rend, &r->fn))
				return -1;
		} else if (type >= RS_EV_ALLOC && type <= RS_EV_THREAD_EXIT) {
			nev++;
			if (get(&p, rend, &ds) || get(&p, rend, &v))
				return -1;
			time += v;
			if (!stamps)
				seq += ds;
			else if (rs_seq_v3(next_min, time, ds, &seq))
				return -1;
			next_min = seq + 1;
			r->seq = seq;
			r->time = time;
			if (type == RS_EV_ALLOC || type == RS_EV_FREE) {
				if (gets(&p, rend, &sv))
					return -1;
				addr += (uint64_t)sv;
				r->addr = addr;
			}
			if (type == RS_EV_ALLOC)
				if (get(&p, rend, &r->size) || get(&p, rend, &r->stack) ||
				    get(&p, rend, &r->kind) || get(&p, rend, &r->align))
					return -1;
			if (type == RS_EV_FREE)
				if (get(&p, rend, &r->stack) || get(&p, rend, &r->kind))
					return -1;
			if (type == RS_EV_ALLOC_FAILED)
				if (get(&p, rend, &r->size) || get(&p, rend, &r->stack) ||
				    get(&p, rend, &r->kind) || get(&p, rend, &r->old))
					return -1;
			if (type == RS_EV_THREAD_START && get(&p, rend, &r->creator))
				return -1;
		}
		p = rend;
	}
	return nev == ch->nevents ? 0 : -2;
}

/* A STREAMS body into its expanded body of exactly raw_size bytes; 0 or -1. */
static int streams_expand(const uint8_t *p, const uint8_t *end, unsigned version, uint8_t *out,
			  uint64_t raw_size, unsigned *nzstd)
{
	struct rs_pack_in in;
	uint8_t *dec[RS_PS_COUNT] = { NULL };
	void *scratch;
	const char *why;
	size_t at;
	unsigned shift;
	long n = -1;

	memset(&in, 0, sizeof(in));
	if (end - p < 2 || p[0] != RS_PS_COUNT)
		return -1;
	shift = p[1];
	p += 2;
	for (unsigned i = 0; i < RS_PS_COUNT; i++) {
		uint64_t raw, stored;
		uint8_t enc;

		if (p >= end)
			goto out;
		enc = *p++;
		if (get(&p, end, &raw) || get(&p, end, &stored) || stored > (uint64_t)(end - p))
			goto out;
		if (enc == RS_CHUNK_ZSTD) {
			++*nzstd;
			dec[i] = malloc(raw + 1);
			if (ZSTD_decompress(dec[i], raw, p, stored) != raw)
				goto out;
			in.s[i] = dec[i];
		} else if (enc == RS_CHUNK_RAW && stored == raw) {
			in.s[i] = p;
		} else {
			goto out;
		}
		in.len[i] = raw;
		p += stored;
	}
	if (p != end)
		goto out;
	scratch = malloc(rs_pack_scratch_size(in.len[RS_PS_HEAD]));
	n = rs_pack_expand(&in, shift, version, out, raw_size, scratch, &why, &at);
	free(scratch);
out:
	for (unsigned i = 0; i < RS_PS_COUNT; i++)
		free(dec[i]);
	return n >= 0 && (uint64_t)n == raw_size ? 0 : -1;
}

int tdec_bytes(struct tdec *d, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t type, size;

	while (p < end) {
		const uint8_t *rend;
		struct trec *r;
		uint64_t v;
		int64_t sv;

		type = *p++;
		if (get(&p, end, &size) || p + size > end)
			return -1;
		rend = p + size;
		r = add(d);
		r->type = (uint8_t)type;
		switch (type) {
		case RS_REC_CHUNK: {
			struct trec ch;
			uint8_t *raw;
			int rc;

			r->encoding = *p++;
			if (get(&p, rend, &v))
				return -1;
			r->tid = (uint32_t)v;
			if (get(&p, rend, &r->first_seq) || get(&p, rend, &r->first_time) ||
			    get(&p, rend, &r->raw_size) || get(&p, rend, &r->nevents))
				return -1;
			r->body_size = (uint64_t)(rend - p);
			r->chunk_index = d->nchunks++;
			ch = *r;
			raw = malloc(r->raw_size + 1);
			if (r->encoding == RS_CHUNK_STREAMS) {
				if (streams_expand(p, rend, d->version ? d->version : RS_FORMAT_VERSION, raw,
						   r->raw_size, &r->zstd_streams)) {
					free(raw);
					return -5;
				}
			} else if (r->encoding == RS_CHUNK_ZSTD) {
				size_t z = ZSTD_decompress(raw, r->raw_size, p, (size_t)(rend - p));

				if (ZSTD_isError(z) || z != r->raw_size) {
					free(raw);
					return -3;
				}
			} else {
				if (r->body_size != r->raw_size) {
					free(raw);
					return -4;
				}
				memcpy(raw, p, r->raw_size);
			}
			rc = dec_body(d, raw, raw + ch.raw_size, &ch);
			free(raw);
			if (rc)
				return rc;
			break;
		}
		case RS_REC_PROCESS:
			if (get(&p, rend, &r->pid) || get(&p, rend, &r->ppid))
				return -1;
			for (int i = 0; i < 1; i++) {	/* exe */
				if (get(&p, rend, &v) || p + v > rend)
					return -1;
				p += v;
			}
			if (get(&p, rend, &v))	/* argc */
				return -1;
			for (uint64_t i = 0; i < v; i++) {
				uint64_t l;

				if (get(&p, rend, &l) || p + l > rend)
					return -1;
				p += l;
			}
			if (get(&p, rend, &v) || get(&p, rend, &v) || get(&p, rend, &r->origin))
				return -1;
			break;
		case RS_REC_MODULE:
			if (get(&p, rend, &r->seq) || get(&p, rend, &r->base) || get(&p, rend, &v) ||
			    p + v > rend)
				return -1;
			memcpy(r->path, p, v < sizeof(r->path) - 1 ? v : sizeof(r->path) - 1);
			p += v;
			if (get(&p, rend, &r->build_id_len) || p + r->build_id_len > rend)
				return -1;
			p += r->build_id_len;
			if (get(&p, rend, &r->nseg))
				return -1;
			break;
		case RS_REC_END:
			if (get(&p, rend, &r->seq) || get(&p, rend, &r->how) || gets(&p, rend, &sv) ||
			    get(&p, rend, &r->time) || get(&p, rend, &r->lost))
				return -1;
			r->status = sv;
			break;
		case RS_REC_STOPPED:
			if (get(&p, rend, &r->seq) || get(&p, rend, &r->how) || get(&p, rend, &r->old))
				return -1;
			break;
		case RS_REC_REFAPI: {
			size_t k = 0;

			if (get(&p, rend, &r->api) || get(&p, rend, &v) || p + v > rend)
				return -1;
			memcpy(r->path, p, v < sizeof(r->path) - 1 ? v : sizeof(r->path) - 1);
			p += v;
			for (int list = 0; list < 2; list++) {
				uint64_t cnt;

				if (get(&p, rend, &cnt))
					return -1;
				if (list)
					r->nrelease = cnt;
				else
					r->nretain = cnt;
				for (uint64_t i = 0; i < cnt; i++) {
					if (get(&p, rend, &v) || p + v > rend)
						return -1;
					if (k && k < sizeof(r->names) - 1)
						r->names[k++] = ' ';
					for (uint64_t j = 0; j < v && k < sizeof(r->names) - 1; j++)
						r->names[k++] = (char)p[j];
					p += v;
				}
			}
			if (get(&p, rend, &r->how))
				return -1;
			break;
		}
		default:
			break;
		}
		p = rend;
	}
	return 0;
}

int tdec_fd(struct tdec *d, int fd)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int rc;

	lseek(fd, 0, SEEK_SET);
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? 2 * cap : 1 << 20;
			buf = realloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	d->file_size = len;
	rc = tdec_bytes(d, buf, len);
	free(buf);
	return rc;
}

int tdec_file(struct tdec *d, const char *path, uint32_t *pid)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;
	struct rs_file_header h;
	int rc;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (len < RS_FILE_HEADER_SIZE || fread(buf, 1, (size_t)len, f) != (size_t)len ||
	    rs_header_decode(buf, &h) < 0 || h.header_size > len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (pid)
		*pid = h.pid;
	d->file_size = (size_t)len;
	d->version = h.version;
	rc = tdec_bytes(d, buf + h.header_size, (size_t)len - h.header_size);
	free(buf);
	return rc;
}

size_t tdec_count(const struct tdec *d, uint8_t type)
{
	size_t c = 0;

	for (size_t i = 0; i < d->n; i++)
		c += d->r[i].type == type;
	return c;
}

/*
 * Tests walk 100k-event traces with tdec_nth(d, type, 0), (.., 1), ...; a
 * rescan from the start each time made such a loop quadratic (minutes). Each
 * type remembers its last hit in this decoder, and a lookup at or past it
 * resumes from there.
 */
static struct {
	const struct trec *base;
	size_t n, nth, idx;
} nth_hint[256];

const struct trec *tdec_nth(const struct tdec *d, uint8_t type, size_t nth)
{
	size_t i = 0, want = nth;

	if (nth_hint[type].base == d->r && nth_hint[type].n == d->n && nth >= nth_hint[type].nth) {
		i = nth_hint[type].idx;
		want = nth - nth_hint[type].nth;
	}
	for (; i < d->n; i++)
		if (d->r[i].type == type && want-- == 0) {
			nth_hint[type].base = d->r;
			nth_hint[type].n = d->n;
			nth_hint[type].nth = nth;
			nth_hint[type].idx = i;
			return &d->r[i];
		}
	return NULL;
}

void tdec_free(struct tdec *d)
{
	memset(nth_hint, 0, sizeof(nth_hint)); /* d->r may be reused by malloc */
	free(d->r);
	memset(d, 0, sizeof(*d));
}

/* The decoder against bytes written by hand from the format's comment. */
Test(shim_util, decoder_reads_hand_made_chunk)
{
	const uint8_t body[] = {
		RS_EV_ALLOC, 7, 0, 0, 0x80, 0x40 /* +4096 */, 24, 3, 0, 0,
		RS_EV_FREE, 5, 2, 9, 0x7f /* -64 */, 4, 9,
	};
	uint8_t rec[64];
	size_t n = 0;
	struct tdec d = { 0 };
	const struct trec *r;

	/* fix the ALLOC size byte: payload is seq,time,addr(2),size,stack,kind,align = 8 */
	uint8_t b[sizeof(body)];

	memcpy(b, body, sizeof(b));
	b[1] = 8;
	rec[n++] = RS_REC_CHUNK;
	rec[n++] = (uint8_t)(6 + sizeof(b));
	rec[n++] = RS_CHUNK_RAW;
	rec[n++] = 42;	/* tid */
	rec[n++] = 100;	/* first_seq */
	rec[n++] = 5;	/* first_time */
	rec[n++] = sizeof(b);
	rec[n++] = 2;	/* nevents */
	memcpy(rec + n, b, sizeof(b));
	n += sizeof(b);
	d.version = 2;	/* seq deltas */
	cr_assert_eq(tdec_bytes(&d, rec, n), 0);
	r = tdec_nth(&d, RS_EV_ALLOC, 0);
	cr_assert_not_null(r);
	cr_assert_eq(r->seq, 100);
	cr_assert_eq(r->time, 5);
	cr_assert_eq(r->addr, 4096);
	cr_assert_eq(r->size, 24);
	cr_assert_eq(r->stack, 3);
	r = tdec_nth(&d, RS_EV_FREE, 0);
	cr_assert_eq(r->seq, 102);
	cr_assert_eq(r->time, 14);
	cr_assert_eq(r->addr, 4096 - 64);
	cr_assert_eq(r->stack, 4);
	cr_assert_eq(r->kind, 9);
	cr_assert_eq(r->tid, 42);
	tdec_free(&d);
}
