#include "arch/x86/virt_detect.h"
#include "kernel/log.h"
#include "virt/backend.h"

const struct virt_backend_ops *virt_backend;

bool virt_backend_select(const struct virt_caps *caps)
{
	if (caps->svm && !caps->svm_caps.svm_disabled) {
		if (!caps->svm_caps.npt) {
			log_err("virt: AMD-V without nested paging needs shadow paging, "
				"which Umbra does not have yet");
			return false;
		}
		virt_backend = &svm_backend_ops;
		return true;
	}
	/* VT-x: whether this CPU's VMX can run guests (EPT, unrestricted
	 * guest...) is decided from the capability MSRs when it is enabled
	 * (arch/x86/vmx/vmx_controls.c), with a message when not. */
	if (caps->vmx) {
		virt_backend = &vmx_backend_ops;
		return true;
	}
	return false;
}
