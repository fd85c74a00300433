/* VMX control values from the capability MSRs (Intel SDM vol. 3, appendix A
 * and 25.6-25.8). Each control MSR holds the "allowed 0-settings" in bits
 * 31:0 (a 1 there means the control must be 1) and the "allowed 1-settings"
 * in bits 63:32 (a 0 there means the control must be 0), A.3. The TRUE_*
 * MSRs, offered when IA32_VMX_BASIC bit 55 is set, report the same for the
 * "default1" controls that the older MSRs always show as must-be-1 (A.2). */
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_controls.h"

#define CR0_PE BIT(0)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR0_PG BIT(31)
#define LOW32 0xffffffffull
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define VEC_PF 14
#define VEC_MC 18
#define PAGING_EXITS (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING)
#define EXIT_EFER_CONTROLS (EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER)
#define EXIT_PAT_CONTROLS (EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT)

/* What Umbra asks of one control field: bits it needs, bits it uses when
 * offered, bits that must be clear (Umbra does not handle their exits or
 * toggles them itself at run time), with names for the messages. */
struct ctl_name {
	u32 bit;
	const char *name;
};

struct ctl_request {
	const char *field;
	u32 required, optional, forbidden;
	/* Bits toggled at run time: must be allowed both ways. */
	u32 toggled;
	const struct ctl_name *names;
};

static const struct ctl_name pin_names[] = {
	{ PIN_EXTERNAL_INTERRUPT_EXITING, "pin-based: external-interrupt exiting" },
	{ PIN_NMI_EXITING, "pin-based: NMI exiting" },
	{ PIN_PREEMPTION_TIMER, "pin-based: activate VMX-preemption timer" },
	{ PIN_POSTED_INTERRUPTS, "pin-based: process posted interrupts" },
	{ 0, NULL },
};

static const struct ctl_name proc_names[] = {
	{ PROC_INTERRUPT_WINDOW_EXITING, "primary: interrupt-window exiting" },
	{ PROC_USE_TSC_OFFSETTING, "primary: use TSC offsetting" },
	{ PROC_HLT_EXITING, "primary: HLT exiting" },
	{ PROC_INVLPG_EXITING, "primary: INVLPG exiting" },
	{ PROC_MWAIT_EXITING, "primary: MWAIT exiting" },
	{ PROC_RDTSC_EXITING, "primary: RDTSC exiting" },
	{ PROC_CR3_LOAD_EXITING, "primary: CR3-load exiting" },
	{ PROC_CR3_STORE_EXITING, "primary: CR3-store exiting" },
	{ PROC_CR8_LOAD_EXITING, "primary: CR8-load exiting" },
	{ PROC_CR8_STORE_EXITING, "primary: CR8-store exiting" },
	{ PROC_NMI_WINDOW_EXITING, "primary: NMI-window exiting" },
	{ PROC_MOV_DR_EXITING, "primary: MOV-DR exiting" },
	{ PROC_UNCONDITIONAL_IO_EXITING, "primary: unconditional I/O exiting" },
	{ PROC_USE_IO_BITMAPS, "primary: use I/O bitmaps" },
	{ PROC_MONITOR_TRAP_FLAG, "primary: monitor trap flag" },
	{ PROC_USE_MSR_BITMAPS, "primary: use MSR bitmaps" },
	{ PROC_MONITOR_EXITING, "primary: MONITOR exiting" },
	{ PROC_PAUSE_EXITING, "primary: PAUSE exiting" },
	{ PROC_ACTIVATE_SECONDARY_CONTROLS, "primary: activate secondary controls" },
	{ 0, NULL },
};

static const struct ctl_name exit_names[] = {
	{ EXIT_HOST_ADDRESS_SPACE_SIZE, "VM-exit: host address-space size" },
	{ EXIT_LOAD_PERF_GLOBAL_CTRL, "VM-exit: load IA32_PERF_GLOBAL_CTRL" },
	{ EXIT_ACK_INTERRUPT_ON_EXIT, "VM-exit: acknowledge interrupt on exit" },
	{ EXIT_SAVE_IA32_PAT, "VM-exit: save IA32_PAT" },
	{ EXIT_LOAD_IA32_PAT, "VM-exit: load IA32_PAT" },
	{ EXIT_SAVE_IA32_EFER, "VM-exit: save IA32_EFER" },
	{ EXIT_LOAD_IA32_EFER, "VM-exit: load IA32_EFER" },
	{ EXIT_SAVE_PREEMPTION_TIMER, "VM-exit: save VMX-preemption timer value" },
	{ 0, NULL },
};

static const struct ctl_name entry_names[] = {
	{ ENTRY_IA32E_MODE_GUEST, "VM-entry: IA-32e mode guest" },
	{ ENTRY_TO_SMM, "VM-entry: entry to SMM" },
	{ ENTRY_DEACTIVATE_DUAL_MONITOR, "VM-entry: deactivate dual-monitor treatment" },
	{ ENTRY_LOAD_PERF_GLOBAL_CTRL, "VM-entry: load IA32_PERF_GLOBAL_CTRL" },
	{ ENTRY_LOAD_IA32_PAT, "VM-entry: load IA32_PAT" },
	{ ENTRY_LOAD_IA32_EFER, "VM-entry: load IA32_EFER" },
	{ 0, NULL },
};

static const char *ctl_name(const struct ctl_name *names, u32 bits, const char *field)
{
	for (; names->name; names++)
		if (bits & names->bit)
			return names->name;
	return field;
}

static bool refuse(struct vmx_config *c, const char *why, const char *detail)
{
	c->refusal = why;
	c->refusal_detail = detail;
	return false;
}

/* Applies one request to a capability MSR value. */
static bool adjust(struct vmx_config *c, u64 cap, const struct ctl_request *r, u32 *out)
{
	u32 must_be_1 = (u32)cap, may_be_1 = (u32)(cap >> 32);
	u32 missing = (r->required | r->toggled) & ~may_be_1;
	if (missing)
		return refuse(c, "this CPU cannot set a VMX control Umbra needs",
			      ctl_name(r->names, missing, r->field));
	u32 stuck = (r->forbidden | r->toggled) & must_be_1;
	if (stuck)
		return refuse(c, "this CPU cannot clear a VMX control whose exits Umbra does not handle",
			      ctl_name(r->names, stuck, r->field));
	*out = must_be_1 | r->required | (r->optional & may_be_1);
	return true;
}

static bool compute_basic(const struct vmx_cap_msrs *m, struct vmx_config *c)
{
	c->revision = (u32)(m->basic & VMX_BASIC_REVISION_MASK);
	u64 size = (m->basic >> VMX_BASIC_REGION_SIZE_SHIFT) & VMX_BASIC_REGION_SIZE_MASK;
	if (size == 0 || size > 4096)
		return refuse(c, "the VMCS region is not at most one page (IA32_VMX_BASIC[44:32])",
			      NULL);
	/* Umbra's frames can be anywhere in RAM (A.1: bit 48). */
	if (m->basic & VMX_BASIC_32BIT_ADDRESSES)
		return refuse(c, "VMXON/VMCS addresses are limited to 32 bits (IA32_VMX_BASIC[48])",
			      NULL);
	/* The VMCS and the bitmaps are ordinary write-back memory here. */
	if (((m->basic >> VMX_BASIC_MEMTYPE_SHIFT) & VMX_BASIC_MEMTYPE_MASK) != MEMTYPE_WB)
		return refuse(c, "the VMCS memory type is not write-back (IA32_VMX_BASIC[53:50])",
			      NULL);
	c->inout_info = m->basic & VMX_BASIC_INOUT_INFO;
	c->exit_saves_lma = m->misc & VMX_MISC_EXIT_SAVES_LMA;
	return true;
}

/* The first reason is the one reported. */
static void no_tdp(struct vmx_config *c, const char *why, const char *detail)
{
	if (!c->tdp)
		return;
	c->tdp = false;
	c->tdp_fallback = why;
	c->tdp_fallback_detail = detail;
}

/* Secondary controls: EPT and unrestricted guest (for VMs with EPT), VPID,
 * RDTSCP, INVPCID. Nothing here is required any more: without EPT every VM
 * runs with shadow paging. */
static void compute_secondary(const struct vmx_cap_msrs *m, struct vmx_config *c)
{
	u32 may_be_1 = c->secondary ? (u32)(m->procbased2 >> 32) : 0;
	u32 must_be_1 = c->secondary ? (u32)m->procbased2 : 0;
	u64 ept = m->ept_vpid_cap;
	c->ept_supported = may_be_1 & PROC2_ENABLE_EPT;
	c->tdp = true;
	/* The reasons that matter most come first, in the words a user needs. */
	if (!c->secondary)
		no_tdp(c, "VT-x without secondary controls has no EPT",
		       "primary: activate secondary controls");
	else if (!c->ept_supported)
		no_tdp(c, "VT-x without EPT", "secondary: enable EPT");
	else if (!(ept & EPT_CAP_WALK_LENGTH_4))
		no_tdp(c, "EPT without 4-level page walks", "IA32_VMX_EPT_VPID_CAP[6]");
	else if (!(ept & EPT_CAP_MEMTYPE_WB))
		no_tdp(c, "EPT structures cannot be write-back", "IA32_VMX_EPT_VPID_CAP[14]");
	else if (!(ept & EPT_CAP_INVEPT) ||
		 !(ept & (EPT_CAP_INVEPT_SINGLE_CONTEXT | EPT_CAP_INVEPT_ALL_CONTEXT)))
		no_tdp(c, "EPT without INVEPT (single- or all-context)",
		       "IA32_VMX_EPT_VPID_CAP[20,25,26]");
	else if (!(may_be_1 & PROC2_UNRESTRICTED_GUEST))
		/* A multiboot guest starts in protected mode with paging off,
		 * which VMX runs with EPT only with unrestricted guest; shadow
		 * paging runs it with paging on. */
		no_tdp(c, "VT-x without unrestricted guest (needed with EPT for guests running "
			  "with paging off)", "secondary: unrestricted guest");
	u32 want = 0;
	if (c->tdp) {
		c->invept_type = (ept & EPT_CAP_INVEPT_SINGLE_CONTEXT) ? INVEPT_TYPE_SINGLE_CONTEXT
								       : INVEPT_TYPE_ALL_CONTEXT;
		c->eptp_flags = EPTP_MEMTYPE_WB | EPTP_WALK_LENGTH_4;
		want |= PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST;
	}
	/* Without these two the instructions raise #UD in the guest even
	 * when CPUID (the host's) advertises them (25.3). */
	want |= may_be_1 & (PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID);
	c->vpid = false;
	if (!(may_be_1 & PROC2_ENABLE_VPID)) {
		c->vpid_fallback = "no VPID: every VM entry and exit flushes the TLB";
	} else if (!(ept & VPID_CAP_INVVPID) ||
		   !(ept & (VPID_CAP_INVVPID_SINGLE_CONTEXT | VPID_CAP_INVVPID_ALL_CONTEXT))) {
		c->vpid_fallback = "VPID without INVVPID: running without VPIDs "
				   "(every VM entry and exit flushes the TLB)";
	} else {
		c->vpid = true;
		c->invvpid_type = (ept & VPID_CAP_INVVPID_SINGLE_CONTEXT)
					  ? INVVPID_TYPE_SINGLE_CONTEXT
					  : INVVPID_TYPE_ALL_CONTEXT;
		want |= PROC2_ENABLE_VPID;
	}
	/* Secondary controls have no default1 bits; honour bits 31:0 anyway. */
	c->proc2 = c->secondary ? must_be_1 | want : 0;
	/* Shadow paging runs with EPT and unrestricted guest off. */
	if (must_be_1 & PROC2_ENABLE_EPT)
		c->shadow_missing = "secondary: enable EPT (cannot be 0)";
	else if (must_be_1 & PROC2_UNRESTRICTED_GUEST)
		c->shadow_missing = "secondary: unrestricted guest (cannot be 0)";
}

static void compute_cr_fixed(const struct vmx_cap_msrs *m, struct vmx_config *c)
{
	/* A.7/A.8: a bit set in FIXED0 must be 1; a bit clear in FIXED1 must
	 * be 0. CR0 and CR4 are 32 bits wide in use; the rest is reserved. */
	c->host_cr0_must1 = m->cr0_fixed0 & LOW32;
	c->host_cr0_must0 = ~m->cr0_fixed1 & LOW32;
	c->host_cr4_must1 = m->cr4_fixed0 & LOW32;
	c->host_cr4_must0 = ~m->cr4_fixed1 & LOW32;
	c->guest_cr0_must1 = c->host_cr0_must1 & ~(CR0_PE | CR0_PG); /* unrestricted guest */
	c->guest_cr0_must0 = c->host_cr0_must0;
	c->guest_cr4_must1 = c->host_cr4_must1;
	c->guest_cr4_must0 = c->host_cr4_must0;
	c->guest_cr0_shadow_only = CR0_CD | CR0_NW;
	/* The guest owns every bit it may set freely; the forced ones are
	 * shadowed so it reads back what it wrote (25.6.6). */
	c->cr0_guest_host_mask = c->guest_cr0_must1 | c->guest_cr0_must0 | c->guest_cr0_shadow_only;
	c->cr4_guest_host_mask = c->guest_cr4_must1 | c->guest_cr4_must0;
}

bool vmx_config_compute(const struct vmx_cap_msrs *m, struct vmx_config *c)
{
	*c = (struct vmx_config){ 0 };
	if (!compute_basic(m, c))
		return false;
	bool true_ctls = m->basic & VMX_BASIC_TRUE_CTLS;

	struct ctl_request pin = {
		.field = "pin-based controls",
		.required = PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING,
		.forbidden = PIN_PREEMPTION_TIMER | PIN_POSTED_INTERRUPTS,
		.names = pin_names,
	};
	if (!adjust(c, true_ctls ? m->true_pinbased : m->pinbased, &pin, &c->pin))
		return false;

	u64 proc_cap = true_ctls ? m->true_procbased : m->procbased;
	c->secondary = (proc_cap >> 32) & PROC_ACTIVATE_SECONDARY_CONTROLS;
	compute_secondary(m, c);

	/* MOV CR8 must not reach the host's TPR: a TPR shadow (virtual-APIC
	 * page) keeps it in the guest, else each access exits (25.3). */
	bool tpr_shadow = (proc_cap >> 32) & PROC_USE_TPR_SHADOW;
	u32 cr8 = PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING;
	struct ctl_request proc = {
		.field = "primary processor-based controls",
		.required = PROC_HLT_EXITING | PROC_USE_TSC_OFFSETTING | PROC_USE_IO_BITMAPS |
			    PROC_USE_MSR_BITMAPS | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING |
			    (c->secondary ? PROC_ACTIVATE_SECONDARY_CONTROLS : 0) |
			    (tpr_shadow ? PROC_USE_TPR_SHADOW : cr8),
		/* CR3-load, CR3-store and INVLPG exiting depend on the VM's
		 * paging (vmx_vm_controls), checked below. */
		.forbidden = PROC_RDTSC_EXITING | PROC_MOV_DR_EXITING |
			     PROC_UNCONDITIONAL_IO_EXITING | PROC_MONITOR_TRAP_FLAG |
			     PROC_PAUSE_EXITING | PROC_NMI_WINDOW_EXITING |
			     (tpr_shadow ? cr8 : 0),
		.toggled = PROC_INTERRUPT_WINDOW_EXITING,
		.names = proc_names,
	};
	if (!adjust(c, proc_cap, &proc, &c->proc))
		return false;
	c->tpr_shadow = tpr_shadow;
	/* With EPT the guest owns CR3 and its TLB (INVLPG): the exits must
	 * be clearable. Shadow paging needs them all. */
	u32 stuck = (u32)proc_cap & PAGING_EXITS, unavailable = PAGING_EXITS & ~(u32)(proc_cap >> 32);
	if (stuck)
		no_tdp(c, "this CPU cannot clear a VMX control that VMs with EPT run without",
		       ctl_name(proc_names, stuck, proc.field));
	if (unavailable && !c->shadow_missing)
		c->shadow_missing = ctl_name(proc_names, unavailable, proc.field);
	c->shadow = !c->shadow_missing;
	c->proc &= ~PAGING_EXITS;

	/* EFER and PAT switching: required for VMs with EPT; shadow paging
	 * does without (Core 2-class VT-x, Bochs bx_generic with vmx=1). */
	struct ctl_request exit = {
		.field = "VM-exit controls",
		.required = EXIT_HOST_ADDRESS_SPACE_SIZE,
		.optional = EXIT_SAVE_DEBUG_CONTROLS | EXIT_EFER_CONTROLS | EXIT_PAT_CONTROLS,
		/* The host takes the interrupt itself once it enables them. */
		.forbidden = EXIT_ACK_INTERRUPT_ON_EXIT | EXIT_LOAD_PERF_GLOBAL_CTRL |
			     EXIT_SAVE_PREEMPTION_TIMER,
		.names = exit_names,
	};
	if (!adjust(c, true_ctls ? m->true_exit : m->exit, &exit, &c->exit))
		return false;

	struct ctl_request entry = {
		.field = "VM-entry controls",
		.optional = ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT,
		.forbidden = ENTRY_TO_SMM | ENTRY_DEACTIVATE_DUAL_MONITOR |
			     ENTRY_LOAD_PERF_GLOBAL_CTRL,
		.toggled = ENTRY_IA32E_MODE_GUEST,
		.names = entry_names,
	};
	if (!adjust(c, true_ctls ? m->true_entry : m->entry, &entry, &c->entry))
		return false;
	/* Saving debug controls without loading them (or the reverse) would
	 * leave DR7 half switched; both are default1 without TRUE MSRs. */
	if (!(c->exit & EXIT_SAVE_DEBUG_CONTROLS) != !(c->entry & ENTRY_LOAD_DEBUG_CONTROLS))
		return refuse(c, "this CPU offers only one of save/load debug controls",
			      "VM-exit: save debug controls / VM-entry: load debug controls");
	/* EFER and PAT are switched by the VMCS with all three controls of
	 * each, or not at all (none is default1, so each can be 0). */
	c->efer_controls = (c->exit & EXIT_EFER_CONTROLS) == EXIT_EFER_CONTROLS &&
			   (c->entry & ENTRY_LOAD_IA32_EFER);
	c->pat_controls = (c->exit & EXIT_PAT_CONTROLS) == EXIT_PAT_CONTROLS &&
			  (c->entry & ENTRY_LOAD_IA32_PAT);
	if (!c->efer_controls) {
		no_tdp(c, "VT-x without load/save of IA32_EFER (needed for VMs with EPT)",
		       ctl_name(exit_names, EXIT_EFER_CONTROLS & ~c->exit, "VM-entry: load IA32_EFER"));
		c->exit &= ~EXIT_EFER_CONTROLS;
		c->entry &= ~ENTRY_LOAD_IA32_EFER;
	}
	if (!c->pat_controls) {
		no_tdp(c, "VT-x without load/save of IA32_PAT (needed for VMs with EPT)",
		       ctl_name(exit_names, EXIT_PAT_CONTROLS & ~c->exit, "VM-entry: load IA32_PAT"));
		c->exit &= ~EXIT_PAT_CONTROLS;
		c->entry &= ~ENTRY_LOAD_IA32_PAT;
	}
	if (!c->tdp && !c->shadow)
		return refuse(c, "VT-x can run guests neither with EPT nor with shadow paging, which "
				 "needs this control", c->shadow_missing);

	compute_cr_fixed(m, c);
	return true;
}

u64 vmx_guest_cr0_real(const struct vmx_config *c, u64 v)
{
	return (v & ~(c->guest_cr0_must0 | c->guest_cr0_shadow_only)) | c->guest_cr0_must1;
}

u64 vmx_guest_cr4_real(const struct vmx_config *c, u64 v)
{
	return (v & ~c->guest_cr4_must0) | c->guest_cr4_must1;
}

u64 vmx_shadow_cr0_real(const struct vmx_config *c, u64 v)
{
	return (v & ~(c->guest_cr0_must0 | c->guest_cr0_shadow_only)) |
	       (c->host_cr0_must1 & ~CR0_PE);
}

u64 vmx_shadow_efer_real(u64 efer)
{
	return (efer & ~EFER_LME) | ((efer & EFER_LMA) ? EFER_LME : 0);
}

bool vmx_shadow_real_mode_controls(const struct vmx_config *c, const struct vmx_vm_controls *shadow,
				   struct vmx_vm_controls *o)
{
	if (!c->tdp || !c->shadow)
		return false;
	*o = *shadow;
	o->proc2 |= c->proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
	o->cr0_must1 = c->guest_cr0_must1;
	o->unrestricted_guest = true;
	return true;
}

bool vmx_vm_controls(const struct vmx_config *c, bool shadow, struct vmx_vm_controls *o)
{
	*o = (struct vmx_vm_controls){ 0 };
	if (shadow ? !c->shadow : !c->tdp)
		return false;
	if (!shadow) {
		/* Only machine checks: the guest handles its own exceptions. */
		o->proc = c->proc;
		o->proc2 = c->proc2;
		o->exception_bitmap = BIT(VEC_MC);
		o->cr0_guest_host_mask = c->cr0_guest_host_mask;
		o->cr4_guest_host_mask = c->cr4_guest_host_mask;
		o->cr0_must1 = c->guest_cr0_must1;
		o->unrestricted_guest = true;
		return true;
	}
	o->proc = c->proc | PAGING_EXITS;
	/* INVPCID off: it raises #UD (25.3) instead of changing TLB entries of
	 * the shadow tables behind Umbra's back. */
	o->proc2 = c->proc2 & ~(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_INVPCID);
	/* Every #PF: with mask = match = 0, bit 14 of the bitmap decides
	 * (25.6.3). */
	o->exception_bitmap = BIT(VEC_MC) | BIT(VEC_PF);
	o->pfec_mask = 0;
	o->pfec_match = 0;
	/* The hardware runs other CR0/CR4 values than the guest sees: every
	 * bit is the host's, reads come from the read shadows. */
	o->cr0_guest_host_mask = ~0ull;
	o->cr4_guest_host_mask = ~0ull;
	o->cr0_must1 = c->host_cr0_must1;
	o->unrestricted_guest = false;
	return true;
}
