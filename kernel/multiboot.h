/*
 * Multiboot v1 (spec 0.6.96) and Multiboot2 (spec 1.6) definitions, plus the
 * UEFI memory descriptor carried by the Multiboot2 EFI memory map tag.
 *
 * The constants are usable from assembly (the image headers in boot/); the
 * structures describe the boot loader's data exactly. Boot data may sit at
 * any alignment the loader chose, so parsers copy it out with memcpy rather
 * than dereferencing these types in place.
 */
#ifndef UMBRA_KERNEL_MULTIBOOT_H
#define UMBRA_KERNEL_MULTIBOOT_H

/* --- Multiboot v1 ---------------------------------------------------------- */

/* §3.1.2: header magic in the image; §3.2: value in EAX at entry. */
#define MB1_HEADER_MAGIC		0x1BADB002
#define MB1_BOOTLOADER_MAGIC		0x2BADB002

/* §3.1.2 header flags. */
#define MB1_HEADER_PAGE_ALIGN		0x00000001 /* modules 4 KiB aligned */
#define MB1_HEADER_MEMORY_INFO		0x00000002 /* want mem_* and mmap */
#define MB1_HEADER_VIDEO_MODE		0x00000004
#define MB1_HEADER_AOUT_KLUDGE		0x00010000 /* address fields valid */

/* §3.3 multiboot_info.flags: which fields the loader filled in. */
#define MB1_INFO_MEMORY			(1 << 0)  /* mem_lower, mem_upper */
#define MB1_INFO_BOOTDEV		(1 << 1)
#define MB1_INFO_CMDLINE		(1 << 2)
#define MB1_INFO_MODS			(1 << 3)
#define MB1_INFO_AOUT_SYMS		(1 << 4)
#define MB1_INFO_ELF_SHDR		(1 << 5)
#define MB1_INFO_MEM_MAP		(1 << 6)
#define MB1_INFO_DRIVE_INFO		(1 << 7)
#define MB1_INFO_CONFIG_TABLE		(1 << 8)
#define MB1_INFO_BOOT_LOADER_NAME	(1 << 9)
#define MB1_INFO_APM_TABLE		(1 << 10)
#define MB1_INFO_VBE_INFO		(1 << 11)
#define MB1_INFO_FRAMEBUFFER_INFO	(1 << 12)

/* --- Multiboot2 ------------------------------------------------------------ */

/* §3.1.2 header magic; §3.3: value in EAX at entry. */
#define MB2_HEADER_MAGIC		0xE85250D6
#define MB2_BOOTLOADER_MAGIC		0x36d76289
#define MB2_ARCH_I386			0	/* also used for x86-64 */

/* §3.1.3-3.1.13 header tag types. */
#define MB2_HEADER_TAG_END		0
#define MB2_HEADER_TAG_INFO_REQUEST	1
#define MB2_HEADER_TAG_ADDRESS		2
#define MB2_HEADER_TAG_ENTRY_ADDRESS	3
#define MB2_HEADER_TAG_CONSOLE_FLAGS	4
#define MB2_HEADER_TAG_FRAMEBUFFER	5
#define MB2_HEADER_TAG_MODULE_ALIGN	6
#define MB2_HEADER_TAG_EFI_BS		7
#define MB2_HEADER_TAG_ENTRY_EFI32	8
#define MB2_HEADER_TAG_ENTRY_EFI64	9
#define MB2_HEADER_TAG_RELOCATABLE	10
#define MB2_HEADER_TAG_OPTIONAL		1	/* tag flags bit 0 */

/* §3.6.2: tags start 8-byte aligned and each is padded to 8 bytes. */
#define MB2_TAG_ALIGN			8

/* §3.6 boot information tag types. */
#define MB2_TAG_END			0
#define MB2_TAG_CMDLINE			1	/* §3.6.5 */
#define MB2_TAG_BOOT_LOADER_NAME	2	/* §3.6.9 */
#define MB2_TAG_MODULE			3	/* §3.6.6 */
#define MB2_TAG_BASIC_MEMINFO		4	/* §3.6.3 */
#define MB2_TAG_BOOTDEV			5
#define MB2_TAG_MMAP			6	/* §3.6.8 */
#define MB2_TAG_VBE			7
#define MB2_TAG_FRAMEBUFFER		8
#define MB2_TAG_ELF_SECTIONS		9
#define MB2_TAG_APM			10
#define MB2_TAG_EFI32			11	/* §3.6.13 system table */
#define MB2_TAG_EFI64			12	/* §3.6.14 system table */
#define MB2_TAG_SMBIOS			13
#define MB2_TAG_ACPI_OLD		14	/* §3.6.16 RSDP v1 copy */
#define MB2_TAG_ACPI_NEW		15	/* §3.6.17 RSDP v2 copy */
#define MB2_TAG_NETWORK			16
#define MB2_TAG_EFI_MMAP		17	/* §3.6.19 */
#define MB2_TAG_EFI_BS			18	/* §3.6.20 BS not exited */
#define MB2_TAG_EFI32_IH		19
#define MB2_TAG_EFI64_IH		20
#define MB2_TAG_LOAD_BASE_ADDR		21

/* Memory map types, shared by v1 (§3.3) and v2 (§3.6.8); any other value
 * means reserved. */
#define MB_MEMORY_AVAILABLE		1
#define MB_MEMORY_RESERVED		2
#define MB_MEMORY_ACPI_RECLAIMABLE	3
#define MB_MEMORY_NVS			4
#define MB_MEMORY_BADRAM		5

/* --- UEFI (2.10 §7.2.1 EFI_MEMORY_TYPE) ------------------------------------ */

#define EFI_RESERVED_MEMORY_TYPE	0
#define EFI_LOADER_CODE			1
#define EFI_LOADER_DATA			2
#define EFI_BOOT_SERVICES_CODE		3
#define EFI_BOOT_SERVICES_DATA		4
#define EFI_RUNTIME_SERVICES_CODE	5
#define EFI_RUNTIME_SERVICES_DATA	6
#define EFI_CONVENTIONAL_MEMORY		7
#define EFI_UNUSABLE_MEMORY		8
#define EFI_ACPI_RECLAIM_MEMORY		9
#define EFI_ACPI_MEMORY_NVS		10
#define EFI_MEMORY_MAPPED_IO		11
#define EFI_MEMORY_MAPPED_IO_PORT_SPACE	12
#define EFI_PAL_CODE			13
#define EFI_PERSISTENT_MEMORY		14
#define EFI_UNACCEPTED_MEMORY_TYPE	15

#define EFI_PAGE_SHIFT			12	/* NumberOfPages is in 4 KiB */

#ifndef __ASSEMBLY__

#include <stddef.h>
#include "lib/types.h"

/* v1 §3.3: the boot information structure EBX points at. */
struct mb1_info {
	u32 flags;
	u32 mem_lower;		/* KiB from 0 (flags bit 0) */
	u32 mem_upper;		/* KiB from 1 MiB (flags bit 0) */
	u32 boot_device;
	u32 cmdline;		/* phys addr of a C string (bit 2) */
	u32 mods_count;		/* bit 3 */
	u32 mods_addr;		/* phys addr of struct mb1_module[] */
	u32 syms[4];		/* a.out or ELF symbols (bit 4/5) */
	u32 mmap_length;	/* bytes (bit 6) */
	u32 mmap_addr;		/* phys addr of struct mb1_mmap_entry list */
	u32 drives_length;
	u32 drives_addr;
	u32 config_table;
	u32 boot_loader_name;	/* phys addr of a C string (bit 9) */
	u32 apm_table;
	u32 vbe_control_info;
	u32 vbe_mode_info;
	u16 vbe_mode;
	u16 vbe_interface_seg;
	u16 vbe_interface_off;
	u16 vbe_interface_len;
	u64 framebuffer_addr;
	u32 framebuffer_pitch;
	u32 framebuffer_width;
	u32 framebuffer_height;
	u8 framebuffer_bpp;
	u8 framebuffer_type;
	u8 color_info[6];
} __packed;
_Static_assert(offsetof(struct mb1_info, cmdline) == 16, "mb1_info.cmdline");
_Static_assert(offsetof(struct mb1_info, mmap_length) == 44, "mb1_info.mmap");
_Static_assert(offsetof(struct mb1_info, boot_loader_name) == 64,
	       "mb1_info.boot_loader_name");
_Static_assert(offsetof(struct mb1_info, framebuffer_addr) == 88,
	       "mb1_info.framebuffer_addr");
_Static_assert(sizeof(struct mb1_info) == 116, "mb1_info size");

/* v1 §3.3: one entry of the mods_addr array. mod_end is exclusive. */
struct mb1_module {
	u32 mod_start;
	u32 mod_end;
	u32 string;		/* phys addr of a C string */
	u32 reserved;
} __packed;
_Static_assert(sizeof(struct mb1_module) == 16, "mb1_module size");

/*
 * v1 §3.3: one memory map entry. `size` is the size of the rest of the entry
 * (not counting itself), so the next entry starts size + 4 bytes later; the
 * fields below are the ones every version has.
 */
struct mb1_mmap_entry {
	u32 size;
	u64 base_addr;
	u64 length;
	u32 type;
} __packed;
_Static_assert(offsetof(struct mb1_mmap_entry, base_addr) == 4, "mb1 mmap base");
_Static_assert(sizeof(struct mb1_mmap_entry) == 24, "mb1_mmap_entry size");
#define MB1_MMAP_ENTRY_MIN_SIZE (sizeof(struct mb1_mmap_entry) - 4)

/* v2 §3.6.1: the fixed part at the start of the boot information. */
struct mb2_info_header {
	u32 total_size;		/* including this header and the end tag */
	u32 reserved;
} __packed;
_Static_assert(sizeof(struct mb2_info_header) == 8, "mb2_info_header size");

/* v2 §3.6.2: every tag starts with this; size includes it, not padding. */
struct mb2_tag {
	u32 type;
	u32 size;
} __packed;
_Static_assert(sizeof(struct mb2_tag) == 8, "mb2_tag size");

/* §3.6.6; a NUL-terminated command line follows. */
struct mb2_tag_module {
	struct mb2_tag tag;
	u32 mod_start;
	u32 mod_end;		/* exclusive */
} __packed;
_Static_assert(sizeof(struct mb2_tag_module) == 16, "mb2_tag_module size");

/* §3.6.3 */
struct mb2_tag_basic_meminfo {
	struct mb2_tag tag;
	u32 mem_lower;		/* KiB from 0 */
	u32 mem_upper;		/* KiB from 1 MiB */
} __packed;
_Static_assert(sizeof(struct mb2_tag_basic_meminfo) == 16, "mb2 meminfo size");

/* §3.6.8; entry_size-byte entries follow, each starting with the fields of
 * struct mb2_mmap_entry. */
struct mb2_tag_mmap {
	struct mb2_tag tag;
	u32 entry_size;
	u32 entry_version;	/* 0; later versions stay compatible */
} __packed;
_Static_assert(sizeof(struct mb2_tag_mmap) == 16, "mb2_tag_mmap size");

struct mb2_mmap_entry {
	u64 base_addr;
	u64 length;
	u32 type;
	u32 reserved;
} __packed;
_Static_assert(sizeof(struct mb2_mmap_entry) == 24, "mb2_mmap_entry size");

/* §3.6.13 */
struct mb2_tag_efi32 {
	struct mb2_tag tag;
	u32 pointer;
} __packed;
_Static_assert(sizeof(struct mb2_tag_efi32) == 12, "mb2_tag_efi32 size");

/* §3.6.14 */
struct mb2_tag_efi64 {
	struct mb2_tag tag;
	u64 pointer;
} __packed;
_Static_assert(sizeof(struct mb2_tag_efi64) == 16, "mb2_tag_efi64 size");

/* §3.6.19; descr_size-byte EFI_MEMORY_DESCRIPTORs follow, as returned by
 * GetMemoryMap(). */
struct mb2_tag_efi_mmap {
	struct mb2_tag tag;
	u32 descr_size;
	u32 descr_vers;
} __packed;
_Static_assert(sizeof(struct mb2_tag_efi_mmap) == 16, "mb2_tag_efi_mmap size");

/* ACPI 6.5 §5.2.5.3: the RSDP that tags 14/15 copy. v1 (ACPI 1.0) is the
 * first 20 bytes; v2 adds length, XSDT address and an extended checksum. */
#define ACPI_RSDP_V1_SIZE		20
#define ACPI_RSDP_V2_SIZE		36
#define ACPI_RSDP_SIGNATURE		"RSD PTR "

/* UEFI 2.10 §7.2.3 GetMemoryMap(): EFI_MEMORY_DESCRIPTOR. Firmware may use a
 * larger stride (descr_size), so never index by sizeof. */
struct efi_memory_descriptor {
	u32 type;
	u32 pad;
	u64 physical_start;
	u64 virtual_start;
	u64 number_of_pages;
	u64 attribute;
} __packed;
_Static_assert(offsetof(struct efi_memory_descriptor, physical_start) == 8,
	       "efi_memory_descriptor.physical_start");
_Static_assert(sizeof(struct efi_memory_descriptor) == 40,
	       "efi_memory_descriptor size");

#endif /* !__ASSEMBLY__ */

#endif
