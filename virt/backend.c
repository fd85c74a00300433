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
	if (caps->vmx)
		log_err("virt: the VT-x backend is not written yet; cannot run guests");
	return false;
}
