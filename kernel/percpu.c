#include "arch/x86/cpu.h"
#include "kernel/percpu.h"

struct cpu cpus[MAX_CPUS];
u32 nr_cpus;

void percpu_init(struct cpu *c, u32 index, u32 apic_id)
{
	c->self = c;
	c->index = index;
	c->apic_id = apic_id;
	list_init(&c->calls);
	spin_init(&c->calls_lock);
	wrmsr(MSR_GS_BASE, (u64)(uintptr_t)c);
}
