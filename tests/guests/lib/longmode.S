/* lm_run(pml4, probes, n): enter long mode (paging must be off and PML4 must
 * identity-map this code, the stack and the data), run each probe (read,
 * write or exec at a 64-bit address) recording any fault, come back to 32-bit
 * protected mode with paging off. Assembled as 32-bit ELF: in 64-bit code,
 * symbols are reached through 32-bit immediates (movl $sym, %reg). */

#define P_KIND 0
#define P_ADDR 8
#define P_VALUE 16
#define P_VECTOR 24
#define P_ERROR 28
#define P_CR2 32
#define P_SIZE 40

	.text
	.code32
	.globl lm_run
lm_run:
	pushl %ebp
	pushl %ebx
	pushl %esi
	pushl %edi
	movl %esp, lm_saved_esp
	sidt lm_saved_idt

	/* 64-bit IDT: 32 interrupt gates to lm_stubs. */
	movl $lm_idt, %edi
	movl $lm_stubs, %eax
	movl $32, %ecx
1:	movw %ax, (%edi)
	movw $0x18, 2(%edi)
	movw $0x8e00, 4(%edi)
	movl %eax, %edx
	shrl $16, %edx
	movw %dx, 6(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	addl $16, %eax
	addl $16, %edi
	loop 1b
	movl $-1, lm_unexp
	movl $-1, lm_unexp + 4

	movl 20(%esp), %eax /* pml4 */
	movl 24(%esp), %esi /* probes */
	movl 28(%esp), %edi /* count */
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80010000, %eax /* PG, WP */
	movl %eax, %cr0
	ljmp $0x18, $lm64

	.code64
lm64:
	movl %esp, %esp /* zero-extend into RSP, RSI, RDI */
	movl %esi, %esi
	movl %edi, %edi
	movl $lm_idt_desc, %eax
	lidt (%rax)
2:	testl %edi, %edi
	jz lm_done
	movl $lm_cur, %eax
	movq %rsi, (%rax)
	movl $3f, %eax
	movl $lm_resume, %ebx
	movq %rax, (%rbx)
	movq P_ADDR(%rsi), %rbx
	movl P_KIND(%rsi), %eax
	cmpl $1, %eax
	je 4f
	cmpl $2, %eax
	je 5f
	movq (%rbx), %rax /* LM_READ */
	movq %rax, P_VALUE(%rsi)
	jmp 3f
4:	movq P_VALUE(%rsi), %rax /* LM_WRITE */
	movq %rax, (%rbx)
	jmp 3f
5:	movl $3f, %ecx /* LM_EXEC: the target holds "jmp *%rcx" */
	jmp *%rbx
3:	movl $lm_resume, %ebx
	movq $0, (%rbx)
	addq $P_SIZE, %rsi
	decl %edi
	jmp 2b

lm_done:
	/* Back to compatibility mode, then out of long mode. */
	pushq $0x08
	movl $lm_back, %eax
	pushq %rax
	lretq

	/* Exception stubs for vectors 0-31. */
	.align 16
lm_stubs:
	.set vec, 0
	.rept 32
	.align 16
	.if vec == 8 || vec == 10 || vec == 11 || vec == 12 || vec == 13 || vec == 14 || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushq $0
	.endif
	pushq $vec
	jmp lm_common
	.set vec, vec + 1
	.endr

	/* Stack: rcx, rbx, rax, vector, error, rip, cs, rflags, rsp, ss. */
lm_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	movl $lm_resume, %ebx
	movq (%rbx), %rax
	testq %rax, %rax
	jz lm_unexpected
	movq $0, (%rbx)
	movq %rax, 40(%rsp) /* resume */
	movl $lm_cur, %ebx
	movq (%rbx), %rbx
	movq 24(%rsp), %rax
	movl %eax, P_VECTOR(%rbx)
	movq 32(%rsp), %rax
	movl %eax, P_ERROR(%rbx)
	movq %cr2, %rax
	movq %rax, P_CR2(%rbx)
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

lm_unexpected:
	movl $lm_unexp, %ebx
	movq 24(%rsp), %rax
	movq %rax, 0(%rbx)
	movq 32(%rsp), %rax
	movq %rax, 8(%rbx)
	movq 40(%rsp), %rax
	movq %rax, 16(%rbx)
	movq %cr2, %rax
	movq %rax, 24(%rbx)
	jmp lm_done

	.code32
lm_back:
	movl %cr0, %eax
	andl $0x7fffffff, %eax /* paging off: leaves long mode */
	movl %eax, %cr0
	movl $0xc0000080, %ecx
	rdmsr
	andl $~0x100, %eax
	wrmsr
	movl %cr4, %eax
	andl $~0x20, %eax
	movl %eax, %cr4
	movl lm_saved_esp, %esp
	lidt lm_saved_idt
	popl %edi
	popl %esi
	popl %ebx
	popl %ebp
	ret

	.data
	.align 16
lm_idt_desc:
	.word 32 * 16 - 1
	.long lm_idt, 0
	.align 8
lm_saved_idt:
	.word 0
	.long 0
	.align 8
lm_saved_esp:
	.long 0
	.align 8
lm_cur:
	.quad 0
lm_resume:
	.quad 0
	.globl lm_unexp
lm_unexp:
	.quad -1, 0, 0, 0

	.bss
	.align 16
lm_idt:
	.space 32 * 16

	.section .note.GNU-stack, "", @progbits
