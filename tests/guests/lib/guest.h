/* Umbra guest test library: freestanding helpers for small multiboot v1 test
 * kernels (32-bit protected mode). See tests/guests/README.md. */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define EXIT_PASS 0x10
#define EXIT_FAIL 0x11

/* GDT selectors (lib/entry.S). */
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18

/* ---- port I/O, CPU registers ---------------------------------------------- */
static inline void outb(u16 p, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { asm volatile("outw %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

struct cpuid_regs { u32 a, b, c, d; };
static inline struct cpuid_regs cpuid2(u32 leaf, u32 sub)
{
	struct cpuid_regs r;
	asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}
static inline struct cpuid_regs cpuid(u32 leaf) { return cpuid2(leaf, 0); }

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}
/* RDTSC ordered after all earlier instructions (LFENCE needs SSE2; every
 * x86-64 CPU has it). */
static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

#define DEF_CR(n)                                                                      \
	static inline u32 read_cr##n(void) { u32 v; asm volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
	static inline void write_cr##n(u32 v) { asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR

static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void pause(void) { asm volatile("pause"); }

#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_EFER 0xc0000080
#define EFER_LME (1u << 8)
#define EFER_NXE (1u << 11)

/* ---- console, results ------------------------------------------------------ */
void serial_putc(char c);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
/* Prints "  ok   MSG" or "  FAIL MSG" and counts failures; returns cond. */
bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern unsigned check_failures;
/* Prints "GUEST-RESULT: pass" (code 0x10) or "GUEST-RESULT: fail code=0xNN",
 * drains the UART and writes the code to port 0xf4; never returns. */
void guest_exit(u32 code) __attribute__((noreturn));
/* EXIT_PASS when no check failed, else EXIT_FAIL. */
u32 check_result(void);

/* ---- multiboot info, command line ----------------------------------------- */
struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
};
struct mb_mmap {
	u32 size;
	u64 base, len;
	u32 type;
} __attribute__((packed));
extern struct mb_info *mbi;
extern const char *cmdline; /* full multiboot command line ("" if none) */
extern char argv0[64];      /* first word, unless it is an option (has '=') */
/* Value of option KEY=value (pointer into cmdline, ends at a space), or NULL. */
const char *opt_str(const char *key);
u32 opt_u32(const char *key, u32 def); /* decimal or 0x-hex */
bool opt_word(const char *word);      /* a word equal to WORD is present */
/* i-th multiboot memory map entry; false past the end. */
bool mmap_entry(unsigned i, u64 *base, u64 *len, u32 *type);
extern char __image_start[], __image_end[], __bss_start[], __bss_end[];

/* Each guest defines this; its return value is the exit code. */
u32 guest_main(void);

/* ---- interrupts and expected faults -------------------------------------- */
struct frame {
	u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax; /* pusha */
	u32 vector, error, eip, cs, eflags;
};
typedef void (*handler_fn)(struct frame *f);
/* Handler for any vector (exceptions included); NULL restores the default. */
void set_handler(unsigned vector, handler_fn fn);
void idt_load(void);
/* Loads IDTR with the table idt_load built (application processors). */
void idt_reload(void);

/* Expected faults. Code that expects a fault stores the address to resume at
 * in fault_resume (one-shot) and the faulting instruction's address in
 * fault_insn; the default handler records the fault in last_fault and
 * continues at fault_resume. A fault with fault_resume == 0 is reported as
 * unexpected and the guest exits with 0x11. */
struct fault_rec {
	u32 vector, error, cr2, eip, count;
};
extern volatile struct fault_rec last_fault;
extern volatile u32 fault_resume, fault_insn;
/* asm(FAULT_ARM "insn" FAULT_DISARM ...): arms catching for one instruction
 * (labels 1 and 2 are used); compare last_fault.count before and after. */
#define FAULT_ARM "movl $1f, fault_resume\n\tmovl $2f, fault_insn\n2:\t"
#define FAULT_DISARM "\n1:\tmovl $0, fault_resume"

/* Each returns 0, or -1 when the access faulted (details in last_fault). */
int rdmsr_safe(u32 msr, u64 *val);
int wrmsr_safe(u32 msr, u64 val);
int probe_read32(u32 addr, u32 *val);
int probe_write32(u32 addr, u32 val);
/* Jumps to ADDR, which must hold the 2 bytes ff e1 ("jmp *%ecx", placed there
 * by probe_exec_code) to come back. */
int probe_exec(u32 addr);
extern const u8 probe_exec_code[2];

/* ---- paging --------------------------------------------------------------- */
enum pg_mode { PG_32, PG_PAE, PG_LM };
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define PG_4K 0x1000u
#define PG_2M 0x200000u
#define PG_4M 0x400000u
struct pgt {
	enum pg_mode mode;
	u32 root; /* CR3 value */
};
void *page_alloc(void); /* zeroed 4 KiB page from a static pool */
void pg_init(struct pgt *pt, enum pg_mode mode);
/* Maps one page of SIZE (4K; 4M for PG_32 with PSE; 2M otherwise). */
void pg_map(struct pgt *pt, u64 va, u64 pa, u32 size, u64 flags);
/* Identity-maps [0, bytes) with large pages. */
void pg_identity(struct pgt *pt, u32 bytes);
/* Pointer to the leaf entry for VA (u32 * for PG_32, u64 * otherwise) and its
 * value; NULL/0 when no leaf. */
void *pg_leaf(struct pgt *pt, u64 va);
u64 pg_get(struct pgt *pt, u64 va);
/* PG_32 and PG_PAE: loads CR3, sets CR4.PSE/PAE, CR0.PG|WP. */
void pg_enable(struct pgt *pt);
void pg_disable(void);
static inline void invlpg(u32 va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }

/* Long mode (lib/longmode.S): run a list of probes in 64-bit mode with the
 * 4-level table at PML4, then come back to 32-bit protected mode. */
enum { LM_READ, LM_WRITE, LM_EXEC };
struct lm_probe {
	u32 kind, pad;
	u64 addr;
	u64 value; /* read result / value to write */
	u32 vector, error; /* ~0u when no fault */
	u64 cr2;
};
struct lm_unexpected {
	u64 vector, error, rip, cr2; /* vector ~0 when none */
};
extern struct lm_unexpected lm_unexp;
void lm_run(u32 pml4, struct lm_probe *p, u32 n);

/* ---- x2APIC ---------------------------------------------------------------- */
#define X2APIC_ID 0x802
#define X2APIC_VER 0x803
#define X2APIC_TPR 0x808
#define X2APIC_EOI 0x80b
#define X2APIC_SVR 0x80f
#define X2APIC_LVT_TIMER 0x832
#define X2APIC_LVT_LINT0 0x835
#define X2APIC_TIMER_ICR 0x838
#define X2APIC_TIMER_CCR 0x839
#define X2APIC_TIMER_DCR 0x83e
#define LVT_MASKED (1u << 16)
#define LVT_ONESHOT (0u << 17)
#define LVT_PERIODIC (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)
bool x2apic_supported(void);
/* APIC_BASE EN|EXTD, SVR (enabled, SPURIOUS_VECTOR), TPR 0, LINT0 masked. */
void x2apic_enable(u32 spurious_vector);
/* Remaps the legacy 8259 PICs to vectors 0x20-0x2f and masks them (firmware
 * may have left the PIT unmasked at vector 8); harmless without a PIC. */
void pic_disable(void);
static inline void x2apic_eoi(void) { wrmsr(X2APIC_EOI, 0); }

/* ---- misc ------------------------------------------------------------------ */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* 64-by-32 division without libgcc. */
u64 udiv64(u64 n, u32 d, u32 *rem);
bool cpu_vendor_is(const char *v12);
bool under_umbra(void); /* CPUID 0x40000000 says "UmbraUmbraUm" */

#endif
