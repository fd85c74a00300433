/* Umbra's own copy of the main guest-state checks of VM entry (Intel SDM
 * vol. 3, 26.3.1), run after the CPU refused the guest state (exit reason 33)
 * to name the offending field: the CPU itself only says "invalid guest
 * state". Pure code over a snapshot of the fields, so it is host-tested. */
#ifndef UMBRA_ARCH_X86_VMX_VMX_GUEST_CHECK_H
#define UMBRA_ARCH_X86_VMX_VMX_GUEST_CHECK_H

#include "arch/x86/vmx/vmx_controls.h"
#include "lib/types.h"

struct vmx_seg_state {
	u16 sel;
	u32 limit;
	u32 ar;   /* VMX access-rights format (25.4.1) */
	u64 base;
};

/* Segment order: ES, CS, SS, DS, FS, GS, LDTR, TR (enum vseg_index). */
struct vmx_guest_state {
	u64 cr0, cr3, cr4, dr7, efer, pat, rflags, rip;
	u32 entry_ctls;
	/* Secondary processor-based controls as VM entry sees them (0 when
	 * not activated): unrestricted guest and EPT change the rules. */
	u32 proc2;
	u32 entry_intr_info;
	u32 interruptibility, activity;
	u64 link_pointer;
	struct vmx_seg_state seg[8];
	u64 gdtr_base, idtr_base;
	u32 gdtr_limit, idtr_limit;
	u64 pdpte[4];
};

/* The first rule broken: the VMCS field (SDM name) and the rule, in words. */
struct vmx_check_failure {
	const char *field;
	const char *rule;
};

/* False (and *f filled) when a check fails. */
bool vmx_check_guest_state(const struct vmx_config *c, const struct vmx_guest_state *g,
			   struct vmx_check_failure *f);

/* Control values against the capability MSRs (26.2.1): NULL or the field. */
const char *vmx_check_controls(const struct vmx_cap_msrs *m, u32 pin, u32 proc, u32 proc2,
			       u32 exit, u32 entry);

#endif
