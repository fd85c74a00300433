/* Intel VT-x backend (Intel SDM vol. 3, chapters 24-31): VMX operation on each
 * CPU, one VMCS per vCPU, the VM-entry loop, and the register accessors the
 * generic code uses. Exits are decoded in vmx_exit.c, control values come
 * from vmx_controls.c, VMCS contents from vmx_vmcs_setup.c.
 *
 * A VMCS is active on one CPU at a time (25.1) and holds that CPU's host
 * state, and vCPU threads never migrate (kernel/sched.h): each VMCS is set up
 * on the first CPU that loads it and used only there. The generic code
 * creates vCPUs on another CPU, so creation only records state (reset,
 * EPT root) that the first load on the vCPU's own CPU writes. Because
 * another vCPU thread on the same CPU may load its VMCS whenever this thread
 * is preempted, every VMCS access makes the VMCS current first, with
 * interrupts off (vmx_load). */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"

#define FEATURE_CONTROL_LOCK BIT(0)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX BIT(2)
#define EFER_GUEST_ALLOWED (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define CR0_PE_BIT BIT(0)
#define VAPIC_VTPR 0x80 /* offset of VTPR in the virtual-APIC page (29.1) */
#define AR_TO_SVM(ar) (((ar) & 0xffu) | (((ar) >> 4) & 0xf00u))

struct vmx_config vmx_cfg;
struct vmx_vm_controls vmx_tdp_ctl, vmx_shadow_ctl, vmx_shadow_rm_ctl;
static struct vmx_cap_msrs vmx_caps;
static bool global_ok;
static paddr_t vmxon_region[MAX_CPUS];
static bool vmx_on[MAX_CPUS];
static u64 cpu_efer[MAX_CPUS]; /* without the EFER controls: EFER as last written */
static struct vmx_vcpu *current_vmcs[MAX_CPUS];

/* ---- machine-wide setup ------------------------------------------------- */

static void read_caps(struct vmx_cap_msrs *m)
{
	memset(m, 0, sizeof(*m));
	rdmsr_safe(MSR_IA32_VMX_BASIC, &m->basic);
	rdmsr_safe(MSR_IA32_VMX_PINBASED_CTLS, &m->pinbased);
	rdmsr_safe(MSR_IA32_VMX_PROCBASED_CTLS, &m->procbased);
	rdmsr_safe(MSR_IA32_VMX_EXIT_CTLS, &m->exit);
	rdmsr_safe(MSR_IA32_VMX_ENTRY_CTLS, &m->entry);
	rdmsr_safe(MSR_IA32_VMX_MISC, &m->misc);
	rdmsr_safe(MSR_IA32_VMX_CR0_FIXED0, &m->cr0_fixed0);
	rdmsr_safe(MSR_IA32_VMX_CR0_FIXED1, &m->cr0_fixed1);
	rdmsr_safe(MSR_IA32_VMX_CR4_FIXED0, &m->cr4_fixed0);
	rdmsr_safe(MSR_IA32_VMX_CR4_FIXED1, &m->cr4_fixed1);
	if (m->basic & VMX_BASIC_TRUE_CTLS) {
		rdmsr_safe(MSR_IA32_VMX_TRUE_PINBASED_CTLS, &m->true_pinbased);
		rdmsr_safe(MSR_IA32_VMX_TRUE_PROCBASED_CTLS, &m->true_procbased);
		rdmsr_safe(MSR_IA32_VMX_TRUE_EXIT_CTLS, &m->true_exit);
		rdmsr_safe(MSR_IA32_VMX_TRUE_ENTRY_CTLS, &m->true_entry);
	}
	if ((m->procbased >> 32) & PROC_ACTIVATE_SECONDARY_CONTROLS)
		rdmsr_safe(MSR_IA32_VMX_PROCBASED_CTLS2, &m->procbased2);
	if ((m->procbased2 >> 32) & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID))
		rdmsr_safe(MSR_IA32_VMX_EPT_VPID_CAP, &m->ept_vpid_cap);
}

static bool vmx_global_init(void)
{
	read_caps(&vmx_caps);
	if (!vmx_config_compute(&vmx_caps, &vmx_cfg)) {
		log_err("vmx: cannot run guests: %s%s%s", vmx_cfg.refusal,
			vmx_cfg.refusal_detail ? " -- " : "",
			vmx_cfg.refusal_detail ? vmx_cfg.refusal_detail : "");
		if (vmx_cfg.tdp_fallback)
			log_err("vmx: no EPT either: %s -- %s", vmx_cfg.tdp_fallback,
				vmx_cfg.tdp_fallback_detail);
		return false;
	}
	const struct vmx_config *c = &vmx_cfg;
	vmx_vm_controls(c, false, &vmx_tdp_ctl);
	vmx_vm_controls(c, true, &vmx_shadow_ctl);
	/* Real mode under shadow paging runs on the EPT p2m, or not at all. */
	virt_shadow_real_mode = vmx_shadow_real_mode_controls(c, &vmx_shadow_ctl, &vmx_shadow_rm_ctl)
					? SHADOW_REAL_MODE_TDP : SHADOW_REAL_MODE_NONE;
	/* The capability MSRs decide whether EPT VMs can run at all (INVEPT,
	 * write-back, EFER/PAT switching...), more than the CPUID-level view
	 * virt_backend_select() had. */
	virt_has_tdp = c->tdp;
	const char *vpid = c->vpid ? (c->invvpid_type == INVVPID_TYPE_SINGLE_CONTEXT
					      ? "yes (INVVPID single-context)"
					      : "yes (INVVPID all-context)")
				   : "no";
	if (c->tdp) {
		log_info("vmx: controls pin %#x proc %#x proc2 %#x exit %#x entry %#x; CR0 mask "
			 "%#llx, CR4 mask %#llx", c->pin, c->proc, c->proc2, c->exit, c->entry,
			 (unsigned long long)c->cr0_guest_host_mask,
			 (unsigned long long)c->cr4_guest_host_mask);
		log_info("vmx: EPT (INVEPT %s-context), VPID %s, unrestricted guest, TPR shadow %s",
			 c->invept_type == INVEPT_TYPE_SINGLE_CONTEXT ? "single" : "all", vpid,
			 c->tpr_shadow ? "yes" : "no");
	} else {
		log_info("vmx: controls pin %#x exit %#x entry %#x", c->pin, c->exit, c->entry);
		log_info("vmx: every VM runs with shadow paging: %s (%s). VPID %s, TPR shadow %s, "
			 "EFER/PAT switching %s/%s", c->tdp_fallback, c->tdp_fallback_detail, vpid,
			 c->tpr_shadow ? "yes" : "no", c->efer_controls ? "yes" : "no",
			 c->pat_controls ? "yes" : "no");
	}
	if (c->shadow)
		log_info("vmx: shadow paging: proc %#x proc2 %#x, exceptions %#x, PFEC mask/match "
			 "%#x/%#x, CR0 mask %#llx, CR4 mask %#llx, real CR0 must-1 %#llx",
			 vmx_shadow_ctl.proc, vmx_shadow_ctl.proc2, vmx_shadow_ctl.exception_bitmap,
			 vmx_shadow_ctl.pfec_mask, vmx_shadow_ctl.pfec_match,
			 (unsigned long long)vmx_shadow_ctl.cr0_guest_host_mask,
			 (unsigned long long)vmx_shadow_ctl.cr4_guest_host_mask,
			 (unsigned long long)vmx_shadow_ctl.cr0_must1);
	else
		log_warn("vmx: no shadow paging (%s cannot be set): every VM runs with EPT",
			 c->shadow_missing);
	if (c->vpid_fallback)
		log_warn("vmx: %s", c->vpid_fallback);
	if (!vmx_bitmaps_init()) {
		log_err("vmx: out of memory for the I/O and MSR bitmaps");
		return false;
	}
	return true;
}

/* IA32_FEATURE_CONTROL (SDM vol. 3, 24.7): VMXON outside SMX needs bit 2
 * and the lock bit 0. Firmware normally locks it; if it did not, Umbra
 * enables VMX and locks it (as firmware would). */
static bool feature_control_enable(u32 cpu)
{
	u64 fc;
	if (!rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &fc)) {
		log_err("vmx: CPU %u: IA32_FEATURE_CONTROL cannot be read", cpu);
		return false;
	}
	if (!(fc & FEATURE_CONTROL_LOCK)) {
		wrmsr(MSR_IA32_FEATURE_CONTROL,
		      fc | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK);
		if (cpu == 0)
			log_info("vmx: IA32_FEATURE_CONTROL was unlocked: VMX enabled and locked");
		return true;
	}
	if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
		log_err("vmx: CPU %u: VT-x is disabled by the firmware (IA32_FEATURE_CONTROL "
			"%#llx is locked with VMX off); enable Intel Virtualization Technology in "
			"the firmware setup", cpu, (unsigned long long)fc);
		return false;
	}
	return true;
}

static bool vmx_cpu_enable(void)
{
	u32 cpu = this_cpu_index();
	if (cpu == 0)
		global_ok = vmx_global_init();
	if (!global_ok || !feature_control_enable(cpu))
		return false;
	if (!vmxon_region[cpu]) {
		vmxon_region[cpu] = frame_alloc_zeroed(0);
		if (vmxon_region[cpu] == FRAME_NONE) {
			vmxon_region[cpu] = 0;
			log_err("vmx: CPU %u: out of memory for the VMXON region", cpu);
			return false;
		}
	}
	/* 24.11.5: the VMXON region starts with the VMCS revision identifier. */
	*(u32 *)phys_to_virt(vmxon_region[cpu]) = vmx_cfg.revision;
	/* 24.8: CR0 and CR4 must respect the fixed bits (CR4.VMXE among them). */
	const struct vmx_config *c = &vmx_cfg;
	write_cr0((read_cr0() | c->host_cr0_must1) & ~c->host_cr0_must0);
	write_cr4(((read_cr4() | c->host_cr4_must1 | CR4_VMXE) & ~c->host_cr4_must0));
	if (!vmxon(vmxon_region[cpu])) {
		write_cr4(read_cr4() & ~CR4_VMXE);
		log_err("vmx: CPU %u: VMXON failed (CR0 %#llx CR4 %#llx)", cpu,
			(unsigned long long)read_cr0(), (unsigned long long)read_cr4());
		return false;
	}
	vmx_on[cpu] = true;
	cpu_efer[cpu] = rdmsr(MSR_EFER);
	/* Nothing cached from before VMXON (firmware, a previous kernel) may
	 * tag the VPIDs and EPTPs Umbra hands out. */
	if (vmx_caps.ept_vpid_cap & EPT_CAP_INVEPT_ALL_CONTEXT)
		invept(INVEPT_TYPE_ALL_CONTEXT, 0);
	if (c->vpid && (vmx_caps.ept_vpid_cap & VPID_CAP_INVVPID_ALL_CONTEXT))
		invvpid(INVVPID_TYPE_ALL_CONTEXT, 0);
	return true;
}

/* Leaves VMX operation on this CPU (power-off). VMXOFF does not need the
 * active VMCSs cleared; their contents no longer matter. */
static void vmx_cpu_disable(void)
{
	u32 cpu = this_cpu_index();
	if (!vmx_on[cpu])
		return;
	vmxoff();
	write_cr4(read_cr4() & ~CR4_VMXE);
	vmx_on[cpu] = false;
	current_vmcs[cpu] = NULL;
	log_debug("vmx: CPU %u left VMX operation", cpu);
}

/* ---- VMCS access -------------------------------------------------------- */

void vmcs_write(u64 field, u64 value)
{
	if (!vmwrite(field, value))
		panic("vmx: VMWRITE of field %#llx = %#llx failed: %s", (unsigned long long)field,
		      (unsigned long long)value,
		      vmx_instruction_error_name((u32)vmread(VMCS_VM_INSTRUCTION_ERROR)));
}

/* Shadow paging: the registers the hardware runs, and the guest's view in
 * the read shadows. With all CR0/CR4 bits host-owned, the guest reads the
 * read shadows only. "IA-32e mode guest" follows the real EFER.LMA. Without
 * EPT, VM entry loads the PAE PDPTEs from CR3 itself (26.3.2.4). */
static void write_shadow_paging(struct vmx_vcpu *s)
{
	const struct paging_regs *g = &s->paging_guest, *hw = &s->paging_hw;
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
static void write_controls(struct vmx_vcpu *s)
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

static void apply_pending(struct vcpu *v, struct vmx_vcpu *s, u32 cpu)
{
	if (s->pending & VMX_PENDING_RESET) {
		vmcs_setup_guest_protected32(v, s->reset_eip);
		vmx_guest_msrs_forget(cpu, s); /* the next entry loads the reset values */
	}
	if (s->pending & VMX_PENDING_RESET_REAL)
		vmcs_setup_guest_real_mode(v, s->reset_vector);
	if (s->pending & VMX_PENDING_CONTROLS)
		write_controls(s);
	if (s->pending & VMX_PENDING_PAGING)
		write_shadow_paging(s);
	if ((s->pending & VMX_PENDING_EPTP) && (s->proc2 & PROC2_ENABLE_EPT)) {
		vmcs_write(VMCS_EPT_POINTER, s->eptp);
		s->flush_pending = true;
	}
	s->pending = 0;
}

struct vmx_vcpu *vmx_load(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	u32 cpu = this_cpu_index();
	if (current_vmcs[cpu] != s) {
		if (s->cpu >= 0 && (u32)s->cpu != cpu)
			panic("vmx: VM %s vCPU %u: VMCS active on CPU %d used on CPU %u",
			      v->vm->name, v->id, s->cpu, cpu);
		if (!vmptrld(s->vmcs_pa))
			panic("vmx: VMPTRLD %#llx failed on CPU %u",
			      (unsigned long long)s->vmcs_pa, cpu);
		current_vmcs[cpu] = s;
		if (s->cpu < 0) {
			vmcs_setup_controls(v);
			vmcs_setup_host();
			vmcs_setup_guest_power_on(v);
			s->cpu = (int)cpu;
			s->flush_pending = true;
		}
	}
	if (unlikely(s->pending))
		apply_pending(v, s, cpu);
	return s;
}

u64 vmx_read(struct vcpu *v, u64 field)
{
	unsigned long f = irq_save();
	vmx_load(v);
	u64 value = vmread(field);
	irq_restore(f);
	return value;
}

void vmx_write(struct vcpu *v, u64 field, u64 value)
{
	unsigned long f = irq_save();
	vmx_load(v);
	vmcs_write(field, value);
	irq_restore(f);
}

/* ---- vCPU lifetime ------------------------------------------------------ */

static void use_controls(struct vmx_vcpu *s, const struct vmx_vm_controls *ctl)
{
	s->ctl = ctl;
	s->proc = ctl->proc;
	s->proc2 = s->vpid ? ctl->proc2 : ctl->proc2 & ~PROC2_ENABLE_VPID;
}

static int vmx_vcpu_create(struct vcpu *v)
{
	struct vmx_vcpu *s = kzalloc(sizeof(*s));
	if (!s)
		return -1;
	v->arch = s;
	s->cpu = -1;
	s->vmcs_pa = frame_alloc_zeroed(0);
	if (s->vmcs_pa == FRAME_NONE) {
		s->vmcs_pa = 0;
		return -1;
	}
	if (vmx_cfg.tpr_shadow) {
		s->vapic_pa = frame_alloc_zeroed(0);
		if (s->vapic_pa == FRAME_NONE) {
			s->vapic_pa = 0;
			return -1;
		}
	}
	/* 25.2: the revision identifier first; VMCLEAR makes the new VMCS
	 * "clear" so its first entry is a VMLAUNCH (25.11.3). */
	*(u32 *)phys_to_virt(s->vmcs_pa) = vmx_cfg.revision;
	if (!vmclear(s->vmcs_pa))
		return -1;
	if (vmx_cfg.vpid)
		s->vpid = vmx_vpid_alloc();
	/* EPT when the CPU can; shadow_enable switches to shadow paging
	 * (required without EPT: vmx_vcpu_run refuses otherwise). */
	use_controls(s, vmx_cfg.tdp ? &vmx_tdp_ctl : &vmx_shadow_ctl);
	return 0;
}

/* On the CPU where the VMCS is active: write it back and forget it. */
static void unload_on_cpu(void *arg)
{
	struct vmx_vcpu *s = arg;
	u32 cpu = this_cpu_index();
	vmclear(s->vmcs_pa);
	if (current_vmcs[cpu] == s)
		current_vmcs[cpu] = NULL;
	vmx_guest_msrs_forget(cpu, s);
	s->cpu = -1;
}

static void vmx_vcpu_destroy(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	if (!s)
		return;
	if (s->cpu >= 0)
		smp_call((u32)s->cpu, unload_on_cpu, s);
	if (s->vmcs_pa)
		frame_free(s->vmcs_pa, 0);
	if (s->vapic_pa)
		frame_free(s->vapic_pa, 0);
	vmx_vpid_free(s->vpid);
	kfree(s);
	v->arch = NULL;
}

/* Resets are applied at the next load of the VMCS, on the vCPU's own CPU.
 * Under shadow paging they leave the hardware's CR0 (paging off), which VMX
 * cannot run without unrestricted guest: the generic code loads the shadow
 * paging registers (load_shadow_paging) before the next entry, and a
 * paging load recorded before the reset no longer counts. */
static void reset_shadow_view(struct vmx_vcpu *s, u64 cr0)
{
	if (!s->shadow)
		return;
	s->paging_guest = (struct paging_regs){ .cr0 = cr0 };
	s->pending &= ~VMX_PENDING_PAGING;
}

static void vmx_vcpu_reset_protected32(struct vcpu *v, u32 eip)
{
	struct vmx_vcpu *s = vmx(v);
	s->reset_eip = eip;
	s->pending = (s->pending & ~VMX_PENDING_RESET_REAL) | VMX_PENDING_RESET;
	reset_shadow_view(s, VMX_RESET_CR0_PROTECTED32);
}

static void vmx_vcpu_reset_real_mode(struct vcpu *v, u8 vector)
{
	struct vmx_vcpu *s = vmx(v);
	s->reset_vector = vector;
	s->pending = (s->pending & ~VMX_PENDING_RESET) | VMX_PENDING_RESET_REAL;
	reset_shadow_view(s, VMX_RESET_CR0_REAL);
}

/* Shadow-paging VMs have no EPT (the field may not even exist): their
 * guest_mem tables are only Umbra's p2m. */
static void vmx_set_tdp_root(struct vcpu *v, paddr_t root)
{
	struct vmx_vcpu *s = vmx(v);
	s->eptp = ept_pointer(root);
	if (!s->shadow)
		s->pending |= VMX_PENDING_EPTP;
}

/* ---- shadow paging ------------------------------------------------------ */

/* At vCPU creation, before its VMCS is first loaded: only records the
 * controls, which the first load writes (one CPU per VMCS). */
static bool vmx_shadow_enable(struct vcpu *v)
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
	use_controls(s, &vmx_shadow_ctl);
	s->pending &= ~VMX_PENDING_EPTP;
	/* Real-mode phases run on the VM's p2m (vmx_shadow_rm_ctl). */
	s->eptp = ept_pointer(v->vm->mem.root);
	/* The view a reset recorded before this call (none: reset state). */
	if (s->pending & VMX_PENDING_RESET)
		s->paging_guest = (struct paging_regs){ .cr0 = VMX_RESET_CR0_PROTECTED32 };
	else if (s->pending & VMX_PENDING_RESET_REAL)
		s->paging_guest = (struct paging_regs){ .cr0 = VMX_RESET_CR0_REAL };
	return true;
}

/* Called on every guest CR0/CR3/CR4/EFER change the generic code emulates,
 * possibly on the creating CPU: recorded, written at the next load. */
static void vmx_load_shadow_paging(struct vcpu *v, const struct paging_regs *guest,
				   const struct paging_regs *hw)
{
	struct vmx_vcpu *s = vmx(v);
	const struct vmx_vm_controls *ctl =
		(guest->cr0 & CR0_PE) ? &vmx_shadow_ctl : &vmx_shadow_rm_ctl;
	if (ctl != s->ctl) {
		/* Into or out of real mode (vmx_shadow_real_mode_controls). The
		 * interrupt-window bit of s->proc is kept. */
		u32 window = s->proc & PROC_INTERRUPT_WINDOW_EXITING;
		use_controls(s, ctl);
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
static void vmx_flush_guest_tlb(struct vcpu *v)
{
	__atomic_store_n(&vmx(v)->flush_pending, true, __ATOMIC_SEQ_CST);
}

bool vmx_has_tdp(void) { return vmx_cfg.tdp; }

/* ---- registers ---------------------------------------------------------- */

static u64 vmx_get_rip(struct vcpu *v) { return vmx_read(v, VMCS_GUEST_RIP); }
void vmx_set_rip(struct vcpu *v, u64 rip) { vmx_write(v, VMCS_GUEST_RIP, rip); }
static u64 vmx_get_rflags(struct vcpu *v) { return vmx_read(v, VMCS_GUEST_RFLAGS); }
static void vmx_set_rflags(struct vcpu *v, u64 f) { vmx_write(v, VMCS_GUEST_RFLAGS, f | 2); }

/* Loaded into the real CR2 before the next entry (vmx_vcpu_run). */
static void vmx_set_cr2(struct vcpu *v, u64 cr2) { vmx(v)->cr2 = cr2; }

/* VM entry requires CPL = SS.DPL (26.3.1.2), so SS.DPL is the CPL. */
static u8 vmx_get_cpl(struct vcpu *v)
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
static void vmx_sync_gprs_in(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	s->rsp = v->gpr[RSP] = vmx_read(v, VMCS_GUEST_RSP);
}

static void vmx_sync_gprs_out(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	vmx_write(v, VMCS_GUEST_RSP, v->gpr[RSP]);
	s->rsp = v->gpr[RSP];
}

static void vmx_get_seg(struct vcpu *v, enum vseg_index i, struct vseg *out)
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
static void vmx_get_paging(struct vcpu *v, u64 *cr0, u64 *cr3, u64 *cr4, u64 *efer)
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

static u64 vmx_get_efer(struct vcpu *v)
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

static bool vmx_set_efer(struct vcpu *v, u64 efer)
{
	if (efer & ~EFER_GUEST_ALLOWED)
		return false;
	struct vmx_vcpu *s = vmx(v);
	if (s->shadow) {
		/* The generic shadow-paging code normally loads EFER with the
		 * other paging registers; this keeps LMA, as below. */
		struct paging_regs g = s->paging_guest, hw = s->paging_hw;
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
static u64 vmx_get_pat(struct vcpu *v)
{
	return vmx_cfg.pat_controls ? vmx_read(v, VMCS_GUEST_IA32_PAT) : vmx(v)->pat;
}

static void vmx_set_pat(struct vcpu *v, u64 pat)
{
	if (vmx_cfg.pat_controls)
		vmx_write(v, VMCS_GUEST_IA32_PAT, pat);
	else
		vmx(v)->pat = pat;
}

/* With "use TSC offsetting" RDTSC and IA32_TSC reads in the guest return
 * the host TSC plus this offset (25.6.5). */
static void vmx_set_tsc_offset(struct vcpu *v, u64 off) { vmx_write(v, VMCS_TSC_OFFSET, off); }

/* ---- events ------------------------------------------------------------- */

static bool vmx_event_pending(struct vcpu *v) { return vmx(v)->event_info & INTR_INFO_VALID; }

static bool vmx_interrupt_allowed(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	return (vmx_get_rflags(v) & RFLAGS_IF) &&
	       !(s->interruptibility & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) &&
	       !vmx_event_pending(v);
}

/* Interrupt-window exiting: an exit as soon as RFLAGS.IF=1 and no STI/MOV SS
 * blocking remains (25.6.2, 27.2). */
static void vmx_request_interrupt_window(struct vcpu *v, bool on)
{
	if (!on && !(vmx(v)->proc & PROC_INTERRUPT_WINDOW_EXITING))
		return; /* the usual case: nothing to change, no VMCS access */
	unsigned long f = irq_save();
	struct vmx_vcpu *s = vmx_load(v);
	u32 proc = on ? s->proc | PROC_INTERRUPT_WINDOW_EXITING
		      : s->proc & ~PROC_INTERRUPT_WINDOW_EXITING;
	if (proc != s->proc) {
		s->proc = proc;
		vmcs_write(VMCS_PROC_BASED_CTLS, proc);
	}
	irq_restore(f);
}

/* Queued for the next entry (26.6). In real mode (unrestricted guest with
 * CR0.PE=0) exceptions push no error code, and VM entry requires the
 * deliver-error-code bit clear (26.2.1.3). Software interrupts and
 * exceptions need the instruction length: that of the exit in progress.
 * An NMI is injected even while the guest blocks NMIs or sits in an STI/
 * MOV SS shadow, which VM entry would refuse (26.3.1.5): the generic code
 * does not track NMI blocking yet, and AMD-V's EVENTINJ delivers it the
 * same way. */
void vmx_inject(struct vcpu *v, u32 type, u8 vector, bool has_error, u32 error)
{
	struct vmx_vcpu *s = vmx(v);
	if (has_error && !(vmx_read(v, VMCS_GUEST_CR0) & CR0_PE_BIT))
		has_error = false;
	const u32 nmi_blocking = INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS |
				 INTERRUPTIBILITY_NMI;
	if (type == INTR_TYPE_NMI && (s->interruptibility & nmi_blocking)) {
		s->interruptibility &= ~nmi_blocking;
		vmx_write(v, VMCS_GUEST_INTERRUPTIBILITY, s->interruptibility);
	}
	s->event_info = vector | (type << INTR_INFO_TYPE_SHIFT) | INTR_INFO_VALID |
			(has_error ? INTR_INFO_DELIVER_ERROR_CODE : 0);
	s->event_error = error;
	s->event_len = s->exit_insn_len;
}

static void vmx_inject_event(struct vcpu *v, enum vevent_type type, u8 vector, bool has_error,
			     u32 error)
{
	/* enum vevent_type uses the VMX interruption types. */
	vmx_inject(v, (u32)type, vector, has_error, error);
}

/* ---- running ------------------------------------------------------------ */

static void flush_guest_tlb(struct vmx_vcpu *s)
{
	/* Guest-physical and combined mappings of this EPTP (29.4.3.1), then
	 * linear ones tagged with this VPID, which a previous owner of the
	 * VPID may have left (and, under shadow paging, mappings of shadow
	 * entries that changed). */
	if (s->proc2 & PROC2_ENABLE_EPT) {
		if (vmx_cfg.invept_type == INVEPT_TYPE_SINGLE_CONTEXT)
			invept(INVEPT_TYPE_SINGLE_CONTEXT, s->eptp);
		else
			invept(INVEPT_TYPE_ALL_CONTEXT, 0);
	}
	if (s->vpid)
		invvpid(vmx_cfg.invvpid_type, s->vpid);
}

static void write_pending_event(struct vmx_vcpu *s)
{
	u32 type = (s->event_info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	vmcs_write(VMCS_ENTRY_INTR_INFO, s->event_info);
	if (s->event_info & INTR_INFO_DELIVER_ERROR_CODE)
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR_CODE, s->event_error);
	if (type == INTR_TYPE_SW_INTERRUPT || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
	    type == INTR_TYPE_SW_EXCEPTION)
		vmcs_write(VMCS_ENTRY_INSTRUCTION_LEN, s->event_len);
}

/* Without "load IA32_EFER" VM entry sets only EFER.LMA and LME (from
 * "IA-32e mode guest", 26.3.2.1) and VM exit only those back (27.5.1):
 * the other bits stay what the CPU has. SCE is made the guest's before the
 * entry and left so (Umbra never uses SYSCALL); NXE stays the host's, on
 * when the CPU has NX, which is what shadow paging runs with. */
static void switch_efer_sce(u32 cpu, const struct vmx_vcpu *s)
{
	u64 want = (cpu_efer[cpu] & ~EFER_SCE) | (s->efer & EFER_SCE);
	if (want != cpu_efer[cpu]) {
		wrmsr(MSR_EFER, want);
		cpu_efer[cpu] = want;
	}
}

/* Called with interrupts off (vcpu_thread). */
static void vmx_vcpu_run(struct vcpu *v, struct vm_exit *e)
{
	if (unlikely(!vmx(v)->shadow && !vmx_cfg.tdp)) {
		struct vmx_vcpu *s = vmx(v);
		memset(e, 0, sizeof(*e));
		e->kind = EXIT_ENTRY_FAILED;
		umbra_snprintf(s->failure, sizeof(s->failure),
			       "not entered: this CPU has no usable EPT (%s), so the VM needs "
			       "shadow paging, which was not enabled for it", vmx_cfg.tdp_fallback);
		return;
	}
	struct vmx_vcpu *s = vmx_load(v);
	vmx_guest_msrs_load(this_cpu_index(), s);
	if (!vmx_cfg.efer_controls)
		switch_efer_sce(this_cpu_index(), s);
	/* A flush requested after the exchange is done at the next entry. */
	if (__atomic_load_n(&s->flush_pending, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&s->flush_pending, false, __ATOMIC_SEQ_CST))
		flush_guest_tlb(s);
	if (s->event_info & INTR_INFO_VALID)
		write_pending_event(s);
	if (v->gpr[RSP] != s->rsp) {
		vmcs_write(VMCS_GUEST_RSP, v->gpr[RSP]);
		s->rsp = v->gpr[RSP];
	}
	/* CR2 is not part of the VMCS (27.3, 28.3): the guest's stays live
	 * on the CPU, unless another vCPU ran here meanwhile. */
	if (read_cr2() != s->cr2)
		write_cr2(s->cr2);
	/* With a TPR shadow the guest's MOV CR8 reads and writes VTPR in the
	 * virtual-APIC page without exits (29.1.1, 29.3): keep it and the
	 * emulated LAPIC's TPR the same thing, as AMD-V does with V_TPR. */
	volatile u32 *vtpr = s->vapic_pa ? (u32 *)((u8 *)phys_to_virt(s->vapic_pa) + VAPIC_VTPR)
					 : NULL;
	u32 tpr = vlapic_get_tpr(&v->lapic);
	if (vtpr)
		*vtpr = tpr;

	int r = vmx_enter(v->gpr, s->launched, &s->host_rsp);

	if (vtpr && (*vtpr & 0xff) != tpr)
		vlapic_set_tpr(&v->lapic, *vtpr & 0xff);
	s->cr2 = read_cr2();
	s->event_info = 0; /* delivered, or back in IDT-vectoring information */
	if (r) {
		u32 err = r == 2 ? (u32)vmread(VMCS_VM_INSTRUCTION_ERROR) : 0;
		memset(e, 0, sizeof(*e));
		e->kind = EXIT_ENTRY_FAILED;
		e->raw_reason = err;
		vmx_describe_entry_failure(v, err, 0, 0);
		return;
	}
	s->rsp = v->gpr[RSP] = vmread(VMCS_GUEST_RSP);
	vmx_decode_exit(v, e);
}

/* ---- the register dump of a stopped vCPU -------------------------------- */

static void vmx_dump(struct vcpu *v)
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

const struct virt_backend_ops vmx_backend_ops = {
	.name = "VT-x",
	.cpu_enable = vmx_cpu_enable,
	.cpu_disable = vmx_cpu_disable,
	.vcpu_create = vmx_vcpu_create,
	.vcpu_destroy = vmx_vcpu_destroy,
	.vcpu_reset_protected32 = vmx_vcpu_reset_protected32,
	.vcpu_reset_real_mode = vmx_vcpu_reset_real_mode,
	.vcpu_run = vmx_vcpu_run,
	.get_rip = vmx_get_rip,
	.set_rip = vmx_set_rip,
	.clear_interrupt_shadow = vmx_clear_interrupt_shadow,
	.get_rflags = vmx_get_rflags,
	.set_rflags = vmx_set_rflags,
	.set_cr2 = vmx_set_cr2,
	.get_cpl = vmx_get_cpl,
	.sync_gprs_in = vmx_sync_gprs_in,
	.sync_gprs_out = vmx_sync_gprs_out,
	.get_seg = vmx_get_seg,
	.get_paging = vmx_get_paging,
	.get_efer = vmx_get_efer,
	.set_efer = vmx_set_efer,
	.get_pat = vmx_get_pat,
	.set_pat = vmx_set_pat,
	.set_tsc_offset = vmx_set_tsc_offset,
	.interrupt_allowed = vmx_interrupt_allowed,
	.request_interrupt_window = vmx_request_interrupt_window,
	.inject_event = vmx_inject_event,
	.event_pending = vmx_event_pending,
	.tdp_format = &ept_format,
	.set_tdp_root = vmx_set_tdp_root,
	.shadow_enable = vmx_shadow_enable,
	.load_shadow_paging = vmx_load_shadow_paging,
	.flush_guest_tlb = vmx_flush_guest_tlb,
	.dump = vmx_dump,
};

/* For vmx_failure.c: the capability MSRs the controls came from. */
const struct vmx_cap_msrs *vmx_cap_msrs(void) { return &vmx_caps; }
