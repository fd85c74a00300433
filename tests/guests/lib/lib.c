/* Guest library: serial console, printf, results and exit, multiboot info and
 * command line, IDT with expected-fault catching, small helpers. */
#include "guest.h"

#define COM1 0x3f8
#define MB_BOOT_MAGIC 0x2badb002

/* ---- string helpers (the compiler may call these) -------------------------- */
void *memset(void *d, int c, size_t n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++)
		if (*a != *b || !*a)
			return (u8)*a - (u8)*b;
	return 0;
}

u64 udiv64(u64 n, u32 d, u32 *rem)
{
	u32 hi = (u32)(n >> 32), lo = (u32)n, qhi = hi / d, r = hi % d, qlo;
	asm("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	if (rem)
		*rem = r;
	return ((u64)qhi << 32) | qlo;
}

/* ---- serial console (8250 at COM1) ------------------------------------------ */
static void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	for (u32 i = 0; i < 1000000 && !(inb(COM1 + 5) & 0x20); i++)
		pause();
	outb(COM1, (u8)c);
}

static void serial_drain(void)
{
	for (u32 i = 0; i < 1000000 && !(inb(COM1 + 5) & 0x40); i++)
		pause();
}

/* ---- printf ------------------------------------------------------------------ */
static void put_num(u64 v, unsigned base, bool upper, bool neg, int width, char pad, bool left)
{
	char buf[24];
	int n = 0;
	do {
		u32 r;
		v = udiv64(v, base, &r);
		buf[n++] = (char)(r < 10 ? '0' + r : (upper ? 'A' : 'a') + r - 10);
	} while (v);
	if (neg)
		buf[n++] = '-';
	int fill = width > n ? width - n : 0;
	if (!left && pad == '0' && neg) { /* sign goes before zero padding */
		serial_putc('-');
		n--;
	}
	if (!left)
		while (fill--)
			serial_putc(pad);
	while (n)
		serial_putc(buf[--n]);
	if (left)
		while (fill-- > 0)
			serial_putc(' ');
}

int vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		bool left = false;
		char pad = ' ';
		int width = 0, lng = 0;
		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = true;
			else
				pad = '0';
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l'; fmt++)
			lng++;
		u64 v;
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long s = lng >= 2 ? va_arg(ap, long long) : va_arg(ap, int);
			put_num(s < 0 ? -(u64)s : (u64)s, 10, false, s < 0, width, pad, left);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lng >= 2 ? va_arg(ap, u64) : va_arg(ap, unsigned);
			put_num(v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad, left);
			break;
		case 'p':
			serial_putc('0');
			serial_putc('x');
			put_num((uintptr_t)va_arg(ap, void *), 16, false, false, 8, '0', false);
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n = (int)strlen(s ? s : "(null)");
			if (!left)
				for (; width > n; width--)
					serial_putc(' ');
			for (s = s ? s : "(null)"; *s; s++)
				serial_putc(*s);
			for (; width > n; width--)
				serial_putc(' ');
			break;
		}
		case '%':
			serial_putc('%');
			break;
		default:
			if (!*fmt)
				return 0;
			serial_putc('%');
			serial_putc(*fmt);
		}
	}
	return 0;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- results ----------------------------------------------------------------- */
unsigned check_failures;

bool check(bool cond, const char *fmt, ...)
{
	va_list ap;
	printf(cond ? "  ok   " : "  FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	if (!cond)
		check_failures++;
	return cond;
}

u32 check_result(void)
{
	printf("%u check(s) failed\n", check_failures);
	return check_failures ? EXIT_FAIL : EXIT_PASS;
}

void guest_exit(u32 code)
{
	if (code == EXIT_PASS)
		printf("GUEST-RESULT: pass\n");
	else
		printf("GUEST-RESULT: fail code=0x%x\n", code);
	serial_drain();
	outl(0xf4, code); /* QEMU isa-debug-exit / Umbra's debug-exit port */
	for (const char *s = "Shutdown"; *s; s++) /* Bochs: leave the emulator */
		outb(0x8900, (u8)*s);
	for (;;)
		asm volatile("cli; hlt");
}

/* ---- multiboot info and command line --------------------------------------- */
struct mb_info *mbi;
const char *cmdline = "";
char argv0[64];

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static const char *find_word(const char *prefix, bool whole)
{
	size_t n = strlen(prefix);
	for (const char *p = cmdline; *p;) {
		while (is_space(*p))
			p++;
		if (!strncmp(p, prefix, n) && (!whole || !p[n] || is_space(p[n])))
			return p + n;
		while (*p && !is_space(*p))
			p++;
	}
	return NULL;
}

const char *opt_str(const char *key)
{
	char buf[40];
	size_t n = strlen(key);
	if (n + 2 > sizeof(buf))
		return NULL;
	memcpy(buf, key, n);
	buf[n] = '=';
	buf[n + 1] = 0;
	return find_word(buf, false);
}

u32 opt_u32(const char *key, u32 def)
{
	const char *s = opt_str(key);
	if (!s || !*s || is_space(*s))
		return def;
	u32 v = 0, base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s && !is_space(*s); s++) {
		u32 d = *s >= '0' && *s <= '9' ? (u32)(*s - '0')
			: (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f' ? (u32)((*s | 0x20) - 'a' + 10) : 99;
		if (d >= base)
			return def;
		v = v * base + d;
	}
	return v;
}

bool opt_word(const char *word) { return find_word(word, true) != NULL; }

bool mmap_entry(unsigned i, u64 *base, u64 *len, u32 *type)
{
	if (!(mbi->flags & (1u << 6)))
		return false;
	u32 p = mbi->mmap_addr, end = p + mbi->mmap_length;
	for (; p + 24 <= end && ((struct mb_mmap *)p)->size >= 20; p += ((struct mb_mmap *)p)->size + 4) {
		if (i-- == 0) {
			struct mb_mmap *e = (struct mb_mmap *)p;
			*base = e->base;
			*len = e->len;
			*type = e->type;
			return true;
		}
	}
	return false;
}

void guest_start(u32 magic, struct mb_info *info);
void guest_start(u32 magic, struct mb_info *info)
{
	serial_init();
	idt_load();
	if (magic != MB_BOOT_MAGIC) {
		printf("bad multiboot magic 0x%x (want 0x%x)\n", magic, MB_BOOT_MAGIC);
		guest_exit(EXIT_FAIL);
	}
	mbi = info;
	if ((info->flags & (1u << 2)) && info->cmdline)
		cmdline = (const char *)info->cmdline;
	const char *p = cmdline;
	while (is_space(*p))
		p++;
	size_t n = 0;
	bool opt = false;
	for (; p[n] && !is_space(p[n]); n++)
		opt |= p[n] == '=';
	if (opt || n == 0 || n >= sizeof(argv0))
		memcpy(argv0, "(none)", 7);
	else
		memcpy(argv0, p, n);
	guest_exit(guest_main());
}

/* ---- IDT and faults ------------------------------------------------------------ */
struct gate {
	u16 off_lo, sel;
	u8 zero, type;
	u16 off_hi;
} __attribute__((packed));
static struct gate idt[256];
static handler_fn handlers[256];
extern char isr_stubs[];
volatile struct fault_rec last_fault;
volatile u32 fault_resume, fault_insn;

void idt_load(void)
{
	for (int i = 0; i < 256; i++) {
		u32 a = (u32)isr_stubs + 16 * i;
		idt[i] = (struct gate){ (u16)a, SEL_CODE32, 0, 0x8e, (u16)(a >> 16) };
	}
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) d = { sizeof(idt) - 1, (u32)idt };
	asm volatile("lidt %0" : : "m"(d));
}

void idt_reload(void)
{
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) d = { sizeof(idt) - 1, (u32)idt };
	asm volatile("lidt %0" : : "m"(d));
}

void set_handler(unsigned vector, handler_fn fn) { handlers[vector & 255] = fn; }

void isr_dispatch(struct frame *f);
void isr_dispatch(struct frame *f)
{
	if (handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	if (f->vector < 32 && fault_resume) {
		last_fault.vector = f->vector;
		last_fault.error = f->error;
		last_fault.cr2 = f->vector == 14 ? read_cr2() : 0;
		last_fault.eip = f->eip;
		last_fault.count++;
		f->eip = fault_resume;
		fault_resume = 0;
		return;
	}
	printf("unexpected %s %u error 0x%x at eip 0x%x (cr2 0x%x cr0 0x%x cr3 0x%x cr4 0x%x)\n",
	       f->vector < 32 ? "exception" : "interrupt", f->vector, f->error, f->eip,
	       read_cr2(), read_cr0(), read_cr3(), read_cr4());
	printf("eax %x ebx %x ecx %x edx %x esi %x edi %x ebp %x\n", f->eax, f->ebx, f->ecx,
	       f->edx, f->esi, f->edi, f->ebp);
	guest_exit(EXIT_FAIL);
}

#define ARM FAULT_ARM
#define DISARM FAULT_DISARM

int rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0, n = last_fault.count;
	asm volatile(ARM "rdmsr" DISARM : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*val = ((u64)hi << 32) | lo;
	return last_fault.count == n ? 0 : -1;
}

int wrmsr_safe(u32 msr, u64 val)
{
	u32 n = last_fault.count;
	asm volatile(ARM "wrmsr" DISARM : : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
	return last_fault.count == n ? 0 : -1;
}

int probe_read32(u32 addr, u32 *val)
{
	u32 v = 0, n = last_fault.count;
	asm volatile(ARM "movl (%1), %0" DISARM : "+r"(v) : "r"(addr) : "memory");
	*val = v;
	return last_fault.count == n ? 0 : -1;
}

int probe_write32(u32 addr, u32 val)
{
	u32 n = last_fault.count;
	asm volatile(ARM "movl %1, (%0)" DISARM : : "r"(addr), "r"(val) : "memory");
	return last_fault.count == n ? 0 : -1;
}

const u8 probe_exec_code[2] = { 0xff, 0xe1 }; /* jmp *%ecx */

int probe_exec(u32 addr)
{
	u32 n = last_fault.count;
	asm volatile("movl $1f, fault_resume\n\tmovl %0, fault_insn\n\t"
		     "movl $1f, %%ecx\n\tjmp *%0" DISARM : : "r"(addr) : "ecx", "memory");
	return last_fault.count == n ? 0 : -1;
}

/* ---- CPU identification, x2APIC ------------------------------------------------ */
bool cpu_vendor_is(const char *v12)
{
	struct cpuid_regs r = cpuid(0);
	u32 w[3] = { r.b, r.d, r.c };
	return !memcmp(w, v12, 12);
}

bool under_umbra(void)
{
	if (!(cpuid(1).c & (1u << 31)))
		return false;
	struct cpuid_regs r = cpuid(0x40000000);
	u32 w[3] = { r.b, r.c, r.d };
	return !memcmp(w, "UmbraUmbraUm", 12);
}

bool x2apic_supported(void) { return cpuid(1).c & (1u << 21); }

void x2apic_enable(u32 spurious_vector)
{
	u64 base = rdmsr(MSR_APIC_BASE);
	if (!(base & (1u << 11)))
		wrmsr(MSR_APIC_BASE, base | (1u << 11)); /* xAPIC enable first */
	wrmsr(MSR_APIC_BASE, base | (1u << 11) | (1u << 10));
	wrmsr(X2APIC_SVR, 0x100 | (spurious_vector & 0xff));
	wrmsr(X2APIC_TPR, 0);
	wrmsr(X2APIC_LVT_LINT0, LVT_MASKED); /* firmware may leave ExtINT (8259) here */
}

void pic_disable(void)
{
	/* Remap the 8259s to vectors 0x20-0x2f (away from exceptions), mask all. */
	static const u8 seq[][2] = { { 0x20, 0x11 }, { 0xa0, 0x11 }, { 0x21, 0x20 }, { 0xa1, 0x28 },
				     { 0x21, 0x04 }, { 0xa1, 0x02 }, { 0x21, 0x01 }, { 0xa1, 0x01 },
				     { 0x21, 0xff }, { 0xa1, 0xff } };
	for (u32 i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		outb(seq[i][0], seq[i][1]);
}
