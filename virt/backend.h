/*
 * The one interface between generic virtualization code and a vendor backend
 * (AMD-V in arch/x86/svm/, VT-x in arch/x86/vmx/). A backend turns its exits
 * into a struct vm_exit; everything after that is generic (virt/exit.c).
 */
#ifndef UMBRA_VIRT_BACKEND_H
#define UMBRA_VIRT_BACKEND_H

#include "lib/types.h"
#include "virt/guest_access.h"

struct tdp_format;
struct vcpu;
struct virt_caps;

enum vm_exit_kind {
	EXIT_NONE,        /* handled inside the backend (host interrupt, window) */
	EXIT_CPUID,
	EXIT_RDMSR,
	EXIT_WRMSR,
	EXIT_IO,
	EXIT_HLT,
	EXIT_HYPERCALL,   /* VMMCALL / VMCALL */
	EXIT_NPF,         /* nested/EPT page fault */
	EXIT_SHUTDOWN,    /* triple fault */
	EXIT_UD,          /* instruction we refuse (SVM/VMX instructions, MONITOR...) */
	EXIT_INVD,        /* INVD: done as a no-op (guests must not drop host caches) */
	EXIT_MCE,         /* machine check while in the guest */
	EXIT_ENTRY_FAILED,/* the CPU refused the guest state */
	EXIT_CR_ACCESS,   /* shadow paging: MOV to/from CR0/CR3/CR4, CLTS, LMSW, SMSW */
	EXIT_PAGE_FAULT,  /* shadow paging: a #PF in the guest (intercepted) */
	EXIT_INVLPG,      /* shadow paging: INVLPG */
	EXIT_UNKNOWN,
	EXIT_KIND_COUNT,
};

struct vm_exit {
	enum vm_exit_kind kind;
	u64 raw_reason;   /* the vendor's exit code, for messages */
	u32 insn_len;     /* length of the exiting instruction, 0 if unknown */
	union {
		struct {
			u16 port;
			u8 size;      /* 1, 2, 4 */
			bool in;
			bool string;
			bool rep;
			u8 addr_size; /* string forms: 2, 4, 8 */
			u8 seg;       /* string forms: effective segment (ES=0 .. GS=5) */
		} io;
		struct {
			u64 gpa;
			u64 error;    /* vendor fault bits, decoded below */
			bool write, fetch, present;
		} npf;
		struct {
			u8 cr;        /* 0, 3 or 4 */
			u8 op;        /* CR_OP_* */
			s8 gpr;       /* MOV forms: the GPR (RAX=0..R15); -1: decode the instruction */
			u16 lmsw;     /* CR_OP_LMSW with gpr == -2: the source operand */
		} cr;
		struct {
			u32 error_code; /* the #PF error code the hardware produced */
			u64 addr;       /* faulting linear address (what CR2 would get) */
		} pf;
	} u;
};

/* Guest segment register in the form both vendors can express. */
struct vseg {
	u16 sel;
	u16 attr; /* AMD packed form: type|S<<4|DPL<<5|P<<7|AVL<<8|L<<9|DB<<10|G<<11 */
	u32 limit;
	u64 base;
};

enum vseg_index { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

/* Event to inject at the next entry (SDM 3 26.6 / APM 15.20). */
enum vevent_type { VEVENT_EXTINT = 0, VEVENT_NMI = 2, VEVENT_EXCEPTION = 3, VEVENT_SOFTINT = 4 };

/* A queued event: type (vevent_type, or the vendor's other software
 * types) and vector, both at the same bits in the VMCB's EVENTINJ and the
 * VMCS's entry interruption information. */
struct vevent {
	u8 type, vector;
};

/* EXIT_CR_ACCESS operations. */
enum { CR_OP_MOV_TO, CR_OP_MOV_FROM, CR_OP_CLTS, CR_OP_LMSW, CR_OP_SMSW,
       CR_OP_INVLPG /* virt/cr_decode.c only: INVLPG m (0F 01 /7) */ };

struct virt_backend_ops {
	const char *name;
	/* Per host CPU: enable VMX/SVM. Returns false with a console message. */
	bool (*cpu_enable)(void);
	void (*cpu_disable)(void);
	int (*vcpu_create)(struct vcpu *v);
	void (*vcpu_destroy)(struct vcpu *v);
	/* Multiboot v1 entry state: 32-bit flat protected mode, paging off. */
	void (*vcpu_reset_protected32)(struct vcpu *v, u32 eip);
	/* State after INIT and a SIPI with `vector` (SDM 3, 9.1.1 and 9.4.4):
	 * real mode at vector:0000, caches off, everything else reset. */
	void (*vcpu_reset_real_mode)(struct vcpu *v, u8 vector);
	/* Enters the guest until the next exit; interrupts are off around it. */
	void (*vcpu_run)(struct vcpu *v, struct vm_exit *exit);
	/* Register access: RIP, RSP, RAX live in the vendor structure. */
	u64 (*get_rip)(struct vcpu *v);
	void (*set_rip)(struct vcpu *v, u64 rip);
	/* After Umbra completed an instruction for the guest: an STI or MOV SS
	 * shadow from before it no longer applies (SDM 3 6.8.3). */
	void (*clear_interrupt_shadow)(struct vcpu *v);
	u64 (*get_rflags)(struct vcpu *v);
	void (*set_rflags)(struct vcpu *v, u64 rflags);
	void (*set_cr2)(struct vcpu *v, u64 cr2);
	u8 (*get_cpl)(struct vcpu *v);
	void (*sync_gprs_in)(struct vcpu *v);  /* vendor -> v->gpr (RAX, RSP) */
	void (*sync_gprs_out)(struct vcpu *v); /* v->gpr -> vendor */
	void (*get_seg)(struct vcpu *v, enum vseg_index i, struct vseg *s);
	void (*get_paging)(struct vcpu *v, u64 *cr0, u64 *cr3, u64 *cr4, u64 *efer);
	u64 (*get_efer)(struct vcpu *v);
	bool (*set_efer)(struct vcpu *v, u64 efer); /* false: reserved bits */
	u64 (*get_pat)(struct vcpu *v);
	void (*set_pat)(struct vcpu *v, u64 pat);
	void (*set_tsc_offset)(struct vcpu *v, u64 offset);
	/* Events: can an external interrupt be taken now (IF=1, no shadow, no
	 * event pending)? If not, ask for an exit when it can. */
	bool (*interrupt_allowed)(struct vcpu *v);
	void (*request_interrupt_window)(struct vcpu *v, bool on);
	void (*inject_event)(struct vcpu *v, enum vevent_type type, u8 vector, bool has_error,
			     u32 error);
	/* Is an event queued for the next entry (a re-injection, or one
	 * inject_event queued)? If so and out is not NULL, which one. */
	bool (*event_pending)(struct vcpu *v, struct vevent *out);
	/* Nested paging: the entry format of the tables (virt/guest_mem.h)
	 * and the root for this vCPU. */
	const struct tdp_format *tdp_format;
	void (*set_tdp_root)(struct vcpu *v, paddr_t root);
	/*
	 * Shadow paging (shadow/mmu.h, virt/shadow_paging.c). shadow_enable:
	 * at vCPU creation, intercept #PF, INVLPG and every access to CR0, CR3
	 * and CR4 (reads too: the hardware runs other values than the guest
	 * sees). Returns false (with a console message) when the backend cannot
	 * run this vCPU with shadow paging. load_shadow_paging: the guest's view
	 * (what MOV from CR returns; VT-x read shadows) and the registers the
	 * hardware uses (hw: CR3 = the shadow root). flush_guest_tlb: every
	 * TLB entry of this vCPU's guest is dropped before its next entry.
	 */
	bool (*shadow_enable)(struct vcpu *v);
	void (*load_shadow_paging)(struct vcpu *v, const struct guest_paging *guest,
				   const struct guest_paging *hw);
	void (*flush_guest_tlb)(struct vcpu *v);
	void (*dump)(struct vcpu *v);
};

extern const struct virt_backend_ops *virt_backend;
extern const struct virt_backend_ops svm_backend_ops;
extern const struct virt_backend_ops vmx_backend_ops;

/* Picks the backend for this machine (from the detected capabilities). */
bool virt_backend_select(const struct virt_caps *caps);

/* Set by virt_backend_select (and refined when the backend is enabled):
 * whether VMs can use nested paging (NPT, or EPT with unrestricted guest);
 * without it every VM runs on shadow paging. */
extern bool virt_has_tdp;

/* How a shadow-paging guest can run real mode (CR0.PE=0). */
enum shadow_real_mode {
	SHADOW_REAL_MODE_NONE,	/* not at all: the VM is stopped (VT-x without
				 * unrestricted guest) */
	SHADOW_REAL_MODE_PAGED,	/* "paged real mode" on the identity shadow
				 * (AMD-V, APM 15.19) */
	SHADOW_REAL_MODE_TDP,	/* on the nested p2m (VT-x unrestricted guest
				 * needs EPT): guest writes then bypass write
				 * tracking, so the shadow is dropped when the
				 * guest leaves real mode */
};
extern enum shadow_real_mode virt_shadow_real_mode;

#endif
