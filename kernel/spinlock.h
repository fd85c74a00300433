/* Spinlocks. Taking a lock disables interrupts on this CPU (saving the old
 * state), so a lock holder is never preempted or interrupted on its own CPU:
 * any lock may then be taken from interrupt context without deadlock. */
#ifndef UMBRA_KERNEL_SPINLOCK_H
#define UMBRA_KERNEL_SPINLOCK_H

#include "lib/types.h"

#ifdef UMBRA_HOST
static inline unsigned long irq_save(void) { return 0; }
static inline void irq_restore(unsigned long f) { (void)f; }
static inline void cpu_relax(void) { __builtin_ia32_pause(); }
#else
#include "arch/x86/cpu.h"
#endif

typedef struct {
	u32 locked;
} spinlock_t;

#define SPINLOCK_INIT { 0 }

static inline void spin_init(spinlock_t *l) { l->locked = 0; }

/* For locks held across a context switch (the run queue): the caller has
 * interrupts off already and another thread may release the lock. */
static inline void raw_spin_lock(spinlock_t *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
	}
}

static inline void raw_spin_unlock(spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline unsigned long spin_lock(spinlock_t *l)
{
	unsigned long flags = irq_save();
	raw_spin_lock(l);
	return flags;
}

static inline void spin_unlock(spinlock_t *l, unsigned long flags)
{
	raw_spin_unlock(l);
	irq_restore(flags);
}

static inline bool spin_is_locked(const spinlock_t *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0;
}

#endif
