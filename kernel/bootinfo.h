/*
 * kernel/bootinfo.h - what the bootloader told us, checked and copied into
 * kernel memory: the command line, the physical memory map, and the physical
 * ranges the loader's own data occupies (which no allocator may hand out).
 */
#ifndef KERNEL_BOOTINFO_H
#define KERNEL_BOOTINFO_H

#include "boot/multiboot.h"
#include <stdint.h>

#define BOOTINFO_MAX_REGIONS  64
#define BOOTINFO_MAX_RESERVED 16
#define BOOTINFO_CMDLINE_MAX  512

/* A physical range [base, base + length) and its multiboot type. */
struct mem_region {
	uint64_t base;
	uint64_t length;
	uint32_t type;
};

struct bootinfo {
	char cmdline[BOOTINFO_CMDLINE_MAX];
	struct mem_region regions[BOOTINFO_MAX_REGIONS]; /* sorted by base */
	unsigned region_count;
	/* MULTIBOOT_MEMORY_AVAILABLE bytes below 4 GiB, which the kernel uses,
	 * and above it, which it ignores: without PAE an i386 kernel addresses
	 * 4 GiB of physical memory.  QEMU puts RAM past 3.5 GiB above 4 GiB. */
	uint64_t usable_bytes;
	uint64_t above_4g_bytes;
	/* Loader data: the info structure, the command line, the memory map,
	 * modules and their strings.  Type is unused (0). */
	struct mem_region loader_data[BOOTINFO_MAX_RESERVED];
	unsigned loader_data_count;
};

enum bootinfo_error {
	BOOTINFO_OK = 0,
	BOOTINFO_BAD_MAGIC,
	BOOTINFO_NO_MEMORY_MAP,
	BOOTINFO_BAD_MEMORY_MAP,
};

/*
 * Parses a multiboot memory map of 'length' bytes at 'buf' into 'out' (at
 * most 'max' entries), skipping zero-length entries and sorting by base.
 * Returns the number of entries stored, or -1 when an entry's size field is
 * smaller than an entry or runs past the buffer.  Entries past 'max' are
 * reported and dropped.
 */
int mmap_parse(const void *buf, uint32_t length, struct mem_region *out, unsigned max);

/* Sums the available regions of 'info' into usable_bytes (below 4 GiB)
 * and above_4g_bytes (the rest), splitting a region that straddles 4 GiB. */
void bootinfo_count_usable(struct bootinfo *info);

/* Checks the magic and copies what 'mbi' describes into 'out'. */
enum bootinfo_error bootinfo_parse(uint32_t magic, const struct multiboot_info *mbi,
                                   struct bootinfo *out);

/* Why bootinfo_parse failed, in words, for the boot panic. */
const char *bootinfo_error_message(enum bootinfo_error e);

/* "available", "reserved", "ACPI reclaimable", "ACPI NVS", "bad RAM", "type N". */
const char *mem_type_name(uint32_t type);

/* Prints the memory map as a table, the usable total and the kernel's extent. */
void bootinfo_print(const struct bootinfo *info);

#endif
