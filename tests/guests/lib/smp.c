/* AP start-up support: trampoline and parking page installation, low-memory
 * placement, CPU index from the stack (see pc.h). */
#include "pc.h"

ap_entry_fn volatile ap_entry;
volatile u32 ap_next_index;
extern char ap_stacks[], ap_stacks_end[];
extern char park_start[], park_end[], park_iret[], park_idtr[];

void smp_install_trampoline(u32 page)
{
	memcpy((void *)page, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
}

void smp_park_ivt(u32 page, u32 ivt)
{
	u32 ent = ((page >> 4) << 16) | (u32)(park_iret - park_start);
	for (u32 i = 0; i < 256; i++)
		asm volatile("movl %1, (%0)" : : "r"(ivt + 4 * i), "r"(ent) : "memory");
}

void smp_install_park(u32 page)
{
	u32 n = (u32)(park_end - park_start);
	memcpy((void *)page, park_start, n);
	*(u32 *)(page + (u32)(park_idtr - park_start) + 2) = page + 0x400;
	smp_park_ivt(page, page + 0x400);
}

u32 smp_cpu_index(void)
{
	u32 sp;
	asm volatile("movl %%esp, %0" : "=r"(sp));
	if (sp >= (u32)ap_stacks && sp < (u32)ap_stacks_end)
		return (sp - (u32)ap_stacks) / AP_STACK_SIZE + 1;
	return 0;
}

static bool overlap(u32 a, u32 b, u32 c, u32 d) { return a < d && c < b; }

bool lowmem_range_free(u32 start, u32 end)
{
	if (overlap(start, end, (u32)__image_start, (u32)__image_end))
		return false;
	if (!mbi)
		return true;
	if (overlap(start, end, (u32)mbi, (u32)mbi + 128))
		return false;
	if ((mbi->flags & (1u << 2)) && mbi->cmdline &&
	    overlap(start, end, mbi->cmdline, mbi->cmdline + strlen((char *)mbi->cmdline) + 1))
		return false;
	if ((mbi->flags & (1u << 6)) && overlap(start, end, mbi->mmap_addr, mbi->mmap_addr + mbi->mmap_length))
		return false;
	if ((mbi->flags & (1u << 3)) && mbi->mods_count) {
		u32 *m = (u32 *)mbi->mods_addr;
		if (overlap(start, end, mbi->mods_addr, mbi->mods_addr + 16 * mbi->mods_count))
			return false;
		for (u32 i = 0; i < mbi->mods_count; i++, m += 4) {
			if (overlap(start, end, m[0], m[1]))
				return false;
			if (m[2] && overlap(start, end, m[2], m[2] + strlen((char *)m[2]) + 1))
				return false;
		}
	}
	return true;
}

u32 lowmem_pick_page(u32 preferred)
{
	if (preferred && preferred < 0x9f000 && !(preferred & 0xfff) && lowmem_range_free(preferred, preferred + 4096))
		return preferred;
	for (u32 p = 0x8000; p >= 0x1000; p -= 0x1000)
		if (lowmem_range_free(p, p + 4096))
			return p;
	for (u32 p = 0x10000; p < 0x9f000; p += 0x1000)
		if (lowmem_range_free(p, p + 4096))
			return p;
	return 0;
}
