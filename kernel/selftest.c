/* In-kernel self-tests: what only the real (emulated) machine can show —
 * allocators under contention from every CPU, IPIs, timer accuracy against an
 * independent clock, threads blocking and waking across CPUs, preemption. */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "drivers/power.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/selftest.h"
#include "kernel/smp_call.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"

static int passed, failed;

#define EXPECT(cond, ...)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			log_err("selftest: check failed: %s", #cond);         \
			log_err(__VA_ARGS__);                                 \
			return false;                                         \
		}                                                             \
	} while (0)

/* ---- helpers: run one function per CPU as threads and wait for all ----
 * Workers are created first and parked, so the caller can snapshot state
 * (e.g. free memory) with every thread stack already allocated. */

struct fanout {
	bool (*fn)(u32 cpu, void *arg);
	void *arg;
	u32 ready, remaining, failures;
	bool go, release;
	struct thread *waiter;
	struct thread *workers[MAX_CPUS];
};

struct fanout_slot {
	struct fanout *f;
	u32 cpu;
};

static void wait_until(const bool *flag)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		thread_block();
}

static void fanout_worker(void *p)
{
	struct fanout_slot *s = p;
	struct fanout *f = s->f;
	struct thread *waiter = f->waiter;
	if (__atomic_add_fetch(&f->ready, 1, __ATOMIC_ACQ_REL) == nr_cpus)
		thread_wake(waiter);
	wait_until(&f->go);
	if (!f->fn(s->cpu, f->arg))
		__atomic_fetch_add(&f->failures, 1, __ATOMIC_RELAXED);
	if (__atomic_sub_fetch(&f->remaining, 1, __ATOMIC_ACQ_REL) == 0)
		thread_wake(waiter);
	wait_until(&f->release);
	if (__atomic_sub_fetch(&f->ready, 1, __ATOMIC_ACQ_REL) == 0)
		thread_wake(waiter);
}

static void fanout_set(struct fanout *f, bool *flag)
{
	__atomic_store_n(flag, true, __ATOMIC_RELEASE);
	for (u32 i = 0; i < nr_cpus; i++)
		thread_wake(f->workers[i]);
}

static void wait_count(u32 *count, u32 want)
{
	while (__atomic_load_n(count, __ATOMIC_ACQUIRE) != want)
		thread_block();
}

/* Runs fn(cpu, arg) in a thread on every online CPU at once; `between`
 * (if set) runs before the start and after the end, with all workers alive. */
static bool run_on_all_cpus(bool (*fn)(u32, void *), void *arg, void (*between)(void *),
			    void *between_arg)
{
	static struct fanout_slot slots[MAX_CPUS];
	static struct fanout f;
	f = (struct fanout){ .fn = fn, .arg = arg, .remaining = nr_cpus,
			     .waiter = current_thread() };
	for (u32 i = 0; i < nr_cpus; i++) {
		slots[i] = (struct fanout_slot){ &f, i };
		f.workers[i] = thread_create("selftest-worker", i, fanout_worker, &slots[i]);
		if (!f.workers[i])
			panic("selftest: cannot create a thread on CPU %u", i);
	}
	wait_count(&f.ready, nr_cpus);
	if (between)
		between(between_arg);
	fanout_set(&f, &f.go);
	wait_count(&f.remaining, 0);
	if (between)
		between(between_arg);
	fanout_set(&f, &f.release);
	wait_count(&f.ready, 0);
	return f.failures == 0;
}

static u64 rng_next(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- frame allocator under contention ---- */

#define FRAME_ROUNDS 400
#define FRAME_LIVE 32

static bool frame_worker(u32 cpu, void *arg)
{
	struct { paddr_t pa; unsigned order; } live[FRAME_LIVE] = { 0 };
	u64 seed = 0x9e3779b97f4a7c15ull * (cpu + 1);
	for (int round = 0; round < FRAME_ROUNDS; round++) {
		u32 i = rng_next(&seed) % FRAME_LIVE;
		if (live[i].pa) {
			/* Our pattern must still be there: nobody else got the frame. */
			u64 *p = phys_to_virt(live[i].pa);
			u64 words = (PAGE_SIZE << live[i].order) / 8;
			for (u64 w = 0; w < words; w += 61)
				EXPECT(p[w] == (live[i].pa ^ cpu), "frame %#llx corrupted on CPU %u",
				       (unsigned long long)live[i].pa, cpu);
			frame_free(live[i].pa, live[i].order);
			live[i].pa = 0;
		} else {
			unsigned order = rng_next(&seed) % 4;
			paddr_t pa = frame_alloc(order);
			if (pa == FRAME_NONE)
				continue;
			EXPECT(IS_ALIGNED(pa, PAGE_SIZE << order), "frame %#llx misaligned",
			       (unsigned long long)pa);
			u64 *p = phys_to_virt(pa);
			u64 words = (PAGE_SIZE << order) / 8;
			for (u64 w = 0; w < words; w += 61)
				p[w] = pa ^ cpu;
			live[i].pa = pa;
			live[i].order = order;
		}
		if (round % 64 == 0)
			thread_yield();
	}
	for (u32 i = 0; i < FRAME_LIVE; i++)
		if (live[i].pa)
			frame_free(live[i].pa, live[i].order);
	return true;
}

struct frame_snapshots {
	u32 taken;
	struct frame_stats s[2]; /* before the workers start, after they end */
};

static void frame_snapshot(void *arg)
{
	struct frame_snapshots *snap = arg;
	frame_get_stats(&snap->s[snap->taken++]);
}

static bool test_frame_contention(void)
{
	struct frame_snapshots snap = { 0 };
	bool ok = run_on_all_cpus(frame_worker, NULL, frame_snapshot, &snap);
	struct frame_stats before = snap.s[0], after = snap.s[1];
	EXPECT(ok, "a worker failed");
	EXPECT(after.free_pages == before.free_pages, "free pages %llu before, %llu after",
	       (unsigned long long)before.free_pages, (unsigned long long)after.free_pages);
	return true;
}

/* ---- kmalloc under contention ---- */

static bool kmalloc_worker(u32 cpu, void *arg)
{
	void *live[64] = { 0 };
	size_t size[64] = { 0 };
	u64 seed = 0x2545f4914f6cdd1dull * (cpu + 7);
	for (int round = 0; round < 2000; round++) {
		u32 i = rng_next(&seed) % 64;
		if (live[i]) {
			u8 *b = live[i];
			for (size_t k = 0; k < size[i]; k += 7)
				EXPECT(b[k] == (u8)(cpu * 31 + i), "kmalloc block corrupted");
			kfree(live[i]);
			live[i] = NULL;
		} else {
			size[i] = 1 + rng_next(&seed) % 3000;
			live[i] = kmalloc(size[i]);
			EXPECT(live[i], "kmalloc(%zu) failed", size[i]);
			memset(live[i], cpu * 31 + i, size[i]);
		}
	}
	for (u32 i = 0; i < 64; i++)
		kfree(live[i]);
	return true;
}

static bool test_kmalloc_contention(void)
{
	return run_on_all_cpus(kmalloc_worker, NULL, NULL, NULL);
}

/* ---- IPIs ---- */

static void ipi_probe(void *arg)
{
	u32 *ran_on = arg;
	*ran_on = this_cpu_index();
}

static bool test_ipi(void)
{
	for (u32 round = 0; round < 20; round++) {
		for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
			u32 ran_on = ~0u;
			u64 before = cpus[cpu].ipis_received;
			smp_call(cpu, ipi_probe, &ran_on);
			EXPECT(ran_on == cpu, "call for CPU %u ran on CPU %u", cpu, ran_on);
			if (cpu != this_cpu_index())
				EXPECT(cpus[cpu].ipis_received > before, "CPU %u got no IPI", cpu);
		}
	}
	return true;
}

/* ---- timers fire on time (never early; late within a bound) ---- */

#define SLEEP_MS 20
/* Emulated CPUs share two host cores: allow generous lateness, none early. */
#define LATE_TOLERANCE_MS 100

static bool timer_worker(u32 cpu, void *arg)
{
	for (int i = 0; i < 5; i++) {
		u64 ms = SLEEP_MS + 5 * i;
		u64 r0 = refclock_ns(), t0 = rdtsc();
		thread_sleep_ns(ms * 1000000);
		u64 t1 = rdtsc(), r1 = refclock_ns();
		u64 got_ns = tsc_to_ns(t1 - t0);
		EXPECT(got_ns >= ms * 1000000, "CPU %u: %llu ms sleep woke after %llu us", cpu,
		       (unsigned long long)ms, (unsigned long long)(got_ns / 1000));
		EXPECT(got_ns <= (ms + LATE_TOLERANCE_MS) * 1000000,
		       "CPU %u: %llu ms sleep took %llu us", cpu, (unsigned long long)ms,
		       (unsigned long long)(got_ns / 1000));
		if (r0 && r1) { /* the HPET agrees (within 5%: calibration error) */
			u64 ref_ns = r1 - r0;
			EXPECT(ref_ns * 100 >= ms * 1000000 * 95,
			       "CPU %u: HPET saw %llu us for a %llu ms sleep", cpu,
			       (unsigned long long)(ref_ns / 1000), (unsigned long long)ms);
		}
	}
	return true;
}

static bool test_timers(void)
{
	return run_on_all_cpus(timer_worker, NULL, NULL, NULL);
}

/* ---- threads blocking and waking each other across CPUs ---- */

#define PINGPONG_ROUNDS 200

struct pingpong {
	struct thread *a, *b;
	u32 turn; /* even: a's turn, odd: b's */
	u32 errors;
	u32 done;
	struct thread *waiter;
};

static void pingpong_side(struct pingpong *p, u32 parity)
{
	for (u32 round = 0; round < PINGPONG_ROUNDS; round++) {
		while ((__atomic_load_n(&p->turn, __ATOMIC_ACQUIRE) & 1) != parity)
			thread_block();
		u32 t = __atomic_load_n(&p->turn, __ATOMIC_RELAXED);
		if (t != round * 2 + parity)
			p->errors++;
		struct thread *peer = parity ? p->a : p->b;
		bool peer_waits = !(parity == 1 && round == PINGPONG_ROUNDS - 1);
		__atomic_store_n(&p->turn, t + 1, __ATOMIC_RELEASE);
		/* After a's last turn b still runs; after b's last, a has exited. */
		if (peer_waits)
			thread_wake(peer);
	}
	/* p lives on the waiter's stack: read it before the last increment. */
	struct thread *waiter = p->waiter;
	if (__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL) == 2)
		thread_wake(waiter);
}

static void pingpong_b(void *arg);
static void pingpong_a(void *arg)
{
	struct pingpong *p = arg;
	while (!__atomic_load_n(&p->b, __ATOMIC_ACQUIRE))
		thread_yield();
	pingpong_side(p, 0);
}

static void pingpong_b(void *arg)
{
	struct pingpong *p = arg;
	pingpong_side(p, 1);
}

static bool test_cross_cpu_wakeup(void)
{
	for (u32 i = 0; i < nr_cpus; i++) {
		u32 j = (i + 1) % nr_cpus;
		struct pingpong p = { .waiter = current_thread() };
		u64 t0 = rdtsc();
		struct thread *a = thread_create("ping", i, pingpong_a, &p);
		__atomic_store_n(&p.a, a, __ATOMIC_RELEASE);
		struct thread *b = thread_create("pong", j, pingpong_b, &p);
		__atomic_store_n(&p.b, b, __ATOMIC_RELEASE);
		EXPECT(a && b, "thread creation failed");
		while (__atomic_load_n(&p.done, __ATOMIC_ACQUIRE) < 2)
			thread_block();
		EXPECT(p.errors == 0 && p.turn == 2 * PINGPONG_ROUNDS,
		       "CPU %u <-> %u: turn %u errors %u", i, j, p.turn, p.errors);
		log_info("selftest: CPU %u <-> CPU %u: %u wakeups in %llu us", i, j,
			 2 * PINGPONG_ROUNDS, (unsigned long long)(tsc_to_ns(rdtsc() - t0) / 1000));
	}
	return true;
}

/* ---- preemption: CPU-bound threads on one CPU share it ---- */

struct spinner {
	volatile u64 count;
	volatile bool stop;
};

static void spin_thread(void *arg)
{
	struct spinner *s = arg;
	while (!s->stop)
		s->count++;
}

static bool test_preemption(void)
{
	u32 cpu = nr_cpus - 1;
	struct spinner s[2] = { 0 };
	EXPECT(thread_create("spin0", cpu, spin_thread, &s[0]) &&
		       thread_create("spin1", cpu, spin_thread, &s[1]),
	       "thread creation failed");
	thread_sleep_ns(200 * 1000000ull);
	u64 c0 = s[0].count, c1 = s[1].count;
	s[0].stop = s[1].stop = true;
	thread_sleep_ns(50 * 1000000ull); /* let them exit */
	EXPECT(c0 > 0 && c1 > 0, "CPU %u: spinners counted %llu and %llu", cpu,
	       (unsigned long long)c0, (unsigned long long)c1);
	return true;
}

static void run(const char *name, bool (*fn)(void))
{
	u64 t0 = rdtsc();
	bool ok = fn();
	u64 us = tsc_to_ns(rdtsc() - t0) / 1000;
	if (ok) {
		passed++;
		log_info("selftest: ok %s (%llu us)", name, (unsigned long long)us);
	} else {
		failed++;
		log_err("selftest: FAIL %s", name);
	}
}

void selftest_thread(void *unused)
{
	log_info("selftest: running on %u CPUs", nr_cpus);
	run("frame allocator under contention", test_frame_contention);
	run("kmalloc under contention", test_kmalloc_contention);
	run("IPIs to every CPU", test_ipi);
	run("timers fire on time", test_timers);
	run("threads wake each other across CPUs", test_cross_cpu_wakeup);
	run("preemption shares a CPU", test_preemption);
	log_info("selftest: %d passed, %d failed", passed, failed);
	power_test_exit(failed ? UMBRA_EXIT_FAIL : UMBRA_EXIT_PASS);
}
