/* The guest's MSRs: an explicit list of what the advertised CPU has. Anything
 * else raises #GP (unlike QEMU TCG, which reads 0). MSRs that VMRUN/VMLOAD
 * switch from the vendor structure (FS/GS base, SYSENTER, STAR...) are not
 * intercepted at all. */
#include "arch/x86/cpu.h"
#include "virt/exit.h"
#include "virt/shadow_paging.h"
#include "virt/vm.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_UCODE_REV 0x8b
#define MSR_IA32_MTRRCAP 0xfe
#define MSR_IA32_MTRR_PHYS_FIRST 0x200
#define MSR_IA32_MTRR_PHYS_LAST 0x20f
#define MSR_IA32_MTRR_FIX64K 0x250
#define MSR_IA32_MTRR_FIX16K_1 0x258
#define MSR_IA32_MTRR_FIX16K_2 0x259
#define MSR_IA32_MTRR_FIX4K_FIRST 0x268
#define MSR_IA32_MTRR_FIX4K_LAST 0x26f
#define MSR_IA32_PAT 0x277
#define MSR_IA32_MTRR_DEF_TYPE 0x2ff
#define MSR_K7_PERF_FIRST 0xc0010000
#define MSR_K7_PERF_LAST 0xc0010007
#define MTRRCAP_VALUE 0x508 /* 8 variable ranges, fixed ranges, WC */

static bool vendor_amd(void)
{
	return cpuid(0, 0).ebx == 0x68747541; /* "Auth"enticAMD */
}

static bool vendor_intel(void)
{
	return cpuid(0, 0).ebx == 0x756e6547; /* "Genu"ineIntel */
}

static bool pat_valid(u64 pat)
{
	/* Each byte must be a memory type: 0, 1, 4, 5, 6 or 7 (SDM 11.12.2). */
	for (int i = 0; i < 8; i++) {
		u8 t = (pat >> (i * 8)) & 0xff;
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static bool is_mtrr(u32 msr)
{
	return (msr >= MSR_IA32_MTRR_PHYS_FIRST && msr <= MSR_IA32_MTRR_PHYS_LAST) ||
	       msr == MSR_IA32_MTRR_FIX64K || msr == MSR_IA32_MTRR_FIX16K_1 ||
	       msr == MSR_IA32_MTRR_FIX16K_2 ||
	       (msr >= MSR_IA32_MTRR_FIX4K_FIRST && msr <= MSR_IA32_MTRR_FIX4K_LAST) ||
	       msr == MSR_IA32_MTRR_DEF_TYPE;
}

bool vcpu_rdmsr(struct vcpu *v, u32 msr, u64 *val)
{
	if (msr == 0x1b || msr == MSR_IA32_TSC_DEADLINE || (msr >= 0x800 && msr <= 0x8ff))
		return vlapic_rdmsr(&v->lapic, msr, val);
	if (msr == MSR_IA32_TSC) {
		*val = rdtsc() + v->tsc_offset;
		return true;
	}
	if (msr == MSR_EFER) {
		struct guest_paging p;
		vcpu_get_paging(v, &p);
		*val = p.efer;
		return true;
	}
	if (msr == MSR_IA32_PAT) {
		*val = virt_backend->get_pat(v);
		return true;
	}
	if (msr == MSR_IA32_UCODE_REV) {
		*val = 0;
		return true;
	}
	/* Intel guests read it before trying VMX: locked, with VMX off (SDM
	 * vol. 3, 24.7), which matches CPUID hiding VMX. Writes #GP (locked). */
	if (msr == MSR_IA32_FEATURE_CONTROL && vendor_intel()) {
		*val = 1;
		return true;
	}
	if (msr == MSR_IA32_MTRRCAP) {
		*val = MTRRCAP_VALUE;
		return true;
	}
	if (is_mtrr(msr)) {
		*val = msr == MSR_IA32_MTRR_DEF_TYPE ? v->mtrr_def_type : 0;
		return true;
	}
	if (msr >= MSR_K7_PERF_FIRST && msr <= MSR_K7_PERF_LAST && vendor_amd()) {
		*val = v->mperf_store[msr - MSR_K7_PERF_FIRST];
		return true;
	}
	return false;
}

bool vcpu_wrmsr(struct vcpu *v, u32 msr, u64 val)
{
	if (msr == 0x1b || msr == MSR_IA32_TSC_DEADLINE || (msr >= 0x800 && msr <= 0x8ff))
		return vlapic_wrmsr(&v->lapic, msr, val);
	if (msr == MSR_IA32_TSC) {
		v->tsc_offset = val - rdtsc();
		virt_backend->set_tsc_offset(v, v->tsc_offset);
		return true;
	}
	if (msr == MSR_EFER) {
		struct guest_paging p;
		vcpu_get_paging(v, &p);
		/* LME may not change while paging is on (SDM 3 9.8.5). */
		if ((p.cr0 & CR0_PG) && ((p.efer ^ val) & EFER_LME))
			return false;
		return v->shadow ? shadow_set_efer(v, val) : virt_backend->set_efer(v, val);
	}
	if (msr == MSR_IA32_PAT) {
		if (!pat_valid(val))
			return false;
		virt_backend->set_pat(v, val);
		return true;
	}
	if (msr == MSR_IA32_UCODE_REV)
		return true; /* writing 0 before CPUID is how microcode revision is read */
	/* MTRRs: with nested paging the memory type comes from the host's
	 * tables and the guest PAT, so only the default type is kept (guests
	 * read it back); range registers read as 0 (disabled). */
	if (is_mtrr(msr)) {
		if (msr == MSR_IA32_MTRR_DEF_TYPE) {
			if (val & ~0xcffull)
				return false;
			v->mtrr_def_type = val;
		}
		return true;
	}
	if (msr >= MSR_K7_PERF_FIRST && msr <= MSR_K7_PERF_LAST && vendor_amd()) {
		/* Stored, not counted: enough for guests that zero them at boot. */
		v->mperf_store[msr - MSR_K7_PERF_FIRST] = val;
		return true;
	}
	return false;
}
