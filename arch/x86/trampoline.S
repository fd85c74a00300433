/*
 * AP start-up code, copied to AP_TRAMPOLINE_PHYS (below 1 MiB) before the
 * SIPI. The AP starts in real mode at CS:IP = (vector << 8):0, goes through
 * 32-bit protected mode into long mode with the boot CPU's CR3 and EFER, then
 * jumps to ap_entry on the stack the boot CPU left in tr_stack.
 */
#include "boot/layout.h"

#define TR(x) (AP_TRAMPOLINE_PHYS + (x) - trampoline_start)

	.section .trampoline, "a"
	.globl trampoline_start, trampoline_end
	.globl tr_cr3, tr_efer, tr_stack, tr_entry
	.code16
trampoline_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl (tr_gdt_ptr - trampoline_start)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $TR(tr_pm)

	.code32
tr_pm:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl TR(tr_cr3), %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	movl TR(tr_efer), %eax
	xorl %edx, %edx
	wrmsr
	movl %cr0, %eax
	orl $0x80010000, %eax /* PG | WP */
	movl %eax, %cr0
	ljmpl $0x18, $TR(tr_lm)

	.code64
tr_lm:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movq TR(tr_stack), %rsp
	movq TR(tr_entry), %rax
	xorl %ebp, %ebp
	call *%rax /* ABI: entry with RSP = 8 mod 16 */

	.align 16
tr_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
	.quad 0x00af9a000000ffff /* 0x18: 64-bit code */
tr_gdt_ptr:
	.word tr_gdt_ptr - tr_gdt - 1
	.long TR(tr_gdt)
	.align 8
tr_cr3: .long 0
tr_efer: .long 0
tr_stack: .quad 0
tr_entry: .quad 0
trampoline_end:
