/* Kernel threads and the scheduler: per-CPU run queues, round-robin with a
 * time slice, sleep/wakeup. Threads stay on the CPU they were created for
 * (vCPU threads are placed explicitly); there is no migration. */
#ifndef UMBRA_KERNEL_SCHED_H
#define UMBRA_KERNEL_SCHED_H

#include "kernel/list.h"
#include "kernel/timer.h"
#include "lib/types.h"

enum thread_state {
	THREAD_RUNNING,  /* on a CPU now */
	THREAD_RUNNABLE, /* on its CPU's run queue */
	THREAD_BLOCKED,  /* waiting for thread_wake() */
	THREAD_DEAD,     /* exited; freed by the next thread on its CPU */
};

struct thread {
	u64 rsp; /* saved stack pointer while not running */
	enum thread_state state;
	u32 cpu;
	bool wake_pending; /* a wake that came while not blocked: next block returns */
	struct list_head rq_link;
	void *stack;
	void (*fn)(void *);
	void *arg;
	struct timer sleep_timer;
	u64 id;
	char name[24];
};

#define THREAD_STACK_SIZE 16384
#define SCHED_SLICE_NS 10000000ull /* 10 ms */

struct thread *thread_create(const char *name, u32 cpu, void (*fn)(void *), void *arg);
/* Created blocked: it starts at its first thread_wake(). */
struct thread *thread_create_stopped(const char *name, u32 cpu, void (*fn)(void *), void *arg);
__noreturn void thread_exit(void);
/* Sleeps until thread_wake(); returns at once if a wake is pending. Wakeups
 * may be spurious: callers re-check their condition in a loop. */
void thread_block(void);
void thread_wake(struct thread *t);
void thread_sleep_ns(u64 ns);
void thread_yield(void);
struct thread *current_thread(void);

void schedule(void);
/* Turns the code running on this CPU into its idle thread. */
void sched_init_cpu(void *stack_base);
__noreturn void sched_idle_loop(void);
void sched_finish_switch(void);
__noreturn void thread_start(void *arg, void (*fn)(void *));

#endif
