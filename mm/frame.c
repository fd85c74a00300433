/* Buddy allocator for physical frames. Per-frame metadata lives in one array
 * (not in the free frames themselves), so a stray write into free memory
 * cannot corrupt the allocator and free memory is never touched. */
#include "mm/frame.h"
#include "kernel/log.h"
#include "kernel/spinlock.h"
#include "lib/string.h"
#include "mm/phys.h"

#define MAX_BLOCK_PAGES (1ull << FRAME_MAX_ORDER)
#define NIL 0xffffffffu
/* Frame indices are u32 and NIL must stay unused: caps the span at ~16 TiB. */
#define MAX_FRAMES ((1ull << 32) - MAX_BLOCK_PAGES)

enum frame_state {
	FS_RESERVED = 0,	/* not managed: hole, page 0, or our metadata */
	FS_TAIL,		/* managed, inside a block but not its first frame */
	FS_FREE,		/* first frame of a free block (on a free list) */
	FS_ALLOC,		/* first frame of an allocated block */
};

struct frame {
	u32 next, prev;	/* free-list links (frame indices) while FS_FREE */
	u32 tag;	/* owner tag; nonzero only on FS_ALLOC frames. Atomic. */
	u8 state;
	u8 order;	/* block order, valid on FS_FREE and FS_ALLOC frames */
	u16 unused;
};
_Static_assert(sizeof(struct frame) == 16, "frame metadata size is documented");

/*
 * Locking rule: frame_lock guards the free lists, the stats and the state,
 * order and links of every frame. The owner tag is the exception: it is only
 * written by the block's owner (or by frame_free under the lock) and is read
 * without the lock, using atomic accesses. The layout below (frames,
 * base_pfn, nframes) is written only by frame_init, before concurrent use.
 */
static spinlock_t frame_lock = SPINLOCK_INIT;
static struct frame *frames;	/* frames[i] describes pfn base_pfn + i */
static u64 base_pfn;		/* aligned to MAX_BLOCK_PAGES, so buddies of */
static u64 nframes;		/* in-range blocks are always in range too */
/* NIL until frame_init, so allocating before it fails instead of crashing. */
static u32 free_head[FRAME_MAX_ORDER + 1] = { [0 ... FRAME_MAX_ORDER] = NIL };
static struct frame_stats stats;
static bool initialized;

static paddr_t idx_to_pa(u32 idx)
{
	return (base_pfn + idx) << PAGE_SHIFT;
}

static void list_push(u32 idx, unsigned order)
{
	struct frame *f = &frames[idx];

	f->state = FS_FREE;
	f->order = order;
	f->prev = NIL;
	f->next = free_head[order];
	if (f->next != NIL)
		frames[f->next].prev = idx;
	free_head[order] = idx;
}

static void list_remove(u32 idx)
{
	struct frame *f = &frames[idx];

	ASSERT(f->state == FS_FREE);
	if (f->prev != NIL)
		frames[f->prev].next = f->next;
	else
		free_head[f->order] = f->next;
	if (f->next != NIL)
		frames[f->next].prev = f->prev;
	f->state = FS_TAIL;
}

/* The page-aligned part of r below limit, without page 0. */
static bool clip_range(const struct mem_range *r, paddr_t limit, paddr_t *s,
		       paddr_t *e)
{
	paddr_t start = MAX(r->start, PAGE_SIZE);
	paddr_t end = MIN(r->end, limit);

	if (start >= end || start > ~0ull - PAGE_SIZE)
		return false;
	*s = ALIGN_UP(start, PAGE_SIZE);
	*e = ALIGN_DOWN(end, PAGE_SIZE);
	return *s < *e;
}

/* Metadata goes at the top of the highest range that can hold it, leaving
 * low memory (which some devices and boot code need) to others. */
static paddr_t place_metadata(const struct mem_range *usable, size_t n,
			      paddr_t limit, u64 bytes)
{
	paddr_t best = FRAME_NONE, s, e;

	for (size_t i = 0; i < n; i++) {
		if (!clip_range(&usable[i], limit, &s, &e) || e - s < bytes)
			continue;
		if (best == FRAME_NONE || e - bytes > best)
			best = e - bytes;
	}
	return best;
}

/* Splits the run of usable frames [idx, end) into maximal aligned blocks. */
static void free_run(u64 idx, u64 end)
{
	while (idx < end) {
		unsigned order = FRAME_MAX_ORDER;

		while (!IS_ALIGNED(idx, 1ull << order) || idx + (1ull << order) > end)
			order--;
		list_push((u32)idx, order);
		idx += 1ull << order;
	}
}

void frame_init(const struct mem_range *usable, size_t n)
{
	paddr_t lo = ~0ull, hi = 0, limit, meta, s, e;
	u64 meta_bytes, usable_pages = 0;

	ASSERT(!initialized);
	initialized = true;

	for (size_t i = 0; i < n; i++) {
		if (clip_range(&usable[i], ~0ull, &s, &e)) {
			lo = MIN(lo, s);
			hi = MAX(hi, e);
		}
	}
	if (hi == 0) {
		log_warn("frame: no usable memory");
		return;
	}

	base_pfn = ALIGN_DOWN(lo >> PAGE_SHIFT, MAX_BLOCK_PAGES);
	nframes = ALIGN_UP(hi >> PAGE_SHIFT, MAX_BLOCK_PAGES) - base_pfn;
	if (nframes > MAX_FRAMES) {
		log_warn("frame: ignoring memory above 0x%llx",
			 (unsigned long long)((base_pfn + MAX_FRAMES) << PAGE_SHIFT));
		nframes = MAX_FRAMES;
	}
	limit = (base_pfn + nframes) << PAGE_SHIFT;

	meta_bytes = ALIGN_UP(nframes * sizeof(struct frame), PAGE_SIZE);
	meta = place_metadata(usable, n, limit, meta_bytes);
	if (meta == FRAME_NONE)
		panic("frame: no usable range can hold %llu bytes of frame metadata",
		      (unsigned long long)meta_bytes);
	frames = phys_to_virt(meta);
	memset(frames, 0, nframes * sizeof(struct frame));	/* all FS_RESERVED */

	/* Mark first, then build blocks, so overlapping ranges are harmless. */
	for (size_t i = 0; i < n; i++) {
		if (!clip_range(&usable[i], limit, &s, &e))
			continue;
		for (u64 pfn = s >> PAGE_SHIFT; pfn < e >> PAGE_SHIFT; pfn++)
			frames[pfn - base_pfn].state = FS_TAIL;
	}
	for (u64 pfn = meta >> PAGE_SHIFT; pfn < (meta + meta_bytes) >> PAGE_SHIFT; pfn++)
		frames[pfn - base_pfn].state = FS_RESERVED;

	for (u64 idx = 0; idx < nframes;) {
		u64 end = idx;

		while (end < nframes && frames[end].state == FS_TAIL)
			end++;
		free_run(idx, end);
		usable_pages += end - idx;
		idx = end + 1;
	}

	stats.total_pages = usable_pages;
	stats.free_pages = usable_pages;
	stats.metadata_pages = meta_bytes / PAGE_SIZE;
	log_info("frame: %llu MiB usable, %llu KiB metadata",
		 (unsigned long long)(usable_pages >> (20 - PAGE_SHIFT)),
		 (unsigned long long)(meta_bytes >> 10));
}

paddr_t frame_alloc(unsigned order)
{
	unsigned long flags;
	unsigned k;
	u32 idx;

	if (order > FRAME_MAX_ORDER)
		return FRAME_NONE;

	flags = spin_lock(&frame_lock);
	for (k = order; k <= FRAME_MAX_ORDER && free_head[k] == NIL; k++)
		;
	if (k > FRAME_MAX_ORDER) {
		spin_unlock(&frame_lock, flags);
		return FRAME_NONE;
	}
	idx = free_head[k];
	list_remove(idx);
	while (k > order) {	/* give back the upper halves */
		k--;
		list_push(idx + (1u << k), k);
	}
	ASSERT(frames[idx].tag == 0);
	frames[idx].state = FS_ALLOC;
	frames[idx].order = order;
	stats.free_pages -= 1ull << order;
	stats.allocs++;
	spin_unlock(&frame_lock, flags);
	return idx_to_pa(idx);
}

paddr_t frame_alloc_zeroed(unsigned order)
{
	paddr_t pa = frame_alloc(order);

	if (pa != FRAME_NONE)
		memset(phys_to_virt(pa), 0, PAGE_SIZE << order);
	return pa;
}

/* Index of the frame at pa if pa is a managed frame address, else NIL. */
static u32 pa_to_idx(paddr_t pa)
{
	u64 pfn = pa >> PAGE_SHIFT;

	if (!IS_ALIGNED(pa, PAGE_SIZE) || pfn < base_pfn || pfn - base_pfn >= nframes)
		return NIL;
	return (u32)(pfn - base_pfn);
}

/* Why (pa, order) cannot be freed, or NULL if it can. Caller holds the lock. */
static const char *free_error(paddr_t pa, unsigned order, u32 idx)
{
	if (order > FRAME_MAX_ORDER)
		return "order too large";
	if (!IS_ALIGNED(pa, PAGE_SIZE << order))
		return "address not aligned to the block size";
	if (idx == NIL)
		return "address outside managed memory";
	switch (frames[idx].state) {
	case FS_FREE:
		return "double free (block is already free)";
	case FS_TAIL:
		return "not the start of an allocated block (double free?)";
	case FS_RESERVED:
		return "frame is not managed by the allocator";
	}
	if (frames[idx].order != order)
		return "order differs from the allocation's";
	return NULL;
}

void frame_free(paddr_t pa, unsigned order)
{
	unsigned orig = order;
	unsigned long flags;
	const char *err;
	u32 idx = pa_to_idx(pa);

	flags = spin_lock(&frame_lock);
	err = free_error(pa, order, idx);
	if (err) {
		spin_unlock(&frame_lock, flags);
		panic("frame_free(0x%llx, order %u): %s", (unsigned long long)pa,
		      order, err);
	}
	__atomic_store_n(&frames[idx].tag, 0, __ATOMIC_RELAXED);
	frames[idx].state = FS_TAIL;
	while (order < FRAME_MAX_ORDER) {
		u32 buddy = idx ^ (1u << order);

		if (frames[buddy].state != FS_FREE || frames[buddy].order != order)
			break;
		list_remove(buddy);
		idx = MIN(idx, buddy);
		order++;
	}
	list_push(idx, order);
	stats.free_pages += 1ull << orig;
	stats.frees++;
	spin_unlock(&frame_lock, flags);
}

void frame_set_owner(paddr_t pa, u32 tag)
{
	u32 idx = pa_to_idx(pa);

	/* No lock: an allocated block's state only changes when its owner
	 * frees it, and only the owner calls this. */
	if (idx == NIL || READ_ONCE(frames[idx].state) != FS_ALLOC)
		panic("frame_set_owner(0x%llx): not an allocated block",
		      (unsigned long long)pa);
	__atomic_store_n(&frames[idx].tag, tag, __ATOMIC_RELAXED);
}

u32 frame_get_owner(paddr_t pa)
{
	u32 idx = pa_to_idx(pa);

	if (idx == NIL)
		return 0;
	return __atomic_load_n(&frames[idx].tag, __ATOMIC_RELAXED);
}

void frame_get_stats(struct frame_stats *out)
{
	unsigned long flags = spin_lock(&frame_lock);

	*out = stats;
	spin_unlock(&frame_lock, flags);
}

#ifdef UMBRA_HOST
void frame_reset_for_test(void)
{
	frames = NULL;
	base_pfn = 0;
	nframes = 0;
	memset(&stats, 0, sizeof(stats));
	for (unsigned o = 0; o <= FRAME_MAX_ORDER; o++)
		free_head[o] = NIL;
	initialized = false;
}
#endif
