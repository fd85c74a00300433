#include "virt/exit.h"
#include "virt/hypercall.h"
#include "virt/vm.h"

u64 hypercall(struct vcpu *v)
{
	v->vm->hypercalls++;
	switch (v->gpr[RAX]) {
	case UMBRA_HC_VERSION:
		return (UMBRA_VERSION_MAJOR << 16) | UMBRA_VERSION_MINOR;
	default:
		return UMBRA_ENOSYS;
	}
}
