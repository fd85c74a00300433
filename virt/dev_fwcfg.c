/* QEMU's fw_cfg, legacy port interface (docs/specs/fw_cfg.rst in QEMU):
 * a 16-bit selector written to 0x510, then the item's bytes read one at a
 * time from 0x511, little-endian, past the end reading 0. */
#include "lib/string.h"
#include "virt/devices.h"
#include "virt/vm.h"

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_ID_TRADITIONAL 1

/* Copies item `key` into buf; returns its length. */
static u32 fw_cfg_item(struct vm *vm, u16 key, u8 buf[8])
{
	u64 v;
	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		v = FW_CFG_ID_TRADITIONAL;
		memcpy(buf, &v, 4);
		return 4;
	case FW_CFG_RAM_SIZE:
		memcpy(buf, &vm->mem_bytes, 8);
		return 8;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		v = vm->nr_vcpus;
		memcpy(buf, &v, 2);
		return 2;
	case FW_CFG_FILE_DIR: /* no files: a zero count (big-endian u32) */
		memset(buf, 0, 4);
		return 4;
	default:
		return 0;
	}
}

u32 fw_cfg_in(struct vm *vm, u16 port, u8 size)
{
	if (port != FW_CFG_PORT_DATA)
		return 0;
	unsigned long f = spin_lock(&vm->dev_lock);
	u8 buf[8];
	u32 len = fw_cfg_item(vm, vm->fw_cfg_key, buf);
	u8 byte = vm->fw_cfg_offset < len ? buf[vm->fw_cfg_offset] : 0;
	if (vm->fw_cfg_offset < len)
		vm->fw_cfg_offset++;
	spin_unlock(&vm->dev_lock, f);
	return byte;
}

void fw_cfg_out(struct vm *vm, u16 port, u8 size, u32 val)
{
	if (port != FW_CFG_PORT_SEL || size != 2)
		return;
	unsigned long f = spin_lock(&vm->dev_lock);
	vm->fw_cfg_key = (u16)val;
	vm->fw_cfg_offset = 0;
	spin_unlock(&vm->dev_lock, f);
}
