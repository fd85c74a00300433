/* cpuid_msr_io: CPUID, MSR and port-I/O exits return what the architecture
 * and Umbra's spec say; prefixed exiting instructions are skipped correctly.
 * Umbra-specific checks run only when CPUID 0x40000000 has Umbra's
 * signature (plain QEMU: "not under Umbra: skipping Umbra-specific checks").
 * Options: "umbra" fails the run when the signature is absent; "force-umbra"
 * runs the Umbra-specific checks anyway (to exercise them elsewhere). */
#include "guest.h"

#define UMBRA_HC_VERSION 0
#define UMBRA_ENOSYS ((u32)-1000)

static bool intel;

/* VMCALL on Intel, VMMCALL otherwise (as KVM guests do); a fault (e.g. #UD
 * with no hypervisor) is caught and reported. */
static u32 hypercall(u32 nr, bool *faulted)
{
	u32 a = nr, n = last_fault.count;
	if (intel)
		asm volatile(FAULT_ARM "vmcall" FAULT_DISARM : "+a"(a) : : "ebx", "ecx", "edx", "esi", "memory");
	else
		asm volatile(FAULT_ARM "vmmcall" FAULT_DISARM : "+a"(a) : : "ebx", "ecx", "edx", "esi", "memory");
	*faulted = last_fault.count != n;
	if (*faulted)
		printf("  ..   hypercall 0x%x raised vector %u\n", nr, last_fault.vector);
	return a;
}

static void check_cpuid(bool umbra)
{
	struct cpuid_regs r0 = cpuid(0), r1 = cpuid(1), r8 = cpuid(0x80000000);
	u32 vendor[4] = { r0.b, r0.d, r0.c, 0 };
	printf("vendor \"%s\", max leaf 0x%x, max extended leaf 0x%x\n", (char *)vendor, r0.a, r8.a);
	check(r0.a >= 1 && r8.a >= 0x80000001, "CPUID has leaves 1 and 0x80000001");
	u32 e1c = cpuid(0x80000001).c;
	/* A 0x66 prefix on CPUID is legal and ignored: same result, and the
	 * hypervisor must skip all 3 bytes. */
	struct cpuid_regs p;
	asm volatile(".byte 0x66; cpuid" : "=a"(p.a), "=b"(p.b), "=c"(p.c), "=d"(p.d) : "a"(0), "c"(0));
	check(!memcmp(&p, &r0, sizeof(p)), "66-prefixed CPUID(0) returns the same as CPUID(0)");
	if (!umbra)
		return;
	check(r1.c & (1u << 31), "CPUID.1:ECX[31] hypervisor bit set");
	check(!(r1.c & (1u << 5)), "CPUID.1:ECX[5] VMX not advertised");
	check(!(e1c & (1u << 2)), "CPUID.80000001:ECX[2] SVM not advertised");
	struct cpuid_regs h = cpuid(0x40000000);
	u32 sig[4] = { h.b, h.c, h.d, 0 };
	check(!memcmp(sig, "UmbraUmbraUm", 12), "CPUID.40000000:EBX,ECX,EDX = \"%s\" (want \"UmbraUmbraUm\")",
	      (char *)sig);
	check(h.a >= 0x40000001, "CPUID.40000000:EAX max hypervisor leaf 0x%x >= 0x40000001", h.a);
}

static void check_msrs(bool umbra)
{
	/* IA32_TSC reads the same counter as RDTSC (plain QEMU TCG returns 0). */
	u64 t0 = rdtsc(), t1 = 0, t2;
	int r = rdmsr_safe(MSR_TSC, &t1);
	t2 = rdtsc();
	if (umbra)
		check(r == 0 && t0 <= t1 && t1 <= t2, "IA32_TSC (0x10) = 0x%llx, between RDTSCs 0x%llx and 0x%llx",
		      t1, t0, t2);
	else
		check(r == 0, "IA32_TSC (0x10) reads without a fault (0x%llx)", t1);
	u64 v;
	if (umbra) {
		r = rdmsr_safe(0x12345678, &v);
		check(r == -1 && last_fault.vector == 13 && last_fault.error == 0 && last_fault.eip == fault_insn,
		      "rdmsr 0x12345678 raises #GP(0) at the RDMSR (vector %u error 0x%x)",
		      r ? last_fault.vector : 0xffffffff, r ? last_fault.error : 0);
		r = wrmsr_safe(0x12345678, 0x1234);
		check(r == -1 && last_fault.vector == 13 && last_fault.error == 0 && last_fault.eip == fault_insn,
		      "wrmsr 0x12345678 raises #GP(0) at the WRMSR (vector %u error 0x%x)",
		      r ? last_fault.vector : 0xffffffff, r ? last_fault.error : 0);
	}
	if (cpu_vendor_is("AuthenticAMD")) {
		/* Legacy performance counters: PERF_CTL0-3 (0xc0010000-3) and
		 * PERF_CTR0-3 (0xc0010004-7); small kernels zero them at boot. */
		u32 ok = 0;
		for (u32 m = 0xc0010000; m <= 0xc0010007; m++)
			ok += wrmsr_safe(m, 0) == 0 && rdmsr_safe(m, &v) == 0 && v == 0;
		check(ok == 8, "AMD perf MSRs 0xc0010000-7 write 0 and read back 0 (%u of 8)", ok);
	} else {
		printf("  skip AMD perf MSRs (vendor is not AuthenticAMD)\n");
	}
}

static void check_ports(bool umbra)
{
	/* Ports no device owns read all-ones; the untouched part of EAX stays. */
	u32 a = 0x12345600;
	asm volatile("inb %%dx, %%al" : "+a"(a) : "d"(0x2468));
	check(a == 0x123456ff, "inb 0x2468 = 0x%x (want 0x123456ff: 0xff, upper EAX kept)", a);
	a = 0x12340000;
	asm volatile("inw %%dx, %%ax" : "+a"(a) : "d"(0x1234)); /* 66 ED */
	check(a == 0x1234ffff, "inw 0x1234 = 0x%x (want 0x1234ffff)", a);
	a = 0;
	asm volatile("inl %%dx, %%eax" : "+a"(a) : "d"(0x2468));
	check(a == 0xffffffff, "inl 0x2468 = 0x%x (want 0xffffffff)", a);
	a = 0xabcdef00;
	asm volatile("inb $0xe0, %%al" : "+a"(a)); /* E4 ib */
	check(a == 0xabcdefff, "inb $0xe0 (immediate port) = 0x%x (want 0xabcdefff)", a);
	a = 0x55550000;
	asm volatile(".byte 0x3e; .byte 0x66; inl %%dx, %%eax" : "+a"(a) : "d"(0x1234)); /* 3E 66 ED */
	check(a == 0x5555ffff, "ds+66-prefixed in from 0x1234 = 0x%x (want 0x5555ffff)", a);
	/* Writes to nobody are ignored; prefixed OUTs must be skipped whole. */
	asm volatile(".byte 0x3e; outb %%al, %%dx" : : "a"(0x5a), "d"(0x2468));
	asm volatile(".byte 0x3e; .byte 0x66; outl %%eax, %%dx" : : "a"(0x5a5a), "d"(0x1234)); /* 3E 66 EF = outw */
	asm volatile(".byte 0x3e; outb %%al, $0xe0" : : "a"(0x5a));
	check(true, "prefixed OUTs to unowned ports (3E EE, 3E 66 EF, 3E E6 ib) continue after the instruction");
	/* A prefixed OUT to the UART must print exactly one character. */
	printf("  ..   prefixed UART output: [");
	for (u32 i = 0; i < 100000 && !(inb(0x3fd) & 0x20); i++)
		pause();
	asm volatile(".byte 0x3e; outb %%al, %%dx" : : "a"('P'), "d"(0x3f8));
	printf("] (want [P])\n");
	if (!umbra)
		return;
	outl(0xcf8, 0x80000000);
	a = inl(0xcfc);
	check(a == 0xffffffff, "PCI config 00:00.0 register 0 = 0x%x (no PCI: 0xffffffff)", a);
}

static void check_hypercalls(void)
{
	bool f;
	u32 v = hypercall(UMBRA_HC_VERSION, &f);
	check(!f && v != UMBRA_ENOSYS, "%s UMBRA_HC_VERSION (0) = 0x%x (not -1000)", intel ? "VMCALL" : "VMMCALL", v);
	v = hypercall(0xffff, &f);
	check(!f && v == UMBRA_ENOSYS, "%s 0xffff (unknown) = %d (want -1000, UMBRA_ENOSYS)",
	      intel ? "VMCALL" : "VMMCALL", (int)v);
}

u32 guest_main(void)
{
	bool umbra = under_umbra(), force = opt_word("force-umbra");
	intel = cpu_vendor_is("GenuineIntel");
	printf("cpuid_msr_io (%s)\n", argv0);
	if (umbra)
		printf("Umbra signature found at CPUID 0x40000000\n");
	else if (force)
		printf("not under Umbra, but force-umbra: running the Umbra-specific checks\n");
	else
		printf("not under Umbra: skipping Umbra-specific checks\n");
	if (opt_word("umbra"))
		check(umbra, "Umbra signature present (option \"umbra\" requires it)");
	umbra |= force;
	check_cpuid(umbra);
	check_msrs(umbra);
	check_ports(umbra);
	if (umbra)
		check_hypercalls();
	return check_result();
}
