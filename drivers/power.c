/* ACPI soft-off (S5: SLP_TYP from \_S5 + SLP_EN into PM1x_CNT, ACPI spec
 * 7.4.2 and 4.8.3.2.1) and reset (FADT RESET_REG, then the 8042, then a triple
 * fault). */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "drivers/acpi.h"
#include "drivers/power.h"
#include "drivers/uart.h"
#include "kernel/log.h"
#include "mm/phys.h"

static const struct acpi_info *acpi;
static bool test_exit;
static void (*off_hook)(void);

void power_set_off_hook(void (*fn)(void))
{
	off_hook = fn;
}

void power_init(const struct acpi_info *a, bool test_exit_port)
{
	acpi = a;
	test_exit = test_exit_port;
}

/* Firmware may start in legacy mode: SMI_CMD <- ACPI_ENABLE hands the fixed
 * hardware to us and sets SCI_EN (ACPI spec 4.8.2.1). */
static void acpi_enable_mode(void)
{
	if (!acpi->pm1a_cnt || (inw(acpi->pm1a_cnt) & ACPI_PM1_CNT_SCI_EN))
		return;
	if (!acpi->smi_cmd || !acpi->acpi_enable || acpi->smi_cmd > 0xffff)
		return;
	outb((u16)acpi->smi_cmd, acpi->acpi_enable);
	for (int i = 0; i < 300 && !(inw(acpi->pm1a_cnt) & ACPI_PM1_CNT_SCI_EN); i++)
		tsc_delay_us(1000);
}

static void acpi_soft_off(void)
{
	if (!acpi || !acpi->fadt_valid || !acpi->s5_valid || !acpi->pm1a_cnt) {
		log_warn("power: no ACPI S5 information; cannot power off through ACPI");
		return;
	}
	acpi_enable_mode();
	/* Keep the other control bits; PM1b first so PM1a's write ends it. */
	const u16 sleep_bits = ACPI_PM1_CNT_SLP_TYP_MASK | ACPI_PM1_CNT_SLP_EN;
	if (acpi->pm1b_cnt)
		outw(acpi->pm1b_cnt, (inw(acpi->pm1b_cnt) & ~sleep_bits) |
					     acpi_s5_pm1_value(acpi, true));
	outw(acpi->pm1a_cnt, (inw(acpi->pm1a_cnt) & ~sleep_bits) | acpi_s5_pm1_value(acpi, false));
	tsc_delay_us(100000);
	log_err("power: ACPI S5 did not power off");
}

void power_off(void)
{
	log_info("power: powering off");
	void (*hook)(void) = off_hook;
	off_hook = NULL;
	if (hook)
		hook();
	uart_drain();
	irq_disable();
	acpi_soft_off();
	log_err("power: halting instead");
	uart_drain();
	for (;;)
		halt();
}

void power_test_exit(u32 code)
{
	if (!test_exit)
		return;
	uart_drain();
	outl(DEBUG_EXIT_PORT, code);
	/* Not QEMU with isa-debug-exit (e.g. Bochs): the console line that the
	 * harness reads was printed already, so power off. */
	power_off();
}

void power_reset(void)
{
	log_info("power: resetting");
	uart_drain();
	irq_disable();
	if (acpi && acpi->reset_valid) {
		const struct acpi_gas_info *g = &acpi->reset_reg;
		if (g->space_id == ACPI_GAS_SYSTEM_IO && g->address <= 0xffff)
			outb((u16)g->address, acpi->reset_value);
		else if (g->space_id == ACPI_GAS_SYSTEM_MEMORY)
			*(volatile u8 *)phys_to_virt(g->address) = acpi->reset_value;
		tsc_delay_us(50000);
	}
	outb(0x64, 0xfe); /* 8042 pulse reset line */
	tsc_delay_us(50000);
	/* Last resort: a triple fault with an empty IDT. */
	struct {
		u16 limit;
		u64 base;
	} __packed empty = { 0, 0 };
	__asm__ volatile("lidt %0; int3" : : "m"(empty));
	for (;;)
		halt();
}
