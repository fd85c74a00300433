/* isolation: run as two VMs at once (id=A and id=B). Checks 1 MiB at
 * 0x2000000 it never wrote reads as zero (fresh VM memory), writes a
 * signature derived from its id over 16 MiB at 0x1000000, then re-reads it
 * for rounds=N rounds (default 20) and fails if anything else appears.
 * Options: id=X (a word; default "A"), rounds=N. */
#include "guest.h"

#define AREA 0x1000000u
#define AREA_SIZE (16u << 20)
#define ZERO 0x2000000u
#define ZERO_SIZE (1u << 20)

static u32 seed;

static u32 sig(u32 addr) { return (addr * 0x9e3779b1u) ^ seed; }

static bool ram_covers(u32 a, u32 len)
{
	u64 base, l;
	u32 type;
	for (unsigned i = 0; mmap_entry(i, &base, &l, &type); i++)
		if (type == 1 && base <= a && base + l >= (u64)a + len)
			return true;
	return false;
}

u32 guest_main(void)
{
	const char *id = opt_str("id");
	char name[16] = "A";
	if (id) {
		u32 n = 0;
		for (; id[n] && id[n] != ' ' && n < sizeof(name) - 1; n++)
			name[n] = id[n];
		name[n] = 0;
	}
	seed = 0x811c9dc5u; /* FNV-1a hash of the id */
	for (const char *c = name; *c; c++)
		seed = (seed ^ (u8)*c) * 0x01000193u;
	u32 rounds = opt_u32("rounds", 20);
	printf("isolation (%s): id %s, signature seed 0x%x, %u rounds\n", argv0, name, seed, rounds);
	if (!check(ram_covers(AREA, AREA_SIZE) && ram_covers(ZERO, ZERO_SIZE),
		   "RAM covers 0x%x-0x%x and 0x%x-0x%x", AREA, AREA + AREA_SIZE - 1, ZERO, ZERO + ZERO_SIZE - 1))
		return check_result();

	u32 nonzero = 0;
	for (volatile u32 *p = (volatile u32 *)ZERO; (u32)p < ZERO + ZERO_SIZE; p++)
		nonzero += *p != 0;
	check(nonzero == 0, "never-written 1 MiB at 0x%x reads zero (%u non-zero words)", ZERO, nonzero);

	for (volatile u32 *p = (volatile u32 *)AREA; (u32)p < AREA + AREA_SIZE; p++)
		*p = sig((u32)p);
	printf("wrote the %s signature over 16 MiB at 0x%x\n", name, AREA);
	u32 bad = 0;
	u64 t0 = rdtsc();
	for (u32 r = 0; r < rounds && !bad; r++) {
		for (volatile u32 *p = (volatile u32 *)AREA; (u32)p < AREA + AREA_SIZE; p++) {
			u32 v = *p;
			if (v != sig((u32)p) && bad++ == 0)
				printf("  round %u: 0x%x holds 0x%x, want 0x%x\n", r, (u32)p, v, sig((u32)p));
		}
		if (!bad && ((r + 1) % 5 == 0 || r + 1 == rounds))
			printf("  ..   round %u of %u: signature intact\n", r + 1, rounds);
	}
	printf("re-reading took %llu TSC ticks\n", rdtsc() - t0);
	check(bad == 0, "16 MiB signature of %s intact after %u rounds (%u bad words)", name, rounds, bad);
	nonzero = 0;
	for (volatile u32 *p = (volatile u32 *)ZERO; (u32)p < ZERO + ZERO_SIZE; p++)
		nonzero += *p != 0;
	check(nonzero == 0, "the never-written 1 MiB still reads zero (%u non-zero words)", nonzero);
	return check_result();
}
