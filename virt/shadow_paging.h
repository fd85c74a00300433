/*
 * Shadow paging for a VM (shadow/mmu.h is the MMU itself): the guest's view
 * of CR0/CR3/CR4/EFER, the registers the hardware runs instead, and the
 * exits that keep them: MOV to/from CR0/CR3/CR4 (and CLTS, LMSW, SMSW),
 * #PF, INVLPG, and EFER writes. Used when the CPU has no nested paging or
 * the command line says mmu=shadow.
 */
#ifndef UMBRA_VIRT_SHADOW_PAGING_H
#define UMBRA_VIRT_SHADOW_PAGING_H

#include "lib/types.h"
#include "shadow/mmu.h"
#include "virt/backend.h"
#include "virt/emulate.h"
#include "virt/vm.h"

struct vcpu;
struct vm;

struct shadow_vcpu {
	struct mmu_vcpu mmu;
	struct guest_paging guest;	/* what the guest sees */
	u64 pdptes[4];			/* PAE paging: the PDPTE registers */
	u32 flush_req;			/* set by others: flush before the next entry */
	u8 maxphyaddr;
	u32 walk_features;
};

/* The MMU of vm (shadow pages up to pool_pages). False: out of memory. */
bool shadow_vm_init(struct vm *vm, u32 pool_pages);
void shadow_vm_destroy(struct vm *vm);
/* After the backend created the vCPU. False: refused (message printed). */
bool shadow_vcpu_init(struct vcpu *v);
void shadow_vcpu_destroy(struct vcpu *v);
/* After a backend reset: CR0 = cr0, CR3 = CR4 = EFER = 0. */
void shadow_vcpu_reset(struct vcpu *v, u64 cr0);
/* Before announcing guest mode: load a root again if it was zapped.
 * False: the VM was stopped. */
bool shadow_prepare_entry(struct vcpu *v);
/* With guest mode announced (vcpu.in_guest): flush the TLB if asked. */
void shadow_flush_before_entry(struct vcpu *v);

/* The guest's paging registers in either mode (on every exit's path:
 * inline). */
static inline void vcpu_get_paging(struct vcpu *v, struct guest_paging *out)
{
	if (v->shadow) {
		*out = v->shadow->guest;
		return;
	}
	virt_backend->get_paging(v, &out->cr0, &out->cr3, &out->cr4, &out->efer);
}
/* WRMSR EFER in shadow mode; false: #GP. */
bool shadow_set_efer(struct vcpu *v, u64 efer);

/* For the instruction emulator: a translation through the guest's tables
 * with all their rules (false: *fault to inject), and a write to guest RAM
 * that the shadow MMU sees (false: not RAM). */
bool shadow_translate(struct vcpu *v, u64 linear, unsigned acc, u64 *gpa, struct emu_fault *fault);
bool shadow_ram_write(struct vm *vm, u64 gpa, const void *buf, unsigned len);

void shadow_handle_cr_access(struct vcpu *v, const struct vm_exit *e);
void shadow_handle_page_fault(struct vcpu *v, const struct vm_exit *e);
void shadow_handle_invlpg(struct vcpu *v, const struct vm_exit *e);
void shadow_print_stats(const struct vm *vm);

#endif
