/*
 * Multiboot v1 loader: ELF32 and a.out-kludge images built here, loaded into
 * a fake 16 MiB guest memory pre-filled with 0xAA; the copied bytes, BSS,
 * the boot information in guest memory, modules, info placement, every
 * malformation we refuse, and a mutation fuzzer.
 *
 * The loader always gets an exact-size heap copy of the image, so ASan
 * reports any read past its end.
 */
#include "tests/unit/unit.h"
#include "tests/unit/fake_mem.h"
#include "kernel/multiboot.h"
#include "virt/loader_mb1.h"

#define MEM_SIZE (16u << 20)
#define FILL 0xaa

static u8 *pristine;		/* MEM_SIZE bytes of FILL */


static void mem_reset(void)
{
	memset(gm, FILL, MEM_SIZE);
	write_limit = MEM_SIZE;
}

static bool mem_untouched(void)
{
	return memcmp(gm, pristine, MEM_SIZE) == 0;
}

static u32 rd32(u64 pa)
{
	u32 v = 0;
	CHECK(pa + 4 <= MEM_SIZE);
	if (pa + 4 <= MEM_SIZE)
		memcpy(&v, gm + pa, 4);
	return v;
}

static const char *guest_str(u64 pa)
{
	CHECK(pa < MEM_SIZE && memchr(gm + pa, '\0', MEM_SIZE - pa));
	return pa < MEM_SIZE ? (const char *)gm + pa : "";
}

/* --- image builders -------------------------------------------------------- */

#define IMG_CAP		0x40000
#define DATA_START	0x3000	/* segment data; headers stay below */
#define HDR_DEFAULT	0x400
#define PH_OFF		52

static u8 img[IMG_CAP];
static size_t img_size;
static size_t data_off;
static u32 nph;
static u32 seg_file_off[32];

static void put16(size_t off, u16 v) { memcpy(img + off, &v, 2); }
static void put32(size_t off, u32 v) { memcpy(img + off, &v, 4); }

/* File bytes are a function of their offset, so copies can be checked. */
static u8 pat(size_t off)
{
	return (u8)(off * 7 + 3);
}

static void mb_header_at(size_t off, u32 flags)
{
	put32(off, MB1_HEADER_MAGIC);
	put32(off + 4, flags);
	put32(off + 8, (u32)-(MB1_HEADER_MAGIC + flags));
	if (img_size < off + 12)
		img_size = off + 12;
}

static void elf_new(u32 entry, u32 mbflags)
{
	static const u8 ident[] = { 0x7f, 'E', 'L', 'F', 1, 1, 1 };

	memset(img, 0, sizeof(img));
	memcpy(img, ident, sizeof(ident));
	put16(16, 2);	     /* ET_EXEC */
	put16(18, 3);	     /* EM_386 */
	put32(20, 1);	     /* EV_CURRENT */
	put32(24, entry);
	put32(28, PH_OFF);
	put16(40, 52);	     /* e_ehsize */
	put16(42, 32);	     /* e_phentsize */
	put16(44, 0);	     /* e_phnum */
	nph = 0;
	data_off = DATA_START;
	img_size = DATA_START;
	mb_header_at(HDR_DEFAULT, mbflags);
}

/* Program header field offsets. */
#define PH(i, field)	(PH_OFF + (size_t)(i) * 32 + (field))
#define P_TYPE		0
#define P_OFFSET	4
#define P_VADDR		8
#define P_PADDR		12
#define P_FILESZ	16
#define P_MEMSZ		20
#define P_FLAGS		24

static void elf_seg(u32 paddr, u32 vaddr, u32 filesz, u32 memsz)
{
	put32(PH(nph, P_TYPE), 1); /* PT_LOAD */
	put32(PH(nph, P_OFFSET), (u32)data_off);
	put32(PH(nph, P_VADDR), vaddr);
	put32(PH(nph, P_PADDR), paddr);
	put32(PH(nph, P_FILESZ), filesz);
	put32(PH(nph, P_MEMSZ), memsz);
	put32(PH(nph, P_FLAGS), 7);
	for (u32 j = 0; j < filesz; j++)
		img[data_off + j] = pat(data_off + j);
	seg_file_off[nph] = (u32)data_off;
	data_off += ALIGN_UP(filesz, 16u);
	if (img_size < data_off)
		img_size = data_off;
	nph++;
	put16(44, (u16)nph);
}

/* A flat binary with an a.out-kludge header at hdr_off. */
static void aout_new(size_t size, size_t hdr_off, u32 header_addr, u32 load_addr,
		     u32 load_end, u32 bss_end, u32 entry)
{
	for (size_t i = 0; i < size; i++)
		img[i] = pat(i);
	img_size = 0;
	mb_header_at(hdr_off, MB1_HEADER_AOUT_KLUDGE | MB1_HEADER_MEMORY_INFO);
	put32(hdr_off + 12, header_addr);
	put32(hdr_off + 16, load_addr);
	put32(hdr_off + 20, load_end);
	put32(hdr_off + 24, bss_end);
	put32(hdr_off + 28, entry);
	img_size = size;
}

static struct mb1_boot boot;
static char err[160];

static bool load_full(u64 mem, const char *cmdline,
		      const struct mb1_guest_module *mods, u32 nr_mods)
{
	u8 *copy = malloc(img_size ? img_size : 1);
	bool ok;

	memcpy(copy, img, img_size);
	memset(&boot, 0x5a, sizeof(boot));
	err[0] = '\0';
	ok = mb1_load(copy, img_size, mem, &fm, cmdline, mods, nr_mods, &boot, err,
		      sizeof(err));
	free(copy);
	if (!ok && getenv("UMBRA_TEST_VERBOSE"))
		fprintf(stderr, "  refused: %s\n", err);
	return ok;
}

static bool load(u64 mem, const char *cmdline)
{
	return load_full(mem, cmdline, NULL, 0);
}

/* Refused with a message containing needle, and guest memory untouched. */
static bool refused(u64 mem, const char *needle)
{
	mem_reset();
	if (load(mem, "x")) {
		fprintf(stderr, "  accepted, wanted \"%s\"\n", needle);
		return false;
	}
	if (!strstr(err, needle)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, needle);
		return false;
	}
	if (!mem_untouched()) {
		fprintf(stderr, "  guest memory written before refusing\n");
		return false;
	}
	return true;
}

static bool seg_loaded(u32 i, u32 paddr, u32 filesz, u32 memsz)
{
	for (u32 j = 0; j < filesz; j++)
		if (gm[paddr + j] != pat(seg_file_off[i] + j))
			return false;
	for (u32 j = filesz; j < memsz; j++)
		if (gm[paddr + j] != 0)
			return false;
	return true;
}

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

/* Properties every successful load has. */
static void check_info_common(u64 mem)
{
	u64 base = boot.ebx;
	u32 flags = rd32(base);

	CHECK_EQ(boot.eax, MB1_BOOTLOADER_MAGIC);
	CHECK_EQ(boot.info.start, base);
	CHECK(base >= PAGE_SIZE && boot.info.end <= mem);
	CHECK(boot.info.end > base + sizeof(struct mb1_info));
	CHECK(!overlaps(base, boot.info.end, 0x9fc00, 0x100000));
	for (u32 i = 0; i < boot.nr_ranges; i++)
		CHECK(!overlaps(base, boot.info.end, boot.ranges[i].start,
				boot.ranges[i].end));
	CHECK(flags & MB1_INFO_MEMORY);
	CHECK(flags & MB1_INFO_MEM_MAP);
	CHECK(flags & MB1_INFO_BOOT_LOADER_NAME);
	CHECK_STR(guest_str(rd32(base + offsetof(struct mb1_info, boot_loader_name))),
		  "Umbra");
	/* Every pointer in the info lies inside the info block. */
	CHECK(rd32(base + offsetof(struct mb1_info, mmap_addr)) >= base);
	CHECK(rd32(base + offsetof(struct mb1_info, mmap_addr)) +
		      rd32(base + offsetof(struct mb1_info, mmap_length)) <= boot.info.end);
}

/* --- well-formed images ------------------------------------------------------ */

TEST(load_elf_basic)
{
	u64 base, mmap;
	static const struct { u64 base, len; u32 type; } want[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x400, 2 },
		{ 0xf0000, 0x10000, 2 },
		{ 0x100000, MEM_SIZE - 0x100000, 1 },
	};

	mem_reset();
	elf_new(0x100010, MB1_HEADER_MEMORY_INFO);
	elf_seg(0x100000, 0x100000, 0x2000, 0x3000);
	elf_seg(0x200000, 0x200000, 0x100, 0x100);
	CHECK(load(MEM_SIZE, "guest.elf console=ttyS0"));
	CHECK_EQ(boot.entry, 0x100010);
	CHECK_EQ(boot.nr_ranges, 2);
	CHECK_EQ(boot.ranges[0].start, 0x100000);
	CHECK_EQ(boot.ranges[0].end, 0x103000);
	CHECK_EQ(boot.ranges[1].start, 0x200000);
	CHECK_EQ(boot.ranges[1].end, 0x200100);
	CHECK(!boot.aout_kludge);
	CHECK(seg_loaded(0, 0x100000, 0x2000, 0x3000));
	CHECK(seg_loaded(1, 0x200000, 0x100, 0x100));
	CHECK_EQ(gm[0x103000], FILL); /* nothing past memsz */
	CHECK_EQ(gm[0x0fffff], FILL);
	CHECK_EQ(gm[0x200100], FILL);
	check_info_common(MEM_SIZE);

	base = boot.ebx;
	CHECK(base < 0x9fc00); /* below 1 MiB when there is room */
	CHECK_EQ(rd32(base), MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MEM_MAP |
				     MB1_INFO_BOOT_LOADER_NAME);
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, mem_lower)), 639);
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, mem_upper)), (MEM_SIZE - 0x100000) / 1024);
	CHECK_STR(guest_str(rd32(base + offsetof(struct mb1_info, cmdline))),
		  "guest.elf console=ttyS0");
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, mods_count)), 0);
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, mmap_length)), 4 * 24);
	mmap = rd32(base + offsetof(struct mb1_info, mmap_addr));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		struct mb1_mmap_entry e;
		memcpy(&e, gm + mmap + i * 24, sizeof(e));
		CHECK_EQ(e.size, 20); /* the size field does not count itself */
		CHECK_EQ(e.base_addr, want[i].base);
		CHECK_EQ(e.length, want[i].len);
		CHECK_EQ(e.type, want[i].type);
	}
	/* Everything else in the info struct is zero. */
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, boot_device)), 0);
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, vbe_control_info)), 0);
}

TEST(probe_matches_load_and_writes_nothing)
{
	struct mb1_boot pb;
	char perr[64];

	mem_reset();
	elf_new(0x100010, 0);
	elf_seg(0x100000, 0x100000, 0x2000, 0x3000);
	elf_seg(0x8000, 0x8000, 0x10, 0x1000);
	CHECK(mb1_probe(img, img_size, MEM_SIZE, &pb, perr, sizeof(perr)));
	CHECK(mem_untouched());
	CHECK_EQ(pb.entry, 0x100010);
	CHECK_EQ(pb.nr_ranges, 2);
	CHECK_EQ(pb.ranges[1].start, 0x8000);
	CHECK_EQ(pb.ranges[1].end, 0x9000);
	CHECK(!mb1_probe(img, img_size, 0x100000, &pb, perr, sizeof(perr)));
	CHECK(strstr(perr, "larger than the VM's memory") != NULL);
}

TEST(null_cmdline_leaves_flag_clear)
{
	mem_reset();
	elf_new(0x100000, 0);
	elf_seg(0x100000, 0x100000, 0x10, 0x10);
	CHECK(load(MEM_SIZE, NULL));
	CHECK_EQ(rd32(boot.ebx) & MB1_INFO_CMDLINE, 0);
	check_info_common(MEM_SIZE);
}

TEST(info_avoids_low_segments)
{
	/* A guest loaded at 0x8000, another segment at 1 MiB. */
	mem_reset();
	elf_new(0x8000, 0);
	elf_seg(0x8000, 0x8000, 0x1000, 0x9000);
	elf_seg(0x100000, 0x100000, 0x10, 0x10);
	CHECK(load(MEM_SIZE, "x"));
	check_info_common(MEM_SIZE);
	CHECK_EQ(boot.ebx, 0x1000); /* the lowest free page */
	CHECK(seg_loaded(0, 0x8000, 0x1000, 0x9000));

	/* Low memory full except a gap [0x9f000, 0x9fc00): the info fits. */
	mem_reset();
	elf_new(0x1000, 0);
	elf_seg(0x1000, 0x1000, 0x10, 0x9e000);
	CHECK(load(MEM_SIZE, "x"));
	check_info_common(MEM_SIZE);
	CHECK_EQ(boot.ebx, 0x9f000);

	/* No room at all below 1 MiB: above the highest segment. */
	mem_reset();
	elf_new(0x1000, 0);
	elf_seg(0x1000, 0x1000, 0x10, 0x9ec00);
	elf_seg(0x300000, 0x300000, 0x10, 0x123);
	elf_seg(0x100000, 0x100000, 0x10, 0x10);
	CHECK(load(MEM_SIZE, "x"));
	check_info_common(MEM_SIZE);
	CHECK(boot.ebx >= 0x300123);
	CHECK_EQ(boot.ebx & 0xfff, 0);
	CHECK(seg_loaded(1, 0x300000, 0x10, 0x123));
}

TEST(no_room_for_info)
{
	/* 1 MiB guest whose low memory is all image: nowhere to go. */
	elf_new(0x1000, 0);
	elf_seg(0x0, 0x0, 0x10, 0x9fc00);
	CHECK(refused(0x100000, "no room for the multiboot information"));
	/* Exactly the same image fits in a larger guest. */
	mem_reset();
	CHECK(load(0x200000, "x"));
	CHECK_EQ(boot.ebx, 0x100000);
}

TEST(higher_half_entry)
{
	mem_reset();
	elf_new(0xc0200044, 0);
	elf_seg(0x100000, 0xc0100000, 0x100, 0x1000);
	elf_seg(0x200000, 0xc0200000, 0x100, 0x1000);
	CHECK(load(MEM_SIZE, "x"));
	CHECK_EQ(boot.entry, 0x200044);
	CHECK(seg_loaded(1, 0x200000, 0x100, 0x1000));
	/* Entry in BSS of a segment still counts as inside it. */
	elf_new(0xc0100f00, 0);
	elf_seg(0x100000, 0xc0100000, 0x100, 0x1000);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	CHECK_EQ(boot.entry, 0x100f00);
}

TEST(small_guests)
{
	u64 mmap;
	struct mb1_mmap_entry e;

	mem_reset();
	elf_new(0x10000, 0);
	elf_seg(0x10000, 0x10000, 0x100, 0x100);
	CHECK(load(0x80000, "x"));
	check_info_common(0x80000);
	CHECK_EQ(rd32(boot.ebx + offsetof(struct mb1_info, mem_lower)), 512);
	CHECK_EQ(rd32(boot.ebx + offsetof(struct mb1_info, mem_upper)), 0);
	CHECK_EQ(rd32(boot.ebx + offsetof(struct mb1_info, mmap_length)), 3 * 24);
	mmap = rd32(boot.ebx + offsetof(struct mb1_info, mmap_addr));
	memcpy(&e, gm + mmap, sizeof(e));
	CHECK_EQ(e.base_addr, 0);
	CHECK_EQ(e.length, 0x80000);
	CHECK_EQ(e.type, MB_MEMORY_AVAILABLE);
	/* 1 MiB + 4 KiB: 4 KiB of upper memory. */
	mem_reset();
	CHECK(load(0x101000, "x"));
	CHECK_EQ(rd32(boot.ebx + offsetof(struct mb1_info, mem_lower)), 639);
	CHECK_EQ(rd32(boot.ebx + offsetof(struct mb1_info, mem_upper)), 4);
	mmap = rd32(boot.ebx + offsetof(struct mb1_info, mmap_addr));
	memcpy(&e, gm + mmap + 3 * 24, sizeof(e));
	CHECK_EQ(e.base_addr, 0x100000);
	CHECK_EQ(e.length, 0x1000);
}

TEST(modules)
{
	struct mb1_guest_module mods[2] = {
		{ 0x400000, 0x400800, "mod1 arg" },
		{ 0x401000, 0x402000, NULL },
	};
	u64 base, ma;

	mem_reset();
	memset(gm + 0x400000, 0x77, 0x2000); /* the caller's module data */
	elf_new(0x100000, MB1_HEADER_PAGE_ALIGN | MB1_HEADER_MEMORY_INFO);
	elf_seg(0x100000, 0x100000, 0x100, 0x100);
	CHECK(load_full(MEM_SIZE, "k", mods, 2));
	check_info_common(MEM_SIZE);
	base = boot.ebx;
	CHECK(rd32(base) & MB1_INFO_MODS);
	CHECK_EQ(rd32(base + offsetof(struct mb1_info, mods_count)), 2);
	ma = rd32(base + offsetof(struct mb1_info, mods_addr));
	CHECK(ma >= base && ma + 32 <= boot.info.end);
	CHECK_EQ(rd32(ma + 0), 0x400000);
	CHECK_EQ(rd32(ma + 4), 0x400800);
	CHECK_STR(guest_str(rd32(ma + 8)), "mod1 arg");
	CHECK_EQ(rd32(ma + 12), 0);
	CHECK_EQ(rd32(ma + 16), 0x401000);
	CHECK_EQ(rd32(ma + 20), 0x402000);
	CHECK_STR(guest_str(rd32(ma + 24)), "");
	for (u32 i = 0; i < 0x2000; i++)
		if (gm[0x400000 + i] != 0x77) {
			CHECK(!"module data changed");
			break;
		}
}

TEST(modules_refused)
{
	struct mb1_guest_module m = { 0x100000, 0x100800, "m" };
	static struct mb1_guest_module many[MB1_MAX_MODULES + 1];

	elf_new(0x100000, MB1_HEADER_PAGE_ALIGN);
	elf_seg(0x100000, 0x100000, 0x100, 0x1000);
	mem_reset();
	CHECK(!load_full(MEM_SIZE, "k", &m, 1));
	CHECK(strstr(err, "overlaps the image") != NULL);
	CHECK(mem_untouched());
	m.start = 0x400800;
	m.end = 0x401000;
	CHECK(!load_full(MEM_SIZE, "k", &m, 1));
	CHECK(strstr(err, "not page aligned") != NULL);
	/* Without header flag 0, unaligned modules are fine. */
	elf_new(0x100000, 0);
	elf_seg(0x100000, 0x100000, 0x100, 0x1000);
	CHECK(load_full(MEM_SIZE, "k", &m, 1));
	m.start = 0x500000;
	m.end = 0x400000;
	CHECK(!load_full(MEM_SIZE, "k", &m, 1));
	CHECK(strstr(err, "start") != NULL);
	m.start = 0xfff000;
	m.end = MEM_SIZE + 0x1000;
	CHECK(!load_full(MEM_SIZE, "k", &m, 1));
	CHECK(strstr(err, "beyond the VM's memory") != NULL);
	m.start = 0xa0000;
	m.end = 0xa1000;
	CHECK(!load_full(MEM_SIZE, "k", &m, 1));
	CHECK(strstr(err, "legacy hole") != NULL);
	m.start = 0xfffff000;
	m.end = 0x100000000ull;
	CHECK(!load_full(8ull << 30, "k", &m, 1));
	CHECK(strstr(err, "4 GiB") != NULL);
	for (u32 i = 0; i < ARRAY_SIZE(many); i++) {
		many[i].start = 0x400000 + i * 0x1000;
		many[i].end = many[i].start + 0x1000;
	}
	CHECK(!load_full(MEM_SIZE, "k", many, MB1_MAX_MODULES + 1));
	CHECK(strstr(err, "at most") != NULL);
	CHECK(load_full(MEM_SIZE, "k", many, MB1_MAX_MODULES));
	CHECK(!load_full(MEM_SIZE, "k", NULL, 1));
}

TEST(info_avoids_modules)
{
	/* Low memory taken; module right after the top segment. */
	struct mb1_guest_module m = { 0x101000, 0x102000, "m" };

	mem_reset();
	elf_new(0x1000, 0);
	elf_seg(0x1000, 0x1000, 0x10, 0x9ec00);
	elf_seg(0x100000, 0x100000, 0x10, 0x1000);
	CHECK(load_full(MEM_SIZE, "k", &m, 1));
	check_info_common(MEM_SIZE);
	CHECK(!overlaps(boot.info.start, boot.info.end, m.start, m.end));
	CHECK_EQ(boot.ebx, 0x102000);
}

TEST(aout_kludge)
{
	mem_reset();
	/* Whole 0x3000-byte file at 1 MiB, BSS to 0x105000. */
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0, 0x105000, 0x100040);
	CHECK(load(MEM_SIZE, "a"));
	check_info_common(MEM_SIZE);
	CHECK(boot.aout_kludge);
	CHECK_EQ(boot.entry, 0x100040);
	CHECK_EQ(boot.nr_ranges, 1);
	CHECK_EQ(boot.ranges[0].start, 0x100000);
	CHECK_EQ(boot.ranges[0].end, 0x105000);
	CHECK(memcmp(gm + 0x100000, img, 0x3000) == 0);
	CHECK(gm[0x103000] == 0 && gm[0x104fff] == 0 && gm[0x105000] == FILL);
	/* The file from offset 0x10 (header at 0x30 is at 0x200020) up to
	 * load_end only; no BSS. */
	mem_reset();
	aout_new(0x3000, 0x30, 0x200020, 0x200000, 0x201000, 0, 0x200000);
	CHECK(load(MEM_SIZE, "a"));
	CHECK(memcmp(gm + 0x200000, img + 0x10, 0x1000) == 0);
	CHECK_EQ(gm[0x201000], FILL);
	CHECK_EQ(boot.ranges[0].end, 0x201000);
}

TEST(aout_kludge_refused)
{
	aout_new(0x3000, 0x20, 0x100000, 0x100020, 0, 0, 0x100020);
	CHECK(refused(MEM_SIZE, "load_addr 0x100020 is above header_addr"));
	aout_new(0x3000, 0x20, 0x100040, 0x100000, 0, 0, 0x100000);
	CHECK(refused(MEM_SIZE, "before the file"));
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0xff000, 0, 0x100000);
	CHECK(refused(MEM_SIZE, "load_end_addr 0xff000 is below"));
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0x103001, 0, 0x100000);
	CHECK(refused(MEM_SIZE, "past the end of the image"));
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0x102000, 0x101000, 0x100000);
	CHECK(refused(MEM_SIZE, "bss_end_addr"));
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0, 0x104000, 0x104000);
	CHECK(refused(MEM_SIZE, "entry_addr 0x104000 is outside"));
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0, 0xfff00000, 0x100000);
	CHECK(refused(MEM_SIZE, "larger than the VM's memory"));
	/* Flag 16 but the image ends inside the address fields. */
	aout_new(0x3000, 0x20, 0x100020, 0x100000, 0, 0, 0x100000);
	img_size = 0x20 + 20;
	CHECK(refused(MEM_SIZE, "address fields extend past"));
	/* ... or they cross offset 8192. */
	aout_new(0x3000, 8180, 0x100000 + 8180, 0x100000, 0, 0, 0x100000);
	CHECK(refused(MEM_SIZE, "address fields extend past"));
}

/* --- malformed images ----------------------------------------------------------- */

static void valid_elf(void)
{
	elf_new(0x100000, MB1_HEADER_MEMORY_INFO);
	elf_seg(0x100000, 0x100000, 0x100, 0x200);
}

TEST(header_search)
{
	/* No header. */
	valid_elf();
	memset(img + HDR_DEFAULT, 0, 12);
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	/* Header at 8192: outside the search area. */
	mb_header_at(8192, 0);
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	/* Header at 8188 would end past 8192. */
	memset(img + 8192, 0, 12);
	mb_header_at(8188, 0);
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	/* At 8180 it ends exactly at 8192: found. */
	memset(img + 8188, 0, 12);
	mb_header_at(8180, 0);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	/* Not 4-byte aligned: not found. */
	memset(img + 8180, 0, 12);
	mb_header_at(0x402, 0);
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	/* Bad checksum. */
	valid_elf();
	put32(HDR_DEFAULT + 8, 0x12345678);
	CHECK(refused(MEM_SIZE, "bad checksum"));
	/* A bad one first, then a good one: the good one is used. */
	mb_header_at(HDR_DEFAULT + 0x100, 0);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	/* Tiny and empty images. */
	img_size = 11;
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	img_size = 0;
	CHECK(refused(MEM_SIZE, "no multiboot header"));
	mem_reset();
	CHECK(!mb1_load(NULL, 100, MEM_SIZE, &fm, "x", NULL, 0, &boot, err, sizeof(err)));
	CHECK(strstr(err, "no image") != NULL);
}

TEST(header_flags)
{
	valid_elf();
	mb_header_at(HDR_DEFAULT, MB1_HEADER_VIDEO_MODE | MB1_HEADER_MEMORY_INFO);
	CHECK(refused(MEM_SIZE, "video mode"));
	mb_header_at(HDR_DEFAULT, 0x8 | MB1_HEADER_PAGE_ALIGN);
	CHECK(refused(MEM_SIZE, "bits 0x8"));
	mb_header_at(HDR_DEFAULT, 0x8000);
	CHECK(refused(MEM_SIZE, "not support"));
	/* Unknown optional bits 17-31 are ignored (§3.1.2). */
	mb_header_at(HDR_DEFAULT, 0x80020000u | MB1_HEADER_PAGE_ALIGN);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	CHECK_EQ(boot.header_flags, 0x80020001u);
}

TEST(bad_elf_headers)
{
	valid_elf();
	img[0] = 0x7e;
	CHECK(refused(MEM_SIZE, "not an ELF image"));
	valid_elf();
	img[4] = 2; /* ELFCLASS64 */
	CHECK(refused(MEM_SIZE, "ELF64"));
	valid_elf();
	img[4] = 0;
	CHECK(refused(MEM_SIZE, "bad ELF identification"));
	valid_elf();
	img[5] = 2; /* big-endian */
	CHECK(refused(MEM_SIZE, "bad ELF identification"));
	valid_elf();
	put16(18, 62); /* EM_X86_64 */
	CHECK(refused(MEM_SIZE, "machine 62 is not i386"));
	valid_elf();
	put16(16, 1); /* ET_REL */
	CHECK(refused(MEM_SIZE, "not an executable"));
	/* Shorter than an ELF header (the multiboot header moved in range). */
	valid_elf();
	mb_header_at(12, 0);
	img_size = 40;
	CHECK(refused(MEM_SIZE, "not an ELF image"));
}

TEST(bad_program_headers)
{
	valid_elf();
	put16(44, 0);
	CHECK(refused(MEM_SIZE, "bad ELF program header table (0 entries"));
	valid_elf();
	put16(44, 0xffff);
	CHECK(refused(MEM_SIZE, "bad ELF program header table"));
	valid_elf();
	put16(44, 0xfffe); /* huge, beyond the image */
	CHECK(refused(MEM_SIZE, "extends past the end of the image"));
	valid_elf();
	put16(42, 16); /* entries smaller than Elf32_Phdr */
	CHECK(refused(MEM_SIZE, "of 16 bytes"));
	valid_elf();
	put32(28, (u32)img_size - 16); /* table cut by the end of the file */
	CHECK(refused(MEM_SIZE, "program header table"));
	valid_elf();
	put32(28, 0xfffffff0u); /* offset + size wraps 32 bits */
	CHECK(refused(MEM_SIZE, "program header table"));
	/* A larger stride than 32 bytes is fine. */
	elf_new(0x100000, 0);
	elf_seg(0x100000, 0x100000, 0x10, 0x10);
	elf_seg(0x200000, 0x200000, 0x10, 0x10);
	memmove(img + PH(0, 0) + 64, img + PH(1, 0), 32); /* phdr 1 to stride 64 */
	put16(42, 64);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	CHECK_EQ(boot.nr_ranges, 2);
	CHECK_EQ(boot.ranges[1].start, 0x200000);
}

TEST(bad_segments)
{
	valid_elf();
	put32(PH(0, P_OFFSET), (u32)img_size - 0x80); /* file data past the end */
	CHECK(refused(MEM_SIZE, "extends past the end of the image"));
	valid_elf();
	put32(PH(0, P_OFFSET), 0xffffff00u); /* offset + filesz wraps */
	CHECK(refused(MEM_SIZE, "extends past the end of the image"));
	valid_elf();
	put32(PH(0, P_FILESZ), 0x300);
	CHECK(refused(MEM_SIZE, "file size 0x300 exceeds memory size 0x200"));
	valid_elf();
	put32(PH(0, P_PADDR), MEM_SIZE - 0x100);
	put32(PH(0, P_VADDR), MEM_SIZE - 0x100);
	put32(24, MEM_SIZE - 0x100);
	CHECK(refused(MEM_SIZE, "image larger than the VM's memory"));
	valid_elf();
	put32(PH(0, P_PADDR), 0xfffff000u);
	put32(PH(0, P_MEMSZ), 0x2000);
	CHECK(refused(8ull << 30, "past 4 GiB"));
	valid_elf();
	put32(PH(0, P_PADDR), 0x9fb00); /* runs into the EBDA */
	CHECK(refused(MEM_SIZE, "legacy hole"));
	valid_elf();
	put32(PH(0, P_PADDR), 0xf0000);
	CHECK(refused(MEM_SIZE, "legacy hole"));
	/* Overlapping segments, in either order. */
	elf_new(0x100000, 0);
	elf_seg(0x100000, 0x100000, 0x100, 0x2000);
	elf_seg(0x101000, 0x101000, 0x100, 0x2000);
	CHECK(refused(MEM_SIZE, "overlap"));
	elf_new(0x100000, 0);
	elf_seg(0x101fff, 0x101fff, 0x1, 0x2000);
	elf_seg(0x100000, 0x100000, 0x100, 0x2000);
	CHECK(refused(MEM_SIZE, "overlap"));
	/* Touching is not overlapping. */
	elf_new(0x100000, 0);
	elf_seg(0x100000, 0x100000, 0x100, 0x1000);
	elf_seg(0x101000, 0x101000, 0x100, 0x1000);
	mem_reset();
	CHECK(load(MEM_SIZE, "x"));
	/* Entry outside every segment. */
	valid_elf();
	put32(24, 0x500000);
	CHECK(refused(MEM_SIZE, "entry point 0x500000"));
	valid_elf();
	put32(24, 0x100200); /* one past the end */
	CHECK(refused(MEM_SIZE, "entry point"));
	/* Too many segments, and none. */
	elf_new(0x100000, 0);
	for (u32 i = 0; i < MB1_MAX_SEGMENTS + 1; i++)
		elf_seg(0x100000 + i * 0x1000, 0x100000 + i * 0x1000, 0x10, 0x10);
	CHECK(refused(MEM_SIZE, "more than 16"));
	valid_elf();
	put32(PH(0, P_TYPE), 4); /* PT_NOTE */
	CHECK(refused(MEM_SIZE, "no loadable segments"));
	valid_elf();
	put32(PH(0, P_MEMSZ), 0);
	put32(PH(0, P_FILESZ), 0);
	CHECK(refused(MEM_SIZE, "no loadable segments"));
}

TEST(cmdline_and_write_errors)
{
	char *big = malloc(MB1_MAX_STRING + 1);

	valid_elf();
	memset(big, 'c', MB1_MAX_STRING);
	big[MB1_MAX_STRING] = '\0';
	mem_reset();
	CHECK(!load(MEM_SIZE, big));
	CHECK(strstr(err, "command line is longer") != NULL);
	CHECK(mem_untouched());
	big[MB1_MAX_STRING - 1] = '\0';
	CHECK(load(MEM_SIZE, big));
	CHECK_EQ(strlen(guest_str(rd32(boot.ebx + offsetof(struct mb1_info, cmdline)))),
		 MB1_MAX_STRING - 1);
	free(big);
	/* Guest memory that refuses writes. */
	elf_new(0xc00000, 0);
	elf_seg(0xc00000, 0xc00000, 0x100, 0x100);
	mem_reset();
	write_limit = 8u << 20;
	CHECK(!load(MEM_SIZE, "x"));
	CHECK(strstr(err, "cannot write guest memory at 0xc00000") != NULL);
	write_limit = MEM_SIZE;
	/* A tiny error buffer is terminated; none at all is allowed. */
	{
		char small[6];
		memset(small, 'z', sizeof(small));
		img[0] = 0;
		CHECK(!mb1_load(img, img_size, MEM_SIZE, &fm, "x", NULL, 0, &boot, small,
				sizeof(small)));
		CHECK(memchr(small, '\0', sizeof(small)) != NULL);
		CHECK(!mb1_load(img, img_size, MEM_SIZE, &fm, "x", NULL, 0, &boot, NULL, 0));
	}
}

/* --- fuzzing ----------------------------------------------------------------------- */

static u64 rng_state = 0x243f6a8885a308d3ull;

static u64 rng(void)
{
	return unit_rng(&rng_state);
}

static const u32 interesting32[] = {
	0, 1, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x8000, 0x9fc00, 0xa0000,
	0xfffff, 0x100000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000u,
	0xfffff000u, 0xffffffffu,
};

TEST(fuzz_mutated_images)
{
	static u8 base_img[IMG_CAP];
	size_t base_size;
	unsigned loaded = 0;

	elf_new(0x100010, MB1_HEADER_MEMORY_INFO);
	elf_seg(0x100000, 0x100000, 0x80, 0x1000);
	elf_seg(0x8000, 0x8000, 0x40, 0x40);
	elf_seg(0x200000, 0xc0200000, 0x20, 0x20);
	memcpy(base_img, img, IMG_CAP);
	base_size = img_size;
	mem_reset();
	for (int it = 0; it < 20000; it++) {
		static const u64 mems[] = { MEM_SIZE, 0x100000, 0x9fc00, 0x200000, 0x40000 };
		u64 mem = mems[rng() % ARRAY_SIZE(mems)];
		unsigned nmut = 1 + rng() % 6;

		memcpy(img, base_img, IMG_CAP);
		img_size = base_size;
		for (unsigned k = 0; k < nmut; k++) {
			u64 r = rng();
			/* Mostly the headers; sometimes anywhere. */
			size_t off = (r & 3) ? (r >> 8) % (HDR_DEFAULT + 12)
					     : (r >> 8) % img_size;
			if ((r >> 4) & 1) {
				img[off] = (u8)(r >> 40);
			} else if (off + 4 <= img_size) {
				u32 v = interesting32[(r >> 40) % ARRAY_SIZE(interesting32)];
				memcpy(img + off, &v, 4);
			}
		}
		/* Keep the multiboot checksum right half of the time, so the
		 * ELF parsing gets exercised. */
		if (rng() & 1) {
			u32 fl;
			memcpy(&fl, img + HDR_DEFAULT + 4, 4);
			mb_header_at(HDR_DEFAULT, fl & ~MB1_HEADER_VIDEO_MODE);
		}
		if (rng() % 8 == 0)
			img_size = rng() % (base_size + 1);
		if (!load(mem, "fuzz"))
			continue;
		loaded++;
		/* Invariants of any accepted image. */
		CHECK(boot.nr_ranges >= 1 && boot.nr_ranges <= MB1_MAX_SEGMENTS);
		for (u32 i = 0; i < boot.nr_ranges; i++) {
			CHECK(boot.ranges[i].start <= boot.ranges[i].end);
			CHECK(boot.ranges[i].end <= mem);
			CHECK(!overlaps(boot.ranges[i].start, boot.ranges[i].end,
					0x9fc00, 0x100000));
		}
		{
			bool in = false;
			for (u32 i = 0; i < boot.nr_ranges; i++)
				in |= boot.entry >= boot.ranges[i].start &&
				      boot.entry < boot.ranges[i].end;
			CHECK(in);
		}
		check_info_common(mem);
		if (unit_current_failed)
			break;
	}
	/* The fuzzer must get past the validation often enough to matter. */
	CHECK(loaded > 1000);
}

int main(void)
{
	gm = malloc(MEM_SIZE);
	fake_mem_size = write_limit = MEM_SIZE;
	pristine = malloc(MEM_SIZE);
	if (!gm || !pristine)
		return 1;
	memset(pristine, FILL, MEM_SIZE);
	RUN(load_elf_basic);
	RUN(probe_matches_load_and_writes_nothing);
	RUN(null_cmdline_leaves_flag_clear);
	RUN(info_avoids_low_segments);
	RUN(no_room_for_info);
	RUN(higher_half_entry);
	RUN(small_guests);
	RUN(modules);
	RUN(modules_refused);
	RUN(info_avoids_modules);
	RUN(aout_kludge);
	RUN(aout_kludge_refused);
	RUN(header_search);
	RUN(header_flags);
	RUN(bad_elf_headers);
	RUN(bad_program_headers);
	RUN(bad_segments);
	RUN(cmdline_and_write_errors);
	RUN(fuzz_mutated_images);
	free(gm);
	free(pristine);
	return unit_report("loader_mb1");
}
