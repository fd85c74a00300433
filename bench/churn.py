#!/usr/bin/env python3
"""Process churn benchmark: nested paging against shadow paging.

The churn guest (tests/guests/churn.c) is a tiny OS that forks, copy-on-writes,
execs and exits processes, reloading CR3 at every process switch: the work
that shadow paging finds hardest. It runs twice under Umbra in QEMU TCG with
-icount shift=0 (one TSC tick = one emulated instruction = 1 ns of emulated
time): with nested paging (NPT, the default) and with `mmu=shadow` on the
hypervisor's command line. For each run it prints operations per second of
emulated time (from the guest's own RDTSC figure `tsc_per_op`) and exits per
operation (from the hypervisor's `VM <name> exits:` line printed at VM end),
then the shadow/NPT ratios and the shadow MMU's statistics lines. One
operation is one fork + copy-on-write + exec + exit + wait cycle.

The same pair then runs on VT-x in Bochs (corei7_skylake_x, 1 CPU): EPT
against `mmu=shadow`. With ips=50000000 and clock sync=none Bochs's TSC also
counts emulated instructions, so the figures compare the same way (skipped
when Bochs is not installed).

Never pass/fail on speed. Exits non-zero when a run does not pass: the guest
failed, the hypervisor refused the option, or the `mmu=shadow` run printed no
shadow MMU statistics (the hypervisor ran it with nested paging instead).
"""

import argparse
import os
import re
import shutil
import sys

import emu
from emu import BUILD

VM_NAME = "churn"
PASS_STATUS = 33  # the guest wrote 0x10 to the debug-exit port: (0x10 << 1) | 1


def parse(out):
    """The figures of one run: the guest's churn lines, the VM's exit counters,
    the hypervisor's lines after the VM ended, its error lines."""
    guest = f"[{VM_NAME}] "
    r = {"passed": False, "ops": 0, "tsc_per_op": 0, "page_faults": 0, "counters": {},
         "exits": None, "after_end": [], "errors": []}
    ended = False
    for line in out.splitlines():
        if line.startswith(guest):
            text = line[len(guest):]
            m = re.match(r"churn: ops=(\d+) tsc_per_op=(\d+) page_faults=(\d+)", text)
            if m:
                r["ops"], r["tsc_per_op"], r["page_faults"] = map(int, m.groups())
            elif text.startswith("churn: "):
                r["counters"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}
            elif text.strip() == "GUEST-RESULT: pass":
                r["passed"] = True
            continue
        if line.startswith("ERR"):
            r["errors"].append(line)
        if line.startswith(f"VM {VM_NAME} exits:"):
            # "VM churn exits: interrupt/window=12 cpuid=1 io=1266 npf=55"
            r["exits"] = {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)", line.split(":", 1)[1])}
        if ended:
            r["after_end"].append(line)
        if line.startswith(f"VM {VM_NAME} exited"):
            ended = True
    return r


def run_mode(args, label, append, on_bochs=False):
    """Runs the guest once; returns (figures, None) or (figures, why it failed)."""
    line = f"name={VM_NAME} -- ops={args.ops} procs={args.procs}" + (" pae" if args.pae else "")
    if on_bochs:
        print(f"{label}: bochs ... \"{append}\" module \"{line}\"", flush=True)
        status, out = emu.bochs(args.kernel64, append, [(args.guest, line)], args.timeout)
    else:
        initrd = f"{args.guest} {line}"
        print(f"{label}: qemu ... -append \"{append}\" -initrd \"{initrd}\"", flush=True)
        status, out = emu.qemu(["-kernel", args.kernel, "-append", append, "-initrd", initrd],
                               args.timeout)
    r = parse(out)
    why = None
    if status is None:
        why = f"timed out after {args.timeout} s"
    elif (status != (0 if on_bochs else PASS_STATUS)) or not r["passed"]:
        why = f"QEMU exit status {status}, guest {'passed' if r['passed'] else 'did not pass'}"
    elif not r["ops"] or not r["tsc_per_op"]:
        why = "no `churn: ops=` line from the guest"
    elif r["exits"] is None:
        why = f"no `VM {VM_NAME} exits:` line (is `exitcode` on the command line?)"
    if why:
        tail = [l for l in out.splitlines() if l.startswith(f"[{VM_NAME}]") or "ERR" in l
                or l.startswith(f"VM {VM_NAME}")][-12:]
        print(f"  console (last lines):\n    " + "\n    ".join(tail or out.splitlines()[-12:]))
    return r, why


def shadow_lines(r):
    """The shadow MMU's statistics: hypervisor lines after the VM ended that
    mention shadow paging."""
    return [l for l in r["after_end"] if "shadow" in l.lower()]


def per_op(r):
    """(emulated ops per second, exits per op, exits per op without port I/O).
    Port I/O is the guest's console output, a fixed cost of ~1300 exits."""
    exits = sum(r["exits"].values())
    io = r["exits"].get("io", 0)
    return 1e9 / r["tsc_per_op"], exits / r["ops"], (exits - io) / r["ops"]


def report(label, r):
    ops_s, epo, epo_nio = per_op(r)
    kinds = " ".join(f"{k}={v / r['ops']:.2f}" for k, v in sorted(r["exits"].items()))
    print(f"  {label:7s} {ops_s:10.0f} ops/s  {r['tsc_per_op']:10d} instructions/op  "
          f"{epo:9.2f} exits/op ({epo_nio:.2f} without port I/O)  "
          f"{r['page_faults'] / r['ops']:.1f} guest #PF/op")
    print(f"          exits per op: {kinds}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.path.join(BUILD, "umbra32.elf"),
                    help="Umbra's multiboot v1 image (default build/umbra32.elf)")
    ap.add_argument("--guest", default=os.path.join(BUILD, "guests", "churn.elf"),
                    help="the churn guest (default build/guests/churn.elf)")
    ap.add_argument("--ops", type=int, default=200, help="operations per run (default 200)")
    ap.add_argument("--procs", type=int, default=3, help="children alive at once (default 3)")
    ap.add_argument("--pae", action="store_true", help="the guest uses PAE paging")
    ap.add_argument("--kernel64", default=os.path.join(BUILD, "umbra.elf"),
                    help="Umbra's 64-bit image for the Bochs ISO (default build/umbra.elf)")
    ap.add_argument("--no-bochs", action="store_true", help="QEMU (AMD-V) only")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per run (default 600)")
    args = ap.parse_args(argv)

    print("Process churn: fork + copy-on-write + exec + exit per op, QEMU TCG -icount shift=0 "
          "(1 TSC tick = 1 emulated instruction = 1 ns emulated)")
    failed = compare(args, "NPT", False)
    if shutil.which("bochs") and not args.no_bochs:
        print("\nThe same on VT-x, Bochs corei7_skylake_x (1 TSC tick = 1 emulated instruction)")
        failed |= compare(args, "EPT", True)
    return 1 if failed else 0


def compare(args, tdp, on_bochs):
    """One nested-paging run and one shadow-paging run; True if one failed."""
    npt, npt_fail = run_mode(args, tdp, "exitcode", on_bochs)
    shadow, shadow_fail = run_mode(args, "shadow", "exitcode mmu=shadow", on_bochs)
    stats = shadow_lines(shadow)
    if not shadow_fail and not stats:
        shadow_fail = ("the hypervisor printed no shadow MMU statistics at VM end: "
                       "mmu=shadow is not implemented, or was ignored (the VM ran with NPT)")

    print(f"Results (ops={args.ops} procs={args.procs}, {'PAE' if args.pae else '32-bit'} "
          "guest paging; ops/s of emulated time):")
    if npt_fail:
        print(f"  {tdp:7s} run failed: {npt_fail}")
    else:
        report(tdp, npt)
    if shadow_fail:
        print(f"  shadow  run failed: {shadow_fail}")
        for line in shadow["errors"]:
            print(f"          {line}")
    else:
        report("shadow", shadow)
        print("  shadow MMU statistics (hypervisor, at VM end):")
        for line in stats:
            print(f"    {line}")
    if npt_fail or shadow_fail:
        return True
    n, s = per_op(npt), per_op(shadow)
    print(f"Shadow vs {tdp}: ops/s x{s[0] / n[0]:.3f} ({tdp} is {n[0] / s[0]:.1f}x faster), "
          f"exits/op x{s[1] / n[1]:.1f}" +
          (f" (without port I/O x{s[2] / n[2]:.1f})" if n[2] else ""))
    return False


if __name__ == "__main__":
    sys.exit(main())
