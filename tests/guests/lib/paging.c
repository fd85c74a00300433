/* Page tables for 32-bit 2-level paging (4K and 4M PSE pages), PAE (4K, 2M)
 * and 4-level long mode (4K, 2M), built while paging is off (physical =
 * virtual for the tables themselves). */
#include "guest.h"

#define POOL_PAGES 64
static u8 pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static unsigned pool_used;

void *page_alloc(void)
{
	if (pool_used == POOL_PAGES) {
		printf("page_alloc: pool exhausted\n");
		guest_exit(EXIT_FAIL);
	}
	return memset(pool[pool_used++], 0, 4096);
}

struct layout {
	int levels, esize; /* entry size in bytes */
	u8 shift[4];
	u32 mask[4];
};
static const struct layout layouts[] = {
	[PG_32] = { 2, 4, { 22, 12 }, { 0x3ff, 0x3ff } },
	[PG_PAE] = { 3, 8, { 30, 21, 12 }, { 0x3, 0x1ff, 0x1ff } },
	[PG_LM] = { 4, 8, { 39, 30, 21, 12 }, { 0x1ff, 0x1ff, 0x1ff, 0x1ff } },
};
#define ADDR_MASK 0x000ffffffffff000ull

/* Whether an entry at level LV (0 = root) may map a large page. */
static bool large_ok(const struct pgt *pt, int lv) { return lv > 0 || pt->mode == PG_32; }

void pg_init(struct pgt *pt, enum pg_mode mode)
{
	pt->mode = mode;
	pt->root = (u32)page_alloc();
}

static u64 get_e(const struct layout *l, u32 table, unsigned i)
{
	return l->esize == 4 ? ((u32 *)table)[i] : ((u64 *)table)[i];
}

static void set_e(const struct layout *l, u32 table, unsigned i, u64 v)
{
	if (l->esize == 4)
		((u32 *)table)[i] = (u32)v;
	else
		((u64 *)table)[i] = v;
}

/* Walks to the entry of VA at the level mapping SIZE, creating tables on the
 * way when CREATE; returns the table holding it and its index. */
static u32 walk(struct pgt *pt, u64 va, u32 size, bool create, unsigned *idx)
{
	const struct layout *l = &layouts[pt->mode];
	u32 table = pt->root;
	for (int lv = 0; lv < l->levels; lv++) {
		unsigned i = (unsigned)(va >> l->shift[lv]) & l->mask[lv];
		if ((1ull << l->shift[lv]) == size || lv == l->levels - 1) {
			*idx = i;
			return table;
		}
		u64 e = get_e(l, table, i);
		if (!(e & PTE_P)) {
			if (!create)
				return 0;
			u32 next = (u32)page_alloc();
			/* PAE PDPTEs have no R/W or U/S bits (reserved). */
			e = next | PTE_P | (pt->mode == PG_PAE && lv == 0 ? 0 : PTE_W | PTE_U);
			set_e(l, table, i, e);
		} else if (large_ok(pt, lv) && (e & PTE_PS)) {
			return 0; /* a large page covers VA */
		}
		table = (u32)(e & ADDR_MASK);
	}
	return 0;
}

void pg_map(struct pgt *pt, u64 va, u64 pa, u32 size, u64 flags)
{
	unsigned i;
	u32 table = walk(pt, va, size, true, &i);
	if (!table) {
		printf("pg_map: cannot map 0x%llx size 0x%x\n", va, size);
		guest_exit(EXIT_FAIL);
	}
	set_e(&layouts[pt->mode], table, i, pa | flags | (size > PG_4K ? PTE_PS : 0));
}

void pg_identity(struct pgt *pt, u32 bytes)
{
	u32 step = pt->mode == PG_32 ? PG_4M : PG_2M;
	for (u32 a = 0; a < bytes; a += step)
		pg_map(pt, a, a, step, PTE_P | PTE_W);
}

void *pg_leaf(struct pgt *pt, u64 va)
{
	const struct layout *l = &layouts[pt->mode];
	u32 table = pt->root;
	for (int lv = 0; lv < l->levels; lv++) {
		unsigned i = (unsigned)(va >> l->shift[lv]) & l->mask[lv];
		u64 e = get_e(l, table, i);
		bool leaf = lv == l->levels - 1 || (large_ok(pt, lv) && (e & PTE_PS));
		if (leaf)
			return (void *)(table + i * l->esize);
		if (!(e & PTE_P))
			return NULL;
		table = (u32)(e & ADDR_MASK);
	}
	return NULL;
}

u64 pg_get(struct pgt *pt, u64 va)
{
	void *p = pg_leaf(pt, va);
	if (!p)
		return 0;
	return pt->mode == PG_32 ? *(volatile u32 *)p : *(volatile u64 *)p;
}

void pg_enable(struct pgt *pt)
{
	write_cr4((read_cr4() & ~(CR4_PSE | CR4_PAE)) | (pt->mode == PG_32 ? CR4_PSE : CR4_PAE));
	write_cr3(pt->root);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

void pg_disable(void)
{
	write_cr0(read_cr0() & ~CR0_PG);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PAE));
}
