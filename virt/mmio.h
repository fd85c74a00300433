#ifndef UMBRA_VIRT_MMIO_H
#define UMBRA_VIRT_MMIO_H

#include "lib/types.h"

struct vcpu;

/* Does a device own this guest-physical address for this vCPU? */
bool mmio_owned(struct vcpu *v, u64 gpa);
/* Emulates the instruction that touched device memory at gpa. False: no
 * device and no RAM answered (the VM is to be stopped). */
bool mmio_emulate(struct vcpu *v, u64 gpa);

#endif
