/* garbage: writes garbage to the interrupt hardware and checks it is still
 * alive. Values come from a fixed-seed xorshift PRNG mixed with edge
 * patterns (0, all-ones, single bits). Phases:
 *  1. every xAPIC register offset 0x000-0x3F0 (MMIO; ICR low handled in 3),
 *     then random offsets and widths (1/2/4 bytes) anywhere in the page,
 *     REP STOS/MOVS over registers;
 *  2. every IOAPIC register index 0x00-0xFF through IOREGSEL/IOWIN, random
 *     offsets/widths in its page, the EOI register; the PIT runs at 1 kHz
 *     and the UART's THRE interrupt is on meanwhile, so the random
 *     redirection entries fire;
 *  3. every ICR delivery mode x shorthand x destination mode x level/trigger
 *     x destination (self, the other CPUs, absent APIC ids, broadcast) plus
 *     random ICR words, in xAPIC mode and (if CPUID has it) x2APIC mode;
 *  4. every x2APIC MSR 0x800-0x8FF read and written (#GP caught);
 *  5. under Umbra (or option apicbase): IA32_APIC_BASE garbage (reserved
 *     bits, relocation, EXTD without EN), each followed by disable/enable.
 * Interrupts stay disabled throughout (vectors 16-31 from the garbage
 * would look like exceptions); NMIs are counted. Never sent: INIT (assert)
 * or SMI to this CPU, SMI to any existing CPU, and (outside Umbra)
 * IOAPIC delivery modes SMI/reserved/INIT/SIPI, which QEMU may not survive.
 * With more than one CPU, SIPIs carry the vector of a real-mode parking
 * page (own IVT, cli/hlt loop) and the IVT at 0 returns, so started or
 * NMI'd APs stay harmless. At the end the APIC and IOAPIC are restored and
 * checked (version, ID, a self-IPI reaches IRR), "survived" is printed and
 * the result is pass. Options: seed=N, rounds=N (default 3), apicbase. */
#include "pc.h"

static u32 seed = 0x2545f491;
static u32 self_id, ncpus, park_vec, orig_ver, orig_iover;
static bool umbra, weird, trace;
static u8 ioapic_id_saved;
static volatile u32 nmis;
static u32 gps, faults, sent, skipped;

static void nmi_handler(struct frame *f)
{
	(void)f;
	nmis++;
}

static void irq_handler(struct frame *f)
{
	(void)f; /* never with IF=0; here for safety */
}

/* A garbage 32-bit value: random, or an edge pattern. */
static u32 junk(void)
{
	u32 r = prng_next(&seed);
	switch (r & 7) {
	case 0:
		return 0;
	case 1:
		return 0xffffffffu;
	case 2:
		return 1u << (prng_next(&seed) & 31);
	case 3:
		return prng_next(&seed) & 0xff;
	case 4:
		return prng_next(&seed) & 0x1ffff;
	default:
		return prng_next(&seed);
	}
}

/* ---- local APIC restore --------------------------------------------------------- */
static void restore_lapic(void)
{
	if (apic_x2) {
		lapic_write(APIC_SVR, 0x1ff);
		lapic_write(APIC_TPR, 0);
		wrmsr_safe(0x828, 0);
	} else {
		lapic_write(APIC_ID, self_id << 24);
		lapic_write(APIC_DFR, 0xffffffffu);
		lapic_write(APIC_LDR, 1u << 24);
		lapic_write(APIC_SVR, 0x1ff);
		lapic_write(APIC_TPR, 0);
		lapic_write(APIC_ESR, 0);
	}
	static const u32 lvts[] = { APIC_LVT_TIMER, APIC_LVT_THERMAL, APIC_LVT_PERF, APIC_LVT_LINT0, APIC_LVT_LINT1,
				    APIC_LVT_ERROR };
	for (u32 i = 0; i < 6; i++)
		lapic_write(lvts[i], 1u << 16);
	lapic_write(APIC_TMICT, 0);
	lapic_write(APIC_TDCR, 0);
}

/* ---- phase 1: xAPIC MMIO --------------------------------------------------------- */
static void mmio_access(u32 addr, u32 size, bool write, u32 val)
{
	u32 n = last_fault.count, v = val;
	if (write) {
		if (size == 1)
			asm volatile(FAULT_ARM "movb %b1, (%0)" FAULT_DISARM : : "r"(addr), "q"(v) : "memory");
		else if (size == 2)
			asm volatile(FAULT_ARM "movw %w1, (%0)" FAULT_DISARM : : "r"(addr), "r"(v) : "memory");
		else
			asm volatile(FAULT_ARM "movl %1, (%0)" FAULT_DISARM : : "r"(addr), "r"(v) : "memory");
	} else {
		if (size == 1)
			asm volatile(FAULT_ARM "movzbl (%1), %0" FAULT_DISARM : "+r"(v) : "r"(addr) : "memory");
		else if (size == 2)
			asm volatile(FAULT_ARM "movzwl (%1), %0" FAULT_DISARM : "+r"(v) : "r"(addr) : "memory");
		else
			asm volatile(FAULT_ARM "movl (%1), %0" FAULT_DISARM : "+r"(v) : "r"(addr) : "memory");
	}
	faults += last_fault.count != n;
}

static void string_ops(u32 base, u32 off, u32 dwords, bool write)
{
	static u32 buf[64];
	u32 n = last_fault.count, c = dwords, d, s;
	if (write) {
		d = base + off;
		asm volatile(FAULT_ARM "rep stosl" FAULT_DISARM : "+D"(d), "+c"(c) : "a"(junk()) : "memory");
	} else {
		s = base + off;
		d = (u32)buf;
		asm volatile(FAULT_ARM "rep movsl" FAULT_DISARM : "+S"(s), "+D"(d), "+c"(c) : : "memory");
	}
	faults += last_fault.count != n;
}

static void xapic_garbage(u32 rounds)
{
	u32 b = lapic_mmio;
	for (u32 r = 0; r < rounds; r++) {
		for (u32 off = 0; off < 0x400; off += 0x10) {
			(void)mmio_read32(b + off);
			if (off != APIC_ICR)
				mmio_write32(b + off, junk());
			(void)mmio_read32(b + off);
		}
		restore_lapic();
	}
	for (u32 i = 0; i < 512 * rounds; i++) {
		u32 off = prng_next(&seed) & 0xfff, size = 1u << (prng_next(&seed) % 3);
		off &= ~(size - 1) | (prng_next(&seed) & 1 ? 0xfff : 0); /* sometimes misaligned */
		if (off > 0xffc)
			off = 0xffc;
		bool w = prng_next(&seed) & 1;
		if (w && off + 4 > APIC_ICR && off < APIC_ICR + 0x10)
			w = false; /* no stray IPIs: ICR garbage is phase 3 */
		mmio_access(b + off, size, w, junk());
	}
	restore_lapic();
	string_ops(b, 0x380, 32, true); /* TMICT .. 0x3ff */
	string_ops(b, 0x000, 64, false);
	string_ops(b, 0x100, 64, false);
	restore_lapic();
}

/* ---- phase 2: IOAPIC ------------------------------------------------------------- */
static u32 sanitize_rte_lo(u32 v)
{
	u32 mode = (v >> 8) & 7;
	/* SMI, INIT (to the BSP: a reset), and outside Umbra the reserved
	 * modes and SIPI (QEMU's handling is not defined): keep masked. */
	if (mode == 2 || mode == 5 || (!weird && (mode == 3 || mode == 6)) || (weird && mode == 6 && ncpus > 1))
		v |= RTE_MASKED;
	return v;
}

static void ioapic_garbage(u32 rounds)
{
	u32 b = ioapic_base, pins = ((ioapic_read(IOAPIC_REG_VER) >> 16) & 0xff) + 1;
	if (pins > 120)
		pins = 120;
	pit_ch0_periodic(1000);
	outb(0x3f8 + 4, 0x0b);
	outb(0x3f8 + 1, 0x03); /* THRI + RDI */
	for (u32 r = 0; r < rounds; r++) {
		for (u32 idx = 0; idx < 0x100; idx++) {
			mmio_write32(b, idx);
			(void)mmio_read32(b + 0x10);
			u32 v = junk();
			if (idx >= IOAPIC_REG_REDIR && idx < IOAPIC_REG_REDIR + 2 * pins && !(idx & 1))
				v = sanitize_rte_lo(v);
			mmio_write32(b, idx);
			mmio_write32(b + 0x10, v);
			if (!(prng_next(&seed) & 7))
				mmio_write32(b + 0x40, junk()); /* EOI register */
			outb(0x3f8 + 1, 0x01); /* THRI off and on: a THRE interrupt on pin 4 */
			outb(0x3f8 + 1, 0x03);
		}
		mmio_write32(b, junk()); /* IOREGSEL garbage */
		(void)mmio_read32(b + 0x10);
	}
	for (u32 i = 0; i < 256 * rounds; i++) {
		u32 off = prng_next(&seed) & 0xfff, size = 1u << (prng_next(&seed) % 3);
		if (off > 0xffc)
			off = 0xffc;
		bool w = prng_next(&seed) & 1;
		/* A write to IOWIN could hit a redirection entry: only after
		 * selecting a non-RTE register. */
		if (w && off >= 0x10 && off < 0x14) {
			mmio_write32(b, prng_next(&seed) & 0x0f);
			if ((mmio_read32(b) & 0xff) >= IOAPIC_REG_REDIR)
				w = false;
		}
		mmio_access(b + off, size, w, junk());
	}
	string_ops(b, 0, 16, false);
	for (u32 p = 0; p < pins; p++)
		ioapic_rte_set(p, RTE_MASKED);
	for (u32 v = 0; v < 256; v++)
		mmio_write32(b + 0x40, v);
	outb(0x3f8 + 1, 0);
	outb(0x3f8 + 4, 0x03);
	pit_ch0_stop();
	ioapic_write(IOAPIC_REG_ID, (u32)ioapic_id_saved << 24);
}

/* ---- phase 3: ICR ------------------------------------------------------------------ */
static bool reaches_self(u32 sh, bool logical, u32 dest)
{
	if (sh == 1 || sh == 2)
		return true;
	if (sh == 3)
		return false;
	if (!logical)
		return dest == self_id || dest == (apic_x2 ? 0xffffffffu : 0xffu);
	if (apic_x2) {
		u32 ldr = lapic_read(APIC_LDR);
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	return (dest & 0x01) != 0; /* our flat LDR is bit 0 */
}

static bool reaches_existing(u32 sh, bool logical, u32 dest)
{
	if (sh)
		return true;
	if (logical)
		return true;
	return dest < ncpus || dest == (apic_x2 ? 0xffffffffu : 0xffu) || dest == self_id;
}

static void icr_write(u32 lo, u32 dest)
{
	if (apic_x2) {
		gps += wrmsr_safe(0x830, ((u64)dest << 32) | lo) != 0;
	} else {
		lapic_write(APIC_ICR_HI, dest << 24);
		lapic_write(APIC_ICR, lo);
		for (u32 i = 0; i < 100000 && (lapic_read(APIC_ICR) & ICR_BUSY); i++)
			pause();
	}
}

/* Sends LO/DEST unless it is one of the never-sent kinds. */
static void icr_send(u32 lo, u32 dest)
{
	u32 mode = (lo >> 8) & 7, sh = (lo >> 18) & 3;
	bool logical = lo & ICR_LOGICAL;
	bool init_deassert = mode == 5 && (lo & ICR_LEVEL) && !(lo & ICR_ASSERT);
	if ((mode == 5 && !init_deassert && reaches_self(sh, logical, dest)) ||
	    (mode == 2 && reaches_existing(sh, logical, dest))) {
		skipped++;
		return;
	}
	if ((mode == 6 || mode == 5) && ncpus > 1)
		lo = (lo & ~0xffu) | park_vec;
	if (trace)
		printf("  ..   ICR 0x%x dest 0x%x\n", lo, dest);
	icr_write(lo, dest);
	sent++;
	/* QEMU TCG lets an NMI start a CPU that waits for a SIPI (at the
	 * reset vector: the BIOS then resets the machine); outside Umbra an
	 * INIT to other CPUs is followed by the parking SIPI at once. */
	if (mode == 5 && !init_deassert && ncpus > 1 && !weird)
		icr_write((lo & ~0x7ffu) | ICR_STARTUP | park_vec, dest);
}

static void icr_garbage(u32 rounds)
{
	u32 dests[16], nd = 0;
	for (u32 i = 0; i < ncpus && nd < 8; i++)
		dests[nd++] = i;
	dests[nd++] = self_id;
	dests[nd++] = ncpus; /* absent */
	dests[nd++] = 0x0f;
	dests[nd++] = 0x7e;
	dests[nd++] = apic_x2 ? 0xfffffffeu : 0xfeu;
	dests[nd++] = apic_x2 ? 0xffffffffu : 0xffu;
	static const u32 ldests[] = { 0x00, 0x01, 0x02, 0xfe, 0xff, 0x10001, 0xffff0001u };
	for (u32 mode = 0; mode < 8; mode++)
		for (u32 sh = 0; sh < 4; sh++)
			for (u32 lt = 0; lt < 4; lt++) {
				u32 lo = (mode << 8) | (sh << 18) | ((lt & 1) << 14) | ((lt >> 1) << 15) |
					 (prng_next(&seed) & 0xff);
				if (sh) {
					icr_send(lo, junk());
					continue;
				}
				for (u32 d = 0; d < nd; d++)
					icr_send(lo, dests[d]);
				for (u32 d = 0; d < 7; d++)
					icr_send(lo | ICR_LOGICAL, apic_x2 ? ldests[d] : ldests[d] & 0xff);
			}
	for (u32 i = 0; i < 256 * rounds; i++)
		icr_send(junk(), apic_x2 ? junk() : junk() >> 24);
	restore_lapic();
}

/* ---- phase 4: x2APIC MSRs ------------------------------------------------------------ */
static void msr_garbage(u32 rounds)
{
	for (u32 r = 0; r < rounds; r++) {
		for (u32 m = 0x800; m <= 0x8ff; m++) {
			u64 v;
			gps += rdmsr_safe(m, &v) != 0;
			if (m == 0x830)
				continue; /* ICR: phase 3 */
			u64 w = r == 0 ? junk() : ((u64)junk() << 32) | junk();
			gps += wrmsr_safe(m, w) != 0;
		}
		restore_lapic();
	}
}

/* ---- phase 5: IA32_APIC_BASE ----------------------------------------------------------- */
static void apicbase_garbage(u32 rounds)
{
	u64 orig = rdmsr(MSR_APIC_BASE);
	for (u32 i = 0; i < 16 * rounds; i++) {
		u64 v = ((u64)junk() << 32) | junk();
		switch (i & 3) {
		case 0: /* reserved bits: #GP */
			break;
		case 1: /* relocation somewhere above RAM, maybe onto the IOAPIC */
			v = (i & 4 ? 0xfec00000ull : 0xc0000000ull + ((u64)(prng_next(&seed) & 0x3ffff) << 12)) |
			    APIC_BASE_EN | (orig & APIC_BASE_BSP);
			break;
		case 2: /* EXTD without EN, or x2APIC */
			v = (orig & ~0xfffull) | (v & (APIC_BASE_EN | APIC_BASE_EXTD)) | APIC_BASE_EXTD;
			break;
		default: /* disabled */
			v = orig & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD);
			break;
		}
		gps += wrmsr_safe(MSR_APIC_BASE, v) != 0;
		u64 now = rdmsr(MSR_APIC_BASE);
		if ((now & APIC_BASE_EN) && !(now & APIC_BASE_EXTD))
			(void)mmio_read32(((u32)now & 0xfffff000u) + APIC_VER);
		/* Back: through disabled (x2APIC -> xAPIC needs it). */
		wrmsr_safe(MSR_APIC_BASE, orig & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD));
		wrmsr(MSR_APIC_BASE, orig);
	}
	apic_x2 = false;
	lapic_enable_xapic(0xff);
	restore_lapic();
}

u32 guest_main(void)
{
	printf("garbage (%s)\n", argv0);
	seed = opt_u32("seed", seed) | 1;
	u32 rounds = opt_u32("rounds", 3);
	umbra = under_umbra();
	weird = umbra;
	trace = opt_word("trace");
	set_handler(2, nmi_handler);
	for (u32 v = 0x20; v < 0x100; v++)
		set_handler(v, irq_handler);
	pic_disable();
	lapic_enable_xapic(0xff);
	self_id = lapic_id();
	orig_ver = lapic_read(APIC_VER);
	struct madt_info madt;
	madt_parse(&madt);
	if (madt.found && madt.ioapic_addr)
		ioapic_base = madt.ioapic_addr;
	ioapic_id_saved = (u8)((ioapic_read(IOAPIC_REG_ID) >> 24) & 0xf);
	orig_iover = ioapic_read(IOAPIC_REG_VER);
	ncpus = fw_cfg_nb_cpus();
	if (!ncpus)
		ncpus = madt.found ? madt.nr_cpus : 1;
	tsc_calibrate();
	printf("seed 0x%x, %u rounds, %u CPU(s), APIC id %u, version 0x%x, IOAPIC version 0x%x%s\n", seed, rounds,
	       ncpus, self_id, orig_ver, orig_iover & 0xff, umbra ? ", under Umbra" : "");
	if (ncpus > 1) {
		u32 page = lowmem_pick_page(0x8000);
		if (!page) {
			printf("no page for the parking code\n");
			return EXIT_FAIL;
		}
		smp_install_park(page);
		park_vec = page >> 12;
		/* Real-mode IVT at 0 too: an NMI can reach an AP before the
		 * parking code has loaded its own IVT. */
		smp_park_ivt(page, 0);
		/* The APs are in whatever state firmware left them: park them
		 * first (INIT, SIPI, SIPI to all excluding self). */
		lapic_send_ipi(0, ICR_OTHERS | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
		lapic_send_ipi(0, ICR_OTHERS | ICR_INIT | ICR_LEVEL);
		tsc_delay_us(10000);
		for (int i = 0; i < 2; i++) {
			lapic_send_ipi(0, ICR_OTHERS | ICR_STARTUP | park_vec);
			tsc_delay_us(200);
		}
		printf("APs parked at 0x%x (SIPI vector 0x%x): real mode, own IVT, cli/hlt\n", page, park_vec);
	}
	restore_lapic();

	printf("phase 1: xAPIC registers 0x000-0x3f0, random offsets/widths, REP STOS/MOVS\n");
	xapic_garbage(rounds);
	printf("phase 2: IOAPIC registers 0x00-0xff, random offsets/widths, EOI register (PIT and UART on)\n");
	ioapic_garbage(rounds);
	printf("phase 3: ICR combinations (xAPIC)\n");
	icr_garbage(rounds);
	if (x2apic_supported()) {
		printf("phase 3b/4: x2APIC: ICR combinations, MSRs 0x800-0x8ff\n");
		lapic_enable_x2apic(0xff);
		restore_lapic();
		icr_garbage(rounds);
		msr_garbage(rounds);
		u64 b = rdmsr(MSR_APIC_BASE);
		wrmsr(MSR_APIC_BASE, b & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD));
		wrmsr(MSR_APIC_BASE, (b & ~(u64)APIC_BASE_EXTD) | APIC_BASE_EN);
		apic_x2 = false;
		lapic_enable_xapic(0xff);
		restore_lapic();
	} else {
		printf("  skip x2APIC phases (CPUID.1:ECX[21] is 0)\n");
	}
	if (umbra || opt_word("apicbase")) {
		printf("phase 5: IA32_APIC_BASE garbage\n");
		apicbase_garbage(rounds);
	} else {
		printf("  skip IA32_APIC_BASE garbage (QEMU TCG cannot re-enable a disabled APIC; option apicbase)\n");
	}

	printf("sent %u ICR commands (%u never-sent kinds skipped), %u #GP, %u other faults caught, %u NMIs\n", sent,
	       skipped, gps, faults, nmis);
	/* Still alive and working? */
	u32 bad = 0;
	bad += !check(rdmsr(MSR_APIC_BASE) & APIC_BASE_EN, "APIC enabled in xAPIC mode");
	bad += !check(lapic_read(APIC_VER) == orig_ver, "APIC version register unchanged (0x%x)", lapic_read(APIC_VER));
	bad += !check(lapic_id() == self_id, "APIC id %u restored", lapic_id());
	lapic_write(APIC_TPR, 0);
	lapic_send_ipi(0, ICR_SELF | ICR_FIXED | 0xee);
	bad += !check(lapic_vec_bit(APIC_IRR, 0xee), "a self-IPI 0xee reaches IRR");
	bad += !check(ioapic_read(IOAPIC_REG_VER) == orig_iover, "IOAPIC version register unchanged (0x%x)",
		      ioapic_read(IOAPIC_REG_VER));
	printf("survived\n");
	return bad ? EXIT_FAIL : check_result();
}
