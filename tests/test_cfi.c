/*
 * test_cfi.c - the call-frame interpreter of the fast walker: hand-made CFA
 * programs as GCC emits them (prologue, frame pointer, epilogue inside
 * remember/restore state), rules it must refuse (expressions for the CFA or
 * rbp, a return address not at CFA - 8), the outermost frame, and lookups
 * in this test program's own .eh_frame.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "cfi.h"

/* GCC's x86_64 CIE: def_cfa rsp+8; return address (r16) at CFA-8. */
static const uint8_t cie[] = { 0x0c, 0x07, 0x08, 0x90, 0x01 };

#define LOC 0x1000u

static struct rs_cfi_rule at(const uint8_t *fde, size_t n, uintptr_t pc)
{
	struct rs_cfi_rule r;

	rs_cfi_run(cie, cie + sizeof(cie), fde, fde + n, 1, -8, LOC, pc, &r);
	return r;
}

/* An applicable rule: CFA = reg + off; rbp saved at CFA + rbp_off, or not. */
static void assert_ok(struct rs_cfi_rule r, int reg, int64_t off, int saved, int64_t rbp_off)
{
	cr_assert_eq(r.kind, RS_CFI_OK);
	cr_assert_eq(r.cfa_reg, reg);
	cr_assert_eq(r.cfa_off, off);
	cr_assert_eq(r.rbp_saved, saved);
	if (saved)
		cr_assert_eq(r.rbp_off, rbp_off);
}

/*
 * push %rbp; mov %rsp,%rbp; ...; pop %rbp (remembered); ret; more body:
 *   LOC+0  CFA rsp+8
 *   LOC+1  CFA rsp+16, rbp at CFA-16
 *   LOC+4  CFA rbp+16
 *   LOC+20 after pop: CFA rsp+8 (state remembered before)
 *   LOC+21 restored: CFA rbp+16, rbp at CFA-16
 */
static const uint8_t framed[] = {
	0x41,			/* advance_loc 1 */
	0x0e, 0x10,		/* def_cfa_offset 16 */
	0x86, 0x02,		/* offset r6, 2 * -8 */
	0x43,			/* advance_loc 3 */
	0x0d, 0x06,		/* def_cfa_register r6 */
	0x50,			/* advance_loc 16 */
	0x0a,			/* remember_state */
	0x0c, 0x07, 0x08,	/* def_cfa rsp+8 */
	0xc6,			/* restore r6 */
	0x41,			/* advance_loc 1 */
	0x0b,			/* restore_state */
};

Test(cfi, entry_is_rsp_plus_8)
{
	assert_ok(at(framed, sizeof(framed), LOC), RS_CFI_RSP, 8, 0, 0);
}

Test(cfi, after_push_rbp)
{
	assert_ok(at(framed, sizeof(framed), LOC + 3), RS_CFI_RSP, 16, 1, -16);
}

Test(cfi, frame_pointer_body)
{
	assert_ok(at(framed, sizeof(framed), LOC + 19), RS_CFI_RBP, 16, 1, -16);
}

Test(cfi, epilogue_then_restored_state)
{
	assert_ok(at(framed, sizeof(framed), LOC + 20), RS_CFI_RSP, 8, 0, 0);
	/* restore_state brings the CFA rule back too */
	assert_ok(at(framed, sizeof(framed), LOC + 40), RS_CFI_RBP, 16, 1, -16);
}

Test(cfi, long_advances_and_sf_forms)
{
	static const uint8_t fde[] = {
		0x02, 0x10,		/* advance_loc1 16 */
		0x13, 0x7c,		/* def_cfa_offset_sf -4 * -8 = 32 */
		0x03, 0x00, 0x01,	/* advance_loc2 256 */
		0x12, 0x07, 0x7a,	/* def_cfa_sf rsp, -6 * -8 = 48 */
		0x11, 0x06, 0x7d,	/* offset_extended_sf r6, -3 * -8 = 24 */
	};
	struct rs_cfi_rule r = at(fde, sizeof(fde), LOC + 15);

	cr_assert_eq(r.cfa_off, 8);
	r = at(fde, sizeof(fde), LOC + 16);
	cr_assert_eq(r.cfa_off, 32);
	cr_assert_eq(r.rbp_saved, 0);
	r = at(fde, sizeof(fde), LOC + 272);
	cr_assert_eq(r.cfa_off, 48);
	/* rbp at CFA + 24: above the CFA, which the walker's encoding refuses,
	 * but the interpreter reports it as written */
	cr_assert_eq(r.rbp_saved, 1);
	cr_assert_eq(r.rbp_off, 24);
}

Test(cfi, other_registers_expressions_are_ignored)
{
	static const uint8_t fde[] = {
		0x41, 0x0e, 0x10,		/* CFA rsp+16 */
		0x10, 0x03, 0x02, 0x77, 0x00,	/* expression r3 (rbx): breg7 0 */
		0x16, 0x0c, 0x01, 0x9c,		/* val_expression r12 */
		0x83, 0x03,			/* offset r3 */
		0x2e, 0x08,			/* GNU_args_size 8 */
	};
	struct rs_cfi_rule r = at(fde, sizeof(fde), LOC + 5);

	cr_assert_eq(r.kind, RS_CFI_OK);
	cr_assert_eq(r.cfa_off, 16);
}

Test(cfi, refuses_cfa_expression)
{
	/* what .plt and realigning functions (main with -mstackrealign) use */
	static const uint8_t fde[] = { 0x41, 0x0f, 0x03, 0x76, 0x78, 0x06 };

	cr_assert_eq(at(fde, sizeof(fde), LOC).kind, RS_CFI_OK);
	cr_assert_eq(at(fde, sizeof(fde), LOC + 1).kind, RS_CFI_UNSUPPORTED);
}

Test(cfi, refuses_rbp_expression_and_register_rules)
{
	static const uint8_t expr[] = { 0x41, 0x10, 0x06, 0x02, 0x76, 0x00 };
	static const uint8_t reg[] = { 0x41, 0x09, 0x06, 0x03 };
	static const uint8_t cfa_rbx[] = { 0x41, 0x0c, 0x03, 0x10 };

	cr_assert_eq(at(expr, sizeof(expr), LOC + 1).kind, RS_CFI_UNSUPPORTED);
	cr_assert_eq(at(reg, sizeof(reg), LOC + 1).kind, RS_CFI_UNSUPPORTED);
	cr_assert_eq(at(cfa_rbx, sizeof(cfa_rbx), LOC + 1).kind, RS_CFI_UNSUPPORTED);
	cr_assert_eq(at(cfa_rbx, sizeof(cfa_rbx), LOC).kind, RS_CFI_OK);
}

Test(cfi, refuses_return_address_elsewhere)
{
	static const uint8_t fde[] = { 0x41, 0x90, 0x02 };	/* r16 at CFA-16 */

	cr_assert_eq(at(fde, sizeof(fde), LOC + 1).kind, RS_CFI_UNSUPPORTED);
}

Test(cfi, undefined_return_address_is_the_end)
{
	static const uint8_t fde[] = { 0x07, 0x10 };	/* undefined r16 */

	cr_assert_eq(at(fde, sizeof(fde), LOC).kind, RS_CFI_END);
}

Test(cfi, refuses_unknown_opcode_and_truncation)
{
	static const uint8_t unknown[] = { 0x41, 0x3f };
	static const uint8_t truncated[] = { 0x41, 0x0e };

	cr_assert_eq(at(unknown, sizeof(unknown), LOC + 1).kind, RS_CFI_UNSUPPORTED);
	cr_assert_eq(at(truncated, sizeof(truncated), LOC + 1).kind, RS_CFI_UNSUPPORTED);
}

Test(cfi, restore_state_without_remember_is_refused)
{
	static const uint8_t fde[] = { 0x0b };

	cr_assert_eq(at(fde, sizeof(fde), LOC).kind, RS_CFI_UNSUPPORTED);
}

static __attribute__((noinline)) int some_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

Test(cfi, lookup_in_this_program)
{
	struct rs_cfi_rule r;

	/* at a function's first instruction the call has just pushed the
	 * return address: CFA = rsp + 8, whatever the function does later */
	rs_cfi_lookup((uintptr_t)&some_function, &r);
	assert_ok(r, RS_CFI_RSP, 8, 0, 0);
	cr_assert_eq(some_function(2), 7);
}

Test(cfi, lookup_outside_any_object_is_refused)
{
	struct rs_cfi_rule r;

	rs_cfi_lookup(0x1000, &r);
	cr_assert_eq(r.kind, RS_CFI_UNSUPPORTED);
}
