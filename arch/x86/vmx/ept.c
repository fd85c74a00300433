/* EPT for the generic guest memory (virt/guest_mem.c): the entry format and
 * the EPT pointer. EPT paging-structure entries (Intel SDM vol. 3, 29.3.2,
 * tables 29-1..29-6): bit 0 read, bit 1 write, bit 2 execute (supervisor
 * execute when mode-based control is off); in a leaf, bits 5:3 the EPT
 * memory type and bit 6 "ignore PAT". Non-leaf entries must keep bits 7:3
 * clear (an EPT misconfiguration otherwise, 29.3.3.1). */
#include "arch/x86/vmx/vmx.h"
#include "virt/guest_mem.h"

#define EPT_READ BIT(0)
#define EPT_WRITE BIT(1)
#define EPT_EXECUTE BIT(2)
#define EPT_MEMTYPE_SHIFT 3

/* Guest RAM is write-back; with "ignore PAT" clear the guest's PAT still
 * combines with it (29.3.7.2), so a guest can map its pages UC or WC. */
const struct tdp_format ept_format = {
	.name = "EPT",
	.table_flags = EPT_READ | EPT_WRITE | EPT_EXECUTE,
	.leaf_flags = EPT_READ | EPT_WRITE | EPT_EXECUTE | ((u64)MEMTYPE_WB << EPT_MEMTYPE_SHIFT),
};

/* EPTP (25.6.11): the PML4 table, the memory type for walking the tables
 * and the walk length; accessed/dirty flags stay off (Umbra does not use
 * them), so bit 6 is 0. */
u64 ept_pointer(paddr_t root)
{
	return root | vmx_cfg.eptp_flags;
}
