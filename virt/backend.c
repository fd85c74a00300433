#include "arch/x86/virt_detect.h"
#include "kernel/log.h"
#include "lib/string.h"
#include "virt/backend.h"

const struct virt_backend_ops *virt_backend;
bool virt_has_tdp;
enum shadow_real_mode virt_shadow_real_mode;

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
		virt_has_tdp = caps->svm_caps.npt;
		virt_shadow_real_mode = SHADOW_REAL_MODE_PAGED;
		if (!virt_has_tdp)
			log_info("virt: AMD-V without nested paging: VMs run on shadow paging");
		return pick(&svm_backend_ops);
	}
	/* VT-x: whether this CPU's VMX can run guests at all is decided from
	 * the capability MSRs when it is enabled (arch/x86/vmx/vmx_controls.c),
	 * with a message when not. Nested paging needs EPT and unrestricted
	 * guest (a multiboot guest starts with paging off). */
	if (caps->vmx) {
		virt_has_tdp = caps->vmx_caps.ept && caps->vmx_caps.unrestricted_guest;
		virt_shadow_real_mode = SHADOW_REAL_MODE_NONE; /* vmx.c refines it */
		if (!virt_has_tdp)
			log_info("virt: VT-x without EPT and unrestricted guest: VMs run on shadow paging");
		return pick(&vmx_backend_ops);
	}
	return false;
}
