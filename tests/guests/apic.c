/* apic: local APIC registers through the xAPIC MMIO page (base from
 * IA32_APIC_BASE): ID, version, TPR, PPR, SVR (software enable/disable
 * masks the LVTs), LVT entries, ESR, self-IPIs through the ICR delivered
 * in priority order and held back by TPR, ISR/IRR/PPR while in service,
 * nesting and EOI, read-modify-write instruction forms on an APIC register,
 * the timer in one-shot, periodic and (when CPUID has it) TSC-deadline mode.
 * Then, when CPUID.1:ECX[21] says so, x2APIC mode: the same registers as
 * MSRs, the LDR derived from the ID, SELF IPI, #GP on read-only /
 * write-only / absent registers and on x2APIC -> xAPIC. Last, clearing
 * IA32_APIC_BASE.EN resets the APIC (SVR 0xFF, LVTs masked) and setting it
 * again works in xAPIC mode.
 * Options: relocate (move the xAPIC page to 0xFED00000 and back; QEMU TCG
 * does not support relocation, so it is off unless asked for or under
 * Umbra). */
#include "pc.h"

#define V_SPURIOUS 0xff
#define V_TIMER 0x41
#define LOGN 32

static volatile u32 count[256];
static volatile u32 nlog;
static volatile u8 log_vec[LOGN];
static volatile u8 log_ppr[LOGN];
static volatile bool log_isr[LOGN], log_irr[LOGN];
static volatile u64 log_tsc[LOGN];
static volatile u32 nested_isr_ok; /* inside the nested vector: both in ISR */
static volatile bool nested_mode;
static bool umbra;

static void nested_run(void);

/* An architectural check that plain QEMU TCG gets wrong: strict under Umbra
 * (or with the option "strict"), a note elsewhere. */
static bool strict;
static bool arch_check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool arch_check(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (cond || strict) {
		printf(cond ? "  ok   " : "  FAIL ");
		check_failures += !cond;
	} else {
		printf("  note (strict only under Umbra) ");
	}
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

static void rec_handler(struct frame *f)
{
	u32 v = f->vector;
	u64 t = rdtsc();
	count[v]++;
	u32 n = nlog;
	if (n < LOGN) {
		log_vec[n] = (u8)v;
		log_tsc[n] = t;
		log_ppr[n] = (u8)lapic_read(APIC_PPR);
		log_isr[n] = lapic_vec_bit(APIC_ISR, (u8)v);
		log_irr[n] = lapic_vec_bit(APIC_IRR, (u8)v);
		nlog = n + 1;
	}
	if (nested_mode && v == 0x90)
		nested_run();
	if (nested_mode && v == 0xa0 && lapic_vec_bit(APIC_ISR, 0x90) && lapic_vec_bit(APIC_ISR, 0xa0))
		nested_isr_ok = 1;
	lapic_eoi();
}

static void spurious_handler(struct frame *f)
{
	(void)f;
	count[V_SPURIOUS]++;
}

static void log_reset(void)
{
	nlog = 0;
	for (u32 i = 0; i < 256; i++)
		count[i] = 0;
}

/* Interrupts on for MS milliseconds. */
static void irq_window(u32 ms)
{
	u64 t0 = rdtsc(), b = ms_to_tsc(ms);
	sti();
	while (rdtsc() - t0 < b)
		pause();
	cli();
}

static void self_ipi(u8 vector) { lapic_send_ipi(0, ICR_SELF | ICR_FIXED | vector); }

static bool all_isr_clear(void)
{
	u32 any = 0;
	for (u32 i = 0; i < 8; i++)
		any |= lapic_read(APIC_ISR + i * 0x10);
	return !any;
}

/* ---- basic registers -------------------------------------------------------- */
static u32 xapic_id, version;

static void basics(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);
	printf("IA32_APIC_BASE 0x%llx\n", base);
	check((base & APIC_BASE_EN) && (base & APIC_BASE_BSP), "IA32_APIC_BASE: EN and BSP set");
	check((base & 0xfffff000u) == XAPIC_DEFAULT_BASE, "APIC base address 0x%x (want 0xfee00000)",
	      (u32)base & 0xfffff000u);
	lapic_enable_xapic(V_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	lapic_write(APIC_LVT_LINT1, (1u << 16) | LVT_DM_NMI);
	xapic_id = lapic_id();
	u32 initial = cpuid(1).b >> 24;
	check(xapic_id == initial, "ID register 0x%x: APIC id %u == CPUID.1:EBX[31:24] %u",
	      lapic_read(APIC_ID), xapic_id, initial);
	version = lapic_read(APIC_VER);
	u32 maxlvt = (version >> 16) & 0xff;
	check((version & 0xff) >= 0x10 && (version & 0xff) <= 0x15 && maxlvt >= 4,
	      "version register 0x%x: integrated APIC (0x10-0x15), max LVT %u >= 4", version, maxlvt);

	static const u32 tprs[] = { 0x00, 0x10, 0x5a, 0xff, 0xa5, 0x00 };
	u32 ok = 0;
	for (u32 i = 0; i < 6; i++) {
		lapic_write(APIC_TPR, tprs[i]);
		ok += lapic_read(APIC_TPR) == tprs[i];
	}
	check(ok == 6, "TPR: 6 values read back (%u)", ok);
	lapic_write(APIC_TPR, 0x35);
	u32 ppr = lapic_read(APIC_PPR);
	check(ppr == 0x35, "PPR 0x%x == TPR 0x35 with nothing in service", ppr);
	lapic_write(APIC_TPR, 0);

	lapic_write(APIC_SVR, 0x1e7);
	u32 svr = lapic_read(APIC_SVR);
	check((svr & 0x1ff) == 0x1e7, "SVR: wrote 0x1e7, read 0x%x", svr);
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | V_SPURIOUS);

	/* LVT entries: vector, delivery mode (LINT/perf) and mask read back. */
	struct {
		u32 reg, val;
		const char *name;
	} lvts[] = {
		{ APIC_LVT_TIMER, 0x10041, "timer" },   { APIC_LVT_LINT0, 0x10700, "LINT0" },
		{ APIC_LVT_LINT1, 0x10400, "LINT1" },   { APIC_LVT_ERROR, 0x100fe, "error" },
		{ APIC_LVT_PERF, 0x1004e, "perf" },     { APIC_LVT_THERMAL, 0x1004f, "thermal" },
	};
	u32 nlvt = maxlvt >= 5 ? 6 : 5;
	for (u32 i = 0; i < nlvt; i++) {
		lapic_write(lvts[i].reg, lvts[i].val);
		u32 r = lapic_read(lvts[i].reg) & 0x107ff;
		check(r == lvts[i].val, "LVT %s (0x%x): wrote 0x%x, read 0x%x", lvts[i].name, lvts[i].reg,
		      lvts[i].val, r);
	}
	lapic_write(APIC_LVT_TIMER, 0x00041);
	check(!(lapic_read(APIC_LVT_TIMER) & (1u << 16)), "LVT timer unmasked while software-enabled");

	/* Software disable: every LVT reads masked, unmasking is ignored. */
	lapic_write(APIC_SVR, V_SPURIOUS);
	u32 masked = 0;
	for (u32 i = 0; i < nlvt; i++)
		masked += (lapic_read(lvts[i].reg) >> 16) & 1;
	arch_check(masked == nlvt, "SVR bit 8 clear: all %u LVTs read masked (%u)", nlvt, masked);
	lapic_write(APIC_LVT_TIMER, 0x00041);
	arch_check(lapic_read(APIC_LVT_TIMER) & (1u << 16),
		   "software-disabled: unmasking LVT timer is ignored (0x%x)", lapic_read(APIC_LVT_TIMER));
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | V_SPURIOUS);
	arch_check(lapic_read(APIC_LVT_TIMER) & (1u << 16), "re-enabled: LVT timer stays masked until written");
	lapic_write(APIC_LVT_TIMER, 0x00041);
	check(!(lapic_read(APIC_LVT_TIMER) & (1u << 16)), "re-enabled: LVT timer can be unmasked again");
	lapic_write(APIC_LVT_TIMER, 0x10041);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	lapic_write(APIC_LVT_ERROR, 1u << 16);

	/* ESR: a write latches the errors since the last one; none here. */
	lapic_write(APIC_ESR, 0);
	lapic_write(APIC_ESR, 0);
	u32 esr = lapic_read(APIC_ESR);
	check(esr == 0, "ESR reads 0 after write, write (0x%x)", esr);
	/* A fixed IPI with an illegal vector (< 16) is not delivered and sets
	 * "send illegal vector" (bit 5; the receiver may add bit 6). */
	set_handler(5, rec_handler);
	count[5] = 0;
	self_ipi(0x05);
	irq_window(2);
	lapic_write(APIC_ESR, 0);
	esr = lapic_read(APIC_ESR);
	arch_check(count[5] == 0, "self-IPI with illegal vector 5 not delivered (%u)", count[5]);
	arch_check(esr & 0x20, "self-IPI with illegal vector 5 sets ESR bit 5, send illegal vector (0x%x)", esr);
	set_handler(5, NULL);
	lapic_write(APIC_ESR, 0);
}

/* ---- self-IPIs, priorities, TPR, ISR/EOI ---------------------------------------- */
static void ipis(void)
{
	/* One self-IPI: arrives once, in service while handled. */
	log_reset();
	self_ipi(0x50);
	u32 icr = lapic_read(APIC_ICR);
	check(!(icr & ICR_BUSY) && (icr & 0xff) == 0x50, "ICR reads back vector 0x50, delivery status idle (0x%x)",
	      icr);
	irq_window(5);
	check(count[0x50] == 1, "self-IPI (shorthand self) 0x50 delivered once (%u)", count[0x50]);
	if (nlog >= 1)
		check(log_isr[0] && !log_irr[0] && log_ppr[0] == 0x50,
		      "in the handler: ISR bit set, IRR bit clear, PPR 0x%x == 0x50", log_ppr[0]);
	check(all_isr_clear(), "after EOI: ISR empty");
	check(lapic_read(APIC_PPR) == 0, "after EOI: PPR 0 (0x%x)", lapic_read(APIC_PPR));

	log_reset();
	lapic_send_ipi(xapic_id, ICR_FIXED | 0x51);
	irq_window(5);
	check(count[0x51] == 1, "IPI to own APIC id (physical) 0x51 delivered once (%u)", count[0x51]);

	/* Pending with IF=0: all in IRR, then delivered highest first. */
	log_reset();
	static const u8 vs[4] = { 0x40, 0x80, 0x60, 0x71 };
	for (u32 i = 0; i < 4; i++)
		self_ipi(vs[i]);
	u32 inirr = 0;
	for (u32 i = 0; i < 4; i++)
		inirr += lapic_vec_bit(APIC_IRR, vs[i]);
	check(inirr == 4, "4 self-IPIs with IF=0 wait in IRR (%u)", inirr);
	irq_window(5);
	check(nlog == 4 && log_vec[0] == 0x80 && log_vec[1] == 0x71 && log_vec[2] == 0x60 && log_vec[3] == 0x40,
	      "delivered in priority order: 0x%x 0x%x 0x%x 0x%x (want 0x80 0x71 0x60 0x40)", log_vec[0],
	      log_vec[1], log_vec[2], log_vec[3]);

	/* TPR holds back vectors whose class is not above its class. */
	log_reset();
	lapic_write(APIC_TPR, 0x70);
	self_ipi(0x50);
	self_ipi(0x7f);
	irq_window(10);
	check(count[0x50] == 0 && count[0x7f] == 0, "TPR 0x70: vectors 0x50 and 0x7f held (%u, %u)", count[0x50],
	      count[0x7f]);
	check(lapic_vec_bit(APIC_IRR, 0x50) && lapic_vec_bit(APIC_IRR, 0x7f), "held vectors stay in IRR");
	check(lapic_read(APIC_PPR) == 0x70, "PPR 0x%x == TPR 0x70", lapic_read(APIC_PPR));
	self_ipi(0x80);
	irq_window(5);
	check(count[0x80] == 1 && count[0x7f] == 0, "TPR 0x70: vector 0x80 delivered (%u), 0x7f still held",
	      count[0x80]);
	lapic_write(APIC_TPR, 0x50);
	irq_window(5);
	check(count[0x7f] == 1 && count[0x50] == 0, "TPR 0x50: 0x7f delivered (%u), 0x50 (same class) held (%u)",
	      count[0x7f], count[0x50]);
	lapic_write(APIC_TPR, 0x4f);
	irq_window(5);
	check(count[0x50] == 1, "TPR 0x4f: 0x50 delivered (%u)", count[0x50]);
	lapic_write(APIC_TPR, 0);

	/* Nesting: in the 0x90 handler, self-IPIs 0x60 and 0xa0 with IF=1:
	 * 0xa0 nests (with 0x90 and 0xa0 both in ISR), 0x60 waits for the EOI. */
	log_reset();
	nested_isr_ok = 0;
	nested_mode = true;
	self_ipi(0x90);
	irq_window(10);
	nested_mode = false;
	check(nlog == 3 && log_vec[0] == 0x90 && log_vec[1] == 0xa0 && log_vec[2] == 0x60,
	      "nesting: order 0x%x 0x%x 0x%x (want 0x90 0xa0 0x60)", log_vec[0], log_vec[1], log_vec[2]);
	check(nested_isr_ok, "nesting: 0x90 and 0xa0 both in ISR inside the 0xa0 handler");
	check(nlog >= 2 && log_ppr[1] == 0xa0, "nesting: PPR 0x%x in the nested handler (want 0xa0)", log_ppr[1]);
	check(all_isr_clear(), "nesting: ISR empty after the EOIs");

	/* A stray EOI with nothing in service changes nothing. */
	lapic_eoi();
	check(all_isr_clear() && lapic_read(APIC_PPR) == 0, "EOI with an empty ISR is harmless");
	check(count[V_SPURIOUS] == 0, "no spurious interrupts (%u)", count[V_SPURIOUS]);
}

/* Called from the 0x90 handler (IF=0). */
static void nested_run(void)
{
	self_ipi(0x60);
	self_ipi(0xa0);
	u64 t0 = rdtsc();
	sti();
	while (count[0xa0] == 0 && rdtsc() - t0 < ms_to_tsc(20))
		pause();
	cli();
	/* 0x60 must still be waiting: PPR is 0x90. */
	if (count[0x60])
		printf("  ..   0x60 was delivered inside the 0x90 handler\n");
}

/* ---- instruction forms on an APIC register ------------------------------------- */
static u32 rmw_fail;

static void rmw_check(bool ok, u32 faults, const char *what)
{
	u32 tpr = lapic_read(APIC_TPR);
	if (faults)
		printf("  ..   %s: vector %u at 0x%x\n", what, last_fault.vector, last_fault.eip);
	if (!ok || faults) {
		printf("  ..   %s: wrong result (TPR 0x%x)\n", what, tpr);
		rmw_fail++;
	}
}

#define TPR_IS(v) (lapic_read(APIC_TPR) == (v))

static void rmw_forms(void)
{
	u32 a = lapic_mmio + APIC_TPR, n, r, zf;
	rmw_fail = 0;
	lapic_write(APIC_TPR, 0);
#define ARMED(insn, ...) \
	n = last_fault.count; \
	asm volatile(FAULT_ARM insn FAULT_DISARM __VA_ARGS__); \
	n = last_fault.count - n
	ARMED("movl $0x20, (%0)", : : "r"(a) : "memory");
	rmw_check(TPR_IS(0x20), n, "mov imm32");
	ARMED("orl $0x11, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x31), n, "or imm");
	ARMED("andl $0xf0, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x30), n, "and imm");
	ARMED("xorl $0x0f, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x3f), n, "xor imm");
	ARMED("addl $1, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x40), n, "add imm");
	ARMED("subl $0x10, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x30), n, "sub imm");
	ARMED("incl (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x31), n, "inc");
	ARMED("decl (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x30), n, "dec");
	ARMED("lock orl $0x40, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x70), n, "lock or");
	ARMED("lock andl $0x3f, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x30), n, "lock and");
	ARMED("lock addl $0x10, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x40), n, "lock add");
	ARMED("lock subl $0x8, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x38), n, "lock sub");
	ARMED("lock xorl $0x1, (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x39), n, "lock xor");
	ARMED("lock incl (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x3a), n, "lock inc");
	ARMED("lock decl (%0)", : : "r"(a) : "memory", "cc");
	rmw_check(TPR_IS(0x39), n, "lock dec");
	r = 0x22;
	ARMED("xchgl %1, (%2)", : "=r"(r) : "0"(r), "r"(a) : "memory");
	rmw_check(r == 0x39 && TPR_IS(0x22), n, "xchg");
	r = 0x22;
	u32 c = 0x44;
	ARMED("lock cmpxchgl %2, (%3)\n\tsetz %b1", : "+a"(r), "=q"(zf) : "r"(c), "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 1 && r == 0x22 && TPR_IS(0x44), n, "lock cmpxchg (equal)");
	r = 0x99;
	c = 0x55;
	ARMED("lock cmpxchgl %2, (%3)\n\tsetz %b1", : "+a"(r), "=q"(zf) : "r"(c), "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 0 && r == 0x44 && TPR_IS(0x44), n, "lock cmpxchg (different)");
	ARMED("lock btsl $0, (%1)\n\tsetc %b0", : "=q"(zf) : "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 0 && TPR_IS(0x45), n, "lock bts");
	ARMED("lock btrl $2, (%1)\n\tsetc %b0", : "=q"(zf) : "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 1 && TPR_IS(0x41), n, "lock btr");
	ARMED("lock btcl $7, (%1)\n\tsetc %b0", : "=q"(zf) : "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 0 && TPR_IS(0xc1), n, "lock btc");
	ARMED("testl $0x40, (%1)\n\tsetz %b0", : "=q"(zf) : "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 0, n, "test");
	ARMED("cmpl $0xc1, (%1)\n\tsetz %b0", : "=q"(zf) : "r"(a) : "memory", "cc");
	rmw_check((zf & 0xff) == 1, n, "cmp");
	r = 0x10;
	ARMED("lock xaddl %0, (%1)", : "+r"(r) : "r"(a) : "memory", "cc");
	rmw_check(r == 0xc1 && TPR_IS(0xd1), n, "lock xadd");
	u32 edi = a, eax = 0x12;
	ARMED("stosl", : "+D"(edi) : "a"(eax) : "memory");
	rmw_check(TPR_IS(0x12), n, "stos");
	u32 buf = 0, esi = a;
	edi = (u32)&buf;
	ARMED("movsl", : "+S"(esi), "+D"(edi) : : "memory");
	rmw_check(buf == 0x12, n, "movs (APIC -> RAM)");
	buf = 0x23;
	esi = (u32)&buf;
	edi = a;
	ARMED("movsl", : "+S"(esi), "+D"(edi) : : "memory");
	rmw_check(TPR_IS(0x23), n, "movs (RAM -> APIC)");
	ARMED("movl (%1), %0", : "=r"(r) : "r"(lapic_mmio + APIC_ID) : "memory");
	rmw_check(r >> 24 == xapic_id, n, "mov load (ID)");
#undef ARMED
	lapic_write(APIC_TPR, 0);
	check(rmw_fail == 0, "28 instruction forms on TPR through MMIO (mov, ALU, lock ALU, xchg, cmpxchg, "
			     "bts/btr/btc, test, cmp, xadd, stos, movs): %u wrong", rmw_fail);
}

/* ---- timer ------------------------------------------------------------------------- */
static void timer_stop(void)
{
	lapic_write(APIC_LVT_TIMER, (1u << 16) | V_TIMER);
	lapic_write(APIC_TMICT, 0);
}

static void timer(void)
{
	const u32 cnt = 0x40000; /* ~4 ms at 1 GHz / 16 */
	lapic_write(APIC_TDCR, 0xb);
	u32 d1 = lapic_read(APIC_TDCR);
	lapic_write(APIC_TDCR, 0x3);
	u32 d16 = lapic_read(APIC_TDCR);
	check((d1 & 0xb) == 0xb && (d16 & 0xb) == 0x3, "divide configuration reads back (0x%x, 0x%x)", d1, d16);

	/* One-shot. */
	log_reset();
	lapic_write(APIC_LVT_TIMER, V_TIMER);
	lapic_write(APIC_TMICT, cnt);
	u32 c1 = lapic_read(APIC_TMCCT);
	tsc_delay_us(200);
	u32 c2 = lapic_read(APIC_TMCCT);
	check(lapic_read(APIC_TMICT) == cnt, "initial count reads back 0x%x", lapic_read(APIC_TMICT));
	check(c1 <= cnt && c2 < c1, "one-shot: current count counts down (0x%x, then 0x%x)", c1, c2);
	bool got = wait_count(&count[V_TIMER], 1, 2000);
	check(got, "one-shot: interrupt 0x%x arrived", V_TIMER);
	irq_window(50);
	check(count[V_TIMER] == 1, "one-shot: fired once (%u)", count[V_TIMER]);
	check(lapic_read(APIC_TMCCT) == 0, "one-shot: current count 0 after expiry");

	/* Masked: counts, no interrupt. */
	log_reset();
	lapic_write(APIC_LVT_TIMER, (1u << 16) | V_TIMER);
	lapic_write(APIC_TMICT, cnt);
	irq_window(50);
	check(count[V_TIMER] == 0, "masked one-shot: no interrupt (%u)", count[V_TIMER]);

	/* Periodic. */
	log_reset();
	lapic_write(APIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
	lapic_write(APIC_TMICT, cnt);
	got = wait_count(&count[V_TIMER], 7, 3000);
	lapic_write(APIC_TMICT, 0);
	if (check(got, "periodic: 7 interrupts (%u)", count[V_TIMER])) {
		u64 d[6], s[6];
		for (u32 i = 0; i < 6; i++)
			s[i] = d[i] = log_tsc[i + 1] - log_tsc[i];
		for (u32 i = 1; i < 6; i++)
			for (u32 j = i; j > 0 && s[j - 1] > s[j]; j--) {
				u64 x = s[j];
				s[j] = s[j - 1];
				s[j - 1] = x;
			}
		u64 med = s[3];
		u32 off = 0;
		for (u32 i = 0; i < 6; i++)
			off += (d[i] > med ? d[i] - med : med - d[i]) * 2 > med;
		check(off <= 2, "periodic: intervals within 50%% of their median %llu ticks (%u of 6 off, <= 2)", med,
		      off);
	}
	irq_window(2);
	u32 before = count[V_TIMER];
	irq_window(50);
	check(count[V_TIMER] == before, "periodic: initial count 0 stops it");

	/* TSC-deadline through IA32_TSC_DEADLINE with the xAPIC. */
	if (cpuid(1).c & (1u << 24)) {
		log_reset();
		lapic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | V_TIMER);
		u64 dl = rdtsc() + ms_to_tsc(5);
		wrmsr(MSR_TSC_DEADLINE, dl);
		got = wait_count(&count[V_TIMER], 1, 2000);
		check(got && log_tsc[0] >= dl, "TSC-deadline in xAPIC mode: fired, %lld ticks after the deadline",
		      got ? (long long)(log_tsc[0] - dl) : -1ll);
		wrmsr(MSR_TSC_DEADLINE, 0);
	} else {
		printf("  skip TSC-deadline (CPUID.1:ECX[24] is 0)\n");
	}
	timer_stop();
}

/* ---- relocation -------------------------------------------------------------------- */
static void relocate(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	u32 nb = 0xfed00000u;
	wrmsr(MSR_APIC_BASE, (b & 0xfff) | nb);
	u32 id = mmio_read32(nb + APIC_ID) >> 24;
	mmio_write32(nb + APIC_TPR, 0x20);
	u32 tpr = mmio_read32(nb + APIC_TPR);
	mmio_write32(nb + APIC_TPR, 0);
	wrmsr(MSR_APIC_BASE, b);
	check(id == xapic_id && tpr == 0x20, "relocated to 0x%x: ID %u, TPR 0x%x read there", nb, id, tpr);
	check(lapic_read(APIC_ID) >> 24 == xapic_id, "moved back to 0x%x", (u32)b & 0xfffff000u);
}

/* ---- x2APIC -------------------------------------------------------------------------- */
static bool gp_rd(u32 msr)
{
	u64 v;
	return rdmsr_safe(msr, &v) == -1 && last_fault.vector == 13;
}

static bool gp_wr(u32 msr, u64 v) { return wrmsr_safe(msr, v) == -1 && last_fault.vector == 13; }

static void x2apic(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	wrmsr(MSR_APIC_BASE, b | APIC_BASE_EN | APIC_BASE_EXTD);
	apic_x2 = true;
	check(rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD, "IA32_APIC_BASE.EXTD set: x2APIC mode");
	u32 id = (u32)rdmsr(0x802);
	check(id == xapic_id, "x2APIC ID (MSR 0x802) %u == xAPIC ID %u", id, xapic_id);
	check((u32)rdmsr(0x803) == version, "version (MSR 0x803) 0x%x == xAPIC version 0x%x", (u32)rdmsr(0x803),
	      version);
	u32 ldr = (u32)rdmsr(0x80d), want = ((id >> 4) << 16) | (1u << (id & 0xf));
	check(ldr == want, "LDR (MSR 0x80d) 0x%x derived from the ID (want 0x%x)", ldr, want);
	check(((u32)rdmsr(0x80f) & 0x1ff) == (APIC_SVR_ENABLE | V_SPURIOUS), "SVR kept across the switch (0x%x)",
	      (u32)rdmsr(0x80f));
	wrmsr(0x808, 0x5a);
	check(rdmsr(0x808) == 0x5a && rdmsr(0x80a) == 0x5a, "TPR (MSR 0x808) 0x5a reads back, PPR 0x%x",
	      (u32)rdmsr(0x80a));
	wrmsr(0x808, 0);
	wrmsr(0x828, 0);
	check(rdmsr(0x828) == 0, "ESR (MSR 0x828) reads 0 after a write");

	check(gp_wr(0x802, 5), "wrmsr ID (read-only) raises #GP");
	check(gp_rd(0x80b), "rdmsr EOI (write-only) raises #GP");
	check(gp_wr(0x80b, 1), "wrmsr EOI with a non-zero value raises #GP");
	check(gp_rd(0x80e), "rdmsr DFR (no DFR in x2APIC mode) raises #GP");
	check(gp_rd(0x831), "rdmsr 0x831 (no ICR high half in x2APIC mode) raises #GP");
	check(gp_rd(0x83f), "rdmsr SELF IPI (write-only) raises #GP");
	check(gp_wr(0x808, 0x100), "wrmsr TPR with reserved bits raises #GP");

	log_reset();
	wrmsr(0x83f, 0x52);
	irq_window(5);
	check(count[0x52] == 1, "SELF IPI MSR 0x83f: vector 0x52 delivered once (%u)", count[0x52]);
	wrmsr(0x830, ((u64)id << 32) | 0x53);
	irq_window(5);
	check(count[0x53] == 1, "ICR (MSR 0x830) to own x2APIC id: 0x53 delivered (%u)", count[0x53]);
	wrmsr(0x830, ICR_SELF | 0x54);
	irq_window(5);
	check(count[0x54] == 1, "ICR with the self shorthand: 0x54 delivered (%u)", count[0x54]);
	wrmsr(0x808, 0x60);
	wrmsr(0x83f, 0x55);
	irq_window(5);
	check(count[0x55] == 0, "TPR 0x60 holds 0x55 (%u)", count[0x55]);
	wrmsr(0x808, 0);
	irq_window(5);
	check(count[0x55] == 1, "TPR 0: 0x55 delivered (%u)", count[0x55]);
	check(nlog >= 1 && log_isr[0] && log_ppr[0] == 0x50, "in the handler: ISR bit set, PPR 0x%x (want 0x50)",
	      nlog ? log_ppr[0] : 0);

	/* x2APIC -> xAPIC directly is illegal. */
	check(gp_wr(MSR_APIC_BASE, (b & ~(u64)APIC_BASE_EXTD) | APIC_BASE_EN),
	      "IA32_APIC_BASE x2APIC -> xAPIC (EN=1, EXTD=0) raises #GP");
	check(rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD, "still in x2APIC mode after the refused write");
	/* EXTD without EN is illegal too. */
	check(gp_wr(MSR_APIC_BASE, (b & ~(u64)APIC_BASE_EN) | APIC_BASE_EXTD),
	      "IA32_APIC_BASE EN=0, EXTD=1 raises #GP");
}

/* ---- disable/enable resets -------------------------------------------------------- */
static void reset_test(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	if (!apic_x2) {
		lapic_write(APIC_TPR, 0x20);
		lapic_write(APIC_LVT_TIMER, V_TIMER);
		lapic_write(APIC_LVT_LINT1, LVT_DM_NMI);
	} else {
		wrmsr(0x808, 0x20);
		wrmsr(0x832, V_TIMER);
	}
	int r = wrmsr_safe(MSR_APIC_BASE, b & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD));
	check(r == 0, "IA32_APIC_BASE: clearing EN%s is accepted", apic_x2 ? " and EXTD" : "");
	apic_x2 = false;
	wrmsr(MSR_APIC_BASE, (b & ~(u64)APIC_BASE_EXTD) | APIC_BASE_EN);
	u64 nb = rdmsr(MSR_APIC_BASE);
	if (!(nb & APIC_BASE_EN) && !umbra) {
		printf("  note the APIC did not come back after EN was cleared (QEMU 7.2 TCG: \"if disabled, "
		       "cannot be enabled again\"); reset checks skipped\n");
		return;
	}
	check((nb & APIC_BASE_EN) && !(nb & APIC_BASE_EXTD), "EN set again: xAPIC mode (0x%llx)", nb);
	u32 svr = lapic_read(APIC_SVR), tpr = lapic_read(APIC_TPR);
	check(svr == 0xff, "after the reset SVR reads 0xff (0x%x)", svr);
	check(tpr == 0, "after the reset TPR reads 0 (0x%x)", tpr);
	static const u32 lvts[5] = { APIC_LVT_TIMER, APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR, APIC_LVT_PERF };
	u32 ok = 0;
	for (u32 i = 0; i < 5; i++)
		ok += lapic_read(lvts[i]) == 0x10000;
	check(ok == 5, "after the reset the LVTs read 0x10000 (masked) (%u of 5)", ok);
	check(lapic_id() == xapic_id, "after the reset the ID is %u", lapic_id());
	lapic_enable_xapic(V_SPURIOUS);
	log_reset();
	self_ipi(0x56);
	irq_window(5);
	check(count[0x56] == 1, "re-enabled APIC delivers a self-IPI (%u)", count[0x56]);
}

u32 guest_main(void)
{
	printf("apic (%s)\n", argv0);
	umbra = under_umbra();
	strict = umbra || opt_word("strict");
	for (u32 v = 0x20; v < 0xff; v++)
		set_handler(v, rec_handler);
	set_handler(V_SPURIOUS, spurious_handler);
	pic_disable();
	tsc_calibrate();
	printf("TSC %llu ticks/ms\n", tsc_per_ms);
	basics();
	ipis();
	rmw_forms();
	timer();
	if (umbra || opt_word("relocate"))
		relocate();
	else
		printf("  skip APIC base relocation (QEMU TCG cannot relocate; option relocate)\n");
	if (x2apic_supported())
		x2apic();
	else
		printf("  skip x2APIC checks: CPUID.1:ECX[21] is 0 (QEMU TCG has no x2APIC)\n");
	reset_test();
	return check_result();
}
