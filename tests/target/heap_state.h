/*
 * tests/target/heap_state.h - "nothing leaked", as the on-target heap tests
 * check it: the heap's statistics and the machine's memory before and
 * after, every difference accounted for.  Kernel only (the frame
 * allocator's caches are drained).
 */
#ifndef TESTS_TARGET_HEAP_STATE_H
#define TESTS_TARGET_HEAP_STATE_H

#include "mm/kheap.h"
#include "mm/vm.h"
#include "tests/ktest.h"

/* The heap's statistics now, in a buffer of the tests' own: reading them
 * allocates nothing that they would count. */
const struct kmalloc_stats *heap_stats(void);

/* What "nothing leaked" compares: the heap's and the machine's memory,
 * read after everything idle went back (kmalloc_trim, the frame caches
 * drained). */
struct memory_state {
	uint64_t in_use_bytes, arena_mapped, arena_reserved;
	uint32_t free_frames, page_tables, meta_pages;
	struct vm_stats vm;
};

struct memory_state memory_state(void);

/* The heap's blocks and pages are back where they were, and every frame
 * the machine lost since is accounted for by the heap's metadata (the page
 * table and live bits grow with the arena's peak, and stay) and page
 * tables; the address space is as it was but for the arena's own growth
 * (which it keeps, by design); kheap_check() finds nothing. */
void expect_memory_back(struct ktest *t, const struct memory_state *before);

#endif
