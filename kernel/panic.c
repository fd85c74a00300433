/* panic: report (message, registers, stack trace, CPU), stop every CPU, and in
 * test mode end the emulator run with a failing status. */
#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "boot/layout.h"
#include "drivers/power.h"
#include "drivers/uart.h"
#include "kernel/console.h"
#include "kernel/log.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "lib/printf.h"

static u32 panicking; /* 0, or 1 + index of the CPU that panicked first */
static bool percpu_usable;

void panic_mark_percpu_ready(void);
void panic_mark_percpu_ready(void) { percpu_usable = true; }

bool panic_in_progress(void)
{
	return __atomic_load_n(&panicking, __ATOMIC_RELAXED) != 0;
}

void panic_stop_this_cpu(void)
{
	for (;;) {
		irq_disable();
		halt();
	}
}

static bool kernel_stack_addr(u64 a)
{
	return (a >= KERNEL_VIRT_OFFSET || (a >= DIRECT_MAP_OFFSET && a < DIRECT_MAP_OFFSET + (1ull << 39))) &&
	       (a & 7) == 0;
}

void stack_trace_print(u64 rbp, u64 rip)
{
	log_err("stack trace:");
	log_err("  [0] %016llx", (unsigned long long)rip);
	for (int depth = 1; depth < 24 && rbp && kernel_stack_addr(rbp); depth++) {
		const u64 *frame = (const u64 *)(uintptr_t)rbp;
		u64 ret = frame[1];
		if (ret < KERNEL_VIRT_OFFSET)
			break;
		log_err("  [%d] %016llx", depth, (unsigned long long)ret);
		if (frame[0] <= rbp) /* stacks grow down: callers are above */
			break;
		rbp = frame[0];
	}
}

static __noreturn void panic_common(const struct regs *r, const char *fmt, va_list ap)
{
	irq_disable();
	u32 me = percpu_usable ? this_cpu_index() : 0;
	u32 expected = 0;
	if (!__atomic_compare_exchange_n(&panicking, &expected, me + 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		panic_stop_this_cpu(); /* someone else is reporting */

	/* Stop the others first so the report is not interleaved. */
	if (percpu_usable && nr_cpus > 1)
		lapic_send_nmi_all_but_self();

	/* From here on only this CPU writes: the console stops locking. */
	console_enter_panic_mode();

	char line[512];
	umbra_vsnprintf(line, sizeof(line), fmt, ap);
	log_err("PANIC on CPU %u: %s", me, line);
	if (r)
		regs_print(r);
	u64 rbp = r ? r->rbp : (u64)(uintptr_t)__builtin_frame_address(0);
	u64 rip = r ? r->rip : (u64)(uintptr_t)__builtin_return_address(0);
	stack_trace_print(rbp, rip);
	log_err("all CPUs stopped");
	uart_drain();
	power_test_exit(UMBRA_EXIT_PANIC);
	panic_stop_this_cpu();
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	panic_common(NULL, fmt, ap);
}

void panic_with_regs(const struct regs *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	panic_common(r, fmt, ap);
}
