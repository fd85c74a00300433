/* bench_cpuid: TSC ticks per CPUID(0) (an exit under a hypervisor), per
 * iteration of the same loop with a non-exiting 2-byte instruction instead,
 * and per IN from the UART's line status register (0x3fd, a port-I/O exit to
 * an Umbra device). Under QEMU -icount shift=0 one tick is one instruction.
 * Each figure is the best of 3 runs of n=N iterations (default 2000), after
 * a warm-up. Prints
 *   BENCH cpuid_exit_ticks=A loop_ticks=B ratio=X.Y
 *   BENCH pio_exit_ticks=C
 * and exits 0x10. */
#include "guest.h"

enum { CPUID, LOOP, PIO };

/* The three loops differ only in the measured 2-byte instruction. */
static u64 run(int kind, u32 n)
{
	u64 t0 = rdtsc_ordered();
	if (kind == CPUID)
		asm volatile("1: xorl %%eax, %%eax; xorl %%ecx, %%ecx; movl $0x3fd, %%edx; cpuid; decl %0; jnz 1b"
			     : "+S"(n) : : "eax", "ebx", "ecx", "edx", "memory");
	else if (kind == LOOP)
		asm volatile("1: xorl %%eax, %%eax; xorl %%ecx, %%ecx; movl $0x3fd, %%edx; xorl %%ebx, %%ebx; decl %0; jnz 1b"
			     : "+S"(n) : : "eax", "ebx", "ecx", "edx", "memory");
	else
		asm volatile("1: xorl %%eax, %%eax; xorl %%ecx, %%ecx; movl $0x3fd, %%edx; inb %%dx, %%al; decl %0; jnz 1b"
			     : "+S"(n) : : "eax", "ebx", "ecx", "edx", "memory");
	return rdtsc_ordered() - t0;
}

static u64 best(int kind, u32 n)
{
	u64 m = ~0ull;
	run(kind, n / 10 + 1); /* warm-up */
	for (int i = 0; i < 3; i++) {
		u64 t = run(kind, n);
		m = t < m ? t : m;
	}
	return m;
}

u32 guest_main(void)
{
	u32 n = opt_u32("n", 2000);
	if (n == 0)
		n = 2000;
	printf("bench_cpuid (%s): n=%u, %s\n", argv0, n, under_umbra() ? "under Umbra" : "not under Umbra");
	u64 c = best(CPUID, n), l = best(LOOP, n), p = best(PIO, n);
	u32 r10 = l ? (u32)udiv64(c * 10 + l / 2, (u32)l, NULL) : 0;
	printf("BENCH cpuid_exit_ticks=%llu loop_ticks=%llu ratio=%u.%u\n", udiv64(c + n / 2, n, NULL),
	       udiv64(l + n / 2, n, NULL), r10 / 10, r10 % 10);
	printf("BENCH pio_exit_ticks=%llu\n", udiv64(p + n / 2, n, NULL));
	return EXIT_PASS;
}
