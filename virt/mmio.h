#ifndef UMBRA_VIRT_MMIO_H
#define UMBRA_VIRT_MMIO_H

#include "lib/types.h"

struct vcpu;

/* Does a device own this guest-physical address for this vCPU? */
bool mmio_owned(struct vcpu *v, u64 gpa);
/* Emulates the instruction at RIP, which touched gpa (device memory, or
 * under shadow paging a write-protected guest page table). False: no device
 * and no RAM answered (the VM is to be stopped). */
bool vcpu_emulate(struct vcpu *v, u64 gpa);

#endif
