/* Page tracking: per-gfn counts, the protect hook on the first add and the
 * last remove, notifiers seeing exactly the writes to tracked pages. */
#include "tests/unit/unit.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "shadow/page_track.h"

static int protect_calls, unprotect_calls;
static u64 last_protect_gfn;

static void protect_hook(void *ctx, u64 gfn, enum track_mode mode, bool protect)
{
	last_protect_gfn = gfn;
	if (protect)
		protect_calls++;
	else
		unprotect_calls++;
}

struct seen {
	int calls;
	u64 gpa;
	u8 old[16], new_[16];
	unsigned len;
};

static void on_write(struct page_track_notifier *n, u64 gpa, const void *old, const void *new_,
		     unsigned len)
{
	struct seen *s = n->ctx;
	s->calls++;
	s->gpa = gpa;
	s->len = len;
	memcpy(s->old, old, len);
	memcpy(s->new_, new_, len);
}

static struct page_track t;

static void setup(u64 gfns)
{
	page_track_init(&t, gfns);
	t.protect = protect_hook;
	protect_calls = unprotect_calls = 0;
}

TEST(counts_and_protect_hook)
{
	setup(1024);
	CHECK(!page_tracked(&t, 5, TRACK_WRITE));
	CHECK(track_add(&t, 5, TRACK_WRITE));
	CHECK(track_add(&t, 5, TRACK_WRITE));
	CHECK_EQ(protect_calls, 1); /* only the first user protects */
	CHECK_EQ(last_protect_gfn, 5);
	CHECK(page_tracked(&t, 5, TRACK_WRITE));
	CHECK(!page_tracked(&t, 6, TRACK_WRITE));
	CHECK(track_remove(&t, 5, TRACK_WRITE));
	CHECK(page_tracked(&t, 5, TRACK_WRITE));
	CHECK_EQ(unprotect_calls, 0);
	CHECK(track_remove(&t, 5, TRACK_WRITE));
	CHECK(!page_tracked(&t, 5, TRACK_WRITE));
	CHECK_EQ(unprotect_calls, 1);
	CHECK(!track_remove(&t, 5, TRACK_WRITE)); /* not tracked any more */
	CHECK_EQ(unprotect_calls, 1);
	page_track_destroy(&t);
}

TEST(bounds_and_overflow)
{
	setup(16);
	CHECK(!track_add(&t, 16, TRACK_WRITE));
	CHECK(!track_add(&t, ~0ull, TRACK_WRITE));
	CHECK(!track_add(&t, 1, TRACK_MODE_COUNT));
	CHECK(!page_tracked(&t, 1000, TRACK_WRITE));
	for (u32 i = 0; i < TRACK_COUNT_MAX; i++)
		CHECK(track_add(&t, 3, TRACK_WRITE));
	CHECK(!track_add(&t, 3, TRACK_WRITE)); /* would overflow */
	for (u32 i = 0; i < TRACK_COUNT_MAX; i++)
		CHECK(track_remove(&t, 3, TRACK_WRITE));
	CHECK(!page_tracked(&t, 3, TRACK_WRITE));
	CHECK_EQ(protect_calls, 1);
	CHECK_EQ(unprotect_calls, 1);
	page_track_destroy(&t);
}

TEST(notifiers_see_tracked_writes_only)
{
	setup(64);
	struct seen a = { 0 }, b = { 0 };
	struct page_track_notifier na = { .track_write = on_write, .ctx = &a };
	struct page_track_notifier nb = { .track_write = on_write, .ctx = &b };
	page_track_register(&t, &na);
	page_track_register(&t, &nb);
	u64 oldv = 0x1111, newv = 0x2222;
	CHECK(!page_track_write(&t, 7 * PAGE_SIZE + 8, &oldv, &newv, 8));
	CHECK_EQ(a.calls, 0);
	CHECK(track_add(&t, 7, TRACK_WRITE));
	CHECK(page_track_write(&t, 7 * PAGE_SIZE + 8, &oldv, &newv, 8));
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(a.gpa, 7 * PAGE_SIZE + 8);
	CHECK_EQ(a.len, 8);
	CHECK(!memcmp(a.old, &oldv, 8) && !memcmp(a.new_, &newv, 8));
	page_track_unregister(&t, &nb);
	CHECK(page_track_write(&t, 7 * PAGE_SIZE, &oldv, &newv, 4));
	CHECK_EQ(a.calls, 2);
	CHECK_EQ(b.calls, 1);
	CHECK(track_remove(&t, 7, TRACK_WRITE));
	CHECK(!page_track_write(&t, 7 * PAGE_SIZE, &oldv, &newv, 4));
	CHECK_EQ(a.calls, 2);
	page_track_destroy(&t);
}

int main(void)
{
	/* kmalloc needs frames: give the allocator a buffer as "RAM". */
	static u8 ram[8 << 20] __attribute__((aligned(4096)));
	phys_map_offset = (uintptr_t)ram - 0x100000;
	struct mem_range r = { 0x100000, 0x100000 + sizeof(ram) };
	frame_init(&r, 1);
	RUN(counts_and_protect_hook);
	RUN(bounds_and_overflow);
	RUN(notifiers_see_tracked_writes_only);
	return unit_report("page_track");
}
