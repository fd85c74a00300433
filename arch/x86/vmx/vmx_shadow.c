/* VT-x shadow paging (vm->shadow; the decisions are in README.md), Intel SDM
 * vol. 3. The backend ops the generic shadow-paging code calls
 * (shadow_enable, load_shadow_paging, flush_guest_tlb) only record state,
 * possibly on the creating CPU; the next load of the VMCS (vmx_load) writes
 * it: the paging registers the hardware runs, and the guest's view of them
 * in the CR0/CR4 read shadows (25.6.6); the execution controls when the
 * guest goes into or out of real mode, which runs on the VM's EPT p2m with
 * unrestricted guest (segment attributes fixed on the way back, 26.3.1.2).
 * The controls themselves come from vmx_controls.c. */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/log.h"

/* ---- the ops: recorded for the next load -------------------------------- */

/* At vCPU creation, before its VMCS is first loaded: only records the
 * controls, which the first load writes (one CPU per VMCS). */
bool vmx_shadow_enable(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	if (!vmx_cfg.shadow) {
		log_err("vmx: VM %s: this CPU cannot run shadow paging (%s cannot be set)",
			v->vm->name, vmx_cfg.shadow_missing);
		return false;
	}
	if (s->cpu >= 0) {
		log_err("vmx: VM %s vCPU %u: shadow paging must be enabled before the vCPU first "
			"runs", v->vm->name, v->id);
		return false;
	}
	s->shadow = true;
	vmx_use_controls(s, &vmx_shadow_ctl);
	s->pending &= ~VMX_PENDING_EPTP;
	/* Real-mode phases run on the VM's p2m (vmx_shadow_rm_ctl). */
	s->eptp = ept_pointer(v->vm->mem.root);
	/* The view a reset recorded before this call (none: reset state). */
	if (s->pending & VMX_PENDING_RESET)
		s->paging_guest = (struct guest_paging){ .cr0 = VMX_RESET_CR0_PROTECTED32 };
	else if (s->pending & VMX_PENDING_RESET_REAL)
		s->paging_guest = (struct guest_paging){ .cr0 = VMX_RESET_CR0_REAL };
	return true;
}

/* Called on every guest CR0/CR3/CR4/EFER change the generic code emulates,
 * possibly on the creating CPU: recorded, written at the next load. */
void vmx_load_shadow_paging(struct vcpu *v, const struct guest_paging *guest,
			    const struct guest_paging *hw)
{
	struct vmx_vcpu *s = vmx(v);
	const struct vmx_vm_controls *ctl =
		(guest->cr0 & CR0_PE) ? &vmx_shadow_ctl : &vmx_shadow_rm_ctl;
	if (ctl != s->ctl) {
		/* Into or out of real mode (vmx_shadow_real_mode_controls). The
		 * interrupt-window bit of s->proc is kept. */
		u32 window = s->proc & PROC_INTERRUPT_WINDOW_EXITING;
		vmx_use_controls(s, ctl);
		s->proc |= window;
		s->pending |= VMX_PENDING_CONTROLS;
	}
	s->paging_guest = *guest;
	s->paging_hw = *hw;
	s->pending |= VMX_PENDING_PAGING;
}

/* From any CPU. With VPIDs the TLB keeps this vCPU's linear mappings across
 * VM entries and exits, whatever GUEST_CR3 is (29.4.3): INVVPID before the
 * next entry. Without, every VM entry flushes them already. */
void vmx_flush_guest_tlb(struct vcpu *v)
{
	__atomic_store_n(&vmx(v)->flush_pending, true, __ATOMIC_SEQ_CST);
}

/* ---- written at the next load (vmx_load) -------------------------------- */

/* Shadow paging: the registers the hardware runs, and the guest's view in
 * the read shadows. With all CR0/CR4 bits host-owned, the guest reads the
 * read shadows only. "IA-32e mode guest" follows the real EFER.LMA. Without
 * EPT, VM entry loads the PAE PDPTEs from CR3 itself (26.3.2.4). */
void vmx_write_shadow_paging(struct vmx_vcpu *s)
{
	const struct guest_paging *g = &s->paging_guest, *hw = &s->paging_hw;
	vmcs_write(VMCS_CR0_READ_SHADOW, g->cr0);
	vmcs_write(VMCS_CR4_READ_SHADOW, g->cr4);
	if (!(g->cr0 & CR0_PE)) {
		/* Real mode on the EPT p2m with unrestricted guest: the
		 * guest's own registers (no paging to shadow). */
		vmcs_write(VMCS_GUEST_CR0, vmx_guest_cr0_real(&vmx_cfg, g->cr0));
		vmcs_write(VMCS_GUEST_CR4, vmx_guest_cr4_real(&vmx_cfg, g->cr4));
		vmcs_write(VMCS_GUEST_CR3, g->cr3);
		vmx_set_guest_efer(s, g->efer & ~(EFER_LME | EFER_LMA));
		return;
	}
	vmcs_write(VMCS_GUEST_CR0, vmx_shadow_cr0_real(&vmx_cfg, hw->cr0));
	vmcs_write(VMCS_GUEST_CR4, vmx_guest_cr4_real(&vmx_cfg, hw->cr4));
	vmcs_write(VMCS_GUEST_CR3, hw->cr3);
	vmx_set_guest_efer(s, vmx_shadow_efer_real(hw->efer));
}

/*
 * Leaving real mode (unrestricted guest) for shadow paging (no unrestricted
 * guest): the segment registers still hold what real-mode loads left, which
 * the CPU keeps using until the guest reloads them, but which VM entry
 * without unrestricted guest refuses (26.3.1.2): CS must be a code segment,
 * SS writable data, usable ones accessed, DPLs from the selectors' RPL.
 * Only the attributes change, as KVM's fix_pmode_seg does.
 */
static void fix_segments_for_protected_mode(void)
{
	for (int i = SEG_ES; i <= SEG_GS; i++) {
		u32 ar = (u32)vmread(VMCS_GUEST_ACCESS_RIGHTS(i));
		u32 rpl = (u32)vmread(VMCS_GUEST_SELECTOR(i)) & 3;
		if ((ar & AR_UNUSABLE) && i != SEG_CS && i != SEG_SS)
			continue;
		u32 type = ar & AR_TYPE_MASK;
		if (i == SEG_CS)
			type = (type & 8) ? (type | 1) : 0xb;	/* code, readable, accessed */
		else if (i == SEG_SS)
			type = 3;				/* data, writable, accessed */
		else
			type = (type & 8) ? (type | 3) : (type | 1);
		ar = (ar & ~(AR_TYPE_MASK | AR_UNUSABLE | (3u << AR_DPL_SHIFT))) | type | AR_S |
		     AR_P | (rpl << AR_DPL_SHIFT);
		vmcs_write(VMCS_GUEST_ACCESS_RIGHTS(i), ar);
	}
}

/* Execution controls and EPTP after s->ctl changed (vmx_load_shadow_paging). */
void vmx_write_controls(struct vmx_vcpu *s)
{
	if (!s->ctl->unrestricted_guest && (vmread(VMCS_SECONDARY_PROC_BASED_CTLS) &
					    PROC2_UNRESTRICTED_GUEST))
		fix_segments_for_protected_mode();
	vmcs_write(VMCS_PROC_BASED_CTLS, s->proc);
	if (vmx_cfg.secondary)
		vmcs_write(VMCS_SECONDARY_PROC_BASED_CTLS, s->proc2);
	if (s->proc2 & PROC2_ENABLE_EPT)
		vmcs_write(VMCS_EPT_POINTER, s->eptp);
	s->flush_pending = true;
}
