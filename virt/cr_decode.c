/*
 * Control-register instruction decoding. Encodings: Intel SDM Vol. 2A §2.1
 * (format, prefixes, ModRM/SIB, Tables 2-1 to 2-3), §2.2.1 (REX), and the
 * pages "MOV—Move to/from Control Registers", "CLTS", "LMSW", "SMSW"; AMD
 * APM Vol. 3 §1.2-§1.4 and "MOV (CRn)". Prefix rules as in virt/insn_len.c.
 */
#include "virt/cr_decode.h"
#include "virt/backend.h"

#define CR_INSN_MAX_LEN	15	/* SDM Vol. 2A §2.1: longer raises #GP */
#define PFX_LOCK	0xf0
#define PFX_OPSIZE	0x66
#define PFX_ADDRSIZE	0x67
#define REX_W		0x8
#define REX_R		0x4
#define REX_B		0x1

/* The legacy prefixes of SDM Vol. 2A §2.1.1, groups 1-4. */
static bool is_legacy_prefix(u8 b)
{
	switch (b) {
	case 0xf0: case 0xf2: case 0xf3:			/* group 1 */
	case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64: case 0x65:
	case 0x66: case 0x67:					/* groups 3, 4 */
		return true;
	default:
		return false;
	}
}

/* Next byte, if within both the available bytes and the 15-byte limit. */
static bool next(const u8 *bytes, unsigned lim, unsigned *pos, u8 *b)
{
	if (*pos >= lim)
		return false;
	*b = bytes[(*pos)++];
	return true;
}

/*
 * Skips the SIB and displacement of a memory ModRM (mod != 3). 16-bit
 * addressing (SDM Table 2-1): disp16 for mod=2 and for mod=0 rm=6, no SIB.
 * 32/64-bit (Tables 2-2, 2-3): rm=4 brings a SIB, whose base=5 with mod=0
 * means disp32; mod=0 rm=5 is disp32 (RIP-relative in 64-bit mode, §2.2.1.6);
 * REX.B/REX.X do not change any of this (Table 2-5).
 */
static bool skip_mem_operand(const u8 *bytes, unsigned lim, unsigned *pos,
			     u8 modrm, unsigned addr_size)
{
	unsigned mod = modrm >> 6, rm = modrm & 7, disp;
	u8 sib;

	if (addr_size == 2) {
		disp = mod == 1 ? 1 : (mod == 2 || rm == 6) ? 2 : 0;
	} else {
		disp = mod == 1 ? 1 : (mod == 2 || rm == 5) ? 4 : 0;
		if (rm == 4) {
			if (!next(bytes, lim, pos, &sib))
				return false;
			if (mod == 0)
				disp = (sib & 7) == 5 ? 4 : 0;
		}
	}
	if (lim - *pos < disp)
		return false;
	*pos += disp;
	return true;
}

bool cr_decode(const u8 *bytes, unsigned n, enum guest_cpu_mode mode,
	       struct cr_insn *out)
{
	bool long64 = mode == GUEST_MODE_LONG64, bits16, lock = false;
	bool opsize = false, addrsize = false;
	unsigned lim = MIN(n, (unsigned)CR_INSN_MAX_LEN), pos = 0;
	struct cr_insn r = { .gpr = -1 };
	u8 b, rex = 0, modrm, reg, rm;

	if (!bytes || !out || (mode != GUEST_MODE_REAL && mode != GUEST_MODE_PROT16 &&
			       mode != GUEST_MODE_PROT32 && !long64))
		return false;
	bits16 = mode == GUEST_MODE_REAL || mode == GUEST_MODE_PROT16;
	/* Prefixes in any number and order. 40-4F are REX only in 64-bit mode
	 * and apply only right before the opcode: "Other placements are
	 * ignored" (SDM §2.2.1), so a later legacy prefix cancels one. */
	for (;;) {
		if (!next(bytes, lim, &pos, &b))
			return false;
		if (is_legacy_prefix(b)) {
			rex = 0;
			lock |= b == PFX_LOCK;
			opsize |= b == PFX_OPSIZE;
			addrsize |= b == PFX_ADDRSIZE;
		} else if (long64 && (b & 0xf0) == 0x40) {
			rex = b;
		} else {
			break;
		}
	}
	if (b != 0x0f || !next(bytes, lim, &pos, &b))
		return false;
	if (b == 0x06) {			/* CLTS: no operands */
		r.op = CR_OP_CLTS;
		goto done_nolock;
	}
	if ((b != 0x20 && b != 0x22 && b != 0x01) ||
	    !next(bytes, lim, &pos, &modrm))
		return false;
	reg = (u8)(((modrm >> 3) & 7) | ((rex & REX_R) ? 8 : 0));
	rm = (u8)((modrm & 7) | ((rex & REX_B) ? 8 : 0));
	if (b != 0x01) {
		/* MOV CR: "The 2 bits in the mod field are ignored", operand
		 * 64-bit in 64-bit mode, else 32 (SDM MOV CR). APM MOV (CRn):
		 * LOCK in place of REX.R reaches CR8 (CPUID Fn8000_0001 ECX[4]
		 * AltMovCr8); the APM describes it for legacy mode, QEMU
		 * accepts it in every mode, and so do we. */
		if (lock) {
			if (reg != 0)
				return false;	/* LOCK: #UD */
			reg = 8;
		}
		/* "Attempts to reference CR1, CR5, CR6, CR7, and CR9-CR15
		 * result in undefined opcode (#UD) exceptions." */
		if (reg != 0 && reg != 2 && reg != 3 && reg != 4 && reg != 8)
			return false;
		r.op = b == 0x20 ? CR_OP_MOV_FROM : CR_OP_MOV_TO;
		r.cr = reg;
		r.gpr = (s8)rm;
		r.op_size = long64 ? 8 : 4;
		goto done;
	}
	/* Group 7 (SDM Vol. 2D Table A-6): /4 SMSW, /6 LMSW. LMSW reads 16
	 * bits; SMSW stores 16 to memory, to a register 16/32/64 bits by
	 * operand size (SDM SMSW; 66 and REX.W per Vol. 1 §3.6, Table 3-4). */
	if ((reg & 7) == 6) {
		r.op = CR_OP_LMSW;
		r.op_size = 2;
	} else if ((reg & 7) == 4) {
		r.op = CR_OP_SMSW;
		r.op_size = (rex & REX_W) ? 8 : (opsize != bits16) ? 2 : 4;
	} else if ((reg & 7) == 7 && (modrm >> 6) != 3) {
		r.op = CR_OP_INVLPG; /* INVLPG m: only its length is needed */
	} else {
		return false;
	}
	if ((modrm >> 6) == 3) {
		r.gpr = (s8)rm;
	} else {
		/* Address size: 16 or 32 by mode, toggled by 67; 64 or 32 in
		 * 64-bit mode (SDM Vol. 1 §3.6, Tables 3-3 and 3-4). */
		unsigned asize = long64 ? (addrsize ? 4 : 8) :
				 (addrsize != bits16) ? 2 : 4;
		if (!skip_mem_operand(bytes, lim, &pos, modrm, asize))
			return false;
		r.op_size = 2;
	}
done_nolock:
	/* LOCK on anything but MOV CR0 is #UD (SDM §2.1.1, LOCK). */
	if (lock)
		return false;
done:
	r.len = (u8)pos;
	*out = r;
	return true;
}
