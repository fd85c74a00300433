/* The vCPU thread: deliver pending interrupts, enter the guest, handle the
 * exit, repeat until the VM stops. */
#include "arch/x86/cpu.h"
#include "arch/x86/fpu.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "virt/exit.h"
#include "virt/vcpu.h"
#include "virt/vm.h"

/* Injects the highest pending LAPIC interrupt if the guest can take it now,
 * else asks the CPU for an exit as soon as it can (interrupt window). */
static void deliver_interrupts(struct vcpu *v)
{
	if (virt_backend->event_pending(v))
		return; /* an event (re)injection is queued already */
	int vec = vlapic_pending_vector(&v->lapic);
	if (vec < 0) {
		virt_backend->request_interrupt_window(v, false);
		return;
	}
	if (virt_backend->interrupt_allowed(v)) {
		virt_backend->inject_event(v, VEVENT_EXTINT, (u8)vec, false, 0);
		vlapic_ack(&v->lapic, vec);
		virt_backend->request_interrupt_window(v, false);
	} else {
		virt_backend->request_interrupt_window(v, true);
	}
}

void vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct vm_exit exit;

	/* Application processors wait for INIT/SIPI, which the PC-platform
	 * work brings; until then they stay parked. */
	while (v->id != 0 && vm->state == VM_RUNNING)
		thread_block();

	while (vm->state == VM_RUNNING) {
		irq_disable();
		if (this_cpu()->need_resched) {
			irq_enable();
			schedule();
			continue;
		}
		deliver_interrupts(v);
		fpu_switch_to(v, v->fpu);
		virt_backend->vcpu_run(v, &exit);
		/* The host interrupt that ended the run (if any) is taken here. */
		irq_enable();
		if (!vcpu_handle_exit(v, &exit))
			break;
	}
	vm_vcpu_exited(v);
}
