/* 8254 PIT (Intel 82C54 datasheet): channel 0 in modes 0, 2 and 3 raises
 * ISA IRQ 0; channel 2 with the port 0x61 gate/output is what kernels
 * calibrate their clocks against. Counts are derived from host time at
 * 1.193182 MHz; only channel 0 needs a host timer. */
#include "arch/x86/tsc.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define PIT_HZ 1193182ull
#define PIT_MODE_PORT 0x43
#define PORT61 0x61
#define PORT61_GATE2 BIT(0)
#define PORT61_OUT2 BIT(5)
/* A guest must not drive the host with tiny periods (see vlapic.c). */
#define PIT_MIN_PERIOD_NS 100000ull

static u64 reload_ticks(const struct vpit_channel *c)
{
	return c->reload ? c->reload : 0x10000;
}

static u64 ticks_since_start(const struct vpit_channel *c)
{
	u64 t = time_ns() - c->start_ns; /* split: t * PIT_HZ overflows after hours */
	return t / 1000000000ull * PIT_HZ + t % 1000000000ull * PIT_HZ / 1000000000ull;
}

static u16 current_count(const struct vpit_channel *c)
{
	if (!c->counting)
		return c->reload;
	u64 t = ticks_since_start(c);
	u64 r = reload_ticks(c);
	if (c->mode == 0 || c->mode == 1)
		return t >= r ? (u16)(0x10000 - (t - r) % 0x10000) : (u16)(r - t);
	return (u16)(r - t % r);
}

static void pit_irq_timer(struct timer *t);

/* Caller holds dev_lock; runs on the CPU of the vCPU that wrote the count. */
static void channel0_start(struct vpit *p)
{
	struct vpit_channel *c = &p->ch[0];
	timer_cancel(&p->timer);
	if (c->mode != 0 && c->mode != 2 && c->mode != 3)
		return;
	u64 ns = MAX(reload_ticks(c) * 1000000000ull / PIT_HZ, PIT_MIN_PERIOD_NS);
	timer_arm(&p->timer, rdtsc() + ns_to_tsc(ns), pit_irq_timer);
}

static void pit_irq_timer(struct timer *t)
{
	struct vpit *p = container_of(t, struct vpit, timer);
	struct vm *vm = p->vm;
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vpit_channel *c = &p->ch[0];
	if (c->mode == 2 || c->mode == 3) {
		u64 ns = MAX(reload_ticks(c) * 1000000000ull / PIT_HZ, PIT_MIN_PERIOD_NS);
		timer_arm(t, t->deadline + ns_to_tsc(ns), pit_irq_timer);
	}
	spin_unlock(&vm->dev_lock, f);
	vm_pulse_isa_irq(vm, 0);
}

void pit_init(struct vm *vm)
{
	vm->pit.vm = vm;
	list_init(&vm->pit.timer.link);
}

void pit_destroy(struct vm *vm)
{
	timer_cancel(&vm->pit.timer);
}

static void write_command(struct vpit *p, u8 val)
{
	u32 ch = val >> 6;
	if (ch == 3) { /* read-back: latch the counts of the selected channels */
		for (int i = 0; i < 3; i++)
			if (!(val & BIT(5)) && (val & BIT(1 + i))) {
				p->ch[i].latch = current_count(&p->ch[i]);
				p->ch[i].latched = true;
			}
		return;
	}
	struct vpit_channel *c = &p->ch[ch];
	u8 access = (val >> 4) & 3;
	if (!access) { /* counter latch command */
		c->latch = current_count(c);
		c->latched = true;
		return;
	}
	c->access = access;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* modes 6 and 7 are 2 and 3 */
	c->write_hi = c->read_hi = false;
	c->counting = false;
	if (ch == 0)
		timer_cancel(&p->timer);
}

static void write_count(struct vpit *p, u32 ch, u8 val)
{
	struct vpit_channel *c = &p->ch[ch];
	if (c->access == 1) {
		c->reload = val;
	} else if (c->access == 2) {
		c->reload = (u16)(val << 8);
	} else if (!c->write_hi) {
		c->reload = (c->reload & 0xff00) | val;
		c->write_hi = true;
		return; /* counting starts with the high byte */
	} else {
		c->reload = (u16)((c->reload & 0xff) | (val << 8));
		c->write_hi = false;
	}
	c->start_ns = time_ns();
	c->counting = true;
	if (ch == 0)
		channel0_start(p);
}

static u8 read_count(struct vpit_channel *c)
{
	u16 v = c->latched ? c->latch : current_count(c);
	u8 out;
	if (c->access == 1)
		out = v & 0xff;
	else if (c->access == 2)
		out = v >> 8;
	else
		out = c->read_hi ? v >> 8 : v & 0xff;
	if (c->access == 3)
		c->read_hi = !c->read_hi;
	if (c->latched && (c->access != 3 || !c->read_hi))
		c->latched = false;
	return out;
}

/* Channel 2's OUT in mode 0: low while counting, high at terminal count. */
static bool channel2_out(const struct vpit *p)
{
	const struct vpit_channel *c = &p->ch[2];
	if (!(p->port61 & PORT61_GATE2) || !c->counting)
		return false;
	return ticks_since_start(c) >= reload_ticks(c);
}

u32 pit_in(struct vm *vm, u16 port, u8 size)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	u32 val = 0xff;
	if (port == PORT61)
		val = (vm->pit.port61 & 3) | (channel2_out(&vm->pit) ? PORT61_OUT2 : 0);
	else if (port >= 0x40 && port <= 0x42)
		val = read_count(&vm->pit.ch[port - 0x40]);
	spin_unlock(&vm->dev_lock, f);
	return val;
}

void pit_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	unsigned long f = spin_lock(&vm->dev_lock);
	struct vpit *p = &vm->pit;
	if (port == PIT_MODE_PORT) {
		write_command(p, (u8)val);
	} else if (port >= 0x40 && port <= 0x42) {
		write_count(p, port - 0x40, (u8)val);
	} else if (port == PORT61) {
		bool rising = !(p->port61 & PORT61_GATE2) && (val & PORT61_GATE2);
		p->port61 = val & 3;
		if (rising) /* the gate's rising edge (re)starts channel 2's count */
			p->ch[2].start_ns = time_ns();
	}
	spin_unlock(&vm->dev_lock, f);
}
