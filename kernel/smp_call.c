/* Cross-CPU function calls. Locking: cpu->calls_lock protects cpu->calls;
 * requests live on the caller's stack until `done` is set by the target. */
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"

struct call_request {
	struct list_head link;
	smp_call_fn fn;
	void *arg;
	u32 done;
};

static void call_ipi(struct regs *r)
{
	struct cpu *c = this_cpu();
	lapic_eoi();
	c->ipis_received++;
	for (;;) {
		raw_spin_lock(&c->calls_lock);
		if (list_empty(&c->calls)) {
			raw_spin_unlock(&c->calls_lock);
			return;
		}
		struct call_request *req = list_first_entry(&c->calls, struct call_request, link);
		list_del(&req->link);
		raw_spin_unlock(&c->calls_lock);
		req->fn(req->arg);
		__atomic_store_n(&req->done, 1, __ATOMIC_RELEASE);
	}
}

void smp_call(u32 cpu, smp_call_fn fn, void *arg)
{
	ASSERT(cpu < nr_cpus && cpus[cpu].online);
	if (cpu == this_cpu_index()) {
		unsigned long f = irq_save();
		fn(arg);
		irq_restore(f);
		return;
	}
	ASSERT(irq_enabled());
	struct call_request req = { .fn = fn, .arg = arg };
	struct cpu *c = &cpus[cpu];
	unsigned long f = spin_lock(&c->calls_lock);
	list_add_tail(&req.link, &c->calls);
	spin_unlock(&c->calls_lock, f);
	lapic_send_ipi(c->apic_id, VEC_IPI_CALL);
	while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE))
		cpu_relax();
}

void smp_call_all(smp_call_fn fn, void *arg)
{
	for (u32 i = 0; i < nr_cpus; i++)
		if (cpus[i].online)
			smp_call(i, fn, arg);
}

/* The kick's only job is the exit from guest mode it causes. */
static void kick_ipi(struct regs *r)
{
	lapic_eoi();
}

void smp_call_init(void)
{
	irq_register(VEC_IPI_CALL, call_ipi);
	irq_register(VEC_IPI_KICK, kick_ipi);
}
