#!/bin/sh
# `make run`: boots Umbra nested in QEMU (TCG, AMD-V with NPT) with a demo
# guest; the console (Umbra's and the guest's lines, prefixed with the VM's
# name) is this terminal. Quit QEMU with Ctrl-A then X.
# Variables: SMP=4, MEM=1024, ARGS="loglevel=debug" (Umbra's command line),
# GUEST="path/to/guest.elf name=web mem=64M -- guest args" (the module line).
set -eu
kernel=$1
guest=${GUEST:-$2 name=demo mem=64M -- hello from make run}
echo "Booting Umbra in QEMU (AMD-V/NPT, ${SMP:-2} CPUs) with guest: $guest" >&2
echo "Quit with Ctrl-A X." >&2
exec qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -m "${MEM:-512}" -smp "${SMP:-2}" \
	-display none -no-reboot -serial mon:stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kernel" -append "console=com1,115200 ${ARGS:-}" -initrd "$guest"
