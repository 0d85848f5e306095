/*
 * report_html.c - `refscope report --html FILE`: one self-contained page
 * (inline CSS and script, no network, nothing fetched) with the timeline of
 * live bytes stacked by generation and the peak marked, an icicle flame
 * graph of allocated bytes by stack and one of leaked bytes, every leaked
 * cycle (a table, each drawn on demand), and the tables of the text report.
 *
 * The page stays small whatever the trace's length: the timeline has at
 * most GEN_SAMPLES points (generations.h), the flame graphs draw the
 * REPORT_HTML_STACKS biggest stacks by name and sum the rest into one
 * "[other stacks]" frame, the tables show --top N rows, the embedded text
 * report is cut at HTML_TEXT_MAX bytes, and cycles drawn alike are one
 * group with a count (see "leaked cycles" below). The data for the script
 * is one JSON object in a <script type="application/json"> element, written
 * with '<', '>' and '&' escaped so no string in it can end the element.
 *
 * The script records its outcome on <body>: data-status "ok" once every
 * chart is drawn, "error" with data-error on any script error, and what it
 * drew (the headless browser test reads them): data-timeline-points,
 * data-flame-alloc-nodes, data-flame-leak-nodes, data-cycles,
 * data-cycle-groups, data-cycle-rows, data-cycle-shown(-nodes, -edges) and,
 * when the page is opened as FILE#cycles-all (every cycle drawn at once),
 * data-cycles-drawn, data-cycle-nodes, data-cycle-edges, data-cycles-cut
 * (FILE#filter=TEXT opens it with the cycle table filtered by TEXT).
 * For a CPython target the page adds "Python leaked cycles" (pygraph.h),
 * drawn by the same code: the same attributes with "pycycle" for "cycle"
 * (data-pycycles, data-pycycle-shown-nodes, ...); FILE#python-first puts
 * that section at the top. data-render-ms is the script's own time.
 */
#include "report.h"

#include "graph.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- escaping ------------------------------------------------------------ */

static void html_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out); break;
		}
	}
}

/* A JSON string safe inside <script>: control characters, quotes, '<',
 * '>' and '&' as \u escapes; bytes that are not valid UTF-8 become U+FFFD. */
static void js_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', out);
	while (*p) {
		unsigned c = *p;
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;

		if (c < 0x80) {
			if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
				fprintf(out, "\\u%04x", c);
			else
				fputc((int)c, out);
			p++;
			continue;
		}
		for (k = 1; len && k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				break;
		if (!len || k < len || (len == 2 && c < 0xc2)) {
			fputs("\\ufffd", out);
			p++;
			continue;
		}
		fwrite(p, 1, len, out);
		p += len;
	}
	fputc('"', out);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* ---- frame names, interned for the script -------------------------------- */

struct names {
	char **v;
	size_t n, cap;
};

/* Linear interning would be quadratic; names are few thousand at most, so
 * a sorted index built once at the end is not needed: a small open hash. */
struct name_table {
	struct names list;
	size_t *slots; /* index + 1; 0 empty */
	size_t cap;
};

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int name_grow(struct name_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	size_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->list.n; i++) {
		size_t h = str_hash(t->list.v[i]) & (cap - 1);

		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* Takes ownership of s. Returns the index or -ENOMEM. */
static long name_intern(struct name_table *t, char *s)
{
	size_t h;

	if (!s)
		return -ENOMEM;
	if ((t->list.n + 1) * 2 > t->cap && name_grow(t)) {
		free(s);
		return -ENOMEM;
	}
	h = str_hash(s) & (t->cap - 1);
	while (t->slots[h]) {
		if (!strcmp(t->list.v[t->slots[h] - 1], s)) {
			free(s);
			return (long)(t->slots[h] - 1);
		}
		h = (h + 1) & (t->cap - 1);
	}
	if (t->list.n == t->list.cap) {
		size_t cap = t->list.cap ? t->list.cap * 2 : 256;
		char **v = realloc(t->list.v, cap * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		t->list.v = v;
		t->list.cap = cap;
	}
	t->list.v[t->list.n] = s;
	t->slots[h] = ++t->list.n;
	return (long)(t->list.n - 1);
}

static void name_release(struct name_table *t)
{
	for (size_t i = 0; i < t->list.n; i++)
		free(t->list.v[i]);
	free(t->list.v);
	free(t->slots);
}

static char *frame_name(const struct report_frame *f)
{
	char *s = NULL;

	if (f->function)
		return strdup(f->function);
	if (f->module) {
		if (asprintf(&s, "0x%" PRIx64 " [%s]", f->ip, base_name(f->module)) < 0)
			return NULL;
		return s;
	}
	if (asprintf(&s, "0x%" PRIx64, f->ip) < 0)
		return NULL;
	return s;
}

/* ---- leaked cycles: compact data, drawn on demand by the script --------- */

/*
 * Every leaked cycle goes into the data object, none as a pre-drawn SVG: the
 * script lists them in a table and draws one when asked. Cycles with the
 * same drawing (found by the same methods, same member count, same sites
 * and types node by node, same edges and edge names) form one group, listed
 * once with a count; each of its cycles keeps only what differs (number,
 * bytes, addresses, sizes, generations, reference counts, creation lines).
 * A cycle draws at most HTML_CYCLE_NODES members, picked breadth-first
 * along its references from its first member so the drawn part is
 * connected; the page says how many more there are. Keys of cycles with
 * more members than that include the cycle's number: they are never grouped.
 *
 * The C-level cycles of the heap snapshot (graph.h) and the Python cycles
 * of the Python-aware snapshot (pygraph.h) go through the same code and
 * the same drawing: each cycle is first described as a struct cyc_in
 * (members, their stacks and types, the references among them); nothing
 * after that depends on which analysis found it. A Python cycle adds a
 * type per node, a name per edge (attribute, slot or dict key, where the
 * snapshot has one) and per member its reference count and the Python
 * file:line that created it; its generations are the collector's own.
 */
#define HTML_CYCLE_NODES REPORT_CYCLE_SHOW
#define HTML_CYCLE_SITES 8	    /* member sites (types) listed per group; the rest summed */
#define HTML_CYCLE_INSTANCES 10000 /* cycles listed per group; the rest counted */

/* One member, whichever analysis found it. */
struct cyc_member {
	uint64_t addr, size, stack, refcnt;
	unsigned gen;	     /* 0..2; GEN_COUNT: freed after the snapshot (C) */
	uint32_t type, site; /* Python strings; 0 for C blocks */
};

/* id: a block of rep->graph (C) or an object of rep->pygraph's snapshot. */
static void member_of(const struct report *rep, int py, uint32_t id, struct cyc_member *m)
{
	memset(m, 0, sizeof(*m));
	if (py) {
		const struct pygraph *g = &rep->pygraph;
		const struct py_object *o = &g->snap->objs[id];

		m->addr = o->addr;
		m->size = pygraph_obj_bytes(g, id);
		m->stack = pygraph_obj_stack(g, id);
		m->refcnt = o->refcnt;
		m->gen = o->gen < GEN_COUNT ? o->gen : GEN_COUNT - 1;
		m->type = o->type;
		m->site = o->site;
	} else {
		const struct heap_block *b = &rep->graph.blocks[id];

		m->addr = b->addr;
		m->size = b->size;
		m->stack = b->stack;
		m->gen = rep->block_gens ? rep->block_gens[id] : GEN_COUNT;
	}
}

struct cyc_in {
	const uint32_t *members; /* blocks (C) or objects (Python), ascending */
	size_t n;
	uint64_t bytes, nhanging, hanging_bytes, methods;
	uint64_t *stack; /* per member: its allocation stack */
	uint32_t *type;	 /* per member: its Python type (a string); 0 for C */
	size_t *off;	 /* member i references adj[off[i] .. off[i + 1]) */
	uint32_t *adj;	 /* member positions */
	uint32_t *name;	 /* per reference: attribute or key (a string); 0: none */
};

static long member_pos(const uint32_t *v, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid] < x)
			lo = mid + 1;
		else if (v[mid] > x)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

static void cin_release(struct cyc_in *in)
{
	free(in->stack);
	free(in->type);
	free(in->off);
	free(in->adj);
	free(in->name);
}

/* The references among a Python cycle's members: its closing edges, by
 * source member (a counting sort). */
static int cin_py_refs(const struct pygraph_cycle *cy, struct cyc_in *in)
{
	size_t *at = calloc(in->n + 1, sizeof(*at));

	if (!at)
		return -ENOMEM;
	for (size_t e = 0; e < cy->nclosing; e++)
		in->off[member_pos(cy->members, cy->nmembers, cy->closing[e].src) + 1]++;
	for (size_t i = 0; i < in->n; i++)
		in->off[i + 1] += in->off[i];
	memcpy(at, in->off, (in->n + 1) * sizeof(*at));
	for (size_t e = 0; e < cy->nclosing; e++) {
		const struct pygraph_edge *pe = &cy->closing[e];
		size_t slot = at[member_pos(cy->members, cy->nmembers, pe->src)]++;

		in->adj[slot] = (uint32_t)member_pos(cy->members, cy->nmembers, pe->dst);
		in->name[slot] = pe->name;
	}
	free(at);
	return 0;
}

/* Cycle k of the C graph (py 0) or of the Python analysis (py 1). */
static int cin_build(const struct report *rep, int py, size_t k, struct cyc_in *in)
{
	const struct graph *g = &rep->graph;
	size_t ne = 0;
	struct cyc_member m;

	memset(in, 0, sizeof(*in));
	if (py) {
		const struct pygraph_cycle *cy = &rep->pygraph.cycles[k];

		*in = (struct cyc_in){ .members = cy->members, .n = cy->nmembers, .bytes = cy->bytes,
				       .nhanging = cy->nhanging, .hanging_bytes = cy->hanging_bytes };
		ne = cy->nclosing;
	} else {
		const struct graph_cycle *cy = &g->cycles[k];

		*in = (struct cyc_in){ .members = cy->members, .n = cy->nmembers, .bytes = cy->bytes,
				       .nhanging = cy->nhanging, .hanging_bytes = cy->hanging_bytes,
				       .methods = cy->methods };
		for (size_t i = 0; i < cy->nmembers; i++)
			ne += g->off[cy->members[i] + 1] - g->off[cy->members[i]];
	}
	in->stack = malloc((in->n ? in->n : 1) * sizeof(*in->stack));
	in->type = malloc((in->n ? in->n : 1) * sizeof(*in->type));
	in->off = calloc(in->n + 1, sizeof(*in->off));
	in->adj = malloc((ne ? ne : 1) * sizeof(*in->adj));
	in->name = calloc(ne ? ne : 1, sizeof(*in->name));
	if (!in->stack || !in->type || !in->off || !in->adj || !in->name)
		goto nomem;
	for (size_t i = 0; i < in->n; i++) {
		member_of(rep, py, in->members[i], &m);
		in->stack[i] = m.stack;
		in->type[i] = m.type;
	}
	if (py) {
		if (cin_py_refs(&rep->pygraph.cycles[k], in))
			goto nomem;
		return 0;
	}
	ne = 0;
	for (size_t i = 0; i < in->n; i++) {
		uint32_t v = in->members[i];

		for (size_t e = g->off[v]; e < g->off[v + 1]; e++) {
			long p = member_pos(in->members, in->n, g->adj[e]);

			if (p >= 0)
				in->adj[ne++] = (uint32_t)p;
		}
		in->off[i + 1] = ne;
	}
	return 0;
nomem:
	cin_release(in);
	return -ENOMEM;
}

struct cyc_edge {
	uint32_t i, j, name; /* drawing indexes; the reference's name (0: none) */
};

struct cyc_shape {
	uint32_t *nodes;	 /* member positions drawn, in drawing order */
	size_t nshown;
	struct cyc_edge *edges;	 /* among the drawn, sorted, distinct */
	size_t nedges;
	uint64_t *key;		 /* methods, members, cut, stack and type per node, edges */
	size_t nkey;
};

struct cyc_group {
	size_t first, count; /* into the sorted cycle order */
	uint64_t bytes;
	uint64_t gens[GEN_COUNT + 1];
};

static int edge_cmp(const void *a, const void *b)
{
	const struct cyc_edge *p = a, *q = b;

	if (p->i != q->i)
		return p->i < q->i ? -1 : 1;
	if (p->j != q->j)
		return p->j < q->j ? -1 : 1;
	return p->name < q->name ? -1 : p->name > q->name;
}

/* The drawn members (breadth-first from the member with the lowest stack
 * id, then address), the edges among them and the key of cycle k. */
static int shape_build(const struct cyc_in *in, size_t k, struct cyc_shape *sh)
{
	size_t cap = in->n < HTML_CYCLE_NODES ? in->n : HTML_CYCLE_NODES;
	uint32_t *at = malloc((in->n ? in->n : 1) * sizeof(*at)); /* drawing index, or UINT32_MAX */
	size_t start = 0, head = 0, ne = 0;
	uint64_t *key;

	memset(sh, 0, sizeof(*sh));
	sh->nodes = malloc((cap ? cap : 1) * sizeof(*sh->nodes));
	if (!at || !sh->nodes)
		goto nomem;
	memset(at, 0xff, (in->n ? in->n : 1) * sizeof(*at));
	for (size_t i = 1; i < in->n; i++)
		if (in->stack[i] < in->stack[start])
			start = i;
	if (cap) {
		at[start] = 0;
		sh->nodes[sh->nshown++] = (uint32_t)start;
	}
	while (sh->nshown < cap) {
		if (head == sh->nshown) { /* not reached by references: the next in address order */
			size_t i = 0;

			while (at[i] != UINT32_MAX)
				i++;
			at[i] = (uint32_t)sh->nshown;
			sh->nodes[sh->nshown++] = (uint32_t)i;
		}
		for (size_t v = sh->nodes[head++], e = in->off[v]; e < in->off[v + 1] && sh->nshown < cap; e++) {
			if (at[in->adj[e]] == UINT32_MAX) {
				at[in->adj[e]] = (uint32_t)sh->nshown;
				sh->nodes[sh->nshown++] = in->adj[e];
			}
		}
	}
	for (size_t d = 0; d < sh->nshown; d++)
		for (size_t e = in->off[sh->nodes[d]]; e < in->off[sh->nodes[d] + 1]; e++)
			ne += at[in->adj[e]] != UINT32_MAX;
	sh->edges = malloc((ne ? ne : 1) * sizeof(*sh->edges));
	if (!sh->edges)
		goto nomem;
	ne = 0;
	for (size_t d = 0; d < sh->nshown; d++)
		for (size_t e = in->off[sh->nodes[d]]; e < in->off[sh->nodes[d] + 1]; e++)
			if (at[in->adj[e]] != UINT32_MAX)
				sh->edges[ne++] = (struct cyc_edge){ (uint32_t)d, at[in->adj[e]], in->name[e] };
	if (ne)
		qsort(sh->edges, ne, sizeof(*sh->edges), edge_cmp);
	for (size_t i = 0; i < ne; i++) /* two pointers from a to b draw as one arrow */
		if (!i || edge_cmp(&sh->edges[i], &sh->edges[i - 1]))
			sh->edges[sh->nedges++] = sh->edges[i];
	sh->nkey = 3 + 2 * sh->nshown + 2 * sh->nedges;
	sh->key = key = malloc(sh->nkey * sizeof(*key));
	if (!key)
		goto nomem;
	key[0] = in->methods;
	key[1] = in->n;
	/* a cycle too big to draw whole is never grouped with another */
	key[2] = in->n > sh->nshown ? k + 1 : 0;
	key += 3;
	for (size_t d = 0; d < sh->nshown; d++) {
		key[d] = in->stack[sh->nodes[d]];
		key[sh->nshown + d] = in->type[sh->nodes[d]];
	}
	key += 2 * sh->nshown;
	for (size_t i = 0; i < sh->nedges; i++) {
		key[2 * i] = (uint64_t)sh->edges[i].i << 32 | sh->edges[i].j;
		key[2 * i + 1] = sh->edges[i].name;
	}
	free(at);
	return 0;
nomem:
	free(at);
	free(sh->nodes);
	free(sh->edges);
	memset(sh, 0, sizeof(*sh));
	return -ENOMEM;
}

static int shape_same(const struct cyc_shape *p, const struct cyc_shape *q)
{
	return p->nkey == q->nkey && !memcmp(p->key, q->key, p->nkey * sizeof(*p->key));
}

static int shape_cmp(const void *a, const void *b, void *ctx)
{
	const struct cyc_shape *sh = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct cyc_shape *p = &sh[x], *q = &sh[y];

	if (p->nkey != q->nkey)
		return p->nkey < q->nkey ? -1 : 1;
	for (size_t i = 0; i < p->nkey; i++)
		if (p->key[i] != q->key[i])
			return p->key[i] < q->key[i] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int group_cmp(const void *a, const void *b, void *ctx)
{
	const struct cyc_group *p = a, *q = b;
	const size_t *order = ctx;

	if (p->bytes != q->bytes)
		return p->bytes > q->bytes ? -1 : 1;
	return order[p->first] < order[q->first] ? -1 : order[p->first] > order[q->first];
}

/* "function (file:line)" of a stack's first named frame (its innermost
 * frame if none is named), "[no stack]", or "[stack N]". */
static char *site_label(const struct report *rep, uint64_t stack)
{
	const struct report_stack *s = report_graph_stack(rep, stack);
	const struct report_frame *f = NULL;
	char *name, *out = NULL;

	if (!stack)
		return strdup("[no stack]");
	for (size_t k = 0; s && s->known && k < s->nframes && !f; k++)
		if (s->frames[k].function)
			f = &s->frames[k];
	if (!f && s && s->known && s->nframes)
		f = &s->frames[0];
	if (!f) {
		if (asprintf(&out, "[stack %" PRIu64 "]", stack) < 0)
			return NULL;
		return out;
	}
	name = frame_name(f);
	if (!name || !f->file)
		return name;
	if (asprintf(&out, "%s (%s:%u)", name, base_name(f->file), f->line) < 0)
		out = NULL;
	free(name);
	return out;
}

/* A Python string of the analyzed snapshot, interned; -1 for none. */
static long py_name(const struct report *rep, uint32_t s, struct name_table *names)
{
	return s ? name_intern(names, strdup(py_string(rep->pygraph.snap, s))) : -1;
}

struct site_count {
	uint64_t what, count, bytes; /* what: a stack (C) or a type (Python) */
};

static int site_count_cmp(const void *a, const void *b)
{
	const struct site_count *p = a, *q = b;

	if (p->count != q->count)
		return p->count > q->count ? -1 : 1;
	if (p->bytes != q->bytes)
		return p->bytes > q->bytes ? -1 : 1;
	return p->what < q->what ? -1 : p->what > q->what;
}

static int site_what_cmp(const void *a, const void *b)
{
	const struct site_count *p = a, *q = b;

	return p->what < q->what ? -1 : p->what > q->what;
}

/* Members by allocation site (C) or by type (Python), biggest count first:
 * the first HTML_CYCLE_SITES as [label, count, bytes], then [-1, count,
 * bytes] for the rest when there are more. */
static int write_cycle_sites(FILE *out, const struct report *rep, int py, const struct cyc_in *in,
			     struct name_table *names)
{
	struct site_count *v = malloc((in->n ? in->n : 1) * sizeof(*v));
	size_t nv = 0;
	uint64_t rest[2] = { 0, 0 };
	struct cyc_member m;
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++) {
		member_of(rep, py, in->members[i], &m);
		v[i] = (struct site_count){ py ? m.type : m.stack, 1, m.size };
	}
	if (in->n)
		qsort(v, in->n, sizeof(*v), site_what_cmp);
	for (size_t i = 0; i < in->n; i++) {
		if (nv && v[nv - 1].what == v[i].what) {
			v[nv - 1].count++;
			v[nv - 1].bytes += v[i].bytes;
		} else {
			v[nv++] = v[i];
		}
	}
	if (nv)
		qsort(v, nv, sizeof(*v), site_count_cmp);
	fputs(",\"s\":[", out);
	for (size_t i = 0; i < nv; i++) {
		long idx;

		if (i >= HTML_CYCLE_SITES) {
			rest[0] += v[i].count;
			rest[1] += v[i].bytes;
			continue;
		}
		idx = py ? name_intern(names, strdup(pygraph_type_name(rep->pygraph.snap, (uint32_t)v[i].what)))
			 : name_intern(names, site_label(rep, v[i].what));
		if (idx < 0) {
			rc = -ENOMEM;
			break;
		}
		fprintf(out, "%s[%ld,%" PRIu64 ",%" PRIu64 "]", i ? "," : "", idx, v[i].count, v[i].bytes);
	}
	if (!rc && rest[0])
		fprintf(out, ",[-1,%" PRIu64 ",%" PRIu64 "]", rest[0], rest[1]);
	fputc(']', out);
	free(v);
	return rc;
}

/* One cycle of a group: [number, bytes, [addresses], [sizes], "generations",
 * hanging members, their bytes] and, for Python, [reference counts],
 * [creation lines (name index, -1: unknown)]; generations one digit per
 * drawn member, 3 for freed after the snapshot. */
static int write_cycle_instance(FILE *out, const struct report *rep, int py, size_t k,
				const struct cyc_in *in, const struct cyc_shape *sh, struct name_table *names)
{
	struct cyc_member m[HTML_CYCLE_NODES];

	for (size_t i = 0; i < sh->nshown; i++)
		member_of(rep, py, in->members[sh->nodes[i]], &m[i]);
	fprintf(out, "[%zu,%" PRIu64 ",[", k + 1, in->bytes);
	for (size_t i = 0; i < sh->nshown; i++)
		fprintf(out, "%s\"%" PRIx64 "\"", i ? "," : "", m[i].addr);
	fputs("],[", out);
	for (size_t i = 0; i < sh->nshown; i++)
		fprintf(out, "%s%" PRIu64, i ? "," : "", m[i].size);
	fputs("],\"", out);
	for (size_t i = 0; i < sh->nshown; i++)
		fputc('0' + (int)m[i].gen, out);
	fprintf(out, "\",%" PRIu64 ",%" PRIu64, in->nhanging, in->hanging_bytes);
	if (py) {
		fputs(",[", out);
		for (size_t i = 0; i < sh->nshown; i++)
			fprintf(out, "%s%" PRIu64, i ? "," : "", m[i].refcnt);
		fputs("],[", out);
		for (size_t i = 0; i < sh->nshown; i++) {
			long idx = py_name(rep, m[i].site, names);

			if (idx < -1)
				return -ENOMEM;
			fprintf(out, "%s%ld", i ? "," : "", idx);
		}
		fputc(']', out);
	}
	fputc(']', out);
	return 0;
}

/* The drawn edges as index pairs ("e"); for Python, each edge's names
 * ("l": a name index, -1 for none), the names of references from a to b
 * joined into one label. */
static int write_cycle_edges(FILE *out, const struct report *rep, int py, const struct cyc_shape *sh,
			     struct name_table *names)
{
	fputs(",\"e\":[", out);
	for (size_t i = 0, n = 0; i < sh->nedges; i++) {
		const struct cyc_edge *e = &sh->edges[i];

		if (i && e->i == e[-1].i && e->j == e[-1].j)
			continue;
		fprintf(out, "%s%" PRIu32 ",%" PRIu32, n++ ? "," : "", e->i, e->j);
	}
	fputc(']', out);
	if (!py)
		return 0;
	fputs(",\"l\":[", out);
	for (size_t i = 0, n = 0; i < sh->nedges;) {
		char *label = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&label, &len);
		size_t j = i;
		long idx = -1;

		if (!m)
			return -ENOMEM;
		for (; j < sh->nedges && sh->edges[j].i == sh->edges[i].i && sh->edges[j].j == sh->edges[i].j; j++)
			if (sh->edges[j].name)
				fprintf(m, "%s%s", len ? ", " : "", py_string(rep->pygraph.snap, sh->edges[j].name));
		if (fclose(m) != 0) {
			free(label);
			return -ENOMEM;
		}
		if (len)
			idx = name_intern(names, label);
		else
			free(label);
		if (len && idx < 0)
			return -ENOMEM;
		fprintf(out, "%s%ld", n++ ? "," : "", idx);
		i = j;
	}
	fputc(']', out);
	return 0;
}

static int write_cycle_group(FILE *out, const struct report *rep, int py, const struct cyc_group *gr,
			     const size_t *order, const struct cyc_in *ins, const struct cyc_shape *shapes,
			     struct name_table *names)
{
	size_t k0 = order[gr->first];
	const struct cyc_shape *sh = &shapes[k0];
	const struct cyc_in *in = &ins[k0];
	size_t listed = gr->count < HTML_CYCLE_INSTANCES ? gr->count : HTML_CYCLE_INSTANCES;
	int rc;

	fprintf(out, "{\"n\":%zu,\"c\":%zu,\"b\":%" PRIu64 ",\"m\":\"%s\",\"g\":[%" PRIu64 ",%" PRIu64
		     ",%" PRIu64 ",%" PRIu64 "],\"k\":[",
		in->n, gr->count, gr->bytes, py ? "cpython gc" : graph_methods_name(in->methods), gr->gens[0],
		gr->gens[1], gr->gens[2], gr->gens[3]);
	for (size_t i = 0; i < sh->nshown; i++) {
		long idx = name_intern(names, site_label(rep, in->stack[sh->nodes[i]]));

		if (idx < 0)
			return -ENOMEM;
		fprintf(out, "%s%ld", i ? "," : "", idx);
	}
	fputc(']', out);
	if (py) {
		char summary[512];

		fputs(",\"t\":[", out);
		for (size_t i = 0; i < sh->nshown; i++) {
			long idx = name_intern(names, strdup(pygraph_type_name(rep->pygraph.snap,
									      in->type[sh->nodes[i]])));

			if (idx < 0)
				return -ENOMEM;
			fprintf(out, "%s%ld", i ? "," : "", idx);
		}
		pygraph_cycle_summary(&rep->pygraph, &rep->pygraph.cycles[k0], summary, sizeof(summary));
		fputs("],\"u\":", out);
		js_string(out, summary);
	}
	rc = write_cycle_edges(out, rep, py, sh, names);
	if (!rc)
		rc = write_cycle_sites(out, rep, py, in, names);
	if (rc)
		return rc;
	fputs(",\"i\":[", out);
	for (size_t i = 0; i < listed; i++) {
		size_t k = order[gr->first + i];

		if (i)
			fputc(',', out);
		rc = write_cycle_instance(out, rep, py, k, &ins[k], &shapes[k], names);
		if (rc)
			return rc;
	}
	fprintf(out, "],\"io\":%zu}", gr->count - listed);
	return 0;
}

/* "cycles" (py 0: the heap snapshot's) or "pycycles" (py 1: the
 * Python-aware snapshot's): {"analyzed", "snapshot", "total", "py",
 * "groups": [...]}, groups by bytes descending. */
static int write_cycles(FILE *out, const struct report *rep, int py, struct name_table *names)
{
	int analyzed = py ? rep->have_pygraph : rep->have_graph;
	size_t n = !analyzed ? 0 : py ? rep->pygraph.ncycles : rep->graph.ncycles, ngroups = 0;
	struct cyc_in *ins = calloc(n ? n : 1, sizeof(*ins));
	struct cyc_shape *shapes = calloc(n ? n : 1, sizeof(*shapes));
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	struct cyc_group *groups = calloc(n ? n : 1, sizeof(*groups));
	uint64_t snapshot = py ? (rep->pysnap ? rep->pysnap->id : 0) : (rep->snapshot ? rep->snapshot->id : 0);
	struct cyc_member m;
	int rc = 0;

	if (!ins || !shapes || !order || !groups) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		rc = cin_build(rep, py, k, &ins[k]);
		if (!rc)
			rc = shape_build(&ins[k], k, &shapes[k]);
		if (rc)
			goto out;
		order[k] = k;
	}
	/* equal keys side by side, each run in cycle order (biggest first) */
	if (n)
		qsort_r(order, n, sizeof(*order), shape_cmp, shapes);
	for (size_t i = 0; i < n; i++) {
		size_t k = order[i];

		if (!i || !shape_same(&shapes[order[i - 1]], &shapes[k]))
			groups[ngroups++].first = i;
		groups[ngroups - 1].count++;
		groups[ngroups - 1].bytes += ins[k].bytes;
		for (size_t j = 0; j < ins[k].n; j++) {
			member_of(rep, py, ins[k].members[j], &m);
			groups[ngroups - 1].gens[m.gen]++;
		}
	}
	if (ngroups)
		qsort_r(groups, ngroups, sizeof(*groups), group_cmp, order);
	fprintf(out, ",\"%s\":{\"analyzed\":%d,\"snapshot\":%" PRIu64 ",\"total\":%zu,\"py\":%d,\"groups\":[",
		py ? "pycycles" : "cycles", analyzed, snapshot, n, py);
	for (size_t i = 0; i < ngroups; i++) {
		if (i)
			fputs(",\n", out);
		rc = write_cycle_group(out, rep, py, &groups[i], order, ins, shapes, names);
		if (rc)
			goto out;
	}
	fputs("]}", out);
out:
	for (size_t k = 0; k < n && ins && shapes; k++) {
		cin_release(&ins[k]);
		free(shapes[k].nodes);
		free(shapes[k].edges);
		free(shapes[k].key);
	}
	free(ins);
	free(shapes);
	free(order);
	free(groups);
	return rc;
}

/* The filter, the table the script fills and where it draws, for cycles
 * of kind p ("cycle" or "pycycle"). */
static void cycle_table(FILE *out, const char *p, int py)
{
	fprintf(out, "<div class=cfilter>%s contains <input id=%s-filter type=search placeholder=\"%s\"> "
		     "at least <input id=%s-min type=number min=1 value=1> members <span id=%s-count></span></div>\n"
		     "<table id=%s-table><thead><tr><th>#</th><th>cycles</th><th>members</th><th>bytes</th>"
		     "<th>members by %s</th>%s<th>members in gen 0/1/2%s</th></tr></thead>"
		     "<tbody></tbody></table><button id=%s-more>show more</button>\n"
		     "<div id=%s-view></div><div id=%s-all></div>\n",
		py ? "type or site" : "site", p, py ? "type, function or file" : "function or file", p, p, p,
		py ? "type" : "site", py ? "" : "<th>found by</th>", py ? "" : "/freed", p, p, p);
}

static void cycles_section(FILE *out, const struct report *rep)
{
	const struct graph *g = &rep->graph;

	fputs("<h2>Leaked cycles</h2>", out);
	if (!rep->have_graph) {
		fputs("<p>No heap snapshot in the trace, so no cycles (refscope run takes one at exit unless "
		      "--no-snapshot).</p>\n",
		      out);
		return;
	}
	fprintf(out, "<p>%zu leaked cycle%s in snapshot %" PRIu64 ". Cycles drawn alike (same number of "
		     "members, same allocation sites node by node, same pointers) share one row. Click a row to "
		     "draw it: nodes coloured by generation at the end (grey: freed after the snapshot), arrows "
		     "are pointers. A cycle draws at most %d members. Open the page as <code>report.html#cycles-all"
		     "</code> to draw every cycle at once, as <code>report.html#filter=TEXT</code> to filter.</p>\n",
		g->ncycles, g->ncycles == 1 ? "" : "s", rep->snapshot ? rep->snapshot->id : 0, HTML_CYCLE_NODES);
	cycle_table(out, "cycle", 0);
}

static const char *py_trigger(const struct py_snapshot *s)
{
	return s->trigger == RS_SNAP_EXIT ? "before finalization" : reader_trigger_name(s->trigger);
}

/* CPython targets: the collector's algorithm on the last complete
 * Python-aware snapshot (pygraph.h). */
static void pycycles_section(FILE *out, const struct report *rep)
{
	const struct pygraph *g = &rep->pygraph;
	const struct py_snapshot *s = rep->pysnap;

	if (!rep->npysnaps)
		return;
	fputs("<div id=python><h2>Python leaked cycles</h2>", out);
	if (!rep->have_pygraph) {
		fprintf(out, "<p>%zu Python-aware snapshot%s in the trace, none complete: no analysis.</p></div>\n",
			rep->npysnaps, rep->npysnaps == 1 ? "" : "s");
		return;
	}
	fprintf(out, "<p>Python-aware snapshot %" PRIu64 " (%s) of ", s->id, py_trigger(s));
	html_text(out, s->runtime);
	fprintf(out, " at seq %" PRIu64 ": %" PRIu64 " tracked objects, %" PRIu64 " bytes; a full "
		     "<code>gc.collect()</code> would free %" PRIu64 " objects, %" PRIu64 " bytes. %zu leaked "
		     "cycle%s, found by the collector's own algorithm (reference count minus the references from "
		     "other tracked objects). Click a row to draw it: nodes are objects labelled by type and "
		     "coloured by their generation in CPython's collector, arrows are references named by "
		     "attribute, slot or key where the snapshot has the name. The table under the drawing gives "
		     "each member's address, bytes, reference count, generation, the Python line that created it "
		     "(with <code>refscope run --py-tracemalloc</code>) and its C allocation site.</p>\n",
		s->seq, g->objects, g->bytes, g->garbage_objects, g->garbage_bytes, g->ncycles,
		g->ncycles == 1 ? "" : "s");
	cycle_table(out, "pycycle", 1);
	fputs("</div>\n", out);
}

/* ---- the data object ----------------------------------------------------- */

static int write_stacks(FILE *out, const struct report *rep, struct name_table *names)
{
	uint64_t other[3] = { 0, 0, 0 };
	int first = 1;

	fputs(",\"stacks\":[", out);
	for (size_t i = 0; i < rep->nsites; i++) {
		const struct gen_site *s = &rep->sites[i];
		const struct report_stack *st = report_stack_find(rep, s->stack);
		long idx;

		if (!st) {
			other[0] += s->bytes;
			other[1] += s->allocations;
			other[2] += s->live_bytes;
			continue;
		}
		fprintf(out, "%s{\"f\":[", first ? "" : ",\n");
		first = 0;
		if (!s->stack || !st->known || !st->nframes) {
			char *label = NULL;

			if (!s->stack)
				label = strdup("[no stack]");
			else if (asprintf(&label, "[stack %" PRIu64 "]", s->stack) < 0)
				label = NULL;
			idx = name_intern(names, label);
			if (idx < 0)
				return -ENOMEM;
			fprintf(out, "%ld", idx);
		} else {
			for (size_t k = st->nframes; k-- > 0;) {
				idx = name_intern(names, frame_name(&st->frames[k]));
				if (idx < 0)
					return -ENOMEM;
				fprintf(out, "%ld%s", idx, k ? "," : "");
			}
		}
		fprintf(out, "],\"b\":%" PRIu64 ",\"n\":%" PRIu64 ",\"l\":%" PRIu64 "}", s->bytes,
			s->allocations, s->live_bytes);
	}
	fprintf(out, "],\"other\":{\"b\":%" PRIu64 ",\"n\":%" PRIu64 ",\"l\":%" PRIu64 "}", other[0],
		other[1], other[2]);
	return 0;
}

static int write_data(FILE *out, const struct report *rep)
{
	const struct heap_totals *t = &rep->totals;
	struct name_table names = { 0 };
	int rc;

	fputs("<script id=\"refscope-data\" type=\"application/json\">{\"path\":", out);
	js_string(out, rep->path);
	fprintf(out, ",\"duration\":%" PRIu64 ",\"peak\":{\"bytes\":%" PRIu64 ",\"time\":%" PRIu64
		     ",\"seq\":%" PRIu64 "}",
		rep->duration_ns, t->peak_bytes, t->peak_time, t->peak_seq);
	fputs(",\"timeline\":[", out);
	for (size_t i = 0; i < rep->ntimeline; i++) {
		const struct gen_sample *s = &rep->timeline[i];

		fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
			i ? "," : "", s->time, s->clock, s->bytes[0], s->bytes[1], s->bytes[2]);
	}
	fputc(']', out);
	rc = write_stacks(out, rep, &names);
	if (!rc)
		rc = write_cycles(out, rep, 0, &names);
	if (!rc && rep->npysnaps)
		rc = write_cycles(out, rep, 1, &names);
	if (!rc) {
		fputs(",\"names\":[", out);
		for (size_t i = 0; i < names.list.n; i++) {
			if (i)
				fputc(',', out);
			js_string(out, names.list.v[i]);
		}
		fputs("]}</script>\n", out);
	}
	name_release(&names);
	return rc;
}

/* ---- tables -------------------------------------------------------------- */

static void td_u(FILE *out, uint64_t v)
{
	fprintf(out, "<td class=n>%" PRIu64 "</td>", v);
}

static void td_pct(FILE *out, uint64_t part, uint64_t whole)
{
	if (whole)
		fprintf(out, "<td class=n>%.1f%%</td>", 100.0 * (double)part / (double)whole);
	else
		fputs("<td class=n>-</td>", out);
}

/* The first named frame, and the whole stack in a tooltip. */
static void td_where(FILE *out, const struct report *rep, uint64_t stack)
{
	const struct report_stack *s = report_stack_find(rep, stack);
	const struct report_frame *named = NULL;

	fputs("<td class=where", out);
	if (s && s->known) {
		fputs(" title=\"", out);
		for (size_t k = 0; k < s->nframes; k++) {
			char *name = frame_name(&s->frames[k]);

			html_text(out, name ? name : "?");
			if (s->frames[k].file) {
				fprintf(out, " (");
				html_text(out, base_name(s->frames[k].file));
				fprintf(out, ":%u)", s->frames[k].line);
			}
			fputs("&#10;", out);
			free(name);
			if (!named && s->frames[k].function)
				named = &s->frames[k];
		}
		fputc('"', out);
	}
	fputc('>', out);
	if (!stack) {
		fputs("(no stack recorded)", out);
	} else if (!s || !s->known || !s->nframes) {
		fprintf(out, "stack %" PRIu64, stack);
	} else {
		const struct report_frame *f = named ? named : &s->frames[0];
		char *name = frame_name(f);

		html_text(out, name ? name : "?");
		free(name);
		if (f->file) {
			fputs(" <span class=file>", out);
			html_text(out, base_name(f->file));
			fprintf(out, ":%u</span>", f->line);
		}
	}
	fputs("</td>", out);
}

static void summary(FILE *out, const struct report *rep)
{
	const struct reader_process *pr = reader_process(rep->r);
	const struct heap_totals *t = &rep->totals;

	fputs("<table class=kv>", out);
	if (pr) {
		fprintf(out, "<tr><th>process</th><td>%" PRIu64 " (parent %" PRIu64 "):", pr->pid, pr->ppid);
		for (uint64_t i = 0; i < pr->argc; i++) {
			fputc(' ', out);
			html_text(out, pr->argv[i]);
		}
		fputs("</td></tr>", out);
	}
	fprintf(out, "<tr><th>events</th><td>%" PRIu64 " in %.6f s, %" PRIu64 " thread(s)</td></tr>",
		t->events, (double)rep->duration_ns / 1e9, t->threads);
	fprintf(out, "<tr><th>allocations</th><td>%" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
		     " frees (%" PRIu64 " bytes), %" PRIu64 " temporary</td></tr>",
		t->allocations, t->allocated_bytes, t->frees, t->freed_bytes, rep->gen.temporary);
	fprintf(out, "<tr><th>peak</th><td>%" PRIu64 " bytes in %" PRIu64 " blocks at %.6f s (event %" PRIu64
		     ")</td></tr>",
		t->peak_bytes, t->peak_blocks, (double)t->peak_time / 1e9, t->peak_event);
	fprintf(out, "<tr><th>live at exit</th><td>%" PRIu64 " bytes in %" PRIu64 " blocks</td></tr>",
		t->live_bytes, t->live_blocks);
	fputs("</table>\n", out);
}

/* CPython targets: the collector's own generations at each Python-aware
 * snapshot, beside the model's. */
static void py_generations_table(FILE *out, const struct report *rep)
{
	fputs("<p>CPython's own collector: the objects it tracked in each generation at each Python-aware "
	      "snapshot.</p>\n<table class=pygens><tr><th>snapshot</th><th>when</th><th>seq</th><th>gen 0</th>"
	      "<th>gen 1</th><th>gen 2</th><th>objects</th></tr>\n",
	      out);
	for (size_t i = 0; i < rep->npysnaps; i++) {
		const struct py_snapshot *s = &rep->pysnaps[i];

		fprintf(out, "<tr><td>%" PRIu64 "</td><td>%s</td>", s->id, py_trigger(s));
		td_u(out, s->seq);
		for (uint64_t g = 0; g < GEN_COUNT; g++) {
			if (g < s->ngen)
				td_u(out, s->gen_objects[g]);
			else
				fputs("<td class=n>-</td>", out);
		}
		fprintf(out, "<td class=n>%zu%s</td></tr>\n", s->nobjs, s->complete ? "" : " (incomplete)");
	}
	fputs("</table>\n", out);
}

static void generations_table(FILE *out, const struct report *rep)
{
	const struct gen_stats *st = &rep->gen;

	fprintf(out, "<h2>Generations</h2><p>CPython-like model, thresholds %" PRIu64 "/%" PRIu64 "/%" PRIu64
		     ", on a clock of %" PRIu64 " allocations.</p>\n",
		st->gen[0].threshold, st->gen[1].threshold, st->gen[2].threshold, st->clock);
	fputs("<table><tr><th>gen</th><th>collections</th><th>entered</th><th>bytes</th><th>died</th>"
	      "<th>bytes</th><th>promoted</th><th>bytes</th><th>live at end</th><th>bytes</th>"
	      "<th>survival</th></tr>\n",
	      out);
	for (unsigned g = 0; g < GEN_COUNT; g++) {
		const struct gen_generation *x = &st->gen[g];

		fprintf(out, "<tr><td>%u</td>", g);
		td_u(out, x->collections);
		td_u(out, x->entered);
		td_u(out, x->entered_bytes);
		td_u(out, x->died);
		td_u(out, x->died_bytes);
		td_u(out, x->promoted);
		td_u(out, x->promoted_bytes);
		td_u(out, x->live);
		td_u(out, x->live_bytes);
		if (g + 1 < GEN_COUNT)
			td_pct(out, x->promoted, x->entered);
		else
			fputs("<td class=n>-</td>", out);
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
	if (rep->npysnaps)
		py_generations_table(out, rep);
}

/* Freed blocks by lifetime, power-of-two buckets, on the allocation clock
 * and in time; only the buckets either histogram uses. */
static void lifetimes_table(FILE *out, const struct report *rep)
{
	const struct gen_stats *st = &rep->gen;

	fprintf(out, "<h2>Lifetimes</h2><p>%" PRIu64 " freed blocks by lifetime (blocks still live at the end are "
		     "not counted); %" PRIu64 " temporary allocations (freed with no other allocation in between, "
		     "as heaptrack counts them), %" PRIu64 " bytes.</p>\n",
		st->freed, st->temporary, st->temporary_bytes);
	if (!st->freed)
		return;
	fputs("<table class=lifetimes><tr><th>lifetime</th><th>in allocations</th><th>in nanoseconds</th></tr>\n",
	      out);
	for (unsigned k = 0; k < GEN_BUCKETS; k++) {
		if (!st->hist_allocs[k] && !st->hist_ns[k])
			continue;
		if (k == 0)
			fputs("<tr><td>0</td>", out);
		else if (k == 1)
			fputs("<tr><td>1</td>", out);
		else
			fprintf(out, "<tr><td>%" PRIu64 " to %" PRIu64 "</td>", (uint64_t)1 << (k - 1),
				k < 64 ? ((uint64_t)1 << k) - 1 : UINT64_MAX);
		td_u(out, st->hist_allocs[k]);
		td_u(out, st->hist_ns[k]);
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* The generation the unreachable blocks of the analysed snapshot were in
 * at the end of the trace. */
static void leak_gens_table(FILE *out, const struct report *rep)
{
	static const char *const what[] = { NULL, "in leaked cycles", "held by cycles", "plain leaks" };

	if (!rep->have_leak_gens)
		return;
	fputs("<h2>Unreachable blocks by generation</h2><p>Where the blocks unreachable at the snapshot were "
	      "at the end of the trace.</p>\n<table><tr><th>blocks</th><th>gen 0</th><th>gen 1</th><th>gen 2</th>"
	      "<th>freed after the snapshot</th></tr>\n",
	      out);
	for (int c = GRAPH_CYCLE; c <= GRAPH_PLAIN_LEAK; c++) {
		fprintf(out, "<tr><td>%s</td>", what[c]);
		for (unsigned g = 0; g <= GEN_COUNT; g++)
			td_u(out, rep->leak_gens[c][g]);
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void sites_tables(FILE *out, const struct report *rep)
{
	size_t n = rep->top_sites;

	fprintf(out, "<h2>Long-lived sites</h2><p>%zu allocation sites; those feeding generation 2 most first.</p>\n",
		rep->nsites);
	fputs("<table><tr><th>#</th><th>allocations</th><th>bytes</th><th>reached gen 2</th><th>share</th>"
	      "<th>median lifetime (allocations)</th><th>live at end</th><th>by gen 0/1/2</th>"
	      "<th>peak bytes</th><th>temporary</th><th>where</th></tr>\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		const struct gen_site *s = &rep->sites[i];

		fprintf(out, "<tr><td>%zu</td>", i + 1);
		td_u(out, s->allocations);
		td_u(out, s->bytes);
		td_u(out, s->reached_oldest);
		td_pct(out, s->reached_oldest, s->allocations);
		td_u(out, s->median_lifetime);
		td_u(out, s->live);
		fprintf(out, "<td class=n>%" PRIu64 "/%" PRIu64 "/%" PRIu64 "</td>", s->live_by_gen[0],
			s->live_by_gen[1], s->live_by_gen[2]);
		td_u(out, s->peak_bytes);
		td_u(out, s->temporary);
		td_where(out, rep, s->stack);
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void shots_table(FILE *out, const struct report *rep)
{
	size_t last = rep->nshots - 1;

	if (!rep->nshots)
		return;
	fprintf(out, "<h2>Snapshot generations</h2><p>Blocks still live at snapshot %" PRIu64 " (seq %" PRIu64
		     "), by the snapshots they were born between.</p>\n",
		rep->shot_ids[last], rep->shots[last].to_seq);
	fputs("<table class=shots><tr><th>born</th><th>bytes</th><th>blocks</th><th>sites</th><th>biggest sites</th></tr>\n",
	      out);
	for (size_t k = 0; k < rep->nshots; k++) {
		const struct gen_heapshot *h = &rep->shots[k];
		size_t n = h->nsites < 5 ? h->nsites : 5;

		if (k == 0)
			fprintf(out, "<tr><td>before snapshot %" PRIu64 "</td>", rep->shot_ids[0]);
		else
			fprintf(out, "<tr><td>snapshot %" PRIu64 " to %" PRIu64 "</td>", rep->shot_ids[k - 1],
				rep->shot_ids[k]);
		td_u(out, h->bytes);
		td_u(out, h->blocks);
		td_u(out, h->nsites);
		fputs("<td><table>", out);
		for (size_t j = 0; j < n; j++) {
			fputs("<tr>", out);
			td_u(out, h->sites[j].bytes);
			td_where(out, rep, h->sites[j].stack);
			fputs("</tr>", out);
		}
		fputs("</table></td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void live_table(FILE *out, const struct report *rep)
{
	fprintf(out, "<h2>Live at exit</h2><p>%" PRIu64 " bytes in %" PRIu64 " blocks from %zu stacks.</p>\n",
		rep->totals.live_bytes, rep->totals.live_blocks, rep->ngroups_total);
	if (!rep->ngroups)
		return;
	fputs("<table><tr><th>#</th><th>bytes</th><th>blocks</th><th>stack</th><th>allocated at</th></tr>\n", out);
	for (size_t i = 0; i < rep->ngroups; i++) {
		const struct report_group *g = &rep->groups[i];
		const struct report_frame *named = NULL;

		fprintf(out, "<tr><td>%zu</td>", i + 1);
		td_u(out, g->g.bytes);
		td_u(out, g->g.blocks);
		td_u(out, g->g.stack);
		fputs("<td class=where><details><summary>", out);
		for (size_t k = 0; k < g->nframes && !named; k++)
			if (g->frames[k].function)
				named = &g->frames[k];
		if (named)
			html_text(out, named->function);
		else if (g->nframes)
			fprintf(out, "0x%" PRIx64, g->frames[0].ip);
		else
			fputs("(no frames)", out);
		fputs("</summary>", out);
		for (size_t k = 0; k < g->nframes; k++) {
			char *name = frame_name(&g->frames[k]);

			fputs("<div>", out);
			html_text(out, name ? name : "?");
			free(name);
			if (g->frames[k].file) {
				fputs(" <span class=file>", out);
				html_text(out, g->frames[k].file);
				fprintf(out, ":%u</span>", g->frames[k].line);
			}
			fputs("</div>", out);
		}
		fputs("</details></td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

#define HTML_TEXT_MAX (256u << 10) /* bytes of the text report the page embeds */

static int text_report(FILE *out, const struct report *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc;

	if (!m)
		return -ENOMEM;
	rc = report_write_text(rep, m);
	if (fclose(m) != 0 && !rc)
		rc = -ENOMEM;
	if (!rc) {
		size_t keep = len;

		/* with thousands of cycles the text runs to megabytes; the page's
		 * own tables and data already hold all of it */
		if (len > HTML_TEXT_MAX) {
			keep = HTML_TEXT_MAX;
			while (keep > 0 && buf[keep - 1] != '\n')
				keep--;
			buf[keep] = '\0';
		}
		fprintf(out, "<h2>Text report</h2><details><summary>the %s text report</summary><pre>",
			keep < len ? "start of the" : "whole");
		html_text(out, buf);
		if (keep < len)
			fprintf(out, "\n... %zu more bytes: run refscope report%s on the trace for all of it\n",
				len - keep, rep->analyzed ? " --cycles" : "");
		fputs("</pre></details>\n", out);
	}
	free(buf);
	return rc;
}

/* ---- page ---------------------------------------------------------------- */

static const char style[] =
	"<style>\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\n"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}\n"
	"th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"td.where{font-family:monospace}.file{color:#777}table.kv th{width:9em}\n"
	"#timeline{border:1px solid #ccc;background:#fff}\n"
	".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\n"
	".flame{position:relative;border:1px solid #ccc;overflow:hidden;font:11px monospace}\n"
	".flame div{position:absolute;height:17px;line-height:17px;overflow:hidden;white-space:nowrap;"
	"box-sizing:border-box;border:1px solid #fff;padding-left:2px;cursor:pointer}\n"
	".flame div:hover{border-color:#000}\n"
	"button{margin:2px 0}\n"
	"#cycle-min{width:5em}tr.crow{cursor:pointer}tr.crow:hover{background:#eef}\n"
	".cyc{margin:.6em 0}.ctitle{font-weight:600}.more{color:#a00}svg.cycle{border:1px solid #ddd}\n"
	"</style>\n";

/* Draws the charts from the data object; everything it draws it counts on
 * <body> for the browser test. */
static const char script[] =
	"<script>\n"
	"(function(){\n"
	"'use strict';\n"
	"var T0=performance.now();\n"
	"var D=JSON.parse(document.getElementById('refscope-data').textContent);\n"
	"var SVG='http://www.w3.org/2000/svg';\n"
	"function el(n,a,p){var e=document.createElementNS(SVG,n);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}\n"
	"function human(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++;}return (i?b.toFixed(1):b)+' '+u[i];}\n"
	"function secs(ns){return (ns/1e9).toFixed(ns<1e7?6:3)+' s';}\n"
	"var COL=['#f2a541','#4f9bd9','#c0392b'];\n"
	"function timeline(){\n"
	" var svg=document.getElementById('timeline'),W=1000,H=280,L=70,R=10,T=20,B=30;\n"
	" var pts=D.timeline.slice(),tmax=D.duration,ymax=D.peak.bytes;\n"
	" pts.forEach(function(p){if(p[0]>tmax)tmax=p[0];var s=p[2]+p[3]+p[4];if(s>ymax)ymax=s;});\n"
	" /* what was live at the last event stays live until the end */\n"
	" if(pts.length&&pts[pts.length-1][0]<tmax){var q=pts[pts.length-1].slice();q[0]=tmax;pts.push(q);}\n"
	" if(!tmax)tmax=1;if(!ymax)ymax=1;\n"
	" function x(t){return L+(W-L-R)*t/tmax;}function y(b){return H-B-(H-T-B)*b/ymax;}\n"
	" el('line',{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:'#888'},svg);el('line',{x1:L,y1:T,x2:L,y2:H-B,stroke:'#888'},svg);\n"
	" for(var i=0;i<=4;i++){var v=ymax*i/4;var t=el('text',{x:L-4,y:y(v)+4,'text-anchor':'end','font-size':10},svg);t.textContent=human(Math.round(v));\n"
	"  var u=el('text',{x:x(tmax*i/4),y:H-B+14,'text-anchor':'middle','font-size':10},svg);u.textContent=secs(tmax*i/4);}\n"
	" var drawn=0;\n"
	" /* stacked: generation 2 at the bottom, then 1, then 0 */\n"
	" [[4],[4,3],[4,3,2]].forEach(function(cols,k){\n"
	"  if(!pts.length)return;\n"
	"  var top=pts.map(function(p){var s=0;cols.forEach(function(c){s+=p[c];});return [x(p[0]),y(s)];});\n"
	"  /* a step chart: live bytes hold their value until the next sample */\n"
	"  var d='M'+top[0][0]+','+y(0),py=y(0);top.forEach(function(q){d+='L'+q[0]+','+py+'L'+q[0]+','+q[1];py=q[1];});d+='L'+top[top.length-1][0]+','+y(0)+'Z';\n"
	"  el('path',{d:d,fill:COL[2-k],'fill-opacity':0.85,stroke:'none','class':'gen'+(2-k)},svg);drawn++;\n"
	" });\n"
	" /* paint order: the tallest (all generations) was drawn last; redraw lower ones on top */\n"
	" var paths=svg.querySelectorAll('path');for(var j=paths.length-2;j>=0;j--)svg.appendChild(paths[j]);\n"
	" var px=x(D.peak.time);\n"
	" el('line',{x1:px,y1:T,x2:px,y2:H-B,stroke:'#000','stroke-dasharray':'4 3','class':'peak'},svg);\n"
	" var pt=el('text',{x:Math.min(px+4,W-160),y:T+10,'font-size':11},svg);pt.textContent='peak '+human(D.peak.bytes)+' at '+secs(D.peak.time);\n"
	" document.body.dataset.timelinePoints=D.timeline.length;document.body.dataset.timelineAreas=drawn;\n"
	"}\n"
	"function flame(id,key,unit){\n"
	" var box=document.getElementById(id),root={name:'all',v:0,kids:{}};\n"
	" function add(frames,w){if(!w)return;var n=root;n.v+=w;frames.forEach(function(f){var nm=D.names[f];var c=n.kids[nm];if(!c){c=n.kids[nm]={name:nm,v:0,kids:{}};}c.v+=w;n=c;});}\n"
	" D.stacks.forEach(function(s){add(s.f,s[key]);});\n"
	" if(D.other[key]){D.names.push('[other stacks]');add([D.names.length-1],D.other[key]);}\n"
	" var count=0;\n"
	" function draw(top){\n"
	"  box.textContent='';count=0;var W=box.clientWidth||1000,depth=0;\n"
	"  if(!top.v){box.style.height='20px';box.textContent='nothing';return;}\n"
	"  function rec(n,x0,d){var w=W*n.v/top.v;if(w<1)return;if(d>depth)depth=d;\n"
	"   var e=document.createElement('div');e.style.left=x0+'px';e.style.width=w+'px';e.style.top=(d*17)+'px';\n"
	"   var h=0;for(var i=0;i<n.name.length;i++)h=(h*31+n.name.charCodeAt(i))|0;\n"
	"   e.style.background='hsl('+(20+Math.abs(h)%40)+','+(60+Math.abs(h>>8)%30)+'%,'+(60+Math.abs(h>>16)%15)+'%)';\n"
	"   e.textContent=n.name;e.title=n.name+'\\n'+n.v+' '+unit+' ('+(100*n.v/root.v).toFixed(2)+'%)';\n"
	"   e.onclick=function(){draw(n);};box.appendChild(e);count++;\n"
	"   var kids=Object.keys(n.kids).map(function(k){return n.kids[k];}).sort(function(a,b){return a.name<b.name?-1:1;});\n"
	"   var xx=x0;kids.forEach(function(c){rec(c,xx,d+1);xx+=W*c.v/top.v;});}\n"
	"  rec(top,0,0);box.style.height=((depth+1)*17+2)+'px';\n"
	" }\n"
	" draw(root);\n"
	" var b=document.getElementById(id+'-reset');if(b)b.onclick=function(){draw(root);};\n"
	" return count;\n"
	"}\n"
	"var GC=['#f2a541','#4f9bd9','#c0392b','#bbbbbb'];\n"
	"/* the leaked cycles of one analysis: C (D.cycles, P 'cycle') or Python\n"
	"   (D.pycycles, P 'pycycle'); what it drew goes on <body> as data-P-... */\n"
	"function cycles(C,P){\n"
	" var body=document.body,tb=document.querySelector('#'+P+'-table tbody');\n"
	" function $(s){return document.getElementById(P+'-'+s);}\n"
	" function mark(k,v){body.dataset[P+k]=v;}\n"
	" mark('Groups',C.groups.length);mark('s',C.total);\n"
	" if(!tb)return;\n"
	" var view=$('view'),moreb=$('more'),fin=$('filter'),min=$('min');\n"
	" var list=[],shown=0,PAGE=100,unit=C.py?'object':'block';\n"
	" function nm(i){return i<0?(C.py?'[other types]':'[other sites]'):D.names[i];}\n"
	" function short(s){var i=s.indexOf(' (');return i>0?s.slice(0,i):s;}\n"
	" function sites(g){return g.s.map(function(x){return x[1]+'\\u00d7 '+nm(x[0]);}).join(', ');}\n"
	" function plural(n,w){return n+' '+w+(n==1?'':'s');}\n"
	" function row(p,tag,cells){var tr=document.createElement('tr');cells.forEach(function(v){if(v===null)return;var c=document.createElement(tag);c.textContent=v;tr.appendChild(c);});p.appendChild(tr);return tr;}\n"
	" /* the member table under the drawing */\n"
	" function members(wrap,g,inst,ns){\n"
	"  var t=document.createElement('table');t.className='members';\n"
	"  row(t,'th',['node',C.py?'type':null,'address','bytes',C.py?'refcount':null,C.py?'generation (collector)':'generation at the end',C.py?'created at':null,'allocated at']);\n"
	"  for(var i=0;i<ns;i++){var gn=+inst[4].charAt(i);\n"
	"   row(t,'td',[i+1,C.py?nm(g.t[i]):null,'0x'+inst[2][i],inst[3][i],C.py?inst[7][i]:null,gn<3?gn:'freed',C.py?(inst[8][i]<0?'-':nm(inst[8][i])):null,nm(g.k[i])]);}\n"
	"  wrap.appendChild(t);\n"
	" }\n"
	" /* one cycle as an SVG: drawn members on a circle in the order they were\n"
	"    reached along references, coloured by generation; the edges among them,\n"
	"    named when the analysis has the name */\n"
	" function draw(box,g,ii,table){\n"
	"  var inst=g.i[ii],ns=g.k.length,R=ns>1?Math.max(70,Math.min(300,ns*16)):0,r=ns>20?8:13;\n"
	"  var W=2*R+280,H=2*R+100,cx=W/2,cy=R+50,ne=0;\n"
	"  var wrap=document.createElement('div'),h=document.createElement('div');\n"
	"  wrap.className='cyc';h.className='ctitle';\n"
	"  h.textContent=(C.py?'python cycle #'+inst[0]+': '+g.u+', ':'cycle #'+inst[0]+': ')+inst[1]+' bytes in '+plural(g.n,unit)+\n"
	"   (C.py?'':', found by '+g.m)+(inst[5]?'; '+plural(inst[5],'more '+unit)+' ('+inst[6]+' bytes) held only through it':'');\n"
	"  wrap.appendChild(h);\n"
	"  var svg=el('svg',{'class':'cycle','data-nodes':ns,width:W,height:H,viewBox:'0 0 '+W+' '+H,'font-size':10},null);\n"
	"  var XY=[];for(var i=0;i<ns;i++){var a=2*Math.PI*i/ns-Math.PI/2;XY.push([cx+R*Math.cos(a),cy+R*Math.sin(a)]);}\n"
	"  for(var j=0;j+1<g.e.length;j+=2){\n"
	"   var A=XY[g.e[j]],B=XY[g.e[j+1]],lb=g.l?g.l[j/2]:-1,lx,ly;ne++;\n"
	"   var nx=0;\n"
	"   if(g.e[j]===g.e[j+1]){el('path',{d:'M'+(A[0]-5)+','+(A[1]-r)+' c-25,-45 35,-45 10,0',fill:'none',stroke:'#555','class':'edge'},svg);lx=A[0];ly=A[1]-r-36;}\n"
	"   else{\n"
	"   var dx=B[0]-A[0],dy=B[1]-A[1];\n"
	"   /* bent to one side, so a->b and b->a stay two arrows */\n"
	"   var mx=(A[0]+B[0])/2-dy*0.15,my=(A[1]+B[1])/2+dx*0.15;\n"
	"   var vx=B[0]-mx,vy=B[1]-my,vl=Math.sqrt(vx*vx+vy*vy)||1;vx/=vl;vy/=vl;\n"
	"   var ex=B[0]-vx*r,ey=B[1]-vy*r;\n"
	"   el('path',{d:'M'+A[0]+','+A[1]+' Q'+mx+','+my+' '+ex+','+ey,fill:'none',stroke:'#555','class':'edge'},svg);\n"
	"   el('polygon',{points:ex+','+ey+' '+(ex-vx*9-vy*4)+','+(ey-vy*9+vx*4)+' '+(ex-vx*9+vy*4)+','+(ey-vy*9-vx*4),fill:'#555'},svg);\n"
	"   /* the name beside the curve's middle, on its outer side */\n"
	"   var L=Math.sqrt(dx*dx+dy*dy)||1,ny=dx/L;nx=-dy/L;lx=(A[0]+B[0])/2-dy*0.075+nx*5;ly=(A[1]+B[1])/2+dx*0.075+ny*5+3;}\n"
	"   if(lb>=0)el('text',{x:lx,y:ly,'text-anchor':nx<-0.3?'end':nx>0.3?'start':'middle','class':'elabel',fill:'#036'},svg).textContent=nm(lb);\n"
	"  }\n"
	"  for(i=0;i<ns;i++){\n"
	"   var gg=el('g',{},svg),gn=+inst[4].charAt(i),site=nm(g.k[i]);\n"
	"   el('title',{},gg).textContent=(C.py?nm(g.t[i])+' ':'')+'0x'+inst[2][i]+', '+inst[3][i]+' bytes, '+\n"
	"    (C.py?'refcount '+inst[7][i]+', generation '+gn+' of the collector'+(inst[8][i]<0?'':'\\ncreated at '+nm(inst[8][i]))\n"
	"     :gn<3?'generation '+gn+' at the end':'freed after the snapshot')+'\\n'+site;\n"
	"   el('circle',{cx:XY[i][0],cy:XY[i][1],r:r,fill:GC[gn],stroke:'#333','class':'node'},gg);\n"
	"   if(ns<=24)el('text',{x:XY[i][0],y:XY[i][1]+r+11,'text-anchor':'middle','class':'label'},gg).textContent=C.py?nm(g.t[i]):short(site)+' ('+inst[3][i]+')';\n"
	"  }\n"
	"  wrap.appendChild(svg);\n"
	"  if(g.n>ns){var m=document.createElement('div');m.className='more';\n"
	"   m.textContent=(g.n-ns)+' more members not drawn (the '+ns+' drawn are the first reached along '+(C.py?'references':'pointers')+')';wrap.appendChild(m);}\n"
	"  if(table)members(wrap,g,inst,ns);\n"
	"  box.appendChild(wrap);\n"
	"  return [ns,ne,g.n>ns?1:0];\n"
	" }\n"
	" function show(gi,ii){\n"
	"  var g=C.groups[gi],nav=document.createElement('div');\n"
	"  view.textContent='';nav.className='cnav';\n"
	"  if(g.c>1){\n"
	"   var pb=document.createElement('button'),nb=document.createElement('button'),t=document.createElement('span');\n"
	"   pb.textContent='\\u2190';nb.textContent='\\u2192';pb.disabled=ii<=0;nb.disabled=ii+1>=g.i.length;\n"
	"   pb.onclick=function(){show(gi,ii-1);};nb.onclick=function(){show(gi,ii+1);};\n"
	"   t.textContent=' group '+(gi+1)+': cycle '+(ii+1)+' of '+g.c+' drawn alike'+(g.io?' ('+g.io+' not listed)':'')+' ';\n"
	"   nav.appendChild(pb);nav.appendChild(t);nav.appendChild(nb);\n"
	"  }else nav.textContent='group '+(gi+1);\n"
	"  view.appendChild(nav);\n"
	"  var x=draw(view,g,ii,1);\n"
	"  mark('Shown',g.i[ii][0]);mark('ShownNodes',x[0]);mark('ShownEdges',x[1]);\n"
	" }\n"
	" function match(g,f,mn){\n"
	"  if(g.n<mn)return false;if(!f)return true;\n"
	"  return g.s.concat(g.k.concat(g.t||[]).map(function(k){return [k];})).some(function(x){return nm(x[0]).toLowerCase().indexOf(f)>=0;});\n"
	" }\n"
	" function more(){\n"
	"  var end=Math.min(list.length,shown+PAGE);\n"
	"  for(;shown<end;shown++){\n"
	"   var gi=list[shown],g=C.groups[gi];\n"
	"   var tr=row(tb,'td',[gi+1,g.c,g.n,g.b,sites(g),C.py?null:g.m,g.g.slice(0,C.py?3:4).join('/')]);\n"
	"   for(var c=0;c<tr.cells.length;c++)tr.cells[c].className=c<4?'n':c==4?'where':'';\n"
	"   tr.className='crow';tr.title='click to draw';tr.onclick=(function(x){return function(){show(x,0);view.scrollIntoView();};})(gi);\n"
	"  }\n"
	"  moreb.style.display=shown<list.length?'':'none';\n"
	"  $('count').textContent=list.length+' of '+C.groups.length+' groups ('+C.total+' cycles)';\n"
	"  mark('Rows',shown);\n"
	" }\n"
	" function filter(){\n"
	"  var f=fin.value.trim().toLowerCase(),mn=+min.value||1;\n"
	"  list=[];C.groups.forEach(function(g,i){if(match(g,f,mn))list.push(i);});\n"
	"  tb.textContent='';shown=0;more();\n"
	" }\n"
	" fin.oninput=filter;min.oninput=filter;moreb.onclick=more;\n"
	" /* FILE#filter=TEXT opens the page with the tables filtered */\n"
	" if(location.hash.indexOf('#filter=')===0)fin.value=decodeURIComponent(location.hash.slice(8));\n"
	" filter();\n"
	" if(C.groups.length)show(0,0);\n"
	" if(location.hash==='#cycles-all'){\n"
	"  /* every cycle at once (for checking; slow with thousands) */\n"
	"  var all=$('all'),n=0,nodes=0,edges=0,cut=0;\n"
	"  C.groups.forEach(function(g){g.i.forEach(function(_,ii){var x=draw(all,g,ii,0);n++;nodes+=x[0];edges+=x[1];cut+=x[2];});});\n"
	"  mark('sDrawn',n);mark('Nodes',nodes);mark('Edges',edges);mark('sCut',cut);\n"
	" }\n"
	"}\n"
	"timeline();\n"
	"document.body.dataset.flameAllocNodes=flame('flame-alloc','b','bytes');\n"
	"document.body.dataset.flameLeakNodes=flame('flame-leak','l','bytes');\n"
	"cycles(D.cycles,'cycle');\n"
	"if(D.pycycles)cycles(D.pycycles,'pycycle');\n"
	"/* FILE#python-first shows the Python cycles first */\n"
	"if(location.hash==='#python-first'&&document.getElementById('python'))document.body.insertBefore(document.getElementById('python'),document.body.firstChild);\n"
	"document.body.dataset.renderMs=Math.round(performance.now()-T0);\n"
	"if(document.body.dataset.status!=='error')document.body.dataset.status='ok';\n"
	"})();\n"
	"</script>\n";

int report_write_html(const struct report *rep, FILE *out)
{
	int rc;

	fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n<title>refscope report: ",
	      out);
	html_text(out, rep->path);
	fputs("</title>\n", out);
	fputs(style, out);
	/* first, so an error anywhere later is recorded */
	fputs("<script>window.addEventListener('error',function(e){document.body.dataset.status='error';"
	      "document.body.dataset.error=String(e.message);});</script>\n",
	      out);
	fputs("</head>\n<body data-status=\"loading\">\n<h1>refscope report: ", out);
	html_text(out, rep->path);
	fputs("</h1>\n", out);
	summary(out, rep);
	if (rep->nwarnings) {
		fputs("<ul class=warnings>", out);
		for (size_t i = 0; i < rep->nwarnings; i++) {
			fputs("<li>", out);
			html_text(out, rep->warnings[i]);
			fputs("</li>", out);
		}
		fputs("</ul>\n", out);
	}
	fputs("<h2>Live bytes over time, by generation</h2>\n"
	      "<div class=legend><span style=\"background:#c0392b\"></span>generation 2"
	      "<span style=\"background:#4f9bd9\"></span>generation 1"
	      "<span style=\"background:#f2a541\"></span>generation 0 (dashed line: the peak)</div>\n"
	      "<svg id=\"timeline\" width=\"1000\" height=\"280\" viewBox=\"0 0 1000 280\"></svg>\n",
	      out);
	fputs("<h2>Allocated bytes by stack</h2><p>Root at the top; click a frame to zoom. "
	      "<button id=flame-alloc-reset>reset zoom</button></p><div id=flame-alloc class=flame></div>\n",
	      out);
	fputs("<h2>Leaked bytes by stack (still live at the end)</h2><p>"
	      "<button id=flame-leak-reset>reset zoom</button></p><div id=flame-leak class=flame></div>\n",
	      out);
	generations_table(out, rep);
	lifetimes_table(out, rep);
	sites_tables(out, rep);
	live_table(out, rep);
	shots_table(out, rep);
	leak_gens_table(out, rep);
	cycles_section(out, rep);
	pycycles_section(out, rep);
	rc = text_report(out, rep);
	if (rc)
		return rc;
	rc = write_data(out, rep);
	if (rc)
		return rc;
	fputs(script, out);
	fputs("</body></html>\n", out);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
