/* memory: writes and verifies address-derived patterns (two passes, different
 * patterns) over MiB of RAM (default 256, option mib=N) above its own image,
 * found through the multiboot memory map (the VM needs >= 300 MiB).
 * Paging is off, so only RAM below 4 GiB is used. */
#include "guest.h"

#define MIB (1u << 20)

static u32 pattern(u32 addr, u32 pass)
{
	return pass == 0 ? addr ^ 0xa5a5a5a5u : ~(addr * 0x9e3779b1u) ^ 0x5a5a0000u;
}

struct range {
	u32 start, end;
};

/* Whole-area passes (write everything, then verify everything), so two
 * addresses backed by the same memory are caught too. */
static u32 run_pass(const struct range *r, u32 n, u32 pass)
{
	u32 bad = 0;
	for (u32 i = 0; i < n; i++)
		for (volatile u32 *p = (volatile u32 *)r[i].start; (u32)p < r[i].end; p++)
			*p = pattern((u32)p, pass);
	for (u32 i = 0; i < n; i++)
		for (volatile u32 *p = (volatile u32 *)r[i].start; (u32)p < r[i].end; p++) {
			u32 v = *p, want = pattern((u32)p, pass);
			if (v != want && bad++ == 0)
				printf("  first mismatch at 0x%x: 0x%x, want 0x%x\n", (u32)p, v, want);
		}
	printf("  ..   pass %u: %u bad words\n", pass + 1, bad);
	return bad;
}

u32 guest_main(void)
{
	u32 want = opt_u32("mib", 256), done = 0, bad = 0, n = 0;
	u32 floor = ((u32)__image_end + MIB - 1) & ~(MIB - 1); /* first MiB above the image */
	struct range r[16];
	printf("memory (%s): testing %u MiB above 0x%x\n", argv0, want, floor);
	u64 base, len;
	u32 type;
	for (unsigned i = 0; done < want && n < 16 && mmap_entry(i, &base, &len, &type); i++) {
		if (type != 1)
			continue;
		u64 s = base > floor ? base : floor, e = base + len;
		s = (s + MIB - 1) & ~(u64)(MIB - 1);
		e &= ~(u64)(MIB - 1);
		if (e > 0xfff00000ull)
			e = 0xfff00000ull; /* paging off: stay below 4 GiB */
		if (s >= e)
			continue;
		if (((e - s) >> 20) > want - done)
			e = s + ((u64)(want - done) << 20);
		r[n++] = (struct range){ (u32)s, (u32)e };
		done += (u32)((e - s) >> 20);
		printf("  ..   range 0x%x-0x%x\n", (u32)s, (u32)e - 1);
	}
	if (!check(done == want, "found %u of %u MiB of RAM to test", done, want))
		return check_result();
	for (u32 pass = 0; pass < 2; pass++)
		bad += run_pass(r, n, pass);
	check(bad == 0, "%u MiB checked with 2 patterns: %u bad words", done, bad);
	return check_result();
}
