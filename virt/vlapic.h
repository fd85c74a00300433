/* The guest's local APIC: x2APIC registers (MSRs 0x800-0x8ff) with the timer
 * in one-shot, periodic and TSC-deadline modes. The xAPIC MMIO page, IPIs and
 * the rest of the platform come with the PC-platform work. */
#ifndef UMBRA_VIRT_VLAPIC_H
#define UMBRA_VIRT_VLAPIC_H

#include "kernel/spinlock.h"
#include "kernel/timer.h"
#include "lib/types.h"

struct vcpu;

struct vlapic {
	spinlock_t lock; /* protects everything below; the timer callback takes it */
	u64 apic_base;   /* IA32_APIC_BASE */
	u32 id;
	u32 tpr, svr, ldr;
	u32 lvt[6];      /* timer, thermal, perf, LINT0, LINT1, error (x2APIC order 0x832..0x837) */
	u32 esr;
	u32 irr[8], isr[8], tmr[8];
	u32 timer_initial, timer_divide;
	u64 timer_start_ns; /* host time the current count started */
	u64 tsc_deadline;
	struct timer timer;
	struct vcpu *vcpu;
	u64 timer_fired;
};

void vlapic_init(struct vlapic *l, struct vcpu *v, bool bsp);
void vlapic_destroy(struct vlapic *l);
/* MSR access; false means the access raises #GP in the guest. */
bool vlapic_rdmsr(struct vlapic *l, u32 msr, u64 *val);
bool vlapic_wrmsr(struct vlapic *l, u32 msr, u64 val);
/* Highest-priority deliverable vector, or -1. */
int vlapic_pending_vector(struct vlapic *l);
/* The vector was injected: IRR -> ISR. */
void vlapic_ack(struct vlapic *l, int vector);
void vlapic_set_irq(struct vlapic *l, u8 vector);

#endif
