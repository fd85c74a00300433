/*
 * Boot information parser for Multiboot v1 and Multiboot2.
 *
 * The loader's data is hostile input: every address it gives is read through
 * the phys_reader with an explicit length, every length is checked against
 * the structure that contains it before it is used, and loops are bounded by
 * BOOTINFO_MAX_INFO_SIZE. Problems are logged, counted in bi->warnings, and
 * parsing carries on with whatever is still trustworthy.
 */
#include "kernel/bootinfo.h"
#include "kernel/log.h"
#include "kernel/multiboot.h"
#include "lib/string.h"

/* A hostile info block can hold ~10^5 bad tags; log the first few only. */
#define BOOTINFO_WARN_LOG_LIMIT 32

#define bi_warn(bi, fmt, ...)                                                 \
	do {                                                                  \
		if ((bi)->warnings++ < BOOTINFO_WARN_LOG_LIMIT)               \
			log_warn("bootinfo: " fmt, ##__VA_ARGS__);            \
	} while (0)

/* A region array inside struct bootinfo being filled. */
struct region_list {
	struct bootmem_region *regions;
	u32 *count;
	u32 max;
	const char *name;	/* for messages */
};

struct parse_state {
	const struct phys_reader *r;
	struct bootinfo *bi;
	struct region_list mmap;
	struct region_list efi_mmap;
	u64 mb2_seen;		/* bit per MB2_SINGLE_TAGS type seen */
	bool modules_full;	/* already warned about too many modules */
	bool efi_st_64;		/* efi_system_table came from tag 12 */
};

/* Copies len bytes of physical memory at pa into dst. */
static bool phys_copy(const struct phys_reader *r, paddr_t pa, void *dst,
		      u64 len)
{
	const void *src = phys_read_map(r, pa, len);

	if (!src)
		return false;
	memcpy(dst, src, len);
	return true;
}

/*
 * Adds [start, start + len) to the list, merging it into the previous region
 * when they are contiguous and of the same type (EFI maps in particular are
 * split into many such pieces). Empty regions are dropped. Returns false, and
 * warns, when the list is full: callers then stop walking their table.
 */
static bool region_add(struct parse_state *st, struct region_list *l,
		       u64 start, u64 len, u32 type)
{
	struct bootinfo *bi = st->bi;
	struct bootmem_region *prev;

	if (len == 0)
		return true;
	if (start + len < start || start + len == 0) {
		bi_warn(bi, "%s region 0x%lx+0x%lx wraps around, ignored",
			l->name, start, len);
		return true;
	}
	prev = *l->count ? &l->regions[*l->count - 1] : NULL;
	if (prev && prev->type == type && prev->end == start) {
		prev->end = start + len;
		return true;
	}
	if (*l->count >= l->max) {
		bi_warn(bi, "%s has more than %u regions, rest ignored",
			l->name, l->max);
		return false;
	}
	l->regions[*l->count] = (struct bootmem_region){
		.start = start, .end = start + len, .type = type,
	};
	(*l->count)++;
	return true;
}

/* Multiboot map types (v1 §3.3, v2 §3.6.8): 1-5 defined, anything else is
 * reserved. */
static u32 mb_type_class(u32 type)
{
	if (type >= MB_MEMORY_AVAILABLE && type <= MB_MEMORY_BADRAM)
		return type;
	return BOOTMEM_RESERVED;
}

/*
 * UEFI 2.10 §7.2.1, "Memory Type Usage after ExitBootServices()":
 * loader and boot-services memory become free for the OS, ACPI tables are
 * reclaimable, NVS must be preserved; runtime services, MMIO, persistent and
 * unaccepted memory are not general-purpose RAM.
 */
static u32 efi_type_class(u32 type)
{
	switch (type) {
	case EFI_LOADER_CODE:
	case EFI_LOADER_DATA:
	case EFI_BOOT_SERVICES_CODE:
	case EFI_BOOT_SERVICES_DATA:
	case EFI_CONVENTIONAL_MEMORY:
		return BOOTMEM_AVAILABLE;
	case EFI_ACPI_RECLAIM_MEMORY:
		return BOOTMEM_ACPI_RECLAIMABLE;
	case EFI_ACPI_MEMORY_NVS:
		return BOOTMEM_ACPI_NVS;
	case EFI_UNUSABLE_MEMORY:	/* memory with detected errors */
		return BOOTMEM_BAD;
	default:
		return BOOTMEM_RESERVED;
	}
}

/* Copies a string stored inside a tag (src, n bytes) into dst. */
static void copy_tag_string(struct bootinfo *bi, char *dst, size_t dstlen,
			    const u8 *src, size_t n, const char *what)
{
	size_t len = 0;

	while (len < n && src[len])
		len++;
	if (len == n)
		bi_warn(bi, "%s is not NUL-terminated within its tag", what);
	if (len >= dstlen) {
		bi_warn(bi, "%s truncated to %zu bytes", what, dstlen - 1);
		len = dstlen - 1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Copies the C string at pa into dst. v1 gives only an address, so the
 * string's length is unknown: map it a page-bounded chunk at a time and fall
 * back to single bytes when a chunk is not readable, to get as much of a
 * string that runs into unreadable memory as there is.
 */
static void read_phys_string(struct parse_state *st, paddr_t pa, char *dst,
			     size_t dstlen, const char *what)
{
	const char *next;
	size_t n = 0;

	dst[0] = '\0';
	if (pa == 0) {
		bi_warn(st->bi, "%s pointer is NULL", what);
		return;
	}
	while (n + 1 < dstlen) {
		u64 chunk = MIN(dstlen - 1 - n,
				PAGE_SIZE - ((pa + n) & (PAGE_SIZE - 1)));
		const char *src = phys_read_map(st->r, pa + n, chunk);

		if (!src) {
			chunk = 1;
			src = phys_read_map(st->r, pa + n, 1);
		}
		if (!src) {
			dst[n] = '\0';
			bi_warn(st->bi, "%s at 0x%lx runs into unreadable memory after %zu bytes",
				what, pa, n);
			return;
		}
		for (u64 i = 0; i < chunk; i++) {
			dst[n] = src[i];
			if (!src[i])
				return;
			n++;
		}
	}
	dst[n] = '\0';
	/* The buffer is full; it is only a truncation if more text follows. */
	next = phys_read_map(st->r, pa + n, 1);
	if (!next || *next)
		bi_warn(st->bi, "%s truncated to %zu bytes", what, n);
}

/* --- Multiboot v1 (spec 0.6.96 §3.3) -------------------------------------- */

/* We use the fields up to boot_loader_name; loaders always provide them. */
#define MB1_INFO_PARSED_SIZE \
	(offsetof(struct mb1_info, boot_loader_name) + sizeof(u32))

static void mb1_parse_modules(struct parse_state *st, const struct mb1_info *info)
{
	struct bootinfo *bi = st->bi;
	u32 count = info->mods_count;

	if (count > BOOTINFO_MAX_MODULES) {
		bi_warn(bi, "%u modules, only the first %u are used", count,
			BOOTINFO_MAX_MODULES);
		count = BOOTINFO_MAX_MODULES;
	}
	for (u32 i = 0; i < count; i++) {
		paddr_t pa = (paddr_t)info->mods_addr + i * sizeof(struct mb1_module);
		struct bootinfo_module *m = &bi->modules[bi->module_count];
		struct mb1_module mod;

		if (!phys_copy(st->r, pa, &mod, sizeof(mod))) {
			bi_warn(bi, "module %u entry at 0x%lx is unreadable", i, pa);
			return;
		}
		if (mod.mod_end < mod.mod_start) {
			bi_warn(bi, "module %u ends (0x%x) before it starts (0x%x), ignored",
				i, mod.mod_end, mod.mod_start);
			continue;
		}
		m->start = mod.mod_start;
		m->end = mod.mod_end;
		read_phys_string(st, mod.string, m->cmdline, sizeof(m->cmdline),
				 "module command line");
		bi->module_count++;
	}
}

/* v1 map entries are variable-sized: `size` excludes itself (§3.3). */
static void mb1_parse_mmap(struct parse_state *st, const struct mb1_info *info)
{
	struct bootinfo *bi = st->bi;
	u64 len = info->mmap_length;
	u64 off = 0;

	if (len > BOOTINFO_MAX_INFO_SIZE) {
		bi_warn(bi, "mmap_length %lu is implausible, reading at most %u bytes",
			len, BOOTINFO_MAX_INFO_SIZE);
		len = BOOTINFO_MAX_INFO_SIZE;
	}
	while (off < len) {
		paddr_t pa = (paddr_t)info->mmap_addr + off;
		struct mb1_mmap_entry e;

		if (len - off < sizeof(e)) {
			bi_warn(bi, "memory map has %lu stray bytes at its end",
				len - off);
			return;
		}
		if (!phys_copy(st->r, pa, &e, sizeof(e))) {
			bi_warn(bi, "memory map entry at 0x%lx is unreadable", pa);
			return;
		}
		if (e.size < MB1_MMAP_ENTRY_MIN_SIZE) {
			bi_warn(bi, "memory map entry at 0x%lx has size %u < %zu, map ends here",
				pa, e.size, MB1_MMAP_ENTRY_MIN_SIZE);
			return;
		}
		if (e.size > len - off - sizeof(e.size)) {
			bi_warn(bi, "memory map entry at 0x%lx runs past mmap_length", pa);
			return;
		}
		if (!region_add(st, &st->mmap, e.base_addr, e.length,
				mb_type_class(e.type)))
			return;
		off += sizeof(e.size) + e.size;
	}
}

static bool mb1_parse(struct parse_state *st, paddr_t info_pa)
{
	struct bootinfo *bi = st->bi;
	struct mb1_info info;

	memset(&info, 0, sizeof(info));
	if (!phys_copy(st->r, info_pa, &info, MB1_INFO_PARSED_SIZE)) {
		bi_warn(bi, "multiboot info at 0x%lx is unreadable", info_pa);
		return false;
	}
	bi->protocol = 1;
	bi->info.start = info_pa;
	bi->info.end = info_pa + sizeof(struct mb1_info);

	if (info.flags & MB1_INFO_MEMORY) {
		bi->has_meminfo = true;
		bi->mem_lower_kb = info.mem_lower;
		bi->mem_upper_kb = info.mem_upper;
	}
	if (info.flags & MB1_INFO_CMDLINE)
		read_phys_string(st, info.cmdline, bi->cmdline,
				 sizeof(bi->cmdline), "command line");
	if (info.flags & MB1_INFO_BOOT_LOADER_NAME)
		read_phys_string(st, info.boot_loader_name, bi->loader_name,
				 sizeof(bi->loader_name), "boot loader name");
	if (info.flags & MB1_INFO_MODS)
		mb1_parse_modules(st, &info);
	if (info.flags & MB1_INFO_MEM_MAP)
		mb1_parse_mmap(st, &info);
	return true;
}

/* --- Multiboot2 (spec 1.6 §3.6) ------------------------------------------- */

static const char *mb2_tag_name(u32 type)
{
	static const char *const names[] = {
		[MB2_TAG_END] = "end",
		[MB2_TAG_CMDLINE] = "command line",
		[MB2_TAG_BOOT_LOADER_NAME] = "boot loader name",
		[MB2_TAG_MODULE] = "module",
		[MB2_TAG_BASIC_MEMINFO] = "basic meminfo",
		[MB2_TAG_BOOTDEV] = "boot device",
		[MB2_TAG_MMAP] = "memory map",
		[MB2_TAG_VBE] = "VBE info",
		[MB2_TAG_FRAMEBUFFER] = "framebuffer",
		[MB2_TAG_ELF_SECTIONS] = "ELF sections",
		[MB2_TAG_APM] = "APM table",
		[MB2_TAG_EFI32] = "EFI32 system table",
		[MB2_TAG_EFI64] = "EFI64 system table",
		[MB2_TAG_SMBIOS] = "SMBIOS",
		[MB2_TAG_ACPI_OLD] = "ACPI old RSDP",
		[MB2_TAG_ACPI_NEW] = "ACPI new RSDP",
		[MB2_TAG_NETWORK] = "network",
		[MB2_TAG_EFI_MMAP] = "EFI memory map",
		[MB2_TAG_EFI_BS] = "EFI boot services",
		[MB2_TAG_EFI32_IH] = "EFI32 image handle",
		[MB2_TAG_EFI64_IH] = "EFI64 image handle",
		[MB2_TAG_LOAD_BASE_ADDR] = "load base address",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "unknown";
}

/* §3.6.8: entry_size may grow in later versions, so step by it. */
static void mb2_parse_mmap(struct parse_state *st, const u8 *tag, u32 size)
{
	struct bootinfo *bi = st->bi;
	struct mb2_tag_mmap hdr;
	u32 n, rest;

	memcpy(&hdr, tag, sizeof(hdr));
	if (hdr.entry_size < sizeof(struct mb2_mmap_entry)) {
		bi_warn(bi, "memory map entry_size %u < %zu, map ignored",
			hdr.entry_size, sizeof(struct mb2_mmap_entry));
		return;
	}
	n = (size - sizeof(hdr)) / hdr.entry_size;
	rest = (size - sizeof(hdr)) % hdr.entry_size;
	if (rest)
		bi_warn(bi, "memory map tag has %u stray bytes after %u entries",
			rest, n);
	for (u32 i = 0; i < n; i++) {
		struct mb2_mmap_entry e;

		memcpy(&e, tag + sizeof(hdr) + (size_t)i * hdr.entry_size,
		       sizeof(e));
		if (!region_add(st, &st->mmap, e.base_addr, e.length,
				mb_type_class(e.type)))
			return;
	}
}

/* §3.6.19: a copy of the UEFI GetMemoryMap() buffer. */
static void mb2_parse_efi_mmap(struct parse_state *st, const u8 *tag, u32 size)
{
	struct bootinfo *bi = st->bi;
	struct mb2_tag_efi_mmap hdr;
	u32 n, rest;

	memcpy(&hdr, tag, sizeof(hdr));
	if (hdr.descr_size < sizeof(struct efi_memory_descriptor)) {
		bi_warn(bi, "EFI memory map descriptor size %u < %zu, map ignored",
			hdr.descr_size, sizeof(struct efi_memory_descriptor));
		return;
	}
	bi->has_efi_mmap = true;
	n = (size - sizeof(hdr)) / hdr.descr_size;
	rest = (size - sizeof(hdr)) % hdr.descr_size;
	if (rest)
		bi_warn(bi, "EFI memory map tag has %u stray bytes after %u descriptors",
			rest, n);
	bi->efi_desc_count = n;
	for (u32 i = 0; i < n; i++) {
		struct efi_memory_descriptor d;

		memcpy(&d, tag + sizeof(hdr) + (size_t)i * hdr.descr_size,
		       sizeof(d));
		if (d.number_of_pages > (UINT64_MAX >> EFI_PAGE_SHIFT)) {
			bi_warn(bi, "EFI descriptor %u has %lu pages, ignored", i,
				d.number_of_pages);
			continue;
		}
		if (!region_add(st, &st->efi_mmap, d.physical_start,
				d.number_of_pages << EFI_PAGE_SHIFT,
				efi_type_class(d.type)))
			return;
	}
}

static void mb2_parse_module(struct parse_state *st, const u8 *tag, u32 size)
{
	struct bootinfo *bi = st->bi;
	struct bootinfo_module *m;
	struct mb2_tag_module mod;

	if (bi->module_count >= BOOTINFO_MAX_MODULES) {
		if (!st->modules_full)
			bi_warn(bi, "more than %u modules, the rest are ignored",
				BOOTINFO_MAX_MODULES);
		st->modules_full = true;
		return;
	}
	memcpy(&mod, tag, sizeof(mod));
	if (mod.mod_end < mod.mod_start) {
		bi_warn(bi, "module ends (0x%x) before it starts (0x%x), ignored",
			mod.mod_end, mod.mod_start);
		return;
	}
	m = &bi->modules[bi->module_count++];
	m->start = mod.mod_start;
	m->end = mod.mod_end;
	copy_tag_string(bi, m->cmdline, sizeof(m->cmdline), tag + sizeof(mod),
			size - sizeof(mod), "module command line");
}

/*
 * §3.6.16/§3.6.17: tags 14/15 hold a copy of the ACPI 1.0 / 2.0+ RSDP, not
 * its address. Checksums are left to the ACPI code, which validates tables.
 */
static void mb2_parse_rsdp(struct parse_state *st, u32 type, const u8 *tag,
			   u32 size)
{
	struct bootinfo *bi = st->bi;
	const u8 *rsdp = tag + sizeof(struct mb2_tag);
	bool is_new = type == MB2_TAG_ACPI_NEW;
	u32 len = is_new ? ACPI_RSDP_V2_SIZE : ACPI_RSDP_V1_SIZE;
	enum bootinfo_rsdp_source source =
		is_new ? BOOTINFO_RSDP_MB2_NEW : BOOTINFO_RSDP_MB2_OLD;

	if (size - sizeof(struct mb2_tag) < len) {
		bi_warn(bi, "%s tag holds %zu bytes, need %u, ignored",
			mb2_tag_name(type), size - sizeof(struct mb2_tag), len);
		return;
	}
	if (memcmp(rsdp, ACPI_RSDP_SIGNATURE, 8) != 0) {
		bi_warn(bi, "%s tag: RSDP copy has a bad signature, ignored",
			mb2_tag_name(type));
		return;
	}
	/* An ACPI 2.0+ RSDP also gives the XSDT, so it wins over a v1 copy. */
	if (bi->rsdp_source == BOOTINFO_RSDP_MB2_NEW &&
	    source == BOOTINFO_RSDP_MB2_OLD)
		return;
	memset(bi->rsdp, 0, sizeof(bi->rsdp));
	memcpy(bi->rsdp, rsdp, len);
	bi->rsdp_len = len;
	bi->rsdp_source = source;
	bi->has_rsdp = true;
}

/* Minimum sizes, header included, of the tags we read fields from. */
static u32 mb2_tag_min_size(u32 type)
{
	switch (type) {
	case MB2_TAG_MODULE:
		return sizeof(struct mb2_tag_module);
	case MB2_TAG_BASIC_MEMINFO:
		return sizeof(struct mb2_tag_basic_meminfo);
	case MB2_TAG_MMAP:
		return sizeof(struct mb2_tag_mmap);
	case MB2_TAG_EFI32:
		return sizeof(struct mb2_tag_efi32);
	case MB2_TAG_EFI64:
		return sizeof(struct mb2_tag_efi64);
	case MB2_TAG_EFI_MMAP:
		return sizeof(struct mb2_tag_efi_mmap);
	default:
		return sizeof(struct mb2_tag);
	}
}

/* Tags we read that must appear at most once; for these the first wins.
 * (Modules repeat, and so may tags we ignore, e.g. one network tag per NIC.) */
#define MB2_SINGLE_TAGS                                                       \
	(BIT(MB2_TAG_CMDLINE) | BIT(MB2_TAG_BOOT_LOADER_NAME) |               \
	 BIT(MB2_TAG_BASIC_MEMINFO) | BIT(MB2_TAG_MMAP) | BIT(MB2_TAG_EFI32) | \
	 BIT(MB2_TAG_EFI64) | BIT(MB2_TAG_ACPI_OLD) | BIT(MB2_TAG_ACPI_NEW) |  \
	 BIT(MB2_TAG_EFI_MMAP) | BIT(MB2_TAG_EFI_BS))

/* One tag, size bytes at tag (size >= 8, all readable). */
static void mb2_parse_tag(struct parse_state *st, u32 type, const u8 *tag,
			  u32 size)
{
	struct bootinfo *bi = st->bi;
	const u8 *payload = tag + sizeof(struct mb2_tag);
	u32 payload_len = size - sizeof(struct mb2_tag);

	if (size < mb2_tag_min_size(type)) {
		bi_warn(bi, "%s tag (type %u) has size %u < %u, ignored",
			mb2_tag_name(type), type, size, mb2_tag_min_size(type));
		return;
	}
	if (type < 64 && (BIT(type) & MB2_SINGLE_TAGS)) {
		if (st->mb2_seen & BIT(type)) {
			bi_warn(bi, "duplicate %s tag (type %u) ignored",
				mb2_tag_name(type), type);
			return;
		}
		st->mb2_seen |= BIT(type);
	}

	switch (type) {
	case MB2_TAG_CMDLINE:
		copy_tag_string(bi, bi->cmdline, sizeof(bi->cmdline), payload,
				payload_len, "command line");
		break;
	case MB2_TAG_BOOT_LOADER_NAME:
		copy_tag_string(bi, bi->loader_name, sizeof(bi->loader_name),
				payload, payload_len, "boot loader name");
		break;
	case MB2_TAG_MODULE:
		mb2_parse_module(st, tag, size);
		break;
	case MB2_TAG_BASIC_MEMINFO: {
		struct mb2_tag_basic_meminfo mi;
		memcpy(&mi, tag, sizeof(mi));
		bi->has_meminfo = true;
		bi->mem_lower_kb = mi.mem_lower;
		bi->mem_upper_kb = mi.mem_upper;
		break;
	}
	case MB2_TAG_MMAP:
		mb2_parse_mmap(st, tag, size);
		break;
	case MB2_TAG_EFI32: {
		struct mb2_tag_efi32 t;
		memcpy(&t, tag, sizeof(t));
		if (!st->efi_st_64) {
			bi->efi_system_table = t.pointer;
			bi->has_efi_system_table = true;
		}
		break;
	}
	case MB2_TAG_EFI64: {
		struct mb2_tag_efi64 t;
		memcpy(&t, tag, sizeof(t));
		bi->efi_system_table = t.pointer;
		bi->has_efi_system_table = true;
		st->efi_st_64 = true;
		break;
	}
	case MB2_TAG_ACPI_OLD:
	case MB2_TAG_ACPI_NEW:
		mb2_parse_rsdp(st, type, tag, size);
		break;
	case MB2_TAG_EFI_MMAP:
		mb2_parse_efi_mmap(st, tag, size);
		break;
	case MB2_TAG_EFI_BS:
		bi->efi_boot_services = true;
		break;
	default:
		break;	/* tags we have no use for (framebuffer, ELF, ...) */
	}
}

/*
 * §3.6.1: {u32 total_size; u32 reserved;} then tags, each starting 8-byte
 * aligned, until a type 0 end tag. total_size bounds everything.
 */
static bool mb2_parse(struct parse_state *st, paddr_t info_pa)
{
	struct bootinfo *bi = st->bi;
	struct mb2_info_header hdr;
	u64 total, off;

	if (!phys_copy(st->r, info_pa, &hdr, sizeof(hdr))) {
		bi_warn(bi, "multiboot2 info at 0x%lx is unreadable", info_pa);
		return false;
	}
	bi->protocol = 2;
	if (!IS_ALIGNED(info_pa, MB2_TAG_ALIGN))
		bi_warn(bi, "multiboot2 info at 0x%lx is not 8-byte aligned",
			info_pa);
	total = hdr.total_size;
	if (total < sizeof(hdr) + sizeof(struct mb2_tag)) {
		bi_warn(bi, "multiboot2 total_size %lu is too small to hold an end tag",
			total);
		bi->info.start = info_pa;
		bi->info.end = info_pa + sizeof(hdr);
		return true;
	}
	if (total > BOOTINFO_MAX_INFO_SIZE) {
		bi_warn(bi, "multiboot2 total_size %lu is implausible, reading at most %u bytes",
			total, BOOTINFO_MAX_INFO_SIZE);
		total = BOOTINFO_MAX_INFO_SIZE;
	}
	bi->info.start = info_pa;
	bi->info.end = info_pa + total;

	/* Each pass moves on by at least 8 bytes, so this is bounded. */
	off = sizeof(hdr);
	while (off + sizeof(struct mb2_tag) <= total) {
		struct mb2_tag tag;
		const u8 *p;

		if (!phys_copy(st->r, info_pa + off, &tag, sizeof(tag))) {
			bi_warn(bi, "tag at offset %lu is unreadable", off);
			return true;
		}
		if (tag.type == MB2_TAG_END)
			return true;
		if (tag.size < sizeof(tag)) {
			bi_warn(bi, "tag type %u at offset %lu has size %u < 8, tags end here",
				tag.type, off, tag.size);
			return true;
		}
		if (tag.size > total - off) {
			bi_warn(bi, "tag type %u at offset %lu (size %u) runs past total_size %lu",
				tag.type, off, tag.size, total);
			return true;
		}
		p = phys_read_map(st->r, info_pa + off, tag.size);
		if (!p) {
			bi_warn(bi, "tag type %u at offset %lu (size %u) is unreadable",
				tag.type, off, tag.size);
			return true;
		}
		mb2_parse_tag(st, tag.type, p, tag.size);
		off += ALIGN_UP((u64)tag.size, MB2_TAG_ALIGN);
	}
	bi_warn(bi, "no end tag within total_size %lu", total);
	return true;
}

/* --- common ----------------------------------------------------------------- */

/*
 * Without a memory map, mem_lower/mem_upper describe RAM at 0 and at 1 MiB
 * (v1 §3.3, v2 §3.6.3). The map is what the frame allocator uses, so build
 * one from them; the EFI map, when present, stays separate.
 */
static void build_fallback_mmap(struct parse_state *st)
{
	struct bootinfo *bi = st->bi;
	u64 lower = bi->mem_lower_kb;

	if (bi->mmap_count) {
		bi->mmap_source = BOOTINFO_MMAP_MULTIBOOT;
		return;
	}
	if (!bi->has_meminfo) {
		if (!bi->has_efi_mmap)
			bi_warn(bi, "no memory map and no basic memory information");
		return;
	}
	if (lower > 640) {
		bi_warn(bi, "mem_lower %lu KiB exceeds 640 KiB, clamped", lower);
		lower = 640;
	}
	region_add(st, &st->mmap, 0, lower << 10, BOOTMEM_AVAILABLE);
	region_add(st, &st->mmap, 1ull << 20, (u64)bi->mem_upper_kb << 10,
		   BOOTMEM_AVAILABLE);
	bi->mmap_source = BOOTINFO_MMAP_MEMINFO;
}

bool bootinfo_parse(u32 magic, paddr_t info_pa, const struct phys_reader *r,
		    struct bootinfo *out)
{
	struct parse_state st = {
		.r = r,
		.bi = out,
		.mmap = { .regions = out->mmap, .count = &out->mmap_count,
			  .max = BOOTINFO_MAX_MMAP, .name = "memory map" },
		.efi_mmap = { .regions = out->efi_mmap,
			      .count = &out->efi_mmap_count,
			      .max = BOOTINFO_MAX_EFI_MMAP,
			      .name = "EFI memory map" },
	};
	bool ok;

	memset(out, 0, sizeof(*out));
	switch (magic) {
	case MB2_BOOTLOADER_MAGIC:
		ok = mb2_parse(&st, info_pa);
		break;
	case MB1_BOOTLOADER_MAGIC:
		ok = mb1_parse(&st, info_pa);
		break;
	default:
		bi_warn(out, "unknown boot loader magic 0x%x (want multiboot2 0x%x or multiboot 0x%x)",
			magic, MB2_BOOTLOADER_MAGIC, MB1_BOOTLOADER_MAGIC);
		ok = false;
		break;
	}
	if (!ok) {
		u32 warnings = out->warnings;
		memset(out, 0, sizeof(*out));
		out->warnings = warnings;
		return false;
	}
	build_fallback_mmap(&st);
	if (out->warnings > BOOTINFO_WARN_LOG_LIMIT)
		log_warn("bootinfo: %u more problems not shown",
			 out->warnings - BOOTINFO_WARN_LOG_LIMIT);
	return true;
}

const char *bootmem_type_name(u32 type)
{
	switch (type) {
	case BOOTMEM_AVAILABLE:
		return "available";
	case BOOTMEM_RESERVED:
		return "reserved";
	case BOOTMEM_ACPI_RECLAIMABLE:
		return "ACPI reclaimable";
	case BOOTMEM_ACPI_NVS:
		return "ACPI NVS";
	case BOOTMEM_BAD:
		return "bad";
	default:
		return "unknown";
	}
}

/*
 * Bytes covered by the union of the regions of one type. Loader maps may
 * overlap, so walk upwards: find the lowest covered address above pos, then
 * extend through every region that touches the covered run. O(n^2) per run,
 * fine for a few hundred regions.
 */
static u64 union_bytes(const struct bootmem_region *map, u32 count, u32 type)
{
	u64 total = 0, pos = 0;

	for (;;) {
		u64 start = 0, end;
		bool found = false, grew;

		for (u32 i = 0; i < count; i++) {
			if (map[i].type != type || map[i].end <= pos ||
			    map[i].start >= map[i].end)
				continue;
			u64 s = MAX(map[i].start, pos);
			if (!found || s < start)
				start = s;
			found = true;
		}
		if (!found)
			return total;
		end = start;
		do {
			grew = false;
			for (u32 i = 0; i < count; i++) {
				if (map[i].type == type && map[i].start <= end &&
				    map[i].end > end) {
					end = map[i].end;
					grew = true;
				}
			}
		} while (grew);
		total += end - start;
		pos = end;
	}
}

u64 bootinfo_usable_bytes(const struct bootinfo *bi)
{
	if (bi->mmap_source != BOOTINFO_MMAP_MULTIBOOT && bi->efi_mmap_count)
		return union_bytes(bi->efi_mmap,
				   MIN(bi->efi_mmap_count, BOOTINFO_MAX_EFI_MMAP),
				   BOOTMEM_AVAILABLE);
	return union_bytes(bi->mmap, MIN(bi->mmap_count, BOOTINFO_MAX_MMAP),
			   BOOTMEM_AVAILABLE);
}

static const char *rsdp_source_name(enum bootinfo_rsdp_source source)
{
	switch (source) {
	case BOOTINFO_RSDP_MB2_OLD:
		return "copy from multiboot2 tag 14 (ACPI 1.0)";
	case BOOTINFO_RSDP_MB2_NEW:
		return "copy from multiboot2 tag 15 (ACPI 2.0+)";
	default:
		return "none from loader (ACPI will scan the BIOS areas)";
	}
}

static void print_regions(const char *what, const struct bootmem_region *map,
			  u32 count)
{
	for (u32 i = 0; i < count; i++)
		log_info("boot: %s [0x%016lx-0x%016lx) %s", what, map[i].start,
			 map[i].end, bootmem_type_name(map[i].type));
}

void bootinfo_print(const struct bootinfo *bi)
{
	log_info("boot: Multiboot%s, loader \"%s\", info at [0x%lx-0x%lx)",
		 bi->protocol == 2 ? "2" : " v1",
		 bi->loader_name[0] ? bi->loader_name : "(unnamed)",
		 bi->info.start, bi->info.end);
	log_info("boot: command line \"%s\"", bi->cmdline);
	if (bi->mmap_source == BOOTINFO_MMAP_MEMINFO)
		log_info("boot: no memory map, using mem_lower %u KiB, mem_upper %u KiB",
			 bi->mem_lower_kb, bi->mem_upper_kb);
	print_regions("mmap", bi->mmap, MIN(bi->mmap_count, BOOTINFO_MAX_MMAP));
	if (bi->has_efi_mmap) {
		log_info("boot: EFI memory map: %u descriptors in %u regions%s",
			 bi->efi_desc_count, bi->efi_mmap_count,
			 bi->efi_boot_services ? ", boot services still active" : "");
		if (bi->mmap_source != BOOTINFO_MMAP_MULTIBOOT)
			print_regions("efi", bi->efi_mmap,
				      MIN(bi->efi_mmap_count, BOOTINFO_MAX_EFI_MMAP));
	}
	log_info("boot: usable memory %lu MiB", bootinfo_usable_bytes(bi) >> 20);
	if (bi->has_efi_system_table)
		log_info("boot: EFI system table at 0x%lx", bi->efi_system_table);
	for (u32 i = 0; i < MIN(bi->module_count, BOOTINFO_MAX_MODULES); i++)
		log_info("boot: module %u [0x%lx-0x%lx) %lu KiB \"%s\"", i,
			 bi->modules[i].start, bi->modules[i].end,
			 (bi->modules[i].end - bi->modules[i].start) >> 10,
			 bi->modules[i].cmdline);
	log_info("boot: ACPI RSDP: %s", rsdp_source_name(bi->rsdp_source));
	if (bi->warnings)
		log_info("boot: %u problems in the boot information (see warnings)",
			 bi->warnings);
}
