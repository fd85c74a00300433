/* VM-entry failures in words (Intel SDM vol. 3, 26.1-26.4 for the checks,
 * 26.8 for failures after the guest state was checked, 31.4 for the error
 * numbers). VMLAUNCH/VMRESUME can fail in two ways: the instruction fails
 * (control or host-state checks: VMfailValid with an error number), or the
 * entry fails later with an exit whose reason has bit 31 set (guest state,
 * MSR loading, machine check). Either way only that VM stops: the generic
 * code prints a message and calls the dump, which prints the text kept here. */
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "arch/x86/vmx/vmx_guest_check.h"
#include "lib/printf.h"

static const char *const insn_errors[] = {
	[VMXERR_VMCALL_IN_ROOT] = "VMCALL executed in VMX root operation",
	[VMXERR_VMCLEAR_INVALID_ADDRESS] = "VMCLEAR with invalid physical address",
	[VMXERR_VMCLEAR_VMXON_POINTER] = "VMCLEAR with VMXON pointer",
	[VMXERR_VMLAUNCH_NONCLEAR_VMCS] = "VMLAUNCH with non-clear VMCS",
	[VMXERR_VMRESUME_NONLAUNCHED_VMCS] = "VMRESUME with non-launched VMCS",
	[VMXERR_VMRESUME_AFTER_VMXOFF] = "VMRESUME after VMXOFF",
	[VMXERR_ENTRY_INVALID_CONTROL_FIELD] = "VM entry with invalid control field(s)",
	[VMXERR_ENTRY_INVALID_HOST_STATE] = "VM entry with invalid host-state field(s)",
	[VMXERR_VMPTRLD_INVALID_ADDRESS] = "VMPTRLD with invalid physical address",
	[VMXERR_VMPTRLD_VMXON_POINTER] = "VMPTRLD with VMXON pointer",
	[VMXERR_VMPTRLD_INCORRECT_REVISION] = "VMPTRLD with incorrect VMCS revision identifier",
	[VMXERR_UNSUPPORTED_VMCS_COMPONENT] = "VMREAD/VMWRITE from/to unsupported VMCS component",
	[VMXERR_VMWRITE_READ_ONLY_COMPONENT] = "VMWRITE to read-only VMCS component",
	[VMXERR_VMXON_IN_ROOT] = "VMXON executed in VMX root operation",
	[VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS] = "VM entry with invalid executive-VMCS pointer",
	[VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS] = "VM entry with non-launched executive VMCS",
	[VMXERR_ENTRY_EXECUTIVE_VMCS_NOT_VMXON] =
		"VM entry with executive-VMCS pointer not VMXON pointer",
	[VMXERR_VMCALL_NONCLEAR_VMCS] = "VMCALL with non-clear VMCS",
	[VMXERR_VMCALL_INVALID_EXIT_CONTROLS] = "VMCALL with invalid VM-exit control fields",
	[VMXERR_VMCALL_INCORRECT_MSEG_REVISION] = "VMCALL with incorrect MSEG revision identifier",
	[VMXERR_VMXOFF_DUAL_MONITOR] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
	[VMXERR_VMCALL_INVALID_SMM_FEATURES] = "VMCALL with invalid SMM-monitor features",
	[VMXERR_ENTRY_INVALID_EXECUTIVE_CONTROLS] =
		"VM entry with invalid VM-execution control fields in executive VMCS",
	[VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS] = "VM entry with events blocked by MOV SS",
	[VMXERR_INVALID_INVEPT_INVVPID_OPERAND] = "invalid operand to INVEPT/INVVPID",
};

const char *vmx_instruction_error_name(u32 error)
{
	return error < ARRAY_SIZE(insn_errors) && insn_errors[error] ? insn_errors[error]
								    : "unknown VM-instruction error";
}

/* The secondary controls as VM entry sees them: 0 when not activated (the
 * field may not even exist then). Current VMCS. */
static u32 secondary_controls(void)
{
	if (!(vmread(VMCS_PROC_BASED_CTLS) & PROC_ACTIVATE_SECONDARY_CONTROLS))
		return 0;
	return (u32)vmread(VMCS_SECONDARY_PROC_BASED_CTLS);
}

/* Error 7 (26.2.1): Umbra's controls against the capability MSRs, then the
 * entry-event rules (26.2.1.3) that the generic code could break. */
static const char *control_field_hint(void)
{
	u32 proc = (u32)vmread(VMCS_PROC_BASED_CTLS);
	u32 proc2 = secondary_controls();
	const char *why = vmx_check_controls(vmx_cap_msrs(), (u32)vmread(VMCS_PIN_BASED_CTLS),
					     proc, proc2, (u32)vmread(VMCS_EXIT_CTLS),
					     (u32)vmread(VMCS_ENTRY_CTLS));
	if (why)
		return why;
	u32 ev = (u32)vmread(VMCS_ENTRY_INTR_INFO);
	if (ev & INTR_INFO_VALID) {
		u32 type = (ev & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
		if (type == 1 || type == 7 || (type == INTR_TYPE_NMI && (ev & 0xff) != 2))
			return "VM-entry interruption information: bad type or NMI vector";
		if (ev & 0x7ffff000u)
			return "VM-entry interruption information: reserved bits 30:12 set";
		return "VM-entry interruption information / error code / instruction length "
		       "(26.2.1.3)";
	}
	if ((proc2 & PROC2_ENABLE_EPT) && (vmread(VMCS_EPT_POINTER) & 0xfff) != vmx_cfg.eptp_flags)
		return "EPT pointer: memory type or walk length";
	return "no control Umbra checks is wrong; see SDM 26.2.1 (e.g. bitmap addresses, VPID, EPTP)";
}

/* Error 8 (26.2.2-26.2.4): the usual suspects of the host-state area. */
static const char *host_state_hint(void)
{
	const struct vmx_config *c = &vmx_cfg;
	u64 cr0 = vmread(VMCS_HOST_CR0), cr4 = vmread(VMCS_HOST_CR4);
	if ((cr0 & c->host_cr0_must1) != c->host_cr0_must1 || (cr0 & c->host_cr0_must0))
		return "HOST_CR0 breaks IA32_VMX_CR0_FIXED0/1";
	if ((cr4 & c->host_cr4_must1) != c->host_cr4_must1 || (cr4 & c->host_cr4_must0))
		return "HOST_CR4 breaks IA32_VMX_CR4_FIXED0/1";
	if (!(cr4 & CR4_PAE))
		return "HOST_CR4.PAE must be 1 with host address-space size";
	if (!vmread(VMCS_HOST_CS_SELECTOR) || !vmread(VMCS_HOST_TR_SELECTOR))
		return "HOST_CS_SELECTOR and HOST_TR_SELECTOR must not be 0";
	if (vmx_cfg.efer_controls && !(vmread(VMCS_HOST_IA32_EFER) & EFER_LMA))
		return "HOST_IA32_EFER: LMA/LME must be 1 with host address-space size";
	return "host selectors (RPL/TI 0), canonical bases, HOST_RIP (SDM 26.2.2-26.2.4)";
}

/* Reason 33 (26.3.1): Umbra's own checks name the field. */
static void guest_state_hint(struct vmx_vcpu *s, struct vmx_check_failure *f)
{
	struct vmx_guest_state g = {
		.cr0 = vmread(VMCS_GUEST_CR0),
		.cr3 = vmread(VMCS_GUEST_CR3),
		.cr4 = vmread(VMCS_GUEST_CR4),
		.dr7 = vmread(VMCS_GUEST_DR7),
		.efer = vmx_guest_efer(s),
		.pat = vmx_cfg.pat_controls ? vmread(VMCS_GUEST_IA32_PAT) : 0,
		.rflags = vmread(VMCS_GUEST_RFLAGS),
		.rip = vmread(VMCS_GUEST_RIP),
		.entry_ctls = (u32)vmread(VMCS_ENTRY_CTLS),
		.proc2 = secondary_controls(),
		.entry_intr_info = (u32)vmread(VMCS_ENTRY_INTR_INFO),
		.interruptibility = (u32)vmread(VMCS_GUEST_INTERRUPTIBILITY),
		.activity = (u32)vmread(VMCS_GUEST_ACTIVITY_STATE),
		.link_pointer = vmread(VMCS_LINK_POINTER),
		.gdtr_base = vmread(VMCS_GUEST_GDTR_BASE),
		.idtr_base = vmread(VMCS_GUEST_IDTR_BASE),
		.gdtr_limit = (u32)vmread(VMCS_GUEST_GDTR_LIMIT),
		.idtr_limit = (u32)vmread(VMCS_GUEST_IDTR_LIMIT),
	};
	for (int i = 0; i < SEG_COUNT; i++)
		g.seg[i] = (struct vmx_seg_state){
			.sel = (u16)vmread(VMCS_GUEST_SELECTOR(i)),
			.limit = (u32)vmread(VMCS_GUEST_LIMIT(i)),
			.ar = (u32)vmread(VMCS_GUEST_ACCESS_RIGHTS(i)),
			.base = vmread(VMCS_GUEST_BASE(i)),
		};
	bool ept = g.proc2 & PROC2_ENABLE_EPT;
	for (int i = 0; ept && i < 4; i++)
		g.pdpte[i] = vmread(VMCS_GUEST_PDPTE0 + 2 * i);
	if (!vmx_check_guest_state(&vmx_cfg, &g, f))
		return;
	if (!ept && (g.cr0 & CR0_PG) && (g.cr4 & CR4_PAE) &&
	    !(g.entry_ctls & ENTRY_IA32E_MODE_GUEST))
		*f = (struct vmx_check_failure){ "GUEST_CR3 (PAE paging without EPT)",
						 "VM entry loads the 4 PDPTEs from there (26.3.2.4): "
						 "a present one may have reserved bits set" };
	else
		*f = (struct vmx_check_failure){ "(none found)",
						 "Umbra's checks pass; compare the dump with SDM "
						 "26.3.1" };
}

/* Current VMCS. insn_error: the VM-instruction error of a failed
 * VMLAUNCH/VMRESUME (0: VMfailInvalid or an entry-failure exit). */
void vmx_describe_entry_failure(struct vcpu *v, u32 insn_error, u32 reason, u64 qual)
{
	struct vmx_vcpu *s = vmx(v);
	const char *insn = s->launched ? "VMRESUME" : "VMLAUNCH";
	u32 basic = reason & EXIT_REASON_BASIC_MASK;
	struct vmx_check_failure f;
	if (!reason && !insn_error) {
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "%s failed with VMfailInvalid: no current VMCS on this CPU", insn);
	} else if (!reason) {
		const char *hint = insn_error == VMXERR_ENTRY_INVALID_CONTROL_FIELD ? control_field_hint()
				   : insn_error == VMXERR_ENTRY_INVALID_HOST_STATE ? host_state_hint()
				   : NULL;
		umbra_snprintf(s->failure, sizeof(s->failure), "%s failed: VM-instruction error %u, %s%s%s",
			       insn, insn_error, vmx_instruction_error_name(insn_error),
			       hint ? "; check: " : "", hint ? hint : "");
	} else if (basic == EXIT_REASON_INVALID_GUEST_STATE) {
		guest_state_hint(s, &f);
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "VM entry failed: invalid guest state (exit reason 33); check %s: %s",
			       f.field, f.rule);
	} else if (basic == EXIT_REASON_MSR_LOADING) {
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "VM entry failed loading MSR entry %llu of the VM-entry MSR-load area "
			       "(exit reason 34; Umbra uses none: a hypervisor bug)",
			       (unsigned long long)qual);
	} else if (basic == EXIT_REASON_MACHINE_CHECK) {
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "VM entry failed: machine-check event during VM entry (exit reason 41)");
	} else {
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "VM entry failed: exit reason %u (%s) with the entry-failure bit",
			       basic, vmx_exit_reason_name(basic));
	}
}
