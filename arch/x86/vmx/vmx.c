/* Intel VT-x backend (Intel SDM vol. 3, chapters 24-31): VMX operation on each
 * CPU, one VMCS per vCPU, the VM-entry loop, and vmx_backend_ops. The
 * register accessors are in vmx_regs.c, events in vmx_events.c, the
 * shadow-paging ops in vmx_shadow.c; exits are decoded in vmx_exit.c,
 * control values come from vmx_controls.c, VMCS contents from
 * vmx_vmcs_setup.c.
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
#define VAPIC_VTPR 0x80 /* offset of VTPR in the virtual-APIC page (29.1) */

struct vmx_config vmx_cfg;
struct vmx_vm_controls vmx_tdp_ctl, vmx_shadow_ctl, vmx_shadow_rm_ctl;
static struct vmx_cap_msrs vmx_caps;
static bool global_ok;
static paddr_t vmxon_region[MAX_CPUS];
static bool vmx_on[MAX_CPUS];
static u64 cpu_efer[MAX_CPUS]; /* without the EFER controls: EFER as last written */
struct vmx_vcpu *vmx_current_vmcs[MAX_CPUS];

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
	vmx_current_vmcs[cpu] = NULL;
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

static void apply_pending(struct vcpu *v, struct vmx_vcpu *s, u32 cpu)
{
	if (s->pending & VMX_PENDING_RESET) {
		vmcs_setup_guest_protected32(v, s->reset_eip);
		vmx_guest_msrs_forget(cpu, s); /* the next entry loads the reset values */
	}
	if (s->pending & VMX_PENDING_RESET_REAL)
		vmcs_setup_guest_real_mode(v, s->reset_vector);
	if (s->pending & VMX_PENDING_CONTROLS)
		vmx_write_controls(s);
	if (s->pending & VMX_PENDING_PAGING)
		vmx_write_shadow_paging(s);
	if ((s->pending & VMX_PENDING_EPTP) && (s->proc2 & PROC2_ENABLE_EPT)) {
		vmcs_write(VMCS_EPT_POINTER, s->eptp);
		s->flush_pending = true;
	}
	s->pending = 0;
}

struct vmx_vcpu *vmx_load_slow(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	u32 cpu = this_cpu_index();
	if (vmx_current_vmcs[cpu] != s) {
		if (s->cpu >= 0 && (u32)s->cpu != cpu)
			panic("vmx: VM %s vCPU %u: VMCS active on CPU %d used on CPU %u",
			      v->vm->name, v->id, s->cpu, cpu);
		if (!vmptrld(s->vmcs_pa))
			panic("vmx: VMPTRLD %#llx failed on CPU %u",
			      (unsigned long long)s->vmcs_pa, cpu);
		vmx_current_vmcs[cpu] = s;
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

void vmx_use_controls(struct vmx_vcpu *s, const struct vmx_vm_controls *ctl)
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
	vmx_use_controls(s, vmx_cfg.tdp ? &vmx_tdp_ctl : &vmx_shadow_ctl);
	return 0;
}

/* On the CPU where the VMCS is active: write it back and forget it. */
static void unload_on_cpu(void *arg)
{
	struct vmx_vcpu *s = arg;
	u32 cpu = this_cpu_index();
	vmclear(s->vmcs_pa);
	if (vmx_current_vmcs[cpu] == s)
		vmx_current_vmcs[cpu] = NULL;
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
	s->paging_guest = (struct guest_paging){ .cr0 = cr0 };
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

bool vmx_has_tdp(void) { return vmx_cfg.tdp; }

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
		vmx_write_pending_event(s);
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
