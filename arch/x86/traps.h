/* Interrupt frame and vector assignments. */
#ifndef UMBRA_ARCH_X86_TRAPS_H
#define UMBRA_ARCH_X86_TRAPS_H

#include "lib/types.h"

/* The frame entry.S builds; order matches its pushes (last pushed first). */
struct regs {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct regs) == 22 * 8, "struct regs matches entry.S");

#define VEC_DE 0
#define VEC_NMI 2
#define VEC_DF 8
#define VEC_GP 13
#define VEC_PF 14
#define VEC_MC 18

/* Host interrupt vectors. */
#define VEC_TIMER 0x20
#define VEC_IPI_RESCHED 0xf0
#define VEC_IPI_CALL 0xf1
#define VEC_IPI_KICK 0xf2 /* pulls a CPU out of guest mode; nothing else */
#define VEC_SPURIOUS 0xff

/* IST slots in each CPU's TSS (1-based as the IDT encodes them). */
#define IST_DF 1
#define IST_NMI 2
#define IST_MC 3

typedef void (*irq_handler_t)(struct regs *r);

void idt_init(void);
void idt_load(void);
void irq_register(u8 vector, irq_handler_t fn);
void interrupt_dispatch(struct regs *r);
void regs_print(const struct regs *r);

#endif
