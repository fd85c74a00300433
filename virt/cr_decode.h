/*
 * Decoding of the control-register instructions that a CR read/write
 * intercept can exit on. AMD-V without decode assists (APM Vol. 2 §15.33,
 * e.g. QEMU TCG) reports only which CR was accessed, not the instruction or
 * its register operand, so the handler decodes the bytes at RIP. The bytes
 * come from the guest and are hostile: nothing past n (or 15) is read.
 */
#ifndef UMBRA_VIRT_CR_DECODE_H
#define UMBRA_VIRT_CR_DECODE_H

#include "lib/types.h"
#include "virt/guest_access.h"

struct cr_insn {
	u8 op;		/* CR_OP_* (virt/backend.h) */
	u8 cr;		/* 0, 2, 3, 4 or 8; 0 for CLTS, LMSW, SMSW (CR0) */
	s8 gpr;		/* register operand RAX=0..R15=15; -1: memory
			 * operand (LMSW/SMSW m16) or none (CLTS) */
	u8 len;		/* instruction length, prefixes included, 1..15 */
	u8 op_size;	/* bytes of the register operand: MOV CR 4 (8 in
			 * 64-bit mode); LMSW and memory SMSW 2; register
			 * SMSW 2/4/8 by 66/REX.W; CLTS 0 */
};

/*
 * Decodes the instruction in bytes[0..n) as code of the given mode. Returns
 * false, leaving *out untouched, unless it is one of
 *   MOV r,CRn (0F 20 /r)   MOV CRn,r (0F 22 /r)   CLTS (0F 06)
 *   LMSW r/m16 (0F 01 /6)  SMSW r/m (0F 01 /4)  INVLPG m (0F 01 /7, for its length)
 * complete within n bytes and 15 bytes, and valid (no #UD: CR1, CR5-CR7,
 * CR9-CR15, or LOCK other than on MOV CR0, are rejected). LOCK MOV CR0 is
 * decoded as CR8 (AMD AltMovCr8). Bytes after the instruction are ignored.
 */
bool cr_decode(const u8 *bytes, unsigned n, enum guest_cpu_mode mode,
	       struct cr_insn *out);

#endif
