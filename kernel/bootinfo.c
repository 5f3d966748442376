/* kernel/bootinfo.c - checking and copying the multiboot information. */
#include "kernel/bootinfo.h"
#include "kernel/console.h"
#include <stdbool.h>

int mmap_parse(const void *buf, uint32_t length, struct mem_region *out, unsigned max)
{
	const uint8_t *p = buf;
	const uint8_t *end = p + length;
	unsigned n = 0;

	while (p < end) {
		struct multiboot_mmap_entry e;
		if ((size_t)(end - p) < sizeof(e.size))
			return -1;
		__builtin_memcpy(&e.size, p, sizeof(e.size));
		if (e.size < sizeof(e) - sizeof(e.size) ||
		    e.size > (size_t)(end - p) - sizeof(e.size))
			return -1;
		__builtin_memcpy(&e, p, sizeof(e));
		p += e.size + sizeof(e.size);

		if (e.length == 0)
			continue;
		if (n == max) {
			kprintf("memory map: more than %u entries, [%llx, +%llx) dropped\n", max,
			        (unsigned long long)e.base, (unsigned long long)e.length);
			continue;
		}
		/* Insertion sort: the map is short and usually sorted already. */
		unsigned i = n++;
		while (i > 0 && out[i - 1].base > e.base) {
			out[i] = out[i - 1];
			i--;
		}
		out[i] = (struct mem_region){ e.base, e.length, e.type };
	}
	return (int)n;
}

static void add_loader_data(struct bootinfo *out, uint32_t base, uint64_t length)
{
	if (length == 0)
		return;
	if (out->loader_data_count == BOOTINFO_MAX_RESERVED)
		panic("bootinfo: more than %d loader ranges to protect", BOOTINFO_MAX_RESERVED);
	out->loader_data[out->loader_data_count++] = (struct mem_region){ base, length, 0 };
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static uint32_t string_size(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return n + 1;
}

enum bootinfo_error bootinfo_parse(uint32_t magic, const struct multiboot_info *mbi,
                                   struct bootinfo *out)
{
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		return BOOTINFO_BAD_MAGIC;
	add_loader_data(out, (uintptr_t)mbi, sizeof(*mbi));

	if (mbi->flags & MULTIBOOT_INFO_CMDLINE) {
		const char *line = (const char *)(uintptr_t)mbi->cmdline;
		uint32_t size = string_size(line);
		add_loader_data(out, mbi->cmdline, size);
		uint32_t keep = size - 1;
		if (keep > BOOTINFO_CMDLINE_MAX - 1) {
			/* Cut at a word boundary: half a word would still be
			 * applied, as a different value (seed=60 as seed=6). */
			keep = BOOTINFO_CMDLINE_MAX - 1;
			if (!is_blank(line[keep]))
				while (keep > 0 && !is_blank(line[keep - 1]))
					keep--;
			uint32_t word_end = keep;
			while (line[word_end] && !is_blank(line[word_end]))
				word_end++;
			kprintf("bootinfo: command line longer than %d bytes: %u bytes kept, the "
			        "rest ignored from '%.*s'\n",
			        BOOTINFO_CMDLINE_MAX - 1, keep,
			        (int)(word_end - keep > 40 ? 40 : word_end - keep), line + keep);
		}
		__builtin_memcpy(out->cmdline, line, keep);
		out->cmdline[keep] = '\0';
	}

	if (mbi->flags & MULTIBOOT_INFO_MODS) {
		const struct multiboot_module *mods =
		        (const struct multiboot_module *)(uintptr_t)mbi->mods_addr;
		add_loader_data(out, mbi->mods_addr, mbi->mods_count * sizeof(*mods));
		for (uint32_t i = 0; i < mbi->mods_count; i++) {
			add_loader_data(out, mods[i].mod_start,
			                mods[i].mod_end - mods[i].mod_start);
			if (mods[i].string)
				add_loader_data(
				        out, mods[i].string,
				        string_size((const char *)(uintptr_t)mods[i].string));
		}
	}

	if (!(mbi->flags & MULTIBOOT_INFO_MEM_MAP))
		return BOOTINFO_NO_MEMORY_MAP;
	add_loader_data(out, mbi->mmap_addr, mbi->mmap_length);
	int n = mmap_parse((const void *)(uintptr_t)mbi->mmap_addr, mbi->mmap_length, out->regions,
	                   BOOTINFO_MAX_REGIONS);
	if (n <= 0)
		return BOOTINFO_BAD_MEMORY_MAP;
	out->region_count = (unsigned)n;
	bootinfo_count_usable(out);
	return BOOTINFO_OK;
}

#define FOUR_GIB (1ull << 32)

void bootinfo_count_usable(struct bootinfo *info)
{
	info->usable_bytes = info->above_4g_bytes = 0;
	for (unsigned i = 0; i < info->region_count; i++) {
		const struct mem_region *r = &info->regions[i];
		if (r->type != MULTIBOOT_MEMORY_AVAILABLE)
			continue;
		uint64_t end = r->base + r->length < r->base ? UINT64_MAX : r->base + r->length;
		uint64_t below =
		        r->base >= FOUR_GIB ? 0 : (end < FOUR_GIB ? end : FOUR_GIB) - r->base;
		info->usable_bytes += below;
		info->above_4g_bytes += (end - r->base) - below;
	}
}

const char *bootinfo_error_message(enum bootinfo_error e)
{
	switch (e) {
	case BOOTINFO_BAD_MAGIC:
		return "not started by a Multiboot loader (bad magic in %eax)";
	case BOOTINFO_NO_MEMORY_MAP:
		return "the bootloader passed no memory map (multiboot flags bit 6 clear)";
	case BOOTINFO_BAD_MEMORY_MAP:
		return "the bootloader's memory map is malformed or empty";
	default:
		return "no error";
	}
}

const char *mem_type_name(uint32_t type)
{
	switch (type) {
	case MULTIBOOT_MEMORY_AVAILABLE:
		return "available";
	case MULTIBOOT_MEMORY_RESERVED:
		return "reserved";
	case MULTIBOOT_MEMORY_ACPI_RECLAIMABLE:
		return "ACPI reclaimable";
	case MULTIBOOT_MEMORY_NVS:
		return "ACPI NVS";
	case MULTIBOOT_MEMORY_BADRAM:
		return "bad RAM";
	default:
		return "other";
	}
}

extern char _kernel_start[], _kernel_end[];

void bootinfo_print(const struct bootinfo *info)
{
	kprintf("memory map (from the bootloader):\n");
	kprintf("  %-18s  %-18s  %s\n", "base", "length", "type");
	for (unsigned i = 0; i < info->region_count; i++) {
		const struct mem_region *r = &info->regions[i];
		kprintf("  0x%016llx  0x%016llx  %s (%u)\n", (unsigned long long)r->base,
		        (unsigned long long)r->length, mem_type_name(r->type), r->type);
	}
	kprintf("  usable RAM: %llu KiB (%llu MiB)\n",
	        (unsigned long long)(info->usable_bytes >> 10),
	        (unsigned long long)(info->usable_bytes >> 20));
	if (info->above_4g_bytes)
		kprintf("  ignored: %llu MiB of RAM above 4 GiB (no PAE: this kernel addresses "
		        "4 GiB of physical memory)\n",
		        (unsigned long long)(info->above_4g_bytes >> 20));
	kprintf("kernel image: [%p, %p) %u KiB\n", (void *)_kernel_start, (void *)_kernel_end,
	        (unsigned)(((uintptr_t)_kernel_end - (uintptr_t)_kernel_start) >> 10));
}
