#!/bin/sh
# Builds a hybrid BIOS+UEFI GRUB rescue ISO that boots Umbra with multiboot2.
# usage: mkiso.sh OUT.iso UMBRA.elf "umbra command line" [MODULE "module args"]...
set -eu
out=$1 kernel=$2 cmdline=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/boot/grub"
cp "$kernel" "$dir/boot/umbra.elf"
{
	echo 'set timeout=0'
	echo 'set default=0'
	echo 'serial --unit=0 --speed=115200'
	echo 'terminal_input serial console'
	echo 'terminal_output serial console'
	echo 'menuentry "Umbra" {'
	echo "	multiboot2 /boot/umbra.elf $cmdline"
	i=0
	while [ $# -ge 2 ]; do
		name=$(basename "$1")
		cp "$1" "$dir/boot/$name"
		echo "	module2 /boot/$name $name $2"
		shift 2
		i=$((i + 1))
	done
	echo '}'
} >"$dir/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$dir" >/dev/null 2>&1 || {
	echo "grub-mkrescue failed (are grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools installed?)" >&2
	grub-mkrescue -o "$out" "$dir"
	exit 1
}
