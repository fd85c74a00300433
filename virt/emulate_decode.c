/*
 * The emulator's instruction fetch and decoder. Format and encodings: Intel
 * SDM Vol. 2A ch. 2 (prefixes §2.1.1, ModRM/SIB §2.1.5 Tables 2-1..2-3, REX
 * §2.2.1, RIP-relative §2.2.1.6), Vol. 2D Appendix A (opcode maps); operand
 * and address sizes: Vol. 1 §3.6 Tables 3-3/3-4.
 *
 * Bytes are fetched lazily, one page chunk at a time, through the guest's
 * page tables: an instruction that ends on its first page never touches the
 * second, and the sixteenth byte is never fetched (#GP(0) instead).
 */
#include "virt/emulate_priv.h"

#define PFX_OPSIZE	0x66
#define PFX_ADDRSIZE	0x67
#define PFX_LOCK	0xf0
#define PFX_REPNE	0xf2
#define PFX_REP		0xf3

#define REX_B 0x1
#define REX_X 0x2
#define REX_R 0x4
#define REX_W 0x8

static bool long64(const struct emu_ctx *c)
{
	return c->st.mode == GUEST_MODE_LONG64;
}

/* Fetches the next chunk of instruction bytes: from the current position up
 * to the end of its page, the CS limit, or the 15-byte maximum. */
static enum emu_result fetch_chunk(struct emu_ctx *c)
{
	const struct emu_seg *cs = &c->st.seg[EMU_CS];
	unsigned want = EMU_MAX_INSN_LEN - c->ifetched;
	unsigned acc = EMU_ACC_FETCH | (c->st.cpl == 3 ? EMU_ACC_USER : 0);
	u64 la, gpa;
	enum emu_result r;

	if (long64(c)) {
		/* SDM Vol. 3A §3.4.4: CS base and limit are ignored. */
		la = c->st.rip + c->ifetched;
		if (!emu_canonical(c, la))
			return emu_raise(c, EMU_VEC_GP, true, 0, "non-canonical instruction fetch");
	} else {
		u64 off = (u32)c->st.rip + (u64)c->ifetched;

		if (off > cs->limit)
			return emu_raise(c, EMU_VEC_GP, true, 0, "instruction fetch beyond the CS limit");
		want = (unsigned)MIN((u64)want, cs->limit - off + 1);
		la = (u32)(cs->base + off);
	}
	want = (unsigned)MIN((u64)want, PAGE_SIZE - (la & (PAGE_SIZE - 1)));
	r = emu_translate(c, la, acc, &gpa);
	if (r != EMU_OK)
		return r;
	if (!c->ops->read_phys(c->ops->ctx, gpa, c->ibuf + c->ifetched, want)) {
		c->info->io_gpa = gpa;
		c->info->reason = "instruction bytes not in guest RAM";
		return EMU_IO_ERROR;
	}
	c->ifetched = (u8)(c->ifetched + want);
	c->info->nbytes = c->ifetched;
	for (unsigned i = 0; i < c->ifetched; i++)
		c->info->bytes[i] = c->ibuf[i];
	return EMU_OK;
}

static enum emu_result fetch_u8(struct emu_ctx *c, u8 *b)
{
	if (c->ipos >= EMU_MAX_INSN_LEN)
		return emu_raise(c, EMU_VEC_GP, true, 0, "instruction longer than 15 bytes");
	if (c->ipos >= c->ifetched) {
		enum emu_result r = fetch_chunk(c);

		if (r != EMU_OK)
			return r;
	}
	*b = c->ibuf[c->ipos++];
	return EMU_OK;
}

/* Fetches a little-endian immediate of size bytes, sign-extended to 64. */
static enum emu_result fetch_imm(struct emu_ctx *c, unsigned size, u64 *val)
{
	u64 v = 0;

	for (unsigned i = 0; i < size; i++) {
		u8 b = 0;
		enum emu_result r = fetch_u8(c, &b);

		if (r != EMU_OK)
			return r;
		v |= (u64)b << (8 * i);
	}
	if (size < 8 && (v & (1ull << (size * 8 - 1))))
		v |= ~emu_size_mask(size);
	*val = v;
	return EMU_OK;
}

/* Legacy prefixes and REX (SDM Vol. 2A §2.1.1, §2.2.1): any number in any
 * order up to the length limit; for each group the last one counts. A REX
 * applies only right before the opcode, so a legacy prefix after it cancels
 * it. Returns the first opcode byte. */
static enum emu_result decode_prefixes(struct emu_ctx *c, u8 *op)
{
	struct emu_insn *in = &c->in;

	for (;;) {
		u8 b = 0;

		TRY(fetch_u8(c, &b));
		switch (b) {
		case PFX_OPSIZE: in->opsize_pfx = true; break;
		case PFX_ADDRSIZE: in->addrsize_pfx = true; break;
		case PFX_LOCK: in->lock = true; break;
		case PFX_REPNE: case PFX_REP: in->rep = b; break;
		case 0x26: in->seg_override = EMU_ES; break;
		case 0x2e: in->seg_override = EMU_CS; break;
		case 0x36: in->seg_override = EMU_SS; break;
		case 0x3e: in->seg_override = EMU_DS; break;
		case 0x64: in->seg_override = EMU_FS; break;
		case 0x65: in->seg_override = EMU_GS; break;
		default:
			if (long64(c) && (b & 0xf0) == 0x40) {
				in->rex = b;
				continue;
			}
			*op = b;
			return EMU_OK;
		}
		in->rex = 0;
	}
}

static void set_sizes(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;

	switch (c->st.mode) {
	case GUEST_MODE_REAL:
	case GUEST_MODE_PROT16:
		in->osize = in->opsize_pfx ? 4 : 2;
		in->asize = in->addrsize_pfx ? 4 : 2;
		break;
	case GUEST_MODE_PROT32:
		in->osize = in->opsize_pfx ? 2 : 4;
		in->asize = in->addrsize_pfx ? 2 : 4;
		break;
	case GUEST_MODE_LONG64:
		in->osize = (in->rex & REX_W) ? 8 : in->opsize_pfx ? 2 : 4;
		in->asize = in->addrsize_pfx ? 4 : 8;
		break;
	}
}

static u64 gpr(const struct emu_ctx *c, unsigned r)
{
	return c->st.gpr[r & 15];
}

/* ModRM, SIB and displacement (SDM Vol. 2A Tables 2-1, 2-2, 2-3). The
 * RIP-relative form is finished in emu_decode once the length is known. */
static enum emu_result decode_modrm(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	u8 m = 0;
	u64 ea = 0, disp = 0;
	u8 seg = EMU_DS;

	TRY(fetch_u8(c, &m));
	in->has_modrm = true;
	in->modrm = m;
	in->mod = m >> 6;
	in->reg = (u8)(((m >> 3) & 7) | ((in->rex & REX_R) ? 8 : 0));
	in->rm = (u8)((m & 7) | ((in->rex & REX_B) ? 8 : 0));
	if (in->mod == 3)
		return EMU_OK;
	in->has_mem = true;

	if (in->asize == 2) {
		unsigned rm = m & 7;
		static const s8 base16[8] = { EMU_RBX, EMU_RBX, EMU_RBP, EMU_RBP, -1, -1, EMU_RBP, EMU_RBX };
		static const s8 index16[8] = { EMU_RSI, EMU_RDI, EMU_RSI, EMU_RDI, EMU_RSI, EMU_RDI, -1, -1 };

		if (in->mod == 0 && rm == 6) {
			TRY(fetch_imm(c, 2, &disp));
		} else {
			if (base16[rm] >= 0)
				ea += gpr(c, (unsigned)base16[rm]);
			if (index16[rm] >= 0)
				ea += gpr(c, (unsigned)index16[rm]);
			if (base16[rm] == EMU_RBP)
				seg = EMU_SS;
			if (in->mod == 1)
				TRY(fetch_imm(c, 1, &disp));
			else if (in->mod == 2)
				TRY(fetch_imm(c, 2, &disp));
		}
	} else {
		int base = -1;

		if ((m & 7) == 4) {
			u8 sib = 0;
			unsigned index;

			TRY(fetch_u8(c, &sib));
			index = ((sib >> 3) & 7) | ((in->rex & REX_X) ? 8 : 0);
			if (index != EMU_RSP)
				ea += gpr(c, index) << (sib >> 6);
			if ((sib & 7) == 5 && in->mod == 0)
				TRY(fetch_imm(c, 4, &disp));
			else
				base = (sib & 7) | ((in->rex & REX_B) ? 8 : 0);
		} else if ((m & 7) == 5 && in->mod == 0) {
			TRY(fetch_imm(c, 4, &disp));
			in->rip_rel = long64(c);
		} else {
			base = in->rm;
		}
		if (base >= 0) {
			ea += gpr(c, (unsigned)base);
			/* SDM Vol. 1 §3.7.5: rSP/rBP as base mean SS (not R12/R13). */
			if (base == EMU_RSP || base == EMU_RBP)
				seg = EMU_SS;
		}
		if (in->mod == 1)
			TRY(fetch_imm(c, 1, &disp));
		else if (in->mod == 2)
			TRY(fetch_imm(c, 4, &disp));
	}
	in->disp = disp;
	in->ea = (ea + disp) & emu_size_mask(in->asize);
	in->mem_seg = in->seg_override >= 0 ? (u8)in->seg_override : seg;
	return EMU_OK;
}

static struct emu_opnd opnd_reg(const struct emu_ctx *c, unsigned reg, unsigned size)
{
	struct emu_opnd o = { .type = O_REG, .size = (u8)size, .reg = (u8)reg };

	/* Without REX, byte registers 4-7 are AH, CH, DH, BH (§2.2.1.2). */
	if (size == 1 && !c->in.rex && reg >= 4 && reg < 8) {
		o.reg = (u8)(reg - 4);
		o.high8 = true;
	}
	return o;
}

/* The r/m operand: a register when mod is 3, else the memory operand. */
static struct emu_opnd opnd_e(const struct emu_ctx *c, unsigned size)
{
	if (!c->in.has_mem)
		return opnd_reg(c, c->in.rm, size);
	return (struct emu_opnd){ .type = O_MEM, .size = (u8)size };
}

static struct emu_opnd opnd_g(const struct emu_ctx *c, unsigned size)
{
	return opnd_reg(c, c->in.reg, size);
}

static enum emu_result opnd_imm(struct emu_ctx *c, unsigned imm_size, unsigned size,
				struct emu_opnd *o)
{
	u64 v;

	TRY(fetch_imm(c, imm_size, &v));
	*o = (struct emu_opnd){ .type = O_IMM, .size = (u8)size, .imm = v & emu_size_mask(size) };
	return EMU_OK;
}

/* Size of an Iz immediate: 16 bits for 16-bit operands, else 32 (sign-
 * extended to 64 with REX.W). */
static unsigned iz(const struct emu_ctx *c)
{
	return c->in.osize == 2 ? 2 : 4;
}

static enum emu_result unknown(struct emu_ctx *c)
{
	return emu_unhandled(c, "unsupported opcode");
}

/* The Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev forms selected by the low two bits of
 * the ALU, TEST, XCHG and MOV opcodes (bit 0: byte or full size, bit 1:
 * direction). */
static enum emu_result form_rm(struct emu_ctx *c, u8 op, bool reverse_ok)
{
	struct emu_insn *in = &c->in;
	unsigned size = (op & 1) ? in->osize : 1;

	TRY(decode_modrm(c));
	if ((op & 2) && reverse_ok) {
		in->dst = opnd_g(c, size);
		in->src = opnd_e(c, size);
	} else {
		in->dst = opnd_e(c, size);
		in->src = opnd_g(c, size);
	}
	return EMU_OK;
}

static enum emu_result decode_one_byte(struct emu_ctx *c, u8 op)
{
	struct emu_insn *in = &c->in;
	unsigned size = (op & 1) ? in->osize : 1;

	if (op < 0x40 && (op & 7) < 6) {
		/* 00-3D: ADD OR ADC SBB AND SUB XOR CMP in six forms each. */
		in->kind = K_ALU;
		in->alu = op >> 3;
		if ((op & 7) < 4)
			return form_rm(c, op, true);
		in->dst = opnd_reg(c, EMU_RAX, size);
		return opnd_imm(c, (op & 1) ? iz(c) : 1, size, &in->src);
	}
	if (op >= 0x40 && op <= 0x4f) {
		/* INC/DEC r16/r32 (REX prefixes in 64-bit mode, handled earlier). */
		in->kind = op < 0x48 ? K_INC : K_DEC;
		in->dst = opnd_reg(c, op & 7, in->osize);
		return EMU_OK;
	}
	if (op >= 0x90 && op <= 0x97) {
		unsigned r = (op & 7) | ((in->rex & REX_B) ? 8 : 0);

		if (r == EMU_RAX) {
			in->kind = K_NOP; /* also PAUSE (F3 90) */
			return EMU_OK;
		}
		in->kind = K_XCHG;
		in->dst = opnd_reg(c, r, in->osize);
		in->src = opnd_reg(c, EMU_RAX, in->osize);
		return EMU_OK;
	}
	if (op >= 0xb0 && op <= 0xbf) {
		/* MOV r, imm: B0+r byte, B8+r full size (imm64 with REX.W). */
		unsigned r = (op & 7) | ((in->rex & REX_B) ? 8 : 0);

		size = op >= 0xb8 ? in->osize : 1;
		in->kind = K_MOV;
		in->dst = opnd_reg(c, r, size);
		return opnd_imm(c, size, size, &in->src);
	}

	switch (op) {
	case 0x63:
		/* MOVSXD Gv, Ed (64-bit mode; ARPL elsewhere). Without REX.W it
		 * is a plain 32- or 16-bit move. */
		if (!long64(c))
			return unknown(c);
		in->kind = K_MOVSX;
		TRY(decode_modrm(c));
		in->dst = opnd_g(c, in->osize);
		in->src = opnd_e(c, MIN(in->osize, 4));
		return EMU_OK;
	case 0x80: case 0x81: case 0x82: case 0x83:
		/* Group 1 (Table A-6); 82 is an alias of 80, invalid in 64-bit mode. */
		if (op == 0x82 && long64(c))
			return emu_raise(c, EMU_VEC_UD, false, 0, "opcode 82 in 64-bit mode");
		size = op == 0x81 || op == 0x83 ? in->osize : 1;
		TRY(decode_modrm(c));
		in->kind = K_ALU;
		in->alu = (in->modrm >> 3) & 7;
		in->dst = opnd_e(c, size);
		return opnd_imm(c, op == 0x81 ? iz(c) : 1, size, &in->src);
	case 0x84: case 0x85:
		in->kind = K_TEST;
		return form_rm(c, op, false);
	case 0x86: case 0x87:
		in->kind = K_XCHG;
		return form_rm(c, op, false);
	case 0x88: case 0x89: case 0x8a: case 0x8b:
		in->kind = K_MOV;
		return form_rm(c, op, true);
	case 0x8d:
		in->kind = K_LEA;
		TRY(decode_modrm(c));
		if (!in->has_mem)
			return emu_raise(c, EMU_VEC_UD, false, 0, "LEA with a register operand");
		in->dst = opnd_g(c, in->osize);
		return EMU_OK;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
		/* MOV with a moffs operand: an address-size offset, no ModRM. */
		u64 off;

		TRY(fetch_imm(c, in->asize, &off));
		in->kind = K_MOV;
		in->has_mem = true;
		in->ea = off & emu_size_mask(in->asize);
		in->mem_seg = in->seg_override >= 0 ? (u8)in->seg_override : EMU_DS;
		size = (op & 1) ? in->osize : 1;
		if (op < 0xa2) {
			in->dst = opnd_reg(c, EMU_RAX, size);
			in->src = (struct emu_opnd){ .type = O_MEM, .size = (u8)size };
		} else {
			in->dst = (struct emu_opnd){ .type = O_MEM, .size = (u8)size };
			in->src = opnd_reg(c, EMU_RAX, size);
		}
		return EMU_OK;
	}
	case 0xa4: case 0xa5: in->kind = K_MOVS; break;
	case 0xa6: case 0xa7: in->kind = K_CMPS; break;
	case 0xaa: case 0xab: in->kind = K_STOS; break;
	case 0xac: case 0xad: in->kind = K_LODS; break;
	case 0xae: case 0xaf: in->kind = K_SCAS; break;
	case 0xa8: case 0xa9:
		in->kind = K_TEST;
		in->dst = opnd_reg(c, EMU_RAX, size);
		return opnd_imm(c, (op & 1) ? iz(c) : 1, size, &in->src);
	case 0xc6: case 0xc7:
		TRY(decode_modrm(c));
		if (((in->modrm >> 3) & 7) != 0)
			return unknown(c); /* XABORT/XBEGIN and reserved */
		in->kind = K_MOV;
		in->dst = opnd_e(c, size);
		return opnd_imm(c, (op & 1) ? iz(c) : 1, size, &in->src);
	case 0xf6: case 0xf7:
		TRY(decode_modrm(c));
		in->dst = opnd_e(c, size);
		switch ((in->modrm >> 3) & 7) {
		case 0: case 1: /* /1 is an undocumented alias of TEST */
			in->kind = K_TEST;
			return opnd_imm(c, (op & 1) ? iz(c) : 1, size, &in->src);
		case 2: in->kind = K_NOT; return EMU_OK;
		case 3: in->kind = K_NEG; return EMU_OK;
		default: return emu_unhandled(c, "MUL/IMUL/DIV/IDIV are not emulated");
		}
	case 0xfe: case 0xff:
		TRY(decode_modrm(c));
		switch ((in->modrm >> 3) & 7) {
		case 0: in->kind = K_INC; break;
		case 1: in->kind = K_DEC; break;
		default: return unknown(c);
		}
		in->dst = opnd_e(c, size);
		return EMU_OK;
	default:
		return unknown(c);
	}
	/* String instructions: operands are implicit. */
	in->dst.size = in->src.size = (u8)size;
	return EMU_OK;
}

static enum emu_result decode_two_byte(struct emu_ctx *c)
{
	static const u8 bt_kind[4] = { K_BT, K_BTS, K_BTR, K_BTC };
	struct emu_insn *in = &c->in;
	u8 op = 0;

	TRY(fetch_u8(c, &op));
	in->two_byte = true;
	in->op = op;
	switch (op) {
	case 0x1f: /* NOP Ev (hint NOP): no memory access */
		TRY(decode_modrm(c));
		in->kind = K_NOP;
		return EMU_OK;
	case 0xa3: case 0xab: case 0xb3: case 0xbb:
		/* BT/BTS/BTR/BTC Ev, Gv */
		in->kind = bt_kind[(op >> 3) & 3];
		TRY(decode_modrm(c));
		in->dst = opnd_e(c, in->osize);
		in->src = opnd_g(c, in->osize);
		return EMU_OK;
	case 0xba:
		TRY(decode_modrm(c));
		if (((in->modrm >> 3) & 7) < 4)
			return unknown(c);
		in->kind = bt_kind[((in->modrm >> 3) & 7) - 4];
		in->dst = opnd_e(c, in->osize);
		return opnd_imm(c, 1, 1, &in->src);
	case 0xb0: case 0xb1:
		in->kind = K_CMPXCHG;
		return form_rm(c, op, false);
	case 0xc0: case 0xc1:
		in->kind = K_XADD;
		return form_rm(c, op, false);
	case 0xb6: case 0xb7: case 0xbe: case 0xbf:
		in->kind = op < 0xb8 ? K_MOVZX : K_MOVSX;
		TRY(decode_modrm(c));
		in->dst = opnd_g(c, in->osize);
		in->src = opnd_e(c, (op & 1) ? 2 : 1);
		return EMU_OK;
	case 0xc3: {
		/* MOVNTI My, Gy (NP 0F C3): a plain store for the emulator;
		 * 32-bit, 64 with REX.W, whatever the mode's default; 66 #UD. */
		unsigned size = (in->rex & REX_W) ? 8 : 4;

		TRY(decode_modrm(c));
		if (!in->has_mem || in->opsize_pfx)
			return emu_raise(c, EMU_VEC_UD, false, 0, "invalid MOVNTI form");
		in->kind = K_MOV;
		in->osize = (u8)size;
		c->info->op_size = (u8)size;
		in->dst = opnd_e(c, size);
		in->src = opnd_g(c, size);
		return EMU_OK;
	}
	case 0xc7:
		TRY(decode_modrm(c));
		if (((in->modrm >> 3) & 7) != 1)
			return unknown(c);
		if (!in->has_mem)
			return emu_raise(c, EMU_VEC_UD, false, 0, "CMPXCHG8B with a register operand");
		in->kind = K_CMPXCHG8B;
		in->dst = (struct emu_opnd){ .type = O_MEM, .size = (in->rex & REX_W) ? 16 : 8 };
		return EMU_OK;
	default:
		return unknown(c);
	}
}

/* Whether LOCK is allowed: SDM Vol. 2B LOCK lists the instructions, and
 * only with a memory destination; anything else is #UD. */
static bool lock_ok(const struct emu_insn *in)
{
	if (in->dst.type != O_MEM)
		return false;
	switch (in->kind) {
	case K_ALU:
		return in->alu != ALU_CMP;
	case K_INC: case K_DEC: case K_NOT: case K_NEG:
	case K_BTS: case K_BTR: case K_BTC:
	case K_XADD: case K_XCHG: case K_CMPXCHG: case K_CMPXCHG8B:
		return true;
	default:
		return false;
	}
}

enum emu_result emu_decode(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	u8 op = 0;

	in->seg_override = -1;
	TRY(decode_prefixes(c, &op));
	set_sizes(c);
	c->info->op_size = in->osize;
	c->info->addr_size = in->asize;
	in->op = op;
	if (op == 0x0f)
		TRY(decode_two_byte(c));
	else
		TRY(decode_one_byte(c, op));

	in->len = c->ipos;
	c->info->len = in->len;
	if (in->rip_rel) {
		/* §2.2.1.6: relative to the next instruction; with a 32-bit
		 * address size the result is truncated to 32 bits. */
		in->ea = (c->st.rip + in->len + in->disp) & emu_size_mask(in->asize);
	}
	if (in->lock && !lock_ok(in))
		return emu_raise(c, EMU_VEC_UD, false, 0, "LOCK prefix not allowed here");
	return EMU_OK;
}
