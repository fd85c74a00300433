/* Checks on the guest-state area (Intel SDM vol. 3, 26.3.1) and the
 * VM-execution control fields (26.2.1), in the order the SDM lists them; the
 * first failing rule is named. Not all of them: enough to point at what
 * Umbra (or a guest it emulates for) could plausibly get wrong. VMs with EPT
 * run with "unrestricted guest"; shadow-paging VMs without it, where CR0.PE
 * and PG must be 1 and the segment rules of protected mode apply. */
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_guest_check.h"

#define CR0_PE BIT(0)
#define CR0_PG BIT(31)
#define CR4_PAE BIT(5)
#define CR4_PCIDE BIT(17)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_ALLOWED (BIT(0) | BIT(8) | BIT(10) | BIT(11))
#define RFLAGS_FIXED1 BIT(1)
#define RFLAGS_RESERVED (BIT(3) | BIT(5) | BIT(15) | ~0x3fffffull)
#define RFLAGS_IF BIT(9)
#define RFLAGS_VM BIT(17)
#define AR_RESERVED (0xf00u | 0xfffe0000u)
#define PDPTE_RESERVED (BIT(1) | BIT(2) | BIT(5) | BIT(6) | BIT(7) | BIT(8))
#define ACTIVITY_WAIT_FOR_SIPI 3
#define CR3_MAX_ADDR_BITS 52 /* no CPU has a wider physical address */

enum { ES, CS, SS, DS, FS, GS, LDTR, TR };

static const char *const seg_field[8][4] = {
	/* selector, base, limit, access rights */
	[ES] = { "GUEST_ES_SELECTOR", "GUEST_ES_BASE", "GUEST_ES_LIMIT", "GUEST_ES_ACCESS_RIGHTS" },
	[CS] = { "GUEST_CS_SELECTOR", "GUEST_CS_BASE", "GUEST_CS_LIMIT", "GUEST_CS_ACCESS_RIGHTS" },
	[SS] = { "GUEST_SS_SELECTOR", "GUEST_SS_BASE", "GUEST_SS_LIMIT", "GUEST_SS_ACCESS_RIGHTS" },
	[DS] = { "GUEST_DS_SELECTOR", "GUEST_DS_BASE", "GUEST_DS_LIMIT", "GUEST_DS_ACCESS_RIGHTS" },
	[FS] = { "GUEST_FS_SELECTOR", "GUEST_FS_BASE", "GUEST_FS_LIMIT", "GUEST_FS_ACCESS_RIGHTS" },
	[GS] = { "GUEST_GS_SELECTOR", "GUEST_GS_BASE", "GUEST_GS_LIMIT", "GUEST_GS_ACCESS_RIGHTS" },
	[LDTR] = { "GUEST_LDTR_SELECTOR", "GUEST_LDTR_BASE", "GUEST_LDTR_LIMIT",
		   "GUEST_LDTR_ACCESS_RIGHTS" },
	[TR] = { "GUEST_TR_SELECTOR", "GUEST_TR_BASE", "GUEST_TR_LIMIT", "GUEST_TR_ACCESS_RIGHTS" },
};
enum { F_SEL, F_BASE, F_LIMIT, F_AR };

static bool fail(struct vmx_check_failure *f, const char *field, const char *rule)
{
	f->field = field;
	f->rule = rule;
	return false;
}

static bool canonical(u64 a)
{
	return (u64)((s64)(a << 16) >> 16) == a;
}

/* 26.3.1.2: the granularity bit must agree with the limit. */
static bool limit_matches_g(const struct vmx_seg_state *s)
{
	if ((s->limit & 0xfff) != 0xfff && (s->ar & AR_G))
		return false;
	if ((s->limit & 0xfff00000) && !(s->ar & AR_G))
		return false;
	return true;
}

static u32 dpl(const struct vmx_seg_state *s) { return (s->ar >> AR_DPL_SHIFT) & 3; }
static u32 type(const struct vmx_seg_state *s) { return s->ar & AR_TYPE_MASK; }
static bool usable(const struct vmx_seg_state *s) { return !(s->ar & AR_UNUSABLE); }

/* 26.3.1.1 */
static bool check_control_registers(const struct vmx_config *c, const struct vmx_guest_state *g,
				    struct vmx_check_failure *f)
{
	bool ia32e = g->entry_ctls & ENTRY_IA32E_MODE_GUEST;
	bool ug = g->proc2 & PROC2_UNRESTRICTED_GUEST;
	/* Without unrestricted guest FIXED0 applies in full (PE, PG). */
	u64 must1 = ug ? c->guest_cr0_must1 : c->host_cr0_must1;
	if (!ug && (must1 & ~g->cr0 & (CR0_PE | CR0_PG)))
		return fail(f, "GUEST_CR0", "PE and PG must be 1 without unrestricted guest (a guest "
					    "in real mode or with paging off cannot run this way)");
	if ((g->cr0 & must1) != must1)
		return fail(f, "GUEST_CR0", "a bit VMX fixes to 1 is clear (IA32_VMX_CR0_FIXED0, e.g. NE)");
	if (g->cr0 & c->guest_cr0_must0)
		return fail(f, "GUEST_CR0", "a bit VMX fixes to 0 is set (IA32_VMX_CR0_FIXED1)");
	if ((g->cr0 & CR0_PG) && !(g->cr0 & CR0_PE))
		return fail(f, "GUEST_CR0", "PG set without PE");
	if ((g->cr4 & c->guest_cr4_must1) != c->guest_cr4_must1)
		return fail(f, "GUEST_CR4", "a bit VMX fixes to 1 is clear (IA32_VMX_CR4_FIXED0, e.g. VMXE)");
	if (g->cr4 & c->guest_cr4_must0)
		return fail(f, "GUEST_CR4", "a bit VMX fixes to 0 is set (IA32_VMX_CR4_FIXED1)");
	if (g->cr3 >> CR3_MAX_ADDR_BITS)
		return fail(f, "GUEST_CR3", "bits beyond the physical-address width must be 0");
	if (g->dr7 >> 32)
		return fail(f, "GUEST_DR7", "bits 63:32 must be 0");
	if (ia32e && !((g->cr0 & CR0_PG) && (g->cr4 & CR4_PAE)))
		return fail(f, "VM-entry controls",
			    "IA-32e mode guest is set but guest CR0.PG or CR4.PAE is clear");
	if (!ia32e && (g->cr4 & CR4_PCIDE))
		return fail(f, "GUEST_CR4", "PCIDE set outside IA-32e mode");
	/* EFER and PAT are checked only when VM entry loads them. */
	bool load_efer = g->entry_ctls & ENTRY_LOAD_IA32_EFER;
	if (load_efer && (g->efer & ~EFER_ALLOWED))
		return fail(f, "GUEST_IA32_EFER", "reserved bits set");
	if (load_efer && !(g->efer & EFER_LMA) != !ia32e)
		return fail(f, "GUEST_IA32_EFER", "LMA differs from the VM-entry control IA-32e mode guest");
	if (load_efer && (g->cr0 & CR0_PG) && !(g->efer & EFER_LME) != !(g->efer & EFER_LMA))
		return fail(f, "GUEST_IA32_EFER", "LME differs from LMA while CR0.PG is set");
	for (int i = 0; (g->entry_ctls & ENTRY_LOAD_IA32_PAT) && i < 8; i++) {
		u8 t = (g->pat >> (i * 8)) & 0xff;
		if (t == 2 || t == 3 || t > 7)
			return fail(f, "GUEST_IA32_PAT", "an entry is not a valid memory type");
	}
	return true;
}

/* 26.3.1.2, virtual-8086 mode (RFLAGS.VM=1): CS, SS, DS, ES, FS and GS as
 * a real-mode segment of the selector, DPL 3. */
static bool check_vm86_segments(const struct vmx_guest_state *g, struct vmx_check_failure *f)
{
	static const int order[] = { CS, SS, DS, ES, FS, GS };
	for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
		const struct vmx_seg_state *s = &g->seg[order[i]];
		if (s->base != (u64)s->sel << 4)
			return fail(f, seg_field[order[i]][F_BASE],
				    "must be the selector times 16 in virtual-8086 mode");
		if (s->limit != 0xffff)
			return fail(f, seg_field[order[i]][F_LIMIT],
				    "must be FFFFH in virtual-8086 mode");
		if (s->ar != 0xf3)
			return fail(f, seg_field[order[i]][F_AR], "must be F3H in virtual-8086 mode");
	}
	return true;
}

/* 26.3.1.2, CS and SS. real: CR0.PE=0 (real mode, with unrestricted guest);
 * ug: unrestricted guest. */
static bool check_cs_ss(const struct vmx_guest_state *g, bool real, bool ug,
			struct vmx_check_failure *f)
{
	const struct vmx_seg_state *cs = &g->seg[CS], *ss = &g->seg[SS];
	bool ia32e = g->entry_ctls & ENTRY_IA32E_MODE_GUEST;
	const char *csar = seg_field[CS][F_AR], *ssar = seg_field[SS][F_AR];
	u32 t = type(cs);
	if (!ug && (ss->sel & 3) != (cs->sel & 3))
		return fail(f, seg_field[SS][F_SEL],
			    "RPL must equal CS.RPL without unrestricted guest");
	if (cs->base >> 32)
		return fail(f, seg_field[CS][F_BASE], "bits 63:32 must be 0");
	if (!ug && !(t == 9 || t == 11 || t == 13 || t == 15))
		return fail(f, csar, "type must be an accessed code segment (9, 11, 13, 15) without "
				     "unrestricted guest");
	if (!(t == 3 || t == 9 || t == 11 || t == 13 || t == 15))
		return fail(f, csar, "type must be 3 (read/write data) or an accessed code segment "
				     "(9, 11, 13, 15)");
	if (!(cs->ar & AR_S) || !(cs->ar & AR_P))
		return fail(f, csar, "S and P must be 1");
	if (t == 3 && dpl(cs) != 0)
		return fail(f, csar, "DPL must be 0 for a type-3 (real-mode) CS");
	if ((t == 9 || t == 11) && usable(ss) && dpl(cs) != dpl(ss))
		return fail(f, csar, "DPL must equal SS.DPL for non-conforming code");
	if ((t == 13 || t == 15) && usable(ss) && dpl(cs) > dpl(ss))
		return fail(f, csar, "DPL must not exceed SS.DPL for conforming code");
	if (cs->ar & AR_RESERVED)
		return fail(f, csar, "reserved bits 11:8 or 31:17 set");
	if (!limit_matches_g(cs))
		return fail(f, seg_field[CS][F_LIMIT], "does not match the G bit");
	if (ia32e && (cs->ar & AR_L) && (cs->ar & AR_DB))
		return fail(f, csar, "L and D/B both set");
	if (ss->base >> 32)
		return fail(f, seg_field[SS][F_BASE], "bits 63:32 must be 0");
	if (!usable(ss))
		return true;
	if (type(ss) != 3 && type(ss) != 7)
		return fail(f, ssar, "type must be read/write data (3 or 7)");
	if (!(ss->ar & AR_S) || !(ss->ar & AR_P))
		return fail(f, ssar, "S and P must be 1");
	if (!ug && dpl(ss) != (ss->sel & 3u))
		return fail(f, ssar, "DPL must equal the selector's RPL without unrestricted guest");
	if ((real || t == 3) && dpl(ss) != 0)
		return fail(f, ssar, "DPL must be 0 in real mode or with a type-3 CS");
	if (ss->ar & AR_RESERVED)
		return fail(f, ssar, "reserved bits 11:8 or 31:17 set");
	if (!limit_matches_g(ss))
		return fail(f, seg_field[SS][F_LIMIT], "does not match the G bit");
	return true;
}

/* 26.3.1.2, DS, ES, FS, GS. ug: unrestricted guest. */
static bool check_data_segments(const struct vmx_guest_state *g, bool ug,
				struct vmx_check_failure *f)
{
	static const int order[] = { DS, ES, FS, GS };
	for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
		int n = order[i];
		const struct vmx_seg_state *s = &g->seg[n];
		if ((n == FS || n == GS) && !canonical(s->base))
			return fail(f, seg_field[n][F_BASE], "not canonical");
		if ((n == DS || n == ES) && usable(s) && (s->base >> 32))
			return fail(f, seg_field[n][F_BASE], "bits 63:32 must be 0");
		if (!usable(s))
			continue;
		const char *ar = seg_field[n][F_AR];
		if (!(type(s) & 1))
			return fail(f, ar, "type must have the accessed bit set");
		if ((type(s) & 8) && !(type(s) & 2))
			return fail(f, ar, "a code segment here must be readable");
		if (!ug && type(s) <= 11 && dpl(s) < (s->sel & 3u))
			return fail(f, ar, "DPL below the selector's RPL (data or non-conforming code, "
					   "without unrestricted guest)");
		if (!(s->ar & AR_S) || !(s->ar & AR_P))
			return fail(f, ar, "S and P must be 1");
		if (s->ar & AR_RESERVED)
			return fail(f, ar, "reserved bits 11:8 or 31:17 set");
		if (!limit_matches_g(s))
			return fail(f, seg_field[n][F_LIMIT], "does not match the G bit");
	}
	return true;
}

/* 26.3.1.2, TR and LDTR. */
static bool check_system_segments(const struct vmx_guest_state *g, struct vmx_check_failure *f)
{
	const struct vmx_seg_state *tr = &g->seg[TR], *ldtr = &g->seg[LDTR];
	bool ia32e = g->entry_ctls & ENTRY_IA32E_MODE_GUEST;
	const char *trar = seg_field[TR][F_AR];
	if (tr->sel & 4)
		return fail(f, seg_field[TR][F_SEL], "TI must be 0");
	if (!canonical(tr->base))
		return fail(f, seg_field[TR][F_BASE], "not canonical");
	if (!usable(tr))
		return fail(f, trar, "TR must be usable");
	if (!(type(tr) == 11 || (!ia32e && type(tr) == 3)))
		return fail(f, trar, "type must be a busy TSS (11, or 3 outside IA-32e mode)");
	if ((tr->ar & AR_S) || !(tr->ar & AR_P))
		return fail(f, trar, "S must be 0 and P 1");
	if (tr->ar & AR_RESERVED)
		return fail(f, trar, "reserved bits 11:8 or 31:17 set");
	if (!limit_matches_g(tr))
		return fail(f, seg_field[TR][F_LIMIT], "does not match the G bit");
	if (!usable(ldtr))
		return true;
	if (ldtr->sel & 4)
		return fail(f, seg_field[LDTR][F_SEL], "TI must be 0");
	if (!canonical(ldtr->base))
		return fail(f, seg_field[LDTR][F_BASE], "not canonical");
	if (type(ldtr) != 2 || (ldtr->ar & AR_S) || !(ldtr->ar & AR_P))
		return fail(f, seg_field[LDTR][F_AR], "must be an LDT (type 2, S 0, P 1) or unusable");
	if (ldtr->ar & AR_RESERVED)
		return fail(f, seg_field[LDTR][F_AR], "reserved bits 11:8 or 31:17 set");
	if (!limit_matches_g(ldtr))
		return fail(f, seg_field[LDTR][F_LIMIT], "does not match the G bit");
	return true;
}

/* 26.3.1.3 descriptor tables, 26.3.1.4 RIP/RFLAGS, 26.3.1.5 non-register
 * state, 26.3.1.6 PDPTEs. */
static bool check_other_state(const struct vmx_guest_state *g, struct vmx_check_failure *f)
{
	bool ia32e = g->entry_ctls & ENTRY_IA32E_MODE_GUEST;
	bool cs_l = g->seg[CS].ar & AR_L;
	if (!canonical(g->gdtr_base))
		return fail(f, "GUEST_GDTR_BASE", "not canonical");
	if (!canonical(g->idtr_base))
		return fail(f, "GUEST_IDTR_BASE", "not canonical");
	if (g->gdtr_limit >> 16)
		return fail(f, "GUEST_GDTR_LIMIT", "bits 31:16 must be 0");
	if (g->idtr_limit >> 16)
		return fail(f, "GUEST_IDTR_LIMIT", "bits 31:16 must be 0");
	if (!(ia32e && cs_l) && (g->rip >> 32))
		return fail(f, "GUEST_RIP", "bits 63:32 must be 0 outside 64-bit mode");
	if (!(g->rflags & RFLAGS_FIXED1) || (g->rflags & RFLAGS_RESERVED))
		return fail(f, "GUEST_RFLAGS", "bit 1 must be 1 and bits 3, 5, 15, 63:22 must be 0");
	if ((ia32e || !(g->cr0 & CR0_PE)) && (g->rflags & RFLAGS_VM))
		return fail(f, "GUEST_RFLAGS", "VM set in IA-32e mode or in real mode");
	bool ext_int = (g->entry_intr_info & INTR_INFO_VALID) &&
		       ((g->entry_intr_info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT) ==
			       INTR_TYPE_EXTERNAL;
	if (ext_int && !(g->rflags & RFLAGS_IF))
		return fail(f, "GUEST_RFLAGS", "IF is 0 while an external interrupt is injected");
	if (g->activity > ACTIVITY_HLT && g->activity != ACTIVITY_WAIT_FOR_SIPI)
		return fail(f, "GUEST_ACTIVITY_STATE", "not active, HLT or wait-for-SIPI");
	if (g->activity == ACTIVITY_HLT && dpl(&g->seg[SS]) != 0)
		return fail(f, "GUEST_ACTIVITY_STATE", "HLT with SS.DPL other than 0");
	u32 in = g->interruptibility;
	const char *intr = "GUEST_INTERRUPTIBILITY_INFO";
	if (in >> 5)
		return fail(f, intr, "reserved bits 31:5 set");
	if ((in & INTERRUPTIBILITY_STI) && (in & INTERRUPTIBILITY_MOV_SS))
		return fail(f, intr, "blocking by STI and by MOV SS both set");
	if ((in & INTERRUPTIBILITY_STI) && !(g->rflags & RFLAGS_IF))
		return fail(f, intr, "blocking by STI with RFLAGS.IF=0");
	if (ext_int && (in & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)))
		return fail(f, intr, "STI or MOV SS blocking while an external interrupt is injected");
	if (g->link_pointer != VMCS_LINK_POINTER_NONE)
		return fail(f, "VMCS_LINK_POINTER", "must be all ones (no VMCS shadowing)");
	/* Without EPT VM entry loads the PDPTEs from CR3 (26.3.2.4) and checks
	 * them there, in memory this code does not see. */
	bool pae_paging = (g->cr0 & CR0_PG) && (g->cr4 & CR4_PAE) && !ia32e &&
			  (g->proc2 & PROC2_ENABLE_EPT);
	for (int i = 0; pae_paging && i < 4; i++)
		if ((g->pdpte[i] & 1) && (g->pdpte[i] & PDPTE_RESERVED))
			return fail(f, "GUEST_PDPTEn", "a present PDPTE has reserved bits set");
	return true;
}

bool vmx_check_guest_state(const struct vmx_config *c, const struct vmx_guest_state *g,
			   struct vmx_check_failure *f)
{
	bool real = !(g->cr0 & CR0_PE);
	bool ug = g->proc2 & PROC2_UNRESTRICTED_GUEST;
	if (!check_control_registers(c, g, f))
		return false;
	/* The protected-mode segment rules do not apply in virtual-8086 mode. */
	bool segs = (g->rflags & RFLAGS_VM) && !real
			    ? check_vm86_segments(g, f)
			    : check_cs_ss(g, real, ug, f) && check_data_segments(g, ug, f);
	return segs && check_system_segments(g, f) && check_other_state(g, f);
}

static const char *check_one(u64 cap, u32 value, const char *field)
{
	u32 must_be_1 = (u32)cap, may_be_1 = (u32)(cap >> 32);
	if ((value & must_be_1) != must_be_1 || (value & ~may_be_1))
		return field;
	return NULL;
}

const char *vmx_check_controls(const struct vmx_cap_msrs *m, u32 pin, u32 proc, u32 proc2,
			       u32 exit, u32 entry)
{
	bool t = m->basic & VMX_BASIC_TRUE_CTLS;
	const char *why = check_one(t ? m->true_pinbased : m->pinbased, pin,
				    "pin-based VM-execution controls (IA32_VMX_PINBASED_CTLS)");
	if (!why)
		why = check_one(t ? m->true_procbased : m->procbased, proc,
				"primary processor-based controls (IA32_VMX_PROCBASED_CTLS)");
	if (!why && (proc & PROC_ACTIVATE_SECONDARY_CONTROLS))
		why = check_one(m->procbased2, proc2,
				"secondary processor-based controls (IA32_VMX_PROCBASED_CTLS2)");
	if (!why)
		why = check_one(t ? m->true_exit : m->exit, exit,
				"VM-exit controls (IA32_VMX_EXIT_CTLS)");
	if (!why)
		why = check_one(t ? m->true_entry : m->entry, entry,
				"VM-entry controls (IA32_VMX_ENTRY_CTLS)");
	return why;
}
