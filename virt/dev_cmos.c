/* CMOS RTC and NVRAM at ports 0x70/0x71 (MC146818). The clock registers are
 * read from the host's own RTC (Umbra owns the machine; nothing else uses
 * it); everything else is a per-VM copy, so a guest's writes stay its own.
 * Memory-size bytes follow the PC BIOS / QEMU layout. */
#include "arch/x86/cpu.h"
#include "kernel/spinlock.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_STATUS_C 0x0c
#define RTC_STATUS_D 0x0d
#define RTC_CENTURY 0x32

static spinlock_t host_rtc_lock = SPINLOCK_INIT;

static bool is_clock_register(u8 idx)
{
	return idx <= 0x09 || idx == RTC_STATUS_A || idx == RTC_CENTURY;
}

static u8 host_rtc_read(u8 idx)
{
	unsigned long f = spin_lock(&host_rtc_lock);
	outb(CMOS_INDEX, idx | 0x80); /* keep NMIs masked as firmware leaves them */
	u8 v = inb(CMOS_DATA);
	spin_unlock(&host_rtc_lock, f);
	return v;
}

/* The per-VM bytes that describe the machine (BIOS data a guest reads). */
static u8 nvram_byte(struct vm *vm, u8 idx)
{
	u64 ext_kb = vm->mem_bytes > (1ull << 20) ? (vm->mem_bytes - (1ull << 20)) >> 10 : 0;
	u64 above16m = vm->mem_bytes > (16ull << 20) ? (MIN(vm->mem_bytes, 0xe0000000ull) - (16ull << 20)) >> 16 : 0;
	u64 above4g = vm->mem_bytes > (4ull << 30) ? (vm->mem_bytes - (4ull << 30)) >> 16 : 0;
	ext_kb = MIN(ext_kb, 0xfc00ull);
	above16m = MIN(above16m, 0xffffull);
	switch (idx) {
	case RTC_STATUS_B:
		return 0x02; /* 24-hour, BCD, no interrupts */
	case RTC_STATUS_C:
		return 0;
	case RTC_STATUS_D:
		return 0x80; /* battery good */
	case 0x14:
		return 0x06; /* equipment: FPU, VGA/EGA */
	case 0x15:
		return 0x80; /* 640 KiB base memory */
	case 0x16:
		return 0x02;
	case 0x17:
	case 0x30:
		return ext_kb & 0xff;
	case 0x18:
	case 0x31:
		return ext_kb >> 8;
	case 0x34:
		return above16m & 0xff;
	case 0x35:
		return above16m >> 8;
	case 0x5b:
		return above4g & 0xff;
	case 0x5c:
		return (above4g >> 8) & 0xff;
	case 0x5d:
		return (above4g >> 16) & 0xff;
	case 0x5f:
		return (u8)(vm->nr_vcpus - 1);
	default:
		return 0;
	}
}

u32 cmos_in(struct vm *vm, u16 port, u8 size)
{
	if (port == CMOS_INDEX)
		return 0xff; /* write-only on real hardware */
	u8 idx = READ_ONCE(vm->cmos_index) & 0x7f;
	if (is_clock_register(idx))
		return host_rtc_read(idx);
	return nvram_byte(vm, idx);
}

void cmos_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	if (port == CMOS_INDEX)
		WRITE_ONCE(vm->cmos_index, (u8)val);
	/* Data writes (setting the clock, NVRAM) are dropped: the clock is the
	 * host's, and the rest describes the VM. */
}
