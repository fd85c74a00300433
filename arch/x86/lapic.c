/* Local APIC driver (Intel SDM vol. 3, chapter 11). One register interface
 * hides xAPIC MMIO vs x2APIC MSRs (MSR = 0x800 + offset/16, SDM 11.12.1.2). */
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/log.h"
#include "mm/phys.h"

#define LAPIC_ID 0x20
#define LAPIC_VER 0x30
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_PERF 0x340
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define APIC_BASE_X2APIC BIT(10)
#define APIC_BASE_ENABLE BIT(11)
#define SVR_ENABLE BIT(8)
#define LVT_MASKED BIT(16)
#define LVT_TIMER_TSC_DEADLINE (2u << 17)
#define ICR_DELIVERY_PENDING BIT(12)
#define ICR_LEVEL_ASSERT BIT(14)
#define ICR_LEVEL_TRIGGER BIT(15)
#define ICR_DM_FIXED (0u << 8)
#define ICR_DM_NMI (4u << 8)
#define ICR_DM_INIT (5u << 8)
#define ICR_DM_STARTUP (6u << 8)
#define ICR_ALL_BUT_SELF (3u << 18)
#define TIMER_DIV_16 0x3

static bool x2apic;
static bool tsc_deadline;
static volatile u32 *xapic_mmio;
static u64 timer_hz; /* LAPIC timer ticks per second at divide-by-16 */

static u32 lapic_read(u32 reg)
{
	if (x2apic)
		return (u32)rdmsr(0x800 + (reg >> 4));
	return xapic_mmio[reg / 4];
}

static void lapic_write(u32 reg, u32 v)
{
	if (x2apic)
		wrmsr(0x800 + (reg >> 4), v);
	else
		xapic_mmio[reg / 4] = v;
}

static void lapic_write_icr(u32 dest, u32 low)
{
	if (x2apic) {
		wrmsr(0x830, ((u64)dest << 32) | low);
		return;
	}
	/* Two stores: an interrupt handler sending its own IPI in between
	 * would retarget ours. */
	unsigned long f = irq_save();
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, low);
	u32 spin = 0;
	while ((lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING) && spin < 1000000)
		spin++;
	irq_restore(f);
	if (spin == 1000000)
		log_warn("lapic: IPI to %u still pending", dest);
}

void lapic_global_init(paddr_t mmio_base)
{
	struct cpuid_regs r = cpuid(1, 0);
	x2apic = r.ecx & BIT(21);
	tsc_deadline = r.ecx & BIT(24);
	xapic_mmio = phys_to_virt(mmio_base ? mmio_base : 0xfee00000);
	log_info("lapic: %s mode, timer %s", x2apic ? "x2APIC" : "xAPIC",
		 tsc_deadline ? "TSC-deadline" : "one-shot");
}

void lapic_init_cpu(void)
{
	u64 base = rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_ENABLE;
	/* Disabled -> x2APIC is an invalid transition (SDM 11.12.5): enable
	 * the xAPIC first, then switch. */
	wrmsr(MSR_IA32_APIC_BASE, base);
	if (x2apic)
		wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_X2APIC);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_TIMER_INIT, 0); /* one-shot, disarmed until a timer is set */
	lapic_write(LAPIC_LVT_TIMER, (tsc_deadline ? LVT_TIMER_TSC_DEADLINE : 0) | VEC_TIMER);
	lapic_eoi();
}

u32 lapic_id(void)
{
	u32 id = lapic_read(LAPIC_ID);
	return x2apic ? id : id >> 24;
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
bool lapic_x2apic_mode(void) { return x2apic; }
bool lapic_tsc_deadline(void) { return tsc_deadline; }

void lapic_send_ipi(u32 apic_id, u8 vector)
{
	lapic_write_icr(apic_id, ICR_DM_FIXED | ICR_LEVEL_ASSERT | vector);
}

void lapic_send_nmi_all_but_self(void)
{
	lapic_write_icr(0, ICR_DM_NMI | ICR_LEVEL_ASSERT | ICR_ALL_BUT_SELF);
}

void lapic_send_init(u32 apic_id)
{
	lapic_write_icr(apic_id, ICR_DM_INIT | ICR_LEVEL_ASSERT | ICR_LEVEL_TRIGGER);
	tsc_delay_us(10000); /* MP spec B.4: 10 ms after INIT */
	if (!x2apic) /* deassert; x2APIC has no level-deassert INIT (SDM 11.12.10) */
		lapic_write_icr(apic_id, ICR_DM_INIT | ICR_LEVEL_TRIGGER);
}

void lapic_send_sipi(u32 apic_id, u8 page)
{
	lapic_write_icr(apic_id, ICR_DM_STARTUP | page);
	tsc_delay_us(200);
}

void lapic_timer_calibrate(void)
{
	if (tsc_deadline)
		return;
	/* Count LAPIC ticks over a known TSC interval (the TSC is calibrated). */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
	u64 t0 = rdtsc();
	tsc_delay_us(10000);
	u32 left = lapic_read(LAPIC_TIMER_CUR);
	u64 t1 = rdtsc();
	lapic_write(LAPIC_TIMER_INIT, 0);
	u64 ticks = 0xffffffffull - left;
	timer_hz = ticks * tsc_hz() / (t1 - t0);
	if (!timer_hz)
		panic("lapic: timer did not count during calibration");
	log_info("lapic: timer %llu kHz (divide by 16)", (unsigned long long)(timer_hz / 1000));
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER); /* one-shot, unmasked */
}

u64 lapic_timer_hz(void) { return timer_hz; }

void lapic_timer_arm(u64 deadline)
{
	if (tsc_deadline) {
		wrmsr(MSR_IA32_TSC_DEADLINE, deadline);
		return;
	}
	if (!deadline) {
		lapic_write(LAPIC_TIMER_INIT, 0);
		return;
	}
	u64 now = rdtsc();
	u64 delta = deadline > now ? deadline - now : 0;
	if (delta > tsc_hz())
		delta = tsc_hz(); /* keeps the product below 2^64; fires early and re-arms */
	u64 ticks = delta * timer_hz / tsc_hz() + 1;
	if (ticks > 0xffffffffull)
		ticks = 0xffffffffull; /* fires early; the timer code re-arms */
	lapic_write(LAPIC_TIMER_INIT, (u32)ticks);
}
