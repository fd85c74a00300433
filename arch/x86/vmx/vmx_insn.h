/* VMX instructions (Intel SDM vol. 3, chapter 31; vol. 2 for each one). They
 * report failure in RFLAGS (31.2): CF=1 "VMfailInvalid" (no current VMCS),
 * ZF=1 "VMfailValid" (the VM-instruction error field says why). Each wrapper
 * returns true on success. */
#ifndef UMBRA_ARCH_X86_VMX_VMX_INSN_H
#define UMBRA_ARCH_X86_VMX_VMX_INSN_H

#include "lib/types.h"

static inline bool vmxon(paddr_t region)
{
	bool fail;
	__asm__ volatile("vmxon %1; setbe %0" : "=q"(fail) : "m"(region) : "cc", "memory");
	return !fail;
}

static inline void vmxoff(void)
{
	__asm__ volatile("vmxoff" ::: "cc", "memory");
}

static inline bool vmclear(paddr_t vmcs)
{
	bool fail;
	__asm__ volatile("vmclear %1; setbe %0" : "=q"(fail) : "m"(vmcs) : "cc", "memory");
	return !fail;
}

static inline bool vmptrld(paddr_t vmcs)
{
	bool fail;
	__asm__ volatile("vmptrld %1; setbe %0" : "=q"(fail) : "m"(vmcs) : "cc", "memory");
	return !fail;
}

/* Reads a field of the current VMCS; a failed read gives 0. */
static inline u64 vmread(u64 field)
{
	u64 v;
	__asm__ volatile("vmread %1, %0" : "=rm"(v) : "r"(field) : "cc");
	return v;
}

static inline bool vmwrite(u64 field, u64 value)
{
	bool fail;
	__asm__ volatile("vmwrite %2, %1; setbe %0"
			 : "=q"(fail)
			 : "r"(field), "rm"(value)
			 : "cc", "memory");
	return !fail;
}

/* INVEPT/INVVPID take a 128-bit descriptor in memory (vol. 2). */
static inline bool invept(u64 type, u64 eptp)
{
	struct {
		u64 eptp, reserved;
	} desc = { eptp, 0 };
	bool fail;
	__asm__ volatile("invept %1, %2; setbe %0" : "=q"(fail) : "m"(desc), "r"(type)
			 : "cc", "memory");
	return !fail;
}

static inline bool invvpid(u64 type, u16 vpid)
{
	struct {
		u64 vpid, linear;
	} desc = { vpid, 0 };
	bool fail;
	__asm__ volatile("invvpid %1, %2; setbe %0" : "=q"(fail) : "m"(desc), "r"(type)
			 : "cc", "memory");
	return !fail;
}

#endif
