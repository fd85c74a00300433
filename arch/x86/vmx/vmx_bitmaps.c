/* The I/O and MSR bitmaps every VMCS points at (Intel SDM vol. 3, 25.6.4 and
 * 25.6.9). Every port and every MSR exits, as on AMD-V, so the generic port
 * and MSR policy (virt/pio.c, virt/msr.c) decides; the exceptions are the
 * MSRs whose guest values live in the VMCS (FS/GS base, SYSENTER_*) and the
 * SYSCALL MSRs, which the backend switches itself (vmx_guest_msrs.c). */
#include "arch/x86/vmx/vmx.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/phys.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084

/* MSR bitmap layout (25.6.9): read bitmap for MSRs 0-1FFFH at byte 0,
 * for C0000000H-C0001FFFH at 1024; the write bitmaps at 2048 and 3072. */
#define MSR_BITMAP_READ_LOW 0
#define MSR_BITMAP_READ_HIGH 1024
#define MSR_BITMAP_WRITE_LOW 2048
#define MSR_BITMAP_WRITE_HIGH 3072

paddr_t vmx_io_bitmap_a, vmx_io_bitmap_b, vmx_msr_bitmap;

static void msr_passthrough(u8 *bitmap, u32 msr)
{
	u32 read, write;
	if (msr < 0x2000) {
		read = MSR_BITMAP_READ_LOW, write = MSR_BITMAP_WRITE_LOW;
	} else if (msr >= 0xc0000000 && msr < 0xc0002000) {
		read = MSR_BITMAP_READ_HIGH, write = MSR_BITMAP_WRITE_HIGH;
		msr -= 0xc0000000;
	} else {
		return; /* outside the bitmap: always exits */
	}
	bitmap[read + msr / 8] &= ~(1u << (msr % 8));
	bitmap[write + msr / 8] &= ~(1u << (msr % 8));
}

bool vmx_bitmaps_init(void)
{
	/* Bitmap A covers ports 0000H-7FFFH, B 8000H-FFFFH (25.6.4). */
	vmx_io_bitmap_a = frame_alloc(0);
	vmx_io_bitmap_b = frame_alloc(0);
	vmx_msr_bitmap = frame_alloc(0);
	if (vmx_io_bitmap_a == FRAME_NONE || vmx_io_bitmap_b == FRAME_NONE ||
	    vmx_msr_bitmap == FRAME_NONE)
		return false;
	memset(phys_to_virt(vmx_io_bitmap_a), 0xff, PAGE_SIZE);
	memset(phys_to_virt(vmx_io_bitmap_b), 0xff, PAGE_SIZE);
	u8 *msrs = phys_to_virt(vmx_msr_bitmap);
	memset(msrs, 0xff, PAGE_SIZE);
	static const u32 passthrough[] = {
		MSR_FS_BASE, MSR_GS_BASE, /* guest FS/GS base fields */
		MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
		MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
	};
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++)
		msr_passthrough(msrs, passthrough[i]);
	return true;
}
