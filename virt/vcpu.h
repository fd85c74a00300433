#ifndef UMBRA_VIRT_VCPU_H
#define UMBRA_VIRT_VCPU_H

struct vcpu;

#include "lib/types.h"

void vcpu_thread(void *arg);
bool vcpu_has_wake_event(struct vcpu *v);
/* Called by each vCPU thread as it leaves; the last one tears the VM down. */
void vm_vcpu_exited(struct vcpu *v);

#endif
