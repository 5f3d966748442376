/*
 * tests/target/test_util.h - helpers shared by the on-target memory tests.
 */
#ifndef TESTS_TARGET_TEST_UTIL_H
#define TESTS_TARGET_TEST_UTIL_H

#include "mm/vm.h"
#include "tests/ktest.h"

#define MiB (1024u * 1024u)

/* Whether 'needle' occurs in 'haystack' (for checking messages). */
/* Marsaglia's xorshift: the next of a seeded sequence (the state never 0). */
static inline uint32_t test_xorshift32(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

static inline bool test_contains(const char *haystack, const char *needle)
{
	for (; *haystack; haystack++) {
		const char *h = haystack, *n = needle;
		while (*n && *h == *n)
			h++, n++;
		if (!*n)
			return true;
	}
	return false;
}

/* 32-bit words of [p, p + bytes) that do not read 0. */
static inline unsigned test_nonzero_words(uintptr_t p, size_t bytes)
{
	unsigned nonzero = 0;
	for (uintptr_t w = p; w < p + bytes; w += 4)
		nonzero += *(volatile uint32_t *)w != 0;
	return nonzero;
}

/* Gives back every VM_TEST reservation (whole slots): a case's tear-down,
 * for whatever a failed case left behind. */
static inline void test_free_test_reservations(void)
{
	for (uint64_t off = 0; off < VM_SPACE_SIZE; off += SLOT_SIZE) {
		uintptr_t slot = vm_space_base() + (uintptr_t)off;
		if (vm_owner_at(slot) == VM_TEST)
			vm_free(slot, SLOT_SIZE);
	}
}

/* The lowest free, slot-aligned region of 'size' bytes, or 0: reserved and
 * given back at once, so that a reserve hinted there lands exactly there. */
static inline uintptr_t test_free_region(size_t size)
{
	uintptr_t v = vm_reserve(0, size, VM_TEST);
	if (v)
		vm_free(v, ALIGN_UP(size, (size_t)SLOT_SIZE));
	return v;
}

/*
 * Frames, as the tests see them.  test_hoard_frames leaves only 'leave'
 * frames to be had, so that a test can run out of frames cheaply;
 * test_give_back_frames undoes it.  On target it takes every free 4 MiB run
 * and frame but 'leave' from the kernel's frame allocator (up to 1024 runs
 * and 16384 frames, in the hoard); on the host it lowers the host backend's
 * frame budget.
 */
#ifdef ARENA386_HOST
#include "arch/host/vm_host.h"

#define test_free_bytes() ((uint64_t)SIZE_MAX)

struct frame_hoard {
	int unused;
};

/* Not a count of free memory on the host, but it moves exactly as the
 * mapped pages do, which is what the leak checks compare. */
static inline uint32_t test_free_frames(void)
{
	return (uint32_t)(UINT32_MAX - vm_host_mapped_pages());
}

static inline uint32_t test_page_tables(void)
{
	return 0;
}

static inline void test_hoard_frames(struct frame_hoard *h, unsigned leave)
{
	(void)h;
	vm_host_set_frame_limit(vm_host_mapped_pages() + leave);
}

static inline void test_give_back_frames(struct frame_hoard *h)
{
	(void)h;
	vm_host_set_frame_limit(SIZE_MAX);
}
#else
#include "arch/i386/paging.h"
#include "kernel/memory.h"

static inline uint32_t test_free_frames(void)
{
	return pmm_free_count(&kernel_pmm);
}

static inline uint64_t test_free_bytes(void)
{
	return (uint64_t)pmm_free_count(&kernel_pmm) * PAGE_SIZE;
}

static inline uint32_t test_page_tables(void)
{
	struct paging_stats p;
	paging_get_stats(&p);
	return p.page_tables;
}

struct frame_hoard {
	paddr_t runs[1024];
	unsigned run_count;
	paddr_t frames[16384];
	unsigned frame_count;
};

static inline void test_hoard_frames(struct frame_hoard *h, unsigned leave)
{
	h->run_count = h->frame_count = 0;
	/* Whole runs first while that leaves enough, then single frames. */
	for (paddr_t r; h->run_count < 1024 &&
	                pmm_free_count(&kernel_pmm) >= leave + PMM_FRAMES_PER_SLOT &&
	                (r = pmm_alloc_slot(&kernel_pmm)) != 0;)
		h->runs[h->run_count++] = r;
	while (pmm_free_count(&kernel_pmm) > leave && h->frame_count < 16384)
		h->frames[h->frame_count++] = pmm_alloc_frame(&kernel_pmm);
}

static inline void test_give_back_frames(struct frame_hoard *h)
{
	for (unsigned i = 0; i < h->run_count; i++)
		pmm_free_slot(&kernel_pmm, h->runs[i]);
	pmm_free_frames(&kernel_pmm, h->frames, h->frame_count);
	h->run_count = h->frame_count = 0;
}
#endif

/* The hoard every case uses (a case's tear-down gives it back). */
extern struct frame_hoard test_hoard;

/* Skips the case unless 'bytes' of memory are free: a case sized for a
 * machine larger than this one says so rather than fail. */
#define test_require_free_bytes(t, bytes)                                             \
	do {                                                                          \
		uint64_t test_need_ = (bytes), test_free_ = test_free_bytes();        \
		if (test_free_ < test_need_)                                          \
			ktest_skip(t, "needs %llu KiB of free memory, %llu KiB free", \
			           (unsigned long long)(test_need_ >> 10),            \
			           (unsigned long long)(test_free_ >> 10));           \
	} while (0)

#endif
