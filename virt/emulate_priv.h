/* Internals shared by the emulator's decoder (virt/emulate_decode.c) and
 * executor (virt/emulate.c). Not an interface for other code. */
#ifndef UMBRA_VIRT_EMULATE_PRIV_H
#define UMBRA_VIRT_EMULATE_PRIV_H

#include "virt/emulate.h"

/* What the instruction does; the operand forms are in struct emu_insn. */
enum emu_kind {
	K_NONE,
	K_ALU,		/* in.alu: ADD OR ADC SBB AND SUB XOR CMP (the /r of group 1) */
	K_TEST,
	K_MOV,
	K_MOVZX,
	K_MOVSX,	/* also MOVSXD */
	K_LEA,
	K_XCHG,
	K_NOP,
	K_INC,
	K_DEC,
	K_NOT,
	K_NEG,
	K_BT,
	K_BTS,
	K_BTR,
	K_BTC,
	K_XADD,
	K_CMPXCHG,
	K_CMPXCHG8B,	/* CMPXCHG16B when dst.size is 16 */
	K_MOVS,
	K_CMPS,
	K_STOS,
	K_LODS,
	K_SCAS,
	K_COUNT
};

enum emu_alu { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

enum emu_opnd_type { O_NONE, O_REG, O_MEM, O_IMM };

struct emu_opnd {
	u8 type;	/* enum emu_opnd_type */
	u8 size;	/* bytes: 1, 2, 4, 8 (16 for CMPXCHG16B) */
	u8 reg;		/* O_REG: GPR index */
	bool high8;	/* O_REG, size 1: AH/CH/DH/BH (bits 15:8 of reg 0-3) */
	u64 imm;	/* O_IMM: value, already extended to size */
};

struct emu_insn {
	/* Prefixes (SDM Vol. 2A §2.1.1, §2.2.1). */
	u8 rex;		/* the REX byte that applies, 0 if none */
	u8 rep;		/* 0, 0xf2 or 0xf3 (the last of group 1 seen) */
	bool lock;
	bool opsize_pfx, addrsize_pfx;
	s8 seg_override; /* -1 or enum emu_seg_index */
	/* Opcode. */
	bool two_byte;	/* 0F map */
	u8 op;
	u8 modrm;
	bool has_modrm;
	u8 mod, reg, rm; /* reg and rm with REX.R/REX.B applied */
	u8 osize, asize; /* effective operand and address size, bytes */
	/* The ModRM or moffs memory operand. */
	bool has_mem;
	bool rip_rel;
	u8 mem_seg;
	u64 ea;		/* offset within mem_seg, truncated to asize */
	u64 disp;
	/* Decoded meaning. */
	enum emu_kind kind;
	u8 alu;
	struct emu_opnd dst, src;
	u8 len;
};

/* Translations cached during one instruction (a TLB's worth). */
struct emu_tlb_entry {
	u64 lpage, gpage;
	unsigned acc;
	bool valid;
};

struct emu_ctx {
	struct emu_state st;	/* working copy, committed to *out on success */
	struct emu_state *out;
	const struct emu_ops *ops;
	struct emu_fault *fault;
	struct emu_info *info;
	/* Instruction bytes: fetched page-chunk by page-chunk as needed. */
	u8 ibuf[EMU_MAX_INSN_LEN];
	u8 ifetched, ipos;
	struct emu_tlb_entry tlb[4];
	unsigned tlb_next;
	struct emu_insn in;
};

/* A memory access after segmentation and translation: the bytes on the
 * first page are at gpa[0], the rest (when it crosses a page) at gpa[1]. */
struct emu_mref {
	u64 la;
	u64 gpa[2];
	u8 n1, size;
	s8 slot;	/* index in info->mem, -1 if not recorded */
};

/* Decoder (virt/emulate_decode.c): fetches and decodes the instruction at
 * CS:RIP into c->in. Returns EMU_OK, EMU_FAULT (fetch fault, > 15 bytes,
 * #UD), EMU_UNHANDLED or EMU_IO_ERROR. */
enum emu_result emu_decode(struct emu_ctx *c);

/* Shared helpers (virt/emulate.c). */
enum emu_result emu_raise(struct emu_ctx *c, u8 vector, bool has_error, u32 error,
			  const char *why);
enum emu_result emu_translate(struct emu_ctx *c, u64 la, unsigned acc, u64 *gpa);
bool emu_canonical(const struct emu_ctx *c, u64 la);
enum emu_result emu_unhandled(struct emu_ctx *c, const char *why);

static inline u64 emu_size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Returns from the caller on any result but EMU_OK. */
#define TRY(x)                                                                \
	do {                                                                  \
		enum emu_result _r = (x);                                     \
		if (_r != EMU_OK)                                             \
			return _r;                                            \
	} while (0)

#endif
