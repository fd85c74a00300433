/* The VMCB (AMD APM vol. 2, appendix B): control area at 0x000, state save
 * area at 0x400. Offsets are checked against the manual's tables below. */
#ifndef UMBRA_ARCH_X86_SVM_VMCB_H
#define UMBRA_ARCH_X86_SVM_VMCB_H

#include "lib/types.h"

struct vmcb_seg {
	u16 sel;
	u16 attrib;
	u32 limit;
	u64 base;
} __packed;
_Static_assert(sizeof(struct vmcb_seg) == 16, "VMCB segment");

struct vmcb_control {
	u32 intercept_cr;        /* 0x000: reads 0-15, writes 16-31 */
	u32 intercept_dr;        /* 0x004 */
	u32 intercept_exceptions;/* 0x008 */
	u32 intercept_misc1;     /* 0x00c */
	u32 intercept_misc2;     /* 0x010 */
	u32 intercept_misc3;     /* 0x014 */
	u8 reserved1[0x3c - 0x18];
	u16 pause_filter_threshold; /* 0x03c */
	u16 pause_filter_count;  /* 0x03e */
	u64 iopm_base_pa;        /* 0x040 */
	u64 msrpm_base_pa;       /* 0x048 */
	u64 tsc_offset;          /* 0x050 */
	u32 asid;                /* 0x058 */
	u8 tlb_control;          /* 0x05c */
	u8 reserved2[3];
	u64 int_ctl;             /* 0x060: V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_VECTOR */
	u64 int_state;           /* 0x068: bit 0 interrupt shadow */
	u64 exit_code;           /* 0x070 */
	u64 exit_info1;          /* 0x078 */
	u64 exit_info2;          /* 0x080 */
	u64 exit_int_info;       /* 0x088 */
	u64 np_enable;           /* 0x090 */
	u64 avic_apic_bar;       /* 0x098 */
	u64 ghcb_pa;             /* 0x0a0 */
	u64 event_inj;           /* 0x0a8 */
	u64 n_cr3;               /* 0x0b0 */
	u64 virt_ext;            /* 0x0b8: LBR virtualization, virtual VMLOAD/VMSAVE */
	u32 clean_bits;          /* 0x0c0 */
	u32 reserved3;
	u64 next_rip;            /* 0x0c8 */
	u8 insn_len;             /* 0x0d0 */
	u8 insn_bytes[15];       /* 0x0d1 */
	u8 reserved4[0x400 - 0xe0];
} __packed;
_Static_assert(sizeof(struct vmcb_control) == 0x400, "VMCB control area");
_Static_assert(__builtin_offsetof(struct vmcb_control, iopm_base_pa) == 0x40, "IOPM");
_Static_assert(__builtin_offsetof(struct vmcb_control, exit_code) == 0x70, "EXITCODE");
_Static_assert(__builtin_offsetof(struct vmcb_control, event_inj) == 0xa8, "EVENTINJ");
_Static_assert(__builtin_offsetof(struct vmcb_control, next_rip) == 0xc8, "nRIP");

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x400-0x49f */
	u8 reserved1[0x4cb - 0x4a0];
	u8 cpl;                  /* 0x4cb */
	u32 reserved2;
	u64 efer;                /* 0x4d0 */
	u8 reserved3[0x548 - 0x4d8];
	u64 cr4;                 /* 0x548 */
	u64 cr3;                 /* 0x550 */
	u64 cr0;                 /* 0x558 */
	u64 dr7;                 /* 0x560 */
	u64 dr6;                 /* 0x568 */
	u64 rflags;              /* 0x570 */
	u64 rip;                 /* 0x578 */
	u8 reserved4[0x5d8 - 0x580];
	u64 rsp;                 /* 0x5d8 */
	u8 reserved5[0x5f8 - 0x5e0];
	u64 rax;                 /* 0x5f8 */
	u64 star, lstar, cstar, sfmask, kernel_gs_base; /* 0x600-0x620 */
	u64 sysenter_cs, sysenter_esp, sysenter_eip;    /* 0x628-0x638 */
	u64 cr2;                 /* 0x640 */
	u8 reserved6[0x668 - 0x648];
	u64 g_pat;               /* 0x668 */
	u64 dbgctl, br_from, br_to, last_excp_from, last_excp_to; /* 0x670-0x690 */
	u8 reserved7[0x1000 - 0x400 - 0x298];
} __packed;
_Static_assert(__builtin_offsetof(struct vmcb_save, cpl) == 0x4cb - 0x400, "CPL");
_Static_assert(__builtin_offsetof(struct vmcb_save, efer) == 0x4d0 - 0x400, "EFER");
_Static_assert(__builtin_offsetof(struct vmcb_save, cr4) == 0x548 - 0x400, "CR4");
_Static_assert(__builtin_offsetof(struct vmcb_save, rip) == 0x578 - 0x400, "RIP");
_Static_assert(__builtin_offsetof(struct vmcb_save, rsp) == 0x5d8 - 0x400, "RSP");
_Static_assert(__builtin_offsetof(struct vmcb_save, rax) == 0x5f8 - 0x400, "RAX");
_Static_assert(__builtin_offsetof(struct vmcb_save, cr2) == 0x640 - 0x400, "CR2");
_Static_assert(__builtin_offsetof(struct vmcb_save, g_pat) == 0x668 - 0x400, "G_PAT");

struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
} __packed;
_Static_assert(sizeof(struct vmcb) == 0x1000, "VMCB is one page");

/* Intercept bits (APM vol. 2, table B-1). */
#define INTERCEPT_MISC1_INTR BIT(0)
#define INTERCEPT_MISC1_NMI BIT(1)
#define INTERCEPT_MISC1_SMI BIT(2)
#define INTERCEPT_MISC1_INIT BIT(3)
#define INTERCEPT_MISC1_VINTR BIT(4)
#define INTERCEPT_MISC1_CPUID BIT(18)
#define INTERCEPT_MISC1_INVD BIT(22)
#define INTERCEPT_MISC1_INVLPG BIT(25)
#define INTERCEPT_MISC1_HLT BIT(24)
#define INTERCEPT_MISC1_IOIO BIT(27)
#define INTERCEPT_MISC1_MSR BIT(28)
#define INTERCEPT_MISC1_SHUTDOWN BIT(31)
#define INTERCEPT_MISC2_VMRUN BIT(0)
#define INTERCEPT_MISC2_VMMCALL BIT(1)
#define INTERCEPT_MISC2_VMLOAD BIT(2)
#define INTERCEPT_MISC2_VMSAVE BIT(3)
#define INTERCEPT_MISC2_STGI BIT(4)
#define INTERCEPT_MISC2_CLGI BIT(5)
#define INTERCEPT_MISC2_SKINIT BIT(6)
#define INTERCEPT_MISC2_MONITOR BIT(10)
#define INTERCEPT_MISC2_MWAIT BIT(11)
#define INTERCEPT_MISC2_MWAIT_COND BIT(12)

/* EXITCODE values (APM vol. 2, appendix C). */
#define SVM_EXIT_CR0_READ 0x00    /* + n: read of CRn */
#define SVM_EXIT_CR0_WRITE 0x10   /* + n: write of CRn */
#define SVM_EXIT_INVLPG 0x79
/* Decode assists (APM 15.33.1): EXITINFO1 of a CR exit. */
#define SVM_CR_INFO_MOV BIT(63)   /* a MOV CR (else CLTS/LMSW/SMSW) */
#define SVM_CR_INFO_GPR_MASK 0xf
/* CR0, CR3 and CR4, reads (bits 0-15) and writes (bits 16-31). */
#define SVM_INTERCEPT_CR_SHADOW 0x00190019u
#define SVM_EXIT_EXCP_BASE 0x40
#define SVM_EXIT_INTR 0x60
#define SVM_EXIT_NMI 0x61
#define SVM_EXIT_SMI 0x62
#define SVM_EXIT_INIT 0x63
#define SVM_EXIT_VINTR 0x64
#define SVM_EXIT_CPUID 0x72
#define SVM_EXIT_INVD 0x76
#define SVM_EXIT_HLT 0x78
#define SVM_EXIT_IOIO 0x7b
#define SVM_EXIT_MSR 0x7c
#define SVM_EXIT_SHUTDOWN 0x7f
#define SVM_EXIT_VMRUN 0x80
#define SVM_EXIT_VMMCALL 0x81
#define SVM_EXIT_VMLOAD 0x82
#define SVM_EXIT_VMSAVE 0x83
#define SVM_EXIT_STGI 0x84
#define SVM_EXIT_CLGI 0x85
#define SVM_EXIT_SKINIT 0x86
#define SVM_EXIT_MONITOR 0x8a
#define SVM_EXIT_MWAIT 0x8b
#define SVM_EXIT_MWAIT_COND 0x8c
#define SVM_EXIT_NPF 0x400
#define SVM_EXIT_INVALID ((u64)-1)

/* IOIO EXITINFO1 (APM vol. 2, 15.10.2). */
#define SVM_IOIO_TYPE_IN BIT(0)
#define SVM_IOIO_STR BIT(2)
#define SVM_IOIO_REP BIT(3)
#define SVM_IOIO_SZ8 BIT(4)
#define SVM_IOIO_SZ16 BIT(5)
#define SVM_IOIO_SZ32 BIT(6)
#define SVM_IOIO_A16 BIT(7)
#define SVM_IOIO_A32 BIT(8)
#define SVM_IOIO_A64 BIT(9)
#define SVM_IOIO_SEG_SHIFT 10

/* EVENTINJ / EXITINTINFO (APM vol. 2, 15.20). */
#define SVM_EVTINJ_VALID BIT(31)
#define SVM_EVTINJ_ERR_VALID BIT(11)
#define SVM_EVTINJ_TYPE_SHIFT 8

/* V_INTR fields of int_ctl (APM vol. 2, 15.21.1). */
#define SVM_V_IRQ BIT(8)
#define SVM_V_IGN_TPR BIT(20)
#define SVM_V_INTR_MASKING BIT(24)
#define SVM_INT_SHADOW BIT(0)

/* #NPF EXITINFO1: page-fault error code plus walk info (APM 15.25.6). */
#define NPF_PRESENT BIT(0)
#define NPF_WRITE BIT(1)
#define NPF_FETCH BIT(4)

#define MSR_VM_HSAVE_PA 0xc0010117

#endif
