/* Guest local APIC, x2APIC register interface (Intel SDM vol. 3, 11.12) and
 * timer (11.5.4). The timer counts at 1 GHz (one tick per nanosecond before
 * the divider), like KVM's; TSC-deadline uses the guest TSC (= host TSC plus
 * the vCPU's offset). */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/log.h"
#include "kernel/sched.h"
#include "lib/string.h"
#include "virt/apic_bus.h"
#include "virt/vlapic.h"
#include "virt/vm.h"

/* Registers by index = xAPIC offset / 16 (x2APIC MSR = 0x800 + index). */
#define X2APIC_MSR_BASE 0x800
#define R_ID 0x02
#define R_VERSION 0x03
#define R_TPR 0x08
#define R_PPR 0x0a
#define R_EOI 0x0b
#define R_LDR 0x0d
#define R_DFR 0x0e
#define R_SVR 0x0f
#define R_ISR 0x10
#define R_TMR 0x18
#define R_IRR 0x20
#define R_ESR 0x28
#define R_ICR 0x30
#define R_ICR_HI 0x31
#define R_LVT_TIMER 0x32
#define R_LVT_LAST 0x37
#define R_TMICT 0x38
#define R_TMCCT 0x39
#define R_TDCR 0x3e
#define R_SELF_IPI 0x3f

#define APIC_BASE_BSP BIT(8)
#define APIC_BASE_EXTD BIT(10)
#define APIC_BASE_EN BIT(11)
#define APIC_BASE_DEFAULT 0xfee00000ull
#define APIC_BASE_RESERVED (0xffull | BIT(9) | (~0ull << 52))
#define SVR_ENABLE BIT(8)
#define LVT_MASKED BIT(16)
#define LVT_TIMER_MODE(l) (((l) >> 17) & 3)
#define TIMER_ONESHOT 0
#define TIMER_PERIODIC 1
#define TIMER_TSC_DEADLINE 2
#define APIC_VERSION 0x00050014 /* version 0x14, 6 LVT entries */
/* Writable bits per LVT (timer, thermal, perf, LINT0, LINT1, error). */
static const u32 lvt_mask[6] = { 0x710ff, 0x117ff, 0x117ff, 0x1f7ff, 0x1f7ff, 0x100ff };

static bool x2apic_enabled(const struct vlapic *l)
{
	return (l->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static int highest_bit(const u32 *bits)
{
	for (int i = 7; i >= 0; i--)
		if (bits[i])
			return i * 32 + 31 - __builtin_clz(bits[i]);
	return -1;
}

static void set_bit(u32 *bits, int v) { bits[v / 32] |= 1u << (v % 32); }
static void clear_bit(u32 *bits, int v) { bits[v / 32] &= ~(1u << (v % 32)); }

static u32 ppr(const struct vlapic *l)
{
	int isrv = highest_bit(l->isr);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;
	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* A guest must not flood its host CPU with timer interrupts: periods below
 * this are stretched to it (KVM does the same with a 200 us floor). */
#define MIN_PERIOD_NS 50000ull

static u64 timer_period_ns(const struct vlapic *l)
{
	u32 v = (l->timer_divide & 3) | ((l->timer_divide & 8) >> 1);
	u32 div = 1u << ((v + 1) & 7);
	return (u64)l->timer_initial * div;
}

static u64 timer_period_clamped_ns(const struct vlapic *l)
{
	return MAX(timer_period_ns(l), MIN_PERIOD_NS);
}

static void timer_fired(struct timer *t);

/* Caller holds l->lock and runs on the vCPU's host CPU. */
static void timer_start(struct vlapic *l)
{
	timer_cancel(&l->timer);
	u32 lvt = l->lvt[0];
	if (LVT_TIMER_MODE(lvt) == TIMER_TSC_DEADLINE) {
		if (l->tsc_deadline)
			timer_arm(&l->timer, l->tsc_deadline - l->vcpu->tsc_offset, timer_fired);
		return;
	}
	if (!l->timer_initial)
		return;
	l->timer_start_ns = time_ns();
	timer_arm(&l->timer, rdtsc() + ns_to_tsc(timer_period_ns(l)), timer_fired);
}

static void timer_fired(struct timer *t)
{
	struct vlapic *l = container_of(t, struct vlapic, timer);
	unsigned long f = spin_lock(&l->lock);
	u32 lvt = l->lvt[0];
	l->timer_fired++;
	if (!(lvt & LVT_MASKED) && (l->svr & SVR_ENABLE))
		set_bit(l->irr, lvt & 0xff);
	switch (LVT_TIMER_MODE(lvt)) {
	case TIMER_PERIODIC:
		if (l->timer_initial) {
			u64 period = timer_period_clamped_ns(l);
			l->timer_start_ns += period;
			timer_arm(&l->timer, t->deadline + ns_to_tsc(period), timer_fired);
		}
		break;
	case TIMER_TSC_DEADLINE:
		l->tsc_deadline = 0;
		break;
	default:
		break;
	}
	spin_unlock(&l->lock, f);
	vcpu_kick(l->vcpu);
}

static u32 timer_current_count(const struct vlapic *l)
{
	if (!l->timer_initial || LVT_TIMER_MODE(l->lvt[0]) == TIMER_TSC_DEADLINE)
		return 0;
	u64 period = timer_period_ns(l);
	u64 elapsed = time_ns() - l->timer_start_ns;
	if (LVT_TIMER_MODE(l->lvt[0]) == TIMER_ONESHOT && elapsed >= period)
		return 0;
	elapsed %= period;
	u32 div = (u32)(period / l->timer_initial);
	return l->timer_initial - (u32)(elapsed / div);
}

/* Power-up register state (SDM 11.4.7.1); the timer must be stopped. */
static void vlapic_reset_regs(struct vlapic *l, bool bsp)
{
	l->id = l->vcpu->id;
	l->apic_base = APIC_BASE_DEFAULT | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
	l->tpr = l->ldr = l->esr = l->esr_pending = 0;
	l->dfr = 0xffffffffu;
	l->icr_lo = l->icr_hi = 0;
	l->svr = 0xff;
	for (int i = 0; i < 6; i++)
		l->lvt[i] = LVT_MASKED;
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->timer_initial = l->timer_divide = 0;
	l->tsc_deadline = 0;
}

void vlapic_init(struct vlapic *l, struct vcpu *v, bool bsp)
{
	memset(l, 0, sizeof(*l));
	spin_init(&l->lock);
	list_init(&l->timer.link);
	l->vcpu = v;
	vlapic_reset_regs(l, bsp);
}

static bool apic_base_write(struct vlapic *l, u64 val)
{
	if (val & APIC_BASE_RESERVED)
		return false;
	bool en = val & APIC_BASE_EN, extd = val & APIC_BASE_EXTD;
	if (extd && !en)
		return false; /* invalid state (SDM 11.12.5) */
	if (extd && !(l->apic_base & APIC_BASE_EN))
		return false; /* disabled -> x2APIC is not a valid transition */
	if (x2apic_enabled(l) && en && !extd)
		return false; /* x2APIC -> xAPIC needs a pass through disabled */
	if (!en) { /* disabling resets the LAPIC to its power-up state */
		timer_cancel(&l->timer);
		vlapic_reset_regs(l, l->apic_base & APIC_BASE_BSP);
	}
	l->apic_base = (val & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP);
	return true;
}

static u32 logical_id(const struct vlapic *l, bool x2)
{
	/* x2APIC: cluster in 31:16, one bit of 16 in 15:0 (SDM 11.12.10.2). */
	if (x2)
		return ((l->id >> 4) << 16) | (1u << (l->id & 0xf));
	return l->ldr;
}

/* Caller holds l->lock. False: #GP (x2APIC) or ignored (xAPIC). */
static bool reg_read(struct vlapic *l, u32 r, bool x2, u64 *val)
{
	if (r == R_ID)
		*val = x2 ? l->id : l->id << 24;
	else if (r == R_VERSION)
		*val = APIC_VERSION;
	else if (r == R_TPR)
		*val = l->tpr;
	else if (r == R_PPR)
		*val = ppr(l);
	else if (r == R_LDR)
		*val = logical_id(l, x2);
	else if (r == R_DFR && !x2)
		*val = l->dfr;
	else if (r == R_SVR)
		*val = l->svr;
	else if (r >= R_ISR && r < R_ISR + 8)
		*val = l->isr[r - R_ISR];
	else if (r >= R_TMR && r < R_TMR + 8)
		*val = l->tmr[r - R_TMR];
	else if (r >= R_IRR && r < R_IRR + 8)
		*val = l->irr[r - R_IRR];
	else if (r == R_ESR)
		*val = l->esr;
	else if (r == R_ICR)
		*val = x2 ? ((u64)l->icr_hi << 32) | l->icr_lo : l->icr_lo;
	else if (r == R_ICR_HI && !x2)
		*val = l->icr_hi;
	else if (r >= R_LVT_TIMER && r <= R_LVT_LAST)
		*val = l->lvt[r - R_LVT_TIMER];
	else if (r == R_TMICT)
		*val = l->timer_initial;
	else if (r == R_TMCCT)
		*val = timer_current_count(l);
	else if (r == R_TDCR)
		*val = l->timer_divide;
	else
		return false; /* write-only (EOI, SELF IPI) or reserved */
	return true;
}

bool vlapic_rdmsr(struct vlapic *l, u32 msr, u64 *val)
{
	unsigned long f = spin_lock(&l->lock);
	bool ok = true;
	if (msr == 0x1b)
		*val = l->apic_base;
	else if (msr == MSR_IA32_TSC_DEADLINE)
		*val = LVT_TIMER_MODE(l->lvt[0]) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
	else if (!x2apic_enabled(l) || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_BASE + 0xff)
		ok = false;
	else
		ok = reg_read(l, msr - X2APIC_MSR_BASE, true, val);
	spin_unlock(&l->lock, f);
	return ok;
}

static bool lvt_write(struct vlapic *l, u32 idx, u64 val)
{
	if (val >> 32)
		return false;
	u32 v = (u32)val & lvt_mask[idx];
	if (idx == 0 && LVT_TIMER_MODE(v) == 3)
		return false; /* reserved timer mode */
	if (!(l->svr & SVR_ENABLE))
		v |= LVT_MASKED; /* software-disabled: LVTs stay masked (11.4.7.2) */
	u32 old = l->lvt[idx];
	l->lvt[idx] = v;
	if (idx == 0 && LVT_TIMER_MODE(old) != LVT_TIMER_MODE(v)) {
		/* Switching modes disarms the timer (11.5.4.1). */
		l->timer_initial = 0;
		l->tsc_deadline = 0;
		timer_cancel(&l->timer);
	}
	return true;
}

static void eoi(struct vlapic *l)
{
	int v = highest_bit(l->isr);
	if (v < 0)
		return;
	clear_bit(l->isr, v);
	/* A level-triggered interrupt's EOI goes to the IOAPIC (SDM 11.8.5). */
	if (l->tmr[v / 32] & (1u << (v % 32))) {
		clear_bit(l->tmr, v);
		l->eoi_broadcast = v;
	}
}

/* Caller holds l->lock. An ICR write is returned in *ipi for sending once
 * the lock is dropped. False: #GP (x2APIC) or ignored (xAPIC). */
static bool reg_write(struct vlapic *l, u32 r, bool x2, u64 val, bool *ipi)
{
	if (r == R_ID && !x2) {
		l->id = (u32)val >> 24;
	} else if (r == R_TPR && !(val >> 8)) {
		l->tpr = (u32)val;
	} else if (r == R_EOI && (!x2 || !val)) {
		eoi(l);
	} else if (r == R_LDR && !x2) {
		l->ldr = (u32)val & 0xff000000u;
	} else if (r == R_DFR && !x2) {
		l->dfr = (u32)val | 0x0fffffffu;
	} else if (r == R_SVR && !(val >> 32)) {
		l->svr = (u32)val & 0x11ff;
		if (!(l->svr & SVR_ENABLE))
			for (int i = 0; i < 6; i++)
				l->lvt[i] |= LVT_MASKED;
	} else if (r == R_ESR && (!x2 || !val)) {
		/* A write latches the errors collected since the last one
		 * (SDM 3 11.5.3). */
		l->esr = l->esr_pending;
		l->esr_pending = 0;
	} else if (r >= R_LVT_TIMER && r <= R_LVT_LAST) {
		return lvt_write(l, r - R_LVT_TIMER, val);
	} else if (r == R_TMICT && !(val >> 32)) {
		if (LVT_TIMER_MODE(l->lvt[0]) != TIMER_TSC_DEADLINE) {
			l->timer_initial = (u32)val;
			timer_start(l);
		}
	} else if (r == R_TDCR && !(val & ~0xbull)) {
		l->timer_divide = (u32)val;
	} else if (r == R_SELF_IPI && x2 && !(val >> 8)) {
		if (val >= 16)
			set_bit(l->irr, (int)val);
	} else if (r == R_ICR) {
		/* Bit 12 (delivery status) reads 0: delivery is immediate. */
		l->icr_lo = (u32)val & ~BIT(12);
		if (x2)
			l->icr_hi = val >> 32;
		*ipi = true;
	} else if (r == R_ICR_HI && !x2) {
		l->icr_hi = (u32)val & 0xff000000u;
	} else {
		return false;
	}
	return true;
}

/* After a register write: send the IPI or the EOI the write asked for. */
static void after_write(struct vlapic *l, bool ipi, int eoi_vector)
{
	if (ipi)
		apic_bus_send_ipi(l->vcpu, l->icr_lo, l->icr_hi, x2apic_enabled(l));
	if (eoi_vector >= 0)
		apic_bus_eoi(l->vcpu->vm, (u8)eoi_vector);
}

bool vlapic_wrmsr(struct vlapic *l, u32 msr, u64 val)
{
	bool ipi = false, ok = true;
	unsigned long f = spin_lock(&l->lock);
	l->eoi_broadcast = -1;
	if (msr == 0x1b) {
		ok = apic_base_write(l, val);
	} else if (msr == MSR_IA32_TSC_DEADLINE) {
		if (LVT_TIMER_MODE(l->lvt[0]) == TIMER_TSC_DEADLINE) {
			l->tsc_deadline = val;
			timer_start(l);
		} /* ignored in the other modes (11.5.4.1) */
	} else if (!x2apic_enabled(l) || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_BASE + 0xff) {
		ok = false;
	} else {
		ok = reg_write(l, msr - X2APIC_MSR_BASE, true, val, &ipi);
	}
	int eoi_vector = l->eoi_broadcast;
	spin_unlock(&l->lock, f);
	after_write(l, ipi && ok, eoi_vector);
	return ok;
}

/* xAPIC MMIO (SDM 11.4.1): 32-bit accesses to 16-byte aligned registers;
 * anything else, and everything while the APIC is disabled or in x2APIC
 * mode, reads as 0 and writes are dropped. */
bool vlapic_mmio_read(struct vlapic *l, u64 offset, u32 *val)
{
	unsigned long f = spin_lock(&l->lock);
	u64 v = 0;
	bool ok = (l->apic_base & APIC_BASE_EN) && !x2apic_enabled(l) && !(offset & 0xf) &&
		  offset < 0x400 && reg_read(l, (u32)(offset >> 4), false, &v);
	spin_unlock(&l->lock, f);
	*val = ok ? (u32)v : 0;
	return ok;
}

void vlapic_mmio_write(struct vlapic *l, u64 offset, u32 val)
{
	bool ipi = false, ok = false;
	unsigned long f = spin_lock(&l->lock);
	l->eoi_broadcast = -1;
	if ((l->apic_base & APIC_BASE_EN) && !x2apic_enabled(l) && !(offset & 0xf) && offset < 0x400)
		ok = reg_write(l, (u32)(offset >> 4), false, val, &ipi);
	int eoi_vector = l->eoi_broadcast;
	spin_unlock(&l->lock, f);
	after_write(l, ipi && ok, eoi_vector);
}

u64 vlapic_mmio_base(struct vlapic *l)
{
	return l->apic_base & ~0xfffull & ((1ull << 52) - 1);
}

bool vlapic_match_dest(struct vlapic *l, u32 dest, bool logical, bool x2)
{
	unsigned long f = spin_lock(&l->lock);
	bool hit;
	if (!logical) {
		hit = dest == (x2 ? 0xffffffffu : 0xffu) || dest == l->id;
	} else if (x2) {
		u32 ldr = logical_id(l, true);
		hit = (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	} else if ((l->dfr >> 28) == 0xf) { /* flat model */
		hit = (dest & (l->ldr >> 24)) != 0;
	} else { /* cluster model: cluster in 7:4, member bits in 3:0 */
		u32 ldr = l->ldr >> 24;
		hit = ((dest >> 4) == (ldr >> 4) || (dest >> 4) == 0xf) && (dest & ldr & 0xf);
	}
	spin_unlock(&l->lock, f);
	return hit;
}

void vlapic_accept(struct vlapic *l, u8 vector, bool level)
{
	unsigned long f = spin_lock(&l->lock);
	if ((l->apic_base & APIC_BASE_EN) && vector >= 16) {
		set_bit(l->irr, vector);
		if (level)
			set_bit(l->tmr, vector);
		else
			clear_bit(l->tmr, vector);
	}
	spin_unlock(&l->lock, f);
}

bool vlapic_extint_accepted(struct vlapic *l)
{
	unsigned long f = spin_lock(&l->lock);
	u32 lint0 = l->lvt[3];
	/* Like KVM: a hardware-disabled APIC passes the 8259's INTR through;
	 * otherwise LINT0 must be an unmasked ExtINT (virtual wire). */
	bool ok = !(l->apic_base & APIC_BASE_EN) ||
		  (!(lint0 & LVT_MASKED) && ((lint0 >> 8) & 7) == 7);
	spin_unlock(&l->lock, f);
	return ok;
}

bool vlapic_sw_enabled(struct vlapic *l)
{
	return (READ_ONCE(l->apic_base) & APIC_BASE_EN) && (READ_ONCE(l->svr) & SVR_ENABLE);
}

/* INIT keeps IA32_APIC_BASE (an AP in x2APIC mode stays in it). */
void vlapic_error(struct vlapic *l, u32 esr_bits)
{
	unsigned long f = spin_lock(&l->lock);
	l->esr_pending |= esr_bits;
	spin_unlock(&l->lock, f);
}

void vlapic_reset(struct vlapic *l)
{
	unsigned long f = spin_lock(&l->lock);
	timer_cancel(&l->timer);
	u64 base = l->apic_base;
	vlapic_reset_regs(l, base & APIC_BASE_BSP);
	l->apic_base = base;
	spin_unlock(&l->lock, f);
}

/* Racy peek, no lock: a vector set after it is followed by a kick, which
 * the vCPU loop notices (it announced in_guest before looking). */
static bool irr_empty(const struct vlapic *l)
{
	u32 any = 0;
	for (int i = 0; i < 8; i++)
		any |= READ_ONCE(l->irr[i]);
	return !any;
}

int vlapic_pending_vector(struct vlapic *l)
{
	if (irr_empty(l))
		return -1;
	unsigned long f = spin_lock(&l->lock);
	int v = -1;
	if ((l->apic_base & APIC_BASE_EN) && (l->svr & SVR_ENABLE)) {
		int irr = highest_bit(l->irr);
		if (irr >= 0 && ((u32)irr & 0xf0) > (ppr(l) & 0xf0))
			v = irr;
	}
	spin_unlock(&l->lock, f);
	return v;
}

void vlapic_ack(struct vlapic *l, int vector)
{
	unsigned long f = spin_lock(&l->lock);
	clear_bit(l->irr, vector);
	set_bit(l->isr, vector);
	spin_unlock(&l->lock, f);
}
