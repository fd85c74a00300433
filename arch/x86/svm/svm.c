/* AMD-V backend (AMD APM vol. 2, chapter 15): SVM enable, one VMCB per vCPU,
 * the VMRUN loop and exit decoding into struct vm_exit. */
#include "arch/x86/cpu.h"
#include "arch/x86/svm/vmcb.h"
#include "arch/x86/virt_detect.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/kmalloc.h"
#include "mm/phys.h"
#include "virt/vm.h"

#define MSR_VM_CR 0xc0010114
#define VM_CR_SVMDIS BIT(4)
#define IOPM_PAGES_ORDER 2  /* 12 KiB used */
#define MSRPM_PAGES_ORDER 1 /* 8 KiB */
#define EFER_GUEST_BASE (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define EFER_FFXSR BIT(14)
#define EFER_TCE BIT(15)

struct svm_vcpu {
	struct vmcb *vmcb;
	paddr_t vmcb_pa;
	bool flush_tlb;  /* next entry flushes this ASID's TLB entries */
};

/* Once there were more vCPUs than ASIDs, ASIDs are shared and every entry
 * flushes (simple and safe; per-CPU ASID generations would be faster). */
static bool asids_shared;

static paddr_t hsave_pa[MAX_CPUS];
static paddr_t host_vmcb_pa[MAX_CPUS];
static paddr_t iopm_pa, msrpm_pa;
static bool nrip_save, decode_assists;
static u32 nr_asids;
static u32 next_asid = 1;

void svm_world_switch(u64 *gpr, paddr_t vmcb_pa, paddr_t host_vmcb_pa);

/* MSRPM: two bits (read, write) per MSR in three 8 KiB-MSR ranges (APM 15.11). */
static void msrpm_passthrough(u32 msr)
{
	u32 base;
	if (msr < 0x2000)
		base = 0;
	else if (msr >= 0xc0000000 && msr < 0xc0002000)
		base = 0x800, msr -= 0xc0000000;
	else if (msr >= 0xc0010000 && msr < 0xc0012000)
		base = 0x1000, msr -= 0xc0010000;
	else
		return;
	u8 *pm = phys_to_virt(msrpm_pa);
	pm[base + msr / 4] &= ~(3u << ((msr % 4) * 2));
}

static bool svm_global_init(void)
{
	iopm_pa = frame_alloc(IOPM_PAGES_ORDER);
	msrpm_pa = frame_alloc(MSRPM_PAGES_ORDER);
	if (iopm_pa == FRAME_NONE || msrpm_pa == FRAME_NONE)
		return false;
	/* Intercept every port and every MSR, then open the MSRs VMLOAD/VMRUN
	 * switch from the VMCB anyway. */
	memset(phys_to_virt(iopm_pa), 0xff, PAGE_SIZE << IOPM_PAGES_ORDER);
	memset(phys_to_virt(msrpm_pa), 0xff, PAGE_SIZE << MSRPM_PAGES_ORDER);
	static const u32 passthrough[] = {
		MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
		0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, SFMASK */
		0x174, 0x175, 0x176,                            /* SYSENTER_CS/ESP/EIP */
	};
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++)
		msrpm_passthrough(passthrough[i]);
	struct cpuid_regs r = cpuid(0x8000000a, 0);
	nrip_save = r.edx & BIT(3);
	decode_assists = r.edx & BIT(7);
	nr_asids = r.ebx;
	return true;
}

static bool svm_cpu_enable(void)
{
	u32 cpu = this_cpu_index();
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
		log_err("svm: SVM is disabled by firmware (VM_CR.SVMDIS)");
		return false;
	}
	if (cpu == 0 && !svm_global_init()) {
		log_err("svm: out of memory for the I/O and MSR permission maps");
		return false;
	}
	hsave_pa[cpu] = frame_alloc_zeroed(0);
	host_vmcb_pa[cpu] = frame_alloc_zeroed(0);
	if (hsave_pa[cpu] == FRAME_NONE || host_vmcb_pa[cpu] == FRAME_NONE)
		return false;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, hsave_pa[cpu]);
	/* The host's FS/GS/TR/... as VMLOAD will restore them after each exit. */
	__asm__ volatile("vmsave %%rax" : : "a"(host_vmcb_pa[cpu]) : "memory");
	return true;
}

static void svm_cpu_disable(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
}

static struct svm_vcpu *svm(struct vcpu *v) { return v->arch; }
static struct vmcb *vmcb_of(struct vcpu *v) { return svm(v)->vmcb; }

static int svm_vcpu_create(struct vcpu *v)
{
	struct svm_vcpu *s = kzalloc(sizeof(*s));
	if (!s)
		return -1;
	s->vmcb_pa = frame_alloc_zeroed(0);
	if (s->vmcb_pa == FRAME_NONE) {
		kfree(s);
		return -1;
	}
	s->vmcb = phys_to_virt(s->vmcb_pa);
	v->arch = s;
	struct vmcb_control *c = &s->vmcb->control;
	c->intercept_misc1 = INTERCEPT_MISC1_INTR | INTERCEPT_MISC1_NMI | INTERCEPT_MISC1_SMI |
			     INTERCEPT_MISC1_INIT | INTERCEPT_MISC1_CPUID | INTERCEPT_MISC1_INVD |
			     INTERCEPT_MISC1_HLT | INTERCEPT_MISC1_IOIO | INTERCEPT_MISC1_MSR |
			     INTERCEPT_MISC1_SHUTDOWN;
	c->intercept_misc2 = INTERCEPT_MISC2_VMRUN | INTERCEPT_MISC2_VMMCALL |
			     INTERCEPT_MISC2_VMLOAD | INTERCEPT_MISC2_VMSAVE | INTERCEPT_MISC2_STGI |
			     INTERCEPT_MISC2_CLGI | INTERCEPT_MISC2_SKINIT | INTERCEPT_MISC2_MONITOR |
			     INTERCEPT_MISC2_MWAIT | INTERCEPT_MISC2_MWAIT_COND;
	c->intercept_exceptions = BIT(18); /* #MC: the host must see it */
	c->iopm_base_pa = iopm_pa;
	c->msrpm_base_pa = msrpm_pa;
	/* Physical interrupts always exit; the guest's IF masks only its own. */
	c->int_ctl = SVM_V_INTR_MASKING;
	/* One ASID per vCPU while they last; after that vCPUs share ASIDs and
	 * every entry flushes the TLB. */
	u32 n = __atomic_fetch_add(&next_asid, 1, __ATOMIC_RELAXED);
	c->asid = nr_asids > 1 ? 1 + (n - 1) % (nr_asids - 1) : 1;
	s->flush_tlb = true;
	if (n >= nr_asids)
		asids_shared = true;
	return 0;
}

static void svm_vcpu_destroy(struct vcpu *v)
{
	struct svm_vcpu *s = svm(v);
	if (!s)
		return;
	frame_free(s->vmcb_pa, 0);
	kfree(s);
	v->arch = NULL;
}

static void seg_set(struct vmcb_seg *s, u16 sel, u16 attrib, u32 limit, u64 base)
{
	*s = (struct vmcb_seg){ sel, attrib, limit, base };
}

/* What both reset states share: system segments, control and debug
 * registers, flags; no event or interrupt shadow pending. */
static void reset_common(struct vcpu *v, u64 cr0)
{
	struct vmcb *vm = vmcb_of(v);
	struct vmcb_save *s = &vm->save;
	seg_set(&s->gdtr, 0, 0, 0xffff, 0);
	seg_set(&s->idtr, 0, 0, 0x3ff, 0);
	seg_set(&s->ldtr, 0, 0x82, 0xffff, 0);
	seg_set(&s->tr, 0, 0x8b, 0xffff, 0);
	s->cpl = 0;
	s->efer = EFER_SVME; /* VMRUN requires it; hidden from the guest */
	s->cr0 = cr0;
	s->cr2 = s->cr3 = s->cr4 = 0;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->g_pat = 0x0007040600070406ull; /* the power-on PAT */
	vm->control.event_inj = 0;
	vm->control.int_state = 0;
	svm(v)->flush_tlb = true;
}

static void svm_vcpu_reset_protected32(struct vcpu *v, u32 eip)
{
	struct vmcb_save *s = &vmcb_of(v)->save;
	reset_common(v, CR0_PE | BIT(4) /* ET */);
	/* Multiboot spec 3.2: flat 4 GiB code and data, PE on, paging off. */
	seg_set(&s->cs, 0x08, 0xc9b, 0xffffffff, 0);
	seg_set(&s->ds, 0x10, 0xc93, 0xffffffff, 0);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->rip = eip;
}

static void svm_vcpu_reset_real_mode(struct vcpu *v, u8 vector)
{
	struct vmcb_save *s = &vmcb_of(v)->save;
	reset_common(v, 0x60000010 /* CD, NW, ET: the INIT value */);
	seg_set(&s->cs, (u16)(vector << 8), 0x9b, 0xffff, (u64)vector << 12);
	seg_set(&s->ds, 0, 0x93, 0xffff, 0);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->rip = 0;
}

static u64 svm_get_rip(struct vcpu *v) { return vmcb_of(v)->save.rip; }
static void svm_set_rip(struct vcpu *v, u64 rip) { vmcb_of(v)->save.rip = rip; }
static void svm_clear_interrupt_shadow(struct vcpu *v)
{
	vmcb_of(v)->control.int_state &= ~SVM_INT_SHADOW;
}
static u64 svm_get_rflags(struct vcpu *v) { return vmcb_of(v)->save.rflags; }
static void svm_set_rflags(struct vcpu *v, u64 f) { vmcb_of(v)->save.rflags = f | 2; }
static void svm_set_cr2(struct vcpu *v, u64 cr2) { vmcb_of(v)->save.cr2 = cr2; }
static u8 svm_get_cpl(struct vcpu *v) { return vmcb_of(v)->save.cpl; }

static void svm_sync_gprs_in(struct vcpu *v)
{
	v->gpr[RAX] = vmcb_of(v)->save.rax;
	v->gpr[RSP] = vmcb_of(v)->save.rsp;
}

static void svm_sync_gprs_out(struct vcpu *v)
{
	vmcb_of(v)->save.rax = v->gpr[RAX];
	vmcb_of(v)->save.rsp = v->gpr[RSP];
}

static void svm_get_seg(struct vcpu *v, enum vseg_index i, struct vseg *out)
{
	/* The VMCB keeps ES..GS, then GDTR, LDTR, IDTR, TR: 16 bytes each. */
	static const u8 slot[SEG_COUNT] = { 0, 1, 2, 3, 4, 5, [SEG_LDTR] = 7, [SEG_TR] = 9 };
	const struct vmcb_seg *seg = &vmcb_of(v)->save.es + slot[i];
	*out = (struct vseg){ seg->sel, seg->attrib, seg->limit, seg->base };
}

static void svm_get_paging(struct vcpu *v, u64 *cr0, u64 *cr3, u64 *cr4, u64 *efer)
{
	struct vmcb_save *s = &vmcb_of(v)->save;
	*cr0 = s->cr0;
	*cr3 = s->cr3;
	*cr4 = s->cr4;
	*efer = s->efer & ~EFER_SVME;
}

static u64 svm_get_efer(struct vcpu *v) { return vmcb_of(v)->save.efer & ~EFER_SVME; }

/* EFER bits a guest may set: the base ones plus FFXSR and TCE when the CPU
 * has them (CPUID 8000_0001 EDX[25], ECX[17]); LMSLE is not offered. */
static u64 efer_guest_allowed(void)
{
	struct cpuid_regs r = cpuid(0x80000001, 0);
	return EFER_GUEST_BASE | ((r.edx & BIT(25)) ? EFER_FFXSR : 0) |
	       ((r.ecx & BIT(17)) ? EFER_TCE : 0);
}

static bool svm_set_efer(struct vcpu *v, u64 efer)
{
	if (efer & ~efer_guest_allowed())
		return false;
	struct vmcb_save *s = &vmcb_of(v)->save;
	/* LMA is the CPU's to set (when paging turns on with LME). */
	s->efer = (efer & ~EFER_LMA) | (s->efer & EFER_LMA) | EFER_SVME;
	return true;
}

static u64 svm_get_pat(struct vcpu *v) { return vmcb_of(v)->save.g_pat; }
static void svm_set_pat(struct vcpu *v, u64 pat) { vmcb_of(v)->save.g_pat = pat; }
static void svm_set_tsc_offset(struct vcpu *v, u64 off) { vmcb_of(v)->control.tsc_offset = off; }

static bool svm_interrupt_allowed(struct vcpu *v)
{
	struct vmcb *vm = vmcb_of(v);
	return (vm->save.rflags & RFLAGS_IF) && !(vm->control.int_state & SVM_INT_SHADOW) &&
	       !(vm->control.event_inj & SVM_EVTINJ_VALID);
}

/* A virtual interrupt request (V_IRQ) with the VINTR intercept: the CPU exits
 * as soon as the guest could take an interrupt (APM 15.21.4). */
static void svm_request_interrupt_window(struct vcpu *v, bool on)
{
	struct vmcb_control *c = &vmcb_of(v)->control;
	if (on) {
		c->int_ctl |= SVM_V_IRQ | SVM_V_IGN_TPR | (0xfull << 16);
		c->intercept_misc1 |= INTERCEPT_MISC1_VINTR;
	} else {
		c->int_ctl &= ~(SVM_V_IRQ | SVM_V_IGN_TPR | (0xfull << 16));
		c->intercept_misc1 &= ~INTERCEPT_MISC1_VINTR;
	}
}

static void svm_inject_event(struct vcpu *v, enum vevent_type type, u8 vector, bool has_error,
			     u32 error)
{
	u64 ev = vector | ((u64)type << SVM_EVTINJ_TYPE_SHIFT) | SVM_EVTINJ_VALID;
	if (has_error)
		ev |= SVM_EVTINJ_ERR_VALID | ((u64)error << 32);
	vmcb_of(v)->control.event_inj = ev;
}

static bool svm_event_pending(struct vcpu *v, struct vevent *out)
{
	u64 ev = vmcb_of(v)->control.event_inj;
	if (out)
		*out = (struct vevent){ (ev >> SVM_EVTINJ_TYPE_SHIFT) & 7, ev & 0xff };
	return ev & SVM_EVTINJ_VALID;
}

static void svm_set_tdp_root(struct vcpu *v, paddr_t root)
{
	struct vmcb_control *c = &vmcb_of(v)->control;
	c->np_enable = 1;
	c->n_cr3 = root;
}

/* Shadow paging (virt/shadow_paging.c): #PF, INVLPG and CR0/CR3/CR4 reads
 * and writes exit; nested paging stays off. */
static bool svm_shadow_enable(struct vcpu *v)
{
	struct vmcb_control *c = &vmcb_of(v)->control;
	c->np_enable = 0;
	c->intercept_cr |= SVM_INTERCEPT_CR_SHADOW;
	c->intercept_exceptions |= BIT(14);
	c->intercept_misc1 |= INTERCEPT_MISC1_INVLPG;
	return true;
}

static void svm_load_shadow_paging(struct vcpu *v, const struct guest_paging *guest,
				   const struct guest_paging *hw)
{
	(void)guest; /* reads of CR0/CR3/CR4 and EFER exit: the generic code answers */
	struct vmcb_save *s = &vmcb_of(v)->save;
	s->cr0 = hw->cr0;
	s->cr3 = hw->cr3;
	s->cr4 = hw->cr4;
	s->efer = hw->efer | EFER_SVME;
}

static void svm_flush_guest_tlb(struct vcpu *v) { svm(v)->flush_tlb = true; }

static void decode_cr(struct vm_exit *e, u64 code, u64 info1)
{
	e->kind = EXIT_CR_ACCESS;
	bool write = code >= SVM_EXIT_CR0_WRITE;
	e->u.cr.cr = (u8)(code & 0xf);
	e->u.cr.op = write ? CR_OP_MOV_TO : CR_OP_MOV_FROM;
	e->u.cr.gpr = -1; /* the generic code decodes the instruction */
	if (decode_assists && (info1 & SVM_CR_INFO_MOV))
		e->u.cr.gpr = (s8)(info1 & SVM_CR_INFO_GPR_MASK);
}

static void decode_ioio(struct vm_exit *e, u64 info1)
{
	e->kind = EXIT_IO;
	e->u.io.port = info1 >> 16;
	e->u.io.in = info1 & SVM_IOIO_TYPE_IN;
	e->u.io.string = info1 & SVM_IOIO_STR;
	e->u.io.rep = info1 & SVM_IOIO_REP;
	e->u.io.size = (info1 & SVM_IOIO_SZ32) ? 4 : (info1 & SVM_IOIO_SZ16) ? 2 : 1;
	e->u.io.addr_size = (info1 & SVM_IOIO_A64) ? 8 : (info1 & SVM_IOIO_A32) ? 4 : 2;
	e->u.io.seg = (info1 >> SVM_IOIO_SEG_SHIFT) & 7;
}

static void svm_decode_exit(struct vcpu *v, struct vm_exit *e)
{
	struct vmcb *vm = vmcb_of(v);
	u64 code = vm->control.exit_code;
	u64 info1 = vm->control.exit_info1;
	memset(e, 0, sizeof(*e));
	e->raw_reason = code;
	if (nrip_save && vm->control.next_rip > vm->save.rip)
		e->insn_len = (u32)(vm->control.next_rip - vm->save.rip);
	switch (code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_INIT:
		e->kind = EXIT_NONE; /* the host takes it once interrupts are on */
		break;
	case SVM_EXIT_VINTR:
		svm_request_interrupt_window(v, false);
		e->kind = EXIT_NONE;
		break;
	case SVM_EXIT_CPUID:
		e->kind = EXIT_CPUID;
		break;
	case SVM_EXIT_MSR:
		e->kind = info1 ? EXIT_WRMSR : EXIT_RDMSR;
		break;
	case SVM_EXIT_IOIO:
		decode_ioio(e, info1);
		/* EXITINFO2 is the next RIP for IOIO even without NRIP save. */
		e->insn_len = (u32)(vm->control.exit_info2 - vm->save.rip);
		break;
	case SVM_EXIT_HLT:
		e->kind = EXIT_HLT;
		break;
	case SVM_EXIT_VMMCALL:
		e->kind = EXIT_HYPERCALL;
		break;
	case SVM_EXIT_INVD:
		e->kind = EXIT_INVD;
		break;
	case SVM_EXIT_NPF:
		e->kind = EXIT_NPF;
		e->u.npf.gpa = vm->control.exit_info2;
		e->u.npf.error = info1;
		e->u.npf.present = info1 & NPF_PRESENT;
		e->u.npf.write = info1 & NPF_WRITE;
		e->u.npf.fetch = info1 & NPF_FETCH;
		break;
	case SVM_EXIT_SHUTDOWN:
		e->kind = EXIT_SHUTDOWN;
		break;
	case SVM_EXIT_VMRUN:
	case SVM_EXIT_VMLOAD:
	case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI:
	case SVM_EXIT_CLGI:
	case SVM_EXIT_SKINIT:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
	case SVM_EXIT_MWAIT_COND:
		e->kind = EXIT_UD; /* SVM and MONITOR are not offered to guests */
		break;
	case SVM_EXIT_EXCP_BASE + 18:
		e->kind = EXIT_MCE;
		break;
	case SVM_EXIT_CR0_READ:
	case SVM_EXIT_CR0_READ + 3:
	case SVM_EXIT_CR0_READ + 4:
	case SVM_EXIT_CR0_WRITE:
	case SVM_EXIT_CR0_WRITE + 3:
	case SVM_EXIT_CR0_WRITE + 4:
		decode_cr(e, code, info1);
		break;
	case SVM_EXIT_EXCP_BASE + 14:
		/* EXITINFO1 the error code, EXITINFO2 the address; CR2 is
		 * not written (APM 15.12.15). */
		e->kind = EXIT_PAGE_FAULT;
		e->u.pf.error_code = (u32)info1;
		e->u.pf.addr = vm->control.exit_info2;
		break;
	case SVM_EXIT_INVLPG:
		e->kind = EXIT_INVLPG;
		break;
	case SVM_EXIT_INVALID:
		e->kind = EXIT_ENTRY_FAILED;
		break;
	default:
		e->kind = EXIT_UNKNOWN;
		break;
	}
}

static void svm_vcpu_run(struct vcpu *v, struct vm_exit *e)
{
	struct svm_vcpu *s = svm(v);
	struct vmcb *vm = s->vmcb;
	u32 cpu = this_cpu_index();
	/* TLB_CONTROL 1 flushes everything: TCG has no flush-by-ASID. */
	vm->control.tlb_control = (s->flush_tlb || READ_ONCE(asids_shared)) ? 1 : 0;
	s->flush_tlb = false;
	svm_sync_gprs_out(v);
	/* The guest's CR8 writes land in V_TPR (not intercepted). */
	u32 tpr = vlapic_get_tpr(&v->lapic);
	vm->control.int_ctl = (vm->control.int_ctl & ~0xfull) | (tpr >> 4);
	svm_world_switch(v->gpr, s->vmcb_pa, host_vmcb_pa[cpu]);
	svm_sync_gprs_in(v);
	u32 v_tpr = (u32)(vm->control.int_ctl & 0xf);
	if (v_tpr != tpr >> 4)
		vlapic_set_tpr(&v->lapic, v_tpr << 4);
	/* An event cut short by the exit is delivered again (APM 15.7.2),
	 * except software interrupts and INT3/INTO: RIP still points at the
	 * instruction, which simply runs again (as KVM does). */
	vm->control.event_inj = 0;
	u64 ii = vm->control.exit_int_info;
	u32 type = (ii >> SVM_EVTINJ_TYPE_SHIFT) & 7, vec = ii & 0xff;
	bool soft = type == VEVENT_SOFTINT || (type == VEVENT_EXCEPTION && (vec == 3 || vec == 4));
	if ((ii & SVM_EVTINJ_VALID) && !soft)
		vm->control.event_inj = ii;
	svm_decode_exit(v, e);
}

static void svm_dump(struct vcpu *v)
{
	struct vmcb *vm = vmcb_of(v);
	struct vmcb_save *s = &vm->save;
	log_err("  RIP %016llx RSP %016llx RFLAGS %016llx CPL %u",
		(unsigned long long)s->rip, (unsigned long long)s->rsp,
		(unsigned long long)s->rflags, s->cpl);
	log_err("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx",
		(unsigned long long)v->gpr[RAX], (unsigned long long)v->gpr[RBX],
		(unsigned long long)v->gpr[RCX], (unsigned long long)v->gpr[RDX]);
	log_err("  RSI %016llx RDI %016llx RBP %016llx",
		(unsigned long long)v->gpr[RSI], (unsigned long long)v->gpr[RDI],
		(unsigned long long)v->gpr[RBP]);
	log_err("  CR0 %016llx CR2 %016llx CR3 %016llx CR4 %016llx EFER %llx",
		(unsigned long long)s->cr0, (unsigned long long)s->cr2,
		(unsigned long long)s->cr3, (unsigned long long)s->cr4,
		(unsigned long long)(s->efer & ~EFER_SVME));
	log_err("  CS %04x base %llx attr %03x  IDTR base %llx limit %x  exit %#llx info %llx/%llx",
		s->cs.sel, (unsigned long long)s->cs.base, s->cs.attrib,
		(unsigned long long)s->idtr.base, s->idtr.limit,
		(unsigned long long)vm->control.exit_code,
		(unsigned long long)vm->control.exit_info1,
		(unsigned long long)vm->control.exit_info2);
}

const struct virt_backend_ops svm_backend_ops = {
	.name = "AMD-V",
	.cpu_enable = svm_cpu_enable,
	.cpu_disable = svm_cpu_disable,
	.vcpu_create = svm_vcpu_create,
	.vcpu_destroy = svm_vcpu_destroy,
	.vcpu_reset_protected32 = svm_vcpu_reset_protected32,
	.vcpu_reset_real_mode = svm_vcpu_reset_real_mode,
	.vcpu_run = svm_vcpu_run,
	.get_rip = svm_get_rip,
	.set_rip = svm_set_rip,
	.clear_interrupt_shadow = svm_clear_interrupt_shadow,
	.get_rflags = svm_get_rflags,
	.set_rflags = svm_set_rflags,
	.set_cr2 = svm_set_cr2,
	.get_cpl = svm_get_cpl,
	.sync_gprs_in = svm_sync_gprs_in,
	.sync_gprs_out = svm_sync_gprs_out,
	.get_seg = svm_get_seg,
	.get_paging = svm_get_paging,
	.get_efer = svm_get_efer,
	.set_efer = svm_set_efer,
	.get_pat = svm_get_pat,
	.set_pat = svm_set_pat,
	.set_tsc_offset = svm_set_tsc_offset,
	.interrupt_allowed = svm_interrupt_allowed,
	.request_interrupt_window = svm_request_interrupt_window,
	.inject_event = svm_inject_event,
	.event_pending = svm_event_pending,
	.tdp_format = &tdp_format_npt,
	.set_tdp_root = svm_set_tdp_root,
	.shadow_enable = svm_shadow_enable,
	.load_shadow_paging = svm_load_shadow_paging,
	.flush_guest_tlb = svm_flush_guest_tlb,
	.dump = svm_dump,
};
