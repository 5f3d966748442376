/*
 * tests/target/heap_fill_test.c - suite "heap_fill", run last: the kernel's
 * own heap grows until RAM runs out or its arena reaches its limit, and
 * holds live data in every page it handed out.  With enough RAM and the
 * default 2 GiB limit it must stop at the limit with the clear message;
 * otherwise it must hold at least 95% of the frames free after boot.
 * (make test runs it at 3 GiB with arena_limit=3584M, and at 3 GiB with the
 * default limit.)
 */
#include "mm/pageheap.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

#define MAX_SPANS 8192
static struct span *spans[MAX_SPANS];

static void heap_grows_until_memory_or_limit_runs_out(struct ktest *t)
{
	struct pageheap *h = &kernel_pageheap;
	uint64_t free_bytes = (uint64_t)boot_free_frames * PAGE_SIZE;
	static const uint32_t sizes[] = { 256, 16, 1 }; /* 1 MiB, then smaller */
	unsigned n = 0;
	uint64_t held = 0;
	kmalloc_drain(); /* what earlier suites left cached */
	uint64_t in_use_before = h->stats.in_use_pages;

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (struct span *s; n < MAX_SPANS && (s = ph_alloc(h, sizes[k], false));) {
			for (uint32_t p = 0; p < s->npages; p++)
				*(volatile uint32_t *)(s->start + p * PAGE_SIZE) =
				        (uint32_t)(s->start + p);
			spans[n++] = s;
			held += (uint64_t)s->npages * PAGE_SIZE;
		}
	}
	bool at_limit = test_contains(h->arena.last_error, "reached its limit");
	uint64_t basis = at_limit ? h->arena.limit : free_bytes;
	unsigned permille = (unsigned)(held * 1000 / basis);
	ktest_note(t, "held %llu MiB of live data in %u spans: %u.%u%% of the %llu MiB %s",
	           (unsigned long long)(held >> 20), n, permille / 10, permille % 10,
	           (unsigned long long)(basis >> 20),
	           at_limit ? "arena limit (the limit stopped it)"
	                    : "free after boot (RAM ran out)");
	ktest_note(t, "stopped by: %s", h->arena.last_error);
	EXPECT_LT(t, n, MAX_SPANS);
	EXPECT_GE(t, permille, 950);
	if (free_bytes > h->arena.limit + 64 * MiB)
		EXPECT_TRUE(t, at_limit); /* RAM to spare: the limit must be what stops it */
	else if (h->arena.limit > free_bytes + 64 * MiB)
		EXPECT_TRUE(t, test_contains(h->arena.last_error, "out of frames"));

	unsigned corrupt = 0;
	for (unsigned i = 0; i < n; i++) {
		for (uint32_t p = 0; p < spans[i]->npages; p++)
			corrupt += *(volatile uint32_t *)(spans[i]->start + p * PAGE_SIZE) !=
			           (uint32_t)(spans[i]->start + p);
		ph_free(h, spans[i]);
	}
	EXPECT_EQ(t, corrupt, 0);
	ph_scavenge_all(h); /* give the frames back for whatever runs next */
	EXPECT_EQ(t, h->stats.in_use_pages, in_use_before);
	EXPECT_EQ(t, ph_check(h), 0);
	EXPECT_EQ(t, pmm_check(&kernel_pmm), 0);
	arena_print(&h->arena, "kernel");
}

static const struct ktest_case heap_fill_cases[] = {
	KTEST_CASE(heap_grows_until_memory_or_limit_runs_out),
};
KTEST_SUITE_FLAGS(heap_fill, heap_fill_cases, NULL, NULL, KTEST_RUN_LAST);
