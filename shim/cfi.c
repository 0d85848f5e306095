/*
 * cfi.c - the few DWARF call-frame rules the fast walker needs, read from
 * .eh_frame_hdr and .eh_frame (the sections the loader maps for every
 * object built with unwind tables, the x86_64 default).
 *
 * Only three registers matter for walking: the CFA (from rsp or rbp), rbp
 * (a CFA may be rbp-based in a caller) and the return address. Rules for
 * the other registers are skipped, whatever they are; a rule this walker
 * cannot apply to one of the three makes the whole location unsupported.
 */
#include "cfi.h"

#include <link.h>
#include <stddef.h>
#include <string.h>

#include "unwind.h"

enum { R_SAME, R_UNDEF, R_OFFSET, R_OTHER };

struct regrule {
	int how;		/* R_* */
	int64_t off;		/* R_OFFSET: saved at CFA + off */
};

struct state {
	int cfa_reg;		/* -1: a DWARF expression */
	int64_t cfa_off;
	struct regrule rbp, ra, rsp;
};

#define STATE_STACK 8

struct cur {
	const uint8_t *p, *end;
	int bad;
};

/* A LEB128 number's bits; *shift: how many were read, *sign: the last
 * byte's sign bit (c->bad when it runs off the end). */
static uint64_t leb(struct cur *c, unsigned *shift, int *sign)
{
	uint64_t v = 0;

	*shift = 0;
	*sign = 0;
	while (c->p < c->end) {
		uint8_t b = *c->p++;

		if (*shift < 64)
			v |= (uint64_t)(b & 0x7f) << *shift;
		*shift += 7;
		if (!(b & 0x80)) {
			*sign = (b & 0x40) != 0;
			return v;
		}
	}
	c->bad = 1;
	return 0;
}

static uint64_t uleb(struct cur *c)
{
	unsigned shift;
	int sign;

	return leb(c, &shift, &sign);
}

static int64_t sleb(struct cur *c)
{
	unsigned shift;
	int sign;
	uint64_t v = leb(c, &shift, &sign);

	if (sign && shift < 64)
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

static uint64_t fixed(struct cur *c, unsigned n)
{
	uint64_t v = 0;

	if ((size_t)(c->end - c->p) < n) {
		c->bad = 1;
		return 0;
	}
	memcpy(&v, c->p, n);	/* little-endian host, as the data */
	c->p += n;
	return v;
}

static void skip(struct cur *c, uint64_t n)
{
	if ((uint64_t)(c->end - c->p) < n) {
		c->bad = 1;
		return;
	}
	c->p += n;
}

/* A DW_EH_PE-encoded pointer; pcrel is applied, others but absolute fail. */
static uint64_t encoded(struct cur *c, uint8_t enc)
{
	uintptr_t here = (uintptr_t)c->p;
	uint64_t v;

	switch (enc & 0x0f) {
	case 0x00: v = fixed(c, 8); break;
	case 0x01: v = uleb(c); break;
	case 0x02: v = fixed(c, 2); break;
	case 0x03: v = fixed(c, 4); break;
	case 0x04: v = fixed(c, 8); break;
	case 0x09: v = (uint64_t)sleb(c); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
	case 0x0c: v = fixed(c, 8); break;
	default: c->bad = 1; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += here; break;
	default: c->bad = 1; break;
	}
	return v;
}

static struct regrule *tracked(struct state *s, uint64_t reg)
{
	switch (reg) {
	case RS_CFI_RBP: return &s->rbp;
	case RS_CFI_RSP: return &s->rsp;
	case RS_CFI_RA: return &s->ra;
	default: return NULL;
	}
}

static void restore(struct state *s, const struct state *init, uint64_t reg)
{
	struct regrule *r = tracked(s, reg);

	if (r)
		*r = reg == RS_CFI_RBP ? init->rbp : reg == RS_CFI_RSP ? init->rsp : init->ra;
}

static void set_rule(struct state *s, uint64_t reg, int how, int64_t off)
{
	struct regrule *r = tracked(s, reg);

	if (r) {
		r->how = how;
		r->off = off;
	}
}

/*
 * Runs [p, end) from loc until the location passes pc. Returns 0 when the
 * program ran to its end or to pc, -1 on an opcode it cannot parse.
 */
static int run(struct cur *c, struct state *s, const struct state *init, uint64_t caf,
	       int64_t daf, uintptr_t *loc, uintptr_t pc)
{
	struct state stack[STATE_STACK];
	int depth = 0;

	while (c->p < c->end && !c->bad) {
		uint8_t op = *c->p++;
		uint64_t reg, adv = 0;
		int advance = 0;

		switch (op & 0xc0) {
		case 0x40:
			adv = (uint64_t)(op & 0x3f) * caf;
			advance = 1;
			break;
		case 0x80:
			set_rule(s, op & 0x3f, R_OFFSET, (int64_t)uleb(c) * daf);
			continue;
		case 0xc0:
			restore(s, init, op & 0x3f);
			continue;
		default:
			break;
		}
		if (!advance) {
			switch (op) {
			case 0x00:	/* nop */
				continue;
			case 0x02: adv = fixed(c, 1) * caf; advance = 1; break;
			case 0x03: adv = fixed(c, 2) * caf; advance = 1; break;
			case 0x04: adv = fixed(c, 4) * caf; advance = 1; break;
			case 0x05:	/* offset_extended */
				reg = uleb(c);
				set_rule(s, reg, R_OFFSET, (int64_t)uleb(c) * daf);
				continue;
			case 0x06:	/* restore_extended */
				restore(s, init, uleb(c));
				continue;
			case 0x07:	/* undefined */
				set_rule(s, uleb(c), R_UNDEF, 0);
				continue;
			case 0x08:	/* same_value */
				set_rule(s, uleb(c), R_SAME, 0);
				continue;
			case 0x09:	/* register */
				reg = uleb(c);
				(void)uleb(c);
				set_rule(s, reg, R_OTHER, 0);
				continue;
			case 0x0a:	/* remember_state */
				if (depth == STATE_STACK)
					return -1;
				stack[depth++] = *s;
				continue;
			case 0x0b:	/* restore_state: the whole row, CFA included */
				if (!depth)
					return -1;
				*s = stack[--depth];
				continue;
			case 0x0c:	/* def_cfa */
				s->cfa_reg = (int)uleb(c);
				s->cfa_off = (int64_t)uleb(c);
				continue;
			case 0x0d:	/* def_cfa_register */
				s->cfa_reg = (int)uleb(c);
				continue;
			case 0x0e:	/* def_cfa_offset */
				s->cfa_off = (int64_t)uleb(c);
				continue;
			case 0x0f:	/* def_cfa_expression */
				s->cfa_reg = -1;
				skip(c, uleb(c));
				continue;
			case 0x10:	/* expression */
			case 0x16:	/* val_expression */
				reg = uleb(c);
				set_rule(s, reg, R_OTHER, 0);
				skip(c, uleb(c));
				continue;
			case 0x11:	/* offset_extended_sf */
				reg = uleb(c);
				set_rule(s, reg, R_OFFSET, sleb(c) * daf);
				continue;
			case 0x12:	/* def_cfa_sf */
				s->cfa_reg = (int)uleb(c);
				s->cfa_off = sleb(c) * daf;
				continue;
			case 0x13:	/* def_cfa_offset_sf */
				s->cfa_off = sleb(c) * daf;
				continue;
			case 0x14:	/* val_offset */
				reg = uleb(c);
				(void)uleb(c);
				set_rule(s, reg, R_OTHER, 0);
				continue;
			case 0x15:	/* val_offset_sf */
				reg = uleb(c);
				(void)sleb(c);
				set_rule(s, reg, R_OTHER, 0);
				continue;
			case 0x2e:	/* GNU_args_size: only for landing pads */
				(void)uleb(c);
				continue;
			case 0x2f:	/* GNU_negative_offset_extended */
				reg = uleb(c);
				set_rule(s, reg, R_OFFSET, -(int64_t)uleb(c) * daf);
				continue;
			default:	/* set_loc and anything unknown */
				return -1;
			}
		}
		if (*loc + adv > pc)
			return 0;	/* the row holding pc is complete */
		*loc += adv;
	}
	return c->bad ? -1 : 0;
}

static void to_rule(const struct state *s, int ok, struct rs_cfi_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = RS_CFI_UNSUPPORTED;
	if (!ok || (s->cfa_reg != RS_CFI_RSP && s->cfa_reg != RS_CFI_RBP) ||
	    s->rsp.how != R_SAME)
		return;
	if (s->ra.how == R_UNDEF) {
		r->kind = RS_CFI_END;
		return;
	}
	if (s->ra.how != R_OFFSET || s->ra.off != -8)
		return;
	if (s->rbp.how == R_OFFSET) {
		r->rbp_saved = 1;
		r->rbp_off = s->rbp.off;
	} else if (s->rbp.how != R_SAME) {
		return;
	}
	r->cfa_reg = s->cfa_reg;
	r->cfa_off = s->cfa_off;
	r->kind = RS_CFI_OK;
}

static void state_init(struct state *s)
{
	memset(s, 0, sizeof(*s));
	s->cfa_reg = -1;
	s->rbp.how = R_SAME;
	s->rsp.how = R_SAME;
	s->ra.how = R_SAME;	/* no rule for the return address yet: unsupported */
}

void rs_cfi_run(const uint8_t *cie, const uint8_t *cie_end, const uint8_t *fde,
		const uint8_t *fde_end, uint64_t caf, int64_t daf, uintptr_t loc,
		uintptr_t pc, struct rs_cfi_rule *r)
{
	struct state s, init;
	struct cur c = { cie, cie_end, 0 };
	uintptr_t l = loc;
	int ok;

	state_init(&s);
	/* the CIE's instructions never advance in practice; if they did, the
	 * location they reach still counts from the FDE's start */
	ok = run(&c, &s, &s, caf, daf, &l, UINTPTR_MAX) == 0;
	init = s;
	c.p = fde;
	c.end = fde_end;
	l = loc;
	ok = ok && run(&c, &s, &init, caf, daf, &l, pc) == 0;
	to_rule(&s, ok, r);
}

/* ---- finding the FDE ---------------------------------------------------- */

struct find {
	uintptr_t pc;
	const uint8_t *hdr;	/* the object's .eh_frame_hdr, NULL if none */
	int found;		/* pc lies in a loaded segment of some object */
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find *f = data;
	const uint8_t *hdr = NULL;
	int inside = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && f->pc >= lo && f->pc - lo < ph->p_memsz)
			inside = 1;
		else if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)lo;
	}
	if (!inside)
		return 0;
	f->found = 1;
	f->hdr = hdr;
	return 1;
}

/* The FDE whose table entry is the last at or below pc; NULL if none. */
static const uint8_t *search_table(const uint8_t *hdr, uintptr_t pc)
{
	struct cur c = { hdr + 4, hdr + 4 + 64, 0 };
	const int32_t *tab;
	uint64_t count, lo, hi;

	if (hdr[0] != 1 || hdr[3] != 0x3b)	/* version 1; datarel sdata4 table */
		return NULL;
	(void)encoded(&c, hdr[1]);	/* eh_frame_ptr */
	count = encoded(&c, hdr[2]);
	if (c.bad || !count)
		return NULL;
	tab = (const int32_t *)(const void *)c.p;
	if ((intptr_t)pc < (intptr_t)hdr + tab[0])
		return NULL;
	lo = 0;
	hi = count;	/* invariant: entry lo <= pc, entries >= hi are > pc */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)(hdr + tab[2 * mid]) <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return hdr + tab[2 * lo + 1];
}

struct cie {
	const uint8_t *ins, *end;
	uint64_t caf;
	int64_t daf;
	uint8_t fde_enc;
	int has_z;
};

static int parse_cie(const uint8_t *p, struct cie *ci)
{
	uint32_t len;
	struct cur c;
	const char *aug;

	memcpy(&len, p, 4);
	if (len == 0 || len == 0xffffffffu)
		return -1;
	c.p = p + 4;
	c.end = p + 4 + len;
	c.bad = 0;
	if (fixed(&c, 4) != 0)	/* CIE id */
		return -1;
	{
		uint64_t version = fixed(&c, 1);

		if (version != 1 && version != 3)
			return -1;
		aug = (const char *)c.p;
		while (c.p < c.end && *c.p)
			c.p++;
		skip(&c, 1);
		ci->caf = uleb(&c);
		ci->daf = sleb(&c);
		if ((version == 1 ? fixed(&c, 1) : uleb(&c)) != RS_CFI_RA)
			return -1;
	}
	ci->fde_enc = 0;	/* absptr */
	ci->has_z = aug[0] == 'z';
	if (ci->has_z) {
		uint64_t n = uleb(&c);
		struct cur a = { c.p, c.p + n, 0 };

		skip(&c, n);
		for (const char *q = aug + 1; *q && !a.bad; q++) {
			switch (*q) {
			case 'L': (void)fixed(&a, 1); break;
			case 'R': ci->fde_enc = (uint8_t)fixed(&a, 1); break;
			case 'P': {
				uint8_t enc = (uint8_t)fixed(&a, 1);

				(void)encoded(&a, enc & 0x7f);	/* never dereferenced */
				break;
			}
			default:	/* 'S' (signal frame) and anything unknown */
				return -1;
			}
		}
		if (a.bad)
			return -1;
	} else if (aug[0]) {
		return -1;
	}
	if (c.bad)
		return -1;
	ci->ins = c.p;
	ci->end = c.end;
	return 0;
}

static void rule_from_fde(const uint8_t *fde, uintptr_t pc, struct rs_cfi_rule *r)
{
	uint32_t len, id;
	struct cie ci;
	struct cur c;
	uint64_t begin, range;

	r->kind = RS_CFI_UNSUPPORTED;
	memcpy(&len, fde, 4);
	memcpy(&id, fde + 4, 4);
	if (len == 0 || len == 0xffffffffu || id == 0)
		return;
	if (parse_cie(fde + 4 - id, &ci) < 0)
		return;
	c.p = fde + 8;
	c.end = fde + 4 + len;
	c.bad = 0;
	begin = encoded(&c, ci.fde_enc);
	range = encoded(&c, ci.fde_enc & 0x0f);
	if (ci.has_z)
		skip(&c, uleb(&c));
	if (c.bad || pc < begin || pc - begin >= range)
		return;
	rs_cfi_run(ci.ins, ci.end, c.p, c.end, ci.caf, ci.daf, (uintptr_t)begin, pc, r);
}

void rs_cfi_lookup(uintptr_t pc, struct rs_cfi_rule *r)
{
	struct find f = { pc, NULL, 0 };
	const uint8_t *fde;

	memset(r, 0, sizeof(*r));
	r->kind = RS_CFI_UNSUPPORTED;
	dl_iterate_phdr(find_object, &f);
	if (!f.found || !f.hdr)
		return;
	fde = search_table(f.hdr, pc);
	if (fde)
		rule_from_fde(fde, pc, r);
}
