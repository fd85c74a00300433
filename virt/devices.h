/* The guest's PC platform devices (QEMU's PC conventions). Each device's
 * state lives in struct vm; its lock is vm->dev_lock unless noted. */
#ifndef UMBRA_VIRT_DEVICES_H
#define UMBRA_VIRT_DEVICES_H

#include "kernel/timer.h"
#include "lib/types.h"
#include "virt/apic_bus.h"

struct vm;
struct vcpu;

#define UART_IOBASE 0x3f8
#define UART_IRQ 4
#define DEBUG_EXIT_IOBASE 0xf4
#define IOAPIC_PINS 24
#define IOAPIC_BASE 0xfec00000ull
#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511

struct vioapic {
	u32 id;
	u32 select;
	u64 redir[IOAPIC_PINS];
	u32 line;  /* pin levels (bit per pin) */
};

struct vpic_chip {
	u8 irr, isr, imr;
	u8 vector_base;  /* ICW2 */
	u8 init_step;    /* 0: ready; 1..3: expecting ICW2..ICW4 */
	bool icw4_needed;
	bool read_isr;   /* OCW3 */
	bool auto_eoi;
	u8 line;         /* input levels */
	u8 elcr;         /* edge/level control (port 0x4d0/0x4d1) */
};

struct vpic {
	struct vpic_chip chip[2]; /* master, slave (on master IRQ 2) */
};

struct vpit_channel {
	u16 reload;
	u8 mode;
	u8 access;     /* 1 lobyte, 2 hibyte, 3 lo/hi */
	bool write_hi; /* lo/hi: next write is the high byte */
	bool read_hi;
	bool latched;
	u16 latch;
	u64 start_ns;  /* when the count was loaded */
	bool counting;
};

struct vpit {
	struct vpit_channel ch[3];
	u8 port61;     /* bit 0 gate of channel 2, bit 1 speaker */
	struct timer timer; /* channel 0 interrupts, on the BSP vCPU's host CPU */
	struct vm *vm;
	bool irq_armed;
};

struct vuart_irq {
	u8 ier;
	bool thre_pending; /* "transmitter empty" interrupt not yet read from IIR */
	bool irq_line;     /* the level last driven on IRQ 4 */
	u8 rx[64];
	u32 rx_head, rx_tail;
};

/* Port I/O handlers. */
u32 uart_in(struct vm *vm, u16 port, u8 size);
void uart_out(struct vm *vm, u16 port, u8 size, u32 val);
/* Writes out a last line that had no newline. */
void uart_flush(struct vm *vm);
/* Host console input for the VM's UART (one byte). */
void uart_receive(struct vm *vm, u8 byte);
/* Like QEMU's isa-debug-exit: a write stops the VM with that value. */
void debug_exit_out(struct vm *vm, u16 port, u8 size, u32 val);
u32 pic_in(struct vm *vm, u16 port, u8 size);
void pic_out(struct vm *vm, u16 port, u8 size, u32 val);
u32 pit_in(struct vm *vm, u16 port, u8 size);
void pit_out(struct vm *vm, u16 port, u8 size, u32 val);
u32 cmos_in(struct vm *vm, u16 port, u8 size);
void cmos_out(struct vm *vm, u16 port, u8 size, u32 val);
u32 acpi_pm_in(struct vm *vm, u16 port, u8 size);
void acpi_pm_out(struct vm *vm, u16 port, u8 size, u32 val);
u32 fw_cfg_in(struct vm *vm, u16 port, u8 size);
void fw_cfg_out(struct vm *vm, u16 port, u8 size, u32 val);

/* IOAPIC MMIO (offset within its page). */
u32 ioapic_mmio_read(struct vm *vm, u64 offset);
void ioapic_mmio_write(struct vm *vm, u64 offset, u32 val);
void ioapic_init(struct vm *vm);
/* Caller holds dev_lock; true: deliver *m (apic_bus_deliver) after unlocking. */
bool ioapic_set_line_locked(struct vm *vm, u32 pin, bool level, struct apic_msg *m);
void ioapic_eoi(struct vm *vm, u8 vector);

/* ISA interrupt lines: to the 8259 pair and to the IOAPIC (IRQ 0 -> pin 2).
 * The _locked form is for device code holding dev_lock: it records what to
 * deliver, and isa_irq_finish() does it once the lock is dropped. */
struct isa_irq_out {
	bool send, kick;
	struct apic_msg msg;
};
void vm_set_isa_irq(struct vm *vm, u32 irq, bool level);
void vm_set_isa_irq_locked(struct vm *vm, u32 irq, bool level, struct isa_irq_out *out);
void isa_irq_finish(struct vm *vm, const struct isa_irq_out *out);
void vm_pulse_isa_irq(struct vm *vm, u32 irq);
void pic_init(struct vm *vm);
/* The 8259's INTR output: its vector (acknowledging it), or -1. */
int pic_ack(struct vm *vm);
bool pic_has_intr(struct vm *vm);
void pit_init(struct vm *vm);
void pit_destroy(struct vm *vm);

#endif
