/*
 * Boot information parsing: well-formed Multiboot v1 and Multiboot2 blocks,
 * malformed ones, and a mutation fuzzer.
 *
 * Fake physical memory is a heap buffer covering [FAKE_BASE, FAKE_BASE +
 * FAKE_SIZE). Every map() the parser makes returns a fresh heap copy of
 * exactly the bytes it asked for, so ASan reports any read past what the
 * parser mapped, not just past the end of the fake memory.
 */
#include "tests/unit/unit.h"
#include "tests/unit/host_env.h"
#include "kernel/bootinfo.h"
#include "kernel/log.h"
#include "kernel/multiboot.h"
#include "lib/string.h"

#define FAKE_BASE 0x100000ull
#define FAKE_SIZE (256u << 10)
#define FAKE_END (FAKE_BASE + FAKE_SIZE)
#define INFO_PA (FAKE_BASE + 0x1000)

/* Maps a single parse may make before we call it a runaway loop. */
#define MAX_MAPS 200000

static u8 *mem;
static void *maps[MAX_MAPS];
static unsigned nmaps;
/* Readable memory ends here; tests lower it to a non-page boundary. */
static paddr_t fake_limit = FAKE_END;

static const void *fake_map(void *ctx, paddr_t pa, u64 len)
{
	void *copy;

	(void)ctx;
	if (pa < FAKE_BASE || pa > fake_limit || len > fake_limit - pa || len == 0)
		return NULL;
	if (nmaps == MAX_MAPS) {
		fprintf(stderr, "FAIL %s: parser made more than %d maps\n",
			unit_current, MAX_MAPS);
		abort();
	}
	copy = malloc(len);
	memcpy(copy, mem + (pa - FAKE_BASE), len);
	maps[nmaps++] = copy;
	return copy;
}

static const struct phys_reader reader = { .map = fake_map };

static void release_maps(void)
{
	while (nmaps)
		free(maps[--nmaps]);
}

static struct bootinfo bi;

/* Parses and drops the temporary mappings; fields are checked afterwards. */
static bool parse(u32 magic, paddr_t pa)
{
	bool ok = bootinfo_parse(magic, pa, &reader, &bi);
	release_maps();
	return ok;
}

static void mem_reset(void)
{
	memset(mem, 0, FAKE_SIZE);
}

static u8 *at(paddr_t pa)
{
	if (pa < FAKE_BASE || pa >= FAKE_END) {
		fprintf(stderr, "test bug: 0x%llx outside fake memory\n",
			(unsigned long long)pa);
		abort();
	}
	return mem + (pa - FAKE_BASE);
}

static void put32(paddr_t pa, u32 v)
{
	memcpy(at(pa), &v, 4);
}

static void put64(paddr_t pa, u64 v)
{
	memcpy(at(pa), &v, 8);
}

static void put_str(paddr_t pa, const char *s)
{
	memcpy(at(pa), s, strlen(s) + 1);
}

/* --- Multiboot2 builder ----------------------------------------------------- */

struct mb2b {
	paddr_t base;
	u32 off;
};

static struct mb2b mb2_begin(paddr_t base)
{
	return (struct mb2b){ .base = base, .off = 8 };
}

/* Appends a tag header; returns the address of its payload. */
static paddr_t mb2_tag(struct mb2b *b, u32 type, u32 payload_len)
{
	paddr_t t = b->base + b->off;

	put32(t, type);
	put32(t + 4, 8 + payload_len);
	b->off += ALIGN_UP(8 + payload_len, 8u);
	return t + 8;
}

static void mb2_string(struct mb2b *b, u32 type, const char *s)
{
	put_str(mb2_tag(b, type, (u32)strlen(s) + 1), s);
}

static void mb2_module(struct mb2b *b, u32 start, u32 end, const char *s)
{
	paddr_t p = mb2_tag(b, MB2_TAG_MODULE, 8 + (u32)strlen(s) + 1);

	put32(p, start);
	put32(p + 4, end);
	put_str(p + 8, s);
}

static void mb2_meminfo(struct mb2b *b, u32 lower, u32 upper)
{
	paddr_t p = mb2_tag(b, MB2_TAG_BASIC_MEMINFO, 8);

	put32(p, lower);
	put32(p + 4, upper);
}

struct test_region {
	u64 base, len;
	u32 type;
};

/* A PC-like e820 map. */
static const struct test_region std_map[] = {
	{ 0x0, 0x9fc00, 1 },
	{ 0x9fc00, 0x400, 2 },
	{ 0xf0000, 0x10000, 2 },
	{ 0x100000, 0x7ee0000, 1 },
	{ 0x7fe0000, 0x20000, 3 },
	{ 0xfeffc000, 0x4000, 4 },
	{ 0xfffc0000, 0x40000, 9 },		/* unknown type: reserved */
	{ 0x100000000, 0x40000000, 1 },
	{ 0x140000000, 0, 1 },			/* empty: dropped */
	{ 0x140000000, 0x1000, 5 },
	{ 0x140001000, 0x1000, 5 },		/* merges with the previous */
};

/* What the parser should make of std_map. */
static const struct bootmem_region std_map_parsed[] = {
	{ 0x0, 0x9fc00, BOOTMEM_AVAILABLE },
	{ 0x9fc00, 0xa0000, BOOTMEM_RESERVED },
	{ 0xf0000, 0x100000, BOOTMEM_RESERVED },
	{ 0x100000, 0x7fe0000, BOOTMEM_AVAILABLE },
	{ 0x7fe0000, 0x8000000, BOOTMEM_ACPI_RECLAIMABLE },
	{ 0xfeffc000, 0xff000000, BOOTMEM_ACPI_NVS },
	{ 0xfffc0000, 0x100000000, BOOTMEM_RESERVED },
	{ 0x100000000, 0x140000000, BOOTMEM_AVAILABLE },
	{ 0x140000000, 0x140002000, BOOTMEM_BAD },
};
#define STD_MAP_USABLE (0x9fc00ull + (0x7fe0000 - 0x100000) + 0x40000000)

/* An mmap tag declaring entry_size but laid out with stride (they differ
 * only in malformed tests). */
static void mb2_mmap(struct mb2b *b, u32 entry_size, u32 stride,
		     const struct test_region *r, u32 n)
{
	paddr_t p = mb2_tag(b, MB2_TAG_MMAP, 8 + n * stride);

	put32(p, entry_size);
	put32(p + 4, 0);
	for (u32 i = 0; i < n; i++) {
		paddr_t e = p + 8 + i * stride;
		put64(e, r[i].base);
		put64(e + 8, r[i].len);
		put32(e + 16, r[i].type);
		put32(e + 20, 0);
	}
}

struct test_efi_desc {
	u32 type;
	u64 start, pages;
};

static const struct test_efi_desc std_efi[] = {
	{ EFI_BOOT_SERVICES_CODE, 0x0, 1 },
	{ EFI_CONVENTIONAL_MEMORY, 0x1000, 0x9f },
	{ EFI_RESERVED_MEMORY_TYPE, 0xa0000, 0x60 },
	{ EFI_LOADER_DATA, 0x100000, 0x100 },
	{ EFI_BOOT_SERVICES_DATA, 0x200000, 0x10 },
	{ EFI_CONVENTIONAL_MEMORY, 0x210000, 0x7dd0 },
	{ EFI_ACPI_RECLAIM_MEMORY, 0x7fe0000, 0x10 },
	{ EFI_ACPI_MEMORY_NVS, 0x7ff0000, 0x10 },
	{ EFI_UNUSABLE_MEMORY, 0x8000000, 1 },
	{ EFI_RUNTIME_SERVICES_CODE, 0x8001000, 1 },
	{ EFI_PERSISTENT_MEMORY, 0x8002000, 1 },
	{ EFI_MEMORY_MAPPED_IO, 0xfec00000, 1 },
	{ EFI_BOOT_SERVICES_DATA, 0x9000000, 0 },	/* empty */
};

static const struct bootmem_region std_efi_parsed[] = {
	{ 0x0, 0xa0000, BOOTMEM_AVAILABLE },
	{ 0xa0000, 0x100000, BOOTMEM_RESERVED },
	{ 0x100000, 0x7fe0000, BOOTMEM_AVAILABLE },
	{ 0x7fe0000, 0x7ff0000, BOOTMEM_ACPI_RECLAIMABLE },
	{ 0x7ff0000, 0x8000000, BOOTMEM_ACPI_NVS },
	{ 0x8000000, 0x8001000, BOOTMEM_BAD },
	{ 0x8001000, 0x8003000, BOOTMEM_RESERVED },
	{ 0xfec00000, 0xfec01000, BOOTMEM_RESERVED },
};
#define STD_EFI_USABLE (0xa0000ull + (0x7fe0000 - 0x100000))

static void mb2_efi_mmap(struct mb2b *b, u32 descr_size,
			 const struct test_efi_desc *d, u32 n)
{
	paddr_t p = mb2_tag(b, MB2_TAG_EFI_MMAP, 8 + n * descr_size);

	put32(p, descr_size);
	put32(p + 4, 1);
	for (u32 i = 0; i < n; i++) {
		paddr_t e = p + 8 + i * descr_size;
		put32(e, d[i].type);
		put64(e + 8, d[i].start);
		put64(e + 16, 0);
		put64(e + 24, d[i].pages);
		put64(e + 32, 0xf);
	}
}

/* An RSDP: v1 is 20 bytes, v2 36 (ACPI 6.5 §5.2.5.3). */
static void make_rsdp(u8 *r, bool v2)
{
	memset(r, 0, 36);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "UMBRA ", 6);
	r[15] = v2 ? 2 : 0;	/* revision */
	if (v2)
		r[20] = 36;	/* length */
}

static void mb2_rsdp(struct mb2b *b, bool v2)
{
	u8 r[36];
	u32 len = v2 ? 36 : 20;

	make_rsdp(r, v2);
	memcpy(at(mb2_tag(b, v2 ? MB2_TAG_ACPI_NEW : MB2_TAG_ACPI_OLD, len)),
	       r, len);
}

static void mb2_finish(struct mb2b *b)
{
	mb2_tag(b, MB2_TAG_END, 0);
	put32(b->base, b->off);
	put32(b->base + 4, 0);
}

#define MOD1_CMDLINE "guest.elf name=web mem=256M -- console=ttyS0"

/* Builds the well-formed Multiboot2 block the tests start from. */
static u32 build_std_v2(void)
{
	struct mb2b b = mb2_begin(INFO_PA);
	paddr_t p;

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "console=com1 loglevel=debug");
	mb2_string(&b, MB2_TAG_BOOT_LOADER_NAME, "GRUB 2.06");
	mb2_module(&b, 0x200000, 0x300000, MOD1_CMDLINE);
	mb2_module(&b, 0x300000, 0x301000, "");
	mb2_meminfo(&b, 639, 130048);
	p = mb2_tag(&b, MB2_TAG_FRAMEBUFFER, 23);	/* ignored */
	memset(at(p), 0xab, 23);
	mb2_mmap(&b, 24, 24, std_map, ARRAY_SIZE(std_map));
	p = mb2_tag(&b, MB2_TAG_EFI64, 8);
	put64(p, 0x7f00000);
	mb2_rsdp(&b, false);
	mb2_rsdp(&b, true);
	mb2_efi_mmap(&b, 48, std_efi, ARRAY_SIZE(std_efi));
	mb2_finish(&b);
	return b.off;
}

static void check_regions(const struct bootmem_region *got, u32 n,
			  const struct bootmem_region *want, u32 wn)
{
	CHECK_EQ(n, wn);
	for (u32 i = 0; i < n && i < wn; i++) {
		CHECK_EQ(got[i].start, want[i].start);
		CHECK_EQ(got[i].end, want[i].end);
		CHECK_EQ(got[i].type, want[i].type);
	}
}

static int warn_count_before;

static void expect_warning_start(void)
{
	warn_count_before = host_log_count[LOG_WARN];
}

/* The parse counted at least one problem and said so through log_warn. */
#define CHECK_WARNED()                                                        \
	do {                                                                  \
		CHECK(bi.warnings > 0);                                       \
		CHECK(host_log_count[LOG_WARN] > warn_count_before);          \
	} while (0)

/* --- well-formed input ------------------------------------------------------ */

TEST(v2_well_formed)
{
	u32 total = build_std_v2();

	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK_EQ(bi.protocol, 2);
	CHECK_EQ(bi.info.start, INFO_PA);
	CHECK_EQ(bi.info.end, INFO_PA + total);
	CHECK_STR(bi.cmdline, "console=com1 loglevel=debug");
	CHECK_STR(bi.loader_name, "GRUB 2.06");

	CHECK_EQ(bi.module_count, 2);
	CHECK_EQ(bi.modules[0].start, 0x200000);
	CHECK_EQ(bi.modules[0].end, 0x300000);
	CHECK_STR(bi.modules[0].cmdline, MOD1_CMDLINE);
	CHECK_EQ(bi.modules[1].start, 0x300000);
	CHECK_EQ(bi.modules[1].end, 0x301000);
	CHECK_STR(bi.modules[1].cmdline, "");

	CHECK(bi.has_meminfo);
	CHECK_EQ(bi.mem_lower_kb, 639);
	CHECK_EQ(bi.mem_upper_kb, 130048);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MULTIBOOT);
	check_regions(bi.mmap, bi.mmap_count, std_map_parsed,
		      ARRAY_SIZE(std_map_parsed));
	CHECK_EQ(bootinfo_usable_bytes(&bi), STD_MAP_USABLE);

	CHECK(bi.has_efi_mmap);
	CHECK_EQ(bi.efi_desc_count, ARRAY_SIZE(std_efi));
	check_regions(bi.efi_mmap, bi.efi_mmap_count, std_efi_parsed,
		      ARRAY_SIZE(std_efi_parsed));
	CHECK(!bi.efi_boot_services);
	CHECK(bi.has_efi_system_table);
	CHECK_EQ(bi.efi_system_table, 0x7f00000);

	/* Both RSDP tags: the ACPI 2.0 copy wins although it came second. */
	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.rsdp_source, BOOTINFO_RSDP_MB2_NEW);
	CHECK_EQ(bi.rsdp_len, 36);
	CHECK(memcmp(bi.rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(bi.rsdp[15], 2);
}

TEST(v2_copies_survive_overwrite)
{
	build_std_v2();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	/* The loader's memory is reused after boot; nothing may point into it. */
	memset(mem, 0x5a, FAKE_SIZE);
	CHECK_STR(bi.cmdline, "console=com1 loglevel=debug");
	CHECK_STR(bi.modules[0].cmdline, MOD1_CMDLINE);
	CHECK_EQ(bi.mmap[3].end, 0x7fe0000);
}

TEST(v2_rsdp_choice)
{
	struct mb2b b = mb2_begin(INFO_PA);

	mem_reset();
	mb2_rsdp(&b, true);
	mb2_rsdp(&b, false);	/* v1 after v2 must not replace it */
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.rsdp_source, BOOTINFO_RSDP_MB2_NEW);
	CHECK_EQ(bi.rsdp_len, 36);

	b = mb2_begin(INFO_PA);
	mem_reset();
	mb2_meminfo(&b, 639, 1024);	/* else "no memory information" */
	mb2_rsdp(&b, false);
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.rsdp_source, BOOTINFO_RSDP_MB2_OLD);
	CHECK_EQ(bi.rsdp_len, 20);
	CHECK_EQ(bi.rsdp[20], 0);	/* nothing beyond the v1 copy */
	CHECK_EQ(bi.warnings, 0);
}

TEST(v2_efi_boot_services_and_tables)
{
	struct mb2b b = mb2_begin(INFO_PA);
	paddr_t p;

	/* GRUB with boot services left running may give only the EFI map. */
	mem_reset();
	mb2_tag(&b, MB2_TAG_EFI_BS, 0);
	p = mb2_tag(&b, MB2_TAG_EFI64, 8);
	put64(p, 0x1234567000ull);
	p = mb2_tag(&b, MB2_TAG_EFI32, 4);	/* after 64: must not win */
	put32(p, 0x7000);
	mb2_efi_mmap(&b, 40, std_efi, ARRAY_SIZE(std_efi));
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK(bi.efi_boot_services);
	CHECK(bi.has_efi_system_table);
	CHECK_EQ(bi.efi_system_table, 0x1234567000ull);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_NONE);
	CHECK_EQ(bi.mmap_count, 0);
	check_regions(bi.efi_mmap, bi.efi_mmap_count, std_efi_parsed,
		      ARRAY_SIZE(std_efi_parsed));
	CHECK_EQ(bootinfo_usable_bytes(&bi), STD_EFI_USABLE);

	b = mb2_begin(INFO_PA);
	mem_reset();
	p = mb2_tag(&b, MB2_TAG_EFI32, 4);
	put32(p, 0x7000);
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK(bi.has_efi_system_table);
	CHECK_EQ(bi.efi_system_table, 0x7000);
	CHECK(!bi.efi_boot_services);
	CHECK(!bi.has_rsdp);
}

TEST(v2_meminfo_fallback)
{
	struct mb2b b = mb2_begin(INFO_PA);

	mem_reset();
	mb2_meminfo(&b, 639, 64512);	/* 63 MiB above 1 MiB */
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
	CHECK_EQ(bi.mmap_count, 2);
	CHECK_EQ(bi.mmap[0].start, 0);
	CHECK_EQ(bi.mmap[0].end, 639 * 1024);
	CHECK_EQ(bi.mmap[1].start, 0x100000);
	CHECK_EQ(bi.mmap[1].end, 0x100000 + 64512ull * 1024);
	CHECK_EQ(bi.mmap[1].type, BOOTMEM_AVAILABLE);
	CHECK_EQ(bootinfo_usable_bytes(&bi), (639ull + 64512) * 1024);
}

TEST(v2_larger_entry_size)
{
	struct mb2b b = mb2_begin(INFO_PA);

	/* §3.6.8: entries may grow; step by entry_size, read the known part. */
	mem_reset();
	mb2_mmap(&b, 40, 40, std_map, ARRAY_SIZE(std_map));
	mb2_finish(&b);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	check_regions(bi.mmap, bi.mmap_count, std_map_parsed,
		      ARRAY_SIZE(std_map_parsed));
}

/* --- Multiboot v1 ----------------------------------------------------------- */

#define V1_CMDLINE_PA (INFO_PA + 0x200)
#define V1_LOADER_PA (INFO_PA + 0x300)
#define V1_MODS_PA (INFO_PA + 0x400)
#define V1_MODSTR_PA (INFO_PA + 0x600)
#define V1_MMAP_PA (INFO_PA + 0x800)

static struct mb1_info v1;

static void v1_write_info(void)
{
	memcpy(at(INFO_PA), &v1, sizeof(v1));
}

static void v1_put_module(u32 i, u32 start, u32 end, u32 str)
{
	paddr_t e = V1_MODS_PA + i * sizeof(struct mb1_module);

	put32(e, start);
	put32(e + 4, end);
	put32(e + 8, str);
	put32(e + 12, 0);
}

/* v1 entries carry their own size; one here is 8 bytes longer than usual. */
static u32 v1_put_mmap(paddr_t pa, const struct test_region *r, u32 n,
		       u32 long_entry)
{
	u32 off = 0;

	for (u32 i = 0; i < n; i++) {
		u32 size = i == long_entry ? 28 : 20;
		put32(pa + off, size);
		put64(pa + off + 4, r[i].base);
		put64(pa + off + 12, r[i].len);
		put32(pa + off + 20, r[i].type);
		off += 4 + size;
	}
	return off;
}

static void build_std_v1(void)
{
	mem_reset();
	memset(&v1, 0, sizeof(v1));
	v1.flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS |
		   MB1_INFO_MEM_MAP | MB1_INFO_BOOT_LOADER_NAME;
	v1.mem_lower = 639;
	v1.mem_upper = 130048;
	v1.cmdline = V1_CMDLINE_PA;
	put_str(V1_CMDLINE_PA, "console=ttyS0 selftest");
	v1.boot_loader_name = V1_LOADER_PA;
	put_str(V1_LOADER_PA, "qemu");
	v1.mods_count = 2;
	v1.mods_addr = V1_MODS_PA;
	v1_put_module(0, 0x200000, 0x280000, V1_MODSTR_PA);
	put_str(V1_MODSTR_PA, MOD1_CMDLINE);
	v1_put_module(1, 0x280000, 0x280800, V1_MODSTR_PA + 0x100);
	put_str(V1_MODSTR_PA + 0x100, "initrd");
	v1.mmap_addr = V1_MMAP_PA;
	v1.mmap_length = v1_put_mmap(V1_MMAP_PA, std_map, ARRAY_SIZE(std_map), 3);
	v1_write_info();
}

TEST(v1_well_formed)
{
	build_std_v1();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK_EQ(bi.protocol, 1);
	CHECK_EQ(bi.info.start, INFO_PA);
	CHECK_EQ(bi.info.end, INFO_PA + sizeof(struct mb1_info));
	CHECK_STR(bi.cmdline, "console=ttyS0 selftest");
	CHECK_STR(bi.loader_name, "qemu");
	CHECK_EQ(bi.module_count, 2);
	CHECK_EQ(bi.modules[0].start, 0x200000);
	CHECK_EQ(bi.modules[0].end, 0x280000);
	CHECK_STR(bi.modules[0].cmdline, MOD1_CMDLINE);
	CHECK_STR(bi.modules[1].cmdline, "initrd");
	CHECK(bi.has_meminfo);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MULTIBOOT);
	check_regions(bi.mmap, bi.mmap_count, std_map_parsed,
		      ARRAY_SIZE(std_map_parsed));
	CHECK_EQ(bootinfo_usable_bytes(&bi), STD_MAP_USABLE);
	/* v1 has no RSDP or EFI information. */
	CHECK(!bi.has_rsdp);
	CHECK_EQ(bi.rsdp_source, BOOTINFO_RSDP_NONE);
	CHECK(!bi.has_efi_mmap);
	CHECK(!bi.has_efi_system_table);
}

TEST(v1_flags_respected)
{
	build_std_v1();
	/* Only meminfo: pointers in unflagged fields must not be followed. */
	v1.flags = MB1_INFO_MEMORY;
	v1.cmdline = 0xdeadbeef;
	v1.mods_addr = 0xdeadbeef;
	v1.mmap_addr = 0xdeadbeef;
	v1.mem_lower = 640;
	v1.mem_upper = 1024;
	v1_write_info();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK_STR(bi.cmdline, "");
	CHECK_STR(bi.loader_name, "");
	CHECK_EQ(bi.module_count, 0);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
	CHECK_EQ(bi.mmap_count, 2);
	CHECK_EQ(bootinfo_usable_bytes(&bi), (640ull + 1024) * 1024);
}

/* --- malformed Multiboot2 --------------------------------------------------- */

TEST(bad_magic)
{
	build_std_v2();
	expect_warning_start();
	CHECK(!parse(0x12345678, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.protocol, 0);
	CHECK_EQ(bi.mmap_count, 0);
	/* Swapped protocols: v1 magic on a v2 block reads garbage but lives. */
	CHECK(!parse(MB2_HEADER_MAGIC, INFO_PA));
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK(bi.mmap_count <= BOOTINFO_MAX_MMAP);
}

TEST(header_unreadable)
{
	expect_warning_start();
	CHECK(!parse(MB2_BOOTLOADER_MAGIC, 0x10));
	CHECK_WARNED();
	CHECK_EQ(bi.protocol, 0);
	CHECK(!parse(MB2_BOOTLOADER_MAGIC, FAKE_END - 4));	/* 4 of 8 bytes */
	CHECK(!parse(MB2_BOOTLOADER_MAGIC, 0xfffffffffffffffcull)); /* wraps */
	CHECK(!parse(MB1_BOOTLOADER_MAGIC, FAKE_END - 16));
	CHECK_EQ(bi.protocol, 0);
}

TEST(v2_total_size_truncated)
{
	u32 total = build_std_v2();

	/* Cut inside the framebuffer tag (offset 176..207), before the map. */
	put32(INFO_PA, 200);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.info.end, INFO_PA + 200);
	CHECK_STR(bi.cmdline, "console=com1 loglevel=debug");
	CHECK_EQ(bi.module_count, 2);
	CHECK(bi.has_meminfo);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
	CHECK(!bi.has_rsdp);

	/* Too small to hold even the end tag. */
	for (u32 t = 0; t < 16; t++) {
		put32(INFO_PA, t);
		expect_warning_start();
		CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
		CHECK_WARNED();
		CHECK_EQ(bi.protocol, 2);
		CHECK_STR(bi.cmdline, "");
		CHECK_EQ(bi.mmap_count, 0);
	}

	/* Larger than the block: the end tag still stops the walk. */
	put32(INFO_PA, total + 4096);
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);
	CHECK(bi.has_rsdp);

	/* Implausibly large: clamped, and everything before the end tag kept. */
	put32(INFO_PA, 0xffffffff);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.info.end - bi.info.start, BOOTINFO_MAX_INFO_SIZE);
	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.mmap_count, ARRAY_SIZE(std_map_parsed));
}

/* Builds cmdline, then a bad tag of the given size, then an mmap tag. */
static void build_bad_tag_size(u32 size)
{
	struct mb2b b = mb2_begin(INFO_PA);
	paddr_t bad;

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "before");
	bad = b.base + b.off;
	mb2_string(&b, MB2_TAG_BOOT_LOADER_NAME, "loader");
	mb2_mmap(&b, 24, 24, std_map, 2);
	mb2_finish(&b);
	put32(bad + 4, size);
}

TEST(v2_bad_tag_sizes)
{
	static const u32 sizes[] = { 0, 1, 7, 0xfffffff8, 0xffffffff, 0x10000 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		build_bad_tag_size(sizes[i]);
		expect_warning_start();
		CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
		CHECK_WARNED();
		/* The tag before survives; nothing after the bad one is read. */
		CHECK_STR(bi.cmdline, "before");
		CHECK_STR(bi.loader_name, "");
		CHECK_EQ(bi.mmap_count, 0);
	}
	/* A size of 8 is valid (an empty, hence unterminated, name: one
	 * warning) and the walk goes on 8 bytes later, inside the old payload;
	 * make that an unknown 8-byte tag so the walk reaches the map. */
	build_bad_tag_size(8);
	put32(INFO_PA + 32, 1000);
	put32(INFO_PA + 36, 8);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.warnings, 1);
	CHECK_STR(bi.loader_name, "");
	CHECK_EQ(bi.mmap_count, 2);
}

TEST(v2_missing_end_tag)
{
	struct mb2b b = mb2_begin(INFO_PA);

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "no end");
	mb2_mmap(&b, 24, 24, std_map, 4);
	put32(INFO_PA, b.off);	/* total_size covers the tags, no end tag */
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "no end");
	CHECK_EQ(bi.mmap_count, 4);
	CHECK(strstr(host_last_log, "end tag") != NULL);
}

TEST(v2_misaligned)
{
	struct mb2b b = mb2_begin(INFO_PA + 4);

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "odd");
	mb2_mmap(&b, 24, 24, std_map, 3);
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA + 4));
	CHECK_WARNED();
	CHECK_EQ(bi.warnings, 1);
	CHECK_STR(bi.cmdline, "odd");
	CHECK_EQ(bi.mmap_count, 3);
}

TEST(v2_info_runs_off_memory)
{
	/* A valid start whose total_size runs past the end of memory. */
	paddr_t pa = FAKE_END - 64;
	struct mb2b b = mb2_begin(pa);

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "edge");	/* 16 bytes */
	put32(pa, 4096);
	/* next tag header at pa+24: zeroed memory reads as an end tag, so
	 * make it a tag that claims to extend past memory. */
	put32(pa + 24, MB2_TAG_BOOT_LOADER_NAME);
	put32(pa + 28, 200);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, pa));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "edge");
	CHECK_STR(bi.loader_name, "");
}

TEST(v2_mmap_entry_size)
{
	static const u32 bad_sizes[] = { 0, 1, 16, 20, 23 };

	for (size_t i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		struct mb2b b = mb2_begin(INFO_PA);

		mem_reset();
		mb2_meminfo(&b, 600, 2048);
		mb2_mmap(&b, bad_sizes[i], 24, std_map, 4);
		mb2_finish(&b);
		expect_warning_start();
		CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
		CHECK_WARNED();
		/* The map is unusable, so fall back to meminfo. */
		CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
		CHECK_EQ(bi.mmap_count, 2);
		CHECK_EQ(bi.mmap[1].end, 0x100000 + 2048 * 1024);
	}

	/* Payload not a multiple of entry_size: whole entries kept. */
	struct mb2b b = mb2_begin(INFO_PA);
	mem_reset();
	mb2_mmap(&b, 24, 24, std_map, 3);
	put32(INFO_PA + 12, 8 + 8 + 3 * 24 + 5);	/* tag size + 5 bytes */
	b.off += 8;
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap_count, 3);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MULTIBOOT);
}

TEST(v2_mmap_wrapping_and_too_many)
{
	static struct test_region many[300];
	struct mb2b b = mb2_begin(INFO_PA);

	for (u32 i = 0; i < ARRAY_SIZE(many); i++) {
		/* Alternate types so nothing merges. */
		many[i] = (struct test_region){ i * 0x2000ull, 0x1000, 1 + (i & 1) };
	}
	many[5] = (struct test_region){ 0xfffffffffffff000ull, 0x2000, 1 };
	many[6] = (struct test_region){ 0xfffffffffffff000ull, 0x1000, 2 };
	mem_reset();
	mb2_mmap(&b, 24, 24, many, ARRAY_SIZE(many));
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap_count, BOOTINFO_MAX_MMAP);
	CHECK_EQ(bi.mmap[5].start, 7 * 0x2000);	/* 5 and 6 dropped */
	CHECK_EQ(bi.warnings, 3);	/* two wraps, one overflow */
	for (u32 i = 0; i < bi.mmap_count; i++)
		CHECK(bi.mmap[i].start < bi.mmap[i].end);
}

TEST(v2_unterminated_and_long_strings)
{
	struct mb2b b = mb2_begin(INFO_PA);
	static char longline[3000];
	paddr_t p;

	mem_reset();
	mb2_meminfo(&b, 639, 1024);
	p = mb2_tag(&b, MB2_TAG_CMDLINE, 5);
	memcpy(at(p), "abcde", 5);		/* no NUL in the tag */
	memset(at(p + 5), 'Z', 3);		/* padding that must not be read */
	memset(longline, 'x', sizeof(longline) - 1);
	mb2_string(&b, MB2_TAG_BOOT_LOADER_NAME, longline);
	mb2_module(&b, 0x1000, 0x2000, longline);
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "abcde");
	CHECK_EQ(strlen(bi.loader_name), BOOTINFO_LOADER_NAME_MAX - 1);
	CHECK_EQ(bi.module_count, 1);
	CHECK_EQ(strlen(bi.modules[0].cmdline), BOOTINFO_MODULE_CMDLINE_MAX - 1);
	CHECK_EQ(bi.warnings, 3);
}

TEST(v2_modules_bad_and_many)
{
	struct mb2b b = mb2_begin(INFO_PA);

	mem_reset();
	mb2_meminfo(&b, 639, 1024);
	mb2_module(&b, 0x5000, 0x4000, "backwards");
	mb2_module(&b, 0x6000, 0x6000, "empty");	/* allowed */
	for (u32 i = 0; i < 1000; i++)
		mb2_module(&b, 0x100000 + i * 0x1000, 0x101000 + i * 0x1000, "m");
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.module_count, BOOTINFO_MAX_MODULES);
	CHECK_STR(bi.modules[0].cmdline, "empty");
	CHECK_EQ(bi.modules[1].start, 0x100000);
	CHECK_EQ(bi.modules[15].end, 0x100000 + 15 * 0x1000);
	/* One warning for the backwards module, one for the overflow. */
	CHECK_EQ(bi.warnings, 2);

	/* A module tag too short for its fields. */
	b = mb2_begin(INFO_PA);
	mem_reset();
	mb2_tag(&b, MB2_TAG_MODULE, 4);
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.module_count, 0);
}

TEST(v2_short_and_duplicate_tags)
{
	struct mb2b b = mb2_begin(INFO_PA);
	paddr_t p;

	mem_reset();
	mb2_string(&b, MB2_TAG_CMDLINE, "first");
	mb2_string(&b, MB2_TAG_CMDLINE, "second");
	mb2_tag(&b, MB2_TAG_BASIC_MEMINFO, 4);		/* needs 8 */
	mb2_tag(&b, MB2_TAG_EFI64, 4);			/* needs 8 */
	p = mb2_tag(&b, MB2_TAG_ACPI_NEW, 20);		/* needs 36 */
	memcpy(at(p), "RSD PTR ", 8);
	p = mb2_tag(&b, MB2_TAG_ACPI_OLD, 20);
	memcpy(at(p), "NOT RSDP", 8);			/* bad signature */
	mb2_tag(&b, MB2_TAG_EFI_MMAP, 0);		/* needs 8 */
	mb2_efi_mmap(&b, 39, std_efi, 2);		/* descr_size < 40 */
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "first");
	CHECK(!bi.has_meminfo);
	CHECK(!bi.has_efi_system_table);
	CHECK(!bi.has_rsdp);
	CHECK(!bi.has_efi_mmap);
	CHECK_EQ(bi.efi_mmap_count, 0);
	/* duplicate, meminfo, efi64, acpi new, acpi old, efi mmap short,
	 * descriptor size, and "no memory map at all". */
	CHECK_EQ(bi.warnings, 8);
}

TEST(v2_efi_descriptor_overflow)
{
	struct test_efi_desc d[3] = {
		{ EFI_CONVENTIONAL_MEMORY, 0x100000, 0x100 },
		{ EFI_CONVENTIONAL_MEMORY, 0x1000000, 1ull << 60 },
		{ EFI_CONVENTIONAL_MEMORY, 0xfffffffffffff000ull, 2 },
	};
	struct mb2b b = mb2_begin(INFO_PA);

	mem_reset();
	mb2_efi_mmap(&b, 48, d, 3);
	mb2_finish(&b);
	expect_warning_start();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.efi_desc_count, 3);
	CHECK_EQ(bi.efi_mmap_count, 1);
	CHECK_EQ(bi.efi_mmap[0].end, 0x200000);
	CHECK_EQ(bootinfo_usable_bytes(&bi), 0x100000);
}

/* --- malformed Multiboot v1 ------------------------------------------------- */

TEST(v1_mmap_length_huge)
{
	build_std_v1();
	v1.mmap_length = 0xffffffff;
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	/* The real entries are kept; the zeroes after them end the walk. */
	check_regions(bi.mmap, bi.mmap_count, std_map_parsed,
		      ARRAY_SIZE(std_map_parsed));
	CHECK_STR(bi.cmdline, "console=ttyS0 selftest");
}

TEST(v1_mmap_bad_entries)
{
	build_std_v1();
	/* Entry 2's size field is 0: entries 0 and 1 survive. */
	put32(V1_MMAP_PA + 2 * 24, 0);
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap_count, 2);

	/* Entry 1's size runs past mmap_length. */
	build_std_v1();
	put32(V1_MMAP_PA + 24, 0x10000);
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap_count, 1);

	/* mmap_length not covering a whole entry. */
	build_std_v1();
	v1.mmap_length = 24 + 10;
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap_count, 1);

	/* No usable entries at all: fall back to meminfo. */
	build_std_v1();
	v1.mmap_length = 10;
	v1_write_info();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
}

TEST(v1_pointers_outside_memory)
{
	build_std_v1();
	v1.cmdline = 0xdeadbeef;
	v1.boot_loader_name = 0;
	v1.mods_addr = 0xfffffff0;
	v1.mmap_addr = (u32)FAKE_END - 30;	/* first entry readable only */
	v1.mmap_length = 48;
	memcpy(at(FAKE_END - 30), "\x14\0\0\0", 4);
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "");
	CHECK_STR(bi.loader_name, "");
	CHECK_EQ(bi.module_count, 0);
	/* cmdline, name, mods, 2nd mmap entry; entry 1 is empty, so meminfo. */
	CHECK_EQ(bi.warnings, 4);
	CHECK_EQ(bi.mmap_source, BOOTINFO_MMAP_MEMINFO);
}

TEST(v1_strings_at_end_of_memory)
{
	build_std_v1();
	/* The command line fills the last 10 bytes with no NUL. */
	memcpy(at(FAKE_END - 10), "0123456789", 10);
	v1.cmdline = (u32)FAKE_END - 10;
	/* A terminated name just before it: fine. */
	put_str(FAKE_END - 30, "last-name");
	v1.boot_loader_name = (u32)FAKE_END - 30;
	/* A long module string read across page boundaries: truncated. */
	memset(at(FAKE_END - 5000), 'm', 4000);
	put32(V1_MODS_PA + 8, (u32)FAKE_END - 5000);
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_STR(bi.cmdline, "0123456789");
	CHECK_STR(bi.loader_name, "last-name");
	CHECK_EQ(strlen(bi.modules[0].cmdline), BOOTINFO_MODULE_CMDLINE_MAX - 1);
	CHECK_STR(bi.modules[1].cmdline, "initrd");
	/* cmdline runs off memory, module 0 string truncated. */
	CHECK_EQ(bi.warnings, 2);
}

TEST(v1_string_up_to_odd_limit)
{
	/* Readable memory ending mid-page: the page-sized chunk that covers
	 * the string fails to map, so the parser must go byte by byte. */
	build_std_v1();
	fake_limit = FAKE_END - 0x801;
	memcpy(at(fake_limit - 6), "abcdef", 6);
	v1.cmdline = (u32)fake_limit - 6;
	put_str(fake_limit - 20, "name");
	v1.boot_loader_name = (u32)fake_limit - 20;
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	fake_limit = FAKE_END;
	CHECK_WARNED();
	CHECK_EQ(bi.warnings, 1);
	CHECK_STR(bi.cmdline, "abcdef");
	CHECK_STR(bi.loader_name, "name");
}

TEST(v1_string_exactly_fills_buffer)
{
	char s[BOOTINFO_LOADER_NAME_MAX];

	build_std_v1();
	memset(s, 'n', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	put_str(V1_LOADER_PA, s);
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 0);	/* 127 chars + NUL fit exactly */
	CHECK_STR(bi.loader_name, s);
	put_str(V1_LOADER_PA + sizeof(s) - 1, "!");
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_EQ(bi.warnings, 1);
	CHECK_EQ(strlen(bi.loader_name), sizeof(s) - 1);
}

TEST(v1_modules_bad_and_many)
{
	build_std_v1();
	v1_put_module(0, 0x300000, 0x200000, V1_MODSTR_PA);	/* backwards */
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.module_count, 1);
	CHECK_STR(bi.modules[0].cmdline, "initrd");

	/* 1000 modules, in an array of their own further up. */
	build_std_v1();
	v1.mods_count = 1000;
	v1.mods_addr = FAKE_BASE + 0x10000;
	for (u32 i = 0; i < 1000; i++) {
		paddr_t e = v1.mods_addr + i * sizeof(struct mb1_module);
		put32(e, 0x200000 + i * 0x1000);
		put32(e + 4, 0x201000 + i * 0x1000);
		put32(e + 8, V1_MODSTR_PA + 0x100);
	}
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.module_count, BOOTINFO_MAX_MODULES);
	CHECK_EQ(bi.modules[15].start, 0x200000 + 15 * 0x1000);
	CHECK_STR(bi.modules[15].cmdline, "initrd");
	CHECK_EQ(bi.warnings, 1);
	CHECK_EQ(bi.mmap_count, ARRAY_SIZE(std_map_parsed));

	/* A module array that runs off the end of memory: entry 0 (all
	 * zeroes: an empty module with a NULL string) fits, entry 1 does not. */
	build_std_v1();
	v1.mods_addr = (u32)FAKE_END - 24;
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.module_count, 1);
	CHECK_EQ(bi.warnings, 2);
}

TEST(v1_mem_lower_clamped)
{
	build_std_v1();
	v1.flags = MB1_INFO_MEMORY;
	v1.mem_lower = 100000;
	v1_write_info();
	expect_warning_start();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	CHECK_WARNED();
	CHECK_EQ(bi.mmap[0].end, 640 * 1024);
}

/* --- summaries ------------------------------------------------------------- */

TEST(usable_bytes_overlaps)
{
	memset(&bi, 0, sizeof(bi));
	bi.mmap_source = BOOTINFO_MMAP_MULTIBOOT;
	bi.mmap[0] = (struct bootmem_region){ 0x1000, 0x5000, BOOTMEM_AVAILABLE };
	bi.mmap[1] = (struct bootmem_region){ 0x3000, 0x8000, BOOTMEM_AVAILABLE };
	bi.mmap[2] = (struct bootmem_region){ 0x2000, 0x3000, BOOTMEM_AVAILABLE };
	bi.mmap[3] = (struct bootmem_region){ 0x0, 0x100000, BOOTMEM_RESERVED };
	bi.mmap[4] = (struct bootmem_region){ 0x10000, 0x11000, BOOTMEM_AVAILABLE };
	bi.mmap[5] = (struct bootmem_region){ 0x8000, 0x9000, BOOTMEM_AVAILABLE };
	bi.mmap_count = 6;
	/* [0x1000, 0x9000) + [0x10000, 0x11000) */
	CHECK_EQ(bootinfo_usable_bytes(&bi), 0x8000 + 0x1000);
	bi.mmap_count = 0;
	CHECK_EQ(bootinfo_usable_bytes(&bi), 0);
}

TEST(print_summary)
{
	int before = host_log_count[LOG_INFO];

	build_std_v2();
	CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
	bootinfo_print(&bi);
	/* Header, cmdline, 9 regions, EFI, usable, table, 2 modules, RSDP. */
	CHECK(host_log_count[LOG_INFO] - before >= 17);
	CHECK(strstr(host_last_log, "RSDP") != NULL);

	build_std_v1();
	CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
	bootinfo_print(&bi);
	CHECK(strstr(host_last_log, "BIOS") != NULL);
	CHECK_STR(bootmem_type_name(BOOTMEM_ACPI_NVS), "ACPI NVS");
	CHECK_STR(bootmem_type_name(77), "unknown");
}

/* --- fuzzing ---------------------------------------------------------------- */

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rng(void)
{
	/* xorshift64: fixed seed, so failures reproduce. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Properties every parse result must have, whatever the input. */
static void check_invariants(void)
{
	u64 sum = 0;
	bool sum_wrapped = false;

	CHECK(bi.mmap_count <= BOOTINFO_MAX_MMAP);
	CHECK(bi.efi_mmap_count <= BOOTINFO_MAX_EFI_MMAP);
	CHECK(bi.module_count <= BOOTINFO_MAX_MODULES);
	CHECK(terminated(bi.cmdline, sizeof(bi.cmdline)));
	CHECK(terminated(bi.loader_name, sizeof(bi.loader_name)));
	for (u32 i = 0; i < bi.module_count && i < BOOTINFO_MAX_MODULES; i++) {
		CHECK(terminated(bi.modules[i].cmdline,
				 sizeof(bi.modules[i].cmdline)));
		CHECK(bi.modules[i].start <= bi.modules[i].end);
	}
	for (u32 i = 0; i < bi.mmap_count && i < BOOTINFO_MAX_MMAP; i++) {
		CHECK(bi.mmap[i].start < bi.mmap[i].end);
		CHECK(bi.mmap[i].type >= 1 && bi.mmap[i].type <= 5);
		if (bi.mmap[i].type == BOOTMEM_AVAILABLE) {
			u64 len = bi.mmap[i].end - bi.mmap[i].start;
			sum_wrapped |= sum + len < sum;
			sum += len;
		}
	}
	for (u32 i = 0; i < bi.efi_mmap_count && i < BOOTINFO_MAX_EFI_MMAP; i++)
		CHECK(bi.efi_mmap[i].start < bi.efi_mmap[i].end);
	CHECK(bi.rsdp_len == 0 || bi.rsdp_len == 20 || bi.rsdp_len == 36);
	CHECK(bi.has_rsdp == (bi.rsdp_len != 0));
	CHECK(bi.info.end - bi.info.start <= BOOTINFO_MAX_INFO_SIZE);
	/* The union of possibly overlapping regions never exceeds their sum. */
	if (bi.mmap_source == BOOTINFO_MMAP_MULTIBOOT && !sum_wrapped)
		CHECK(bootinfo_usable_bytes(&bi) <= sum);
}

static const u32 interesting[] = {
	0, 1, 7, 8, 16, 20, 23, 24, 39, 40, 0x7fffffff, 0x80000000,
	0xfffffff8, 0xffffffff, 0x100000, 0x36d76289,
};

/* Mutates 1-8 bytes or words of [base, base + len). */
static void mutate(paddr_t base, u32 len)
{
	u32 n = 1 + rng() % 8;

	for (u32 i = 0; i < n; i++) {
		u32 off = rng() % len;
		switch (rng() % 3) {
		case 0:
			*at(base + off) = (u8)rng();
			break;
		case 1:
			*at(base + off) ^= (u8)(1u << (rng() % 8));
			break;
		default:
			off &= ~3u;
			if (off + 4 <= len)
				put32(base + off,
				      interesting[rng() % ARRAY_SIZE(interesting)]);
			break;
		}
	}
}

TEST(fuzz_v2)
{
	static u8 pristine[FAKE_SIZE];
	u32 total = build_std_v2();

	memcpy(pristine, mem, FAKE_SIZE);
	for (int iter = 0; iter < 20000 && !unit_current_failed; iter++) {
		memcpy(at(INFO_PA), pristine + (INFO_PA - FAKE_BASE), total);
		mutate(INFO_PA, total);
		CHECK(parse(MB2_BOOTLOADER_MAGIC, INFO_PA));
		check_invariants();
		if (iter % 500 == 0)
			bootinfo_print(&bi);
		if (unit_current_failed)
			fprintf(stderr, "fuzz_v2 failed at iteration %d\n", iter);
	}
}

TEST(fuzz_v1)
{
	static u8 pristine[FAKE_SIZE];
	const u32 span = 0x1000;	/* info, strings, mods and mmap */

	build_std_v1();
	memcpy(pristine, mem, FAKE_SIZE);
	for (int iter = 0; iter < 10000 && !unit_current_failed; iter++) {
		memcpy(at(INFO_PA), pristine + (INFO_PA - FAKE_BASE), span);
		/* Mutate mostly the info struct, sometimes the data behind it. */
		if (rng() % 2)
			mutate(INFO_PA, sizeof(struct mb1_info));
		else
			mutate(INFO_PA, span);
		CHECK(parse(MB1_BOOTLOADER_MAGIC, INFO_PA));
		check_invariants();
		if (unit_current_failed)
			fprintf(stderr, "fuzz_v1 failed at iteration %d\n", iter);
	}
}

int main(void)
{
	mem = malloc(FAKE_SIZE);
	if (!mem)
		return 2;

	RUN(v2_well_formed);
	RUN(v2_copies_survive_overwrite);
	RUN(v2_rsdp_choice);
	RUN(v2_efi_boot_services_and_tables);
	RUN(v2_meminfo_fallback);
	RUN(v2_larger_entry_size);
	RUN(v1_well_formed);
	RUN(v1_flags_respected);
	RUN(bad_magic);
	RUN(header_unreadable);
	RUN(v2_total_size_truncated);
	RUN(v2_bad_tag_sizes);
	RUN(v2_missing_end_tag);
	RUN(v2_misaligned);
	RUN(v2_info_runs_off_memory);
	RUN(v2_mmap_entry_size);
	RUN(v2_mmap_wrapping_and_too_many);
	RUN(v2_unterminated_and_long_strings);
	RUN(v2_modules_bad_and_many);
	RUN(v2_short_and_duplicate_tags);
	RUN(v2_efi_descriptor_overflow);
	RUN(v1_mmap_length_huge);
	RUN(v1_mmap_bad_entries);
	RUN(v1_pointers_outside_memory);
	RUN(v1_strings_at_end_of_memory);
	RUN(v1_string_up_to_odd_limit);
	RUN(v1_string_exactly_fills_buffer);
	RUN(v1_modules_bad_and_many);
	RUN(v1_mem_lower_clamped);
	RUN(usable_bytes_overlaps);
	RUN(print_summary);
	RUN(fuzz_v2);
	RUN(fuzz_v1);

	free(mem);
	return unit_report("bootinfo");
}
