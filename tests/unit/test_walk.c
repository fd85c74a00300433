/*
 * The guest page-table walker (shadow/walk*.c) against a reference walk
 * written here, separately, from the rules of Intel SDM Vol. 3A ch. 4: it
 * collects the entries of the walk first, checks each set bit against the
 * tables of reserved bits, computes the effective rights of the translation
 * and only then decides, following the SDM's list of what supervisor and
 * user accesses may do (§4.6.1).
 *
 * - known answers: a few cases worked out by hand from the SDM, so that the
 *   walker and the reference cannot agree on a shared mistake there;
 * - the permission matrix: for each paging format and page size, every
 *   combination of P, R/W, U/S, XD (and PS where it is ignored) at every
 *   level x read/write/fetch x user/supervisor/implicit supervisor x
 *   CR0.WP x CR4.SMEP x CR4.SMAP x EFLAGS.AC x EFER.NXE, checking the
 *   outcome, the error code, the rights and the A/D bits left in memory.
 *   A not-present entry stands for all its values (its other bits are filled
 *   with junk, and the levels below it are unreachable);
 * - every bit of every entry of every format at MAXPHYADDR 32..52;
 * - self-referencing tables, tables outside guest memory, PDPTE registers,
 *   racing A/D updates, non-canonical addresses;
 * - a fuzzer over random tables and random guest state (fixed seed,
 *   bounded time), compared with the reference too.
 */
#include <time.h>

#include "tests/unit/unit.h"
#include "shadow/walk.h"

/* The test's own spelling of the architectural bits. */
#define CR0_WP		BIT(16)
#define CR0_PG		BIT(31)
#define CR4_PSE		BIT(4)
#define CR4_PAE		BIT(5)
#define CR4_LA57	BIT(12)
#define CR4_SMEP	BIT(20)
#define CR4_SMAP	BIT(21)
#define EFER_LME	BIT(8)
#define EFER_LMA	BIT(10)
#define EFER_NXE	BIT(11)
#define RFLAGS_AC	BIT(18)

#define E_P	BIT(0)
#define E_RW	BIT(1)
#define E_US	BIT(2)
#define E_PWT	BIT(3)
#define E_PCD	BIT(4)
#define E_A	BIT(5)
#define E_D	BIT(6)
#define E_PS	BIT(7)
#define E_G	BIT(8)
#define E_XD	BIT(63)

#define RD	0u
#define WR	WALK_WRITE
#define FE	WALK_FETCH
#define USR	WALK_USER
#define IMP	WALK_IMPLICIT_SUPERVISOR

/* ---------------------------------------------------------------------------
 * Guest memory
 * ------------------------------------------------------------------------- */

#define MEM_MAX (4u << 20)

static u8 *gm;
static u64 gm_size = MEM_MAX;
static unsigned long n_reads, n_cmpxchg, n_cmpxchg_fail;
static bool rom_mode;			/* cmpxchg "succeeds" without writing */
static void (*race_hook)(u64 gpa, unsigned size);
static int bad_callbacks;		/* unaligned or odd-sized accesses */

static bool in_mem(u64 gpa, unsigned size)
{
	return gpa < gm_size && size <= gm_size - gpa;
}

static u64 get(u64 gpa, unsigned size)
{
	u64 v = 0;

	memcpy(&v, gm + gpa, size);
	return v;
}

static void put(u64 gpa, u64 v, unsigned size)
{
	memcpy(gm + gpa, &v, size);
}

static bool m_read(void *ctx, u64 gpa, u64 *val, unsigned size)
{
	(void)ctx;
	n_reads++;
	if ((size != 4 && size != 8) || (gpa & (size - 1)))
		bad_callbacks++;
	if (!in_mem(gpa, size))
		return false;
	*val = get(gpa, size);
	return true;
}

static bool m_cmpxchg(void *ctx, u64 gpa, u64 old, u64 new_, unsigned size)
{
	(void)ctx;
	n_cmpxchg++;
	if ((size != 4 && size != 8) || (gpa & (size - 1)) || !in_mem(gpa, size) ||
	    (size == 4 && ((old | new_) >> 32))) {
		bad_callbacks++;
		return false;
	}
	if (race_hook)
		race_hook(gpa, size);
	if (get(gpa, size) != old) {
		n_cmpxchg_fail++;
		return false;
	}
	if (!rom_mode)
		put(gpa, new_, size);
	return true;
}

static const struct walk_mem mem = { m_read, m_cmpxchg, NULL };

static void counters_reset(void)
{
	n_reads = n_cmpxchg = n_cmpxchg_fail = 0;
}

/* xorshift64*: deterministic pseudo-random numbers. */
static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---------------------------------------------------------------------------
 * The reference walk (SDM Vol. 3A §4.1-§4.8), deliberately simple
 * ------------------------------------------------------------------------- */

enum { FMT_NONE, FMT_32, FMT_PAE, FMT_4L, FMT_5L };

static const struct {
	int levels, esize, ibits;
} geo[] = {
	[FMT_32] = { 2, 4, 10 },
	[FMT_PAE] = { 3, 8, 9 },
	[FMT_4L] = { 4, 8, 9 },
	[FMT_5L] = { 5, 8, 9 },
};

struct ref_result {
	enum walk_status st;
	u32 ec;
	int level, nlevels;
	u64 gpa, size;
	bool w, u, x;
	u64 ent_addr[6], ent[6];	/* by level */
	u64 upd[6];			/* A/D bits the access sets, by level */
	int nupd;
};

/* Table 4-1. */
static int ref_fmt(const struct walk_ctx *c)
{
	if (!(c->cr0 & CR0_PG))
		return FMT_NONE;
	if (c->efer & EFER_LMA)
		return (c->cr4 & CR4_LA57) ? FMT_5L : FMT_4L;
	return (c->cr4 & CR4_PAE) ? FMT_PAE : FMT_32;
}

static int ref_maxphy(const struct walk_ctx *c)
{
	return c->maxphyaddr < 32 ? 32 : c->maxphyaddr > 52 ? 52 : c->maxphyaddr;
}

/* Does PS = 1 make this entry map a page? §4.3 (CR4.PSE), §4.4.2, §4.5.4. */
static bool ref_ps_maps(const struct walk_ctx *c, int fmt, int level)
{
	switch (fmt) {
	case FMT_32:
		return level == 2 && (c->cr4 & CR4_PSE);
	case FMT_PAE:
		return level == 2;
	default:
		return level == 2 || (level == 3 && (c->features & WALK_FEAT_1G_PAGES));
	}
}

/*
 * Is bit b reserved in a present entry at this level? One bit at a time,
 * from the format tables: Table 4-4 (32-bit 4 MiB PDE: 21:(M-19), M at most
 * 40), Tables 4-5/4-6 (none), Table 4-8 (PAE PDPTE: 63:M, 8:5, 2:1),
 * Tables 4-9..4-11 (PAE: 62:M, 63 without NXE, 2 MiB: 20:13), Tables
 * 4-14..4-20 (51:M, 63 without NXE, PS in PML5E/PML4E, 1 GiB: 29:13 or PS
 * itself without 1 GiB pages, 2 MiB: 20:13).
 */
static bool ref_reserved(const struct walk_ctx *c, int fmt, int level, u64 e, int b)
{
	int m = ref_maxphy(c);
	bool nxe = c->efer & EFER_NXE;
	bool large = (e & E_PS) && ref_ps_maps(c, fmt, level);

	switch (fmt) {
	case FMT_32:
		if (large) {
			int m32 = m > 40 ? 40 : m;

			return b <= 21 && b >= m32 - 19;
		}
		return false;
	case FMT_PAE:
		if (level == 3)
			return b >= m || (b >= 5 && b <= 8) || b == 1 || b == 2;
		if (b == 63)
			return !nxe;
		if (b >= m)
			return true;
		return large && b >= 13 && b <= 20;
	default:
		if (b == 63)
			return !nxe;
		if (b >= m && b <= 51)
			return true;
		if (level >= 4)
			return b == 7;
		if (level == 3 && (e & E_PS))
			return (c->features & WALK_FEAT_1G_PAGES) ? (b >= 13 && b <= 29) : b == 7;
		if (level == 2 && (e & E_PS))
			return b >= 13 && b <= 20;
		return false;
	}
}

static void ref_walk(const struct walk_ctx *c, u64 gva, u32 acc, struct ref_result *r)
{
	const int fmt = ref_fmt(c), m = ref_maxphy(c);
	const bool fetch = acc & WALK_FETCH;
	const bool write = (acc & WALK_WRITE) && !fetch;
	const bool implicit = acc & WALK_IMPLICIT_SUPERVISOR;
	const bool user = (acc & WALK_USER) && !implicit;
	const bool nxe = c->efer & EFER_NXE;
	const bool wp = c->cr0 & CR0_WP, smep = c->cr4 & CR4_SMEP, smap = c->cr4 & CR4_SMAP;
	const bool ac = c->rflags & RFLAGS_AC;
	const u64 addr_bits = (m == 64 ? ~0ull : (1ull << m) - 1) & ~0xfffull;
	int levels, esize, ibits, level, leaf = 0;
	u64 la = gva, base;
	bool user_addr = true, writable = true, xd = false, may;

	memset(r, 0, sizeof(*r));
	/* What the error code says about the access (§4.7). */
	r->ec = (write ? 2 : 0) | (user ? 4 : 0) |
		(fetch && (smep || ((c->cr4 & CR4_PAE) && nxe)) ? 0x10 : 0);
	if (fmt == FMT_NONE) {
		r->st = WALK_OK;
		r->gpa = (u32)gva;
		r->size = 4096;
		r->w = r->u = r->x = true;
		r->ec = 0;
		return;
	}
	levels = geo[fmt].levels;
	esize = geo[fmt].esize;
	ibits = geo[fmt].ibits;
	r->nlevels = levels;
	if (fmt == FMT_32 || fmt == FMT_PAE) {
		la = (u32)gva;
	} else {
		int bits = fmt == FMT_5L ? 57 : 48;
		u64 top = gva >> (bits - 1);

		if (top != 0 && top != (~0ull >> (bits - 1))) {
			r->st = WALK_NONCANONICAL;
			r->ec = 0;
			return;
		}
	}
	if (fmt == FMT_32)
		base = c->cr3 & 0xfffff000u;
	else if (fmt == FMT_PAE)
		base = c->cr3 & 0xffffffe0u;
	else
		base = c->cr3 & addr_bits;

	/* 1. Collect the entries, stopping at the first unusable one. */
	for (level = levels; level >= 1; level--) {
		u64 idx = (la >> (12 + ibits * (level - 1))) & ((1u << ibits) - 1);
		u64 addr = base + idx * esize, e;

		r->level = level;
		r->ent_addr[level] = addr;
		if (fmt == FMT_PAE && level == 3 && c->pdptes) {
			e = c->pdptes[idx];
		} else {
			if (!in_mem(addr, esize)) {
				r->st = WALK_BAD_GPA;
				r->ec = 0;
				return;
			}
			e = get(addr, esize);
		}
		r->ent[level] = e;
		if (!(e & E_P)) {
			r->st = WALK_PAGE_FAULT;
			return;
		}
		for (u64 v = e; v; v &= v - 1) {
			if (ref_reserved(c, fmt, level, e, __builtin_ctzll(v))) {
				r->st = WALK_PAGE_FAULT;
				r->ec |= 1 | 8;
				return;
			}
		}
		if (level == 1 || ((e & E_PS) && ref_ps_maps(c, fmt, level))) {
			leaf = level;
			break;
		}
		base = fmt == FMT_32 ? (e & 0xfffff000u) : (e & addr_bits);
	}

	/* 2. The translation and its rights (§4.6: the entries controlling
	 * it; PAE PDPTEs control none). */
	r->size = 1ull << (12 + ibits * (leaf - 1));
	if (fmt == FMT_32 && leaf == 2)
		r->gpa = (r->ent[2] & 0xffc00000u) | (((r->ent[2] >> 13) & 0xff) << 32);
	else if (fmt == FMT_32)
		r->gpa = r->ent[1] & 0xfffff000u;
	else
		r->gpa = r->ent[leaf] & addr_bits & ~(r->size - 1);
	r->gpa |= la & (r->size - 1);
	for (level = levels; level >= leaf; level--) {
		if (fmt == FMT_PAE && level == 3)
			continue;
		user_addr = user_addr && (r->ent[level] & E_US);
		writable = writable && (r->ent[level] & E_RW);
		if (fmt != FMT_32 && nxe && (r->ent[level] & E_XD))
			xd = true;
	}
	r->w = writable;
	r->u = user_addr;
	r->x = !xd;
	r->level = leaf;

	/* 3. What the access may do (§4.6.1, item by item). */
	if (!user) {
		if (fetch)
			may = !xd && !(user_addr && smep);
		else if (!user_addr)
			may = !write || !wp || writable;
		else if (smap && (!ac || implicit))
			may = false;
		else
			may = !write || !wp || writable;
	} else {
		if (!user_addr)
			may = false;
		else if (fetch)
			may = !xd;
		else if (write)
			may = writable;
		else
			may = true;
	}
	if (!may) {
		r->st = WALK_PAGE_FAULT;
		r->ec |= 1;
		return;
	}

	/* 4. §4.8: A in each entry used, D in the leaf on a write. */
	r->st = WALK_OK;
	r->ec = 0;
	for (level = levels; level >= leaf; level--) {
		u64 want = E_A | (level == leaf && write ? E_D : 0);

		if (fmt == FMT_PAE && level == 3)
			continue;
		r->upd[level] = want;
		if ((r->ent[level] & want) != want)
			r->nupd++;
	}
}

/* ---------------------------------------------------------------------------
 * Comparing the walker with the reference
 * ------------------------------------------------------------------------- */

static unsigned long n_cases, n_mismatch;
static char case_desc[512];
/* The case being compared, described only when it fails. */
static const struct walk_ctx *cur_ctx;
static u64 cur_gva;
static u32 cur_acc;

static void describe_ctx(const struct walk_ctx *c, u64 gva, u32 acc)
{
	cur_ctx = c;
	cur_gva = gva;
	cur_acc = acc;
}

static void describe_now(void)
{
	const struct walk_ctx *c = cur_ctx;
	u64 gva = cur_gva;
	u32 acc = cur_acc;

	snprintf(case_desc, sizeof(case_desc),
		 "cr0=%llx cr3=%llx cr4=%llx efer=%llx ac=%d M=%u feat=%x pdptes=%d gva=%llx acc=%x",
		 (unsigned long long)c->cr0, (unsigned long long)c->cr3,
		 (unsigned long long)c->cr4, (unsigned long long)c->efer,
		 !!(c->rflags & RFLAGS_AC), c->maxphyaddr, c->features, c->pdptes != NULL,
		 (unsigned long long)gva, acc);
}

static void mismatch(const char *what, u64 got, u64 want, const struct ref_result *r)
{
	n_mismatch++;
	unit_current_failed = 1;
	if (n_mismatch > 12)
		return;
	describe_now();
	fprintf(stderr, "MISMATCH %s: %s: got %llx want %llx\n  %s\n  entries:", unit_current,
		what, (unsigned long long)got, (unsigned long long)want, case_desc);
	for (int l = r->nlevels; l >= 1 && l >= r->level; l--)
		fprintf(stderr, " L%d@%llx=%llx", l, (unsigned long long)r->ent_addr[l],
			(unsigned long long)r->ent[l]);
	fprintf(stderr, "\n");
}

#define SAME(what, got, want)                                                 \
	do {                                                                  \
		if ((u64)(got) != (u64)(want)) {                              \
			mismatch(what, (u64)(got), (u64)(want), r);           \
			return false;                                         \
		}                                                             \
	} while (0)

/* The result fields the reference predicts. */
static bool same_result(const struct walk_result *g, enum walk_status st,
			const struct ref_result *r)
{
	SAME("status", st, r->st);
	SAME("out->status", g->status, st);
	if (st == WALK_NONCANONICAL)
		return true;
	SAME("nlevels", g->nlevels, r->nlevels);
	if (st == WALK_PAGE_FAULT)
		SAME("error code", g->error_code, r->ec);
	if (st != WALK_OK && st != WALK_PAGE_FAULT && st != WALK_BAD_GPA)
		return true;
	if (r->nlevels)
		SAME("level", g->level, r->level);
	for (int l = r->nlevels; l >= 1 && l >= r->level; l--) {
		SAME("pte_gpa", g->pte_gpa[l - 1], r->ent_addr[l]);
		if (st == WALK_BAD_GPA && l == r->level)
			break;
		SAME("pte", g->pte[l - 1], r->ent[l] | (st == WALK_OK ? r->upd[l] : 0));
	}
	if (st == WALK_OK || (st == WALK_PAGE_FAULT && (r->ec & 9) == 1)) {
		SAME("gpa", g->gpa, r->gpa);
		SAME("page_size", g->page_size, r->size);
		SAME("writable", g->writable, r->w);
		SAME("user", g->user, r->u);
		SAME("executable", g->executable, r->x);
	}
	return true;
}

/* Runs one access through both; the entries the reference saw must then
 * hold exactly the A/D bits it predicts (and the walker must have written
 * them with one compare-and-exchange each). Restores the entries. */
static bool one_case(const struct walk_ctx *c, u64 gva, u32 acc)
{
	struct ref_result ref, *r = &ref;
	struct walk_result g;
	enum walk_status st;
	bool ok, aliased = false;

	n_cases++;
	ref_walk(c, gva, acc, &ref);
	counters_reset();
	memset(&g, 0xa5, sizeof(g));
	st = guest_walk(&mem, c, gva, acc, &g);
	describe_ctx(c, gva, acc);
	ok = same_result(&g, st, &ref);
	/* An entry used at several levels (self-reference) gets the bits of
	 * all of them. */
	for (int l = ref.nlevels; l >= 1 && l >= ref.level; l--) {
		int esize = geo[ref_fmt(c)].esize;
		u64 a = ref.ent_addr[l], want = ref.ent[l];
		bool from_regs = ref_fmt(c) == FMT_PAE && l == 3 && c->pdptes;

		if (from_regs || !in_mem(a, esize))
			continue;
		for (int k = ref.nlevels; st == WALK_OK && k >= ref.level; k--) {
			if (ref.ent_addr[k] == a && !(ref_fmt(c) == FMT_PAE && k == 3 && c->pdptes))
				want |= ref.upd[k];
			if (ref.ent_addr[k] == a && k != l)
				aliased = true;
		}
		if (ok && get(a, esize) != want) {
			mismatch("entry in memory after the walk", get(a, esize), want, r);
			ok = false;
		}
	}
	for (int l = ref.level; l >= 1 && l <= ref.nlevels; l++) {
		bool from_regs = ref_fmt(c) == FMT_PAE && l == 3 && c->pdptes;
		int esize = geo[ref_fmt(c)].esize;

		if (!from_regs && in_mem(ref.ent_addr[l], esize))
			put(ref.ent_addr[l], ref.ent[l], esize);
	}
	if (ok && !aliased && n_cmpxchg != (unsigned long)(st == WALK_OK ? ref.nupd : 0)) {
		mismatch("compare-and-exchanges", n_cmpxchg, ref.nupd, r);
		ok = false;
	}
	return ok;
}

/* ---------------------------------------------------------------------------
 * Known answers, worked out by hand from the SDM
 * ------------------------------------------------------------------------- */

/* 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000; the page
 * at 0x5000, mapped at gva 0x1000 (all indices 0 but the PT's: 1). */
static const u64 KA_GVA = 0x1234;

static struct walk_ctx ctx4(void)
{
	struct walk_ctx c = {
		.cr0 = CR0_PG, .cr3 = 0x1000, .cr4 = CR4_PAE, .efer = EFER_LME | EFER_LMA,
		.maxphyaddr = 46, .features = WALK_FEAT_1G_PAGES,
	};
	return c;
}

static void ka_tables(u64 upper, u64 pte)
{
	memset(gm, 0, 0x10000);
	put(0x1000, 0x2000 | upper, 8);
	put(0x2000, 0x3000 | upper, 8);
	put(0x3000, 0x4000 | upper, 8);
	put(0x4008, 0x5000 | pte, 8);
}

/* Walks and returns the error code, or ~0u on success. */
static u32 ka(const struct walk_ctx *c, u64 gva, u32 acc)
{
	struct walk_result r;

	switch (guest_walk(&mem, c, gva, acc, &r)) {
	case WALK_OK:
		return ~0u;
	case WALK_PAGE_FAULT:
		return r.error_code;
	default:
		return 0xdead;
	}
}

#define OK_ ~0u

TEST(known_answers_wp_smap)
{
	struct walk_ctx c = ctx4();
	const u64 all = E_P | E_RW | E_US;

	/* Supervisor write to a read-only supervisor page: allowed with
	 * WP = 0, #PF(P|W) with WP = 1. */
	ka_tables(all, E_P);
	CHECK_EQ(ka(&c, KA_GVA, WR), OK_);
	CHECK_EQ(get(0x4008, 8) & (E_A | E_D), E_A | E_D);
	c.cr0 |= CR0_WP;
	CHECK_EQ(ka(&c, KA_GVA, WR), 0x3);
	/* A user write to a read-only user page faults whatever WP says. */
	c.cr0 &= ~CR0_WP;
	ka_tables(all, E_P | E_US);
	CHECK_EQ(ka(&c, KA_GVA, WR | USR), 0x7);
	CHECK_EQ(ka(&c, KA_GVA, USR), OK_);
	/* SMAP with a read-only user page and WP = 0: an explicit write with
	 * AC = 1 is allowed; AC = 0 or implicit refuses it (U/S = 0 in the
	 * error code for the implicit one even though it was asked at CPL 3). */
	c.cr4 |= CR4_SMAP;
	c.rflags = RFLAGS_AC;
	CHECK_EQ(ka(&c, KA_GVA, WR), OK_);
	CHECK_EQ(ka(&c, KA_GVA, WR | IMP), 0x3);
	CHECK_EQ(ka(&c, KA_GVA, WR | IMP | USR), 0x3);
	CHECK_EQ(ka(&c, KA_GVA, RD | IMP), 0x1);
	c.rflags = 0;
	CHECK_EQ(ka(&c, KA_GVA, WR), 0x3);
	CHECK_EQ(ka(&c, KA_GVA, RD), 0x1);
	/* ... and with WP = 1 even AC = 1 does not make it writable. */
	c.cr0 |= CR0_WP;
	c.rflags = RFLAGS_AC;
	CHECK_EQ(ka(&c, KA_GVA, WR), 0x3);
	CHECK_EQ(ka(&c, KA_GVA, RD), OK_);
	/* SMAP does not apply to fetches, nor to supervisor pages. */
	c.rflags = 0;
	CHECK_EQ(ka(&c, KA_GVA, FE), OK_);
	ka_tables(all, E_P);
	CHECK_EQ(ka(&c, KA_GVA, RD | IMP), OK_);
	/* User accesses to a supervisor page fault (U/S in any level). */
	ka_tables(E_P | E_RW, E_P | E_RW | E_US);
	CHECK_EQ(ka(&c, KA_GVA, RD | USR), 0x5);
	CHECK_EQ(ka(&c, KA_GVA, RD), OK_);
}

TEST(known_answers_nx_smep_and_the_id_bit)
{
	struct walk_ctx c = ctx4();
	const u64 all = E_P | E_RW | E_US;

	/* XD with NXE = 0 is a reserved bit: P|RSVD, whatever the access; I/D
	 * only if SMEP = 1 (§4.7: SMEP, or PAE and NXE). */
	ka_tables(all, E_P | E_XD);
	CHECK_EQ(ka(&c, KA_GVA, RD), 0x9);
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x9);
	CHECK_EQ(ka(&c, KA_GVA, WR | USR), 0xf);
	c.cr4 |= CR4_SMEP;
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x19);
	c.cr4 &= ~CR4_SMEP;
	/* With NXE = 1 it forbids fetches: P|I/D; reads are fine. */
	c.efer |= EFER_NXE;
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x11);
	CHECK_EQ(ka(&c, KA_GVA, FE | USR), 0x15);
	CHECK_EQ(ka(&c, KA_GVA, RD), OK_);
	/* XD in an upper level counts too (ORed). */
	ka_tables(all | E_XD, E_P);
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x11);
	/* A fetch from a not-present page: I/D with NXE = 1 (PAE), none
	 * without NXE and SMEP. */
	ka_tables(all, 0);
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x10);
	c.efer &= ~EFER_NXE;
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x0);
	CHECK_EQ(ka(&c, KA_GVA, FE | USR), 0x4);
	/* SMEP: a supervisor fetch from a user page faults (P|I/D), from a
	 * supervisor page does not; a user fetch from a user page is fine. */
	ka_tables(all, E_P | E_US);
	c.cr4 |= CR4_SMEP;
	CHECK_EQ(ka(&c, KA_GVA, FE), 0x11);
	CHECK_EQ(ka(&c, KA_GVA, FE | USR), OK_);
	CHECK_EQ(ka(&c, KA_GVA, FE | WR), 0x11); /* a fetch is not a write */
	ka_tables(E_P | E_RW, E_P | E_US);
	CHECK_EQ(ka(&c, KA_GVA, FE), OK_);

	/* 32-bit paging: no XD at all, and NXE = 1 alone gives no I/D. */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0x1000, .efer = EFER_NXE, .maxphyaddr = 36 };
	memset(gm, 0, 0x10000);
	put(0x1000, 0x2000 | E_P | E_RW, 4);
	put(0x2004, 0x3000 | E_P | E_RW, 4);
	CHECK_EQ(ka(&c, 0x1000, FE), OK_);
	CHECK_EQ(ka(&c, 0x2000, FE), 0x0);
	c.cr4 |= CR4_SMEP;
	CHECK_EQ(ka(&c, 0x2000, FE), 0x10);
	/* PAE with NXE = 1: I/D. */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0x1000, .cr4 = CR4_PAE, .efer = EFER_NXE,
			       .maxphyaddr = 36 };
	put(0x1000, 0x2000 | E_P, 8);
	put(0x2000, 0, 8);
	CHECK_EQ(ka(&c, 0x0, FE), 0x10);
}

TEST(known_answers_fault_order_and_ad_bits)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;

	/* No translation beats access rights: U/S = 0 in the PML4E and a
	 * not-present PTE gives P = 0. */
	ka_tables(E_P | E_RW, 0);
	CHECK_EQ(ka(&c, KA_GVA, RD | USR), 0x4);
	/* A reserved bit below a not-present entry is never looked at; above
	 * it, it wins. */
	ka_tables(E_P | E_RW | E_US, E_P | BIT(51));
	CHECK_EQ(ka(&c, KA_GVA, RD), 0x9);
	put(0x3000, 0x4000, 8); /* PDE not present */
	CHECK_EQ(ka(&c, KA_GVA, RD), 0x0);

	/* A read sets A everywhere and no D; a write adds D in the leaf only;
	 * a fault (here WP) sets nothing. */
	ka_tables(E_P | E_RW | E_US, E_P | E_RW | E_US);
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, RD, &r), WALK_OK);
	CHECK_EQ(get(0x1000, 8), 0x2000 | E_P | E_RW | E_US | E_A);
	CHECK_EQ(get(0x3000, 8), 0x4000 | E_P | E_RW | E_US | E_A);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_RW | E_US | E_A);
	CHECK_EQ(r.gpa, 0x5234);
	CHECK_EQ(r.level, 1);
	CHECK_EQ(r.page_size, 4096);
	CHECK_EQ(r.pte_gpa[0], 0x4008);
	CHECK_EQ(r.pte[0], 0x5000 | E_P | E_RW | E_US | E_A);
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_OK);
	CHECK_EQ(n_cmpxchg, 1);
	CHECK_EQ(get(0x3000, 8), 0x4000 | E_P | E_RW | E_US | E_A);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_RW | E_US | E_A | E_D);
	ka_tables(E_P | E_RW | E_US, E_P | E_US);
	c.cr0 |= CR0_WP;
	counters_reset();
	CHECK_EQ(ka(&c, KA_GVA, WR), 0x3);
	CHECK_EQ(n_cmpxchg, 0);
	CHECK_EQ(get(0x1000, 8), 0x2000 | E_P | E_RW | E_US);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_US);
	/* The write with WP = 0 succeeds and dirties the read-only page. */
	c.cr0 &= ~CR0_WP;
	CHECK_EQ(ka(&c, KA_GVA, WR), OK_);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_US | E_A | E_D);
	/* ROM-like memory: the update is lost but the access proceeds. */
	ka_tables(E_P | E_RW | E_US, E_P | E_RW);
	rom_mode = true;
	CHECK_EQ(ka(&c, KA_GVA, WR), OK_);
	rom_mode = false;
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_RW);
	/* Extra access bits are ignored. */
	CHECK_EQ(ka(&c, KA_GVA, RD | BIT(0) | BIT(3) | BIT(5)), OK_);
}

TEST(known_answers_page_sizes_and_ps)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;

	/* 2 MiB: PS in the PDE; bit 12 is PAT, 20:13 reserved. */
	ka_tables(E_P | E_RW, 0);
	put(0x3000, 0x40000000ull | E_P | E_RW | E_PS | BIT(12), 8);
	CHECK_EQ(guest_walk(&mem, &c, 0x12345, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x40012345);
	CHECK_EQ(r.level, 2);
	CHECK_EQ(r.page_size, 2u << 20);
	put(0x3000, 0x40000000ull | E_P | E_RW | E_PS | BIT(13), 8);
	CHECK_EQ(ka(&c, 0x12345, RD), 0x9);
	/* 1 GiB: PS in the PDPTE; 29:13 reserved; without the CPUID feature
	 * PS itself is reserved. */
	put(0x2000, 0x80000000ull | E_P | E_RW | E_PS, 8);
	CHECK_EQ(guest_walk(&mem, &c, 0x12345678, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x92345678);
	CHECK_EQ(r.level, 3);
	put(0x2000, 0x80000000ull | E_P | E_RW | E_PS | BIT(29), 8);
	CHECK_EQ(ka(&c, 0x12345678, RD), 0x9);
	put(0x2000, 0x80000000ull | E_P | E_RW | E_PS, 8);
	c.features = 0;
	CHECK_EQ(ka(&c, 0x12345678, RD), 0x9);
	CHECK_EQ(guest_walk(&mem, &c, 0x12345678, RD, &r), WALK_PAGE_FAULT);
	CHECK_EQ(r.level, 3);
	/* PS in a PML4E is reserved. */
	c.features = WALK_FEAT_1G_PAGES;
	put(0x1000, 0x2000 | E_P | E_RW | E_PS, 8);
	CHECK_EQ(ka(&c, 0x12345678, RD | USR), 0xd);

	/* 32-bit paging: PS maps 4 MiB only with CR4.PSE; PSE-36 puts PA
	 * bits 39:32 in PDE bits 20:13; bit 21 is reserved (and 20:17 too
	 * when MAXPHYADDR is 36). */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0x1000, .cr4 = CR4_PSE, .maxphyaddr = 40 };
	memset(gm, 0, 0x10000);
	put(0x1000 + 4 * 3, 0x00c00000u | (0xabu << 13) | BIT(12) | E_P | E_PS, 4);
	CHECK_EQ(guest_walk(&mem, &c, 0x00c12345, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0xab00c12345ull);
	CHECK_EQ(r.page_size, 4u << 20);
	c.maxphyaddr = 36;
	CHECK_EQ(ka(&c, 0x00c12345, RD), 0x9);
	put(0x1000 + 4 * 3, 0x00c00000u | (0xbu << 13) | E_P | E_PS, 4);
	CHECK_EQ(guest_walk(&mem, &c, 0x00c12345, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0xb00c12345ull);
	put(0x1000 + 4 * 3, 0x00c00000u | BIT(21) | E_P | E_PS, 4);
	CHECK_EQ(ka(&c, 0x00c12345, RD), 0x9);
	/* Without CR4.PSE the same PDE points to a page table at 0x00e00000
	 * (bit 21 is an address bit then; outside this memory: no
	 * translation to report, a VM error). */
	c.cr4 = 0;
	gm_size = 0x10000;
	CHECK_EQ(guest_walk(&mem, &c, 0x00c12345, RD, &r), WALK_BAD_GPA);
	CHECK_EQ(r.level, 1);
	CHECK_EQ(r.pte_gpa[0], 0x00e00000u + 0x12 * 4);
	gm_size = MEM_MAX;
	/* The 32-bit PTE has no reserved bits: bit 7 is PAT. */
	put(0x1000, 0x2000 | E_P, 4);
	put(0x2000, 0xfffff000u | 0xf80 | E_P, 4);
	CHECK_EQ(guest_walk(&mem, &c, 0x123, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0xfffff123u);
}

TEST(known_answers_pae_pdptes)
{
	struct walk_ctx c = { .cr0 = CR0_PG, .cr3 = 0x1fe0 | 0x18, .cr4 = CR4_PAE,
			      .efer = EFER_NXE, .maxphyaddr = 36 };
	struct walk_result r;
	u64 regs[4] = { 0, 0, 0, 0 };

	memset(gm, 0, 0x10000);
	/* PDPT at CR3 bits 31:5; PDPTE 1 maps 0x40000000.. through PD 0x3000. */
	put(0x1fe8, 0x3000 | E_P, 8);
	put(0x3000, 0x4000 | E_P | E_RW | E_US, 8);
	put(0x4000, 0x5000 | E_P | E_RW | E_US, 8);
	CHECK_EQ(guest_walk(&mem, &c, 0xdead000040000abcull, WR | USR, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x5abc);
	CHECK_EQ(r.nlevels, 3);
	CHECK_EQ(r.pte_gpa[2], 0x1fe8);
	/* No accessed flag in a PDPTE; the PDE and PTE get theirs. */
	CHECK_EQ(get(0x1fe8, 8), 0x3000 | E_P);
	CHECK_EQ(get(0x3000, 8), 0x4000 | E_P | E_RW | E_US | E_A);
	CHECK_EQ(get(0x4000, 8), 0x5000 | E_P | E_RW | E_US | E_A | E_D);
	/* PDPTE R/W and U/S are reserved bits, not rights. */
	put(0x1fe8, 0x3000 | E_P | E_RW, 8);
	CHECK_EQ(ka(&c, 0x40000000, RD), 0x9);
	put(0x1fe8, 0x3000 | E_P | E_XD, 8);
	CHECK_EQ(ka(&c, 0x40000000, RD), 0x9);
	/* The load: #GP for a present PDPTE with a reserved bit (registers
	 * untouched), none for a not-present one whatever its bits. */
	CHECK_EQ(walk_load_pdptes(&mem, &c, regs), WALK_PDPTE_RSVD);
	CHECK_EQ(regs[1], 0);
	put(0x1fe8, 0x3000 | E_P | E_PWT | E_PCD | BIT(9) | BIT(11), 8);
	put(0x1ff0, 0xffffffffffff0000ull, 8);
	CHECK_EQ(walk_load_pdptes(&mem, &c, regs), WALK_OK);
	CHECK_EQ(regs[1], 0x3000 | E_P | E_PWT | E_PCD | BIT(9) | BIT(11));
	/* With the registers the walk does not read the PDPT any more. */
	c.pdptes = regs;
	put(0x1fe8, 0, 8);
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, 0x40000000, RD, &r), WALK_OK);
	CHECK_EQ(n_reads, 2);
	CHECK_EQ(r.pte[2], regs[1]);
	c.pdptes = NULL;
	CHECK_EQ(ka(&c, 0x40000000, RD), 0x0);
	/* A PDPT outside guest memory. */
	c.cr3 = 0xfffff000;
	CHECK_EQ(walk_load_pdptes(&mem, &c, regs), WALK_BAD_GPA);
	CHECK_EQ(guest_walk(&mem, &c, 0, RD, &r), WALK_BAD_GPA);
	CHECK_EQ(r.level, 3);
	CHECK_EQ(r.pte_gpa[2], 0xfffff000);
}

TEST(cr3_flag_bits_and_address_width)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;

	ka_tables(E_P | E_RW, E_P | E_RW);
	/* PCID in CR3 bits 11:0 and the no-flush bit 63 are not address bits. */
	c.cr3 = 0x1000 | 0xfff | BIT(63);
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, RD, &r), WALK_OK);
	CHECK_EQ(r.pte_gpa[3], 0x1000);
	/* Long mode: non-canonical addresses are #GP/#SS, no memory read. */
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, 0x0000800000000000ull, RD, &r), WALK_NONCANONICAL);
	CHECK_EQ(r.status, WALK_NONCANONICAL);
	CHECK_EQ(guest_walk(&mem, &c, 0xffff7fffffffffffull, RD, &r), WALK_NONCANONICAL);
	CHECK_EQ(n_reads, 0);
	CHECK_EQ(guest_walk(&mem, &c, 0xffff800000000000ull, RD, &r), WALK_PAGE_FAULT);
	/* ... the same address is canonical with 5 levels. */
	c.cr4 |= CR4_LA57;
	CHECK_EQ(guest_walk(&mem, &c, 0x0000800000000000ull, RD, &r), WALK_PAGE_FAULT);
	CHECK_EQ(r.nlevels, 5);
	CHECK_EQ(guest_walk(&mem, &c, 0x0100000000000000ull, RD, &r), WALK_NONCANONICAL);
	/* Paging off: identity on 32 bits, all rights, nothing read. */
	c.cr0 = 0;
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, 0xfedcba9876543210ull, WR | USR, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x76543210);
	CHECK(r.writable && r.user && r.executable);
	CHECK_EQ(r.nlevels, 0);
	CHECK_EQ(n_reads + n_cmpxchg, 0);
	/* 32-bit paging ignores the upper half of gva. */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0x1000, .maxphyaddr = 36 };
	memset(gm, 0, 0x10000);
	put(0x1000 + 4 * 1, 0x2000 | E_P, 4);
	put(0x2000 + 4 * 2, 0x7000 | E_P, 4);
	CHECK_EQ(guest_walk(&mem, &c, 0xffffffff00402345ull, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x7345);
}

/* ---------------------------------------------------------------------------
 * The permission matrix
 * ------------------------------------------------------------------------- */

struct shape {
	const char *name;
	int fmt;
	int leaf;		/* leaf level */
	bool pse;		/* 32-bit: CR4.PSE */
	bool vary_ps;		/* 32-bit without PSE: PS in the PDE (ignored) */
	bool pdpte_regs;	/* PAE: the PDPTEs from registers */
	bool la57;
};

struct mx {
	const struct shape *s;
	struct walk_ctx base;
	u64 gva;
	u64 table[6];		/* table address by level */
	u64 page;		/* leaf page address */
	u64 ent[6];
	u64 regs[4];
	unsigned long combos;
};

/* The bits that vary at a level: R/W, U/S, XD (not in 32-bit paging, not
 * in PAE PDPTEs), PS where ignored. */
static int level_bits(const struct mx *m, int level, u64 bits[4])
{
	int n = 0;

	if (m->s->fmt == FMT_PAE && level == 3)
		return 0;
	bits[n++] = E_RW;
	bits[n++] = E_US;
	if (m->s->fmt != FMT_32)
		bits[n++] = E_XD;
	else if (m->s->vary_ps && level == 2)
		bits[n++] = E_PS;
	return n;
}

static u64 entry_for(const struct mx *m, int level, unsigned state)
{
	u64 bits[4], e;
	int n = level_bits(m, level, bits);
	bool four = m->s->fmt == FMT_32;

	if (state == 0) /* not present: any other bits */
		return rnd() & ~E_P & (four ? 0xffffffffull : ~0ull);
	e = E_P;
	if (level == m->s->leaf) {
		e |= m->page;
		if (level > 1)
			e |= E_PS;
	} else {
		e |= m->table[level - 1];
	}
	for (int i = 0; i < n; i++)
		if ((state - 1) & (1u << i))
			e |= bits[i];
	return e;
}

static void mx_store(struct mx *m, int level, u64 e)
{
	int esize = geo[m->s->fmt].esize;
	u64 idx = (m->gva >> (12 + geo[m->s->fmt].ibits * (level - 1))) &
		  ((1u << geo[m->s->fmt].ibits) - 1);

	m->ent[level] = e;
	put(m->table[level] + idx * esize, e, esize);
}

static void mx_envs(struct mx *m)
{
	static const u32 accs[] = { RD, WR, FE };
	static const u32 privs[] = { 0, USR, IMP };
	struct walk_ctx c = m->base;
	int fmt = m->s->fmt;
	u64 saved[6];

	memcpy(saved, m->ent, sizeof(saved));
	m->combos++;
	if (m->s->pdpte_regs) {
		/* Load the registers, then make the PDPT in memory useless. */
		u64 save = get(m->table[3] + 8 * ((m->gva >> 30) & 3), 8);

		CHECK_EQ(walk_load_pdptes(&mem, &c, m->regs), WALK_OK);
		put(m->table[3] + 8 * ((m->gva >> 30) & 3), save ^ E_P, 8);
		c.pdptes = m->regs;
	}
	for (unsigned env = 0; env < 32; env++) {
		c.cr0 = CR0_PG | ((env & 1) ? CR0_WP : 0);
		c.cr4 = (m->base.cr4 & ~(CR4_SMEP | CR4_SMAP)) | ((env & 2) ? CR4_SMEP : 0) |
			((env & 4) ? CR4_SMAP : 0);
		c.rflags = (env & 8) ? RFLAGS_AC : 0;
		c.efer = (m->base.efer & ~EFER_NXE) | ((env & 16) ? EFER_NXE : 0);
		for (unsigned a = 0; a < 3; a++)
			for (unsigned p = 0; p < 3; p++)
				one_case(&c, m->gva, accs[a] | privs[p]);
	}
	/* The same with A (and D in the leaf) already set: nothing to write. */
	for (int l = geo[fmt].levels; l >= 1; l--) {
		if (!(m->ent[l] & E_P) || (fmt == FMT_PAE && l == 3))
			continue;
		mx_store(m, l, m->ent[l] | E_A | (l == m->s->leaf ? E_D : 0));
	}
	for (unsigned env = 0; env < 4; env++) {
		c.cr0 = CR0_PG | ((env & 1) ? CR0_WP : 0);
		c.cr4 = m->base.cr4;
		c.rflags = 0;
		c.efer = (m->base.efer & ~EFER_NXE) | ((env & 2) ? EFER_NXE : 0);
		for (unsigned a = 0; a < 3; a++)
			for (unsigned p = 0; p < 3; p++)
				one_case(&c, m->gva, accs[a] | privs[p]);
	}
	for (int l = geo[fmt].levels; l >= m->s->leaf; l--)
		mx_store(m, l, saved[l]);
}

static void mx_level(struct mx *m, int level)
{
	u64 bits[4];
	unsigned states = 1u + (1u << level_bits(m, level, bits));

	for (unsigned s = 0; s < states; s++) {
		mx_store(m, level, entry_for(m, level, s));
		if (s == 0) {
			/* Unreachable below: junk there too. */
			for (int l = level - 1; l >= m->s->leaf; l--)
				mx_store(m, l, entry_for(m, l, 0) | (rnd() & E_P));
			mx_envs(m);
		} else if (level == m->s->leaf) {
			mx_envs(m);
		} else {
			mx_level(m, level - 1);
		}
	}
}

static void mx_run(const struct shape *s)
{
	struct mx m = { .s = s };
	int fmt = s->fmt, levels = geo[fmt].levels;
	unsigned long before = n_cases;

	memset(gm, 0, 0x100000);
	for (int l = 1; l <= 5; l++)
		m.table[l] = 0x10000ull * l;
	m.base.maxphyaddr = 46;
	m.base.features = WALK_FEAT_1G_PAGES;
	switch (fmt) {
	case FMT_32:
		/* gva: PDE 0x2f3, PTE 0x1c5. */
		m.gva = (0x2f3u << 22) | (0x1c5u << 12) | 0x9ab;
		m.page = s->leaf == 2 ? (0xffc00000u | (0x3u << 13)) : 0xc0ffe000u;
		m.base.cr3 = m.table[2] | 0x18;
		m.base.cr4 = s->pse ? CR4_PSE : 0;
		break;
	case FMT_PAE:
		m.gva = (2ull << 30) | (0x1d3ull << 21) | (0x0a7ull << 12) | 0x9ab;
		m.table[3] = 0x30fe0; /* 32-byte aligned PDPT at CR3 bits 31:5 */
		m.page = s->leaf == 2 ? 0x2345678600000ull : 0x2345678abc000ull;
		m.base.cr3 = m.table[3] | 0x18;
		m.base.cr4 = CR4_PAE | CR4_PSE; /* PSE: ignored with PAE */
		break;
	default:
		m.gva = (0x0a5ull << 48) | (0x1edull << 39) | (0x0b5ull << 30) |
			(0x07cull << 21) | (0x1e1ull << 12) | 0x9ab;
		if (s->la57)
			m.gva |= 0xff00000000000000ull; /* idx5 0x1a5: negative */
		else
			m.gva = (u64)((s64)(m.gva << 16) >> 16);
		m.page = s->leaf == 3 ? 0x2345640000000ull
			 : s->leaf == 2 ? 0x2345678600000ull : 0x2345678abc000ull;
		m.base.cr3 = m.table[levels] | 0x123; /* a PCID */
		m.base.cr4 = CR4_PAE | (s->la57 ? CR4_LA57 : 0);
		m.base.efer = EFER_LME | EFER_LMA;
		break;
	}
	m.base.cr0 = CR0_PG;
	mx_level(&m, levels);
	printf("  matrix %-22s %6lu entry combinations, %8lu walks\n", s->name, m.combos,
	       n_cases - before);
}

static const struct shape shapes[] = {
	{ "32-bit 4K (PSE=0)", FMT_32, 1, false, true, false, false },
	{ "32-bit 4K (PSE=1)", FMT_32, 1, true, false, false, false },
	{ "32-bit 4M", FMT_32, 2, true, false, false, false },
	{ "PAE 4K", FMT_PAE, 1, false, false, false, false },
	{ "PAE 2M", FMT_PAE, 2, false, false, false, false },
	{ "PAE 4K (PDPTE regs)", FMT_PAE, 1, false, false, true, false },
	{ "PAE 2M (PDPTE regs)", FMT_PAE, 2, false, false, true, false },
	{ "4-level 4K", FMT_4L, 1, false, false, false, false },
	{ "4-level 2M", FMT_4L, 2, false, false, false, false },
	{ "4-level 1G", FMT_4L, 3, false, false, false, false },
	{ "5-level 1G", FMT_5L, 3, false, false, false, true },
};

TEST(permission_matrix)
{
	unsigned long before = n_cases;

	n_mismatch = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(shapes); i++)
		mx_run(&shapes[i]);
	printf("  permission matrix: %lu walks compared\n", n_cases - before);
	CHECK_EQ(n_mismatch, 0);
	CHECK_EQ(bad_callbacks, 0);
}

/* ---------------------------------------------------------------------------
 * Every bit of every entry, MAXPHYADDR 32..52
 * ------------------------------------------------------------------------- */

struct bit_shape {
	const char *name;
	int fmt, leaf;
	u64 cr4;
	u32 features;
};

static const struct bit_shape bit_shapes[] = {
	{ "32-bit 4K", FMT_32, 1, 0, 0 },
	{ "32-bit 4K+PSE", FMT_32, 1, CR4_PSE, 0 },
	{ "32-bit 4M", FMT_32, 2, CR4_PSE, 0 },
	{ "PAE 4K", FMT_PAE, 1, CR4_PAE, 0 },
	{ "PAE 2M", FMT_PAE, 2, CR4_PAE, 0 },
	{ "4-level 4K", FMT_4L, 1, CR4_PAE, WALK_FEAT_1G_PAGES },
	{ "4-level 2M", FMT_4L, 2, CR4_PAE, WALK_FEAT_1G_PAGES },
	{ "4-level 1G", FMT_4L, 3, CR4_PAE, WALK_FEAT_1G_PAGES },
	{ "4-level 4K no1G", FMT_4L, 1, CR4_PAE, 0 },
	{ "5-level 4K", FMT_5L, 1, CR4_PAE | CR4_LA57, WALK_FEAT_1G_PAGES },
	{ "5-level 2M", FMT_5L, 2, CR4_PAE | CR4_LA57, WALK_FEAT_1G_PAGES },
};

TEST(every_bit_at_every_level)
{
	static const u8 maxphys[] = { 32, 36, 39, 40, 46, 52 };
	unsigned long before = n_cases, rsvd_seen = 0, ignored_seen = 0;

	n_mismatch = 0;
	memset(gm, 0, MEM_MAX);
	for (unsigned si = 0; si < ARRAY_SIZE(bit_shapes); si++) {
		const struct bit_shape *bs = &bit_shapes[si];
		int fmt = bs->fmt, levels = geo[fmt].levels, esize = geo[fmt].esize;

		for (unsigned mi = 0; mi < ARRAY_SIZE(maxphys); mi++) {
			int M = maxphys[mi];
			int m32 = M > 40 ? 40 : M;

			if (fmt != FMT_32 && M < 36)
				continue;
			for (int nxe = 0; nxe < 2; nxe++) {
				struct walk_ctx c = {
					.cr0 = CR0_PG | CR0_WP, .cr4 = bs->cr4,
					.efer = (fmt >= FMT_4L ? EFER_LME | EFER_LMA : 0) |
						(nxe ? EFER_NXE : 0),
					.maxphyaddr = (u8)M, .features = bs->features,
				};
				u64 gva, addr[6], ent[6], page;

				/* Tables at 0x1000 * level, indices 1..5; the page at the
				 * top of the physical address space. */
				memset(gm, 0, 0x8000);
				gva = fmt == FMT_32 ? ((2u << 22) | (1u << 12) | 0x123)
						    : ((4ull << 39) | (3ull << 30) | (2ull << 21) |
						       (1ull << 12) | 0x123);
				if (fmt == FMT_5L)
					gva |= 5ull << 48;
				if (fmt == FMT_PAE)
					gva = (3ull << 30) | (2ull << 21) | (1ull << 12) | 0x123;
				if (fmt == FMT_32)
					page = bs->leaf == 2 ? (0xffc00000ull |
							       (m32 > 32 ? BIT(m32 - 33) << 13 : 0))
							     : 0xfffff000ull;
				else
					page = (BIT(M) - 1) & ~(BIT(12 + 9 * (bs->leaf - 1)) - 1);
				c.cr3 = (fmt == FMT_PAE) ? 0x1fe0 : (u64)levels * 0x1000;
				for (int l = levels; l >= bs->leaf; l--) {
					u64 idx = (gva >> (12 + geo[fmt].ibits * (l - 1))) &
						  ((1u << geo[fmt].ibits) - 1);
					u64 tbl = (l == levels) ? (c.cr3 & ~0x1full) : 0x1000ull * l;

					addr[l] = tbl + idx * esize;
					if (fmt == FMT_PAE && l == 3)
						ent[l] = 0x2000 | E_P;
					else if (l == bs->leaf)
						ent[l] = page | E_P | E_RW | E_US | (l > 1 ? E_PS : 0);
					else
						ent[l] = 0x1000ull * (l - 1) | E_P | E_RW | E_US;
					put(addr[l], ent[l], esize);
				}
				for (int l = levels; l >= bs->leaf; l--) {
					for (int b = 1; b < esize * 8; b++) {
						u64 e = ent[l] ^ BIT(b);
						static const u32 accs[] = { RD, WR | USR, FE };

						put(addr[l], e, esize);
						for (unsigned a = 0; a < ARRAY_SIZE(accs); a++)
							one_case(&c, gva, accs[a]);
						/* The reference's view of this bit, checked
						 * against the walker directly as well. */
						if (ref_reserved(&c, fmt, l, e, b) && (e & BIT(b))) {
							struct walk_result g;

							rsvd_seen++;
							CHECK_EQ(guest_walk(&mem, &c, gva, RD, &g),
								 WALK_PAGE_FAULT);
							CHECK_EQ(g.error_code, 0x9);
							CHECK_EQ(g.level, l);
						} else if (b == 3 || b == 4 || b == 8 || b == 9 ||
							   b == 10 || b == 11 ||
							   (b >= 52 && b <= 62 && fmt >= FMT_4L)) {
							struct ref_result r;

							ignored_seen++;
							ref_walk(&c, gva, RD, &r);
							CHECK_EQ(r.st, WALK_OK);
						}
						put(addr[l], ent[l], esize);
					}
				}
			}
		}
	}
	printf("  every bit: %lu walks (%lu reserved bits, %lu ignored ones)\n",
	       n_cases - before, rsvd_seen, ignored_seen);
	CHECK_EQ(n_mismatch, 0);
}

/* ---------------------------------------------------------------------------
 * Self-referencing tables, tables outside memory, races
 * ------------------------------------------------------------------------- */

TEST(self_referencing_tables)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;
	u64 gva;

	n_mismatch = 0;
	/* PML4[0x1ed] points to the PML4 itself: the address whose four
	 * indices are all 0x1ed maps the PML4 page, and a write sets A and
	 * then D in that one entry, which the walk uses four times. */
	memset(gm, 0, 0x10000);
	put(0x1000 + 0x1ed * 8, 0x1000 | E_P | E_RW, 8);
	put(0x1000, 0x2000 | E_P | E_RW, 8);
	gva = 0xfffff6fb7dbed000ull | 0x1ed * 8; /* sign-extended 0x1ed.0x1ed.0x1ed.0x1ed */
	CHECK_EQ(guest_walk(&mem, &c, gva, RD, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x1000 + 0x1ed * 8);
	CHECK_EQ(get(0x1000 + 0x1ed * 8, 8), 0x1000 | E_P | E_RW | E_A);
	put(0x1000 + 0x1ed * 8, 0x1000 | E_P | E_RW, 8);
	one_case(&c, gva, WR);
	CHECK_EQ(get(0x1000 + 0x1ed * 8, 8), 0x1000 | E_P | E_RW);
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, gva, WR, &r), WALK_OK);
	CHECK_EQ(get(0x1000 + 0x1ed * 8, 8), 0x1000 | E_P | E_RW | E_A | E_D);
	CHECK(n_cmpxchg_fail >= 1 && n_cmpxchg_fail <= 4);
	/* The other entries of the PML4 seen as PTEs. */
	put(0x1000 + 0x1ed * 8, 0x1000 | E_P | E_RW, 8);
	for (u64 i = 0; i < 4; i++)
		one_case(&c, (gva & ~0x1ff000ull) | (i << 12), WR);
	/* Two tables pointing at each other. */
	put(0x1000, 0x2000 | E_P | E_RW | E_US, 8);
	put(0x2000, 0x1000 | E_P | E_RW | E_US, 8);
	for (u32 a = 0; a < 3; a++)
		one_case(&c, 0x1234, a == 2 ? FE : a == 1 ? WR : RD);

	/* 32-bit: PD[1023] = PD (the classic recursive mapping). */
	c = (struct walk_ctx){ .cr0 = CR0_PG | CR0_WP, .cr3 = 0x3000, .maxphyaddr = 36 };
	put(0x3000 + 1023 * 4, 0x3000 | E_P | E_RW, 4);
	put(0x3000, 0x4000 | E_P | E_RW | E_US, 4);
	CHECK_EQ(guest_walk(&mem, &c, 0xfffff000, WR, &r), WALK_OK);
	CHECK_EQ(r.gpa, 0x3000);
	CHECK_EQ(get(0x3000 + 1023 * 4, 4), 0x3000 | E_P | E_RW | E_A | E_D);
	put(0x3000 + 1023 * 4, 0x3000 | E_P | E_RW, 4);
	one_case(&c, 0xffc00000, WR);
	one_case(&c, 0xfffff000, WR);

	/* PAE: a PD entry pointing back at its PD, and the PDPT inside a PD
	 * that the walk updates (bit 5, A in a PDE, is reserved in a PDPTE:
	 * with the PDPTE registers that cannot matter). */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0x5000, .cr4 = CR4_PAE, .maxphyaddr = 36 };
	put(0x5000, 0x5000 | E_P, 8);		/* PDPTE 0 -> PD at 0x5000 */
	put(0x5020, 0x6000 | E_P | E_RW, 8);	/* PD[4] -> PT */
	put(0x6000, 0x7000 | E_P | E_RW, 8);
	CHECK_EQ(walk_load_pdptes(&mem, &c, (u64[4]){ 0 }), WALK_OK);
	one_case(&c, 0x00800000, WR);
	/* gva 0: PDPTE 0 -> PD 0x5000, PD[0] is the PDPTE itself. */
	{
		u64 regs[4];

		CHECK_EQ(walk_load_pdptes(&mem, &c, regs), WALK_OK);
		c.pdptes = regs;
		CHECK_EQ(guest_walk(&mem, &c, 0x0, RD, &r), WALK_OK);
		CHECK_EQ(r.gpa, 0x5000);
		CHECK_EQ(get(0x5000, 8), 0x5000 | E_P | E_A);
		/* Memory now has a PDPTE with bit 5 set: reading it at walk
		 * time reports the reserved bit; the registers still work. */
		CHECK_EQ(guest_walk(&mem, &c, 0x0, RD, &r), WALK_OK);
		c.pdptes = NULL;
		CHECK_EQ(ka(&c, 0x0, RD), 0x9);
		CHECK_EQ(walk_load_pdptes(&mem, &c, regs), WALK_PDPTE_RSVD);
	}

	/* 5-level: PML5[0] -> PML5. */
	c = ctx4();
	c.cr4 |= CR4_LA57;
	memset(gm, 0, 0x10000);
	put(0x1000, 0x1000 | E_P | E_RW | E_US, 8);
	for (u32 a = 0; a < 3; a++)
		one_case(&c, 0x0, a == 2 ? FE : a == 1 ? WR | USR : RD);
	CHECK_EQ(n_mismatch, 0);
}

TEST(tables_outside_guest_memory)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;

	/* The top table beyond the end of memory. */
	c.cr3 = 0x40000000;
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, 0x1234, RD, &r), WALK_BAD_GPA);
	CHECK_EQ(r.status, WALK_BAD_GPA);
	CHECK_EQ(r.level, 4);
	CHECK_EQ(r.pte_gpa[3], 0x40000000);
	CHECK_EQ(n_cmpxchg, 0);
	/* A PDE pointing outside: nothing above it is marked accessed. */
	c.cr3 = 0x1000;
	ka_tables(E_P | E_RW, E_P | E_RW);
	put(0x3000, 0x7ffff000ull | E_P | E_RW, 8);
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_BAD_GPA);
	CHECK_EQ(r.level, 1);
	CHECK_EQ(r.pte_gpa[0], 0x7ffff008);
	CHECK_EQ(r.pte[1], 0x7ffff000ull | E_P | E_RW);
	CHECK_EQ(get(0x1000, 8), 0x2000 | E_P | E_RW);
	/* A not-present entry is a fault before its (bogus) pointer matters;
	 * an entry pointing into the last page of memory is fine. */
	put(0x3000, 0x7ffff000ull, 8);
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_PAGE_FAULT);
	put(0x3000, (MEM_MAX - 0x1000) | E_P | E_RW, 8);
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_PAGE_FAULT);
	CHECK_EQ(r.pte_gpa[0], MEM_MAX - 0x1000 + 8);
	/* 32-bit: the page directory outside memory. */
	c = (struct walk_ctx){ .cr0 = CR0_PG, .cr3 = 0xfffff000u, .maxphyaddr = 36 };
	CHECK_EQ(guest_walk(&mem, &c, 0x1234, RD, &r), WALK_BAD_GPA);
	CHECK_EQ(r.level, 2);
}

/* Race hooks: another vCPU edits an entry just before our update lands. */
static u64 race_gpa, race_xor;
static int race_times;

static void race_flip(u64 gpa, unsigned size)
{
	if (race_times && gpa == race_gpa) {
		race_times--;
		put(gpa, get(gpa, size) ^ race_xor, size);
	}
}

TEST(racing_updates)
{
	struct walk_ctx c = ctx4();
	struct walk_result r;

	c.cr0 |= CR0_WP;
	race_hook = race_flip;
	/* The other vCPU sets A in the PTE first: one more try, same result. */
	ka_tables(E_P | E_RW, E_P | E_RW);
	race_gpa = 0x4008, race_xor = E_A, race_times = 1;
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_OK);
	CHECK_EQ(n_cmpxchg_fail, 1);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P | E_RW | E_A | E_D);
	CHECK_EQ(get(0x1000, 8), 0x2000 | E_P | E_RW | E_A);
	/* It write-protects the page meanwhile: the retried walk faults. */
	ka_tables(E_P | E_RW, E_P | E_RW);
	race_gpa = 0x4008, race_xor = E_RW, race_times = 1;
	CHECK_EQ(ka(&c, KA_GVA, WR), 0x3);
	CHECK_EQ(get(0x4008, 8), 0x5000 | E_P);
	/* ... or unmaps the page table. */
	ka_tables(E_P | E_RW, E_P | E_RW);
	race_gpa = 0x3000, race_xor = E_P, race_times = 1;
	CHECK_EQ(ka(&c, KA_GVA, RD), 0x0);
	/* It never stops: the walk gives up without telling the guest. */
	ka_tables(E_P | E_RW, E_P | E_RW);
	race_gpa = 0x4008, race_xor = E_PWT, race_times = 1000;
	counters_reset();
	CHECK_EQ(guest_walk(&mem, &c, KA_GVA, WR, &r), WALK_RETRY);
	CHECK_EQ(r.status, WALK_RETRY);
	CHECK(n_cmpxchg_fail >= 2 && n_cmpxchg_fail <= 64);
	race_hook = NULL;
	race_times = 0;
}

/* ---------------------------------------------------------------------------
 * Fuzzing
 * ------------------------------------------------------------------------- */

#define FUZZ_MEM 0x8000u	/* 8 pages of random tables */

static u64 fuzz_entry(void)
{
	u64 r = rnd(), e = 0;

	if (r % 8)
		e |= E_P;
	/* Mostly pointing into the fuzz memory, sometimes anywhere. */
	if ((r >> 3) % 16)
		e |= rnd() % FUZZ_MEM & ~0xfffull;
	else
		e |= rnd() & 0x000ffffffffff000ull;
	/* Each flag bit with a bias, and sometimes any bit at all. */
	if ((r >> 8) % 2) e |= E_RW;
	if ((r >> 9) % 2) e |= E_US;
	if ((r >> 10) % 4 == 0) e |= E_A;
	if ((r >> 12) % 4 == 0) e |= E_D;
	if ((r >> 14) % 8 == 0) e |= E_PS;
	if ((r >> 17) % 8 == 0) e |= E_XD;
	if ((r >> 20) % 16 == 0) e |= BIT(rnd() % 64);
	if ((r >> 24) % 64 == 0) e = rnd();
	return e;
}

static bool valid_ec(u32 ec, const struct walk_ctx *c, u32 acc)
{
	bool fetch = acc & FE, implicit = acc & IMP;
	bool id = fetch && ((c->cr4 & CR4_SMEP) || ((c->cr4 & CR4_PAE) && (c->efer & EFER_NXE)));

	if (ec & ~0x1fu)
		return false;
	if ((ec & 8) && !(ec & 1))
		return false;
	if (!!(ec & 2) != ((acc & WR) && !fetch))
		return false;
	if (!!(ec & 4) != ((acc & USR) && !implicit))
		return false;
	return !!(ec & 0x10) == id;
}

TEST(fuzz_random_tables)
{
	static u8 before[FUZZ_MEM], expect[FUZZ_MEM];
	struct timespec t0, t;
	unsigned long iters = 0, ok = 0, pf = 0, bad = 0, nc = 0, retried = 0;
	const unsigned long max_iters = 400000;

	n_mismatch = 0;
	rng_state = 0x0123456789abcdefull;
	gm_size = FUZZ_MEM;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; iters < max_iters; iters++) {
		struct walk_ctx c = { 0 };
		struct ref_result ref, *r = &ref;
		struct walk_result g;
		enum walk_status st;
		u64 regs[4], gva;
		u32 acc;
		int fmt;
		bool exact = true;

		if ((iters & 1023) == 0) {
			/* New tables every 1024 walks. */
			for (u64 a = 0; a < FUZZ_MEM; a += 8)
				put(a, fuzz_entry(), 8);
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) >
			    2000000000L)
				break;
		}
		fmt = 1 + rnd() % 4;
		c.cr0 = CR0_PG | (rnd() % 2 ? CR0_WP : 0) | (rnd() % 16 == 0 ? BIT(0) : 0);
		if (rnd() % 64 == 0)
			c.cr0 &= ~CR0_PG;
		c.cr4 = (rnd() % 2 ? CR4_PSE : 0) | (rnd() % 2 ? CR4_SMEP : 0) |
			(rnd() % 2 ? CR4_SMAP : 0);
		c.efer = rnd() % 2 ? EFER_NXE : 0;
		if (fmt >= FMT_PAE)
			c.cr4 |= CR4_PAE;
		if (fmt >= FMT_4L) {
			c.efer |= EFER_LME | EFER_LMA;
			if (rnd() % 3 == 0)
				c.cr4 |= CR4_LA57;
		}
		c.rflags = rnd() % 2 ? RFLAGS_AC : 0;
		c.maxphyaddr = (u8)(rnd() % 4 == 0 ? rnd() % 64 : 36 + rnd() % 17);
		c.features = rnd() % 2 ? WALK_FEAT_1G_PAGES : 0;
		c.cr3 = rnd() % 32 ? (rnd() % FUZZ_MEM) : rnd();
		if (ref_fmt(&c) == FMT_PAE && rnd() % 2) {
			if (walk_load_pdptes(&mem, &c, regs) == WALK_OK)
				c.pdptes = regs;
		}
		gva = rnd();
		if (rnd() % 4)
			gva = (u64)((s64)(gva << 16) >> 16);
		acc = (u32)rnd() & (WR | USR | FE | IMP | 0x29);

		memcpy(before, gm, FUZZ_MEM);
		ref_walk(&c, gva, acc, &ref);
		counters_reset();
		st = guest_walk(&mem, &c, gva, acc, &g);
		describe_ctx(&c, gva, acc);
		n_cases++;

		/* Invariants, whatever the reference says. */
		switch (st) {
		case WALK_OK: {
			int m = ref_maxphy(&c);

			ok++;
			if (ref_fmt(&c) == FMT_32)
				m = m > 40 ? 40 : m;
			if (ref_fmt(&c) == FMT_32 && g.page_size == 4096)
				m = 32;
			if (ref_fmt(&c) != FMT_NONE && (g.gpa >> m))
				mismatch("gpa beyond MAXPHYADDR", g.gpa, m, r);
			if ((g.gpa ^ gva) & (g.page_size - 1) & 0xffffffffull)
				mismatch("page offset", g.gpa, gva, r);
			break;
		}
		case WALK_PAGE_FAULT:
			pf++;
			if (!valid_ec(g.error_code, &c, acc))
				mismatch("invalid error code", g.error_code, 0, r);
			if (!n_cmpxchg_fail && memcmp(before, gm, FUZZ_MEM))
				mismatch("memory written on a fault", 0, 0, r);
			break;
		case WALK_BAD_GPA:
			bad++;
			if (g.level < 1 || g.level > g.nlevels || in_mem(g.pte_gpa[g.level - 1], 4))
				mismatch("bad-gpa level", g.level, 0, r);
			break;
		case WALK_NONCANONICAL:
			nc++;
			break;
		default:
			mismatch("status", st, 0, r);
			break;
		}
		/* Exactly the reference, unless an A/D update found an entry
		 * changed by the walk itself (aliasing) while the PDPTEs are
		 * read from memory: a PDPTE aliased with a PDE/PTE can gain
		 * bit 5 (A there, reserved here) before the retried walk. */
		if (n_cmpxchg_fail) {
			retried++;
			if (ref_fmt(&c) == FMT_PAE && !c.pdptes)
				exact = false;
		}
		if (exact && same_result(&g, st, &ref)) {
			memcpy(expect, before, FUZZ_MEM);
			for (int l = ref.nlevels; st == WALK_OK && l >= ref.level; l--) {
				int esize = geo[ref_fmt(&c)].esize;
				u64 v = 0;

				if (ref_fmt(&c) == FMT_PAE && l == 3)
					continue;
				memcpy(&v, &expect[ref.ent_addr[l]], esize);
				v |= ref.upd[l];
				memcpy(&expect[ref.ent_addr[l]], &v, esize);
			}
			if (memcmp(expect, gm, FUZZ_MEM))
				mismatch("memory after the walk", 0, 0, r);
		}
		/* Undo the walk's A/D updates half of the time. */
		if (rnd() % 2)
			memcpy(gm, before, FUZZ_MEM);
	}
	gm_size = MEM_MAX;
	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("  fuzz: %lu walks in %.2f s: %lu ok, %lu #PF, %lu bad gpa, %lu non-canonical, "
	       "%lu repeated after a lost update\n",
	       iters, (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9, ok, pf, bad,
	       nc, retried);
	CHECK(iters >= 10000);
	CHECK(ok > 0 && pf > 0 && bad > 0 && nc > 0);
	CHECK_EQ(n_mismatch, 0);
	CHECK_EQ(bad_callbacks, 0);
}

int main(void)
{
	struct timespec t0, t1;

	gm = calloc(1, MEM_MAX);
	if (!gm)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	RUN(known_answers_wp_smap);
	RUN(known_answers_nx_smep_and_the_id_bit);
	RUN(known_answers_fault_order_and_ad_bits);
	RUN(known_answers_page_sizes_and_ps);
	RUN(known_answers_pae_pdptes);
	RUN(cr3_flag_bits_and_address_width);
	RUN(permission_matrix);
	RUN(every_bit_at_every_level);
	RUN(self_referencing_tables);
	RUN(tables_outside_guest_memory);
	RUN(racing_updates);
	RUN(fuzz_random_tables);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("walk: %lu walks compared with the reference in %.2f s\n", n_cases,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(gm);
	return unit_report("walk");
}
