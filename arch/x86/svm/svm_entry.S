/*
 * void svm_world_switch(u64 *gpr, u64 vmcb_pa, u64 host_vmcb_pa)
 *
 * VMRUN switches RAX, RSP, RIP and the segment/control state (APM vol. 2,
 * 15.5); the other guest GPRs are ours to load and save. VMLOAD/VMSAVE move
 * the state VMRUN leaves alone (FS, GS, TR, LDTR, KernelGSBase, STAR family,
 * SYSENTER MSRs); the host's copy is reloaded before anything uses %gs.
 * Called with interrupts off. GIF is cleared around the switch so host
 * interrupts and NMIs wait; RFLAGS.IF is set for the VMRUN itself because
 * with V_INTR_MASKING the host's IF decides whether a physical interrupt
 * makes the guest exit (APM 15.21.1). After STGI, with IF clear again, the
 * interrupt stays pending until the vCPU loop enables interrupts.
 */
#include "arch/x86/asm_gprs.h"

	.text
	.globl svm_world_switch
svm_world_switch:
	PUSH_CALLEE_SAVED
	pushq %rdx /* host VMCB */
	pushq %rdi /* gpr array */

	clgi
	movq %rsi, %rax
	LOAD_GUEST_GPRS

	vmload %rax
	sti /* GIF is 0: nothing is delivered here */
	vmrun %rax
	vmsave %rax

	/* RAX is the host's again (the VMCB address); the guest's is in the VMCB. */
	movq (%rsp), %rax
	STORE_GUEST_GPRS

	movq 8(%rsp), %rax
	vmload %rax /* host FS/GS/TR/... back before %gs is used */
	cli
	stgi
	addq $16, %rsp
	POP_CALLEE_SAVED
	ret
