/*
 * The guest walker's dispatcher and the rules all paging formats share:
 * access rights and the #PF error code. The formats themselves are in
 * shadow/walk_32.c, walk_pae.c and walk_64.c (one body, walk_tmpl.h).
 *
 * Decisions, with their sources (Intel SDM Vol. 3A ch. 4 unless noted):
 *
 * Accessed/dirty flags (§4.8). "Whenever the processor uses a
 * paging-structure entry as part of linear-address translation, it sets
 * the accessed flag in that entry"; "whenever there is a write to a linear
 * address, the processor sets the dirty flag ... in the paging-structure
 * entry that identifies the final physical address". So an access that
 * succeeds sets A in every entry of its walk and, if it writes, D in the
 * leaf; a faulting access writes nothing, so never D. Whether a faulting
 * walk leaves A set in the entries it passed is not fixed by the manual:
 * the paging-structure caches (§4.10.3.1) may be filled from any entry
 * with P = 1 and no reserved bit, "even if there are no translations for
 * any linear address that might use that entry", and the CPU sets A before
 * caching one; but nothing requires it. The walker takes the choice that
 * needs no guess about a CPU's caches: a fault leaves the guest's tables
 * untouched (KVM's walker does the same; kvm-unit-tests' x86/access.c,
 * run on hardware walks too, accepts either in the PDE after a fault and
 * expects no A in the 4 KiB PTE). PAE PDPTEs have no accessed flag
 * (Table 4-8). Updates are compare-and-exchanges top down, so they are
 * atomic with respect to other vCPUs as the CPU's locked updates are; one
 * that finds the entry changed repeats the walk (A bits the abandoned
 * attempt set stay, in entries that were present and valid when used:
 * within what §4.10.3.1 allows), at most WALK_MAX_TRIES times.
 *
 * Access rights (§4.6.1). A user-mode address has U/S = 1 in every entry
 * controlling the translation; writability is the AND of R/W, execute
 * permission the absence of XD in all of them (PAE/4-level with
 * EFER.NXE = 1 only). Then:
 *  - user-mode access: supervisor-mode addresses fault; writes need R/W;
 *    fetches need no XD. CR0.WP plays no part.
 *  - supervisor data read: allowed, except from a user-mode address when
 *    CR4.SMAP = 1 and (EFLAGS.AC = 0 or the access is implicit).
 *  - supervisor data write: the same SMAP rule, and with CR0.WP = 1 the
 *    translation must be writable. So WP = 0 lets a supervisor write to a
 *    read-only page of either mode -- but SMAP still refuses user-mode
 *    addresses (AC = 0 or implicit) whatever WP says, and with AC = 1 an
 *    explicit write to a read-only user page is allowed only with WP = 0.
 *  - supervisor fetch: needs no XD, and with CR4.SMEP = 1 a supervisor-
 *    mode address. SMAP and EFLAGS.AC do not apply to fetches.
 *  Implicit supervisor-mode accesses (§4.6: GDT/LDT/IDT/TSS) are
 *  supervisor accesses at any CPL.
 *
 * Error code (§4.7). P = 0 when the walk met an entry with P = 0; P = 1
 * otherwise (access rights, or RSVD). RSVD when a present entry had a
 * reserved bit (reserved bits of not-present entries are never checked;
 * the walk stops at the first bad entry, top down, and access rights are
 * considered only once a translation exists). W/R and U/S describe the
 * access, not the page: U/S = 0 for implicit supervisor accesses even at
 * CPL 3. I/D is set when the access was an instruction fetch and either
 * CR4.SMEP = 1 or both CR4.PAE = 1 and IA32_EFER.NXE = 1; it describes
 * the access, so it is set for every kind of fault -- a not-present or
 * reserved-bit fault on a fetch included -- and 32-bit paging with
 * NXE = 1 and SMEP = 0 reports none. (AMD's APM ties I/D to the
 * no-execute feature being enabled, NXE with PAE, and is less explicit
 * about SMEP; this follows Intel.) XD set while EFER.NXE = 0 is a
 * reserved bit in PAE and 4/5-level entries (§4.4.2, §4.5.4): P = 1 and
 * RSVD = 1 -- QEMU TCG reports it without P, see ../shared/PLATFORM.md.
 *
 * Linear address width. Outside long mode linear addresses are 32 bits
 * (the upper half of gva is ignored). In long mode a non-canonical address
 * is a #GP/#SS before any paging (Vol. 1 §3.3.7.1): WALK_NONCANONICAL.
 */
#include "shadow/walk_priv.h"
#include "lib/string.h"

u32 walk_access_bits(const struct walk_ctx *ctx, u32 access)
{
	u32 ec = access & (PFERR_WRITE | PFERR_USER);

	if ((access & WALK_FETCH) &&
	    ((ctx->cr4 & CR4_SMEP) || ((ctx->cr4 & CR4_PAE) && (ctx->efer & EFER_NXE))))
		ec |= PFERR_FETCH;
	return ec;
}

u32 walk_access_fault(const struct walk_ctx *ctx, u32 access, bool w, bool u, bool x)
{
	bool write = access & WALK_WRITE, fetch = access & WALK_FETCH;
	bool ok;

	if (access & WALK_USER) {
		ok = u && (!write || w) && (!fetch || x);
	} else if (fetch) {
		ok = x && !(u && (ctx->cr4 & CR4_SMEP));
	} else {
		bool smap = u && (ctx->cr4 & CR4_SMAP) &&
			    ((access & WALK_IMPLICIT_SUPERVISOR) || !(ctx->rflags & RFLAGS_AC));
		bool wp = write && !w && (ctx->cr0 & CR0_WP);

		ok = !smap && !wp;
	}
	return ok ? 0 : PFERR_PRESENT | walk_access_bits(ctx, access);
}

/* Vol. 1 §3.3.7.1: bits 63:(bits-1) all equal. */
static bool is_canonical(u64 va, unsigned bits)
{
	return (u64)((s64)(va << (64 - bits)) >> (64 - bits)) == va;
}

/* §4.1.1: with CR0.PG = 0 linear addresses (32 bits: long mode needs
 * paging) are physical, and paging grants every access. */
static enum walk_status walk_nopaging(u64 gva, struct walk_result *out)
{
	out->gpa = (u32)gva;
	out->page_size = PAGE_SIZE;
	out->writable = out->user = out->executable = true;
	return WALK_OK;
}

enum walk_status guest_walk(const struct walk_mem *mem, const struct walk_ctx *ctx,
			    u64 gva, u32 access, struct walk_result *out)
{
	struct walk_ctx c = *ctx;
	enum walk_status st = WALK_RETRY;

	/* One kind of access: a fetch is not a write; an implicit access is a
	 * supervisor-mode one. */
	access &= WALK_WRITE | WALK_USER | WALK_FETCH | WALK_IMPLICIT_SUPERVISOR;
	if (access & WALK_FETCH)
		access &= ~WALK_WRITE;
	if (access & WALK_IMPLICIT_SUPERVISOR)
		access &= ~WALK_USER;
	c.maxphyaddr = MIN(MAX(c.maxphyaddr, 32), 52);

	memset(out, 0, sizeof(*out));
	if (!(c.cr0 & CR0_PG)) {
		st = walk_nopaging(gva, out);
	} else if ((c.efer & EFER_LMA) &&
		   !is_canonical(gva, (c.cr4 & CR4_LA57) ? 57 : 48)) {
		st = WALK_NONCANONICAL;
	} else {
		for (int tries = 0; tries < WALK_MAX_TRIES && st == WALK_RETRY; tries++) {
			if (tries)
				memset(out, 0, sizeof(*out));
			if (c.efer & EFER_LMA)
				st = walk64_walk(mem, &c, gva, access, out);
			else if (c.cr4 & CR4_PAE)
				st = walkpae_walk(mem, &c, gva, access, out);
			else
				st = walk32_walk(mem, &c, gva, access, out);
		}
	}
	out->status = st;
	return st;
}
