/*
 * A VM's configuration, from its boot module's command line:
 *
 *     [IMAGE] [name=NAME] [mem=SIZE] [vcpus=N] [mmu=auto|tdp|shadow]
 *             [shadow_pages=N] [-- GUEST ARGUMENTS...]
 *
 * mmu=: nested paging (tdp) or shadow paging; auto (the default) takes
 * nested paging when the CPU has it, or what Umbra's own mmu= option says.
 * shadow_pages=: the most shadow page tables the VM may use (a bound on
 * host memory: 4 KiB + 6 KiB of links each).
 *
 * IMAGE is an optional first word without '=' (the module's file name, as
 * QEMU's -initrd "guest.elf name=web" and our GRUB ISOs give it). Options are
 * key=value words before a standalone `--`; everything after it is the
 * guest's own command line. Quoting follows lib/cmdline.h.
 *
 * The guest's multiboot command line starts with the module's file name,
 * like argv[0], then the guest's arguments: "IMAGE ARGS", or "NAME ARGS"
 * when no image word was given.
 *
 * The line comes from the boot loader configuration and is untrusted: any
 * unknown key, repeated key or bad value refuses the VM with a message.
 */
#ifndef UMBRA_VIRT_VM_CONFIG_H
#define UMBRA_VIRT_VM_CONFIG_H

#include "lib/types.h"

#define VM_NAME_MAX		31		/* characters, [A-Za-z0-9_.-] */
#define VM_IMAGE_MAX		63
#define VM_GUEST_CMDLINE_MAX	511
#define VM_MEM_DEFAULT		(64ull << 20)
#define VM_MEM_MIN		(2ull << 20)
#define VM_MEM_MAX		(64ull << 30)
#define VM_VCPUS_DEFAULT	1u
#define VM_VCPUS_MAX		64u
#define VM_SHADOW_PAGES_MIN	64u
#define VM_SHADOW_PAGES_MAX	32768u
#define VM_SHADOW_PAGES_DEFAULT	2048u

enum vm_mmu { VM_MMU_AUTO, VM_MMU_TDP, VM_MMU_SHADOW };

struct vm_config {
	char name[VM_NAME_MAX + 1];
	char image[VM_IMAGE_MAX + 1];	/* "" when the line had no image word */
	u64 mem_bytes;			/* multiple of 4 KiB */
	u32 vcpus;
	enum vm_mmu mmu;
	u32 shadow_pages;
	char guest_cmdline[VM_GUEST_CMDLINE_MAX + 1];
};

/*
 * Parses module_cmdline (NULL counts as "") for the VM with the given index
 * (used for the default name "vm<index>" when neither name= nor an image
 * word gives one). On success fills *out and returns true; otherwise returns
 * false with a one-line reason in err (when errlen > 0) and *out undefined.
 */
bool vm_config_parse(const char *module_cmdline, u32 index,
		     struct vm_config *out, char *err, size_t errlen);

#endif
