/* Port I/O dispatch to the VM's devices. Ports no device owns read all-ones
 * and ignore writes, as on a PC; the PCI configuration mechanism #1 ports
 * exist but there is no device behind them. */
#include "kernel/log.h"
#include "virt/devices.h"
#include "virt/exit.h"
#include "virt/fwtables.h"
#include "virt/vm.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

static u32 pci_in(struct vm *vm, u16 port, u8 size)
{
	if (port == PCI_CONFIG_ADDRESS && size == 4)
		return vm->pci_addr;
	return 0xffffffff; /* no device answers */
}

static void pci_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	if (port == PCI_CONFIG_ADDRESS && size == 4)
		vm->pci_addr = val & 0x80fffffc;
}

struct pio_device {
	u16 base, len;
	u32 (*in)(struct vm *vm, u16 port, u8 size);
	void (*out)(struct vm *vm, u16 port, u8 size, u32 val);
};

/* The UART first: it is by far the busiest (every guest console byte). */
static const struct pio_device devices[] = {
	{ UART_IOBASE, 8, uart_in, uart_out },
	{ 0x20, 2, pic_in, pic_out },
	{ 0x40, 4, pit_in, pit_out },
	{ 0x61, 1, pit_in, pit_out },
	{ 0x70, 2, cmos_in, cmos_out },
	{ 0xa0, 2, pic_in, pic_out },
	{ DEBUG_EXIT_IOBASE, 4, NULL, debug_exit_out },
	{ 0x4d0, 2, pic_in, pic_out },
	{ FW_CFG_PORT_SEL, 2, fw_cfg_in, fw_cfg_out },
	{ GUEST_PM_BASE, 12, acpi_pm_in, acpi_pm_out },
	{ PCI_CONFIG_ADDRESS, 8, pci_in, pci_out },
};

static const struct pio_device *find(u16 port)
{
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
		if (port >= devices[i].base && port < devices[i].base + devices[i].len)
			return &devices[i];
	return NULL;
}

u32 pio_in(struct vm *vm, u16 port, u8 size)
{
	const struct pio_device *d = find(port);
	u32 ones = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
	if (!d || !d->in)
		return ones;
	return d->in(vm, port, size) & ones;
}

void pio_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	const struct pio_device *d = find(port);
	if (d && d->out)
		d->out(vm, port, size, val);
}
