/* Control-register accesses that exit (Intel SDM vol. 3, 26.1.3 and 28.2.1
 * table 28-3). The guest owns every CR0/CR4 bit except those VMX forces
 * (CR0.NE, CR4.VMXE, reserved bits: vmx_controls.c), so only a write that
 * changes one of those exits. The write is done here as the CPU would do it
 * (SDM vol. 3, 2.5 and 9.8.5 for the paging-mode switches): the guest's value
 * goes to the read shadow, the forced bits to the real register. Without a
 * TPR shadow, MOV CR8 exits too and goes to the virtual LAPIC's TPR. */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"

#define CR0_TS BIT(3)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR4_PSE BIT(4)
#define CR4_PCIDE BIT(17)
#define CR4_SMEP BIT(20)
#define VEC_GP 13

static u64 guest_cr0(void)
{
	return vmx_cr_guest_view(vmread(VMCS_GUEST_CR0), vmread(VMCS_CR0_READ_SHADOW),
				 vmx_cfg.cr0_guest_host_mask);
}

static u64 guest_cr4(void)
{
	return vmx_cr_guest_view(vmread(VMCS_GUEST_CR4), vmread(VMCS_CR4_READ_SHADOW),
				 vmx_cfg.cr4_guest_host_mask);
}

static bool pae_paging(u64 cr0, u64 cr4, u64 efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* 26.3.2.4: with EPT and PAE paging, VM entry takes the PDPTEs from the
 * VMCS; a MOV to CR0/CR4 that the CPU would have done loads them from
 * guest memory (4.4.1), so the emulated one does too. */
void vmx_load_pdptes(struct vcpu *v)
{
	u64 pdpte[4] = { 0 };
	struct gpa_access mem = guest_mem_access(&v->vm->mem);
	u64 base = vmread(VMCS_GUEST_CR3) & 0xffffffe0ull;
	mem.read(mem.ctx, base, pdpte, sizeof(pdpte));
	for (int i = 0; i < 4; i++)
		vmcs_write(VMCS_GUEST_PDPTE0 + 2 * i, pdpte[i]);
}

/* MOV to CR0. False: #GP. */
static bool guest_write_cr0(struct vcpu *v, u64 val)
{
	u64 old = guest_cr0(), cr4 = guest_cr4();
	u64 efer = vmx_guest_efer(vmx(v)), new_efer = efer;
	if ((val >> 32) || (val & vmx_cfg.guest_cr0_must0))
		return false;
	if (((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
		return false;
	val |= CR0_ET; /* hardwired to 1 on every CPU with VMX */
	/* Paging on with EFER.LME enters IA-32e mode; off leaves it (9.8.5). */
	if (!(old & CR0_PG) && (val & CR0_PG) && (efer & EFER_LME)) {
		if (!(cr4 & CR4_PAE))
			return false;
		new_efer |= EFER_LMA;
	} else if ((old & CR0_PG) && !(val & CR0_PG)) {
		new_efer &= ~EFER_LMA;
	}
	vmcs_write(VMCS_CR0_READ_SHADOW, val);
	vmcs_write(VMCS_GUEST_CR0, vmx_guest_cr0_real(&vmx_cfg, val));
	if (new_efer != efer)
		vmx_set_guest_efer(vmx(v), new_efer);
	if (pae_paging(val, cr4, new_efer) && ((old ^ val) & (CR0_PG | CR0_CD | CR0_NW)))
		vmx_load_pdptes(v);
	return true;
}

/* MOV to CR4. False: #GP (VMXE included: VMX is not offered to guests). */
static bool guest_write_cr4(struct vcpu *v, u64 val)
{
	u64 old = guest_cr4(), cr0 = guest_cr0(), efer = vmx_guest_efer(vmx(v));
	if ((val >> 32) || (val & (vmx_cfg.guest_cr4_must0 | CR4_VMXE)))
		return false;
	if ((efer & EFER_LMA) && !(val & CR4_PAE))
		return false;
	vmcs_write(VMCS_CR4_READ_SHADOW, val);
	vmcs_write(VMCS_GUEST_CR4, vmx_guest_cr4_real(&vmx_cfg, val));
	if (pae_paging(cr0, val, efer) &&
	    ((old ^ val) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_PCIDE | CR4_SMEP)))
		vmx_load_pdptes(v);
	return true;
}

static bool long_mode_64(struct vcpu *v)
{
	return (vmx_guest_efer(vmx(v)) & EFER_LMA) &&
	       (vmread(VMCS_GUEST_ACCESS_RIGHTS(SEG_CS)) & AR_L);
}

/* Current VMCS, interrupts off. Advances RIP, or injects #GP(0). */
void vmx_handle_cr_access(struct vcpu *v, u64 q)
{
	u32 cr = q & CR_QUAL_NUMBER_MASK;
	u32 type = (u32)(q & CR_QUAL_TYPE_MASK) >> CR_QUAL_TYPE_SHIFT;
	u32 reg = (u32)(q & CR_QUAL_GPR_MASK) >> CR_QUAL_GPR_SHIFT;
	bool wide = long_mode_64(v);
	u64 src = wide ? v->gpr[reg] : (u32)v->gpr[reg];
	bool ok = false;
	switch (type) {
	case CR_QUAL_TYPE_MOV_TO_CR:
		if (cr == 0)
			ok = guest_write_cr0(v, src);
		else if (cr == 4)
			ok = guest_write_cr4(v, src);
		else if (cr == 8 && !(src >> 4)) {
			vlapic_set_tpr(&v->lapic, (u32)src << 4); /* CR8 is TPR[7:4] */
			ok = true;
		}
		break;
	case CR_QUAL_TYPE_MOV_FROM_CR:
		if (cr == 8) {
			v->gpr[reg] = (vlapic_get_tpr(&v->lapic) >> 4) & 0xf;
			ok = true;
		}
		break;
	case CR_QUAL_TYPE_CLTS:
		ok = guest_write_cr0(v, guest_cr0() & ~CR0_TS);
		break;
	case CR_QUAL_TYPE_LMSW:
		/* LMSW writes CR0 bits 3:0 but cannot clear PE (vol. 2, LMSW). */
		ok = guest_write_cr0(v, (guest_cr0() & ~0xeull) | ((q >> CR_QUAL_LMSW_SOURCE_SHIFT) & 0xf));
		break;
	}
	if (!ok) {
		vmx_inject(v, INTR_TYPE_HW_EXCEPTION, VEC_GP, true, 0);
		return;
	}
	u64 rip = vmread(VMCS_GUEST_RIP) + vmx(v)->exit_insn_len;
	vmx_set_rip(v, wide ? rip : (u32)rip);
	vmx_clear_interrupt_shadow(v);
}
