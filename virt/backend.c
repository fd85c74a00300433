#include "arch/x86/virt_detect.h"
#include "kernel/log.h"
#include "lib/string.h"
#include "virt/backend.h"

const struct virt_backend_ops *virt_backend;

/* Every slot of the ops table is a pointer and every one must be set: a
 * backend that misses an op added later would jump to address 0. */
_Static_assert(sizeof(struct virt_backend_ops) % sizeof(void *) == 0, "ops are pointers");

static bool backend_complete(const struct virt_backend_ops *ops)
{
	for (size_t off = 0; off < sizeof(*ops); off += sizeof(void *)) {
		const void *p;
		memcpy(&p, (const char *)ops + off, sizeof(p));
		if (!p) {
			log_err("virt: the %s backend lacks operation %zu of its ops table "
				"(virt/backend.h)", ops->name, off / sizeof(void *));
			return false;
		}
	}
	return true;
}

static bool pick(const struct virt_backend_ops *ops)
{
	if (!backend_complete(ops))
		return false;
	virt_backend = ops;
	return true;
}

bool virt_backend_select(const struct virt_caps *caps)
{
	if (caps->svm && !caps->svm_caps.svm_disabled) {
		if (!caps->svm_caps.npt) {
			log_err("virt: AMD-V without nested paging needs shadow paging, "
				"which Umbra does not have yet");
			return false;
		}
		return pick(&svm_backend_ops);
	}
	/* VT-x: whether this CPU's VMX can run guests (EPT, unrestricted
	 * guest...) is decided from the capability MSRs when it is enabled
	 * (arch/x86/vmx/vmx_controls.c), with a message when not. */
	if (caps->vmx)
		return pick(&vmx_backend_ops);
	return false;
}
