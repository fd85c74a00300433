/*
 * ACPI static table parser. Section numbers refer to the ACPI 6.5
 * specification unless noted. All firmware memory is reached through a
 * struct phys_reader and every offset is checked against the length that was
 * actually mapped, so malformed tables produce warnings, never faults.
 */
#include "drivers/acpi.h"
#include "drivers/acpi_tables.h"
#include "kernel/log.h"
#include "lib/string.h"



/* AML encodings used by the \_S5 scan (20.2). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_PACKAGE_OP 0x12
#define AML_ROOT_CHAR 0x5c
#define AML_ONES_OP 0xff

/* Real systems have well under a hundred tables; this bounds the work a
 * corrupt root table can cause. */
#define ACPI_MAX_ROOT_ENTRIES 1024u
/* SSDTs remembered during the root walk for the \_S5 fallback search. */
#define ACPI_MAX_SSDTS 32
/* Only this many warnings are printed; all are counted. */
#define ACPI_WARN_LOG_MAX 32

/* ---- helpers --------------------------------------------------------------- */

#define acpi_warn(a, fmt, ...)                                                \
	do {                                                                  \
		if (++(a)->warnings <= ACPI_WARN_LOG_MAX)                     \
			log_warn("acpi: " fmt, ##__VA_ARGS__);                \
		else if ((a)->warnings == ACPI_WARN_LOG_MAX + 1)              \
			log_warn("acpi: further warnings not shown");         \
	} while (0)

/* The casts for printing u64 values with %llx on every target. */
#define ULL(x) ((unsigned long long)(x))

static u16 rd16(const u8 *p)
{
	u16 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static u32 rd32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static u8 checksum(const u8 *p, size_t len)
{
	u8 sum = 0;
	while (len--)
		sum += *p++;
	return sum;
}

/* Copies n firmware chars into a C string, with '?' for non-printables. */
static void copy_printable(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	dst[n] = '\0';
}

static void record_table(struct acpi_info *out, const char *sig)
{
	if (out->table_count >= ACPI_MAX_TABLES) {
		out->tables_omitted++;
		return;
	}
	copy_printable(out->tables[out->table_count++], sig, 4);
}

/*
 * Maps the table at pa after checking its header (5.2.6): the signature if
 * expect is given, and a length between the header size and
 * ACPI_MAX_TABLE_LEN. A bad checksum is only a warning: real firmware ships
 * such tables and the length check already keeps us in bounds.
 */
static const u8 *table_map(const struct phys_reader *r, paddr_t pa,
			   const char *expect, struct acpi_info *out, u32 *len)
{
	const struct acpi_sdt_header *h = phys_read_map(r, pa, SDT_HDR_LEN);
	char sig[5];

	if (!h) {
		acpi_warn(out, "%s table at 0x%llx is not readable",
			  expect ? expect : "a", ULL(pa));
		return NULL;
	}
	copy_printable(sig, h->signature, 4);
	u32 n = h->length;
	if (expect && memcmp(h->signature, expect, 4) != 0) {
		acpi_warn(out, "expected %s at 0x%llx, found '%s'", expect,
			  ULL(pa), sig);
		return NULL;
	}
	if (n < SDT_HDR_LEN || n > ACPI_MAX_TABLE_LEN) {
		acpi_warn(out, "%s at 0x%llx has bad length %u; ignored", sig,
			  ULL(pa), n);
		return NULL;
	}
	const u8 *t = phys_read_map(r, pa, n);
	if (!t) {
		acpi_warn(out, "%s at 0x%llx (%u bytes) is not readable", sig,
			  ULL(pa), n);
		return NULL;
	}
	if (checksum(t, n) != 0)
		acpi_warn(out, "%s at 0x%llx has a bad checksum; using it anyway",
			  sig, ULL(pa));
	*len = n;
	return t;
}

/* ---- RSDP ------------------------------------------------------------------ */

/* What we keep of a validated RSDP, so its mapping can be dropped. */
struct rsdp_fields {
	u8 revision;
	char oem_id[6];
	u32 rsdt;
	u64 xsdt;
};

/*
 * Checks an RSDP image of len readable bytes (5.2.5.3): signature, the
 * ACPI 1.0 checksum over 20 bytes and, for revision >= 2, the length and the
 * extended checksum. A revision 2 RSDP cut to 20 bytes is accepted as a 1.0
 * one: GRUB's multiboot2 "old ACPI" tag copies 20 bytes, and on UEFI the
 * ACPI 1.0 table may be a revision 2 RSDP. Returns NULL when valid, else
 * the reason.
 */
static const char *rsdp_check(const u8 *p, size_t len)
{
	const struct acpi_rsdp *rs = (const void *)p;

	if (!p || len < ACPI_RSDP_V1_LEN)
		return "too short";
	if (memcmp(rs->signature, "RSD PTR ", 8) != 0)
		return "bad signature";
	if (checksum(p, ACPI_RSDP_V1_LEN) != 0)
		return "bad checksum";
	if (rs->revision < 2 || len == ACPI_RSDP_V1_LEN)
		return NULL;
	if (len < sizeof(*rs))
		return "too short for revision 2";
	if (rs->length < sizeof(*rs) || rs->length > len)
		return "bad length";
	if (checksum(p, rs->length) != 0)
		return "bad extended checksum";
	return NULL;
}

/* Call only after rsdp_check() succeeded on the same bytes. */
static void rsdp_extract(const u8 *p, size_t len, struct rsdp_fields *f)
{
	const struct acpi_rsdp *rs = (const void *)p;

	f->revision = rs->revision;
	memcpy(f->oem_id, rs->oem_id, sizeof(f->oem_id));
	f->rsdt = rs->rsdt_address;
	f->xsdt = rs->revision >= 2 && len >= sizeof(*rs) ? rs->xsdt_address : 0;
}

/*
 * Maps an RSDP candidate at pa with as many bytes as its revision says it
 * has; an out-of-range length maps 36 bytes so rsdp_check() reports it.
 */
static const u8 *rsdp_map(const struct phys_reader *r, paddr_t pa, size_t *len)
{
	const struct acpi_rsdp *rs = phys_read_map(r, pa, ACPI_RSDP_V1_LEN);

	*len = ACPI_RSDP_V1_LEN;
	if (!rs || rs->revision < 2)
		return (const u8 *)rs;
	rs = phys_read_map(r, pa, sizeof(*rs));
	if (!rs)
		return NULL;
	*len = sizeof(*rs);
	u32 n = rs->length;
	if (n <= sizeof(*rs) || n > ACPI_RSDP_MAX_LEN)
		return (const u8 *)rs;
	*len = n;
	return phys_read_map(r, pa, n);
}

/* Scans candidates starting in [start, end) on 16-byte boundaries
 * (5.2.5.1); a candidate may extend past end, as the reader bounds it. */
static bool rsdp_scan(const struct phys_reader *r, paddr_t start, paddr_t end,
		      paddr_t *found)
{
	for (paddr_t pa = ALIGN_UP(start, 16); pa < end; pa += 16) {
		const u8 *p = phys_read_map(r, pa, 8);
		if (!p || memcmp(p, "RSD PTR ", 8) != 0)
			continue;
		size_t len;
		p = rsdp_map(r, pa, &len);
		const char *why = rsdp_check(p, len);
		if (why) {
			log_warn("acpi: RSDP candidate at 0x%llx skipped: %s",
				 ULL(pa), why);
			continue;
		}
		*found = pa;
		return true;
	}
	return false;
}

bool acpi_find_rsdp_legacy(const struct phys_reader *r, paddr_t *rsdp_pa)
{
	const u8 *p = phys_read_map(r, BDA_EBDA_SEGMENT, 2);

	if (p) {
		paddr_t ebda = (paddr_t)rd16(p) << 4;
		/* A real EBDA sits above the BDA and below 640 KiB. */
		if (ebda >= 0x500 && ebda < 0xa0000 &&
		    rsdp_scan(r, ebda, MIN(ebda + EBDA_SEARCH_LEN, 0xa0000ull),
			      rsdp_pa))
			return true;
	}
	return rsdp_scan(r, BIOS_AREA_START, BIOS_AREA_END, rsdp_pa);
}

/* ---- MADT ------------------------------------------------------------------ */

static void madt_add_cpu(struct acpi_info *out, u32 apic_id, u32 uid,
			 u32 flags, bool x2apic, u8 madt_rev)
{
	bool enabled = flags & MADT_CPU_ENABLED;
	/* The bit was reserved before MADT revision 5 (ACPI 6.3, Table 5.23);
	 * when Enabled is set, Online Capable must be clear. */
	bool online = !enabled && madt_rev >= MADT_ONLINE_CAPABLE_REV &&
		      (flags & MADT_CPU_ONLINE_CAPABLE);

	if (!enabled && !online)
		return;
	if (apic_id == (x2apic ? 0xffffffffu : 0xffu)) {
		acpi_warn(out, "MADT: usable CPU uid %u has the broadcast APIC ID; skipped",
			  uid);
		return;
	}
	for (u32 i = 0; i < out->cpu_count; i++) {
		if (out->cpus[i].apic_id == apic_id) {
			acpi_warn(out, "MADT: duplicate APIC ID %u (uid %u); keeping the first",
				  apic_id, uid);
			return;
		}
	}
	if (out->cpu_count >= ACPI_MAX_CPUS) {
		if (out->cpus_dropped++ == 0)
			acpi_warn(out, "MADT: more than %d CPUs; ignoring the rest",
				  ACPI_MAX_CPUS);
		return;
	}
	struct acpi_cpu *c = &out->cpus[out->cpu_count++];
	c->apic_id = apic_id;
	c->acpi_uid = uid;
	c->enabled = enabled;
	c->online_capable = online;
	c->x2apic = x2apic;
}

static void madt_add_ioapic(struct acpi_info *out, const struct madt_ioapic *e)
{
	if (out->ioapic_count >= ACPI_MAX_IOAPICS) {
		acpi_warn(out, "MADT: more than %d IOAPICs; id %u ignored",
			  ACPI_MAX_IOAPICS, e->id);
		return;
	}
	struct acpi_ioapic *io = &out->ioapics[out->ioapic_count++];
	io->id = e->id;
	io->address = e->address;
	io->gsi_base = e->gsi_base;
}

static void madt_add_iso(struct acpi_info *out, const struct madt_iso *e)
{
	if (out->iso_count >= ACPI_MAX_ISOS) {
		acpi_warn(out, "MADT: more than %d interrupt overrides; IRQ %u ignored",
			  ACPI_MAX_ISOS, e->source);
		return;
	}
	struct acpi_iso *iso = &out->isos[out->iso_count++];
	iso->bus = e->bus;
	iso->source_irq = e->source;
	iso->gsi = e->gsi;
	iso->flags = e->flags;
}

static void madt_add_nmi(struct acpi_info *out, u32 uid, u16 flags, u8 lint)
{
	if (lint > 1)
		acpi_warn(out, "MADT: LAPIC NMI on LINT%u (uid %u)", lint, uid);
	if (out->nmi_count >= ACPI_MAX_NMIS) {
		acpi_warn(out, "MADT: more than %d LAPIC NMI entries; ignoring",
			  ACPI_MAX_NMIS);
		return;
	}
	struct acpi_lapic_nmi *n = &out->nmis[out->nmi_count++];
	n->acpi_uid = uid;
	n->flags = flags;
	n->lint = lint;
}

/* An entry shorter than its structure is skipped (its fields would be
 * beyond what the firmware declared). */
static bool madt_entry_fits(struct acpi_info *out, const struct madt_entry *e,
			    size_t need)
{
	if (e->length >= need)
		return true;
	acpi_warn(out, "MADT: entry type %u has length %u, needs %u; skipped",
		  e->type, e->length, (unsigned)need);
	return false;
}

static void madt_entry(struct acpi_info *out, const struct madt_entry *e,
		       u8 madt_rev)
{
	switch (e->type) {
	case MADT_LAPIC: {
		const struct madt_lapic *l = (const void *)e;
		if (madt_entry_fits(out, e, sizeof(*l)))
			madt_add_cpu(out, l->apic_id, l->acpi_uid, l->flags,
				     false, madt_rev);
		break;
	}
	case MADT_X2APIC: {
		const struct madt_x2apic *x = (const void *)e;
		if (madt_entry_fits(out, e, sizeof(*x)))
			madt_add_cpu(out, x->x2apic_id, x->acpi_uid, x->flags,
				     true, madt_rev);
		break;
	}
	case MADT_IOAPIC:
		if (madt_entry_fits(out, e, sizeof(struct madt_ioapic)))
			madt_add_ioapic(out, (const void *)e);
		break;
	case MADT_ISO:
		if (madt_entry_fits(out, e, sizeof(struct madt_iso)))
			madt_add_iso(out, (const void *)e);
		break;
	case MADT_LAPIC_NMI: {
		const struct madt_lapic_nmi *n = (const void *)e;
		if (madt_entry_fits(out, e, sizeof(*n)))
			madt_add_nmi(out,
				     n->acpi_uid == 0xff ? ACPI_UID_ALL : n->acpi_uid,
				     n->flags, n->lint);
		break;
	}
	case MADT_X2APIC_NMI: {
		const struct madt_x2apic_nmi *n = (const void *)e;
		if (madt_entry_fits(out, e, sizeof(*n)))
			madt_add_nmi(out, n->acpi_uid, n->flags, n->lint);
		break;
	}
	case MADT_LAPIC_OVERRIDE: {
		const struct madt_lapic_override *o = (const void *)e;
		if (!madt_entry_fits(out, e, sizeof(*o)))
			break;
		if (o->address)
			out->lapic_address = o->address;
		else
			acpi_warn(out, "MADT: LAPIC address override to 0 ignored");
		break;
	}
	default:
		/* Other controllers (SAPIC, GIC, ...) do not concern x86 boot. */
		break;
	}
}

/* Entries follow the fixed part, each starting with type and length
 * (5.2.12.1); a length that cannot be right ends the walk. */
static void madt_parse(const u8 *t, u32 len, struct acpi_info *out)
{
	const struct acpi_madt *m = (const void *)t;

	if (len < sizeof(*m)) {
		acpi_warn(out, "MADT length %u is too short; ignored", len);
		return;
	}
	out->madt_valid = true;
	out->lapic_address = m->lapic_address;
	out->madt_flags = m->flags;

	u32 off = sizeof(*m);
	while (off < len) {
		const struct madt_entry *e = (const void *)(t + off);
		if (len - off < sizeof(*e)) {
			acpi_warn(out, "MADT: stray byte at offset %u", off);
			break;
		}
		if (e->length < sizeof(*e)) {
			acpi_warn(out, "MADT: entry type %u at offset %u has length %u; stopping",
				  e->type, off, e->length);
			break;
		}
		if (e->length > len - off) {
			acpi_warn(out, "MADT: entry type %u at offset %u runs past the table end; stopping",
				  e->type, off);
			break;
		}
		madt_entry(out, e, m->hdr.revision);
		off += e->length;
	}
}

/* ---- FADT ------------------------------------------------------------------ */

/*
 * Picks the I/O port of a fixed hardware block: the 64-bit X_ GAS when the
 * table has it, it is non-zero and in system I/O space (5.2.9: X_ fields
 * supersede the 32-bit ones), else the 32-bit port field.
 */
static u16 fadt_port(struct acpi_info *out, const char *name,
		     const struct acpi_gas *x, bool have_x, u32 legacy)
{
	if (have_x && x->address != 0) {
		if (x->space_id == ACPI_GAS_SYSTEM_IO && x->address <= 0xffff) {
			if (legacy != 0 && legacy != x->address)
				acpi_warn(out, "FADT: %s 0x%x and X_%s 0x%llx differ; using X_",
					  name, legacy, name, ULL(x->address));
			return (u16)x->address;
		}
		acpi_warn(out, "FADT: X_%s (space %u, 0x%llx) is not an I/O port; using %s",
			  name, x->space_id, ULL(x->address), name);
	}
	if (legacy > 0xffff) {
		acpi_warn(out, "FADT: %s 0x%x is not an I/O port; ignored", name,
			  legacy);
		return 0;
	}
	return (u16)legacy;
}

/* RESET_REG (5.2.9, 4.8.3.6): system memory, system I/O or PCI config. */
static void fadt_reset(struct acpi_info *out, const struct acpi_fadt *f)
{
	const struct acpi_gas *g = &f->reset_reg;

	if (g->address == 0) {
		acpi_warn(out, "FADT: RESET_REG_SUP set but RESET_REG is 0");
		return;
	}
	if (g->space_id > ACPI_GAS_PCI_CONFIG ||
	    (g->space_id == ACPI_GAS_SYSTEM_IO && g->address > 0xffff)) {
		acpi_warn(out, "FADT: RESET_REG (space %u, 0x%llx) unusable",
			  g->space_id, ULL(g->address));
		return;
	}
	if (g->bit_width != 8 || g->bit_offset != 0)
		acpi_warn(out, "FADT: RESET_REG width %u offset %u, expected 8/0",
			  g->bit_width, g->bit_offset);
	out->reset_valid = true;
	out->reset_reg.space_id = g->space_id;
	out->reset_reg.bit_width = g->bit_width;
	out->reset_reg.bit_offset = g->bit_offset;
	out->reset_reg.access_size = g->access_size;
	out->reset_reg.address = g->address;
	out->reset_value = f->reset_value;
}

static void fadt_ports(struct acpi_info *out, const struct acpi_fadt *f,
		       u32 len)
{
	out->pm1a_evt = fadt_port(out, "PM1a_EVT_BLK", &f->x_pm1a_evt_blk,
				  FADT_HAS(len, x_pm1a_evt_blk), f->pm1a_evt_blk);
	out->pm1b_evt = fadt_port(out, "PM1b_EVT_BLK", &f->x_pm1b_evt_blk,
				  FADT_HAS(len, x_pm1b_evt_blk), f->pm1b_evt_blk);
	out->pm1a_cnt = fadt_port(out, "PM1a_CNT_BLK", &f->x_pm1a_cnt_blk,
				  FADT_HAS(len, x_pm1a_cnt_blk), f->pm1a_cnt_blk);
	out->pm1b_cnt = fadt_port(out, "PM1b_CNT_BLK", &f->x_pm1b_cnt_blk,
				  FADT_HAS(len, x_pm1b_cnt_blk), f->pm1b_cnt_blk);
	out->pm_tmr_port = fadt_port(out, "PM_TMR_BLK", &f->x_pm_tmr_blk,
				     FADT_HAS(len, x_pm_tmr_blk), f->pm_tmr_blk);
	out->pm1_evt_len = f->pm1_evt_len;
	out->pm1_cnt_len = f->pm1_cnt_len;
	/* PM_TMR_LEN must be 4 when the timer exists (5.2.9). */
	if (out->pm_tmr_port && f->pm_tmr_len != 4)
		acpi_warn(out, "FADT: PM_TMR_LEN is %u, expected 4", f->pm_tmr_len);
	out->pm_tmr_32bit = f->flags & ACPI_FADT_TMR_VAL_EXT;
}

static void fadt_parse(const u8 *t, u32 len, struct acpi_info *out)
{
	struct acpi_fadt f;

	/* Work on a zero-filled copy so fields past a short (older) table
	 * read as 0, i.e. absent; FADT_HAS() guards fields where 0 is not
	 * the same as absent. */
	memset(&f, 0, sizeof(f));
	memcpy(&f, t, MIN((size_t)len, sizeof(f)));
	if (len < FADT_V1_LEN)
		acpi_warn(out, "FADT length %u is below ACPI 1.0's %u; missing fields taken as absent",
			  len, FADT_V1_LEN);

	out->fadt_valid = true;
	out->fadt_revision = f.hdr.revision;
	out->fadt_length = len;
	out->fadt_flags = f.flags;
	out->hw_reduced = f.flags & ACPI_FADT_HW_REDUCED_ACPI;
	out->sci_irq = f.sci_int;
	out->smi_cmd = f.smi_cmd;
	out->acpi_enable = f.acpi_enable;
	out->acpi_disable = f.acpi_disable;
	out->century = f.century;
	fadt_ports(out, &f, len);

	if (f.hdr.revision >= FADT_BOOT_ARCH_REV && FADT_HAS(len, iapc_boot_arch)) {
		out->boot_arch_valid = true;
		out->iapc_boot_arch = f.iapc_boot_arch;
		out->legacy_devices = f.iapc_boot_arch & ACPI_BOOT_LEGACY_DEVICES;
		out->has_8042 = f.iapc_boot_arch & ACPI_BOOT_8042;
	}

	if (f.flags & ACPI_FADT_RESET_REG_SUP) {
		if (FADT_HAS(len, reset_value))
			fadt_reset(out, &f);
		else
			acpi_warn(out, "FADT: RESET_REG_SUP set but length %u has no RESET_REG",
				  len);
	}

	out->dsdt_pa = f.dsdt;
	if (FADT_HAS(len, x_dsdt) && f.x_dsdt != 0) {
		if (f.dsdt != 0 && f.dsdt != f.x_dsdt)
			acpi_warn(out, "FADT: DSDT 0x%x and X_DSDT 0x%llx differ; using X_DSDT",
				  f.dsdt, ULL(f.x_dsdt));
		out->dsdt_pa = f.x_dsdt;
	}
}

/* ---- HPET ------------------------------------------------------------------ */

static void hpet_parse(const u8 *t, u32 len, struct acpi_info *out)
{
	const struct acpi_hpet *h = (const void *)t;

	if (len < sizeof(*h)) {
		acpi_warn(out, "HPET length %u is too short; ignored", len);
		return;
	}
	/* The event timer block is memory-mapped (HPET spec 3.2.4). */
	if (h->base.space_id != ACPI_GAS_SYSTEM_MEMORY || h->base.address == 0) {
		acpi_warn(out, "HPET base (space %u, 0x%llx) is not in system memory; ignored",
			  h->base.space_id, ULL(h->base.address));
		return;
	}
	out->hpet_valid = true;
	out->hpet_address = h->base.address;
	out->hpet_block_id = h->event_timer_block_id;
	out->hpet_number = h->hpet_number;
	out->hpet_min_tick = h->min_clock_tick;
}

/* ---- \_S5 in AML ----------------------------------------------------------- */

/*
 * Decodes a PkgLength (20.2.4) from p[0..n): bits 7:6 of the lead byte give
 * the number of following bytes. With none, bits 5:0 are the length; else
 * bits 3:0 are its low nibble, bits 5:4 must be zero, and each following byte
 * adds the next 8 bits. Returns the bytes used, or 0 if malformed.
 */
static u32 aml_pkg_length(const u8 *p, u32 n, u32 *value)
{
	if (n < 1)
		return 0;
	u32 follow = p[0] >> 6;
	if (follow == 0) {
		*value = p[0] & 0x3f;
		return 1;
	}
	if ((p[0] & 0x30) != 0 || n < 1 + follow)
		return 0;
	u32 v = p[0] & 0x0f;
	for (u32 i = 0; i < follow; i++)
		v |= (u32)p[1 + i] << (4 + 8 * i);
	*value = v;
	return 1 + follow;
}

/* Decodes an integer constant (ConstObj or ComputationalData integer,
 * 20.2.3) from p[0..n). Returns the bytes used, or 0 if it is not one. */
static u32 aml_integer(const u8 *p, u32 n, u64 *v)
{
	if (n < 1)
		return 0;
	switch (p[0]) {
	case AML_ZERO_OP:
		*v = 0;
		return 1;
	case AML_ONE_OP:
		*v = 1;
		return 1;
	case AML_ONES_OP:
		*v = ~0ull;
		return 1;
	case AML_BYTE_PREFIX:
		if (n < 2)
			return 0;
		*v = p[1];
		return 2;
	case AML_WORD_PREFIX:
		if (n < 3)
			return 0;
		*v = rd16(p + 1);
		return 3;
	case AML_DWORD_PREFIX:
		if (n < 5)
			return 0;
		*v = rd32(p + 1);
		return 5;
	case AML_QWORD_PREFIX:
		if (n < 9)
			return 0;
		*v = rd64(p + 1);
		return 9;
	default:
		return 0;
	}
}

enum s5_result { S5_NO_MATCH, S5_MALFORMED, S5_FOUND };

/*
 * With the NameSeg "_S5_" at t[seg], tries to decode
 *   DefName := NameOp NameString DataRefObject          (20.2.5.1)
 *   DefPackage := PackageOp PkgLength NumElements PackageElementList (20.2.5.4)
 * where NameString is _S5_ or \_S5_ and the first elements are integers
 * (SLP_TYPa, SLP_TYPb, per 7.4.2). Only t[start..end) is touched.
 */
static enum s5_result s5_decode(const u8 *t, u32 start, u32 end, u32 seg,
				u8 *typa, u8 *typb)
{
	u32 name = seg;
	if (name > start && t[name - 1] == AML_ROOT_CHAR)
		name--;
	if (name <= start || t[name - 1] != AML_NAME_OP)
		return S5_NO_MATCH;

	u32 p = seg + 4;
	if (p >= end || t[p] != AML_PACKAGE_OP)
		return S5_MALFORMED;
	p++;
	u32 pkglen, nb = aml_pkg_length(t + p, end - p, &pkglen);
	/* PkgLength counts its own bytes and NumElements at least. */
	if (nb == 0 || pkglen < nb + 1 || pkglen > end - p)
		return S5_MALFORMED;
	u32 pkg_end = p + pkglen;
	p += nb;
	u8 count = t[p++];

	u64 v[2];
	u32 want = count >= 2 ? 2 : count;
	if (want == 0)
		return S5_MALFORMED;
	for (u32 i = 0; i < want; i++) {
		u32 used = aml_integer(t + p, pkg_end - p, &v[i]);
		if (used == 0)
			return S5_MALFORMED;
		p += used;
	}
	if (want == 1) {
		/* One integer holds both values, bits 7:0 and 15:8, as ACPICA
		 * (acpi_get_sleep_type_data) reads such packages. */
		v[1] = v[0] >> 8;
	}
	*typa = (u8)v[0];
	*typb = (u8)v[1];
	return S5_FOUND;
}

/* A byte scan, not an interpreter: good for the Name(_S5, Package(){...})
 * form every PC firmware uses; a Method-returned _S5 is not found. */
static bool s5_scan(const u8 *t, u32 len, const char *sig,
		    struct acpi_info *out)
{
	for (u32 i = SDT_HDR_LEN; i + 4 <= len; i++) {
		if (t[i] != '_' || memcmp(t + i, "_S5_", 4) != 0)
			continue;
		u8 a, b;
		enum s5_result res = s5_decode(t, SDT_HDR_LEN, len, i, &a, &b);
		if (res == S5_MALFORMED) {
			acpi_warn(out, "%s: malformed \\_S5 at offset %u", sig, i);
			continue;
		}
		if (res == S5_NO_MATCH)
			continue;
		/* SLP_TYP is a 3-bit field (4.8.3.2.1). */
		if (a > 7 || b > 7)
			acpi_warn(out, "%s: \\_S5 values %u/%u exceed 3 bits", sig,
				  a, b);
		out->s5_valid = true;
		out->slp_typa = a;
		out->slp_typb = b;
		return true;
	}
	return false;
}

static void s5_search(const struct phys_reader *r, paddr_t pa,
		      const char *sig, bool record, struct acpi_info *out)
{
	u32 len;
	const u8 *t = table_map(r, pa, sig, out, &len);

	if (!t)
		return;
	if (record)
		record_table(out, sig);
	s5_scan(t, len, sig, out);
}

/* ---- root table walk ------------------------------------------------------- */

struct root_walk {
	paddr_t ssdts[ACPI_MAX_SSDTS];
	u32 ssdt_count;
};

static void parse_table(const struct phys_reader *r, paddr_t pa,
			struct acpi_info *out, struct root_walk *w)
{
	u32 len;
	const u8 *t = table_map(r, pa, NULL, out, &len);

	if (!t)
		return;
	record_table(out, (const char *)t);
	if (memcmp(t, "APIC", 4) == 0) {
		if (out->madt_valid)
			acpi_warn(out, "second MADT at 0x%llx ignored", ULL(pa));
		else
			madt_parse(t, len, out);
	} else if (memcmp(t, "FACP", 4) == 0) {
		if (out->fadt_valid)
			acpi_warn(out, "second FADT at 0x%llx ignored", ULL(pa));
		else
			fadt_parse(t, len, out);
	} else if (memcmp(t, "HPET", 4) == 0) {
		/* Further HPET tables describe further timer blocks. */
		if (!out->hpet_valid)
			hpet_parse(t, len, out);
	} else if (memcmp(t, "SSDT", 4) == 0) {
		if (w->ssdt_count < ACPI_MAX_SSDTS)
			w->ssdts[w->ssdt_count++] = pa;
	}
}

/* Checks the RSDT or XSDT and returns its number of entries, or -1. */
static s64 root_check(const struct phys_reader *r, paddr_t pa, const char *sig,
		      u32 entry_size, struct acpi_info *out)
{
	u32 len;

	if (!table_map(r, pa, sig, out, &len))
		return -1;
	if ((len - SDT_HDR_LEN) % entry_size != 0)
		acpi_warn(out, "%s length %u is not a whole number of entries",
			  sig, len);
	u32 n = (len - SDT_HDR_LEN) / entry_size;
	if (n > ACPI_MAX_ROOT_ENTRIES) {
		acpi_warn(out, "%s lists %u tables; only the first %u are used",
			  sig, n, ACPI_MAX_ROOT_ENTRIES);
		n = ACPI_MAX_ROOT_ENTRIES;
	}
	return n;
}

/*
 * Walks the XSDT (5.2.8) when the RSDP is revision 2+ and the XSDT is
 * usable, else the RSDT (5.2.7). Entries are re-read one at a time so that
 * only one mapping is in use at any moment.
 */
static bool parse_root(const struct phys_reader *r, const struct rsdp_fields *f,
		       struct acpi_info *out)
{
	struct root_walk w = { .ssdt_count = 0 };
	const char *sig = "XSDT";
	u32 esz = 8;
	paddr_t root = f->xsdt;
	s64 n = -1;

	out->rsdp_revision = f->revision;
	copy_printable(out->oem_id, f->oem_id, sizeof(f->oem_id));

	if (f->revision >= 2 && f->xsdt != 0) {
		n = root_check(r, root, sig, esz, out);
		if (n < 0)
			acpi_warn(out, "XSDT unusable; falling back to the RSDT");
	}
	if (n < 0) {
		sig = "RSDT";
		esz = 4;
		root = f->rsdt;
		if (root == 0) {
			acpi_warn(out, "RSDP has no RSDT address");
			return false;
		}
		n = root_check(r, root, sig, esz, out);
		if (n < 0)
			return false;
	}
	out->used_xsdt = esz == 8;
	out->root_pa = root;
	record_table(out, sig);

	for (s64 i = 0; i < n; i++) {
		const u8 *e = phys_read_map(r, root + SDT_HDR_LEN + (u64)i * esz,
					    esz);
		if (!e) {
			acpi_warn(out, "%s entry %lld not readable", sig,
				  (long long)i);
			break;
		}
		paddr_t pa = esz == 8 ? rd64(e) : rd32(e);
		if (pa == 0) {
			acpi_warn(out, "%s entry %lld is null", sig, (long long)i);
			continue;
		}
		parse_table(r, pa, out, &w);
	}

	/* The DSDT is listed in the FADT, not the root table (5.2.9). */
	if (out->fadt_valid && out->dsdt_pa != 0)
		s5_search(r, out->dsdt_pa, "DSDT", true, out);
	else if (out->fadt_valid)
		acpi_warn(out, "FADT has no DSDT address");
	for (u32 i = 0; !out->s5_valid && i < w.ssdt_count; i++)
		s5_search(r, w.ssdts[i], "SSDT", false, out);
	return true;
}

static void info_init(struct acpi_info *out)
{
	memset(out, 0, sizeof(*out));
	/* Without IAPC_BOOT_ARCH, assume a PC-AT with legacy devices. */
	out->legacy_devices = true;
	out->has_8042 = true;
}

bool acpi_parse(const struct phys_reader *r, const void *rsdp, size_t rsdp_len,
		struct acpi_info *out)
{
	struct rsdp_fields f;

	info_init(out);
	const char *why = rsdp_check(rsdp, rsdp_len);
	if (why) {
		acpi_warn(out, "RSDP rejected: %s", why);
		return false;
	}
	rsdp_extract(rsdp, rsdp_len, &f);
	return parse_root(r, &f, out);
}

bool acpi_parse_phys(const struct phys_reader *r, paddr_t rsdp_pa,
		     struct acpi_info *out)
{
	struct rsdp_fields f;
	size_t len;

	info_init(out);
	const u8 *p = rsdp_map(r, rsdp_pa, &len);
	if (!p) {
		acpi_warn(out, "RSDP at 0x%llx is not readable", ULL(rsdp_pa));
		return false;
	}
	const char *why = rsdp_check(p, len);
	if (why) {
		acpi_warn(out, "RSDP at 0x%llx rejected: %s", ULL(rsdp_pa), why);
		return false;
	}
	rsdp_extract(p, len, &f);
	return parse_root(r, &f, out);
}

/* ---- summary --------------------------------------------------------------- */

/* Collects short words into log lines of bounded length. */
#define LOG_LINE_MAX 88
struct log_line {
	const char *prefix;
	char buf[LOG_LINE_MAX + 16];
	size_t len;
};

static void line_flush(struct log_line *l)
{
	if (l->len)
		log_info("acpi: %s %s", l->prefix, l->buf);
	l->len = 0;
	l->buf[0] = '\0';
}

/* word must be shorter than 16 characters. */
static void line_add(struct log_line *l, const char *word)
{
	size_t n = strlen(word);

	if (l->len + n + 1 > LOG_LINE_MAX)
		line_flush(l);
	if (l->len)
		l->buf[l->len++] = ' ';
	memcpy(l->buf + l->len, word, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

/* Formats v in decimal followed by suffix (at most one char). */
static void fmt_u32(char out[16], u32 v, char suffix)
{
	char tmp[10];
	int n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[i++] = tmp[--n];
	if (suffix)
		out[i++] = suffix;
	out[i] = '\0';
}

static void print_madt(const struct acpi_info *a)
{
	struct log_line l = { .prefix = "CPU APIC IDs:", .len = 0 };
	char w[16];

	log_info("acpi: MADT: LAPIC 0x%llx flags 0x%x%s, %u CPUs%s",
		 ULL(a->lapic_address), a->madt_flags,
		 (a->madt_flags & ACPI_MADT_PCAT_COMPAT) ? " (PCAT_COMPAT)" : "",
		 a->cpu_count, a->cpus_dropped ? " (more ignored)" : "");
	for (u32 i = 0; i < a->cpu_count; i++) {
		fmt_u32(w, a->cpus[i].apic_id, a->cpus[i].enabled ? 0 : '*');
		line_add(&l, w);
	}
	line_flush(&l);
	if (a->cpu_count != 0)
		log_info("acpi: (* = online-capable, not enabled)");
	for (u32 i = 0; i < a->ioapic_count; i++)
		log_info("acpi: IOAPIC id %u at 0x%x, GSI base %u",
			 a->ioapics[i].id, a->ioapics[i].address,
			 a->ioapics[i].gsi_base);
	for (u32 i = 0; i < a->iso_count; i++)
		log_info("acpi: override bus %u IRQ %u -> GSI %u flags 0x%x",
			 a->isos[i].bus, a->isos[i].source_irq, a->isos[i].gsi,
			 a->isos[i].flags);
	log_info("acpi: %u LAPIC NMI entries", a->nmi_count);
}

static void print_fadt(const struct acpi_info *a)
{
	log_info("acpi: FADT rev %u len %u: SCI %u, SMI_CMD 0x%x, PM1a evt 0x%x cnt 0x%x, PM1b evt 0x%x cnt 0x%x%s",
		 a->fadt_revision, a->fadt_length, a->sci_irq, a->smi_cmd,
		 a->pm1a_evt, a->pm1a_cnt, a->pm1b_evt, a->pm1b_cnt,
		 a->hw_reduced ? ", HW-reduced" : "");
	if (a->pm_tmr_port)
		log_info("acpi: PM timer at port 0x%x, %u-bit", a->pm_tmr_port,
			 a->pm_tmr_32bit ? 32 : 24);
	else
		log_info("acpi: no PM timer");
	if (a->reset_valid)
		log_info("acpi: reset register space %u at 0x%llx, value 0x%x",
			 a->reset_reg.space_id, ULL(a->reset_reg.address),
			 a->reset_value);
	else
		log_info("acpi: no reset register");
	log_info("acpi: boot arch 0x%x%s (legacy devices %s, 8042 %s), century reg 0x%x, DSDT 0x%llx",
		 a->iapc_boot_arch, a->boot_arch_valid ? "" : " (n/a)",
		 a->legacy_devices ? "yes" : "no", a->has_8042 ? "yes" : "no",
		 a->century, ULL(a->dsdt_pa));
}

void acpi_print(const struct acpi_info *a)
{
	struct log_line l = { .prefix = "tables:", .len = 0 };

	log_info("acpi: RSDP rev %u OEM '%s' via %s at 0x%llx, %u warnings",
		 a->rsdp_revision, a->oem_id, a->used_xsdt ? "XSDT" : "RSDT",
		 ULL(a->root_pa), a->warnings);
	for (u32 i = 0; i < a->table_count; i++)
		line_add(&l, a->tables[i]);
	line_flush(&l);
	if (a->tables_omitted)
		log_info("acpi: (%u more tables not listed)", a->tables_omitted);

	if (a->madt_valid)
		print_madt(a);
	else
		log_info("acpi: no MADT");
	if (a->fadt_valid)
		print_fadt(a);
	else
		log_info("acpi: no FADT");
	if (a->s5_valid)
		log_info("acpi: S5 SLP_TYPa %u SLP_TYPb %u", a->slp_typa,
			 a->slp_typb);
	else
		log_info("acpi: no \\_S5 package found");
	if (a->hpet_valid)
		log_info("acpi: HPET #%u at 0x%llx, min tick %u, block id 0x%x",
			 a->hpet_number, ULL(a->hpet_address), a->hpet_min_tick,
			 a->hpet_block_id);
	else
		log_info("acpi: no HPET");
}

u16 acpi_s5_pm1_value(const struct acpi_info *a, bool b_block)
{
	if (!a->s5_valid)
		return 0;
	u32 typ = (b_block ? a->slp_typb : a->slp_typa) & 7u;
	return (u16)((typ << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN);
}
