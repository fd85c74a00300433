/*
 * Umbra hypercall ABI (VMMCALL on AMD-V, VMCALL on VT-x): number in RAX,
 * arguments in RBX, RCX, RDX, RSI (KVM's register convention); the result
 * comes back in RAX and every other register is preserved. Unknown numbers
 * return UMBRA_ENOSYS (the value KVM uses for the same case).
 */
#ifndef UMBRA_VIRT_HYPERCALL_H
#define UMBRA_VIRT_HYPERCALL_H

#define UMBRA_HC_VERSION 0 /* returns (major << 16) | minor */
#define UMBRA_ENOSYS ((unsigned long long)-1000)
#define UMBRA_VERSION_MAJOR 0
#define UMBRA_VERSION_MINOR 1

#endif
