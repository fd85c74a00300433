/* Which hardware virtualization this CPU offers, and with what features. */
#ifndef UMBRA_ARCH_X86_VIRT_DETECT_H
#define UMBRA_ARCH_X86_VIRT_DETECT_H

#include "lib/types.h"

struct vmx_caps {
	u32 revision;
	u64 feature_control;
	bool feature_control_locked;
	bool vmx_outside_smx; /* enabled in IA32_FEATURE_CONTROL */
	bool true_controls;
	bool secondary_controls;
	bool ept, vpid, unrestricted_guest, ept_ad, pml;
};

struct svm_caps {
	u32 revision;
	u32 nr_asids;
	bool npt, nrip_save, decode_assists, vmcb_clean, flush_by_asid;
	bool svm_disabled; /* VM_CR.SVMDIS: firmware turned it off */
	bool vm_cr_locked;
};

struct virt_caps {
	bool vmx, svm;
	struct vmx_caps vmx_caps;
	struct svm_caps svm_caps;
};

void virt_detect(struct virt_caps *out);
void virt_caps_print(const struct virt_caps *caps);
/* True when the CPU can run guests: VT-x or AMD-V present and not locked off. */
bool virt_usable(const struct virt_caps *caps);

#endif
