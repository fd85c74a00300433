/* Virtual machines and their vCPUs. */
#ifndef UMBRA_VIRT_VM_H
#define UMBRA_VIRT_VM_H

#include "kernel/list.h"
#include "kernel/spinlock.h"
#include "kernel/timer.h"
#include "lib/types.h"
#include "virt/backend.h"
#include "virt/devices.h"
#include "virt/guest_mem.h"
#include "virt/vlapic.h"
#include "virt/vm_config.h"

#define VM_MAX_VCPUS VM_VCPUS_MAX

/* Guest general-purpose registers, in the x86 encoding order (RAX=0 .. R15=15). */
enum gpr { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

enum vm_state { VM_RUNNING, VM_STOPPING, VM_STOPPED };

/* Why a VM stopped, and the value it reports (the guest's port 0xf4 write or
 * a distinct failing value when it crashed). */
#define VM_EXIT_CODE_CRASH 0x13

#define VCPU_PENDING_NMI (1u << 0)
#define VCPU_PENDING_INIT (1u << 1)
#define VCPU_PENDING_SIPI (1u << 2)

struct vcpu {
	struct vm *vm;
	u32 id;
	u32 host_cpu;
	struct thread *thread;
	u64 gpr[16];       /* RAX and RSP are mirrored from the vendor area by sync_gprs_in */
	void *arch;        /* backend state (VMCB / VMCS) */
	struct vlapic lapic;
	bool halted;
	/* Multiprocessor state (SDM 3, 9.4): APs wait for INIT-SIPI-SIPI. */
	enum { VCPU_RUNNABLE, VCPU_WAIT_SIPI } mp_state;
	u32 pending;       /* VCPU_PENDING_* bits, set by other CPUs (atomic) */
	u8 sipi_vector;
	bool in_guest;     /* between entry and exit: a kick must IPI the host CPU */
	bool exited;       /* its thread left the run loop (under vm->lock) */
	u64 tsc_offset;     /* guest TSC = host TSC + tsc_offset */
	bool launched;
	u8 fpu[512] __aligned(16); /* FXSAVE image of the guest's x87/SSE state */
	u64 exits[EXIT_KIND_COUNT];
	u64 mperf_store[8]; /* AMD legacy perf counters 0xC0010000-7 */
	u64 mtrr_def_type;
	/* Shadow paging only (virt/shadow_paging.c): the guest's view of its
	 * paging registers and the shadow MMU's per-vCPU state. */
	struct shadow_vcpu *shadow;
	u64 runs;          /* guest entries so far (a remote TLB flush waits for it to move) */
};

struct vm {
	struct list_head link;
	u32 id;
	char name[VM_NAME_MAX + 1];
	u64 mem_bytes;
	u32 nr_vcpus;
	struct vcpu *vcpus[VM_MAX_VCPUS];
	struct guest_mem mem;
	/* Shadow paging instead of NPT/EPT (no TDP on this CPU, or mmu=shadow):
	 * the guest's page tables are shadowed by shadow/mmu.c. */
	bool shadow;
	struct mmu *mmu;

	spinlock_t lock; /* protects state, exit_code, stop_reason, running_vcpus */
	enum vm_state state;
	u32 exit_code;
	char stop_reason[96];
	u32 running_vcpus;

	/* Devices (virt/dev_*.c). dev_lock protects all of their state; it
	 * is taken with interrupts off and never held across a vCPU kick. */
	spinlock_t dev_lock;
	char uart_line[160];
	u32 uart_len;
	u8 uart_regs[8];
	struct vuart_irq uart;
	u32 pci_addr;
	struct vioapic ioapic;
	struct vpic pic;
	struct vpit pit;
	u8 cmos_index;
	u16 fw_cfg_key;
	u32 fw_cfg_offset;
	u16 pm1_enable, pm1_status, pm1_control;
	bool acpi_powered_off; /* stopped by ACPI S5 rather than the exit port */
	u64 hypercalls;
};

/* A boot module handed to a VM as one of its own multiboot modules. */
struct vm_module {
	const void *data;
	size_t size;
	const char *cmdline; /* what the guest sees as the module's string */
};
#define VM_MAX_MODULES 8

/* Creates and starts a VM from a boot module (its image and command line),
 * with nr_mods modules of its own placed in its memory after the image.
 * Returns NULL (after a console message) when the module line or the image
 * is refused; nothing is left allocated then. */
struct vm *vm_create_from_module(const void *image, size_t size, const char *cmdline, u32 index,
				 const struct vm_module *mods, u32 nr_mods);
/* Stops the VM (all vCPUs) with a code and a reason; safe from any vCPU. */
void vm_stop(struct vm *vm, u32 code, const char *reason);
void vm_print_stats(const struct vm *vm);
void vm_print_all_stats(void);
/* Console input (virt/monitor.c) for the console VM's UART. */
void vm_console_input(u8 byte);
void vm_console_next(void);
void vm_set_print_stats(bool on);
/* Umbra's own mmu= option (auto, tdp, shadow): the default for VMs. */
void vm_set_default_mmu(enum vm_mmu mmu);
u32 vm_count_running(void);
/* Console commands (virt/monitor.c). */
void monitor_start(void);

#endif
