/* Run a function on another CPU and wait for it (TLB shootdowns, self-tests). */
#ifndef UMBRA_KERNEL_SMP_CALL_H
#define UMBRA_KERNEL_SMP_CALL_H

#include "lib/types.h"

typedef void (*smp_call_fn)(void *arg);

/* Runs fn(arg) on CPU `cpu` in interrupt context and waits until it has run.
 * Must be called with interrupts enabled (two CPUs calling each other with
 * interrupts off would deadlock). Runs fn directly when cpu is this CPU. */
void smp_call(u32 cpu, smp_call_fn fn, void *arg);
void smp_call_all(smp_call_fn fn, void *arg); /* every online CPU, self included */
void smp_call_init(void);

#endif
