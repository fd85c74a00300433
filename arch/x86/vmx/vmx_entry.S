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
#include "arch/x86/asm_gprs.h"
#define VMCS_HOST_RSP 0x6c14

	.text
	.globl vmx_enter
vmx_enter:
	PUSH_CALLEE_SAVED
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
	LOAD_GUEST_GPRS
	jnz 2f
	vmlaunch
	jmp 3f
2:	vmresume
3:	/* Still here: the entry failed. The guest GPRs in the array are intact. */
	movl $1, %eax
	jc 4f
	movl $2, %eax
4:	addq $8, %rsp
	POP_CALLEE_SAVED
	ret

	.globl vmx_exit_stub
vmx_exit_stub:
	/* RSP = HOST_RSP: the gpr array pointer is on top. */
	pushq %rax
	movq 8(%rsp), %rax
	STORE_GUEST_GPRS
	popq GPR(G_RAX)(%rax)
	xorl %eax, %eax
	addq $8, %rsp
	POP_CALLEE_SAVED
	ret

	.section .note.GNU-stack, "", @progbits
