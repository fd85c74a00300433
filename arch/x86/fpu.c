#include "arch/x86/cpu.h"
#include "arch/x86/fpu.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "lib/string.h"

#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR4_OSXMMEXCPT BIT(10)

static void *fpu_owner[MAX_CPUS];
static u8 *fpu_area[MAX_CPUS];

void fpu_cpu_init(void)
{
	/* Also turn the caches on: firmware (the Bochs BIOS) and INIT leave
	 * CD/NW set, which would run the whole hypervisor uncached. */
	write_cr0((read_cr0() & ~(CR0_EM | CR0_TS | CR0_CD | CR0_NW)) | CR0_MP);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

void fpu_state_init(u8 *area)
{
	memset(area, 0, 512);
	*(u16 *)area = 0x37f;              /* FCW after FNINIT */
	*(u32 *)(area + 24) = 0x1f80;      /* MXCSR power-up value */
}

/* Called with interrupts off. */
void fpu_switch_to(void *owner, u8 *area)
{
	u32 cpu = this_cpu_index();
	if (fpu_owner[cpu] == owner)
		return;
	if (fpu_owner[cpu])
		__asm__ volatile("fxsave64 %0" : "=m"(*(u8(*)[512])fpu_area[cpu]));
	__asm__ volatile("fxrstor64 %0" : : "m"(*(u8(*)[512])area));
	fpu_owner[cpu] = owner;
	fpu_area[cpu] = area;
}

static void forget_on_this_cpu(void *owner)
{
	u32 cpu = this_cpu_index();
	if (fpu_owner[cpu] == owner)
		fpu_owner[cpu] = NULL;
}

/* On each CPU in turn, so it cannot race with that CPU's fpu_switch_to
 * (which runs with interrupts off). */
void fpu_forget(void *owner)
{
	smp_call_all(forget_on_this_cpu, owner);
}
