/* 8250 UART at 0x3f8, output only (PC16550D register set). Each complete
 * line the guest writes goes to Umbra's console prefixed with the VM's name.
 * Transmission is instant, so LSR always says "empty". Receive and UART
 * interrupts come with the PC-platform work. */
#include "kernel/log.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define REG_THR 0
#define REG_IER 1
#define REG_IIR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7
#define LCR_DLAB 0x80
#define LSR_THRE_TEMT 0x60
#define IIR_NO_INTERRUPT 0x01
#define MSR_CTS_DSR_DCD 0xb0

static void uart_flush_line(struct vm *vm)
{
	vm->uart_line[vm->uart_len] = '\0';
	log_info("[%s] %s", vm->name, vm->uart_line);
	vm->uart_len = 0;
}

static void uart_putc(struct vm *vm, char c)
{
	if (c == '\r')
		return;
	if (c == '\n') {
		uart_flush_line(vm);
		return;
	}
	/* Keep the console readable: other control bytes become '.'. */
	vm->uart_line[vm->uart_len++] = (c < 0x20 && c != '\t') || c == 0x7f ? '.' : c;
	if (vm->uart_len == sizeof(vm->uart_line) - 1)
		uart_flush_line(vm);
}

u32 uart_in(struct vm *vm, u16 port, u8 size)
{
	u32 reg = port - UART_IOBASE;
	bool dlab = vm->uart_regs[REG_LCR] & LCR_DLAB;
	switch (reg) {
	case REG_THR:
		return dlab ? vm->uart_regs[REG_THR] : 0; /* no input yet */
	case REG_IIR:
		return IIR_NO_INTERRUPT;
	case REG_LSR:
		return LSR_THRE_TEMT;
	case REG_MSR:
		return MSR_CTS_DSR_DCD;
	default:
		return vm->uart_regs[reg];
	}
}

void uart_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	u32 reg = port - UART_IOBASE;
	bool dlab = vm->uart_regs[REG_LCR] & LCR_DLAB;
	if (reg == REG_THR && !dlab) {
		uart_putc(vm, (char)val);
		return;
	}
	if (reg == REG_LSR || reg == REG_MSR || reg == REG_IIR)
		return; /* read-only (IIR's write side is FCR: FIFO control, no state) */
	vm->uart_regs[reg] = (u8)val;
}

void debug_exit_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	vm_stop(vm, val, "wrote to the debug-exit port");
}
