/* The vCPU thread: deliver pending interrupts, enter the guest, handle the
 * exit, repeat until the VM stops. */
#include "arch/x86/cpu.h"
#include "arch/x86/fpu.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "virt/devices.h"
#include "virt/exit.h"
#include "virt/shadow_paging.h"
#include "virt/vcpu.h"
#include "virt/vm.h"

/* The 8259's INTR reaches vCPU 0 through LINT0 (virtual wire mode). */
static bool pic_intr_for(struct vcpu *v)
{
	return v->id == 0 && pic_has_intr(v->vm) && vlapic_extint_accepted(&v->lapic);
}

/* Something that ends a HLT: an interrupt the guest would take now, or an
 * NMI/INIT/SIPI (SDM 3, "HLT"). */
bool vcpu_has_wake_event(struct vcpu *v)
{
	if (__atomic_load_n(&v->pending, __ATOMIC_SEQ_CST))
		return true;
	if (!(virt_backend->get_rflags(v) & RFLAGS_IF))
		return false;
	return vlapic_pending_vector(&v->lapic) >= 0 || pic_intr_for(v);
}

/* Injects the most urgent pending event if the guest can take it now, else
 * asks the CPU for an exit as soon as it can (interrupt window). NMIs are
 * injected as they come (NMI blocking until IRET is not tracked yet). */
static void deliver_interrupts(struct vcpu *v)
{
	if (virt_backend->event_pending(v, NULL))
		return; /* an event (re)injection is queued already */
	if ((READ_ONCE(v->pending) & VCPU_PENDING_NMI) &&
	    (__atomic_fetch_and(&v->pending, ~VCPU_PENDING_NMI, __ATOMIC_SEQ_CST) & VCPU_PENDING_NMI)) {
		virt_backend->inject_event(v, VEVENT_NMI, 2, false, 0);
		return;
	}
	bool pic = pic_intr_for(v);
	int vec = vlapic_pending_vector(&v->lapic);
	if (vec < 0 && !pic) {
		virt_backend->request_interrupt_window(v, false);
		return;
	}
	if (!virt_backend->interrupt_allowed(v)) {
		virt_backend->request_interrupt_window(v, true);
		return;
	}
	virt_backend->request_interrupt_window(v, false);
	if (pic) {
		int pv = pic_ack(v->vm); /* ExtINT: the vector comes from the 8259 */
		if (pv >= 0)
			virt_backend->inject_event(v, VEVENT_EXTINT, (u8)pv, false, 0);
		return;
	}
	virt_backend->inject_event(v, VEVENT_EXTINT, (u8)vec, false, 0);
	vlapic_ack(&v->lapic, vec);
}

/* INIT and SIPI, in that order when both came (SDM 3, 9.4.4: a SIPI is
 * taken only in the wait-for-SIPI state). */
static void process_init_sipi(struct vcpu *v)
{
	u32 p = __atomic_fetch_and(&v->pending, ~(VCPU_PENDING_INIT | VCPU_PENDING_SIPI),
				   __ATOMIC_SEQ_CST);
	if (p & VCPU_PENDING_INIT) {
		if (v->id == 0) {
			/* The BSP would restart the firmware, which a VM has not. */
			vm_stop(v->vm, VM_EXIT_CODE_CRASH, "INIT to the boot vCPU (reset)");
			return;
		}
		v->mp_state = VCPU_WAIT_SIPI;
		vlapic_reset(&v->lapic);
	}
	if ((p & VCPU_PENDING_SIPI) && v->mp_state == VCPU_WAIT_SIPI) {
		for (int i = 0; i < 16; i++)
			v->gpr[i] = 0;
		virt_backend->vcpu_reset_real_mode(v, v->sipi_vector);
		if (v->shadow)
			shadow_vcpu_reset(v, 0x60000010); /* CD, NW, ET */
		v->mp_state = VCPU_RUNNABLE;
	}
}

void vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct vm_exit exit;

	while (vm->state == VM_RUNNING) {
		process_init_sipi(v);
		if (v->mp_state == VCPU_WAIT_SIPI) {
			thread_block(); /* parked until a SIPI (vcpu_kick wakes us) */
			continue;
		}
		if (v->shadow && !shadow_prepare_entry(v))
			break;
		irq_disable();
		if (this_cpu()->need_resched) {
			irq_enable();
			schedule();
			continue;
		}
		/* Announce guest mode before looking at events: a kick that
		 * comes after the look sees in_guest and sends the exit IPI. */
		__atomic_store_n(&v->in_guest, true, __ATOMIC_SEQ_CST);
		deliver_interrupts(v);
		if (v->shadow)
			shadow_flush_before_entry(v);
		fpu_switch_to(v, v->fpu);
		virt_backend->vcpu_run(v, &exit);
		WRITE_ONCE(v->runs, v->runs + 1);
		__atomic_store_n(&v->in_guest, false, __ATOMIC_SEQ_CST);
		/* The host interrupt that ended the run (if any) is taken here. */
		irq_enable();
		if (!vcpu_handle_exit(v, &exit))
			break;
	}
	vm_vcpu_exited(v);
}
