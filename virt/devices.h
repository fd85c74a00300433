/* The first virtual devices (QEMU's PC conventions). */
#ifndef UMBRA_VIRT_DEVICES_H
#define UMBRA_VIRT_DEVICES_H

#include "lib/types.h"

struct vm;

#define UART_IOBASE 0x3f8
#define DEBUG_EXIT_IOBASE 0xf4

u32 uart_in(struct vm *vm, u16 port, u8 size);
void uart_out(struct vm *vm, u16 port, u8 size, u32 val);
/* Like QEMU's isa-debug-exit: a write stops the VM with that value. */
void debug_exit_out(struct vm *vm, u16 port, u8 size, u32 val);

#endif
