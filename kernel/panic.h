#ifndef UMBRA_KERNEL_PANIC_H
#define UMBRA_KERNEL_PANIC_H

#include "lib/types.h"

struct regs;

/* panic() with an interrupt frame: prints the registers of the faulting
 * context and a stack trace from its RBP, then stops every CPU. */
__noreturn void panic_with_regs(const struct regs *r, const char *fmt, ...) __printf(2, 3);
bool panic_in_progress(void);
__noreturn void panic_stop_this_cpu(void);
void stack_trace_print(u64 rbp, u64 rip);

#endif
