/* Umbra's console while VMs run. Typed bytes go to the console VM's UART
 * (the first VM started); Ctrl-] starts a command:
 *   Ctrl-] s   print every VM's exit counters and memory
 *   Ctrl-] n   give the console to the next VM
 * Polls the host UART every 10 ms (no host UART interrupt needed). */
#include "drivers/uart.h"
#include "kernel/log.h"
#include "kernel/sched.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define MONITOR_POLL_NS 10000000ull
#define MONITOR_ESCAPE 0x1d /* Ctrl-] */

static void monitor_command(int c)
{
	if (c == 's')
		vm_print_all_stats();
	else if (c == 'n')
		vm_console_next();
	else
		log_info("monitor: Ctrl-] s = VM statistics, Ctrl-] n = console to the next VM");
}

static void monitor_thread(void *unused)
{
	bool escape = false;
	while (vm_count_running()) {
		int c;
		while ((c = uart_getc()) >= 0) {
			if (escape)
				monitor_command(c);
			else if (c != MONITOR_ESCAPE)
				vm_console_input((u8)c);
			escape = !escape && c == MONITOR_ESCAPE;
		}
		thread_sleep_ns(MONITOR_POLL_NS);
	}
}

void monitor_start(void)
{
	thread_create("monitor", 0, monitor_thread, NULL);
}
