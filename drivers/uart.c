/* 16550 UART driver, polled (console output must work with interrupts off and
 * from panic). Register layout: PC16550D datasheet, table 2. */
#include "arch/x86/cpu.h"
#include "drivers/uart.h"

#define UART_THR 0 /* transmit holding (write) */
#define UART_RBR 0 /* receive buffer (read) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

static u16 uart_port;

bool uart_init(u16 port, u32 baud)
{
	/* The scratch register round trip tells whether a UART is present. */
	outb(port + UART_SCR, 0x5a);
	if (inb(port + UART_SCR) != 0x5a)
		return false;
	u16 divisor = (u16)(115200 / (baud ? baud : 115200));
	if (!divisor)
		divisor = 1;
	outb(port + UART_IER, 0);
	outb(port + UART_LCR, LCR_DLAB);
	outb(port + UART_DLL, divisor & 0xff);
	outb(port + UART_DLM, divisor >> 8);
	outb(port + UART_LCR, LCR_8N1);
	outb(port + UART_FCR, 0x07); /* enable and clear FIFOs */
	outb(port + UART_MCR, 0x03); /* DTR, RTS */
	uart_port = port;
	return true;
}

void uart_putc(char c)
{
	if (!uart_port)
		return;
	/* Bounded wait: a wedged UART must not hang the hypervisor. */
	for (u32 spin = 0; spin < 1000000; spin++)
		if (inb(uart_port + UART_LSR) & LSR_THRE)
			break;
	outb(uart_port + UART_THR, (u8)c);
}

void uart_drain(void)
{
	if (!uart_port)
		return;
	for (u32 spin = 0; spin < 1000000; spin++)
		if (inb(uart_port + UART_LSR) & LSR_TEMT)
			return;
}

int uart_getc(void)
{
	if (!uart_port || !(inb(uart_port + UART_LSR) & LSR_DR))
		return -1;
	return inb(uart_port + UART_RBR);
}
