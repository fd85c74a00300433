/*
 * The guest walker for 32-bit paging (SDM Vol. 3A §4.3; AMD APM Vol. 2
 * §5.3.1-§5.3.2 "legacy-mode non-PAE"): two levels of 1024 4-byte entries,
 * 4 KiB pages, and 4 MiB pages when CR4.PSE = 1.
 *
 * - Linear addresses are 32 bits; CR3 bits 31:12 locate the page directory.
 * - A PDE's PS flag (bit 7) maps a 4 MiB page only when CR4.PSE = 1;
 *   otherwise it is ignored and the PDE points to a page table (Table 4-6).
 * - A 4 MiB PDE (Table 4-4) holds physical-address bits 31:22 in its bits
 *   31:22 and, with PSE-36, bits (M-1):32 in its bits (M-20):13, where M is
 *   MAXPHYADDR capped at 40 for this format; bits 21:(M-19) are reserved.
 *   Bit 12 is PAT. With MAXPHYADDR >= 40 (QEMU's and most CPUs' value)
 *   that is bits 20:13 for PA 39:32 and bit 21 reserved, the layout AMD's
 *   APM gives.
 * - No other entry of this format has reserved bits (Table 4-5 note,
 *   Table 4-6), and there is no XD flag: everything present is executable.
 */
#include "shadow/walk_priv.h"

/* MAXPHYADDR as far as this format can use it (§4.3: at most 40 bits). */
static int pg32_maxphy(const struct walk_ctx *ctx)
{
	return MIN(ctx->maxphyaddr, 40);
}

static bool walk32_is_large(const struct walk_ctx *ctx, int level, u64 pte)
{
	return level == 2 && (ctx->cr4 & CR4_PSE) && (pte & PT_PS);
}

static u64 walk32_rsvd(const struct walk_ctx *ctx, int level, u64 pte)
{
	if (walk32_is_large(ctx, level, pte))
		return walk_bits(21, pg32_maxphy(ctx) - 19);
	return 0;
}

static u64 walk32_next_table(const struct walk_ctx *ctx, u64 pte)
{
	return pte & 0xfffff000u;
}

static u64 walk32_page_addr(const struct walk_ctx *ctx, int level, u64 pte)
{
	if (level == 2) {
		u64 hi = (pte >> 13) & walk_bits(pg32_maxphy(ctx) - 33, 0);

		return (pte & 0xffc00000u) | (hi << 32);
	}
	return pte & 0xfffff000u;
}

#define PT_NAME(n)		walk32_##n
#define pt_entry_t		u32
#define PT_INDEX_BITS		10
#define PT_LEVELS(ctx)		2
#define PT_ROOT(ctx)		((ctx)->cr3 & 0xfffff000u)
#define PT_VA(gva)		((u32)(gva))
#define PT_XD_MASK(ctx)		0ull
#define PT_PDPTE_LEVEL		0
#include "shadow/walk_tmpl.h"
