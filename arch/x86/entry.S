/* Interrupt and exception entry: one stub per vector pushes a uniform frame
 * (struct regs in arch/x86/traps.h) and calls interrupt_dispatch(). */
#include "arch/x86/asm_gprs.h"
#include "boot/layout.h"

/* Exceptions for which the CPU pushes an error code (Intel SDM vol. 3, 6.3.1). */
#define HAS_ERRCODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.macro VECTOR_STUB v
	.align 16
vector_stub_\v:
	.if !HAS_ERRCODE(\v)
	pushq $0
	.endif
	pushq $\v
	jmp interrupt_common
	.endm

	.text
	.globl vector_stubs_start
vector_stubs_start:
	.altmacro
	.set v, 0
	.rept 256
	VECTOR_STUB %v
	.set v, v + 1
	.endr
	.noaltmacro

interrupt_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call interrupt_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp /* vector, error code */
	iretq

/* bool rdmsr_safe(u32 msr, u64 *val): a #GP on the rdmsr resumes at the fixup
 * (arch/x86/traps.c checks the faulting RIP against rdmsr_safe_insn). */
	.globl rdmsr_safe, rdmsr_safe_insn, rdmsr_safe_fixup
rdmsr_safe:
	movl %edi, %ecx
rdmsr_safe_insn:
	rdmsr
	shlq $32, %rdx
	movl %eax, %eax
	orq %rdx, %rax
	movq %rax, (%rsi)
	movl $1, %eax
	ret
rdmsr_safe_fixup:
	xorl %eax, %eax
	ret

/*
 * void context_switch(u64 *prev_rsp, u64 next_rsp): save the callee-saved
 * registers on the current stack, store its RSP, switch to next and return
 * on its stack (System V: the rest are caller-saved).
 */
	.globl context_switch
context_switch:
	PUSH_CALLEE_SAVED
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	POP_CALLEE_SAVED
	ret

/* First code a new thread runs: r12 = function, r13 = argument. */
	.globl thread_entry_trampoline
thread_entry_trampoline:
	call sched_finish_switch
	movq %r13, %rdi
	movq %r12, %rsi
	call thread_start
	ud2
