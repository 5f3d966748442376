/*
 * tests/target/pmm_test.c - the frame allocator (mm/pmm.h): suite
 * "pmm_maps", on synthetic memory maps, on target and on the host (under
 * ASan and UBSan), with a long random workload checked against a shadow
 * model; and, on target only, suite "pmm": the kernel's own frames.
 */
#include "mm/kmalloc.h"
#include "mm/pmm.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

/* ---- suite pmm_maps: an allocator of its own over a synthetic map ---- */

static struct pmm maps_pmm;
static void *maps_meta; /* from the kernel heap: not kept in the image */

static void free_maps_meta(void *unused)
{
	(void)unused;
	kfree(maps_meta);
	maps_meta = NULL;
}

/* 64 MiB of RAM with a hole at [16 MiB, 17 MiB), the first MiB and
 * [1 MiB, 1 MiB + 200 KiB) (a "kernel") withheld, and a range above 4 GiB
 * that a non-PAE allocator must ignore. */
static void maps_setup(struct ktest *t)
{
	static const struct pmm_range usable[] = { { 0, 0x9fc00 },
		                                   { 1 * MiB, 15 * MiB },
		                                   { 17 * MiB, 47 * MiB },
		                                   { 5ull << 32, 1 * MiB } };
	static const struct pmm_range withheld[] = { { 0, 1 * MiB }, { 1 * MiB, 200 * 1024 } };
	uint32_t frames = pmm_frames_spanned(usable, 4);
	maps_meta = kmalloc(pmm_metadata_size(frames));
	ASSERT_NE(t, (uintptr_t)maps_meta, 0);
	ktest_defer(t, free_maps_meta, NULL);
	pmm_init(&maps_pmm, maps_meta, frames, usable, 4, withheld, 2);
}

static void init_counts_ram_and_withheld(struct ktest *t)
{
	maps_setup(t);
	struct pmm_stats s;
	pmm_get_stats(&maps_pmm, &s);
	EXPECT_EQ(t, maps_pmm.frame_count, 64 * MiB / 4096); /* above 4 GiB ignored */
	EXPECT_EQ(t, s.total_frames, 159 + (15 + 47) * 256);
	EXPECT_EQ(t, s.reserved_frames, 159 + 50);
	EXPECT_EQ(t, s.free_frames, s.total_frames - s.reserved_frames);
	/* slots 0 (low memory), 4 (the hole) are partial; 1-3 and 5-15 whole */
	EXPECT_EQ(t, s.whole_slots, 14);
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

static void frames_come_from_partial_slots_first(struct ktest *t)
{
	maps_setup(t);
	paddr_t f = pmm_alloc_frame(&maps_pmm);
	EXPECT_TRUE(t, f >= 1 * MiB + 200 * 1024 && f < 4 * MiB); /* slot 0 */
	struct pmm_stats s;
	pmm_get_stats(&maps_pmm, &s);
	EXPECT_EQ(t, s.whole_slots, 14);
	EXPECT_TRUE(t, pmm_free_frame(&maps_pmm, f));
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

static void free_block(void *p)
{
	kfree(p);
}

static void exhaustion_and_full_return(struct ktest *t)
{
	enum { MAX = 64 * MiB / 4096 };
	maps_setup(t);
	paddr_t *got = kmalloc(MAX * sizeof(*got));
	ASSERT_NE(t, (uintptr_t)got, 0);
	ktest_defer(t, free_block, got);
	struct pmm_stats before, after;
	pmm_get_stats(&maps_pmm, &before);
	uint32_t n = 0;
	for (paddr_t f; n < MAX && (f = pmm_alloc_frame(&maps_pmm)) != 0;)
		got[n++] = f;
	EXPECT_EQ(t, n, before.free_frames);
	EXPECT_EQ(t, pmm_alloc_slot(&maps_pmm), 0);
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
	for (uint32_t i = 0; i < n; i++)
		EXPECT_TRUE(t, pmm_free_frame(&maps_pmm, got[i]));
	pmm_drain_cache(&maps_pmm);
	pmm_get_stats(&maps_pmm, &after);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

static void slots_are_aligned_and_exclusive(struct ktest *t)
{
	maps_setup(t);
	paddr_t slots[16];
	unsigned n = 0;
	for (paddr_t r; n < 16 && (r = pmm_alloc_slot(&maps_pmm)) != 0;)
		slots[n++] = r;
	ASSERT_EQ(t, n, 14);
	for (unsigned i = 0; i < n; i++) {
		EXPECT_EQ(t, slots[i] % (4 * MiB), 0);
		EXPECT_TRUE(t, slots[i] != 0 && slots[i] != 16 * MiB); /* the partial slots */
	}
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, slots[0] + 4096)); /* part of a slot */
	EXPECT_FALSE(t, pmm_free_slot(&maps_pmm, slots[0] + 4096));  /* unaligned */
	for (unsigned i = 0; i < n; i++)
		EXPECT_TRUE(t, pmm_free_slot(&maps_pmm, slots[i]));
	EXPECT_FALSE(t, pmm_free_slot(&maps_pmm, slots[0])); /* double free */
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

static void bad_frees_change_nothing(struct ktest *t)
{
	maps_setup(t);
	paddr_t f = pmm_alloc_frame(&maps_pmm);
	struct pmm_stats before, after;
	pmm_get_stats(&maps_pmm, &before);
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, f + 1));
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, 16 * MiB + 4096)); /* the hole */
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, 1 * MiB));         /* withheld */
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, 0xfffff000));      /* beyond RAM */
	EXPECT_FALSE(t, pmm_free_frame(&maps_pmm, f + 4096 * 2));    /* never allocated */
	pmm_get_stats(&maps_pmm, &after);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 5);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

/* A random mix of frame and slot operations against a shadow set. */
static void random_workload_matches_model(struct ktest *t)
{
	enum { SLOTS = 4096 };
	static paddr_t held[SLOTS];
	static bool is_slot[SLOTS];
	maps_setup(t);
	uint32_t x = (uint32_t)t->seed * 2654435761u + 12345;
	ktest_note(t, "seed %llu", (unsigned long long)t->seed);
	for (unsigned i = 0; i < SLOTS; i++)
		held[i] = 0;
	unsigned bad = 0;
	for (int step = 0; step < 200000; step++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned i = x % SLOTS, r = x >> 12;
		if (held[i]) {
			bad += !(is_slot[i] ? pmm_free_slot(&maps_pmm, held[i])
			                    : pmm_free_frame(&maps_pmm, held[i]));
			held[i] = 0;
		} else if (r % 64 == 0) {
			held[i] = pmm_alloc_slot(&maps_pmm);
			is_slot[i] = true;
		} else if (r % 8 == 1 && i + 8 <= SLOTS && !held[i + 1]) {
			/* a batch of two into neighbouring slots */
			paddr_t two[2];
			unsigned got = pmm_alloc_frames(&maps_pmm, two, 2);
			held[i] = got > 0 ? two[0] : 0;
			held[i + 1] = got > 1 ? two[1] : 0;
			is_slot[i] = is_slot[i + 1] = false;
		} else {
			held[i] = pmm_alloc_frame(&maps_pmm);
			is_slot[i] = false;
		}
		if (step % 20000 == 0)
			EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (held[i])
			bad += !(is_slot[i] ? pmm_free_slot(&maps_pmm, held[i])
			                    : pmm_free_frame(&maps_pmm, held[i]));
	EXPECT_EQ(t, bad, 0);
	pmm_drain_cache(&maps_pmm);
	struct pmm_stats s;
	pmm_get_stats(&maps_pmm, &s);
	EXPECT_EQ(t, s.whole_slots, 14);
	EXPECT_EQ(t, s.bad_frees, 0);
	EXPECT_EQ(t, pmm_check(&maps_pmm), 0);
}

static const struct ktest_case pmm_maps_cases[] = {
	KTEST_CASE(init_counts_ram_and_withheld), KTEST_CASE(frames_come_from_partial_slots_first),
	KTEST_CASE(exhaustion_and_full_return),   KTEST_CASE(slots_are_aligned_and_exclusive),
	KTEST_CASE(bad_frees_change_nothing),     KTEST_CASE(random_workload_matches_model),
};
KTEST_SUITE(pmm_maps, pmm_maps_cases, NULL, NULL);

#ifndef ARENA386_HOST
/* ---- suite pmm: the kernel's own frames ---- */
#include "kernel/kernel.h"
#include "kernel/memory.h"

extern char _kernel_start[], _kernel_end[];

/* Allocation state before an exhaustion, one bit per frame (4 GiB max). */
static uint32_t before_bits[PMM_MAX_SLOTS * PMM_FRAMES_PER_SLOT / 32];

static void check_consistent(struct ktest *t)
{
	EXPECT_EQ(t, pmm_check(&kernel_pmm), 0);
}

static void frame_round_trip(struct ktest *t)
{
	struct pmm_stats before, during, after;
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &before);
	paddr_t f = pmm_alloc_frame(&kernel_pmm);
	ASSERT_NE(t, f, 0);
	EXPECT_TRUE(t, IS_ALIGNED(f, PAGE_SIZE));
	EXPECT_TRUE(t, pmm_frame_allocated(&kernel_pmm, f));
	pmm_get_stats(&kernel_pmm, &during);
	EXPECT_EQ(t, during.free_frames, before.free_frames - 1);
	EXPECT_TRUE(t, pmm_free_frame(&kernel_pmm, f));
	EXPECT_FALSE(t, pmm_frame_allocated(&kernel_pmm, f));
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	/* LIFO: the frame just freed comes back first. */
	paddr_t again = pmm_alloc_frame(&kernel_pmm);
	EXPECT_EQ(t, again, f);
	pmm_free_frame(&kernel_pmm, again);
	check_consistent(t);
}

static bool inside(paddr_t f, uint64_t base, uint64_t length)
{
	return f >= base && f < base + length;
}

static void exhaustion_fails_cleanly_and_everything_comes_back(struct ktest *t)
{
	struct pmm_stats before, empty, after;
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &before);
	memset(before_bits, 0, sizeof(before_bits));
	for (uint32_t f = 0; f < kernel_pmm.frame_count; f++)
		if (pmm_frame_allocated(&kernel_pmm, (paddr_t)f << PAGE_SHIFT))
			before_bits[f / 32] |= 1u << (f % 32);

	uint32_t got = 0, forbidden = 0;
	for (paddr_t f; (f = pmm_alloc_frame(&kernel_pmm)) != 0; got++) {
		forbidden += f < 0x100000 ||
		             inside(f, (uintptr_t)_kernel_start,
		                    (uintptr_t)((uintptr_t)_kernel_end - (uintptr_t)_kernel_start));
		for (unsigned i = 0; i < boot_info.loader_data_count; i++)
			forbidden += inside(f, ALIGN_DOWN(boot_info.loader_data[i].base, PAGE_SIZE),
			                    boot_info.loader_data[i].length + PAGE_SIZE);
	}
	pmm_get_stats(&kernel_pmm, &empty);
	EXPECT_EQ(t, got, before.free_frames);
	EXPECT_EQ(t, empty.free_frames, 0);
	EXPECT_EQ(t, empty.whole_slots, 0);
	EXPECT_EQ(t, forbidden, 0);
	EXPECT_EQ(t, pmm_alloc_frame(&kernel_pmm), 0);
	EXPECT_EQ(t, pmm_alloc_slot(&kernel_pmm), 0);
	ktest_note(t, "%u frames (%u MiB) allocated before exhaustion", got, got / 256);

	uint32_t freed = 0;
	for (uint32_t f = 0; f < kernel_pmm.frame_count; f++)
		if (!(before_bits[f / 32] >> (f % 32) & 1) &&
		    pmm_frame_allocated(&kernel_pmm, (paddr_t)f << PAGE_SHIFT))
			freed += pmm_free_frame(&kernel_pmm, (paddr_t)f << PAGE_SHIFT);
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, freed, got);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	EXPECT_EQ(t, after.total_frames,
	          after.free_frames + after.reserved_frames +
	                  (before.total_frames - before.free_frames - before.reserved_frames));
	check_consistent(t);
}

static void slots_are_aligned_and_whole(struct ktest *t)
{
	struct pmm_stats before, after;
	pmm_get_stats(&kernel_pmm, &before);
	if (before.whole_slots == 0)
		ktest_skip(t, "no free 4 MiB slot of frames on this machine");
	paddr_t slot = pmm_alloc_slot(&kernel_pmm);
	ASSERT_NE(t, slot, 0);
	EXPECT_TRUE(t, IS_ALIGNED(slot, SLOT_SIZE));
	unsigned allocated = 0;
	for (paddr_t f = slot; f < slot + SLOT_SIZE; f += PAGE_SIZE)
		allocated += pmm_frame_allocated(&kernel_pmm, f);
	EXPECT_EQ(t, allocated, PMM_FRAMES_PER_SLOT);
	/* A frame of the slot cannot be freed on its own. */
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, slot + PAGE_SIZE));
	EXPECT_TRUE(t, pmm_free_slot(&kernel_pmm, slot));
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 1);
	check_consistent(t);
}

static void split_slot_frees_frame_by_frame(struct ktest *t)
{
	struct pmm_stats before, after;
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &before);
	if (before.whole_slots == 0)
		ktest_skip(t, "no free 4 MiB slot of frames on this machine");
	paddr_t slot = pmm_alloc_slot(&kernel_pmm);
	ASSERT_NE(t, slot, 0);
	pmm_split_slot(&kernel_pmm, slot);
	for (paddr_t f = slot + SLOT_SIZE; f > slot;)
		EXPECT_TRUE(t, pmm_free_frame(&kernel_pmm, f -= PAGE_SIZE));
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots); /* whole again */
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	check_consistent(t);
}

static void single_frames_spare_whole_slots(struct ktest *t)
{
	/* With a partly used slot around, a single frame never breaks a slot. */
	paddr_t first = pmm_alloc_frame(&kernel_pmm);
	ASSERT_NE(t, first, 0);
	struct pmm_stats before, after;
	pmm_get_stats(&kernel_pmm, &before);
	paddr_t second = pmm_alloc_frame(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	pmm_free_frame(&kernel_pmm, second);
	pmm_free_frame(&kernel_pmm, first);
	check_consistent(t);
}

static void batches_round_trip(struct ktest *t)
{
	static paddr_t batch[300];
	struct pmm_stats before, after;
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &before);
	ASSERT_EQ(t, pmm_alloc_frames(&kernel_pmm, batch, 300), 300);
	unsigned distinct = 1;
	for (unsigned i = 1; i < 300; i++)
		distinct += batch[i] != batch[i - 1];
	EXPECT_EQ(t, distinct, 300);
	EXPECT_EQ(t, pmm_free_count(&kernel_pmm), before.free_frames - 300);
	check_consistent(t);
	EXPECT_EQ(t, pmm_free_frames(&kernel_pmm, batch, 300), 300);
	EXPECT_EQ(t, pmm_free_frames(&kernel_pmm, batch, 1), 0); /* double free */
	pmm_drain_cache(&kernel_pmm);
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 1);
	check_consistent(t);
}

static void bad_frees_are_refused_and_harmless(struct ktest *t)
{
	struct pmm_stats before, after;
	pmm_get_stats(&kernel_pmm, &before);
	paddr_t f = pmm_alloc_frame(&kernel_pmm);
	ASSERT_NE(t, f, 0);
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, f + 12));                   /* unaligned */
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, 0x000b8000));               /* VGA: not RAM */
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, 0xfffff000));               /* beyond RAM */
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, (uintptr_t)_kernel_start)); /* withheld */
	EXPECT_FALSE(t, pmm_free_slot(&kernel_pmm, f));                         /* not a slot */
	EXPECT_TRUE(t, pmm_free_frame(&kernel_pmm, f));
	EXPECT_FALSE(t, pmm_free_frame(&kernel_pmm, f)); /* double free */
	pmm_get_stats(&kernel_pmm, &after);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 6);
	EXPECT_EQ(t, after.free_frames, before.free_frames);
	EXPECT_EQ(t, after.whole_slots, before.whole_slots);
	check_consistent(t);
}

static void counts_agree_with_the_memory_map(struct ktest *t)
{
	struct pmm_stats s;
	pmm_get_stats(&kernel_pmm, &s);
	/* The frames cover the RAM below 4 GiB; what lies above is counted
	 * apart and left alone. */
	uint64_t all = 0;
	for (unsigned i = 0; i < boot_info.region_count; i++)
		if (boot_info.regions[i].type == MULTIBOOT_MEMORY_AVAILABLE)
			all += boot_info.regions[i].length;
	EXPECT_EQ(t, boot_info.usable_bytes + boot_info.above_4g_bytes, all);
	uint64_t usable = boot_info.usable_bytes;
	EXPECT_LE(t, (uint64_t)s.total_frames * PAGE_SIZE, usable);
	EXPECT_GE(t, (uint64_t)s.total_frames * PAGE_SIZE + 2 * PAGE_SIZE * boot_info.region_count,
	          usable);
	EXPECT_LE(t, s.free_frames + s.reserved_frames, s.total_frames);
	EXPECT_GE(t, s.reserved_frames,
	          (uint32_t)(((uintptr_t)_kernel_end - (uintptr_t)_kernel_start) / PAGE_SIZE));
	check_consistent(t);
}

static const struct ktest_case pmm_cases[] = {
	KTEST_CASE(frame_round_trip),
	KTEST_CASE(exhaustion_fails_cleanly_and_everything_comes_back),
	KTEST_CASE(slots_are_aligned_and_whole),
	KTEST_CASE(split_slot_frees_frame_by_frame),
	KTEST_CASE(single_frames_spare_whole_slots),
	KTEST_CASE(batches_round_trip),
	KTEST_CASE(bad_frees_are_refused_and_harmless),
	KTEST_CASE(counts_agree_with_the_memory_map),
};
KTEST_SUITE_FLAGS(pmm, pmm_cases, NULL, NULL, KTEST_RUN_FIRST);
#endif
