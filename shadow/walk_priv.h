/*
 * Definitions shared by the guest walker's dispatcher (shadow/walk.c) and
 * its per-format instances (shadow/walk_32.c, walk_pae.c, walk_64.c, each
 * including shadow/walk_tmpl.h). Not for other users: see shadow/walk.h.
 */
#ifndef UMBRA_SHADOW_WALK_PRIV_H
#define UMBRA_SHADOW_WALK_PRIV_H

#include "shadow/walk.h"

/* Control-register, EFER and RFLAGS bits a walk depends on (SDM Vol. 3A
 * §2.5, §2.2.1; same spelling as arch/x86/cpu.h). */
#define CR0_WP		BIT(16)
#define CR0_PG		BIT(31)
#define CR4_PSE		BIT(4)
#define CR4_PAE		BIT(5)
#define CR4_LA57	BIT(12)
#define CR4_SMEP	BIT(20)
#define CR4_SMAP	BIT(21)
#define EFER_LMA	BIT(10)
#define EFER_NXE	BIT(11)
#define RFLAGS_AC	BIT(18)

/* Paging-structure entry bits with the same meaning in every format (SDM
 * §4.3-§4.5). XD exists only in 8-byte entries. */
#define PT_P		BIT(0)
#define PT_RW		BIT(1)
#define PT_US		BIT(2)
#define PT_A		BIT(5)
#define PT_D		BIT(6)	/* in entries that map a page */
#define PT_PS		BIT(7)	/* in PDEs and 4/5-level PDPTEs */
#define PT_XD		BIT(63)

/* Bits hi..lo (inclusive) set, 0 <= lo, hi <= 63; empty when lo > hi. */
static inline u64 walk_bits(int hi, int lo)
{
	if (lo > hi)
		return 0;
	return (~0ull >> (63 - hi)) & (~0ull << lo);
}

/* PAE and 4/5-level leaves: the frame a leaf at `level` maps (1 = 4 KiB),
 * under the format's address mask. */
static inline u64 walk_leaf_addr(u64 pte, u64 addr_mask, int level)
{
	return pte & addr_mask & ~walk_bits(PAGE_SHIFT + 9 * (level - 1) - 1, 0);
}

/* Largest number of walk attempts before giving up with WALK_RETRY: a walk
 * is repeated when a compare-and-exchange of an A/D update finds the entry
 * changed. Without another vCPU interfering, each repeat is caused by an
 * earlier update of the same walk to an entry used twice (self-referencing
 * tables), so at most one per level plus one is needed. */
#define WALK_MAX_TRIES	16

/*
 * The error-code bits that describe the access (SDM §4.7): W/R for a
 * write, U/S for a user-mode access, I/D for an instruction fetch when
 * CR4.SMEP = 1 or (CR4.PAE = 1 and EFER.NXE = 1). `access` is normalized
 * (see guest_walk()).
 */
u32 walk_access_bits(const struct walk_ctx *ctx, u32 access);

/*
 * 0 when the access rights of a translation allow `access` (SDM §4.6.1),
 * else the #PF error code (P = 1 plus walk_access_bits()). w, u: the AND of
 * the R/W and U/S flags of the entries controlling the translation; x: no
 * XD flag set in them (true when XD does not apply).
 */
u32 walk_access_fault(const struct walk_ctx *ctx, u32 access, bool w, bool u, bool x);

/* One walk attempt per format, from shadow/walk_tmpl.h. They return
 * WALK_OK, WALK_PAGE_FAULT, WALK_BAD_GPA, or WALK_RETRY when an A/D update
 * lost a race and the walk has to be done again. ctx->maxphyaddr is
 * already clamped to 32..52 and `access` normalized. */
enum walk_status walk32_walk(const struct walk_mem *mem, const struct walk_ctx *ctx,
			     u64 gva, u32 access, struct walk_result *out);
enum walk_status walkpae_walk(const struct walk_mem *mem, const struct walk_ctx *ctx,
			      u64 gva, u32 access, struct walk_result *out);
enum walk_status walk64_walk(const struct walk_mem *mem, const struct walk_ctx *ctx,
			     u64 gva, u32 access, struct walk_result *out);

/* Reserved bits of a PAE PDPTE (SDM §4.4.1, Table 4-8): 63:M, 8:5, 2:1. */
u64 walkpae_pdpte_rsvd(const struct walk_ctx *ctx);

#endif
