/* Console commands while VMs run: a key typed on Umbra's console.
 *   s  print every VM's exit counters and memory
 * Polls the UART every 50 ms (no host UART interrupt needed). */
#include "drivers/uart.h"
#include "kernel/log.h"
#include "kernel/sched.h"
#include "virt/vm.h"

#define MONITOR_POLL_NS 50000000ull

static void monitor_thread(void *unused)
{
	while (vm_count_running()) {
		int c = uart_getc();
		if (c == 's')
			vm_print_all_stats();
		else if (c > 0 && c != '\r' && c != '\n')
			log_info("monitor: keys: s = VM statistics");
		thread_sleep_ns(MONITOR_POLL_NS);
	}
}

void monitor_start(void)
{
	thread_create("monitor", 0, monitor_thread, NULL);
}
