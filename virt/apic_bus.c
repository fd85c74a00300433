/* Delivery of interrupt messages to vCPUs (SDM 3, 11.6 and 11.12.9). */
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "virt/apic_bus.h"
#include "virt/devices.h"
#include "virt/vm.h"

void vcpu_kick(struct vcpu *v)
{
	/* Under the VM lock: a vCPU thread that has exited (or is not created
	 * yet) is never woken; its events stay pending. */
	struct vm *vm = v->vm;
	unsigned long f = spin_lock(&vm->lock);
	if (v->thread && !v->exited)
		thread_wake(v->thread);
	spin_unlock(&vm->lock, f);
	/* Pairs with the vCPU loop's store of in_guest before it checks for
	 * events: one of the two sees the other (seq_cst on both sides). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST) && v->host_cpu != this_cpu_index())
		lapic_send_ipi(cpus[v->host_cpu].apic_id, VEC_IPI_KICK);
}

static void deliver_one(struct vcpu *v, const struct apic_msg *m)
{
	switch (m->mode) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		vlapic_accept(&v->lapic, m->vector, m->level);
		break;
	case APIC_DM_NMI:
		__atomic_fetch_or(&v->pending, VCPU_PENDING_NMI, __ATOMIC_SEQ_CST);
		break;
	case APIC_DM_INIT:
		if (!m->assert && m->level)
			return; /* INIT level de-assert: no effect on modern CPUs */
		__atomic_fetch_or(&v->pending, VCPU_PENDING_INIT, __ATOMIC_SEQ_CST);
		break;
	case APIC_DM_STARTUP:
		v->sipi_vector = m->vector;
		__atomic_fetch_or(&v->pending, VCPU_PENDING_SIPI, __ATOMIC_SEQ_CST);
		break;
	default:
		return; /* SMI and ExtINT by IPI are not modelled */
	}
	vcpu_kick(v);
}

void apic_bus_deliver(struct vm *vm, struct vcpu *src, const struct apic_msg *m)
{
	bool lowest_done = false;
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		bool hit;
		switch (m->shorthand) {
		case 1:
			hit = v == src;
			break;
		case 2:
			hit = true;
			break;
		case 3:
			hit = v != src;
			break;
		default:
			hit = vlapic_match_dest(&v->lapic, m->dest, m->logical, m->x2);
			break;
		}
		if (!hit)
			continue;
		/* Lowest priority: any one target will do; take the first. */
		if (m->mode == APIC_DM_LOWEST) {
			if (lowest_done)
				continue;
			lowest_done = true;
		}
		deliver_one(v, m);
	}
}

void apic_bus_send_ipi(struct vcpu *src, u32 lo, u32 hi, bool x2)
{
	struct apic_msg m = {
		.dest = x2 ? hi : hi >> 24,
		.logical = lo & BIT(11),
		.x2 = x2,
		.mode = (lo >> 8) & 7,
		.vector = lo & 0xff,
		.level = lo & BIT(15),
		.assert = lo & BIT(14),
		.shorthand = (lo >> 18) & 3,
	};
	if ((m.mode == APIC_DM_FIXED || m.mode == APIC_DM_LOWEST) && m.vector < 16) {
		vlapic_error(&src->lapic, ESR_SEND_ILLEGAL_VECTOR); /* not sent (SDM 3 11.5.3) */
		return;
	}
	apic_bus_deliver(src->vm, src, &m);
}

void apic_bus_eoi(struct vm *vm, u8 vector)
{
	ioapic_eoi(vm, vector);
}
