/* Access to one guest's memory, as seen by the hypervisor: by guest-physical
 * address, and by guest-virtual address through the guest's own page tables.
 * The callbacks let the same code run in the kernel and in host tests. */
#ifndef UMBRA_VIRT_GUEST_ACCESS_H
#define UMBRA_VIRT_GUEST_ACCESS_H

#include "lib/types.h"

/* Guest-physical access; read/write return false when any byte of the range
 * is not guest RAM (MMIO, beyond the end of memory). */
struct gpa_access {
	bool (*read)(void *ctx, u64 gpa, void *dst, size_t len);
	bool (*write)(void *ctx, u64 gpa, const void *src, size_t len);
	void *ctx;
};

/* The guest's paging-related state (what a walk depends on); under shadow
 * paging also the registers the hardware runs instead (virt/shadow_paging.c). */
struct guest_paging {
	u64 cr0, cr3, cr4, efer;
};

/* CPU mode of the guest code at the faulting instruction: decides default
 * operand/address sizes for instruction decoding. */
enum guest_cpu_mode {
	GUEST_MODE_REAL,   /* 16-bit, real mode or virtual-8086 */
	GUEST_MODE_PROT16, /* protected mode, CS.D = 0 */
	GUEST_MODE_PROT32, /* protected mode, CS.D = 1 */
	GUEST_MODE_LONG64, /* long mode, CS.L = 1 */
};

#endif
