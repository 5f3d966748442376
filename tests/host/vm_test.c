/*
 * tests/host/vm_test.c - the reserve/map primitives over the host backend
 * (mmap in a 4 GiB window), under ASan and UBSan: the behaviours of the
 * on-target suite "vm" that do not depend on i386 page tables.
 */
#include "arch/host/vm_host.h"
#include "arch/i386/trap.h"
#include "kernel/fault.h"
#include "mm/vm.h"
#include "tests/host/check.h"

#define MiB (1024u * 1024u)

static uintptr_t base;

static void read_byte(void *addr)
{
	(void)*(volatile uint8_t *)addr;
}

static void write_byte(void *addr)
{
	*(volatile uint8_t *)addr = 1;
}

static void setup(void)
{
	base = vm_host_init();
	vm_init(base); /* every test starts from the boot layout */
	vm_host_set_frame_limit(SIZE_MAX);
}

static void fixed_regions_mirror_the_target(void)
{
	setup();
	CHECK_EQ(vm_owner_at(base), VM_KERNEL);
	CHECK_EQ(vm_owner_at(base + KERNEL_SPACE_END - 1), VM_KERNEL);
	CHECK_EQ(vm_owner_at(base + KERNEL_SPACE_END), VM_FREE);
	CHECK_EQ(vm_owner_at(base + MMIO_WINDOW_BASE), VM_MMIO);
	CHECK_EQ(vm_owner_at(base + 0xfffff000u), VM_PAGE_TABLES);
	CHECK_EQ(base % PDE_SPAN, 0);
}

static void reserve_placement_policy(void)
{
	setup();
	uintptr_t hint = base + 0x40000000u;
	CHECK_EQ(vm_reserve(hint, 4 * MiB, VM_TEST), hint);
	CHECK_EQ(vm_reserve(hint + 8 * MiB, 4 * MiB, VM_TEST), hint + 8 * MiB);
	CHECK_EQ(vm_reserve(hint, 8 * MiB, VM_TEST), hint + 12 * MiB);
	CHECK_EQ(vm_reserve(hint, 4 * MiB, VM_TEST), hint + 4 * MiB);
	CHECK_EQ(vm_reserve(0, 4 * MiB, VM_TEST), base + KERNEL_SPACE_END);
	uintptr_t top = base + MMIO_WINDOW_BASE - 4 * MiB;
	CHECK_EQ(vm_reserve(top, 4 * MiB, VM_TEST), top);
	CHECK_EQ(vm_reserve(top, 4 * MiB, VM_TEST), base + KERNEL_SPACE_END + 4 * MiB);
	/* Ask for more than any free run: refused placement. */
	CHECK_EQ(vm_reserve(0, (size_t)3900 * MiB, VM_TEST), 0);
}

static void map_write_read_and_release(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	CHECK(vm_map(v, 5 * MiB));
	unsigned bad = 0;
	for (uintptr_t p = v; p < v + 5 * MiB; p += PAGE_SIZE)
		bad += *(volatile uint32_t *)p != 0;
	for (uintptr_t p = v; p < v + 5 * MiB; p += PAGE_SIZE)
		*(volatile uint32_t *)p = (uint32_t)p;
	for (uintptr_t p = v; p < v + 5 * MiB; p += PAGE_SIZE)
		bad += *(volatile uint32_t *)p != (uint32_t)p;
	CHECK_EQ(bad, 0);
	CHECK_EQ(vm_host_mapped_pages(), 5 * MiB / PAGE_SIZE);
	CHECK(vm_free(v, 8 * MiB));
	CHECK_EQ(vm_host_mapped_pages(), 0);
	CHECK_EQ(vm_owner_at(v), VM_FREE);
}

static void touching_unused_memory_faults_there(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 4 * MiB, VM_TEST);
	CHECK(vm_map(v, 16 * PAGE_SIZE));
	uintptr_t victim = v + 5 * PAGE_SIZE;
	*(volatile uint32_t *)victim = 42;
	CHECK(vm_unused(victim, PAGE_SIZE));
	struct fault_record r;
	CHECK(fault_catch(read_byte, (void *)(victim + 7), &r));
	CHECK_EQ(r.cr2, victim + 7);
	CHECK(!fault_catch(read_byte, (void *)(victim - 1), &r));
	CHECK(vm_map(victim, PAGE_SIZE));
	CHECK_EQ(*(volatile uint32_t *)victim, 0); /* zeroed again */
	CHECK(vm_free(v, 4 * MiB));
	CHECK(fault_catch(write_byte, (void *)v, &r));
	CHECK_EQ(r.cr2, v);
}

static void out_of_frames_changes_nothing(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	CHECK(vm_map(v, 4 * PAGE_SIZE));
	vm_host_set_frame_limit(100);
	struct vm_stats before, after;
	vm_get_stats(&before);
	CHECK(!vm_map(v + 4 * MiB, 4 * MiB));
	vm_get_stats(&after);
	CHECK_EQ(after.mapped_bytes, before.mapped_bytes);
	CHECK_EQ(vm_mapped_pages(v, 8 * MiB), 4);
	CHECK(vm_map(v + 4 * MiB, 96 * PAGE_SIZE)); /* exactly the budget */
	vm_host_set_frame_limit(SIZE_MAX);
	CHECK(vm_free(v, 8 * MiB));
}

static void mixed_ranges_map_gaps_and_release_mapped(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	uintptr_t range = v + 4 * MiB - 40 * PAGE_SIZE; /* across the slot boundary */
	size_t n = 80 * PAGE_SIZE, mapped;
	CHECK(vm_map(range + 33 * PAGE_SIZE, 10 * PAGE_SIZE));
	*(volatile uint32_t *)(range + 40 * PAGE_SIZE) = 7;
	vm_host_set_frame_limit(30); /* fewer than the 70 gaps */
	CHECK(!vm_map_gaps(range, n, &mapped));
	CHECK_EQ(vm_mapped_pages(range, n), 10);
	vm_host_set_frame_limit(SIZE_MAX);
	CHECK(vm_map_gaps(range, n, &mapped));
	CHECK_EQ(mapped, 70 * PAGE_SIZE);
	CHECK_EQ(vm_mapped_pages(range, n), 80);
	CHECK_EQ(*(volatile uint32_t *)(range + 40 * PAGE_SIZE), 7);
	CHECK(vm_unused(range, 32 * PAGE_SIZE));
	CHECK_EQ(vm_unused_mapped(range, n), 48 * PAGE_SIZE);
	CHECK_EQ(vm_mapped_pages(v, 8 * MiB), 0);
	struct fault_record r;
	CHECK(fault_catch(read_byte, (void *)(range + 40 * PAGE_SIZE), &r));
	CHECK_EQ(r.cr2, range + 40 * PAGE_SIZE);
	CHECK(vm_free(v, 8 * MiB));
}

static void bad_calls_refused(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	CHECK(vm_map(v, 2 * PAGE_SIZE));
	struct vm_stats before, after;
	vm_get_stats(&before);
	CHECK(!vm_map(v + 1, PAGE_SIZE));
	CHECK(!vm_map(v + 4 * PAGE_SIZE, 0));
	CHECK(!vm_map(base + 0xfffff000u, 2 * PAGE_SIZE));
	CHECK(!vm_map(base + 0x00200000, PAGE_SIZE));
	CHECK(!vm_map(base + MMIO_WINDOW_BASE, PAGE_SIZE));
	CHECK(!vm_map(v + 8 * MiB, PAGE_SIZE));
	CHECK(!vm_map(v, PAGE_SIZE));
	CHECK(!vm_unused(v + 4 * PAGE_SIZE, PAGE_SIZE));
	CHECK(!vm_free(v + PAGE_SIZE, 4 * MiB));
	CHECK(!vm_free(base, 4 * MiB));
	CHECK(!vm_map(base - PAGE_SIZE, PAGE_SIZE)); /* below the space */
	CHECK_EQ(vm_reserve(v + 1, 4 * MiB, VM_TEST), 0);
	CHECK_EQ(vm_reserve(v, 0, VM_TEST), 0);
	vm_get_stats(&after);
	CHECK_EQ(after.refused, before.refused + 13);
	CHECK_EQ(after.mapped_bytes, before.mapped_bytes);
	CHECK_EQ(*(volatile uint32_t *)v, 0);
	CHECK(vm_free(v, 8 * MiB));
}

/* Ownership follows every reserve and free: a freed slot refuses maps at
 * once, even right after calls that were accepted there, and a slot
 * reserved again takes them again; a range reaching past a reservation is
 * refused. */
static void ownership_follows_reserve_and_free(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 12 * MiB, VM_TEST);
	uintptr_t edge = v + 4 * MiB; /* slot 0 of the three ends here */
	CHECK(v != 0);
	CHECK(vm_map(edge, PAGE_SIZE));
	CHECK(vm_unused(edge, PAGE_SIZE));
	CHECK(vm_free(edge, 8 * MiB));                   /* slots 1 and 2 */
	CHECK(!vm_map(edge, PAGE_SIZE));                 /* not reserved any more */
	CHECK(!vm_map(edge - PAGE_SIZE, 2 * PAGE_SIZE)); /* reaches past slot 0 */
	CHECK(vm_map(edge - PAGE_SIZE, PAGE_SIZE));      /* inside slot 0 */
	CHECK_EQ(vm_reserve(edge, 4 * MiB, VM_OTHER), edge);
	CHECK(vm_map(edge, PAGE_SIZE));                    /* reserved again */
	CHECK(vm_unused(edge - PAGE_SIZE, 2 * PAGE_SIZE)); /* two owners, both may map */
	CHECK(vm_free(edge, 4 * MiB));
	CHECK(vm_free(v, 4 * MiB));
	CHECK(!vm_map(v, PAGE_SIZE));

	/* Calls that are accepted are answered by the runs alone, over a
	 * reservation made of two (reserved apart, then joined). */
	v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	CHECK_EQ(vm_reserve(v + 8 * MiB, 8 * MiB, VM_TEST), v + 8 * MiB);
	struct vm_stats stats;
	vm_get_stats(&stats);
	uint32_t walks = stats.ownership_walks;
	CHECK(vm_map(v, 16 * MiB));
	CHECK(vm_unused(v + 4 * MiB, 8 * MiB));
	CHECK(vm_free(v + 8 * MiB, 8 * MiB));
	CHECK(vm_map(v + 4 * MiB, 4 * MiB));
	vm_get_stats(&stats);
	CHECK_EQ(stats.ownership_walks, walks);
	CHECK(!vm_map(v + 4 * MiB, 8 * MiB)); /* past its end: walked */
	vm_get_stats(&stats);
	CHECK(stats.ownership_walks > walks);
	CHECK(vm_free(v, 8 * MiB));
}

/* The mapped-page bitmap against a plain array of pages, under random
 * operations on ranges that start and end anywhere in its words (64 pages
 * on the host, 32 on i386) and cross the 4 MiB slot boundary. */
static void bitmap_matches_a_page_model(void)
{
	enum { PAGES = 2048, OPS = 3000 };
	static bool model[PAGES];
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	memset(model, 0, sizeof(model));
	uint32_t x = 12345, bad = 0;
	for (unsigned op = 0; op < OPS; op++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		uint32_t first = x % PAGES, count = 1 + (x >> 11) % 200;
		if (count > PAGES - first)
			count = PAGES - first;
		uintptr_t at = v + (uintptr_t)first * PAGE_SIZE;
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
		bad += vm_mapped_pages(v + (uintptr_t)q * PAGE_SIZE, (size_t)qn * PAGE_SIZE) !=
		       expect;
	}
	CHECK_EQ(bad, 0);
	CHECK(vm_free(v, 8 * MiB));
}

/* A vm_map over a range holding a mapped page, or a vm_unused over one
 * with a hole, is refused and leaves every page, and every slot's count,
 * as it was: the bitmap is checked and written in one pass, and undone up
 * to where the pass stopped. */
static void refused_calls_leave_every_page_as_it_was(void)
{
	setup();
	uintptr_t v = vm_reserve(base + 0x40000000u, 8 * MiB, VM_TEST);
	CHECK(v != 0);
	/* Mapped: pages 100-139, and 1020-1029 across the slot boundary. */
	CHECK(vm_map(v + 100 * PAGE_SIZE, 40 * PAGE_SIZE));
	CHECK(vm_map(v + 1020 * PAGE_SIZE, 10 * PAGE_SIZE));
	static const struct {
		uint32_t first, count;
		bool map;
	} calls[] = {
		{ 0, 101, true },    /* its last page is mapped */
		{ 139, 200, true },  /* its first */
		{ 60, 1988, true },  /* whole words, then a mapped one */
		{ 1000, 40, true },  /* across the slot boundary */
		{ 100, 41, false },  /* one page past the run */
		{ 99, 41, false },   /* one page before it */
		{ 100, 930, false }, /* whole words of holes */
		{ 1020, 11, false }, /* past the run, in the next slot */
	};
	enum { CALLS = sizeof(calls) / sizeof(calls[0]) };
	struct vm_stats before, after;
	vm_get_stats(&before);
	for (unsigned i = 0; i < CALLS; i++) {
		uintptr_t at = v + (uintptr_t)calls[i].first * PAGE_SIZE;
		size_t n = (size_t)calls[i].count * PAGE_SIZE;
		CHECK(!(calls[i].map ? vm_map(at, n) : vm_unused(at, n)));
	}
	vm_get_stats(&after);
	CHECK_EQ(after.refused, before.refused + CALLS);
	CHECK_EQ(after.mapped_bytes, before.mapped_bytes);
	unsigned wrong = 0;
	for (uint32_t p = 0; p < 2048; p++)
		wrong += vm_is_mapped(v + (uintptr_t)p * PAGE_SIZE) !=
		         ((p >= 100 && p < 140) || (p >= 1020 && p < 1030));
	CHECK_EQ(wrong, 0);
	CHECK_EQ(vm_mapped_pages(v, 4 * MiB), 44); /* whole slots: by their counts */
	CHECK_EQ(vm_mapped_pages(v + 4 * MiB, 4 * MiB), 6);
	/* What fits is still taken. */
	CHECK(vm_map(v, 100 * PAGE_SIZE));
	CHECK(vm_unused(v, 140 * PAGE_SIZE));
	CHECK(vm_free(v, 8 * MiB));
}

static const struct check_test tests[] = {
	CHECK_TEST(fixed_regions_mirror_the_target),
	CHECK_TEST(reserve_placement_policy),
	CHECK_TEST(map_write_read_and_release),
	CHECK_TEST(touching_unused_memory_faults_there),
	CHECK_TEST(out_of_frames_changes_nothing),
	CHECK_TEST(mixed_ranges_map_gaps_and_release_mapped),
	CHECK_TEST(bad_calls_refused),
	CHECK_TEST(bitmap_matches_a_page_model),
	CHECK_TEST(refused_calls_leave_every_page_as_it_was),
	CHECK_TEST(ownership_follows_reserve_and_free),
};
CHECK_MAIN("vm", tests)
