/* Guest-physical memory of one VM: one RAM slot [0, size) backed by host
 * frames allocated on first touch and mapped in the nested page table (NPT
 * or EPT, in the entry format the backend names). Frames are never shared
 * between VMs. */
#ifndef UMBRA_VIRT_GUEST_MEM_H
#define UMBRA_VIRT_GUEST_MEM_H

#include "kernel/spinlock.h"
#include "lib/types.h"
#include "virt/guest_access.h"

/* Entry format of the nested page table: both are 4-level radix trees with
 * 512 entries per page and the frame at bits 51:12; only the flag bits
 * differ. NPT is the x86-64 format (AMD APM vol. 2, 15.25); EPT has its own
 * (Intel SDM vol. 3, 29.3.2). Every entry Umbra writes has bit 0 set in
 * both (P in NPT, R in EPT), so presence is tested on bit 0. */
struct tdp_format {
	const char *name;
	u64 table_flags; /* non-leaf entries */
	u64 leaf_flags;  /* 4 KiB leaf entries */
};
extern const struct tdp_format tdp_format_npt;

struct guest_mem {
	u64 size;       /* bytes of guest RAM */
	const struct tdp_format *fmt;
	paddr_t root;   /* PML4 of the nested page table */
	spinlock_t lock; /* protects the table and the counters */
	u64 pages;      /* guest pages backed by host frames */
	u64 table_pages;
};

bool guest_mem_init(struct guest_mem *m, u64 size, const struct tdp_format *fmt);
void guest_mem_destroy(struct guest_mem *m);
/* Backs gfn with a zeroed host frame if it has none. Returns false for
 * addresses outside RAM, or when host memory ran out. */
bool guest_mem_fault_in(struct guest_mem *m, u64 gpa);
/* Host-virtual pointer to the byte at gpa (backing it if needed); NULL if
 * outside RAM or out of memory. Valid up to the end of that page. */
void *guest_mem_ptr(struct guest_mem *m, u64 gpa);
/* The emulator's compare-and-exchange on guest RAM (emu_ops.cmpxchg_phys):
 * atomic for 1, 2, 4 and 8 bytes; 16 bytes are compared and written under
 * the guest-memory lock, which only other emulated accesses respect.
 * False: not RAM or crossing a page. */
bool guest_mem_cmpxchg(struct guest_mem *m, u64 gpa, void *expected, const void *desired,
		       unsigned len, bool *swapped);
/* A struct gpa_access for this guest (copies across pages). */
struct gpa_access guest_mem_access(struct guest_mem *m);

#endif
