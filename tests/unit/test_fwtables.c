/* The guest's firmware tables, read back with Umbra's own ACPI parser (the
 * one that reads real firmware) and checked against the MP spec. */
#include "tests/unit/unit.h"
#include "drivers/acpi.h"
#include "lib/string.h"
#include "virt/fwtables.h"

#define MEM_SIZE (2u << 20)
static unsigned char *mem;

static bool fake_read(void *ctx, u64 gpa, void *dst, size_t len)
{
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return false;
	memcpy(dst, mem + gpa, len);
	return true;
}

static bool fake_write(void *ctx, u64 gpa, const void *src, size_t len)
{
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return false;
	memcpy(mem + gpa, src, len);
	return true;
}

static const void *phys_map(void *ctx, paddr_t pa, u64 len)
{
	return pa < MEM_SIZE && len <= MEM_SIZE - pa ? mem + pa : NULL;
}

static const struct gpa_access fake_access = { fake_read, fake_write, NULL };
static const struct phys_reader reader = { phys_map, NULL };

static u8 sum(const void *p, size_t n)
{
	u8 s = 0;
	for (size_t i = 0; i < n; i++)
		s += ((const u8 *)p)[i];
	return s;
}

static void build(u32 cpus)
{
	memset(mem, 0, MEM_SIZE);
	struct fw_platform p = { .nr_cpus = cpus, .ioapic_id = (u8)cpus, .ioapic_pins = 24 };
	CHECK(fwtables_build(&fake_access, &p));
}

TEST(acpi_tables_parse_back)
{
	for (u32 cpus = 1; cpus <= 8; cpus += 3) {
		build(cpus);
		paddr_t rsdp;
		CHECK(acpi_find_rsdp_legacy(&reader, &rsdp));
		CHECK_EQ(rsdp, FW_RSDP_ADDR);
		static struct acpi_info a;
		memset(&a, 0, sizeof(a));
		CHECK(acpi_parse_phys(&reader, rsdp, &a));
		CHECK_EQ(a.warnings, 0);
		CHECK(a.used_xsdt);
		CHECK(a.madt_valid);
		CHECK_EQ(a.cpu_count, cpus);
		for (u32 i = 0; i < a.cpu_count; i++) {
			CHECK_EQ(a.cpus[i].apic_id, i);
			CHECK(a.cpus[i].enabled);
		}
		CHECK_EQ(a.lapic_address, GUEST_LAPIC_ADDR);
		CHECK_EQ(a.ioapic_count, 1);
		CHECK_EQ(a.ioapics[0].address, GUEST_IOAPIC_ADDR);
		CHECK_EQ(a.ioapics[0].id, cpus);
		CHECK_EQ(a.iso_count, 2);
		CHECK_EQ(a.isos[0].source_irq, 0);
		CHECK_EQ(a.isos[0].gsi, 2);
		CHECK(a.fadt_valid);
		CHECK_EQ(a.pm_tmr_port, GUEST_PM_TMR);
		CHECK_EQ(a.pm1a_cnt, GUEST_PM1A_CNT);
		CHECK_EQ(a.sci_irq, GUEST_SCI_IRQ);
		CHECK(a.s5_valid);
		CHECK_EQ(a.slp_typa, GUEST_S5_SLP_TYP);
	}
}

TEST(mp_table_checksums_and_entries)
{
	build(4);
	const u8 *f = mem + FW_MP_FLOATING;
	CHECK(!memcmp(f, "_MP_", 4));
	CHECK_EQ(sum(f, 16), 0);
	u32 cfg;
	memcpy(&cfg, f + 4, 4);
	CHECK_EQ(cfg, FW_MP_CONFIG);
	const u8 *c = mem + cfg;
	CHECK(!memcmp(c, "PCMP", 4));
	u16 len, entries;
	memcpy(&len, c + 4, 2);
	memcpy(&entries, c + 34, 2);
	CHECK_EQ(sum(c, len), 0);
	/* 4 processors, 1 bus, 1 IOAPIC, 16 I/O interrupts, 2 local. */
	CHECK_EQ(entries, 4 + 1 + 1 + 16 + 2);
	const u8 *e = c + 44;
	u32 cpus = 0, bsp = 0;
	for (u16 i = 0; i < entries; i++) {
		if (e[0] == 0) {
			CHECK_EQ(e[1], cpus);
			bsp += (e[3] & 2) != 0;
			cpus++;
			e += 20;
		} else {
			e += 8;
		}
	}
	CHECK_EQ(cpus, 4);
	CHECK_EQ(bsp, 1);
	CHECK_EQ((size_t)(e - c), len);
}

TEST(refuses_memory_too_small_and_bad_cpu_counts)
{
	struct fw_platform p = { .nr_cpus = 0 };
	CHECK(!fwtables_build(&fake_access, &p));
	p.nr_cpus = 65;
	CHECK(!fwtables_build(&fake_access, &p));
}

int main(void)
{
	mem = malloc(MEM_SIZE);
	RUN(acpi_tables_parse_back);
	RUN(mp_table_checksums_and_entries);
	RUN(refuses_memory_too_small_and_bad_cpu_counts);
	free(mem);
	return unit_report("fwtables");
}
