/* kmain: bring the machine up in dependency order, then run the work the
 * command line asks for. */
#include "arch/x86/cpu.h"
#include "arch/x86/fpu.h"
#include "arch/x86/gdt.h"
#include "arch/x86/lapic.h"
#include "arch/x86/paging.h"
#include "arch/x86/smp.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/virt_detect.h"
#include "boot/layout.h"
#include "drivers/acpi.h"
#include "drivers/power.h"
#include "drivers/uart.h"
#include "kernel/bootinfo.h"
#include "kernel/console.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/selftest.h"
#include "kernel/smp_call.h"
#include "lib/cmdline.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/memmap.h"
#include "mm/phys.h"
#include "virt/backend.h"
#include "virt/vm.h"

#define UMBRA_VERSION "0.1"
#define LOW_MEMORY_END 0x100000ull /* BIOS/EFI data, AP trampoline */
#define DIRECT_MAP_POOL (64 * PAGE_SIZE) /* page tables for RAM above 4 GiB */

extern char __kernel_phys_start[], __kernel_phys_end[];
extern char boot_stack[];

static struct bootinfo bootinfo;
static struct acpi_info acpi;
static struct virt_caps virt;
static paddr_t direct_map_top = 4ull << 30; /* what boot.S mapped */

void kmain(u32 magic, u32 info_pa);
void panic_mark_percpu_ready(void);

/* Firmware and loader data is reached through the direct map, bounded by
 * what is mapped: a wild pointer in boot data reads as "not there". */
static const void *direct_map_read(void *ctx, paddr_t pa, u64 len)
{
	(void)ctx;
	if (pa >= direct_map_top || len > direct_map_top - pa)
		return NULL;
	return phys_to_virt(pa);
}

static const struct phys_reader boot_reader = { direct_map_read, NULL };

static void console_setup(const char *cmdline)
{
	char val[64];
	struct console_cfg cfg = { UART_COM1, 115200 };
	bool bad_console = false, bad_level = false;
	if (cmdline_get(cmdline, "console", val, sizeof(val)))
		bad_console = !parse_console(val, &cfg);
	if (bad_console)
		cfg = (struct console_cfg){ UART_COM1, 115200 };
	int level = LOG_INFO;
	if (cmdline_get(cmdline, "loglevel", val, sizeof(val)))
		bad_level = !parse_loglevel(val, &level);
	console_set_level(bad_level ? LOG_INFO : level);
	console_init(cfg.port, cfg.baud);
	if (bad_console)
		log_warn("cmdline: bad console= value, using com1,115200");
	if (bad_level)
		log_warn("cmdline: bad loglevel= value, using info");
}

static void memory_init(void)
{
	static struct memmap free_ram;
	const struct bootmem_region *map = bootinfo.mmap;
	u32 count = bootinfo.mmap_count;
	/* A map built from mem_lower/mem_upper is a guess; UEFI's is exact. */
	if (bootinfo.mmap_source != BOOTINFO_MMAP_MULTIBOOT && bootinfo.efi_mmap_count) {
		map = bootinfo.efi_mmap;
		count = bootinfo.efi_mmap_count;
	}
	for (u32 i = 0; i < count; i++)
		if (map[i].type == BOOTMEM_AVAILABLE)
			memmap_add(&free_ram, map[i].start, map[i].end);
	/* A reserved region overrides an overlapping available one. */
	for (u32 i = 0; i < count; i++)
		if (map[i].type != BOOTMEM_AVAILABLE)
			memmap_reserve(&free_ram, map[i].start, map[i].end);
	memmap_reserve(&free_ram, 0, LOW_MEMORY_END);
	memmap_reserve(&free_ram, (paddr_t)(uintptr_t)__kernel_phys_start,
		       (paddr_t)(uintptr_t)__kernel_phys_end);
	memmap_reserve(&free_ram, bootinfo.info.start, bootinfo.info.end);
	for (u32 i = 0; i < bootinfo.module_count; i++)
		memmap_reserve(&free_ram, bootinfo.modules[i].start, bootinfo.modules[i].end);
	if (free_ram.dropped)
		log_warn("mm: memory map too fragmented, %u pieces ignored", free_ram.dropped);

	paddr_t top = memmap_top(&free_ram);
	if (top > direct_map_top) {
		struct mem_range pool = memmap_take(&free_ram, DIRECT_MAP_POOL, direct_map_top);
		if (!paging_extend_direct_map(top, &pool)) {
			log_warn("mm: cannot map RAM above 4 GiB; using the first 4 GiB only");
			memmap_reserve(&free_ram, direct_map_top, ~0ull);
		} else {
			direct_map_top = top;
		}
		/* The unused rest of the pool is lost: at most 256 KiB. */
	}
	if (!free_ram.n)
		panic("mm: no usable memory above 1 MiB");
	frame_init(free_ram.r, free_ram.n);
	struct frame_stats fs;
	frame_get_stats(&fs);
	log_info("mm: %llu MiB free in %zu ranges (%llu pages, %llu for allocator metadata)",
		 (unsigned long long)(fs.free_pages >> 8), free_ram.n,
		 (unsigned long long)fs.free_pages, (unsigned long long)fs.metadata_pages);
}

static void acpi_init(void)
{
	bool ok = false;
	if (bootinfo.has_rsdp) {
		ok = acpi_parse(&boot_reader, bootinfo.rsdp, bootinfo.rsdp_len, &acpi);
	} else {
		paddr_t rsdp;
		if (acpi_find_rsdp_legacy(&boot_reader, &rsdp))
			ok = acpi_parse_phys(&boot_reader, rsdp, &acpi);
	}
	if (!ok)
		log_warn("acpi: no usable ACPI tables: one CPU, no ACPI power-off");
	else
		acpi_print(&acpi);
}

static void flush_tlb_on_cpu(void *unused)
{
	write_cr3(read_cr3());
}

static void cpus_init(void)
{
	u32 ids[ACPI_MAX_CPUS];
	u32 n = 0;
	for (u32 i = 0; i < acpi.cpu_count; i++)
		if (acpi.cpus[i].enabled)
			ids[n++] = acpi.cpus[i].apic_id;
	char val[16];
	u64 max = MAX_CPUS;
	if (cmdline_get(bootinfo.cmdline, "maxcpus", val, sizeof(val)) && !parse_u64(val, &max))
		log_warn("cmdline: bad maxcpus= value");
	smp_boot_aps(ids, n, (u32)MIN(max, MAX_CPUS));
	/* APs are all in the higher half now: the identity map can go. */
	paging_drop_identity();
	smp_call_all(flush_tlb_on_cpu, NULL);
	log_info("smp: %u CPU%s online", nr_cpus, nr_cpus == 1 ? "" : "s");
}

static void virt_detect_on_cpu(void *caps)
{
	virt_detect(caps);
}

static void virt_init(void)
{
	virt_detect(&virt);
	virt_caps_print(&virt);
	u32 agree = 1;
	for (u32 i = 1; i < nr_cpus; i++) {
		struct virt_caps other;
		smp_call(i, virt_detect_on_cpu, &other);
		agree += other.vmx == virt.vmx && other.svm == virt.svm;
	}
	if (agree != nr_cpus)
		log_warn("virt: CPUs differ in virtualization support (%u of %u agree)",
			 agree, nr_cpus);
	if (!virt_usable(&virt)) {
		log_err("Umbra needs VT-x or AMD-V enabled; nothing to run. Powering off.");
		power_off();
	}
}

static void backend_enable_on_cpu(void *failures)
{
	if (!virt_backend->cpu_enable())
		__atomic_fetch_add((u32 *)failures, 1, __ATOMIC_RELAXED);
}

static void backend_disable_on_cpu(void *unused)
{
	virt_backend->cpu_disable();
}

/* Power-off hook: leave VMX/SVM operation on every CPU (VMXOFF). With
 * interrupts off (a panic stopped the other CPUs) only this CPU can. */
static void backend_disable_all(void)
{
	if (irq_enabled())
		smp_call_all(backend_disable_on_cpu, NULL);
	else
		virt_backend->cpu_disable();
}

/* Boot modules with `for=NAME` in their line belong to VM NAME (in order);
 * the guest sees the line without that word. */
static char module_strings[BOOTINFO_MAX_MODULES][BOOTINFO_MODULE_CMDLINE_MAX];

static u32 vm_modules_for(const char *name, struct vm_module *out)
{
	u32 n = 0;
	for (u32 i = 0; i < bootinfo.module_count && n < VM_MAX_MODULES; i++) {
		const struct bootinfo_module *m = &bootinfo.modules[i];
		char target[VM_NAME_MAX + 1];
		if (!cmdline_get(m->cmdline, "for", target, sizeof(target)) || strcmp(target, name))
			continue;
		char *s = module_strings[i];
		size_t cap = sizeof(module_strings[i]), len = 0;
		const char *cur = m->cmdline;
		char word[BOOTINFO_MODULE_CMDLINE_MAX];
		s[0] = '\0';
		while (cmdline_next_word(&cur, word, sizeof(word)) && len < cap) {
			if (!strncmp(word, "for=", 4))
				continue;
			len += umbra_snprintf(s + len, cap - len, "%s%s", len ? " " : "", word);
		}
		out[n++] = (struct vm_module){ phys_to_virt(m->start), m->end - m->start, s };
	}
	return n;
}

/* Every boot module is a VM (its command line says how: README), except
 * the modules given to a VM with `for=NAME`. */
static void guests_start(void)
{
	u32 failures = 0, created = 0;
	if (!virt_backend_select(&virt)) {
		log_err("no VMs can run on this machine");
		power_test_exit(UMBRA_EXIT_FAIL);
		return;
	}
	power_set_off_hook(backend_disable_all); /* also undoes a partial enable */
	smp_call_all(backend_enable_on_cpu, &failures);
	if (failures) {
		log_err("virt: %s could not be enabled on %u CPUs", virt_backend->name, failures);
		power_test_exit(UMBRA_EXIT_FAIL);
		return;
	}
	log_info("virt: %s enabled on %u CPUs", virt_backend->name, nr_cpus);
	vm_set_print_stats(cmdline_has(bootinfo.cmdline, "exitcode"));
	char mmu[16];
	if (cmdline_get(bootinfo.cmdline, "mmu", mmu, sizeof(mmu))) {
		if (!strcmp(mmu, "shadow"))
			vm_set_default_mmu(VM_MMU_SHADOW);
		else if (strcmp(mmu, "auto") && strcmp(mmu, "tdp"))
			log_warn("cmdline: bad mmu= value (auto, tdp or shadow), using auto");
	}
	for (u32 i = 0; i < bootinfo.module_count; i++) {
		const struct bootinfo_module *m = &bootinfo.modules[i];
		char target[VM_NAME_MAX + 1];
		if (cmdline_get(m->cmdline, "for", target, sizeof(target)))
			continue; /* a module of another VM, not a VM */
		struct vm_config cfg;
		char err[8];
		struct vm_module mods[VM_MAX_MODULES];
		u32 nr = 0;
		/* The VM's name decides which `for=NAME` modules are its own. */
		if (vm_config_parse(m->cmdline, i, &cfg, err, sizeof(err)))
			nr = vm_modules_for(cfg.name, mods);
		if (vm_create_from_module(phys_to_virt(m->start), m->end - m->start, m->cmdline, i,
					  mods, nr))
			created++;
	}
	if (!created) {
		log_err("no VM could be started");
		power_test_exit(UMBRA_EXIT_FAIL);
		return;
	}
	monitor_start();
}

/* `crashtest=pagefault`: fault on purpose, so tests can check that a bug in
 * the hypervisor is reported (registers, stack trace) and stops every CPU. */
static void crashtest(const char *cmdline)
{
	char val[32];
	if (!cmdline_get(cmdline, "crashtest", val, sizeof(val)))
		return;
	if (!strcmp(val, "pagefault")) {
		log_info("crashtest: writing to unmapped address 0x1dead000");
		*(volatile u64 *)0x1dead000ull = 1;
	}
	log_warn("crashtest: unknown crash '%s'", val);
}

void kmain(u32 magic, u32 info_pa)
{
	percpu_init(&cpus[0], 0, 0);
	nr_cpus = 1;
	cpus[0].online = true;
	gdt_init_cpu(&cpus[0]);
	fpu_cpu_init();
	idt_init();
	idt_load();
	panic_mark_percpu_ready();

	bool have_info = bootinfo_parse(magic, info_pa, &boot_reader, &bootinfo);
	console_setup(have_info ? bootinfo.cmdline : "");
	log_info("Umbra hypervisor " UMBRA_VERSION " (x86-64)");
	if (!have_info)
		panic("boot: not started by a multiboot loader (magic %#x)", magic);
	bootinfo_print(&bootinfo);
	power_init(&acpi, cmdline_has(bootinfo.cmdline, "exitcode"));

	memory_init();
	acpi_init();

	lapic_global_init(acpi.madt_valid ? acpi.lapic_address : 0);
	lapic_init_cpu();
	cpus[0].apic_id = lapic_id();
	struct tsc_refclock ref = {
		.hpet_base = acpi.hpet_valid ? acpi.hpet_address : 0,
		.pmtmr_port = acpi.pm_tmr_port,
		.pmtmr_32bit = acpi.pm_tmr_32bit,
	};
	tsc_calibrate(&ref);
	lapic_timer_calibrate();
	/* Legacy 8259s stay masked: every host interrupt comes via the LAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	timer_init_cpu();
	sched_init_cpu(boot_stack);
	smp_call_init();
	console_mark_percpu_ready();
	irq_enable();

	cpus_init();
	virt_init();

	crashtest(bootinfo.cmdline);
	if (cmdline_has(bootinfo.cmdline, "selftest")) {
		thread_create("selftest", 0, selftest_thread, NULL);
	} else if (bootinfo.module_count) {
		guests_start();
	} else {
		log_info("Umbra ready: %u CPU%s, no guests configured", nr_cpus, nr_cpus == 1 ? "" : "s");
		power_test_exit(UMBRA_EXIT_PASS);
	}
	sched_idle_loop();
}
