/* AP bring-up (Intel SDM vol. 3, 9.4.4 "MP initialization example"; MP spec
 * B.4): INIT, 10 ms, SIPI, 200 us, SIPI; the AP sets cpu->online. APs start
 * one at a time so they can share the trampoline's data slots. */
#include "arch/x86/cpu.h"
#include "arch/x86/fpu.h"
#include "arch/x86/gdt.h"
#include "arch/x86/lapic.h"
#include "arch/x86/smp.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "boot/layout.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "lib/string.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"

extern char trampoline_start[], trampoline_end[];
extern char tr_cr3[], tr_efer[], tr_stack[], tr_entry[];

#define AP_START_TIMEOUT_US 2000000 /* generous: emulators start APs slowly */

static struct cpu *volatile ap_booting;
static void *volatile ap_stack_base;

void ap_entry(void);
void ap_entry(void)
{
	struct cpu *c = ap_booting;
	percpu_init(c, c->index, c->apic_id);
	gdt_init_cpu(c);
	fpu_cpu_init();
	idt_load();
	lapic_init_cpu();
	if (lapic_id() != c->apic_id)
		log_warn("smp: CPU %u reports APIC ID %u, MADT said %u", c->index,
			 lapic_id(), c->apic_id);
	timer_init_cpu();
	sched_init_cpu(ap_stack_base);
	__atomic_store_n(&c->online, true, __ATOMIC_RELEASE);
	sched_idle_loop();
}

static void trampoline_set(char *sym, u64 v, size_t size)
{
	void *dst = (char *)phys_to_virt(AP_TRAMPOLINE_PHYS) + (sym - trampoline_start);
	memcpy(dst, &v, size);
}

static bool start_ap(u32 index, u32 apic_id)
{
	struct cpu *c = &cpus[index];
	void *stack = kmalloc(THREAD_STACK_SIZE);
	if (!stack) {
		log_err("smp: no memory for CPU %u's stack", index);
		return false;
	}
	c->index = index;
	c->apic_id = apic_id;
	ap_booting = c;
	ap_stack_base = stack;
	trampoline_set(tr_stack, (u64)(uintptr_t)stack + THREAD_STACK_SIZE, 8);

	lapic_send_init(apic_id);
	lapic_send_sipi(apic_id, AP_TRAMPOLINE_PHYS >> 12);
	if (!__atomic_load_n(&c->online, __ATOMIC_ACQUIRE))
		lapic_send_sipi(apic_id, AP_TRAMPOLINE_PHYS >> 12);

	u64 deadline = rdtsc() + ns_to_tsc(AP_START_TIMEOUT_US * 1000ull);
	while (!__atomic_load_n(&c->online, __ATOMIC_ACQUIRE)) {
		if (rdtsc() > deadline) {
			log_warn("smp: CPU with APIC ID %u did not start", apic_id);
			/* Park it, so it cannot start late on a reused stack. */
			lapic_send_init(apic_id);
			kfree(stack);
			return false;
		}
		cpu_relax();
	}
	return true;
}

u32 smp_boot_aps(const u32 *apic_ids, u32 count, u32 max_cpus)
{
	size_t len = trampoline_end - trampoline_start;
	ASSERT(len <= PAGE_SIZE);
	memcpy(phys_to_virt(AP_TRAMPOLINE_PHYS), trampoline_start, len);
	trampoline_set(tr_cr3, read_cr3(), 4);
	trampoline_set(tr_efer, rdmsr(MSR_EFER) & ~EFER_LMA, 4);
	trampoline_set(tr_entry, (u64)(uintptr_t)ap_entry, 8);

	u32 self = lapic_id();
	for (u32 i = 0; i < count; i++) {
		if (apic_ids[i] == self)
			continue;
		if (nr_cpus >= max_cpus) {
			log_warn("smp: limit of %u CPUs reached; the rest stay off", max_cpus);
			break;
		}
		if (start_ap(nr_cpus, apic_ids[i]))
			nr_cpus++;
	}
	return nr_cpus;
}
