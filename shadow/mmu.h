/*
 * The shadow MMU: page tables the hardware walks in place of the guest's own
 * (DESIGN.md "MMU"; KVM's shadow MMU is the model). Every shadow page shadows
 * one guest page table (or, "direct", a range of guest-physical memory that
 * the guest maps with a large page or without paging) and is keyed by
 * (gfn, role). Guest page tables that are shadowed are write-tracked
 * (shadow/page_track.h, seed 004): the guest's writes to them fault, are
 * emulated, and zap the shadow entries they change. So the shadow tables are
 * always in sync with the guest's tables (no out-of-sync pages yet), and a
 * guest TLB flush only has to flush the hardware TLB.
 *
 * Hardware format: the hardware always runs with PAE entries. A guest in
 * long mode gets a 4-level shadow; every other guest (32-bit paging, PAE,
 * paging off, real mode) gets a PAE shadow whose four PDPTEs live in a
 * per-vCPU page below 4 GiB. 32-bit guest tables (1024 4-byte entries) are
 * shadowed by several 512-entry shadow tables told apart by role.quadrant.
 *
 * Permissions: a leaf spte grants at most what the guest's entries grant
 * (the walker's combined rights), never write access before the guest's
 * dirty bit is set, and never write access to a write-tracked gfn. The
 * hardware runs with the guest's CR4.SMEP/SMAP (so it enforces them on the
 * sptes exactly as on the guest's entries), with CR0.WP=1 (a supervisor
 * write that CR0.WP=0 allows to a read-only page is emulated) and with
 * EFER.NXE=1 whatever the guest has: only then does the #PF error code say
 * whether the access was a fetch (SDM §4.7, I/D), and sptes carry NX only
 * where the guest's entries forbid execution.
 * Every #PF exits to mmu_page_fault(), where shadow/walk.c decides with the
 * guest's own tables what the guest sees.
 *
 * Locking: one lock per VM (mmu->lock) serializes everything here: faults,
 * root loads, tracked writes, zaps. The guest tables are read under it and
 * A/D bits set with cmpxchg (walk.c), so a guest write racing a fault is
 * either seen by the walk or zaps what the fault installed afterwards.
 * mmu_ops.flush_remote_tlbs is called with the lock held: it must not take it.
 */
#ifndef UMBRA_SHADOW_MMU_H
#define UMBRA_SHADOW_MMU_H

#include "kernel/list.h"
#include "kernel/spinlock.h"
#include "lib/types.h"
#include "shadow/page_track.h"
#include "shadow/walk.h"

/* --- shadow page table entries (PAE / x86-64 format, SDM §4.4-4.5) ----- */

#define SPTE_P		BIT(0)
#define SPTE_W		BIT(1)
#define SPTE_U		BIT(2)
#define SPTE_A		BIT(5)
#define SPTE_D		BIT(6)
#define SPTE_NX		BIT(63)
#define SPTE_ADDR_MASK	0x000ffffffffff000ull
/* Every non-leaf spte: all rights; permissions live in the leaves. A is
 * preset so the hardware never writes the entry. */
#define SPTE_TABLE	(SPTE_P | SPTE_W | SPTE_U | SPTE_A)
/* A PAE PDPTE allows only P, PWT, PCD and the address (SDM §4.4.1). */
#define SPTE_PDPTE	SPTE_P

/* Access rights, combined over the guest's levels. */
#define ACC_EXEC	BIT(0)
#define ACC_WRITE	BIT(1)
#define ACC_USER	BIT(2)
#define ACC_ALL		(ACC_EXEC | ACC_WRITE | ACC_USER)

/* What a shadow page shadows, besides its gfn. Two guest contexts that
 * would need different sptes for the same guest table get different
 * shadow pages. */
union sp_role {
	u32 word;
	struct {
		u32 level : 3;		/* 1 = PT .. 4 = PML4 */
		u32 direct : 1;		/* no guest table: maps gfn.. linearly */
		u32 access : 3;		/* ACC_*: rights of the guest levels above */
		u32 gpte_4byte : 1;	/* guest uses 32-bit paging (CR4.PAE=0) */
		u32 quadrant : 2;	/* which part of a 32-bit guest table */
		u32 cr0_wp : 1;
		u32 cr4_pse : 1;
		u32 cr4_smep : 1;
		u32 cr4_smap : 1;
		u32 efer_nx : 1;
		u32 paging_off : 1;	/* guest CR0.PG=0: identity map */
	};
};
_Static_assert(sizeof(union sp_role) == 4, "role is one word");

/* A shadow page: one 4 KiB table the hardware walks, plus bookkeeping. */
struct shadow_page {
	struct list_head hash_link;	/* mmu->hash bucket */
	struct list_head lru;		/* mmu->active (newest first), ->zapped or ->free */
	u64 gfn;
	union sp_role role;
	paddr_t spt_pa;			/* 0: no table frame yet */
	u64 *spt;
	/* One link per spte: each present spte is on exactly one list, the
	 * rmap of the gfn it maps (level 1) or the parent list of the shadow
	 * page it points to (level > 1). */
	struct spte_link *links;
	u32 parents;			/* head of the parent-spte list (spte id) */
	u32 root_count;			/* roots (and faults in progress) using it */
	u16 write_flooding;		/* emulated writes since it was last used */
	bool in_use;			/* in the hash (or an invalid root) */
	bool invalid;			/* zapped while a root: freed at root_count 0 */
};

/* spte ids: 1 + page index * 512 + entry index; 0 is "none". */
struct spte_link {
	u32 next, prev;
	u32 gfn;			/* leaf sptes: the gfn mapped (for its rmap) */
};

struct mmu_stats {
	u64 faults;		/* #PF exits handled */
	u64 faults_fixed;	/* ... that installed an spte */
	u64 faults_injected;	/* ... that were the guest's own #PF */
	u64 faults_spurious;	/* ... that found nothing to do */
	u64 emulations;		/* ... sent to the instruction emulator */
	u64 pt_writes;		/* emulated writes to shadowed guest tables */
	u64 sp_allocated;	/* shadow pages created */
	u64 sp_zapped;		/* shadow pages dropped */
	u64 sp_reclaimed;	/* ... of them to make room (pool full) */
	u64 sp_flooded;		/* ... of them because the guest kept writing */
	u64 roots_reused;	/* CR3 loads served by an existing root */
	u64 roots_new;		/* CR3 loads that built a root */
	u64 remote_flushes;	/* flush_remote_tlbs calls */
	u64 write_protects;	/* gfns write-protected */
};

struct mmu_ops {
	/* Host frame of gfn, backing it if needed; 0: not guest RAM (MMIO,
	 * beyond the end, host out of memory). */
	paddr_t (*gfn_to_hpa)(void *ctx, u64 gfn);
	/* Every vCPU of the VM drops its TLB entries before it next runs the
	 * guest, and none is still running on old entries when this returns.
	 * Called with mmu->lock held. */
	void (*flush_remote_tlbs)(void *ctx);
	void *ctx;
};

#define MMU_HASH_BUCKETS	1024
#define MMU_ROOT_CACHE		4	/* recent 4-level roots per vCPU */
#define MMU_POOL_MIN		32
#define MMU_POOL_MAX		32768u
#define MMU_FLOOD_LIMIT		3	/* emulated writes without a fault: unshadow */

struct mmu {
	spinlock_t lock;
	struct walk_mem gmem;		/* the guest's memory, for walks */
	struct mmu_ops ops;
	struct page_track track;
	struct page_track_notifier notifier;
	u64 nr_gfns;			/* guest RAM: gfns [0, nr_gfns) */
	u32 nr_pages;			/* pool size: the most shadow pages ever */
	u32 nr_allocated;		/* pages with a table frame */
	struct shadow_page *pages;
	u32 **rmap;			/* rmap heads, 1024 gfns per chunk */
	struct list_head hash[MMU_HASH_BUCKETS];
	struct list_head active, zapped, free_pages;
	u32 reload_gen;			/* bumped when a root is zapped */
	struct mmu_stats stats;
};

/* A root the hardware can use: one 4-level shadow page, or (PAE) four
 * level-2 shadow pages behind a PDPT page of the vCPU's. */
struct mmu_root {
	u64 cr3;
	union sp_role role;
	struct shadow_page *sp;
};

struct mmu_vcpu {
	struct mmu *mmu;
	struct walk_ctx ctx;		/* the guest's paging state */
	u64 pdptes[4];			/* PAE guests: the PDPTE registers */
	union sp_role base;		/* role of the root */
	bool hw_4level;			/* long-mode shadow, else PAE */
	paddr_t root_pa;		/* what the hardware's CR3 must hold */
	u64 *pae_root;			/* PDPT page, below 4 GiB */
	paddr_t pae_root_pa;
	struct shadow_page *pae_sps[4];
	struct mmu_root roots[MMU_ROOT_CACHE]; /* [0]: the current one */
	u32 reload_gen;
	bool need_flush;		/* set here: flush the TLB before entry */
	u64 spurious_gva;		/* implicit-SMAP detection, see mmu.c */
	u32 spurious_count;
};

enum mmu_fault_result {
	MMU_FAULT_FIXED,	/* re-enter: the access will succeed or fault again */
	MMU_FAULT_INJECT,	/* the guest's own #PF: inject error_code, CR2 = gva */
	MMU_FAULT_EMULATE,	/* emulate the instruction (tracked gfn, CR0.WP=0 write) */
	MMU_FAULT_MMIO,		/* gpa is not RAM: emulate it as a device access */
	MMU_FAULT_ERROR,	/* no architectural answer: stop the VM with `why` */
};

struct mmu_fault {
	u32 error_code;		/* MMU_FAULT_INJECT */
	u64 gpa;		/* MMU_FAULT_MMIO / EMULATE: where the access goes;
				 * ERROR: the entry outside RAM, if that was it */
	const char *why;	/* MMU_FAULT_ERROR */
};

/* pool_pages: the most shadow pages this VM may use (clamped to
 * [MMU_POOL_MIN, MMU_POOL_MAX]); their frames are allocated as needed.
 * False: out of host memory. */
bool mmu_init(struct mmu *m, u64 nr_gfns, u32 pool_pages, const struct walk_mem *gmem,
	      const struct mmu_ops *ops);
void mmu_destroy(struct mmu *m);

/* pae_root_pa: a zeroed frame below 4 GiB for the PAE shadow's PDPTEs. */
void mmu_vcpu_init(struct mmu_vcpu *mv, struct mmu *m, paddr_t pae_root_pa);
void mmu_vcpu_destroy(struct mmu_vcpu *mv);

/*
 * The guest's paging registers changed (any of CR0, CR3, CR4, EFER; for a
 * PAE guest also its PDPTE registers in ctx->pdptes, loaded by the caller
 * with walk_load_pdptes). Selects or builds the root; mv->root_pa is then
 * what the hardware's CR3 must hold. The caller flushes the vCPU's TLB as
 * the architecture says for the instruction (mmu_vcpu.need_flush is set
 * when the MMU itself needs it). False: no room for the root (every shadow
 * page is a root): stop the VM.
 */
bool mmu_load_context(struct mmu_vcpu *mv, const struct walk_ctx *ctx);

/* Before each entry: a root of this vCPU was zapped since it loaded it, so
 * load it again; the caller gives the hardware the new root_pa. Until then
 * mmu_page_fault() does nothing (MMU_FAULT_FIXED). Returns false like
 * mmu_load_context. */
bool mmu_reload_if_needed(struct mmu_vcpu *mv);

/*
 * A #PF exit at gva with the hardware's error code; rflags is the guest's
 * RFLAGS (AC decides SMAP for supervisor data accesses). Decides with the
 * guest's tables and fills *out.
 */
enum mmu_fault_result mmu_page_fault(struct mmu_vcpu *mv, u64 gva, u32 error_code, u64 rflags,
				     struct mmu_fault *out);

/* After an emulated write to guest RAM at gpa (already stored): tell page
 * tracking, which zaps the shadow entries the write changed. */
void mmu_guest_wrote(struct mmu *m, u64 gpa, const void *old, const void *new_, unsigned len);

/* Stops shadowing gfn (zaps every shadow page of it): the guest's write to
 * it could not be emulated, so let it run natively (KVM's unprotect). True
 * when that made gfn writable again; false when it was not shadowed (the
 * write was refused for another reason) or is a vCPU's root table, which
 * cannot stop being shadowed. */
bool mmu_unprotect_gfn(struct mmu *m, u64 gfn);

/* Drops every shadow page (roots are reloaded by their vCPUs): the guest
 * may have changed its tables without the MMU seeing it. */
void mmu_zap_all(struct mmu *m);

/* The leaf spte that maps gva for the vCPU's current root, 0 if none. */
u64 mmu_lookup_spte(struct mmu_vcpu *mv, u64 gva);

/* Consistency checks of the whole cache (test builds): lists, counts,
 * rmap and parent links, write protection of tracked gfns. Returns NULL or
 * what is wrong. */
const char *mmu_audit(struct mmu *m);

#endif
