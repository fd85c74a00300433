/*
 * The guest page-table walker: the architectural translation of a guest
 * linear address through the guest's own page tables, with the permission
 * checks, the #PF error code and the accessed/dirty updates of the hardware
 * (Intel SDM Vol. 3A ch. 4 "Paging"; AMD APM Vol. 2 ch. 5; where they differ
 * this follows Intel and says so). The shadow MMU decides with it what the
 * guest is allowed to do; the instruction emulator translates through it.
 *
 * One body (shadow/walk_tmpl.h) is compiled per guest paging format:
 * 32-bit (shadow/walk_32.c), PAE (walk_pae.c), 4-level and 5-level
 * (walk_64.c). guest_walk() picks the format from CR0.PG, CR4.PAE,
 * EFER.LMA and CR4.LA57 (SDM §4.1.1, Table 4-1).
 *
 * The guest's tables are hostile input. Every entry is read through
 * struct walk_mem, which fails outside guest RAM; the number of levels is
 * fixed by the format, so self-referencing tables end like any other walk;
 * accessed/dirty bits are set with compare-and-exchange so that a racing
 * vCPU's update of the same entry is never lost.
 *
 * Not modelled (Umbra offers none of them to guests): protection keys
 * (CR4.PKE/PKS: bits 62:59 are treated as ignored, error-code bit PK is
 * never set), CET shadow-stack accesses, HLAT, LAM, SGX.
 */
#ifndef UMBRA_SHADOW_WALK_H
#define UMBRA_SHADOW_WALK_H

#include "lib/types.h"

/* --- the access being made ----------------------------------------------- */

/* Bits of `access`; the first three are the #PF error-code bits that
 * describe the access (SDM §4.7), so they go into the error code as is. A
 * data read is 0. WALK_FETCH wins over WALK_WRITE if both are given. */
#define WALK_WRITE		BIT(1)	/* W/R: a write (or read-modify-write) */
#define WALK_USER		BIT(2)	/* U/S: a user-mode access (CPL 3) */
#define WALK_FETCH		BIT(4)	/* I/D: an instruction fetch */
/* An implicit supervisor-mode access (SDM §4.6): GDT/LDT/IDT/TSS accesses,
 * supervisor-mode even at CPL 3, and subject to SMAP whatever EFLAGS.AC
 * says. WALK_USER is ignored when this is set; an implicit access is a data
 * access, so with WALK_FETCH it means a plain supervisor fetch. */
#define WALK_IMPLICIT_SUPERVISOR BIT(31)

/* #PF error-code bits (SDM §4.7). */
#define PFERR_PRESENT		BIT(0)	/* 0: no translation (a P flag was 0) */
#define PFERR_WRITE		BIT(1)
#define PFERR_USER		BIT(2)
#define PFERR_RSVD		BIT(3)	/* a reserved bit was set (always with P) */
#define PFERR_FETCH		BIT(4)
#define PFERR_PK		BIT(5)	/* protection keys: never set here */

/* --- the guest state and memory a walk depends on ------------------------ */

/* CPU features of the guest that change the paging formats. */
#define WALK_FEAT_1G_PAGES	BIT(0)	/* CPUID.80000001H:EDX.Page1GB[26]: PS in a
					 * 4/5-level PDPTE maps 1 GiB; without it PS
					 * there is a reserved bit (SDM §4.5.4) */

struct walk_ctx {
	u64 cr0, cr3, cr4, efer;
	u64 rflags;		/* only AC (bit 18) is used: SMAP */
	u8 maxphyaddr;		/* CPUID.80000008H:EAX[7:0], 32..52 (clamped) */
	u32 features;		/* WALK_FEAT_* */
	/*
	 * PAE paging only: the four PDPTE registers as loaded by the last
	 * MOV to CR3 (or to CR0/CR4 entering PAE paging), see
	 * walk_load_pdptes(). The CPU does not read the PDPTEs during a walk
	 * (SDM §4.4.1). NULL: read them from memory at CR3 on every walk, a
	 * simplification that only differs if the guest edited its PDPT
	 * without reloading CR3.
	 */
	const u64 *pdptes;
};

/* Guest-physical access for the walker. Entries are 4 or 8 bytes and
 * naturally aligned. */
struct walk_mem {
	/* Reads `size` bytes at gpa into *val (zero-extended). False when gpa
	 * is not guest RAM (MMIO, beyond the end of memory). */
	bool (*read)(void *ctx, u64 gpa, u64 *val, unsigned size);
	/* Atomically: if the `size` bytes at gpa equal `old`, store `new_` and
	 * return true; otherwise return false. Memory that ignores writes
	 * (ROM) should return true: the CPU's update would be lost there as
	 * well. */
	bool (*cmpxchg)(void *ctx, u64 gpa, u64 old, u64 new_, unsigned size);
	void *ctx;
};

/* --- results -------------------------------------------------------------- */

/*
 * Guest memory is written only to set A/D bits, and only for an access
 * that is allowed. The one exception: a walk that lost a race on an A/D
 * update (another vCPU edited an entry, or the walk's own update changed an
 * entry it uses twice) and is then repeated keeps the A bits its first
 * attempt set, even if the repeated walk faults -- as a CPU may (SDM
 * §4.10.3.1).
 */
enum walk_status {
	/* Translated and allowed: out->gpa etc. are valid, A/D bits are set. */
	WALK_OK = 0,
	/* The access raises #PF with out->error_code (CR2 = the linear
	 * address). No A/D bit was set (see above). */
	WALK_PAGE_FAULT,
	/* Long mode and gva is not canonical: the access raises #GP(0), or
	 * #SS(0) for a stack access (SDM Vol. 1 §3.3.7.1; the caller knows
	 * the segment). No memory was read. */
	WALK_NONCANONICAL,
	/* A paging-structure entry lies outside guest RAM (out->level and
	 * out->pte_gpa[out->level - 1] say which). Hardware would read
	 * whatever the bus returns; there is no architectural result to
	 * emulate, so the caller treats this as a VM error (stop the VM with
	 * a message), never as a #PF. No A/D bit was set (see above). */
	WALK_BAD_GPA,
	/* The entries kept changing under the A/D updates (another vCPU
	 * editing them): nothing is reported to the guest; re-enter it and
	 * the access happens again. */
	WALK_RETRY,
	/* walk_load_pdptes() only: a present PDPTE has a reserved bit set,
	 * so the MOV to CR0/CR3/CR4 raises #GP(0) (SDM §4.4.1). */
	WALK_PDPTE_RSVD,
};

/*
 * Levels count from the page: 1 = PT entry (4 KiB page), 2 = PD entry
 * (2 MiB or, 32-bit paging, 4 MiB page), 3 = PDPT entry (1 GiB page),
 * 4 = PML4 entry, 5 = PML5 entry. Arrays are indexed by level - 1.
 */
#define WALK_MAX_LEVELS 5

struct walk_result {
	enum walk_status status;
	/* WALK_PAGE_FAULT: the exact #PF error code (PFERR_*). */
	u32 error_code;
	/* Levels of the paging format: 0 (paging off), 2, 3, 4 or 5. */
	int nlevels;
	/*
	 * WALK_OK: the level of the leaf. WALK_PAGE_FAULT: the level of the
	 * entry that ended the walk (not present / reserved bit), or of the
	 * leaf when the access rights refused it. WALK_BAD_GPA: the level
	 * whose entry could not be read.
	 */
	int level;
	/*
	 * Each level's entry, for the levels from nlevels down to `level`:
	 * its guest-physical address and its value as read, plus the A/D bits
	 * the walk set in it (so after WALK_OK, what it wrote; an entry used
	 * at two levels of a self-referencing walk may since have received
	 * the other level's bits too). For PAE the level-3 entry is the PDPTE
	 * (from ctx->pdptes when given; its address is where it was loaded
	 * from).
	 */
	u64 pte_gpa[WALK_MAX_LEVELS];
	u64 pte[WALK_MAX_LEVELS];
	/*
	 * The translation, valid after WALK_OK and after a WALK_PAGE_FAULT
	 * without RSVD whose P bit is 1 (a translation exists, the access
	 * rights refused it). writable/user/executable are the combined
	 * rights of the entries controlling the translation (SDM §4.6): the
	 * AND of R/W, the AND of U/S, and no XD set in any entry (always
	 * executable in 32-bit paging and when EFER.NXE = 0). They do not
	 * include CR0.WP/SMEP/SMAP, which depend on the access.
	 */
	u64 gpa;
	u64 page_size;		/* 4 KiB, 2 MiB, 4 MiB or 1 GiB */
	bool writable, user, executable;
};

/*
 * Translates linear address gva for `access` (WALK_*) under ctx, with the
 * permission checks of SDM §4.6 and the A/D updates of §4.8 (see
 * shadow/walk.c for each decision and its citation). Fills *out and
 * returns out->status. With CR0.PG = 0 the translation is the identity on
 * the low 32 bits, with all rights, nlevels = level = 0.
 */
enum walk_status guest_walk(const struct walk_mem *mem, const struct walk_ctx *ctx,
			    u64 gva, u32 access, struct walk_result *out);

/*
 * PAE paging: loads the four PDPTEs from CR3 into pdptes[] as the CPU does
 * on MOV to CR3 in PAE mode and on the MOV to CR0/CR4 described in SDM
 * §4.4.1. Returns WALK_OK, WALK_PDPTE_RSVD (a present PDPTE with a
 * reserved bit: the instruction #GPs and the old values stay) or
 * WALK_BAD_GPA (the PDPT is not guest RAM). pdptes[] is written only on
 * WALK_OK.
 */
enum walk_status walk_load_pdptes(const struct walk_mem *mem, const struct walk_ctx *ctx,
				  u64 pdptes[4]);

#endif
