/* Kernel heap. Sizes up to KMALLOC_MAX_SLAB come from per-size-class slab
 * pages; larger ones are whole buddy blocks. Usable as soon as frame_init()
 * has run; safe from any CPU. */
#ifndef UMBRA_MM_KMALLOC_H
#define UMBRA_MM_KMALLOC_H

#include "lib/types.h"

#define KMALLOC_MIN_SIZE 16
#define KMALLOC_NR_CLASSES 8	/* 16, 32, ..., 2048 bytes */
#define KMALLOC_MAX_SLAB (KMALLOC_MIN_SIZE << (KMALLOC_NR_CLASSES - 1))
#define KMALLOC_MAX_SIZE (4ull << 20)	/* one FRAME_MAX_ORDER block */

/*
 * Returns a direct-map pointer to at least size bytes, or NULL when out of
 * memory or size > KMALLOC_MAX_SIZE. The pointer is aligned to size rounded
 * up to a power of two, capped at PAGE_SIZE (so always to 16 bytes).
 * kmalloc(0) returns a valid minimal allocation.
 */
void *kmalloc(size_t size);
void *kzalloc(size_t size);

/* kfree(NULL) does nothing. Freeing anything not from kmalloc, or freeing
 * twice, panics where that is cheap to detect (it nearly always is). */
void kfree(void *p);

struct kmalloc_class_stats {
	u64 obj_size;
	u64 objs_in_use;
	u64 pages;		/* slab pages held, including a cached empty one */
};

struct kmalloc_stats {
	u64 bytes_in_use;	/* counted in whole objects / blocks */
	u64 slab_pages;
	u64 large_pages;	/* pages in blocks of large allocations */
	struct kmalloc_class_stats cls[KMALLOC_NR_CLASSES];
};

/* A snapshot; each class is consistent in itself, not across classes. */
void kmalloc_get_stats(struct kmalloc_stats *out);

#endif
