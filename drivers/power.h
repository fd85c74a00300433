/* Power-off, reset, and the test-exit convention. */
#ifndef UMBRA_DRIVERS_POWER_H
#define UMBRA_DRIVERS_POWER_H

#include "lib/types.h"

struct acpi_info;

/* Values written to QEMU's isa-debug-exit port (status = value*2+1). Never
 * 0: a triple fault or ACPI power-off also make QEMU exit with status 0. */
#define UMBRA_EXIT_PASS 0x10
#define UMBRA_EXIT_FAIL 0x11
#define UMBRA_EXIT_PANIC 0x12
#define DEBUG_EXIT_PORT 0xf4

void power_init(const struct acpi_info *acpi, bool test_exit_port);
/* Runs once at the start of power_off(), with interrupts as the caller had
 * them: e.g. to leave VMX operation on every CPU first. */
void power_set_off_hook(void (*fn)(void));
/* In test mode (`exitcode` on the command line): report `code` through the
 * debug-exit port and power off. Returns if not in test mode. */
void power_test_exit(u32 code);
__noreturn void power_off(void);
__noreturn void power_reset(void);

#endif
