/* The hypervisor console (the UART chosen by console= on the command line). */
#ifndef UMBRA_KERNEL_CONSOLE_H
#define UMBRA_KERNEL_CONSOLE_H

#include "lib/types.h"

void console_init(u16 port, u32 baud);
void console_set_level(int level);
void console_mark_percpu_ready(void);
void console_enter_panic_mode(void);

#endif
