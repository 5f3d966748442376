/*
 * tests/target/arena_test.c - suite "arena": the growth path of the arena
 * (contiguous extension, the fallback and its refusals) and the page heap
 * (split, coalesce, reuse, scavenging), each on an arena of its own beside
 * the kernel's.  Every case ends by checking that nothing leaked.
 */
#include "arch/i386/trap.h"
#include "lib/format.h"
#include "mm/pageheap.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

static struct pageheap heap; /* the page heap (and arena) under test */

struct snapshot {
	uint32_t free_frames;
	uint32_t page_tables;
	struct vm_stats vm;
};

static struct snapshot snap(void)
{
	struct snapshot s;
	s.free_frames = test_free_frames();
	s.page_tables = test_page_tables();
	vm_get_stats(&s.vm);
	return s;
}

static void expect_no_leak(struct ktest *t, const struct snapshot *a)
{
	struct snapshot b = snap();
	EXPECT_EQ(t, b.free_frames, a->free_frames);
	EXPECT_EQ(t, b.page_tables, a->page_tables);
	EXPECT_EQ(t, b.vm.mapped_bytes, a->vm.mapped_bytes);
	for (int i = 0; i < VM_OWNER_COUNT; i++)
		EXPECT_EQ(t, b.vm.reserved_bytes[i], a->vm.reserved_bytes[i]);
}

/* ---- growth ---- */

/* Cases that map 8 MiB at once need that much and the page tables and
 * heap metadata beside it. */
#define EIGHT_MIB_AT_ONCE (9 * MiB)

static void growth_extends_contiguously_to_a_small_limit(struct ktest *t)
{
	test_require_free_bytes(t, EIGHT_MIB_AT_ONCE);
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, 32 * MiB, 8 * MiB));
	uintptr_t start = heap.arena.start;
	EXPECT_EQ(t, heap.arena.end, start + 8 * MiB);
	for (unsigned i = 0; i < 4; i++) {
		void *p = arena_sys_alloc(&heap.arena, 8 * MiB);
		ASSERT_EQ(t, (uintptr_t)p, start + i * 8 * MiB); /* contiguous */
		EXPECT_EQ(t, heap.arena.end, start + (i + 1) * 8 * MiB);
		EXPECT_EQ(t, heap.arena.stats.extensions, i);
		/* The extension claimed the next two page-directory slots. */
		EXPECT_EQ(t, vm_owner_at(heap.arena.end - 1), VM_ARENA);
		EXPECT_EQ(t, vm_owner_at(heap.arena.end - 4 * MiB), VM_ARENA);
		arena_release(&heap.arena, (uintptr_t)p, 8 * MiB);
	}
	EXPECT_EQ(t, heap.arena.used, start + 32 * MiB);
	/* At the limit: NULL and a message that says so. */
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, PAGE_SIZE), 0);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "reached its limit of 32 MiB"));
	EXPECT_EQ(t, heap.arena.end, start + 32 * MiB); /* nothing moved */
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void growth_with_the_default_step_and_limit(struct ktest *t)
{
	/* 4 MiB mapped at a time, and the page records and live bits of a
	 * 2 GiB arena (4.5 MiB when it is full). */
	test_require_free_bytes(t, 9 * MiB);
	if (!test_free_region(ARENA_DEFAULT_LIMIT + ARENA_DEFAULT_STEP))
		ktest_skip(t,
		           "no free run of %llu MiB of address space (arena_base= or "
		           "arena_limit= gave it to the kernel's arena)",
		           (unsigned long long)((ARENA_DEFAULT_LIMIT + ARENA_DEFAULT_STEP) >> 20));
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, ARENA_DEFAULT_LIMIT, ARENA_DEFAULT_STEP));
	uintptr_t start = heap.arena.start;
	unsigned bad_extension = 0, calls = 0;
	/* 4 MiB at a time, released at once, so that any amount of RAM will
	 * do: the arena's address space advances all the same. */
	for (void *p; (p = arena_sys_alloc(&heap.arena, 4 * MiB)) != NULL; calls++) {
		uint64_t reserved = heap.arena.end - start;
		bad_extension += reserved % ARENA_DEFAULT_STEP != 0 ||
		                 reserved / ARENA_DEFAULT_STEP != heap.arena.stats.extensions + 1 ||
		                 vm_owner_at(heap.arena.end - 1) != VM_ARENA;
		arena_release(&heap.arena, (uintptr_t)p, 4 * MiB);
	}
	EXPECT_EQ(t, calls, ARENA_DEFAULT_LIMIT / (4 * MiB));
	EXPECT_EQ(t, bad_extension, 0);
	EXPECT_EQ(t, heap.arena.stats.extensions, 7); /* 8 steps of 256 MiB */
	EXPECT_EQ(t, heap.arena.stats.fallbacks, 0);
	EXPECT_EQ(t, heap.arena.end, start + ARENA_DEFAULT_LIMIT);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "reached its limit of 2048 MiB"));
	ktest_note(t, "2 GiB reached in %u calls, %u contiguous extensions", calls,
	           heap.arena.stats.extensions);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* A test arena of 64 MiB that has used its first 8 MiB step. */
static uintptr_t full_first_step(struct ktest *t, uint64_t limit)
{
	if (!ph_init(&heap, 0, limit, 8 * MiB))
		return 0;
	test_require_free_bytes(t, EIGHT_MIB_AT_ONCE);
	void *p = arena_sys_alloc(&heap.arena, 8 * MiB);
	ASSERT_EQ(t, (uintptr_t)p, heap.arena.start);
	/* Only the address space matters here: keep RAM free. */
	arena_release(&heap.arena, (uintptr_t)p, 8 * MiB);
	return heap.arena.start;
}

static void obstacle_at_end_forces_a_fallback_inside(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t start = full_first_step(t, 64 * MiB);
	ASSERT_NE(t, start, 0);
	uintptr_t obstacle = vm_reserve(start + 8 * MiB, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, obstacle, start + 8 * MiB);

	void *p = arena_sys_alloc(&heap.arena, 4 * MiB);
	/* The extension at end was refused (it landed past the obstacle and
	 * was given back); the fallback found room just above the obstacle. */
	EXPECT_EQ(t, (uintptr_t)p, start + 16 * MiB);
	EXPECT_EQ(t, heap.arena.stats.extensions, 0);
	EXPECT_EQ(t, heap.arena.stats.fallbacks, 1);
	EXPECT_EQ(t, heap.arena.used, start + 20 * MiB);
	EXPECT_EQ(t, heap.arena.end, start + 20 * MiB);
	EXPECT_EQ(t, heap.arena.stats.hole_bytes, 8 * MiB);
	EXPECT_EQ(t, vm_owner_at(start + 20 * MiB), VM_FREE); /* nothing kept past it */
	ASSERT_NE(t, (uintptr_t)p, 0);
	*(volatile uint32_t *)p = 1;
	arena_release(&heap.arena, (uintptr_t)p, 4 * MiB);

	/* From there the arena extends contiguously again. */
	void *q = arena_sys_alloc(&heap.arena, 4 * MiB);
	EXPECT_EQ(t, (uintptr_t)q, start + 20 * MiB);
	EXPECT_EQ(t, heap.arena.stats.extensions, 1);
	EXPECT_EQ(t, heap.arena.end, start + 28 * MiB);

	vm_free(obstacle, 8 * MiB);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* Fills every free slot of the space with VM_TEST reservations except
 * [keep, keep + size); returns how many it made (kept in blockers[]). */
static uintptr_t blockers[1024];
static unsigned block_everything_but(uintptr_t keep, size_t size)
{
	unsigned n = 0;
	uintptr_t hold = vm_reserve(keep, size, VM_TEST);
	for (uintptr_t b; n < 1024 && (b = vm_reserve(0, 4 * MiB, VM_TEST)) != 0;)
		blockers[n++] = b;
	vm_free(hold, size);
	return n;
}

static void unblock(unsigned n)
{
	while (n)
		vm_free(blockers[--n], 4 * MiB);
}

static void fallback_below_used_never_moves_the_arena_back(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t start = full_first_step(t, 64 * MiB);
	ASSERT_NE(t, start, 0);
	uintptr_t obstacle = vm_reserve(start + 8 * MiB, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 4 * MiB), start + 16 * MiB);
	arena_release(&heap.arena, start + 16 * MiB, 4 * MiB);
	/* The obstacle goes away, leaving a hole below used; then the whole
	 * space fills up but for that hole. */
	vm_free(obstacle, 8 * MiB);
	unsigned n = block_everything_but(start + 8 * MiB, 8 * MiB);
	uintptr_t used = heap.arena.used, end = heap.arena.end;

	void *p = arena_sys_alloc(&heap.arena, 4 * MiB);
	EXPECT_EQ(t, (uintptr_t)p, start + 8 * MiB); /* inside, below used */
	EXPECT_EQ(t, heap.arena.used, used);         /* not moved back */
	EXPECT_EQ(t, heap.arena.end, end);
	EXPECT_EQ(t, heap.arena.stats.fallbacks, 2);
	ASSERT_NE(t, (uintptr_t)p, 0);
	*(volatile uint32_t *)p = 2;
	EXPECT_EQ(t, *(volatile uint32_t *)p, 2);

	unblock(n);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void fallback_outside_the_usable_range_is_refused(struct ktest *t)
{
	struct snapshot before = snap();
	uintptr_t start = full_first_step(t, 16 * MiB);
	ASSERT_NE(t, start, 0);
	uintptr_t obstacle = vm_reserve(start + 8 * MiB, 8 * MiB, VM_TEST);
	ASSERT_EQ(t, obstacle, start + 8 * MiB);
	struct snapshot blocked = snap();

	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 4 * MiB), 0);
	char expected[128];
	ksnprintf(expected, sizeof(expected),
	          "memory allocated by OS (%p) not in usable range [%p,%p)",
	          (void *)(start + 16 * MiB), (void *)start, (void *)(start + 16 * MiB));
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "reached its limit") ||
	                       ktest_streq(heap.arena.last_error, expected));
	/* The diagnostic itself was printed first; check it was produced by
	 * making the same refusal with room left below the limit. */
	expect_no_leak(t, &blocked);
	vm_free(obstacle, 8 * MiB);
	ph_destroy(&heap);

	/* Limit 24 MiB: end stays below the limit, so the exact diagnostic is
	 * the last word. */
	start = full_first_step(t, 24 * MiB);
	ASSERT_NE(t, start, 0);
	obstacle = vm_reserve(start + 8 * MiB, 16 * MiB, VM_TEST);
	ASSERT_EQ(t, obstacle, start + 8 * MiB);
	blocked = snap();
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 4 * MiB), 0);
	ksnprintf(expected, sizeof(expected),
	          "memory allocated by OS (%p) not in usable range [%p,%p)",
	          (void *)(start + 24 * MiB), (void *)start, (void *)(start + 24 * MiB));
	EXPECT_STREQ(t, heap.arena.last_error, expected);
	expect_no_leak(t, &blocked);
	EXPECT_EQ(t, vm_owner_at(start + 24 * MiB), VM_FREE);
	vm_free(obstacle, 16 * MiB);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void bad_sizes_are_refused(struct ktest *t)
{
	test_require_free_bytes(t, EIGHT_MIB_AT_ONCE);
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, 8 * MiB, 4 * MiB));
	struct arena_stats s0 = heap.arena.stats;
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 0), 0);
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 100), 0);
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 8 * MiB + PAGE_SIZE), 0);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "larger than the arena limit"));
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, (size_t)0 - PAGE_SIZE), 0); /* wraps */
	EXPECT_EQ(t, heap.arena.stats.failures, s0.failures + 4);
	EXPECT_EQ(t, heap.arena.used, heap.arena.start);
	/* The whole limit at once: one extension, then full. */
	EXPECT_NE(t, (uintptr_t)arena_sys_alloc(&heap.arena, 8 * MiB), 0);
	EXPECT_EQ(t, heap.arena.stats.extensions, 1);
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, PAGE_SIZE), 0);
	ph_destroy(&heap);
	EXPECT_FALSE(t, ph_init(&heap, 0, 0, 8 * MiB));               /* bad limit */
	EXPECT_FALSE(t, ph_init(&heap, 0, 8 * MiB, 16 * MiB));        /* step > limit */
	EXPECT_FALSE(t, ph_init(&heap, 0, 12 * MiB + 4096, 4 * MiB)); /* unaligned */
	expect_no_leak(t, &before);
}

/* A range the arena does not hold is refused with a message, and nothing
 * changes: no panic, whoever the caller. */
static void ranges_outside_the_arena_are_refused(struct ktest *t)
{
	ASSERT_TRUE(t, ph_init(&heap, 0, 16 * MiB, 8 * MiB));
	void *p = arena_sys_alloc(&heap.arena, 64 * 1024);
	ASSERT_NE(t, (uintptr_t)p, 0);
	struct snapshot before = snap();
	struct arena_stats stats = heap.arena.stats;
	size_t mapped = 1;
	EXPECT_EQ(t, arena_release(&heap.arena, 0, 8 * MiB), 0);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "arena_release(0x0"));
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "refused: outside the arena"));
	EXPECT_EQ(t, arena_release(&heap.arena, heap.arena.used, PAGE_SIZE), 0); /* past used */
	EXPECT_EQ(t, arena_release(&heap.arena, (uintptr_t)p + 12, PAGE_SIZE), 0);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "not page-aligned"));
	EXPECT_EQ(t, arena_release(&heap.arena, (uintptr_t)p, SIZE_MAX & ~(size_t)4095), 0);
	EXPECT_FALSE(t, arena_reuse(&heap.arena, heap.arena.start - 4 * MiB, PAGE_SIZE, &mapped));
	EXPECT_EQ(t, mapped, 0);
	expect_no_leak(t, &before);
	EXPECT_EQ(t, heap.arena.stats.mapped_bytes, stats.mapped_bytes);
	EXPECT_EQ(t, heap.arena.stats.released_bytes, stats.released_bytes);
	EXPECT_EQ(t, *(volatile uint8_t *)p, 0); /* still mapped */
	ph_destroy(&heap);
}

static void frames_run_out_before_address_space(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, 64 * MiB, 8 * MiB));
	void *first = arena_sys_alloc(&heap.arena, 1 * MiB);
	ASSERT_NE(t, (uintptr_t)first, 0);
	/* Leave too few frames for the next 4 MiB, and no large page. */
	test_hoard_frames(&test_hoard, 200);
	struct snapshot starved = snap();
	struct arena a0 = heap.arena;
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 4 * MiB), 0);
	EXPECT_TRUE(t, test_contains(heap.arena.last_error, "out of frames"));
	expect_no_leak(t, &starved);
	EXPECT_EQ(t, heap.arena.used, a0.used);
	EXPECT_EQ(t, heap.arena.end, a0.end);
	/* Crossing into a new step: the extension is given back too. */
	EXPECT_EQ(t, (uintptr_t)arena_sys_alloc(&heap.arena, 12 * MiB), 0);
	expect_no_leak(t, &starved);
	EXPECT_EQ(t, heap.arena.end, a0.end);
	EXPECT_EQ(t, heap.arena.stats.extensions, 0);
	/* Memory freed elsewhere is usable again. */
	test_give_back_frames(&test_hoard);
	void *p = arena_sys_alloc(&heap.arena, 4 * MiB);
	EXPECT_NE(t, (uintptr_t)p, 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* ---- the page heap ---- */

static int ph_suite_heap(void)
{
	return ph_init(&heap, 0, 64 * MiB, 8 * MiB) ? 0 : -1;
}

static void split_and_coalesce_in_every_order(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	static const uint8_t orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		                              { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	static const uint32_t sizes[3] = { 1, 2, 3 };
	struct span *guard = NULL;
	uintptr_t base = 0;
	for (unsigned o = 0; o < 6; o++) {
		struct span *s[3];
		for (unsigned i = 0; i < 3; i++) {
			s[i] = ph_alloc(&heap, sizes[i], false);
			ASSERT_NE(t, (uintptr_t)s[i], 0);
		}
		if (!guard) /* keeps the three apart from the free tail */
			guard = ph_alloc(&heap, 1, false);
		if (!base)
			base = s[0]->start;
		EXPECT_EQ(t, s[0]->start, base);
		EXPECT_EQ(t, s[1]->start, base + 1 * PAGE_SIZE);
		EXPECT_EQ(t, s[2]->start, base + 3 * PAGE_SIZE);
		EXPECT_EQ(t, ph_check(&heap), 0);
		for (unsigned i = 0; i < 3; i++) {
			ph_free(&heap, s[orders[o][i]]);
			EXPECT_EQ(t, ph_check(&heap), 0);
		}
		/* All three coalesced into one free span of 6 pages. */
		struct span *merged = arena_page_of(&heap.arena, base)->span;
		ASSERT_NE(t, (uintptr_t)merged, 0);
		EXPECT_EQ(t, merged->state, SPAN_FREE);
		EXPECT_EQ(t, merged->npages, 6);
		EXPECT_EQ(t, heap.stats.free_spans, 2);
	}
	ph_free(&heap, guard);
	EXPECT_EQ(t, heap.stats.free_spans, 1);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void memory_is_reused_after_free(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	struct span *a = ph_alloc(&heap, 5, false);
	ASSERT_NE(t, (uintptr_t)a, 0);
	uintptr_t where = a->start;
	uint64_t grows = heap.stats.grows;
	ph_free(&heap, a);
	struct span *b = ph_alloc(&heap, 5, false);
	EXPECT_EQ(t, b->start, where);
	EXPECT_EQ(t, heap.stats.grows, grows);
	/* A span is named at its first and last page only (O(1) whatever its
	 * size), unless marked page by page for small objects. */
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 17), (uintptr_t)b);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 4 * PAGE_SIZE + 17), (uintptr_t)b);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 2 * PAGE_SIZE), 0);
	const uintptr_t marker = 0x40; /* any CPU list offset will do */
	ph_mark_all(&heap, b, marker);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 2 * PAGE_SIZE), (uintptr_t)b);
	EXPECT_EQ(t, arena_page_of(&heap.arena, where + 4 * PAGE_SIZE)->cpu_list, marker);
	EXPECT_EQ(t, ph_check(&heap), 0);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 5 * PAGE_SIZE), 0); /* free */
	ph_free(&heap, b);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where), 0);
	EXPECT_EQ(t, (uintptr_t)arena_page_of(&heap.arena, where + 4 * PAGE_SIZE)->cpu_list, 0);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void dirty_memory_is_zeroed_once_when_asked(struct ktest *t)
{
	ASSERT_EQ(t, ph_suite_heap(), 0);
	struct span *s = ph_alloc(&heap, 4, true);
	EXPECT_EQ(t, heap.stats.zeroed_pages, 0); /* fresh memory: already zero */
	memset((void *)s->start, 0xab, 4 * PAGE_SIZE);
	uintptr_t where = s->start;
	ph_free(&heap, s);
	s = ph_alloc(&heap, 4, false);
	EXPECT_EQ(t, s->start, where);
	EXPECT_EQ(t, *(volatile uint8_t *)where, 0xab); /* not asked: not zeroed */
	ph_free(&heap, s);
	s = ph_alloc(&heap, 4, true);
	EXPECT_EQ(t, heap.stats.zeroed_pages, 4);
	EXPECT_EQ(t, test_nonzero_words(where, 4 * PAGE_SIZE), 0);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
}

static void scavenged_spans_fault_then_come_back_zeroed(struct ktest *t)
{
	ASSERT_EQ(t, ph_suite_heap(), 0);
	heap.scavenge_threshold_pages = 0; /* release every free page at once, */
	heap.hold_frees = 0;               /* whatever the recent peak */
	struct span *s = ph_alloc(&heap, 8, false);
	uintptr_t where = s->start;
	memset((void *)where, 0xcd, 8 * PAGE_SIZE);
	uint32_t frames = test_free_frames();
	ph_free(&heap, s);
	EXPECT_GE(t, test_free_frames(), frames + 8); /* frames went back */
	EXPECT_GE(t, heap.stats.scavenged_pages, 8);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, 0);
	ktest_expect_fault(t, TRAP_PAGE_FAULT, where + 5, ktest_read_byte, (void *)(where + 5));
	EXPECT_EQ(t, ph_check(&heap), 0);

	uint64_t zeroed = heap.stats.zeroed_pages;
	s = ph_alloc(&heap, 8, true);
	EXPECT_EQ(t, s->start, where);
	EXPECT_GE(t, heap.stats.reused_pages, 8);
	EXPECT_EQ(t, heap.stats.zeroed_pages, zeroed); /* came back zeroed: not zeroed twice */
	EXPECT_EQ(t, test_nonzero_words(where, 8 * PAGE_SIZE), 0);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
}

/* Emptying a heap keeps the memory its recent peak had in use mapped, so
 * that filling it again maps nothing; once hold_frees frees pass without
 * that peak, the scavenger's usual rule applies and the memory goes back. */
static void the_recent_peak_stays_mapped_for_a_period(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	heap.scavenge_threshold_pages = 0; /* the rule of thirds alone keeps nothing */
	heap.hold_frees = heap.frees_left = 16;
	enum { SPANS = 32, PAGES = 8 };
	struct span *s[SPANS];
	for (unsigned i = 0; i < SPANS; i++)
		ASSERT_NE(t, (uintptr_t)(s[i] = ph_alloc(&heap, PAGES, false)), 0);
	uint64_t grows = heap.stats.grows;
	for (unsigned i = 0; i < SPANS; i++)
		ph_free(&heap, s[i]);
	EXPECT_EQ(t, heap.stats.scavenged_pages, 0);
	EXPECT_GE(t, heap.stats.free_mapped_pages, SPANS * PAGES);
	EXPECT_EQ(t, ph_check(&heap), 0);

	/* Filled again: nothing grown, nothing mapped again. */
	for (unsigned i = 0; i < SPANS; i++)
		ASSERT_NE(t, (uintptr_t)(s[i] = ph_alloc(&heap, PAGES, false)), 0);
	EXPECT_EQ(t, heap.stats.grows, grows);
	EXPECT_EQ(t, heap.stats.reused_pages, 0);
	for (unsigned i = 1; i < SPANS; i++)
		ph_free(&heap, s[i]);
	EXPECT_EQ(t, heap.stats.scavenged_pages, 0);

	/* Two periods of small use: the peak is forgotten, and the next free
	 * releases what the rule of thirds does not keep. */
	for (unsigned i = 0; i < 2 * 16; i++)
		ph_free(&heap, ph_alloc(&heap, 1, false));
	EXPECT_LE(t, heap.stats.free_mapped_pages, PAGES / 3);
	EXPECT_GE(t, heap.stats.scavenged_pages, (SPANS - 1) * PAGES - PAGES / 3);
	EXPECT_EQ(t, heap.stats.in_use_pages, PAGES);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, s[0]);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* The scavenger releases what it must and no more, from the end of a free
 * span: allocation takes free spans from their start, which stays mapped. */
static void scavenging_releases_only_what_it_must_from_the_end(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	heap.scavenge_threshold_pages = 0;
	heap.hold_frees = 0;
	/* Grown by exactly what is asked (at least PH_GROW_PAGES): no free
	 * pages but those freed here. */
	struct span *held = ph_alloc(&heap, 96, false), *s = ph_alloc(&heap, 64, false);
	struct span *guard = ph_alloc(&heap, 64, false);
	ASSERT_NE(t, (uintptr_t)guard, 0);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, 0);
	uintptr_t where = s->start;
	ph_free(&heap, s);
	/* 160 pages in use: a third, 53, may stay free and mapped; above
	 * that, the free pages go down to half of it, 26. */
	EXPECT_EQ(t, heap.stats.free_mapped_pages, 26);
	EXPECT_EQ(t, vm_mapped_pages(where, 26 * PAGE_SIZE), 26);
	EXPECT_EQ(t, vm_mapped_pages(where + 26 * PAGE_SIZE, 38 * PAGE_SIZE), 0);
	EXPECT_EQ(t, arena_page_of(&heap.arena, where)->span->released_pages, 38);
	EXPECT_EQ(t, ph_check(&heap), 0);
	/* Taken again: the mapped start first, with nothing to map. */
	uint64_t reused = heap.stats.reused_pages;
	s = ph_alloc(&heap, 26, false);
	EXPECT_EQ(t, s->start, where);
	EXPECT_EQ(t, heap.stats.reused_pages, reused);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, s);
	ph_free(&heap, guard);
	ph_free(&heap, held);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* Freed memory that meets released memory merges with it as it is: the
 * merge maps and releases nothing, and taking the span again maps only its
 * released pages (zeroed) and zeroes the dirty ones when asked. */
static void freeing_beside_released_memory_releases_nothing(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	heap.scavenge_threshold_pages = 64 * MiB / PAGE_SIZE; /* no scavenging but by hand */
	struct span *a = ph_alloc(&heap, 8, false), *b = ph_alloc(&heap, 8, false);
	struct span *guard = ph_alloc(&heap, 1, false);
	ASSERT_NE(t, (uintptr_t)guard, 0);
	uintptr_t where = a->start;
	ASSERT_EQ(t, b->start, where + 8 * PAGE_SIZE);
	ph_free(&heap, a);
	ph_scavenge_all(&heap);
	EXPECT_EQ(t, vm_mapped_pages(where, 8 * PAGE_SIZE), 0);
	uint64_t scavenged = heap.stats.scavenged_pages, reused = heap.stats.reused_pages;
	memset((void *)b->start, 0xab, 8 * PAGE_SIZE);
	ph_free(&heap, b);
	EXPECT_EQ(t, heap.stats.scavenged_pages, scavenged); /* nothing released */
	EXPECT_EQ(t, vm_mapped_pages(where, 16 * PAGE_SIZE), 8);
	struct span *merged = arena_page_of(&heap.arena, where)->span;
	ASSERT_NE(t, (uintptr_t)merged, 0);
	EXPECT_EQ(t, merged->start, where);
	EXPECT_EQ(t, merged->npages, 16);
	EXPECT_EQ(t, merged->released_pages, 8);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, 8);
	EXPECT_EQ(t, ph_check(&heap), 0);

	/* Part of it: the head's released pages are mapped, the rest stays. */
	struct span *c = ph_alloc(&heap, 4, false);
	EXPECT_EQ(t, c->start, where);
	EXPECT_EQ(t, heap.stats.reused_pages, reused + 4);
	EXPECT_EQ(t, arena_page_of(&heap.arena, where + 4 * PAGE_SIZE)->span->released_pages, 4);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, c);

	uint64_t zeroed = heap.stats.zeroed_pages;
	c = ph_alloc(&heap, 16, true);
	EXPECT_EQ(t, c->start, where);
	EXPECT_EQ(t, heap.stats.zeroed_pages, zeroed + 16); /* its mapped pages were dirty */
	EXPECT_EQ(t, test_nonzero_words(where, 16 * PAGE_SIZE), 0);
	EXPECT_EQ(t, vm_mapped_pages(where, 16 * PAGE_SIZE), 16);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* ph_grow takes the head of the free span after a span, or all of it, and
 * refuses (changing nothing) when that span is in use or too small. */
static void spans_grow_in_place_into_free_neighbours(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	struct span *a = ph_alloc(&heap, 2, false), *b = ph_alloc(&heap, 6, false);
	struct span *c = ph_alloc(&heap, 1, false);
	ASSERT_NE(t, (uintptr_t)c, 0);
	uintptr_t where = a->start;
	ASSERT_EQ(t, b->start, where + 2 * PAGE_SIZE);
	EXPECT_FALSE(t, ph_grow(&heap, a, 3)); /* b is in use */
	ph_free(&heap, b);
	EXPECT_FALSE(t, ph_grow(&heap, a, 9)); /* 6 free pages, 7 wanted */
	EXPECT_EQ(t, a->npages, 2);
	EXPECT_TRUE(t, ph_grow(&heap, a, 5)); /* the head of the free span */
	EXPECT_EQ(t, a->npages, 5);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 4 * PAGE_SIZE), (uintptr_t)a);
	EXPECT_EQ(t, arena_page_of(&heap.arena, where + 5 * PAGE_SIZE)->span->npages, 3);
	memset((void *)where, 0x5a, 5 * PAGE_SIZE);
	EXPECT_EQ(t, ph_check(&heap), 0);
	EXPECT_TRUE(t, ph_grow(&heap, a, 8)); /* all of it */
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 7 * PAGE_SIZE), (uintptr_t)a);
	EXPECT_EQ(t, (uintptr_t)ph_lookup(&heap, where + 8 * PAGE_SIZE), (uintptr_t)c);
	EXPECT_EQ(t, heap.stats.in_use_pages, 9);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, a);
	ph_free(&heap, c);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void large_requests_are_served_directly(struct ktest *t)
{
	test_require_free_bytes(t, EIGHT_MIB_AT_ONCE + 2 * MiB);
	ASSERT_EQ(t, ph_suite_heap(), 0);
	uintptr_t used = heap.arena.used;
	struct span *s = ph_alloc(&heap, 2048, false); /* 8 MiB */
	ASSERT_NE(t, (uintptr_t)s, 0);
	EXPECT_EQ(t, heap.arena.used, used + 8 * MiB); /* exactly the request */
	EXPECT_EQ(t, heap.stats.free_spans, 0);
	ph_free(&heap, s);
	EXPECT_EQ(t, ph_check(&heap), 0);

	/* Grown past a free end smaller than a growth's worth (what is left
	 * of one rounded up to PH_GROW_PAGES): the request gets new pages
	 * alone, and the free end stays for the small requests that come
	 * next. */
	heap.scavenge_threshold_pages = 64 * MiB / PAGE_SIZE;
	s = ph_alloc(&heap, 2048, false); /* the free 8 MiB again */
	struct span *small = ph_alloc(&heap, 1, false);
	ASSERT_NE(t, (uintptr_t)small, 0);
	EXPECT_EQ(t, heap.stats.free_spans, 1); /* the rest of a 64-page growth */
	uint32_t rest = heap.stats.free_mapped_pages;
	EXPECT_EQ(t, rest, PH_GROW_PAGES - 1);
	used = heap.arena.used;
	struct span *big = ph_alloc(&heap, 512, false);
	ASSERT_NE(t, (uintptr_t)big, 0);
	EXPECT_EQ(t, big->start, used);
	EXPECT_EQ(t, heap.arena.used, used + 2 * MiB);
	EXPECT_EQ(t, heap.stats.free_spans, 1);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, rest);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, big); /* merges with the rest */
	EXPECT_EQ(t, heap.stats.free_spans, 1);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, rest + 512);
	EXPECT_EQ(t, ph_check(&heap), 0);

	/* A free end of at least a growth's worth is grown into: only what it
	 * lacks is added (a growth's worth: 64 pages for the 25 lacking), and
	 * the request starts where the free end did. */
	uintptr_t free_end = used - (uintptr_t)rest * PAGE_SIZE;
	used = heap.arena.used;
	big = ph_alloc(&heap, 600, false);
	ASSERT_NE(t, (uintptr_t)big, 0);
	EXPECT_EQ(t, big->start, free_end);
	EXPECT_EQ(t, heap.arena.used, used + (uintptr_t)PH_GROW_PAGES * PAGE_SIZE);
	EXPECT_EQ(t, heap.stats.free_spans, 1);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, rest + 512 + PH_GROW_PAGES - 600);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, big);

	/* A free end that holds the request serves it, though the rounded-up
	 * bin search passes it over (638 pages lie in the bin of 576-639, and
	 * a request of 630 searches from 640 up): nothing grows. */
	struct span *one = ph_alloc(&heap, 1, false); /* the free end's first page */
	ASSERT_NE(t, (uintptr_t)one, 0);
	EXPECT_EQ(t, one->start, free_end);
	used = heap.arena.used;
	big = ph_alloc(&heap, 630, false);
	ASSERT_NE(t, (uintptr_t)big, 0);
	EXPECT_EQ(t, big->start, free_end + PAGE_SIZE);
	EXPECT_EQ(t, heap.arena.used, used);
	EXPECT_EQ(t, heap.stats.free_mapped_pages, 8);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, big);
	ph_free(&heap, one);
	ph_free(&heap, small);
	ph_free(&heap, s);
	EXPECT_EQ(t, heap.stats.free_spans, 1);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
}

static void growth_serves_sizes_between_bin_boundaries(struct ktest *t)
{
	/* 195 pages lies inside a bin: a span grown to exactly that size is
	 * not found by the bins' rounded-up search, so growth must hand it
	 * over directly. */
	ASSERT_EQ(t, ph_suite_heap(), 0);
	uintptr_t used = heap.arena.used;
	struct span *s = ph_alloc(&heap, 195, false);
	ASSERT_NE(t, (uintptr_t)s, 0);
	EXPECT_EQ(t, s->npages, 195);
	EXPECT_EQ(t, heap.stats.grows, 1);
	EXPECT_EQ(t, heap.arena.used, used + 195 * PAGE_SIZE);
	struct span *u = ph_alloc(&heap, 769, false); /* 3 MiB + 4 KiB */
	ASSERT_NE(t, (uintptr_t)u, 0);
	EXPECT_EQ(t, heap.stats.grows, 2);
	EXPECT_EQ(t, u->start, s->start + 195 * PAGE_SIZE);
	ph_free(&heap, s);
	ph_free(&heap, u);
	EXPECT_EQ(t, heap.stats.free_spans, 1); /* contiguous growth coalesced */
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
}

static void a_full_arena_serves_a_request_from_its_own_bin(struct ktest *t)
{
	/* 769 pages lie inside the bin of 768-831: the rounded-up search
	 * looks from 832 up and passes over a free span of 778.  With the
	 * arena at its limit (1024 pages), that span must serve it. */
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, 4 * MiB, 4 * MiB));
	struct span *a = ph_alloc(&heap, 778, false), *b = ph_alloc(&heap, 246, false);
	ASSERT_NE(t, (uintptr_t)a, 0);
	ASSERT_NE(t, (uintptr_t)b, 0);
	ph_free(&heap, a);
	uint64_t grows = heap.stats.grows;
	struct span *c = ph_alloc(&heap, 769, false);
	ASSERT_NE(t, (uintptr_t)c, 0);
	EXPECT_EQ(t, c->start, heap.arena.start);
	EXPECT_EQ(t, c->npages, 769);
	EXPECT_EQ(t, heap.stats.grows, grows);
	EXPECT_EQ(t, heap.stats.failures, 0);
	EXPECT_EQ(t, (uintptr_t)ph_alloc(&heap, 10, false), 0); /* 9 pages left */
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, c);
	ph_free(&heap, b);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

/* A 4 MiB arena grown to 3 MiB whose top 2 MiB are free and released: a
 * request of 2.5 MiB cannot be had after the arena's end (1 MiB of room),
 * but its free end and 128 pages more hold it. */
static void a_heap_at_its_limit_grows_into_its_free_end(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_TRUE(t, ph_init(&heap, 0, 4 * MiB, 4 * MiB));
	struct span *a = ph_alloc(&heap, 256, false), *b = ph_alloc(&heap, 512, false);
	ASSERT_NE(t, (uintptr_t)a, 0);
	ASSERT_NE(t, (uintptr_t)b, 0);
	ph_free(&heap, b);
	ph_scavenge_all(&heap);
	EXPECT_EQ(t, heap.stats.free_released_pages, 512);
	uintptr_t used = heap.arena.used;
	struct span *c = ph_alloc(&heap, 640, false);
	ASSERT_NE(t, (uintptr_t)c, 0);
	EXPECT_EQ(t, c->start, a->start + 256 * PAGE_SIZE);
	EXPECT_EQ(t, heap.arena.used, used + 128 * PAGE_SIZE);
	EXPECT_EQ(t, heap.stats.failures, 0);
	for (uint32_t p = 0; p < c->npages; p++) /* mapped again, every page */
		*(volatile uint32_t *)(c->start + p * PAGE_SIZE) = p;
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_free(&heap, c);
	ph_free(&heap, a);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static void heap_check_finds_corruption(struct ktest *t)
{
	ASSERT_EQ(t, ph_suite_heap(), 0);
	struct span *a = ph_alloc(&heap, 3, false);
	struct span *b = ph_alloc(&heap, 3, false);
	ph_free(&heap, a);
	EXPECT_EQ(t, ph_check(&heap), 0);
	a->npages++; /* a free span that now overlaps b */
	EXPECT_GE(t, ph_check(&heap), 1);
	a->npages--;
	b->state = SPAN_FREE; /* an in-use span that claims to be free */
	EXPECT_GE(t, ph_check(&heap), 1);
	b->state = SPAN_IN_USE;
	EXPECT_EQ(t, ph_check(&heap), 0);
	ph_destroy(&heap);
}

static uint32_t rng_state;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Random allocations, frees and in-place growth, with everything released
 * now and then so that free spans mix mapped and released pages: every page
 * keeps its marker, memory asked zeroed reads 0, and the heap checks out. */
static void random_spans_keep_their_contents(struct ktest *t)
{
	struct snapshot before = snap();
	ASSERT_EQ(t, ph_suite_heap(), 0);
	heap.scavenge_threshold_pages = 1 * MiB / PAGE_SIZE;
	heap.hold_frees = heap.frees_left = 64; /* periods end within the run */
	enum { CELLS = 64 };
	struct span *held[CELLS] = { 0 };
	rng_state = (uint32_t)t->seed * 2654435761u + 1;
	unsigned corrupt = 0, not_zero = 0, grown = 0;
	for (unsigned step = 0; step < 3000; step++) {
		unsigned i = rng() % CELLS;
		struct span *s = held[i];
		if (s && rng() % 4 == 0) {
			uint32_t old = s->npages;
			if (ph_grow(&heap, s, old + 1 + rng() % 8)) {
				grown++;
				for (uint32_t p = old; p < s->npages; p++)
					*(volatile uint32_t *)(s->start + p * PAGE_SIZE) =
					        (uint32_t)(s->start ^ p);
			}
		} else if (s) {
			for (uint32_t p = 0; p < s->npages; p++)
				corrupt += *(volatile uint32_t *)(s->start + p * PAGE_SIZE) !=
				           (uint32_t)(s->start ^ p);
			ph_free(&heap, s);
			held[i] = NULL;
		} else {
			uint32_t n = 1 + rng() % 24;
			bool zeroed = rng() % 2;
			s = ph_alloc(&heap, n, zeroed);
			ASSERT_NE(t, (uintptr_t)s, 0);
			for (uint32_t p = 0; p < n && zeroed; p++) {
				const volatile uint32_t *w =
				        (const uint32_t *)(s->start + p * PAGE_SIZE);
				not_zero += w[0] != 0 || w[PAGE_SIZE / 8] != 0 ||
				            w[PAGE_SIZE / 4 - 1] != 0;
			}
			for (uint32_t p = 0; p < n; p++)
				*(volatile uint32_t *)(s->start + p * PAGE_SIZE) =
				        (uint32_t)(s->start ^ p);
			held[i] = s;
		}
		if (step % 500 == 250)
			ph_scavenge_all(&heap);
		if (step % 250 == 0)
			EXPECT_EQ(t, ph_check(&heap), 0);
	}
	for (unsigned i = 0; i < CELLS; i++)
		if (held[i])
			ph_free(&heap, held[i]);
	EXPECT_EQ(t, corrupt, 0);
	EXPECT_EQ(t, not_zero, 0);
	EXPECT_EQ(t, heap.stats.in_use_pages, 0);
	EXPECT_EQ(t, ph_check(&heap), 0);
	ktest_note(t,
	           "seed %llu: 3000 operations, %u grown in place, %llu grows, %llu pages "
	           "scavenged, %llu reused",
	           (unsigned long long)t->seed, grown, (unsigned long long)heap.stats.grows,
	           (unsigned long long)heap.stats.scavenged_pages,
	           (unsigned long long)heap.stats.reused_pages);
	ph_destroy(&heap);
	expect_no_leak(t, &before);
}

static const struct ktest_case arena_cases[] = {
	KTEST_CASE(growth_extends_contiguously_to_a_small_limit),
	KTEST_CASE(growth_with_the_default_step_and_limit),
	KTEST_CASE(obstacle_at_end_forces_a_fallback_inside),
	KTEST_CASE(fallback_below_used_never_moves_the_arena_back),
	KTEST_CASE(fallback_outside_the_usable_range_is_refused),
	KTEST_CASE(bad_sizes_are_refused),
	KTEST_CASE(ranges_outside_the_arena_are_refused),
	KTEST_CASE(frames_run_out_before_address_space),
	KTEST_CASE(split_and_coalesce_in_every_order),
	KTEST_CASE(memory_is_reused_after_free),
	KTEST_CASE(dirty_memory_is_zeroed_once_when_asked),
	KTEST_CASE(scavenged_spans_fault_then_come_back_zeroed),
	KTEST_CASE(the_recent_peak_stays_mapped_for_a_period),
	KTEST_CASE(scavenging_releases_only_what_it_must_from_the_end),
	KTEST_CASE(freeing_beside_released_memory_releases_nothing),
	KTEST_CASE(spans_grow_in_place_into_free_neighbours),
	KTEST_CASE(large_requests_are_served_directly),
	KTEST_CASE(growth_serves_sizes_between_bin_boundaries),
	KTEST_CASE(a_full_arena_serves_a_request_from_its_own_bin),
	KTEST_CASE(a_heap_at_its_limit_grows_into_its_free_end),
	KTEST_CASE(heap_check_finds_corruption),
	KTEST_CASE(random_spans_keep_their_contents),
};

/* After every case: what a failed case may have left (a no-op otherwise). */
static void arena_case_exit(void)
{
	ph_destroy(&heap);
	test_give_back_frames(&test_hoard);
	test_free_test_reservations();
}

KTEST_SUITE_CASE_EXIT(arena, arena_cases, NULL, NULL, 0, arena_case_exit);
