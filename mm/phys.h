/* Access to physical memory. The kernel reaches all RAM through a direct map
 * at DIRECT_MAP_BASE; host tests point phys_map_offset at a buffer that stands
 * in for physical memory, so allocator and page-table code runs unchanged. */
#ifndef UMBRA_MM_PHYS_H
#define UMBRA_MM_PHYS_H

#include "lib/types.h"

#define DIRECT_MAP_BASE 0xffff800000000000ull
#define KERNEL_VIRT_BASE 0xffffffff80000000ull

#ifdef UMBRA_HOST
extern uintptr_t phys_map_offset;
#else
#define phys_map_offset ((uintptr_t)DIRECT_MAP_BASE)
#endif

static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(uintptr_t)(pa + phys_map_offset);
}

/* Only for pointers into the direct map (not the kernel image). */
static inline paddr_t virt_to_phys(const void *p)
{
	return (paddr_t)((uintptr_t)p - phys_map_offset);
}

/*
 * Bounded access to physical memory for parsers of firmware/bootloader data
 * (multiboot info, ACPI tables): map() returns a pointer to len readable bytes
 * at pa, or NULL when that range is not accessible. Parsers never dereference
 * an address they did not get from map(); host tests inject fake memory here.
 */
struct phys_reader {
	const void *(*map)(void *ctx, paddr_t pa, u64 len);
	void *ctx;
};

static inline const void *phys_read_map(const struct phys_reader *r,
					paddr_t pa, u64 len)
{
	if (pa + len < pa)
		return NULL;
	return r->map(r->ctx, pa, len);
}

#endif
