/*
 * The guest walker for 4-level and 5-level paging (SDM Vol. 3A §4.5; AMD
 * APM Vol. 2 §5.3.3-§5.3.5 "long mode"): 512 8-byte entries per table,
 * 4 KiB pages, 2 MiB pages (PS in a PDE) and 1 GiB pages (PS in a PDPTE,
 * with CPUID Page1GB); 5 levels when CR4.LA57 = 1.
 *
 * - CR3 bits (M-1):12 locate the top table (bits 11:0 may be a PCID and
 *   bit 63 the no-flush bit of a MOV to CR3; neither is an address).
 * - Every entry (Tables 4-14 to 4-20): bits 51:M are reserved, bit 63 is XD
 *   when EFER.NXE = 1 and reserved otherwise; bits 62:52 are ignored (62:59
 *   would be protection keys, which Umbra does not offer).
 * - PS (bit 7) is reserved in PML5Es and PML4Es (§4.5.5). In a PDPTE it maps
 *   a 1 GiB page, whose bits 29:13 are reserved, or is reserved when the
 *   CPU has no 1 GiB pages. In a PDE it maps a 2 MiB page, whose bits 20:13
 *   are reserved. Bit 12 of a large-page entry is PAT.
 * - AMD CPUs also reserve bit 8 of PML4Es, which Intel ignores (KVM
 *   reserves it for AMD guests; an OS that set it has been seen to fault
 *   on AMD only). This follows Intel, so such an entry works here where
 *   an AMD CPU would raise a reserved-bit #PF.
 */
#include "shadow/walk_priv.h"

static u64 w64_addr_mask(const struct walk_ctx *ctx)
{
	return walk_bits(ctx->maxphyaddr - 1, 12);
}

static bool walk64_is_large(const struct walk_ctx *ctx, int level, u64 pte)
{
	if (!(pte & PT_PS))
		return false;
	return level == 2 || (level == 3 && (ctx->features & WALK_FEAT_1G_PAGES));
}

static u64 walk64_rsvd(const struct walk_ctx *ctx, int level, u64 pte)
{
	u64 r = walk_bits(51, ctx->maxphyaddr);

	if (!(ctx->efer & EFER_NXE))
		r |= PT_XD;
	if (level >= 4 || (level == 3 && !(ctx->features & WALK_FEAT_1G_PAGES)))
		r |= PT_PS;
	else if (walk64_is_large(ctx, level, pte))
		r |= walk_bits(PAGE_SHIFT + 9 * (level - 1) - 1, 13);
	return r;
}

static u64 walk64_next_table(const struct walk_ctx *ctx, u64 pte)
{
	return pte & w64_addr_mask(ctx);
}

static u64 walk64_page_addr(const struct walk_ctx *ctx, int level, u64 pte)
{
	return walk_leaf_addr(pte, w64_addr_mask(ctx), level);
}

#define PT_NAME(n)		walk64_##n
#define pt_entry_t		u64
#define PT_INDEX_BITS		9
#define PT_LEVELS(ctx)		(((ctx)->cr4 & CR4_LA57) ? 5 : 4)
#define PT_ROOT(ctx)		((ctx)->cr3 & w64_addr_mask(ctx))
#define PT_VA(gva)		(gva)
#define PT_XD_MASK(ctx)		(((ctx)->efer & EFER_NXE) ? PT_XD : 0)
#define PT_PDPTE_LEVEL		0
#include "shadow/walk_tmpl.h"
