/* Physical frame allocator: a buddy allocator over 4 KiB frames. Blocks are
 * 2^order contiguous frames aligned to their own size. All entry points are
 * safe to call concurrently from any CPU once frame_init() has returned. */
#ifndef UMBRA_MM_FRAME_H
#define UMBRA_MM_FRAME_H

#include "lib/types.h"

#define FRAME_MAX_ORDER 10	/* largest block: 2^10 frames = 4 MiB */
#define FRAME_NONE (~0ull)	/* returned when no block is available */

/*
 * Hand all usable RAM to the allocator. Ranges need not be sorted or page
 * aligned; partial pages, empty ranges and physical page 0 are ignored. The
 * per-frame metadata (16 bytes per frame between the lowest and highest
 * usable address) is carved out of the ranges themselves. Call exactly once,
 * before other CPUs can allocate.
 */
void frame_init(const struct mem_range *usable, size_t n);

/* Returns the physical address of a free block of 2^order frames, or
 * FRAME_NONE when memory is exhausted or order > FRAME_MAX_ORDER. */
paddr_t frame_alloc(unsigned order);
paddr_t frame_alloc_zeroed(unsigned order);

/* Frees a block from frame_alloc() with the same order. Anything else (double
 * free, wrong order, an address that is not the start of an allocated block)
 * is a hypervisor bug and panics. */
void frame_free(paddr_t pa, unsigned order);

/*
 * Owner tags: while a block is allocated, its owner may record a 32-bit tag on
 * it so that code holding only an address can tell what the block is (kfree
 * uses this). The top 8 bits name the owning subsystem, the low 24 bits are
 * the subsystem's own. Tags are reset to 0 when the block is freed.
 */
enum frame_owner_kind {
	FRAME_OWNER_NONE = 0,
	FRAME_OWNER_KMALLOC_SLAB,	/* data: kmalloc size class and use count */
	FRAME_OWNER_KMALLOC_LARGE,	/* data: block order */
	FRAME_OWNER_SHADOW_PAGE,	/* data: index in its VM's shadow-page pool */
};

#define FRAME_TAG(kind, data) (((u32)(kind) << 24) | ((u32)(data) & 0xffffffu))
#define FRAME_TAG_KIND(tag) ((u32)(tag) >> 24)
#define FRAME_TAG_DATA(tag) ((u32)(tag) & 0xffffffu)

/* pa must be the start of an allocated block (else panic). Only the block's
 * owner may set its tag; setting is lock-free. */
void frame_set_owner(paddr_t pa, u32 tag);

/* The tag of the allocated block starting at pa, or 0 for any other address
 * (free, inside a block, unmanaged, unaligned). Lock-free. */
u32 frame_get_owner(paddr_t pa);

struct frame_stats {
	u64 total_pages;	/* frames managed, excluding the metadata */
	u64 free_pages;
	u64 metadata_pages;	/* frames used for the allocator's own metadata */
	u64 allocs, frees;	/* successful frame_alloc / frame_free calls */
};

void frame_get_stats(struct frame_stats *out);

#ifdef UMBRA_HOST
/* Forget all state so a test can call frame_init() again. */
void frame_reset_for_test(void);
#endif

#endif
