/*
 * Multiboot v1 loader for guest kernels (Multiboot Specification 0.6.96,
 * §3): loads an ELF32 image, or a binary described by the header's a.out
 * kludge address fields, into guest-physical memory and builds the boot
 * information structure the guest finds in EBX.
 *
 * The image is hostile input: every header field is bounds-checked against
 * the image and the guest's RAM before anything is written, and every
 * failure is refused with a message naming the problem.
 *
 * Guest-physical layout assumed (and reported in the memory map): RAM from 0
 * to guest_mem_bytes, except the PC legacy hole [0x9fc00, 0x100000) (EBDA,
 * video memory, option and BIOS ROMs), where nothing is loaded.
 */
#ifndef UMBRA_VIRT_LOADER_MB1_H
#define UMBRA_VIRT_LOADER_MB1_H

#include "lib/types.h"
#include "kernel/multiboot.h"
#include "virt/guest_access.h"

/* §3.1.1: the header lies within the first 8192 bytes, 32-bit aligned. */
#define MB1_HEADER_SEARCH	8192
#define MB1_HEADER_ALIGN	4

/* Our limits; real kernels have two to four PT_LOAD segments. */
#define MB1_MAX_SEGMENTS	16
#define MB1_MAX_MODULES		32
#define MB1_MAX_STRING		4096	/* command line, module strings */

/* The guest's legacy PC layout: conventional memory ends where the EBDA
 * starts (639 KiB), the BIOS ROM is the last 64 KiB below 1 MiB. */
#define MB1_LOW_RAM_END		0x9fc00ull
#define MB1_EBDA_END		0xa0000ull
#define MB1_BIOS_START		0xf0000ull
#define MB1_HIGH_RAM_START	0x100000ull

#define MB1_LOADER_NAME		"Umbra"

/* A module the caller has already copied into guest memory at [start, end). */
struct mb1_guest_module {
	u64 start;
	u64 end;		/* exclusive */
	const char *cmdline;	/* its string for the guest; NULL = "" */
};

/* What the guest's boot CPU needs (§3.2) and what the image occupies. */
struct mb1_boot {
	u32 entry;		/* EIP, a physical address */
	u32 eax;		/* MB1_BOOTLOADER_MAGIC */
	u32 ebx;		/* guest-physical address of struct mb1_info */
	struct mem_range info;	/* the info block: struct, mmap, strings */
	bool aout_kludge;	/* loaded by the header's address fields */
	u32 header_flags;
	u32 nr_ranges;
	struct mem_range ranges[MB1_MAX_SEGMENTS]; /* guest-physical */
};

/*
 * Validates the image against a guest of guest_mem_bytes without writing
 * anything, and reports its entry point and the ranges it will occupy (in
 * out->entry, out->ranges), so that the caller can place modules elsewhere
 * before calling mb1_load().
 */
bool mb1_probe(const void *image, size_t image_size, u64 guest_mem_bytes,
	       struct mb1_boot *out, char *err, size_t errlen);

/*
 * Loads the image into guest memory through mem (segments copied, BSS
 * zeroed) and writes the multiboot information: memory sizes, memory map,
 * cmdline (NULL: no command line), the nr_mods modules (their data must
 * already be in guest memory, page-aligned if the image asks for it, not
 * overlapping the image) and the boot loader name. The info block goes
 * below 1 MiB (not in page 0) when it fits there, else above the image;
 * never over a segment or module. The caller then starts the guest in
 * 32-bit protected mode as §3.2 describes, with EAX = out->eax, EBX =
 * out->ebx, EIP = out->entry.
 */
bool mb1_load(const void *image, size_t image_size, u64 guest_mem_bytes,
	      const struct gpa_access *mem, const char *cmdline,
	      const struct mb1_guest_module *mods, u32 nr_mods,
	      struct mb1_boot *out, char *err, size_t errlen);

#endif
