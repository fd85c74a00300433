/* The guest MSRs no VMCS field switches: KERNEL_GS_BASE and the SYSCALL
 * MSRs (STAR, LSTAR, CSTAR, SFMASK). The MSR bitmap lets the guest use them
 * directly, so the guest's values are live on the host CPU while it runs.
 * Umbra itself never executes SYSCALL or SWAPGS, so the host needs none of
 * them: values are switched only when another vCPU runs on the CPU, and the
 * host's own (unused) values are not kept. AMD-V gets the same effect from
 * VMLOAD/VMSAVE. */
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/percpu.h"

static const u32 swapped[VMX_SWAPPED_MSRS] = {
	MSR_KERNEL_GS_BASE, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,
};

/* The vCPU whose values are in this CPU's MSRs, or NULL. */
static struct vmx_vcpu *owner[MAX_CPUS];

/* Called with interrupts off, before entering the guest. */
void vmx_guest_msrs_load(u32 cpu, struct vmx_vcpu *s)
{
	struct vmx_vcpu *old = owner[cpu];
	if (old == s)
		return;
	for (u32 i = 0; i < VMX_SWAPPED_MSRS; i++) {
		if (old)
			old->swapped_msrs[i] = rdmsr(swapped[i]);
		wrmsr(swapped[i], s->swapped_msrs[i]);
	}
	owner[cpu] = s;
}

/* On `cpu` itself, when s goes away. */
void vmx_guest_msrs_forget(u32 cpu, struct vmx_vcpu *s)
{
	if (owner[cpu] == s)
		owner[cpu] = NULL;
}
