# Guest test kernels: multiboot v1 ELF32 images in $(BUILD)/guests/<name>.elf.
# Included by the top Makefile, or standalone from the repository root:
#   make -f tests/guests/guests.mk guests
# Every variable here starts with GUEST_ so the including Makefile is unaffected.

GUEST_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),1)
GUEST_SAVED_GOAL := $(.DEFAULT_GOAL)
BUILD ?= build

GUEST_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_OUT := $(BUILD)/guests
GUEST_CC ?= gcc
GUEST_LD ?= ld
GUEST_AR ?= ar
GUEST_CFLAGS := -m32 -march=i686 -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-ffreestanding -fno-pic -fno-pie -fno-stack-protector -nostdlib -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fno-strict-aliasing -fno-common -fno-delete-null-pointer-checks -I$(GUEST_DIR)/lib
GUEST_ASFLAGS := -m32 -fno-pic -fno-pie -g
GUEST_LDFLAGS := -m elf_i386 -nostdlib -z max-page-size=0x1000 -z noexecstack \
	--no-warn-rwx-segments -T $(GUEST_DIR)/lib/guest.ld

# The guests, and the load address of those not linked at 1 MiB.
GUEST_NAMES := hello cpuid_msr_io exceptions timer memory isolation triplefault lowload bench_cpuid \
	apic smp platform garbage realmode spin access_matrix churn badpaging
GUEST_LOAD_lowload := 0x8000

GUEST_LIB_SRCS := $(wildcard $(GUEST_DIR)/lib/*.c $(GUEST_DIR)/lib/*.S)
GUEST_LIB_OBJS := $(patsubst $(GUEST_DIR)/lib/%,$(GUEST_OUT)/lib/%.o,$(GUEST_LIB_SRCS))
GUEST_ENTRY := $(GUEST_OUT)/lib/entry.S.o
GUEST_LIB := $(GUEST_OUT)/lib/libguest.a
GUEST_ELFS := $(patsubst %,$(GUEST_OUT)/%.elf,$(GUEST_NAMES))
GUEST_HDRS := $(wildcard $(GUEST_DIR)/lib/*.h)

.PHONY: guests clean-guests
guests: $(GUEST_ELFS)

$(GUEST_OUT)/lib/%.c.o: $(GUEST_DIR)/lib/%.c $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/lib/%.S.o: $(GUEST_DIR)/lib/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(GUEST_CC) $(GUEST_ASFLAGS) -c $< -o $@

$(GUEST_LIB): $(filter-out $(GUEST_ENTRY),$(GUEST_LIB_OBJS))
	@rm -f $@
	@$(GUEST_AR) rcs $@ $^

$(GUEST_OUT)/%.o: $(GUEST_DIR)/%.c $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

# entry.S.o is linked explicitly (it holds the multiboot header and _start);
# the rest of the library comes from the archive as needed.
$(GUEST_OUT)/%.elf: $(GUEST_OUT)/%.o $(GUEST_ENTRY) $(GUEST_LIB) $(GUEST_DIR)/lib/guest.ld
	@echo "  LD      $@"
	@$(GUEST_LD) $(GUEST_LDFLAGS) --defsym=GUEST_LOAD=$(or $(GUEST_LOAD_$*),0x100000) \
		-o $@ $(GUEST_ENTRY) $< $(GUEST_LIB)

.PRECIOUS: $(GUEST_OUT)/%.o $(GUEST_ENTRY)

clean-guests:
	rm -rf $(GUEST_OUT)

# Standalone, `guests` is the default goal; included, the includer's stays.
ifeq ($(GUEST_STANDALONE),1)
.DEFAULT_GOAL := guests
else
.DEFAULT_GOAL := $(GUEST_SAVED_GOAL)
endif
