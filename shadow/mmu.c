/*
 * The shadow MMU's paths: loading a root for the guest's paging state, the
 * #PF exit, and guest writes to shadowed tables (shadow/mmu.h says how it
 * fits together; shadow/mmu_page.c keeps the pages).
 */
#include "kernel/log.h"
#include "lib/string.h"
#include "mm/phys.h"
#include "shadow/mmu_priv.h"
#include "shadow/walk_priv.h"

/* --- roles and roots ------------------------------------------------------ */

static bool pae_guest(const struct walk_ctx *c)
{
	return (c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LMA);
}

/* The role of the vCPU's root pages: level 4 for long mode, else the
 * level-2 pages behind the PAE PDPT page. */
static union sp_role base_role(const struct walk_ctx *c)
{
	union sp_role r = { .word = 0 };
	r.access = ACC_ALL;
	r.level = (c->efer & EFER_LMA) ? 4 : 2;
	if (!(c->cr0 & CR0_PG)) {
		r.direct = 1;
		r.paging_off = 1;
		return r;
	}
	r.gpte_4byte = !(c->cr4 & CR4_PAE);
	r.cr0_wp = !!(c->cr0 & CR0_WP);
	r.cr4_pse = !!(c->cr4 & CR4_PSE);
	r.cr4_smep = !!(c->cr4 & CR4_SMEP);
	r.cr4_smap = !!(c->cr4 & CR4_SMAP);
	r.efer_nx = !!(c->efer & EFER_NXE);
	return r;
}

static struct shadow_page *root_get(struct mmu *m, u64 gfn, union sp_role role)
{
	bool created;
	struct shadow_page *sp = sp_get(m, gfn, role, &created);
	if (!sp)
		return NULL;
	sp->root_count++;
	if (created)
		m->stats.roots_new++;
	else
		m->stats.roots_reused++;
	return sp;
}

static void put_pae_roots(struct mmu_vcpu *mv)
{
	for (int i = 0; i < 4; i++) {
		WRITE_ONCE(mv->pae_root[i], 0);
		if (mv->pae_sps[i])
			sp_put(mv->mmu, mv->pae_sps[i]);
		mv->pae_sps[i] = NULL;
	}
}

/* PAE-format hardware: four level-2 roots. 32-bit guests: the quadrants of
 * the guest's page directory (1 GiB each); PAE guests: the directories
 * their PDPTE registers name; paging off: identity-mapped gigabytes. */
static bool load_pae_roots(struct mmu_vcpu *mv)
{
	struct mmu *m = mv->mmu;
	bool ok = true;
	for (int i = 0; i < 4; i++) {
		union sp_role r = mv->base;
		struct shadow_page *old = mv->pae_sps[i], *sp = NULL;
		bool present = true;
		u64 gfn;
		if (r.paging_off) {
			gfn = (u64)i << 18;
		} else if (r.gpte_4byte) {
			gfn = (mv->ctx.cr3 & 0xfffff000u) >> 12;
			r.quadrant = i;
		} else {
			present = mv->pdptes[i] & PT_P;
			gfn = (mv->pdptes[i] & SPTE_ADDR_MASK) >> 12;
		}
		if (present && !(sp = root_get(m, gfn, r)))
			ok = false;
		mv->pae_sps[i] = sp;
		WRITE_ONCE(mv->pae_root[i], sp ? (sp->spt_pa | SPTE_PDPTE) : 0);
		if (old)
			sp_put(m, old); /* after the get: the same page stays */
	}
	mv->root_pa = mv->pae_root_pa;
	return ok;
}

/* Long mode: one level-4 root, from the cache of recent ones when the
 * guest switches back to an address space it used lately. */
static bool load_4level_root(struct mmu_vcpu *mv)
{
	struct mmu *m = mv->mmu;
	u64 gfn = (mv->ctx.cr3 & SPTE_ADDR_MASK) >> 12;
	int hit = -1;
	for (int i = 0; i < MMU_ROOT_CACHE; i++)
		if (mv->roots[i].sp && mv->roots[i].cr3 == gfn &&
		    mv->roots[i].role.word == mv->base.word)
			hit = i;
	struct mmu_root cur;
	int shift_from = MMU_ROOT_CACHE - 1;
	if (hit >= 0) {
		cur = mv->roots[hit];
		shift_from = hit;
		m->stats.roots_reused++;
	} else {
		struct shadow_page *sp = root_get(m, gfn, mv->base);
		if (!sp)
			return false;
		cur = (struct mmu_root){ gfn, mv->base, sp };
		if (mv->roots[MMU_ROOT_CACHE - 1].sp)
			sp_put(m, mv->roots[MMU_ROOT_CACHE - 1].sp);
	}
	for (int j = shift_from; j > 0; j--)
		mv->roots[j] = mv->roots[j - 1];
	mv->roots[0] = cur;
	mv->root_pa = cur.sp->spt_pa;
	return true;
}

/* Drops cached roots that were zapped (they are invalid and empty). */
static void purge_invalid_roots(struct mmu_vcpu *mv)
{
	int n = 0;
	for (int i = 0; i < MMU_ROOT_CACHE; i++) {
		struct mmu_root r = mv->roots[i];
		mv->roots[i].sp = NULL;
		if (r.sp && r.sp->invalid)
			sp_put(mv->mmu, r.sp);
		else if (r.sp)
			mv->roots[n++] = r;
	}
}

static bool load_context_locked(struct mmu_vcpu *mv)
{
	struct mmu *m = mv->mmu;
	mv->base = base_role(&mv->ctx);
	purge_invalid_roots(mv);
	bool ok;
	if (mv->ctx.efer & EFER_LMA) {
		put_pae_roots(mv);
		mv->hw_4level = true;
		ok = load_4level_root(mv);
	} else {
		mv->hw_4level = false;
		ok = load_pae_roots(mv);
	}
	mv->reload_gen = m->reload_gen;
	mv->need_flush = true;
	mmu_commit_zap(m);
	return ok;
}

bool mmu_load_context(struct mmu_vcpu *mv, const struct walk_ctx *ctx)
{
	struct mmu *m = mv->mmu;
	unsigned long f = spin_lock(&m->lock);
	mv->ctx = *ctx;
	mv->ctx.pdptes = NULL;
	if (pae_guest(ctx)) {
		ASSERT(ctx->pdptes);
		memcpy(mv->pdptes, ctx->pdptes, sizeof(mv->pdptes));
		mv->ctx.pdptes = mv->pdptes;
	}
	bool ok = load_context_locked(mv);
	spin_unlock(&m->lock, f);
	return ok;
}

bool mmu_reload_if_needed(struct mmu_vcpu *mv)
{
	struct mmu *m = mv->mmu;
	if (READ_ONCE(mv->reload_gen) == READ_ONCE(m->reload_gen))
		return true;
	unsigned long f = spin_lock(&m->lock);
	bool ok = load_context_locked(mv);
	spin_unlock(&m->lock, f);
	return ok;
}

/* --- the fault path ------------------------------------------------------- */

static unsigned spte_index(u64 gva, int level)
{
	return (gva >> (12 + 9 * (level - 1))) & 511;
}

static struct shadow_page *top_sp(struct mmu_vcpu *mv, u64 gva)
{
	return mv->hw_4level ? mv->roots[0].sp : mv->pae_sps[(gva >> 30) & 3];
}

static u64 lookup_spte_locked(struct mmu_vcpu *mv, u64 gva)
{
	struct shadow_page *sp = top_sp(mv, gva);
	for (int level = sp ? sp->role.level : 0; sp; level--) {
		u64 e = READ_ONCE(sp->spt[spte_index(gva, level)]);
		if (!(e & SPTE_P) || level == 1)
			return (e & SPTE_P) ? e : 0;
		sp = sp_of_pa(mv->mmu, e & SPTE_ADDR_MASK);
	}
	return 0;
}

u64 mmu_lookup_spte(struct mmu_vcpu *mv, u64 gva)
{
	unsigned long f = spin_lock(&mv->mmu->lock);
	u64 e = lookup_spte_locked(mv, gva);
	spin_unlock(&mv->mmu->lock, f);
	return e;
}

static bool spte_allows(u64 spte, u32 access)
{
	return (spte & SPTE_P) && (!(access & PFERR_WRITE) || (spte & SPTE_W)) &&
	       (!(access & PFERR_USER) || (spte & SPTE_U)) &&
	       (!(access & PFERR_FETCH) || !(spte & SPTE_NX));
}

/* Combined rights of the guest's entries from the top down to `level`
 * (SDM §4.6.1). A PAE PDPTE has no rights bits. */
static u32 guest_access_from(const struct mmu_vcpu *mv, const struct walk_result *w, int level)
{
	u32 acc = ACC_ALL;
	bool nx = mv->ctx.efer & EFER_NXE;
	for (int l = w->nlevels; l >= level; l--) {
		if (l == 3 && pae_guest(&mv->ctx))
			continue;
		u64 e = w->pte[l - 1];
		if (!(e & PT_RW))
			acc &= ~ACC_WRITE;
		if (!(e & PT_US))
			acc &= ~ACC_USER;
		if (nx && (e & PT_XD))
			acc &= ~ACC_EXEC;
	}
	return acc;
}

/* A guest table newly shadowed (so write-protected only now): the entry
 * the walk read from it must still be there, or the walk is stale. */
static bool gpte_unchanged(struct mmu *m, const struct walk_result *w, int level, bool four)
{
	u64 now = 0;
	return m->gmem.read(m->gmem.ctx, w->pte_gpa[level - 1], &now, four ? 4 : 8) &&
	       now == w->pte[level - 1];
}

/*
 * Builds the shadow path for gva down to a leaf that grants what the walk
 * allowed: non-direct pages for the guest's tables, direct ones below a
 * guest large page (the hardware always gets 4 KiB sptes). Pages on the
 * path are pinned (root_count) so that making room cannot zap them.
 */
static enum mmu_fault_result install(struct mmu_vcpu *mv, u64 gva, u32 access,
				     const struct walk_result *w, paddr_t hpa, struct mmu_fault *out)
{
	struct mmu *m = mv->mmu;
	struct shadow_page *sp = top_sp(mv, gva), *pinned[4];
	int npinned = 0;
	enum mmu_fault_result res = MMU_FAULT_FIXED;
	if (!sp)
		return MMU_FAULT_FIXED; /* root gone meanwhile: fault again */
	for (int level = sp->role.level; level > 1; level--) {
		sp->write_flooding = 0;
		unsigned idx = spte_index(gva, level);
		union sp_role r = mv->base;
		r.level = level - 1;
		r.quadrant = 0;
		u64 gfn;
		if (!sp->role.direct && w->level <= level - 1) {
			/* The guest has a table at level - 1. */
			r.direct = 0;
			r.access = guest_access_from(mv, w, level);
			if (r.gpte_4byte && level - 1 == 1)
				r.quadrant = (gva >> 21) & 1;
			u64 e = w->pte[level - 1];
			gfn = r.gpte_4byte ? (e & 0xfffff000u) >> 12 : (e & SPTE_ADDR_MASK) >> 12;
		} else {
			/* Below a guest large page (or paging off): linear. The
			 * rights include the large entry's D bit (no write
			 * before it is set), so that two guest entries mapping
			 * the same page, one dirty and one clean, get different
			 * direct pages (as KVM's role.access). */
			bool dirty = w->nlevels == 0 || (w->pte[w->level - 1] & PT_D);
			r.direct = 1;
			r.gpte_4byte = 0;
			r.access = (w->writable && dirty ? ACC_WRITE : 0) | (w->user ? ACC_USER : 0) |
				   (w->executable ? ACC_EXEC : 0);
			gfn = (w->gpa >> 12) & ~((1ull << (9 * (level - 1))) - 1);
		}
		u64 e = READ_ONCE(sp->spt[idx]);
		struct shadow_page *child = NULL;
		if (e & SPTE_P) {
			child = sp_of_pa(m, e & SPTE_ADDR_MASK);
			if (child->gfn != gfn || child->role.word != r.word) {
				spte_drop(m, sp, idx);
				child = NULL;
			}
		}
		if (!child) {
			bool created;
			child = sp_get(m, gfn, r, &created);
			if (!child) {
				out->why = "the shadow page pool is full of roots";
				res = MMU_FAULT_ERROR;
				goto done;
			}
			if (created && !r.direct && !gpte_unchanged(m, w, level - 1, r.gpte_4byte))
				goto done; /* the guest changed it: fault again */
			spte_link_child(m, sp, idx, child);
		}
		child->root_count++;
		pinned[npinned++] = child;
		sp = child;
	}

	u64 gfn = w->gpa >> 12;
	u64 spte = hpa | SPTE_P | SPTE_A;
	if (w->user)
		spte |= SPTE_U;
	if (!w->executable && (mv->ctx.efer & EFER_NXE))
		spte |= SPTE_NX;
	/* Writable only once the guest's D bit is set, so that the first
	 * write faults and the walk sets it (SDM §4.8). */
	bool dirty = w->nlevels == 0 || (w->pte[w->level - 1] & PT_D);
	/* Asked only now: building the path may have shadowed gfn itself
	 * (a table that maps itself). */
	bool tracked = page_tracked(&m->track, gfn, TRACK_WRITE);
	if (w->writable && dirty && !tracked)
		spte |= SPTE_W | SPTE_D;
	if ((access & PFERR_WRITE) && tracked) {
		m->stats.emulations++;
		res = MMU_FAULT_EMULATE;
	}
	sp->write_flooding = 0;
	if (!spte_set_leaf(m, sp, spte_index(gva, 1), gfn, spte)) {
		out->why = "out of host memory for the reverse map";
		res = MMU_FAULT_ERROR;
		goto done;
	}
	if (res == MMU_FAULT_FIXED)
		m->stats.faults_fixed++;
done:
	while (npinned)
		sp_put(m, pinned[--npinned]);
	return res;
}

static enum mmu_fault_result resolve(struct mmu_vcpu *mv, u64 gva, u32 access,
				     const struct walk_result *w, struct mmu_fault *out)
{
	struct mmu *m = mv->mmu;
	u64 gfn = w->gpa >> 12;
	paddr_t hpa = gfn < m->nr_gfns ? m->ops.gfn_to_hpa(m->ops.ctx, gfn) : 0;
	out->gpa = w->gpa;
	if (!hpa)
		return MMU_FAULT_MMIO;
	/* A write to a shadowed guest table, or one that only CR0.WP=0
	 * allows (the hardware runs with WP=1): emulate it. */
	if ((access & PFERR_WRITE) && (!w->writable || page_tracked(&m->track, gfn, TRACK_WRITE))) {
		m->stats.emulations++;
		return MMU_FAULT_EMULATE;
	}
	return install(mv, gva, access, w, hpa, out);
}

enum mmu_fault_result mmu_page_fault(struct mmu_vcpu *mv, u64 gva, u32 error_code, u64 rflags,
				     struct mmu_fault *out)
{
	struct mmu *m = mv->mmu;
	memset(out, 0, sizeof(*out));
	unsigned long f = spin_lock(&m->lock);
	enum mmu_fault_result res = MMU_FAULT_FIXED;
	m->stats.faults++;
	/* A root of this vCPU was zapped: the entry path loads a new one
	 * (mmu_reload_if_needed) and hands it to the hardware; a new root
	 * loaded here would not reach the hardware's CR3. */
	if (mv->reload_gen != m->reload_gen)
		goto unlock;
	u32 access = error_code & (PFERR_WRITE | PFERR_USER | PFERR_FETCH);
	struct walk_ctx ctx = mv->ctx;
	ctx.rflags = rflags;
	struct walk_result w;
	enum walk_status st = guest_walk(&m->gmem, &ctx, gva, access, &w);
	if (st == WALK_OK && spte_allows(lookup_spte_locked(mv, gva), access)) {
		/*
		 * The spte already allows this access: another vCPU fixed it
		 * first, or the hardware refused an implicit supervisor
		 * access (GDT, IDT, TSS: SDM §4.6) that SMAP forbids even
		 * with EFLAGS.AC=1 -- its error code cannot say "implicit".
		 * The second time in a row, decide as for an implicit one.
		 */
		bool again = mv->spurious_gva == gva;
		mv->spurious_gva = gva;
		mv->spurious_count = again ? mv->spurious_count + 1 : 1;
		bool smap_implicit = !(access & (PFERR_USER | PFERR_FETCH)) &&
				     (ctx.cr4 & CR4_SMAP) && (rflags & RFLAGS_AC) && w.user;
		if (mv->spurious_count < 2 || !smap_implicit) {
			m->stats.faults_spurious++;
			mv->need_flush = true;
			goto unlock;
		}
		st = guest_walk(&m->gmem, &ctx, gva, access | WALK_IMPLICIT_SUPERVISOR, &w);
	} else {
		mv->spurious_count = 0;
	}
	switch (st) {
	case WALK_OK:
		res = resolve(mv, gva, access, &w, out);
		break;
	case WALK_PAGE_FAULT:
		out->error_code = w.error_code;
		m->stats.faults_injected++;
		res = MMU_FAULT_INJECT;
		break;
	case WALK_RETRY:
		break;
	case WALK_BAD_GPA:
		out->why = "a guest page-table entry lies outside guest RAM";
		out->gpa = w.pte_gpa[w.level - 1];
		res = MMU_FAULT_ERROR;
		break;
	default:
		out->why = "#PF at a non-canonical address";
		res = MMU_FAULT_ERROR;
		break;
	}
	mmu_commit_zap(m);
unlock:
	spin_unlock(&m->lock, f);
	return res;
}

/* --- guest writes to shadowed tables -------------------------------------- */

struct written {
	unsigned off, len;
};

/* Zaps the sptes that shadow the guest entries in [off, off + len) of
 * sp's table, or the whole page when the guest keeps writing to it
 * without using it as a table (it was freed and reused: KVM's flooding
 * heuristic). */
static void zap_written(struct mmu *m, struct shadow_page *sp, void *arg)
{
	const struct written *wr = arg;
	if (!sp->root_count && ++sp->write_flooding >= MMU_FLOOD_LIMIT) {
		sp_zap(m, sp);
		m->stats.sp_flooded++;
		return;
	}
	unsigned last = wr->off + wr->len - 1;
	if (!sp->role.gpte_4byte) {
		for (unsigned i = wr->off / 8; i <= last / 8; i++)
			spte_drop(m, sp, i);
		return;
	}
	/* 4-byte guest entries: a guest PT is two shadow PTs (quadrant =
	 * bit 9 of the entry index), a guest PD four shadow PDs with two
	 * sptes per guest PDE (a 4 MiB region is two 2 MiB ones). */
	for (unsigned g = wr->off / 4; g <= last / 4; g++) {
		if (sp->role.level == 1 && (g >> 9) == sp->role.quadrant) {
			spte_drop(m, sp, g & 511);
		} else if (sp->role.level == 2 && (g >> 8) == sp->role.quadrant) {
			spte_drop(m, sp, (g & 255) * 2);
			spte_drop(m, sp, (g & 255) * 2 + 1);
		}
	}
}

static void track_write(struct page_track_notifier *n, u64 gpa, const void *old, const void *new_,
			unsigned len)
{
	(void)old;
	(void)new_;
	struct mmu *m = n->ctx;
	struct written wr = { gpa & (PAGE_SIZE - 1), len };
	if (!len || wr.off + len > PAGE_SIZE)
		return;
	unsigned long f = spin_lock(&m->lock);
	m->stats.pt_writes++;
	sp_for_each_gfn(m, gpa >> 12, zap_written, &wr);
	mmu_commit_zap(m);
	spin_unlock(&m->lock, f);
}

void mmu_guest_wrote(struct mmu *m, u64 gpa, const void *old, const void *new_, unsigned len)
{
	page_track_write(&m->track, gpa, old, new_, len);
}

struct unprotect {
	unsigned zapped, roots;
};

static void zap_unless_root(struct mmu *m, struct shadow_page *sp, void *arg)
{
	struct unprotect *u = arg;
	if (sp->root_count) {
		u->roots++;
	} else {
		sp_zap(m, sp);
		u->zapped++;
	}
}

bool mmu_unprotect_gfn(struct mmu *m, u64 gfn)
{
	struct unprotect u = { 0, 0 };
	unsigned long f = spin_lock(&m->lock);
	sp_for_each_gfn(m, gfn, zap_unless_root, &u);
	mmu_commit_zap(m);
	spin_unlock(&m->lock, f);
	return u.zapped && !u.roots;
}

void mmu_zap_all(struct mmu *m)
{
	unsigned long f = spin_lock(&m->lock);
	for (u32 i = 0; i < m->nr_allocated; i++) {
		struct shadow_page *sp = &m->pages[i];
		if (sp->in_use && !sp->invalid)
			sp_zap(m, sp);
	}
	mmu_commit_zap(m);
	spin_unlock(&m->lock, f);
}

/* --- setup ------------------------------------------------------------------ */

bool mmu_init(struct mmu *m, u64 nr_gfns, u32 pool_pages, const struct walk_mem *gmem,
	      const struct mmu_ops *ops)
{
	memset(m, 0, sizeof(*m));
	spin_init(&m->lock);
	m->gmem = *gmem;
	m->ops = *ops;
	if (!mmu_page_cache_init(m, nr_gfns, pool_pages))
		return false;
	m->notifier.track_write = track_write;
	m->notifier.ctx = m;
	page_track_register(&m->track, &m->notifier);
	return true;
}

void mmu_destroy(struct mmu *m)
{
	if (!m->pages)
		return;
	page_track_unregister(&m->track, &m->notifier);
	mmu_page_cache_destroy(m);
}

void mmu_vcpu_init(struct mmu_vcpu *mv, struct mmu *m, paddr_t pae_root_pa)
{
	memset(mv, 0, sizeof(*mv));
	mv->mmu = m;
	mv->pae_root_pa = pae_root_pa;
	mv->pae_root = phys_to_virt(pae_root_pa);
	mv->reload_gen = m->reload_gen;
}

void mmu_vcpu_destroy(struct mmu_vcpu *mv)
{
	struct mmu *m = mv->mmu;
	unsigned long f = spin_lock(&m->lock);
	put_pae_roots(mv);
	for (int i = 0; i < MMU_ROOT_CACHE; i++) {
		if (mv->roots[i].sp)
			sp_put(m, mv->roots[i].sp);
		mv->roots[i].sp = NULL;
	}
	mmu_commit_zap(m);
	spin_unlock(&m->lock, f);
}

/* --- audit (tests) ---------------------------------------------------------- */

static const char *audit_locked(struct mmu *m)
{
	u64 leaves = 0, tables = 0, rmap_nodes = 0, parent_nodes = 0, hashed = 0, in_use = 0;
	for (u32 i = 0; i < m->nr_allocated; i++) {
		struct shadow_page *sp = &m->pages[i];
		if (!sp->in_use) {
			for (unsigned j = 0; j < SPTES_PER_PAGE; j++)
				if (sp->spt[j])
					return "a free shadow page has entries";
			continue;
		}
		in_use++;
		if (!sp->invalid && !sp->role.direct && sp->gfn < m->nr_gfns &&
		    !page_tracked(&m->track, sp->gfn, TRACK_WRITE))
			return "a shadowed guest table is not write-tracked";
		for (unsigned j = 0; j < SPTES_PER_PAGE; j++) {
			u64 e = sp->spt[j];
			if (!(e & SPTE_P))
				continue;
			if (sp->role.level == 1) {
				leaves++;
				if ((e & SPTE_W) && page_tracked(&m->track, sp->links[j].gfn, TRACK_WRITE))
					return "a writable spte maps a write-tracked gfn";
				continue;
			}
			tables++;
			struct shadow_page *c = sp_of_pa(m, e & SPTE_ADDR_MASK);
			if (!c->in_use || c->invalid)
				return "an spte points to a dropped shadow page";
			if (c->role.level != sp->role.level - 1)
				return "an spte points to a table of the wrong level";
		}
		u32 prev = 0;
		for (u32 id = sp->parents; id; prev = id, id = id_sp(m, id)->links[id_index(id)].next) {
			parent_nodes++;
			if (id_sp(m, id)->links[id_index(id)].prev != prev)
				return "a parent list is broken";
			if ((id_sp(m, id)->spt[id_index(id)] & SPTE_ADDR_MASK) != sp->spt_pa)
				return "a parent list names an spte pointing elsewhere";
		}
	}
	for (u64 gfn = 0; gfn < m->nr_gfns; gfn++) {
		u32 *head = rmap_head(m, gfn, false), prev = 0;
		for (u32 id = head ? *head : 0; id; prev = id, id = id_sp(m, id)->links[id_index(id)].next) {
			struct shadow_page *sp = id_sp(m, id);
			rmap_nodes++;
			if (sp->links[id_index(id)].prev != prev || sp->role.level != 1 ||
			    !(sp->spt[id_index(id)] & SPTE_P) || sp->links[id_index(id)].gfn != gfn)
				return "an rmap list is broken";
		}
	}
	for (unsigned b = 0; b < MMU_HASH_BUCKETS; b++) {
		struct list_head *pos;
		list_for_each(pos, &m->hash[b]) {
			hashed++;
			if (list_entry(pos, struct shadow_page, hash_link)->invalid)
				return "an invalid shadow page is still hashed";
		}
	}
	if (rmap_nodes != leaves)
		return "rmap lists and leaf sptes disagree";
	if (parent_nodes != tables)
		return "parent lists and table sptes disagree";
	if (hashed > in_use)
		return "the hash holds pages not in use";
	return NULL;
}

const char *mmu_audit(struct mmu *m)
{
	unsigned long f = spin_lock(&m->lock);
	const char *why = audit_locked(m);
	spin_unlock(&m->lock, f);
	return why;
}
