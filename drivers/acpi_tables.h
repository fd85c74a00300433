/* ACPI table layouts (ACPI 6.5 chapter 5), shared by the parser of the
 * host's tables (drivers/acpi.c) and the builder of guests' tables. */
#ifndef UMBRA_DRIVERS_ACPI_TABLES_H
#define UMBRA_DRIVERS_ACPI_TABLES_H

#include "lib/types.h"

/* ---- table layouts --------------------------------------------------------- */

/* Root System Description Pointer (5.2.5.3, Table 5.3). */
struct acpi_rsdp {
	char signature[8];
	u8 checksum;          /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	u8 revision;          /* 0 for ACPI 1.0, 2 for ACPI 2.0 and later */
	u32 rsdt_address;
	/* ACPI 2.0+ */
	u32 length;
	u64 xsdt_address;
	u8 extended_checksum; /* over length bytes */
	u8 reserved[3];
} __packed;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");
_Static_assert(offsetof(struct acpi_rsdp, revision) == 15, "RSDP revision");
_Static_assert(offsetof(struct acpi_rsdp, length) == 20, "RSDP length");
_Static_assert(offsetof(struct acpi_rsdp, xsdt_address) == 24, "RSDP xsdt");

#define ACPI_RSDP_V1_LEN 20
/* The RSDP is 36 bytes; a larger length field is taken as garbage. */
#define ACPI_RSDP_MAX_LEN 4096
/* The BIOS Data Area word holding the EBDA segment (5.2.5.1). */
#define BDA_EBDA_SEGMENT 0x40e
#define EBDA_SEARCH_LEN 1024
#define BIOS_AREA_START 0xe0000
#define BIOS_AREA_END 0x100000

/* System Description Table Header (5.2.6, Table 5.4). */
struct acpi_sdt_header {
	char signature[4];
	u32 length;           /* of the whole table, header included */
	u8 revision;
	u8 checksum;          /* all bytes of the table sum to zero */
	char oem_id[6];
	char oem_table_id[8];
	u32 oem_revision;
	u32 creator_id;
	u32 creator_revision;
} __packed;
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "SDT header size");
_Static_assert(offsetof(struct acpi_sdt_header, checksum) == 9, "SDT checksum");

#define SDT_HDR_LEN ((u32)sizeof(struct acpi_sdt_header))

/* Generic Address Structure (5.2.3.2, Table 5.1). */
struct acpi_gas {
	u8 space_id;
	u8 bit_width;
	u8 bit_offset;
	u8 access_size;
	u64 address;
} __packed;
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS size");

/* Multiple APIC Description Table (5.2.12, Table 5.19). */
struct acpi_madt {
	struct acpi_sdt_header hdr;
	u32 lapic_address;
	u32 flags;
} __packed;
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT size");

/* Interrupt controller structure types (Table 5.21). */
enum {
	MADT_LAPIC = 0,
	MADT_IOAPIC = 1,
	MADT_ISO = 2,
	MADT_LAPIC_NMI = 4,
	MADT_LAPIC_OVERRIDE = 5,
	MADT_X2APIC = 9,
	MADT_X2APIC_NMI = 0xa,
};

struct madt_entry {
	u8 type;
	u8 length;
} __packed;

/* Processor Local APIC (5.2.12.2, Table 5.22). */
struct madt_lapic {
	struct madt_entry h;
	u8 acpi_uid;
	u8 apic_id;
	u32 flags;
} __packed;
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT LAPIC size");

/* Local APIC Flags (Table 5.23); Online Capable is new in MADT revision 5. */
#define MADT_CPU_ENABLED BIT(0)
#define MADT_CPU_ONLINE_CAPABLE BIT(1)
#define MADT_ONLINE_CAPABLE_REV 5

/* I/O APIC (5.2.12.3, Table 5.24). */
struct madt_ioapic {
	struct madt_entry h;
	u8 id;
	u8 reserved;
	u32 address;
	u32 gsi_base;
} __packed;
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT IOAPIC size");

/* Interrupt Source Override (5.2.12.5, Table 5.25). */
struct madt_iso {
	struct madt_entry h;
	u8 bus;
	u8 source;
	u32 gsi;
	u16 flags;
} __packed;
_Static_assert(sizeof(struct madt_iso) == 10, "MADT ISO size");

/* Local APIC NMI (5.2.12.7, Table 5.29). */
struct madt_lapic_nmi {
	struct madt_entry h;
	u8 acpi_uid;          /* 0xff: all processors */
	u16 flags;
	u8 lint;
} __packed;
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT LAPIC NMI size");

/* Local APIC Address Override (5.2.12.8, Table 5.30). */
struct madt_lapic_override {
	struct madt_entry h;
	u16 reserved;
	u64 address;
} __packed;
_Static_assert(sizeof(struct madt_lapic_override) == 12, "MADT override size");

/* Processor Local x2APIC (5.2.12.12, Table 5.37). */
struct madt_x2apic {
	struct madt_entry h;
	u16 reserved;
	u32 x2apic_id;
	u32 flags;            /* as Table 5.23 */
	u32 acpi_uid;
} __packed;
_Static_assert(sizeof(struct madt_x2apic) == 16, "MADT x2APIC size");

/* Local x2APIC NMI (5.2.12.13, Table 5.38). */
struct madt_x2apic_nmi {
	struct madt_entry h;
	u16 flags;
	u32 acpi_uid;         /* 0xffffffff: all processors */
	u8 lint;
	u8 reserved[3];
} __packed;
_Static_assert(sizeof(struct madt_x2apic_nmi) == 12, "MADT x2APIC NMI size");

/* Fixed ACPI Description Table (5.2.9, Table 5.9), up to ACPI 6.5. */
struct acpi_fadt {
	struct acpi_sdt_header hdr;
	u32 firmware_ctrl;
	u32 dsdt;
	u8 reserved0;         /* INT_MODEL in ACPI 1.0 */
	u8 preferred_pm_profile;
	u16 sci_int;
	u32 smi_cmd;
	u8 acpi_enable;
	u8 acpi_disable;
	u8 s4bios_req;
	u8 pstate_cnt;
	u32 pm1a_evt_blk;
	u32 pm1b_evt_blk;
	u32 pm1a_cnt_blk;
	u32 pm1b_cnt_blk;
	u32 pm2_cnt_blk;
	u32 pm_tmr_blk;
	u32 gpe0_blk;
	u32 gpe1_blk;
	u8 pm1_evt_len;
	u8 pm1_cnt_len;
	u8 pm2_cnt_len;
	u8 pm_tmr_len;
	u8 gpe0_blk_len;
	u8 gpe1_blk_len;
	u8 gpe1_base;
	u8 cst_cnt;
	u16 p_lvl2_lat;
	u16 p_lvl3_lat;
	u16 flush_size;
	u16 flush_stride;
	u8 duty_offset;
	u8 duty_width;
	u8 day_alrm;
	u8 mon_alrm;
	u8 century;
	u16 iapc_boot_arch;   /* reserved in FADT revision 1 */
	u8 reserved1;
	u32 flags;
	/* end of the ACPI 1.0 (revision 1) FADT, 116 bytes */
	struct acpi_gas reset_reg;
	u8 reset_value;
	u16 arm_boot_arch;
	u8 minor_version;
	u64 x_firmware_ctrl;
	u64 x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	u64 hypervisor_vendor_id;
} __packed;
_Static_assert(offsetof(struct acpi_fadt, dsdt) == 40, "FADT DSDT");
_Static_assert(offsetof(struct acpi_fadt, sci_int) == 46, "FADT SCI_INT");
_Static_assert(offsetof(struct acpi_fadt, pm1a_evt_blk) == 56, "FADT PM1a_EVT_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm_tmr_blk) == 76, "FADT PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm1_evt_len) == 88, "FADT PM1_EVT_LEN");
_Static_assert(offsetof(struct acpi_fadt, century) == 108, "FADT CENTURY");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT RESET_REG");
_Static_assert(offsetof(struct acpi_fadt, reset_value) == 128, "FADT RESET_VALUE");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, x_pm1a_evt_blk) == 148, "FADT X_PM1a_EVT_BLK");
_Static_assert(offsetof(struct acpi_fadt, x_pm_tmr_blk) == 208, "FADT X_PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT SLEEP_CONTROL");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT size");

#define FADT_V1_LEN 116u
/* IAPC_BOOT_ARCH was reserved in revision 1 and defined from revision 2. */
#define FADT_BOOT_ARCH_REV 2
/* Does a FADT of length len contain the field? */
#define FADT_HAS(len, field)                                              \
	((len) >= offsetof(struct acpi_fadt, field) +                     \
			  sizeof(((struct acpi_fadt *)0)->field))

/* HPET Description Table (IA-PC HPET spec 1.0a, 3.2.4, Table 3). */
struct acpi_hpet {
	struct acpi_sdt_header hdr;
	u32 event_timer_block_id;
	struct acpi_gas base;
	u8 hpet_number;
	u16 min_clock_tick;
	u8 page_protection;
} __packed;
_Static_assert(sizeof(struct acpi_hpet) == 56, "HPET size");
_Static_assert(offsetof(struct acpi_hpet, min_clock_tick) == 53, "HPET min tick");

#endif
