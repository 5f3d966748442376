/* kernel/memory.c - memory bring-up at boot (memory.h). */
#include "kernel/memory.h"
#include "arch/i386/paging.h"
#include "kernel/console.h"
#include "mm/vm.h"

#define LOW_MEMORY_END 0x100000 /* BIOS data, VGA, option ROMs */

extern char _kernel_start[], _kernel_end[], kernel_stack_guard[];

struct pmm kernel_pmm;
uint32_t boot_free_frames;

void memory_boot_done(void)
{
	boot_free_frames = pmm_free_count(&kernel_pmm);
}
struct heap_config kernel_heap_config = { ARENA_DEFAULT_BASE, ARENA_DEFAULT_LIMIT,
	                                  ARENA_DEFAULT_STEP };

static bool heap_value_ok(const char *key, uint64_t value)
{
	const char *why = value == 0             ? "zero"
	                  : value % SLOT_SIZE    ? "not a multiple of 4 MiB"
	                  : value > (1ull << 32) ? "larger than the 4 GiB address space"
	                                         : NULL;
	if (why)
		kprintf("heap: %s=%#llx is %s; default kept\n", key, (unsigned long long)value,
		        why);
	return why == NULL;
}

bool heap_config_set_limit(uint64_t value)
{
	if (!heap_value_ok("arena_limit", value))
		return false;
	kernel_heap_config.limit = value;
	return true;
}

bool heap_config_set_step(uint64_t value)
{
	if (!heap_value_ok("arena_step", value))
		return false;
	kernel_heap_config.step = value;
	return true;
}

bool heap_config_set_base(uint64_t value)
{
	if (!heap_value_ok("arena_base", value))
		return false;
	if (value < KERNEL_SPACE_END || value >= MMIO_WINDOW_BASE) {
		kprintf("heap: arena_base=%#llx is outside [%#x, %#x); default kept\n",
		        (unsigned long long)value, KERNEL_SPACE_END, MMIO_WINDOW_BASE);
		return false;
	}
	kernel_heap_config.base = (uintptr_t)value;
	return true;
}

static const struct frame_ops kernel_frame_ops = {
	&kernel_pmm,         pmm_op_alloc_frame, pmm_op_free_frame, pmm_op_alloc_entries,
	pmm_op_free_entries, pmm_op_alloc_slot,  pmm_op_free_slot,  pmm_op_split_slot,
};

static bool overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/*
 * Finds room for the frame allocator's metadata: the lowest page-aligned
 * place above the kernel image, inside usable RAM and the identity-mapped
 * kernel region, clear of the loader's data.
 */
static uintptr_t place_metadata(const struct bootinfo *info, size_t size)
{
	uint64_t at = ALIGN_UP((uintptr_t)_kernel_end, PAGE_SIZE);
	for (bool moved = true; moved;) {
		moved = false;
		for (unsigned i = 0; i < info->loader_data_count; i++) {
			const struct mem_region *r = &info->loader_data[i];
			if (overlaps(at, size, r->base, r->length)) {
				at = ALIGN_UP(r->base + r->length, PAGE_SIZE);
				moved = true;
			}
		}
	}
	bool in_ram = false;
	for (unsigned i = 0; i < info->region_count; i++) {
		const struct mem_region *r = &info->regions[i];
		if (r->type == MULTIBOOT_MEMORY_AVAILABLE && at >= r->base &&
		    at + size <= r->base + r->length)
			in_ram = true;
	}
	if (!in_ram || at + size > KERNEL_SPACE_END)
		panic("memory: no room for %zu bytes of frame metadata at %#llx below %#x", size,
		      (unsigned long long)at, KERNEL_SPACE_END);
	return (uintptr_t)at;
}

void memory_init(const struct bootinfo *info)
{
	struct pmm_range usable[BOOTINFO_MAX_REGIONS];
	unsigned usable_count = 0;
	for (unsigned i = 0; i < info->region_count; i++)
		if (info->regions[i].type == MULTIBOOT_MEMORY_AVAILABLE)
			usable[usable_count++] = (struct pmm_range){ info->regions[i].base,
				                                     info->regions[i].length };

	uint32_t frames = pmm_frames_spanned(usable, usable_count);
	size_t meta_size = PAGE_ALIGN_UP(pmm_metadata_size(frames));
	uintptr_t meta = place_metadata(info, meta_size);

	struct pmm_range withheld[BOOTINFO_MAX_RESERVED + 3];
	unsigned withheld_count = 0;
	withheld[withheld_count++] = (struct pmm_range){ 0, LOW_MEMORY_END };
	withheld[withheld_count++] =
	        (struct pmm_range){ (uintptr_t)_kernel_start,
		                    (uint64_t)((uintptr_t)_kernel_end - (uintptr_t)_kernel_start) };
	withheld[withheld_count++] = (struct pmm_range){ meta, meta_size };
	for (unsigned i = 0; i < info->loader_data_count; i++)
		withheld[withheld_count++] = (struct pmm_range){ info->loader_data[i].base,
			                                         info->loader_data[i].length };

	pmm_init(&kernel_pmm, (void *)meta, frames, usable, usable_count, withheld, withheld_count);
	paging_init(&kernel_frame_ops, (uintptr_t)kernel_stack_guard);
	vm_init(0);
	boot_free_frames = pmm_free_count(&kernel_pmm);
	kprintf("frame metadata: [%p, %p) for %u frames\n", (void *)meta,
	        (void *)(meta + meta_size), frames);

	struct heap_config *c = &kernel_heap_config;
	if (c->step > c->limit) {
		kprintf("heap: arena_step %#llx exceeds arena_limit %#llx; step set to the limit\n",
		        (unsigned long long)c->step, (unsigned long long)c->limit);
		c->step = c->limit;
	}
	if ((uint64_t)c->base + c->limit > MMIO_WINDOW_BASE) {
		kprintf("heap: an arena at %p with limit %#llx would reach the MMIO window; "
		        "limit set to %#llx\n",
		        (void *)c->base, (unsigned long long)c->limit,
		        (unsigned long long)(MMIO_WINDOW_BASE - c->base));
		c->limit = MMIO_WINDOW_BASE - c->base;
		if (c->step > c->limit)
			c->step = c->limit;
	}
	if (!kmalloc_init(c->base, c->limit, c->step))
		panic("heap: the kernel arena cannot be set up: %s",
		      kernel_pageheap.arena.last_error);
}

void heap_print(void)
{
	arena_print(&kernel_pageheap.arena, "kernel");
	ph_print(&kernel_pageheap, "kernel");
}

void memory_print(void)
{
	struct pmm_stats s;
	pmm_get_stats(&kernel_pmm, &s);
	kprintf("frames: %u total, %u free, %u reserved (%u KiB free, %u free 4 MiB slots)\n",
	        s.total_frames, s.free_frames, s.reserved_frames,
	        s.free_frames * (PAGE_SIZE / 1024), s.whole_slots);
	kprintf("paging: 4 MiB pages (PSE) %s; kernel stack guard page at %p\n",
	        paging_has_pse() ? "available" : "not available", (void *)kernel_stack_guard);
	vm_print_map();
}
