#!/usr/bin/env python3
"""Exit round-trip benchmark: the bench_cpuid guest times CPUID exits and
port-I/O exits to an Umbra device (the UART's LSR) with RDTSC, against a loop
that does not exit. QEMU runs with -icount shift=0, so one TSC tick is one
emulated instruction: the figures are instruction counts inside the emulator,
not hardware time. For reference the same guest also runs directly on QEMU
(no hypervisor: nothing exits there). The same guest then runs on VT-x in
Bochs (corei7_skylake_x, 1 CPU): with ips=50000000 and clock sync=none the
TSC runs at 50 MHz, one tick per emulated instruction as well (the
non-exiting loop shows it). Prints figures and ratios from one run; never
pass/fail."""

import os
import re
import shutil
import sys

import emu
from emu import BUILD

GUEST = os.path.join(BUILD, "guests", "bench_cpuid.elf")


def bochs_serial():
    """bench_cpuid under Umbra on VT-x in Bochs; the serial output."""
    if not shutil.which("bochs"):
        return ""
    return emu.bochs(os.path.join(BUILD, "umbra.elf"), "exitcode", [(GUEST, "name=bench")])[1]


def figures(out):
    vals = {}
    for line in out.splitlines():
        if "BENCH" in line:
            for k, v in re.findall(r"(\w+)=([0-9.]+)", line):
                vals[k] = float(v)
    return vals


def main():
    umbra = emu.qemu(["-kernel", os.path.join(BUILD, "umbra32.elf"), "-append", "exitcode",
                      "-initrd", GUEST + " name=bench"])[1]
    bare = emu.qemu(["-kernel", GUEST])[1]
    u, b = figures(umbra), figures(bare)
    if not u:
        print("bench: no BENCH line from the guest under Umbra; console tail:")
        print("\n".join(umbra.splitlines()[-20:]))
        return 1
    print("Exit round trips, QEMU TCG -icount shift=0 (ticks = emulated instructions)")
    print("AMD-V/NPT without NRIP save (Umbra decodes instruction lengths itself)")
    for key in sorted(u):
        print(f"  under Umbra   {key:24s} {u[key]:10.1f}")
    for key in sorted(b):
        print(f"  bare QEMU     {key:24s} {b[key]:10.1f}")
    if "cpuid_exit_ticks" in u and "loop_ticks" in u and u["loop_ticks"]:
        print(f"CPUID exit / non-exiting loop iteration: {u['cpuid_exit_ticks'] / u['loop_ticks']:.1f}x")
    if "cpuid_exit_ticks" in u and "cpuid_exit_ticks" in b and b["cpuid_exit_ticks"]:
        print(f"CPUID under Umbra / CPUID on bare QEMU: {u['cpuid_exit_ticks'] / b['cpuid_exit_ticks']:.1f}x")
    print("Reference (PLATFORM.md, same setup): KVM CPUID exit 2951, in-kernel port I/O 1536; "
          "Umbra's goal CPUID <= 740, port I/O <= 510.")
    x = figures(bochs_serial())
    if not x:
        print("\nVT-x: no BENCH line from Bochs (not installed, or the run failed)")
        return 0
    print("\nExit round trips, Bochs corei7_skylake_x (ticks = emulated instructions)")
    print("VT-x with EPT and VPID (instruction length from the VMCS)")
    for key in sorted(x):
        print(f"  under Umbra   {key:24s} {x[key]:10.1f}")
    return 0


if __name__ == "__main__":
    status = main()
    import churn  # bench/churn.py: process churn, nested vs shadow paging
    print()
    sys.exit(churn.main([]) or status)
