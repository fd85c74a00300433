/*
 * Shadow paging glue (virt/shadow_paging.h): the guest keeps its own view
 * of CR0/CR3/CR4/EFER here; the hardware runs with CR0.PG=WP=1, CR4.PAE=1,
 * EFER.NXE=1 and CR3 = the shadow root (shadow/mmu.h says why). Every MOV
 * to or from CR0/CR3/CR4 exits and is done here as the CPU would (SDM vol. 3
 * §2.5, §4.1, §4.4.1, §9.8.5; APM vol. 2 §3.1), every #PF exits to the MMU.
 */
#include "arch/x86/cpu.h"
#include "kernel/log.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"
#include "virt/apic_bus.h"
#include "virt/cr_decode.h"
#include "virt/exit.h"
#include "virt/gva.h"
#include "virt/mmio.h"
#include "virt/shadow_paging.h"
#include "virt/vm.h"

#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_AM BIT(18)
#define CR4_PSE BIT(4)
#define CR4_FSGSBASE BIT(16)
#define CR4_PCIDE BIT(17)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define CR4_PKE BIT(22)
/* CR4 bits every 64-bit CPU has: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR
 * OSXMMEXCPT (SDM §2.5). */
#define CR4_BASE 0x7ffull
#define VEC_GP 13
#define VEC_PF 14
#define VEC_DF 8

static struct shadow_vcpu *sv(struct vcpu *v) { return v->shadow; }

/* --- guest memory for the MMU --------------------------------------------- */

static bool gm_read(void *ctx, u64 gpa, u64 *val, unsigned size)
{
	struct vm *vm = ctx;
	if (gpa >= vm->mem_bytes || (gpa & (size - 1)))
		return false;
	const void *p = guest_mem_ptr(&vm->mem, gpa);
	if (!p)
		return false;
	*val = size == 4 ? READ_ONCE(*(const u32 *)p) : READ_ONCE(*(const u64 *)p);
	return true;
}

static bool gm_cmpxchg(void *ctx, u64 gpa, u64 old, u64 new_, unsigned size)
{
	struct vm *vm = ctx;
	if (gpa >= vm->mem_bytes || (gpa & (size - 1)))
		return false;
	void *p = guest_mem_ptr(&vm->mem, gpa);
	if (!p)
		return false;
	if (size == 4) {
		u32 o = (u32)old;
		return __atomic_compare_exchange_n((u32 *)p, &o, (u32)new_, false, __ATOMIC_SEQ_CST,
						   __ATOMIC_SEQ_CST);
	}
	return __atomic_compare_exchange_n((u64 *)p, &old, new_, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static paddr_t gfn_to_hpa(void *ctx, u64 gfn)
{
	struct vm *vm = ctx;
	void *p = guest_mem_ptr(&vm->mem, gfn << 12);
	return p ? virt_to_phys(p) : 0;
}

/* Every vCPU flushes before its next entry; those in the guest are kicked
 * out and waited for, so none still uses an old translation on return. */
static void flush_remote_tlbs(void *ctx)
{
	struct vm *vm = ctx;
	u64 runs[VM_MAX_VCPUS];
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v || !v->shadow)
			continue;
		runs[i] = READ_ONCE(v->runs);
		__atomic_store_n(&v->shadow->flush_req, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST))
			vcpu_kick(v);
	}
	for (u32 i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v || !v->shadow)
			continue;
		while (__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST) && READ_ONCE(v->runs) == runs[i])
			cpu_relax();
	}
}

bool shadow_vm_init(struct vm *vm, u32 pool_pages)
{
	vm->mmu = kzalloc(sizeof(*vm->mmu));
	if (!vm->mmu)
		return false;
	const struct walk_mem gmem = { gm_read, gm_cmpxchg, vm };
	const struct mmu_ops ops = { gfn_to_hpa, flush_remote_tlbs, vm };
	/* Room for every vCPU's roots (4-level cache or 4 PAE quadrants) and
	 * the path a fault pins, whatever shadow_pages= says: a VM must not
	 * be able to starve itself of roots. */
	u32 roots = vm->nr_vcpus * (MMU_ROOT_CACHE + 4 + 4);
	pool_pages = MAX(pool_pages, roots + MMU_POOL_MIN);
	if (!mmu_init(vm->mmu, vm->mem_bytes >> 12, pool_pages, &gmem, &ops)) {
		kfree(vm->mmu);
		vm->mmu = NULL;
		return false;
	}
	return true;
}

void shadow_vm_destroy(struct vm *vm)
{
	if (!vm->mmu)
		return;
	mmu_destroy(vm->mmu);
	kfree(vm->mmu);
	vm->mmu = NULL;
}

/* A frame below 4 GiB: a PAE CR3 holds 32 bits (SDM §4.4.1, APM §5.2.2). */
static paddr_t frame_below_4g(void)
{
	paddr_t tried[8];
	int n = 0;
	paddr_t pa = frame_alloc_zeroed(0);
	while (pa != FRAME_NONE && pa >= (1ull << 32) && n < 8) {
		tried[n++] = pa;
		pa = frame_alloc_zeroed(0);
	}
	while (n)
		frame_free(tried[--n], 0);
	if (pa != FRAME_NONE && pa >= (1ull << 32)) {
		frame_free(pa, 0);
		pa = FRAME_NONE;
	}
	return pa;
}

bool shadow_vcpu_init(struct vcpu *v)
{
	struct shadow_vcpu *s = kzalloc(sizeof(*s));
	paddr_t root = frame_below_4g();
	if (!s || root == FRAME_NONE) {
		kfree(s);
		if (root != FRAME_NONE)
			frame_free(root, 0);
		log_err("VM %s: out of memory for shadow paging", v->vm->name);
		return false;
	}
	v->shadow = s;
	mmu_vcpu_init(&s->mmu, v->vm->mmu, root);
	/* The guest's physical-address width and 1 GiB pages, as its CPUID
	 * says: they decide reserved bits in its entries (SDM §4.5). */
	struct cpuid_regs r;
	vcpu_cpuid(v, 0x80000000, 0, &r);
	u32 max = r.eax;
	s->maxphyaddr = 36;
	if (max >= 0x80000008) {
		vcpu_cpuid(v, 0x80000008, 0, &r);
		s->maxphyaddr = (u8)MIN(MAX(r.eax & 0xff, 32u), 52u);
	}
	if (max >= 0x80000001) {
		vcpu_cpuid(v, 0x80000001, 0, &r);
		if (r.edx & BIT(26))
			s->walk_features |= WALK_FEAT_1G_PAGES;
	}
	if (!virt_backend->shadow_enable(v))
		return false;
	return true;
}

void shadow_vcpu_destroy(struct vcpu *v)
{
	struct shadow_vcpu *s = sv(v);
	if (!s)
		return;
	mmu_vcpu_destroy(&s->mmu);
	frame_free(s->mmu.pae_root_pa, 0);
	kfree(s);
	v->shadow = NULL;
}

/* --- the paging registers ------------------------------------------------- */

static struct walk_ctx walk_ctx_of(struct shadow_vcpu *s)
{
	struct guest_paging *g = &s->guest;
	return (struct walk_ctx){ g->cr0, g->cr3, g->cr4, g->efer, 0, s->maxphyaddr,
				  s->walk_features, s->pdptes };
}

static bool pae_paging(const struct guest_paging *g)
{
	return (g->cr0 & CR0_PG) && (g->cr4 & CR4_PAE) && !(g->efer & EFER_LMA);
}

/* Hands the guest's registers to the MMU (new root) and the hardware's to
 * the backend. False: the VM was stopped. */
static bool load_paging(struct vcpu *v)
{
	struct shadow_vcpu *s = sv(v);
	struct guest_paging *g = &s->guest, hw;
	struct walk_ctx ctx = walk_ctx_of(s);
	if (!mmu_load_context(&s->mmu, &ctx)) {
		vcpu_crash(v, "shadow paging: no room for the page-table root");
		return false;
	}
	bool paged = g->cr0 & CR0_PG;
	hw.cr0 = g->cr0 | CR0_PG | CR0_WP;
	hw.cr4 = (g->cr4 | CR4_PAE) & ~CR4_PCIDE;
	hw.efer = g->efer | EFER_NXE;
	if (!paged) {
		/* Identity shadow: no user/supervisor rules, no long mode yet. */
		hw.cr4 &= ~(CR4_SMEP | CR4_SMAP | CR4_PKE);
		hw.efer &= ~(EFER_LME | EFER_LMA);
	}
	hw.cr3 = s->mmu.root_pa;
	virt_backend->load_shadow_paging(v, g, &hw);
	return true;
}

void shadow_vcpu_reset(struct vcpu *v, u64 cr0)
{
	struct shadow_vcpu *s = sv(v);
	s->guest = (struct guest_paging){ cr0, 0, 0, 0 };
	if (!(cr0 & CR0_PE) && virt_shadow_real_mode == SHADOW_REAL_MODE_NONE) {
		vcpu_crash(v, "real mode under shadow paging needs AMD-V or VT-x with "
			      "unrestricted guest (EPT)");
		return;
	}
	load_paging(v);
}

bool shadow_prepare_entry(struct vcpu *v)
{
	struct shadow_vcpu *s = sv(v);
	u64 old_root = s->mmu.root_pa;
	if (!mmu_reload_if_needed(&s->mmu)) {
		vcpu_crash(v, "shadow paging: no room for the page-table root");
		return false;
	}
	if (s->mmu.root_pa != old_root)
		return load_paging(v);
	return true;
}

void shadow_flush_before_entry(struct vcpu *v)
{
	struct shadow_vcpu *s = sv(v);
	bool remote = __atomic_exchange_n(&s->flush_req, 0, __ATOMIC_SEQ_CST);
	if (remote || s->mmu.need_flush) {
		s->mmu.need_flush = false;
		virt_backend->flush_guest_tlb(v);
	}
}

/* The MOV to CR0/CR3/CR4 and EFER rules. Each returns false for #GP. */

static bool in_long_mode_64(struct vcpu *v)
{
	return vcpu_cpu_mode(v) == GUEST_MODE_LONG64;
}

static bool load_pdptes(struct vcpu *v, const struct guest_paging *g)
{
	struct shadow_vcpu *s = sv(v);
	struct walk_ctx ctx = walk_ctx_of(s);
	ctx.cr0 = g->cr0;
	ctx.cr3 = g->cr3;
	ctx.cr4 = g->cr4;
	ctx.efer = g->efer;
	u64 p[4];
	if (walk_load_pdptes(&v->vm->mmu->gmem, &ctx, p) != WALK_OK)
		return false;
	memcpy(s->pdptes, p, sizeof(p));
	return true;
}

/* Commits new registers: PDPTEs when PAE paging is (re)entered or CR3
 * changes under it (SDM §4.4.1), then the MMU and the hardware. */
static bool commit(struct vcpu *v, const struct guest_paging *n, bool reload_pdptes)
{
	if (pae_paging(n) && reload_pdptes && !load_pdptes(v, n))
		return false;
	sv(v)->guest = *n;
	load_paging(v);
	return true;
}

static bool set_cr0(struct vcpu *v, u64 val)
{
	struct guest_paging n = sv(v)->guest;
	u64 old = n.cr0;
	if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
		return false;
	val |= CR0_ET; /* hardwired on every CPU since the 486 */
	if (!(val & CR0_PE) && virt_shadow_real_mode == SHADOW_REAL_MODE_NONE) {
		vcpu_crash(v, "the guest left protected mode; real mode under shadow paging needs "
			      "AMD-V or VT-x with unrestricted guest (EPT)");
		return true;
	}
	if (!(old & CR0_PG) && (val & CR0_PG) && (n.efer & EFER_LME)) {
		/* Paging on with LME: IA-32e mode, PAE required (§9.8.5). */
		if (!(n.cr4 & CR4_PAE))
			return false;
		n.efer |= EFER_LMA;
	} else if ((old & CR0_PG) && !(val & CR0_PG)) {
		if (in_long_mode_64(v))
			return false; /* paging off from 64-bit code: #GP */
		n.efer &= ~EFER_LMA;
	}
	n.cr0 = val;
	/* Real mode ran on the nested p2m, where the guest's writes to its
	 * page tables went unseen: whatever was shadowed may be stale. */
	if (!(old & CR0_PE) && (val & CR0_PE) && virt_shadow_real_mode == SHADOW_REAL_MODE_TDP)
		mmu_zap_all(v->vm->mmu);
	return commit(v, &n, (old ^ val) & (CR0_PG | CR0_CD | CR0_NW));
}

static u64 cr4_allowed(struct vcpu *v)
{
	struct cpuid_regs r;
	u64 ok = CR4_BASE;
	vcpu_cpuid(v, 7, 0, &r);
	if (r.ebx & BIT(0))
		ok |= CR4_FSGSBASE;
	if (r.ebx & BIT(7))
		ok |= CR4_SMEP;
	if (r.ebx & BIT(20))
		ok |= CR4_SMAP;
	return ok;
}

static bool set_cr4(struct vcpu *v, u64 val)
{
	struct guest_paging n = sv(v)->guest;
	u64 old = n.cr4;
	if (val & ~cr4_allowed(v))
		return false;
	if ((n.efer & EFER_LMA) && !(val & CR4_PAE))
		return false;
	n.cr4 = val;
	return commit(v, &n, (old ^ val) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP));
}

static bool set_cr3(struct vcpu *v, u64 val)
{
	struct guest_paging n = sv(v)->guest;
	if (n.efer & EFER_LMA) {
		/* Bits above MAXPHYADDR are reserved; PCID is not offered, so
		 * bit 63 is too (§4.5, MOV CR). */
		if (val >> sv(v)->maxphyaddr)
			return false;
	} else {
		val = (u32)val;
	}
	n.cr3 = val;
	return commit(v, &n, true);
}

bool shadow_set_efer(struct vcpu *v, u64 efer)
{
	struct guest_paging n = sv(v)->guest;
	/* What the backend accepts (reserved bits); LMA stays the CPU's. */
	if (!virt_backend->set_efer(v, efer))
		return false;
	n.efer = (efer & ~EFER_LMA) | (n.efer & EFER_LMA);
	return commit(v, &n, false);
}

/* --- the instruction emulator's view --------------------------------------- */

bool shadow_translate(struct vcpu *v, u64 linear, unsigned acc, u64 *gpa, struct emu_fault *fault)
{
	struct shadow_vcpu *s = sv(v);
	struct walk_ctx ctx = walk_ctx_of(s);
	ctx.rflags = virt_backend->get_rflags(v);
	struct walk_result w;
	switch (guest_walk(&v->vm->mmu->gmem, &ctx, linear, acc, &w)) {
	case WALK_OK:
		*gpa = w.gpa;
		return true;
	case WALK_PAGE_FAULT:
		*fault = (struct emu_fault){ VEC_PF, true, w.error_code, linear };
		return false;
	case WALK_NONCANONICAL:
		*fault = (struct emu_fault){ VEC_GP, true, 0, 0 };
		return false;
	case WALK_RETRY:
		*fault = (struct emu_fault){ .vector = EMU_VEC_AGAIN, .cr2 = linear };
		return false;
	default:
		*fault = (struct emu_fault){ .vector = EMU_VEC_STOP, .cr2 = linear };
		return false;
	}
}

bool shadow_ram_write(struct vm *vm, u64 gpa, const void *buf, unsigned len)
{
	struct gpa_access ram = guest_mem_access(&vm->mem);
	u8 old[16];
	if (len > sizeof(old) || !ram.read(ram.ctx, gpa, old, len) || !ram.write(ram.ctx, gpa, buf, len))
		return false;
	mmu_guest_wrote(vm->mmu, gpa, old, buf, len); /* zaps what shadows it */
	return true;
}

/* --- exits ------------------------------------------------------------------ */

/* The instruction at RIP (AMD-V without decode assists names only the CR). */
static bool fetch_cr_insn(struct vcpu *v, struct cr_insn *insn)
{
	struct guest_paging p = sv(v)->guest;
	struct vseg cs;
	virt_backend->get_seg(v, SEG_CS, &cs);
	u64 lin = cs.base + virt_backend->get_rip(v);
	enum guest_cpu_mode mode = vcpu_cpu_mode(v);
	if (mode != GUEST_MODE_LONG64)
		lin = (u32)lin;
	struct gpa_access mem = guest_mem_access(&v->vm->mem);
	u8 bytes[15];
	unsigned n = 15;
	if (!guest_read_virt(&mem, &p, lin, bytes, n)) {
		n = (unsigned)MIN(15u, PAGE_SIZE - (lin & (PAGE_SIZE - 1)));
		if (!guest_read_virt(&mem, &p, lin, bytes, n))
			return false;
	}
	return cr_decode(bytes, n, mode, insn);
}

static void advance(struct vcpu *v, u32 len)
{
	u64 rip = virt_backend->get_rip(v) + len;
	if (vcpu_cpu_mode(v) != GUEST_MODE_LONG64)
		rip = (u32)rip;
	virt_backend->set_rip(v, rip);
	virt_backend->clear_interrupt_shadow(v);
}

void shadow_handle_cr_access(struct vcpu *v, const struct vm_exit *e)
{
	struct cr_insn insn = { .op = e->u.cr.op, .cr = e->u.cr.cr, .gpr = e->u.cr.gpr,
				.len = (u8)e->insn_len };
	if (insn.gpr == -1 || !insn.len) {
		/* AMD-V without decode assists says only "read (or write) of
		 * CRn": the instruction tells which one it was. */
		struct cr_insn d;
		if (!fetch_cr_insn(v, &d)) {
			vcpu_crash(v, "cannot decode the control-register instruction at RIP");
			return;
		}
		bool read = insn.op == CR_OP_MOV_FROM || insn.op == CR_OP_SMSW;
		bool d_read = d.op == CR_OP_MOV_FROM || d.op == CR_OP_SMSW;
		bool d_write = d.op == CR_OP_MOV_TO || d.op == CR_OP_CLTS || d.op == CR_OP_LMSW;
		if ((read ? !d_read : !d_write) ||
		    ((d.op == CR_OP_MOV_FROM || d.op == CR_OP_MOV_TO) && d.cr != insn.cr))
			return; /* the bytes changed under us: run it again */
		insn = d;
	}
	struct guest_paging *g = &sv(v)->guest;
	bool wide = in_long_mode_64(v), ok = true;
	u64 src = insn.gpr >= 0 ? v->gpr[insn.gpr] : 0;
	if (!wide)
		src = (u32)src;
	switch (insn.op) {
	case CR_OP_MOV_TO:
		ok = insn.cr == 0 ? set_cr0(v, src) : insn.cr == 3 ? set_cr3(v, src) :
		     insn.cr == 4 ? set_cr4(v, src) : false;
		break;
	case CR_OP_MOV_FROM: {
		u64 val = insn.cr == 0 ? g->cr0 : insn.cr == 3 ? g->cr3 : g->cr4;
		v->gpr[insn.gpr] = wide ? val : (u32)val;
		break;
	}
	case CR_OP_CLTS:
		ok = set_cr0(v, g->cr0 & ~CR0_TS);
		break;
	case CR_OP_LMSW: {
		/* Bits 3:0 of CR0; LMSW can set PE but not clear it. */
		u16 msw = insn.gpr >= 0 ? (u16)src : e->u.cr.lmsw;
		if (insn.gpr == -1 && e->u.cr.gpr != -2) {
			vcpu_crash(v, "LMSW with a memory operand is not supported under shadow paging");
			return;
		}
		ok = set_cr0(v, (g->cr0 & ~0xeull) | (msw & 0xf));
		break;
	}
	case CR_OP_SMSW:
		if (insn.gpr < 0) {
			vcpu_crash(v, "SMSW to memory is not supported under shadow paging");
			return;
		}
		/* The register gets CR0's low bits (upper bits: CR0's too). */
		v->gpr[insn.gpr] = wide ? g->cr0 : (u32)g->cr0;
		break;
	default:
		ok = false;
	}
	if (v->vm->state != VM_RUNNING)
		return;
	if (!ok) {
		vcpu_inject_exception(v, VEC_GP, true, 0);
		return;
	}
	advance(v, insn.len);
}

/* The guest's own #PF. If the CPU was delivering an event when it faulted
 * (the backend queued that event again), SDM §6.15 Table 6-5 decides: a
 * #PF while delivering a #PF is a double fault; after anything else the
 * #PF is delivered, and the interrupted event is lost, as on hardware
 * (an external interrupt's vector stays in service). */
static void inject_page_fault(struct vcpu *v, u64 addr, u32 error_code)
{
	struct vevent ev;
	bool nested = virt_backend->event_pending(v, &ev) && ev.type == VEVENT_EXCEPTION &&
		      ev.vector == VEC_PF;
	virt_backend->set_cr2(v, addr);
	if (nested)
		vcpu_inject_exception(v, VEC_DF, true, 0);
	else
		vcpu_inject_exception(v, VEC_PF, true, error_code);
}

void shadow_handle_page_fault(struct vcpu *v, const struct vm_exit *e)
{
	struct mmu_fault f;
	u64 addr = e->u.pf.addr;
	char msg[120];
	switch (mmu_page_fault(&sv(v)->mmu, addr, e->u.pf.error_code, virt_backend->get_rflags(v),
			       &f)) {
	case MMU_FAULT_FIXED:
		return;
	case MMU_FAULT_INJECT:
		inject_page_fault(v, addr, f.error_code);
		return;
	case MMU_FAULT_EMULATE:
	case MMU_FAULT_MMIO:
		if (vcpu_emulate(v, f.gpa))
			return;
		umbra_snprintf(msg, sizeof(msg), "access to guest-physical %#llx (linear %#llx): "
			       "not RAM and no device there", (unsigned long long)f.gpa,
			       (unsigned long long)addr);
		vcpu_crash(v, msg);
		return;
	case MMU_FAULT_ERROR:
		if (f.gpa)
			umbra_snprintf(msg, sizeof(msg), "shadow paging at linear %#llx: %s (at %#llx)",
				       (unsigned long long)addr, f.why, (unsigned long long)f.gpa);
		else
			umbra_snprintf(msg, sizeof(msg), "shadow paging at linear %#llx: %s",
				       (unsigned long long)addr, f.why);
		vcpu_crash(v, msg);
		return;
	}
}

/* The shadow tables follow every guest write, so INVLPG only has to drop
 * the hardware's TLB entries (all of this vCPU's: simpler, and correct). */
void shadow_handle_invlpg(struct vcpu *v, const struct vm_exit *e)
{
	u32 len = e->insn_len;
	if (!len) {
		struct cr_insn d;
		if (!fetch_cr_insn(v, &d) || d.op != CR_OP_INVLPG)
			return;
		len = d.len;
	}
	sv(v)->mmu.need_flush = true;
	advance(v, len);
}

void shadow_print_stats(const struct vm *vm)
{
	const struct mmu_stats *s = &vm->mmu->stats;
	log_info("VM %s shadow MMU: %llu faults (%llu fixed, %llu the guest's #PF, %llu spurious), "
		 "%llu emulated (%llu page-table writes)", vm->name,
		 (unsigned long long)s->faults, (unsigned long long)s->faults_fixed,
		 (unsigned long long)s->faults_injected, (unsigned long long)s->faults_spurious,
		 (unsigned long long)s->emulations, (unsigned long long)s->pt_writes);
	log_info("VM %s shadow pages: %llu allocated, %llu zapped (%llu reclaimed, %llu flooded), "
		 "%u in the pool of %u; roots %llu new, %llu reused; %llu remote flushes",
		 vm->name, (unsigned long long)s->sp_allocated, (unsigned long long)s->sp_zapped,
		 (unsigned long long)s->sp_reclaimed, (unsigned long long)s->sp_flooded,
		 vm->mmu->nr_allocated, vm->mmu->nr_pages, (unsigned long long)s->roots_new,
		 (unsigned long long)s->roots_reused, (unsigned long long)s->remote_flushes);
}
