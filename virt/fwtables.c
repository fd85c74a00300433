#include "drivers/acpi_tables.h"
#include "lib/string.h"
#include "virt/fwtables.h"

#define OEM_ID "UMBRA "
#define OEM_TABLE_ID "UMBRAVM "
#define CREATOR_ID 0x41424d55 /* "UMBA" */

/* Minimal DSDT AML: Name (\_S5, Package (4) { 5, 5, 0, 0 }) (ACPI 19.6.100,
 * 20.2.5): NameOp, RootChar, NameSeg, PackageOp, PkgLength, NumElements,
 * BytePrefix 5, BytePrefix 5, ZeroOp, ZeroOp. */
static const u8 dsdt_aml[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
			       0x0a, GUEST_S5_SLP_TYP, 0x0a, GUEST_S5_SLP_TYP, 0x00, 0x00 };

static u8 checksum(const void *p, size_t len)
{
	const u8 *b = p;
	u8 sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (u8)-sum;
}

/* The whole area is composed in a buffer, checksummed, then copied. */
static u8 area[0x1000];

static void sdt_header(struct acpi_sdt_header *h, const char *sig, u32 len, u8 rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	h->creator_id = CREATOR_ID;
	h->creator_revision = 1;
	h->checksum = 0;
	h->checksum = checksum(h, len);
}

static void gas_io(struct acpi_gas *g, u16 port, u8 bits)
{
	*g = (struct acpi_gas){ .space_id = 1, .bit_width = bits, .access_size = bits / 8 > 2 ? 3 : bits / 8,
				.address = port };
}

static u32 build_madt(u8 *buf, const struct fw_platform *p)
{
	struct acpi_madt *m = (struct acpi_madt *)buf;
	u32 off = sizeof(*m);
	m->lapic_address = GUEST_LAPIC_ADDR;
	m->flags = 1; /* PCAT_COMPAT: the 8259 pair exists */
	for (u32 i = 0; i < p->nr_cpus; i++) {
		struct madt_lapic *l = (struct madt_lapic *)(buf + off);
		*l = (struct madt_lapic){ { MADT_LAPIC, sizeof(*l) }, (u8)i, (u8)i, MADT_CPU_ENABLED };
		off += sizeof(*l);
	}
	struct madt_ioapic *io = (struct madt_ioapic *)(buf + off);
	*io = (struct madt_ioapic){ { MADT_IOAPIC, sizeof(*io) }, p->ioapic_id, 0, GUEST_IOAPIC_ADDR, 0 };
	off += sizeof(*io);
	/* ISA IRQ 0 (PIT) is wired to IOAPIC pin 2, as on PCs; the SCI is
	 * level-triggered, active high (MPS INTI flags 0xd). */
	struct madt_iso *iso = (struct madt_iso *)(buf + off);
	*iso = (struct madt_iso){ { MADT_ISO, sizeof(*iso) }, 0, 0, 2, 0 };
	off += sizeof(*iso);
	iso = (struct madt_iso *)(buf + off);
	*iso = (struct madt_iso){ { MADT_ISO, sizeof(*iso) }, 0, GUEST_SCI_IRQ, GUEST_SCI_IRQ, 0xd };
	off += sizeof(*iso);
	struct madt_lapic_nmi *nmi = (struct madt_lapic_nmi *)(buf + off);
	*nmi = (struct madt_lapic_nmi){ { MADT_LAPIC_NMI, sizeof(*nmi) }, 0xff, 0, 1 };
	off += sizeof(*nmi);
	sdt_header(&m->hdr, "APIC", off, 3);
	return off;
}

static u32 build_fadt(u8 *buf, u32 dsdt_addr)
{
	struct acpi_fadt *f = (struct acpi_fadt *)buf;
	u32 len = offsetof(struct acpi_fadt, sleep_control_reg); /* revision 4 layout */
	f->dsdt = dsdt_addr;
	f->x_dsdt = dsdt_addr;
	f->sci_int = GUEST_SCI_IRQ;
	f->smi_cmd = 0; /* ACPI mode is always on (SCI_EN reads 1) */
	f->pm1a_evt_blk = GUEST_PM1A_EVT;
	f->pm1a_cnt_blk = GUEST_PM1A_CNT;
	f->pm_tmr_blk = GUEST_PM_TMR;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->pm_tmr_len = 4;
	f->iapc_boot_arch = 0x3; /* legacy devices, 8042 */
	f->flags = BIT(0) | BIT(4); /* WBINVD, PWR_BUTTON (no fixed button) */
	gas_io(&f->x_pm1a_evt_blk, GUEST_PM1A_EVT, 32);
	gas_io(&f->x_pm1a_cnt_blk, GUEST_PM1A_CNT, 16);
	gas_io(&f->x_pm_tmr_blk, GUEST_PM_TMR, 32);
	sdt_header(&f->hdr, "FACP", len, 4);
	return len;
}

/* MP spec 1.4, 4.1-4.3: floating pointer and configuration table. */
struct mp_floating {
	char sig[4];
	u32 config;
	u8 length; /* in 16-byte units */
	u8 spec_rev;
	u8 checksum;
	u8 features[5];
} __packed;
_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer");

struct mp_config {
	char sig[4];
	u16 length;
	u8 spec_rev;
	u8 checksum;
	char oem[8];
	char product[12];
	u32 oem_table;
	u16 oem_size;
	u16 entries;
	u32 lapic;
	u16 ext_length;
	u8 ext_checksum;
	u8 reserved;
} __packed;
_Static_assert(sizeof(struct mp_config) == 44, "MP config header");

struct mp_cpu {
	u8 type, apic_id, apic_ver, flags;
	u32 signature, features;
	u32 reserved[2];
} __packed;
_Static_assert(sizeof(struct mp_cpu) == 20, "MP processor entry");

struct mp_bus {
	u8 type, id;
	char name[6];
} __packed;

struct mp_ioapic {
	u8 type, id, ver, flags;
	u32 addr;
} __packed;

struct mp_intsrc { /* I/O (type 3) and local (type 4) interrupt assignments */
	u8 type, irq_type;
	u16 flags;
	u8 src_bus, src_irq, dst_apic, dst_pin;
} __packed;
_Static_assert(sizeof(struct mp_intsrc) == 8, "MP interrupt entry");

static u32 build_mp_config(u8 *buf, const struct fw_platform *p)
{
	struct mp_config *c = (struct mp_config *)buf;
	u32 off = sizeof(*c);
	u16 n = 0;
	for (u32 i = 0; i < p->nr_cpus; i++, n++) {
		struct mp_cpu *e = (struct mp_cpu *)(buf + off);
		*e = (struct mp_cpu){ 0, (u8)i, 0x14, (u8)(1 | (i == 0 ? 2 : 0)), 0x600, 0x201, { 0, 0 } };
		off += sizeof(*e);
	}
	struct mp_bus *bus = (struct mp_bus *)(buf + off);
	*bus = (struct mp_bus){ 1, 0, { 'I', 'S', 'A', ' ', ' ', ' ' } };
	off += sizeof(*bus);
	n++;
	struct mp_ioapic *io = (struct mp_ioapic *)(buf + off);
	*io = (struct mp_ioapic){ 2, p->ioapic_id, 0x11, 1, GUEST_IOAPIC_ADDR };
	off += sizeof(*io);
	n++;
	for (u8 irq = 0; irq < 16; irq++, n++) {
		struct mp_intsrc *e = (struct mp_intsrc *)(buf + off);
		u8 pin = irq == 0 ? 2 : irq;
		*e = (struct mp_intsrc){ 3, 0, 0, 0, irq, p->ioapic_id, pin };
		off += sizeof(*e);
	}
	/* LINT0: ExtINT from the 8259 (type 3), LINT1: NMI (type 1), all CPUs. */
	struct mp_intsrc *l0 = (struct mp_intsrc *)(buf + off);
	*l0 = (struct mp_intsrc){ 4, 3, 0, 0, 0, 0xff, 0 };
	off += sizeof(*l0);
	struct mp_intsrc *l1 = (struct mp_intsrc *)(buf + off);
	*l1 = (struct mp_intsrc){ 4, 1, 0, 0, 0, 0xff, 1 };
	off += sizeof(*l1);
	n += 2;
	memcpy(c->sig, "PCMP", 4);
	c->length = (u16)off;
	c->spec_rev = 4;
	memcpy(c->oem, "UMBRA   ", 8);
	memcpy(c->product, "UMBRA VM    ", 12);
	c->entries = n;
	c->lapic = GUEST_LAPIC_ADDR;
	c->checksum = checksum(c, off);
	return off;
}

bool fwtables_build(const struct gpa_access *mem, const struct fw_platform *p)
{
	if (!p->nr_cpus || p->nr_cpus > 64)
		return false;
	/* ACPI tables at FW_TABLES_BASE. */
	memset(area, 0, sizeof(area));
	u32 off = 0;
	u32 dsdt = off;
	memcpy(area + sizeof(struct acpi_sdt_header), dsdt_aml, sizeof(dsdt_aml));
	sdt_header((struct acpi_sdt_header *)area, "DSDT",
		   sizeof(struct acpi_sdt_header) + sizeof(dsdt_aml), 2);
	off = ALIGN_UP(off + ((struct acpi_sdt_header *)area)->length, 16);
	u32 fadt = off;
	off = ALIGN_UP(off + build_fadt(area + off, FW_TABLES_BASE + dsdt), 16);
	u32 madt = off;
	off = ALIGN_UP(off + build_madt(area + off, p), 16);
	u32 rsdt = off;
	u32 *rsdt_entries = (u32 *)(area + off + sizeof(struct acpi_sdt_header));
	rsdt_entries[0] = FW_TABLES_BASE + fadt;
	rsdt_entries[1] = FW_TABLES_BASE + madt;
	sdt_header((struct acpi_sdt_header *)(area + off), "RSDT",
		   sizeof(struct acpi_sdt_header) + 8, 1);
	off = ALIGN_UP(off + sizeof(struct acpi_sdt_header) + 8, 16);
	u32 xsdt = off;
	u64 x[2] = { FW_TABLES_BASE + fadt, FW_TABLES_BASE + madt };
	memcpy(area + off + sizeof(struct acpi_sdt_header), x, sizeof(x));
	sdt_header((struct acpi_sdt_header *)(area + off), "XSDT",
		   sizeof(struct acpi_sdt_header) + sizeof(x), 1);
	off += sizeof(struct acpi_sdt_header) + sizeof(x);
	if (!mem->write(mem->ctx, FW_TABLES_BASE, area, off))
		return false;

	/* RSDP (ACPI 2.0 form) and the MP table in the 0xF0000 page. */
	memset(area, 0, sizeof(area));
	struct acpi_rsdp *r = (struct acpi_rsdp *)area;
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, OEM_ID, 6);
	r->revision = 2;
	r->rsdt_address = FW_TABLES_BASE + rsdt;
	r->length = sizeof(*r);
	r->xsdt_address = FW_TABLES_BASE + xsdt;
	r->checksum = checksum(r, 20);
	r->extended_checksum = checksum(r, sizeof(*r));
	struct mp_floating *mpf = (struct mp_floating *)(area + (FW_MP_FLOATING - FW_RSDP_ADDR));
	memcpy(mpf->sig, "_MP_", 4);
	mpf->config = FW_MP_CONFIG;
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	u32 mp_len = build_mp_config(area + (FW_MP_CONFIG - FW_RSDP_ADDR), p);
	return mem->write(mem->ctx, FW_RSDP_ADDR, area, (FW_MP_CONFIG - FW_RSDP_ADDR) + mp_len);
}
