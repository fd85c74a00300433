/*
 * x86 instruction emulator: executes one guest instruction on a copy of the
 * vCPU's state, for accesses the hardware could not complete by itself
 * (MMIO, write-protected guest page tables under shadow paging).
 *
 * The emulator is pure: it touches no hardware and no global state. The
 * caller supplies the guest's architectural state (struct emu_state) and
 * callbacks (struct emu_ops) for linear-to-physical translation through the
 * guest's page tables and for guest-physical reads and writes (RAM or a
 * device). Everything the guest provides (instruction bytes, registers,
 * segment state, translations) is treated as hostile: decoding never reads
 * past the 15 bytes it fetched, never loops without bound, and every
 * architectural fault is reported rather than guessed around.
 *
 * References: Intel SDM Vol. 1 §3.3-3.7 (addressing, segmentation), Vol. 2
 * ch. 2 (instruction format, prefixes, ModRM/SIB, REX), the instruction pages
 * of Vol. 2A-2D and Appendix A (opcode maps), Vol. 3A §5.3 (limit checks),
 * §6.15 (exception conditions); AMD APM Vol. 3 ch. 1-3.
 *
 * Instructions (all operand sizes, all memory forms, register forms too):
 *   MOV 88-8B, C6 /0, C7 /0, A0-A3 (moffs), B0-BF (imm to reg); MOVZX/MOVSX
 *   0F B6/B7/BE/BF; MOVSXD 63 (64-bit mode); MOVNTI 0F C3; LEA 8D;
 *   XCHG 86/87, 90+r; NOP 90, PAUSE F3 90, 0F 1F /0;
 *   ALU ADD/OR/ADC/SBB/AND/SUB/XOR/CMP 00-3D, 80-83 (82 outside 64-bit mode);
 *   TEST 84/85, A8/A9, F6/F7 /0 /1; NOT/NEG F6/F7 /2 /3;
 *   INC/DEC FE/FF /0 /1, 40-4F (outside 64-bit mode);
 *   BT/BTS/BTR/BTC 0F A3/AB/B3/BB and 0F BA /4-7;
 *   XADD 0F C0/C1; CMPXCHG 0F B0/B1; CMPXCHG8B/16B 0F C7 /1;
 *   MOVS/CMPS/STOS/LODS/SCAS A4-A7, AA-AF with REP/REPE/REPNE.
 * Anything else is EMU_UNHANDLED (the caller injects #UD and logs
 * emu_describe()). LOCK on anything but a memory-destination ADD OR ADC SBB
 * AND SUB XOR INC DEC NOT NEG BTS BTR BTC XADD XCHG CMPXCHG CMPXCHG8B/16B
 * is #UD (EMU_FAULT), as are the encodings the SDM defines as invalid
 * among these (82 in 64-bit mode, LEA/CMPXCHG8B/MOVNTI with a register
 * operand, 66 MOVNTI).
 *
 * Choices where the SDM leaves room, and what is not modelled:
 *  - Undefined flags: logic ops clear AF; BT* keep OF SF AF PF (both as
 *    Intel CPUs do).
 *  - CMPXCHG whose comparison fails does not write the old value back (the
 *    hardware's write cycle would only matter to a device).
 *  - Not modelled: TF/#DB after the instruction and data breakpoints (the
 *    caller's job), the A20 gate, CS type or privilege checks on fetch
 *    (the CPU just fetched the instruction), and Intel's zeroing of the
 *    upper halves of RCX/RSI/RDI by a REP with a 32-bit address size and a
 *    zero count in 64-bit mode.
 *  - A write that crosses a page is two write_phys calls; if the second
 *    finds nothing (EMU_IO_ERROR) the first has happened.
 */
#ifndef UMBRA_VIRT_EMULATE_H
#define UMBRA_VIRT_EMULATE_H

#include "lib/types.h"
#include "virt/guest_access.h"

#define EMU_MAX_INSN_LEN 15

/* Most iterations of a REP string instruction done by one emulate_one()
 * call; then it returns EMU_OK with RIP unchanged (see emulate_one). */
#define EMU_REP_MAX_ITER 1024

/* Tries of a LOCKed read-modify-write against a changing value before
 * giving up with EMU_RETRY. */
#define EMU_LOCK_MAX_TRIES 64

/* Segment registers, in the x86 encoding order (as enum vseg_index). */
enum emu_seg_index { EMU_ES, EMU_CS, EMU_SS, EMU_DS, EMU_FS, EMU_GS, EMU_NR_SEGS };

/* emu_seg.attr bits: the AMD packed attribute form (VMCB), same as
 * struct vseg in virt/backend.h. P=0 means "unusable" (a null selector). */
#define EMU_SEG_TYPE_MASK	0x000f	/* bit 3: code; data: bit 2 expand-down, bit 1 writable; code: bit 1 readable */
#define EMU_SEG_S		0x0010
#define EMU_SEG_DPL_SHIFT	5
#define EMU_SEG_P		0x0080
#define EMU_SEG_L		0x0200
#define EMU_SEG_DB		0x0400
#define EMU_SEG_G		0x0800

struct emu_seg {
	u16 sel;
	u16 attr;
	u32 limit;	/* byte-granular effective limit (G already applied) */
	u64 base;
};

/* RFLAGS bits the emulator reads or writes. */
#define EMU_FL_CF	0x0001
#define EMU_FL_PF	0x0004
#define EMU_FL_AF	0x0010
#define EMU_FL_ZF	0x0040
#define EMU_FL_SF	0x0080
#define EMU_FL_DF	0x0400
#define EMU_FL_OF	0x0800
#define EMU_FL_AC	0x40000
#define EMU_FL_ARITH	(EMU_FL_CF | EMU_FL_PF | EMU_FL_AF | EMU_FL_ZF | EMU_FL_SF | EMU_FL_OF)

/* General-purpose registers, x86 encoding order. */
enum emu_gpr {
	EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
	EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15,
};

/* The guest state an instruction depends on. In/out: emulate_one()
 * updates it (registers, RIP, RFLAGS) as the instruction does. */
struct emu_state {
	u64 gpr[16];
	u64 rip, rflags;
	struct emu_seg seg[EMU_NR_SEGS];
	u64 cr0, cr2, cr3, cr4, efer;	/* cr0.AM and cr4.LA57 are used here; the rest is for translate() */
	u8 cpl;
	enum guest_cpu_mode mode;	/* decides default operand/address size and segmentation */
};

/*
 * Access kinds passed to translate(). The bit values are those of the #PF
 * error code (SDM Vol. 3A §4.7), so a walker can start its error code from
 * them. Data reads pass EMU_ACC_READ (0). EMU_ACC_USER is set when CPL is 3
 * (no instruction emulated here makes implicit supervisor accesses).
 */
#define EMU_ACC_READ	0x00
#define EMU_ACC_WRITE	0x02
#define EMU_ACC_USER	0x04
#define EMU_ACC_FETCH	0x10

/* Exception vectors the emulator raises. */
#define EMU_VEC_UD	6
#define EMU_VEC_SS	12
#define EMU_VEC_GP	13
#define EMU_VEC_PF	14
#define EMU_VEC_AC	17
/* Not exceptions: what a translate() callback may report instead of a
 * fault when the guest's page tables gave no architectural answer. The
 * emulator passes them on as EMU_FAULT like any other vector. */
#define EMU_VEC_AGAIN	0xfe	/* the tables changed under the walk: re-enter the guest */
#define EMU_VEC_STOP	0xff	/* a table lies outside guest RAM: stop the VM */

/* An exception for the caller to inject. For #PF the caller also sets the
 * guest's CR2 to cr2. */
struct emu_fault {
	u8 vector;
	bool has_error;
	u32 error;
	u64 cr2;
};

struct emu_ops {
	/*
	 * Translates a linear address through the guest's paging (identity
	 * when paging is off) for an access of kind acc (EMU_ACC_*), setting
	 * accessed/dirty bits as the hardware would. On a page fault: fill
	 * *fault (vector 14, error code, cr2 = linear) and return false. The
	 * emulator translates each page of an access once, before reading or
	 * writing anything; a read-modify-write is translated as a write.
	 */
	bool (*translate)(void *ctx, u64 linear, unsigned acc, u64 *gpa, struct emu_fault *fault);
	/* Guest-physical read/write of 1..16 bytes within one page, RAM or a
	 * device. Return false when nothing is at gpa (EMU_IO_ERROR). Writes
	 * to guest page tables pass here: the callee can read the old value
	 * before storing the new one. */
	bool (*read_phys)(void *ctx, u64 gpa, void *buf, unsigned len);
	bool (*write_phys)(void *ctx, u64 gpa, const void *buf, unsigned len);
	/*
	 * Optional (may be NULL): atomically, if the len bytes at gpa equal
	 * *expected, store *desired and set *swapped = true; else copy the
	 * current bytes to *expected and set *swapped = false. Returns false
	 * only when nothing is at gpa, so it must handle device memory too
	 * (read, compare, write is fine there). Used for LOCKed instructions
	 * and XCHG with memory when the operand does not cross a page.
	 * Without it (or for a page-crossing operand) the emulator reads,
	 * computes and writes, which is atomic only if no other vCPU runs.
	 */
	bool (*cmpxchg_phys)(void *ctx, u64 gpa, void *expected, const void *desired, unsigned len,
			     bool *swapped);
	void *ctx;
};

enum emu_result {
	EMU_OK,		/* executed; *s updated (see emulate_one for REP) */
	EMU_FAULT,	/* inject *fault; *s is the state at the fault */
	EMU_UNHANDLED,	/* not an instruction the emulator knows: inject #UD, log emu_describe() */
	EMU_IO_ERROR,	/* read/write_phys found nothing at info->io_gpa */
	EMU_RETRY,	/* LOCKed update kept losing races: nothing done, re-enter the guest */
};

/* One memory operand access (the last one, for REP string instructions). */
struct emu_mem {
	u64 linear;
	u64 gpa;	/* of the first byte */
	u8 size;	/* bytes */
	bool write;	/* the instruction wrote it (not just: translated for write) */
};

/* What the emulator decoded and did, for the caller and its messages. */
struct emu_info {
	const char *mnemonic;	/* "mov", "cmpxchg16b", "movs"... (no prefixes: see bytes), "(unknown)" */
	const char *reason;	/* EMU_UNHANDLED/EMU_IO_ERROR/EMU_FAULT: a short why, else NULL */
	u8 bytes[EMU_MAX_INSN_LEN]; /* the instruction bytes fetched */
	u8 nbytes;
	u8 len;			/* instruction length, 0 when decoding did not finish */
	u8 op_size, addr_size;	/* bytes */
	u8 nmem;		/* accesses recorded in mem[] */
	struct emu_mem mem[2];	/* MOVS/CMPS: [0] source, [1] destination */
	u64 io_gpa;		/* EMU_IO_ERROR: the address nothing answered at */
	u32 iterations;		/* REP string: iterations done by this call */
	bool rep_partial;	/* REP string stopped early: RIP unchanged */
};

/*
 * Executes the instruction at CS:RIP of *s. The bytes are fetched through
 * ops->translate (fetch access, CS base and limit, canonical RIP) and read
 * lazily, so a fault on a second page only happens when the instruction
 * really extends into it.
 *
 * EMU_OK: *s holds the state after the instruction, RIP past it. REP string
 * instructions run up to EMU_REP_MAX_ITER iterations per call; if the count
 * (or the REPE/REPNE condition) is not exhausted by then, *s reflects the
 * iterations done (RCX/RSI/RDI), RIP still points at the instruction and
 * info->rep_partial is set: re-entering the guest continues it (and lets
 * interrupts in), exactly like an interrupted REP on hardware.
 *
 * EMU_FAULT: *fault is the exception to inject. *s is unchanged, except for
 * a REP string instruction faulting in a later iteration: then the earlier
 * iterations are committed (registers and memory), RIP at the instruction,
 * which is the architectural state the fault is delivered with.
 *
 * EMU_UNHANDLED / EMU_IO_ERROR / EMU_RETRY: *s unchanged (again except
 * committed REP iterations). info may be NULL; fault must not be.
 *
 * So whatever the result, *s is the architectural state to continue from:
 * write its GPRs, RIP and RFLAGS back to the vCPU every time (a caller that
 * does so only on EMU_OK loses the iterations a REP string instruction
 * completed before faulting, and would repeat their device accesses).
 */
enum emu_result emulate_one(struct emu_state *s, const struct emu_ops *ops, struct emu_fault *fault,
			    struct emu_info *info);

/* Writes a one-line description of the outcome for console messages, e.g.
 * "unhandled instruction (unknown) at 0008:00401000 bytes 0f 0b: unsupported
 * opcode". Returns the length like snprintf. */
int emu_describe(const struct emu_state *s, enum emu_result r, const struct emu_fault *fault,
		 const struct emu_info *info, char *buf, size_t size);

/* Name of a result, for messages. */
const char *emu_result_name(enum emu_result r);

#endif
