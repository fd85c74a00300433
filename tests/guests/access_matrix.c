/* access_matrix: the paging permission matrix, checked against an
 * architectural reference model written here (Intel SDM vol. 3A: §4.6 access
 * rights, §4.7 the #PF error code, §4.8 accessed and dirty flags).
 *
 * Formats and groups (each with its own test window and tables):
 *   32-bit 2-level   4K: PDE (upper) + PTE (leaf);   4M PSE: PDE (leaf)
 *   PAE              4K: PDE (upper) + PTE (leaf);   2M: PDE (leaf)
 *   4-level long     4K: PDE (upper) + PTE (leaf);   2M: PDPTE (upper) + PDE
 * The entries under test get every combination of P, R/W, U/S and (PAE,
 * long mode) XD; a not-present entry is tried with its other bits all 0 and
 * all 1 (they must be ignored, §4.3-4.5), and below a not-present upper entry
 * the leaf is fixed. The other entries on the walk (long mode: PML4E, and the
 * PDPTE of the 4K group) are P|R/W|U/S and are checked for A too. PAE PDPTEs
 * are not walked (they are loaded with CR3, §4.4.1) and are left alone.
 *
 * Each combination is probed with a read, a write and an instruction fetch,
 * at CPL0 and at CPL3 (long mode included: a 64-bit user code segment and a
 * 64-bit TSS), under CR0.WP, CR4.SMEP, CR4.SMAP, EFLAGS.AC and EFER.NXE. To
 * keep the run short the control bits that matter for an access (WP for
 * supervisor writes, SMEP for fetches (rights at CPL0, the I/D bit at both),
 * SMAP and then AC for supervisor data accesses, NXE for fetches and for any
 * combination with an XD bit) are tried exhaustively; the others take a
 * fixed pseudo-random value per combination and access, so they vary across
 * the matrix without multiplying it (a walker that wrongly consults one of
 * them still meets both values). Control registers change once per batch of
 * probes (each write may be a VM exit). Compared per probe: fault or not,
 * #PF error code (P, W/R, U/S, RSVD, I/D), CR2, the faulting instruction,
 * the value read or written, and every entry on the walk afterwards (A and
 * D bits, nothing else changed).
 *
 * A/D rule (§4.8): a successful access sets A in every entry of its walk and
 * a write sets D in the leaf; a faulting access never sets D and leaves the
 * leaf and every entry from the faulting one down untouched. Whether A gets
 * set in the present, valid entries above the faulting one is not fixed by
 * the manual (the CPU "uses" them; QEMU TCG sets A there, Bochs and Umbra's
 * walker do not; kvm-unit-tests' access test accepts both), so both are
 * accepted there.
 *
 * Option strict=1: every mismatch fails. Without it, mismatches in probes
 * where the reference expects a reserved-bit fault (an XD bit in a present
 * entry while EFER.NXE = 0: reserved, §4.4.2/§4.5.4, #PF with P = 1 and
 * RSVD = 1) are printed as notes and tolerated: QEMU TCG's MMU gets that
 * corner wrong (it reports RSVD without P; README.md lists the deviation).
 * Under Umbra's shadow paging its own walker decides and must be exact, so
 * strict=1 is passed there. */
#include "guest.h"

#define CR0_AM (1u << 18)
#define CR4_SMEP (1u << 20)
#define CR4_SMAP (1u << 21)
#define EFL_AC (1u << 18)
#define PF_P 0x1
#define PF_W 0x2
#define PF_U 0x4
#define PF_RSVD 0x8
#define PF_I 0x10
#define NONE 0xffffffffu
#define MARK 0x600dcafeu /* the word probed in the test page */
#define DATA_OFF 0x800   /* its offset; the fetch target is at offset 0 */
#define ADDR_BITS 0x000ffffffffff000ull

/* GDT (guest-owned: the library's has no user segments and no TSS). The
 * first four entries are the library's, so its selectors stay valid. */
#define SEL_UCODE32 0x23 /* 0x20 | RPL 3 */
#define SEL_UDATA 0x2b
#define SEL_UCODE64 0x33
#define SEL_TSS32 0x38
#define SEL_TSS64 0x40
#define STR_(x) #x
#define STR(x) STR_(x) /* a selector in the asm strings */

/* User-mode pages: a stub and a stack, aliases (U/S = 1) of kernel pages. */
#define USTUB_VA 0x50000000u
#define USTACK_TOP 0x50002000u
/* Stub layout (the same bytes run as 32-bit and 64-bit code):
 *   0: mov (%ebx/%rbx), %eax   2: ud2
 *   4: mov %eax, (%ebx/%rbx)   6: ud2
 *   8: jmp *%ebx/%rbx         10: ud2 (ECX/RCX: where the fetch target returns)
 * The UD2 after the access is how CPL3 comes back when the access worked. */
static const u8 ustub_code[12] = { 0x8b, 0x03, 0x0f, 0x0b, 0x89, 0x03, 0x0f, 0x0b, 0xff, 0xe3, 0x0f, 0x0b };
static const u32 ustub_off[3] = { 0, 4, 8 };
#define USTUB_RET 10

enum { K_READ, K_WRITE, K_EXEC };
static const char *const kind_name[] = { "read", "write", "fetch" };

/* Bits of an entry under test (E_*) and of the control state (R_*). */
#define E_P 1
#define E_W 2
#define E_U 4
#define E_X 8
#define R_WP 1
#define R_SMEP 2
#define R_SMAP 4
#define R_NXE 8
#define R_AC 16
#define R_CR (R_WP | R_SMEP | R_SMAP | R_NXE) /* set per batch; AC per probe */

static bool have_pse, have_pae, have_nx, have_lm, have_smep, have_smap, strict;
static u32 avail; /* R_* bits the CPU lets us set */
static u8 *tpage; /* the test page: fetch target at 0, MARK at DATA_OFF */
static u8 *ustub, *ustack;

/* ---- segments: GDT, TSSs ------------------------------------------------- */
static u64 gdt[10] __attribute__((aligned(8)));
static u32 tss32[26] __attribute__((aligned(8))); /* 104 bytes */
static u8 tss64[104] __attribute__((aligned(8)));
static u8 trap_stack[4096] __attribute__((aligned(16))); /* CPL3 -> CPL0 */

static u64 tss_desc(u32 base)
{
	u32 limit = 103;
	return (limit & 0xffff) | ((u64)(base & 0xffffff) << 16) | (0x89ull << 40) /* P, type 9 */ |
	       ((u64)(limit >> 16) << 48) | ((u64)(base >> 24) << 56);
}

static void segments_init(void)
{
	u32 top = (u32)trap_stack + sizeof(trap_stack);
	gdt[0] = 0;
	gdt[1] = 0x00cf9a000000ffffull; /* 0x08 code, 32-bit (as lib/entry.S) */
	gdt[2] = 0x00cf92000000ffffull; /* 0x10 data */
	gdt[3] = 0x00af9a000000ffffull; /* 0x18 code, 64-bit */
	gdt[4] = 0x00cffa000000ffffull; /* 0x20 user code, 32-bit, DPL 3 */
	gdt[5] = 0x00cff2000000ffffull; /* 0x28 user data, DPL 3 */
	gdt[6] = 0x00affa000000ffffull; /* 0x30 user code, 64-bit, DPL 3 */
	gdt[7] = tss_desc((u32)tss32);  /* 0x38 32-bit TSS */
	gdt[8] = tss_desc((u32)tss64);  /* 0x40 64-bit TSS (16 bytes, base 63:32 = 0) */
	gdt[9] = 0;
	tss32[1] = top;      /* ESP0 */
	tss32[2] = SEL_DATA; /* SS0 */
	((u16 *)tss32)[51] = 104; /* I/O map base past the limit: no bitmap */
	u64 rsp0 = top;
	memcpy(tss64 + 4, &rsp0, 8); /* RSP0 */
	tss64[102] = 104;
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) d = { sizeof(gdt) - 1, (u32)gdt };
	asm volatile("lgdt %0" : : "m"(d)); /* same selectors: no reload needed */
}

/* LTR marks the descriptor busy and refuses a busy one: clear it first. */
static void load_tr(u16 sel)
{
	gdt[sel >> 3] &= ~(2ull << 40);
	asm volatile("ltr %0" : : "r"(sel) : "memory");
}

/* ---- CPL3 in legacy (32-bit, PAE) mode ------------------------------------ */
/* user_enter32(r) IRETs to CPL3 at r->eip with the given registers; the user
 * code ends in a fault (the probe's #PF, or the UD2 after the access), which
 * user_hook records and turns into a return from user_enter32. */
struct uregs {
	u32 eip, esp, eflags, eax, ebx, ecx;
};
void user_enter32(const struct uregs *r);
void user_return32(void);
u32 user_saved_esp;
asm("	.text\n"
    "	.code32\n"
    "	.globl user_enter32, user_return32\n"
    "user_enter32:\n"
    "	pushl %ebp\n"
    "	pushl %ebx\n"
    "	pushl %esi\n"
    "	pushl %edi\n"
    "	movl 20(%esp), %esi\n"
    "	movl %esp, user_saved_esp\n"
    "	pushl $" STR(SEL_UDATA) "\n" /* SS */
    "	pushl 4(%esi)\n" /* ESP */
    "	pushl 8(%esi)\n" /* EFLAGS */
    "	pushl $" STR(SEL_UCODE32) "\n" /* CS */
    "	pushl 0(%esi)\n" /* EIP */
    "	movl 12(%esi), %eax\n"
    "	movl 16(%esi), %ebx\n"
    "	movl 20(%esi), %ecx\n"
    /* IRET to CPL3 would null DS/ES (DPL 0): use the DPL 3 flat segment. */
    "	movw $" STR(SEL_UDATA) ", %dx\n"
    "	movw %dx, %ds\n"
    "	movw %dx, %es\n"
    "	iretl\n"
    "user_return32:\n" /* CPL0 again, still on the TSS stack */
    "	movw $" STR(SEL_DATA) ", %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %fs\n"
    "	movw %ax, %gs\n"
    "	movl user_saved_esp, %esp\n"
    "	popl %edi\n"
    "	popl %esi\n"
    "	popl %ebx\n"
    "	popl %ebp\n"
    "	ret\n");

static struct {
	u32 vector, error, cr2, eip, eax;
} ufault;

static void user_hook(struct frame *f)
{
	if ((f->cs & 3) != 3) {
		printf("unexpected exception %u error 0x%x at eip 0x%x in supervisor mode (cr2 0x%x)\n", f->vector,
		       f->error, f->eip, read_cr2());
		guest_exit(EXIT_FAIL);
	}
	ufault.vector = f->vector;
	ufault.error = f->error;
	ufault.cr2 = f->vector == 14 ? read_cr2() : 0;
	ufault.eip = f->eip;
	ufault.eax = f->eax;
	/* Return at CPL0 to user_return32 (an IRET to the same privilege pops
	 * only EIP, CS, EFLAGS; user_return32 restores the stack). */
	f->eip = (u32)user_return32;
	f->cs = SEL_CODE32;
	f->eflags = 2;
}

static const u8 user_vectors[] = { 6, 13, 14, 17 }; /* #UD, #GP, #PF, #AC */

static void user_hooks(bool on)
{
	for (u32 i = 0; i < sizeof(user_vectors); i++)
		set_handler(user_vectors[i], on ? user_hook : NULL);
}

/* ---- long mode: compatibility-mode driver, 64-bit probes ------------------ */
/* In long mode this C code runs in compatibility mode (CS = 0x08, L = 0:
 * 32-bit code under 4-level paging). Each access is made by 64-bit code:
 * lmx_probe is far-called through the 64-bit code segment; it executes the
 * access at CPL0, or IRETQs to CPL3 (64-bit user segment) to make it there,
 * and far-returns. Faults go through a 64-bit IDT; while a probe is armed
 * the handler records it and resumes at lmx_done. */
struct lmx_block {
	u64 addr;      /* 0: linear address of the access */
	u64 value;     /* 8: value to write / value read */
	u64 rflags;    /* 16: RFLAGS for the access (AC) */
	u64 user_rip;  /* 24: CPL3 entry (the stub), 0 for a CPL0 access */
	u64 user_rsp;  /* 32 */
	u64 user_rcx;  /* 40: where a CPL3 fetch target returns to */
	u32 kind;      /* 48 */
	u32 armed;     /* 52 */
	u32 vector;    /* 56: NONE when nothing faulted */
	u32 error;     /* 60 */
	u64 cr2;       /* 64 */
	u64 rip;       /* 72 */
	u64 saved_rsp; /* 80 */
	u64 rax;       /* 88: RAX at the fault (the value a CPL3 read got) */
};
_Static_assert(__builtin_offsetof(struct lmx_block, kind) == 48 &&
		       __builtin_offsetof(struct lmx_block, saved_rsp) == 80 &&
		       __builtin_offsetof(struct lmx_block, rax) == 88,
	       "lmx_block layout is shared with the 64-bit code");
struct lmx_block lmx __attribute__((aligned(16)));
struct {
	u64 vector, error, rip, cr2;
} lmx_unexp;
struct gate64 {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, zero;
};
struct gate64 lmx_idt[32] __attribute__((aligned(16)));
struct {
	u16 pad[3];
	u16 limit;
	u64 base;
} __attribute__((aligned(8))) lmx_idt_desc;
void lmx_probe(void);
void lmx_init64(void);
void lmx_done(void);
void lmx_rd(void);
void lmx_wr(void);
void lmx_crash(void);
extern const char lmx_stubs[];

asm("	.text\n"
    "	.code64\n"
    "	.globl lmx_probe, lmx_done, lmx_rd, lmx_wr, lmx_init64, lmx_stubs\n"
    "lmx_init64:\n" /* far-called once after entering long mode */
    "	movl %esp, %esp\n"
    "	movl $lmx_idt_desc + 6, %eax\n"
    "	lidt (%rax)\n"
    "	movw $" STR(SEL_TSS64) ", %ax\n"
    "	ltr %ax\n"
    "	lretl\n"

    "lmx_probe:\n"
    "	movl %esp, %esp\n" /* compatibility mode left RSP[63:32] undefined */
    "	pushq %rbx\n"
    "	pushq %rbp\n"
    "	pushq %rsi\n"
    "	pushq %rdi\n"
    "	movl $lmx, %ebp\n"
    "	movq %rsp, 80(%rbp)\n"
    "	movq 0(%rbp), %rbx\n"
    "	invlpg (%rbx)\n" /* after the entry edits: TLB and paging-structure caches (§4.10.4.1) */
    "	movl $-1, 56(%rbp)\n"
    "	movq 8(%rbp), %rax\n"
    "	cmpq $0, 24(%rbp)\n"
    "	jne 4f\n"
    "	movl $1, 52(%rbp)\n" /* armed */
    "	pushq 16(%rbp)\n"
    "	popfq\n"
    "	cmpl $1, 48(%rbp)\n"
    "	je lmx_wr\n"
    "	cmpl $2, 48(%rbp)\n"
    "	je 3f\n"
    "lmx_rd:\n"
    "	movl (%rbx), %eax\n"
    "	movl %eax, 8(%rbp)\n"
    "	jmp lmx_done\n"
    "lmx_wr:\n"
    "	movl %eax, (%rbx)\n"
    "	jmp lmx_done\n"
    "3:	movl $lmx_done, %ecx\n" /* the target holds jmp *%rcx */
    "	jmp *%rbx\n"
    "4:	pushq $" STR(SEL_UDATA) "\n" /* CPL3: SS, RSP, RFLAGS, CS, RIP */
    "	pushq 32(%rbp)\n"
    "	pushq 16(%rbp)\n"
    "	pushq $" STR(SEL_UCODE64) "\n"
    "	pushq 24(%rbp)\n"
    "	movq 40(%rbp), %rcx\n"
    "	movl $1, 52(%rbp)\n"
    "	iretq\n"
    "lmx_done:\n"
    "	pushq $2\n" /* AC off */
    "	popfq\n"
    /* An IRETQ to CPL3 nulled DS and ES (DPL 0 < CPL 3): compatibility
     * mode needs them back. */
    "	movl $" STR(SEL_DATA) ", %eax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %fs\n"
    "	movw %ax, %gs\n"
    "	movl $lmx, %ebp\n"
    "	movl $0, 52(%rbp)\n"
    "	movq 80(%rbp), %rsp\n"
    "	popq %rdi\n"
    "	popq %rsi\n"
    "	popq %rbp\n"
    "	popq %rbx\n"
    "	lretl\n" /* 32-bit far return to the compatibility-mode caller */

    /* Exception stubs for vectors 0-31, 16 bytes apart. */
    "	.align 16\n"
    "lmx_stubs:\n"
    "	.set lmx_vec, 0\n"
    "	.rept 32\n"
    "	.align 16\n"
    "	.if lmx_vec == 8 || lmx_vec == 10 || lmx_vec == 11 || lmx_vec == 12 || lmx_vec == 13 || lmx_vec == 14 || lmx_vec == 17 || lmx_vec == 21 || lmx_vec == 29 || lmx_vec == 30\n"
    "	.else\n"
    "	pushq $0\n"
    "	.endif\n"
    "	pushq $lmx_vec\n"
    "	jmp lmx_common\n"
    "	.set lmx_vec, lmx_vec + 1\n"
    "	.endr\n"

    /* Stack: rbx, rax, vector, error, rip, cs, rflags, rsp, ss. */
    "lmx_common:\n"
    "	pushq %rax\n"
    "	pushq %rbx\n"
    "	movl $lmx, %ebx\n"
    "	cmpl $0, 52(%rbx)\n"
    "	je lmx_unexpected\n"
    "	movl $0, 52(%rbx)\n"
    "	movq 16(%rsp), %rax\n"
    "	movl %eax, 56(%rbx)\n"
    "	movq 24(%rsp), %rax\n"
    "	movl %eax, 60(%rbx)\n"
    "	movq %cr2, %rax\n"
    "	movq %rax, 64(%rbx)\n"
    "	movq 32(%rsp), %rax\n"
    "	movq %rax, 72(%rbx)\n"
    "	movq 8(%rsp), %rax\n"
    "	movq %rax, 88(%rbx)\n"
    /* Resume at lmx_done, CPL0, on the probe's stack (from CPL3 too). */
    "	movl $lmx_done, %eax\n"
    "	movq %rax, 32(%rsp)\n"
    "	movq $" STR(SEL_CODE64) ", 40(%rsp)\n"
    "	movq $2, 48(%rsp)\n"
    "	movq 80(%rbx), %rax\n"
    "	movq %rax, 56(%rsp)\n"
    "	movq $" STR(SEL_DATA) ", 64(%rsp)\n"
    "	popq %rbx\n"
    "	popq %rax\n"
    "	addq $16, %rsp\n"
    "	iretq\n"
    "lmx_unexpected:\n" /* report from compatibility mode, then exit */
    "	movl $lmx_unexp, %ebx\n"
    "	movq 16(%rsp), %rax\n"
    "	movq %rax, 0(%rbx)\n"
    "	movq 24(%rsp), %rax\n"
    "	movq %rax, 8(%rbx)\n"
    "	movq 32(%rsp), %rax\n"
    "	movq %rax, 16(%rbx)\n"
    "	movq %cr2, %rax\n"
    "	movq %rax, 24(%rbx)\n"
    "	movl $lmx_crash32, %eax\n"
    "	movq %rax, 32(%rsp)\n"
    "	movq $" STR(SEL_CODE32) ", 40(%rsp)\n"
    "	movq $2, 48(%rsp)\n"
    "	movq $" STR(SEL_DATA) ", 64(%rsp)\n"
    "	popq %rbx\n"
    "	popq %rax\n"
    "	addq $16, %rsp\n"
    "	iretq\n"
    "	.code32\n"
    "lmx_crash32:\n"
    "	movw $" STR(SEL_DATA) ", %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	andl $~15, %esp\n"
    "	call lmx_crash\n"
    "1:	hlt\n"
    "	jmp 1b\n");

void lmx_crash(void)
{
	printf("unexpected exception %u error 0x%llx at rip 0x%llx in long mode (cr2 0x%llx)\n",
	       (u32)lmx_unexp.vector, lmx_unexp.error, lmx_unexp.rip, lmx_unexp.cr2);
	guest_exit(EXIT_FAIL);
}

/* Paging is off. Enables 4-level paging with PML4 and stays in
 * compatibility mode (§9.8.5: PAE, CR3, EFER.LME, then CR0.PG). */
static void lm_enter(u32 pml4)
{
	for (u32 v = 0; v < 32; v++) {
		u32 a = (u32)lmx_stubs + 16 * v;
		lmx_idt[v] = (struct gate64){ (u16)a, SEL_CODE64, 0, 0x8e, (u16)(a >> 16), 0, 0 };
	}
	lmx_idt_desc.limit = sizeof(lmx_idt) - 1;
	lmx_idt_desc.base = (u32)lmx_idt;
	write_cr4(read_cr4() | CR4_PAE);
	write_cr3(pml4);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_LME);
	write_cr0(read_cr0() | CR0_PG);
	gdt[SEL_TSS64 >> 3] &= ~(2ull << 40);
	asm volatile("lcall $" STR(SEL_CODE64) ", $lmx_init64" : : : "eax", "memory");
}

static void lm_leave(void)
{
	write_cr0(read_cr0() & ~CR0_PG); /* compatibility mode: leaves IA-32e mode */
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_LME);
	write_cr4(read_cr4() & ~CR4_PAE);
	idt_reload();
}

/* ---- the reference model ---------------------------------------------------- */
struct expect {
	bool fault;
	u32 error;
	int level; /* fault: the entry (path index) the walk stopped at, the leaf
		    * for an access-rights fault. Entries above it may get A. */
};

/* SDM §4.3-4.5 (walk), §4.6.1 (rights), §4.7 (error code). BITS: E_* bits
 * of each entry on the walk, root first. */
static struct expect reference(bool pae_like, const u8 *bits, int n, int kind, bool user, u32 env)
{
	bool wp = env & R_WP, smep = env & R_SMEP, smap = env & R_SMAP, nxe = env & R_NXE, ac = env & R_AC;
	/* W/R and U/S describe the access; I/D is set for a fetch when SMEP = 1
	 * or PAE/4-level paging with NXE = 1 (§4.7), whatever the fault. */
	u32 err = (kind == K_WRITE ? PF_W : 0) | (user ? PF_U : 0) |
		  (kind == K_EXEC && (smep || (pae_like && nxe)) ? PF_I : 0);
	bool w = true, u = true, xd = false;
	for (int i = 0; i < n; i++) {
		if (!(bits[i] & E_P))
			return (struct expect){ true, err, i }; /* no translation, P = 0 */
		/* XD (bit 63) is reserved while EFER.NXE = 0 (§4.4.2, §4.5.4). */
		if (pae_like && (bits[i] & E_X) && !nxe)
			return (struct expect){ true, err | PF_P | PF_RSVD, i };
		w &= (bits[i] & E_W) != 0; /* §4.6.1: AND of R/W and U/S, OR of XD */
		u &= (bits[i] & E_U) != 0;
		xd |= (bits[i] & E_X) != 0;
	}
	bool nx = pae_like && nxe && xd, ok;
	if (user) {
		/* User-mode address needed; writes need R/W (CR0.WP plays no
		 * part at CPL3); fetches need no XD. */
		ok = u && (kind != K_WRITE || w) && (kind != K_EXEC || !nx);
	} else if (kind == K_EXEC) {
		/* SMEP: no supervisor fetch from a user-mode address. */
		ok = !nx && !(u && smep);
	} else {
		/* SMAP: no explicit supervisor data access to a user-mode
		 * address unless EFLAGS.AC = 1; writes then follow CR0.WP. */
		ok = !(u && smap && !ac) && (kind == K_READ || w || !wp);
	}
	return ok ? (struct expect){ false, 0, n } : (struct expect){ true, err | PF_P, n - 1 };
}

/* ---- test groups ---------------------------------------------------------- */
struct group {
	const char *name;
	enum pg_mode mode;
	int n, upper, leaf; /* entries on the walk; the varied ones (upper -1: none) */
	const char *ename[4];
	void *ent[4];
	u64 base[4]; /* entry without the bits under test, A, D: address, PS */
	u64 data, exec; /* probe addresses */
	u32 id;
};

#define E_BITS (PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_NX)

/* Pointer to the entry for VA at LEVEL (0 = root) of PT; the tables above it
 * must be present. */
static void *entry_at(const struct pgt *pt, u64 va, int level)
{
	static const u8 shift[3][4] = { { 22, 12 }, { 30, 21, 12 }, { 39, 30, 21, 12 } };
	bool e4 = pt->mode == PG_32;
	u32 table = pt->root;
	for (int lv = 0;; lv++) {
		u32 mask = e4 ? 0x3ff : pt->mode == PG_PAE && lv == 0 ? 3 : 0x1ff;
		u32 i = (u32)(va >> shift[pt->mode][lv]) & mask;
		void *p = (void *)(table + i * (e4 ? 4 : 8));
		if (lv == level)
			return p;
		table = (u32)((e4 ? *(u32 *)p : *(u64 *)p) & ADDR_BITS);
	}
}

static u64 ent_get(const struct group *g, int i)
{
	return g->mode == PG_32 ? *(volatile u32 *)g->ent[i] : *(volatile u64 *)g->ent[i];
}

static void ent_set(const struct group *g, int i, u64 v)
{
	if (g->mode == PG_32)
		*(volatile u32 *)g->ent[i] = (u32)v;
	else
		*(volatile u64 *)g->ent[i] = v;
}

static u64 ent_value(const struct group *g, int i, u8 bits)
{
	return g->base[i] | (bits & E_P ? PTE_P : 0) | (bits & E_W ? PTE_W : 0) | (bits & E_U ? PTE_U : 0) |
	       (bits & E_X ? PTE_NX : 0);
}

static void group_init(struct group *g, const char *name, struct pgt *pt, u64 va, u64 page_off, int first,
		       int n, int upper, u32 id)
{
	static const char *const names[3][4] = { { "PDE", "PTE" }, { "PDPTE", "PDE", "PTE" },
						 { "PML4E", "PDPTE", "PDE", "PTE" } };
	g->name = name;
	g->mode = pt->mode;
	g->n = n;
	g->upper = upper;
	g->leaf = n - 1;
	for (int i = 0; i < n; i++) {
		g->ename[i] = names[pt->mode][first + i];
		g->ent[i] = entry_at(pt, va, first + i);
		g->base[i] = ent_get(g, i) & ~E_BITS;
	}
	g->data = va + page_off + DATA_OFF;
	g->exec = va + page_off;
	g->id = id;
}

/* ---- one probe ------------------------------------------------------------------ */
struct got {
	u32 vector; /* NONE: the access completed */
	u32 error;
	u64 cr2;
	bool where_ok; /* faulted at the access (or returned after it) */
	u32 value;     /* read: the value read */
};

static inline void set_ac(bool on)
{
	if (on)
		asm volatile("pushfl; orl $0x40000, (%%esp); popfl" : : : "memory", "cc");
	else
		asm volatile("pushfl; andl $~0x40000, (%%esp); popfl" : : : "memory", "cc");
}

static struct got probe_legacy(u32 addr, int kind, bool user, bool ac, u32 wval)
{
	struct got r = { NONE, 0, 0, true, 0 };
	invlpg(addr); /* after the entry edits (§4.10.4.1) */
	if (!user) {
		u32 c = last_fault.count, v = 0;
		set_ac(ac);
		int f = kind == K_READ ? probe_read32(addr, &v) : kind == K_WRITE ? probe_write32(addr, wval)
										: probe_exec(addr);
		set_ac(false);
		r.value = v;
		if (f) {
			r.vector = last_fault.vector;
			r.error = last_fault.error;
			r.cr2 = last_fault.cr2;
			r.where_ok = last_fault.count == c + 1 && last_fault.eip == fault_insn;
		}
		return r;
	}
	struct uregs u = { USTUB_VA + ustub_off[kind], USTACK_TOP, 2 | (ac ? EFL_AC : 0), wval, addr,
			   USTUB_VA + USTUB_RET };
	ufault.vector = NONE;
	user_hooks(true);
	user_enter32(&u);
	user_hooks(false);
	u32 back = USTUB_VA + (kind == K_EXEC ? USTUB_RET : ustub_off[kind] + 2);
	if (ufault.vector == 6 && ufault.eip == back) {
		r.value = ufault.eax;
		return r;
	}
	r.vector = ufault.vector;
	r.error = ufault.error;
	r.cr2 = ufault.cr2;
	r.where_ok = ufault.eip == (kind == K_EXEC ? addr : USTUB_VA + ustub_off[kind]);
	return r;
}

static struct got probe_long(u64 addr, int kind, bool user, bool ac, u32 wval)
{
	struct got r = { NONE, 0, 0, true, 0 };
	lmx.addr = addr;
	lmx.value = kind == K_WRITE ? wval : 0;
	lmx.rflags = 2 | (ac ? EFL_AC : 0);
	lmx.user_rip = user ? USTUB_VA + ustub_off[kind] : 0;
	lmx.user_rsp = USTACK_TOP;
	lmx.user_rcx = USTUB_VA + USTUB_RET;
	lmx.kind = (u32)kind;
	asm volatile("lcall $" STR(SEL_CODE64) ", $lmx_probe" : : : "eax", "ecx", "edx", "memory", "cc");
	if (user) {
		u64 back = USTUB_VA + (kind == K_EXEC ? USTUB_RET : ustub_off[kind] + 2);
		if (lmx.vector == 6 && lmx.rip == back) {
			r.value = (u32)lmx.rax;
			return r;
		}
		r.where_ok = lmx.rip == (kind == K_EXEC ? addr : USTUB_VA + ustub_off[kind]);
	} else {
		r.value = (u32)lmx.value;
		if (lmx.vector == NONE)
			return r;
		r.where_ok = lmx.rip == (kind == K_EXEC ? addr : kind == K_READ ? (u32)lmx_rd : (u32)lmx_wr);
	}
	r.vector = lmx.vector;
	r.error = lmx.error;
	r.cr2 = lmx.cr2;
	return r;
}

/* ---- the matrix -------------------------------------------------------------------- */
struct record {
	u8 bits[4];
	u8 kind, user;
	u32 env;
	struct expect ex;
	struct got got;
	bool data_ok;
	u32 word; /* the probed word of the test page afterwards */
	u64 before[4], after[4];
};
#define MAX_SHOWN 8
#define MAX_NOTES 4
static struct record shown[MAX_SHOWN], notes[MAX_NOTES];

static u32 mix(u32 a, u32 b, u32 c)
{
	u32 x = a * 0x9e3779b1u ^ b * 0x85ebca77u ^ c * 0xc2b2ae3du;
	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	x *= 0x297a2d39u;
	return x ^ (x >> 15);
}

/* The control bits that can change the outcome of this access. */
static u32 relevant(bool pae_like, int kind, bool user, bool has_xd, u32 env)
{
	u32 rel = 0;
	if (pae_like && (kind == K_EXEC || has_xd))
		rel |= R_NXE; /* I/D bit, XD: executable or reserved */
	if (kind == K_EXEC)
		rel |= R_SMEP; /* I/D bit at any CPL, rights at CPL0 */
	if (!user) {
		if (kind == K_WRITE)
			rel |= R_WP;
		if (kind != K_EXEC) {
			rel |= R_SMAP;
			if (env & R_SMAP)
				rel |= R_AC;
		}
	}
	return rel;
}

static void print_bits(u8 b, bool pae_like)
{
	if (!(b & (E_P | E_W | E_U | E_X))) {
		printf("0");
		return;
	}
	printf("%s%s%s%s", b & E_P ? "P" : "!P", b & E_W ? "|W" : "", b & E_U ? "|U" : "",
	       pae_like && (b & E_X) ? "|XD" : "");
}

static void print_outcome(bool fault, u32 vector, u32 error)
{
	if (!fault)
		printf("no fault");
	else if (vector == 14)
		printf("#PF 0x%x", error);
	else
		printf("vector %u error 0x%x", vector, error);
}

/* Two lines (Umbra's console keeps guest lines under 160 characters): the
 * probe, then expected and got, with what changed in the entries. */
static void describe(const struct group *g, const struct record *r, const char *first, const char *second)
{
	bool pae_like = g->mode != PG_32;
	printf("%s%s: ", first, g->name);
	for (int i = 0; i < g->n; i++) {
		if (i != g->upper && i != g->leaf)
			continue;
		printf("%s %s=", i == g->leaf ? "leaf" : "upper", g->ename[i]);
		print_bits(r->bits[i], pae_like);
		printf("; ");
	}
	printf("%s %s; WP=%u SMEP=%u SMAP=%u AC=%u NXE=%u\n", r->user ? "user" : "supervisor", kind_name[r->kind],
	       !!(r->env & R_WP), !!(r->env & R_SMEP), !!(r->env & R_SMAP), !!(r->env & R_AC),
	       !!(r->env & R_NXE));
	printf("%sexpected ", second);
	print_outcome(r->ex.fault, 14, r->ex.error);
	printf(", got ");
	print_outcome(r->got.vector != NONE, r->got.vector, r->got.error);
	if (r->got.vector == 14)
		printf(" cr2 0x%llx", r->got.cr2);
	if (r->got.vector != NONE && !r->got.where_ok)
		printf(" (wrong instruction)");
	if (!r->data_ok)
		printf(" (data: read 0x%x, page 0x%x)", r->got.value, r->word);
	printf("; set:");
	bool any = false;
	for (int i = 0; i < g->n; i++) {
		u64 d = r->after[i] ^ r->before[i];
		if (!d)
			continue;
		any = true;
		if (d & ~(PTE_A | PTE_D) || (r->after[i] & d) != d)
			printf(" %s 0x%llx->0x%llx", g->ename[i], r->before[i], r->after[i]);
		else
			printf(" %s%s%s", g->ename[i], d & PTE_A ? "+A" : "", d & PTE_D ? "+D" : "");
	}
	printf("%s\n", any ? "" : " nothing");
}

/* Outcome and entries after the probe as the reference allows them. */
static bool matches(const struct group *g, const struct record *r, u64 addr)
{
	const struct expect *ex = &r->ex;
	bool ok;
	if (ex->fault)
		ok = r->got.vector == 14 && r->got.error == ex->error && r->got.where_ok &&
		     (g->mode == PG_LM ? r->got.cr2 == addr : (u32)r->got.cr2 == (u32)addr) && r->data_ok;
	else
		ok = r->got.vector == NONE && r->data_ok;
	for (int i = 0; i < g->n; i++) {
		u64 want = r->before[i];
		if (!ex->fault)
			want |= PTE_A | (i == g->leaf && r->kind == K_WRITE ? PTE_D : 0);
		bool may_a = ex->fault && i < ex->level; /* used, then the walk failed */
		ok &= r->after[i] == want || (may_a && r->after[i] == (want | PTE_A));
	}
	return ok;
}

static void run_group(const struct group *g)
{
	bool pae_like = g->mode != PG_32;
	u8 var[10], combos[82][2];
	u32 nv = 0, nc = 0, probes = 0, bad = 0, tolerated = 0, no_p = 0;

	/* Present entries with every R/W, U/S (XD) value; not-present ones
	 * with all other bits clear and all set. */
	for (u8 b = 0; b < (pae_like ? 8 : 4); b++)
		var[nv++] = E_P | (b & 1 ? E_W : 0) | (b & 2 ? E_U : 0) | (b & 4 ? E_X : 0);
	var[nv++] = 0;
	var[nv++] = E_W | E_U | (pae_like ? E_X : 0);
	for (u32 i = 0; i < (g->upper >= 0 ? nv : 1); i++) {
		u8 up = g->upper >= 0 ? var[i] : E_P | E_W | E_U;
		if (!(up & E_P)) {
			combos[nc][0] = up;
			combos[nc++][1] = E_P | E_W | E_U; /* not reached */
			continue;
		}
		for (u32 j = 0; j < nv; j++) {
			combos[nc][0] = up;
			combos[nc++][1] = var[j];
		}
	}

	volatile u32 *word = (volatile u32 *)(tpage + DATA_OFF);
	for (u32 env = 0; env <= R_CR; env++) {
		if (env & ~avail)
			continue;
		/* Control registers change once per batch (each write may be a VM exit). */
		u32 cr0 = read_cr0(), cr4 = read_cr4();
		write_cr0((cr0 & ~CR0_WP) | (env & R_WP ? CR0_WP : 0));
		write_cr4((cr4 & ~(CR4_SMEP | CR4_SMAP)) | (env & R_SMEP ? CR4_SMEP : 0) |
			  (env & R_SMAP ? CR4_SMAP : 0));
		if (have_nx)
			wrmsr(MSR_EFER, (rdmsr(MSR_EFER) & ~(u64)EFER_NXE) | (env & R_NXE ? EFER_NXE : 0));

		for (u32 c = 0; c < nc; c++) {
			struct record r;
			for (int i = 0; i < g->n; i++)
				r.bits[i] = i == g->upper ? combos[c][0] : i == g->leaf ? combos[c][1] : E_P | E_W | E_U;
			bool has_xd = (combos[c][0] | combos[c][1]) & E_X;
			for (u32 a = 0; a < 6; a++) {
				int kind = (int)(a % 3);
				bool user = a >= 3;
				u32 rel = relevant(pae_like, kind, user, has_xd, env);
				u32 h = mix(g->id, c, a) & avail;
				if ((env ^ h) & R_CR & ~rel)
					continue; /* another batch runs this one */
				for (u32 ac = 0; ac < 2; ac++) {
					if (!(rel & R_AC) && ac != !!(h & R_AC))
						continue;
					u64 addr = kind == K_EXEC ? g->exec : g->data;
					u32 wval = 0x5a000000 | (probes & 0xffffff);
					r.kind = (u8)kind;
					r.user = user;
					r.env = env | (ac ? R_AC : 0);
					r.ex = reference(pae_like, r.bits, g->n, kind, user, r.env);
					for (int i = 0; i < g->n; i++) {
						r.before[i] = ent_value(g, i, r.bits[i]);
						ent_set(g, i, r.before[i]);
					}
					*word = MARK;
					r.got = g->mode == PG_LM ? probe_long(addr, kind, user, ac, wval)
								 : probe_legacy((u32)addr, kind, user, ac, wval);
					for (int i = 0; i < g->n; i++)
						r.after[i] = ent_get(g, i);
					/* A read returns MARK, a write stores wval, a fault changes nothing. */
					r.word = *word;
					r.data_ok = r.word == (kind == K_WRITE && r.got.vector == NONE ? wval : MARK) &&
						    (kind != K_READ || r.got.vector != NONE || r.got.value == MARK);
					probes++;
					if (matches(g, &r, addr))
						continue;
					/* The XD-with-NXE=0 corner: the reference expects RSVD. */
					if (!strict && r.ex.fault && (r.ex.error & PF_RSVD)) {
						if (tolerated < MAX_NOTES)
							notes[tolerated] = r;
						tolerated++;
						r.ex.error &= ~PF_P; /* QEMU TCG's known form of it */
						no_p += matches(g, &r, addr);
					} else {
						if (bad < MAX_SHOWN)
							shown[bad] = r;
						bad++;
					}
				}
			}
		}
	}
	write_cr4(read_cr4() & ~(CR4_SMEP | CR4_SMAP));
	write_cr0(read_cr0() | CR0_WP);
	if (have_nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_NXE);
	*word = MARK;

	if (tolerated)
		printf("  note %s: XD with NXE=0: %u probes differ, %u only by P missing in the error code "
		       "(QEMU TCG); tolerated without strict=1:\n", g->name, tolerated, no_p);
	for (u32 i = 0; i < tolerated && i < MAX_NOTES; i++)
		describe(g, &notes[i], "  note   ", "  note     ");
	if (!bad) {
		check(true, "%s: %u combinations%s", g->name, probes, tolerated ? " (XD/NXE=0 deviations noted)" : "");
		return;
	}
	check(false, "%s: %u of %u combinations differ from the reference", g->name, bad, probes);
	for (u32 i = 0; i < bad && i < MAX_SHOWN; i++)
		describe(g, &shown[i], "    ", "      ");
	if (bad > MAX_SHOWN)
		printf("    ... %u more\n", bad - MAX_SHOWN);
}

/* ---- the formats ------------------------------------------------------------------ */
static void run_format(enum pg_mode mode)
{
	static const char *const names[3][2] = { { "32-bit 4K", "32-bit 4M PSE" },
						 { "PAE 4K", "PAE 2M" },
						 { "long mode 4K", "long mode 2M" } };
	static const char *const mode_name[3] = { "32-bit", "PAE", "4-level" };
	/* Where the groups' walks start (level 0 = root), their length and the
	 * varied upper entry (-1: none), per mode: 4K group, then large page. */
	static const int first[3] = { 0, 1, 0 }, len[3][2] = { { 2, 1 }, { 2, 1 }, { 4, 3 } },
			 upper[3][2] = { { 0, -1 }, { 0, -1 }, { 2, 1 } };
	struct pgt pt;
	struct group small, big;
	bool large = mode != PG_32 || have_pse; /* 4M pages need CR4.PSE */
	u32 bigsz = mode == PG_32 ? PG_4M : PG_2M;
	/* Windows with their own PDEs (32-bit), PD (PAE), PML4E (long mode);
	 * the long-mode large page under its own PDPTE. */
	u64 w = mode == PG_LM ? 0x8000000000ull : 0x40000000;
	u64 wbig = mode == PG_LM ? w + 0x40000000 : w + bigsz;

	/* Identity map, supervisor-only, so SMEP/SMAP leave the guest alone.
	 * Without PSE 4K pages for the low 4 MiB: the image, its stack and the
	 * page pool are there (tpage is checked to be below 2 MiB). */
	pg_init(&pt, mode);
	if (large)
		pg_identity(&pt, 64 << 20);
	else
		for (u32 a = 0; a < PG_4M; a += PG_4K)
			pg_map(&pt, a, a, PG_4K, PTE_P | PTE_W);
	pg_map(&pt, USTUB_VA, (u32)ustub, PG_4K, PTE_P | PTE_U);
	pg_map(&pt, USTACK_TOP - PG_4K, (u32)ustack, PG_4K, PTE_P | PTE_W | PTE_U);
	pg_map(&pt, w, (u32)tpage, PG_4K, PTE_P | PTE_W | PTE_U);
	group_init(&small, names[mode][0], &pt, w, 0, first[mode], len[mode][0], upper[mode][0], 1 + 2 * mode);
	if (large) {
		pg_map(&pt, wbig, 0, bigsz, PTE_P | PTE_W | PTE_U); /* physical 0: covers tpage */
		group_init(&big, names[mode][1], &pt, wbig, (u32)tpage, first[mode], len[mode][1], upper[mode][1],
			   2 + 2 * mode);
	}
	printf("%s paging: windows at 0x%llx and 0x%llx\n", mode_name[mode], w, wbig);

	if (mode == PG_LM) {
		lm_enter(pt.root);
	} else {
		load_tr(SEL_TSS32);
		if (large) {
			pg_enable(&pt); /* CR4.PSE (32-bit) or PAE, CR3, CR0.PG|WP */
		} else {
			write_cr3(pt.root);
			write_cr0(read_cr0() | CR0_PG | CR0_WP);
		}
	}
	run_group(&small);
	if (large)
		run_group(&big);
	else
		printf("  note PSE not offered, 32-bit 4M pages skipped\n");
	if (mode == PG_LM)
		lm_leave();
	else
		pg_disable();
}

u32 guest_main(void)
{
	printf("access_matrix (%s)\n", argv0);
	strict = opt_u32("strict", 0) != 0;

	struct cpuid_regs r1 = cpuid(1), r0 = cpuid(0), e = cpuid(0x80000000);
	struct cpuid_regs r7 = r0.a >= 7 ? cpuid2(7, 0) : (struct cpuid_regs){ 0, 0, 0, 0 };
	struct cpuid_regs e1 = e.a >= 0x80000001 ? cpuid(0x80000001) : (struct cpuid_regs){ 0, 0, 0, 0 };
	have_pse = r1.d & (1u << 3);
	have_pae = r1.d & (1u << 6);
	have_smep = r7.b & (1u << 7);
	have_smap = r7.b & (1u << 20);
	have_nx = e1.d & (1u << 20);
	have_lm = e1.d & (1u << 29);
	printf("CPU offers: PSE %s, PAE %s, NX %s, long mode %s, SMEP %s, SMAP %s; strict=%u\n",
	       have_pse ? "yes" : "no", have_pae ? "yes" : "no", have_nx ? "yes" : "no", have_lm ? "yes" : "no",
	       have_smep ? "yes" : "no", have_smap ? "yes" : "no", strict);
	if (!have_smep)
		printf("  note SMEP not offered, skipped\n");
	if (!have_smap)
		printf("  note SMAP not offered, skipped\n");
	if (!have_nx)
		printf("  note NX not offered, skipped (EFER.NXE stays 0: XD is a reserved bit)\n");
	avail = R_WP | R_AC | (have_smep ? R_SMEP : 0) | (have_smap ? R_SMAP : 0) | (have_nx ? R_NXE : 0);

	write_cr0(read_cr0() & ~CR0_AM); /* EFLAGS.AC must only mean SMAP here */
	segments_init();
	tpage = page_alloc();
	ustub = page_alloc();
	ustack = page_alloc();
	memcpy(tpage, probe_exec_code, sizeof(probe_exec_code)); /* jmp *%ecx / *%rcx */
	memcpy(ustub, ustub_code, sizeof(ustub_code));
	/* The large pages map physical 0 and are probed at tpage's offset. */
	if (!check((u32)tpage + PG_4K <= PG_2M, "test page %p below 2 MiB", (void *)tpage))
		return check_result();

	run_format(PG_32);
	if (have_pae)
		run_format(PG_PAE);
	else
		printf("  note PAE not offered, skipped\n");
	if (have_lm)
		run_format(PG_LM);
	else
		printf("  note long mode not offered, skipped\n");
	return check_result();
}
