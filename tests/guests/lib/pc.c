/* PC platform helpers: local APIC, IOAPIC, 8259s, PIT/TSC, CMOS, fw_cfg,
 * ACPI and MP tables (see pc.h). */
#include "pc.h"

/* ---- local APIC ------------------------------------------------------------------ */
volatile bool apic_x2;
volatile u32 lapic_mmio = XAPIC_DEFAULT_BASE;

u32 lapic_base_from_msr(void) { return (u32)rdmsr(MSR_APIC_BASE) & 0xfffff000u; }

u32 lapic_read(u32 reg)
{
	if (apic_x2)
		return (u32)rdmsr(0x800 + (reg >> 4));
	return mmio_read32(lapic_mmio + reg);
}

void lapic_write(u32 reg, u32 val)
{
	if (apic_x2)
		wrmsr(0x800 + (reg >> 4), val);
	else
		mmio_write32(lapic_mmio + reg, val);
}

u32 lapic_id(void)
{
	u32 v = lapic_read(APIC_ID);
	return apic_x2 ? v : v >> 24;
}

bool lapic_vec_bit(u32 base, u8 vector)
{
	return (lapic_read(base + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}

void lapic_enable_xapic(u8 spurious)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	if (!(b & APIC_BASE_EN))
		wrmsr(MSR_APIC_BASE, b | APIC_BASE_EN);
	apic_x2 = false;
	lapic_mmio = lapic_base_from_msr();
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | spurious);
	lapic_write(APIC_TPR, 0);
}

void lapic_enable_x2apic(u8 spurious)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	if (!(b & APIC_BASE_EN))
		wrmsr(MSR_APIC_BASE, b | APIC_BASE_EN);
	wrmsr(MSR_APIC_BASE, b | APIC_BASE_EN | APIC_BASE_EXTD);
	apic_x2 = true;
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | spurious);
	lapic_write(APIC_TPR, 0);
}

bool lapic_send_ipi(u32 dest, u32 lo)
{
	if (apic_x2) {
		wrmsr(0x830, ((u64)dest << 32) | lo);
		return true;
	}
	lapic_write(APIC_ICR_HI, dest << 24);
	lapic_write(APIC_ICR, lo);
	for (u32 i = 0; i < 1000000; i++) {
		if (!(lapic_read(APIC_ICR) & ICR_BUSY))
			return true;
		pause();
	}
	return false;
}

/* ---- IOAPIC ---------------------------------------------------------------------- */
u32 ioapic_base = IOAPIC_DEFAULT_BASE;

u32 ioapic_read(u32 reg)
{
	mmio_write32(ioapic_base, reg);
	return mmio_read32(ioapic_base + 0x10);
}

void ioapic_write(u32 reg, u32 val)
{
	mmio_write32(ioapic_base, reg);
	mmio_write32(ioapic_base + 0x10, val);
}

u64 ioapic_rte_get(u32 pin)
{
	u32 lo = ioapic_read(IOAPIC_REG_REDIR + 2 * pin);
	u32 hi = ioapic_read(IOAPIC_REG_REDIR + 2 * pin + 1);
	return ((u64)hi << 32) | lo;
}

void ioapic_rte_set(u32 pin, u64 rte)
{
	/* Mask first so a half-written entry never fires. */
	ioapic_write(IOAPIC_REG_REDIR + 2 * pin, RTE_MASKED);
	ioapic_write(IOAPIC_REG_REDIR + 2 * pin + 1, (u32)(rte >> 32));
	ioapic_write(IOAPIC_REG_REDIR + 2 * pin, (u32)rte);
}

/* ---- 8259 pair ------------------------------------------------------------------- */
void pic_init(u8 base_m, u8 base_s)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, base_m); /* ICW2 */
	outb(0xa1, base_s);
	outb(0x21, 0x04); /* ICW3: slave on IRQ 2 */
	outb(0xa1, 0x02); /* ICW3: slave identity 2 */
	outb(0x21, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(0xa1, 0x01);
	pic_set_mask(0xffff);
}

void pic_set_mask(u16 mask)
{
	outb(0x21, (u8)mask);
	outb(0xa1, (u8)(mask >> 8));
}

u16 pic_get_mask(void) { return (u16)(inb(0x21) | (inb(0xa1) << 8)); }

void pic_eoi(u32 irq)
{
	if (irq >= 8)
		outb(0xa0, 0x20);
	outb(0x20, 0x20);
}

u8 pic_read_isr(bool slave)
{
	u16 p = slave ? 0xa0 : 0x20;
	outb(p, 0x0b);
	u8 v = inb(p);
	outb(p, 0x0a);
	return v;
}

u8 pic_read_irr(bool slave)
{
	u16 p = slave ? 0xa0 : 0x20;
	outb(p, 0x0a);
	return inb(p);
}

/* ---- PIT, TSC ------------------------------------------------------------------- */
void pit_ch0_periodic(u32 hz)
{
	u32 c = (PIT_HZ + hz / 2) / hz;
	if (c > 0xffff)
		c = 0xffff;
	if (c < 2)
		c = 2;
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(0x40, (u8)c);
	outb(0x40, (u8)(c >> 8));
}

void pit_ch0_stop(void)
{
	outb(0x43, 0x30); /* channel 0, lobyte/hibyte, mode 0 */
	outb(0x40, 0xff);
	outb(0x40, 0xff);
}

bool pit_ch2_wait(u16 count)
{
	/* As Linux's pit_calibrate_tsc: gate high, speaker off, mode 0. */
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0);
	outb(0x42, (u8)count);
	outb(0x42, (u8)(count >> 8));
	for (u32 i = 0; i < 50000000; i++)
		if (inb(0x61) & 0x20)
			return true;
	return false;
}

u64 tsc_per_ms;

u64 tsc_calibrate(void)
{
	u64 best = ~0ull;
	for (int i = 0; i < 3; i++) {
		u64 t0 = rdtsc_ordered();
		if (!pit_ch2_wait(11932)) /* 10 ms */
			return tsc_per_ms = 0;
		u64 t = rdtsc_ordered() - t0;
		if (t < best)
			best = t;
	}
	tsc_per_ms = udiv64(best, 10, NULL);
	return tsc_per_ms;
}

void tsc_delay_us(u32 us)
{
	u64 per_ms = tsc_per_ms ? tsc_per_ms : 1000000;
	u64 ticks = udiv64(per_ms * us, 1000, NULL);
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < ticks)
		pause();
}

bool wait_count(volatile u32 *counter, u32 want, u32 ms)
{
	u64 t0 = rdtsc(), budget = ms_to_tsc(ms);
	sti();
	while (*counter < want && rdtsc() - t0 < budget)
		pause();
	cli();
	return *counter >= want;
}

/* ---- CMOS ------------------------------------------------------------------------- */
u8 cmos_read(u8 index)
{
	outb(0x70, index & 0x7f);
	return inb(0x71);
}

/* ---- fw_cfg ----------------------------------------------------------------------- */
void fw_cfg_read(u16 key, void *buf, u32 len)
{
	outw(0x510, key);
	for (u32 i = 0; i < len; i++)
		((u8 *)buf)[i] = inb(0x511);
}

bool fw_cfg_present(void)
{
	char sig[4];
	fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
	return !memcmp(sig, "QEMU", 4);
}

u32 fw_cfg_nb_cpus(void)
{
	u16 n = 0;
	if (!fw_cfg_present())
		return 0;
	fw_cfg_read(FW_CFG_NB_CPUS, &n, 2);
	return n;
}

/* ---- checksums, ACPI ---------------------------------------------------------------- */
u8 sum8(const void *p, u32 len)
{
	const u8 *b = p;
	u8 s = 0;
	while (len--)
		s += *b++;
	return s;
}

static u32 ebda_base(void)
{
	u32 seg = peek16(0x40e);
	u32 a = seg << 4;
	/* The EBDA lives just below 640 KiB; anything else is not a BDA value. */
	return a >= 0x80000 && a < 0xa0000 ? a : 0;
}

static struct acpi_rsdp *rsdp_scan(u32 start, u32 end)
{
	for (u32 a = start; a + 20 <= end; a += 16) {
		struct acpi_rsdp *r = (struct acpi_rsdp *)a;
		if (!memcmp(r->sig, "RSD PTR ", 8) && sum8(r, 20) == 0)
			return r;
	}
	return NULL;
}

struct acpi_rsdp *acpi_find_rsdp(void)
{
	u32 e = ebda_base();
	struct acpi_rsdp *r = e ? rsdp_scan(e, e + 1024) : NULL;
	return r ? r : rsdp_scan(0xe0000, 0x100000);
}

struct acpi_hdr *acpi_find_table(const char *sig, u32 n)
{
	struct acpi_rsdp *r = acpi_find_rsdp();
	if (!r)
		return NULL;
	bool x = r->revision >= 2 && r->xsdt && !(r->xsdt >> 32);
	struct acpi_hdr *root = (struct acpi_hdr *)(x ? (u32)r->xsdt : r->rsdt);
	if (!root || root->length < sizeof(*root))
		return NULL;
	u32 esz = x ? 8 : 4, cnt = (root->length - sizeof(*root)) / esz;
	u8 *ents = (u8 *)(root + 1);
	for (u32 i = 0; i < cnt; i++) {
		u64 a = 0;
		memcpy(&a, ents + i * esz, esz);
		if (!a || a >> 32)
			continue;
		struct acpi_hdr *h = (struct acpi_hdr *)(u32)a;
		if (!memcmp(h->sig, sig, 4) && n-- == 0)
			return h;
	}
	/* The DSDT is not in the root table: it hangs off the FADT. */
	if (!memcmp(sig, "DSDT", 4) && n == 0) {
		struct acpi_hdr *f = acpi_find_table("FACP", 0);
		if (!f)
			return NULL;
		u32 d = *(u32 *)((u8 *)f + 40);
		if (f->length >= 148 && *(u64 *)((u8 *)f + 140) && !(*(u64 *)((u8 *)f + 140) >> 32))
			d = (u32) * (u64 *)((u8 *)f + 140);
		return d ? (struct acpi_hdr *)d : NULL;
	}
	return NULL;
}

void madt_parse(struct madt_info *m)
{
	memset(m, 0, sizeof(*m));
	for (u32 i = 0; i < 16; i++)
		m->isa_gsi[i] = i;
	struct acpi_hdr *h = acpi_find_table("APIC", 0);
	if (!h)
		return;
	m->found = true;
	u8 *p = (u8 *)h;
	m->lapic_addr = *(u32 *)(p + 36);
	for (u32 off = 44; off + 2 <= h->length;) {
		u8 type = p[off], len = p[off + 1];
		if (len < 2 || off + len > h->length)
			break;
		u8 *e = p + off;
		if (type == 0 && len >= 8 && (*(u32 *)(e + 4) & 1)) {
			if (m->nr_cpus < MAX_CPUS)
				m->apic_ids[m->nr_cpus] = e[3];
			m->nr_cpus++;
		} else if (type == 9 && len >= 16 && (*(u32 *)(e + 8) & 1)) {
			if (m->nr_cpus < MAX_CPUS)
				m->apic_ids[m->nr_cpus] = *(u32 *)(e + 4);
			m->nr_cpus++;
		} else if (type == 1 && len >= 12) {
			if (m->nr_ioapics++ == 0) {
				m->ioapic_id = e[2];
				m->ioapic_addr = *(u32 *)(e + 4);
				m->ioapic_gsi_base = *(u32 *)(e + 8);
			}
		} else if (type == 2 && len >= 10 && e[2] == 0 && e[3] < 16) {
			m->isa_gsi[e[3]] = *(u32 *)(e + 4);
			m->isa_flags[e[3]] = *(u16 *)(e + 8);
		} else if (type == 5 && len >= 12) {
			m->lapic_addr = *(u32 *)(e + 4); /* 64-bit override (low half) */
		}
		off += len;
	}
}

/* ---- MP table ---------------------------------------------------------------------- */
static struct mp_floating *mp_scan(u32 start, u32 end)
{
	for (u32 a = start; a + 16 <= end; a += 16) {
		struct mp_floating *f = (struct mp_floating *)a;
		if (!memcmp(f->sig, "_MP_", 4) && f->length && sum8(f, f->length * 16u) == 0)
			return f;
	}
	return NULL;
}

struct mp_floating *mp_find_floating(void)
{
	u32 e = ebda_base();
	struct mp_floating *f = e ? mp_scan(e, e + 1024) : NULL;
	u32 basemem = (u32)peek16(0x413) * 1024;
	if (!f && basemem >= 0x80000 && basemem <= 0xa0000)
		f = mp_scan(basemem - 1024, basemem);
	return f ? f : mp_scan(0xf0000, 0x100000);
}

void mp_parse(struct mp_info *m)
{
	memset(m, 0, sizeof(*m));
	struct mp_floating *f = mp_find_floating();
	if (!f)
		return;
	m->found = true;
	if (!f->config || f->features[0]) /* default configurations: not used here */
		return;
	struct mp_config *c = (struct mp_config *)f->config;
	m->table_ok = !memcmp(c->sig, "PCMP", 4) && c->length >= sizeof(*c) && sum8(c, c->length) == 0;
	if (!m->table_ok)
		return;
	u8 *p = (u8 *)(c + 1), *end = (u8 *)c + c->length;
	for (u32 i = 0; i < c->entries && p < end; i++) {
		u32 len = p[0] == 0 ? 20 : 8;
		if (p[0] == 0 && (p[3] & 1)) {
			if (m->nr_cpus < MAX_CPUS)
				m->apic_ids[m->nr_cpus] = p[1];
			if (p[3] & 2)
				m->bsp_id = p[1];
			m->nr_cpus++;
		} else if (p[0] == 2 && (p[3] & 1)) {
			if (m->nr_ioapics++ == 0) {
				m->ioapic_id = p[1];
				m->ioapic_addr = *(u32 *)(p + 4);
			}
		} else if (p[0] > 4) {
			break; /* unknown entry type: its length is unknown */
		}
		p += len;
	}
}

/* ---- misc -------------------------------------------------------------------------- */
spinlock_t print_lock;

int lprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	spin_lock(&print_lock);
	vprintf(fmt, ap);
	spin_unlock(&print_lock);
	va_end(ap);
	return 0;
}

u64 parse_size(const char *s)
{
	u64 v = 0;
	u32 base = 10;
	if (!s)
		return 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		u32 c = (u8)*s | 0x20, d;
		if (*s >= '0' && *s <= '9')
			d = (u32)(*s - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			break;
		v = v * base + d;
	}
	switch (*s | 0x20) {
	case 'k':
		return v << 10;
	case 'm':
		return v << 20;
	case 'g':
		return v << 30;
	default:
		return v;
	}
}
