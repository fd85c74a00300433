/* VT-x events for the guest (Intel SDM vol. 3): whether it can take an
 * interrupt now, interrupt-window exiting (25.6.2), and the event queued for
 * the next VM entry (26.6), written into the VM-entry interruption-
 * information fields just before the entry (vmx_vcpu_run). vmx_exit.c
 * re-injects the event an exit interrupted. */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"

#define CR0_PE_BIT BIT(0)

bool vmx_event_pending(struct vcpu *v, struct vevent *out)
{
	u32 info = vmx(v)->event_info;
	if (out)
		*out = (struct vevent){ (info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT,
					info & INTR_INFO_VECTOR_MASK };
	return info & INTR_INFO_VALID;
}

bool vmx_interrupt_allowed(struct vcpu *v)
{
	struct vmx_vcpu *s = vmx(v);
	return (vmx_get_rflags(v) & RFLAGS_IF) &&
	       !(s->interruptibility & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) &&
	       !vmx_event_pending(v, NULL);
}

/* Interrupt-window exiting: an exit as soon as RFLAGS.IF=1 and no STI/MOV SS
 * blocking remains (25.6.2, 27.2). */
void vmx_request_interrupt_window(struct vcpu *v, bool on)
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

void vmx_inject_event(struct vcpu *v, enum vevent_type type, u8 vector, bool has_error,
		      u32 error)
{
	/* enum vevent_type uses the VMX interruption types. */
	vmx_inject(v, (u32)type, vector, has_error, error);
}

/* Just before the entry, on the vCPU's CPU with its VMCS current. */
void vmx_write_pending_event(struct vmx_vcpu *s)
{
	u32 type = (s->event_info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	vmcs_write(VMCS_ENTRY_INTR_INFO, s->event_info);
	if (s->event_info & INTR_INFO_DELIVER_ERROR_CODE)
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR_CODE, s->event_error);
	if (type == INTR_TYPE_SW_INTERRUPT || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
	    type == INTR_TYPE_SW_EXCEPTION)
		vmcs_write(VMCS_ENTRY_INSTRUCTION_LEN, s->event_len);
}
