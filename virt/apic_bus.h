/* The guest's APIC bus: IPIs between vCPUs, IOAPIC messages, EOI broadcast,
 * and kicking a vCPU so it notices a new event. */
#ifndef UMBRA_VIRT_APIC_BUS_H
#define UMBRA_VIRT_APIC_BUS_H

#include "lib/types.h"

struct vcpu;
struct vm;

/* ICR delivery modes (SDM 3, 11.6.1). */
#define APIC_DM_FIXED 0
#define APIC_DM_LOWEST 1
#define APIC_DM_SMI 2
#define APIC_DM_NMI 4
#define APIC_DM_INIT 5
#define APIC_DM_STARTUP 6
#define APIC_DM_EXTINT 7

struct apic_msg {
	u32 dest;
	bool logical;
	bool x2;       /* 32-bit destinations (x2APIC) */
	u8 mode;       /* APIC_DM_* */
	u8 vector;
	bool level;    /* level-triggered (IOAPIC) */
	bool assert;   /* INIT: level de-assert (assert=0) is a no-op */
	u8 shorthand;  /* 0 none, 1 self, 2 all, 3 all but self */
};

void apic_bus_send_ipi(struct vcpu *src, u32 icr_lo, u32 icr_hi, bool x2);
void apic_bus_deliver(struct vm *vm, struct vcpu *src, const struct apic_msg *m);
void apic_bus_eoi(struct vm *vm, u8 vector);
/* Makes v look at its pending events now: wakes it if halted or parked,
 * and pulls it out of guest mode if it is running on another CPU. */
void vcpu_kick(struct vcpu *v);

#endif
