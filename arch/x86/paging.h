#ifndef UMBRA_ARCH_X86_PAGING_H
#define UMBRA_ARCH_X86_PAGING_H

#include "lib/types.h"

#define PTE_P BIT(0)
#define PTE_W BIT(1)
#define PTE_PS BIT(7)
#define PTE_NX BIT(63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* Boot mapped the first 4 GiB. Extends the direct map to cover [0, top),
 * taking page-table pages from `pool` (advanced past what it uses). Returns
 * false if the pool ran out. */
bool paging_extend_direct_map(paddr_t top, struct mem_range *pool);
/* Removes the low identity map once no CPU runs from low addresses. */
void paging_drop_identity(void);

#endif
