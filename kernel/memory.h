/*
 * kernel/memory.h - bringing up memory management at boot, in order:
 * the frame allocator from the bootloader's memory map (withholding the
 * first MiB, the kernel image, the loader's data and the allocator's own
 * metadata), then paging, then the address-space map.
 */
#ifndef KERNEL_MEMORY_H
#define KERNEL_MEMORY_H

#include "kernel/bootinfo.h"
#include "mm/pmm.h"

/* The kernel's frame allocator. */
extern struct pmm kernel_pmm;

/* Free frames right after memory_init, for tests that must give back all
 * they take. */
extern uint32_t boot_free_frames;

void memory_init(const struct bootinfo *info);

/* Prints the frame counts and the address-space map. */
void memory_print(void);

#endif
