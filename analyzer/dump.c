/*
 * dump.c - `refscope dump TRACE`: the header and every record, one line
 * each, with its byte offset; the events of a chunk in file order, decoded
 * to absolute values, indented under their chunk with their offset in the
 * decoded body. A debugging aid and a way to make test fixtures.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pyobjects.h"
#include "reader.h"

struct dump_ctx {
	FILE *out;
	FILE *msgs; /* the "refscope dump: ..." messages */
	struct reader *r;
	int damaged;
};

static void put_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static const char *origin_name(uint64_t o)
{
	return o == RS_ORIGIN_START ? "start" : o == RS_ORIGIN_FORK ? "fork" : "unknown";
}

static void dump_event(FILE *out, const struct reader_event *ev)
{
	fprintf(out, " seq %" PRIu64 " time %" PRIu64, ev->seq, ev->time);
	switch (ev->type) {
	case RS_EV_ALLOC:
		fprintf(out, " addr 0x%" PRIx64 " size %" PRIu64 " stack %" PRIu64 " kind %s align %" PRIu64,
			ev->addr, ev->size, ev->stack, reader_kind_name(ev->kind), ev->alignment);
		break;
	case RS_EV_FREE:
		fprintf(out, " addr 0x%" PRIx64 " stack %" PRIu64 " kind %s", ev->addr, ev->stack,
			reader_kind_name(ev->kind));
		break;
	case RS_EV_ALLOC_FAILED:
		fprintf(out, " size %" PRIu64 " stack %" PRIu64 " kind %s old 0x%" PRIx64, ev->size,
			ev->stack, reader_kind_name(ev->kind), ev->old);
		break;
	case RS_EV_THREAD_START:
		fprintf(out, " creator_tid %" PRIu64, ev->creator_tid);
		break;
	case RS_EV_RETAIN:
	case RS_EV_RELEASE:
		fprintf(out, " addr 0x%" PRIx64 " stack %" PRIu64 " api %" PRIu64 " fn %" PRIu64, ev->addr,
			ev->stack, ev->api, ev->fn);
		break;
	default:
		break;
	}
}

/* The Python-aware snapshots, one line per object. -1 on damage. */
static int dump_python(struct reader *r, FILE *out, FILE *msgs)
{
	struct py_snapshot *ps;
	size_t n;
	char why[160];

	if (py_snapshots_load(r, &ps, &n, why, sizeof(why)) < 0) {
		fprintf(msgs, "refscope dump: python snapshots: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct py_snapshot *s = &ps[i];

		fprintf(out, "py_snapshot %" PRIu64 " @%" PRIu64 " seq %" PRIu64 " time %" PRIu64 " trigger %s tid %" PRIu64
		       " runtime \"%s\" complete %d objects %zu strings %zu generations [",
		       s->id, s->offset, s->seq, s->time, reader_trigger_name(s->trigger), s->tid, s->runtime,
		       s->complete, s->nobjs, s->nstrings);
		for (uint64_t g = 0; g < s->ngen; g++)
			fprintf(out, "%s%" PRIu64, g ? " " : "", s->gen_objects[g]);
		fprintf(out, "]\n");
		for (size_t k = 0; k < s->nobjs; k++) {
			const struct py_object *o = &s->objs[k];

			fprintf(out, "  0x%" PRIx64 " %s refcount %" PRIu64 " gen %" PRIu32, o->addr,
			       py_string(s, o->type), o->refcnt, o->gen);
			if (o->site)
				fprintf(out, " site %s", py_string(s, o->site));
			fprintf(out, " refs [");
			for (size_t j = 0; j < o->nref; j++) {
				const struct py_ref *rf = &s->refs[o->ref0 + j];

				fprintf(out, "%s0x%" PRIx64, j ? " " : "", rf->addr);
				if (rf->name)
					fprintf(out, "(%s)", py_string(s, rf->name));
			}
			fprintf(out, "]\n");
		}
	}
	py_snapshots_free(ps, n);
	if (why[0]) {
		fprintf(out, "error: python snapshot: %s\n", why);
		return -1;
	}
	return 0;
}

static void dump_record(FILE *out, const struct reader_record *rec)
{
	fprintf(out, "%s len %" PRIu64, reader_record_name(rec->type), rec->size);
	if (rec->type >= RS_REC_PY_SNAPSHOT && rec->type <= RS_REC_PY_SNAPSHOT_END) {
		fprintf(out, " (decoded after the scan)");
		return;
	}
	if (rec->type >= RS_EV_ALLOC && !rec->event && !rec->refapi && !rec->snapshot && !rec->region &&
	    !rec->words) {
		fprintf(out, " type %u (skipped)", rec->type);
		return;
	}
	switch (rec->type) {
	case RS_REC_PROCESS:
		if (!rec->process)
			break;
		fprintf(out, " pid %" PRIu64 " ppid %" PRIu64 " exe ", rec->process->pid, rec->process->ppid);
		put_str(out, rec->process->exe);
		fprintf(out, " argv [");
		for (uint64_t i = 0; i < rec->process->argc; i++) {
			if (i)
				fputc(' ', out);
			put_str(out, rec->process->argv[i]);
		}
		fprintf(out, "] depth_limit %" PRIu64 " page_size %" PRIu64 " origin %s",
			rec->process->depth_limit, rec->process->page_size,
			origin_name(rec->process->origin));
		break;
	case RS_REC_MODULE: {
		const struct reader_module *m = rec->module;

		if (!m)
			break;
		fprintf(out, " seq %" PRIu64 " base 0x%" PRIx64 " path ", m->seq, m->base);
		put_str(out, m->path);
		fprintf(out, " build_id ");
		for (size_t i = 0; i < m->build_id_len; i++)
			fprintf(out, "%02x", m->build_id[i]);
		if (!m->build_id_len)
			fprintf(out, "-");
		fprintf(out, " segs [");
		for (size_t i = 0; i < m->nseg; i++)
			fprintf(out, "%s0x%" PRIx64 "+0x%" PRIx64 " %c%c%c", i ? " " : "", m->segs[i].vaddr,
				m->segs[i].memsz, m->segs[i].flags & 4 ? 'r' : '-',
				m->segs[i].flags & 2 ? 'w' : '-', m->segs[i].flags & 1 ? 'x' : '-');
		fprintf(out, "]");
		break;
	}
	case RS_REC_MODULE_UNLOAD:
		fprintf(out, " seq %" PRIu64 " base 0x%" PRIx64, rec->unload_seq, rec->unload_base);
		break;
	case RS_REC_CHUNK: {
		const struct reader_chunk *c = rec->chunk;

		fprintf(out, " encoding %s tid %" PRIu64 " first_seq %" PRIu64 " first_time %" PRIu64
			     " raw_size %" PRIu64 " nevents %" PRIu64 " body %" PRIu64 " bytes",
			c->encoding == RS_CHUNK_ZSTD ? "zstd" : c->encoding == RS_CHUNK_STREAMS ? "streams" : "raw", c->tid, c->first_seq,
			c->first_time, c->raw_size, c->nevents, c->body_size);
		break;
	}
	case RS_REC_STACK:
		fprintf(out, " id %" PRIu64 " nframes %zu [", rec->stack_id, rec->nframes);
		for (size_t i = 0; i < rec->nframes; i++)
			fprintf(out, "%s0x%" PRIx64, i ? " " : "", rec->ips[i]);
		fprintf(out, "]");
		break;
	case RS_REC_END:
		if (rec->end)
			fprintf(out, " next_seq %" PRIu64 " how %" PRIu64 " status %" PRId64
				     " end_time %" PRIu64 " events_lost %" PRIu64,
				rec->end->next_seq, rec->end->how, rec->end->status, rec->end->end_time,
				rec->end->events_lost);
		break;
	case RS_REC_STOPPED:
		if (rec->stopped)
			fprintf(out, " seq %" PRIu64 " reason %" PRIu64 " errno %" PRIu64, rec->stopped->seq,
				rec->stopped->reason, rec->stopped->err);
		break;
	case RS_REC_REFAPI: {
		const struct reader_refapi *a = rec->refapi;

		if (!a)
			break;
		fprintf(out, " id %" PRIu64 " name ", a->id);
		put_str(out, a->name);
		fprintf(out, " retain [");
		for (size_t i = 0; i < a->nretain; i++) {
			if (i)
				fputc(' ', out);
			put_str(out, a->retain[i]);
		}
		fprintf(out, "] release [");
		for (size_t i = 0; i < a->nrelease; i++) {
			if (i)
				fputc(' ', out);
			put_str(out, a->release[i]);
		}
		fprintf(out, "] how 0x%" PRIx64, a->how);
		break;
	}
	case RS_REC_SNAPSHOT:
		if (rec->snapshot)
			fprintf(out, " id %" PRIu64 " seq %" PRIu64 " time %" PRIu64 " trigger %s tid %" PRIu64,
				rec->snapshot->id, rec->snapshot->seq, rec->snapshot->time,
				reader_trigger_name(rec->snapshot->trigger), rec->snapshot->tid);
		break;
	case RS_REC_SNAP_REGION: {
		const struct reader_region *g = rec->region;

		if (!g)
			break;
		fprintf(out, " snapshot %" PRIu64 " region %" PRIu64 " 0x%" PRIx64 "-0x%" PRIx64
			     " kind %s tid %" PRIu64 " name ",
			g->snapshot, g->id, g->start, g->end, reader_region_kind_name(g->kind), g->tid);
		put_str(out, g->name);
		break;
	}
	case RS_REC_SNAP_WORDS:
		if (rec->words)
			fprintf(out, " snapshot %" PRIu64 " region %" PRIu64 " encoding %s raw_size %" PRIu64
				     " nwords %" PRIu64 " body %" PRIu64 " bytes",
				rec->words->snapshot, rec->words->region,
				rec->words->encoding == RS_CHUNK_ZSTD ? "zstd" : "raw", rec->words->raw_size,
				rec->words->nwords, rec->words->body_size);
		break;
	case RS_REC_SNAPSHOT_END:
		if (rec->snapshot)
			fprintf(out, " snapshot %" PRIu64 " regions %" PRIu64 " words %" PRIu64
				     " bytes_scanned %" PRIu64 " duration_ns %" PRIu64,
				rec->snapshot->id, rec->snapshot->end_regions, rec->snapshot->end_words,
				rec->snapshot->bytes_scanned, rec->snapshot->duration_ns);
		break;
	case RS_EV_ALLOC:
	case RS_EV_FREE:
	case RS_EV_ALLOC_FAILED:
	case RS_EV_THREAD_START:
	case RS_EV_THREAD_EXIT:
	case RS_EV_RETAIN:
	case RS_EV_RELEASE:
		if (rec->event)
			dump_event(out, rec->event);
		break;
	default:
		fprintf(out, " type %u (skipped)", rec->type);
		break;
	}
}

struct chunk_line_ctx {
	FILE *out;
	uint64_t chunk_offset;
};

static void on_chunk_record(void *arg, const struct reader_record *rec)
{
	struct chunk_line_ctx *c = arg;

	fprintf(c->out, "  @%" PRIu64 "+%" PRIu64 " ", c->chunk_offset, rec->offset);
	dump_record(c->out, rec);
	fputc('\n', c->out);
}

static void on_record(void *arg, const struct reader_record *rec)
{
	struct dump_ctx *d = arg;

	fprintf(d->out, "@%" PRIu64 " ", rec->offset);
	dump_record(d->out, rec);
	fputc('\n', d->out);
	if (rec->type == RS_REC_CHUNK) {
		struct chunk_line_ctx cc = { d->out, rec->offset };
		struct reader_error err;
		size_t i = reader_nchunks(d->r) - 1;
		int rc = reader_chunk_walk(d->r, i, on_chunk_record, &cc, &err);

		if (rc == -EINVAL) {
			fprintf(d->out, "  error: %s\n", err.message);
			fflush(d->out);
			fprintf(d->msgs, "refscope dump: %s\n", err.message);
			d->damaged = 1;
		} else if (rc < 0) {
			fprintf(d->msgs, "refscope dump: chunk at byte %" PRIu64 ": %s\n", rec->offset,
				strerror(-rc));
			d->damaged = 1;
		}
	}
	if (rec->type == RS_REC_SNAP_WORDS && rec->words) {
		struct reader_error err;
		struct reader_word *w;
		size_t n;
		int rc = reader_words_decode(d->r, rec->words, &w, &n, &err);

		for (size_t i = 0; i < n; i++)
			fprintf(d->out, "  0x%" PRIx64 ": 0x%" PRIx64 "\n", w[i].loc, w[i].value);
		free(w);
		if (rc == -EINVAL) {
			fprintf(d->out, "  error: %s\n", err.message);
			fflush(d->out);
			fprintf(d->msgs, "refscope dump: %s\n", err.message);
			d->damaged = 1;
		} else if (rc < 0) {
			fprintf(d->msgs, "refscope dump: snap_words at byte %" PRIu64 ": %s\n", rec->offset,
				strerror(-rc));
			d->damaged = 1;
		}
	}
}

static void dump_usage(FILE *f)
{
	fprintf(f, "usage: refscope dump TRACE\n"
		   "Print the trace header and every record, one line each, with its byte\n"
		   "offset; the events of each chunk decoded, in file order, and the words of\n"
		   "each snapshot (location: value).\n"
		   "\n"
		   "  -h, --help   show this help\n");
}

enum cmd_status dump_trace(const char *path, FILE *out, FILE *msgs)
{
	struct dump_ctx d = { out, msgs, NULL, 0 };
	const struct rs_file_header *h;
	const struct reader_error *e;
	int rc, cut = 0;

	rc = reader_open(path, &d.r);
	if (rc) {
		fprintf(msgs, "refscope dump: cannot read %s: %s\n", path,
			rc == -EINVAL ? "not a regular file" : strerror(-rc));
		return CMD_BAD_INPUT;
	}
	h = reader_header(d.r);
	if (!reader_error(d.r))
		fprintf(out, "@0 header version %u header_size %u flags 0x%x pid %u ppid %u start_realtime %" PRIu64
		       " start_monotonic %" PRIu64 " pointer_size %u\n",
		       h->version, h->header_size, h->flags, h->pid, h->ppid, h->start_realtime,
		       h->start_monotonic, h->pointer_size);
	rc = reader_scan(d.r, on_record, &d);
	if (rc == 0 && dump_python(d.r, out, msgs) < 0)
		d.damaged = 1;
	e = reader_error(d.r);
	if (e && e->cut) {
		fflush(out);
		fprintf(out, "incomplete: %s\n", e->message);
		fflush(out);
		fprintf(msgs, "refscope dump: %s: incomplete trace: %s\n", path, e->message);
		cut = 1;
	} else if (e) {
		fflush(out);
		fprintf(out, "error: %s\n", e->message);
		fflush(out);
		fprintf(msgs, "refscope dump: %s: %s\n", path, e->message);
		d.damaged = 1;
	} else if (rc < 0) {
		fprintf(msgs, "refscope dump: %s: %s\n", path, strerror(-rc));
		d.damaged = 1;
	}
	reader_close(d.r);
	return d.damaged ? CMD_BAD_INPUT : cut ? CMD_INCOMPLETE : CMD_OK;
}

enum cmd_status cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			dump_usage(stdout);
			return CMD_HELP;
		}
		dump_usage(stderr);
		return CMD_USAGE;
	}
	if (argc - optind != 1) {
		dump_usage(stderr);
		return CMD_USAGE;
	}
	return dump_trace(argv[optind], stdout, stderr);
}
