/* Per-CPU one-shot timers on the TSC time base. The LAPIC timer (TSC-deadline
 * or one-shot) is armed for the earliest pending timer of each CPU. */
#ifndef UMBRA_KERNEL_TIMER_H
#define UMBRA_KERNEL_TIMER_H

#include "kernel/list.h"
#include "lib/types.h"

struct timer;
typedef void (*timer_fn_t)(struct timer *t);

struct timer {
	struct list_head link;
	u64 deadline; /* TSC value */
	timer_fn_t fn; /* runs in interrupt context on the timer's CPU */
	u32 cpu;
	bool armed;
	bool running; /* its callback is executing (timer_cancel_sync waits) */
};

void timer_init_cpu(void);
/* Arms t on the current CPU; re-arming an armed timer moves it. */
void timer_arm(struct timer *t, u64 deadline, timer_fn_t fn);
/* Returns true if t was pending. Safe from any CPU; the callback may still be
 * running on the timer's CPU when it returns. */
bool timer_cancel(struct timer *t);
/* Cancels t and waits until its callback is not running (before freeing
 * what the callback uses). Not from t's own callback. */
void timer_cancel_sync(struct timer *t);

#endif
