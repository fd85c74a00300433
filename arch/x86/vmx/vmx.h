/* Shared state of the VT-x backend's files (arch/x86/vmx/): the per-vCPU
 * record, the machine-wide configuration, and the helpers between files.
 * Not for use outside arch/x86/vmx/; the rest of Umbra sees only
 * vmx_backend_ops (virt/backend.h). */
#ifndef UMBRA_ARCH_X86_VMX_VMX_H
#define UMBRA_ARCH_X86_VMX_VMX_H

#include "arch/x86/vmx/vmx_controls.h"
#include "arch/x86/vmx/vmx_insn.h"
#include "kernel/percpu.h"
#include "lib/types.h"
#include "virt/vm.h"

/* Guest MSRs no VMCS field switches; the backend swaps them lazily
 * (vmx_guest_msrs.c). */
#define VMX_SWAPPED_MSRS 5

struct vmx_vcpu {
	paddr_t vmcs_pa;
	paddr_t vapic_pa;       /* virtual-APIC page for the TPR shadow, or 0 */
	int cpu;                /* host CPU the VMCS is active on; -1: clear */
	bool launched;          /* VMRESUME rather than VMLAUNCH */
	/* INVEPT/INVVPID before the next entry; set from any CPU (atomic). */
	bool flush_pending;
	bool shadow;            /* shadow paging (vmx_shadow_enable) */
	const struct vmx_vm_controls *ctl; /* EPT or shadow-paging VMCS */
	u32 pending;            /* VMX_PENDING_*: state to write at the next load */
	u32 reset_eip;          /* VMX_PENDING_RESET: multiboot entry point */
	u8 reset_vector;        /* VMX_PENDING_RESET_REAL: SIPI vector */
	u64 eptp;
	u16 vpid;               /* 0: this vCPU runs without a VPID */
	u32 proc;               /* primary processor-based controls, as written */
	u32 proc2;              /* secondary controls (0: not activated) */
	/* Shadow paging: the guest's view of its paging registers (what the
	 * read shadows hold, and CR3/EFER, which the VMCS does not have), and
	 * the registers the hardware runs (VMX_PENDING_PAGING). */
	struct guest_paging paging_guest, paging_hw;
	/* Without the EFER/PAT VMCS controls (vmx_cfg.efer_controls,
	 * pat_controls), which only shadow-paging VMs run without: the real
	 * EFER the guest runs with (LMA/LME from "IA-32e mode guest", SCE
	 * switched before entry, NXE the host's), and the guest's PAT, kept
	 * but not applied (the host's PAT is in effect). */
	u64 efer, pat;
	u64 host_rsp;           /* HOST_RSP as last written (vmx_entry.S) */
	u64 rsp;                /* guest RSP as in the VMCS */
	u64 cr2;                /* guest CR2: VMX does not switch it (28.3) */
	u32 interruptibility;   /* guest interruptibility state, as in the VMCS */
	/* Event for the next entry (26.6), written just before it. */
	u32 event_info, event_error, event_len;
	/* The last exit, kept for the register dump. */
	u32 exit_reason;
	u64 exit_qual;
	u32 exit_insn_len;
	char failure[240];      /* an entry failure in words, or "" */
	u64 swapped_msrs[VMX_SWAPPED_MSRS];
};

#define VMX_PENDING_RESET BIT(0)      /* guest state for the multiboot entry */
#define VMX_PENDING_EPTP BIT(1)
#define VMX_PENDING_RESET_REAL BIT(2) /* guest state after INIT-SIPI */
#define VMX_PENDING_PAGING BIT(3)    /* shadow paging: paging_guest/paging_hw */
#define VMX_PENDING_CONTROLS BIT(4)  /* s->ctl changed: execution controls, EPTP */

/* CR0 as the guest sees it after the two resets: multiboot entry (PE|ET)
 * and INIT (CD|NW|ET, SDM vol. 3, 10.1.1). */
#define VMX_RESET_CR0_PROTECTED32 (BIT(0) | BIT(4))
#define VMX_RESET_CR0_REAL (BIT(30) | BIT(29) | BIT(4))

extern struct vmx_config vmx_cfg;
/* The per-VM controls of VMs with EPT and with shadow paging (vmx_cfg). */
extern struct vmx_vm_controls vmx_tdp_ctl, vmx_shadow_ctl, vmx_shadow_rm_ctl;

/* Whether VMs can run with EPT on this machine (known once VT-x is enabled
 * on the boot CPU). When false, every VM must run with shadow paging
 * (vm->shadow, shadow_enable). For the generic code until the backend
 * interface has such a query. */
bool vmx_has_tdp(void);

/* I/O bitmaps A and B and the MSR bitmap, shared by every VMCS. */
extern paddr_t vmx_io_bitmap_a, vmx_io_bitmap_b, vmx_msr_bitmap;

static inline struct vmx_vcpu *vmx(struct vcpu *v) { return v->arch; }

/* vmx.c: makes v's VMCS current on this CPU (setting it up on first use,
 * applying pending state). Interrupts must be off: a preempting vCPU thread
 * would load its own VMCS. */
struct vmx_vcpu *vmx_load_slow(struct vcpu *v);
extern struct vmx_vcpu *vmx_current_vmcs[MAX_CPUS];
/* Makes v's VMCS current on this CPU and writes what is pending for it.
 * Interrupts off. Inline: every register access of an exit starts here,
 * and the VMCS is almost always current with nothing pending. */
static inline struct vmx_vcpu *vmx_load(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	if (likely(vmx_current_vmcs[this_cpu_index()] == s && !s->pending))
		return s;
	return vmx_load_slow(v);
}
/* VMCS access from any backend op: loads the VMCS with interrupts off. */
u64 vmx_read(struct vcpu *v, u64 field);
void vmx_write(struct vcpu *v, u64 field, u64 value);
/* VMWRITE to the current VMCS; a failure is a hypervisor bug (panic). */
void vmcs_write(u64 field, u64 value);
/* Makes ctl the vCPU's controls (s->ctl, s->proc, s->proc2), recorded only;
 * VPID off when the vCPU has none. */
void vmx_use_controls(struct vmx_vcpu *s, const struct vmx_vm_controls *ctl);
const struct vmx_cap_msrs *vmx_cap_msrs(void);

/* vmx_regs.c: the register ops of vmx_backend_ops (RIP and the end of an
 * STI/MOV SS shadow are also for vmx_cr.c). */
u64 vmx_get_rip(struct vcpu *v);
void vmx_set_rip(struct vcpu *v, u64 rip);
void vmx_clear_interrupt_shadow(struct vcpu *v);
u64 vmx_get_rflags(struct vcpu *v);
void vmx_set_rflags(struct vcpu *v, u64 f);
void vmx_set_cr2(struct vcpu *v, u64 cr2);
u8 vmx_get_cpl(struct vcpu *v);
void vmx_sync_gprs_in(struct vcpu *v);
void vmx_sync_gprs_out(struct vcpu *v);
void vmx_get_seg(struct vcpu *v, enum vseg_index i, struct vseg *out);
void vmx_get_paging(struct vcpu *v, u64 *cr0, u64 *cr3, u64 *cr4, u64 *efer);
u64 vmx_get_efer(struct vcpu *v);
bool vmx_set_efer(struct vcpu *v, u64 efer);
u64 vmx_get_pat(struct vcpu *v);
void vmx_set_pat(struct vcpu *v, u64 pat);
void vmx_set_tsc_offset(struct vcpu *v, u64 off);
/* The guest's real EFER (GUEST_IA32_EFER, or s->efer without the EFER
 * controls), and writing it with "IA-32e mode guest" = LMA; "IA-32e mode
 * guest" from EFER.LMA. Current VMCS. */
u64 vmx_guest_efer(struct vmx_vcpu *s);
void vmx_set_guest_efer(struct vmx_vcpu *s, u64 efer);
void vmx_sync_ia32e_mode(struct vmx_vcpu *s);
/* The register dump of a stopped vCPU (log_err). */
void vmx_dump(struct vcpu *v);

/* vmx_events.c: the event ops of vmx_backend_ops; an event for the next
 * entry (INTR_TYPE_*), and writing it into the current VMCS before the
 * entry. */
bool vmx_event_pending(struct vcpu *v, struct vevent *out);
bool vmx_interrupt_allowed(struct vcpu *v);
void vmx_request_interrupt_window(struct vcpu *v, bool on);
void vmx_inject_event(struct vcpu *v, enum vevent_type type, u8 vector, bool has_error,
		      u32 error);
void vmx_inject(struct vcpu *v, u32 type, u8 vector, bool has_error, u32 error);
void vmx_write_pending_event(struct vmx_vcpu *s);

/* vmx_shadow.c: the shadow-paging ops of vmx_backend_ops, and what
 * vmx_load writes of the state they record (current VMCS): the paging
 * registers (VMX_PENDING_PAGING) and the controls (VMX_PENDING_CONTROLS). */
bool vmx_shadow_enable(struct vcpu *v);
void vmx_load_shadow_paging(struct vcpu *v, const struct guest_paging *guest,
			    const struct guest_paging *hw);
void vmx_flush_guest_tlb(struct vcpu *v);
void vmx_write_shadow_paging(struct vmx_vcpu *s);
void vmx_write_controls(struct vmx_vcpu *s);

/* vmx_vmcs_setup.c: fields of the current VMCS. */
void vmcs_setup_controls(struct vcpu *v);
void vmcs_setup_host(void);
void vmcs_setup_guest_power_on(struct vcpu *v);
void vmcs_setup_guest_protected32(struct vcpu *v, u32 eip);
void vmcs_setup_guest_real_mode(struct vcpu *v, u8 sipi_vector);

/* ept.c: the EPT entry format for virt/guest_mem.c, and the EPTP for a root. */
extern const struct tdp_format ept_format;
u64 ept_pointer(paddr_t root);

/* vmx_bitmaps.c */
bool vmx_bitmaps_init(void);

/* vmx_vpid.c: 0 when all are taken (the vCPU then runs without one). */
u16 vmx_vpid_alloc(void);
void vmx_vpid_free(u16 vpid);

/* vmx_guest_msrs.c: the guest's SYSCALL MSRs live while it may run. */
void vmx_guest_msrs_load(u32 cpu, struct vmx_vcpu *s);
void vmx_guest_msrs_forget(u32 cpu, struct vmx_vcpu *s);

/* vmx_exit.c: the exit that just happened, as a struct vm_exit. */
void vmx_decode_exit(struct vcpu *v, struct vm_exit *e);
const char *vmx_exit_reason_name(u32 basic_reason);

/* vmx_cr.c: MOV to CR0/CR4 (and CR8 without a TPR shadow) that exited. */
void vmx_handle_cr_access(struct vcpu *v, u64 qualification);
/* Loads the PDPTE fields when the guest uses PAE paging (26.3.2.4). */
void vmx_load_pdptes(struct vcpu *v);

/* vmx_failure.c: VM-entry failures in words, naming the field to check. */
const char *vmx_instruction_error_name(u32 error);
void vmx_describe_entry_failure(struct vcpu *v, u32 insn_error, u32 exit_reason, u64 qual);

/* vmx_entry.S: 0 after a VM exit; 1 VMfailInvalid, 2 VMfailValid. */
int vmx_enter(u64 *gpr, bool launched, u64 *host_rsp);
void vmx_exit_stub(void);

#endif
