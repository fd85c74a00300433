/*
 * Length decoding for the instructions that exit to the hypervisor.
 *
 * On AMD-V without NRIP save (AMD APM Vol. 2 §15.7.1) the VMCB does not say
 * where the intercepted instruction ends, so the hypervisor must decode it
 * to advance RIP. This decoder knows exactly those instructions (and reports
 * their prefixes and operands the exit handlers need); anything else is an
 * error, never a guess. The bytes come from guest memory and are hostile:
 * decoding never reads past `avail` bytes, never accepts more than the
 * architectural 15 (Intel SDM Vol. 2A §2.1, AMD APM Vol. 3 §1.1).
 */
#ifndef UMBRA_VIRT_INSN_LEN_H
#define UMBRA_VIRT_INSN_LEN_H

#include "lib/types.h"
#include "virt/guest_access.h"

/* SDM Vol. 2A §2.1: "The maximum length of an Intel 64 and IA-32
 * instruction remains 15 bytes"; longer ones raise #GP. */
#define INSN_MAX_LEN 15

/* Negative results of insn_length() and insn_fetch_length(). */
#define INSN_ERR_UNKNOWN	(-1) /* not one of the instructions below */
#define INSN_ERR_TRUNCATED	(-2) /* the bytes end inside the instruction */
#define INSN_ERR_TOO_LONG	(-3) /* more than 15 bytes */
#define INSN_ERR_FAULT		(-4) /* fetch: first byte not readable */

enum insn_kind {
	INSN_NONE = 0,
	INSN_CPUID,		/* 0F A2 */
	INSN_RDMSR,		/* 0F 32 */
	INSN_WRMSR,		/* 0F 30 */
	INSN_RDTSC,		/* 0F 31 */
	INSN_RDTSCP,		/* 0F 01 F9 */
	INSN_RDPMC,		/* 0F 33 */
	INSN_INVD,		/* 0F 08 */
	INSN_WBINVD,		/* 0F 09 */
	INSN_HLT,		/* F4 */
	INSN_PAUSE,		/* F3 90 */
	INSN_VMCALL,		/* 0F 01 C1 (Intel) */
	INSN_VMMCALL,		/* 0F 01 D9 (AMD) */
	INSN_MONITOR,		/* 0F 01 C8 */
	INSN_MWAIT,		/* 0F 01 C9 */
	INSN_XSETBV,		/* 0F 01 D1 */
	INSN_IO_IN,		/* E4/E5 ib, EC/ED */
	INSN_IO_OUT,		/* E6/E7 ib, EE/EF */
	INSN_INS,		/* 6C/6D */
	INSN_OUTS,		/* 6E/6F */
	INSN_INT3,		/* CC */
	INSN_INTO,		/* CE (not in 64-bit mode) */
	INSN_INT,		/* CD ib */
	INSN_MOV_FROM_CR,	/* 0F 20 /r */
	INSN_MOV_TO_CR,		/* 0F 22 /r */
	INSN_MOV_FROM_DR,	/* 0F 21 /r */
	INSN_MOV_TO_DR,		/* 0F 23 /r */
	INSN_KIND_COUNT
};

/* REX prefix bits (SDM Vol. 2A §2.2.1.2, Table 2-4). */
#define REX_B 0x1
#define REX_X 0x2
#define REX_R 0x4
#define REX_W 0x8

struct insn_info {
	enum insn_kind kind;
	u8 len;			/* total length, prefixes included */
	u8 nr_prefixes;		/* legacy and REX prefix bytes, ignored ones too */
	/* Legacy prefixes (SDM Vol. 2A §2.1.1); for each group the last one
	 * seen counts. */
	bool opsize;		/* 66: operand-size override */
	bool addrsize;		/* 67: address-size override */
	bool lock;		/* F0, see reg below */
	u8 rep;			/* 0, 0xF2 (REPNE) or 0xF3 (REP/REPE) */
	u8 seg;			/* 0 or the override byte: 2E 36 3E 26 64 65 */
	u8 rex;			/* 0 or the REX byte that applies (64-bit mode) */
	u8 opcode;		/* the last opcode byte (after 0F / 0F 01) */
	u8 modrm;		/* MOV CR/DR and 0F 01 group: the ModRM byte */
	u8 imm8;		/* IN/OUT port (E4-E7), INT vector (CD) */
	bool has_imm8;
	/* MOV CR/DR: control/debug register (ModRM.reg + REX.R) and general
	 * register (ModRM.rm + REX.B). On AMD CPUs with AltMovCr8 (CPUID
	 * Fn8000_0001 ECX[4]), LOCK MOV CR0 means CR8 (APM Vol. 3, MOV CRn);
	 * reg does not apply that: the caller decides from lock. */
	u8 reg;
	u8 rm;
	u8 op_size;		/* effective operand size in bytes: 2, 4, 8 */
	u8 addr_size;		/* effective address size in bytes: 2, 4, 8 */
	u8 io_size;		/* IN/OUT/INS/OUTS: bytes per transfer, 1/2/4 */
};

/*
 * Decodes the instruction at bytes[0..avail) as code of the given mode.
 * Returns its length (1..15) and fills *out (out may be NULL), or a
 * negative INSN_ERR_*. Prefixes are accepted in any number and order up to
 * the 15-byte limit, as the CPU does; whether a prefix makes the
 * instruction #UD (LOCK, for most of these) is for the caller to judge from
 * the reported fields. In 64-bit mode, only a REX prefix immediately before
 * the opcode applies; an earlier one is ignored (SDM Vol. 2A §2.2.1).
 * The ModRM of MOV CR/DR always names registers whatever its mod field
 * (SDM Vol. 2B MOV-Move to/from Control Registers: "The 2 bits in the mod
 * field are ignored"), so those are always 3 bytes after prefixes.
 */
int insn_length(const u8 *bytes, size_t avail, enum guest_cpu_mode mode,
		struct insn_info *out);

/*
 * Reads up to 15 bytes of the instruction at CS:RIP through the guest's page
 * tables and decodes it. The bytes may span two pages; when the second page
 * cannot be read, the first page's bytes are decoded alone (so an
 * instruction that fits still decodes, and one that does not gives
 * INSN_ERR_TRUNCATED). INSN_ERR_FAULT when not even the first byte can be
 * read. In 64-bit mode the CS base is ignored (SDM Vol. 3A §3.4.4); in the
 * other modes the linear address is (cs_base + rip) truncated to 32 bits.
 */
int insn_fetch_length(const struct gpa_access *m, const struct guest_paging *p,
		      u64 cs_base, u64 rip, enum guest_cpu_mode mode,
		      struct insn_info *out);

/* A short lower-case name for logs ("cpuid", "out", "mov-to-cr"...). */
const char *insn_kind_name(enum insn_kind kind);

#endif
