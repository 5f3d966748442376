/*
 * tests/target/test_util.h - helpers shared by the on-target memory tests.
 */
#ifndef TESTS_TARGET_TEST_UTIL_H
#define TESTS_TARGET_TEST_UTIL_H

#include "kernel/memory.h"
#include "mm/vm.h"

#define MiB (1024u * 1024u)

/* The lowest free, slot-aligned region of 'size' bytes, or 0: reserved and
 * given back at once, so that a reserve hinted there lands exactly there. */
static inline uintptr_t test_free_region(size_t size)
{
	uintptr_t v = vm_reserve(0, size, VM_TEST);
	if (v)
		vm_free(v, ALIGN_UP(size, (size_t)PDE_SPAN));
	return v;
}

/* Takes every free 4 MiB run and every free frame but 'leave' from the
 * kernel's frame allocator, so that a test can run out of frames cheaply;
 * test_give_back_frames returns them.  Up to 1024 runs and 'leave' + 1024
 * frames are held in static arrays. */
struct frame_hoard {
	paddr_t runs[1024];
	unsigned run_count;
	paddr_t frames[2048];
	unsigned frame_count;
};

static inline void test_hoard_frames(struct frame_hoard *h, unsigned leave)
{
	h->run_count = h->frame_count = 0;
	for (paddr_t r; h->run_count < 1024 && (r = pmm_alloc_chunk(&kernel_pmm)) != 0;)
		h->runs[h->run_count++] = r;
	while (kernel_pmm.stats.free_frames > leave && h->frame_count < 2048)
		h->frames[h->frame_count++] = pmm_alloc_frame(&kernel_pmm);
}

static inline void test_give_back_frames(struct frame_hoard *h)
{
	for (unsigned i = 0; i < h->run_count; i++)
		pmm_free_chunk(&kernel_pmm, h->runs[i]);
	pmm_free_frames(&kernel_pmm, h->frames, h->frame_count);
	h->run_count = h->frame_count = 0;
}

#endif
