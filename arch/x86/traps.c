/* IDT, interrupt dispatch, and CPU exceptions in the hypervisor (each one is a
 * bug, reported through panic with the full frame, never silently). */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "boot/layout.h"
#include "kernel/log.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"

struct idt_entry {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} __packed;
_Static_assert(sizeof(struct idt_entry) == 16, "IDT gate is 16 bytes");

static struct idt_entry idt[256] __aligned(16);
static irq_handler_t irq_handlers[256];

extern char vector_stubs_start[];
extern char rdmsr_safe_insn[], rdmsr_safe_fixup[];

#define STUB_SIZE 16 /* .align 16 in entry.S */
#define GATE_INTERRUPT 0x8e /* present, DPL0, 64-bit interrupt gate */

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization",
	"#CP control protection", "reserved 22", "reserved 23", "reserved 24",
	"reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
	"#VC VMM communication", "#SX security", "reserved 31",
};

static void idt_set(u8 vec, u8 ist)
{
	u64 addr = (u64)(uintptr_t)(vector_stubs_start + vec * STUB_SIZE);
	idt[vec] = (struct idt_entry){
		.offset_lo = addr & 0xffff,
		.selector = GDT_KERNEL_CS,
		.ist = ist,
		.type_attr = GATE_INTERRUPT,
		.offset_mid = (addr >> 16) & 0xffff,
		.offset_hi = addr >> 32,
	};
}

void idt_init(void)
{
	for (int v = 0; v < 256; v++)
		idt_set(v, 0);
	idt_set(VEC_DF, IST_DF);
	idt_set(VEC_NMI, IST_NMI);
	idt_set(VEC_MC, IST_MC);
}

void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __packed p = { sizeof(idt) - 1, (u64)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}

void irq_register(u8 vector, irq_handler_t fn)
{
	irq_handlers[vector] = fn;
}

void regs_print(const struct regs *r)
{
	log_err("RIP %016llx CS %04llx RFLAGS %016llx vector %llu error %llx",
		(unsigned long long)r->rip, (unsigned long long)r->cs,
		(unsigned long long)r->rflags, (unsigned long long)r->vector,
		(unsigned long long)r->error_code);
	log_err("RAX %016llx RBX %016llx RCX %016llx RDX %016llx",
		(unsigned long long)r->rax, (unsigned long long)r->rbx,
		(unsigned long long)r->rcx, (unsigned long long)r->rdx);
	log_err("RSI %016llx RDI %016llx RBP %016llx RSP %016llx",
		(unsigned long long)r->rsi, (unsigned long long)r->rdi,
		(unsigned long long)r->rbp, (unsigned long long)r->rsp);
	log_err("R8  %016llx R9  %016llx R10 %016llx R11 %016llx",
		(unsigned long long)r->r8, (unsigned long long)r->r9,
		(unsigned long long)r->r10, (unsigned long long)r->r11);
	log_err("R12 %016llx R13 %016llx R14 %016llx R15 %016llx",
		(unsigned long long)r->r12, (unsigned long long)r->r13,
		(unsigned long long)r->r14, (unsigned long long)r->r15);
	log_err("CR0 %016llx CR2 %016llx CR3 %016llx CR4 %016llx",
		(unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
		(unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

static void exception(struct regs *r)
{
	if (r->vector == VEC_GP && r->rip == (u64)(uintptr_t)rdmsr_safe_insn) {
		r->rip = (u64)(uintptr_t)rdmsr_safe_fixup;
		return;
	}
	if (r->vector == VEC_NMI && panic_in_progress()) {
		panic_stop_this_cpu();
	}
	panic_with_regs(r, "CPU exception %s", exception_names[r->vector]);
}

void interrupt_dispatch(struct regs *r)
{
	u64 v = r->vector;
	if (v < 32) {
		exception(r);
		return;
	}
	if (irq_handlers[v])
		irq_handlers[v](r);
	else if (v != VEC_SPURIOUS)
		log_warn("unexpected interrupt vector %llu on CPU %u",
			 (unsigned long long)v, this_cpu_index());
	/* A timer or wakeup may have made another thread due: switch now, on
	 * this thread's stack, and resume here when it is scheduled again. */
	if (this_cpu()->need_resched && !(r->cs & 3))
		schedule();
}
