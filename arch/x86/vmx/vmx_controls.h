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
	 * interrupt-window exiting and IA-32e mode guest. proc and proc2 are
	 * those of a VM with EPT (when tdp; without EPT and unrestricted guest
	 * otherwise); vmx_vm_controls() gives the per-VM values. */
	u32 pin, proc, proc2, exit, entry;
	bool secondary;        /* "activate secondary controls" is set */
	bool ept_supported;    /* the CPU has EPT (and the EPTP/PDPTE fields) */
	/* VMs can run with EPT: EPT (4-level, write-back, INVEPT) with
	 * unrestricted guest, CR3/INVLPG exiting clearable, EFER and PAT
	 * switched by the VMCS. Otherwise every
	 * VM runs with shadow paging; tdp_fallback says why, in words, and
	 * tdp_fallback_detail names the control or capability. */
	bool tdp;
	const char *tdp_fallback;
	const char *tdp_fallback_detail;
	/* VMs can run with shadow paging: CR3-load, CR3-store and INVLPG
	 * exiting can be 1, EPT and unrestricted guest 0. Otherwise
	 * shadow_missing names the control. */
	bool shadow;
	const char *shadow_missing;
	bool vpid;             /* run each vCPU with its own VPID */
	const char *vpid_fallback; /* !vpid: why (each entry/exit then flushes the TLB) */
	u32 invept_type;       /* INVEPT_TYPE_* to flush one EPT context */
	u32 invvpid_type;      /* INVVPID_TYPE_* to flush one VPID (when vpid) */
	bool tpr_shadow;       /* guest MOV CR8 uses a virtual-APIC page */
	/* Save/load of IA32_EFER and of IA32_PAT on entry and exit (all three
	 * controls of each). Required for VMs with EPT. Without, shadow-paging
	 * guests run with the host's EFER.NXE (VM entry sets LMA/LME from
	 * "IA-32e mode guest") and the host's PAT. */
	bool efer_controls, pat_controls;
	bool inout_info;       /* INS/OUTS exits report address size and segment */
	bool exit_saves_lma;   /* exits update "IA-32e mode guest" themselves */
	u64 eptp_flags;        /* EPTP bits 11:0 */

	/* CR0/CR4 bits VMX forces to 1 and to 0 in VMX operation (A.7, A.8),
	 * for the host and for the guest's real registers. The guest_ ones
	 * are those of VMs with EPT: with unrestricted guest CR0.PE and CR0.PG
	 * are exempt (26.3.1.1). Without it (shadow paging) the host_ ones
	 * apply to the guest too (struct vmx_vm_controls). */
	u64 host_cr0_must1, host_cr0_must0, host_cr4_must1, host_cr4_must0;
	u64 guest_cr0_must1, guest_cr0_must0, guest_cr4_must1, guest_cr4_must0;
	/* CR0 bits the guest may set but that stay out of the real register:
	 * CD and NW, which VM entries and exits never switch (27.3.2.1,
	 * 28.5.1), so the guest cannot change the host's cache setting. */
	u64 guest_cr0_shadow_only;
	/* Guest/host masks of VMs with EPT: the bits the guest does not own.
	 * Guest reads of them come from the read shadow; writes that change
	 * them exit. (Shadow paging: every bit, struct vmx_vm_controls.) */
	u64 cr0_guest_host_mask, cr4_guest_host_mask;
};

/* Fills *out from the capability MSRs. Returns false (out->refusal set)
 * when this CPU cannot run Umbra's guests, neither with EPT nor with
 * shadow paging. */
bool vmx_config_compute(const struct vmx_cap_msrs *caps, struct vmx_config *out);

/* What differs between the VMCS of a VM with EPT and one with shadow paging
 * (the guest's own page tables shadowed by Umbra): controls, intercepted
 * exceptions, CR0/CR4 ownership and the CR0 bits VMX forces. */
struct vmx_vm_controls {
	u32 proc, proc2;          /* interrupt-window exiting 0 */
	u32 exception_bitmap;
	u32 pfec_mask, pfec_match; /* #PF filter (25.6.3) */
	u64 cr0_guest_host_mask, cr4_guest_host_mask;
	/* Real CR0 bits VM entry requires to be 1 (26.3.1.1): PE and PG too
	 * without unrestricted guest. */
	u64 cr0_must1;
	bool unrestricted_guest;
};

/* The controls of a VM with EPT (shadow false) or with shadow paging.
 * False when this CPU cannot run the mode (!c->tdp, !c->shadow). Shadow
 * paging: EPT, unrestricted guest and INVPCID off, CR3-load, CR3-store and
 * INVLPG exiting on, every #PF exits (mask = match = 0), and the host owns
 * every CR0/CR4 bit: each write exits and reads return the read shadows. */
bool vmx_vm_controls(const struct vmx_config *c, bool shadow, struct vmx_vm_controls *out);

/*
 * A shadow-paging VM while its guest is in real mode (CR0.PE=0): VMX runs
 * real mode only with unrestricted guest, which needs EPT, so this phase
 * runs on the VM's EPT p2m (the guest has no paging to shadow then); the
 * rest stays as in `shadow` (every CR access exits, so the switch back is
 * seen). False when the CPU has no usable EPT with unrestricted guest.
 */
bool vmx_shadow_real_mode_controls(const struct vmx_config *c, const struct vmx_vm_controls *shadow,
				   struct vmx_vm_controls *out);

/* The real CR0/CR4 for a value the guest wrote (fixed-1 bits forced on),
 * and the value the guest sees from a real register and its read shadow. */
u64 vmx_guest_cr0_real(const struct vmx_config *c, u64 guest_value);
u64 vmx_guest_cr4_real(const struct vmx_config *c, u64 guest_value);
/* Shadow paging: the real CR0 and EFER for the values the hardware is to
 * run with. CR0: PG and the other fixed bits forced on, CD/NW off (as
 * above); PE is left as given, so that a guest in real mode, which VMX
 * cannot run without unrestricted guest, fails VM entry by name rather
 * than running in protected mode. EFER: the real CR0.PG is always 1, with
 * which VM entry requires LME = LMA (26.3.1.1); LME follows LMA. CR4 is
 * vmx_guest_cr4_real(). */
u64 vmx_shadow_cr0_real(const struct vmx_config *c, u64 hw_cr0);
u64 vmx_shadow_efer_real(u64 hw_efer);
static inline u64 vmx_cr_guest_view(u64 real, u64 shadow, u64 mask)
{
	return (real & ~mask) | (shadow & mask);
}

#endif
