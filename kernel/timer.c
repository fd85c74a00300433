/* Per-CPU timers. Locking: each CPU's timer_base.lock protects its pending
 * list and the armed flag of timers on it; callbacks run with it released
 * (so they may re-arm). Only the owning CPU programs its LAPIC timer. */
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/timer.h"

static void timer_program_hw(struct cpu *c)
{
	u64 next = 0;
	if (!list_empty(&c->timers.pending))
		next = list_first_entry(&c->timers.pending, struct timer, link)->deadline;
	if (next != c->timer_programmed) {
		c->timer_programmed = next;
		lapic_timer_arm(next);
	}
}

static void timer_insert_sorted(struct timer_base *b, struct timer *t)
{
	struct list_head *pos;
	list_for_each(pos, &b->pending) {
		if (list_entry(pos, struct timer, link)->deadline > t->deadline)
			break;
	}
	list_add_tail(&t->link, pos);
}

bool timer_cancel(struct timer *t)
{
	for (;;) {
		u32 cpu = READ_ONCE(t->cpu);
		struct timer_base *b = &cpus[cpu].timers;
		unsigned long f = spin_lock(&b->lock);
		if (t->cpu != cpu) { /* moved meanwhile */
			spin_unlock(&b->lock, f);
			continue;
		}
		bool was = t->armed;
		if (was) {
			list_del(&t->link);
			t->armed = false;
		}
		spin_unlock(&b->lock, f);
		return was;
	}
}

void timer_cancel_sync(struct timer *t)
{
	/* A running callback may re-arm its timer (periodic ones do): cancel
	 * until it is neither pending nor running. */
	do {
		timer_cancel(t);
		while (__atomic_load_n(&t->running, __ATOMIC_ACQUIRE))
			cpu_relax();
	} while (READ_ONCE(t->armed));
}

void timer_arm(struct timer *t, u64 deadline, timer_fn_t fn)
{
	timer_cancel(t);
	unsigned long f = irq_save();
	struct cpu *c = this_cpu();
	raw_spin_lock(&c->timers.lock);
	t->deadline = deadline;
	t->fn = fn;
	t->cpu = c->index;
	t->armed = true;
	timer_insert_sorted(&c->timers, t);
	timer_program_hw(c);
	raw_spin_unlock(&c->timers.lock);
	irq_restore(f);
}

static void timer_interrupt(struct regs *r)
{
	struct cpu *c = this_cpu();
	c->timer_irqs++;
	lapic_eoi();
	raw_spin_lock(&c->timers.lock);
	c->timer_programmed = 0;
	for (;;) {
		if (list_empty(&c->timers.pending))
			break;
		struct timer *t = list_first_entry(&c->timers.pending, struct timer, link);
		if (t->deadline > rdtsc())
			break;
		list_del(&t->link);
		t->armed = false;
		__atomic_store_n(&t->running, true, __ATOMIC_RELAXED);
		raw_spin_unlock(&c->timers.lock);
		t->fn(t);
		__atomic_store_n(&t->running, false, __ATOMIC_RELEASE);
		raw_spin_lock(&c->timers.lock);
	}
	timer_program_hw(c);
	raw_spin_unlock(&c->timers.lock);
}

void timer_init_cpu(void)
{
	struct cpu *c = this_cpu();
	spin_init(&c->timers.lock);
	list_init(&c->timers.pending);
	c->timer_programmed = 0;
	if (c->index == 0)
		irq_register(VEC_TIMER, timer_interrupt);
}
