/*
 * The shadow page cache: a bounded pool of shadow pages, the (gfn, role)
 * hash, the reverse map (gfn -> leaf sptes) and parent lists, zapping and
 * reclaim. Everything here runs with mmu->lock held.
 *
 * Links: every spte has a fixed slot (struct spte_link) in its shadow
 * page, and every present spte is on exactly one doubly linked list: the
 * rmap of the gfn it maps (leaf) or the parent list of the table it points
 * to (non-leaf). Adding and removing are O(1) and allocate nothing, so a
 * guest page aliased by tens of thousands of mappings costs one link each
 * and zapping them all is linear (the rmap chains of KVM's pte_list_desc
 * need a search per removal).
 */
#include "kernel/log.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"
#include "shadow/mmu_priv.h"

#define RMAP_CHUNK 1024u /* gfns per rmap chunk (4 KiB of heads) */

/* --- spte ids and lists --------------------------------------------------- */

static struct spte_link *link_of(struct mmu *m, u32 id)
{
	return &id_sp(m, id)->links[id_index(id)];
}

static void list_push(struct mmu *m, u32 *head, u32 id)
{
	struct spte_link *l = link_of(m, id);
	l->prev = 0;
	l->next = *head;
	if (*head)
		link_of(m, *head)->prev = id;
	*head = id;
}

static void list_remove(struct mmu *m, u32 *head, u32 id)
{
	struct spte_link *l = link_of(m, id);
	if (l->prev)
		link_of(m, l->prev)->next = l->next;
	else {
		ASSERT(*head == id);
		*head = l->next;
	}
	if (l->next)
		link_of(m, l->next)->prev = l->prev;
	l->next = l->prev = 0;
}

u32 *rmap_head(struct mmu *m, u64 gfn, bool alloc)
{
	if (gfn >= m->nr_gfns)
		return NULL;
	u32 **chunk = &m->rmap[gfn / RMAP_CHUNK];
	if (!*chunk && alloc)
		*chunk = kzalloc(RMAP_CHUNK * sizeof(u32));
	return *chunk ? &(*chunk)[gfn % RMAP_CHUNK] : NULL;
}

struct shadow_page *sp_of_pa(struct mmu *m, paddr_t pa)
{
	u32 tag = frame_get_owner(pa);
	ASSERT(FRAME_TAG_KIND(tag) == FRAME_OWNER_SHADOW_PAGE);
	u32 i = FRAME_TAG_DATA(tag);
	ASSERT(i < m->nr_allocated && m->pages[i].spt_pa == pa);
	return &m->pages[i];
}

/* --- sptes ---------------------------------------------------------------- */

void spte_link_child(struct mmu *m, struct shadow_page *sp, unsigned idx,
		     struct shadow_page *child)
{
	ASSERT(sp->role.level > 1 && !(sp->spt[idx] & SPTE_P));
	list_push(m, &child->parents, sp_spte_id(m, sp, idx));
	WRITE_ONCE(sp->spt[idx], child->spt_pa | SPTE_TABLE);
}

bool spte_set_leaf(struct mmu *m, struct shadow_page *sp, unsigned idx, u64 gfn, u64 spte)
{
	ASSERT(sp->role.level == 1);
	u32 *head = rmap_head(m, gfn, true);
	if (!head)
		return false;
	spte_drop(m, sp, idx);
	u32 id = sp_spte_id(m, sp, idx);
	sp->links[idx].gfn = (u32)gfn;
	list_push(m, head, id);
	WRITE_ONCE(sp->spt[idx], spte);
	return true;
}

void spte_drop(struct mmu *m, struct shadow_page *sp, unsigned idx)
{
	u64 e = sp->spt[idx];
	if (!(e & SPTE_P))
		return;
	u32 id = sp_spte_id(m, sp, idx);
	if (sp->role.level == 1) {
		u32 *head = rmap_head(m, sp->links[idx].gfn, false);
		ASSERT(head);
		list_remove(m, head, id);
	} else {
		list_remove(m, &sp_of_pa(m, e & SPTE_ADDR_MASK)->parents, id);
	}
	WRITE_ONCE(sp->spt[idx], 0);
}

/* --- write protection (the page-track protect hook) ----------------------- */

/* Removes write access from every spte mapping gfn and makes sure no vCPU
 * keeps a writable TLB entry for it. */
void mmu_write_protect_gfn(struct mmu *m, u64 gfn)
{
	u32 *head = rmap_head(m, gfn, false);
	bool changed = false;
	for (u32 id = head ? *head : 0; id; id = link_of(m, id)->next) {
		u64 *sptep = &id_sp(m, id)->spt[id_index(id)];
		if (READ_ONCE(*sptep) & SPTE_W) {
			__atomic_and_fetch(sptep, ~SPTE_W, __ATOMIC_SEQ_CST);
			changed = true;
		}
	}
	m->stats.write_protects++;
	if (changed)
		mmu_flush_remote(m);
}

void mmu_flush_remote(struct mmu *m)
{
	m->stats.remote_flushes++;
	m->ops.flush_remote_tlbs(m->ops.ctx);
}

/* --- the hash ------------------------------------------------------------- */

static struct list_head *bucket(struct mmu *m, u64 gfn)
{
	return &m->hash[(gfn ^ (gfn >> 10)) % MMU_HASH_BUCKETS];
}

struct shadow_page *sp_lookup(struct mmu *m, u64 gfn, union sp_role role)
{
	struct list_head *pos, *b = bucket(m, gfn);
	list_for_each(pos, b) {
		struct shadow_page *sp = list_entry(pos, struct shadow_page, hash_link);
		if (sp->gfn == gfn && sp->role.word == role.word)
			return sp;
	}
	return NULL;
}

void sp_for_each_gfn(struct mmu *m, u64 gfn, void (*fn)(struct mmu *, struct shadow_page *, void *),
		     void *arg)
{
	struct list_head *b = bucket(m, gfn), *pos = b->next;
	while (pos != b) {
		struct shadow_page *sp = list_entry(pos, struct shadow_page, hash_link);
		pos = pos->next; /* fn may zap sp */
		if (sp->gfn == gfn && !sp->role.direct)
			fn(m, sp, arg);
	}
}

/* --- allocation, zap, reclaim --------------------------------------------- */

/* A pool page with a zeroed table; NULL when the pool is full. */
static struct shadow_page *sp_take(struct mmu *m)
{
	if (!list_empty(&m->free_pages)) {
		struct shadow_page *sp = list_first_entry(&m->free_pages, struct shadow_page, lru);
		list_del(&sp->lru);
		return sp;
	}
	if (m->nr_allocated == m->nr_pages)
		return NULL;
	struct shadow_page *sp = &m->pages[m->nr_allocated];
	paddr_t pa = frame_alloc_zeroed(0);
	if (pa == FRAME_NONE)
		return NULL;
	sp->links = kzalloc(SPTES_PER_PAGE * sizeof(struct spte_link));
	if (!sp->links) {
		frame_free(pa, 0);
		return NULL;
	}
	frame_set_owner(pa, FRAME_TAG(FRAME_OWNER_SHADOW_PAGE, m->nr_allocated));
	sp->spt_pa = pa;
	sp->spt = phys_to_virt(pa);
	m->nr_allocated++;
	return sp;
}

/* Zaps the least recently used shadow page that no root holds. */
static bool reclaim_one(struct mmu *m)
{
	for (struct list_head *pos = m->active.prev; pos != &m->active; pos = pos->prev) {
		struct shadow_page *sp = list_entry(pos, struct shadow_page, lru);
		if (sp->root_count)
			continue;
		sp_zap(m, sp);
		m->stats.sp_reclaimed++;
		mmu_commit_zap(m);
		return true;
	}
	return false;
}

struct shadow_page *sp_get(struct mmu *m, u64 gfn, union sp_role role, bool *created)
{
	*created = false;
	struct shadow_page *sp = sp_lookup(m, gfn, role);
	if (sp) {
		list_del(&sp->lru);
		list_add(&sp->lru, &m->active);
		return sp;
	}
	while (!(sp = sp_take(m))) {
		mmu_commit_zap(m);
		if (list_empty(&m->free_pages) && !reclaim_one(m))
			return NULL; /* every page is a root or in use by this fault */
	}
	sp->gfn = gfn;
	sp->role = role;
	sp->parents = 0;
	sp->root_count = 0;
	sp->write_flooding = 0;
	sp->invalid = false;
	sp->in_use = true;
	list_add(&sp->hash_link, bucket(m, gfn));
	list_add(&sp->lru, &m->active);
	m->stats.sp_allocated++;
	*created = true;
	/* A guest table is write-protected from now on (seed 004); direct
	 * pages shadow no table. Tracking a gfn outside RAM fails: there is
	 * nothing there the guest could write. */
	if (!role.direct && gfn < m->nr_gfns && !track_add(&m->track, gfn, TRACK_WRITE)) {
		sp_zap(m, sp);
		mmu_commit_zap(m);
		return NULL;
	}
	return sp;
}

void sp_zap(struct mmu *m, struct shadow_page *sp)
{
	ASSERT(sp->in_use && !sp->invalid);
	while (sp->parents) {
		u32 id = sp->parents;
		spte_drop(m, id_sp(m, id), id_index(id));
	}
	for (unsigned i = 0; i < SPTES_PER_PAGE; i++)
		spte_drop(m, sp, i);
	list_del(&sp->hash_link);
	list_del(&sp->lru);
	if (!sp->role.direct && sp->gfn < m->nr_gfns)
		track_remove(&m->track, sp->gfn, TRACK_WRITE);
	m->stats.sp_zapped++;
	if (sp->root_count) {
		/* Still some vCPU's root: it reloads (reload_gen) and drops it. */
		sp->invalid = true;
		list_init(&sp->lru);
		m->reload_gen++;
		return;
	}
	sp->in_use = false;
	list_add(&sp->lru, &m->zapped);
}

void sp_put(struct mmu *m, struct shadow_page *sp)
{
	ASSERT(sp->root_count > 0);
	if (--sp->root_count == 0 && sp->invalid) {
		sp->invalid = false;
		sp->in_use = false;
		list_add(&sp->lru, &m->zapped);
	}
}

/* Zapped pages are reused only after every vCPU dropped its TLB and
 * paging-structure caches, which may still point into them. */
void mmu_commit_zap(struct mmu *m)
{
	if (list_empty(&m->zapped))
		return;
	mmu_flush_remote(m);
	while (!list_empty(&m->zapped)) {
		struct shadow_page *sp = list_first_entry(&m->zapped, struct shadow_page, lru);
		list_del(&sp->lru);
		list_add(&sp->lru, &m->free_pages);
	}
}

/* --- setup ------------------------------------------------------------------ */

static void protect_hook(void *ctx, u64 gfn, enum track_mode mode, bool protect)
{
	struct mmu *m = ctx;
	ASSERT(spin_is_locked(&m->lock));
	if (protect && mode == TRACK_WRITE)
		mmu_write_protect_gfn(m, gfn);
}

bool mmu_page_cache_init(struct mmu *m, u64 nr_gfns, u32 pool_pages)
{
	m->nr_gfns = nr_gfns;
	m->nr_pages = MIN(MAX(pool_pages, MMU_POOL_MIN), MMU_POOL_MAX);
	m->pages = kzalloc((size_t)m->nr_pages * sizeof(struct shadow_page));
	m->rmap = kzalloc(((nr_gfns + RMAP_CHUNK - 1) / RMAP_CHUNK + 1) * sizeof(u32 *));
	if (!m->pages || !m->rmap) {
		kfree(m->pages);
		kfree(m->rmap);
		return false;
	}
	for (unsigned i = 0; i < MMU_HASH_BUCKETS; i++)
		list_init(&m->hash[i]);
	list_init(&m->active);
	list_init(&m->zapped);
	list_init(&m->free_pages);
	page_track_init(&m->track, nr_gfns);
	m->track.protect = protect_hook;
	m->track.protect_ctx = m;
	return true;
}

void mmu_page_cache_destroy(struct mmu *m)
{
	for (u32 i = 0; i < m->nr_allocated; i++) {
		frame_free(m->pages[i].spt_pa, 0);
		kfree(m->pages[i].links);
	}
	for (u64 c = 0; m->rmap && c < (m->nr_gfns + RMAP_CHUNK - 1) / RMAP_CHUNK; c++)
		kfree(m->rmap[c]);
	kfree(m->rmap);
	kfree(m->pages);
	page_track_destroy(&m->track);
	m->pages = NULL;
	m->rmap = NULL;
	m->nr_allocated = 0;
}
