/* tests/target/heap_state.c - "nothing leaked" (heap_state.h). */
#include "tests/target/heap_state.h"
#include "kernel/memory.h"
#include "tests/target/test_util.h"

static struct kmalloc_stats stats_buffer;

const struct kmalloc_stats *heap_stats(void)
{
	kmalloc_stats(&stats_buffer);
	return &stats_buffer;
}

struct memory_state memory_state(void)
{
	const struct arena *a = &kernel_pageheap.arena;
	kmalloc_trim();
	pmm_drain_cache(&kernel_pmm);
	struct memory_state m = { 0 };
	m.in_use_bytes = heap_stats()->in_use_bytes;
	m.arena_mapped = a->stats.mapped_bytes;
	m.arena_reserved = a->stats.reserved_bytes;
	m.free_frames = test_free_frames();
	m.page_tables = test_page_tables();
	m.meta_pages = (uint32_t)vm_mapped_pages(a->meta_base, a->meta_end - a->meta_base);
	vm_get_stats(&m.vm);
	return m;
}

/* After the stress: the heap's blocks and pages are back where they were,
 * and every frame the machine lost since is accounted for by the heap's
 * metadata (the page table and live bits grow with the arena's peak, and
 * stay) and page tables. */
void expect_memory_back(struct ktest *t, const struct memory_state *before)
{
	struct memory_state after = memory_state();
	EXPECT_EQ(t, after.in_use_bytes, before->in_use_bytes);
	EXPECT_EQ(t, after.arena_mapped, before->arena_mapped);
	uint32_t grown = after.meta_pages - before->meta_pages;
	EXPECT_EQ(t, after.vm.mapped_bytes, before->vm.mapped_bytes + (uint64_t)grown * PAGE_SIZE);
	EXPECT_EQ(t, after.free_frames + grown + (after.page_tables - before->page_tables),
	          before->free_frames);
	/* Address space: as it was, but for the arena's own growth (which it
	 * keeps, by design), when the stress's peak went past its reservation
	 * (arena_step=4M, say). */
	for (int i = 0; i < VM_OWNER_COUNT; i++)
		if (i != VM_ARENA)
			EXPECT_EQ(t, after.vm.reserved_bytes[i], before->vm.reserved_bytes[i]);
	EXPECT_EQ(t, after.vm.reserved_bytes[VM_ARENA] - before->vm.reserved_bytes[VM_ARENA],
	          after.arena_reserved - before->arena_reserved);
	if (after.arena_reserved != before->arena_reserved)
		ktest_note(t, "the arena grew its reservation by %llu MiB",
		           (unsigned long long)((after.arena_reserved - before->arena_reserved) >>
		                                20));
	EXPECT_EQ(t, kheap_check(), 0);
}
