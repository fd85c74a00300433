/* From the VMX capability MSRs (Intel SDM vol. 3, appendix A) to the control
 * values every VMCS gets, the CR0/CR4 fixed bits, and the TLB-flush method.
 * Pure computation (no MSR access), so the host unit tests can feed it the
 * capability sets of real and imaginary CPUs (tests/unit/test_vmx_controls.c). */
#ifndef UMBRA_ARCH_X86_VMX_VMX_CONTROLS_H
#define UMBRA_ARCH_X86_VMX_VMX_CONTROLS_H

#include "lib/types.h"

/* Capability MSRs (SDM vol. 3, A.1-A.10; vol. 4, table 2-2). */
#define MSR_IA32_VMX_BASIC 0x480
#define MSR_IA32_VMX_PINBASED_CTLS 0x481
#define MSR_IA32_VMX_PROCBASED_CTLS 0x482
#define MSR_IA32_VMX_EXIT_CTLS 0x483
#define MSR_IA32_VMX_ENTRY_CTLS 0x484
#define MSR_IA32_VMX_MISC 0x485
#define MSR_IA32_VMX_CR0_FIXED0 0x486
#define MSR_IA32_VMX_CR0_FIXED1 0x487
#define MSR_IA32_VMX_CR4_FIXED0 0x488
#define MSR_IA32_VMX_CR4_FIXED1 0x489
#define MSR_IA32_VMX_PROCBASED_CTLS2 0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP 0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS 0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS 0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS 0x490

/* IA32_VMX_BASIC (A.1). */
#define VMX_BASIC_REVISION_MASK 0x7fffffffull
#define VMX_BASIC_REGION_SIZE_SHIFT 32
#define VMX_BASIC_REGION_SIZE_MASK 0x1fffull
#define VMX_BASIC_32BIT_ADDRESSES BIT(48)
#define VMX_BASIC_MEMTYPE_SHIFT 50
#define VMX_BASIC_MEMTYPE_MASK 0xfull
#define VMX_BASIC_INOUT_INFO BIT(54)
#define VMX_BASIC_TRUE_CTLS BIT(55)
/* IA32_VMX_MISC (A.6). */
#define VMX_MISC_EXIT_SAVES_LMA BIT(5)
/* IA32_VMX_EPT_VPID_CAP (A.10). */
#define EPT_CAP_WALK_LENGTH_4 BIT(6)
#define EPT_CAP_MEMTYPE_WB BIT(14)
#define EPT_CAP_INVEPT BIT(20)
#define EPT_CAP_AD_FLAGS BIT(21)
#define EPT_CAP_INVEPT_SINGLE_CONTEXT BIT(25)
#define EPT_CAP_INVEPT_ALL_CONTEXT BIT(26)
#define VPID_CAP_INVVPID BIT(32)
#define VPID_CAP_INVVPID_SINGLE_CONTEXT BIT(41)
#define VPID_CAP_INVVPID_ALL_CONTEXT BIT(42)

/* INVEPT / INVVPID types (SDM vol. 3, 29.4.3; vol. 2, INVEPT, INVVPID). */
#define INVEPT_TYPE_SINGLE_CONTEXT 1
#define INVEPT_TYPE_ALL_CONTEXT 2
#define INVVPID_TYPE_SINGLE_CONTEXT 1
#define INVVPID_TYPE_ALL_CONTEXT 2

/* EPTP (25.6.11): memory type of the EPT structures, walk length - 1. */
#define EPTP_MEMTYPE_WB 6ull
#define EPTP_WALK_LENGTH_4 (3ull << 3)
#define MEMTYPE_WB 6

/* The raw capability MSR values, as rdmsr returns them. The TRUE_* values
 * count only when BASIC bit 55 is set; PROCBASED_CTLS2 only when PROCBASED
 * allows "activate secondary controls"; EPT_VPID_CAP only when
 * PROCBASED_CTLS2 allows EPT or VPID. Others may hold anything. */
struct vmx_cap_msrs {
	u64 basic;
	u64 pinbased, procbased, exit, entry;
	u64 true_pinbased, true_procbased, true_exit, true_entry;
	u64 procbased2;
	u64 ept_vpid_cap;
	u64 misc;
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
};

struct vmx_config {
	/* NULL when guests can run. Otherwise why not, in words, and the
	 * control or capability concerned (or NULL). */
	const char *refusal;
	const char *refusal_detail;

	u32 revision;  /* VMCS revision identifier for VMXON and VMCS regions */
	/* Control values for every VMCS. Runtime-toggled bits are 0 here:
	 * interrupt-window exiting and IA-32e mode guest. */
	u32 pin, proc, proc2, exit, entry;
	bool vpid;             /* run each vCPU with its own VPID */
	const char *vpid_fallback; /* !vpid: why (each entry/exit then flushes the TLB) */
	u32 invept_type;       /* INVEPT_TYPE_* to flush one EPT context */
	u32 invvpid_type;      /* INVVPID_TYPE_* to flush one VPID (when vpid) */
	bool tpr_shadow;       /* guest MOV CR8 uses a virtual-APIC page */
	bool inout_info;       /* INS/OUTS exits report address size and segment */
	bool exit_saves_lma;   /* exits update "IA-32e mode guest" themselves */
	u64 eptp_flags;        /* EPTP bits 11:0 */

	/* CR0/CR4 bits VMX forces to 1 and to 0 in VMX operation (A.7, A.8),
	 * for the host and for the guest's real registers; with unrestricted
	 * guest CR0.PE and CR0.PG are exempt for the guest (26.3.1.1). */
	u64 host_cr0_must1, host_cr0_must0, host_cr4_must1, host_cr4_must0;
	u64 guest_cr0_must1, guest_cr0_must0, guest_cr4_must1, guest_cr4_must0;
	/* CR0 bits the guest may set but that stay out of the real register:
	 * CD and NW, which VM entries and exits never switch (27.3.2.1,
	 * 28.5.1), so the guest cannot change the host's cache setting. */
	u64 guest_cr0_shadow_only;
	/* Guest/host masks: the bits the guest does not own. Guest reads of
	 * them come from the read shadow; writes that change them exit. */
	u64 cr0_guest_host_mask, cr4_guest_host_mask;
};

/* Fills *out from the capability MSRs. Returns false (out->refusal set)
 * when this CPU cannot run Umbra's guests. */
bool vmx_config_compute(const struct vmx_cap_msrs *caps, struct vmx_config *out);

/* The real CR0/CR4 for a value the guest wrote (fixed-1 bits forced on),
 * and the value the guest sees from a real register and its read shadow. */
u64 vmx_guest_cr0_real(const struct vmx_config *c, u64 guest_value);
u64 vmx_guest_cr4_real(const struct vmx_config *c, u64 guest_value);
static inline u64 vmx_cr_guest_view(u64 real, u64 shadow, u64 mask)
{
	return (real & ~mask) | (shadow & mask);
}

#endif
