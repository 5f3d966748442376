/*
 * boot/multiboot.h - the parts of the Multiboot (version 1) specification that
 * arena386 uses: the header constants and the information structure that the
 * bootloader hands to the kernel in %ebx.
 */
#ifndef BOOT_MULTIBOOT_H
#define BOOT_MULTIBOOT_H

#define MULTIBOOT_HEADER_MAGIC     0x1BADB002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002 /* in %eax at entry */

/* Header flags: page-align modules, ask for the memory information. */
#define MULTIBOOT_PAGE_ALIGN  (1 << 0)
#define MULTIBOOT_MEMORY_INFO (1 << 1)

/* Bits of multiboot_info.flags: which fields the loader filled in. */
#define MULTIBOOT_INFO_MEMORY  (1 << 0)
#define MULTIBOOT_INFO_CMDLINE (1 << 2)
#define MULTIBOOT_INFO_MODS    (1 << 3)
#define MULTIBOOT_INFO_MEM_MAP (1 << 6)

#ifndef __ASSEMBLER__
#include <stdint.h>

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB below 1 MiB */
	uint32_t mem_upper; /* KiB above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline; /* physical address of a NUL-terminated string */
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length; /* bytes in the memory map buffer */
	uint32_t mmap_addr;
	/* further fields (drives, config table, loader name, APM, VBE) unused */
} __attribute__((packed));

/*
 * One memory-map entry.  'size' counts the bytes that follow it, so the next
 * entry starts at (char *)entry + entry->size + 4; loaders may use a size
 * larger than 20.
 */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t base;
	uint64_t length;
	uint32_t type;
} __attribute__((packed));

#define MULTIBOOT_MEMORY_AVAILABLE        1
#define MULTIBOOT_MEMORY_RESERVED         2
#define MULTIBOOT_MEMORY_ACPI_RECLAIMABLE 3
#define MULTIBOOT_MEMORY_NVS              4
#define MULTIBOOT_MEMORY_BADRAM           5

struct multiboot_module {
	uint32_t mod_start;
	uint32_t mod_end;
	uint32_t string;
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "mmap entry layout");
_Static_assert(sizeof(struct multiboot_module) == 16, "module layout");
#endif

#endif
