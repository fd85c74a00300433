/* spin: runs with interrupts off and never exits to the hypervisor for
 * mticks million TSC ticks (default 2000), then reports. Next to another
 * VM on the same host CPU it shows the hypervisor preempts a vCPU that
 * never exits on its own (host timer interrupts always cause an exit). */
#include "guest.h"

u32 guest_main(void)
{
	u64 ticks = (u64)opt_u32("mticks", 2000) * 1000000ull;
	printf("spinning with IF=0 for %u million TSC ticks\n", (u32)(ticks / 1000000));
	__asm__ volatile("cli");
	u64 end = rdtsc() + ticks;
	while (rdtsc() < end)
		;
	printf("spin done\n");
	return EXIT_PASS;
}
