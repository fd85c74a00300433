/* TSC calibration against HPET (IA-PC HPET spec 2.3), the ACPI PM timer
 * (3.579545 MHz, ACPI spec 4.8.3.3) or PIT channel 2 (8254, 1.193182 MHz). */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/log.h"
#include "mm/phys.h"

#define HPET_CAP 0x00
#define HPET_CONFIG 0x10
#define HPET_COUNTER 0xf0
#define HPET_ENABLE BIT(0)

#define PMTMR_HZ 3579545ull
#define PIT_HZ 1193182ull
#define CALIBRATE_MS 20

static u64 tsc_freq;
static u64 boot_tsc;
static const char *ref_name = "none";
static struct tsc_refclock ref;
static u64 hpet_period_fs;

static volatile u64 *hpet_reg(u32 off)
{
	return (volatile u64 *)phys_to_virt(ref.hpet_base + off);
}

static u64 pmtmr_read(void)
{
	return inl(ref.pmtmr_port) & (ref.pmtmr_32bit ? 0xffffffffu : 0xffffffu);
}

/* Ticks of the reference clock elapsed between a and b, with wrap. */
static u64 pmtmr_delta(u64 a, u64 b)
{
	u64 mask = ref.pmtmr_32bit ? 0xffffffffull : 0xffffffull;
	return (b - a) & mask;
}

static bool calibrate_hpet(void)
{
	u64 cap = *hpet_reg(HPET_CAP);
	hpet_period_fs = cap >> 32;
	/* Spec: period is non-zero and at most 100 ns (10^8 fs). */
	if (!hpet_period_fs || hpet_period_fs > 100000000ull)
		return false;
	*hpet_reg(HPET_CONFIG) |= HPET_ENABLE;
	/* COUNT_SIZE_CAP (bit 13) clear: a 32-bit counter that wraps often. */
	u64 mask = (cap & BIT(13)) ? ~0ull : 0xffffffffull;
	u64 want = (u64)CALIBRATE_MS * 1000000000000ull / hpet_period_fs;
	u64 h0 = *hpet_reg(HPET_COUNTER), t0 = rdtsc();
	u64 h1, spins = 0;
	do {
		h1 = *hpet_reg(HPET_COUNTER);
		if (++spins > 100000000ull)
			return false; /* counter does not run */
	} while (((h1 - h0) & mask) < want);
	u64 t1 = rdtsc();
	u64 elapsed_ns = ((h1 - h0) & mask) * hpet_period_fs / 1000000ull;
	tsc_freq = (t1 - t0) * 1000000000ull / elapsed_ns;
	return tsc_freq != 0;
}

static bool calibrate_pmtmr(void)
{
	u64 want = PMTMR_HZ * CALIBRATE_MS / 1000;
	u64 p0 = pmtmr_read(), t0 = rdtsc();
	u64 d, spins = 0;
	do {
		d = pmtmr_delta(p0, pmtmr_read());
		if (++spins > 100000000ull)
			return false;
	} while (d < want);
	u64 t1 = rdtsc();
	tsc_freq = (t1 - t0) * PMTMR_HZ / d;
	return tsc_freq != 0;
}

static bool calibrate_pit(void)
{
	/* Channel 2, mode 0, gated by port 0x61 bit 0; output on bit 5. */
	u32 count = (u32)(PIT_HZ * CALIBRATE_MS / 1000);
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0);
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	u64 t0 = rdtsc(), spins = 0;
	while (!(inb(0x61) & 0x20))
		if (++spins > 100000000ull)
			return false;
	u64 t1 = rdtsc();
	tsc_freq = (t1 - t0) * PIT_HZ / count;
	return tsc_freq != 0;
}

void tsc_calibrate(const struct tsc_refclock *r)
{
	ref = *r;
	boot_tsc = rdtsc();
	if (ref.hpet_base && calibrate_hpet()) {
		ref_name = "HPET";
	} else if (ref.pmtmr_port && calibrate_pmtmr()) {
		ref.hpet_base = 0;
		ref_name = "ACPI PM timer";
	} else if (calibrate_pit()) {
		ref.hpet_base = 0;
		ref.pmtmr_port = 0;
		ref_name = "PIT";
	} else {
		panic("tsc: no reference timer works (HPET, PM timer, PIT)");
	}
	log_info("tsc: %llu.%03llu MHz (calibrated against %s)",
		 (unsigned long long)(tsc_freq / 1000000),
		 (unsigned long long)(tsc_freq / 1000 % 1000), ref_name);
}

u64 tsc_hz(void) { return tsc_freq; }
const char *tsc_reference_name(void) { return ref_name; }

u64 tsc_to_ns(u64 ticks)
{
	/* Split to avoid overflow for large tick counts. */
	return ticks / tsc_freq * 1000000000ull + ticks % tsc_freq * 1000000000ull / tsc_freq;
}

u64 ns_to_tsc(u64 ns)
{
	return ns / 1000000000ull * tsc_freq + ns % 1000000000ull * tsc_freq / 1000000000ull;
}

u64 time_ns(void) { return tsc_to_ns(rdtsc() - boot_tsc); }

void tsc_delay_us(u64 us)
{
	u64 end = rdtsc() + ns_to_tsc(us * 1000);
	while (rdtsc() < end)
		cpu_relax();
}

u64 refclock_ns(void)
{
	if (ref.hpet_base)
		return *hpet_reg(HPET_COUNTER) * (hpet_period_fs / 1000) / 1000;
	return 0;
}
