/* The 8259A pair (Intel 8259A datasheet): master at 0x20, slave at 0xa0 on
 * the master's IRQ 2, ELCR at 0x4d0/0x4d1. Fixed priority (IRQ 0 highest),
 * normal and automatic EOI, OCW3 IRR/ISR reads. No special mask mode, no
 * rotation, no poll mode (guests of interest don't use them). */
#include "virt/apic_bus.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define ICW1_INIT BIT(4)
#define ICW1_IC4 BIT(0)
#define OCW3_SELECT BIT(3)
#define ICW4_AEOI BIT(1)

void pic_init(struct vm *vm)
{
	for (int i = 0; i < 2; i++)
		vm->pic.chip[i].imr = 0xff;
}

/* Highest-priority pending request of a chip not blocked by one in
 * service, or -1. */
static int chip_pending(const struct vpic_chip *c)
{
	u8 req = c->irr & ~c->imr;
	for (int irq = 0; irq < 8; irq++) {
		if (c->isr & BIT(irq))
			return -1; /* something of higher priority is in service */
		if (req & BIT(irq))
			return irq;
	}
	return -1;
}

/* The slave's INTR is the master's IRQ 2 line. Caller holds dev_lock. */
static void update_cascade(struct vpic *p)
{
	if (chip_pending(&p->chip[1]) >= 0)
		p->chip[0].irr |= BIT(2);
	else if (!(p->chip[0].elcr & BIT(2)))
		p->chip[0].irr &= ~BIT(2);
}

static void chip_set_line(struct vpic_chip *c, u32 irq, bool level)
{
	u8 bit = (u8)BIT(irq);
	bool was = c->line & bit;
	if (level)
		c->line |= bit;
	else
		c->line &= ~bit;
	if (c->elcr & bit) { /* level-triggered: IRR follows the line */
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !was) { /* edge-triggered: a rising edge */
		c->irr |= bit;
	}
}

static void pic_set_line_locked(struct vm *vm, u32 irq, bool level)
{
	if (irq >= 16)
		return;
	chip_set_line(&vm->pic.chip[irq / 8], irq % 8, level);
	update_cascade(&vm->pic);
}

bool pic_has_intr(struct vm *vm)
{
	/* Racy peek first, as for the LAPIC's IRR: requests come with a kick. */
	if (!READ_ONCE(vm->pic.chip[0].irr))
		return false;
	unsigned long f = spin_lock(&vm->dev_lock);
	bool yes = chip_pending(&vm->pic.chip[0]) >= 0;
	spin_unlock(&vm->dev_lock, f);
	return yes;
}

static u8 chip_ack(struct vpic_chip *c, int irq)
{
	if (!(c->elcr & BIT(irq)))
		c->irr &= ~BIT(irq);
	if (!c->auto_eoi)
		c->isr |= BIT(irq);
	return c->vector_base + irq;
}

int pic_ack(struct vm *vm)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vpic *p = &vm->pic;
	int vector = -1;
	int irq = chip_pending(&p->chip[0]);
	if (irq == 2) {
		int sirq = chip_pending(&p->chip[1]);
		chip_ack(&p->chip[0], 2);
		/* A request that went away: the slave answers IRQ 7 (spurious). */
		vector = chip_ack(&p->chip[1], sirq >= 0 ? sirq : 7);
		update_cascade(p);
	} else if (irq >= 0) {
		vector = chip_ack(&p->chip[0], irq);
	}
	spin_unlock(&vm->dev_lock, f);
	return vector;
}

static void chip_write(struct vpic_chip *c, bool data, u8 val)
{
	if (!data && (val & ICW1_INIT)) {
		c->init_step = 1;
		c->icw4_needed = val & ICW1_IC4;
		c->imr = c->isr = c->irr = 0;
		c->auto_eoi = false;
		c->read_isr = false;
		return;
	}
	if (data) {
		switch (c->init_step) {
		case 1: /* ICW2 */
			c->vector_base = val & 0xf8;
			c->init_step = 2;
			return;
		case 2: /* ICW3: cascade wiring, fixed here */
			c->init_step = c->icw4_needed ? 3 : 0;
			return;
		case 3: /* ICW4 */
			c->auto_eoi = val & ICW4_AEOI;
			c->init_step = 0;
			return;
		default: /* OCW1 */
			c->imr = val;
			return;
		}
	}
	if (val & OCW3_SELECT) {
		if (val & BIT(1))
			c->read_isr = val & BIT(0);
		return;
	}
	/* OCW2: EOI commands (rotation is not modelled). */
	u8 cmd = val >> 5;
	if (cmd == 1) { /* non-specific EOI: the highest-priority bit in service */
		for (int irq = 0; irq < 8; irq++)
			if (c->isr & BIT(irq)) {
				c->isr &= ~BIT(irq);
				break;
			}
	} else if (cmd == 3) { /* specific EOI */
		c->isr &= ~BIT(val & 7);
	}
}

u32 pic_in(struct vm *vm, u16 port, u8 size)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	u32 val;
	if (port == 0x4d0 || port == 0x4d1) {
		val = vm->pic.chip[port - 0x4d0].elcr;
	} else {
		struct vpic_chip *c = &vm->pic.chip[port >= 0xa0];
		if (port & 1)
			val = c->imr;
		else
			val = c->read_isr ? c->isr : c->irr;
	}
	spin_unlock(&vm->dev_lock, f);
	return val;
}

void pic_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	if (port == 0x4d0)
		vm->pic.chip[0].elcr = val & 0xf8; /* IRQ 0-2 are always edge */
	else if (port == 0x4d1)
		vm->pic.chip[1].elcr = val & 0xde; /* IRQ 8 and 13 are always edge */
	else
		chip_write(&vm->pic.chip[port >= 0xa0], port & 1, (u8)val);
	update_cascade(&vm->pic);
	spin_unlock(&vm->dev_lock, f);
	/* Unmasking or an EOI may have let a request through to vCPU 0. */
	vcpu_kick(vm->vcpus[0]);
}

/* ISA IRQ n goes to the 8259s and to the IOAPIC (IRQ 0 is on pin 2, as the
 * MADT and MP table say). Both lines change under dev_lock together with
 * the device state that drives them, so levels never go stale. */
void vm_set_isa_irq_locked(struct vm *vm, u32 irq, bool level, struct isa_irq_out *out)
{
	pic_set_line_locked(vm, irq, level);
	out->send = ioapic_set_line_locked(vm, irq == 0 ? 2 : irq, level, &out->msg);
	out->kick = out->kick || level;
}

void isa_irq_finish(struct vm *vm, const struct isa_irq_out *out)
{
	if (out->send)
		apic_bus_deliver(vm, NULL, &out->msg);
	if (out->kick)
		vcpu_kick(vm->vcpus[0]);
}

void vm_set_isa_irq(struct vm *vm, u32 irq, bool level)
{
	struct isa_irq_out out = { 0 };
	unsigned long f = spin_lock(&vm->dev_lock);
	vm_set_isa_irq_locked(vm, irq, level, &out);
	spin_unlock(&vm->dev_lock, f);
	isa_irq_finish(vm, &out);
}

void vm_pulse_isa_irq(struct vm *vm, u32 irq)
{
	vm_set_isa_irq(vm, irq, true);
	vm_set_isa_irq(vm, irq, false);
}
