/* Multiboot v1 header and entry, GDT, the 256 interrupt stubs. */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	/* Multiboot: 32-bit protected mode, paging off, flat CS/DS; ESP, GDTR
	 * and IDTR undefined. EAX = magic, EBX = info. */
	cli
	movl $stack_top, %esp
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %fs
	movw %cx, %gs
	movw %cx, %ss
	cld
	pushl %ebx
	pushl %eax
	call guest_start
2:	cli
	hlt
	jmp 2b

/* Interrupt stubs: 16 bytes each; vectors without a CPU error code push 0. */
	.align 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if vec == 8 || vec == 10 || vec == 11 || vec == 12 || vec == 13 || vec == 14 || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushal
	cld
	pushl %esp
	call isr_dispatch
	addl $4, %esp
	popal
	addl $8, %esp
	iretl

	.data /* the CPU sets accessed bits in descriptors */
	.align 8
	.globl gdt
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08 code, 32-bit */
	.quad 0x00cf92000000ffff /* 0x10 data */
	.quad 0x00af9a000000ffff /* 0x18 code, 64-bit */
gdt_end:
	.align 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
