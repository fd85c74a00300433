/* Free-RAM list construction: alignment, carving reservations, taking pools. */
#include "tests/unit/unit.h"
#include "mm/memmap.h"

static struct memmap m;

TEST(add_aligns_and_drops_empty)
{
	m.n = 0;
	memmap_add(&m, 0x1001, 0x5fff);
	CHECK_EQ(m.n, 1);
	CHECK_EQ(m.r[0].start, 0x2000);
	CHECK_EQ(m.r[0].end, 0x5000);
	memmap_add(&m, 0x7001, 0x7fff); /* less than a page after alignment */
	memmap_add(&m, 0x9000, 0x8000); /* inverted */
	CHECK_EQ(m.n, 1);
	memmap_add(&m, 0, 0x3000); /* page 0 is never usable */
	CHECK_EQ(m.r[1].start, 0x1000);
	memmap_add(&m, ~0ull - 0x800, ~0ull); /* would wrap when aligned up */
	CHECK_EQ(m.n, 2);
}

TEST(reserve_splits_and_trims)
{
	m.n = 0;
	memmap_add(&m, 0x100000, 0x800000);
	memmap_add(&m, 0x1000000, 0x2000000);
	memmap_reserve(&m, 0x200123, 0x300001); /* middle: split */
	memmap_reserve(&m, 0x0, 0x180000);      /* front trim */
	memmap_reserve(&m, 0x1f00000, ~0ull);   /* tail trim up to the top */
	CHECK_EQ(m.n, 3);
	CHECK_EQ(memmap_total(&m), (0x200000 - 0x180000) + (0x800000 - 0x301000) +
					   (0x1f00000 - 0x1000000));
	for (size_t i = 0; i < m.n; i++) {
		CHECK(m.r[i].end <= 0x200000 || m.r[i].start >= 0x301000);
		CHECK(m.r[i].start >= 0x180000);
		CHECK(m.r[i].end <= 0x1f00000);
	}
	memmap_reserve(&m, 0, ~0ull);
	CHECK_EQ(m.n, 0);
}

TEST(take_lowest_fitting_below_limit)
{
	m.n = 0;
	memmap_add(&m, 0x200000000ull, 0x300000000ull); /* above 4 GiB */
	memmap_add(&m, 0x100000, 0x102000);             /* too small */
	memmap_add(&m, 0x400000, 0x800000);
	struct mem_range got = memmap_take(&m, 0x4000, 1ull << 32);
	CHECK_EQ(got.start, 0x400000);
	CHECK_EQ(got.end, 0x404000);
	CHECK_EQ(memmap_top(&m), 0x300000000ull);
	got = memmap_take(&m, 0x1000000, 1ull << 32);
	CHECK_EQ(got.end, 0); /* nothing that big below 4 GiB */
	got = memmap_take(&m, 0x2000, 1ull << 32);
	CHECK_EQ(got.start, 0x100000); /* exact fit removes the range */
	CHECK_EQ(m.n, 2);
}

TEST(table_full_counts_drops)
{
	m.n = 0;
	m.dropped = 0;
	for (int i = 0; i < 300; i++)
		memmap_add(&m, (u64)(i + 1) * 0x10000, (u64)(i + 1) * 0x10000 + 0x1000);
	CHECK_EQ(m.n, 256);
	CHECK_EQ(m.dropped, 44);
}

int main(void)
{
	RUN(add_aligns_and_drops_empty);
	RUN(reserve_splits_and_trims);
	RUN(take_lowest_fitting_below_limit);
	RUN(table_full_counts_drops);
	return unit_report("memmap");
}
