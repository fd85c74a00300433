/*
 * The guest page-table walk, written once and compiled once per paging
 * format (like KVM's paging_tmpl.h). A format file defines, then includes
 * this file:
 *
 *   PT_NAME(n)          the instance's name for n (walk32_##n, ...)
 *   pt_entry_t          the entry type (u32 or u64)
 *   PT_INDEX_BITS       index bits per level (10 or 9)
 *   PT_LEVELS(ctx)      the number of levels (2, 3, 4 or 5)
 *   PT_ROOT(ctx)        the physical address of the top table (from CR3)
 *   PT_VA(gva)          the linear address as the format sees it
 *   PT_XD_MASK(ctx)     the XD bit when it denies execution, else 0
 *   PT_PDPTE_LEVEL      the level of PAE's PDPTEs (they may come from the
 *                       PDPTE registers, control no access rights and have
 *                       no accessed flag), or 0 when the format has none
 *
 * and these functions of (ctx, level, entry) for a present entry:
 *
 *   PT_NAME(rsvd)       the reserved bits of the entry (they may depend on
 *                       its PS flag); a set one ends the walk with a
 *                       reserved-bit fault
 *   PT_NAME(is_large)   whether a level > 1 entry maps a page (its PS flag,
 *                       where PS maps pages)
 *   PT_NAME(next_table) the address of the table a non-leaf entry points to
 *   PT_NAME(page_addr)  the address of the page a leaf entry maps (without
 *                       the offset)
 *
 * The walk (SDM §4.3, §4.4.2, §4.5): from the top table, take the entry
 * the address's index selects; P = 0 ends the walk with a not-present
 * fault; a reserved bit with a fault with P = RSVD = 1; a leaf ends it with
 * a translation, whose combined access rights (§4.6) decide the access.
 * Only then, for an access that is allowed, are the A and D flags set
 * (§4.8; see the comment in walk.c for why nothing is set on a fault).
 */
#ifndef PT_NAME
#error "define the paging format before including shadow/walk_tmpl.h"
#endif

static bool PT_NAME(read_entry)(const struct walk_mem *mem, u64 gpa, u64 *val)
{
	return mem->read(mem->ctx, gpa, val, sizeof(pt_entry_t));
}

enum walk_status PT_NAME(walk)(const struct walk_mem *mem, const struct walk_ctx *ctx,
			       u64 gva, u32 access, struct walk_result *out)
{
	const u64 va = PT_VA(gva);
	const u64 xd_mask = PT_XD_MASK(ctx);
	const int top = PT_LEVELS(ctx);
	u64 table = PT_ROOT(ctx);
	bool w = true, u = true, xd = false;
	int level;
	u64 pte = 0;
	u32 fault;

	out->nlevels = top;
	for (level = top;; level--) {
		unsigned shift = PAGE_SHIFT + PT_INDEX_BITS * (level - 1);
		u64 idx = (va >> shift) & ((1u << PT_INDEX_BITS) - 1);
		u64 gpa = table + idx * sizeof(pt_entry_t);

		out->level = level;
		out->pte_gpa[level - 1] = gpa;
#if PT_PDPTE_LEVEL
		if (level == PT_PDPTE_LEVEL && ctx->pdptes)
			pte = ctx->pdptes[idx & 3];
		else
#endif
		if (!PT_NAME(read_entry)(mem, gpa, &pte))
			return WALK_BAD_GPA;
		out->pte[level - 1] = pte;

		/* §4.7: "P flag ... 0 if there is no translation because the P
		 * flag was 0"; reserved bits are not checked in such an entry. */
		if (!(pte & PT_P)) {
			out->error_code = walk_access_bits(ctx, access);
			return WALK_PAGE_FAULT;
		}
		if (pte & PT_NAME(rsvd)(ctx, level, pte)) {
			out->error_code = PFERR_PRESENT | PFERR_RSVD | walk_access_bits(ctx, access);
			return WALK_PAGE_FAULT;
		}
#if PT_PDPTE_LEVEL
		if (level != PT_PDPTE_LEVEL)
#endif
		{
			w = w && (pte & PT_RW);
			u = u && (pte & PT_US);
			xd = xd || (pte & xd_mask);
		}
		if (level == 1 || PT_NAME(is_large)(ctx, level, pte))
			break;
		table = PT_NAME(next_table)(ctx, pte);
	}

	out->page_size = 1ull << (PAGE_SHIFT + PT_INDEX_BITS * (level - 1));
	out->gpa = PT_NAME(page_addr)(ctx, level, pte) | (va & (out->page_size - 1));
	out->writable = w;
	out->user = u;
	out->executable = !xd;

	fault = walk_access_fault(ctx, access, w, u, !xd);
	if (fault) {
		out->error_code = fault;
		return WALK_PAGE_FAULT;
	}

	/*
	 * §4.8: A in every entry used, D in the leaf for a write, top down as
	 * the CPU walks. Each update is a compare-and-exchange against the
	 * value the decision was based on: if another vCPU (or an update of
	 * this walk to an entry used at two levels) changed the entry since,
	 * the decision may be stale and the walk is done again.
	 */
	for (int l = top; l >= level; l--) {
		u64 old = out->pte[l - 1], new_ = old | PT_A;

#if PT_PDPTE_LEVEL
		if (l == PT_PDPTE_LEVEL)
			continue;	/* PAE PDPTEs have no accessed flag */
#endif
		if (l == level && (access & WALK_WRITE))
			new_ |= PT_D;
		if (new_ == old)
			continue;
		if (!mem->cmpxchg(mem->ctx, out->pte_gpa[l - 1], old, new_, sizeof(pt_entry_t)))
			return WALK_RETRY;
		out->pte[l - 1] = new_;
	}
	return WALK_OK;
}

#undef PT_NAME
#undef pt_entry_t
#undef PT_INDEX_BITS
#undef PT_LEVELS
#undef PT_ROOT
#undef PT_VA
#undef PT_XD_MASK
#undef PT_PDPTE_LEVEL
