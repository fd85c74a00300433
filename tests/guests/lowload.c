/* lowload: linked at 0x8000 with a .bss much larger than its file data.
 * Checks the loader placed it there, zeroed the .bss, kept the boot
 * information clear of the image, and that page 0 is ordinary RAM. */
#include "guest.h"

static u8 big_bss[96 * 1024];
static u32 small_bss[16];

static bool overlaps_image(u32 a, u32 len)
{
	return a < (u32)__image_end && a + len > (u32)__image_start;
}

u32 guest_main(void)
{
	u32 start = (u32)__image_start, end = (u32)__image_end;
	printf("lowload: image 0x%x-0x%x, bss 0x%x bytes\n", start, end, (u32)(__bss_end - __bss_start));
	check(start == 0x8000, "loaded at 0x%x (linked at 0x8000)", start);
	check(end <= 0x9f000, "image ends below the EBDA area (0x%x)", end);

	u32 nonzero = 0;
	for (u32 i = 0; i < sizeof(big_bss); i++)
		nonzero += big_bss[i] != 0;
	for (u32 i = 0; i < 16; i++)
		nonzero += small_bss[i] != 0;
	check(nonzero == 0, ".bss is zero (%u of %u bytes non-zero)", nonzero,
	      (u32)(sizeof(big_bss) + sizeof(small_bss)));
	big_bss[12345] = 1; /* it is writable */
	check(big_bss[12345] == 1, ".bss is writable");

	check(!overlaps_image((u32)mbi, sizeof(*mbi)), "multiboot info at 0x%x is outside the image", (u32)mbi);
	check(!overlaps_image((u32)cmdline, strlen(cmdline) + 1), "command line at 0x%x is outside the image",
	      (u32)cmdline);
	if (mbi->flags & (1u << 6))
		check(!overlaps_image(mbi->mmap_addr, mbi->mmap_length), "memory map at 0x%x is outside the image",
		      mbi->mmap_addr);

	u64 base, len;
	u32 type;
	bool page0_ram = false;
	for (unsigned i = 0; mmap_entry(i, &base, &len, &type); i++)
		page0_ram |= type == 1 && base == 0 && len >= 0x1000;
	check(page0_ram, "memory map: page 0 is usable RAM");

	/* Page 0: save, write two patterns, verify, restore. */
	volatile u32 *p0 = (volatile u32 *)0;
	asm("" : "+r"(p0));
	static u32 saved[1024];
	u32 bad = 0;
	for (u32 i = 0; i < 1024; i++)
		saved[i] = p0[i];
	for (u32 pass = 0; pass < 2; pass++) {
		for (u32 i = 0; i < 1024; i++)
			p0[i] = (i * 4) ^ (pass ? 0xa5a5a5a5 : 0x5a5a5a5a);
		for (u32 i = 0; i < 1024; i++)
			bad += p0[i] != ((i * 4) ^ (pass ? 0xa5a5a5a5 : 0x5a5a5a5a));
	}
	for (u32 i = 0; i < 1024; i++)
		p0[i] = saved[i];
	check(bad == 0, "page 0 (0x0-0xfff) reads back what was written (%u bad words)", bad);
	return check_result();
}
