# Umbra build. `make` builds the kernel; `make run` boots it nested in QEMU;
# `make test` runs host unit tests and emulator boot tests (see README.md).

CC      := gcc
HOSTCC  ?= gcc
LD      := ld
OBJCOPY := objcopy
PYTHON  ?= python3
BUILD   := build

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
KCFLAGS := -std=gnu11 -O2 -g $(WARN) -I. -ffreestanding -mno-red-zone -mgeneral-regs-only \
	-mcmodel=kernel -fno-pic -fno-pie -fno-stack-protector -nostdlib -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -fno-strict-aliasing -fno-common -mno-80387
KASFLAGS := -I. -D__ASSEMBLY__ -fno-pic -fno-pie -mcmodel=kernel -g
KLDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T linker.ld

KSRCS := $(wildcard boot/*.S arch/x86/*.S arch/x86/*.c arch/x86/svm/*.S arch/x86/svm/*.c \
	arch/x86/vmx/*.S arch/x86/vmx/*.c kernel/*.c lib/*.c mm/*.c drivers/*.c virt/*.c shadow/*.c)
KOBJS := $(patsubst %,$(BUILD)/k/%.o,$(KSRCS))

.PHONY: all iso run test test-full unit unit-bins clang-check setup clean bench
all: $(BUILD)/umbra.elf $(BUILD)/umbra32.elf

$(BUILD)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KCFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@

# The 64-bit image carries the multiboot2 header (GRUB); the ELF32 copy is for
# QEMU's -kernel, which loads only ELF32 multiboot v1 images. Both headers are
# present in both files; each loader finds its own.
$(BUILD)/umbra.elf: $(KOBJS) linker.ld
	@echo "  LD      $@"
	@$(LD) $(KLDFLAGS) -o $@ $(KOBJS)

$(BUILD)/umbra32.elf: $(BUILD)/umbra.elf
	$(OBJCOPY) -O elf32-i386 $< $@

# --- GRUB rescue ISO (BIOS + UEFI) ------------------------------------------
# ISO_MODULES: pairs of words, file and "module arguments", e.g.
#   make iso ISO_MODULES='guest.elf "name=web mem=64M"'
ISO_CMDLINE ?= console=com1,115200
ISO_MODULES ?=
iso: $(BUILD)/umbra.elf scripts/mkiso.sh
	scripts/mkiso.sh $(BUILD)/umbra.iso $(BUILD)/umbra.elf "$(ISO_CMDLINE)" $(ISO_MODULES)

# --- user commands -----------------------------------------------------------
setup:
	scripts/setup.sh

run: setup all guests
	scripts/run-qemu.sh $(BUILD)/umbra32.elf $(BUILD)/guests/hello.elf

bench: setup all guests
	$(PYTHON) bench/run_bench.py

test: setup
	$(PYTHON) tests/run_tests.py --suite default

test-full: setup
	$(PYTHON) tests/run_tests.py --suite full

# --- host unit tests (ASan + UBSan) ------------------------------------------
HOSTCFLAGS := -std=gnu11 -O1 -g $(WARN) -I. -DUMBRA_HOST -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -pthread
UNIT_COMMON := tests/unit/host_env.c

# Each test program lists the module sources it links.
UNIT_printf_SRCS   := lib/printf.c lib/string.c
UNIT_cmdline_SRCS  := lib/cmdline.c lib/string.c
UNIT_bootinfo_SRCS := kernel/bootinfo.c lib/cmdline.c lib/string.c
UNIT_frame_SRCS    := mm/frame.c lib/string.c
UNIT_kmalloc_SRCS  := mm/kmalloc.c mm/frame.c lib/string.c
UNIT_acpi_SRCS     := drivers/acpi.c lib/string.c
UNIT_gva_SRCS        := virt/gva.c
UNIT_insn_len_SRCS   := virt/insn_len.c virt/gva.c
UNIT_cr_decode_SRCS  := virt/cr_decode.c
UNIT_emulate_SRCS    := virt/emulate.c virt/emulate_decode.c lib/printf.c lib/string.c
UNIT_vm_config_SRCS  := virt/vm_config.c lib/cmdline.c lib/printf.c lib/string.c
UNIT_loader_mb1_SRCS := virt/loader_mb1.c lib/printf.c lib/string.c
UNIT_memmap_SRCS   := mm/memmap.c
UNIT_vmx_controls_SRCS := arch/x86/vmx/vmx_controls.c arch/x86/vmx/vmx_guest_check.c
UNIT_fwtables_SRCS := virt/fwtables.c drivers/acpi.c lib/string.c
UNIT_page_track_SRCS := shadow/page_track.c mm/kmalloc.c mm/frame.c lib/string.c
UNIT_walk_SRCS     := shadow/walk.c shadow/walk_32.c shadow/walk_pae.c shadow/walk_64.c
UNIT_shadow_SRCS   := shadow/mmu.c shadow/mmu_page.c shadow/page_track.c shadow/walk.c shadow/walk_32.c shadow/walk_pae.c shadow/walk_64.c mm/kmalloc.c mm/frame.c lib/string.c

UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(patsubst %,$(BUILD)/unit/test_%,$(UNIT_TESTS))

$(BUILD)/unit/test_%: tests/unit/test_%.c $(UNIT_COMMON) tests/unit/unit.h FORCE_DEPS
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	@$(HOSTCC) $(HOSTCFLAGS) -o $@ $< $(UNIT_COMMON) $(UNIT_$*_SRCS)

FORCE_DEPS: $(wildcard lib/*.c lib/*.h kernel/*.h kernel/*.c mm/*.c mm/*.h drivers/*.c drivers/*.h)
.PHONY: FORCE_DEPS

unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

# The kernel also has to build warning-free with clang.
clang-check:
	$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang $(BUILD)/clang/umbra.elf

clean:
	rm -rf $(BUILD)

include tests/guests/guests.mk

-include $(shell find $(BUILD)/k -name '*.d' 2>/dev/null)
