/*
 * Guest page-table walks for reading guest memory by virtual address. See
 * virt/gva.h for what this checks and what it deliberately does not.
 */
#include "virt/gva.h"

/* Control-register and EFER bits that select the paging mode (SDM Vol. 3A
 * §2.5, §2.2.1, Table 4-1). Same spelling as arch/x86/cpu.h. */
#define CR0_PG		BIT(31)
#define CR4_PSE		BIT(4)
#define CR4_PAE		BIT(5)
#define CR4_LA57	BIT(12)
#define EFER_LMA	BIT(10)

/* Paging-structure entry bits common to all modes (SDM Vol. 3A §4.3-§4.5). */
#define PTE_P		BIT(0)	/* present */
#define PTE_PS		BIT(7)	/* page size: this entry maps a page */

/* 32-bit paging (§4.3): 4 KiB tables of 1024 4-byte entries. */
#define PG32_ADDR_MASK		0xfffff000u	/* CR3, PDE, PTE: bits 31:12 */
#define PG32_4M_ADDR_MASK	0xffc00000u	/* 4 MiB PDE: bits 31:22 */
#define PG32_4M_HI_SHIFT	13		/* PDE bits 20:13 ... */
#define PG32_4M_HI_MASK		0xffu		/* ... are PA bits 39:32 (PSE-36) */

/* PAE and 4/5-level paging (§4.4, §4.5): 512 8-byte entries per table;
 * addresses are bits 51:12 at most (MAXPHYADDR <= 52). The bits above
 * (XD, protection keys, ignored bits) are not part of the address. */
#define PTE_ADDR_MASK		0x000ffffffffff000ull
#define PAE_CR3_MASK		0xffffffe0u	/* PDPT: CR3 bits 31:5 (§4.4.1) */

#define PT_INDEX_BITS		9
#define PT_ENTRIES		512u

static bool read_u32(const struct gpa_access *m, u64 gpa, u32 *v)
{
	return m->read(m->ctx, gpa, v, sizeof(*v));
}

static bool read_u64(const struct gpa_access *m, u64 gpa, u64 *v)
{
	return m->read(m->ctx, gpa, v, sizeof(*v));
}

/* §4.1.1: without paging, linear addresses (32 bits outside IA-32e mode,
 * which requires paging) are physical addresses. */
static bool walk_none(u64 gva, u64 *gpa)
{
	*gpa = (u32)gva;
	return true;
}

/* §4.3: 32-bit paging, with 4 MiB pages when CR4.PSE = 1 (Table 4-4). A
 * 4 MiB PDE's bits 20:13 give physical-address bits 39:32 (PSE-36); on a
 * CPU with a smaller MAXPHYADDR they are reserved and the CPU would have
 * faulted instead, so taking them as given is harmless. */
static bool walk_32(const struct gpa_access *m, const struct guest_paging *p,
		    u64 gva, u64 *gpa)
{
	u32 la = (u32)gva, pde, pte;

	if (!read_u32(m, ((u32)p->cr3 & PG32_ADDR_MASK) + (la >> 22) * 4, &pde) ||
	    !(pde & PTE_P))
		return false;
	if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) {
		*gpa = (pde & PG32_4M_ADDR_MASK) |
		       ((u64)((pde >> PG32_4M_HI_SHIFT) & PG32_4M_HI_MASK) << 32) |
		       (la & 0x3fffffu);
		return true;
	}
	if (!read_u32(m, (pde & PG32_ADDR_MASK) + ((la >> 12) & 0x3ffu) * 4, &pte) ||
	    !(pte & PTE_P))
		return false;
	*gpa = (pte & PG32_ADDR_MASK) | (la & 0xfffu);
	return true;
}

/*
 * Walks 8-byte-entry tables from `table` at level `level` (5 = PML5, 4 =
 * PML4, 3 = PDPT, 2 = PD, 1 = PT) down to a page. PS = 1 maps a 1 GiB page
 * at level 3 and a 2 MiB page at level 2 (§4.5.4, Tables 4-16 and 4-18);
 * at levels 4 and 5 PS is reserved, so such a walk fails. The level count
 * is fixed, so a table that points at itself ends the walk all the same.
 */
static bool walk_64(const struct gpa_access *m, u64 table, u64 va,
		    unsigned level, u64 *gpa)
{
	for (; level >= 1; level--) {
		unsigned shift = PAGE_SHIFT + PT_INDEX_BITS * (level - 1);
		u64 idx = (va >> shift) & (PT_ENTRIES - 1);
		u64 e;

		if (!read_u64(m, table + idx * 8, &e) || !(e & PTE_P))
			return false;
		if (level == 1 || (e & PTE_PS)) {
			u64 offset_mask = (1ull << shift) - 1;

			if (level > 3)
				return false;
			*gpa = (e & PTE_ADDR_MASK & ~offset_mask) | (va & offset_mask);
			return true;
		}
		table = e & PTE_ADDR_MASK;
	}
	return false;
}

/*
 * §4.4: PAE paging. The CPU loads the four PDPTEs into internal registers
 * when CR3 is loaded (§4.4.1) and does not re-read them during a walk;
 * reading them from memory now is a simplification that only differs if the
 * guest edited its PDPT without reloading CR3, which is acceptable for
 * fetching bytes of an instruction that just exited. For the same reason a
 * PDPTE's reserved bits are not checked: they could only be set since the
 * load (a load with them #GPs), and the CPU used the loaded value.
 */
static bool walk_pae(const struct gpa_access *m, const struct guest_paging *p,
		     u64 gva, u64 *gpa)
{
	u32 la = (u32)gva;
	u64 pdpte;

	if (!read_u64(m, ((u32)p->cr3 & PAE_CR3_MASK) + (la >> 30) * 8, &pdpte) ||
	    !(pdpte & PTE_P))
		return false;
	return walk_64(m, pdpte & PTE_ADDR_MASK, la, 2, gpa);
}

/* §4.5: bits 63:(va_bits-1) of a linear address must all be equal. */
static bool is_canonical(u64 va, unsigned va_bits)
{
	s64 sext = (s64)(va << (64 - va_bits)) >> (64 - va_bits);

	return (u64)sext == va;
}

/* §4.5: 4-level paging (48-bit) or, with CR4.LA57, 5-level (57-bit). CR3
 * bits 11:0 may hold a PCID and bit 63 is not stored, so only the address
 * bits are used. */
static bool walk_long(const struct gpa_access *m, const struct guest_paging *p,
		      u64 gva, u64 *gpa)
{
	unsigned levels = (p->cr4 & CR4_LA57) ? 5 : 4;

	if (!is_canonical(gva, PAGE_SHIFT + PT_INDEX_BITS * levels))
		return false;
	return walk_64(m, p->cr3 & PTE_ADDR_MASK, gva, levels, gpa);
}

bool gva_translate(const struct gpa_access *m, const struct guest_paging *p,
		   u64 gva, u64 *gpa)
{
	if (!(p->cr0 & CR0_PG))
		return walk_none(gva, gpa);
	if (p->efer & EFER_LMA)
		return walk_long(m, p, gva, gpa);
	if (p->cr4 & CR4_PAE)
		return walk_pae(m, p, gva, gpa);
	return walk_32(m, p, gva, gpa);
}

bool guest_read_virt(const struct gpa_access *m, const struct guest_paging *p,
		     u64 gva, void *dst, size_t len)
{
	u8 *out = dst;

	while (len) {
		size_t chunk = MIN(len, PAGE_SIZE - (gva & (PAGE_SIZE - 1)));
		u64 gpa;

		if (!gva_translate(m, p, gva, &gpa) ||
		    !m->read(m->ctx, gpa, out, chunk))
			return false;
		out += chunk;
		len -= chunk;
		gva += chunk;
	}
	return true;
}
