/* realmode: from the multiboot protected-mode entry, drops to 16-bit real
 * mode the way the manuals describe (Intel SDM vol. 3, 10.9.2: a 16-bit
 * protected-mode code segment, 64 KiB data segments, clear CR0.PE, far
 * jump), runs real-mode code copied below 1 MiB that prints on COM1 with
 * port I/O, computes with 16- and 32-bit registers, executes CPUID (an exit),
 * takes a software interrupt through the real-mode IVT, and writes above
 * 1 MiB through FS, which keeps the 4 GiB limit it had in protected mode
 * ("big real mode"); then returns to protected mode and checks the results.
 * On VT-x this needs "unrestricted guest"; on AMD-V and bare metal it just
 * runs. It also checks that CR0.NE reads back as written (VT-x forces the
 * real bit on). */
#include "guest.h"

#define RM_BASE 0x7000        /* where the 16-bit code runs: segment 0x700 */
#define HIGH_ADDR 0x00300000u /* above 1 MiB, reached through FS in real mode */
#define BIG_MAGIC 0x5ea1b16eu
#define INT_VECTOR 0x80
#define CR0_NE (1u << 5)

/* rm_run: 32-bit protected mode -> 16-bit protected mode -> real mode and
 * back. The blob between rm_blob and rm_blob_end runs at RM_BASE, so inside
 * it addresses are offsets from rm_blob (CS = DS = SS = 0x700). */
asm(".set RM_BASE, 0x7000\n"
    ".set RM_SEG, 0x700\n"
    ".set SEL_CODE32, 0x08\n"
    ".set SEL_DATA32, 0x10\n"
    ".set SEL_CODE16, 0x20\n"
    ".set SEL_DATA16, 0x28\n"
    "	.data\n"
    "	.align 8\n"
    "rm_gdt:\n"
    "	.quad 0\n"
    "	.quad 0x00cf9a000000ffff\n" /* 0x08 code, 32-bit, 4 GiB */
    "	.quad 0x00cf92000000ffff\n" /* 0x10 data, 4 GiB */
    "	.quad 0x00af9a000000ffff\n" /* 0x18 code, 64-bit (as lib/entry.S) */
    "	.quad 0x00009a000000ffff\n" /* 0x20 code, 16-bit, base 0, 64 KiB */
    "	.quad 0x000092000000ffff\n" /* 0x28 data, 16-bit, base 0, 64 KiB */
    "rm_gdt_end:\n"
    "	.align 4\n"
    "	.word 0\n"
    "rm_gdt_desc:\n"
    "	.word rm_gdt_end - rm_gdt - 1\n"
    "	.long rm_gdt\n"
    "	.word 0\n"
    "rm_saved_gdt:\n"
    "	.word 0\n"
    "	.long 0\n"
    "	.word 0\n"
    "rm_saved_idt:\n"
    "	.word 0\n"
    "	.long 0\n"
    "rm_saved_esp:\n"
    "	.long 0\n"

    "	.text\n"
    "	.code32\n"
    "	.globl rm_run\n"
    "rm_run:\n"
    "	pushl %ebp\n"
    "	pushl %ebx\n"
    "	pushl %esi\n"
    "	pushl %edi\n"
    "	pushfl\n"
    "	cli\n"
    "	movl %esp, rm_saved_esp\n"
    "	sgdt rm_saved_gdt\n"
    "	sidt rm_saved_idt\n"
    "	lgdt rm_gdt_desc\n"
    "	ljmp $SEL_CODE16, $(RM_BASE + rm_pm16 - rm_blob)\n"

    "rm_back32:\n" /* protected mode again, CS = 0x08 */
    "	movw $SEL_DATA32, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %fs\n"
    "	movw %ax, %gs\n"
    "	movw %ax, %ss\n"
    "	movl rm_saved_esp, %esp\n"
    "	lgdt rm_saved_gdt\n"
    "	lidt rm_saved_idt\n"
    "	ljmp $SEL_CODE32, $1f\n"
    "1:	popfl\n"
    "	popl %edi\n"
    "	popl %esi\n"
    "	popl %ebx\n"
    "	popl %ebp\n"
    "	ret\n"

    "	.globl rm_blob, rm_blob_end, rm_sum, rm_fib, rm_int_result, rm_int_count\n"
    "	.globl rm_vendor, rm_big_read\n"
    "	.align 16\n"
    "rm_blob:\n"
    "	.code16\n"
    "rm_pm16:\n" /* 16-bit protected mode: 64 KiB segments, then PE off */
    "	movw $SEL_DATA16, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %ss\n"
    "	movw %ax, %gs\n"
    "	movw $SEL_DATA32, %ax\n"
    "	movw %ax, %fs\n" /* FS keeps base 0 and the 4 GiB limit in real mode */
    "	movl %cr0, %eax\n"
    "	andl $~1, %eax\n"
    "	movl %eax, %cr0\n"
    "	ljmp $RM_SEG, $(rm_real - rm_blob)\n"

    "rm_real:\n" /* real mode: CS = 0x700 */
    "	movw $RM_SEG, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %ss\n"
    "	movw $0xffc, %sp\n"
    "	lidt (rm_ivt_desc - rm_blob)\n"
    /* Print through the UART: poll LSR.THRE, then write THR. */
    "	movw $(rm_msg - rm_blob), %si\n"
    "1:	lodsb\n"
    "	testb %al, %al\n"
    "	jz 3f\n"
    "	movb %al, %bl\n"
    "	movw $0x3fd, %dx\n"
    "2:	inb %dx, %al\n"
    "	testb $0x20, %al\n"
    "	jz 2b\n"
    "	movw $0x3f8, %dx\n"
    "	movb %bl, %al\n"
    "	outb %al, %dx\n"
    "	jmp 1b\n"
    "3:\n"
    /* 32-bit arithmetic with operand-size prefixes: 1 + 2 + ... + 1000. */
    "	xorl %eax, %eax\n"
    "	movw $1000, %cx\n"
    "4:	movzwl %cx, %ebx\n"
    "	addl %ebx, %eax\n"
    "	loop 4b\n"
    "	movl %eax, (rm_sum - rm_blob)\n"
    /* 16-bit arithmetic: fib(24) = 46368 still fits in 16 bits. */
    "	xorw %ax, %ax\n"
    "	movw $1, %bx\n"
    "	movw $24, %cx\n"
    "5:	movw %bx, %dx\n"
    "	addw %ax, %bx\n"
    "	movw %dx, %ax\n"
    "	loop 5b\n"
    "	movw %ax, (rm_fib - rm_blob)\n"
    /* CPUID in real mode: an exit under a hypervisor, skipped correctly. */
    "	xorl %eax, %eax\n"
    "	cpuid\n"
    "	movl %ebx, (rm_vendor - rm_blob)\n"
    "	movl %edx, (rm_vendor - rm_blob + 4)\n"
    "	movl %ecx, (rm_vendor - rm_blob + 8)\n"
    /* INT 80h through the IVT at 0000:0000 (vector saved and restored). */
    "	xorw %ax, %ax\n"
    "	movw %ax, %es\n"
    "	movl %es:(4 * 0x80), %eax\n"
    "	movl %eax, (rm_old_vector - rm_blob)\n"
    "	movw $(rm_int80 - rm_blob), %es:(4 * 0x80)\n"
    "	movw $RM_SEG, %es:(4 * 0x80 + 2)\n"
    "	movw $0x1234, %ax\n"
    "	int $0x80\n"
    "	movw %ax, (rm_int_result - rm_blob)\n"
    "	movl (rm_old_vector - rm_blob), %eax\n"
    "	movl %eax, %es:(4 * 0x80)\n"
    /* Big real mode: a 32-bit address through FS, above 1 MiB. */
    "	movl $0x00300000, %edi\n"
    "	movl $0x5ea1b16e, %eax\n"
    "	movl %eax, %fs:(%edi)\n"
    "	movl %fs:(%edi), %eax\n"
    "	movl %eax, (rm_big_read - rm_blob)\n"
    /* Back: PE on, far jump to 32-bit code (GDTR is still rm_gdt). */
    "	movl %cr0, %eax\n"
    "	orl $1, %eax\n"
    "	movl %eax, %cr0\n"
    "	ljmpl $SEL_CODE32, $rm_back32\n"

    "rm_int80:\n"
    "	addw $0x1111, %ax\n"
    "	incw %cs:(rm_int_count - rm_blob)\n"
    "	iret\n"

    "	.align 4\n"
    "rm_ivt_desc:\n"
    "	.word 0x3ff\n"
    "	.long 0\n"
    "rm_msg:\n"
    "	.asciz \"hello from 16-bit real mode\\r\\n\"\n"
    "	.align 4\n"
    "rm_sum:	.long 0\n"
    "rm_fib:	.word 0\n"
    "rm_int_result:	.word 0\n"
    "rm_int_count:	.word 0\n"
    "	.align 4\n"
    "rm_old_vector:	.long 0\n"
    "rm_vendor:	.long 0, 0, 0\n"
    "rm_big_read:	.long 0\n"
    "rm_blob_end:\n"
    "	.code32\n");

void rm_run(void);
extern char rm_blob[], rm_blob_end[], rm_sum[], rm_fib[], rm_int_result[], rm_int_count[];
extern char rm_vendor[], rm_big_read[];

/* Where a blob symbol is while the blob runs at RM_BASE. */
#define RM(sym, type) (*(volatile type *)(RM_BASE + ((sym) - rm_blob)))

static void check_cr0_ne(void)
{
	u32 cr0 = read_cr0();
	write_cr0(cr0 | CR0_NE);
	bool set = read_cr0() & CR0_NE;
	write_cr0(cr0 & ~CR0_NE);
	bool clear = !(read_cr0() & CR0_NE);
	write_cr0(cr0);
	check(set && clear, "CR0.NE reads back as written (set: %s, cleared: %s)", set ? "yes" : "no",
	      clear ? "yes" : "no");
}

u32 guest_main(void)
{
	printf("realmode (%s): running 16-bit code at 0x%x\n", argv0, RM_BASE);
	u32 size = (u32)(rm_blob_end - rm_blob);
	check(size < 0xf00, "real-mode code is %u bytes (fits below the stack at 0x%x)", size,
	      RM_BASE + 0xf00);
	memcpy((void *)RM_BASE, rm_blob, size);
	*(volatile u32 *)HIGH_ADDR = 0;

	rm_run();

	printf("back in 32-bit protected mode\n");
	u32 sum = RM(rm_sum, u32);
	check(sum == 500500, "real mode: 32-bit sum 1..1000 = %u (want 500500)", sum);
	u16 fib = RM(rm_fib, u16);
	check(fib == 46368, "real mode: 16-bit fib(24) = %u (want 46368)", fib);
	u16 ir = RM(rm_int_result, u16), ic = RM(rm_int_count, u16);
	check(ir == 0x2345 && ic == 1, "real mode: INT 80h through the IVT returned 0x%x (want 0x2345), "
	      "handler ran %u time(s)", ir, ic);
	struct cpuid_regs r0 = cpuid(0);
	u32 pm_vendor[3] = { r0.b, r0.d, r0.c };
	char v[13] = { 0 };
	volatile char *rv = &RM(rm_vendor, char);
	for (int i = 0; i < 12; i++)
		v[i] = rv[i];
	check(!memcmp(v, pm_vendor, 12), "real mode: CPUID(0) vendor \"%s\" matches protected mode", v);
	u32 big = RM(rm_big_read, u32), mem = *(volatile u32 *)HIGH_ADDR;
	check(big == BIG_MAGIC && mem == BIG_MAGIC,
	      "big real mode: FS:[0x%x] wrote and read 0x%x, protected mode reads 0x%x (want 0x%x)",
	      HIGH_ADDR, big, mem, BIG_MAGIC);
	check_cr0_ne();
	return check_result();
}
