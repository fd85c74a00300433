/* Internals of the shadow MMU shared by shadow/mmu.c and shadow/mmu_page.c.
 * Everything here is called with mmu->lock held. */
#ifndef UMBRA_SHADOW_MMU_PRIV_H
#define UMBRA_SHADOW_MMU_PRIV_H

#include "shadow/mmu.h"

#define SPTES_PER_PAGE 512u

static inline u32 sp_spte_id(struct mmu *m, struct shadow_page *sp, unsigned idx)
{
	return (u32)(sp - m->pages) * SPTES_PER_PAGE + idx + 1;
}

static inline struct shadow_page *id_sp(struct mmu *m, u32 id)
{
	return &m->pages[(id - 1) / SPTES_PER_PAGE];
}

static inline unsigned id_index(u32 id)
{
	return (id - 1) % SPTES_PER_PAGE;
}

/* The rmap head of gfn (allocating its chunk when `alloc`); NULL outside
 * RAM or out of memory. */
u32 *rmap_head(struct mmu *m, u64 gfn, bool alloc);
/* The shadow page whose table is at pa (asserted to be one of m's). */
struct shadow_page *sp_of_pa(struct mmu *m, paddr_t pa);

void spte_link_child(struct mmu *m, struct shadow_page *sp, unsigned idx,
		     struct shadow_page *child);
/* False: no memory for gfn's rmap. */
bool spte_set_leaf(struct mmu *m, struct shadow_page *sp, unsigned idx, u64 gfn, u64 spte);
void spte_drop(struct mmu *m, struct shadow_page *sp, unsigned idx);

struct shadow_page *sp_lookup(struct mmu *m, u64 gfn, union sp_role role);
/* Finds or creates the shadow page (gfn, role); creating write-protects
 * gfn for a non-direct role. NULL: the pool is full of roots. */
struct shadow_page *sp_get(struct mmu *m, u64 gfn, union sp_role role, bool *created);
/* Unlinks sp from its parents and children and the hash; it is reused
 * after mmu_commit_zap() (or, if a root, once its last user let go). */
void sp_zap(struct mmu *m, struct shadow_page *sp);
/* Drops a reference from root_count. */
void sp_put(struct mmu *m, struct shadow_page *sp);
void mmu_commit_zap(struct mmu *m);
/* Calls fn on every non-direct shadow page of gfn (fn may zap it). */
void sp_for_each_gfn(struct mmu *m, u64 gfn, void (*fn)(struct mmu *, struct shadow_page *, void *),
		     void *arg);

void mmu_write_protect_gfn(struct mmu *m, u64 gfn);
void mmu_flush_remote(struct mmu *m);
bool mmu_page_cache_init(struct mmu *m, u64 nr_gfns, u32 pool_pages);
void mmu_page_cache_destroy(struct mmu *m);

#endif
