/*
 * tests/target/vm_test.c - suite "vm": the reserve/map primitives, on the
 * target over the kernel's page tables and on the host over the mmap
 * backend (under ASan and UBSan, and again at -O2 as libmm.a is built, where
 * a compiler bug once showed: see ownership_follows_reserve_and_free).  The
 * cases about i386 paging itself (4 MiB pages, the NULL and guard pages, a
 * stack overflow) slot on the target only.
 */
#include "arch/i386/trap.h"
#include "mm/vm.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

/* An address of the i386 layout, in this world's space. */
#define AT(offset) (vm_space_base() + (uintptr_t)(offset))

/* 64 MiB of free address space, found when the suite starts. */
static uintptr_t scratch;
#define SCRATCH scratch

static int vm_suite_init(void)
{
	scratch = test_free_region(64 * MiB);
	return scratch ? 0 : -1;
}

struct snapshot {
	uint32_t free_frames;
	uint32_t page_tables;
#ifndef ARENA386_HOST
	struct paging_stats paging;
#endif
	struct vm_stats vm;
};

static struct snapshot snap(void)
{
	struct snapshot s;
	s.free_frames = test_free_frames();
	s.page_tables = test_page_tables();
#ifndef ARENA386_HOST
	paging_get_stats(&s.paging);
#endif
	vm_get_stats(&s.vm);
	return s;
}

/* Nothing leaked: frames, tables, mapped bytes all back where they were. */
static void expect_restored(struct ktest *t, const struct snapshot *a)
{
	struct snapshot b = snap();
	EXPECT_EQ(t, b.free_frames, a->free_frames);
	EXPECT_EQ(t, b.page_tables, a->page_tables);
	EXPECT_EQ(t, b.vm.mapped_bytes, a->vm.mapped_bytes);
	EXPECT_EQ(t, b.vm.reserved_bytes[VM_TEST], a->vm.reserved_bytes[VM_TEST]);
#ifndef ARENA386_HOST
	EXPECT_EQ(t, b.paging.small_pages, a->paging.small_pages);
	EXPECT_EQ(t, b.paging.large_pages, a->paging.large_pages);
	EXPECT_EQ(t, pmm_check(&kernel_pmm), 0);
#endif
}

static void reserve_at_free_hint_is_exact(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	EXPECT_EQ(t, v, SCRATCH);
	EXPECT_EQ(t, vm_owner_at(SCRATCH), VM_TEST);
	EXPECT_EQ(t, vm_owner_at(SCRATCH + 8 * MiB - 1), VM_TEST);
	EXPECT_EQ(t, vm_owner_at(SCRATCH + 8 * MiB), VM_FREE);
	EXPECT_EQ(t, test_free_frames(), before.free_frames); /* costs no frames */
	EXPECT_FALSE(t, vm_is_mapped(SCRATCH));
	EXPECT_TRUE(t, vm_free(v, 8 * MiB));
	expect_restored(t, &before);
}

static void reserve_at_taken_hint_lands_above(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t a = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	uintptr_t gap = vm_reserve(SCRATCH + 8 * MiB, 4 * MiB, VM_TEST);
	ASSERT_EQ(t, a, SCRATCH);
	ASSERT_EQ(t, gap, SCRATCH + 8 * MiB);
	/* 8 MiB wanted at a taken hint: the 4 MiB hole between does not fit,
	 * so the lowest free slot above the hint is used. */
	uintptr_t b = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	EXPECT_EQ(t, b, SCRATCH + 12 * MiB);
	/* 4 MiB does fit in the hole. */
	uintptr_t c = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	EXPECT_EQ(t, c, SCRATCH + 4 * MiB);
	vm_free(a, 4 * MiB);
	vm_free(gap, 4 * MiB);
	vm_free(b, 8 * MiB);
	vm_free(c, 4 * MiB);
	expect_restored(t, &before);
}

static void reserve_with_no_room_above_wraps_to_lowest(struct ktest *t)
{
	/* The highest free slot (just below the MMIO window, unless the
	 * kernel's arena was placed there), then the hint there again: no room
	 * above, so the lowest free slot is chosen. */
	uintptr_t top = AT(MMIO_WINDOW_BASE - 4 * MiB);
	while (top >= AT(KERNEL_SPACE_END) && vm_owner_at(top) != VM_FREE)
		top -= 4 * MiB;
	if (top < AT(KERNEL_SPACE_END))
		ktest_skip(t, "no free 4 MiB slot in the address space");
	uintptr_t a = vm_reserve(top, 4 * MiB, VM_TEST);
	ASSERT_EQ(t, a, top);
	uintptr_t lowest = vm_reserve(0, 4 * MiB, VM_TEST);
	vm_free(lowest, 4 * MiB);
	uintptr_t b = vm_reserve(top, 4 * MiB, VM_TEST);
	EXPECT_EQ(t, b, lowest);
	vm_free(a, 4 * MiB);
	vm_free(b, 4 * MiB);
}

static void map_then_write_and_read_every_page(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	size_t n = 1 * MiB + 3 * PAGE_SIZE; /* not a whole large page: 4 KiB pages */
	ASSERT_TRUE(t, vm_map(v, n));
	EXPECT_EQ(t, vm_mapped_pages(v, 4 * MiB), n / PAGE_SIZE);
	unsigned nonzero = 0, mismatched = 0;
	for (uintptr_t p = v; p < v + n; p += PAGE_SIZE)
		nonzero += ((volatile uint32_t *)p)[PAGE_SIZE / 8] != 0;
	for (uintptr_t p = v; p < v + n; p += PAGE_SIZE)
		*(volatile uint32_t *)p = (uint32_t)p ^ 0xa5a5a5a5;
	for (uintptr_t p = v; p < v + n; p += PAGE_SIZE)
		mismatched += *(volatile uint32_t *)p != ((uint32_t)p ^ 0xa5a5a5a5);
	EXPECT_EQ(t, nonzero, 0); /* mapped memory comes zeroed */
	EXPECT_EQ(t, mismatched, 0);
	/* frames: one per page, and the page table (on target) */
	EXPECT_EQ(t, test_free_frames(),
	          before.free_frames - n / PAGE_SIZE - (test_page_tables() - before.page_tables));
	EXPECT_TRUE(t, vm_free(v, 4 * MiB)); /* unmaps what is mapped */
	expect_restored(t, &before);
}

static void access_after_unused_faults_at_that_address(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	ASSERT_TRUE(t, vm_map(v, 16 * PAGE_SIZE));
	uintptr_t victim = v + 5 * PAGE_SIZE;
	*(volatile uint32_t *)victim = 7;
	ASSERT_TRUE(t, vm_unused(victim, PAGE_SIZE));
	EXPECT_FALSE(t, vm_is_mapped(victim));
	EXPECT_EQ(t, vm_owner_at(victim), VM_TEST); /* still reserved */
	struct fault_record r = ktest_expect_fault(t, TRAP_PAGE_FAULT, victim + 0x123,
	                                           ktest_read_byte, (void *)(victim + 0x123));
	EXPECT_EQ(t, r.error & PF_PROTECTION, 0); /* not present */
	ktest_expect_fault(t, TRAP_PAGE_FAULT, victim, ktest_write_byte, (void *)victim);
	/* Its neighbours are untouched. */
	EXPECT_EQ(t, *(volatile uint32_t *)(victim - PAGE_SIZE), 0);
	/* Mapped again, it comes back zeroed. */
	ASSERT_TRUE(t, vm_map(victim, PAGE_SIZE));
	EXPECT_EQ(t, *(volatile uint32_t *)victim, 0);
	vm_free(v, 4 * MiB);
	expect_restored(t, &before);
}

#ifndef ARENA386_HOST
static void large_pages_used_when_possible(struct ktest *t)
{
	if (!paging_has_pse())
		ktest_skip(t, "CPU without PSE: 4 KiB pages only");
	if (kernel_pmm.stats.whole_slots < 2)
		ktest_skip(t, "fewer than 2 free 4 MiB slots of frames");
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 12 * MiB, VM_TEST);
	/* [v, v + 8 MiB) is two aligned 4 MiB pages; the last 4 KiB is small. */
	ASSERT_TRUE(t, vm_map(v, 8 * MiB + PAGE_SIZE));
	struct snapshot during = snap();
	EXPECT_EQ(t, during.paging.large_pages, before.paging.large_pages + 2);
	EXPECT_EQ(t, during.paging.small_pages, before.paging.small_pages + 1);
	paddr_t pa;
	bool large;
	ASSERT_TRUE(t, paging_translate(v + 5 * MiB + 12, &pa, &large));
	EXPECT_TRUE(t, large);
	EXPECT_EQ(t, pa & (4 * MiB - 1), (5 * MiB + 12) & (4 * MiB - 1));
	ktest_note(t, "8 MiB + 4 KiB mapped as %u large pages and %u small",
	           during.paging.large_pages - before.paging.large_pages,
	           during.paging.small_pages - before.paging.small_pages);
	*(volatile uint32_t *)(v + 4 * MiB - 4) = 0x12345678;
	EXPECT_EQ(t, *(volatile uint32_t *)(v + 4 * MiB - 4), 0x12345678);
	vm_free(v, 12 * MiB);
	expect_restored(t, &before);
}

/* Free 4 MiB slots a case took to make the frame allocator slot out of them. */
static paddr_t slots[PMM_MAX_SLOTS];
static unsigned slots_taken;

static void give_back_runs(void)
{
	while (slots_taken)
		pmm_free_slot(&kernel_pmm, slots[--slots_taken]);
}

/* Exactly one aligned 4 MiB, the arena's usual request, takes paging's path
 * for a single large page both ways; with no free 4 MiB slot it still maps,
 * with small pages. */
static void one_large_page_round_trip_and_fallback(struct ktest *t)
{
	if (!paging_has_pse() || kernel_pmm.stats.whole_slots < 1)
		ktest_skip(t, "%s",
		           !paging_has_pse() ? "CPU without PSE" : "no free 4 MiB slot of frames");
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	struct snapshot reserved = snap();
	ASSERT_TRUE(t, vm_map(v, 4 * MiB));
	struct snapshot during = snap();
	EXPECT_EQ(t, during.paging.large_pages, before.paging.large_pages + 1);
	EXPECT_EQ(t, during.paging.small_pages, before.paging.small_pages);
	EXPECT_EQ(t, during.free_frames, before.free_frames - PMM_FRAMES_PER_SLOT);
	*(volatile uint32_t *)(v + 4 * MiB - 4) = 0xfeedface;
	EXPECT_EQ(t, *(volatile uint32_t *)(v + 4 * MiB - 4), 0xfeedface);
	ASSERT_TRUE(t, vm_unused(v, 4 * MiB));
	ktest_expect_fault(t, TRAP_PAGE_FAULT, v + 4 * MiB - 4, ktest_read_byte,
	                   (void *)(v + 4 * MiB - 4));
	expect_restored(t, &reserved);

	/* Every free slot taken: the same call maps 1024 small pages. */
	while (slots_taken < PMM_MAX_SLOTS &&
	       (slots[slots_taken] = pmm_alloc_slot(&kernel_pmm)) != 0)
		slots_taken++;
	struct snapshot no_runs = snap();
	if (no_runs.free_frames >= PMM_FRAMES_PER_SLOT + 16) {
		ASSERT_TRUE(t, vm_map(v, 4 * MiB));
		struct snapshot small = snap();
		EXPECT_EQ(t, small.paging.large_pages, no_runs.paging.large_pages);
		EXPECT_EQ(t, small.paging.small_pages, no_runs.paging.small_pages + PTE_COUNT);
		EXPECT_EQ(t, *(volatile uint32_t *)(v + 4 * MiB - 4), 0);
		ASSERT_TRUE(t, vm_unused(v, 4 * MiB));
		expect_restored(t, &no_runs);
	} else {
		ktest_note(t, "too few single frames left for the small-page fallback: not tried");
	}
	give_back_runs();
	vm_free(v, 4 * MiB);
	expect_restored(t, &before);
}

static void unused_inside_a_large_page_splits_it(struct ktest *t)
{
	if (!paging_has_pse() || kernel_pmm.stats.whole_slots < 1)
		ktest_skip(t, "%s",
		           !paging_has_pse() ? "CPU without PSE" : "no free 4 MiB slot of frames");
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	ASSERT_TRUE(t, vm_map(v, 4 * MiB));
	for (uintptr_t p = v; p < v + 4 * MiB; p += PAGE_SIZE)
		*(volatile uint32_t *)p = (uint32_t)p;
	ASSERT_TRUE(t, vm_unused(v + 100 * PAGE_SIZE, 2 * PAGE_SIZE));
	struct snapshot during = snap();
	EXPECT_EQ(t, during.paging.large_splits, before.paging.large_splits + 1);
	ktest_expect_fault(t, TRAP_PAGE_FAULT, v + 101 * PAGE_SIZE, ktest_read_byte,
	                   (void *)(v + 101 * PAGE_SIZE));
	unsigned mismatched = 0;
	for (uintptr_t p = v; p < v + 4 * MiB; p += PAGE_SIZE)
		if (p < v + 100 * PAGE_SIZE || p >= v + 102 * PAGE_SIZE)
			mismatched += *(volatile uint32_t *)p != (uint32_t)p;
	EXPECT_EQ(t, mismatched, 0);
	/* One frame became the page table; one went back. */
	EXPECT_EQ(t, during.free_frames, before.free_frames - PMM_FRAMES_PER_SLOT + 1);
	vm_free(v, 4 * MiB);
	expect_restored(t, &before);
}

#endif

static void map_out_of_frames_rolls_back(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_NE(t, v, 0);
	/* Leave 100 frames: a 1 MiB map (256 pages) slots out halfway. */
	test_hoard_frames(&test_hoard, 100);
	struct snapshot starved = snap();
	EXPECT_FALSE(t, vm_map(v, 1 * MiB));
	expect_restored(t, &starved);
	EXPECT_EQ(t, vm_mapped_pages(v, 8 * MiB), 0);
	/* A 4 MiB map cannot take a large page either: none is free. */
	EXPECT_FALSE(t, vm_map(v + 4 * MiB, 4 * MiB));
	expect_restored(t, &starved);
	/* What is there is still to be had. */
	EXPECT_TRUE(t, vm_map(v, 64 * PAGE_SIZE));
	EXPECT_TRUE(t, vm_unused(v, 64 * PAGE_SIZE));
	test_give_back_frames(&test_hoard);
	vm_free(v, 8 * MiB);
	expect_restored(t, &before);
}

/* A range of mixed pages, as a heap's free memory is: the gaps are mapped
 * (zeroed) and the mapped pages kept with their contents, then only mapped
 * pages are released; across a slot boundary, and rolled back whole when
 * frames slot out. */
static void gaps_are_mapped_and_mapped_pages_released(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_NE(t, v, 0);
	uintptr_t range = v + 4 * MiB - 8 * PAGE_SIZE; /* 16 pages across the slot boundary */
	size_t n = 16 * PAGE_SIZE;
	ASSERT_TRUE(t, vm_map(range + 2 * PAGE_SIZE, 3 * PAGE_SIZE));
	ASSERT_TRUE(t, vm_map(range + 9 * PAGE_SIZE, PAGE_SIZE));
	*(volatile uint32_t *)(range + 3 * PAGE_SIZE) = 0xfeedu;
	size_t mapped = 0;
	EXPECT_TRUE(t, vm_map_gaps(range, n, &mapped));
	EXPECT_EQ(t, mapped, 12 * PAGE_SIZE);
	EXPECT_EQ(t, vm_mapped_pages(range, n), 16);
	EXPECT_EQ(t, *(volatile uint32_t *)(range + 3 * PAGE_SIZE), 0xfeedu); /* kept */
	EXPECT_EQ(t, *(volatile uint32_t *)(range + 15 * PAGE_SIZE), 0);      /* new: zeroed */
	EXPECT_TRUE(t, vm_map_gaps(range, n, &mapped)); /* no gap: nothing to do */
	EXPECT_EQ(t, mapped, 0);

	EXPECT_TRUE(t, vm_unused(range + 4 * PAGE_SIZE, 6 * PAGE_SIZE));
	EXPECT_EQ(t, vm_unused_mapped(range, n), 10 * PAGE_SIZE);
	EXPECT_EQ(t, vm_mapped_pages(range, n), 0);
	EXPECT_EQ(t, vm_unused_mapped(range, n), 0);
	ktest_expect_fault(t, TRAP_PAGE_FAULT, range + 9 * PAGE_SIZE, ktest_read_byte,
	                   (void *)(range + 9 * PAGE_SIZE));

	/* Out of frames halfway through the gaps: none of them stays mapped. */
	ASSERT_TRUE(t, vm_map(range + 4 * PAGE_SIZE, PAGE_SIZE));
	test_hoard_frames(&test_hoard, 4);
	struct snapshot starved = snap();
	EXPECT_FALSE(t, vm_map_gaps(v, 8 * MiB, &mapped));
	EXPECT_EQ(t, mapped, 0);
	expect_restored(t, &starved);
	EXPECT_EQ(t, vm_mapped_pages(v, 8 * MiB), 1);
	test_give_back_frames(&test_hoard);

	/* Refused like vm_map: not reserved, unaligned. */
	uint32_t refused = snap().vm.refused;
	EXPECT_FALSE(t, vm_map_gaps(v + 8 * MiB, PAGE_SIZE, &mapped));
	EXPECT_EQ(t, vm_unused_mapped(range + 1, PAGE_SIZE), 0);
	EXPECT_EQ(t, snap().vm.refused, refused + 2);
	vm_free(v, 8 * MiB);
	expect_restored(t, &before);
}

static void bad_calls_are_refused_and_change_nothing(struct ktest *t)
{
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_TRUE(t, vm_map(v, 2 * PAGE_SIZE));
	struct snapshot before = snap();

	EXPECT_FALSE(t, vm_map(v + 100, PAGE_SIZE));                    /* unaligned address */
	EXPECT_FALSE(t, vm_map(v + 4 * PAGE_SIZE, 100));                /* unaligned length */
	EXPECT_FALSE(t, vm_map(v + 4 * PAGE_SIZE, 0));                  /* zero length */
	EXPECT_FALSE(t, vm_map(AT(0xfffff000u), 2 * PAGE_SIZE));        /* wraps past 4 GiB */
	EXPECT_FALSE(t, vm_map(AT(0x00200000), PAGE_SIZE));             /* the kernel region */
	EXPECT_FALSE(t, vm_map(AT(MMIO_WINDOW_BASE), PAGE_SIZE));       /* a fixed region */
	EXPECT_FALSE(t, vm_map(v + 8 * MiB, PAGE_SIZE));                /* not reserved */
	EXPECT_FALSE(t, vm_map(v + 6 * MiB, 4 * MiB));                  /* partly not reserved */
	EXPECT_FALSE(t, vm_map(v, PAGE_SIZE));                          /* already mapped */
	EXPECT_FALSE(t, vm_unused(v + 4 * PAGE_SIZE, PAGE_SIZE));       /* not mapped */
	EXPECT_FALSE(t, vm_unused(v, 3 * PAGE_SIZE));                   /* partly not mapped */
	EXPECT_FALSE(t, vm_unused(AT(0x00100000), PAGE_SIZE));          /* the kernel image */
	EXPECT_FALSE(t, vm_free(v + PAGE_SIZE, 4 * MiB));               /* unaligned */
	EXPECT_FALSE(t, vm_free(AT(0), 4 * MiB));                       /* the kernel region */
	EXPECT_FALSE(t, vm_free(AT(PT_WINDOW_BASE), 4 * MiB));          /* the page tables */
	EXPECT_FALSE(t, vm_free(v + 8 * MiB, 4 * MiB));                 /* not reserved */
	EXPECT_EQ(t, vm_reserve(SCRATCH + 1, 4 * MiB, VM_TEST), 0);     /* unaligned hint */
	EXPECT_EQ(t, vm_reserve(SCRATCH, 0, VM_TEST), 0);               /* zero length */
	EXPECT_EQ(t, vm_reserve(AT(0xffc00000u), 8 * MiB, VM_TEST), 0); /* wraps */
	EXPECT_EQ(t, vm_reserve(SCRATCH, 4 * MiB, VM_KERNEL), 0);       /* fixed owner */

	struct snapshot after = snap();
	EXPECT_EQ(t, after.vm.refused, before.vm.refused + 20);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.vm.mapped_bytes, before.vm.mapped_bytes);
	for (int i = 0; i < VM_OWNER_COUNT; i++)
		EXPECT_EQ(t, after.vm.reserved_bytes[i], before.vm.reserved_bytes[i]);
	EXPECT_EQ(t, *(volatile uint32_t *)v, 0); /* still mapped and readable */
	vm_free(v, 8 * MiB);
}

static void null_page_faults(struct ktest *t)
{
	ktest_expect_fault(t, TRAP_PAGE_FAULT, AT(0x0), ktest_read_byte, (void *)AT(0x0));
	ktest_expect_fault(t, TRAP_PAGE_FAULT, AT(0xffc), ktest_write_byte, (void *)AT(0xffc));
}

#ifndef ARENA386_HOST
extern char kernel_stack_guard[];

static void stack_guard_page_faults(struct ktest *t)
{
	uintptr_t guard = (uintptr_t)kernel_stack_guard;
	ktest_expect_fault(t, TRAP_PAGE_FAULT, guard + 8, ktest_write_byte, (void *)(guard + 8));
}

static void kernel_stack_overflow_is_caught_at_the_guard(struct ktest *t)
{
	uintptr_t guard = (uintptr_t)kernel_stack_guard;
	/* The page fault on the guard cannot push its frame: it becomes a
	 * double fault, handled on its own stack, with CR2 in the guard. */
	struct fault_record r = ktest_expect_fault(t, TRAP_DOUBLE_FAULT, KTEST_ANY_ADDR,
	                                           ktest_overflow_stack, NULL);
	EXPECT_GE(t, r.cr2, guard);
	EXPECT_LT(t, r.cr2, guard + PAGE_SIZE);
}

#endif

static void address_space_map_names_owners(struct ktest *t)
{
	EXPECT_EQ(t, vm_space_base() % SLOT_SIZE, 0);
	EXPECT_EQ(t, vm_owner_at(AT(0x00100000)), VM_KERNEL);
	EXPECT_EQ(t, vm_owner_at(AT(KERNEL_SPACE_END - 1)), VM_KERNEL);
	EXPECT_EQ(t, vm_owner_at(AT(MMIO_WINDOW_BASE)), VM_MMIO);
	EXPECT_EQ(t, vm_owner_at(AT(0xfffff000u)), VM_PAGE_TABLES);
	EXPECT_STREQ(t, vm_owner_name(VM_ARENA), "arena");
	uintptr_t v = vm_reserve(SCRATCH, 4 * MiB, VM_TEST);
	vm_map(v, 3 * PAGE_SIZE);
	vm_print_map(); /* shows the test reservation, 12 KiB mapped */
	vm_free(v, 4 * MiB);
}

/* Ownership follows every reserve and free: a freed slot refuses maps at
 * once, even right after calls that were accepted there, and a slot
 * reserved again takes them again; a range reaching past a reservation is
 * refused.  Accepted calls are answered by each slot's slot of owners that
 * may map, with no walk over the slots (vm_stats.ownership_walks): GCC 12
 * for x86_64 once deleted the calls that keep the slots, and only this count
 * showed it (commit af9174f). */
static void ownership_follows_reserve_and_free(struct ktest *t)
{
	uintptr_t v = vm_reserve(SCRATCH, 12 * MiB, VM_TEST);
	uintptr_t edge = v + 4 * MiB; /* slot 0 of the three ends here */
	ASSERT_EQ(t, v, SCRATCH);
	EXPECT_TRUE(t, vm_map(edge, PAGE_SIZE));
	EXPECT_TRUE(t, vm_unused(edge, PAGE_SIZE));
	EXPECT_TRUE(t, vm_free(edge, 8 * MiB));                   /* slots 1 and 2 */
	EXPECT_FALSE(t, vm_map(edge, PAGE_SIZE));                 /* not reserved any more */
	EXPECT_FALSE(t, vm_map(edge - PAGE_SIZE, 2 * PAGE_SIZE)); /* reaches past slot 0 */
	EXPECT_TRUE(t, vm_map(edge - PAGE_SIZE, PAGE_SIZE));      /* inside slot 0 */
	EXPECT_EQ(t, vm_reserve(edge, 4 * MiB, VM_OTHER), edge);
	EXPECT_TRUE(t, vm_map(edge, PAGE_SIZE));                    /* reserved again */
	EXPECT_TRUE(t, vm_unused(edge - PAGE_SIZE, 2 * PAGE_SIZE)); /* two owners, both map */
	EXPECT_TRUE(t, vm_free(edge, 4 * MiB));
	EXPECT_TRUE(t, vm_free(v, 4 * MiB));
	EXPECT_FALSE(t, vm_map(v, PAGE_SIZE));

	/* A reservation made of two, reserved apart and joined: calls across
	 * the join are accepted without a walk; one past the end walks. */
	v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, vm_reserve(v + 8 * MiB, 8 * MiB, VM_TEST), v + 8 * MiB);
	struct vm_stats stats;
	vm_get_stats(&stats);
	uint32_t walks = stats.ownership_walks;
	uintptr_t join = v + 8 * MiB;
	EXPECT_TRUE(t, vm_map(join - 2 * PAGE_SIZE, 4 * PAGE_SIZE));
	EXPECT_TRUE(t, vm_unused(join - PAGE_SIZE, 2 * PAGE_SIZE));
	EXPECT_TRUE(t, vm_free(join, 8 * MiB));
	EXPECT_TRUE(t, vm_map(v + 4 * MiB, 4 * PAGE_SIZE));
	vm_get_stats(&stats);
	EXPECT_EQ(t, stats.ownership_walks, walks);
	EXPECT_FALSE(t, vm_map(join - PAGE_SIZE, 2 * PAGE_SIZE)); /* past its end: walked */
	vm_get_stats(&stats);
	EXPECT_GE(t, stats.ownership_walks, walks + 1);
	EXPECT_TRUE(t, vm_free(v, 8 * MiB));
}

/* The mapped-page bitmap against a plain array of pages, under random
 * operations on ranges that start and end anywhere in its words (64 pages
 * on the host, 32 on i386) and cross the 4 MiB slot boundary. */
static void bitmap_matches_a_page_model(struct ktest *t)
{
	enum { PAGES = 1024, OPS = 3000 };
	static bool model[PAGES];
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, v, SCRATCH);
	uintptr_t window = v + 2 * MiB; /* pages 0-511 in slot 0, 512-1023 in slot 1 */
	for (unsigned i = 0; i < PAGES; i++)
		model[i] = false;
	uint32_t x = 12345, bad = 0;
	for (unsigned op = 0; op < OPS; op++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		uint32_t first = x % PAGES, count = 1 + (x >> 11) % 200;
		if (count > PAGES - first)
			count = PAGES - first;
		uintptr_t at = window + (uintptr_t)first * PAGE_SIZE;
		size_t n = (size_t)count * PAGE_SIZE, done;
		uint32_t set = 0;
		for (uint32_t i = first; i < first + count; i++)
			set += model[i];
		bool map = (x >> 24) & 1;
		if ((x >> 25) % 4 == 0 && set == (map ? 0 : count)) {
			/* The whole-range calls, when the model says they fit. */
			bad += map ? !vm_map(at, n) : !vm_unused(at, n);
		} else if (map) {
			bad += !vm_map_gaps(at, n, &done) ||
			       done != (size_t)(count - set) * PAGE_SIZE;
		} else {
			bad += vm_unused_mapped(at, n) != (size_t)set * PAGE_SIZE;
		}
		for (uint32_t i = first; i < first + count; i++)
			model[i] = map;
		/* A query range of its own, anywhere. */
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		uint32_t q = x % PAGES, qn = 1 + (x >> 11) % (PAGES - q), expect = 0;
		for (uint32_t i = q; i < q + qn; i++)
			expect += model[i];
		bad += vm_mapped_pages(window + (uintptr_t)q * PAGE_SIZE, (size_t)qn * PAGE_SIZE) !=
		       expect;
	}
	EXPECT_EQ(t, bad, 0);
	EXPECT_TRUE(t, vm_free(v, 8 * MiB));
}

/* A vm_map over a range holding a mapped page, or a vm_unused over one
 * with a hole, is refused and leaves every page, and every slot's count,
 * as it was: the bitmap is checked and written in one pass, and undone up
 * to where the pass stopped. */
static void refused_calls_leave_every_page_as_it_was(struct ktest *t)
{
	uintptr_t v = vm_reserve(SCRATCH, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, v, SCRATCH);
	/* Mapped: pages 100-139, and 1020-1029 across the slot boundary. */
	ASSERT_TRUE(t, vm_map(v + 100 * PAGE_SIZE, 40 * PAGE_SIZE));
	ASSERT_TRUE(t, vm_map(v + 1020 * PAGE_SIZE, 10 * PAGE_SIZE));
	static const struct {
		uint32_t first, count;
		bool map;
	} calls[] = {
		{ 0, 101, true },    /* its last page is mapped */
		{ 139, 200, true },  /* its first */
		{ 60, 1988, true },  /* whole words, then a mapped one */
		{ 1000, 40, true },  /* across the slot boundary */
		{ 100, 41, false },  /* one page past the slot */
		{ 99, 41, false },   /* one page before it */
		{ 100, 930, false }, /* whole words of holes */
		{ 1020, 11, false }, /* past the slot, in the next slot */
	};
	enum { CALLS = sizeof(calls) / sizeof(calls[0]) };
	struct vm_stats before, after;
	vm_get_stats(&before);
	for (unsigned i = 0; i < CALLS; i++) {
		uintptr_t at = v + (uintptr_t)calls[i].first * PAGE_SIZE;
		size_t n = (size_t)calls[i].count * PAGE_SIZE;
		EXPECT_FALSE(t, calls[i].map ? vm_map(at, n) : vm_unused(at, n));
	}
	vm_get_stats(&after);
	EXPECT_EQ(t, after.refused, before.refused + CALLS);
	EXPECT_EQ(t, after.mapped_bytes, before.mapped_bytes);
	unsigned wrong = 0;
	for (uint32_t p = 0; p < 2048; p++)
		wrong += vm_is_mapped(v + (uintptr_t)p * PAGE_SIZE) !=
		         ((p >= 100 && p < 140) || (p >= 1020 && p < 1030));
	EXPECT_EQ(t, wrong, 0);
	EXPECT_EQ(t, vm_mapped_pages(v, 4 * MiB), 44); /* whole slots: by their counts */
	EXPECT_EQ(t, vm_mapped_pages(v + 4 * MiB, 4 * MiB), 6);
	/* What fits is still taken. */
	EXPECT_TRUE(t, vm_map(v, 100 * PAGE_SIZE));
	EXPECT_TRUE(t, vm_unused(v, 140 * PAGE_SIZE));
	EXPECT_TRUE(t, vm_free(v, 8 * MiB));
}

static const struct ktest_case vm_cases[] = {
	KTEST_CASE(reserve_at_free_hint_is_exact),
	KTEST_CASE(reserve_at_taken_hint_lands_above),
	KTEST_CASE(reserve_with_no_room_above_wraps_to_lowest),
	KTEST_CASE(map_then_write_and_read_every_page),
	KTEST_CASE(access_after_unused_faults_at_that_address),
#ifndef ARENA386_HOST
	KTEST_CASE(large_pages_used_when_possible),
	KTEST_CASE(one_large_page_round_trip_and_fallback),
	KTEST_CASE(unused_inside_a_large_page_splits_it),
#endif
	KTEST_CASE(map_out_of_frames_rolls_back),
	KTEST_CASE(gaps_are_mapped_and_mapped_pages_released),
	KTEST_CASE(bad_calls_are_refused_and_change_nothing),
	KTEST_CASE(ownership_follows_reserve_and_free),
	KTEST_CASE(bitmap_matches_a_page_model),
	KTEST_CASE(refused_calls_leave_every_page_as_it_was),
	KTEST_CASE(null_page_faults),
#ifndef ARENA386_HOST
	KTEST_CASE(stack_guard_page_faults),
	KTEST_CASE(kernel_stack_overflow_is_caught_at_the_guard),
#endif
	KTEST_CASE(address_space_map_names_owners),
};
/* After every case: what a failed case may have left taken. */
static void vm_case_exit(void)
{
#ifndef ARENA386_HOST
	give_back_runs();
#endif
	test_give_back_frames(&test_hoard);
	test_free_test_reservations();
}

KTEST_SUITE_CASE_EXIT(vm, vm_cases, vm_suite_init, NULL, KTEST_RUN_FIRST, vm_case_exit);
