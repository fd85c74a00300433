/*
 * Instruction-length decoding for intercepted instructions. Opcodes and
 * encodings: Intel SDM Vol. 2A §2.1-§2.2 (format, prefixes, REX) and the
 * instruction pages of Vol. 2A-2D; AMD APM Vol. 3 §1.2 (prefixes) and
 * Appendix A (opcode maps).
 */
#include "virt/insn_len.h"
#include "virt/gva.h"

/* Legacy prefixes (SDM Vol. 2A §2.1.1). */
#define PFX_OPSIZE	0x66	/* group 3 */
#define PFX_ADDRSIZE	0x67	/* group 4 */
#define PFX_LOCK	0xf0	/* group 1 */
#define PFX_REPNE	0xf2	/* group 1 */
#define PFX_REP		0xf3	/* group 1 */
#define PFX_ES		0x26	/* group 2: segment overrides */
#define PFX_CS		0x2e
#define PFX_SS		0x36
#define PFX_DS		0x3e
#define PFX_FS		0x64
#define PFX_GS		0x65

#define REX_MASK	0xf0	/* REX is 0100WRXB (§2.2.1.2) */
#define REX_BASE	0x40

#define OP_TWO_BYTE	0x0f	/* escape to the two-byte opcode map */

/* ModRM fields (§2.1.5). */
#define MODRM_REG(m)	(((m) >> 3) & 7)
#define MODRM_RM(m)	((m) & 7)

/* Reads the bytes of one instruction, enforcing both limits. The 15-byte
 * limit wins: an instruction that cannot be complete within 15 bytes is
 * too long whether or not more bytes were available. */
struct cursor {
	const u8 *bytes;
	size_t avail;
	size_t pos;
};

static int next_byte(struct cursor *c, u8 *b)
{
	if (c->pos >= INSN_MAX_LEN)
		return INSN_ERR_TOO_LONG;
	if (c->pos >= c->avail)
		return INSN_ERR_TRUNCATED;
	*b = c->bytes[c->pos++];
	return 0;
}

/* Whether b is a legacy prefix, recording it in *info if so. */
static bool take_legacy_prefix(u8 b, struct insn_info *info)
{
	switch (b) {
	case PFX_OPSIZE:
		info->opsize = true;
		return true;
	case PFX_ADDRSIZE:
		info->addrsize = true;
		return true;
	case PFX_LOCK:
		info->lock = true;
		return true;
	case PFX_REPNE:
	case PFX_REP:
		/* Both in group 1; the last one decides (as CPUs behave; the
		 * SDM leaves repeated group members unpredictable). */
		info->rep = b;
		return true;
	case PFX_ES:
	case PFX_CS:
	case PFX_SS:
	case PFX_DS:
	case PFX_FS:
	case PFX_GS:
		info->seg = b;
		return true;
	default:
		return false;
	}
}

/*
 * Consumes prefixes and returns the first opcode byte in *op. In 64-bit mode
 * 40-4F are REX prefixes (elsewhere INC/DEC opcodes); §2.2.1: "the REX
 * prefix byte must immediately precede the opcode byte or the escape
 * opcode byte (0FH)... Other placements are ignored", so a legacy prefix
 * after a REX cancels it, and of several REX bytes only the last applies.
 */
static int decode_prefixes(struct cursor *c, enum guest_cpu_mode mode,
			   struct insn_info *info, u8 *op)
{
	for (;;) {
		int r = next_byte(c, op);

		if (r)
			return r;
		if (take_legacy_prefix(*op, info)) {
			info->rex = 0;
		} else if (mode == GUEST_MODE_LONG64 &&
			   (*op & REX_MASK) == REX_BASE) {
			info->rex = *op;
		} else {
			return 0;
		}
		info->nr_prefixes++;
	}
}

/* Effective operand and address sizes (SDM Vol. 1 §3.6, Table 3-3 and
 * §3.6.1 Table 3-4): REX.W takes precedence over 66 in 64-bit mode. */
static void set_sizes(enum guest_cpu_mode mode, struct insn_info *info)
{
	switch (mode) {
	case GUEST_MODE_REAL:
	case GUEST_MODE_PROT16:
		info->op_size = info->opsize ? 4 : 2;
		info->addr_size = info->addrsize ? 4 : 2;
		break;
	case GUEST_MODE_PROT32:
		info->op_size = info->opsize ? 2 : 4;
		info->addr_size = info->addrsize ? 2 : 4;
		break;
	case GUEST_MODE_LONG64:
		info->op_size = (info->rex & REX_W) ? 8 : info->opsize ? 2 : 4;
		info->addr_size = info->addrsize ? 4 : 8;
		break;
	}
}

/* IN/OUT/INS/OUTS move at most 32 bits (SDM Vol. 2A IN, OUT, INS, OUTS have
 * no 64-bit form): the odd opcodes use the operand size, clamped to 4 for
 * REX.W, as AMD's IOIO exit information (APM Vol. 2 §15.10.2) reports. */
static void set_io(struct insn_info *info, enum insn_kind kind, u8 op)
{
	info->kind = kind;
	info->io_size = (op & 1) ? MIN(info->op_size, 4) : 1;
}

static int take_imm8(struct cursor *c, struct insn_info *info)
{
	int r = next_byte(c, &info->imm8);

	if (!r)
		info->has_imm8 = true;
	return r;
}

/* One-byte opcode map (SDM Vol. 2D Table A-2), the entries we know. */
static int decode_one_byte(struct cursor *c, enum guest_cpu_mode mode,
			   struct insn_info *info, u8 op)
{
	switch (op) {
	case 0xf4:
		info->kind = INSN_HLT;
		return 0;
	case 0xcc:
		info->kind = INSN_INT3;
		return 0;
	case 0xce:
		/* SDM Vol. 2A INT n/INTO: INTO is #UD in 64-bit mode. */
		if (mode == GUEST_MODE_LONG64)
			return INSN_ERR_UNKNOWN;
		info->kind = INSN_INTO;
		return 0;
	case 0xcd:
		info->kind = INSN_INT;
		return take_imm8(c, info);
	case 0xe4: case 0xe5:
		set_io(info, INSN_IO_IN, op);
		return take_imm8(c, info);
	case 0xe6: case 0xe7:
		set_io(info, INSN_IO_OUT, op);
		return take_imm8(c, info);
	case 0xec: case 0xed:
		set_io(info, INSN_IO_IN, op);
		return 0;
	case 0xee: case 0xef:
		set_io(info, INSN_IO_OUT, op);
		return 0;
	case 0x6c: case 0x6d:
		set_io(info, INSN_INS, op);
		return 0;
	case 0x6e: case 0x6f:
		set_io(info, INSN_OUTS, op);
		return 0;
	case 0x90:
		/* SDM Vol. 2B PAUSE is F3 90; with REX.B, 90 is XCHG r8, rAX
		 * (Vol. 2D Table A-2) and the F3 is then just ignored. */
		if (info->rep != PFX_REP || (info->rex & REX_B))
			return INSN_ERR_UNKNOWN;
		info->kind = INSN_PAUSE;
		return 0;
	default:
		return INSN_ERR_UNKNOWN;
	}
}

/* 0F 01 with a register-form ModRM: group 7 (SDM Vol. 2D Table A-6). */
static int decode_group7(struct cursor *c, struct insn_info *info)
{
	int r = next_byte(c, &info->modrm);

	if (r)
		return r;
	info->opcode = info->modrm;
	switch (info->modrm) {
	case 0xc1: info->kind = INSN_VMCALL; break;
	case 0xc8: info->kind = INSN_MONITOR; break;
	case 0xc9: info->kind = INSN_MWAIT; break;
	case 0xd1: info->kind = INSN_XSETBV; break;
	case 0xd9: info->kind = INSN_VMMCALL; break;
	case 0xf9: info->kind = INSN_RDTSCP; break;
	default: return INSN_ERR_UNKNOWN;
	}
	return 0;
}

/*
 * MOV to/from CR/DR (SDM Vol. 2B MOV-Move to/from Control Registers and
 * Debug Registers): always register operands, whatever ModRM.mod says, and
 * 32-bit outside 64-bit mode, 64-bit in it, regardless of 66 or REX.W.
 */
static int decode_mov_crdr(struct cursor *c, enum guest_cpu_mode mode,
			   struct insn_info *info, enum insn_kind kind)
{
	int r = next_byte(c, &info->modrm);

	if (r)
		return r;
	info->kind = kind;
	info->reg = (u8)(MODRM_REG(info->modrm) | ((info->rex & REX_R) ? 8 : 0));
	info->rm = (u8)(MODRM_RM(info->modrm) | ((info->rex & REX_B) ? 8 : 0));
	info->op_size = mode == GUEST_MODE_LONG64 ? 8 : 4;
	return 0;
}

/* Two-byte opcode map (SDM Vol. 2D Table A-3), the entries we know. */
static int decode_two_byte(struct cursor *c, enum guest_cpu_mode mode,
			   struct insn_info *info)
{
	u8 op;
	int r = next_byte(c, &op);

	if (r)
		return r;
	info->opcode = op;
	switch (op) {
	case 0xa2: info->kind = INSN_CPUID; return 0;
	case 0x30: info->kind = INSN_WRMSR; return 0;
	case 0x31: info->kind = INSN_RDTSC; return 0;
	case 0x32: info->kind = INSN_RDMSR; return 0;
	case 0x33: info->kind = INSN_RDPMC; return 0;
	case 0x08: info->kind = INSN_INVD; return 0;
	case 0x09: info->kind = INSN_WBINVD; return 0;
	case 0x01: return decode_group7(c, info);
	case 0x20: return decode_mov_crdr(c, mode, info, INSN_MOV_FROM_CR);
	case 0x21: return decode_mov_crdr(c, mode, info, INSN_MOV_FROM_DR);
	case 0x22: return decode_mov_crdr(c, mode, info, INSN_MOV_TO_CR);
	case 0x23: return decode_mov_crdr(c, mode, info, INSN_MOV_TO_DR);
	default: return INSN_ERR_UNKNOWN;
	}
}

int insn_length(const u8 *bytes, size_t avail, enum guest_cpu_mode mode,
		struct insn_info *out)
{
	struct cursor c = { .bytes = bytes, .avail = bytes ? avail : 0 };
	struct insn_info info = { .kind = INSN_NONE };
	u8 op;
	int r;

	if (mode != GUEST_MODE_REAL && mode != GUEST_MODE_PROT16 &&
	    mode != GUEST_MODE_PROT32 && mode != GUEST_MODE_LONG64)
		return INSN_ERR_UNKNOWN;
	r = decode_prefixes(&c, mode, &info, &op);
	if (r)
		return r;
	set_sizes(mode, &info);
	info.opcode = op;
	if (op == OP_TWO_BYTE)
		r = decode_two_byte(&c, mode, &info);
	else
		r = decode_one_byte(&c, mode, &info, op);
	if (r)
		return r;
	info.len = (u8)c.pos;
	if (out)
		*out = info;
	return (int)c.pos;
}

int insn_fetch_length(const struct gpa_access *m, const struct guest_paging *p,
		      u64 cs_base, u64 rip, enum guest_cpu_mode mode,
		      struct insn_info *out)
{
	bool long64 = mode == GUEST_MODE_LONG64;
	u64 la = long64 ? rip : (u32)(cs_base + rip);
	size_t first = MIN((size_t)INSN_MAX_LEN,
			   (size_t)(PAGE_SIZE - (la & (PAGE_SIZE - 1))));
	size_t avail = first;
	u8 buf[INSN_MAX_LEN];

	if (!guest_read_virt(m, p, la, buf, first))
		return INSN_ERR_FAULT;
	if (first < INSN_MAX_LEN) {
		/* Outside 64-bit mode linear addresses wrap at 4 GiB. */
		u64 next = long64 ? la + first : (u32)(la + first);

		if (guest_read_virt(m, p, next, buf + first, INSN_MAX_LEN - first))
			avail = INSN_MAX_LEN;
	}
	return insn_length(buf, avail, mode, out);
}

static const char *const kind_names[INSN_KIND_COUNT] = {
	[INSN_NONE] = "none",
	[INSN_CPUID] = "cpuid",
	[INSN_RDMSR] = "rdmsr",
	[INSN_WRMSR] = "wrmsr",
	[INSN_RDTSC] = "rdtsc",
	[INSN_RDTSCP] = "rdtscp",
	[INSN_RDPMC] = "rdpmc",
	[INSN_INVD] = "invd",
	[INSN_WBINVD] = "wbinvd",
	[INSN_HLT] = "hlt",
	[INSN_PAUSE] = "pause",
	[INSN_VMCALL] = "vmcall",
	[INSN_VMMCALL] = "vmmcall",
	[INSN_MONITOR] = "monitor",
	[INSN_MWAIT] = "mwait",
	[INSN_XSETBV] = "xsetbv",
	[INSN_IO_IN] = "in",
	[INSN_IO_OUT] = "out",
	[INSN_INS] = "ins",
	[INSN_OUTS] = "outs",
	[INSN_INT3] = "int3",
	[INSN_INTO] = "into",
	[INSN_INT] = "int",
	[INSN_MOV_FROM_CR] = "mov-from-cr",
	[INSN_MOV_TO_CR] = "mov-to-cr",
	[INSN_MOV_FROM_DR] = "mov-from-dr",
	[INSN_MOV_TO_DR] = "mov-to-dr",
};

const char *insn_kind_name(enum insn_kind kind)
{
	if ((unsigned)kind >= INSN_KIND_COUNT || !kind_names[kind])
		return "?";
	return kind_names[kind];
}
