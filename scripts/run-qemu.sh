#!/bin/sh
# `make run`: boots Umbra nested in QEMU (TCG, AMD-V with NPT) with its console
# on this terminal. Quit QEMU with Ctrl-A then X.
# Extra Umbra arguments: make run ARGS="selftest loglevel=debug"; CPUs: SMP=4.
set -eu
kernel=$1
echo "Booting Umbra in QEMU (AMD-V/NPT, ${SMP:-2} CPUs). Quit with Ctrl-A X." >&2
exec qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -m "${MEM:-512}" -smp "${SMP:-2}" \
	-display none -no-reboot -serial mon:stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kernel" -append "console=com1,115200 ${ARGS:-}"
