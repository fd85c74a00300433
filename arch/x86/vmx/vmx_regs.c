/* VT-x guest registers for the generic code (Intel SDM vol. 3): RIP, RFLAGS,
 * CR2 (not in the VMCS, 28.3), the CPL (SS.DPL, 26.3.1.2), the STI/MOV SS
 * shadow (25.4.2), RSP, segments in the AMD attribute form, the paging
 * registers as the guest sees them (25.6.6; under shadow paging the
 * recorded view), EFER and PAT with or without their VMCS controls
 * (26.3.2.1, 27.5.1), the TSC offset (25.6.5), and the register dump of a
 * stopped vCPU. Every access makes the VMCS current with interrupts off
 * (vmx_read, vmx_write, vmx_load). */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/log.h"

#define EFER_GUEST_ALLOWED (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define AR_TO_SVM(ar) (((ar) & 0xffu) | (((ar) >> 4) & 0xf00u))

u64 vmx_get_rip(struct vcpu *v) { return vmx_read(v, VMCS_GUEST_RIP); }
void vmx_set_rip(struct vcpu *v, u64 rip) { vmx_write(v, VMCS_GUEST_RIP, rip); }
u64 vmx_get_rflags(struct vcpu *v) { return vmx_read(v, VMCS_GUEST_RFLAGS); }
void vmx_set_rflags(struct vcpu *v, u64 f) { vmx_write(v, VMCS_GUEST_RFLAGS, f | 2); }

/* Loaded into the real CR2 before the next entry (vmx_vcpu_run). */
void vmx_set_cr2(struct vcpu *v, u64 cr2) { vmx(v)->cr2 = cr2; }

/* VM entry requires CPL = SS.DPL (26.3.1.2), so SS.DPL is the CPL. */
u8 vmx_get_cpl(struct vcpu *v)
{
	return (vmx_read(v, VMCS_GUEST_ACCESS_RIGHTS(SEG_SS)) >> AR_DPL_SHIFT) & 3;
}

/* An instruction Umbra completed for the guest ends the STI / MOV SS
 * shadow it was in (SDM vol. 3, 6.8.3; 25.4.2 interruptibility state). */
void vmx_clear_interrupt_shadow(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	if (s->interruptibility & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) {
		s->interruptibility &= ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
		vmx_write(v, VMCS_GUEST_INTERRUPTIBILITY, s->interruptibility);
	}
}

/* RSP is mirrored into v->gpr[RSP] at every exit and written back before
 * the next entry when it changed; these two are for callers outside. */
void vmx_sync_gprs_in(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	s->rsp = v->gpr[RSP] = vmx_read(v, VMCS_GUEST_RSP);
}

void vmx_sync_gprs_out(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	vmx_write(v, VMCS_GUEST_RSP, v->gpr[RSP]);
	s->rsp = v->gpr[RSP];
}

void vmx_get_seg(struct vcpu *v, enum vseg_index i, struct vseg *out)
{
	unsigned long f = irq_save();
	vmx_load(v);
	u32 ar = (u32)vmread(VMCS_GUEST_ACCESS_RIGHTS(i));
	out->sel = (u16)vmread(VMCS_GUEST_SELECTOR(i));
	out->limit = (u32)vmread(VMCS_GUEST_LIMIT(i));
	out->base = vmread(VMCS_GUEST_BASE(i));
	irq_restore(f);
	/* An unusable segment reads as not present in the AMD form. */
	out->attr = (u16)AR_TO_SVM(ar & AR_UNUSABLE ? ar & ~AR_P : ar);
}

/* The guest's view of CR0/CR4: its own bits from the real register, the
 * host-owned ones from the read shadow (25.6.6). */
void vmx_get_paging(struct vcpu *v, u64 *cr0, u64 *cr3, u64 *cr4, u64 *efer)
{
	struct vmx_vcpu *s = vmx(v);
	if (s->shadow) {
		/* The guest's view: what the read shadows hold, and its CR3. */
		*cr0 = s->paging_guest.cr0;
		*cr3 = s->paging_guest.cr3;
		*cr4 = s->paging_guest.cr4;
		*efer = s->paging_guest.efer;
		return;
	}
	unsigned long f = irq_save();
	vmx_load(v);
	*cr0 = vmx_cr_guest_view(vmread(VMCS_GUEST_CR0), vmread(VMCS_CR0_READ_SHADOW),
				 vmx_cfg.cr0_guest_host_mask);
	*cr4 = vmx_cr_guest_view(vmread(VMCS_GUEST_CR4), vmread(VMCS_CR4_READ_SHADOW),
				 vmx_cfg.cr4_guest_host_mask);
	*cr3 = vmread(VMCS_GUEST_CR3);
	*efer = vmx_guest_efer(vmx(v));
	irq_restore(f);
}

u64 vmx_get_efer(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	if (s->shadow)
		return s->paging_guest.efer;
	unsigned long f = irq_save();
	vmx_load(v);
	u64 efer = vmx_guest_efer(s);
	irq_restore(f);
	return efer;
}

u64 vmx_guest_efer(struct vmx_vcpu *s)
{
	return vmx_cfg.efer_controls ? vmread(VMCS_GUEST_IA32_EFER) : s->efer;
}

void vmx_set_guest_efer(struct vmx_vcpu *s, u64 efer)
{
	if (vmx_cfg.efer_controls)
		vmcs_write(VMCS_GUEST_IA32_EFER, efer);
	else
		s->efer = efer;
	vmx_sync_ia32e_mode(s);
}

/* "IA-32e mode guest" must equal EFER.LMA at entry (26.3.1.1); without
 * "load IA32_EFER" it sets LMA (and LME, with CR0.PG=1) itself (26.3.2.1).
 * Exits keep it right when VMX_MISC bit 5 says so; otherwise after each
 * exit, and whenever Umbra changes LMA itself. Current VMCS, interrupts
 * off. */
void vmx_sync_ia32e_mode(struct vmx_vcpu *s)
{
	u64 efer = vmx_guest_efer(s);
	u32 entry = (u32)vmread(VMCS_ENTRY_CTLS);
	u32 want = (efer & EFER_LMA) ? entry | ENTRY_IA32E_MODE_GUEST
				     : entry & ~ENTRY_IA32E_MODE_GUEST;
	if (want != entry)
		vmcs_write(VMCS_ENTRY_CTLS, want);
}

bool vmx_set_efer(struct vcpu *v, u64 efer)
{
	if (efer & ~EFER_GUEST_ALLOWED)
		return false;
	struct vmx_vcpu *s = vmx(v);
	if (s->shadow) {
		/* The generic shadow-paging code normally loads EFER with the
		 * other paging registers; this keeps LMA, as below. */
		struct guest_paging g = s->paging_guest, hw = s->paging_hw;
		g.efer = (efer & ~EFER_LMA) | (g.efer & EFER_LMA);
		hw.efer = (efer & ~EFER_LMA) | (hw.efer & EFER_LMA);
		if (s->pending & VMX_PENDING_PAGING) {
			vmx_load_shadow_paging(v, &g, &hw);
			return true;
		}
		s->paging_guest = g;
		s->paging_hw.efer = hw.efer;
		unsigned long f = irq_save();
		vmx_load(v);
		vmx_set_guest_efer(s, vmx_shadow_efer_real(hw.efer));
		irq_restore(f);
		return true;
	}
	unsigned long f = irq_save();
	vmx_load(v);
	/* LMA is the CPU's to set (when paging turns on with LME). */
	u64 old = vmx_guest_efer(s);
	vmx_set_guest_efer(s, (efer & ~EFER_LMA) | (old & EFER_LMA));
	irq_restore(f);
	return true;
}

/* Without the PAT controls (shadow paging only) the guest's PAT is kept but
 * the host's stays in effect: memory types are then those of the host's
 * PAT for the PAT/PCD/PWT bits of the shadow entries. */
u64 vmx_get_pat(struct vcpu *v)
{
	return vmx_cfg.pat_controls ? vmx_read(v, VMCS_GUEST_IA32_PAT) : vmx(v)->pat;
}

void vmx_set_pat(struct vcpu *v, u64 pat)
{
	if (vmx_cfg.pat_controls)
		vmx_write(v, VMCS_GUEST_IA32_PAT, pat);
	else
		vmx(v)->pat = pat;
}

/* With "use TSC offsetting" RDTSC and IA32_TSC reads in the guest return
 * the host TSC plus this offset (25.6.5). */
void vmx_set_tsc_offset(struct vcpu *v, u64 off) { vmx_write(v, VMCS_TSC_OFFSET, off); }

/* ---- the register dump of a stopped vCPU -------------------------------- */

void vmx_dump(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	u64 cr0, cr3, cr4, efer;
	struct vseg cs, ss;
	vmx_get_paging(v, &cr0, &cr3, &cr4, &efer);
	vmx_get_seg(v, SEG_CS, &cs);
	vmx_get_seg(v, SEG_SS, &ss);
	log_err("  RIP %016llx RSP %016llx RFLAGS %016llx CPL %u",
		(unsigned long long)vmx_get_rip(v), (unsigned long long)v->gpr[RSP],
		(unsigned long long)vmx_get_rflags(v), (ss.attr >> 5) & 3);
	log_err("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx",
		(unsigned long long)v->gpr[RAX], (unsigned long long)v->gpr[RBX],
		(unsigned long long)v->gpr[RCX], (unsigned long long)v->gpr[RDX]);
	log_err("  RSI %016llx RDI %016llx RBP %016llx",
		(unsigned long long)v->gpr[RSI], (unsigned long long)v->gpr[RDI],
		(unsigned long long)v->gpr[RBP]);
	log_err("  CR0 %016llx CR2 %016llx CR3 %016llx CR4 %016llx EFER %llx",
		(unsigned long long)cr0, (unsigned long long)s->cr2, (unsigned long long)cr3,
		(unsigned long long)cr4, (unsigned long long)efer);
	log_err("  real CR0 %llx CR4 %llx, entry controls %#llx, interruptibility %#x",
		(unsigned long long)vmx_read(v, VMCS_GUEST_CR0),
		(unsigned long long)vmx_read(v, VMCS_GUEST_CR4),
		(unsigned long long)vmx_read(v, VMCS_ENTRY_CTLS), s->interruptibility);
	if (s->shadow) {
		unsigned long f = irq_save();
		vmx_load(v);
		u64 real_cr3 = vmread(VMCS_GUEST_CR3), real_efer = vmx_guest_efer(s);
		irq_restore(f);
		log_err("  shadow paging: real CR3 %llx EFER %llx", (unsigned long long)real_cr3,
			(unsigned long long)real_efer);
	}
	log_err("  CS %04x base %llx limit %x attr %03x  IDTR base %llx limit %llx",
		cs.sel, (unsigned long long)cs.base, cs.limit, cs.attr,
		(unsigned long long)vmx_read(v, VMCS_GUEST_IDTR_BASE),
		(unsigned long long)vmx_read(v, VMCS_GUEST_IDTR_LIMIT));
	/* No exit yet when the first VMLAUNCH itself failed. */
	if (s->launched || (s->exit_reason & EXIT_REASON_ENTRY_FAILURE))
		log_err("  last exit reason %u (%s%s), qualification %#llx",
			s->exit_reason & EXIT_REASON_BASIC_MASK,
			vmx_exit_reason_name(s->exit_reason & EXIT_REASON_BASIC_MASK),
			(s->exit_reason & EXIT_REASON_ENTRY_FAILURE) ? ", VM-entry failure" : "",
			(unsigned long long)s->exit_qual);
	if (s->failure[0])
		log_err("  %s", s->failure);
}
