/* ACPI table parsing: real-looking tables in a fake 2 MiB physical memory,
 * the malformed tables firmware ships, the legacy RSDP scan, and a bounded
 * fuzz loop. */
#include <stdlib.h>

#include "tests/unit/unit.h"
#include "tests/unit/host_env.h"
#include "drivers/acpi.h"
#include "kernel/log.h"
#include "lib/string.h"

#define MEM_SIZE (2u << 20)

/* Physical layout of the fake machine. */
#define EBDA_PA 0x9fc00
#define RSDP_PA 0xf0000
#define RSDT_PA 0x100000
#define XSDT_PA 0x100200
#define MADT_PA 0x101000
#define FADT_PA 0x102000
#define DSDT_PA 0x103000
#define SSDT_PA 0x104000
#define HPET_PA 0x105000
#define BIG_PA 0x110000 /* room for oversized tables */

static u8 mem[MEM_SIZE];
static struct acpi_info info;

/*
 * A strict reader: every map() returns a fresh heap copy of exactly len
 * bytes and frees the previous one, so ASan reports both reads past what
 * was mapped and use of a mapping after the next map() call (the contract
 * in drivers/acpi.h).
 */
struct fake_mem {
	void *last;
	unsigned long maps;
	unsigned long refused;
};
static struct fake_mem fm;

static const void *fake_map(void *ctx, paddr_t pa, u64 len)
{
	struct fake_mem *f = ctx;

	free(f->last);
	f->last = NULL;
	f->maps++;
	if (pa > MEM_SIZE || len > MEM_SIZE - pa) {
		f->refused++;
		return NULL;
	}
	f->last = malloc(len ? len : 1);
	memcpy(f->last, mem + pa, len);
	return f->last;
}

static const struct phys_reader reader = { fake_map, &fm };

/* ---- writing tables into fake memory ------------------------------------- */

static void put(paddr_t pa, const void *p, size_t n)
{
	memcpy(mem + pa, p, n);
}

static void put8(paddr_t pa, u8 v)
{
	mem[pa] = v;
}

static void put16(paddr_t pa, u16 v)
{
	memcpy(mem + pa, &v, sizeof(v));
}

static void put32(paddr_t pa, u32 v)
{
	memcpy(mem + pa, &v, sizeof(v));
}

static void put64(paddr_t pa, u64 v)
{
	memcpy(mem + pa, &v, sizeof(v));
}

static u32 get32(paddr_t pa)
{
	u32 v;
	memcpy(&v, mem + pa, sizeof(v));
	return v;
}

/* Makes bytes [pa, pa+len) sum to zero by setting the byte at pa+at. */
static void sum_fix(paddr_t pa, size_t len, size_t at)
{
	u8 s = 0;

	mem[pa + at] = 0;
	for (size_t i = 0; i < len; i++)
		s += mem[pa + i];
	mem[pa + at] = (u8)-s;
}

static void table_sum(paddr_t pa)
{
	sum_fix(pa, get32(pa + 4), 9);
}

/* A table under construction: header at pa, len bytes written so far. */
struct tb {
	paddr_t pa;
	u32 len;
};

static void tb_bytes(struct tb *t, const void *p, size_t n)
{
	if (n)
		put(t->pa + t->len, p, n);
	t->len += (u32)n;
}

static void tb_u8(struct tb *t, u8 v)
{
	tb_bytes(t, &v, 1);
}

static void tb_u16(struct tb *t, u16 v)
{
	tb_bytes(t, &v, 2);
}

static void tb_u32(struct tb *t, u32 v)
{
	tb_bytes(t, &v, 4);
}

static void tb_u64(struct tb *t, u64 v)
{
	tb_bytes(t, &v, 8);
}

static void tb_begin(struct tb *t, paddr_t pa, const char *sig, u8 rev)
{
	t->pa = pa;
	t->len = 0;
	tb_bytes(t, sig, 4);
	tb_u32(t, 0);
	tb_u8(t, rev);
	tb_u8(t, 0);
	tb_bytes(t, "UMBRA ", 6);
	tb_bytes(t, "UMBRATBL", 8);
	tb_u32(t, 1);
	tb_bytes(t, "UTST", 4);
	tb_u32(t, 1);
}

static void tb_end(struct tb *t)
{
	put32(t->pa + 4, t->len);
	table_sum(t->pa);
}

/* RSDP (5.2.5.3) with both checksums right. */
static void put_rsdp(paddr_t pa, u8 rev, u32 rsdt, u64 xsdt)
{
	memset(mem + pa, 0, 36);
	put(pa, "RSD PTR ", 8);
	put(pa + 9, "BOCHS ", 6);
	put8(pa + 15, rev);
	put32(pa + 16, rsdt);
	if (rev >= 2) {
		put32(pa + 20, 36);
		put64(pa + 24, xsdt);
	}
	sum_fix(pa, 20, 8);
	if (rev >= 2)
		sum_fix(pa, 36, 32);
}

static void put_rsdt(paddr_t pa, const u32 *e, int n)
{
	struct tb t;

	tb_begin(&t, pa, "RSDT", 1);
	for (int i = 0; i < n; i++)
		tb_u32(&t, e[i]);
	tb_end(&t);
}

static void put_xsdt(paddr_t pa, const u64 *e, int n)
{
	struct tb t;

	tb_begin(&t, pa, "XSDT", 1);
	for (int i = 0; i < n; i++)
		tb_u64(&t, e[i]);
	tb_end(&t);
}

/* MADT interrupt controller structures (5.2.12). */
static void madt_begin(struct tb *t, paddr_t pa, u8 rev, u32 lapic, u32 flags)
{
	tb_begin(t, pa, "APIC", rev);
	tb_u32(t, lapic);
	tb_u32(t, flags);
}

static void madt_lapic(struct tb *t, u8 uid, u8 id, u32 flags)
{
	tb_u8(t, 0);
	tb_u8(t, 8);
	tb_u8(t, uid);
	tb_u8(t, id);
	tb_u32(t, flags);
}

static void madt_ioapic(struct tb *t, u8 id, u32 addr, u32 gsi)
{
	tb_u8(t, 1);
	tb_u8(t, 12);
	tb_u8(t, id);
	tb_u8(t, 0);
	tb_u32(t, addr);
	tb_u32(t, gsi);
}

static void madt_iso(struct tb *t, u8 src, u32 gsi, u16 flags)
{
	tb_u8(t, 2);
	tb_u8(t, 10);
	tb_u8(t, 0);
	tb_u8(t, src);
	tb_u32(t, gsi);
	tb_u16(t, flags);
}

static void madt_nmi(struct tb *t, u8 uid, u16 flags, u8 lint)
{
	tb_u8(t, 4);
	tb_u8(t, 6);
	tb_u8(t, uid);
	tb_u16(t, flags);
	tb_u8(t, lint);
}

static void madt_override(struct tb *t, u64 addr)
{
	tb_u8(t, 5);
	tb_u8(t, 12);
	tb_u16(t, 0);
	tb_u64(t, addr);
}

static void madt_x2apic(struct tb *t, u32 id, u32 flags, u32 uid)
{
	tb_u8(t, 9);
	tb_u8(t, 16);
	tb_u16(t, 0);
	tb_u32(t, id);
	tb_u32(t, flags);
	tb_u32(t, uid);
}

static void madt_x2nmi(struct tb *t, u16 flags, u32 uid, u8 lint)
{
	tb_u8(t, 0xa);
	tb_u8(t, 12);
	tb_u16(t, flags);
	tb_u32(t, uid);
	tb_u8(t, lint);
	tb_u8(t, 0);
	tb_u16(t, 0);
}

/* Four xAPIC CPUs (2 disabled -> skipped, 3 online-capable only), two
 * x2APIC CPUs (one disabled), one IOAPIC, two overrides, two NMIs. */
static void build_madt(paddr_t pa, u8 rev)
{
	struct tb t;

	madt_begin(&t, pa, rev, 0xfee00000, ACPI_MADT_PCAT_COMPAT);
	madt_lapic(&t, 0, 0, 1);
	madt_lapic(&t, 1, 1, 1);
	madt_lapic(&t, 2, 2, 0);
	madt_lapic(&t, 3, 3, 2);
	madt_ioapic(&t, 0, 0xfec00000, 0);
	madt_iso(&t, 0, 2, 0);
	madt_iso(&t, 9, 9, 0xd);
	madt_nmi(&t, 0xff, 0, 1);
	madt_x2apic(&t, 0x100, 1, 0x100);
	madt_x2apic(&t, 0x101, 0, 0x101);
	madt_x2nmi(&t, 5, 0xffffffff, 1);
	/* A structure type this parser does not know is stepped over. */
	tb_u8(&t, 0x7f);
	tb_u8(&t, 4);
	tb_u16(&t, 0);
	tb_end(&t);
}

/* FADT field offsets (5.2.9, Table 5.9). */
enum {
	F_DSDT = 40, F_SCI = 46, F_SMI = 48, F_ACPI_EN = 52, F_ACPI_DIS = 53,
	F_PM1A_EVT = 56, F_PM1B_EVT = 60, F_PM1A_CNT = 64, F_PM1B_CNT = 68,
	F_PM_TMR = 76, F_PM1_EVT_LEN = 88, F_PM1_CNT_LEN = 89,
	F_PM_TMR_LEN = 91, F_CENTURY = 108, F_BOOT_ARCH = 109, F_FLAGS = 112,
	F_RESET_REG = 116, F_RESET_VAL = 128, F_MINOR = 131, F_X_DSDT = 140,
	F_X_PM1A_EVT = 148, F_X_PM1B_EVT = 160, F_X_PM1A_CNT = 172,
	F_X_PM1B_CNT = 184, F_X_PM_TMR = 208,
};

static void put_gas(paddr_t pa, u8 space, u8 width, u8 off, u8 access,
		    u64 addr)
{
	put8(pa, space);
	put8(pa + 1, width);
	put8(pa + 2, off);
	put8(pa + 3, access);
	put64(pa + 4, addr);
}

static void fadt_header(paddr_t pa, u32 len, u8 rev)
{
	struct tb t;

	memset(mem + pa, 0, 512);
	tb_begin(&t, pa, "FACP", rev);
	put32(pa + 4, len);
}

/* An ACPI 1.0 FADT: revision 1, 116 bytes, 32-bit fields only. */
static void build_fadt_v1(paddr_t pa, u32 dsdt)
{
	fadt_header(pa, 116, 1);
	put32(pa + F_DSDT, dsdt);
	put16(pa + F_SCI, 9);
	put32(pa + F_SMI, 0xb2);
	put8(pa + F_ACPI_EN, 0xf1);
	put8(pa + F_ACPI_DIS, 0xf0);
	put32(pa + F_PM1A_EVT, 0x600);
	put32(pa + F_PM1A_CNT, 0x604);
	put32(pa + F_PM_TMR, 0x608);
	put8(pa + F_PM1_EVT_LEN, 4);
	put8(pa + F_PM1_CNT_LEN, 2);
	put8(pa + F_PM_TMR_LEN, 4);
	put8(pa + F_CENTURY, 0x32);
	put32(pa + F_FLAGS, BIT(0) | BIT(4)); /* WBINVD, PROC_C1 */
	table_sum(pa);
}

/* An ACPI 5.0 FADT, revision 5, 268 bytes, X_ fields equal to the 32-bit
 * ones, reset register at I/O 0xcf9. */
static void build_fadt_v5(paddr_t pa, u32 dsdt)
{
	fadt_header(pa, 268, 5);
	put32(pa + F_DSDT, dsdt);
	put16(pa + F_SCI, 9);
	put32(pa + F_SMI, 0xb2);
	put8(pa + F_ACPI_EN, 0x02);
	put8(pa + F_ACPI_DIS, 0x03);
	put32(pa + F_PM1A_EVT, 0xb000);
	put32(pa + F_PM1A_CNT, 0xb004);
	put32(pa + F_PM1B_CNT, 0xb104);
	put32(pa + F_PM_TMR, 0xb008);
	put8(pa + F_PM1_EVT_LEN, 4);
	put8(pa + F_PM1_CNT_LEN, 2);
	put8(pa + F_PM_TMR_LEN, 4);
	put8(pa + F_CENTURY, 0x32);
	put16(pa + F_BOOT_ARCH, ACPI_BOOT_8042);
	put32(pa + F_FLAGS, BIT(0) | ACPI_FADT_TMR_VAL_EXT |
				    ACPI_FADT_RESET_REG_SUP);
	put_gas(pa + F_RESET_REG, ACPI_GAS_SYSTEM_IO, 8, 0, 1, 0xcf9);
	put8(pa + F_RESET_VAL, 0x0f);
	put8(pa + F_MINOR, 1);
	put64(pa + F_X_DSDT, dsdt);
	put_gas(pa + F_X_PM1A_EVT, ACPI_GAS_SYSTEM_IO, 32, 0, 0, 0xb000);
	put_gas(pa + F_X_PM1A_CNT, ACPI_GAS_SYSTEM_IO, 16, 0, 0, 0xb004);
	put_gas(pa + F_X_PM1B_CNT, ACPI_GAS_SYSTEM_IO, 16, 0, 0, 0xb104);
	put_gas(pa + F_X_PM_TMR, ACPI_GAS_SYSTEM_IO, 32, 0, 0, 0xb008);
	table_sum(pa);
}

/* Realistic AML before the \_S5 object: a Scope with a PCI host bridge, an
 * _S3 package (must not be mistaken for _S5) and a method that merely
 * references \_S5 (a NameString not preceded by NameOp). */
static const u8 aml_prefix[] = {
	0x10, 0x17, 0x5c, '_', 'S', 'B', '_',
	0x5b, 0x82, 0x0f, 'P', 'C', 'I', '0',
	0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03,
	0x08, '_', 'S', '3', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00,
	0x14, 0x0d, 'T', 'S', 'T', '0', 0x00,
	0x70, 0x5c, '_', 'S', '5', '_', 0x60,
};

/* QEMU: Name (_S5, Package (4) { 5, 5 }), NumElements beyond the initializers. */
static const u8 s5_qemu[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x0a, 0x05, 0x0a, 0x05,
	0x00, 0x00,
};
/* Bochs/SeaBIOS: Name (\_S5, Package (4) { Zero, Zero, Zero, Zero }). */
static const u8 s5_bochs[] = {
	0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00,
	0x00,
};
/* Two-byte PkgLength (0x0d) with DWord and Word constants: values 7, 3. */
static const u8 s5_pkg2[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x4d, 0x00, 0x04, 0x0c, 0x07, 0x00,
	0x00, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x00,
};
/* One integer holding SLP_TYPa in bits 7:0 and SLP_TYPb in bits 15:8. */
static const u8 s5_single[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x01, 0x0b, 0x07, 0x05,
};
static const u8 s5_ssdt[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x03,
	0x0a, 0x00, 0x0a, 0x00,
};
/* A Processor-ish SSDT body with no _S5. */
static const u8 ssdt_plain[] = {
	0x10, 0x0b, 0x5c, '_', 'S', 'B', '_',
	0x08, 'C', 'P', 'U', 'S', 0x0a, 0x04,
};

static u32 build_aml_table(paddr_t pa, const char *sig, const u8 *pre,
			   size_t npre, const u8 *aml, size_t n)
{
	struct tb t;

	tb_begin(&t, pa, sig, 2);
	tb_bytes(&t, pre, npre);
	tb_bytes(&t, aml, n);
	tb_end(&t);
	return t.len;
}

static u32 build_dsdt(const u8 *s5, size_t n)
{
	return build_aml_table(DSDT_PA, "DSDT", aml_prefix, sizeof(aml_prefix),
			       s5, n);
}

static void build_hpet(paddr_t pa, u8 space, u64 addr)
{
	struct tb t;

	tb_begin(&t, pa, "HPET", 1);
	tb_u32(&t, 0x8086a201);
	tb_u8(&t, space);
	tb_u8(&t, 64);
	tb_u8(&t, 0);
	tb_u8(&t, 0);
	tb_u64(&t, addr);
	tb_u8(&t, 0);
	tb_u16(&t, 0x37ee);
	tb_u8(&t, 0);
	tb_end(&t);
}

static const u32 std_tables[] = { FADT_PA, MADT_PA, HPET_PA, SSDT_PA };

/* The full valid machine: RSDP revision rev at RSDP_PA; revision 2 also
 * gets an XSDT and a revision 5 FADT, revision 0 a revision 1 FADT. */
static void build_machine(u8 rev)
{
	u64 x[ARRAY_SIZE(std_tables)];

	memset(mem, 0, MEM_SIZE);
	put16(0x40e, EBDA_PA >> 4);
	build_madt(MADT_PA, 5);
	if (rev >= 2)
		build_fadt_v5(FADT_PA, DSDT_PA);
	else
		build_fadt_v1(FADT_PA, DSDT_PA);
	build_dsdt(s5_qemu, sizeof(s5_qemu));
	build_aml_table(SSDT_PA, "SSDT", NULL, 0, ssdt_plain, sizeof(ssdt_plain));
	build_hpet(HPET_PA, ACPI_GAS_SYSTEM_MEMORY, 0xfed00000);
	put_rsdt(RSDT_PA, std_tables, ARRAY_SIZE(std_tables));
	for (size_t i = 0; i < ARRAY_SIZE(std_tables); i++)
		x[i] = std_tables[i];
	put_xsdt(XSDT_PA, x, ARRAY_SIZE(x));
	put_rsdp(RSDP_PA, rev, RSDT_PA, rev >= 2 ? XSDT_PA : 0);
}

/* Parses as the kernel does with a multiboot2 tag: from an exact-size copy
 * of the RSDP (20 bytes for tag 14, 36 for tag 15). Also checks that each
 * counted warning was logged. */
static bool parse_copy(paddr_t pa, size_t len)
{
	int warns = host_log_count[LOG_WARN];
	u8 *copy = malloc(len);

	memcpy(copy, mem + pa, len);
	bool ok = acpi_parse(&reader, copy, len, &info);
	free(copy);
	/* Past 32, one "further warnings not shown" line stands for the rest. */
	CHECK_EQ(host_log_count[LOG_WARN] - warns, MIN(info.warnings, 33u));
	return ok;
}

static bool parse_std(void)
{
	return parse_copy(RSDP_PA, mem[RSDP_PA + 15] >= 2 ? 36 : 20);
}

static bool has_table(const char *sig)
{
	for (u32 i = 0; i < info.table_count; i++)
		if (strcmp(info.tables[i], sig) == 0)
			return true;
	return false;
}

static const struct acpi_cpu *cpu_by_id(u32 id)
{
	for (u32 i = 0; i < info.cpu_count; i++)
		if (info.cpus[i].apic_id == id)
			return &info.cpus[i];
	return NULL;
}

/* ---- the valid tables ---------------------------------------------------- */

TEST(rsdp_v1_uses_rsdt)
{
	build_machine(0);
	CHECK(parse_std());
	CHECK_EQ(info.warnings, 0);
	CHECK_EQ(info.rsdp_revision, 0);
	CHECK_STR(info.oem_id, "BOCHS ");
	CHECK(!info.used_xsdt);
	CHECK_EQ(info.root_pa, RSDT_PA);
	CHECK_EQ(info.table_count, 6);
	CHECK_STR(info.tables[0], "RSDT");
	CHECK_STR(info.tables[1], "FACP");
	CHECK_STR(info.tables[2], "APIC");
	CHECK_STR(info.tables[3], "HPET");
	CHECK_STR(info.tables[4], "SSDT");
	CHECK_STR(info.tables[5], "DSDT");
	CHECK(info.madt_valid && info.fadt_valid && info.hpet_valid);
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 5);
	CHECK_EQ(info.slp_typb, 5);
}

TEST(rsdp_v2_uses_xsdt)
{
	build_machine(2);
	CHECK(parse_std());
	CHECK_EQ(info.warnings, 0);
	CHECK_EQ(info.rsdp_revision, 2);
	CHECK(info.used_xsdt);
	CHECK_EQ(info.root_pa, XSDT_PA);
	CHECK_STR(info.tables[0], "XSDT");
	CHECK_EQ(info.table_count, 6);
	CHECK(has_table("DSDT") && has_table("APIC") && has_table("FACP"));
	/* The XSDT is the one walked: drop the RSDT and nothing changes. */
	memset(mem + RSDT_PA, 0, 64);
	CHECK(parse_std());
	CHECK_EQ(info.warnings, 0);
	CHECK(info.madt_valid && info.fadt_valid && info.s5_valid);
}

TEST(xsdt_fallback_to_rsdt)
{
	build_machine(2);
	/* Corrupt the XSDT signature: the RSDT is used, with a warning. */
	put(XSDT_PA, "XSDX", 4);
	CHECK(parse_std());
	CHECK(!info.used_xsdt);
	CHECK_EQ(info.root_pa, RSDT_PA);
	CHECK_EQ(info.warnings, 2);
	CHECK(info.madt_valid && info.fadt_valid);

	/* Revision 2 with a zero XSDT address: the RSDT, silently. */
	build_machine(2);
	put_rsdp(RSDP_PA, 2, RSDT_PA, 0);
	CHECK(parse_std());
	CHECK(!info.used_xsdt);
	CHECK_EQ(info.warnings, 0);

	/* XSDT outside memory and no RSDT: nothing to walk. */
	build_machine(2);
	put_rsdp(RSDP_PA, 2, 0, 0x7fff0000);
	CHECK(!parse_std());
	CHECK_EQ(info.table_count, 0);
	CHECK(!info.madt_valid);
}

TEST(madt_contents)
{
	build_machine(2);
	CHECK(parse_std());
	CHECK(info.madt_valid);
	CHECK_EQ(info.lapic_address, 0xfee00000);
	CHECK_EQ(info.madt_flags, ACPI_MADT_PCAT_COMPAT);
	CHECK_EQ(info.cpu_count, 4);
	CHECK_EQ(info.cpus[0].apic_id, 0);
	CHECK_EQ(info.cpus[1].apic_id, 1);
	CHECK_EQ(info.cpus[2].apic_id, 3);
	CHECK_EQ(info.cpus[3].apic_id, 0x100);
	CHECK(cpu_by_id(2) == NULL);
	CHECK(cpu_by_id(0x101) == NULL);
	CHECK(info.cpus[0].enabled && !info.cpus[0].online_capable);
	CHECK(!info.cpus[2].enabled && info.cpus[2].online_capable);
	CHECK_EQ(info.cpus[2].acpi_uid, 3);
	CHECK(info.cpus[3].enabled && info.cpus[3].x2apic);
	CHECK(!info.cpus[0].x2apic);
	CHECK_EQ(info.cpus[3].acpi_uid, 0x100);
	CHECK_EQ(info.cpus_dropped, 0);

	CHECK_EQ(info.ioapic_count, 1);
	CHECK_EQ(info.ioapics[0].id, 0);
	CHECK_EQ(info.ioapics[0].address, 0xfec00000);
	CHECK_EQ(info.ioapics[0].gsi_base, 0);

	CHECK_EQ(info.iso_count, 2);
	CHECK_EQ(info.isos[0].bus, 0);
	CHECK_EQ(info.isos[0].source_irq, 0);
	CHECK_EQ(info.isos[0].gsi, 2);
	CHECK_EQ(info.isos[0].flags, 0);
	CHECK_EQ(info.isos[1].source_irq, 9);
	CHECK_EQ(info.isos[1].gsi, 9);
	CHECK_EQ(info.isos[1].flags, 0xd);

	CHECK_EQ(info.nmi_count, 2);
	CHECK_EQ(info.nmis[0].acpi_uid, ACPI_UID_ALL);
	CHECK_EQ(info.nmis[0].lint, 1);
	CHECK_EQ(info.nmis[1].acpi_uid, ACPI_UID_ALL);
	CHECK_EQ(info.nmis[1].flags, 5);
	CHECK_EQ(info.nmis[1].lint, 1);
}

TEST(madt_online_capable_needs_rev5)
{
	/* Before MADT revision 5 bit 1 was reserved: a CPU with only that bit
	 * set is not usable. */
	build_machine(2);
	build_madt(MADT_PA, 4);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 3);
	CHECK(cpu_by_id(3) == NULL);
	/* Enabled plus the (contradictory) online-capable bit: enabled. */
	struct tb t;
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 3);
	tb_end(&t);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 1);
	CHECK(info.cpus[0].enabled && !info.cpus[0].online_capable);
}

TEST(madt_lapic_override_and_duplicates)
{
	struct tb t;

	build_machine(2);
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 1);
	madt_lapic(&t, 1, 1, 1);
	madt_lapic(&t, 7, 1, 1);        /* duplicate ID 1 */
	madt_x2apic(&t, 1, 1, 8);       /* the same ID as x2APIC */
	madt_lapic(&t, 9, 0xff, 1);     /* broadcast ID */
	madt_override(&t, 0x1fee00000ull);
	tb_end(&t);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 2);
	CHECK_EQ(info.cpus[1].apic_id, 1);
	CHECK_EQ(info.cpus[1].acpi_uid, 1);
	CHECK(!info.cpus[1].x2apic);
	CHECK_EQ(info.warnings, 3);
	CHECK_EQ(info.lapic_address, 0x1fee00000ull);
}

TEST(madt_bad_entry_lengths)
{
	struct tb t;

	/* Length 0: the walk stops; the entry after it is not seen. */
	build_machine(2);
	for (u8 bad = 0; bad < 2; bad++) {
		madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
		madt_lapic(&t, 0, 0, 1);
		tb_u8(&t, 0);
		tb_u8(&t, bad);
		madt_lapic(&t, 1, 1, 1);
		tb_end(&t);
		CHECK(parse_std());
		CHECK(info.madt_valid);
		CHECK_EQ(info.cpu_count, 1);
		CHECK_EQ(info.warnings, 1);
		CHECK(strstr(host_last_log, "length") != NULL);
	}

	/* An entry running past the end of the table stops the walk. */
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 1);
	madt_ioapic(&t, 0, 0xfec00000, 0);
	tb_end(&t);
	put8(MADT_PA + 44 + 8 + 1, 40);
	table_sum(MADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 1);
	CHECK_EQ(info.ioapic_count, 0);
	CHECK_EQ(info.warnings, 1);
	CHECK(strstr(host_last_log, "past the table end") != NULL);

	/* A lone trailing byte. */
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	madt_lapic(&t, 0, 0, 1);
	tb_u8(&t, 0);
	tb_end(&t);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 1);
	CHECK_EQ(info.warnings, 1);

	/* An entry too short for its type is skipped, the walk goes on. */
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	tb_u8(&t, 0);
	tb_u8(&t, 4);
	tb_u8(&t, 5);
	tb_u8(&t, 5);
	madt_x2apic(&t, 0x200, 1, 1);
	madt_ioapic(&t, 2, 0xfec01000, 24);
	tb_end(&t);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, 1);
	CHECK_EQ(info.cpus[0].apic_id, 0x200);
	CHECK_EQ(info.ioapic_count, 1);
	CHECK_EQ(info.ioapics[0].gsi_base, 24);
	CHECK_EQ(info.warnings, 1);

	/* A MADT shorter than its fixed part is not used. */
	madt_begin(&t, MADT_PA, 5, 0xfee00000, 0);
	t.len = 40;
	tb_end(&t);
	CHECK(parse_std());
	CHECK(!info.madt_valid);
	CHECK_EQ(info.cpu_count, 0);
	CHECK(has_table("APIC"));
}

TEST(madt_limits)
{
	struct tb t;

	build_machine(2);
	madt_begin(&t, BIG_PA, 5, 0xfee00000, 0);
	for (u32 i = 0; i < 300; i++)
		madt_x2apic(&t, 1000 + i, 1, i);
	for (u32 i = 0; i < 10; i++)
		madt_ioapic(&t, (u8)i, 0xfec00000 + i * 0x1000, i * 24);
	for (u32 i = 0; i < 20; i++)
		madt_iso(&t, (u8)i, i, 0);
	for (u32 i = 0; i < 20; i++)
		madt_nmi(&t, (u8)i, 0, 1);
	tb_end(&t);
	put_rsdp(RSDP_PA, 0, RSDT_PA, 0);
	put32(RSDT_PA + 36 + 4, BIG_PA);
	table_sum(RSDT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.cpu_count, ACPI_MAX_CPUS);
	CHECK_EQ(info.cpus_dropped, 300 - ACPI_MAX_CPUS);
	for (u32 i = 0; i < ACPI_MAX_CPUS; i++)
		CHECK_EQ(info.cpus[i].apic_id, 1000 + i);
	CHECK_EQ(info.ioapic_count, ACPI_MAX_IOAPICS);
	CHECK_EQ(info.ioapics[7].gsi_base, 7 * 24);
	CHECK_EQ(info.iso_count, ACPI_MAX_ISOS);
	CHECK_EQ(info.nmi_count, ACPI_MAX_NMIS);
	/* One for the CPUs, 2 IOAPICs, 4 overrides, 4 NMIs. */
	CHECK_EQ(info.warnings, 1 + 2 + 4 + 4);
}

TEST(fadt_revision1_short)
{
	build_machine(0);
	CHECK(parse_std());
	CHECK(info.fadt_valid);
	CHECK_EQ(info.fadt_revision, 1);
	CHECK_EQ(info.fadt_length, 116);
	CHECK_EQ(info.sci_irq, 9);
	CHECK_EQ(info.smi_cmd, 0xb2);
	CHECK_EQ(info.acpi_enable, 0xf1);
	CHECK_EQ(info.acpi_disable, 0xf0);
	CHECK_EQ(info.pm1a_evt, 0x600);
	CHECK_EQ(info.pm1b_evt, 0);
	CHECK_EQ(info.pm1a_cnt, 0x604);
	CHECK_EQ(info.pm1b_cnt, 0);
	CHECK_EQ(info.pm1_evt_len, 4);
	CHECK_EQ(info.pm1_cnt_len, 2);
	CHECK_EQ(info.pm_tmr_port, 0x608);
	CHECK(!info.pm_tmr_32bit);
	CHECK(!info.reset_valid);
	CHECK_EQ(info.century, 0x32);
	CHECK(!info.boot_arch_valid);
	CHECK(info.legacy_devices && info.has_8042);
	CHECK_EQ(info.dsdt_pa, DSDT_PA);
	CHECK(!info.hw_reduced);

	/* RESET_REG_SUP in a table too short to hold RESET_REG. */
	put32(FADT_PA + F_FLAGS, ACPI_FADT_RESET_REG_SUP);
	put_gas(FADT_PA + F_RESET_REG, ACPI_GAS_SYSTEM_IO, 8, 0, 1, 0xcf9);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(!info.reset_valid);
	CHECK_EQ(info.warnings, 1);
	CHECK(strstr(host_last_log, "has no RESET_REG") != NULL);
}

TEST(fadt_revision5)
{
	build_machine(2);
	CHECK(parse_std());
	CHECK(info.fadt_valid);
	CHECK_EQ(info.fadt_revision, 5);
	CHECK_EQ(info.fadt_length, 268);
	CHECK_EQ(info.pm1a_evt, 0xb000);
	CHECK_EQ(info.pm1a_cnt, 0xb004);
	CHECK_EQ(info.pm1b_cnt, 0xb104);
	CHECK_EQ(info.pm_tmr_port, 0xb008);
	CHECK(info.pm_tmr_32bit);
	CHECK(info.reset_valid);
	CHECK_EQ(info.reset_reg.space_id, ACPI_GAS_SYSTEM_IO);
	CHECK_EQ(info.reset_reg.bit_width, 8);
	CHECK_EQ(info.reset_reg.address, 0xcf9);
	CHECK_EQ(info.reset_value, 0x0f);
	CHECK(info.boot_arch_valid);
	CHECK_EQ(info.iapc_boot_arch, ACPI_BOOT_8042);
	CHECK(!info.legacy_devices && info.has_8042);
	CHECK_EQ(info.fadt_flags & ACPI_FADT_RESET_REG_SUP, ACPI_FADT_RESET_REG_SUP);
	CHECK_EQ(info.dsdt_pa, DSDT_PA);
}

TEST(fadt_x_fields)
{
	/* Only the X_ fields given: they are used. */
	build_machine(2);
	put32(FADT_PA + F_PM1A_EVT, 0);
	put32(FADT_PA + F_PM1A_CNT, 0);
	put32(FADT_PA + F_PM_TMR, 0);
	put32(FADT_PA + F_DSDT, 0);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.warnings, 0);
	CHECK_EQ(info.pm1a_evt, 0xb000);
	CHECK_EQ(info.pm1a_cnt, 0xb004);
	CHECK_EQ(info.pm_tmr_port, 0xb008);
	CHECK_EQ(info.dsdt_pa, DSDT_PA);
	CHECK(info.s5_valid);

	/* X_ and 32-bit disagree: X_ wins, with a warning. */
	build_machine(2);
	put32(FADT_PA + F_PM1A_CNT, 0x404);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.pm1a_cnt, 0xb004);
	CHECK_EQ(info.warnings, 1);

	/* X_ in memory space, or beyond 16 bits: the 32-bit field is used. */
	build_machine(2);
	put_gas(FADT_PA + F_X_PM_TMR, ACPI_GAS_SYSTEM_MEMORY, 32, 0, 3, 0x1008);
	put_gas(FADT_PA + F_X_PM1A_CNT, ACPI_GAS_SYSTEM_IO, 16, 0, 0, 0x10004);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.pm_tmr_port, 0xb008);
	CHECK_EQ(info.pm1a_cnt, 0xb004);
	CHECK_EQ(info.warnings, 2);

	/* A 32-bit "port" beyond 16 bits is dropped. */
	build_machine(0);
	put32(FADT_PA + F_PM1A_CNT, 0x12345);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.pm1a_cnt, 0);
	CHECK_EQ(info.warnings, 1);
}

TEST(fadt_too_short_for_x_fields)
{
	/* Revision 3 FADT cut to 200 bytes: X_PM1a..X_PM1b_CNT are inside, X_DSDT
	 * too, but X_PM_TMR (208) is not, so bytes beyond must be ignored. */
	build_machine(2);
	put32(FADT_PA + 4, 200);
	put8(FADT_PA + 8, 3);
	put32(FADT_PA + F_PM_TMR, 0x408);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.fadt_length, 200);
	CHECK_EQ(info.pm_tmr_port, 0x408);
	CHECK_EQ(info.pm1a_cnt, 0xb004);
	CHECK_EQ(info.warnings, 0);

	/* Cut to 140: no X_DSDT; a different value past the end is ignored. */
	build_machine(2);
	put32(FADT_PA + 4, 140);
	put64(FADT_PA + F_X_DSDT, 0x1234000);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK_EQ(info.dsdt_pa, DSDT_PA);
	CHECK(info.reset_valid);
	CHECK(info.s5_valid);

	/* Cut below the ACPI 1.0 size (before PM_TMR_BLK): warn, use what is
	 * there. */
	build_machine(0);
	put32(FADT_PA + 4, 76);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(info.fadt_valid);
	CHECK_EQ(info.pm1a_cnt, 0x604);
	CHECK_EQ(info.pm_tmr_port, 0);
	CHECK_EQ(info.warnings, 1);
}

TEST(fadt_reset_register_checks)
{
	build_machine(2);
	put_gas(FADT_PA + F_RESET_REG, 3, 8, 0, 1, 0xcf9);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(!info.reset_valid);
	CHECK_EQ(info.warnings, 1);

	build_machine(2);
	put_gas(FADT_PA + F_RESET_REG, ACPI_GAS_SYSTEM_MEMORY, 8, 0, 1, 0);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(!info.reset_valid);

	/* PCI config space (bus 0, dev 0x1f, fn 0, reg 0xac): accepted. */
	build_machine(2);
	put_gas(FADT_PA + F_RESET_REG, ACPI_GAS_PCI_CONFIG, 8, 0, 1,
		0x1full << 32 | 0xac);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(info.reset_valid);
	CHECK_EQ(info.reset_reg.space_id, ACPI_GAS_PCI_CONFIG);
	CHECK_EQ(info.reset_reg.address, 0x1full << 32 | 0xac);

	/* Flag clear: no reset register even though the GAS is filled in. */
	build_machine(2);
	put32(FADT_PA + F_FLAGS, ACPI_FADT_TMR_VAL_EXT);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(!info.reset_valid);
	CHECK_EQ(info.warnings, 0);
}

/* ---- \_S5 ------------------------------------------------------------------ */

static void s5_case(const u8 *aml, size_t n)
{
	build_machine(2);
	build_dsdt(aml, n);
	CHECK(parse_std());
}

TEST(s5_forms)
{
	s5_case(s5_qemu, sizeof(s5_qemu));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 5);
	CHECK_EQ(info.slp_typb, 5);

	s5_case(s5_bochs, sizeof(s5_bochs));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 0);
	CHECK_EQ(info.slp_typb, 0);
	CHECK_EQ(info.warnings, 0);

	s5_case(s5_pkg2, sizeof(s5_pkg2));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 7);
	CHECK_EQ(info.slp_typb, 3);
	CHECK_EQ(info.warnings, 0);

	s5_case(s5_single, sizeof(s5_single));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 7);
	CHECK_EQ(info.slp_typb, 5);

	/* A long package whose PkgLength really needs two bytes (163). */
	u8 big[9 + 160];
	size_t n = 0;
	memcpy(big, "\x08_S5_\x12\x43\x0a\x20", 9);
	n = 9;
	for (u32 i = 0; i < 32; i++) {
		big[n++] = 0x0c;
		u32 v = i == 0 ? 3 : i == 1 ? 4 : 0x1000 + i;
		memcpy(big + n, &v, 4);
		n += 4;
	}
	CHECK_EQ(n, 5 + 1 + 163);
	s5_case(big, n);
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 3);
	CHECK_EQ(info.slp_typb, 4);
	CHECK_EQ(info.warnings, 0);

	/* Values wider than 3 bits: warned, truncated to a byte as ACPICA does. */
	static const u8 wide[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x02,
				   0x0b, 0x05, 0x01, 0x0a, 0x09 };
	s5_case(wide, sizeof(wide));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 5);
	CHECK_EQ(info.slp_typb, 9);
	CHECK_EQ(info.warnings, 1);
}

TEST(s5_in_ssdt)
{
	/* DSDT without _S5 (just the prefix, whose _S3 must not count). */
	s5_case(NULL, 0);
	CHECK(!info.s5_valid);
	CHECK_EQ(info.warnings, 0);

	build_aml_table(SSDT_PA, "SSDT", ssdt_plain, sizeof(ssdt_plain),
			s5_ssdt, sizeof(s5_ssdt));
	CHECK(parse_std());
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 2);
	CHECK_EQ(info.slp_typb, 3);

	/* The DSDT's _S5 wins over an SSDT's. */
	build_dsdt(s5_qemu, sizeof(s5_qemu));
	CHECK(parse_std());
	CHECK_EQ(info.slp_typa, 5);

	/* A Method (_S5) is not decoded (no interpreter). */
	static const u8 method[] = { 0x14, 0x0a, '_', 'S', '5', '_', 0x00,
				     0xa4, 0x12, 0x03, 0x01, 0x00 };
	build_machine(2);
	build_dsdt(method, sizeof(method));
	CHECK(parse_std());
	CHECK(!info.s5_valid);
}

TEST(s5_malformed)
{
	/* _S5_ as the very last bytes of the DSDT. */
	static const u8 end1[] = { 0x08, '_', 'S', '5', '_' };
	s5_case(end1, sizeof(end1));
	CHECK(!info.s5_valid);
	CHECK_EQ(info.warnings, 1);

	/* The package cut off inside its elements, and at each shorter point. */
	for (size_t cut = 6; cut < sizeof(s5_qemu) - 2; cut++) {
		s5_case(s5_qemu, cut);
		CHECK(!info.s5_valid);
		CHECK_EQ(info.warnings, 1);
	}

	/* PkgLength with reserved bits 5:4 set in a multi-byte lead (which
	 * would otherwise decode as a valid 7-byte package). */
	static const u8 badlead[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x77,
				      0x00, 0x04, 0x0a, 0x05, 0x0a, 0x05 };
	s5_case(badlead, sizeof(badlead));
	CHECK(!info.s5_valid);
	CHECK_EQ(info.warnings, 1);

	/* A four-byte PkgLength far beyond the table. */
	static const u8 huge[] = { 0x08, '_', 'S', '5', '_', 0x12, 0xc0, 0xff,
				   0xff, 0xff, 0x04, 0x00, 0x00 };
	s5_case(huge, sizeof(huge));
	CHECK(!info.s5_valid);

	/* PkgLength too small to hold even NumElements. */
	static const u8 tiny[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x01, 0x04,
				   0x00, 0x00 };
	s5_case(tiny, sizeof(tiny));
	CHECK(!info.s5_valid);

	/* Elements that are not integer constants (a String). */
	static const u8 str[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x02,
				  0x0d, 'a', 0x00, 0x00, 0x00 };
	s5_case(str, sizeof(str));
	CHECK(!info.s5_valid);

	/* Zero elements. */
	static const u8 empty[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x00 };
	s5_case(empty, sizeof(empty));
	CHECK(!info.s5_valid);

	/* An element whose prefix is inside the package but whose value runs
	 * past PkgLength. */
	static const u8 spill[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02,
				    0x0a, 0x05, 0x0b, 0x03, 0x00 };
	s5_case(spill, sizeof(spill));
	CHECK(!info.s5_valid);

	/* A malformed one followed by a good one: the good one is found. */
	u8 two[sizeof(badlead) + sizeof(s5_bochs)];
	memcpy(two, badlead, sizeof(badlead));
	memcpy(two + sizeof(badlead), s5_bochs, sizeof(s5_bochs));
	s5_case(two, sizeof(two));
	CHECK(info.s5_valid);
	CHECK_EQ(info.slp_typa, 0);
	CHECK_EQ(info.warnings, 1);
}

TEST(s5_pm1_value)
{
	struct acpi_info a;

	memset(&a, 0, sizeof(a));
	a.slp_typa = 5;
	a.slp_typb = 0;
	CHECK_EQ(acpi_s5_pm1_value(&a, false), 0);
	a.s5_valid = true;
	CHECK_EQ(acpi_s5_pm1_value(&a, false), (5 << 10) | (1 << 13));
	CHECK_EQ(acpi_s5_pm1_value(&a, true), 1 << 13);
	a.slp_typb = 7;
	CHECK_EQ(acpi_s5_pm1_value(&a, true), 0x3c00);
	/* Garbage above 3 bits stays out of the other fields. */
	a.slp_typa = 0xff;
	CHECK_EQ(acpi_s5_pm1_value(&a, false) &
			 ~(ACPI_PM1_CNT_SLP_TYP_MASK | ACPI_PM1_CNT_SLP_EN),
		 0);

	build_machine(2);
	CHECK(parse_std());
	CHECK_EQ(acpi_s5_pm1_value(&info, false), 0x3400);
}

/* ---- HPET ------------------------------------------------------------------ */

TEST(hpet)
{
	build_machine(2);
	CHECK(parse_std());
	CHECK(info.hpet_valid);
	CHECK_EQ(info.hpet_address, 0xfed00000);
	CHECK_EQ(info.hpet_block_id, 0x8086a201);
	CHECK_EQ(info.hpet_number, 0);
	CHECK_EQ(info.hpet_min_tick, 0x37ee);

	build_hpet(HPET_PA, ACPI_GAS_SYSTEM_IO, 0x1000);
	CHECK(parse_std());
	CHECK(!info.hpet_valid);
	CHECK_EQ(info.warnings, 1);

	build_hpet(HPET_PA, ACPI_GAS_SYSTEM_MEMORY, 0xfed00000);
	put32(HPET_PA + 4, 50);
	table_sum(HPET_PA);
	CHECK(parse_std());
	CHECK(!info.hpet_valid);
	CHECK(has_table("HPET"));
}

/* ---- malformed RSDP and tables ------------------------------------------- */

TEST(rsdp_rejected)
{
	build_machine(2);
	mem[RSDP_PA + 9] ^= 1; /* OEM byte: both checksums break */
	CHECK(!parse_std());
	CHECK_EQ(info.warnings, 1);
	CHECK(strstr(host_last_log, "checksum") != NULL);
	CHECK_EQ(info.table_count, 0);
	CHECK(!info.madt_valid && !info.fadt_valid);

	/* Only the extended checksum is wrong. */
	build_machine(2);
	mem[RSDP_PA + 33] ^= 1;
	CHECK(!parse_std());
	CHECK(strstr(host_last_log, "extended checksum") != NULL);

	/* A revision 2 RSDP in a 20-byte copy (GRUB's old-ACPI tag) is used
	 * as revision 1: through the RSDT. */
	build_machine(2);
	CHECK(parse_copy(RSDP_PA, 20));
	CHECK_EQ(info.rsdp_revision, 2);
	CHECK(!info.used_xsdt);
	CHECK_EQ(info.warnings, 0);
	CHECK(info.madt_valid && info.fadt_valid);
	/* But 21..35 bytes of one are an error. */
	CHECK(!parse_copy(RSDP_PA, 30));
	CHECK(strstr(host_last_log, "too short") != NULL);

	/* Length field beyond the copy. */
	build_machine(2);
	put32(RSDP_PA + 20, 64);
	sum_fix(RSDP_PA, 20, 8);
	sum_fix(RSDP_PA, 36, 32);
	CHECK(!parse_std());
	CHECK(strstr(host_last_log, "length") != NULL);

	build_machine(0);
	CHECK(!parse_copy(RSDP_PA, 19));
	mem[RSDP_PA] = 'r';
	CHECK(!parse_std());
	CHECK(strstr(host_last_log, "signature") != NULL);

	CHECK(!acpi_parse(&reader, NULL, 0, &info));
}

TEST(root_table_problems)
{
	/* RSDT outside memory. */
	build_machine(0);
	put_rsdp(RSDP_PA, 0, 0x80000000u, 0);
	CHECK(!parse_std());
	CHECK_EQ(info.warnings, 1);
	CHECK(strstr(host_last_log, "not readable") != NULL);

	/* An RSDP address whose range wraps the physical address space. */
	CHECK(!acpi_parse_phys(&reader, ~0ull - 4, &info));

	/* RSDT with a wrong signature. */
	build_machine(0);
	put(RSDT_PA, "XSDT", 4);
	table_sum(RSDT_PA);
	CHECK(!parse_std());

	/* RSDT length smaller than a header, and huge. */
	build_machine(0);
	put32(RSDT_PA + 4, 20);
	CHECK(!parse_std());
	put32(RSDT_PA + 4, 0xfffffff0u);
	CHECK(!parse_std());
	CHECK(strstr(host_last_log, "bad length") != NULL);

	/* Null, out-of-memory and ragged entries are skipped; the rest used. */
	build_machine(0);
	static const u32 e[] = { 0, 0x7ff00000, FADT_PA, MADT_PA };
	put_rsdt(RSDT_PA, e, 4);
	put32(RSDT_PA + 4, 36 + 16 + 2);
	table_sum(RSDT_PA);
	CHECK(parse_std());
	CHECK(info.fadt_valid && info.madt_valid && !info.hpet_valid);
	CHECK_EQ(info.warnings, 3);

	/* A bad RSDT checksum is only a warning. */
	build_machine(0);
	mem[RSDT_PA + 9] ^= 0x55;
	CHECK(parse_std());
	CHECK_EQ(info.warnings, 1);
	CHECK(info.madt_valid);
}

TEST(table_header_problems)
{
	/* MADT with a bad checksum: warned and used. */
	build_machine(2);
	mem[MADT_PA + 9] ^= 1;
	CHECK(parse_std());
	CHECK(info.madt_valid);
	CHECK_EQ(info.cpu_count, 4);
	CHECK_EQ(info.warnings, 1);

	/* MADT length below the header size: ignored, not listed. */
	build_machine(2);
	put32(MADT_PA + 4, 10);
	CHECK(parse_std());
	CHECK(!info.madt_valid);
	CHECK(!has_table("APIC"));
	CHECK(info.fadt_valid);
	CHECK_EQ(info.warnings, 1);

	/* Huge length. */
	put32(MADT_PA + 4, 0xffffff00u);
	CHECK(parse_std());
	CHECK(!info.madt_valid);
	CHECK(strstr(host_last_log, "bad length") != NULL);

	/* Plausible length, but running off the end of memory. */
	put32(MADT_PA + 4, 0x00f00000u);
	CHECK(parse_std());
	CHECK(!info.madt_valid);
	CHECK(strstr(host_last_log, "not readable") != NULL);

	/* DSDT pointer to something that is not a DSDT. */
	build_machine(2);
	put64(FADT_PA + F_X_DSDT, MADT_PA);
	put32(FADT_PA + F_DSDT, MADT_PA);
	table_sum(FADT_PA);
	CHECK(parse_std());
	CHECK(!info.s5_valid);
	CHECK(!has_table("DSDT"));
	CHECK_EQ(info.warnings, 1);

	/* Two FADTs and two MADTs: the first of each is kept. */
	build_machine(0);
	build_fadt_v5(BIG_PA, DSDT_PA);
	struct tb t;
	madt_begin(&t, BIG_PA + 0x1000, 5, 0xfee00000, 0);
	madt_lapic(&t, 0, 9, 1);
	tb_end(&t);
	static const u32 e[] = { FADT_PA, MADT_PA, BIG_PA, BIG_PA + 0x1000 };
	put_rsdt(RSDT_PA, e, 4);
	CHECK(parse_std());
	CHECK_EQ(info.fadt_revision, 1);
	CHECK_EQ(info.cpu_count, 4);
	CHECK(cpu_by_id(9) == NULL);
	CHECK_EQ(info.warnings, 2);
}

TEST(table_list_overflow)
{
	u32 e[40];

	build_machine(0);
	for (u32 i = 0; i < 40; i++) {
		e[i] = BIG_PA + i * 0x100;
		build_aml_table(e[i], "SSDT", ssdt_plain, sizeof(ssdt_plain),
				NULL, 0);
	}
	put_rsdt(RSDT_PA, e, 40);
	CHECK(parse_std());
	CHECK_EQ(info.table_count, ACPI_MAX_TABLES);
	CHECK_EQ(info.tables_omitted, 41 - ACPI_MAX_TABLES);
	CHECK_EQ(info.warnings, 0);
	CHECK(!info.fadt_valid);

	/* A root table listing more than 1024 tables: only 1024 are walked. */
	u32 *many = calloc(1100, sizeof(*many));
	for (u32 i = 0; i < 1100; i++)
		many[i] = SSDT_PA;
	put_rsdt(BIG_PA + 0x8000, many, 1100);
	free(many);
	put_rsdp(RSDP_PA, 0, BIG_PA + 0x8000, 0);
	CHECK(parse_std());
	CHECK_EQ(info.table_count + info.tables_omitted, 1 + 1024);
	CHECK_EQ(info.warnings, 1);
}

/* ---- legacy RSDP scan ---------------------------------------------------- */

TEST(legacy_scan)
{
	paddr_t pa = 0;

	/* In the BIOS area. */
	build_machine(2);
	CHECK(acpi_find_rsdp_legacy(&reader, &pa));
	CHECK_EQ(pa, RSDP_PA);
	CHECK(acpi_parse_phys(&reader, pa, &info));
	CHECK(info.used_xsdt && info.madt_valid && info.s5_valid);
	CHECK_EQ(info.warnings, 0);

	/* In the EBDA: found first. */
	put_rsdp(EBDA_PA + 0x40, 0, RSDT_PA, 0);
	CHECK(acpi_find_rsdp_legacy(&reader, &pa));
	CHECK_EQ(pa, EBDA_PA + 0x40);
	CHECK(acpi_parse_phys(&reader, pa, &info));
	CHECK(!info.used_xsdt && info.fadt_valid);

	/* Beyond the EBDA's first KiB: not searched. */
	memset(mem + EBDA_PA, 0, 0x400);
	memset(mem + RSDP_PA, 0, 36);
	put_rsdp(EBDA_PA + 0x400, 0, RSDT_PA, 0);
	CHECK(!acpi_find_rsdp_legacy(&reader, &pa));

	/* Not on a 16-byte boundary: ignored. */
	put_rsdp(0xe0008, 2, RSDT_PA, XSDT_PA);
	CHECK(!acpi_find_rsdp_legacy(&reader, &pa));

	/* A bad checksum is skipped, the next good one found. */
	put_rsdp(0xe0000, 0, RSDT_PA, 0);
	mem[0xe0000 + 8] ^= 1;
	put_rsdp(0xe0100, 0, RSDT_PA, 0);
	CHECK(acpi_find_rsdp_legacy(&reader, &pa));
	CHECK_EQ(pa, 0xe0100);

	/* A revision 2 RSDP with only the extended checksum wrong is skipped. */
	memset(mem + 0xe0100, 0, 36);
	put_rsdp(0xe0040, 2, RSDT_PA, XSDT_PA);
	mem[0xe0040 + 32] ^= 1;
	put_rsdp(0xffff0, 0, RSDT_PA, 0);
	CHECK(acpi_find_rsdp_legacy(&reader, &pa));
	CHECK_EQ(pa, 0xffff0);

	/* No EBDA pointer, nothing in the BIOS area. */
	memset(mem, 0, MEM_SIZE);
	CHECK(!acpi_find_rsdp_legacy(&reader, &pa));
	/* An "EBDA" inside the interrupt vector table is not searched. */
	put16(0x40e, 0x0020);
	put_rsdp(0x200, 0, RSDT_PA, 0);
	CHECK(!acpi_find_rsdp_legacy(&reader, &pa));
	put16(0x40e, 0x9000);
	put_rsdp(0x90000, 0, RSDT_PA, 0);
	CHECK(acpi_find_rsdp_legacy(&reader, &pa));
	CHECK_EQ(pa, 0x90000);
}

TEST(print_summary)
{
	build_machine(2);
	CHECK(parse_std());
	int infos = host_log_count[LOG_INFO];
	int warns = host_log_count[LOG_WARN];
	acpi_print(&info);
	CHECK(host_log_count[LOG_INFO] - infos >= 10);
	CHECK_EQ(host_log_count[LOG_WARN], warns);
	CHECK_STR(host_last_log,
		  "acpi: HPET #0 at 0xfed00000, min tick 14318, block id 0x8086a201");

	/* Many CPUs wrap over several lines; an empty info prints too. */
	memset(&info, 0, sizeof(info));
	info.madt_valid = true;
	info.cpu_count = ACPI_MAX_CPUS;
	for (u32 i = 0; i < ACPI_MAX_CPUS; i++)
		info.cpus[i].apic_id = 0xfffffff0u + (i & 15);
	acpi_print(&info);
	CHECK_STR(host_last_log, "acpi: no HPET");
}

/* ---- fuzzing ------------------------------------------------------------- */

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u32 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (u32)(rng_state >> 16);
}

static void check_sane(bool ok)
{
	CHECK(info.cpu_count <= ACPI_MAX_CPUS);
	CHECK(info.ioapic_count <= ACPI_MAX_IOAPICS);
	CHECK(info.iso_count <= ACPI_MAX_ISOS);
	CHECK(info.nmi_count <= ACPI_MAX_NMIS);
	CHECK(info.table_count <= ACPI_MAX_TABLES);
	for (u32 i = 0; i < info.cpu_count; i++) {
		CHECK(info.cpus[i].enabled != info.cpus[i].online_capable);
		for (u32 j = 0; j < i; j++)
			CHECK(info.cpus[i].apic_id != info.cpus[j].apic_id);
	}
	if (!ok)
		CHECK(info.table_count == 0 && !info.madt_valid &&
		      !info.fadt_valid && !info.hpet_valid && !info.s5_valid);
	if (info.hpet_valid)
		CHECK(info.hpet_address != 0);
	if (info.reset_valid)
		CHECK(info.reset_reg.address != 0 && info.fadt_valid);
	if (info.s5_valid)
		CHECK_EQ(acpi_s5_pm1_value(&info, false) &
				 ~(ACPI_PM1_CNT_SLP_TYP_MASK | ACPI_PM1_CNT_SLP_EN),
			 0);
	CHECK(info.oem_id[6] == '\0');
	for (u32 i = 0; i < info.table_count; i++)
		CHECK(strlen(info.tables[i]) == 4);
}

/* Where the valid tables live, to aim mutations at them. */
static const struct {
	paddr_t pa;
	u32 len;
} fuzz_regions[] = {
	{ RSDT_PA, 64 }, { XSDT_PA, 80 }, { MADT_PA, 160 }, { FADT_PA, 280 },
	{ DSDT_PA, 80 }, { SSDT_PA, 64 }, { HPET_PA, 64 }, { RSDP_PA, 36 },
};

static u8 snapshot[0x6000];
static u8 rsdp_snapshot[64];

TEST(fuzz_tables)
{
	unsigned long found_s5 = 0, ok_count = 0, cpus = 0;

	build_machine(2);
	memcpy(snapshot, mem + RSDT_PA, sizeof(snapshot));
	memcpy(rsdp_snapshot, mem + RSDP_PA, sizeof(rsdp_snapshot));
	for (int iter = 0; iter < 20000; iter++) {
		int nmut = 1 + rng() % 6;
		for (int m = 0; m < nmut; m++) {
			/* The RSDP is mutated rarely: it is checked strictly. */
			u32 reg = rng() % (ARRAY_SIZE(fuzz_regions) * 4);
			if (reg >= ARRAY_SIZE(fuzz_regions))
				reg %= ARRAY_SIZE(fuzz_regions) - 1;
			paddr_t pa = fuzz_regions[reg].pa +
				     rng() % fuzz_regions[reg].len;
			u32 kind = rng() % 8;
			mem[pa] = kind == 0 ? 0 : kind == 1 ? 0xff :
				  kind == 2 ? mem[pa] ^ (1u << (rng() % 8)) :
				  (u8)rng();
		}
		/* Usually keep checksums right, so parsing goes deep. */
		if (rng() % 4 != 0) {
			for (size_t i = 0; i + 1 < ARRAY_SIZE(fuzz_regions); i++) {
				paddr_t pa = fuzz_regions[i].pa;
				if (get32(pa + 4) <= 4096)
					table_sum(pa);
			}
			sum_fix(RSDP_PA, 20, 8);
			sum_fix(RSDP_PA, 36, 32);
		}
		bool ok;
		if (iter & 1)
			ok = acpi_parse_phys(&reader, RSDP_PA, &info);
		else
			ok = parse_copy(RSDP_PA, 36);
		check_sane(ok);
		ok_count += ok;
		found_s5 += info.s5_valid;
		cpus += info.cpu_count;
		if (iter % 64 == 0) {
			paddr_t pa;
			put16(0x40e, (u16)rng());
			if (acpi_find_rsdp_legacy(&reader, &pa))
				CHECK(pa % 16 == 0 && pa < 0x100000);
		}
		if (unit_current_failed)
			break;
		memcpy(mem + RSDT_PA, snapshot, sizeof(snapshot));
		memcpy(mem + RSDP_PA, rsdp_snapshot, sizeof(rsdp_snapshot));
	}
	/* The loop must have exercised the parser, not just the rejections. */
	CHECK(ok_count > 10000);
	CHECK(found_s5 > 5000);
	CHECK(cpus > 20000);
}

/* Encodes v as an AML integer, choosing randomly among the encodings that
 * can hold it. */
static size_t enc_int(u8 *p, u64 v)
{
	u32 k = rng() % 5;
	if (v == 0 && k == 0) {
		p[0] = 0x00;
		return 1;
	}
	if (v == 1 && k == 0) {
		p[0] = 0x01;
		return 1;
	}
	if (v <= 0xff && k <= 1) {
		p[0] = 0x0a;
		p[1] = (u8)v;
		return 2;
	}
	if (v <= 0xffff && k <= 2) {
		p[0] = 0x0b;
		memcpy(p + 1, &v, 2);
		return 3;
	}
	if (v <= 0xffffffffu && k <= 3) {
		p[0] = 0x0c;
		memcpy(p + 1, &v, 4);
		return 5;
	}
	p[0] = 0x0e;
	memcpy(p + 1, &v, 8);
	return 9;
}

/* Generated \_S5 packages with random valid encodings must decode to the
 * generated values; every truncation of them must be rejected. */
TEST(fuzz_s5_encodings)
{
	u8 aml[256], pkg[200];
	unsigned long checked = 0;

	build_machine(2);
	for (int iter = 0; iter < 3000; iter++) {
		u64 a = rng() % 8, b = rng() % 8;
		if (rng() % 8 == 0)
			a = rng();
		u32 count = 2 + rng() % 6;
		size_t n = 0;
		pkg[n++] = (u8)count;
		n += enc_int(pkg + n, a);
		n += enc_int(pkg + n, b);
		for (u32 i = 2; i < count && rng() % 2; i++)
			n += enc_int(pkg + n, rng() % 3);

		/* PkgLength in 1..4 bytes (minimal or padded). */
		u32 nb = 1 + rng() % 4;
		if (nb == 1 && n + 1 > 63)
			nb = 2;
		u32 total = (u32)n + nb;
		size_t h = 0;
		aml[h++] = 0x08;
		if (rng() % 2)
			aml[h++] = 0x5c;
		memcpy(aml + h, "_S5_", 4);
		h += 4;
		aml[h++] = 0x12;
		if (nb == 1) {
			aml[h++] = (u8)total;
		} else {
			aml[h++] = (u8)(((nb - 1) << 6) | (total & 0xf));
			for (u32 i = 1; i < nb; i++)
				aml[h++] = (u8)(total >> (4 + 8 * (i - 1)));
		}
		memcpy(aml + h, pkg, n);
		h += n;

		build_dsdt(aml, h);
		CHECK(parse_std());
		CHECK(info.s5_valid);
		CHECK_EQ(info.slp_typa, (u8)a);
		CHECK_EQ(info.slp_typb, (u8)b);

		/* Cut anywhere inside the package: never decoded. */
		size_t cut = h - 1 - rng() % (n + nb);
		build_dsdt(aml, cut);
		CHECK(parse_std());
		CHECK(!info.s5_valid);
		checked++;
		if (unit_current_failed)
			break;
	}
	CHECK_EQ(checked, 3000);
}

int main(void)
{
	RUN(rsdp_v1_uses_rsdt);
	RUN(rsdp_v2_uses_xsdt);
	RUN(xsdt_fallback_to_rsdt);
	RUN(madt_contents);
	RUN(madt_online_capable_needs_rev5);
	RUN(madt_lapic_override_and_duplicates);
	RUN(madt_bad_entry_lengths);
	RUN(madt_limits);
	RUN(fadt_revision1_short);
	RUN(fadt_revision5);
	RUN(fadt_x_fields);
	RUN(fadt_too_short_for_x_fields);
	RUN(fadt_reset_register_checks);
	RUN(s5_forms);
	RUN(s5_in_ssdt);
	RUN(s5_malformed);
	RUN(s5_pm1_value);
	RUN(hpet);
	RUN(rsdp_rejected);
	RUN(root_table_problems);
	RUN(table_header_problems);
	RUN(table_list_overflow);
	RUN(legacy_scan);
	RUN(print_summary);
	RUN(fuzz_tables);
	RUN(fuzz_s5_encodings);
	free(fm.last);
	return unit_report("acpi");
}
