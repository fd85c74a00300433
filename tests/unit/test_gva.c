/*
 * Guest-virtual translation: page tables of every paging mode built in a
 * fake 16 MiB guest memory, not-present and out-of-memory entries, recursive
 * tables, page-splitting reads, and a fuzzer over random tables.
 */
#include "tests/unit/unit.h"
#include "tests/unit/fake_mem.h"
#include "virt/gva.h"

#define MEM_SIZE (16u << 20)

#define CR0_PG BIT(31)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_LA57 BIT(12)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)

#define P BIT(0)
#define RW BIT(1)
#define PS BIT(7)
#define XD BIT(63)


static void put32(u64 pa, u32 v) { memcpy(gm + pa, &v, 4); }
static void put64(u64 pa, u64 v) { memcpy(gm + pa, &v, 8); }

static void reset(void)
{
	memset(gm, 0, MEM_SIZE);
	reads = 0;
}

/* Translation of gva, or ~0 when there is none. */
static u64 xlate(const struct guest_paging *p, u64 gva)
{
	u64 gpa = 0x5a5a5a5a;

	if (!gva_translate(&fm, p, gva, &gpa))
		return ~0ull;
	return gpa;
}

TEST(paging_off_is_identity_32bit)
{
	struct guest_paging p = { .cr0 = 0, .cr4 = CR4_PAE };

	reset();
	CHECK_EQ(xlate(&p, 0x12345678), 0x12345678);
	CHECK_EQ(xlate(&p, 0xffffffff00001234ull), 0x1234); /* 32-bit linear */
	CHECK_EQ(reads, 0);
}

TEST(two_level_4k)
{
	struct guest_paging p = { .cr0 = CR0_PG, .cr3 = 0x10000 | 0x18 /* PWT, PCD */ };
	u64 gva = (1u << 22) | (0x23u << 12) | 0x567;

	reset();
	put32(0x10000 + 1 * 4, 0x11000 | P | RW);
	put32(0x11000 + 0x23 * 4, 0x200000 | P);
	CHECK_EQ(xlate(&p, gva), 0x200567);
	CHECK_EQ(xlate(&p, gva | 0xabcd00000000ull), 0x200567); /* upper half ignored */
	CHECK_EQ(xlate(&p, gva + 0x1000), ~0ull);		/* PTE not present */
	CHECK_EQ(xlate(&p, 2u << 22), ~0ull);			/* PDE not present */
	/* A PTE with only the address (no P bit) is not present. */
	put32(0x11000 + 0x24 * 4, 0x300000);
	CHECK_EQ(xlate(&p, gva + 0x1000), ~0ull);
}

TEST(two_level_pse)
{
	struct guest_paging p = { .cr0 = CR0_PG, .cr3 = 0x10000 };

	reset();
	put32(0x10000 + 2 * 4, 0x00c00000 | PS | P);
	/* Without CR4.PSE the PS bit is ignored: the PDE points at a page
	 * table at 0xc00000, whose entry 0x12 is empty. */
	CHECK_EQ(xlate(&p, (2u << 22) | 0x12345), ~0ull);
	put32(0xc00000 + 0x12 * 4, 0x5000 | P);
	CHECK_EQ(xlate(&p, (2u << 22) | 0x12345), 0x5345);
	p.cr4 = CR4_PSE;
	CHECK_EQ(xlate(&p, (2u << 22) | 0x12345), 0xc12345);
	CHECK_EQ(xlate(&p, (2u << 22) | 0x3fffff), 0xffffff);
	/* PSE-36: PDE bits 20:13 are physical-address bits 39:32. */
	put32(0x10000 + 3 * 4, 0x00400000 | (0x05u << 13) | PS | P);
	CHECK_EQ(xlate(&p, (3u << 22) | 0x10), 0x500400010ull);
}

TEST(two_level_tables_outside_memory)
{
	struct guest_paging p = { .cr0 = CR0_PG, .cr3 = 0x10000 };

	reset();
	put32(0x10000, 0xfffff000 | P); /* page table far beyond 16 MiB */
	CHECK_EQ(xlate(&p, 0x1000), ~0ull);
	p.cr3 = 0x7ffff000; /* page directory itself outside memory */
	CHECK_EQ(xlate(&p, 0x1000), ~0ull);
}

TEST(pae)
{
	struct guest_paging p = { .cr0 = CR0_PG, .cr4 = CR4_PAE, .cr3 = 0x20020 };
	u64 gva = (2u << 30) | (5u << 21) | (7u << 12) | 0xabc;

	reset();
	put64(0x20020 + 2 * 8, 0x21000 | P);
	put64(0x21000 + 5 * 8, 0x22000 | P | RW);
	put64(0x22000 + 7 * 8, XD | 0x345000 | P);
	CHECK_EQ(xlate(&p, gva), 0x345abc);
	CHECK_EQ(xlate(&p, gva | (1ull << 40)), 0x345abc);
	/* 2 MiB page; bit 12 (PAT) is not an address bit. */
	put64(0x21000 + 6 * 8, 0x600000 | BIT(12) | PS | P);
	CHECK_EQ(xlate(&p, (2u << 30) | (6u << 21) | 0x12345), 0x612345);
	/* Physical addresses above 4 GiB are fine. */
	put64(0x22000 + 8 * 8, 0x123456000ull | P);
	CHECK_EQ(xlate(&p, (2u << 30) | (5u << 21) | (8u << 12) | 1), 0x123456001ull);
	/* Not-present PDPTE, PDE, PTE. */
	CHECK_EQ(xlate(&p, (1u << 30)), ~0ull);
	CHECK_EQ(xlate(&p, (2u << 30) | (9u << 21)), ~0ull);
	CHECK_EQ(xlate(&p, (2u << 30) | (5u << 21) | (9u << 12)), ~0ull);
	/* A PDPTE with a reserved bit (bit 5, set after the CR3 load: the CPU
	 * uses the loaded value) still translates: this walker fetches bytes
	 * the CPU has just executed. */
	put64(0x20020 + 3 * 8, 0x21000 | BIT(5) | P);
	CHECK(xlate(&p, (3u << 30) | (5u << 21) | (7u << 12)) != ~0ull);
	/* Page directory outside guest memory. */
	put64(0x20020 + 0 * 8, 0x7000000000ull | P);
	CHECK_EQ(xlate(&p, 0x1000), ~0ull);
}

static struct guest_paging long_mode(u64 cr3)
{
	struct guest_paging p = {
		.cr0 = CR0_PG, .cr4 = CR4_PAE, .efer = EFER_LME | EFER_LMA,
		.cr3 = cr3,
	};
	return p;
}

TEST(four_level)
{
	struct guest_paging p = long_mode(0x30000 | 0x7 /* PCID */);
	u64 hh = 0xffffffff80001234ull; /* PML4 511, PDPT 510, PD 0, PT 1 */

	reset();
	put64(0x30000 + 511 * 8, 0x31000 | P);
	put64(0x31000 + 510 * 8, 0x32000 | P);
	put64(0x32000 + 0 * 8, 0x33000 | P);
	put64(0x33000 + 1 * 8, XD | 0x401000 | P);
	CHECK_EQ(xlate(&p, hh), 0x401234);
	/* 2 MiB page at PD entry 1, 1 GiB page at PDPT entry 1. */
	put64(0x32000 + 1 * 8, 0xa00000 | PS | P);
	CHECK_EQ(xlate(&p, 0xffffffff80200000ull + 0x1f00ff), 0xbf00ff);
	put64(0x30000 + 0 * 8, 0x34000 | P);
	put64(0x34000 + 1 * 8, 0x80000000ull | PS | P);
	CHECK_EQ(xlate(&p, (1ull << 30) + 0x3fffffff), 0xbfffffffull);
	CHECK_EQ(xlate(&p, (1ull << 30) + 0x12345678), 0x92345678ull);
	/* Not present at each level. */
	CHECK_EQ(xlate(&p, 0x0000100000000000ull), ~0ull);	 /* PML4 32 */
	CHECK_EQ(xlate(&p, 2ull << 30), ~0ull);			 /* PDPT 2 */
	CHECK_EQ(xlate(&p, 0xffffffff80400000ull), ~0ull);	 /* PD 2 */
	CHECK_EQ(xlate(&p, 0xffffffff80002000ull), ~0ull);	 /* PT 2 */
	/* Non-canonical addresses have no translation. */
	CHECK_EQ(xlate(&p, 0x0000800000000000ull), ~0ull);
	CHECK_EQ(xlate(&p, 0x7fffffff80001234ull), ~0ull);
	/* PS in a PML4E is reserved. */
	put64(0x30000 + 1 * 8, 0x0 | PS | P);
	CHECK_EQ(xlate(&p, 0x0000008000000000ull), ~0ull);
	/* A PDPT outside guest memory. */
	put64(0x30000 + 2 * 8, 0xfff0000000ull | P);
	CHECK_EQ(xlate(&p, 0x0000010000000000ull), ~0ull);
}

TEST(recursive_tables_terminate)
{
	struct guest_paging p = long_mode(0x40000);
	u64 gpa;

	reset();
	/* PML4[0] points at the PML4 itself: every level reads the same
	 * table, and the walk ends after four reads at the table's page. */
	put64(0x40000, 0x40000 | P);
	reads = 0;
	CHECK(gva_translate(&fm, &p, 0x123, &gpa));
	CHECK_EQ(gpa, 0x40123);
	CHECK_EQ(reads, 4);
	/* With PS set in the self-reference, the walk refuses at the PML4. */
	put64(0x40000, 0x40000 | PS | P);
	reads = 0;
	CHECK(!gva_translate(&fm, &p, 0x123, &gpa));
	CHECK_EQ(reads, 1);
	/* 32-bit: a PDE pointing at the page directory. */
	p.cr0 = CR0_PG;
	p.cr4 = 0;
	p.efer = 0;
	p.cr3 = 0x50000;
	put32(0x50000, 0x50000 | P);
	reads = 0;
	CHECK(gva_translate(&fm, &p, 0xabc, &gpa));
	CHECK_EQ(gpa, 0x50abc);
	CHECK_EQ(reads, 2);
}

TEST(five_level)
{
	struct guest_paging p = long_mode(0x60000);
	u64 va = 0x00ff000000000000ull | 0x5123; /* PML5 255, then 0, 0, 0, PT 5 */

	p.cr4 |= CR4_LA57;
	reset();
	/* va bits 56:48 = 0xff -> PML5 index 255. */
	put64(0x60000 + 255 * 8, 0x61000 | P);
	put64(0x61000, 0x62000 | P);
	put64(0x62000, 0x63000 | P);
	put64(0x63000, 0x64000 | P);
	put64(0x64000 + 5 * 8, 0x777000 | P);
	CHECK_EQ(xlate(&p, va), 0x777123);
	/* The same address is non-canonical for 4-level paging. */
	p.cr4 &= ~CR4_LA57;
	CHECK_EQ(xlate(&p, va), ~0ull);
	p.cr4 |= CR4_LA57;
	CHECK_EQ(xlate(&p, 0x0100000000000000ull), ~0ull); /* non-canonical at 57 */
	put64(0x60000 + 256 * 8, PS | P); /* PS in a PML5E is reserved */
	CHECK_EQ(xlate(&p, 0xff00000000000000ull), ~0ull);
}

TEST(read_virt_splits_pages)
{
	struct guest_paging p = long_mode(0x30000);
	u8 buf[32];

	reset();
	put64(0x30000, 0x31000 | P);
	put64(0x31000, 0x32000 | P);
	put64(0x32000, 0x33000 | P);
	put64(0x33000 + 1 * 8, 0x500000 | P); /* va 0x1000 -> 0x500000 */
	put64(0x33000 + 2 * 8, 0x700000 | P); /* va 0x2000 -> 0x700000 */
	for (int i = 0; i < 8; i++) {
		gm[0x500ff8 + i] = (u8)(0x10 + i);
		gm[0x700000 + i] = (u8)(0x20 + i);
	}
	memset(buf, 0, sizeof(buf));
	CHECK(guest_read_virt(&fm, &p, 0x1ff8, buf, 16));
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(buf[i], 0x10 + i);
		CHECK_EQ(buf[8 + i], 0x20 + i);
	}
	/* Page 3 is not mapped: a read into it fails, one before it works. */
	CHECK(!guest_read_virt(&fm, &p, 0x2ff8, buf, 16));
	CHECK(guest_read_virt(&fm, &p, 0x2ff8, buf, 8));
	CHECK(guest_read_virt(&fm, &p, 0x9999000, buf, 0)); /* nothing to read */
	/* A read spanning several whole pages. */
	{
		static u8 big[PAGE_SIZE + 16];
		CHECK(guest_read_virt(&fm, &p, 0x1000, big, PAGE_SIZE + 16));
		CHECK_EQ(big[0xff8], 0x10);
		CHECK_EQ(big[PAGE_SIZE], 0x20);
	}
}

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random table contents in the first 64 KiB, random modes and addresses:
 * translation never crashes, reads at most five entries, and any result
 * keeps the page offset. */
TEST(fuzz_random_tables)
{
	reset();
	for (u32 i = 0; i < 0x10000; i += 8) {
		u64 v = rng();
		/* Keep most pointers inside the fuzzed area so walks go deep. */
		if (v & 1)
			v = (v & ~0x000ffffffffff000ull) | (rng() & 0xf000);
		put64(i, v);
	}
	for (int it = 0; it < 200000; it++) {
		u64 r = rng();
		struct guest_paging p = {
			.cr0 = (r & 1) ? CR0_PG : 0,
			.cr3 = rng() & 0xffff,
			.cr4 = ((r & 2) ? CR4_PAE : 0) | ((r & 4) ? CR4_PSE : 0) |
			       ((r & 8) ? CR4_LA57 : 0),
			.efer = (r & 16) ? EFER_LMA : 0,
		};
		u64 gva = rng(), gpa;

		if (r & 32) /* canonical, so long-mode walks get going */
			gva = (u64)((s64)(gva << 16) >> 16);
		reads = 0;
		if (gva_translate(&fm, &p, gva, &gpa))
			CHECK_EQ(gpa & 0xfff, gva & 0xfff);
		CHECK(reads <= 5);
		if (reads > 5 || unit_current_failed)
			break;
	}
}

int main(void)
{
	gm = malloc(MEM_SIZE);
	fake_mem_size = write_limit = MEM_SIZE;
	if (!gm)
		return 1;
	RUN(paging_off_is_identity_32bit);
	RUN(two_level_4k);
	RUN(two_level_pse);
	RUN(two_level_tables_outside_memory);
	RUN(pae);
	RUN(four_level);
	RUN(recursive_tables_terminate);
	RUN(five_level);
	RUN(read_virt_splits_pages);
	RUN(fuzz_random_tables);
	free(gm);
	return unit_report("gva");
}
