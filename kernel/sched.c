/*
 * Scheduler. Each CPU runs its own threads round-robin; a thread never moves.
 *
 * Locking: cpu->rq.lock protects that CPU's queue and the state/wake_pending
 * of every thread that belongs to the CPU. It is held across context_switch()
 * and released by the thread switched to (sched_finish_switch), so a thread
 * being switched out cannot be picked up again before its registers are saved.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/kmalloc.h"

void context_switch(u64 *prev_rsp, u64 next_rsp);
extern char thread_entry_trampoline[];

static u64 next_thread_id = 1;
static struct thread idle_threads[MAX_CPUS];
/* Per-CPU: a dead thread whose stack is freed once we are off it. */
static struct thread *zombies[MAX_CPUS];

struct thread *current_thread(void) { return this_cpu()->current; }

/* Runs every slice while a thread is on the CPU, so a thread woken behind a
 * busy one gets its turn within a slice. */
static void slice_expired(struct timer *t)
{
	struct cpu *c = this_cpu();
	if (c->rq.nr_runnable)
		c->need_resched = true;
	else if (c->current != c->idle)
		timer_arm(t, rdtsc() + ns_to_tsc(SCHED_SLICE_NS), slice_expired);
}

/* Called with c->rq.lock held and interrupts off; returns with the lock
 * released (by whichever thread runs next on this CPU). */
static void schedule_locked(struct cpu *c)
{
	struct thread *prev = c->current;
	c->need_resched = false;
	if (prev->state == THREAD_RUNNING && prev != c->idle) {
		prev->state = THREAD_RUNNABLE;
		list_add_tail(&prev->rq_link, &c->rq.queue);
		c->rq.nr_runnable++;
	}
	struct thread *next = c->idle;
	if (!list_empty(&c->rq.queue)) {
		next = list_first_entry(&c->rq.queue, struct thread, rq_link);
		list_del(&next->rq_link);
		c->rq.nr_runnable--;
	}
	next->state = THREAD_RUNNING;
	if (next == prev) {
		raw_spin_unlock(&c->rq.lock);
		return;
	}
	c->current = next;
	if (prev->state == THREAD_DEAD)
		zombies[c->index] = prev;
	context_switch(&prev->rsp, next->rsp);
	sched_finish_switch();
}

void sched_finish_switch(void)
{
	struct cpu *c = this_cpu();
	struct thread *z = zombies[c->index];
	zombies[c->index] = NULL;
	raw_spin_unlock(&c->rq.lock);
	/* Arm the slice for whoever runs now; it matters only if others wait. */
	if (c->current != c->idle)
		timer_arm(&c->slice_timer, rdtsc() + ns_to_tsc(SCHED_SLICE_NS),
			  slice_expired);
	if (z) {
		kfree(z->stack);
		kfree(z);
	}
}

void schedule(void)
{
	unsigned long f = irq_save();
	struct cpu *c = this_cpu();
	raw_spin_lock(&c->rq.lock);
	schedule_locked(c);
	irq_restore(f);
}

void thread_yield(void) { schedule(); }

void thread_block(void)
{
	unsigned long f = irq_save();
	struct cpu *c = this_cpu();
	struct thread *t = c->current;
	ASSERT(t != c->idle);
	raw_spin_lock(&c->rq.lock);
	if (t->wake_pending) {
		t->wake_pending = false;
		raw_spin_unlock(&c->rq.lock);
	} else {
		t->state = THREAD_BLOCKED;
		schedule_locked(c);
	}
	irq_restore(f);
}

void thread_wake(struct thread *t)
{
	struct cpu *c = &cpus[t->cpu];
	bool kick = false;
	unsigned long f = spin_lock(&c->rq.lock);
	if (t->state == THREAD_BLOCKED) {
		t->state = THREAD_RUNNABLE;
		list_add_tail(&t->rq_link, &c->rq.queue);
		c->rq.nr_runnable++;
		kick = c->current == c->idle;
	} else if (t->state != THREAD_DEAD) {
		t->wake_pending = true;
	}
	spin_unlock(&c->rq.lock, f);
	if (!kick)
		return;
	if (c == this_cpu())
		c->need_resched = true;
	else
		lapic_send_ipi(c->apic_id, VEC_IPI_RESCHED);
}

static void sleep_timer_fired(struct timer *tm)
{
	thread_wake(container_of(tm, struct thread, sleep_timer));
}

void thread_sleep_ns(u64 ns)
{
	struct thread *t = current_thread();
	u64 deadline = rdtsc() + ns_to_tsc(ns);
	while (rdtsc() < deadline) {
		timer_arm(&t->sleep_timer, deadline, sleep_timer_fired);
		thread_block();
	}
	timer_cancel(&t->sleep_timer);
}

void thread_start(void *arg, void (*fn)(void *))
{
	irq_enable();
	fn(arg);
	thread_exit();
}

void thread_exit(void)
{
	irq_disable();
	struct cpu *c = this_cpu();
	struct thread *t = c->current;
	timer_cancel(&t->sleep_timer);
	raw_spin_lock(&c->rq.lock);
	t->state = THREAD_DEAD;
	schedule_locked(c);
	panic("dead thread %s scheduled again", t->name);
}

struct thread *thread_create(const char *name, u32 cpu, void (*fn)(void *), void *arg)
{
	struct thread *t = thread_create_stopped(name, cpu, fn, arg);
	if (t)
		thread_wake(t);
	return t;
}

struct thread *thread_create_stopped(const char *name, u32 cpu, void (*fn)(void *), void *arg)
{
	if (cpu >= nr_cpus || !cpus[cpu].online)
		return NULL;
	struct thread *t = kzalloc(sizeof(*t));
	void *stack = t ? kmalloc(THREAD_STACK_SIZE) : NULL;
	if (!stack) {
		kfree(t);
		return NULL;
	}
	strlcpy(t->name, name, sizeof(t->name));
	t->stack = stack;
	t->fn = fn;
	t->arg = arg;
	t->cpu = cpu;
	t->id = __atomic_fetch_add(&next_thread_id, 1, __ATOMIC_RELAXED);
	list_init(&t->rq_link);
	list_init(&t->sleep_timer.link);
	t->sleep_timer.cpu = cpu;

	/* Initial frame for context_switch: six callee-saved registers, then
	 * the return address; r12/r13 carry fn/arg to the trampoline. */
	u64 *sp = (u64 *)((char *)stack + THREAD_STACK_SIZE);
	*--sp = (u64)(uintptr_t)thread_entry_trampoline;
	*--sp = 0;                       /* rbp */
	*--sp = 0;                       /* rbx */
	*--sp = (u64)(uintptr_t)fn;      /* r12 */
	*--sp = (u64)(uintptr_t)arg;     /* r13 */
	*--sp = 0;                       /* r14 */
	*--sp = 0;                       /* r15 */
	t->rsp = (u64)(uintptr_t)sp;

	t->state = THREAD_BLOCKED;
	return t;
}

static void resched_ipi(struct regs *r)
{
	lapic_eoi();
	this_cpu()->need_resched = true;
}

void sched_init_cpu(void *stack_base)
{
	struct cpu *c = this_cpu();
	struct thread *idle = &idle_threads[c->index];
	umbra_snprintf(idle->name, sizeof(idle->name), "idle%u", c->index);
	idle->state = THREAD_RUNNING;
	idle->cpu = c->index;
	idle->stack = stack_base;
	list_init(&idle->rq_link);
	list_init(&idle->sleep_timer.link);
	spin_init(&c->rq.lock);
	list_init(&c->rq.queue);
	list_init(&c->slice_timer.link);
	c->idle = idle;
	c->current = idle;
	if (c->index == 0)
		irq_register(VEC_IPI_RESCHED, resched_ipi);
}

void sched_idle_loop(void)
{
	struct cpu *c = this_cpu();
	for (;;) {
		irq_disable();
		if (c->rq.nr_runnable || c->need_resched) {
			schedule();
			continue;
		}
		safe_halt();
	}
}
