/* kmalloc: every small size, alignment, no overlap, contents survive, kzalloc
 * zeroes, empty pages go back to the frame allocator, out-of-memory, misuse
 * panics, concurrent use. Runs on a host buffer standing in for RAM. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"

#define FAKE_BASE 0x100000ull
#define FAKE_SIZE (64ull << 20)

static u8 *fake_mem;
static u64 rng_state = 0x2545f4914f6cdd1dull;

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

static struct kmalloc_stats kstats(void)
{
	struct kmalloc_stats s;

	kmalloc_get_stats(&s);
	return s;
}

static u64 frames_free(void)
{
	struct frame_stats s;

	frame_get_stats(&s);
	return s.free_pages;
}

/* What kmalloc promises: size rounded up to a power of two, 16..PAGE_SIZE. */
static size_t expected_align(size_t size)
{
	size_t a = KMALLOC_MIN_SIZE;

	while (a < size && a < PAGE_SIZE)
		a <<= 1;
	return a;
}

/* Bytes that size really occupies: its class, or its buddy block. */
static size_t footprint(size_t size)
{
	size_t f = KMALLOC_MIN_SIZE;

	while (f < size)
		f <<= 1;
	return f;
}

static u8 fill_byte(size_t i, size_t off)
{
	return (u8)(i * 131 + off * 7 + 1);
}

struct alloc {
	u8 *p;
	size_t size;
};

static int by_addr(const void *a, const void *b)
{
	const struct alloc *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

static void shuffle(struct alloc *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(i);
		struct alloc t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}


#define ALL_SIZES 8192

TEST(every_size)
{
	static struct alloc a[ALL_SIZES];
	u64 free_before = frames_free(), expect_bytes = 0;
	struct kmalloc_stats s;
	bool ok = true;

	for (size_t i = 0; i < ALL_SIZES; i++) {
		size_t size = i + 1;
		u8 *p = kmalloc(size);

		CHECK(p != NULL);
		if (!p)
			return;
		CHECK_EQ((uintptr_t)p % expected_align(size), 0);
		for (size_t off = 0; off < size; off++)
			p[off] = fill_byte(i, off);
		a[i] = (struct alloc){ p, size };
		expect_bytes += footprint(size);
	}
	s = kstats();
	CHECK_EQ(s.bytes_in_use, expect_bytes);
	CHECK_EQ(free_before - frames_free(), s.slab_pages + s.large_pages);

	/* Contents survive: nothing overlapped or scribbled on anything. */
	for (size_t i = 0; i < ALL_SIZES; i++)
		for (size_t off = 0; off < a[i].size; off++)
			ok &= a[i].p[off] == fill_byte(i, off);
	CHECK(ok);
	qsort(a, ALL_SIZES, sizeof(a[0]), by_addr);
	for (size_t i = 1; i < ALL_SIZES; i++)
		CHECK(a[i - 1].p + a[i - 1].size <= a[i].p);

	shuffle(a, ALL_SIZES);
	for (size_t i = 0; i < ALL_SIZES; i++)
		kfree(a[i].p);
	s = kstats();
	CHECK_EQ(s.bytes_in_use, 0);
	CHECK_EQ(s.large_pages, 0);
	for (unsigned c = 0; c < KMALLOC_NR_CLASSES; c++) {
		CHECK_EQ(s.cls[c].obj_size, KMALLOC_MIN_SIZE << c);
		CHECK_EQ(s.cls[c].objs_in_use, 0);
		CHECK(s.cls[c].pages <= 1);	/* at most the cached page */
	}
	CHECK_EQ(frames_free(), free_before - s.slab_pages);
}

TEST(limits)
{
	u8 *p = kmalloc(0), *big;

	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % KMALLOC_MIN_SIZE, 0);
	kfree(p);
	kfree(NULL);
	CHECK(kmalloc(KMALLOC_MAX_SIZE + 1) == NULL);
	CHECK(kmalloc(SIZE_MAX) == NULL);
	CHECK(kzalloc(SIZE_MAX) == NULL);
	big = kmalloc(KMALLOC_MAX_SIZE);
	CHECK(big != NULL);
	if (!big)
		return;
	CHECK_EQ((uintptr_t)big % PAGE_SIZE, 0);
	CHECK_EQ(kstats().large_pages, KMALLOC_MAX_SIZE / PAGE_SIZE);
	memset(big, 0x5a, KMALLOC_MAX_SIZE);
	kfree(big);
	CHECK_EQ(kstats().large_pages, 0);
}

TEST(kzalloc_zeroes)
{
	static const size_t sizes[] = { 1, 16, 17, 100, 512, 2048, 2049, 4096, 5000, 70000 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i];
		u8 *p = kmalloc(n), *q;
		bool zero = true;

		memset(p, 0xab, n);	/* dirty it, so reuse would show */
		kfree(p);
		q = kzalloc(n);
		CHECK(q != NULL);
		for (size_t k = 0; k < n; k++)
			zero &= q[k] == 0;
		CHECK(zero);
		kfree(q);
	}
}

TEST(empty_pages_return)
{
	enum { N = 20000 };
	struct alloc *a = calloc(N, sizeof(*a));
	u64 free_before = frames_free();
	struct frame_stats fs0, fs1;

	for (size_t i = 0; i < N; i++)
		a[i] = (struct alloc){ kmalloc(64), 64 };
	CHECK(kstats().cls[2].pages >= N * 64 / PAGE_SIZE);
	CHECK(frames_free() <= free_before - N * 64 / PAGE_SIZE);
	shuffle(a, N);
	for (size_t i = 0; i < N; i++)
		kfree(a[i].p);
	CHECK(kstats().cls[2].pages <= 1);
	CHECK(frames_free() >= free_before - 1);
	free(a);

	/* A single object coming and going reuses the cached page. */
	frame_get_stats(&fs0);
	for (int i = 0; i < 1000; i++)
		kfree(kmalloc(64));
	frame_get_stats(&fs1);
	CHECK(fs1.allocs - fs0.allocs <= 1);
}

TEST(out_of_memory)
{
	size_t cap = FAKE_SIZE / KMALLOC_MIN_SIZE, n = 0, large = 0;
	void **p = malloc(cap * sizeof(*p));
	u64 free_before = frames_free();

	while (n < cap && (p[n] = kmalloc(KMALLOC_MAX_SIZE)) != NULL)
		n++;
	large = n;
	CHECK(large > 0);
	while (n < cap && (p[n] = kmalloc(KMALLOC_MIN_SIZE)) != NULL)
		n++;
	CHECK(n < cap);
	CHECK_EQ(frames_free(), 0);
	CHECK(kmalloc(1) == NULL);
	CHECK(kzalloc(3000) == NULL);
	for (size_t i = 0; i < n; i++)
		kfree(p[i]);
	CHECK(frames_free() >= free_before - 1);
	CHECK(frames_free() <= free_before + KMALLOC_NR_CLASSES);
	free(p);
}

/* Live objects that hold pointers to each other must not look free. */
TEST(live_lists_are_not_free)
{
	enum { N = 64 };
	void **obj[N];

	for (int i = 0; i < N; i++)
		obj[i] = kmalloc(16);
	for (int i = 0; i < N; i++) {	/* {next, prev} like a free object */
		obj[i][0] = obj[(i + 1) % N];
		obj[i][1] = obj[(i + N - 1) % N];
	}
	for (int i = 0; i < N; i += 2)
		kfree(obj[i]);
	for (int i = 1; i < N; i += 2)
		kfree(obj[i]);
	CHECK_EQ(kstats().cls[0].objs_in_use, 0);
}

TEST(misuse_panics)
{
	u8 *s16 = kmalloc(16), *s64 = kmalloc(64), *s2k = kmalloc(2048);
	u8 *big = kmalloc(3 * PAGE_SIZE);
	u8 *spare = kmalloc(64);	/* keeps s64's neighbour live */
	int local;
	paddr_t raw = frame_alloc(0);

	EXPECT_PANIC("double free", kfree(s16); kfree(s16));
	EXPECT_PANIC("double free", kfree(s64); kfree(s64));
	EXPECT_PANIC("double free", kfree(s2k); kfree(s2k));
	EXPECT_PANIC("not allocated by kmalloc", kfree(big); kfree(big));
	EXPECT_PANIC("not the start", kfree(s16 + 8));
	EXPECT_PANIC("not the start", kfree(s64 + 16));
	EXPECT_PANIC("not the start", kfree(s2k + 1024));
	EXPECT_PANIC("not the start", kfree(big + 64));
	EXPECT_PANIC("not allocated by kmalloc", kfree(big + PAGE_SIZE));
	EXPECT_PANIC("not allocated by kmalloc", kfree(&local));
	EXPECT_PANIC("not allocated by kmalloc", kfree(phys_to_virt(raw)));
	/* Freeing again into a slab page already given back to the frame
	 * allocator: the first emptied page stays cached, the last one goes. */
	EXPECT_PANIC("not allocated by kmalloc", {
		u8 *objs[6];
		for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
			objs[i] = kmalloc(2048);
		for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
			kfree(objs[i]);
		kfree(objs[ARRAY_SIZE(objs) - 1]);
	});
	frame_free(raw, 0);
	kfree(s16);
	kfree(s64);
	kfree(s2k);
	kfree(big);
	kfree(spare);
	CHECK_EQ(kstats().bytes_in_use, 0);
}

#define THREADS 8
#define THREAD_OPS 20000
#define THREAD_LIVE 64

static int thread_errors;

struct held {
	u8 *p;
	size_t size;
	u8 seed;
};

static bool verify_and_free(struct held *h)
{
	bool ok = true;

	for (size_t i = 0; i < h->size; i++)
		ok &= h->p[i] == (u8)(h->seed + i);
	kfree(h->p);
	return ok;
}

static void *hammer(void *arg)
{
	u64 rng = 0xabcdef12345ull * ((uintptr_t)arg + 1);
	struct held held[THREAD_LIVE];
	size_t live = 0;

	for (int op = 0; op < THREAD_OPS; op++) {
		u64 r = rng_next(&rng);

		if (live == THREAD_LIVE || (live > 0 && (r & 1))) {
			size_t i = (r >> 8) % live;

			if (!verify_and_free(&held[i]))
				__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
			held[i] = held[--live];
		} else {
			size_t size = (r >> 8) % 64 == 0 ? 1 + (r >> 16) % 40000
							 : 1 + (r >> 16) % 600;
			u8 *p = kmalloc(size);

			if (!p || (uintptr_t)p % expected_align(size) != 0) {
				__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			held[live] = (struct held){ p, size, (u8)(r >> 40) };
			for (size_t i = 0; i < size; i++)
				p[i] = (u8)(held[live].seed + i);
			live++;
		}
	}
	while (live > 0)
		if (!verify_and_free(&held[--live]))
			__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

TEST(concurrent)
{
	pthread_t t[THREADS];
	struct kmalloc_stats s;

	for (unsigned i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(thread_errors, 0);
	s = kstats();
	CHECK_EQ(s.bytes_in_use, 0);
	CHECK_EQ(s.large_pages, 0);
	for (unsigned c = 0; c < KMALLOC_NR_CLASSES; c++)
		CHECK(s.cls[c].pages <= 1);
}

int main(void)
{
	static const struct mem_range ram[] = {
		{ FAKE_BASE + FAKE_SIZE / 2, FAKE_BASE + FAKE_SIZE },
		{ FAKE_BASE, FAKE_BASE + FAKE_SIZE / 2 - PAGE_SIZE },
	};

	fake_mem = aligned_alloc(PAGE_SIZE, FAKE_SIZE);
	if (!fake_mem)
		return 1;
	phys_map_offset = (uintptr_t)fake_mem - FAKE_BASE;
	frame_init(ram, ARRAY_SIZE(ram));

	RUN(every_size);
	RUN(limits);
	RUN(kzalloc_zeroes);
	RUN(empty_pages_return);
	RUN(out_of_memory);
	RUN(live_lists_are_not_free);
	RUN(misuse_panics);
	RUN(concurrent);
	free(fake_mem);
	return unit_report("kmalloc");
}
