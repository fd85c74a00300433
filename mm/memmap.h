/* Building the list of free RAM from the boot memory map: page-align usable
 * regions and carve out what is in use (kernel, boot data, modules). */
#ifndef UMBRA_MM_MEMMAP_H
#define UMBRA_MM_MEMMAP_H

#include "lib/types.h"

struct memmap {
	struct mem_range r[256];
	size_t n;
	u32 dropped; /* pieces lost because the table was full */
};

/* Adds [start, end) shrunk to whole pages; empty results are ignored. */
void memmap_add(struct memmap *m, paddr_t start, paddr_t end);
/* Removes [start, end) (widened to whole pages) from every range. */
void memmap_reserve(struct memmap *m, paddr_t start, paddr_t end);
u64 memmap_total(const struct memmap *m);
paddr_t memmap_top(const struct memmap *m);
/* Takes `bytes` (page multiple) from the lowest range below `limit` that can
 * hold them; returns the range taken, or an empty range. */
struct mem_range memmap_take(struct memmap *m, u64 bytes, paddr_t limit);

#endif
