/*
 * Instruction-length decoding: every supported instruction in every mode,
 * with each prefix kind, REX placement rules, operand/address sizes, the
 * 15-byte limit, truncated and unknown input, fetching through guest page
 * tables across a page boundary, and a random-bytes fuzzer.
 */
#include "tests/unit/unit.h"
#include "tests/unit/fake_mem.h"
#include "virt/gva.h"
#include "virt/insn_len.h"

struct insn_case {
	const char *name;
	u8 bytes[4];
	u8 len;
	u8 nr_own_prefixes;	/* leading prefix bytes that are part of it */
	enum insn_kind kind;
	bool not_long64;	/* #UD in 64-bit mode */
};

static const struct insn_case cases[] = {
	{ "cpuid", { 0x0f, 0xa2 }, 2, 0, INSN_CPUID, false },
	{ "rdmsr", { 0x0f, 0x32 }, 2, 0, INSN_RDMSR, false },
	{ "wrmsr", { 0x0f, 0x30 }, 2, 0, INSN_WRMSR, false },
	{ "rdtsc", { 0x0f, 0x31 }, 2, 0, INSN_RDTSC, false },
	{ "rdtscp", { 0x0f, 0x01, 0xf9 }, 3, 0, INSN_RDTSCP, false },
	{ "rdpmc", { 0x0f, 0x33 }, 2, 0, INSN_RDPMC, false },
	{ "invd", { 0x0f, 0x08 }, 2, 0, INSN_INVD, false },
	{ "wbinvd", { 0x0f, 0x09 }, 2, 0, INSN_WBINVD, false },
	{ "hlt", { 0xf4 }, 1, 0, INSN_HLT, false },
	{ "pause", { 0xf3, 0x90 }, 2, 1, INSN_PAUSE, false },
	{ "vmcall", { 0x0f, 0x01, 0xc1 }, 3, 0, INSN_VMCALL, false },
	{ "vmmcall", { 0x0f, 0x01, 0xd9 }, 3, 0, INSN_VMMCALL, false },
	{ "monitor", { 0x0f, 0x01, 0xc8 }, 3, 0, INSN_MONITOR, false },
	{ "mwait", { 0x0f, 0x01, 0xc9 }, 3, 0, INSN_MWAIT, false },
	{ "xsetbv", { 0x0f, 0x01, 0xd1 }, 3, 0, INSN_XSETBV, false },
	{ "in al,imm", { 0xe4, 0x60 }, 2, 0, INSN_IO_IN, false },
	{ "in eax,imm", { 0xe5, 0x71 }, 2, 0, INSN_IO_IN, false },
	{ "out imm,al", { 0xe6, 0x80 }, 2, 0, INSN_IO_OUT, false },
	{ "out imm,eax", { 0xe7, 0xf4 }, 2, 0, INSN_IO_OUT, false },
	{ "in al,dx", { 0xec }, 1, 0, INSN_IO_IN, false },
	{ "in eax,dx", { 0xed }, 1, 0, INSN_IO_IN, false },
	{ "out dx,al", { 0xee }, 1, 0, INSN_IO_OUT, false },
	{ "out dx,eax", { 0xef }, 1, 0, INSN_IO_OUT, false },
	{ "insb", { 0x6c }, 1, 0, INSN_INS, false },
	{ "insd", { 0x6d }, 1, 0, INSN_INS, false },
	{ "outsb", { 0x6e }, 1, 0, INSN_OUTS, false },
	{ "outsd", { 0x6f }, 1, 0, INSN_OUTS, false },
	{ "int3", { 0xcc }, 1, 0, INSN_INT3, false },
	{ "into", { 0xce }, 1, 0, INSN_INTO, true },
	{ "int 0x80", { 0xcd, 0x80 }, 2, 0, INSN_INT, false },
	{ "mov eax,cr0", { 0x0f, 0x20, 0xc0 }, 3, 0, INSN_MOV_FROM_CR, false },
	{ "mov cr3,ebx", { 0x0f, 0x22, 0xdb }, 3, 0, INSN_MOV_TO_CR, false },
	{ "mov eax,dr7", { 0x0f, 0x21, 0xf8 }, 3, 0, INSN_MOV_FROM_DR, false },
	{ "mov dr0,ecx", { 0x0f, 0x23, 0xc1 }, 3, 0, INSN_MOV_TO_DR, false },
	/* MOV CR ignores ModRM.mod: still 3 bytes, no displacement. */
	{ "mov cr mod=0", { 0x0f, 0x22, 0x05 }, 3, 0, INSN_MOV_TO_CR, false },
	{ "mov cr mod=2", { 0x0f, 0x20, 0x84 }, 3, 0, INSN_MOV_FROM_CR, false },
};

static const enum guest_cpu_mode modes[] = {
	GUEST_MODE_REAL, GUEST_MODE_PROT16, GUEST_MODE_PROT32, GUEST_MODE_LONG64,
};

static const u8 legacy_prefixes[] = {
	0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65,
};

/* Decodes n bytes (with plenty of slack after them, so that any read past
 * the instruction would change nothing but is still in bounds). */
static int decode(const u8 *b, size_t n, enum guest_cpu_mode mode,
		  struct insn_info *info)
{
	u8 *copy = malloc(n ? n : 1);
	int r;

	/* An exact-size heap copy: ASan catches reads past avail. */
	memcpy(copy, b, n);
	memset(info, 0xee, sizeof(*info));
	r = insn_length(copy, n, mode, info);
	free(copy);
	return r;
}

static bool expect(const struct insn_case *c, enum guest_cpu_mode mode,
		   const u8 *b, size_t n, int want, struct insn_info *info)
{
	int r = decode(b, n, mode, info);

	if (r != want) {
		fprintf(stderr, "  %s in mode %d (%zu bytes): got %d, want %d\n",
			c->name, mode, n, r, want);
		return false;
	}
	if (r > 0 && (info->kind != c->kind || info->len != r)) {
		fprintf(stderr, "  %s in mode %d: kind %d len %u\n", c->name, mode,
			info->kind, info->len);
		return false;
	}
	return true;
}

TEST(all_instructions_all_modes)
{
	struct insn_info info;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct insn_case *c = &cases[i];
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
			bool ud = c->not_long64 && modes[m] == GUEST_MODE_LONG64;
			CHECK(expect(c, modes[m], c->bytes, c->len,
				     ud ? INSN_ERR_UNKNOWN : c->len, &info));
			if (ud)
				continue;
			CHECK_EQ(info.nr_prefixes, c->nr_own_prefixes);
			CHECK(!info.opsize && !info.addrsize && !info.lock && !info.seg &&
			      !info.rex);
			/* Every byte is needed: one fewer is truncated. */
			CHECK(expect(c, modes[m], c->bytes, c->len - 1u,
				     INSN_ERR_TRUNCATED, &info));
		}
	}
}

/* Each legacy prefix alone, then all eleven at once, in every mode. */
TEST(legacy_prefixes)
{
	struct insn_info info;
	u8 buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct insn_case *c = &cases[i];
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
			if (c->not_long64 && modes[m] == GUEST_MODE_LONG64)
				continue;
			for (size_t p = 0; p < ARRAY_SIZE(legacy_prefixes); p++) {
				u8 pfx = legacy_prefixes[p];
				buf[0] = pfx;
				memcpy(buf + 1, c->bytes, c->len);
				CHECK(expect(c, modes[m], buf, c->len + 1u, c->len + 1, &info));
				CHECK_EQ(info.nr_prefixes, c->nr_own_prefixes + 1);
				CHECK_EQ(info.opsize, pfx == 0x66);
				CHECK_EQ(info.addrsize, pfx == 0x67);
				CHECK_EQ(info.lock, pfx == 0xf0);
				if (c->kind == INSN_PAUSE)
					CHECK_EQ(info.rep, 0xf3); /* the last one wins */
				else
					CHECK_EQ(info.rep, (pfx == 0xf2 || pfx == 0xf3) ? pfx : 0);
				CHECK_EQ(info.seg, ((pfx & 0xe7) == 0x26 || pfx == 0x64 ||
						    pfx == 0x65) ? pfx : 0);
			}
			memcpy(buf, legacy_prefixes, sizeof(legacy_prefixes));
			memcpy(buf + sizeof(legacy_prefixes), c->bytes, c->len);
			{
				size_t n = sizeof(legacy_prefixes) + c->len;
				CHECK(expect(c, modes[m], buf, n,
					     n <= INSN_MAX_LEN ? (int)n : INSN_ERR_TOO_LONG,
					     &info));
				/* F3 is the last group-1 prefix in the list. */
				if (n <= INSN_MAX_LEN)
					CHECK(info.opsize && info.addrsize && info.lock &&
					      info.seg == 0x65 && info.rep == 0xf3);
			}
		}
	}
}

/* REX: a prefix in 64-bit mode (applies only right before the opcode), an
 * INC/DEC opcode elsewhere. */
TEST(rex_prefix)
{
	struct insn_info info;
	u8 buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct insn_case *c = &cases[i];
		size_t own = c->nr_own_prefixes;
		u8 rex = c->kind == INSN_PAUSE ? 0x48 : 0x4d; /* W, or W R B */

		/* Own prefixes, REX, opcode. */
		memcpy(buf, c->bytes, own);
		buf[own] = rex;
		memcpy(buf + own + 1, c->bytes + own, c->len - own);
		if (!c->not_long64) {
			CHECK(expect(c, GUEST_MODE_LONG64, buf, c->len + 1u, c->len + 1,
				     &info));
			CHECK_EQ(info.rex, rex);
		}
		for (size_t m = 0; m < 3; m++)
			CHECK(expect(c, modes[m], buf, c->len + 1u, INSN_ERR_UNKNOWN,
				     &info));
		/* REX then a legacy prefix: the REX is ignored. */
		memcpy(buf, c->bytes, own);
		buf[own] = rex;
		buf[own + 1] = 0x2e;
		memcpy(buf + own + 2, c->bytes + own, c->len - own);
		if (!c->not_long64) {
			CHECK(expect(c, GUEST_MODE_LONG64, buf, c->len + 2u, c->len + 2,
				     &info));
			CHECK_EQ(info.rex, 0);
			CHECK_EQ(info.nr_prefixes, own + 2);
		}
		/* Two REX bytes: only the last applies. */
		memcpy(buf, c->bytes, own);
		buf[own] = 0x41;
		buf[own + 1] = 0x48;
		memcpy(buf + own + 2, c->bytes + own, c->len - own);
		if (!c->not_long64) {
			CHECK(expect(c, GUEST_MODE_LONG64, buf, c->len + 2u, c->len + 2,
				     &info));
			CHECK_EQ(info.rex, 0x48);
		}
	}
}

/* Bytes, mode, expected length or error, kind. */
struct raw_case {
	u8 bytes[16];
	u8 n;
	enum guest_cpu_mode mode;
	int want;
};

TEST(unknown_and_invalid)
{
	static const struct raw_case bad[] = {
		{ { 0x90 }, 1, GUEST_MODE_PROT32, INSN_ERR_UNKNOWN },		/* nop */
		{ { 0xf2, 0x90 }, 2, GUEST_MODE_PROT32, INSN_ERR_UNKNOWN },	/* repne nop */
		{ { 0xf3, 0x41, 0x90 }, 3, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN }, /* xchg r8 */
		{ { 0x00, 0x00 }, 2, GUEST_MODE_PROT32, INSN_ERR_UNKNOWN },
		{ { 0x0f, 0x05 }, 2, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN },	/* syscall */
		{ { 0x0f, 0x01, 0xd0 }, 3, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN }, /* xgetbv */
		{ { 0x0f, 0x01, 0x00 }, 3, GUEST_MODE_PROT32, INSN_ERR_UNKNOWN }, /* sgdt [eax] */
		{ { 0x0f, 0x01, 0xd8 }, 3, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN }, /* vmrun */
		{ { 0xce }, 1, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN },		/* into */
		{ { 0x40, 0xf4 }, 2, GUEST_MODE_PROT32, INSN_ERR_UNKNOWN },	/* inc eax */
		{ { 0xc4, 0xe2, 0x79 }, 3, GUEST_MODE_LONG64, INSN_ERR_UNKNOWN }, /* VEX */
		{ { 0xff, 0xff }, 2, GUEST_MODE_REAL, INSN_ERR_UNKNOWN },
		/* Truncated: nothing, a lone prefix, an escape, a missing imm8. */
		{ { 0 }, 0, GUEST_MODE_PROT32, INSN_ERR_TRUNCATED },
		{ { 0x66 }, 1, GUEST_MODE_PROT32, INSN_ERR_TRUNCATED },
		{ { 0x48 }, 1, GUEST_MODE_LONG64, INSN_ERR_TRUNCATED },
		{ { 0x0f }, 1, GUEST_MODE_PROT32, INSN_ERR_TRUNCATED },
		{ { 0x0f, 0x01 }, 2, GUEST_MODE_PROT32, INSN_ERR_TRUNCATED },
		{ { 0xe4 }, 1, GUEST_MODE_REAL, INSN_ERR_TRUNCATED },
		{ { 0xcd }, 1, GUEST_MODE_LONG64, INSN_ERR_TRUNCATED },
		{ { 0x0f, 0x22 }, 2, GUEST_MODE_LONG64, INSN_ERR_TRUNCATED },
	};
	struct insn_info info;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = decode(bad[i].bytes, bad[i].n, bad[i].mode, &info);
		if (r != bad[i].want)
			fprintf(stderr, "  bad[%zu]: got %d want %d\n", i, r, bad[i].want);
		CHECK_EQ(r, bad[i].want);
	}
	CHECK_EQ(insn_length((const u8 *)"\xf4", 1, (enum guest_cpu_mode)7, &info),
		 INSN_ERR_UNKNOWN);
	CHECK_EQ(insn_length(NULL, 0, GUEST_MODE_PROT32, &info), INSN_ERR_TRUNCATED);
	CHECK_EQ(insn_length((const u8 *)"\xf4", 1, GUEST_MODE_PROT32, NULL), 1);
}

TEST(fifteen_byte_limit)
{
	struct insn_info info;
	u8 buf[32];

	memset(buf, 0x66, sizeof(buf));
	buf[14] = 0xf4; /* 14 prefixes + HLT = 15 bytes */
	CHECK_EQ(decode(buf, 15, GUEST_MODE_PROT32, &info), 15);
	CHECK_EQ(info.kind, INSN_HLT);
	CHECK_EQ(info.nr_prefixes, 14);
	buf[14] = 0x66;
	buf[15] = 0xf4; /* 15 prefixes + HLT = 16 bytes */
	CHECK_EQ(decode(buf, 16, GUEST_MODE_PROT32, &info), INSN_ERR_TOO_LONG);
	CHECK_EQ(decode(buf, 32, GUEST_MODE_PROT32, &info), INSN_ERR_TOO_LONG);
	/* Too long wins over truncated once 15 bytes are prefixes. */
	CHECK_EQ(decode(buf, 15, GUEST_MODE_PROT32, &info), INSN_ERR_TOO_LONG);
	CHECK_EQ(decode(buf, 14, GUEST_MODE_PROT32, &info), INSN_ERR_TRUNCATED);
	/* 13 prefixes + 0F A2 = 15; 14 + 0F A2 = 16. */
	memset(buf, 0x3e, sizeof(buf));
	buf[13] = 0x0f;
	buf[14] = 0xa2;
	CHECK_EQ(decode(buf, 15, GUEST_MODE_REAL, &info), 15);
	CHECK_EQ(info.kind, INSN_CPUID);
	buf[13] = 0x3e;
	buf[14] = 0x0f;
	buf[15] = 0xa2;
	CHECK_EQ(decode(buf, 16, GUEST_MODE_REAL, &info), INSN_ERR_TOO_LONG);
	/* An imm8 that would be byte 16. */
	memset(buf, 0x26, sizeof(buf));
	buf[14] = 0xe4;
	buf[15] = 0x60;
	CHECK_EQ(decode(buf, 16, GUEST_MODE_PROT32, &info), INSN_ERR_TOO_LONG);
	/* REX prefixes count too. */
	memset(buf, 0x40, sizeof(buf));
	buf[14] = 0xf4;
	CHECK_EQ(decode(buf, 15, GUEST_MODE_LONG64, &info), 15);
	CHECK_EQ(info.rex, 0x40);
	buf[14] = 0x40;
	buf[15] = 0xf4;
	CHECK_EQ(decode(buf, 16, GUEST_MODE_LONG64, &info), INSN_ERR_TOO_LONG);
}

TEST(io_sizes_and_ports)
{
	static const struct {
		u8 bytes[4];
		u8 n;
		enum guest_cpu_mode mode;
		enum insn_kind kind;
		u8 io_size, op_size, addr_size;
	} t[] = {
		{ { 0xed }, 1, GUEST_MODE_REAL, INSN_IO_IN, 2, 2, 2 },
		{ { 0x66, 0xed }, 2, GUEST_MODE_REAL, INSN_IO_IN, 4, 4, 2 },
		{ { 0xed }, 1, GUEST_MODE_PROT16, INSN_IO_IN, 2, 2, 2 },
		{ { 0xed }, 1, GUEST_MODE_PROT32, INSN_IO_IN, 4, 4, 4 },
		{ { 0x66, 0xef }, 2, GUEST_MODE_PROT32, INSN_IO_OUT, 2, 2, 4 },
		{ { 0xef }, 1, GUEST_MODE_LONG64, INSN_IO_OUT, 4, 4, 8 },
		{ { 0x66, 0xef }, 2, GUEST_MODE_LONG64, INSN_IO_OUT, 2, 2, 8 },
		/* REX.W wins over 66 but I/O stops at 32 bits. */
		{ { 0x66, 0x48, 0xef }, 3, GUEST_MODE_LONG64, INSN_IO_OUT, 4, 8, 8 },
		/* ... and a REX before the 66 is dropped. */
		{ { 0x48, 0x66, 0xef }, 3, GUEST_MODE_LONG64, INSN_IO_OUT, 2, 2, 8 },
		{ { 0x66, 0xee }, 2, GUEST_MODE_PROT32, INSN_IO_OUT, 1, 2, 4 },
		{ { 0x6c }, 1, GUEST_MODE_LONG64, INSN_INS, 1, 4, 8 },
		{ { 0x67, 0x6d }, 2, GUEST_MODE_LONG64, INSN_INS, 4, 4, 4 },
		{ { 0x67, 0x6f }, 2, GUEST_MODE_REAL, INSN_OUTS, 2, 2, 4 },
		{ { 0x67, 0x6f }, 2, GUEST_MODE_PROT32, INSN_OUTS, 4, 4, 2 },
		{ { 0xf3, 0x66, 0x6f }, 3, GUEST_MODE_PROT32, INSN_OUTS, 2, 2, 4 },
	};
	struct insn_info info;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		CHECK_EQ(decode(t[i].bytes, t[i].n, t[i].mode, &info), t[i].n);
		CHECK_EQ(info.kind, t[i].kind);
		CHECK_EQ(info.io_size, t[i].io_size);
		CHECK_EQ(info.op_size, t[i].op_size);
		CHECK_EQ(info.addr_size, t[i].addr_size);
		CHECK(!info.has_imm8);
	}
	CHECK_EQ(decode((const u8 *)"\xf3\x6f", 2, GUEST_MODE_PROT32, &info), 2);
	CHECK_EQ(info.rep, 0xf3);
	CHECK_EQ(decode((const u8 *)"\x64\x6e", 2, GUEST_MODE_PROT32, &info), 2);
	CHECK_EQ(info.seg, 0x64);
	CHECK_EQ(decode((const u8 *)"\xe5\x71", 2, GUEST_MODE_PROT32, &info), 2);
	CHECK(info.has_imm8);
	CHECK_EQ(info.imm8, 0x71);
	CHECK_EQ(info.io_size, 4);
	CHECK_EQ(decode((const u8 *)"\xe6\xf9", 2, GUEST_MODE_REAL, &info), 2);
	CHECK_EQ(info.imm8, 0xf9);
	CHECK_EQ(info.io_size, 1);
	CHECK_EQ(decode((const u8 *)"\xcd\x21", 2, GUEST_MODE_REAL, &info), 2);
	CHECK_EQ(info.kind, INSN_INT);
	CHECK_EQ(info.imm8, 0x21);
}

TEST(mov_cr_dr_registers)
{
	struct insn_info info;

	CHECK_EQ(decode((const u8 *)"\x0f\x22\xd8", 3, GUEST_MODE_PROT32, &info), 3);
	CHECK_EQ(info.kind, INSN_MOV_TO_CR);
	CHECK_EQ(info.reg, 3); /* cr3 */
	CHECK_EQ(info.rm, 0);  /* eax */
	CHECK_EQ(info.op_size, 4);
	CHECK_EQ(info.modrm, 0xd8);
	/* REX.R selects CR8, REX.B r8-r15; 64-bit operands regardless. */
	CHECK_EQ(decode((const u8 *)"\x44\x0f\x20\xc0", 4, GUEST_MODE_LONG64, &info), 4);
	CHECK_EQ(info.kind, INSN_MOV_FROM_CR);
	CHECK_EQ(info.reg, 8);
	CHECK_EQ(info.rm, 0);
	CHECK_EQ(info.op_size, 8);
	CHECK_EQ(decode((const u8 *)"\x66\x41\x0f\x22\xe7", 5, GUEST_MODE_LONG64, &info), 5);
	CHECK_EQ(info.reg, 4);
	CHECK_EQ(info.rm, 15);
	CHECK_EQ(info.op_size, 8);
	/* A REX not right before the opcode does not extend the registers. */
	CHECK_EQ(decode((const u8 *)"\x45\x66\x0f\x22\xe7", 5, GUEST_MODE_LONG64, &info), 5);
	CHECK_EQ(info.reg, 4);
	CHECK_EQ(info.rm, 7);
	/* AMD's LOCK MOV CR0 (CR8 alias): reported, not folded into reg. */
	CHECK_EQ(decode((const u8 *)"\xf0\x0f\x22\xc0", 4, GUEST_MODE_PROT32, &info), 4);
	CHECK(info.lock);
	CHECK_EQ(info.reg, 0);
	CHECK_EQ(decode((const u8 *)"\x0f\x23\xf9", 3, GUEST_MODE_PROT16, &info), 3);
	CHECK_EQ(info.kind, INSN_MOV_TO_DR);
	CHECK_EQ(info.reg, 7);
	CHECK_EQ(info.rm, 1);
	CHECK_EQ(info.op_size, 4);
}

TEST(kind_names)
{
	CHECK_STR(insn_kind_name(INSN_CPUID), "cpuid");
	CHECK_STR(insn_kind_name(INSN_MOV_TO_DR), "mov-to-dr");
	CHECK_STR(insn_kind_name(INSN_KIND_COUNT), "?");
	CHECK_STR(insn_kind_name((enum insn_kind)-1), "?");
	for (int k = 0; k < INSN_KIND_COUNT; k++)
		CHECK(strcmp(insn_kind_name((enum insn_kind)k), "?") != 0);
}

/* --- fetching through guest page tables ------------------------------------ */

#define MEM_SIZE (4u << 20)
#define P 1ull


static void put64(u64 pa, u64 v) { memcpy(gm + pa, &v, 8); }

/* 4-level tables at 0x10000: VA 0x400000 -> PA 0x100000, VA 0x401000 ->
 * PA 0x200000 (not contiguous), VA 0x402000 not mapped. */
static struct guest_paging fetch_setup(void)
{
	struct guest_paging p = {
		.cr0 = BIT(31) | 1, .cr4 = BIT(5), .efer = BIT(8) | BIT(10),
		.cr3 = 0x10000,
	};

	memset(gm, 0xcc, MEM_SIZE);
	memset(gm + 0x10000, 0, 0x4000);
	put64(0x10000, 0x11000 | P);
	put64(0x11000, 0x12000 | P);
	put64(0x12000 + 2 * 8, 0x13000 | P);
	put64(0x13000 + 0 * 8, 0x100000 | P);
	put64(0x13000 + 1 * 8, 0x200000 | P);
	return p;
}

TEST(fetch_across_pages)
{
	struct guest_paging p = fetch_setup();
	struct insn_info info;

	/* 66 0F 01 | D9 split over the boundary. */
	gm[0x100ffd] = 0x66;
	gm[0x100ffe] = 0x0f;
	gm[0x100fff] = 0x01;
	gm[0x200000] = 0xd9;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x400ffd, GUEST_MODE_LONG64, &info), 4);
	CHECK_EQ(info.kind, INSN_VMMCALL);
	CHECK(info.opsize);
	/* The CS base is ignored in 64-bit mode. */
	CHECK_EQ(insn_fetch_length(&fm, &p, 0x1000, 0x400ffd, GUEST_MODE_LONG64, &info), 4);
	/* Entirely in the first page. */
	gm[0x100010] = 0x0f;
	gm[0x100011] = 0xa2;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x400010, GUEST_MODE_LONG64, &info), 2);
	CHECK_EQ(info.kind, INSN_CPUID);
}

TEST(fetch_next_page_unmapped)
{
	struct guest_paging p = fetch_setup();
	struct insn_info info;

	/* HLT in the last byte before an unmapped page still decodes. */
	gm[0x200fff] = 0xf4;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x401fff, GUEST_MODE_LONG64, &info), 1);
	CHECK_EQ(info.kind, INSN_HLT);
	/* An instruction that continues into it does not. */
	gm[0x200ffe] = 0x0f;
	gm[0x200fff] = 0x01;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x401ffe, GUEST_MODE_LONG64, &info),
		 INSN_ERR_TRUNCATED);
	/* Nothing readable at all. */
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x402000, GUEST_MODE_LONG64, &info),
		 INSN_ERR_FAULT);
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, 0x8000000000000000ull,
				   GUEST_MODE_LONG64, &info), INSN_ERR_FAULT);
}

TEST(fetch_without_paging)
{
	struct guest_paging p = { .cr0 = 1 };
	struct insn_info info;

	memset(gm, 0xcc, MEM_SIZE);
	/* Real mode: CS base 0xf0000 (CS=0xf000), IP 0x123. */
	gm[0xf0123] = 0xe4;
	gm[0xf0124] = 0x61;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0xf0000, 0x123, GUEST_MODE_REAL, &info), 2);
	CHECK_EQ(info.kind, INSN_IO_IN);
	CHECK_EQ(info.imm8, 0x61);
	/* 32-bit: CS base + EIP wraps at 4 GiB. */
	gm[0x1000] = 0x0f;
	gm[0x1001] = 0x30;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0xfffff000, 0x2000, GUEST_MODE_PROT32, &info), 2);
	CHECK_EQ(info.kind, INSN_WRMSR);
	/* The last bytes of guest RAM: the rest is not readable. */
	gm[MEM_SIZE - 1] = 0xf4;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, MEM_SIZE - 1, GUEST_MODE_PROT32, &info), 1);
	gm[MEM_SIZE - 1] = 0xcd;
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, MEM_SIZE - 1, GUEST_MODE_PROT32, &info),
		 INSN_ERR_TRUNCATED);
	CHECK_EQ(insn_fetch_length(&fm, &p, 0, MEM_SIZE, GUEST_MODE_PROT32, &info),
		 INSN_ERR_FAULT);
}

/* --- fuzzing ------------------------------------------------------------------ */

static u64 rng_state = 0x0123456789abcdefull;

static u64 rng(void)
{
	return unit_rng(&rng_state);
}

/* Bytes that steer the decoder into its interesting paths. */
static const u8 interesting[] = {
	0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65,
	0x40, 0x41, 0x44, 0x48, 0x4f, 0x0f, 0x01, 0xa2, 0x30, 0x31, 0x32,
	0x33, 0x08, 0x09, 0x20, 0x21, 0x22, 0x23, 0xc1, 0xc8, 0xc9, 0xd1,
	0xd9, 0xf9, 0xf4, 0x90, 0xcc, 0xcd, 0xce, 0xe4, 0xe5, 0xe6, 0xe7,
	0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f,
};

TEST(fuzz_random_bytes)
{
	unsigned ok = 0;

	for (int it = 0; it < 100000; it++) {
		u8 buf[16];
		size_t avail = rng() % 17;
		enum guest_cpu_mode mode = modes[rng() % 4];
		bool steer = it & 1;
		struct insn_info info, again;
		int r, r2;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = steer ? interesting[rng() % sizeof(interesting)] : (u8)rng();
		r = decode(buf, avail, mode, &info);
		if (r > 0) {
			ok++;
			CHECK(r <= INSN_MAX_LEN && (size_t)r <= avail);
			CHECK_EQ(info.len, r);
			CHECK(info.kind > INSN_NONE && info.kind < INSN_KIND_COUNT);
			CHECK(info.nr_prefixes < r);
			/* The instruction's own bytes are enough to decode it. */
			r2 = decode(buf, (size_t)r, mode, &again);
			CHECK_EQ(r2, r);
			CHECK_EQ(again.kind, info.kind);
		} else {
			CHECK(r == INSN_ERR_UNKNOWN || r == INSN_ERR_TRUNCATED ||
			      r == INSN_ERR_TOO_LONG);
			if (r == INSN_ERR_TRUNCATED)
				CHECK(avail < INSN_MAX_LEN);
		}
		if (unit_current_failed)
			break;
	}
	/* The steered half must actually reach the decoder's leaves. */
	CHECK(ok > 5000);
}

int main(void)
{
	gm = malloc(MEM_SIZE);
	fake_mem_size = MEM_SIZE;
	write_limit = 0; /* read-only: instruction fetch never writes */
	if (!gm)
		return 1;
	RUN(all_instructions_all_modes);
	RUN(legacy_prefixes);
	RUN(rex_prefix);
	RUN(unknown_and_invalid);
	RUN(fifteen_byte_limit);
	RUN(io_sizes_and_ports);
	RUN(mov_cr_dr_registers);
	RUN(kind_names);
	RUN(fetch_across_pages);
	RUN(fetch_next_page_unmapped);
	RUN(fetch_without_paging);
	RUN(fuzz_random_bytes);
	free(gm);
	return unit_report("insn_len");
}
