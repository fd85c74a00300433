/*
 * The shadow MMU on a simulated CPU. The "hardware" walks the shadow tables
 * with the architectural walker (shadow/walk.c, itself checked against an
 * independent reference in test_walk.c) under the registers Umbra gives
 * the real CPU (CR0.WP=1, PAE or 4-level, the guest's SMEP/SMAP/NXE), with
 * a small TLB that is flushed only when the MMU or the guest asks for it.
 * Every #PF goes to mmu_page_fault() as the exit handler would send it.
 * Each access's outcome (allowed or the #PF error code, the physical page,
 * the guest's A/D bits afterwards) is compared with a walk of the guest's
 * own tables on a copy-on-write view of guest memory.
 */
#include "tests/unit/unit.h"
#include "kernel/log.h"
#include "mm/frame.h"
#include "mm/phys.h"
#include "shadow/mmu.h"
#include "shadow/mmu_priv.h"
#include "shadow/walk_priv.h"

#define G_GFNS 8192u /* 32 MiB of guest RAM */
#define HOST_RAM (192u << 20)

static u64 p2m[G_GFNS];
static struct mmu mmu;
static struct mmu_vcpu mv;
static struct walk_ctx gctx; /* the guest's registers */
static u64 gpdptes[4];
static unsigned long flushes;
/* The hardware's CR3: set only where virt/shadow_paging.c sets it (a guest
 * register load, the entry path's root reload), not read from the MMU. */
static u64 hw_cr3;

/* --- guest memory ------------------------------------------------------------ */

static paddr_t g_hpa(void *ctx, u64 gfn)
{
	(void)ctx;
	if (gfn >= G_GFNS)
		return 0;
	if (!p2m[gfn])
		p2m[gfn] = frame_alloc_zeroed(0);
	return p2m[gfn] == FRAME_NONE ? 0 : p2m[gfn];
}

static void *gptr(u64 gpa)
{
	return (char *)phys_to_virt(g_hpa(NULL, gpa >> 12)) + (gpa & 4095);
}

static bool g_read(void *ctx, u64 gpa, u64 *val, unsigned size)
{
	(void)ctx;
	if (gpa >= (u64)G_GFNS << 12)
		return false;
	*val = size == 4 ? *(u32 *)gptr(gpa) : *(u64 *)gptr(gpa);
	return true;
}

static bool g_cmpxchg(void *ctx, u64 gpa, u64 old, u64 new_, unsigned size)
{
	(void)ctx;
	if (gpa >= (u64)G_GFNS << 12)
		return false;
	if (size == 4) {
		u32 o = (u32)old;
		return __atomic_compare_exchange_n((u32 *)gptr(gpa), &o, (u32)new_, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	return __atomic_compare_exchange_n((u64 *)gptr(gpa), &old, new_, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static const struct walk_mem gmem = { g_read, g_cmpxchg, NULL };

/* --- the reference: the guest walk on a copy-on-write view -------------------- */

struct overlay {
	int n;
	u64 gpa[16], val[16];
};
static struct overlay ov;

static bool o_read(void *ctx, u64 gpa, u64 *val, unsigned size)
{
	for (int i = ov.n - 1; i >= 0; i--)
		if (ov.gpa[i] == gpa) {
			*val = size == 4 ? (u32)ov.val[i] : ov.val[i];
			return true;
		}
	return g_read(ctx, gpa, val, size);
}

static bool o_cmpxchg(void *ctx, u64 gpa, u64 old, u64 new_, unsigned size)
{
	u64 cur;
	if (!o_read(ctx, gpa, &cur, size))
		return false;
	if (cur != old)
		return false;
	if (ov.n < 16) {
		ov.gpa[ov.n] = gpa;
		ov.val[ov.n++] = new_;
	}
	return true;
}

static const struct walk_mem omem = { o_read, o_cmpxchg, NULL };

/* --- the simulated CPU --------------------------------------------------------- */

static bool h_read(void *ctx, u64 pa, u64 *val, unsigned size)
{
	(void)ctx;
	*val = size == 4 ? *(u32 *)phys_to_virt(pa) : *(u64 *)phys_to_virt(pa);
	return true;
}

static bool h_cmpxchg(void *ctx, u64 pa, u64 old, u64 new_, unsigned size)
{
	(void)ctx;
	if (size == 4) {
		u32 o = (u32)old;
		return __atomic_compare_exchange_n((u32 *)phys_to_virt(pa), &o, (u32)new_, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	return __atomic_compare_exchange_n((u64 *)phys_to_virt(pa), &old, new_, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static const struct walk_mem hmem = { h_read, h_cmpxchg, NULL };

#define TLB_SIZE 64
struct tlb_entry {
	bool valid;
	u64 vpn, pfn;
	bool w, u, x;
};
static struct tlb_entry tlb[TLB_SIZE];

static void tlb_flush(void) { memset(tlb, 0, sizeof(tlb)); }

static void remote_flush(void *ctx)
{
	(void)ctx;
	flushes++;
	tlb_flush();
}

static const struct mmu_ops ops = { g_hpa, remote_flush, NULL };

/* The registers the hardware runs with (virt/shadow_paging.c). */
static struct walk_ctx hw_ctx(void)
{
	bool paged = gctx.cr0 & CR0_PG;
	struct walk_ctx h = { .cr0 = CR0_PG | CR0_WP | 1, .cr3 = hw_cr3, .cr4 = CR4_PAE,
			      .efer = EFER_NXE, .rflags = gctx.rflags,
			      .maxphyaddr = 52 };
	if (paged)
		h.cr4 |= gctx.cr4 & (CR4_SMEP | CR4_SMAP);
	if (mv.hw_4level)
		h.efer |= EFER_LMA | BIT(8);
	return h;
}

enum outcome { OUT_OK, OUT_PF, OUT_MMIO, OUT_ERROR, OUT_STUCK };

struct result {
	enum outcome out;
	u32 error_code;
	u64 gpa; /* OUT_OK: the guest page reached */
};

static u64 hpa_to_gpa(u64 hpa)
{
	for (u64 g = 0; g < G_GFNS; g++)
		if (p2m[g] == (hpa & ~4095ull))
			return (g << 12) | (hpa & 4095);
	return ~0ull;
}

/* One guest access through the simulated hardware: TLB, else a walk of the
 * shadow tables; a fault exits to the MMU and the access is retried. */
static struct result sim_access(u64 gva, u32 acc, u64 store, unsigned size)
{
	for (int tries = 0; tries < 12; tries++) {
		if (mv.need_flush) {
			tlb_flush();
			mv.need_flush = false;
		}
		if (!mmu_reload_if_needed(&mv))
			return (struct result){ OUT_ERROR, 0, 0 };
		hw_cr3 = mv.root_pa;
		bool implicit = acc & WALK_IMPLICIT_SUPERVISOR;
		bool user = (acc & WALK_USER) && !implicit;
		bool smap_ok = !implicit && (gctx.rflags & RFLAGS_AC);
		u64 hpa = 0;
		u32 ec = 0;
		struct tlb_entry *t = &tlb[(gva >> 12) % TLB_SIZE];
		bool wp = true, paged = gctx.cr0 & CR0_PG;
		bool smep = paged && (gctx.cr4 & CR4_SMEP), smap = paged && (gctx.cr4 & CR4_SMAP);
		if (t->valid && t->vpn == gva >> 12) {
			/* SDM §4.6 on the cached rights (CR0.WP=1 in hardware). */
			bool ok = true;
			if (acc & WALK_FETCH)
				ok = t->x && !(user ? !t->u : (smep && t->u));
			else if (user)
				ok = t->u && (!(acc & WALK_WRITE) || t->w);
			else
				ok = !(smap && t->u && !smap_ok) && (!(acc & WALK_WRITE) || t->w || !wp);
			if (ok) {
				hpa = (t->pfn << 12) | (gva & 4095);
			} else {
				t->valid = false;
				ec = PFERR_PRESENT | (acc & (WALK_WRITE | WALK_FETCH)) | (user ? PFERR_USER : 0);
			}
		}
		if (!hpa && !ec) {
			struct walk_ctx h = hw_ctx();
			u64 pdptes[4];
			if (!mv.hw_4level) {
				if (walk_load_pdptes(&hmem, &h, pdptes) != WALK_OK)
					return (struct result){ OUT_ERROR, 0, 0 }; /* bad PDPTE from the MMU */
				h.pdptes = pdptes;
			}
			struct walk_result w;
			enum walk_status st = guest_walk(&hmem, &h, gva, acc, &w);
			if (st == WALK_OK) {
				hpa = w.gpa;
				*t = (struct tlb_entry){ true, gva >> 12, w.gpa >> 12, w.writable, w.user,
							 w.executable };
			} else if (st == WALK_PAGE_FAULT) {
				ec = w.error_code;
			} else {
				return (struct result){ OUT_ERROR, st, 0 };
			}
		}
		if (hpa) {
			if ((acc & WALK_WRITE) && size)
				memcpy(phys_to_virt(hpa), &store, size);
			return (struct result){ OUT_OK, 0, hpa_to_gpa(hpa) };
		}
		struct mmu_fault f;
		switch (mmu_page_fault(&mv, gva, ec, gctx.rflags, &f)) {
		case MMU_FAULT_FIXED:
			break;
		case MMU_FAULT_INJECT:
			return (struct result){ OUT_PF, f.error_code, 0 };
		case MMU_FAULT_MMIO:
			return (struct result){ OUT_MMIO, 0, f.gpa };
		case MMU_FAULT_ERROR:
			return (struct result){ OUT_ERROR, 0, 0 };
		case MMU_FAULT_EMULATE: {
			/* What the instruction emulator does: translate with the
			 * guest's tables, then write through page tracking. */
			struct walk_result w;
			struct walk_ctx c = gctx;
			enum walk_status st = guest_walk(&gmem, &c, gva, acc, &w);
			if (st == WALK_PAGE_FAULT)
				return (struct result){ OUT_PF, w.error_code, 0 };
			if (st != WALK_OK)
				return (struct result){ OUT_ERROR, 0, 0 };
			if ((acc & WALK_WRITE) && size) {
				u64 old = 0;
				memcpy(&old, gptr(w.gpa), size);
				memcpy(gptr(w.gpa), &store, size);
				mmu_guest_wrote(&mmu, w.gpa, &old, &store, size);
			}
			return (struct result){ OUT_OK, 0, w.gpa };
		}
		}
	}
	return (struct result){ OUT_STUCK, 0, 0 };
}

/* The guest's INVLPG / MOV CR3: Umbra flushes the hardware TLB. */
static void guest_flush(void) { tlb_flush(); }

/* --- comparing with the reference ------------------------------------------ */

static unsigned long n_access, n_mismatch;

static const char *acc_name(u32 acc)
{
	static char b[32];
	snprintf(b, sizeof(b), "%s%s%s", acc & WALK_IMPLICIT_SUPERVISOR ? "implicit-" :
					 acc & WALK_USER ? "user-" : "sup-",
		 acc & WALK_FETCH ? "fetch" : acc & WALK_WRITE ? "write" : "read",
		 "");
	return b;
}

/* One access, checked against the reference. */
static bool check_access(u64 gva, u32 acc, const char *what)
{
	struct walk_result ref;
	ov.n = 0;
	enum walk_status st = guest_walk(&omem, &gctx, gva, acc, &ref);
	struct result r = sim_access(gva, acc, 0, 0);
	n_access++;
	bool ok;
	if (st == WALK_OK)
		ok = (r.out == OUT_OK && r.gpa == ref.gpa) || (r.out == OUT_MMIO && r.gpa == ref.gpa);
	else if (st == WALK_PAGE_FAULT)
		ok = (r.out == OUT_PF && r.error_code == ref.error_code) ||
		     /* Known limit: the hardware's error code cannot say an access
		      * was implicit; an spte tells it by faulting again (see
		      * mmu_page_fault), but MMIO has no spte, so an implicit
		      * access SMAP refuses reaches the device emulation. */
		     (r.out == OUT_MMIO && (acc & WALK_IMPLICIT_SUPERVISOR) && (gctx.rflags & RFLAGS_AC) &&
		      (ref.error_code & PFERR_PRESENT) && ref.gpa >= (u64)G_GFNS << 12);
	else
		ok = r.out == OUT_ERROR;
	/* The guest's A/D bits: as the reference walk left them. */
	for (int l = ref.nlevels; ok && l >= MAX(ref.level, 1); l--) {
		if (l == 3 && (gctx.cr4 & CR4_PAE) && !(gctx.efer & EFER_LMA))
			continue; /* PDPTE register */
		u64 want, got;
		unsigned size = (gctx.cr4 & CR4_PAE) ? 8 : 4;
		o_read(NULL, ref.pte_gpa[l - 1], &want, size);
		g_read(NULL, ref.pte_gpa[l - 1], &got, size);
		if (want != got) {
			ok = false;
			if (n_mismatch < 8)
				fprintf(stderr, "  level %d entry %#llx, reference %#llx\n", l,
					(unsigned long long)got, (unsigned long long)want);
		}
	}
	if (!ok && n_mismatch++ < 8)
		fprintf(stderr,
			"mismatch %s: gva %#llx %s cr0 %#llx cr4 %#llx efer %#llx rflags %#llx: "
			"reference status %d ec %#x gpa %#llx; shadow outcome %d ec %#x gpa %#llx\n",
			what, (unsigned long long)gva, acc_name(acc), (unsigned long long)gctx.cr0,
			(unsigned long long)gctx.cr4, (unsigned long long)gctx.efer,
			(unsigned long long)gctx.rflags, st, ref.error_code,
			(unsigned long long)ref.gpa, r.out, r.error_code, (unsigned long long)r.gpa);
	return ok;
}

/* --- setup ------------------------------------------------------------------ */

static u64 next_gfn;

static u64 alloc_gfn(void)
{
	ASSERT(next_gfn < G_GFNS);
	memset(gptr(next_gfn << 12), 0, 4096);
	return next_gfn++;
}

static void reset_guest(void)
{
	for (u64 g = 0; g < G_GFNS; g++)
		if (p2m[g])
			memset(gptr(g << 12), 0, 4096);
	next_gfn = 1;
}

static void mmu_start(u32 pool)
{
	mmu_destroy(&mmu);
	ASSERT(mmu_init(&mmu, G_GFNS, pool, &gmem, &ops));
	static paddr_t pae_root;
	if (!pae_root)
		pae_root = frame_alloc_zeroed(0);
	mmu_vcpu_init(&mv, &mmu, pae_root);
	tlb_flush();
}

static void mmu_stop(void)
{
	mmu_vcpu_destroy(&mv);
	const char *why = mmu_audit(&mmu);
	if (why)
		fprintf(stderr, "audit: %s\n", why);
	CHECK(!why);
}

/* The guest loads its registers (MOV CR0/CR3/CR4, WRMSR EFER). */
static bool guest_load(u64 cr0, u64 cr3, u64 cr4, u64 efer)
{
	gctx = (struct walk_ctx){ cr0, cr3, cr4, efer, gctx.rflags, 40, WALK_FEAT_1G_PAGES, NULL };
	if ((cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA)) {
		if (walk_load_pdptes(&gmem, &gctx, gpdptes) != WALK_OK)
			return false;
		gctx.pdptes = gpdptes;
	}
	bool ok = mmu_load_context(&mv, &gctx);
	hw_cr3 = mv.root_pa;
	guest_flush();
	return ok;
}

/* The CR/flag configurations of the permission matrix: WP x SMEP x NXE x
 * (SMAP off | SMAP with AC=0 | SMAP with AC=1). */
struct config {
	bool wp, smep, nxe;
	int smap; /* 0 off, 1 on AC=0, 2 on AC=1 */
};

static struct config config_of(int i)
{
	return (struct config){ i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) % 3 };
}
#define NR_CONFIGS 24

static const u32 accesses[] = {
	0, WALK_WRITE, WALK_FETCH, WALK_USER, WALK_USER | WALK_WRITE, WALK_USER | WALK_FETCH,
	WALK_IMPLICIT_SUPERVISOR, WALK_IMPLICIT_SUPERVISOR | WALK_WRITE,
};

static u64 cfg_cr0(struct config c) { return CR0_PG | 1 | (c.wp ? CR0_WP : 0); }
static u64 cfg_cr4(struct config c, u64 base)
{
	return base | (c.smep ? CR4_SMEP : 0) | (c.smap ? CR4_SMAP : 0);
}
static u64 cfg_efer(struct config c, u64 base) { return base | (c.nxe ? EFER_NXE : 0); }

/* Entry bits from a 4-bit combination: P, R/W, U/S, XD. */
static u64 bits4(unsigned k, bool xd_ok)
{
	return ((k & 1) ? PT_P : 0) | ((k & 2) ? PT_RW : 0) | ((k & 4) ? PT_US : 0) |
	       ((k & 8) && xd_ok ? PT_XD : 0);
}

static void run_matrix(const char *fmt, const u64 *gvas, unsigned n, struct config c)
{
	gctx.rflags = c.smap == 2 ? RFLAGS_AC : 0;
	for (unsigned i = 0; i < n; i++)
		for (unsigned a = 0; a < ARRAY_SIZE(accesses); a++)
			if (!check_access(gvas[i], accesses[a], fmt))
				unit_current_failed = 1;
}

/* --- 4-level: every combination of P/RW/US/XD at all four levels ------------- */

static u64 data_gfn;
static u64 *gvas;

/* Builds the tables: PML4 entry c4 -> its own PDPT, entry c3 -> its own PD,
 * entry c2 -> its own PT, entry c1 -> the data page, with the combinations'
 * bits; plus a 2 MiB and a 1 GiB page per combination. Returns the count. */
static unsigned build_4level(u64 *cr3)
{
	reset_guest();
	u64 pml4 = alloc_gfn();
	data_gfn = alloc_gfn();
	unsigned n = 0;
	for (unsigned c4 = 0; c4 < 16; c4++) {
		u64 pdpt = alloc_gfn();
		*(u64 *)gptr((pml4 << 12) + 8 * c4) = (pdpt << 12) | bits4(c4, true);
		for (unsigned c3 = 0; c3 < 16; c3++) {
			u64 pd = alloc_gfn();
			*(u64 *)gptr((pdpt << 12) + 8 * c3) = (pd << 12) | bits4(c3, true);
			for (unsigned c2 = 0; c2 < 16; c2++) {
				u64 pt = alloc_gfn();
				*(u64 *)gptr((pd << 12) + 8 * c2) = (pt << 12) | bits4(c2, true);
				for (unsigned c1 = 0; c1 < 16; c1++) {
					*(u64 *)gptr((pt << 12) + 8 * c1) = (data_gfn << 12) | bits4(c1, true);
					gvas[n++] = ((u64)c4 << 39) | ((u64)c3 << 30) | ((u64)c2 << 21) |
						    ((u64)c1 << 12) | 0x123;
				}
			}
		}
	}
	/* Large pages: PML4 slot 16 (all rights) -> PDPT whose entries 0-15
	 * are 1 GiB pages and entry 16 a PD of 2 MiB pages. */
	u64 pdpt = alloc_gfn(), pd = alloc_gfn();
	*(u64 *)gptr((pml4 << 12) + 8 * 16) = (pdpt << 12) | PT_P | PT_RW | PT_US;
	*(u64 *)gptr((pdpt << 12) + 8 * 16) = (pd << 12) | PT_P | PT_RW | PT_US;
	for (unsigned k = 0; k < 16; k++) {
		*(u64 *)gptr((pdpt << 12) + 8 * k) = bits4(k, true) | PT_PS; /* 1 GiB at 0 */
		*(u64 *)gptr((pd << 12) + 8 * k) = bits4(k, true) | PT_PS | (2ull << 20);
		gvas[n++] = (16ull << 39) | ((u64)k << 30) | 0x5000;
		gvas[n++] = (16ull << 39) | (16ull << 30) | ((u64)k << 21) | 0x7000;
	}
	*cr3 = pml4 << 12;
	return n;
}

TEST(permission_matrix_4level)
{
	u64 cr3;
	unsigned n = build_4level(&cr3);
	unsigned long before = n_mismatch;
	for (int i = 0; i < NR_CONFIGS; i++) {
		struct config c = config_of(i);
		mmu_start(4608);
		CHECK(guest_load(cfg_cr0(c), cr3, cfg_cr4(c, CR4_PAE), cfg_efer(c, EFER_LMA | BIT(8))));
		run_matrix("4-level", gvas, n, c);
		mmu_stop();
		/* Fresh A/D bits for the next configuration. */
		n = build_4level(&cr3);
	}
	CHECK_EQ(n_mismatch, before);
}

/* --- PAE: PDPTE P x PDE (P/RW/US/XD, PS) x PTE (P/RW/US/XD) -------------------- */

static unsigned build_pae(u64 *cr3)
{
	reset_guest();
	u64 pdpt = alloc_gfn(); /* 32-byte aligned: the page start */
	data_gfn = alloc_gfn();
	unsigned n = 0;
	u64 pd = alloc_gfn();
	((u64 *)gptr(pdpt << 12))[0] = (pd << 12) | PT_P;
	((u64 *)gptr(pdpt << 12))[1] = (pd << 12); /* not present */
	for (unsigned c2 = 0; c2 < 32; c2++) {
		bool ps = c2 & 16;
		u64 pt = alloc_gfn();
		((u64 *)gptr(pd << 12))[c2] = ps ? (bits4(c2 & 15, true) | PT_PS | (4ull << 20))
						 : ((pt << 12) | bits4(c2 & 15, true));
		for (unsigned c1 = 0; c1 < 16; c1++) {
			((u64 *)gptr(pt << 12))[c1] = (data_gfn << 12) | bits4(c1, true);
			for (unsigned c3 = 0; c3 < 2; c3++)
				gvas[n++] = ((u64)c3 << 30) | ((u64)c2 << 21) | ((u64)c1 << 12) | 0x10;
		}
	}
	*cr3 = pdpt << 12;
	return n;
}

TEST(permission_matrix_pae)
{
	u64 cr3;
	unsigned long before = n_mismatch;
	for (int i = 0; i < NR_CONFIGS; i++) {
		struct config c = config_of(i);
		unsigned n = build_pae(&cr3);
		mmu_start(256);
		CHECK(guest_load(cfg_cr0(c), cr3, cfg_cr4(c, CR4_PAE), cfg_efer(c, 0)));
		run_matrix("PAE", gvas, n, c);
		mmu_stop();
	}
	CHECK_EQ(n_mismatch, before);
}

/* --- 32-bit: PDE (P/RW/US, PS) x PTE (P/RW/US), CR4.PSE on and off ------------ */

static unsigned build_32(u64 *cr3)
{
	reset_guest();
	u64 pd = alloc_gfn();
	data_gfn = alloc_gfn();
	unsigned n = 0;
	for (unsigned c2 = 0; c2 < 16; c2++) {
		u64 pt = alloc_gfn();
		u32 pde = (u32)bits4(c2 & 7, false);
		((u32 *)gptr(pd << 12))[c2 * 64] =
			(c2 & 8) ? (pde | (u32)PT_PS | (8u << 20)) : ((u32)(pt << 12) | pde);
		for (unsigned c1 = 0; c1 < 8; c1++) {
			((u32 *)gptr(pt << 12))[c1 * 128] = (u32)(data_gfn << 12) | (u32)bits4(c1, false);
			gvas[n++] = ((u64)(c2 * 64) << 22) | ((u64)(c1 * 128) << 12) | 0x44;
		}
	}
	*cr3 = pd << 12;
	return n;
}

TEST(permission_matrix_32bit)
{
	u64 cr3;
	unsigned long before = n_mismatch;
	for (int i = 0; i < NR_CONFIGS * 2; i++) {
		struct config c = config_of(i % NR_CONFIGS);
		c.nxe = false;
		unsigned n = build_32(&cr3);
		mmu_start(64);
		CHECK(guest_load(cfg_cr0(c), cr3, cfg_cr4(c, i >= NR_CONFIGS ? CR4_PSE : 0), 0));
		run_matrix("32-bit", gvas, n, c);
		mmu_stop();
	}
	CHECK_EQ(n_mismatch, before);
}

/* --- paging off, MMIO, tables outside RAM ------------------------------------ */

TEST(paging_off_and_mmio)
{
	reset_guest();
	mmu_start(64);
	gctx.rflags = 0;
	CHECK(guest_load(1, 0, 0, 0));
	u64 a[] = { 0x1000, 0x5123, (u64)(G_GFNS - 1) << 12, 0xfee00000, (u64)G_GFNS << 12 };
	for (unsigned i = 0; i < ARRAY_SIZE(a); i++)
		for (unsigned k = 0; k < ARRAY_SIZE(accesses); k++)
			CHECK(check_access(a[i], accesses[k], "paging off"));
	struct result r = sim_access(0xfee00030, 0, 0, 0);
	CHECK_EQ(r.out, OUT_MMIO);
	CHECK_EQ(r.gpa, 0xfee00030);
	/* A write lands in the right guest page. */
	r = sim_access(0x7005, WALK_WRITE, 0xab, 1);
	CHECK_EQ(r.out, OUT_OK);
	CHECK_EQ(*(u8 *)gptr(0x7005), 0xab);
	mmu_stop();
	/* 4-level tables whose PDPT lies beyond RAM: a VM error, not a #PF. */
	reset_guest();
	mmu_start(64);
	u64 pml4 = alloc_gfn();
	*(u64 *)gptr(pml4 << 12) = ((u64)(G_GFNS + 5) << 12) | PT_P | PT_RW;
	CHECK(guest_load(CR0_PG | 1, pml4 << 12, CR4_PAE, EFER_LMA | BIT(8)));
	CHECK_EQ(sim_access(0x1000, 0, 0, 0).out, OUT_ERROR);
	mmu_stop();
}

/* --- guest edits, through the guest's own writes ------------------------------ */

/* The gpa of the level-l entry the guest's walk of gva uses; false when the
 * walk does not get that far. */
static bool walked_entry(u64 gva, int l, u64 *gpa)
{
	struct walk_result w;
	struct walk_ctx c = gctx;
	guest_walk(&gmem, &c, gva, 0, &w);
	if (w.status == WALK_BAD_GPA || w.nlevels == 0 || l < w.level || l > w.nlevels)
		return false;
	*gpa = w.pte_gpa[l - 1];
	return true;
}

/* The guest stores an entry through its linear map of RAM (a store the
 * simulated CPU makes: emulated once the table is shadowed), then flushes
 * its TLB as it must after editing an entry. */
static void guest_edit(u64 lin_base, u64 gpa, u64 val, unsigned size)
{
	CHECK_EQ(sim_access(lin_base + gpa, WALK_WRITE, val, size).out, OUT_OK);
	u64 now = 0;
	memcpy(&now, gptr(gpa), size);
	CHECK_EQ(now, val);
	guest_flush();
}

/* One of the accesses, picked by r, checked against the reference. */
static void check_some_access(u64 gva, u64 r, const char *what)
{
	if (!check_access(gva, accesses[r % ARRAY_SIZE(accesses)], what))
		unit_current_failed = 1;
}

/*
 * A 4-level guest with a linear map of its RAM (2 MiB pages at 1 GiB) edits
 * its page tables at random by writing them through that map -- stores the
 * simulated CPU makes, which must fault and be emulated once the tables are
 * shadowed -- then flushes its TLB as it must (INVLPG), and checks random
 * accesses against the reference. Also switches CR3 among several address
 * spaces sharing tables, and the tables include self-references.
 */
TEST(random_guest_edits)
{
	reset_guest();
	mmu_start(96);
	u64 seed = 0x5eed;
	enum { NSPACES = 4, NTABLES = 48 };
	u64 tables[NTABLES], roots[NSPACES];
	for (int i = 0; i < NTABLES; i++)
		tables[i] = alloc_gfn();
	for (int i = 0; i < NSPACES; i++)
		roots[i] = tables[i];
	u64 linear_pd = alloc_gfn(), linear_pdpt = alloc_gfn();
	for (u64 i = 0; i < G_GFNS / 512; i++)
		((u64 *)gptr(linear_pd << 12))[i] = (i << 21) | PT_P | PT_RW | PT_PS;
	((u64 *)gptr(linear_pdpt << 12))[1] = (linear_pd << 12) | PT_P | PT_RW;
	for (int i = 0; i < NSPACES; i++)
		((u64 *)gptr(roots[i] << 12))[511] = (linear_pdpt << 12) | PT_P | PT_RW;
	/* PML4 slot 511, PDPT slot 1: canonical with bits 63:48 set. */
	const u64 lin_base = 0xffff000000000000ull | (511ull << 39) | (1ull << 30);
	/* Random initial entries: pointers to other tables or data pages. */
	for (int i = 0; i < NTABLES; i++)
		for (int j = 0; j < 8; j++) {
			u64 r = unit_rng(&seed);
			u64 target = (r & 15) ? tables[r % NTABLES] : (64 + r % 512);
			((u64 *)gptr(tables[i] << 12))[j] = (target << 12) | (r >> 50 & 0x66) | PT_P | PT_RW;
		}
	int space = 0;
	gctx.rflags = 0;
	CHECK(guest_load(CR0_PG | CR0_WP | 1, roots[0] << 12, CR4_PAE | CR4_SMEP,
			 EFER_LMA | BIT(8) | EFER_NXE));
	unsigned long before = n_mismatch;
	for (int it = 0; it < 30000; it++) {
		u64 r = unit_rng(&seed);
		switch (r % 8) {
		case 0:
		case 2: { /* the guest edits an entry through its linear map */
			u64 gva = ((r >> 8) % 8) << 39 | ((r >> 12) % 8) << 30 |
				  ((r >> 16) % 8) << 21 | ((r >> 20) % 8) << 12;
			/* r % 8 == 2: an entry the walk of gva uses, so the shadow
			 * must follow at once; else any entry of any table. */
			u64 at = (tables[(r >> 8) % NTABLES] << 12) + 8 * ((r >> 16) % 8);
			if (r % 8 == 2 && !walked_entry(gva, 1 + (int)((r >> 24) % 4), &at))
				break;
			u64 target = (r & (3ull << 30)) ? tables[(r >> 32) % NTABLES] : (64 + (r >> 32) % 512);
			u64 val = (target << 12) | ((r >> 40) & 0xe7) | ((r & BIT(31)) ? PT_XD : 0);
			if (r & BIT(29))
				val |= PT_P;
			guest_edit(lin_base, at, val, 8);
			if (r % 8 == 2)
				check_some_access(gva, r >> 48, "edit");
			break;
		}
		case 1: /* switch address space */
			space = (r >> 8) % NSPACES;
			CHECK(guest_load(gctx.cr0, roots[space] << 12, gctx.cr4, gctx.efer));
			break;
		default:
			check_some_access(((r >> 8) % 8) << 39 | ((r >> 12) % 8) << 30 |
					  ((r >> 16) % 8) << 21 | ((r >> 20) % 8) << 12, r >> 32, "edits");
		}
		if (it % 5000 == 0) {
			const char *why = mmu_audit(&mmu);
			if (why)
				fprintf(stderr, "audit at %d: %s\n", it, why);
			CHECK(!why);
		}
	}
	CHECK_EQ(n_mismatch, before);
	CHECK(mmu.stats.pt_writes > 0);
	CHECK(mmu.stats.roots_reused > 0);
	mmu_stop();
}

/*
 * The same for a 32-bit guest: its 1024-entry tables are shadowed by two
 * (PT) or four (PD) shadow tables each (role.quadrant), so its edits must
 * reach the right quadrant and, for a PDE, both 2 MiB halves of the 4 MiB
 * it maps. The linear map is 4 MiB pages at 0xfe000000.
 */
TEST(random_guest_edits_32bit)
{
	reset_guest();
	mmu_start(96);
	u64 seed = 0x3232;
	enum { NSPACES = 3, NTABLES = 40 };
	static const u32 pd_idx[8] = { 0, 1, 255, 256, 511, 512, 767, 768 };
	static const u32 pt_idx[8] = { 0, 1, 2, 511, 512, 513, 1022, 1023 };
	u64 tables[NTABLES];
	for (int i = 0; i < NTABLES; i++)
		tables[i] = alloc_gfn();
	const u64 lin_base = 0xfe000000u;
	for (int i = 0; i < NTABLES; i++) {
		u32 *t = gptr(tables[i] << 12);
		for (int j = 0; j < 1024; j++) {
			u64 r = unit_rng(&seed);
			u64 target = (r & 15) ? tables[r % NTABLES] : (64 + r % 512);
			t[j] = (u32)(target << 12) | (u32)((r >> 50) & 0x66) | (u32)(PT_P | PT_RW | PT_US);
		}
		if (i < NSPACES)
			for (u32 k = 0; k < 8; k++) /* PDEs 1016-1023: 4 MiB pages of all RAM */
				t[1016 + k] = (k << 22) | (u32)(PT_P | PT_RW | PT_PS);
	}
	gctx.rflags = 0;
	CHECK(guest_load(CR0_PG | CR0_WP | 1, tables[0] << 12, CR4_PSE | CR4_SMEP, 0));
	unsigned long before = n_mismatch;
	for (int it = 0; it < 30000; it++) {
		u64 r = unit_rng(&seed);
		u64 gva = ((u64)pd_idx[(r >> 8) % 8] << 22) | ((u64)pt_idx[(r >> 12) % 8] << 12);
		switch (r % 8) {
		case 0: /* switch address space */
			CHECK(guest_load(gctx.cr0, tables[(r >> 8) % NSPACES] << 12, gctx.cr4, 0));
			break;
		case 1:
		case 2: { /* edit an entry the walk of gva uses, through the linear map */
			u64 at;
			int l = 1 + (int)((r >> 24) % 2);
			if (!walked_entry(gva, l, &at) || (l == 2 && (at & 4095) >= 1016 * 4))
				break; /* keep the linear map (PDEs 1016-1023 of the roots) */
			u64 target = (r & (3ull << 30)) ? tables[(r >> 32) % NTABLES] : (64 + (r >> 32) % 512);
			u32 val = (u32)(target << 12) | (u32)((r >> 40) & 0xe7);
			if (r & BIT(29))
				val |= PT_P;
			if (val & PT_PS)
				val &= ~0x3fe000u; /* a valid 4 MiB frame */
			guest_edit(lin_base, at, val, 4);
			check_some_access(gva, r >> 48, "32-bit edit");
			break;
		}
		default:
			check_some_access(gva | ((r >> 40) & 0xfff), r >> 32, "32-bit edits");
		}
	}
	CHECK_EQ(n_mismatch, before);
	CHECK(mmu.stats.pt_writes > 100);
	mmu_stop();
}

/*
 * The same for a PAE guest: PDEs and PTEs edited through a linear map
 * (2 MiB pages behind PDPTE 3, at 0xc0000000), and PDPTEs too, which the CPU
 * reads only when CR3 is loaded (SDM §4.4.1): after such an edit the
 * reference and the shadow both keep the old PDPTE until the guest reloads
 * CR3, then both take the new one.
 */
TEST(random_guest_edits_pae)
{
	reset_guest();
	mmu_start(96);
	u64 seed = 0x9ae0;
	enum { NSPACES = 3, NTABLES = 40 };
	static const u32 pd_idx[8] = { 0, 1, 2, 255, 256, 257, 510, 511 };
	static const u32 pt_idx[8] = { 0, 1, 2, 255, 256, 509, 510, 511 };
	u64 tables[NTABLES];
	for (int i = 0; i < NTABLES; i++)
		tables[i] = alloc_gfn();
	u64 linear_pd = alloc_gfn();
	for (u64 i = 0; i < G_GFNS / 512; i++)
		((u64 *)gptr(linear_pd << 12))[i] = (i << 21) | PT_P | PT_RW | PT_PS;
	const u64 lin_base = 0xc0000000u;
	for (int i = NSPACES; i < NTABLES; i++)
		for (int j = 0; j < 512; j++) {
			u64 r = unit_rng(&seed);
			u64 target = (r & 15) ? tables[NSPACES + r % (NTABLES - NSPACES)] : (64 + r % 512);
			((u64 *)gptr(tables[i] << 12))[j] = (target << 12) | ((r >> 50) & 0x66) |
							    PT_P | PT_RW | PT_US | ((r & BIT(40)) ? PT_XD : 0);
		}
	for (int i = 0; i < NSPACES; i++) {
		u64 *pdpt = gptr(tables[i] << 12);
		for (int j = 0; j < 3; j++)
			pdpt[j] = (tables[NSPACES + (unit_rng(&seed) % (NTABLES - NSPACES))] << 12) | PT_P;
		pdpt[3] = (linear_pd << 12) | PT_P;
	}
	gctx.rflags = 0;
	CHECK(guest_load(CR0_PG | CR0_WP | 1, tables[0] << 12, CR4_PAE | CR4_SMEP, EFER_NXE));
	unsigned long before = n_mismatch;
	for (int it = 0; it < 30000; it++) {
		u64 r = unit_rng(&seed);
		u64 gva = ((r >> 8) % 3) << 30 | ((u64)pd_idx[(r >> 12) % 8] << 21) |
			  ((u64)pt_idx[(r >> 16) % 8] << 12);
		switch (r % 8) {
		case 0: /* MOV CR3: another space, or the same one reloaded */
			CHECK(guest_load(gctx.cr0, tables[(r >> 8) % NSPACES] << 12, gctx.cr4, gctx.efer));
			break;
		case 1: { /* a PDPTE of the current space (takes effect at the next load) */
			u64 pdpte = (tables[NSPACES + (r >> 20) % (NTABLES - NSPACES)] << 12) | PT_P;
			u64 at = (gctx.cr3 & ~4095ull) + 8 * ((r >> 8) % 3);
			CHECK_EQ(sim_access(lin_base + at, WALK_WRITE, pdpte, 8).out, OUT_OK);
			/* no flush needed: a PDPTE takes effect at the next CR3 load */
			break;
		}
		case 2:
		case 3: { /* a PDE or PTE the walk of gva uses */
			u64 at;
			int l = 1 + (int)((r >> 24) % 2);
			if (!walked_entry(gva, l, &at) || at >> 12 == linear_pd)
				break; /* keep the linear map */
			u64 target = (r & (3ull << 30)) ? tables[NSPACES + (r >> 32) % (NTABLES - NSPACES)]
							: (64 + (r >> 32) % 512);
			u64 val = (target << 12) | ((r >> 40) & 0xe7) | ((r & BIT(29)) ? PT_P : 0) |
				  ((r & BIT(28)) ? PT_XD : 0);
			if ((val & PT_PS) && l == 2)
				val &= ~0x1fe000ull; /* a valid 2 MiB frame */
			guest_edit(lin_base, at, val, 8);
			check_some_access(gva, r >> 48, "PAE edit");
			break;
		}
		default:
			check_some_access(gva | ((r >> 40) & 0xfff), r >> 32, "PAE edits");
		}
	}
	CHECK_EQ(n_mismatch, before);
	CHECK(mmu.stats.pt_writes > 100);
	mmu_stop();
}

/* Fuzz: random bytes as page tables in every format, random registers;
 * everything must match the reference and nothing may crash. */
TEST(fuzz_tables)
{
	u64 seed = 0xf022;
	unsigned long before = n_mismatch;
	for (int round = 0; round < 60; round++) {
		reset_guest();
		mmu_start(48);
		for (int t = 0; t < 24; t++) {
			u64 g = alloc_gfn();
			for (int j = 0; j < 512; j++) {
				u64 r = unit_rng(&seed);
				/* Addresses mostly inside the first tables, some beyond RAM. */
				u64 target = (r >> 52) % 8 == 0 ? (G_GFNS + (r >> 20) % 64) : 1 + (r >> 20) % 30;
				u64 e = (r & 0x80000000000001ffull) | (target << 12);
				if ((r >> 60) % 4 == 0)
					e |= (r & 0x7ff0000000000000ull); /* reserved/high bits */
				((u64 *)gptr(g << 12))[j] = e;
			}
		}
		u64 r = unit_rng(&seed);
		u64 cr4 = (r & 1) ? CR4_PAE : 0, efer = 0;
		if (cr4 && (r & 2))
			efer = EFER_LMA | BIT(8);
		if (r & 4)
			efer |= EFER_NXE;
		cr4 |= (r & 8 ? CR4_PSE : 0) | (r & 16 ? CR4_SMEP : 0) | (r & 32 ? CR4_SMAP : 0);
		gctx.rflags = (r & 64) ? RFLAGS_AC : 0;
		if (!guest_load(CR0_PG | 1 | ((r & 128) ? CR0_WP : 0), (1 + (r >> 8) % 24) << 12, cr4, efer)) {
			mmu_stop();
			continue; /* bad PDPTEs: the MOV would #GP */
		}
		for (int i = 0; i < 3000; i++) {
			u64 x = unit_rng(&seed);
			u64 gva = (efer & EFER_LMA) ? (x & 0x00007ffffffff000ull) : (x & 0xfffff000ull);
			if (!check_access(gva, accesses[(x >> 60) % ARRAY_SIZE(accesses)], "fuzz"))
				unit_current_failed = 1;
		}
		mmu_stop();
	}
	CHECK_EQ(n_mismatch, before);
}

/* One data page mapped at 60,000 addresses: the rmap holds one link per
 * mapping, write-protecting the page walks them once, zapping is linear. */
TEST(aliased_page)
{
	reset_guest();
	mmu_start(256);
	u64 pml4 = alloc_gfn(), pdpt = alloc_gfn(), pd = alloc_gfn(), data = alloc_gfn();
	((u64 *)gptr(pml4 << 12))[0] = (pdpt << 12) | PT_P | PT_RW;
	((u64 *)gptr(pdpt << 12))[0] = (pd << 12) | PT_P | PT_RW;
	enum { NPT = 118 };
	for (int i = 0; i < NPT; i++) {
		u64 pt = alloc_gfn();
		((u64 *)gptr(pd << 12))[i] = (pt << 12) | PT_P | PT_RW;
		for (int j = 0; j < 512; j++)
			((u64 *)gptr(pt << 12))[j] = (data << 12) | PT_P | PT_RW | PT_D | PT_A;
	}
	gctx.rflags = 0;
	CHECK(guest_load(CR0_PG | 1, pml4 << 12, CR4_PAE, EFER_LMA | BIT(8)));
	for (u64 i = 0; i < NPT * 512ull; i++)
		CHECK_EQ(sim_access(i << 12, WALK_WRITE, 0, 0).out, OUT_OK);
	u32 *head = rmap_head(&mmu, data, false), n = 0;
	for (u32 id = head ? *head : 0; id; id = id_sp(&mmu, id)->links[id_index(id)].next)
		n++;
	CHECK_EQ(n, NPT * 512);
	/* The data page becomes a page table: all 60,416 sptes lose W. */
	((u64 *)gptr(data << 12))[0] = (data << 12) | PT_P | PT_RW;
	((u64 *)gptr(pd << 12))[NPT] = (data << 12) | PT_P | PT_RW;
	guest_flush();
	CHECK_EQ(sim_access((u64)NPT << 21, 0, 0, 0).out, OUT_OK);
	CHECK(page_tracked(&mmu.track, data, TRACK_WRITE));
	CHECK_EQ(sim_access(0x3000, WALK_WRITE, 0x11, 1).out, OUT_OK); /* emulated now */
	CHECK(!(mmu_lookup_spte(&mv, 0x3000) & SPTE_W));
	CHECK(mmu.stats.emulations > 0);
	/* Unprotecting: only a shadowed gfn that is no root can be. */
	CHECK(!mmu_unprotect_gfn(&mmu, pml4));	/* the root */
	CHECK(!mmu_unprotect_gfn(&mmu, next_gfn + 10));	/* not shadowed */
	CHECK(mmu_unprotect_gfn(&mmu, data));
	CHECK(!page_tracked(&mmu.track, data, TRACK_WRITE));
	CHECK_EQ(sim_access(0x3000, WALK_WRITE, 0x22, 1).out, OUT_OK);
	CHECK(mmu_lookup_spte(&mv, 0x3000) & SPTE_W);
	mmu_stop();
}

/* The pool is bounded: a guest with more tables than the pool still runs
 * (pages are reclaimed), and the counters add up. */
TEST(reclaim_bounded_pool)
{
	u64 cr3;
	unsigned n = build_4level(&cr3);
	mmu_start(40);
	gctx.rflags = 0;
	CHECK(guest_load(CR0_PG | 1, cr3, CR4_PAE, EFER_LMA | BIT(8) | EFER_NXE));
	run_matrix("small pool", gvas, n / 8, (struct config){ 0, 0, 1, 0 });
	CHECK(mmu.nr_allocated <= 40);
	CHECK(mmu.stats.sp_reclaimed > 0);
	u64 used = 0;
	for (u32 i = 0; i < mmu.nr_allocated; i++)
		used += mmu.pages[i].in_use;
	CHECK_EQ(mmu.stats.sp_allocated - mmu.stats.sp_zapped, used);
	/* Dropping everything: the root is reloaded, the guest carries on. */
	u32 gen = mmu.reload_gen;
	mmu_zap_all(&mmu);
	CHECK(mmu.reload_gen != gen);
	CHECK(!mmu_audit(&mmu));
	/* A fault that arrives before the entry path reloaded the root must
	 * not load one itself: the hardware's CR3 would not follow. */
	struct mmu_fault f;
	CHECK_EQ(mmu_page_fault(&mv, gvas[0], 0, 0, &f), MMU_FAULT_FIXED);
	CHECK_EQ(mv.root_pa, hw_cr3);
	run_matrix("after zap-all", gvas, 64, (struct config){ 0, 0, 1, 0 });
	mmu_stop();
}

int main(void)
{
	void *ram = aligned_alloc(4096, HOST_RAM);
	phys_map_offset = (uintptr_t)ram - 0x100000;
	struct mem_range r = { 0x100000, 0x100000 + HOST_RAM };
	frame_init(&r, 1);
	gvas = calloc(70000, sizeof(u64));
	RUN(paging_off_and_mmio);
	RUN(permission_matrix_32bit);
	RUN(permission_matrix_pae);
	RUN(aliased_page);
	RUN(reclaim_bounded_pool);
	RUN(random_guest_edits);
	RUN(random_guest_edits_32bit);
	RUN(random_guest_edits_pae);
	RUN(fuzz_tables);
	RUN(permission_matrix_4level);
	fprintf(stderr, "shadow: %lu accesses compared, %lu remote flushes\n", n_access, flushes);
	return unit_report("shadow");
}
