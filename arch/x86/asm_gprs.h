/* Assembly helpers shared by the world switches (arch/x86/svm/svm_entry.S,
 * arch/x86/vmx/vmx_entry.S) and the thread switch (arch/x86/entry.S): the
 * callee-saved registers of the System V ABI, and the guest GPR array in
 * enum gpr order (virt/vm.h: RAX=0 ... R15=15, 8 bytes each). */
#ifndef UMBRA_ARCH_X86_ASM_GPRS_H
#define UMBRA_ARCH_X86_ASM_GPRS_H

#define GPR(n) (8 * (n))
#define G_RAX 0
#define G_RCX 1
#define G_RDX 2
#define G_RBX 3
#define G_RSP 4
#define G_RBP 5
#define G_RSI 6
#define G_RDI 7

	.macro PUSH_CALLEE_SAVED
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	.endm

	.macro POP_CALLEE_SAVED
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	.endm

/* Loads every guest GPR but RAX and RSP from the array at %rdi; %rdi
 * itself last. Only MOVs: RFLAGS survives. */
	.macro LOAD_GUEST_GPRS
	movq GPR(G_RCX)(%rdi), %rcx
	movq GPR(G_RDX)(%rdi), %rdx
	movq GPR(G_RBX)(%rdi), %rbx
	movq GPR(G_RBP)(%rdi), %rbp
	movq GPR(G_RSI)(%rdi), %rsi
	movq GPR(8)(%rdi), %r8
	movq GPR(9)(%rdi), %r9
	movq GPR(10)(%rdi), %r10
	movq GPR(11)(%rdi), %r11
	movq GPR(12)(%rdi), %r12
	movq GPR(13)(%rdi), %r13
	movq GPR(14)(%rdi), %r14
	movq GPR(15)(%rdi), %r15
	movq GPR(G_RDI)(%rdi), %rdi
	.endm

/* Stores every guest GPR but RAX and RSP into the array at %rax. */
	.macro STORE_GUEST_GPRS
	movq %rcx, GPR(G_RCX)(%rax)
	movq %rdx, GPR(G_RDX)(%rax)
	movq %rbx, GPR(G_RBX)(%rax)
	movq %rbp, GPR(G_RBP)(%rax)
	movq %rsi, GPR(G_RSI)(%rax)
	movq %rdi, GPR(G_RDI)(%rax)
	movq %r8, GPR(8)(%rax)
	movq %r9, GPR(9)(%rax)
	movq %r10, GPR(10)(%rax)
	movq %r11, GPR(11)(%rax)
	movq %r12, GPR(12)(%rax)
	movq %r13, GPR(13)(%rax)
	movq %r14, GPR(14)(%rax)
	movq %r15, GPR(15)(%rax)
	.endm

#endif
