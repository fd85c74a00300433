/* Per-CPU data. Each CPU's GS base points at its struct cpu, whose first
 * field points at itself, so this_cpu() is one load from %gs:0. */
#ifndef UMBRA_KERNEL_PERCPU_H
#define UMBRA_KERNEL_PERCPU_H

#include "lib/types.h"
#include "kernel/list.h"
#include "kernel/spinlock.h"
#include "kernel/timer.h"

#define MAX_CPUS 64
#define IST_STACK_SIZE 8192

struct thread;

/* x86-64 TSS (Intel SDM vol. 3, 8.7). */
struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;
_Static_assert(sizeof(struct tss64) == 104, "TSS layout");

struct runqueue {
	spinlock_t lock; /* protects queue, and the state of threads on it */
	struct list_head queue;
	u32 nr_runnable;
};

struct timer_base {
	spinlock_t lock; /* protects the pending list; taken with IRQs off */
	struct list_head pending; /* sorted by deadline */
};

struct cpu {
	struct cpu *self; /* must stay first: this_cpu() reads %gs:0 */
	u32 index;        /* dense 0..nr_cpus-1; 0 is the boot CPU */
	u32 apic_id;
	volatile bool online;

	struct thread *current;
	struct thread *idle;
	struct runqueue rq;
	bool need_resched;
	struct timer slice_timer;

	struct timer_base timers;
	u64 timer_programmed; /* deadline the hardware is armed for, 0 = none */
	u64 timer_irqs;

	struct list_head calls; /* smp_call requests for this CPU */
	spinlock_t calls_lock;
	u64 ipis_received;

	u64 gdt[7] __aligned(16);
	struct tss64 tss __aligned(16);
	u8 ist_stacks[3][IST_STACK_SIZE] __aligned(16);
};

extern struct cpu cpus[MAX_CPUS];
extern u32 nr_cpus; /* CPUs brought online */

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(c));
	return c;
}

static inline u32 this_cpu_index(void) { return this_cpu()->index; }

void percpu_init(struct cpu *c, u32 index, u32 apic_id);

#endif
