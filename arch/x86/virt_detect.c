/* Detection of VT-x (Intel SDM vol. 3, appendix A: VMX capability MSRs) and
 * AMD-V (AMD APM vol. 2, 15.4: CPUID Fn8000_000A). Enabling is the backends'. */
#include "arch/x86/cpu.h"
#include "arch/x86/virt_detect.h"
#include "kernel/log.h"
#include "lib/string.h"

#define MSR_IA32_VMX_BASIC 0x480
#define MSR_IA32_VMX_PROCBASED_CTLS 0x482
#define MSR_IA32_VMX_PROCBASED_CTLS2 0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP 0x48c
#define MSR_VM_CR 0xc0010114

#define FEATURE_CONTROL_LOCK BIT(0)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX BIT(2)
#define VMX_BASIC_TRUE_CTLS BIT(55)
#define PROCBASED_ACTIVATE_SECONDARY BIT(31)
#define SECONDARY_EPT BIT(1)
#define SECONDARY_VPID BIT(5)
#define SECONDARY_UNRESTRICTED_GUEST BIT(7)
#define SECONDARY_PML BIT(17)
#define EPT_CAP_AD BIT(21)

#define SVM_FEATURE_NPT BIT(0)
#define SVM_FEATURE_NRIPS BIT(3)
#define SVM_FEATURE_VMCB_CLEAN BIT(5)
#define SVM_FEATURE_FLUSH_BY_ASID BIT(6)
#define SVM_FEATURE_DECODE_ASSISTS BIT(7)
#define VM_CR_LOCK BIT(3)
#define VM_CR_SVMDIS BIT(4)

static void detect_vmx(struct vmx_caps *v)
{
	u64 basic = 0, proc = 0, proc2 = 0, ept = 0;
	rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &v->feature_control);
	v->feature_control_locked = v->feature_control & FEATURE_CONTROL_LOCK;
	v->vmx_outside_smx = v->feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX;
	rdmsr_safe(MSR_IA32_VMX_BASIC, &basic);
	v->revision = basic & 0x7fffffff;
	v->true_controls = basic & VMX_BASIC_TRUE_CTLS;
	/* Capability MSRs: the high half lists the controls that may be 1. */
	rdmsr_safe(MSR_IA32_VMX_PROCBASED_CTLS, &proc);
	v->secondary_controls = (proc >> 32) & PROCBASED_ACTIVATE_SECONDARY;
	if (!v->secondary_controls)
		return;
	rdmsr_safe(MSR_IA32_VMX_PROCBASED_CTLS2, &proc2);
	u32 allowed2 = proc2 >> 32;
	v->ept = allowed2 & SECONDARY_EPT;
	v->vpid = allowed2 & SECONDARY_VPID;
	v->unrestricted_guest = allowed2 & SECONDARY_UNRESTRICTED_GUEST;
	v->pml = allowed2 & SECONDARY_PML;
	if (v->ept || v->vpid)
		rdmsr_safe(MSR_IA32_VMX_EPT_VPID_CAP, &ept);
	v->ept_ad = v->ept && (ept & EPT_CAP_AD);
}

static void detect_svm(struct svm_caps *s)
{
	struct cpuid_regs r = cpuid(0x8000000a, 0);
	s->revision = r.eax & 0xff;
	s->nr_asids = r.ebx;
	s->npt = r.edx & SVM_FEATURE_NPT;
	s->nrip_save = r.edx & SVM_FEATURE_NRIPS;
	s->vmcb_clean = r.edx & SVM_FEATURE_VMCB_CLEAN;
	s->flush_by_asid = r.edx & SVM_FEATURE_FLUSH_BY_ASID;
	s->decode_assists = r.edx & SVM_FEATURE_DECODE_ASSISTS;
	u64 vm_cr = 0;
	rdmsr_safe(MSR_VM_CR, &vm_cr);
	s->svm_disabled = vm_cr & VM_CR_SVMDIS;
	s->vm_cr_locked = vm_cr & VM_CR_LOCK;
}

void virt_detect(struct virt_caps *out)
{
	memset(out, 0, sizeof(*out));
	out->vmx = cpuid(1, 0).ecx & BIT(5);
	if (cpuid(0x80000000, 0).eax >= 0x8000000a)
		out->svm = cpuid(0x80000001, 0).ecx & BIT(2);
	if (out->vmx)
		detect_vmx(&out->vmx_caps);
	if (out->svm)
		detect_svm(&out->svm_caps);
}

static const char *yn(bool b) { return b ? "yes" : "no"; }

void virt_caps_print(const struct virt_caps *c)
{
	if (c->vmx) {
		const struct vmx_caps *v = &c->vmx_caps;
		log_info("virt: VT-x (VMX) revision %#x: EPT %s, VPID %s, unrestricted-guest %s, "
			 "EPT-A/D %s, PML %s, true-controls %s",
			 v->revision, yn(v->ept), yn(v->vpid), yn(v->unrestricted_guest),
			 yn(v->ept_ad), yn(v->pml), yn(v->true_controls));
		log_info("virt: IA32_FEATURE_CONTROL %#llx: %s, VMX outside SMX %s",
			 (unsigned long long)v->feature_control,
			 v->feature_control_locked ? "locked" : "unlocked",
			 v->vmx_outside_smx ? "enabled" : "disabled");
	}
	if (c->svm) {
		const struct svm_caps *s = &c->svm_caps;
		log_info("virt: AMD-V (SVM) revision %u, %u ASIDs: NPT %s, NRIP-save %s, "
			 "decode-assists %s, VMCB-clean %s, flush-by-ASID %s",
			 s->revision, s->nr_asids, yn(s->npt), yn(s->nrip_save),
			 yn(s->decode_assists), yn(s->vmcb_clean), yn(s->flush_by_asid));
		log_info("virt: VM_CR SVMDIS %s, lock %s", yn(s->svm_disabled),
			 yn(s->vm_cr_locked));
	}
	if (!c->vmx && !c->svm)
		log_err("virt: this CPU has neither VT-x nor AMD-V: Umbra cannot run guests here");
}

bool virt_usable(const struct virt_caps *c)
{
	/* VMX locked off by firmware: the lock bit set without the enable bit. */
	bool vmx_ok = c->vmx && !(c->vmx_caps.feature_control_locked &&
				  !c->vmx_caps.vmx_outside_smx);
	bool svm_ok = c->svm && !c->svm_caps.svm_disabled;
	return vmx_ok || svm_ok;
}
