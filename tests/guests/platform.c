/* platform: the PC around the CPU. fw_cfg (signature, interface ID, CPU
 * count, RAM size); ACPI (RSDP in the EBDA or 0xE0000-0xFFFFF, checksums of
 * the RSDP and every table reachable from the RSDT/XSDT, the FADT's DSDT and
 * FACS; MADT CPUs == fw_cfg, IOAPIC at 0xFEC00000, LAPIC at the APIC base);
 * the MP table (floating pointer, "PCMP" checksum, processors, IOAPIC);
 * the ACPI PM timer rate against PIT channel 2; CMOS/RTC; the 8259s in
 * virtual-wire mode (LINT0 ExtINT) with PIT channel 0 at 1 kHz on vector
 * 0x20, then IRQ 0 masked in the IMR; the IOAPIC (ID, version, redirection
 * entries) routing the PIT (ISA IRQ 0 through the MADT override) to vector
 * 0x40; the UART's THRE interrupt (ISA IRQ 4) through the IOAPIC, edge and
 * level-triggered: remote IRR while in service, redelivery after the EOI
 * broadcast while still asserted, the IOAPIC EOI register (version 0x20).
 * Options: cpus=N, mem=SIZE (exact values fw_cfg and the tables must have;
 * SIZE like 64M), mp-strict (MP processor count must match even outside
 * Umbra; SeaBIOS lists one entry per package). */
#include "pc.h"

#define V_PIC 0x20
#define V_SPUR7 0x27
#define V_IOAPIC_PIT 0x40
#define V_UART_EDGE 0x44
#define V_UART_LEVEL 0x45
#define V_UART_EOIREG 0x46
#define V_SPURIOUS 0xff
#define COM1 0x3f8

static volatile u32 count[256];
static u32 nb_cpus_fw;
static struct madt_info madt;
static bool umbra;

/* ---- fw_cfg -------------------------------------------------------------------------- */
static void fwcfg(void)
{
	char sig[5] = { 0 };
	fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
	if (!check(!memcmp(sig, "QEMU", 4), "fw_cfg signature (key 0) \"%s\" (want \"QEMU\")", sig))
		return;
	u32 id = 0;
	fw_cfg_read(FW_CFG_ID, &id, 4);
	check(id & 1, "fw_cfg ID (key 1) 0x%x has the traditional interface bit", id);
	u16 n = 0;
	fw_cfg_read(FW_CFG_NB_CPUS, &n, 2);
	nb_cpus_fw = n;
	u64 ram = 0;
	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, 8);
	printf("fw_cfg: %u CPUs, RAM size 0x%llx (%llu MiB)\n", n, ram, ram >> 20);
	check(n >= 1, "fw_cfg NB_CPUS (key 5) >= 1");
	if (opt_str("cpus"))
		check(n == opt_u32("cpus", 0), "fw_cfg NB_CPUS %u == cpus=%u", n, opt_u32("cpus", 0));
	if (opt_str("mem"))
		check(ram == parse_size(opt_str("mem")), "fw_cfg RAM size 0x%llx == mem= 0x%llx", ram,
		      parse_size(opt_str("mem")));
	/* The memory map's usable RAM fits in it and is most of it. */
	u64 usable = 0, b, l;
	u32 t;
	for (u32 i = 0; mmap_entry(i, &b, &l, &t); i++)
		if (t == 1)
			usable += l;
	u64 low = ram < 0xc0000000ull ? ram : 0xc0000000ull;
	check(usable <= ram && usable + (16u << 20) >= low,
	      "memory map usable RAM %llu MiB fits fw_cfg's %llu MiB (within 16 MiB)", usable >> 20, ram >> 20);
	u16 m = 0;
	fw_cfg_read(FW_CFG_MAX_CPUS, &m, 2);
	check(m >= n, "fw_cfg MAX_CPUS (key 0xf) %u >= NB_CPUS %u", m, n);
}

/* ---- ACPI ------------------------------------------------------------------------------- */
static bool table_ok(struct acpi_hdr *h, const char *via)
{
	char sig[5] = { 0 };
	memcpy(sig, h->sig, 4);
	bool ok = h->length >= sizeof(*h) && h->length < (1u << 20) && sum8(h, h->length) == 0;
	check(ok, "%s at 0x%x (%s): length %u, checksum valid", sig, (u32)h, via, h->length);
	return ok;
}

static void acpi(void)
{
	struct acpi_rsdp *r = acpi_find_rsdp();
	if (!check(r != NULL, "ACPI RSDP found (EBDA, then 0xE0000-0xFFFFF)"))
		return;
	printf("RSDP at 0x%x: revision %u, RSDT 0x%x, XSDT 0x%llx\n", (u32)r, r->revision, r->rsdt,
	       r->revision >= 2 ? r->xsdt : 0ull);
	check(((u32)r & 15) == 0 && sum8(r, 20) == 0, "RSDP 16-byte aligned, ACPI 1.0 checksum (20 bytes) valid");
	if (r->revision >= 2)
		check(r->length >= 36 && sum8(r, r->length) == 0, "RSDP extended checksum (%u bytes) valid", r->length);
	u32 nt = 0, bad = 0;
	struct acpi_hdr *rsdt = (struct acpi_hdr *)r->rsdt;
	u32 rs_sigs[32];
	u32 nrs = 0;
	if (check(r->rsdt && !memcmp(rsdt->sig, "RSDT", 4), "RSDT at 0x%x", r->rsdt) && table_ok(rsdt, "RSDP")) {
		u32 *e = (u32 *)(rsdt + 1), cnt = (rsdt->length - sizeof(*rsdt)) / 4;
		for (u32 i = 0; i < cnt; i++) {
			struct acpi_hdr *h = (struct acpi_hdr *)e[i];
			bad += !table_ok(h, "RSDT");
			if (nrs < 32)
				memcpy(&rs_sigs[nrs++], h->sig, 4);
			nt++;
		}
	}
	if (r->revision >= 2 && r->xsdt) {
		struct acpi_hdr *x = (struct acpi_hdr *)(u32)r->xsdt;
		if (check(!(r->xsdt >> 32) && !memcmp(x->sig, "XSDT", 4), "XSDT at 0x%llx", r->xsdt) &&
		    table_ok(x, "RSDP")) {
			u32 cnt = (x->length - sizeof(*x)) / 8, same = 0;
			u64 *e = (u64 *)(x + 1);
			for (u32 i = 0; i < cnt; i++) {
				struct acpi_hdr *h = (struct acpi_hdr *)(u32)e[i];
				bad += !table_ok(h, "XSDT");
				for (u32 j = 0; j < nrs; j++)
					if (!memcmp(&rs_sigs[j], h->sig, 4)) {
						same++;
						break;
					}
			}
			check(cnt == nrs && same == cnt, "XSDT lists the same %u tables as the RSDT", cnt);
		}
	}
	check(nt >= 2 && bad == 0, "%u tables in the RSDT, all checksums valid", nt);

	struct acpi_hdr *f = acpi_find_table("FACP", 0);
	if (check(f != NULL, "FADT (FACP) present")) {
		u8 *fb = (u8 *)f;
		struct acpi_hdr *d = acpi_find_table("DSDT", 0);
		if (check(d && !memcmp(d->sig, "DSDT", 4), "DSDT at 0x%x (from the FADT)", (u32)d))
			table_ok(d, "FADT");
		u32 facs = *(u32 *)(fb + 36);
		if (facs)
			check(!memcmp((char *)facs, "FACS", 4), "FACS at 0x%x has its signature", facs);
		u32 pm = *(u32 *)(fb + 76);
		printf("FADT: revision %u, SCI %u, PM1a_CNT 0x%x, PM timer 0x%x, flags 0x%x\n", f->revision,
		       *(u16 *)(fb + 46), *(u32 *)(fb + 64), pm, *(u32 *)(fb + 112));
	}
	madt_parse(&madt);
	if (check(madt.found, "MADT (APIC) present")) {
		printf("MADT: LAPIC 0x%x, %u CPUs, IOAPIC id %u at 0x%x GSI base %u, ISA IRQ 0 -> GSI %u\n",
		       madt.lapic_addr, madt.nr_cpus, madt.ioapic_id, madt.ioapic_addr, madt.ioapic_gsi_base,
		       madt.isa_gsi[0]);
		if (nb_cpus_fw)
			check(madt.nr_cpus == nb_cpus_fw, "MADT enabled CPUs %u == fw_cfg NB_CPUS %u", madt.nr_cpus,
			      nb_cpus_fw);
		if (opt_str("cpus"))
			check(madt.nr_cpus == opt_u32("cpus", 0), "MADT enabled CPUs %u == cpus=%u", madt.nr_cpus,
			      opt_u32("cpus", 0));
		check(madt.lapic_addr == lapic_base_from_msr(), "MADT local APIC address 0x%x == IA32_APIC_BASE's",
		      madt.lapic_addr);
		check(madt.nr_ioapics >= 1 && madt.ioapic_addr == IOAPIC_DEFAULT_BASE,
		      "MADT IOAPIC at 0x%x (want 0xfec00000)", madt.ioapic_addr);
		bool bsp = false;
		for (u32 i = 0; i < madt.nr_cpus && i < MAX_CPUS; i++)
			bsp |= madt.apic_ids[i] == (cpuid(1).b >> 24);
		check(bsp, "MADT lists the boot CPU's APIC id %u", cpuid(1).b >> 24);
	}
}

static void mptable(void)
{
	struct mp_floating *f = mp_find_floating();
	if (!f) {
		printf("  note no MP floating pointer\n");
		return;
	}
	check(sum8(f, f->length * 16u) == 0, "MP floating pointer \"_MP_\" at 0x%x, checksum valid", (u32)f);
	struct mp_info mp;
	mp_parse(&mp);
	if (!f->config) {
		printf("  note MP default configuration %u\n", f->features[0]);
		return;
	}
	check(mp.table_ok, "MP configuration table \"PCMP\" at 0x%x: checksum valid", f->config);
	if (!mp.table_ok)
		return;
	u32 want = nb_cpus_fw ? nb_cpus_fw : madt.nr_cpus;
	if (mp.nr_cpus == want || umbra || opt_word("mp-strict"))
		check(mp.nr_cpus == want, "MP processor entries %u == CPU count %u", mp.nr_cpus, want);
	else
		printf("  note MP table lists %u processors, not %u (SeaBIOS lists one per package)\n", mp.nr_cpus,
		       want);
	check(mp.bsp_id == (cpuid(1).b >> 24), "MP table BSP entry is APIC id %u", mp.bsp_id);
	check(mp.nr_ioapics >= 1 && mp.ioapic_addr == IOAPIC_DEFAULT_BASE, "MP IOAPIC at 0x%x", mp.ioapic_addr);
}

/* ---- PM timer, CMOS ---------------------------------------------------------------------- */
static void pm_timer(void)
{
	struct acpi_hdr *f = acpi_find_table("FACP", 0);
	u32 port = f ? *(u32 *)((u8 *)f + 76) : 0;
	if (!port || port > 0xffff) {
		check(false, "FADT has a PM timer port");
		return;
	}
	bool ext = *(u32 *)((u8 *)f + 112) & (1u << 8);
	u32 mask = ext ? 0xffffffffu : 0xffffff;
	/* Monotonic (mod 2^24 / 2^32): consecutive reads never go back. */
	u32 prev = inl((u16)port) & mask, back = 0, same = 0;
	for (u32 i = 0; i < 2000; i++) {
		u32 v = inl((u16)port) & mask;
		u32 d = (v - prev) & mask;
		back += d > mask / 2;
		same += d == 0;
		prev = v;
	}
	check(back == 0 && same < 2000, "PM timer at port 0x%x (%u-bit) advances monotonically (%u back, %u equal)",
	      port, ext ? 32 : 24, back, same);
	/* Rate against PIT channel 2: 50 ms = 178977 ticks of 3.579545 MHz. */
	u32 best = 0;
	for (int i = 0; i < 3; i++) {
		u32 a = inl((u16)port) & mask;
		bool ok = pit_ch2_wait(59659);
		u32 d = ((inl((u16)port) & mask) - a) & mask;
		if (ok && (!best || d < best))
			best = d;
	}
	check(best >= 161079 && best <= 196875, "PM timer: %u ticks in 50 ms of PIT channel 2 (3.579545 MHz: "
						"178977 +-10%%)", best);
}

static u8 bcd(u8 v, bool binary) { return binary ? v : (u8)((v >> 4) * 10 + (v & 15)); }

static void cmos(void)
{
	u8 a = cmos_read(0x0a), b = cmos_read(0x0b), d = cmos_read(0x0d);
	printf("CMOS: status A 0x%x, B 0x%x, D 0x%x\n", a, b, d);
	check(b != 0xff && (b & 0x80) == 0, "RTC status B readable, SET bit clear (0x%x)", b);
	check(d & 0x80, "RTC status D: valid RAM and time (0x%x)", d);
	bool bin = b & 4;
	u8 s0 = 0;
	u64 t0 = rdtsc();
	while ((cmos_read(0x0a) & 0x80) && rdtsc() - t0 < ms_to_tsc(10))
		pause();
	s0 = cmos_read(0x00);
	u8 mi = cmos_read(0x02), h = cmos_read(0x04);
	bool valid = bin ? s0 < 60 : ((s0 >> 4) <= 5 && (s0 & 15) <= 9);
	check(valid, "RTC seconds 0x%x valid %s (00-59)", s0, bin ? "binary" : "BCD");
	printf("RTC time %02u:%02u:%02u\n", bcd(h & 0x7f, bin), bcd(mi, bin), bcd(s0, bin));
	/* The clock runs: the seconds change within 2.5 s. */
	u8 s = s0;
	t0 = rdtsc();
	while (s == s0 && rdtsc() - t0 < ms_to_tsc(2500)) {
		tsc_delay_us(10000);
		if (!(cmos_read(0x0a) & 0x80))
			s = cmos_read(0x00);
	}
	check(s != s0, "RTC seconds advance (0x%x -> 0x%x)", s0, s);
}

/* ---- interrupt handlers ----------------------------------------------------------------- */
static volatile u8 pic_isr_in_handler;
static volatile u32 uart_phase;
static volatile u8 uart_iir[4];
static volatile u32 uart_rte_irr[4]; /* remote IRR seen, per interrupt */
static volatile u32 eoireg_irr_after;
static u32 uart_gsi;

static void pic_handler(struct frame *f)
{
	count[f->vector]++;
	pic_isr_in_handler = pic_read_isr(false);
	pic_eoi(0);
}

static void spur7_handler(struct frame *f)
{
	/* IRQ 7 with ISR bit 7 clear is the 8259's spurious interrupt: no EOI. */
	count[f->vector]++;
	if (pic_read_isr(false) & 0x80)
		pic_eoi(7);
}

static void ioapic_pit_handler(struct frame *f)
{
	count[f->vector]++;
	lapic_eoi();
}

static void uart_handler(struct frame *f)
{
	u32 n = count[f->vector]++;
	bool irr = ioapic_rte_get(uart_gsi) & RTE_REMOTE_IRR;
	if (n < 4)
		uart_rte_irr[n] = irr;
	if (f->vector == V_UART_LEVEL && n == 0) {
		/* Leave the source asserted: after the EOI the IOAPIC must send
		 * it again. */
		lapic_eoi();
		return;
	}
	u8 iir = inb(COM1 + 2);
	if (n < 4)
		uart_iir[n] = iir;
	if (f->vector == V_UART_EOIREG) {
		ioapic_eoi_reg(V_UART_EOIREG);
		eoireg_irr_after = (ioapic_rte_get(uart_gsi) & RTE_REMOTE_IRR) ? 1 : 0;
	}
	lapic_eoi();
}

static volatile u32 spurious;
static void spurious_handler(struct frame *f)
{
	(void)f;
	spurious++;
}

static void zero_counts(void)
{
	for (u32 i = 0; i < 256; i++)
		count[i] = 0;
}

/* Interrupts on for MS ms; returns the TSC ticks it lasted. */
static u64 irq_window(u32 ms)
{
	u64 t0 = rdtsc(), b = ms_to_tsc(ms);
	sti();
	while (rdtsc() - t0 < b)
		pause();
	cli();
	return rdtsc() - t0;
}

static u32 rate_hz(u32 n, u64 ticks) { return (u32)udiv64((u64)n * tsc_per_ms * 1000, (u32)(ticks ? ticks : 1), NULL); }

/* Edges that come while the previous one is still pending merge, so a
 * busy (emulated) host loses ticks: a low rate is only a note. */
static void rate_note(u32 hz)
{
	if (hz < 500)
		printf("  note %u Hz is well below 1 kHz: ticks lost (host too slow to take them all?)\n", hz);
}

/* ---- 8259 + PIT, virtual wire ------------------------------------------------------------- */
static void pic_test(void)
{
	pic_init(0x20, 0x28);
	check(pic_get_mask() == 0xffff, "8259s initialised (ICW1-4, vectors 0x20/0x28), IMRs read 0xff/0xff");
	outb(0x21, 0xa5);
	check(inb(0x21) == 0xa5, "master IMR reads back 0xa5");
	pic_set_mask(0xffff);
	lapic_enable_xapic(V_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, LVT_DM_EXTINT); /* 0x700: ExtINT, unmasked */
	check(lapic_read(APIC_LVT_LINT0) == 0x700, "LVT LINT0 = 0x700 (ExtINT, virtual wire)");
	pit_ch0_periodic(1000);
	zero_counts();
	pic_set_mask(0xfffe);
	u64 t = irq_window(200);
	u32 n = count[V_PIC], hz = rate_hz(n, t);
	check(n >= 20 && hz <= 1500,
	      "PIT 1 kHz through the 8259 on vector 0x20: %u in 200 ms (%u Hz; want >= 20, <= 1.5 kHz)", n, hz);
	rate_note(hz);
	check(n == 0 || (pic_isr_in_handler & 1), "8259 ISR bit 0 set in the handler (0x%x)", pic_isr_in_handler);
	/* Masked in the IMR: nothing. */
	pic_set_mask(0xffff);
	irq_window(5);
	zero_counts();
	irq_window(100);
	check(count[V_PIC] == 0, "IRQ 0 masked in the IMR: no interrupts in 100 ms (%u)", count[V_PIC]);
	pic_set_mask(0xfffe);
	irq_window(50);
	check(count[V_PIC] > 0, "unmasked again: interrupts resume (%u in 50 ms)", count[V_PIC]);
	pic_set_mask(0xffff);
	irq_window(5);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	printf("8259 spurious IRQ 7: %u\n", count[V_SPUR7]);
}

/* ---- IOAPIC ---------------------------------------------------------------------------- */
static u32 ioapic_pins;

static void ioapic_test(void)
{
	if (madt.found && madt.ioapic_addr)
		ioapic_base = madt.ioapic_addr;
	u32 id = (ioapic_read(IOAPIC_REG_ID) >> 24) & 0xf, ver = ioapic_read(IOAPIC_REG_VER);
	ioapic_pins = ((ver >> 16) & 0xff) + 1;
	printf("IOAPIC at 0x%x: id %u, version 0x%x, %u pins\n", ioapic_base, id, ver & 0xff, ioapic_pins);
	if (madt.found)
		check(id == madt.ioapic_id, "IOAPIC ID register %u == MADT IOAPIC id %u", id, madt.ioapic_id);
	check((ver & 0xff) >= 0x11 && ioapic_pins >= 16 && ioapic_pins <= 240,
	      "IOAPIC version 0x%x (>= 0x11), %u redirection entries (>= 16)", ver & 0xff, ioapic_pins);
	mmio_write32(ioapic_base, IOAPIC_REG_VER);
	check(mmio_read32(ioapic_base) == IOAPIC_REG_VER, "IOREGSEL reads back");
	for (u32 p = 0; p < ioapic_pins; p++)
		ioapic_rte_set(p, RTE_MASKED);
	/* Writable fields read back; delivery status and remote IRR are read-only. */
	u32 pin = 10;
	u64 rte = ((u64)0x0f << 56) | RTE_MASKED | RTE_LEVEL | RTE_ACTIVE_LOW | RTE_LOGICAL | (1u << 8) | 0x4a;
	ioapic_rte_set(pin, rte);
	u64 rb = ioapic_rte_get(pin);
	check((rb & 0xff0000000001afffull) == rte, "RTE %u: wrote 0x%llx, read 0x%llx", pin, rte, rb);
	ioapic_rte_set(pin, RTE_MASKED);

	/* PIT (ISA IRQ 0, GSI from the MADT override) -> vector 0x40. */
	u32 gsi = madt.isa_gsi[0] - madt.ioapic_gsi_base;
	check(madt.isa_gsi[0] == 2, "ISA IRQ 0 is GSI %u (MADT override; PCs wire the PIT to pin 2)",
	      madt.isa_gsi[0]);
	pic_set_mask(0xffff);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	u32 me = lapic_id();
	pit_ch0_periodic(1000);
	zero_counts();
	ioapic_rte_set(gsi, ((u64)me << 56) | V_IOAPIC_PIT);
	u64 t = irq_window(200);
	u32 n = count[V_IOAPIC_PIT], hz = rate_hz(n, t);
	check(n >= 20 && hz <= 1500,
	      "PIT via IOAPIC pin %u on vector 0x40: %u in 200 ms (%u Hz; want >= 20, <= 1.5 kHz)", gsi, n, hz);
	rate_note(hz);
	check(count[V_PIC] == 0, "nothing through the masked 8259 meanwhile (%u)", count[V_PIC]);
	ioapic_rte_set(gsi, RTE_MASKED | V_IOAPIC_PIT);
	irq_window(5);
	zero_counts();
	irq_window(100);
	check(count[V_IOAPIC_PIT] == 0, "pin %u masked: no interrupts in 100 ms (%u)", gsi, count[V_IOAPIC_PIT]);
	pit_ch0_stop();
	irq_window(5);
}

/* ---- UART interrupts through the IOAPIC --------------------------------------------------- */
static void uart_wait_thre(void)
{
	for (u32 i = 0; i < 1000000 && !(inb(COM1 + 5) & 0x20); i++)
		pause();
}

static void uart_test(void)
{
	uart_gsi = madt.isa_gsi[4] - madt.ioapic_gsi_base;
	u32 me = lapic_id();
	printf("UART IRQ 4 -> IOAPIC pin %u\n", uart_gsi);
	uart_wait_thre();

	/* Edge: enabling THRI with THR empty interrupts, so does each byte sent. */
	printf("  ..   UART THRE interrupts, a byte sent with THRI on: ");
	uart_wait_thre();
	zero_counts();
	ioapic_rte_set(uart_gsi, ((u64)me << 56) | V_UART_EDGE);
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 */
	outb(COM1 + 1, 0x02); /* IER: THRI */
	irq_window(20);
	u32 first = count[V_UART_EDGE];
	u8 iir0 = uart_iir[0];
	outb(COM1, '.');
	irq_window(20);
	u32 second = count[V_UART_EDGE] - first;
	outb(COM1 + 1, 0x00);
	irq_window(2);
	ioapic_rte_set(uart_gsi, RTE_MASKED);
	uart_wait_thre();
	printf("\n");
	check(first == 1 && (iir0 & 0x0f) == 0x02, "UART: enabling THRI interrupts on vector 0x44 (%u), IIR 0x%x = THRE",
	      first, iir0);
	check(second == 1, "UART: a byte written interrupts once more when THR empties (%u)", second);

	/* Level-triggered: remote IRR while in service; an EOI with the source
	 * still asserted brings it again; reading IIR ends it. */
	zero_counts();
	uart_rte_irr[0] = uart_rte_irr[1] = 0;
	uart_iir[1] = 0;
	ioapic_rte_set(uart_gsi, ((u64)me << 56) | RTE_LEVEL | V_UART_LEVEL);
	outb(COM1 + 1, 0x02);
	irq_window(20);
	u32 lv = count[V_UART_LEVEL];
	u64 rte_after = ioapic_rte_get(uart_gsi);
	outb(COM1 + 1, 0x00);
	irq_window(2);
	ioapic_rte_set(uart_gsi, RTE_MASKED);
	check(lv == 2, "level-triggered pin: 2 interrupts (EOI while asserted redelivers, IIR read ends it): %u", lv);
	check(uart_rte_irr[0] && uart_rte_irr[1], "remote IRR set while in service (%u, %u)", uart_rte_irr[0],
	      uart_rte_irr[1]);
	check(!(rte_after & RTE_REMOTE_IRR), "remote IRR clear after the EOI broadcast (RTE 0x%llx)", rte_after);
	check((uart_iir[1] & 0x0f) == 0x02, "IIR read in the 2nd interrupt says THRE (0x%x)", uart_iir[1]);

	/* The IOAPIC's own EOI register (version 0x20). */
	u32 ver = ioapic_read(IOAPIC_REG_VER) & 0xff;
	if (ver >= 0x20) {
		zero_counts();
		uart_rte_irr[0] = 0;
		eoireg_irr_after = 2;
		ioapic_rte_set(uart_gsi, ((u64)me << 56) | RTE_LEVEL | V_UART_EOIREG);
		outb(COM1 + 1, 0x02);
		irq_window(20);
		outb(COM1 + 1, 0x00);
		irq_window(2);
		u64 r2 = ioapic_rte_get(uart_gsi);
		ioapic_rte_set(uart_gsi, RTE_MASKED);
		check(count[V_UART_EOIREG] == 1 && uart_rte_irr[0] && eoireg_irr_after == 0,
		      "IOAPIC EOI register clears remote IRR (%u interrupt(s), IRR %u before, %u after)",
		      count[V_UART_EOIREG], uart_rte_irr[0], eoireg_irr_after);
		check(!(r2 & RTE_REMOTE_IRR), "remote IRR still clear after the LAPIC EOI (0x%llx)", r2);
	} else {
		printf("  skip IOAPIC EOI register (version 0x%x < 0x20)\n", ver);
	}
	outb(COM1 + 4, 0x03);
}

u32 guest_main(void)
{
	printf("platform (%s)\n", argv0);
	umbra = under_umbra();
	set_handler(V_PIC, pic_handler);
	set_handler(V_SPUR7, spur7_handler);
	set_handler(V_IOAPIC_PIT, ioapic_pit_handler);
	set_handler(V_UART_EDGE, uart_handler);
	set_handler(V_UART_LEVEL, uart_handler);
	set_handler(V_UART_EOIREG, uart_handler);
	set_handler(V_SPURIOUS, spurious_handler);
	pic_disable();
	lapic_enable_xapic(V_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	if (!check(tsc_calibrate() && tsc_per_ms, "TSC calibrated against PIT channel 2"))
		return check_result();
	printf("TSC %llu ticks/ms\n", tsc_per_ms);
	fwcfg();
	acpi();
	mptable();
	pm_timer();
	cmos();
	pic_test();
	ioapic_test();
	uart_test();
	printf("LAPIC spurious interrupts: %u\n", spurious);
	return check_result();
}
