/* x87/SSE state of guests. The hypervisor itself never touches these
 * registers (-mgeneral-regs-only), so a guest's state stays live in the CPU
 * until another guest's vCPU runs on the same host CPU; only then is it
 * saved (FXSAVE) and the other's restored. */
#ifndef UMBRA_ARCH_X86_FPU_H
#define UMBRA_ARCH_X86_FPU_H

#include "lib/types.h"

void fpu_cpu_init(void);
/* Initial state (FNINIT + default MXCSR) into a 512-byte FXSAVE area. */
void fpu_state_init(u8 *area);
/* Makes `area` the live FPU state of this CPU; `owner` identifies it. */
void fpu_switch_to(void *owner, u8 *area);
/* The owner goes away: forget it on every CPU (its area must not be
 * written back after it is freed). */
void fpu_forget(void *owner);

#endif
