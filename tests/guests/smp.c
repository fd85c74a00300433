/* smp: finds the CPUs (fw_cfg, ACPI MADT, MP table), starts every AP with
 * INIT-SIPI-SIPI into a real-mode trampoline that enters 32-bit protected
 * mode and runs C on its own stack; each AP reports in ("cpu N (APIC id X)
 * online"). Then IPIs between the vCPUs: fixed BSP -> each AP, each AP ->
 * BSP, AP -> AP, NMI to each AP, all-excluding-self, all-including-self,
 * and logical (flat model; x2APIC: cluster) destinations to subsets. APs
 * wait for work in "sti; hlt" and are woken by an IPI. Timeouts use the TSC
 * calibrated against PIT channel 2.
 * Options: cpus=N (exact CPU count expected; default: fw_cfg's, else the
 * MADT's), backtoback (INIT then exactly one SIPI, no delay), vector0 (SIPI
 * vector 0: trampoline at physical 0; under plain QEMU -kernel that
 * overwrites the BIOS IVT, which this protected-mode guest never uses),
 * broadcast (INIT/SIPI/SIPI with the all-excluding-self shorthand),
 * tramp=ADDR (trampoline page, default 0x8000), x2apic (all CPUs in
 * x2APIC mode when CPUID has it). */
#include "pc.h"

#define V_TO_AP 0x60
#define V_TO_BSP 0x61
#define V_OTHERS 0x62
#define V_LOGICAL 0x63
#define V_AP2AP 0x64
#define V_ALL 0x65
#define V_WAKE 0x66
#define NVEC 7
#define V_SPURIOUS 0xff

static u32 ncpus;                  /* CPUs expected */
static u32 ids[MAX_CPUS];          /* their APIC IDs (firmware tables) */
static u32 bsp_id;
static volatile u32 online;        /* APs that reported in */
static volatile u32 cpu_apic[MAX_CPUS]; /* index -> APIC ID */
static volatile u32 cpu_lbit[MAX_CPUS]; /* index -> logical destination bit(s) */
static volatile u32 cnt[MAX_CPUS][NVEC];
static volatile u32 nmis[MAX_CPUS], spurious[MAX_CPUS], badvec[MAX_CPUS];
struct cmd {
	volatile u32 seq, done, dest, icr;
};
static struct cmd cmds[MAX_CPUS];

static void vec_handler(struct frame *f)
{
	u32 i = smp_cpu_index();
	if (f->vector >= V_TO_AP && f->vector < V_TO_AP + NVEC)
		__atomic_add_fetch(&cnt[i][f->vector - V_TO_AP], 1, __ATOMIC_SEQ_CST);
	else
		badvec[i]++;
	lapic_eoi();
}

static void nmi_handler(struct frame *f)
{
	(void)f;
	__atomic_add_fetch(&nmis[smp_cpu_index()], 1, __ATOMIC_SEQ_CST);
}

static void spurious_handler(struct frame *f)
{
	(void)f;
	spurious[smp_cpu_index()]++;
}

/* The logical destination of CPU INDEX: flat model bit INDEX (INDEX < 8) in
 * xAPIC; in x2APIC the LDR is derived from the ID (cluster in 31:16). */
static void set_logical(u32 index)
{
	if (apic_x2) {
		cpu_lbit[index] = lapic_read(APIC_LDR);
		return;
	}
	lapic_write(APIC_DFR, 0xffffffffu);
	u32 bit = index < 8 ? 1u << index : 0;
	lapic_write(APIC_LDR, bit << 24);
	cpu_lbit[index] = bit;
}

static void ap_main(u32 index)
{
	idt_reload();
	if (apic_x2)
		lapic_enable_x2apic(V_SPURIOUS);
	else
		lapic_enable_xapic(V_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	u32 id = lapic_id();
	cpu_apic[index] = id;
	set_logical(index);
	lprintf("cpu %u (APIC id %u) online\n", index, id);
	atomic_inc(&online);
	struct cmd *c = &cmds[index];
	for (;;) {
		cli();
		if (c->seq != c->done) {
			lapic_send_ipi(c->dest, c->icr);
			__atomic_store_n(&c->done, c->seq, __ATOMIC_SEQ_CST);
			continue;
		}
		asm volatile("sti; hlt" ::: "memory");
	}
}

/* Asks AP INDEX to send ICR to DEST (woken by V_WAKE). */
static void ap_command(u32 index, u32 dest, u32 icr)
{
	struct cmd *c = &cmds[index];
	c->dest = dest;
	c->icr = icr;
	__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
	lapic_send_ipi(cpu_apic[index], ICR_FIXED | V_WAKE);
}

static bool ap_command_done(u32 index, u32 ms)
{
	u64 t0 = rdtsc(), budget = ms_to_tsc(ms);
	while (cmds[index].done != cmds[index].seq && rdtsc() - t0 < budget)
		pause();
	return cmds[index].done == cmds[index].seq;
}

static u32 total(u32 v)
{
	u32 s = 0;
	for (u32 i = 0; i < ncpus; i++)
		s += cnt[i][v - V_TO_AP];
	return s;
}

/* Waits with interrupts on until the counts of vector V across all CPUs
 * reach WANT (or MS passed), then a little longer for extra ones. */
static void settle(u32 v, u32 want, u32 ms)
{
	u64 t0 = rdtsc(), budget = ms_to_tsc(ms);
	sti();
	while (total(v) < want && rdtsc() - t0 < budget)
		pause();
	t0 = rdtsc();
	while (rdtsc() - t0 < ms_to_tsc(20))
		pause();
	cli();
}

static void snapshot(u32 v, u32 *before)
{
	for (u32 i = 0; i < ncpus; i++)
		before[i] = cnt[i][v - V_TO_AP];
}

/* Checks that CPU i received exactly expect(i) interrupts of V since BEFORE. */
static void check_deltas(u32 v, const u32 *before, const u32 *expect, const char *what)
{
	u32 bad = 0;
	for (u32 i = 0; i < ncpus; i++) {
		u32 d = cnt[i][v - V_TO_AP] - before[i];
		if (d != expect[i]) {
			lprintf("  ..   cpu %u (APIC id %u) got %u, want %u\n", i, cpu_apic[i], d, expect[i]);
			bad++;
		}
	}
	check(bad == 0, "%s: every CPU got exactly what it should (%u wrong)", what, bad);
}

static void start_ap(u32 dest, u32 shorthand, u32 vector, bool b2b)
{
	u32 sh = shorthand;
	if (b2b) {
		lapic_send_ipi(dest, sh | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
		lapic_send_ipi(dest, sh | ICR_STARTUP | vector);
		return;
	}
	/* Intel's universal start-up algorithm, as Linux sends it. */
	lapic_send_ipi(dest, sh | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_send_ipi(dest, sh | ICR_INIT | ICR_LEVEL); /* de-assert */
	tsc_delay_us(10000);
	for (int i = 0; i < 2; i++) {
		lapic_send_ipi(dest, sh | ICR_STARTUP | vector);
		tsc_delay_us(200);
	}
}

static bool find_cpus(void)
{
	u32 fw = fw_cfg_nb_cpus();
	struct madt_info madt;
	struct mp_info mp;
	madt_parse(&madt);
	mp_parse(&mp);
	printf("fw_cfg: %s, %u CPUs; MADT: %s, %u CPUs; MP table: %s, %u CPUs\n", fw ? "yes" : "no", fw,
	       madt.found ? "yes" : "no", madt.nr_cpus, mp.found ? "yes" : "no", mp.nr_cpus);
	u32 want = opt_u32("cpus", fw ? fw : madt.nr_cpus);
	if (fw)
		check(fw == want, "fw_cfg NB_CPUS %u == expected %u", fw, want);
	if (check(madt.found, "ACPI MADT found"))
		check(madt.nr_cpus == want, "MADT enabled processors %u == expected %u", madt.nr_cpus, want);
	if (mp.found && (mp.nr_cpus == want || under_umbra() || opt_word("mp-strict") || !mp.table_ok))
		check(mp.table_ok && mp.nr_cpus == want, "MP table valid, processor entries %u == expected %u",
		      mp.nr_cpus, want);
	else if (mp.found)
		printf("  note MP table lists %u processors, not %u (SeaBIOS lists one per package; "
		       "strict under Umbra or with mp-strict)\n", mp.nr_cpus, want);
	else
		printf("  note no MP table\n");
	ncpus = want;
	if (ncpus > MAX_CPUS) {
		printf("more than %u CPUs: testing the first %u\n", MAX_CPUS, MAX_CPUS);
		ncpus = MAX_CPUS;
	}
	for (u32 i = 0; i < ncpus; i++)
		ids[i] = madt.found && i < madt.nr_cpus ? madt.apic_ids[i]
			 : mp.found && i < mp.nr_cpus ? mp.apic_ids[i] : i;
	return ncpus >= 1;
}

static void ipi_tests(void)
{
	u32 n = ncpus, before[MAX_CPUS], expect[MAX_CPUS];

	/* Fixed IPI, BSP -> each AP. */
	u32 ok = 0;
	for (u32 i = 1; i < n; i++) {
		u32 b = cnt[i][V_TO_AP - V_TO_AP];
		lapic_send_ipi(cpu_apic[i], ICR_FIXED | V_TO_AP);
		u64 t0 = rdtsc();
		while (cnt[i][0] == b && rdtsc() - t0 < ms_to_tsc(1000))
			pause();
		ok += cnt[i][0] == b + 1;
	}
	check(ok == n - 1, "fixed IPI 0x%x from the BSP reached each AP (%u of %u)", V_TO_AP, ok, n - 1);

	/* Fixed IPI, each AP -> BSP (the AP is woken from HLT by V_WAKE). */
	ok = 0;
	for (u32 i = 1; i < n; i++) {
		u32 b = cnt[0][V_TO_BSP - V_TO_AP];
		ap_command(i, bsp_id, ICR_FIXED | V_TO_BSP);
		bool done = ap_command_done(i, 1000);
		wait_count(&cnt[0][V_TO_BSP - V_TO_AP], b + 1, 1000);
		ok += done && cnt[0][V_TO_BSP - V_TO_AP] == b + 1;
	}
	check(ok == n - 1, "fixed IPI 0x%x from each AP reached the BSP (%u of %u)", V_TO_BSP, ok, n - 1);
	u32 woken = 0;
	for (u32 i = 1; i < n; i++)
		woken += cnt[i][V_WAKE - V_TO_AP] == 1;
	check(woken == n - 1, "each AP got one wake-up IPI 0x%x while halted (%u of %u)", V_WAKE, woken, n - 1);

	/* AP -> next AP. */
	if (n >= 3) {
		snapshot(V_AP2AP, before);
		for (u32 i = 0; i < n; i++)
			expect[i] = i ? 1 : 0;
		for (u32 i = 1; i < n; i++)
			ap_command(i, cpu_apic[i % (n - 1) + 1], ICR_FIXED | V_AP2AP);
		for (u32 i = 1; i < n; i++)
			ap_command_done(i, 1000);
		settle(V_AP2AP, n - 1, 1000);
		check_deltas(V_AP2AP, before, expect, "fixed IPI AP -> next AP");
	} else {
		printf("  skip AP -> AP IPIs (needs 3 CPUs)\n");
	}

	/* NMI to each AP. */
	ok = 0;
	for (u32 i = 1; i < n; i++) {
		u32 b = nmis[i];
		lapic_send_ipi(cpu_apic[i], ICR_NMI);
		u64 t0 = rdtsc();
		while (nmis[i] == b && rdtsc() - t0 < ms_to_tsc(1000))
			pause();
		ok += nmis[i] == b + 1;
	}
	check(ok == n - 1 && nmis[0] == 0, "NMI IPI reached each AP once (%u of %u), none on the BSP (%u)", ok,
	      n - 1, nmis[0]);

	/* All excluding self. */
	snapshot(V_OTHERS, before);
	for (u32 i = 0; i < n; i++)
		expect[i] = i ? 1 : 0;
	lapic_send_ipi(0, ICR_OTHERS | ICR_FIXED | V_OTHERS);
	settle(V_OTHERS, n - 1, 1000);
	check_deltas(V_OTHERS, before, expect, "fixed IPI to all excluding self");

	/* All including self. */
	snapshot(V_ALL, before);
	for (u32 i = 0; i < n; i++)
		expect[i] = 1;
	lapic_send_ipi(0, ICR_ALL | ICR_FIXED | V_ALL);
	settle(V_ALL, n, 1000);
	check_deltas(V_ALL, before, expect, "fixed IPI to all including self");

	/* Logical destinations: the odd-numbered CPUs, then the BSP and CPU 2. */
	u32 masks[2] = { 0, 0 };
	u32 cluster = apic_x2 ? cpu_lbit[0] >> 16 : 0;
	for (u32 i = 0; i < n; i++) {
		if (!cpu_lbit[i] || (apic_x2 && cpu_lbit[i] >> 16 != cluster))
			continue;
		if (i & 1)
			masks[0] |= cpu_lbit[i] & (apic_x2 ? 0xffff : 0xff);
		if (i == 0 || i == 2)
			masks[1] |= cpu_lbit[i] & (apic_x2 ? 0xffff : 0xff);
	}
	for (u32 k = 0; k < 2; k++) {
		if (!masks[k])
			continue;
		snapshot(V_LOGICAL, before);
		u32 want = 0;
		for (u32 i = 0; i < n; i++) {
			u32 lb = cpu_lbit[i] & (apic_x2 ? 0xffff : 0xff);
			bool same = !apic_x2 || cpu_lbit[i] >> 16 == cluster;
			expect[i] = same && (lb & masks[k]) ? 1 : 0;
			want += expect[i];
		}
		u32 dest = apic_x2 ? (cluster << 16) | masks[k] : masks[k];
		lapic_send_ipi(dest, ICR_LOGICAL | ICR_FIXED | V_LOGICAL);
		settle(V_LOGICAL, want, 1000);
		check_deltas(V_LOGICAL, before, expect, k == 0 ? "logical IPI to the odd-numbered CPUs"
							    : "logical IPI to the BSP and CPU 2");
	}
}

u32 guest_main(void)
{
	printf("smp (%s)\n", argv0);
	bool b2b = opt_word("backtoback"), v0 = opt_word("vector0"), bcast = opt_word("broadcast");
	bool x2 = opt_word("x2apic");
	for (u32 v = V_TO_AP; v < V_TO_AP + NVEC; v++)
		set_handler(v, vec_handler);
	set_handler(2, nmi_handler);
	set_handler(V_SPURIOUS, spurious_handler);
	pic_disable();
	if (x2 && !x2apic_supported()) {
		printf("  note x2apic requested but CPUID.1:ECX[21] is 0: using xAPIC\n");
		x2 = false;
	}
	if (x2)
		lapic_enable_x2apic(V_SPURIOUS);
	else
		lapic_enable_xapic(V_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, 1u << 16);
	bsp_id = lapic_id();
	cpu_apic[0] = bsp_id;
	set_logical(0);
	printf("BSP APIC id %u, %s mode\n", bsp_id, apic_x2 ? "x2APIC" : "xAPIC");
	tsc_calibrate();
	if (!check(tsc_per_ms != 0, "TSC calibrated against PIT channel 2: %llu ticks/ms", tsc_per_ms))
		return check_result();
	if (!find_cpus())
		return check_result();
	bool bsp_listed = false;
	for (u32 i = 0; i < ncpus; i++)
		bsp_listed |= ids[i] == bsp_id;
	check(bsp_listed, "the BSP's APIC id %u is in the firmware's CPU list", bsp_id);
	if (ncpus == 1) {
		printf("  note one CPU: nothing to start\n");
		return check_result();
	}

	u32 page = v0 ? 0 : lowmem_pick_page(opt_u32("tramp", 0x8000));
	if (v0 && !lowmem_range_free(0, 0x1000))
		check(false, "page 0 is free for the vector-0 trampoline");
	if (!v0 && !check(page != 0, "a free page below 1 MiB for the trampoline"))
		return check_result();
	if (v0 && !under_umbra())
		printf("  note vector0 under plain QEMU: the trampoline overwrites the BIOS IVT at 0\n");
	printf("trampoline at 0x%x (SIPI vector 0x%x), %s%s\n", page, page >> 12,
	       b2b ? "INIT + one SIPI back to back" : "INIT, 10 ms, SIPI, 200 us, SIPI",
	       bcast ? ", to all excluding self" : "");
	smp_install_trampoline(page);
	ap_entry = ap_main;

	if (bcast) {
		start_ap(0, ICR_OTHERS, page >> 12, b2b);
		u64 t0 = rdtsc();
		while (online < ncpus - 1 && rdtsc() - t0 < ms_to_tsc(5000))
			pause();
	} else {
		for (u32 i = 0; i < ncpus; i++) {
			if (ids[i] == bsp_id)
				continue;
			u32 b = online;
			start_ap(ids[i], 0, page >> 12, b2b);
			u64 t0 = rdtsc();
			while (online == b && rdtsc() - t0 < ms_to_tsc(2000))
				pause();
			if (online == b)
				lprintf("  ..   APIC id %u did not report in\n", ids[i]);
		}
	}
	/* A second SIPI must not start an AP twice. */
	tsc_delay_us(20000);
	spin_lock(&print_lock);
	check(online == ncpus - 1 && ap_next_index == ncpus - 1, "all %u APs online (%u reported, %u entered)",
	      ncpus - 1, online, ap_next_index);
	spin_unlock(&print_lock);
	if (online != ncpus - 1)
		return check_result();
	u32 dup = 0, unknown = 0;
	for (u32 i = 0; i < ncpus; i++) {
		bool listed = false;
		for (u32 j = 0; j < ncpus; j++) {
			listed |= ids[j] == cpu_apic[i];
			dup += j != i && cpu_apic[j] == cpu_apic[i];
		}
		unknown += !listed;
	}
	check(dup == 0 && unknown == 0, "APIC ids reported are distinct and those in the tables (%u dup, %u unknown)",
	      dup / 2, unknown);
	printf("all %u CPUs online\n", ncpus);

	ipi_tests();
	u32 sp = 0, bv = 0;
	for (u32 i = 0; i < ncpus; i++) {
		sp += spurious[i];
		bv += badvec[i];
	}
	check(bv == 0, "no interrupts on unexpected vectors (%u)", bv);
	printf("spurious interrupts: %u\n", sp);
	return check_result();
}
