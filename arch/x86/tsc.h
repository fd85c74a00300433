/* The TSC is the hypervisor's clock: calibrated once at boot against a fixed
 * rate timer (HPET, else the ACPI PM timer, else PIT channel 2). */
#ifndef UMBRA_ARCH_X86_TSC_H
#define UMBRA_ARCH_X86_TSC_H

#include "lib/types.h"

struct tsc_refclock {
	paddr_t hpet_base;   /* 0 if none */
	u16 pmtmr_port;      /* 0 if none */
	bool pmtmr_32bit;
};

void tsc_calibrate(const struct tsc_refclock *ref);
u64 tsc_hz(void);
const char *tsc_reference_name(void);
void tsc_delay_us(u64 us);
u64 tsc_to_ns(u64 ticks);
u64 ns_to_tsc(u64 ns);
u64 time_ns(void); /* since boot */

/* Independent reference clock reads (for self-tests of timer accuracy):
 * nanoseconds from the calibration source, or 0 when it has none. */
u64 refclock_ns(void);

#endif
