/* IOAPIC (82093AA datasheet; SDM 3 11.11 for the message format): 24 pins,
 * indirect register access through IOREGSEL/IOWIN, edge and level triggers
 * with remote IRR, and the EOI register of version 0x20. */
#include "virt/apic_bus.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOAPIC_EOI 0x40
#define REG_ID 0x00
#define REG_VER 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10
#define IOAPIC_VERSION 0x20

#define RTE_VECTOR(r) ((u8)((r) & 0xff))
#define RTE_MODE(r) (((r) >> 8) & 7)
#define RTE_LOGICAL BIT(11)
#define RTE_REMOTE_IRR BIT(14)
#define RTE_LEVEL BIT(15)
#define RTE_MASKED BIT(16)
#define RTE_WRITABLE (0xff000000000000ffull | 0x7ull << 8 | RTE_LOGICAL | BIT(13) | RTE_LEVEL | RTE_MASKED)

void ioapic_init(struct vm *vm)
{
	vm->ioapic.id = vm->nr_vcpus;
	for (int i = 0; i < IOAPIC_PINS; i++)
		vm->ioapic.redir[i] = RTE_MASKED;
}

/* Caller holds dev_lock; returns the message to send (after unlocking). */
static bool pin_message(struct vioapic *io, u32 pin, struct apic_msg *m)
{
	u64 r = io->redir[pin];
	if (r & RTE_MASKED)
		return false;
	bool level = r & RTE_LEVEL;
	if (level) {
		if (!(io->line & BIT(pin)) || (r & RTE_REMOTE_IRR))
			return false;
		io->redir[pin] |= RTE_REMOTE_IRR; /* until the EOI */
	}
	*m = (struct apic_msg){
		.dest = (u32)(r >> 56), .logical = r & RTE_LOGICAL, .mode = RTE_MODE(r),
		.vector = RTE_VECTOR(r), .level = level, .assert = true,
	};
	return true;
}

bool ioapic_set_line_locked(struct vm *vm, u32 pin, bool level, struct apic_msg *m)
{
	if (pin >= IOAPIC_PINS)
		return false;
	struct vioapic *io = &vm->ioapic;
	bool was = io->line & BIT(pin);
	if (level)
		io->line |= BIT(pin);
	else
		io->line &= ~BIT(pin);
	/* Edge: a rising edge; level: while asserted and not awaiting EOI. */
	return level && (!was || (io->redir[pin] & RTE_LEVEL)) && pin_message(io, pin, m);
}

void ioapic_eoi(struct vm *vm, u8 vector)
{
	struct apic_msg m[IOAPIC_PINS];
	u32 n = 0;
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vioapic *io = &vm->ioapic;
	for (u32 pin = 0; pin < IOAPIC_PINS; pin++) {
		u64 r = io->redir[pin];
		if (!(r & RTE_REMOTE_IRR) || RTE_VECTOR(r) != vector)
			continue;
		io->redir[pin] &= ~RTE_REMOTE_IRR;
		/* Still asserted: deliver again (the device has more). */
		if (pin_message(io, pin, &m[n]))
			n++;
	}
	spin_unlock(&vm->dev_lock, f);
	for (u32 i = 0; i < n; i++)
		apic_bus_deliver(vm, NULL, &m[i]);
}

u32 ioapic_mmio_read(struct vm *vm, u64 offset)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vioapic *io = &vm->ioapic;
	u32 val = 0;
	if (offset == IOREGSEL) {
		val = io->select;
	} else if (offset == IOWIN) {
		u32 reg = io->select;
		if (reg == REG_ID)
			val = io->id << 24;
		else if (reg == REG_VER)
			val = ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
		else if (reg == REG_ARB)
			val = io->id << 24;
		else if (reg >= REG_REDIR && reg < REG_REDIR + 2 * IOAPIC_PINS)
			val = (u32)(io->redir[(reg - REG_REDIR) / 2] >> ((reg & 1) * 32));
	}
	spin_unlock(&vm->dev_lock, f);
	return val;
}

void ioapic_mmio_write(struct vm *vm, u64 offset, u32 val)
{
	if (offset == IOAPIC_EOI) {
		ioapic_eoi(vm, (u8)val);
		return;
	}
	struct apic_msg m;
	bool send = false;
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vioapic *io = &vm->ioapic;
	if (offset == IOREGSEL) {
		io->select = val & 0xff;
	} else if (offset == IOWIN) {
		u32 reg = io->select;
		if (reg == REG_ID) {
			io->id = (val >> 24) & 0xf;
		} else if (reg >= REG_REDIR && reg < REG_REDIR + 2 * IOAPIC_PINS) {
			u32 pin = (reg - REG_REDIR) / 2;
			u32 shift = (reg & 1) * 32;
			u64 r = io->redir[pin];
			u64 keep = r & (RTE_REMOTE_IRR | BIT(12)) ; /* read-only bits */
			r = (r & ~(0xffffffffull << shift)) | ((u64)val << shift);
			io->redir[pin] = (r & RTE_WRITABLE) | keep;
			if (!(io->redir[pin] & RTE_LEVEL))
				io->redir[pin] &= ~RTE_REMOTE_IRR;
			/* Unmasking an asserted level pin delivers it. */
			if ((io->redir[pin] & RTE_LEVEL) && (io->line & BIT(pin)))
				send = pin_message(io, pin, &m);
		}
	}
	spin_unlock(&vm->dev_lock, f);
	if (send)
		apic_bus_deliver(vm, NULL, &m);
}
