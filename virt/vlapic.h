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
	u32 tpr, svr, ldr, dfr;
	u32 icr_lo, icr_hi;
	int eoi_broadcast; /* vector of a level-triggered EOI to forward, or -1 */
	u32 lvt[6];      /* timer, thermal, perf, LINT0, LINT1, error (x2APIC order 0x832..0x837) */
	u32 esr, esr_pending;
	u32 irr[8], isr[8], tmr[8];
	u32 timer_initial, timer_divide;
	u64 timer_start_ns; /* host time the current count started */
	u64 tsc_deadline;
	struct timer timer;
	struct vcpu *vcpu;
	u64 timer_fired;
};

void vlapic_init(struct vlapic *l, struct vcpu *v, bool bsp);
/* MSR access; false means the access raises #GP in the guest. */
bool vlapic_rdmsr(struct vlapic *l, u32 msr, u64 *val);
bool vlapic_wrmsr(struct vlapic *l, u32 msr, u64 val);
/* xAPIC MMIO page (at vlapic_mmio_base): offsets within the page. */
bool vlapic_mmio_read(struct vlapic *l, u64 offset, u32 *val);
void vlapic_mmio_write(struct vlapic *l, u64 offset, u32 val);
u64 vlapic_mmio_base(struct vlapic *l);
/* The APIC bus side: does an IPI/IOAPIC message for `dest` reach this LAPIC,
 * and accept a fixed interrupt (level: remember it for the EOI broadcast). */
bool vlapic_match_dest(struct vlapic *l, u32 dest, bool logical, bool x2);
void vlapic_accept(struct vlapic *l, u8 vector, bool level);
/* May the 8259's INTR be delivered through LINT0 (ExtINT)? */
bool vlapic_extint_accepted(struct vlapic *l);
bool vlapic_sw_enabled(struct vlapic *l);
/* CR8 is TPR[7:4] (SDM 3 11.8.6.1): backends that let the guest write CR8
 * without an exit copy it in and out around each run. */
static inline u32 vlapic_get_tpr(const struct vlapic *l) { return READ_ONCE(l->tpr); }
static inline void vlapic_set_tpr(struct vlapic *l, u32 tpr) { WRITE_ONCE(l->tpr, tpr & 0xff); }
/* Records an error for the next ESR write to latch (ESR_* bits). */
#define ESR_SEND_ILLEGAL_VECTOR BIT(5)
void vlapic_error(struct vlapic *l, u32 esr_bits);
/* INIT: back to the power-up state (ID and BSP flag kept). */
void vlapic_reset(struct vlapic *l);
/* Highest-priority deliverable vector, or -1. */
int vlapic_pending_vector(struct vlapic *l);
/* The vector was injected: IRR -> ISR. */
void vlapic_ack(struct vlapic *l, int vector);

#endif
