/*
 * Multiboot v1 guest loader. Section numbers are the Multiboot Specification
 * 0.6.96's; ELF structures are from the System V ABI (gABI, "Object Files")
 * and its i386 supplement.
 *
 * Everything is validated first (mb1_probe), then written: segments, BSS,
 * then the info block. The image is a host buffer of hostile contents, so
 * fields are copied out with memcpy (no alignment assumptions) and all
 * arithmetic on them is done in 64 bits where it could overflow 32.
 */
#include <stdarg.h>

#include "virt/loader_mb1.h"
#include "lib/printf.h"
#include "lib/string.h"

/* §3.1.2 header layout; the address fields (§3.1.4) are valid with flag 16. */
struct mb1_header {
	u32 magic;
	u32 flags;
	u32 checksum;
	u32 header_addr;
	u32 load_addr;
	u32 load_end_addr;
	u32 bss_end_addr;
	u32 entry_addr;
} __packed;
_Static_assert(sizeof(struct mb1_header) == 32, "mb1_header size");
#define MB1_HEADER_MIN_SIZE	12	/* magic, flags, checksum */

/* §3.1.3: flag bits 0-15 are requirements; we honour 0 and 1. */
#define MB1_HEADER_REQUIRED_MASK	0x0000ffffu
#define MB1_HEADER_SUPPORTED	(MB1_HEADER_PAGE_ALIGN | MB1_HEADER_MEMORY_INFO)

/* gABI ELF header and program header, 32-bit class. */
#define EI_NIDENT	16
#define EI_CLASS	4
#define EI_DATA		5
#define EI_VERSION	6
#define ELFCLASS32	1
#define ELFCLASS64	2
#define ELFDATA2LSB	1
#define EV_CURRENT	1
#define ET_EXEC		2
#define ET_DYN		3
#define EM_386		3
#define PT_LOAD		1
#define PN_XNUM		0xffff	/* real count in section 0: not for us */

struct elf32_ehdr {
	u8 e_ident[EI_NIDENT];
	u16 e_type;
	u16 e_machine;
	u32 e_version;
	u32 e_entry;
	u32 e_phoff;
	u32 e_shoff;
	u32 e_flags;
	u16 e_ehsize;
	u16 e_phentsize;
	u16 e_phnum;
	u16 e_shentsize;
	u16 e_shnum;
	u16 e_shstrndx;
} __packed;
_Static_assert(sizeof(struct elf32_ehdr) == 52, "elf32_ehdr size");

struct elf32_phdr {
	u32 p_type;
	u32 p_offset;
	u32 p_vaddr;
	u32 p_paddr;
	u32 p_filesz;
	u32 p_memsz;
	u32 p_flags;
	u32 p_align;
} __packed;
_Static_assert(sizeof(struct elf32_phdr) == 32, "elf32_phdr size");

#define FOUR_GIB	(1ull << 32)

/* One piece of the image to place: file bytes [offset, offset + filesz)
 * go to paddr, the rest up to memsz is zeroed. */
struct seg {
	u64 offset;
	u32 paddr;
	u32 vaddr;
	u32 filesz;
	u32 memsz;
};

struct parsed {
	u32 flags;
	u32 entry;
	bool aout;
	u32 nr_segs;
	struct seg segs[MB1_MAX_SEGMENTS];
};

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

static u64 seg_end(const struct seg *s)
{
	return (u64)s->paddr + s->memsz;
}

/*
 * §3.1.1, §3.1.3: the first 32-bit aligned magic in the first 8192 bytes whose
 * checksum makes magic + flags + checksum == 0 (mod 2^32). A magic with a
 * wrong checksum is skipped, as GRUB does, but remembered for the error.
 */
static bool find_header(const u8 *img, size_t size, struct mb1_header *h,
			size_t *off, char *err, size_t errlen)
{
	size_t limit = MIN(size, (size_t)MB1_HEADER_SEARCH);
	bool bad_sum = false;
	size_t bad_off = 0;

	for (size_t o = 0; o + MB1_HEADER_MIN_SIZE <= limit; o += MB1_HEADER_ALIGN) {
		memset(h, 0, sizeof(*h));
		memcpy(h, img + o, MB1_HEADER_MIN_SIZE);
		if (h->magic != MB1_HEADER_MAGIC)
			continue;
		if ((u32)(h->magic + h->flags + h->checksum) == 0) {
			/* §3.1.1: the whole header, address fields
			 * included, lies within the first 8192 bytes. */
			if (h->flags & MB1_HEADER_AOUT_KLUDGE) {
				if (o + sizeof(*h) > limit)
					return fail_msg(err, errlen,
						    "multiboot header at 0x%zx: address fields "
						    "extend past the first 8192 bytes or the image", o);
				memcpy(h, img + o, sizeof(*h));
			}
			*off = o;
			return true;
		}
		if (!bad_sum) {
			bad_sum = true;
			bad_off = o;
		}
	}
	if (bad_sum)
		return fail_msg(err, errlen,
			    "multiboot header at 0x%zx has a bad checksum", bad_off);
	return fail_msg(err, errlen,
		    "no multiboot header (magic 0x1BADB002) in the first 8192 bytes");
}

/* §3.1.3: bits 0-15 are requirements; a loader that does not understand
 * one must refuse the image. */
static bool check_flags(u32 flags, char *err, size_t errlen)
{
	u32 unsupported = flags & MB1_HEADER_REQUIRED_MASK & ~MB1_HEADER_SUPPORTED;

	if (unsupported & MB1_HEADER_VIDEO_MODE)
		return fail_msg(err, errlen,
			    "the image requests a video mode (multiboot header flag 2); "
			    "Umbra VMs have no graphics, rebuild without it");
	if (unsupported)
		return fail_msg(err, errlen,
			    "multiboot header flags 0x%x require features Umbra does not "
			    "support (bits 0x%x)", flags, unsupported);
	return true;
}

static bool check_elf_ident(const struct elf32_ehdr *eh, char *err,
			    size_t errlen)
{
	if (eh->e_ident[EI_CLASS] == ELFCLASS64)
		return fail_msg(err, errlen,
			    "ELF64 image: multiboot v1 loads ELF32 (convert with "
			    "objcopy -O elf32-i386) or use the a.out kludge");
	if (eh->e_ident[EI_CLASS] != ELFCLASS32 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT)
		return fail_msg(err, errlen,
			    "bad ELF identification (class %u, data %u, version %u)",
			    eh->e_ident[EI_CLASS], eh->e_ident[EI_DATA],
			    eh->e_ident[EI_VERSION]);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return fail_msg(err, errlen, "ELF type %u is not an executable",
			    eh->e_type);
	if (eh->e_machine != EM_386)
		return fail_msg(err, errlen, "ELF machine %u is not i386 (3)",
			    eh->e_machine);
	return true;
}

/* Checks one PT_LOAD against the file and adds it (gABI "Program Header"). */
static bool add_elf_segment(const struct elf32_phdr *ph, u32 i, size_t size,
			    struct parsed *pi, char *err, size_t errlen)
{
	struct seg *s;

	if (ph->p_filesz > ph->p_memsz)
		return fail_msg(err, errlen,
			    "ELF segment %u: file size 0x%x exceeds memory size 0x%x",
			    i, ph->p_filesz, ph->p_memsz);
	if ((u64)ph->p_offset + ph->p_filesz > size)
		return fail_msg(err, errlen,
			    "ELF segment %u: file data 0x%x+0x%x extends past the end "
			    "of the image (0x%zx bytes)", i, ph->p_offset,
			    ph->p_filesz, size);
	if (pi->nr_segs == MB1_MAX_SEGMENTS)
		return fail_msg(err, errlen, "more than %d loadable ELF segments",
			    MB1_MAX_SEGMENTS);
	s = &pi->segs[pi->nr_segs++];
	s->offset = ph->p_offset;
	s->paddr = ph->p_paddr;
	s->vaddr = ph->p_vaddr;
	s->filesz = ph->p_filesz;
	s->memsz = ph->p_memsz;
	return true;
}

/*
 * e_entry is a virtual address; segments load at their physical addresses
 * (p_paddr), so translate through the segment that contains it, as GRUB
 * does for kernels linked at a higher virtual address.
 */
static bool find_entry(const struct elf32_ehdr *eh, struct parsed *pi,
		       char *err, size_t errlen)
{
	for (u32 i = 0; i < pi->nr_segs; i++) {
		const struct seg *s = &pi->segs[i];

		if (eh->e_entry >= s->vaddr &&
		    (u64)eh->e_entry < (u64)s->vaddr + s->memsz) {
			pi->entry = eh->e_entry - s->vaddr + s->paddr;
			return true;
		}
	}
	return fail_msg(err, errlen,
		    "ELF entry point 0x%x is not inside any loadable segment",
		    eh->e_entry);
}

static bool parse_elf(const u8 *img, size_t size, struct parsed *pi,
		      char *err, size_t errlen)
{
	static const u8 elf_magic[4] = { 0x7f, 'E', 'L', 'F' };
	struct elf32_ehdr eh;
	u64 table_end;

	if (size < sizeof(eh) || memcmp(img, elf_magic, sizeof(elf_magic)))
		return fail_msg(err, errlen,
			    "not an ELF image, and the multiboot header has no "
			    "address fields (flag 16)");
	memcpy(&eh, img, sizeof(eh));
	if (!check_elf_ident(&eh, err, errlen))
		return false;
	if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM ||
	    eh.e_phentsize < sizeof(struct elf32_phdr))
		return fail_msg(err, errlen,
			    "bad ELF program header table (%u entries of %u bytes)",
			    eh.e_phnum, eh.e_phentsize);
	table_end = (u64)eh.e_phoff + (u64)eh.e_phnum * eh.e_phentsize;
	if (table_end > size)
		return fail_msg(err, errlen,
			    "ELF program header table (0x%x, %u entries) extends "
			    "past the end of the image", eh.e_phoff, eh.e_phnum);
	for (u32 i = 0; i < eh.e_phnum; i++) {
		struct elf32_phdr ph;

		memcpy(&ph, img + eh.e_phoff + (size_t)i * eh.e_phentsize,
		       sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (!add_elf_segment(&ph, i, size, pi, err, errlen))
			return false;
	}
	if (!pi->nr_segs)
		return fail_msg(err, errlen, "ELF image has no loadable segments");
	return find_entry(&eh, pi, err, errlen);
}

/*
 * §3.1.4 a.out kludge: the header at file offset hdr_off is loaded at
 * header_addr, so the file from hdr_off - (header_addr - load_addr) is
 * loaded at load_addr, up to load_end_addr (0: the end of the file); then
 * zeroes up to bss_end_addr (0: none). Execution starts at entry_addr.
 */
static bool parse_aout(const struct mb1_header *h, size_t hdr_off, size_t size,
		       struct parsed *pi, char *err, size_t errlen)
{
	struct seg *s = &pi->segs[0];
	u64 filesz, memsz;
	u32 delta;

	if (h->load_addr > h->header_addr)
		return fail_msg(err, errlen,
			    "a.out kludge: load_addr 0x%x is above header_addr 0x%x",
			    h->load_addr, h->header_addr);
	delta = h->header_addr - h->load_addr;
	if (delta > hdr_off)
		return fail_msg(err, errlen,
			    "a.out kludge: load_addr 0x%x would start 0x%x bytes "
			    "before the file", h->load_addr, (u32)(delta - hdr_off));
	s->offset = hdr_off - delta;
	if (!h->load_end_addr) {
		filesz = size - s->offset;
	} else {
		if (h->load_end_addr < h->load_addr)
			return fail_msg(err, errlen,
				    "a.out kludge: load_end_addr 0x%x is below load_addr 0x%x",
				    h->load_end_addr, h->load_addr);
		filesz = h->load_end_addr - h->load_addr;
		if (filesz > size - s->offset)
			return fail_msg(err, errlen,
				    "a.out kludge: load_end_addr 0x%x is past the end "
				    "of the image", h->load_end_addr);
	}
	memsz = filesz;
	if (h->bss_end_addr) {
		if ((u64)h->bss_end_addr < h->load_addr + filesz)
			return fail_msg(err, errlen,
				    "a.out kludge: bss_end_addr 0x%x is below the loaded data",
				    h->bss_end_addr);
		memsz = h->bss_end_addr - h->load_addr;
	}
	if (memsz >= FOUR_GIB)
		return fail_msg(err, errlen, "a.out kludge: image larger than 4 GiB");
	if (h->entry_addr < h->load_addr ||
	    (u64)h->entry_addr >= h->load_addr + memsz)
		return fail_msg(err, errlen,
			    "a.out kludge: entry_addr 0x%x is outside the loaded image",
			    h->entry_addr);
	s->paddr = s->vaddr = h->load_addr;
	s->filesz = (u32)filesz;
	s->memsz = (u32)memsz;
	pi->nr_segs = 1;
	pi->entry = h->entry_addr;
	pi->aout = true;
	return true;
}

/* A range inside the 32-bit space, inside guest RAM, outside the hole.
 * what is "segment" or "module", for the messages. */
static bool check_range(const char *what, u32 idx, u64 start, u64 end, u64 mem,
			char *err, size_t errlen)
{
	bool seg = what[0] == 's';

	if (end > FOUR_GIB)
		return fail_msg(err, errlen, "%s %u (0x%lx-0x%lx) goes past 4 GiB",
			    what, idx, start, end);
	if (end > mem)
		return fail_msg(err, errlen,
			    "%s%s %u (0x%lx-0x%lx) ends beyond the VM's memory "
			    "(0x%lx bytes)",
			    seg ? "image larger than the VM's memory: " : "", what,
			    idx, start, end, mem);
	if (overlaps(start, end, MB1_LOW_RAM_END, MB1_HIGH_RAM_START))
		return fail_msg(err, errlen,
			    "%s %u (0x%lx-0x%lx) overlaps the legacy hole "
			    "0x9fc00-0x100000, which is not RAM", what, idx, start, end);
	return true;
}

static bool check_segments(const struct parsed *pi, u64 mem, char *err,
			   size_t errlen)
{
	for (u32 i = 0; i < pi->nr_segs; i++) {
		const struct seg *a = &pi->segs[i];

		if (!check_range("segment", i, a->paddr, seg_end(a), mem, err,
				 errlen))
			return false;
		for (u32 j = 0; j < i; j++) {
			const struct seg *b = &pi->segs[j];

			if (overlaps(a->paddr, seg_end(a), b->paddr, seg_end(b)))
				return fail_msg(err, errlen,
					    "segments 0x%x-0x%lx and 0x%x-0x%lx overlap",
					    b->paddr, seg_end(b), a->paddr, seg_end(a));
		}
	}
	return true;
}

static bool parse_image(const void *image, size_t size, u64 mem,
			struct parsed *pi, char *err, size_t errlen)
{
	struct mb1_header h;
	size_t hdr_off = 0;

	memset(pi, 0, sizeof(*pi));
	if (!image)
		return fail_msg(err, errlen, "no image");
	if (!find_header(image, size, &h, &hdr_off, err, errlen) ||
	    !check_flags(h.flags, err, errlen))
		return false;
	pi->flags = h.flags;
	/* §3.1.3: with flag 16 the address fields are used even for ELF
	 * files (GRUB does the same). */
	if (h.flags & MB1_HEADER_AOUT_KLUDGE) {
		if (!parse_aout(&h, hdr_off, size, pi, err, errlen))
			return false;
	} else if (!parse_elf(image, size, pi, err, errlen)) {
		return false;
	}
	return check_segments(pi, mem, err, errlen);
}

static void fill_boot(const struct parsed *pi, struct mb1_boot *out)
{
	memset(out, 0, sizeof(*out));
	out->entry = pi->entry;
	out->eax = MB1_BOOTLOADER_MAGIC;
	out->aout_kludge = pi->aout;
	out->header_flags = pi->flags;
	out->nr_ranges = pi->nr_segs;
	for (u32 i = 0; i < pi->nr_segs; i++) {
		out->ranges[i].start = pi->segs[i].paddr;
		out->ranges[i].end = seg_end(&pi->segs[i]);
	}
}

bool mb1_probe(const void *image, size_t image_size, u64 guest_mem_bytes,
	       struct mb1_boot *out, char *err, size_t errlen)
{
	struct parsed pi;

	memset(out, 0, sizeof(*out));
	if (!parse_image(image, image_size, guest_mem_bytes, &pi, err, errlen))
		return false;
	fill_boot(&pi, out);
	return true;
}

/* --- modules ------------------------------------------------------------- */

/* Strings we copy into the guest have a sane length. */
static bool string_ok(const char *s)
{
	return !s || strnlen(s, MB1_MAX_STRING) < MB1_MAX_STRING;
}

/* The caller placed the modules; refuse placements the guest cannot use. */
static bool check_modules(const struct parsed *pi, u64 mem,
			  const struct mb1_guest_module *mods, u32 nr_mods,
			  char *err, size_t errlen)
{
	if (nr_mods > MB1_MAX_MODULES || (nr_mods && !mods))
		return fail_msg(err, errlen, "%u modules: at most %d supported",
			    nr_mods, MB1_MAX_MODULES);
	for (u32 i = 0; i < nr_mods; i++) {
		const struct mb1_guest_module *m = &mods[i];

		if (m->start > m->end)
			return fail_msg(err, errlen, "module %u: start 0x%lx > end 0x%lx",
				    i, m->start, m->end);
		/* mod_end is a u32 (§3.3), so the end must be below 4 GiB. */
		if (m->end >= FOUR_GIB)
			return fail_msg(err, errlen,
				    "module %u (0x%lx-0x%lx) ends at or above 4 GiB",
				    i, m->start, m->end);
		if (!check_range("module", i, m->start, m->end, mem, err, errlen))
			return false;
		if ((pi->flags & MB1_HEADER_PAGE_ALIGN) &&
		    !IS_ALIGNED(m->start, PAGE_SIZE))
			return fail_msg(err, errlen,
				    "module %u at 0x%lx is not page aligned, as the "
				    "image requires (header flag 0)", i, m->start);
		for (u32 j = 0; j < pi->nr_segs; j++)
			if (overlaps(m->start, m->end, pi->segs[j].paddr,
				     seg_end(&pi->segs[j])))
				return fail_msg(err, errlen,
					    "module %u (0x%lx-0x%lx) overlaps the image "
					    "at 0x%x-0x%lx", i, m->start, m->end,
					    pi->segs[j].paddr, seg_end(&pi->segs[j]));
		if (!string_ok(m->cmdline))
			return fail_msg(err, errlen,
				    "module %u string is longer than %d bytes", i,
				    MB1_MAX_STRING - 1);
	}
	return true;
}

/* --- the boot information block ------------------------------------------ */

/* Offsets inside the block: the struct, the memory map, the module array,
 * then the strings. */
struct info_layout {
	u32 nr_mmap;
	struct mb1_mmap_entry mmap[4];
	u32 mmap_off;
	u32 mods_off;
	u32 cmdline_off;
	u32 name_off;
	u32 modstr_off;	/* module strings follow one another from here */
	u32 size;
};

static void mmap_add(struct info_layout *l, u64 base, u64 len, u32 type)
{
	struct mb1_mmap_entry *e = &l->mmap[l->nr_mmap++];

	e->size = MB1_MMAP_ENTRY_MIN_SIZE;
	e->base_addr = base;
	e->length = len;
	e->type = type;
}

/* §3.3 memory map: conventional RAM, EBDA, BIOS ROM, RAM above 1 MiB. */
static void build_mmap(struct info_layout *l, u64 mem)
{
	u64 low_end = MIN(mem, MB1_LOW_RAM_END);

	if (low_end)
		mmap_add(l, 0, low_end, MB_MEMORY_AVAILABLE);
	mmap_add(l, MB1_LOW_RAM_END, MB1_EBDA_END - MB1_LOW_RAM_END,
		 MB_MEMORY_RESERVED);
	mmap_add(l, MB1_BIOS_START, MB1_HIGH_RAM_START - MB1_BIOS_START,
		 MB_MEMORY_RESERVED);
	if (mem > MB1_HIGH_RAM_START)
		mmap_add(l, MB1_HIGH_RAM_START, mem - MB1_HIGH_RAM_START,
			 MB_MEMORY_AVAILABLE);
}

static u32 str_size(const char *s)
{
	return s ? (u32)strlen(s) + 1 : 1;
}

static void plan_info(struct info_layout *l, u64 mem, const char *cmdline,
		      const struct mb1_guest_module *mods, u32 nr_mods)
{
	u32 off;

	memset(l, 0, sizeof(*l));
	build_mmap(l, mem);
	l->mmap_off = ALIGN_UP((u32)sizeof(struct mb1_info), 8u);
	l->mods_off = l->mmap_off + l->nr_mmap * (u32)sizeof(struct mb1_mmap_entry);
	off = l->mods_off + nr_mods * (u32)sizeof(struct mb1_module);
	l->cmdline_off = off;
	off += str_size(cmdline);
	l->name_off = off;
	off += str_size(MB1_LOADER_NAME);
	l->modstr_off = off;
	for (u32 i = 0; i < nr_mods; i++)
		off += str_size(mods[i].cmdline);
	l->size = off;
}

static bool range_free(const struct mem_range *occ, u32 n, u64 start, u64 end)
{
	for (u32 i = 0; i < n; i++)
		if (overlaps(start, end, occ[i].start, occ[i].end))
			return false;
	return true;
}

/* The lowest page-aligned start in [lo, hi) with size free bytes: candidates
 * are lo itself and the (aligned) end of every occupied range. */
static bool find_gap(const struct mem_range *occ, u32 n, u64 lo, u64 hi,
		     u64 size, u64 *where)
{
	bool found = false;

	lo = ALIGN_UP(lo, PAGE_SIZE);
	for (u32 i = 0; i <= n; i++) {
		u64 c = i == n ? lo : ALIGN_UP(occ[i].end, PAGE_SIZE);

		if (c < lo || c > hi || size > hi - c || (found && c >= *where))
			continue;
		if (range_free(occ, n, c, c + size)) {
			*where = c;
			found = true;
		}
	}
	return found;
}

/* Below 1 MiB but not in page 0 (the guest's real-mode IVT) if possible,
 * else above the highest segment (the top of the info block must stay below
 * 4 GiB: EBX and the pointers in it are 32-bit). */
static bool place_info(const struct parsed *pi, u64 mem,
		       const struct mb1_guest_module *mods, u32 nr_mods,
		       u64 size, u64 *where)
{
	struct mem_range occ[MB1_MAX_SEGMENTS + MB1_MAX_MODULES];
	u32 n = 0;
	u64 top = 0;

	for (u32 i = 0; i < pi->nr_segs; i++) {
		occ[n].start = pi->segs[i].paddr;
		occ[n++].end = seg_end(&pi->segs[i]);
		top = MAX(top, seg_end(&pi->segs[i]));
	}
	for (u32 i = 0; i < nr_mods; i++) {
		occ[n].start = mods[i].start;
		occ[n++].end = mods[i].end;
	}
	if (find_gap(occ, n, PAGE_SIZE, MIN(mem, MB1_LOW_RAM_END), size, where))
		return true;
	return find_gap(occ, n, MAX(top, MB1_HIGH_RAM_START),
			MIN(mem, FOUR_GIB), size, where);
}

static bool gwrite(const struct gpa_access *m, u64 gpa, const void *src,
		   size_t len, char *err, size_t errlen)
{
	if (len && !m->write(m->ctx, gpa, src, len))
		return fail_msg(err, errlen,
			    "cannot write guest memory at 0x%lx (0x%zx bytes)", gpa,
			    len);
	return true;
}

static bool gwrite_str(const struct gpa_access *m, u64 gpa, const char *s,
		       char *err, size_t errlen)
{
	return gwrite(m, gpa, s ? s : "", str_size(s), err, errlen);
}

static bool write_info(const struct gpa_access *m, u64 base, u64 mem,
		       const struct info_layout *l, const char *cmdline,
		       const struct mb1_guest_module *mods, u32 nr_mods,
		       char *err, size_t errlen)
{
	struct mb1_info info;
	u32 str = l->modstr_off;

	memset(&info, 0, sizeof(info));
	info.flags = MB1_INFO_MEMORY | MB1_INFO_MEM_MAP |
		     MB1_INFO_BOOT_LOADER_NAME;
	/* §3.3: mem_lower at most 640 KiB, mem_upper from 1 MiB, in KiB. */
	info.mem_lower = (u32)(MIN(mem, MB1_LOW_RAM_END) >> 10);
	info.mem_upper = mem > MB1_HIGH_RAM_START
		? (u32)MIN((mem - MB1_HIGH_RAM_START) >> 10, (u64)UINT32_MAX) : 0;
	info.mmap_addr = (u32)(base + l->mmap_off);
	info.mmap_length = l->nr_mmap * (u32)sizeof(struct mb1_mmap_entry);
	info.boot_loader_name = (u32)(base + l->name_off);
	if (cmdline) {
		info.flags |= MB1_INFO_CMDLINE;
		info.cmdline = (u32)(base + l->cmdline_off);
	}
	if (nr_mods) {
		info.flags |= MB1_INFO_MODS;
		info.mods_count = nr_mods;
		info.mods_addr = (u32)(base + l->mods_off);
	}
	for (u32 i = 0; i < nr_mods; i++) {
		struct mb1_module mod = {
			.mod_start = (u32)mods[i].start,
			.mod_end = (u32)mods[i].end,
			.string = (u32)(base + str),
		};

		if (!gwrite(m, base + l->mods_off + i * sizeof(mod), &mod,
			    sizeof(mod), err, errlen) ||
		    !gwrite_str(m, base + str, mods[i].cmdline, err, errlen))
			return false;
		str += str_size(mods[i].cmdline);
	}
	return gwrite(m, base + l->mmap_off, l->mmap,
		      l->nr_mmap * sizeof(l->mmap[0]), err, errlen) &&
	       gwrite_str(m, base + l->cmdline_off, cmdline, err, errlen) &&
	       gwrite_str(m, base + l->name_off, MB1_LOADER_NAME, err, errlen) &&
	       gwrite(m, base, &info, sizeof(info), err, errlen);
}

/* --- loading --------------------------------------------------------------- */

static bool load_segment(const struct gpa_access *m, const u8 *img,
			 const struct seg *s, char *err, size_t errlen)
{
	static const u8 zeros[512];
	u64 pa = (u64)s->paddr + s->filesz;
	u64 left = s->memsz - s->filesz;

	if (!gwrite(m, s->paddr, img + s->offset, s->filesz, err, errlen))
		return false;
	while (left) {
		size_t chunk = (size_t)MIN(left, (u64)sizeof(zeros));

		if (!gwrite(m, pa, zeros, chunk, err, errlen))
			return false;
		pa += chunk;
		left -= chunk;
	}
	return true;
}

bool mb1_load(const void *image, size_t image_size, u64 guest_mem_bytes,
	      const struct gpa_access *mem, const char *cmdline,
	      const struct mb1_guest_module *mods, u32 nr_mods,
	      struct mb1_boot *out, char *err, size_t errlen)
{
	struct info_layout l;
	struct parsed pi;
	u64 base;

	memset(out, 0, sizeof(*out));
	if (!parse_image(image, image_size, guest_mem_bytes, &pi, err, errlen) ||
	    !check_modules(&pi, guest_mem_bytes, mods, nr_mods, err, errlen))
		return false;
	if (!string_ok(cmdline))
		return fail_msg(err, errlen, "command line is longer than %d bytes",
			    MB1_MAX_STRING - 1);
	plan_info(&l, guest_mem_bytes, cmdline, mods, nr_mods);
	if (!place_info(&pi, guest_mem_bytes, mods, nr_mods, l.size, &base))
		return fail_msg(err, errlen,
			    "no room for the multiboot information (0x%x bytes) "
			    "outside the image and modules", l.size);
	for (u32 i = 0; i < pi.nr_segs; i++)
		if (!load_segment(mem, image, &pi.segs[i], err, errlen))
			return false;
	if (!write_info(mem, base, guest_mem_bytes, &l, cmdline, mods, nr_mods,
			err, errlen))
		return false;
	fill_boot(&pi, out);
	out->ebx = (u32)base;
	out->info.start = base;
	out->info.end = base + l.size;
	return true;
}
