/* 8250/16550 UART at 0x3f8 (PC16550D register set) with interrupts on ISA
 * IRQ 4: "transmitter empty" and "data received". Each complete line the
 * guest writes goes to Umbra's console prefixed with the VM's name, and
 * transmission is instant, so THR is always empty again at once. Input
 * comes from Umbra's console (virt/monitor.c). The IRQ line is gated by
 * MCR.OUT2, as on PCs. */
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
#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define MCR_OUT2 0x08
#define LSR_DR 0x01
#define LSR_THRE_TEMT 0x60
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
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

static bool rx_ready(const struct vuart_irq *u)
{
	return u->rx_head != u->rx_tail;
}

/* IRQ 4's level from the interrupt sources. Caller holds dev_lock. */
static bool irq_level(struct vm *vm)
{
	const struct vuart_irq *u = &vm->uart;
	bool pending = ((u->ier & IER_THRI) && u->thre_pending) || ((u->ier & IER_RDI) && rx_ready(u));
	return pending && (vm->uart_regs[REG_MCR] & MCR_OUT2);
}

/* Drives IRQ 4 if its level changed (still under dev_lock, so the line
 * always matches the state), then drops the lock and delivers. */
static void update_irq(struct vm *vm, unsigned long flags)
{
	struct isa_irq_out out = { 0 };
	bool level = irq_level(vm);
	if (level != vm->uart.irq_line) {
		vm->uart.irq_line = level;
		vm_set_isa_irq_locked(vm, UART_IRQ, level, &out);
	}
	spin_unlock(&vm->dev_lock, flags);
	isa_irq_finish(vm, &out);
}

void uart_flush(struct vm *vm)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	if (vm->uart_len)
		uart_flush_line(vm);
	spin_unlock(&vm->dev_lock, f);
}

static u8 iir(struct vm *vm)
{
	struct vuart_irq *u = &vm->uart;
	u8 fifo = (vm->uart_regs[REG_IIR] & 1) ? IIR_FIFO : 0; /* FCR bit 0 */
	if ((u->ier & IER_RDI) && rx_ready(u))
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thre_pending) {
		u->thre_pending = false; /* reading IIR clears it (datasheet, table 4) */
		return IIR_THRI | fifo;
	}
	return IIR_NONE | fifo;
}

u32 uart_in(struct vm *vm, u16 port, u8 size)
{
	u32 reg = port - UART_IOBASE;
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vuart_irq *u = &vm->uart;
	bool dlab = vm->uart_regs[REG_LCR] & LCR_DLAB;
	u32 val;
	switch (reg) {
	case REG_THR:
		if (dlab) {
			val = vm->uart_regs[REG_THR];
		} else if (rx_ready(u)) {
			val = u->rx[u->rx_tail++ % sizeof(u->rx)];
		} else {
			val = 0;
		}
		break;
	case REG_IER:
		val = dlab ? vm->uart_regs[REG_IER] : u->ier;
		break;
	case REG_IIR:
		val = iir(vm);
		break;
	case REG_LSR:
		val = LSR_THRE_TEMT | (rx_ready(u) ? LSR_DR : 0);
		break;
	case REG_MSR:
		val = MSR_CTS_DSR_DCD;
		break;
	default:
		val = vm->uart_regs[reg];
		break;
	}
	update_irq(vm, f);
	return val;
}

void uart_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	u32 reg = port - UART_IOBASE;
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vuart_irq *u = &vm->uart;
	bool dlab = vm->uart_regs[REG_LCR] & LCR_DLAB;
	if (reg == REG_THR && !dlab) {
		uart_putc(vm, (char)val);
		u->thre_pending = true; /* sent at once: empty again */
	} else if (reg == REG_IER && !dlab) {
		/* Enabling THRI while THR is empty raises the interrupt. */
		if (!(u->ier & IER_THRI) && (val & IER_THRI))
			u->thre_pending = true;
		u->ier = val & 0x0f;
	} else if (reg == REG_IIR) {
		vm->uart_regs[REG_IIR] = (u8)val; /* FCR: FIFO enable and clears */
		if (val & 2)
			u->rx_head = u->rx_tail = 0;
	} else if (reg != REG_LSR && reg != REG_MSR) {
		vm->uart_regs[reg] = (u8)val;
	}
	update_irq(vm, f);
}

void uart_receive(struct vm *vm, u8 byte)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vuart_irq *u = &vm->uart;
	if (u->rx_head - u->rx_tail < sizeof(u->rx))
		u->rx[u->rx_head++ % sizeof(u->rx)] = byte;
	update_irq(vm, f);
}

void debug_exit_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	vm_stop(vm, val, "wrote to the debug-exit port");
}
