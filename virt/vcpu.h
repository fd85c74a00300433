#ifndef UMBRA_VIRT_VCPU_H
#define UMBRA_VIRT_VCPU_H

struct vcpu;

void vcpu_thread(void *arg);
/* Called by each vCPU thread as it leaves; the last one tears the VM down. */
void vm_vcpu_exited(struct vcpu *v);

#endif
