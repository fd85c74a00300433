/*
 * The emulator's execution half: segmentation and canonical checks,
 * translation, guest-physical accesses, arithmetic flags and the
 * instructions themselves. Decoding is in virt/emulate_decode.c; the
 * interface and its contract in virt/emulate.h.
 *
 * Every access is checked and translated before any byte is read or
 * written, so a fault leaves guest memory and devices untouched (a REP
 * string instruction keeps the iterations it completed, as on hardware).
 */
#include "virt/emulate_priv.h"
#include "lib/printf.h"
#include "lib/string.h"

#define CR0_AM	BIT(18)
#define CR4_LA57 BIT(12)

/* ------------------------------------------------------------------------
 * Faults, canonical addresses, translation
 */

enum emu_result emu_raise(struct emu_ctx *c, u8 vector, bool has_error, u32 error,
			  const char *why)
{
	c->fault->vector = vector;
	c->fault->has_error = has_error;
	c->fault->error = error;
	c->fault->cr2 = 0;
	c->info->reason = why;
	return EMU_FAULT;
}

enum emu_result emu_unhandled(struct emu_ctx *c, const char *why)
{
	c->info->reason = why;
	return EMU_UNHANDLED;
}

/* SDM Vol. 1 §3.3.7.1: bits 63..N-1 equal, N = 48 (57 with CR4.LA57). */
bool emu_canonical(const struct emu_ctx *c, u64 la)
{
	unsigned shift = (c->st.cr4 & CR4_LA57) ? 64 - 57 : 64 - 48;

	return (u64)((s64)(la << shift) >> shift) == la;
}

enum emu_result emu_translate(struct emu_ctx *c, u64 la, unsigned acc, u64 *gpa)
{
	u64 lpage = la & PAGE_MASK, off = la & (PAGE_SIZE - 1);
	struct emu_fault f;
	struct emu_tlb_entry *t;
	u64 g;

	for (unsigned i = 0; i < ARRAY_SIZE(c->tlb); i++) {
		t = &c->tlb[i];
		if (!t->valid || t->lpage != lpage)
			continue;
		/* A translation made for a write also serves reads. */
		if (t->acc == acc || (!(acc & (EMU_ACC_WRITE | EMU_ACC_FETCH)) &&
				      (t->acc & ~(unsigned)EMU_ACC_WRITE) == acc)) {
			*gpa = t->gpage | off;
			return EMU_OK;
		}
	}
	f = (struct emu_fault){ .vector = EMU_VEC_PF, .has_error = true, .error = acc, .cr2 = la };
	if (!c->ops->translate(c->ops->ctx, la, acc, &g, &f)) {
		*c->fault = f;
		c->info->reason = "page fault";
		return EMU_FAULT;
	}
	t = &c->tlb[c->tlb_next++ % ARRAY_SIZE(c->tlb)];
	*t = (struct emu_tlb_entry){ .lpage = lpage, .gpage = g & PAGE_MASK, .acc = acc, .valid = true };
	*gpa = (g & PAGE_MASK) | off;
	return EMU_OK;
}

/* ------------------------------------------------------------------------
 * Segmentation (SDM Vol. 3A §3.4.5, §5.3, §5.4.1; 64-bit mode §3.4.4)
 */

static enum emu_result seg_linear(struct emu_ctx *c, unsigned seg, u64 off, unsigned size,
				  bool write, u64 *la)
{
	const struct emu_seg *sg = &c->st.seg[seg];
	u8 vec = seg == EMU_SS ? EMU_VEC_SS : EMU_VEC_GP;
	u64 last = off + size - 1;
	bool expand_down = false;

	if (c->st.mode == GUEST_MODE_LONG64) {
		u64 a = off + ((seg == EMU_FS || seg == EMU_GS) ? sg->base : 0);

		if (!emu_canonical(c, a) || !emu_canonical(c, a + size - 1))
			return emu_raise(c, vec, true, 0, "non-canonical address");
		*la = a;
		return EMU_OK;
	}
	if (c->st.mode != GUEST_MODE_REAL) {
		unsigned type = sg->attr & EMU_SEG_TYPE_MASK;

		if (!(sg->attr & EMU_SEG_P))
			return emu_raise(c, vec, true, 0, "access through a null or unusable segment");
		if (type & 8) {
			/* Code segment: never writable, readable if type bit 1. */
			if (write || !(type & 2))
				return emu_raise(c, EMU_VEC_GP, true, 0,
						 write ? "write to a code segment"
						       : "read from an execute-only segment");
		} else {
			if (write && !(type & 2))
				return emu_raise(c, vec, true, 0, "write to a read-only segment");
			expand_down = type & 4;
		}
	}
	if (expand_down) {
		/* Valid offsets are limit+1 .. 0xffff or 0xffffffff (B bit). */
		u64 upper = (sg->attr & EMU_SEG_DB) ? 0xffffffffull : 0xffffull;

		if (off <= sg->limit || last > upper)
			return emu_raise(c, vec, true, 0, "outside an expand-down segment's limit");
	} else if (last > sg->limit) {
		return emu_raise(c, vec, true, 0, "segment limit exceeded");
	}
	*la = (u32)(sg->base + off);
	return EMU_OK;
}

/* ------------------------------------------------------------------------
 * Memory operands
 */

static enum emu_result mem_prepare(struct emu_ctx *c, unsigned seg, u64 off, unsigned size,
				   bool write, struct emu_mref *m)
{
	unsigned acc = (write ? EMU_ACC_WRITE : EMU_ACC_READ) | (c->st.cpl == 3 ? EMU_ACC_USER : 0);
	struct emu_info *info = c->info;
	u64 la;

	TRY(seg_linear(c, seg, off, size, write, &la));
	/* SDM Vol. 2A CMPXCHG16B: "the destination operand must be 16-byte
	 * aligned or #GP". */
	if (size == 16 && (la & 15))
		return emu_raise(c, EMU_VEC_GP, true, 0, "CMPXCHG16B operand not 16-byte aligned");
	m->la = la;
	m->size = (u8)size;
	m->n1 = (u8)MIN((u64)size, PAGE_SIZE - (la & (PAGE_SIZE - 1)));
	TRY(emu_translate(c, la, acc, &m->gpa[0]));
	if (m->n1 < size) {
		u64 la2 = la + m->n1;

		if (c->st.mode != GUEST_MODE_LONG64)
			la2 = (u32)la2;
		TRY(emu_translate(c, la2, acc, &m->gpa[1]));
	}
	/* SDM Vol. 3A §6.15 #AC: CPL 3, CR0.AM and RFLAGS.AC, unaligned data
	 * (checked after the translation: #PF has priority, Table 6-2). */
	if (c->st.cpl == 3 && (c->st.cr0 & CR0_AM) && (c->st.rflags & EMU_FL_AC) && size <= 8 &&
	    (la & (size - 1)))
		return emu_raise(c, EMU_VEC_AC, true, 0, "unaligned access with alignment checking on");
	m->slot = -1;
	if (info->nmem < ARRAY_SIZE(info->mem)) {
		m->slot = (s8)info->nmem++;
		info->mem[m->slot] = (struct emu_mem){ .linear = la, .gpa = m->gpa[0], .size = (u8)size };
	}
	return EMU_OK;
}

static enum emu_result io_error(struct emu_ctx *c, u64 gpa, const char *why)
{
	c->info->io_gpa = gpa;
	c->info->reason = why;
	return EMU_IO_ERROR;
}

static enum emu_result mem_read(struct emu_ctx *c, const struct emu_mref *m, u8 *buf)
{
	const struct emu_ops *ops = c->ops;

	if (!ops->read_phys(ops->ctx, m->gpa[0], buf, m->n1))
		return io_error(c, m->gpa[0], "read from a guest-physical address with nothing there");
	if (m->n1 < m->size && !ops->read_phys(ops->ctx, m->gpa[1], buf + m->n1, (unsigned)(m->size - m->n1)))
		return io_error(c, m->gpa[1], "read from a guest-physical address with nothing there");
	return EMU_OK;
}

static enum emu_result mem_write(struct emu_ctx *c, const struct emu_mref *m, const u8 *buf)
{
	const struct emu_ops *ops = c->ops;

	if (!ops->write_phys(ops->ctx, m->gpa[0], buf, m->n1))
		return io_error(c, m->gpa[0], "write to a guest-physical address with nothing there");
	if (m->n1 < m->size &&
	    !ops->write_phys(ops->ctx, m->gpa[1], buf + m->n1, (unsigned)(m->size - m->n1)))
		return io_error(c, m->gpa[1], "write to a guest-physical address with nothing there");
	if (m->slot >= 0)
		c->info->mem[m->slot].write = true;
	return EMU_OK;
}

/* Atomic compare-exchange through ops->cmpxchg_phys (the caller checked
 * that it exists and that the operand is on one page). */
static enum emu_result mem_cmpxchg(struct emu_ctx *c, const struct emu_mref *m, u8 *expected,
				   const u8 *desired, bool *swapped)
{
	const struct emu_ops *ops = c->ops;

	*swapped = false;
	if (!ops->cmpxchg_phys(ops->ctx, m->gpa[0], expected, desired, m->size, swapped))
		return io_error(c, m->gpa[0], "atomic access to a guest-physical address with nothing there");
	if (*swapped && m->slot >= 0)
		c->info->mem[m->slot].write = true;
	return EMU_OK;
}

static u64 load_le(const u8 *b, unsigned n)
{
	u64 v = 0;

	for (unsigned i = 0; i < n && i < 8; i++)
		v |= (u64)b[i] << (8 * i);
	return v;
}

static void store_le(u8 *b, u64 v, unsigned n)
{
	for (unsigned i = 0; i < n && i < 8; i++)
		b[i] = (u8)(v >> (8 * i));
}

static enum emu_result mem_read_val(struct emu_ctx *c, const struct emu_mref *m, u64 *v)
{
	u8 buf[8];

	TRY(mem_read(c, m, buf));
	*v = load_le(buf, m->size);
	return EMU_OK;
}

static enum emu_result mem_write_val(struct emu_ctx *c, const struct emu_mref *m, u64 v)
{
	u8 buf[8];

	store_le(buf, v, m->size);
	return mem_write(c, m, buf);
}

/* ------------------------------------------------------------------------
 * Registers and operands
 */

static u64 reg_get(const struct emu_ctx *c, const struct emu_opnd *o)
{
	u64 v = c->st.gpr[o->reg & 15];

	if (o->high8)
		return (v >> 8) & 0xff;
	return v & emu_size_mask(o->size);
}

/* Writes a register as the hardware does: 8- and 16-bit writes keep the
 * other bits, 32-bit writes zero the upper half (SDM Vol. 1 §3.4.1.1). */
static void gpr_put(struct emu_ctx *c, unsigned reg, unsigned size, bool high8, u64 v)
{
	u64 *r = &c->st.gpr[reg & 15];

	switch (size) {
	case 1:
		if (high8)
			*r = (*r & ~0xff00ull) | ((v & 0xff) << 8);
		else
			*r = (*r & ~0xffull) | (v & 0xff);
		break;
	case 2:
		*r = (*r & ~0xffffull) | (v & 0xffff);
		break;
	case 4:
		*r = (u32)v;
		break;
	default:
		*r = v;
		break;
	}
}

static void reg_put(struct emu_ctx *c, const struct emu_opnd *o, u64 v)
{
	gpr_put(c, o->reg, o->size, o->high8, v);
}

static enum emu_result opnd_read(struct emu_ctx *c, const struct emu_opnd *o, u64 *v)
{
	struct emu_mref m;

	switch (o->type) {
	case O_REG:
		*v = reg_get(c, o);
		return EMU_OK;
	case O_IMM:
		*v = o->imm;
		return EMU_OK;
	case O_MEM:
		TRY(mem_prepare(c, c->in.mem_seg, c->in.ea, o->size, false, &m));
		return mem_read_val(c, &m, v);
	default:
		*v = 0;
		return EMU_OK;
	}
}

static enum emu_result opnd_write(struct emu_ctx *c, const struct emu_opnd *o, u64 v)
{
	struct emu_mref m;

	if (o->type == O_REG) {
		reg_put(c, o, v);
		return EMU_OK;
	}
	TRY(mem_prepare(c, c->in.mem_seg, c->in.ea, o->size, true, &m));
	return mem_write_val(c, &m, v);
}

/* ------------------------------------------------------------------------
 * Arithmetic flags (SDM Vol. 1 §3.4.3.1, Appendix A; each instruction's
 * "Flags Affected")
 */

static u64 flags_szp(u64 res, unsigned size)
{
	unsigned p = (unsigned)res & 0xff;
	u64 f = 0;

	p ^= p >> 4;
	if (!((0x6996u >> (p & 0xf)) & 1))
		f |= EMU_FL_PF; /* even number of set bits in the low byte */
	res &= emu_size_mask(size);
	if (!res)
		f |= EMU_FL_ZF;
	if (res >> (size * 8 - 1))
		f |= EMU_FL_SF;
	return f;
}

/* ADD OR ADC SBB AND SUB XOR CMP of size bytes; updates the six arithmetic
 * flags in *rflags (AF cleared by the logic ops, as processors do; the SDM
 * leaves it undefined) and returns the result. */
static u64 alu_op(unsigned op, u64 a, u64 b, unsigned size, u64 *rflags)
{
	u64 m = emu_size_mask(size), sign = 1ull << (size * 8 - 1);
	u64 cin = *rflags & EMU_FL_CF;
	u64 res, f = 0;

	a &= m;
	b &= m;
	switch (op) {
	case ALU_ADD:
	case ALU_ADC:
		res = (a + b + (op == ALU_ADC ? cin : 0)) & m;
		if (((a & b) | ((a | b) & ~res)) & sign)
			f |= EMU_FL_CF;
		if ((a ^ res) & (b ^ res) & sign)
			f |= EMU_FL_OF;
		f |= (a ^ b ^ res) & EMU_FL_AF;
		break;
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		res = (a - b - (op == ALU_SBB ? cin : 0)) & m;
		if (((~a & b) | ((~a | b) & res)) & sign)
			f |= EMU_FL_CF;
		if ((a ^ b) & (a ^ res) & sign)
			f |= EMU_FL_OF;
		f |= (a ^ b ^ res) & EMU_FL_AF;
		break;
	case ALU_OR:
		res = a | b;
		break;
	case ALU_AND:
		res = a & b;
		break;
	default: /* ALU_XOR */
		res = a ^ b;
		break;
	}
	*rflags = (*rflags & ~(u64)EMU_FL_ARITH) | f | flags_szp(res, size);
	return res;
}

static bool is_bt(enum emu_kind k)
{
	return k == K_BT || k == K_BTS || k == K_BTR || k == K_BTC;
}

/*
 * New value of a read-modify-write destination from its old value. Flags go
 * to *fl; *write is false when the destination is not written (CMPXCHG
 * whose comparison failed: no write cycle, like KVM, rather than writing
 * the old value back as the hardware does).
 */
static u64 rmw_compute(struct emu_ctx *c, u64 old, u64 src, u64 *fl, bool *write)
{
	const struct emu_insn *in = &c->in;
	unsigned size = in->dst.size;
	u64 m = emu_size_mask(size);
	u64 cf = *fl & EMU_FL_CF;
	u64 r;

	*write = true;
	switch (in->kind) {
	case K_ALU:
		return alu_op(in->alu, old, src, size, fl);
	case K_INC:
	case K_DEC:
		/* CF is not affected. */
		r = alu_op(in->kind == K_INC ? ALU_ADD : ALU_SUB, old, 1, size, fl);
		*fl = (*fl & ~(u64)EMU_FL_CF) | cf;
		return r;
	case K_NOT:
		return ~old & m;
	case K_NEG:
		return alu_op(ALU_SUB, 0, old, size, fl);
	case K_BTS:
	case K_BTR:
	case K_BTC:
		/* CF = the bit; ZF unaffected; OF SF AF PF undefined: kept. */
		*fl = (*fl & ~(u64)EMU_FL_CF) | ((old >> src) & 1);
		if (in->kind == K_BTS)
			return old | (1ull << src);
		if (in->kind == K_BTR)
			return old & ~(1ull << src);
		return old ^ (1ull << src);
	case K_XADD:
		return alu_op(ALU_ADD, old, src, size, fl);
	case K_XCHG:
		return src;
	case K_CMPXCHG: {
		u64 acc = c->st.gpr[EMU_RAX] & m;

		alu_op(ALU_CMP, acc, old, size, fl);
		if (acc == old)
			return src & m;
		*write = false;
		return old;
	}
	default:
		return old;
	}
}

/* Register side effects of XCHG, XADD and CMPXCHG once the destination is
 * settled: the source register gets the old value (XCHG, XADD), or the
 * accumulator does when CMPXCHG's comparison failed. */
static void rmw_side_effects(struct emu_ctx *c, u64 old, bool wrote)
{
	struct emu_insn *in = &c->in;

	if (in->kind == K_XCHG || in->kind == K_XADD)
		reg_put(c, &in->src, old);
	else if (in->kind == K_CMPXCHG && !wrote)
		gpr_put(c, EMU_RAX, in->dst.size, false, old);
}

/*
 * BT family: the bit offset. With a register offset and a memory operand
 * the offset is a signed number of bits from the operand's address (SDM
 * Vol. 2A BT: "the bit offset ... -2^63 to 2^63 - 1"), so the accessed
 * operand-size word moves; otherwise it is taken modulo the operand width.
 */
static u64 bt_offset(struct emu_ctx *c, u64 src)
{
	struct emu_insn *in = &c->in;
	unsigned size = in->dst.size;
	unsigned shift = size == 2 ? 4 : size == 4 ? 5 : 6;

	if (in->src.type == O_REG && in->dst.type == O_MEM) {
		u64 sign = 1ull << (size * 8 - 1);
		s64 off = (s64)(((src & emu_size_mask(size)) ^ sign) - sign); /* sign-extended */
		s64 words = off >> shift; /* floor division */

		in->ea = (in->ea + (u64)words * size) & emu_size_mask(in->asize);
	}
	return src & (size * 8 - 1);
}

/* ------------------------------------------------------------------------
 * Instructions
 */

static enum emu_result exec_move(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	u64 v;

	TRY(opnd_read(c, &in->src, &v));
	if (in->kind == K_MOVSX && in->src.size < 8) {
		u64 sign = 1ull << (in->src.size * 8 - 1);

		v = (v ^ sign) - sign;
	}
	return opnd_write(c, &in->dst, v);
}

/* CMP, TEST, BT: read both operands, set flags, write nothing. */
static enum emu_result exec_compare(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	u64 a, b;

	TRY(opnd_read(c, &in->src, &b));
	if (in->kind == K_BT)
		b = bt_offset(c, b);
	TRY(opnd_read(c, &in->dst, &a));
	if (in->kind == K_BT)
		c->st.rflags = (c->st.rflags & ~(u64)EMU_FL_CF) | ((a >> b) & 1);
	else
		alu_op(in->kind == K_TEST ? ALU_AND : ALU_CMP, a, b, in->dst.size, &c->st.rflags);
	return EMU_OK;
}

static enum emu_result exec_rmw(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	bool atomic = (in->lock || in->kind == K_XCHG) && c->ops->cmpxchg_phys;
	u64 src, old, new, fl = c->st.rflags;
	bool write;
	struct emu_mref m;

	TRY(opnd_read(c, &in->src, &src));
	if (is_bt(in->kind))
		src = bt_offset(c, src);
	if (in->dst.type == O_REG) {
		old = reg_get(c, &in->dst);
		new = rmw_compute(c, old, src, &fl, &write);
		rmw_side_effects(c, old, write);
		if (write)
			reg_put(c, &in->dst, new);
		c->st.rflags = fl;
		return EMU_OK;
	}

	TRY(mem_prepare(c, in->mem_seg, in->ea, in->dst.size, true, &m));
	TRY(mem_read_val(c, &m, &old));
	for (unsigned tries = 1;; tries++) {
		fl = c->st.rflags;
		new = rmw_compute(c, old, src, &fl, &write);
		if (!write)
			break;
		if (atomic && m.n1 == m.size) {
			u8 exp[8], des[8];
			bool swapped;

			store_le(exp, old, m.size);
			store_le(des, new, m.size);
			TRY(mem_cmpxchg(c, &m, exp, des, &swapped));
			if (swapped)
				break;
			if (tries >= EMU_LOCK_MAX_TRIES) {
				c->info->reason = "LOCKed update kept racing with other writers";
				return EMU_RETRY;
			}
			old = load_le(exp, m.size);
			continue;
		}
		TRY(mem_write_val(c, &m, new));
		break;
	}
	rmw_side_effects(c, old, write);
	c->st.rflags = fl;
	return EMU_OK;
}

/* CMPXCHG8B/16B (SDM Vol. 2A): compare rDX:rAX with the memory operand; if
 * equal store rCX:rBX and set ZF, else load it into rDX:rAX and clear ZF. */
static enum emu_result exec_cmpxchg_wide(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	unsigned size = in->dst.size, half = size / 2;
	u8 exp[16], des[16], cur[16];
	bool swapped;
	struct emu_mref m;

	store_le(exp, c->st.gpr[EMU_RAX], half);
	store_le(exp + half, c->st.gpr[EMU_RDX], half);
	store_le(des, c->st.gpr[EMU_RBX], half);
	store_le(des + half, c->st.gpr[EMU_RCX], half);
	TRY(mem_prepare(c, in->mem_seg, in->ea, size, true, &m));
	if (in->lock && c->ops->cmpxchg_phys && m.n1 == size) {
		memcpy(cur, exp, size);
		TRY(mem_cmpxchg(c, &m, cur, des, &swapped));
	} else {
		TRY(mem_read(c, &m, cur));
		swapped = memcmp(cur, exp, size) == 0;
		if (swapped)
			TRY(mem_write(c, &m, des));
	}
	if (swapped) {
		c->st.rflags |= EMU_FL_ZF;
	} else {
		c->st.rflags &= ~(u64)EMU_FL_ZF;
		gpr_put(c, EMU_RAX, half, false, load_le(cur, half));
		gpr_put(c, EMU_RDX, half, false, load_le(cur + half, half));
	}
	return EMU_OK;
}

/*
 * MOVS CMPS STOS LODS SCAS, one element per iteration: both accesses are
 * checked and translated before either is performed, then the registers
 * advance. With a REP prefix, each finished iteration is committed to the
 * caller's state, so a fault in a later one is delivered with the
 * registers of the iterations done (RIP still at the instruction).
 */
static enum emu_result exec_string(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;
	unsigned size = in->dst.size, asize = in->asize;
	u64 amask = emu_size_mask(asize);
	u64 step = (c->st.rflags & EMU_FL_DF) ? -(u64)size : size;
	unsigned src_seg = in->seg_override >= 0 ? (unsigned)in->seg_override : EMU_DS;
	bool rep = in->rep != 0;
	bool uses_si = in->kind == K_MOVS || in->kind == K_CMPS || in->kind == K_LODS;
	bool uses_di = in->kind != K_LODS;
	u64 count = rep ? c->st.gpr[EMU_RCX] & amask : 1;
	struct emu_opnd acc_reg = { .type = O_REG, .size = (u8)size, .reg = EMU_RAX };

	while (count) {
		u64 si = c->st.gpr[EMU_RSI] & amask, di = c->st.gpr[EMU_RDI] & amask;
		struct emu_mref ms, md;
		u64 a = 0, b = 0;

		c->info->nmem = 0;
		if (uses_si)
			TRY(mem_prepare(c, src_seg, si, size, false, &ms));
		if (uses_di)
			TRY(mem_prepare(c, EMU_ES, di, size, in->kind == K_MOVS || in->kind == K_STOS,
					&md));
		switch (in->kind) {
		case K_MOVS:
			TRY(mem_read_val(c, &ms, &a));
			TRY(mem_write_val(c, &md, a));
			break;
		case K_STOS:
			TRY(mem_write_val(c, &md, reg_get(c, &acc_reg)));
			break;
		case K_LODS:
			TRY(mem_read_val(c, &ms, &a));
			reg_put(c, &acc_reg, a);
			break;
		case K_CMPS:
			TRY(mem_read_val(c, &ms, &a));
			TRY(mem_read_val(c, &md, &b));
			alu_op(ALU_CMP, a, b, size, &c->st.rflags);
			break;
		default: /* K_SCAS */
			TRY(mem_read_val(c, &md, &b));
			alu_op(ALU_CMP, reg_get(c, &acc_reg), b, size, &c->st.rflags);
			break;
		}
		if (uses_si)
			gpr_put(c, EMU_RSI, asize, false, si + step);
		if (uses_di)
			gpr_put(c, EMU_RDI, asize, false, di + step);
		c->info->iterations++;
		if (!rep)
			break;
		gpr_put(c, EMU_RCX, asize, false, --count);
		if (!count)
			break;
		/* REPE/REPNE end CMPS and SCAS on ZF; for the others F2 is REP. */
		if (in->kind == K_CMPS || in->kind == K_SCAS) {
			bool zf = c->st.rflags & EMU_FL_ZF;

			if (in->rep == 0xf3 ? !zf : zf)
				break;
		}
		*c->out = c->st; /* this iteration is done: commit it */
		if (c->info->iterations >= EMU_REP_MAX_ITER) {
			c->info->rep_partial = true;
			return EMU_OK;
		}
	}
	return EMU_OK;
}

static enum emu_result execute(struct emu_ctx *c)
{
	struct emu_insn *in = &c->in;

	switch (in->kind) {
	case K_NOP:
		return EMU_OK;
	case K_MOV:
	case K_MOVZX:
	case K_MOVSX:
		return exec_move(c);
	case K_LEA:
		reg_put(c, &in->dst, in->ea);
		return EMU_OK;
	case K_TEST:
	case K_BT:
		return exec_compare(c);
	case K_ALU:
		if (in->alu == ALU_CMP)
			return exec_compare(c);
		return exec_rmw(c);
	case K_INC: case K_DEC: case K_NOT: case K_NEG:
	case K_BTS: case K_BTR: case K_BTC:
	case K_XADD: case K_XCHG: case K_CMPXCHG:
		return exec_rmw(c);
	case K_CMPXCHG8B:
		return exec_cmpxchg_wide(c);
	case K_MOVS: case K_CMPS: case K_STOS: case K_LODS: case K_SCAS:
		return exec_string(c);
	default:
		return emu_unhandled(c, "decoded but not executable");
	}
}

/* ------------------------------------------------------------------------
 * Interface
 */

static const char *const kind_names[K_COUNT] = {
	[K_NONE] = "(unknown)", [K_TEST] = "test", [K_MOV] = "mov", [K_MOVZX] = "movzx",
	[K_MOVSX] = "movsx", [K_LEA] = "lea", [K_XCHG] = "xchg", [K_NOP] = "nop",
	[K_INC] = "inc", [K_DEC] = "dec", [K_NOT] = "not", [K_NEG] = "neg", [K_BT] = "bt",
	[K_BTS] = "bts", [K_BTR] = "btr", [K_BTC] = "btc", [K_XADD] = "xadd",
	[K_CMPXCHG] = "cmpxchg", [K_CMPXCHG8B] = "cmpxchg8b", [K_MOVS] = "movs",
	[K_CMPS] = "cmps", [K_STOS] = "stos", [K_LODS] = "lods", [K_SCAS] = "scas",
};

static const char *const alu_names[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };

static const char *mnemonic(const struct emu_insn *in)
{
	if (in->kind == K_ALU)
		return alu_names[in->alu & 7];
	if (in->kind == K_CMPXCHG8B && in->dst.size == 16)
		return "cmpxchg16b";
	if (in->kind == K_MOVSX && !in->two_byte)
		return "movsxd";
	if ((unsigned)in->kind < K_COUNT && kind_names[in->kind])
		return kind_names[in->kind];
	return "(unknown)";
}

enum emu_result emulate_one(struct emu_state *s, const struct emu_ops *ops, struct emu_fault *fault,
			    struct emu_info *info)
{
	struct emu_info scratch;
	struct emu_ctx c;
	enum emu_result r;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	memset(fault, 0, sizeof(*fault));
	memset(&c, 0, sizeof(c));
	c.st = *s;
	c.out = s;
	c.ops = ops;
	c.fault = fault;
	c.info = info;
	info->mnemonic = "(unknown)";
	if (s->mode != GUEST_MODE_REAL && s->mode != GUEST_MODE_PROT16 &&
	    s->mode != GUEST_MODE_PROT32 && s->mode != GUEST_MODE_LONG64)
		return emu_unhandled(&c, "unknown CPU mode");

	r = emu_decode(&c);
	info->mnemonic = mnemonic(&c.in);
	if (r != EMU_OK)
		return r;
	r = execute(&c);
	if (r != EMU_OK || info->rep_partial)
		return r;
	c.st.rip += c.in.len;
	if (c.st.mode != GUEST_MODE_LONG64)
		c.st.rip = (u32)c.st.rip;
	*s = c.st;
	return EMU_OK;
}

const char *emu_result_name(enum emu_result r)
{
	switch (r) {
	case EMU_OK: return "ok";
	case EMU_FAULT: return "fault";
	case EMU_UNHANDLED: return "unhandled instruction";
	case EMU_IO_ERROR: return "no memory or device";
	case EMU_RETRY: return "retry";
	default: return "?";
	}
}

static const char *vector_name(u8 v)
{
	switch (v) {
	case EMU_VEC_UD: return "#UD";
	case EMU_VEC_SS: return "#SS";
	case EMU_VEC_GP: return "#GP";
	case EMU_VEC_PF: return "#PF";
	case EMU_VEC_AC: return "#AC";
	default: return "exception";
	}
}

int emu_describe(const struct emu_state *s, enum emu_result r, const struct emu_fault *fault,
		 const struct emu_info *info, char *buf, size_t size)
{
	size_t n = 0;
	unsigned nbytes = info->len ? info->len : info->nbytes;

#define PUT(...)                                                                         \
	do {                                                                             \
		int _k = umbra_snprintf(buf + MIN(n, size), size - MIN(n, size), __VA_ARGS__); \
		n += _k > 0 ? (size_t)_k : 0;                                            \
	} while (0)

	PUT("%s: %s at %04x:%llx", emu_result_name(r), info->mnemonic ? info->mnemonic : "?",
	    s->seg[EMU_CS].sel, (unsigned long long)s->rip);
	if (nbytes) {
		PUT(", bytes");
		for (unsigned i = 0; i < nbytes && i < EMU_MAX_INSN_LEN; i++)
			PUT(" %02x", info->bytes[i]);
	}
	if (r == EMU_FAULT && fault) {
		PUT(": %s", vector_name(fault->vector));
		if (fault->has_error)
			PUT("(%#x)", fault->error);
		if (fault->vector == EMU_VEC_PF)
			PUT(" at %#llx", (unsigned long long)fault->cr2);
	}
	if (r == EMU_IO_ERROR)
		PUT(": gpa %#llx", (unsigned long long)info->io_gpa);
	if (info->reason)
		PUT(" (%s)", info->reason);
#undef PUT
	return (int)n;
}
