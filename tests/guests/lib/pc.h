/* PC platform helpers for guest test kernels: local APIC (xAPIC MMIO or
 * x2APIC MSRs), IOAPIC, 8259 pair, PIT and TSC calibration, CMOS, fw_cfg,
 * ACPI and MP table lookup, AP start-up (INIT-SIPI-SIPI into a real-mode
 * trampoline), spinlocks. Written against the architecture and QEMU's PC
 * (i440FX/PIIX): nothing here depends on Umbra. See tests/guests/README.md. */
#ifndef GUEST_PC_H
#define GUEST_PC_H

#include "guest.h"

/* ---- local APIC --------------------------------------------------------------
 * Register offsets are the xAPIC MMIO offsets; in x2APIC mode the same
 * register is MSR 0x800 + offset / 16. */
#define APIC_ID 0x020
#define APIC_VER 0x030
#define APIC_TPR 0x080
#define APIC_APR 0x090
#define APIC_PPR 0x0a0
#define APIC_EOI 0x0b0
#define APIC_RRD 0x0c0
#define APIC_LDR 0x0d0
#define APIC_DFR 0x0e0
#define APIC_SVR 0x0f0
#define APIC_ISR 0x100 /* 8 registers, 0x10 apart */
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_LVT_CMCI 0x2f0
#define APIC_ICR 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0
#define APIC_SELF_IPI 0x3f0 /* x2APIC only (MSR 0x83f) */

#define APIC_SVR_ENABLE (1u << 8)
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_EXTD (1u << 10)
#define APIC_BASE_EN (1u << 11)
#define XAPIC_DEFAULT_BASE 0xfee00000u

/* ICR low word. */
#define ICR_FIXED (0u << 8)
#define ICR_LOWEST (1u << 8)
#define ICR_SMI (2u << 8)
#define ICR_NMI (4u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_EXTINT (7u << 8)
#define ICR_LOGICAL (1u << 11)
#define ICR_BUSY (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_LEVEL (1u << 15)
#define ICR_SELF (1u << 18)
#define ICR_ALL (2u << 18)
#define ICR_OTHERS (3u << 18)

#define LVT_DM_FIXED (0u << 8)
#define LVT_DM_NMI (4u << 8)
#define LVT_DM_EXTINT (7u << 8)

/* true: x2APIC MSRs, false: xAPIC MMIO at lapic_mmio. Set by the helpers
 * below; every CPU of a guest uses the same mode. */
extern volatile bool apic_x2;
extern volatile u32 lapic_mmio;
/* Base address from IA32_APIC_BASE (bits 12..31; the guests run below 4 GiB). */
u32 lapic_base_from_msr(void);
/* Makes sure IA32_APIC_BASE has EN (xAPIC mode), records the MMIO base,
 * software-enables the APIC with SPURIOUS and TPR 0. */
void lapic_enable_xapic(u8 spurious);
/* EN|EXTD (from xAPIC) and the same. */
void lapic_enable_x2apic(u8 spurious);
u32 lapic_read(u32 reg);
void lapic_write(u32 reg, u32 val);
u32 lapic_id(void); /* APIC ID (bits 31:24 in xAPIC, whole register in x2APIC) */
static inline void lapic_eoi(void) { lapic_write(APIC_EOI, 0); }
/* Sends ICR_LO to DEST (APIC ID or logical mask; ignored with a shorthand)
 * and waits (bounded) for the xAPIC delivery-status bit to clear. Returns
 * false if it stayed busy. */
bool lapic_send_ipi(u32 dest, u32 icr_lo);
/* Bit VECTOR of the ISR/IRR/TMR register group at BASE. */
bool lapic_vec_bit(u32 base, u8 vector);
/* Remote MMIO access with a raw address (the garbage test). */
static inline u32 mmio_read32(u32 a) { return *(volatile u32 *)a; }
static inline void mmio_write32(u32 a, u32 v) { *(volatile u32 *)a = v; }

/* ---- IOAPIC -------------------------------------------------------------------- */
#define IOAPIC_DEFAULT_BASE 0xfec00000u
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_ARB 0x02
#define IOAPIC_REG_REDIR 0x10
#define RTE_LOGICAL (1u << 11)
#define RTE_PENDING (1u << 12)
#define RTE_ACTIVE_LOW (1u << 13)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LEVEL (1u << 15)
#define RTE_MASKED (1u << 16)
extern u32 ioapic_base;
u32 ioapic_read(u32 reg);
void ioapic_write(u32 reg, u32 val);
u64 ioapic_rte_get(u32 pin);
void ioapic_rte_set(u32 pin, u64 rte); /* writes the high half first */
static inline void ioapic_eoi_reg(u8 vector) { mmio_write32(ioapic_base + 0x40, vector); }

/* ---- 8259 pair ----------------------------------------------------------------- */
/* ICW1-4: master vectors BASE_M.., slave BASE_S.., slave on IRQ 2, normal
 * EOI; all 16 lines masked. */
void pic_init(u8 base_m, u8 base_s);
void pic_set_mask(u16 mask); /* bit n masks IRQ n (IRQ 2 is the cascade) */
u16 pic_get_mask(void);
void pic_eoi(u32 irq);
u8 pic_read_isr(bool slave);
u8 pic_read_irr(bool slave);

/* ---- PIT, TSC ---------------------------------------------------------------------- */
#define PIT_HZ 1193182u
/* Channel 0 in mode 2 (rate generator) at about HZ. */
void pit_ch0_periodic(u32 hz);
/* Channel 0 in mode 0 with the longest count: one IRQ ~55 ms later, then
 * quiet (the way to "stop" it). */
void pit_ch0_stop(void);
/* Busy-waits COUNT PIT ticks with channel 2 (port 0x61 gate, mode 0, OUT2
 * polled); returns false if OUT2 never rose (bounded). */
bool pit_ch2_wait(u16 count);
/* TSC ticks per millisecond, measured against PIT channel 2 (best of 3 x
 * 10 ms); also stored in tsc_per_ms. 0 if the PIT did not work. */
extern u64 tsc_per_ms;
u64 tsc_calibrate(void);
/* Busy-wait with the TSC (tsc_calibrate first; without it, 1 GHz is assumed). */
void tsc_delay_us(u32 us);
static inline u64 ms_to_tsc(u32 ms) { return (tsc_per_ms ? tsc_per_ms : 1000000) * ms; }

/* ---- CMOS ------------------------------------------------------------------------- */
u8 cmos_read(u8 index);

/* ---- fw_cfg (legacy port interface) ------------------------------------------------ */
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NB_CPUS 0x0005
#define FW_CFG_MAX_CPUS 0x000f
void fw_cfg_read(u16 key, void *buf, u32 len);
bool fw_cfg_present(void); /* signature "QEMU" */
u32 fw_cfg_nb_cpus(void);  /* 0 without fw_cfg */

/* ---- checksums, ACPI, MP ------------------------------------------------------------ */
u8 sum8(const void *p, u32 len);
struct acpi_rsdp {
	char sig[8];
	u8 checksum;
	char oem[6];
	u8 revision;
	u32 rsdt;
	u32 length;
	u64 xsdt;
	u8 xchecksum;
	u8 reserved[3];
} __attribute__((packed));
struct acpi_hdr {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem[6], oem_table[8];
	u32 oem_rev, creator, creator_rev;
} __attribute__((packed));
/* The RSDP from the first KiB of the EBDA, then 0xE0000-0xFFFFF (16-byte
 * steps, signature and 20-byte checksum); NULL if none. */
struct acpi_rsdp *acpi_find_rsdp(void);
/* Table with signature SIG via the XSDT (revision >= 2, below 4 GiB) or the
 * RSDT; the N-th such table (0-based). NULL if absent. */
struct acpi_hdr *acpi_find_table(const char *sig, u32 n);

#define MAX_CPUS 32
struct madt_info {
	bool found;
	u32 lapic_addr;
	u32 nr_cpus; /* enabled processors (types 0 and 9) */
	u32 apic_ids[MAX_CPUS];
	u32 nr_ioapics;
	u32 ioapic_id, ioapic_addr, ioapic_gsi_base; /* the first IOAPIC */
	u32 isa_gsi[16];   /* ISA IRQ -> GSI (identity unless overridden) */
	u16 isa_flags[16]; /* MPS INTI flags of the override, 0 = bus default */
};
void madt_parse(struct madt_info *m);

struct mp_floating {
	char sig[4];
	u32 config;
	u8 length, spec_rev, checksum;
	u8 features[5];
} __attribute__((packed));
struct mp_config {
	char sig[4];
	u16 length;
	u8 spec_rev, checksum;
	char oem[8], product[12];
	u32 oem_table;
	u16 oem_size, entries;
	u32 lapic;
	u16 ext_length;
	u8 ext_checksum, reserved;
} __attribute__((packed));
/* "_MP_" in the first KiB of the EBDA, the last KiB of base memory, then
 * 0xF0000-0xFFFFF (16-byte steps, valid checksum); NULL if none. */
struct mp_floating *mp_find_floating(void);
struct mp_info {
	bool found;
	u32 nr_cpus; /* enabled processor entries */
	u32 apic_ids[MAX_CPUS];
	u32 bsp_id;
	u32 nr_ioapics, ioapic_addr, ioapic_id;
	bool table_ok; /* config table signature and checksum valid */
};
void mp_parse(struct mp_info *m);

/* ---- SMP ------------------------------------------------------------------------- */
typedef volatile u32 spinlock_t;
static inline void spin_lock(spinlock_t *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			pause();
}
static inline void spin_unlock(spinlock_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }
static inline u32 atomic_inc(volatile u32 *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }

/* printf under a global lock (SMP guests). */
int lprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern spinlock_t print_lock;

/* AP start-up. The real-mode trampoline (lib/smp_tramp.S) is copied to
 * PAGE (below 1 MiB, 4 KiB aligned; SIPI vector = PAGE >> 12); it loads the
 * guest's GDT, enters 32-bit protected mode and calls ap_entry(index) on
 * its own 8 KiB stack, index = 1, 2, ... in order of arrival. */
#define AP_STACK_SIZE 8192
typedef void (*ap_entry_fn)(u32 index);
extern ap_entry_fn volatile ap_entry;
extern volatile u32 ap_next_index; /* APs that entered 32-bit code */
extern char ap_tramp_start[], ap_tramp_end[];
void smp_install_trampoline(u32 page);
/* Is [start, end) free of the image, the multiboot info, its command line,
 * memory map and modules? */
bool lowmem_range_free(u32 start, u32 end);
/* A 4 KiB page below 0xA0000 (not page 0) that lowmem_range_free accepts,
 * trying PREFERRED first; 0 if none. */
u32 lowmem_pick_page(u32 preferred);
/* 0 for the BSP (or anything not on an AP stack), else the AP's index. */
u32 smp_cpu_index(void);
/* A real-mode parking page at PAGE: its own IVT whose entries all IRET,
 * then cli/hlt forever (NMIs return to the hlt). SIPI vector PAGE >> 12. */
void smp_install_park(u32 page);
/* Fills a real-mode IVT at IVT (256 entries) pointing at PAGE's IRET. */
void smp_park_ivt(u32 page, u32 ivt);

/* ---- misc ------------------------------------------------------------------------ */
/* A 16-bit load from a constant low address (hidden from GCC's bounds
 * warnings about fixed addresses). */
static inline u16 peek16(u32 a)
{
	u16 v;
	asm volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}
/* Parses "64M", "1G", "4096K", "0x1000" or a plain number of bytes. */
u64 parse_size(const char *s);
/* xorshift32 */
static inline u32 prng_next(u32 *s)
{
	u32 x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}
/* Waits (interrupts enabled) until *COUNTER >= WANT or MS milliseconds
 * passed; returns with interrupts disabled; true if reached. */
bool wait_count(volatile u32 *counter, u32 want, u32 ms);

#endif
