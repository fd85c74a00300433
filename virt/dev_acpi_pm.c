/* ACPI fixed hardware of the guest (the ports its FADT names, QEMU PIIX4
 * style): PM1a event/control blocks and the 24-bit PM timer at 3.579545 MHz.
 * Writing SLP_EN with the \_S5 sleep type powers the VM off. */
#include "arch/x86/tsc.h"
#include "virt/devices.h"
#include "virt/fwtables.h"
#include "virt/vm.h"

#define PM_TIMER_HZ 3579545ull
#define PM1_SCI_EN BIT(0)
#define PM1_SLP_EN BIT(13)
#define PM1_SLP_TYP(v) (((v) >> 10) & 7)

u32 acpi_pm_in(struct vm *vm, u16 port, u8 size)
{
	u32 off = port - GUEST_PM_BASE;
	if (off >= 8) { /* PM_TMR: counts from boot, wraps at 24 bits */
		u64 t = time_ns();
		u64 ticks = t / 1000000000ull * PM_TIMER_HZ + t % 1000000000ull * PM_TIMER_HZ / 1000000000ull;
		return (u32)(ticks & 0xffffff) >> ((off - 8) * 8);
	}
	u32 regs = (u32)vm->pm1_status | ((u32)vm->pm1_enable << 16);
	if (off >= 4)
		regs = vm->pm1_control | PM1_SCI_EN; /* always in ACPI mode */
	return regs >> ((off & 3) * 8);
}

void acpi_pm_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	u32 off = port - GUEST_PM_BASE;
	if (off == 0 && size >= 2) {
		vm->pm1_status &= ~(u16)val; /* write 1 to clear */
	} else if (off == 2 && size >= 2) {
		vm->pm1_enable = (u16)val;
	} else if (off == 4 && size >= 2) {
		vm->pm1_control = (u16)val & ~PM1_SLP_EN;
		if ((val & PM1_SLP_EN) && PM1_SLP_TYP(val) == GUEST_S5_SLP_TYP) {
			vm->acpi_powered_off = true;
			vm_stop(vm, 0, "ACPI power-off (S5)");
		}
	}
}
