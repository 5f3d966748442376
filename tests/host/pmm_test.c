/*
 * tests/host/pmm_test.c - the frame allocator on synthetic memory maps, under
 * ASan and UBSan: the same behaviours as the on-target suite "pmm", plus a
 * long random workload checked against a shadow model.
 */
#include "mm/pmm.h"
#include "tests/host/check.h"
#include <stdlib.h>

#define MiB (1024ull * 1024)

static struct pmm pmm;
static void *meta;

/* 64 MiB of RAM with a hole at [16 MiB, 17 MiB), the first MiB and
 * [1 MiB, 1 MiB + 200 KiB) (a "kernel") withheld. */
static void setup(void)
{
	static const struct pmm_range usable[] = { { 0, 0x9fc00 },
		                                   { 1 * MiB, 15 * MiB },
		                                   { 17 * MiB, 47 * MiB },
		                                   { 5ull << 32, 1 * MiB } };
	static const struct pmm_range withheld[] = { { 0, 1 * MiB }, { 1 * MiB, 200 * 1024 } };
	uint32_t frames = pmm_frames_spanned(usable, 4);
	free(meta);
	meta = malloc(pmm_metadata_size(frames));
	pmm_init(&pmm, meta, frames, usable, 4, withheld, 2);
}

static void init_counts_ram_and_withheld(void)
{
	setup();
	struct pmm_stats s;
	pmm_get_stats(&pmm, &s);
	CHECK_EQ(pmm.frame_count, 64 * MiB / 4096); /* above 4 GiB ignored */
	CHECK_EQ(s.total_frames, 159 + (15 + 47) * 256);
	CHECK_EQ(s.reserved_frames, 159 + 50);
	CHECK_EQ(s.free_frames, s.total_frames - s.reserved_frames);
	/* chunks 0 (low memory), 4 (the hole) are partial; 1-3 and 5-15 whole */
	CHECK_EQ(s.whole_chunks, 14);
	CHECK_EQ(pmm_check(&pmm), 0);
}

static void frames_come_from_partial_chunks_first(void)
{
	setup();
	paddr_t f = pmm_alloc_frame(&pmm);
	CHECK(f >= 1 * MiB + 200 * 1024 && f < 4 * MiB); /* chunk 0, past the kernel */
	struct pmm_stats s;
	pmm_get_stats(&pmm, &s);
	CHECK_EQ(s.whole_chunks, 14);
	CHECK(pmm_free_frame(&pmm, f));
	CHECK_EQ(pmm_check(&pmm), 0);
}

static void exhaustion_and_full_return(void)
{
	setup();
	struct pmm_stats before, after;
	pmm_get_stats(&pmm, &before);
	paddr_t *got = malloc(before.free_frames * sizeof(*got));
	uint32_t n = 0;
	for (paddr_t f; (f = pmm_alloc_frame(&pmm)) != 0;)
		got[n++] = f;
	CHECK_EQ(n, before.free_frames);
	CHECK_EQ(pmm_alloc_chunk(&pmm), 0);
	CHECK_EQ(pmm_check(&pmm), 0);
	for (uint32_t i = 0; i < n; i++)
		CHECK(pmm_free_frame(&pmm, got[i]));
	pmm_drain_cache(&pmm);
	pmm_get_stats(&pmm, &after);
	CHECK_EQ(after.free_frames, before.free_frames);
	CHECK_EQ(after.whole_chunks, before.whole_chunks);
	CHECK_EQ(pmm_check(&pmm), 0);
	free(got);
}

static void chunks_are_aligned_and_exclusive(void)
{
	setup();
	paddr_t runs[16];
	unsigned n = 0;
	for (paddr_t r; (r = pmm_alloc_chunk(&pmm)) != 0;)
		runs[n++] = r;
	CHECK_EQ(n, 14);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(runs[i] % (4 * MiB), 0);
		CHECK(runs[i] != 0 && runs[i] != 16 * MiB); /* the partial chunks */
	}
	CHECK(!pmm_free_frame(&pmm, runs[0] + 4096)); /* part of a run */
	CHECK(!pmm_free_chunk(&pmm, runs[0] + 4096)); /* unaligned */
	for (unsigned i = 0; i < n; i++)
		CHECK(pmm_free_chunk(&pmm, runs[i]));
	CHECK(!pmm_free_chunk(&pmm, runs[0])); /* double free */
	CHECK_EQ(pmm_check(&pmm), 0);
}

static void bad_frees_change_nothing(void)
{
	setup();
	paddr_t f = pmm_alloc_frame(&pmm);
	struct pmm_stats before, after;
	pmm_get_stats(&pmm, &before);
	CHECK(!pmm_free_frame(&pmm, f + 1));
	CHECK(!pmm_free_frame(&pmm, 16 * MiB + 4096)); /* the hole */
	CHECK(!pmm_free_frame(&pmm, 1 * MiB));         /* withheld */
	CHECK(!pmm_free_frame(&pmm, 0xfffff000));      /* beyond RAM */
	CHECK(!pmm_free_frame(&pmm, f + 4096 * 2));    /* never allocated */
	pmm_get_stats(&pmm, &after);
	CHECK_EQ(after.bad_frees, before.bad_frees + 5);
	CHECK_EQ(after.free_frames, before.free_frames);
	CHECK_EQ(pmm_check(&pmm), 0);
}

/* A random mix of frame and run operations against a shadow set. */
static void random_workload_matches_model(void)
{
	setup();
	enum { SLOTS = 4096 };
	static paddr_t held[SLOTS];
	static bool is_run[SLOTS];
	unsigned seed = 12345;
	printf("  seed %u\n", seed);
	srand(seed);
	memset(held, 0, sizeof(held));
	for (int step = 0; step < 200000; step++) {
		unsigned i = (unsigned)rand() % SLOTS;
		if (held[i]) {
			CHECK(is_run[i] ? pmm_free_chunk(&pmm, held[i])
			                : pmm_free_frame(&pmm, held[i]));
			held[i] = 0;
		} else if (rand() % 64 == 0) {
			held[i] = pmm_alloc_chunk(&pmm);
			is_run[i] = true;
		} else if (rand() % 8 == 0 && i + 8 <= SLOTS && !held[i + 1]) {
			/* a batch of two into neighbouring slots */
			paddr_t two[2];
			unsigned got = pmm_alloc_frames(&pmm, two, 2);
			held[i] = got > 0 ? two[0] : 0;
			held[i + 1] = got > 1 ? two[1] : 0;
			is_run[i] = is_run[i + 1] = false;
		} else {
			held[i] = pmm_alloc_frame(&pmm);
			is_run[i] = false;
		}
		if (step % 20000 == 0)
			CHECK_EQ(pmm_check(&pmm), 0);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (held[i])
			CHECK(is_run[i] ? pmm_free_chunk(&pmm, held[i])
			                : pmm_free_frame(&pmm, held[i]));
	pmm_drain_cache(&pmm);
	struct pmm_stats s;
	pmm_get_stats(&pmm, &s);
	CHECK_EQ(s.whole_chunks, 14);
	CHECK_EQ(s.bad_frees, 0);
	CHECK_EQ(pmm_check(&pmm), 0);
}

static const struct check_test tests[] = {
	CHECK_TEST(init_counts_ram_and_withheld), CHECK_TEST(frames_come_from_partial_chunks_first),
	CHECK_TEST(exhaustion_and_full_return),   CHECK_TEST(chunks_are_aligned_and_exclusive),
	CHECK_TEST(bad_frees_change_nothing),     CHECK_TEST(random_workload_matches_model),
};
CHECK_MAIN("pmm", tests)
