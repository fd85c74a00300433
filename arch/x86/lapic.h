/* The host's local APIC, in x2APIC mode when the CPU has it, else xAPIC MMIO
 * (QEMU TCG has no x2APIC). */
#ifndef UMBRA_ARCH_X86_LAPIC_H
#define UMBRA_ARCH_X86_LAPIC_H

#include "lib/types.h"

/* Chooses the mode (x2APIC if offered) and maps the xAPIC page; BSP only. */
void lapic_global_init(paddr_t mmio_base);
/* Enables this CPU's LAPIC with the spurious vector and masks its LVTs. */
void lapic_init_cpu(void);
u32 lapic_id(void);
void lapic_eoi(void);
bool lapic_x2apic_mode(void);
bool lapic_tsc_deadline(void);

void lapic_send_ipi(u32 apic_id, u8 vector);
void lapic_send_nmi_all_but_self(void);
void lapic_send_init(u32 apic_id);
void lapic_send_sipi(u32 apic_id, u8 page);

/* Measures the LAPIC timer rate against the (calibrated) TSC. */
void lapic_timer_calibrate(void);
/* Fire VEC_TIMER once at TSC value `deadline` (0 = disarm). */
void lapic_timer_arm(u64 deadline);
u64 lapic_timer_hz(void);

#endif
