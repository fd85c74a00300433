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
#define GPR(n) (8 * (n))
/* enum gpr order */
#define G_RAX 0
#define G_RCX 1
#define G_RDX 2
#define G_RBX 3
#define G_RSP 4
#define G_RBP 5
#define G_RSI 6
#define G_RDI 7

	.text
	.globl svm_world_switch
svm_world_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdx /* host VMCB */
	pushq %rdi /* gpr array */

	clgi
	movq %rsi, %rax
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

	vmload %rax
	sti /* GIF is 0: nothing is delivered here */
	vmrun %rax
	vmsave %rax

	/* RAX is the host's again (the VMCB address); the guest's is in the VMCB. */
	movq (%rsp), %rax
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

	movq 8(%rsp), %rax
	vmload %rax /* host FS/GS/TR/... back before %gs is used */
	cli
	stgi
	addq $16, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
