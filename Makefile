# arena386 - build, run and test.  See README.md.
#
#   make            build/kernel.elf
#   make iso        build/arena386.iso (GRUB, boots without a menu wait)
#   make run        boot in QEMU, console on this terminal, run every self-test,
#                   then the serial shell (on a terminal; "halt" leaves)
#   make map        draw the address space (docs/address-space.svg and .png)
#   make stress     ten million random heap operations, 32 MiB to 3 GiB, 1 and 4 CPUs
#   make test       host tests, then the on-target suite at 16 MiB, 256 MiB,
#                   3 GiB and from the ISO; last line "N passed, N failed"
#   make bench      benchmarks (QEMU -icount shift=0: rdtsc counts instructions)
#   make debug      QEMU waits for gdb; run "gdb -x tests/gdbinit" beside it
#   make deps       install what is missing (Debian packages)
#   make CC=clang   build with clang instead of gcc

ifeq ($(origin CC),default)
CC := gcc
endif
PYTHON ?= python3
BUILD := build
# Quiet build lines ("CC file"); V=1 shows the full commands.
ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

# ---- kernel (i386, freestanding) -------------------------------------------
# The oldest CPU supported is the i486 (arch/i386/cpuid.h): -march=i486 keeps
# out cmov and everything else a Pentium Pro added, and no x87 code is made
# (a 486SX has no FPU).  -mtune=generic keeps today's instruction choices
# (tuned for a 486, gcc's code took 2 more instructions per kmalloc + kfree).
KERNEL_CFLAGS := -m32 -march=i486 -mtune=generic -std=gnu11 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -fno-omit-frame-pointer -fno-builtin -mno-80387 \
	-mno-mmx -mno-sse -mno-sse2 -mno-red-zone -mregparm=3 \
	-O2 -g -Wall -Wextra -Werror -I. -MMD -MP
KERNEL_ASFLAGS := -m32 -march=i486 -I. -MMD -MP -D__ASSEMBLER__
KERNEL_LDFLAGS := -m32 -nostdlib -static -Wl,--build-id=none \
	-Wl,-T,$(BUILD)/linker.lds -Wl,-z,noexecstack

BOOT_SRCS := boot/entry.S
ARCH_SRCS := $(wildcard arch/i386/*.c arch/i386/*.S)
KERNEL_SRCS := $(wildcard kernel/*.c)
LIB_SRCS := $(wildcard lib/*.c)
MM_SRCS := $(wildcard mm/*.c)
TARGET_TEST_SRCS := tests/ktest.c tests/kbench.c tests/select.c $(sort $(wildcard tests/target/*.c)) \
	$(sort $(wildcard tests/bench/*.c))

KERNEL_SRCS_ALL := $(BOOT_SRCS) $(LIB_SRCS) $(ARCH_SRCS) $(MM_SRCS) $(KERNEL_SRCS) \
	$(TARGET_TEST_SRCS)
KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_SRCS_ALL))

all: $(BUILD)/kernel.elf

$(BUILD)/linker.lds: linker.ld arch/i386/layout.h
	@mkdir -p $(@D)
	$(quiet) CPP $@
	$(Q)$(CC) -E -P -x c -D__LINKER__ -D__ASSEMBLER__ -I. $< -o $@

# The allocator's fast paths and the page heap under them are short leaf
# code: a frame pointer there costs instructions on every call and buys
# little a backtrace needs (it still walks from the nearest framed caller).
$(BUILD)/kernel/mm/kmalloc.c.o $(BUILD)/kernel/mm/kmalloc_central.c.o \
	$(BUILD)/kernel/mm/kmalloc_classes.c.o $(BUILD)/kernel/mm/pageheap.c.o $(BUILD)/kernel/mm/pmm.c.o \
	$(BUILD)/kernel/arch/i386/paging.c.o: KERNEL_CFLAGS += -fomit-frame-pointer

$(BUILD)/kernel/%.c.o: %.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/kernel/%.S.o: %.S
	@mkdir -p $(@D)
	$(quiet) AS $<
	$(Q)$(CC) $(KERNEL_ASFLAGS) -c $< -o $@

# Relink when the list of objects changes (a source added or removed).
$(BUILD)/kernel.objs: FORCE
	@mkdir -p $(@D)
	@echo '$(KERNEL_OBJS)' | cmp -s - $@ || echo '$(KERNEL_OBJS)' > $@

# Recompile everything when the compiler or its flags change: objects built
# for another calling convention (-mregparm) must never be linked together.
$(BUILD)/kernel.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(KERNEL_CFLAGS) $(KERNEL_ASFLAGS)' | cmp -s - $@ || \
		echo '$(CC) $(KERNEL_CFLAGS) $(KERNEL_ASFLAGS)' > $@
$(KERNEL_OBJS): $(BUILD)/kernel.flags

$(BUILD)/kernel.elf: $(KERNEL_OBJS) $(BUILD)/linker.lds $(BUILD)/kernel.objs
	$(quiet) LD $@
	$(Q)$(CC) $(KERNEL_LDFLAGS) $(KERNEL_OBJS) -o $@
	@grub-file --is-x86-multiboot $@ 2>/dev/null || { command -v grub-file >/dev/null && \
		{ echo "$@: not a valid multiboot image" >&2; rm -f $@; exit 1; }; true; }

# ---- GRUB ISO ----------------------------------------------------------------
$(BUILD)/arena386.iso: $(BUILD)/kernel.elf boot/grub.cfg
	@rm -rf $(BUILD)/isodir
	@mkdir -p $(BUILD)/isodir/boot/grub
	@cp $(BUILD)/kernel.elf $(BUILD)/isodir/boot/kernel.elf
	@cp boot/grub.cfg $(BUILD)/isodir/boot/grub/grub.cfg
	$(quiet) ISO $@
	$(Q)grub-mkrescue -o $@ $(BUILD)/isodir 2>$(BUILD)/grub-mkrescue.log || \
		{ cat $(BUILD)/grub-mkrescue.log >&2; exit 1; }

iso: $(BUILD)/arena386.iso

# ---- host build (x86_64, sanitizers) -------------------------------------------
HOST_CC ?= $(CC)
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -MMD -MP \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-DARENA386_HOST
# mm/ over the host primitives: libmm.a (no sanitizers, for users and
# benchmarks) and the objects the host tests link (with them).
HOST_MM_SRCS := lib/format.c lib/console.c lib/ratelimit.c mm/inject.c mm/vm.c mm/arena.c mm/pageheap.c \
	mm/pageheap_check.c mm/kmalloc.c mm/kmalloc_classes.c mm/kmalloc_central.c \
	mm/kmalloc_check.c mm/kmalloc_debug.c mm/kfence.c arch/host/vm_host.c arch/host/setup.c \
	arch/host/threads.c arch/host/lock_elision.c
HOST_LIB_SRCS := $(HOST_MM_SRCS) mm/pmm.c tests/host/fault_catch.c
HOST_LIB_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -MMD -MP -DARENA386_HOST \
	-DARENA386_LIBMM -fno-omit-frame-pointer

$(BUILD)/host/lib/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) HOSTCC $<
	$(Q)$(HOST_CC) $(HOST_LIB_CFLAGS) -c $< -o $@

# One relocatable object in the archive: a program that calls kmalloc links
# all of it, arch/host/setup.c's constructor (which sets the heap up) too.
$(BUILD)/host/libmm.a: $(patsubst %.c,$(BUILD)/host/lib/%.o,$(HOST_MM_SRCS))
	$(quiet) AR $@
	$(Q)rm -f $@ && ld -r -o $(@:.a=.o) $^ && ar rcs $@ $(@:.a=.o)

host-lib: $(BUILD)/host/libmm.a

# The library used as README says, by a program that knows only kmalloc.h.
$(BUILD)/host/tests/libmm_example_test: tests/host/libmm_example.c $(BUILD)/host/libmm.a
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) -Imm $< $(BUILD)/host/libmm.a -pthread -o $@

$(BUILD)/host/obj/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) HOSTCC $<
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

# The portable suites (tests/target/, the same files the kernel runs) and
# the host's own (the fuzz harness replayed from fixed seeds), with the
# same framework: shared_suites_test under ASan and UBSan, and again over
# the objects libmm.a is made of (-O2, no sanitizers), where a compiler bug
# that only optimization brings out shows (mm/vm.c, note_owners; the suite
# "vm" counts the walks it would cause).
HOST_SUITES := tests/ktest.c tests/select.c tests/target/arena_test.c \
	tests/target/kmalloc_test.c tests/target/ratelimit_test.c tests/target/vm_test.c \
	tests/target/format_test.c tests/target/pmm_test.c tests/target/test_util.c \
	tests/host/kmalloc_fuzz_replay.c \
	tests/fuzz/kmalloc_fuzz.c
$(BUILD)/host/tests/shared_suites_test: \
		$(patsubst %.c,$(BUILD)/host/obj/%.o,tests/host/shared_suites_test.c \
		$(HOST_SUITES) $(HOST_LIB_SRCS))
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(HOST_CFLAGS) $^ -pthread -o $@

$(BUILD)/host/tests/shared_suites_optimized_test: \
		$(patsubst %.c,$(BUILD)/host/lib/%.o,tests/host/shared_suites_test.c \
		$(HOST_SUITES) $(HOST_LIB_SRCS))
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(HOST_LIB_CFLAGS) $^ -pthread -o $@

# Threads in the CPUs' place, under ThreadSanitizer: mm/ and the test
# built with -fsanitize=thread.
HOST_TSAN_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -MMD -MP \
	-fsanitize=thread -fno-omit-frame-pointer -DARENA386_HOST

$(BUILD)/host/tsan/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) TSANCC $<
	$(Q)$(HOST_CC) $(HOST_TSAN_CFLAGS) -c $< -o $@

$(BUILD)/host/tests/threads_test: \
		$(patsubst %.c,$(BUILD)/host/tsan/%.o,tests/host/threads_test.c $(HOST_MM_SRCS))
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(HOST_TSAN_CFLAGS) $^ -pthread -o $@

# libmm_malloc.so: malloc and its kin over the same mm/ (arch/host/
# malloc_shim.c), for LD_PRELOAD; position-independent, built with hidden
# visibility, and only the calls the version script names exported.
HOST_PIC_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -MMD -MP -fPIC \
	-fvisibility=hidden -DARENA386_HOST -DARENA386_SHIM

$(BUILD)/host/pic/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) PICCC $<
	$(Q)$(HOST_CC) $(HOST_PIC_CFLAGS) -c $< -o $@

$(BUILD)/host/libmm_malloc.so: arch/host/malloc_shim.map arch/host/malloc_shim.ld \
		$(patsubst %.c,$(BUILD)/host/pic/%.o,arch/host/malloc_shim.c $(HOST_MM_SRCS))
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) -shared -Wl,--version-script=arch/host/malloc_shim.map -Wl,-z,now \
		-Wl,-T,arch/host/malloc_shim.ld $(filter %.o,$^) -pthread -o $@

# The shim's calls checked against glibc's behaviour (run with LD_PRELOAD
# by tests/host/test_shim.py).
$(BUILD)/host/shim/shim_api: tests/host/shim_api.c
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -fno-builtin $< -ldl -o $@

# Threads coming to a heap whose lock prefixes are out (test_shim.py).
$(BUILD)/host/shim/shim_threads: tests/host/shim_threads.c
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $< -pthread -o $@

# The library at the process's limit of kernel mappings (no sanitizer: it
# would want mappings of its own there).
$(BUILD)/host/tests/map_limit_test: \
		$(patsubst %.c,$(BUILD)/host/lib/%.o,tests/host/map_limit_test.c $(HOST_MM_SRCS))
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(HOST_LIB_CFLAGS) $^ -pthread -o $@

host-tests: $(BUILD)/host/tests/shared_suites_test $(BUILD)/host/tests/map_limit_test \
	$(BUILD)/host/libmm_malloc.so $(BUILD)/host/shim/shim_api $(BUILD)/host/shim/shim_threads \
	$(BUILD)/host/tests/shared_suites_optimized_test $(BUILD)/host/tests/libmm_example_test \
	$(BUILD)/host/tests/threads_test

# ---- running -------------------------------------------------------------------
MEM ?= 256M
APPEND ?=
TIMEOUT ?= 300

deps:
	@scripts/deps.sh

# make run ends at the serial shell (shell=1) when its input is a terminal;
# with no terminal to type on (CI, a pipe) it ends after the self-tests.
RUN_SHELL := $(shell [ -t 0 ] && echo yes)
run: deps all
	$(PYTHON) tests/run_qemu.py --kernel $(BUILD)/kernel.elf --mem $(MEM) --smp 2 \
		--append "$(APPEND)$(if $(RUN_SHELL), shell=1)" \
		$(if $(RUN_SHELL),--interactive --timeout 86400,--timeout $(TIMEOUT)) \
		--log $(BUILD)/logs/run.log

test: deps all iso host-tests
	$(PYTHON) tests/testall.py --build $(BUILD)

# The long sweep (about 15 minutes): every RAM size from 8 MiB to 3 GiB, CPU
# models from the 486 on, RAM above 4 GiB, the arena options.
sweep: deps all
	$(PYTHON) tests/testall.py --build $(BUILD) --sweep

# The host benchmark: the same workloads against libmm.a and against malloc
# (glibc, or a peer put in its place with LD_PRELOAD).
BENCH_DEPS := valgrind libmimalloc-dev libjemalloc-dev libtcmalloc-minimal4
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror

$(BUILD)/host/bench/allocbench-mm: tests/bench/host/allocbench.c $(BUILD)/host/libmm.a
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(BENCH_CFLAGS) -DUSE_LIBMM -Imm $< $(BUILD)/host/libmm.a -pthread -o $@

$(BUILD)/host/bench/allocbench-libc: tests/bench/host/allocbench.c
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(BENCH_CFLAGS) $< -o $@

$(BUILD)/host/bench/threadbench: tests/bench/host/threadbench.c
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(BENCH_CFLAGS) $< -pthread -o $@

$(BUILD)/host/bench/runstat: tests/bench/host/runstat.c
	@mkdir -p $(@D)
	$(quiet) HOSTLD $@
	$(Q)$(HOST_CC) $(BENCH_CFLAGS) $< -o $@

bench: all $(BUILD)/host/bench/allocbench-mm $(BUILD)/host/bench/allocbench-libc \
		$(BUILD)/host/bench/threadbench $(BUILD)/host/bench/runstat \
		$(BUILD)/host/libmm_malloc.so
	@scripts/deps.sh $(BENCH_DEPS)
	$(PYTHON) tests/run_bench.py --build $(BUILD)
	$(PYTHON) tests/bench/host_bench.py --build $(BUILD)
	$(PYTHON) tests/bench/host_threads_bench.py --build $(BUILD)

# Coverage-guided fuzzing of kmalloc with libFuzzer (clang), under ASan and
# UBSan, for FUZZ_SECONDS.  The corpus lives in tests/fuzz/corpus: a run
# starts from it, grows a copy in build/fuzz/corpus, and merges back only
# the inputs that reach coverage the kept corpus does not.  A problem stops
# the run with the input that found it (build/fuzz/crash-*).
FUZZ_SECONDS ?= 60
# FUZZ_THREADS=N (2 to 4): the harness's threaded mode, each input's
# operations shared by N threads that pass blocks to each other.
FUZZ_THREADS ?= 0
FUZZ_CFLAGS := -std=gnu11 -O1 -g -I. -DARENA386_HOST -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS := $(HOST_MM_SRCS) tests/host/fault_catch.c mm/pmm.c

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) FUZZCC $<
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/kmalloc_fuzz: tests/fuzz/kmalloc_fuzz.c $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_SRCS))
	@mkdir -p $(@D)
	$(quiet) FUZZLD $@
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DKMALLOC_FUZZ_LIBFUZZER $^ -pthread -o $@

fuzz:
	@scripts/deps.sh clang libclang-rt-14-dev
	$(MAKE) $(BUILD)/fuzz/kmalloc_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus tests/fuzz/corpus
	cd $(BUILD)/fuzz && KMALLOC_FUZZ_THREADS=$(FUZZ_THREADS) \
		./kmalloc_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-close_fd_mask=1 -print_final_stats=1 corpus $(CURDIR)/tests/fuzz/corpus
	cd $(BUILD)/fuzz && ./kmalloc_fuzz -merge=1 -max_len=4096 -close_fd_mask=1 \
		$(CURDIR)/tests/fuzz/corpus corpus

# The long stress (suite kmalloc_smp's last case): STRESS_OPS operations in
# all, at 32 MiB, 256 MiB and 3 GiB, on one CPU and on four; the seed is
# printed (SEED= to change it).  Hours under TCG: not part of make test.
STRESS_OPS ?= 10000000
SEED ?= 1
stress: deps all
	@for mem in 32M 256M 3G; do for smp in 1 4; do \
		echo "== stress: $$mem, $$smp CPUs, $(STRESS_OPS) operations, seed $(SEED)"; \
		$(PYTHON) tests/run_qemu.py --kernel $(BUILD)/kernel.elf --mem $$mem --smp $$smp \
			--append "test=kmalloc_smp stress_ops=$(STRESS_OPS) seed=$(SEED)" \
			--timeout 36000 --quiet --log $(BUILD)/logs/stress-$$mem-$$smp.log || exit 1; \
		grep -h "the_long_stress_when_asked:" $(BUILD)/logs/stress-$$mem-$$smp.log; \
	done; done

# The address space after make map's demonstration (kernel/map_demo.c),
# drawn by tools/render_map.py into docs/ (README shows it).
MAP_APPEND := test=none demo=map arena_step=4M arena_limit=64M
map: deps all
	$(PYTHON) tests/run_qemu.py --kernel $(BUILD)/kernel.elf --mem 128M \
		--append "$(MAP_APPEND)" --quiet --log $(BUILD)/logs/map.log
	/usr/bin/python3 tools/render_map.py $(BUILD)/logs/map.log docs/address-space

debug: deps all
	@echo "QEMU is waiting for gdb on :1234; in another terminal: gdb -x tests/gdbinit"
	qemu-system-i386 -kernel $(BUILD)/kernel.elf -m $(MEM) -append "$(APPEND)" \
		-serial stdio -display none -no-reboot -no-shutdown \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -s -S

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

FORCE:
.PHONY: map stress FORCE all iso host-lib host-tests deps run test sweep bench fuzz debug format clean
.DELETE_ON_ERROR:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Keep intermediate objects (the host tests link them) between runs.
.SECONDARY:
