/*
 * cfi.h - x86_64 unwind rules from an object's .eh_frame, for the fast
 * frame walker (unwind.c).
 *
 * A rule says how to get from one frame to its caller's: CFA = rsp or rbp
 * plus an offset, the return address at CFA - 8, rbp either unchanged or
 * saved at CFA + an offset. That covers what compilers emit for ordinary
 * code; anything else (CFA or rbp given by a DWARF expression, the return
 * address not at CFA - 8, signal frames, a CFA from another register,
 * objects without .eh_frame_hdr) is RS_CFI_UNSUPPORTED, and the walker
 * leaves that event to libunwind. RS_CFI_END: the return address is
 * undefined there (_start, a thread's clone): the outermost frame.
 *
 * rs_cfi_lookup finds the object holding pc (dl_iterate_phdr: call it with
 * the loader gate held, see rs_loader_enter), binary-searches its
 * .eh_frame_hdr table and runs the FDE's CFA program up to pc. No malloc.
 */
#ifndef REFSCOPE_CFI_H
#define REFSCOPE_CFI_H

#include <stdint.h>

enum { RS_CFI_OK, RS_CFI_END, RS_CFI_UNSUPPORTED };

#define RS_CFI_RSP 7	/* DWARF register numbers */
#define RS_CFI_RBP 6
#define RS_CFI_RA 16

struct rs_cfi_rule {
	int kind;		/* RS_CFI_* */
	int cfa_reg;		/* RS_CFI_RSP or RS_CFI_RBP */
	int64_t cfa_off;
	int rbp_saved;		/* 1: caller's rbp at CFA + rbp_off; 0: unchanged */
	int64_t rbp_off;
};

/* The rule at pc (an address inside the instruction the frame is at). */
void rs_cfi_lookup(uintptr_t pc, struct rs_cfi_rule *r);

/*
 * The interpreter itself, for the unit tests: runs the CIE's initial
 * instructions [cie, cie_end) then the FDE's [fde, fde_end), whose code
 * starts at loc, until the location passes pc. caf/daf: the CIE's code and
 * data alignment factors.
 */
void rs_cfi_run(const uint8_t *cie, const uint8_t *cie_end, const uint8_t *fde,
		const uint8_t *fde_end, uint64_t caf, int64_t daf, uintptr_t loc,
		uintptr_t pc, struct rs_cfi_rule *r);

#endif /* REFSCOPE_CFI_H */
