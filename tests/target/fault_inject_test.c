/*
 * tests/target/fault_inject_test.c - suite "fault_injection": every
 * failure of a frame or a reservation, anywhere in a sequence of heap
 * calls, leaves nothing behind (mm/inject.h).
 *
 * Two sequences:
 *   - kmalloc's: small blocks of several classes, kcalloc small and large,
 *     kmemalign small and page-aligned, krealloc moving a small block and
 *     growing a large one, large blocks.  The kernel's arena keeps what it
 *     grew, so this one exercises the heap's own paths: spans set up, free
 *     pages mapped again, live bits covered, reclaim and retry;
 *   - the arena's growth, on a page heap of the test's own, set up and
 *     given back in every run: its metadata and first step reserved, then
 *     grown by extension, then past another owner's reservation by a
 *     fallback, its page table growing with it.
 * For N = 1, 2, ... the Nth frame the page tables ask for (or the Nth
 * vm_reserve) fails; each call either succeeds or returns NULL, everything
 * it returned is freed, and then the frames, the address-space map and the
 * heap are as before (heap_state.h) and kheap_check() is clean.  The sweep
 * ends at the first N that the sequence no longer reaches.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/paging.h"
#include "kernel/memory.h"
#include "mm/inject.h"
#include "mm/kheap.h"
#include "mm/vm.h"
#include "tests/ktest.h"
#include "tests/target/heap_state.h"
#include "tests/target/test_util.h"

#define SWEEP_MAX 20000

static void *held[24];
static unsigned held_count;

static void keep(void *p, unsigned *nulls)
{
	held[held_count++] = p;
	*nulls += p == NULL;
}

/* The sequence; returns how many calls returned NULL. */
static unsigned run_sequence(void)
{
	static const size_t sizes[] = { 8, 24, 100, 500, 2000, 5000, 30000, 40000 };
	unsigned nulls = 0;
	held_count = 0;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		keep(kmalloc(sizes[i]), &nulls);
	keep(kcalloc(300, 40), &nulls);
	keep(kcalloc(1, 100000), &nulls);
	keep(kmemalign(256, 1000), &nulls);
	keep(kmemalign(4096, 3 * 4096), &nulls);
	/* krealloc: a small block moved to a larger class, a large one grown. */
	void *moved = held[1] ? krealloc(held[1], 3000) : NULL;
	if (moved)
		held[1] = moved;
	nulls += held[1] && !moved;
	void *grown = held[9] ? krealloc(held[9], 300000) : NULL;
	if (grown)
		held[9] = grown;
	nulls += held[9] && !grown;
	/* Large blocks of the page heap: one span's worth of frames each. */
	keep(kmalloc(64 * 1024), &nulls);
	keep(kmemalign(64 * 1024, 128 * 1024), &nulls);
	return nulls;
}

static void free_sequence(void)
{
	for (unsigned i = 0; i < held_count; i++)
		kfree(held[i]);
	held_count = 0;
}

/* Sweeps N over the sequence for one kind of event. */
static void sweep(struct ktest *t, struct mm_injector *in, const char *what)
{
	if (kernel_pageheap.arena.step > 16 * MiB)
		ktest_skip(t,
		           "the arena grows in steps of %llu MiB: its growth would take more "
		           "frames than the sweep can go through (run with arena_step=4M)",
		           (unsigned long long)(kernel_pageheap.arena.step >> 20));
	test_require_free_bytes(t, 32 * MiB);
	/* Once through first: the arena and its metadata at the sequence's
	 * peak, so that each run starts from the same place. */
	run_sequence();
	free_sequence();
	struct memory_state before = memory_state();
	uint64_t bad_frees = heap_stats()->bad_frees, reclaims = heap_stats()->reclaims;
	unsigned n, failed_runs = 0, nulls = 0;
	for (n = 1; n <= SWEEP_MAX; n++) {
		uint32_t fired = in->fired;
		mm_inject_set(in, n, 0, 0);
		unsigned got = run_sequence();
		free_sequence();
		bool reached = in->fired != fired;
		mm_inject_set(in, 0, 0, 0);
		nulls += got;
		failed_runs += got != 0;
		if (!reached)
			break;
		/* Nothing left behind by this failure. */
		struct memory_state after = memory_state();
		if (after.free_frames + (after.meta_pages - before.meta_pages) +
		                    (after.page_tables - before.page_tables) !=
		            before.free_frames ||
		    after.in_use_bytes != before.in_use_bytes ||
		    after.vm.reserved_bytes[VM_HEAP_META] !=
		            before.vm.reserved_bytes[VM_HEAP_META] ||
		    kheap_check() != 0) {
			ktest_fail_msg(
			        t, __FILE__, __LINE__, false,
			        "the %uth %s failed: frames, blocks or reservations not back "
			        "(checked in full below)",
			        n, what);
			break;
		}
	}
	EXPECT_GE(t, n, 2u); /* the sequence reached at least one */
	EXPECT_LE(t, n, SWEEP_MAX);
	ktest_note(t, "%s: N from 1 to %u; %u runs saw a call return NULL (%u NULLs in all)", what,
	           n - 1, failed_runs, nulls);
	expect_memory_back(t, &before);
	EXPECT_EQ(t, heap_stats()->bad_frees, bad_frees);
	(void)reclaims;
}

static void every_frame_failure_in_kmallocs_sequence_leaves_nothing_behind(struct ktest *t)
{
	sweep(t, &mm_inject_frames, "frame");
}

/* ---- the arena's growth, on a heap of the test's own ---- */

static struct pageheap growing;

/* Sets the heap up, grows it by extension and then past an obstacle, and
 * gives everything back; returns how many steps failed. */
static unsigned grow_and_destroy(void)
{
	enum { STEP = 4 * MiB };
	if (!ph_init(&growing, 0, 64 * MiB, STEP))
		return 1;
	unsigned failed = 0;
	/* Whole slots: with PSE each maps as one 4 MiB page. */
	struct span *a = ph_alloc(&growing, STEP / PAGE_SIZE, false);
	struct span *b = ph_alloc(&growing, STEP / PAGE_SIZE, false); /* an extension */
	uintptr_t obstacle = vm_reserve(growing.arena.end, SLOT_SIZE, VM_TEST);
	struct span *c = ph_alloc(&growing, STEP / PAGE_SIZE, false); /* a fallback */
	struct span *d = ph_alloc(&growing, 3, false);                /* pages[] grows */
	failed += !a + !b + !c + !d + !obstacle;
	ph_destroy(&growing);
	if (obstacle)
		vm_free(obstacle, SLOT_SIZE);
	return failed;
}

static void growth_sweep(struct ktest *t, struct mm_injector *in, const char *what)
{
	if (!paging_has_pse())
		ktest_skip(t, "no PSE: each 4 MiB of growth would be 1024 frames to sweep over");
	test_require_free_bytes(t, 32 * MiB);
	struct memory_state before = memory_state();
	unsigned failed = grow_and_destroy();
	EXPECT_EQ(t, failed, 0u);
	struct vm_stats vm_before;
	vm_get_stats(&vm_before);
	uint32_t frames = test_free_frames();
	unsigned n, failed_runs = 0;
	for (n = 1; n <= SWEEP_MAX; n++) {
		uint32_t fired = in->fired;
		mm_inject_set(in, n, 0, 0);
		failed = grow_and_destroy();
		bool reached = in->fired != fired;
		mm_inject_set(in, 0, 0, 0);
		failed_runs += failed != 0;
		if (!reached)
			break;
		pmm_drain_cache(&kernel_pmm);
		struct vm_stats vm_after;
		vm_get_stats(&vm_after);
		bool same = test_free_frames() == frames &&
		            vm_after.mapped_bytes == vm_before.mapped_bytes;
		for (int i = 0; i < VM_OWNER_COUNT; i++)
			same &= vm_after.reserved_bytes[i] == vm_before.reserved_bytes[i];
		if (!same) {
			ktest_fail_msg(
			        t, __FILE__, __LINE__, false,
			        "the %uth %s failed: %u frames free, %u before; address space "
			        "not as before",
			        n, what, test_free_frames(), frames);
			break;
		}
	}
	EXPECT_GE(t, n, 2u);
	EXPECT_LE(t, n, SWEEP_MAX);
	/* Many failures are absorbed (a 4 MiB page that cannot be had is
	 * mapped in 4 KiB pages; an extension that cannot be reserved falls
	 * back): some must still reach the caller. */
	EXPECT_GE(t, failed_runs, 1u);
	ktest_note(t,
	           "%s: N from 1 to %u; %u runs saw a step of the growth fail, the others "
	           "got round the failure",
	           what, n - 1, failed_runs);
	expect_memory_back(t, &before);
}

static void every_frame_failure_in_the_arenas_growth_leaves_nothing_behind(struct ktest *t)
{
	growth_sweep(t, &mm_inject_frames, "frame");
}

static void every_reservation_failure_in_the_arenas_growth_leaves_nothing_behind(struct ktest *t)
{
	growth_sweep(t, &mm_inject_reserves, "vm_reserve");
}

/* Failures at random: 2% of frames and 20% of reservations, seeded. */
static void random_failures_leave_nothing_behind(struct ktest *t)
{
	if (kernel_pageheap.arena.step > 16 * MiB)
		ktest_skip(t, "the arena grows in steps of %llu MiB (run with arena_step=4M)",
		           (unsigned long long)(kernel_pageheap.arena.step >> 20));
	test_require_free_bytes(t, 32 * MiB);
	run_sequence();
	free_sequence();
	struct memory_state before = memory_state();
	uint32_t fired = mm_inject_frames.fired + mm_inject_reserves.fired;
	unsigned nulls = 0;
	for (unsigned round = 0; round < 40; round++) {
		mm_inject_set(&mm_inject_frames, 0, 20000, (uint32_t)t->seed * 7919u + round);
		mm_inject_set(&mm_inject_reserves, 0, 200000, (uint32_t)t->seed * 104729u + round);
		nulls += run_sequence();
		free_sequence();
	}
	mm_inject_set(&mm_inject_frames, 0, 0, 0);
	mm_inject_set(&mm_inject_reserves, 0, 0, 0);
	ktest_note(t, "seed %llu: %u failures injected in 40 runs, %u calls returned NULL",
	           (unsigned long long)t->seed,
	           mm_inject_frames.fired + mm_inject_reserves.fired - fired, nulls);
	EXPECT_GE(t, mm_inject_frames.fired + mm_inject_reserves.fired, fired + 1);
	expect_memory_back(t, &before);
}

static void fault_injection_exit(void)
{
	mm_inject_set(&mm_inject_frames, 0, 0, 0);
	mm_inject_set(&mm_inject_reserves, 0, 0, 0);
	free_sequence();
}

static const struct ktest_case fault_injection_cases[] = {
	KTEST_CASE(every_frame_failure_in_kmallocs_sequence_leaves_nothing_behind),
	KTEST_CASE(every_frame_failure_in_the_arenas_growth_leaves_nothing_behind),
	KTEST_CASE(every_reservation_failure_in_the_arenas_growth_leaves_nothing_behind),
	KTEST_CASE(random_failures_leave_nothing_behind),
};

KTEST_SUITE(fault_injection, fault_injection_cases, NULL, fault_injection_exit);
