/*
 * Boot information from the boot loader (Multiboot v1 or Multiboot2), parsed
 * into a self-contained struct: every string and table is copied into fixed
 * buffers, so once bootinfo_parse() returns the loader's data may be
 * overwritten. Nothing here allocates; the frame allocator is built from it.
 */
#ifndef UMBRA_KERNEL_BOOTINFO_H
#define UMBRA_KERNEL_BOOTINFO_H

#include "lib/types.h"
#include "mm/phys.h"

#define BOOTINFO_CMDLINE_MAX		1024
#define BOOTINFO_LOADER_NAME_MAX	128
#define BOOTINFO_MAX_MMAP		128
#define BOOTINFO_MAX_EFI_MMAP		256
#define BOOTINFO_MAX_MODULES		16
#define BOOTINFO_MODULE_CMDLINE_MAX	512
#define BOOTINFO_RSDP_MAX		36	/* ACPI 2.0+ RSDP */
/* Boot information blocks larger than this are treated as corrupt. */
#define BOOTINFO_MAX_INFO_SIZE		(1u << 20)

/* Memory region classes; the values are the multiboot mmap types. */
enum bootmem_type {
	BOOTMEM_AVAILABLE = 1,
	BOOTMEM_RESERVED = 2,
	BOOTMEM_ACPI_RECLAIMABLE = 3,
	BOOTMEM_ACPI_NVS = 4,
	BOOTMEM_BAD = 5,
};

/* A memory region [start, end) and its class (enum bootmem_type). */
struct bootmem_region {
	paddr_t start;
	paddr_t end;
	u32 type;
};

/* Where bootinfo.mmap came from. */
enum bootinfo_mmap_source {
	BOOTINFO_MMAP_NONE = 0,
	BOOTINFO_MMAP_MULTIBOOT,	/* the loader's memory map (v1 bit 6, v2 tag 6) */
	BOOTINFO_MMAP_MEMINFO,		/* built from mem_lower/mem_upper */
};

/* Where bootinfo.rsdp came from. */
enum bootinfo_rsdp_source {
	BOOTINFO_RSDP_NONE = 0,
	BOOTINFO_RSDP_MB2_OLD,		/* tag 14: ACPI 1.0 RSDP copy, 20 bytes */
	BOOTINFO_RSDP_MB2_NEW,		/* tag 15: ACPI 2.0+ RSDP copy, 36 bytes */
};

struct bootinfo_module {
	paddr_t start;			/* [start, end) */
	paddr_t end;
	char cmdline[BOOTINFO_MODULE_CMDLINE_MAX];
};

struct bootinfo {
	int protocol;			/* 1 = Multiboot v1, 2 = Multiboot2 */
	u32 warnings;			/* problems found in the boot data */

	/* The boot information block itself. For v2 the whole tag list; for v1
	 * only struct mb1_info (its strings and tables live elsewhere but have
	 * all been copied here). */
	struct mem_range info;

	char loader_name[BOOTINFO_LOADER_NAME_MAX];
	char cmdline[BOOTINFO_CMDLINE_MAX];

	bool has_meminfo;		/* v1 flags bit 0 / v2 tag 4 */
	u32 mem_lower_kb;		/* KiB at 0 */
	u32 mem_upper_kb;		/* KiB at 1 MiB */

	/* The multiboot memory map in loader order; adjacent same-type regions
	 * merged, empty ones dropped. Built from the meminfo fields when the
	 * loader gave no usable map. */
	enum bootinfo_mmap_source mmap_source;
	u32 mmap_count;
	struct bootmem_region mmap[BOOTINFO_MAX_MMAP];

	/* The UEFI memory map (v2 tag 17), types converted to enum bootmem_type.
	 * EFI loader and boot-services memory counts as available: it holds this
	 * kernel, the modules and this info (see info, modules[]), and while
	 * efi_boot_services is true the firmware still owns its part of it. */
	bool has_efi_mmap;
	u32 efi_desc_count;		/* descriptors in the tag */
	u32 efi_mmap_count;		/* regions kept in efi_mmap[] */
	struct bootmem_region efi_mmap[BOOTINFO_MAX_EFI_MMAP];
	bool efi_boot_services;		/* tag 18: ExitBootServices() not called */
	bool has_efi_system_table;	/* tags 11/12 */
	paddr_t efi_system_table;

	/* A copy of the RSDP (Multiboot2 only: v1 leaves this unset and the
	 * ACPI code scans the BIOS areas itself). */
	bool has_rsdp;
	enum bootinfo_rsdp_source rsdp_source;
	u32 rsdp_len;			/* 20 or 36 */
	u8 rsdp[BOOTINFO_RSDP_MAX];

	u32 module_count;
	struct bootinfo_module modules[BOOTINFO_MAX_MODULES];
};

/*
 * Parses the boot information the loader left at info_pa (EBX at entry),
 * given the magic it left in EAX. All reads go through r. Malformed data is
 * logged with log_warn and counted in out->warnings; whatever is valid is
 * kept. Returns false only when the magic is unknown or the fixed header is
 * unreadable (out then says protocol 0 and holds nothing else).
 */
bool bootinfo_parse(u32 magic, paddr_t info_pa, const struct phys_reader *r,
		    struct bootinfo *out);

/* Logs a summary with log_info. */
void bootinfo_print(const struct bootinfo *bi);

/*
 * Bytes of available memory: the union of BOOTMEM_AVAILABLE regions in the
 * multiboot map if there is one, else in the EFI map, else in the map built
 * from meminfo. Overlapping regions are counted once.
 */
u64 bootinfo_usable_bytes(const struct bootinfo *bi);

/* "available", "reserved", ... for a bootmem_type value. */
const char *bootmem_type_name(u32 type);

#endif
