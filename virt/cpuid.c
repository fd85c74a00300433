/* The CPUID a guest sees: the host's, minus what Umbra does not virtualize
 * (VMX/SVM, MONITOR, XSAVE/AVX state, performance monitoring, thermal), plus
 * the hypervisor bit, the x2APIC and TSC-deadline timer Umbra emulates, and
 * Umbra's own leaf range at 0x40000000. */
#include "arch/x86/cpu.h"
#include "lib/string.h"
#include "virt/exit.h"
#include "virt/vm.h"

#define UMBRA_CPUID_BASE 0x40000000u
#define UMBRA_CPUID_MAX 0x40000001u
static const char umbra_signature[12] = "UmbraUmbraUm";

/* Leaf 1 ECX/EDX, leaf 7 EBX: bits a guest may see (SDM vol. 2A, CPUID). */
#define L1_ECX_CLEAR (BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(12) | BIT(15) | \
		      BIT(26) | BIT(27) | BIT(28) | BIT(29))
#define L1_ECX_SET (BIT(21) | BIT(24) | BIT(31)) /* x2APIC, TSC-deadline, hypervisor */
#define L1_EDX_CLEAR (BIT(21) | BIT(22) | BIT(29) | BIT(31)) /* DS, ACPI, TM, PBE */
#define L7_EBX_ALLOWED (BIT(0) | BIT(3) | BIT(7) | BIT(8) | BIT(9) | BIT(10) | BIT(18) | \
			BIT(19) | BIT(20) | BIT(23) | BIT(24))
#define EXT1_ECX_CLEAR (BIT(2) | BIT(12) | BIT(13) | BIT(29)) /* SVM, SKINIT, WDT, MWAITX */

static u32 ilog2_up(u32 n)
{
	u32 s = 0;
	while ((1u << s) < n)
		s++;
	return s;
}

void vcpu_cpuid(struct vcpu *v, u32 leaf, u32 sub, struct cpuid_regs *r)
{
	memset(r, 0, sizeof(*r));
	if (leaf >= UMBRA_CPUID_BASE && leaf <= UMBRA_CPUID_BASE + 0xff) {
		if (leaf == UMBRA_CPUID_BASE) {
			r->eax = UMBRA_CPUID_MAX;
			memcpy(&r->ebx, umbra_signature, 4);
			memcpy(&r->ecx, umbra_signature + 4, 4);
			memcpy(&r->edx, umbra_signature + 8, 4);
		}
		return; /* 0x40000001: no paravirtual features yet */
	}
	u32 max = cpuid(leaf & 0x80000000u, 0).eax;
	if (leaf > max)
		return; /* beyond the range: zeros, as AMD does */
	*r = cpuid(leaf, sub);
	u32 n = v->vm->nr_vcpus;
	switch (leaf) {
	case 1:
		r->ebx = (r->ebx & 0xffff) | (MIN(n, 255u) << 16) | (v->id << 24);
		r->ecx = (r->ecx & ~L1_ECX_CLEAR) | L1_ECX_SET;
		if (v->vm->shadow)
			r->ecx &= ~BIT(17); /* PCID: not under shadow paging */
		r->edx &= ~L1_EDX_CLEAR;
		break;
	case 5: /* MONITOR/MWAIT */
	case 6: /* thermal and power */
	case 0xa: /* architectural performance monitoring */
	case 0xd: /* XSAVE state: not offered */
		memset(r, 0, sizeof(*r));
		break;
	case 7:
		if (sub == 0) {
			r->eax = 0;
			r->ebx &= L7_EBX_ALLOWED;
			if (v->vm->shadow)
				r->ebx &= ~BIT(10); /* INVPCID */
		} else {
			r->ebx = 0;
		}
		r->ecx = r->edx = 0;
		break;
	case 0xb: /* x2APIC topology: threads, then cores = all vCPUs */
		r->edx = v->id;
		if (sub == 0) {
			r->eax = 0;
			r->ebx = 1;
			r->ecx = (1u << 8) | sub;
		} else if (sub == 1) {
			r->eax = ilog2_up(n);
			r->ebx = n;
			r->ecx = (2u << 8) | sub;
		} else {
			r->eax = r->ebx = 0;
			r->ecx = sub;
		}
		break;
	case 0x80000001:
		r->ecx &= ~EXT1_ECX_CLEAR;
		break;
	case 0x8000000a: /* SVM features */
	case 0x8000001f: /* memory encryption */
		memset(r, 0, sizeof(*r));
		break;
	default:
		break;
	}
}
