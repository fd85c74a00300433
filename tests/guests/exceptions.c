/* exceptions: the guest handles its own exceptions. #DE, #UD, #BP, #GP with
 * paging off, then #PF with its own page tables in 32-bit 2-level paging
 * (PSE), PAE (with NX and reserved-bit faults when available) and 4-level
 * long mode. Every expected fault checks vector, error code and (for #PF)
 * CR2; accessed/dirty bits and large-page translations are checked too. */
#include "guest.h"

#define PF_P 0x1
#define PF_W 0x2
#define PF_RSVD 0x8
#define PF_I 0x10
#define NONE 0xffffffffu

static volatile u32 marker = 0x6d61726b;
static bool have_nx;
static u32 maxphy;

/* ---- exceptions with paging off ------------------------------------------ */
static bool fault_is(u32 n, u32 vector, u32 error, u32 eip)
{
	return last_fault.count == n + 1 && last_fault.vector == vector && last_fault.error == error &&
	       last_fault.eip == eip;
}

static void basic_exceptions(void)
{
	u32 n = last_fault.count;
	asm volatile(FAULT_ARM "divl %%ecx" FAULT_DISARM : : "a"(1), "d"(0), "c"(0) : "memory");
	check(fault_is(n, 0, 0, fault_insn), "#DE: divl by zero -> vector %u error %u at the DIV, resumed after it",
	      last_fault.vector, last_fault.error);
	n = last_fault.count;
	asm volatile(FAULT_ARM "idivl %%ecx" FAULT_DISARM : : "a"(0x80000000), "d"(0xffffffff), "c"(-1) : "memory");
	check(fault_is(n, 0, 0, fault_insn), "#DE: idivl INT_MIN / -1 (quotient overflow) -> vector %u",
	      last_fault.vector);
	n = last_fault.count;
	asm volatile(FAULT_ARM "ud2" FAULT_DISARM : : : "memory");
	check(fault_is(n, 6, 0, fault_insn), "#UD: ud2 -> vector %u at the UD2", last_fault.vector);
	n = last_fault.count;
	/* int3 is a trap: the saved EIP is that of the next instruction. */
	asm volatile(FAULT_ARM "int3" FAULT_DISARM : : : "memory");
	check(last_fault.count == n + 1 && last_fault.vector == 3 && last_fault.eip == fault_insn + 1,
	      "#BP: int3 -> vector %u, saved EIP after the INT3", last_fault.vector);
	n = last_fault.count;
	asm volatile(FAULT_ARM "movw %w0, %%fs" FAULT_DISARM : : "r"(0x80) : "memory");
	check(fault_is(n, 13, 0x80, fault_insn), "#GP: load selector 0x80 beyond the GDT -> vector %u error 0x%x",
	      last_fault.vector, last_fault.error);
}

/* ---- paging ---------------------------------------------------------------- */
struct probe {
	const char *what;
	int kind; /* LM_READ, LM_WRITE, LM_EXEC */
	u64 addr, value; /* value read (expected) or written */
	u32 vector, error; /* NONE: no fault expected */
	u32 alt_error; /* also accepted (a known emulator deviation), or NONE */
};

static const char *mode_name[] = { "32-bit", "PAE", "long mode" };

/* Runs probes in 32-bit or PAE mode (paging on). */
static void run32(struct probe *p, u32 n, struct lm_probe *out)
{
	for (u32 i = 0; i < n; i++) {
		u32 c = last_fault.count, v = 0;
		u32 a = (u32)p[i].addr;
		int r = p[i].kind == LM_READ ? probe_read32(a, &v)
			: p[i].kind == LM_WRITE ? probe_write32(a, (u32)p[i].value) : probe_exec(a);
		out[i].value = v;
		out[i].vector = r ? last_fault.vector : NONE;
		out[i].error = r ? last_fault.error : 0;
		out[i].cr2 = r ? last_fault.cr2 : 0;
		if (r && (last_fault.count != c + 1 || last_fault.eip != fault_insn))
			out[i].vector = 0xfe; /* faulted at the wrong place */
	}
}

static void report(enum pg_mode mode, struct probe *p, struct lm_probe *o, u32 n)
{
	for (u32 i = 0; i < n; i++) {
		if (p[i].vector == NONE) {
			bool ok = o[i].vector == NONE && (p[i].kind != LM_READ || (u32)o[i].value == (u32)p[i].value);
			check(ok, "%s: %s 0x%llx: no fault%s (got vector %d, value 0x%x)", mode_name[mode], p[i].what,
			      p[i].addr, p[i].kind == LM_READ ? ", expected value" : "", (int)o[i].vector,
			      (u32)o[i].value);
		} else {
			bool pf = p[i].vector == 14;
			bool alt = o[i].error == p[i].alt_error;
			bool ok = o[i].vector == p[i].vector && (o[i].error == p[i].error || alt) &&
				  (!pf || o[i].cr2 == p[i].addr);
			if (ok && alt)
				printf("  note error code 0x%x instead of 0x%x: P bit missing on a reserved-bit fault "
				       "(QEMU TCG does this; the manuals say 0x%x)\n", o[i].error, p[i].error, p[i].error);
			check(ok, "%s: %s 0x%llx: vector %u error 0x%x%s (got %d 0x%x cr2 0x%llx)", mode_name[mode],
			      p[i].what, p[i].addr, p[i].vector, p[i].error, pf ? " cr2" : "", (int)o[i].vector,
			      o[i].error, o[i].cr2);
		}
	}
}

static void paging_test(enum pg_mode mode, u32 *data, u8 *code)
{
	struct pgt pt;
	struct probe p[16];
	struct lm_probe o[16];
	u32 n = 0;
	bool lm = mode == PG_LM, pae_like = mode != PG_32;
	u64 w = lm ? 0x8000000000ull : 0x40000000; /* the test window */
	u32 big = mode == PG_32 ? PG_4M : PG_2M;

	printf("%s paging: window at 0x%llx\n", mode_name[mode], w);
	pg_init(&pt, mode);
	pg_identity(&pt, 64 << 20);
	pg_map(&pt, w + 0x1000, (u32)data, PG_4K, PTE_P);          /* read-only */
	pg_map(&pt, w + 0x2000, (u32)data, PG_4K, PTE_P | PTE_W);  /* writable alias */
	pg_map(&pt, w + 0x3000, (u32)code, PG_4K, PTE_P | PTE_W);  /* executable */
	pg_map(&pt, w + big, 0, big, PTE_P | PTE_W);               /* large page: phys 0 */
	/* w + 0 stays not present. */

#define PROBE(w_, k_, a_, v_, vec_, err_) p[n++] = (struct probe){ w_, k_, a_, v_, vec_, err_, NONE }
	PROBE("read", LM_READ, w + 0x1010, 0xd0000010, NONE, 0);
	PROBE("read not-present", LM_READ, w + 0x123, 0, 14, 0);
	PROBE("write not-present", LM_WRITE, w + 0x456, 1, 14, PF_W);
	PROBE("write read-only (WP=1)", LM_WRITE, w + 0x1789, 1, 14, PF_P | PF_W);
	PROBE("write", LM_WRITE, w + 0x2020, 0x12345678, NONE, 0);
	PROBE("read via large page", LM_READ, w + big + (u32)&marker, marker, NONE, 0);
	PROBE("exec", LM_EXEC, w + 0x3000, 0, NONE, 0);
	PROBE("read, no page table", LM_READ, lm ? 0x10000000010ull : 0x80000010, 0, 14, 0);
	if (pae_like && have_nx) {
		pg_map(&pt, w + 0x4000, (u32)code, PG_4K, PTE_P | PTE_W | PTE_NX);
		PROBE("exec NX page", LM_EXEC, w + 0x4000, 0, 14, PF_P | PF_I);
		PROBE("exec not-present", LM_EXEC, w, 0, 14, PF_I);
	}
	if (pae_like && maxphy < 52) {
		pg_map(&pt, w + 0x5000, (u32)data | (1ull << maxphy), PG_4K, PTE_P | PTE_W);
		PROBE("read, reserved bit set", LM_READ, w + 0x5000, 0, 14, PF_P | PF_RSVD);
		p[n - 1].alt_error = PF_RSVD;
	}
	if (lm) {
		pg_map(&pt, 0xffff800000001000ull, (u32)data, PG_4K, PTE_P);
		PROBE("read (high half)", LM_READ, 0xffff800000001018ull, 0xd0000018, NONE, 0);
		PROBE("read non-canonical", LM_READ, 0x0000800000000000ull, 0, 13, 0);
	}
#undef PROBE

	for (u32 i = 0; i < n; i++)
		o[i] = (struct lm_probe){ p[i].kind, 0, p[i].addr, p[i].value, NONE, 0, 0 };
	if (lm) {
		lm_run(pt.root, o, n);
		check((u32)lm_unexp.vector == NONE, "long mode: no unexpected exception (vector %d error 0x%llx rip 0x%llx)",
		      (int)lm_unexp.vector, lm_unexp.error, lm_unexp.rip);
	} else {
		pg_enable(&pt);
		run32(p, n, o);
	}
	u64 ro = pg_get(&pt, w + 0x1000), rw = pg_get(&pt, w + 0x2000);
	if (mode == PG_32) {
		/* CR0.WP=0: supervisor writes ignore read-only pages. */
		write_cr0(read_cr0() & ~CR0_WP);
		int r = probe_write32((u32)w + 0x1800, 0xfeedf00d);
		write_cr0(read_cr0() | CR0_WP);
		check(r == 0 && data[0x800 / 4] == 0xfeedf00d, "32-bit: write read-only page with CR0.WP=0 succeeds");
		data[0x800 / 4] = 0xd0000800;
	}
	if (!lm)
		pg_disable();
	report(mode, p, o, n);
	check((ro & PTE_A) && !(ro & PTE_D), "%s: read-only PTE accessed, not dirty (0x%llx)", mode_name[mode], ro);
	check((rw & PTE_A) && (rw & PTE_D), "%s: written PTE accessed and dirty (0x%llx)", mode_name[mode], rw);
	check(data[0x20 / 4] == 0x12345678, "%s: write through alias reached the page (0x%x)", mode_name[mode],
	      data[0x20 / 4]);
	data[0x20 / 4] = 0xd0000020;
}

u32 guest_main(void)
{
	printf("exceptions (%s)\n", argv0);
	basic_exceptions();

	struct cpuid_regs e = cpuid(0x80000000);
	have_nx = e.a >= 0x80000001 && (cpuid(0x80000001).d & (1u << 20));
	bool have_lm = e.a >= 0x80000001 && (cpuid(0x80000001).d & (1u << 29));
	maxphy = e.a >= 0x80000008 ? (cpuid(0x80000008).a & 0xff) : 36;
	printf("NX %s, long mode %s, MAXPHYADDR %u\n", have_nx ? "yes" : "no", have_lm ? "yes" : "no", maxphy);

	u32 *data = page_alloc();
	u8 *code = page_alloc();
	for (u32 i = 0; i < 1024; i++)
		data[i] = 0xd0000000 | (i * 4);
	memcpy(code, probe_exec_code, sizeof(probe_exec_code));

	paging_test(PG_32, data, code);
	if (have_nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	paging_test(PG_PAE, data, code);
	if (have_lm)
		paging_test(PG_LM, data, code);
	else
		check(false, "CPU has long mode");
	return check_result();
}
