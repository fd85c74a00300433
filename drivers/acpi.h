/*
 * ACPI static table parsing (ACPI 6.5 chapter 5): RSDP -> RSDT/XSDT -> MADT,
 * FADT, DSDT/SSDT (\_S5 only), HPET. Pure parsing, no hardware access: the
 * kernel programs the APICs, PM timer, reset and sleep registers from the
 * results. Firmware tables are untrusted input; every byte is read through a
 * struct phys_reader and bounds-checked, and problems are logged and counted
 * in acpi_info.warnings rather than trusted or fatal.
 *
 * Mapping contract: a pointer obtained from the reader is only used until the
 * next map() call, so readers with a single temporary window also work.
 */
#ifndef UMBRA_DRIVERS_ACPI_H
#define UMBRA_DRIVERS_ACPI_H

#include "lib/types.h"
#include "mm/phys.h"

#define ACPI_MAX_CPUS 256
#define ACPI_MAX_IOAPICS 8
#define ACPI_MAX_ISOS 16
#define ACPI_MAX_NMIS 16
#define ACPI_MAX_TABLES 32
/* Larger "tables" are taken as corrupt lengths (real DSDTs are < 2 MiB). */
#define ACPI_MAX_TABLE_LEN (16u << 20)

/* acpi_lapic_nmi.acpi_uid value meaning "all processors". */
#define ACPI_UID_ALL 0xffffffffu

/* Generic Address Structure address space IDs (ACPI 6.5 5.2.3.2). */
#define ACPI_GAS_SYSTEM_MEMORY 0
#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_PCI_CONFIG 2

/* MADT flags (5.2.12, Table 5.19). */
#define ACPI_MADT_PCAT_COMPAT BIT(0)

/* FADT fixed feature flags (5.2.9, Table 5.10). */
#define ACPI_FADT_TMR_VAL_EXT BIT(8)
#define ACPI_FADT_RESET_REG_SUP BIT(10)
#define ACPI_FADT_HW_REDUCED_ACPI BIT(20)

/* FADT IAPC_BOOT_ARCH flags (5.2.9.3, Table 5.11). */
#define ACPI_BOOT_LEGACY_DEVICES BIT(0)
#define ACPI_BOOT_8042 BIT(1)
#define ACPI_BOOT_VGA_NOT_PRESENT BIT(2)
#define ACPI_BOOT_MSI_NOT_SUPPORTED BIT(3)
#define ACPI_BOOT_CMOS_RTC_NOT_PRESENT BIT(5)

/* PM1 control register fields (4.8.3.2.1, Table 4.13). */
#define ACPI_PM1_CNT_SCI_EN BIT(0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN BIT(13)

/* A processor from a MADT Local APIC (type 0) or Local x2APIC (type 9) entry. */
struct acpi_cpu {
	u32 apic_id;
	u32 acpi_uid;
	bool enabled;        /* usable now */
	bool online_capable; /* not enabled, but may be brought online */
	bool x2apic;         /* came from a type 9 entry */
};

struct acpi_ioapic {
	u8 id;
	u32 address;
	u32 gsi_base;
};

/* Interrupt source override: ISA IRQ source_irq is wired to GSI gsi. */
struct acpi_iso {
	u8 bus;
	u8 source_irq;
	u32 gsi;
	u16 flags; /* MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2 */
};

/* Local APIC NMI (types 4 and 0xA): which LINT pin of which CPU is NMI. */
struct acpi_lapic_nmi {
	u32 acpi_uid; /* ACPI_UID_ALL for every processor */
	u16 flags;    /* MPS INTI flags */
	u8 lint;      /* 0 or 1 */
};

/* Generic Address Structure, unpacked. */
struct acpi_gas_info {
	u8 space_id;
	u8 bit_width;
	u8 bit_offset;
	u8 access_size;
	u64 address;
};

struct acpi_info {
	/* RSDP and root table */
	u8 rsdp_revision;
	char oem_id[7];           /* NUL-terminated, non-printables as '?' */
	bool used_xsdt;
	paddr_t root_pa;          /* the RSDT or XSDT that was walked */
	u32 warnings;             /* problems found (each was log_warn'ed) */
	u32 table_count;          /* entries in tables[] */
	u32 tables_omitted;       /* tables found beyond ACPI_MAX_TABLES */
	char tables[ACPI_MAX_TABLES][5]; /* signatures, in discovery order */

	/* MADT ("APIC") */
	bool madt_valid;
	u64 lapic_address;        /* after any type 5 override */
	u32 madt_flags;           /* ACPI_MADT_PCAT_COMPAT: 8259s present */
	u32 cpu_count;
	u32 cpus_dropped;         /* usable CPUs beyond ACPI_MAX_CPUS */
	struct acpi_cpu cpus[ACPI_MAX_CPUS];
	u32 ioapic_count;
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	u32 iso_count;
	struct acpi_iso isos[ACPI_MAX_ISOS];
	u32 nmi_count;
	struct acpi_lapic_nmi nmis[ACPI_MAX_NMIS];

	/* FADT ("FACP"); I/O ports are 0 when absent */
	bool fadt_valid;
	u8 fadt_revision;
	u32 fadt_length;
	u32 fadt_flags;
	bool hw_reduced;          /* ACPI_FADT_HW_REDUCED_ACPI: no fixed HW */
	u16 sci_irq;
	u32 smi_cmd;              /* SMI command port, 0: ACPI mode is fixed */
	u8 acpi_enable;           /* values to write to smi_cmd */
	u8 acpi_disable;
	u16 pm1a_evt;
	u16 pm1b_evt;
	u16 pm1a_cnt;
	u16 pm1b_cnt;
	u8 pm1_evt_len;
	u8 pm1_cnt_len;
	u16 pm_tmr_port;
	bool pm_tmr_32bit;        /* ACPI_FADT_TMR_VAL_EXT, else 24-bit */
	bool reset_valid;
	struct acpi_gas_info reset_reg;
	u8 reset_value;
	u8 century;               /* RTC CMOS index of the century, 0: none */
	bool boot_arch_valid;     /* IAPC_BOOT_ARCH exists (FADT rev >= 2) */
	u16 iapc_boot_arch;
	bool legacy_devices;      /* from iapc_boot_arch, true if not valid */
	bool has_8042;            /* from iapc_boot_arch, true if not valid */
	paddr_t dsdt_pa;          /* X_DSDT preferred */

	/* \_S5 sleep type values (7.4.2) from the DSDT or an SSDT */
	bool s5_valid;
	u8 slp_typa;
	u8 slp_typb;

	/* HPET (IA-PC HPET spec 1.0a, 3.2.4) */
	bool hpet_valid;
	u64 hpet_address;
	u32 hpet_block_id;        /* Event Timer Block ID */
	u8 hpet_number;
	u16 hpet_min_tick;
};

/*
 * Scans the first KiB of the EBDA and then 0xE0000-0xFFFFF, on 16-byte
 * boundaries, for an RSDP with valid checksums (5.2.5.1). On success stores
 * its physical address.
 */
bool acpi_find_rsdp_legacy(const struct phys_reader *r, paddr_t *rsdp_pa);

/*
 * Parses the tables reachable from the RSDP bytes rsdp[0..rsdp_len) (a copy
 * from multiboot2 tags 14/15, or mapped memory). A 20-byte copy is used as
 * an ACPI 1.0 RSDP (RSDT only) whatever its revision. out is fully overwritten.
 * Returns false if the RSDP is invalid or no usable root table was found;
 * individual tables may still be missing on success (check *_valid).
 */
bool acpi_parse(const struct phys_reader *r, const void *rsdp, size_t rsdp_len,
		struct acpi_info *out);

/* acpi_parse() for an RSDP in physical memory (e.g. from the legacy scan). */
bool acpi_parse_phys(const struct phys_reader *r, paddr_t rsdp_pa,
		     struct acpi_info *out);

/* Logs a summary with log_info. */
void acpi_print(const struct acpi_info *a);

/*
 * The bits to set in PM1a (b_block false) or PM1b control for S5 soft-off:
 * (SLP_TYP << 10) | SLP_EN (4.8.3.2.1). Merge it into the register's current
 * value under ACPI_PM1_CNT_SLP_TYP_MASK | ACPI_PM1_CNT_SLP_EN. Returns 0 (SLP_EN
 * clear) when no valid \_S5 was found.
 */
u16 acpi_s5_pm1_value(const struct acpi_info *a, bool b_block);

#endif
