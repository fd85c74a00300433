/* triplefault: prints "about to triple fault", loads an IDT with limit 0 and
 * executes int3: #BP -> #GP -> #DF -> shutdown. Nothing after that runs; the
 * hypervisor must stop this VM alone (plain QEMU -no-reboot exits with 0). */
#include "guest.h"

u32 guest_main(void)
{
	printf("triplefault (%s): about to triple fault\n", argv0);
	for (u32 i = 0; i < 1000000 && !(inb(0x3fd) & 0x40); i++) /* drain the UART */
		pause();
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) empty = { 0, 0 };
	asm volatile("lidt %0; int3" : : "m"(empty));
	printf("still running after the triple fault\n");
	return EXIT_FAIL;
}
