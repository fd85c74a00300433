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
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
GUEST = os.path.join(BUILD, "guests", "bench_cpuid.elf")


def qemu(args, timeout=600):
    cmd = ["qemu-system-x86_64", "-accel", "tcg,thread=single", "-icount", "shift=0",
           "-cpu", "qemu64,+svm,+npt", "-m", "512", "-smp", "1", "-display", "none",
           "-no-reboot", "-serial", "stdio", "-monitor", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.stdout.replace("\r", "")


BOCHS_RC = """megs: 256
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path={iso}, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev={serial}
clock: sync=none
cpu: model=corei7_skylake_x, count=1, ips=50000000, reset_on_triple_fault=0
speaker: enabled=0
log: {log}
"""


def bochs(timeout=300):
    """bench_cpuid under Umbra on VT-x in Bochs; the serial output."""
    if not shutil.which("bochs"):
        return ""
    with tempfile.TemporaryDirectory(prefix="umbra-bench-") as d:
        iso = os.path.join(d, "bench.iso")
        subprocess.run([os.path.join(ROOT, "scripts", "mkiso.sh"), iso,
                        os.path.join(BUILD, "umbra.elf"), "exitcode", GUEST, "name=bench"],
                       check=True, capture_output=True)
        serial = os.path.join(d, "serial.txt")
        with open(os.path.join(d, "bench.bxrc"), "w") as f:
            f.write(BOCHS_RC.format(iso=iso, serial=serial, log=os.path.join(d, "bochs.log")))
        with open(os.path.join(d, "cont.rc"), "w") as f:
            f.write("c\n")
        try:
            subprocess.run(["bochs", "-q", "-f", "bench.bxrc", "-rc", "cont.rc"], cwd=d,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return open(serial, errors="replace").read().replace("\r", "") \
            if os.path.exists(serial) else ""


def figures(out):
    vals = {}
    for line in out.splitlines():
        if "BENCH" in line:
            for k, v in re.findall(r"(\w+)=([0-9.]+)", line):
                vals[k] = float(v)
    return vals


def main():
    umbra = qemu(["-kernel", os.path.join(BUILD, "umbra32.elf"), "-append", "exitcode",
                  "-initrd", GUEST + " name=bench"])
    bare = qemu(["-kernel", GUEST])
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
    x = figures(bochs())
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
