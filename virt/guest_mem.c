/* Guest RAM behind a nested page table: 4 levels, in the entry format the
 * backend chose (struct tdp_format: NPT or EPT). Leaf entries are the p2m:
 * gfn -> host frame. */
#include "arch/x86/paging.h"
#include "kernel/log.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "virt/guest_mem.h"

#define PTE_U BIT(2)
#define GUEST_MEM_MAX (1ull << 39) /* one PML4 entry's worth: 512 GiB */

/* AMD's NPT: x86-64 entries; nested walks are user accesses, so every
 * entry has U set (APM 15.25.5). */
const struct tdp_format tdp_format_npt = {
	.name = "NPT",
	.table_flags = PTE_P | PTE_W | PTE_U,
	.leaf_flags = PTE_P | PTE_W | PTE_U,
};

bool guest_mem_init(struct guest_mem *m, u64 size, const struct tdp_format *fmt)
{
	memset(m, 0, sizeof(*m));
	if (!size || size > GUEST_MEM_MAX || !IS_ALIGNED(size, PAGE_SIZE))
		return false;
	m->size = size;
	m->fmt = fmt;
	spin_init(&m->lock);
	m->root = frame_alloc_zeroed(0);
	if (m->root == FRAME_NONE)
		return false;
	m->table_pages = 1;
	return true;
}

/* Returns the leaf entry for gpa, creating tables when `alloc`. Caller holds
 * m->lock. NULL: no table (and !alloc) or out of memory. */
static u64 *npt_leaf(struct guest_mem *m, u64 gpa, bool alloc)
{
	u64 *table = phys_to_virt(m->root);
	for (int level = 3; level > 0; level--) {
		u64 *e = &table[(gpa >> (12 + 9 * level)) & 511];
		if (!(*e & PTE_P)) {
			if (!alloc)
				return NULL;
			paddr_t t = frame_alloc_zeroed(0);
			if (t == FRAME_NONE)
				return NULL;
			m->table_pages++;
			WRITE_ONCE(*e, t | m->fmt->table_flags);
		}
		table = phys_to_virt(*e & PTE_ADDR_MASK);
	}
	return &table[(gpa >> 12) & 511];
}

/* Lock-free lookup: entries only ever go from empty to a table or frame
 * (under the lock), and nothing is freed before the VM is destroyed, so a
 * reader sees either nothing or a final value. */
static paddr_t lookup_frame(const struct guest_mem *m, u64 gpa)
{
	const u64 *table = phys_to_virt(m->root);
	for (int level = 3; level >= 0; level--) {
		u64 e = READ_ONCE(table[(gpa >> (12 + 9 * level)) & 511]);
		if (!(e & PTE_P))
			return 0;
		if (level == 0)
			return e & PTE_ADDR_MASK;
		table = phys_to_virt(e & PTE_ADDR_MASK);
	}
	return 0;
}

/* Host address of gpa's frame, backing it when `alloc`; 0 when there is no
 * frame (outside RAM, not backed and !alloc, or out of memory). */
static paddr_t guest_frame(struct guest_mem *m, u64 gpa, bool alloc)
{
	if (gpa >= m->size)
		return 0;
	paddr_t known = lookup_frame(m, gpa);
	if (known || !alloc)
		return known;
	unsigned long f = spin_lock(&m->lock);
	paddr_t frame = 0;
	u64 *pte = npt_leaf(m, gpa, alloc);
	if (pte && (*pte & PTE_P)) {
		frame = *pte & PTE_ADDR_MASK;
	} else if (pte && alloc) {
		paddr_t fresh = frame_alloc_zeroed(0);
		if (fresh != FRAME_NONE) {
			m->pages++;
			WRITE_ONCE(*pte, fresh | m->fmt->leaf_flags);
			frame = fresh;
		}
	}
	spin_unlock(&m->lock, f);
	return frame;
}

bool guest_mem_fault_in(struct guest_mem *m, u64 gpa)
{
	return guest_frame(m, gpa, true) != 0;
}

void *guest_mem_ptr(struct guest_mem *m, u64 gpa)
{
	paddr_t frame = guest_frame(m, gpa, true);
	return frame ? (char *)phys_to_virt(frame) + (gpa & (PAGE_SIZE - 1)) : NULL;
}

bool guest_mem_cmpxchg(struct guest_mem *m, u64 gpa, void *expected, const void *desired,
		       unsigned len, bool *swapped)
{
	if (!len || len > 16 || (gpa & (PAGE_SIZE - 1)) + len > PAGE_SIZE)
		return false;
	void *p = guest_mem_ptr(m, gpa);
	if (!p)
		return false;
	switch (len) {
#define CMPXCHG_N(type)                                                                  \
	*swapped = __atomic_compare_exchange_n((type *)p, (type *)expected, *(const type *)desired, \
					       false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);      \
	return true;
	case 1: CMPXCHG_N(u8)
	case 2: CMPXCHG_N(u16)
	case 4: CMPXCHG_N(u32)
	case 8: CMPXCHG_N(u64)
#undef CMPXCHG_N
	}
	unsigned long f = spin_lock(&m->lock);
	*swapped = !memcmp(p, expected, len);
	if (*swapped)
		memcpy(p, desired, len);
	else
		memcpy(expected, p, len);
	spin_unlock(&m->lock, f);
	return true;
}

static bool gm_copy(void *ctx, u64 gpa, void *buf, size_t len, bool write)
{
	struct guest_mem *m = ctx;
	if (gpa >= m->size || len > m->size - gpa)
		return false;
	while (len) {
		size_t chunk = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
		/* Reading a never-touched page gives zeros without backing it. */
		paddr_t frame = guest_frame(m, gpa, write);
		if (frame) {
			void *p = (char *)phys_to_virt(frame) + (gpa & (PAGE_SIZE - 1));
			if (write)
				memcpy(p, buf, chunk);
			else
				memcpy(buf, p, chunk);
		} else if (write) {
			return false; /* out of host memory */
		} else {
			memset(buf, 0, chunk);
		}
		gpa += chunk;
		buf = (char *)buf + chunk;
		len -= chunk;
	}
	return true;
}

static bool gm_read(void *ctx, u64 gpa, void *dst, size_t len)
{
	return gm_copy(ctx, gpa, dst, len, false);
}

static bool gm_write(void *ctx, u64 gpa, const void *src, size_t len)
{
	return gm_copy(ctx, gpa, (void *)src, len, true);
}

struct gpa_access guest_mem_access(struct guest_mem *m)
{
	return (struct gpa_access){ gm_read, gm_write, m };
}

static void free_table(paddr_t table, int level, u64 *pages)
{
	u64 *t = phys_to_virt(table);
	for (int i = 0; i < 512; i++) {
		if (!(t[i] & PTE_P))
			continue;
		if (level > 0) {
			free_table(t[i] & PTE_ADDR_MASK, level - 1, pages);
		} else {
			frame_free(t[i] & PTE_ADDR_MASK, 0);
			(*pages)++;
		}
	}
	frame_free(table, 0);
}

void guest_mem_destroy(struct guest_mem *m)
{
	if (!m->root)
		return;
	u64 freed = 0;
	free_table(m->root, 3, &freed);
	ASSERT(freed == m->pages);
	m->root = 0;
	m->pages = 0;
}
