/* 16550 UART: the host console. */
#ifndef UMBRA_DRIVERS_UART_H
#define UMBRA_DRIVERS_UART_H

#include "lib/types.h"

#define UART_COM1 0x3f8

/* Returns false (and leaves the port alone) when no UART answers there. */
bool uart_init(u16 port, u32 baud);
void uart_putc(char c);
/* Wait until every queued byte left the shift register (LSR.TEMT): emulators
 * drop bytes still in the FIFO when the machine powers off. */
void uart_drain(void);
/* Non-blocking read: -1 when nothing was received. */
int uart_getc(void);

#endif
