/* AP start-up trampoline (copied below 1 MiB by smp_install_trampoline;
 * runs at CS = SIPI vector << 8, IP = 0), the APs' 32-bit entry and their
 * stacks, and a real-mode parking page (smp_install_park). */

#define AP_MAX 31          /* APs with a stack: indexes 1..31 (MAX_CPUS - 1) */
#define AP_STACK_SHIFT 13  /* 8 KiB (AP_STACK_SIZE) */

	.text
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	/* 32-bit base: the guest's GDT is above 1 MiB. */
	lgdtl (ap_tramp_gdtr - ap_tramp_start)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $ap_entry32
	.align 4
ap_tramp_gdtr:
	.word 31 /* 4 descriptors (lib/entry.S) */
	.long gdt
ap_tramp_end:

/* Parking code: loads its own IVT (built by smp_install_park at page +
 * 0x400, every vector -> park_iret) and halts forever with interrupts off;
 * an NMI returns to the HLT. park_idtr's base is patched at install. */
	.globl park_start, park_end, park_iret, park_idtr
park_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lidtl (park_idtr - park_start)
1:	hlt
	jmp 1b
park_iret:
	iret
	.align 4
park_idtr:
	.word 0x3ff
	.long 0
park_end:

	.code32
	.globl ap_entry32
ap_entry32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	/* INIT left CR0.CD/NW set: caches on. */
	movl %cr0, %eax
	andl $0x9fffffff, %eax
	movl %eax, %cr0
	movl $1, %eax
	lock xaddl %eax, ap_next_index
	incl %eax
	cmpl $AP_MAX, %eax
	ja 2f
	movl %eax, %ecx
	shll $AP_STACK_SHIFT, %ecx
	addl $ap_stacks, %ecx
	movl %ecx, %esp
	pushl %eax
	movl ap_entry, %edx
	testl %edx, %edx
	jz 2f
	call *%edx
2:	cli
	hlt
	jmp 2b

	.bss
	.align 16
	.globl ap_stacks, ap_stacks_end
ap_stacks:
	.space AP_MAX << AP_STACK_SHIFT
ap_stacks_end:

	.section .note.GNU-stack, "", @progbits
