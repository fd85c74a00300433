/* VM exits into the generic struct vm_exit (Intel SDM vol. 3, chapter 28 for
 * the exit information fields, appendix C for the reasons). Everything that
 * is not VMX-specific is handled by virt/exit.c; this file only decodes,
 * plus the exits that exist only because of VMX: host interrupts and NMIs,
 * the interrupt window, and CR0/CR4 writes of bits VMX forces (vmx_cr.c).
 * Under shadow paging every CR0/CR3/CR4 access, #PF and INVLPG goes to the
 * generic code (virt/shadow_paging.c). */
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/log.h"
#include "lib/string.h"

#define VEC_PF 14
#define VEC_MC 18
/* IDT-vectoring information copied into the VM-entry field: vector, type,
 * deliver-error-code and valid; bits 30:12 must be 0 there (26.2.1.3). */
#define REINJECT_MASK (INTR_INFO_VECTOR_MASK | INTR_INFO_TYPE_MASK | \
		       INTR_INFO_DELIVER_ERROR_CODE | INTR_INFO_VALID)

static const char *const reason_names[] = {
	[EXIT_REASON_EXCEPTION_NMI] = "exception or NMI",
	[EXIT_REASON_EXTERNAL_INTERRUPT] = "external interrupt",
	[EXIT_REASON_TRIPLE_FAULT] = "triple fault",
	[EXIT_REASON_INIT] = "INIT signal",
	[EXIT_REASON_SIPI] = "SIPI",
	[EXIT_REASON_IO_SMI] = "I/O SMI",
	[EXIT_REASON_OTHER_SMI] = "other SMI",
	[EXIT_REASON_INTERRUPT_WINDOW] = "interrupt window",
	[EXIT_REASON_NMI_WINDOW] = "NMI window",
	[EXIT_REASON_TASK_SWITCH] = "task switch",
	[EXIT_REASON_CPUID] = "CPUID",
	[EXIT_REASON_GETSEC] = "GETSEC",
	[EXIT_REASON_HLT] = "HLT",
	[EXIT_REASON_INVD] = "INVD",
	[EXIT_REASON_INVLPG] = "INVLPG",
	[EXIT_REASON_RDPMC] = "RDPMC",
	[EXIT_REASON_RDTSC] = "RDTSC",
	[EXIT_REASON_RSM] = "RSM",
	[EXIT_REASON_VMCALL] = "VMCALL",
	[EXIT_REASON_VMCLEAR] = "VMCLEAR",
	[EXIT_REASON_VMLAUNCH] = "VMLAUNCH",
	[EXIT_REASON_VMPTRLD] = "VMPTRLD",
	[EXIT_REASON_VMPTRST] = "VMPTRST",
	[EXIT_REASON_VMREAD] = "VMREAD",
	[EXIT_REASON_VMRESUME] = "VMRESUME",
	[EXIT_REASON_VMWRITE] = "VMWRITE",
	[EXIT_REASON_VMXOFF] = "VMXOFF",
	[EXIT_REASON_VMXON] = "VMXON",
	[EXIT_REASON_CR_ACCESS] = "control-register access",
	[EXIT_REASON_MOV_DR] = "MOV DR",
	[EXIT_REASON_IO_INSTRUCTION] = "I/O instruction",
	[EXIT_REASON_RDMSR] = "RDMSR",
	[EXIT_REASON_WRMSR] = "WRMSR",
	[EXIT_REASON_INVALID_GUEST_STATE] = "invalid guest state",
	[EXIT_REASON_MSR_LOADING] = "MSR loading",
	[EXIT_REASON_MWAIT] = "MWAIT",
	[EXIT_REASON_MONITOR_TRAP_FLAG] = "monitor trap flag",
	[EXIT_REASON_MONITOR] = "MONITOR",
	[EXIT_REASON_PAUSE] = "PAUSE",
	[EXIT_REASON_MACHINE_CHECK] = "machine-check event",
	[EXIT_REASON_TPR_BELOW_THRESHOLD] = "TPR below threshold",
	[EXIT_REASON_APIC_ACCESS] = "APIC access",
	[EXIT_REASON_VIRTUALIZED_EOI] = "virtualized EOI",
	[EXIT_REASON_GDTR_IDTR] = "access to GDTR or IDTR",
	[EXIT_REASON_LDTR_TR] = "access to LDTR or TR",
	[EXIT_REASON_EPT_VIOLATION] = "EPT violation",
	[EXIT_REASON_EPT_MISCONFIG] = "EPT misconfiguration",
	[EXIT_REASON_INVEPT] = "INVEPT",
	[EXIT_REASON_RDTSCP] = "RDTSCP",
	[EXIT_REASON_PREEMPTION_TIMER] = "VMX-preemption timer expired",
	[EXIT_REASON_INVVPID] = "INVVPID",
	[EXIT_REASON_WBINVD] = "WBINVD",
	[EXIT_REASON_XSETBV] = "XSETBV",
	[EXIT_REASON_APIC_WRITE] = "APIC write",
	[EXIT_REASON_RDRAND] = "RDRAND",
	[EXIT_REASON_INVPCID] = "INVPCID",
	[EXIT_REASON_VMFUNC] = "VMFUNC",
	[EXIT_REASON_ENCLS] = "ENCLS",
	[EXIT_REASON_RDSEED] = "RDSEED",
	[EXIT_REASON_PML_FULL] = "page-modification log full",
	[EXIT_REASON_XSAVES] = "XSAVES",
	[EXIT_REASON_XRSTORS] = "XRSTORS",
};

const char *vmx_exit_reason_name(u32 basic)
{
	return basic < ARRAY_SIZE(reason_names) && reason_names[basic] ? reason_names[basic]
									: "unknown";
}

/* I/O exit qualification (28.2.1, table 28-5); for INS/OUTS the address
 * size and segment come from the VM-exit instruction information (table
 * 28-8) when IA32_VMX_BASIC bit 54 says it is filled in. */
static void decode_io(struct vm_exit *e, u64 q)
{
	e->kind = EXIT_IO;
	e->u.io.port = (u16)(q >> IO_QUAL_PORT_SHIFT);
	e->u.io.size = (u8)((q & IO_QUAL_SIZE_MASK) + 1);
	e->u.io.in = q & IO_QUAL_IN;
	e->u.io.string = q & IO_QUAL_STRING;
	e->u.io.rep = q & IO_QUAL_REP;
	if (e->u.io.string && vmx_cfg.inout_info) {
		u32 info = (u32)vmread(VMCS_EXIT_INSTRUCTION_INFO);
		e->u.io.addr_size = (u8)(2u << ((info >> IO_INFO_ADDR_SIZE_SHIFT) & 7));
		e->u.io.seg = e->u.io.in ? 0 /* INS always stores through ES */
					 : (u8)((info >> IO_INFO_SEGMENT_SHIFT) & 7);
	}
}

/* EPT violation (28.2.1, table 28-7): what the access was, what the EPT
 * entry allowed (nothing: not present), the guest-physical address. */
static void decode_ept_violation(struct vmx_vcpu *s, struct vm_exit *e, u64 q, u32 idt_info)
{
	e->kind = EXIT_NPF;
	e->u.npf.gpa = vmread(VMCS_GUEST_PHYSICAL_ADDRESS);
	e->u.npf.error = q;
	e->u.npf.write = q & EPT_QUAL_WRITE;
	e->u.npf.fetch = q & EPT_QUAL_FETCH;
	e->u.npf.present = q & (EPT_QUAL_READABLE | EPT_QUAL_WRITABLE | EPT_QUAL_EXECUTABLE);
	/* A fault in an IRET that had unblocked NMIs: blocking by NMI must be
	 * restored before the IRET runs again (28.2.3, 27.7.1.2). */
	if ((q & EPT_QUAL_NMI_UNBLOCKING) && !(idt_info & INTR_INFO_VALID)) {
		s->interruptibility |= INTERRUPTIBILITY_NMI;
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, s->interruptibility);
	}
}

/* Exception or NMI exit: only #MC and, under shadow paging, #PF (exception
 * bitmap) and NMIs (NMI exiting) come here. An NMI that hit the guest
 * belongs to the host: it is consumed by the exit, so its handler is invoked
 * through the IDT (as KVM does), which handles the panic-stop NMI like any
 * other. A #PF exit happens before CR2 changes; the qualification holds the
 * linear address (28.2.1), the exit interruption error code the #PF error
 * code (28.2.2). */
static void decode_exception_nmi(struct vmx_vcpu *s, struct vm_exit *e, u64 q, u32 idt_info)
{
	u32 info = (u32)vmread(VMCS_EXIT_INTR_INFO);
	u32 type = (info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	u32 vector = info & INTR_INFO_VECTOR_MASK;
	if (type == INTR_TYPE_NMI) {
		__asm__ volatile("int $2" ::: "memory");
		e->kind = EXIT_NONE;
	} else if (vector == VEC_MC) {
		e->kind = EXIT_MCE;
	} else if (vector == VEC_PF && s->shadow) {
		e->kind = EXIT_PAGE_FAULT;
		e->u.pf.error_code = (u32)vmread(VMCS_EXIT_INTR_ERROR_CODE);
		e->u.pf.addr = q;
		/* As for EPT violations: a #PF in an IRET that had unblocked
		 * NMIs (28.2.2). */
		if ((info & INTR_INFO_NMI_UNBLOCKING) && !(idt_info & INTR_INFO_VALID)) {
			s->interruptibility |= INTERRUPTIBILITY_NMI;
			vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, s->interruptibility);
		}
	} else {
		e->kind = EXIT_UNKNOWN;
	}
}

/* Shadow paging: a control-register access (28.2.1, table 28-3) for the
 * generic code. MOV from CR0/CR4 and SMSW never exit: they read the read
 * shadows. LMSW: the source data is in the qualification (register and
 * memory forms alike). */
static void decode_cr_access(struct vm_exit *e, u64 q)
{
	e->kind = EXIT_CR_ACCESS;
	e->u.cr.cr = (u8)(q & CR_QUAL_NUMBER_MASK);
	e->u.cr.gpr = (s8)((q & CR_QUAL_GPR_MASK) >> CR_QUAL_GPR_SHIFT);
	switch ((u32)(q & CR_QUAL_TYPE_MASK) >> CR_QUAL_TYPE_SHIFT) {
	case CR_QUAL_TYPE_MOV_TO_CR:
		e->u.cr.op = CR_OP_MOV_TO;
		break;
	case CR_QUAL_TYPE_MOV_FROM_CR:
		e->u.cr.op = CR_OP_MOV_FROM;
		break;
	case CR_QUAL_TYPE_CLTS:
		e->u.cr.op = CR_OP_CLTS;
		e->u.cr.gpr = 0;
		break;
	default: /* LMSW */
		e->u.cr.op = CR_OP_LMSW;
		e->u.cr.gpr = -2;
		e->u.cr.lmsw = (u16)(q >> CR_QUAL_LMSW_SOURCE_SHIFT);
		break;
	}
}

/* Current VMCS, right after an exit, interrupts off. */
void vmx_decode_exit(struct vcpu *v, struct vm_exit *e)
{
	struct vmx_vcpu *s = vmx(v);
	u32 reason = (u32)vmread(VMCS_EXIT_REASON);
	u64 q = vmread(VMCS_EXIT_QUALIFICATION);
	memset(e, 0, sizeof(*e));
	e->raw_reason = reason;
	s->exit_reason = reason;
	s->exit_qual = q;
	s->exit_insn_len = 0;
	if (reason & EXIT_REASON_ENTRY_FAILURE) {
		/* 27.8: the guest never ran; the VMCS is not launched. */
		e->kind = EXIT_ENTRY_FAILED;
		vmx_describe_entry_failure(v, 0, reason, q);
		return;
	}
	s->launched = true;
	s->failure[0] = '\0';
	s->interruptibility = (u32)vmread(VMCS_GUEST_INTERRUPTIBILITY);
	if (!vmx_cfg.exit_saves_lma)
		vmx_sync_ia32e_mode(s);

	/* An event the exit interrupted is delivered again at the next entry
	 * (28.2.4), unless the exit handling replaces it. Software interrupts
	 * and exceptions (INT n, INT3, INTO, INT1) are not: RIP still points
	 * at the instruction (28.2.4), which simply runs again, as on AMD-V. */
	u32 idt = (u32)vmread(VMCS_IDT_VECTORING_INFO);
	u32 idt_type = (idt & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	bool soft = idt_type == INTR_TYPE_SW_INTERRUPT || idt_type == INTR_TYPE_PRIV_SW_EXCEPTION ||
		    idt_type == INTR_TYPE_SW_EXCEPTION;
	if ((idt & INTR_INFO_VALID) && !soft) {
		s->event_info = idt & REINJECT_MASK;
		if (idt & INTR_INFO_DELIVER_ERROR_CODE)
			s->event_error = (u32)vmread(VMCS_IDT_VECTORING_ERROR_CODE);
	}

	switch (reason & EXIT_REASON_BASIC_MASK) {
	case EXIT_REASON_EXCEPTION_NMI:
		decode_exception_nmi(s, e, q, idt);
		break;
	case EXIT_REASON_EXTERNAL_INTERRUPT:
	case EXIT_REASON_INIT:
	case EXIT_REASON_SIPI:
	case EXIT_REASON_IO_SMI:
	case EXIT_REASON_OTHER_SMI:
	case EXIT_REASON_TPR_BELOW_THRESHOLD:
		e->kind = EXIT_NONE; /* the host takes its interrupt once enabled */
		break;
	case EXIT_REASON_INTERRUPT_WINDOW:
		vmx_backend_ops.request_interrupt_window(v, false);
		e->kind = EXIT_NONE;
		break;
	case EXIT_REASON_TRIPLE_FAULT:
		e->kind = EXIT_SHUTDOWN;
		break;
	case EXIT_REASON_CPUID:
		e->kind = EXIT_CPUID;
		break;
	case EXIT_REASON_RDMSR:
		e->kind = EXIT_RDMSR;
		break;
	case EXIT_REASON_WRMSR:
		e->kind = EXIT_WRMSR;
		break;
	case EXIT_REASON_IO_INSTRUCTION:
		decode_io(e, q);
		break;
	case EXIT_REASON_HLT:
		e->kind = EXIT_HLT;
		break;
	case EXIT_REASON_VMCALL:
		e->kind = EXIT_HYPERCALL;
		break;
	case EXIT_REASON_INVD:
		e->kind = EXIT_INVD;
		break;
	case EXIT_REASON_CR_ACCESS:
		/* CR8 (no TPR shadow) is the virtual LAPIC's TPR, handled here
		 * as with EPT. */
		if (s->shadow && (q & CR_QUAL_NUMBER_MASK) != 8) {
			decode_cr_access(e, q);
			break;
		}
		s->exit_insn_len = (u32)vmread(VMCS_EXIT_INSTRUCTION_LEN);
		vmx_handle_cr_access(v, q);
		e->kind = EXIT_NONE;
		break;
	case EXIT_REASON_INVLPG:
		/* Only under shadow paging. The qualification is the linear
		 * address operand (28.2.1), passed in u.pf.addr. */
		e->kind = EXIT_INVLPG;
		e->u.pf.addr = q;
		break;
	case EXIT_REASON_EPT_VIOLATION:
		decode_ept_violation(s, e, q, idt);
		break;
	case EXIT_REASON_EPT_MISCONFIG:
		log_err("vmx: VM %s vCPU %u: EPT misconfiguration at guest-physical %#llx: an EPT "
			"entry Umbra wrote is malformed (a hypervisor bug)", v->vm->name, v->id,
			(unsigned long long)vmread(VMCS_GUEST_PHYSICAL_ADDRESS));
		e->kind = EXIT_UNKNOWN;
		break;
	/* VMX is not offered to guests (CPUID.1:ECX.VMX is clear), nor SMX,
	 * MONITOR/MWAIT or XSAVE: the instructions raise #UD as on such CPUs. */
	case EXIT_REASON_GETSEC:
	case EXIT_REASON_RSM:
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE:
	case EXIT_REASON_VMXOFF:
	case EXIT_REASON_VMXON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
	case EXIT_REASON_INVPCID: /* "enable INVPCID" is off under shadow paging */
	case EXIT_REASON_VMFUNC:
	case EXIT_REASON_MONITOR:
	case EXIT_REASON_MWAIT:
	case EXIT_REASON_XSETBV:
		e->kind = EXIT_UD;
		break;
	default:
		e->kind = EXIT_UNKNOWN;
		break;
	}
	/* 28.2.5: the length is valid for exits caused by instructions. */
	switch (e->kind) {
	case EXIT_CPUID:
	case EXIT_RDMSR:
	case EXIT_WRMSR:
	case EXIT_IO:
	case EXIT_HLT:
	case EXIT_HYPERCALL:
	case EXIT_INVD:
	case EXIT_CR_ACCESS:
	case EXIT_INVLPG:
		e->insn_len = (u32)vmread(VMCS_EXIT_INSTRUCTION_LEN);
		s->exit_insn_len = e->insn_len;
		break;
	default:
		break;
	}
}
