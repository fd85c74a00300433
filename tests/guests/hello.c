/* hello: prints its name, command line and memory; exits 0x10, or N with
 * the option exit=N (tests exit-code forwarding). */
#include "guest.h"

u32 guest_main(void)
{
	printf("hello from %s\n", argv0);
	printf("cmdline: \"%s\"\n", cmdline);
	printf("multiboot flags 0x%x", mbi->flags);
	if (mbi->flags & 1)
		printf(", mem_lower %u KiB, mem_upper %u KiB", mbi->mem_lower, mbi->mem_upper);
	printf("\n");
	u64 base, len, usable = 0;
	u32 type;
	unsigned i;
	for (i = 0; mmap_entry(i, &base, &len, &type); i++) {
		printf("mmap %u: 0x%010llx-0x%010llx type %u\n", i, base, base + len - 1, type);
		if (type == 1)
			usable += len;
	}
	printf("mmap: %u entries, %llu KiB usable\n", i, usable >> 10);
	if (mbi->flags & (1u << 3)) {
		/* Modules: size, a byte sum (the harness knows the content), string. */
		const u32 *mod = (const u32 *)mbi->mods_addr;
		for (i = 0; i < mbi->mods_count; i++, mod += 4) {
			u32 sum = 0;
			for (const u8 *b = (const u8 *)mod[0]; b < (const u8 *)mod[1]; b++)
				sum += *b;
			printf("module %u: 0x%x-0x%x, %u bytes, sum %u, \"%s\"\n", i, mod[0], mod[1],
			       mod[1] - mod[0], sum, (const char *)mod[2]);
		}
	}
	printf("image 0x%x-0x%x, bss 0x%x bytes\n", (u32)__image_start, (u32)__image_end,
	       (u32)(__bss_end - __bss_start));
	if (opt_str("exit")) {
		u32 code = opt_u32("exit", EXIT_FAIL);
		printf("exit code 0x%x requested\n", code);
		return code;
	}
	return EXIT_PASS;
}
