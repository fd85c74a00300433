/*
 * Entry from GRUB (multiboot2) and from QEMU -kernel (multiboot v1). Both
 * enter in 32-bit protected mode, paging off, EAX = magic, EBX = info
 * (Multiboot spec 3.2 / Multiboot2 spec 3.3). We zero the BSS, build boot page
 * tables (identity + direct map + higher-half kernel for the first 4 GiB with
 * 2 MiB pages), switch to long mode and call kmain(magic, info) in the higher
 * half.
 */
#include "boot/layout.h"

#define PHYS(x) ((x) - KERNEL_VIRT_OFFSET)

#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS 0x00000003 /* page-align modules, want memory info */
#define MB2_MAGIC 0xE85250D6

	.section .multiboot, "a"
	.align 4
mb1_header:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)

	.align 8
mb2_header:
	.long MB2_MAGIC
	.long 0 /* architecture: i386 protected mode */
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
	/* module alignment tag: modules page aligned */
	.align 8
	.word 6, 0
	.long 8
	/* end tag */
	.align 8
	.word 0, 0
	.long 8
mb2_header_end:

	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, %ebp /* magic */
	movl %ebx, %esi /* info */

	/* Zero the BSS (page tables and stacks live there). */
	movl $PHYS(__bss_start), %edi
	movl $PHYS(__bss_end), %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	movl $PHYS(boot_stack_top), %esp

	/* Long mode present? CPUID 0x80000001 EDX bit 29. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode
	movl %edx, %ebx /* keep EDX: bit 20 is NX */

	/* PD entries: 2048 x 2 MiB covering 0..4 GiB (present, writable, PS). */
	movl $PHYS(boot_pd), %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, (%edi,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax /* high dword: (i * 2 MiB) >> 32 */
	movl %eax, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jb 1b

	/* PDPT low: 4 entries -> the 4 PD pages. Used for identity and direct map. */
	movl $PHYS(boot_pdpt_low), %edi
	movl $PHYS(boot_pd), %eax
	orl $0x3, %eax
	movl %eax, 0(%edi)
	addl $0x1000, %eax
	movl %eax, 8(%edi)
	addl $0x1000, %eax
	movl %eax, 16(%edi)
	addl $0x1000, %eax
	movl %eax, 24(%edi)

	/* PDPT high: entries 510, 511 -> first 2 GiB (kernel at -2 GiB). */
	movl $PHYS(boot_pdpt_high), %edi
	movl $PHYS(boot_pd), %eax
	orl $0x3, %eax
	movl %eax, 510*8(%edi)
	addl $0x1000, %eax
	movl %eax, 511*8(%edi)

	/* PML4: [0] identity, [256] direct map, [511] kernel. */
	movl $PHYS(boot_pml4), %edi
	movl $PHYS(boot_pdpt_low), %eax
	orl $0x3, %eax
	movl %eax, 0(%edi)
	movl %eax, 256*8(%edi)
	movl $PHYS(boot_pdpt_high), %eax
	orl $0x3, %eax
	movl %eax, 511*8(%edi)

	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl $PHYS(boot_pml4), %eax
	movl %eax, %cr3

	movl $0xC0000080, %ecx /* EFER */
	rdmsr
	orl $0x100, %eax /* LME */
	btl $20, %ebx
	jnc 2f
	orl $0x800, %eax /* NXE */
2:	wrmsr

	movl %cr0, %eax
	orl $0x80010001, %eax /* PG | WP | PE */
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $GDT_KERNEL_CS, $long_mode_low

no_long_mode:
	/* Tell the user on COM1 (default settings from firmware) and stop. */
	movl $no_lm_msg, %esi
3:	lodsb
	testb %al, %al
	jz 4f
	movw $0x3f8, %dx
	outb %al, %dx
	jmp 3b
4:	hlt
	jmp 4b

	.code64
long_mode_low:
	movabsq $long_mode_high, %rax
	jmp *%rax

	.text
long_mode_high:
	movl %ebp, %edi /* magic (zero-extended) */
	movl %esi, %esi /* info physical address */
	movl $GDT_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp /* terminates stack traces */
	movabsq $boot_gdt_ptr64, %rax
	lgdt (%rax)
	call kmain
1:	cli
	hlt
	jmp 1b

	.section .boot.data, "aw"
	.align 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt
no_lm_msg:
	.asciz "Umbra: this CPU has no x86-64 long mode; cannot boot.\r\n"

	.data
	.align 16
boot_gdt_ptr64:
	.word boot_gdt_end - boot_gdt - 1
	.quad boot_gdt + KERNEL_VIRT_OFFSET

	.bss
	.align 4096
	.globl boot_pml4
boot_pml4: .skip 4096
boot_pdpt_low: .skip 4096
boot_pdpt_high: .skip 4096
	.globl boot_pd
boot_pd: .skip 4096 * 4
	.align 16
	.globl boot_stack
boot_stack: .skip BOOT_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:
