/*
 * VMX control computation from capability MSR values (arch/x86/vmx/
 * vmx_controls.c) and the guest-state / control checks that name the field
 * behind a failed VM entry (vmx_guest_check.c). Capability sets: a Skylake-
 * class CPU with everything, and variations lacking TRUE controls, EPT,
 * secondary controls, unrestricted guest, VPID, INVVPID, single-context
 * INVEPT, a TPR shadow, or an EFER control: each must give a clear refusal
 * or a working fallback. Without EPT (or unrestricted guest) the fallback is
 * shadow paging for every VM; its per-VM controls (vmx_vm_controls) must
 * satisfy the capability MSRs and intercept what the shadow MMU needs.
 */
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx_controls.h"
#include "arch/x86/vmx/vmx_guest_check.h"
#include "tests/unit/unit.h"

#define CR0_PE BIT(0)
#define CR0_TS BIT(3)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR0_PG BIT(31)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_PGE BIT(7)
#define CR4_VMXE BIT(13)
#define EFER_SCE BIT(0)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)
#define PAGING_EXITS (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING)

/* Values a Skylake server reports (bit meanings in SDM vol. 3, appendix A). */
static struct vmx_cap_msrs skylake(void)
{
	return (struct vmx_cap_msrs){
		/* revision 4, 1 KiB region, WB, INS/OUTS info, TRUE controls */
		.basic = 0x00da040000000004ull,
		.pinbased = 0x0000007f00000016ull,
		.true_pinbased = 0x0000007f00000016ull,
		.procbased = 0xfff9fffe0401e172ull,
		.true_procbased = 0xfff9fffe04006172ull,
		.exit = 0x01ffffff00036dffull,
		.true_exit = 0x01ffffff00036dfbull,
		.entry = 0x0003ffff000011ffull,
		.true_entry = 0x0003ffff000011fbull,
		.procbased2 = 0x007fffff00000000ull,
		.ept_vpid_cap = 0x00000f0106734141ull,
		.misc = 0x7004c1e7ull,
		.cr0_fixed0 = 0x80000021ull,
		.cr0_fixed1 = 0xffffffffull,
		.cr4_fixed0 = 0x2000ull,
		.cr4_fixed1 = 0x3767ffull,
	};
}

static bool contains(const char *s, const char *part)
{
	return s && strstr(s, part);
}

TEST(skylake_controls)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.refusal == NULL);
	CHECK_EQ(c.revision, 4);
	CHECK_EQ(c.pin & (PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING),
		 PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING);
	CHECK_EQ(c.pin & (PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER | PIN_POSTED_INTERRUPTS), 0);
	u32 want_proc = PROC_HLT_EXITING | PROC_USE_TSC_OFFSETTING | PROC_USE_IO_BITMAPS |
			PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY_CONTROLS |
			PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_USE_TPR_SHADOW;
	CHECK_EQ(c.proc & want_proc, want_proc);
	CHECK_EQ(c.proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING |
			   PROC_INTERRUPT_WINDOW_EXITING | PROC_CR8_LOAD_EXITING |
			   PROC_CR8_STORE_EXITING | PROC_RDTSC_EXITING | PROC_MOV_DR_EXITING |
			   PROC_UNCONDITIONAL_IO_EXITING), 0);
	/* The default1 bits of the TRUE MSR stay set. */
	CHECK_EQ(c.proc & 0x04006172u, 0x04006172u);
	CHECK_EQ(c.proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID |
			    PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID),
		 PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID |
			 PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID);
	CHECK_EQ(c.proc2 & (PROC2_ENABLE_PML | PROC2_VMCS_SHADOWING | PROC2_EPT_VIOLATION_VE), 0);
	u32 want_exit = EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER |
			EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT | EXIT_SAVE_DEBUG_CONTROLS;
	CHECK_EQ(c.exit & want_exit, want_exit);
	CHECK_EQ(c.exit & EXIT_ACK_INTERRUPT_ON_EXIT, 0);
	u32 want_entry = ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT | ENTRY_LOAD_DEBUG_CONTROLS;
	CHECK_EQ(c.entry & want_entry, want_entry);
	CHECK_EQ(c.entry & ENTRY_IA32E_MODE_GUEST, 0);
	CHECK(c.vpid);
	CHECK(c.vpid_fallback == NULL);
	CHECK_EQ(c.invvpid_type, INVVPID_TYPE_SINGLE_CONTEXT);
	CHECK_EQ(c.invept_type, INVEPT_TYPE_SINGLE_CONTEXT);
	CHECK(c.tpr_shadow);
	CHECK(c.inout_info);
	CHECK(c.exit_saves_lma);
	CHECK_EQ(c.eptp_flags, 0x1e); /* WB, 4-level walk, no A/D */
	/* Every result must itself satisfy the capability MSRs. */
	CHECK(vmx_check_controls(&m, c.pin, c.proc, c.proc2, c.exit, c.entry) == NULL);
	CHECK(vmx_check_controls(&m, c.pin, c.proc | PROC_INTERRUPT_WINDOW_EXITING, c.proc2, c.exit,
				 c.entry | ENTRY_IA32E_MODE_GUEST) == NULL);
}

TEST(skylake_cr_fixed_bits)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK_EQ(c.host_cr0_must1, CR0_PE | CR0_NE | CR0_PG);
	CHECK_EQ(c.guest_cr0_must1, CR0_NE); /* unrestricted guest frees PE and PG */
	CHECK_EQ(c.guest_cr0_must0, 0);
	CHECK_EQ(c.cr0_guest_host_mask, CR0_NE | CR0_CD | CR0_NW);
	CHECK_EQ(c.guest_cr4_must1, CR4_VMXE);
	CHECK_EQ(c.cr4_guest_host_mask, CR4_VMXE | (~0x3767ffull & 0xffffffffull));
	/* Multiboot entry: the guest writes PE|ET, the CPU runs with NE too,
	 * and the guest reads back what it wrote. */
	u64 real = vmx_guest_cr0_real(&c, CR0_PE | CR0_ET);
	CHECK_EQ(real, CR0_PE | CR0_ET | CR0_NE);
	CHECK_EQ(vmx_cr_guest_view(real, CR0_PE | CR0_ET, c.cr0_guest_host_mask), CR0_PE | CR0_ET);
	/* A guest that turns paging on without NE: real NE stays, view has none. */
	u64 g = CR0_PE | CR0_ET | CR0_PG;
	CHECK_EQ(vmx_cr_guest_view(vmx_guest_cr0_real(&c, g), g, c.cr0_guest_host_mask), g);
	/* Caches off in the guest's view only: the real CD/NW are the host's. */
	g |= CR0_CD | CR0_NW;
	CHECK_EQ(vmx_guest_cr0_real(&c, g), CR0_PE | CR0_ET | CR0_PG | CR0_NE);
	CHECK_EQ(vmx_cr_guest_view(vmx_guest_cr0_real(&c, g) | CR0_CD, g, c.cr0_guest_host_mask), g);
	CHECK_EQ(vmx_guest_cr4_real(&c, CR4_PAE), CR4_PAE | CR4_VMXE);
	CHECK_EQ(vmx_cr_guest_view(vmx_guest_cr4_real(&c, CR4_PAE), CR4_PAE, c.cr4_guest_host_mask),
		 CR4_PAE);
}

TEST(cr0_fixed1_reserved_bits_are_shadowed)
{
	struct vmx_cap_msrs m = skylake();
	m.cr0_fixed1 = 0xe005003full; /* only architecturally defined bits may be 1 */
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK_EQ(c.guest_cr0_must0, ~0xe005003full & 0xffffffffull);
	CHECK_EQ(c.cr0_guest_host_mask, CR0_NE | (~0xe005003full & 0xffffffffull) | CR0_CD | CR0_NW);
	CHECK_EQ(vmx_guest_cr0_real(&c, CR0_PE | BIT(7)), CR0_PE | CR0_NE);
}

/* The controls of a shadow-paging VM: what the shadow MMU needs, and
 * values the CPU accepts, with the bits toggled at run time either way. */
static void check_shadow_controls(const struct vmx_cap_msrs *m, const struct vmx_config *c)
{
	struct vmx_vm_controls s;
	CHECK(c->shadow);
	CHECK(c->shadow_missing == NULL);
	CHECK(vmx_vm_controls(c, true, &s));
	CHECK_EQ(s.proc & PAGING_EXITS, PAGING_EXITS);
	CHECK_EQ(s.proc & ~PAGING_EXITS, c->proc & ~PAGING_EXITS);
	CHECK_EQ(s.proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_INVPCID), 0);
	CHECK_EQ(s.exception_bitmap, BIT(14) | BIT(18)); /* #PF, #MC */
	CHECK_EQ(s.pfec_mask, 0);
	CHECK_EQ(s.pfec_match, 0);
	CHECK_EQ(s.cr0_guest_host_mask, ~0ull);
	CHECK_EQ(s.cr4_guest_host_mask, ~0ull);
	CHECK_EQ(s.cr0_must1 & (CR0_PE | CR0_PG | CR0_NE), CR0_PE | CR0_PG | CR0_NE);
	CHECK(!s.unrestricted_guest);
	u32 proc2 = (s.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) ? s.proc2 : 0;
	CHECK(vmx_check_controls(m, c->pin, s.proc, proc2, c->exit, c->entry) == NULL);
	CHECK(vmx_check_controls(m, c->pin, s.proc | PROC_INTERRUPT_WINDOW_EXITING, proc2, c->exit,
				 c->entry | ENTRY_IA32E_MODE_GUEST) == NULL);
}

TEST(without_true_controls_cr3_exiting_cannot_be_cleared)
{
	/* CR3-load/store exiting are default1 in the old MSR: no EPT VMs, but
	 * shadow paging, which needs them anyway. */
	struct vmx_cap_msrs m = skylake();
	m.basic &= ~VMX_BASIC_TRUE_CTLS;
	m.true_procbased = 0; /* must be ignored */
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(contains(c.tdp_fallback, "cannot clear"));
	CHECK_STR(c.tdp_fallback_detail, "primary: CR3-load exiting");
	struct vmx_vm_controls t;
	CHECK(!vmx_vm_controls(&c, false, &t));
	check_shadow_controls(&m, &c);
}

TEST(without_true_controls_but_clearable_ok)
{
	/* A CPU whose old MSRs already allow the default1 bits to be 0. */
	struct vmx_cap_msrs m = skylake();
	m.basic &= ~VMX_BASIC_TRUE_CTLS;
	m.procbased = m.true_procbased;
	m.true_procbased = 0;
	m.pinbased = m.true_pinbased;
	m.exit = m.true_exit;
	m.entry = m.true_entry;
	m.true_pinbased = m.true_exit = m.true_entry = 0;
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.tdp);
	CHECK_EQ(c.proc & PROC_CR3_LOAD_EXITING, 0);
}

TEST(no_ept_runs_with_shadow_paging)
{
	struct vmx_cap_msrs m = skylake();
	m.procbased2 &= ~((u64)PROC2_ENABLE_EPT << 32) & ~((u64)PROC2_UNRESTRICTED_GUEST << 32);
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.refusal == NULL);
	CHECK(!c.tdp);
	CHECK(!c.ept_supported);
	CHECK(contains(c.tdp_fallback, "without EPT"));
	CHECK_STR(c.tdp_fallback_detail, "secondary: enable EPT");
	CHECK_EQ(c.proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST), 0);
	struct vmx_vm_controls t;
	CHECK(!vmx_vm_controls(&c, false, &t));
	/* VPIDs work without EPT. */
	CHECK(c.vpid);
	check_shadow_controls(&m, &c);
	struct vmx_vm_controls s;
	vmx_vm_controls(&c, true, &s);
	CHECK_EQ(s.proc2 & PROC2_ENABLE_VPID, PROC2_ENABLE_VPID);
	CHECK_EQ(s.proc2 & PROC2_ENABLE_RDTSCP, PROC2_ENABLE_RDTSCP);
}

/* Bochs 2.7 bx_generic with "cpuid: ... vmx=1" (Core 2-class VT-x), as
 * read there: secondary controls without EPT, VPID or unrestricted guest
 * (only APIC-access virtualization, RDTSCP, WBINVD exiting), and no
 * save/load of IA32_EFER or IA32_PAT. */
static struct vmx_cap_msrs bx_generic(void)
{
	return (struct vmx_cap_msrs){
		.basic = 0x00d810000000002bull,
		.pinbased = 0x0000003f00000016ull,
		.true_pinbased = 0x0000003f00000016ull,
		.procbased = 0xf7f9fffe0401e172ull,
		.true_procbased = 0xf7f9fffe04006172ull,
		.exit = 0x0003efff00036dffull,
		.true_exit = 0x0003efff00036dfbull,
		.entry = 0x00001fff000011ffull,
		.true_entry = 0x00001fff000011fbull,
		.procbased2 = 0x0000004900000000ull,
		.ept_vpid_cap = 0,
		.misc = 0x401e0ull,
		.cr0_fixed0 = 0x80000021ull,
		.cr0_fixed1 = 0xffffffffull,
		.cr4_fixed0 = 0x2000ull,
		.cr4_fixed1 = 0x27ffull,
	};
}

/* Bochs 2.7 corei5_lynnfield_750: EPT and VPID without unrestricted guest. */
static struct vmx_cap_msrs lynnfield(void)
{
	return (struct vmx_cap_msrs){
		.basic = 0x00d810000000002bull,
		.pinbased = 0x0000007f00000016ull,
		.true_pinbased = 0x0000007f00000016ull,
		.procbased = 0xf7f9fffe0401e172ull,
		.true_procbased = 0xf7f9fffe04006172ull,
		.exit = 0x007fffff00036dffull,
		.true_exit = 0x007fffff00036dfbull,
		.entry = 0x0000ffff000011ffull,
		.true_entry = 0x0000ffff000011fbull,
		.procbased2 = 0x0000007f00000000ull,
		.ept_vpid_cap = 0x00000f0106114141ull,
		.misc = 0x401e0ull,
		.cr0_fixed0 = 0x80000021ull,
		.cr0_fixed1 = 0xffffffffull,
		.cr4_fixed0 = 0x2000ull,
		.cr4_fixed1 = 0x67ffull,
	};
}

TEST(bochs_bx_generic_runs_with_shadow_paging)
{
	struct vmx_cap_msrs m = bx_generic();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.refusal == NULL);
	CHECK(!c.tdp);
	CHECK(c.secondary);
	CHECK(!c.ept_supported);
	CHECK(contains(c.tdp_fallback, "without EPT"));
	CHECK(!c.vpid);
	CHECK(!c.efer_controls);
	CHECK(!c.pat_controls);
	CHECK_EQ(c.exit & (EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER | EXIT_SAVE_IA32_PAT |
			   EXIT_LOAD_IA32_PAT), 0);
	CHECK_EQ(c.entry & (ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT), 0);
	CHECK(c.tpr_shadow);
	check_shadow_controls(&m, &c);
	struct vmx_vm_controls s;
	vmx_vm_controls(&c, true, &s);
	CHECK_EQ(s.proc2, PROC2_ENABLE_RDTSCP);
	/* The values Umbra logs on this CPU (vmx: shadow paging: ...). */
	CHECK_EQ(s.proc, 0xb621e7faull);
	CHECK_EQ(c.exit, 0x36dfbull | EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_DEBUG_CONTROLS);
}

TEST(bochs_lynnfield_runs_with_shadow_paging)
{
	struct vmx_cap_msrs m = lynnfield();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(c.ept_supported);
	CHECK_STR(c.tdp_fallback_detail, "secondary: unrestricted guest");
	CHECK(c.vpid);
	CHECK(c.efer_controls);
	CHECK(c.pat_controls);
	check_shadow_controls(&m, &c);
	struct vmx_vm_controls s;
	vmx_vm_controls(&c, true, &s);
	CHECK_EQ(s.proc2, PROC2_ENABLE_VPID | PROC2_ENABLE_RDTSCP);
	CHECK_EQ(s.proc, 0xb621e7faull);
}

TEST(no_secondary_controls_runs_with_shadow_paging)
{
	/* No secondary controls at all, no TRUE MSRs: CR3-load/store exiting
	 * are default1 then, which suits shadow paging. */
	struct vmx_cap_msrs m = bx_generic();
	m.basic &= ~VMX_BASIC_TRUE_CTLS;
	m.procbased &= ~((u64)PROC_ACTIVATE_SECONDARY_CONTROLS << 32);
	m.true_pinbased = m.true_procbased = m.true_exit = m.true_entry = 0;
	m.procbased2 = 0x00ff00ff00000000ull; /* must be ignored */
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.refusal == NULL);
	CHECK(!c.tdp);
	CHECK(!c.secondary);
	CHECK(contains(c.tdp_fallback, "secondary controls"));
	CHECK_STR(c.tdp_fallback_detail, "primary: activate secondary controls");
	CHECK_EQ(c.proc & PROC_ACTIVATE_SECONDARY_CONTROLS, 0);
	CHECK_EQ(c.proc2, 0);
	CHECK(!c.vpid);
	CHECK(contains(c.vpid_fallback, "flushes the TLB"));
	check_shadow_controls(&m, &c);
	struct vmx_vm_controls s;
	vmx_vm_controls(&c, true, &s);
	CHECK_EQ(s.proc2, 0);
}

TEST(no_unrestricted_guest_runs_with_shadow_paging)
{
	/* Lynnfield: EPT and VPID, no unrestricted guest. EPT stays off: VMX
	 * has no EPT VMs without unrestricted guest here. */
	struct vmx_cap_msrs m = skylake();
	m.procbased2 &= ~((u64)PROC2_UNRESTRICTED_GUEST << 32);
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(c.ept_supported);
	CHECK(contains(c.tdp_fallback, "unrestricted guest"));
	CHECK(contains(c.tdp_fallback, "paging off"));
	CHECK_STR(c.tdp_fallback_detail, "secondary: unrestricted guest");
	CHECK_EQ(c.proc2 & PROC2_ENABLE_EPT, 0);
	check_shadow_controls(&m, &c);
}

TEST(shadow_paging_on_a_cpu_with_ept)
{
	/* mmu=shadow on Skylake: both kinds of VM, EPT and UG off in the
	 * shadow ones, VPID kept. */
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.tdp);
	CHECK(c.tdp_fallback == NULL);
	check_shadow_controls(&m, &c);
	struct vmx_vm_controls s, t;
	CHECK(vmx_vm_controls(&c, true, &s));
	CHECK_EQ(s.proc, c.proc | PAGING_EXITS);
	CHECK_EQ(s.proc2, c.proc2 & ~(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST |
				      PROC2_ENABLE_INVPCID));
	CHECK_EQ(s.proc2 & PROC2_ENABLE_VPID, PROC2_ENABLE_VPID);
	CHECK_EQ(s.cr0_must1, CR0_PE | CR0_NE | CR0_PG);
	/* The EPT VM: as before. */
	CHECK(vmx_vm_controls(&c, false, &t));
	CHECK_EQ(t.proc, c.proc);
	CHECK_EQ(t.proc2, c.proc2);
	CHECK_EQ(t.exception_bitmap, BIT(18));
	CHECK_EQ(t.cr0_guest_host_mask, c.cr0_guest_host_mask);
	CHECK_EQ(t.cr4_guest_host_mask, c.cr4_guest_host_mask);
	CHECK_EQ(t.cr0_must1, CR0_NE);
	CHECK(t.unrestricted_guest);
}

/* Real mode of a shadow-paging VM: on the EPT p2m with unrestricted guest
 * where the CPU has both, everything else as for shadow paging; nowhere
 * without them. */
TEST(shadow_paging_real_mode_phase)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_vm_controls s, r;
	CHECK(vmx_vm_controls(&c, true, &s));
	CHECK(vmx_shadow_real_mode_controls(&c, &s, &r));
	CHECK_EQ(r.proc, s.proc);
	CHECK_EQ(r.proc2, s.proc2 | PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
	CHECK_EQ(r.proc2 & PROC2_ENABLE_INVPCID, 0);
	CHECK_EQ(r.exception_bitmap, s.exception_bitmap);
	CHECK_EQ(r.cr0_guest_host_mask, ~0ull);
	CHECK_EQ(r.cr0_must1 & (CR0_PE | CR0_PG), 0);
	CHECK(r.unrestricted_guest);
	struct vmx_cap_msrs g = bx_generic(), l = lynnfield();
	CHECK(vmx_config_compute(&g, &c));
	CHECK(vmx_vm_controls(&c, true, &s));
	CHECK(!vmx_shadow_real_mode_controls(&c, &s, &r));
	CHECK(vmx_config_compute(&l, &c));
	CHECK(vmx_vm_controls(&c, true, &s));
	CHECK(!vmx_shadow_real_mode_controls(&c, &s, &r));
}

TEST(shadow_paging_register_values)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_vm_controls s;
	CHECK(vmx_vm_controls(&c, true, &s));
	/* Multiboot entry under shadow paging: the guest sees PE|ET, the CPU
	 * runs PG|WP (from the generic code) plus NE. */
	u64 guest = CR0_PE | CR0_ET, hw = CR0_PE | CR0_ET | CR0_PG | CR0_WP;
	u64 real = vmx_shadow_cr0_real(&c, hw);
	CHECK_EQ(real, hw | CR0_NE);
	CHECK_EQ(real & s.cr0_must1, s.cr0_must1);
	CHECK_EQ(vmx_cr_guest_view(real, guest, s.cr0_guest_host_mask), guest);
	/* Paging is always on; caches stay the host's; TS passes through. */
	CHECK_EQ(vmx_shadow_cr0_real(&c, CR0_PE | CR0_TS), CR0_PE | CR0_TS | CR0_NE | CR0_PG);
	CHECK_EQ(vmx_shadow_cr0_real(&c, hw | CR0_CD | CR0_NW), hw | CR0_NE);
	/* PE is not forced: a real-mode CR0 fails VM entry by name. */
	CHECK_EQ(vmx_shadow_cr0_real(&c, CR0_ET) & CR0_PE, 0);
	/* CR4: VMXE in the real register, the guest reads its own value. */
	u64 cr4 = CR4_PAE | CR4_PGE;
	CHECK_EQ(vmx_guest_cr4_real(&c, cr4), cr4 | CR4_VMXE);
	CHECK_EQ(vmx_cr_guest_view(vmx_guest_cr4_real(&c, cr4), CR4_PSE, s.cr4_guest_host_mask),
		 CR4_PSE);
	/* EFER: with the real CR0.PG always 1, LME must follow LMA. */
	CHECK_EQ(vmx_shadow_efer_real(EFER_LME | EFER_SCE), EFER_SCE);
	CHECK_EQ(vmx_shadow_efer_real(EFER_LME | EFER_LMA | EFER_NXE),
		 EFER_LME | EFER_LMA | EFER_NXE);
	CHECK_EQ(vmx_shadow_efer_real(EFER_LMA), EFER_LME | EFER_LMA);
	CHECK_EQ(vmx_shadow_efer_real(EFER_NXE), EFER_NXE);
}

TEST(shadow_paging_needs_cr3_and_invlpg_exiting)
{
	/* EPT without the controls shadow paging needs: EPT VMs only. */
	struct vmx_cap_msrs m = skylake();
	m.true_procbased &= ~((u64)PROC_INVLPG_EXITING << 32);
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.tdp);
	CHECK(!c.shadow);
	CHECK_STR(c.shadow_missing, "primary: INVLPG exiting");
	struct vmx_vm_controls s;
	CHECK(!vmx_vm_controls(&c, true, &s));
	/* Neither EPT nor shadow paging: refused, naming the control. */
	m.procbased2 &= ~((u64)PROC2_ENABLE_EPT << 32);
	CHECK(!vmx_config_compute(&m, &c));
	CHECK(contains(c.refusal, "shadow paging"));
	CHECK_STR(c.refusal_detail, "primary: INVLPG exiting");
	CHECK_STR(c.tdp_fallback_detail, "secondary: enable EPT");
	/* EPT that cannot be turned off: no shadow paging either. */
	m = skylake();
	m.procbased2 |= PROC2_ENABLE_EPT;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.tdp);
	CHECK(!c.shadow);
	CHECK(contains(c.shadow_missing, "enable EPT"));
}

TEST(ept_capabilities_checked)
{
	/* Unusable EPT: shadow paging for every VM, with the reason. */
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	m.ept_vpid_cap &= ~EPT_CAP_WALK_LENGTH_4;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(contains(c.tdp_fallback, "4-level"));
	check_shadow_controls(&m, &c);
	m = skylake();
	m.ept_vpid_cap &= ~EPT_CAP_MEMTYPE_WB;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(contains(c.tdp_fallback, "write-back"));
	m = skylake();
	m.ept_vpid_cap &= ~(EPT_CAP_INVEPT_SINGLE_CONTEXT | EPT_CAP_INVEPT_ALL_CONTEXT);
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(contains(c.tdp_fallback, "INVEPT"));
	CHECK_EQ(c.proc2 & PROC2_ENABLE_EPT, 0);
	/* All-context only: used instead of single-context. */
	m = skylake();
	m.ept_vpid_cap &= ~EPT_CAP_INVEPT_SINGLE_CONTEXT;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.tdp);
	CHECK_EQ(c.invept_type, INVEPT_TYPE_ALL_CONTEXT);
}

TEST(no_vpid_falls_back)
{
	struct vmx_cap_msrs m = skylake();
	m.procbased2 &= ~((u64)PROC2_ENABLE_VPID << 32);
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.vpid);
	CHECK(contains(c.vpid_fallback, "flushes the TLB"));
	CHECK_EQ(c.proc2 & PROC2_ENABLE_VPID, 0);
	CHECK(vmx_check_controls(&m, c.pin, c.proc, c.proc2, c.exit, c.entry) == NULL);
}

TEST(vpid_without_invvpid_falls_back)
{
	struct vmx_cap_msrs m = skylake();
	m.ept_vpid_cap &= ~VPID_CAP_INVVPID;
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.vpid);
	CHECK(contains(c.vpid_fallback, "INVVPID"));
	CHECK_EQ(c.proc2 & PROC2_ENABLE_VPID, 0);
	m = skylake();
	m.ept_vpid_cap &= ~VPID_CAP_INVVPID_SINGLE_CONTEXT;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(c.vpid);
	CHECK_EQ(c.invvpid_type, INVVPID_TYPE_ALL_CONTEXT);
}

TEST(no_tpr_shadow_exits_on_cr8)
{
	struct vmx_cap_msrs m = skylake();
	m.true_procbased &= ~((u64)PROC_USE_TPR_SHADOW << 32);
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tpr_shadow);
	CHECK_EQ(c.proc & (PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING),
		 PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
	CHECK_EQ(c.proc & PROC_USE_TPR_SHADOW, 0);
}

TEST(missing_required_controls_are_named)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	/* EFER switching: only VMs with EPT need it. */
	m.true_exit &= ~((u64)EXIT_LOAD_IA32_EFER << 32);
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(!c.efer_controls);
	CHECK(c.pat_controls);
	CHECK(contains(c.tdp_fallback, "IA32_EFER"));
	CHECK_STR(c.tdp_fallback_detail, "VM-exit: load IA32_EFER");
	CHECK_EQ(c.exit & EXIT_SAVE_IA32_EFER, 0); /* all of them or none */
	CHECK_EQ(c.entry & ENTRY_LOAD_IA32_EFER, 0);
	check_shadow_controls(&m, &c);
	m = skylake();
	m.true_entry &= ~((u64)ENTRY_LOAD_IA32_PAT << 32);
	CHECK(vmx_config_compute(&m, &c));
	CHECK(!c.tdp);
	CHECK(!c.pat_controls);
	CHECK_STR(c.tdp_fallback_detail, "VM-entry: load IA32_PAT");
	CHECK_EQ(c.exit & (EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT), 0);
	m = skylake();
	m.true_exit &= ~((u64)EXIT_HOST_ADDRESS_SPACE_SIZE << 32);
	CHECK(!vmx_config_compute(&m, &c));
	CHECK(contains(c.refusal, "cannot set"));
	CHECK_STR(c.refusal_detail, "VM-exit: host address-space size");
	m = skylake();
	m.true_procbased &= ~((u64)PROC_INTERRUPT_WINDOW_EXITING << 32);
	CHECK(!vmx_config_compute(&m, &c));
	CHECK_STR(c.refusal_detail, "primary: interrupt-window exiting");
	m = skylake();
	m.true_entry |= ENTRY_IA32E_MODE_GUEST; /* stuck at 1: cannot run 32-bit guests */
	CHECK(!vmx_config_compute(&m, &c));
	CHECK_STR(c.refusal_detail, "VM-entry: IA-32e mode guest");
	m = skylake();
	m.true_pinbased &= ~((u64)PIN_NMI_EXITING << 32);
	CHECK(!vmx_config_compute(&m, &c));
	CHECK_STR(c.refusal_detail, "pin-based: NMI exiting");
	m = skylake();
	m.true_exit |= EXIT_ACK_INTERRUPT_ON_EXIT;
	CHECK(!vmx_config_compute(&m, &c));
	CHECK_STR(c.refusal_detail, "VM-exit: acknowledge interrupt on exit");
}

TEST(basic_msr_checked)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	m.basic |= VMX_BASIC_32BIT_ADDRESSES;
	CHECK(!vmx_config_compute(&m, &c));
	CHECK(contains(c.refusal, "32 bits"));
	m = skylake();
	m.basic &= ~(VMX_BASIC_MEMTYPE_MASK << VMX_BASIC_MEMTYPE_SHIFT); /* UC */
	CHECK(!vmx_config_compute(&m, &c));
	CHECK(contains(c.refusal, "write-back"));
	m = skylake();
	m.basic = (m.basic & ~(VMX_BASIC_REGION_SIZE_MASK << 32)) | (0x1001ull << 32);
	CHECK(!vmx_config_compute(&m, &c));
	CHECK(contains(c.refusal, "one page"));
}

/* ---- guest-state checks ---------------------------------------------------- */

static struct vmx_guest_state multiboot_state(const struct vmx_config *c)
{
	struct vmx_guest_state g = {
		.cr0 = vmx_guest_cr0_real(c, CR0_PE | CR0_ET),
		.cr4 = vmx_guest_cr4_real(c, 0),
		.dr7 = 0x400,
		.pat = 0x0007040600070406ull,
		.rflags = 2,
		.rip = 0x100010,
		.entry_ctls = c->entry,
		.proc2 = c->proc2,
		.link_pointer = ~0ull,
		.idtr_limit = 0x3ff,
	};
	for (int i = 0; i < 6; i++)
		g.seg[i] = (struct vmx_seg_state){ 0x10, 0xffffffff, 0xc093, 0 };
	g.seg[1] = (struct vmx_seg_state){ 0x08, 0xffffffff, 0xc09b, 0 };
	g.seg[6] = (struct vmx_seg_state){ 0, 0, AR_UNUSABLE, 0 };
	g.seg[7] = (struct vmx_seg_state){ 0, 0xffff, 0x8b, 0 };
	return g;
}

TEST(guest_state_multiboot_entry_passes)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_guest_state g = multiboot_state(&c);
	struct vmx_check_failure f = { 0 };
	CHECK(vmx_check_guest_state(&c, &g, &f));
	CHECK(f.field == NULL);
}

TEST(guest_state_real_mode_passes)
{
	/* Real mode after the guest dropped PE (unrestricted guest). */
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_guest_state g = multiboot_state(&c);
	g.cr0 = vmx_guest_cr0_real(&c, CR0_ET);
	for (int i = 0; i < 6; i++)
		g.seg[i] = (struct vmx_seg_state){ 0x700, 0xffff, 0x93, 0x7000 };
	g.seg[1].ar = 0x9b;
	/* Big real mode: FS kept a 4 GiB limit. */
	g.seg[4] = (struct vmx_seg_state){ 0, 0xffffffff, 0xc093, 0 };
	g.rip = 0x20;
	struct vmx_check_failure f = { 0 };
	CHECK(vmx_check_guest_state(&c, &g, &f));
}

TEST(guest_state_failures_are_named)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_check_failure f;
	struct vmx_guest_state g = multiboot_state(&c);
	g.cr0 &= ~CR0_NE;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CR0");
	CHECK(contains(f.rule, "NE"));

	g = multiboot_state(&c);
	g.cr4 &= ~CR4_VMXE;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CR4");

	g = multiboot_state(&c);
	g.entry_ctls |= ENTRY_IA32E_MODE_GUEST;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "VM-entry controls");

	g = multiboot_state(&c);
	g.seg[1].ar = 0xc093 | (3 << 5); /* CS: data type 3 with DPL 3 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CS_ACCESS_RIGHTS");

	g = multiboot_state(&c);
	g.seg[3].ar = 0xc092; /* DS not accessed */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_DS_ACCESS_RIGHTS");
	CHECK(contains(f.rule, "accessed"));

	g = multiboot_state(&c);
	g.seg[0].limit = 0x12345000; /* ES: G=1 needs limit bits 11:0 all ones */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_ES_LIMIT");

	g = multiboot_state(&c);
	g.seg[7].ar = AR_UNUSABLE;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_TR_ACCESS_RIGHTS");

	g = multiboot_state(&c);
	g.seg[2].ar = 0xc093 | (3 << 5); /* SS DPL 3 vs CS DPL 0 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CS_ACCESS_RIGHTS");

	g = multiboot_state(&c);
	g.interruptibility = INTERRUPTIBILITY_STI; /* with IF=0 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_INTERRUPTIBILITY_INFO");

	g = multiboot_state(&c);
	g.rflags = 0; /* bit 1 clear */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_RFLAGS");

	g = multiboot_state(&c);
	g.link_pointer = 0;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "VMCS_LINK_POINTER");

	g = multiboot_state(&c);
	g.cr0 = vmx_guest_cr0_real(&c, CR0_PE | CR0_PG);
	g.cr4 = vmx_guest_cr4_real(&c, CR4_PAE);
	g.pdpte[0] = 0x1000 | 1 | BIT(1); /* reserved bit 1 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_PDPTEn");

	g = multiboot_state(&c);
	g.efer = BIT(10); /* LMA without IA-32e mode guest */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_IA32_EFER");
}

/* A shadow-paging VM in 32-bit protected mode with paging (the hardware's
 * view: PAE tables, whatever the guest's format). */
static struct vmx_guest_state shadow_state(const struct vmx_config *c)
{
	struct vmx_vm_controls s;
	vmx_vm_controls(c, true, &s);
	struct vmx_guest_state g = multiboot_state(c);
	g.proc2 = s.proc2;
	g.cr0 = vmx_shadow_cr0_real(c, CR0_PE | CR0_ET | CR0_PG | CR0_WP);
	g.cr4 = vmx_guest_cr4_real(c, CR4_PAE);
	g.cr3 = 0x1234000;
	g.pdpte[0] = 0x1000 | 1 | BIT(1); /* ignored without EPT: loaded from CR3 */
	return g;
}

TEST(guest_state_shadow_paging_passes)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_check_failure f = { 0 };
	struct vmx_guest_state g = shadow_state(&c);
	CHECK(vmx_check_guest_state(&c, &g, &f));
	/* 64-bit guest: long mode with LME = LMA. */
	g.entry_ctls |= ENTRY_IA32E_MODE_GUEST;
	g.efer = vmx_shadow_efer_real(EFER_LMA | EFER_NXE);
	g.seg[1].ar = 0xa09b; /* L=1 */
	CHECK(vmx_check_guest_state(&c, &g, &f));
	/* A ring-3 guest: RPL 3 selectors, DPL 3. */
	g = shadow_state(&c);
	for (int i = 0; i < 6; i++)
		g.seg[i] = (struct vmx_seg_state){ 0x23, 0xffffffff, 0xc0f3, 0 };
	g.seg[1] = (struct vmx_seg_state){ 0x1b, 0xffffffff, 0xc0fb, 0 };
	CHECK(vmx_check_guest_state(&c, &g, &f));
	/* Without the EFER/PAT controls (bx_generic) VM entry checks neither
	 * field: it takes LMA/LME from "IA-32e mode guest". */
	struct vmx_cap_msrs gm = bx_generic();
	struct vmx_config gc;
	CHECK(vmx_config_compute(&gm, &gc));
	struct vmx_guest_state gg = shadow_state(&gc);
	gg.efer = EFER_LME; /* stale, not loaded */
	gg.pat = ~0ull;
	CHECK(vmx_check_guest_state(&gc, &gg, &f));
	/* Virtual-8086 mode under shadow paging. */
	g = shadow_state(&c);
	g.rflags |= BIT(17);
	for (int i = 0; i < 6; i++)
		g.seg[i] = (struct vmx_seg_state){ 0x1000, 0xffff, 0xf3, 0x10000 };
	CHECK(vmx_check_guest_state(&c, &g, &f));
}

TEST(guest_state_shadow_paging_failures_are_named)
{
	struct vmx_cap_msrs m = skylake();
	m.procbased2 &= ~((u64)PROC2_ENABLE_EPT << 32); /* no EPT: every VM is shadowed */
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	struct vmx_check_failure f;
	/* The multiboot entry state as such (paging off) cannot run. */
	struct vmx_guest_state g = shadow_state(&c);
	g.cr0 = vmx_guest_cr0_real(&c, CR0_PE | CR0_ET);
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CR0");
	CHECK(contains(f.rule, "unrestricted guest"));
	/* Neither can real mode (PE = 0 is not forced on). */
	g = shadow_state(&c);
	g.cr0 = vmx_shadow_cr0_real(&c, CR0_ET);
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CR0");
	CHECK(contains(f.rule, "PE and PG"));

	g = shadow_state(&c);
	g.seg[1].ar = 0xc093; /* CS type 3: only with unrestricted guest */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CS_ACCESS_RIGHTS");

	g = shadow_state(&c);
	g.seg[2].sel = 0x13; /* SS.RPL 3, CS.RPL 0 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_SS_SELECTOR");

	g = shadow_state(&c);
	g.seg[3].sel = 0x13; /* DS: RPL 3 > DPL 0 */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_DS_ACCESS_RIGHTS");

	g = shadow_state(&c);
	g.cr3 = 1ull << 60;
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CR3");

	g = shadow_state(&c);
	g.rflags |= BIT(17); /* virtual-8086 mode with protected-mode segments */
	CHECK(!vmx_check_guest_state(&c, &g, &f));
	CHECK_STR(f.field, "GUEST_CS_BASE");
}

TEST(control_checks_name_the_field)
{
	struct vmx_cap_msrs m = skylake();
	struct vmx_config c;
	CHECK(vmx_config_compute(&m, &c));
	CHECK(contains(vmx_check_controls(&m, c.pin & ~0x16u, c.proc, c.proc2, c.exit, c.entry),
		       "pin-based"));
	CHECK(contains(vmx_check_controls(&m, c.pin, c.proc, c.proc2 | BIT(31), c.exit, c.entry),
		       "secondary"));
	CHECK(contains(vmx_check_controls(&m, c.pin, c.proc, c.proc2, c.exit | BIT(31), c.entry),
		       "VM-exit"));
}

int main(void)
{
	RUN(skylake_controls);
	RUN(skylake_cr_fixed_bits);
	RUN(cr0_fixed1_reserved_bits_are_shadowed);
	RUN(without_true_controls_cr3_exiting_cannot_be_cleared);
	RUN(without_true_controls_but_clearable_ok);
	RUN(no_ept_runs_with_shadow_paging);
	RUN(bochs_bx_generic_runs_with_shadow_paging);
	RUN(bochs_lynnfield_runs_with_shadow_paging);
	RUN(no_secondary_controls_runs_with_shadow_paging);
	RUN(no_unrestricted_guest_runs_with_shadow_paging);
	RUN(shadow_paging_on_a_cpu_with_ept);
	RUN(shadow_paging_real_mode_phase);
	RUN(shadow_paging_register_values);
	RUN(shadow_paging_needs_cr3_and_invlpg_exiting);
	RUN(ept_capabilities_checked);
	RUN(no_vpid_falls_back);
	RUN(vpid_without_invvpid_falls_back);
	RUN(no_tpr_shadow_exits_on_cr8);
	RUN(missing_required_controls_are_named);
	RUN(basic_msr_checked);
	RUN(guest_state_multiboot_entry_passes);
	RUN(guest_state_real_mode_passes);
	RUN(guest_state_failures_are_named);
	RUN(guest_state_shadow_paging_passes);
	RUN(guest_state_shadow_paging_failures_are_named);
	RUN(control_checks_name_the_field);
	return unit_report("vmx_controls");
}
