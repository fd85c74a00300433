/* The hypervisor's own page tables: the boot tables from boot/boot.S
 * (identity + direct map + kernel, first 4 GiB) extended to all of RAM. */
#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "boot/layout.h"
#include "kernel/log.h"
#include "lib/string.h"
#include "mm/phys.h"

extern u64 boot_pml4[512];

#define GIB (1ull << 30)
#define DIRECT_MAP_PML4_INDEX 256

static u64 *pool_take(struct mem_range *pool)
{
	if (pool->end - pool->start < PAGE_SIZE)
		return NULL;
	u64 *page = phys_to_virt(pool->start);
	pool->start += PAGE_SIZE;
	memset(page, 0, PAGE_SIZE);
	return page;
}

static bool cpu_has_1g_pages(void)
{
	return cpuid(0x80000001, 0).edx & BIT(26);
}

bool paging_extend_direct_map(paddr_t top, struct mem_range *pool)
{
	bool huge = cpu_has_1g_pages();
	for (paddr_t gib = 4 * GIB; gib < top; gib += GIB) {
		u64 idx = gib / GIB; /* 1 GiB slots from the direct map start */
		u64 *pml4e = &boot_pml4[DIRECT_MAP_PML4_INDEX + idx / 512];
		if (DIRECT_MAP_PML4_INDEX + idx / 512 >= 511)
			return false; /* would collide with the kernel slot */
		if (!(*pml4e & PTE_P)) {
			u64 *pdpt = pool_take(pool);
			if (!pdpt)
				return false;
			*pml4e = virt_to_phys(pdpt) | PTE_P | PTE_W;
		}
		u64 *pdpt = phys_to_virt(*pml4e & PTE_ADDR_MASK);
		if (huge) {
			pdpt[idx % 512] = gib | PTE_P | PTE_W | PTE_PS;
			continue;
		}
		u64 *pd = pool_take(pool);
		if (!pd)
			return false;
		for (int i = 0; i < 512; i++)
			pd[i] = (gib + i * (2ull << 20)) | PTE_P | PTE_W | PTE_PS;
		pdpt[idx % 512] = virt_to_phys(pd) | PTE_P | PTE_W;
	}
	write_cr3(read_cr3());
	return true;
}

void paging_drop_identity(void)
{
	boot_pml4[0] = 0;
	write_cr3(read_cr3());
}
