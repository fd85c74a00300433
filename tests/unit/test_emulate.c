/*
 * Instruction emulator (virt/emulate.c): differential tests against the host
 * CPU, hand-checked flag tables, 16-bit addressing and segmentation, page
 * faults, REP string instructions with faults and restarts, MMIO, LOCK
 * rules, unknown instructions, and a fuzzer over random bytes and state.
 *
 * The differential tests run each generated instruction natively (the host
 * is x86-64) on a register file and a data buffer, and then in the emulator
 * on the same inputs, and compare every register, the defined flags and the
 * buffer. The emulator's "guest" there is the test process itself: linear =
 * physical = host address. 32-bit and 16-bit modes are compared with the
 * native 64-bit instruction that has the same operand and address sizes
 * (the prefixes are toggled accordingly).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "tests/unit/unit.h"
#include "virt/emulate.h"

/* ------------------------------------------------------------------------
 * Random numbers (fixed seeds: every run is the same)
 */

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	u64 x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static unsigned rndn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Values that exercise the flags: zero, all ones, sign boundaries, powers
 * of two, small numbers, and plain random. */
static u64 rand_val(void)
{
	static const u64 edge[] = {
		0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000ull, 0xffffffffull,
		0x7fffffffffffffffull, 0x8000000000000000ull, 0x0f, 0x10,
	};

	switch (rndn(8)) {
	case 0: return 0;
	case 1: return ~0ull;
	case 2: return 1ull << rndn(64);
	case 3: return (1ull << rndn(64)) - 1;
	case 4: return rndn(256);
	case 5: return edge[rndn(ARRAY_SIZE(edge))] + rndn(3) - 1;
	default: return rnd();
	}
}

/* ------------------------------------------------------------------------
 * Native execution: load the register file and RFLAGS, call the code page
 * (the instruction followed by RET), store everything back. RSP is the
 * harness's own and never an operand of generated instructions.
 */

struct native_regs {
	u64 gpr[16];
	u64 rflags;
};

void native_run(struct native_regs *r, const void *code);
__asm__(".pushsection .text\n"
	".globl native_run\n"
	".type native_run,@function\n"
	"native_run:\n"
	"	push %rbx\n	push %rbp\n	push %r12\n	push %r13\n	push %r14\n	push %r15\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	pushq 128(%rdi)\n	popfq\n"
	"	mov 0(%rdi), %rax\n	mov 8(%rdi), %rcx\n	mov 16(%rdi), %rdx\n"
	"	mov 24(%rdi), %rbx\n	mov 40(%rdi), %rbp\n	mov 48(%rdi), %rsi\n"
	"	mov 64(%rdi), %r8\n	mov 72(%rdi), %r9\n	mov 80(%rdi), %r10\n"
	"	mov 88(%rdi), %r11\n	mov 96(%rdi), %r12\n	mov 104(%rdi), %r13\n"
	"	mov 112(%rdi), %r14\n	mov 120(%rdi), %r15\n	mov 56(%rdi), %rdi\n"
	"	call *0(%rsp)\n"
	"	pushfq\n"
	"	push %rdi\n"
	"	mov 24(%rsp), %rdi\n"
	"	mov %rax, 0(%rdi)\n	mov %rcx, 8(%rdi)\n	mov %rdx, 16(%rdi)\n"
	"	mov %rbx, 24(%rdi)\n	mov %rbp, 40(%rdi)\n	mov %rsi, 48(%rdi)\n"
	"	mov %r8, 64(%rdi)\n	mov %r9, 72(%rdi)\n	mov %r10, 80(%rdi)\n"
	"	mov %r11, 88(%rdi)\n	mov %r12, 96(%rdi)\n	mov %r13, 104(%rdi)\n"
	"	mov %r14, 112(%rdi)\n	mov %r15, 120(%rdi)\n"
	"	pop %rax\n	mov %rax, 56(%rdi)\n"
	"	pop %rax\n	mov %rax, 128(%rdi)\n"
	"	cld\n"
	"	add $16, %rsp\n"
	"	pop %r15\n	pop %r14\n	pop %r13\n	pop %r12\n	pop %rbp\n	pop %rbx\n"
	"	ret\n"
	".size native_run, .-native_run\n"
	".popsection\n");

static sigjmp_buf native_jmp;

static void native_signal(int sig)
{
	siglongjmp(native_jmp, sig);
}

/* Returns 0, or the signal the instruction raised (SIGILL for #UD,
 * SIGSEGV for #GP). */
static int native_exec(struct native_regs *r, const void *code)
{
	static bool installed;
	int sig;

	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = native_signal;
		sigaction(SIGILL, &sa, NULL);
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		installed = true;
	}
	sig = sigsetjmp(native_jmp, 1);
	if (!sig)
		native_run(r, code);
	__asm__ volatile("cld");
	return sig;
}

/* ------------------------------------------------------------------------
 * The differential environment: linear = physical = host address, and only
 * the data buffer and the code page exist.
 */

#define DATA_SIZE 0x4000
static u8 *data, *code;
static u8 snapshot[DATA_SIZE], native_mem[DATA_SIZE];
static unsigned nat_bad_access;

static bool nat_ok(u64 gpa, unsigned len)
{
	u64 d = (uintptr_t)data, c = (uintptr_t)code;

	if (len == 0 || len > 16 || (gpa >> PAGE_SHIFT) != ((gpa + len - 1) >> PAGE_SHIFT)) {
		nat_bad_access++;
		return false;
	}
	return (gpa >= d && gpa + len <= d + DATA_SIZE) || (gpa >= c && gpa + len <= c + PAGE_SIZE);
}

static bool nat_translate(void *ctx, u64 la, unsigned acc, u64 *gpa, struct emu_fault *f)
{
	*gpa = la;
	return true;
}

static bool nat_read(void *ctx, u64 gpa, void *buf, unsigned len)
{
	if (!nat_ok(gpa, len))
		return false;
	memcpy(buf, (void *)(uintptr_t)gpa, len);
	return true;
}

static bool nat_write(void *ctx, u64 gpa, const void *buf, unsigned len)
{
	if (!nat_ok(gpa, len))
		return false;
	memcpy((void *)(uintptr_t)gpa, buf, len);
	return true;
}

static unsigned nat_cmpxchg_calls;

static bool nat_cmpxchg(void *ctx, u64 gpa, void *expected, const void *desired, unsigned len,
			bool *swapped)
{
	void *p = (void *)(uintptr_t)gpa;

	if (!nat_ok(gpa, len))
		return false;
	nat_cmpxchg_calls++;
	*swapped = memcmp(p, expected, len) == 0;
	if (*swapped)
		memcpy(p, desired, len);
	else
		memcpy(expected, p, len);
	return true;
}

static const struct emu_ops nat_ops = {
	.translate = nat_translate,
	.read_phys = nat_read,
	.write_phys = nat_write,
	.cmpxchg_phys = nat_cmpxchg,
};

#define ATTR_DATA 0xc93 /* RW data, accessed, S, P, DB, G */
#define ATTR_CODE32 0xc9b
#define ATTR_CODE64 0xa9b

static void flat_state(struct emu_state *s, enum guest_cpu_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	for (unsigned i = 0; i < EMU_NR_SEGS; i++) {
		s->seg[i].attr = ATTR_DATA;
		s->seg[i].limit = 0xffffffff;
		s->seg[i].sel = 0x10;
	}
	s->seg[EMU_CS].attr = mode == GUEST_MODE_LONG64 ? ATTR_CODE64 : ATTR_CODE32;
	s->seg[EMU_CS].sel = 0x08;
	s->rflags = 0x2;
	s->cr0 = 0x80000011;
}

/* ------------------------------------------------------------------------
 * Instruction templates for the generator
 */

enum { F_RM, F_M, F_NONE, F_OPREG };
enum { IMM_NONE, IMM_B, IMM_Z, IMM_V, IMM_MOFFS };

#define A_LOCK	0x001	/* LOCK allowed (with a memory destination) */
#define A_BYTE	0x002	/* byte operands */
#define A_64	0x004	/* 64-bit mode only */
#define A_STR	0x008	/* string instruction */
#define A_BTREG	0x010	/* ModRM.reg is a signed bit offset */
#define A_CX	0x020	/* CMPXCHG: often make rAX equal the destination */
#define A_CX8	0x040	/* CMPXCHG8B/16B */
#define A_NO66	0x080
#define A_RM8	0x100	/* r/m operand is a byte (MOVZX/MOVSX) */
#define A_XCHG	0x200	/* implicitly locked */
#define A_NOREG 0x400	/* memory forms only (register form is another insn) */

#define FL_NOAF (EMU_FL_AF)
#define FL_BT (EMU_FL_OF | EMU_FL_SF | EMU_FL_AF | EMU_FL_PF)

struct tmpl {
	char name[24];
	u8 op[2];
	u8 oplen;
	s8 ext;		/* fixed ModRM.reg (/n), or -1 */
	u8 form;
	u8 imm;
	u16 attr;
	u16 undef;	/* flags the SDM leaves undefined */
};

static struct tmpl tmpls[160];
static unsigned ntmpls;

static void add_tmpl(const char *name, u8 op0, int op1, int ext, u8 form, u8 imm, u16 attr,
		     u16 undef)
{
	struct tmpl *t = &tmpls[ntmpls++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->op[0] = op0;
	t->oplen = 1;
	if (op1 >= 0) {
		t->op[1] = (u8)op1;
		t->oplen = 2;
	}
	t->ext = (s8)ext;
	t->form = form;
	t->imm = imm;
	t->attr = attr;
	t->undef = undef;
}

static void build_templates(void)
{
	static const char *const alu[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
	char n[24];

	for (unsigned k = 0; k < 8; k++) {
		u16 lk = k == 7 ? 0 : A_LOCK;
		u16 un = (k == 1 || k == 4 || k == 6) ? FL_NOAF : 0;

		snprintf(n, sizeof(n), "%s Eb,Gb", alu[k]);
		add_tmpl(n, (u8)(k * 8), -1, -1, F_RM, IMM_NONE, A_BYTE | lk, un);
		snprintf(n, sizeof(n), "%s Ev,Gv", alu[k]);
		add_tmpl(n, (u8)(k * 8 + 1), -1, -1, F_RM, IMM_NONE, lk, un);
		snprintf(n, sizeof(n), "%s Gb,Eb", alu[k]);
		add_tmpl(n, (u8)(k * 8 + 2), -1, -1, F_RM, IMM_NONE, A_BYTE, un);
		snprintf(n, sizeof(n), "%s Gv,Ev", alu[k]);
		add_tmpl(n, (u8)(k * 8 + 3), -1, -1, F_RM, IMM_NONE, 0, un);
		snprintf(n, sizeof(n), "%s AL,Ib", alu[k]);
		add_tmpl(n, (u8)(k * 8 + 4), -1, -1, F_NONE, IMM_B, A_BYTE, un);
		snprintf(n, sizeof(n), "%s rAX,Iz", alu[k]);
		add_tmpl(n, (u8)(k * 8 + 5), -1, -1, F_NONE, IMM_Z, 0, un);
		snprintf(n, sizeof(n), "%s 80 Eb,Ib", alu[k]);
		add_tmpl(n, 0x80, -1, (int)k, F_RM, IMM_B, A_BYTE | lk, un);
		snprintf(n, sizeof(n), "%s 81 Ev,Iz", alu[k]);
		add_tmpl(n, 0x81, -1, (int)k, F_RM, IMM_Z, lk, un);
		snprintf(n, sizeof(n), "%s 83 Ev,Ib", alu[k]);
		add_tmpl(n, 0x83, -1, (int)k, F_RM, IMM_B, lk, un);
	}
	add_tmpl("test 84", 0x84, -1, -1, F_RM, IMM_NONE, A_BYTE, FL_NOAF);
	add_tmpl("test 85", 0x85, -1, -1, F_RM, IMM_NONE, 0, FL_NOAF);
	add_tmpl("test A8", 0xa8, -1, -1, F_NONE, IMM_B, A_BYTE, FL_NOAF);
	add_tmpl("test A9", 0xa9, -1, -1, F_NONE, IMM_Z, 0, FL_NOAF);
	add_tmpl("test F6/0", 0xf6, -1, 0, F_RM, IMM_B, A_BYTE, FL_NOAF);
	add_tmpl("test F7/0", 0xf7, -1, 0, F_RM, IMM_Z, 0, FL_NOAF);
	add_tmpl("test F6/1", 0xf6, -1, 1, F_RM, IMM_B, A_BYTE, FL_NOAF);
	add_tmpl("test F7/1", 0xf7, -1, 1, F_RM, IMM_Z, 0, FL_NOAF);
	add_tmpl("not F6", 0xf6, -1, 2, F_RM, IMM_NONE, A_BYTE | A_LOCK, 0);
	add_tmpl("not F7", 0xf7, -1, 2, F_RM, IMM_NONE, A_LOCK, 0);
	add_tmpl("neg F6", 0xf6, -1, 3, F_RM, IMM_NONE, A_BYTE | A_LOCK, 0);
	add_tmpl("neg F7", 0xf7, -1, 3, F_RM, IMM_NONE, A_LOCK, 0);
	add_tmpl("inc FE", 0xfe, -1, 0, F_RM, IMM_NONE, A_BYTE | A_LOCK, 0);
	add_tmpl("dec FE", 0xfe, -1, 1, F_RM, IMM_NONE, A_BYTE | A_LOCK, 0);
	add_tmpl("inc FF", 0xff, -1, 0, F_RM, IMM_NONE, A_LOCK, 0);
	add_tmpl("dec FF", 0xff, -1, 1, F_RM, IMM_NONE, A_LOCK, 0);
	add_tmpl("mov 88", 0x88, -1, -1, F_RM, IMM_NONE, A_BYTE, 0);
	add_tmpl("mov 89", 0x89, -1, -1, F_RM, IMM_NONE, 0, 0);
	add_tmpl("mov 8A", 0x8a, -1, -1, F_RM, IMM_NONE, A_BYTE, 0);
	add_tmpl("mov 8B", 0x8b, -1, -1, F_RM, IMM_NONE, 0, 0);
	add_tmpl("mov C6", 0xc6, -1, 0, F_RM, IMM_B, A_BYTE, 0);
	add_tmpl("mov C7", 0xc7, -1, 0, F_RM, IMM_Z, 0, 0);
	add_tmpl("mov A0", 0xa0, -1, -1, F_NONE, IMM_MOFFS, A_BYTE, 0);
	add_tmpl("mov A1", 0xa1, -1, -1, F_NONE, IMM_MOFFS, 0, 0);
	add_tmpl("mov A2", 0xa2, -1, -1, F_NONE, IMM_MOFFS, A_BYTE, 0);
	add_tmpl("mov A3", 0xa3, -1, -1, F_NONE, IMM_MOFFS, 0, 0);
	add_tmpl("mov B0+r", 0xb0, -1, -1, F_OPREG, IMM_B, A_BYTE, 0);
	add_tmpl("mov B8+r", 0xb8, -1, -1, F_OPREG, IMM_V, 0, 0);
	add_tmpl("movnti", 0x0f, 0xc3, -1, F_M, IMM_NONE, A_NO66, 0);
	add_tmpl("movzx B6", 0x0f, 0xb6, -1, F_RM, IMM_NONE, A_RM8, 0);
	add_tmpl("movzx B7", 0x0f, 0xb7, -1, F_RM, IMM_NONE, 0, 0);
	add_tmpl("movsx BE", 0x0f, 0xbe, -1, F_RM, IMM_NONE, A_RM8, 0);
	add_tmpl("movsx BF", 0x0f, 0xbf, -1, F_RM, IMM_NONE, 0, 0);
	add_tmpl("movsxd", 0x63, -1, -1, F_RM, IMM_NONE, A_64, 0);
	add_tmpl("lea", 0x8d, -1, -1, F_M, IMM_NONE, 0, 0);
	add_tmpl("xchg 86", 0x86, -1, -1, F_RM, IMM_NONE, A_BYTE | A_LOCK | A_XCHG, 0);
	add_tmpl("xchg 87", 0x87, -1, -1, F_RM, IMM_NONE, A_LOCK | A_XCHG, 0);
	add_tmpl("xchg 90+r", 0x90, -1, -1, F_OPREG, IMM_NONE, 0, 0);
	add_tmpl("nop 0F 1F", 0x0f, 0x1f, 0, F_RM, IMM_NONE, 0, 0);
	add_tmpl("bt A3", 0x0f, 0xa3, -1, F_RM, IMM_NONE, A_BTREG, FL_BT);
	add_tmpl("bts AB", 0x0f, 0xab, -1, F_RM, IMM_NONE, A_BTREG | A_LOCK, FL_BT);
	add_tmpl("btr B3", 0x0f, 0xb3, -1, F_RM, IMM_NONE, A_BTREG | A_LOCK, FL_BT);
	add_tmpl("btc BB", 0x0f, 0xbb, -1, F_RM, IMM_NONE, A_BTREG | A_LOCK, FL_BT);
	add_tmpl("bt BA/4", 0x0f, 0xba, 4, F_RM, IMM_B, 0, FL_BT);
	add_tmpl("bts BA/5", 0x0f, 0xba, 5, F_RM, IMM_B, A_LOCK, FL_BT);
	add_tmpl("btr BA/6", 0x0f, 0xba, 6, F_RM, IMM_B, A_LOCK, FL_BT);
	add_tmpl("btc BA/7", 0x0f, 0xba, 7, F_RM, IMM_B, A_LOCK, FL_BT);
	add_tmpl("xadd C0", 0x0f, 0xc0, -1, F_RM, IMM_NONE, A_BYTE | A_LOCK, 0);
	add_tmpl("xadd C1", 0x0f, 0xc1, -1, F_RM, IMM_NONE, A_LOCK, 0);
	add_tmpl("cmpxchg B0", 0x0f, 0xb0, -1, F_RM, IMM_NONE, A_BYTE | A_LOCK | A_CX, 0);
	add_tmpl("cmpxchg B1", 0x0f, 0xb1, -1, F_RM, IMM_NONE, A_LOCK | A_CX, 0);
	add_tmpl("cmpxchg8b/16b", 0x0f, 0xc7, 1, F_M, IMM_NONE, A_LOCK | A_CX8 | A_NOREG, 0);
	add_tmpl("movsb", 0xa4, -1, -1, F_NONE, IMM_NONE, A_STR | A_BYTE, 0);
	add_tmpl("movs", 0xa5, -1, -1, F_NONE, IMM_NONE, A_STR, 0);
	add_tmpl("cmpsb", 0xa6, -1, -1, F_NONE, IMM_NONE, A_STR | A_BYTE, 0);
	add_tmpl("cmps", 0xa7, -1, -1, F_NONE, IMM_NONE, A_STR, 0);
	add_tmpl("stosb", 0xaa, -1, -1, F_NONE, IMM_NONE, A_STR | A_BYTE, 0);
	add_tmpl("stos", 0xab, -1, -1, F_NONE, IMM_NONE, A_STR, 0);
	add_tmpl("lodsb", 0xac, -1, -1, F_NONE, IMM_NONE, A_STR | A_BYTE, 0);
	add_tmpl("lods", 0xad, -1, -1, F_NONE, IMM_NONE, A_STR, 0);
	add_tmpl("scasb", 0xae, -1, -1, F_NONE, IMM_NONE, A_STR | A_BYTE, 0);
	add_tmpl("scas", 0xaf, -1, -1, F_NONE, IMM_NONE, A_STR, 0);
}

/* ------------------------------------------------------------------------
 * Generating one test case
 */

struct gcase {
	const struct tmpl *t;
	enum guest_cpu_mode mode;
	u8 ebytes[16], nbytes[16]; /* for the emulator, for the CPU */
	unsigned elen, nlen;
	u64 gpr[16];
	u64 rflags;
	bool expect_ud;		/* LOCK where it is not allowed */
};

struct bytes {
	u8 b[16];
	unsigned n;
};

static void put(struct bytes *b, u64 v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		b->b[b->n++] = (u8)(v >> (8 * i));
}

static u64 size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static bool is_rsp(unsigned reg, unsigned size, bool rex)
{
	return reg == 4 && !(size == 1 && !rex);
}

static u64 data_addr(unsigned off)
{
	return (uintptr_t)data + off;
}

/* Plants size bytes of v at host address a in the data buffer. */
static void plant(u64 a, u64 v, unsigned size)
{
	memcpy((void *)(uintptr_t)a, &v, size);
}

static u64 fetch_mem(u64 a, unsigned size)
{
	u64 v = 0;

	memcpy(&v, (void *)(uintptr_t)a, size);
	return v;
}

/*
 * Builds a random instance of t for mode. Fills the data buffer with
 * random bytes. Returns false when the random choices made an instance the
 * harness cannot run natively (RSP as an operand...); the caller retries.
 */
static bool gen_case(const struct tmpl *t, enum guest_cpu_mode mode, struct gcase *g)
{
	bool m64 = mode == GUEST_MODE_LONG64;
	bool byte = t->attr & A_BYTE;
	u8 rex = 0, pfx[8];
	unsigned npfx = 0, osz, asz, reg_size, rm_size;
	bool has_mem = false, lock = false, use_66;
	bool e66, e67, n66, n67; /* prefixes for the emulator's and the CPU's bytes */
	struct bytes tail = { .n = 0 };	/* opcode and what follows */
	unsigned modrm_pos = 0, disp_pos = 0;
	int disp_size = 0, base = -1, index = -1, scale = 0;
	bool riprel = false;
	u64 target = 0, disp = 0, iv = 0;
	unsigned reg = 0, rm = 0;

	if ((t->attr & A_64) && !m64)
		return false;
	memset(g, 0, sizeof(*g));
	g->t = t;
	g->mode = mode;
	for (unsigned i = 0; i < DATA_SIZE / 8; i++)
		((u64 *)data)[i] = rnd();
	for (unsigned i = 0; i < 16; i++)
		g->gpr[i] = rand_val();
	g->gpr[4] = 0xdeadbeefcafe0000ull; /* never used */
	g->rflags = 0x202 | (rnd() & EMU_FL_ARITH);

	/* Operand and address size, and the prefixes that say so. */
	if (m64) {
		if (rndn(2))
			rex = (u8)(0x40 | rndn(16));
		use_66 = rndn(4) == 0;
		if ((t->attr & A_NO66) && use_66)
			return false;
		osz = (rex & 8) ? 8 : use_66 ? 2 : 4;
		asz = rndn(5) == 0 ? 4 : 8;
		e66 = n66 = use_66;
		e67 = n67 = asz == 4;
	} else {
		osz = (t->attr & A_NO66) ? 4 : rndn(2) ? 2 : 4;
		asz = 4;
		n66 = osz == 2;
		n67 = true;
		if (mode == GUEST_MODE_PROT32) {
			e66 = osz == 2;
			e67 = false;
		} else {
			e66 = osz == 4;
			e67 = true;
		}
		if (t->attr & A_NO66)
			e66 = false; /* MOVNTI: always 32-bit, 66 is #UD */
	}
	reg_size = byte ? 1 : osz;
	rm_size = byte || (t->attr & A_RM8) ? 1 : osz;

	for (unsigned i = 0; i < t->oplen; i++)
		tail.b[tail.n++] = t->op[i];

	if (t->form == F_OPREG) {
		reg = rndn(8) | ((rex & 1) ? 8 : 0);
		if (is_rsp(reg, reg_size, rex))
			return false;
		tail.b[t->oplen - 1] = (u8)(t->op[t->oplen - 1] + (reg & 7));
	} else if (t->form == F_RM || t->form == F_M) {
		unsigned mod = (t->form == F_M || rndn(10) < 7) ? rndn(3) : 3;
		unsigned rmf = rndn(8), regf = t->ext >= 0 ? (unsigned)t->ext : rndn(8);

		if (t->attr & A_NOREG && mod == 3)
			mod = 0;
		modrm_pos = tail.n;
		tail.b[tail.n++] = (u8)(mod << 6 | regf << 3 | rmf);
		reg = regf | ((rex & 4) ? 8 : 0);
		if (t->ext < 0 && is_rsp(reg, reg_size, rex))
			return false;
		if (mod == 3) {
			rm = rmf | ((rex & 1) ? 8 : 0);
			if (is_rsp(rm, rm_size, rex))
				return false;
		} else {
			has_mem = true;
			if (rmf == 4) {
				u8 sib = (u8)rnd();
				unsigned b3 = sib & 7;

				tail.b[tail.n++] = sib;
				scale = sib >> 6;
				index = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
				if (index == 4)
					index = -1;
				if (b3 == 5 && mod == 0)
					disp_size = 4;
				else
					base = (int)(b3 | ((rex & 1) ? 8 : 0));
			} else if (rmf == 5 && mod == 0) {
				if (!m64)
					return false; /* absolute in 32-bit code, EIP-relative natively */
				riprel = true;
				disp_size = 4;
			} else {
				base = (int)(rmf | ((rex & 1) ? 8 : 0));
			}
			if (mod == 1)
				disp_size = 1;
			else if (mod == 2)
				disp_size = 4;
			if (base == 4 || (base >= 0 && base == index))
				return false;
			if ((t->attr & A_BTREG) && (reg == (unsigned)base || (int)reg == index))
				return false;
		}
	}

	/* Where the memory operand goes: the middle of the buffer; aligned
	 * for LOCKed forms (no split locks), 16-byte aligned mostly for
	 * CMPXCHG16B. */
	if (has_mem || t->imm == IMM_MOFFS) {
		unsigned size = t->attr & A_CX8 ? ((rex & 8) ? 16 : 8) : byte ? 1 : osz;

		target = data_addr(DATA_SIZE / 2 + rndn(2048) - 1024);
		if (t->attr & (A_LOCK | A_CX8))
			target &= ~(u64)(size - 1);
		if ((t->attr & A_CX8) && size == 16 && rndn(10) == 0)
			target += 8;
		/* an operand value that exercises the flags */
		if (rndn(4))
			plant(target, rand_val(), 8);
	}
	if (has_mem) {
		if (disp_size == 1)
			disp = (u64)(s64)(s8)rnd();
		else if (disp_size == 4 && base >= 0)
			disp = (u64)(s64)(int)(rndn(4000) - 2000);
		if (index >= 0)
			iv = (u64)(s64)(int)(rndn(64) - 32);
		if (base < 0 && !riprel)
			disp = target - (iv << scale);
		if (base >= 0)
			g->gpr[base] = target - (iv << scale) - disp;
		if (index >= 0)
			g->gpr[index] = iv;
		if (asz == 4) {
			/* The upper halves must not matter. */
			if (base >= 0)
				g->gpr[base] = (u32)g->gpr[base] | (rnd() << 32);
			if (index >= 0)
				g->gpr[index] = (u32)g->gpr[index] | (rnd() << 32);
		}
		if (disp_size) {
			disp_pos = tail.n;
			put(&tail, disp, (unsigned)disp_size);
		}
	}

	/* Immediates. */
	switch (t->imm) {
	case IMM_B: put(&tail, rand_val(), 1); break;
	case IMM_Z: put(&tail, rand_val(), osz == 2 ? 2 : 4); break;
	case IMM_V: put(&tail, rand_val(), byte ? 1 : osz); break;
	case IMM_MOFFS: put(&tail, target, asz); break;
	default: break;
	}

	/* Operand values the instruction is interesting with. */
	if (t->attr & A_BTREG) {
		u64 bit = (u64)(s64)(int)(rndn(4096) - 2048);

		if (!has_mem)
			bit = rand_val();
		g->gpr[reg] = (g->gpr[reg] & ~size_mask(osz)) | (bit & size_mask(osz));
	}
	/* A failed 32-bit CMPXCHG with a register destination leaves its upper
	 * half alone on Intel CPUs (the emulator does the same); keep it zero
	 * so the comparison holds on CPUs that zero-extend. */
	if ((t->attr & A_CX) && !has_mem && osz == 4)
		g->gpr[rm] = (u32)g->gpr[rm];
	if ((t->attr & A_CX) && rndn(2)) {
		u64 v = has_mem ? fetch_mem(target, reg_size) : g->gpr[rm];

		if (base != EMU_RAX && index != EMU_RAX)
			g->gpr[EMU_RAX] = (g->gpr[EMU_RAX] & ~size_mask(reg_size)) |
					  (v & size_mask(reg_size));
	}
	if ((t->attr & A_CX8) && rndn(2) && base != EMU_RAX && index != EMU_RAX && base != EMU_RDX &&
	    index != EMU_RDX) {
		unsigned half = (rex & 8) ? 8 : 4;

		g->gpr[EMU_RAX] = fetch_mem(target, half) | (half == 4 ? rnd() << 32 : 0);
		g->gpr[EMU_RDX] = fetch_mem(target + half, half) | (half == 4 ? rnd() << 32 : 0);
	}
	if (t->attr & A_STR) {
		unsigned size = byte ? 1 : osz;
		unsigned count = rndn(4) ? rndn(24) : rndn(3);
		bool down = rndn(2);
		u64 si = data_addr(DATA_SIZE / 4 + rndn(DATA_SIZE / 2));
		u64 di = data_addr(DATA_SIZE / 4 + rndn(DATA_SIZE / 2));
		unsigned same = rndn(count + 2);
		unsigned r = rndn(3);

		if (r)
			pfx[npfx++] = r == 1 ? 0xf3 : 0xf2;
		if (down)
			g->rflags |= EMU_FL_DF;
		/* Equal runs for REPE/REPNE CMPS and SCAS. */
		for (unsigned i = 0; i < same && i < count; i++) {
			u64 off = down ? -(u64)(i * size) : i * size;

			if (t->op[0] == 0xa6 || t->op[0] == 0xa7)
				memmove((void *)(uintptr_t)(di + off), (void *)(uintptr_t)(si + off), size);
			else
				plant(di + off, g->gpr[EMU_RAX], size);
		}
		g->gpr[EMU_RSI] = si;
		g->gpr[EMU_RDI] = di;
		g->gpr[EMU_RCX] = count;
		if (asz == 4 && count) {
			g->gpr[EMU_RSI] |= rnd() << 32;
			g->gpr[EMU_RDI] |= rnd() << 32;
			g->gpr[EMU_RCX] |= rnd() << 32;
		} else if (asz == 8 && rndn(2)) {
			g->gpr[EMU_RCX] = count; /* no garbage: the count is 64-bit */
		}
	}

	/* Prefixes: LOCK (sometimes where it is not allowed), a segment
	 * override, the size prefixes, in random order; REX last. */
	if ((t->attr & A_LOCK) && has_mem && rndn(3) == 0)
		lock = true;
	if (rndn(40) == 0)
		lock = true;
	if (lock) {
		pfx[npfx++] = 0xf0;
		g->expect_ud = !((t->attr & A_LOCK) && has_mem);
	}
	if (rndn(5) == 0) {
		static const u8 segs[4] = { 0x26, 0x2e, 0x36, 0x3e };
		u8 s = segs[rndn(4)];

		if (!m64 && s == 0x2e)
			s = 0x3e; /* CS is not writable in the emulated 32-bit modes */
		pfx[npfx++] = s;
	}
	for (unsigned i = npfx; i > 1; i--) {
		unsigned j = rndn(i);
		u8 x = pfx[i - 1];

		pfx[i - 1] = pfx[j];
		pfx[j] = x;
	}

	/* Assemble both byte strings. */
	{
		struct bytes e = { .n = 0 }, nn = { .n = 0 };

		for (unsigned i = 0; i < npfx; i++) {
			e.b[e.n++] = pfx[i];
			nn.b[nn.n++] = pfx[i];
		}
		if (e66)
			e.b[e.n++] = 0x66;
		if (e67)
			e.b[e.n++] = 0x67;
		if (n66)
			nn.b[nn.n++] = 0x66;
		if (n67)
			nn.b[nn.n++] = 0x67;
		if (rex) {
			e.b[e.n++] = rex;
			nn.b[nn.n++] = rex;
		}
		if (e.n + tail.n > 15 || nn.n + tail.n > 15)
			return false;
		memcpy(e.b + e.n, tail.b, tail.n);
		memcpy(nn.b + nn.n, tail.b, tail.n);
		e.n += tail.n;
		nn.n += tail.n;
		if (riprel) {
			/* Same bytes on both sides in 64-bit mode. */
			u64 next = (uintptr_t)code + e.n;
			u32 d = (u32)(target - next);

			memcpy(e.b + (e.n - tail.n) + disp_pos, &d, 4);
			memcpy(nn.b + (nn.n - tail.n) + disp_pos, &d, 4);
		}
		memcpy(g->ebytes, e.b, e.n);
		g->elen = e.n;
		memcpy(g->nbytes, nn.b, nn.n);
		g->nlen = nn.n;
	}
	(void)modrm_pos;
	return true;
}

/* ------------------------------------------------------------------------
 * Running one case both ways
 */

static unsigned diff_failures, diff_cases, diff_faults;

static void dump_bytes(const char *what, const u8 *b, unsigned n)
{
	fprintf(stderr, "  %s:", what);
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, " %02x", b[i]);
	fprintf(stderr, "\n");
}

/* Field by field (padding bytes are not part of the state). */
static bool state_eq(const struct emu_state *a, const struct emu_state *b)
{
	if (memcmp(a->gpr, b->gpr, sizeof(a->gpr)) || a->rip != b->rip || a->rflags != b->rflags ||
	    a->cr0 != b->cr0 || a->cr2 != b->cr2 || a->cr3 != b->cr3 || a->cr4 != b->cr4 ||
	    a->efer != b->efer || a->cpl != b->cpl || a->mode != b->mode)
		return false;
	for (unsigned i = 0; i < EMU_NR_SEGS; i++)
		if (a->seg[i].sel != b->seg[i].sel || a->seg[i].attr != b->seg[i].attr ||
		    a->seg[i].limit != b->seg[i].limit || a->seg[i].base != b->seg[i].base)
			return false;
	return true;
}

static const char *mode_name(enum guest_cpu_mode m)
{
	switch (m) {
	case GUEST_MODE_REAL: return "real";
	case GUEST_MODE_PROT16: return "prot16";
	case GUEST_MODE_PROT32: return "prot32";
	default: return "long64";
	}
}

static bool run_case(struct gcase *g)
{
	struct native_regs nr;
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;
	enum emu_result r = EMU_OK;
	int sig;
	bool ok = true;
	u64 fmask = (EMU_FL_ARITH & ~(u64)g->t->undef) | EMU_FL_DF;

	diff_cases++;
	memcpy(snapshot, data, DATA_SIZE);
	memset(code, 0xcc, PAGE_SIZE);
	memcpy(code, g->nbytes, g->nlen);
	code[g->nlen] = 0xc3;
	memcpy(nr.gpr, g->gpr, sizeof(nr.gpr));
	nr.rflags = g->rflags;
	sig = native_exec(&nr, code);
	memcpy(native_mem, data, DATA_SIZE);
	memcpy(data, snapshot, DATA_SIZE);

	memset(code, 0xcc, PAGE_SIZE);
	memcpy(code, g->ebytes, g->elen);
	flat_state(&s, g->mode);
	memcpy(s.gpr, g->gpr, sizeof(s.gpr));
	s.rflags = g->rflags;
	s.rip = (uintptr_t)code;
	for (unsigned i = 0; i < 4; i++) {
		r = emulate_one(&s, &nat_ops, &f, &info);
		if (r != EMU_OK || !info.rep_partial)
			break;
	}

	if (sig) {
		diff_faults++;
		if (r != EMU_FAULT || f.vector != (sig == SIGILL ? EMU_VEC_UD : EMU_VEC_GP))
			ok = false;
	} else if (r != EMU_OK) {
		ok = false;
	} else {
		if (s.rip != (uintptr_t)code + g->elen)
			ok = false;
		for (unsigned i = 0; i < 16; i++)
			if (i != 4 && s.gpr[i] != nr.gpr[i])
				ok = false;
		if ((s.rflags & fmask) != (nr.rflags & fmask))
			ok = false;
		if (memcmp(data, native_mem, DATA_SIZE))
			ok = false;
	}
	if (g->expect_ud && !(r == EMU_FAULT && f.vector == EMU_VEC_UD))
		ok = false;
	if (!ok && diff_failures++ < 12) {
		fprintf(stderr, "FAIL %s: %s in %s: native sig %d, emulator %s (%s, vector %u)\n",
			unit_current, g->t->name, mode_name(g->mode), sig, emu_result_name(r),
			info.reason ? info.reason : "", f.vector);
		dump_bytes("emulated", g->ebytes, g->elen);
		dump_bytes("native  ", g->nbytes, g->nlen);
		for (unsigned i = 0; i < 16; i++)
			if (i != 4 && (s.gpr[i] != nr.gpr[i] || g->gpr[i] != nr.gpr[i]))
				fprintf(stderr, "  r%u: in %#llx native %#llx emulated %#llx\n", i,
					(unsigned long long)g->gpr[i], (unsigned long long)nr.gpr[i],
					(unsigned long long)s.gpr[i]);
		fprintf(stderr, "  flags: in %#llx native %#llx emulated %#llx (mask %#llx)\n",
			(unsigned long long)g->rflags, (unsigned long long)nr.rflags,
			(unsigned long long)s.rflags, (unsigned long long)fmask);
		for (unsigned i = 0; i < DATA_SIZE; i++)
			if (data[i] != native_mem[i]) {
				fprintf(stderr, "  memory differs at +%#x: native %02x emulated %02x\n", i,
					native_mem[i], data[i]);
				break;
			}
	}
	/* Leave the buffer as the CPU left it (the next case refills it). */
	return ok;
}

static void diff_mode(enum guest_cpu_mode mode, unsigned per_template)
{
	unsigned before = diff_failures;

	for (unsigned t = 0; t < ntmpls; t++) {
		unsigned done = 0;

		for (unsigned tries = 0; done < per_template && tries < per_template * 20; tries++) {
			struct gcase g;

			if (!gen_case(&tmpls[t], mode, &g))
				continue;
			run_case(&g);
			done++;
		}
		if (!(tmpls[t].attr & A_64) || mode == GUEST_MODE_LONG64)
			CHECK(done == per_template);
	}
	CHECK_EQ(diff_failures, before);
	CHECK_EQ(nat_bad_access, 0);
}

TEST(native_long64)
{
	diff_mode(GUEST_MODE_LONG64, 150);
}

TEST(native_prot32)
{
	diff_mode(GUEST_MODE_PROT32, 60);
}

TEST(native_prot16)
{
	diff_mode(GUEST_MODE_PROT16, 60);
}

TEST(native_real)
{
	diff_mode(GUEST_MODE_REAL, 30);
}

/* LOCKed RMW uses the atomic callback; MOVS with both operands in memory. */
TEST(native_lock_uses_cmpxchg)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;
	/* lock add dword [rbx], ecx */
	static const u8 insn[] = { 0xf0, 0x01, 0x0b };
	u64 target = data_addr(0x100);

	flat_state(&s, GUEST_MODE_LONG64);
	memcpy(code, insn, sizeof(insn));
	s.rip = (uintptr_t)code;
	s.gpr[EMU_RBX] = target;
	s.gpr[EMU_RCX] = 5;
	plant(target, 0xfffffffe, 4);
	nat_cmpxchg_calls = 0;
	CHECK_EQ(emulate_one(&s, &nat_ops, &f, &info), EMU_OK);
	CHECK_EQ(nat_cmpxchg_calls, 1);
	CHECK_EQ(fetch_mem(target, 4), 3);
	CHECK(s.rflags & EMU_FL_CF);
	CHECK_STR(info.mnemonic, "add");
	CHECK_EQ(info.nmem, 1);
	CHECK_EQ(info.mem[0].linear, target);
	CHECK(info.mem[0].write);
}

/* ------------------------------------------------------------------------
 * The simulated guest: 1 MiB of RAM at 0, a 4 KiB device at SIM_MMIO,
 * identity paging except for listed pages.
 */

#define SIM_RAM (1u << 20)
#define SIM_MMIO 0xfee00000ull

enum page_kind { PG_MAP, PG_NP, PG_RO, PG_SUP };

struct sim_page {
	u64 lpage, gpage;
	enum page_kind kind;
};

struct mmio_access {
	u64 gpa;
	unsigned len;
	bool write;
	u64 val;
};

static struct sim {
	u8 *ram;
	struct sim_page pages[16];
	unsigned npages;
	u8 mmio[PAGE_SIZE];
	struct mmio_access log[64];
	unsigned nlog;
	unsigned translates, cmpxchgs, bad_access;
	unsigned last_acc;
	u64 last_la;
	int interfere;		/* cmpxchg_phys changes memory and fails this often */
} sim;

static void sim_reset(void)
{
	u8 *ram = sim.ram;

	memset(&sim, 0, sizeof(sim));
	sim.ram = ram;
	memset(sim.ram, 0, SIM_RAM);
}

static void sim_page(u64 la, u64 gpa, enum page_kind kind)
{
	sim.pages[sim.npages++] = (struct sim_page){ la & PAGE_MASK, gpa & PAGE_MASK, kind };
}

static bool sim_translate(void *ctx, u64 la, unsigned acc, u64 *gpa, struct emu_fault *f)
{
	sim.translates++;
	sim.last_acc = acc;
	sim.last_la = la;
	if (acc & ~(unsigned)(EMU_ACC_WRITE | EMU_ACC_USER | EMU_ACC_FETCH))
		sim.bad_access++;
	*gpa = la;
	for (unsigned i = 0; i < sim.npages; i++) {
		const struct sim_page *p = &sim.pages[i];
		bool bad;

		if (p->lpage != (la & PAGE_MASK))
			continue;
		switch (p->kind) {
		case PG_NP:
			f->vector = EMU_VEC_PF;
			f->has_error = true;
			f->error = acc;
			f->cr2 = la;
			return false;
		case PG_RO:
		case PG_SUP:
			bad = p->kind == PG_RO ? (acc & EMU_ACC_WRITE) : (acc & EMU_ACC_USER);
			if (bad) {
				f->vector = EMU_VEC_PF;
				f->has_error = true;
				f->error = acc | 1;
				f->cr2 = la;
				return false;
			}
			break;
		case PG_MAP:
			*gpa = p->gpage | (la & (PAGE_SIZE - 1));
			break;
		}
	}
	return true;
}

static u8 *sim_mem(u64 gpa, unsigned len)
{
	if (len == 0 || len > 16 || (gpa >> PAGE_SHIFT) != ((gpa + len - 1) >> PAGE_SHIFT)) {
		sim.bad_access++;
		return NULL;
	}
	if (gpa + len <= SIM_RAM)
		return sim.ram + gpa;
	if (gpa >= SIM_MMIO && gpa + len <= SIM_MMIO + PAGE_SIZE)
		return sim.mmio + (gpa - SIM_MMIO);
	return NULL;
}

static void sim_log(u64 gpa, const void *buf, unsigned len, bool write)
{
	if (gpa >= SIM_MMIO && gpa < SIM_MMIO + PAGE_SIZE && sim.nlog < ARRAY_SIZE(sim.log)) {
		struct mmio_access *a = &sim.log[sim.nlog++];

		a->gpa = gpa;
		a->len = len;
		a->write = write;
		a->val = 0;
		memcpy(&a->val, buf, MIN(len, 8u));
	}
}

static bool sim_read(void *ctx, u64 gpa, void *buf, unsigned len)
{
	u8 *p = sim_mem(gpa, len);

	if (!p)
		return false;
	memcpy(buf, p, len);
	sim_log(gpa, buf, len, false);
	return true;
}

static bool sim_write(void *ctx, u64 gpa, const void *buf, unsigned len)
{
	u8 *p = sim_mem(gpa, len);

	if (!p)
		return false;
	memcpy(p, buf, len);
	sim_log(gpa, buf, len, true);
	return true;
}

static bool sim_cmpxchg(void *ctx, u64 gpa, void *expected, const void *desired, unsigned len,
			bool *swapped)
{
	u8 *p = sim_mem(gpa, len);

	if (!p)
		return false;
	sim.cmpxchgs++;
	if (sim.interfere) {
		sim.interfere--;
		p[0]++; /* another vCPU got there first */
	}
	*swapped = memcmp(p, expected, len) == 0;
	if (*swapped)
		memcpy(p, desired, len);
	else
		memcpy(expected, p, len);
	return true;
}

static const struct emu_ops sim_ops = {
	.translate = sim_translate,
	.read_phys = sim_read,
	.write_phys = sim_write,
	.cmpxchg_phys = sim_cmpxchg,
};

static const struct emu_ops sim_ops_nocx = {
	.translate = sim_translate,
	.read_phys = sim_read,
	.write_phys = sim_write,
};

/* A state for mode with flat 4 GiB segments and code at 0x1000. */
static void sim_state(struct emu_state *s, enum guest_cpu_mode mode)
{
	flat_state(s, mode);
	s->rip = 0x1000;
}

/* Places the instruction at CS:RIP (CS base + RIP, identity paging). */
static void sim_code(const struct emu_state *s, const u8 *b, unsigned n)
{
	u64 la = s->mode == GUEST_MODE_LONG64 ? s->rip : (u32)(s->seg[EMU_CS].base + s->rip);

	memcpy(sim.ram + la, b, n);
}

static enum emu_result sim_run(struct emu_state *s, const u8 *b, unsigned n, struct emu_fault *f,
			       struct emu_info *info)
{
	sim_code(s, b, n);
	return emulate_one(s, &sim_ops, f, info);
}

#define RUN_INSN(s, f, info, ...)                                                  \
	({                                                                         \
		static const u8 _b[] = { __VA_ARGS__ };                            \
		sim_run((s), _b, sizeof(_b), (f), (info));                         \
	})

static u64 ram_get(u64 gpa, unsigned size)
{
	u64 v = 0;

	memcpy(&v, sim.ram + gpa, size);
	return v;
}

static void ram_put(u64 gpa, u64 v, unsigned size)
{
	memcpy(sim.ram + gpa, &v, size);
}

/* ------------------------------------------------------------------------
 * Flags: hand-checked values (SDM Vol. 1 Appendix A / instruction pages),
 * independent of the host CPU.
 */

struct flag_case {
	const char *name;
	u8 bytes[6];
	u8 len;
	u64 rax, rbx;
	u64 flags_in;
	u64 rax_out;
	u64 flags_out;	/* the six arithmetic flags */
};

#define CF EMU_FL_CF
#define PF EMU_FL_PF
#define AF EMU_FL_AF
#define ZF EMU_FL_ZF
#define SF EMU_FL_SF
#define OF EMU_FL_OF

static const struct flag_case flag_cases[] = {
	{ "add al,1 0x7f", { 0x04, 0x01 }, 2, 0x7f, 0, 0, 0x80, OF | SF | AF },
	{ "add al,1 0xff", { 0x04, 0x01 }, 2, 0xff, 0, 0, 0x00, CF | ZF | AF | PF },
	{ "sub al,1 0", { 0x2c, 0x01 }, 2, 0, 0, 0, 0xff, CF | SF | AF | PF },
	{ "sub al,1 0x80", { 0x2c, 0x01 }, 2, 0x80, 0, 0, 0x7f, OF | AF },
	{ "cmp al,5 3", { 0x3c, 0x05 }, 2, 3, 0, 0, 3, CF | SF | AF },
	{ "adc al,0 cf", { 0x14, 0x00 }, 2, 0xff, 0, CF, 0x00, CF | ZF | AF | PF },
	{ "adc al,0x7f cf", { 0x14, 0x7f }, 2, 0x00, 0, CF, 0x80, OF | SF | AF },
	{ "sbb al,0 cf", { 0x1c, 0x00 }, 2, 0x00, 0, CF, 0xff, CF | SF | AF | PF },
	{ "sbb al,0xff cf", { 0x1c, 0xff }, 2, 0xff, 0, CF, 0xff, CF | SF | AF | PF },
	{ "add rax,1", { 0x48, 0x83, 0xc0, 0x01 }, 4, ~0ull, 0, 0, 0, CF | ZF | AF | PF },
	{ "add ax,-1", { 0x66, 0x83, 0xc0, 0xff }, 4, 0x1234000000000001ull, 0, 0,
	  0x1234000000000000ull, CF | ZF | AF | PF },
	{ "add eax,ebx zero-ext", { 0x01, 0xd8 }, 2, 0xffffffff80000000ull, 0x80000000ull, 0, 0,
	  CF | ZF | PF | OF },
	{ "neg al 0x80", { 0xf6, 0xd8 }, 2, 0x80, 0, 0, 0x80, CF | OF | SF },
	{ "neg al 0", { 0xf6, 0xd8 }, 2, 0, 0, CF, 0, ZF | PF },
	{ "inc al keeps cf", { 0xfe, 0xc0 }, 2, 0xff, 0, CF, 0, CF | ZF | AF | PF },
	{ "dec al 0x80", { 0xfe, 0xc8 }, 2, 0x80, 0, 0, 0x7f, OF | AF },
	{ "and al,0x0f", { 0x24, 0x0f }, 2, 0xf0, 0, CF | OF | AF, 0, ZF | PF },
	{ "or eax,ebx", { 0x09, 0xd8 }, 2, 0x80000000ull, 1, 0, 0x80000001ull, SF },
	{ "xor rax,rax", { 0x48, 0x31, 0xc0 }, 3, 0x1234, 0, CF | SF, 0, ZF | PF },
	{ "test al,al sf", { 0x84, 0xc0 }, 2, 0x81, 0, CF | OF, 0x81, SF | PF },
	{ "bts eax,3", { 0x0f, 0xba, 0xe8, 0x03 }, 4, 0x1, 0, CF | ZF, 0x9, ZF },
	{ "btr eax,0", { 0x0f, 0xba, 0xf0, 0x00 }, 4, 0x1, 0, 0, 0x0, CF },
	{ "xadd ebx->eax", { 0x0f, 0xc1, 0xc3 }, 3, 1, 0xffffffffull, 0, 0xffffffffull,
	  CF | ZF | AF | PF }, /* ebx = 0, eax = old ebx */
	{ "cmpxchg eax,ebx equal", { 0x0f, 0xb1, 0xd8 }, 3, 7, 0, 0, 0, ZF | PF },
	/* ecx (0) != eax (7): eax = 0, zero-extended; flags of 7 - 0 */
	{ "cmpxchg ecx,ebx differ", { 0x0f, 0xb1, 0xd9 }, 3, 0xffffffff00000007ull, 0, ZF | CF, 0, 0 },
};

TEST(flag_table)
{
	for (unsigned i = 0; i < ARRAY_SIZE(flag_cases); i++) {
		const struct flag_case *k = &flag_cases[i];
		struct emu_state s;
		struct emu_fault f;
		struct emu_info info;
		enum emu_result r;

		sim_reset();
		sim_state(&s, GUEST_MODE_LONG64);
		s.gpr[EMU_RAX] = k->rax;
		s.gpr[EMU_RBX] = k->rbx;
		s.rflags |= k->flags_in;
		r = sim_run(&s, k->bytes, k->len, &f, &info);
		if (r != EMU_OK || s.gpr[EMU_RAX] != k->rax_out ||
		    (s.rflags & EMU_FL_ARITH) != k->flags_out || s.rip != 0x1000u + k->len) {
			fprintf(stderr, "FAIL flag_table %s: r=%d rax=%#llx flags=%#llx\n", k->name, r,
				(unsigned long long)s.gpr[EMU_RAX],
				(unsigned long long)(s.rflags & EMU_FL_ARITH));
			unit_current_failed = 1;
		}
	}
}

/* ------------------------------------------------------------------------
 * Decoding in the 16- and 32-bit modes
 */

/* All eight 16-bit ModRM memory forms, with the SS default for BP. */
TEST(addr16_forms)
{
	static const struct {
		u8 modrm;
		u16 disp;
		u8 disp_len;
		u16 ea;
		bool ss;
	} forms[] = {
		{ 0x07, 0, 0, 0x1000, false },		/* [bx] */
		{ 0x00, 0, 0, 0x1000 + 0x30, false },	/* [bx+si] */
		{ 0x01, 0, 0, 0x1000 + 0x50, false },	/* [bx+di] */
		{ 0x02, 0, 0, 0x2000 + 0x30, true },	/* [bp+si] */
		{ 0x03, 0, 0, 0x2000 + 0x50, true },	/* [bp+di] */
		{ 0x04, 0, 0, 0x30, false },		/* [si] */
		{ 0x05, 0, 0, 0x50, false },		/* [di] */
		{ 0x06, 0x1234, 2, 0x1234, false },	/* [disp16] */
		{ 0x46, 0xfffe, 1, 0x1ffe, true },	/* [bp-2] */
		{ 0x87, 0x0010, 2, 0x1010, false },	/* [bx+0x10] */
		{ 0x40, 0x0080, 1, 0x1000 + 0x30 - 0x80, false }, /* [bx+si-128] */
	};

	for (unsigned mode = 0; mode < 2; mode++) {
		for (unsigned i = 0; i < ARRAY_SIZE(forms); i++) {
			struct emu_state s;
			struct emu_fault f;
			struct emu_info info;
			u8 b[5] = { 0x8b, forms[i].modrm }; /* mov ax, [..] */
			u64 ds = 0x20000, ss = 0x40000;

			sim_reset();
			sim_state(&s, mode ? GUEST_MODE_REAL : GUEST_MODE_PROT16);
			s.seg[EMU_DS].base = ds;
			s.seg[EMU_SS].base = ss;
			s.seg[EMU_DS].limit = s.seg[EMU_SS].limit = 0xffff;
			s.gpr[EMU_RBX] = 0xffff0000 | 0x1000; /* upper bits do not count */
			s.gpr[EMU_RBP] = 0x2000;
			s.gpr[EMU_RSI] = 0x30;
			s.gpr[EMU_RDI] = 0x50;
			s.gpr[EMU_RAX] = 0xaaaabbbbccccddddull;
			memcpy(b + 2, &forms[i].disp, forms[i].disp_len);
			ram_put((forms[i].ss ? ss : ds) + forms[i].ea, 0x5a5a, 2);
			CHECK_EQ(sim_run(&s, b, 2 + forms[i].disp_len, &f, &info), EMU_OK);
			CHECK_EQ(s.gpr[EMU_RAX], 0xaaaabbbbcccc5a5aull);
			CHECK_EQ(info.mem[0].linear, (forms[i].ss ? ss : ds) + forms[i].ea);
			CHECK_EQ(info.len, 2 + forms[i].disp_len);
			CHECK_EQ(s.rip, 0x1000u + 2 + forms[i].disp_len);
		}
	}
}

/* 16-bit effective addresses wrap at 64 KiB; an operand that straddles
 * the end of a 64 KiB segment is a limit violation (#GP, #SS for SS). */
TEST(addr16_wrap_and_limit)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_REAL);
	s.seg[EMU_DS].base = 0x10000;
	s.seg[EMU_DS].limit = 0xffff;
	s.seg[EMU_SS].limit = 0xffff;
	s.gpr[EMU_RBX] = 0xfff0;
	s.gpr[EMU_RSI] = 0x20;
	ram_put(0x10010, 0x77, 1);
	/* mov al, [bx+si] -> offset 0x10 */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8a, 0x00), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX] & 0xff, 0x77);
	/* mov ax, [0xffff]: the second byte is past the limit */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x06, 0xff, 0xff), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	CHECK_EQ(f.error, 0);
	CHECK_EQ(s.rip, 0x1002); /* unchanged by the fault */
	/* the same through BP: #SS */
	s.gpr[EMU_RBP] = 0xffff;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x46, 0x00), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_SS);
	/* 32-bit address size in real mode (unreal mode limits) */
	s.seg[EMU_DS].limit = 0xfffff;
	s.gpr[EMU_RBX] = 0x12345;
	ram_put(0x10000 + 0x12345, 0xbeef, 2);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x67, 0x8b, 0x03), EMU_OK); /* mov ax,[ebx] */
	CHECK_EQ(s.gpr[EMU_RAX] & 0xffff, 0xbeef);
}

/* Default operand sizes per mode and the 66 prefix. */
TEST(operand_size_per_mode)
{
	static const enum guest_cpu_mode modes[] = { GUEST_MODE_REAL, GUEST_MODE_PROT16,
						     GUEST_MODE_PROT32, GUEST_MODE_LONG64 };
	static const unsigned def[] = { 2, 2, 4, 4 };

	for (unsigned m = 0; m < 4; m++) {
		for (unsigned p = 0; p < 2; p++) {
			struct emu_state s;
			struct emu_fault f;
			struct emu_info info;
			unsigned size = p ? 6 - def[m] : def[m];
			u8 b[3] = { 0x66, 0x89, 0x07 }; /* mov [bx] / [edi] / [rdi], eax/ax */

			sim_reset();
			sim_state(&s, modes[m]);
			s.gpr[EMU_RBX] = s.gpr[EMU_RDI] = 0x3000;
			s.gpr[EMU_RAX] = 0x1122334455667788ull;
			ram_put(0x3000, ~0ull, 8);
			CHECK_EQ(sim_run(&s, p ? b : b + 1, p ? 3 : 2, &f, &info), EMU_OK);
			CHECK_EQ(info.op_size, size);
			CHECK_EQ(info.mem[0].size, size);
			CHECK_EQ(ram_get(0x3000, 8),
				 size == 2 ? 0xffffffffffff7788ull : 0xffffffff55667788ull);
		}
	}
}

TEST(inc_dec_short_forms_outside_64)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_PROT32);
	s.gpr[EMU_RCX] = 0xffffffff;
	s.rflags |= CF;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x41), EMU_OK); /* inc ecx */
	CHECK_EQ(s.gpr[EMU_RCX], 0);
	CHECK_EQ(s.rflags & (CF | ZF), CF | ZF);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x66, 0x4f), EMU_OK); /* dec di */
	CHECK_EQ(s.gpr[EMU_RDI], 0xffff);
	/* 82 is an alias of 80 outside 64-bit mode, #UD in it */
	s.gpr[EMU_RBX] = 0x3000;
	ram_put(0x3000, 5, 1);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x82, 0x03, 0x04), EMU_OK); /* add byte [ebx],4 */
	CHECK_EQ(ram_get(0x3000, 1), 9);
	sim_state(&s, GUEST_MODE_LONG64);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x82, 0x03, 0x04), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_UD);
}

/* ------------------------------------------------------------------------
 * Segmentation and canonical checks
 */

TEST(segment_checks_prot32)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_PROT32);
	s.seg[EMU_DS].base = 0x10000;
	s.seg[EMU_DS].limit = 0xfff;
	s.gpr[EMU_RBX] = 0xffc;
	/* mov eax,[ebx]: last byte at the limit is fine */
	ram_put(0x10ffc, 0xabcd1234, 4);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0xabcd1234);
	CHECK_EQ(info.mem[0].linear, 0x10ffc);
	/* one byte further: #GP(0), nothing changes */
	s.gpr[EMU_RBX] = 0xffd;
	s.gpr[EMU_RAX] = 1;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	CHECK(f.has_error);
	CHECK_EQ(f.error, 0);
	CHECK_EQ(s.gpr[EMU_RAX], 1);
	CHECK_EQ(s.rip, 0x1002);
	/* through SS (override): #SS(0) */
	s.seg[EMU_SS].limit = 0xfff;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x36, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_SS);
	/* [esp+..] defaults to SS */
	s.gpr[EMU_RSP] = 0x1000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x04, 0x24), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_SS);
	/* read-only data segment: reads fine, writes #GP */
	s.seg[EMU_ES].attr = ATTR_DATA & ~2;
	s.gpr[EMU_RBX] = 0x2000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x26, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x26, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* code segment: readable if R, never writable */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x2e, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x2e, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	s.seg[EMU_CS].attr = ATTR_CODE32 & ~2; /* execute-only */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x2e, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	s.seg[EMU_CS].attr = ATTR_CODE32;
	/* null (unusable) segment */
	s.seg[EMU_FS].attr = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x64, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* expand-down: valid offsets are above the limit */
	s.seg[EMU_GS].attr = ATTR_DATA | 4;
	s.seg[EMU_GS].limit = 0x0fff;
	s.seg[EMU_GS].base = 0;
	s.gpr[EMU_RBX] = 0x0ffe;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x65, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	s.gpr[EMU_RBX] = 0x0fff; /* the limit itself is outside */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x65, 0x8a, 0x03), EMU_FAULT);
	s.gpr[EMU_RBX] = 0x1000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x65, 0x8b, 0x03), EMU_OK);
	s.seg[EMU_GS].attr &= ~EMU_SEG_DB; /* 16-bit upper bound */
	s.gpr[EMU_RBX] = 0xfffe;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x65, 0x8b, 0x03), EMU_FAULT);
	/* segment base wraps at 4 GiB */
	s.seg[EMU_DS] = (struct emu_seg){ 0x10, ATTR_DATA, 0xffffffff, 0xfffff000ull };
	s.gpr[EMU_RBX] = 0x2000;
	ram_put(0x1000, 0x4242, 2);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x66, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX] & 0xffff, 0x4242);
	CHECK_EQ(info.mem[0].linear, 0x1000);
	/* an operand crossing 4 GiB (base + offset) continues at linear 0 */
	s.seg[EMU_DS].base = 0x1000;
	sim_page(0xfffff000ull, 0x7000, PG_MAP);
	s.gpr[EMU_RBX] = 0xffffeffe;
	s.gpr[EMU_RAX] = 0xa1b2c3d4;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK);
	CHECK_EQ(ram_get(0x7ffe, 2), 0xc3d4);
	CHECK_EQ(ram_get(0x0000, 2), 0xa1b2);
}

TEST(canonical_checks_long64)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RBX] = 0x0000800000000000ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	CHECK_EQ(f.error, 0);
	/* straddling the top of the lower half */
	s.gpr[EMU_RBX] = 0x00007ffffffffffcull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x48, 0x8b, 0x03), EMU_FAULT);
	/* RBP- and RSP-based: #SS(0) */
	s.gpr[EMU_RBP] = 0x0000900000000000ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x45, 0x00), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_SS);
	/* R13 as base is DS, not SS */
	s.gpr[EMU_R13] = 0x0000900000000000ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x41, 0x8b, 0x45, 0x00), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* with LA57 the same address is canonical */
	s.cr4 |= BIT(12);
	s.gpr[EMU_RBX] = 0x3000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x41, 0x8b, 0x45, 0x00), EMU_IO_ERROR);
	CHECK_EQ(info.io_gpa, 0x0000900000000000ull);
	s.cr4 = 0;
	/* FS/GS bases count, DS/ES/SS/CS bases do not */
	s.seg[EMU_FS].base = 0x5000;
	s.seg[EMU_DS].base = 0x7000;
	s.gpr[EMU_RBX] = 0x10;
	ram_put(0x5010, 0x11, 8);
	ram_put(0x0010, 0x22, 8);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x64, 0x48, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0x11);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x3e, 0x48, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0x22);
	/* FS base + offset non-canonical */
	s.seg[EMU_GS].base = 0x00007ffffffff000ull;
	s.gpr[EMU_RBX] = 0x2000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x65, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* the highest canonical addresses of each half are fine */
	sim_page(0x00007ffffffff000ull, 0x3000, PG_MAP);
	sim_page(0xffff800000000000ull, 0x4000, PG_MAP);
	ram_put(0x3ff8, 0x5151, 8);
	ram_put(0x4000, 0x6161, 8);
	s.gpr[EMU_RBX] = 0x00007ffffffffff8ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x48, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0x5151);
	s.gpr[EMU_RBX] = 0xffff800000000000ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x48, 0x8b, 0x03), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0x6161);
	s.gpr[EMU_RBX] = 0xffff7ffffffffff8ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x48, 0x8b, 0x03), EMU_FAULT);
	/* limits are ignored */
	s.seg[EMU_DS].limit = 0;
	s.gpr[EMU_RBX] = 0x3000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_OK);
}

TEST(rip_relative)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	/* mov dword [rip+0x100], 0x12345678: relative to the next insn (10 bytes) */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xc7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12),
		 EMU_OK);
	CHECK_EQ(ram_get(0x1000 + 10 + 0x100, 4), 0x12345678);
	CHECK_EQ(info.mem[0].linear, 0x110a);
	/* negative displacement, 32-bit address size: EIP-relative, truncated */
	s.rip = 0x100001000ull;
	sim_page(0x100001000ull, 0x2000, PG_MAP);
	{
		static const u8 b[] = { 0x67, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff }; /* mov eax,[eip-16] */

		memcpy(sim.ram + 0x2000, b, sizeof(b));
	}
	ram_put(0x1000 + 7 - 16, 0xfeedface, 4);
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(info.mem[0].linear, 0xff7);
	CHECK_EQ(s.gpr[EMU_RAX], 0xfeedface);
	CHECK_EQ(s.rip, 0x100001007ull);
	/* outside 64-bit mode mod=0 rm=5 is an absolute disp32 */
	sim_state(&s, GUEST_MODE_PROT32);
	ram_put(0x4444, 0x99, 4);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x05, 0x44, 0x44, 0x00, 0x00), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX], 0x99);
}

/* REX rules: only a REX right before the opcode counts; SPL..DIL vs
 * AH..BH; REX.W over 66. */
TEST(rex_rules)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RAX] = 0x1111;
	s.gpr[EMU_RSP] = 0x2222;
	s.gpr[EMU_RBX] = 0x3000;
	/* mov [rbx], ah (88 23) vs mov [rbx], spl (40 88 23) */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x88, 0x23), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 1), 0x11);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x40, 0x88, 0x23), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 1), 0x22);
	/* REX.W then 66: the REX is cancelled -> 16-bit store */
	ram_put(0x3000, 0, 8);
	s.gpr[EMU_RAX] = 0x1122334455667788ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x48, 0x66, 0x89, 0x03), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 8), 0x7788);
	/* 66 then REX.W: 64-bit */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x66, 0x48, 0x89, 0x03), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 8), 0x1122334455667788ull);
	/* REX.B extends the base, REX.X the index, REX.R the register */
	s.gpr[EMU_R9] = 0x3000;
	s.gpr[EMU_R10] = 0x10;
	s.gpr[EMU_R12] = 0xabcdef;
	/* mov [r9+r10*2], r12d : 47 89 24 51 */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x47, 0x89, 0x24, 0x51), EMU_OK);
	CHECK_EQ(ram_get(0x3020, 4), 0xabcdef);
	/* index field 100 without REX.X is "no index", with REX.X it is R12 */
	s.gpr[EMU_R12] = 0x8;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x43, 0x89, 0x04, 0x21), EMU_OK); /* [r9+r12] */
	CHECK_EQ(info.mem[0].linear, 0x3008);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x41, 0x89, 0x04, 0x21), EMU_OK); /* [r9] */
	CHECK_EQ(info.mem[0].linear, 0x3000);
}

/* ------------------------------------------------------------------------
 * Page faults and instruction fetch
 */

TEST(page_faults)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	sim_page(0x5000, 0, PG_NP);
	sim_page(0x6000, 0, PG_RO);
	sim_page(0x7000, 0, PG_SUP);
	s.gpr[EMU_RBX] = 0x5010;
	/* read of a not-present page: error 0, cr2 the address */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_PF);
	CHECK(f.has_error);
	CHECK_EQ(f.error, 0);
	CHECK_EQ(f.cr2, 0x5010);
	/* write: W */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.error, EMU_ACC_WRITE);
	/* read-modify-write faults as a write even though it reads first */
	s.gpr[EMU_RBX] = 0x6008;
	ram_put(0x6008, 41, 4);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_OK); /* reading is fine */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xff, 0x03), EMU_FAULT); /* inc dword [rbx] */
	CHECK_EQ(f.error, EMU_ACC_WRITE | 1);
	CHECK_EQ(ram_get(0x6008, 4), 41);
	/* CMP only reads */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x83, 0x3b, 0x29), EMU_OK);
	CHECK(s.rflags & ZF);
	CHECK_EQ(sim.last_acc, EMU_ACC_READ);
	/* user access (CPL 3) to a supervisor page: U|P */
	s.cpl = 3;
	s.gpr[EMU_RBX] = 0x7000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_FAULT);
	CHECK_EQ(f.error, EMU_ACC_USER | 1);
	s.cpl = 0;
	/* an access that crosses into a bad page faults on the second page
	 * and writes nothing to the first */
	s.gpr[EMU_RBX] = 0x4ffe;
	ram_put(0x4ff8, 0, 8);
	s.gpr[EMU_RAX] = 0xffffffff;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.cr2, 0x5000);
	CHECK_EQ(f.error, EMU_ACC_WRITE);
	CHECK_EQ(ram_get(0x4ff8, 8), 0);
	/* a page-crossing access to two different frames */
	sim_page(0x8000, 0x20000, PG_MAP);
	sim_page(0x9000, 0x10000, PG_MAP);
	s.gpr[EMU_RBX] = 0x8ffe;
	s.gpr[EMU_RAX] = 0x44332211;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK);
	CHECK_EQ(ram_get(0x20ffe, 2), 0x2211);
	CHECK_EQ(ram_get(0x10000, 2), 0x4433);
	CHECK_EQ(info.mem[0].gpa, 0x20ffe);
	/* MOVS inside a read-only page: the source's read translation must
	 * not serve the destination's write */
	sim_page(0xa000, 0, PG_RO);
	s.gpr[EMU_RSI] = 0xa000;
	s.gpr[EMU_RDI] = 0xa800;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xa4), EMU_FAULT);
	CHECK_EQ(f.error, EMU_ACC_WRITE | 1);
	CHECK_EQ(f.cr2, 0xa800);
	/* nor the fetch translation of the code's own page */
	s.rip = 0xa100;
	memcpy(sim.ram + 0xa100, "\x89\x05\x00\x01\x00\x00", 6); /* mov [rip+0x100],eax */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
	CHECK_EQ(f.error, EMU_ACC_WRITE | 1);
	CHECK_EQ(f.cr2, 0xa206);
	CHECK_EQ(sim.bad_access, 0);
}

TEST(fetch_faults_and_limits)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;
	unsigned n;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	sim_page(0x2000, 0, PG_NP);
	/* a 2-byte instruction ending at the page end never fetches the next page */
	s.rip = 0x1ffe;
	s.gpr[EMU_RBX] = 0x3000;
	sim.translates = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK);
	CHECK_EQ(s.rip, 0x2000);
	/* one that continues into it: fetch fault on the second page */
	s.rip = 0x1ffe;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x83, 0x00, 0x01, 0x00, 0x00), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_PF);
	CHECK_EQ(f.error, EMU_ACC_FETCH);
	CHECK_EQ(f.cr2, 0x2000);
	CHECK_EQ(s.rip, 0x1ffe);
	/* CPL 3 fetch */
	s.cpl = 3;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x83, 0x00, 0x01, 0x00, 0x00), EMU_FAULT);
	CHECK_EQ(f.error, EMU_ACC_FETCH | EMU_ACC_USER);
	s.cpl = 0;
	/* non-canonical RIP */
	s.rip = 0x0000800000000000ull;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* 15 bytes is the limit: 14 prefixes + 1-byte NOP is fine, 15 + 1 is #GP */
	sim_state(&s, GUEST_MODE_LONG64);
	memset(sim.ram + 0x1000, 0x66, 15);
	sim.ram[0x1000 + 14] = 0x90;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.rip, 0x100f);
	CHECK_EQ(info.len, 15);
	sim_state(&s, GUEST_MODE_LONG64);
	sim.ram[0x1000 + 14] = 0x66;
	sim.ram[0x1000 + 15] = 0x90;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	CHECK_EQ(info.nbytes, 15);
	/* the same with a real instruction: 11 prefixes + mov [rbx],eax with disp32 = 17 */
	sim_state(&s, GUEST_MODE_LONG64);
	n = 0;
	for (; n < 11; n++)
		sim.ram[0x1000 + n] = 0x3e;
	memcpy(sim.ram + 0x1000 + n, "\x89\x83\x00\x00\x00\x00", 6);
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* CS limit: an instruction crossing it is #GP(0) */
	sim_state(&s, GUEST_MODE_PROT32);
	s.seg[EMU_CS].limit = 0x1001;
	s.gpr[EMU_RBX] = 0x3000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x43, 0x04), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	s.seg[EMU_CS].limit = 0x1002;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x43, 0x04), EMU_OK);
	/* CS base applies outside 64-bit mode */
	sim_state(&s, GUEST_MODE_REAL);
	s.seg[EMU_CS].base = 0xf0000;
	s.seg[EMU_CS].limit = 0xffff;
	s.rip = 0xfff0;
	memcpy(sim.ram + 0xffff0, "\xb8\x34\x12", 3); /* mov ax, 0x1234 */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RAX] & 0xffff, 0x1234);
	CHECK_EQ(s.rip, 0xfff3);
	/* instruction bytes in nothing -> I/O error */
	sim_state(&s, GUEST_MODE_LONG64);
	s.rip = 0x40000000;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_IO_ERROR);
	CHECK_EQ(info.io_gpa, 0x40000000);
}

TEST(alignment_check)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.cr0 |= BIT(18);
	s.rflags |= EMU_FL_AC;
	s.gpr[EMU_RBX] = 0x3002;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK); /* CPL 0: no check */
	s.cpl = 3;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_AC);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x66, 0x89, 0x03), EMU_OK); /* 2-aligned word */
	s.rflags &= ~(u64)EMU_FL_AC;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK);
}

/* ------------------------------------------------------------------------
 * REP string instructions
 */

TEST(rep_stos_bounded_and_resumable)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;
	unsigned calls = 0;
	enum emu_result r;
	u64 n = EMU_REP_MAX_ITER * 2 + 10;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RDI] = 0x10000;
	s.gpr[EMU_RCX] = n;
	s.gpr[EMU_RAX] = 0xab;
	sim_code(&s, (const u8 *)"\xf3\xaa", 2); /* rep stosb */
	do {
		r = emulate_one(&s, &sim_ops, &f, &info);
		calls++;
		if (info.rep_partial) {
			CHECK_EQ(s.rip, 0x1000);
			CHECK_EQ(info.iterations, EMU_REP_MAX_ITER);
		}
	} while (r == EMU_OK && info.rep_partial && calls < 10);
	CHECK_EQ(r, EMU_OK);
	CHECK_EQ(calls, 3);
	CHECK_EQ(s.rip, 0x1002);
	CHECK_EQ(s.gpr[EMU_RCX], 0);
	CHECK_EQ(s.gpr[EMU_RDI], 0x10000 + n);
	for (u64 i = 0; i < n; i++)
		if (sim.ram[0x10000 + i] != 0xab) {
			CHECK(false);
			break;
		}
	CHECK_EQ(sim.ram[0x10000 + n], 0);
	/* huge count with a 64-bit RCX: still bounded per call */
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RDI] = 0x10000;
	s.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK(info.rep_partial);
	CHECK_EQ(s.gpr[EMU_RCX], ~0ull - EMU_REP_MAX_ITER);
	/* zero count: nothing, but RIP advances */
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RDI] = 0x20000;
	s.gpr[EMU_RCX] = 0;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.rip, 0x1002);
	CHECK_EQ(info.iterations, 0);
	CHECK_EQ(sim.ram[0x20000], 0);
}

TEST(rep_movs_fault_midway_then_resume)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	for (unsigned i = 0; i < 64; i++)
		ram_put(0x10000 + i * 4, 0x1000 + i, 4);
	/* destination runs into a not-present page after 6 dwords */
	sim_page(0x21000, 0, PG_NP);
	s.gpr[EMU_RSI] = 0x10000;
	s.gpr[EMU_RDI] = 0x21000 - 24;
	s.gpr[EMU_RCX] = 16;
	sim_code(&s, (const u8 *)"\xf3\xa5", 2); /* rep movsd */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_PF);
	CHECK_EQ(f.error, EMU_ACC_WRITE);
	CHECK_EQ(f.cr2, 0x21000);
	CHECK_EQ(info.iterations, 6);
	/* the architectural state at the fault: 6 done, RIP at the insn */
	CHECK_EQ(s.rip, 0x1000);
	CHECK_EQ(s.gpr[EMU_RCX], 10);
	CHECK_EQ(s.gpr[EMU_RSI], 0x10000 + 24);
	CHECK_EQ(s.gpr[EMU_RDI], 0x21000);
	CHECK_EQ(ram_get(0x21000 - 4, 4), 0x1005);
	/* the guest maps the page; the instruction continues */
	sim.npages = 0;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(info.iterations, 10);
	CHECK_EQ(s.rip, 0x1002);
	CHECK_EQ(s.gpr[EMU_RCX], 0);
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(ram_get(0x21000 - 24 + i * 4, 4), 0x1000 + i);
	/* a fault in the first iteration changes nothing */
	sim_page(0x30000, 0, PG_NP);
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RSI] = 0x30000;
	s.gpr[EMU_RDI] = 0x40000;
	s.gpr[EMU_RCX] = 3;
	{
		struct emu_state before = s;

		CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_FAULT);
		CHECK_EQ(f.error, 0);
		CHECK(state_eq(&before, &s));
	}
}

TEST(rep_direction_and_16bit_wrap)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	/* DF=1: downwards */
	sim_state(&s, GUEST_MODE_PROT32);
	s.rflags |= EMU_FL_DF;
	s.gpr[EMU_RDI] = 0x5008;
	s.gpr[EMU_RCX] = 3;
	s.gpr[EMU_RAX] = 0x1234;
	sim_code(&s, (const u8 *)"\x66\xf3\xab", 3); /* rep stosw */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RDI], 0x5002);
	CHECK_EQ(ram_get(0x5004, 2), 0x1234);
	CHECK_EQ(ram_get(0x5008, 2), 0x1234);
	CHECK_EQ(ram_get(0x5002, 2), 0);
	/* 16-bit address size: DI wraps within the segment, upper bits kept */
	sim_state(&s, GUEST_MODE_PROT16);
	s.seg[EMU_ES].base = 0x60000;
	s.seg[EMU_ES].limit = 0xffff;
	s.gpr[EMU_RDI] = 0xabcd0000 | 0xfffe;
	s.gpr[EMU_RCX] = 0x55550004;
	s.gpr[EMU_RAX] = 0x77;
	sim_code(&s, (const u8 *)"\xf3\xaa", 2); /* rep stosb */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RDI], 0xabcd0002);
	CHECK_EQ(s.gpr[EMU_RCX], 0x55550000);
	CHECK_EQ(sim.ram[0x6fffe], 0x77);
	CHECK_EQ(sim.ram[0x6ffff], 0x77);
	CHECK_EQ(sim.ram[0x60000], 0x77);
	CHECK_EQ(sim.ram[0x60001], 0x77);
	CHECK_EQ(sim.ram[0x60002], 0);
	/* 16-bit address size: SI and DI wrap, their upper bits are kept */
	sim_state(&s, GUEST_MODE_PROT16);
	s.gpr[EMU_RSI] = 0x12340000ull | 0xffff;
	s.gpr[EMU_RDI] = 0x56780000ull | 0x8000;
	s.gpr[EMU_RCX] = 2;
	ram_put(0xffff, 0x99, 1);
	ram_put(0x0000, 0x98, 1);
	sim_code(&s, (const u8 *)"\xf3\xa4", 2); /* rep movsb */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RSI], 0x12340001ull);
	CHECK_EQ(s.gpr[EMU_RDI], 0x56788002ull);
	CHECK_EQ(ram_get(0x8000, 2), 0x9899);
	sim_state(&s, GUEST_MODE_REAL);
	s.gpr[EMU_RSI] = 0xffff0000ull | 0x0000;
	s.rflags |= EMU_FL_DF;
	sim_code(&s, (const u8 *)"\xad", 1); /* lodsw, downwards */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RSI], 0xfffffffeull);
	/* a segment override applies to the source of MOVS, never to ES:DI */
	sim_state(&s, GUEST_MODE_PROT32);
	s.seg[EMU_FS].base = 0x70000;
	s.seg[EMU_ES].base = 0x80000;
	s.gpr[EMU_RSI] = 0x10;
	s.gpr[EMU_RDI] = 0x20;
	ram_put(0x70010, 0xcafe, 2);
	sim_code(&s, (const u8 *)"\x64\x66\xa5", 3); /* movsw fs:[esi] -> es:[edi] */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(ram_get(0x80020, 2), 0xcafe);
	CHECK_EQ(info.nmem, 2);
	CHECK_EQ(info.mem[0].linear, 0x70010);
	CHECK(!info.mem[0].write);
	CHECK_EQ(info.mem[1].linear, 0x80020);
	CHECK(info.mem[1].write);
}

TEST(repe_cmps_and_repne_scas)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	memcpy(sim.ram + 0x5000, "abcdefgh", 8);
	memcpy(sim.ram + 0x6000, "abcdXfgh", 8);
	s.gpr[EMU_RSI] = 0x5000;
	s.gpr[EMU_RDI] = 0x6000;
	s.gpr[EMU_RCX] = 8;
	sim_code(&s, (const u8 *)"\xf3\xa6", 2); /* repe cmpsb */
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(info.iterations, 5);
	CHECK_EQ(s.gpr[EMU_RCX], 3);
	CHECK_EQ(s.gpr[EMU_RSI], 0x5005);
	CHECK(!(s.rflags & ZF));
	CHECK_EQ(s.rip, 0x1002);
	/* repne scasb: find 'g' */
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RDI] = 0x5000;
	s.gpr[EMU_RCX] = 100;
	s.gpr[EMU_RAX] = 'g';
	sim_code(&s, (const u8 *)"\xf2\xae", 2);
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, &info), EMU_OK);
	CHECK_EQ(s.gpr[EMU_RDI], 0x5007);
	CHECK_EQ(s.gpr[EMU_RCX], 100 - 7);
	CHECK(s.rflags & ZF);
}

/* ------------------------------------------------------------------------
 * MMIO, atomics, LOCK rules, unknown instructions
 */

TEST(mmio_accesses)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_PROT32);
	/* paging maps linear 0xd000 to the device page */
	sim_page(0xd000, SIM_MMIO, PG_MAP);
	s.gpr[EMU_RBX] = 0xd0b0;
	s.gpr[EMU_RAX] = 0x1ff;
	/* mov [ebx], eax: one 4-byte write at the right gpa */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_OK);
	CHECK_EQ(sim.nlog, 1);
	CHECK_EQ(sim.log[0].gpa, SIM_MMIO + 0xb0);
	CHECK_EQ(sim.log[0].len, 4);
	CHECK(sim.log[0].write);
	CHECK_EQ(sim.log[0].val, 0x1ff);
	CHECK_EQ(info.mem[0].gpa, SIM_MMIO + 0xb0);
	CHECK(info.mem[0].write);
	/* movzx ecx, word [ebx]: one 2-byte read */
	sim.nlog = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xb7, 0x0b), EMU_OK);
	CHECK_EQ(sim.nlog, 1);
	CHECK_EQ(sim.log[0].len, 2);
	CHECK(!sim.log[0].write);
	CHECK_EQ(s.gpr[EMU_RCX], 0x1ff);
	CHECK(!info.mem[0].write);
	/* or dword [ebx], 0x100: a read then a write of the device register */
	sim.nlog = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x81, 0x0b, 0x00, 0x01, 0x00, 0x00), EMU_OK);
	CHECK_EQ(sim.nlog, 2);
	CHECK(!sim.log[0].write);
	CHECK(sim.log[1].write);
	CHECK_EQ(sim.log[1].val, 0x1ff);
	/* rep movsd MMIO -> RAM and RAM -> MMIO and MMIO -> MMIO */
	s.gpr[EMU_RSI] = 0xd000;
	s.gpr[EMU_RDI] = 0x8000;
	s.gpr[EMU_RCX] = 4;
	memcpy(sim.mmio, "0123456789abcdef", 16);
	sim.nlog = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf3, 0xa5), EMU_OK);
	CHECK(memcmp(sim.ram + 0x8000, "0123456789abcdef", 16) == 0);
	CHECK_EQ(sim.nlog, 4);
	s.gpr[EMU_RSI] = 0xd000;
	s.gpr[EMU_RDI] = 0xd800;
	s.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf3, 0xa5), EMU_OK);
	CHECK(memcmp(sim.mmio + 0x800, "01234567", 8) == 0);
	CHECK_EQ(sim.nlog, 8);
	/* nothing at the address: EMU_IO_ERROR naming it, state unchanged */
	sim_page(0xe000, 0xc0000000ull, PG_MAP);
	s.gpr[EMU_RBX] = 0xe010;
	{
		struct emu_state before = s;
		char msg[200];

		CHECK_EQ(RUN_INSN(&s, &f, &info, 0x8b, 0x03), EMU_IO_ERROR);
		CHECK_EQ(info.io_gpa, 0xc0000010ull);
		CHECK(state_eq(&before, &s));
		emu_describe(&s, EMU_IO_ERROR, &f, &info, msg, sizeof(msg));
		CHECK(strstr(msg, "0xc0000010") != NULL);
		CHECK(strstr(msg, "8b 03") != NULL);
	}
}

TEST(lock_rules)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RBX] = 0x3000;
	/* LOCK MOV: #UD, no error code */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x89, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_UD);
	CHECK(!f.has_error);
	/* LOCK with a register destination */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x01, 0xd8), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_UD);
	/* LOCK CMP / TEST / BT */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x39, 0x03), EMU_FAULT);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x85, 0x03), EMU_FAULT);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x0f, 0xa3, 0x03), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_UD);
	CHECK_EQ(s.rip, 0x1000);
	/* the #UD comes after the whole instruction is fetched: a fetch fault wins */
	sim_page(0x2000, 0, PG_NP);
	s.rip = 0x1ffd;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x89, 0x83, 0, 0, 0, 0), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_PF);
	sim.npages = 0;
	s.rip = 0x1000;
	/* LOCK allowed: every lockable kind goes through cmpxchg_phys */
	ram_put(0x3000, 0, 8);
	ram_put(0x3008, 0, 8);
	sim.cmpxchgs = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x0f, 0xab, 0x03), EMU_OK); /* lock bts [rbx],eax */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0xff, 0x03), EMU_OK);	     /* lock inc */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x87, 0x03), EMU_OK);	     /* xchg: implicit */
	CHECK_EQ(sim.cmpxchgs, 3);
	/* without the callback: read/compute/write */
	sim_code(&s, (const u8 *)"\xf0\x83\x03\x05", 4);
	ram_put(0x3000, 10, 4);
	CHECK_EQ(emulate_one(&s, &sim_ops_nocx, &f, &info), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 4), 15);
	/* racing writers: retried, then EMU_RETRY with nothing changed */
	s.rip = 0x1000;
	ram_put(0x3000, 0x100, 4);
	sim.interfere = 3;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x83, 0x03, 0x05), EMU_OK);
	CHECK_EQ(ram_get(0x3000, 4), 0x103 + 5);
	s.rip = 0x1000;
	sim.interfere = 1000;
	{
		struct emu_state before = s;

		CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x83, 0x03, 0x05), EMU_RETRY);
		CHECK(state_eq(&before, &s));
	}
	sim.interfere = 0;
}

TEST(cmpxchg_wide)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RDI] = 0x3000;
	ram_put(0x3000, 0x1111111122222222ull, 8);
	ram_put(0x3008, 0x3333333344444444ull, 8);
	/* lock cmpxchg16b [rdi], mismatch: rdx:rax loaded, ZF=0 */
	s.gpr[EMU_RAX] = 1;
	s.gpr[EMU_RDX] = 2;
	s.gpr[EMU_RBX] = 0xaaaa;
	s.gpr[EMU_RCX] = 0xbbbb;
	sim.cmpxchgs = 0;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x48, 0x0f, 0xc7, 0x0f), EMU_OK);
	CHECK_STR(info.mnemonic, "cmpxchg16b");
	CHECK_EQ(s.gpr[EMU_RAX], 0x1111111122222222ull);
	CHECK_EQ(s.gpr[EMU_RDX], 0x3333333344444444ull);
	CHECK(!(s.rflags & ZF));
	CHECK_EQ(sim.cmpxchgs, 1);
	/* now it matches: rcx:rbx stored, ZF=1 */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x48, 0x0f, 0xc7, 0x0f), EMU_OK);
	CHECK(s.rflags & ZF);
	CHECK_EQ(ram_get(0x3000, 8), 0xaaaa);
	CHECK_EQ(ram_get(0x3008, 8), 0xbbbb);
	CHECK_EQ(info.mem[0].size, 16);
	/* misaligned 16B: #GP(0) */
	s.gpr[EMU_RDI] = 0x3008;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x48, 0x0f, 0xc7, 0x0f), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_GP);
	/* cmpxchg8b in 32-bit mode, without LOCK: plain read/compare/write */
	sim_state(&s, GUEST_MODE_PROT32);
	s.gpr[EMU_RDI] = 0x4004;
	ram_put(0x4004, 0x0000000500000006ull, 8);
	s.gpr[EMU_RAX] = 6;
	s.gpr[EMU_RDX] = 5;
	s.gpr[EMU_RBX] = 0x77;
	s.gpr[EMU_RCX] = 0x88;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xc7, 0x0f), EMU_OK);
	CHECK_STR(info.mnemonic, "cmpxchg8b");
	CHECK(s.rflags & ZF);
	CHECK_EQ(ram_get(0x4004, 8), 0x0000008800000077ull);
	/* register operand: #UD */
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xc7, 0xc8), EMU_FAULT);
	CHECK_EQ(f.vector, EMU_VEC_UD);
}

/* CMPXCHG r/m32, r32 with a register destination, as Intel CPUs do it: on
 * success only the destination is written (zero-extended), on failure only
 * EAX (zero-extended); RAX's upper half survives a success. */
TEST(cmpxchg_register_forms)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RAX] = 0xaaaaaaaa00000007ull;
	s.gpr[EMU_RBX] = 0xbbbbbbbb00000005ull;
	s.gpr[EMU_RCX] = 0xcccccccc00000009ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xb1, 0xcb), EMU_OK); /* cmpxchg ebx, ecx */
	CHECK(!(s.rflags & ZF));
	CHECK_EQ(s.gpr[EMU_RAX], 5);
	CHECK_EQ(s.gpr[EMU_RBX], 0xbbbbbbbb00000005ull);
	s.gpr[EMU_RAX] = 0xaaaaaaaa00000005ull;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xb1, 0xcb), EMU_OK);
	CHECK(s.rflags & ZF);
	CHECK_EQ(s.gpr[EMU_RAX], 0xaaaaaaaa00000005ull);
	CHECK_EQ(s.gpr[EMU_RBX], 9);
}

TEST(unknown_instructions)
{
	static const struct {
		u8 b[4];
		u8 n;
	} cases[] = {
		{ { 0x0f, 0x0b }, 2 },		/* ud2 */
		{ { 0xf4 }, 1 },		/* hlt */
		{ { 0x0f, 0xa2 }, 2 },		/* cpuid */
		{ { 0xf7, 0x23 }, 2 },		/* mul dword [rbx] */
		{ { 0xff, 0x13 }, 2 },		/* call [rbx] */
		{ { 0xc6, 0xf8, 0x00 }, 3 },	/* xabort */
		{ { 0x0f, 0xba, 0x23, 1 }, 4 },	/* 0F BA /4 .. fine, /0 below */
	};
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;
	char msg[200];

	for (unsigned i = 0; i < ARRAY_SIZE(cases) - 1; i++) {
		sim_reset();
		sim_state(&s, GUEST_MODE_LONG64);
		s.gpr[EMU_RBX] = 0x3000;
		CHECK_EQ(sim_run(&s, cases[i].b, cases[i].n, &f, &info), EMU_UNHANDLED);
		CHECK_EQ(s.rip, 0x1000);
		CHECK(info.reason != NULL);
		emu_describe(&s, EMU_UNHANDLED, &f, &info, msg, sizeof(msg));
		CHECK(strstr(msg, "unhandled") != NULL);
		{
			char hex[8];

			snprintf(hex, sizeof(hex), "%02x", cases[i].b[0]);
			CHECK(strstr(msg, hex) != NULL);
		}
	}
	sim_reset();
	sim_state(&s, GUEST_MODE_LONG64);
	s.gpr[EMU_RBX] = 0x3000;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x0f, 0xba, 0x03, 0x01), EMU_UNHANDLED); /* BA /0 */
	emu_describe(&s, EMU_UNHANDLED, &f, &info, msg, sizeof(msg));
	CHECK(strstr(msg, "0f ba 03") != NULL);
	CHECK(strstr(msg, "0008:1000") != NULL);
	/* fault description */
	sim_page(0x3000, 0, PG_NP);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x03), EMU_FAULT);
	emu_describe(&s, EMU_FAULT, &f, &info, msg, sizeof(msg));
	CHECK(strstr(msg, "#PF(0x2) at 0x3000") != NULL);
	CHECK(strstr(msg, "mov") != NULL);
	/* a short buffer: truncated, terminated, full length returned */
	{
		char small[8];
		int n = emu_describe(&s, EMU_FAULT, &f, &info, small, sizeof(small));

		CHECK(n > 7);
		CHECK_EQ(strlen(small), 7);
		CHECK_EQ(emu_describe(&s, EMU_FAULT, &f, &info, small, 0), n);
	}
	/* a bad mode value */
	s.mode = (enum guest_cpu_mode)7;
	CHECK_EQ(emulate_one(&s, &sim_ops, &f, NULL), EMU_UNHANDLED);
}

/* Guest page-table style updates: the write callback sees the new value,
 * and the info names the page written. */
TEST(page_table_write_info)
{
	struct emu_state s;
	struct emu_fault f;
	struct emu_info info;

	sim_reset();
	sim_state(&s, GUEST_MODE_PROT32);
	/* PAE guest writing a 64-bit PTE with cmpxchg8b is above; here the
	 * 32-bit "mov [edi], eax; mov [edi+4], edx" pair and lock or */
	sim_page(0x400000, 0x9000, PG_MAP);
	s.gpr[EMU_RDI] = 0x400ff8;
	s.gpr[EMU_RAX] = 0x12345067;
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0x89, 0x07), EMU_OK);
	CHECK_EQ(info.nmem, 1);
	CHECK_EQ(info.mem[0].linear, 0x400ff8);
	CHECK_EQ(info.mem[0].gpa, 0x9ff8);
	CHECK_EQ(info.mem[0].size, 4);
	CHECK(info.mem[0].write);
	CHECK_EQ(ram_get(0x9ff8, 4), 0x12345067);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x83, 0x0f, 0x20), EMU_OK); /* lock or [edi],0x20 */
	CHECK_EQ(ram_get(0x9ff8, 4), 0x12345067);
	CHECK(info.mem[0].write);
	CHECK_EQ(RUN_INSN(&s, &f, &info, 0xf0, 0x0f, 0xba, 0x37, 0x05), EMU_OK); /* lock btr [edi],5 */
	CHECK_EQ(ram_get(0x9ff8, 4), 0x12345047);
	CHECK(s.rflags & CF);
}

/* ------------------------------------------------------------------------
 * Fuzzer: random instruction bytes (biased towards prefixes and the
 * opcodes the emulator knows) on random state with random translation
 * failures. Properties: no crash or sanitizer report, a valid result, RIP
 * advances by the length on EMU_OK, the state is untouched on failure
 * (except committed REP iterations), callbacks only see in-page accesses.
 */

static unsigned fuzz_translate_fail;

static bool fuzz_translate(void *ctx, u64 la, unsigned acc, u64 *gpa, struct emu_fault *f)
{
	if (acc & ~(unsigned)(EMU_ACC_WRITE | EMU_ACC_USER | EMU_ACC_FETCH))
		sim.bad_access++;
	if (fuzz_translate_fail && rndn(fuzz_translate_fail) == 0) {
		f->vector = EMU_VEC_PF;
		f->has_error = true;
		f->error = acc;
		f->cr2 = la;
		return false;
	}
	switch (rndn(8)) {
	case 0: *gpa = SIM_MMIO | (la & 0xfff); break;
	case 1: *gpa = rnd(); break;
	default: *gpa = la & (SIM_RAM - 1); break;
	}
	return true;
}

static const struct emu_ops fuzz_ops = {
	.translate = fuzz_translate,
	.read_phys = sim_read,
	.write_phys = sim_write,
	.cmpxchg_phys = sim_cmpxchg,
};

static const struct emu_ops fuzz_ops_nocx = {
	.translate = fuzz_translate,
	.read_phys = sim_read,
	.write_phys = sim_write,
};

static u8 fuzz_byte(void)
{
	static const u8 interesting[] = {
		0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x40, 0x48, 0x4f,
		0x0f, 0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
		0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
		0x87, 0xf6, 0xf7, 0xfe, 0xff, 0xb0, 0xb1, 0xb6, 0xb7, 0xbe, 0xbf, 0xc0, 0xc1, 0xc3,
		0xba, 0xbb, 0xb3, 0xab, 0x63, 0x8d, 0x90, 0x1f, 0x04, 0x05, 0x24, 0x25, 0x44, 0x84,
		0x05, 0x0d, 0x00, 0xff,
	};

	return rndn(3) ? interesting[rndn(ARRAY_SIZE(interesting))] : (u8)rnd();
}

static void fuzz_state(struct emu_state *s)
{
	static const enum guest_cpu_mode modes[] = { GUEST_MODE_REAL, GUEST_MODE_PROT16,
						     GUEST_MODE_PROT32, GUEST_MODE_LONG64 };

	flat_state(s, modes[rndn(4)]);
	for (unsigned i = 0; i < 16; i++)
		s->gpr[i] = rndn(2) ? rand_val() : rndn(SIM_RAM);
	if (rndn(4) == 0)
		s->gpr[EMU_RCX] = rndn(3000);
	s->rflags = 0x2 | (rnd() & (EMU_FL_ARITH | EMU_FL_DF | EMU_FL_AC));
	for (unsigned i = 0; i < EMU_NR_SEGS; i++) {
		if (rndn(4) == 0) {
			s->seg[i].attr = (u16)rnd();
			s->seg[i].limit = rndn(2) ? (u32)rnd() : 0xffff;
			s->seg[i].base = rndn(2) ? rnd() : rndn(SIM_RAM);
		}
	}
	s->rip = rndn(8) == 0 ? rnd() : rndn(SIM_RAM);
	s->cpl = (u8)(rndn(4) == 0 ? 3 : 0);
	s->cr0 = rnd();
	s->cr4 = rnd();
}

static u64 rip_advance(const struct emu_state *before, unsigned len)
{
	u64 r = before->rip + len;

	return before->mode == GUEST_MODE_LONG64 ? r : (u32)r;
}

TEST(fuzz)
{
	const unsigned max_iter = 1000000;
	const double max_seconds = 2.5;
	struct timespec t0, t1;
	unsigned counts[5] = { 0 }, iter, bad = 0;
	double secs = 0;

	rng_state = 0x0123456789abcdefull;
	sim_reset();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (iter = 0; iter < max_iter; iter++) {
		struct emu_state s, before;
		struct emu_fault f;
		struct emu_info info;
		enum emu_result r;
		u8 insn[20];

		if ((iter & 1023) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
			if (secs > max_seconds)
				break;
			/* fresh RAM contents now and then */
			for (unsigned i = 0; i < 4096; i++)
				sim.ram[rndn(SIM_RAM)] = (u8)rnd();
		}
		fuzz_state(&s);
		fuzz_translate_fail = rndn(3) ? 0 : 1 + rndn(10);
		for (unsigned i = 0; i < sizeof(insn); i++)
			insn[i] = fuzz_byte();
		/* The bytes at CS:RIP as the fuzz translation will find them:
		 * also place them where rip's low bits point. */
		{
			u64 la = s.mode == GUEST_MODE_LONG64 ? s.rip : (u32)(s.seg[EMU_CS].base + s.rip);
			u64 off = la & (SIM_RAM - 1);

			if (off + sizeof(insn) <= SIM_RAM)
				memcpy(sim.ram + off, insn, sizeof(insn));
		}
		before = s;
		r = emulate_one(&s, rndn(4) ? &fuzz_ops : &fuzz_ops_nocx, &f, &info);
		if ((unsigned)r > EMU_RETRY) {
			bad++;
			continue;
		}
		counts[r]++;
		if (info.nbytes > EMU_MAX_INSN_LEN || info.len > EMU_MAX_INSN_LEN)
			bad++;
		if (r == EMU_OK) {
			if (info.rep_partial) {
				if (s.rip != before.rip || info.iterations != EMU_REP_MAX_ITER)
					bad++;
			} else if (info.len < 1 || s.rip != rip_advance(&before, info.len)) {
				bad++;
			}
		} else if (info.iterations == 0 && !state_eq(&s, &before)) {
			bad++;
		} else if (s.rip != before.rip) {
			bad++;
		}
		if (r == EMU_FAULT) {
			switch (f.vector) {
			case EMU_VEC_UD:
				if (f.has_error)
					bad++;
				break;
			case EMU_VEC_GP:
			case EMU_VEC_SS:
			case EMU_VEC_AC:
				if (!f.has_error || f.error != 0)
					bad++;
				break;
			case EMU_VEC_PF:
				break;
			default:
				bad++;
			}
		}
		if (bad && bad < 5 && unit_current_failed == 0) {
			fprintf(stderr, "fuzz: bad outcome at iteration %u (result %d)\n", iter, r);
			unit_current_failed = 1;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(sim.bad_access, 0);
	/* the fuzzer must reach every outcome, or it is not exploring */
	CHECK(counts[EMU_OK] > iter / 20);
	CHECK(counts[EMU_FAULT] > 0);
	CHECK(counts[EMU_UNHANDLED] > 0);
	CHECK(counts[EMU_IO_ERROR] > 0);
	printf("fuzz: %u instructions in %.2f s (ok %u, fault %u, unhandled %u, io %u, retry %u)\n",
	       iter, secs, counts[0], counts[1], counts[2], counts[3], counts[4]);
}

int main(void)
{
	data = mmap(NULL, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
		    -1, 0);
	code = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	sim.ram = malloc(SIM_RAM);
	if (data == MAP_FAILED || code == MAP_FAILED || !sim.ram) {
		fprintf(stderr, "test_emulate: cannot map test memory\n");
		return 1;
	}
	build_templates();

	RUN(flag_table);
	RUN(addr16_forms);
	RUN(addr16_wrap_and_limit);
	RUN(operand_size_per_mode);
	RUN(inc_dec_short_forms_outside_64);
	RUN(segment_checks_prot32);
	RUN(canonical_checks_long64);
	RUN(rip_relative);
	RUN(rex_rules);
	RUN(page_faults);
	RUN(fetch_faults_and_limits);
	RUN(alignment_check);
	RUN(rep_stos_bounded_and_resumable);
	RUN(rep_movs_fault_midway_then_resume);
	RUN(rep_direction_and_16bit_wrap);
	RUN(repe_cmps_and_repne_scas);
	RUN(mmio_accesses);
	RUN(lock_rules);
	RUN(cmpxchg_wide);
	RUN(cmpxchg_register_forms);
	RUN(unknown_instructions);
	RUN(page_table_write_info);
	RUN(native_lock_uses_cmpxchg);
	RUN(native_long64);
	RUN(native_prot32);
	RUN(native_prot16);
	RUN(native_real);
	printf("emulate: %u differential cases against the CPU (%u raising exceptions), %u templates\n",
	       diff_cases, diff_faults, ntmpls);
	RUN(fuzz);
	return unit_report("emulate");
}
