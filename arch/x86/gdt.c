/* Per-CPU GDT and TSS. Each CPU has its own TSS (the IST stacks differ), so
 * each has its own GDT; the layout matches boot/layout.h. */
#include "arch/x86/gdt.h"
#include "arch/x86/traps.h"
#include "boot/layout.h"
#include "kernel/percpu.h"
#include "lib/string.h"

#define SEG_CODE64 0x00af9a000000ffffull /* L=1, P, DPL0, execute/read */
#define SEG_DATA 0x00cf92000000ffffull   /* P, DPL0, read/write */

struct gdt_ptr {
	u16 limit;
	u64 base;
} __packed;

static void tss_descriptor(u64 *slot, u64 base, u32 limit)
{
	/* 16-byte system descriptor, type 9 = available 64-bit TSS (SDM 3, 8.2.3). */
	slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		  ((u64)((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	slot[1] = base >> 32;
}

void gdt_init_cpu(struct cpu *c)
{
	memset(c->gdt, 0, sizeof(c->gdt));
	c->gdt[GDT_KERNEL_CS / 8] = SEG_CODE64;
	c->gdt[GDT_KERNEL_DS / 8] = SEG_DATA;
	memset(&c->tss, 0, sizeof(c->tss));
	c->tss.ist[IST_DF - 1] = (u64)(uintptr_t)&c->ist_stacks[0][IST_STACK_SIZE];
	c->tss.ist[IST_NMI - 1] = (u64)(uintptr_t)&c->ist_stacks[1][IST_STACK_SIZE];
	c->tss.ist[IST_MC - 1] = (u64)(uintptr_t)&c->ist_stacks[2][IST_STACK_SIZE];
	c->tss.iomap_base = sizeof(c->tss); /* no I/O bitmap */
	tss_descriptor(&c->gdt[GDT_TSS / 8], (u64)(uintptr_t)&c->tss, sizeof(c->tss) - 1);

	struct gdt_ptr p = { sizeof(c->gdt) - 1, (u64)(uintptr_t)c->gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(GDT_KERNEL_CS), "i"(GDT_KERNEL_DS), "r"(GDT_TSS)
			 : "rax", "memory");
}
