/* Physical and virtual layout constants shared by assembly, C and linker.ld. */
#ifndef UMBRA_BOOT_LAYOUT_H
#define UMBRA_BOOT_LAYOUT_H

#define KERNEL_PHYS_BASE 0x200000          /* 2 MiB: clear of BIOS/EFI low memory */
#define KERNEL_VIRT_OFFSET 0xffffffff80000000
#define DIRECT_MAP_OFFSET 0xffff800000000000
#define BOOT_STACK_SIZE 16384
#define AP_TRAMPOLINE_PHYS 0x8000          /* SIPI vector 0x08 */

/* GDT selectors (arch/x86/gdt.c builds the same layout per CPU). */
#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_TSS 0x18

#endif
