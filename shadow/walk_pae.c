/*
 * The guest walker for PAE paging (SDM Vol. 3A §4.4; AMD APM Vol. 2 §5.3.3
 * "legacy-mode PAE"): four PDPTEs, then two levels of 512 8-byte entries,
 * 4 KiB pages and 2 MiB pages (PS in a PDE; CR4.PSE plays no part).
 *
 * - Linear addresses are 32 bits; CR3 bits 31:5 locate the 32-byte PDPT.
 * - The PDPTEs (§4.4.1, Table 4-8) are loaded into registers on MOV to CR3
 *   in PAE mode and on the MOVs to CR0/CR4 that enter PAE paging or change
 *   its controls; a present one with a reserved bit (63:M, 8:5, 2:1) makes
 *   that instruction #GP(0), so a walk never sees one (§4.7, last
 *   paragraph: PDPTE load failures are #GP, not #PF). They have no R/W,
 *   U/S or XD flag (PDPTEs control no access rights, §4.6) and no accessed
 *   flag. With ctx->pdptes the walk uses the loaded registers; without, it
 *   reads them from memory and checks them as the load would, reporting a
 *   bad one as a reserved-bit #PF (hardware cannot get there).
 * - PDEs and PTEs (Tables 4-9 to 4-11): bits 62:M are reserved (unlike
 *   4-level paging, where 62:52 are ignored), and bit 63 is XD when
 *   EFER.NXE = 1 and reserved otherwise. A 2 MiB PDE also reserves 20:13
 *   (bit 12 is PAT).
 */
#include "shadow/walk_priv.h"

static u64 pae_addr_mask(const struct walk_ctx *ctx)
{
	return walk_bits(ctx->maxphyaddr - 1, 12);
}

u64 walkpae_pdpte_rsvd(const struct walk_ctx *ctx)
{
	return walk_bits(63, ctx->maxphyaddr) | walk_bits(8, 5) | walk_bits(2, 1);
}

static bool walkpae_is_large(const struct walk_ctx *ctx, int level, u64 pte)
{
	return level == 2 && (pte & PT_PS);
}

static u64 walkpae_rsvd(const struct walk_ctx *ctx, int level, u64 pte)
{
	u64 r = walk_bits(62, ctx->maxphyaddr);

	if (level == 3)
		return walkpae_pdpte_rsvd(ctx);
	if (!(ctx->efer & EFER_NXE))
		r |= PT_XD;
	if (walkpae_is_large(ctx, level, pte))
		r |= walk_bits(20, 13);
	return r;
}

static u64 walkpae_next_table(const struct walk_ctx *ctx, u64 pte)
{
	return pte & pae_addr_mask(ctx);
}

static u64 walkpae_page_addr(const struct walk_ctx *ctx, int level, u64 pte)
{
	return walk_leaf_addr(pte, pae_addr_mask(ctx), level);
}

#define PT_NAME(n)		walkpae_##n
#define pt_entry_t		u64
#define PT_INDEX_BITS		9
#define PT_LEVELS(ctx)		3
#define PT_ROOT(ctx)		((ctx)->cr3 & 0xffffffe0u)
#define PT_VA(gva)		((u32)(gva))
#define PT_XD_MASK(ctx)		(((ctx)->efer & EFER_NXE) ? PT_XD : 0)
#define PT_PDPTE_LEVEL		3
#include "shadow/walk_tmpl.h"

enum walk_status walk_load_pdptes(const struct walk_mem *mem, const struct walk_ctx *ctx,
				  u64 pdptes[4])
{
	struct walk_ctx c = *ctx;
	u64 v[4];

	c.maxphyaddr = MIN(MAX(c.maxphyaddr, 32), 52);
	for (unsigned i = 0; i < 4; i++) {
		if (!mem->read(mem->ctx, (c.cr3 & 0xffffffe0u) + i * 8, &v[i], 8))
			return WALK_BAD_GPA;
		if ((v[i] & PT_P) && (v[i] & walkpae_pdpte_rsvd(&c)))
			return WALK_PDPTE_RSVD;
	}
	for (unsigned i = 0; i < 4; i++)
		pdptes[i] = v[i];
	return WALK_OK;
}
