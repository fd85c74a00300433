#!/bin/sh
# Installs what building, running and testing Umbra need on Debian 12, and
# only what is missing, so repeated runs are quick.
set -eu
need=""
have_cmd() { command -v "$1" >/dev/null 2>&1; }
want() { need="$need $1"; }

have_cmd gcc || want gcc
have_cmd make || want make
have_cmd ld || want binutils
have_cmd python3 || want python3
have_cmd clang || want clang
have_cmd qemu-system-x86_64 || want qemu-system-x86
have_cmd bochs || want bochs
[ -f /usr/share/bochs/BIOS-bochs-latest ] || want bochsbios
[ -f /usr/share/vgabios/vgabios.bin ] || want vgabios
dpkg -s bochs-x >/dev/null 2>&1 || want bochs-x # Bochs needs one GUI package installed
[ -d /usr/lib/grub/i386-pc ] || want grub-pc-bin
[ -d /usr/lib/grub/x86_64-efi ] || want grub-efi-amd64-bin
have_cmd grub-mkrescue || want grub-common
have_cmd xorriso || want xorriso
have_cmd mformat || want mtools
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || want ovmf
# Host unit tests link the sanitizer runtimes (part of gcc on Debian).

[ -z "$need" ] && exit 0
echo "setup: installing:$need"
if [ "$(id -u)" != 0 ]; then
	echo "setup: not root; please run: sudo apt-get install$need" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
