"""How the benchmarks run the emulators, shared by run_bench.py and churn.py.

QEMU TCG runs with -icount shift=0: one TSC tick is one emulated instruction
(1 ns of emulated time). Bochs runs with ips=50000000 and clock sync=none:
its TSC also advances one tick per emulated instruction. Figures from either
are instruction counts inside an emulator, not hardware time."""

import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")

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


def qemu(args, timeout=600):
    """QEMU TCG, AMD-V with NPT, 1 CPU, -icount; (exit status, or None on a
    timeout, and the console output)."""
    cmd = ["qemu-system-x86_64", "-accel", "tcg,thread=single", "-icount", "shift=0",
           "-cpu", "qemu64,+svm,+npt", "-m", "512", "-smp", "1", "-display", "none",
           "-no-reboot", "-serial", "stdio", "-monitor", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        return p.returncode, p.stdout.replace("\r", "")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out.replace("\r", "")


def bochs(kernel64, cmdline, modules, timeout=300):
    """Umbra from a GRUB ISO in Bochs (corei7_skylake_x, VT-x, 1 CPU) with
    modules [(file, module line)]; (0 when it ran, None on a timeout, 1 when
    the ISO could not be built; the console output)."""
    with tempfile.TemporaryDirectory(prefix="umbra-bench-") as d:
        iso = os.path.join(d, "bench.iso")
        args = [a for m in modules for a in m]
        r = subprocess.run([os.path.join(ROOT, "scripts", "mkiso.sh"), iso, kernel64, cmdline]
                           + args, capture_output=True, text=True)
        if r.returncode:
            return 1, r.stderr
        serial = os.path.join(d, "serial.txt")
        with open(os.path.join(d, "bench.bxrc"), "w") as f:
            f.write(BOCHS_RC.format(iso=iso, serial=serial, log=os.path.join(d, "bochs.log")))
        with open(os.path.join(d, "cont.rc"), "w") as f:
            f.write("c\n")
        status = 0
        try:
            subprocess.run(["bochs", "-q", "-f", "bench.bxrc", "-rc", "cont.rc"], cwd=d,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        out = open(serial, errors="replace").read() if os.path.exists(serial) else ""
        return status, out.replace("\r", "")
