/* VM lifetime: created from a boot module, stopped by the guest (debug-exit
 * port), by a crash, or by a host error; torn down by its last vCPU thread. */
#include "arch/x86/fpu.h"
#include "drivers/power.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/smp_call.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/kmalloc.h"
#include "virt/apic_bus.h"
#include "virt/exit.h"
#include "virt/fwtables.h"
#include "virt/loader_mb1.h"
#include "virt/vcpu.h"
#include "virt/shadow_paging.h"
#include "virt/vm.h"

/* The VM list and the host-CPU placement counter. */
/* Umbra's mmu= option: the paging of VMs whose line says mmu=auto. */
static enum vm_mmu default_mmu = VM_MMU_AUTO;

static spinlock_t vms_lock = SPINLOCK_INIT;
static struct list_head vms = LIST_HEAD_INIT(vms);
static u32 vms_running;
static u32 next_host_cpu;
static bool print_stats_on_exit;
/* The VM that gets console input: an id, so a stopped VM is never used. */
static u32 console_vm_id;

void vm_set_print_stats(bool on) { print_stats_on_exit = on; }

u32 vm_count_running(void)
{
	return READ_ONCE(vms_running);
}

static void vm_free(struct vm *vm)
{
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		timer_cancel_sync(&v->lapic.timer);
		fpu_forget(v);
		shadow_vcpu_destroy(v);
		virt_backend->vcpu_destroy(v);
		kfree(v);
	}
	timer_cancel_sync(&vm->pit.timer);
	shadow_vm_destroy(vm);
	guest_mem_destroy(&vm->mem);
	kfree(vm);
}

static struct vcpu *vcpu_create(struct vm *vm, u32 id, const struct mb1_boot *boot)
{
	struct vcpu *v = kzalloc(sizeof(*v));
	if (!v)
		return NULL;
	v->vm = vm;
	v->id = id;
	vm->vcpus[id] = v;
	if (virt_backend->vcpu_create(v) < 0)
		return NULL;
	if (vm->shadow && !shadow_vcpu_init(v))
		return NULL;
	vlapic_init(&v->lapic, v, id == 0);
	v->mp_state = id == 0 ? VCPU_RUNNABLE : VCPU_WAIT_SIPI;
	fpu_state_init(v->fpu);
	virt_backend->vcpu_reset_protected32(v, boot->entry);
	if (vm->shadow)
		shadow_vcpu_reset(v, CR0_PE | CR0_ET);
	else
		virt_backend->set_tdp_root(v, vm->mem.root);
	v->gpr[RAX] = boot->eax;
	v->gpr[RBX] = boot->ebx;
	return v;
}

void vm_print_stats(const struct vm *vm)
{
	char line[400];
	int n = umbra_snprintf(line, sizeof(line), "VM %s exits:", vm->name);
	for (int k = 0; k < EXIT_KIND_COUNT; k++) {
		u64 total = 0;
		for (u32 i = 0; i < vm->nr_vcpus; i++)
			total += vm->vcpus[i] ? vm->vcpus[i]->exits[k] : 0;
		if (total && n < (int)sizeof(line))
			n += umbra_snprintf(line + n, sizeof(line) - n, " %s=%llu",
					    exit_kind_name(k), (unsigned long long)total);
	}
	log_info("%s", line);
	log_info("VM %s memory: %llu KiB backed, %llu KiB nested page tables", vm->name,
		 (unsigned long long)(vm->mem.pages * 4), (unsigned long long)(vm->mem.table_pages * 4));
	if (vm->shadow)
		shadow_print_stats(vm);
}

void vm_set_default_mmu(enum vm_mmu mmu)
{
	default_mmu = mmu;
}

/* Copies the VM's own modules into its memory, page-aligned after the
 * image (QEMU's -initrd places them likewise), filling out[]. */
static bool place_modules(struct vm *vm, const void *image, size_t size,
			  const struct vm_module *mods, u32 nr, struct mb1_guest_module *out,
			  char *err, size_t errlen)
{
	struct mb1_boot probe;
	if (!nr)
		return true;
	if (!mb1_probe(image, size, vm->mem_bytes, &probe, err, errlen))
		return false;
	u64 at = 1ull << 20;
	for (u32 i = 0; i < probe.nr_ranges; i++)
		at = MAX(at, probe.ranges[i].end);
	struct gpa_access mem = guest_mem_access(&vm->mem);
	for (u32 i = 0; i < nr; i++) {
		at = ALIGN_UP(at, PAGE_SIZE);
		if (mods[i].size > vm->mem_bytes || at > vm->mem_bytes - mods[i].size)
			return fail_msg(err, errlen, "module %u (%zu bytes) does not fit in mem=", i,
					mods[i].size);
		if (!mem.write(mem.ctx, at, mods[i].data, mods[i].size))
			return fail_msg(err, errlen, "out of host memory for module %u", i);
		out[i] = (struct mb1_guest_module){ at, at + mods[i].size, mods[i].cmdline };
		at += mods[i].size;
	}
	return true;
}

struct vm *vm_create_from_module(const void *image, size_t size, const char *cmdline, u32 index,
				 const struct vm_module *mods, u32 nr_mods)
{
	struct vm_config cfg;
	char err[160];
	if (!vm_config_parse(cmdline, index, &cfg, err, sizeof(err))) {
		log_err("module %u (\"%s\") refused: %s", index, cmdline, err);
		return NULL;
	}
	struct vm *vm = kzalloc(sizeof(*vm));
	if (!vm) {
		log_err("VM %s: out of memory", cfg.name);
		return NULL;
	}
	strlcpy(vm->name, cfg.name, sizeof(vm->name));
	vm->id = index;
	vm->mem_bytes = cfg.mem_bytes;
	vm->nr_vcpus = cfg.vcpus;
	spin_init(&vm->lock);
	spin_init(&vm->dev_lock);
	if (cfg.mmu == VM_MMU_TDP && !virt_has_tdp) {
		log_err("VM %s refused: mmu=tdp, but this CPU has no usable nested paging", vm->name);
		kfree(vm);
		return NULL;
	}
	vm->shadow = !virt_has_tdp || cfg.mmu == VM_MMU_SHADOW ||
		     (cfg.mmu == VM_MMU_AUTO && default_mmu == VM_MMU_SHADOW);
	if (!guest_mem_init(&vm->mem, cfg.mem_bytes, virt_backend->tdp_format)) {
		log_err("VM %s refused: cannot set up %llu MiB of guest memory", vm->name,
			(unsigned long long)(cfg.mem_bytes >> 20));
		kfree(vm);
		return NULL;
	}
	if (vm->shadow && !shadow_vm_init(vm, cfg.shadow_pages)) {
		log_err("VM %s refused: out of memory for shadow paging", vm->name);
		vm_free(vm);
		return NULL;
	}
	struct gpa_access mem = guest_mem_access(&vm->mem);
	struct mb1_boot boot;
	struct mb1_guest_module placed[VM_MAX_MODULES];
	nr_mods = MIN(nr_mods, (u32)VM_MAX_MODULES);
	if (!place_modules(vm, image, size, mods, nr_mods, placed, err, sizeof(err)) ||
	    !mb1_load(image, size, cfg.mem_bytes, &mem, cfg.guest_cmdline, placed, nr_mods, &boot,
		      err, sizeof(err))) {
		log_err("VM %s refused: %s", vm->name, err);
		vm_free(vm);
		return NULL;
	}
	/* The platform: tables describing it, then its devices. */
	struct fw_platform plat = { .nr_cpus = vm->nr_vcpus, .ioapic_id = (u8)vm->nr_vcpus,
				    .ioapic_pins = IOAPIC_PINS };
	if (cfg.mem_bytes >= FW_AREA_END && !fwtables_build(&mem, &plat))
		log_warn("VM %s: could not write ACPI/MP tables", vm->name);
	ioapic_init(vm);
	pic_init(vm);
	pit_init(vm);
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		if (!vcpu_create(vm, i, &boot)) {
			log_err("VM %s refused: cannot create vCPU %u", vm->name, i);
			vm_free(vm);
			return NULL;
		}
	}
	log_info("VM %s: %llu MiB, %u vCPU%s, %u module%s, %s paging, entry %#x, command line \"%s\"",
		 vm->name, (unsigned long long)(cfg.mem_bytes >> 20), vm->nr_vcpus,
		 vm->nr_vcpus == 1 ? "" : "s", nr_mods, nr_mods == 1 ? "" : "s",
		 vm->shadow ? "shadow" : "nested", boot.entry, cfg.guest_cmdline);

	unsigned long f = spin_lock(&vms_lock);
	if (list_empty(&vms))
		console_vm_id = vm->id;
	list_add_tail(&vm->link, &vms);
	vms_running++;
	vm->running_vcpus = vm->nr_vcpus;
	spin_unlock(&vms_lock, f);
	/* Spread vCPUs over host CPUs in creation order; all placed before any
	 * runs, since a running vCPU may send IPIs to the others at once. */
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i]->host_cpu =
			__atomic_fetch_add(&next_host_cpu, 1, __ATOMIC_RELAXED) % nr_cpus;
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		char tname[24];
		umbra_snprintf(tname, sizeof(tname), "%s/%u", vm->name, i);
		/* Started only when all are known: a vCPU may kick another at
		 * once, and a kick before v->thread is set would be lost. */
		struct thread *t = thread_create_stopped(tname, v->host_cpu, vcpu_thread, v);
		if (!t)
			panic("VM %s: cannot create a vCPU thread", vm->name);
		unsigned long lf = spin_lock(&vm->lock);
		v->thread = t;
		spin_unlock(&vm->lock, lf);
	}
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		thread_wake(vm->vcpus[i]->thread);
	return vm;
}

void vm_stop(struct vm *vm, u32 code, const char *reason)
{
	unsigned long f = spin_lock(&vm->lock);
	bool first = vm->state == VM_RUNNING;
	if (first) {
		vm->state = VM_STOPPING;
		vm->exit_code = code;
		strlcpy(vm->stop_reason, reason, sizeof(vm->stop_reason));
	}
	spin_unlock(&vm->lock, f);
	/* Halted, parked or in guest mode: every vCPU is to notice now. */
	for (u32 i = 0; first && i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
}

void vm_vcpu_exited(struct vcpu *v)
{
	struct vm *vm = v->vm;
	/* No timer callback may wake this thread once it is gone. */
	timer_cancel_sync(&v->lapic.timer);
	unsigned long f = spin_lock(&vm->lock);
	v->exited = true;
	bool last = --vm->running_vcpus == 0;
	if (last)
		vm->state = VM_STOPPED;
	spin_unlock(&vm->lock, f);
	if (!last)
		return;
	uart_flush(vm);
	log_info("VM %s exited with code %#x (%s)", vm->name, vm->exit_code, vm->stop_reason);
	if (print_stats_on_exit)
		vm_print_stats(vm);
	u32 code = vm->exit_code;
	f = spin_lock(&vms_lock);
	list_del(&vm->link);
	bool all_done = --vms_running == 0;
	spin_unlock(&vms_lock, f);
	vm_free(vm);
	if (all_done) {
		log_info("all VMs have stopped");
		power_test_exit(code);
	}
}

void vm_console_input(u8 byte)
{
	unsigned long f = spin_lock(&vms_lock);
	struct list_head *pos;
	list_for_each(pos, &vms) {
		struct vm *vm = list_entry(pos, struct vm, link);
		if (vm->id == console_vm_id && vm->state == VM_RUNNING) {
			uart_receive(vm, byte);
			break;
		}
	}
	spin_unlock(&vms_lock, f);
}

void vm_console_next(void)
{
	unsigned long f = spin_lock(&vms_lock);
	struct vm *first = NULL, *next = NULL;
	struct list_head *pos;
	list_for_each(pos, &vms) {
		struct vm *vm = list_entry(pos, struct vm, link);
		if (!first)
			first = vm;
		if (!next && vm->id > console_vm_id)
			next = vm;
	}
	if (!next)
		next = first;
	if (next)
		console_vm_id = next->id;
	spin_unlock(&vms_lock, f);
	if (next)
		log_info("monitor: console input goes to VM %s", next->name);
}

void vm_print_all_stats(void)
{
	unsigned long f = spin_lock(&vms_lock);
	struct list_head *pos;
	list_for_each(pos, &vms)
		vm_print_stats(list_entry(pos, struct vm, link));
	spin_unlock(&vms_lock, f);
}
