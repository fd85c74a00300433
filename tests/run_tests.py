#!/usr/bin/env python3
"""Umbra test runner: host unit tests, a clang build, and boot tests in QEMU
(AMD-V/NPT, TCG) and Bochs (VT-x/EPT). Every emulator run has a timeout; a
failure names the test and shows the last console lines. The last line of
output is "N passed, N failed, N skipped"."""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# QEMU's isa-debug-exit turns value v into exit status v*2+1 (drivers/power.h).
STATUS_PASS = 0x10 * 2 + 1
STATUS_PANIC = 0x12 * 2 + 1
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

results = {"passed": 0, "failed": 0, "skipped": 0}
failures = []


def say(msg):
    print(msg, flush=True)


def record(name, ok, detail="", seconds=None):
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    if ok:
        results["passed"] += 1
        say(f"ok   {name}{took}")
    else:
        results["failed"] += 1
        failures.append(name)
        say(f"FAIL {name}{took}: {detail}")


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, **kw)


# ---------------------------------------------------------------- host tests
def unit_tests():
    r = run(["make", "--no-print-directory", "-j2", "unit-bins"])
    if r.returncode != 0:
        record("unit tests build", False, r.stdout[-3000:] + r.stderr[-3000:])
        return
    bins = sorted(p for p in os.listdir(os.path.join(BUILD, "unit")) if p.startswith("test_"))
    for b in bins:
        t0 = time.time()
        try:
            r = run([os.path.join(BUILD, "unit", b)], timeout=600)
        except subprocess.TimeoutExpired:
            record(f"unit/{b}", False, "timed out after 600 s")
            continue
        m = re.search(r"(\d+) passed, (\d+) failed", r.stdout)
        if not m:
            record(f"unit/{b}", False, f"exit {r.returncode}, no result line\n{r.stderr[-3000:]}")
            continue
        p, f = int(m.group(1)), int(m.group(2))
        results["passed"] += p
        results["failed"] += f
        took = time.time() - t0
        if f or r.returncode != 0:
            failures.append(f"unit/{b}")
            say(f"FAIL unit/{b} ({took:.1f} s): {p} passed, {f} failed, exit {r.returncode}")
            say(indent(r.stderr[-4000:]))
        else:
            say(f"ok   unit/{b}: {p} cases ({took:.1f} s)")


def clang_build():
    t0 = time.time()
    if not shutil.which("clang"):
        results["skipped"] += 1
        say("skip kernel builds with clang: clang not installed")
        return
    r = run(["make", "--no-print-directory", "-j2", "clang-check"])
    record("kernel builds with clang -Werror", r.returncode == 0,
           (r.stdout + r.stderr)[-3000:], time.time() - t0)


# ---------------------------------------------------------------- emulators
def indent(text, n=40):
    lines = [l for l in text.splitlines() if l.strip()][-n:]
    return "\n".join("    | " + l for l in lines)


def iso_for(cmdline, modules=()):
    """One ISO per distinct Umbra command line and module list, cached for the run.
    modules: (file, module command line) pairs, passed with module2."""
    key = re.sub(r"[^A-Za-z0-9]+", "_", cmdline + "".join(os.path.basename(m[0]) + " " + m[1]
                                                          for m in modules)).strip("_")
    if len(key) > 48:
        # Bochs 2.7 overflows a buffer on long paths in its config file.
        key = key[:32] + "_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    path = os.path.join(BUILD, "iso", f"umbra-{key or 'default'}.iso")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        args = [a for m in modules for a in m]
        r = run(["scripts/mkiso.sh", path, os.path.join(BUILD, "umbra.elf"), cmdline] + args)
        if r.returncode != 0:
            raise RuntimeError("mkiso failed: " + r.stderr[-2000:])
    return path


def qemu_cmd(t, workdir):
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", t.get("cpu", "qemu64,+svm,+npt"),
           "-m", t.get("mem", "256"), "-smp", str(t.get("smp", 1)), "-display", "none",
           "-no-reboot", "-serial", "stdio", "-monitor", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    cmd += t.get("extra", [])
    boot = t.get("boot", "kernel")
    if boot == "kernel":
        cmd += ["-kernel", os.path.join(BUILD, "umbra32.elf"), "-append", t["cmdline"]]
        if t.get("initrd"):
            cmd += ["-initrd", t["initrd"]]
    else:
        cmd += ["-cdrom", iso_for(t["cmdline"], t.get("modules", ()))]
        if boot == "uefi":
            vars_fd = os.path.join(workdir, "vars.fd")
            shutil.copy(OVMF_VARS, vars_fd)
            cmd += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,file={vars_fd}"]
    return cmd


BOCHS_RC = """megs: {mem}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path={iso}, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev={serial}
clock: sync=none
cpu: {cpu}, count={smp}, ips=50000000, reset_on_triple_fault=0
{cpuid}
speaker: enabled=0
log: {log}
"""


def bochs_cmd(t, workdir):
    serial = os.path.join(workdir, "serial.txt")
    rc = os.path.join(workdir, "umbra.bxrc")
    cont = os.path.join(workdir, "cont.rc")
    with open(cont, "w") as f:
        f.write("c\n")
    with open(rc, "w") as f:
        f.write(BOCHS_RC.format(mem=t.get("mem", "256"),
                                iso=iso_for(t["cmdline"], t.get("modules", ())),
                                serial=serial, cpu=t["cpu"], smp=t.get("smp", 1),
                                cpuid=t.get("cpuid", ""), log=os.path.join(workdir, "bochs.log")))
    return ["bochs", "-q", "-f", rc, "-rc", cont], serial


def boot_test(t):
    name = t["name"]
    timeout = t.get("timeout", 120)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="umbra-test-") as workdir:
        serial = None
        try:
            if t["emu"] == "bochs":
                cmd, serial = bochs_cmd(t, workdir)
            else:
                cmd = qemu_cmd(t, workdir)
        except RuntimeError as e:
            record(name, False, str(e))
            return
        timed_out = False
        try:
            p = subprocess.run(cmd, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
            status, out = p.returncode, p.stdout.decode(errors="replace")
            err = p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            timed_out, status = True, None
            out = (e.stdout or b"").decode(errors="replace")
            err = (e.stderr or b"").decode(errors="replace")
        if serial:
            out = open(serial, errors="replace").read() if os.path.exists(serial) else ""
        out = ANSI.sub("", out).replace("\r", "")
    took = time.time() - t0
    problems = []
    if timed_out:
        problems.append(f"timed out after {timeout} s (hang)")
    for pat in t.get("expect", []):
        if not re.search(pat, out, re.M):
            problems.append(f"missing /{pat}/")
    for pat in t.get("forbid", [r"PANIC", r"selftest: FAIL"]):
        if re.search(pat, out, re.M):
            problems.append(f"found /{pat}/")
    want = t.get("status")
    if want is not None and not timed_out and status != want:
        problems.append(f"exit status {status}, expected {want}")
    if problems:
        detail = "; ".join(problems) + "\n  last console lines:\n" + indent(out, 30)
        if err.strip():
            detail += "\n  emulator stderr:\n" + indent(err, 10)
        record(name, False, detail, took)
    else:
        record(name, True, "", took)


def test_module():
    """A 12 KiB file to pass as a boot module."""
    path = os.path.join(BUILD, "mod.bin")
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * 48)
    return path


def q(name, **kw):
    kw.setdefault("emu", "qemu")
    kw.setdefault("status", STATUS_PASS)
    return dict(name=name, **kw)


BANNER = r"^Umbra hypervisor \d"
SVM_NPT = r"virt: AMD-V \(SVM\) revision 1, 16 ASIDs: NPT yes, NRIP-save no"
SELFTEST_OK = r"selftest: 6 passed, 0 failed"
VMX_FULL = (r"virt: VT-x \(VMX\) revision 0x[0-9a-f]+: EPT yes, VPID yes, "
            r"unrestricted-guest yes, EPT-A/D yes, PML yes, true-controls yes")


def cpus(n):
    return rf"smp: {n} CPUs? online"


def guest(name):
    return os.path.join(BUILD, "guests", f"{name}.elf")


def vm_exit(name, code):
    return rf"VM {name} exited with code {code:#x}"


def guest_tests(mode):
    """The guest suite on AMD-V (QEMU TCG), with NPT or with shadow paging
    (mode "shadow": a CPU model without NPT, so Umbra picks shadow paging
    by itself). Tests that do not depend on paging run with NPT only."""
    ok = r"GUEST-RESULT: pass"
    shadow = mode == "shadow"
    cpu = "qemu64,+svm,+smep,+smap" if shadow else "qemu64,+svm,+npt,+smep,+smap"
    paging = r"shadow paging" if shadow else r"nested paging"
    def g(title, initrd, expect, **kw):
        kw.setdefault("cmdline", "exitcode")
        kw.setdefault("mem", "1024")
        kw.setdefault("smp", 2)
        kw.setdefault("cpu", cpu)
        kw.setdefault("forbid", [r"PANIC", r"GUEST-RESULT: fail"])
        if kw.get("status", STATUS_PASS) == STATUS_PASS:
            expect = expect + [r"VM \S+: .* " + paging]
        return q(f"guest on AMD-V/{'shadow' if shadow else 'NPT'}: " + title, initrd=initrd,
                 expect=expect, **kw)
    both = [
        g("hello, prefixed console lines, exit code", guest("hello") + " name=web -- one two",
          [r"\[web\] hello from .*hello\.elf", r'\[web\] cmdline: ".*hello\.elf one two"',
           ok, vm_exit("web", 0x10), r"VM web exits: .*io="]),
        g("a vCPU spinning with interrupts off does not starve another VM on its host CPU",
          guest("spin") + "," + guest("hello") + " name=hi",
          [r"\[spin\] spinning with IF=0(?:.|\n)*\[hi\] GUEST-RESULT: pass(?:.|\n)*\[spin\] spin done",
           vm_exit("hi", 0x10), vm_exit("spin", 0x10)], smp=1),
        g("CPUID, MSR, port I/O and hypercall exits", guest("cpuid_msr_io"),
          [r"UmbraUmbraUm", r"raises #GP", r"\b0 check\(s\) failed", ok,
           vm_exit("cpuid_msr_io", 0x10)]),
        g("guest handles its own exceptions (#DE #UD #PF, 32-bit/PAE/long mode)",
          guest("exceptions"), [ok, vm_exit("exceptions", 0x10)]),
        g("x2APIC timer interrupts at the programmed rate, HLT wakes", guest("timer"),
          [ok, vm_exit("timer", 0x10)]),
        g("loads as low as 0x8000, BSS zeroed, page 0 is RAM", guest("lowload"),
          [ok, vm_exit("lowload", 0x10)]),
        g("256 MiB memory patterns", guest("memory") + " mem=300M", [ok, vm_exit("memory", 0x10)],
          timeout=300),
        g("two VMs on two CPUs cannot see each other's memory",
          guest("isolation") + " name=a -- id=A," + guest("isolation") + " name=b -- id=B",
          [r"\[a\] GUEST-RESULT: pass", r"\[b\] GUEST-RESULT: pass",
           vm_exit("a", 0x10), vm_exit("b", 0x10)]),
        g("a triple-faulting VM is stopped alone, with a register dump",
          guest("triplefault") + " name=tf," + guest("isolation") + " name=ok -- id=A",
          [vm_exit("tf", 0x13) + r" \(triple fault", r"VM tf vCPU 0: triple fault",
           r"RIP [0-9a-f]{16} RSP", r"\[ok\] GUEST-RESULT: pass", vm_exit("ok", 0x10)]),
        g("PC platform: xAPIC/x2APIC registers, TPR, timer modes (xAPIC MMIO)", guest("apic"),
          [ok, vm_exit("apic", 0x10)]),
        g("PC platform: xAPIC with 4 vCPUs", guest("apic") + " name=apic4 vcpus=4",
          [ok, vm_exit("apic4", 0x10)], smp=4),
        g("SMP: INIT-SIPI bring-up of 4 vCPUs, fixed/NMI/broadcast/logical IPIs",
          guest("smp") + " vcpus=4 -- cpus=4",
          [r"all 4 CPUs online", ok, vm_exit("smp", 0x10)], smp=4, timeout=180),
        g("SMP: INIT and one SIPI back to back, SIPI vector 0",
          guest("smp") + " name=smp0 vcpus=4 -- cpus=4 backtoback vector0",
          [r"all 4 CPUs online", ok, vm_exit("smp0", 0x10)], smp=4, timeout=180),
        g("PC platform: fw_cfg, ACPI and MP tables, PM timer, CMOS, PIC masking, IOAPIC routing, UART IRQ",
          guest("platform") + " vcpus=4 mem=128M -- cpus=4 mem=128M",
          [ok, vm_exit("platform", 0x10)], smp=4, timeout=180),
        g("garbage to every APIC/IOAPIC register and ICR mode harms no one",
          guest("garbage") + " name=g," + guest("isolation") + " name=ok -- id=A",
          [r"\[g\] .*survived", r"\[ok\] GUEST-RESULT: pass", vm_exit("ok", 0x10)]),
        g("real mode (16-bit) and back to protected mode, big real mode", guest("realmode"),
          [r"\[realmode\] hello from 16-bit real mode", ok, vm_exit("realmode", 0x10)]),
        # Under NPT, QEMU TCG's own MMU decides and it reports XD-with-NXE=0
        # faults without the P bit: tolerated there, exact under shadow.
        g("paging access matrix: 32-bit, PAE, long mode x R/W/U/XD x WP/SMEP/SMAP/AC/NXE"
          + (", exact" if shadow else ""),
          guest("access_matrix") + (" -- strict=1" if shadow else ""),
          [r"ok   32-bit 4K", r"ok   PAE 4K", r"ok   long mode 4K", r"ok   long mode 2M", ok,
           vm_exit("access_matrix", 0x10)], smp=1, timeout=180),
        g("page tables beyond guest RAM stop that VM alone, with a message",
          guest("badpaging") + " name=bad1," + guest("badpaging") + " name=bad2 -- mode=pde,"
          + guest("hello") + " name=ok",
          [vm_exit("bad1", 0x13), vm_exit("bad2", 0x13), r"ERR  VM bad1 vCPU 0: .*0xf0000",
           r"\[ok\] " + ok, vm_exit("ok", 0x10)],
          forbid=[r"PANIC", r"GUEST-RESULT: fail", r"still running with paging on"]),
        g("process churn: fork/CoW/exec/exit in 32-bit paging",
          guest("churn") + " -- ops=100", [r"churn: ops=100 ", ok, vm_exit("churn", 0x10)],
          smp=1, timeout=180),
        g("process churn: fork/CoW/exec/exit in PAE paging, 2 VMs",
          guest("churn") + " name=c1 -- ops=60 pae," + guest("churn") + " name=c2 -- ops=60 procs=5",
          [r"\[c1\] GUEST-RESULT: pass", r"\[c2\] GUEST-RESULT: pass",
           vm_exit("c1", 0x10), vm_exit("c2", 0x10)], timeout=180),
    ]
    if shadow:
        return both + [
            g("shadow MMU statistics at VM end", guest("churn") + " name=st -- ops=20",
              [r"VM st shadow MMU: \d+ faults \(\d+ fixed, \d+ the guest's #PF",
               r"VM st shadow pages: [1-9]\d* allocated, \d+ zapped .*roots \d+ new, [1-9]\d* reused",
               vm_exit("st", 0x10)], smp=1),
            g("a tiny shadow pool (shadow_pages=64) is reclaimed, not overrun",
              guest("churn") + " name=tiny shadow_pages=64 -- ops=40 procs=8",
              [r"VM tiny shadow pages: .*\(([1-9]\d*) reclaimed", r"in the pool of 64",
               ok, vm_exit("tiny", 0x10)], smp=1, timeout=180),
        ]
    return both + [
        g("a VM's own modules (for=NAME) in its multiboot info",
          guest("hello") + " name=web," + test_module() + " for=web initrd -- x=1",
          [r'\[web\] module 0: 0x[0-9a-f]+-0x[0-9a-f]+, 12288 bytes, sum 1566720, ".*mod\.bin initrd -- x=1"',
           vm_exit("web", 0x10)]),
        g("exit code of the guest becomes QEMU's", guest("hello") + " -- exit=0x21",
          [vm_exit("hello", 0x21)], status=0x21 * 2 + 1, forbid=[r"PANIC"]),
        g("bad module lines and images are refused with a message",
          guest("hello") + " mem=1K," + test_module() + " name=junk," + guest("hello") + " vcpus=0",
          [r"module 0 .* refused: .*mem", r"VM junk refused: .*multiboot", r"module 2 .* refused: .*vcpus",
           r"no VM could be started"], status=0x11 * 2 + 1),
        g("a refused module does not stop the others",
          test_module() + " name=junk," + guest("hello") + " name=good",
          [r"VM junk refused", vm_exit("good", 0x10)]),
        q("guest via GRUB module2 on BIOS", boot="bios", cmdline="exitcode",
          modules=[(guest("hello"), "name=grub -- via grub")], mem="512",
          expect=[r'\[grub\] cmdline: "hello\.elf via grub"', vm_exit("grub", 0x10)]),
        g("mmu=shadow forces shadow paging on a CPU with NPT; mmu=tdp per VM",
          guest("churn") + " name=sh -- ops=20," + guest("hello") + " name=np mmu=tdp",
          [r"VM sh: .* shadow paging", r"VM np: .* nested paging", r"VM sh shadow MMU:",
           vm_exit("sh", 0x10), vm_exit("np", 0x10)], cmdline="exitcode mmu=shadow"),
    ]


def bochs_guest_tests(full):
    """The guest suite on VT-x with EPT, VPID and unrestricted guest (Bochs
    corei7_skylake_x, 2 CPUs, GRUB ISO). Bochs boots slowly (~5 s) and runs
    ~125k exits/s, so the default suite runs the short guests as VMs of one
    boot; the long ones (memory, isolation) and the refusals are in the full
    suite."""
    ok = r"GUEST-RESULT: pass"

    def b(title, modules, expect, model="corei7_skylake_x", paging="EPT", **kw):
        kw.setdefault("cmdline", "exitcode")
        kw.setdefault("smp", 2)
        kw.setdefault("timeout", 300)
        kw.setdefault("forbid", [r"PANIC", r"GUEST-RESULT: fail", r"VM entry failed"])
        return dict(name=f"guest on VT-x/{paging} (Bochs {model}): " + title, emu="bochs",
                    cpu=f"model={model}", modules=modules, expect=expect, **kw)
    # VMX has no real mode without unrestricted guest, which needs EPT: with
    # mmu=shadow on a CPU that has them, real-mode phases run on the EPT p2m
    # (realmode, SMP APs); on CPUs without, such guests are stopped.
    shadow_suite = ["hello", "cpuid_msr_io", "exceptions", "lowload", "access_matrix", "churn"]
    def shadow_line(n):
        return {"access_matrix": "-- strict=1", "churn": "-- ops=40",
                "smp": "vcpus=2 -- cpus=2"}.get(n, "")
    suite = ["hello", "cpuid_msr_io", "exceptions", "timer", "lowload", "realmode", "smp"]
    tests = [
        b("hello, CPUID/MSR/IO/hypercall, exceptions, timer, low load, real mode, SMP "
          "(7 VMs, one boot)",
          [(guest(n), "vcpus=2" if n == "smp" else "") for n in suite],
          [r"virt: VT-x enabled on 2 CPUs", r"vmx: EPT \(INVEPT single-context\), VPID yes",
           r"\[realmode\] hello from 16-bit real mode", r"\[cpuid_msr_io\] .*VMCALL"]
          + [rf"\[{n}\] GUEST-RESULT: pass" for n in suite]
          + [vm_exit(n, 0x10) for n in suite]),
        b("a triple-faulting VM is stopped alone, with a register dump",
          [(guest("triplefault"), "name=tf"), (guest("hello"), "name=ok")],
          [vm_exit("tf", 0x13) + r" \(triple fault", r"VM tf vCPU 0: triple fault",
           r"RIP [0-9a-f]{16} RSP", r"exit reason 2 \(triple fault\)", r"\[ok\] " + ok,
           vm_exit("ok", 0x10)]),
        # The timing checks of these two want a host CPU each: one VM per boot.
        b("PC platform: xAPIC/x2APIC registers, TPR, timer modes (xAPIC MMIO)",
          [(guest("apic"), "")], [ok, vm_exit("apic", 0x10)]),
        b("PC platform: fw_cfg, ACPI and MP tables, PM timer, CMOS, PIC, IOAPIC, UART IRQ",
          [(guest("platform"), "vcpus=2 mem=128M -- cpus=2 mem=128M")],
          [ok, vm_exit("platform", 0x10)]),
        b("mmu=shadow: hello, CPUID/MSR/IO, exceptions, low load, access matrix (exact), "
          "churn (6 VMs, one boot)",
          [(guest(n), shadow_line(n)) for n in shadow_suite],
          [r"vmx: shadow paging: proc 0x[0-9a-f]+ proc2 0x[0-9a-f]+, exceptions 0x44000"]
          + [rf"VM {n}: .* shadow paging" for n in shadow_suite]
          + [rf"\[{n}\] GUEST-RESULT: pass" for n in shadow_suite]
          + [vm_exit(n, 0x10) for n in shadow_suite], paging="shadow",
          cmdline="exitcode mmu=shadow", timeout=400),
        # The SMP guest's AP start-up has timeouts: a boot of its own.
        b("mmu=shadow: real mode and back, SMP bring-up (APs start in real mode)",
          [(guest("realmode"), ""), (guest("smp"), "vcpus=2 -- cpus=2")],
          [r"\[realmode\] hello from 16-bit real mode", r"\[smp\] all 2 CPUs online",
           r"VM realmode: .* shadow paging", r"VM smp: .* shadow paging",
           r"\[realmode\] " + ok, r"\[smp\] " + ok, vm_exit("realmode", 0x10),
           vm_exit("smp", 0x10)], paging="shadow", cmdline="exitcode mmu=shadow"),
        b("VT-x without EPT (bx_generic): every VM on shadow paging; real mode and page tables "
          "beyond RAM stop only their VM",
          [(guest(n), shadow_line(n)) for n in ["hello", "exceptions", "access_matrix"]]
          + [(guest("realmode"), ""), (guest("badpaging"), "name=bad -- mode=pde")],
          [r"vmx: every VM runs with shadow paging", r"VM hello: .* shadow paging",
           r"\[hello\] GUEST-RESULT: pass", r"\[exceptions\] GUEST-RESULT: pass",
           r"\[access_matrix\] GUEST-RESULT: pass", vm_exit("access_matrix", 0x10),
           vm_exit("realmode", 0x13) + r" \(the guest left protected mode; real mode under shadow paging needs",
           vm_exit("bad", 0x13) + r" \(shadow paging at linear 0x[0-9a-f]+: a guest page-table entry lies outside guest RAM"],
          model="bx_generic", paging="shadow", smp=1, timeout=400,
          cpuid='cpuid: level=6, family=6, model=0x2a, vendor_string="GenuineIntel", '
                'x86_64=1, apic=xapic, simd=sse2, vmx=1'),
        b("no unrestricted guest (Lynnfield): shadow paging, the guest suite that needs no real mode",
          [(guest(n), shadow_line(n)) for n in shadow_suite + ["timer", "triplefault"]],
          [r"vmx: every VM runs with shadow paging"]
          + [rf"\[{n}\] GUEST-RESULT: pass" for n in shadow_suite + ["timer"]]
          + [vm_exit(n, 0x10) for n in shadow_suite + ["timer"]]
          + [vm_exit("triplefault", 0x13) + r" \(triple fault"],
          model="corei5_lynnfield_750", paging="shadow", timeout=600),
        # 4 vCPUs need 4 Bochs CPUs: with fewer, Bochs hangs (see README).
        b("SMP: INIT-SIPI bring-up of 4 vCPUs and IPIs (4 Bochs CPUs)",
          [(guest("smp"), "vcpus=4 -- cpus=4")],
          [r"all 4 CPUs online", ok, vm_exit("smp", 0x10)], smp=4),
    ]
    if not full:
        return tests
    return tests + [
        b("256 MiB memory patterns (65536 EPT violations)", [(guest("memory"), "mem=300M")],
          [ok, vm_exit("memory", 0x10)], mem="1024", timeout=600),
        b("SMP: INIT and one SIPI back to back, SIPI vector 0",
          [(guest("smp"), "name=smp0 vcpus=2 -- cpus=2 backtoback vector0")],
          [r"all 2 CPUs online", ok, vm_exit("smp0", 0x10)]),
        b("garbage to every APIC/IOAPIC register and ICR mode harms no one",
          [(guest("garbage"), "name=g"), (guest("isolation"), "name=ok -- id=A")],
          [r"\[g\] .*survived", r"\[ok\] " + ok, vm_exit("ok", 0x10)]),
        b("two VMs on two CPUs cannot see each other's memory",
          [(guest("isolation"), "name=a -- id=A"), (guest("isolation"), "name=b -- id=B")],
          [r"\[a\] " + ok, r"\[b\] " + ok, vm_exit("a", 0x10), vm_exit("b", 0x10)]),
        b("mmu=shadow: 256 MiB memory patterns, two isolated VMs, APIC garbage",
          [(guest("memory"), "mem=300M"), (guest("isolation"), "name=a -- id=A"),
           (guest("garbage"), "name=g")],
          [ok, vm_exit("memory", 0x10), vm_exit("a", 0x10), r"\[g\] .*survived"],
          paging="shadow", cmdline="exitcode mmu=shadow", mem="1024", timeout=900),
        b("mmu=shadow: SMP bring-up of 4 vCPUs and IPIs (4 Bochs CPUs)",
          [(guest("smp"), "vcpus=4 -- cpus=4")],
          [r"all 4 CPUs online", ok, vm_exit("smp", 0x10), r"VM smp: .* shadow paging"],
          paging="shadow", cmdline="exitcode mmu=shadow", smp=4),
        b("mmu=shadow: PC platform: xAPIC/x2APIC registers, TPR, timer modes",
          [(guest("apic"), "")], [ok, vm_exit("apic", 0x10), r"VM apic: .* shadow paging"],
          paging="shadow", cmdline="exitcode mmu=shadow"),
        b("mmu=shadow: PC platform: fw_cfg, ACPI and MP tables, PM timer, CMOS, PIC, IOAPIC, UART IRQ",
          [(guest("platform"), "mem=128M -- cpus=1 mem=128M")],
          [ok, vm_exit("platform", 0x10), r"VM platform: .* shadow paging"],
          paging="shadow", cmdline="exitcode mmu=shadow"),
    ]


def default_boot_tests():
    common = [BANNER, r"mm: \d+ MiB free", r"tsc: \d+\.\d+ MHz"]
    return [
        q("qemu -kernel, 1 CPU: banner, memory, SVM+NPT, clean exit",
          cmdline="exitcode", smp=1,
          expect=common + [r"Multiboot v1", r"boot: usable memory 25\d MiB", cpus(1), SVM_NPT,
                           r"Umbra ready"]),
        q("qemu -kernel, 4 CPUs: selftest", cmdline="exitcode selftest", smp=4,
          expect=common + [cpus(4), SVM_NPT, SELFTEST_OK]),
        q("qemu GRUB ISO on BIOS, 1 CPU", boot="bios", cmdline="exitcode", smp=1,
          expect=common + [r"Multiboot2, loader \"GRUB", cpus(1), SVM_NPT, r"Umbra ready"]),
        q("qemu GRUB ISO on BIOS, 4 CPUs: selftest", boot="bios", cmdline="exitcode selftest",
          smp=4, expect=common + [r"Multiboot2", cpus(4), SELFTEST_OK]),
        q("qemu GRUB ISO on UEFI (OVMF), 1 CPU", boot="uefi", cmdline="exitcode", smp=1,
          timeout=180, expect=common + [r"Multiboot2", r"EFI memory map", r"RSDP: copy from multiboot2",
                                        cpus(1), SVM_NPT, r"Umbra ready"]),
        q("qemu GRUB ISO on UEFI (OVMF), 4 CPUs: selftest", boot="uefi",
          cmdline="exitcode selftest", smp=4, timeout=180,
          expect=common + [r"EFI memory map", cpus(4), SELFTEST_OK]),
        q("qemu 5 GiB RAM: direct map above 4 GiB, selftest", cmdline="exitcode selftest", smp=2,
          mem="5G", expect=common + [r"mm: (4[89]\d\d|50\d\d) MiB free", SELFTEST_OK]),
        q("qemu without HPET: TSC calibrated against the ACPI PM timer", cmdline="exitcode selftest",
          smp=2, extra=["-no-hpet"], expect=[r"calibrated against ACPI PM timer", SELFTEST_OK]),
        q("qemu GRUB ISO passes module2 modules with their command lines", boot="bios",
          cmdline="exitcode", modules=[(test_module(), "name=web mem=64M -- console=ttyS0")],
          expect=[r'boot: module 0 \[0x[0-9a-f]+-0x[0-9a-f]+\) 12 KiB "mod\.bin name=web mem=64M -- console=ttyS0"',
                  r"VM web refused: .*multiboot"], status=0x11 * 2 + 1),
        q("qemu without SVM: clear message and ACPI power-off", cmdline="", cpu="qemu64,-svm",
          status=0, expect=[BANNER, r"neither VT-x nor AMD-V", r"power: powering off"],
          forbid=[r"PANIC", r"Umbra ready", r"ACPI S5 did not power off"]),
        q("qemu bad command line values fall back to defaults",
          cmdline="exitcode console=com9,7 loglevel=loud maxcpus=x", smp=2,
          expect=[r"bad console= value", r"bad loglevel= value", r"bad maxcpus= value",
                  cpus(2), r"Umbra ready"]),
        q("qemu hypervisor exception: panic report, all CPUs stopped", smp=2,
          cmdline="exitcode crashtest=pagefault", status=STATUS_PANIC,
          expect=[r"PANIC on CPU 0: CPU exception #PF page fault", r"RIP ffffffff8",
                  r"CR2 000000001dead000", r"stack trace:", r"\[1\] ffffffff8",
                  r"all CPUs stopped"], forbid=[]),
        dict(name="bochs corei7_skylake_x, 2 CPUs, GRUB ISO: VT-x features, selftest",
             emu="bochs", cpu="model=corei7_skylake_x", smp=2, cmdline="exitcode selftest",
             timeout=300, expect=common + [r"Multiboot2", r"x2APIC mode, timer TSC-deadline",
                                           cpus(2), VMX_FULL,
                                           r"IA32_FEATURE_CONTROL 0x[0-9a-f]+: locked, VMX outside SMX enabled",
                                           SELFTEST_OK, r"power: powering off"]),
    ]


def full_boot_tests():
    tests = []
    for model, feats in [
        ("corei7_haswell_4770", r"EPT yes, VPID yes, unrestricted-guest yes, EPT-A/D yes, PML no"),
        ("corei7_sandy_bridge_2600k", r"EPT yes, VPID yes, unrestricted-guest yes, EPT-A/D no"),
        ("corei5_lynnfield_750", r"EPT yes, VPID yes, unrestricted-guest no"),
    ]:
        tests.append(dict(name=f"bochs {model}, 2 CPUs: VT-x features, selftest", emu="bochs",
                          cpu=f"model={model}", smp=2, cmdline="exitcode selftest", timeout=300,
                          expect=[BANNER, cpus(2), r"VT-x \(VMX\).*" + feats, SELFTEST_OK]))
    tests.append(dict(name="bochs VT-x without EPT (bx_generic), 1 CPU", emu="bochs",
                      cpu="model=bx_generic", smp=1, cmdline="exitcode selftest", timeout=300,
                      cpuid='cpuid: level=6, family=6, model=0x2a, vendor_string="GenuineIntel", '
                            'x86_64=1, apic=xapic, simd=sse2, vmx=1',
                      expect=[BANNER, r"VT-x \(VMX\).*EPT no", SELFTEST_OK]))
    tests.append(dict(name="bochs ryzen, 2 CPUs: AMD-V with NRIP save", emu="bochs",
                      cpu="model=ryzen", smp=2, cmdline="exitcode selftest", timeout=300,
                      expect=[BANNER, r"AMD-V \(SVM\).*NPT yes, NRIP-save yes", SELFTEST_OK]))
    tests.append(q("qemu -kernel, 8 CPUs: selftest", cmdline="exitcode selftest", smp=8,
                   timeout=240, expect=[cpus(8), SELFTEST_OK]))
    tests.append(q("qemu -cpu max, 4 CPUs: selftest", cmdline="exitcode selftest", smp=4,
                   cpu="max", expect=[cpus(4), r"NPT yes", SELFTEST_OK]))
    return tests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=["default", "full"], default="default")
    ap.add_argument("-k", help="only tests whose name contains this")
    args = ap.parse_args()

    t0 = time.time()
    r = run(["make", "--no-print-directory", "-j2", "all", "guests"])
    if r.returncode != 0:
        say(r.stdout[-4000:] + r.stderr[-4000:])
        record("kernel build", False, "make all failed")
    else:
        if not args.k:
            unit_tests()
            clang_build()
        shutil.rmtree(os.path.join(BUILD, "iso"), ignore_errors=True)
        tests = (default_boot_tests() + guest_tests("npt") + guest_tests("shadow")
                 + bochs_guest_tests(args.suite == "full"))
        if args.suite == "full":
            tests += full_boot_tests()
        for t in tests:
            if args.k and args.k not in t["name"]:
                continue
            boot_test(t)
    say(f"\ntotal time {time.time() - t0:.0f} s")
    if failures:
        say("failed: " + ", ".join(failures))
    say(f"{results['passed']} passed, {results['failed']} failed, {results['skipped']} skipped")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
