/* Firmware tables in guest memory describing exactly the VM's platform:
 * ACPI (RSDP, RSDT, XSDT, FADT, DSDT with \_S5, MADT) and an Intel MP table,
 * in the BIOS area where guests look for them (ACPI 6.5 5.2.5.1; MP spec
 * 1.4 4.0). */
#ifndef UMBRA_VIRT_FWTABLES_H
#define UMBRA_VIRT_FWTABLES_H

#include "lib/types.h"
#include "virt/guest_access.h"

#define FW_TABLES_BASE 0xe0000ull /* ACPI tables */
#define FW_RSDP_ADDR 0xf0000ull   /* 16-byte aligned, inside 0xE0000-0xFFFFF */
#define FW_MP_FLOATING 0xf0040ull
#define FW_MP_CONFIG 0xf0100ull
#define FW_AREA_END 0x100000ull

/* The guest's ACPI fixed hardware (QEMU's PIIX4 ports). */
#define GUEST_PM_BASE 0x600
#define GUEST_PM1A_EVT (GUEST_PM_BASE + 0)
#define GUEST_PM1A_CNT (GUEST_PM_BASE + 4)
#define GUEST_PM_TMR (GUEST_PM_BASE + 8)
#define GUEST_SCI_IRQ 9
#define GUEST_S5_SLP_TYP 5
#define GUEST_IOAPIC_ADDR 0xfec00000u
#define GUEST_LAPIC_ADDR 0xfee00000u

struct fw_platform {
	u32 nr_cpus;      /* APIC IDs 0 .. nr_cpus-1 */
	u8 ioapic_id;
	u32 ioapic_pins;
};

/* Writes all tables; false if guest memory does not reach the BIOS area. */
bool fwtables_build(const struct gpa_access *mem, const struct fw_platform *p);

#endif
