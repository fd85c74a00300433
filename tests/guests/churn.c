/* churn: process churn for shadow paging. A tiny OS with 32-bit paging
 * (PSE kernel pages; PAE with the `pae` option) that keeps building,
 * switching and tearing down address spaces:
 *
 * - The kernel identity-maps RAM below 1 GiB with global large pages
 *   (supervisor only) and gives every process its own page directory (PAE:
 *   its own PDPT and user page directory; the kernel directory is shared).
 *   User space lives at 0x40000000-0x7fffffff, in 4 KiB pages from a free
 *   list of frames (the multiboot map's free RAM above the image). Freed
 *   frames are poisoned; an allocation checks the poison (a write through a
 *   stale translation shows up) and zeroes the frame.
 * - Processes run in ring 3 (TSS, IRET) and call the kernel with int 0x80:
 *   fork, exec, exit, wait, yield, fail. Scheduling is cooperative, round
 *   robin; every switch to another process loads its CR3.
 * - init (pid 1) fills its data pages with a per-round pattern, forks
 *   procs=N children (fork copies the page tables, write-protects the
 *   writable user pages in both and shares the frames with reference
 *   counts), rewrites the upper half of its data (copy-on-write faults in
 *   the parent), waits for the children and checks its data is its own.
 * - Each child checks it sees init's data as at the fork, writes the lower
 *   half (copy-on-write faults, or the last sharer takes the page back),
 *   yields to its siblings, checks its writes and the untouched upper half,
 *   then execs: the kernel drops its mappings and maps a fresh image (code,
 *   arguments page, an initialised data page, a stack). The new program
 *   checks its data, reads and writes demand-zero heap pages (not-present
 *   faults), fills a stack page, yields, checks everything again and exits
 *   with a status derived from its pid. The kernel checks the accessed and
 *   dirty bits it left on every page, the status at wait, the copies made
 *   at copy-on-write faults, the page-fault error codes, and that the
 *   number of frames in use is the same at every round of init.
 *
 * One op is one fork + copy-on-write + exec + exit + wait cycle. At the end:
 *   churn: ops=N tsc_per_op=T page_faults=F
 * (T = TSC ticks per op from RDTSC around the whole run), a line of other
 * counters, the end checks, and the result (0x10; 0x11 on any mismatch,
 * unexpected fault or leak).
 *
 * Options: ops=N (default 200), procs=N children alive at once (default 3,
 * 1-16), pages=N data pages of init (default 8, 2-64), heap=N heap pages of
 * the exec'd program (default 4, 1-64), pae (PAE paging instead of 32-bit). */
#include "guest.h"
#include "pc.h"

/* ---- the user address space ----------------------------------------------- */
#define USER_BASE 0x40000000u /* user space: [USER_BASE, USER_END) */
#define USER_END 0x80000000u
/* Addresses below are written without suffixes: the user programs'
 * assembly uses them too. */
#define UCODE 0x40000000       /* the program image (one page, read-only) */
#define UARGS 0x40001000       /* the arguments page (read-only), below */
#define UDATA 0x40010000       /* data pages */
#define UHEAP 0x40800000       /* demand-zero heap (the exec'd program) */
#define USTACK_LOW 0x40ffe000  /* the lowest of the USTACK_PAGES stack pages */
#define USTACK_TOP 0x41000000
#define USTACK_PAGES 2
/* The arguments page, written by exec (addresses of its 32-bit words). */
#define UA_DATA_WORDS 0x40001000    /* words in init's data pages */
#define UA_PROCS 0x40001004         /* children per round */
#define UA_LO_WORDS 0x40001008      /* data: lower half (written by children) */
#define UA_HI_VA 0x4000100c         /* data: upper half (rewritten by init) */
#define UA_HI_WORDS 0x40001010
#define UA_HEAP_WORDS 0x40001014    /* the whole heap */
#define UA_HEAP_LO_WORDS 0x40001018 /* heap pages read before they are written */
#define UA_HEAP_HI_VA 0x4000101c    /* heap pages written first */
#define UA_HEAP_HI_WORDS 0x40001020

/* System calls: int 0x80, number in EAX, argument in EBX, result in EAX. */
#define SYS_FORK 1  /* EAX = child pid (0 in the child), -1 when no ops are left */
#define SYS_EXEC 2  /* EBX = program (PROG_EXEC); does not return */
#define SYS_EXIT 3  /* EBX = status */
#define SYS_WAIT 4  /* reaps a child: EAX = its pid, EDX = its status */
#define SYS_YIELD 5
#define SYS_FAIL 6  /* EBX = address, ECX = expected, EDX = found */

#define PROG_INIT 0
#define PROG_EXEC 1
#define EXIT_MAGIC 0x600d /* an exec'd program exits with pid ^ EXIT_MAGIC */

#define STR2(x) #x
#define STR(x) STR2(x)

/* ---- the user programs ------------------------------------------------------ *
 * One position-independent image copied into a fresh frame at UCODE by
 * every exec; PROG_INIT starts at churn_user_init, PROG_EXEC at
 * churn_user_exec (EBX = pid at the start). Data words hold
 * address ^ tag, so a page mapped at the wrong address or the wrong frame
 * does not match. A mismatch calls SYS_FAIL. */
asm(".pushsection .rodata\n"
    ".balign 16\n"
    ".globl churn_user_image, churn_user_init, churn_user_exec, churn_user_end\n"
    "churn_user_image:\n"

    /* cu_fill: the ECX words at EDI = their address ^ ESI (EAX, ECX, EDI). */
    "cu_fill:\n"
    "	testl %ecx, %ecx\n"
    "	jz 2f\n"
    "1:	movl %edi, %eax\n"
    "	xorl %esi, %eax\n"
    "	movl %eax, (%edi)\n"
    "	addl $4, %edi\n"
    "	decl %ecx\n"
    "	jnz 1b\n"
    "2:	ret\n"
    /* cu_verify: the ECX words at EDI hold their address ^ ESI. */
    "cu_verify:\n"
    "	testl %ecx, %ecx\n"
    "	jz 2f\n"
    "1:	movl %edi, %eax\n"
    "	xorl %esi, %eax\n"
    "	cmpl %eax, (%edi)\n"
    "	jne cu_mismatch\n"
    "	addl $4, %edi\n"
    "	decl %ecx\n"
    "	jnz 1b\n"
    "2:	ret\n"
    /* cu_verify_zero: the ECX words at EDI are zero. */
    "cu_verify_zero:\n"
    "	xorl %eax, %eax\n"
    "	testl %ecx, %ecx\n"
    "	jz 2f\n"
    "1:	cmpl %eax, (%edi)\n"
    "	jne cu_mismatch\n"
    "	addl $4, %edi\n"
    "	decl %ecx\n"
    "	jnz 1b\n"
    "2:	ret\n"
    /* The word at EDI is not EAX: tell the kernel (it ends the test). */
    "cu_mismatch:\n"
    "	movl (%edi), %edx\n"
    "	movl %eax, %ecx\n"
    "	movl %edi, %ebx\n"
    "	movl $" STR(SYS_FAIL) ", %eax\n"
    "	int $0x80\n"
    "	ud2\n"

    /* init: EBP = round, ESI = the round's tag, EBX = children forked. */
    "churn_user_init:\n"
    "	xorl %ebp, %ebp\n"
    "1:	incl %ebp\n"
    "	imull $0x9e3779b9, %ebp, %esi\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl " STR(UA_DATA_WORDS) ", %ecx\n"
    "	call cu_fill\n" /* write faults on the pages shared last round */
    "	xorl %ebx, %ebx\n"
    "2:	cmpl " STR(UA_PROCS) ", %ebx\n"
    "	jae 3f\n"
    "	movl $" STR(SYS_FORK) ", %eax\n"
    "	int $0x80\n"
    "	testl %eax, %eax\n"
    "	jz cu_child\n"
    "	js 3f\n" /* no ops left */
    "	incl %ebx\n"
    "	jmp 2b\n"
    "3:	pushl %ebx\n"
    /* The children have not run yet: they must keep the fork-time data. */
    "	notl %esi\n"
    "	movl " STR(UA_HI_VA) ", %edi\n"
    "	movl " STR(UA_HI_WORDS) ", %ecx\n"
    "	call cu_fill\n"
    "	notl %esi\n"
    "4:	testl %ebx, %ebx\n"
    "	jz 5f\n"
    "	movl $" STR(SYS_WAIT) ", %eax\n"
    "	int $0x80\n"
    "	decl %ebx\n"
    "	jmp 4b\n"
    /* The children's writes must not show in init's pages. */
    "5:	movl $" STR(UDATA) ", %edi\n"
    "	movl " STR(UA_LO_WORDS) ", %ecx\n"
    "	call cu_verify\n"
    "	notl %esi\n"
    "	movl " STR(UA_HI_VA) ", %edi\n"
    "	movl " STR(UA_HI_WORDS) ", %ecx\n"
    "	call cu_verify\n"
    "	popl %ebx\n"
    "	cmpl " STR(UA_PROCS) ", %ebx\n"
    "	jae 1b\n"
    "	movl $" STR(SYS_EXIT) ", %eax\n"
    "	xorl %ebx, %ebx\n"
    "	int $0x80\n"
    "	ud2\n"

    /* A child of init (EBX = its index in the round): EDX = its salt. */
    "cu_child:\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl " STR(UA_DATA_WORDS) ", %ecx\n"
    "	call cu_verify\n" /* init's data as at the fork */
    "	leal 1(%ebx), %edx\n"
    "	imull $0x2545f491, %edx, %edx\n"
    "	xorl %edx, %esi\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl " STR(UA_LO_WORDS) ", %ecx\n"
    "	call cu_fill\n" /* copy-on-write */
    "	movl $" STR(SYS_YIELD) ", %eax\n"
    "	int $0x80\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl " STR(UA_LO_WORDS) ", %ecx\n"
    "	call cu_verify\n" /* the siblings wrote theirs meanwhile */
    "	xorl %edx, %esi\n"
    "	movl " STR(UA_HI_VA) ", %edi\n"
    "	movl " STR(UA_HI_WORDS) ", %ecx\n"
    "	call cu_verify\n" /* not init's rewrite */
    "	movl $" STR(SYS_EXEC) ", %eax\n"
    "	movl $" STR(PROG_EXEC) ", %ebx\n"
    "	int $0x80\n"
    "	ud2\n"

    /* The exec'd program: EBP = pid, ESI = its tag. */
    "churn_user_exec:\n"
    "	movl %ebx, %ebp\n"
    "	imull $0x01000193, %ebp, %esi\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl $1024, %ecx\n"
    "	call cu_verify\n" /* the image's initialised data */
    "	movl $" STR(UHEAP) ", %edi\n"
    "	movl " STR(UA_HEAP_LO_WORDS) ", %ecx\n"
    "	call cu_verify_zero\n" /* demand-zero, read first */
    "	movl $" STR(UHEAP) ", %edi\n"
    "	movl " STR(UA_HEAP_LO_WORDS) ", %ecx\n"
    "	call cu_fill\n"
    "	movl " STR(UA_HEAP_HI_VA) ", %edi\n"
    "	movl " STR(UA_HEAP_HI_WORDS) ", %ecx\n"
    "	call cu_fill\n" /* demand-zero, written first */
    "	movl $" STR(USTACK_LOW) ", %edi\n"
    "	movl $1024, %ecx\n"
    "	call cu_verify_zero\n"
    "	movl $" STR(USTACK_LOW) ", %edi\n"
    "	movl $1024, %ecx\n"
    "	call cu_fill\n"
    "	movl $" STR(SYS_YIELD) ", %eax\n"
    "	int $0x80\n"
    "	movl $" STR(UDATA) ", %edi\n"
    "	movl $1024, %ecx\n"
    "	call cu_verify\n"
    "	movl $" STR(UHEAP) ", %edi\n"
    "	movl " STR(UA_HEAP_WORDS) ", %ecx\n"
    "	call cu_verify\n"
    "	movl $" STR(USTACK_LOW) ", %edi\n"
    "	movl $1024, %ecx\n"
    "	call cu_verify\n"
    "	movl %ebp, %ebx\n"
    "	xorl $" STR(EXIT_MAGIC) ", %ebx\n"
    "	movl $" STR(SYS_EXIT) ", %eax\n"
    "	int $0x80\n"
    "	ud2\n"
    "churn_user_end:\n"
    ".popsection\n");
extern const char churn_user_image[], churn_user_init[], churn_user_exec[], churn_user_end[];

/* ---- options, counters -------------------------------------------------- */
static bool pae;
static u32 opt_ops, opt_procs, opt_pages, opt_heap;
static struct {
	u32 ops, forks, execs, page_faults, cow_copies, cow_reuses, demand_faults;
	u32 cr3_loads, switches, max_alive;
} st;

static void print_counters(void)
{
	printf("churn: forks=%u execs=%u cow_copies=%u cow_reuses=%u demand_faults=%u "
	       "cr3_loads=%u switches=%u max_alive=%u\n", st.forks, st.execs, st.cow_copies,
	       st.cow_reuses, st.demand_faults, st.cr3_loads, st.switches, st.max_alive);
}

/* A failed check: prints it and ends the test. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	printf("  FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (op %u)\n", st.ops + 1);
	check_failures++;
	print_counters();
	guest_exit(check_result());
}

/* ---- whole-page string operations (DF is clear) --------------------------- */
static void page_fill(u32 pa, u32 v)
{
	u32 d = pa, n = 1024;
	asm volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(v) : "memory");
}

static void page_copy(u32 dst, u32 src)
{
	u32 d = dst, s = src, n = 1024;
	asm volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

/* The index of the first word of the page at PA that is not V, or 1024. */
static u32 page_find_not(u32 pa, u32 v)
{
	u32 d = pa, n = 1024;
	bool eq;
	asm volatile("repe scasl" : "+D"(d), "+c"(n), "=@ccz"(eq) : "a"(v) : "memory");
	return eq ? 1024 : 1023 - n;
}

static bool page_equal(u32 a, u32 b)
{
	u32 s = a, d = b, n = 1024;
	bool eq;
	asm volatile("repe cmpsl" : "+S"(s), "+D"(d), "+c"(n), "=@ccz"(eq) : : "memory");
	return eq;
}

/* ---- frames: a free list (LIFO) over one free region ----------------------- */
#define POOL_MAX 4096 /* 16 MiB of frames at most */
#define POISON 0xdeadbeefu /* a free frame at PA holds POISON ^ PA in every word */
static u32 pool_base, pool_frames, pool_bumped; /* [0, pool_bumped) handed out once */
static u32 free_list[POOL_MAX], free_count;
static u16 refcnt[POOL_MAX];
static u32 in_use, peak_in_use, allocs, reused, distinct;

static u32 frame_index(u32 pa)
{
	u32 i = (pa - pool_base) >> 12;
	if (pa < pool_base || (pa & 0xfff) || i >= pool_bumped)
		die("0x%x is not a frame of the pool", pa);
	return i;
}

/* A zeroed frame with reference count 1: the last one freed, else a new one. */
static u32 frame_alloc(void)
{
	u32 pa;
	if (free_count) {
		pa = free_list[--free_count];
		u32 w = page_find_not(pa, POISON ^ pa);
		if (w < 1024)
			die("free frame 0x%x was written at +0x%x (0x%x): a stale translation?", pa,
			    w * 4, ((u32 *)pa)[w]);
		reused++;
	} else {
		/* Never-used frames, skipping the multiboot info, command line, map. */
		do {
			if (pool_bumped == pool_frames)
				die("out of frames (%u in use)", in_use);
			pa = pool_base + (pool_bumped++ << 12);
		} while (!lowmem_range_free(pa, pa + PG_4K));
		distinct++;
	}
	page_fill(pa, 0);
	refcnt[frame_index(pa)] = 1;
	allocs++;
	if (++in_use > peak_in_use)
		peak_in_use = in_use;
	return pa;
}

static void frame_get(u32 pa)
{
	u16 *r = &refcnt[frame_index(pa)];
	if (!*r)
		die("sharing free frame 0x%x", pa);
	++*r;
}

/* Drops a reference; the last one poisons the frame and frees it. */
static void frame_put(u32 pa)
{
	u16 *r = &refcnt[frame_index(pa)];
	if (!*r)
		die("frame 0x%x freed twice", pa);
	if (--*r)
		return;
	page_fill(pa, POISON ^ pa);
	free_list[free_count++] = pa;
	in_use--;
}

/* Picks the largest free mmap region above the image and below USER_BASE;
 * returns how much RAM the kernel maps (a multiple of 4 MiB). */
static u32 pool_init(void)
{
	u64 base, len, best_lo = 0, best_hi = 0, top = 0;
	u32 type, start = ((u32)__image_end + 0xfff) & ~0xfffu;
	for (unsigned i = 0; mmap_entry(i, &base, &len, &type); i++) {
		if (type != 1)
			continue;
		u64 lo = base > start ? base : start, hi = base + len < USER_BASE ? base + len : USER_BASE;
		lo = (lo + 0xfff) & ~0xfffull;
		hi &= ~0xfffull;
		if (base + len > top)
			top = base + len;
		if (hi > lo && hi - lo > best_hi - best_lo) {
			best_lo = lo;
			best_hi = hi;
		}
	}
	if (best_hi - best_lo < 64 * PG_4K)
		die("no free memory above the image in the multiboot map");
	pool_base = (u32)best_lo;
	pool_frames = (u32)((best_hi - best_lo) >> 12);
	if (pool_frames > POOL_MAX)
		pool_frames = POOL_MAX;
	if (top > USER_BASE)
		top = USER_BASE;
	return ((u32)top + PG_4M - 1) & ~(PG_4M - 1);
}

/* ---- page tables ------------------------------------------------------------ *
 * 32-bit: a process's CR3 is its page directory: entries below
 * kernel_pdes map the kernel (copied from kroot), entries 256-511 user
 * space. PAE: its CR3 is a PDPT whose entry 0 is the shared kernel
 * directory and entry 1 the process's user directory (0x40000000-0x7fffffff).
 * Either way udir is the directory holding the user entries. */
#define PTE_G 0x100ull
#define PTE_COW 0x200ull /* software bit: a shared copy-on-write page */
#define USER_PDE (PTE_P | PTE_W | PTE_U)
#define CR4_PGE (1u << 7)
static u32 kroot;    /* CR3 with the kernel mapping only */
static u32 kpd;      /* PAE: the kernel's page directory */
static u32 kernel_pdes;
static u32 loaded_cr3;

static unsigned entries(void) { return pae ? 512 : 1024; }
static unsigned user_pde_first(void) { return pae ? 0 : USER_BASE >> 22; }
static unsigned pde_of(u32 va) { return pae ? (va >> 21) & 511 : va >> 22; }
static unsigned pte_of(u32 va) { return (va >> 12) & (entries() - 1); }
static u32 va_of(unsigned pde, unsigned pte)
{
	return pae ? USER_BASE + (pde << 21) + (pte << 12) : (pde << 22) + (pte << 12);
}
static u32 entry_frame(u64 e) { return (u32)e & ~0xfffu; }

static u64 entry_get(u32 table, unsigned i)
{
	if (!pae)
		return ((volatile u32 *)table)[i];
	volatile u32 *p = (volatile u32 *)table + 2 * i;
	return p[0] | ((u64)p[1] << 32);
}

/* PAE entries are written a half at a time, the half with P last when it
 * becomes present and first when it goes away (as 32-bit Linux does). */
static void entry_set(u32 table, unsigned i, u64 v)
{
	if (!pae) {
		((volatile u32 *)table)[i] = (u32)v;
		return;
	}
	volatile u32 *p = (volatile u32 *)table + 2 * i;
	if (v & PTE_P) {
		p[1] = (u32)(v >> 32);
		p[0] = (u32)v;
	} else {
		p[0] = (u32)v;
		p[1] = (u32)(v >> 32);
	}
}

static void load_cr3(u32 root)
{
	write_cr3(root);
	loaded_cr3 = root;
	st.cr3_loads++;
}

/* kroot and the kernel mapping: [0, bytes) identity-mapped, global,
 * supervisor-only large pages. */
static void kernel_map_init(u32 bytes, bool global)
{
	u64 flags = PTE_P | PTE_W | PTE_PS | (global ? PTE_G : 0);
	if (pae) {
		kpd = frame_alloc();
		for (u32 i = 0; i < bytes / PG_2M; i++)
			entry_set(kpd, i, (u64)i * PG_2M | flags);
		kroot = frame_alloc();
		entry_set(kroot, 0, kpd | PTE_P);
	} else {
		kroot = frame_alloc();
		kernel_pdes = bytes / PG_4M;
		for (u32 i = 0; i < kernel_pdes; i++)
			entry_set(kroot, i, (u64)i * PG_4M | flags);
	}
}

/* ---- processes ----------------------------------------------------------------- */
/* The user state, as the interrupt stubs leave it (with ring 3's ESP, SS). */
struct uframe {
	struct frame f;
	u32 esp, ss;
};
enum pstate { P_FREE, P_RUNNABLE, P_WAITING, P_ZOMBIE };
struct proc {
	enum pstate state;
	u32 pid, status, prog;
	struct proc *parent;
	u32 root, udir;
	struct uframe regs;
};
#define MAX_PROCS 17 /* init and up to 16 children */
static struct proc procs[MAX_PROCS];
static struct proc *cur;
static u32 next_pid = 1, alive, steady_in_use;

/* An empty address space (the kernel mapping only). */
static void as_create(struct proc *p)
{
	p->root = frame_alloc();
	if (pae) {
		p->udir = frame_alloc();
		entry_set(p->root, 0, kpd | PTE_P);
		entry_set(p->root, 1, p->udir | PTE_P);
	} else {
		p->udir = p->root;
		for (u32 i = 0; i < kernel_pdes; i++)
			entry_set(p->root, i, entry_get(kroot, i));
	}
}

/* The page table holding VA's entry; 0 if absent (CREATE: allocate it). */
static u32 pt_of(struct proc *p, u32 va, bool create)
{
	u64 pde = entry_get(p->udir, pde_of(va));
	if (pde & PTE_P)
		return entry_frame(pde);
	if (!create)
		return 0;
	u32 pt = frame_alloc();
	entry_set(p->udir, pde_of(va), pt | USER_PDE);
	return pt;
}

static void map_page(struct proc *p, u32 va, u32 pa, u64 flags)
{
	entry_set(pt_of(p, va, true), pte_of(va), pa | flags);
}

static u64 pte_get(struct proc *p, u32 va)
{
	u32 pt = pt_of(p, va, false);
	return pt ? entry_get(pt, pte_of(va)) : 0;
}

/* The accessed/dirty bits an exec'd program leaves: it reads its code,
 * arguments and data page, and writes its heap and stack. */
static void check_ad(struct proc *p, u32 va, u64 e)
{
	u64 want = va >= UHEAP ? PTE_A | PTE_D : PTE_A;
	if ((e & (PTE_A | PTE_D)) != want)
		die("pid %u: page 0x%x has A=%u D=%u at exit (entry 0x%llx), want A=%u D=%u",
		    p->pid, va, (u32)(e >> 5) & 1, (u32)(e >> 6) & 1, e, (u32)(want >> 5) & 1,
		    (u32)(want >> 6) & 1);
}

/* Drops every user mapping and page table of P (CR3 no longer holds P's
 * root). CHECK: check the accessed and dirty bits first. */
static void as_clear(struct proc *p, bool check)
{
	for (unsigned i = user_pde_first(); i < entries(); i++) {
		u64 pde = entry_get(p->udir, i);
		if (!(pde & PTE_P))
			continue;
		u32 pt = entry_frame(pde);
		for (unsigned j = 0; j < entries(); j++) {
			u64 e = entry_get(pt, j);
			if (!(e & PTE_P))
				continue;
			if (check)
				check_ad(p, va_of(i, j), e);
			frame_put(entry_frame(e));
		}
		entry_set(p->udir, i, 0);
		frame_put(pt);
	}
}

static void as_destroy(struct proc *p)
{
	as_clear(p, p->prog == PROG_EXEC);
	if (pae)
		frame_put(p->udir);
	frame_put(p->root);
	p->root = p->udir = 0;
}

/* Copies the parent's page tables into the child's: writable pages become
 * read-only copy-on-write pages in both; every frame gains a reference.
 * The caller flushes the parent's TLB. */
static void as_fork(struct proc *parent, struct proc *child)
{
	as_create(child);
	for (unsigned i = user_pde_first(); i < entries(); i++) {
		u64 pde = entry_get(parent->udir, i);
		if (!(pde & PTE_P))
			continue;
		u32 ppt = entry_frame(pde), cpt = frame_alloc();
		for (unsigned j = 0; j < entries(); j++) {
			u64 e = entry_get(ppt, j);
			if (!(e & PTE_P))
				continue;
			if (e & (PTE_W | PTE_COW)) {
				e = (e & ~PTE_W) | PTE_COW;
				entry_set(ppt, j, e);
			}
			entry_set(cpt, j, e);
			frame_get(entry_frame(e));
		}
		entry_set(child->udir, i, cpt | USER_PDE);
	}
}

/* Maps a fresh image of PROG into P (an empty user space) and sets up its
 * registers: code, the arguments page, data (init: opt_pages zeroed pages;
 * PROG_EXEC: one page of address ^ (pid * 0x01000193)) and the stack. The
 * heap is mapped by page faults. */
static void load_program(struct proc *p, u32 prog)
{
	u32 size = (u32)(churn_user_end - churn_user_image), pa = frame_alloc();
	memcpy((void *)pa, churn_user_image, size);
	map_page(p, UCODE, pa, PTE_P | PTE_U);

	u32 *a = (u32 *)(pa = frame_alloc());
	u32 lo = opt_pages / 2, heap_lo = opt_heap / 2;
	a[(UA_DATA_WORDS - UARGS) / 4] = opt_pages * 1024;
	a[(UA_PROCS - UARGS) / 4] = opt_procs;
	a[(UA_LO_WORDS - UARGS) / 4] = lo * 1024;
	a[(UA_HI_VA - UARGS) / 4] = UDATA + lo * PG_4K;
	a[(UA_HI_WORDS - UARGS) / 4] = (opt_pages - lo) * 1024;
	a[(UA_HEAP_WORDS - UARGS) / 4] = opt_heap * 1024;
	a[(UA_HEAP_LO_WORDS - UARGS) / 4] = heap_lo * 1024;
	a[(UA_HEAP_HI_VA - UARGS) / 4] = UHEAP + heap_lo * PG_4K;
	a[(UA_HEAP_HI_WORDS - UARGS) / 4] = (opt_heap - heap_lo) * 1024;
	map_page(p, UARGS, pa, PTE_P | PTE_U);

	if (prog == PROG_INIT) {
		for (u32 i = 0; i < opt_pages; i++)
			map_page(p, UDATA + i * PG_4K, frame_alloc(), PTE_P | PTE_W | PTE_U);
	} else {
		u32 *d = (u32 *)(pa = frame_alloc()), tag = p->pid * 0x01000193u;
		for (u32 i = 0; i < 1024; i++)
			d[i] = (UDATA + i * 4) ^ tag;
		map_page(p, UDATA, pa, PTE_P | PTE_W | PTE_U);
	}
	for (u32 i = 0; i < USTACK_PAGES; i++)
		map_page(p, USTACK_LOW + i * PG_4K, frame_alloc(), PTE_P | PTE_W | PTE_U);

	memset(&p->regs, 0, sizeof(p->regs));
	p->regs.f.eip = UCODE + (u32)((prog == PROG_INIT ? churn_user_init : churn_user_exec) -
				      churn_user_image);
	p->regs.f.cs = 0x23;   /* SEL_UCODE */
	p->regs.f.eflags = 0x2; /* interrupts stay off */
	p->regs.f.ebx = p->pid;
	p->regs.esp = USTACK_TOP;
	p->regs.ss = 0x2b;     /* SEL_UDATA */
	p->prog = prog;
}

/* ---- system calls -------------------------------------------------------------- */
static void sys_fork(struct proc *p)
{
	if (st.forks == opt_ops) {
		p->regs.f.eax = (u32)-1;
		return;
	}
	/* init forks with no child alive once per round: its frame count,
	 * and so everyone's, must be back where it was. */
	if (p->pid == 1 && alive == 1) {
		if (!steady_in_use)
			steady_in_use = in_use;
		else if (in_use != steady_in_use)
			die("%u frames in use at the start of a round, %u at the first: a leak", in_use,
			    steady_in_use);
	}
	struct proc *c = NULL;
	for (u32 i = 0; i < MAX_PROCS && !c; i++)
		if (procs[i].state == P_FREE)
			c = &procs[i];
	if (!c)
		die("process table full");
	c->pid = ++next_pid;
	c->parent = p;
	c->prog = p->prog;
	as_fork(p, c);
	load_cr3(p->root); /* the parent's pages are read-only now */
	c->regs = p->regs;
	c->regs.f.eax = 0;
	p->regs.f.eax = c->pid;
	c->state = P_RUNNABLE;
	st.forks++;
	if (++alive > st.max_alive)
		st.max_alive = alive;
}

static void sys_exec(struct proc *p, u32 prog)
{
	if (prog != PROG_EXEC)
		die("pid %u: exec of program %u", p->pid, prog);
	load_cr3(kroot);
	as_clear(p, false);
	load_program(p, prog);
	load_cr3(p->root);
	st.execs++;
}

/* Hands the zombie child to its waiting parent, checking its status. */
static void reap(struct proc *parent, struct proc *child)
{
	if (child->status != (child->pid ^ EXIT_MAGIC))
		die("pid %u exited with 0x%x, want 0x%x", child->pid, child->status,
		    child->pid ^ EXIT_MAGIC);
	parent->regs.f.eax = child->pid;
	parent->regs.f.edx = child->status;
	child->state = P_FREE;
	alive--;
	st.ops++;
}

static void sys_exit(struct proc *p, u32 status)
{
	load_cr3(kroot); /* before its tables are freed */
	as_destroy(p);
	p->status = status;
	if (!p->parent) { /* init */
		if (status)
			die("init exited with %u", status);
		p->state = P_FREE;
		alive--;
		return;
	}
	p->state = P_ZOMBIE;
	if (p->parent->state == P_WAITING) {
		reap(p->parent, p);
		p->parent->state = P_RUNNABLE;
	}
}

/* Returns true when P has to wait. */
static bool sys_wait(struct proc *p)
{
	bool children = false;
	for (u32 i = 0; i < MAX_PROCS; i++) {
		struct proc *c = &procs[i];
		if (c->state == P_FREE || c->parent != p)
			continue;
		if (c->state == P_ZOMBIE) {
			reap(p, c);
			return false;
		}
		children = true;
	}
	if (!children)
		die("pid %u waits without children", p->pid);
	p->state = P_WAITING;
	return true;
}

static void __attribute__((noreturn)) user_fail(struct proc *p, u32 va, u32 want, u32 got)
{
	u64 e = pte_get(p, va);
	printf("pid %u (%s): word at 0x%x is 0x%x, want 0x%x; its entry 0x%llx", p->pid,
	       p->prog == PROG_INIT ? (p->pid == 1 ? "init" : "forked") : "exec'd", va, got, want, e);
	if (e & PTE_P)
		printf(", frame word 0x%x", *(u32 *)(entry_frame(e) + (va & 0xfff)));
	printf("\n");
	die("wrong data in user memory (a wrong translation or copy)");
}

/* The next runnable process after P (P itself last); NULL if none. */
static struct proc *pick_next(struct proc *p)
{
	u32 at = (u32)(p - procs);
	for (u32 k = 1; k <= MAX_PROCS; k++) {
		struct proc *q = &procs[(at + k) % MAX_PROCS];
		if (q->state == P_RUNNABLE)
			return q;
	}
	return NULL;
}

void churn_enter_user(struct uframe *f);
void churn_leave_user(void) __attribute__((noreturn));

static void syscall_handler(struct frame *f)
{
	struct uframe *u = (struct uframe *)f;
	struct proc *p = cur;
	if ((f->cs & 3) != 3)
		die("int 0x80 from ring 0");
	p->regs = *u;
	bool resched = false;
	switch (f->eax) {
	case SYS_FORK:
		sys_fork(p);
		break;
	case SYS_EXEC:
		sys_exec(p, f->ebx);
		break;
	case SYS_EXIT:
		sys_exit(p, f->ebx);
		resched = true;
		break;
	case SYS_WAIT:
		resched = sys_wait(p);
		break;
	case SYS_YIELD:
		resched = true;
		break;
	case SYS_FAIL:
		user_fail(p, f->ebx, f->ecx, f->edx);
	default:
		die("pid %u: unknown system call %u", p->pid, f->eax);
	}
	struct proc *next = resched ? pick_next(p) : p;
	if (!next) {
		if (alive)
			die("%u processes alive, none runnable", alive);
		churn_leave_user(); /* init has exited */
	}
	if (next != p)
		st.switches++;
	if (loaded_cr3 != next->root)
		load_cr3(next->root);
	cur = next;
	*u = next->regs;
}

/* Copy-on-write and demand-zero faults; anything else fails the test. */
static void page_fault_handler(struct frame *f)
{
	u32 va = read_cr2(), err = f->error;
	struct proc *p = cur;
	st.page_faults++;
	if ((f->cs & 3) != 3)
		die("kernel page fault at 0x%x (error 0x%x, eip 0x%x)", va, err, f->eip);
	u32 pt = va >= USER_BASE && va < USER_END ? pt_of(p, va, true) : 0;
	u64 e = pt ? entry_get(pt, pte_of(va)) : 0;
	if (pt && err == (PTE_U | PTE_W | PTE_P) && (e & PTE_P) && (e & PTE_COW) && !(e & PTE_W)) {
		u32 old = entry_frame(e);
		if (refcnt[frame_index(old)] == 1) { /* the last sharer keeps it */
			e = (e & ~PTE_COW) | PTE_W;
			st.cow_reuses++;
		} else {
			u32 copy = frame_alloc();
			page_copy(copy, old);
			if (!page_equal(copy, old))
				die("copy of frame 0x%x to 0x%x differs", old, copy);
			frame_put(old);
			e = copy | (e & 0xfff & ~PTE_COW) | PTE_W;
			st.cow_copies++;
		}
		entry_set(pt, pte_of(va), e);
		invlpg(va);
		return;
	}
	if (pt && (err & ~PTE_W) == PTE_U && !(e & PTE_P) && p->prog == PROG_EXEC && va >= UHEAP &&
	    va < UHEAP + opt_heap * PG_4K) {
		entry_set(pt, pte_of(va), frame_alloc() | PTE_P | PTE_W | PTE_U);
		st.demand_faults++;
		return;
	}
	die("pid %u: unexpected page fault at 0x%x, error 0x%x, eip 0x%x, entry 0x%llx", p->pid, va,
	    err, f->eip, e);
}

/* ---- CPU set-up: GDT with user segments and a TSS, int 0x80 for ring 3 ----- */
struct tss {
	u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, es, cs, ss, ds, fs, gs, ldt;
	u16 trap, iomap;
} __attribute__((packed));
static struct tss tss;
static u64 gdt[7] __attribute__((aligned(8)));
static u8 trap_stack[8192] __attribute__((aligned(16)));
u32 churn_kernel_esp; /* the kernel's stack while user processes run */

/* Enters ring 3 with the state in F; churn_leave_user returns from it. */
asm(".pushsection .text\n"
    ".globl churn_enter_user, churn_leave_user\n"
    "churn_enter_user:\n"
    "	pushl %ebp\n"
    "	pushl %ebx\n"
    "	pushl %esi\n"
    "	pushl %edi\n"
    "	movl %esp, churn_kernel_esp\n"
    "	movl 20(%esp), %esp\n"
    "	movw $0x2b, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %fs\n"
    "	movw %ax, %gs\n"
    "	popal\n"
    "	addl $8, %esp\n" /* vector, error code */
    "	iretl\n"
    "churn_leave_user:\n"
    "	movl churn_kernel_esp, %esp\n"
    "	movw $0x10, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %fs\n"
    "	movw %ax, %gs\n"
    "	popl %edi\n"
    "	popl %esi\n"
    "	popl %ebx\n"
    "	popl %ebp\n"
    "	ret\n"
    ".popsection\n");

static void cpu_setup(void)
{
	gdt[1] = 0x00cf9a000000ffffull; /* 0x08 code32 (as lib/entry.S) */
	gdt[2] = 0x00cf92000000ffffull; /* 0x10 data */
	gdt[3] = 0x00af9a000000ffffull; /* 0x18 code64 */
	gdt[4] = 0x00cffa000000ffffull; /* 0x23 user code */
	gdt[5] = 0x00cff2000000ffffull; /* 0x2b user data */
	u32 b = (u32)&tss, l = sizeof(tss) - 1;
	gdt[6] = (l & 0xffff) | (u64)(b & 0xffffff) << 16 | 0x89ull << 40 | /* 0x30 TSS */
		 (u64)((l >> 16) & 0xf) << 48 | (u64)(b >> 24) << 56;
	tss.ss0 = SEL_DATA;
	tss.esp0 = (u32)trap_stack + sizeof(trap_stack);
	tss.iomap = sizeof(tss); /* no I/O bitmap */
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) d = { sizeof(gdt) - 1, (u32)gdt }, idtr;
	asm volatile("lgdt %0\n\t"
		     "ljmp $0x08, $1f\n"
		     "1:\tmovw $0x10, %%ax\n\t"
		     "movw %%ax, %%ds\n\tmovw %%ax, %%es\n\tmovw %%ax, %%ss\n\t"
		     "movw $0x30, %%ax\n\tltr %%ax" : : "m"(d) : "eax", "memory");
	asm volatile("sidt %0" : "=m"(idtr));
	((u8 *)idtr.base)[0x80 * 8 + 5] = 0xee; /* int 0x80: DPL 3 */
	set_handler(0x80, syscall_handler);
	set_handler(14, page_fault_handler);
}

u32 guest_main(void)
{
	pae = opt_word("pae");
	opt_ops = opt_u32("ops", 200);
	opt_procs = opt_u32("procs", 3);
	opt_pages = opt_u32("pages", 8);
	opt_heap = opt_u32("heap", 4);
	if (opt_ops < 1 || opt_procs < 1 || opt_procs > MAX_PROCS - 1 || opt_pages < 2 ||
	    opt_pages > 64 || opt_heap < 1 || opt_heap > 64) {
		printf("bad options: ops>=1, procs=1-%u, pages=2-64, heap=1-64\n", MAX_PROCS - 1);
		return EXIT_FAIL;
	}
	struct cpuid_regs c1 = cpuid(1);
	if (!(c1.d & (pae ? 1u << 6 : 1u << 3))) {
		printf("no %s in CPUID\n", pae ? "PAE" : "PSE");
		return EXIT_FAIL;
	}
	bool pge = c1.d & (1u << 13);
	u32 ram = pool_init();
	printf("churn (%s): %s paging, ops=%u procs=%u pages=%u heap=%u, %u MiB mapped, "
	       "%u frames at 0x%x%s\n", argv0, pae ? "PAE" : "32-bit", opt_ops, opt_procs, opt_pages,
	       opt_heap, ram >> 20, pool_frames, pool_base, pge ? ", global kernel pages" : "");

	cpu_setup();
	kernel_map_init(ram, pge);
	u32 kernel_frames = in_use;
	struct pgt kp = { pae ? PG_PAE : PG_32, kroot };
	pg_enable(&kp);
	if (pge)
		write_cr4(read_cr4() | CR4_PGE);
	loaded_cr3 = kroot;

	struct proc *init = &procs[0];
	init->pid = next_pid;
	as_create(init);
	load_program(init, PROG_INIT);
	init->state = P_RUNNABLE;
	alive = 1;
	cur = init;
	load_cr3(init->root);
	static struct uframe first;
	first = init->regs;
	u64 t0 = rdtsc_ordered();
	churn_enter_user(&first);
	u64 ticks = rdtsc_ordered() - t0;

	printf("churn: ops=%u tsc_per_op=%llu page_faults=%u\n", st.ops,
	       udiv64(ticks, st.ops ? st.ops : 1, NULL), st.page_faults);
	print_counters();
	u32 live = 0;
	for (u32 i = 0; i < pool_bumped; i++)
		live += refcnt[i] != 0;
	check(st.ops == opt_ops && st.execs == opt_ops, "%u ops (fork, copy-on-write, exec, exit, wait)",
	      st.ops);
	check(in_use == kernel_frames && live == in_use,
	      "every process frame freed (%u in use, %u with references, kernel %u)", in_use, live,
	      kernel_frames);
	check(reused > 0 && distinct == peak_in_use,
	      "freed frames reused: %u of %u allocations, %u distinct frames = peak in use %u", reused,
	      allocs, distinct, peak_in_use);
	check(st.cow_copies >= opt_ops * (opt_pages / 2) && st.demand_faults == opt_ops * opt_heap,
	      "%u copy-on-write copies, %u demand-zero faults", st.cow_copies, st.demand_faults);
	return check_result();
}
