/* The fields of a fresh VMCS (Intel SDM vol. 3, chapter 25): VM-execution,
 * exit and entry controls from vmx_cfg, the host state of this CPU, and the
 * guest state of the multiboot entry. All write the current VMCS. */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "boot/layout.h"
#include "kernel/percpu.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_PAT 0x277
#define PAT_POWER_ON 0x0007040600070406ull /* SDM 11.12.4 */
#define DR7_POWER_ON 0x400ull
#define RFLAGS_FIXED1 0x2ull

/* VM-execution, VM-exit and VM-entry control fields (25.6-25.8). The
 * per-VM parts (EPT or shadow paging) come from s->ctl
 * (vmx_vm_controls): with EPT only #MC is intercepted and the guest owns
 * most CR0/CR4 bits; with shadow paging #PF too, and no CR0/CR4 bit. */
void vmcs_setup_controls(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	const struct vmx_config *c = &vmx_cfg;
	const struct vmx_vm_controls *ctl = s->ctl;
	vmcs_write(VMCS_PIN_BASED_CTLS, c->pin);
	vmcs_write(VMCS_PROC_BASED_CTLS, s->proc);
	/* The secondary-control, VPID and EPTP fields exist only on CPUs with
	 * the controls (appendix B). */
	if (c->secondary)
		vmcs_write(VMCS_SECONDARY_PROC_BASED_CTLS, s->proc2);
	if (s->vpid)
		vmcs_write(VMCS_VPID, s->vpid);
	vmcs_write(VMCS_EXCEPTION_BITMAP, ctl->exception_bitmap);
	vmcs_write(VMCS_PF_ERROR_CODE_MASK, ctl->pfec_mask);
	vmcs_write(VMCS_PF_ERROR_CODE_MATCH, ctl->pfec_match);
	vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write(VMCS_IO_BITMAP_A, vmx_io_bitmap_a);
	vmcs_write(VMCS_IO_BITMAP_B, vmx_io_bitmap_b);
	vmcs_write(VMCS_MSR_BITMAP, vmx_msr_bitmap);
	vmcs_write(VMCS_TSC_OFFSET, v->tsc_offset);
	vmcs_write(VMCS_CR0_GUEST_HOST_MASK, ctl->cr0_guest_host_mask);
	vmcs_write(VMCS_CR4_GUEST_HOST_MASK, ctl->cr4_guest_host_mask);
	if (c->tpr_shadow) {
		/* A TPR threshold of 0 never exits (29.1.2). */
		vmcs_write(VMCS_VIRTUAL_APIC_ADDR, s->vapic_pa);
		vmcs_write(VMCS_TPR_THRESHOLD, 0);
	}
	if (s->proc2 & PROC2_ENABLE_EPT)
		vmcs_write(VMCS_EPT_POINTER, s->eptp);
	vmcs_write(VMCS_EXIT_CTLS, c->exit);
	vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_CTLS, c->entry);
	vmcs_write(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write(VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE);
}

static u16 read_selector_ds(void) { u16 s; __asm__ volatile("mov %%ds, %0" : "=r"(s)); return s; }
static u16 read_selector_es(void) { u16 s; __asm__ volatile("mov %%es, %0" : "=r"(s)); return s; }
static u16 read_selector_fs(void) { u16 s; __asm__ volatile("mov %%fs, %0" : "=r"(s)); return s; }
static u16 read_selector_gs(void) { u16 s; __asm__ volatile("mov %%gs, %0" : "=r"(s)); return s; }

static u64 read_idt_base(void)
{
	struct {
		u16 limit;
		u64 base;
	} __packed idtr;
	__asm__ volatile("sidt %0" : "=m"(idtr));
	return idtr.base;
}

/* Host-state area (25.5, checked by 26.2.2-26.2.4): what a VM exit loads.
 * The per-CPU parts (GS base, TSS, GDT) are this CPU's, which is why a VMCS
 * is only used on the CPU it was set up on. Selectors must have RPL and TI
 * 0: the null FS/GS selectors keep their bases from the base fields. HOST_RSP
 * is written by vmx_entry.S, just before each entry. */
void vmcs_setup_host(void)
{
	struct cpu *c = this_cpu();
	vmcs_write(VMCS_HOST_CR0, read_cr0());
	vmcs_write(VMCS_HOST_CR3, read_cr3());
	vmcs_write(VMCS_HOST_CR4, read_cr4());
	vmcs_write(VMCS_HOST_CS_SELECTOR, GDT_KERNEL_CS);
	vmcs_write(VMCS_HOST_SS_SELECTOR, GDT_KERNEL_DS);
	vmcs_write(VMCS_HOST_DS_SELECTOR, read_selector_ds() & ~7u);
	vmcs_write(VMCS_HOST_ES_SELECTOR, read_selector_es() & ~7u);
	vmcs_write(VMCS_HOST_FS_SELECTOR, read_selector_fs() & ~7u);
	vmcs_write(VMCS_HOST_GS_SELECTOR, read_selector_gs() & ~7u);
	vmcs_write(VMCS_HOST_TR_SELECTOR, GDT_TSS);
	vmcs_write(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmcs_write(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE)); /* this CPU's struct cpu */
	vmcs_write(VMCS_HOST_TR_BASE, (u64)(uintptr_t)&c->tss);
	vmcs_write(VMCS_HOST_GDTR_BASE, (u64)(uintptr_t)c->gdt);
	vmcs_write(VMCS_HOST_IDTR_BASE, read_idt_base());
	vmcs_write(VMCS_HOST_SYSENTER_CS, rdmsr(MSR_IA32_SYSENTER_CS));
	vmcs_write(VMCS_HOST_SYSENTER_ESP, rdmsr(MSR_IA32_SYSENTER_ESP));
	vmcs_write(VMCS_HOST_SYSENTER_EIP, rdmsr(MSR_IA32_SYSENTER_EIP));
	/* Only with the controls that load them (appendix B). */
	if (vmx_cfg.efer_controls)
		vmcs_write(VMCS_HOST_IA32_EFER, rdmsr(MSR_EFER));
	if (vmx_cfg.pat_controls)
		vmcs_write(VMCS_HOST_IA32_PAT, rdmsr(MSR_IA32_PAT));
	vmcs_write(VMCS_HOST_RIP, (u64)(uintptr_t)vmx_exit_stub);
}

static void seg_write(enum vseg_index i, u16 sel, u32 ar, u32 limit, u64 base)
{
	vmcs_write(VMCS_GUEST_SELECTOR(i), sel);
	vmcs_write(VMCS_GUEST_ACCESS_RIGHTS(i), ar);
	vmcs_write(VMCS_GUEST_LIMIT(i), limit);
	vmcs_write(VMCS_GUEST_BASE(i), base);
}

/* Guest MSR fields at their power-on values (SDM vol. 3, 10.1.1), written
 * once when the VMCS is set up: INIT does not change them, so a vCPU that
 * starts with INIT-SIPI keeps these. */
void vmcs_setup_guest_power_on(struct vcpu *v)
{
	if (vmx_cfg.pat_controls)
		vmcs_write(VMCS_GUEST_IA32_PAT, PAT_POWER_ON);
	vmx(v)->pat = PAT_POWER_ON;
	vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
}

/* What both resets share: no pending event, no interrupt shadow, EFER 0,
 * debug state at its power-on values, IA-32e mode off. */
static void reset_common(struct vcpu *v, u64 rip)
{
	struct vmx_vcpu *s = vmx(v);
	vmcs_write(VMCS_GUEST_CR3, 0);
	vmcs_write(VMCS_GUEST_DR7, DR7_POWER_ON);
	vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
	vmx_set_guest_efer(s, 0);
	for (int i = 0; vmx_cfg.ept_supported && i < 4; i++)
		vmcs_write(VMCS_GUEST_PDPTE0 + 2 * i, 0);
	vmcs_write(VMCS_GUEST_RIP, rip);
	vmcs_write(VMCS_GUEST_RSP, v->gpr[RSP]);
	s->rsp = v->gpr[RSP];
	vmcs_write(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
	vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, 0);
	s->interruptibility = 0;
	vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vmcs_write(VMCS_ENTRY_CTLS, vmread(VMCS_ENTRY_CTLS) & ~ENTRY_IA32E_MODE_GUEST);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	s->event_info = 0;
	s->cr2 = 0;
	s->flush_pending = true;
}

/* GDTR/IDTR (IVT at 0) and CR0/CR4 of a reset: the guest's CR0 in the read
 * shadow, the real one with VMX's fixed bits, CR4 = 0. */
static void write_reset_tables_and_crs(u32 gdtr_limit, u64 cr0)
{
	vmcs_write(VMCS_GUEST_GDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_GDTR_LIMIT, gdtr_limit);
	vmcs_write(VMCS_GUEST_IDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_IDTR_LIMIT, 0x3ff);
	vmcs_write(VMCS_CR0_READ_SHADOW, cr0);
	vmcs_write(VMCS_GUEST_CR0, vmx_guest_cr0_real(&vmx_cfg, cr0));
	vmcs_write(VMCS_CR4_READ_SHADOW, 0);
	vmcs_write(VMCS_GUEST_CR4, vmx_guest_cr4_real(&vmx_cfg, 0));
}

/* Guest-state area (25.4) for the multiboot v1 entry (multiboot spec 3.2):
 * flat 4 GiB 32-bit code and data, CR0.PE on, paging off, interrupts off.
 * Only unrestricted guest allows CR0.PG=0 with PE=1 (26.3.1.1). The guest
 * sees CR0 = PE|ET and CR4 = 0 through the read shadows; the real registers
 * carry the bits VMX forces (NE, VMXE). Under shadow paging the generic
 * code then loads the real CR0/CR3/CR4 (paging on) before the first entry
 * (vmx_load_shadow_paging); nothing else here needs unrestricted guest. */
void vmcs_setup_guest_protected32(struct vcpu *v, u32 eip)
{
	const u32 code = 0xb | AR_S | AR_P | AR_DB | AR_G; /* execute/read, accessed */
	const u32 data = 0x3 | AR_S | AR_P | AR_DB | AR_G; /* read/write, accessed */
	seg_write(SEG_CS, 0x08, code, 0xffffffff, 0);
	seg_write(SEG_DS, 0x10, data, 0xffffffff, 0);
	seg_write(SEG_ES, 0x10, data, 0xffffffff, 0);
	seg_write(SEG_SS, 0x10, data, 0xffffffff, 0);
	seg_write(SEG_FS, 0x10, data, 0xffffffff, 0);
	seg_write(SEG_GS, 0x10, data, 0xffffffff, 0);
	seg_write(SEG_LDTR, 0, AR_UNUSABLE, 0, 0);
	seg_write(SEG_TR, 0, 0xb | AR_P, 0xffff, 0); /* busy 32-bit TSS, as after reset */
	write_reset_tables_and_crs(0, VMX_RESET_CR0_PROTECTED32);
	vmcs_setup_guest_power_on(v);
	for (int i = 0; i < VMX_SWAPPED_MSRS; i++)
		vmx(v)->swapped_msrs[i] = 0;
	reset_common(v, eip);
}

/* Guest-state area after INIT and a SIPI (SDM vol. 3, 10.1.1 table 10-1,
 * and 9.4.4): real mode at vector:0000, CR0 = CD|NW|ET. INIT leaves the
 * MSRs (PAT, SYSENTER, SYSCALL) alone. The guest's CD/NW live only in the
 * read shadow (vmx_controls.c), so the guest's caches stay on. TR and LDTR
 * get the usable forms VM entry accepts (a busy TSS, an LDT). */
void vmcs_setup_guest_real_mode(struct vcpu *v, u8 vector)
{
	const u32 code = 0xb | AR_S | AR_P; /* execute/read, accessed, 16-bit */
	const u32 data = 0x3 | AR_S | AR_P; /* read/write, accessed */
	seg_write(SEG_CS, (u16)(vector << 8), code, 0xffff, (u64)vector << 12);
	seg_write(SEG_DS, 0, data, 0xffff, 0);
	seg_write(SEG_ES, 0, data, 0xffff, 0);
	seg_write(SEG_SS, 0, data, 0xffff, 0);
	seg_write(SEG_FS, 0, data, 0xffff, 0);
	seg_write(SEG_GS, 0, data, 0xffff, 0);
	seg_write(SEG_LDTR, 0, 0x2 | AR_P, 0xffff, 0);
	seg_write(SEG_TR, 0, 0xb | AR_P, 0xffff, 0);
	write_reset_tables_and_crs(0xffff, VMX_RESET_CR0_REAL);
	reset_common(v, 0);
}
