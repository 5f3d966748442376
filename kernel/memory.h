/*
 * kernel/memory.h - bringing up memory management at boot, in order:
 * the frame allocator from the bootloader's memory map (withholding the
 * first MiB, the kernel image, the loader's data and the allocator's own
 * metadata), then paging, then the address-space map.
 */
#ifndef KERNEL_MEMORY_H
#define KERNEL_MEMORY_H

#include "kernel/bootinfo.h"
#include "mm/kheap.h"
#include "mm/pmm.h"

/*
 * The smallest machine arena386 supports has 8 MiB of RAM.  The BIOS keeps
 * a little of it (a PC with 8 MiB shows about 7.5 MiB usable), so the boot
 * stops, with one line, when the memory map shows less than 7 MiB usable:
 * below that the kernel image, its stack and the heap's first spans leave
 * the self-tests too little to run on.
 */
#define MEMORY_MIN_USABLE (7ull << 20)

/* The kernel's frame allocator. */
extern struct pmm kernel_pmm;

/* Where the kernel's arena starts and how it grows; set from the command
 * line (arena_base=, arena_limit=, arena_step=) before memory_init. */
struct heap_config {
	uintptr_t base;
	uint64_t limit;
	uint64_t step;
};
extern struct heap_config kernel_heap_config;

/* Free frames once boot is done (paging up, the other CPUs started with
 * their stacks), before the heap takes any: the figure the "heap holds 95%
 * of free memory" test measures against.  memory_init sets it, and
 * memory_boot_done again after the CPUs have started. */
extern uint32_t boot_free_frames;
void memory_boot_done(void);

/* Validates and sets one heap option; false (the default kept) when the
 * value is zero, not a multiple of 4 MiB, or larger than the space. */
bool heap_config_set_limit(uint64_t value);
bool heap_config_set_step(uint64_t value);
bool heap_config_set_base(uint64_t value);

void memory_init(const struct bootinfo *info);

/* Prints the frame counts and the address-space map. */
void memory_print(void);

/* Prints the kernel arena's and page heap's summaries. */
void heap_print(void);

#endif
