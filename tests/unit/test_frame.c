/* Buddy frame allocator: layout handling, alignment and overlap, coalescing,
 * a random run checked against a model, concurrent use, panics on misuse.
 * A host buffer stands in for physical memory [fake_base, +FAKE_SIZE). */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "tests/unit/host_env.h"
#include "kernel/log.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/phys.h"

#define FAKE_SIZE (64ull << 20)
#define FAKE_PAGES (FAKE_SIZE / PAGE_SIZE)

static u8 *fake_mem;
static paddr_t fake_base;
static const struct mem_range *cur_ranges;
static size_t cur_n;
static u8 page_used[FAKE_PAGES];	/* model: page is in a live block */
static paddr_t blocks[FAKE_PAGES];
static unsigned block_order[FAKE_PAGES];

/* Unsorted, with an unaligned start, sub-page, empty and inverted ranges. */
static const struct mem_range main_ranges[] = {
	{ 0x2000000, 0x4100000 },	/* 33 MiB, top of fake memory */
	{ 0x100123, 0x180000 },		/* unaligned start */
	{ 0x300000, 0x300fff },		/* less than a page */
	{ 0x400800, 0x401800 },		/* a page long, but no whole page */
	{ 0x500000, 0x500000 },		/* empty */
	{ 0x900000, 0x800000 },		/* inverted */
	{ 0x1000000, 0x1c00001 },	/* 12 MiB and a byte */
	{ 0x600000, 0x601000 },		/* exactly one page */
};
#define MAIN_USABLE_PAGES (0x2100 + 0x7f + 0xc00 + 1)
#define MAIN_MAX_BLOCKS 11	/* 4 MiB-aligned 4 MiB blocks inside ranges */

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rng_next(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static u64 rnd(u64 n)
{
	return rng_next(&rng_state) % n;
}

static void setup(paddr_t base, const struct mem_range *r, size_t n)
{
	fake_base = base;
	phys_map_offset = (uintptr_t)fake_mem - base;
	memset(fake_mem, 0xcc, FAKE_SIZE);	/* metadata must not rely on zeroes */
	memset(page_used, 0, sizeof(page_used));
	cur_ranges = r;
	cur_n = n;
	frame_reset_for_test();
	frame_init(r, n);
}

static void setup_main(void)
{
	setup(0x100000, main_ranges, ARRAY_SIZE(main_ranges));
}

static size_t page_idx(paddr_t pa)
{
	if (pa < fake_base || pa >= fake_base + FAKE_SIZE) {
		fprintf(stderr, "address 0x%llx outside fake memory\n",
			(unsigned long long)pa);
		abort();
	}
	return (pa - fake_base) / PAGE_SIZE;
}

/* Independent of the allocator: is the page at pa wholly inside a range? */
static bool in_usable(paddr_t pa)
{
	if (pa == 0)
		return false;
	for (size_t i = 0; i < cur_n; i++)
		if (pa >= cur_ranges[i].start && pa + PAGE_SIZE <= cur_ranges[i].end)
			return true;
	return false;
}

static u64 usable_pages(void)
{
	u64 n = 0;

	for (u64 i = 0; i < FAKE_PAGES; i++)
		n += in_usable(fake_base + i * PAGE_SIZE);
	return n;
}

static struct frame_stats stats(void)
{
	struct frame_stats s;

	frame_get_stats(&s);
	return s;
}

/* Checks a fresh block and marks its pages in use. */
static bool take(paddr_t pa, unsigned order)
{
	bool ok = true;

	if (pa == FRAME_NONE || !IS_ALIGNED(pa, PAGE_SIZE << order))
		return false;
	for (u64 i = 0; i < (1ull << order); i++) {
		paddr_t p = pa + i * PAGE_SIZE;

		if (!in_usable(p) || page_used[page_idx(p)])
			ok = false;
		else
			page_used[page_idx(p)] = 1;
	}
	return ok;
}

static void give(paddr_t pa, unsigned order)
{
	for (u64 i = 0; i < (1ull << order); i++)
		page_used[page_idx(pa + i * PAGE_SIZE)] = 0;
	frame_free(pa, order);
}

/* Allocates order-`order` blocks until none is left; all must check out. */
static size_t exhaust(unsigned order, size_t start)
{
	size_t n = start;
	paddr_t pa;

	while ((pa = frame_alloc(order)) != FRAME_NONE) {
		CHECK(take(pa, order));
		if (n == FAKE_PAGES) {	/* more blocks than memory */
			CHECK(n < FAKE_PAGES);
			break;
		}
		blocks[n] = pa;
		block_order[n++] = order;
	}
	return n;
}

static void free_all_shuffled(size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(i);
		paddr_t pa = blocks[i - 1];
		unsigned o = block_order[i - 1];

		blocks[i - 1] = blocks[j];
		block_order[i - 1] = block_order[j];
		blocks[j] = pa;
		block_order[j] = o;
	}
	for (size_t i = 0; i < n; i++)
		give(blocks[i], block_order[i]);
}

static size_t count_max_blocks(void)
{
	size_t n = exhaust(FRAME_MAX_ORDER, 0);

	free_all_shuffled(n);
	return n;
}


TEST(layout_accounting)
{
	struct frame_stats s;
	size_t n, unhanded = 0;
	u64 first = ~0ull, last = 0;

	setup_main();
	s = stats();
	CHECK_EQ(usable_pages(), MAIN_USABLE_PAGES);
	CHECK_EQ(s.total_pages + s.metadata_pages, MAIN_USABLE_PAGES);
	/* 16 bytes per frame of the span, rounded out to 4 MiB blocks. */
	CHECK(s.metadata_pages > 0);
	CHECK(s.metadata_pages <=
	      ((0x4100000 - 0x101000) / PAGE_SIZE + 2048) * 16 / PAGE_SIZE + 1);
	CHECK_EQ(s.free_pages, s.total_pages);

	n = exhaust(0, 0);
	CHECK_EQ(n, s.total_pages);
	CHECK_EQ(stats().free_pages, 0);
	CHECK_EQ(frame_alloc(0), FRAME_NONE);
	/* The usable pages never handed out are the metadata, in one piece. */
	for (u64 i = 0; i < FAKE_PAGES; i++) {
		paddr_t pa = fake_base + i * PAGE_SIZE;

		if (in_usable(pa) && !page_used[i]) {
			unhanded++;
			first = MIN(first, i);
			last = MAX(last, i);
		}
	}
	CHECK_EQ(unhanded, s.metadata_pages);
	CHECK_EQ(last - first + 1, s.metadata_pages);

	/* Scribbling over every allocated frame must not hurt the allocator. */
	for (size_t i = 0; i < n; i++)
		memset(phys_to_virt(blocks[i]), 0xa5, PAGE_SIZE);
	free_all_shuffled(n);
	s = stats();
	CHECK_EQ(s.free_pages, s.total_pages);
	CHECK_EQ(s.allocs, n);
	CHECK_EQ(s.frees, n);
	CHECK_EQ(exhaust(0, 0), n);
	free_all_shuffled(n);
}

TEST(coalescing)
{
	size_t n;

	setup_main();
	CHECK_EQ(count_max_blocks(), MAIN_MAX_BLOCKS);

	free_all_shuffled(exhaust(0, 0));
	CHECK_EQ(stats().free_pages, stats().total_pages);
	CHECK_EQ(count_max_blocks(), MAIN_MAX_BLOCKS);

	/* Mixed orders until even a single frame is gone. */
	n = 0;
	for (;;) {
		unsigned o = rnd(FRAME_MAX_ORDER + 1);
		paddr_t pa = frame_alloc(o);

		if (pa == FRAME_NONE) {
			o = 0;
			pa = frame_alloc(0);
			if (pa == FRAME_NONE)
				break;
		}
		CHECK(take(pa, o));
		blocks[n] = pa;
		block_order[n++] = o;
	}
	CHECK_EQ(stats().free_pages, 0);
	free_all_shuffled(n);
	CHECK_EQ(stats().free_pages, stats().total_pages);
	CHECK_EQ(count_max_blocks(), MAIN_MAX_BLOCKS);
}

/* Does the model have a free, fully managed, aligned block of this order? */
static bool model_has_free_block(const u8 *managed, unsigned order)
{
	u64 size = PAGE_SIZE << order;

	for (paddr_t pa = ALIGN_UP(fake_base, size); pa + size <= fake_base + FAKE_SIZE;
	     pa += size) {
		bool all = true;

		for (u64 i = 0; i < (1ull << order) && all; i++) {
			size_t k = page_idx(pa + i * PAGE_SIZE);

			all = managed[k] && !page_used[k];
		}
		if (all)
			return true;
	}
	return false;
}

TEST(random_vs_model)
{
	static u8 managed[FAKE_PAGES];
	size_t live = 0, n;
	u64 live_pages = 0, total, failures = 0;

	setup_main();
	total = stats().total_pages;
	n = exhaust(0, 0);
	memcpy(managed, page_used, sizeof(managed));
	free_all_shuffled(n);

	for (int op = 0; op < 30000; op++) {
		if (live > 0 && (rnd(2) || live == FAKE_PAGES)) {
			size_t i = rnd(live);

			give(blocks[i], block_order[i]);
			live_pages -= 1ull << block_order[i];
			blocks[i] = blocks[--live];
			block_order[i] = block_order[live];
		} else {
			unsigned o = rnd(4) ? rnd(3) : rnd(FRAME_MAX_ORDER + 1);
			paddr_t pa = frame_alloc(o);

			if (pa == FRAME_NONE) {
				/* Full coalescing: no failure while a block fits. */
				CHECK(!model_has_free_block(managed, o));
				failures++;
			} else {
				CHECK(take(pa, o));
				blocks[live] = pa;
				block_order[live++] = o;
				live_pages += 1ull << o;
			}
		}
		CHECK_EQ(stats().free_pages, total - live_pages);
	}
	CHECK(failures > 0);	/* the run did reach exhaustion */
	free_all_shuffled(live);
	CHECK_EQ(stats().free_pages, total);
	CHECK_EQ(count_max_blocks(), MAIN_MAX_BLOCKS);
}

TEST(zeroed_and_owner)
{
	paddr_t pa, pb;
	u32 tag = FRAME_TAG(FRAME_OWNER_KMALLOC_LARGE, 0x123456);
	u8 *p;
	bool zero = true;

	setup_main();
	CHECK_EQ(frame_alloc(FRAME_MAX_ORDER + 1), FRAME_NONE);

	pa = frame_alloc(2);
	memset(phys_to_virt(pa), 0xff, 4 * PAGE_SIZE);
	frame_free(pa, 2);
	pb = frame_alloc_zeroed(2);
	CHECK(pb != FRAME_NONE);
	p = phys_to_virt(pb);
	for (size_t i = 0; i < 4 * PAGE_SIZE; i++)
		zero &= p[i] == 0;
	CHECK(zero);

	CHECK_EQ(frame_get_owner(pb), 0);
	frame_set_owner(pb, tag);
	CHECK_EQ(frame_get_owner(pb), tag);
	CHECK_EQ(FRAME_TAG_KIND(tag), FRAME_OWNER_KMALLOC_LARGE);
	CHECK_EQ(FRAME_TAG_DATA(tag), 0x123456);
	CHECK_EQ(frame_get_owner(pb + PAGE_SIZE), 0);	/* inside the block */
	CHECK_EQ(frame_get_owner(pb + 8), 0);		/* unaligned */
	CHECK_EQ(frame_get_owner(0), 0);
	CHECK_EQ(frame_get_owner(0x7fff0000000ull), 0);	/* unmanaged */
	CHECK_EQ(frame_get_owner(~0ull & PAGE_MASK), 0);
	frame_free(pb, 2);
	CHECK_EQ(frame_get_owner(pb), 0);
	pa = frame_alloc(2);
	CHECK_EQ(frame_get_owner(pa), 0);	/* a new owner starts clean */
	frame_free(pa, 2);
}

/* Frees two buddy frames (so they merge), then one of them again. */
static void free_merged_twice(bool upper)
{
	paddr_t prev = frame_alloc(0), cur;

	for (;;) {
		cur = frame_alloc(0);
		if (cur == FRAME_NONE)
			_exit(2);
		if ((prev ^ cur) == PAGE_SIZE)
			break;
		prev = cur;
	}
	frame_free(prev, 0);
	frame_free(cur, 0);
	frame_free(upper ? MAX(prev, cur) : MIN(prev, cur), 0);
}

TEST(misuse_panics)
{
	paddr_t a, b, c;

	setup_main();
	a = frame_alloc(0);
	b = frame_alloc(1);
	c = frame_alloc(2);
	EXPECT_PANIC("order too large", frame_free(c, FRAME_MAX_ORDER + 1));
	EXPECT_PANIC("not aligned", frame_free(a + 0x800, 0));
	EXPECT_PANIC("not aligned", frame_free(b + PAGE_SIZE, 1));
	EXPECT_PANIC("not the start of an allocated block", frame_free(b + PAGE_SIZE, 0));
	EXPECT_PANIC("order differs", frame_free(c, 1));
	EXPECT_PANIC("outside managed memory", frame_free(0x100000000ull, 0));
	EXPECT_PANIC("not managed", frame_free(0, 0));
	EXPECT_PANIC("not managed", frame_free(0x300000, 0));	/* in a hole */
	EXPECT_PANIC("double free", { frame_free(a, 0); frame_free(a, 0); });
	EXPECT_PANIC("double free", { frame_free(c, 2); frame_free(c, 2); });
	EXPECT_PANIC("not an allocated block", frame_set_owner(b + PAGE_SIZE, 1));
	EXPECT_PANIC("not an allocated block", { frame_free(a, 0); frame_set_owner(a, 1); });
	/* A freed block merged into its buddy is caught either way round. */
	EXPECT_PANIC("double free", free_merged_twice(false));
	EXPECT_PANIC("double free", free_merged_twice(true));
	/* The parent's allocator is untouched by the children. */
	CHECK_EQ(frame_get_owner(a), 0);
	frame_free(a, 0);
	frame_free(b, 1);
	frame_free(c, 2);
	CHECK_EQ(stats().free_pages, stats().total_pages);
}

TEST(address_zero_and_overlap)
{
	static const struct mem_range r[] = {
		{ 0x200000, 0x500000 },
		{ 0, 0x300000 },		/* contains address 0 */
		{ 0x100000, 0x180000 },		/* duplicates part of the above */
		{ 0x480000, 0x481000 },
	};
	struct frame_stats s;
	size_t n;

	setup(0, r, ARRAY_SIZE(r));
	s = stats();
	CHECK_EQ(usable_pages(), 0x500 - 1);
	CHECK_EQ(s.total_pages + s.metadata_pages, 0x500 - 1);
	n = exhaust(0, 0);	/* take() rejects page 0 and repeats */
	CHECK_EQ(n, s.total_pages);
	free_all_shuffled(n);
	/* [0, 4 MiB) would be a whole max-order block if page 0 were free. */
	CHECK_EQ(frame_alloc(FRAME_MAX_ORDER), FRAME_NONE);
	CHECK_EQ(stats().free_pages, s.total_pages);
}

TEST(empty_and_tiny_inputs)
{
	static const struct mem_range tiny[] = {
		{ 0x100000, 0x100fff },
		{ 0x200001, 0x201001 },
		{ 0, 0x1000 },			/* only page 0 */
		{ 0xfffffffffffff000ull, ~0ull },	/* beyond everything */
	};
	int warns = host_log_count[LOG_WARN];

	setup(0x100000, NULL, 0);
	CHECK_EQ(frame_alloc(0), FRAME_NONE);
	CHECK_EQ(stats().total_pages, 0);
	CHECK_EQ(host_log_count[LOG_WARN], warns + 1);

	setup(0x100000, tiny, ARRAY_SIZE(tiny));
	CHECK_EQ(frame_alloc(0), FRAME_NONE);
	CHECK_EQ(stats().total_pages, 0);
	CHECK_EQ(stats().metadata_pages, 0);
	CHECK_EQ(frame_get_owner(0x100000), 0);
	EXPECT_PANIC("outside managed memory", frame_free(0x100000, 0));
}

TEST(metadata_placement)
{
	static const struct mem_range far_apart[] = {
		{ 0x100000, 0x200000 },
		{ 0x3f00000, 0x4000000 },
	};
	static const struct mem_range too_small[] = {
		{ 0x100000, 0x101000 },
		{ 0x3fff000, 0x4000000 },
	};
	struct frame_stats s;

	/* 64 MiB span -> 64 metadata pages, which fit in either 1 MiB range. */
	setup(0x100000, far_apart, ARRAY_SIZE(far_apart));
	s = stats();
	CHECK_EQ(s.metadata_pages, 64);
	CHECK_EQ(s.total_pages, 512 - 64);
	free_all_shuffled(exhaust(0, 0));
	CHECK_EQ(stats().free_pages, s.total_pages);

	EXPECT_PANIC("frame metadata", setup(0x100000, too_small, ARRAY_SIZE(too_small)));
}

/* Threads allocate and free concurrently; each page is claimed in a shared
 * table with compare-and-swap (a duplicate hand-out fails the claim), and
 * every block is filled with a pattern that must survive until it is freed. */
#define THREADS 8
#define THREAD_OPS 20000
#define THREAD_LIVE 48

static u8 page_owner[FAKE_PAGES];
static int hammer_errors;

struct held {
	paddr_t pa;
	unsigned order;
	u64 serial;
};

static u64 pattern(unsigned tid, u64 serial, u64 word)
{
	return (u64)(tid + 1) << 56 | serial << 24 | word;
}

static void hammer_free(unsigned tid, struct held *h)
{
	u64 *w = phys_to_virt(h->pa);
	u64 words = (PAGE_SIZE << h->order) / 8;

	for (u64 i = 0; i < words; i++)
		if (w[i] != pattern(tid, h->serial, i)) {
			__atomic_fetch_add(&hammer_errors, 1, __ATOMIC_RELAXED);
			break;
		}
	for (u64 i = 0; i < (1ull << h->order); i++)
		__atomic_store_n(&page_owner[page_idx(h->pa + i * PAGE_SIZE)], 0,
				 __ATOMIC_RELAXED);
	frame_free(h->pa, h->order);
}

static void *hammer(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	u64 rng = 0x1234567ull * (tid + 1), serial = 0;
	struct held held[THREAD_LIVE];
	size_t live = 0;

	for (int op = 0; op < THREAD_OPS; op++) {
		u64 r = rng_next(&rng);

		if (live == THREAD_LIVE || (live > 0 && (r & 1))) {
			size_t i = (r >> 8) % live;

			hammer_free(tid, &held[i]);
			held[i] = held[--live];
		} else {
			unsigned o = (r >> 8) % 16 == 0 ? (r >> 16) % (FRAME_MAX_ORDER + 1)
							: (r >> 16) % 4;
			paddr_t pa = frame_alloc(o);
			u64 *w;

			if (pa == FRAME_NONE)
				continue;
			for (u64 i = 0; i < (1ull << o); i++) {
				u8 expect = 0;

				if (!__atomic_compare_exchange_n(&page_owner[page_idx(pa + i * PAGE_SIZE)],
								 &expect, tid + 1, false,
								 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
					__atomic_fetch_add(&hammer_errors, 1, __ATOMIC_RELAXED);
			}
			if (!IS_ALIGNED(pa, PAGE_SIZE << o))
				__atomic_fetch_add(&hammer_errors, 1, __ATOMIC_RELAXED);
			held[live] = (struct held){ pa, o, ++serial };
			w = phys_to_virt(pa);
			for (u64 i = 0; i < (PAGE_SIZE << o) / 8; i++)
				w[i] = pattern(tid, serial, i);
			live++;
		}
	}
	while (live > 0)
		hammer_free(tid, &held[--live]);
	return NULL;
}

TEST(concurrent_hammer)
{
	pthread_t t[THREADS];
	struct frame_stats before, after;

	setup_main();
	frame_get_stats(&before);
	for (unsigned i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	frame_get_stats(&after);
	CHECK_EQ(hammer_errors, 0);
	CHECK_EQ(after.free_pages, before.total_pages);
	CHECK_EQ(after.allocs, after.frees);
	CHECK(after.allocs > THREADS * THREAD_OPS / 4);
	CHECK_EQ(count_max_blocks(), MAIN_MAX_BLOCKS);
}

int main(void)
{
	fake_mem = aligned_alloc(PAGE_SIZE, FAKE_SIZE);
	if (!fake_mem)
		return 1;
	RUN(layout_accounting);
	RUN(coalescing);
	RUN(random_vs_model);
	RUN(zeroed_and_owner);
	RUN(misuse_panics);
	RUN(address_zero_and_overlap);
	RUN(empty_and_tiny_inputs);
	RUN(metadata_placement);
	RUN(concurrent_hammer);
	free(fake_mem);
	return unit_report("frame");
}
