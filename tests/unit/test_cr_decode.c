/*
 * Control-register instruction decoding: MOV to/from CRn, CLTS, LMSW, SMSW
 * in every mode; REX.R/REX.B and where a REX counts; CR8 by REX and by LOCK;
 * legacy prefixes; memory forms of LMSW/SMSW with 16/32/64-bit addressing
 * and their lengths; the 15-byte limit; truncation at every length (exact
 * heap copies, so ASan catches any read past n); a random-bytes fuzzer.
 */
#include "tests/unit/unit.h"
#include "virt/backend.h"
#include "virt/cr_decode.h"

static const enum guest_cpu_mode modes[] = {
	GUEST_MODE_REAL, GUEST_MODE_PROT16, GUEST_MODE_PROT32, GUEST_MODE_LONG64,
};

/* Every legacy prefix but LOCK (which makes all but MOV CR0 #UD). */
static const u8 prefixes[] = {
	0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65,
};

static const struct cr_insn untouched = {
	.op = 0xee, .cr = 0xee, .gpr = 0x5e, .len = 0xee, .op_size = 0xee,
};

/* Decodes an exact-size heap copy of b[0..n): a read past n is an ASan
 * error. On failure *out must be left alone. */
static bool decode(const u8 *b, unsigned n, enum guest_cpu_mode mode,
		   struct cr_insn *out)
{
	u8 *copy = malloc(n ? n : 1);
	bool ok;

	memcpy(copy, b, n);
	*out = untouched;
	ok = cr_decode(copy, n, mode, out);
	free(copy);
	if (!ok && memcmp(out, &untouched, sizeof(*out)) != 0) {
		fprintf(stderr, "  output written on failure\n");
		unit_current_failed = 1;
	}
	return ok;
}

/* b[0..len) decodes to len bytes in mode, and every shorter prefix of it is
 * refused; with trailing bytes the result is the same. */
static bool decodes(const u8 *b, unsigned len, enum guest_cpu_mode mode,
		    struct cr_insn *out)
{
	struct cr_insn tmp;
	u8 more[32];

	for (unsigned k = 0; k < len; k++) {
		if (decode(b, k, mode, &tmp)) {
			fprintf(stderr, "  accepted truncated at %u of %u\n", k, len);
			return false;
		}
	}
	memcpy(more, b, len);
	memset(more + len, 0x0f, sizeof(more) - len);
	if (!decode(more, sizeof(more), mode, &tmp) || tmp.len != len)
		return false;
	if (!decode(b, len, mode, out) || out->len != len) {
		fprintf(stderr, "  mode %d: refused or wrong length\n", mode);
		return false;
	}
	return memcmp(out, &tmp, sizeof(tmp)) == 0;
}

static bool valid_cr(unsigned cr)
{
	return cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8;
}

/* Every ModRM of 0F 20 and 0F 22 in every mode: mod ignored, reg = CR,
 * rm = GPR, 3 bytes; CR1, CR5-CR7 refused. */
TEST(mov_cr_every_modrm_every_mode)
{
	struct cr_insn d;

	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		for (unsigned op = 0x20; op <= 0x22; op += 2) {
			for (unsigned modrm = 0; modrm < 256; modrm++) {
				u8 b[3] = { 0x0f, (u8)op, (u8)modrm };
				unsigned cr = (modrm >> 3) & 7;

				if (!valid_cr(cr)) {
					CHECK(!decode(b, 3, modes[m], &d));
					continue;
				}
				CHECK(decodes(b, 3, modes[m], &d));
				CHECK_EQ(d.op, op == 0x20 ? CR_OP_MOV_FROM : CR_OP_MOV_TO);
				CHECK_EQ(d.cr, cr);
				CHECK_EQ(d.gpr, modrm & 7);
				CHECK_EQ(d.op_size, modes[m] == GUEST_MODE_LONG64 ? 8 : 4);
			}
		}
	}
}

/* Every REX byte: R extends the CR (CR8; CR9-CR15 #UD), B the GPR; W and
 * X change nothing. Outside 64-bit mode 40-4F are INC/DEC: refused. */
TEST(mov_cr_rex)
{
	struct cr_insn d;

	for (unsigned rex = 0x40; rex <= 0x4f; rex++) {
		for (unsigned modrm = 0; modrm < 256; modrm += 3) {
			u8 b[4] = { (u8)rex, 0x0f, 0x22, (u8)modrm };
			unsigned cr = ((modrm >> 3) & 7) | ((rex & 4) << 1);
			unsigned gpr = (modrm & 7) | ((rex & 1) << 3);

			for (size_t m = 0; m < 3; m++)
				CHECK(!decode(b, 4, modes[m], &d));
			if (!valid_cr(cr)) {
				CHECK(!decode(b, 4, GUEST_MODE_LONG64, &d));
				continue;
			}
			CHECK(decodes(b, 4, GUEST_MODE_LONG64, &d));
			CHECK_EQ(d.op, CR_OP_MOV_TO);
			CHECK_EQ(d.cr, cr);
			CHECK_EQ(d.gpr, gpr);
			CHECK_EQ(d.op_size, 8);
		}
	}
	/* mov r15, cr8 */
	CHECK(decodes((const u8 *)"\x45\x0f\x20\xc7", 4, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.op, CR_OP_MOV_FROM);
	CHECK_EQ(d.cr, 8);
	CHECK_EQ(d.gpr, 15);
	/* A REX before a legacy prefix is ignored (SDM §2.2.1). */
	CHECK(decodes((const u8 *)"\x45\x66\x0f\x20\xc7", 5, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.cr, 0);
	CHECK_EQ(d.gpr, 7);
	/* Of two REX bytes, the last counts. */
	CHECK(decodes((const u8 *)"\x44\x41\x0f\x22\xd9", 5, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.cr, 3);
	CHECK_EQ(d.gpr, 9);
	/* 66 and REX.W do not change the 64-bit operand. */
	CHECK(decodes((const u8 *)"\x66\x48\x0f\x22\xd8", 5, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.op_size, 8);
	CHECK(decodes((const u8 *)"\x66\x0f\x22\xd8", 4, GUEST_MODE_REAL, &d));
	CHECK_EQ(d.op_size, 4);
}

/* AMD AltMovCr8: LOCK MOV CR0 is MOV CR8, in every mode. LOCK with any
 * other CR, or with REX.R already set, is #UD. */
TEST(lock_cr8)
{
	struct cr_insn d;

	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		CHECK(decodes((const u8 *)"\xf0\x0f\x20\xc1", 4, modes[m], &d));
		CHECK_EQ(d.op, CR_OP_MOV_FROM);
		CHECK_EQ(d.cr, 8);
		CHECK_EQ(d.gpr, 1);
		CHECK(decodes((const u8 *)"\xf0\x0f\x22\x06", 4, modes[m], &d));
		CHECK_EQ(d.op, CR_OP_MOV_TO);
		CHECK_EQ(d.cr, 8);
		CHECK_EQ(d.gpr, 6);
		/* LOCK anywhere among the prefixes. */
		CHECK(decodes((const u8 *)"\x66\xf0\x2e\x0f\x22\xc0", 6, modes[m], &d));
		CHECK_EQ(d.cr, 8);
		CHECK(!decode((const u8 *)"\xf0\x0f\x22\xd8", 4, modes[m], &d));
		CHECK(!decode((const u8 *)"\xf0\x0f\x20\xe0", 4, modes[m], &d));
		CHECK(!decode((const u8 *)"\xf0\x0f\x20\xd0", 4, modes[m], &d));
	}
	CHECK(!decode((const u8 *)"\xf0\x44\x0f\x20\xc0", 5, GUEST_MODE_LONG64, &d));
	CHECK(decodes((const u8 *)"\xf0\x41\x0f\x20\xc0", 5, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.cr, 8);
	CHECK_EQ(d.gpr, 8);
	/* A REX cancelled by a later LOCK: the LOCK still selects CR8. */
	CHECK(decodes((const u8 *)"\x44\xf0\x0f\x20\xc0", 5, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.cr, 8);
}

TEST(clts)
{
	struct cr_insn d;

	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		CHECK(decodes((const u8 *)"\x0f\x06", 2, modes[m], &d));
		CHECK_EQ(d.op, CR_OP_CLTS);
		CHECK_EQ(d.cr, 0);
		CHECK_EQ(d.gpr, -1);
		CHECK_EQ(d.op_size, 0);
		CHECK(!decode((const u8 *)"\xf0\x0f\x06", 3, modes[m], &d));
	}
	CHECK(decodes((const u8 *)"\x48\x0f\x06", 3, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.op, CR_OP_CLTS);
	CHECK(!decode((const u8 *)"\x48\x0f\x06", 3, GUEST_MODE_PROT32, &d));
}

/* Register forms: 0F 01 F0+r LMSW, 0F 01 E0+r SMSW. */
TEST(lmsw_smsw_registers)
{
	static const struct {
		enum guest_cpu_mode mode;
		u8 pfx[2];
		u8 npfx;
		u8 smsw_size;
		u8 reg_hi;	/* REX.B */
	} t[] = {
		{ GUEST_MODE_REAL, { 0 }, 0, 2, 0 },
		{ GUEST_MODE_REAL, { 0x66 }, 1, 4, 0 },
		{ GUEST_MODE_PROT16, { 0 }, 0, 2, 0 },
		{ GUEST_MODE_PROT16, { 0x66 }, 1, 4, 0 },
		{ GUEST_MODE_PROT32, { 0 }, 0, 4, 0 },
		{ GUEST_MODE_PROT32, { 0x66 }, 1, 2, 0 },
		{ GUEST_MODE_LONG64, { 0 }, 0, 4, 0 },
		{ GUEST_MODE_LONG64, { 0x66 }, 1, 2, 0 },
		{ GUEST_MODE_LONG64, { 0x48 }, 1, 8, 0 },
		{ GUEST_MODE_LONG64, { 0x66, 0x48 }, 2, 8, 0 },
		{ GUEST_MODE_LONG64, { 0x41 }, 1, 4, 8 },
		{ GUEST_MODE_LONG64, { 0x49 }, 1, 8, 8 },
		{ GUEST_MODE_LONG64, { 0x66, 0x43 }, 2, 2, 8 },
		/* A REX dropped by the 66 after it. */
		{ GUEST_MODE_LONG64, { 0x49, 0x66 }, 2, 2, 0 },
	};
	struct cr_insn d;
	u8 b[8];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		for (unsigned r = 0; r < 8; r++) {
			unsigned len = t[i].npfx + 3u;

			memcpy(b, t[i].pfx, t[i].npfx);
			b[t[i].npfx] = 0x0f;
			b[t[i].npfx + 1] = 0x01;
			b[t[i].npfx + 2] = (u8)(0xf0 | r);
			CHECK(decodes(b, len, t[i].mode, &d));
			CHECK_EQ(d.op, CR_OP_LMSW);
			CHECK_EQ(d.cr, 0);
			CHECK_EQ(d.gpr, r | t[i].reg_hi);
			CHECK_EQ(d.op_size, 2);
			b[t[i].npfx + 2] = (u8)(0xe0 | r);
			CHECK(decodes(b, len, t[i].mode, &d));
			CHECK_EQ(d.op, CR_OP_SMSW);
			CHECK_EQ(d.gpr, r | t[i].reg_hi);
			CHECK_EQ(d.op_size, t[i].smsw_size);
		}
	}
	/* REX.R does not turn /4 or /6 into something else. */
	CHECK(decodes((const u8 *)"\x44\x0f\x01\xf0", 4, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.op, CR_OP_LMSW);
	CHECK(!decode((const u8 *)"\xf0\x0f\x01\xf0", 4, GUEST_MODE_PROT32, &d));
	CHECK(!decode((const u8 *)"\xf0\x0f\x01\xe0", 4, GUEST_MODE_LONG64, &d));
}

/* Memory forms: SIB and displacement lengths for each address size. */
TEST(lmsw_smsw_memory)
{
	static const struct {
		enum guest_cpu_mode mode;
		u8 bytes[15];
		u8 len;
	} t[] = {
		/* 16-bit addressing (SDM Table 2-1). */
		{ GUEST_MODE_REAL, { 0x0f, 0x01, 0x37 }, 3 },		/* lmsw [bx] */
		{ GUEST_MODE_REAL, { 0x0f, 0x01, 0x36, 0x34, 0x12 }, 5 }, /* [0x1234] */
		{ GUEST_MODE_REAL, { 0x0f, 0x01, 0x34 }, 3 },		/* [si]: no SIB */
		{ GUEST_MODE_REAL, { 0x0f, 0x01, 0x75, 0x10 }, 4 },	/* [di+8] */
		{ GUEST_MODE_PROT16, { 0x0f, 0x01, 0xb6, 0x00, 0x10 }, 5 }, /* [bp+16] */
		{ GUEST_MODE_PROT16, { 0x0f, 0x01, 0x25 }, 3 },		/* smsw [di] */
		{ GUEST_MODE_PROT16, { 0x0f, 0x01, 0xa6, 1, 2 }, 5 },	/* [bp+d16] */
		/* 67 in 16-bit mode: 32-bit addressing. */
		{ GUEST_MODE_REAL, { 0x67, 0x0f, 0x01, 0x35, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_REAL, { 0x67, 0x0f, 0x01, 0x34, 0x24 }, 5 }, /* [esp] */
		{ GUEST_MODE_PROT16, { 0x67, 0x0f, 0x01, 0x36, 0x00 }, 4 }, /* [esi] */
		/* 32-bit addressing (Tables 2-2, 2-3). */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x30 }, 3 },		/* lmsw [eax] */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x38 }, 3 },		/* invlpg [eax] */
		{ GUEST_MODE_LONG64, { 0x0f, 0x01, 0x3d, 1, 2, 3, 4 }, 7 }, /* invlpg [rip+d32] */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x35, 1, 2, 3, 4 }, 7 }, /* [d32] */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x34, 0x24 }, 4 },	/* [esp] */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x34, 0x25, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x34, 0x8d, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x74, 0x24, 0x08 }, 5 },
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x75, 0xfc }, 4 },	/* [ebp-4] */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0xb4, 0x88, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0xa5, 1, 2, 3, 4 }, 7 }, /* smsw */
		{ GUEST_MODE_PROT32, { 0x0f, 0x01, 0x64, 0x25, 0x00 }, 5 },
		/* 67 in 32-bit mode: 16-bit addressing. */
		{ GUEST_MODE_PROT32, { 0x67, 0x0f, 0x01, 0x36, 1, 2 }, 6 },
		{ GUEST_MODE_PROT32, { 0x67, 0x0f, 0x01, 0x34 }, 4 },
		{ GUEST_MODE_PROT32, { 0x67, 0x0f, 0x01, 0x35 }, 4 },	/* [di] */
		{ GUEST_MODE_PROT32, { 0x67, 0x0f, 0x01, 0xb5, 1, 2 }, 6 },
		/* 64-bit addressing; mod=0 rm=5 is RIP-relative disp32. */
		{ GUEST_MODE_LONG64, { 0x0f, 0x01, 0x35, 1, 2, 3, 4 }, 7 },
		{ GUEST_MODE_LONG64, { 0x0f, 0x01, 0x34, 0x25, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_LONG64, { 0x0f, 0x01, 0x30 }, 3 },
		{ GUEST_MODE_LONG64, { 0x41, 0x0f, 0x01, 0x34, 0x24 }, 5 }, /* [r12] */
		{ GUEST_MODE_LONG64, { 0x41, 0x0f, 0x01, 0x75, 0x00 }, 5 }, /* [r13+0] */
		{ GUEST_MODE_LONG64, { 0x41, 0x0f, 0x01, 0x35, 1, 2, 3, 4 }, 8 }, /* rip */
		{ GUEST_MODE_LONG64, { 0x43, 0x0f, 0x01, 0x34, 0x2d, 1, 2, 3, 4 }, 9 },
		{ GUEST_MODE_LONG64, { 0x4f, 0x0f, 0x01, 0xa4, 0xe5, 1, 2, 3, 4 }, 9 },
		{ GUEST_MODE_LONG64, { 0x65, 0x48, 0x0f, 0x01, 0x24, 0x25, 0, 0, 0, 0 }, 10 },
		/* 67 in 64-bit mode: 32-bit addressing, same lengths. */
		{ GUEST_MODE_LONG64, { 0x67, 0x0f, 0x01, 0x35, 1, 2, 3, 4 }, 8 },
		{ GUEST_MODE_LONG64, { 0x67, 0x0f, 0x01, 0x36 }, 4 },	/* [esi] */
		{ GUEST_MODE_LONG64, { 0x67, 0x0f, 0x01, 0x74, 0x24, 0x10 }, 6 },
		/* Prefixes and the longest form that still fits. */
		{ GUEST_MODE_PROT32, { 0x26, 0x66, 0xf3, 0x0f, 0x01, 0xb4, 0x88,
				       1, 2, 3, 4 }, 11 },
		{ GUEST_MODE_LONG64, { 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x4f, 0x0f,
				       0x01, 0xb4, 0xe5, 1, 2, 3, 4 }, 15 },
	};
	struct cr_insn d;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		bool ok = decodes(t[i].bytes, t[i].len, t[i].mode, &d);

		if (!ok)
			fprintf(stderr, "  memory case %zu\n", i);
		CHECK(ok);
		CHECK_EQ(d.gpr, -1);
		CHECK_EQ(d.cr, 0);
		CHECK_EQ(d.op_size, 2);
		for (unsigned j = 0; j + 2 < t[i].len; j++) {
			if (t[i].bytes[j] == 0x0f && t[i].bytes[j + 1] == 0x01) {
				u8 reg = (t[i].bytes[j + 2] >> 3) & 7;
				CHECK_EQ(d.op, reg == 6 ? CR_OP_LMSW : reg == 4 ? CR_OP_SMSW : CR_OP_INVLPG);
				break;
			}
		}
	}
	/* Which one is which. */
	CHECK(decodes((const u8 *)"\x0f\x01\x30", 3, GUEST_MODE_PROT32, &d));
	CHECK_EQ(d.op, CR_OP_LMSW);
	CHECK(decodes((const u8 *)"\x0f\x01\x20", 3, GUEST_MODE_PROT32, &d));
	CHECK_EQ(d.op, CR_OP_SMSW);
	/* The same bytes, different address sizes, different lengths: 16-bit
	 * [bp+d16] is 5 bytes, 32-bit [SIB+d32] with SIB=0x00 is 8. */
	CHECK(decodes((const u8 *)"\x0f\x01\xb4\x00\x00", 5, GUEST_MODE_REAL, &d));
	CHECK(decodes((const u8 *)"\x0f\x01\xb4\x00\x00\x00\x00\x00", 8,
		      GUEST_MODE_PROT32, &d));
	/* One byte too many: 16 bytes. */
	CHECK(!decode((const u8 *)"\x2e\x3e\x26\x64\x65\x66\x36\x4f\x0f\x01\xb4\xe5"
		      "\x01\x02\x03\x04", 16, GUEST_MODE_LONG64, &d));
}

/* Each legacy prefix before each form; then all of them, up to 15 bytes. */
TEST(legacy_prefixes)
{
	static const struct {
		u8 bytes[3];
		u8 len;
		u8 op;
	} forms[] = {
		{ { 0x0f, 0x20, 0xd8 }, 3, CR_OP_MOV_FROM },
		{ { 0x0f, 0x22, 0xe1 }, 3, CR_OP_MOV_TO },
		{ { 0x0f, 0x06 }, 2, CR_OP_CLTS },
		{ { 0x0f, 0x01, 0xf2 }, 3, CR_OP_LMSW },
		{ { 0x0f, 0x01, 0xe3 }, 3, CR_OP_SMSW },
	};
	struct cr_insn d;
	u8 b[32];

	for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
			for (size_t p = 0; p < ARRAY_SIZE(prefixes); p++) {
				b[0] = prefixes[p];
				memcpy(b + 1, forms[f].bytes, forms[f].len);
				CHECK(decodes(b, forms[f].len + 1u, modes[m], &d));
				CHECK_EQ(d.op, forms[f].op);
			}
			/* k prefixes: accepted while the total is <= 15. */
			for (unsigned k = 0; k + forms[f].len <= 17; k++) {
				unsigned n = k + forms[f].len;

				for (unsigned i = 0; i < k; i++)
					b[i] = prefixes[i % ARRAY_SIZE(prefixes)];
				memcpy(b + k, forms[f].bytes, forms[f].len);
				if (n <= 15) {
					CHECK(decodes(b, n, modes[m], &d));
					CHECK_EQ(d.op, forms[f].op);
				} else {
					CHECK(!decode(b, n, modes[m], &d));
					CHECK(!decode(b, sizeof(b), modes[m], &d));
				}
			}
		}
	}
	/* 12 REX prefixes + 0F 20 C0 = 15 bytes; 14 + 3 = 17 is too long. */
	memset(b, 0x44, sizeof(b));
	memcpy(b + 12, "\x0f\x20\xc0", 3);
	CHECK(decodes(b, 15, GUEST_MODE_LONG64, &d));
	CHECK_EQ(d.cr, 8);
	memcpy(b + 14, "\x0f\x20\xc0", 3);
	CHECK(!decode(b, 17, GUEST_MODE_LONG64, &d));
}

TEST(refused)
{
	static const struct {
		u8 bytes[6];
		u8 n;
		enum guest_cpu_mode mode;
	} bad[] = {
		{ { 0x0f, 0x21, 0xc0 }, 3, GUEST_MODE_PROT32 },		/* mov eax, dr0 */
		{ { 0x0f, 0x23, 0xc0 }, 3, GUEST_MODE_LONG64 },		/* mov dr0, rax */
		{ { 0x0f, 0x20, 0xc8 }, 3, GUEST_MODE_PROT32 },		/* cr1 */
		{ { 0x0f, 0x22, 0xe8 }, 3, GUEST_MODE_PROT32 },		/* cr5 */
		{ { 0x0f, 0x20, 0xf8 }, 3, GUEST_MODE_REAL },		/* cr7 */
		{ { 0x4c, 0x0f, 0x22, 0xc8 }, 4, GUEST_MODE_LONG64 },	/* cr9 */
		{ { 0x44, 0x0f, 0x22, 0xf8 }, 4, GUEST_MODE_LONG64 },	/* cr15 */
		{ { 0x0f, 0x01, 0xf8 }, 3, GUEST_MODE_LONG64 },		/* swapgs */
		{ { 0x0f, 0x01, 0xd9 }, 3, GUEST_MODE_LONG64 },		/* vmmcall */
		{ { 0x0f, 0x01, 0x00 }, 3, GUEST_MODE_PROT32 },		/* sgdt */
		{ { 0x0f, 0x01, 0xf8 }, 3, GUEST_MODE_PROT32 },		/* /7 register form: not INVLPG */
		{ { 0x0f, 0x01, 0x28 }, 3, GUEST_MODE_PROT32 },		/* /5 */
		{ { 0x0f, 0x00, 0xe0 }, 3, GUEST_MODE_PROT32 },		/* verr */
		{ { 0x0f, 0x05 }, 2, GUEST_MODE_LONG64 },		/* syscall */
		{ { 0x0f, 0x07 }, 2, GUEST_MODE_LONG64 },		/* sysret */
		{ { 0x06 }, 1, GUEST_MODE_PROT32 },			/* push es */
		{ { 0x90 }, 1, GUEST_MODE_PROT32 },
		{ { 0x0f, 0x0f, 0x20, 0xc0 }, 4, GUEST_MODE_PROT32 },
		{ { 0xc4, 0xe1, 0x78, 0x20, 0xc0 }, 5, GUEST_MODE_LONG64 }, /* VEX */
		{ { 0x44, 0x0f, 0x20, 0xc0 }, 4, GUEST_MODE_PROT32 },	/* inc esp */
		{ { 0 }, 0, GUEST_MODE_PROT32 },
	};
	struct cr_insn d;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		bool ok = decode(bad[i].bytes, bad[i].n, bad[i].mode, &d);

		if (ok)
			fprintf(stderr, "  bad[%zu] accepted\n", i);
		CHECK(!ok);
	}
	CHECK(!cr_decode(NULL, 3, GUEST_MODE_PROT32, &d));
	CHECK(!cr_decode((const u8 *)"\x0f\x06", 2, GUEST_MODE_PROT32, NULL));
	CHECK(!cr_decode((const u8 *)"\x0f\x06", 2, (enum guest_cpu_mode)9, &d));
	CHECK(cr_decode((const u8 *)"\x0f\x06", 2, GUEST_MODE_PROT32, &d));
}

/* Independent reference for the length of a 0F 01 memory operand form:
 * bytes after the ModRM, by address size. */
static unsigned ref_mem_tail(u8 modrm, u8 sib, unsigned asize)
{
	static const u8 disp16[3] = { 0, 1, 2 }, disp32[3] = { 0, 1, 4 };
	unsigned mod = modrm >> 6, rm = modrm & 7;

	if (asize == 2)
		return mod == 0 && rm == 6 ? 2 : disp16[mod];
	if (rm == 4)
		return 1 + (mod == 0 && (sib & 7) == 5 ? 4 : disp32[mod]);
	return mod == 0 && rm == 5 ? 4 : disp32[mod];
}

/* Random structured instructions (prefixes, 0F, an opcode of ours or a
 * neighbour, random ModRM/SIB/displacement) checked against the reference,
 * then plain random bytes: no crash, len <= n, stable under truncation. */
TEST(fuzz)
{
	static const u8 pfx_pool[] = {
		0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65,
		0x40, 0x44, 0x41, 0x48, 0x4f,
	};
	static const u8 ops[] = { 0x20, 0x22, 0x06, 0x01, 0x01, 0x01, 0x21, 0x00 };
	uint64_t s = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0;
	struct cr_insn d, e;
	u8 b[24];

	for (int iter = 0; iter < 300000; iter++) {
		enum guest_cpu_mode mode = modes[unit_rng(&s) % 4];
		bool long64 = mode == GUEST_MODE_LONG64, bits16;
		unsigned np = (unsigned)(unit_rng(&s) % 5), n, k;
		bool lock = false, a67 = false;
		u8 rex = 0;

		bits16 = mode == GUEST_MODE_REAL || mode == GUEST_MODE_PROT16;
		for (k = 0; k < np; k++) {
			b[k] = pfx_pool[unit_rng(&s) % ARRAY_SIZE(pfx_pool)];
			if ((b[k] & 0xf0) == 0x40 && long64) {
				rex = b[k];
			} else {
				rex = 0;
				lock |= b[k] == 0xf0;
				a67 |= b[k] == 0x67;
			}
		}
		b[k++] = 0x0f;
		b[k++] = ops[unit_rng(&s) % ARRAY_SIZE(ops)];
		for (unsigned j = k; j < sizeof(b); j++)
			b[j] = (u8)unit_rng(&s);
		n = (unsigned)(unit_rng(&s) % (sizeof(b) + 1));
		if (!decode(b, n, mode, &d))
			continue;
		accepted++;
		CHECK(d.len <= n && d.len <= 15);
		/* Stable when cut to its own length, refused one byte less. */
		CHECK(decode(b, d.len, mode, &e) && memcmp(&d, &e, sizeof(d)) == 0);
		CHECK(!decode(b, d.len - 1u, mode, &e));
		/* Compare with the reference (no 40-4F outside 64-bit mode). */
		bool stray_rex = false;
		for (unsigned j = 0; j < np; j++)
			stray_rex |= !long64 && (b[j] & 0xf0) == 0x40;
		CHECK(!stray_rex);
		u8 op = b[np + 1], modrm = b[np + 2];
		unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
		unsigned gpr = (modrm & 7) | ((rex & 1) << 3);
		if (op == 0x06) {
			CHECK_EQ(d.len, np + 2);
			CHECK_EQ(d.op, CR_OP_CLTS);
			CHECK(!lock);
		} else if (op == 0x20 || op == 0x22) {
			CHECK_EQ(d.len, np + 3);
			CHECK_EQ(d.cr, lock ? 8 : reg);
			CHECK(!lock || reg == 0);
			CHECK_EQ(d.gpr, gpr);
		} else {
			unsigned asize = long64 ? (a67 ? 4 : 8) : (a67 != bits16) ? 2 : 4;
			CHECK_EQ(op, 0x01);
			CHECK(!lock);
			CHECK_EQ(d.op, (reg & 7) == 6 ? CR_OP_LMSW :
				       (reg & 7) == 4 ? CR_OP_SMSW : CR_OP_INVLPG);
			CHECK((reg & 7) != 7 || (modrm >> 6) != 3);
			if ((modrm >> 6) == 3) {
				CHECK_EQ(d.len, np + 3);
				CHECK_EQ(d.gpr, gpr);
			} else {
				CHECK_EQ(d.len, np + 3 + ref_mem_tail(modrm, b[np + 3], asize));
				CHECK_EQ(d.gpr, -1);
			}
		}
	}
	CHECK(accepted > 30000); /* about 50000 with this seed */
	/* Unstructured bytes. */
	for (int iter = 0; iter < 300000; iter++) {
		unsigned n = (unsigned)(unit_rng(&s) % 20);

		for (unsigned j = 0; j < n; j++)
			b[j] = (u8)unit_rng(&s);
		if (decode(b, n, modes[iter & 3], &d)) {
			CHECK(d.len >= 2 && d.len <= n && d.len <= 15);
			CHECK(d.op <= CR_OP_INVLPG && d.gpr >= -1 && d.gpr <= 15);
		}
	}
}

int main(void)
{
	RUN(mov_cr_every_modrm_every_mode);
	RUN(mov_cr_rex);
	RUN(lock_cr8);
	RUN(clts);
	RUN(lmsw_smsw_registers);
	RUN(lmsw_smsw_memory);
	RUN(legacy_prefixes);
	RUN(refused);
	RUN(fuzz);
	return unit_report("cr_decode");
}
