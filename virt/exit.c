/* Generic exit dispatcher: every exit kind has one handler here; the
 * backends only decode (arch/x86/svm/svm.c, arch/x86/vmx/...). */
#include "arch/x86/cpu.h"
#include "kernel/log.h"
#include "kernel/sched.h"
#include "lib/printf.h"
#include "virt/exit.h"
#include "virt/gva.h"
#include "virt/insn_len.h"
#include "virt/mmio.h"
#include "virt/shadow_paging.h"
#include "virt/vcpu.h"
#include "virt/vm.h"

#define VEC_UD 6
#define VEC_GP 13

static const char *const kind_names[EXIT_KIND_COUNT] = {
	[EXIT_NONE] = "interrupt/window", [EXIT_CPUID] = "cpuid", [EXIT_RDMSR] = "rdmsr",
	[EXIT_WRMSR] = "wrmsr", [EXIT_IO] = "io", [EXIT_HLT] = "hlt",
	[EXIT_HYPERCALL] = "hypercall", [EXIT_NPF] = "npf", [EXIT_SHUTDOWN] = "shutdown",
	[EXIT_UD] = "ud", [EXIT_INVD] = "invd", [EXIT_MCE] = "mce",
	[EXIT_ENTRY_FAILED] = "entry-failed", [EXIT_CR_ACCESS] = "cr", [EXIT_PAGE_FAULT] = "pf",
	[EXIT_INVLPG] = "invlpg", [EXIT_UNKNOWN] = "unknown",
};

const char *exit_kind_name(enum vm_exit_kind k)
{
	return k < EXIT_KIND_COUNT && kind_names[k] ? kind_names[k] : "?";
}

/* The mode from registers already read (CR0.PE, RFLAGS.VM, EFER.LMA, CS.L/D). */
static enum guest_cpu_mode cpu_mode_of(struct vcpu *v, const struct guest_paging *p,
				       const struct vseg *cs)
{
	if (!(p->cr0 & CR0_PE) || (virt_backend->get_rflags(v) & BIT(17)))
		return GUEST_MODE_REAL;
	if ((p->efer & EFER_LMA) && (cs->attr & BIT(9)))
		return GUEST_MODE_LONG64;
	return (cs->attr & BIT(10)) ? GUEST_MODE_PROT32 : GUEST_MODE_PROT16;
}

enum guest_cpu_mode vcpu_cpu_mode(struct vcpu *v)
{
	struct vseg cs;
	struct guest_paging p;
	vcpu_get_paging(v, &p);
	virt_backend->get_seg(v, SEG_CS, &cs);
	return cpu_mode_of(v, &p, &cs);
}

void vcpu_crash(struct vcpu *v, const char *what)
{
	log_err("VM %s vCPU %u: %s", v->vm->name, v->id, what);
	virt_backend->dump(v);
	vm_stop(v->vm, VM_EXIT_CODE_CRASH, what);
}

/* The instruction an exit kind comes from (for checking decoded bytes). */
static bool insn_matches_exit(enum insn_kind k, enum vm_exit_kind e)
{
	switch (e) {
	case EXIT_CPUID:
		return k == INSN_CPUID;
	case EXIT_RDMSR:
		return k == INSN_RDMSR;
	case EXIT_WRMSR:
		return k == INSN_WRMSR;
	case EXIT_HLT:
		return k == INSN_HLT;
	case EXIT_HYPERCALL:
		return k == INSN_VMMCALL || k == INSN_VMCALL;
	case EXIT_INVD:
		return k == INSN_INVD;
	case EXIT_IO:
		return k == INSN_IO_IN || k == INSN_IO_OUT || k == INSN_INS || k == INSN_OUTS;
	default:
		return false;
	}
}

/* Moves RIP past the exiting instruction. Without NRIP save (QEMU TCG) the
 * length is decoded from the guest's own instruction bytes. Returns false
 * (and leaves RIP) when the bytes there are no longer the instruction that
 * exited — another vCPU rewrote them — so the guest simply runs it again. */
static bool skip_instruction(struct vcpu *v, const struct vm_exit *e)
{
	u32 len = e->insn_len;
	u64 rip = virt_backend->get_rip(v);
	struct guest_paging p;
	struct vseg cs;
	vcpu_get_paging(v, &p);
	virt_backend->get_seg(v, SEG_CS, &cs);
	enum guest_cpu_mode mode = cpu_mode_of(v, &p, &cs);
	if (!len) {
		struct insn_info info;
		struct gpa_access mem = guest_mem_access(&v->vm->mem);
		int n = insn_fetch_length(&mem, &p, cs.base, rip, mode, &info);
		if (n <= 0) {
			char msg[80];
			umbra_snprintf(msg, sizeof(msg), "cannot decode the instruction at RIP %#llx",
				       (unsigned long long)rip);
			vcpu_crash(v, msg);
			return false;
		}
		if (!insn_matches_exit(info.kind, e->kind))
			return false;
		len = (u32)n;
	}
	u64 next = rip + len;
	if (mode != GUEST_MODE_LONG64)
		next &= 0xffffffffull;
	virt_backend->set_rip(v, next);
	virt_backend->clear_interrupt_shadow(v);
	return true;
}

void vcpu_inject_exception(struct vcpu *v, u8 vector, bool has_error, u32 error)
{
	/* Real mode delivers through the IVT: no error code is pushed. */
	if (vcpu_cpu_mode(v) == GUEST_MODE_REAL)
		has_error = false;
	virt_backend->inject_event(v, VEVENT_EXCEPTION, vector, has_error, error);
}

static void handle_cpuid(struct vcpu *v, const struct vm_exit *e)
{
	struct cpuid_regs r;
	vcpu_cpuid(v, (u32)v->gpr[RAX], (u32)v->gpr[RCX], &r);
	if (!skip_instruction(v, e))
		return;
	v->gpr[RAX] = r.eax;
	v->gpr[RBX] = r.ebx;
	v->gpr[RCX] = r.ecx;
	v->gpr[RDX] = r.edx;
}

static void handle_rdmsr(struct vcpu *v, const struct vm_exit *e)
{
	u64 val;
	if (!vcpu_rdmsr(v, (u32)v->gpr[RCX], &val)) {
		vcpu_inject_exception(v, VEC_GP, true, 0);
		return;
	}
	if (!skip_instruction(v, e))
		return;
	v->gpr[RAX] = (u32)val;
	v->gpr[RDX] = val >> 32;
}

static void handle_wrmsr(struct vcpu *v, const struct vm_exit *e)
{
	u64 val = (v->gpr[RDX] << 32) | (u32)v->gpr[RAX];
	if (!vcpu_wrmsr(v, (u32)v->gpr[RCX], val)) {
		vcpu_inject_exception(v, VEC_GP, true, 0);
		return;
	}
	skip_instruction(v, e);
}

static void handle_io(struct vcpu *v, const struct vm_exit *e)
{
	u16 port = e->u.io.port;
	u8 size = e->u.io.size;
	if (e->u.io.string) {
		/* INS/OUTS are not used by the guests of this stage; say so
		 * plainly rather than guessing (the emulator will do them). */
		vcpu_crash(v, "string port I/O (INS/OUTS) is not supported yet");
		return;
	}
	if (e->u.io.in) {
		u32 val = pio_in(v->vm, port, size);
		if (size == 4)
			v->gpr[RAX] = val; /* 32-bit writes zero-extend */
		else if (size == 2)
			v->gpr[RAX] = (v->gpr[RAX] & ~0xffffull) | (val & 0xffff);
		else
			v->gpr[RAX] = (v->gpr[RAX] & ~0xffull) | (val & 0xff);
	} else {
		u32 mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
		pio_out(v->vm, port, size, (u32)v->gpr[RAX] & mask);
	}
	skip_instruction(v, e);
}

/* HLT: sleep until an interrupt the guest would take arrives, or an NMI,
 * INIT or SIPI (SDM 3, "HLT"). */
static void handle_hlt(struct vcpu *v, const struct vm_exit *e)
{
	if (!skip_instruction(v, e))
		return;
	v->halted = true;
	while (v->vm->state == VM_RUNNING && !vcpu_has_wake_event(v))
		thread_block();
	v->halted = false;
}

static void handle_npf(struct vcpu *v, const struct vm_exit *e)
{
	u64 gpa = e->u.npf.gpa;
	char msg[120];
	if (mmio_owned(v, gpa)) {
		if (vcpu_emulate(v, gpa))
			return;
		umbra_snprintf(msg, sizeof(msg), "MMIO access at %#llx could not be completed",
			       (unsigned long long)gpa);
	} else if (gpa < v->vm->mem_bytes) {
		if (guest_mem_fault_in(&v->vm->mem, gpa))
			return;
		umbra_snprintf(msg, sizeof(msg), "out of host memory backing gpa %#llx",
			       (unsigned long long)gpa);
	} else {
		umbra_snprintf(msg, sizeof(msg),
			       "%s of guest-physical %#llx: not RAM and no device there",
			       e->u.npf.fetch ? "fetch" : e->u.npf.write ? "write" : "read",
			       (unsigned long long)gpa);
	}
	vcpu_crash(v, msg);
}

bool vcpu_handle_exit(struct vcpu *v, struct vm_exit *e)
{
	v->exits[e->kind]++;
	char msg[80];
	switch (e->kind) {
	case EXIT_NONE:
		break;
	case EXIT_CPUID:
		handle_cpuid(v, e);
		break;
	case EXIT_RDMSR:
		handle_rdmsr(v, e);
		break;
	case EXIT_WRMSR:
		handle_wrmsr(v, e);
		break;
	case EXIT_IO:
		handle_io(v, e);
		break;
	case EXIT_HLT:
		handle_hlt(v, e);
		break;
	case EXIT_HYPERCALL:
		if (skip_instruction(v, e))
			v->gpr[RAX] = hypercall(v);
		break;
	case EXIT_INVD:
		skip_instruction(v, e);
		break;
	case EXIT_UD:
		vcpu_inject_exception(v, VEC_UD, false, 0);
		break;
	case EXIT_NPF:
		handle_npf(v, e);
		break;
	case EXIT_CR_ACCESS:
		shadow_handle_cr_access(v, e);
		break;
	case EXIT_PAGE_FAULT:
		shadow_handle_page_fault(v, e);
		break;
	case EXIT_INVLPG:
		shadow_handle_invlpg(v, e);
		break;
	case EXIT_SHUTDOWN:
		vcpu_crash(v, "triple fault (shutdown)");
		break;
	case EXIT_MCE:
		vcpu_crash(v, "machine check while running the guest");
		break;
	case EXIT_ENTRY_FAILED:
		vcpu_crash(v, "the CPU refused the guest state (VM entry failed)");
		break;
	default:
		umbra_snprintf(msg, sizeof(msg), "unhandled exit %#llx",
			       (unsigned long long)e->raw_reason);
		vcpu_crash(v, msg);
		break;
	}
	return v->vm->state == VM_RUNNING;
}
