/* Generic exit handling: one handler per exit kind, vendor-neutral. */
#ifndef UMBRA_VIRT_EXIT_H
#define UMBRA_VIRT_EXIT_H

#include "arch/x86/cpu.h"
#include "lib/types.h"
#include "virt/backend.h"
#include "virt/guest_access.h"

struct vcpu;
struct vm;

/* Returns false when the VM is stopping (the vCPU loop ends). */
bool vcpu_handle_exit(struct vcpu *v, struct vm_exit *e);
const char *exit_kind_name(enum vm_exit_kind k);
/* Stops the VM after a console message and a register dump. */
void vcpu_crash(struct vcpu *v, const char *what);
/* Injects an exception (no error code in real mode, as the CPU does). */
void vcpu_inject_exception(struct vcpu *v, u8 vector, bool has_error, u32 error);
/* Default operand/address size of the guest code now (from CS, CR0, EFER). */
enum guest_cpu_mode vcpu_cpu_mode(struct vcpu *v);

void vcpu_cpuid(struct vcpu *v, u32 leaf, u32 sub, struct cpuid_regs *r);
/* false: the access raises #GP in the guest. */
bool vcpu_rdmsr(struct vcpu *v, u32 msr, u64 *val);
bool vcpu_wrmsr(struct vcpu *v, u32 msr, u64 val);
u32 pio_in(struct vm *vm, u16 port, u8 size);
void pio_out(struct vm *vm, u16 port, u8 size, u32 val);
u64 hypercall(struct vcpu *v);

#endif
