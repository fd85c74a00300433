/* badpaging: hostile page tables. With mode=cr3 (default) the guest turns
 * paging on with CR3 pointing beyond its RAM; with mode=pde its page
 * directory maps its own code through a page table beyond RAM. The walk of
 * the next instruction fetch reads a paging-structure entry that is not
 * guest RAM: there is no architectural answer, so the hypervisor must stop
 * this VM with a message (and only it). The guest never reports a result
 * when the hypervisor does that; reaching the end is a failure. */
#include "guest.h"

#define BEYOND 0xf0000000u	/* far above any test VM's RAM, not a device */

static u32 pd[1024] __attribute__((aligned(4096)));

u32 guest_main(void)
{
	const char *mode = opt_str("mode");
	if (mode && mode[0] == 'p') {
		/* Every 4 MiB of the low 4 GiB through one page table beyond RAM. */
		for (int i = 0; i < 1024; i++)
			pd[i] = BEYOND | 0x3;
		printf("enabling paging with the page tables beyond RAM\n");
		write_cr3((u32)pd);
	} else {
		printf("enabling paging with CR3 beyond RAM\n");
		write_cr3(BEYOND);
	}
	write_cr0(read_cr0() | CR0_PG);
	printf("still running with paging on: the hypervisor did not stop this VM\n");
	return 0x11;
}
