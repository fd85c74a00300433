/* VPIDs (Intel SDM vol. 3, 29.1): one per vCPU, so guest TLB entries stay
 * cached across exits and vCPUs never see each other's. VPID 0 is the
 * host's. A freed VPID may still tag stale entries; the next owner flushes
 * it before its first entry (vmx.c, flush_pending). */
#include "arch/x86/vmx/vmx.h"
#include "kernel/spinlock.h"

#define VPID_COUNT 65536

static u64 used[VPID_COUNT / 64] = { 1 }; /* VPID 0: the host */
static spinlock_t lock = SPINLOCK_INIT;
static u32 next = 1;

u16 vmx_vpid_alloc(void)
{
	unsigned long f = spin_lock(&lock);
	u16 vpid = 0;
	for (u32 n = 0; n < VPID_COUNT && !vpid; n++) {
		u32 i = (next + n) % VPID_COUNT;
		if (!(used[i / 64] & BIT(i % 64))) {
			used[i / 64] |= BIT(i % 64);
			vpid = (u16)i;
			next = i + 1;
		}
	}
	spin_unlock(&lock, f);
	return vpid;
}

void vmx_vpid_free(u16 vpid)
{
	if (!vpid)
		return;
	unsigned long f = spin_lock(&lock);
	used[vpid / 64] &= ~BIT(vpid % 64);
	spin_unlock(&lock, f);
}
