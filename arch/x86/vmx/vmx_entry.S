/*
 * int vmx_enter(u64 *gpr, bool launched, u64 *host_rsp)
 *
 * Enters the guest of the current VMCS with VMLAUNCH (first entry) or
 * VMRESUME (Intel SDM vol. 3, 26.1). VM entry loads RSP, RIP, RFLAGS and the
 * segment/control state from the VMCS; the other guest GPRs are ours to load
 * and, after the exit, to save. A VM exit continues at vmx_exit_stub (the
 * VMCS's HOST_RIP) with RSP = HOST_RSP, which is this function's frame:
 * HOST_RSP is rewritten whenever it differs from the cached *host_rsp.
 *
 * Returns 0 after a VM exit, 1 when the instruction failed with
 * VMfailInvalid (CF=1: no current VMCS), 2 with VMfailValid (ZF=1: the
 * VM-instruction error field says why, 31.4). Called with interrupts off.
 */
#define GPR(n) (8 * (n))
/* enum gpr order (virt/vm.h) */
#define G_RAX 0
#define G_RCX 1
#define G_RDX 2
#define G_RBX 3
#define G_RBP 5
#define G_RSI 6
#define G_RDI 7
#define VMCS_HOST_RSP 0x6c14

	.text
	.globl vmx_enter
vmx_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi /* gpr array: (%rsp) at the exit stub */

	cmpq %rsp, (%rdx)
	je 1f
	movq %rsp, (%rdx)
	movl $VMCS_HOST_RSP, %eax
	vmwrite %rsp, %rax
1:
	/* Flags from this test survive the MOVs below (MOV leaves RFLAGS). */
	testb %sil, %sil
	movq GPR(G_RAX)(%rdi), %rax
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
	jnz 2f
	vmlaunch
	jmp 3f
2:	vmresume
3:	/* Still here: the entry failed. The guest GPRs in the array are intact. */
	movl $1, %eax
	jc 4f
	movl $2, %eax
4:	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.globl vmx_exit_stub
vmx_exit_stub:
	/* RSP = HOST_RSP: the gpr array pointer is on top. */
	pushq %rax
	movq 8(%rsp), %rax
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
	popq GPR(G_RAX)(%rax)
	xorl %eax, %eax
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.section .note.GNU-stack, "", @progbits
