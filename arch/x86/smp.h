#ifndef UMBRA_ARCH_X86_SMP_H
#define UMBRA_ARCH_X86_SMP_H

#include "lib/types.h"

/* Starts the APs in apic_ids (skipping the boot CPU) one at a time with
 * INIT-SIPI-SIPI until max_cpus are online; returns how many are. */
u32 smp_boot_aps(const u32 *apic_ids, u32 count, u32 max_cpus);

#endif
