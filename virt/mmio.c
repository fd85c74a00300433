/* Instructions the hardware could not complete by itself, emulated
 * (virt/emulate.c): accesses to guest-physical addresses that are not RAM,
 * whose memory operand goes to the device that owns the address (the
 * vCPU's own local APIC page, the IOAPIC); and, under shadow paging, writes
 * to write-protected guest page tables, which go to RAM and to the shadow
 * MMU (virt/shadow_paging.c). */
#include "kernel/log.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "virt/emulate.h"
#include "virt/exit.h"
#include "virt/gva.h"
#include "virt/mmio.h"
#include "virt/shadow_paging.h"
#include "virt/vm.h"

#define VEC_UD 6
#define VEC_PF 14

struct mmio_ctx {
	struct vcpu *v;
	struct gpa_access ram;
	struct guest_paging paging;
};

static bool in_page(u64 gpa, u64 base)
{
	return gpa >= base && gpa < base + PAGE_SIZE;
}

bool mmio_owned(struct vcpu *v, u64 gpa)
{
	return in_page(gpa, vlapic_mmio_base(&v->lapic)) || in_page(gpa, IOAPIC_BASE);
}

/* Registers are 32 bits wide; narrower or misaligned accesses read 0 and
 * are dropped, as on the real APICs (SDM 3, 11.4.1). */
static bool device_read(struct vcpu *v, u64 gpa, void *buf, unsigned len)
{
	u32 val = 0;
	u64 lapic = vlapic_mmio_base(&v->lapic);
	if (in_page(gpa, lapic)) {
		if (len == 4)
			vlapic_mmio_read(&v->lapic, gpa - lapic, &val);
	} else if (in_page(gpa, IOAPIC_BASE)) {
		if (len == 4 && !(gpa & 3))
			val = ioapic_mmio_read(v->vm, gpa - IOAPIC_BASE);
	} else {
		return false;
	}
	memset(buf, 0, len);
	memcpy(buf, &val, MIN(len, 4u));
	return true;
}

static bool device_write(struct vcpu *v, u64 gpa, const void *buf, unsigned len)
{
	u32 val = 0;
	memcpy(&val, buf, MIN(len, 4u));
	u64 lapic = vlapic_mmio_base(&v->lapic);
	if (in_page(gpa, lapic)) {
		if (len == 4)
			vlapic_mmio_write(&v->lapic, gpa - lapic, val);
	} else if (in_page(gpa, IOAPIC_BASE)) {
		if (len == 4 && !(gpa & 3))
			ioapic_mmio_write(v->vm, gpa - IOAPIC_BASE, val);
	} else {
		return false;
	}
	return true;
}

static bool ctx_read(void *c, u64 gpa, void *buf, unsigned len)
{
	struct mmio_ctx *m = c;
	if (mmio_owned(m->v, gpa))
		return device_read(m->v, gpa, buf, len);
	return m->ram.read(m->ram.ctx, gpa, buf, len);
}

static bool ctx_write(void *c, u64 gpa, const void *buf, unsigned len)
{
	struct mmio_ctx *m = c;
	if (mmio_owned(m->v, gpa))
		return device_write(m->v, gpa, buf, len);
	if (m->v->shadow)
		return shadow_ram_write(m->v->vm, gpa, buf, len);
	return m->ram.write(m->ram.ctx, gpa, buf, len);
}

static bool ctx_cmpxchg(void *c, u64 gpa, void *expected, const void *desired, unsigned len,
			bool *swapped)
{
	struct mmio_ctx *m = c;
	if (mmio_owned(m->v, gpa)) {
		u8 cur[16];
		if (len > sizeof(cur) || !device_read(m->v, gpa, cur, len))
			return false;
		*swapped = !memcmp(cur, expected, len);
		if (*swapped)
			return device_write(m->v, gpa, desired, len);
		memcpy(expected, cur, len);
		return true;
	}
	u8 old[16];
	memcpy(old, expected, MIN(len, 16u));
	if (!guest_mem_cmpxchg(&m->v->vm->mem, gpa, expected, desired, len, swapped))
		return false;
	if (*swapped && m->v->shadow)
		mmu_guest_wrote(m->v->vm->mmu, gpa, old, desired, len);
	return true;
}

/* The guest's own page tables. With nested paging the hardware already
 * walked them for this instruction, so a failed walk here means the tables
 * changed meanwhile: report a not-present #PF. Under shadow paging the
 * hardware walked the shadow tables, so the guest's are walked here with
 * all their rules (and A/D updates). */
static bool ctx_translate(void *c, u64 linear, unsigned acc, u64 *gpa, struct emu_fault *fault)
{
	struct mmio_ctx *m = c;
	if (m->v->shadow)
		return shadow_translate(m->v, linear, acc, gpa, fault);
	if (gva_translate(&m->ram, &m->paging, linear, gpa))
		return true;
	*fault = (struct emu_fault){ .vector = VEC_PF, .has_error = true, .error = acc, .cr2 = linear };
	return false;
}

static void state_from_vcpu(struct vcpu *v, struct emu_state *s, struct mmio_ctx *m)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->gpr, v->gpr, sizeof(s->gpr));
	s->rip = virt_backend->get_rip(v);
	s->rflags = virt_backend->get_rflags(v);
	for (int i = 0; i < EMU_NR_SEGS; i++) {
		struct vseg seg;
		virt_backend->get_seg(v, (enum vseg_index)i, &seg);
		s->seg[i] = (struct emu_seg){ seg.sel, seg.attr, seg.limit, seg.base };
	}
	vcpu_get_paging(v, &m->paging);
	s->cr0 = m->paging.cr0;
	s->cr3 = m->paging.cr3;
	s->cr4 = m->paging.cr4;
	s->efer = m->paging.efer;
	s->cpl = virt_backend->get_cpl(v);
	s->mode = vcpu_cpu_mode(v);
}

bool vcpu_emulate(struct vcpu *v, u64 gpa)
{
	struct mmio_ctx m = { .v = v, .ram = guest_mem_access(&v->vm->mem) };
	struct emu_state s;
	struct emu_fault fault;
	struct emu_info info;
	state_from_vcpu(v, &s, &m);
	const struct emu_ops ops = { ctx_translate, ctx_read, ctx_write, ctx_cmpxchg, &m };
	enum emu_result r = emulate_one(&s, &ops, &fault, &info);
	/* Whatever the result, *s is where the guest continues from: a REP
	 * string op that faulted midway keeps its finished iterations. */
	memcpy(v->gpr, s.gpr, sizeof(v->gpr));
	virt_backend->set_rip(v, s.rip);
	virt_backend->set_rflags(v, s.rflags);
	char msg[160];
	switch (r) {
	case EMU_OK:
		virt_backend->clear_interrupt_shadow(v);
		return true;
	case EMU_FAULT:
		if (fault.vector == EMU_VEC_AGAIN)
			return true;
		if (fault.vector == EMU_VEC_STOP) {
			umbra_snprintf(msg, sizeof(msg), "emulating the instruction at RIP %#llx: a "
				       "page-table entry for linear %#llx lies outside guest RAM",
				       (unsigned long long)s.rip, (unsigned long long)fault.cr2);
			vcpu_crash(v, msg);
			return true;
		}
		if (fault.vector == VEC_PF)
			virt_backend->set_cr2(v, fault.cr2);
		vcpu_inject_exception(v, fault.vector, fault.has_error, fault.error);
		return true;
	case EMU_RETRY:
		return true;
	case EMU_UNHANDLED:
		/* A write to a shadowed guest table the emulator does not
		 * know: stop shadowing the page and let the guest run the
		 * instruction itself (KVM's unprotect-and-retry). */
		if (v->shadow && !mmio_owned(v, gpa) && gpa < v->vm->mem_bytes &&
		    mmu_unprotect_gfn(v->vm->mmu, gpa >> 12))
			return true;
		emu_describe(&s, r, &fault, &info, msg, sizeof(msg));
		log_warn("VM %s vCPU %u: %s (at guest-physical %#llx): injecting #UD", v->vm->name,
			 v->id, msg, (unsigned long long)gpa);
		vcpu_inject_exception(v, VEC_UD, false, 0);
		return true;
	default:
		return false; /* nothing at the address: the caller stops the VM */
	}
}
